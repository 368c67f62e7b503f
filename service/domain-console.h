/* domain-console.h — org.vmgmt.Domain.OpenConsole: one holder per console device, proxied by vmgmtd. */
#pragma once

#include <systemd/sd-bus.h>

#include "manager.h"

/* The OpenConsole(s device, a{sv} options) → h handler (userdata: the VmDomain). */
int domain_method_open_console(sd_bus_message *message, void *userdata, sd_bus_error *error);
/* The same session offered as a one-shot socket (domain-stream.h): its path. */
int domain_method_open_console_stream(sd_bus_message *message, void *userdata, sd_bus_error *error);

/* Closes every attached console (their holders read EOF) and frees the table. */
void vm_consoles_free(Manager *m);
