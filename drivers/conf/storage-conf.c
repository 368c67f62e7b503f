/* storage-conf.c — pool and volume definitions: tables, lifetime, units, normalization, canonical formatting. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"
#include "conf/storage-conf.h"

const char *const storage_pool_type_table[] = { "dir", "fs", "netfs", "iscsi", "iscsi-direct", "rbd", NULL };
const char *const storage_vol_format_table[] = {
        "raw", "qcow2", "iso", "qcow", "qed", "vmdk", "vdi", "vpc", "vhdx", "dmg", "cloop", "bochs", "parallels", "luks", NULL
};
const char *const storage_vol_type_table[] = { "file", "block", "network", NULL };

const char *storage_pool_type_to_string(StoragePoolType t) {
        return t >= 0 && t < _STORAGE_POOL_TYPE_MAX ? storage_pool_type_table[t] : NULL;
}

int storage_pool_type_from_string(const char *s) {
        return conf_table_lookup(storage_pool_type_table, s);
}

bool storage_pool_type_has_target(StoragePoolType t) {
        return t != STORAGE_POOL_ISCSI_DIRECT && t != STORAGE_POOL_RBD;
}

const char *storage_vol_format_to_string(StorageVolFormat f) {
        return f >= 0 && f < _STORAGE_VOL_FORMAT_MAX ? storage_vol_format_table[f] : NULL;
}

int storage_vol_format_from_string(const char *s) {
        return conf_table_lookup(storage_vol_format_table, s);
}

const char *storage_vol_format_to_qemu(StorageVolFormat f) {
        return f == STORAGE_VOL_FORMAT_ISO ? "raw" : storage_vol_format_to_string(f);
}

const char *storage_vol_format_to_disk_driver_type(StorageVolFormat f) {
        return f == STORAGE_VOL_FORMAT_ISO ? "raw" : storage_vol_format_to_string(f);
}

int storage_vol_format_from_qemu(const char *s) {
        if (conf_streq(s, "iso"))
                return -EINVAL;  /* qemu-img never says iso; an ISO image is "raw" to it */
        return storage_vol_format_from_string(s);
}

bool storage_vol_format_writable(StorageVolFormat f) {
        return f == STORAGE_VOL_FORMAT_RAW || f == STORAGE_VOL_FORMAT_QCOW2;
}

int storage_parse_size(const char *value, const char *unit, uint64_t *ret) {
        uint64_t v, scale;
        int r;

        scale = 1;   /* sizes are in bytes unless a unit says otherwise */
        if (!isempty(unit) && conf_memory_unit_scale(unit, &scale) < 0)
                return -EINVAL;
        r = conf_parse_u64(value, 10, UINT64_MAX, &v);
        if (r < 0)
                return r;
        if (v > UINT64_MAX / scale)
                return -ERANGE;
        *ret = v * scale;
        return 0;
}

void storage_perms_clear(StoragePerms *p) {
        free(p->label);
        *p = STORAGE_PERMS_INIT;
}

static int perms_copy(StoragePerms *dst, const StoragePerms *src) {
        *dst = *src;
        dst->label = NULL;
        if (src->label && !(dst->label = strdup(src->label)))
                return -ENOMEM;
        return 0;
}

static int strdup_opt(char **dst, const char *src) {
        *dst = NULL;
        if (src && !(*dst = strdup(src)))
                return -ENOMEM;
        return 0;
}

/* ---- pools ---- */

StoragePoolDef *storage_pool_def_new(void) {
        StoragePoolDef *def = calloc(1, sizeof(StoragePoolDef));
        if (def)
                def->perms = STORAGE_PERMS_INIT;
        return def;
}

