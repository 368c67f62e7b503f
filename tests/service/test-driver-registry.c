/* test-driver-registry.c — the table of domain drivers (drivers/driver-registry.c):
 * every domain type the conf model knows has exactly one driver, a type nobody
 * registered has none, and the names the service shows (Manager.Drivers) are
 * unique. */
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
                /* every type a driver claims is its own in the lookup */
                for (const char *const *t = (*o)->domain_types; t && *t; t++)
                        check(domain_driver_for_type(*t) != NULL);
        }
        check(n >= 1);
        /* each <domain type=> the parser accepts is run by some driver */
        for (int t = 0; t < _DOMAIN_VIRT_MAX; t++)
                check(domain_driver_for_type(domain_virt_type_to_string(t)) != NULL);
        check(domain_driver_for_type("qemu") == domain_driver_for_type("kvm"));
        check(domain_driver_for_type("lxc") == NULL);
        check(domain_driver_for_type("") == NULL);
        check(domain_driver_for_type(NULL) == NULL);
        printf("%s: %zu driver(s)\n", failures ? "FAIL" : "ok", n);
        return failures ? 1 : 0;
}
