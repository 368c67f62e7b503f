/* network-conf-parse.c — network XML → NetworkDef with strict element/attribute checks. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <libxml/parser.h>

#include "network-conf-internal.h"

static const XmlSpec spec_network = {
        .attrs = STRV("connections"),   /* live-only count in libvirt's dumps; ignored */
        .children = STRV("name", "uuid", "forward", "bridge", "mac", "mtu", "domain", "dns", "virtualport"),
        .multi = STRV("ip", "portgroup"),
};
static const XmlSpec spec_text = { .text = true };
static const XmlSpec spec_forward = { .attrs = STRV("mode", "dev"), .children = STRV("nat") };
static const XmlSpec spec_nat = { .children = STRV("address", "port") };
static const XmlSpec spec_start_end = { .attrs = STRV("start", "end") };
static const XmlSpec spec_bridge = { .attrs = STRV("name", "stp", "delay") };
static const XmlSpec spec_mac = { .attrs = STRV("address") };
static const XmlSpec spec_mtu = { .attrs = STRV("size") };
static const XmlSpec spec_domain = { .attrs = STRV("name", "localOnly") };
static const XmlSpec spec_dns = { .attrs = STRV("enable"), .multi = STRV("host", "forwarder", "txt", "srv") };
static const XmlSpec spec_dns_host = { .attrs = STRV("ip"), .multi = STRV("hostname") };
static const XmlSpec spec_forwarder = { .attrs = STRV("addr", "domain") };
static const XmlSpec spec_virtualport = { .attrs = STRV("type") };
static const XmlSpec spec_ip = { .attrs = STRV("address", "netmask", "prefix", "family", "localPtr"),
                                 .children = STRV("dhcp", "tftp") };
static const XmlSpec spec_dhcp = { .children = STRV("bootp"), .multi = STRV("range", "host") };
static const XmlSpec spec_dhcp_host = { .attrs = STRV("mac", "id", "name", "ip") };

static const char *nname(xmlNode *n) {
        return (const char *) n->name;
}

/* A required attribute holding an IP address. */
static int attr_addr(xmlNode *n, const char *attr, bool required, char **ret_text, NetworkAddr *ret, ConfError *err) {
        _cleanup_free_ char *v = xml_attr(n, attr);
        char buf[INET6_ADDRSTRLEN];

        if (!v) {
                if (required)
                        return conf_error_set(err, xml_line(n), "<%s> needs a %s= attribute", nname(n), attr);
                return 0;
        }
        if (network_addr_parse(v, ret) < 0)
                return conf_error_set(err, xml_line(n), "invalid IP address '%s' in attribute '%s' of <%s>", v, attr, nname(n));
        network_addr_format(ret, buf);
        char *c = strdup(buf);
        if (!c)
                return -ENOMEM;
        free(*ret_text);
        *ret_text = c;
        return 1;
}

/* Host/domain names as dnsmasq takes them: letters, digits, '-', '.', '_'. */
bool network_dns_name_valid(const char *s) {
        if (isempty(s) || strlen(s) > 253 || s[0] == '.' || s[0] == '-')
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '-' || *p == '.' || *p == '_'))
                        return false;
        return true;
}

int network_dhcp_range_parse(xmlNode *n, NetworkDhcpRange *rg, ConfError *err) {
        int r = xml_validate(n, &spec_start_end, err);
        if (r < 0)
                return r;
        r = attr_addr(n, "start", true, &rg->start, &rg->start_addr, err);
        if (r < 0)
                return r;
        return attr_addr(n, "end", true, &rg->end, &rg->end_addr, err) < 0 ? -EINVAL : 0;
}

