/* domain-conf-netdisk.c — <disk type='network'>: its <source protocol= name=> with <host>s, <auth>,
 * <initiator>, <config>, <snapshot>; parsed, checked, copied, cleared and formatted back. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

#define ELEM_FOREACH(c, parent) \
        for (xmlNode *c = (parent)->children; c; c = c->next) if (c->type == XML_ELEMENT_NODE)

static const char *const protocol_table[] = { "nbd", "iscsi", "nfs", "rbd", "gluster", NULL };

const char *domain_disk_protocol_to_string(DomainDiskProtocol p) {
        return p >= 0 && p < _DOMAIN_DISK_PROTOCOL_MAX ? protocol_table[p] : NULL;
}

const char *domain_disk_protocol_secret_type(DomainDiskProtocol p) {
        switch (p) {
        case DOMAIN_DISK_PROTOCOL_RBD: return "ceph";
        case DOMAIN_DISK_PROTOCOL_ISCSI: return "iscsi";
        default: return NULL;
        }
}

unsigned domain_disk_host_port(const DomainDiskNet *n, const DomainDiskHost *h) {
        if (h->port)
                return h->port;
        switch (n->protocol) {
        case DOMAIN_DISK_PROTOCOL_NBD: return 10809;
        case DOMAIN_DISK_PROTOCOL_ISCSI: return 3260;
        case DOMAIN_DISK_PROTOCOL_RBD: return 6789;
        case DOMAIN_DISK_PROTOCOL_GLUSTER: return 24007;
        default: return 0;
        }
}

static bool name_is(xmlNode *n, const char *name) {
        return streq((const char *) n->name, name);
}

static const char *target_of(const DomainDiskDef *d) {
        return d->target_dev ?: "?";
}

/* Errors name the disk by its target, which usually follows <source>: read it ahead
 * (<target> sets it again when its turn comes). */
static int peek_target(DomainDiskDef *d, xmlNode *disk) {
        xmlNode *t = disk ? xml_child(disk, "target") : NULL;

        if (d->target_dev || !t)
                return 0;
        return xml_attr_str(t, "dev", &d->target_dev) < 0 ? -ENOMEM : 0;
}

void domain_disk_net_clear(DomainDiskNet *n) {
        for (size_t i = 0; i < n->n_hosts; i++) {
                free(n->hosts[i].name);
                free(n->hosts[i].socket);
        }
        free(n->hosts);
        free(n->name);
        free(n->auth_username);
        free(n->secret_type);
        free(n->secret_usage);
        free(n->secret_uuid);
        free(n->initiator_iqn);
        free(n->config_file);
        free(n->snapshot);
        if (n->secret_value) {
                explicit_bzero(n->secret_value, n->secret_len);
                free(n->secret_value);
        }
        *n = (DomainDiskNet) {};
}

/* deep copy of *n in place (its pointers still the original's); false: out of memory */
bool domain_disk_net_copy(DomainDiskNet *n) {
        bool ok = true;
#define DUP(f) do { if (n->f && !(n->f = strdup(n->f))) ok = false; } while (0)
        DUP(name);
        DUP(auth_username);
        DUP(secret_type);
        DUP(secret_usage);
        DUP(secret_uuid);
        DUP(initiator_iqn);
        DUP(config_file);
        DUP(snapshot);
        if (n->n_hosts) {
                DomainDiskHost *h = calloc(n->n_hosts, sizeof(*h));
                if (!h) {
                        n->hosts = NULL, n->n_hosts = 0;
                        ok = false;
                } else {
                        memcpy(h, n->hosts, n->n_hosts * sizeof(*h));
                        n->hosts = h;
                        for (size_t i = 0; i < n->n_hosts; i++) {
                                DUP(hosts[i].name);
                                DUP(hosts[i].socket);
                        }
                }
        } else
                n->hosts = NULL;
        if (n->secret_value) {
                uint8_t *v = malloc(n->secret_len ?: 1);
                if (v)
                        memcpy(v, n->secret_value, n->secret_len);
                else
                        n->secret_len = 0, ok = false;
                n->secret_value = v;
        }
#undef DUP
        return ok;
}

