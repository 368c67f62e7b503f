/* storage-volume.c — volumes: the list of a pool, create, clone, delete, resize, wipe, upload, download. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "storage-job.h"

/* ---- shared checks ---- */

/* Starts the preparation of f for j in a thread (job_files()): done runs
 * when f is ready; a failure to start or to prepare it fails the job. */
static void files_start(StorageJob *j, JobFiles *f, void (*done)(StorageJob *j, JobFiles *f)) {
        int r = f ? job_files(j, f, done) : -ENOMEM;
        if (r < 0)
                job_fail(j, r, NULL);
}

/* The checks of a new volume of format fmt that need no file: false when the job failed. */
static bool new_volume_ok(StorageJob *j, StorageVolFormat fmt) {
        if (g_hash_table_contains(j->pool->volumes, j->name)) {
                job_fail(j, -EEXIST, "a volume or file of that name exists");
                return false;
        }
        if (!storage_vol_format_writable(fmt)) {
                job_fail(j, -EOPNOTSUPP, "only raw and qcow2 volumes can be created");
                return false;
        }
        return true;
}

/* A JobFiles for a new volume: name must be free, the temporary made with the definition's permissions. */
static JobFiles *files_for_new(StorageJob *j, const StorageVolDef *def) {
        JobFiles *f = job_files_new();

        if (!f)
                return NULL;
        f->absent = strdup(j->name);
        f->temp_for = strdup(j->name);
        f->mode = def->perms.mode >= 0 ? (mode_t) def->perms.mode : 0600;
        f->uid = def->perms.uid;
        f->gid = def->perms.gid;
        return f;
}

static void set_what(StorageJob *j, const char *verb, const char *name) {
        g_free(j->what);
        j->what = g_strdup_printf("%s volume '%s'", verb, name);
}

static void on_child_step(void *userdata, int status, const char *out, const char *err);

static int spawn_qemu_img(StorageJob *j, char **argv, bool progress) {
        return storage_child_spawn(j->driver, argv, j->pool->dirfd, -1, progress ? job_parse_progress : NULL, on_child_step,
                                   j, &j->child);
}

static void after_step(StorageJob *j);

static void on_child_step(void *userdata, int status, const char *out, const char *err) {
        StorageJob *j = userdata;
        StorageChild *c = TAKE_PTR(j->child);
        (void) out;

        if (status != 0) {
                _cleanup_free_ char *e = strdup(err);
                storage_child_free(c);
                job_fail(j, j->cancelled ? -ECANCELED : job_errno_from_output(e), e && *e ? e : "qemu-img failed");
                return;
        }
        storage_child_free(c);
        after_step(j);
}

static void on_work_step(void *userdata, int r, const char *side) {
        StorageJob *j = userdata;

        j->processed = atomic_load(&j->work->processed);
        if (r < 0) {
                _cleanup_free_ char *d = side ? g_strdup_printf("%s: %s", side, strerror(-r)) : NULL;
                j->work = storage_work_free(j->work);
                job_fail(j, r, d);
                return;
        }
        j->work = storage_work_free(j->work);
        after_step(j);
}

static int start_work(StorageJob *j, StorageWork *w) {
        j->work = w;
        return storage_work_start(j->driver, w, on_work_step, j);
}

/* A work of `kind` for the job's next step: `length` bytes into *dst_fd
 * (from *src_fd when given), the fds taken once the work exists. NULL when
 * out of memory: the job failed. */
static StorageWork *job_work_new(StorageJob *j, StorageWorkKind kind, int *src_fd, int *dst_fd, uint64_t length) {
        StorageWork *w = storage_work_new(kind);

        if (!w) {
                job_fail(j, -ENOMEM, NULL);
                return NULL;
        }
        if (src_fd)
                w->src_fd = TAKE_FD(*src_fd);
        w->dst_fd = TAKE_FD(*dst_fd);
        w->length = length;
        return w;
}

