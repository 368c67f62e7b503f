/* storage-conf-parse.c — pool and volume XML → StoragePoolDef / StorageVolDef, strictly validated. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>

#include "conf-internal.h"
#include "conf/storage-conf.h"

extern const char *const storage_pool_type_table[];
extern const char *const storage_vol_format_table[];

static const char *const fs_format_table[] = {
        "auto", "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "iso9660", "udf", NULL
};
static const char *const netfs_format_table[] = { "auto", "nfs", "cifs", "glusterfs", NULL };
/* A volume's type on input: 'network' (an rbd image, an iSCSI LUN) is the driver's to say. */
static const char *const vol_input_type_table[] = { "file", "block", NULL };

static const char *nname(xmlNode *n) {
        return (const char *) n->name;
}

static int storage_xml_read(const char *xml, size_t len, const char *root_name, xmlDoc **ret_doc, ConfError *err) {
        return conf_xml_read(xml, len, STORAGE_XML_MAX_SIZE, root_name, root_name, ret_doc, err);
}

/* Text of an element whose attributes the caller checked, blanks removed; never empty. */
static int elem_text(xmlNode *n, char **ret, ConfError *err) {
        _cleanup_free_ char *t = NULL;
        int r;

        r = xml_text(n, &t);
        if (r < 0)
                return r;
        g_strstrip(t);
        if (!*t)
                return conf_error_set(err, xml_line(n), "<%s> must not be empty", nname(n));
        free(*ret);
        *ret = TAKE_PTR(t);
        return 0;
}

/* Text of a leaf element without attributes. */
static int leaf_text(xmlNode *n, char **ret, ConfError *err) {
        int r = xml_validate(n, &(XmlSpec) { .text = true }, err);
        return r < 0 ? r : elem_text(n, ret, err);
}

static int parse_size(xmlNode *n, uint64_t *ret, ConfError *err) {
        _cleanup_free_ char *text = NULL, *unit = NULL;
        int r;

        r = xml_validate(n, &(XmlSpec) { .attrs = STRV("unit"), .text = true }, err);
        if (r < 0)
                return r;
        r = elem_text(n, &text, err);
        if (r < 0)
                return r;
        unit = xml_attr(n, "unit");
        r = storage_parse_size(text, unit, ret);
        if (r == -ERANGE)
                return conf_error_set(err, xml_line(n), "<%s> %s%s%s is too large", nname(n), text,
                                      unit ? " " : "", strempty(unit));
        if (r < 0 && unit && storage_parse_size("0", unit, &(uint64_t) { 0 }) < 0)
                return conf_error_set(err, xml_line(n), "invalid unit '%s' of <%s> (use b, bytes, KB, k, KiB, MB, M, MiB, GB, G, GiB, TB, T, TiB, PB, P, PiB, EB, E, EiB)",
                                      unit, nname(n));
        if (r < 0)
                return conf_error_set(err, xml_line(n), "invalid size '%s' in <%s>: not an unsigned number", text, nname(n));
        return 0;
}

static int parse_id(xmlNode *n, int64_t *ret, ConfError *err) {
        _cleanup_free_ char *t = NULL;
        uint64_t v;
        int r;

        r = leaf_text(n, &t, err);
        if (r < 0)
                return r;
        if (streq(t, "-1")) {
                *ret = -1;
                return 0;
        }
        if (conf_parse_u64(t, 10, UINT32_MAX - 1, &v) < 0)
                return conf_error_set(err, xml_line(n), "invalid <%s> '%s': a numeric id is required", nname(n), t);
        *ret = (int64_t) v;
        return 0;
}

