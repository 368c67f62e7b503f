/* test-qemu-command.c — qemu argv from DomainDefs built by hand: golden files, errors and option smuggling. */
#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "qemu/qemu-command.h"
#include "test-helpers.h"
#include "test-golden.h"

#define S(x) ((char *) (x))

static const QemuCommandCtx golden_ctx = {
        .emulator = NULL,
        .qmp_socket_path = GOLDEN_RUN_DIR "/qmp.sock",
        .vnc_socket_path = GOLDEN_RUN_DIR "/vnc.sock",
        .channel_dir = GOLDEN_RUN_DIR "/channel",
        .kvm_usable = false,
};

static DomainAddress pci(unsigned bus, unsigned slot, unsigned function) {
        return (DomainAddress) { .type = DOMAIN_ADDRESS_PCI, .bus = bus, .slot = slot, .function = function };
}

static DomainAddress drive(unsigned controller, unsigned bus, unsigned unit) {
        return (DomainAddress) { .type = DOMAIN_ADDRESS_DRIVE, .controller = controller, .drive_bus = bus, .unit = unit };
}

/* A normalized i440fx domain the way the XML module hands it over. */
static void def_init_i440fx(DomainDef *d, DomainControllerDef *ctrls) {
        static DomainMemballoonDef balloon;

        *d = (DomainDef) {
                .virt_type = DOMAIN_VIRT_QEMU,
                .id = -1,
                .name = S("demo"),
                .uuid = { 0xc7, 0xa5, 0xfd, 0xbd, 0xed, 0xaf, 0x95, 0x35, 0x96, 0x14, 0x66, 0x75, 0x4f, 0x1e, 0x3b, 0x1a },
                .has_uuid = true,
                .memory_kib = 131072,
                .current_memory_kib = 131072,
                .vcpus = 1,
                .os_type = S("hvm"),
                .os_arch = S("x86_64"),
                .os_machine = S("pc-i440fx-7.2"),
                .bootmenu = -1,
                .acpi = true,
                .apic = true,
                .clock_offset = S("utc"),
                .pm_suspend_to_mem = -1,
                .pm_suspend_to_disk = -1,
                .on_poweroff = DOMAIN_ACTION_DESTROY,
                .on_reboot = DOMAIN_ACTION_RESTART,
                .on_crash = DOMAIN_ACTION_DESTROY,
                .emulator = S("/usr/bin/qemu-system-x86_64"),
                .controllers = ctrls,
                .n_controllers = 2,
                .memballoon = &balloon,
        };
        ctrls[0] = (DomainControllerDef) { .type = S("pci"), .index = 0, .model = S("pci-root"), .ports = -1, .vectors = -1,
                                           .target_chassis = -1, .target_port = -1 };
        ctrls[1] = (DomainControllerDef) { .type = S("usb"), .index = 0, .model = S("piix3-uhci"), .ports = -1, .vectors = -1,
                                           .target_chassis = -1, .target_port = -1, .address = pci(0, 1, 2) };
        balloon = (DomainMemballoonDef) { .model = S("virtio"), .address = pci(0, 3, 0) };
}

static char *build_ok(const DomainDef *d, const QemuCommandCtx *ctx) {
        _cleanup_free_ char *err = NULL;
        char **argv = NULL;
        char *joined;
        int r;

        r = qemu_command_build(d, ctx, &argv, &err);
        if (r < 0) {
                fprintf(stderr, "unexpected build error: %s\n", err ? err : "(none)");
                test_failures++;
                return g_strdup("");
        }
        joined = g_strjoinv("\n", argv);
        g_strfreev(argv);
        return joined;
}

static void expect_error(const DomainDef *d, const QemuCommandCtx *ctx, const char *needle) {
        _cleanup_free_ char *err = NULL;
        char **argv = NULL;
        int r;

        r = qemu_command_build(d, ctx, &argv, &err);
        if (r != -EINVAL || !err || !strstr(err, needle)) {
                fprintf(stderr, "expected error containing '%s', got r=%d err=%s\n", needle, r, err ? err : "(null)");
                test_failures++;
        }
        if (argv)
                g_strfreev(argv);
}

/* Every argument must be an element we expect: nothing from the XML may begin a new option. */
static void check_no_smuggling(const char *joined, const char *const *forbidden) {
        g_auto(GStrv) args = g_strsplit(joined, "\n", -1);
        for (size_t i = 0; args[i]; i++)
                for (size_t j = 0; forbidden[j]; j++)
                        if (streq(args[i], forbidden[j])) {
                                fprintf(stderr, "smuggled argument '%s' at %zu\n", args[i], i);
                                test_failures++;
                        }
}

static void test_escape(void) {
        _cleanup_free_ char *a = qemu_escape_option_value("/tmp/a,b.img");
        _cleanup_free_ char *b = qemu_escape_option_value(",,");
        _cleanup_free_ char *e = qemu_escape_option_value("");
        CHECK_STREQ(a, "/tmp/a,,b.img");
        CHECK_STREQ(b, ",,,,");
        CHECK_STREQ(e, "");
}

