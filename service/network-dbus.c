/* network-dbus.c — org.vmgmt.Network objects at /org/vmgmt/network/NAME and networks' part of GetManagedObjects. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "auth.h"
#include "bus-util.h"
#include "log.h"
#include "object-kind.h"
#include "network.h"

/* ---- properties ---- */

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmNetwork *n = userdata;
        const NetworkDef *def = vm_network_current_def(n);
        const char *v;

        if (streq(property, "Name"))
                v = n->name;
        else if (streq(property, "UUID"))
                v = n->uuid;
        else if (streq(property, "Bridge"))
                v = (n->rt ? network_runtime_bridge(n->rt) : NULL) ?: def->bridge;
        else
                v = network_forward_mode_to_string(def->forward);
        return sd_bus_message_append_basic(reply, 's', strempty(v));
}

static int property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmNetwork *n = userdata;
        int b = streq(property, "Active") ? vm_network_is_active(n) :
                streq(property, "Persistent") ? n->persistent : n->autostart;
        return sd_bus_message_append_basic(reply, 'b', &b);
}

static int property_get_dnsmasq_pid(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        uint32_t pid = vm_network_dnsmasq_pid(userdata);
        return sd_bus_message_append_basic(reply, 'u', &pid);
}

static const char *const *net_details(VmNetwork *n, const char *buf[static 3]) {
        buf[0] = "network";
        buf[1] = n->name;
        buf[2] = NULL;
        return buf;
}

static int property_set_autostart(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *value, void *userdata, sd_bus_error *error) {
        VmNetwork *n = userdata;
        const char *details[3];
        int b, r;

        r = sd_bus_message_read_basic(value, 'b', &b);
        if (r < 0)
                return r;
        /* network_object_callback() already waited for the answer; this takes it. */
        r = vm_authorize(n->nets->manager, sd_bus_get_current_message(bus), VM_ACTION_NETWORK_MANAGE,
                         net_details(n, details), error);
        if (r < 0)
                return r;
        if (r == 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: authorization pending");
        if (!n->persistent)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Cannot set autostart for transient network '%s'", n->name);
        if (n->autostart == !!b)
                return 0;
        r = vm_network_store_set_autostart(n->nets, n->name, b);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED,
                                         "Failed to set autostart of network '%s': %s", n->name, strerror(-r));
        n->autostart = b;
        vm_network_emit_changes(n);
        return 0;
}

/* ---- methods ---- */

static int prologue(sd_bus_message *message, VmNetwork *n, const BusOption *options, sd_bus_error *error) {
        const char *details[3];
        int r;

        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        return vm_authorize(n->nets->manager, message, VM_ACTION_NETWORK_MANAGE, net_details(n, details), error);
}

static void reply_error(NetOp *op, int r, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *what = g_strdup_printf("Failed to %s network '%s'", op->verb, op->network);

        bus_error_from_errno(&error, r, message, what);
        if (op->message)
                (void) sd_bus_reply_method_error(op->message, &error);
}

static void start_done(void *userdata, int r, const char *message) {
        NetOp *op = userdata;
        VmNetwork *n = vm_network_find(op->nets, op->network);

        if (n)
                n->starting = false;
        if (r < 0) {
                if (n)
                        n->rt = NULL;
                reply_error(op, r, message);
                if (n && !n->persistent)   /* undefined while starting */
                        vm_network_remove(n);
                net_op_free(op);
                return;
        }
        if (n) {
                vm_network_reattach_taps(n);
                vm_network_emit_changes(n);
                vm_network_add_to_bus(n);
                vm_network_emit_event(n, "started");
        }
        if (streq(op->verb, "create"))
                (void) sd_bus_reply_method_return(op->message, "o", n ? n->path : "/");
        else
                (void) sd_bus_reply_method_return(op->message, NULL);
        net_op_free(op);
}