/* Runs w in a worker thread; a step that cannot start fails the job. */
static void job_work_start(StorageJob *j, StorageWork *w) {
        int r = start_work(j, w);
        if (r < 0)
                job_fail(j, r, NULL);
}

/* The job's next step on a volume's file: job_work_new(), fsync'd at the
 * end; the job's progress counts to length. */
static void start_file_work(StorageJob *j, StorageWorkKind kind, int *src_fd, int *dst_fd, uint64_t length) {
        StorageWork *w = job_work_new(j, kind, src_fd, dst_fd, length);

        if (!w)
                return;
        w->fsync = true;
        j->total = length;
        job_work_start(j, w);
}

static char *size_arg(uint64_t v) {
        return g_strdup_printf("%llu", (unsigned long long) v);
}

/* ---- create ---- */

static StorageVolFormat def_format(const StorageVolDef *def, StorageVolFormat fallback) {
        return def->has_format ? def->format : fallback;
}

static void create_with_file(StorageJob *j, JobFiles *f) {
        const StorageVolDef *def = j->def;
        StorageVolFormat fmt = def_format(def, STORAGE_VOL_FORMAT_RAW);
        int r;

        j->fd = TAKE_FD(f->tmp_fd);
        const char *backing_fmt = NULL;
        if (def->backing_path) {
                StorageVolume *b = storage_driver_find_volume_by_path(j->driver, def->backing_path);
                backing_fmt = def->has_backing_format ? storage_vol_format_to_qemu(def->backing_format)
                              : b ? storage_vol_format_to_qemu(b->def->format) : NULL;
                if (!backing_fmt) {
                        job_fail(j, -EINVAL, "the backing store is not a known volume: give its <format>");
                        return;
                }
        }

        if (fmt == STORAGE_VOL_FORMAT_RAW) {
                j->step = 1;   /* after_step → commit */
                if (def->has_allocation && def->allocation > 0) {
                        start_file_work(j, STORAGE_WORK_ALLOCATE, NULL, &j->fd, MIN(def->allocation, def->capacity));
                        return;
                }
                j->fd = (close(j->fd), -1);
                job_commit(j, false);
                return;
        }

        /* qcow2 */
        j->fd = (close(j->fd), -1);
        _cleanup_free_ char *rel = g_strdup_printf("./%s", j->tmp), *size = def->has_capacity ? size_arg(def->capacity) : NULL;
        bool prealloc = j->flags & STORAGE_VOLUME_CREATE_PREALLOC_METADATA;
        _cleanup_free_ char *opts = def->compat || prealloc ?
                g_strdup_printf("%s%s%s", def->compat ? "compat=" : "", strempty(def->compat),
                                prealloc ? (def->compat ? ",preallocation=metadata" : "preallocation=metadata") : "") : NULL;
        char *argv[16];
        size_t n = 0;
        argv[n++] = j->driver->qemu_img;
        argv[n++] = (char *) "create";
        argv[n++] = (char *) "-q";
        argv[n++] = (char *) "-f";
        argv[n++] = (char *) "qcow2";
        if (opts) {
                argv[n++] = (char *) "-o";
                argv[n++] = opts;
        }
        if (def->backing_path) {
                argv[n++] = (char *) "-b";
                argv[n++] = def->backing_path;
                argv[n++] = (char *) "-F";
                argv[n++] = (char *) backing_fmt;
        }
        argv[n++] = rel;
        if (size)
                argv[n++] = size;
        argv[n] = NULL;
        j->step = 1;
        r = spawn_qemu_img(j, argv, false);
        if (r < 0)
                job_fail(j, r, NULL);
}

