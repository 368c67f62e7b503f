/* vmgmtctl-domcaps.c — virsh's domcapabilities: Manager.GetDomainCapabilities, all of it or --xpath of it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmgmtctl.h"

int verb_domcapabilities(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *xml;
        int r;

        if (verb_flag(a, "wrap") && !verb_value(a, "xpath"))
                return ctl_error(-EINVAL, "--wrap needs --xpath.");
        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "GetDomainCapabilities", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ssssa{sv}", strempty(verb_value(a, "emulatorbin")), strempty(verb_value(a, "arch")),
                                  strempty(verb_value(a, "machine")), strempty(verb_value(a, "virttype")), 0);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &xml);
        if (r < 0)
                return ctl_error(r, "Failed to read the domain capabilities: %s", strerror(-r));
        if (verb_value(a, "xpath"))
                return ctl_print_xpath(xml, verb_value(a, "xpath"), verb_flag(a, "wrap"));
        fputs(xml, stdout);
        return 0;
}