static int method_start(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmNetwork *n = userdata;
        NetOp *op;
        int r;

        r = prologue(message, n, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (n->rt)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Network '%s' is already active", n->name);
        op = net_op_new(n->nets, message, "start", n->name);
        r = vm_network_start(n, start_done, op);
        if (r < 0) {
                net_op_free(op);
                _cleanup_free_ char *what = g_strdup_printf("Failed to start network '%s'", n->name);
                return bus_error_from_errno(error, r, NULL, what);
        }
        return 1;
}

static void stop_done(void *userdata, int r, const char *message) {
        NetOp *op = userdata;
        VmNetwork *n = vm_network_find(op->nets, op->network);

        if (n) {
                n->rt = NULL;
                n->stopping = false;
                vm_network_emit_changes(n);
                vm_network_emit_event(n, "stopped");
        }
        if (r < 0)
                reply_error(op, r, message);
        else
                (void) sd_bus_reply_method_return(op->message, NULL);
        if (n && !n->persistent)
                vm_network_remove(n);
        net_op_free(op);
}

static int method_stop(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmNetwork *n = userdata;
        NetOp *op;
        int r;

        r = prologue(message, n, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (!n->rt || n->stopping)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Network '%s' is not active", n->name);
        if (n->starting)
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Network '%s' is starting", n->name);
        op = net_op_new(n->nets, message, "stop", n->name);
        r = network_stop(n->rt, stop_done, op);
        if (r < 0) {
                net_op_free(op);
                _cleanup_free_ char *what = g_strdup_printf("Failed to stop network '%s'", n->name);
                return bus_error_from_errno(error, r, NULL, what);
        }
        n->stopping = true;
        return 1;
}

static int method_undefine(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmNetwork *n = userdata;
        int r;

        r = prologue(message, n, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (!n->persistent)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Network '%s' is transient", n->name);
        r = vm_network_store_remove(n->nets, n->name);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to remove network '%s': %s",
                                         n->name, strerror(-r));
        vm_network_emit_event(n, "undefined");
        if (n->rt) {
                /* an active network stays, transient, until it stops */
                n->persistent = false;
                n->autostart = false;
                vm_network_emit_changes(n);
        } else
                vm_network_remove(n);
        return sd_bus_reply_method_return(message, NULL);
}

static int method_get_xml(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmNetwork *n = userdata;
        _cleanup_free_ char *xml = NULL;
        bool inactive = false;
        int r;

        r = bus_options_parse(message, (const BusOption[]) { { "inactive", "b", &inactive }, {} }, error);
        if (r < 0)
                return r;
        xml = vm_network_kind.xml_format(n, inactive ? VM_FORMAT_INACTIVE : 0);
        if (!xml)
                return -ENOMEM;
        return sd_bus_reply_method_return(message, "s", xml);
}

static int update_error(sd_bus_error *error, int r, ConfError *err, const char *name) {
        const char *msg = err->message ?: strerror(-r);
        int k;

        if (r == -EOPNOTSUPP)
                k = sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "Cannot update network '%s': %s", name, msg);
        else if (r == -EINVAL)
                k = sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "Cannot update network '%s': %s", name, msg);
        else
                k = sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Cannot update network '%s': %s", name, msg);
        conf_error_clear(err);
        return k;
}

/* Saves and installs the persistent definition of an update; only called once
 * nothing else of the update can fail, so that a failed call changes nothing. */
static int update_commit_config(VmNetwork *n, NetworkDef **config_def, sd_bus_error *error) {
        int r;

        r = vm_network_store_write(n->nets, *config_def);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to save network '%s': %s",
                                         n->name, strerror(-r));
        network_def_free(n->def);
        n->def = TAKE_PTR(*config_def);
        return 0;
}

static void update_done(void *userdata, int r, const char *message) {
        NetOp *op = userdata;
        VmNetwork *n = vm_network_find(op->nets, op->network);
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (r < 0)
                reply_error(op, r, message);
        else if (op->config_def && n && n->persistent && update_commit_config(n, &op->config_def, &error) < 0)
                (void) sd_bus_reply_method_error(op->message, &error);
        else
                (void) sd_bus_reply_method_return(op->message, NULL);
        if (n)
                vm_network_emit_changes(n);
        net_op_free(op);
}

/* parent_index (virsh --parent-index, libvirt's parentIndex) picks the <ip>
 * whose <dhcp> an ip-dhcp-host or ip-dhcp-range goes to, counting every <ip>
 * from 0 in document order; without it, the first <ip> with <dhcp> of the
 * entry's family. Other sections have no parent to pick. */
static int check_parent_index(VmNetwork *n, const char *section, bool has_index, uint32_t index, sd_bus_error *error) {
        const NetworkDef *def = vm_network_current_def(n);
        size_t n_ips = MIN(def->n_ips, n->def->n_ips);

        if (!has_index)
                return 0;
        if (!streq(section, "ip-dhcp-host") && !streq(section, "ip-dhcp-range"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option 'parent_index' applies only to sections ip-dhcp-host and ip-dhcp-range, not '%s'",
                                         section);
        if (index >= n_ips)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option 'parent_index': network '%s' has no <ip> element number %u (it has %zu)",
                                         n->name, index, n_ips);
        return 0;
}

