/* network-conf-extra.c — the less common parts of network XML: DNS TXT and SRV records, portgroups
 * and <bandwidth> (also domain interfaces'),
 * and per-<ip> localPtr, TFTP and BOOTP; parse, copy, validate and format, as libvirt has them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "network-conf-internal.h"

static const XmlSpec spec_txt = { .attrs = STRV("name", "value") };
static const XmlSpec spec_srv = { .attrs = STRV("service", "protocol", "domain", "target", "port", "priority", "weight") };
static const XmlSpec spec_portgroup = { .attrs = STRV("name", "default", "trustGuestRxFilters"),
                                        .children = STRV("vlan", "virtualport", "bandwidth") };
static const XmlSpec spec_bandwidth = { .children = STRV("inbound", "outbound") };
static const XmlSpec spec_rate = { .attrs = STRV("average", "peak", "burst", "floor") };
static const XmlSpec spec_vlan = { .attrs = STRV("trunk"), .multi = STRV("tag") };
static const XmlSpec spec_tag = { .attrs = STRV("id", "nativeMode") };
static const XmlSpec spec_tftp = { .attrs = STRV("root") };
static const XmlSpec spec_bootp = { .attrs = STRV("file", "server") };

/* Text dnsmasq reads on one config line: no control characters, and (for
 * list items) no comma. */
static bool line_safe(const char *s, bool comma_ok) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f || (!comma_ok && *p == ','))
                        return false;
        return true;
}

/* ---- DNS TXT / SRV ---- */

int network_dns_txt_parse(xmlNode *n, NetworkDnsTxt *t, ConfError *err) {
        int r = xml_validate(n, &spec_txt, err);
        if (r < 0)
                return r;
        if ((r = xml_attr_str(n, "name", &t->name)) < 0 || (r = xml_attr_str(n, "value", &t->value)) < 0)
                return r;
        if (!t->name || !t->value)
                return conf_error_set(err, xml_line(n), "<txt> in <dns> needs name= and value=");
        if (!network_dns_name_valid(t->name))
                return conf_error_set(err, xml_line(n), "invalid DNS TXT record name '%s' (letters, digits, '-', '.', '_')",
                                      t->name);
        if (isempty(t->value) || !line_safe(t->value, true))
                return conf_error_set(err, xml_line(n), "invalid value for DNS TXT record '%s': empty or with control characters",
                                      t->name);
        return 0;
}

static bool srv_label_valid(const char *s) {
        if (isempty(s) || strlen(s) > 15)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
                        return false;
        return true;
}

/* An optional 16-bit attribute: its value, -1 when absent. */
static int attr_u16(xmlNode *n, const char *name, int *ret, ConfError *err) {
        uint64_t v;
        int r = xml_attr_uint(n, name, 10, 65535, &v, err);
        if (r < 0)
                return r;
        *ret = r > 0 ? (int) v : -1;
        return 0;
}

int network_dns_srv_parse(xmlNode *n, NetworkDnsSrv *v, ConfError *err) {
        int r = xml_validate(n, &spec_srv, err);
        if (r < 0)
                return r;
        if ((r = xml_attr_str(n, "service", &v->service)) < 0 || (r = xml_attr_str(n, "protocol", &v->protocol)) < 0 ||
            (r = xml_attr_str(n, "domain", &v->domain)) < 0 || (r = xml_attr_str(n, "target", &v->target)) < 0 ||
            (r = attr_u16(n, "port", &v->port, err)) < 0 || (r = attr_u16(n, "priority", &v->priority, err)) < 0 ||
            (r = attr_u16(n, "weight", &v->weight, err)) < 0)
                return r;
        if (!v->service || !v->protocol)
                return conf_error_set(err, xml_line(n), "<srv> in <dns> needs service= and protocol=");
        if (!srv_label_valid(v->service))
                return conf_error_set(err, xml_line(n), "invalid SRV service '%s' (at most 15 letters, digits and '-')", v->service);
        if (!srv_label_valid(v->protocol))
                return conf_error_set(err, xml_line(n), "invalid SRV protocol '%s' (tcp, udp, …)", v->protocol);
        if (v->domain && !network_dns_name_valid(v->domain))
                return conf_error_set(err, xml_line(n), "invalid SRV domain '%s'", v->domain);
        if (v->target && !streq(v->target, ".") && !network_dns_name_valid(v->target))
                return conf_error_set(err, xml_line(n), "invalid SRV target '%s'", v->target);
        if (!v->target && (v->port >= 0 || v->priority >= 0 || v->weight >= 0))
                return conf_error_set(err, xml_line(n), "SRV record _%s._%s: port=, priority= and weight= need target=",
                                      v->service, v->protocol);
        if (v->port < 0 && (v->priority >= 0 || v->weight >= 0))
                return conf_error_set(err, xml_line(n), "SRV record _%s._%s: priority= and weight= need port=",
                                      v->service, v->protocol);
        if (v->priority < 0 && v->weight >= 0)
                return conf_error_set(err, xml_line(n), "SRV record _%s._%s: weight= needs priority=", v->service,
                                      v->protocol);
        return 0;
}

