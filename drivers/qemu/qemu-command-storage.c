/* qemu-command-storage.c — qemu argv for controllers and disks (-blockdev nodes and their -device). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "macro.h"
#include "qemu/qemu-command-internal.h"
#include "qemu/qemu-disk-node.h"

/* ---------------- controllers ---------------- */

static const char *usb_controller_device(const char *model) {
        static const char *const map[][2] = {
                { "qemu-xhci", "qemu-xhci" },     { "nec-xhci", "nec-usb-xhci" },
                { "piix3-uhci", "piix3-usb-uhci" }, { "piix4-uhci", "piix4-usb-uhci" },
                { "ehci", "usb-ehci" },           { "ich9-ehci1", "ich9-usb-ehci1" },
                { "ich9-uhci1", "ich9-usb-uhci1" }, { "ich9-uhci2", "ich9-usb-uhci2" },
                { "ich9-uhci3", "ich9-usb-uhci3" }, { "pci-ohci", "pci-ohci" },
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (streq(model, map[i][0]))
                        return map[i][1];
        return NULL;
}

static void usb_controller_id(GString *o, int index) {
        if (index == 0)
                g_string_append(o, "usb");
        else
                g_string_append_printf(o, "usb%d", index);
}

static void build_pci_controller(QemuCmd *c, const DomainControllerDef *k) {
        const char *model = k->model ?: "";
        char what[64];
        GString *o;

        if (STR_IN_SET(model, "pci-root", "pcie-root")) {
                if (k->index != 0)
                        qemu_cmd_fail(c, "PCI root controller must have index 0");
                else if (streq(model, "pcie-root") != c->q35)
                        qemu_cmd_fail(c, "controller model '%s' does not match machine '%s'", model, c->def->os_machine);
                return; /* built into the machine */
        }
        snprintf(what, sizeof(what), "controller pci index %d", k->index);
        if (k->index <= 0 || k->index > 255) {
                qemu_cmd_fail(c, "%s: index must be 1…255", what);
                return;
        }
        if (streq(model, "pcie-root-port")) {
                o = g_string_new("pcie-root-port");
                qemu_opt_fmt(o, "port", "0x%x", k->target_port >= 0 ? (unsigned) k->target_port & 0xff : 0x10u + (unsigned) k->index - 1);
                qemu_opt_fmt(o, "chassis", "%d", k->target_chassis >= 0 ? k->target_chassis & 0xff : k->index);
        } else if (streq(model, "pci-bridge")) {
                o = g_string_new("pci-bridge");
                qemu_opt_fmt(o, "chassis_nr", "%d", k->target_chassis > 0 ? k->target_chassis & 0xff : k->index);
        } else if (streq(model, "pcie-to-pci-bridge"))
                o = g_string_new("pcie-pci-bridge");
        else {
                qemu_cmd_fail(c, "%s: model '%s' is not supported", what, model);
                return;
        }
        qemu_opt_fmt(o, "id", "pci.%d", k->index);
        qemu_cmd_pci_address(c, o, &k->address, what);
        qemu_cmd_add_opt(c, "-device", o);
}

static void build_usb_controller(QemuCmd *c, const DomainControllerDef *k) {
        const char *model = k->model, *dev;
        char what[64];
        GString *o;

        snprintf(what, sizeof(what), "controller usb index %d", k->index);
        if (qemu_streq(model, "none"))
                return;
        dev = model ? usb_controller_device(model) : NULL;
        if (!dev) {
                qemu_cmd_fail(c, "%s: model '%s' is not supported", what, strempty(model));
                return;
        }
        if (k->index < 0 || k->index > 31) {
                qemu_cmd_fail(c, "%s: index out of range", what);
                return;
        }
        o = g_string_new(dev);
        if (k->has_master) {
                GString *m = g_string_new(NULL);
                usb_controller_id(m, k->index);
                qemu_opt_fmt(o, "masterbus", "%s.0", m->str);
                qemu_opt_fmt(o, "firstport", "%u", k->master_startport);
                g_string_free(m, TRUE);
        } else {
                if (k->ports > 0 && STR_IN_SET(model, "qemu-xhci", "nec-xhci")) {
                        qemu_opt_fmt(o, "p2", "%d", k->ports);
                        qemu_opt_fmt(o, "p3", "%d", k->ports);
                }
                g_string_append(o, ",id=");
                usb_controller_id(o, k->index);
        }
        qemu_cmd_pci_address(c, o, &k->address, what);
        qemu_cmd_add_opt(c, "-device", o);
}

static void build_other_controller(QemuCmd *c, const DomainControllerDef *k) {
        char what[64];
        GString *o;

        snprintf(what, sizeof(what), "controller %s index %d", k->type, k->index);
        if (k->index < 0 || k->index > 255) {
                qemu_cmd_fail(c, "%s: index out of range", what);
                return;
        }
        if (streq(k->type, "scsi")) {
                const char *model = k->model ?: "virtio-scsi";
                if (streq(model, "virtio-scsi"))
                        o = g_string_new("virtio-scsi-pci");
                else if (streq(model, "lsilogic"))
                        o = g_string_new("lsi");
                else {
                        qemu_cmd_fail(c, "%s: model '%s' is not supported", what, model);
                        return;
                }
                qemu_opt_fmt(o, "id", "scsi%d", k->index);
        } else if (streq(k->type, "virtio-serial")) {
                o = g_string_new("virtio-serial-pci");
                qemu_opt_fmt(o, "id", "virtio-serial%d", k->index);
                if (k->ports > 0)
                        qemu_opt_fmt(o, "max_ports", "%d", k->ports);
                if (k->vectors > 0)
                        qemu_opt_fmt(o, "vectors", "%d", k->vectors);
        } else if (streq(k->type, "sata")) {
                if (c->q35 && k->index == 0)
                        return; /* the ICH9 AHCI at 00:1f.2, bus "ide" */
                o = g_string_new("ahci");
                qemu_opt_fmt(o, "id", "sata%d", k->index);
        } else if (streq(k->type, "ide")) {
                if (!c->q35 && k->index == 0)
                        return; /* the PIIX3 IDE at 00:01.1 */
                qemu_cmd_fail(c, "%s: only the IDE controller built into i440fx machines is supported", what);
                return;
        } else if (STR_IN_SET(k->type, "fdc", "ccid"))
                return;
        else {
                qemu_cmd_fail(c, "%s: controller type is not supported", what);
                return;
        }
        qemu_cmd_pci_address(c, o, &k->address, what);
        qemu_cmd_add_opt(c, "-device", o);
}

void qemu_cmd_build_controllers(QemuCmd *c) {
        const DomainDef *def = c->def;

        /* PCI buses first, parents before children (ascending index), then USB
         * masters before their companions, then the rest. */
        for (int idx = 0; idx <= 255; idx++) {
                const DomainControllerDef *k = qemu_cmd_find_controller(c, "pci", idx);
                if (k)
                        build_pci_controller(c, k);
        }
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < def->n_controllers; i++) {
                        const DomainControllerDef *k = &def->controllers[i];
                        if (qemu_streq(k->type, "usb") && k->has_master == (pass == 1))
                                build_usb_controller(c, k);
                }
        for (size_t i = 0; i < def->n_controllers; i++) {
                const DomainControllerDef *k = &def->controllers[i];
                if (!k->type)
                        qemu_cmd_fail(c, "controller without a type");
                else if (streq(k->type, "pci") && (k->index < 0 || k->index > 255))
                        qemu_cmd_fail(c, "controller pci index %d: index must be 0…255", k->index);
                else if (!STR_IN_SET(k->type, "pci", "usb"))
                        build_other_controller(c, k);
        }
}

