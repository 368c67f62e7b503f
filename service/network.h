/* network.h — virtual networks on the bus: the registry, persistence and org.vmgmt.Network objects of vmgmtd, wrapping drivers/network. */
#pragma once

#include <stdbool.h>
#include <glib.h>
#include <systemd/sd-bus.h>

#include "conf/network-conf.h"
#include "manager.h"
#include "network-driver.h"
#include "object-store.h"
#include "startup-gate.h"

#define VM_NETWORK_PREFIX "/org/vmgmt/network"
#define VM_NETWORK_INTERFACE "org.vmgmt.Network"
#define VM_ERROR_NO_SUCH_NETWORK "org.vmgmt.Error.NoSuchNetwork"

typedef struct VmNetworks VmNetworks;
typedef struct VmNetwork VmNetwork;

/* The values of a network's changing properties, as last signalled. */
typedef struct VmNetworkProps {
        bool active, persistent, autostart;
        char *bridge;
        const char *forward;
        uint32_t dnsmasq_pid;
} VmNetworkProps;

struct VmNetwork {
        VmNetworks *nets;
        char *name;
        char uuid[37];
        char *path;                /* /org/vmgmt/network/ENCODED */
        NetworkDef *def;           /* the persistent definition (transient: the one it was created with) */
        NetworkRuntime *rt;        /* while active (also while starting / stopping) */
        bool persistent;
        bool autostart;
        bool starting, stopping;   /* a driver operation is under way */
        bool on_bus;               /* InterfacesAdded sent (or the bus came later) */
        VmNetworkProps last;
};

struct VmNetworks {
        Manager *manager;
        NetworkDriver *driver;
        ObjectStore store;         /* CONFIG/networks: NAME.xml, autostart links; name → VmNetwork*, owned */
        GHashTable *ops;           /* NetOp* waiting for the driver */
        StartupGate startup;       /* autostarts under way; vm_networks_when_started() */
        GHashTable *ovs_ports;     /* tap name → domain UUID text: openvswitch ports vmgmtd added */
};

/* A call (or a start-up action) waiting for the driver. */
typedef struct NetOp {
        VmNetworks *nets;
        sd_bus_message *message;   /* NULL for start-up */
        char *network;             /* looked up again on completion */
        const char *verb;
        NetworkDef *config_def;    /* Update: persistent definition to save once the live part succeeded */
} NetOp;

NetOp *net_op_new(VmNetworks *s, sd_bus_message *message, const char *verb, const char *network);
void net_op_free(NetOp *op);

/* ---- network.c ---- */

/* Creates the driver, loads CONFIG/networks, defines `default` the first time
 * (unless disabled: [daemon] default_network=false or VMGMT_DEFAULT_NETWORK=0),
 * adopts the networks a previous daemon left active and starts the autostart
 * ones. Called before the bus exists and before domains are autostarted. */
int vm_networks_startup(Manager *m);
/* Frees the driver (active networks keep running) and answers waiting calls. */
void vm_networks_shutdown(Manager *m);
void vm_networks_free(Manager *m);

VmNetwork *vm_network_find(VmNetworks *s, const char *name_or_uuid);
VmNetwork *vm_network_find_by_path(VmNetworks *s, const char *path);
int vm_network_new(VmNetworks *s, const NetworkDef *def, bool persistent, VmNetwork **ret);
void vm_network_remove(VmNetwork *n);
bool vm_network_is_active(VmNetwork *n);
/* The live definition when active, else the persistent one. */
const NetworkDef *vm_network_current_def(VmNetwork *n);
void vm_network_emit_changes(VmNetwork *n);
/* The pid of the network's dnsmasq while active, else 0 (property DnsmasqPID). */
uint32_t vm_network_dnsmasq_pid(VmNetwork *n);
void vm_network_emit_event(VmNetwork *n, const char *event);
void vm_network_add_to_bus(VmNetwork *n);
/* Every other network's current definition (for normalize / conflicts); g_free the array. */
const NetworkDef **vm_networks_others(VmNetworks *s, const char *skip_name, size_t *ret_n);

int vm_network_store_write(VmNetworks *s, const NetworkDef *def);
int vm_network_store_remove(VmNetworks *s, const char *name);
int vm_network_store_set_autostart(VmNetworks *s, const char *name, bool autostart);

/* Starts n (its def) in the driver; done(userdata) as network_start. */
int vm_network_start(VmNetwork *n, DriverDoneFn done, void *userdata);
/* After n (re)started: the taps of running domains on it are enslaved to its
 * bridge again (a stop leaves them in place, detached). Failures are logged. */
void vm_network_reattach_taps(VmNetwork *n);

/* The bridge a domain interface of type='network' uses: 0 and the bridge
 * (borrowed), or a negative errno with *ret_error (no such network, not active). */
int vm_networks_bridge_of(Manager *m, const char *network, const char **ret_bridge, bool *ret_ovs,
                          char **ret_error);

/* For a domain start: every <interface type='network'> of def gets its
 * network's bridge as source_bridge in *copy (made from def when *copy is
 * NULL; kept when given). 0, or a negative errno with *ret_error (malloc'd):
 * -ENOENT no such network, -ENOTCONN not active. */
int vm_networks_resolve_domain_nets(Manager *m, const DomainDef *def, DomainDef **copy, char **ret_error);

/* A domain started / stopped (service/domain.c's driver events): the taps of
 * its interfaces on openvswitch networks are added as ports of the bridge
 * (ovs-vsctl, a child on the loop; external-ids iface-id, attached-mac,
 * vm-id, iface-status) / deleted again. Failures are logged. */
void vm_networks_domain_started(Manager *m, const VmDomain *d);
void vm_networks_domain_stopped(Manager *m, const VmDomain *d);
/* DomainDriverEvents.create_tap (driver.h): a tap for a NIC of a domain
 * being started, made by the network driver. */
int vm_networks_create_tap(void *owner, const DomainNetDef *nic, char **ret_name, int *ret_fd);
/* The <bandwidth> nic gets on its tap: its own, else its network's default portgroup's (borrowed). */
void vm_networks_nic_bandwidth(Manager *m, const DomainNetDef *nic, const NetworkBandwidthRate **ret_in,
                               const NetworkBandwidthRate **ret_out);

/* Calls fn(m) once no network started at start-up is still starting (at once
 * when none is). */
void vm_networks_when_started(Manager *m, void (*fn)(Manager *m));

/* ---- network-dbus.c: org.vmgmt.Network, the kind vm_network_kind (object-kind.h) ---- */
extern const sd_bus_vtable network_vtable[];

/* ---- network-manager.c ---- */
int vm_manager_network_register(Manager *m);
