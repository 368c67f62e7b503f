/* network-conf.c — network definitions: lifetime, addresses, validation, normalization, cross-network checks. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf-internal.h"
#include "conf/network-conf.h"
#include "network-conf-internal.h"

const char *const network_forward_mode_table[] = { "isolated", "nat", "route", "open", "bridge", NULL };

const char *network_forward_mode_to_string(NetworkForwardMode m) {
        return m >= 0 && m < _NETWORK_FORWARD_MAX ? network_forward_mode_table[m] : NULL;
}

/* ---- lifetime ---- */

NetworkDef *network_def_new(void) {
        NetworkDef *def = calloc(1, sizeof(NetworkDef));
        if (!def)
                return NULL;
        def->stp = -1;
        def->delay = -1;
        def->domain_local_only = -1;
        def->dns_enable = -1;
        return def;
}

void network_dhcp_host_clear(NetworkDhcpHost *h) {
        free(h->mac);
        free(h->id);
        free(h->name);
        free(h->ip);
        *h = (NetworkDhcpHost) {};
}

void network_dhcp_range_clear(NetworkDhcpRange *r) {
        free(r->start);
        free(r->end);
        *r = (NetworkDhcpRange) {};
}

void network_dns_host_clear(NetworkDnsHost *h) {
        free(h->ip);
        for (size_t i = 0; h->hostnames && i < h->n_hostnames; i++)
                free(h->hostnames[i]);
        free(h->hostnames);
        *h = (NetworkDnsHost) {};
}

static void ip_clear(NetworkIpDef *ip) {
        free(ip->address);
        for (size_t i = 0; i < ip->n_ranges; i++)
                network_dhcp_range_clear(&ip->ranges[i]);
        free(ip->ranges);
        for (size_t i = 0; i < ip->n_hosts; i++)
                network_dhcp_host_clear(&ip->hosts[i]);
        free(ip->hosts);
        network_ip_extra_clear(ip);
}

NetworkDef *network_def_free(NetworkDef *def) {
        if (!def)
                return NULL;
        free(def->name);
        free(def->forward_dev);
        free(def->nat_start);
        free(def->nat_end);
        free(def->bridge);
        free(def->mac);
        free(def->domain_name);
        for (size_t i = 0; i < def->n_dns_hosts; i++)
                network_dns_host_clear(&def->dns_hosts[i]);
        free(def->dns_hosts);
        for (size_t i = 0; i < def->n_dns_forwarders; i++) {
                free(def->dns_forwarders[i].addr);
                free(def->dns_forwarders[i].domain);
        }
        free(def->dns_forwarders);
        for (size_t i = 0; i < def->n_ips; i++)
                ip_clear(&def->ips[i]);
        free(def->ips);
        network_def_free_extra(def);
        free(def);
        return NULL;
}

/* strdup that keeps NULL; sets *oom on failure */
char *network_dup_or_null(const char *s, bool *oom) {
        if (!s)
                return NULL;
        char *r = strdup(s);
        if (!r)
                *oom = true;
        return r;
}

static void *dup_array(const void *a, size_t n, size_t size, bool *oom) {
        if (n == 0)
                return NULL;
        void *r = calloc(n, size);
        if (!r) {
                *oom = true;
                return NULL;
        }
        memcpy(r, a, n * size);
        return r;
}

bool network_dhcp_host_copy(NetworkDhcpHost *dst, const NetworkDhcpHost *src) {
        bool oom = false;
        *dst = *src;
        dst->mac = network_dup_or_null(src->mac, &oom);
        dst->id = network_dup_or_null(src->id, &oom);
        dst->name = network_dup_or_null(src->name, &oom);
        dst->ip = network_dup_or_null(src->ip, &oom);
        return !oom;
}

bool network_dns_host_copy(NetworkDnsHost *dst, const NetworkDnsHost *src) {
        bool oom = false;
        *dst = *src;
        dst->ip = network_dup_or_null(src->ip, &oom);
        dst->hostnames = src->n_hostnames ? calloc(src->n_hostnames, sizeof(char *)) : NULL;
        if (src->n_hostnames && !dst->hostnames) {
                dst->n_hostnames = 0;
                return false;
        }
        for (size_t i = 0; i < src->n_hostnames; i++)
                dst->hostnames[i] = network_dup_or_null(src->hostnames[i], &oom);
        return !oom;
}