static void run_create(StorageJob *j) {
        const StorageVolDef *def = j->def;
        StorageVolFormat fmt = def_format(def, STORAGE_VOL_FORMAT_RAW);
        JobFiles *f;

        if (!new_volume_ok(j, fmt))
                return;
        if (fmt == STORAGE_VOL_FORMAT_RAW && def->backing_path) {
                job_fail(j, -EINVAL, "a raw volume cannot have a backing store");
                return;
        }
        if (!def->has_capacity && !def->backing_path) {
                job_fail(j, -EINVAL, "no capacity given");
                return;
        }
        if (def->backing_path && !def->has_backing_format &&
            !storage_driver_find_volume_by_path(j->driver, def->backing_path)) {
                job_fail(j, -EINVAL, "the backing store is not a known volume: give its <format>");
                return;
        }
        if (fmt == STORAGE_VOL_FORMAT_QCOW2 && !j->driver->qemu_img) {
                job_fail(j, -EOPNOTSUPP, "qemu-img is not installed");
                return;
        }
        if ((j->flags & STORAGE_VOLUME_CREATE_PREALLOC_METADATA) && fmt != STORAGE_VOL_FORMAT_QCOW2) {
                job_fail(j, -EINVAL, "metadata preallocation is only for qcow2 volumes");
                return;
        }

        /* the file, with its size when raw, in a thread */
        f = files_for_new(j, def);
        if (f && fmt == STORAGE_VOL_FORMAT_RAW) {
                f->truncate = true;
                f->size = def->capacity;
        }
        files_start(j, f, create_with_file);
}

int storage_volume_create(StoragePool *p, const StorageVolDef *def, const StorageJobCallbacks *cb, StorageJob **ret_job) {
        return storage_volume_create_full(p, def, 0, cb, ret_job);
}

int storage_volume_create_full(StoragePool *p, const StorageVolDef *def, StorageVolumeCreateFlags flags,
                               const StorageJobCallbacks *cb, StorageJob **ret_job) {
        StorageJob *j;
        int r;

        if (storage_vol_name_validate(def->name, NULL) < 0)
                return -EINVAL;
        if (storage_pool_is_network(p) && p->def->type != STORAGE_POOL_RBD)
                return -EOPNOTSUPP;   /* iSCSI LUNs are the target's */
        r = job_new(p, JOB_CREATE, cb, storage_pool_is_network(p) ? storage_net_run_create : run_create, &j);
        if (r < 0)
                return r;
        set_what(j, "creating", def->name);
        j->flags = flags;
        r = job_reserve(j, def->name);
        if (r >= 0 && !(j->def = storage_vol_def_copy(def)))
                r = -ENOMEM;
        if (r < 0) {
                j->cb.done = NULL;
                job_finish(j, r, NULL);
                return r;
        }
        if (ret_job)
                *ret_job = j;
        return 0;
}

/* ---- clone ---- */

static void clone_with_files(StorageJob *j, JobFiles *f);

static void run_clone(StorageJob *j) {
        StorageVolume *src = j->src;
        StorageVolFormat src_fmt = src->def->format;
        StorageVolFormat fmt = def_format(j->def, src_fmt == STORAGE_VOL_FORMAT_ISO ? STORAGE_VOL_FORMAT_RAW : src_fmt);
        JobFiles *f;

        if (!new_volume_ok(j, fmt))
                return;
        j->capacity = MAX(j->def->has_capacity ? j->def->capacity : 0, src->def->capacity);
        j->total = src->def->capacity;
        /* the new file and the source (opened for a plain copy; else qemu-img
         * opens it by its path, which must be the volume, not a symlink) */
        f = files_for_new(j, j->def);
        if (f) {
                f->src_name = strdup(src->def->name);
                f->src_open = (src_fmt == STORAGE_VOL_FORMAT_RAW || src_fmt == STORAGE_VOL_FORMAT_ISO) &&
                              fmt == STORAGE_VOL_FORMAT_RAW && src->def->type == STORAGE_VOL_FILE;
        }
        files_start(j, f, clone_with_files);
}

