/* qemu-confine.c — how a domain's qemu is confined: its uid/gid, its cgroup, its run dir and the root it sees.
 *
 * A confined qemu runs as a uid/gid of its own (allocated per running domain
 * from a range, or one fixed user for all), without capabilities, with
 * PR_SET_NO_NEW_PRIVS, in its own cgroup and mount namespace, whose root holds
 * only /usr (read-only), the loader's cache, a few device nodes, a proc that
 * shows it only itself, and its run dir. Every other file it uses is opened by
 * vmgmtd and passed to it. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup-util.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "qemu-driver-internal.h"

#define QEMU_CGROUP_GROUP "vmgmt"

/* ---- settings ---- */

/* The first user or group of /etc/passwd or /etc/group with an id in min..max, malloc'd "NAME (FILE)"; NULL if none. */
static char *range_collision(const char *file, uint32_t min, uint32_t max, uint32_t *ret_id) {
        _cleanup_free_ char *buf = NULL;
        g_auto(GStrv) lines = NULL;

        if (read_full_file(file, 64u * 1024u * 1024u, &buf, NULL) < 0)
                return NULL;
        lines = g_strsplit(buf, "\n", -1);
        for (char **l = lines; *l; l++) {
                g_auto(GStrv) f = g_strsplit(*l, ":", 4);
                char *end;
                unsigned long id;

                if (g_strv_length(f) < 3 || !g_ascii_isdigit(f[2][0]))
                        continue;
                id = strtoul(f[2], &end, 10);
                if (*end == 0 && id >= min && id <= max) {
                        *ret_id = (uint32_t) id;
                        return g_strdup_printf("%s (%s)", f[0], file);
                }
        }
        return NULL;
}

int qemu_driver_set_confinement(DomainDriver *base, const DriverConfinement *c, char **ret_error) {
        QemuDriver *d = (QemuDriver *) base;
        bool root = geteuid() == 0;
        uint32_t id = 0;

        *ret_error = NULL;
        d->confine = false;
        if (c->mode == DRIVER_CONFINEMENT_OFF)
                return 0;
        if (!root) {
                if (c->mode == DRIVER_CONFINEMENT_ON) {
                        *ret_error = g_strdup("confinement=on needs vmgmtd to run as root (set confinement=off)");
                        return -EPERM;
                }
                log_info("Not running as root: qemu is not confined.");
                return 0;
        }
        if (c->user) {
                struct passwd *pw = getpwnam(c->user);

                if (!pw) {
                        *ret_error = g_strdup_printf("confinement_user '%s' does not exist", c->user);
                        return -ENOENT;
                }
                if (pw->pw_uid == 0 || pw->pw_gid == 0) {
                        *ret_error = g_strdup_printf("confinement_user '%s' has uid or gid 0", c->user);
                        return -EINVAL;
                }
                d->confine_fixed = true;
                d->confine_uid = pw->pw_uid;
                d->confine_gid = pw->pw_gid;
        } else {
                if (c->uid_min == 0 || c->uid_min > c->uid_max || c->uid_max >= UINT32_MAX - 1) {
                        *ret_error = g_strdup_printf("confinement_uid_range %u-%u is not a range of non-zero uids",
                                                     c->uid_min, c->uid_max);
                        return -EINVAL;
                }
                /* a domain's qemu must never be somebody */
                for (const char *const *f = (const char *const[]) { "/etc/passwd", "/etc/group", NULL }; *f; f++) {
                        _cleanup_free_ char *who = range_collision(*f, c->uid_min, c->uid_max, &id);
                        if (who) {
                                *ret_error = g_strdup_printf("confinement_uid_range %u-%u holds id %u of %s",
                                                             c->uid_min, c->uid_max, id, who);
                                return -EEXIST;
                        }
                }
                d->confine_fixed = false;
                d->confine_uid_min = c->uid_min;
                d->confine_uid_max = c->uid_max;
        }
        d->confine = true;
        return 0;
}

void qemu_driver_security(DomainDriver *base, DriverRuntime *rt, DriverSecurity *ret) {
        QemuDriver *d = (QemuDriver *) base;
        bool confined = rt ? rt->confined : d->confine;

        *ret = (DriverSecurity) { .model = confined ? "vmgmt" : "none" };
        if (rt && rt->confined)
                snprintf(ret->label, sizeof(ret->label), "uid %u gid %u", (unsigned) rt->uid, (unsigned) rt->gid);
}

/* ---- uid ---- */

static bool uid_taken(QemuDriver *d, DriverRuntime *self, uid_t uid) {
        for (DriverRuntime *rt = d->runtimes; rt; rt = rt->next)
                if (rt != self && rt->confined && rt->uid == uid)
                        return true;
        return false;
}

/* A uid of the range no running domain has, starting where the UUID points:
 * a domain tends to get the same one again, and two vmgmtd instances (tests,
 * --root) rarely pick the same. */
