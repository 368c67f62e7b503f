/* storage-iscsiadm.c — iscsi pools through the kernel's initiator. open-iscsi's iscsiadm makes the node
 * record of the pool's target and portal (and an iface of the pool's own for its <initiator>), sets CHAP
 * from the secret, logs in; the session's LUNs are read from sysfs as the block devices the kernel made;
 * Stop logs out and removes the record and iface the start made. Called in threads (storage-net.c),
 * never on the loop: each iscsiadm is waited for here, bounded by ISCSIADM_TIMEOUT_USEC.
 *
 * As with libvirt, the CHAP password reaches iscsiadm on its command line (iscsiadm reads values from
 * nowhere else) and is stored in open-iscsi's root-only node record. */
#include <dirent.h>
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
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "spawn-util.h"
#include "storage-internal.h"

#define ISCSIADM_TIMEOUT_USEC (120 * 1000000ULL)   /* a login retries for a while; this bounds a hung one */
#define LUN_WAIT_USEC (10 * 1000000ULL)            /* the kernel's scan after login or rescan */
#define OUTPUT_MAX (1u << 20)

/* iscsiadm's exit codes (open-iscsi's iscsi_err.h) that mean something here */
#define ISCSI_ERR_SESS_NOT_FOUND 2
#define ISCSI_ERR_SESS_EXISTS 15
#define ISCSI_ERR_NO_OBJS_FOUND 21

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static char *memfd_text(int fd) {
        struct stat st;
        char *s;

        if (fd < 0 || fstat(fd, &st) < 0)
                return g_strdup("");
        size_t n = MIN((size_t) st.st_size, (size_t) OUTPUT_MAX);
        s = g_malloc0(n + 1);
        ssize_t k = pread(fd, s, n, 0);
        s[k > 0 ? k : 0] = 0;
        return g_strstrip(s);
}

/* Runs iscsiadm with args; its exit status (128+signal when killed), or a negative errno when it could
 * not run. *ret_out and *ret_err (when not NULL) get its stripped stdout and stderr. */
static int adm_run(const char *iscsiadm, const char *const *args, char **ret_out, char **ret_err) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        SpawnOptions o = SPAWN_OPTIONS_INIT;
        _cleanup_close_ int outfd = -1, errfd = -1, pidfd = -1;
        uint64_t deadline = now_usec() + ISCSIADM_TIMEOUT_USEC;
        siginfo_t si = {};
        pid_t pid;
        int r;

        g_ptr_array_add(argv, (char *) iscsiadm);
        for (const char *const *a = args; *a; a++)
                g_ptr_array_add(argv, (char *) *a);
        g_ptr_array_add(argv, NULL);
        outfd = memfd_create("iscsiadm-stdout", MFD_CLOEXEC);
        errfd = memfd_create("iscsiadm-stderr", MFD_CLOEXEC);
        if (outfd < 0 || errfd < 0)
                return -errno;
        o.stdout_fd = outfd;
        o.stderr_fd = errfd;
        r = spawn_child((char *const *) argv->pdata, &o, &pid, &pidfd);
        if (r < 0)
                return r;
        for (;;) {
                struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
                uint64_t now = now_usec();
                int timeout = now >= deadline ? 0 : (int) MIN((deadline - now) / 1000 + 1, (uint64_t) INT_MAX);

                r = poll(&pfd, 1, timeout);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r == 0) {
                        (void) spawn_pidfd_signal(pidfd, SIGKILL);
                        deadline = UINT64_MAX;
                        continue;
                }
                break;
        }
        if (waitid((idtype_t) P_PIDFD, (id_t) pidfd, &si, WEXITED) < 0)
                return -errno;
        if (ret_out)
                *ret_out = memfd_text(outfd);
        if (ret_err)
                *ret_err = memfd_text(errfd);
        return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}

/* Like adm_run(); a status other than 0 and the ones in ok[] becomes *error (iscsiadm's words, or the
 * command) and -EIO. Returns the status otherwise. */
static int adm(const char *iscsiadm, const char *const *args, const int *ok, char **error) {
        _cleanup_free_ char *err = NULL;
        int r = adm_run(iscsiadm, args, NULL, &err);

        if (r < 0) {
                *error = g_strdup_printf("cannot run %s: %s", iscsiadm, strerror(-r));
                return r;
        }
        if (r == 0)
                return 0;
        for (const int *o = ok; o && *o; o++)
                if (r == *o)
                        return r;
        if (!*error) {
                /* the password is not repeated in a message */
                g_autofree char *cmd = g_strv_contains(args, "node.session.auth.password")
                                               ? g_strdup("--mode node --op update (the CHAP password)")
                                               : g_strjoinv(" ", (char **) args);
                *error = g_strdup_printf("iscsiadm %s failed (%s%d)%s%s", cmd, r > 128 ? "signal " : "exit status ",
                                         r > 128 ? r - 128 : r, err && *err ? ": " : "", strempty(err));
        }
        return -EIO;
}

