/* domain-conf-firmware.c — <os firmware=>, <firmware><feature>, <loader> and <nvram>: parse, check, format. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

static int parse_fw_features(DomainDef *def, xmlNode *fw, ConfError *err) {
        int r;

        r = xml_validate(fw, &(XmlSpec) { .multi = STRV("feature") }, err);
        if (r < 0)
                return r;
        for (xmlNode *n = fw->children; n; n = n->next) {
                DomainTristate *field;
                int name, enabled;

                if (n->type != XML_ELEMENT_NODE)
                        continue;
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("enabled", "name") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_enum(n, "name", STRV("enrolled-keys", "secure-boot"), &name, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(n), "<firmware><feature> needs a 'name' attribute");
                r = xml_attr_bool(n, "enabled", false, &enabled, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(n), "<firmware><feature> needs an 'enabled' attribute");
                field = name == 0 ? &def->fw_enrolled_keys : &def->fw_secure_boot;
                if (*field != DOMAIN_TRISTATE_ABSENT)
                        return conf_error_set(err, xml_line(n), "firmware feature '%s' listed twice",
                                              name == 0 ? "enrolled-keys" : "secure-boot");
                *field = enabled ? DOMAIN_TRISTATE_YES : DOMAIN_TRISTATE_NO;
        }
        if (def->fw_enrolled_keys == DOMAIN_TRISTATE_YES && def->fw_secure_boot == DOMAIN_TRISTATE_NO)
                return conf_error_set(err, xml_line(fw), "firmware feature 'enrolled-keys' needs 'secure-boot'");
        return 0;
}

/* Text of node, blanks stripped; NULL when it has none. */
static int text_or_null(xmlNode *node, char **ret) {
        _cleanup_free_ char *t = NULL;
        int r = xml_text(node, &t);

        if (r < 0)
                return r;
        g_strstrip(t);
        free(*ret);
        *ret = isempty(t) ? NULL : TAKE_PTR(t);
        return 0;
}

int conf_parse_os_firmware(DomainDef *def, xmlNode *os, ConfError *err) {
        xmlNode *n;
        int r;

        r = xml_attr_enum_str(os, "firmware", STRV("bios", "efi"), &def->os_firmware, err);
        if (r < 0)
                return r;

        n = xml_child(os, "firmware");
        if (n) {
                if (!conf_streq(def->os_firmware, "efi"))
                        return conf_error_set(err, xml_line(n), "<firmware> features need <os firmware='efi'>");
                r = parse_fw_features(def, n, err);
                if (r < 0)
                        return r;
        }

        n = xml_child(os, "loader");
        if (n) {
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("readonly", "secure", "type"), .text = true }, err);
                if (r < 0)
                        return r;
                r = text_or_null(n, &def->loader);
                if (r < 0)
                        return r;
                if (xml_attr_enum_str(n, "readonly", STRV("yes", "no"), &def->loader_readonly, err) < 0 ||
                    xml_attr_enum_str(n, "secure", STRV("yes", "no"), &def->loader_secure, err) < 0 ||
                    xml_attr_enum_str(n, "type", STRV("rom", "pflash"), &def->loader_type, err) < 0)
                        return -EINVAL;
                if (!def->loader && !def->os_firmware)
                        return conf_error_set(err, xml_line(n), "<loader> needs a path (or <os firmware='efi'>)");
        }

        n = xml_child(os, "nvram");
        if (n) {
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("template"), .text = true }, err);
                if (r < 0)
                        return r;
                r = text_or_null(n, &def->nvram);
                if (r < 0)
                        return r;
                r = xml_attr_str(n, "template", &def->nvram_template);
                if (r < 0)
                        return r;
                if (def->nvram_template && isempty(def->nvram_template))
                        return conf_error_set(err, xml_line(n), "empty NVRAM template");
                if (def->nvram && def->nvram[0] != '/')
                        return conf_error_set(err, xml_line(n), "NVRAM path '%s' is not absolute", def->nvram);
                if (def->nvram_template && def->nvram_template[0] != '/')
                        return conf_error_set(err, xml_line(n), "NVRAM template '%s' is not absolute",
                                              def->nvram_template);
        }
        return 0;
}

