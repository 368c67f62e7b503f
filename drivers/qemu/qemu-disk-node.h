/* qemu-disk-node.h — which qemu device and block nodes belong to a disk of the live definition.
 *
 * A disk's block nodes are named "diskN-…" after its index when it was started or hot-plugged
 * (qemu-command-storage.c, qemu-hotplug.c); an earlier disk's unplug shifts the indexes of the
 * later ones but not their nodes' names. So nodes are never found by the index: the disk's device
 * id (as qemu-command.h names devices) leads to the device in query-block / the block graph, its
 * medium to the active node, and that node's name to the disk's prefix. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "conf/domain-conf.h"
#include "json-util.h"

/* "vdb" → 1, "sdaa" → 26; -1 when the name has no letters after its two-letter prefix. */
int qemu_disk_index_from_name(const char *dev);

/* The drive address of a SCSI disk: given, or derived from its target name as at start. */
void qemu_disk_scsi_address(const DomainDiskDef *d, unsigned *ctrl, unsigned *bus, unsigned *target,
                            unsigned *unit);

/* The qemu id of disk d, index i of its definition. IDE and SATA disks have one only for_media
 * (their buses take no hot-plug); -EOPNOTSUPP for those otherwise and for other buses. */
int qemu_disk_device_id(const DomainDiskDef *d, size_t i, char *id, size_t len, bool for_media);

/* Whether qemu's name of a device or block backend (its id, or a QOM path such as
 * "/machine/peripheral/ID/virtio-backend") is device id's. */
bool qemu_qdev_is(const char *qdev, const char *id);

/* The entry of query-block's reply for device id, or NULL. */
const JsonValue *qemu_block_of_device(const JsonValue *query_block, const char *id);

/* The medium of disk i of def (query-block's "inserted": its active node-name, its image), or NULL
 * when qemu has none for it. */
const JsonValue *qemu_disk_inserted(const JsonValue *query_block, const DomainDef *def, size_t i);

/* The prefix ("disk3-") of one of vmgmt's node names ("disk3-ov0001-format") into prefix (may be
 * NULL: only whether it is one); false when the name is not one of vmgmt's. */
bool qemu_node_prefix(const char *node, char *prefix, size_t len);