static int allocate_uid(DriverRuntime *rt) {
        QemuDriver *d = rt->driver;
        uint64_t size = (uint64_t) d->confine_uid_max - d->confine_uid_min + 1;
        uint64_t start = 0;

        if (d->confine_fixed) {
                rt->uid = d->confine_uid;
                rt->gid = d->confine_gid;
                return 0;
        }
        for (size_t i = 0; i < 16; i++)
                start = start * 131 + rt->def->uuid[i];
        for (uint64_t i = 0; i < size; i++) {
                uid_t uid = (uid_t) (d->confine_uid_min + (start + i) % size);
                if (!uid_taken(d, rt, uid)) {
                        rt->uid = uid;
                        rt->gid = (gid_t) uid;
                        return 0;
                }
        }
        return -EUSERS;
}

/* ---- before the start ---- */

static int make_owned_dir(DriverRuntime *rt, const char *path, char **ret_error) {
        int r = 0;

        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                r = -errno;
        else if (chown(path, rt->uid, rt->gid) < 0 || chmod(path, 0700) < 0)
                r = -errno;
        if (r < 0)
                *ret_error = g_strdup_printf("cannot create the run directory %s: %s", path, strerror(-r));
        return r;
}

int qemu_confine_prepare(DriverRuntime *rt, char **ret_error) {
        QemuDriver *d = rt->driver;
        int r;

        *ret_error = NULL;
        rt->confined = d->confine;
        rt->uid = 0;
        rt->gid = 0;
        if (rt->confined) {
                r = allocate_uid(rt);
                if (r < 0) {
                        *ret_error = g_strdup_printf("every uid of confinement_uid_range %u-%u is in use",
                                                     d->confine_uid_min, d->confine_uid_max);
                        return r;
                }
        }
        r = make_owned_dir(rt, rt->run_dir, ret_error);
        if (r >= 0)
                r = make_owned_dir(rt, rt->channel_dir, ret_error);
        if (r < 0 || !rt->confined)
                return r;
        {
                /* its /tmp (gluster's client writes the volume file it fetches to a tmpfile()) */
                _cleanup_free_ char *tmp = g_build_filename(rt->run_dir, "tmp", NULL);

                r = make_owned_dir(rt, tmp, ret_error);
                if (r < 0)
                        return r;
        }
        r = cgroup_create(QEMU_CGROUP_GROUP, rt->uuid, &rt->cgroups, ret_error);
        if (r < 0)
                return r;
        if (!rt->cgroups[0])
                log_notice("Domain %s: the host mounts no cgroup hierarchy; qemu runs without a cgroup of its own.",
                           rt->def->name);
        return 0;
}

void qemu_confine_release(DriverRuntime *rt) {
        if (!rt->cgroups)
                return;
        (void) cgroup_remove(rt->cgroups);
        g_strfreev(rt->cgroups);
        rt->cgroups = NULL;
}

/* ---- the root it sees ---- */

typedef struct MountPlan {
        GArray *mounts;         /* SpawnMount */
        GPtrArray *strings;     /* what they point to */
} MountPlan;

static const char *plan_str(MountPlan *p, char *s) {
        g_ptr_array_add(p->strings, s);
        return s;
}

static void plan_add(MountPlan *p, SpawnMountKind kind, const char *source, const char *target, bool writable,
                     bool devices, bool owned) {
        SpawnMount m = {
                .kind = kind,
                .source = source ? plan_str(p, g_strdup(source)) : NULL,
                .target = plan_str(p, g_strdup(target)),
                .writable = writable,
                .devices = devices,
                .owned = owned,
        };
        g_array_append_val(p->mounts, m);
}

/* A host path as it is: a symlink stays a symlink (merged /usr: /lib → usr/lib),
 * a directory or file is bound read-only; absent, nothing. */
static void plan_mirror(MountPlan *p, const char *path) {
        struct stat st;
        char target[4096];
        ssize_t n;

        if (lstat(path, &st) < 0)
                return;
        if (S_ISLNK(st.st_mode)) {
                n = readlink(path, target, sizeof(target) - 1);
                if (n <= 0)
                        return;
                target[n] = 0;
                plan_add(p, SPAWN_MOUNT_SYMLINK, target, path, false, false, false);
        } else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))
                plan_add(p, SPAWN_MOUNT_BIND, path, path, false, false, false);
}

/* /usr and the loader's files, a /dev of the harmless nodes: what any program run confined needs. */
static void plan_base(MountPlan *p) {
        static const char *const top[] = { "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32" };
        static const char *const devices[] = { "null", "zero", "full", "random", "urandom" };

        plan_add(p, SPAWN_MOUNT_BIND, "/usr", "/usr", false, false, false);
        for (size_t i = 0; i < ELEMENTSOF(top); i++)
                plan_mirror(p, top[i]);
        /* of /etc only what the loader and the C library read */
        plan_mirror(p, "/etc/ld.so.cache");
        plan_mirror(p, "/etc/localtime");

        plan_add(p, SPAWN_MOUNT_TMPFS, NULL, "/dev", false, true, false);
        for (size_t i = 0; i < ELEMENTSOF(devices); i++) {
                _cleanup_free_ char *dev = g_strconcat("/dev/", devices[i], NULL);
                plan_add(p, SPAWN_MOUNT_DEVICE, dev, dev, false, false, false);
        }
}

