/* domain-tune.h — org.vmgmt.Domain's vCPU, memory and resource-limit methods (SetVCPUs, SetMemory,
 * SetMaxMemory, the scheduler/memory/blkio parameters, vCPU and emulator pinning). */
#pragma once

#include <systemd/sd-bus.h>

/* Changing calls are org.vmgmt.domain.manage; the getters are open to
 * everybody. Options live b / config b as libvirt's AFFECT_LIVE/CONFIG
 * (neither: the running domain when active, else its definition). */
int domain_method_set_vcpus(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_set_memory(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_set_max_memory(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_set_scheduler_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_get_scheduler_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_set_memory_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_get_memory_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_set_blkio_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_get_blkio_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_pin_vcpu(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_pin_emulator(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_get_vcpu_pin_info(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_pin_iothread(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_get_iothread_info(sd_bus_message *message, void *userdata, sd_bus_error *error);

/* DomainDriverEvents.live_def_changed: PropertiesChanged of VCPUs and MemoryKiB. */
void vm_domain_live_def_changed(void *owner);
