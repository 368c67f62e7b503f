/* vmgmtctl-snapshot.c — virsh's snapshot-* verbs over org.vmgmt.Domain's CreateSnapshot/ListSnapshots and org.vmgmt.Snapshot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmgmtctl.h"

#define VMGMT_SNAPSHOT_IFACE "org.vmgmt.Snapshot"
#define SNAPSHOT_CALL_TIMEOUT_USEC (30ull * 60 * 1000000)   /* a revert of a big guest; bounds a hang only */

typedef struct SnapRow {
        char *path;
        char *name;
        char *description;
        char *state;
        char *parent;           /* path, "/" for none */
        uint64_t creation_time;
        bool current;
} SnapRow;

/* An object-path property (sd_bus_get_property_string() reads only 's'). */
static int get_path_property(Context *c, const char *path, const char *iface, const char *name, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *v;
        int r;

        r = sd_bus_get_property(c->bus, VMGMT_BUS_NAME, path, iface, name, &error, &reply, "o");
        if (r < 0)
                return ctl_bus_error(&error, r);
        r = sd_bus_message_read(reply, "o", &v);   /* positioned in the variant */
        if (r < 0)
                return ctl_error(r, "Failed to read %s: %s", name, strerror(-r));
        *ret = strdup(v);
        return *ret ? 0 : ctl_error(-ENOMEM, "Out of memory");
}

static void snap_row_done(SnapRow *s) {
        free(s->path);
        free(s->name);
        free(s->description);
        free(s->state);
        free(s->parent);
        *s = (SnapRow) {};
}

static int snap_row_get(Context *c, const char *path, SnapRow *s) {
        int b = 0, r;

        s->path = strdup(path);
        r = storage_get_string(c, path, VMGMT_SNAPSHOT_IFACE, "Name", &s->name);
        if (r >= 0)
                r = storage_get_string(c, path, VMGMT_SNAPSHOT_IFACE, "Description", &s->description);
        if (r >= 0)
                r = storage_get_string(c, path, VMGMT_SNAPSHOT_IFACE, "State", &s->state);
        if (r >= 0)
                r = get_path_property(c, path, VMGMT_SNAPSHOT_IFACE, "Parent", &s->parent);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_SNAPSHOT_IFACE, "CreationTime", 't', &s->creation_time);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_SNAPSHOT_IFACE, "IsCurrent", 'b', &b);
        s->current = b;
        return r;
}

/* All snapshots of the domain at dpath (ListSnapshots with flags), oldest first. */
static int snap_list(Context *c, const char *dpath, bool roots, bool leaves, SnapRow **ret, size_t *ret_n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        SnapRow *rows = NULL;
        size_t n = 0;
        const char *p;
        int r;

        r = ctl_new_call(c, dpath, VMGMT_DOMAIN_IFACE, "ListSnapshots", &m);
        if (r >= 0)
                r = ctl_append_flags(m, "roots", roots, "leaves", leaves, NULL);
        if (r >= 0)
                r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "o");
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        while ((r = sd_bus_message_read(reply, "o", &p)) > 0) {
                rows = realloc(rows, (n + 1) * sizeof(SnapRow));
                if (!rows)
                        return ctl_error(-ENOMEM, "Out of memory");
                rows[n] = (SnapRow) {};
                if (snap_row_get(c, p, &rows[n]) < 0) {
                        snap_row_done(&rows[n]);
                        continue;   /* gone meanwhile */
                }
                n++;
        }
        *ret = rows;
        *ret_n = n;
        return 0;
}

static void snap_rows_free(SnapRow *rows, size_t n) {
        for (size_t i = 0; i < n; i++)
                snap_row_done(&rows[i]);
        free(rows);
}

static const char *snap_name_of(const SnapRow *rows, size_t n, const char *path) {
        for (size_t i = 0; i < n; i++)
                if (streq(rows[i].path, path))
                        return rows[i].name;
        return NULL;
}

/* virsh's "2024-01-31 12:00:00 +0000" */
static void format_creation(uint64_t t, char *buf, size_t size) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (!localtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
                snprintf(buf, size, "%llu", (unsigned long long) t);
}

