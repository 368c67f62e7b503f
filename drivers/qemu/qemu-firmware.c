/* qemu-firmware.c — QEMU firmware descriptors: reading them, and choosing one for <os firmware='efi'>. */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "qemu-driver-internal.h"
#include "qemu-firmware.h"

char **qemu_firmware_dirs(bool session) {
        GPtrArray *a = g_ptr_array_new();

        if (session)
                g_ptr_array_add(a, g_build_filename(g_get_user_config_dir(), "qemu", "firmware", NULL));
        g_ptr_array_add(a, g_strdup("/etc/qemu/firmware"));
        g_ptr_array_add(a, g_strdup("/usr/share/qemu/firmware"));
        g_ptr_array_add(a, NULL);
        return (char **) g_ptr_array_free(a, FALSE);
}

void qemu_firmware_clear(QemuFirmware *fw) {
        g_free(fw->name);
        g_free(fw->path);
        g_free(fw->description);
        g_free(fw->device);
        g_free(fw->mode);
        g_free(fw->executable);
        g_free(fw->executable_format);
        g_free(fw->nvram_template);
        g_free(fw->nvram_template_format);
        for (size_t i = 0; i < fw->n_targets; i++) {
                g_free(fw->targets[i].arch);
                g_strfreev(fw->targets[i].machines);
        }
        g_free(fw->targets);
        g_strfreev(fw->features);
        *fw = (QemuFirmware) {};
}

QemuFirmwareList *qemu_firmware_list_free(QemuFirmwareList *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n; i++)
                qemu_firmware_clear(&l->items[i]);
        g_free(l->items);
        g_free(l);
        return NULL;
}

/* The strings of array member key of obj (NULL-terminated); -EINVAL when it is no array of strings. */
static int string_array(const JsonValue *obj, const char *key, bool required, char ***ret) {
        const JsonValue *a = json_object_get(obj, key);
        GPtrArray *p;

        if (!a && !required) {
                *ret = g_new0(char *, 1);
                return 0;
        }
        if (!json_is_array(a))
                return -EINVAL;
        p = g_ptr_array_new();
        for (size_t i = 0; i < json_array_size(a); i++) {
                const char *v = json_string_value(json_array_get(a, i));
                if (!v) {
                        g_ptr_array_free(p, TRUE);
                        return -EINVAL;
                }
                g_ptr_array_add(p, g_strdup(v));
        }
        g_ptr_array_add(p, NULL);
        *ret = (char **) g_ptr_array_free(p, FALSE);
        return 0;
}

static int fail(char **ret_error, const char *what) {
        if (ret_error)
                *ret_error = g_strdup(what);
        return -EINVAL;
}

/* "executable" / "nvram-template": {filename, format} */
static int parse_file(const JsonValue *mapping, const char *key, char **ret_path, char **ret_format) {
        const JsonValue *f = json_object_get(mapping, key);
        const char *path = json_util_member_string(f, "filename");
        const char *format = json_util_member_string(f, "format");

        if (!f)
                return 0;
        if (!path || path[0] != '/')
                return -EINVAL;
        *ret_path = g_strdup(path);
        *ret_format = g_strdup(format ?: "raw");
        return 0;
}

int qemu_firmware_parse(const char *text, size_t len, QemuFirmware *ret, char **ret_error) {
        _cleanup_json_ JsonValue *root = NULL;
        g_auto(GStrv) interfaces = NULL;
        const JsonValue *mapping, *targets;
        QemuFirmware fw = {};

        if (json_util_parse(text, len, &root, NULL) < 0 || !json_is_object(root))
                return fail(ret_error, "not a JSON object");
        if (string_array(root, "interface-types", true, &interfaces) < 0)
                return fail(ret_error, "no interface-types");
        for (char **i = interfaces; *i; i++) {
                fw.uefi = fw.uefi || streq(*i, "uefi");
                fw.bios = fw.bios || streq(*i, "bios");
        }
        fw.description = g_strdup(json_util_member_string(root, "description"));
        mapping = json_object_get(root, "mapping");
        fw.device = g_strdup(json_util_member_string(mapping, "device"));
        if (!fw.device) {
                qemu_firmware_clear(&fw);
                return fail(ret_error, "no mapping device");
        }
        if (streq(fw.device, "flash")) {
                fw.mode = g_strdup(json_util_member_string(mapping, "mode") ?: "split");
                if (parse_file(mapping, "executable", &fw.executable, &fw.executable_format) < 0 ||
                    parse_file(mapping, "nvram-template", &fw.nvram_template, &fw.nvram_template_format) < 0 ||
                    !fw.executable || (streq(fw.mode, "split") && !fw.nvram_template)) {
                        qemu_firmware_clear(&fw);
                        return fail(ret_error, "a flash mapping needs an absolute executable (and in split mode an "
                                               "nvram-template)");
                }
        } else if (streq(fw.device, "memory") || streq(fw.device, "kernel"))
                fw.executable = g_strdup(json_util_member_string(mapping, "filename"));
        targets = json_object_get(root, "targets");
        if (!json_is_array(targets) || json_array_size(targets) == 0) {
                qemu_firmware_clear(&fw);
                return fail(ret_error, "no targets");
        }
        fw.targets = g_new0(QemuFirmwareTarget, json_array_size(targets));
        for (size_t i = 0; i < json_array_size(targets); i++) {
                const JsonValue *t = json_array_get(targets, i);
                QemuFirmwareTarget *q = &fw.targets[fw.n_targets++];

                q->arch = g_strdup(json_util_member_string(t, "architecture"));
                if (!q->arch || string_array(t, "machines", true, &q->machines) < 0) {
                        qemu_firmware_clear(&fw);
                        return fail(ret_error, "a target needs an architecture and machines");
                }
        }
        if (string_array(root, "features", false, &fw.features) < 0) {
                qemu_firmware_clear(&fw);
                return fail(ret_error, "features is no array of strings");
        }
        *ret = fw;
        return 0;
}

