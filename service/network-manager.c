/* network-manager.c — the Manager's network methods (DefineNetwork, CreateNetwork, GetNetwork, ListNetworks) and NetworkEvent, in their own vtable on /org/vmgmt. */
#include <errno.h>
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "log.h"
#include "network.h"
#include "object-kind.h"

/* Normalizes a parsed definition (this asks the kernel which interface
 * names are taken: only once the caller is authorized) and checks it against
 * the other networks; a redefinition without UUID keeps the network's.
 * *ret_same: the network of that name (NULL: a new one). */
static int normalize_network_def(VmNetworks *s, NetworkDef *def, VmNetwork **ret_same, sd_bus_error *error) {
        _cleanup_free_ const NetworkDef **others = NULL;
        NetworkNormalizeCtx ctx = {};
        ConfError err = {};
        VmNetwork *same;
        GHashTableIter it;
        gpointer value;
        char uuid[37];
        size_t n_others;
        int r;

        same = object_store_lookup(&s->store, def->name);
        if (same && !def->has_uuid) {
                (void) conf_uuid_parse(same->uuid, def->uuid);
                def->has_uuid = true;
        }
        if (same && !def->bridge && same->def->bridge)
                def->bridge = g_strdup(same->def->bridge);
        others = vm_networks_others(s, def->name, &n_others);
        ctx.others = others;
        ctx.n_others = n_others;
        ctx.ifname_exists = network_ifname_exists;
        ctx.userdata = s->driver;
        r = network_def_normalize(def, &ctx, &err);
        if (r >= 0)
                r = network_def_check_conflicts(def, others, n_others, &err);
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "Invalid network definition");
                conf_error_clear(&err);
                return r;
        }
        conf_uuid_format(def->uuid, uuid);
        if (same && !streq(same->uuid, uuid))
                return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Network '%s' already exists with UUID %s",
                                         def->name, same->uuid);
        g_hash_table_iter_init(&it, s->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmNetwork *n = value;
                if (n != same && streq(n->uuid, uuid))
                        return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS,
                                                 "Network '%s' already has UUID %s", n->name, uuid);
        }
        *ret_same = same;
        return 0;
}

/* Parses the XML and authorizes the call (vm_object_kind_parse_authorized():
 * an unauthorized caller learns nothing about the XML), then normalizes it.
 * Returns 1 with *ret (allowed, parsed), 0 (authorization pending), or a
 * negative errno with error. */
static int parse_and_authorize(Manager *m, sd_bus_message *message, const char *xml, NetworkDef **ret,
                               VmNetwork **ret_same, sd_bus_error *error) {
        void *def = NULL;
        int r;

        r = vm_object_kind_parse_authorized(&vm_network_kind, m, message, xml, NULL, &def, error);
        if (r <= 0)
                return r;
        r = normalize_network_def(m->networks, def, ret_same, error);
        if (r < 0) {
                network_def_free(def);
                return r;
        }
        *ret = def;
        return 1;
}

static int method_define_network(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        VmNetworks *s = m->networks;
        NetworkDef *def = NULL;
        VmNetwork *n = NULL;
        const char *xml;
        bool added = false;
        int r;

        r = sd_bus_message_read(message, "s", &xml);
        if (r < 0)
                return r;
        r = bus_options_parse(message, NULL, error);
        if (r < 0)
                return r;
        r = parse_and_authorize(m, message, xml, &def, &n, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, the call is dispatched again */
        r = vm_network_store_write(s, def);
        if (r < 0) {
                r = sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to save network '%s': %s", def->name,
                                      strerror(-r));
                goto finish;
        }
        if (!n) {
                r = vm_network_new(s, def, true, &n);
                if (r < 0) {
                        (void) vm_network_store_remove(s, def->name);
                        goto finish;
                }
                added = true;
        } else {
                NetworkDef *copy = network_def_copy(def);
                if (!copy) {
                        r = -ENOMEM;
                        goto finish;
                }
                network_def_free(n->def);
                n->def = copy;
                n->persistent = true;
        }
        vm_network_emit_changes(n);
        if (added)
                vm_network_add_to_bus(n);
        vm_network_emit_event(n, "defined");
        r = sd_bus_reply_method_return(message, "o", n->path);
finish:
        network_def_free(def);
        return r < 0 ? r : 1;   /* 0: authorization pending, the call is dispatched again */
}

static void create_done(void *userdata, int r, const char *message) {
        NetOp *op = userdata;
        VmNetwork *n = vm_network_find(op->nets, op->network);

        if (n)
                n->starting = false;
        if (r < 0 || !n) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_free_ char *what = g_strdup_printf("Failed to create network '%s'", op->network);
                bus_error_from_errno(&error, r < 0 ? r : -ENOENT, message, what);
                (void) sd_bus_reply_method_error(op->message, &error);
                if (n) {
                        n->rt = NULL;
                        vm_network_remove(n);
                }
                net_op_free(op);
                return;
        }
        vm_network_reattach_taps(n);
        vm_network_emit_changes(n);
        vm_network_add_to_bus(n);
        vm_network_emit_event(n, "started");
        (void) sd_bus_reply_method_return(op->message, "o", n->path);
        net_op_free(op);
}

static int method_create_network(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        VmNetworks *s = m->networks;
        NetworkDef *def = NULL;
        VmNetwork *n = NULL;
        const char *xml;
        NetOp *op;
        int r;

        r = sd_bus_message_read(message, "s", &xml);
        if (r < 0)
                return r;
        r = bus_options_parse(message, NULL, error);
        if (r < 0)
                return r;
        r = parse_and_authorize(m, message, xml, &def, &n, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, the call is dispatched again */
        if (n) {
                r = sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Network '%s' already exists", def->name);
                goto finish;
        }
        r = vm_network_new(s, def, false, &n);
        if (r < 0)
                goto finish;
        op = net_op_new(s, message, "create", n->name);
        r = vm_network_start(n, create_done, op);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to create network '%s'", n->name);
                net_op_free(op);
                vm_network_remove(n);
                r = bus_error_from_errno(error, r, NULL, what);
                goto finish;
        }
        r = 1;
finish:
        network_def_free(def);
        return r < 0 ? r : 1;   /* 0: authorization pending, the call is dispatched again */
}

static int method_get_network(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return vm_object_kind_method_get(&vm_network_kind, m, message, error);
}

static int method_list_networks(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return vm_object_kind_method_list(&vm_network_kind, m, message, error);
}

#define UNPRIV SD_BUS_VTABLE_UNPRIVILEGED

static const sd_bus_vtable manager_network_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("DefineNetwork", SD_BUS_ARGS("s", xml, "a{sv}", options),
                                SD_BUS_RESULT("o", network), method_define_network, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("CreateNetwork", SD_BUS_ARGS("s", xml, "a{sv}", options),
                                SD_BUS_RESULT("o", network), method_create_network, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetNetwork", SD_BUS_ARGS("s", name_or_uuid), SD_BUS_RESULT("o", network),
                                method_get_network, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("ListNetworks", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("ao", networks),
                                method_list_networks, UNPRIV),
        SD_BUS_SIGNAL_WITH_ARGS("NetworkEvent", SD_BUS_ARGS("o", network, "s", event), 0),
        SD_BUS_VTABLE_END
};

int vm_manager_network_register(Manager *m) {
        int r;

        r = sd_bus_add_object_vtable(m->bus, NULL, VM_MANAGER_PATH, VM_MANAGER_INTERFACE, manager_network_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the manager's network methods: %m");
        return 0;
}