/* ---------------- disks ---------------- */

static void disk_cache_flags(const char *cache, const char **direct, const char **no_flush, const char **wce) {
        *direct = *no_flush = *wce = NULL;
        if (!cache || streq(cache, "default"))
                return;
        if (streq(cache, "none"))
                *direct = "on", *no_flush = "off", *wce = "on";
        else if (streq(cache, "writethrough"))
                *direct = "off", *no_flush = "off", *wce = "off";
        else if (streq(cache, "writeback"))
                *direct = "off", *no_flush = "off", *wce = "on";
        else if (streq(cache, "directsync"))
                *direct = "on", *no_flush = "off", *wce = "off";
        else if (streq(cache, "unsafe"))
                *direct = "off", *no_flush = "on", *wce = "on";
}

static bool disk_format_valid(const char *f) {
        return STR_IN_SET(f, "raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vpc", "vhdx", "cloop", "dmg",
                          "parallels", "bochs");
}

/* Device id and bus placement (",bus=…,unit=…") for one disk. */
static void disk_placement(QemuCmd *c, size_t i, GString *o, char *id, size_t idlen, const char *what) {
        const DomainDiskDef *d = &c->def->disks[i];
        const DomainAddress *a = &d->address;
        int n = qemu_disk_index_from_name(d->target_dev);
        unsigned ctrl = 0, bus = 0, target = 0, unit = 0;

        if (a->type == DOMAIN_ADDRESS_DRIVE) {
                ctrl = a->controller, bus = a->drive_bus, target = a->target, unit = a->unit;
        } else if (d->bus != DOMAIN_DISK_BUS_VIRTIO) {
                if (a->type != DOMAIN_ADDRESS_NONE || n < 0) {
                        qemu_cmd_fail(c, "%s needs a drive address", what);
                        return;
                }
                /* Not normalized: derive the slot from the target name as libvirt does. */
                if (d->bus == DOMAIN_DISK_BUS_IDE)
                        bus = (unsigned) n / 2, unit = (unsigned) n % 2;
                else if (d->bus == DOMAIN_DISK_BUS_SATA)
                        ctrl = (unsigned) n / 6, unit = (unsigned) n % 6;
                else
                        ctrl = (unsigned) n / 7, unit = (unsigned) n % 7;
        }

        switch (d->bus) {
        case DOMAIN_DISK_BUS_VIRTIO:
                snprintf(id, idlen, "virtio-disk%d", n >= 0 ? n : (int) i);
                qemu_cmd_pci_address(c, o, a, what);
                break;
        case DOMAIN_DISK_BUS_IDE:
                if (c->q35 || ctrl != 0 || bus > 1 || unit > 1 || target != 0) {
                        qemu_cmd_fail(c, "%s: %s", what, c->q35 ? "q35 machines have no IDE bus; use bus='sata'"
                                                                : "IDE address out of range (2 buses × 2 units)");
                        return;
                }
                snprintf(id, idlen, "ide0-%u-%u", bus, unit);
                qemu_opt_fmt(o, "bus", "ide.%u", bus);
                qemu_opt_fmt(o, "unit", "%u", unit);
                break;
        case DOMAIN_DISK_BUS_SATA:
                if (unit > 5 || bus != 0 || target != 0 || ctrl > 255) {
                        qemu_cmd_fail(c, "%s: SATA address out of range (6 ports per controller)", what);
                        return;
                }
                if (!qemu_cmd_find_controller(c, "sata", (int) ctrl) && !(c->q35 && ctrl == 0)) {
                        qemu_cmd_fail(c, "%s needs a SATA controller with index %u", what, ctrl);
                        return;
                }
                snprintf(id, idlen, "sata%u-0-%u", ctrl, unit);
                if (c->q35 && ctrl == 0)
                        qemu_opt_fmt(o, "bus", "ide.%u", unit);
                else
                        qemu_opt_fmt(o, "bus", "sata%u.%u", ctrl, unit);
                break;
        case DOMAIN_DISK_BUS_SCSI: {
                const DomainControllerDef *k = qemu_cmd_find_controller(c, "scsi", (int) ctrl);

                if (!k) {
                        qemu_cmd_fail(c, "%s needs a SCSI controller with index %u", what, ctrl);
                        return;
                }
                snprintf(id, idlen, "scsi%u-0-%u-%u", ctrl, target, unit);
                qemu_opt_fmt(o, "bus", "scsi%u.0", ctrl);
                if (qemu_streq(k->model, "lsilogic")) {
                        /* a parallel SCSI bus: one LUN per target, the unit is the target id */
                        if (bus > 0 || target > 0 || unit > 6) {
                                qemu_cmd_fail(c, "%s: lsilogic address out of range (units 0…6)", what);
                                return;
                        }
                        qemu_opt_fmt(o, "scsi-id", "%u", unit);
                        break;
                }
                if (bus > 0 || target > 255 || unit > 16383) {
                        qemu_cmd_fail(c, "%s: SCSI address out of range", what);
                        return;
                }
                qemu_opt_fmt(o, "channel", "%u", bus);
                qemu_opt_fmt(o, "scsi-id", "%u", target);
                qemu_opt_fmt(o, "lun", "%u", unit);
                break;
        }
        default:
                qemu_cmd_fail(c, "%s: unsupported bus", what);
        }
}

