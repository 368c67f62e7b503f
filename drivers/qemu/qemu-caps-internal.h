/* qemu-caps-internal.h — what qemu-caps-probe.c (running the emulator) needs from qemu-caps.c (parsing, cache). */
#pragma once

#include <sys/stat.h>

#include "qemu/qemu-caps.h"

/* Checks that emulator (absolute path) exists, is executable and only root
 * can change it; fills *st. Returns 0 or -EINVAL/-ENOENT/-EPERM/-EACCES/-ENOEXEC. */
int qemu_caps_check_emulator(const char *emulator, struct stat *st);
/* Empty caps for the binary at emulator as st describes it; NULL on ENOMEM. */
QemuCaps *qemu_caps_alloc(const char *emulator, const struct stat *st);

/* The answers of `EMU -version` and `EMU -machine help` (text is modified);
 * -EBADMSG for an answer that is not QEMU's (or names no machine). */
int qemu_caps_parse_version(QemuCaps *caps, const char *text);
int qemu_caps_parse_machine_help(QemuCaps *caps, char *text);

/* The cache file of caps under cache_dir (malloc'd), reading it (-ESTALE when
 * it belongs to another binary, size or mtime) and writing it. */
char *qemu_caps_cache_path(const QemuCaps *caps, const char *cache_dir);
int qemu_caps_cache_load(QemuCaps *caps, const char *path);
int qemu_caps_cache_save(const QemuCaps *caps, const char *cache_dir, const char *path);