NetworkDef *network_def_copy(const NetworkDef *src) {
        NetworkDef *def = calloc(1, sizeof(NetworkDef));
        bool oom = false;

        if (!def)
                return NULL;
        *def = *src;
        def->name = network_dup_or_null(src->name, &oom);
        def->forward_dev = network_dup_or_null(src->forward_dev, &oom);
        def->nat_start = network_dup_or_null(src->nat_start, &oom);
        def->nat_end = network_dup_or_null(src->nat_end, &oom);
        def->bridge = network_dup_or_null(src->bridge, &oom);
        def->mac = network_dup_or_null(src->mac, &oom);
        def->domain_name = network_dup_or_null(src->domain_name, &oom);

        def->dns_hosts = NULL;
        def->n_dns_hosts = 0;
        def->dns_forwarders = NULL;
        def->n_dns_forwarders = 0;
        def->ips = NULL;
        def->n_ips = 0;
        if (!network_def_copy_extra(def, src))
                oom = true;
        if (oom)
                return network_def_free(def);

        if (src->n_dns_hosts) {
                def->dns_hosts = calloc(src->n_dns_hosts, sizeof(NetworkDnsHost));
                if (!def->dns_hosts)
                        return network_def_free(def);
                for (; def->n_dns_hosts < src->n_dns_hosts; def->n_dns_hosts++)
                        if (!network_dns_host_copy(&def->dns_hosts[def->n_dns_hosts], &src->dns_hosts[def->n_dns_hosts]))
                                oom = true;
        }
        if (src->n_dns_forwarders) {
                def->dns_forwarders = calloc(src->n_dns_forwarders, sizeof(NetworkDnsForwarder));
                if (!def->dns_forwarders)
                        return network_def_free(def);
                def->n_dns_forwarders = src->n_dns_forwarders;
                for (size_t i = 0; i < src->n_dns_forwarders; i++) {
                        def->dns_forwarders[i].addr = network_dup_or_null(src->dns_forwarders[i].addr, &oom);
                        def->dns_forwarders[i].domain = network_dup_or_null(src->dns_forwarders[i].domain, &oom);
                }
        }
        if (src->n_ips) {
                def->ips = calloc(src->n_ips, sizeof(NetworkIpDef));
                if (!def->ips)
                        return network_def_free(def);
                for (; def->n_ips < src->n_ips; def->n_ips++) {
                        const NetworkIpDef *s = &src->ips[def->n_ips];
                        NetworkIpDef *d = &def->ips[def->n_ips];
                        *d = *s;
                        d->address = network_dup_or_null(s->address, &oom);
                        if (!network_ip_copy_extra(d, s))
                                oom = true;
                        d->ranges = NULL;
                        d->hosts = NULL;
                        d->n_ranges = d->n_hosts = 0;
                        d->ranges = dup_array(s->ranges, s->n_ranges, sizeof(NetworkDhcpRange), &oom);
                        if (d->ranges) {
                                for (; d->n_ranges < s->n_ranges; d->n_ranges++) {
                                        d->ranges[d->n_ranges].start = network_dup_or_null(s->ranges[d->n_ranges].start, &oom);
                                        d->ranges[d->n_ranges].end = network_dup_or_null(s->ranges[d->n_ranges].end, &oom);
                                }
                        }
                        if (s->n_hosts) {
                                d->hosts = calloc(s->n_hosts, sizeof(NetworkDhcpHost));
                                if (!d->hosts)
                                        oom = true;
                                else
                                        for (; d->n_hosts < s->n_hosts; d->n_hosts++)
                                                if (!network_dhcp_host_copy(&d->hosts[d->n_hosts], &s->hosts[d->n_hosts]))
                                                        oom = true;
                        }
                }
        }
        if (oom)
                return network_def_free(def);
        return def;
}

/* ---- addresses ---- */