void network_dns_txt_clear(NetworkDnsTxt *t) {
        free(t->name);
        free(t->value);
        *t = (NetworkDnsTxt) {};
}

void network_dns_srv_clear(NetworkDnsSrv *v) {
        free(v->service);
        free(v->protocol);
        free(v->domain);
        free(v->target);
        *v = (NetworkDnsSrv) {};
}

/* ---- portgroups ---- */

static int rate_parse(xmlNode *n, bool inbound, NetworkBandwidthRate *rate, ConfError *err) {
        int r = xml_validate(n, &spec_rate, err);
        if (r < 0)
                return r;
        rate->set = true;
        if ((r = xml_attr_uint(n, "average", 10, UINT64_MAX, &rate->average, err)) < 0 ||
            (r = xml_attr_uint(n, "peak", 10, UINT64_MAX, &rate->peak, err)) < 0 ||
            (r = xml_attr_uint(n, "burst", 10, UINT64_MAX, &rate->burst, err)) < 0 ||
            (r = xml_attr_uint(n, "floor", 10, UINT64_MAX, &rate->floor, err)) < 0)
                return r;
        if (rate->floor && !inbound)
                return conf_error_set(err, xml_line(n), "floor= is only supported for <inbound>");
        if (!rate->average && !rate->floor)
                return conf_error_set(err, xml_line(n), "<%s> needs a non-zero average=%s", (const char *) n->name,
                                      inbound ? " or floor=" : "");
        if (rate->peak && rate->average && rate->peak < rate->average)
                return conf_error_set(err, xml_line(n), "<%s> peak=%llu is below average=%llu", (const char *) n->name,
                                      (unsigned long long) rate->peak, (unsigned long long) rate->average);
        if ((rate->peak || rate->burst) && !rate->average)
                return conf_error_set(err, xml_line(n), "<%s>: peak= and burst= need average=", (const char *) n->name);
        return 0;
}

int conf_bandwidth_parse(xmlNode *n, NetworkBandwidthRate *inbound, NetworkBandwidthRate *outbound, ConfError *err) {
        xmlNode *d;
        int r;

        *inbound = *outbound = (NetworkBandwidthRate) {};
        if ((r = xml_validate(n, &spec_bandwidth, err)) < 0)
                return r;
        if ((d = xml_child(n, "inbound")) && (r = rate_parse(d, true, inbound, err)) < 0)
                return r;
        if ((d = xml_child(n, "outbound")) && (r = rate_parse(d, false, outbound, err)) < 0)
                return r;
        return 0;
}

