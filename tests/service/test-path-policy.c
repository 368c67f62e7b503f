/* test-path-policy.c — the pure rules of service/path-policy.c: containment compared by components (not
 * string prefixes), what counts as a device or a /proc, /sys, /dev path, the allow-list, and the messages
 * naming the path. Real files (a temp dir, /dev/null, /proc/self/status) give the struct stat. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../qemu/test-helpers.h"
#include "path-policy.h"

static void test_under(void) {
        CHECK(vm_path_is_under("/srv/a/x.img", "/srv/a"));
        CHECK(vm_path_is_under("/srv/a/x.img", "/srv/a/"));
        CHECK(vm_path_is_under("/srv/a/sub/x.img", "/srv/a"));
        CHECK(vm_path_is_under("/srv//a///x.img", "/srv/a"));
        CHECK(vm_path_is_under("/srv/a", "/srv/a"));
        CHECK(vm_path_is_under("/srv/a/", "/srv/a"));
        CHECK(vm_path_is_under("/anything", "/"));
        /* a string prefix is not a parent */
        CHECK(!vm_path_is_under("/srv/ab/x.img", "/srv/a"));
        CHECK(!vm_path_is_under("/srv/a", "/srv/a/x"));
        CHECK(!vm_path_is_under("/srv", "/srv/a"));
        CHECK(!vm_path_is_under("/srv/a.img", "/srv/a"));
        /* dot components are never judged: resolved paths have none */
        CHECK(!vm_path_is_under("/srv/a/../../etc/shadow", "/srv/a"));
        CHECK(!vm_path_is_under("/srv/a/./x", "/srv/a"));
        CHECK(!vm_path_is_under("/srv/a/x", "/srv/./a"));
        CHECK(!vm_path_is_under("/srv/a/..", "/srv/a"));
        /* relative paths are nowhere */
        CHECK(!vm_path_is_under("srv/a/x", "/srv/a"));
        CHECK(!vm_path_is_under("/srv/a/x", "srv/a"));
        CHECK(!vm_path_is_under(NULL, "/srv"));
        CHECK(!vm_path_is_under("/srv", NULL));
}

static void test_relative(void) {
        g_autofree char *a = vm_path_relative("/srv/a/x.img", "/srv/a");
        g_autofree char *b = vm_path_relative("/srv//a/sub//x.img", "/srv/a/");
        g_autofree char *c = vm_path_relative("/srv/a", "/srv/a");
        g_autofree char *d = vm_path_relative("/srv/ab/x", "/srv/a");
        g_autofree char *e = vm_path_relative("/srv/a/x.img/", "/srv/a");

        CHECK_STREQ(a, "x.img");
        CHECK_STREQ(b, "sub/x.img");
        CHECK_STREQ(c, "");
        CHECK(d == NULL);
        CHECK_STREQ(e, "x.img");
}

static void test_classify(void) {
        CHECK(vm_path_classify("/srv/a/x.img", S_IFREG | 0644) == VM_PATH_ORDINARY);
        CHECK(vm_path_classify("/srv/a", S_IFDIR | 0755) == VM_PATH_ORDINARY);
        CHECK(vm_path_classify("/srv/a/sock", S_IFSOCK | 0755) == VM_PATH_ORDINARY);
        /* a device anywhere is a device */
        CHECK(vm_path_classify("/srv/a/loop0", S_IFBLK | 0660) == VM_PATH_DEVICE);
        CHECK(vm_path_classify("/srv/a/mem", S_IFCHR | 0660) == VM_PATH_DEVICE);
        /* the kernel's trees, whatever the file is */
        CHECK(vm_path_classify("/dev/sda", S_IFBLK | 0660) == VM_PATH_KERNEL);
        CHECK(vm_path_classify("/dev/shm/x.img", S_IFREG | 0644) == VM_PATH_KERNEL);
        CHECK(vm_path_classify("/proc/1/root/etc/shadow", S_IFREG | 0600) == VM_PATH_KERNEL);
        CHECK(vm_path_classify("/proc", S_IFDIR | 0555) == VM_PATH_KERNEL);
        CHECK(vm_path_classify("/sys/kernel/notes", S_IFREG | 0444) == VM_PATH_KERNEL);
        /* only those trees: names that merely begin alike are ordinary */
        CHECK(vm_path_classify("/devices/x.img", S_IFREG | 0644) == VM_PATH_ORDINARY);
        CHECK(vm_path_classify("/process/x.img", S_IFREG | 0644) == VM_PATH_ORDINARY);
        CHECK(vm_path_classify("/system/x.img", S_IFREG | 0644) == VM_PATH_ORDINARY);
        CHECK(vm_path_classify("/srv/dev/x.img", S_IFREG | 0644) == VM_PATH_ORDINARY);
        /* what readlink of /proc/self/fd/N says of things that are no file */
        CHECK(vm_path_classify("socket:[1234]", S_IFSOCK | 0777) == VM_PATH_UNKNOWN);
        CHECK(vm_path_classify("anon_inode:[eventfd]", S_IFREG | 0600) == VM_PATH_UNKNOWN);
        CHECK(vm_path_classify("", S_IFREG | 0600) == VM_PATH_UNKNOWN);
        CHECK(vm_path_classify(NULL, S_IFREG | 0600) == VM_PATH_UNKNOWN);
}