int conf_check_firmware(const DomainDef *def, ConfError *err) {
        bool efi = conf_streq(def->os_firmware, "efi");
        bool pflash = conf_streq(def->loader_type, "pflash");

        if (conf_streq(def->os_firmware, "bios") && (pflash || def->loader_secure || def->nvram || def->nvram_template))
                return conf_error_set(err, 0, "<os firmware='bios'> takes no pflash loader, secure loader or <nvram>");
        if (efi && conf_streq(def->loader_type, "rom"))
                return conf_error_set(err, 0, "<os firmware='efi'> needs a pflash loader, not type 'rom'");
        if ((def->nvram || def->nvram_template) && !efi && !pflash)
                return conf_error_set(err, 0, "<nvram> needs a pflash <loader> or <os firmware='efi'>");
        if (def->nvram && !efi && pflash && conf_streq(def->loader_readonly, "no"))
                return conf_error_set(err, 0, "<nvram> needs a read-only loader: a writable one holds its variables itself");
        if (conf_streq(def->loader_secure, "yes") && !efi && !pflash)
                return conf_error_set(err, 0, "a secure loader (secure='yes') is a pflash one");
        if (conf_streq(def->loader_secure, "yes") && def->smm == DOMAIN_TRISTATE_NO)
                return conf_error_set(err, 0, "a secure loader (secure='yes') needs <smm state='on'/>");
        if (def->fw_secure_boot == DOMAIN_TRISTATE_YES && conf_streq(def->loader_secure, "no"))
                return conf_error_set(err, 0, "firmware feature 'secure-boot' needs a secure loader, not secure='no'");
        if (def->fw_secure_boot == DOMAIN_TRISTATE_YES && def->smm == DOMAIN_TRISTATE_NO)
                return conf_error_set(err, 0, "firmware feature 'secure-boot' needs <smm state='on'/>");
        return 0;
}

int conf_normalize_firmware(DomainDef *def, ConfError *err) {
        bool q35 = conf_machine_is_q35(def->os_machine);

        /* the firmware's SMM-protected variables need the q35 chipset's SMRAM, as in libvirt */
        if (conf_streq(def->loader_secure, "yes") && !q35)
                return conf_error_set(err, 0, "a secure loader (secure='yes') needs a q35 machine, not '%s'",
                                      strna(def->os_machine));
        if (def->fw_secure_boot == DOMAIN_TRISTATE_YES && !q35)
                return conf_error_set(err, 0, "firmware feature 'secure-boot' needs a q35 machine, not '%s'",
                                      strna(def->os_machine));
        return conf_check_firmware(def, err);
}

static void fmt_feature(GString *s, const char *name, DomainTristate v) {
        if (v != DOMAIN_TRISTATE_ABSENT)
                g_string_append_printf(s, "      <feature enabled='%s' name='%s'/>\n",
                                       v == DOMAIN_TRISTATE_YES ? "yes" : "no", name);
}

void conf_format_os_firmware(GString *s, const DomainDef *def) {
        if (def->fw_enrolled_keys || def->fw_secure_boot) {
                g_string_append(s, "    <firmware>\n");
                fmt_feature(s, "enrolled-keys", def->fw_enrolled_keys);
                fmt_feature(s, "secure-boot", def->fw_secure_boot);
                g_string_append(s, "    </firmware>\n");
        }
        if (def->loader || def->loader_readonly || def->loader_type || def->loader_secure) {
                g_string_append(s, "    <loader");
                fmt_attr(s, "readonly", def->loader_readonly);
                fmt_attr(s, "secure", def->loader_secure);
                fmt_attr(s, "type", def->loader_type);
                if (def->loader) {
                        g_string_append_c(s, '>');
                        fmt_escape(s, def->loader);
                        g_string_append(s, "</loader>\n");
                } else
                        g_string_append(s, "/>\n");
        }
        if (def->nvram || def->nvram_template) {
                g_string_append(s, "    <nvram");
                fmt_attr(s, "template", def->nvram_template);
                if (def->nvram) {
                        g_string_append_c(s, '>');
                        fmt_escape(s, def->nvram);
                        g_string_append(s, "</nvram>\n");
                } else
                        g_string_append(s, "/>\n");
        }
}