static int vlan_parse(xmlNode *n, NetworkPortgroup *pg, ConfError *err) {
        int r = xml_validate(n, &spec_vlan, err);
        if (r < 0)
                return r;
        if ((r = xml_attr_bool(n, "trunk", false, &pg->vlan_trunk, err)) < 0)
                return r;
        for (xmlNode *c = n->children; c; c = c->next) {
                _cleanup_free_ char *mode = NULL;
                uint64_t id;
                if (c->type != XML_ELEMENT_NODE)
                        continue;
                if ((r = xml_validate(c, &spec_tag, err)) < 0 || (r = xml_attr_uint(c, "id", 10, 4095, &id, err)) < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(c), "<tag> in <vlan> needs id= (0–4095)");
                unsigned *slot = conf_array_append(&pg->vlan_tags, &pg->n_vlan_tags, sizeof(unsigned));
                if (!slot)
                        return -ENOMEM;
                *slot = (unsigned) id;
                mode = xml_attr(c, "nativeMode");
                if (!mode)
                        continue;
                if (!streq(mode, "tagged") && !streq(mode, "untagged"))
                        return conf_error_set(err, xml_line(c), "invalid nativeMode '%s' (allowed: tagged, untagged)", mode);
                if (pg->vlan_native_tag >= 0)
                        return conf_error_set(err, xml_line(c), "only one <tag> in <vlan> may have nativeMode=");
                pg->vlan_native_tag = (int) pg->n_vlan_tags - 1;
                pg->vlan_native_untagged = streq(mode, "untagged");
        }
        if (pg->n_vlan_tags == 0)
                return conf_error_set(err, xml_line(n), "<vlan> needs at least one <tag id=/>");
        if (pg->n_vlan_tags > 1 && pg->vlan_trunk == 0)
                return conf_error_set(err, xml_line(n), "<vlan trunk='no'> cannot have more than one <tag>");
        if (pg->vlan_native_tag >= 0 && pg->vlan_trunk == 0)
                return conf_error_set(err, xml_line(n), "nativeMode= needs a trunk (<vlan trunk='yes'>)");
        return 0;
}

int network_portgroup_parse(xmlNode *n, NetworkPortgroup *pg, ConfError *err) {
        int is_default = -1, r;
        xmlNode *c;

        pg->trust_guest_rx_filters = -1;
        pg->vlan_trunk = -1;
        pg->vlan_native_tag = -1;
        if ((r = xml_validate(n, &spec_portgroup, err)) < 0 || (r = xml_attr_str(n, "name", &pg->name)) < 0 ||
            (r = xml_attr_bool(n, "default", false, &is_default, err)) < 0 ||
            (r = xml_attr_bool(n, "trustGuestRxFilters", false, &pg->trust_guest_rx_filters, err)) < 0)
                return r;
        if (isempty(pg->name) || !line_safe(pg->name, true) || strchr(pg->name, '/'))
                return conf_error_set(err, xml_line(n), "<portgroup> needs a name= (no '/' or control characters)");
        pg->is_default = is_default == 1;
        if (xml_child(n, "virtualport"))
                return conf_error_set(err, xml_line(xml_child(n, "virtualport")),
                                      "<virtualport> in <portgroup '%s'> is not supported", pg->name);
        if ((c = xml_child(n, "vlan")) && (r = vlan_parse(c, pg, err)) < 0)
                return r;
        if ((c = xml_child(n, "bandwidth")) && (r = conf_bandwidth_parse(c, &pg->inbound, &pg->outbound, err)) < 0)
                return r;
        return 0;
}

void network_portgroup_clear(NetworkPortgroup *pg) {
        free(pg->name);
        free(pg->vlan_tags);
        *pg = (NetworkPortgroup) {};
}

/* ---- <ip localPtr=>, <tftp root=>, <bootp file= server=> ---- */

int network_ip_extra_parse(xmlNode *ipnode, xmlNode *dhcp, NetworkIpDef *ip, ConfError *err) {
        xmlNode *n;
        int r;

        ip->local_ptr = -1;
        if ((r = xml_attr_bool(ipnode, "localPtr", false, &ip->local_ptr, err)) < 0)
                return r;
        if ((n = xml_child(ipnode, "tftp"))) {
                if ((r = xml_validate(n, &spec_tftp, err)) < 0 || (r = xml_attr_str(n, "root", &ip->tftp_root)) < 0)
                        return r;
                if (!ip->tftp_root || ip->tftp_root[0] != '/' || !line_safe(ip->tftp_root, false))
                        return conf_error_set(err, xml_line(n), "<tftp> needs root= with an absolute path (no commas)");
        }
        if (dhcp && (n = xml_child(dhcp, "bootp"))) {
                _cleanup_free_ char *server = NULL;
                if ((r = xml_validate(n, &spec_bootp, err)) < 0 || (r = xml_attr_str(n, "file", &ip->bootp_file)) < 0)
                        return r;
                if (isempty(ip->bootp_file) || !line_safe(ip->bootp_file, false))
                        return conf_error_set(err, xml_line(n), "<bootp> needs file= (no commas or control characters)");
                server = xml_attr(n, "server");
                if (server) {
                        NetworkAddr a;
                        char buf[INET6_ADDRSTRLEN];
                        if (network_addr_parse(server, &a) < 0 || a.family != AF_INET)
                                return conf_error_set(err, xml_line(n), "invalid IPv4 address '%s' in <bootp server=>", server);
                        network_addr_format(&a, buf);
                        if (!(ip->bootp_server = strdup(buf)))
                                return -ENOMEM;
                }
        }
        return 0;
}

