/* domain-conf-lease.c — <lease> devices (libvirt's formatdomain "Lease
 * devices"): <lease><lockspace>S</lockspace><key>K</key><target path='/p'
 * [offset='N']/></lease>, a lock the domain holds while it runs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

#define ELEM_FOREACH(c, parent) \
        for (xmlNode *c = (parent)->children; c; c = c->next) if (c->type == XML_ELEMENT_NODE)

static bool name_is(xmlNode *n, const char *name) {
        return streq((const char *) n->name, name);
}

void domain_lease_clear(DomainLeaseDef *l) {
        free(l->lockspace);
        free(l->key);
        free(l->target_path);
}

static int lease_text(xmlNode *c, const char *what, char **ret, ConfError *err) {
        int r = xml_validate(c, &(XmlSpec) { .text = true }, err);

        if (r < 0)
                return r;
        free(*ret);
        *ret = NULL;
        r = xml_text(c, ret);
        if (r < 0)
                return r;
        g_strstrip(*ret);
        if (!**ret || strlen(*ret) > 256 || strpbrk(*ret, "\n\r\t"))
                return conf_error_set(err, xml_line(c), "<lease> <%s> must be a non-empty name of at most 256 characters",
                                      what);
        return 0;
}

int domain_lease_parse(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainLeaseDef *l;
        uint64_t u;
        int r;

        l = conf_array_append(&def->leases, &def->n_leases, sizeof(DomainLeaseDef));
        if (!l)
                return -ENOMEM;
        r = xml_validate(node, &(XmlSpec) { .children = STRV("lockspace", "key", "target") }, err);
        if (r < 0)
                return r;
        ELEM_FOREACH(c, node) {
                if (name_is(c, "lockspace"))
                        r = lease_text(c, "lockspace", &l->lockspace, err);
                else if (name_is(c, "key"))
                        r = lease_text(c, "key", &l->key, err);
                else if (name_is(c, "target")) {
                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("path", "offset") }, err);
                        if (r >= 0)
                                r = xml_attr_str(c, "path", &l->target_path);
                        if (r >= 0 && (!l->target_path || l->target_path[0] != '/'))
                                r = conf_error_set(err, xml_line(c), "<lease> <target> needs an absolute 'path'");
                        if (r >= 0 && (r = xml_attr_uint(c, "offset", 10, INT64_MAX, &u, err)) > 0)
                                l->target_offset = u;
                }
                if (r < 0)
                        return r;
        }
        if (!l->key)
                return conf_error_set(err, xml_line(node), "<lease> needs a <key>");
        if (!l->target_path)
                return conf_error_set(err, xml_line(node), "<lease> needs a <target path=…>");
        return 0;
}

void domain_lease_format(GString *s, const DomainLeaseDef *l) {
        g_string_append(s, "    <lease>\n");
        if (l->lockspace) {
                g_string_append(s, "      <lockspace>");
                fmt_escape(s, l->lockspace);
                g_string_append(s, "</lockspace>\n");
        }
        g_string_append(s, "      <key>");
        fmt_escape(s, l->key);
        g_string_append(s, "</key>\n      <target");
        fmt_attr(s, "path", l->target_path);
        if (l->target_offset)
                fmt_attr_uint(s, "offset", l->target_offset);
        g_string_append(s, "/>\n    </lease>\n");
}
