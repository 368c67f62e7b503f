/* test-qemu-firmware.c — firmware descriptors: reading, priority and overrides, and the selection of
 * <os firmware='efi'>, on the host's real descriptors (Debian's ovmf) and on fixture ones written here. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/domain-conf.h"
#include "macro.h"
#include "qemu/qemu-firmware.h"
#include "test-helpers.h"

#define HOST_DIR "/usr/share/qemu/firmware"

static DomainDef *efi_def(const char *machine) {
        DomainDef *def = domain_def_new();

        def->name = strdup("fw");
        def->os_arch = strdup("x86_64");
        def->os_machine = strdup(machine);
        def->os_firmware = strdup("efi");
        return def;
}

static const char *selected(const QemuFirmwareList *l, DomainDef *def) {
        g_autofree char *why = NULL;
        const QemuFirmware *fw = qemu_firmware_select(l, def, &why);

        return fw ? fw->name : NULL;
}

/* Debian's ovmf: 40 secure with Microsoft's keys, 50 secure with an empty store, 60 without SMM. */
static void test_host_descriptors(void) {
        const char *dirs[] = { "/nonexistent/etc", HOST_DIR, NULL };
        QemuFirmwareList *l = NULL;
        DomainDef *def;
        g_autofree char *why = NULL;

        if (access(HOST_DIR "/60-edk2-x86_64.json", R_OK) < 0) {
                fprintf(stderr, "SKIP host descriptors: %s missing (apt-get install ovmf)\n", HOST_DIR);
                return;
        }
        CHECK(qemu_firmware_load(dirs, &l) == 0);
        CHECK(l->n >= 3);
        for (size_t i = 1; i < l->n; i++)
                CHECK(strcmp(l->items[i - 1].name, l->items[i].name) < 0);

        /* i440fx has no SMM: only the descriptor without it fits */
        def = efi_def("pc-i440fx-7.2");
        CHECK_STREQ(selected(l, def), "60-edk2-x86_64.json");
        CHECK(qemu_firmware_resolve(l, def, "/var/lib/vmgmt/qemu/nvram/fw_VARS.fd", NULL) == 0);
        CHECK_STREQ(def->loader, "/usr/share/OVMF/OVMF_CODE_4M.fd");
        CHECK_STREQ(def->loader_type, "pflash");
        CHECK_STREQ(def->loader_readonly, "yes");
        CHECK(def->loader_secure == NULL);
        CHECK_STREQ(def->nvram_template, "/usr/share/OVMF/OVMF_VARS_4M.fd");
        CHECK_STREQ(def->nvram, "/var/lib/vmgmt/qemu/nvram/fw_VARS.fd");
        CHECK(def->nvram_managed);
        CHECK(def->fw_secure_boot == DOMAIN_TRISTATE_NO && def->fw_enrolled_keys == DOMAIN_TRISTATE_NO);
        CHECK(def->smm == DOMAIN_TRISTATE_ABSENT);
        domain_def_free(def);

        /* secure boot on i440fx: nothing fits, and the reason names what was asked */
        def = efi_def("pc-i440fx-7.2");
        def->fw_secure_boot = DOMAIN_TRISTATE_YES;
        CHECK(qemu_firmware_select(l, def, &why) == NULL);
        CHECK(why && strstr(why, "secure-boot") && strstr(why, "pc-i440fx-7.2"));
        g_clear_pointer(&why, g_free);
        CHECK(qemu_firmware_resolve(l, def, "/x_VARS.fd", &why) == -EOPNOTSUPP);
        CHECK(why != NULL);
        domain_def_free(def);

        /* q35: the first by priority, secure boot with enrolled keys (as libvirt picks it) */
        def = efi_def("pc-q35-7.2");
        CHECK_STREQ(selected(l, def), "40-edk2-x86_64-secure-enrolled.json");
        CHECK(qemu_firmware_resolve(l, def, "/x_VARS.fd", NULL) == 0);
        CHECK_STREQ(def->loader, "/usr/share/OVMF/OVMF_CODE_4M.ms.fd");
        CHECK_STREQ(def->loader_secure, "yes");
        CHECK_STREQ(def->nvram_template, "/usr/share/OVMF/OVMF_VARS_4M.ms.fd");
        CHECK(def->smm == DOMAIN_TRISTATE_YES);
        CHECK(def->fw_secure_boot == DOMAIN_TRISTATE_YES && def->fw_enrolled_keys == DOMAIN_TRISTATE_YES);
        domain_def_free(def);

        /* features steer it: no enrolled keys → 50; no secure boot → 60; secure='no' → 60; smm off → 60 */
        def = efi_def("pc-q35-7.2");
        def->fw_enrolled_keys = DOMAIN_TRISTATE_NO;
        CHECK_STREQ(selected(l, def), "50-edk2-x86_64-secure.json");
        def->fw_secure_boot = DOMAIN_TRISTATE_NO;
        CHECK_STREQ(selected(l, def), "60-edk2-x86_64.json");
        def->fw_secure_boot = def->fw_enrolled_keys = DOMAIN_TRISTATE_ABSENT;
        def->loader_secure = strdup("no");
        CHECK_STREQ(selected(l, def), "60-edk2-x86_64.json");
        free(def->loader_secure);
        def->loader_secure = NULL;
        def->smm = DOMAIN_TRISTATE_NO;
        CHECK_STREQ(selected(l, def), "60-edk2-x86_64.json");
        domain_def_free(def);

        /* a loader path given: the descriptor with that executable */
        def = efi_def("pc-q35-7.2");
        def->loader = strdup("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd");
        CHECK_STREQ(selected(l, def), "50-edk2-x86_64-secure.json");
        domain_def_free(def);

        /* a manual read-only pflash loader: its descriptor's template, the store at the default path */
        def = domain_def_new();
        def->os_machine = strdup("pc-i440fx-7.2");
        def->loader = strdup("/usr/share/OVMF/OVMF_CODE_4M.fd");
        def->loader_type = strdup("pflash");
        def->loader_readonly = strdup("yes");
        CHECK(qemu_firmware_resolve(l, def, "/d/fw_VARS.fd", NULL) == 0);
        CHECK_STREQ(def->nvram_template, "/usr/share/OVMF/OVMF_VARS_4M.fd");
        CHECK_STREQ(def->nvram, "/d/fw_VARS.fd");
        CHECK(def->nvram_managed);
        domain_def_free(def);
        qemu_firmware_list_free(l);
}

