/* network.c — virtual networks in vmgmtd: registry, persistence, the default network, restart recovery, autostart. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-util.h"
#include "domain.h"
#include "fileio.h"
#include "log.h"
#include "network.h"
#include "object-kind.h"

static bool network_is_active(void *object) {
        return vm_network_is_active(object);
}

static const ObjectStoreType network_store_type = {
        .kind = &vm_network_kind,
        .event_signal = "NetworkEvent",
        .default_marker = ".default-network-defined",
        .uuid_offset = offsetof(VmNetwork, uuid),
        .path_offset = offsetof(VmNetwork, path),
        .on_bus_offset = offsetof(VmNetwork, on_bus),
        .is_active = network_is_active,
};

/* ---- operations waiting for the driver ---- */

NetOp *net_op_new(VmNetworks *s, sd_bus_message *message, const char *verb, const char *network) {
        NetOp *op = g_new0(NetOp, 1);

        op->nets = s;
        op->message = message ? sd_bus_message_ref(message) : NULL;
        op->verb = verb;
        op->network = g_strdup(network);
        g_hash_table_add(s->ops, op);
        return op;
}

static void net_op_destroy(NetOp *op) {
        sd_bus_message_unref(op->message);
        network_def_free(op->config_def);
        g_free(op->network);
        g_free(op);
}

void net_op_free(NetOp *op) {
        if (!op)
                return;
        g_hash_table_remove(op->nets->ops, op);
        net_op_destroy(op);
}

/* ---- registry ---- */

bool vm_network_is_active(VmNetwork *n) {
        return n->rt && !n->starting;
}

const NetworkDef *vm_network_current_def(VmNetwork *n) {
        if (n->rt)
                return network_runtime_def(n->rt);
        return n->def;
}

uint32_t vm_network_dnsmasq_pid(VmNetwork *n) {
        pid_t pid = vm_network_is_active(n) && !n->stopping ? network_runtime_dnsmasq_pid(n->rt) : 0;
        return pid > 0 ? (uint32_t) pid : 0;
}

static void props_get(VmNetwork *n, VmNetworkProps *ret) {
        const NetworkDef *def = vm_network_current_def(n);

        ret->active = vm_network_is_active(n);
        ret->persistent = n->persistent;
        ret->autostart = n->autostart;
        ret->bridge = g_strdup(strempty(def->bridge));
        ret->forward = network_forward_mode_to_string(def->forward);
        ret->dnsmasq_pid = vm_network_dnsmasq_pid(n);
}

static void props_clear(VmNetworkProps *p) {
        g_free(p->bridge);
        p->bridge = NULL;
}

static void props_reset(VmNetwork *n) {
        props_clear(&n->last);
        props_get(n, &n->last);
}

void vm_network_emit_changes(VmNetwork *n) {
        VmNetworkProps now;
        const char *names[8];
        size_t k = 0;

        props_get(n, &now);
        if (now.active != n->last.active)
                names[k++] = "Active";
        if (now.persistent != n->last.persistent)
                names[k++] = "Persistent";
        if (now.autostart != n->last.autostart)
                names[k++] = "Autostart";
        if (!streq(now.bridge, n->last.bridge))
                names[k++] = "Bridge";
        if (!streq(now.forward, n->last.forward))
                names[k++] = "ForwardMode";
        if (now.dnsmasq_pid != n->last.dnsmasq_pid)
                names[k++] = "DnsmasqPID";
        names[k] = NULL;
        props_clear(&n->last);
        n->last = now;
        object_store_emit_changed(&n->nets->store, n, names);
}

void vm_network_emit_event(VmNetwork *n, const char *event) {
        object_store_emit_event(&n->nets->store, n, event);
}

void vm_network_add_to_bus(VmNetwork *n) {
        object_store_emit_added(&n->nets->store, n);
}

int vm_network_new(VmNetworks *s, const NetworkDef *def, bool persistent, VmNetwork **ret) {
        VmNetwork *n;
        int r;

        n = g_new0(VmNetwork, 1);
        n->nets = s;
        n->name = g_strdup(def->name);
        conf_uuid_format(def->uuid, n->uuid);
        r = sd_bus_path_encode(VM_NETWORK_PREFIX, def->name, &n->path);
        if (r < 0) {
                g_free(n->name);
                g_free(n);
                return r;
        }
        n->def = network_def_copy(def);
        if (!n->def) {
                free(n->path);
                g_free(n->name);
                g_free(n);
                return -ENOMEM;
        }
        n->persistent = persistent;
        props_get(n, &n->last);
        object_store_add(&s->store, n->name, n);
        *ret = n;
        return 0;
}