static void test_handbuilt_golden(void) {
        DomainControllerDef ctrls[8];
        DomainDiskDef disks[3];
        DomainNetDef nets[1];
        DomainChrDef serials[1], consoles[1];
        DomainVideoDef videos[1];
        DomainInputDef inputs[3];
        DomainGraphicsDef graphics[1];
        DomainRngDef rngs[1];
        DomainTimerDef timers[3];
        DomainDef d;
        g_autofree char *out = NULL;

        def_init_i440fx(&d, ctrls);
        d.name = S("hand,built=1 x");
        d.title = S("title,process=evil");
        d.vcpus = 2;
        d.kernel = S("/boot/vmlinuz-6.1.0-56-amd64");
        d.initrd = S("/boot/initrd.img-6.1.0-56-amd64");
        d.cmdline = S("console=ttyS0 quiet,foo=bar -device e1000");
        d.pm_suspend_to_mem = 0;
        d.pm_suspend_to_disk = 0;
        d.on_reboot = DOMAIN_ACTION_DESTROY;
        timers[0] = (DomainTimerDef) { .name = S("rtc"), .tickpolicy = S("catchup"), .present = -1 };
        timers[1] = (DomainTimerDef) { .name = S("pit"), .tickpolicy = S("delay"), .present = -1 };
        timers[2] = (DomainTimerDef) { .name = S("hpet"), .present = 0 };
        d.timers = timers;
        d.n_timers = 3;
        ctrls[2] = (DomainControllerDef) { .type = S("ide"), .index = 0, .ports = -1, .vectors = -1, .target_chassis = -1,
                                           .target_port = -1, .address = pci(0, 1, 1) };
        ctrls[3] = (DomainControllerDef) { .type = S("scsi"), .index = 0, .model = S("virtio-scsi"), .ports = -1, .vectors = -1,
                                           .target_chassis = -1, .target_port = -1, .address = pci(0, 5, 0) };
        d.n_controllers = 4;
        disks[0] = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_FILE, .device = DOMAIN_DISK_DEVICE_DISK,
                                     .source = S(GOLDEN_IMAGE_DIR "/a,b.qcow2"), .driver_name = S("qemu"),
                                     .driver_type = S("qcow2"), .driver_cache = S("writeback"), .driver_discard = S("unmap"),
                                     .target_dev = S("vda"), .bus = DOMAIN_DISK_BUS_VIRTIO, .boot_order = 1,
                                     .serial = S("SER,drive=x"), .address = pci(0, 4, 0) };
        disks[1] = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_FILE, .device = DOMAIN_DISK_DEVICE_CDROM,
                                     .target_dev = S("hdc"), .bus = DOMAIN_DISK_BUS_IDE, .readonly = true,
                                     .address = drive(0, 1, 0) };
        disks[2] = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_FILE, .device = DOMAIN_DISK_DEVICE_DISK,
                                     .source = S(GOLDEN_IMAGE_DIR "/data.raw"), .driver_type = S("raw"),
                                     .target_dev = S("sda"), .bus = DOMAIN_DISK_BUS_SCSI, .readonly = true,
                                     .address = drive(0, 0, 0) };
        d.disks = disks;
        d.n_disks = 3;
        nets[0] = (DomainNetDef) { .type = DOMAIN_NET_TYPE_USER, .mac = S("52:54:00:12:34:56"), .model = S("e1000"),
                                   .boot_order = 2, .address = pci(0, 6, 0) };
        d.nets = nets;
        d.n_nets = 1;
        serials[0] = (DomainChrDef) { .kind = DOMAIN_CHR_SERIAL, .type = S("pty"), .target_type = S("isa-serial"),
                                      .target_model = S("isa-serial"), .target_port = 0 };
        consoles[0] = (DomainChrDef) { .kind = DOMAIN_CHR_CONSOLE, .type = S("pty"), .target_type = S("serial"), .target_port = 0 };
        d.serials = serials;
        d.n_serials = 1;
        d.consoles = consoles;
        d.n_consoles = 1;
        graphics[0] = (DomainGraphicsDef) { .type = S("vnc"), .port = -1, .autoport = true, .passwd = S("secret,x") };
        d.graphics = graphics;
        d.n_graphics = 1;
        videos[0] = (DomainVideoDef) { .model = S("vga"), .vram = 16384, .heads = 1, .primary = true, .address = pci(0, 2, 0) };
        d.videos = videos;
        d.n_videos = 1;
        inputs[0] = (DomainInputDef) { .type = S("tablet"), .bus = S("usb"),
                                       .address = { .type = DOMAIN_ADDRESS_USB, .usb_port = S("1") } };
        inputs[1] = (DomainInputDef) { .type = S("mouse"), .bus = S("ps2") };
        inputs[2] = (DomainInputDef) { .type = S("keyboard"), .bus = S("ps2") };
        d.inputs = inputs;
        d.n_inputs = 3;
        rngs[0] = (DomainRngDef) { .model = S("virtio"), .backend_model = S("random"), .backend_path = S("/dev/urandom"),
                                   .rate_bytes = 1024, .rate_period = 1000, .address = pci(0, 7, 0) };
        d.rngs = rngs;
        d.n_rngs = 1;

        out = build_ok(&d, &golden_ctx);
        golden_compare("handbuilt-i440fx", out);
        CHECK(!strstr(out, "secret"));
        CHECK(!strstr(out, "title"));
        CHECK(strstr(out, "\nguest=hand,,built=1 x,debug-threads=on\n"));
        CHECK(strstr(out, "\nconsole=ttyS0 quiet,foo=bar -device e1000\n"));
        CHECK(strstr(out, ",serial=SER,,drive=x"));
        check_no_smuggling(out, (const char *const[]) { "e1000", NULL });
}

