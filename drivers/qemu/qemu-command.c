/* qemu-command.c — a normalized DomainDef → qemu argv: machine, CPU, memory, boot, clock and the fixed options. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "qemu/qemu-caps.h"
#include "qemu/qemu-command.h"
#include "qemu/qemu-command-internal.h"

char *qemu_escape_option_value(const char *s) {
        size_t n = 0;
        char *r, *p;

        for (const char *i = s; *i; i++)
                n += *i == ',' ? 2 : 1;
        r = malloc(n + 1);
        if (!r)
                return NULL;
        p = r;
        for (const char *i = s; *i; i++) {
                *p++ = *i;
                if (*i == ',')
                        *p++ = ',';
        }
        *p = '\0';
        return r;
}

void qemu_cmd_add(QemuCmd *c, const char *arg) {
        g_ptr_array_add(c->argv, g_strdup(arg));
}

void qemu_cmd_addf(QemuCmd *c, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        g_ptr_array_add(c->argv, g_strdup_vprintf(fmt, ap));
        va_end(ap);
}

void qemu_cmd_add_opt(QemuCmd *c, const char *opt, GString *value) {
        qemu_cmd_add(c, opt);
        g_ptr_array_add(c->argv, g_string_free(value, FALSE));
}

void qemu_cmd_fail(QemuCmd *c, const char *fmt, ...) {
        va_list ap;

        if (c->error)
                return;
        va_start(ap, fmt);
        c->error = g_strdup_vprintf(fmt, ap);
        va_end(ap);
}

void qemu_opt_str(GString *o, const char *key, const char *value) {
        g_string_append_printf(o, ",%s=", key);
        for (const char *i = value; *i; i++) {
                g_string_append_c(o, *i);
                if (*i == ',')
                        g_string_append_c(o, ',');
        }
}

void qemu_opt_fmt(GString *o, const char *key, const char *fmt, ...) {
        va_list ap;

        g_string_append_printf(o, ",%s=", key);
        va_start(ap, fmt);
        g_string_append_vprintf(o, fmt, ap);
        va_end(ap);
}

bool qemu_str_charset(const char *s, const char *allowed, size_t max) {
        size_t n;

        if (isempty(s))
                return false;
        n = strlen(s);
        return n <= max && strspn(s, allowed) == n;
}


bool qemu_id_valid(const char *s) {
        return qemu_str_charset(s, QEMU_ID_CHARS, 64) && g_ascii_isalpha(s[0]);
}

bool qemu_path_valid(const char *s) {
        if (isempty(s) || s[0] != '/')
                return false;
        for (const char *i = s; *i; i++)
                if ((unsigned char) *i < 0x20 || *i == 0x7f)
                        return false;
        return true;
}

const DriverFile *qemu_cmd_file(QemuCmd *c, DomainPathPurpose purpose, DomainChrKind kind, size_t index,
                                const char *what) {
        const DriverFile *f = driver_files_find(c->ctx->files, purpose, kind, index);

        if (!f || f->fd < 0)
                qemu_cmd_fail(c, "%s: the file was not opened for qemu", what);
        return f && f->fd >= 0 ? f : NULL;
}

int qemu_cmd_pass_fd(QemuCmd *c, int fd, const char *what) {
        int n = c->ctx->pass_fd && fd >= 0 ? c->ctx->pass_fd(c->ctx->pass_fd_userdata, fd) : -1;

        if (n < 0)
                qemu_cmd_fail(c, "%s: cannot pass the file to qemu", what);
        return n;
}

int qemu_cmd_add_fdset(QemuCmd *c, int fd, const char *opaque, const char *what) {
        int n = qemu_cmd_pass_fd(c, fd, what);
        unsigned set = ++c->next_fdset;

        if (n < 0)
                return -1;
        qemu_cmd_add(c, "-add-fd");
        qemu_cmd_addf(c, "fd=%d,set=%u,opaque=%s", n, set, opaque);
        return (int) set;
}

const DomainControllerDef *qemu_cmd_find_controller(const QemuCmd *c, const char *type, int index) {
        for (size_t i = 0; i < c->def->n_controllers; i++) {
                const DomainControllerDef *k = &c->def->controllers[i];
                if (qemu_streq(k->type, type) && k->index == index)
                        return k;
        }
        return NULL;
}

void qemu_cmd_pci_address(QemuCmd *c, GString *o, const DomainAddress *a, const char *what) {
        if (a->type == DOMAIN_ADDRESS_NONE)
                return;
        if (a->type != DOMAIN_ADDRESS_PCI) {
                qemu_cmd_fail(c, "%s has a non-PCI address but is a PCI device", what);
                return;
        }
        if (a->domain != 0 || a->slot > 31 || a->function > 7 || a->bus > 255) {
                qemu_cmd_fail(c, "%s has PCI address %04x:%02x:%02x.%x, which qemu cannot place",
                              what, a->domain, a->bus, a->slot, a->function);
                return;
        }
        if (a->bus == 0)
                qemu_opt_fmt(o, "bus", "%s", c->q35 ? "pcie.0" : "pci.0");
        else if (!qemu_cmd_find_controller(c, "pci", (int) a->bus))
                qemu_cmd_fail(c, "%s is on PCI bus %u, but there is no PCI controller with index %u", what, a->bus, a->bus);
        else
                qemu_opt_fmt(o, "bus", "pci.%u", a->bus);
        if (a->multifunction)
                qemu_opt_fmt(o, "multifunction", "on");
        if (a->function)
                qemu_opt_fmt(o, "addr", "0x%x.0x%x", a->slot, a->function);
        else
                qemu_opt_fmt(o, "addr", "0x%x", a->slot);
}

static void build_name(QemuCmd *c) {
        GString *o = g_string_new("guest=");

        /* qemu_opt_str() adds a leading comma; the first key is written by hand */
        for (const char *i = c->def->name; *i; i++) {
                g_string_append_c(o, *i);
                if (*i == ',')
                        g_string_append_c(o, ',');
        }
        qemu_opt_fmt(o, "debug-threads", "on");
        qemu_cmd_add_opt(c, "-name", o);
}

