/* test-storage-driver.c — the storage driver on a real sd_event loop with real qemu-img, files, tmpfs and loop devices.
 *
 * The process first moves into a private mount namespace (unshare(CLONE_NEWNS),
 * everything made private), so the small tmpfs of the full-disk cases and
 * the ext4 loop mount of the fs pool are never seen by the host and vanish
 * with the test even when it crashes. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage-driver.h"

#define WAIT_USEC (120ull * 1000000ull)
#define MiB (1024ull * 1024ull)

static sd_event *event;
static StorageDriver *drv;
static char *root;
static unsigned failures;
static GPtrArray *events_seen;

#define check(cond)                                                                             \
        do {                                                                                    \
                if (!(cond)) {                                                                  \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
                        failures++;                                                             \
                        return;                                                                 \
                }                                                                               \
        } while (0)

/* ---- events and completions ---- */

static void on_pool_changed(void *u, StoragePool *p) {
        g_ptr_array_add(events_seen, g_strdup_printf("pool %s %s", storage_pool_get_def(p)->name,
                                                     storage_pool_is_active(p) ? "active" : "inactive"));
}
static void on_vol_added(void *u, StorageVolume *v) {
        g_ptr_array_add(events_seen, g_strdup_printf("added %s", storage_volume_get_def(v)->name));
}
static void on_vol_changed(void *u, StorageVolume *v) {
        g_ptr_array_add(events_seen, g_strdup_printf("changed %s", storage_volume_get_def(v)->name));
}
static void on_vol_removed(void *u, StorageVolume *v) {
        g_ptr_array_add(events_seen, g_strdup_printf("removed %s", storage_volume_get_def(v)->name));
}

static bool seen(const char *what) {
        for (guint i = 0; i < events_seen->len; i++)
                if (strcmp(events_seen->pdata[i], what) == 0)
                        return true;
        return false;
}

typedef struct Done {
        bool called;
        int r;
        char *message;
        StorageVolume *vol;
        unsigned progress_calls;
        uint64_t last_processed, last_total;
        bool progress_monotonic;
        StorageJob *job;
        bool cancel_on_progress;
        bool progressed;
} Done;

static void done_reset(Done *d) {
        free(d->message);
        *d = (Done) { .progress_monotonic = true };
}

static void on_done(void *userdata, int r, const char *message) {
        Done *d = userdata;
        d->called = true;
        d->r = r;
        d->message = message ? strdup(message) : NULL;
}

static void on_job_done(void *userdata, int r, const char *message, StorageVolume *vol) {
        Done *d = userdata;
        d->called = true;
        d->r = r;
        d->vol = vol;
        d->message = message ? strdup(message) : NULL;
        d->job = NULL;
}

static void on_progress(void *userdata, uint64_t processed, uint64_t total) {
        Done *d = userdata;
        if (processed < d->last_processed)
                d->progress_monotonic = false;
        d->progress_calls++;
        d->progressed = true;
        d->last_processed = processed;
        d->last_total = total;
        if (d->cancel_on_progress && d->job && processed > 0 && (total == 0 || processed < total))
                storage_job_cancel(d->job);
}

static StorageJobCallbacks job_cb(Done *d) {
        return (StorageJobCallbacks) { .progress = on_progress, .done = on_job_done, .userdata = d };
}

static bool wait_for(bool *flag) {
        uint64_t start;
        sd_event_now(event, CLOCK_MONOTONIC, &start);
        while (!*flag) {
                uint64_t now;
                if (sd_event_run(event, 100000) < 0)
                        return false;
                sd_event_now(event, CLOCK_MONOTONIC, &now);
                if (now - start > WAIT_USEC) {
                        fprintf(stderr, "timeout\n");
                        return false;
                }
        }
        return true;
}

/* Runs the loop for a while (lets stray events arrive). */
static void spin(unsigned msec) {
        uint64_t start, now;
        sd_event_now(event, CLOCK_MONOTONIC, &start);
        do {
                sd_event_run(event, 10000);
                sd_event_now(event, CLOCK_MONOTONIC, &now);
        } while (now - start < msec * 1000ull);
}

/* ---- helpers ---- */

static int sh(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *cmd = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        int r = system(cmd);
        if (r != 0)
                fprintf(stderr, "command failed (%d): %s\n", r, cmd);
        g_free(cmd);
        return r;
}

static char *sh_out(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *cmd = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        char *out = NULL;
        g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL);
        g_free(cmd);
        return out ? g_strstrip(out) : g_strdup("");
}

static StoragePoolDef *pool_def(const char *name, const char *type, const char *path, const char *source) {
        char *xml = g_strdup_printf("<pool type='%s'><name>%s</name>%s<target><path>%s</path></target></pool>", type, name,
                                    source ? source : "", path);
        StoragePoolDef *def = NULL;
        ConfError err = {};
        if (storage_pool_def_parse(xml, strlen(xml), &def, &err) < 0 || storage_pool_def_normalize(def, &err) < 0) {
                fprintf(stderr, "pool XML: %s\n", err.message);
                conf_error_clear(&err);
        }
        g_free(xml);
        return def;
}

static StorageVolDef *vol_def(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *xml = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        StorageVolDef *def = NULL;
        ConfError err = {};
        if (storage_vol_def_parse(xml, strlen(xml), &def, &err) < 0) {
                fprintf(stderr, "volume XML: %s\n", err.message);
                conf_error_clear(&err);
        }
        g_free(xml);
        return def;
}

/* Builds p; returns r, *ret_message (malloc'd) when failed. */
static int build(StoragePool *p, StoragePoolBuildFlags flags, char **ret_message) {
        Done d = {};
        int r = storage_pool_build(p, flags, on_done, &d);
        if (r < 0)
                return r;
        wait_for(&d.called);
        if (ret_message)
                *ret_message = d.message;
        else
                free(d.message);
        return d.r;
}

