/* path-policy.h — which host files a caller other than root may have a domain use (issue 12, "open as the
 * caller could"): the pure rules (path-policy.c) and the decision for a caller's opened files (path-policy-check.c).
 *
 * The files are judged AFTER they were opened with the caller's own uid and
 * groups (drivers/util/open-files): what is judged is where the fd that was
 * opened leads (readlink of /proc/self/fd/N) and what it is (fstat), never the
 * path as written, so a symlink swapped later changes nothing — the fd that
 * was checked is the fd the hypervisor gets. On top of the caller's own file rights a
 * file must be:
 *   - no block or character device, nothing under /proc, /sys or /dev —
 *     unless [daemon] confinement_allowed_paths= names it (default
 *     /dev/urandom and /dev/random, for rng backends);
 *   - inside the target directory of an active storage pool for which polkit
 *     allows the caller org.vmgmt.storage.use with the details pool, volume
 *     (the file's name relative to the pool's target), domain and verb.
 * Callers with uid 0 (or the daemon's own uid) are not checked. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

typedef struct Manager Manager;
typedef struct DomainDef DomainDef;

/* [daemon] confinement_allowed_paths= when not given. */
#define VM_ALLOWED_DEVICE_PATHS_DEFAULT { "/dev/urandom", "/dev/random", NULL }

/* ---- pure rules (path-policy.c; tests/service/test-path-policy.c) ---- */

/* True when `path` is `dir` or lies below it, compared component by component
 * ("/srv/a/x" is under "/srv/a" and "/srv/a/", not under "/srv/ab"; repeated
 * slashes count as one). Both must be absolute; a path with a "." or ".."
 * component is never under anything (resolved paths have none). */
bool vm_path_is_under(const char *path, const char *dir);

/* `path` relative to `dir` when vm_path_is_under(path, dir) ("x.img",
 * "sub/x.img"; "" for dir itself), malloc'd; NULL otherwise. */
char *vm_path_relative(const char *path, const char *dir);

typedef enum VmPathClass {
        VM_PATH_ORDINARY,        /* a file, directory or socket that may be in a pool */
        VM_PATH_DEVICE,          /* a block or character device */
        VM_PATH_KERNEL,          /* under /proc, /sys or /dev (devices there too) */
        VM_PATH_UNKNOWN,         /* no place to judge: not absolute ("socket:[…]", "anon_inode:…") */
} VmPathClass;

/* What the opened file is: `resolved` is where its fd leads, `mode` its st_mode. */
VmPathClass vm_path_classify(const char *resolved, mode_t mode);

/* True when `resolved` is one of the allow-list's paths (exactly, component-wise; NULL list: none). */
bool vm_path_allow_listed(const char *resolved, char *const *allow_list);

/* The rules that need no pool and no polkit, for one opened file (`path` as
 * named, `resolved`, `st` of its fd): 1 when the pools decide (an ordinary
 * file), 0 when it is allowed as it is (allow-listed), or -EACCES with
 * *ret_message (malloc'd, naming the path) when it is refused whatever the
 * pools: a device, under /proc, /sys, /dev, unlinked, or nowhere to judge. */
int vm_path_precheck(const char *path, const char *resolved, const struct stat *st, char *const *allow_list,
                     char **ret_message);

/* "'PATH'", or "'PATH' (resolved to 'RESOLVED')" when they differ: how messages name a file (malloc'd). */
char *vm_path_describe(const char *path, const char *resolved);

/* True when the bus caller `uid` is checked at all (not root, not the daemon's own uid). */
bool vm_path_policy_applies(uid_t uid);

/* ---- the decision for a caller (path-policy-check.c) ---- */

/* One file opened as the caller (drivers/util/open-files' result, borrowed for the call). */
typedef struct VmPathFile {
        const char *path;        /* as the definition names it (a layer of a backing chain: as the layer above names it) */
        const char *resolved;    /* readlink of /proc/self/fd/N of the fd opened as the caller */
        struct stat st;          /* fstat of that fd */
} VmPathFile;

/* r = 1 allowed; or a negative errno with error set (AccessDenied naming the
 * path, InteractiveAuthorizationRequired when polkit would ask a password the
 * call did not allow to ask for). */
typedef void (*VmPathCheckDoneFn)(void *userdata, int r, const sd_bus_error *error);

typedef struct VmPathCheck VmPathCheck;

/* Decides whether the caller of `message` (bus uid `uid`) may have domain
 * `domain` use `files` (every layer of every backing chain listed as a file
 * of its own). Returns 1 when allowed at once (a privileged caller, no
 * files, or every file allow-listed), a negative errno with error set when
 * refused at once (a device, /proc, /sys, /dev, no active pool at all), or
 * 0 when the check goes on (the pools' targets are resolved off the event
 * loop, then polkit is asked; a file in no pool is refused then): done is
 * called exactly once, later (never from within this call), and *ret is the
 * check under way, to be cancelled with vm_path_check_cancel() when the call
 * is dropped first.
 * polkit is asked org.vmgmt.storage.use once per distinct pool and volume
 * (two disks on one image: one check), at most a few at a time; the first
 * refusal ends the check. `message` gives the sender (subject), the verb
 * (its member) and whether interaction is allowed; referenced until done. */
int vm_path_check_start(Manager *m, sd_bus_message *message, uid_t uid, const char *domain, const VmPathFile *files,
                        size_t n_files, VmPathCheckDoneFn done, void *userdata, VmPathCheck **ret,
                        sd_bus_error *error);

/* Stops a check under way; its done is not called. NULL-safe; returns NULL. */
VmPathCheck *vm_path_check_cancel(VmPathCheck *c);

/* <emulator> for a caller other than root: `def` (parsed, not normalized) may
 * name no emulator, or the one the driver finds itself for def's arch
 * (compared as resolved paths). `own` is a copy of def without <emulator>
 * that the driver has normalized (it names the driver's own emulator); NULL
 * when the driver could not normalize one. Returns 1 to go on, or
 * -EACCES with error set: AccessDenied naming the path. */
int vm_emulator_policy_check(uid_t uid, const DomainDef *def, const DomainDef *own, sd_bus_error *error);

/* The same for a definition already normalized (Start of a stored domain),
 * for the caller of `message`: normalizes a copy of def without <emulator>
 * itself (nothing is run: the emulator the driver picks for the arch must
 * have been probed before, as every definition that names it caused; when it
 * was not, the answer is AccessDenied: vmgmtd cannot tell). Returns 1 or
 * -EACCES with error set. */
int vm_emulator_policy_check_normalized(Manager *m, sd_bus_message *message, const DomainDef *def,
                                        sd_bus_error *error);

/* The bus uid of the caller of `message` as auth.c learned it while
 * authorizing the call; (uid_t) -1 (checked as any other) when unknown. */
uid_t vm_path_policy_caller_uid(Manager *m, sd_bus_message *message);