static void network_free(VmNetwork *n) {
        props_clear(&n->last);
        network_def_free(n->def);
        free(n->path);
        g_free(n->name);
        g_free(n);
}

void vm_network_remove(VmNetwork *n) {
        object_store_emit_removed(&n->nets->store, n);
        object_store_steal(&n->nets->store, n->name);
        network_free(n);
}

VmNetwork *vm_network_find(VmNetworks *s, const char *name_or_uuid) {
        return s ? object_store_find(&s->store, name_or_uuid) : NULL;
}

VmNetwork *vm_network_find_by_path(VmNetworks *s, const char *path) {
        return s ? object_store_find_by_path(&s->store, path) : NULL;
}

const NetworkDef **vm_networks_others(VmNetworks *s, const char *skip_name, size_t *ret_n) {
        const NetworkDef **l = g_new0(const NetworkDef *, g_hash_table_size(s->store.objects) * 2 + 1);
        GHashTableIter it;
        gpointer value;
        size_t k = 0;

        g_hash_table_iter_init(&it, s->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmNetwork *n = value;
                if (skip_name && streq(n->name, skip_name))
                        continue;
                l[k++] = n->def;
                if (n->rt)
                        l[k++] = network_runtime_def(n->rt);
        }
        *ret_n = k;
        return l;
}

/* ---- persistence: CONFIG/networks/NAME.xml and autostart links ---- */

int vm_network_store_write(VmNetworks *s, const NetworkDef *def) {
        _cleanup_free_ char *xml = network_def_format(def);

        if (!xml)
                return -ENOMEM;
        return object_store_save(&s->store, def->name, xml);
}

int vm_network_store_set_autostart(VmNetworks *s, const char *name, bool autostart) {
        return object_store_set_autostart(&s->store, name, autostart);
}

int vm_network_store_remove(VmNetworks *s, const char *name) {
        return object_store_remove(&s->store, name);
}

static int network_def_load(const char *path, const char *xml, size_t len, NetworkDef **ret) {
        NetworkDef *def = NULL;
        NetworkNormalizeCtx ctx = {};
        ConfError err = {};
        int r;

        r = network_def_parse(xml, len, &def, &err);
        if (r >= 0)
                r = network_def_normalize(def, &ctx, &err);
        if (r < 0) {
                log_error("Ignoring %s: %s", path, err.message ?: strerror(-r));
                conf_error_clear(&err);
                network_def_free(def);
                return r;
        }
        *ret = def;
        return 0;
}

static void network_load_one(void *userdata, const char *path, const char *xml, size_t len) {
        VmNetworks *s = userdata;
        NetworkDef *def = NULL;
        VmNetwork *n;

        if (network_def_load(path, xml, len, &def) < 0)
                return;
        if (vm_network_find(s, def->name)) {
                network_def_free(def);
                return;
        }
        if (vm_network_new(s, def, true, &n) < 0) {
                log_error("Failed to add network '%s'.", def->name);
                network_def_free(def);
                return;
        }
        n->autostart = object_store_get_autostart(&s->store, def->name);
        n->on_bus = true;   /* the bus comes later: no signals before it */
        props_reset(n);
        network_def_free(def);
}

static bool default_network_wanted(Manager *m) {
        const char *e = g_getenv("VMGMT_DEFAULT_NETWORK");

        if (e)
                return !streq(e, "0") && !streq(e, "false") && !streq(e, "no");
        return !m->config.no_default_network;
}

/* `default`, once: a marker remembers it was defined, so an undefined default stays undefined. */
static void network_define_default(VmNetworks *s) {
        const char *xml = network_default_xml();
        NetworkNormalizeCtx ctx = {};
        NetworkDef *def = NULL;
        ConfError err = {};
        VmNetwork *n;
        int r;

        if (!object_store_default_wanted(&s->store))
                return;
        r = network_def_parse(xml, strlen(xml), &def, &err);
        if (r >= 0)
                r = network_def_normalize(def, &ctx, &err);
        if (r < 0)
                log_error("The built-in default network does not parse: %s", err.message ?: strerror(-r));
        conf_error_clear(&err);
        if (r >= 0 && !vm_network_find(s, def->name)) {
                r = vm_network_store_write(s, def);
                if (r >= 0)
                        r = vm_network_new(s, def, true, &n);
                if (r >= 0) {
                        n->on_bus = true;
                        n->autostart = true;
                        (void) vm_network_store_set_autostart(s, def->name, true);
                        props_reset(n);
                        log_info("Defined the default network (bridge %s).", def->bridge);
                } else
                        log_error_errno(r, "Failed to define the default network: %m");
        }
        network_def_free(def);
        object_store_default_done(&s->store);
}

