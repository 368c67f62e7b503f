/* conf-util.c — small pieces of the XML module: safe document reading, errors, did-you-mean, numbers, units, UUIDs, MACs, names. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <libxml/parser.h>

#include "conf-internal.h"

const char *const domain_virt_type_table[] = { "qemu",   "kvm",  "lxc",  "xen", "hvf",  "vmware", "hyperv", "vbox",
                                                "bhyve",  "openvz", "test", "uml", "phyp", "vz",     "kqemu",  NULL };
const char *const domain_lifecycle_action_table[] = {
        "destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart", NULL
};
const char *const domain_boot_dev_table[] = { "hd", "cdrom", "network", "fd", NULL };
const char *const domain_disk_type_table[] = { "file", "block", "volume", "network", NULL };
const char *const domain_disk_device_table[] = { "disk", "cdrom", NULL };
const char *const domain_disk_bus_table[] = { "virtio", "sata", "ide", "scsi", NULL };
const char *const domain_net_type_table[] = { "user", "network", "bridge", NULL };
const char *const domain_address_type_table[] = { "none", "pci", "drive", "usb", "virtio-serial", NULL };

void conf_error_clear(ConfError *e) {
        if (!e)
                return;
        free(e->message);
        e->message = NULL;
        e->line = 0;
}

int conf_error_set(ConfError *e, int line, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;
        int r;

        if (!e)
                return -EINVAL;

        va_start(ap, fmt);
        r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;

        free(e->message);
        e->message = NULL;
        e->line = line;
        if (line > 0) {
                if (asprintf(&e->message, "line %d: %s", line, m) < 0)
                        e->message = NULL;
                free(m);
        } else
                e->message = m;
        return e->message ? -EINVAL : -ENOMEM;
}

unsigned conf_edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        _cleanup_free_ unsigned *d = NULL;

        if (la > 64 || lb > 64)
                return UINT32_MAX;
        d = calloc((la + 1) * (lb + 1), sizeof(unsigned));
        if (!d)
                return UINT32_MAX;

#define D(i, j) d[(i) * (lb + 1) + (j)]
        for (size_t i = 0; i <= la; i++)
                D(i, 0) = i;
        for (size_t j = 0; j <= lb; j++)
                D(0, j) = j;
        for (size_t i = 1; i <= la; i++)
                for (size_t j = 1; j <= lb; j++) {
                        unsigned cost = tolower((unsigned char) a[i - 1]) != tolower((unsigned char) b[j - 1]);
                        unsigned v = D(i - 1, j) + 1;
                        if (D(i, j - 1) + 1 < v)
                                v = D(i, j - 1) + 1;
                        if (D(i - 1, j - 1) + cost < v)
                                v = D(i - 1, j - 1) + cost;
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && D(i - 2, j - 2) + 1 < v)
                                v = D(i - 2, j - 2) + 1;
                        D(i, j) = v;
                }
        unsigned r = D(la, lb);
#undef D
        return r;
}

const char *conf_did_you_mean(const char *word, const char *const *candidates) {
        const char *best = NULL;
        unsigned best_d = UINT32_MAX;
        size_t lw = strlen(word);

        if (!candidates)
                return NULL;
        for (const char *const *c = candidates; *c; c++) {
                unsigned d = conf_edit_distance(word, *c);
                if (d < best_d) {
                        best_d = d;
                        best = *c;
                }
        }
        /* A typo: at most a third of the word changed, at least one edit allowed. */
        unsigned limit = lw / 3 > 1 ? (unsigned) (lw / 3) : 1;
        if (lw >= 4 && limit < 2)
                limit = 2;
        return best && best_d <= limit ? best : NULL;
}

char *conf_strv_join(const char *const *l) {
        GString *s = g_string_new(NULL);
        for (const char *const *i = l; i && *i; i++) {
                if (i != l)
                        g_string_append(s, ", ");
                g_string_append(s, *i);
        }
        return g_string_free(s, false);
}

int conf_table_lookup(const char *const *table, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; table[i]; i++)
                if (streq(table[i], s))
                        return (int) i;
        return -EINVAL;
}

