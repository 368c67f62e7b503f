/* vmgmtctl-net.c — vmgmtctl's virtual network verbs (net-*), with virsh's output. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmgmtctl.h"

#define VMGMT_NETWORK_IFACE "org.vmgmt.Network"

static int net_resolve(Context *c, const char *name, char **ret_path) {
        return ctl_manager_call_path(c, "GetNetwork", name, false, ret_path);
}

static char *net_name_of(Context *c, const char *path) {
        return ctl_object_name(c, path, VMGMT_NETWORK_IFACE);
}

typedef struct NetRow {
        char *name, *uuid, *bridge;
        int active, persistent, autostart;
} NetRow;

static int net_row_get(Context *c, const char *path, NetRow *n) {
        int r;

        r = storage_get_string(c, path, VMGMT_NETWORK_IFACE, "Name", &n->name);
        if (r >= 0)
                r = storage_get_string(c, path, VMGMT_NETWORK_IFACE, "UUID", &n->uuid);
        if (r >= 0)
                r = storage_get_string(c, path, VMGMT_NETWORK_IFACE, "Bridge", &n->bridge);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_NETWORK_IFACE, "Active", 'b', &n->active);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_NETWORK_IFACE, "Persistent", 'b', &n->persistent);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_NETWORK_IFACE, "Autostart", 'b', &n->autostart);
        return r;
}

static void net_row_json(JsonWriter *w, const NetRow *n) {
        json_begin_object(w);
        json_member_string(w, "name", n->name);
        json_member_string(w, "uuid", n->uuid);
        json_member_string(w, "state", n->active ? "active" : "inactive");
        json_member_bool(w, "active", n->active);
        json_member_bool(w, "persistent", n->persistent);
        json_member_bool(w, "autostart", n->autostart);
        json_member_string(w, "bridge", n->bridge);
        json_end_object(w);
}

static void net_row_done(NetRow *n) {
        free(n->name);
        free(n->uuid);
        free(n->bridge);
}

int verb_net_list(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        const char *path;
        int r;

        r = ctl_manager_list(c, "ListNetworks", a, &reply);
        if (r < 0)
                return r;
        t = table_new(4, (const char *const[]) { "Name", "State", "Autostart", "Persistent" });
        if (!t)
                return ctl_error(-ENOMEM, "Out of memory");
        JsonWriter w;
        bool json = c->json != JSON_FORMAT_OFF;
        if (json) {
                json_writer_init(&w, stdout, c->json);
                json_begin_array(&w);
        }
        while ((r = sd_bus_message_read(reply, "o", &path)) > 0) {
                NetRow n = {};

                if (net_row_get(c, path, &n) < 0) {
                        net_row_done(&n);
                        continue;   /* gone meanwhile */
                }
                if (json) {
                        net_row_json(&w, &n);
                        net_row_done(&n);
                        continue;
                }
                r = table_add_row(t, (const char *const[]) { n.name, n.active ? "active" : "inactive",
                                                             n.autostart ? "yes" : "no", n.persistent ? "yes" : "no" });
                net_row_done(&n);
                if (r < 0)
                        return ctl_error(r, "Out of memory");
        }
        if (json) {
                json_end_array(&w);
                return 0;
        }
        table_print(t, stdout, true);
        printf("\n");
        return 0;
}

/* net-define, net-create */
int verb_net_define(Context *c, VerbArgs *a) {
        _cleanup_free_ char *xml = NULL, *path = NULL, *name = NULL;
        bool create = streq(a->verb, "net-create");
        int r;

        r = ctl_read_file(a->args[0], &xml);
        if (r < 0)
                return r;
        r = ctl_manager_call_path(c, create ? "CreateNetwork" : "DefineNetwork", xml, true, &path);
        if (r < 0)
                return r;
        name = net_name_of(c, path);
        ctl_info("Network %s %s from %s", strempty(name), create ? "created" : "defined", a->args[0]);
        return 0;
}

/* net-start, net-destroy, net-undefine */
int verb_net_simple(Context *c, VerbArgs *a) {
        static const struct { const char *verb, *member, *done; } table[] = {
                { "net-start", "Start", "started" },
                { "net-destroy", "Stop", "destroyed" },
                { "net-undefine", "Undefine", "has been undefined" },
        };
        _cleanup_free_ char *path = NULL, *name = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (!streq(a->verb, table[i].verb))
                        continue;
                r = net_resolve(c, a->args[0], &path);
                if (r < 0)
                        return r;
                name = net_name_of(c, path);
                r = ctl_object_call(c, path, VMGMT_NETWORK_IFACE, table[i].member, (const char *) NULL);
                if (r < 0)
                        return r;
                ctl_info("Network %s %s", name ?: a->args[0], table[i].done);
                return 0;
        }
        return ctl_error(-EINVAL, "Unknown verb %s", a->verb);
}

