/* snapshot-conf.c — <domainsnapshot> XML ↔ SnapshotDef, strictly validated as the domain parser is. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "conf-internal.h"
#include "conf/snapshot-conf.h"

static const char *const location_table[] = { "", "no", "internal", "external", "manual", NULL };
static const char *const state_table[] = {
        "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended", "disk-snapshot", NULL
};

const char *snapshot_location_to_string(SnapshotLocation l) {
        return l > SNAPSHOT_LOCATION_DEFAULT && l < _SNAPSHOT_LOCATION_MAX ? location_table[l] : NULL;
}

SnapshotDef *snapshot_def_new(void) {
        return g_new0(SnapshotDef, 1);
}

SnapshotDef *snapshot_def_free(SnapshotDef *def) {
        if (!def)
                return NULL;
        free(def->name);
        free(def->description);
        free(def->state);
        free(def->parent);
        free(def->memory_file);
        snapshot_disks_free(def->disks, def->n_disks);
        free(def->domain_xml);
        g_free(def);
        return NULL;
}

void snapshot_disks_free(SnapshotDiskDef *disks, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(disks[i].name);
                free(disks[i].source_file);
                free(disks[i].driver_type);
        }
        g_free(disks);
}

void snapshot_def_set_disks(SnapshotDef *def, SnapshotDiskDef *disks, size_t n) {
        snapshot_disks_free(def->disks, def->n_disks);
        def->disks = disks;
        def->n_disks = n;
}

static const char *nname(xmlNode *n) {
        return (const char *) n->name;
}

/* Text of a leaf element without attributes, blanks removed. */
static int leaf_text(xmlNode *n, char **ret, bool may_be_empty, ConfError *err) {
        _cleanup_free_ char *t = NULL;
        int r;

        r = xml_validate(n, &(XmlSpec) { .text = true }, err);
        if (r < 0)
                return r;
        r = xml_text(n, &t);
        if (r < 0)
                return r;
        g_strstrip(t);
        if (!*t && !may_be_empty)
                return conf_error_set(err, xml_line(n), "<%s> must not be empty", nname(n));
        free(*ret);
        *ret = TAKE_PTR(t);
        return 0;
}

static int parse_location(xmlNode *n, SnapshotLocation *ret, ConfError *err) {
        int v = 0, r;

        r = xml_attr_enum(n, "snapshot", location_table, &v, err);
        if (r < 0)
                return r;
        if (r > 0 && v == SNAPSHOT_LOCATION_DEFAULT)
                return conf_error_set(err, xml_line(n), "<%s snapshot=''> must be no, internal, external or manual",
                                      nname(n));
        *ret = v;
        return 0;
}

static int parse_memory(SnapshotDef *def, xmlNode *n, ConfError *err) {
        int r;

        r = xml_validate(n, &(XmlSpec) { .attrs = STRV("snapshot", "file") }, err);
        if (r < 0)
                return r;
        r = parse_location(n, &def->memory, err);
        if (r < 0)
                return r;
        r = xml_attr_str(n, "file", &def->memory_file);
        if (r < 0)
                return r;
        if (def->memory_file) {
                if (def->memory == SNAPSHOT_LOCATION_DEFAULT)
                        def->memory = SNAPSHOT_LOCATION_EXTERNAL;
                if (def->memory != SNAPSHOT_LOCATION_EXTERNAL)
                        return conf_error_set(err, xml_line(n), "<memory file='%s'> needs snapshot='external', not '%s'",
                                              def->memory_file, location_table[def->memory]);
                if (def->memory_file[0] != '/')
                        return conf_error_set(err, xml_line(n), "<memory file='%s'> must be an absolute path",
                                              def->memory_file);
        }
        return 0;
}

