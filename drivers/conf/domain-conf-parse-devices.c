/* domain-conf-parse-devices.c — the <devices> section of domain XML → DomainDef device arrays. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

#define ELEM_FOREACH(c, parent) \
        for (xmlNode *c = (parent)->children; c; c = c->next) if (c->type == XML_ELEMENT_NODE)

static bool name_is(xmlNode *n, const char *name) {
        return streq((const char *) n->name, name);
}

int domain_address_parse(xmlNode *node, DomainAddress *a, ConfError *err) {
        int type, r;
        uint64_t v;

        r = xml_attr_enum(node, "type", domain_address_type_table, &type, err);
        if (r < 0)
                return r;
        if (r == 0 || type == DOMAIN_ADDRESS_NONE)
                return conf_error_set(err, xml_line(node), "<address> needs a 'type' attribute (pci, drive, usb, virtio-serial)");

        const char *const *attrs[] = {
                [DOMAIN_ADDRESS_PCI] = STRV("type", "domain", "bus", "slot", "function", "multifunction"),
                [DOMAIN_ADDRESS_DRIVE] = STRV("type", "controller", "bus", "target", "unit"),
                [DOMAIN_ADDRESS_USB] = STRV("type", "bus", "port"),
                [DOMAIN_ADDRESS_VIRTIO_SERIAL] = STRV("type", "controller", "bus", "port"),
        };
        r = xml_validate(node, &(XmlSpec) { .attrs = attrs[type] }, err);
        if (r < 0)
                return r;

        domain_address_clear(a);
        *a = (DomainAddress) { .type = type };
        switch (type) {
        case DOMAIN_ADDRESS_PCI: {
                const struct { const char *n; unsigned *f; uint64_t max; } f[] = {
                        { "domain", &a->domain, 0xffff }, { "bus", &a->bus, 0xff },
                        { "slot", &a->slot, 0x1f }, { "function", &a->function, 7 },
                };
                for (size_t i = 0; i < ELEMENTSOF(f); i++) {
                        r = xml_attr_uint(node, f[i].n, 0, f[i].max, &v, err);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                *f[i].f = (unsigned) v;
                }
                int mf;
                r = xml_attr_bool(node, "multifunction", true, &mf, err);
                if (r < 0)
                        return r;
                a->multifunction = r > 0 && mf;
                break;
        }
        case DOMAIN_ADDRESS_DRIVE:
        case DOMAIN_ADDRESS_VIRTIO_SERIAL: {
                const struct { const char *n; unsigned *f; } f[] = {
                        { "controller", &a->controller }, { "bus", &a->drive_bus },
                        { "target", &a->target }, { "unit", &a->unit }, { "port", &a->port },
                };
                for (size_t i = 0; i < ELEMENTSOF(f); i++) {
                        r = xml_attr_uint(node, f[i].n, 10, 65535, &v, err);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                *f[i].f = (unsigned) v;
                }
                break;
        }
        case DOMAIN_ADDRESS_USB: {
                r = xml_attr_uint(node, "bus", 10, 65535, &v, err);
                if (r < 0)
                        return r;
                if (r > 0)
                        a->drive_bus = (unsigned) v;
                r = xml_attr_str(node, "port", &a->usb_port);
                if (r < 0)
                        return r;
                if (a->usb_port) {
                        /* "1" or a hub path "1.2.3" */
                        const char *p = a->usb_port;
                        bool ok = *p != '\0';
                        for (; *p && ok; p++)
                                ok = (*p >= '0' && *p <= '9') || (*p == '.' && p != a->usb_port && p[1] && p[1] != '.');
                        if (!ok)
                                return conf_error_set(err, xml_line(node), "invalid USB port '%s'", a->usb_port);
                        a->port = (unsigned) strtoul(a->usb_port, NULL, 10);
                }
                break;
        }
        }
        return 0;
}

