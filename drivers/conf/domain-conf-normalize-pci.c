/* domain-conf-normalize-pci.c — controller indexes, implicit controllers and device addresses (PCI, drive, USB, virtio-serial) as libvirt assigns them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

#define PCI_SLOTS 32
#define PCI_MAX_BUS 256

typedef struct PciBus {
        bool exists;
        bool root;                 /* pci-root / pcie-root: slots 1..31 */
        uint8_t used[PCI_SLOTS];   /* function bitmask per slot */
} PciBus;

typedef struct Alloc {
        DomainDef *def;
        bool q35;
        ConfError *err;
        unsigned pcie_needed;      /* PCIe devices still without an address */
        PciBus bus[PCI_MAX_BUS];
} Alloc;

static bool str_prefix(const char *s, const char *p) {
        return s && strncmp(s, p, strlen(p)) == 0;
}

static bool is_ich9_usb(const DomainControllerDef *c) {
        return streq(c->type, "usb") && str_prefix(c->model, "ich9-");
}

/* ---- controllers ---- */

static int first_free_index(const DomainDef *def, const char *type) {
        for (int i = 0;; i++)
                if (domain_controller_find(def, type, i) < 0)
                        return i;
}

static int ensure_controller(DomainDef *def, const char *type, int index, const char *model) {
        int r;
        if (domain_controller_find(def, type, index) >= 0)
                return 0;
        r = domain_controller_add(def, type, index, model);
        return r < 0 ? r : 1;
}

static int assign_controller_indexes(DomainDef *def) {
        /* roots first: they are always index 0 */
        for (size_t i = 0; i < def->n_controllers; i++) {
                DomainControllerDef *c = &def->controllers[i];
                if (c->index < 0 && streq(c->type, "pci") && STR_IN_SET(strempty(c->model), "pci-root", "pcie-root"))
                        c->index = 0;
        }
        for (size_t i = 0; i < def->n_controllers; i++) {
                DomainControllerDef *c = &def->controllers[i];
                if (c->index >= 0)
                        continue;
                if (is_ich9_usb(c)) {
                        /* a companion joins its EHCI master */
                        c->index = 0;
                        for (size_t j = 0; j < def->n_controllers; j++)
                                if (j != i && is_ich9_usb(&def->controllers[j]) && def->controllers[j].index >= 0) {
                                        c->index = def->controllers[j].index;
                                        break;
                                }
                        continue;
                }
                c->index = first_free_index(def, c->type);
        }
        return 0;
}

static int validate_controllers(DomainDef *def, bool q35, ConfError *err) {
        for (size_t i = 0; i < def->n_controllers; i++) {
                DomainControllerDef *c = &def->controllers[i];
                for (size_t j = 0; j < i; j++) {
                        DomainControllerDef *o = &def->controllers[j];
                        if (streq(o->type, c->type) && o->index == c->index && !(is_ich9_usb(o) && is_ich9_usb(c) && !streq(o->model, c->model)))
                                return conf_error_set(err, 0, "duplicate <controller type='%s' index='%d'>", c->type, c->index);
                }
                if (streq(c->type, "pci")) {
                        const char *want = c->index == 0 ? (q35 ? "pcie-root" : "pci-root") : (q35 ? "pcie-root-port" : NULL);
                        if (!want)
                                return conf_error_set(err, 0, "PCI controller index %d ('%s'): machine type '%s' has only its pci-root (use q35 for PCIe root ports)",
                                                      c->index, strna(c->model), strna(def->os_machine));
                        if (!c->model && !(c->model = strdup(want)))
                                return -ENOMEM;
                        if (!streq(c->model, want))
                                return conf_error_set(err, 0, "PCI controller index %d must be '%s' on this machine type, not '%s'",
                                                      c->index, want, c->model);
                        if (streq(c->model, "pcie-root-port") && !c->model_name && !(c->model_name = strdup("pcie-root-port")))
                                return -ENOMEM;
                } else if (streq(c->type, "ide") && q35)
                        return conf_error_set(err, 0, "IDE controllers are not available on q35 machines (use sata)");
                else if (streq(c->type, "ide") && c->index > 0)
                        return conf_error_set(err, 0, "IDE controller index %d: the PIIX3 chipset has only IDE controller 0", c->index);
                else if (streq(c->type, "usb") && !c->model && !(c->model = strdup(q35 ? "qemu-xhci" : "piix3-uhci")))
                        return -ENOMEM;
                else if (streq(c->type, "scsi") && !c->model && !(c->model = strdup("lsilogic")))
                        return -ENOMEM;
        }
        return 0;
}