static int parse_disk(SnapshotDef *def, xmlNode *n, ConfError *err) {
        SnapshotDiskDef *d;
        int r;

        r = xml_validate(n, &(XmlSpec) { .attrs = STRV("name", "snapshot", "type"), .children = STRV("source", "driver") },
                         err);
        if (r < 0)
                return r;
        d = conf_array_append(&def->disks, &def->n_disks, sizeof(SnapshotDiskDef));
        if (!d)
                return -ENOMEM;
        d->name = xml_attr(n, "name");
        if (isempty(d->name))
                return conf_error_set(err, xml_line(n), "<disk> in <disks> needs a name (the disk's target, e.g. 'vda')");
        for (size_t i = 0; i + 1 < def->n_disks; i++)
                if (streq(def->disks[i].name, d->name))
                        return conf_error_set(err, xml_line(n), "disk '%s' is named twice in <disks>", d->name);
        r = parse_location(n, &d->snapshot, err);
        if (r < 0)
                return r;
        {
                _cleanup_free_ char *type = xml_attr(n, "type");
                if (type && !streq(type, "file"))
                        return conf_error_set(err, xml_line(n), "disk '%s': only type='file' overlays are supported, not '%s'",
                                              d->name, type);
        }
        for (xmlNode *c = n->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE)
                        continue;
                if (streq(nname(c), "source")) {
                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("file") }, err);
                        if (r < 0)
                                return r;
                        r = xml_attr_str(c, "file", &d->source_file);
                        if (r < 0)
                                return r;
                        if (d->source_file && d->source_file[0] != '/')
                                return conf_error_set(err, xml_line(c), "disk '%s': <source file='%s'> must be an absolute path",
                                                      d->name, d->source_file);
                } else {
                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("type") }, err);
                        if (r < 0)
                                return r;
                        r = xml_attr_str(c, "type", &d->driver_type);
                        if (r < 0)
                                return r;
                }
        }
        if ((d->source_file || d->driver_type) && d->snapshot == SNAPSHOT_LOCATION_DEFAULT)
                d->snapshot = SNAPSHOT_LOCATION_EXTERNAL;
        if ((d->source_file || d->driver_type) && d->snapshot != SNAPSHOT_LOCATION_EXTERNAL)
                return conf_error_set(err, xml_line(n), "disk '%s': <source>/<driver> need snapshot='external', not '%s'",
                                      d->name, location_table[d->snapshot]);
        if (d->driver_type && !streq(d->driver_type, "qcow2"))
                return conf_error_set(err, xml_line(n), "disk '%s': an overlay must be qcow2, not '%s'", d->name,
                                      d->driver_type);
        return 0;
}