static void test_errors(void) {
        DomainControllerDef ctrls[8];
        DomainDef d;
        QemuCommandCtx kvm_ctx = golden_ctx;

        def_init_i440fx(&d, ctrls);
        d.cpu_mode = S("host-passthrough");
        expect_error(&d, &golden_ctx, "CPU mode 'host-passthrough' needs KVM but the domain type is 'qemu' (TCG)");

        def_init_i440fx(&d, ctrls);
        d.virt_type = DOMAIN_VIRT_KVM;
        expect_error(&d, &golden_ctx, "needs KVM, which is not usable");
        kvm_ctx.kvm_usable = true;
        d.cpu_mode = S("host-passthrough");
        {
                g_autofree char *out = build_ok(&d, &kvm_ctx);
                CHECK(strstr(out, "\n-accel\nkvm\n"));
                CHECK(strstr(out, "\n-cpu\nhost\n"));
        }
}

/* ---- smuggling: hostile values must not change the shape of the command line ---- */

static bool opt_takes_value(const char *opt) {
        return !STR_IN_SET(opt, "-S", "-no-user-config", "-nodefaults", "-no-shutdown", "-no-reboot");
}

/* The keys of a qemu option string as qemu's own parsers see them (QemuOpts
 * and keyval agree here): at each element the key runs to the first '=' or
 * ','; with ',' first, the element is the implied first value (or a flag);
 * a value runs to the next single ',' (",," is a literal comma). Returns a
 * '|'-joined list of keys; values are dropped. */
static char *opt_keys(const char *s) {
        GString *o = g_string_new(NULL);
        const char *p = s;

        for (;;) {
                size_t len = strcspn(p, "=,");
                if (p[len] == '=') {
                        g_string_append_len(o, p, (gssize) len);
                        p += len + 1;
                } else if (p == s) {
                        /* implied first value: key "" */
                } else {
                        g_string_append_len(o, p, (gssize) len); /* a flag */
                        p += len;
                }
                /* skip the value */
                while (*p && !(*p == ',' && p[1] != ',')) {
                        if (*p == ',')
                                p++;
                        p++;
                }
                g_string_append_c(o, '|');
                if (!*p)
                        break;
                p++;
        }
        return g_string_free(o, FALSE);
}

/* "-opt keys…" for every option; positional values are reduced to "value". */
static char *argv_shape(char **argv) {
        GString *o = g_string_new(NULL);

        for (size_t i = 1; argv[i]; i++) {
                const char *opt = argv[i];
                g_string_append_printf(o, "%s", opt);
                if (opt_takes_value(opt) && argv[i + 1]) {
                        i++;
                        if (STR_IN_SET(opt, "-kernel", "-initrd", "-append", "-bios", "-uuid"))
                                g_string_append(o, " value");
                        else {
                                g_autofree char *k = opt_keys(argv[i]);
                                g_string_append_printf(o, " %s", k);
                        }
                }
                g_string_append_c(o, '\n');
        }
        return g_string_free(o, FALSE);
}

