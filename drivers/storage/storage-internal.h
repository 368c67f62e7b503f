/* storage-internal.h — the storage driver's objects and the pieces its files share (not a public API). */
#pragma once

#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "storage-driver.h"

typedef struct StorageChild StorageChild;
typedef struct StorageWork StorageWork;
typedef struct StorageProbe StorageProbe;
typedef struct StorageRefresh StorageRefresh;
typedef struct StorageCall StorageCall;

struct StorageDriver {
        sd_event *event;
        StorageDriverEvents events;
        char *qemu_img;
        GPtrArray *pools;             /* StoragePool*, not owned */
        GPtrArray *deferred;          /* pending deferred completions */
        GPtrArray *calls;             /* StorageCall* running in threads */
        uint64_t stats_interval_usec; /* active pools' statvfs refresh; 0 = never */
        uint64_t probe_timeout_usec;  /* each qemu-img info; 0 = none */
};

struct StoragePool {
        StorageDriver *driver;
        StoragePoolDef *def;
        void *owner;
        bool active;
        bool transition;              /* a start or stop is under way */
        int dirfd;                    /* the target directory while active */
        GHashTable *volumes;          /* name → StorageVolume* (owned) */
        GPtrArray *jobs;              /* StorageJob* whose target or source is in this pool */
        GHashTable *reserved;         /* volume names a job is creating → the job's temporary name */
        StorageRefresh *refresh;      /* running scan, NULL when none */
        StorageChild *mount;          /* mount, umount, blkid or mkfs running */
        StorageCall *call;            /* build, start or stop step on the target, in a thread */
        StorageCall *stats_call;      /* fstatvfs in a thread */
        bool stats_again;             /* asked again while stats_call ran */
        StorageCall *unlink_call;     /* removal of stale temporaries, in a thread */
        unsigned fd_calls;            /* threads holding a duplicate of dirfd (stats, stale removal) */
        bool umount_waiting;          /* a stop waits for them before it unmounts */
        sd_event_source *stats_timer; /* periodic statistics while active */
        unsigned build_flags;
        StorageDoneFn transition_done;
        void *transition_userdata;
        StorageCall *net_call;        /* rbd / iscsi: a start, refresh or stop in a thread */
        StorageDoneFn net_done;       /* its completion */
        void *net_userdata;
        bool iscsi_node_created;      /* iscsi: the start made open-iscsi's node record: the stop removes it */
        bool iscsi_iface_created;     /* and the pool's iface */
        bool start_mounted;           /* this start mounted the target: a failed start unmounts it */
        int start_error;              /* a failed start waiting for its umount */
        char *start_message;
};

struct StorageVolume {
        StoragePool *pool;
        StorageVolDef *def;
        char **chain;                 /* backing chain paths, NULL-terminated */
        size_t n_chain;
        void *owner;
        unsigned busy;                /* jobs using it */
        unsigned readers;             /* of those, the ones that only read it (Download, clone source) */
};

/* Closes fd when open; returns -1 (fd = storage_close(fd)). */
static inline int storage_close(int fd) {
        if (fd >= 0)
                close(fd);
        return -1;
}

/* ---- storage-pool.c ---- */

/* Drops the volumes, closes the target, inactive; pool_changed. */
void storage_pool_deactivate(StoragePool *p);

/* Updates capacity/allocation/available from fstatvfs() in a thread (zeros
 * at once when inactive); pool_changed when they moved. */
void storage_pool_update_stats(StoragePool *p);
/* A thread that held a duplicate of the pool's dirfd returned (counted in
 * fd_calls): a stop waiting to unmount goes on when it was the last. */
void storage_pool_fd_call_done(StoragePool *p);
/* Sets them from sv (NULL: zeros); pool_changed when they moved. */
struct statvfs;
void storage_pool_set_stats(StoragePool *p, const struct statvfs *sv);
/* "no space left on pool 'x' while creating volume 'y'" and friends: the
 * message for error r while doing `what`; malloc'd. */
char *storage_error_message(StoragePool *p, int r, const char *what, const char *detail);
/* An errno from the OS reported as -EIO when the contract gives it a meaning of its own (-ENOTCONN…). */
int storage_os_failure(int r);
/* "<target>/<name>", malloc'd. */
char *storage_pool_path(StoragePool *p, const char *name);
/* Calls fn(userdata, r, message) from the loop (next iteration). */
int storage_defer_done(StorageDriver *d, StorageDoneFn fn, void *userdata, int r, const char *message);

/* ---- network pools without a target directory (storage-net.c: rbd, iscsi-direct, iscsi) ---- */

/* Whether p is an rbd, iscsi or iscsi-direct pool: no target directory, its own start/refresh/volumes. */
bool storage_pool_is_network(const StoragePool *p);
/* Connects in a thread (credentials from the driver's lookup_secret), lists the
 * images / LUNs as volumes, activates; done at the end. */