static int method_update(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmNetwork *n = userdata;
        bool live = false, config = false;
        uint32_t index = 0;
        bool has_index = false;
        const BusOption options[] = { { "live", "b", &live }, { "config", "b", &config },
                                      { "parent_index", "u", &index, &has_index }, {} };
        int parent_index;
        const char *section, *command, *xml;
        NetworkDef *live_def = NULL, *config_def = NULL;
        ConfError err = {};
        NetOp *op;
        int cmd, r;

        r = sd_bus_message_read(message, "sss", &section, &command, &xml);
        if (r < 0)
                return r;
        r = prologue(message, n, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        cmd = network_update_command_from_string(command);
        if (cmd < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Unknown update command '%s' (add-first, add-last, delete, modify)", command);
        r = check_parent_index(n, section, has_index, index, error);
        if (r < 0)
                return r;
        parent_index = has_index ? (int) index : -1;
        if (!live && !config) {
                /* current: the live definition of an active network, else the persistent one */
                if (n->rt)
                        live = true;
                else
                        config = true;
        }
        if (live && (!n->rt || n->starting || n->stopping))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Network '%s' is not active", n->name);
        if (config && !n->persistent)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Network '%s' is transient: it has no persistent definition", n->name);
        if (config) {
                config_def = network_def_copy(n->def);
                if (!config_def)
                        return -ENOMEM;
                r = network_def_update(config_def, section, cmd, parent_index, xml, &err);
                if (r < 0) {
                        network_def_free(config_def);
                        return update_error(error, r, &err, n->name);
                }
        }
        if (live) {
                live_def = network_def_copy(network_runtime_def(n->rt));
                if (!live_def) {
                        network_def_free(config_def);
                        return -ENOMEM;
                }
                r = network_def_update(live_def, section, cmd, parent_index, xml, &err);
                if (r < 0) {
                        network_def_free(config_def);
                        network_def_free(live_def);
                        return update_error(error, r, &err, n->name);
                }
        }
        if (!live) {
                r = update_commit_config(n, &config_def, error);
                network_def_free(config_def);
                if (r < 0)
                        return r;
                vm_network_emit_changes(n);
                return sd_bus_reply_method_return(message, NULL);
        }
        /* The live part goes first: the persistent definition is saved only once
         * it succeeded (update_done()), so a failed call changes nothing. */
        op = net_op_new(n->nets, message, "update", n->name);
        op->config_def = config_def;
        r = network_runtime_update(n->rt, live_def, update_done, op);
        network_def_free(live_def);
        if (r < 0) {
                net_op_free(op);
                _cleanup_free_ char *what = g_strdup_printf("Failed to update network '%s'", n->name);
                return bus_error_from_errno(error, r, NULL, what);
        }
        return 1;
}

static int method_get_dhcp_leases(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmNetwork *n = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *mac = NULL;
        NetworkLease *leases = NULL;
        size_t k = 0;
        int r;

        r = bus_options_parse(message, (const BusOption[]) { { "mac", "s", &mac }, {} }, error);
        if (r < 0)
                return r;
        if (!n->rt || n->starting)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Network '%s' is not active", n->name);
        r = network_runtime_leases(n->rt, &leases, &k);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to read leases of network '%s': %s",
                                         n->name, strerror(-r));
        r = sd_bus_message_new_method_return(message, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < k; i++) {
                const NetworkLease *l = &leases[i];
                uint32_t prefix = l->prefix;
                if (!isempty(mac) && !(l->mac && strcasecmp(l->mac, mac) == 0))
                        continue;
                r = sd_bus_message_append(reply, "a{sv}", 7, "mac", "s", strempty(l->mac), "ip", "s", strempty(l->ip),
                                          "prefix", "u", prefix, "hostname", "s", strempty(l->hostname), "expiry",
                                          "t", l->expiry, "type", "s", network_lease_type(l), "client_id", "s",
                                          strempty(l->client_id));
        }
        network_leases_free(leases, k);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- the object table ---- */

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST
#define UNPRIV SD_BUS_VTABLE_UNPRIVILEGED

const sd_bus_vtable network_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", property_get_string, 0, CONST),
        SD_BUS_PROPERTY("UUID", "s", property_get_string, 0, CONST),
        SD_BUS_PROPERTY("Active", "b", property_get_bool, 0, EMITS),
        SD_BUS_PROPERTY("Persistent", "b", property_get_bool, 0, EMITS),
        SD_BUS_WRITABLE_PROPERTY("Autostart", "b", property_get_bool, property_set_autostart, 0, EMITS | UNPRIV),
        SD_BUS_PROPERTY("Bridge", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("ForwardMode", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("DnsmasqPID", "u", property_get_dnsmasq_pid, 0, EMITS),
        SD_BUS_METHOD_WITH_ARGS("Start", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_start, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Stop", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_stop, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Undefine", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_undefine, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetXML", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("s", xml), method_get_xml,
                                UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Update", SD_BUS_ARGS("s", section, "s", command, "s", xml, "a{sv}", options),
                                SD_BUS_NO_RESULT, method_update, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetDHCPLeases", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("aa{sv}", leases),
                                method_get_dhcp_leases, UNPRIV),
        SD_BUS_VTABLE_END
};

static int network_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                               sd_bus_error *error) {
        Manager *m = userdata;

        if (!m->networks)
                return 0;
        return object_store_bus_find(&m->networks->store, path, found, error);
}

static int network_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                                   sd_bus_error *error) {
        Manager *m = userdata;
        GPtrArray *l = g_ptr_array_new();

        if (m->networks)
                object_store_append_paths(&m->networks->store, l);
        g_ptr_array_add(l, NULL);
        *nodes = (char **) g_ptr_array_free(l, FALSE);
        return 1;
}

/* Properties.Set waits for polkit here, before sd-bus calls the setter (as for domains). */
static int network_authorize_set(sd_bus_message *message, const char *property, void *userdata,
                                 sd_bus_error *error) {
        Manager *m = userdata;
        const char *details[3];
        VmNetwork *n;

        n = vm_network_find_by_path(m->networks, sd_bus_message_get_path(message));
        if (!n)
                return 1;
        return vm_authorize_prepare(m, message, VM_ACTION_NETWORK_MANAGE, net_details(n, details), error);
}

/* ---- the kind ---- */

static int network_foreach(Manager *m, VmObjectFn fn, void *userdata) {
        GHashTableIter it;
        gpointer value;

        if (!m->networks)
                return 0;
        g_hash_table_iter_init(&it, m->networks->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmNetwork *n = value;
                int r;

                if (!n->on_bus)
                        continue;
                r = fn(userdata, n, n->path);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void *network_lookup(Manager *m, const char *name_or_uuid) {
        VmNetwork *n = m->networks ? object_store_find(&m->networks->store, name_or_uuid) : NULL;

        return n && n->on_bus ? n : NULL;
}

static const char *network_name(const void *object) {
        return ((const VmNetwork *) object)->name;
}

static char *network_path(const void *object) {
        return g_strdup(((const VmNetwork *) object)->path);
}

static bool network_active(const void *object) {
        return vm_network_is_active((VmNetwork *) object);
}

/* Network XML (pure: nothing is asked of the system yet). */
static int network_xml_parse(const char *xml, void **ret, sd_bus_error *error) {
        NetworkDef *def = NULL;
        ConfError err = {};
        int r;

        r = network_def_parse(xml, strlen(xml), &def, &err);
        if (r == -EFBIG) {
                conf_error_clear(&err);
                return sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "Network XML is larger than %u bytes",
                                         NETWORK_XML_MAX_SIZE);
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "Invalid network XML");
                conf_error_clear(&err);
                return -EINVAL;
        }
        *ret = def;
        return 0;
}

static const char *network_def_name(const void *def) {
        return ((const NetworkDef *) def)->name;
}

static void network_def_free_hook(void *def) {
        network_def_free(def);
}

static const char *const *network_def_details(const void *parent, const char *name, const char *buf[static 7]) {
        buf[0] = name ? "network" : NULL;
        buf[1] = name;
        buf[2] = NULL;
        return buf;
}

/* The running definition of an active network, unless inactive is asked for. */
static char *network_xml_format(const void *object, VmFormatFlags flags) {
        const VmNetwork *n = object;

        return network_def_format(flags & VM_FORMAT_INACTIVE ? n->def : vm_network_current_def((VmNetwork *) n));
}

const VmObjectKind vm_network_kind = {
        .noun = "network",
        .interface = VM_NETWORK_INTERFACE,
        .path_prefix = VM_NETWORK_PREFIX,
        .path_pattern = VM_NETWORK_PREFIX "/%",
        .no_such_error = VM_ERROR_NO_SUCH_NETWORK,
        .action = VM_ACTION_NETWORK_MANAGE,
        .config_subdir = "networks",
        .vtable = network_vtable,
        .find = network_object_find,
        .enumerate = network_node_enumerator,
        .authorize_set = network_authorize_set,
        .foreach = network_foreach,
        .lookup = network_lookup,
        .object_name = network_name,
        .object_path = network_path,
        .is_active = network_active,
        .xml_parse = network_xml_parse,
        .def_name = network_def_name,
        .def_free = network_def_free_hook,
        .def_details = network_def_details,
        .xml_format = network_xml_format,
};
