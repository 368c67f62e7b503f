/* storage-job.c — the life of a volume job: temporaries, progress, cancel, commit (rename into place), completion. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "storage-job.h"

#define PROGRESS_USEC (200u * 1000u)

static const char *const job_type_table[_JOB_KIND_MAX] = {
        [JOB_CREATE] = "create", [JOB_CLONE] = "clone", [JOB_WIPE] = "wipe",
        [JOB_UPLOAD] = "upload", [JOB_DOWNLOAD] = "download", [JOB_RESIZE] = "resize",
        [JOB_DELETE] = "delete",
};

const char *storage_job_type(StorageJob *j) {
        return job_type_table[j->kind];
}

void storage_job_get_progress(StorageJob *j, uint64_t *ret_processed, uint64_t *ret_total) {
        if (j->work)
                j->processed = atomic_load(&j->work->processed);
        if (ret_processed)
                *ret_processed = j->processed;
        if (ret_total)
                *ret_total = j->total;
}

bool storage_name_is_temporary(const char *name) {
        size_t n = strlen(name);
        return name[0] == '.' && n >= 16 && memcmp(name + n - 15, ".partial-", 9) == 0;
}

bool storage_pool_temporary_in_use(StoragePool *p, const char *name) {
        for (guint i = 0; i < p->jobs->len; i++) {
                StorageJob *j = p->jobs->pdata[i];
                if (j->pool != p)
                        continue;
                if (j->tmp && streq(j->tmp, name))
                        return true;
                if (j->temp_pending) {
                        /* its thread is making it: the name is not known yet, its form is */
                        _cleanup_free_ char *prefix = g_strdup_printf(".%.230s.partial-", j->name);
                        if (g_str_has_prefix(name, prefix))
                                return true;
                }
        }
        return false;
}

static void job_free(StorageJob *j) {
        sd_event_source_disable_unref(j->timer);
        sd_event_source_disable_unref(j->defer);
        storage_child_free(j->child);
        storage_work_free(j->work);
        storage_probe_free(j->probe);
        if (j->files)
                atomic_store(&j->files->abandoned, true);
        storage_call_abandon(j->call);
        if (j->tmp && j->pool->dirfd >= 0)
                (void) unlinkat(j->pool->dirfd, j->tmp, 0);
        if (j->reserved)
                g_hash_table_remove(j->pool->reserved, j->name);
        if (j->vol) {
                j->vol->busy--;
                if (j->kind == JOB_DOWNLOAD)
                        j->vol->readers--;
        }
        if (j->src) {
                j->src->busy--;
                j->src->readers--;
        }
        if (j->src_pool && j->src_pool != j->pool)
                g_ptr_array_remove(j->src_pool->jobs, j);
        g_ptr_array_remove(j->pool->jobs, j);
        if (j->fd >= 0)
                close(j->fd);
        if (j->user_fd >= 0)
                close(j->user_fd);
        storage_vol_def_free(j->def);
        g_free(j->what);
        free(j->finish_message);
        free(j->name);
        free(j->tmp);
        if (j->outbuf)
                g_string_free(j->outbuf, true);
        free(j);
}

void storage_pool_abort_jobs(StoragePool *p) {
        while (p->jobs->len > 0)
                job_free(p->jobs->pdata[p->jobs->len - 1]);
}

static void send_progress(StorageJob *j) {
        storage_job_get_progress(j, NULL, NULL);
        if (j->cb.progress && j->processed != j->progress_sent) {
                j->progress_sent = j->processed;
                j->cb.progress(j->cb.userdata, j->processed, j->total);
        }
}

/* A failed job's temporary, removed in a thread before the failure is reported. */
typedef struct TempRemoval {
        int fd;
        char *tmp;
} TempRemoval;

static void temp_removal_free(void *arg) {
        TempRemoval *t = arg;
        storage_close(t->fd);
        free(t->tmp);
        free(t);
}

