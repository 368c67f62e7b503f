/* storage-probe.c — what a file in a pool is (qemu-img info --backing-chain), and the pool scan built on it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "json-util.h"
#include "storage-internal.h"

#define PROBE_PARALLEL 4

struct StorageProbe {
        StoragePool *pool;
        char *name;
        struct stat st;
        int iso;                      /* from the scan: 0/1; -1 = look */
        StorageChild *child;
        StorageProbeDoneFn done;
        void *userdata;
};

StorageProbe *storage_probe_free(StorageProbe *pr) {
        if (!pr)
                return NULL;
        storage_child_free(pr->child);
        free(pr->name);
        free(pr);
        return NULL;
}

/* qemu-img calls an ISO image raw; its volume descriptor says otherwise. */
bool storage_file_is_iso(int dirfd, const char *name, const struct stat *st) {
        _cleanup_close_ int fd = -1;
        char magic[5];

        if (!S_ISREG(st->st_mode) || st->st_size < 32769 + (off_t) sizeof magic)
                return false;
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        return fd >= 0 && pread(fd, magic, sizeof magic, 32769) == (ssize_t) sizeof magic &&
               memcmp(magic, "CD001", 5) == 0;
}

static int json_u64(const JsonValue *o, const char *key, uint64_t *ret) {
        int64_t v;
        if (json_util_integer(json_object_get(o, key), &v) < 0 || v < 0)
                return -EINVAL;
        *ret = (uint64_t) v;
        return 0;
}

static int parse_info(StorageProbe *pr, const char *out, StorageVolDef **ret_def, char ***ret_chain) {
        _cleanup_json_ JsonValue *v = NULL;
        StorageVolDef *def;
        const JsonValue *top;
        const char *fmt;
        int f, r;

        r = json_util_parse(out, strlen(out), &v, NULL);
        if (r < 0)
                return r;
        if (!json_is_array(v) || json_array_size(v) == 0 || !json_is_object(json_array_get(v, 0)))
                return -EINVAL;
        top = json_array_get(v, 0);

        def = storage_vol_def_new();
        if (!def)
                return -ENOMEM;
        def->type = S_ISBLK(pr->st.st_mode) ? STORAGE_VOL_BLOCK : STORAGE_VOL_FILE;
        def->name = strdup(pr->name);
        def->path = storage_pool_path(pr->pool, pr->name);
        def->key = def->path ? strdup(def->path) : NULL;
        if (!def->name || !def->key) {
                storage_vol_def_free(def);
                return -ENOMEM;
        }
        fmt = json_util_member_string(top, "format");
        f = storage_vol_format_from_qemu(fmt);
        def->format = f >= 0 ? (StorageVolFormat) f : STORAGE_VOL_FORMAT_RAW;
        if (def->format == STORAGE_VOL_FORMAT_RAW && (pr->iso >= 0 ? pr->iso : storage_file_is_iso(pr->pool->dirfd, pr->name, &pr->st)))
                def->format = STORAGE_VOL_FORMAT_ISO;
        def->has_format = true;
        if (json_u64(top, "virtual-size", &def->capacity) < 0)
                def->capacity = (uint64_t) pr->st.st_size;
        def->has_capacity = true;
        if (S_ISBLK(pr->st.st_mode)) {
                def->allocation = def->physical = def->capacity;
        } else {
                def->allocation = (uint64_t) pr->st.st_blocks * 512;
                def->physical = (uint64_t) pr->st.st_size;
        }
        def->has_allocation = true;
        def->perms.mode = pr->st.st_mode & 07777;
        def->perms.uid = pr->st.st_uid;
        def->perms.gid = pr->st.st_gid;

        const char *backing = json_util_member_string(top, "full-backing-filename") ?: json_util_member_string(top, "backing-filename");
        if (backing) {
                def->backing_path = strdup(backing);
                f = storage_vol_format_from_qemu(json_util_member_string(top, "backing-filename-format"));
                if (f < 0 && json_array_size(v) > 1)
                        f = storage_vol_format_from_qemu(json_util_member_string(json_array_get(v, 1), "format"));
                if (f >= 0) {
                        def->backing_format = (StorageVolFormat) f;
                        def->has_backing_format = true;
                }
        }

        char **chain = calloc(json_array_size(v), sizeof(char *));
        size_t n = 0;
        if (!chain) {
                storage_vol_def_free(def);
                return -ENOMEM;
        }
        for (size_t i = 1; i < json_array_size(v); i++) {
                const char *fn = json_util_member_string(json_array_get(v, i), "filename");
                if (fn)
                        chain[n++] = strdup(fn);
        }
        *ret_def = def;
        *ret_chain = chain;
        return 0;
}