bool qemu_firmware_has_feature(const QemuFirmware *fw, const char *feature) {
        return fw->features && g_strv_contains((const char *const *) fw->features, feature);
}

static gint by_name(gconstpointer a, gconstpointer b) {
        return strcmp(((const QemuFirmware *) a)->name, ((const QemuFirmware *) b)->name);
}

/* Adds the descriptors of dir whose names are not in seen yet. */
static void load_dir(const char *dir, GHashTable *seen, GArray *out) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
                g_autofree char *path = NULL, *text = NULL, *error = NULL;
                gsize len = 0;
                QemuFirmware fw = {};

                if (!g_str_has_suffix(name, ".json") || g_hash_table_contains(seen, name))
                        continue;
                g_hash_table_add(seen, g_strdup(name));
                path = g_build_filename(dir, name, NULL);
                if (!g_file_get_contents(path, &text, &len, NULL) || len == 0)
                        continue;   /* unreadable, or empty: hides the same name below */
                if (qemu_firmware_parse(text, len, &fw, &error) < 0) {
                        log_warning("Ignoring firmware descriptor %s: %s", path, error);
                        continue;
                }
                fw.name = g_strdup(name);
                fw.path = TAKE_PTR(path);
                g_array_append_val(out, fw);
        }
}

int qemu_firmware_load(const char *const *dirs, QemuFirmwareList **ret) {
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        GArray *a = g_array_new(FALSE, TRUE, sizeof(QemuFirmware));
        QemuFirmwareList *l = g_new0(QemuFirmwareList, 1);

        for (size_t i = 0; dirs && dirs[i]; i++)
                load_dir(dirs[i], seen, a);
        g_array_sort(a, by_name);
        l->n = a->len;
        l->items = (QemuFirmware *) g_array_free(a, FALSE);
        *ret = l;
        return 0;
}

static bool target_matches(const QemuFirmware *fw, const char *arch, const char *machine) {
        for (size_t i = 0; i < fw->n_targets; i++) {
                if (!streq(fw->targets[i].arch, arch))
                        continue;
                for (char **m = fw->targets[i].machines; m && *m; m++)
                        if (machine && fnmatch(*m, machine, 0) == 0)
                                return true;
        }
        return false;
}

static bool feature_wanted(const QemuFirmware *fw, const char *feature, DomainTristate want) {
        bool has = qemu_firmware_has_feature(fw, feature);
        return want == DOMAIN_TRISTATE_ABSENT || has == (want == DOMAIN_TRISTATE_YES);
}

/* NULL when fw suits def, else why not (static). */
static const char *mismatch(const QemuFirmware *fw, const DomainDef *def) {
        bool efi = streq_ptr(def->os_firmware, "efi");
        bool smm = qemu_firmware_has_feature(fw, "requires-smm");

        if (efi ? !fw->uefi : !fw->bios)
                return "interface";
        if (!target_matches(fw, def->os_arch ?: "x86_64", def->os_machine))
                return "architecture or machine";
        if (!streq_ptr(fw->device, "flash") || !streq_ptr(fw->mode, "split"))
                return "a flash device with a separate variable store";
        if (def->loader && !streq_ptr(fw->executable, def->loader))
                return "loader path";
        if (def->nvram_template && !streq_ptr(fw->nvram_template, def->nvram_template))
                return "NVRAM template";
        if (!feature_wanted(fw, "secure-boot", def->fw_secure_boot) ||
            !feature_wanted(fw, "enrolled-keys", def->fw_enrolled_keys))
                return "firmware features";
        if (smm && (streq_ptr(def->loader_secure, "no") || def->smm == DOMAIN_TRISTATE_NO))
                return "SMM";
        if (!smm && streq_ptr(def->loader_secure, "yes"))
                return "secure loader";
        if (def->pm_suspend_to_mem == 1 && !qemu_firmware_has_feature(fw, "acpi-s3"))
                return "suspend to RAM";
        return NULL;
}

static void append_wish(GString *s, const char *what) {
        g_string_append(s, s->len ? ", " : " (");
        g_string_append(s, what);
}