/* A started dir pool at root/NAME (built first). */
static StoragePool *pool_up(const char *name, const char *dir) {
        char *path = dir ? g_strdup(dir) : g_strdup_printf("%s/%s", root, name);
        StoragePoolDef *def = pool_def(name, "dir", path, NULL);
        StoragePool *p = NULL;
        Done d = {};
        char *error = NULL;

        g_free(path);
        if (!def || storage_pool_new(drv, def, NULL, &p) < 0 || build(p, 0, &error) < 0 ||
            storage_pool_start(p, on_done, &d) < 0 || !wait_for(&d.called) || d.r < 0) {
                fprintf(stderr, "pool %s did not come up: %s %s\n", name, error ? error : "", d.message ? d.message : "");
                p = NULL;
        }
        storage_pool_def_free(def);
        free(error);
        free(d.message);
        return p;
}

static int refresh(StoragePool *p) {
        Done d = {};
        int r = storage_pool_refresh(p, on_done, &d);
        if (r < 0)
                return r;
        wait_for(&d.called);
        free(d.message);
        return d.r;
}

/* Runs a job to its end; returns its r (message in d). */
static int run_create(StoragePool *p, StorageVolDef *def, Done *d) {
        StorageJobCallbacks cb = job_cb(d);
        int r = storage_volume_create(p, def, &cb, &d->job);
        storage_vol_def_free(def);
        if (r < 0)
                return r;
        wait_for(&d->called);
        return d->r;
}

static size_t count_entries(const char *dir) {
        char *out = sh_out("sh -c 'ls -A %s | wc -l'", dir);
        size_t n = strtoul(out, NULL, 10);
        g_free(out);
        return n;
}

static void pool_down(StoragePool *p) {
        Done d = {};
        if (storage_pool_stop(p, on_done, &d) >= 0)
                wait_for(&d.called);
        free(d.message);
        storage_pool_free(p);
}

/* ---- tests ---- */

