/* qemu-caps.h — what an installed QEMU binary offers (machine types, aliases), probed once and cached.
 *
 * The probe runs the emulator (`-version`, then `-machine help`) as children
 * of an sd-event loop, each within a deadline (the caller's, by default
 * QEMU_CAPS_PROBE_TIMEOUT_USEC_DEFAULT), and stores the result in a cache file
 * keyed on the binary's path, size and mtime, so later daemon starts read a
 * small file instead of running qemu. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

/* How long each run of the emulator may take unless the caller says (vmgmtd:
 * [daemon] probe_timeout_sec in vmgmtd.conf). Generous: it only bounds a hang,
 * and a loaded host may take seconds to start a qemu binary. */
#define QEMU_CAPS_PROBE_TIMEOUT_USEC_DEFAULT (30u * 1000000u)

typedef struct QemuCaps QemuCaps;
typedef struct QemuCapsProbe QemuCapsProbe;

/* The end of a probe: r = 0 and caps (ownership passed), or a negative errno
 * (-ETIMEDOUT: no answer within the deadline, the children were killed and
 * reaped; -EIO: it exited with an error; -EBADMSG: an answer we cannot read)
 * and caps NULL. The probe object is already freed. */
typedef void (*QemuCapsProbeFn)(void *userdata, int r, QemuCaps *caps);

/* Checks that `emulator` (absolute path) exists, is executable and only root
 * can change it (it runs as root), then loads its caps from cache_dir (NULL:
 * never cache) or starts probing it from `event`, each run of the emulator
 * within timeout_usec (0: QEMU_CAPS_PROBE_TIMEOUT_USEC_DEFAULT). Returns 1 with *ret_caps
 * when the cache answered (nothing ran), 0 with *ret_probe when fn will be
 * called from the loop, or -errno at once (-ENOENT: no such binary, -EPERM:
 * not root's, -EACCES/-ENOEXEC: cannot be run). The synchronous part is a few
 * stat()s and reading one small file. */
int qemu_caps_load_or_probe(sd_event *event, const char *emulator, const char *cache_dir, uint64_t timeout_usec,
                            QemuCapsProbeFn fn, void *userdata, QemuCaps **ret_caps, QemuCapsProbe **ret_probe);
/* Cancels a probe under way: kills and reaps its child; fn is not called. */
QemuCapsProbe *qemu_caps_probe_free(QemuCapsProbe *p);

/* The same, blocking until the answer (a loop of its own runs the probe;
 * bounded by the deadline). For callers that nothing waits on (daemon start-up
 * before it takes its bus name, tests). Returns 0 or -errno as above. */
int qemu_caps_new(const char *emulator, const char *cache_dir, uint64_t timeout_usec, QemuCaps **ret);
QemuCaps *qemu_caps_free(QemuCaps *caps);
/* True while the binary caps were made from still has the same size and mtime
 * (looked at again at most once a second). */
bool qemu_caps_matches_file(QemuCaps *caps);

const char *qemu_caps_emulator(const QemuCaps *caps);
/* "7.2.22" */
const char *qemu_caps_version(const QemuCaps *caps);
/* The versioned default machine ("pc-i440fx-7.2"). */
const char *qemu_caps_default_machine(const QemuCaps *caps);
/* Resolves alias → versioned type ("pc" → "pc-i440fx-7.2", "q35" →
 * "pc-q35-7.2"); a canonical name returns itself; NULL machine returns the
 * default; unknown returns NULL. The string belongs to caps. */
const char *qemu_caps_resolve_machine(const QemuCaps *caps, const char *machine);
/* True when qemu_caps_new() read the cache file instead of running the emulator. */
bool qemu_caps_from_cache(const QemuCaps *caps);
/* True for a machine with a PCIe root (q35 family). */
bool qemu_caps_machine_is_q35(const char *machine);

/* Finds qemu-system-ARCH in PATH (or the configured default binary for the
 * host arch). Returns a malloc'd absolute path or NULL. */
char *qemu_caps_find_emulator(const char *arch);
