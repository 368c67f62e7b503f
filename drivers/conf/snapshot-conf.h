/* snapshot-conf.h — libvirt's <domainsnapshot> XML: parsed into SnapshotDef, formatted back. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/domain-conf.h"

#define SNAPSHOT_XML_MAX_SIZE (4u * 1024u * 1024u)

/* Where a snapshot keeps memory or a disk (libvirt's snapshot='…'). */
typedef enum SnapshotLocation {
        SNAPSHOT_LOCATION_DEFAULT,   /* not said: the driver decides */
        SNAPSHOT_LOCATION_NO,
        SNAPSHOT_LOCATION_INTERNAL,
        SNAPSHOT_LOCATION_EXTERNAL,
        SNAPSHOT_LOCATION_MANUAL,
        _SNAPSHOT_LOCATION_MAX,
} SnapshotLocation;

typedef struct SnapshotDiskDef {
        char *name;                  /* the disk's target ("vda") or source path */
        SnapshotLocation snapshot;
        char *source_file;           /* external: the new overlay; NULL: the driver names it */
        char *driver_type;           /* external: <driver type=>; NULL: qcow2 */
} SnapshotDiskDef;

typedef struct SnapshotDef {
        char *name;                  /* NULL until given or generated */
        char *description;
        char *state;                 /* the domain's state when taken ("running", "shutoff", "disk-snapshot") */
        uint64_t creation_time;      /* Unix seconds; 0: not given */
        char *parent;                /* the parent's name, NULL for a root */
        SnapshotLocation memory;
        char *memory_file;           /* memory external */
        SnapshotDiskDef *disks;
        size_t n_disks;
        char *domain_xml;            /* the embedded <domain> as XML text, NULL when none */
} SnapshotDef;

const char *snapshot_location_to_string(SnapshotLocation l);   /* "no", … ; NULL for DEFAULT */

SnapshotDef *snapshot_def_new(void);
SnapshotDef *snapshot_def_free(SnapshotDef *def);   /* NULL-safe, returns NULL */

/* Parses <domainsnapshot>: unknown elements and attributes, bad values
 * (snapshot='…', creationTime), a name that is no valid name, a disk named
 * twice, a file where the location is not external are -EINVAL with err
 * saying which, with its line. Nothing is generated: a missing name stays
 * NULL (the caller names it). Returns 0 with *ret, -EINVAL, -EFBIG, -ENOMEM. */
int snapshot_def_parse(const char *xml, size_t len, SnapshotDef **ret, ConfError *err);

/* The canonical XML (malloc'd, NULL: out of memory): name, description,
 * state, parent, creationTime, memory, disks, the embedded domain. */
char *snapshot_def_format(const SnapshotDef *def);

/* Frees n disk entries and the array. */
void snapshot_disks_free(SnapshotDiskDef *disks, size_t n);
/* Replaces def's <disks> with disks (n entries, taken). */
void snapshot_def_set_disks(SnapshotDef *def, SnapshotDiskDef *disks, size_t n);

/* The snapshot's disk entry for a domain disk (by target or source path), or NULL. */
const SnapshotDiskDef *snapshot_def_find_disk(const SnapshotDef *def, const char *target, const char *source);