static void test_allow_list(void) {
        char *const defaults[] = VM_ALLOWED_DEVICE_PATHS_DEFAULT;
        char *const custom[] = { (char *) "/dev/hwrng/", (char *) "/srv/shared.iso", NULL };

        CHECK(vm_path_allow_listed("/dev/urandom", defaults));
        CHECK(vm_path_allow_listed("/dev/random", defaults));
        CHECK(vm_path_allow_listed("/dev//urandom", defaults));
        CHECK(!vm_path_allow_listed("/dev/urandom2", defaults));
        CHECK(!vm_path_allow_listed("/dev/urandom/x", defaults));
        CHECK(!vm_path_allow_listed("/dev/mem", defaults));
        CHECK(!vm_path_allow_listed("/dev", defaults));
        CHECK(!vm_path_allow_listed("/dev/../dev/urandom", defaults));
        CHECK(vm_path_allow_listed("/dev/hwrng", custom));
        CHECK(vm_path_allow_listed("/srv/shared.iso", custom));
        CHECK(!vm_path_allow_listed("/dev/urandom", custom));
        CHECK(!vm_path_allow_listed("/dev/urandom", NULL));
}

/* vm_path_precheck() on real files: their struct stat as fstat gives it. */
static void test_precheck(void) {
        char *const defaults[] = VM_ALLOWED_DEVICE_PATHS_DEFAULT;
        char *const none[] = { NULL };
        char dir[] = "/tmp/test-path-policy-XXXXXX";
        g_autofree char *file = NULL, *link = NULL;
        struct stat st_file, st_null, st_urandom, st_proc;
        char *msg = NULL;
        int fd;

        CHECK(mkdtemp(dir) != NULL);
        file = g_build_filename(dir, "x.img", NULL);
        link = g_build_filename(dir, "link.img", NULL);
        fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        CHECK(fstat(fd, &st_file) == 0);
        CHECK(stat("/dev/null", &st_null) == 0);
        CHECK(stat("/dev/urandom", &st_urandom) == 0);
        CHECK(stat("/proc/self/status", &st_proc) == 0);

        /* an ordinary file: the pools decide */
        CHECK(vm_path_precheck(file, file, &st_file, defaults, &msg) == 1);
        CHECK(msg == NULL);

        /* allow-listed: allowed as it is; not any more with an empty list */
        CHECK(vm_path_precheck("/dev/urandom", "/dev/urandom", &st_urandom, defaults, &msg) == 0);
        CHECK(msg == NULL);
        CHECK(vm_path_precheck("/dev/urandom", "/dev/urandom", &st_urandom, none, &msg) == -EACCES);
        CHECK(msg && strstr(msg, "'/dev/urandom'") && strstr(msg, "/dev"));
        g_clear_pointer(&msg, g_free);

        /* a device under /dev that is not listed; the message names the path */
        CHECK(vm_path_precheck("/dev/null", "/dev/null", &st_null, defaults, &msg) == -EACCES);
        CHECK(msg && strstr(msg, "'/dev/null'"));
        g_clear_pointer(&msg, g_free);

        /* a symlink named, a device reached: both are named */
        CHECK(vm_path_precheck(link, "/dev/null", &st_null, defaults, &msg) == -EACCES);
        CHECK(msg && strstr(msg, link) && strstr(msg, "resolved to '/dev/null'"));
        g_clear_pointer(&msg, g_free);

        /* a character device outside /dev (mknod'd anywhere): still a device */
        CHECK(vm_path_precheck(file, file, &st_null, defaults, &msg) == -EACCES);
        CHECK(msg && strstr(msg, "character device") && strstr(msg, file));
        g_clear_pointer(&msg, g_free);

        /* a regular file under /proc */
        CHECK(vm_path_precheck("/proc/self/status", "/proc/1234/status", &st_proc, defaults, &msg) == -EACCES);
        CHECK(msg && strstr(msg, "/proc/self/status") && strstr(msg, "/proc/1234/status"));
        g_clear_pointer(&msg, g_free);

        /* no place to judge */
        CHECK(vm_path_precheck(file, "socket:[1]", &st_file, defaults, &msg) == -EACCES);
        CHECK(msg && strstr(msg, file));
        g_clear_pointer(&msg, g_free);

        /* unlinked after it was opened */
        CHECK(unlink(file) == 0);
        CHECK(fstat(fd, &st_file) == 0);
        CHECK(vm_path_precheck(file, file, &st_file, defaults, &msg) == -EACCES);
        CHECK(msg && strstr(msg, file));
        g_clear_pointer(&msg, g_free);

        close(fd);
        CHECK(rmdir(dir) == 0);
}

static void test_applies(void) {
        CHECK(!vm_path_policy_applies(0));
        CHECK(!vm_path_policy_applies(geteuid()));
        CHECK(geteuid() == 65534 || vm_path_policy_applies(65534));
        CHECK(vm_path_policy_applies((uid_t) -1));
}

int main(void) {
        test_under();
        test_relative();
        test_classify();
        test_allow_list();
        test_precheck();
        test_applies();
        return TEST_EXIT();
}
