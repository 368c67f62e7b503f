/* vmgmtctl-osinfo.c — osinfo-list, osinfo and osinfo-detect: libosinfo's OS database as vmgmtd serves it
 * (Manager.ListOSInfo, GetOSInfo, DetectOSInfo), as tables and readable dicts or as JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmgmtctl-osinfo.h"

/* The dicts of those replies, read whole: values of type s, b, u, t, as, a{sv} and aa{sv}. */
typedef struct OsDict OsDict;
typedef struct OsItem {
        char *key;
        char type;                 /* 's', 'b', 'u', 't', 'A' (as), 'D' (a{sv}), 'L' (aa{sv}) */
        char *s;
        uint64_t u;                /* b, u, t */
        char **strv;               /* as: n entries */
        OsDict *dicts;             /* a{sv}: one; aa{sv}: n */
        size_t n;
} OsItem;

struct OsDict {
        OsItem *items;
        size_t n;
};

static void os_dict_done(OsDict *d) {
        for (size_t i = 0; i < d->n; i++) {
                OsItem *it = &d->items[i];
                free(it->key);
                free(it->s);
                for (size_t j = 0; it->strv && j < it->n; j++)
                        free(it->strv[j]);
                free(it->strv);
                for (size_t j = 0; it->dicts && j < (it->type == 'D' ? 1 : it->n); j++)
                        os_dict_done(&it->dicts[j]);
                free(it->dicts);
        }
        free(d->items);
        *d = (OsDict) {};
}

static int os_dict_read(sd_bus_message *m, OsDict *d);

static int os_item_read_value(sd_bus_message *m, OsItem *it, const char *contents) {
        int r;

        if (streq(contents, "s") || streq(contents, "b") || streq(contents, "u") || streq(contents, "t")) {
                const char *s;
                int b;
                uint32_t u;

                it->type = contents[0];
                if (it->type == 's') {
                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r >= 0 && !(it->s = strdup(s)))
                                r = -ENOMEM;
                } else if (it->type == 'b') {
                        r = sd_bus_message_read(m, "v", "b", &b);
                        it->u = b;
                } else if (it->type == 'u') {
                        r = sd_bus_message_read(m, "v", "u", &u);
                        it->u = u;
                } else
                        r = sd_bus_message_read(m, "v", "t", &it->u);
                return r;
        }
        if (streq(contents, "as")) {
                it->type = 'A';
                r = sd_bus_message_enter_container(m, 'v', "as");
                if (r >= 0)
                        r = sd_bus_message_read_strv(m, &it->strv);
                for (it->n = 0; r >= 0 && it->strv && it->strv[it->n]; it->n++)
                        ;
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                return r;
        }
        if (streq(contents, "a{sv}")) {
                it->type = 'D';
                it->dicts = calloc(1, sizeof(OsDict));
                if (!it->dicts)
                        return -ENOMEM;
                r = sd_bus_message_enter_container(m, 'v', "a{sv}");
                if (r >= 0)
                        r = os_dict_read(m, it->dicts);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                return r;
        }
        if (streq(contents, "aa{sv}")) {
                it->type = 'L';
                r = sd_bus_message_enter_container(m, 'v', "aa{sv}");
                if (r >= 0)
                        r = sd_bus_message_enter_container(m, 'a', "a{sv}");
                while (r >= 0) {
                        OsDict *more = realloc(it->dicts, (it->n + 1) * sizeof(OsDict));
                        if (!more)
                                return -ENOMEM;
                        it->dicts = more;
                        it->dicts[it->n] = (OsDict) {};
                        r = os_dict_read(m, &it->dicts[it->n]);
                        if (r <= 0)
                                break;
                        it->n++;
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                return r;
        }
        it->type = 0;
        return sd_bus_message_skip(m, "v");
}

/* Reads an a{sv} at the current position into d. Returns 1, 0 at the end of an enclosing array, or a negative errno. */
static int os_dict_read(sd_bus_message *m, OsDict *d) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r <= 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;
                OsItem *more;
                char type;

                r = sd_bus_message_read(m, "s", &key);
                if (r >= 0)
                        r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                more = realloc(d->items, (d->n + 1) * sizeof(OsItem));
                if (!more)
                        return -ENOMEM;
                d->items = more;
                d->items[d->n] = (OsItem) { .key = strdup(key) };
                if (!d->items[d->n].key)
                        return -ENOMEM;
                r = os_item_read_value(m, &d->items[d->n++], contents);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        return r < 0 ? r : 1;
}

static const OsItem *os_dict_get(const OsDict *d, const char *key) {
        for (size_t i = 0; d && i < d->n; i++)
                if (streq(d->items[i].key, key))
                        return &d->items[i];
        return NULL;
}

static const char *os_dict_string(const OsDict *d, const char *key) {
        const OsItem *it = os_dict_get(d, key);
        return it && it->type == 's' ? it->s : NULL;
}