static void write_file(const char *dir, const char *name, const char *text) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        CHECK(g_file_set_contents(p, text, -1, NULL));
}

static char *descriptor(const char *code, const char *arch, const char *machines, const char *features,
                        const char *mode) {
        return g_strdup_printf("{\"interface-types\": [\"uefi\"], \"mapping\": {\"device\": \"flash\", %s"
                               "\"executable\": {\"filename\": \"%s\", \"format\": \"raw\"}%s},"
                               "\"targets\": [{\"architecture\": \"%s\", \"machines\": [%s]}],"
                               "\"features\": [%s], \"tags\": []}",
                               mode ? mode : "", code,
                               mode ? "" : ", \"nvram-template\": {\"filename\": \"/fx/VARS.fd\", \"format\": \"raw\"}",
                               arch, machines, features);
}

/* Fixture descriptors: priority across directories, overrides, masks, skipped kinds. */
static void test_fixture_descriptors(void) {
        g_autofree char *tmp = g_dir_make_tmp("vmgmt-fw-XXXXXX", NULL);
        g_autofree char *etc = g_build_filename(tmp, "etc", NULL), *usr = g_build_filename(tmp, "usr", NULL);
        const char *dirs[] = { etc, usr, NULL };
        QemuFirmwareList *l = NULL;
        DomainDef *def;
        g_autofree char *a = descriptor("/fx/A.fd", "x86_64", "\"pc-i440fx-*\"", "\"acpi-s3\"", NULL);
        g_autofree char *b = descriptor("/fx/B.fd", "x86_64", "\"pc-*\"", "", NULL);
        g_autofree char *c = descriptor("/fx/C.fd", "x86_64", "\"pc-*\"", "", NULL);
        g_autofree char *arm = descriptor("/fx/ARM.fd", "aarch64", "\"virt-*\"", "", NULL);
        g_autofree char *combined = descriptor("/fx/COMB.fd", "x86_64", "\"pc-*\"", "", "\"mode\": \"combined\", ");
        g_autofree char *why = NULL;
        QemuFirmware fw = {};

        CHECK(tmp != NULL);
        CHECK(g_mkdir(etc, 0700) == 0 && g_mkdir(usr, 0700) == 0);
        write_file(usr, "10-arm.json", arm);
        write_file(usr, "20-combined.json", combined);
        write_file(usr, "30-a.json", a);          /* hidden by etc's empty file */
        write_file(etc, "30-a.json", "");
        write_file(usr, "40-b.json", b);          /* overridden by etc's C */
        write_file(etc, "40-b.json", c);
        write_file(usr, "50-bad.json", "{\"interface-types\": [\"uefi\"],");
        write_file(usr, "60-a.json", a);
        write_file(usr, "README", "not a descriptor");

        CHECK(qemu_firmware_load(dirs, &l) == 0);
        CHECK(l->n == 4);   /* arm, combined, etc's 40-b (C), 60-a; the mask, the bad one and README are not */
        CHECK_STREQ(l->items[2].name, "40-b.json");
        CHECK_STREQ(l->items[2].executable, "/fx/C.fd");
        CHECK_STREQ(l->items[1].mode, "combined");

        def = efi_def("pc-i440fx-7.2");
        CHECK_STREQ(selected(l, def), "40-b.json");   /* arm: other arch; combined: no separate store */
        def->pm_suspend_to_mem = 1;                   /* suspend to RAM needs acpi-s3 */
        CHECK_STREQ(selected(l, def), "60-a.json");
        def->nvram_template = strdup("/other/VARS.fd");
        CHECK(qemu_firmware_select(l, def, &why) == NULL);
        CHECK(why && strstr(why, "/other/VARS.fd"));
        g_clear_pointer(&why, g_free);
        domain_def_free(def);

        /* the firmware's own name for bios: no UEFI descriptor serves it */
        def = efi_def("pc-i440fx-7.2");
        free(def->os_firmware);
        def->os_firmware = strdup("bios");
        CHECK(qemu_firmware_select(l, def, NULL) == NULL);
        CHECK(qemu_firmware_resolve(l, def, "/x_VARS.fd", NULL) == 0);   /* qemu's SeaBIOS: nothing to fill */
        CHECK(def->loader == NULL && def->nvram == NULL);
        domain_def_free(def);

        /* an explicit store path is the domain's own, not the driver's */
        def = efi_def("pc-q35-7.2");
        def->nvram = strdup("/srv/mine_VARS.fd");
        CHECK(qemu_firmware_resolve(l, def, "/d/fw_VARS.fd", NULL) == 0);
        CHECK_STREQ(def->nvram, "/srv/mine_VARS.fd");
        CHECK(!def->nvram_managed);
        domain_def_free(def);
        qemu_firmware_list_free(l);

        /* parse errors say what is wrong */
        CHECK(qemu_firmware_parse("[]", 2, &fw, &why) == -EINVAL);
        g_clear_pointer(&why, g_free);
        CHECK(qemu_firmware_parse(b, strlen(b) - 30, &fw, &why) == -EINVAL);
        g_clear_pointer(&why, g_free);
        const char *relative = "{\"interface-types\": [\"uefi\"], \"mapping\": {\"device\": \"flash\", \"executable\": "
                               "{\"filename\": \"OVMF.fd\"}, \"nvram-template\": {\"filename\": \"/v\"}}, "
                               "\"targets\": [{\"architecture\": \"x86_64\", \"machines\": [\"pc-*\"]}]}";
        CHECK(qemu_firmware_parse(relative, strlen(relative), &fw, &why) == -EINVAL);
        CHECK(why && strstr(why, "absolute"));

        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
        CHECK(system(cmd) == 0);
}

int main(void) {
        test_host_descriptors();
        test_fixture_descriptors();
        return TEST_EXIT();
}
