/* cgroup-util.c — a cgroup per supervised process tree, in the unified hierarchy or in each v1 controller's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cgroup-util.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The v1 controllers (a hierarchy's super options name them among others). */
static const char *const v1_controllers[] = {
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio",
        "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc", NULL,
};

static bool is_cgroup2(const char *path) {
        struct statfs sfs;

        return statfs(path, &sfs) == 0 && (unsigned long) sfs.f_type == CGROUP2_SUPER_MAGIC;
}

/* Whether the cgroup2 directory hands any controller down. */
static bool cgroup2_has_controllers(const char *dir) {
        _cleanup_free_ char *path = g_build_filename(dir, "cgroup.controllers", NULL), *buf = NULL;

        if (read_full_file(path, 4096, &buf, NULL) < 0)
                return false;
        return !isempty(g_strstrip(buf));
}

static int compare_strv_elements(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The controllers among comma-separated options, sorted and comma-joined ("" for none). */
static char *controllers_sorted(const char *options) {
        g_auto(GStrv) opts = g_strsplit(options, ",", -1);
        g_autoptr(GPtrArray) found = g_ptr_array_new();

        for (char **o = opts; *o; o++)
                if (g_strv_contains(v1_controllers, *o))
                        g_ptr_array_add(found, *o);
        if (found->len > 1)   /* an empty array has no pdata to sort */
                qsort(found->pdata, found->len, sizeof(gpointer), compare_strv_elements);
        g_ptr_array_add(found, NULL);
        return g_strjoinv(",", (char **) found->pdata);
}

/* The caller's own cgroup in the v1 hierarchy of `controllers` (or the
 * unified one for ""), from /proc/self/cgroup; "/" when not listed. */
static char *own_cgroup(const char *self, const char *controllers, bool unified) {
        g_auto(GStrv) lines = g_strsplit(self, "\n", -1);

        for (char **l = lines; *l; l++) {
                g_auto(GStrv) f = g_strsplit(*l, ":", 3);
                if (g_strv_length(f) != 3)
                        continue;
                if (unified ? streq(f[0], "0") && isempty(f[1]) : ({
                            _cleanup_free_ char *c = controllers_sorted(f[1]);
                            streq(c, controllers);
                    }))
                        return g_strdup(f[2]);
        }
        return g_strdup("/");
}

/* The hierarchies to use: for v1 mounts, HIER/OWN (the parent of GROUP). */
/* True when path is where the mount of device MAJ:MIN is seen, not hidden
 * under a later mount on top of it or of a parent. */
static bool mount_visible(const char *path, const char *majmin) {
        unsigned maj, min;
        struct stat st;

        if (sscanf(majmin, "%u:%u", &maj, &min) != 2 || stat(path, &st) < 0)
                return false;
        return major(st.st_dev) == maj && minor(st.st_dev) == min;
}

static int find_hierarchies(GPtrArray *bases, bool *ret_v2) {
        _cleanup_free_ char *mountinfo = NULL, *self = NULL;
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_auto(GStrv) lines = NULL;
        int r;

        *ret_v2 = is_cgroup2(CGROUP_ROOT);
        if (*ret_v2) {
                g_ptr_array_add(bases, g_strdup(CGROUP_ROOT));
                return 0;
        }
        r = read_full_file("/proc/self/mountinfo", 16u * 1024u * 1024u, &mountinfo, NULL);
        if (r < 0)
                return r;
        r = read_full_file("/proc/self/cgroup", 1024u * 1024u, &self, NULL);
        if (r < 0)
                return r;
        lines = g_strsplit(mountinfo, "\n", -1);
        for (char **l = lines; *l; l++) {
                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER */
                const char *sep = strstr(*l, " - ");
                g_auto(GStrv) pre = NULL, post = NULL;
                _cleanup_free_ char *head = NULL, *controllers = NULL, *own = NULL;
                const char *rel;
                bool unified;

                if (!sep)
                        continue;
                head = g_strndup(*l, (gsize) (sep - *l));
                pre = g_strsplit(head, " ", -1);
                post = g_strsplit(sep + 3, " ", -1);
                if (g_strv_length(pre) < 6 || g_strv_length(post) < 3 || !g_str_has_prefix(pre[4], CGROUP_ROOT "/"))
                        continue;
                unified = streq(post[0], "cgroup2");
                if (!unified && !streq(post[0], "cgroup"))
                        continue;
                if (!unified)
                        controllers = controllers_sorted(post[2]);   /* once: isempty() reads its argument twice */
                if (unified ? !cgroup2_has_controllers(pre[4]) : isempty(controllers))
                        continue;
                if (g_hash_table_contains(seen, pre[2]))
                        continue;   /* co-mounted twice (cpu and cpu,cpuacct) */
                if (!mount_visible(pre[4], pre[2]))
                        continue;   /* shadowed: e.g. a sysfs mounted over /sys in a network namespace */
                g_hash_table_add(seen, g_strdup(pre[2]));
                own = own_cgroup(self, strempty(controllers), unified);
                /* inside a cgroup namespace the mount's root is where the paths start */
                rel = g_str_has_prefix(own, pre[3]) && !streq(pre[3], "/") ? own + strlen(pre[3]) : own;
                g_ptr_array_add(bases, g_build_filename(pre[4], rel, NULL));
        }
        return 0;
}

/* cpuset.cpus/mems of a new v1 cpuset group are empty: no task could join. */
static void cpuset_inherit(const char *dir) {
        static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
        _cleanup_free_ char *parent = g_path_get_dirname(dir);

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *mine = g_build_filename(dir, files[i], NULL);
                _cleanup_free_ char *theirs = g_build_filename(parent, files[i], NULL);
                _cleanup_free_ char *v = NULL, *cur = NULL;
                _cleanup_close_ int fd = -1;

                if (read_full_file(mine, 65536, &cur, NULL) < 0 || !isempty(g_strstrip(cur)))
                        continue;
                if (read_full_file(theirs, 65536, &v, NULL) < 0)
                        continue;
                fd = open(mine, O_WRONLY | O_CLOEXEC);
                if (fd >= 0)
                        (void) write_full(fd, v, strlen(v));
        }
}

