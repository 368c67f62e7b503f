/* storage-job.h — volume jobs inside the storage driver (not a public API). */
#pragma once

#include <sys/stat.h>

#include "storage-internal.h"

typedef struct JobFiles JobFiles;

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
        bool temp_pending;            /* a thread is making the temporary */
        JobFiles *files;              /* while that thread runs */
        int finish_r;                 /* a failure reported once the temporary is removed */
        char *finish_message;
        bool reserved;                /* name held in pool->reserved */
        bool committed_new;
        char *what;                   /* "creating volume 'x'", for messages */

        int fd;                       /* scratch */
        int user_fd;                  /* upload/download: the caller's fd (duplicate) */
        uint64_t offset, length;      /* upload/download */
        uint64_t capacity;            /* clone/resize: the size wanted */
        uint64_t cur_capacity;        /* resize: the size before */
        unsigned flags;               /* resize */
        StorageDoneFn simple_done;    /* resize: the caller's completion */
        void *simple_userdata;

        StorageChild *child;
        StorageWork *work;
        StorageCall *call;            /* a step on the pool's files, in a thread */
        void (*call_done)(StorageJob *j, void *arg, int r);
        void (*files_done)(StorageJob *j, JobFiles *f);
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
/* Renames the temporary to the name (replace: over the existing volume),
 * probes it, puts it in the pool and finishes. */
void job_commit(StorageJob *j, bool replace);
/* The files a job step needs, prepared in a thread (a dead NFS server holds
 * these calls, not the loop), in this order: `absent` must not exist; the
 * job's temporary is made for `temp_for` (O_EXCL, O_NOFOLLOW, mode, owner);
 * `open_name` is opened (O_NOFOLLOW) and fstat'ed; `src_name` in the
 * source's pool is lstat'ed (a symlink is -ELOOP) and with src_open opened
 * and fstat'ed; with truncate, the temporary (else the opened file) gets
 * `size`. A temporary made before a later step failed is removed there. */
struct JobFiles {
        char *absent, *temp_for, *open_name, *src_name;
        mode_t mode;
        int64_t uid, gid;
        int open_flags;
        bool src_open, truncate;
        uint64_t size;
        /* set up by job_files() */
        int dirfd, src_dirfd;
        /* results, owned (closed by the free) unless taken */
        char *tmp;
        int tmp_fd, open_fd, src_fd;
        struct stat open_st, src_st;
        const char *detail;           /* what failed, for the message */
        _Atomic bool abandoned;       /* the job went away: no temporary is left behind */
};

JobFiles *job_files_new(void);
/* Runs the preparation of f (owned) for job j in a thread; done(j, f) on the
 * loop when it succeeded (f freed after it; the temporary, if any, is j->tmp).
 * A failure, or a cancel meanwhile, fails the job with f's detail instead. */
int job_files(StorageJob *j, JobFiles *f, void (*done)(StorageJob *j, JobFiles *f));

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