static int parse_perms(xmlNode *n, StoragePerms *p, ConfError *err) {
        _cleanup_free_ char *t = NULL;
        xmlNode *c;
        uint64_t v;
        int r;

        r = xml_validate(n, &(XmlSpec) { .children = STRV("mode", "owner", "group", "label") }, err);
        if (r < 0)
                return r;
        if ((c = xml_child(n, "mode"))) {
                r = leaf_text(c, &t, err);
                if (r < 0)
                        return r;
                if (conf_parse_u64(t, 8, 07777, &v) < 0)
                        return conf_error_set(err, xml_line(c), "invalid <mode> '%s': an octal mode up to 7777 is required", t);
                p->mode = (int64_t) v;
        }
        if ((c = xml_child(n, "owner")) && (r = parse_id(c, &p->uid, err)) < 0)
                return r;
        if ((c = xml_child(n, "group")) && (r = parse_id(c, &p->gid, err)) < 0)
                return r;
        if ((c = xml_child(n, "label")) && (r = leaf_text(c, &p->label, err)) < 0)
                return r;
        return 0;
}

static int parse_path_attr(xmlNode *n, char **ret, ConfError *err) {
        int r;

        r = xml_validate(n, &(XmlSpec) { .attrs = STRV("path") }, err);
        if (r < 0)
                return r;
        r = xml_attr_str(n, "path", ret);
        if (r < 0)
                return r;
        if (r == 0 || isempty(*ret))
                return conf_error_set(err, xml_line(n), "<%s> requires a path attribute", nname(n));
        if ((*ret)[0] != '/')
                return conf_error_set(err, xml_line(n), "path '%s' of <%s> must be absolute", *ret, nname(n));
        return 0;
}

/* A name-like attribute value: not empty, no blanks or control characters. */
static int parse_word_attr(xmlNode *n, const char *attr, char **ret, ConfError *err) {
        int r;

        r = xml_attr_str(n, attr, ret);
        if (r < 0)
                return r;
        if (r == 0 || isempty(*ret))
                return conf_error_set(err, xml_line(n), "<%s> requires a %s attribute", nname(n), attr);
        for (const char *c = *ret; *c; c++)
                if ((unsigned char) *c <= 0x20)
                        return conf_error_set(err, xml_line(n), "%s '%s' of <%s> must not contain blanks or control characters",
                                              attr, *ret, nname(n));
        return 0;
}

static bool source_child_applies(StoragePoolType t, const char *name) {
        switch (t) {
        case STORAGE_POOL_FS:
                return STR_IN_SET(name, "device", "format");
        case STORAGE_POOL_NETFS:
                return STR_IN_SET(name, "host", "dir", "format");
        case STORAGE_POOL_ISCSI:
        case STORAGE_POOL_ISCSI_DIRECT:
                return STR_IN_SET(name, "host", "device", "initiator", "auth");
        case STORAGE_POOL_RBD:
                return STR_IN_SET(name, "name", "host", "auth");
        default:
                return false;
        }
}

static int parse_auth(StoragePoolDef *def, xmlNode *n, ConfError *err) {
        const char *want = def->type == STORAGE_POOL_RBD ? "ceph" : "chap";
        _cleanup_free_ char *uuid = NULL;
        unsigned char raw[16];
        xmlNode *c;
        int r;

        r = xml_validate(n, &(XmlSpec) { .attrs = STRV("type", "username"), .children = STRV("secret") }, err);
        if (r < 0)
                return r;
        r = xml_attr_str(n, "type", &def->auth_type);
        if (r < 0)
                return r;
        if (r == 0 || isempty(def->auth_type))
                return conf_error_set(err, xml_line(n), "<auth> requires a type attribute ('%s')", want);
        if (!streq(def->auth_type, want))
                return conf_error_set(err, xml_line(n), "invalid <auth> type '%s' for a pool of type '%s' (allowed: %s)",
                                      def->auth_type, storage_pool_type_to_string(def->type), want);
        r = parse_word_attr(n, "username", &def->auth_username, err);
        if (r < 0)
                return r;
        c = xml_child(n, "secret");
        if (!c)
                return conf_error_set(err, xml_line(n), "<auth> requires a <secret usage='…'/> or <secret uuid='…'/>");
        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("usage", "uuid") }, err);
        if (r < 0)
                return r;
        r = xml_attr_str(c, "uuid", &uuid);
        if (r < 0)
                return r;
        if (r > 0) {
                if (conf_uuid_parse(uuid, raw) < 0)
                        return conf_error_set(err, xml_line(c), "invalid <secret> uuid '%s'", uuid);
                def->secret_uuid = malloc(37);
                if (!def->secret_uuid)
                        return -ENOMEM;
                conf_uuid_format(raw, def->secret_uuid);
        }
        r = xml_attr_str(c, "usage", &def->secret_usage);
        if (r < 0)
                return r;
        if (r > 0 && isempty(def->secret_usage))
                return conf_error_set(err, xml_line(c), "<secret> usage must not be empty");
        if (!def->secret_uuid == !def->secret_usage)
                return conf_error_set(err, xml_line(c), "<secret> requires exactly one of the usage and uuid attributes");
        return 0;
}

