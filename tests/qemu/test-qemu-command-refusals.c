/* test-qemu-command-refusals.c — definitions qemu cannot run, or values that cannot be placed safely, are refused with a clear message. */
#include "test-qemu-defs.h"

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
        {
                /* a dimm is part of <memory>: -m gets the rest, the module its backend and pc-dimm */
                DomainMemoryDef dimm = { .model = S("dimm"), .size_kib = 65536, .node = -1, .slot = 1 };
                g_autofree char *out = NULL;

                d.memories = &dimm, d.n_memories = 1;
                out = build_ok(&d, &golden_ctx);
                CHECK(strstr(out, "\nsize=65536k,slots=4,maxmem=1953128k\n"));
                CHECK(strstr(out, "\n-object\nmemory-backend-ram,id=memdimm1,size=65536k\n"));
                CHECK(strstr(out, "\n-device\npc-dimm,node=0,memdev=memdimm1,id=dimm1,slot=1\n"));
                dimm.model = S("nvdimm");
                expect_error(&d, &golden_ctx, "memory model 'nvdimm' is not supported");
                d.memories = NULL, d.n_memories = 0;
        }

        RESET();
        d.current_vcpus = 3;
        expect_error(&d, &golden_ctx, "vcpu count");
        RESET();
        d.initrd = S(GOLDEN_BOOT_DIR "/initrd.img");
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


/* <tpm>: the emulator on swtpm's socket (qemu reaches it by path), passthrough on fdsets the service opened. */
static void test_tpm(void) {
        DomainControllerDef ctrls[8];
        DomainTpmDef tpm;
        DomainDef d;
        QemuCommandCtx c = golden_ctx;

        def_init_i440fx(&d, ctrls);
        tpm = (DomainTpmDef) { .model = S("tpm-crb"), .backend = S("emulator"), .version = S("2.0") };
        d.tpm = &tpm;
        expect_error(&d, &golden_ctx, "the emulated TPM has no swtpm to talk to");
        c.tpm_socket_path = GOLDEN_RUN_DIR "/swtpm,x.sock";
        {
                g_autofree char *out = build_ok(&d, &c);
                CHECK(strstr(out, "\n-chardev\nsocket,id=chrtpm,path=" GOLDEN_RUN_DIR "/swtpm,,x.sock\n"));
                CHECK(strstr(out, "\n-tpmdev\nemulator,id=tpm-tpm0,chardev=chrtpm\n"));
                CHECK(strstr(out, "\n-device\ntpm-crb,tpmdev=tpm-tpm0,id=tpm0\n"));
        }
        static const struct {
                const char *model, *version, *backend, *expect;
        } refused[] = {
                { "tpm-crb", "1.2", "emulator", "TPM version '1.2' is not supported" },
                { "tpm-spapr", "2.0", "emulator", "TPM model 'tpm-spapr' is not supported" },
                { "tpm-tis,id=evil", "2.0", "emulator", "TPM model 'tpm-tis,id=evil' is not supported" },
                { "tpm-tis", NULL, "external", "TPM backend 'external' is not supported" },
        };
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                tpm = (DomainTpmDef) { .model = S(refused[i].model), .backend = S(refused[i].backend),
                                       .version = refused[i].version ? S(refused[i].version) : NULL };
                expect_error(&d, &c, refused[i].expect);
        }
        tpm = (DomainTpmDef) { .model = S("tpm-tis"), .backend = S("passthrough"), .device_path = S("/dev/tpm0"),
                               .cancel_path = S("/sys/class/tpm/tpm0/device/cancel") };
        {
                g_autofree char *out = build_ok(&d, &golden_ctx);
                CHECK(strstr(out, ",opaque=tpm\n"));
                CHECK(strstr(out, ",opaque=tpm-cancel\n"));
                CHECK(strstr(out, "\n-tpmdev\npassthrough,id=tpm-tpm0,path=/dev/fdset/"));
                CHECK(strstr(out, ",cancel-path=/dev/fdset/"));
                CHECK(strstr(out, "\n-device\ntpm-tis,tpmdev=tpm-tpm0,id=tpm0\n"));
                CHECK(!strstr(out, "/dev/tpm0"));
        }
}

int main(void) {
        test_tpm();
        test_errors();
        test_refused_values();
        test_unrunnable();
        return TEST_EXIT();
}