static void on_probe_exit(void *userdata, int status, const char *out, const char *err) {
        StorageProbe *pr = userdata;
        StorageVolDef *def = NULL;
        char **chain = NULL;
        int r;

        if (status != 0) {
                _cleanup_free_ char *m = g_strdup_printf("qemu-img info of '%s' failed: %s", pr->name, err);
                pr->done(pr->userdata, pr, -EIO, m, NULL, NULL);
                return;
        }
        r = parse_info(pr, out ?: "", &def, &chain);
        if (r < 0) {
                _cleanup_free_ char *m = g_strdup_printf("cannot read qemu-img info of '%s'", pr->name);
                pr->done(pr->userdata, pr, r, m, NULL, NULL);
                return;
        }
        pr->done(pr->userdata, pr, 0, NULL, def, chain);
}

/* The child frees itself once its done callback returned: done callbacks may
 * free the probe, so the child pointer is detached first. */
static void on_probe_exit_trampoline(void *userdata, int status, const char *out, const char *err) {
        StorageProbe *pr = userdata;
        StorageChild *c = TAKE_PTR(pr->child);
        on_probe_exit(pr, status, out, err);
        storage_child_free(c);
}

/* st: what the scan found (NULL: fstatat now); iso as StorageProbe.iso. */
static int probe_start(StoragePool *p, const char *name, const struct stat *st, int iso, StorageProbeDoneFn done,
                       void *userdata, StorageProbe **ret) {
        _cleanup_free_ char *rel = NULL;
        StorageProbe *pr;
        int r;

        if (!p->driver->qemu_img)
                return -ENOENT;
        pr = calloc(1, sizeof(*pr));
        if (!pr)
                return -ENOMEM;
        pr->pool = p;
        pr->done = done;
        pr->userdata = userdata;
        pr->iso = iso;
        pr->name = strdup(name);
        if (st && pr->name)
                pr->st = *st;
        if (!pr->name || (!st && fstatat(p->dirfd, name, &pr->st, AT_SYMLINK_NOFOLLOW) < 0)) {
                r = pr->name ? -errno : -ENOMEM;
                storage_probe_free(pr);
                return r;
        }
        if (!S_ISREG(pr->st.st_mode) && !S_ISBLK(pr->st.st_mode)) {
                storage_probe_free(pr);
                return -EMEDIUMTYPE;
        }
        rel = g_strdup_printf("./%s", name);
        char *argv[] = { p->driver->qemu_img, (char *) "info", (char *) "-U", (char *) "--output=json",
                         (char *) "--backing-chain", rel, NULL };
        r = storage_child_spawn(p->driver, argv, p->dirfd, -1, NULL, on_probe_exit_trampoline, pr, &pr->child);
        if (r >= 0)
                r = storage_child_set_timeout(pr->child, p->driver->probe_timeout_usec);
        if (r < 0) {
                storage_probe_free(pr);
                return r;
        }
        *ret = pr;
        return 0;
}

int storage_probe_start(StoragePool *p, const char *name, StorageProbeDoneFn done, void *userdata, StorageProbe **ret) {
        return probe_start(p, name, NULL, -1, done, userdata, ret);
}

int storage_probe_start_stat(StoragePool *p, const char *name, const struct stat *st, bool iso, StorageProbeDoneFn done,
                             void *userdata, StorageProbe **ret) {
        return probe_start(p, name, st, iso, done, userdata, ret);
}