StoragePoolDef *storage_pool_def_free(StoragePoolDef *def) {
        if (!def)
                return NULL;
        free(def->name);
        free(def->source_device);
        free(def->source_host);
        free(def->source_dir);
        free(def->source_format);
        free(def->source_name);
        free(def->initiator_iqn);
        free(def->auth_type);
        free(def->auth_username);
        free(def->secret_usage);
        free(def->secret_uuid);
        free(def->target_path);
        storage_perms_clear(&def->perms);
        free(def);
        return NULL;
}

StoragePoolDef *storage_pool_def_copy(const StoragePoolDef *def) {
        StoragePoolDef *c = storage_pool_def_new();
        if (!c)
                return NULL;
        c->type = def->type;
        memcpy(c->uuid, def->uuid, sizeof c->uuid);
        c->has_uuid = def->has_uuid;
        c->source_host_port = def->source_host_port;
        c->capacity = def->capacity;
        c->allocation = def->allocation;
        c->available = def->available;
        if (strdup_opt(&c->name, def->name) < 0 || strdup_opt(&c->source_device, def->source_device) < 0 ||
            strdup_opt(&c->source_host, def->source_host) < 0 || strdup_opt(&c->source_dir, def->source_dir) < 0 ||
            strdup_opt(&c->source_format, def->source_format) < 0 ||
            strdup_opt(&c->source_name, def->source_name) < 0 || strdup_opt(&c->initiator_iqn, def->initiator_iqn) < 0 ||
            strdup_opt(&c->auth_type, def->auth_type) < 0 || strdup_opt(&c->auth_username, def->auth_username) < 0 ||
            strdup_opt(&c->secret_usage, def->secret_usage) < 0 || strdup_opt(&c->secret_uuid, def->secret_uuid) < 0 ||
            strdup_opt(&c->target_path, def->target_path) < 0 || perms_copy(&c->perms, &def->perms) < 0)
                return storage_pool_def_free(c);
        return c;
}

/* "/a//b/" → "/a/b" in place ("/" stays "/"). */
static void path_clean(char *p) {
        char *w = p;
        for (const char *r = p; *r; r++) {
                if (*r == '/' && w > p && w[-1] == '/')
                        continue;
                *w++ = *r;
        }
        if (w > p + 1 && w[-1] == '/')
                w--;
        *w = 0;
}

int storage_pool_def_normalize(StoragePoolDef *def, ConfError *err) {
        (void) err;
        if (!def->has_uuid) {
                conf_uuid_generate(def->uuid);
                def->has_uuid = true;
        }
        if (def->target_path)
                path_clean(def->target_path);
        if (def->source_dir)
                path_clean(def->source_dir);
        if ((def->type == STORAGE_POOL_FS || def->type == STORAGE_POOL_NETFS) && !def->source_format &&
            !(def->source_format = strdup("auto")))
                return -ENOMEM;
        return 0;
}

bool storage_pool_def_same_source(const StoragePoolDef *a, const StoragePoolDef *b) {
        if (conf_streq(a->target_path, b->target_path))
                return true;
        if (a->type == STORAGE_POOL_RBD && b->type == STORAGE_POOL_RBD)
                return conf_streq(a->source_host, b->source_host) && a->source_host_port == b->source_host_port &&
                       conf_streq(a->source_name, b->source_name);
        if ((a->type == STORAGE_POOL_ISCSI || a->type == STORAGE_POOL_ISCSI_DIRECT) &&
            (b->type == STORAGE_POOL_ISCSI || b->type == STORAGE_POOL_ISCSI_DIRECT))
                return conf_streq(a->source_host, b->source_host) && a->source_host_port == b->source_host_port &&
                       conf_streq(a->source_device, b->source_device);
        if (a->type == STORAGE_POOL_FS && b->type == STORAGE_POOL_FS)
                return conf_streq(a->source_device, b->source_device);
        if (a->type == STORAGE_POOL_NETFS && b->type == STORAGE_POOL_NETFS)
                return conf_streq(a->source_host, b->source_host) && conf_streq(a->source_dir, b->source_dir);
        return false;
}