/* The path of snapshot `name` (or the current one) of the domain at dpath. */
static int snap_resolve(Context *c, const char *dpath, const char *name, bool current, char **ret) {
        if (current || !name) {
                _cleanup_free_ char *p = NULL;
                int r = get_path_property(c, dpath, VMGMT_DOMAIN_IFACE, "CurrentSnapshot", &p);
                if (r < 0)
                        return r;
                if (streq(p, "/"))
                        return ctl_error(-ENOENT, "the domain has no current snapshot");
                *ret = TAKE_PTR(p);
                return 0;
        }
        {
                _cleanup_free_ char *dname = NULL;
                int r = domain_path_to_name(dpath, &dname);
                if (r >= 0)
                        r = sd_bus_path_encode_many(ret, VMGMT_DOMAIN_PATH_PREFIX "/%/snapshot/%", dname, name);
                if (r < 0)
                        return ctl_error(r, "Cannot name snapshot '%s': %s", name, strerror(-r));
        }
        return 0;
}

/* Sends m with a long timeout (reverts and deletes are answered when done). */
static int snap_call_long(Context *c, sd_bus_message *m, sd_bus_message **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        ctl_polkit_agent_open_for(c, m);
        r = sd_bus_call(c->bus, m, SNAPSHOT_CALL_TIMEOUT_USEC, &error, ret);
        if (r < 0)
                return ctl_bus_error(&error, r);
        return 0;
}

/* {"name": …, "path": …} of one snapshot. */
static void print_json_name_path(Context *c, const char *name, const char *path) {
        JsonWriter w;

        json_writer_init(&w, stdout, c->json);
        json_begin_object(&w);
        json_member_string(&w, "name", name);
        json_member_string(&w, "path", path);
        json_end_object(&w);
}

/* CreateSnapshot(xml, flags) and, for a job, its end; prints virsh's line. */
static int snap_create(Context *c, const char *dpath, const char *xml, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL;
        bool no_metadata = verb_flag(a, "no-metadata");
        int r;

        r = ctl_new_call(c, dpath, VMGMT_DOMAIN_IFACE, "CreateSnapshot", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", xml);
        if (r >= 0)
                r = ctl_append_flags(m, "redefine", verb_flag(a, "redefine"), "no_metadata", no_metadata,
                                     "disk_only", verb_flag(a, "disk-only"), "atomic", verb_flag(a, "atomic"),
                                     "live", verb_flag(a, "live"), "quiesce", verb_flag(a, "quiesce"), NULL);
        if (r < 0)
                return ctl_error(r, "Failed to build the call: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r >= 0)
                r = ctl_reply_read_path(reply, "CreateSnapshot", &path);
        if (r < 0)
                return r;
        if (strncmp(path, "/org/vmgmt/job/", 15) == 0) {
                r = ctl_follow_job(c, path);
                if (r < 0)
                        return r;
                free(path);
                path = NULL;
                if (!no_metadata) {
                        r = snap_resolve(c, dpath, NULL, true, &path);
                        if (r < 0)
                                return r;
                }
        }
        if (path)
                name = ctl_object_name(c, path, VMGMT_SNAPSHOT_IFACE);
        if (c->json != JSON_FORMAT_OFF) {
                print_json_name_path(c, name, path);
                return 0;
        }
        if (verb_flag(a, "redefine"))
                ctl_info("Domain snapshot %s created from '%s'", strempty(name), a->n_args > 1 ? a->args[1] : "-");
        else if (name)
                ctl_info("Domain snapshot %s created", name);
        else
                ctl_info("Domain snapshot created (no metadata kept)");
        return 0;
}

static void xml_elem(FILE *f, const char *name, const char *text) {
        fprintf(f, "  <%s>", name);
        storage_xml_escape_to(f, text);
        fprintf(f, "</%s>\n", name);
}

static void xml_attr(FILE *f, const char *name, const char *v) {
        if (!v)
                return;
        fprintf(f, " %s='", name);
        storage_xml_escape_to(f, v);
        fputc('\'', f);
}

/* --diskspec vda[,snapshot=TYPE][,driver=TYPE][,file=PATH] and --memspec [file=]PATH|snapshot=TYPE,… as virsh. */
static int spec_append(FILE *f, const char *spec, bool disk) {
        _cleanup_free_ char *copy = strdup(spec);
        const char *snap = NULL, *file = NULL, *driver = NULL, *name = NULL;
        char *save = NULL, *p;
        bool first = true;

        if (!copy)
                return ctl_error(-ENOMEM, "Out of memory");
        for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save), first = false) {
                if (strncmp(p, "snapshot=", 9) == 0)
                        snap = p + 9;
                else if (strncmp(p, "file=", 5) == 0)
                        file = p + 5;
                else if (disk && strncmp(p, "driver=", 7) == 0)
                        driver = p + 7;
                else if (disk && first)
                        name = p;
                else if (!disk && first && !strchr(p, '='))
                        file = p;
                else
                        return ctl_error(-EINVAL, "cannot read '%s' in --%sspec '%s'", p, disk ? "disk" : "mem", spec);
        }
        if (disk && isempty(name))
                return ctl_error(-EINVAL, "--diskspec '%s' names no disk", spec);
        if (!disk) {
                fputs("  <memory", f);
                xml_attr(f, "snapshot", snap);
                xml_attr(f, "file", file);
                fputs("/>\n", f);
                return 0;
        }
        fputs("    <disk", f);
        xml_attr(f, "name", name);
        xml_attr(f, "snapshot", snap);
        if (!file && !driver) {
                fputs("/>\n", f);
                return 0;
        }
        fputs(">\n", f);
        if (driver) {
                fputs("      <driver", f);
                xml_attr(f, "type", driver);
                fputs("/>\n", f);
        }
        if (file) {
                fputs("      <source", f);
                xml_attr(f, "file", file);
                fputs("/>\n", f);
        }
        fputs("    </disk>\n", f);
        return 0;
}