static void test_pool_lifecycle(void) {
        char *path = g_strdup_printf("%s/life/images", root);
        StoragePoolDef *def = pool_def("life", "dir", path, NULL);
        StoragePool *p = NULL;
        char *error = NULL;
        struct stat st;
        Done d = {};

        check(def && storage_pool_new(drv, def, NULL, &p) == 0);
        storage_pool_def_free(def);
        check(!storage_pool_is_active(p));

        /* start before build: clear error through done */
        check(storage_pool_start(p, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == -ENOENT && strstr(d.message, "build the pool first"));
        check(!storage_pool_is_active(p));
        done_reset(&d);

        check(build(p, 0, &error) == 0);
        check(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0711);

        check(storage_pool_start(p, on_done, &d) == 0);
        check(storage_pool_start(p, on_done, &d) == -EBUSY);
        check(wait_for(&d.called) && d.r == 0);
        check(storage_pool_is_active(p) && storage_pool_start(p, on_done, &d) == -EALREADY);
        const StoragePoolDef *live = storage_pool_get_def(p);
        check(live->capacity > 0 && live->available > 0 && live->available <= live->capacity && live->allocation > 0);
        check(seen("pool life active"));
        check(storage_pool_delete(p, &error) == -EBUSY);
        done_reset(&d);

        sh("touch %s/file.img", path);
        check(refresh(p) == 0 && storage_pool_find_volume(p, "file.img"));

        check(storage_pool_stop(p, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == 0 && !storage_pool_is_active(p));
        check(seen("removed file.img") && seen("pool life inactive"));
        check(storage_pool_get_def(p)->capacity == 0);
        check(storage_pool_stop(p, on_done, &d) == -ENOTCONN);
        check(storage_pool_refresh(p, on_done, &d) == -ENOTCONN);
        done_reset(&d);

        check(storage_pool_delete(p, &error) == -ENOTEMPTY && strstr(error, "is not empty"));
        free(error);
        error = NULL;
        sh("rm %s/file.img", path);
        check(storage_pool_delete(p, &error) == 0 && stat(path, &st) < 0);
        storage_pool_free(p);
        g_free(path);
        done_reset(&d);
}

static void test_refresh_finds_files(void) {
        StoragePool *p = pool_up("hand", NULL);
        char *dir = g_strdup_printf("%s/hand", root);
        check(p);

        sh("truncate -s 10M %s/base.raw && printf data | dd of=%s/base.raw bs=1 seek=4096 conv=notrunc status=none", dir, dir);
        sh("qemu-img create -q -f qcow2 -b %s/base.raw -F raw %s/mid.qcow2 && "
           "qemu-img create -q -f qcow2 -b %s/mid.qcow2 -F qcow2 %s/top.qcow2 20M", dir, dir, dir, dir);
        sh("truncate -s 1M %s/cd.iso && printf CD001 | dd of=%s/cd.iso bs=1 seek=32769 conv=notrunc status=none", dir, dir);
        sh("qemu-img create -q -f vmdk %s/old.vmdk 5M", dir);
        sh("echo secret > %s/outside && ln -s %s/outside %s/link.img", root, root, dir);
        sh("mkdir %s/subdir && truncate -s 1M %s/.clone.partial-a1b2c3 && touch %s/.hidden", dir, dir, dir);

        check(refresh(p) == 0);
        StorageVolume *v = storage_pool_find_volume(p, "base.raw");
        check(v && storage_volume_get_def(v)->format == STORAGE_VOL_FORMAT_RAW);
        check(storage_volume_get_def(v)->capacity == 10 * MiB && storage_volume_get_def(v)->allocation < 10 * MiB);

        v = storage_pool_find_volume(p, "top.qcow2");
        check(v);
        const StorageVolDef *def = storage_volume_get_def(v);
        char *mid = g_strdup_printf("%s/mid.qcow2", dir), *base = g_strdup_printf("%s/base.raw", dir);
        check(def->format == STORAGE_VOL_FORMAT_QCOW2 && def->capacity == 20 * MiB);
        check(def->backing_path && strcmp(def->backing_path, mid) == 0 && def->backing_format == STORAGE_VOL_FORMAT_QCOW2);
        size_t n = 0;
        const char *const *chain = storage_volume_get_backing_chain(v, &n);
        check(n == 2 && strcmp(chain[0], mid) == 0 && strcmp(chain[1], base) == 0);
        check(strcmp(def->key, def->path) == 0);
        g_free(mid);
        g_free(base);

        v = storage_pool_find_volume(p, "mid.qcow2");
        check(v && storage_volume_get_def(v)->capacity == 10 * MiB &&
              storage_volume_get_def(v)->backing_format == STORAGE_VOL_FORMAT_RAW);
        v = storage_pool_find_volume(p, "cd.iso");
        check(v && storage_volume_get_def(v)->format == STORAGE_VOL_FORMAT_ISO);
        v = storage_pool_find_volume(p, "old.vmdk");
        check(v && storage_volume_get_def(v)->format == STORAGE_VOL_FORMAT_VMDK && storage_volume_get_def(v)->capacity == 5 * MiB);

        /* never a symlink, a directory, a hidden file or a temporary; stale temporaries removed */
        check(!storage_pool_find_volume(p, "link.img") && !storage_pool_find_volume(p, "subdir") &&
              !storage_pool_find_volume(p, ".hidden"));
        char *tmp = g_strdup_printf("%s/.clone.partial-a1b2c3", dir);
        check(access(tmp, F_OK) < 0);
        g_free(tmp);
        StorageVolume **vols = NULL;
        check(storage_pool_list_volumes(p, &vols, &n) == 0 && n == 5);
        check(strcmp(storage_volume_get_def(vols[0])->name, "base.raw") == 0);
        free(vols);

        char *xml = storage_vol_def_format(storage_volume_get_def(storage_pool_find_volume(p, "top.qcow2")));
        check(strstr(xml, "<format type='qcow2'/>") && strstr(xml, "<backingStore>") && strstr(xml, "<mode>0644</mode>"));
        g_free(xml);

        /* a file removed by hand goes away at the next refresh */
        sh("rm %s/old.vmdk", dir);
        check(refresh(p) == 0 && !storage_pool_find_volume(p, "old.vmdk") && seen("removed old.vmdk"));

        /* a volume found by path */
        char *path = g_strdup_printf("%s/base.raw", dir);
        check(storage_driver_find_volume_by_path(drv, path) == storage_pool_find_volume(p, "base.raw"));
        g_free(path);
        pool_down(p);
        g_free(dir);
}

static void test_create(void) {
        StoragePool *p = pool_up("create", NULL);
        char *dir = g_strdup_printf("%s/create", root);
        struct stat st;
        Done d = { .progress_monotonic = true };
        check(p);

        /* raw sparse */
        check(run_create(p, vol_def("<volume><name>sparse.img</name><capacity unit='M'>64</capacity>"
                                    "<allocation>0</allocation><target><permissions><mode>0640</mode></permissions></target></volume>"),
                         &d) == 0);
        check(d.vol && storage_volume_get_def(d.vol)->capacity == 64 * MiB && seen("added sparse.img"));
        char *f = g_strdup_printf("%s/sparse.img", dir);
        check(stat(f, &st) == 0 && st.st_size == (off_t) (64 * MiB) && st.st_blocks == 0 && (st.st_mode & 07777) == 0640);
        g_free(f);
        done_reset(&d);

        /* raw allocated */
        check(run_create(p, vol_def("<volume><name>full.img</name><capacity unit='M'>32</capacity>"
                                    "<allocation unit='M'>32</allocation><target><format type='raw'/></target></volume>"),
                         &d) == 0);
        f = g_strdup_printf("%s/full.img", dir);
        check(stat(f, &st) == 0 && (uint64_t) st.st_blocks * 512 >= 32 * MiB && (st.st_mode & 07777) == 0600);
        check(d.progress_calls > 0 && d.last_processed == 32 * MiB && d.last_total == 32 * MiB);
        g_free(f);
        done_reset(&d);

        /* qcow2 */
        check(run_create(p, vol_def("<volume><name>disk.qcow2</name><capacity unit='G'>2</capacity>"
                                    "<target><format type='qcow2'/><compat>1.1</compat></target></volume>"), &d) == 0);
        check(d.vol && storage_volume_get_def(d.vol)->format == STORAGE_VOL_FORMAT_QCOW2 &&
              storage_volume_get_def(d.vol)->capacity == 2048 * MiB);
        done_reset(&d);

        /* qcow2 on a backing volume (its format taken from the volume) */
        check(run_create(p, vol_def("<volume><name>overlay.qcow2</name><capacity unit='G'>4</capacity>"
                                    "<target><format type='qcow2'/></target><backingStore><path>%s/disk.qcow2</path>"
                                    "</backingStore></volume>", dir), &d) == 0);
        const StorageVolDef *def = storage_volume_get_def(d.vol);
        check(def->capacity == 4096 * MiB && def->backing_path && strstr(def->backing_path, "/create/disk.qcow2") &&
              def->backing_format == STORAGE_VOL_FORMAT_QCOW2);
        done_reset(&d);
        /* … and one that takes the backing file's size */
        check(run_create(p, vol_def("<volume><name>thin.qcow2</name><target><format type='qcow2'/></target>"
                                    "<backingStore><path>%s/sparse.img</path><format type='raw'/></backingStore></volume>", dir),
                         &d) == 0);
        check(storage_volume_get_def(d.vol)->capacity == 64 * MiB);
        done_reset(&d);

        /* refusals, each with a message and nothing left behind */
        size_t before = count_entries(dir);
        check(run_create(p, vol_def("<volume><name>disk.qcow2</name><capacity>1</capacity></volume>"), &d) == -EEXIST);
        check(d.message && strstr(d.message, "exists"));
        done_reset(&d);
        check(run_create(p, vol_def("<volume><name>x.vmdk</name><capacity>1024</capacity><target><format type='vmdk'/></target></volume>"),
                         &d) == -EOPNOTSUPP);
        done_reset(&d);
        check(run_create(p, vol_def("<volume><name>r.img</name><capacity>1024</capacity><backingStore><path>/x</path>"
                                    "<format type='raw'/></backingStore></volume>"), &d) == -EINVAL);
        check(strstr(d.message, "raw volume cannot have a backing store"));
        done_reset(&d);
        check(run_create(p, vol_def("<volume><name>nob.qcow2</name><capacity>1024</capacity><target><format type='qcow2'/></target>"
                                    "<backingStore><path>/nonexistent/base</path><format type='raw'/></backingStore></volume>"),
                         &d) < 0);
        check(d.message && strstr(d.message, "nonexistent"));
        done_reset(&d);
        check(count_entries(dir) == before && !storage_pool_find_volume(p, "nob.qcow2"));

        /* a create cancelled before it ran leaves nothing */
        StorageVolDef *vd = vol_def("<volume><name>never.img</name><capacity>4096</capacity></volume>");
        StorageJobCallbacks cb = job_cb(&d);
        check(storage_volume_create(p, vd, &cb, &d.job) == 0);
        /* a second create of the same name while the first is under way */
        Done d2 = {};
        StorageJobCallbacks cb2 = job_cb(&d2);
        check(storage_volume_create(p, vd, &cb2, NULL) == -EEXIST);
        storage_vol_def_free(vd);
        storage_job_cancel(d.job);
        check(wait_for(&d.called) && d.r == -ECANCELED);
        check(count_entries(dir) == before);
        done_reset(&d);
        pool_down(p);
        g_free(dir);
}

static void test_clone(void) {
        StoragePool *p = pool_up("clone", NULL);
        StoragePool *q = pool_up("clone2", NULL);
        char *dir = g_strdup_printf("%s/clone", root);
        Done d = { .progress_monotonic = true };
        struct stat st;
        check(p && q);

        /* a raw source with data here and there and holes between */
        sh("truncate -s 256M %s/src.img && head -c 8M /dev/urandom | dd of=%s/src.img bs=1M seek=10 conv=notrunc status=none && "
           "head -c 1M /dev/urandom | dd of=%s/src.img bs=1M seek=200 conv=notrunc status=none", dir, dir, dir);
        check(refresh(p) == 0);
        StorageVolume *src = storage_pool_find_volume(p, "src.img");
        check(src);

        StorageVolDef *vd = vol_def("<volume><name>copy.img</name><capacity>0</capacity></volume>");
        StorageJobCallbacks cb = job_cb(&d);
        check(storage_volume_clone(p, vd, src, &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(storage_volume_is_busy(src));
        char *error = NULL;
        check(storage_volume_delete(src, 0, &error) == -EBUSY);
        free(error);
        check(wait_for(&d.called) && d.r == 0);
        check(!storage_volume_is_busy(src));
        check(d.progress_calls > 0 && d.progress_monotonic && d.last_processed == 256 * MiB && d.last_total == 256 * MiB);
        check(sh("cmp %s/src.img %s/copy.img", dir, dir) == 0);
        char *f = g_strdup_printf("%s/copy.img", dir);
        check(stat(f, &st) == 0 && (uint64_t) st.st_blocks * 512 < 32 * MiB);   /* holes stayed holes */
        g_free(f);
        done_reset(&d);

        /* raw → qcow2 into another pool, larger */
        vd = vol_def("<volume><name>c.qcow2</name><capacity unit='M'>512</capacity><target><format type='qcow2'/></target></volume>");
        cb = job_cb(&d);
        check(storage_volume_clone(q, vd, src, &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(wait_for(&d.called) && d.r == 0);
        check(d.vol && storage_volume_get_def(d.vol)->format == STORAGE_VOL_FORMAT_QCOW2 &&
              storage_volume_get_def(d.vol)->capacity == 512 * MiB);
        check(d.progress_calls > 0 && d.last_processed == d.last_total);
        check(sh("qemu-img compare -q -f raw -F qcow2 %s/src.img %s/clone2/c.qcow2 >/dev/null 2>&1; test $? -ne 2", dir, root) == 0);
        done_reset(&d);

        /* qcow2 with a backing file → flattened qcow2 */
        sh("qemu-img create -q -f qcow2 -b %s/src.img -F raw %s/ov.qcow2", dir, dir);
        check(refresh(p) == 0);
        vd = vol_def("<volume><name>flat.qcow2</name><capacity>0</capacity></volume>");
        cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(p, "ov.qcow2"), &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(wait_for(&d.called) && d.r == 0);
        check(storage_volume_get_def(d.vol)->format == STORAGE_VOL_FORMAT_QCOW2 && !storage_volume_get_def(d.vol)->backing_path);
        check(sh("qemu-img compare -q %s/ov.qcow2 %s/flat.qcow2", dir, dir) == 0);
        done_reset(&d);

        /* cancelled in the middle of the copy (raw → raw, 1 GiB of data): nothing left */
        sh("head -c 1024M /dev/zero | tr '\\0' 'x' > %s/big.img", dir);
        check(refresh(p) == 0);
        size_t before = count_entries(dir);
        vd = vol_def("<volume><name>bigcopy.img</name><capacity>0</capacity></volume>");
        d.cancel_on_progress = true;
        cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(p, "big.img"), &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(wait_for(&d.called));
        check(d.r == -ECANCELED && strstr(d.message, "cancelled"));
        check(count_entries(dir) == before && !storage_pool_find_volume(p, "bigcopy.img"));
        done_reset(&d);

        /* cancelled qemu-img convert: nothing left */
        vd = vol_def("<volume><name>big.qcow2</name><capacity>0</capacity><target><format type='qcow2'/></target></volume>");
        d.cancel_on_progress = true;
        cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(p, "big.img"), &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(wait_for(&d.called) && d.r == -ECANCELED);
        check(count_entries(dir) == before);
        done_reset(&d);

        /* the daemon going away in the middle of a clone: nothing that looks complete */
        vd = vol_def("<volume><name>crash.img</name><capacity>0</capacity></volume>");
        cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(p, "big.img"), &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        spin(50);
        check(!d.called);
        char *crash = g_strdup_printf("%s/crash.img", dir);
        check(access(crash, F_OK) < 0);
        storage_pool_free(p);   /* as the daemon would at exit: the job and its temporary are gone */
        check(!d.called && access(crash, F_OK) < 0);
        check(count_entries(dir) == before);
        g_free(crash);
        pool_down(q);
        g_free(dir);
}

static void test_resize_wipe(void) {
        StoragePool *p = pool_up("rw", NULL);
        char *dir = g_strdup_printf("%s/rw", root);
        Done d = { .progress_monotonic = true };
        check(p);

        check(run_create(p, vol_def("<volume><name>r.img</name><capacity unit='M'>8</capacity></volume>"), &d) == 0);
        done_reset(&d);
        StorageVolume *v = storage_pool_find_volume(p, "r.img");
        sh("head -c 1M /dev/urandom | dd of=%s/r.img bs=1M seek=2 conv=notrunc status=none", dir);

        check(storage_volume_resize(v, 16 * MiB, 0, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == 0 && storage_volume_get_def(v)->capacity == 16 * MiB && seen("changed r.img"));
        done_reset(&d);
        check(storage_volume_resize(v, 4 * MiB, 0, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == -EINVAL && strstr(d.message, "shrink"));
        check(storage_volume_get_def(v)->capacity == 16 * MiB);
        done_reset(&d);
        check(storage_volume_resize(v, 4 * MiB, STORAGE_VOLUME_RESIZE_DELTA | STORAGE_VOLUME_RESIZE_ALLOCATE, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == 0 && storage_volume_get_def(v)->capacity == 20 * MiB &&
              storage_volume_get_def(v)->allocation >= 20 * MiB);
        done_reset(&d);
        check(storage_volume_resize(v, 12 * MiB, STORAGE_VOLUME_RESIZE_SHRINK, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == 0 && storage_volume_get_def(v)->capacity == 12 * MiB);
        done_reset(&d);

        /* wipe: same size, all zeros */
        StorageJobCallbacks cb = job_cb(&d);
        check(storage_volume_wipe(v, &cb, &d.job) == 0);
        check(wait_for(&d.called) && d.r == 0 && d.last_processed == 12 * MiB);
        check(sh("cmp -s %s/r.img /dev/zero -n %llu", dir, 12 * MiB) == 0);
        check(storage_volume_get_def(v)->capacity == 12 * MiB);
        done_reset(&d);

        /* qcow2: grow, refuse shrink, wipe keeps size and backing store */
        check(run_create(p, vol_def("<volume><name>q.qcow2</name><capacity unit='M'>64</capacity><target><format type='qcow2'/>"
                                    "</target><backingStore><path>%s/r.img</path><format type='raw'/></backingStore></volume>", dir),
                         &d) == 0);
        done_reset(&d);
        v = storage_pool_find_volume(p, "q.qcow2");
        check(storage_volume_resize(v, 128 * MiB, 0, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == 0 && storage_volume_get_def(v)->capacity == 128 * MiB);
        done_reset(&d);
        sh("qemu-io -f qcow2 -c 'write -P 0x55 0 1M' %s/q.qcow2 >/dev/null", dir);
        cb = job_cb(&d);
        check(storage_volume_wipe(v, &cb, &d.job) == 0);
        check(wait_for(&d.called) && d.r == 0);
        v = storage_pool_find_volume(p, "q.qcow2");
        check(storage_volume_get_def(v)->capacity == 128 * MiB && storage_volume_get_def(v)->backing_path);
        char *out = sh_out("qemu-io -f qcow2 -c 'read -P 0x55 0 1M' %s/q.qcow2", dir);
        check(strstr(out, "Pattern verification failed") != NULL);
        g_free(out);
        done_reset(&d);

        /* vmdk cannot be resized */
        sh("qemu-img create -q -f vmdk %s/v.vmdk 1M", dir);
        check(refresh(p) == 0);
        check(storage_volume_resize(storage_pool_find_volume(p, "v.vmdk"), 2 * MiB, 0, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == -EOPNOTSUPP);
        done_reset(&d);

        /* delete */
        char *error = NULL;
        check(storage_volume_delete(storage_pool_find_volume(p, "v.vmdk"), 0, &error) == 0);
        check(!storage_pool_find_volume(p, "v.vmdk") && seen("removed v.vmdk"));
        pool_down(p);
        g_free(dir);
}

/* ---- upload / download through pipes ---- */

typedef struct Pump {
        int fd;
        size_t bytes;
        unsigned stall_after;    /* MiB written before stalling (0: never) */
        volatile bool stop;
        GChecksum *sum;
} Pump;

static void *writer_thread(void *userdata) {
        Pump *pm = userdata;
        char buf[65536];
        size_t done = 0;
        unsigned seed = 1;
        sigset_t mask;

        /* the driver closing its end is an EPIPE for this writer, not a signal */
        sigemptyset(&mask);
        sigaddset(&mask, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        while (done < pm->bytes && !pm->stop) {
                for (size_t i = 0; i < sizeof buf; i++)
                        buf[i] = (char) (rand_r(&seed) & 0xff);
                if (done >= 4 * MiB && done < 6 * MiB)
                        memset(buf, 0, sizeof buf);   /* a zero stretch (kept sparse) */
                size_t n = MIN(sizeof buf, pm->bytes - done);
                if (write(pm->fd, buf, n) != (ssize_t) n)
                        break;
                g_checksum_update(pm->sum, (const guchar *) buf, n);
                done += n;
                if (pm->stall_after && done >= pm->stall_after * MiB)
                        while (!pm->stop)
                                usleep(10000);
        }
        close(pm->fd);
        return NULL;
}

static void *reader_thread(void *userdata) {
        Pump *pm = userdata;
        char buf[65536];
        ssize_t n;
        while ((n = read(pm->fd, buf, sizeof buf)) > 0) {
                g_checksum_update(pm->sum, (const guchar *) buf, (gssize) n);
                pm->bytes += (size_t) n;
        }
        close(pm->fd);
        return NULL;
}

static void test_upload_download(void) {
        StoragePool *p = pool_up("ud", NULL);
        char *dir = g_strdup_printf("%s/ud", root);
        Done d = { .progress_monotonic = true };
        int pfd[2];
        pthread_t t;
        check(p);

        check(run_create(p, vol_def("<volume><name>u.img</name><capacity unit='M'>1</capacity></volume>"), &d) == 0);
        done_reset(&d);
        StorageVolume *v = storage_pool_find_volume(p, "u.img");

        /* upload 10 MiB through a pipe */
        Pump up = { .bytes = 10 * MiB, .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        check(pipe2(pfd, O_CLOEXEC) == 0);
        up.fd = pfd[1];
        pthread_create(&t, NULL, writer_thread, &up);
        StorageJobCallbacks cb = job_cb(&d);
        check(storage_volume_upload(v, pfd[0], 0, 0, &cb, &d.job) == 0);
        close(pfd[0]);
        check(wait_for(&d.called) && d.r == 0);
        pthread_join(t, NULL);
        check(d.vol == v && storage_volume_get_def(v)->capacity == 10 * MiB && d.last_processed == 10 * MiB);
        char *sum = sh_out("sh -c 'sha256sum %s/u.img | cut -d\" \" -f1'", dir);
        check(strcmp(sum, g_checksum_get_string(up.sum)) == 0);
        g_free(sum);
        check(storage_volume_get_def(v)->allocation < 10 * MiB);   /* the zero stretch stayed a hole */
        done_reset(&d);

        /* download it back through a pipe */
        Pump down = { .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        check(pipe2(pfd, O_CLOEXEC) == 0);
        down.fd = pfd[0];
        pthread_create(&t, NULL, reader_thread, &down);
        cb = job_cb(&d);
        check(storage_volume_download(v, pfd[1], 0, 0, &cb, &d.job) == 0);
        close(pfd[1]);
        check(wait_for(&d.called) && d.r == 0);
        pthread_join(t, NULL);
        check(down.bytes == 10 * MiB && strcmp(g_checksum_get_string(down.sum), g_checksum_get_string(up.sum)) == 0);
        check(d.last_total == 10 * MiB && d.last_processed == 10 * MiB);
        done_reset(&d);

        /* a range */
        Pump part = { .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        check(pipe2(pfd, O_CLOEXEC) == 0);
        part.fd = pfd[0];
        pthread_create(&t, NULL, reader_thread, &part);
        cb = job_cb(&d);
        check(storage_volume_download(v, pfd[1], MiB, 3 * MiB, &cb, &d.job) == 0);
        close(pfd[1]);
        check(wait_for(&d.called) && d.r == 0);
        pthread_join(t, NULL);
        check(part.bytes == 3 * MiB);
        done_reset(&d);

        /* download to a reader that goes away: an error, not a SIGPIPE */
        check(pipe2(pfd, O_CLOEXEC) == 0);
        close(pfd[0]);
        cb = job_cb(&d);
        check(storage_volume_download(v, pfd[1], 0, 0, &cb, &d.job) == 0);
        close(pfd[1]);
        check(wait_for(&d.called) && d.r == -EPIPE);
        done_reset(&d);

        /* an upload cancelled while the writer stalls: the old content stays, nothing else left */
        size_t before = count_entries(dir);
        Pump slow = { .bytes = 50 * MiB, .stall_after = 2, .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        check(pipe2(pfd, O_CLOEXEC) == 0);
        slow.fd = pfd[1];
        pthread_create(&t, NULL, writer_thread, &slow);
        d.cancel_on_progress = true;
        cb = job_cb(&d);
        check(storage_volume_upload(v, pfd[0], 0, 0, &cb, &d.job) == 0);
        close(pfd[0]);
        check(storage_volume_wipe(v, &cb, NULL) == -EBUSY);
        check(wait_for(&d.called) && d.r == -ECANCELED);
        slow.stop = true;
        pthread_join(t, NULL);
        sum = sh_out("sh -c 'sha256sum %s/u.img | cut -d\" \" -f1'", dir);
        check(strcmp(sum, g_checksum_get_string(up.sum)) == 0);
        check(count_entries(dir) == before);
        g_free(sum);
        done_reset(&d);

        /* a refresh while an upload runs leaves the upload's temporary alone */
        Pump mid = { .bytes = 50 * MiB, .stall_after = 2, .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        check(pipe2(pfd, O_CLOEXEC) == 0);
        mid.fd = pfd[1];
        pthread_create(&t, NULL, writer_thread, &mid);
        cb = job_cb(&d);
        check(storage_volume_upload(v, pfd[0], 0, 0, &cb, &d.job) == 0);
        close(pfd[0]);
        check(wait_for(&d.progressed));
        check(refresh(p) == 0 && count_entries(dir) == before + 1);
        mid.stop = true;   /* the writer closes: end of the upload */
        check(wait_for(&d.called) && d.r == 0);
        pthread_join(t, NULL);
        check(storage_volume_get_def(v)->capacity == 2 * MiB && count_entries(dir) == before);
        g_checksum_free(mid.sum);
        done_reset(&d);

        /* an upload shorter than announced fails and changes nothing */
        Pump shortp = { .bytes = MiB, .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        check(pipe2(pfd, O_CLOEXEC) == 0);
        shortp.fd = pfd[1];
        pthread_create(&t, NULL, writer_thread, &shortp);
        cb = job_cb(&d);
        check(storage_volume_upload(v, pfd[0], 0, 2 * MiB, &cb, &d.job) == 0);
        close(pfd[0]);
        check(wait_for(&d.called) && d.r < 0);
        pthread_join(t, NULL);
        check(storage_volume_get_def(v)->capacity == 2 * MiB && count_entries(dir) == before);
        done_reset(&d);
        check(storage_volume_upload(v, 0, 5, 0, &cb, NULL) == -EOPNOTSUPP);

        g_checksum_free(up.sum);
        g_checksum_free(down.sum);
        g_checksum_free(part.sum);
        g_checksum_free(slow.sum);
        g_checksum_free(shortp.sum);
        pool_down(p);
        g_free(dir);
}

/* ---- attacks ---- */

static void test_escape_attempts(void) {
        StoragePool *p = pool_up("safe", NULL);
        char *dir = g_strdup_printf("%s/safe", root);
        Done d = { .progress_monotonic = true };
        check(p);

        sh("echo precious > %s/victim", root);
        StorageVolDef *vd = storage_vol_def_new();
        StorageJobCallbacks cb = job_cb(&d);
        vd->has_capacity = true;
        vd->capacity = 1024;
        const char *bad[] = { "../victim", "..", "a/b", "/etc/passwd", ".", ".x.partial-123456", "" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                free(vd->name);
                vd->name = strdup(bad[i]);
                check(storage_volume_create(p, vd, &cb, NULL) == -EINVAL);
                check(storage_volume_clone(p, vd, NULL, &cb, NULL) == -EINVAL);
        }
        storage_vol_def_free(vd);

        /* a symlink placed in the pool is not a volume and cannot be created over */
        sh("ln -s %s/victim %s/evil.img", root, dir);
        check(refresh(p) == 0 && !storage_pool_find_volume(p, "evil.img"));
        check(run_create(p, vol_def("<volume><name>evil.img</name><capacity unit='M'>1</capacity></volume>"), &d) == -EEXIST);
        done_reset(&d);

        /* a volume swapped for a symlink after the scan: never followed */
        check(run_create(p, vol_def("<volume><name>swap.img</name><capacity unit='K'>4</capacity></volume>"), &d) == 0);
        done_reset(&d);
        StorageVolume *v = storage_pool_find_volume(p, "swap.img");
        sh("rm %s/swap.img && ln -s %s/victim %s/swap.img", dir, root, dir);
        cb = job_cb(&d);
        check(storage_volume_wipe(v, &cb, &d.job) == 0);
        check(wait_for(&d.called) && d.r == -ELOOP);
        done_reset(&d);
        int pfd[2];
        check(pipe2(pfd, O_CLOEXEC) == 0);
        cb = job_cb(&d);
        check(storage_volume_download(v, pfd[1], 0, 0, &cb, &d.job) == 0);
        close(pfd[1]);
        check(wait_for(&d.called) && d.r == -ELOOP);
        close(pfd[0]);
        done_reset(&d);
        check(storage_volume_resize(v, 1 * MiB, 0, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == -ELOOP);
        done_reset(&d);
        char *content = sh_out("cat %s/victim", root);
        check(strcmp(content, "precious") == 0);
        g_free(content);
        check(refresh(p) == 0 && !storage_pool_find_volume(p, "swap.img"));

        /* a backing file path given by the user is used as written, never a volume name */
        pool_down(p);
        g_free(dir);
}

/* ---- a full disk: a 16 MiB tmpfs of the test's own ---- */

static void test_full_disk(void) {
        char *dir = g_strdup_printf("%s/small", root);
        Done d = { .progress_monotonic = true };

        g_mkdir_with_parents(dir, 0755);
        check(mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m") == 0);
        StoragePool *p = pool_up("small", dir);
        StoragePool *big = pool_up("bigger", NULL);
        check(p && big);
        check(storage_pool_get_def(p)->capacity == 16 * MiB);

        /* allocated raw larger than the disk */
        check(run_create(p, vol_def("<volume><name>fat.img</name><capacity unit='M'>64</capacity>"
                                    "<allocation unit='M'>64</allocation></volume>"), &d) == -ENOSPC);
        check(strstr(d.message, "no space left on pool 'small' while creating volume 'fat.img'"));
        check(count_entries(dir) == 0 && !storage_pool_find_volume(p, "fat.img"));
        done_reset(&d);

        /* a clone that does not fit */
        char *bigdir = g_strdup_printf("%s/bigger", root);
        sh("head -c 24M /dev/urandom > %s/data.img", bigdir);
        check(refresh(big) == 0);
        StorageVolDef *vd = vol_def("<volume><name>copy.img</name><capacity>0</capacity></volume>");
        StorageJobCallbacks cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(big, "data.img"), &cb, &d.job) == 0);
        check(wait_for(&d.called) && d.r == -ENOSPC);
        check(strstr(d.message, "no space left on pool 'small' while cloning volume 'copy.img'"));
        check(count_entries(dir) == 0);
        done_reset(&d);
        /* the same through qemu-img convert */
        vd->format = STORAGE_VOL_FORMAT_QCOW2;
        vd->has_format = true;
        cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(big, "data.img"), &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(wait_for(&d.called) && d.r == -ENOSPC && strstr(d.message, "no space left on pool 'small'"));
        check(count_entries(dir) == 0);
        done_reset(&d);

        /* an upload that does not fit keeps the old content */
        check(run_create(p, vol_def("<volume><name>keep.img</name><capacity unit='M'>1</capacity></volume>"), &d) == 0);
        done_reset(&d);
        Pump up = { .bytes = 40 * MiB, .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        int pfd[2];
        pthread_t t;
        check(pipe2(pfd, O_CLOEXEC) == 0);
        up.fd = pfd[1];
        pthread_create(&t, NULL, writer_thread, &up);
        cb = job_cb(&d);
        check(storage_volume_upload(storage_pool_find_volume(p, "keep.img"), pfd[0], 0, 0, &cb, &d.job) == 0);
        close(pfd[0]);
        check(wait_for(&d.called) && d.r == -ENOSPC && strstr(d.message, "while uploading to volume 'keep.img'"));
        pthread_join(t, NULL);
        g_checksum_free(up.sum);
        check(count_entries(dir) == 1 && storage_volume_get_def(storage_pool_find_volume(p, "keep.img"))->capacity == MiB);
        done_reset(&d);

        pool_down(p);
        pool_down(big);
        check(umount(dir) == 0);
        g_free(dir);
        g_free(bigdir);
}

/* ---- an fs pool on a loop device ---- */

static void test_fs_pool(void) {
        char *img = g_strdup_printf("%s/ext4.img", root), *target = g_strdup_printf("%s/fsmnt", root);
        char *loop = NULL, *source = NULL, *error = NULL;
        Done d = {};
        StoragePool *p = NULL;

        if (sh("truncate -s 64M %s", img) != 0)
                goto out;
        loop = sh_out("losetup --find --show %s", img);
        if (strncmp(loop, "/dev/loop", 9) != 0) {
                fprintf(stderr, "no loop device: %s\n", loop);
                failures++;
                goto out;
        }
        source = g_strdup_printf("<source><device path='%s'/><format type='ext4'/></source>", loop);
        StoragePoolDef *def = pool_def("fspool", "fs", target, source);
        if (!def || storage_pool_new(drv, def, NULL, &p) < 0) {
                failures++;
                storage_pool_def_free(def);
                goto out;
        }
        storage_pool_def_free(def);
        /* the filesystem made by the build (the device is blank), then not again over it */
        if (build(p, STORAGE_POOL_BUILD_NO_OVERWRITE, &error) < 0) {
                fprintf(stderr, "fs pool build: %s\n", error ? error : "");
                failures++;
                goto out;
        }
        if (build(p, STORAGE_POOL_BUILD_NO_OVERWRITE, &error) != -EEXIST || !strstr(error, "already holds a ext4 filesystem")) {
                fprintf(stderr, "fs pool build over a filesystem: %s\n", error ? error : "");
                failures++;
        }
        free(error);
        error = NULL;
        char *type = sh_out("blkid -p -o value -s TYPE %s", loop);
        if (strcmp(type, "ext4") != 0) {
                fprintf(stderr, "no ext4 on %s: '%s'\n", loop, type);
                failures++;
        }
        g_free(type);
        if (build(p, STORAGE_POOL_BUILD_OVERWRITE, &error) != 0 || storage_pool_start(p, on_done, &d) < 0 ||
            !wait_for(&d.called) || d.r < 0) {
                fprintf(stderr, "fs pool start: %s %s\n", error ? error : "", d.message ? d.message : "");
                failures++;
                goto out;
        }
        done_reset(&d);
        if (storage_pool_build(p, 0, on_done, &d) != -EALREADY)
                failures++;
        char *mounted = sh_out("findmnt -n -o SOURCE %s", target);
        if (strcmp(mounted, loop) != 0) {
                fprintf(stderr, "not mounted: '%s'\n", mounted);
                failures++;
        }
        g_free(mounted);
        /* ext4's lost+found is a directory, not a volume */
        if (storage_pool_get_def(p)->capacity < 40 * MiB || storage_pool_find_volume(p, "lost+found")) {
                failures++;
                goto out;
        }
        if (run_create(p, vol_def("<volume><name>on-ext4.qcow2</name><capacity unit='G'>1</capacity><target><format type='qcow2'/>"
                                  "</target></volume>"), &d) != 0) {
                failures++;
                goto out;
        }
        done_reset(&d);
        /* a busy mount is not unmounted: an error, the pool stays active and usable */
        char *held = g_strdup_printf("%s/on-ext4.qcow2", target);
        int hold = open(held, O_RDONLY | O_CLOEXEC);
        g_free(held);
        if (hold < 0 || storage_pool_stop(p, on_done, &d) < 0 || !wait_for(&d.called) || d.r >= 0 ||
            !strstr(d.message, "cannot unmount") || !storage_pool_is_active(p) || refresh(p) != 0) {
                fprintf(stderr, "busy fs pool stop: r=%d %s\n", d.r, d.message ? d.message : "");
                failures++;
        }
        if (hold >= 0)
                close(hold);
        done_reset(&d);
        if (storage_pool_stop(p, on_done, &d) < 0 || !wait_for(&d.called) || d.r < 0) {
                fprintf(stderr, "fs pool stop: %s\n", d.message ? d.message : "");
                failures++;
                goto out;
        }
        done_reset(&d);
        mounted = sh_out("findmnt -n -o SOURCE %s", target);
        if (*mounted) {
                fprintf(stderr, "still mounted after stop: '%s'\n", mounted);
                failures++;
        }
        g_free(mounted);
        /* started again (also how a restarted daemon finds it): the volume is back */
        if (storage_pool_start(p, on_done, &d) < 0 || !wait_for(&d.called) || d.r < 0 ||
            !storage_pool_find_volume(p, "on-ext4.qcow2")) {
                fprintf(stderr, "fs pool restart: %s\n", d.message ? d.message : "");
                failures++;
        }
        done_reset(&d);
        /* a pool object made anew while it is mounted adopts the mount */
        storage_pool_free(p);
        def = pool_def("fspool", "fs", target, source);
        storage_pool_new(drv, def, NULL, &p);
        storage_pool_def_free(def);
        if (storage_pool_start(p, on_done, &d) < 0 || !wait_for(&d.called) || d.r < 0 ||
            !storage_pool_find_volume(p, "on-ext4.qcow2")) {
                fprintf(stderr, "fs pool adopt: %s\n", d.message ? d.message : "");
                failures++;
        }
        done_reset(&d);
out:
        if (p)
                pool_down(p);
        (void) umount(target);
        if (loop && strncmp(loop, "/dev/loop", 9) == 0)
                sh("losetup -d %s", loop);   /* exactly the device this test attached */
        free(error);
        g_free(loop);
        g_free(source);
        g_free(img);
        g_free(target);
}

/* netfs: without an NFS server (none may be reached from a test) a start
 * fails with mount's words and leaves the pool inactive. */
static void test_netfs_refused(void) {
        char *target = g_strdup_printf("%s/nfsmnt", root), *error = NULL;
        StoragePoolDef *def = pool_def("nfs", "netfs", target,
                                       "<source><host name='127.0.0.1'/><dir path='/export/none'/></source>");
        StoragePool *p = NULL;
        Done d = {};

        check(def && storage_pool_new(drv, def, NULL, &p) == 0);
        storage_pool_def_free(def);
        check(build(p, 0, &error) == 0);
        check(storage_pool_start(p, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r < 0 && strstr(d.message, "cannot mount the export on"));
        check(!storage_pool_is_active(p));
        check(storage_pool_delete(p, &error) == 0);
        storage_pool_free(p);
        done_reset(&d);
        g_free(target);
}

int main(void) {
        const char *tmp = getenv("TMPDIR") ?: "/tmp";
        StorageDriverEvents ev = {
                .pool_changed = on_pool_changed,
                .volume_added = on_vol_added,
                .volume_changed = on_vol_changed,
                .volume_removed = on_vol_removed,
        };
        bool private_ns;

        signal(SIGPIPE, SIG_DFL);   /* a stray SIGPIPE must kill the test: the driver must never cause one */
        private_ns = unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;

        root = g_strdup_printf("%s/storage-test-XXXXXX", tmp);
        if (!g_mkdtemp(root)) {
                perror("mkdtemp");
                return 1;
        }
        events_seen = g_ptr_array_new_with_free_func(g_free);
        sd_event_default(&event);
        if (storage_driver_new(event, &ev, &drv) < 0)
                return 1;

        test_pool_lifecycle();
        test_refresh_finds_files();
        test_create();
        test_clone();
        test_resize_wipe();
        test_upload_download();
        test_escape_attempts();
        if (private_ns) {
                test_full_disk();
                test_fs_pool();
                if (access("/sbin/mount.nfs", X_OK) < 0)
                        test_netfs_refused();
        } else
                fprintf(stderr, "no private mount namespace (not root?): skipping the full-disk and fs pool tests\n");

        storage_driver_free(drv);
        sd_event_unref(event);
        sh("rm -rf %s", root);
        g_ptr_array_free(events_seen, true);
        if (failures) {
                fprintf(stderr, "%u failure(s)\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