int domain_device_info_parse(xmlNode *c, DomainAddress *addr, char **alias, unsigned *boot_order, ConfError *err) {
        int r;

        if (name_is(c, "address") && addr)
                return domain_address_parse(c, addr, err) < 0 ? -EINVAL : 1;
        if (name_is(c, "alias")) {
                _cleanup_free_ char *a = NULL;
                r = xml_validate(c, &(XmlSpec) { .attrs = STRV("name") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_str(c, "name", &a);
                if (r < 0)
                        return r;
                if (!a)
                        return conf_error_set(err, xml_line(c), "<alias> needs a 'name' attribute");
                /* Only user aliases are configuration; libvirt's own ("virtio-disk0") are runtime names. */
                if (alias && g_str_has_prefix(a, "ua-")) {
                        free(*alias);
                        *alias = TAKE_PTR(a);
                }
                return 1;
        }
        if (name_is(c, "boot") && boot_order) {
                uint64_t v;
                r = xml_validate(c, &(XmlSpec) { .attrs = STRV("order") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_uint(c, "order", 10, 65535, &v, err);
                if (r < 0)
                        return r;
                if (r == 0 || v == 0)
                        return conf_error_set(err, xml_line(c), "<boot> needs an 'order' attribute of at least 1");
                *boot_order = (unsigned) v;
                return 1;
        }
        return 0;
}

/* libvirt's live backing chain: <backingStore type='file' index='N'><format type='qcow2'/>
 * <source file='…'/><backingStore …/></backingStore>, ended by an empty <backingStore/>.
 * Kept as live data (formatted in the live XML only); the start puts the chain
 * the images really have in its place. */
static int parse_backing_store(DomainDiskDef *d, xmlNode *node, ConfError *err) {
        for (;;) {
                _cleanup_free_ char *type = NULL, *path = NULL, *format = NULL;
                xmlNode *next = NULL;
                DomainDiskBacking *b;
                int r;

                r = xml_validate(node, &(XmlSpec) { .attrs = STRV("type", "index"), .children = STRV("format", "source", "backingStore") }, err);
                if (r < 0)
                        return r;
                if (xml_attr_str(node, "type", &type) < 0)
                        return -ENOMEM;
                if (!type && !node->children) {
                        d->backing_known = true;        /* the end of the chain */
                        return 0;
                }
                if (type && !streq(type, "file") && !streq(type, "block"))
                        return conf_error_set(err, xml_line(node), "<backingStore> of type '%s' is not supported (file, block)", type);
                ELEM_FOREACH(c, node) {
                        if (name_is(c, "format")) {
                                r = xml_validate(c, &(XmlSpec) { .attrs = STRV("type") }, err);
                                if (r < 0)
                                        return r;
                                if (xml_attr_str(c, "type", &format) < 0)
                                        return -ENOMEM;
                        } else if (name_is(c, "source")) {
                                r = xml_validate(c, &(XmlSpec) { .attrs = STRV("file", "dev", "index") }, err);
                                if (r < 0)
                                        return r;
                                if (xml_attr_str(c, "file", &path) < 0 || (!path && xml_attr_str(c, "dev", &path) < 0))
                                        return -ENOMEM;
                        } else if (name_is(c, "backingStore")) {
                                if (next)
                                        return conf_error_set(err, xml_line(c), "<backingStore> holds one <backingStore>");
                                next = c;
                        }
                }
                if (isempty(path))
                        return conf_error_set(err, xml_line(node), "<backingStore> needs a <source> with a path");
                if (d->n_backing >= DOMAIN_DISK_BACKING_MAX)
                        return conf_error_set(err, xml_line(node), "a backing chain longer than %d layers", DOMAIN_DISK_BACKING_MAX);
                b = conf_array_append(&d->backing, &d->n_backing, sizeof(DomainDiskBacking));
                if (!b)
                        return -ENOMEM;
                b->path = TAKE_PTR(path);
                b->format = TAKE_PTR(format);
                if (!next) {
                        d->backing_known = false;       /* not said where it ends */
                        return 0;
                }
                node = next;
        }
}

static int parse_disk(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainDiskDef *d;
        bool net_source = false;
        int r, v;

        d = conf_array_append(&def->disks, &def->n_disks, sizeof(DomainDiskDef));
        if (!d)
                return -ENOMEM;
        r = xml_validate(node, &(XmlSpec) {
                .attrs = STRV("type", "device"),
                .children = STRV("driver", "source", "target", "readonly", "shareable", "boot", "serial", "alias",
                                 "address", "backingStore", "auth"),
        }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum(node, "type", domain_disk_type_table, &v, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(node), "<disk> needs a 'type' attribute (file, block, volume, network)");
        d->type = v;
        r = xml_attr_enum(node, "device", domain_disk_device_table, &v, err);
        if (r < 0)
                return r;
        d->device = r > 0 ? v : DOMAIN_DISK_DEVICE_DISK;

        ELEM_FOREACH(c, node) {
                r = domain_device_info_parse(c, &d->address, &d->alias, &d->boot_order, err);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (name_is(c, "driver")) {
                        uint64_t iothread = 0;

                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("name", "type", "cache", "io", "discard",
                                                                       "iothread") }, err);
                        if (r < 0)
                                return r;
                        r = xml_attr_uint(c, "iothread", 10, 1024 * 1024, &iothread, err);
                        if (r < 0)
                                return r;
                        d->driver_iothread = (unsigned) iothread;
                        if (xml_attr_enum_str(c, "name", STRV("qemu"), &d->driver_name, err) < 0 ||
                            xml_attr_enum_str(c, "type", STRV("raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vpc", "vhdx", "luks"),
                                              &d->driver_type, err) < 0 ||
                            xml_attr_enum_str(c, "cache", STRV("default", "none", "writethrough", "writeback", "directsync", "unsafe"),
                                              &d->driver_cache, err) < 0 ||
                            xml_attr_enum_str(c, "io", STRV("native", "threads", "io_uring"), &d->driver_io, err) < 0 ||
                            xml_attr_enum_str(c, "discard", STRV("unmap", "ignore"), &d->driver_discard, err) < 0)
                                return -EINVAL;
                } else if (name_is(c, "source") && d->type == DOMAIN_DISK_TYPE_NETWORK) {
                        r = domain_disk_net_parse_source(d, c, err);
                        if (r < 0)
                                return r;
                        net_source = true;
                } else if (name_is(c, "auth")) {
                        r = domain_disk_net_parse_auth(d, c, err);
                        if (r < 0)
                                return r;
                } else if (name_is(c, "source")) {
                        const char *const *attrs[] = {
                                [DOMAIN_DISK_TYPE_FILE] = STRV("file", "index"),
                                [DOMAIN_DISK_TYPE_BLOCK] = STRV("dev", "index"),
                                [DOMAIN_DISK_TYPE_VOLUME] = STRV("pool", "volume", "index"),
                        };
                        r = xml_validate(c, &(XmlSpec) { .attrs = attrs[d->type] }, err);
                        if (r < 0)
                                return r;
                        /* 'index' is libvirt's live backing-chain index: runtime data, dropped. */
                        if (xml_attr_str(c, "file", &d->source) < 0 || xml_attr_str(c, "dev", &d->source) < 0 ||
                            xml_attr_str(c, "pool", &d->source_pool) < 0 || xml_attr_str(c, "volume", &d->source_volume) < 0)
                                return -ENOMEM;
                        if (d->source && isempty(d->source))
                                return conf_error_set(err, xml_line(c), "empty disk source path");
                        if (d->type == DOMAIN_DISK_TYPE_VOLUME && (isempty(d->source_pool) || isempty(d->source_volume)))
                                return conf_error_set(err, xml_line(c), "<source> of a volume disk needs 'pool' and 'volume'");
                } else if (name_is(c, "target")) {
                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("dev", "bus") }, err);
                        if (r < 0)
                                return r;
                        if (xml_attr_str(c, "dev", &d->target_dev) < 0)
                                return -ENOMEM;
                        if (isempty(d->target_dev))
                                return conf_error_set(err, xml_line(c), "<target> of a disk needs a 'dev' attribute");
                        r = xml_attr_enum(c, "bus", domain_disk_bus_table, &v, err);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                d->bus = v;
                        else if (g_str_has_prefix(d->target_dev, "vd"))
                                d->bus = DOMAIN_DISK_BUS_VIRTIO;
                        else if (g_str_has_prefix(d->target_dev, "sd"))
                                d->bus = DOMAIN_DISK_BUS_SCSI;
                        else if (g_str_has_prefix(d->target_dev, "hd"))
                                d->bus = DOMAIN_DISK_BUS_IDE;
                        else
                                return conf_error_set(err, xml_line(c), "cannot tell the bus of disk '%s'; add a 'bus' attribute",
                                                      d->target_dev);
                } else if (name_is(c, "backingStore")) {
                        if (d->backing_known || d->n_backing)
                                return conf_error_set(err, xml_line(c), "disk with more than one <backingStore>");
                        r = parse_backing_store(d, c, err);
                        if (r < 0)
                                return r;
                } else if (name_is(c, "readonly") || name_is(c, "shareable")) {
                        r = xml_validate(c, &(XmlSpec) {}, err);
                        if (r < 0)
                                return r;
                        if (name_is(c, "readonly"))
                                d->readonly = true;
                        else if (name_is(c, "shareable"))
                                d->shareable = true;
                } else if (name_is(c, "serial")) {
                        r = xml_validate(c, &(XmlSpec) { .text = true }, err);
                        if (r < 0)
                                return r;
                        r = xml_text(c, &d->serial);
                        if (r < 0)
                                return r;
                        for (const char *p = d->serial; *p; p++)
                                if (!g_ascii_isalnum(*p) && !strchr("-_ .+", *p))
                                        return conf_error_set(err, xml_line(c), "disk serial '%s' may hold only letters, digits, '-', '_', '.', '+' and spaces",
                                                              d->serial);
                }
        }

        if (!d->target_dev)
                return conf_error_set(err, xml_line(node), "<disk> needs a <target dev=…>");
        if (d->type == DOMAIN_DISK_TYPE_NETWORK && !net_source)
                return conf_error_set(err, xml_line(node), "disk '%s' needs a <source protocol=… name=…>", d->target_dev);
        if (!d->source && d->type != DOMAIN_DISK_TYPE_VOLUME && d->type != DOMAIN_DISK_TYPE_NETWORK &&
            d->device != DOMAIN_DISK_DEVICE_CDROM)
                return conf_error_set(err, xml_line(node), "disk '%s' needs a <source>", d->target_dev);
        r = domain_disk_net_check(d, xml_line(node), err);
        if (r < 0)
                return r;
        for (size_t i = 0; i + 1 < def->n_disks; i++)
                if (streq(def->disks[i].target_dev, d->target_dev))
                        return conf_error_set(err, xml_line(node), "duplicate disk target dev '%s'", d->target_dev);
        return 0;
}

static int parse_interface(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainNetDef *n;
        int r, v;

        n = conf_array_append(&def->nets, &def->n_nets, sizeof(DomainNetDef));
        if (!n)
                return -ENOMEM;
        r = xml_validate(node, &(XmlSpec) {
                .attrs = STRV("type"),
                .children = STRV("mac", "source", "target", "model", "boot", "alias", "address", "bandwidth"),
        }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum(node, "type", domain_net_type_table, &v, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(node), "<interface> needs a 'type' attribute (user, network, bridge)");
        n->type = v;

        ELEM_FOREACH(c, node) {
                r = domain_device_info_parse(c, &n->address, &n->alias, &n->boot_order, err);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (name_is(c, "mac")) {
                        _cleanup_free_ char *m = NULL;
                        char buf[18];
                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("address") }, err);
                        if (r < 0)
                                return r;
                        m = xml_attr(c, "address");
                        if (!m)
                                return conf_error_set(err, xml_line(c), "<mac> needs an 'address' attribute");
                        r = conf_mac_parse(m, buf);
                        if (r == -EADDRNOTAVAIL)
                                return conf_error_set(err, xml_line(c), "MAC address '%s' is a multicast address", m);
                        if (r < 0)
                                return conf_error_set(err, xml_line(c), "invalid MAC address '%s'", m);
                        n->mac = strdup(buf);
                        if (!n->mac)
                                return -ENOMEM;
                } else if (name_is(c, "source")) {
                        const char *const *attrs[] = {
                                [DOMAIN_NET_TYPE_USER] = (const char *const[]) { NULL },
                                [DOMAIN_NET_TYPE_NETWORK] = STRV("network", "portid", "bridge"),
                                [DOMAIN_NET_TYPE_BRIDGE] = STRV("bridge"),
                        };
                        r = xml_validate(c, &(XmlSpec) { .attrs = attrs[n->type] }, err);
                        if (r < 0)
                                return r;
                        /* For type='network', 'portid' is libvirt's live data: dropped; 'bridge'
                         * (live data too) is kept for the runtime and formatted only in live XML. */
                        if (n->type == DOMAIN_NET_TYPE_NETWORK && xml_attr_str(c, "network", &n->source_network) < 0)
                                return -ENOMEM;
                        if (n->type == DOMAIN_NET_TYPE_NETWORK && xml_attr_str(c, "bridge", &n->source_bridge) < 0)
                                return -ENOMEM;
                        if (n->type == DOMAIN_NET_TYPE_BRIDGE && xml_attr_str(c, "bridge", &n->source_bridge) < 0)
                                return -ENOMEM;
                } else if (name_is(c, "target")) {
                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("dev") }, err);
                        if (r < 0)
                                return r;
                        if (xml_attr_str(c, "dev", &n->target_dev) < 0)
                                return -ENOMEM;
                } else if (name_is(c, "bandwidth")) {
                        r = conf_bandwidth_parse(c, &n->bw_inbound, &n->bw_outbound, err);
                        if (r < 0)
                                return r;
                        if (n->bw_inbound.floor && n->type != DOMAIN_NET_TYPE_NETWORK)
                                return conf_error_set(err, xml_line(c), "floor= in <inbound> needs <interface type='network'>");
                } else if (name_is(c, "model")) {
                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("type") }, err);
                        if (r < 0)
                                return r;
                        r = xml_attr_enum_str(c, "type", STRV("virtio", "e1000", "e1000e", "rtl8139"), &n->model, err);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                return conf_error_set(err, xml_line(c), "<model> needs a 'type' attribute");
                }
        }
        if (n->type == DOMAIN_NET_TYPE_NETWORK && isempty(n->source_network))
                return conf_error_set(err, xml_line(node), "<interface type='network'> needs <source network=…>");
        if (n->type == DOMAIN_NET_TYPE_BRIDGE && isempty(n->source_bridge))
                return conf_error_set(err, xml_line(node), "<interface type='bridge'> needs <source bridge=…>");
        for (size_t i = 0; n->mac && i + 1 < def->n_nets; i++)
                if (conf_streq(def->nets[i].mac, n->mac))
                        return conf_error_set(err, xml_line(node), "duplicate MAC address '%s'", n->mac);
        return 0;
}