static const char *timer_policy(const DomainDef *def, const char *name, int *present) {
        for (size_t i = 0; i < def->n_timers; i++)
                if (qemu_streq(def->timers[i].name, name)) {
                        if (present)
                                *present = def->timers[i].present;
                        return def->timers[i].tickpolicy ?: "";
                }
        if (present)
                *present = -1;
        return NULL;
}

static void build_machine(QemuCmd *c) {
        const DomainDef *def = c->def;
        GString *o;
        int hpet;

        if (!qemu_str_charset(def->os_machine, QEMU_ID_CHARS, 64)) {
                qemu_cmd_fail(c, "machine type '%s' is not a valid qemu machine name", strempty(def->os_machine));
                return;
        }
        o = g_string_new(def->os_machine);
        qemu_opt_fmt(o, "usb", "off");
        qemu_opt_fmt(o, "dump-guest-core", "off");
        if (!def->acpi)
                qemu_opt_fmt(o, "acpi", "off");
        (void) timer_policy(def, "hpet", &hpet);
        if (hpet == 0)
                qemu_opt_fmt(o, "hpet", "off");
        if (def->vmport_set)
                qemu_opt_fmt(o, "vmport", "%s", def->vmport ? "on" : "off");
        if (def->smm)
                qemu_opt_fmt(o, "smm", "%s", def->smm == DOMAIN_TRISTATE_YES ? "on" : "off");
        qemu_cmd_add_opt(c, "-machine", o);

        qemu_cmd_add(c, "-accel");
        qemu_cmd_add(c, c->kvm ? "kvm" : "tcg");
}

#define CPU_MODEL_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

static void build_cpu(QemuCmd *c) {
        const DomainDef *def = c->def;
        const char *mode = def->cpu_mode, *model;
        GString *o;

        if (!mode)
                return;
        if (streq(mode, "host-passthrough")) {
                if (!c->kvm) {
                        qemu_cmd_fail(c, "CPU mode 'host-passthrough' needs KVM but the domain type is 'qemu' (TCG)");
                        return;
                }
                model = "host";
        } else if (streq(mode, "host-model"))
                /* TCG has no host CPU to copy; 'max' is the closest it can offer. */
                model = c->kvm ? "host" : "max";
        else if (streq(mode, "maximum"))
                model = "max";
        else if (streq(mode, "custom")) {
                model = def->cpu_model;
                if (!model) {
                        qemu_cmd_fail(c, "CPU mode 'custom' needs a <model>");
                        return;
                }
                /* The model is the positional part of -cpu: nothing can be escaped there. */
                if (!qemu_str_charset(model, CPU_MODEL_CHARS, 64) || !g_ascii_isalnum(model[0]) ||
                    streq(model, "help")) {
                        qemu_cmd_fail(c, "CPU model '%s' is not a valid qemu CPU model name", model);
                        return;
                }
                if (streq(model, "host") && !c->kvm) {
                        qemu_cmd_fail(c, "CPU model 'host' needs KVM but the domain type is 'qemu' (TCG)");
                        return;
                }
        } else {
                qemu_cmd_fail(c, "CPU mode '%s' is not supported", mode);
                return;
        }
        o = g_string_new(model);
        if (def->cpu_migratable_set && (streq(model, "host") || streq(model, "max")))
                qemu_opt_fmt(o, "migratable", "%s", def->cpu_migratable ? "on" : "off");
        qemu_cmd_add_opt(c, "-cpu", o);
}