void network_ip_extra_clear(NetworkIpDef *ip) {
        free(ip->tftp_root);
        free(ip->bootp_file);
        free(ip->bootp_server);
        ip->tftp_root = ip->bootp_file = ip->bootp_server = NULL;
}

char *network_ip_ptr_domain(const NetworkIpDef *ip) {
        GString *s = g_string_new(NULL);

        if (ip->family == AF_INET) {
                if (ip->prefix % 8 != 0 || ip->prefix == 0)
                        return g_string_free(s, true), NULL;
                for (int i = (int) ip->prefix / 8 - 1; i >= 0; i--)
                        g_string_append_printf(s, "%u.", ip->addr.b[i]);
                g_string_append(s, "in-addr.arpa");
        } else {
                if (ip->prefix % 4 != 0 || ip->prefix == 0)
                        return g_string_free(s, true), NULL;
                for (int i = (int) ip->prefix / 4 - 1; i >= 0; i--)
                        g_string_append_printf(s, "%x.", (ip->addr.b[i / 2] >> (i % 2 ? 0 : 4)) & 0xf);
                g_string_append(s, "ip6.arpa");
        }
        return g_string_free(s, false);
}

/* ---- copy, free ---- */

bool network_ip_copy_extra(NetworkIpDef *dst, const NetworkIpDef *src) {
        bool oom = false;
        dst->tftp_root = network_dup_or_null(src->tftp_root, &oom);
        dst->bootp_file = network_dup_or_null(src->bootp_file, &oom);
        dst->bootp_server = network_dup_or_null(src->bootp_server, &oom);
        return !oom;
}

bool network_def_copy_extra(NetworkDef *dst, const NetworkDef *src) {
        bool oom = false;

        dst->dns_txts = NULL;
        dst->dns_srvs = NULL;
        dst->portgroups = NULL;
        dst->n_dns_txts = dst->n_dns_srvs = dst->n_portgroups = 0;
        if (src->n_dns_txts && !(dst->dns_txts = calloc(src->n_dns_txts, sizeof(NetworkDnsTxt))))
                return false;
        for (; dst->n_dns_txts < src->n_dns_txts; dst->n_dns_txts++) {
                const NetworkDnsTxt *t = &src->dns_txts[dst->n_dns_txts];
                dst->dns_txts[dst->n_dns_txts] = (NetworkDnsTxt) { network_dup_or_null(t->name, &oom), network_dup_or_null(t->value, &oom) };
        }
        if (src->n_dns_srvs && !(dst->dns_srvs = calloc(src->n_dns_srvs, sizeof(NetworkDnsSrv))))
                return false;
        for (; dst->n_dns_srvs < src->n_dns_srvs; dst->n_dns_srvs++) {
                const NetworkDnsSrv *v = &src->dns_srvs[dst->n_dns_srvs];
                NetworkDnsSrv *d = &dst->dns_srvs[dst->n_dns_srvs];
                *d = *v;
                d->service = network_dup_or_null(v->service, &oom);
                d->protocol = network_dup_or_null(v->protocol, &oom);
                d->domain = network_dup_or_null(v->domain, &oom);
                d->target = network_dup_or_null(v->target, &oom);
        }
        if (src->n_portgroups && !(dst->portgroups = calloc(src->n_portgroups, sizeof(NetworkPortgroup))))
                return false;
        for (; dst->n_portgroups < src->n_portgroups; dst->n_portgroups++) {
                const NetworkPortgroup *p = &src->portgroups[dst->n_portgroups];
                NetworkPortgroup *d = &dst->portgroups[dst->n_portgroups];
                *d = *p;
                d->name = network_dup_or_null(p->name, &oom);
                d->vlan_tags = NULL;
                if (p->n_vlan_tags) {
                        d->vlan_tags = malloc(p->n_vlan_tags * sizeof(unsigned));
                        if (d->vlan_tags)
                                memcpy(d->vlan_tags, p->vlan_tags, p->n_vlan_tags * sizeof(unsigned));
                        else
                                oom = true;
                }
        }
        return !oom;
}

