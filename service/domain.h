/* domain.h — a domain as the service sees it: definitions, state, persistence and its place in the registry. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "driver.h"
#include "macro.h"
#include "job.h"
#include "manager.h"

typedef struct VmDomainProps VmDomainProps;
/* A snapshot of a domain (snapshot-dbus.c, the snapshot kind). */
typedef struct VmSnapshot VmSnapshot;

struct VmDomain {
        unsigned n_ref;
        Manager *manager;

        char *name;
        char uuid[37];
        char *path;                /* /org/vmgmt/domain/ENCODED */
        char *config_file;         /* CONFIG/DRIVER/NAME.xml, in its driver's directory; NULL while not persistent */
        VmDriver *drv;             /* the driver of def's type (of the running one's while active) */

        DomainDef *def;            /* inactive definition; for an active domain the one it started with */
        DomainDef *newdef;         /* a redefinition made while active, applied when it stops */
        bool persistent;
        bool autostart;
        bool has_managed_save;      /* STATE/save/UUID.save exists (domain-save.c keeps it) */
        uint64_t generation;

        DriverRuntime *rt;         /* set while starting and active */
        struct VmStart *starting;  /* before rt: the start's files are being opened (vm_domain_start) */
        DomainState state;
        char *reason;
        int id;
        uint64_t start_time;

        GPtrArray *snapshots;      /* VmSnapshot*, owned (snapshot.h) */
        VmSnapshot *current_snapshot;   /* one of snapshots, or NULL */
        struct SnapOp *snapshot_op;     /* a snapshot operation under way (snapshot-dbus.c): no start meanwhile */

        bool hidden;               /* a transient domain still starting: not on the bus yet */
        bool keep_tpm;             /* undefined with keep_tpm while active: its TPM state outlives it */
        GArray *hidden_events;     /* DomainEvents held back while hidden (pairs of static strings) */

        /* who asked for the change in progress, for DomainEvent's uid/pid */
        bool cause_set;
        uid_t cause_uid;
        pid_t cause_pid;
};

/* The values of every changing property, to signal exactly those that changed. */
struct VmDomainProps {
        DomainState state;
        char *reason;
        uint32_t id;
        bool persistent, autostart;
        uint64_t generation, start_time;
        uint32_t vcpus;
        uint64_t memory_kib, max_memory_kib;
        char *title, *description;
        char *security_model, *security_label;
};

/* The driver's security model and label of d (a label only while it runs). */
void vm_domain_security(const VmDomain *d, DriverSecurity *ret);

/* Creates a domain from def (ownership taken, normalized, with UUID) and adds
 * it to the registry (by name and UUID). Nothing is signalled. Returns 0 or a
 * negative errno (-EOPNOTSUPP: no driver runs its type); on failure def is
 * freed. */