static void clone_with_files(StorageJob *j, JobFiles *f) {
        StorageVolume *src = j->src;
        StorageVolFormat src_fmt = src->def->format;
        StorageVolFormat fmt = def_format(j->def, src_fmt == STORAGE_VOL_FORMAT_ISO ? STORAGE_VOL_FORMAT_RAW : src_fmt);
        int r;

        if (f->src_open) {
                j->step = 1;   /* → grow if asked, commit */
                start_file_work(j, STORAGE_WORK_COPY_FILE, &f->src_fd, &f->tmp_fd, (uint64_t) f->src_st.st_size);
                return;
        }

        if (!j->driver->qemu_img) {
                job_fail(j, -EOPNOTSUPP, "qemu-img is not installed");
                return;
        }
        _cleanup_free_ char *rel = g_strdup_printf("./%s", j->tmp);
        _cleanup_free_ char *compat = j->def->compat ? g_strdup_printf("compat=%s", j->def->compat) : NULL;
        const char *backing_fmt = NULL;
        if (j->def->backing_path) {
                StorageVolume *b = storage_driver_find_volume_by_path(j->driver, j->def->backing_path);
                backing_fmt = j->def->has_backing_format ? storage_vol_format_to_qemu(j->def->backing_format)
                              : b ? storage_vol_format_to_qemu(b->def->format) : NULL;
                if (!backing_fmt) {
                        job_fail(j, -EINVAL, "the backing store is not a known volume: give its <format>");
                        return;
                }
                if (fmt != STORAGE_VOL_FORMAT_QCOW2) {
                        job_fail(j, -EINVAL, "a raw volume cannot have a backing store");
                        return;
                }
        }
        char *argv[20];
        size_t n = 0;
        argv[n++] = j->driver->qemu_img;
        argv[n++] = (char *) "convert";
        argv[n++] = (char *) "-p";
        /* convert writes with cache=unsafe by default: flush before it exits */
        argv[n++] = (char *) "-t";
        argv[n++] = (char *) "writeback";
        argv[n++] = (char *) "-f";
        argv[n++] = (char *) storage_vol_format_to_qemu(src_fmt);
        argv[n++] = (char *) "-O";
        argv[n++] = (char *) storage_vol_format_to_qemu(fmt);
        if (compat) {
                argv[n++] = (char *) "-o";
                argv[n++] = compat;
        }
        if (backing_fmt) {
                argv[n++] = (char *) "-B";
                argv[n++] = j->def->backing_path;
                argv[n++] = (char *) "-F";
                argv[n++] = (char *) backing_fmt;
        }
        argv[n++] = src->def->path;
        argv[n++] = rel;
        argv[n] = NULL;
        j->step = 1;
        j->def->format = fmt;
        j->def->has_format = true;
        r = spawn_qemu_img(j, argv, true);
        if (r < 0)
                job_fail(j, r, NULL);
}

int storage_volume_clone(StoragePool *p, const StorageVolDef *def, StorageVolume *src, const StorageJobCallbacks *cb,
                         StorageJob **ret_job) {
        StorageJob *j;
        int r;

        if (storage_vol_name_validate(def->name, NULL) < 0)
                return -EINVAL;
        if (!src->pool->active)
                return -ENOTCONN;
        if (storage_pool_is_network(p) || storage_pool_is_network(src->pool))
                return -EOPNOTSUPP;
        r = job_new(p, JOB_CLONE, cb, run_clone, &j);
        if (r < 0)
                return r;
        set_what(j, "cloning", def->name);
        r = job_reserve(j, def->name);
        if (r >= 0 && !(j->def = storage_vol_def_copy(def)))
                r = -ENOMEM;
        if (r < 0) {
                j->cb.done = NULL;
                job_finish(j, r, NULL);
                return r;
        }
        j->src = src;
        src->busy++;
        src->readers++;
        if (src->pool != p) {
                j->src_pool = src->pool;
                g_ptr_array_add(src->pool->jobs, j);
        }
        if (ret_job)
                *ret_job = j;
        return 0;
}

/* ---- the steps after a worker or a child finished ---- */

static void on_grown(StorageJob *j, JobFiles *f) {
        job_commit(j, false);
}

/* raw clone asked larger than its source: extend the copy (sparse), in a thread. */
static void grow_clone(StorageJob *j) {
        JobFiles *f = job_files_new();

        if (f) {
                f->open_name = strdup(j->tmp);
                f->open_flags = O_RDWR;
                f->truncate = true;
                f->size = j->capacity;
        }
        files_start(j, f, on_grown);
}