/* *error becomes "<what>: <*error>". */
static void error_prefix(char **error, const char *what) {
        char *m = g_strdup_printf("%s: %s", what, strempty(*error));

        g_free(*error);
        *error = m;
}

static char *portal_of(const StorageNetConn *c) {
        if (strchr(c->host, ':'))
                return g_strdup_printf("[%s]:%u", c->host, c->port ?: 3260);
        return g_strdup_printf("%s:%u", c->host, c->port ?: 3260);
}

char *storage_iscsi_iface_name(const unsigned char uuid[16]) {
        return g_strdup_printf("vmgmt-%02x%02x%02x%02x%02x%02x", uuid[0], uuid[1], uuid[2], uuid[3], uuid[10], uuid[15]);
}

/* ---- the LUNs of a session, from sysfs ---- */

static char *read_attr(const char *dir, const char *name) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        char *s = NULL;

        if (!g_file_get_contents(path, &s, NULL, NULL))
                return NULL;
        return g_strstrip(s);
}

/* The symlink in by_path_dir that points at the device `name` (udev's stable name), else NULL. */
static char *stable_path(const char *by_path_dir, const char *name) {
        g_autoptr(GDir) d = by_path_dir ? g_dir_open(by_path_dir, 0, NULL) : NULL;
        const char *e;

        while (d && (e = g_dir_read_name(d))) {
                g_autofree char *link = g_build_filename(by_path_dir, e, NULL);
                g_autofree char *to = g_file_read_link(link, NULL);
                if (to && streq(strrchr(to, '/') ? strrchr(to, '/') + 1 : to, name))
                        return g_steal_pointer(&link);
        }
        return NULL;
}

/* One SCSI device directory H:B:T:L of the session: a volume when it is a disk with a block device. */
static StorageVolDef *lun_volume(const char *devdir, unsigned bus, unsigned target, unsigned lun,
                                 const char *by_path_dir) {
        g_autofree char *type = read_attr(devdir, "type"), *blockdir = g_build_filename(devdir, "block", NULL);
        g_autoptr(GDir) d = NULL;
        const char *name;
        StorageVolDef *def;

        /* 0: a disk, 5: a CD/DVD drive (libvirt takes both) */
        if (!type || (!streq(type, "0") && !streq(type, "5")))
                return NULL;
        d = g_dir_open(blockdir, 0, NULL);
        name = d ? g_dir_read_name(d) : NULL;
        if (!name)
                return NULL;   /* not made yet (or gone) */
        g_autofree char *bdev = g_build_filename(blockdir, name, NULL);
        g_autofree char *size = read_attr(bdev, "size");
        g_autofree char *wwid = read_attr(devdir, "wwid");
        def = storage_vol_def_new();
        if (!def)
                return NULL;
        def->name = g_strdup_printf("unit:%u:%u:%u", bus, target, lun);
        def->path = stable_path(by_path_dir, name) ?: g_strdup_printf("/dev/%s", name);
        def->key = wwid && *wwid ? g_strdup(wwid) : g_strdup(def->path);
        def->type = STORAGE_VOL_BLOCK;
        def->format = STORAGE_VOL_FORMAT_RAW;
        def->has_format = true;
        def->capacity = def->allocation = size ? g_ascii_strtoull(size, NULL, 10) * 512 : 0;
        def->has_capacity = def->has_allocation = true;
        return def;
}

int storage_iscsi_session_find(const char *sysfs, const char *target_iqn, const char *initiator,
                               unsigned *ret_sid) {
        g_autofree char *classdir = g_build_filename(sysfs, "class", "iscsi_session", NULL);
        g_autoptr(GDir) d = g_dir_open(classdir, 0, NULL);
        const char *e;

        while (d && (e = g_dir_read_name(d))) {
                unsigned sid;
                char end;
                if (sscanf(e, "session%u%c", &sid, &end) != 1)
                        continue;
                g_autofree char *dir = g_build_filename(classdir, e, NULL);
                g_autofree char *tn = read_attr(dir, "targetname");
                g_autofree char *in = initiator ? read_attr(dir, "initiatorname") : NULL;
                if (!streq_ptr(tn, target_iqn) || (initiator && in && *in && !streq(in, initiator)))
                        continue;
                *ret_sid = sid;
                return 0;
        }
        return -ENOENT;
}

