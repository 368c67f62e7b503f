/* network-driver.h — the network driver: bridges (libnl3), dnsmasq, nftables rules and tap devices for virtual networks.
 *
 * The contract between the service (Network objects, persistence, names,
 * authorization, D-Bus) and the work behind a network. Nothing here knows
 * D-Bus. Everything runs on the one sd_event loop and nothing blocks it:
 * netlink requests on the driver's rtnetlink socket are answered by the
 * kernel at once and are made synchronously; helper programs (dnsmasq, nft,
 * ovs-vsctl) are child processes watched through pidfds on the loop.
 * Asynchronous operations return 0 and call their DriverDoneFn (driver.h)
 * exactly once later, also on failure (r < 0 with a message in the OS's or
 * the helper's words); or they fail at once with a negative errno and then
 * the callback is not called.
 *
 * Files live in RUN_DIR/network/ and are named by the network's UUID:
 * UUID.xml (live definition; its presence marks the network active),
 * UUID.conf (dnsmasq config), UUID.pid, UUID.leases, UUID.hostsfile,
 * UUID.addnhosts. Firewall rules live in the nftables table `inet vmgmt`:
 * base chains with verdict maps keyed by bridge name, and per network the
 * chains fwd_in_BRIDGE, fwd_out_BRIDGE, nat_BRIDGE, in_BRIDGE. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "conf/network-conf.h"
#include "driver.h"   /* DriverDoneFn */

typedef struct NetworkDriver NetworkDriver;
typedef struct NetworkRuntime NetworkRuntime;   /* an active network, owned by the driver */

typedef struct NetworkDriverEvents {
        /* The dnsmasq of an active network exited unexpectedly. restarted: a new
         * one runs (leases kept); false: restarting failed or it died too often
         * (5 times in 30 s) and the network has no DHCP/DNS until restarted.
         * Informational: the network stays active either way. May be NULL. */
        void (*dnsmasq_exited)(void *owner, bool restarted, const char *message);
        void *userdata;
} NetworkDriverEvents;

/* Creates the driver: opens its rtnetlink socket and creates RUN_DIR/network.
 * run_dir is the daemon's run dir (VmPaths.run_dir). Bounded, synchronous. */
int network_driver_new(sd_event *event, const char *run_dir, const NetworkDriverEvents *events, NetworkDriver **ret);
/* Frees the driver object only: active networks keep running (bridges,
 * dnsmasq, rules stay for the next daemon to recover). Runtimes must not be
 * used afterwards. Returns NULL. */
NetworkDriver *network_driver_free(NetworkDriver *d);

/* Is name the device of an openvswitch bridge: kind openvswitch (kernel
 * datapath) or a tap (the internal port of a userspace datapath)? */
bool network_bridge_is_ovs(NetworkDriver *d, const char *name);

/* For NetworkNormalizeCtx.ifname_exists (userdata: the NetworkDriver). */
bool network_ifname_exists(void *userdata, const char *name);

/* ---- lifecycle ---- */

/* Starts def (normalized, conflicts already checked by the caller; copied).
 * Creates the bridge with its MAC, MTU, STP/delay and addresses and brings
 * it up, enables forwarding (nat/route), loads the firewall chains, starts
 * dnsmasq when the network has an <ip> and writes UUID.xml. Forward mode
 * bridge only checks that the host bridge exists. *ret_rt is valid at once;
 * done reports the outcome. On failure everything made so far is undone and
 * the runtime is freed before done is called (-EEXIST: the bridge already
 * exists; -ENODEV: the host bridge of mode bridge does not). */
int network_start(NetworkDriver *d, const NetworkDef *def, void *owner, NetworkRuntime **ret_rt,
                  DriverDoneFn done, void *userdata);

/* Stops the network: dnsmasq (SIGTERM, SIGKILL after 3 s), the firewall
 * chains (and the table when no network needs it any more), the bridge and
 * every file. Taps still attached stay (the kernel detaches them from the
 * deleted bridge; they go away with their domains). The runtime is freed
 * before done is called; done reports r < 0 only when something could not be
 * removed (the rest was). -EBUSY at once while another operation (start,
 * update) on rt is in flight. */
int network_stop(NetworkRuntime *rt, DriverDoneFn done, void *userdata);

/* Called by network_recover() for each network found active (UUID.xml in
 * the run dir). def: the live definition (ownership passed). rt: adopted,
 * or NULL when what was left is not usable (bridge gone) — its leftovers have
 * then been removed and the network is inactive. */
typedef void (*NetworkRecoverFn)(void *userdata, NetworkDef *def, NetworkRuntime *rt);

/* Finds the networks a previous daemon left active and adopts them without
 * disturbing them: the bridge is kept, the running dnsmasq (pid file +
 * /proc/PID/cmdline naming our config) is watched again through a pidfd (or
 * started again when it is gone; the leases file is kept), and the nftables
 * table is rebuilt in one transaction in the background (stale chains of
 * networks that are gone dropped, the recovered ones' chains loaded).
 * Bounded, synchronous; call it once, before starting any network. */
int network_recover(NetworkDriver *d, NetworkRecoverFn fn, void *userdata);