static int temp_removal_run(void *arg) {
        TempRemoval *t = arg;
        (void) unlinkat(t->fd, t->tmp, 0);
        t->fd = storage_close(t->fd);
        return 0;
}

static void on_temp_removed(StorageJob *j, void *arg, int r) {
        _cleanup_free_ char *m = TAKE_PTR(j->finish_message);
        (void) arg, (void) r;
        storage_pool_update_stats(j->pool);
        job_finish(j, j->finish_r, m);
}

/* Starts removing j's temporary in a thread; true when job_finish() follows from there. */
static bool job_remove_temp(StorageJob *j, int r, const char *message) {
        TempRemoval *t;

        if (j->call || !j->tmp || j->pool->dirfd < 0 || !(t = calloc(1, sizeof(*t))))
                return false;
        t->tmp = strdup(j->tmp);
        t->fd = fcntl(j->pool->dirfd, F_DUPFD_CLOEXEC, 3);
        if (!t->tmp || t->fd < 0) {
                temp_removal_free(t);
                return false;
        }
        if (job_call(j, temp_removal_run, t, temp_removal_free, on_temp_removed) < 0)
                return false;   /* t freed; job_finish() removes it here */
        j->tmp = mfree(j->tmp);   /* the thread's now: job_free() leaves it alone */
        j->finish_r = r;
        j->finish_message = message ? strdup(message) : NULL;
        return true;
}

void job_finish(StorageJob *j, int r, const char *message) {
        StorageVolume *v = NULL;

        if (r < 0 && job_remove_temp(j, r, message))
                return;

        if (r >= 0) {
                if (j->total > 0)
                        j->processed = j->total;
                if (j->work)
                        atomic_store(&j->work->processed, j->processed);
                send_progress(j);
                v = j->vol ?: storage_pool_find_volume(j->pool, j->name);
                storage_pool_update_stats(j->pool);
        } else if (j->tmp && j->pool->dirfd >= 0) {
                (void) unlinkat(j->pool->dirfd, j->tmp, 0);
                j->tmp = mfree(j->tmp);
                storage_pool_update_stats(j->pool);
        }
        StorageJobCallbacks cb = j->cb;
        j->cb.done = NULL;
        job_free(j);
        if (cb.done)
                cb.done(cb.userdata, r, message, r >= 0 ? v : NULL);
}

void job_fail(StorageJob *j, int r, const char *detail) {
        _cleanup_free_ char *m = NULL;

        if (j->cancelled)
                r = -ECANCELED;
        m = storage_error_message(j->pool, r, j->what, r == -ECANCELED ? NULL : detail);
        job_finish(j, r, m);
}

int job_errno_from_output(const char *err) {
        if (err && (strstr(err, "No space left on device") || strstr(err, "Disk quota exceeded")))
                return -ENOSPC;
        return -EIO;
}