static int parse_disks(SnapshotDef *def, xmlNode *n, ConfError *err) {
        int r;

        r = xml_validate(n, &(XmlSpec) { .multi = STRV("disk") }, err);
        if (r < 0)
                return r;
        for (xmlNode *c = n->children; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE) {
                        r = parse_disk(def, c, err);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int parse_parent(SnapshotDef *def, xmlNode *n, ConfError *err) {
        xmlNode *name;
        int r;

        r = xml_validate(n, &(XmlSpec) { .children = STRV("name") }, err);
        if (r < 0)
                return r;
        name = xml_child(n, "name");
        if (!name)
                return conf_error_set(err, xml_line(n), "<parent> needs a <name>");
        return leaf_text(name, &def->parent, false, err);
}

/* The embedded <domain> must be a valid definition: kept in its canonical form. */
static int parse_domain(SnapshotDef *def, xmlNode *n, ConfError *err) {
        xmlBuffer *buf = xmlBufferCreate();
        DomainDef *dom = NULL;
        ConfError e = {};
        int r;

        if (!buf)
                return -ENOMEM;
        if (xmlNodeDump(buf, n->doc, n, 0, 0) < 0) {
                xmlBufferFree(buf);
                return -ENOMEM;
        }
        r = domain_def_parse((const char *) xmlBufferContent(buf), (size_t) xmlBufferLength(buf), &dom, &e);
        xmlBufferFree(buf);
        if (r < 0) {
                r = r == -ENOMEM ? r : conf_error_set(err, xml_line(n), "embedded <domain>: %s", strempty(e.message));
                conf_error_clear(&e);
                return r;
        }
        free(def->domain_xml);
        def->domain_xml = domain_def_format(dom, DOMAIN_FORMAT_INACTIVE);
        domain_def_free(dom);
        return def->domain_xml ? 0 : -ENOMEM;
}

static int parse_root(SnapshotDef *def, xmlNode *root, ConfError *err) {
        const char *reason;
        int r;

        r = xml_validate(root, &(XmlSpec) {
                .children = STRV("name", "description", "state", "creationTime", "parent", "memory", "disks",
                                 "domain", "active"),
        }, err);
        if (r < 0)
                return r;
        for (xmlNode *c = root->children; c; c = c->next) {
                const char *e = nname(c);

                if (c->type != XML_ELEMENT_NODE)
                        continue;
                if (streq(e, "name")) {
                        r = leaf_text(c, &def->name, false, err);
                        if (r >= 0 && conf_name_validate(def->name, &reason) < 0)
                                r = conf_error_set(err, xml_line(c), "invalid snapshot name '%s': %s", def->name, reason);
                } else if (streq(e, "description"))
                        r = leaf_text(c, &def->description, true, err);
                else if (streq(e, "state")) {
                        r = leaf_text(c, &def->state, false, err);
                        if (r >= 0 && conf_table_lookup(state_table, def->state) < 0)
                                r = conf_error_set(err, xml_line(c), "unknown snapshot state '%s'", def->state);
                } else if (streq(e, "creationTime")) {
                        _cleanup_free_ char *t = NULL;
                        r = leaf_text(c, &t, false, err);
                        if (r >= 0 && conf_parse_u64(t, 10, INT64_MAX, &def->creation_time) < 0)
                                r = conf_error_set(err, xml_line(c), "<creationTime> must be Unix seconds, not '%s'", t);
                } else if (streq(e, "parent"))
                        r = parse_parent(def, c, err);
                else if (streq(e, "memory"))
                        r = parse_memory(def, c, err);
                else if (streq(e, "disks"))
                        r = parse_disks(def, c, err);
                else if (streq(e, "domain"))
                        r = parse_domain(def, c, err);
                else {
                        /* <active>: libvirt's redefine detail of external snapshots; read, not kept */
                        _cleanup_free_ char *t = NULL;
                        r = leaf_text(c, &t, true, err);
                }
                if (r < 0)
                        return r;
        }
        if (def->name && def->parent && streq(def->name, def->parent))
                return conf_error_set(err, 0, "snapshot '%s' cannot be its own parent", def->name);
        return 0;
}

int snapshot_def_parse(const char *xml, size_t len, SnapshotDef **ret, ConfError *err) {
        xmlDoc *doc = NULL;
        SnapshotDef *def;
        int r;

        r = conf_xml_read(xml, len, SNAPSHOT_XML_MAX_SIZE, "domainsnapshot", "snapshot", &doc, err);
        if (r < 0)
                return r;
        def = snapshot_def_new();
        r = parse_root(def, xmlDocGetRootElement(doc), err);
        xmlFreeDoc(doc);
        if (r < 0) {
                snapshot_def_free(def);
                return r;
        }
        *ret = def;
        return 0;
}

const SnapshotDiskDef *snapshot_def_find_disk(const SnapshotDef *def, const char *target, const char *source) {
        for (size_t i = 0; i < def->n_disks; i++)
                if (conf_streq(def->disks[i].name, target) || conf_streq(def->disks[i].name, source))
                        return &def->disks[i];
        return NULL;
}

static void fmt_leaf(GString *s, int level, const char *name, const char *v) {
        if (!v)
                return;
        fmt_indent(s, level);
        g_string_append_printf(s, "<%s>", name);
        fmt_escape(s, v);
        g_string_append_printf(s, "</%s>\n", name);
}

/* The embedded domain, re-indented to sit at `level`. */
static void fmt_domain(GString *s, int level, const char *xml) {
        _cleanup_strv_free_ char **lines = g_strsplit(xml, "\n", -1);

        for (char **l = lines; *l; l++) {
                if (!**l)
                        continue;
                fmt_indent(s, level);
                g_string_append(s, *l);
                g_string_append_c(s, '\n');
        }
}

char *snapshot_def_format(const SnapshotDef *def) {
        GString *s = g_string_new("<domainsnapshot>\n");

        fmt_leaf(s, 1, "name", def->name);
        fmt_leaf(s, 1, "description", def->description);
        fmt_leaf(s, 1, "state", def->state);
        if (def->parent) {
                fmt_indent(s, 1);
                g_string_append(s, "<parent>\n");
                fmt_leaf(s, 2, "name", def->parent);
                fmt_indent(s, 1);
                g_string_append(s, "</parent>\n");
        }
        if (def->creation_time) {
                fmt_indent(s, 1);
                g_string_append_printf(s, "<creationTime>%llu</creationTime>\n", (unsigned long long) def->creation_time);
        }
        if (def->memory != SNAPSHOT_LOCATION_DEFAULT || def->memory_file) {
                fmt_indent(s, 1);
                g_string_append(s, "<memory");
                fmt_attr(s, "snapshot", snapshot_location_to_string(def->memory));
                fmt_attr(s, "file", def->memory_file);
                g_string_append(s, "/>\n");
        }
        if (def->n_disks > 0) {
                fmt_indent(s, 1);
                g_string_append(s, "<disks>\n");
                for (size_t i = 0; i < def->n_disks; i++) {
                        const SnapshotDiskDef *d = &def->disks[i];
                        bool body = d->source_file || d->driver_type;

                        fmt_indent(s, 2);
                        g_string_append(s, "<disk");
                        fmt_attr(s, "name", d->name);
                        fmt_attr(s, "snapshot", snapshot_location_to_string(d->snapshot));
                        if (d->snapshot == SNAPSHOT_LOCATION_EXTERNAL && body)
                                fmt_attr(s, "type", "file");
                        if (!body) {
                                g_string_append(s, "/>\n");
                                continue;
                        }
                        g_string_append(s, ">\n");
                        if (d->driver_type) {
                                fmt_indent(s, 3);
                                g_string_append(s, "<driver");
                                fmt_attr(s, "type", d->driver_type);
                                g_string_append(s, "/>\n");
                        }
                        if (d->source_file) {
                                fmt_indent(s, 3);
                                g_string_append(s, "<source");
                                fmt_attr(s, "file", d->source_file);
                                g_string_append(s, "/>\n");
                        }
                        fmt_indent(s, 2);
                        g_string_append(s, "</disk>\n");
                }
                fmt_indent(s, 1);
                g_string_append(s, "</disks>\n");
        }
        if (def->domain_xml)
                fmt_domain(s, 1, def->domain_xml);
        g_string_append(s, "</domainsnapshot>\n");
        return g_string_free(s, FALSE);
}
