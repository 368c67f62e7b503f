/* storage-test-util.c — what the storage driver tests share: a loop, a driver, event records, completions, shell helpers. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include "storage-test-util.h"

sd_event *event;
StorageDriver *drv;
char *root;
unsigned failures;
GPtrArray *events_seen;

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

bool seen(const char *what) {
        for (guint i = 0; i < events_seen->len; i++)
                if (strcmp(events_seen->pdata[i], what) == 0)
                        return true;
        return false;
}



void done_reset(Done *d) {
        free(d->message);
        *d = (Done) { .progress_monotonic = true };
}

void on_done(void *userdata, int r, const char *message) {
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

StorageJobCallbacks job_cb(Done *d) {
        return (StorageJobCallbacks) { .progress = on_progress, .done = on_job_done, .userdata = d };
}

bool wait_for(bool *flag) {
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


/* ---- helpers ---- */

int sh(const char *fmt, ...) {
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

char *sh_out(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *cmd = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        char *out = NULL;
        g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL);
        g_free(cmd);
        return out ? g_strstrip(out) : g_strdup("");
}

StoragePoolDef *pool_def(const char *name, const char *type, const char *path, const char *source) {
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

StorageVolDef *vol_def(const char *fmt, ...) {
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
int build(StoragePool *p, StoragePoolBuildFlags flags, char **ret_message) {
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
StoragePool *pool_up(const char *name, const char *dir) {
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

int refresh(StoragePool *p) {
        Done d = {};
        int r = storage_pool_refresh(p, on_done, &d);
        if (r < 0)
                return r;
        wait_for(&d.called);
        free(d.message);
        return d.r;
}

/* Runs a job to its end; returns its r (message in d). */
int run_create(StoragePool *p, StorageVolDef *def, Done *d) {
        StorageJobCallbacks cb = job_cb(d);
        int r = storage_volume_create(p, def, &cb, &d->job);
        storage_vol_def_free(def);
        if (r < 0)
                return r;
        wait_for(&d->called);
        return d->r;
}

size_t count_entries(const char *dir) {
        char *out = sh_out("sh -c 'ls -A %s | wc -l'", dir);
        size_t n = strtoul(out, NULL, 10);
        g_free(out);
        return n;
}

void pool_down(StoragePool *p) {
        Done d = {};
        if (storage_pool_stop(p, on_done, &d) >= 0)
                wait_for(&d.called);
        free(d.message);
        storage_pool_free(p);
}

/* ---- upload / download through pipes ---- */



void *writer_thread(void *userdata) {
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

void *reader_thread(void *userdata) {
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


int test_setup(void) {
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
                exit(1);
        }
        events_seen = g_ptr_array_new_with_free_func(g_free);
        sd_event_default(&event);
        if (storage_driver_new(event, &ev, &drv) < 0)
                exit(1);
        return private_ns;
}

int test_teardown(void) {
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
