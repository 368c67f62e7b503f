/* network-conf-update.c — virsh net-update on a NetworkDef: DHCP hosts and ranges, DNS hosts, TXT and SRV records, portgroups. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "network-conf-internal.h"

int network_update_command_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        if (streq(s, "add") || streq(s, "add-last"))
                return NETWORK_UPDATE_ADD_LAST;
        if (streq(s, "add-first"))
                return NETWORK_UPDATE_ADD_FIRST;
        if (streq(s, "delete"))
                return NETWORK_UPDATE_DELETE;
        if (streq(s, "modify"))
                return NETWORK_UPDATE_MODIFY;
        return -EINVAL;
}

/* Inserts a zeroed element at the front or back of an array; returns it or NULL. */
static void *array_insert(void *array_ptr, size_t *n, size_t size, bool first) {
        char *e = conf_array_append(array_ptr, n, size);
        if (!e || !first)
                return e;
        char *base = *(char **) array_ptr;
        memmove(base + size, base, (*n - 1) * size);
        memset(base, 0, size);
        return base;
}

static void array_remove(void *array, size_t *n, size_t size, size_t i) {
        char *base = array;
        memmove(base + i * size, base + (i + 1) * size, (*n - i - 1) * size);
        (*n)--;
}

/* The <ip> an entry of family goes to: number parent_index (from 0, libvirt's
 * parentIndex; family 0: an entry without address, any family), or with -1
 * the first <ip> of family with <dhcp>. */
static NetworkIpDef *pick_ip(NetworkDef *def, int parent_index, int family, ConfError *err) {
        if (parent_index >= 0) {
                if ((size_t) parent_index >= def->n_ips) {
                        conf_error_set(err, 0, "the network has no <ip> number %d", parent_index);
                        return NULL;
                }
                if (family && def->ips[parent_index].family != family) {
                        conf_error_set(err, 0, "<ip> number %d (%s) is %s, the entry's address is %s", parent_index,
                                       def->ips[parent_index].address,
                                       def->ips[parent_index].family == AF_INET ? "IPv4" : "IPv6",
                                       family == AF_INET ? "IPv4" : "IPv6");
                        return NULL;
                }
                return &def->ips[parent_index];
        }
        for (size_t i = 0; i < def->n_ips; i++)
                if (def->ips[i].family == family && def->ips[i].has_dhcp)
                        return &def->ips[i];
        conf_error_set(err, 0, "the network has no %s <ip> with <dhcp>", family == AF_INET ? "IPv4" : "IPv6");
        return NULL;
}

/* Does entry e identify the same host as h (the key libvirt uses: MAC, else id, else name, else ip)? */
static bool host_matches(const NetworkDhcpHost *e, const NetworkDhcpHost *h) {
        if (h->mac)
                return streq_ptr(e->mac, h->mac);
        if (h->id)
                return streq_ptr(e->id, h->id);
        if (h->name)
                return streq_ptr(e->name, h->name);
        return h->ip && e->ip && network_addr_cmp(&e->addr, &h->addr) == 0;
}

static bool host_conflicts(const NetworkDhcpHost *e, const NetworkDhcpHost *h) {
        return (h->mac && streq_ptr(e->mac, h->mac)) || (h->id && streq_ptr(e->id, h->id)) ||
               (h->ip && e->ip && network_addr_cmp(&e->addr, &h->addr) == 0) ||
               (!h->mac && !e->mac && h->name && streq_ptr(e->name, h->name));
}

