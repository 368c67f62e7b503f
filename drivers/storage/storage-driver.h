/* storage-driver.h — the storage driver: pools (dir, fs, netfs) and their volumes; the contract the service wraps.
 *
 * Nothing here knows D-Bus. The service owns pool definitions (persistence,
 * autostart, names and UUIDs unique across pools) and the bus objects; the
 * driver owns what is on disk: it builds, mounts, scans and unmounts pools,
 * keeps each active pool's volume list and statvfs numbers current, and runs
 * every volume operation. Everything runs on the one sd_event loop and
 * nothing blocks it for long: qemu-img, mount and umount are child processes
 * watched through pidfds; copies, wipes, uploads and downloads run in a
 * worker thread that reports through an eventfd. Calls on a pool's target
 * that a dead NFS server could hold run in a detached thread of its own and
 * the operation completes when it returns: realpath, the mount table, open
 * and statvfs of the target (start, stop, build's mkdir, the periodic
 * sizes, delete's rmdir), the directory scan of a refresh, and for volumes the first step
 * of every job (the name check, creating the temporary, opening the volume
 * or the source, ftruncate), a delete, and the end of every job (rename
 * into place, fsync, stat) or of a failed one (removing its temporary, then
 * the failure is reported). Still on the loop: the cleanup when a pool or
 * the driver is freed (the daemon going away), and removing a new file that
 * qemu-img info could not describe.
 *
 * Errors are negative errno values plus a human message (in the OS's or
 * qemu-img's words), mapped to bus errors by the service:
 *   -EINVAL  bad argument (invalid name, shrinking without the flag…) → InvalidArgs
 *   -EEXIST  a volume of that name exists                        → AlreadyExists
 *   -ENOENT  no such volume / backing file                      → NoSuchVolume / OperationFailed
 *   -EBUSY   a job uses the volume or pool                       → Busy
 *   -EALREADY / -ENOTCONN  pool already active / not active      → InvalidState
 *   -EOPNOTSUPP  valid but unsupported (create vmdk…)            → NotSupported
 *   -ECANCELED   the job was cancelled                           → Cancelled
 *   -ENOTEMPTY   pool delete of a directory that holds files     → InvalidState
 *   -ELOOP       the volume's file was replaced by a symlink     → OperationFailed
 *   -ENOSPC, -EIO, …  "no space left on pool 'x' while …"        → OperationFailed
 *
 * Asynchronous calls return 0 and later call their completion callback
 * exactly once (also on failure; from the event loop, never from inside the
 * call), or return a negative errno at once, and then never call it. They
 * return at once only for what needs no message: -EINVAL (invalid volume
 * name), -ENOTCONN (pool not active), -EALREADY, -EBUSY, -EEXIST (another
 * job is making that name), -EOPNOTSUPP, -ENOMEM; every other failure
 * (no such file, disk full, qemu-img's or mount's complaint, a file of that
 * name already in the pool…) comes through the callback with a message.
 * The callbacks of a pool's pending operations are NOT called when the pool
 * or the driver is freed (the service is going away with them).
 *
 * Safety: a volume name never leaves its pool (storage_vol_name_validate();
 * every file is reached with openat() relative to the pool's directory fd,
 * O_NOFOLLOW, symlinks in the pool are never followed nor listed; where
 * qemu-img must open a file by its path, it is checked not to be a symlink
 * just before). A volume
 * being created, cloned or uploaded is written under a hidden temporary name
 * `.NAME.partial-XXXXXX` and renamed into place only when complete, so a
 * failure, a cancel or a daemon crash never leaves a half-made volume that
 * looks complete; a refresh removes stale temporaries. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "conf/storage-conf.h"

typedef struct StorageDriver StorageDriver;
typedef struct StoragePool StoragePool;
typedef struct StorageVolume StorageVolume;
typedef struct StorageJob StorageJob;

/* ---- callbacks ---- */

