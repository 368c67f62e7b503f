/* network-conf.h — libvirt-compatible network XML: the data model, parse, validate, normalize, format, update.
 *
 * Pure code like domain-conf.h: libxml2 and glib, nothing about D-Bus or netlink.
 * Flow: network_def_parse() (syntax + strict element/attribute checks with line
 * and did-you-mean, value checks, per-network semantic validation)
 * → network_def_normalize() (UUID, bridge name virbrN, bridge MAC, defaults)
 * → network_def_format() (canonical XML; parse+normalize+format of that output
 * yields the same text). Cross-network rules (a bridge name or a subnet used by
 * another network) are network_def_check_conflicts(), which the service calls
 * with the other networks it knows. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/domain-conf.h"   /* ConfError, conf_name_validate, conf_uuid_* */

typedef enum NetworkForwardMode {
        NETWORK_FORWARD_NONE,      /* no <forward>: isolated */
        NETWORK_FORWARD_NAT,
        NETWORK_FORWARD_ROUTE,
        NETWORK_FORWARD_OPEN,
        NETWORK_FORWARD_BRIDGE,    /* an existing host bridge (Linux or openvswitch) */
        _NETWORK_FORWARD_MAX,
} NetworkForwardMode;

/* An IPv4 or IPv6 address; bytes in network order (IPv4 in b[0..3]). */
typedef struct NetworkAddr {
        int family;                /* AF_INET, AF_INET6 (0 = unset) */
        uint8_t b[16];
} NetworkAddr;

typedef struct NetworkDhcpRange {
        char *start, *end;         /* canonical text */
        NetworkAddr start_addr, end_addr;
} NetworkDhcpRange;

typedef struct NetworkDhcpHost {
        char *mac;                 /* IPv4 only; lower case */
        char *id;                  /* client id / DUID (IPv6) */
        char *name;
        char *ip;                  /* canonical text */
        NetworkAddr addr;          /* family 0 when no ip */
} NetworkDhcpHost;

/* <dns><txt name= value=/>: dnsmasq txt-record. */
typedef struct NetworkDnsTxt {
        char *name, *value;
} NetworkDnsTxt;

/* <dns><srv service= protocol= domain= target= port= priority= weight=/>:
 * dnsmasq srv-host. port/priority/weight need a target; -1 = not given. */
typedef struct NetworkDnsSrv {
        char *service, *protocol;
        char *domain, *target;     /* NULL when not given */
        int port, priority, weight;
} NetworkDnsSrv;

/* NetworkBandwidthRate: conf/bandwidth-conf.h (domain-conf.h includes it) */

/* <portgroup>: settings a domain interface picks with <source portgroup=>. */
typedef struct NetworkPortgroup {
        char *name;
        bool is_default;
        int trust_guest_rx_filters;          /* -1 not given, 0, 1 */
        NetworkBandwidthRate inbound, outbound;
        unsigned *vlan_tags;       size_t n_vlan_tags;   /* <vlan><tag id=/>: openvswitch networks only */
        int vlan_trunk;                      /* -1 not given, 0, 1 */
        int vlan_native_tag;                 /* index in vlan_tags of the nativeMode tag, -1 none */
        bool vlan_native_untagged;           /* nativeMode='untagged' (else 'tagged') */
} NetworkPortgroup;

typedef struct NetworkIpDef {
        int family;                /* AF_INET / AF_INET6 */
        char *address;             /* canonical text of the host's address on the bridge */
        NetworkAddr addr;
        unsigned prefix;
        bool netmask_given;        /* formatted back as netmask= (IPv4) as it came */
        bool has_dhcp;             /* <dhcp> present (even empty) */
        NetworkDhcpRange *ranges;  size_t n_ranges;
        NetworkDhcpHost *hosts;    size_t n_hosts;
        int local_ptr;             /* localPtr=: -1 not given, 0, 1 (PTR queries for the subnet answered locally) */
        char *tftp_root;           /* <tftp root=/> (IPv4): dnsmasq's TFTP server */
        char *bootp_file;          /* <dhcp><bootp file= server=/> (IPv4) */
        char *bootp_server;        /* canonical text, NULL when not given */
} NetworkIpDef;

typedef struct NetworkDnsHost {
        char *ip;
        NetworkAddr addr;
        char **hostnames;          size_t n_hostnames;
} NetworkDnsHost;

typedef struct NetworkDnsForwarder {
        char *addr;                /* NULL: only domain (resolved locally, never forwarded) */
        char *domain;
} NetworkDnsForwarder;

typedef struct NetworkDef {
        char *name;
        unsigned char uuid[16];
        bool has_uuid;

        NetworkForwardMode forward;
        bool forward_given;        /* <forward> present (mode nat when no mode=) */
        char *forward_dev;         /* nat/route: only towards this interface */
        char *nat_start, *nat_end; /* <nat><address start end/>: SNAT pool (IPv4) */
        NetworkAddr nat_start_addr, nat_end_addr;
        unsigned nat_port_start, nat_port_end;  /* 0,0 = not given */

        char *bridge;              /* bridge name; may contain "%d" before normalize */
        int stp;                   /* -1 default (on), 0, 1 */
        int delay;                 /* -1 default (0), else seconds */
        char *mac;                 /* bridge MAC */
        unsigned mtu;              /* 0 = default */
        char *domain_name;
        int domain_local_only;     /* -1 not given, 0, 1 */
        bool virtualport_ovs;      /* <virtualport type='openvswitch'/> (forward bridge) */

        int dns_enable;            /* -1 not given, 0, 1 */
        NetworkDnsHost *dns_hosts;           size_t n_dns_hosts;
        NetworkDnsForwarder *dns_forwarders; size_t n_dns_forwarders;

        NetworkDnsTxt *dns_txts;             size_t n_dns_txts;
        NetworkDnsSrv *dns_srvs;             size_t n_dns_srvs;

        NetworkIpDef *ips;         size_t n_ips;
        NetworkPortgroup *portgroups;        size_t n_portgroups;
} NetworkDef;

