/* vmgmtctl-pool.c — vmgmtctl's storage pool verbs (pool-*) and the storage helpers the volume verbs share. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmgmtctl.h"

/* ---- shared helpers ---- */

int storage_read_file(const char *path, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, size = 0;
        FILE *f;

        f = streq(path, "-") ? stdin : fopen(path, "re");
        if (!f)
                return ctl_error(-errno, "Failed to open %s: %m", path);
        for (;;) {
                size_t k;
                if (n + 4096 + 1 > size) {
                        char *p;
                        size = size * 2 + 8192;
                        p = realloc(buf, size);
                        if (!p) {
                                if (f != stdin)
                                        fclose(f);
                                return ctl_error(-ENOMEM, "Out of memory");
                        }
                        buf = p;
                }
                k = fread(buf + n, 1, size - n - 1, f);
                n += k;
                if (k == 0)
                        break;
        }
        if (ferror(f)) {
                if (f != stdin)
                        fclose(f);
                return ctl_error(-EIO, "Failed to read %s", path);
        }
        if (f != stdin)
                fclose(f);
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

int storage_get_string(Context *c, const char *path, const char *iface, const char *name, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property_string(c->bus, VMGMT_BUS_NAME, path, iface, name, &error, ret);
        if (r < 0)
                return ctl_bus_error(&error, r);
        return 0;
}

char *ctl_object_name(Context *c, const char *path, const char *iface) {
        char *name = NULL;
        (void) storage_get_string(c, path, iface, "Name", &name);
        return name;
}

int storage_get_trivial(Context *c, const char *path, const char *iface, const char *name, char type, void *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property_trivial(c->bus, VMGMT_BUS_NAME, path, iface, name, &error, type, ret);
        if (r < 0)
                return ctl_bus_error(&error, r);
        return 0;
}

void storage_xml_escape_to(FILE *f, const char *s) {
        for (; *s; s++)
                switch (*s) {
                case '<': fputs("&lt;", f); break;
                case '>': fputs("&gt;", f); break;
                case '&': fputs("&amp;", f); break;
                case '\'': fputs("&apos;", f); break;
                case '"': fputs("&quot;", f); break;
                default: fputc(*s, f);
                }
}

/* virsh's vshPrettyCapacity: "%.2f UNIT". */
void storage_format_size(uint64_t v, char *buf, size_t size) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        double d = (double) v;
        size_t u = 0;

        while (d >= 1024.0 && u + 1 < ELEMENTSOF(units)) {
                d /= 1024.0;
                u++;
        }
        snprintf(buf, size, "%.2f %s", d, units[u]);
}

/* A scaled integer as virsh takes it: bytes by default; k/K/KiB, M/MiB, G/GiB,
 * T/TiB, P/PiB, E/EiB are powers of 1024, KB, MB, GB, TB, PB, EB of 1000. */
int storage_parse_scaled(const char *s, uint64_t *ret) {
        static const struct { const char *suffix; uint64_t scale; } table[] = {
                { "", 1 }, { "b", 1 }, { "B", 1 }, { "bytes", 1 },
                { "k", 1ULL << 10 }, { "K", 1ULL << 10 }, { "KiB", 1ULL << 10 }, { "KB", 1000ULL },
                { "m", 1ULL << 20 }, { "M", 1ULL << 20 }, { "MiB", 1ULL << 20 }, { "MB", 1000000ULL },
                { "g", 1ULL << 30 }, { "G", 1ULL << 30 }, { "GiB", 1ULL << 30 }, { "GB", 1000000000ULL },
                { "t", 1ULL << 40 }, { "T", 1ULL << 40 }, { "TiB", 1ULL << 40 }, { "TB", 1000000000000ULL },
                { "p", 1ULL << 50 }, { "P", 1ULL << 50 }, { "PiB", 1ULL << 50 }, { "PB", 1000000000000000ULL },
                { "e", 1ULL << 60 }, { "E", 1ULL << 60 }, { "EiB", 1ULL << 60 }, { "EB", 1000000000000000000ULL },
        };
        unsigned long long v;
        char *end;

        if (!s || !*s || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(end, table[i].suffix)) {
                        if (v > UINT64_MAX / table[i].scale)
                                return -ERANGE;
                        *ret = v * table[i].scale;
                        return 0;
                }
        return -EINVAL;
}

int pool_resolve(Context *c, const char *name, char **ret_path) {
        return ctl_manager_call_path(c, "GetPool", name, false, ret_path);
}

/* ---- verbs ---- */