typedef struct StorageDriverEvents {
        /* The pool's Active state or its capacity/allocation/available changed. */
        void (*pool_changed)(void *userdata, StoragePool *pool);
        /* A volume appeared in an active pool (created, cloned, found by refresh). */
        void (*volume_added)(void *userdata, StorageVolume *vol);
        /* A volume's format, sizes or backing store changed (resize, wipe, upload, refresh). */
        void (*volume_changed)(void *userdata, StorageVolume *vol);
        /* A volume is going away (deleted, vanished at refresh, pool stopped);
         * vol is freed right after this returns. */
        void (*volume_removed)(void *userdata, StorageVolume *vol);
        /* The value of a secret for an rbd or iscsi pool's <auth> (usage_type "ceph" or
         * "iscsi", usage_or_uuid its usage id or UUID): a malloc'd copy the driver wipes
         * and frees. 0, -ENOENT (no such secret), -ENODATA (no value). NULL: none known. */
        int (*lookup_secret)(void *userdata, const char *usage_type, const char *usage_or_uuid, uint8_t **ret,
                             size_t *ret_len);
        void *userdata;
} StorageDriverEvents;

/* Completion of a short asynchronous operation (build, start, stop, refresh, resize). */
typedef void (*StorageDoneFn)(void *userdata, int r, const char *message);

/* A job: a long volume operation (create, clone, wipe, upload, download). */
typedef struct StorageJobCallbacks {
        /* Progress, at most a few times a second and once more at the end;
         * total is 0 when unknown (upload of unknown length). May be NULL. */
        void (*progress)(void *userdata, uint64_t processed, uint64_t total);
        /* Completion: r = 0 and vol (the new or changed volume; for download the
         * source) or -errno with message (-ECANCELED after storage_job_cancel()).
         * The job is freed right after this returns. */
        void (*done)(void *userdata, int r, const char *message, StorageVolume *vol);
        void *userdata;
} StorageJobCallbacks;

/* ---- driver ---- */

/* Creates the driver on event; finds qemu-img (VMGMT_QEMU_IMG in the
 * environment overrides the PATH search). events is copied. 0 or -errno. */
int storage_driver_new(sd_event *event, const StorageDriverEvents *events, StorageDriver **ret);
/* Cancels every job (their temporaries are removed, their done callbacks are
 * NOT called), frees every pool; leaves mounts mounted. NULL-safe, returns NULL. */
StorageDriver *storage_driver_free(StorageDriver *d);

/* Whether pools of type t can be started here: rbd needs librbd, iscsi-direct
 * libiscsi built in (the others always; iscsi's start then says what is missing). */
bool storage_driver_pool_type_supported(StoragePoolType t);

/* How often active pools' Capacity/Allocation/Available are read again
 * (fstatvfs in a thread; pool_changed only when a value moved). 0 = never. */
#define STORAGE_STATS_INTERVAL_USEC_DEFAULT (30 * 1000000ULL)
void storage_driver_set_stats_interval(StorageDriver *d, uint64_t usec);

/* How long one probe of a volume (qemu-img info --backing-chain) may take
 * before it is killed and the volume reported unreadable: a backing file
 * that never opens (a FIFO, a dead mount) must not hold a Refresh forever. */
#define STORAGE_PROBE_TIMEOUT_USEC_DEFAULT (30 * 1000000ULL)
void storage_driver_set_probe_timeout(StorageDriver *d, uint64_t usec);

/* The volume whose path is path in any active pool, or NULL. */
StorageVolume *storage_driver_find_volume_by_path(StorageDriver *d, const char *path);

/* ---- pools ---- */

/* Registers a pool (inactive) for def (copied; normalized by the caller).
 * owner is the service's object, handed back by storage_pool_get_owner(). */
int storage_pool_new(StorageDriver *d, const StoragePoolDef *def, void *owner, StoragePool **ret);
/* Cancels the pool's jobs and pending start/stop/refresh (no callbacks),
 * drops its volumes (no events), leaves its mount. NULL-safe, returns NULL. */
StoragePool *storage_pool_free(StoragePool *p);
/* Replaces the definition of an inactive pool (-EBUSY when active). */
int storage_pool_set_def(StoragePool *p, const StoragePoolDef *def);

void *storage_pool_get_owner(StoragePool *p);
/* The definition with capacity/allocation/available of the last update (0 while inactive). */
const StoragePoolDef *storage_pool_get_def(StoragePool *p);
/* The image tool the driver runs (qemu-img, or $VMGMT_QEMU_IMG), absolute; NULL when there is none. */
const char *storage_driver_image_tool(StorageDriver *d);
bool storage_pool_is_active(StoragePool *p);
/* The pool's volumes sorted by name (malloc'd array, *ret_n entries; the
 * volumes belong to the pool). Inactive: an empty list. 0 or -ENOMEM. */