/* Fills every XML-derived text field of a rich domain with `v` (paths get a '/' prefix). */
static char *shape_with(const char *v, char **ret_error) {
        DomainControllerDef ctrls[8];
        DomainDiskDef disks[2];
        DomainNetDef nets[1];
        DomainChrDef serials[1], channels[1];
        DomainGraphicsDef graphics[1];
        DomainRngDef rngs[1];
        DomainDef d;
        g_autofree char *path = g_strdup_printf("/images/%s", v);
        g_autofree char *sock = g_strdup_printf("/run/%s", v);
        char **argv = NULL, *shape;
        int r;

        def_init_i440fx(&d, ctrls);
        d.name = S(v);
        d.title = S(v);
        d.description = S(v);
        d.kernel = path;
        d.initrd = path;
        d.cmdline = S(v);
        d.loader = path;
        ctrls[2] = (DomainControllerDef) { .type = S("virtio-serial"), .index = 0, .ports = -1, .vectors = -1,
                                           .target_chassis = -1, .target_port = -1, .address = pci(0, 9, 0) };
        d.n_controllers = 3;
        disks[0] = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_FILE, .device = DOMAIN_DISK_DEVICE_DISK, .source = path,
                                     .driver_type = S("raw"), .target_dev = S("vda"), .bus = DOMAIN_DISK_BUS_VIRTIO,
                                     .serial = S(v), .address = pci(0, 4, 0) };
        disks[1] = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_BLOCK, .device = DOMAIN_DISK_DEVICE_CDROM, .source = path,
                                     .target_dev = S("hdc"), .bus = DOMAIN_DISK_BUS_IDE, .address = drive(0, 1, 0) };
        d.disks = disks;
        d.n_disks = 2;
        nets[0] = (DomainNetDef) { .type = DOMAIN_NET_TYPE_USER, .mac = S("52:54:00:00:00:01"), .model = S("virtio") };
        d.nets = nets;
        d.n_nets = 1;
        serials[0] = (DomainChrDef) { .kind = DOMAIN_CHR_SERIAL, .type = S("pty"), .target_port = 0, .source_path = S(v) };
        d.serials = serials;
        d.n_serials = 1;
        channels[0] = (DomainChrDef) { .kind = DOMAIN_CHR_CHANNEL, .type = S("unix"), .target_type = S("virtio"),
                                       .target_name = S(v), .target_port = -1, .source_path = sock };
        d.channels = channels;
        d.n_channels = 1;
        graphics[0] = (DomainGraphicsDef) { .type = S("vnc"), .port = -1, .autoport = true, .listen_type = S("socket"),
                                            .listen = sock, .passwd = S(v) };
        d.graphics = graphics;
        d.n_graphics = 1;
        rngs[0] = (DomainRngDef) { .model = S("virtio"), .backend_model = S("random"), .backend_path = path };
        d.rngs = rngs;
        d.n_rngs = 1;

        r = qemu_command_build(&d, &golden_ctx, &argv, ret_error);
        if (r < 0)
                return NULL;
        shape = argv_shape(argv);
        g_strfreev(argv);
        return shape;
}

static void test_smuggling(void) {
        static const char *const hostile[] = {
                ",", ",,", ",,,", "a,b", "a,,b", "x,id=evil", "x,,id=evil", "=", "a=b", "x,server=off,wait=on",
                " -device e1000", "-device", "help", "?", "x,password=off", "x,driver=nbd,host=example.org",
                "x,file.driver=ssh", "json:{\"driver\":\"nbd\"}", "x\\,y", "trailing,", ",leading", "ünï,cödé",
        };
        g_autofree char *benign = shape_with("plain", NULL);

        CHECK(benign);
        for (size_t i = 0; i < ELEMENTSOF(hostile); i++) {
                _cleanup_free_ char *err = NULL;
                g_autofree char *shape = shape_with(hostile[i], &err);
                if (!shape) {
                        fprintf(stderr, "hostile value '%s' was refused: %s\n", hostile[i], err ? err : "?");
                        test_failures++;
                        continue;
                }
                if (!streq(shape, benign)) {
                        fprintf(stderr, "hostile value '%s' changed the command line shape:\n%s\n--- vs ---\n%s\n",
                                hostile[i], shape, benign);
                        test_failures++;
                }
        }

        /* random strings over the characters that mean something to qemu's parsers */
        {
                static const char alphabet[] = ",,,===a-: /.?\\\"{}";
                GRand *rnd = g_rand_new_with_seed(4242);
                for (unsigned iter = 0; iter < 2000; iter++) {
                        char v[24];
                        size_t len = (size_t) g_rand_int_range(rnd, 1, (gint32) sizeof(v));
                        _cleanup_free_ char *err = NULL;
                        g_autofree char *shape = NULL;

                        for (size_t k = 0; k < len - 1; k++)
                                v[k] = alphabet[g_rand_int_range(rnd, 0, (gint32) sizeof(alphabet) - 1)];
                        v[len - 1] = '\0';
                        if (!v[0])
                                continue;
                        shape = shape_with(v, &err);
                        if (!shape || !streq(shape, benign)) {
                                fprintf(stderr, "random value '%s' %s\n", v, shape ? "changed the shape" : err);
                                test_failures++;
                                break;
                        }
                }
                g_rand_free(rnd);
        }
}