static int parse_host(DomainDiskDef *d, xmlNode *c, ConfError *err) {
        static const char *const transports[] = { "tcp", "unix", NULL };
        DomainDiskNet *n = &d->net;
        DomainDiskHost *h;
        uint64_t port = 0;
        int r, t = 0;

        h = conf_array_append(&n->hosts, &n->n_hosts, sizeof(DomainDiskHost));
        if (!h)
                return -ENOMEM;
        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("name", "port", "transport", "socket") }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum(c, "transport", transports, &t, err);
        if (r < 0)
                return r;
        h->unix_socket = t == 1;
        r = xml_attr_uint(c, "port", 10, 65535, &port, err);
        if (r < 0)
                return r;
        if (r > 0 && port == 0)
                return conf_error_set(err, xml_line(c), "disk '%s': <host port='0'> is not a port", target_of(d));
        h->port = (unsigned) port;
        if (xml_attr_str(c, "name", &h->name) < 0 || xml_attr_str(c, "socket", &h->socket) < 0)
                return -ENOMEM;
        if (h->unix_socket) {
                if (h->name || h->port)
                        return conf_error_set(err, xml_line(c), "disk '%s': a <host transport='unix'> has a 'socket', no 'name' or 'port'",
                                              target_of(d));
                if (!h->socket || h->socket[0] != '/')
                        return conf_error_set(err, xml_line(c), "disk '%s': <host transport='unix'> needs socket='/absolute/path'",
                                              target_of(d));
        } else {
                if (h->socket)
                        return conf_error_set(err, xml_line(c), "disk '%s': 'socket' needs <host transport='unix'>", target_of(d));
                if (isempty(h->name))
                        return conf_error_set(err, xml_line(c), "disk '%s': <host> needs a 'name' (the server's host name or address)",
                                              target_of(d));
                if (strchr(h->name, ',') || strchr(h->name, '/') || strchr(h->name, ' '))
                        return conf_error_set(err, xml_line(c), "disk '%s': <host name='%s'> is not a host name or address",
                                              target_of(d), h->name);
        }
        return 0;
}

/* <auth username=><secret type= usage=|uuid=/></auth>, under <source> or (libvirt's older place) <disk> */
int domain_disk_net_parse_auth(DomainDiskDef *d, xmlNode *c, ConfError *err) {
        DomainDiskNet *n = &d->net;
        xmlNode *s;
        int r;

        if (peek_target(d, name_is(c->parent, "source") ? c->parent->parent : c->parent) < 0)
                return -ENOMEM;
        if (d->type != DOMAIN_DISK_TYPE_NETWORK)
                return conf_error_set(err, xml_line(c), "disk '%s': <auth> needs <disk type='network'>", target_of(d));
        if (n->auth_username)
                return conf_error_set(err, xml_line(c), "disk '%s' has more than one <auth>", target_of(d));
        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("username"), .children = STRV("secret") }, err);
        if (r < 0)
                return r;
        if (xml_attr_str(c, "username", &n->auth_username) < 0)
                return -ENOMEM;
        if (isempty(n->auth_username))
                return conf_error_set(err, xml_line(c), "disk '%s': <auth> needs a 'username'", target_of(d));
        s = xml_child(c, "secret");
        if (!s)
                return conf_error_set(err, xml_line(c), "disk '%s': <auth> needs a <secret type=… usage=…|uuid=…/>",
                                      target_of(d));
        r = xml_validate(s, &(XmlSpec) { .attrs = STRV("type", "usage", "uuid") }, err);
        if (r < 0)
                return r;
        if (xml_attr_str(s, "type", &n->secret_type) < 0 || xml_attr_str(s, "usage", &n->secret_usage) < 0 ||
            xml_attr_str(s, "uuid", &n->secret_uuid) < 0)
                return -ENOMEM;
        if (isempty(n->secret_type))
                return conf_error_set(err, xml_line(s), "disk '%s': <secret> of <auth> needs a 'type' (ceph, iscsi)",
                                      target_of(d));
        if (!STR_IN_SET(n->secret_type, "ceph", "iscsi"))
                return conf_error_set(err, xml_line(s), "disk '%s': <secret type='%s'> is not a disk secret type (ceph, iscsi)",
                                      target_of(d), n->secret_type);
        if (!!n->secret_usage == !!n->secret_uuid || isempty(n->secret_usage ?: n->secret_uuid))
                return conf_error_set(err, xml_line(s), "disk '%s': <secret> of <auth> needs either 'usage' or 'uuid'",
                                      target_of(d));
        if (n->secret_uuid) {
                bool ok = strlen(n->secret_uuid) == 36;
                for (size_t i = 0; ok && i < 36; i++)
                        ok = (i == 8 || i == 13 || i == 18 || i == 23) ? n->secret_uuid[i] == '-'
                                                                        : g_ascii_isxdigit(n->secret_uuid[i]);
                if (!ok)
                        return conf_error_set(err, xml_line(s), "disk '%s': <secret uuid='%s'> is not a UUID", target_of(d),
                                              n->secret_uuid);
                for (char *p = n->secret_uuid; *p; p++)
                        *p = g_ascii_tolower(*p);
        }
        return 0;
}