/* Enables in dir (cgroup2) every controller it is handed. Best effort. */
static void cgroup2_enable_controllers(const char *dir) {
        _cleanup_free_ char *path = g_build_filename(dir, "cgroup.controllers", NULL), *buf = NULL;
        _cleanup_free_ char *control = g_build_filename(dir, "cgroup.subtree_control", NULL);
        g_auto(GStrv) names = NULL;

        if (read_full_file(path, 4096, &buf, NULL) < 0)
                return;
        names = g_strsplit(g_strstrip(buf), " ", -1);
        for (char **n = names; *n; n++) {
                _cleanup_free_ char *w = g_strconcat("+", *n, NULL);
                _cleanup_close_ int fd = open(control, O_WRONLY | O_CLOEXEC);
                if (fd >= 0 && write_full(fd, w, strlen(w)) < 0)
                        log_debug("Cannot enable the %s controller in %s.", *n, dir);
        }
}

static int make_dir(const char *path, bool v1, char **ret_error) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                int r = -errno;
                *ret_error = g_strdup_printf("cannot create cgroup %s: %s", path, strerror(-r));
                return r;
        }
        if (v1)
                cpuset_inherit(path);
        return 0;
}

/* Calls fn for path and, depth first before it, each sub-cgroup under it; stops at fn's true. */
static bool foreach_group(const char *path, bool (*fn)(const char *dir, void *userdata), void *userdata) {
        DIR *d = opendir(path);
        struct dirent *de;
        bool stop = false;

        while (d && !stop && (de = readdir(d))) {
                _cleanup_free_ char *sub = NULL;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                sub = g_build_filename(path, de->d_name, NULL);
                if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                        stop = foreach_group(sub, fn, userdata);
        }
        if (d)
                closedir(d);
        return stop || fn(path, userdata);
}

