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

int main(void) {
        test_escape();
        test_handbuilt_golden();
        test_errors();
        return TEST_EXIT();
}
