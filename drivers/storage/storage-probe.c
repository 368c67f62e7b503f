/* storage-probe.c — what a file in a pool is (qemu-img info --backing-chain), and the pool scan built on it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "qemu/qmp-json.h"
#include "storage-internal.h"

#define PROBE_PARALLEL 4

struct StorageProbe {
        StoragePool *pool;
        char *name;
        struct stat st;
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
static bool is_iso(StoragePool *p, const char *name) {
        _cleanup_close_ int fd = openat(p->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        char magic[5];

        return fd >= 0 && pread(fd, magic, sizeof magic, 32769) == (ssize_t) sizeof magic &&
               memcmp(magic, "CD001", 5) == 0;
}

static int json_u64(const JsonValue *o, const char *key, uint64_t *ret) {
        int64_t v;
        if (json_integer(json_object_get(o, key), &v) < 0 || v < 0)
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

        r = json_parse(out, strlen(out), &v, NULL);
        if (r < 0)
                return r;
        if (v->type != JSON_ARRAY || v->array.n == 0 || v->array.items[0]->type != JSON_OBJECT)
                return -EINVAL;
        top = v->array.items[0];

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
        fmt = json_object_get_string(top, "format");
        f = storage_vol_format_from_qemu(fmt);
        def->format = f >= 0 ? (StorageVolFormat) f : STORAGE_VOL_FORMAT_RAW;
        if (def->format == STORAGE_VOL_FORMAT_RAW && is_iso(pr->pool, pr->name))
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

        const char *backing = json_object_get_string(top, "full-backing-filename") ?: json_object_get_string(top, "backing-filename");
        if (backing) {
                def->backing_path = strdup(backing);
                f = storage_vol_format_from_qemu(json_object_get_string(top, "backing-filename-format"));
                if (f < 0 && v->array.n > 1)
                        f = storage_vol_format_from_qemu(json_object_get_string(v->array.items[1], "format"));
                if (f >= 0) {
                        def->backing_format = (StorageVolFormat) f;
                        def->has_backing_format = true;
                }
        }

        char **chain = calloc(v->array.n, sizeof(char *));
        size_t n = 0;
        if (!chain) {
                storage_vol_def_free(def);
                return -ENOMEM;
        }
        for (size_t i = 1; i < v->array.n; i++) {
                const char *fn = json_object_get_string(v->array.items[i], "filename");
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

int storage_probe_start(StoragePool *p, const char *name, StorageProbeDoneFn done, void *userdata, StorageProbe **ret) {
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
        pr->name = strdup(name);
        if (!pr->name || fstatat(p->dirfd, name, &pr->st, AT_SYMLINK_NOFOLLOW) < 0) {
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
        if (r < 0) {
                storage_probe_free(pr);
                return r;
        }
        *ret = pr;
        return 0;
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
        bool again;                   /* asked again while running: rescan */
        sd_event_source *defer;
        size_t failed;
};

void storage_refresh_free(StorageRefresh *rf) {
        if (!rf)
                return;
        sd_event_source_disable_unref(rf->defer);
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

static int scan_dir(StorageRefresh *rf) {
        StoragePool *p = rf->pool;
        int fd = openat(p->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
                struct stat st;

                if (streq(n, ".") || streq(n, ".."))
                        continue;
                if (storage_name_is_temporary(n)) {
                        /* A temporary no running job owns: left by a crashed daemon. */
                        if (!storage_pool_temporary_in_use(p, n)) {
                                log_info("Removing stale temporary '%s' from pool '%s'.", n, p->def->name);
                                (void) unlinkat(p->dirfd, n, 0);
                        }
                        continue;
                }
                if (n[0] == '.' || storage_vol_name_validate(n, NULL) < 0)
                        continue;
                if (fstatat(p->dirfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISLNK(st.st_mode)) {
                        log_debug("Pool '%s': not following symlink '%s'.", p->def->name, n);
                        continue;
                }
                if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                        continue;
                g_ptr_array_add(rf->todo, g_strdup(n));
                g_hash_table_add(rf->found, g_strdup(n));
        }
        int r = errno ? -errno : 0;
        closedir(dir);
        return r;
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
                storage_pool_update_stats(p);
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
                int r = storage_probe_start(rf->pool, name, on_refresh_probe, rf, &pr);
                if (r < 0) {
                        /* Gone since the scan, or not a file any more. */
                        g_hash_table_remove(rf->found, name);
                        continue;
                }
                g_ptr_array_add(rf->running, pr);
        }
        if (rf->todo->len > 0 || rf->running->len > 0)
                return;
        if (rf->again) {
                rf->again = false;
                int r = refresh_begin(rf);
                if (r < 0) {
                        _cleanup_free_ char *m = storage_error_message(rf->pool, r, "scanning", NULL);
                        refresh_finish(rf, r, m);
                        return;
                }
                refresh_next(rf);
                return;
        }
        refresh_finish(rf, 0, NULL);
}

static int refresh_begin(StorageRefresh *rf) {
        g_hash_table_remove_all(rf->found);
        int r = scan_dir(rf);
        if (r < 0)
                return r;
        /* Runs from the loop even when nothing is to be probed. */
        return 0;
}

static int on_refresh_defer(sd_event_source *s, void *userdata) {
        StorageRefresh *rf = userdata;
        (void) s;
        rf->defer = sd_event_source_disable_unref(rf->defer);
        refresh_next(rf);
        return 0;
}

int storage_pool_refresh(StoragePool *p, StorageDoneFn done, void *userdata) {
        StorageRefresh *rf;
        Waiter w = { done, userdata };
        int r;

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
        if (done)
                g_array_append_val(rf->waiters, w);
        r = refresh_begin(rf);
        if (r >= 0)
                r = sd_event_add_defer(p->driver->event, &rf->defer, on_refresh_defer, rf);
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