static int update_dhcp_host(NetworkDef *def, NetworkUpdateCommand cmd, int parent_index, xmlNode *n, ConfError *err) {
        NetworkDhcpHost h = {};
        NetworkIpDef *ip;
        int family, r;

        r = network_dhcp_host_parse(n, 0, &h, err);
        if (r < 0)
                goto out;
        family = h.ip ? h.addr.family : h.mac ? AF_INET : AF_INET6;
        if (!h.ip && !h.mac && parent_index < 0) {
                /* id/name only: the first <ip> with <dhcp>, whatever its family */
                for (size_t i = 0; i < def->n_ips; i++)
                        if (def->ips[i].has_dhcp) {
                                family = def->ips[i].family;
                                break;
                        }
        }
        ip = pick_ip(def, parent_index, parent_index >= 0 && !h.ip ? 0 : family, err);
        if (!ip) {
                r = -EINVAL;
                goto out;
        }

        if (cmd == NETWORK_UPDATE_ADD_FIRST || cmd == NETWORK_UPDATE_ADD_LAST) {
                for (size_t i = 0; i < ip->n_hosts; i++)
                        if (host_conflicts(&ip->hosts[i], &h)) {
                                const NetworkDhcpHost *e = &ip->hosts[i];
                                conf_error_set(err, 0, "there is already a DHCP host entry (mac '%s', name '%s', ip '%s') that matches",
                                               strempty(e->mac), strempty(e->name), strempty(e->ip));
                                r = -EEXIST;
                                goto out;
                        }
                NetworkDhcpHost *slot = array_insert(&ip->hosts, &ip->n_hosts, sizeof(NetworkDhcpHost),
                                                     cmd == NETWORK_UPDATE_ADD_FIRST);
                if (!slot) {
                        r = -ENOMEM;
                        goto out;
                }
                *slot = h;
                ip->has_dhcp = true;
                return 0;
        }

        for (size_t i = 0; i < ip->n_hosts; i++) {
                if (!host_matches(&ip->hosts[i], &h))
                        continue;
                network_dhcp_host_clear(&ip->hosts[i]);
                if (cmd == NETWORK_UPDATE_DELETE) {
                        array_remove(ip->hosts, &ip->n_hosts, sizeof(NetworkDhcpHost), i);
                        network_dhcp_host_clear(&h);
                } else
                        ip->hosts[i] = h;
                return 0;
        }
        conf_error_set(err, 0, "no DHCP host entry matches (mac '%s', id '%s', name '%s', ip '%s')",
                       strempty(h.mac), strempty(h.id), strempty(h.name), strempty(h.ip));
        r = -ENOENT;
out:
        network_dhcp_host_clear(&h);
        return r;
}

static int update_dhcp_range(NetworkDef *def, NetworkUpdateCommand cmd, int parent_index, xmlNode *n, ConfError *err) {
        NetworkDhcpRange rg = {};
        NetworkIpDef *ip;
        int r;

        r = network_dhcp_range_parse(n, &rg, err);
        if (r < 0)
                goto out;
        ip = pick_ip(def, parent_index, rg.start_addr.family, err);
        r = -EINVAL;
        if (!ip)
                goto out;
        switch (cmd) {
        case NETWORK_UPDATE_ADD_FIRST:
        case NETWORK_UPDATE_ADD_LAST: {
                NetworkDhcpRange *slot = array_insert(&ip->ranges, &ip->n_ranges, sizeof(NetworkDhcpRange),
                                                      cmd == NETWORK_UPDATE_ADD_FIRST);
                if (!slot) {
                        r = -ENOMEM;
                        goto out;
                }
                *slot = rg;
                ip->has_dhcp = true;
                return 0;
        }
        case NETWORK_UPDATE_DELETE:
                for (size_t i = 0; i < ip->n_ranges; i++)
                        if (network_addr_cmp(&ip->ranges[i].start_addr, &rg.start_addr) == 0 &&
                            network_addr_cmp(&ip->ranges[i].end_addr, &rg.end_addr) == 0) {
                                network_dhcp_range_clear(&ip->ranges[i]);
                                array_remove(ip->ranges, &ip->n_ranges, sizeof(NetworkDhcpRange), i);
                                r = 0;
                                goto out;
                        }
                conf_error_set(err, 0, "no DHCP range %s–%s", rg.start, rg.end);
                r = -ENOENT;
                goto out;
        default:
                conf_error_set(err, 0, "modify is not supported for ip-dhcp-range; delete and add instead");
                r = -EOPNOTSUPP;
                goto out;
        }
out:
        network_dhcp_range_clear(&rg);
        return r;
}