/* ---- start ---- */

int vm_network_start(VmNetwork *n, DriverDoneFn done, void *userdata) {
        VmNetworks *s = n->nets;
        NetworkRuntime *rt = NULL;
        int r;

        r = network_start(s->driver, n->def, n, &rt, done, userdata);
        if (r < 0)
                return r;
        n->rt = rt;
        n->starting = true;
        return 0;
}

/* ---- openvswitch ports of domain interfaces ---- */

/* The interface's iface-id: libvirt keeps a random <parameters interfaceid=>
 * in the live XML; vmgmt derives a stable name-based UUID from the domain's
 * UUID and the interface's MAC instead, so it is the same after a restart. */
static void ovs_iface_id(const char *vm_uuid, const char *mac, char out[37]) {
        _cleanup_free_ char *seed = g_strconcat("vmgmt-ovs-iface:", vm_uuid, "/", strempty(mac), NULL);
        _cleanup_free_ char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, seed, -1);
        unsigned char u[16];

        for (size_t i = 0; i < 16; i++)
                u[i] = (unsigned char) g_ascii_strtoull((char[]) { sum[2 * i], sum[2 * i + 1], 0 }, NULL, 16);
        u[6] = (u[6] & 0x0f) | 0x50;   /* version 5: name-based */
        u[8] = (u[8] & 0x3f) | 0x80;
        conf_uuid_format(u, out);
}

static void on_ovs_done(void *userdata, int r, const char *message) {
        _cleanup_free_ char *what = userdata;

        if (r < 0)
                log_error("Failed to %s: %s", what, message ?: strerror(-r));
        else
                log_debug("Done: %s.", what);
}

static void ovs_port_add(VmNetworks *s, const char *bridge, const VmDomain *d, const DomainNetDef *nic) {
        char iface_id[37];
        char *what;
        int r;

        ovs_iface_id(d->uuid, nic->mac, iface_id);
        what = g_strdup_printf("add tap %s of domain '%s' to openvswitch bridge %s", nic->target_dev, d->name, bridge);
        r = network_ovs_port_add(s->manager->event, bridge, nic->target_dev, nic->mac, iface_id, d->uuid,
                                 on_ovs_done, what);
        if (r < 0) {
                log_error_errno(r, "Failed to %s: %s", what,
                                r == -ENOENT ? "ovs-vsctl is not installed (package openvswitch-switch)" : strerror(-r));
                g_free(what);
                return;
        }
        g_hash_table_replace(s->ovs_ports, g_strdup(nic->target_dev), g_strdup(d->uuid));
}

/* The openvswitch bridge nic's tap belongs on (borrowed), or NULL: an
 * <interface type='network'> of an openvswitch network, or an <interface
 * type='bridge'> whose bridge is an openvswitch one. */
static const char *nic_ovs_bridge(Manager *m, const DomainNetDef *nic) {
        VmNetwork *n;

        if (!nic->target_dev)
                return NULL;
        if (nic->type == DOMAIN_NET_TYPE_BRIDGE)
                return nic->source_bridge && network_bridge_is_ovs(m->networks->driver, nic->source_bridge)
                        ? nic->source_bridge : NULL;
        if (nic->type != DOMAIN_NET_TYPE_NETWORK)
                return NULL;
        n = vm_network_find(m->networks, strempty(nic->source_network));
        if (!n || !n->rt || n->stopping || !network_runtime_def(n->rt)->virtualport_ovs)
                return NULL;
        return network_runtime_bridge(n->rt);
}

void vm_networks_domain_started(Manager *m, const VmDomain *d) {
        const DomainDef *def = vm_domain_current_def(d);

        if (!m->networks || !m->networks->driver)
                return;
        for (size_t i = 0; i < def->n_nets; i++) {
                const char *bridge = nic_ovs_bridge(m, &def->nets[i]);
                if (bridge)
                        ovs_port_add(m->networks, bridge, d, &def->nets[i]);
        }
}