/* ---- JSON ---- */

static void os_dict_json(JsonWriter *w, const OsDict *d) {
        json_begin_object(w);
        for (size_t i = 0; i < d->n; i++) {
                const OsItem *it = &d->items[i];

                if (!it->type)
                        continue;
                json_key(w, it->key);
                switch (it->type) {
                case 's':
                        json_string(w, it->s);
                        break;
                case 'b':
                        json_bool(w, it->u);
                        break;
                case 'u':
                case 't':
                        json_unsigned(w, it->u);
                        break;
                case 'A':
                        json_begin_array(w);
                        for (size_t j = 0; j < it->n; j++)
                                json_string(w, it->strv[j]);
                        json_end_array(w);
                        break;
                case 'D':
                        os_dict_json(w, it->dicts);
                        break;
                case 'L':
                        json_begin_array(w);
                        for (size_t j = 0; j < it->n; j++)
                                os_dict_json(w, &it->dicts[j]);
                        json_end_array(w);
                        break;
                }
        }
        json_end_object(w);
}

/* ---- readable ---- */

static void print_size(const char *label, uint64_t bytes, bool mib) {
        if (mib || bytes % (UINT64_C(1024) * 1024 * 1024) != 0)
                printf("  %-12s %" PRIu64 " MiB\n", label, bytes / (UINT64_C(1024) * 1024));
        else
                printf("  %-12s %" PRIu64 " GiB\n", label, bytes / (UINT64_C(1024) * 1024 * 1024));
}

static void print_resources(const char *title, const OsItem *it) {
        const OsItem *v;

        if (!it || it->type != 'D' || it->dicts->n == 0) {
                printf("%-15s-\n", title);
                return;
        }
        printf("%s\n", title);
        if ((v = os_dict_get(it->dicts, "ram")))
                print_size("ram:", v->u, true);
        if ((v = os_dict_get(it->dicts, "vcpus")))
                printf("  %-12s %" PRIu64 "\n", "vcpus:", v->u);
        if ((v = os_dict_get(it->dicts, "storage")))
                print_size("storage:", v->u, false);
}

static void print_strv(const char *title, const OsItem *it) {
        printf("%-15s", title);
        for (size_t j = 0; it && it->type == 'A' && j < it->n; j++)
                printf("%s%s", j ? ", " : "", it->strv[j]);
        if (!it || it->type != 'A' || it->n == 0)
                printf("-");
        printf("\n");
}

static void print_line(const char *title, const char *value) {
        printf("%-15s%s\n", title, isempty(value) ? "-" : value);
}

static void print_bool(const char *title, const OsItem *it) {
        print_line(title, it && it->u ? "yes" : "no");
}

/* A title whose entries follow on lines of their own, or "-" when there are none. */
static void print_heading(const char *title, bool entries) {
        if (entries)
                printf("%s\n", title);
        else
                printf("%-15s-\n", title);
}

static void print_os(const OsDict *d) {
        static const struct { const char *key, *title; } lines[] = {
                { "id", "ID:" }, { "short_id", "Short ID:" }, { "name", "Name:" }, { "vendor", "Vendor:" },
                { "version", "Version:" }, { "family", "Family:" }, { "distro", "Distro:" },
                { "release_date", "Release date:" }, { "eol_date", "EOL date:" },
        };
        const OsItem *it;

        for (size_t i = 0; i < ELEMENTSOF(lines); i++)
                print_line(lines[i].title, os_dict_string(d, lines[i].key));
        print_strv("Short IDs:", os_dict_get(d, "short_ids"));
        print_resources("Minimum:", os_dict_get(d, "minimum"));
        print_resources("Recommended:", os_dict_get(d, "recommended"));
        print_resources("Maximum:", os_dict_get(d, "maximum"));
        print_bool("Virtio:", os_dict_get(d, "virtio"));
        print_bool("Q35:", os_dict_get(d, "q35"));
        print_strv("Firmware:", os_dict_get(d, "firmware"));
        print_strv("Devices:", os_dict_get(d, "devices"));
        it = os_dict_get(d, "install_media");
        print_heading("Install media:", it && it->type == 'L' && it->n > 0);
        for (size_t j = 0; it && it->type == 'L' && j < it->n; j++) {
                const OsDict *m = &it->dicts[j];
                const OsItem *installer = os_dict_get(m, "installer"), *live = os_dict_get(m, "live");
                const char *vol = os_dict_string(m, "volume_id");

                printf("  %-8s %s%s%s%s%s%s\n", strempty(os_dict_string(m, "arch")),
                       isempty(os_dict_string(m, "url")) ? "(no URL)" : os_dict_string(m, "url"),
                       isempty(vol) ? "" : " volume id '", strempty(vol), isempty(vol) ? "" : "'",
                       installer && installer->u ? " installer" : "", live && live->u ? " live" : "");
        }
        it = os_dict_get(d, "install_trees");
        print_heading("Install trees:", it && it->type == 'L' && it->n > 0);
        for (size_t j = 0; it && it->type == 'L' && j < it->n; j++) {
                const OsDict *t = &it->dicts[j];
                printf("  %-8s %s (kernel %s, initrd %s)\n", strempty(os_dict_string(t, "arch")),
                       strempty(os_dict_string(t, "url")), strempty(os_dict_string(t, "kernel")),
                       strempty(os_dict_string(t, "initrd")));
        }
}