static int on_progress_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        StorageJob *j = userdata;
        (void) usec;
        send_progress(j);
        (void) sd_event_source_set_time_relative(s, PROGRESS_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_job_defer(sd_event_source *s, void *userdata) {
        StorageJob *j = userdata;
        (void) s;
        j->defer = sd_event_source_disable_unref(j->defer);
        if (j->cancelled) {
                job_fail(j, -ECANCELED, NULL);
                return 0;
        }
        j->run(j);
        return 0;
}

int job_new(StoragePool *p, JobKind kind, const StorageJobCallbacks *cb, void (*run)(StorageJob *j), StorageJob **ret) {
        StorageJob *j;
        int r;

        if (!p->active || (p->dirfd < 0 && !storage_pool_is_network(p)))
                return -ENOTCONN;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->driver = p->driver;
        j->pool = p;
        j->kind = kind;
        j->run = run;
        j->fd = j->user_fd = -1;
        if (cb)
                j->cb = *cb;
        g_ptr_array_add(p->jobs, j);
        r = sd_event_add_defer(p->driver->event, &j->defer, on_job_defer, j);
        if (r >= 0)
                r = sd_event_add_time_relative(p->driver->event, &j->timer, CLOCK_MONOTONIC, PROGRESS_USEC, 0,
                                               on_progress_timer, j);
        if (r < 0) {
                j->cb.done = NULL;
                job_free(j);
                return r;
        }
        *ret = j;
        return 0;
}

int job_reserve(StorageJob *j, const char *name) {
        StoragePool *p = j->pool;

        if (g_hash_table_contains(p->reserved, name))
                return -EEXIST;
        j->name = strdup(name);
        if (!j->name)
                return -ENOMEM;
        g_hash_table_insert(p->reserved, strdup(name), strdup(""));
        j->reserved = true;
        return 0;
}

static void on_job_call(void *userdata, void *arg, int r) {
        StorageJob *j = userdata;

        j->call = NULL;
        j->call_done(j, arg, r);
}

int job_call(StorageJob *j, StorageCallFn fn, void *arg, void (*free_arg)(void *arg),
             void (*done)(StorageJob *j, void *arg, int r)) {
        j->call_done = done;
        return storage_call_start(j->driver, fn, arg, free_arg, on_job_call, j, &j->call);
}

/* ---- preparing files in a thread ---- */

JobFiles *job_files_new(void) {
        JobFiles *f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;
        f->dirfd = f->src_dirfd = f->tmp_fd = f->open_fd = f->src_fd = -1;
        f->uid = f->gid = -1;
        return f;
}

static void job_files_free(void *arg) {
        JobFiles *f = arg;
        /* a temporary the job never took (it went away meanwhile) */
        if (f->tmp && f->dirfd >= 0)
                (void) unlinkat(f->dirfd, f->tmp, 0);
        free(f->absent);
        free(f->temp_for);
        free(f->open_name);
        free(f->src_name);
        free(f->tmp);
        storage_close(f->dirfd);
        storage_close(f->src_dirfd);
        storage_close(f->tmp_fd);
        storage_close(f->open_fd);
        storage_close(f->src_fd);
        free(f);
}

static int files_fail(JobFiles *f, int r, const char *detail) {
        f->detail = detail;
        if (f->tmp) {
                (void) unlinkat(f->dirfd, f->tmp, 0);
                f->tmp = mfree(f->tmp);
        }
        return r;
}

static int files_make_temp(JobFiles *f) {
        int fd = -1;

        for (int attempt = 0; attempt < 100; attempt++) {
                uint32_t rnd = 0;
                (void) getrandom(&rnd, sizeof rnd, 0);
                free(f->tmp);
                /* room for the suffix within NAME_MAX */
                f->tmp = g_strdup_printf(".%.230s.partial-%06x", f->temp_for, rnd & 0xffffff);
                if (atomic_load(&f->abandoned))
                        return -ECANCELED;
                fd = openat(f->dirfd, f->tmp, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, f->mode);
                if (fd >= 0 || errno != EEXIST)
                        break;
        }
        if (fd < 0) {
                int r = -errno;
                f->tmp = mfree(f->tmp);
                return r;
        }
        f->tmp_fd = fd;
        if (fchmod(fd, f->mode) < 0 || ((f->uid >= 0 || f->gid >= 0) && fchown(fd, (uid_t) f->uid, (gid_t) f->gid) < 0))
                return files_fail(f, -errno, NULL);
        return 0;
}

static int files_run(void *arg) {
        JobFiles *f = arg;
        struct stat st;
        int r;

        if (f->absent) {
                if (fstatat(f->dirfd, f->absent, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        return files_fail(f, -EEXIST, "a volume or file of that name exists");
                if (errno != ENOENT)
                        return files_fail(f, -errno, NULL);
        }
        if (f->temp_for && (r = files_make_temp(f)) < 0)
                return r;
        if (f->open_name) {
                f->open_fd = openat(f->dirfd, f->open_name, f->open_flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                if (f->open_fd < 0 || fstat(f->open_fd, &f->open_st) < 0)
                        return files_fail(f, errno == ELOOP ? -ELOOP : -errno, NULL);
        }
        if (f->src_name) {
                if (fstatat(f->src_dirfd, f->src_name, &f->src_st, AT_SYMLINK_NOFOLLOW) < 0)
                        return files_fail(f, -errno, "cannot open the source volume");
                if (S_ISLNK(f->src_st.st_mode))
                        return files_fail(f, -ELOOP, "the source volume was replaced by a symlink");
                if (f->src_open) {
                        f->src_fd = openat(f->src_dirfd, f->src_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                        if (f->src_fd < 0 || fstat(f->src_fd, &f->src_st) < 0)
                                return files_fail(f, -errno, "cannot open the source volume");
                }
        }
        if (f->truncate && ftruncate(f->tmp_fd >= 0 ? f->tmp_fd : f->open_fd, (off_t) f->size) < 0)
                return files_fail(f, -errno, NULL);
        if (atomic_load(&f->abandoned))
                return files_fail(f, -ECANCELED, NULL);
        /* dirfd stays until the free: it removes a temporary nobody took */
        f->src_dirfd = storage_close(f->src_dirfd);
        return 0;
}

static void on_files(StorageJob *j, void *arg, int r) {
        JobFiles *f = arg;

        j->temp_pending = false;
        j->files = NULL;
        if (r >= 0 && f->tmp) {
                free(j->tmp);
                j->tmp = TAKE_PTR(f->tmp);
                if (j->reserved)
                        g_hash_table_insert(j->pool->reserved, strdup(j->name), strdup(j->tmp));
        }
        if (r >= 0 && j->cancelled)
                r = -ECANCELED;   /* the temporary, now ours, goes with the failure */
        if (r < 0) {
                job_fail(j, r, f->detail);
                return;
        }
        j->files_done(j, f);
}

int job_files(StorageJob *j, JobFiles *f, void (*done)(StorageJob *j, JobFiles *f)) {
        f->dirfd = fcntl(j->pool->dirfd, F_DUPFD_CLOEXEC, 3);
        if (f->src_name)
                f->src_dirfd = fcntl(j->src ? j->src->pool->dirfd : j->pool->dirfd, F_DUPFD_CLOEXEC, 3);
        if (f->dirfd < 0 || (f->src_name && f->src_dirfd < 0)) {
                int r = -errno;
                job_files_free(f);
                return r;
        }
        bool temp = f->temp_for != NULL;
        int r;

        j->files_done = done;
        r = job_call(j, files_run, f, job_files_free, on_files);   /* f is the call's now (freed on failure) */
        if (r >= 0) {
                j->files = f;
                j->temp_pending = temp;
        }
        return r;
}

static void on_job_probe(void *userdata, StorageProbe *pr, int r, const char *message, StorageVolDef *def, char **chain) {
        StorageJob *j = userdata;

        j->probe = storage_probe_free(j->probe);
        if (r < 0) {
                if (j->committed_new && j->pool->dirfd >= 0)
                        (void) unlinkat(j->pool->dirfd, j->name, 0);   /* a volume we cannot describe is not made */
                job_fail(j, r, message);
                return;
        }
        storage_pool_put_volume(j->pool, def, chain);
        job_finish(j, 0, NULL);
}

/* The end of a job that made or changed a file, in a thread: the rename of
 * the temporary into place (when tmp is set), its fsync, and what the probe
 * needs to know of the file. */
typedef struct CommitCall {
        int fd;                       /* the pool's directory (a duplicate) */
        char *tmp, *name;
        bool replace;
        bool renamed;                 /* out: tmp is now name */
        struct stat st;
        bool iso;
} CommitCall;

static void commit_call_free(void *arg) {
        CommitCall *c = arg;
        c->fd = storage_close(c->fd);
        free(c->tmp);
        free(c->name);
        free(c);
}

/* renameat2(RENAME_NOREPLACE), or where the filesystem has no such rename
 * (FUSE ones like GlusterFS answer EINVAL) a hard link, which fails just as
 * atomically when the name exists, and the temporary name unlinked.
 * -1 and errno as renameat2(). */
static int rename_noreplace(int dirfd, const char *from, const char *to) {
        if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) >= 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
                return -1;
        if (linkat(dirfd, from, dirfd, to, 0) < 0)
                return -1;
        (void) unlinkat(dirfd, from, 0);
        return 0;
}

static int commit_run(void *arg) {
        CommitCall *c = arg;
        int r = 0;

        if (c->tmp) {
                if (c->replace)
                        r = renameat(c->fd, c->tmp, c->fd, c->name);
                else
                        r = rename_noreplace(c->fd, c->tmp, c->name);
                if (r < 0)
                        r = -errno;
                else {
                        c->renamed = true;
                        (void) fsync(c->fd);   /* the rename itself survives a power loss */
                }
        }
        if (r >= 0 && fstatat(c->fd, c->name, &c->st, AT_SYMLINK_NOFOLLOW) < 0)
                r = -errno;
        if (r >= 0)
                c->iso = storage_file_is_iso(c->fd, c->name, &c->st);
        c->fd = storage_close(c->fd);
        return r;
}

static void on_committed(StorageJob *j, void *arg, int r) {
        CommitCall *c = arg;

        if (c->renamed) {
                j->tmp = mfree(j->tmp);
                j->committed_new = !c->replace;
        }
        if (r < 0) {
                if (c->renamed && j->committed_new)
                        (void) unlinkat(j->pool->dirfd, j->name, 0);   /* a volume we cannot describe is not made */
                job_fail(j, r, !c->renamed && c->tmp && r == -EEXIST ? "a file of that name appeared in the pool" :
                               c->renamed || !c->tmp ? "cannot examine the new volume" : NULL);
                return;
        }
        r = storage_probe_start_stat(j->pool, j->name, &c->st, c->iso, on_job_probe, j, &j->probe);
        if (r < 0)
                job_fail(j, r, "cannot examine the new volume");
}

static void commit_start(StorageJob *j, bool rename, bool replace) {
        CommitCall *c = calloc(1, sizeof(*c));
        int r = -ENOMEM;

        if (c) {
                c->replace = replace;
                c->name = strdup(j->name);
                c->tmp = rename ? strdup(j->tmp) : NULL;
                c->fd = fcntl(j->pool->dirfd, F_DUPFD_CLOEXEC, 3);
                if (!c->name || (rename && !c->tmp) || c->fd < 0) {
                        r = c->fd < 0 && c->name ? -errno : -ENOMEM;
                        commit_call_free(c);
                } else
                        r = job_call(j, commit_run, c, commit_call_free, on_committed);
        }
        if (r < 0)
                job_fail(j, r, NULL);
}

void job_probe_and_finish(StorageJob *j) {
        commit_start(j, false, false);
}

void job_commit(StorageJob *j, bool replace) {
        if (j->cancelled) {
                job_fail(j, -ECANCELED, NULL);
                return;
        }
        commit_start(j, true, replace);
}

void storage_job_cancel(StorageJob *j) {
        if (!j || j->cancelled)
                return;
        j->cancelled = true;
        if (j->work)
                atomic_store(&j->work->cancel, true);
        if (j->child)
                storage_child_terminate(j->child);
}

/* ---- progress from qemu-img -p: "    (12.34/100%)\r" ---- */

void job_parse_progress(void *userdata, const char *data, size_t n) {
        StorageJob *j = userdata;
        const char *s, *open;

        if (!j->outbuf)
                j->outbuf = g_string_new(NULL);
        g_string_append_len(j->outbuf, data, (gssize) n);
        s = j->outbuf->str;
        open = strrchr(s, '(');
        if (open && strstr(open, "/100%)")) {
                double pct = g_ascii_strtod(open + 1, NULL);
                if (pct >= 0 && pct <= 100)
                        j->processed = (uint64_t) ((double) j->total * pct / 100.0);
        }
        if (j->outbuf->len > 256)
                g_string_erase(j->outbuf, 0, (gssize) j->outbuf->len - 64);
}