/* Whether one of the member files of dir lists pid (0: any member). The
 * cgroup.procs of a v2 threaded group cannot be read: its cgroup.threads can. */
static bool lists_pid(const char *dir, void *userdata) {
        static const char *const files[] = { "cgroup.procs", "cgroup.threads", "tasks" };
        pid_t pid = *(pid_t *) userdata;

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *path = g_build_filename(dir, files[i], NULL), *buf = NULL;
                g_auto(GStrv) lines = NULL;

                if (read_full_file(path, 16u * 1024u * 1024u, &buf, NULL) < 0)
                        continue;
                lines = g_strsplit(buf, "\n", -1);
                for (char **l = lines; *l; l++)
                        if (**l && (pid == 0 || atoi(*l) == (int) pid))
                                return true;
        }
        return false;
}

static bool cgroup_empty(const char *path) {
        pid_t any = 0;

        return !foreach_group(path, lists_pid, &any);
}

int cgroup_create(const char *group, const char *name, char ***ret_paths, char **ret_error) {
        g_autoptr(GPtrArray) bases = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) made = g_ptr_array_new_with_free_func(g_free);
        bool v2;
        int r;

        *ret_error = NULL;
        if (strchr(group, '/') || strchr(name, '/') || isempty(group) || isempty(name))
                return -EINVAL;
        r = find_hierarchies(bases, &v2);
        if (r < 0) {
                *ret_error = g_strdup_printf("cannot tell which cgroup hierarchies are mounted: %s", strerror(-r));
                return r;
        }
        for (guint i = 0; i < bases->len; i++) {
                const char *base = bases->pdata[i];
                _cleanup_free_ char *parent = v2 ? g_strdup_printf("%s/%s.slice", base, group)
                                                 : g_build_filename(base, group, NULL);
                char *dir = v2 ? g_strdup_printf("%s/%s.scope", parent, name) : g_build_filename(parent, name, NULL);

                g_ptr_array_add(made, dir);
                r = make_dir(parent, !v2, ret_error);
                if (r >= 0 && v2)
                        cgroup2_enable_controllers(parent);
                if (r >= 0 && access(dir, F_OK) == 0 && !cgroup_empty(dir)) {
                        *ret_error = g_strdup_printf("cgroup %s is in use by other processes", dir);
                        r = -EBUSY;
                        g_ptr_array_remove_index(made, made->len - 1);
                }
                if (r >= 0)
                        r = make_dir(dir, !v2, ret_error);
                if (r < 0) {
                        g_ptr_array_add(made, NULL);
                        (void) cgroup_remove((char *const *) made->pdata);
                        return r;
                }
        }
        g_ptr_array_add(made, NULL);
        *ret_paths = (char **) g_ptr_array_free(g_steal_pointer(&made), FALSE);
        return 0;
}

static bool remove_group(const char *dir, void *userdata) {
        int *r = userdata;

        if (rmdir(dir) < 0 && errno != ENOENT) {
                if (*r == 0)
                        *r = -errno;
                log_debug("Cannot remove cgroup %s: %s", dir, strerror(errno));
        }
        return false;
}

int cgroup_remove(char *const *paths) {
        int r = 0;

        for (char *const *p = paths; p && *p; p++)
                (void) foreach_group(*p, remove_group, &r);
        return r;
}

bool cgroup_contains(const char *path, pid_t pid) {
        return pid > 0 && foreach_group(path, lists_pid, &pid);
}

/* ---- thread groups ---- */

static bool has_file(const char *dir, const char *file) {
        _cleanup_free_ char *p = g_build_filename(dir, file, NULL);

        return access(p, F_OK) == 0;
}