/* Values that go where qemu cannot escape them are refused, not passed on. */
static void test_refused_values(void) {
        DomainControllerDef ctrls[8];
        DomainDiskDef disk;
        DomainNetDef net;
        DomainInputDef input;
        DomainGraphicsDef gr;
        DomainVideoDef video;
        DomainDef d;

#define RESET() def_init_i440fx(&d, ctrls)
        RESET();
        d.cpu_mode = S("custom");
        d.cpu_model = S("qemu64,+vmx");
        expect_error(&d, &golden_ctx, "not a valid qemu CPU model name");
        d.cpu_model = S("help");
        expect_error(&d, &golden_ctx, "not a valid qemu CPU model name");
        d.cpu_model = S("-device");
        expect_error(&d, &golden_ctx, "not a valid qemu CPU model name");
        d.cpu_model = S("host");
        expect_error(&d, &golden_ctx, "CPU model 'host' needs KVM");

        RESET();
        d.os_machine = S("pc,accel=kvm");
        expect_error(&d, &golden_ctx, "not a valid qemu machine name");

        RESET();
        d.clock_offset = S("utc,clock=vm");
        expect_error(&d, &golden_ctx, "clock offset");

        RESET();
        d.kernel = S("vmlinuz");
        expect_error(&d, &golden_ctx, "kernel 'vmlinuz' is not an absolute path");

        RESET();
        QemuCommandCtx rel = golden_ctx;
        rel.emulator = "qemu-system-x86_64";
        expect_error(&d, &rel, "emulator");

        RESET();
        net = (DomainNetDef) { .type = DOMAIN_NET_TYPE_USER, .mac = S("52:54:00:00:00:01,id=x"), .model = S("virtio") };
        d.nets = &net;
        d.n_nets = 1;
        expect_error(&d, &golden_ctx, "MAC address");
        net.mac = S("zz:54:00:00:00:01");
        expect_error(&d, &golden_ctx, "MAC address");
        net.mac = S("52:54:00:00:00:01");
        net.model = S("virtio,netdev=evil");
        expect_error(&d, &golden_ctx, "model 'virtio,netdev=evil' is not supported");
        net.model = S("virtio");
        net.type = DOMAIN_NET_TYPE_BRIDGE;
        expect_error(&d, &golden_ctx, "needs a tap device");
        {
                QemuCommandCtx c = golden_ctx;
                int fds[] = { 23 };
                g_autofree char *out = NULL;
                c.net_fds = fds;
                out = build_ok(&d, &c);
                CHECK(strstr(out, "\n-netdev\ntap,fd=23,id=hostnet0\n"));
        }

        RESET();
        disk = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_FILE, .device = DOMAIN_DISK_DEVICE_DISK, .source = S("rel/a.img"),
                                 .target_dev = S("vda"), .bus = DOMAIN_DISK_BUS_VIRTIO };
        d.disks = &disk;
        d.n_disks = 1;
        expect_error(&d, &golden_ctx, "not an absolute path");
        disk.source = S("/a\nb.img");
        expect_error(&d, &golden_ctx, "not an absolute path");
        disk.source = S("/a.img");
        disk.driver_type = S("qcow2,file.driver=ssh");
        expect_error(&d, &golden_ctx, "format");
        disk.driver_type = S("raw");
        disk.driver_cache = S("none,x=y");
        expect_error(&d, &golden_ctx, "cache mode");
        disk.driver_cache = NULL;
        disk.driver_io = S("native");
        expect_error(&d, &golden_ctx, "io='native' needs cache='none'");
        disk.driver_io = S("threads,x=y");
        expect_error(&d, &golden_ctx, "io mode");
        disk.driver_io = NULL;
        disk.driver_discard = S("unmap,x=y");
        expect_error(&d, &golden_ctx, "discard mode");
        disk.driver_discard = NULL;
        disk.alias = S("ua-x,id=y");
        expect_error(&d, &golden_ctx, "not a valid qemu id");
        disk.alias = S("ua-disk0");
        {
                g_autofree char *out = build_ok(&d, &golden_ctx);
                CHECK(strstr(out, "id=ua-disk0"));
        }
        disk.alias = NULL;
        disk.type = DOMAIN_DISK_TYPE_VOLUME;
        expect_error(&d, &golden_ctx, "storage pool volumes are not supported yet");
        disk.type = DOMAIN_DISK_TYPE_FILE;
        disk.device = DOMAIN_DISK_DEVICE_CDROM;
        expect_error(&d, &golden_ctx, "a cdrom cannot be on the virtio bus");

        RESET();
        disk = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_FILE, .device = DOMAIN_DISK_DEVICE_DISK, .source = S("/a.img"),
                                 .target_dev = S("hda"), .bus = DOMAIN_DISK_BUS_IDE };
        d.disks = &disk;
        d.n_disks = 1;
        d.os_machine = S("pc-q35-7.2");
        ctrls[0].model = S("pcie-root");
        d.n_controllers = 1;
        expect_error(&d, &golden_ctx, "q35 machines have no IDE bus");

        RESET();
        input = (DomainInputDef) { .type = S("tablet"), .bus = S("usb"),
                                   .address = { .type = DOMAIN_ADDRESS_USB, .usb_port = S("1,bus=x") } };
        d.inputs = &input;
        d.n_inputs = 1;
        expect_error(&d, &golden_ctx, "invalid USB port");
        input.address.usb_port = S("1.2");
        d.n_controllers = 1; /* no USB controller */
        expect_error(&d, &golden_ctx, "needs a USB controller");

        RESET();
        gr = (DomainGraphicsDef) { .type = S("vnc"), .port = -1, .autoport = true, .listen = S("127.0.0.1,password=off"),
                                   .listen_type = S("address") };
        d.graphics = &gr;
        d.n_graphics = 1;
        expect_error(&d, &golden_ctx, "is not an IP address");
        gr.listen = S("localhost");
        expect_error(&d, &golden_ctx, "is not an IP address");
        gr.listen = S("::1");
        gr.passwd = S("pw");
        {
                g_autofree char *out = build_ok(&d, &golden_ctx);
                CHECK(strstr(out, "\n-vnc\n[::1]:0,to=100,password=on\n"));
                CHECK(!strstr(out, "pw\n"));
        }
        gr = (DomainGraphicsDef) { .type = S("spice"), .port = -1 };
        expect_error(&d, &golden_ctx, "graphics type 'spice' is not supported");

        RESET();
        video = (DomainVideoDef) { .model = S("vga,id=x") };
        d.videos = &video;
        d.n_videos = 1;
        expect_error(&d, &golden_ctx, "is not supported");
