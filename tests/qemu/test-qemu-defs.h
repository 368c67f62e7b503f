/* test-qemu-defs.h — hand-built normalized DomainDefs and build/expect helpers for the qemu command tests. */
#pragma once

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "qemu/qemu-command.h"
#include "test-golden.h"
#include "test-helpers.h"

#define S(x) ((char *) (x))

static const QemuCommandCtx golden_ctx = {
        .emulator = NULL,
        .qmp_socket_path = GOLDEN_RUN_DIR "/qmp.sock",
        .vnc_socket_path = GOLDEN_RUN_DIR "/vnc.sock",
        .channel_dir = GOLDEN_RUN_DIR "/channel",
        .kvm_usable = false,
        .chardev_log_prefix = GOLDEN_RUN_DIR "/demo",
};

static inline DomainAddress pci(unsigned bus, unsigned slot, unsigned function) {
        return (DomainAddress) { .type = DOMAIN_ADDRESS_PCI, .bus = bus, .slot = slot, .function = function };
}

static inline DomainAddress drive(unsigned controller, unsigned bus, unsigned unit) {
        return (DomainAddress) { .type = DOMAIN_ADDRESS_DRIVE, .controller = controller, .drive_bus = bus, .unit = unit };
}

/* A normalized i440fx domain the way the XML module hands it over. */
static inline void def_init_i440fx(DomainDef *d, DomainControllerDef *ctrls) {
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

static inline char *build_ok(const DomainDef *d, const QemuCommandCtx *ctx) {
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

static inline void expect_error(const DomainDef *d, const QemuCommandCtx *ctx, const char *needle) {
        _cleanup_free_ char *err = NULL;
        char **argv = NULL;
        int r;

        r = qemu_command_build(d, ctx, &argv, &err);
        if (r != -EOPNOTSUPP || !err || !strstr(err, needle)) {
                fprintf(stderr, "expected error containing '%s', got r=%d err=%s\n", needle, r, err ? err : "(null)");
                test_failures++;
        }
        if (argv)
                g_strfreev(argv);
}

/* Every argument must be an element we expect: nothing from the XML may begin a new option. */
static inline void check_no_smuggling(const char *joined, const char *const *forbidden) {
        g_auto(GStrv) args = g_strsplit(joined, "\n", -1);
        for (size_t i = 0; args[i]; i++)
                for (size_t j = 0; forbidden[j]; j++)
                        if (streq(args[i], forbidden[j])) {
                                fprintf(stderr, "smuggled argument '%s' at %zu\n", args[i], i);
                                test_failures++;
                        }
}