/* The per-domain variable store beside a read-only pflash code image: flash unit 1, read-write. */

/* -drive if=pflash of an fd set: the firmware's code (unit 0) or its variable store (unit 1). */
static GString *pflash_drive(int set, unsigned unit) {
        GString *o = g_string_new("if=pflash");

        qemu_opt_fmt(o, "file", "/dev/fdset/%d", set);
        qemu_opt_fmt(o, "format", "raw");
        qemu_opt_fmt(o, "unit", "%u", unit);
        return o;
}
static void build_nvram(QemuCmd *c) {
        const DomainDef *def = c->def;
        const DriverFile *f;
        GString *o;
        int set;

        if (qemu_streq(def->loader_secure, "yes"))
                /* only SMM code may write the variables: what makes secure boot secure */
                qemu_cmd_add_opt(c, "-global", g_string_new("driver=cfi.pflash01,property=secure,value=on"));
        if (!def->nvram)
                return;
        f = qemu_cmd_file(c, DOMAIN_PATH_NVRAM, 0, 0, "NVRAM");
        if (!f)
                return;
        set = qemu_cmd_add_fdset(c, f->fd, "nvram", "NVRAM");
        if (set < 0)
                return;
        o = pflash_drive(set, 1);
        /* the set holds the read-write fd only: no read-only first open */
        qemu_opt_fmt(o, "auto-read-only", "off");
        qemu_cmd_add_opt(c, "-drive", o);
}

static void build_firmware(QemuCmd *c) {
        const DomainDef *def = c->def;
        const DriverFile *f;
        GString *o;

        if (!def->loader && qemu_streq(def->os_firmware, "efi")) {
                qemu_cmd_fail(c, "<os firmware='efi'> has no loader: the firmware was not resolved for the start");
                return;
        }
        if (!def->loader)
                return;
        if (!qemu_path_valid(def->loader)) {
                qemu_cmd_fail(c, "loader '%s' is not an absolute path", def->loader);
                return;
        }
        f = qemu_cmd_file(c, DOMAIN_PATH_LOADER, 0, 0, "loader");
        if (!f)
                return;
        if (qemu_streq(def->loader_type, "pflash")) {
                int set = qemu_cmd_add_fdset(c, f->fd, "loader", "loader");
                if (set < 0)
                        return;
                o = pflash_drive(set, 0);
                if (!qemu_streq(def->loader_readonly, "no"))
                        qemu_opt_fmt(o, "readonly", "on");
                qemu_cmd_add_opt(c, "-drive", o);
                build_nvram(c);
        } else if (!def->loader_type || streq(def->loader_type, "rom")) {
                int n = qemu_cmd_pass_fd(c, f->fd, "loader");
                if (n < 0)
                        return;
                /* qemu's ROM loader opens a file name: the sealed copy, through qemu's own fd */
                qemu_cmd_add(c, "-bios");
                qemu_cmd_addf(c, "/proc/self/fd/%d", n);
        } else
                qemu_cmd_fail(c, "loader type '%s' is not supported", def->loader_type);
}

static void build_memory(QemuCmd *c) {
        const DomainDef *def = c->def;
        GString *o;

        if (def->memory_kib == 0) {
                qemu_cmd_fail(c, "memory size is 0");
                return;
        }
        o = g_string_new(NULL);
        /* <memory> holds the memory devices too: qemu's initial memory is without them */
        g_string_printf(o, "size=%" PRIu64 "k", domain_def_initial_memory_kib(def));
        if (def->max_memory_kib > 0) {
                if (def->max_memory_slots == 0)
                        qemu_cmd_fail(c, "<maxMemory> needs a slots count");
                if (def->max_memory_kib < def->memory_kib)
                        qemu_cmd_fail(c, "<maxMemory> is smaller than <memory>");
                qemu_opt_fmt(o, "slots", "%u", def->max_memory_slots);
                /* qemu wants maxmem page aligned; SI units give sizes that are not */
                qemu_opt_fmt(o, "maxmem", "%" PRIu64 "k", (def->max_memory_kib + 3) / 4 * 4);
        }
        qemu_cmd_add_opt(c, "-m", o);
        qemu_cmd_add(c, "-overcommit");
        qemu_cmd_add(c, "mem-lock=off");
}