#undef RESET
}

/* Definitions qemu cannot run are refused with a message naming the problem. */
static void test_unrunnable(void) {
        DomainControllerDef ctrls[8];
        DomainDiskDef disk;
        DomainChrDef chr;
        DomainGraphicsDef gr[2];
        DomainVideoDef video[2];
        DomainRngDef rng;
        DomainMemballoonDef balloon;
        DomainDef d;
        char longpath[200];

#define RESET() def_init_i440fx(&d, ctrls)
        RESET();
        d.vcpus = 4;
        d.cpu_sockets = 1, d.cpu_cores = 3, d.cpu_threads = 1;
        expect_error(&d, &golden_ctx, "does not match 4 vcpus");
        d.cpu_cores = 2, d.cpu_dies = 2;
        {
                g_autofree char *out = build_ok(&d, &golden_ctx);
                CHECK(strstr(out, "\n4,sockets=1,dies=2,cores=2,threads=1\n"));
        }

        RESET();
        d.max_memory_kib = 1048576;
        expect_error(&d, &golden_ctx, "<maxMemory> needs a slots count");
        d.max_memory_slots = 4;
        d.max_memory_kib = 1024;
        expect_error(&d, &golden_ctx, "<maxMemory> is smaller than <memory>");
        d.max_memory_kib = 1953125; /* 2 GB */
        {
                g_autofree char *out = build_ok(&d, &golden_ctx);
                CHECK(strstr(out, "\nsize=131072k,slots=4,maxmem=1953128k\n"));
        }

        RESET();
        d.current_vcpus = 3;
        expect_error(&d, &golden_ctx, "vcpu count");
        RESET();
        d.initrd = S("/boot/initrd");
        expect_error(&d, &golden_ctx, "<initrd> needs a <kernel>");
        RESET();
        d.cmdline = S("quiet");
        expect_error(&d, &golden_ctx, "<cmdline> needs a <kernel>");
        RESET();
        d.os_type = S("xen");
        expect_error(&d, &golden_ctx, "OS type 'xen'");
        RESET();
        d.os_arch = S("aarch64");
        expect_error(&d, &golden_ctx, "architecture 'aarch64'");
        RESET();
        d.cpu_mode = S("custom");
        expect_error(&d, &golden_ctx, "CPU mode 'custom' needs a <model>");
        RESET();
        d.loader = S("/fw.bin");
        d.loader_type = S("nvram");
        expect_error(&d, &golden_ctx, "loader type 'nvram'");
        RESET();
        d.timers = (DomainTimerDef[]) { { .name = S("rtc"), .tickpolicy = S("merge"), .present = -1 } };
        d.n_timers = 1;
        expect_error(&d, &golden_ctx, "rtc timer tickpolicy 'merge'");

        RESET();
        disk = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_FILE, .device = DOMAIN_DISK_DEVICE_DISK, .target_dev = S("vda"),
                                 .bus = DOMAIN_DISK_BUS_VIRTIO, .boot_order = 1 };
        d.disks = &disk;
        d.n_disks = 1;
        expect_error(&d, &golden_ctx, "disk 'vda' has no source");
        disk.source = S("/a.img");
        d.boot_devs[0] = DOMAIN_BOOT_HD;
        d.n_boot_devs = 1;
        expect_error(&d, &golden_ctx, "per-device boot elements cannot be used together");
        d.n_boot_devs = 0;
        disk.driver_name = S("tap");
        expect_error(&d, &golden_ctx, "driver name 'tap'");
        disk.driver_name = NULL;
        disk.address = (DomainAddress) { .type = DOMAIN_ADDRESS_PCI, .domain = 1, .slot = 3 };
        expect_error(&d, &golden_ctx, "which qemu cannot place");
        disk.address = pci(4, 1, 0);
        expect_error(&d, &golden_ctx, "no PCI controller with index 4");
        disk.address = drive(0, 0, 0);
        expect_error(&d, &golden_ctx, "non-PCI address");
        disk.address = (DomainAddress) { 0 };
        disk.bus = DOMAIN_DISK_BUS_SATA;
        disk.target_dev = S("sdg");
        expect_error(&d, &golden_ctx, "needs a SATA controller with index 1");
        disk.target_dev = S("sda");
        expect_error(&d, &golden_ctx, "needs a SATA controller with index 0");
        disk.readonly = true;
        expect_error(&d, &golden_ctx, "cannot make an IDE/SATA hard disk read-only");
        disk.readonly = false;
        disk.bus = DOMAIN_DISK_BUS_SCSI;
        expect_error(&d, &golden_ctx, "needs a SCSI controller with index 0");
        ctrls[2] = (DomainControllerDef) { .type = S("scsi"), .index = 0, .model = S("lsilogic"), .ports = -1, .vectors = -1,
                                           .target_chassis = -1, .target_port = -1 };
        d.n_controllers = 3;
        disk.address = drive(0, 0, 7);
        expect_error(&d, &golden_ctx, "lsilogic address out of range");
        ctrls[2].model = S("buslogic");
        expect_error(&d, &golden_ctx, "model 'buslogic' is not supported");

        RESET();
        chr = (DomainChrDef) { .kind = DOMAIN_CHR_CHANNEL, .type = S("unix"), .target_type = S("virtio"),
                               .target_name = S("org.qemu.guest_agent.0"), .target_port = -1 };
        d.channels = &chr;
        d.n_channels = 1;
        {
                QemuCommandCtx c = golden_ctx;
                c.channel_dir = NULL;
                expect_error(&d, &c, "a unix socket needs <source path=…>");
        }
        expect_error(&d, &golden_ctx, "needs a virtio-serial controller with index 0");
        chr.target_name = S("../../etc/x");
        expect_error(&d, &golden_ctx, "a unix socket needs <source path=…>");
        memset(longpath, 'x', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        chr.source_path = longpath;
        expect_error(&d, &golden_ctx, "shorter than 108 bytes");
        chr.source_path = S("/run/x.sock");
        chr.type = S("spicevmc");
        expect_error(&d, &golden_ctx, "character device type 'spicevmc'");
        d.n_channels = 0;
        chr = (DomainChrDef) { .kind = DOMAIN_CHR_CONSOLE, .type = S("pty"), .target_type = S("serial"), .target_port = 0 };
        d.consoles = &chr;
        d.n_consoles = 1;
        expect_error(&d, &golden_ctx, "a serial console needs a <serial>");
        chr.target_type = S("sclp");
        expect_error(&d, &golden_ctx, "target type 'sclp'");
        d.n_consoles = 0;
        chr = (DomainChrDef) { .kind = DOMAIN_CHR_SERIAL, .type = S("pty"), .target_type = S("isa-serial"), .target_port = 4 };
        d.serials = &chr;
        d.n_serials = 1;
        expect_error(&d, &golden_ctx, "an isa-serial port must be 0…3");
        chr.target_port = 0;
        chr.target_model = S("usb-serial");
        expect_error(&d, &golden_ctx, "target 'usb-serial'");

        RESET();
        gr[0] = (DomainGraphicsDef) { .type = S("vnc"), .port = -1, .autoport = true };
        gr[1] = gr[0];
        d.graphics = gr;
        d.n_graphics = 2;
        expect_error(&d, &golden_ctx, "only one <graphics>");
        d.n_graphics = 1;
        {
                QemuCommandCtx c = golden_ctx;
                c.vnc_socket_path = NULL;
                expect_error(&d, &c, "VNC needs a socket path");
        }
        gr[0] = (DomainGraphicsDef) { .type = S("vnc"), .port = 80, .listen = S("127.0.0.1") };
        expect_error(&d, &golden_ctx, "VNC port 80");

        RESET();
        video[0] = (DomainVideoDef) { .model = S("virtio"), .address = pci(0, 2, 0) };
        video[1] = (DomainVideoDef) { .model = S("vga") };
        d.videos = video;
        d.n_videos = 2;
        expect_error(&d, &golden_ctx, "not supported as a secondary video device");
        d.n_videos = 1;
        video[0].model = S("vga");
        video[0].vram = 1000;
        expect_error(&d, &golden_ctx, "vram must be a whole number of MiB");

        RESET();
        rng = (DomainRngDef) { .model = S("virtio"), .backend_model = S("egd") };
        d.rngs = &rng;
        d.n_rngs = 1;
        expect_error(&d, &golden_ctx, "backend 'egd'");
        rng.backend_model = S("random");
        rng.backend_path = S("dev/random");
        expect_error(&d, &golden_ctx, "backend 'dev/random' is not an absolute path");
        rng.model = S("virtio-transitional");
        expect_error(&d, &golden_ctx, "model 'virtio-transitional'");

        RESET();
        balloon = (DomainMemballoonDef) { .model = S("xen") };
        d.memballoon = &balloon;
        expect_error(&d, &golden_ctx, "memballoon model 'xen'");

        RESET();
        ctrls[1].model = S("ohci-bogus");
        expect_error(&d, &golden_ctx, "model 'ohci-bogus' is not supported");
        RESET();
        ctrls[0].model = S("pcie-root");
        expect_error(&d, &golden_ctx, "does not match machine");
        RESET();
        ctrls[2] = (DomainControllerDef) { .type = S("pci"), .index = 1, .model = S("pci-bridge"), .ports = -1, .vectors = -1,
                                           .target_chassis = -1, .target_port = -1, .address = pci(0, 9, 0) };
        ctrls[3] = (DomainControllerDef) { .type = S("virtio-serial"), .index = 0, .ports = 8, .vectors = 4,
                                           .target_chassis = -1, .target_port = -1, .address = pci(1, 1, 0) };
        d.n_controllers = 4;
        {
                g_autofree char *out = build_ok(&d, &golden_ctx);
                CHECK(strstr(out, "\npci-bridge,chassis_nr=1,id=pci.1,bus=pci.0,addr=0x9\n"));
                CHECK(strstr(out, "\nvirtio-serial-pci,id=virtio-serial0,max_ports=8,vectors=4,bus=pci.1,addr=0x1\n"));
        }
        ctrls[2].index = 256;
        expect_error(&d, &golden_ctx, "index must be 0…255");
        ctrls[2].index = 1;
        ctrls[2].model = S("pcie-expander-bus");
        expect_error(&d, &golden_ctx, "model 'pcie-expander-bus' is not supported");
#undef RESET
}

