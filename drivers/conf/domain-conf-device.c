/* domain-conf-device.c — the XML of one device, as AttachDevice, DetachDevice and UpdateDevice take it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

static const char *const device_kind_table[] = {
        [DOMAIN_DEVICE_DISK] = "disk",
        [DOMAIN_DEVICE_NET] = "interface",
        [DOMAIN_DEVICE_CONTROLLER] = "controller",
        [DOMAIN_DEVICE_MEMORY] = "memory",
        [DOMAIN_DEVICE_LEASE] = "lease",
        NULL,
};

const char *domain_device_kind_to_string(DomainDeviceKind k) {
        return k >= 0 && k < _DOMAIN_DEVICE_KIND_MAX ? device_kind_table[k] : NULL;
}

/* The device XML without a leading <?xml …?> declaration (the wrapper below
 * cannot have one inside). */
static const char *skip_declaration(const char *xml, size_t *len) {
        const char *p = xml, *end = xml + *len;

        while (p < end && strchr(" \t\r\n", *p))
                p++;
        if (end - p >= 5 && memcmp(p, "<?xml", 5) == 0) {
                const char *q = memmem(p, (size_t) (end - p), "?>", 2);
                if (q) {
                        *len = (size_t) (end - (q + 2));
                        return q + 2;
                }
        }
        return xml;
}

int domain_device_parse(const char *xml, size_t len, DomainDef **ret, DomainDeviceKind *ret_kind, ConfError *err) {
        _cleanup_free_ char *wrapped = NULL;
        xmlDoc *doc = NULL;
        xmlNode *root, *elem = NULL;
        DomainDef *def = NULL;
        unsigned n_elems = 0;
        int kind = -1, r;

        if (len > DOMAIN_XML_MAX_SIZE)
                return -EFBIG;
        xml = skip_declaration(xml, &len);
        /* parsed as the one child of <devices>: line numbers stay the caller's */
        wrapped = g_strdup_printf("<devices>%.*s</devices>", (int) len, xml);
        r = conf_xml_read(wrapped, strlen(wrapped), DOMAIN_XML_MAX_SIZE + 32, "devices", "device", &doc, err);
        if (r < 0)
                return r;
        root = xmlDocGetRootElement(doc);
        for (xmlNode *c = root->children; c; c = c->next) {
                if (c->type == XML_TEXT_NODE || c->type == XML_COMMENT_NODE)
                        continue;
                if (c->type != XML_ELEMENT_NODE) {
                        r = conf_error_set(err, xml_line(c), "device XML must be one element");
                        goto out;
                }
                n_elems++;
                elem = c;
        }
        if (n_elems != 1) {
                r = conf_error_set(err, elem ? xml_line(elem) : 0, n_elems == 0 ? "device XML has no element"
                                                                                : "device XML must be one element, not %u",
                                   n_elems);
                goto out;
        }
        for (xmlNode *c = root->children; c; c = c->next)
                if (c->type == XML_TEXT_NODE && strspn((const char *) c->content, " \t\r\n") != strlen((const char *) c->content)) {
                        r = conf_error_set(err, xml_line(c), "text outside the device element");
                        goto out;
                }
        kind = conf_table_lookup(device_kind_table, (const char *) elem->name);
        if (kind < 0) {
                r = conf_error_set(err, xml_line(elem), "<%s> is not a device that can be attached (disk, interface, controller, memory, lease)",
                                   (const char *) elem->name);
                goto out;
        }
        def = domain_def_new();
        if (!def) {
                r = -ENOMEM;
                goto out;
        }
        r = domain_devices_parse(def, root, err);
        if (r < 0)
                goto out;
        *ret = TAKE_PTR(def);
        *ret_kind = kind;
        r = 0;
out:
        domain_def_free(def);
        xmlFreeDoc(doc);
        return r;
}
