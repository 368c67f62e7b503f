/* domain-conf-xml.c — strict reading of libxml2 trees: allowed attributes/children, typed attribute values. */
#include <errno.h>
#include <string.h>

#include "conf-internal.h"

int xml_line(xmlNode *node) {
        long l = xmlGetLineNo(node);
        return l > 0 && l < INT32_MAX ? (int) l : 0;
}

static const char *node_name(xmlNode *n) {
        return (const char *) n->name;
}

static bool in_list(const char *const *l, const char *s) {
        return l && conf_table_lookup(l, s) >= 0;
}

/* All allowed child names (unique + multi) for did-you-mean. */
static const char **spec_all_children(const XmlSpec *spec) {
        size_t n = 0, k = 0;
        for (const char *const *i = spec->children; i && *i; i++)
                n++;
        for (const char *const *i = spec->multi; i && *i; i++)
                n++;
        const char **l = calloc(n + 1, sizeof(char *));
        if (!l)
                return NULL;
        for (const char *const *i = spec->children; i && *i; i++)
                l[k++] = *i;
        for (const char *const *i = spec->multi; i && *i; i++)
                l[k++] = *i;
        return l;
}

static int unknown_child(xmlNode *parent, xmlNode *child, const XmlSpec *spec, ConfError *err) {
        _cleanup_free_ const char **all = spec_all_children(spec);
        const char *name = node_name(child);
        const char *guess;

        if (child->ns && child->ns->prefix)
                return conf_error_set(err, xml_line(child), "unknown element <%s:%s> in <%s>",
                                      child->ns->prefix, name, node_name(parent));
        if (!all)
                return -ENOMEM;
        guess = conf_did_you_mean(name, all);
        if (guess)
                return conf_error_set(err, xml_line(child), "unknown element <%s> in <%s>; did you mean <%s>?",
                                      name, node_name(parent), guess);
        if (!all[0])
                return conf_error_set(err, xml_line(child), "unexpected element <%s> in <%s>, which takes no child elements",
                                      name, node_name(parent));
        _cleanup_free_ char *allowed = conf_strv_join(all);
        return conf_error_set(err, xml_line(child), "unknown element <%s> in <%s> (allowed: %s)",
                              name, node_name(parent), allowed);
}

int xml_validate(xmlNode *node, const XmlSpec *spec, ConfError *err) {
        /* attributes */
        for (xmlAttr *a = node->properties; a; a = a->next) {
                const char *name = (const char *) a->name;
                if (a->ns && a->ns->prefix)
                        return conf_error_set(err, xml_line(node), "unknown attribute '%s:%s' of <%s>",
                                              a->ns->prefix, name, node_name(node));
                if (in_list(spec->attrs, name))
                        continue;
                const char *guess = conf_did_you_mean(name, spec->attrs);
                if (guess)
                        return conf_error_set(err, xml_line(node), "unknown attribute '%s' of <%s>; did you mean '%s'?",
                                              name, node_name(node), guess);
                if (!spec->attrs || !spec->attrs[0])
                        return conf_error_set(err, xml_line(node), "unknown attribute '%s' of <%s>, which takes no attributes",
                                              name, node_name(node));
                _cleanup_free_ char *allowed = conf_strv_join(spec->attrs);
                return conf_error_set(err, xml_line(node), "unknown attribute '%s' of <%s> (allowed: %s)",
                                      name, node_name(node), allowed);
        }

        /* children */
        for (xmlNode *c = node->children; c; c = c->next) {
                switch (c->type) {
                case XML_ELEMENT_NODE:
                        break;
                case XML_TEXT_NODE:
                case XML_CDATA_SECTION_NODE: {
                        if (spec->text)
                                continue;
                        const xmlChar *t = c->content;
                        for (; t && *t; t++)
                                if (!strchr(" \t\r\n", *t))
                                        return conf_error_set(err, xml_line(c) ?: xml_line(node),
                                                              "unexpected text in <%s>", node_name(node));
                        continue;
                }
                case XML_COMMENT_NODE:
                case XML_PI_NODE:
                        continue;
                case XML_ENTITY_REF_NODE:
                        return conf_error_set(err, xml_line(node), "entity references are not allowed (in <%s>)",
                                              node_name(node));
                default:
                        return conf_error_set(err, xml_line(node), "unexpected node in <%s>", node_name(node));
                }

                const char *name = node_name(c);
                if (c->ns && c->ns->prefix)
                        return unknown_child(node, c, spec, err);
                if (in_list(spec->multi, name))
                        continue;
                if (!in_list(spec->children, name))
                        return unknown_child(node, c, spec, err);
                for (xmlNode *p = node->children; p != c; p = p->next)
                        if (p->type == XML_ELEMENT_NODE && !p->ns && streq(node_name(p), name))
                                return conf_error_set(err, xml_line(c), "duplicate element <%s> in <%s>; it may appear only once",
                                                      name, node_name(node));
        }
        return 0;
}

