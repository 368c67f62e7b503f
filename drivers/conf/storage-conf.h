/* storage-conf.h — libvirt-compatible storage pool and volume XML: the data model, parse, validate, normalize, format.
 *
 * Pure code like domain-conf.h: libxml2 and glib, nothing about D-Bus or files.
 * Flow: storage_pool_def_parse() (syntax, strict element/attribute checks
 * with line numbers and did-you-mean, value checks) → storage_pool_def_normalize()
 * (UUID, clean target path) → storage_pool_def_format() (canonical XML;
 * parse+normalize+format of that output yields the same text). Volumes
 * likewise with storage_vol_def_*. Sizes are bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/domain-conf.h"   /* ConfError, conf_name_validate, conf_uuid_* */

typedef enum StoragePoolType {
        STORAGE_POOL_DIR,
        STORAGE_POOL_FS,           /* a block device mounted on the target */
        STORAGE_POOL_NETFS,        /* an NFS (or CIFS) export or a GlusterFS volume mounted on the target */
        STORAGE_POOL_ISCSI,        /* an iSCSI target through the kernel's initiator (iscsiadm) */
        STORAGE_POOL_ISCSI_DIRECT, /* an iSCSI target's LUNs through libiscsi (user space, no target path) */
        STORAGE_POOL_RBD,          /* a Ceph RADOS pool's rbd images through librados/librbd (no target path) */
        _STORAGE_POOL_TYPE_MAX,
} StoragePoolType;

/* Volume formats: the first two can be created; the others are recognized
 * on disk (refresh) and reported read-only. */
typedef enum StorageVolFormat {
        STORAGE_VOL_FORMAT_RAW,
        STORAGE_VOL_FORMAT_QCOW2,
        STORAGE_VOL_FORMAT_ISO,
        STORAGE_VOL_FORMAT_QCOW,
        STORAGE_VOL_FORMAT_QED,
        STORAGE_VOL_FORMAT_VMDK,
        STORAGE_VOL_FORMAT_VDI,
        STORAGE_VOL_FORMAT_VPC,
        STORAGE_VOL_FORMAT_VHDX,
        STORAGE_VOL_FORMAT_DMG,
        STORAGE_VOL_FORMAT_CLOOP,
        STORAGE_VOL_FORMAT_BOCHS,
        STORAGE_VOL_FORMAT_PARALLELS,
        STORAGE_VOL_FORMAT_LUKS,
        _STORAGE_VOL_FORMAT_MAX,
} StorageVolFormat;

typedef enum StorageVolType {
        STORAGE_VOL_FILE,
        STORAGE_VOL_BLOCK,
        STORAGE_VOL_NETWORK,       /* an rbd image or an iSCSI LUN: path is POOL/IMAGE or iscsi://… */
        _STORAGE_VOL_TYPE_MAX,
} StorageVolType;

/* <permissions>: -1 = not given. */
typedef struct StoragePerms {
        int64_t mode;              /* 0–07777 */
        int64_t uid;
        int64_t gid;
        char *label;
} StoragePerms;

#define STORAGE_PERMS_INIT ((StoragePerms) { .mode = -1, .uid = -1, .gid = -1 })

typedef struct StoragePoolDef {
        char *name;
        unsigned char uuid[16];
        bool has_uuid;
        StoragePoolType type;

        /* <source> */
        char *source_device;       /* fs: the block device */
        char *source_host;         /* netfs: server host name or address */
        unsigned source_host_port; /* 0 = not given */
        char *source_dir;          /* netfs: exported directory */
        char *source_format;       /* fs: auto, ext4, xfs…; netfs: auto, nfs, cifs, glusterfs (NULL = auto) */
        char *source_name;         /* rbd: the RADOS pool */
        char *initiator_iqn;       /* iscsi, iscsi-direct: <initiator><iqn name=…/> */
        /* <auth type= username=><secret usage=|uuid=/></auth> (rbd: ceph, iscsi*: chap); NULL = none */
        char *auth_type;
        char *auth_username;
        char *secret_usage;
        char *secret_uuid;         /* canonical lower-case form */

        /* <target> */
        char *target_path;
        StoragePerms perms;

        /* output only: filled by the driver from statvfs (0 while inactive) */
        uint64_t capacity, allocation, available;
} StoragePoolDef;

typedef struct StorageVolDef {
        char *name;
        char *key;                 /* output: the path (accepted and ignored on input) */
        StorageVolType type;

        uint64_t capacity;         /* bytes (virtual size) */
        bool has_capacity;
        uint64_t allocation;       /* bytes on disk; for create: how much to preallocate */
        bool has_allocation;
        uint64_t physical;         /* output: file size */

        char *path;                /* output: <target><path> */
        StorageVolFormat format;
        bool has_format;
        char *compat;              /* qcow2: "0.10" or "1.1" (NULL = default) */
        StoragePerms perms;

        /* <backingStore> */
        char *backing_path;
        StorageVolFormat backing_format;
        bool has_backing_format;
} StorageVolDef;