void vm_networks_domain_stopped(Manager *m, const VmDomain *d) {
        GHashTableIter it;
        gpointer tap, uuid;

        if (!m->networks)
                return;
        g_hash_table_iter_init(&it, m->networks->ovs_ports);
        while (g_hash_table_iter_next(&it, &tap, &uuid)) {
                char *what;
                int r;

                if (!streq(uuid, d->uuid))
                        continue;
                what = g_strdup_printf("delete openvswitch port %s of domain '%s'", (char *) tap, d->name);
                r = network_ovs_port_del(m->event, tap, on_ovs_done, what);
                if (r < 0) {
                        log_error_errno(r, "Failed to %s: %m", what);
                        g_free(what);
                }
                g_hash_table_iter_remove(&it);
        }
}

/* DomainDriverEvents.create_tap: the driver starting a domain asks for the
 * tap of a NIC; the network driver makes it. */
int vm_networks_create_tap(void *owner, const DomainNetDef *nic, char **ret_name, int *ret_fd) {
        /* names like vnetN are the kernel's to pick; others are kept */
        const char *name = nic->target_dev && !g_str_has_prefix(nic->target_dev, "vnet") ? nic->target_dev : NULL;
        const NetworkBandwidthRate *in, *out;
        _cleanup_free_ char *err = NULL;
        int r;

        r = network_tap_create(name, nic->mac, nic->source_bridge, false, 0, ret_name, ret_fd);
        if (r < 0)
                return r;
        vm_networks_nic_bandwidth(((VmDomain *) owner)->manager, nic, &in, &out);
        if (!in->set && !out->set)
                return 0;
        r = network_tap_set_bandwidth(*ret_name, in, out, &err);
        if (r < 0) {
                log_error("Domain '%s': %s", ((VmDomain *) owner)->name, err ?: strerror(-r));
                close(*ret_fd);   /* the tap goes with its last fd */
                *ret_fd = -1;
                free(*ret_name);
                *ret_name = NULL;
                return -EPROTONOSUPPORT;
        }
        return 0;
}

/* nic's <bandwidth>, else (type='network') that of its network's default portgroup, as libvirt inherits it. */
void vm_networks_nic_bandwidth(Manager *m, const DomainNetDef *nic, const NetworkBandwidthRate **ret_in,
                               const NetworkBandwidthRate **ret_out) {
        VmNetwork *n;

        *ret_in = &nic->bw_inbound;
        *ret_out = &nic->bw_outbound;
        if (nic->bw_inbound.set || nic->bw_outbound.set || nic->type != DOMAIN_NET_TYPE_NETWORK || !m->networks)
                return;
        n = vm_network_find(m->networks, strempty(nic->source_network));
        if (!n || !n->rt)
                return;
        for (size_t i = 0; i < network_runtime_def(n->rt)->n_portgroups; i++) {
                const NetworkPortgroup *pg = &network_runtime_def(n->rt)->portgroups[i];
                if (pg->is_default) {
                        *ret_in = &pg->inbound;
                        *ret_out = &pg->outbound;
                }
        }
}

/* ---- taps after a network (re)start ---- */

static void reattach_tap(void *userdata, const VmDomain *d, const DomainNetDef *nic) {
        VmNetwork *n = userdata;
        int r;

        if (network_runtime_def(n->rt)->virtualport_ovs) {
                ovs_port_add(n->nets, network_runtime_bridge(n->rt), d, nic);   /* --may-exist: no change when there */
                return;
        }
        r = network_runtime_attach_tap(n->rt, nic->target_dev);
        if (r < 0)
                log_warning_errno(r, "Network '%s': cannot attach tap %s of domain '%s' to %s: %m", n->name,
                                  nic->target_dev, d->name, network_runtime_bridge(n->rt));
        else
                log_debug("Network '%s': tap %s of domain '%s' is on %s.", n->name, nic->target_dev, d->name,
                          network_runtime_bridge(n->rt));
}

void vm_network_reattach_taps(VmNetwork *n) {
        if (!n->rt || n->starting || n->stopping)
                return;
        vm_domains_foreach_network_nic(n->nets->manager, n->name, reattach_tap, n);
}

