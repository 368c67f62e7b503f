/* A small client built on the gdbus-codegen output of interfaces/org.vmgmt.*
 * (test_codegen.py): lists the managed objects and their interfaces, reads
 * Manager.Version and calls ListDomains. Usage: client BUS_ADDRESS */
#include <stdio.h>

#include "vm-generated.h"

int main(int argc, char **argv) {
        g_autoptr(GError) err = NULL;
        g_autoptr(GDBusConnection) conn = NULL;
        g_autoptr(GDBusObjectManager) om = NULL;
        VmManager *manager = NULL;
        g_auto(GStrv) domains = NULL;
        GList *objects;

        if (argc != 2) {
                fprintf(stderr, "usage: %s BUS_ADDRESS\n", argv[0]);
                return 2;
        }
        conn = g_dbus_connection_new_for_address_sync(argv[1],
                                                      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                      G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                      NULL, NULL, &err);
        if (!conn)
                goto fail;
        om = vm_object_manager_client_new_sync(conn, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                               "org.vmgmt", "/org/vmgmt", NULL, &err);
        if (!om)
                goto fail;
        objects = g_dbus_object_manager_get_objects(om);
        for (GList *l = objects; l; l = l->next) {
                VmObject *o = VM_OBJECT(l->data);
                const char *kind = vm_object_peek_domain(o) ? "domain" :
                                   vm_object_peek_network(o) ? "network" :
                                   vm_object_peek_storage_pool(o) ? "pool" :
                                   vm_object_peek_storage_volume(o) ? "volume" :
                                   vm_object_peek_job(o) ? "job" :
                                   vm_object_peek_snapshot(o) ? "snapshot" : "other";
                printf("object %s %s\n", g_dbus_object_get_object_path(G_DBUS_OBJECT(o)), kind);
                if (vm_object_peek_domain(o))
                        printf("domain-name %s\n", vm_domain_get_name(vm_object_peek_domain(o)));
        }
        g_list_free_full(objects, g_object_unref);

        manager = vm_manager_proxy_new_sync(conn, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, "org.vmgmt", "/org/vmgmt",
                                            NULL, &err);
        if (!manager)
                goto fail;
        printf("version %s\n", vm_manager_get_version(manager));
        if (!vm_manager_call_list_domains_sync(manager, g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0),
                                               &domains, NULL, &err))
                goto fail;
        for (char **d = domains; d && *d; d++)
                printf("listed %s\n", *d);
        g_object_unref(manager);
        return 0;
fail:
        fprintf(stderr, "client: %s\n", err ? err->message : "failed");
        if (manager)
                g_object_unref(manager);
        return 1;
}