int storage_iscsi_session_luns(const char *sysfs, unsigned sid, const char *by_path_dir, StorageNetList *out) {
        g_autofree char *name = g_strdup_printf("session%u", sid);
        g_autofree char *sdir = g_build_filename(sysfs, "class", "iscsi_session", name, "device", NULL);
        g_autoptr(GDir) d = g_dir_open(sdir, 0, NULL);
        const char *e;
        int n = 0;

        if (!d)
                return -ENOENT;
        while ((e = g_dir_read_name(d))) {
                if (!g_str_has_prefix(e, "target"))
                        continue;
                g_autofree char *tdir = g_build_filename(sdir, e, NULL);
                g_autoptr(GDir) t = g_dir_open(tdir, 0, NULL);
                const char *u;
                while (t && (u = g_dir_read_name(t))) {
                        unsigned h, b, tg, l;
                        char end;
                        if (sscanf(u, "%u:%u:%u:%u%c", &h, &b, &tg, &l, &end) != 4)
                                continue;
                        g_autofree char *udir = g_build_filename(tdir, u, NULL);
                        StorageVolDef *def = lun_volume(udir, b, tg, l, by_path_dir);
                        if (!def)
                                continue;
                        out->capacity += def->capacity;
                        out->allocation += def->allocation;
                        g_ptr_array_add(out->vols, def);
                        n++;
                }
        }
        return n;
}

/* ---- log in, list, log out ---- */

static char *iscsiadm_path(char **error) {
        char *p = storage_find_program("iscsiadm");
        if (!p)
                *error = g_strdup("iscsiadm (package open-iscsi) is not installed");
        return p;
}

/* The pool's own iface, bound to its initiator name: made when missing. */
static int iface_ensure(const char *iscsiadm, const StorageNetConn *c, bool *created, char **error) {
        const char *show[] = { "--mode", "iface", "--interface", c->iface, NULL };
        const char *make[] = { "--mode", "iface", "--interface", c->iface, "--op", "new", NULL };
        const char *name[] = { "--mode", "iface", "--interface", c->iface, "--op", "update", "--name",
                               "iface.initiatorname", "--value", c->initiator, NULL };
        int r;

        r = adm_run(iscsiadm, show, NULL, NULL);
        if (r != 0) {
                r = adm(iscsiadm, make, NULL, error);
                if (r < 0)
                        return r;
                *created = true;
        }
        return adm(iscsiadm, name, NULL, error);
}

static int node_update(const char *iscsiadm, const char *target, const char *portal, const char *iface,
                       const char *key, const char *value, char **error) {
        const char *args[] = { "--mode", "node", "--targetname", target, "--portal", portal, "--interface", iface,
                               "--op", "update", "--name", key, "--value", value, NULL };
        return adm(iscsiadm, args, NULL, error);
}

static void undo_start(const char *iscsiadm, const StorageNetConn *c, const char *portal, bool node_created,
                       bool iface_created) {
        _cleanup_free_ char *ignore = NULL, *ignore2 = NULL;

        if (node_created) {
                const char *del[] = { "--mode", "node", "--targetname", c->device, "--portal", portal,
                                      "--interface", c->iface, "--op", "delete", NULL };
                (void) adm(iscsiadm, del, NULL, &ignore);
        }
        if (iface_created) {
                const char *del[] = { "--mode", "iface", "--interface", c->iface, "--op", "delete", NULL };
                (void) adm(iscsiadm, del, NULL, &ignore2);
        }
}

/* The LUNs of the logged-in session; after a login or rescan the kernel makes the block devices a
 * little later: waited for while none is there, up to LUN_WAIT_USEC. */
static int list_luns(const char *iscsiadm, const StorageNetConn *c, bool rescan, StorageNetList *out,
                     char **error) {
        uint64_t until = now_usec() + LUN_WAIT_USEC;
        unsigned sid;
        int r;

        if (storage_iscsi_session_find("/sys", c->device, c->initiator, &sid) < 0) {
                *error = g_strdup_printf("no iSCSI session with target %s (logged out behind vmgmt's back?): "
                                         "stop and start the pool", c->device);
                return -EIO;
        }
        if (rescan) {
                g_autofree char *s = g_strdup_printf("%u", sid);
                const char *args[] = { "--mode", "session", "--sid", s, "--rescan", NULL };
                r = adm(iscsiadm, args, NULL, error);
                if (r < 0)
                        return r;
        }
        for (;;) {
                r = storage_iscsi_session_luns("/sys", sid, c->target_path, out);
                if (r < 0) {
                        *error = g_strdup_printf("the iSCSI session %u with target %s went away", sid, c->device);
                        return -EIO;
                }
                if (r > 0 || now_usec() >= until)
                        return 0;   /* none after the wait: a target without a disk LUN */
                usleep(200 * 1000);
        }
}