void vm_networks_when_started(Manager *m, void (*fn)(Manager *m)) {
        VmNetworks *s = m->networks;
        GHashTableIter it;
        gpointer value;

        /* the domains are recovered by now: the taps of those on networks that
         * stayed active are checked (the ones still starting do it when done) */
        if (s) {
                g_hash_table_iter_init(&it, s->store.objects);
                while (g_hash_table_iter_next(&it, NULL, &value))
                        vm_network_reattach_taps(value);
                /* <interface type='bridge'> on an openvswitch bridge: known again, so they are deleted at stop */
                g_hash_table_iter_init(&it, m->domains_by_name);
                while (s->driver && g_hash_table_iter_next(&it, NULL, &value)) {
                        const VmDomain *d = value;
                        const DomainDef *def = vm_domain_current_def(d);
                        for (size_t i = 0; vm_domain_is_active(d) && i < def->n_nets; i++) {
                                const char *bridge = def->nets[i].type == DOMAIN_NET_TYPE_BRIDGE
                                        ? nic_ovs_bridge(m, &def->nets[i]) : NULL;
                                if (bridge)
                                        ovs_port_add(s, bridge, d, &def->nets[i]);
                        }
                }
        }

        if (!s) {
                fn(m);
                return;
        }
        startup_gate_then(&s->startup, m, fn);
}

static void startup_start_done(void *userdata, int r, const char *message) {
        NetOp *op = userdata;
        VmNetworks *s = op->nets;
        VmNetwork *n = vm_network_find(op->nets, op->network);

        if (n) {
                n->starting = false;
                if (r < 0) {
                        n->rt = NULL;
                        log_error("Failed to autostart network '%s': %s", n->name, message ?: strerror(-r));
                } else {
                        log_info("Started network '%s' on %s.", n->name, network_runtime_bridge(n->rt));
                        vm_network_reattach_taps(n);
                        vm_network_emit_changes(n);
                        vm_network_emit_event(n, "started");
                }
        }
        net_op_free(op);
        startup_gate_leave(&s->startup, s->manager);
}

/* ---- restart recovery ---- */

static void on_recovered(void *userdata, NetworkDef *def, NetworkRuntime *rt) {
        VmNetworks *s = userdata;
        VmNetwork *n = vm_network_find(s, def->name);

        if (!rt) {
                log_info("Network '%s' was active but its bridge is gone; it is inactive now.", def->name);
                network_def_free(def);
                return;
        }
        if (!n) {
                /* a transient network */
                if (vm_network_new(s, def, false, &n) < 0) {
                        log_error("Failed to adopt network '%s'.", def->name);
                        network_def_free(def);
                        return;
                }
                n->on_bus = true;
        }
        n->rt = rt;
        network_runtime_set_owner(rt, n);
        props_reset(n);
        log_info("Adopted active network '%s' (bridge %s, dnsmasq %d).", n->name, network_runtime_bridge(rt),
                 (int) network_runtime_dnsmasq_pid(rt));
        network_def_free(def);
}

static bool run_dir_has_networks(Manager *m) {
        _cleanup_free_ char *dir = g_build_filename(m->paths.run_dir, "network", NULL);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *e;

        while (d && (e = g_dir_read_name(d)))
                if (g_str_has_suffix(e, ".xml"))
                        return true;
        return false;
}

/* A dnsmasq that died and was restarted (or could not be) shows on the bus as
 * a change of DnsmasqPID (new pid, or 0): the network itself stays active, so
 * there is no NetworkEvent for it. */
static void on_dnsmasq_exited(void *owner, bool restarted, const char *message) {
        VmNetwork *n = owner;

        if (restarted)
                log_warning("dnsmasq of network '%s' exited and was restarted (pid %u): %s", n ? n->name : "?",
                            n ? vm_network_dnsmasq_pid(n) : 0, strna(message));
        else
                log_error("dnsmasq of network '%s' exited and was not restarted: %s", n ? n->name : "?",
                          strna(message));
        if (n)
                vm_network_emit_changes(n);
}