static void fmt_text(GString *s, int level, const char *name, const char *text) {
        if (!text)
                return;
        fmt_indent(s, level);
        g_string_append_printf(s, "<%s>", name);
        fmt_escape(s, text);
        g_string_append_printf(s, "</%s>\n", name);
}

static void fmt_size(GString *s, int level, const char *name, uint64_t v) {
        fmt_indent(s, level);
        g_string_append_printf(s, "<%s unit='bytes'>%llu</%s>\n", name, (unsigned long long) v, name);
}

static void fmt_perms(GString *s, int level, const StoragePerms *p) {
        if (p->mode < 0 && p->uid < 0 && p->gid < 0 && !p->label)
                return;
        fmt_indent(s, level);
        g_string_append(s, "<permissions>\n");
        if (p->mode >= 0) {
                fmt_indent(s, level + 1);
                g_string_append_printf(s, "<mode>%04llo</mode>\n", (unsigned long long) p->mode);
        }
        if (p->uid >= 0) {
                fmt_indent(s, level + 1);
                g_string_append_printf(s, "<owner>%lld</owner>\n", (long long) p->uid);
        }
        if (p->gid >= 0) {
                fmt_indent(s, level + 1);
                g_string_append_printf(s, "<group>%lld</group>\n", (long long) p->gid);
        }
        fmt_text(s, level + 1, "label", p->label);
        fmt_indent(s, level);
        g_string_append(s, "</permissions>\n");
}

char *storage_pool_def_format(const StoragePoolDef *def) {
        GString *s = g_string_new(NULL);
        char uuid[37];

        g_string_append(s, "<pool");
        fmt_attr(s, "type", storage_pool_type_to_string(def->type));
        g_string_append(s, ">\n");
        fmt_text(s, 1, "name", def->name);
        if (def->has_uuid) {
                conf_uuid_format(def->uuid, uuid);
                fmt_text(s, 1, "uuid", uuid);
        }
        fmt_size(s, 1, "capacity", def->capacity);
        fmt_size(s, 1, "allocation", def->allocation);
        fmt_size(s, 1, "available", def->available);

        if (!def->source_device && !def->source_host && !def->source_dir && !def->source_format && !def->source_name &&
            !def->initiator_iqn && !def->auth_type)
                g_string_append(s, "  <source/>\n");
        else {
                g_string_append(s, "  <source>\n");
                if (def->source_host) {
                        g_string_append(s, "    <host");
                        fmt_attr(s, "name", def->source_host);
                        if (def->source_host_port)
                                fmt_attr_uint(s, "port", def->source_host_port);
                        g_string_append(s, "/>\n");
                }
                if (def->source_device) {
                        g_string_append(s, "    <device");
                        fmt_attr(s, "path", def->source_device);
                        g_string_append(s, "/>\n");
                }
                if (def->source_dir) {
                        g_string_append(s, "    <dir");
                        fmt_attr(s, "path", def->source_dir);
                        g_string_append(s, "/>\n");
                }
                fmt_text(s, 2, "name", def->source_name);
                if (def->source_format) {
                        g_string_append(s, "    <format");
                        fmt_attr(s, "type", def->source_format);
                        g_string_append(s, "/>\n");
                }
                if (def->initiator_iqn) {
                        g_string_append(s, "    <initiator>\n      <iqn");
                        fmt_attr(s, "name", def->initiator_iqn);
                        g_string_append(s, "/>\n    </initiator>\n");
                }
                if (def->auth_type) {
                        g_string_append(s, "    <auth");
                        fmt_attr(s, "type", def->auth_type);
                        fmt_attr(s, "username", def->auth_username);
                        g_string_append(s, ">\n      <secret");
                        if (def->secret_uuid)
                                fmt_attr(s, "uuid", def->secret_uuid);
                        else
                                fmt_attr(s, "usage", def->secret_usage);
                        g_string_append(s, "/>\n    </auth>\n");
                }
                g_string_append(s, "  </source>\n");
        }

        if (def->target_path) {
                g_string_append(s, "  <target>\n");
                fmt_text(s, 2, "path", def->target_path);
                fmt_perms(s, 2, &def->perms);
                g_string_append(s, "  </target>\n");
        }
        g_string_append(s, "</pool>\n");
        return g_string_free(s, false);
}