typedef struct PoolRow {
        char *path, *name, *uuid, *type, *target;
        bool active, persistent, autostart;
        uint64_t capacity, allocation, available;
} PoolRow;

static int pool_row_get(Context *c, const char *path, PoolRow *p) {
        int a = 0, per = 0, au = 0, r;

        p->path = strdup(path);
        r = storage_get_string(c, path, VMGMT_POOL_IFACE, "Name", &p->name);
        if (r >= 0)
                r = storage_get_string(c, path, VMGMT_POOL_IFACE, "UUID", &p->uuid);
        if (r >= 0)
                r = storage_get_string(c, path, VMGMT_POOL_IFACE, "Type", &p->type);
        if (r >= 0)
                r = storage_get_string(c, path, VMGMT_POOL_IFACE, "Path", &p->target);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_POOL_IFACE, "Active", 'b', &a);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_POOL_IFACE, "Persistent", 'b', &per);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_POOL_IFACE, "Autostart", 'b', &au);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_POOL_IFACE, "Capacity", 't', &p->capacity);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_POOL_IFACE, "Allocation", 't', &p->allocation);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_POOL_IFACE, "Available", 't', &p->available);
        p->active = a;
        p->persistent = per;
        p->autostart = au;
        return r;
}

static void pool_row_done(PoolRow *p) {
        free(p->path);
        free(p->name);
        free(p->uuid);
        free(p->type);
        free(p->target);
}

static void pool_row_json(JsonWriter *w, const PoolRow *p) {
        json_begin_object(w);
        json_member_string(w, "name", p->name);
        json_member_string(w, "uuid", p->uuid);
        json_member_string(w, "type", p->type);
        json_member_string(w, "path", p->target);
        json_member_string(w, "state", p->active ? "running" : "inactive");
        json_member_bool(w, "active", p->active);
        json_member_bool(w, "persistent", p->persistent);
        json_member_bool(w, "autostart", p->autostart);
        json_member_unsigned(w, "capacity", p->capacity);
        json_member_unsigned(w, "allocation", p->allocation);
        json_member_unsigned(w, "available", p->available);
        json_end_object(w);
}

int verb_pool_list(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        bool details = verb_flag(a, "details");
        JsonWriter w;
        const char *path;
        int r;

        r = ctl_manager_list(c, "ListPools", a, &reply);
        if (r < 0)
                return r;
        t = table_new(details ? 7 : 3, (const char *const[]) { "Name", "State", "Autostart", "Persistent",
                                                               "Capacity", "Allocation", "Available" });
        if (!t)
                return ctl_error(-ENOMEM, "Out of memory");
        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&w, stdout, c->json);
                json_begin_array(&w);
        }
        while ((r = sd_bus_message_read(reply, "o", &path)) > 0) {
                PoolRow p = {};
                char cap[32] = "-", alloc[32] = "-", avail[32] = "-";

                r = pool_row_get(c, path, &p);
                if (r < 0 || c->json != JSON_FORMAT_OFF) {
                        if (r >= 0)
                                pool_row_json(&w, &p);
                        pool_row_done(&p);
                        continue;   /* (an error: gone meanwhile) */
                }
                if (p.active) {
                        storage_format_size(p.capacity, cap, sizeof(cap));
                        storage_format_size(p.allocation, alloc, sizeof(alloc));
                        storage_format_size(p.available, avail, sizeof(avail));
                }
                r = table_add_row(t, (const char *const[]) { p.name, p.active ? "active" : "inactive",
                                                             p.autostart ? "yes" : "no", p.persistent ? "yes" : "no",
                                                             cap, alloc, avail });
                pool_row_done(&p);
                if (r < 0)
                        return ctl_error(r, "Out of memory");
        }
        if (c->json != JSON_FORMAT_OFF) {
                json_end_array(&w);
                return 0;
        }
        table_print(t, stdout, true);
        printf("\n");
        return 0;
}

static char *pool_name_of(Context *c, const char *path) {
        return ctl_object_name(c, path, VMGMT_POOL_IFACE);
}

int verb_pool_define(Context *c, VerbArgs *a) {
        _cleanup_free_ char *xml = NULL, *path = NULL, *name = NULL;
        bool create = streq(a->verb, "pool-create");
        int r;

        r = storage_read_file(a->args[0], &xml);
        if (r < 0)
                return r;
        r = ctl_manager_call_path(c, create ? "CreatePool" : "DefinePool", xml, true, &path);
        if (r < 0)
                return r;
        name = path ? pool_name_of(c, path) : NULL;
        ctl_info("Pool %s %s from %s", strempty(name), create ? "created" : "defined", a->args[0]);
        return 0;
}

