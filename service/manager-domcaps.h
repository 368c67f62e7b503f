/* manager-domcaps.h — Manager.GetDomainCapabilities: the driver's <domainCapabilities> for an emulator, arch, machine and domain type. */
#pragma once

#include <systemd/sd-bus.h>

/* The method handler (userdata: the Manager). A read: no polkit; a caller
 * other than root may name no emulator but the driver's own (AccessDenied). */
int vm_manager_method_get_domain_capabilities(sd_bus_message *message, void *userdata, sd_bus_error *error);
