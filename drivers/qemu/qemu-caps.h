/* qemu-caps.h — what an installed QEMU binary offers (machine types, aliases), probed once and cached.
 *
 * The probe runs the emulator (`-machine help` and friends) with a bounded
 * timeout and stores the result in a cache file keyed on the binary's path,
 * size and mtime, so later daemon starts read a small file instead of running
 * qemu. */
#pragma once

#include <stdbool.h>

typedef struct QemuCaps QemuCaps;

/* Loads caps for `emulator` (absolute path) from cache_dir, or probes and
 * writes the cache. cache_dir NULL: never cache. Returns 0 or -errno
 * (-ENOENT: no such binary). Blocking but bounded (a few hundred ms at most:
 * two runs of ~15 ms each; a run that hangs is killed after 2 s, -ETIMEDOUT). */
int qemu_caps_new(const char *emulator, const char *cache_dir, QemuCaps **ret);
QemuCaps *qemu_caps_free(QemuCaps *caps);

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