int storage_net_start(StoragePool *p, StorageDoneFn done, void *userdata);
int storage_net_stop(StoragePool *p, StorageDoneFn done, void *userdata);
int storage_net_refresh(StoragePool *p, StorageDoneFn done, void *userdata);
/* The first step of a create or delete job in a network pool (rbd: create / remove the image). */
void storage_net_run_create(StorageJob *j);
void storage_net_run_delete(StorageJob *j);
/* Pending calls of a pool going away (no callbacks). */
void storage_net_abandon(StoragePool *p);

/* One connection's worth of settings, copied for a thread (nothing points into the loop's objects). */
typedef struct StorageNetConn {
        StoragePoolType type;
        char *pool;                   /* the vmgmt pool's name, for messages */
        char *host;
        unsigned port;                /* 0: the default */
        char *source_name;            /* rbd: RADOS pool */
        char *device;                 /* iscsi: target IQN */
        char *initiator;              /* iscsi: our IQN */
        char *iface;                  /* iscsi (kernel): open-iscsi's iface, the pool's own with an initiator, else "default" */
        char *target_path;            /* iscsi (kernel): where udev's stable names of the LUNs are */
        char *username;               /* NULL: no authentication */
        uint8_t *secret;              /* the secret's value (wiped when freed) */
        size_t secret_len;
} StorageNetConn;

/* What a listing found: volumes (owned) and the pool's sizes. */
typedef struct StorageNetList {
        GPtrArray *vols;              /* StorageVolDef* */
        uint64_t capacity, allocation, available;
} StorageNetList;

/* In a thread: 0, or -errno with *error (malloc'd) in the library's words. */
int storage_rbd_list(const StorageNetConn *c, StorageNetList *out, char **error);
int storage_rbd_create(const StorageNetConn *c, const char *name, uint64_t size, char **error);
int storage_rbd_remove(const StorageNetConn *c, const char *name, char **error);
int storage_iscsi_direct_list(const StorageNetConn *c, StorageNetList *out, char **error);
/* The kernel initiator (storage-iscsiadm.c): node record (and iface) made when missing, CHAP set, logged
 * in, LUNs listed; *ret_*_created say what the login made (a failed one undoes it). */
int storage_iscsi_kernel_login(const StorageNetConn *c, StorageNetList *out, bool *ret_node_created,
                               bool *ret_iface_created, char **error);
/* The session rescanned and its LUNs listed. */
int storage_iscsi_kernel_list(const StorageNetConn *c, StorageNetList *out, char **error);
/* Logged out; the record and iface removed when the login made them. */
int storage_iscsi_kernel_logout(const StorageNetConn *c, bool node_created, bool iface_created, char **error);
/* open-iscsi iface name of a pool with an <initiator> ("vmgmt-" and hex of its UUID), malloc'd. */
char *storage_iscsi_iface_name(const unsigned char uuid[16]);
/* Under a sysfs root: the session id of target_iqn (of initiator when not NULL; -ENOENT when none),
 * and its disk and CD LUNs with block devices as volumes unit:B:T:L added to out (their number, or
 * -ENOENT when the session is gone); a volume's path is its stable name in by_path_dir when one
 * points at it, else /dev/NAME. */
int storage_iscsi_session_find(const char *sysfs, const char *target_iqn, const char *initiator, unsigned *ret_sid);
int storage_iscsi_session_luns(const char *sysfs, unsigned sid, const char *by_path_dir, StorageNetList *out);
/* Whether the library of a pool type was built in (dir, fs, netfs, iscsi: true). */
bool storage_pool_type_built_in(StoragePoolType t);

/* ---- volumes (storage-volume.c) ---- */

StorageVolume *storage_volume_new(StoragePool *p, StorageVolDef *def /* owned */, char **chain /* owned */);
void storage_volume_free(StorageVolume *v);
/* Inserts or updates the pool's volume named def->name, emitting added/changed. */
StorageVolume *storage_pool_put_volume(StoragePool *p, StorageVolDef *def, char **chain);
/* Removes and frees v, emitting volume_removed. */
void storage_pool_drop_volume(StoragePool *p, StorageVolume *v);
/* True when name is ".X.partial-…" (a temporary of ours). */
bool storage_name_is_temporary(const char *name);
/* True when a running job of the pool writes the temporary name. */
bool storage_pool_temporary_in_use(StoragePool *p, const char *name);
/* Cancels and frees every job of the pool without calling done. */
void storage_pool_abort_jobs(StoragePool *p);

/* ---- child processes (storage-child.c) ---- */

/* status: exit code, or 128+signal. out: stdout (NULL when streamed), err: stderr, both stripped. */
typedef void (*StorageChildDoneFn)(void *userdata, int status, const char *out, const char *err);
typedef void (*StorageChildOutputFn)(void *userdata, const char *data, size_t n);

