/* snapshot.h — a domain's snapshots as the service keeps them: the objects (snapshot-dbus.c) and their
 * metadata on disk (snapshot-store.c), CONFIG/DRIVER/snapshot/DOMAIN/SNAP.xml and a file `current`. */
#pragma once

#include <stdbool.h>

#include "conf/snapshot-conf.h"
#include "domain.h"

struct VmSnapshot {
        VmDomain *domain;          /* borrowed: the domain owns its snapshots */
        SnapshotDef *def;          /* owned: name, parent's name, state, disks, … */
        char *path;                /* /org/vmgmt/domain/ENCODED/snapshot/ENCODED */
        bool on_bus;
};

/* A new snapshot object of d for def (taken), not yet in d's list. NULL: out of memory (def freed). */
VmSnapshot *vm_snapshot_new(VmDomain *d, SnapshotDef *def);
/* The parent of s in its domain, NULL for a root (or a parent whose metadata is gone). */
VmSnapshot *vm_snapshot_parent(const VmSnapshot *s);

/* ---- snapshot-op.c ---- */

/* org.vmgmt.Snapshot.Revert(a{sv}) and Delete(a{sv}), answered when done. */
int vm_snapshot_method_revert(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_snapshot_method_delete(sd_bus_message *message, void *userdata, sd_bus_error *error);

/* ---- snapshot-store.c ---- */

/* The directory of d's snapshot metadata (g_free'd): CONFIG/DRIVER/snapshot/NAME. */
char *vm_snapshot_store_dir(const VmDomain *d, const char *name);
/* Writes s's XML durably (atomic replace). 0 or a negative errno. */
int vm_snapshot_store_write(const VmSnapshot *s);
/* Removes s's file. 0 or a negative errno. */
int vm_snapshot_store_remove(const VmSnapshot *s);
/* Records which snapshot of d is current (NULL: none). 0 or a negative errno. */
int vm_snapshot_store_write_current(const VmDomain *d);
/* Loads d's snapshots into d->snapshots (on the bus, not signalled) and its
 * current one; broken files are logged and skipped. */
void vm_snapshot_store_load(VmDomain *d);
/* Start-up, once every domain is defined or recovered: one look at each
 * driver's CONFIG/DRIVER/snapshot/ and vm_snapshot_store_load() of the
 * domains that have a directory there (not an opendir per domain). */
void vm_snapshot_store_load_all(Manager *m);
/* Moves d's metadata to the directory of new_name (Rename). 0 or a negative errno. */
int vm_snapshot_store_rename(const VmDomain *d, const char *new_name);
/* Removes every file of d's metadata and its directory (Undefine with snapshots). */
void vm_snapshot_store_remove_all(const VmDomain *d);
