/* domain-device.h — org.vmgmt.Domain's hot-plug: AttachDevice, DetachDevice, UpdateDevice. */
#pragma once

#include <systemd/sd-bus.h>

/* How long DetachDevice waits for the guest before it answers and a Job
 * (type "detach-device") waits on, and how long that Job waits before it
 * reports that the guest did not release the device (options wait_ms,
 * timeout_ms override them per call). */
#define VM_DETACH_WAIT_USEC_DEFAULT (5 * 1000000ULL)
#define VM_DETACH_TIMEOUT_USEC_DEFAULT (60 * 1000000ULL)

/* AttachDevice(s xml, a{sv}), DetachDevice(s xml, a{sv}), UpdateDevice(s xml,
 * a{sv}): options live b, config b (neither: live when active, else config;
 * libvirt's "current"), UpdateDevice also force b, DetachDevice also wait_ms u
 * and timeout_ms u. Polkit action org.vmgmt.domain.manage; a new disk's image
 * is opened with the caller's rights (domain-files.h). */
int vm_domain_method_attach_device(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_detach_device(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_update_device(sd_bus_message *message, void *userdata, sd_bus_error *error);
/* SetInterfaceParameters / GetInterfaceParameters: an interface's <bandwidth> as libvirt's typed parameters. */
int vm_domain_method_set_interface_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_get_interface_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error);