static void build_smp(QemuCmd *c) {
        const DomainDef *def = c->def;
        unsigned max = def->vcpus, cur = def->current_vcpus ?: def->vcpus;
        unsigned sockets, dies, cores, threads;
        GString *o;

        if (max == 0 || cur > max) {
                qemu_cmd_fail(c, "vcpu count %u (current %u) is not valid", max, cur);
                return;
        }
        o = g_string_new(NULL);
        g_string_printf(o, "%u", cur);
        if (cur != max)
                qemu_opt_fmt(o, "maxcpus", "%u", max);
        if (def->cpu_sockets || def->cpu_dies || def->cpu_cores || def->cpu_threads) {
                sockets = def->cpu_sockets ?: 1;
                dies = def->cpu_dies ?: 1;
                cores = def->cpu_cores ?: 1;
                threads = def->cpu_threads ?: 1;
                if ((uint64_t) sockets * dies * cores * threads != max)
                        qemu_cmd_fail(c, "CPU topology %u sockets × %u dies × %u cores × %u threads does not match %u vcpus",
                                      sockets, dies, cores, threads, max);
        } else {
                sockets = max;
                dies = cores = threads = 1;
        }
        qemu_opt_fmt(o, "sockets", "%u", sockets);
        if (dies > 1)
                qemu_opt_fmt(o, "dies", "%u", dies);
        qemu_opt_fmt(o, "cores", "%u", cores);
        qemu_opt_fmt(o, "threads", "%u", threads);
        qemu_cmd_add_opt(c, "-smp", o);
}

/* <iothreads>: an iothread object per id (libvirt's ids: iothreadN), for disks' <driver iothread=N>. */
static void build_iothreads(QemuCmd *c) {
        for (size_t i = 0; i < c->def->tune.n_iothreads; i++) {
                qemu_cmd_add(c, "-object");
                qemu_cmd_addf(c, "iothread,id=iothread%u", c->def->tune.iothread_ids[i]);
        }
}