static void after_step(StorageJob *j) {
        if (j->cancelled) {
                job_fail(j, -ECANCELED, NULL);
                return;
        }
        switch (j->kind) {
        case JOB_CREATE:
                job_commit(j, false);
                return;
        case JOB_CLONE:
                if (j->step == 1 && j->capacity > j->src->def->capacity) {
                        StorageVolFormat fmt = def_format(j->def, STORAGE_VOL_FORMAT_RAW);
                        if (fmt == STORAGE_VOL_FORMAT_RAW) {
                                grow_clone(j);
                                return;
                        }
                        _cleanup_free_ char *rel = g_strdup_printf("./%s", j->tmp), *size = size_arg(j->capacity);
                        char *argv[] = { j->driver->qemu_img, (char *) "resize", (char *) "-q", (char *) "-f",
                                         (char *) "qcow2", rel, size, NULL };
                        j->step = 2;
                        int r = spawn_qemu_img(j, argv, false);
                        if (r < 0)
                                job_fail(j, r, NULL);
                        return;
                }
                job_commit(j, false);
                return;
        case JOB_WIPE:
                if (j->tmp)
                        job_commit(j, true);
                else
                        job_probe_and_finish(j);
                return;
        case JOB_UPLOAD:
                job_commit(j, true);
                return;
        case JOB_DOWNLOAD:
                job_finish(j, 0, NULL);
                return;
        case JOB_RESIZE:
                job_probe_and_finish(j);
                return;
        default:
                job_fail(j, -EINVAL, NULL);
        }
}

/* ---- delete ---- */

int storage_volume_delete(StorageVolume *v, StorageVolumeDeleteFlags flags, char **error) {
        StoragePool *p = v->pool;

        if (flags & STORAGE_VOLUME_DELETE_ZEROED || storage_pool_is_network(p))
                return -EOPNOTSUPP;
        if (v->busy > 0) {
                if (error)
                        *error = g_strdup_printf("volume '%s' is in use by a running job", v->def->name);
                return -EBUSY;
        }
        if (!p->active || p->dirfd < 0)
                return -ENOTCONN;
        if (unlinkat(p->dirfd, v->def->name, 0) < 0 && errno != ENOENT) {
                int r = -errno;
                if (error)
                        *error = g_strdup_printf("cannot delete volume '%s' of pool '%s': %s", v->def->name,
                                                 p->def->name, strerror(-r));
                return r;
        }
        storage_pool_drop_volume(p, v);
        storage_pool_update_stats(p);
        return 0;
}

/* ---- jobs on an existing volume ---- */

static int volume_job_new(StorageVolume *v, JobKind kind, const char *verb, const StorageJobCallbacks *cb,
                          void (*run)(StorageJob *j), StorageJob **ret) {
        StorageJob *j;
        int r;

        /* a Download only reads: it may run beside other readers, never beside a writer */
        if (kind == JOB_DOWNLOAD ? v->busy > v->readers : v->busy > 0)
                return -EBUSY;
        /* network volumes: only an rbd image's delete (storage-net.c) */
        if (storage_pool_is_network(v->pool) && (kind != JOB_DELETE || v->pool->def->type != STORAGE_POOL_RBD))
                return -EOPNOTSUPP;
        r = job_new(v->pool, kind, cb, run, &j);
        if (r < 0)
                return r;
        set_what(j, verb, v->def->name);
        j->name = strdup(v->def->name);
        if (!j->name) {
                j->cb.done = NULL;
                job_finish(j, -ENOMEM, NULL);
                return -ENOMEM;
        }
        j->vol = v;
        v->busy++;
        if (kind == JOB_DOWNLOAD)
                v->readers++;
        *ret = j;
        return 0;
}

