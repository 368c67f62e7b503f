/* test-cgroup-util.c — cgroup_create/contains/remove against the host's real cgroup hierarchies, and
 * spawn_child_confined(): a /bin/sh in the cgroup, under a uid of its own without capabilities, in a
 * root that holds only /usr; its failures named. Needs root; skips (77) without, or without cgroups. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../qemu/test-helpers.h"
#include "cgroup-util.h"
#include "macro.h"
#include "spawn-util.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define TEST_UID 0x7ffeff00u

static int wait_pidfd(int pidfd) {
        siginfo_t si = {};

        /* blocks until it exits: meson's timeout bounds a hang */
        if (waitid((idtype_t) P_PIDFD, (id_t) pidfd, &si, WEXITED) < 0)
                return -errno;
        return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}

static char *memfd_text(int fd) {
        char *buf = calloc(1, 65536);
        ssize_t n = buf ? pread(fd, buf, 65535, 0) : -1;
        if (buf && n > 0)
                buf[n] = 0;
        return buf;
}

static const SpawnMount usr_only[] = {
        { .kind = SPAWN_MOUNT_BIND, .source = "/usr", .target = "/usr" },
        { .kind = SPAWN_MOUNT_SYMLINK, .source = "usr/bin", .target = "/bin" },
        { .kind = SPAWN_MOUNT_SYMLINK, .source = "usr/lib", .target = "/lib" },
        { .kind = SPAWN_MOUNT_SYMLINK, .source = "usr/lib64", .target = "/lib64" },
        { .kind = SPAWN_MOUNT_BIND, .source = "/etc/ld.so.cache", .target = "/etc/ld.so.cache" },
        { .kind = SPAWN_MOUNT_TMPFS, .target = "/dev", .devices = true },
        { .kind = SPAWN_MOUNT_DEVICE, .source = "/dev/null", .target = "/dev/null" },
        { .kind = SPAWN_MOUNT_PROC, .target = "/proc" },
};

/* The shell reports its ids, capabilities, root and cgroup. */
static const char script[] =
        "while read -r l; do case $l in Uid*|Gid*|Groups*|Cap*|NoNewPrivs*) echo \"$l\";; esac; done </proc/self/status\n"
        "echo \"root=$(echo /*)\"\n"
        "echo \"etc=$(echo /etc/*)\"\n"
        "if [ -e /proc/1 ]; then echo init=visible; else echo init=hidden; fi\n"
        "while read -r l; do echo \"cgroup=$l\"; done </proc/self/cgroup\n"
        "echo null >/dev/null && echo wrote-null\n";

static void test_confined_shell(char **cgroups) {
        _cleanup_close_ int out = memfd_create("out", MFD_CLOEXEC);
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) script, NULL };
        SpawnOptions o = SPAWN_OPTIONS_INIT;
        SpawnConfinement c = { .uid = TEST_UID, .gid = TEST_UID, .cgroups = cgroups,
                               .mounts = usr_only, .n_mounts = ELEMENTSOF(usr_only) };
        _cleanup_free_ char *error = NULL, *text = NULL, *uid_line = NULL;
        pid_t pid;
        int pidfd = -1;

        o.stdout_fd = o.stderr_fd = out;
        CHECK(spawn_child_confined(argv, &o, &c, &pid, &pidfd, &error) == 0);
        CHECK(error == NULL);
        if (pidfd < 0)
                return;
        CHECK(wait_pidfd(pidfd) == 0);
        close(pidfd);
        text = memfd_text(out);
        fprintf(stderr, "confined shell said:\n%s", text);
        CHECK(asprintf(&uid_line, "Uid:\t%u\t%u\t%u\t%u\n", TEST_UID, TEST_UID, TEST_UID, TEST_UID) > 0);
        CHECK(strstr(text, uid_line) != NULL);
        CHECK(strstr(text, "CapEff:\t0000000000000000\n") != NULL);
        CHECK(strstr(text, "CapBnd:\t0000000000000000\n") != NULL);
        CHECK(strstr(text, "CapInh:\t0000000000000000\n") != NULL);
        CHECK(strstr(text, "NoNewPrivs:\t1\n") != NULL);
        CHECK(strstr(text, "root=/bin /dev /etc /lib /lib64 /proc /usr\n") != NULL);
        CHECK(strstr(text, "etc=/etc/ld.so.cache\n") != NULL);
        CHECK(strstr(text, "wrote-null\n") != NULL);
        /* hidepid=invisible: only its own processes, not init */
        CHECK(strstr(text, "init=hidden\n") != NULL);
        for (char **cg = cgroups; cg && *cg; cg++) {
                const char *tail = strrchr(*cg, '/');
                CHECK(strstr(text, tail) != NULL);
        }
}