/* ---- XML golden files: data/NAME.xml → data/NAME.args ---- */

static const char *golden_emulator_for_arch(void *userdata, const char *arch) {
        return !arch || streq(arch, "x86_64") ? "/usr/bin/qemu-system-x86_64" : NULL;
}

/* The fixed table of qemu 7.2, so the goldens do not depend on the installed qemu. */
static const char *golden_resolve_machine(void *userdata, const char *emulator, const char *machine) {
        if (!machine || streq(machine, "pc"))
                return "pc-i440fx-7.2";
        if (streq(machine, "q35"))
                return "pc-q35-7.2";
        if (g_str_has_prefix(machine, "pc-i440fx-") || g_str_has_prefix(machine, "pc-q35-"))
                return machine;
        return NULL;
}

static const DomainNormalizeCtx golden_normalize_ctx = {
        .emulator_for_arch = golden_emulator_for_arch,
        .resolve_machine = golden_resolve_machine,
};

/* Parse + normalize + build; the result text is the argv, or "error: …" / "conf-error: …". */
static char *golden_build_xml(const char *name, const char *xml, size_t len, DomainDef **ret_def) {
        QemuCommandCtx ctx = golden_ctx;
        ConfError cerr = { 0 };
        DomainDef *def = NULL;
        char **argv = NULL, *err = NULL, *out;
        int r;

        r = domain_def_parse(xml, len, &def, &cerr);
        if (r >= 0)
                r = domain_def_normalize(def, &golden_normalize_ctx, &cerr);
        if (r < 0) {
                out = g_strdup_printf("conf-error: %s", cerr.message ? cerr.message : "(no message)");
                conf_error_clear(&cerr);
                domain_def_free(def);
                return out;
        }
        ctx.kvm_usable = g_str_has_prefix(name, "kvm-");
        r = qemu_command_build(def, &ctx, &argv, &err);
        if (r < 0)
                out = g_strdup_printf("error: %s", err ? err : "(no message)");
        else
                out = g_strjoinv("\n", argv);
        if (argv)
                g_strfreev(argv);
        free(err);
        if (ret_def)
                *ret_def = def;
        else
                domain_def_free(def);
        return out;
}