const QemuFirmware *qemu_firmware_select(const QemuFirmwareList *list, const DomainDef *def, char **ret_why) {
        g_autoptr(GString) wish = g_string_new(NULL);

        for (size_t i = 0; list && i < list->n; i++)
                if (!mismatch(&list->items[i], def))
                        return &list->items[i];
        if (!ret_why)
                return NULL;
        if (def->loader)
                append_wish(wish, "loader "), g_string_append(wish, def->loader);
        if (def->nvram_template)
                append_wish(wish, "template "), g_string_append(wish, def->nvram_template);
        if (def->fw_secure_boot)
                append_wish(wish, def->fw_secure_boot == DOMAIN_TRISTATE_YES ? "secure-boot" : "no secure-boot");
        if (def->fw_enrolled_keys)
                append_wish(wish, def->fw_enrolled_keys == DOMAIN_TRISTATE_YES ? "enrolled-keys" : "no enrolled-keys");
        if (def->loader_secure)
                append_wish(wish, streq(def->loader_secure, "yes") ? "secure loader" : "no secure loader");
        if (wish->len)
                g_string_append_c(wish, ')');
        *ret_why = g_strdup_printf("no %s firmware descriptor (%s) fits %s machine '%s'%s",
                                   streq_ptr(def->os_firmware, "efi") ? "UEFI" : "BIOS",
                                   list && list->n ? "of those installed" : "none installed: apt-get install ovmf",
                                   def->os_arch ?: "x86_64", strna(def->os_machine), wish->str);
        return NULL;
}

const QemuFirmware *qemu_firmware_find_executable(const QemuFirmwareList *list, const char *path) {
        for (size_t i = 0; list && path && i < list->n; i++)
                if (streq_ptr(list->items[i].executable, path) && streq_ptr(list->items[i].device, "flash") &&
                    streq_ptr(list->items[i].mode, "split"))
                        return &list->items[i];
        return NULL;
}

static void set_str(char **field, const char *value) {
        if (*field)
                return;
        *field = strdup(value);
}

static int set_nvram(DomainDef *def, const char *nvram_default) {
        if (!def->nvram && nvram_default)
                def->nvram = strdup(nvram_default);
        if (def->nvram && nvram_default && streq(def->nvram, nvram_default))
                def->nvram_managed = true;
        return def->nvram || !nvram_default ? 0 : -ENOMEM;
}

static DomainTristate tristate(bool b) {
        return b ? DOMAIN_TRISTATE_YES : DOMAIN_TRISTATE_NO;
}

int qemu_firmware_resolve(const QemuFirmwareList *list, DomainDef *def, const char *nvram_default,
                          char **ret_error) {
        const QemuFirmware *fw;

        if (streq_ptr(def->os_firmware, "efi")) {
                fw = qemu_firmware_select(list, def, ret_error);
                if (!fw)
                        return -EOPNOTSUPP;
                set_str(&def->loader, fw->executable);
                set_str(&def->loader_type, "pflash");
                set_str(&def->loader_readonly, "yes");
                set_str(&def->nvram_template, fw->nvram_template);
                if (qemu_firmware_has_feature(fw, "requires-smm")) {
                        set_str(&def->loader_secure, "yes");
                        def->smm = DOMAIN_TRISTATE_YES;
                }
                def->fw_secure_boot = tristate(qemu_firmware_has_feature(fw, "secure-boot"));
                def->fw_enrolled_keys = tristate(qemu_firmware_has_feature(fw, "enrolled-keys"));
                if (!def->loader || !def->loader_type || !def->loader_readonly || !def->nvram_template)
                        return -ENOMEM;
                return set_nvram(def, nvram_default);
        }
        /* a manual pflash loader with its variables apart: the template of its descriptor */
        if (def->loader && streq_ptr(def->loader_type, "pflash") && !streq_ptr(def->loader_readonly, "no")) {
                fw = qemu_firmware_find_executable(list, def->loader);
                if (!def->nvram && !def->nvram_template && !fw)
                        return 0;   /* no variable store known: the firmware keeps its variables in RAM */
                /* without a template an existing store is used as it is; a missing one fails at start */
                if (fw)
                        set_str(&def->nvram_template, fw->nvram_template);
                return set_nvram(def, nvram_default);
        }
        return 0;
}

/* ---- the driver's operations ---- */

char *qemu_driver_nvram_path(DomainDriver *base, const char *name) {
        QemuDriver *d = (QemuDriver *) base;

        return g_strdup_printf("%s/nvram/%s_VARS.fd", d->cache_dir, name);
}

int qemu_driver_firmware_resolve(DomainDriver *base, DomainDef *def, char **ret_error) {
        g_auto(GStrv) dirs = qemu_firmware_dirs(getuid() != 0);
        g_autofree char *nvram = qemu_driver_nvram_path(base, def->name);
        QemuFirmwareList *list = NULL;
        int r;

        if (!def->os_firmware && !streq_ptr(def->loader_type, "pflash"))
                return 0;
        /* a few small files of the host's firmware packages */
        r = qemu_firmware_load((const char *const *) dirs, &list);
        if (r < 0)
                return r;
        r = qemu_firmware_resolve(list, def, nvram, ret_error);
        qemu_firmware_list_free(list);
        return r;
}
