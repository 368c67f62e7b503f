/* domain-stats.h — statistics on the bus: Domain.GetStats and Manager.GetAllDomainStats (virsh domstats),
 * Domain.GetInterfaceAddresses (virsh domifaddr). Reads: no polkit, as GetXML. */
#pragma once

#include <systemd/sd-bus.h>

/* Domain.GetStats(a{sv} options) → a{sv}: userdata is the VmDomain. */
int vm_domain_method_get_stats(sd_bus_message *message, void *userdata, sd_bus_error *error);
/* Manager.GetAllDomainStats(as groups, a{sv} options) → a(oa{sv}): userdata is the Manager. */
int vm_manager_method_get_all_domain_stats(sd_bus_message *message, void *userdata, sd_bus_error *error);
/* Domain.GetInterfaceAddresses(a{sv} options) → aa{sv}: userdata is the VmDomain. */
int vm_domain_method_get_interface_addresses(sd_bus_message *message, void *userdata, sd_bus_error *error);