int verb_net_autostart(Context *c, VerbArgs *a) {
        return ctl_verb_autostart(c, a, "Network", VMGMT_NETWORK_IFACE, "GetNetwork");
}

int verb_net_info(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL;
        NetRow n = {};
        int r;

        r = net_resolve(c, a->args[0], &path);
        if (r < 0)
                return r;
        r = net_row_get(c, path, &n);
        if (r < 0) {
                net_row_done(&n);
                return r;
        }
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, c->json);
                net_row_json(&w, &n);
                net_row_done(&n);
                return 0;
        }
        printf("%-15s %s\n", "Name:", n.name);
        printf("%-15s %s\n", "UUID:", n.uuid);
        printf("%-15s %s\n", "Active:", n.active ? "yes" : "no");
        printf("%-15s %s\n", "Persistent:", n.persistent ? "yes" : "no");
        printf("%-15s %s\n", "Autostart:", n.autostart ? "yes" : "no");
        printf("%-15s %s\n", "Bridge:", n.bridge);
        net_row_done(&n);
        return 0;
}

int verb_net_dumpxml(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *xml = NULL;
        int r;

        r = net_resolve(c, a->args[0], &path);
        if (r < 0)
                return r;
        r = ctl_get_xml(c, path, VMGMT_NETWORK_IFACE, verb_flag(a, "inactive"), false, &xml);
        if (r < 0)
                return r;
        fputs(xml, stdout);
        return 0;
}

int verb_net_dhcp_leases(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        _cleanup_free_ char *path = NULL;
        const char *mac = verb_value(a, "mac");
        int r;

        r = net_resolve(c, a->args[0], &path);
        if (r < 0)
                return r;
        r = ctl_new_call(c, path, VMGMT_NETWORK_IFACE, "GetDHCPLeases", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && mac)
                r = sd_bus_message_append(m, "{sv}", "mac", "s", mac);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        t = table_new(6, (const char *const[]) { "Expiry Time", "MAC address", "Protocol", "IP address", "Hostname",
                                                 "Client ID or DUID" });
        if (!t)
                return ctl_error(-ENOMEM, "Out of memory");
        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        JsonWriter w;
        bool json = c->json != JSON_FORMAT_OFF;
        if (json) {
                json_writer_init(&w, stdout, c->json);
                json_begin_array(&w);
        }
        while ((r = sd_bus_message_enter_container(reply, 'a', "{sv}")) > 0) {
                const char *lmac = "", *ip = "", *host = "", *type = "", *cid = "";
                uint32_t prefix = 0;
                uint64_t expiry = 0;
                char when[64] = "-", addr[128];

                while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                        const char *key;
                        r = sd_bus_message_read(reply, "s", &key);
                        if (r < 0)
                                break;
                        if (streq(key, "mac"))
                                r = sd_bus_message_read(reply, "v", "s", &lmac);
                        else if (streq(key, "ip"))
                                r = sd_bus_message_read(reply, "v", "s", &ip);
                        else if (streq(key, "hostname"))
                                r = sd_bus_message_read(reply, "v", "s", &host);
                        else if (streq(key, "type"))
                                r = sd_bus_message_read(reply, "v", "s", &type);
                        else if (streq(key, "client_id"))
                                r = sd_bus_message_read(reply, "v", "s", &cid);
                        else if (streq(key, "prefix"))
                                r = sd_bus_message_read(reply, "v", "u", &prefix);
                        else if (streq(key, "expiry"))
                                r = sd_bus_message_read(reply, "v", "t", &expiry);
                        else
                                r = sd_bus_message_skip(reply, "v");
                        if (r < 0)
                                break;
                        r = sd_bus_message_exit_container(reply);
                        if (r < 0)
                                break;
                }
                if (r < 0)
                        return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
                if (expiry > 0) {
                        time_t tt = (time_t) expiry;
                        struct tm tm;
                        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&tt, &tm));
                }
                if (json) {
                        json_begin_object(&w);
                        json_member_unsigned(&w, "expiry", expiry);
                        json_member_string(&w, "expiry_time", when);
                        json_member_string(&w, "mac", lmac);
                        json_member_string(&w, "type", type);
                        json_member_string(&w, "ip", ip);
                        json_member_unsigned(&w, "prefix", prefix);
                        json_member_string(&w, "hostname", host);
                        json_member_string(&w, "client_id", cid);
                        json_end_object(&w);
                        continue;
                }
                snprintf(addr, sizeof(addr), "%s/%" PRIu32, ip, prefix);
                r = table_add_row(t, (const char *const[]) { when, isempty(lmac) ? "-" : lmac, type, addr,
                                                             isempty(host) ? "-" : host, isempty(cid) ? "-" : cid });
                if (r < 0)
                        return ctl_error(r, "Out of memory");
        }
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        if (json) {
                json_end_array(&w);
                return 0;
        }
        table_print(t, stdout, true);
        printf("\n");
        return 0;
}