static int parse_pool_source(StoragePoolDef *def, xmlNode *n, ConfError *err) {
        const char *const *formats = def->type == STORAGE_POOL_FS ? fs_format_table : netfs_format_table;
        bool iscsi = def->type == STORAGE_POOL_ISCSI || def->type == STORAGE_POOL_ISCSI_DIRECT;
        xmlNode *c;
        uint64_t port;
        int r;

        /* file-system pools keep their short list (its message names what they take) */
        if (def->type == STORAGE_POOL_FS || def->type == STORAGE_POOL_NETFS || def->type == STORAGE_POOL_DIR)
                r = xml_validate(n, &(XmlSpec) { .children = STRV("device", "host", "dir", "format") }, err);
        else
                r = xml_validate(n, &(XmlSpec) { .children = STRV("device", "host", "dir", "format", "name", "initiator", "auth") }, err);
        if (r < 0)
                return r;
        for (c = n->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE)
                        continue;
                if (!source_child_applies(def->type, nname(c)))
                        return conf_error_set(err, xml_line(c), "<%s> in <source> does not apply to a pool of type '%s'",
                                              nname(c), storage_pool_type_to_string(def->type));
        }
        if ((c = xml_child(n, "device"))) {
                if (iscsi) {
                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("path") }, err);
                        if (r < 0)
                                return r;
                        r = parse_word_attr(c, "path", &def->source_device, err);
                } else
                        r = parse_path_attr(c, &def->source_device, err);
                if (r < 0)
                        return r;
        }
        if ((c = xml_child(n, "dir")) && (r = parse_path_attr(c, &def->source_dir, err)) < 0)
                return r;
        if ((c = xml_child(n, "name")) && (r = leaf_text(c, &def->source_name, err)) < 0)
                return r;
        if (def->source_name && strpbrk(def->source_name, "/@: \t\n"))
                return conf_error_set(err, xml_line(c), "invalid source <name> '%s': a RADOS pool name has no '/', '@', ':' or blanks",
                                      def->source_name);
        if ((c = xml_child(n, "host"))) {
                r = xml_validate(c, &(XmlSpec) { .attrs = STRV("name", "port") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_str(c, "name", &def->source_host);
                if (r < 0)
                        return r;
                if (isempty(def->source_host) || strpbrk(def->source_host, "/:, \t\n"))
                        return conf_error_set(err, xml_line(c), "<host> requires a name attribute with a host name or address");
                r = xml_attr_uint(c, "port", 10, 65535, &port, err);
                if (r < 0)
                        return r;
                if (r > 0)
                        def->source_host_port = (unsigned) port;
        }
        if ((c = xml_child(n, "initiator"))) {
                xmlNode *iqn;
                r = xml_validate(c, &(XmlSpec) { .children = STRV("iqn") }, err);
                if (r < 0)
                        return r;
                iqn = xml_child(c, "iqn");
                if (!iqn)
                        return conf_error_set(err, xml_line(c), "<initiator> requires <iqn name='…'/>");
                r = xml_validate(iqn, &(XmlSpec) { .attrs = STRV("name") }, err);
                if (r < 0)
                        return r;
                r = parse_word_attr(iqn, "name", &def->initiator_iqn, err);
                if (r < 0)
                        return r;
        }
        if ((c = xml_child(n, "auth")) && (r = parse_auth(def, c, err)) < 0)
                return r;
        if ((c = xml_child(n, "format"))) {
                r = xml_validate(c, &(XmlSpec) { .attrs = STRV("type") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_enum_str(c, "type", formats, &def->source_format, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(c), "<format> requires a type attribute");
        }
        return 0;
}

static int parse_pool(StoragePoolDef *def, xmlNode *root, ConfError *err) {
        const XmlSpec spec = {
                .attrs = STRV("type"),
                .children = STRV("name", "uuid", "capacity", "allocation", "available", "source", "target"),
        };
        _cleanup_free_ char *uuid = NULL;
        const char *reason;
        int type = 0;
        xmlNode *n;
        int r;

        r = xml_validate(root, &spec, err);
        if (r < 0)
                return r;
        r = xml_attr_enum(root, "type", storage_pool_type_table, &type, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(root), "<pool> requires a type attribute (dir, fs, netfs, iscsi, iscsi-direct or rbd)");
        def->type = (StoragePoolType) type;

        n = xml_child(root, "name");
        if (!n)
                return conf_error_set(err, xml_line(root), "missing <name> in <pool>");
        r = leaf_text(n, &def->name, err);
        if (r < 0)
                return r;
        if (conf_name_validate(def->name, &reason) < 0)
                return conf_error_set(err, xml_line(n), "invalid pool name '%s': %s", def->name, reason);

        if ((n = xml_child(root, "uuid"))) {
                r = leaf_text(n, &uuid, err);
                if (r < 0)
                        return r;
                if (conf_uuid_parse(uuid, def->uuid) < 0)
                        return conf_error_set(err, xml_line(n), "invalid UUID '%s'", uuid);
                def->has_uuid = true;
        }
        if ((n = xml_child(root, "capacity")) && (r = parse_size(n, &def->capacity, err)) < 0)
                return r;
        if ((n = xml_child(root, "allocation")) && (r = parse_size(n, &def->allocation, err)) < 0)
                return r;
        if ((n = xml_child(root, "available")) && (r = parse_size(n, &def->available, err)) < 0)
                return r;

        if ((n = xml_child(root, "source")) && (r = parse_pool_source(def, n, err)) < 0)
                return r;
        if (def->type == STORAGE_POOL_FS && !def->source_device)
                return conf_error_set(err, xml_line(n ?: root), "a pool of type 'fs' requires <source><device path='…'/></source>");
        if (def->type == STORAGE_POOL_NETFS && (!def->source_host || !def->source_dir))
                return conf_error_set(err, xml_line(n ?: root),
                                      "a pool of type 'netfs' requires <source><host name='…'/><dir path='…'/></source>");

        if ((def->type == STORAGE_POOL_ISCSI || def->type == STORAGE_POOL_ISCSI_DIRECT) &&
            (!def->source_host || !def->source_device))
                return conf_error_set(err, xml_line(n ?: root),
                                      "a pool of type '%s' requires <source><host name='…'/><device path='IQN'/></source>",
                                      storage_pool_type_to_string(def->type));
        if (def->type == STORAGE_POOL_ISCSI_DIRECT && !def->initiator_iqn)
                return conf_error_set(err, xml_line(n ?: root),
                                      "a pool of type 'iscsi-direct' requires <source><initiator><iqn name='…'/></initiator></source>");
        if (def->type == STORAGE_POOL_RBD && !def->source_name)
                return conf_error_set(err, xml_line(n ?: root), "a pool of type 'rbd' requires <source><name>RADOS pool</name></source>");
        if (def->type == STORAGE_POOL_RBD && !def->source_host)
                return conf_error_set(err, xml_line(n ?: root), "a pool of type 'rbd' requires <source><host name='…'/></source>");

        n = xml_child(root, "target");
        if (!storage_pool_type_has_target(def->type)) {
                if (n)
                        return conf_error_set(err, xml_line(n), "<target> does not apply to a pool of type '%s'",
                                              storage_pool_type_to_string(def->type));
                return 0;
        }
        if (!n)
                return conf_error_set(err, xml_line(root), "missing <target> in <pool>");
        r = xml_validate(n, &(XmlSpec) { .children = STRV("path", "permissions") }, err);
        if (r < 0)
                return r;
        xmlNode *p = xml_child(n, "path");
        if (!p)
                return conf_error_set(err, xml_line(n), "missing <path> in <target>");
        r = leaf_text(p, &def->target_path, err);
        if (r < 0)
                return r;
        if (def->target_path[0] != '/')
                return conf_error_set(err, xml_line(p), "target path '%s' must be absolute", def->target_path);
        if (strspn(def->target_path, "/") == strlen(def->target_path))
                return conf_error_set(err, xml_line(p), "target path must not be the root directory");
        for (const char *c = def->target_path; *c; c++)
                if ((unsigned char) *c < 0x20)
                        return conf_error_set(err, xml_line(p), "target path must not contain control characters");
        if ((p = xml_child(n, "permissions")) && (r = parse_perms(p, &def->perms, err)) < 0)
                return r;
        return 0;
}

int storage_pool_def_parse(const char *xml, size_t len, StoragePoolDef **ret, ConfError *err) {
        xmlDoc *doc = NULL;
        StoragePoolDef *def;
        int r;

        r = storage_xml_read(xml, len, "pool", &doc, err);
        if (r < 0)
                return r;
        def = storage_pool_def_new();
        if (!def) {
                xmlFreeDoc(doc);
                return -ENOMEM;
        }
        r = parse_pool(def, xmlDocGetRootElement(doc), err);
        xmlFreeDoc(doc);
        if (r < 0) {
                storage_pool_def_free(def);
                return r;
        }
        *ret = def;
        return 0;
}

/* ---- volumes ---- */

static int parse_format_elem(xmlNode *n, StorageVolFormat *ret, ConfError *err) {
        int f = 0, r;

        r = xml_validate(n, &(XmlSpec) { .attrs = STRV("type") }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum(n, "type", storage_vol_format_table, &f, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(n), "<format> requires a type attribute");
        *ret = (StorageVolFormat) f;
        return 0;
}

static int parse_vol_target(StorageVolDef *def, xmlNode *n, ConfError *err) {
        const XmlSpec spec = { .children = STRV("path", "format", "permissions", "compat", "timestamps") };
        const XmlSpec timestamps = { .children = STRV("atime", "mtime", "ctime", "btime") };
        xmlNode *c;
        int r;

        r = xml_validate(n, &spec, err);
        if (r < 0)
                return r;
        if ((c = xml_child(n, "path")) && (r = leaf_text(c, &def->path, err)) < 0)
                return r;
        if ((c = xml_child(n, "format"))) {
                r = parse_format_elem(c, &def->format, err);
                if (r < 0)
                        return r;
                def->has_format = true;
        }
        if ((c = xml_child(n, "permissions")) && (r = parse_perms(c, &def->perms, err)) < 0)
                return r;
        if ((c = xml_child(n, "compat"))) {
                r = leaf_text(c, &def->compat, err);
                if (r < 0)
                        return r;
                if (!STR_IN_SET(def->compat, "0.10", "1.1"))
                        return conf_error_set(err, xml_line(c), "invalid <compat> '%s' (allowed: 0.10, 1.1)", def->compat);
                if (def->format != STORAGE_VOL_FORMAT_QCOW2)
                        return conf_error_set(err, xml_line(c), "<compat> applies only to format qcow2");
        }
        /* Timestamps are output (vol-dumpxml); checked, not kept. */
        if ((c = xml_child(n, "timestamps"))) {
                r = xml_validate(c, &timestamps, err);
                if (r < 0)
                        return r;
                for (xmlNode *t = c->children; t; t = t->next)
                        if (t->type == XML_ELEMENT_NODE) {
                                _cleanup_free_ char *v = NULL;
                                r = leaf_text(t, &v, err);
                                if (r < 0)
                                        return r;
                        }
        }
        return 0;
}

static int parse_backing(StorageVolDef *def, xmlNode *n, ConfError *err) {
        StoragePerms ignored = STORAGE_PERMS_INIT;
        xmlNode *c;
        int r;

        r = xml_validate(n, &(XmlSpec) { .children = STRV("path", "format", "permissions") }, err);
        if (r < 0)
                return r;
        c = xml_child(n, "path");
        if (!c)
                return conf_error_set(err, xml_line(n), "missing <path> in <backingStore>");
        r = leaf_text(c, &def->backing_path, err);
        if (r < 0)
                return r;
        if (def->backing_path[0] != '/')
                return conf_error_set(err, xml_line(c), "backing store path '%s' must be absolute", def->backing_path);
        if ((c = xml_child(n, "format"))) {
                r = parse_format_elem(c, &def->backing_format, err);
                if (r < 0)
                        return r;
                def->has_backing_format = true;
        }
        /* The backing file's permissions are output only. */
        if ((c = xml_child(n, "permissions"))) {
                r = parse_perms(c, &ignored, err);
                storage_perms_clear(&ignored);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_volume(StorageVolDef *def, xmlNode *root, ConfError *err) {
        const XmlSpec spec = {
                .attrs = STRV("type"),
                .children = STRV("name", "key", "source", "capacity", "allocation", "physical", "target", "backingStore"),
        };
        const char *reason;
        int type = 0;
        xmlNode *n;
        int r;

        r = xml_validate(root, &spec, err);
        if (r < 0)
                return r;
        r = xml_attr_enum(root, "type", vol_input_type_table, &type, err);
        if (r < 0)
                return r;
        def->type = (StorageVolType) type;

        n = xml_child(root, "name");
        if (!n)
                return conf_error_set(err, xml_line(root), "missing <name> in <volume>");
        r = leaf_text(n, &def->name, err);
        if (r < 0)
                return r;
        if (storage_vol_name_validate(def->name, &reason) < 0)
                return conf_error_set(err, xml_line(n), "invalid volume name '%s': %s", def->name, reason);
        if ((n = xml_child(root, "key")) && (r = leaf_text(n, &def->key, err)) < 0)
                return r;
        if ((n = xml_child(root, "source")) && (r = xml_validate(n, &(XmlSpec) {}, err)) < 0)
                return r;
        if ((n = xml_child(root, "capacity"))) {
                r = parse_size(n, &def->capacity, err);
                if (r < 0)
                        return r;
                def->has_capacity = true;
        }
        if ((n = xml_child(root, "allocation"))) {
                r = parse_size(n, &def->allocation, err);
                if (r < 0)
                        return r;
                def->has_allocation = true;
        }
        if ((n = xml_child(root, "physical")) && (r = parse_size(n, &def->physical, err)) < 0)
                return r;
        if ((n = xml_child(root, "target")) && (r = parse_vol_target(def, n, err)) < 0)
                return r;
        if ((n = xml_child(root, "backingStore")) && (r = parse_backing(def, n, err)) < 0)
                return r;
        if (!def->has_capacity && !def->backing_path)
                return conf_error_set(err, xml_line(root), "missing <capacity> in <volume>");
        return 0;
}

int storage_vol_def_parse(const char *xml, size_t len, StorageVolDef **ret, ConfError *err) {
        xmlDoc *doc = NULL;
        StorageVolDef *def;
        int r;

        r = storage_xml_read(xml, len, "volume", &doc, err);
        if (r < 0)
                return r;
        def = storage_vol_def_new();
        if (!def) {
                xmlFreeDoc(doc);
                return -ENOMEM;
        }
        r = parse_volume(def, xmlDocGetRootElement(doc), err);
        xmlFreeDoc(doc);
        if (r < 0) {
                storage_vol_def_free(def);
                return r;
        }
        *ret = def;
        return 0;
}