int storage_pool_list_volumes(StoragePool *p, StorageVolume ***ret, size_t *ret_n);
StorageVolume *storage_pool_find_volume(StoragePool *p, const char *name);

typedef enum StoragePoolBuildFlags {
        STORAGE_POOL_BUILD_OVERWRITE    = 1 << 0,   /* fs: make a filesystem on the device, whatever is there */
        STORAGE_POOL_BUILD_NO_OVERWRITE = 1 << 1,   /* fs: make one only when the device holds none (else -EEXIST) */
} StoragePoolBuildFlags;

/* Creates the target directory (and its parents) with the definition's
 * mode (default 0711), owner and group; an existing directory gets them
 * applied. For an fs pool with one of the flags, also makes the filesystem
 * (mkfs -t FORMAT DEVICE, ext4 for auto; blkid checks first for
 * NO_OVERWRITE) in a child process. Pool inactive; done when finished. */
int storage_pool_build(StoragePool *p, StoragePoolBuildFlags flags, StorageDoneFn done, void *userdata);

/* Makes the pool active: fs mounts the device (mount -t FORMAT DEVICE TARGET),
 * netfs the export (mount -t nfs HOST:DIR TARGET) unless it is already
 * mounted there; then opens the target and scans it (as refresh). done when
 * the volumes are known. -EALREADY when active. */
int storage_pool_start(StoragePool *p, StorageDoneFn done, void *userdata);

/* Makes the pool inactive: every volume is reported removed, fs/netfs are
 * unmounted (umount TARGET). -EBUSY while a job runs in it, -ENOTCONN when inactive. */
int storage_pool_stop(StoragePool *p, StorageDoneFn done, void *userdata);

/* Removes the (empty) target directory of an inactive pool. -ENOTEMPTY with a
 * message when it holds files, -EBUSY when active. Synchronous. */
int storage_pool_delete(StoragePool *p, char **error);
/* The same with the rmdir in a thread; done with the result (-ENOTEMPTY and
 * a message when it holds files). -EBUSY at once when active or busy. */
int storage_pool_delete_async(StoragePool *p, StorageDoneFn done, void *userdata);

/* Rescans the target: every regular file and block device (not symlinks, not
 * hidden temporaries, which are removed when stale) becomes a volume with its
 * real format, virtual size, allocation and backing chain from `qemu-img info
 * --backing-chain` (several files probed in parallel); volumes that vanished
 * are removed; statvfs numbers updated. -ENOTCONN when inactive. */
int storage_pool_refresh(StoragePool *p, StorageDoneFn done, void *userdata);

/* ---- volumes ---- */

/* name, key (= path), path, format, capacity, allocation, physical,
 * permissions (mode/owner/group as on disk), backing store. */
const StorageVolDef *storage_volume_get_def(StorageVolume *v);
StoragePool *storage_volume_get_pool(StorageVolume *v);
void storage_volume_set_owner(StorageVolume *v, void *owner);
void *storage_volume_get_owner(StorageVolume *v);
/* The backing chain below the volume (paths, nearest first); n may be 0. */
const char *const *storage_volume_get_backing_chain(StorageVolume *v, size_t *ret_n);
/* True while a job reads or writes the volume. */
bool storage_volume_is_busy(StorageVolume *v);

/* Creates a volume from def (name, capacity, format raw or qcow2, allocation,
 * permissions, backing store; qcow2 only for a backing store). raw: sparse
 * (ftruncate), or allocated (fallocate) when allocation ≥ capacity; qcow2:
 * qemu-img create [-b BACKING -F FMT] (preallocation=metadata only with the flag of _full). A job
 * (cancellable; no progress for sparse files). *ret_job may be NULL. */
int storage_volume_create(StoragePool *p, const StorageVolDef *def, const StorageJobCallbacks *cb, StorageJob **ret_job);

typedef enum StorageVolumeCreateFlags {
        /* qcow2: qemu-img create -o preallocation=metadata (raw: -EINVAL through done) */
        STORAGE_VOLUME_CREATE_PREALLOC_METADATA = 1 << 0,
} StorageVolumeCreateFlags;