/* virsh pool-define-as NAME TYPE [SOURCE-HOST] [SOURCE-PATH] [SOURCE-DEV] [SOURCE-NAME] [TARGET]
 * ("-" for none), or the same as --source-host … --target options. */
int verb_pool_define_as(Context *c, VerbArgs *a) {
        static const char *const keys[] = { "source-host", "source-path", "source-dev", "source-name", "target" };
        const char *v[5] = {};
        _cleanup_free_ char *xml = NULL, *path = NULL;
        bool create = streq(a->verb, "pool-create-as");
        size_t len = 0;
        FILE *f;
        int r;

        for (size_t i = 0; i < 5; i++) {
                v[i] = verb_value(a, keys[i]);
                if (!v[i] && a->n_args > 2 + i && !streq(a->args[2 + i], "-"))
                        v[i] = a->args[2 + i];
        }
        f = open_memstream(&xml, &len);
        if (!f)
                return ctl_error(-ENOMEM, "Out of memory");
        fputs("<pool type='", f);
        storage_xml_escape_to(f, a->args[1]);
        fputs("'>\n  <name>", f);
        storage_xml_escape_to(f, a->args[0]);
        fputs("</name>\n", f);
        const char *auth_type = verb_value(a, "auth-type"), *auth_user = verb_value(a, "auth-username");
        const char *secret_usage = verb_value(a, "secret-usage"), *secret_uuid = verb_value(a, "secret-uuid");
        const char *initiator = verb_value(a, "source-initiator");
        if ((auth_type || auth_user || secret_usage || secret_uuid) &&
            !(auth_type && auth_user && (secret_usage || secret_uuid))) {
                fclose(f);
                return ctl_error(-EINVAL, "--auth-type, --auth-username and --secret-usage or --secret-uuid go together");
        }
        if (secret_usage && secret_uuid) {
                fclose(f);
                return ctl_error(-EINVAL, "--secret-usage and --secret-uuid are exclusive");
        }
        if (v[0] || v[1] || v[2] || v[3] || verb_value(a, "source-format") || auth_type || initiator) {
                fputs("  <source>\n", f);
                if (v[0]) {
                        /* HOST[:PORT], as virsh */
                        const char *colon = strrchr(v[0], ':');
                        bool port = colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
                                    colon == strchr(v[0], ':');
                        _cleanup_free_ char *host = port ? strndup(v[0], colon - v[0]) : strdup(v[0]);
                        if (!host) {
                                fclose(f);
                                return ctl_error(-ENOMEM, "Out of memory");
                        }
                        fputs("    <host name='", f);
                        storage_xml_escape_to(f, host);
                        if (port) {
                                fputs("' port='", f);
                                storage_xml_escape_to(f, colon + 1);
                        }
                        fputs("'/>\n", f);
                }
                if (v[1]) {
                        fputs("    <dir path='", f);
                        storage_xml_escape_to(f, v[1]);
                        fputs("'/>\n", f);
                }
                if (v[2]) {
                        fputs("    <device path='", f);
                        storage_xml_escape_to(f, v[2]);
                        fputs("'/>\n", f);
                }
                if (v[3]) {
                        fputs("    <name>", f);
                        storage_xml_escape_to(f, v[3]);
                        fputs("</name>\n", f);
                }
                if (verb_value(a, "source-format")) {
                        fputs("    <format type='", f);
                        storage_xml_escape_to(f, verb_value(a, "source-format"));
                        fputs("'/>\n", f);
                }
                if (initiator) {
                        fputs("    <initiator>\n      <iqn name='", f);
                        storage_xml_escape_to(f, initiator);
                        fputs("'/>\n    </initiator>\n", f);
                }
                if (auth_type) {
                        fputs("    <auth type='", f);
                        storage_xml_escape_to(f, auth_type);
                        fputs("' username='", f);
                        storage_xml_escape_to(f, auth_user);
                        fputs(secret_uuid ? "'>\n      <secret uuid='" : "'>\n      <secret usage='", f);
                        storage_xml_escape_to(f, secret_uuid ?: secret_usage);
                        fputs("'/>\n    </auth>\n", f);
                }
                fputs("  </source>\n", f);
        }
        if (v[4]) {
                fputs("  <target>\n    <path>", f);
                storage_xml_escape_to(f, v[4]);
                fputs("</path>\n  </target>\n", f);
        }
        fputs("</pool>\n", f);
        fclose(f);
        if (verb_flag(a, "print-xml")) {
                fputs(xml, stdout);
                return 0;
        }
        r = ctl_manager_call_path(c, create ? "CreatePool" : "DefinePool", xml, true, &path);
        if (r < 0)
                return r;
        ctl_info("Pool %s %s", a->args[0], create ? "created" : "defined");
        return 0;
}