char *storage_pool_default_xml(const char *state_dir) {
        GString *s = g_string_new("<pool type='dir'>\n  <name>default</name>\n  <target>\n    <path>");
        fmt_escape(s, state_dir);
        g_string_append(s, "/images</path>\n    <permissions>\n      <mode>0711</mode>\n    </permissions>\n"
                           "  </target>\n</pool>\n");
        return g_string_free(s, false);
}

/* ---- volumes ---- */

StorageVolDef *storage_vol_def_new(void) {
        StorageVolDef *def = calloc(1, sizeof(StorageVolDef));
        if (def)
                def->perms = STORAGE_PERMS_INIT;
        return def;
}

StorageVolDef *storage_vol_def_free(StorageVolDef *def) {
        if (!def)
                return NULL;
        free(def->name);
        free(def->key);
        free(def->path);
        free(def->compat);
        free(def->backing_path);
        storage_perms_clear(&def->perms);
        free(def);
        return NULL;
}

StorageVolDef *storage_vol_def_copy(const StorageVolDef *def) {
        StorageVolDef *c = storage_vol_def_new();
        if (!c)
                return NULL;
        *c = *def;
        c->name = c->key = c->path = c->compat = c->backing_path = NULL;
        c->perms.label = NULL;
        if (strdup_opt(&c->name, def->name) < 0 || strdup_opt(&c->key, def->key) < 0 ||
            strdup_opt(&c->path, def->path) < 0 || strdup_opt(&c->compat, def->compat) < 0 ||
            strdup_opt(&c->backing_path, def->backing_path) < 0 || perms_copy(&c->perms, &def->perms) < 0)
                return storage_vol_def_free(c);
        return c;
}

int storage_vol_name_validate(const char *name, const char **reason) {
        const char *dummy;
        int r;

        if (!reason)
                reason = &dummy;
        r = conf_name_validate(name, reason);
        if (r < 0)
                return r;
        if (name[0] == '.') {
                *reason = "volume name must not begin with '.'";
                return -EINVAL;
        }
        return 0;
}

char *storage_vol_def_format(const StorageVolDef *def) {
        GString *s = g_string_new(NULL);

        g_string_append(s, "<volume");
        fmt_attr(s, "type", storage_vol_type_table[def->type]);
        g_string_append(s, ">\n");
        fmt_text(s, 1, "name", def->name);
        fmt_text(s, 1, "key", def->key);
        if (def->has_capacity)
                fmt_size(s, 1, "capacity", def->capacity);
        if (def->has_allocation)
                fmt_size(s, 1, "allocation", def->allocation);
        if (def->physical)
                fmt_size(s, 1, "physical", def->physical);
        g_string_append(s, "  <target>\n");
        fmt_text(s, 2, "path", def->path);
        if (def->has_format) {
                g_string_append(s, "    <format");
                fmt_attr(s, "type", storage_vol_format_to_string(def->format));
                g_string_append(s, "/>\n");
        }
        fmt_perms(s, 2, &def->perms);
        fmt_text(s, 2, "compat", def->compat);
        g_string_append(s, "  </target>\n");
        if (def->backing_path) {
                g_string_append(s, "  <backingStore>\n");
                fmt_text(s, 2, "path", def->backing_path);
                if (def->has_backing_format) {
                        g_string_append(s, "    <format");
                        fmt_attr(s, "type", storage_vol_format_to_string(def->backing_format));
                        g_string_append(s, "/>\n");
                }
                g_string_append(s, "  </backingStore>\n");
        }
        g_string_append(s, "</volume>\n");
        return g_string_free(s, false);
}