/* The same for one network whose live definition the caller has (its chains
 * are reloaded in the background). Returns 1 and *ret_rt when adopted, 0 when
 * it is not active (leftovers removed). */
int network_recover_one(NetworkDriver *d, const NetworkDef *def, NetworkRuntime **ret_rt);

void network_runtime_set_owner(NetworkRuntime *rt, void *owner);
const NetworkDef *network_runtime_def(NetworkRuntime *rt);   /* the live definition */
const char *network_runtime_bridge(NetworkRuntime *rt);
pid_t network_runtime_dnsmasq_pid(NetworkRuntime *rt);       /* 0 when none */

/* Applies a new live definition (the service runs network_def_update() on a
 * copy of network_runtime_def() and passes the result): when only DHCP
 * hosts or DNS hosts changed, rewrites the hostsfile/addnhosts and sends
 * dnsmasq SIGHUP; otherwise writes the new config and restarts dnsmasq
 * (leases kept). Bridge-level changes (name, addresses, forward mode) are
 * refused with -EOPNOTSUPP at once. The runtime keeps a copy of def. */
int network_runtime_update(NetworkRuntime *rt, const NetworkDef *def, DriverDoneFn done, void *userdata);

/* Enslaves an existing tap of a running domain (left detached when the
 * network stopped) to rt's bridge again, with the bridge's MTU, and brings it
 * up; idempotent when it is already there. Synchronous (netlink). -ENODEV: no
 * such tap; -ENOTTY: tap is not a tap device; -EOPNOTSUPP: rt's bridge is an
 * openvswitch one (use network_ovs_port_add). */
int network_runtime_attach_tap(NetworkRuntime *rt, const char *tap);

/* ---- DHCP leases ---- */

typedef struct NetworkLease {
        char *mac;            /* NULL for IPv6 leases unless a static host names one */
        char *ip;
        unsigned prefix;
        char *hostname;       /* NULL when unknown */
        char *client_id;      /* IPv4 client id / IPv6 DUID; NULL when none */
        char *iaid;           /* IPv6 only */
        uint64_t expiry;      /* seconds since the epoch, 0 = never */
        int family;           /* AF_INET, AF_INET6 */
} NetworkLease;

const char *network_lease_type(const NetworkLease *l);   /* "ipv4" / "ipv6" */
void network_leases_free(NetworkLease *l, size_t n);

/* Parses dnsmasq's leases file text; prefix from def's matching <ip>,
 * hostname filled from def's static hosts when the client sent none. */
int network_leases_parse(const char *text, const NetworkDef *def, NetworkLease **ret, size_t *ret_n);

/* The current leases of an active network (reads UUID.leases; bounded). */
int network_runtime_leases(NetworkRuntime *rt, NetworkLease **ret, size_t *ret_n);

/* ---- taps for domains (called by the hypervisor runtime; no NetworkDriver needed) ---- */

/* Host side MAC of a guest MAC, as libvirt makes it: first byte 0xfe. */
void network_tap_host_mac(const char *guest_mac, char out[18]);

/* Creates a tap (TUNSETIFF, IFF_TAP|IFF_NO_PI|IFF_VNET_HDR) named by
 * name_template ("vnet%d" when NULL: the kernel picks the lowest free),
 * sets its MAC to network_tap_host_mac(guest_mac), its MTU (0: the bridge's),
 * attaches it to the Linux bridge `bridge` (NULL, ovs, or a bridge whose
 * device is an openvswitch one — kind openvswitch, or the tap of a userspace
 * datapath —: no master; add the openvswitch port with network_ovs_port_add)
 * and brings it up.
 * Returns 0 with the tap's name (malloc'd) and its fd (O_CLOEXEC; the tap
 * disappears when the last fd to it is closed, i.e. when qemu and the caller
 * have both closed theirs). -ENODEV: no such bridge. */
int network_tap_create(const char *name_template, const char *guest_mac, const char *bridge,
                       bool ovs, unsigned mtu, char **ret_name, int *ret_fd);
/* Deletes a tap by name (0 also when it is already gone). */
int network_tap_delete(const char *name);
/* Sets an interface's <bandwidth> on its tap (network-bandwidth.c), replacing what was set: inbound
 * (host→guest) as an htb root qdisc, outbound (guest→host) as ingress policing; an unset rate
 * removes that direction's. On failure nothing is left set and *ret_error (may be NULL) says why. */
int network_tap_set_bandwidth(const char *tap, const NetworkBandwidthRate *inbound, const NetworkBandwidthRate *outbound,
                              char **ret_error);

/* ovs-vsctl --may-exist add-port BRIDGE TAP -- set Interface TAP with
 * external-ids attached-mac=GUEST_MAC, iface-id=IFACE_ID and vm-id=VM_ID
 * (each when not NULL) and iface-status=active, as libvirt sets them /
 * --if-exists del-port TAP, run as a child on event's loop (never blocking).
 * -ENOENT at once when ovs-vsctl is not installed. A job still running when
 * the loop goes away is abandoned. */
int network_ovs_port_add(sd_event *event, const char *bridge, const char *tap, const char *guest_mac,
                         const char *iface_id, const char *vm_id, DriverDoneFn done, void *userdata);
int network_ovs_port_del(sd_event *event, const char *tap, DriverDoneFn done, void *userdata);