int network_addr_parse(const char *s, NetworkAddr *ret) {
        NetworkAddr a = {};

        if (isempty(s))
                return -EINVAL;
        if (inet_pton(AF_INET, s, a.b) == 1)
                a.family = AF_INET;
        else if (inet_pton(AF_INET6, s, a.b) == 1)
                a.family = AF_INET6;
        else
                return -EINVAL;
        *ret = a;
        return 0;
}

void network_addr_format(const NetworkAddr *a, char *out) {
        if (!inet_ntop(a->family, a->b, out, INET6_ADDRSTRLEN))
                strcpy(out, "?");
}

static size_t addr_len(int family) {
        return family == AF_INET ? 4 : 16;
}

int network_addr_cmp(const NetworkAddr *a, const NetworkAddr *b) {
        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        return memcmp(a->b, b->b, addr_len(a->family));
}

NetworkAddr network_addr_mask(const NetworkAddr *a, unsigned prefix) {
        NetworkAddr r = *a;
        size_t len = addr_len(a->family);
        for (size_t i = 0; i < len; i++) {
                unsigned bits = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;
                r.b[i] &= (uint8_t) (0xff00u >> bits);
        }
        return r;
}

/* Highest address of the subnet (broadcast for IPv4). */
NetworkAddr network_addr_last(const NetworkAddr *a, unsigned prefix) {
        NetworkAddr r = *a;
        size_t len = addr_len(a->family);
        for (size_t i = 0; i < len; i++) {
                unsigned bits = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;
                r.b[i] |= (uint8_t) ~(0xff00u >> bits);
        }
        return r;
}

bool network_addr_in_subnet(const NetworkAddr *a, const NetworkAddr *net, unsigned prefix) {
        if (a->family != net->family)
                return false;
        NetworkAddr x = network_addr_mask(a, prefix), y = network_addr_mask(net, prefix);
        return network_addr_cmp(&x, &y) == 0;
}

int network_netmask_to_prefix(const char *s, unsigned *ret) {
        NetworkAddr a;
        unsigned p = 0;
        bool zero_seen = false;

        if (network_addr_parse(s, &a) < 0 || a.family != AF_INET)
                return -EINVAL;
        for (unsigned i = 0; i < 32; i++) {
                bool bit = a.b[i / 8] & (0x80 >> (i % 8));
                if (bit && zero_seen)
                        return -EINVAL;
                if (bit)
                        p++;
                else
                        zero_seen = true;
        }
        *ret = p;
        return 0;
}

const NetworkIpDef *network_def_ipv4(const NetworkDef *def) {
        const NetworkIpDef *any = NULL;
        for (size_t i = 0; i < def->n_ips; i++)
                if (def->ips[i].family == AF_INET) {
                        if (def->ips[i].has_dhcp)
                                return &def->ips[i];
                        if (!any)
                                any = &def->ips[i];
                }
        return any;
}

bool network_def_managed_bridge(const NetworkDef *def) {
        return def->forward != NETWORK_FORWARD_BRIDGE;
}

/* ---- per-definition validation ---- */