int vm_domain_new(Manager *m, DomainDef *def, bool persistent, VmDomain **ret);
VmDomain *vm_domain_ref(VmDomain *d);
VmDomain *vm_domain_unref(VmDomain *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(VmDomain *, vm_domain_unref);

/* snapshot-dbus.c: frees a VmSnapshot (a GDestroyNotify); the snapshot of d named name, or NULL. */
void vm_snapshot_free(void *s);
VmSnapshot *vm_snapshot_find(VmDomain *d, const char *name);
/* snapshot-dbus.c: Domain.CreateSnapshot(s xml, a{sv}) → o and ListSnapshots(a{sv}) → ao. */
int vm_domain_method_create_snapshot(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_list_snapshots(sd_bus_message *message, void *userdata, sd_bus_error *error);
/* snapshot-store.c: loads d's snapshot metadata (start-up); moves it to new_name (Rename); removes it all. */
void vm_snapshot_store_load(VmDomain *d);
int vm_snapshot_store_rename(const VmDomain *d, const char *new_name);
void vm_snapshot_store_remove_all(const VmDomain *d);
/* snapshot-dbus.c: the object path of s; removes every snapshot of d with its metadata (Undefine's
 * snapshots option); after a rename, moves d's snapshot objects to their new paths. */
const char *vm_snapshot_path(const VmSnapshot *s);
void vm_snapshots_drop(VmDomain *d);
void vm_snapshots_repath(VmDomain *d);

/* Removes d from the registry; signals InterfacesRemoved when it was on the bus. */
void vm_domain_remove(VmDomain *d);

VmDomain *vm_domain_find_by_name(Manager *m, const char *name);
/* 0, or AlreadyExists (returned as a negative errno, set in error) when a
 * domain named `name` would write a log file of another domain than `self`
 * (the driver's log_clash: X-console.log can be both the hypervisor's log of
 * X-console and the console log of X). */
int vm_domain_check_log_clash(Manager *m, const char *name, const VmDomain *self, sd_bus_error *error);
/* Adds d to (or removes it from) the index vm_domain_check_log_clash() looks in, under d's name. */
void vm_domain_clash_index(VmDomain *d, bool add);
VmDomain *vm_domain_find_by_uuid(Manager *m, const char *uuid);
/* Name or UUID (with or without dashes). */
VmDomain *vm_domain_find(Manager *m, const char *name_or_uuid);
/* The domain an object path names; NULL when none (or hidden). */
VmDomain *vm_domain_find_by_path(Manager *m, const char *path);

bool vm_domain_is_active(const VmDomain *d);
/* The definition callers see: the live one while active, else the inactive one. */
const DomainDef *vm_domain_current_def(const VmDomain *d);
/* The persistent definition: the pending one if any, else def. */
const DomainDef *vm_domain_inactive_def(const VmDomain *d);

/* ---- persistence (domain-store.c) ---- */

/* Loads every NAME.xml (and autostart link) of every registered driver's
 * directory, CONFIG/DRIVER (vm_domain_kind's persistence). Returns 0 or a
 * negative errno; broken files, and files of a type another driver runs, are
 * logged and skipped. */
int vm_domain_store_load(Manager *m);
/* Writes def as d's (new) persistent definition with `generation`, durably,
 * under the file name that fits `name` in the directory of the driver that
 * runs def. *ret_file gets the file's path. Returns 0 or a negative errno
 * (-EOPNOTSUPP: no driver runs def's type); on failure nothing on disk
 * changed. */
int vm_domain_store_write(Manager *m, const DomainDef *def, uint64_t generation, char **ret_file);
/* Group commit of definition writes. The definition is formatted at once and
 * queued; when the bus has no more ready messages (or the batch is full), the
 * batch is written, fsynced, renamed and its directories synced in a thread
 * of its own (one batch at a time: what comes meanwhile is the next), and
 * then fn(userdata, r, file) is called on the loop: r = 0 when the new
 * definition is durable under `file` (ownership passed), else a negative
 * errno (a write error too) and nothing on disk changed. Every other store
 * operation flushes (waits for) pending writes first, so operations hit the
 * disk in the order they were made. Returns 0 or a negative errno (fn not
 * called). */
typedef void (*VmStoreCommitFn)(void *userdata, int r, char *file);
int vm_domain_store_write_batched(Manager *m, const DomainDef *def, uint64_t generation, VmStoreCommitFn fn,
                                  void *userdata);
/* True when a batched write for this name or UUID is pending. */
bool vm_domain_store_pending(Manager *m, const char *name, const char *uuid);
/* Commits every pending write now, waiting for the batch in the thread (calling their fns). */
void vm_domain_store_flush(Manager *m);

/* Removes the definition file and the autostart link. */
int vm_domain_store_remove(Manager *m, const char *config_file);
/* Creates or removes the autostart link for config_file. */
int vm_domain_store_set_autostart(Manager *m, const char *config_file, bool autostart);

/* ---- changes and signals ---- */

/* Takes a copy of every changing property (strings copied: the domain may
 * free its own while changing). */
void vm_domain_props_get(const VmDomain *d, VmDomainProps *ret);
/* Emits PropertiesChanged for every property that differs from `before`, and
 * frees `before`'s strings. Every vm_domain_props_get() is paired with it. */
void vm_domain_props_emit_changes(VmDomain *d, VmDomainProps *before);
/* Frees a snapshot that is not going to be emitted. */
void vm_domain_props_clear(VmDomainProps *p);
/* DomainEvent for d, held back while d is hidden. */
void vm_domain_emit_event(VmDomain *d, const char *event, const char *detail);
/* Records the caller of message as the cause of the following events. */
void vm_domain_set_cause(VmDomain *d, sd_bus_message *message);
void vm_domain_clear_cause(VmDomain *d);
/* Puts a hidden domain on the bus: InterfacesAdded, then the held-back events. */
void vm_domain_unhide(VmDomain *d);

/* ---- operations waiting for the driver ---- */

/* A call (or internal action) whose completion comes from a DriverDoneFn.
 * Registered with the manager, so that at exit, when the driver is freed
 * without completing it, the caller still gets an answer and nothing leaks. */
typedef struct VmOp {
        Manager *manager;
        VmDomain *domain;          /* a reference */
        sd_bus_message *message;   /* the call to answer; NULL for autostart */
        const char *verb;          /* "start", "create", "shutdown", … */
} VmOp;

VmOp *vm_op_new(VmDomain *d, sd_bus_message *message, const char *verb);
/* Unregisters and frees op. */
void vm_op_free(VmOp *op);
/* Answers every registered op with an error and frees it (after the driver
 * is gone, which calls no more callbacks). */
void vm_op_abandon_all(Manager *m);

/* ---- driver glue ---- */

extern const DomainDriverEvents vm_domain_driver_events;

/* Starts d with the driver: the host files its definition names are opened
 * first, with the rights of the sender of `caller` (NULL: autostart, as
 * root), in a child of the loop (d->starting meanwhile), then passed to the
 * driver's start as fds; done is called as the driver's DriverDoneFn, also
 * when a file cannot be opened (the message names the path; -EACCES:
 * AccessDenied). Returns 0, or a negative errno with *ret_error (done not
 * called). */
int vm_domain_start(VmDomain *d, sd_bus_message *caller, DriverStartFlags flags, DriverDoneFn done, void *userdata,
                    char **ret_error);
/* What vm_domain_start_with() calls instead of the driver's start (a restore
 * from a save image, a migration's destination): as DomainDriverOps.start,
 * with launch_data, and the start's disk leases (domain-lease.h; files has
 * their fds), which it may move out of *leases to keep them. */
struct VmLeases;
typedef int (*VmDomainLaunchFn)(void *launch_data, VmDriver *drv, VmDomain *d, const DomainDef *def, int id,
                                DriverStartFlags flags, const DriverFiles *files, struct VmLeases *leases,
                                DriverRuntime **ret_rt, DriverDoneFn done, void *userdata);
/* vm_domain_start() of def (NULL: d->def; borrowed for the call) with
 * launch (NULL: the driver's start) once the files are open. */
int vm_domain_start_with(VmDomain *d, sd_bus_message *caller, DriverStartFlags flags, const DomainDef *def,
                         VmDomainLaunchFn launch, void *launch_data, DriverDoneFn done, void *userdata,
                         char **ret_error);
/* Whether d is starting or active (a start owns it). */
static inline bool vm_domain_is_busy(const VmDomain *d) {
        return d->rt || d->starting;
}
/* domain-dbus.c: what a start's done does when the start failed (the driver
 * tore the runtime down): d forgets it, a domain that was reported active is
 * shutoff/failed again (stopped/failed). No-op when d has no runtime. */
void vm_domain_start_failed(VmDomain *d);
/* Ends a start still opening its files: its done gets -ECANCELED and message. No-op otherwise. */
void vm_domain_start_cancel(VmDomain *d, const char *message);

/* Calls fn for each <interface type='network'> with a tap (target dev) of
 * every active domain whose source network is `network` (the live
 * definitions): the network side re-attaches them when it starts again. */
typedef void (*VmDomainNicFn)(void *userdata, const VmDomain *d, const DomainNetDef *nic);
void vm_domains_foreach_network_nic(Manager *m, const char *network, VmDomainNicFn fn, void *userdata);

/* ---- domain-dbus.c: org.vmgmt.Domain, the kind vm_domain_kind (object-kind.h) ---- */
extern const sd_bus_vtable domain_vtable[];
/* polkit details of d: domain NAME, domain_uuid UUID (buf is returned). */
const char *const *vm_domain_details(const VmDomain *d, const char *buf[static 5]);
/* The start of every Domain method: parses options, authorizes `action` for d,
 * flushes pending definition writes. Returns 1 to go on, 0 when the
 * authorization is pending (return 1 from the handler: it is dispatched
 * again), negative on error (set in error). */
int vm_domain_method_prologue(sd_bus_message *message, VmDomain *d, const char *action, const BusOption *options,
                              sd_bus_error *error);

/* ---- domain jobs (domain-job.c): an org.vmgmt.Job fed by a driver's DriverJob ---- */
typedef struct VmDomainJob VmDomainJob;
/* Called when the driver's job ended, before the Job reports it: the place to
 * update the domain (HasManagedSave, snapshot objects, …). */
typedef void (*VmDomainJobFinishFn)(VmDomain *d, int r, const char *message, void *userdata);
/* A job of `type` (save, restore, dump, snapshot, block-commit, …) on d; Cancel
 * is authorized as domain.manage of d; the caller of `message` (may be NULL)
 * is the cause of the events the job brings. finish may be NULL; free frees
 * userdata (may be NULL), also when the job is discarded or vmgmtd exits.
 * One job at a time per domain: *ret_busy (when given) is set and NULL
 * returned when d has one running (callers answer Busy). */
VmDomainJob *vm_domain_job_new(VmDomain *d, sd_bus_message *message, const char *type, VmDomainJobFinishFn finish,
                               void *userdata, GDestroyNotify free_userdata);
/* The callbacks to give the driver (userdata = dj). */
DriverJobCallbacks vm_domain_job_callbacks(VmDomainJob *dj);
/* The driver accepted the work: publishes the Job (Cancel reaches driver_job)
 * and, when reply_to is given, answers it with the Job's path. */
int vm_domain_job_started(VmDomainJob *dj, DriverJob *driver_job, sd_bus_message *reply_to);
/* The driver refused it at once: frees dj (the Job never appears). */
void vm_domain_job_discard(VmDomainJob *dj);
/* Inside its finish function: the Job ends (State, Error) only once every hold is released — for what
 * finish starts that a caller relies on once the Job completed (an overlay's rename). Returns dj, or NULL
 * outside finish (nothing to release then). */
VmDomainJob *vm_domain_job_hold(VmDomainJob *dj);
void vm_domain_job_release(VmDomainJob *dj);
const char *vm_domain_job_path(const VmDomainJob *dj);

/* ---- save, restore, managed save, core dump (domain-save.c) ---- */

/* The managed save image of d: STATE/save/UUID.save (malloc'd). */
char *vm_domain_managed_save_path(const VmDomain *d);
bool vm_domain_has_managed_save(const VmDomain *d);
/* Looks whether the image exists (HasManagedSave is then read from memory, not
 * by a lookup per domain per GetManagedObjects). */
void vm_domain_managed_save_refresh(VmDomain *d);
/* Start of a domain with a managed save image: restores from it (event
 * started/restored; bypass_cache: read O_DIRECT) and removes it once the
 * domain runs; as vm_domain_start() otherwise (a failed restore keeps the image). */
int vm_domain_start_managed(VmDomain *d, sd_bus_message *message, bool paused, bool bypass_cache, DriverDoneFn done,
                            void *userdata, char **ret_error);
/* A revert to an external memory snapshot: restores from its memory file `image`, open at image_fd (opened
 * as the caller; borrowed, the file is kept), each disk as disks_from's of its target (the revert's new
 * overlays); flags as vm_domain_start_with()'s. */
int vm_domain_start_from_snapshot_image(VmDomain *d, sd_bus_message *message, int image_fd, const char *image,
                                        const DomainDef *disks_from, DriverStartFlags flags, DriverDoneFn done,
                                        void *userdata, char **ret_error);
/* Undefine with managed_save: removes the image. 0 or a negative errno. */
int vm_domain_managed_save_remove(VmDomain *d);
/* vmgmtd's SIGTERM with [daemon] on_host_shutdown=save: starts a managed save
 * of every running or paused persistent domain. Returns how many were
 * started; when > 0, done(m) is called once, when every one ended or after
 * timeout_usec (the rest keep running). */
#define VM_SHUTDOWN_SAVE_TIMEOUT_USEC (300 * 1000000ULL)
unsigned vm_domains_save_all(Manager *m, uint64_t timeout_usec, void (*done)(Manager *m));
/* Method handlers (domain-dbus.c's and manager-dbus.c's vtables). */
int vm_domain_method_save(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_managed_save(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_managed_save_remove(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_core_dump(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_manager_method_restore_domain(sd_bus_message *message, void *userdata, sd_bus_error *error);
/* Frees the RestoreDomain calls still waiting for polkit (vmgmtd exits). */
void vm_restores_waiting_free(Manager *m);
/* Removes what a vmgmtd that died during a managed save left in its state
 * directory (the temporaries, never a finished image); at start-up. */
void vm_managed_save_scan(Manager *m);
/* The running job of d, or NULL (domains run one job at a time). */
VmJob *vm_domain_running_job(VmDomain *d);

/* ---- the TPM state its driver keeps beside the definition (domain-tpm.c) ---- */

/* d (not running) goes away for good: its emulated TPM's state goes too, unless its
 * definition says persistent_state='yes' or it was undefined with keep_tpm. Logged on failure. */
void vm_domain_tpm_state_drop(VmDomain *d);
/* A clone `to` of domain `from` gets a copy of its TPM state (when both have an emulated TPM).
 * 0 (also when there is nothing to copy), or -errno with *ret_message (malloc'd). */
int vm_domain_tpm_state_copy(VmDomain *from, const DomainDef *to, char **ret_message);
/* The clone `to` was not made after all: the copy goes. */
void vm_domain_tpm_state_discard(VmDomain *from, const DomainDef *to);