/* One layer of an image: its fd in an fdset, the protocol node on /dev/fdset/N and the format node
 * over it, whose backing is `below` (a format node name; "" for none). */
typedef struct DiskNode {
        int fd;
        const char *format;
        bool readonly;
        const int *lease_fd;    /* the top layer's: the disk's lease (DriverFiles lease_fds), kept in its set */
} DiskNode;

static bool format_has_backing(const char *fmt) {
        return STR_IN_SET(fmt, "qcow2", "qcow", "qed", "vmdk");
}

static void build_format_node(QemuCmd *c, const DomainDiskDef *d, const DiskNode *n, const char *storage,
                              const char *format, const char *below);

static void build_disk_node(QemuCmd *c, const DomainDiskDef *d, const DiskNode *n, const char *protocol,
                            const char *storage, const char *format, const char *below, const char *what) {
        const char *direct, *no_flush, *wce;
        GString *o;
        int set;

        disk_cache_flags(d->driver_cache, &direct, &no_flush, &wce);
        set = qemu_cmd_add_fdset(c, n->fd, storage, what);
        if (set < 0)
                return;
        if (n->lease_fd && *n->lease_fd >= 0) {
                /* write-only: never what qemu opens /dev/fdset/N as; it goes with the set */
                int lease = qemu_cmd_pass_fd(c, *n->lease_fd, what);

                if (lease < 0)
                        return;
                qemu_cmd_add(c, "-add-fd");
                qemu_cmd_addf(c, "fd=%d,set=%d,opaque=%s-lease", lease, set, storage);
        }
        o = g_string_new(NULL);
        g_string_printf(o, "driver=%s", protocol);
        qemu_opt_fmt(o, "filename", "/dev/fdset/%d", set);
        qemu_opt_fmt(o, "node-name", "%s", storage);
        if (direct) {
                qemu_opt_fmt(o, "cache.direct", "%s", direct);
                qemu_opt_fmt(o, "cache.no-flush", "%s", no_flush);
        }
        if (d->driver_io)
                qemu_opt_fmt(o, "aio", "%s", d->driver_io);
        /* The set holds one fd with the access mode qemu must ask for: no
         * auto-read-only, which opens read-only first and reopens read-write. */
        qemu_opt_fmt(o, "read-only", "%s", n->readonly ? "on" : "off");
        if (d->driver_discard)
                qemu_opt_fmt(o, "discard", "%s", d->driver_discard);
        qemu_cmd_add_opt(c, "-blockdev", o);
        build_format_node(c, d, n, storage, format, below);
}

