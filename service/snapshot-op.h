/* snapshot-op.h — one snapshot operation (CreateSnapshot, Revert, Delete) as snapshot-op.c runs it, shared
 * with snapshot-external.c, which does what external (disk-only) snapshots need: revert onto new overlays,
 * deletion by merging the overlays into the images below them. Private to those two files. */
#pragma once

#include <stdbool.h>

#include "domain-files.h"
#include "snapshot.h"

typedef enum SnapOpKind { SNAP_OP_CREATE, SNAP_OP_REVERT, SNAP_OP_DELETE } SnapOpKind;

typedef struct SnapOp {
        DriverJob proxy;                /* first: offline image changes, what the Job cancels (see snap_images_done) */
        SnapOpKind kind;
        VmDomain *domain;               /* a reference */
        sd_bus_message *message;        /* the call; answered with the Job (create) or at the end */
        SnapshotDef *def;               /* create: the new snapshot's metadata */
        char *name;                     /* the snapshot worked on */
        char **delete_names;            /* delete: the snapshots whose metadata goes at the end */
        bool no_metadata;
        bool live;
        DriverSnapshotFlags flags;
        GArray *disks;                  /* indexes into the definition */
        DomainDef *files_def;           /* offline: what the files were opened for */
        VmDomainFilesJob *files_job;
        VmDomainJob *dj;
        bool external;                  /* create: disk-only, new overlays */
        bool started;                   /* revert: the domain was started (paused) for it: stopped again on failure */
        bool start_after;               /* revert to an offline snapshot with running/paused: started once the disks are back */
        DriverStartFlags start_flags;
        VmCallerFiles *overlays;        /* external: the overlay files, created as the caller (then the backings, read) */
        char **overlay_paths;           /* external: one per disks[] (delete: the snapshot's overlays) */
        char **backing_paths;           /* external offline create, revert: each overlay's backing; delete: each base */
        char **backing_formats;
        char **targets;                 /* external delete: the disks */
        size_t ext_next;                /* external delete, live: the disk being committed */
        VmCallerFiles *chains;          /* external delete, offline: each disk's chain (read-only) */
        VmCallerFiles *writable;        /* … each base and the layer above the overlay (read-write) */
        size_t *depths;                 /* … the overlay's depth in each chain */
        size_t *writable_above;         /* … the request of the layer above (SIZE_MAX: none, the overlay is on top) */
        DriverImageOp *image_ops;       /* offline: what the driver does to the images */
        size_t n_image_ops;
        GPtrArray *image_layers;        /* … the arrays the ops' below point into */
        DriverJob *image_job;           /* the driver's, until its done */
        DriverJobCallbacks job_cb;      /* the Job's */
        unsigned files_pending;         /* renames/unlinks before the Job reports the end */
        bool files_finished;            /* the overlays have their names already */
        char *memory_file;              /* external with memory: the file (create: request disks->len of overlays) */
        DriverSnapshotFlags memory_flags;
        VmCallerFiles *memory;          /* revert with memory: the file, opened to read as the caller */
} SnapOp;

/* ---- snapshot-op.c ---- */

/* Frees op (GDestroyNotify of its Job): removes overlays created and not finished, cancels an opening. */
void snap_op_free(void *p);
/* Answers op's call (if still unanswered) with r and message, as "Failed to VERB 'SNAP' of domain 'D'". */
void snap_op_reply_error(SnapOp *op, int r, const char *message);
/* The end of op's work (its Job's finish, or called directly): the metadata and definitions follow, the
 * call is answered (or the next deletion queued). Does not free op. */
void snap_op_finish(VmDomain *d, int r, const char *message, void *userdata);
/* Hands op to the driver as an org.vmgmt.Job "snapshot" (files: the images opened, offline). Takes op. */
void snap_op_run(SnapOp *op, const DriverFiles *files);
/* Creates op's overlays as the caller (and opens their backings to read, offline), then runs op. Takes op. */
int snap_op_create_overlays(SnapOp *op, sd_bus_error *error);
/* Whether s has an external disk. */
bool snapshot_is_external(const VmSnapshot *s);

/* ---- snapshot-store.c (beside snapshot.h's) ---- */

/* Notes that vmgmt made s's memory file (external create): its deletion removes it. 0 or a negative errno. */
int vm_snapshot_store_mark_memory_made(const VmSnapshot *s);
/* Whether vmgmt made s's memory file (a redefined snapshot's is the caller's: kept). */
bool vm_snapshot_store_memory_made(const VmSnapshot *s);

/* Notes (add) or forgets that vmgmt made overlay `path` for a revert of d. 0 or a negative errno. */
int vm_snapshot_store_revert_overlay(const VmDomain *d, const char *path, bool add);
/* Whether vmgmt made overlay `path` for a revert of d (and it was not removed since). */
bool vm_snapshot_store_is_revert_overlay(const VmDomain *d, const char *path);

/* ---- snapshot-external.c ---- */

/* Revert to external s of shut-off d: a new overlay per disk on the image it had when s was taken. Takes op. */
int snap_op_revert_external(SnapOp *op, const VmSnapshot *s, sd_bus_error *error);
/* Deletion of external s: its overlays merged into the images below them and removed. Takes op. */
int snap_op_delete_external(SnapOp *op, const VmSnapshot *s, sd_bus_error *error);
/* Offline overlays (create, revert) once created and their backings open: op's image changes.
 * 0, or a negative errno with *ret_message (static). */
int snap_op_overlay_ops(SnapOp *op, const char **ret_message);
/* An offline deletion's images are merged: the definitions follow (the overlays were removed already). */
void snap_delete_offline_done(SnapOp *op);
/* Saves d's persistent definition (changed in place) with a new generation and signals what changed. */
void snap_op_save_persistent_def(VmDomain *d, DomainDef *def);