static void build_uuid(QemuCmd *c) {
        const unsigned char *u = c->def->uuid;

        if (!c->def->has_uuid)
                return;
        qemu_cmd_add(c, "-uuid");
        qemu_cmd_addf(c, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                      u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
                      u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

static void build_monitor(QemuCmd *c) {
        GString *o;

        if (!qemu_path_valid(c->ctx->qmp_socket_path)) {
                qemu_cmd_fail(c, "no valid QMP socket path");
                return;
        }
        o = g_string_new("socket,id=charmonitor");
        qemu_opt_str(o, "path", c->ctx->qmp_socket_path);
        qemu_opt_fmt(o, "server", "on");
        qemu_opt_fmt(o, "wait", "off");
        qemu_cmd_add_opt(c, "-chardev", o);
        qemu_cmd_add(c, "-mon");
        qemu_cmd_add(c, "chardev=charmonitor,id=monitor,mode=control");
}

static void build_clock(QemuCmd *c) {
        const DomainDef *def = c->def;
        const char *offset = def->clock_offset ?: "utc", *rtc, *pit;
        GString *o;

        if (!STR_IN_SET(offset, "utc", "localtime")) {
                qemu_cmd_fail(c, "clock offset '%s' is not supported", offset);
                return;
        }
        o = g_string_new(NULL);
        g_string_printf(o, "base=%s", offset);
        rtc = timer_policy(def, "rtc", NULL);
        if (rtc && streq(rtc, "catchup"))
                qemu_opt_fmt(o, "driftfix", "slew");
        else if (rtc && !STR_IN_SET(rtc, "", "delay"))
                qemu_cmd_fail(c, "rtc timer tickpolicy '%s' is not supported", rtc);
        qemu_cmd_add_opt(c, "-rtc", o);

        pit = timer_policy(def, "pit", NULL);
        if (pit && streq(pit, "delay") && c->kvm) {
                /* The in-kernel PIT exists only under KVM; TCG's PIT has no such policy. */
                qemu_cmd_add(c, "-global");
                qemu_cmd_add(c, "kvm-pit.lost_tick_policy=delay");
        } else if (pit && !STR_IN_SET(pit, "", "delay"))
                qemu_cmd_fail(c, "pit timer tickpolicy '%s' is not supported", pit);
}

static void build_lifecycle_pm(QemuCmd *c) {
        const char *pm = c->q35 ? "ICH9-LPC" : "PIIX4_PM";

        qemu_cmd_add(c, "-no-shutdown");
        if (c->def->on_reboot == DOMAIN_ACTION_DESTROY) {
                /* Same as -no-reboot, but the driver can lift it with set-action
                 * for the system_reset of a fake reboot. */
                qemu_cmd_add(c, "-action");
                qemu_cmd_add(c, "reboot=shutdown");
        }
        if (c->def->pm_suspend_to_mem >= 0) {
                qemu_cmd_add(c, "-global");
                qemu_cmd_addf(c, "%s.disable_s3=%d", pm, c->def->pm_suspend_to_mem ? 0 : 1);
        }
        if (c->def->pm_suspend_to_disk >= 0) {
                qemu_cmd_add(c, "-global");
                qemu_cmd_addf(c, "%s.disable_s4=%d", pm, c->def->pm_suspend_to_disk ? 0 : 1);
        }
}

/* <os><boot dev=…> becomes a bootindex on the first device of each kind, as
 * libvirt does, so the order holds for every firmware; per-device <boot
 * order=…> is used as given. */
static bool plan_bootindex(QemuCmd *c) {
        const DomainDef *def = c->def;
        bool any = false;

        for (size_t i = 0; i < def->n_disks; i++)
                if (def->disks[i].boot_order) {
                        c->bootindex_disk[i] = (int) def->disks[i].boot_order;
                        any = true;
                }
        for (size_t i = 0; i < def->n_nets; i++)
                if (def->nets[i].boot_order) {
                        c->bootindex_net[i] = (int) def->nets[i].boot_order;
                        any = true;
                }
        if (any) {
                if (def->n_boot_devs > 0)
                        qemu_cmd_fail(c, "per-device boot elements cannot be used together with <os><boot dev=…>");
                return true;
        }

        for (size_t b = 0; b < def->n_boot_devs; b++) {
                DomainBootDev dev = def->boot_devs[b];

                if (dev == DOMAIN_BOOT_HD || dev == DOMAIN_BOOT_CDROM) {
                        DomainDiskDevice want = dev == DOMAIN_BOOT_HD ? DOMAIN_DISK_DEVICE_DISK : DOMAIN_DISK_DEVICE_CDROM;
                        for (size_t i = 0; i < def->n_disks; i++)
                                if (def->disks[i].device == want && !c->bootindex_disk[i]) {
                                        c->bootindex_disk[i] = (int) ++c->next_bootindex;
                                        any = true;
                                        break;
                                }
                } else if (dev == DOMAIN_BOOT_NETWORK) {
                        for (size_t i = 0; i < def->n_nets; i++)
                                if (!c->bootindex_net[i]) {
                                        c->bootindex_net[i] = (int) ++c->next_bootindex;
                                        any = true;
                                        break;
                                }
                }
                /* fd: there is no floppy device; nothing to boot */
        }
        return any;
}

static void build_boot(QemuCmd *c) {
        const DomainDef *def = c->def;
        bool strict = plan_bootindex(c);
        GString *o = g_string_new(NULL);

        if (def->bootmenu >= 0)
                g_string_append_printf(o, ",menu=%s", def->bootmenu ? "on" : "off");
        if (def->bootmenu > 0 && def->bootmenu_timeout > 0)
                g_string_append_printf(o, ",splash-time=%u", def->bootmenu_timeout);
        if (strict)
                g_string_append(o, ",strict=on");
        if (o->len > 0) {
                g_string_erase(o, 0, 1);
                qemu_cmd_add_opt(c, "-boot", o);
        } else
                g_string_free(o, TRUE);

        /* -kernel, -initrd and -append take their whole argv element verbatim. */
        /* qemu's loaders open file names: the sealed copies, through qemu's own fds */
        if (def->kernel) {
                const DriverFile *f;
                if (!qemu_path_valid(def->kernel))
                        qemu_cmd_fail(c, "kernel '%s' is not an absolute path", def->kernel);
                f = qemu_cmd_file(c, DOMAIN_PATH_KERNEL, 0, 0, "kernel");
                if (f) {
                        qemu_cmd_add(c, "-kernel");
                        qemu_cmd_addf(c, "/proc/self/fd/%d", qemu_cmd_pass_fd(c, f->fd, "kernel"));
                }
        }
        if (def->initrd) {
                const DriverFile *f;
                if (!def->kernel)
                        qemu_cmd_fail(c, "<initrd> needs a <kernel>");
                if (!qemu_path_valid(def->initrd))
                        qemu_cmd_fail(c, "initrd '%s' is not an absolute path", def->initrd);
                f = qemu_cmd_file(c, DOMAIN_PATH_INITRD, 0, 0, "initrd");
                if (f) {
                        qemu_cmd_add(c, "-initrd");
                        qemu_cmd_addf(c, "/proc/self/fd/%d", qemu_cmd_pass_fd(c, f->fd, "initrd"));
                }
        }
        if (def->cmdline) {
                if (!def->kernel)
                        qemu_cmd_fail(c, "<cmdline> needs a <kernel>");
                qemu_cmd_add(c, "-append");
                qemu_cmd_add(c, def->cmdline);
        }
}

int qemu_command_build(const DomainDef *def, const QemuCommandCtx *ctx, char ***ret_argv, char **ret_error) {
        const char *emulator = ctx->emulator ?: def->emulator;
        QemuCmd c = {
                .argv = g_ptr_array_new_with_free_func(g_free),
                .def = def,
                .ctx = ctx,
                .q35 = qemu_caps_machine_is_q35(def->os_machine),
                .kvm = def->virt_type == DOMAIN_VIRT_KVM,
                .bootindex_disk = g_new0(int, def->n_disks + 1),
                .bootindex_net = g_new0(int, def->n_nets + 1),
        };

        if (ret_error)
                *ret_error = NULL;

        if (!qemu_path_valid(emulator))
                qemu_cmd_fail(&c, "emulator '%s' is not an absolute path", strempty(emulator));
        else if (isempty(def->name))
                qemu_cmd_fail(&c, "the domain has no name");
        else if (c.kvm && !ctx->kvm_usable)
                qemu_cmd_fail(&c, "domain type 'kvm' needs KVM, which is not usable on this host; use type 'qemu' (TCG)");
        else if (def->os_type && !streq(def->os_type, "hvm"))
                qemu_cmd_fail(&c, "OS type '%s' is not supported, only 'hvm'", def->os_type);
        else if (def->os_arch && !STR_IN_SET(def->os_arch, "x86_64", "i686"))
                qemu_cmd_fail(&c, "architecture '%s' is not supported", def->os_arch);

        if (!c.error) {
                qemu_cmd_add(&c, emulator);
                build_name(&c);
                qemu_cmd_add(&c, "-S");
                build_machine(&c);
                build_cpu(&c);
                build_firmware(&c);
                build_memory(&c);
                build_smp(&c);
                build_iothreads(&c);
                build_uuid(&c);
                qemu_cmd_add(&c, "-no-user-config");
                qemu_cmd_add(&c, "-nodefaults");
                build_monitor(&c);
                build_clock(&c);
                build_lifecycle_pm(&c);
                build_boot(&c);
                qemu_cmd_build_controllers(&c);
                qemu_cmd_build_disks(&c);
                qemu_cmd_build_nets(&c);
                qemu_cmd_build_chardevs(&c);
                qemu_cmd_build_inputs(&c);
                qemu_cmd_build_graphics(&c);
                qemu_cmd_build_videos(&c);
                qemu_cmd_build_sounds(&c);
                qemu_cmd_build_memballoon(&c);
                qemu_cmd_build_rngs(&c);
                qemu_cmd_build_tpm(&c);
                qemu_cmd_build_memories(&c);
                qemu_cmd_add(&c, "-sandbox");
                qemu_cmd_add(&c, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
                qemu_cmd_add(&c, "-msg");
                qemu_cmd_add(&c, "timestamp=on");
                if (ctx->incoming_defer) {
                        qemu_cmd_add(&c, "-incoming");
                        qemu_cmd_add(&c, "defer");
                }
        }

        g_free(c.bootindex_disk);
        g_free(c.bootindex_net);
        if (c.error) {
                g_ptr_array_unref(c.argv);
                if (ret_error)
                        *ret_error = strdup(c.error);
                g_free(c.error);
                return -EOPNOTSUPP;   /* a definition this host cannot run */
        }
        g_ptr_array_add(c.argv, NULL);
        *ret_argv = (char **) g_ptr_array_free(c.argv, FALSE);
        return 0;
}