/* The format node `format` over the protocol node `storage`. */
static void build_format_node(QemuCmd *c, const DomainDiskDef *d, const DiskNode *n, const char *storage,
                              const char *format, const char *below) {
        const char *direct, *no_flush, *wce;
        GString *o;

        disk_cache_flags(d->driver_cache, &direct, &no_flush, &wce);
        if (!below[0] && format_has_backing(n->format)) {
                /* "backing": null has no key=value spelling (backing=null names a node "null"):
                 * JSON, of values that are all ours (node names, enums, on/off) */
                o = g_string_new(NULL);
                g_string_printf(o, "{\"node-name\":\"%s\",\"read-only\":%s", format, n->readonly ? "true" : "false");
                if (direct)
                        g_string_append_printf(o, ",\"cache\":{\"direct\":%s,\"no-flush\":%s}",
                                               streq(direct, "on") ? "true" : "false", streq(no_flush, "on") ? "true" : "false");
                if (d->driver_discard)
                        g_string_append_printf(o, ",\"discard\":\"%s\"", d->driver_discard);
                g_string_append_printf(o, ",\"driver\":\"%s\",\"file\":\"%s\",\"backing\":null}", n->format, storage);
                qemu_cmd_add_opt(c, "-blockdev", o);
                return;
        }
        o = g_string_new(NULL);
        g_string_printf(o, "node-name=%s", format);
        qemu_opt_fmt(o, "read-only", "%s", n->readonly ? "on" : "off");
        if (direct) {
                qemu_opt_fmt(o, "cache.direct", "%s", direct);
                qemu_opt_fmt(o, "cache.no-flush", "%s", no_flush);
        }
        if (d->driver_discard)
                qemu_opt_fmt(o, "discard", "%s", d->driver_discard);
        qemu_opt_fmt(o, "driver", "%s", n->format);
        qemu_opt_fmt(o, "file", "%s", storage);
        if (below[0])
                qemu_opt_fmt(o, "backing", "%s", below);
        qemu_cmd_add_opt(c, "-blockdev", o);
}

/* ---------------- network disks ---------------- */