int storage_iscsi_kernel_login(const StorageNetConn *c, StorageNetList *out, bool *ret_node_created,
                               bool *ret_iface_created, char **error) {
        _cleanup_free_ char *iscsiadm = iscsiadm_path(error);
        g_autofree char *portal = NULL;
        bool node_created = false, iface_created = false;
        int r;

        *ret_node_created = *ret_iface_created = false;
        if (!iscsiadm)
                return -EOPNOTSUPP;
        portal = portal_of(c);
        if (c->initiator) {
                r = iface_ensure(iscsiadm, c, &iface_created, error);
                if (r < 0)
                        goto fail;
        }
        const char *iface = c->iface;
        const char *show[] = { "--mode", "node", "--targetname", c->device, "--portal", portal, "--interface", iface,
                               NULL };
        const char *make[] = { "--mode", "node", "--targetname", c->device, "--portal", portal, "--interface", iface,
                               "--op", "new", NULL };
        const char *login[] = { "--mode", "node", "--targetname", c->device, "--portal", portal, "--interface",
                                iface, "--login", NULL };
        static const int no_objs[] = { ISCSI_ERR_NO_OBJS_FOUND, 0 }, exists[] = { ISCSI_ERR_SESS_EXISTS, 0 };

        r = adm(iscsiadm, show, no_objs, error);
        if (r == ISCSI_ERR_NO_OBJS_FOUND) {
                r = adm(iscsiadm, make, NULL, error);
                if (r < 0)
                        goto fail;
                node_created = true;
        } else if (r < 0)
                goto fail;
        if (c->username) {
                g_autofree char *pw = g_strndup((const char *) c->secret, c->secret_len);
                r = node_update(iscsiadm, c->device, portal, iface, "node.session.auth.authmethod", "CHAP", error);
                if (r >= 0)
                        r = node_update(iscsiadm, c->device, portal, iface, "node.session.auth.username", c->username,
                                        error);
                if (r >= 0)
                        r = node_update(iscsiadm, c->device, portal, iface, "node.session.auth.password", pw, error);
                explicit_bzero(pw, c->secret_len);
                if (r < 0)
                        goto fail;
        } else if (!node_created) {
                r = node_update(iscsiadm, c->device, portal, iface, "node.session.auth.authmethod", "None", error);
                if (r < 0)
                        goto fail;
        }
        r = adm(iscsiadm, login, exists, error);
        if (r < 0) {
                g_autofree char *what = g_strdup_printf("cannot log in to iSCSI target %s at %s", c->device, portal);
                error_prefix(error, what);
                goto fail;
        }
        r = list_luns(iscsiadm, c, false, out, error);
        if (r < 0) {
                const char *logout[] = { "--mode", "node", "--targetname", c->device, "--portal", portal,
                                         "--interface", iface, "--logout", NULL };
                _cleanup_free_ char *ignore = NULL;
                (void) adm(iscsiadm, logout, NULL, &ignore);
                goto fail;
        }
        *ret_node_created = node_created;
        *ret_iface_created = iface_created;
        return 0;
fail:
        undo_start(iscsiadm, c, portal, node_created, iface_created);
        return r;
}

int storage_iscsi_kernel_list(const StorageNetConn *c, StorageNetList *out, char **error) {
        _cleanup_free_ char *iscsiadm = iscsiadm_path(error);

        if (!iscsiadm)
                return -EOPNOTSUPP;
        return list_luns(iscsiadm, c, true, out, error);
}

int storage_iscsi_kernel_logout(const StorageNetConn *c, bool node_created, bool iface_created, char **error) {
        _cleanup_free_ char *iscsiadm = iscsiadm_path(error);
        g_autofree char *portal = NULL;
        static const int gone[] = { ISCSI_ERR_SESS_NOT_FOUND, ISCSI_ERR_NO_OBJS_FOUND, 0 };
        int r;

        if (!iscsiadm)
                return -EOPNOTSUPP;
        portal = portal_of(c);
        const char *iface = c->iface;
        const char *logout[] = { "--mode", "node", "--targetname", c->device, "--portal", portal, "--interface",
                                 iface, "--logout", NULL };
        r = adm(iscsiadm, logout, gone, error);
        if (r < 0) {
                g_autofree char *what = g_strdup_printf("cannot log out of iSCSI target %s at %s", c->device, portal);
                error_prefix(error, what);
                return r;
        }
        undo_start(iscsiadm, c, portal, node_created, iface_created);
        return 0;
}