static int update_dns_host(NetworkDef *def, NetworkUpdateCommand cmd, xmlNode *n, ConfError *err) {
        NetworkDnsHost h = {};
        int r;

        r = network_dns_host_parse(n, &h, err);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < def->n_dns_hosts; i++) {
                if (network_addr_cmp(&def->dns_hosts[i].addr, &h.addr) != 0)
                        continue;
                if (cmd == NETWORK_UPDATE_ADD_FIRST || cmd == NETWORK_UPDATE_ADD_LAST) {
                        conf_error_set(err, 0, "there is already a DNS host entry for %s", h.ip);
                        r = -EEXIST;
                        goto out;
                }
                network_dns_host_clear(&def->dns_hosts[i]);
                if (cmd == NETWORK_UPDATE_DELETE)
                        array_remove(def->dns_hosts, &def->n_dns_hosts, sizeof(NetworkDnsHost), i);
                else {
                        def->dns_hosts[i] = h;
                        return 0;
                }
                goto out;
        }
        if (cmd == NETWORK_UPDATE_DELETE || cmd == NETWORK_UPDATE_MODIFY) {
                conf_error_set(err, 0, "no DNS host entry for %s", h.ip);
                r = -ENOENT;
                goto out;
        }
        NetworkDnsHost *slot = array_insert(&def->dns_hosts, &def->n_dns_hosts, sizeof(NetworkDnsHost),
                                            cmd == NETWORK_UPDATE_ADD_FIRST);
        if (!slot) {
                r = -ENOMEM;
                goto out;
        }
        *slot = h;
        return 0;
out:
        network_dns_host_clear(&h);
        return r;
}

/* Add (refusing a second entry with the same key), delete or modify (by key) one entry of an array of
 * elem_size elements; *entry (a parsed element) is moved into the array or cleared. key(e) names an entry. */
typedef const char *(*EntryKeyFn)(const void *e, char buf[static 512]);

static int update_array(void *array_ptr, size_t *n, size_t size, NetworkUpdateCommand cmd, void *entry, EntryKeyFn key,
                        void (*clear)(void *e), const char *what, bool can_modify, ConfError *err) {
        char *base = *(char **) array_ptr;
        char kbuf[512], ebuf[512];
        const char *k = key(entry, kbuf);

        for (size_t i = 0; i < *n; i++) {
                void *e = base + i * size;
                if (!streq(key(e, ebuf), k))
                        continue;
                if (cmd == NETWORK_UPDATE_ADD_FIRST || cmd == NETWORK_UPDATE_ADD_LAST) {
                        conf_error_set(err, 0, "there is already a %s '%s'", what, k);
                        return -EEXIST;
                }
                if (cmd == NETWORK_UPDATE_MODIFY && !can_modify) {
                        conf_error_set(err, 0, "a %s cannot be modified; delete it and add the new one", what);
                        return -EOPNOTSUPP;
                }
                clear(e);
                if (cmd == NETWORK_UPDATE_DELETE) {
                        array_remove(base, n, size, i);
                        clear(entry);
                } else
                        memcpy(e, entry, size);
                return 0;
        }
        if (cmd == NETWORK_UPDATE_DELETE || cmd == NETWORK_UPDATE_MODIFY) {
                conf_error_set(err, 0, "no %s '%s'", what, k);
                return -ENOENT;
        }
        void *slot = array_insert(array_ptr, n, size, cmd == NETWORK_UPDATE_ADD_FIRST);
        if (!slot)
                return -ENOMEM;
        memcpy(slot, entry, size);
        return 0;
}

static const char *portgroup_key(const void *e, char buf[static 512]) {
        return ((const NetworkPortgroup *) e)->name;
}

static const char *txt_key(const void *e, char buf[static 512]) {
        return ((const NetworkDnsTxt *) e)->name;
}

/* SRV records are told apart by service, protocol, domain and target (as libvirt matches them). */
static const char *srv_key(const void *e, char buf[static 512]) {
        const NetworkDnsSrv *v = e;
        snprintf(buf, 512, "_%s._%s%s%s%s%s", strempty(v->service), strempty(v->protocol), v->domain ? "." : "",
                 strempty(v->domain), v->target ? " → " : "", strempty(v->target));
        return buf;
}

static void portgroup_clear(void *e) {
        network_portgroup_clear(e);
}

static void txt_clear(void *e) {
        network_dns_txt_clear(e);
}

static void srv_clear(void *e) {
        network_dns_srv_clear(e);
}

