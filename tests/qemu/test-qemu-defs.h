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

/* ---- the files the service would have opened: fake fds, recorded for the golden run ---- */

#define TEST_FILE_FD_BASE 100     /* path i of domain_def_host_paths() is fd 100 + i; layers and logs follow */

typedef struct TestFiles {
        DomainPath *paths;
        size_t n_paths;
        DriverFile *files;
        DriverFileLayer *layers;
        DriverFiles view;
        GString *fds;             /* "FD MODE PATH" lines: what the golden run opens at FD */
        int next_fd;
} TestFiles;

static inline void test_files_note(TestFiles *t, int fd, const char *mode, const char *path) {
        g_string_append_printf(t->fds, "%d %s %s\n", fd, mode, path);
}

/* Layers: `backing` (may be NULL) names, for disk index i, "PATH FORMAT" of its one backing file. */
static inline void test_files_init(TestFiles *t, const DomainDef *d, const char *const *backing) {
        static const char *const modes[_DOMAIN_PATH_MODE_MAX] = {
                [DOMAIN_PATH_READ] = "read", [DOMAIN_PATH_READ_WRITE] = "read-write", [DOMAIN_PATH_LISTEN] = "listen",
                [DOMAIN_PATH_CONNECT] = "connect", [DOMAIN_PATH_WRITE] = "write",
        };
        size_t n_layers = 0;

        *t = (TestFiles) { .fds = g_string_new(NULL), .next_fd = TEST_FILE_FD_BASE };
        (void) domain_def_host_paths(d, &t->paths, &t->n_paths);
        t->files = g_new0(DriverFile, t->n_paths + 1);
        t->layers = g_new0(DriverFileLayer, t->n_paths + 1);
        for (size_t i = 0; i < t->n_paths; i++) {
                const DomainPath *p = &t->paths[i];
                t->files[i] = (DriverFile) { .path = p->path, .resolved = p->path, .purpose = p->purpose,
                                             .chr_kind = p->chr_kind, .index = p->index, .fd = t->next_fd++,
                                             .format = p->image ? (p->format ?: "raw") : NULL };
                test_files_note(t, t->files[i].fd, modes[p->mode], p->path);
        }
        for (size_t i = 0; i < t->n_paths; i++) {
                const DomainPath *p = &t->paths[i];
                if (p->purpose != DOMAIN_PATH_DISK || !backing || !backing[p->index])
                        continue;
                g_auto(GStrv) pf = g_strsplit(backing[p->index], " ", 2);
                t->layers[n_layers] = (DriverFileLayer) { .fd = t->next_fd++, .path = g_intern_string(pf[0]),
                                                          .format = g_intern_string(pf[1] ? pf[1] : "raw") };
                test_files_note(t, t->layers[n_layers].fd, "read", pf[0]);
                t->files[i].backing = &t->layers[n_layers++];
                t->files[i].n_backing = 1;
        }
        t->view = (DriverFiles) { .files = t->files, .n_files = t->n_paths };
}

static inline void test_files_done(TestFiles *t) {
        g_free(t->paths);
        g_free(t->files);
        g_free(t->layers);
        g_string_free(t->fds, TRUE);
}

/* pass_fd: the fake fds are what qemu gets. */
static inline int test_files_pass(void *userdata, int fd) {
        return fd;
}

static inline int test_files_open_log(void *userdata, const char *path) {
        TestFiles *t = userdata;
        int fd = t->next_fd++;

        test_files_note(t, fd, "append", path);
        return fd;
}

/* open_secret: a fake fd, noted without the value (the goldens must show no key). */
static inline int test_files_open_secret(void *userdata, const uint8_t *value, size_t len) {
        TestFiles *t = userdata;
        int fd = t->next_fd++;
        g_autofree char *what = g_strdup_printf("(a sealed memfd of %zu bytes)", len);

        test_files_note(t, fd, "secret", what);
        return fd;
}

/* ctx with the files of d (ctx->files when the caller gave some). */
static inline QemuCommandCtx test_files_ctx(const QemuCommandCtx *ctx, TestFiles *t) {
        QemuCommandCtx c = *ctx;

        if (!c.files) {
                c.files = &t->view;
                c.pass_fd = test_files_pass;
                c.open_log = c.chardev_log_prefix ? test_files_open_log : NULL;
                c.open_secret = test_files_open_secret;
                c.pass_fd_userdata = t;
        }
        return c;
}

static inline int test_command_build(const DomainDef *d, const QemuCommandCtx *ctx, const char *const *backing,
                                     char ***argv, char **err, char **ret_fds) {
        TestFiles t;
        QemuCommandCtx c;
        int r;

        test_files_init(&t, d, backing);
        c = test_files_ctx(ctx, &t);
        r = qemu_command_build(d, &c, argv, err);
        if (ret_fds)
                *ret_fds = g_strdup(t.fds->str);
        test_files_done(&t);
        return r;
}

static inline char *build_ok(const DomainDef *d, const QemuCommandCtx *ctx) {
        _cleanup_free_ char *err = NULL;
        char **argv = NULL;
        char *joined;
        int r;

        r = test_command_build(d, ctx, NULL, &argv, &err, NULL);
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

        r = test_command_build(d, ctx, NULL, &argv, &err, NULL);
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