static void test_golden_xml(void) {
        g_autoptr(GDir) dir = g_dir_open(golden_data_dir(), 0, NULL);
        const char *e;
        unsigned n = 0;

        CHECK(dir);
        while (dir && (e = g_dir_read_name(dir))) {
                g_autofree char *name = NULL, *path = NULL, *xml = NULL, *out = NULL;
                DomainDef *def = NULL;
                gsize len = 0;

                if (!g_str_has_suffix(e, ".xml"))
                        continue;
                name = g_strndup(e, strlen(e) - 4);
                path = g_strdup_printf("%s/%s", golden_data_dir(), e);
                CHECK(g_file_get_contents(path, &xml, &len, NULL));
                out = golden_build_xml(name, xml, len, &def);
                golden_compare(name, out);
                if (g_str_has_prefix(name, "err-")) {
                        if (!g_str_has_prefix(out, "error: ")) {
                                fprintf(stderr, "%s: expected a build error\n", name);
                                test_failures++;
                        }
                } else if (g_str_has_prefix(out, "error: ") || g_str_has_prefix(out, "conf-error: ")) {
                        fprintf(stderr, "%s: %s\n", name, out);
                        test_failures++;
                }

                /* The canonical XML of the normalized definition must build the same command line. */
                if (def) {
                        g_autofree char *canon = domain_def_format(def, DOMAIN_FORMAT_SECURE);
                        g_autofree char *again = canon ? golden_build_xml(name, canon, strlen(canon), NULL) : NULL;
                        if (!again || !streq(again, out)) {
                                fprintf(stderr, "%s: command line changes after format + parse + normalize:\n%s\n---\n%s\n",
                                        name, out, again ? again : "(format failed)");
                                test_failures++;
                        }
                        domain_def_free(def);
                }
                n++;
        }
        CHECK(n >= 10);
}

int main(void) {
        test_escape();
        test_golden_xml();
        test_handbuilt_golden();
        test_errors();
        test_smuggling();
        test_refused_values();
        test_unrunnable();
        return TEST_EXIT();
}