/* portgroup, dns-txt, dns-srv: parse the element, then update_array(). */
static int update_other(NetworkDef *def, const char *section, NetworkUpdateCommand cmd, xmlNode *n, ConfError *err) {
        int r;

        if (streq(section, "portgroup")) {
                NetworkPortgroup pg = {};
                r = network_portgroup_parse(n, &pg, err);
                if (r >= 0)
                        r = update_array(&def->portgroups, &def->n_portgroups, sizeof(pg), cmd, &pg, portgroup_key,
                                         portgroup_clear, "portgroup", true, err);
                if (r < 0)
                        network_portgroup_clear(&pg);
        } else if (streq(section, "dns-txt")) {
                NetworkDnsTxt t = {};
                r = network_dns_txt_parse(n, &t, err);
                if (r >= 0)
                        r = update_array(&def->dns_txts, &def->n_dns_txts, sizeof(t), cmd, &t, txt_key, txt_clear,
                                         "DNS TXT record", false, err);
                if (r < 0)
                        network_dns_txt_clear(&t);
        } else {
                NetworkDnsSrv v = {};
                r = network_dns_srv_parse(n, &v, err);
                if (r >= 0) {
                        /* a delete may name the record by service and protocol only */
                        if (cmd == NETWORK_UPDATE_DELETE && !v.target)
                                for (size_t i = 0; i < def->n_dns_srvs; i++)
                                        if (streq(def->dns_srvs[i].service, v.service) &&
                                            streq(def->dns_srvs[i].protocol, v.protocol) &&
                                            streq_ptr(def->dns_srvs[i].domain, v.domain)) {
                                                free(v.target);
                                                v.target = def->dns_srvs[i].target ? strdup(def->dns_srvs[i].target) : NULL;
                                                break;
                                        }
                        r = update_array(&def->dns_srvs, &def->n_dns_srvs, sizeof(v), cmd, &v, srv_key, srv_clear,
                                         "DNS SRV record", false, err);
                }
                if (r < 0)
                        network_dns_srv_clear(&v);
        }
        return r;
}

int network_def_update(NetworkDef *def, const char *section, NetworkUpdateCommand cmd, int parent_index,
                       const char *xml, ConfError *err) {
        NetworkDef *copy = NULL;
        xmlDoc *doc = NULL;
        const char *root;
        int r;

        if (!section || cmd < 0 || cmd >= _NETWORK_UPDATE_MAX)
                return conf_error_set(err, 0, "invalid update command");
        if (streq(section, "ip-dhcp-host") || streq(section, "dns-host"))
                root = "host";
        else if (streq(section, "ip-dhcp-range"))
                root = "range";
        else if (streq(section, "portgroup"))
                root = "portgroup";
        else if (streq(section, "dns-txt"))
                root = "txt";
        else if (streq(section, "dns-srv"))
                root = "srv";
        else {
                conf_error_set(err, 0, "updating section '%s' is not supported (supported: ip-dhcp-host, ip-dhcp-range, "
                               "dns-host, dns-txt, dns-srv, portgroup)", section);
                return -EOPNOTSUPP;
        }
        r = network_xml_read(xml, xml ? strlen(xml) : 0, root, &doc, err);
        if (r < 0)
                return r;
        copy = network_def_copy(def);
        if (!copy) {
                r = -ENOMEM;
                goto out;
        }
        if (streq(section, "ip-dhcp-host"))
                r = update_dhcp_host(copy, cmd, parent_index, xmlDocGetRootElement(doc), err);
        else if (streq(section, "ip-dhcp-range"))
                r = update_dhcp_range(copy, cmd, parent_index, xmlDocGetRootElement(doc), err);
        else if (streq(section, "dns-host"))
                r = update_dns_host(copy, cmd, xmlDocGetRootElement(doc), err);
        else
                r = update_other(copy, section, cmd, xmlDocGetRootElement(doc), err);
        if (r < 0)
                goto out;
        r = network_def_validate(copy, err);
        if (r < 0)
                goto out;
        NetworkDef tmp = *def;
        *def = *copy;
        *copy = tmp;
out:
        network_def_free(copy);
        xmlFreeDoc(doc);
        return r;
}