static int validate_ip(const NetworkDef *def, const NetworkIpDef *ip, ConfError *err) {
        char net[INET6_ADDRSTRLEN];
        const char *fam = ip->family == AF_INET ? "IPv4" : "IPv6";
        NetworkAddr netaddr = network_addr_mask(&ip->addr, ip->prefix);

        network_addr_format(&netaddr, net);
        if (ip->family == AF_INET && ip->prefix < 31) {
                NetworkAddr last = network_addr_last(&ip->addr, ip->prefix);
                if (network_addr_cmp(&ip->addr, &netaddr) == 0 || network_addr_cmp(&ip->addr, &last) == 0)
                        return conf_error_set(err, 0, "<ip address='%s'> is the network or broadcast address of %s/%u",
                                              ip->address, net, ip->prefix);
        }
        if (ip->family == AF_INET6 && ip->has_dhcp && ip->prefix != 64)
                return conf_error_set(err, 0, "DHCPv6 and router advertisements need prefix 64 (<ip address='%s' prefix='%u'>)",
                                      ip->address, ip->prefix);

        for (size_t i = 0; i < ip->n_ranges; i++) {
                const NetworkDhcpRange *r = &ip->ranges[i];
                if (r->start_addr.family != ip->family || r->end_addr.family != ip->family)
                        return conf_error_set(err, 0, "DHCP range %s–%s is not %s like its <ip address='%s'>",
                                              r->start, r->end, fam, ip->address);
                if (!network_addr_in_subnet(&r->start_addr, &ip->addr, ip->prefix) ||
                    !network_addr_in_subnet(&r->end_addr, &ip->addr, ip->prefix))
                        return conf_error_set(err, 0, "DHCP range %s–%s is outside the network %s/%u",
                                              r->start, r->end, net, ip->prefix);
                if (network_addr_cmp(&r->start_addr, &r->end_addr) > 0)
                        return conf_error_set(err, 0, "DHCP range start %s is after its end %s", r->start, r->end);
                if (network_addr_cmp(&r->start_addr, &ip->addr) <= 0 && network_addr_cmp(&ip->addr, &r->end_addr) <= 0)
                        return conf_error_set(err, 0, "DHCP range %s–%s contains the network's own address %s",
                                              r->start, r->end, ip->address);
                if (ip->family == AF_INET && ip->prefix < 31) {
                        NetworkAddr last = network_addr_last(&ip->addr, ip->prefix);
                        if (network_addr_cmp(&r->start_addr, &netaddr) == 0 || network_addr_cmp(&r->end_addr, &last) == 0)
                                return conf_error_set(err, 0, "DHCP range %s–%s contains the network or broadcast address",
                                                      r->start, r->end);
                }
                for (size_t j = 0; j < i; j++) {
                        const NetworkDhcpRange *o = &ip->ranges[j];
                        if (network_addr_cmp(&r->start_addr, &o->end_addr) <= 0 &&
                            network_addr_cmp(&o->start_addr, &r->end_addr) <= 0)
                                return conf_error_set(err, 0, "DHCP ranges %s–%s and %s–%s overlap",
                                                      o->start, o->end, r->start, r->end);
                }
        }

        for (size_t i = 0; i < ip->n_hosts; i++) {
                const NetworkDhcpHost *h = &ip->hosts[i];
                const char *what = h->mac ?: h->id ?: h->name ?: h->ip;
                if (ip->family == AF_INET && !h->mac && !h->id)
                        return conf_error_set(err, 0, "DHCP host '%s' needs a mac= or id= attribute", strna(what));
                if (ip->family == AF_INET6 && h->mac)
                        return conf_error_set(err, 0, "DHCP host with mac='%s' in an IPv6 <ip>: IPv6 hosts are matched by id= (DUID) or name=",
                                              h->mac);
                if (ip->family == AF_INET6 && !h->id && !h->name)
                        return conf_error_set(err, 0, "IPv6 DHCP host '%s' needs an id= or name= attribute", strna(what));
                if (!h->ip && ip->family == AF_INET && !h->name)
                        return conf_error_set(err, 0, "DHCP host '%s' needs an ip= or name= attribute", strna(what));
                if (h->ip) {
                        if (h->addr.family != ip->family)
                                return conf_error_set(err, 0, "DHCP host address %s is not %s like its <ip address='%s'>",
                                                      h->ip, fam, ip->address);
                        if (!network_addr_in_subnet(&h->addr, &ip->addr, ip->prefix))
                                return conf_error_set(err, 0, "DHCP host address %s is outside the network %s/%u",
                                                      h->ip, net, ip->prefix);
                        if (network_addr_cmp(&h->addr, &ip->addr) == 0)
                                return conf_error_set(err, 0, "DHCP host address %s is the network's own address", h->ip);
                }
                for (size_t j = 0; j < i; j++) {
                        const NetworkDhcpHost *o = &ip->hosts[j];
                        if (h->mac && o->mac && streq(h->mac, o->mac))
                                return conf_error_set(err, 0, "two DHCP hosts with mac='%s'", h->mac);
                        if (h->id && o->id && streq(h->id, o->id))
                                return conf_error_set(err, 0, "two DHCP hosts with id='%s'", h->id);
                        if (h->ip && o->ip && network_addr_cmp(&h->addr, &o->addr) == 0)
                                return conf_error_set(err, 0, "two DHCP hosts with ip='%s'", h->ip);
                        if (h->name && o->name && streq(h->name, o->name) && ip->family == AF_INET6)
                                return conf_error_set(err, 0, "two DHCP hosts with name='%s'", h->name);
                }
        }
        return 0;
}