void network_def_free_extra(NetworkDef *def) {
        for (size_t i = 0; i < def->n_dns_txts; i++)
                network_dns_txt_clear(&def->dns_txts[i]);
        free(def->dns_txts);
        for (size_t i = 0; i < def->n_dns_srvs; i++)
                network_dns_srv_clear(&def->dns_srvs[i]);
        free(def->dns_srvs);
        for (size_t i = 0; i < def->n_portgroups; i++)
                network_portgroup_clear(&def->portgroups[i]);
        free(def->portgroups);
}

/* ---- validation ---- */

int network_def_validate_extra(const NetworkDef *def, ConfError *err) {
        const NetworkPortgroup *dflt = NULL;
        const NetworkIpDef *tftp = NULL;

        if (def->dns_enable == 0 && (def->n_dns_txts > 0 || def->n_dns_srvs > 0))
                return conf_error_set(err, 0, "<dns enable='no'> cannot have <txt> or <srv> records");
        if ((def->n_dns_txts > 0 || def->n_dns_srvs > 0) && !network_def_managed_bridge(def))
                return conf_error_set(err, 0, "<dns> records are not allowed with <forward mode='bridge'>");
        for (size_t i = 0; i < def->n_portgroups; i++) {
                const NetworkPortgroup *pg = &def->portgroups[i];
                for (size_t j = 0; j < i; j++)
                        if (streq(def->portgroups[j].name, pg->name))
                                return conf_error_set(err, 0, "two <portgroup> elements named '%s'", pg->name);
                if (pg->is_default && dflt)
                        return conf_error_set(err, 0, "<portgroup name='%s'> and <portgroup name='%s'> are both default='yes'",
                                              dflt->name, pg->name);
                if (pg->is_default)
                        dflt = pg;
                if (pg->n_vlan_tags && !def->virtualport_ovs)
                        return conf_error_set(err, 0, "<vlan> in <portgroup name='%s'>: only openvswitch networks support VLAN tags",
                                              pg->name);
        }
        for (size_t i = 0; i < def->n_ips; i++) {
                const NetworkIpDef *ip = &def->ips[i];
                if (ip->family != AF_INET && (ip->tftp_root || ip->bootp_file))
                        return conf_error_set(err, 0, "<tftp> and <bootp> are IPv4 only (<ip address='%s'>)", ip->address);
                if (ip->tftp_root && tftp)
                        return conf_error_set(err, 0, "only one <ip> may have <tftp> (<ip address='%s'>)", ip->address);
                if (ip->tftp_root)
                        tftp = ip;
                if (ip->local_ptr == 1) {
                        _cleanup_free_ char *zone = network_ip_ptr_domain(ip);
                        if (!zone)
                                return conf_error_set(err, 0, "localPtr='yes' needs a prefix that is a multiple of %d "
                                                      "(<ip address='%s' prefix='%u'>)", ip->family == AF_INET ? 8 : 4,
                                                      ip->address, ip->prefix);
                }
        }
        return 0;
}

/* ---- format ---- */

void network_dns_txt_srv_format(GString *s, const NetworkDef *def) {
        for (size_t i = 0; i < def->n_dns_txts; i++) {
                fmt_indent(s, 2);
                g_string_append(s, "<txt");
                fmt_attr(s, "name", def->dns_txts[i].name);
                fmt_attr(s, "value", def->dns_txts[i].value);
                g_string_append(s, "/>\n");
        }
        for (size_t i = 0; i < def->n_dns_srvs; i++) {
                const NetworkDnsSrv *v = &def->dns_srvs[i];
                fmt_indent(s, 2);
                g_string_append(s, "<srv");
                fmt_attr(s, "service", v->service);
                fmt_attr(s, "protocol", v->protocol);
                fmt_attr(s, "domain", v->domain);
                fmt_attr(s, "target", v->target);
                if (v->port >= 0)
                        fmt_attr_uint(s, "port", (unsigned) v->port);
                if (v->priority >= 0)
                        fmt_attr_uint(s, "priority", (unsigned) v->priority);
                if (v->weight >= 0)
                        fmt_attr_uint(s, "weight", (unsigned) v->weight);
                g_string_append(s, "/>\n");
        }
}

