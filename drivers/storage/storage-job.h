/* storage-job.h — volume jobs inside the storage driver (not a public API). */
#pragma once

#include "storage-internal.h"

typedef enum JobKind {
        JOB_CREATE,
        JOB_CLONE,
        JOB_WIPE,
        JOB_UPLOAD,
        JOB_DOWNLOAD,
        JOB_RESIZE,
        JOB_DELETE,
        _JOB_KIND_MAX,
} JobKind;

struct StorageJob {
        StorageDriver *driver;
        StoragePool *pool;            /* where the volume made or changed lives */
        StoragePool *src_pool;        /* clone: the source's pool (also lists the job) */
        JobKind kind;
        StorageJobCallbacks cb;
        void (*run)(StorageJob *j);   /* first step, from the loop */

        StorageVolDef *def;           /* create, clone: the new volume */
        StorageVolume *vol;           /* wipe, upload, download, resize: the volume (busy) */
        StorageVolume *src;           /* clone: the source (busy) */
        char *name;                   /* the volume's name in pool */
        char *tmp;                    /* our temporary in pool, removed unless committed */
        bool reserved;                /* name held in pool->reserved */
        bool committed_new;
        char *what;                   /* "creating volume 'x'", for messages */

        int fd;                       /* scratch */
        int user_fd;                  /* upload/download: the caller's fd (duplicate) */
        uint64_t offset, length;      /* upload/download */
        uint64_t capacity;            /* clone/resize: the size wanted */
        unsigned flags;               /* resize */
        StorageDoneFn simple_done;    /* resize: the caller's completion */
        void *simple_userdata;

        StorageChild *child;
        StorageWork *work;
        StorageCall *call;            /* a step on the pool's files, in a thread */
        void (*call_done)(StorageJob *j, void *arg, int r);
        StorageProbe *probe;
        GString *outbuf;
        sd_event_source *timer, *defer;
        uint64_t processed, total, progress_sent;
        bool cancelled;
        int step;
};

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

/* Creates a job in pool p whose run() is called from the loop. */
int job_new(StoragePool *p, JobKind kind, const StorageJobCallbacks *cb, void (*run)(StorageJob *j), StorageJob **ret);
/* Holds name in the pool so no other job or refresh takes it. -EEXIST. */
int job_reserve(StorageJob *j, const char *name);
/* Creates the job's hidden temporary (O_EXCL, O_NOFOLLOW) with mode/owner. */
int job_make_temp(StorageJob *j, mode_t mode, int64_t uid, int64_t gid, int *ret_fd);
/* Renames the temporary to the name (replace: over the existing volume),
 * probes it, puts it in the pool and finishes. */
void job_commit(StorageJob *j, bool replace);
/* Runs fn(arg) in a thread (storage_call_start()); done(j, arg, r) on the
 * loop, never after the job was freed. 0 or -errno (arg freed). */
int job_call(StorageJob *j, StorageCallFn fn, void *arg, void (*free_arg)(void *arg),
             void (*done)(StorageJob *j, void *arg, int r));
/* Probes j->name, updates the pool's volume and finishes. */
void job_probe_and_finish(StorageJob *j);
/* Completion: on failure the temporary is removed; the job is freed. */
void job_finish(StorageJob *j, int r, const char *message);
/* job_finish with storage_error_message(pool, r, j->what, detail). */
void job_fail(StorageJob *j, int r, const char *detail);
/* -ENOSPC when a helper's words say the disk is full, else -EIO. */
int job_errno_from_output(const char *err);
/* StorageChildOutputFn parsing qemu-img's -p progress into j->processed. */
void job_parse_progress(void *userdata, const char *data, size_t n);