/* ---- the directory scan, in a thread ---- */

typedef struct ScanEntry {
        char *name;
        struct stat st;
        bool iso;
} ScanEntry;

typedef struct ScanCall {
        int fd;                       /* a duplicate of the pool's directory fd */
        GArray *entries;              /* ScanEntry: regular files and block devices */
        GPtrArray *temporaries;       /* our hidden temporaries found */
        struct statvfs sv;
        bool has_sv;
} ScanCall;

static void scan_entry_clear(void *e) {
        free(((ScanEntry *) e)->name);
}

static void scan_call_free(void *arg) {
        ScanCall *c = arg;
        if (c->fd >= 0)
                close(c->fd);
        g_array_free(c->entries, true);
        g_ptr_array_free(c->temporaries, true);
        free(c);
}

static int scan_run(void *arg) {
        ScanCall *c = arg;
        int fd = openat(c->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *dir;
        struct dirent *de;

        if (fd < 0)
                return -errno;
        dir = fdopendir(fd);
        if (!dir) {
                close(fd);
                return -errno;
        }
        while ((errno = 0, de = readdir(dir))) {
                const char *n = de->d_name;
                ScanEntry e = {};

                if (streq(n, ".") || streq(n, ".."))
                        continue;
                if (storage_name_is_temporary(n)) {
                        g_ptr_array_add(c->temporaries, g_strdup(n));
                        continue;
                }
                if (n[0] == '.' || storage_vol_name_validate(n, NULL) < 0)
                        continue;
                if (fstatat(c->fd, n, &e.st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISLNK(e.st.st_mode) || (!S_ISREG(e.st.st_mode) && !S_ISBLK(e.st.st_mode)))
                        continue;   /* symlinks are never followed */
                e.iso = storage_file_is_iso(c->fd, n, &e.st);
                e.name = g_strdup(n);
                g_array_append_val(c->entries, e);
        }
        int r = errno ? -errno : 0;
        closedir(dir);
        c->has_sv = fstatvfs(c->fd, &c->sv) == 0;
        c->fd = storage_close(c->fd);   /* now, not when the loop takes the result: the mount must not stay busy */
        return r;
}

typedef struct UnlinkCall {
        int fd;
        GPtrArray *names;
} UnlinkCall;

static void unlink_call_free(void *arg) {
        UnlinkCall *c = arg;
        if (c->fd >= 0)
                close(c->fd);
        g_ptr_array_free(c->names, true);
        free(c);
}

static int unlink_run(void *arg) {
        UnlinkCall *c = arg;
        for (guint i = 0; i < c->names->len; i++)
                (void) unlinkat(c->fd, c->names->pdata[i], 0);
        c->fd = storage_close(c->fd);
        return 0;
}

static void on_stale_removed(void *userdata, void *arg, int r) {
        StoragePool *p = userdata;
        (void) arg, (void) r;

        p->unlink_call = NULL;
        storage_pool_fd_call_done(p);
}

/* Removes, in a thread, the temporaries no running job owns: left by a crashed daemon. */
static void remove_stale(StoragePool *p, GPtrArray *temporaries) {
        UnlinkCall *c;

        if (temporaries->len == 0)
                return;
        c = calloc(1, sizeof(*c));
        if (!c)
                return;
        c->names = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < temporaries->len; i++) {
                const char *n = temporaries->pdata[i];
                if (storage_pool_temporary_in_use(p, n))
                        continue;
                log_info("Removing stale temporary '%s' from pool '%s'.", n, p->def->name);
                g_ptr_array_add(c->names, g_strdup(n));
        }
        c->fd = c->names->len > 0 && !p->unlink_call ? fcntl(p->dirfd, F_DUPFD_CLOEXEC, 3) : -1;
        if (c->fd < 0) {
                unlink_call_free(c);
                return;
        }
        if (storage_call_start(p->driver, unlink_run, c, unlink_call_free, on_stale_removed, p, &p->unlink_call) >= 0)
                p->fd_calls++;
}

/* ---- refresh ---- */

typedef struct Waiter {
        StorageDoneFn done;
        void *userdata;
} Waiter;

struct StorageRefresh {
        StoragePool *pool;
        GPtrArray *todo;              /* names still to probe */
        GPtrArray *running;           /* StorageProbe* */
        GHashTable *found;            /* names seen on disk */
        GArray *waiters;              /* Waiter */
        GHashTable *stats;            /* name → struct stat from the scan */
        GHashTable *iso;              /* names the scan found to be ISO images */
        bool again;                   /* asked again while running: rescan */
        StorageCall *scan;            /* the directory scan, in a thread */
        struct statvfs sv;
        bool has_sv;
        size_t failed;
};

void storage_refresh_free(StorageRefresh *rf) {
        if (!rf)
                return;
        storage_call_abandon(rf->scan);
        if (rf->stats)
                g_hash_table_destroy(rf->stats);
        if (rf->iso)
                g_hash_table_destroy(rf->iso);
        if (rf->running)
                for (size_t i = 0; i < rf->running->len; i++)
                        storage_probe_free(rf->running->pdata[i]);
        if (rf->running)
                g_ptr_array_free(rf->running, true);
        if (rf->todo)
                g_ptr_array_free(rf->todo, true);
        if (rf->found)
                g_hash_table_destroy(rf->found);
        if (rf->waiters)
                g_array_free(rf->waiters, true);
        free(rf);
}

static void refresh_next(StorageRefresh *rf);
static int refresh_begin(StorageRefresh *rf);

static void refresh_finish(StorageRefresh *rf, int r, const char *message) {
        StoragePool *p = rf->pool;
        GArray *waiters = TAKE_PTR(rf->waiters);

        if (r >= 0) {
                /* Volumes that vanished (and no job is making them). */
                StorageVolume **vols = NULL;
                size_t n = 0;
                if (storage_pool_list_volumes(p, &vols, &n) >= 0) {
                        for (size_t i = 0; i < n; i++)
                                if (!g_hash_table_contains(rf->found, vols[i]->def->name) && !vols[i]->busy)
                                        storage_pool_drop_volume(p, vols[i]);
                        free(vols);
                }
                storage_pool_set_stats(p, rf->has_sv ? &rf->sv : NULL);
        }
        p->refresh = NULL;
        storage_refresh_free(rf);
        for (guint i = 0; waiters && i < waiters->len; i++) {
                Waiter *w = &g_array_index(waiters, Waiter, i);
                w->done(w->userdata, r, message);
        }
        if (waiters)
                g_array_free(waiters, true);
}

static void on_refresh_probe(void *userdata, StorageProbe *pr, int r, const char *message, StorageVolDef *def, char **chain) {
        StorageRefresh *rf = userdata;

        if (r < 0) {
                log_warning("Pool '%s': %s", pr->pool->def->name, message);
                rf->failed++;
        } else if (!g_hash_table_contains(pr->pool->reserved, def->name))
                storage_pool_put_volume(pr->pool, def, chain);
        else {
                storage_vol_def_free(def);
                g_strfreev(chain);
        }
        g_ptr_array_remove_fast(rf->running, pr);
        storage_probe_free(pr);
        refresh_next(rf);
}

static void refresh_next(StorageRefresh *rf) {
        while (rf->todo->len > 0 && rf->running->len < PROBE_PARALLEL) {
                _cleanup_free_ char *name = g_ptr_array_steal_index(rf->todo, rf->todo->len - 1);
                StorageProbe *pr = NULL;
                const struct stat *st = g_hash_table_lookup(rf->stats, name);
                int r = probe_start(rf->pool, name, st, g_hash_table_contains(rf->iso, name), on_refresh_probe, rf, &pr);
                if (r < 0) {
                        /* Gone since the scan, or not a file any more. */
                        g_hash_table_remove(rf->found, name);
                        continue;
                }
                g_ptr_array_add(rf->running, pr);
        }
        if (rf->todo->len > 0 || rf->running->len > 0)
                return;
        if (rf->scan)
                return;
        if (rf->again) {
                rf->again = false;
                int r = refresh_begin(rf);
                if (r < 0) {
                        _cleanup_free_ char *m = storage_error_message(rf->pool, r, "scanning", NULL);
                        refresh_finish(rf, r, m);
                }
                return;
        }
        refresh_finish(rf, 0, NULL);
}

static void on_scanned(void *userdata, void *arg, int r) {
        StorageRefresh *rf = userdata;
        ScanCall *c = arg;

        rf->scan = NULL;
        if (r < 0) {
                _cleanup_free_ char *m = storage_error_message(rf->pool, r, "scanning the target", NULL);
                refresh_finish(rf, storage_os_failure(r), m);
                return;
        }
        remove_stale(rf->pool, c->temporaries);
        for (guint i = 0; i < c->entries->len; i++) {
                ScanEntry *e = &g_array_index(c->entries, ScanEntry, i);
                g_ptr_array_add(rf->todo, g_strdup(e->name));
                g_hash_table_add(rf->found, g_strdup(e->name));
                g_hash_table_insert(rf->stats, g_strdup(e->name), g_memdup2(&e->st, sizeof e->st));
                if (e->iso)
                        g_hash_table_add(rf->iso, g_strdup(e->name));
        }
        rf->sv = c->sv;
        rf->has_sv = c->has_sv;
        refresh_next(rf);
}

/* Starts the scan; refresh_next() follows when it returns. */
static int refresh_begin(StorageRefresh *rf) {
        StoragePool *p = rf->pool;
        ScanCall *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        g_hash_table_remove_all(rf->found);
        g_hash_table_remove_all(rf->stats);
        g_hash_table_remove_all(rf->iso);
        c->entries = g_array_new(false, true, sizeof(ScanEntry));
        g_array_set_clear_func(c->entries, scan_entry_clear);
        c->temporaries = g_ptr_array_new_with_free_func(g_free);
        c->fd = fcntl(p->dirfd, F_DUPFD_CLOEXEC, 3);
        if (c->fd < 0) {
                int r = -errno;
                scan_call_free(c);
                return r;
        }
        return storage_call_start(p->driver, scan_run, c, scan_call_free, on_scanned, rf, &rf->scan);
}

int storage_pool_refresh(StoragePool *p, StorageDoneFn done, void *userdata) {
        StorageRefresh *rf;
        Waiter w = { done, userdata };
        int r;

        if (storage_pool_is_network(p))
                return storage_net_refresh(p, done, userdata);
        if (!p->active || p->dirfd < 0)
                return -ENOTCONN;
        if (p->refresh) {
                p->refresh->again = true;
                if (done)
                        g_array_append_val(p->refresh->waiters, w);
                return 0;
        }
        rf = calloc(1, sizeof(*rf));
        if (!rf)
                return -ENOMEM;
        rf->pool = p;
        rf->todo = g_ptr_array_new_with_free_func(free);
        rf->running = g_ptr_array_new();
        rf->found = g_hash_table_new_full(g_str_hash, g_str_equal, free, NULL);
        rf->waiters = g_array_new(false, false, sizeof(Waiter));
        rf->stats = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        rf->iso = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        if (done)
                g_array_append_val(rf->waiters, w);
        r = refresh_begin(rf);
        if (r < 0) {
                storage_refresh_free(rf);
                return r;
        }
        p->refresh = rf;
        return 0;
}

void storage_refresh_abort(StoragePool *p) {
        StorageRefresh *rf = TAKE_PTR(p->refresh);
        _cleanup_free_ char *m = NULL;

        if (!rf)
                return;
        p->refresh = rf;   /* refresh_finish() clears it */
        m = g_strdup_printf("pool '%s' was stopped during the refresh", p->def->name);
        refresh_finish(rf, -ECANCELED, m);
}