/* Runs argv[0] (absolute) with a clean environment, stdin /dev/null, cwd
 * cwd_fd (or "/" when < 0), fd3 as fd 3 (when ≥ 0), nothing else inherited.
 * With output_fn, stdout is streamed to it; else collected. done runs once
 * after exit (not when the child is freed first). */
int storage_child_spawn(StorageDriver *d, char *const *argv, int cwd_fd, int fd3, StorageChildOutputFn output_fn,
                        StorageChildDoneFn done, void *userdata, StorageChild **ret);
/* Kills (SIGKILL) and reaps a running child; done is not called. NULL-safe. */
StorageChild *storage_child_free(StorageChild *c);
/* Kills the child (SIGKILL) should it still run after usec (0: never);
 * done then gets 128+SIGKILL and an err that says so. 0 or a negative errno. */
int storage_child_set_timeout(StorageChild *c, uint64_t usec);
void storage_child_terminate(StorageChild *c);   /* SIGTERM, done follows */
char *storage_find_program(const char *name);

/* ---- worker threads (storage-worker.c) ---- */

typedef enum StorageWorkKind {
        STORAGE_WORK_COPY_FILE,   /* file → file, sparse-aware (SEEK_DATA/SEEK_HOLE + copy_file_range) */
        STORAGE_WORK_STREAM,      /* any fd → any fd (pipes, sockets), zero blocks skipped when dst_sparse */
        STORAGE_WORK_ZERO,        /* overwrite the allocated extents of dst with zeros */
        STORAGE_WORK_ALLOCATE,    /* fallocate dst [0, length), zeros written where unsupported */
} StorageWorkKind;

typedef void (*StorageWorkDoneFn)(void *userdata, int r, const char *side /* "reading", "writing" or NULL */);

struct StorageWork {
        StorageWorkKind kind;
        int src_fd, dst_fd;           /* owned; -1 when unused */
        uint64_t offset;              /* where to start reading (STREAM, COPY) */
        uint64_t length;              /* bytes; 0 = until EOF (STREAM) */
        bool dst_sparse;              /* STREAM: seek over zero blocks instead of writing them */
        bool fsync;                   /* fsync dst at the end */
        _Atomic uint64_t processed;
        _Atomic bool cancel;
        uint64_t written_end;         /* STREAM: end offset of what was written (for ftruncate) */
        int error;                    /* -errno */
        const char *side;
        int efd;
        pthread_t thread;
        bool started;
        sd_event_source *source;
        StorageWorkDoneFn done;
        void *userdata;
};

/* Starts the work in a thread; done runs on the loop when it ends. */
int storage_work_start(StorageDriver *d, StorageWork *w, StorageWorkDoneFn done, void *userdata);
/* Cancels, joins and frees (fds closed). NULL-safe. */
StorageWork *storage_work_free(StorageWork *w);
StorageWork *storage_work_new(StorageWorkKind kind);

/* One blocking system call (or a few) on a pool's target, which a dead NFS
 * server can hold forever: fn(arg) runs in a detached thread of its own and
 * done(userdata, arg, r) on the loop with fn's result. arg belongs to the
 * call (free_arg after done, or after fn when abandoned) and must not point
 * into loop-side objects. *ret may be NULL. 0 or -errno (arg freed). */
typedef int (*StorageCallFn)(void *arg);
typedef void (*StorageCallDoneFn)(void *userdata, void *arg, int r);
int storage_call_start(StorageDriver *d, StorageCallFn fn, void *arg, void (*free_arg)(void *arg),
                       StorageCallDoneFn done, void *userdata, StorageCall **ret);
/* Forgets the call: done is never called; a thread still blocked frees arg
 * when it returns. NULL-safe, returns NULL. */
StorageCall *storage_call_abandon(StorageCall *c);

/* ---- probing and refresh (storage-probe.c) ---- */

/* def (owned by the callee's receiver) and chain describe name in the pool; r < 0: message. */
typedef void (*StorageProbeDoneFn)(void *userdata, StorageProbe *pr, int r, const char *message, StorageVolDef *def,
                                   char **chain);

/* Probes one file of the pool (not a symlink) with qemu-img info. */
int storage_probe_start(StoragePool *p, const char *name, StorageProbeDoneFn done, void *userdata, StorageProbe **ret);
/* The same for a file whose stat (and ISO check) was taken in a thread: no call on the pool's files here. */
struct stat;
int storage_probe_start_stat(StoragePool *p, const char *name, const struct stat *st, bool iso, StorageProbeDoneFn done,
                             void *userdata, StorageProbe **ret);
/* True when the file name in dirfd is an ISO 9660 image (reads it: call it in a thread). */
bool storage_file_is_iso(int dirfd, const char *name, const struct stat *st);
StorageProbe *storage_probe_free(StorageProbe *pr);   /* done not called */

void storage_refresh_free(StorageRefresh *rf);
/* Ends a running refresh: its waiters get -ECANCELED. */
void storage_refresh_abort(StoragePool *p);