#define NETWORK_XML_MAX_SIZE (1024u * 1024u)

const char *network_forward_mode_to_string(NetworkForwardMode m);  /* "isolated" for NONE */

NetworkDef *network_def_new(void);
NetworkDef *network_def_free(NetworkDef *def);   /* NULL-safe, returns NULL */
NetworkDef *network_def_copy(const NetworkDef *def);  /* NULL on OOM */

/* Parses and validates network XML (everything that can be checked within
 * one definition: addresses in their subnet, prefixes, overlapping DHCP
 * ranges, duplicate hosts, IPv6 rules, mode-specific elements). Returns 0 and
 * *ret, or -EINVAL with err, -EFBIG (len > NETWORK_XML_MAX_SIZE), -ENOMEM. */
int network_def_parse(const char *xml, size_t len, NetworkDef **ret, ConfError *err);

/* Re-runs the per-definition validation (after an update). 0 or -EINVAL with err. */
int network_def_validate(const NetworkDef *def, ConfError *err);

typedef struct NetworkNormalizeCtx {
        /* Other defined networks (their bridge names are taken). May be NULL. */
        const NetworkDef *const *others;
        size_t n_others;
        /* True when a host interface of that name exists (the driver's
         * network_ifname_exists). NULL: only others are considered. */
        bool (*ifname_exists)(void *userdata, const char *name);
        void *userdata;
} NetworkNormalizeCtx;

/* Fills in what libvirt fills in: UUID; for networks vmgmt creates a bridge
 * for (all modes but bridge): bridge name (the lowest free virbrN, or the
 * template's lowest free N when the name contains "%d"), stp on, delay 0,
 * and a bridge MAC 52:54:00:xx:xx:xx. Idempotent. 0 or -EINVAL with err. */
int network_def_normalize(NetworkDef *def, const NetworkNormalizeCtx *ctx, ConfError *err);

/* Checks def against the other networks (a network with def's name or UUID
 * in others is skipped: that is def's own older version): no shared bridge
 * name, no overlapping IPv4/IPv6 subnet. 0 or -EINVAL with err. */
int network_def_check_conflicts(const NetworkDef *def, const NetworkDef *const *others, size_t n_others, ConfError *err);

/* Canonical XML (libvirt's element order, 2-space indent, trailing newline).
 * malloc'd, NULL on OOM. */
char *network_def_format(const NetworkDef *def);

/* The built-in `default` network: virbr0, 192.168.122.1/24, DHCP .2–.254, NAT. */
const char *network_default_xml(void);

/* ---- virsh net-update on a definition ---- */

typedef enum NetworkUpdateCommand {
        NETWORK_UPDATE_ADD_LAST,
        NETWORK_UPDATE_ADD_FIRST,
        NETWORK_UPDATE_DELETE,
        NETWORK_UPDATE_MODIFY,
        _NETWORK_UPDATE_MAX,
} NetworkUpdateCommand;

/* "add-last" (also "add"), "add-first", "delete", "modify" → command; -EINVAL. */
int network_update_command_from_string(const char *s);

/* Applies one update to def in place: section "ip-dhcp-host", "ip-dhcp-range"
 * or "dns-host" (others -EOPNOTSUPP with err), xml the element (<host/>,
 * <range/>). parent_index selects the <ip> (-1: the first <ip> with <dhcp>
 * of the element's address family). Add refuses a duplicate (same MAC, IP or
 * name); delete and modify find the entry by MAC (IPv4 hosts), else id, name or
 * ip; -ENOENT with err when nothing matches. The result is validated; on any
 * error def is unchanged. */
int network_def_update(NetworkDef *def, const char *section, NetworkUpdateCommand cmd, int parent_index,
                       const char *xml, ConfError *err);

/* The reverse-lookup zone of an <ip>'s subnet ("122.168.192.in-addr.arpa",
 * nibbles + ".ip6.arpa"), for localPtr. malloc'd; NULL when the prefix is not
 * a multiple of 8 (IPv4) or 4 (IPv6), or on OOM. */
char *network_ip_ptr_domain(const NetworkIpDef *ip);

/* ---- addresses ---- */

/* Parses an IPv4 or IPv6 literal. 0 or -EINVAL. */
int network_addr_parse(const char *s, NetworkAddr *ret);
/* Canonical text; out ≥ INET6_ADDRSTRLEN. */
void network_addr_format(const NetworkAddr *a, char *out);
int network_addr_cmp(const NetworkAddr *a, const NetworkAddr *b);  /* same family assumed */
/* a with the host bits cleared (prefix bits kept). */
NetworkAddr network_addr_mask(const NetworkAddr *a, unsigned prefix);
bool network_addr_in_subnet(const NetworkAddr *a, const NetworkAddr *net, unsigned prefix);
/* Netmask text → prefix; -EINVAL when not contiguous. */
int network_netmask_to_prefix(const char *s, unsigned *ret);
/* The IPv4 <ip> with <dhcp> (or any IPv4 <ip> when none has dhcp); NULL. */
const NetworkIpDef *network_def_ipv4(const NetworkDef *def);
/* Does vmgmt create (and delete) the bridge? All modes but bridge. */
bool network_def_managed_bridge(const NetworkDef *def);