int network_dhcp_host_parse(xmlNode *n, int family_hint, NetworkDhcpHost *h, ConfError *err) {
        _cleanup_free_ char *mac = NULL;
        int r;

        r = xml_validate(n, &spec_dhcp_host, err);
        if (r < 0)
                return r;
        mac = xml_attr(n, "mac");
        if (mac) {
                char m[18];
                if (conf_mac_parse(mac, m) < 0)
                        return conf_error_set(err, xml_line(n), "invalid MAC address '%s' in <host>", mac);
                h->mac = strdup(m);
                if (!h->mac)
                        return -ENOMEM;
        }
        if ((r = xml_attr_str(n, "id", &h->id)) < 0 || (r = xml_attr_str(n, "name", &h->name)) < 0)
                return r;
        if (h->id && (isempty(h->id) || strpbrk(h->id, ", \t\n#")))
                return conf_error_set(err, xml_line(n), "invalid DHCP client id '%s' in <host>", h->id);
        if (h->name && !network_dns_name_valid(h->name))
                return conf_error_set(err, xml_line(n), "invalid host name '%s' in <host>", h->name);
        r = attr_addr(n, "ip", false, &h->ip, &h->addr, err);
        if (r < 0)
                return r;
        if (!h->mac && !h->id && !h->name)
                return conf_error_set(err, xml_line(n), "<host> needs mac=, id= or name=");
        (void) family_hint;
        return 0;
}

int network_dns_host_parse(xmlNode *n, NetworkDnsHost *h, ConfError *err) {
        int r = xml_validate(n, &spec_dns_host, err);
        if (r < 0)
                return r;
        r = attr_addr(n, "ip", true, &h->ip, &h->addr, err);
        if (r < 0)
                return r;
        for (xmlNode *c = n->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE)
                        continue;
                _cleanup_free_ char *t = NULL;
                if ((r = xml_validate(c, &spec_text, err)) < 0 || (r = xml_text(c, &t)) < 0)
                        return r;
                g_strstrip(t);
                if (!network_dns_name_valid(t))
                        return conf_error_set(err, xml_line(c), "invalid host name '%s' in <hostname>", t);
                char **l = conf_array_append(&h->hostnames, &h->n_hostnames, sizeof(char *));
                if (!l)
                        return -ENOMEM;
                *l = TAKE_PTR(t);
        }
        if (h->n_hostnames == 0)
                return conf_error_set(err, xml_line(n), "<host ip='%s'> in <dns> needs at least one <hostname>", h->ip);
        return 0;
}

static int parse_text_child(xmlNode *n, char **ret, ConfError *err) {
        int r = xml_validate(n, &spec_text, err);
        if (r < 0)
                return r;
        r = xml_text(n, ret);
        if (r < 0)
                return r;
        g_strstrip(*ret);
        return 0;
}

static bool ifname_valid(const char *s) {
        if (isempty(s) || strlen(s) > 15 || streq(s, ".") || streq(s, ".."))
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '-' || *p == '.' || *p == '_' || *p == '%'))
                        return false;
        const char *pct = strchr(s, '%');
        return !pct || (pct[1] == 'd' && !strchr(pct + 1, '%'));
}

static int parse_forward(NetworkDef *def, xmlNode *n, ConfError *err) {
        xmlNode *nat, *c;
        int mode, r;

        if ((r = xml_validate(n, &spec_forward, err)) < 0)
                return r;
        def->forward_given = true;
        def->forward = NETWORK_FORWARD_NAT;
        r = xml_attr_enum(n, "mode", STRV("nat", "route", "open", "bridge"), &mode, err);
        if (r < 0)
                return r;
        if (r > 0)
                def->forward = (NetworkForwardMode) (mode + 1);
        if ((r = xml_attr_str(n, "dev", &def->forward_dev)) < 0)
                return r;
        if (def->forward_dev && (!ifname_valid(def->forward_dev) || strchr(def->forward_dev, '%')))
                return conf_error_set(err, xml_line(n), "invalid interface name '%s' in <forward dev=>", def->forward_dev);
        nat = xml_child(n, "nat");
        if (!nat)
                return 0;
        if ((r = xml_validate(nat, &spec_nat, err)) < 0)
                return r;
        c = xml_child(nat, "address");
        if (c) {
                if ((r = xml_validate(c, &spec_start_end, err)) < 0 ||
                    (r = attr_addr(c, "start", true, &def->nat_start, &def->nat_start_addr, err)) < 0)
                        return r;
                if ((r = attr_addr(c, "end", false, &def->nat_end, &def->nat_end_addr, err)) < 0)
                        return r;
                if (r == 0) {
                        def->nat_end = strdup(def->nat_start);
                        def->nat_end_addr = def->nat_start_addr;
                        if (!def->nat_end)
                                return -ENOMEM;
                }
        }
        c = xml_child(nat, "port");
        if (c) {
                uint64_t s = 0, e = 0;
                if ((r = xml_validate(c, &spec_start_end, err)) < 0 ||
                    (r = xml_attr_uint(c, "start", 10, 65535, &s, err)) < 0 ||
                    (r = xml_attr_uint(c, "end", 10, 65535, &e, err)) < 0)
                        return r;
                if (s == 0 || e == 0)
                        return conf_error_set(err, xml_line(c), "<port> needs start= and end= between 1 and 65535");
                def->nat_port_start = (unsigned) s;
                def->nat_port_end = (unsigned) e;
        }
        return 0;
}