static int parse_chr(DomainDef *def, xmlNode *node, DomainChrKind kind, ConfError *err) {
        DomainChrDef *c;
        DomainChrDef **arr = kind == DOMAIN_CHR_SERIAL ? &def->serials : kind == DOMAIN_CHR_CONSOLE ? &def->consoles : &def->channels;
        size_t *n = kind == DOMAIN_CHR_SERIAL ? &def->n_serials : kind == DOMAIN_CHR_CONSOLE ? &def->n_consoles : &def->n_channels;
        int r;
        uint64_t v;

        c = conf_array_append(arr, n, sizeof(DomainChrDef));
        if (!c)
                return -ENOMEM;
        c->kind = kind;
        c->target_port = -1;
        r = xml_validate(node, &(XmlSpec) {
                .attrs = kind == DOMAIN_CHR_CONSOLE ? STRV("type", "tty") : STRV("type"),
                .children = STRV("source", "target", "alias", "address"),
        }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum_str(node, "type", kind == DOMAIN_CHR_CHANNEL ? STRV("unix", "pty") : STRV("pty"), &c->type, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(node), "<%s> needs a 'type' attribute", (const char *) node->name);
        if (kind == DOMAIN_CHR_CONSOLE && xml_attr_str(node, "tty", &c->source_path) < 0)
                return -ENOMEM;

        ELEM_FOREACH(t, node) {
                r = domain_device_info_parse(t, &c->address, NULL, NULL, err);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (name_is(t, "source")) {
                        r = xml_validate(t, &(XmlSpec) { .attrs = STRV("path", "mode") }, err);
                        if (r < 0)
                                return r;
                        if (xml_attr_str(t, "path", &c->source_path) < 0)
                                return -ENOMEM;
                        if (xml_attr_enum_str(t, "mode", STRV("bind"), &c->source_mode, err) < 0)
                                return -EINVAL;
                } else if (name_is(t, "target")) {
                        const char *const *types = kind == DOMAIN_CHR_SERIAL ? STRV("isa-serial") :
                                                   kind == DOMAIN_CHR_CONSOLE ? STRV("serial", "virtio") : STRV("virtio");
                        r = xml_validate(t, &(XmlSpec) {
                                .attrs = kind == DOMAIN_CHR_CHANNEL ? STRV("type", "name", "state") : STRV("type", "port"),
                                .children = kind == DOMAIN_CHR_SERIAL ? STRV("model") : NULL,
                        }, err);
                        if (r < 0)
                                return r;
                        if (xml_attr_enum_str(t, "type", types, &c->target_type, err) < 0)
                                return -EINVAL;
                        /* channel 'state' (connected/disconnected) is live data: dropped. */
                        if (xml_attr_str(t, "name", &c->target_name) < 0)
                                return -ENOMEM;
                        r = xml_attr_uint(t, "port", 10, 3, &v, err);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                c->target_port = (int) v;
                        xmlNode *m = xml_child(t, "model");
                        if (m) {
                                r = xml_validate(m, &(XmlSpec) { .attrs = STRV("name") }, err);
                                if (r < 0)
                                        return r;
                                if (xml_attr_enum_str(m, "name", STRV("isa-serial"), &c->target_model, err) < 0)
                                        return -EINVAL;
                        }
                }
        }
        if (kind == DOMAIN_CHR_CHANNEL) {
                if (!c->target_type)
                        return conf_error_set(err, xml_line(node), "<channel> needs <target type='virtio' name=…>");
                if (isempty(c->target_name))
                        return conf_error_set(err, xml_line(node), "<channel> target needs a 'name'");
                if (streq(c->type, "unix") && !c->source_mode && c->source_path)
                        c->source_mode = strdup("bind");
        }
        return 0;
}

static int parse_graphics(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainGraphicsDef *g;
        int r, v;
        uint64_t u;

        g = conf_array_append(&def->graphics, &def->n_graphics, sizeof(DomainGraphicsDef));
        if (!g)
                return -ENOMEM;
        g->port = -1;
        g->autoport = true;
        r = xml_validate(node, &(XmlSpec) {
                .attrs = STRV("type", "port", "autoport", "listen", "passwd"),
                .children = STRV("listen"),
        }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum_str(node, "type", STRV("vnc"), &g->type, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(node), "<graphics> needs a 'type' attribute (vnc)");

        _cleanup_free_ char *port = xml_attr(node, "port");
        if (port && !streq(port, "-1")) {
                r = xml_attr_uint(node, "port", 10, 65535, &u, err);
                if (r < 0)
                        return r;
                if (u < 5900)
                        return conf_error_set(err, xml_line(node), "VNC port %llu is not in the range 5900-65535 (or -1 for automatic)",
                                              (unsigned long long) u);
                g->port = (int) u;
                g->autoport = false;
        }
        r = xml_attr_bool(node, "autoport", false, &v, err);
        if (r < 0)
                return r;
        if (r > 0)
                g->autoport = v;
        if (g->port < 0)
                g->autoport = true; /* port -1 means automatic, whatever 'autoport' says */
        if (xml_attr_str(node, "listen", &g->listen) < 0 || xml_attr_str(node, "passwd", &g->passwd) < 0)
                return -ENOMEM;

        xmlNode *l = xml_child(node, "listen");
        if (l) {
                _cleanup_free_ char *addr = NULL, *sock = NULL;
                r = xml_validate(l, &(XmlSpec) { .attrs = STRV("type", "address", "socket") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_enum_str(l, "type", STRV("address", "socket", "none"), &g->listen_type, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(l), "<listen> needs a 'type' attribute (address, socket, none)");
                addr = xml_attr(l, "address");
                sock = xml_attr(l, "socket");
                if (streq(g->listen_type, "address")) {
                        if (sock)
                                return conf_error_set(err, xml_line(l), "<listen type='address'> takes no 'socket'");
                        if (addr && g->listen && !streq(addr, g->listen))
                                return conf_error_set(err, xml_line(l), "<listen address='%s'> does not match <graphics listen='%s'>",
                                                      addr, g->listen);
                        if (addr) {
                                free(g->listen);
                                g->listen = TAKE_PTR(addr);
                        }
                } else if (streq(g->listen_type, "socket")) {
                        if (addr)
                                return conf_error_set(err, xml_line(l), "<listen type='socket'> takes no 'address'");
                        if (!sock || sock[0] != '/')
                                return conf_error_set(err, xml_line(l), "<listen type='socket'> needs an absolute 'socket' path");
                        free(g->listen);
                        g->listen = TAKE_PTR(sock);
                        g->port = -1;
                        g->autoport = false;
                } else {
                        if (addr || sock)
                                return conf_error_set(err, xml_line(l), "<listen type='none'> takes no address or socket");
                        free(g->listen);
                        g->listen = NULL;
                }
        } else if (g->listen) {
                g->listen_type = strdup("address");
                if (!g->listen_type)
                        return -ENOMEM;
        }
        return 0;
}

static int parse_video(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainVideoDef *v;
        int r, b;
        uint64_t u;

        v = conf_array_append(&def->videos, &def->n_videos, sizeof(DomainVideoDef));
        if (!v)
                return -ENOMEM;
        r = xml_validate(node, &(XmlSpec) { .children = STRV("model", "alias", "address") }, err);
        if (r < 0)
                return r;
        ELEM_FOREACH(c, node) {
                r = domain_device_info_parse(c, &v->address, NULL, NULL, err);
                if (r < 0)
                        return r;
                if (r > 0 || !name_is(c, "model"))
                        continue;
                r = xml_validate(c, &(XmlSpec) { .attrs = STRV("type", "vram", "heads", "primary") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_enum_str(c, "type", STRV("vga", "cirrus", "virtio", "qxl", "bochs", "none"), &v->model, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(c), "<model> of <video> needs a 'type' attribute");
                r = xml_attr_uint(c, "vram", 10, UINT32_MAX, &u, err);
                if (r < 0)
                        return r;
                if (r > 0)
                        v->vram = (unsigned) u;
                r = xml_attr_uint(c, "heads", 10, 16, &u, err);
                if (r < 0)
                        return r;
                if (r > 0)
                        v->heads = (unsigned) u;
                r = xml_attr_bool(c, "primary", false, &b, err);
                if (r < 0)
                        return r;
                v->primary = r > 0 && b;
        }
        if (!v->model)
                return conf_error_set(err, xml_line(node), "<video> needs a <model type=…>");
        return 0;
}

static int parse_input(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainInputDef *in;
        int r;

        in = conf_array_append(&def->inputs, &def->n_inputs, sizeof(DomainInputDef));
        if (!in)
                return -ENOMEM;
        r = xml_validate(node, &(XmlSpec) { .attrs = STRV("type", "bus"), .children = STRV("alias", "address") }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum_str(node, "type", STRV("tablet", "mouse", "keyboard"), &in->type, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(node), "<input> needs a 'type' attribute (tablet, mouse, keyboard)");
        if (xml_attr_enum_str(node, "bus", STRV("usb", "ps2", "virtio"), &in->bus, err) < 0)
                return -EINVAL;
        if (!in->bus && !(in->bus = strdup(streq(in->type, "tablet") ? "usb" : "ps2")))
                return -ENOMEM;
        if (streq(in->type, "tablet") && streq(in->bus, "ps2"))
                return conf_error_set(err, xml_line(node), "a tablet cannot be on the ps2 bus");
        ELEM_FOREACH(c, node)
                if (domain_device_info_parse(c, &in->address, NULL, NULL, err) < 0)
                        return -EINVAL;
        return 0;
}

int domain_devices_parse(DomainDef *def, xmlNode *devices, ConfError *err) {
        int r;

        r = xml_validate(devices, &(XmlSpec) {
                .children = STRV("emulator", "memballoon"),
                .multi = STRV("disk", "interface", "serial", "console", "channel", "graphics", "video", "input",
                              "controller", "rng", "sound", "audio", "memory", "lease", "tpm"),
        }, err);
        if (r < 0)
                return r;

        ELEM_FOREACH(c, devices) {
                if (name_is(c, "emulator")) {
                        r = xml_validate(c, &(XmlSpec) { .text = true }, err);
                        if (r < 0)
                                return r;
                        r = xml_text(c, &def->emulator);
                        if (r < 0)
                                return r;
                        g_strstrip(def->emulator);
                        if (def->emulator[0] != '/')
                                return conf_error_set(err, xml_line(c), "<emulator> must be an absolute path");
                } else if (name_is(c, "disk"))
                        r = parse_disk(def, c, err);
                else if (name_is(c, "interface"))
                        r = parse_interface(def, c, err);
                else if (name_is(c, "serial"))
                        r = parse_chr(def, c, DOMAIN_CHR_SERIAL, err);
                else if (name_is(c, "console"))
                        r = parse_chr(def, c, DOMAIN_CHR_CONSOLE, err);
                else if (name_is(c, "channel"))
                        r = parse_chr(def, c, DOMAIN_CHR_CHANNEL, err);
                else if (name_is(c, "graphics"))
                        r = parse_graphics(def, c, err);
                else if (name_is(c, "video"))
                        r = parse_video(def, c, err);
                else if (name_is(c, "input"))
                        r = parse_input(def, c, err);
                else if (name_is(c, "controller"))
                        r = domain_controller_parse(def, c, err);
                else if (name_is(c, "memballoon"))
                        r = domain_memballoon_parse(def, c, err);
                else if (name_is(c, "rng"))
                        r = domain_rng_parse(def, c, err);
                else if (name_is(c, "sound"))
                        r = domain_sound_parse(def, c, err);
                else if (name_is(c, "audio"))
                        r = domain_audio_parse(def, c, err);
                else if (name_is(c, "memory"))
                        r = domain_memory_parse(def, c, err);
                else if (name_is(c, "lease"))
                        r = domain_lease_parse(def, c, err);
                else if (name_is(c, "tpm"))
                        r = domain_tpm_parse(def, c, err);
                if (r < 0)
                        return r;
        }
        return 0;
}