static void resize_raw_truncated(StorageJob *j, JobFiles *f) {
        if ((j->flags & STORAGE_VOLUME_RESIZE_ALLOCATE) && j->capacity > j->cur_capacity) {
                start_file_work(j, STORAGE_WORK_ALLOCATE, NULL, &f->open_fd, j->capacity);
                return;
        }
        after_step(j);
}

static void run_resize(StorageJob *j) {
        StorageVolume *v = j->vol;
        uint64_t cur = v->def->capacity, want = j->capacity;
        int r;

        if (j->flags & STORAGE_VOLUME_RESIZE_DELTA)
                want = cur + j->capacity;
        if (want < cur && !(j->flags & STORAGE_VOLUME_RESIZE_SHRINK)) {
                _cleanup_free_ char *m = g_strdup_printf("shrinking volume '%s' from %llu to %llu bytes needs the shrink flag",
                                                         v->def->name, (unsigned long long) cur, (unsigned long long) want);
                job_finish(j, -EINVAL, m);
                return;
        }
        j->capacity = want;
        j->step = 1;
        if (v->def->format == STORAGE_VOL_FORMAT_RAW && v->def->type == STORAGE_VOL_FILE) {
                /* open and ftruncate in a thread */
                JobFiles *f = job_files_new();
                if (f) {
                        f->open_name = strdup(j->name);
                        f->open_flags = O_RDWR;
                        f->truncate = true;
                        f->size = want;
                }
                j->cur_capacity = cur;
                files_start(j, f, resize_raw_truncated);
                return;
        }
        if (v->def->format != STORAGE_VOL_FORMAT_QCOW2) {
                job_fail(j, -EOPNOTSUPP, "only raw and qcow2 volumes can be resized");
                return;
        }
        _cleanup_free_ char *rel = g_strdup_printf("./%s", j->name), *size = size_arg(want);
        char *argv[10];
        size_t n = 0;
        argv[n++] = j->driver->qemu_img;
        argv[n++] = (char *) "resize";
        argv[n++] = (char *) "-q";
        if (want < cur)
                argv[n++] = (char *) "--shrink";
        argv[n++] = (char *) "-f";
        argv[n++] = (char *) "qcow2";
        argv[n++] = rel;
        argv[n++] = size;
        argv[n] = NULL;
        r = spawn_qemu_img(j, argv, false);
        if (r < 0)
                job_fail(j, r, NULL);
}

/* A job whose caller wants a StorageDoneFn (resize, delete). */
typedef struct SimpleCall {
        StorageDoneFn done;
        void *userdata;
} SimpleCall;

static void on_simple_done(void *userdata, int r, const char *message, StorageVolume *vol) {
        SimpleCall *c = userdata;
        (void) vol;
        if (c->done)
                c->done(c->userdata, r, message);
        free(c);
}

int storage_volume_resize(StorageVolume *v, uint64_t capacity, StorageVolumeResizeFlags flags, StorageDoneFn done,
                          void *userdata) {
        SimpleCall *c = calloc(1, sizeof(*c));
        StorageJob *j;
        int r;

        if (!c)
                return -ENOMEM;
        *c = (SimpleCall) { done, userdata };
        r = volume_job_new(v, JOB_RESIZE, "resizing", &(StorageJobCallbacks) { .done = on_simple_done, .userdata = c },
                           run_resize, &j);
        if (r < 0) {
                free(c);
                return r;
        }
        j->capacity = capacity;
        j->flags = flags;
        return 0;
}

/* ---- delete, with the unlink in a thread ---- */

typedef struct DeleteCall {
        int fd;
        char *name;
} DeleteCall;

static void delete_call_free(void *arg) {
        DeleteCall *c = arg;
        c->fd = storage_close(c->fd);
        free(c->name);
        free(c);
}

static int delete_run(void *arg) {
        DeleteCall *c = arg;
        int r = unlinkat(c->fd, c->name, 0) < 0 && errno != ENOENT ? -errno : 0;
        c->fd = storage_close(c->fd);
        return r;
}