int conf_parse_u64(const char *s, int base, uint64_t max, uint64_t *ret) {
        char *end = NULL;
        unsigned long long v;

        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, base);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || !end || *end != '\0' || end == s)
                return -EINVAL;
        if (v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int conf_mac_parse(const char *s, char out[18]) {
        uint8_t b[6];

        if (!s || strlen(s) != 17)
                return -EINVAL;
        for (int i = 0; i < 6; i++) {
                const char *p = s + i * 3;
                if (!isxdigit((unsigned char) p[0]) || !isxdigit((unsigned char) p[1]))
                        return -EINVAL;
                if (i < 5 && p[2] != ':')
                        return -EINVAL;
                char h[3] = { p[0], p[1], 0 };
                b[i] = (uint8_t) strtoul(h, NULL, 16);
        }
        if (b[0] & 1)
                return -EADDRNOTAVAIL; /* multicast */
        snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
        return 0;
}

static void random_bytes(void *p, size_t n) {
        uint8_t *q = p;
        while (n > 0) {
                ssize_t k = getrandom(q, n, 0);
                if (k <= 0) {
                        /* Not reachable on Linux ≥ 3.17 after boot; still fill something. */
                        for (size_t i = 0; i < n; i++)
                                q[i] = (uint8_t) g_random_int();
                        return;
                }
                q += k;
                n -= (size_t) k;
        }
}

void conf_mac_generate(char out[18]) {
        uint8_t b[3];
        random_bytes(b, sizeof b);
        snprintf(out, 18, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
}

void conf_uuid_format(const unsigned char u[16], char out[37]) {
        /* by hand: snprintf's 16 conversions were 5 % of a start-up with 10,000 definitions */
        static const char hex[] = "0123456789abcdef";
        char *o = out;

        for (size_t i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *o++ = '-';
                *o++ = hex[u[i] >> 4];
                *o++ = hex[u[i] & 15];
        }
        *o = '\0';
}

int conf_uuid_parse(const char *s, unsigned char uuid[16]) {
        unsigned char u[16];
        size_t n = 0;

        if (!s)
                return -EINVAL;
        /* Like libvirt: hex digits, dashes anywhere between byte pairs, surrounding blanks. */
        while (*s == ' ' || *s == '\t' || *s == '\n')
                s++;
        while (*s && n < 16) {
                if (*s == '-') {
                        s++;
                        continue;
                }
                if (!isxdigit((unsigned char) s[0]) || !isxdigit((unsigned char) s[1]))
                        return -EINVAL;
                char h[3] = { s[0], s[1], 0 };
                u[n++] = (unsigned char) strtoul(h, NULL, 16);
                s += 2;
        }
        while (*s == ' ' || *s == '\t' || *s == '\n')
                s++;
        if (n != 16 || *s)
                return -EINVAL;
        memcpy(uuid, u, 16);
        return 0;
}

void conf_uuid_generate(unsigned char uuid[16]) {
        random_bytes(uuid, 16);
        uuid[6] = (uuid[6] & 0x0f) | 0x40;
        uuid[8] = (uuid[8] & 0x3f) | 0x80;
}

int conf_name_validate(const char *name, const char **reason) {
        const char *dummy;
        if (!reason)
                reason = &dummy;

        if (isempty(name)) {
                *reason = "name must not be empty";
                return -EINVAL;
        }
        if (strlen(name) > 255) {
                *reason = "name is longer than 255 bytes";
                return -EINVAL;
        }
        if (!g_utf8_validate(name, -1, NULL)) {
                *reason = "name is not valid UTF-8";
                return -EINVAL;
        }
        if (strchr(name, '/')) {
                *reason = "name must not contain '/'";
                return -EINVAL;
        }
        for (const unsigned char *p = (const unsigned char *) name; *p; p++)
                if (*p < 0x20 || *p == 0x7f) {
                        *reason = "name must not contain control characters";
                        return -EINVAL;
                }
        /* C1 control characters (U+0080–U+009F) are control characters too. */
        for (const char *p = name; *p; p = g_utf8_next_char(p)) {
                gunichar c = g_utf8_get_char(p);
                if (c >= 0x80 && c <= 0x9f) {
                        *reason = "name must not contain control characters";
                        return -EINVAL;
                }
        }
        if (streq(name, ".") || streq(name, "..")) {
                *reason = "name must not be '.' or '..'";
                return -EINVAL;
        }
        return 0;
}

int conf_memory_unit_scale(const char *unit, uint64_t *ret) {
        static const char powers[] = "kmgtpe";
        const char *p;
        uint64_t base, scale = 1;

        if (!unit || !*unit) {
                *ret = 1024; /* KiB by default */
                return 0;
        }
        if (strcasecmp(unit, "b") == 0 || strcasecmp(unit, "bytes") == 0) {
                *ret = 1;
                return 0;
        }
        p = strchr(powers, tolower((unsigned char) unit[0]));
        if (!p || !unit[0])
                return -EINVAL;
        if (unit[1] == '\0' || strcasecmp(unit + 1, "iB") == 0)
                base = 1024;
        else if (strcasecmp(unit + 1, "B") == 0)
                base = 1000;
        else
                return -EINVAL;
        for (int i = 0; i <= p - powers; i++)
                scale *= base;
        *ret = scale;
        return 0;
}

int conf_parse_memory_kib(const char *value, const char *unit, uint64_t *ret_kib) {
        uint64_t v, scale;
        int r;

        r = conf_memory_unit_scale(unit, &scale);
        if (r < 0)
                return r;
        r = conf_parse_u64(value, 10, UINT64_MAX, &v);
        if (r < 0)
                return r;
        if (scale > 1 && v > UINT64_MAX / scale)
                return -ERANGE;
        v *= scale;
        v = v / 1024 + (v % 1024 != 0);
        /* libvirt keeps memory in KiB that must fit bytes in 64 bits. */
        if (v > UINT64_MAX / 1024)
                return -ERANGE;
        *ret_kib = v;
        return 0;
}

const char *domain_virt_type_to_string(DomainVirtType t) {
        return t >= 0 && t < _DOMAIN_VIRT_MAX ? domain_virt_type_table[t] : NULL;
}
const char *domain_lifecycle_action_to_string(DomainLifecycleAction a) {
        return a >= 0 && a < _DOMAIN_ACTION_MAX ? domain_lifecycle_action_table[a] : NULL;
}
int domain_lifecycle_action_from_string(const char *s) {
        return conf_table_lookup(domain_lifecycle_action_table, s);
}
const char *domain_disk_bus_to_string(DomainDiskBus b) {
        return b >= 0 && b < _DOMAIN_DISK_BUS_MAX ? domain_disk_bus_table[b] : NULL;
}
const char *domain_boot_dev_to_string(DomainBootDev b) {
        return b >= 0 && b < _DOMAIN_BOOT_MAX ? domain_boot_dev_table[b] : NULL;
}

void *conf_array_append(void *array_ptr, size_t *n, size_t size) {
        void **a = array_ptr;
        void *p = realloc(*a, (*n + 1) * size);
        if (!p)
                return NULL;
        *a = p;
        memset((char *) p + *n * size, 0, size);
        return (char *) p + (*n)++ * size;
}

/* ---- reading untrusted documents ---- */

/* Stops the parser at the first <!DOCTYPE>, before any entity is declared. */
static void on_doctype(void *user, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id) {
        xmlParserCtxt *ctxt = user;

        (void) name, (void) external_id, (void) system_id;
        ctxt->_private = (void *) 1;
        xmlStopParser(ctxt);
}

static bool xml_has_doctype(xmlDoc *doc) {
        for (xmlNode *n = doc->children; n; n = n->next)
                if (n->type == XML_DTD_NODE)
                        return true;
        return doc->intSubset || doc->extSubset;
}

int conf_xml_read(const char *xml, size_t len, size_t max_size, const char *root_name, const char *kind,
                  xmlDoc **ret_doc, ConfError *err) {
        xmlParserCtxt *ctxt;
        xmlDoc *doc;
        xmlNode *root;
        int r = 0;

        if (len > max_size || len > INT_MAX) {
                conf_error_set(err, 0, "XML document is larger than %zu bytes", max_size);
                return -EFBIG;
        }
        if (!xml || len == 0)
                return conf_error_set(err, 0, "empty XML document");
        xmlInitParser();
        ctxt = xmlNewParserCtxt();
        if (!ctxt)
                return -ENOMEM;
        ctxt->sax->internalSubset = on_doctype;
        ctxt->sax->externalSubset = NULL;
        /* Untrusted input: no network, no DTD loading, no entity substitution, no
         * error printing; huge-document limits stay at their safe defaults. */
        doc = xmlCtxtReadMemory(ctxt, xml, (int) len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
        if (ctxt->_private || (doc && xml_has_doctype(doc)))
                r = conf_error_set(err, ctxt->input ? ctxt->input->line : 0, "a <!DOCTYPE> is not allowed in %s XML", kind);
        else if (!doc || !ctxt->wellFormed) {
                const xmlError *e = xmlCtxtGetLastError(ctxt);
                _cleanup_free_ char *msg = e && e->message ? strdup(e->message) : NULL;

                if (msg)
                        g_strchomp(msg);
                r = conf_error_set(err, e ? e->line : 0, "malformed XML: %s", msg ?: "parse error");
        } else {
                root = xmlDocGetRootElement(doc);
                if (!root || !streq((const char *) root->name, root_name) || root->ns)
                        r = conf_error_set(err, root ? xml_line(root) : 0, "root element must be <%s>, not <%s>", root_name,
                                           root ? (const char *) root->name : "");
        }
        xmlFreeParserCtxt(ctxt);
        if (r < 0) {
                xmlFreeDoc(doc);
                return r;
        }
        *ret_doc = doc;
        return 0;
}
