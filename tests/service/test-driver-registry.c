/* test-driver-registry.c — the table of domain drivers (drivers/driver-registry.c):
 * every type a driver claims is one the parser knows and is that driver's, a
 * type the parser knows but nobody registered (libvirt's xen, lxc, …) has
 * none, and the names the service shows (Manager.Drivers) are unique. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "driver.h"

static unsigned failures;

#define check(expr)                                                                        \
        do {                                                                               \
                if (!(expr)) {                                                             \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
                        failures++;                                                        \
                }                                                                          \
        } while (0)

int main(void) {
        size_t n = 0;

        for (const DomainDriverOps *const *o = domain_driver_registry; *o; o++, n++) {
                check((*o)->name && *(*o)->name);
                check((*o)->domain_types && (*o)->domain_types[0]);
                for (const DomainDriverOps *const *p = domain_driver_registry; p != o; p++)
                        check(strcmp((*p)->name, (*o)->name) != 0);
                /* every type a driver claims is a <domain type=> name and its own in the lookup */
                for (const char *const *t = (*o)->domain_types; t && *t; t++) {
                        bool known = false;
                        for (int v = 0; v < _DOMAIN_VIRT_MAX; v++)
                                known = known || strcmp(domain_virt_type_to_string(v), *t) == 0;
                        check(known);
                        check(domain_driver_for_type(*t) == *o);
                }
        }
        check(n >= 1);
        /* the parser takes libvirt's names; only the registered ones have a driver */
        check(domain_driver_for_type("qemu") != NULL);
        check(domain_driver_for_type("qemu") == domain_driver_for_type("kvm"));
        check(domain_virt_type_to_string(DOMAIN_VIRT_XEN) && domain_driver_for_type("xen") == NULL);
        check(domain_virt_type_to_string(DOMAIN_VIRT_LXC) && domain_driver_for_type("lxc") == NULL);
        check(domain_driver_for_type("") == NULL);
        check(domain_driver_for_type(NULL) == NULL);
        printf("%s: %zu driver(s)\n", failures ? "FAIL" : "ok", n);
        return failures ? 1 : 0;
}
