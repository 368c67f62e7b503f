/* storage-pool.c — the driver object and pools: build, start (mount), stop (umount), delete, statistics. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "storage-internal.h"

/* ---- deferred completions ---- */

typedef struct Deferred {
        StorageDriver *driver;
        sd_event_source *source;
        StorageDoneFn fn;
        void *userdata;
        int r;
        char *message;
} Deferred;

static void deferred_free(Deferred *df) {
        sd_event_source_disable_unref(df->source);
        free(df->message);
        free(df);
}

static int on_deferred(sd_event_source *s, void *userdata) {
        Deferred *df = userdata;
        (void) s;
        g_ptr_array_remove(df->driver->deferred, df);
        if (df->fn)
                df->fn(df->userdata, df->r, df->message);
        deferred_free(df);
        return 0;
}

int storage_defer_done(StorageDriver *d, StorageDoneFn fn, void *userdata, int r, const char *message) {
        Deferred *df = calloc(1, sizeof(*df));
        int k;

        if (!df)
                return -ENOMEM;
        *df = (Deferred) { .driver = d, .fn = fn, .userdata = userdata, .r = r };
        if (message && !(df->message = strdup(message))) {
                free(df);
                return -ENOMEM;
        }
        k = sd_event_add_defer(d->event, &df->source, on_deferred, df);
        if (k < 0) {
                deferred_free(df);
                return k;
        }
        g_ptr_array_add(d->deferred, df);
        return 0;
}

/* ---- driver ---- */

int storage_driver_new(sd_event *event, const StorageDriverEvents *events, StorageDriver **ret) {
        StorageDriver *d = calloc(1, sizeof(*d));
        const char *env;

        if (!d)
                return -ENOMEM;
        d->event = sd_event_ref(event);
        if (events)
                d->events = *events;
        env = getenv("VMGMT_QEMU_IMG");
        d->qemu_img = env && *env ? strdup(env) : storage_find_program("qemu-img");
        if (!d->qemu_img)
                log_warning("qemu-img not found: volumes cannot be probed or created as qcow2.");
        d->pools = g_ptr_array_new();
        d->deferred = g_ptr_array_new();
        d->calls = g_ptr_array_new();
        d->stats_interval_usec = STORAGE_STATS_INTERVAL_USEC_DEFAULT;
        d->probe_timeout_usec = STORAGE_PROBE_TIMEOUT_USEC_DEFAULT;
        *ret = d;
        return 0;
}

StorageDriver *storage_driver_free(StorageDriver *d) {
        if (!d)
                return NULL;
        while (d->pools->len > 0)
                storage_pool_free(d->pools->pdata[d->pools->len - 1]);
        g_ptr_array_free(d->pools, true);
        for (guint i = 0; i < d->deferred->len; i++)
                deferred_free(d->deferred->pdata[i]);
        g_ptr_array_free(d->deferred, true);
        /* calls of no pool (removal of stale temporaries) */
        while (d->calls->len > 0)
                storage_call_abandon(d->calls->pdata[d->calls->len - 1]);
        g_ptr_array_free(d->calls, true);
        free(d->qemu_img);
        sd_event_unref(d->event);
        free(d);
        return NULL;
}

StorageVolume *storage_driver_find_volume_by_path(StorageDriver *d, const char *path) {
        for (guint i = 0; i < d->pools->len; i++) {
                StoragePool *p = d->pools->pdata[i];
                if (!p->def->target_path)
                        continue;
                size_t n = strlen(p->def->target_path);
                if (!p->active || strncmp(path, p->def->target_path, n) != 0 || path[n] != '/')
                        continue;
                StorageVolume *v = g_hash_table_lookup(p->volumes, path + n + 1);
                if (v)
                        return v;
        }
        return NULL;
}

/* ---- messages ---- */

char *storage_error_message(StoragePool *p, int r, const char *what, const char *detail) {
        if (r == -ENOSPC || r == -EDQUOT)
                return g_strdup_printf("no space left on pool '%s' while %s%s%s", p->def->name, what,
                                       detail ? ": " : "", strempty(detail));
        if (r == -ECANCELED)
                return g_strdup_printf("cancelled while %s in pool '%s'", what, p->def->name);
        return g_strdup_printf("pool '%s': failed %s: %s", p->def->name, what, detail ?: strerror(-r));
}

char *storage_pool_path(StoragePool *p, const char *name) {
        return g_strdup_printf("%s/%s", p->def->target_path, name);
}

static void set_error(char **error, char *message) {
        if (error)
                *error = message;
        else
                free(message);
}

/* ---- pools ---- */