static int write_file(const char *dir, const char *file, const char *value, char **ret_error) {
        _cleanup_free_ char *p = g_build_filename(dir, file, NULL);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        int r = fd < 0 ? -errno : write_full(fd, value, strlen(value));

        if (r < 0 && ret_error)
                *ret_error = g_strdup_printf("cannot write '%s' to %s: %s", value, p, strerror(-r));
        return r;
}

/* Enables the threaded controllers cpu and cpuset in a v2 dir that has them. Best effort. */
static void cgroup2_enable_threaded(const char *dir) {
        _cleanup_free_ char *path = g_build_filename(dir, "cgroup.controllers", NULL), *buf = NULL;
        g_auto(GStrv) names = NULL;

        if (read_full_file(path, 4096, &buf, NULL) < 0)
                return;
        names = g_strsplit(g_strstrip(buf), " ", -1);
        for (char **n = names; *n; n++) {
                _cleanup_free_ char *w = NULL;
                if (!streq(*n, "cpu") && !streq(*n, "cpuset"))
                        continue;
                w = g_strconcat("+", *n, NULL);
                if (write_file(dir, "cgroup.subtree_control", w, NULL) < 0)
                        log_debug("Cannot enable the %s controller in %s.", *n, dir);
        }
}

/* Whether a v2 dir is handed cpu or cpuset (threaded controllers a thread group uses). */
static bool cgroup2_has_threaded(const char *dir) {
        _cleanup_free_ char *path = g_build_filename(dir, "cgroup.controllers", NULL), *buf = NULL;
        g_auto(GStrv) names = NULL;

        if (read_full_file(path, 4096, &buf, NULL) < 0)
                return false;
        names = g_strsplit(g_strstrip(buf), " ", -1);
        return g_strv_contains((const char *const *) names, "cpu") ||
               g_strv_contains((const char *const *) names, "cpuset");
}

int cgroup_thread_group(char *const *paths, const char *name, char ***ret_paths, char **ret_error) {
        g_autoptr(GPtrArray) made = g_ptr_array_new_with_free_func(g_free);
        int r;

        *ret_error = NULL;
        if (isempty(name) || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
                return -EINVAL;
        for (char *const *p = paths; p && *p; p++) {
                bool v2 = has_file(*p, "cgroup.controllers");
                _cleanup_free_ char *dir = NULL, *type = NULL;

                if (v2 ? !cgroup2_has_threaded(*p)
                       : !has_file(*p, "cpu.shares") && !has_file(*p, "cpuacct.usage") && !has_file(*p, "cpuset.cpus"))
                        continue;   /* v1 memory, blkio, …, a hybrid host's v2 with hugetlb only: per process */
                dir = g_build_filename(*p, name, NULL);
                r = make_dir(dir, !v2, ret_error);
                if (r < 0)
                        return r;
                if (v2) {
                        _cleanup_free_ char *tp = g_build_filename(dir, "cgroup.type", NULL);
                        if (read_full_file(tp, 4096, &type, NULL) >= 0 && !streq(g_strstrip(type), "threaded")) {
                                r = write_file(dir, "cgroup.type", "threaded", ret_error);
                                if (r < 0)
                                        return r;
                        }
                        cgroup2_enable_threaded(*p);
                }
                g_ptr_array_add(made, g_steal_pointer(&dir));
        }
        g_ptr_array_add(made, NULL);
        *ret_paths = (char **) g_ptr_array_free(g_steal_pointer(&made), FALSE);
        return 0;
}

int cgroup_thread_group_attach(char *const *paths, pid_t tid, bool process, char **ret_error) {
        _cleanup_free_ char *value = g_strdup_printf("%d", (int) tid);
        int r;

        *ret_error = NULL;
        for (char *const *p = paths; p && *p; p++) {
                bool v2 = has_file(*p, "cgroup.threads") && !has_file(*p, "tasks");
                r = write_file(*p, process ? "cgroup.procs" : v2 ? "cgroup.threads" : "tasks", value, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}