int network_def_validate(const NetworkDef *def, ConfError *err) {
        const char *reason;
        unsigned n_dhcp4 = 0, n_dhcp6 = 0;
        int r;

        if (conf_name_validate(def->name, &reason) < 0)
                return conf_error_set(err, 0, "invalid network name '%s': %s", strempty(def->name), reason);

        if (def->forward == NETWORK_FORWARD_BRIDGE) {
                if (!def->bridge)
                        return conf_error_set(err, 0, "<forward mode='bridge'> needs <bridge name='…'/> naming an existing host bridge");
                if (strchr(def->bridge, '%'))
                        return conf_error_set(err, 0, "<forward mode='bridge'> needs the name of an existing bridge, not the template '%s'",
                                              def->bridge);
                if (def->n_ips > 0 || def->n_dns_hosts > 0 || def->n_dns_forwarders > 0 || def->dns_enable >= 0)
                        return conf_error_set(err, 0, "<ip> and <dns> are not allowed with <forward mode='bridge'>: the host bridge is not managed by vmgmt");
                if (def->mac || def->mtu || def->domain_name || def->stp >= 0 || def->delay >= 0)
                        return conf_error_set(err, 0, "<mac>, <mtu>, <domain> and bridge stp/delay are not allowed with <forward mode='bridge'>");
                if (def->forward_dev)
                        return conf_error_set(err, 0, "<forward dev=> is not supported with mode 'bridge'");
        } else if (def->virtualport_ovs)
                return conf_error_set(err, 0, "<virtualport type='openvswitch'/> needs <forward mode='bridge'>");

        if (def->forward_dev && def->forward != NETWORK_FORWARD_NAT && def->forward != NETWORK_FORWARD_ROUTE)
                return conf_error_set(err, 0, "<forward dev='%s'> is only allowed with mode 'nat' or 'route'", def->forward_dev);
        if ((def->nat_start || def->nat_port_start) && def->forward != NETWORK_FORWARD_NAT)
                return conf_error_set(err, 0, "<nat> is only allowed in <forward mode='nat'>");
        if (def->nat_start) {
                if (def->nat_start_addr.family != AF_INET || def->nat_end_addr.family != AF_INET)
                        return conf_error_set(err, 0, "<nat><address start='%s' end='%s'/> must be IPv4 addresses",
                                              def->nat_start, def->nat_end);
                if (network_addr_cmp(&def->nat_start_addr, &def->nat_end_addr) > 0)
                        return conf_error_set(err, 0, "<nat><address>: start %s is after end %s", def->nat_start, def->nat_end);
        }
        if (def->nat_port_start && (def->nat_port_start > def->nat_port_end))
                return conf_error_set(err, 0, "<nat><port>: start %u is after end %u", def->nat_port_start, def->nat_port_end);

        if (def->dns_enable == 0 && (def->n_dns_hosts > 0 || def->n_dns_forwarders > 0))
                return conf_error_set(err, 0, "<dns enable='no'> cannot have <host> or <forwarder> entries");

        for (size_t i = 0; i < def->n_ips; i++) {
                const NetworkIpDef *ip = &def->ips[i];
                if (ip->has_dhcp) {
                        if ((ip->family == AF_INET ? ++n_dhcp4 : ++n_dhcp6) > 1)
                                return conf_error_set(err, 0, "only one %s <ip> may have <dhcp> (<ip address='%s'>)",
                                                      ip->family == AF_INET ? "IPv4" : "IPv6", ip->address);
                }
                r = validate_ip(def, ip, err);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++) {
                        const NetworkIpDef *o = &def->ips[j];
                        unsigned p = ip->prefix < o->prefix ? ip->prefix : o->prefix;
                        if (o->family == ip->family && network_addr_in_subnet(&ip->addr, &o->addr, p))
                                return conf_error_set(err, 0, "<ip address='%s'> and <ip address='%s'> overlap",
                                                      o->address, ip->address);
                }
        }
        return network_def_validate_extra(def, err);
}

