/* network-conf-internal.h — helpers shared by the network XML parser, formatter and updater (not a public API). */
#pragma once

#include <libxml/tree.h>

#include "conf-internal.h"
#include "conf/network-conf.h"

extern const char *const network_forward_mode_table[];

void network_dhcp_host_clear(NetworkDhcpHost *h);
void network_dhcp_range_clear(NetworkDhcpRange *r);
void network_dns_host_clear(NetworkDnsHost *h);
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

/* <host mac= id= name= ip=/> at level (network-conf-format.c). */
void network_dhcp_host_format(GString *s, int level, const NetworkDhcpHost *h);