static void plan_build(MountPlan *p, DriverRuntime *rt, const char *emulator) {
        plan_base(p);
        if (rt->def->virt_type == DOMAIN_VIRT_KVM && access("/dev/kvm", F_OK) == 0)
                plan_add(p, SPAWN_MOUNT_DEVICE, "/dev/kvm", "/dev/kvm", false, false, true);
        /* the host's devpts: the pty qemu reports is the one vmgmtd opens (OpenConsole);
         * the ptmx node beside it opens that same instance */
        plan_add(p, SPAWN_MOUNT_BIND, "/dev/pts", "/dev/pts", true, true, false);
        plan_add(p, SPAWN_MOUNT_DEVICE, "/dev/ptmx", "/dev/ptmx", false, false, false);
        plan_add(p, SPAWN_MOUNT_SYMLINK, "/proc/self/fd", "/dev/fd", false, false, false);
        plan_add(p, SPAWN_MOUNT_SYMLINK, "/proc/self/fd/0", "/dev/stdin", false, false, false);
        plan_add(p, SPAWN_MOUNT_SYMLINK, "/proc/self/fd/1", "/dev/stdout", false, false, false);
        plan_add(p, SPAWN_MOUNT_SYMLINK, "/proc/self/fd/2", "/dev/stderr", false, false, false);

        /* /proc/self/fd/N reopens the fds vmgmtd passes (memfd kernels, fdsets) */
        plan_add(p, SPAWN_MOUNT_PROC, NULL, "/proc", false, false, false);
        /* its /tmp before its run dir, which may lie below /tmp (the tests') */
        plan_add(p, SPAWN_MOUNT_BIND, plan_str(p, g_build_filename(rt->run_dir, "tmp", NULL)), "/tmp", true, false, false);
        plan_add(p, SPAWN_MOUNT_BIND, rt->run_dir, rt->run_dir, true, false, false);
        if (!g_str_has_prefix(emulator, "/usr/"))
                plan_add(p, SPAWN_MOUNT_BIND, emulator, emulator, false, false, false);
}

/* Runs argv as rt's qemu runs: its uid and gid, the mounts of plan, the cgroups given (NULL: none); or
 * plainly when rt is not confined (plan is then not looked at). */
static int confine_run(DriverRuntime *rt, char **argv, const SpawnOptions *o, const MountPlan *plan,
                       char *const *cgroups, pid_t *ret_pid, int *ret_pidfd, char **ret_error) {
        SpawnConfinement c;
        int r;

        *ret_error = NULL;
        if (!rt->confined) {
                r = spawn_child(argv, o, ret_pid, ret_pidfd);
                if (r < 0)
                        *ret_error = g_strdup_printf("cannot execute %s: %s", argv[0], strerror(-r));
                return r;
        }
        c = (SpawnConfinement) {
                .uid = rt->uid,
                .gid = rt->gid,
                .cgroups = cgroups,
                .mounts = (const SpawnMount *) (void *) plan->mounts->data,
                .n_mounts = plan->mounts->len,
        };
        return spawn_child_confined(argv, o, &c, ret_pid, ret_pidfd, ret_error);
}

static void plan_free(MountPlan *p) {
        g_array_free(p->mounts, TRUE);
        g_ptr_array_free(p->strings, TRUE);
}

#define MOUNT_PLAN_NEW \
        { .mounts = g_array_new(FALSE, TRUE, sizeof(SpawnMount)), .strings = g_ptr_array_new_with_free_func(g_free) }

int qemu_confine_spawn_helper(DriverRuntime *rt, char **argv, const SpawnOptions *o, const char *const *dirs,
                              pid_t *ret_pid, int *ret_pidfd, char **ret_error) {
        MountPlan plan = MOUNT_PLAN_NEW;
        int r;

        if (rt->confined) {
                plan_base(&plan);
                plan_add(&plan, SPAWN_MOUNT_PROC, NULL, "/proc", false, false, false);
                plan_add(&plan, SPAWN_MOUNT_BIND, plan_str(&plan, g_build_filename(rt->run_dir, "tmp", NULL)), "/tmp", true,
                         false, false);
                for (const char *const *d = dirs; d && *d; d++)
                        plan_add(&plan, SPAWN_MOUNT_BIND, *d, *d, true, false, false);
        }
        /* no cgroup: it ends with the qemu it serves, and stays out of the limits set for qemu */
        r = confine_run(rt, argv, o, &plan, NULL, ret_pid, ret_pidfd, ret_error);
        plan_free(&plan);
        return r;
}

int qemu_confine_spawn(DriverRuntime *rt, char **argv, const SpawnOptions *o, pid_t *ret_pid, char **ret_error) {
        MountPlan plan = MOUNT_PLAN_NEW;
        int r;

        if (rt->confined)
                plan_build(&plan, rt, argv[0]);
        r = confine_run(rt, argv, o, &plan, rt->cgroups, ret_pid, &rt->pidfd, ret_error);
        plan_free(&plan);
        return r;
}
