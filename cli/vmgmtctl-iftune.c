/* vmgmtctl-iftune.c — domiftune: an interface's <bandwidth> (SetInterfaceParameters /
 * GetInterfaceParameters), with virsh's flags and output. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmgmtctl-json.h"
#include "vmgmtctl.h"

static const char *const iftune_keys[] = {
        "inbound.average", "inbound.peak", "inbound.burst", "inbound.floor",
        "outbound.average", "outbound.peak", "outbound.burst",
};

/* --inbound AVERAGE[,PEAK[,BURST[,FLOOR]]] / --outbound AVERAGE[,PEAK[,BURST]]: the given fields, as virsh
 * (an empty field is not sent; AVERAGE 0 removes the direction). */
static int append_rates(sd_bus_message *m, const char *value, const char *dir, size_t first, size_t n_fields) {
        _cleanup_free_ char *copy = strdup(value);
        char *p, *end;
        size_t k = 0;
        int r = 0;

        if (!copy)
                return -ENOMEM;
        p = copy;
        for (; r >= 0; k++) {
                char *comma = strchr(p, ',');
                unsigned long long v;

                if (comma)
                        *comma = 0;
                if (k >= n_fields)
                        return ctl_error(-EINVAL, "Invalid --%s '%s': at most %zu numbers", dir, value, n_fields);
                if (*p) {
                        errno = 0;
                        v = strtoull(p, &end, 10);
                        if (errno || *end || p[0] == '-' || v > UINT32_MAX)
                                return ctl_error(-EINVAL, "Invalid --%s '%s': numbers of KB/s (bursts KiB)", dir, value);
                        r = sd_bus_message_append(m, "{sv}", iftune_keys[first + k], "u", (uint32_t) v);
                }
                if (!comma)
                        break;
                p = comma + 1;
        }
        return r;
}

static int show(Context *c, const VerbArgs *a, const char *path, const char *iface) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        uint32_t v[7] = {};
        JsonWriter w;
        int r;

        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "GetInterfaceParameters", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", iface);
        if (r >= 0)
                r = ctl_append_flags(m, "live", verb_flag(a, "live"), "config", verb_flag(a, "config"), NULL);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r > 0) {
                const char *key;
                uint32_t x = 0;
                r = sd_bus_message_enter_container(reply, 'e', "sv");
                if (r <= 0)
                        break;
                r = sd_bus_message_read(reply, "s", &key);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "v", "u", &x);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                for (size_t k = 0; r >= 0 && k < ELEMENTSOF(iftune_keys); k++)
                        if (streq(key, iftune_keys[k]))
                                v[k] = x;
        }
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                for (size_t k = 0; k < ELEMENTSOF(iftune_keys); k++)
                        json_member_unsigned(&w, iftune_keys[k], v[k]);
                json_end_object(&w);
                return 0;
        }
        for (size_t k = 0; k < ELEMENTSOF(iftune_keys); k++)
                printf("%-15s: %" PRIu32 "\n", iftune_keys[k], v[k]);
        return 0;
}

int verb_domiftune(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL;
        const char *in = verb_value(a, "inbound"), *out = verb_value(a, "outbound");
        int r;

        if (verb_flag(a, "current") && (verb_flag(a, "live") || verb_flag(a, "config")))
                return ctl_error(-EINVAL, "--current cannot be combined with --live or --config");
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        if (!in && !out)
                return show(c, a, path, a->args[1]);
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "SetInterfaceParameters", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", a->args[1]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && in)
                r = append_rates(m, in, "inbound", 0, 4);
        if (r >= 0 && out)
                r = append_rates(m, out, "outbound", 4, 3);
        if (r == -EINVAL)
                return r;
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = ctl_append_flags(m, "live", verb_flag(a, "live"), "config", verb_flag(a, "config"), NULL);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return ctl_call(c, m, NULL);
}
