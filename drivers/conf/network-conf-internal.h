/* network-conf-internal.h — helpers shared by the network XML parser, formatter and updater (not a public API). */
#pragma once

#include <libxml/tree.h>

#include "conf-internal.h"
#include "conf/network-conf.h"

extern const char *const network_forward_mode_table[];

void network_dhcp_host_clear(NetworkDhcpHost *h);
void network_dhcp_range_clear(NetworkDhcpRange *r);
void network_dns_host_clear(NetworkDnsHost *h);
/* strdup that keeps NULL; sets *oom when out of memory. */
char *network_dup_or_null(const char *s, bool *oom);
/* Deep copies into dst; false on OOM (dst then holds what was copied: clear it). */
bool network_dhcp_host_copy(NetworkDhcpHost *dst, const NetworkDhcpHost *src);
bool network_dns_host_copy(NetworkDnsHost *dst, const NetworkDnsHost *src);

NetworkAddr network_addr_last(const NetworkAddr *a, unsigned prefix);

/* Reads untrusted XML (no DTD, no entities, no network) and checks that the
 * root element is <root>. Returns 0 and *ret_doc, or -EINVAL with err. */
int network_xml_read(const char *xml, size_t len, const char *root, xmlDoc **ret_doc, ConfError *err);

/* Element parsers shared by network_def_parse() and network_def_update(). */
int network_dhcp_host_parse(xmlNode *n, int family_hint, NetworkDhcpHost *h, ConfError *err);
int network_dhcp_range_parse(xmlNode *n, NetworkDhcpRange *r, ConfError *err);
int network_dns_host_parse(xmlNode *n, NetworkDnsHost *h, ConfError *err);

/* Host/domain names as dnsmasq takes them: letters, digits, '-', '.', '_'. */
bool network_dns_name_valid(const char *s);

/* <host mac= id= name= ip=/> at level (network-conf-format.c). */
void network_dhcp_host_format(GString *s, int level, const NetworkDhcpHost *h);

/* ---- DNS txt/srv, portgroups, tftp/bootp/localPtr (network-conf-extra.c) ---- */

int network_dns_txt_parse(xmlNode *n, NetworkDnsTxt *t, ConfError *err);
int network_dns_srv_parse(xmlNode *n, NetworkDnsSrv *v, ConfError *err);
int network_portgroup_parse(xmlNode *n, NetworkPortgroup *pg, ConfError *err);
/* <ip localPtr=> and <tftp>, <dhcp><bootp> of an <ip> element. */
int network_ip_extra_parse(xmlNode *ipnode, xmlNode *dhcp, NetworkIpDef *ip, ConfError *err);
void network_dns_txt_clear(NetworkDnsTxt *t);
void network_dns_srv_clear(NetworkDnsSrv *v);
void network_portgroup_clear(NetworkPortgroup *pg);
void network_ip_extra_clear(NetworkIpDef *ip);
/* Deep copies of what network_def_copy()'s shallow copy shares with src; false on OOM. */
bool network_def_copy_extra(NetworkDef *dst, const NetworkDef *src);
bool network_ip_copy_extra(NetworkIpDef *dst, const NetworkIpDef *src);
void network_def_free_extra(NetworkDef *def);
int network_def_validate_extra(const NetworkDef *def, ConfError *err);
void network_dns_txt_srv_format(GString *s, const NetworkDef *def);
void network_portgroups_format(GString *s, const NetworkDef *def);
void network_ip_attrs_format(GString *s, const NetworkIpDef *ip);
void network_ip_tftp_format(GString *s, const NetworkIpDef *ip);
void network_ip_bootp_format(GString *s, const NetworkIpDef *ip);