static int parse_bridge(NetworkDef *def, xmlNode *n, ConfError *err) {
        uint64_t delay;
        int r;

        if ((r = xml_validate(n, &spec_bridge, err)) < 0 || (r = xml_attr_str(n, "name", &def->bridge)) < 0)
                return r;
        if (def->bridge && !ifname_valid(def->bridge))
                return conf_error_set(err, xml_line(n),
                                      "invalid bridge name '%s': at most 15 letters, digits, '-', '.', '_' (and one %%d)",
                                      def->bridge);
        if ((r = xml_attr_bool(n, "stp", true, &def->stp, err)) < 0)
                return r;
        r = xml_attr_uint(n, "delay", 10, 30, &delay, err);
        if (r < 0)
                return r;
        if (r > 0)
                def->delay = (int) delay;
        return 0;
}

static int parse_ip(NetworkDef *def, xmlNode *n, ConfError *err) {
        _cleanup_free_ char *netmask = NULL, *family = NULL;
        NetworkIpDef *ip;
        uint64_t prefix;
        int r, has_prefix;

        if ((r = xml_validate(n, &spec_ip, err)) < 0)
                return r;
        ip = conf_array_append(&def->ips, &def->n_ips, sizeof(NetworkIpDef));
        if (!ip)
                return -ENOMEM;
        if ((r = attr_addr(n, "address", true, &ip->address, &ip->addr, err)) < 0)
                return r;
        ip->family = ip->addr.family;
        family = xml_attr(n, "family");
        if (family) {
                if (!streq(family, "ipv4") && !streq(family, "ipv6"))
                        return conf_error_set(err, xml_line(n), "invalid value '%s' for attribute 'family' of <ip> (allowed: ipv4, ipv6)", family);
                if ((ip->family == AF_INET) != streq(family, "ipv4"))
                        return conf_error_set(err, xml_line(n), "<ip family='%s'> but address '%s' is %s", family, ip->address,
                                              ip->family == AF_INET ? "IPv4" : "IPv6");
        }
        netmask = xml_attr(n, "netmask");
        has_prefix = xml_attr_uint(n, "prefix", 10, ip->family == AF_INET ? 32 : 128, &prefix, err);
        if (has_prefix < 0)
                return has_prefix;
        if (netmask && has_prefix)
                return conf_error_set(err, xml_line(n), "<ip> has both netmask= and prefix=; give one");
        if (netmask) {
                if (ip->family != AF_INET)
                        return conf_error_set(err, xml_line(n), "netmask= is for IPv4; use prefix= with IPv6 address '%s'", ip->address);
                if (network_netmask_to_prefix(netmask, &ip->prefix) < 0)
                        return conf_error_set(err, xml_line(n), "invalid netmask '%s' (not a contiguous IPv4 mask)", netmask);
                ip->netmask_given = true;
        } else if (has_prefix)
                ip->prefix = (unsigned) prefix;
        else if (ip->family == AF_INET) {
                /* libvirt's classful default */
                uint8_t a = ip->addr.b[0];
                ip->prefix = a < 128 ? 8 : a < 192 ? 16 : 24;
        } else
                ip->prefix = 64;
        if (ip->prefix == 0)
                return conf_error_set(err, xml_line(n), "prefix 0 is not a network (<ip address='%s'>)", ip->address);

        xmlNode *dhcp = xml_child(n, "dhcp");
        if (dhcp && (r = xml_validate(dhcp, &spec_dhcp, err)) < 0)
                return r;
        if ((r = network_ip_extra_parse(n, dhcp, ip, err)) < 0)
                return r;
        if (!dhcp)
                return 0;
        ip->has_dhcp = true;
        for (xmlNode *c = dhcp->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE || streq(nname(c), "bootp"))
                        continue;
                if (streq(nname(c), "range")) {
                        NetworkDhcpRange *rg = conf_array_append(&ip->ranges, &ip->n_ranges, sizeof(NetworkDhcpRange));
                        if (!rg)
                                return -ENOMEM;
                        r = network_dhcp_range_parse(c, rg, err);
                } else {
                        NetworkDhcpHost *h = conf_array_append(&ip->hosts, &ip->n_hosts, sizeof(NetworkDhcpHost));
                        if (!h)
                                return -ENOMEM;
                        r = network_dhcp_host_parse(c, ip->family, h, err);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_dns(NetworkDef *def, xmlNode *n, ConfError *err) {
        int r;

        if ((r = xml_validate(n, &spec_dns, err)) < 0 || (r = xml_attr_bool(n, "enable", false, &def->dns_enable, err)) < 0)
                return r;
        for (xmlNode *c = n->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE)
                        continue;
                if (streq(nname(c), "txt")) {
                        NetworkDnsTxt *t = conf_array_append(&def->dns_txts, &def->n_dns_txts, sizeof(NetworkDnsTxt));
                        if (!t)
                                return -ENOMEM;
                        if ((r = network_dns_txt_parse(c, t, err)) < 0)
                                return r;
                } else if (streq(nname(c), "srv")) {
                        NetworkDnsSrv *v = conf_array_append(&def->dns_srvs, &def->n_dns_srvs, sizeof(NetworkDnsSrv));
                        if (!v)
                                return -ENOMEM;
                        if ((r = network_dns_srv_parse(c, v, err)) < 0)
                                return r;
                } else if (streq(nname(c), "host")) {
                        NetworkDnsHost *h = conf_array_append(&def->dns_hosts, &def->n_dns_hosts, sizeof(NetworkDnsHost));
                        if (!h)
                                return -ENOMEM;
                        if ((r = network_dns_host_parse(c, h, err)) < 0)
                                return r;
                } else {
                        NetworkDnsForwarder *f = conf_array_append(&def->dns_forwarders, &def->n_dns_forwarders,
                                                                   sizeof(NetworkDnsForwarder));
                        NetworkAddr a;
                        if (!f)
                                return -ENOMEM;
                        if ((r = xml_validate(c, &spec_forwarder, err)) < 0 ||
                            (r = attr_addr(c, "addr", false, &f->addr, &a, err)) < 0 ||
                            (r = xml_attr_str(c, "domain", &f->domain)) < 0)
                                return r;
                        if (!f->addr && !f->domain)
                                return conf_error_set(err, xml_line(c), "<forwarder> needs addr= or domain=");
                        if (f->domain && !network_dns_name_valid(f->domain))
                                return conf_error_set(err, xml_line(c), "invalid domain '%s' in <forwarder>", f->domain);
                }
        }
        return 0;
}

static int parse_network(NetworkDef *def, xmlNode *root, ConfError *err) {
        xmlNode *n;
        int r;

        if ((r = xml_validate(root, &spec_network, err)) < 0)
                return r;

        n = xml_child(root, "name");
        if (!n)
                return conf_error_set(err, xml_line(root), "missing <name> in <network>");
        if ((r = parse_text_child(n, &def->name, err)) < 0)
                return r;
        const char *reason;
        if (conf_name_validate(def->name, &reason) < 0)
                return conf_error_set(err, xml_line(n), "invalid network name '%s': %s", def->name, reason);

        n = xml_child(root, "uuid");
        if (n) {
                _cleanup_free_ char *u = NULL;
                if ((r = parse_text_child(n, &u, err)) < 0)
                        return r;
                if (conf_uuid_parse(u, def->uuid) < 0)
                        return conf_error_set(err, xml_line(n), "invalid UUID '%s'", u);
                def->has_uuid = true;
        }
        if ((n = xml_child(root, "forward")) && (r = parse_forward(def, n, err)) < 0)
                return r;
        if ((n = xml_child(root, "bridge")) && (r = parse_bridge(def, n, err)) < 0)
                return r;
        if ((n = xml_child(root, "mac"))) {
                _cleanup_free_ char *mac = NULL;
                char m[18];
                if ((r = xml_validate(n, &spec_mac, err)) < 0)
                        return r;
                mac = xml_attr(n, "address");
                if (!mac || conf_mac_parse(mac, m) < 0)
                        return conf_error_set(err, xml_line(n), "invalid or missing MAC address '%s' in <mac>", strempty(mac));
                if (!(def->mac = strdup(m)))
                        return -ENOMEM;
        }
        if ((n = xml_child(root, "mtu"))) {
                uint64_t mtu;
                if ((r = xml_validate(n, &spec_mtu, err)) < 0 || (r = xml_attr_uint(n, "size", 10, 65535, &mtu, err)) < 0)
                        return r;
                if (r == 0 || mtu < 68)
                        return conf_error_set(err, xml_line(n), "<mtu size=> must be between 68 and 65535");
                def->mtu = (unsigned) mtu;
        }
        if ((n = xml_child(root, "domain"))) {
                if ((r = xml_validate(n, &spec_domain, err)) < 0 || (r = xml_attr_str(n, "name", &def->domain_name)) < 0 ||
                    (r = xml_attr_bool(n, "localOnly", false, &def->domain_local_only, err)) < 0)
                        return r;
                if (!network_dns_name_valid(def->domain_name))
                        return conf_error_set(err, xml_line(n), "invalid or missing domain name '%s' in <domain>",
                                              strempty(def->domain_name));
        }
        if ((n = xml_child(root, "dns")) && (r = parse_dns(def, n, err)) < 0)
                return r;
        if ((n = xml_child(root, "virtualport"))) {
                _cleanup_free_ char *t = NULL;
                if ((r = xml_validate(n, &spec_virtualport, err)) < 0)
                        return r;
                t = xml_attr(n, "type");
                if (!t || !streq(t, "openvswitch"))
                        return conf_error_set(err, xml_line(n), "unsupported <virtualport type='%s'> (supported: openvswitch)", strempty(t));
                def->virtualport_ovs = true;
        }
        for (n = root->children; n; n = n->next)
                if (n->type == XML_ELEMENT_NODE && streq(nname(n), "ip") && (r = parse_ip(def, n, err)) < 0)
                        return r;
        for (n = root->children; n; n = n->next) {
                if (n->type != XML_ELEMENT_NODE || !streq(nname(n), "portgroup"))
                        continue;
                NetworkPortgroup *pg = conf_array_append(&def->portgroups, &def->n_portgroups, sizeof(NetworkPortgroup));
                if (!pg)
                        return -ENOMEM;
                if ((r = network_portgroup_parse(n, pg, err)) < 0)
                        return r;
        }
        return network_def_validate(def, err);
}

int network_xml_read(const char *xml, size_t len, const char *root_name, xmlDoc **ret_doc, ConfError *err) {
        return conf_xml_read(xml, len, NETWORK_XML_MAX_SIZE, root_name, "network", ret_doc, err);
}

int network_def_parse(const char *xml, size_t len, NetworkDef **ret, ConfError *err) {
        xmlDoc *doc = NULL;
        NetworkDef *def;
        int r;

        r = network_xml_read(xml, len, "network", &doc, err);
        if (r < 0)
                return r;
        def = network_def_new();
        if (!def) {
                xmlFreeDoc(doc);
                return -ENOMEM;
        }
        r = parse_network(def, xmlDocGetRootElement(doc), err);
        xmlFreeDoc(doc);
        if (r < 0) {
                network_def_free(def);
                return r;
        }
        *ret = def;
        return 0;
}
