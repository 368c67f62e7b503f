/* network-conf-format.c — NetworkDef → canonical network XML (libvirt's element order, 2-space indent). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "network-conf-internal.h"

static void fmt_forward(GString *s, const NetworkDef *def) {
        bool nat = def->nat_start || def->nat_port_start;

        if (def->forward == NETWORK_FORWARD_NONE)
                return;
        fmt_indent(s, 1);
        g_string_append(s, "<forward");
        fmt_attr(s, "dev", def->forward_dev);
        fmt_attr(s, "mode", network_forward_mode_to_string(def->forward));
        if (!nat) {
                g_string_append(s, "/>\n");
                return;
        }
        g_string_append(s, ">\n");
        fmt_indent(s, 2);
        g_string_append(s, "<nat>\n");
        if (def->nat_start) {
                fmt_indent(s, 3);
                g_string_append(s, "<address");
                fmt_attr(s, "start", def->nat_start);
                fmt_attr(s, "end", def->nat_end);
                g_string_append(s, "/>\n");
        }
        if (def->nat_port_start) {
                fmt_indent(s, 3);
                g_string_append_printf(s, "<port start='%u' end='%u'/>\n", def->nat_port_start, def->nat_port_end);
        }
        fmt_indent(s, 2);
        g_string_append(s, "</nat>\n");
        fmt_indent(s, 1);
        g_string_append(s, "</forward>\n");
}

static void fmt_dns(GString *s, const NetworkDef *def) {
        bool children = def->n_dns_hosts || def->n_dns_forwarders || def->n_dns_txts || def->n_dns_srvs;

        if (def->dns_enable < 0 && !children)
                return;
        fmt_indent(s, 1);
        g_string_append(s, "<dns");
        if (def->dns_enable >= 0)
                fmt_attr(s, "enable", def->dns_enable ? "yes" : "no");
        if (!children) {
                g_string_append(s, "/>\n");
                return;
        }
        g_string_append(s, ">\n");
        for (size_t i = 0; i < def->n_dns_forwarders; i++) {
                fmt_indent(s, 2);
                g_string_append(s, "<forwarder");
                fmt_attr(s, "domain", def->dns_forwarders[i].domain);
                fmt_attr(s, "addr", def->dns_forwarders[i].addr);
                g_string_append(s, "/>\n");
        }
        network_dns_txt_srv_format(s, def);
        for (size_t i = 0; i < def->n_dns_hosts; i++) {
                const NetworkDnsHost *h = &def->dns_hosts[i];
                fmt_indent(s, 2);
                g_string_append(s, "<host");
                fmt_attr(s, "ip", h->ip);
                g_string_append(s, ">\n");
                for (size_t j = 0; j < h->n_hostnames; j++) {
                        fmt_indent(s, 3);
                        g_string_append(s, "<hostname>");
                        fmt_escape(s, h->hostnames[j]);
                        g_string_append(s, "</hostname>\n");
                }
                fmt_indent(s, 2);
                g_string_append(s, "</host>\n");
        }
        fmt_indent(s, 1);
        g_string_append(s, "</dns>\n");
}

void network_dhcp_host_format(GString *s, int level, const NetworkDhcpHost *h) {
        fmt_indent(s, level);
        g_string_append(s, "<host");
        fmt_attr(s, "mac", h->mac);
        fmt_attr(s, "id", h->id);
        fmt_attr(s, "name", h->name);
        fmt_attr(s, "ip", h->ip);
        g_string_append(s, "/>\n");
}

static void fmt_ip(GString *s, const NetworkIpDef *ip) {
        fmt_indent(s, 1);
        g_string_append(s, "<ip");
        if (ip->family == AF_INET6)
                fmt_attr(s, "family", "ipv6");
        fmt_attr(s, "address", ip->address);
        if (ip->netmask_given) {
                NetworkAddr m = { .family = AF_INET };
                char buf[INET6_ADDRSTRLEN];
                memset(m.b, 0xff, 4);
                m = network_addr_mask(&m, ip->prefix);
                network_addr_format(&m, buf);
                fmt_attr(s, "netmask", buf);
        } else
                fmt_attr_uint(s, "prefix", ip->prefix);
        network_ip_attrs_format(s, ip);
        if (!ip->has_dhcp && !ip->tftp_root) {
                g_string_append(s, "/>\n");
                return;
        }
        g_string_append(s, ">\n");
        network_ip_tftp_format(s, ip);
        if (!ip->has_dhcp)
                ;
        else if (ip->n_ranges == 0 && ip->n_hosts == 0 && !ip->bootp_file) {
                fmt_indent(s, 2);
                g_string_append(s, "<dhcp/>\n");
        } else {
                fmt_indent(s, 2);
                g_string_append(s, "<dhcp>\n");
                for (size_t i = 0; i < ip->n_ranges; i++) {
                        fmt_indent(s, 3);
                        g_string_append(s, "<range");
                        fmt_attr(s, "start", ip->ranges[i].start);
                        fmt_attr(s, "end", ip->ranges[i].end);
                        g_string_append(s, "/>\n");
                }
                for (size_t i = 0; i < ip->n_hosts; i++)
                        network_dhcp_host_format(s, 3, &ip->hosts[i]);
                network_ip_bootp_format(s, ip);
                fmt_indent(s, 2);
                g_string_append(s, "</dhcp>\n");
        }
        fmt_indent(s, 1);
        g_string_append(s, "</ip>\n");
}

char *network_def_format(const NetworkDef *def) {
        GString *s = g_string_new("<network>\n");

        fmt_indent(s, 1);
        g_string_append(s, "<name>");
        fmt_escape(s, def->name);
        g_string_append(s, "</name>\n");
        if (def->has_uuid) {
                char u[37];
                conf_uuid_format(def->uuid, u);
                fmt_indent(s, 1);
                g_string_append_printf(s, "<uuid>%s</uuid>\n", u);
        }
        fmt_forward(s, def);
        if (def->bridge) {
                fmt_indent(s, 1);
                g_string_append(s, "<bridge");
                fmt_attr(s, "name", def->bridge);
                if (def->stp >= 0)
                        fmt_attr(s, "stp", def->stp ? "on" : "off");
                if (def->delay >= 0)
                        fmt_attr_uint(s, "delay", (unsigned) def->delay);
                g_string_append(s, "/>\n");
        }
        if (def->mtu) {
                fmt_indent(s, 1);
                g_string_append_printf(s, "<mtu size='%u'/>\n", def->mtu);
        }
        if (def->mac) {
                fmt_indent(s, 1);
                g_string_append(s, "<mac");
                fmt_attr(s, "address", def->mac);
                g_string_append(s, "/>\n");
        }
        if (def->domain_name) {
                fmt_indent(s, 1);
                g_string_append(s, "<domain");
                fmt_attr(s, "name", def->domain_name);
                if (def->domain_local_only >= 0)
                        fmt_attr(s, "localOnly", def->domain_local_only ? "yes" : "no");
                g_string_append(s, "/>\n");
        }
        fmt_dns(s, def);
        if (def->virtualport_ovs) {
                fmt_indent(s, 1);
                g_string_append(s, "<virtualport type='openvswitch'/>\n");
        }
        for (size_t i = 0; i < def->n_ips; i++)
                fmt_ip(s, &def->ips[i]);
        network_portgroups_format(s, def);
        g_string_append(s, "</network>\n");
        return g_string_free(s, false);
}