/* pool-build, pool-start, pool-destroy, pool-delete, pool-undefine, pool-refresh */
int verb_pool_simple(Context *c, VerbArgs *a) {
        static const struct { const char *verb, *member, *done; } table[] = {
                { "pool-build", "Build", "built" },
                { "pool-start", "Start", "started" },
                { "pool-destroy", "Stop", "destroyed" },
                { "pool-delete", "Delete", "deleted" },
                { "pool-undefine", "Undefine", "has been undefined" },
                { "pool-refresh", "Refresh", "refreshed" },
        };
        _cleanup_free_ char *path = NULL, *name = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (!streq(a->verb, table[i].verb))
                        continue;
                r = pool_resolve(c, a->args[0], &path);
                if (r < 0)
                        return r;
                name = pool_name_of(c, path);
                r = ctl_object_call(c, path, VMGMT_POOL_IFACE, table[i].member, "overwrite", verb_flag(a, "overwrite"),
                                    "no_overwrite", verb_flag(a, "no-overwrite"), NULL);
                if (r < 0)
                        return r;
                ctl_info("Pool %s %s", name ?: a->args[0], table[i].done);
                return 0;
        }
        return ctl_error(-EINVAL, "Unknown verb %s", a->verb);
}

int verb_pool_autostart(Context *c, VerbArgs *a) {
        return ctl_verb_autostart(c, a, "Pool", VMGMT_POOL_IFACE, "GetPool");
}

int verb_pool_info(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL;
        PoolRow p = {};
        char buf[32];
        int r;

        r = pool_resolve(c, a->args[0], &path);
        if (r < 0)
                return r;
        r = pool_row_get(c, path, &p);
        if (r < 0) {
                pool_row_done(&p);
                return r;
        }
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;
                json_writer_init(&w, stdout, c->json);
                pool_row_json(&w, &p);
                pool_row_done(&p);
                return 0;
        }
        printf("%-15s %s\n", "Name:", p.name);
        printf("%-15s %s\n", "UUID:", p.uuid);
        printf("%-15s %s\n", "State:", p.active ? "running" : "inactive");
        printf("%-15s %s\n", "Persistent:", p.persistent ? "yes" : "no");
        printf("%-15s %s\n", "Autostart:", p.autostart ? "yes" : "no");
        if (p.active) {
                storage_format_size(p.capacity, buf, sizeof(buf));
                printf("%-15s %s\n", "Capacity:", buf);
                storage_format_size(p.allocation, buf, sizeof(buf));
                printf("%-15s %s\n", "Allocation:", buf);
                storage_format_size(p.available, buf, sizeof(buf));
                printf("%-15s %s\n", "Available:", buf);
        }
        pool_row_done(&p);
        return 0;
}

int verb_pool_dumpxml(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *xml = NULL;
        int r;

        r = pool_resolve(c, a->args[0], &path);
        if (r < 0)
                return r;
        r = ctl_get_xml(c, path, VMGMT_POOL_IFACE, verb_flag(a, "inactive"), false, &xml);
        if (r < 0)
                return r;
        fputs(xml, stdout);
        return 0;
}

/* pool-edit POOL: the persistent definition through $VISUAL/$EDITOR, then
 * DefinePool (an active pool takes it at its next start). */
int verb_pool_edit(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL, *xml = NULL, *edited = NULL, *file = NULL, *new_path = NULL;
        int r;

        r = pool_resolve(c, a->args[0], &path);
        if (r < 0)
                return r;
        name = pool_name_of(c, path);
        r = ctl_get_xml(c, path, VMGMT_POOL_IFACE, true, false, &xml);
        if (r < 0)
                return r;
        r = ctl_edit_text(xml, "vmgmtctl-pool-edit", &file, &edited);
        if (r < 0)
                return r;
        if (streq(edited, xml)) {
                (void) unlink(file);
                ctl_info("Pool %s XML configuration not changed.", name ?: a->args[0]);
                return 0;
        }
        while ((r = ctl_manager_call_path(c, "DefinePool", edited, true, &new_path)) < 0) {
                free(edited);
                edited = NULL;
                if (ctl_edit_again(file, &edited) <= 0)
                        return r;
        }
        (void) unlink(file);
        ctl_info("Pool %s XML configuration edited.", name ?: a->args[0]);
        return 0;
}