int storage_pool_new(StorageDriver *d, const StoragePoolDef *def, void *owner, StoragePool **ret) {
        StoragePool *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->driver = d;
        p->owner = owner;
        p->dirfd = -1;
        p->def = storage_pool_def_copy(def);
        if (!p->def) {
                free(p);
                return -ENOMEM;
        }
        p->def->capacity = p->def->allocation = p->def->available = 0;
        p->volumes = g_hash_table_new(g_str_hash, g_str_equal);
        p->jobs = g_ptr_array_new();
        p->reserved = g_hash_table_new_full(g_str_hash, g_str_equal, free, free);
        g_ptr_array_add(d->pools, p);
        *ret = p;
        return 0;
}

static void drop_all_volumes(StoragePool *p, bool notify) {
        StorageVolume **vols = NULL;
        size_t n = 0;

        if (storage_pool_list_volumes(p, &vols, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                if (notify)
                        storage_pool_drop_volume(p, vols[i]);
                else {
                        g_hash_table_remove(p->volumes, vols[i]->def->name);
                        storage_volume_free(vols[i]);
                }
        }
        free(vols);
}

StoragePool *storage_pool_free(StoragePool *p) {
        if (!p)
                return NULL;
        storage_pool_abort_jobs(p);
        storage_refresh_free(p->refresh);
        /* pending internal steps of this pool (a start about to open the target) */
        for (guint i = p->driver->deferred->len; i > 0; i--) {
                Deferred *df = p->driver->deferred->pdata[i - 1];
                if (df->userdata == p) {
                        g_ptr_array_remove_index(p->driver->deferred, i - 1);
                        deferred_free(df);
                }
        }
        storage_child_free(p->mount);
        storage_call_abandon(p->call);
        storage_call_abandon(p->stats_call);
        storage_call_abandon(p->unlink_call);
        storage_net_abandon(p);
        sd_event_source_disable_unref(p->stats_timer);
        free(p->start_message);
        drop_all_volumes(p, false);
        g_hash_table_destroy(p->volumes);
        g_ptr_array_free(p->jobs, true);
        g_hash_table_destroy(p->reserved);
        if (p->dirfd >= 0)
                close(p->dirfd);
        g_ptr_array_remove(p->driver->pools, p);
        storage_pool_def_free(p->def);
        free(p);
        return NULL;
}

int storage_pool_set_def(StoragePool *p, const StoragePoolDef *def) {
        StoragePoolDef *c;

        if (p->active || p->transition)
                return -EBUSY;
        c = storage_pool_def_copy(def);
        if (!c)
                return -ENOMEM;
        c->capacity = c->allocation = c->available = 0;
        storage_pool_def_free(p->def);
        p->def = c;
        return 0;
}

void *storage_pool_get_owner(StoragePool *p) {
        return p->owner;
}

const char *storage_driver_image_tool(StorageDriver *d) {
        return d->qemu_img;
}

const StoragePoolDef *storage_pool_get_def(StoragePool *p) {
        return p->def;
}

bool storage_pool_is_active(StoragePool *p) {
        return p->active;
}

static int cmp_volume(const void *a, const void *b) {
        const StorageVolume *x = *(StorageVolume *const *) a, *y = *(StorageVolume *const *) b;
        return strcmp(x->def->name, y->def->name);
}

int storage_pool_list_volumes(StoragePool *p, StorageVolume ***ret, size_t *ret_n) {
        size_t n = g_hash_table_size(p->volumes), i = 0;
        StorageVolume **l = calloc(n + 1, sizeof(StorageVolume *));
        GHashTableIter it;
        gpointer k, v;

        if (!l)
                return -ENOMEM;
        g_hash_table_iter_init(&it, p->volumes);
        while (g_hash_table_iter_next(&it, &k, &v))
                l[i++] = v;
        qsort(l, n, sizeof(StorageVolume *), cmp_volume);
        *ret = l;
        *ret_n = n;
        return 0;
}

StorageVolume *storage_pool_find_volume(StoragePool *p, const char *name) {
        return name ? g_hash_table_lookup(p->volumes, name) : NULL;
}

/* ---- statistics (fstatvfs in a thread: a dead NFS server holds it) ---- */

void storage_pool_set_stats(StoragePool *p, const struct statvfs *sv) {
        uint64_t cap = 0, alloc = 0, avail = 0;

        if (p->active && sv) {
                cap = (uint64_t) sv->f_blocks * sv->f_frsize;
                avail = (uint64_t) sv->f_bavail * sv->f_frsize;
                alloc = (uint64_t) (sv->f_blocks - sv->f_bfree) * sv->f_frsize;
        }
        if (cap == p->def->capacity && alloc == p->def->allocation && avail == p->def->available)
                return;
        p->def->capacity = cap;
        p->def->allocation = alloc;
        p->def->available = avail;
        if (p->driver->events.pool_changed)
                p->driver->events.pool_changed(p->driver->events.userdata, p);
}

typedef struct StatsCall {
        int fd;
        struct statvfs sv;
} StatsCall;

static void stats_call_free(void *arg) {
        StatsCall *c = arg;
        if (c->fd >= 0)
                close(c->fd);
        free(c);
}

/* The thread closes its duplicate itself: the pool's mount must not stay
 * busy until the loop gets round to the result. */
static int stats_call_run(void *arg) {
        StatsCall *c = arg;
        int r = fstatvfs(c->fd, &c->sv) < 0 ? -errno : 0;
        c->fd = storage_close(c->fd);
        return r;
}

static void stop_umount(StoragePool *p);

void storage_pool_fd_call_done(StoragePool *p) {
        if (--p->fd_calls > 0 || !p->umount_waiting)
                return;
        p->umount_waiting = false;
        stop_umount(p);
}

static void on_stats(void *userdata, void *arg, int r) {
        StoragePool *p = userdata;
        StatsCall *c = arg;

        p->stats_call = NULL;
        if (!p->umount_waiting) {
                if (r < 0)
                        log_debug("Pool %s: statvfs failed: %s", p->def->name, strerror(-r));
                else
                        storage_pool_set_stats(p, &c->sv);
                if (p->stats_again) {
                        p->stats_again = false;
                        storage_pool_update_stats(p);
                }
        }
        storage_pool_fd_call_done(p);   /* last: a stop may go on (and end) here */
}

void storage_pool_update_stats(StoragePool *p) {
        StatsCall *c;

        if (storage_pool_is_network(p)) {
                if (!p->active)
                        storage_pool_set_stats(p, NULL);
                return;   /* the sizes of the last listing (storage-net.c) */
        }
        if (!p->active || p->dirfd < 0) {
                storage_pool_set_stats(p, NULL);   /* a call under way is ignored when it returns */
                return;
        }
        if (p->stats_call) {
                p->stats_again = true;   /* one more when this one returns: it may predate the change */
                return;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return;
        c->fd = fcntl(p->dirfd, F_DUPFD_CLOEXEC, 3);
        if (c->fd < 0) {
                free(c);
                return;
        }
        if (storage_call_start(p->driver, stats_call_run, c, stats_call_free, on_stats, p, &p->stats_call) >= 0)
                p->fd_calls++;
}

static int on_stats_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        StoragePool *p = userdata;

        storage_pool_update_stats(p);
        (void) sd_event_source_set_time(s, usec + p->driver->stats_interval_usec);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static void stats_timer_set(StoragePool *p, bool on) {
        uint64_t now;

        p->stats_timer = sd_event_source_disable_unref(p->stats_timer);
        if (!on || p->driver->stats_interval_usec == 0 || sd_event_now(p->driver->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (sd_event_add_time(p->driver->event, &p->stats_timer, CLOCK_MONOTONIC, now + p->driver->stats_interval_usec,
                              0, on_stats_timer, p) >= 0)
                (void) sd_event_source_set_description(p->stats_timer, "storage-pool-stats");
}

void storage_driver_set_probe_timeout(StorageDriver *d, uint64_t usec) {
        d->probe_timeout_usec = usec;
}

void storage_driver_set_stats_interval(StorageDriver *d, uint64_t usec) {
        d->stats_interval_usec = usec;
        for (guint i = 0; i < d->pools->len; i++) {
                StoragePool *p = d->pools->pdata[i];
                stats_timer_set(p, p->active);
        }
}

/* ---- build and delete ---- */

static void transition_finish(StoragePool *p, int r, const char *message);

typedef struct TargetCall TargetCall;
static int target_call(StoragePool *p, StorageCallFn fn, StorageCallDoneFn done);

/* The first step of a build, start or stop: fn on the target in a thread; done at the end of the whole. */
static int transition_begin(StoragePool *p, StorageCallFn fn, StorageCallDoneFn step, StorageDoneFn done,
                            void *userdata) {
        int r = target_call(p, fn, step);
        if (r < 0)
                return r;
        p->transition = true;
        p->transition_done = done;
        p->transition_userdata = userdata;
        return 0;
}

/* mkdir -p TARGET, chmod, chown: in a thread (the target's parent may be a hung mount). */
struct TargetCall {
        char *target, *source;        /* in */
        char *name;                   /* in: the pool's, for messages */
        mode_t mode;                  /* in: build: the target's permissions */
        int64_t uid, gid;
        char *mounted;                /* out: the source of what is mounted there, NULL when nothing */
        bool ours;                    /* out: that is our source */
        int fd;                       /* open: the target directory */
        struct statvfs sv;
        char *error;                  /* build: what failed */
};

static int build_dir_run(void *arg) {
        TargetCall *c = arg;
        int r;

        r = mkdir_p(c->target, 0755);
        if (r < 0) {
                c->error = g_strdup_printf("cannot create target directory '%s' of pool '%s': %s", c->target, c->name,
                                           strerror(-r));
                return r;
        }
        if (chmod(c->target, c->mode) < 0 ||
            ((c->uid >= 0 || c->gid >= 0) && chown(c->target, (uid_t) c->uid, (gid_t) c->gid) < 0)) {
                r = -errno;
                c->error = g_strdup_printf("cannot set the permissions of '%s' (pool '%s'): %s", c->target, c->name,
                                           strerror(-r));
                return r;
        }
        return 0;
}

static const char *mkfs_type(const StoragePoolDef *def) {
        return !def->source_format || streq(def->source_format, "auto") ? "ext4" : def->source_format;
}

static void on_mkfs(void *userdata, int status, const char *out, const char *err) {
        StoragePool *p = userdata;
        StorageChild *c = TAKE_PTR(p->mount);
        (void) out;

        storage_child_free(c);
        if (status != 0) {
                _cleanup_free_ char *m = g_strdup_printf("cannot make a %s filesystem on %s for pool '%s': %s",
                                                         mkfs_type(p->def), p->def->source_device, p->def->name, err);
                transition_finish(p, -EIO, m);
                return;
        }
        transition_finish(p, 0, NULL);
}

static void run_mkfs(StoragePool *p) {
        _cleanup_free_ char *mkfs = storage_find_program("mkfs");
        int r = -ENOENT;

        if (mkfs) {
                const char *type = mkfs_type(p->def);
                char *argv[8];
                size_t n = 0;
                argv[n++] = mkfs;
                argv[n++] = (char *) "-t";
                argv[n++] = (char *) type;
                /* the caller decided (blkid checked for NO_OVERWRITE): no interactive question */
                if (g_str_has_prefix(type, "ext"))
                        argv[n++] = (char *) "-F";
                else if (streq(type, "xfs") || streq(type, "btrfs"))
                        argv[n++] = (char *) "-f";
                argv[n++] = p->def->source_device;
                argv[n] = NULL;
                r = storage_child_spawn(p->driver, argv, -1, -1, NULL, on_mkfs, p, &p->mount);
        }
        if (r < 0) {
                _cleanup_free_ char *m = g_strdup_printf("cannot run mkfs for pool '%s': %s", p->def->name, strerror(-r));
                transition_finish(p, r, m);
        }
}

static void on_blkid(void *userdata, int status, const char *out, const char *err) {
        StoragePool *p = userdata;
        StorageChild *c = TAKE_PTR(p->mount);
        _cleanup_free_ char *type = g_strdup(out ? out : "");
        (void) err;

        storage_child_free(c);
        /* blkid -p: 0 = found a signature, 2 = nothing there */
        if (status == 0 && *type) {
                _cleanup_free_ char *m = g_strdup_printf("%s already holds a %s filesystem; pool '%s' is not built over it",
                                                         p->def->source_device, type, p->def->name);
                transition_finish(p, -EEXIST, m);
                return;
        }
        if (status != 2 && status != 0) {
                _cleanup_free_ char *m = g_strdup_printf("cannot examine %s for pool '%s' (blkid status %d)",
                                                         p->def->source_device, p->def->name, status);
                transition_finish(p, -EIO, m);
                return;
        }
        run_mkfs(p);
}

static void on_build_dir(void *userdata, void *arg, int r) {
        StoragePool *p = userdata;
        TargetCall *c = arg;
        _cleanup_free_ char *error = NULL, *blkid = NULL;

        p->call = NULL;
        if (r < 0 || p->def->type != STORAGE_POOL_FS || !(p->build_flags & (STORAGE_POOL_BUILD_OVERWRITE | STORAGE_POOL_BUILD_NO_OVERWRITE))) {
                transition_finish(p, r, c->error);
                return;
        }
        if (p->build_flags & STORAGE_POOL_BUILD_OVERWRITE) {
                run_mkfs(p);
                return;
        }
        blkid = storage_find_program("blkid");
        r = -ENOENT;
        if (blkid) {
                char *argv[] = { blkid, (char *) "-p", (char *) "-o", (char *) "value", (char *) "-s", (char *) "TYPE",
                                 p->def->source_device, NULL };
                r = storage_child_spawn(p->driver, argv, -1, -1, NULL, on_blkid, p, &p->mount);
        }
        if (r < 0) {
                error = g_strdup_printf("cannot run blkid for pool '%s': %s", p->def->name, strerror(-r));
                transition_finish(p, r, error);
        }
}

int storage_pool_build(StoragePool *p, StoragePoolBuildFlags flags, StorageDoneFn done, void *userdata) {
        int r;

        if ((flags & STORAGE_POOL_BUILD_OVERWRITE) && (flags & STORAGE_POOL_BUILD_NO_OVERWRITE))
                return -EINVAL;
        if (p->active)
                return -EALREADY;
        if (p->transition)
                return -EBUSY;
        if (storage_pool_is_network(p))
                return -EOPNOTSUPP;   /* nothing to make: the cluster or target is the server's */
        r = transition_begin(p, build_dir_run, on_build_dir, done, userdata);
        if (r >= 0)
                p->build_flags = flags;
        return r;
}

static int delete_dir_run(void *arg) {
        TargetCall *c = arg;

        if (rmdir(c->target) >= 0)
                return 0;
        int r = -errno;
        if (r == -ENOTEMPTY || r == -EEXIST)
                c->error = g_strdup_printf("target directory '%s' of pool '%s' is not empty", c->target, c->name);
        else
                c->error = g_strdup_printf("cannot remove target directory '%s' of pool '%s': %s", c->target, c->name,
                                           strerror(-r));
        return r == -EEXIST ? -ENOTEMPTY : r;
}

static void on_dir_deleted(void *userdata, void *arg, int r) {
        StoragePool *p = userdata;
        TargetCall *c = arg;

        p->call = NULL;
        transition_finish(p, r, c->error);
}

int storage_pool_delete_async(StoragePool *p, StorageDoneFn done, void *userdata) {
        if (p->active || p->transition)
                return -EBUSY;
        if (storage_pool_is_network(p))
                return -EOPNOTSUPP;
        return transition_begin(p, delete_dir_run, on_dir_deleted, done, userdata);
}

int storage_pool_delete(StoragePool *p, char **error) {
        if (p->active || p->transition)
                return -EBUSY;
        if (storage_pool_is_network(p))
                return -EOPNOTSUPP;
        if (rmdir(p->def->target_path) < 0) {
                int r = -errno;
                if (r == -ENOTEMPTY || r == -EEXIST)
                        set_error(error, g_strdup_printf("target directory '%s' of pool '%s' is not empty",
                                                         p->def->target_path, p->def->name));
                else
                        set_error(error, g_strdup_printf("cannot remove target directory '%s' of pool '%s': %s",
                                                         p->def->target_path, p->def->name, strerror(-r)));
                return r;
        }
        return 0;
}

/* ---- mounts (fs, netfs) ---- */

/* Unescapes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s) {
        char *w = s;
        for (char *r = s; *r; r++) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] && r[3]) {
                        *w++ = (char) strtol((char[]) { r[1], r[2], r[3], 0 }, NULL, 8);
                        r += 3;
                } else
                        *w++ = *r;
        }
        *w = 0;
}

/* 1 and *ret_source when something is mounted on path, 0 when not. */
static int mount_source(const char *path, char **ret_source) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        int found = 0;

        if (!f)
                return -errno;
        while (getline(&line, &size, f) > 0) {
                char *fields[16] = {}, *save = NULL, *tok;
                size_t n = 0;
                for (tok = strtok_r(line, " \n", &save); tok && n < ELEMENTSOF(fields); tok = strtok_r(NULL, " \n", &save))
                        fields[n++] = tok;
                if (n < 7)
                        continue;
                unescape(fields[4]);
                if (!streq(fields[4], path))
                        continue;
                size_t dash = 6;
                while (dash < n && !streq(fields[dash], "-"))
                        dash++;
                if (dash + 2 >= n)
                        continue;
                free(*ret_source);
                *ret_source = strdup(fields[dash + 2]);
                unescape(*ret_source);
                found = 1;   /* the last one wins: it is the one on top */
        }
        return found;
}

static char *pool_mount_source(const StoragePoolDef *def) {
        if (def->type == STORAGE_POOL_FS)
                return strdup(def->source_device);
        if (streq_ptr(def->source_format, "cifs"))
                return g_strdup_printf("//%s%s", def->source_host, def->source_dir);
        return g_strdup_printf("%s:%s", def->source_host, def->source_dir);
}

static void transition_finish(StoragePool *p, int r, const char *message) {
        StorageDoneFn done = TAKE_PTR(p->transition_done);
        p->transition = false;
        if (done)
                done(p->transition_userdata, r, message);
}

/* ---- what is mounted on the target (realpath() and the mount table, in a thread) ---- */

static void target_call_free(void *arg) {
        TargetCall *c = arg;
        free(c->target);
        free(c->source);
        free(c->name);
        free(c->error);
        free(c->mounted);
        if (c->fd >= 0)
                close(c->fd);
        free(c);
}

static int target_inspect_run(void *arg) {
        TargetCall *c = arg;
        /* mountinfo names the mount point by its real path */
        _cleanup_free_ char *real = realpath(c->target, NULL);
        int r = mount_source(real ?: c->target, &c->mounted);

        if (r <= 0)
                return r;
        _cleanup_free_ char *real_source = c->source ? realpath(c->source, NULL) : NULL;
        c->ours = streq_ptr(c->mounted, c->source) || (real_source && streq(c->mounted, real_source));
        return 1;
}

static int target_open_run(void *arg) {
        TargetCall *c = arg;

        c->fd = open(c->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (c->fd < 0)
                return -errno;
        return fstatvfs(c->fd, &c->sv) < 0 ? -errno : 0;
}

static int target_call(StoragePool *p, StorageCallFn fn, StorageCallDoneFn done) {
        TargetCall *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->fd = -1;
        c->target = strdup(p->def->target_path);
        c->name = strdup(p->def->name);
        c->mode = p->def->perms.mode >= 0 ? (mode_t) p->def->perms.mode : 0711;
        c->uid = p->def->perms.uid;
        c->gid = p->def->perms.gid;
        if (p->def->type != STORAGE_POOL_DIR)
                c->source = pool_mount_source(p->def);
        if (!c->target || !c->name || (p->def->type != STORAGE_POOL_DIR && !c->source)) {
                target_call_free(c);
                return -ENOMEM;
        }
        return storage_call_start(p->driver, fn, c, target_call_free, done, p, &p->call);
}

/* ---- start ---- */

static void on_start_unmounted(void *userdata, int status, const char *out, const char *err) {
        StoragePool *p = userdata;
        StorageChild *c = TAKE_PTR(p->mount);
        _cleanup_free_ char *m = TAKE_PTR(p->start_message);
        (void) out;

        storage_child_free(c);
        if (status != 0)
                log_warning("Pool %s: cannot unmount '%s' after a failed start: %s", p->def->name,
                            p->def->target_path, err);
        transition_finish(p, p->start_error, m);
}

/* Reports a failed start, after unmounting what this start mounted: a failed
 * Start leaves the pool as it found it. */
static void start_fail(StoragePool *p, int r, const char *message) {
        _cleanup_free_ char *umount_bin = NULL;

        if (p->start_mounted) {
                p->start_mounted = false;
                umount_bin = storage_find_program("umount");
                if (umount_bin) {
                        char *argv[] = { umount_bin, p->def->target_path, NULL };
                        if (storage_child_spawn(p->driver, argv, -1, -1, NULL, on_start_unmounted, p, &p->mount) >= 0) {
                                p->start_error = r;
                                free(p->start_message);
                                p->start_message = message ? strdup(message) : NULL;
                                return;
                        }
                }
                log_warning("Pool %s: cannot unmount '%s' after a failed start.", p->def->name, p->def->target_path);
        }
        transition_finish(p, r, message);
}

static void pool_deactivate(StoragePool *p) {
        drop_all_volumes(p, true);
        if (p->dirfd >= 0)
                close(p->dirfd);
        p->dirfd = -1;
        p->active = false;
        stats_timer_set(p, false);
        storage_pool_update_stats(p);
        if (p->driver->events.pool_changed)
                p->driver->events.pool_changed(p->driver->events.userdata, p);
}

void storage_pool_deactivate(StoragePool *p) {
        pool_deactivate(p);
}

static void on_start_refreshed(void *userdata, int r, const char *message) {
        StoragePool *p = userdata;

        if (r < 0) {
                pool_deactivate(p);
                start_fail(p, r, message);
                return;
        }
        p->start_mounted = false;
        transition_finish(p, r, message);
}

/* An errno of the OS as a failure of the operation: the ones the contract
 * gives a meaning of their own (-ENOTCONN "not active" for a dead
 * filesystem's ENOTCONN…) become -EIO; the message keeps the OS's words. */
int storage_os_failure(int r) {
        switch (r) {
        case -ENOTCONN: case -EALREADY: case -EINVAL: case -EEXIST: case -EBUSY:
        case -ENOTEMPTY: case -EOPNOTSUPP: case -ECANCELED:
                return -EIO;
        default:
                return r;
        }
}

static void on_target_opened(void *userdata, void *arg, int r) {
        StoragePool *p = userdata;
        TargetCall *c = arg;
        _cleanup_free_ char *m = NULL;

        p->call = NULL;
        if (r < 0) {
                if (r == -ENOENT)
                        m = g_strdup_printf("target path '%s' of pool '%s' does not exist (build the pool first)",
                                            p->def->target_path, p->def->name);
                else
                        m = g_strdup_printf("cannot open target path '%s' of pool '%s': %s", p->def->target_path,
                                            p->def->name, strerror(-r));
                start_fail(p, storage_os_failure(r), m);
                return;
        }
        p->dirfd = TAKE_FD(c->fd);
        p->active = true;
        storage_pool_set_stats(p, &c->sv);
        stats_timer_set(p, true);
        if (p->driver->events.pool_changed)
                p->driver->events.pool_changed(p->driver->events.userdata, p);
        r = storage_pool_refresh(p, on_start_refreshed, p);
        if (r < 0) {
                m = storage_error_message(p, r, "scanning the target", NULL);
                on_start_refreshed(p, r, m);
        }
}

static void pool_activate(StoragePool *p) {
        int r = target_call(p, target_open_run, on_target_opened);
        if (r < 0) {
                _cleanup_free_ char *m = g_strdup_printf("cannot open target path '%s' of pool '%s': %s",
                                                         p->def->target_path, p->def->name, strerror(-r));
                start_fail(p, r, m);
        }
}

static void on_failed_mount_inspected(void *userdata, void *arg, int r) {
        StoragePool *p = userdata;
        TargetCall *c = arg;
        _cleanup_free_ char *m = TAKE_PTR(p->start_message);

        p->call = NULL;
        p->start_mounted = r > 0 && c->ours;
        start_fail(p, -EIO, m);
}

static void on_mounted(void *userdata, int status, const char *out, const char *err) {
        StoragePool *p = userdata;
        StorageChild *c = TAKE_PTR(p->mount);
        (void) out;

        storage_child_free(c);
        if (status != 0) {
                free(p->start_message);
                p->start_message = g_strdup_printf("cannot mount %s on '%s' for pool '%s': %s",
                                                   p->def->type == STORAGE_POOL_FS ? p->def->source_device : "the export",
                                                   p->def->target_path, p->def->name, err);
                /* A failed mount can still have mounted: a FUSE client (glusterfs)
                 * mounts before it fetches its volume and unmounts on its own
                 * only after mount(8) has returned. Look, and unmount ours. */
                if (target_call(p, target_inspect_run, on_failed_mount_inspected) < 0) {
                        _cleanup_free_ char *m = TAKE_PTR(p->start_message);
                        transition_finish(p, -EIO, m);
                }
                return;
        }
        p->start_mounted = true;
        pool_activate(p);
}

/* The mount option naming the server's port: NFS's port= or, for GlusterFS
 * (mount.glusterfs, a FUSE client), the port glusterd serves volume files on. */
/* The -o option naming the server port: NFS port=, GlusterFS server-port= (where
 * glusterd serves volume files); 0 for formats that take none. */
static int netfs_port_option(const char *fmt, unsigned port, char **ret) {
        const char *key = streq(fmt, "nfs") ? "port" : streq(fmt, "glusterfs") ? "server-port" : NULL;

        if (!key)
                return 0;
        *ret = g_strdup_printf("%s=%u", key, port);
        return *ret ? 1 : -ENOMEM;
}

static int pool_mount(StoragePool *p, const char *source) {
        _cleanup_free_ char *mount_bin = NULL, *opts = NULL;
        const StoragePoolDef *def = p->def;
        const char *fmt = def->source_format;
        char *argv[10];
        size_t n = 0;

        mount_bin = storage_find_program("mount");
        if (!mount_bin)
                return -ENOENT;
        argv[n++] = mount_bin;
        if (def->type == STORAGE_POOL_NETFS && (!fmt || streq(fmt, "auto")))
                fmt = "nfs";
        if (fmt && !streq(fmt, "auto")) {
                argv[n++] = (char *) "-t";
                argv[n++] = (char *) fmt;
        }
        if (def->type == STORAGE_POOL_NETFS && def->source_host_port) {
                int r = netfs_port_option(fmt, def->source_host_port, &opts);
                if (r < 0)
                        return r;
                if (r > 0) {
                        argv[n++] = (char *) "-o";
                        argv[n++] = opts;
                }
        }
        argv[n++] = (char *) source;
        argv[n++] = def->target_path;
        argv[n] = NULL;
        return storage_child_spawn(p->driver, argv, -1, -1, NULL, on_mounted, p, &p->mount);
}

/* Why this machine cannot mount NFS (malloc'd), or NULL when it can: mount.nfs and the
 * kernel's client (built in, loaded, or a module modprobe finds). Reads only /proc, /sys
 * and /lib/modules: never a hung mount. */
static char *nfs_client_missing(void) {
        _cleanup_free_ char *helper = storage_find_program("mount.nfs"), *fs = NULL, *moddir = NULL;
        struct utsname u;

        if (!helper)
                return g_strdup("mount.nfs (package nfs-common) is not installed");
        if (g_file_get_contents("/proc/filesystems", &fs, NULL, NULL) && strstr(fs, "\tnfs\n"))
                return NULL;
        if (access("/sys/module/nfs", F_OK) >= 0)
                return NULL;
        if (uname(&u) >= 0) {
                moddir = g_strdup_printf("/lib/modules/%s/kernel/fs/nfs", u.release);
                if (access(moddir, F_OK) >= 0)
                        return NULL;
        }
        return g_strdup_printf("the kernel has no NFS client (no nfs in /proc/filesystems, no nfs module for %s)",
                               uname(&u) >= 0 ? u.release : "this kernel");
}

static void on_start_inspected(void *userdata, void *arg, int r) {
        StoragePool *p = userdata;
        TargetCall *c = arg;
        _cleanup_free_ char *m = NULL, *missing = NULL;

        p->call = NULL;
        if (r > 0 && c->ours) {
                pool_activate(p);   /* already ours (a daemon restart): adopt it */
                return;
        }
        if (r > 0)
                m = g_strdup_printf("'%s' is already mounted on '%s', not the source of pool '%s'", c->mounted,
                                    p->def->target_path, p->def->name);
        else if (r == 0 && p->def->type == STORAGE_POOL_NETFS &&
                 (!p->def->source_format || STR_IN_SET(p->def->source_format, "auto", "nfs")) &&
                 (missing = nfs_client_missing())) {
                m = g_strdup_printf("cannot mount the export on '%s' for pool '%s': %s", p->def->target_path,
                                    p->def->name, missing);
                r = -EIO;
        } else if (r == 0 && (r = pool_mount(p, c->source)) >= 0)
                return;
        else
                m = g_strdup_printf("cannot mount the source of pool '%s' on '%s': %s", p->def->name,
                                    p->def->target_path, strerror(-r));
        transition_finish(p, r > 0 ? -EBUSY : r, m);
}

int storage_pool_start(StoragePool *p, StorageDoneFn done, void *userdata) {
        if (p->active)
                return -EALREADY;
        if (p->transition)
                return -EBUSY;
        if (storage_pool_is_network(p))
                return storage_net_start(p, done, userdata);
        if (p->def->type == STORAGE_POOL_DIR)
                return transition_begin(p, target_open_run, on_target_opened, done, userdata);
        return transition_begin(p, target_inspect_run, on_start_inspected, done, userdata);
}

/* ---- stop ---- */

static void on_target_reopened(void *userdata, void *arg, int r) {
        StoragePool *p = userdata;
        TargetCall *c = arg;
        _cleanup_free_ char *m = TAKE_PTR(p->start_message);

        p->call = NULL;
        if (r >= 0)
                p->dirfd = TAKE_FD(c->fd);
        else
                log_warning("Pool %s: cannot open '%s' again after a failed unmount: %s", p->def->name,
                            p->def->target_path, strerror(-r));
        transition_finish(p, -EBUSY, m);
}

static void on_unmounted(void *userdata, int status, const char *out, const char *err) {
        StoragePool *p = userdata;
        StorageChild *c = TAKE_PTR(p->mount);
        (void) out;

        storage_child_free(c);
        if (status != 0) {
                free(p->start_message);
                p->start_message = g_strdup_printf("cannot unmount '%s' of pool '%s': %s", p->def->target_path,
                                                   p->def->name, err);
                /* still mounted, still active: take the handle back */
                if (target_call(p, target_open_run, on_target_reopened) < 0)
                        on_target_reopened(p, &(TargetCall) { .fd = -1 }, -ENOMEM);
                return;
        }
        pool_deactivate(p);
        transition_finish(p, 0, NULL);
}

static void on_stop_inspected(void *userdata, void *arg, int r) {
        StoragePool *p = userdata;
        (void) arg;

        p->call = NULL;
        if (r <= 0) {
                /* nothing mounted there (or the table is unreadable): nothing to undo */
                pool_deactivate(p);
                transition_finish(p, 0, NULL);
                return;
        }
        /* Close our own handle first, or the mount is busy; and wait for the
         * threads that hold a duplicate of it. */
        p->dirfd = storage_close(p->dirfd);
        if (p->fd_calls > 0) {
                p->umount_waiting = true;
                return;
        }
        stop_umount(p);
}

static void stop_umount(StoragePool *p) {
        _cleanup_free_ char *umount_bin = storage_find_program("umount");
        int r = -ENOENT;

        if (umount_bin) {
                char *argv[] = { umount_bin, p->def->target_path, NULL };
                r = storage_child_spawn(p->driver, argv, -1, -1, NULL, on_unmounted, p, &p->mount);
                if (r >= 0)
                        return;
        }
        _cleanup_free_ char *m = g_strdup_printf("cannot run umount for pool '%s': %s", p->def->name, strerror(-r));
        if (p->dirfd < 0) {
                p->start_message = TAKE_PTR(m);
                if (target_call(p, target_open_run, on_target_reopened) < 0)
                        on_target_reopened(p, &(TargetCall) { .fd = -1 }, -ENOMEM);
                return;
        }
        transition_finish(p, r, m);
}

int storage_pool_stop(StoragePool *p, StorageDoneFn done, void *userdata) {
        if (!p->active)
                return -ENOTCONN;
        if (p->transition || p->jobs->len > 0)
                return -EBUSY;
        storage_refresh_abort(p);
        if (p->def->type == STORAGE_POOL_ISCSI)
                return storage_net_stop(p, done, userdata);   /* iscsiadm logs out */
        if (p->def->type == STORAGE_POOL_DIR || storage_pool_is_network(p)) {
                if (p->net_call)
                        return -EBUSY;   /* a refresh is under way */
                pool_deactivate(p);
                return storage_defer_done(p->driver, done, userdata, 0, NULL);
        }
        return transition_begin(p, target_inspect_run, on_stop_inspected, done, userdata);
}