int verb_snapshot_create_as(Context *c, VerbArgs *a) {
        _cleanup_free_ char *dpath = NULL, *dname = NULL, *xml = NULL;
        const char *name = a->n_args > 1 ? a->args[1] : verb_value(a, "name");
        const char *desc = verb_value(a, "description");
        const char *memspec = verb_value(a, "memspec");
        size_t len = 0;
        FILE *f = open_memstream(&xml, &len);
        int r = 0;

        if (!f)
                return ctl_error(-ENOMEM, "Out of memory");
        fputs("<domainsnapshot>\n", f);
        if (name)
                xml_elem(f, "name", name);
        if (desc)
                xml_elem(f, "description", desc);
        if (memspec)
                r = spec_append(f, memspec, false);
        if (r >= 0 && verb_value(a, "diskspec")) {
                const char *spec;

                fputs("  <disks>\n", f);
                for (size_t i = 0; r >= 0 && (spec = verb_value_n(a, "diskspec", i)); i++)
                        r = spec_append(f, spec, true);
                fputs("  </disks>\n", f);
        }
        fputs("</domainsnapshot>\n", f);
        if (fclose(f) != 0 && r >= 0)
                r = ctl_error(-ENOMEM, "Out of memory");
        if (r < 0)
                return r;
        if (verb_flag(a, "print-xml")) {
                fputs(xml, stdout);
                return 0;
        }
        r = domain_resolve(c, a->args[0], &dpath, &dname);
        if (r < 0)
                return r;
        return snap_create(c, dpath, xml, a);
}

int verb_snapshot_create(Context *c, VerbArgs *a) {
        _cleanup_free_ char *dpath = NULL, *dname = NULL, *xml = NULL;
        int r;

        if (a->n_args > 1) {
                r = storage_read_file(a->args[1], &xml);
                if (r < 0)
                        return r;
        } else
                xml = strdup("<domainsnapshot/>");
        r = domain_resolve(c, a->args[0], &dpath, &dname);
        if (r < 0)
                return r;
        return snap_create(c, dpath, xml, a);
}

static void print_tree(const SnapRow *rows, size_t n, const char *parent, const char *prefix) {
        size_t kids = 0, seen = 0;

        for (size_t i = 0; i < n; i++)
                if (streq(rows[i].parent, parent))
                        kids++;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *sub = NULL;
                bool last;

                if (!streq(rows[i].parent, parent))
                        continue;
                last = ++seen == kids;
                if (streq(parent, "/")) {
                        printf("%s\n", rows[i].name);
                        sub = strdup("  ");
                } else {
                        printf("%s|\n%s+- %s\n", prefix, prefix, rows[i].name);
                        if (asprintf(&sub, "%s%s", prefix, last ? "    " : "|   ") < 0)
                                sub = NULL;
                }
                if (!sub)
                        return;
                print_tree(rows, n, rows[i].path, sub);
                if (streq(parent, "/"))
                        printf("\n");
        }
}