int domain_disk_net_parse_source(DomainDiskDef *d, xmlNode *c, ConfError *err) {
        DomainDiskNet *n = &d->net;
        int r, v;

        if (peek_target(d, c->parent) < 0)
                return -ENOMEM;
        r = xml_validate(c, &(XmlSpec) {
                .attrs = STRV("protocol", "name", "tls", "index"),
                .children = STRV("auth", "initiator", "config", "snapshot"),
                .multi = STRV("host"),
        }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum(c, "protocol", protocol_table, &v, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(c), "disk '%s': <source> of a network disk needs a 'protocol' (nbd, iscsi, nfs, rbd, gluster)",
                                      target_of(d));
        n->protocol = v;
        if (xml_attr_str(c, "name", &n->name) < 0)
                return -ENOMEM;
        r = xml_attr_bool(c, "tls", false, &v, err);
        if (r < 0)
                return r;
        n->tls = r == 0 ? 0 : v ? 1 : -1;
        ELEM_FOREACH(e, c) {
                if (name_is(e, "host"))
                        r = parse_host(d, e, err);
                else if (name_is(e, "auth"))
                        r = domain_disk_net_parse_auth(d, e, err);
                else if (name_is(e, "initiator")) {
                        xmlNode *iqn;

                        r = xml_validate(e, &(XmlSpec) { .children = STRV("iqn") }, err);
                        if (r < 0)
                                return r;
                        iqn = xml_child(e, "iqn");
                        if (!iqn)
                                return conf_error_set(err, xml_line(e), "disk '%s': <initiator> needs <iqn name=…/>", target_of(d));
                        r = xml_validate(iqn, &(XmlSpec) { .attrs = STRV("name") }, err);
                        if (r < 0)
                                return r;
                        if (xml_attr_str(iqn, "name", &n->initiator_iqn) < 0)
                                return -ENOMEM;
                        if (isempty(n->initiator_iqn))
                                return conf_error_set(err, xml_line(iqn), "disk '%s': <iqn> needs a 'name'", target_of(d));
                } else if (name_is(e, "config") || name_is(e, "snapshot")) {
                        bool config = name_is(e, "config");
                        char **f = config ? &n->config_file : &n->snapshot;

                        r = xml_validate(e, &(XmlSpec) { .attrs = config ? STRV("file") : STRV("name") }, err);
                        if (r < 0)
                                return r;
                        if (xml_attr_str(e, config ? "file" : "name", f) < 0)
                                return -ENOMEM;
                        if (isempty(*f))
                                return conf_error_set(err, xml_line(e), "disk '%s': <%s> needs a '%s'", target_of(d),
                                                      (const char *) e->name, config ? "file" : "name");
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool iqn_valid(const char *s) {
        if (!g_str_has_prefix(s, "iqn.") && !g_str_has_prefix(s, "eui.") && !g_str_has_prefix(s, "naa."))
                return false;
        for (const char *p = s; *p; p++)
                if (!g_ascii_isalnum(*p) && !strchr(".-:", *p))
                        return false;
        return true;
}

/* What a network source must have, once the whole <disk> is read (line: the <disk>'s). */
int domain_disk_net_check(DomainDiskDef *d, int line, ConfError *err) {
        DomainDiskNet *n = &d->net;
        const char *proto = protocol_table[n->protocol], *want, *t = target_of(d);
        size_t min_hosts = 1, max_hosts = 1;

        if (d->type != DOMAIN_DISK_TYPE_NETWORK)
                return 0;
        if (!n->name && n->protocol != DOMAIN_DISK_PROTOCOL_NBD && !n->n_hosts && !n->auth_username)
                return conf_error_set(err, line, "disk '%s' needs a <source protocol=… name=…>", t);
        switch (n->protocol) {
        case DOMAIN_DISK_PROTOCOL_NBD:
                if (n->name && (isempty(n->name) || strlen(n->name) > 4096))
                        return conf_error_set(err, line, "disk '%s': an nbd export name has 1…4096 characters", t);
                break;
        case DOMAIN_DISK_PROTOCOL_ISCSI: {
                const char *slash;

                if (isempty(n->name))
                        return conf_error_set(err, line, "disk '%s': an iscsi source needs name='IQN/LUN' (the target's IQN)", t);
                slash = strrchr(n->name, '/');
                if (slash) {
                        uint64_t lun;
                        g_autofree char *iqn = g_strndup(n->name, (gsize) (slash - n->name));

                        if (conf_parse_u64(slash + 1, 10, 16383, &lun) < 0 || !iqn_valid(iqn))
                                return conf_error_set(err, line, "disk '%s': iscsi name '%s' is not 'IQN/LUN'", t, n->name);
                } else if (!iqn_valid(n->name))
                        return conf_error_set(err, line, "disk '%s': iscsi name '%s' is not an IQN (iqn.YYYY-MM.domain:name[/LUN])",
                                              t, n->name);
                if (n->initiator_iqn && !iqn_valid(n->initiator_iqn))
                        return conf_error_set(err, line, "disk '%s': initiator '%s' is not an IQN", t, n->initiator_iqn);
                break;
        }
        case DOMAIN_DISK_PROTOCOL_NFS:
                if (isempty(n->name) || n->name[0] != '/' || n->name[1] == 0)
                        return conf_error_set(err, line, "disk '%s': an nfs source needs name='/export/path/of/the/image'", t);
                break;
        case DOMAIN_DISK_PROTOCOL_RBD: {
                const char *slash = n->name ? strchr(n->name, '/') : NULL;

                min_hosts = 0, max_hosts = 64;
                if (!slash || slash == n->name || !slash[1] || strchr(n->name, '@') || strchr(n->name, ':'))
                        return conf_error_set(err, line, "disk '%s': an rbd source needs name='POOL/IMAGE' (a snapshot goes in <snapshot name=…/>)",
                                              t);
                break;
        }
        case DOMAIN_DISK_PROTOCOL_GLUSTER: {
                const char *slash = n->name ? strchr(n->name, '/') : NULL;

                max_hosts = 64;
                if (!slash || slash == n->name || !slash[1])
                        return conf_error_set(err, line, "disk '%s': a gluster source needs name='VOLUME/PATH'", t);
                break;
        }
        default:
                return conf_error_set(err, line, "disk '%s': unknown protocol", t);
        }
        if (n->n_hosts < min_hosts)
                return conf_error_set(err, line, "disk '%s': a %s source needs a <host name=… port=…/>", t, proto);
        if (n->n_hosts > max_hosts)
                return conf_error_set(err, line, "disk '%s': a %s source has %s <host>", t, proto,
                                      max_hosts == 1 ? "exactly one" : "at most 64");
        for (size_t i = 0; i < n->n_hosts; i++)
                if (n->hosts[i].unix_socket && !STR_IN_SET(proto, "nbd", "gluster"))
                        return conf_error_set(err, line, "disk '%s': a %s server is not reached through a unix socket (transport='tcp')",
                                              t, proto);
        if (n->tls && n->protocol != DOMAIN_DISK_PROTOCOL_NBD)
                return conf_error_set(err, line, "disk '%s': tls= is for nbd sources only", t);
        if (n->initiator_iqn && n->protocol != DOMAIN_DISK_PROTOCOL_ISCSI)
                return conf_error_set(err, line, "disk '%s': <initiator> is for iscsi sources only", t);
        if ((n->config_file || n->snapshot) && n->protocol != DOMAIN_DISK_PROTOCOL_RBD)
                return conf_error_set(err, line, "disk '%s': <%s> is for rbd sources only", t, n->config_file ? "config" : "snapshot");
        if (n->auth_username) {
                want = domain_disk_protocol_secret_type(n->protocol);
                if (!want)
                        return conf_error_set(err, line, "disk '%s': a %s source takes no <auth>", t, proto);
                if (!streq(n->secret_type, want))
                        return conf_error_set(err, line, "disk '%s': the <auth> of a %s source needs <secret type='%s'>, not '%s'", t,
                                              proto, want, n->secret_type);
        }
        return 0;
}

void domain_disk_net_format(GString *s, const DomainDiskDef *d) {
        const DomainDiskNet *n = &d->net;
        bool children = n->n_hosts || n->auth_username || n->initiator_iqn || n->config_file || n->snapshot;

        g_string_append(s, "      <source");
        fmt_attr(s, "protocol", protocol_table[n->protocol]);
        fmt_attr(s, "name", n->name);
        if (n->tls)
                fmt_attr(s, "tls", n->tls > 0 ? "yes" : "no");
        if (!children) {
                g_string_append(s, "/>\n");
                return;
        }
        g_string_append(s, ">\n");
        for (size_t i = 0; i < n->n_hosts; i++) {
                const DomainDiskHost *h = &n->hosts[i];

                g_string_append(s, "        <host");
                fmt_attr(s, "name", h->name);
                if (h->port)
                        fmt_attr_uint(s, "port", h->port);
                if (h->unix_socket) {
                        fmt_attr(s, "transport", "unix");
                        fmt_attr(s, "socket", h->socket);
                }
                g_string_append(s, "/>\n");
        }
        if (n->snapshot) {
                g_string_append(s, "        <snapshot");
                fmt_attr(s, "name", n->snapshot);
                g_string_append(s, "/>\n");
        }
        if (n->config_file) {
                g_string_append(s, "        <config");
                fmt_attr(s, "file", n->config_file);
                g_string_append(s, "/>\n");
        }
        if (n->auth_username) {
                g_string_append(s, "        <auth");
                fmt_attr(s, "username", n->auth_username);
                g_string_append(s, ">\n          <secret");
                fmt_attr(s, "type", n->secret_type);
                fmt_attr(s, "usage", n->secret_usage);
                fmt_attr(s, "uuid", n->secret_uuid);
                g_string_append(s, "/>\n        </auth>\n");
        }
        if (n->initiator_iqn) {
                g_string_append(s, "        <initiator>\n          <iqn");
                fmt_attr(s, "name", n->initiator_iqn);
                g_string_append(s, "/>\n        </initiator>\n");
        }
        g_string_append(s, "      </source>\n");
}