/* storage_volume_create() with flags. */
int storage_volume_create_full(StoragePool *p, const StorageVolDef *def, StorageVolumeCreateFlags flags,
                               const StorageJobCallbacks *cb, StorageJob **ret_job);

/* Creates a volume from def as a copy of src (any pool of this driver):
 * raw → raw is a sparse-aware copy in a worker thread, every other pair
 * qemu-img convert -p (backing chain flattened unless def names a backing
 * store). def's capacity, when larger than src's, grows the copy; format
 * defaults to src's. Progress in bytes of src's virtual size. */
int storage_volume_clone(StoragePool *p, const StorageVolDef *def, StorageVolume *src, const StorageJobCallbacks *cb,
                         StorageJob **ret_job);

typedef enum StorageVolumeDeleteFlags {
        STORAGE_VOLUME_DELETE_ZEROED = 1 << 0,   /* not supported: -EOPNOTSUPP */
} StorageVolumeDeleteFlags;

/* Removes the volume (unlinkat) and reports it removed; v is freed. -EBUSY
 * while a job uses it. Synchronous: for tools and tests; the daemon uses
 * storage_volume_delete_async(). */
int storage_volume_delete(StorageVolume *v, StorageVolumeDeleteFlags flags, char **error);
/* The same with the unlink in a thread (a dead NFS server holds it, not the
 * loop); done when the volume is gone (v is freed then) or with the error. */
int storage_volume_delete_async(StorageVolume *v, StorageVolumeDeleteFlags flags, StorageDoneFn done, void *userdata);

typedef enum StorageVolumeResizeFlags {
        STORAGE_VOLUME_RESIZE_ALLOCATE = 1 << 0,   /* raw: allocate the new space (fallocate) */
        STORAGE_VOLUME_RESIZE_DELTA    = 1 << 1,   /* capacity is added to the current one */
        STORAGE_VOLUME_RESIZE_SHRINK   = 1 << 2,   /* allow making it smaller (else -EINVAL) */
} StorageVolumeResizeFlags;

/* New virtual size: raw ftruncate (+fallocate), qcow2 qemu-img resize
 * [--shrink]. Other formats -EOPNOTSUPP. done when finished. */
int storage_volume_resize(StorageVolume *v, uint64_t capacity, StorageVolumeResizeFlags flags, StorageDoneFn done,
                          void *userdata);

/* Overwrites the data with zeros in a worker (raw: every byte of the file;
 * qcow2: recreated empty with the same size and backing store, as libvirt's
 * default algorithm). A job. */
int storage_volume_wipe(StorageVolume *v, const StorageJobCallbacks *cb, StorageJob **ret_job);

/* Replaces the volume's content with the bytes read from fd (until EOF, or
 * length bytes when length > 0; fewer is an error): written to a temporary
 * (zero blocks left as holes) and renamed over the volume when complete, so
 * a failed or cancelled upload leaves the old content. The volume's size
 * becomes what was uploaded; its format is probed afresh. Only offset 0 and
 * file volumes (-EOPNOTSUPP otherwise). fd is duplicated; the caller keeps
 * its own (a pipe, a socket or a file; blocking or not). A job. */
int storage_volume_upload(StorageVolume *v, int fd, uint64_t offset, uint64_t length, const StorageJobCallbacks *cb,
                          StorageJob **ret_job);

/* Writes the volume's bytes (the file as it is on disk) from offset (length
 * bytes, 0 = to the end) to fd. A reader that goes away ends it with -EPIPE
 * (never a SIGPIPE). Allowed while other downloads run. A job. fd is duplicated. */
int storage_volume_download(StorageVolume *v, int fd, uint64_t offset, uint64_t length, const StorageJobCallbacks *cb,
                            StorageJob **ret_job);

/* ---- jobs ---- */

/* Asks the job to stop; its done callback follows with -ECANCELED (or with
 * the result when it had already finished). Idempotent. */
void storage_job_cancel(StorageJob *j);
void storage_job_get_progress(StorageJob *j, uint64_t *ret_processed, uint64_t *ret_total);
/* "create", "clone", "wipe", "upload", "download" (API.md Job.Type). */
const char *storage_job_type(StorageJob *j);