int verb_snapshot_list(Context *c, VerbArgs *a) {
        _cleanup_free_ char *dpath = NULL, *dname = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        bool parent = verb_flag(a, "parent");
        SnapRow *rows = NULL;
        size_t n = 0;
        int r;

        r = domain_resolve(c, a->args[0], &dpath, &dname);
        if (r < 0)
                return r;
        r = snap_list(c, dpath, verb_flag(a, "roots"), verb_flag(a, "leaves"), &rows, &n);
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;
                json_writer_init(&w, stdout, c->json);
                json_begin_array(&w);
                for (size_t i = 0; i < n; i++) {
                        json_begin_object(&w);
                        json_member_string(&w, "name", rows[i].name);
                        json_member_string(&w, "path", rows[i].path);
                        json_member_unsigned(&w, "creation_time", rows[i].creation_time);
                        json_member_string(&w, "state", rows[i].state);
                        json_member_string(&w, "parent", streq(rows[i].parent, "/") ? NULL : snap_name_of(rows, n, rows[i].parent));
                        json_member_bool(&w, "current", rows[i].current);
                        json_end_object(&w);
                }
                json_end_array(&w);
        } else if (verb_flag(a, "tree")) {
                print_tree(rows, n, "/", "  ");
        } else if (verb_flag(a, "name")) {
                for (size_t i = 0; i < n; i++)
                        printf("%s\n", rows[i].name);
        } else {
                t = parent ? table_new(4, (const char *const[]) { "Name", "Creation Time", "State", "Parent" })
                           : table_new(3, (const char *const[]) { "Name", "Creation Time", "State" });
                for (size_t i = 0; t && i < n; i++) {
                        char when[64];
                        const char *p = snap_name_of(rows, n, rows[i].parent);

                        format_creation(rows[i].creation_time, when, sizeof(when));
                        if (table_add_row(t, (const char *const[]) { rows[i].name, when, rows[i].state, p ?: "" }) < 0)
                                break;
                }
                if (t) {
                        table_print(t, stdout, true);
                        printf("\n");
                }
        }
        snap_rows_free(rows, n);
        return 0;
}

int verb_snapshot_info(Context *c, VerbArgs *a) {
        _cleanup_free_ char *dpath = NULL, *dname = NULL, *spath = NULL, *xml = NULL;
        SnapRow s = {}, *rows = NULL;
        size_t n = 0, children = 0, descendants = 0;
        const char *location;
        int r;

        r = domain_resolve(c, a->args[0], &dpath, &dname);
        if (r >= 0)
                r = snap_resolve(c, dpath, a->n_args > 1 ? a->args[1] : NULL, verb_flag(a, "current"), &spath);
        if (r >= 0)
                r = snap_row_get(c, spath, &s);
        if (r >= 0)
                r = snap_list(c, dpath, false, false, &rows, &n);
        if (r >= 0)
                r = ctl_get_xml(c, spath, VMGMT_SNAPSHOT_IFACE, false, false, &xml);
        if (r < 0) {
                snap_row_done(&s);
                snap_rows_free(rows, n);
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                const char *p = rows[i].parent;
                unsigned depth = 0;
                if (streq(p, spath))
                        children++;
                while (!streq(p, "/") && depth++ < n) {
                        const char *next = "/";
                        if (streq(p, spath)) {
                                descendants++;
                                break;
                        }
                        for (size_t k = 0; k < n; k++)
                                if (streq(rows[k].path, p))
                                        next = rows[k].parent;
                        p = next;
                }
        }
        location = strstr(xml, "snapshot='external'") ? "external" : "internal";
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;
                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                json_member_string(&w, "name", s.name);
                json_member_string(&w, "domain", dname);
                json_member_bool(&w, "current", s.current);
                json_member_string(&w, "state", s.state);
                json_member_string(&w, "location", location);
                json_member_string(&w, "parent", snap_name_of(rows, n, s.parent));
                json_member_unsigned(&w, "children", children);
                json_member_unsigned(&w, "descendants", descendants);
                json_member_unsigned(&w, "creation_time", s.creation_time);
                json_end_object(&w);
        } else {
                printf("%-15s %s\n", "Name:", s.name);
                printf("%-15s %s\n", "Domain:", dname);
                printf("%-15s %s\n", "Current:", s.current ? "yes" : "no");
                printf("%-15s %s\n", "State:", s.state);
                printf("%-15s %s\n", "Location:", location);
                printf("%-15s %s\n", "Parent:", snap_name_of(rows, n, s.parent) ?: "-");
                printf("%-15s %zu\n", "Children:", children);
                printf("%-15s %zu\n", "Descendants:", descendants);
                printf("%-15s %s\n", "Metadata:", "yes");
        }
        snap_row_done(&s);
        snap_rows_free(rows, n);
        return 0;
}

