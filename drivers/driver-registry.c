/* driver-registry.c — the table of domain drivers the service chooses from by a domain's type. */
#include <string.h>

#include "driver-registry.h"

const DomainDriverOps *const domain_driver_registry[] = {
        &qemu_driver_ops,
        NULL,
};

const DomainDriverOps *domain_driver_for_type(const char *type) {
        if (!type)
                return NULL;
        for (const DomainDriverOps *const *o = domain_driver_registry; *o; o++)
                for (const char *const *t = (*o)->domain_types; t && *t; t++)
                        if (strcmp(*t, type) == 0)
                                return *o;
        return NULL;
}