/* --parent-index N: the <ip> (from 0) an ip-dhcp-host/-range goes to. */
static int parse_parent_index(const char *s, int32_t *ret) {
        char *end;
        long v;

        if (!s)
                return 0;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < 0 || v > INT32_MAX)
                return ctl_error(-EINVAL, "Invalid --parent-index '%s': expected a number from 0", s);
        *ret = (int32_t) v;
        return 0;
}

static int append_update_options(sd_bus_message *m, bool live, bool config, int32_t parent_index) {
        int r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && live)
                r = sd_bus_message_append(m, "{sv}", "live", "b", 1);
        if (r >= 0 && config)
                r = sd_bus_message_append(m, "{sv}", "config", "b", 1);
        if (r >= 0 && parent_index >= 0)
                r = sd_bus_message_append(m, "{sv}", "parent_index", "u", (uint32_t) parent_index);
        return r < 0 ? r : sd_bus_message_close_container(m);
}

/* virsh net-update NETWORK COMMAND SECTION XML [--live] [--config] [--current];
 * XML is the element itself or a file holding it. */
int verb_net_update(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL, *file_xml = NULL;
        bool live = verb_flag(a, "live"), config = verb_flag(a, "config");
        const char *xml = a->args[3];
        int32_t parent_index = -1;
        int active = 0, r;

        if (verb_flag(a, "current") && (live || config))
                return ctl_error(-EINVAL, "--current excludes --live and --config");
        r = parse_parent_index(verb_value(a, "parent-index"), &parent_index);
        if (r < 0)
                return r;
        if (xml[strspn(xml, " \t\n")] != '<') {
                r = ctl_read_file(xml, &file_xml);
                if (r < 0)
                        return r;
                xml = file_xml;
        }
        r = net_resolve(c, a->args[0], &path);
        if (r < 0)
                return r;
        name = net_name_of(c, path);
        if (!live && !config) {
                r = storage_get_trivial(c, path, VMGMT_NETWORK_IFACE, "Active", 'b', &active);
                if (r < 0)
                        return r;
        }
        r = ctl_new_call(c, path, VMGMT_NETWORK_IFACE, "Update", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "sss", a->args[2], a->args[1], xml);
        if (r >= 0)
                r = append_update_options(m, live, config, parent_index);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, NULL);
        if (r < 0)
                return r;
        if (live && config)
                ctl_info("Updated network %s persistent config and live state", name ?: a->args[0]);
        else if (live || (!config && active))
                ctl_info("Updated network %s live state", name ?: a->args[0]);
        else
                ctl_info("Updated network %s persistent config", name ?: a->args[0]);
        return 0;
}

/* ---- net-edit ---- */

int verb_net_edit(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL, *xml = NULL, *edited = NULL, *new_path = NULL;
        _cleanup_free_ char *tmp = NULL;
        int r;

        r = net_resolve(c, a->args[0], &path);
        if (r < 0)
                return r;
        name = net_name_of(c, path);
        r = ctl_get_xml(c, path, VMGMT_NETWORK_IFACE, true, false, &xml);
        if (r < 0)
                return r;
        r = ctl_edit_text(xml, "vmgmtctl-net-edit", &tmp, &edited);
        if (r < 0)
                return r;
        if (streq(edited, xml)) {
                (void) unlink(tmp);
                ctl_info("Network %s XML configuration not changed.", name ?: a->args[0]);
                return 0;
        }
        while ((r = ctl_manager_call_path(c, "DefineNetwork", edited, true, &new_path)) < 0) {
                free(edited);
                edited = NULL;
                if (ctl_edit_again(tmp, &edited) <= 0)
                        return r;
        }
        (void) unlink(tmp);
        ctl_info("Network %s XML configuration edited.", name ?: a->args[0]);
        return 0;
}