static void on_deleted(StorageJob *j, void *arg, int r) {
        StorageVolume *v = j->vol;
        (void) arg;

        if (r < 0) {
                _cleanup_free_ char *m = g_strdup_printf("cannot delete volume '%s' of pool '%s': %s", j->name,
                                                         j->pool->def->name, strerror(-r));
                job_finish(j, r, m);
                return;
        }
        /* the job lets go of the volume, which goes away now */
        v->busy--;
        j->vol = NULL;
        storage_pool_drop_volume(j->pool, v);
        job_finish(j, 0, NULL);
}

static void run_delete(StorageJob *j) {
        DeleteCall *c = calloc(1, sizeof(*c));
        int r = -ENOMEM;

        if (c) {
                c->name = strdup(j->name);
                c->fd = fcntl(j->pool->dirfd, F_DUPFD_CLOEXEC, 3);
                if (!c->name || c->fd < 0) {
                        r = c->fd < 0 && c->name ? -errno : -ENOMEM;
                        delete_call_free(c);
                } else
                        r = job_call(j, delete_run, c, delete_call_free, on_deleted);
        }
        if (r < 0)
                job_fail(j, r, NULL);
}

int storage_volume_delete_async(StorageVolume *v, StorageVolumeDeleteFlags flags, StorageDoneFn done, void *userdata) {
        SimpleCall *c;
        StorageJob *j;
        int r;

        if (flags & STORAGE_VOLUME_DELETE_ZEROED)
                return -EOPNOTSUPP;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (SimpleCall) { done, userdata };
        r = volume_job_new(v, JOB_DELETE, "deleting", &(StorageJobCallbacks) { .done = on_simple_done, .userdata = c },
                           storage_pool_is_network(v->pool) ? storage_net_run_delete : run_delete, &j);
        if (r < 0)
                free(c);
        return r;
}

/* ---- wipe ---- */

static void wipe_with_files(StorageJob *j, JobFiles *f) {
        StorageVolume *v = j->vol;
        int r;

        if (f->open_fd >= 0) {
                start_file_work(j, STORAGE_WORK_ZERO, NULL, &f->open_fd,
                                S_ISBLK(f->open_st.st_mode) ? v->def->capacity : (uint64_t) f->open_st.st_size);
                return;
        }
        /* qcow2: a fresh empty image of the same size and backing store */
        _cleanup_free_ char *rel = g_strdup_printf("./%s", j->tmp), *size = size_arg(v->def->capacity);
        char *argv[14];
        size_t n = 0;
        argv[n++] = j->driver->qemu_img;
        argv[n++] = (char *) "create";
        argv[n++] = (char *) "-q";
        argv[n++] = (char *) "-f";
        argv[n++] = (char *) "qcow2";
        if (v->def->backing_path && v->def->has_backing_format) {
                argv[n++] = (char *) "-b";
                argv[n++] = v->def->backing_path;
                argv[n++] = (char *) "-F";
                argv[n++] = (char *) storage_vol_format_to_qemu(v->def->backing_format);
        }
        argv[n++] = rel;
        argv[n++] = size;
        argv[n] = NULL;
        r = spawn_qemu_img(j, argv, false);
        if (r < 0)
                job_fail(j, r, NULL);
}

static void run_wipe(StorageJob *j) {
        StorageVolume *v = j->vol;
        bool zero = v->def->format == STORAGE_VOL_FORMAT_RAW || v->def->type == STORAGE_VOL_BLOCK;
        JobFiles *f;

        j->step = 1;
        if (!zero && v->def->format != STORAGE_VOL_FORMAT_QCOW2) {
                job_fail(j, -EOPNOTSUPP, "only raw and qcow2 volumes can be wiped");
                return;
        }
        /* raw: the file opened; qcow2: the temporary for the fresh image */
        f = job_files_new();
        if (f && zero) {
                f->open_name = strdup(j->name);
                f->open_flags = O_RDWR;
        } else if (f) {
                f->temp_for = strdup(j->name);
                f->mode = (mode_t) v->def->perms.mode;
                f->uid = v->def->perms.uid;
                f->gid = v->def->perms.gid;
        }
        files_start(j, f, wipe_with_files);
}

