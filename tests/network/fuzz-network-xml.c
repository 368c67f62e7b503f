/* fuzz-network-xml.c — libFuzzer target: parse, normalize, format, re-parse and update arbitrary network XML, and parse it as a leases file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/network-conf.h"
#include "macro.h"
#include "network-driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        NetworkDef *def = NULL, *again = NULL;
        ConfError err = {};
        char *out = NULL, *out2 = NULL, *text = NULL;
        NetworkLease *leases = NULL;
        size_t n = 0;

        if (network_def_parse((const char *) data, size, &def, &err) < 0)
                goto leases;
        if (network_def_normalize(def, NULL, &err) < 0)
                goto leases;
        out = network_def_format(def);
        if (!out)
                abort();
        /* canonical output must parse again and format identically */
        if (network_def_parse(out, strlen(out), &again, &err) < 0)
                abort();
        out2 = network_def_format(again);
        if (!out2 || !streq(out, out2))
                abort();
        /* the input as an update element of each section */
        text = strndup((const char *) data, size);
        if (text)
                for (int cmd = 0; cmd < _NETWORK_UPDATE_MAX; cmd++) {
                        (void) network_def_update(again, "ip-dhcp-host", cmd, -1, text, &err);
                        (void) network_def_update(again, "ip-dhcp-range", cmd, -1, text, &err);
                        (void) network_def_update(again, "dns-host", cmd, -1, text, &err);
                        (void) network_def_update(again, "dns-txt", cmd, -1, text, &err);
                        (void) network_def_update(again, "dns-srv", cmd, -1, text, &err);
                        (void) network_def_update(again, "portgroup", cmd, -1, text, &err);
                        (void) network_def_update(again, "ip-dhcp-host", cmd, 0, text, &err);
                }
leases:
        if (!text)
                text = strndup((const char *) data, size);
        if (text && (def || network_def_parse(network_default_xml(), strlen(network_default_xml()), &def, &err) >= 0) &&
            network_leases_parse(text, def, &leases, &n) >= 0)
                network_leases_free(leases, n);
        free(text);
        free(out);
        free(out2);
        network_def_free(def);
        network_def_free(again);
        conf_error_clear(&err);
        return 0;
}