int verb_snapshot_dumpxml(Context *c, VerbArgs *a) {
        _cleanup_free_ char *dpath = NULL, *dname = NULL, *spath = NULL, *xml = NULL;
        int r;

        r = domain_resolve(c, a->args[0], &dpath, &dname);
        if (r >= 0)
                r = snap_resolve(c, dpath, a->args[1], false, &spath);
        if (r >= 0)
                r = ctl_get_xml(c, spath, VMGMT_SNAPSHOT_IFACE, false, false, &xml);
        if (r < 0)
                return r;
        fputs(xml, stdout);
        return 0;
}

int verb_snapshot_current(Context *c, VerbArgs *a) {
        _cleanup_free_ char *dpath = NULL, *dname = NULL, *spath = NULL, *xml = NULL, *name = NULL;
        int r;

        r = domain_resolve(c, a->args[0], &dpath, &dname);
        if (r >= 0)
                r = snap_resolve(c, dpath, NULL, true, &spath);
        if (r < 0)
                return r;
        if (verb_flag(a, "name") || c->json != JSON_FORMAT_OFF) {
                name = ctl_object_name(c, spath, VMGMT_SNAPSHOT_IFACE);
                if (c->json != JSON_FORMAT_OFF)
                        print_json_name_path(c, name, spath);
                else
                        printf("%s\n", strempty(name));
                return 0;
        }
        r = ctl_get_xml(c, spath, VMGMT_SNAPSHOT_IFACE, false, false, &xml);
        if (r < 0)
                return r;
        fputs(xml, stdout);
        return 0;
}

int verb_snapshot_revert(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *dpath = NULL, *dname = NULL, *spath = NULL;
        int r;

        if (a->n_args < 2 && !verb_flag(a, "current"))
                return ctl_error(-EINVAL, "name a snapshot or give --current");
        r = domain_resolve(c, a->args[0], &dpath, &dname);
        if (r >= 0)
                r = snap_resolve(c, dpath, a->n_args > 1 ? a->args[1] : NULL, verb_flag(a, "current"), &spath);
        if (r >= 0)
                r = ctl_new_call(c, spath, VMGMT_SNAPSHOT_IFACE, "Revert", &m);
        if (r >= 0)
                r = ctl_append_flags(m, "running", verb_flag(a, "running"), "paused", verb_flag(a, "paused"), "force",
                                     verb_flag(a, "force"), NULL);
        if (r >= 0)
                r = snap_call_long(c, m, NULL);
        return r < 0 ? r : 0;
}

int verb_snapshot_delete(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *dpath = NULL, *dname = NULL, *spath = NULL, *name = NULL;
        bool children_only = verb_flag(a, "children-only");
        int r;

        if (a->n_args < 2 && !verb_flag(a, "current"))
                return ctl_error(-EINVAL, "name a snapshot or give --current");
        r = domain_resolve(c, a->args[0], &dpath, &dname);
        if (r >= 0)
                r = snap_resolve(c, dpath, a->n_args > 1 ? a->args[1] : NULL, verb_flag(a, "current"), &spath);
        if (r < 0)
                return r;
        name = ctl_object_name(c, spath, VMGMT_SNAPSHOT_IFACE);
        r = ctl_new_call(c, spath, VMGMT_SNAPSHOT_IFACE, "Delete", &m);
        if (r >= 0)
                r = ctl_append_flags(m, "children", verb_flag(a, "children"), "children_only", children_only,
                                     "metadata_only", verb_flag(a, "metadata"), NULL);
        if (r >= 0)
                r = snap_call_long(c, m, NULL);
        if (r < 0)
                return r;
        if (c->json == JSON_FORMAT_OFF)
                printf(children_only ? "Domain snapshot %s children deleted\n" : "Domain snapshot %s deleted\n",
                       strempty(name));
        return 0;
}