int storage_volume_wipe(StorageVolume *v, const StorageJobCallbacks *cb, StorageJob **ret_job) {
        StorageJob *j;
        int r = volume_job_new(v, JOB_WIPE, "wiping", cb, run_wipe, &j);
        if (r < 0)
                return r;
        if (ret_job)
                *ret_job = j;
        return 0;
}

/* ---- upload and download ---- */

static void upload_with_file(StorageJob *j, JobFiles *f) {
        StorageWork *w = job_work_new(j, STORAGE_WORK_STREAM, &j->user_fd, &f->tmp_fd, j->length);
        struct stat st;

        if (!w)
                return;
        w->dst_sparse = true;
        w->fsync = true;
        if (j->length > 0)
                j->total = j->length;
        else if (fstat(w->src_fd, &st) == 0 && S_ISREG(st.st_mode))
                j->total = (uint64_t) st.st_size;
        j->step = 1;
        job_work_start(j, w);
}

static void run_upload(StorageJob *j) {
        StorageVolume *v = j->vol;
        JobFiles *f = job_files_new();

        if (f) {
                f->temp_for = strdup(j->name);
                f->mode = (mode_t) (v->def->perms.mode >= 0 ? v->def->perms.mode : 0600);
                f->uid = v->def->perms.uid;
                f->gid = v->def->perms.gid;
        }
        files_start(j, f, upload_with_file);
}

static void download_with_file(StorageJob *j, JobFiles *f) {
        StorageVolume *v = j->vol;
        StorageWork *w;

        uint64_t size = S_ISBLK(f->open_st.st_mode) ? v->def->capacity : (uint64_t) f->open_st.st_size;
        if (j->offset > size) {
                job_fail(j, -EINVAL, "offset beyond the end of the volume");
                return;
        }
        w = job_work_new(j, STORAGE_WORK_STREAM, &f->open_fd, &j->user_fd,
                         j->length > 0 ? MIN(j->length, size - j->offset) : size - j->offset);
        if (!w)
                return;
        w->offset = j->offset;
        j->total = w->length;
        j->step = 1;
        if (w->length == 0) {
                storage_work_free(w);
                after_step(j);
                return;
        }
        job_work_start(j, w);
}

static void run_download(StorageJob *j) {
        JobFiles *f = job_files_new();

        if (f) {
                f->open_name = strdup(j->name);
                f->open_flags = O_RDONLY;
        }
        files_start(j, f, download_with_file);
}

static int transfer_new(StorageVolume *v, int fd, uint64_t offset, uint64_t length, JobKind kind,
                        const StorageJobCallbacks *cb, StorageJob **ret_job) {
        StorageJob *j;
        int r, copy;

        if (fd < 0)
                return -EBADF;
        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return -errno;
        r = volume_job_new(v, kind, kind == JOB_UPLOAD ? "uploading to" : "downloading", cb,
                           kind == JOB_UPLOAD ? run_upload : run_download, &j);
        if (r < 0) {
                close(copy);
                return r;
        }
        j->user_fd = copy;
        j->offset = offset;
        j->length = length;
        if (ret_job)
                *ret_job = j;
        return 0;
}

int storage_volume_upload(StorageVolume *v, int fd, uint64_t offset, uint64_t length, const StorageJobCallbacks *cb,
                          StorageJob **ret_job) {
        /* whole-volume replacement through a temporary: files only */
        if (offset != 0 || v->def->type != STORAGE_VOL_FILE)
                return -EOPNOTSUPP;
        return transfer_new(v, fd, offset, length, JOB_UPLOAD, cb, ret_job);
}

int storage_volume_download(StorageVolume *v, int fd, uint64_t offset, uint64_t length, const StorageJobCallbacks *cb,
                            StorageJob **ret_job) {
        return transfer_new(v, fd, offset, length, JOB_DOWNLOAD, cb, ret_job);
}
