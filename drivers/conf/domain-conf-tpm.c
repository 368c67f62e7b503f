/* domain-conf-tpm.c — the <tpm> device (libvirt's formatdomain "TPM device"):
 * <tpm model='tpm-tis|tpm-crb'><backend type='emulator' version='2.0' [persistent_state='yes']>
 * [<active_pcr_banks><sha256/>…</active_pcr_banks>]</backend></tpm>, or <backend type='passthrough'>
 * <device path='/dev/tpmN'/></backend>. One per domain; what libvirt accepts but vmgmt cannot run
 * (TPM 1.2, the pSeries models, the external backend, an encrypted state) is refused by name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

#define ELEM_FOREACH(c, parent) \
        for (xmlNode *c = (parent)->children; c; c = c->next) if (c->type == XML_ELEMENT_NODE)

static bool name_is(xmlNode *n, const char *name) {
        return streq((const char *) n->name, name);
}

static const char *const pcr_bank_names[] = { "sha1", "sha256", "sha384", "sha512", NULL };

char *domain_tpm_pcr_banks_to_string(unsigned banks) {
        GString *s = g_string_new(NULL);

        for (size_t i = 0; pcr_bank_names[i]; i++)
                if (banks & (1u << i))
                        g_string_append_printf(s, "%s%s", s->len ? "," : "", pcr_bank_names[i]);
        return g_string_free(s, FALSE);
}

DomainTpmDef *domain_tpm_free(DomainTpmDef *t) {
        if (!t)
                return NULL;
        free(t->model);
        free(t->backend);
        free(t->version);
        free(t->device_path);
        free(t->cancel_path);
        free(t->alias);
        free(t);
        return NULL;
}

static char *dup_or_oom(const char *s, bool *oom) {
        char *r;

        if (!s)
                return NULL;
        r = strdup(s);
        if (!r)
                *oom = true;
        return r;
}

DomainTpmDef *domain_tpm_copy(const DomainTpmDef *t, bool *oom) {
        DomainTpmDef *c;

        if (!t)
                return NULL;
        c = malloc(sizeof(DomainTpmDef));
        if (!c) {
                *oom = true;
                return NULL;
        }
        *c = *t;
        c->model = dup_or_oom(t->model, oom);
        c->backend = dup_or_oom(t->backend, oom);
        c->version = dup_or_oom(t->version, oom);
        c->device_path = dup_or_oom(t->device_path, oom);
        c->cancel_path = dup_or_oom(t->cancel_path, oom);
        c->alias = dup_or_oom(t->alias, oom);
        return c;
}

static int parse_pcr_banks(DomainTpmDef *t, xmlNode *node, ConfError *err) {
        int r;

        r = xml_validate(node, &(XmlSpec) { .children = pcr_bank_names }, err);
        if (r < 0)
                return r;
        ELEM_FOREACH(c, node) {
                r = xml_validate(c, &(XmlSpec) {}, err);
                if (r < 0)
                        return r;
                t->pcr_banks |= 1u << conf_table_lookup(pcr_bank_names, (const char *) c->name);
        }
        if (t->pcr_banks == 0)
                return conf_error_set(err, xml_line(node), "<active_pcr_banks> names no bank (sha1, sha256, sha384, sha512)");
        return 0;
}

/* /dev/tpmN → /sys/class/tpm/tpmN/device/cancel, where the kernel takes a cancel of the running command. */
static int passthrough_device(DomainTpmDef *t, xmlNode *node, ConfError *err) {
        const char *base;
        int r;

        r = xml_validate(node, &(XmlSpec) { .attrs = STRV("path") }, err);
        if (r < 0)
                return r;
        r = xml_attr_str(node, "path", &t->device_path);
        if (r < 0)
                return r;
        if (!t->device_path)
                return conf_error_set(err, xml_line(node), "<tpm> <device> needs a 'path' (/dev/tpm0)");
        base = t->device_path + strlen("/dev/");
        if (!g_str_has_prefix(t->device_path, "/dev/tpm") || strchr(base, '/') ||
            strspn(base + 3, "0123456789") != strlen(base + 3) || !base[3])
                return conf_error_set(err, xml_line(node), "<tpm> <device path='%s'> is not a TPM device (/dev/tpmN)",
                                      t->device_path);
        t->cancel_path = g_strdup_printf("/sys/class/tpm/%s/device/cancel", base);
        return 0;
}

