/* qemu-firmware.h — QEMU's firmware descriptors (docs/interop/firmware.json: the JSON files in /usr/share/qemu/firmware)
 * and the automatic firmware selection of <os firmware='efi'> made of them, in libvirt's priority order. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "conf/domain-conf.h"
#include "driver.h"

typedef struct QemuFirmwareTarget {
        char *arch;                 /* "x86_64" */
        char **machines;            /* globs: "pc-q35-*" */
} QemuFirmwareTarget;

typedef struct QemuFirmware {
        char *name;                 /* the file name: "60-edk2-x86_64.json" (the priority) */
        char *path;
        char *description;
        bool uefi, bios;            /* interface-types */
        char *device;               /* mapping device: "flash", "memory", "kernel" */
        char *mode;                 /* flash: "split" (also when not given), "combined", "stateless" */
        char *executable, *executable_format;
        char *nvram_template, *nvram_template_format;
        QemuFirmwareTarget *targets;
        size_t n_targets;
        char **features;            /* "secure-boot", "enrolled-keys", "requires-smm", … */
} QemuFirmware;

typedef struct QemuFirmwareList {
        QemuFirmware *items;        /* by priority: file name order */
        size_t n;
} QemuFirmwareList;

/* The descriptor directories of this host, the first overriding the later ones:
 * for a session daemon $XDG_CONFIG_HOME/qemu/firmware, then /etc/qemu/firmware,
 * /usr/share/qemu/firmware (NULL-terminated, g_strfreev). */
char **qemu_firmware_dirs(bool session);

/* Reads every *.json in dirs: a name in an earlier dir hides the same name
 * in a later one (an empty file hides it and counts for nothing), the rest
 * in file name order. A descriptor that does not parse is skipped (logged).
 * Returns 0 with *ret (free with qemu_firmware_list_free()), -ENOMEM. */
int qemu_firmware_load(const char *const *dirs, QemuFirmwareList **ret);
/* Parses one descriptor's text. 0 with *ret filled (clear with qemu_firmware_clear()),
 * or -EINVAL with *ret_error (malloc'd) saying what is wrong. */
int qemu_firmware_parse(const char *text, size_t len, QemuFirmware *ret, char **ret_error);
void qemu_firmware_clear(QemuFirmware *fw);
QemuFirmwareList *qemu_firmware_list_free(QemuFirmwareList *l);   /* NULL-safe */

bool qemu_firmware_has_feature(const QemuFirmware *fw, const char *feature);

/* The descriptor <os firmware='efi'> of def (normalized: arch and versioned
 * machine) gets: the first of list whose interface, architecture and machine
 * match, a flash device in split mode, with the loader path and NVRAM
 * template def names (if it names them), the firmware features it asks for
 * (yes: present, no: absent), requires-smm as <loader secure=> and <smm> allow.
 * NULL with *ret_why (malloc'd) saying what no descriptor offered. */
const QemuFirmware *qemu_firmware_select(const QemuFirmwareList *list, const DomainDef *def, char **ret_why);
/* The descriptor whose executable is path (a manual pflash <loader>), for its NVRAM template; NULL when none. */
const QemuFirmware *qemu_firmware_find_executable(const QemuFirmwareList *list, const char *path);

/* Resolves def's firmware for a start, as libvirt shows it in the live XML:
 * <os firmware='efi'> gets the selected descriptor's loader (pflash, read-only,
 * secure when it requires SMM, <smm state='on'/> then), its NVRAM template and
 * its features; a manual read-only pflash loader a descriptor knows gets that
 * template; either gets nvram_default (the driver's per-domain store,
 * marked nvram_managed) when it names no <nvram> path. <os firmware='bios'>:
 * qemu's own SeaBIOS, nothing to fill. Returns 0, -ENOMEM, or -EOPNOTSUPP
 * with *ret_error (malloc'd) when no firmware of this host fits. */
int qemu_firmware_resolve(const QemuFirmwareList *list, DomainDef *def, const char *nvram_default,
                          char **ret_error);

/* The DomainDriverOps members (driver.h): the store at state_dir/qemu/nvram/NAME_VARS.fd, and
 * qemu_firmware_resolve() with this host's descriptors and that store. */
char *qemu_driver_nvram_path(DomainDriver *d, const char *name);
int qemu_driver_firmware_resolve(DomainDriver *d, DomainDef *def, char **ret_error);