/* ---- normalization ---- */

static bool bridge_taken(const NetworkNormalizeCtx *ctx, const NetworkDef *self, const char *name) {
        if (ctx) {
                for (size_t i = 0; i < ctx->n_others; i++) {
                        const NetworkDef *o = ctx->others[i];
                        if (o == self || !o->bridge || streq(o->name, self->name))
                                continue;
                        if (streq(o->bridge, name))
                                return true;
                }
                if (ctx->ifname_exists && ctx->ifname_exists(ctx->userdata, name))
                        return true;
        }
        return false;
}

static int pick_bridge_name(NetworkDef *def, const NetworkNormalizeCtx *ctx, const char *template, ConfError *err) {
        const char *pct = strstr(template, "%d");
        for (unsigned n = 0; n < 1024; n++) {
                _cleanup_free_ char *name = NULL;
                if (asprintf(&name, "%.*s%u%s", (int) (pct - template), template, n, pct + 2) < 0)
                        return -ENOMEM;
                if (strlen(name) > 15)
                        break;
                if (!bridge_taken(ctx, def, name)) {
                        free(def->bridge);
                        def->bridge = TAKE_PTR(name);
                        return 0;
                }
        }
        return conf_error_set(err, 0, "no free bridge name for the template '%s'", template);
}

int network_def_normalize(NetworkDef *def, const NetworkNormalizeCtx *ctx, ConfError *err) {
        int r;

        if (!def->has_uuid) {
                conf_uuid_generate(def->uuid);
                def->has_uuid = true;
        }
        if (!network_def_managed_bridge(def))
                return 0;

        if (!def->bridge || strstr(def->bridge, "%d")) {
                r = pick_bridge_name(def, ctx, def->bridge ?: "virbr%d", err);
                if (r < 0)
                        return r;
        }
        if (def->stp < 0)
                def->stp = 1;
        if (def->delay < 0)
                def->delay = 0;
        if (!def->mac) {
                char mac[18];
                conf_mac_generate(mac);
                def->mac = strdup(mac);
                if (!def->mac)
                        return -ENOMEM;
        }
        return 0;
}

/* ---- cross-network checks ---- */

int network_def_check_conflicts(const NetworkDef *def, const NetworkDef *const *others, size_t n_others, ConfError *err) {
        for (size_t i = 0; i < n_others; i++) {
                const NetworkDef *o = others[i];
                if (o == def || streq_ptr(o->name, def->name) ||
                    (o->has_uuid && def->has_uuid && memcmp(o->uuid, def->uuid, 16) == 0))
                        continue;
                if (def->bridge && o->bridge && streq(def->bridge, o->bridge))
                        return conf_error_set(err, 0, "bridge '%s' is already used by network '%s'", def->bridge, o->name);
                for (size_t a = 0; a < def->n_ips; a++)
                        for (size_t b = 0; b < o->n_ips; b++) {
                                const NetworkIpDef *x = &def->ips[a], *y = &o->ips[b];
                                unsigned p = x->prefix < y->prefix ? x->prefix : y->prefix;
                                if (x->family != y->family || !network_addr_in_subnet(&x->addr, &y->addr, p))
                                        continue;
                                char net[INET6_ADDRSTRLEN];
                                NetworkAddr m = network_addr_mask(&y->addr, y->prefix);
                                network_addr_format(&m, net);
                                return conf_error_set(err, 0, "<ip address='%s' prefix='%u'> overlaps %s/%u of network '%s'",
                                                      x->address, x->prefix, net, y->prefix, o->name);
                        }
        }
        return 0;
}

const char *network_default_xml(void) {
        return "<network>\n"
               "  <name>default</name>\n"
               "  <forward mode='nat'/>\n"
               "  <bridge name='virbr0' stp='on' delay='0'/>\n"
               "  <ip address='192.168.122.1' netmask='255.255.255.0'>\n"
               "    <dhcp>\n"
               "      <range start='192.168.122.2' end='192.168.122.254'/>\n"
               "    </dhcp>\n"
               "  </ip>\n"
               "</network>\n";
}
