/* qemu-disk-node.c — a disk's device and block nodes in qemu, found by its device id. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "qemu/qemu-disk-node.h"

int qemu_disk_index_from_name(const char *dev) {
        int idx = 0;

        if (!dev || strlen(dev) <= 2)
                return -1;
        for (const char *p = dev + 2; *p; p++) {
                if (*p < 'a' || *p > 'z' || idx > 100000)
                        return -1;
                idx = idx * 26 + (*p - 'a') + 1;
        }
        return idx - 1;
}

void qemu_disk_scsi_address(const DomainDiskDef *d, unsigned *ctrl, unsigned *bus, unsigned *target,
                            unsigned *unit) {
        int n = qemu_disk_index_from_name(d->target_dev);

        *ctrl = *bus = *target = *unit = 0;
        if (d->address.type == DOMAIN_ADDRESS_DRIVE) {
                *ctrl = d->address.controller, *bus = d->address.drive_bus;
                *target = d->address.target, *unit = d->address.unit;
        } else if (n >= 0)
                *ctrl = (unsigned) n / 7, *unit = (unsigned) n % 7;
}

int qemu_disk_device_id(const DomainDiskDef *d, size_t i, char *id, size_t len, bool for_media) {
        int n = qemu_disk_index_from_name(d->target_dev);
        unsigned ctrl, bus, target, unit;

        if (d->alias) {
                snprintf(id, len, "%s", d->alias);
                return 0;
        }
        switch (d->bus) {
        case DOMAIN_DISK_BUS_VIRTIO:
                snprintf(id, len, "virtio-disk%d", n >= 0 ? n : (int) i);
                return 0;
        case DOMAIN_DISK_BUS_SCSI:
                qemu_disk_scsi_address(d, &ctrl, &bus, &target, &unit);
                snprintf(id, len, "scsi%u-0-%u-%u", ctrl, target, unit);
                return 0;
        case DOMAIN_DISK_BUS_IDE:
                if (for_media && d->address.type == DOMAIN_ADDRESS_DRIVE)
                        snprintf(id, len, "ide0-%u-%u", d->address.drive_bus, d->address.unit);
                else if (for_media && n >= 0)
                        snprintf(id, len, "ide0-%u-%u", (unsigned) n / 2, (unsigned) n % 2);
                else
                        return -EOPNOTSUPP;
                return 0;
        case DOMAIN_DISK_BUS_SATA:
                if (for_media && d->address.type == DOMAIN_ADDRESS_DRIVE)
                        snprintf(id, len, "sata%u-0-%u", d->address.controller, d->address.unit);
                else if (for_media && n >= 0)
                        snprintf(id, len, "sata%u-0-%u", (unsigned) n / 6, (unsigned) n % 6);
                else
                        return -EOPNOTSUPP;
                return 0;
        default:
                return -EOPNOTSUPP;
        }
}

bool qemu_qdev_is(const char *qdev, const char *id) {
        static const char peripheral[] = "/machine/peripheral/";
        size_t n = strlen(id);

        if (!qdev || !id[0])
                return false;
        if (streq(qdev, id))
                return true;
        if (strncmp(qdev, peripheral, strlen(peripheral)) != 0)
                return false;
        qdev += strlen(peripheral);
        return strncmp(qdev, id, n) == 0 && (qdev[n] == 0 || qdev[n] == '/');
}

const JsonValue *qemu_block_of_device(const JsonValue *query_block, const char *id) {
        for (size_t i = 0; i < json_array_size(query_block); i++) {
                const JsonValue *b = json_array_get(query_block, i);
                if (qemu_qdev_is(json_util_member_string(b, "qdev"), id))
                        return b;
        }
        return NULL;
}

const JsonValue *qemu_disk_inserted(const JsonValue *query_block, const DomainDef *def, size_t i) {
        char id[80];

        if (i >= def->n_disks || qemu_disk_device_id(&def->disks[i], i, id, sizeof(id), true) < 0)
                return NULL;
        return json_object_get(qemu_block_of_device(query_block, id), "inserted");
}

bool qemu_node_prefix(const char *node, char *prefix, size_t len) {
        unsigned disk;
        int end = 0;

        if (!node || sscanf(node, "disk%u-%n", &disk, &end) != 1 || end == 0 || !node[end])
                return false;
        if (prefix)
                snprintf(prefix, len, "disk%u-", disk);
        return true;
}