static void test_failures_are_named(void) {
        char *argv[] = { (char *) "/usr/bin/true", NULL };
        char *missing[] = { (char *) "/usr/bin/vmgmt-no-such-program", NULL };
        SpawnOptions o = SPAWN_OPTIONS_INIT;
        const SpawnMount bad[] = { { .kind = SPAWN_MOUNT_BIND, .source = "/nonexistent-dir", .target = "/x" } };
        const SpawnMount usr[] = { { .kind = SPAWN_MOUNT_BIND, .source = "/usr", .target = "/usr" } };
        char *cg[] = { (char *) "/sys/fs/cgroup/vmgmt-no-such-cgroup", NULL };
        SpawnConfinement c = { .uid = TEST_UID, .gid = TEST_UID, .mounts = bad, .n_mounts = 1 };
        char *error = NULL;
        pid_t pid;
        int pidfd = -1;

        CHECK(spawn_child_confined(argv, &o, &c, &pid, &pidfd, &error) == -ENOENT);
        CHECK(error && strstr(error, "/nonexistent-dir"));
        free(error);
        error = NULL;

        c.mounts = usr;
        c.cgroups = cg;
        CHECK(spawn_child_confined(argv, &o, &c, &pid, &pidfd, &error) == -ENOENT);
        CHECK(error && strstr(error, "cannot join cgroup /sys/fs/cgroup/vmgmt-no-such-cgroup"));
        free(error);
        error = NULL;

        /* failed in the child, after the root was built: exec of what is not there */
        c.cgroups = NULL;
        CHECK(spawn_child_confined(missing, &o, &c, &pid, &pidfd, &error) == -ENOENT);
        CHECK(error && strstr(error, "cannot execute /usr/bin/vmgmt-no-such-program"));
        free(error);
        error = NULL;

        /* uid 0 is never a confinement */
        c.uid = 0;
        CHECK(spawn_child_confined(argv, &o, &c, &pid, &pidfd, &error) == -EINVAL);
        free(error);
}

int main(void) {
        char name[64];
        char **paths = NULL, **again = NULL;
        char *error = NULL;
        int r;

        if (geteuid() != 0) {
                fprintf(stderr, "skipped: needs root (mount namespaces, cgroups, setuid)\n");
                return 77;
        }
        test_failures_are_named();

        snprintf(name, sizeof(name), "test-%d", (int) getpid());
        r = cgroup_create("vmgmt-test", name, &paths, &error);
        CHECK(r == 0);
        if (r < 0) {
                fprintf(stderr, "cgroup_create: %s\n", error);
                return TEST_EXIT();
        }
        if (!paths[0]) {
                fprintf(stderr, "skipped cgroup checks: the host mounts no cgroup hierarchy\n");
                free(paths);
                return TEST_EXIT();
        }
        for (char **p = paths; *p; p++) {
                struct stat st;
                fprintf(stderr, "cgroup %s\n", *p);
                CHECK(stat(*p, &st) == 0 && S_ISDIR(st.st_mode));
                CHECK(strstr(*p, name) != NULL);
                CHECK(!cgroup_contains(*p, getpid()));
        }

        test_confined_shell(paths);

        /* a process in it: the group is busy for a second creator */
        pid_t child = fork();
        if (child == 0) {
                for (char **p = paths; *p; p++) {
                        char procs[4096];
                        snprintf(procs, sizeof(procs), "%s/cgroup.procs", *p);
                        int fd = open(procs, O_WRONLY | O_CLOEXEC);
                        if (fd < 0 || write(fd, "0", 1) != 1)
                                _exit(1);
                        close(fd);
                }
                pause();
                _exit(0);
        }
        CHECK(child > 0);
        /* the child joins one hierarchy after the other before anything else:
         * wait until it shows in the last one it writes (it exits if a write fails) */
        {
                size_t n = 0;
                int status;

                while (paths[n])
                        n++;
                while (!cgroup_contains(paths[n - 1], child) && waitpid(child, &status, WNOHANG) == 0)
                        usleep(10000);
        }
        for (char **p = paths; *p; p++)
                CHECK(cgroup_contains(*p, child));
        error = NULL;
        CHECK(cgroup_create("vmgmt-test", name, &again, &error) == -EBUSY);
        CHECK(error && strstr(error, "in use"));
        free(error);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);

        CHECK(cgroup_remove(paths) == 0);
        for (char **p = paths; *p; p++) {
                CHECK(access(*p, F_OK) < 0 && errno == ENOENT);
                /* the parent group vmgmt-test stays; remove it too, it is the test's */
                char *parent = strdup(*p);
                *strrchr(parent, '/') = 0;
                (void) rmdir(parent);
                free(parent);
                free(*p);
        }
        free(paths);
        return TEST_EXIT();
}
