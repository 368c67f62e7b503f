/* domain-nvram.h — a domain's UEFI variable store (NVRAM) as vmgmtd keeps it: made from its template at a
 * start (or anew with reset_nvram), renamed with the domain, copied for a clone, removed or kept by an
 * undefine. Copies run in a thread of their own; the loop is told through an eventfd. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "domain.h"
#include "manager.h"

typedef struct VmNvramJob VmNvramJob;

/* r = 0: done; fd the store opened read-write (O_CLOEXEC, ownership passed) when it was asked to be
 * opened, else -1. r < 0: message says what failed, naming the file; nothing was left behind. */
typedef void (*VmNvramDoneFn)(void *userdata, int r, int fd, const char *message);

/* Makes the store `dst` a copy of `src` (at a temporary name in dst's directory, created 0700 when
 * missing, fsync'd, renamed into place): always with overwrite, else only when dst does not exist yet
 * (src NULL then: a missing dst fails, -ENOENT). With world_readable_src the source must be a regular
 * file anyone may read (what a caller other than root may have copied by root). Opens dst read-write
 * afterwards when open_dst. Returns 0 and *ret (done follows once, from the loop), or a negative errno. */
int vm_nvram_copy_start(Manager *m, const char *src, const char *dst, bool overwrite, bool world_readable_src,
                        bool open_dst, VmNvramDoneFn done, void *userdata, VmNvramJob **ret);
/* done is not called; a copy under way finishes in its thread and is dropped. NULL-safe, returns NULL. */
VmNvramJob *vm_nvram_job_cancel(VmNvramJob *j);

/* Where def (a domain's definition, as defined) keeps its store: its <nvram>, else the driver's path for
 * its name when it has UEFI (<os firmware='efi'> or a read-only pflash loader); NULL when none (malloc'd). */
char *vm_domain_nvram_store(VmDomain *d, const DomainDef *def);
/* Whether path is the driver's own store for the domain named name. */
bool vm_domain_nvram_is_default(VmDomain *d, const char *name, const char *path);

/* Undefine's rule (libvirt's): a domain whose store exists is undefined only with option nvram (the store
 * is removed) or keep_nvram (it stays). Returns 0 (removed, kept, or none), or a bus error: InvalidState
 * naming the file when neither option was given, InvalidArgs for both, OperationFailed when it cannot go. */
int vm_domain_nvram_undefine(VmDomain *d, bool remove, bool keep, sd_bus_error *error);
/* Rename: the driver's own store moves to the new name's (def: the new definition, whose <nvram>
 * follows when it named the old default path). 0, or a negative errno with *ret_error. */
int vm_domain_nvram_rename(VmDomain *d, DomainDef *def, const char *new_name, char **ret_error);
/* A rename that failed after that: the store named for new_name goes back to d's name (errors logged). */
void vm_domain_nvram_rename_undo(VmDomain *d, const char *new_name);
/* Clone: the new definition gets a store of its own (its <nvram> is dropped: the driver's path for its
 * name), a copy of the original's when that exists, made before then(userdata, r, message) is called.
 * A store outside the driver's directory is copied only for root. */
void vm_domain_nvram_clone(VmDomain *orig, DomainDef *new_def, sd_bus_message *caller,
                           void (*then)(void *userdata, int r, const char *message), void *userdata);

/* A definition whose <nvram> is another domain's store (self: the domain it redefines, or NULL) is
 * AlreadyExists naming that domain: a store is never shared. 0 or a negative errno with error set. */
int vm_domain_nvram_check_shared(Manager *m, const DomainDef *def, const VmDomain *self, sd_bus_error *error);

/* Whether the sender of caller is root (or caller NULL: vmgmtd's own start, autostart). */
bool vm_caller_is_root(Manager *m, sd_bus_message *caller);