/* ---- the verbs ---- */

/* Calls member with the message m built by the caller and reads the a{sv} reply into d. */
static int call_dict(Context *c, sd_bus_message *m, const char *what, OsDict *d) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = os_dict_read(reply, d);
        if (r < 0)
                return ctl_error(r, "Failed to read %s: %s", what, strerror(-r));
        return 0;
}

static int print_dict(Context *c, const OsDict *d, bool detected) {
        const OsItem *media;

        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;
                json_writer_init(&w, stdout, c->json);
                os_dict_json(&w, d);
                return 0;
        }
        print_os(d);
        media = detected ? os_dict_get(d, "media") : NULL;
        if (media && media->type == 'D') {
                const OsItem *installer = os_dict_get(media->dicts, "installer"), *live = os_dict_get(media->dicts, "live");
                printf("%-15s%s (%s%s%s)\n", "Medium:", strempty(os_dict_string(media->dicts, "volume_id")),
                       strempty(os_dict_string(media->dicts, "arch")), installer && installer->u ? ", installer" : "",
                       live && live->u ? ", live" : "");
        }
        return 0;
}

/* Sends m (GetOSInfo or DetectOSInfo) and prints the dict it answers. Returns 0 or a printed negative errno. */
static int call_and_print(Context *c, sd_bus_message *m, bool detected) {
        OsDict d = {};
        int r;

        r = call_dict(c, m, "the OS information", &d);
        if (r >= 0)
                r = print_dict(c, &d, detected);
        os_dict_done(&d);
        return r;
}

int verb_osinfo(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "GetOSInfo", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", a->args[0]);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return call_and_print(c, m, false);
}

int verb_osinfo_detect(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        /* the service wants an absolute path; relative ones are the caller's (not over -H) */
        path = a->args[0][0] == '/' || c->host ? strdup(a->args[0]) : realpath(a->args[0], NULL);
        if (!path)
                return ctl_error(-errno, "Cannot resolve '%s': %s", a->args[0], strerror(errno));
        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "DetectOSInfo", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "sa{sv}", path, 0);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return call_and_print(c, m, true);
}

static int append_filter(sd_bus_message *m, const VerbArgs *a) {
        static const struct { const char *option, *key; } strings[] = {
                { "family", "family" }, { "distro", "distro" }, { "vendor", "vendor" }, { "name", "name_contains" },
        };
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(strings); i++)
                if (verb_value(a, strings[i].option))
                        r = sd_bus_message_append(m, "{sv}", strings[i].key, "s", verb_value(a, strings[i].option));
        if (r >= 0 && verb_flag(a, "no-eol"))
                r = sd_bus_message_append(m, "{sv}", "include_eol", "b", 0);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

int verb_osinfo_list(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        JsonWriter w;
        int r;

        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "ListOSInfo", &m);
        if (r < 0)
                return r;
        r = append_filter(m, a);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        if (r < 0)
                return ctl_error(r, "Failed to read the OS list: %s", strerror(-r));
        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&w, stdout, c->json);
                json_begin_array(&w);
        } else {
                t = table_new(4, (const char *const[]) { "Short ID", "Name", "Version", "Release" });
                if (!t)
                        return ctl_error(-ENOMEM, "Out of memory.");
        }
        for (;;) {
                OsDict d = {};

                r = os_dict_read(reply, &d);
                if (r <= 0) {
                        os_dict_done(&d);
                        break;
                }
                if (c->json != JSON_FORMAT_OFF)
                        os_dict_json(&w, &d);
                else {
                        const char *release = os_dict_string(&d, "release_date");
                        const char *cells[] = { isempty(os_dict_string(&d, "short_id")) ? os_dict_string(&d, "id")
                                                                                        : os_dict_string(&d, "short_id"),
                                                strempty(os_dict_string(&d, "name")),
                                                strempty(os_dict_string(&d, "version")), isempty(release) ? "-" : release };
                        r = table_add_row(t, cells);
                }
                os_dict_done(&d);
                if (r < 0)
                        break;
        }
        if (r < 0)
                return ctl_error(r, "Failed to read the OS list: %s", strerror(-r));
        if (c->json != JSON_FORMAT_OFF)
                json_end_array(&w);
        else
                table_print(t, stdout, !ctl_quiet);
        return 0;
}
