/* domain-clone.h — Domain.Clone(s new_name, a{sv} options) → o, a Job of type clone (domain-clone.c). */
#pragma once

#include <systemd/sd-bus.h>

int vm_domain_method_clone(sd_bus_message *message, void *userdata, sd_bus_error *error);
