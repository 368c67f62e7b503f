/* secret-conf.c — libvirt's secret XML: parse (purely) and format. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "conf/conf-internal.h"
#include "secret.h"

static const char *const usage_types[] = { "ceph", "iscsi", "volume", "tls", "vtpm", NULL };

/* The element of <usage type=T> that names the secret (libvirt's usage id). */
static const char *usage_id_element(const char *type) {
        if (streq(type, "iscsi"))
                return "target";
        if (streq(type, "volume"))
                return "volume";
        return "name";
}

void secret_def_free(SecretDef *def) {
        if (!def)
                return;
        free(def->description);
        free(def->usage_type);
        free(def->usage_id);
        free(def);
}

static int parse_usage(SecretDef *def, xmlNode *usage, ConfError *err) {
        const char *elem;
        xmlNode *id;
        int r;

        r = xml_attr_enum_str(usage, "type", usage_types, &def->usage_type, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(usage), "<usage> needs a type (ceph, iscsi, volume, tls, vtpm)");
        elem = usage_id_element(def->usage_type);
        r = xml_validate(usage, &(XmlSpec) { .attrs = STRV("type"), .children = (const char *const[]) { elem, NULL } },
                         err);
        if (r < 0)
                return r;
        id = xml_child(usage, elem);
        if (!id)
                return conf_error_set(err, xml_line(usage), "<usage type='%s'> needs <%s>", def->usage_type, elem);
        r = xml_text(id, &def->usage_id);
        if (r < 0)
                return r;
        g_strstrip(def->usage_id);
        if (isempty(def->usage_id))
                return conf_error_set(err, xml_line(id), "<%s> of <usage type='%s'> is empty", elem,
                                      def->usage_type);
        return 0;
}

int secret_def_parse(const char *xml, size_t len, SecretDef **ret, ConfError *err) {
        const XmlSpec spec = {
                .attrs = STRV("ephemeral", "private"),
                .children = STRV("uuid", "description", "usage"),
        };
        xmlDoc *doc = NULL;
        xmlNode *root, *n;
        SecretDef *def;
        int b, r;

        r = conf_xml_read(xml, len, SECRET_XML_MAX_SIZE, "secret", "secret", &doc, err);
        if (r < 0)
                return r;
        def = calloc(1, sizeof(*def));
        if (!def) {
                xmlFreeDoc(doc);
                return -ENOMEM;
        }
        root = xmlDocGetRootElement(doc);
        r = xml_validate(root, &spec, err);
        if (r >= 0 && (r = xml_attr_bool(root, "ephemeral", false, &b, err)) > 0)
                def->ephemeral = b;
        if (r >= 0 && (r = xml_attr_bool(root, "private", false, &b, err)) > 0)
                def->private_ = b;
        if (r >= 0 && (n = xml_child(root, "uuid"))) {
                _cleanup_free_ char *text = NULL;
                unsigned char u[16];

                r = xml_text(n, &text);
                if (r >= 0 && conf_uuid_parse(g_strstrip(text), u) < 0)
                        r = conf_error_set(err, xml_line(n), "invalid UUID '%s' in <uuid>", text);
                if (r >= 0)
                        conf_uuid_format(u, def->uuid);
        }
        if (r >= 0 && (n = xml_child(root, "description")))
                r = xml_text(n, &def->description);
        if (r >= 0 && (n = xml_child(root, "usage")))
                r = parse_usage(def, n, err);
        xmlFreeDoc(doc);
        if (r < 0) {
                secret_def_free(def);
                return r;
        }
        *ret = def;
        return 0;
}

char *secret_def_format(const SecretDef *def) {
        GString *s = g_string_new("<secret");

        fmt_attr(s, "ephemeral", def->ephemeral ? "yes" : "no");
        fmt_attr(s, "private", def->private_ ? "yes" : "no");
        g_string_append(s, ">\n");
        if (def->uuid[0])
                g_string_append_printf(s, "  <uuid>%s</uuid>\n", def->uuid);
        if (def->description) {
                g_string_append(s, "  <description>");
                fmt_escape(s, def->description);
                g_string_append(s, "</description>\n");
        }
        if (def->usage_type) {
                const char *elem = usage_id_element(def->usage_type);

                g_string_append(s, "  <usage");
                fmt_attr(s, "type", def->usage_type);
                g_string_append_printf(s, ">\n    <%s>", elem);
                fmt_escape(s, def->usage_id);
                g_string_append_printf(s, "</%s>\n  </usage>\n", elem);
        }
        g_string_append(s, "</secret>\n");
        return g_string_free(s, FALSE);
}