xmlNode *xml_child(xmlNode *node, const char *name) {
        for (xmlNode *c = node->children; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE && !(c->ns && c->ns->prefix) && streq((const char *) c->name, name))
                        return c;
        return NULL;
}

char *xml_attr(xmlNode *node, const char *name) {
        xmlChar *v = xmlGetNoNsProp(node, (const xmlChar *) name);
        if (!v)
                return NULL;
        char *r = strdup((const char *) v);
        xmlFree(v);
        return r;
}

int xml_text(xmlNode *node, char **ret) {
        xmlChar *v = xmlNodeGetContent(node);
        char *r = strdup(v ? (const char *) v : "");
        xmlFree(v);
        if (!r)
                return -ENOMEM;
        *ret = r;
        return 0;
}

static bool attr_present(xmlNode *node, const char *name) {
        return xmlHasNsProp(node, (const xmlChar *) name, NULL) != NULL;
}

int xml_attr_uint(xmlNode *node, const char *name, int base, uint64_t max, uint64_t *ret, ConfError *err) {
        _cleanup_free_ char *v = NULL;
        int r;

        if (!attr_present(node, name))
                return 0;
        v = xml_attr(node, name);
        if (!v)
                return -ENOMEM;
        r = conf_parse_u64(v, base, max, ret);
        if (r == -ERANGE)
                return conf_error_set(err, xml_line(node), "value '%s' of attribute '%s' of <%s> is out of range (max %llu)",
                                      v, name, node_name(node), (unsigned long long) max);
        if (r < 0)
                return conf_error_set(err, xml_line(node), "invalid value '%s' for attribute '%s' of <%s>: not an unsigned number",
                                      v, name, node_name(node));
        return 1;
}

int xml_attr_enum(xmlNode *node, const char *name, const char *const *table, int *ret, ConfError *err) {
        _cleanup_free_ char *v = NULL;
        int i;

        if (!attr_present(node, name))
                return 0;
        v = xml_attr(node, name);
        if (!v)
                return -ENOMEM;
        i = conf_table_lookup(table, v);
        if (i < 0) {
                _cleanup_free_ char *allowed = conf_strv_join(table);
                const char *guess = conf_did_you_mean(v, table);
                if (guess)
                        return conf_error_set(err, xml_line(node),
                                              "invalid value '%s' for attribute '%s' of <%s>; did you mean '%s'? (allowed: %s)",
                                              v, name, node_name(node), guess, allowed);
                return conf_error_set(err, xml_line(node), "invalid value '%s' for attribute '%s' of <%s> (allowed: %s)",
                                      v, name, node_name(node), allowed);
        }
        *ret = i;
        return 1;
}

int xml_attr_enum_str(xmlNode *node, const char *name, const char *const *table, char **ret, ConfError *err) {
        int i = 0, r;

        r = xml_attr_enum(node, name, table, &i, err);
        if (r <= 0)
                return r;
        char *s = strdup(table[i]);
        if (!s)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 1;
}

int xml_attr_bool(xmlNode *node, const char *name, bool onoff, int *ret, ConfError *err) {
        int i = 0, r;

        r = xml_attr_enum(node, name, onoff ? STRV("off", "on") : STRV("no", "yes"), &i, err);
        if (r <= 0)
                return r;
        *ret = i;
        return 1;
}

int xml_attr_str(xmlNode *node, const char *name, char **ret) {
        if (!attr_present(node, name))
                return 0;
        char *v = xml_attr(node, name);
        if (!v)
                return -ENOMEM;
        free(*ret);
        *ret = v;
        return 1;
}