int qemu_secret_memfd(const uint8_t *value, size_t len) {
        int fd = memfd_create("vmgmt-secret", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        size_t done = 0;

        if (fd < 0)
                return -errno;
        while (done < len) {
                ssize_t k = write(fd, value + done, len - done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        int r = k < 0 ? -errno : -EIO;
                        close(fd);
                        return r;
                }
                done += (size_t) k;
        }
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static JsonValue *inet_server(const char *host, unsigned port) {
        JsonValue *o = json_object();
        char p[16];

        json_object_set_new(o, "type", json_string("inet"));
        json_object_set_new(o, "host", json_string(host));
        if (port) {
                snprintf(p, sizeof(p), "%u", port);
                json_object_set_new(o, "port", json_string(p));
        }
        return o;
}

static JsonValue *net_fail(JsonValue *o, char **ret_error, const char *fmt, const char *target, const char *arg) {
        json_decref(o);
        *ret_error = g_strdup_printf(fmt, target, arg);
        return NULL;
}

JsonValue *qemu_disk_network_node(const DomainDiskDef *d, const char *node, const char *secret_id, const char *socket_fd,
                                  char **ret_error) {
        const DomainDiskNet *n = &d->net;
        const char *t = d->target_dev ?: "?", *direct, *no_flush, *wce;
        bool readonly = d->readonly || d->device == DOMAIN_DISK_DEVICE_CDROM;
        JsonValue *o = json_object();

        *ret_error = NULL;
        if (n->auth_username && !secret_id)
                return net_fail(o, ret_error, "disk '%s': the secret of its <auth> was not given to qemu%s", t, "");
        switch (n->protocol) {
        case DOMAIN_DISK_PROTOCOL_NBD: {
                const DomainDiskHost *h = n->n_hosts ? &n->hosts[0] : NULL;
                JsonValue *srv;

                if (!h)
                        return net_fail(o, ret_error, "disk '%s': an nbd source needs a <host>%s", t, "");
                if (n->tls > 0)
                        return net_fail(o, ret_error, "disk '%s': nbd over TLS (tls='yes') is not supported%s", t, "");
                json_object_set_new(o, "driver", json_string("nbd"));
                if (h->unix_socket) {
                        if (!socket_fd)
                                return net_fail(o, ret_error, "disk '%s': the socket %s was not connected for qemu", t, h->socket);
                        srv = json_object();
                        json_object_set_new(srv, "type", json_string("fd"));
                        json_object_set_new(srv, "str", json_string(socket_fd));
                } else
                        srv = inet_server(h->name, domain_disk_host_port(n, h));
                json_object_set_new(o, "server", srv);
                if (n->name)
                        json_object_set_new(o, "export", json_string(n->name));
                break;
        }
        case DOMAIN_DISK_PROTOCOL_ISCSI: {
                const DomainDiskHost *h = &n->hosts[0];
                const char *slash = strrchr(n->name, '/');
                g_autofree char *target = slash ? g_strndup(n->name, (gsize) (slash - n->name)) : g_strdup(n->name);
                g_autofree char *portal = g_strdup_printf(strchr(h->name, ':') ? "[%s]:%u" : "%s:%u", h->name,
                                                          domain_disk_host_port(n, h));

                json_object_set_new(o, "driver", json_string("iscsi"));
                json_object_set_new(o, "transport", json_string("tcp"));
                json_object_set_new(o, "portal", json_string(portal));
                json_object_set_new(o, "target", json_string(target));
                json_object_set_new(o, "lun", json_integer(slash ? atoi(slash + 1) : 0));
                if (n->auth_username) {
                        json_object_set_new(o, "user", json_string(n->auth_username));
                        json_object_set_new(o, "password-secret", json_string(secret_id));
                }
                if (n->initiator_iqn)
                        json_object_set_new(o, "initiator-name", json_string(n->initiator_iqn));
                break;
        }
        case DOMAIN_DISK_PROTOCOL_NFS: {
                const DomainDiskHost *h = &n->hosts[0];

                if (h->port) {
                        char p[16];

                        snprintf(p, sizeof(p), "%u", h->port);
                        return net_fail(o, ret_error, "disk '%s': qemu's nfs client finds the server's port itself "
                                                      "(through its portmapper): <host port='%s'> is not supported", t, p);
                }
                json_object_set_new(o, "driver", json_string("nfs"));
                json_object_set_new(o, "server", inet_server(h->name, 0));
                json_object_set_new(o, "path", json_string(n->name));
                break;
        }
        case DOMAIN_DISK_PROTOCOL_RBD: {
                const char *slash = strchr(n->name, '/'), *rest = slash + 1, *ns = strchr(rest, '/');
                g_autofree char *pool = g_strndup(n->name, (gsize) (slash - n->name));
                g_autofree char *space = ns ? g_strndup(rest, (gsize) (ns - rest)) : NULL;
                JsonValue *servers;

                if (n->config_file)
                        return net_fail(o, ret_error, "disk '%s': <config file='%s'> is not supported (qemu opens no host "
                                                      "files): name the monitors with <host>", t, n->config_file);
                if (!n->n_hosts)
                        return net_fail(o, ret_error, "disk '%s': an rbd source needs its monitors as <host name=… port=…>%s", t, "");
                json_object_set_new(o, "driver", json_string("rbd"));
                json_object_set_new(o, "pool", json_string(pool));
                if (ns) {
                        json_object_set_new(o, "namespace", json_string(space));
                        json_object_set_new(o, "image", json_string(ns + 1));
                } else
                        json_object_set_new(o, "image", json_string(rest));
                if (n->snapshot)
                        json_object_set_new(o, "snapshot", json_string(n->snapshot));
                servers = json_array();
                for (size_t i = 0; i < n->n_hosts; i++) {
                        JsonValue *srv = json_object();
                        char p[16];

                        snprintf(p, sizeof(p), "%u", domain_disk_host_port(n, &n->hosts[i]));
                        json_object_set_new(srv, "host", json_string(n->hosts[i].name));
                        json_object_set_new(srv, "port", json_string(p));
                        json_array_append_new(servers, srv);
                }
                json_object_set_new(o, "server", servers);
                if (n->auth_username) {
                        JsonValue *req = json_array();

                        json_array_append_new(req, json_string("cephx"));
                        json_object_set_new(o, "user", json_string(n->auth_username));
                        json_object_set_new(o, "key-secret", json_string(secret_id));
                        json_object_set_new(o, "auth-client-required", req);
                } else {
                        JsonValue *req = json_array();

                        json_array_append_new(req, json_string("none"));
                        json_object_set_new(o, "auth-client-required", req);
                }
                break;
        }
        case DOMAIN_DISK_PROTOCOL_GLUSTER: {
                const char *slash = strchr(n->name, '/');
                g_autofree char *volume = g_strndup(n->name, (gsize) (slash - n->name));
                JsonValue *servers = json_array();

                json_object_set_new(o, "driver", json_string("gluster"));
                json_object_set_new(o, "volume", json_string(volume));
                json_object_set_new(o, "path", json_string(slash + 1));
                for (size_t i = 0; i < n->n_hosts; i++) {
                        if (n->hosts[i].unix_socket) {
                                json_decref(servers);
                                return net_fail(o, ret_error, "disk '%s': gluster through the unix socket %s is not supported "
                                                              "(qemu opens no host paths): use transport='tcp'", t,
                                                n->hosts[i].socket);
                        }
                        json_array_append_new(servers, inet_server(n->hosts[i].name, domain_disk_host_port(n, &n->hosts[i])));
                }
                json_object_set_new(o, "server", servers);
                break;
        }
        default:
                return net_fail(o, ret_error, "disk '%s': unknown protocol%s", t, "");
        }
        json_object_set_new(o, "node-name", json_string(node));
        json_object_set_new(o, "read-only", json_boolean(readonly));
        disk_cache_flags(d->driver_cache, &direct, &no_flush, &wce);
        if (direct) {
                JsonValue *cache = json_object();

                json_object_set_new(cache, "direct", json_boolean(streq(direct, "on")));
                json_object_set_new(cache, "no-flush", json_boolean(streq(no_flush, "on")));
                json_object_set_new(o, "cache", cache);
        }
        if (d->driver_discard)
                json_object_set_new(o, "discard", json_string(d->driver_discard));
        return o;
}

/* -object secret for a network disk's <auth>, -blockdev of its protocol node, then its format node. */
static void build_network_disk(QemuCmd *c, size_t i, const char *fmt, bool readonly, const char *storage,
                               const char *format, const char *what) {
        const DomainDiskDef *d = &c->def->disks[i];
        const DomainDiskNet *n = &d->net;
        DiskNode top = { .fd = -1, .format = fmt, .readonly = readonly };
        char secret_id[48] = "", sock[16] = "";
        g_autofree char *err = NULL, *text = NULL;
        _cleanup_json_ JsonValue *node = NULL;

        if (d->driver_io && streq(d->driver_io, "native"))
                qemu_cmd_fail(c, "%s: io='native' is for host files, not network disks", what);
        if (n->auth_username) {
                int fd, k;

                if (!n->secret_value) {
                        qemu_cmd_fail(c, "%s: the value of its <auth>'s secret was not looked up", what);
                        return;
                }
                fd = c->ctx->open_secret ? c->ctx->open_secret(c->ctx->pass_fd_userdata, n->secret_value, n->secret_len)
                                         : -EOPNOTSUPP;
                if (fd < 0) {
                        qemu_cmd_fail(c, "%s: cannot hand the secret to qemu: %s", what, strerror(-fd));
                        return;
                }
                k = qemu_cmd_pass_fd(c, fd, what);
                if (k < 0)
                        return;
                snprintf(secret_id, sizeof(secret_id), "disk%zu-secret", i);
                qemu_cmd_add(c, "-object");
                qemu_cmd_addf(c, "secret,id=%s,format=raw,file=/proc/self/fd/%d", secret_id, k);
        }
        if (n->protocol == DOMAIN_DISK_PROTOCOL_NBD && n->n_hosts == 1 && n->hosts[0].unix_socket) {
                const DriverFile *f = qemu_cmd_file(c, DOMAIN_PATH_DISK, 0, i, what);
                int k = f ? qemu_cmd_pass_fd(c, f->fd, what) : -1;

                if (k < 0)
                        return;
                snprintf(sock, sizeof(sock), "%d", k);
        }
        node = qemu_disk_network_node(d, storage, secret_id[0] ? secret_id : NULL, sock[0] ? sock : NULL, &err);
        if (!node) {
                qemu_cmd_fail(c, "%s", err ?: "out of memory");
                return;
        }
        text = json_util_format(node, NULL);
        if (!text) {
                qemu_cmd_fail(c, "%s: out of memory", what);
                return;
        }
        qemu_cmd_add(c, "-blockdev");
        qemu_cmd_add(c, text);
        build_format_node(c, d, &top, storage, format, "");
}

static void build_disk(QemuCmd *c, size_t i) {
        const DomainDiskDef *d = &c->def->disks[i];
        bool cdrom = d->device == DOMAIN_DISK_DEVICE_CDROM, readonly = d->readonly || cdrom;
        const char *fmt = d->driver_type ?: "raw", *direct, *no_flush, *wce, *dev;
        char what[300], id[64] = "", storage[32], format[32];
        GString *dv;

        snprintf(what, sizeof(what), "disk '%s'", strempty(d->target_dev));
        snprintf(storage, sizeof(storage), "disk%zu-storage", i);
        snprintf(format, sizeof(format), "disk%zu-format", i);

        if (d->type == DOMAIN_DISK_TYPE_VOLUME) {
                qemu_cmd_fail(c, "%s: storage pool volumes are not supported yet", what);
                return;
        }
        if (d->driver_name && !streq(d->driver_name, "qemu"))
                qemu_cmd_fail(c, "%s: driver name '%s' is not supported", what, d->driver_name);
        if (streq(fmt, "iso"))
                fmt = "raw";
        if (!disk_format_valid(fmt))
                qemu_cmd_fail(c, "%s: format '%s' is not supported", what, fmt);
        disk_cache_flags(d->driver_cache, &direct, &no_flush, &wce);
        if (d->driver_cache && !streq(d->driver_cache, "default") && !direct)
                qemu_cmd_fail(c, "%s: cache mode '%s' is not supported", what, d->driver_cache);
        if (d->driver_io && !STR_IN_SET(d->driver_io, "native", "threads", "io_uring"))
                qemu_cmd_fail(c, "%s: io mode '%s' is not supported", what, d->driver_io);
        if (qemu_streq(d->driver_io, "native") && !qemu_streq(direct, "on"))
                qemu_cmd_fail(c, "%s: io='native' needs cache='none' or cache='directsync'", what);
        if (d->driver_discard && !STR_IN_SET(d->driver_discard, "unmap", "ignore"))
                qemu_cmd_fail(c, "%s: discard mode '%s' is not supported", what, d->driver_discard);
        if (!d->source && !cdrom && d->type != DOMAIN_DISK_TYPE_NETWORK)
                qemu_cmd_fail(c, "%s has no source", what);
        if (d->source && !qemu_path_valid(d->source))
                qemu_cmd_fail(c, "%s: source '%s' is not an absolute path", what, d->source);
        if (cdrom && d->bus == DOMAIN_DISK_BUS_VIRTIO)
                qemu_cmd_fail(c, "%s: a cdrom cannot be on the virtio bus", what);
        if (readonly && !cdrom && (d->bus == DOMAIN_DISK_BUS_IDE || d->bus == DOMAIN_DISK_BUS_SATA))
                qemu_cmd_fail(c, "%s: qemu cannot make an IDE/SATA hard disk read-only; use bus='virtio' or 'scsi'", what);
        if (c->error)
                return;

        if (d->type == DOMAIN_DISK_TYPE_NETWORK)
                build_network_disk(c, i, fmt, readonly, storage, format, what);
        else if (d->source) {
                const DriverFile *f = qemu_cmd_file(c, DOMAIN_PATH_DISK, 0, i, what);
                const char *protocol = d->type == DOMAIN_DISK_TYPE_BLOCK ? (cdrom ? "host_cdrom" : "host_device") : "file";
                const DriverFiles *fs = c->ctx->files;
                DiskNode top = { .fd = f ? f->fd : -1, .format = fmt, .readonly = readonly,
                                 .lease_fd = fs && i < fs->n_lease_fds ? &fs->lease_fds[i] : NULL };
                char below[64] = "";

                if (!f)
                        return;
                if (f->format && !streq(f->format, fmt))
                        qemu_cmd_fail(c, "%s: the image was opened as %s, not %s", what, f->format, fmt);
                /* the backing chain, bottom first: a node must exist before one names it as backing */
                for (size_t k = f->n_backing; k > 0; k--) {
                        const DriverFileLayer *l = &f->backing[k - 1];
                        DiskNode n = { .fd = l->fd, .format = l->format ?: "raw", .readonly = true };
                        char storage_k[64], format_k[64];

                        if (!disk_format_valid(n.format)) {
                                qemu_cmd_fail(c, "%s: backing file format '%s' is not supported", what, n.format);
                                return;
                        }
                        snprintf(storage_k, sizeof(storage_k), "disk%zu-backing%zu-storage", i, k);
                        snprintf(format_k, sizeof(format_k), "disk%zu-backing%zu-format", i, k);
                        build_disk_node(c, d, &n, "file", storage_k, format_k, below, what);
                        snprintf(below, sizeof(below), "%s", format_k);
                }
                build_disk_node(c, d, &top, protocol, storage, format, below, what);
        }

        switch (d->bus) {
        case DOMAIN_DISK_BUS_VIRTIO: dev = "virtio-blk-pci"; break;
        case DOMAIN_DISK_BUS_IDE:
        case DOMAIN_DISK_BUS_SATA: dev = cdrom ? "ide-cd" : "ide-hd"; break;
        case DOMAIN_DISK_BUS_SCSI: dev = cdrom ? "scsi-cd" : "scsi-hd"; break;
        default:
                qemu_cmd_fail(c, "%s: unsupported bus", what);
                return;
        }
        dv = g_string_new(dev);
        disk_placement(c, i, dv, id, sizeof(id), what);
        if (d->source || d->type == DOMAIN_DISK_TYPE_NETWORK)
                qemu_opt_fmt(dv, "drive", "%s", format);
        if (d->alias) {
                if (!qemu_id_valid(d->alias))
                        qemu_cmd_fail(c, "%s: alias '%s' is not a valid qemu id", what, d->alias);
                else
                        snprintf(id, sizeof(id), "%s", d->alias);
        }
        qemu_opt_fmt(dv, "id", "%s", id);
        if (c->bootindex_disk[i])
                qemu_opt_fmt(dv, "bootindex", "%d", c->bootindex_disk[i]);
        if (wce && !cdrom)
                qemu_opt_fmt(dv, "write-cache", "%s", wce);
        if (d->shareable)
                qemu_opt_fmt(dv, "share-rw", "on");
        if (d->serial)
                qemu_opt_str(dv, "serial", d->serial);
        if (d->driver_iothread) {
                if (d->bus != DOMAIN_DISK_BUS_VIRTIO)
                        qemu_cmd_fail(c, "%s: <driver iothread=> needs a virtio disk", what);
                else if (!domain_tune_has_iothread(&c->def->tune, d->driver_iothread))
                        qemu_cmd_fail(c, "%s: iothread %u is not one of <iothreadids>", what, d->driver_iothread);
                else
                        qemu_opt_fmt(dv, "iothread", "iothread%u", d->driver_iothread);
        }
        qemu_cmd_add_opt(c, "-device", dv);
}

void qemu_cmd_build_disks(QemuCmd *c) {
        for (size_t i = 0; i < c->def->n_disks; i++)
                build_disk(c, i);
}