#define STORAGE_XML_MAX_SIZE (1024u * 1024u)

const char *storage_pool_type_to_string(StoragePoolType t);
int storage_pool_type_from_string(const char *s);
const char *storage_vol_format_to_string(StorageVolFormat f);
int storage_vol_format_from_string(const char *s);
/* qemu-img's name for a format ("raw" for iso), for -f/-F/-O. */
const char *storage_vol_format_to_qemu(StorageVolFormat f);
/* The <driver type='…'/> a domain disk on a volume of format f has ("raw" for iso). */
const char *storage_vol_format_to_disk_driver_type(StorageVolFormat f);
/* Maps qemu-img's format name to ours; -EINVAL when unknown. */
int storage_vol_format_from_qemu(const char *s);
/* True for formats vmgmt can create and write (raw, qcow2). */
bool storage_vol_format_writable(StorageVolFormat f);

void storage_perms_clear(StoragePerms *p);

/* ---- pools ---- */

StoragePoolDef *storage_pool_def_new(void);
StoragePoolDef *storage_pool_def_free(StoragePoolDef *def);   /* NULL-safe, returns NULL */
StoragePoolDef *storage_pool_def_copy(const StoragePoolDef *def);   /* NULL on OOM */

/* Whether pools of type t have a local target directory (dir, fs, netfs, iscsi). */
bool storage_pool_type_has_target(StoragePoolType t);

/* Parses and validates pool XML: type dir/fs/netfs/iscsi/iscsi-direct/rbd, name (conf_name_validate
 * rules), uuid, source as the type requires (fs: <device path>; netfs: <host
 * name> and <dir path>; iscsi: <host name> and <device path='IQN'>;
 * iscsi-direct: those and <initiator><iqn name>; rbd: <name> and <host name>;
 * <auth> with a username and a <secret usage|uuid>, type ceph for rbd and chap
 * for iscsi), absolute target path (none for iscsi-direct and rbd), permissions (mode octal ≤ 07777,
 * numeric owner/group). capacity/allocation/available are accepted (with
 * units) and kept. Returns 0 and *ret, or -EINVAL with err, -EFBIG, -ENOMEM. */
int storage_pool_def_parse(const char *xml, size_t len, StoragePoolDef **ret, ConfError *err);

/* Generates the UUID when missing; cleans the target path (no duplicate or
 * trailing slashes). Idempotent. Returns 0 or -ENOMEM. */
int storage_pool_def_normalize(StoragePoolDef *def, ConfError *err);

/* Canonical XML (2-space indent, trailing newline). malloc'd, NULL on OOM. */
char *storage_pool_def_format(const StoragePoolDef *def);

/* XML of the built-in `default` pool: type dir, target STATE_DIR/images
 * (state_dir e.g. "/var/lib/vmgmt"), mode 0711. malloc'd, NULL on OOM. */
char *storage_pool_default_xml(const char *state_dir);

/* True when a and b would use the same storage (same target path, or for fs
 * the same device, for netfs the same host and dir): two pools must not. */
bool storage_pool_def_same_source(const StoragePoolDef *a, const StoragePoolDef *b);

/* ---- volumes ---- */

StorageVolDef *storage_vol_def_new(void);
StorageVolDef *storage_vol_def_free(StorageVolDef *def);   /* NULL-safe, returns NULL */
StorageVolDef *storage_vol_def_copy(const StorageVolDef *def);

/* A volume name must stay inside its pool: conf_name_validate() rules (so
 * no '/', not "." or "..") and no leading '.' (names starting with a dot are
 * vmgmt's temporary files). Returns 0 or -EINVAL with a static *reason. */
int storage_vol_name_validate(const char *name, const char **reason);

/* Parses and validates volume XML: name (storage_vol_name_validate), capacity
 * and allocation with libvirt units (bytes by default; b, KB, k, KiB, MB, M,
 * MiB, … as for memory), target format and permissions, backingStore path
 * (absolute) and format. key, physical and target path are accepted and kept
 * (they are output). Returns 0 and *ret, or -EINVAL with err, -EFBIG, -ENOMEM. */
int storage_vol_def_parse(const char *xml, size_t len, StorageVolDef **ret, ConfError *err);

/* Canonical XML. malloc'd, NULL on OOM. */
char *storage_vol_def_format(const StorageVolDef *def);

/* Bytes for value + libvirt unit (NULL/"" = bytes). 0, -EINVAL (bad unit or
 * number) or -ERANGE (does not fit 64 bits). */
int storage_parse_size(const char *value, const char *unit, uint64_t *ret);