int vm_networks_startup(Manager *m) {
        NetworkDriverEvents events = { .dnsmasq_exited = on_dnsmasq_exited };
        GHashTableIter it;
        gpointer value;
        GPtrArray *todo;
        VmNetworks *s;
        int r;

        s = g_new0(VmNetworks, 1);
        s->manager = m;
        m->networks = s;
        object_store_init(&s->store, &network_store_type, m);
        s->ops = g_hash_table_new(g_direct_hash, g_direct_equal);
        s->ovs_ports = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

        r = network_driver_new(m->event, m->paths.run_dir, &events, &s->driver);
        if (r < 0)
                return log_error_errno(r, "Failed to start the network driver: %m");
        r = mkdir_p(s->store.config_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", s->store.config_dir);

        object_store_load_dir(s->store.config_dir, NETWORK_XML_MAX_SIZE, network_load_one, s);
        if (default_network_wanted(m))
                network_define_default(s);
        /* only when a network was left active: recovery rebuilds the nft table,
         * which a daemon without networks has no business touching */
        if (run_dir_has_networks(m)) {
                r = network_recover(s->driver, on_recovered, s);
                if (r < 0)
                        log_error_errno(r, "Failed to recover active networks: %m");
        }

        if (!m->config.autostart)
                return 0;
        todo = g_ptr_array_new();
        g_hash_table_iter_init(&it, s->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmNetwork *n = value;
                if (n->persistent && n->autostart && !n->rt)
                        g_ptr_array_add(todo, n);
        }
        for (guint i = 0; i < todo->len; i++) {
                VmNetwork *n = todo->pdata[i];
                NetOp *op = net_op_new(s, NULL, "autostart", n->name);
                startup_gate_enter(&s->startup);   /* before: the driver may be done before it returns */
                r = vm_network_start(n, startup_start_done, op);
                if (r < 0) {
                        log_error_errno(r, "Failed to autostart network '%s': %m", n->name);
                        net_op_free(op);
                        startup_gate_leave(&s->startup, s->manager);
                }
        }
        g_ptr_array_free(todo, TRUE);
        return 0;
}

void vm_networks_shutdown(Manager *m) {
        VmNetworks *s = m->networks;
        GHashTableIter it;
        gpointer value;

        if (!s || !s->driver)
                return;
        /* runtimes go with the driver; networks stay up for the next daemon */
        g_hash_table_iter_init(&it, s->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value))
                ((VmNetwork *) value)->rt = NULL;
        s->driver = network_driver_free(s->driver);
        g_hash_table_iter_init(&it, s->ops);
        while (g_hash_table_iter_next(&it, &value, NULL)) {
                NetOp *op = value;
                g_hash_table_iter_steal(&it);
                if (op->message)
                        (void) sd_bus_reply_method_errorf(op->message, VM_ERROR_OPERATION_FAILED,
                                                          "vmgmtd is shutting down");
                net_op_destroy(op);
        }
}

void vm_networks_free(Manager *m) {
        VmNetworks *s = m->networks;
        GHashTableIter it;
        gpointer value;

        if (!s)
                return;
        vm_networks_shutdown(m);
        g_hash_table_iter_init(&it, s->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                g_hash_table_iter_steal(&it);
                network_free(value);
        }
        object_store_deinit(&s->store);
        g_hash_table_destroy(s->ops);
        g_hash_table_destroy(s->ovs_ports);
        g_free(s);
        m->networks = NULL;
}

/* ---- domains ---- */

int vm_networks_bridge_of(Manager *m, const char *network, const char **ret_bridge, bool *ret_ovs,
                          char **ret_error) {
        VmNetwork *n = vm_network_find(m->networks, strempty(network));
        const NetworkDef *def;

        if (!n) {
                *ret_error = g_strdup_printf("network '%s' not found", strempty(network));
                return -ENOENT;
        }
        if (!n->rt || n->stopping) {
                *ret_error = g_strdup_printf("network '%s' is not active", n->name);
                return -ENOTCONN;
        }
        def = network_runtime_def(n->rt);
        *ret_bridge = network_runtime_bridge(n->rt) ?: def->bridge;
        *ret_ovs = def->virtualport_ovs;
        return 0;
}

int vm_networks_resolve_domain_nets(Manager *m, const DomainDef *def, DomainDef **copy, char **ret_error) {
        _cleanup_free_ char *ignored = NULL;

        if (!ret_error)
                ret_error = &ignored;
        for (size_t i = 0; i < def->n_nets; i++) {
                const char *bridge;
                bool ovs;
                int r;

                if (def->nets[i].type != DOMAIN_NET_TYPE_NETWORK)
                        continue;
                r = vm_networks_bridge_of(m, def->nets[i].source_network, &bridge, &ovs, ret_error);
                if (r < 0)
                        return r;
                /* openvswitch: the tap is made without a master; vm_networks_domain_started() adds the port */
                if (!*copy) {
                        *copy = domain_def_copy(def);
                        if (!*copy)
                                return -ENOMEM;
                }
                free((*copy)->nets[i].source_bridge);
                (*copy)->nets[i].source_bridge = strdup(bridge);
                if (!(*copy)->nets[i].source_bridge)
                        return -ENOMEM;
        }
        return 0;
}