static int parse_backend(DomainTpmDef *t, xmlNode *node, ConfError *err) {
        int r, b;

        r = xml_validate(node, &(XmlSpec) {
                .attrs = STRV("type", "version", "persistent_state"),
                .children = STRV("device", "encryption", "active_pcr_banks", "source", "profile"),
        }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum_str(node, "type", STRV("emulator", "passthrough", "external"), &t->backend, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(node), "<tpm> <backend> needs a 'type' (emulator, passthrough)");
        if (streq(t->backend, "external"))
                return conf_error_set(err, xml_line(node),
                                      "<tpm> <backend type='external'> (a swtpm somebody else runs) is not supported by vmgmt; "
                                      "use type='emulator'");
        r = xml_attr_enum_str(node, "version", STRV("1.2", "2.0"), &t->version, err);
        if (r < 0)
                return r;
        if (r > 0 && streq(t->version, "1.2"))
                return conf_error_set(err, xml_line(node), "<tpm> <backend version='1.2'>: TPM 1.2 is not supported by vmgmt, "
                                      "only version='2.0'");
        r = xml_attr_bool(node, "persistent_state", false, &b, err);
        if (r < 0)
                return r;
        t->persistent_state = r > 0 && b;
        ELEM_FOREACH(c, node) {
                bool emulator_only = !name_is(c, "device");

                if (emulator_only != streq(t->backend, "emulator"))
                        return conf_error_set(err, xml_line(c), "<tpm> <%s> is for type='%s' backends only", (const char *) c->name,
                                              emulator_only ? "emulator" : "passthrough");
                if (name_is(c, "device"))
                        r = passthrough_device(t, c, err);
                else if (name_is(c, "active_pcr_banks"))
                        r = parse_pcr_banks(t, c, err);
                else if (name_is(c, "encryption"))
                        r = conf_error_set(err, xml_line(c), "<tpm> <encryption> (an encrypted TPM state) is not supported by "
                                           "vmgmt yet");
                else
                        r = conf_error_set(err, xml_line(c), "<tpm> <backend> <%s> is not supported by vmgmt",
                                           (const char *) c->name);
                if (r < 0)
                        return r;
        }
        if (streq(t->backend, "passthrough")) {
                if (!t->device_path && !(t->device_path = strdup("/dev/tpm0")))
                        return -ENOMEM;
                if (!t->cancel_path)
                        t->cancel_path = strdup("/sys/class/tpm/tpm0/device/cancel");
                if (t->version || t->persistent_state)
                        return conf_error_set(err, xml_line(node), "<tpm> <backend type='passthrough'> takes no '%s'",
                                              t->version ? "version" : "persistent_state");
        }
        return 0;
}

int domain_tpm_parse(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainTpmDef *t;
        xmlNode *backend = NULL;
        int r;

        if (def->tpm)
                return conf_error_set(err, xml_line(node), "a domain has at most one <tpm>");
        t = def->tpm = calloc(1, sizeof(DomainTpmDef));
        if (!t)
                return -ENOMEM;
        r = xml_validate(node, &(XmlSpec) { .attrs = STRV("model"), .children = STRV("backend", "alias", "address") }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum_str(node, "model", STRV("tpm-tis", "tpm-crb", "tpm-spapr", "spapr-tpm-proxy"), &t->model, err);
        if (r < 0)
                return r;
        if (r > 0 && !STR_IN_SET(t->model, "tpm-tis", "tpm-crb"))
                return conf_error_set(err, xml_line(node), "<tpm model='%s'> is for pSeries guests, not supported by vmgmt "
                                      "(x86: tpm-tis, tpm-crb)", t->model);
        ELEM_FOREACH(c, node) {
                if (name_is(c, "backend")) {
                        backend = c;
                        r = parse_backend(t, c, err);
                } else if (name_is(c, "address"))
                        r = conf_error_set(err, xml_line(c), "<tpm> takes no <address> (a TIS or CRB TPM sits at a fixed "
                                           "memory address)");
                else
                        r = domain_device_info_parse(c, NULL, &t->alias, NULL, err);
                if (r < 0)
                        return r;
        }
        if (!backend)
                return conf_error_set(err, xml_line(node), "<tpm> needs a <backend type='emulator'> or type='passthrough'");
        return 0;
}

int domain_tpm_normalize(DomainDef *def, ConfError *err) {
        DomainTpmDef *t = def->tpm;

        (void) err;
        if (!t)
                return 0;
        if (!t->model && !(t->model = strdup("tpm-tis")))
                return -ENOMEM;
        if (streq(t->backend, "emulator") && !t->version && !(t->version = strdup("2.0")))
                return -ENOMEM;
        return 0;
}

void domain_tpm_format(GString *s, const DomainTpmDef *t) {
        g_string_append(s, "    <tpm");
        fmt_attr(s, "model", t->model);
        g_string_append(s, ">\n      <backend");
        fmt_attr(s, "type", t->backend);
        fmt_attr(s, "version", t->version);
        if (t->persistent_state)
                fmt_attr(s, "persistent_state", "yes");
        if (streq(t->backend, "passthrough")) {
                g_string_append(s, ">\n        <device");
                fmt_attr(s, "path", t->device_path);
                g_string_append(s, "/>\n      </backend>\n");
        } else if (t->pcr_banks) {
                g_string_append(s, ">\n        <active_pcr_banks>\n");
                for (size_t i = 0; pcr_bank_names[i]; i++)
                        if (t->pcr_banks & (1u << i))
                                g_string_append_printf(s, "          <%s/>\n", pcr_bank_names[i]);
                g_string_append(s, "        </active_pcr_banks>\n      </backend>\n");
        } else
                g_string_append(s, "/>\n");
        if (t->alias) {
                g_string_append(s, "      <alias");
                fmt_attr(s, "name", t->alias);
                g_string_append(s, "/>\n");
        }
        g_string_append(s, "    </tpm>\n");
}