static void rate_format(GString *s, int level, const char *name, const NetworkBandwidthRate *rate) {
        if (!rate->set)
                return;
        fmt_indent(s, level);
        g_string_append_printf(s, "<%s", name);
        if (rate->average)
                fmt_attr_uint(s, "average", rate->average);
        if (rate->peak)
                fmt_attr_uint(s, "peak", rate->peak);
        if (rate->burst)
                fmt_attr_uint(s, "burst", rate->burst);
        if (rate->floor)
                fmt_attr_uint(s, "floor", rate->floor);
        g_string_append(s, "/>\n");
}

void conf_bandwidth_format(GString *s, int level, const NetworkBandwidthRate *inbound, const NetworkBandwidthRate *outbound) {
        if (!inbound->set && !outbound->set)
                return;
        fmt_indent(s, level);
        g_string_append(s, "<bandwidth>\n");
        rate_format(s, level + 1, "inbound", inbound);
        rate_format(s, level + 1, "outbound", outbound);
        fmt_indent(s, level);
        g_string_append(s, "</bandwidth>\n");
}

static void portgroup_format(GString *s, const NetworkPortgroup *pg) {
        bool bw = pg->inbound.set || pg->outbound.set;

        fmt_indent(s, 1);
        g_string_append(s, "<portgroup");
        fmt_attr(s, "name", pg->name);
        if (pg->is_default)
                fmt_attr(s, "default", "yes");
        if (pg->trust_guest_rx_filters >= 0)
                fmt_attr(s, "trustGuestRxFilters", pg->trust_guest_rx_filters ? "yes" : "no");
        if (!bw && pg->n_vlan_tags == 0) {
                g_string_append(s, "/>\n");
                return;
        }
        g_string_append(s, ">\n");
        if (pg->n_vlan_tags) {
                fmt_indent(s, 2);
                g_string_append(s, "<vlan");
                if (pg->vlan_trunk >= 0)
                        fmt_attr(s, "trunk", pg->vlan_trunk ? "yes" : "no");
                g_string_append(s, ">\n");
                for (size_t i = 0; i < pg->n_vlan_tags; i++) {
                        fmt_indent(s, 3);
                        g_string_append_printf(s, "<tag id='%u'", pg->vlan_tags[i]);
                        if ((int) i == pg->vlan_native_tag)
                                fmt_attr(s, "nativeMode", pg->vlan_native_untagged ? "untagged" : "tagged");
                        g_string_append(s, "/>\n");
                }
                fmt_indent(s, 2);
                g_string_append(s, "</vlan>\n");
        }
        conf_bandwidth_format(s, 2, &pg->inbound, &pg->outbound);
        fmt_indent(s, 1);
        g_string_append(s, "</portgroup>\n");
}

void network_portgroups_format(GString *s, const NetworkDef *def) {
        for (size_t i = 0; i < def->n_portgroups; i++)
                portgroup_format(s, &def->portgroups[i]);
}

void network_ip_attrs_format(GString *s, const NetworkIpDef *ip) {
        if (ip->local_ptr >= 0)
                fmt_attr(s, "localPtr", ip->local_ptr ? "yes" : "no");
}

void network_ip_tftp_format(GString *s, const NetworkIpDef *ip) {
        if (!ip->tftp_root)
                return;
        fmt_indent(s, 2);
        g_string_append(s, "<tftp");
        fmt_attr(s, "root", ip->tftp_root);
        g_string_append(s, "/>\n");
}

void network_ip_bootp_format(GString *s, const NetworkIpDef *ip) {
        if (!ip->bootp_file)
                return;
        fmt_indent(s, 3);
        g_string_append(s, "<bootp");
        fmt_attr(s, "file", ip->bootp_file);
        fmt_attr(s, "server", ip->bootp_server);
        g_string_append(s, "/>\n");
}