static int add_implicit_controllers(DomainDef *def, bool q35, ConfError *err) {
        int r;
        bool has_usb = false, need_vserial = false;

        for (size_t i = 0; i < def->n_controllers; i++)
                has_usb = has_usb || streq(def->controllers[i].type, "usb");
        if (!has_usb) {
                r = domain_controller_add(def, "usb", 0, q35 ? "qemu-xhci" : "piix3-uhci");
                if (r < 0)
                        return r;
                if (q35)
                        def->controllers[r].ports = 15;
        }
        r = ensure_controller(def, "pci", 0, q35 ? "pcie-root" : "pci-root");
        if (r < 0)
                return r;
        r = ensure_controller(def, q35 ? "sata" : "ide", 0, NULL);
        if (r < 0)
                return r;

        /* disk controllers named by drive addresses */
        for (size_t i = 0; i < def->n_disks; i++) {
                DomainDiskDef *d = &def->disks[i];
                if (d->bus == DOMAIN_DISK_BUS_VIRTIO)
                        continue;
                if (d->bus == DOMAIN_DISK_BUS_IDE && d->address.controller > 0)
                        return conf_error_set(err, 0, "disk '%s': only one IDE controller exists", d->target_dev);
                r = ensure_controller(def, domain_disk_bus_to_string(d->bus), (int) d->address.controller,
                                      d->bus == DOMAIN_DISK_BUS_SCSI ? "lsilogic" : NULL);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < def->n_channels; i++)
                need_vserial = need_vserial || conf_streq(def->channels[i].target_type, "virtio");
        for (size_t i = 0; i < def->n_consoles; i++)
                need_vserial = need_vserial || conf_streq(def->consoles[i].target_type, "virtio");
        if (need_vserial) {
                r = ensure_controller(def, "virtio-serial", 0, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- drive, USB, virtio-serial addresses ---- */

static int assign_drive_addresses(DomainDef *def, ConfError *err) {
        for (size_t i = 0; i < def->n_disks; i++) {
                DomainDiskDef *d = &def->disks[i];
                DomainAddress *a = &d->address;

                if (d->bus == DOMAIN_DISK_BUS_VIRTIO) {
                        if (a->type != DOMAIN_ADDRESS_NONE && a->type != DOMAIN_ADDRESS_PCI)
                                return conf_error_set(err, 0, "disk '%s' on the virtio bus needs a PCI address", d->target_dev);
                        continue;
                }
                if (a->type == DOMAIN_ADDRESS_NONE) {
                        unsigned idx = (unsigned) conf_disk_target_index(d->target_dev);
                        a->type = DOMAIN_ADDRESS_DRIVE;
                        switch (d->bus) {
                        case DOMAIN_DISK_BUS_IDE:
                                a->controller = idx / 4;
                                a->drive_bus = (idx % 4) / 2;
                                a->unit = idx % 2;
                                break;
                        case DOMAIN_DISK_BUS_SATA:
                                a->controller = idx / 6;
                                a->unit = idx % 6;
                                break;
                        default:
                                a->controller = idx / 7;
                                a->unit = idx % 7;
                                break;
                        }
                } else if (a->type != DOMAIN_ADDRESS_DRIVE)
                        return conf_error_set(err, 0, "disk '%s' on the %s bus needs a drive address", d->target_dev,
                                              domain_disk_bus_to_string(d->bus));

                if ((d->bus == DOMAIN_DISK_BUS_IDE && (a->drive_bus > 1 || a->unit > 1 || a->target != 0)) ||
                    (d->bus == DOMAIN_DISK_BUS_SATA && (a->drive_bus != 0 || a->unit > 5 || a->target != 0)) ||
                    (d->bus == DOMAIN_DISK_BUS_SCSI && (a->drive_bus != 0 || a->unit > 6 || a->target != 0)) ||
                    a->controller > 31)
                        return conf_error_set(err, 0, "disk '%s': drive address out of range for the %s bus", d->target_dev,
                                              domain_disk_bus_to_string(d->bus));
                for (size_t j = 0; j < i; j++) {
                        DomainAddress *b = &def->disks[j].address;
                        if (def->disks[j].bus == d->bus && b->type == DOMAIN_ADDRESS_DRIVE && b->controller == a->controller &&
                            b->drive_bus == a->drive_bus && b->target == a->target && b->unit == a->unit)
                                return conf_error_set(err, 0, "disks '%s' and '%s' have the same drive address",
                                                      def->disks[j].target_dev, d->target_dev);
                }
        }
        return 0;
}

static int assign_usb_addresses(DomainDef *def, ConfError *err) {
        bool usable = false;
        unsigned next = 1;

        for (size_t i = 0; i < def->n_controllers; i++)
                usable = usable || (streq(def->controllers[i].type, "usb") && !conf_streq(def->controllers[i].model, "none"));
        for (size_t i = 0; i < def->n_inputs; i++) {
                DomainInputDef *in = &def->inputs[i];
                if (!streq(in->bus, "usb")) {
                        if (in->address.type != DOMAIN_ADDRESS_NONE && !(streq(in->bus, "virtio") && in->address.type == DOMAIN_ADDRESS_PCI))
                                return conf_error_set(err, 0, "input '%s' on the %s bus cannot have this address", in->type, in->bus);
                        continue;
                }
                if (!usable)
                        return conf_error_set(err, 0, "USB input '%s' needs a USB controller", in->type);
                if (in->address.type == DOMAIN_ADDRESS_USB)
                        continue;
                if (in->address.type != DOMAIN_ADDRESS_NONE)
                        return conf_error_set(err, 0, "USB input '%s' needs a USB address", in->type);
                for (bool clash = true; clash; next++) {
                        clash = false;
                        for (size_t j = 0; j < def->n_inputs; j++)
                                clash = clash || (def->inputs[j].address.type == DOMAIN_ADDRESS_USB && def->inputs[j].address.drive_bus == 0 &&
                                                  def->inputs[j].address.port == next);
                        if (!clash)
                                break;
                }
                in->address.type = DOMAIN_ADDRESS_USB;
                in->address.drive_bus = 0;
                in->address.port = next;
                if (asprintf(&in->address.usb_port, "%u", next) < 0) {
                        in->address.usb_port = NULL;
                        return -ENOMEM;
                }
                next++;
        }
        return 0;
}

static int assign_vserial_addresses(DomainDef *def, ConfError *err) {
        unsigned next = 1;

        for (size_t i = 0; i < def->n_channels; i++) {
                DomainChrDef *c = &def->channels[i];
                if (c->address.type == DOMAIN_ADDRESS_VIRTIO_SERIAL) {
                        if (domain_controller_find(def, "virtio-serial", (int) c->address.controller) < 0)
                                return conf_error_set(err, 0, "channel '%s' names virtio-serial controller %u, which does not exist",
                                                      c->target_name, c->address.controller);
                        continue;
                }
                if (c->address.type != DOMAIN_ADDRESS_NONE)
                        return conf_error_set(err, 0, "channel '%s' needs a virtio-serial address", c->target_name);
                for (bool clash = true; clash;) {
                        clash = false;
                        for (size_t j = 0; j < def->n_channels; j++) {
                                DomainAddress *b = &def->channels[j].address;
                                if (b->type == DOMAIN_ADDRESS_VIRTIO_SERIAL && b->controller == 0 && b->drive_bus == 0 && b->port == next)
                                        clash = true;
                        }
                        if (clash)
                                next++;
                }
                c->address = (DomainAddress) { .type = DOMAIN_ADDRESS_VIRTIO_SERIAL, .port = next++ };
        }
        return 0;
}

/* ---- PCI ---- */

static int pci_reserve(Alloc *a, const char *what, DomainAddress *addr) {
        PciBus *b;

        if (addr->domain != 0)
                return conf_error_set(a->err, 0, "%s: only PCI domain 0 exists", what);
        b = &a->bus[addr->bus];
        if (!b->exists)
                return conf_error_set(a->err, 0, "%s: PCI bus %u does not exist (no PCI controller with index %u)", what, addr->bus, addr->bus);
        if (b->root && addr->slot == 0)
                return conf_error_set(a->err, 0, "%s: PCI slot 0 of the root bus is the host bridge", what);
        if (!b->root && addr->slot != 0)
                return conf_error_set(a->err, 0, "%s: a pcie-root-port has only slot 0", what);
        if (b->used[addr->slot] & (1u << addr->function))
                return conf_error_set(a->err, 0, "%s: PCI address %04x:%02x:%02x.%x is used twice", what,
                                      addr->domain, addr->bus, addr->slot, addr->function);
        b->used[addr->slot] |= (uint8_t) (1u << addr->function);
        return 0;
}

static void pci_set(Alloc *a, DomainAddress *addr, unsigned bus, unsigned slot, unsigned fn) {
        domain_address_clear(addr);
        *addr = (DomainAddress) { .type = DOMAIN_ADDRESS_PCI, .bus = bus, .slot = slot, .function = fn };
        a->bus[bus].used[slot] |= (uint8_t) (1u << fn);
}

static int pci_free_root_slot(Alloc *a) {
        for (unsigned s = 1; s < PCI_SLOTS; s++)
                if (!a->bus[0].used[s])
                        return (int) s;
        return -1;
}

static int pci_assign(Alloc *a, const char *what, DomainAddress *addr, bool pcie) {
        if (addr->type == DOMAIN_ADDRESS_PCI)
                return 0;
        if (addr->type != DOMAIN_ADDRESS_NONE)
                return conf_error_set(a->err, 0, "%s needs a PCI address", what);
        if (pcie && a->q35) {
                for (unsigned b = 1; b < PCI_MAX_BUS; b++)
                        if (a->bus[b].exists && !a->bus[b].root && !a->bus[b].used[0]) {
                                pci_set(a, addr, b, 0, 0);
                                return 0;
                        }
                return conf_error_set(a->err, 0, "%s: no free pcie-root-port", what);
        }
        int s = pci_free_root_slot(a);
        if (s < 0)
                return conf_error_set(a->err, 0, "%s: no free PCI slot", what);
        pci_set(a, addr, 0, (unsigned) s, 0);
        return 0;
}

static int place_ich9_usb(Alloc *a);

/* Calls f for every PCI device in libvirt's assignment order. */
typedef int (*PciVisit)(Alloc *a, const char *what, DomainAddress *addr, bool pcie);

static int visit_pci_devices(Alloc *a, PciVisit f, bool include_fixed) {
        DomainDef *def = a->def;
        char what[96];
        int r;

        for (size_t i = 0; i < def->n_nets; i++) {
                snprintf(what, sizeof what, "interface %s", def->nets[i].mac);
                r = f(a, what, &def->nets[i].address, STR_IN_SET(def->nets[i].model, "virtio", "e1000e"));
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < def->n_sounds; i++) {
                if (streq(def->sounds[i].model, "sb16"))
                        continue;   /* ISA */
                if (!include_fixed && a->q35 && i == 0 && streq(def->sounds[i].model, "ich9"))
                        continue;   /* the chipset's own HDA place, see place_fixed() */
                snprintf(what, sizeof what, "sound %zu (%s)", i, def->sounds[i].model);
                r = f(a, what, &def->sounds[i].address, false);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < def->n_controllers; i++) {
                DomainControllerDef *c = &def->controllers[i];
                bool pcie;
                if (streq(c->type, "pci") || conf_streq(c->model, "none"))
                        continue;
                if (is_ich9_usb(c) && !include_fixed) {
                        /* On i440fx the ICH9 USB group takes its slot in controller order. */
                        if (f == pci_assign && !a->q35 && (r = place_ich9_usb(a)) < 0)
                                return r;
                        continue;
                }
                if (!include_fixed && c->index == 0 &&
                    ((streq(c->type, "ide") && !a->q35) || (streq(c->type, "sata") && a->q35) ||
                     (streq(c->type, "usb") && conf_streq(c->model, "piix3-uhci") && !a->q35)))
                        continue;
                pcie = STR_IN_SET(strempty(c->model), "qemu-xhci", "nec-xhci", "virtio-scsi") || streq(c->type, "virtio-serial");
                snprintf(what, sizeof what, "controller %s %d", c->type, c->index);
                r = f(a, what, &c->address, pcie);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < def->n_disks; i++) {
                if (def->disks[i].bus != DOMAIN_DISK_BUS_VIRTIO)
                        continue;
                snprintf(what, sizeof what, "disk %s", def->disks[i].target_dev);
                r = f(a, what, &def->disks[i].address, true);
                if (r < 0)
                        return r;
        }
        if (def->memballoon && streq(def->memballoon->model, "virtio")) {
                r = f(a, "memballoon", &def->memballoon->address, true);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < def->n_rngs; i++) {
                r = f(a, "rng", &def->rngs[i].address, true);
                if (r < 0)
                        return r;
        }
        for (size_t i = include_fixed ? 0 : 1; i < def->n_videos; i++) {
                if (streq(def->videos[i].model, "none"))
                        continue;
                r = f(a, "video", &def->videos[i].address, streq(def->videos[i].model, "virtio"));
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < def->n_inputs; i++) {
                if (!streq(def->inputs[i].bus, "virtio"))
                        continue;
                snprintf(what, sizeof what, "input %s", def->inputs[i].type);
                r = f(a, what, &def->inputs[i].address, true);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int visit_reserve(Alloc *a, const char *what, DomainAddress *addr, bool pcie) {
        return addr->type == DOMAIN_ADDRESS_PCI ? pci_reserve(a, what, addr) : 0;
}

static int visit_count(Alloc *a, const char *what, DomainAddress *addr, bool pcie) {
        if (addr->type == DOMAIN_ADDRESS_NONE && pcie)
                a->pcie_needed++;
        return 0;
}

static int add_root_ports(Alloc *a) {
        DomainDef *def = a->def;
        unsigned free_ports = 0;
        int r;

        a->pcie_needed = 0;
        visit_pci_devices(a, visit_count, false);
        if (a->def->n_videos > 0 && a->def->videos[0].address.type == DOMAIN_ADDRESS_NONE &&
            streq(a->def->videos[0].model, "virtio"))
                a->pcie_needed++;
        for (unsigned b = 1; b < PCI_MAX_BUS; b++)
                if (a->bus[b].exists && !a->bus[b].used[0])
                        free_ports++;
        while (free_ports < a->pcie_needed) {
                int idx = first_free_index(def, "pci");
                if (idx >= PCI_MAX_BUS)
                        return conf_error_set(a->err, 0, "too many PCI controllers");
                r = domain_controller_add(def, "pci", idx, "pcie-root-port");
                if (r < 0)
                        return r;
                if (!(def->controllers[r].model_name = strdup("pcie-root-port")))
                        return -ENOMEM;
                a->bus[idx].exists = true;
                free_ports++;
        }
        return 0;
}

/* Root ports without an address share slots of the root bus, eight functions each. */
static int place_root_ports(Alloc *a) {
        DomainDef *def = a->def;
        int slot = -1;
        unsigned fn = 8;
        DomainControllerDef *first = NULL;

        for (size_t i = 0; i < def->n_controllers; i++) {
                DomainControllerDef *c = &def->controllers[i];
                if (!streq(c->type, "pci") || c->index == 0)
                        continue;
                if (c->address.type == DOMAIN_ADDRESS_NONE) {
                        if (fn == 8) {
                                slot = pci_free_root_slot(a);
                                if (slot < 0)
                                        return conf_error_set(a->err, 0, "no free PCI slot for pcie-root-port %d", c->index);
                                fn = 0;
                                first = c;
                        }
                        pci_set(a, &c->address, 0, (unsigned) slot, fn);
                        if (fn > 0)
                                first->address.multifunction = true;
                        fn++;
                } else if (c->address.type != DOMAIN_ADDRESS_PCI)
                        return conf_error_set(a->err, 0, "pcie-root-port %d needs a PCI address", c->index);
                if (c->target_chassis < 0)
                        c->target_chassis = c->index;
                if (c->target_port < 0)
                        c->target_port = (int) (c->address.slot * 8 + c->address.function);
        }
        return 0;
}

static int place_ich9_usb(Alloc *a) {
        DomainDef *def = a->def;

        for (size_t i = 0; i < def->n_controllers; i++) {
                DomainControllerDef *c = &def->controllers[i];
                int slot = -1;
                if (!is_ich9_usb(c) || c->address.type != DOMAIN_ADDRESS_NONE)
                        continue;
                /* one slot per USB bus: EHCI at function 7, UHCI companions at 0..2 */
                for (size_t j = 0; j < def->n_controllers; j++) {
                        DomainControllerDef *o = &def->controllers[j];
                        if (is_ich9_usb(o) && o->index == c->index && o->address.type == DOMAIN_ADDRESS_PCI && o->address.bus == 0)
                                slot = (int) o->address.slot;
                }
                if (slot < 0)
                        slot = a->q35 && !a->bus[0].used[0x1d] ? 0x1d : pci_free_root_slot(a);
                if (slot < 0)
                        return conf_error_set(a->err, 0, "no free PCI slot for USB controller %d", c->index);
                unsigned fn = streq(c->model, "ich9-ehci1") ? 7 : (unsigned) (c->model[strlen(c->model) - 1] - '1');
                if (a->bus[0].used[slot] & (1u << fn))
                        return conf_error_set(a->err, 0, "USB controller %d: two '%s' controllers", c->index, c->model);
                pci_set(a, &c->address, 0, (unsigned) slot, fn);
                if (fn == 0)
                        c->address.multifunction = true;
        }
        return 0;
}

static int place_fixed(Alloc *a) {
        DomainDef *def = a->def;

        /* Chipset devices at their fixed places: PIIX3 IDE/UHCI on i440fx, ICH9 AHCI on q35. */
        for (size_t i = 0; i < def->n_controllers; i++) {
                DomainControllerDef *c = &def->controllers[i];
                unsigned slot, fn;
                int r;
                if (c->address.type != DOMAIN_ADDRESS_NONE || c->index != 0)
                        continue;
                if (!a->q35 && streq(c->type, "ide"))
                        slot = 1, fn = 1;
                else if (!a->q35 && streq(c->type, "usb") && conf_streq(c->model, "piix3-uhci"))
                        slot = 1, fn = 2;
                else if (a->q35 && streq(c->type, "sata"))
                        slot = 0x1f, fn = 2;
                else
                        continue;
                c->address = (DomainAddress) { .type = DOMAIN_ADDRESS_PCI, .slot = slot, .function = fn };
                r = pci_reserve(a, c->type, &c->address);
                if (r < 0)
                        return r;
        }
        /* An ICH9 HDA on q35 sits where the chipset has it, 00:1b.0, as in libvirt. */
        if (a->q35 && def->n_sounds > 0 && streq(def->sounds[0].model, "ich9") &&
            def->sounds[0].address.type == DOMAIN_ADDRESS_NONE) {
                if (!a->bus[0].used[0x1b])
                        pci_set(a, &def->sounds[0].address, 0, 0x1b, 0);
                else {
                        int r = pci_assign(a, "sound 0 (ich9)", &def->sounds[0].address, false);
                        if (r < 0)
                                return r;
                }
        }
        /* The primary video: slot 2 on i440fx, slot 1 on q35; the slot stays reserved without video. */
        unsigned vslot = a->q35 ? 1 : 2;
        if (def->n_videos > 0 && !streq(def->videos[0].model, "none") && def->videos[0].address.type == DOMAIN_ADDRESS_NONE &&
            !a->bus[0].used[vslot])
                pci_set(a, &def->videos[0].address, 0, vslot, 0);
        a->bus[0].used[vslot] = 0xff;
        a->bus[0].used[a->q35 ? 0x1f : 1] = 0xff;
        return 0;
}

/* A primary video whose usual slot was taken gets an ordinary address. */
static int place_primary_video_late(Alloc *a) {
        DomainDef *def = a->def;
        if (def->n_videos == 0 || streq(def->videos[0].model, "none"))
                return 0;
        return pci_assign(a, "video", &def->videos[0].address, streq(def->videos[0].model, "virtio"));
}


static int assign_pci(DomainDef *def, bool q35, ConfError *err) {
        _cleanup_free_ Alloc *a = calloc(1, sizeof(Alloc));
        int r;

        if (!a)
                return -ENOMEM;
        a->def = def;
        a->q35 = q35;
        a->err = err;
        for (size_t i = 0; i < def->n_controllers; i++) {
                DomainControllerDef *c = &def->controllers[i];
                if (streq(c->type, "pci") && c->index < PCI_MAX_BUS) {
                        a->bus[c->index].exists = true;
                        a->bus[c->index].root = c->index == 0;
                }
        }
        a->bus[0].used[0] = 0xff; /* host bridge */

        /* explicit addresses first, then the fixed chipset places */
        for (size_t i = 0; i < def->n_controllers; i++) {
                DomainControllerDef *c = &def->controllers[i];
                if (c->address.type == DOMAIN_ADDRESS_PCI && streq(c->type, "pci")) {
                        if (c->index == 0)
                                return conf_error_set(err, 0, "the PCI root controller takes no address");
                        r = pci_reserve(a, "pcie-root-port", &c->address);
                        if (r < 0)
                                return r;
                }
        }
        r = visit_pci_devices(a, visit_reserve, true);
        if (r < 0)
                return r;
        r = place_fixed(a);
        if (r < 0)
                return r;
        if (q35) {
                r = place_ich9_usb(a);
                if (r < 0)
                        return r;
                r = add_root_ports(a);
                if (r < 0)
                        return r;
                r = place_root_ports(a);
                if (r < 0)
                        return r;
        }
        r = visit_pci_devices(a, pci_assign, false);
        if (r < 0)
                return r;
        return place_primary_video_late(a);
}

int domain_def_assign_addresses(DomainDef *def, ConfError *err) {
        bool q35 = conf_machine_is_q35(def->os_machine);
        int r;

        r = assign_controller_indexes(def);
        if (r < 0)
                return r;
        r = assign_drive_addresses(def, err);
        if (r < 0)
                return r;
        r = add_implicit_controllers(def, q35, err);
        if (r < 0)
                return r;
        r = validate_controllers(def, q35, err);
        if (r < 0)
                return r;
        r = assign_usb_addresses(def, err);
        if (r < 0)
                return r;
        r = assign_vserial_addresses(def, err);
        if (r < 0)
                return r;
        return assign_pci(def, q35, err);
}
