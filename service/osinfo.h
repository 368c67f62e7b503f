/* osinfo.h — OS templates on the bus from libosinfo's database (osinfo-db): Manager.GetOSInfo, ListOSInfo
 * and DetectOSInfo, what virt-install's --os-variant and a "new VM" wizard build on. */
#pragma once

#include "manager.h"

#define VM_ERROR_NO_SUCH_OS "org.vmgmt.Error.NoSuchOS"

/* Registers the three methods on org.vmgmt.Manager (a vtable of their own:
 * its state is created here and freed with the event loop). The database is
 * loaded in a thread at the first call, never on the loop: calls that come
 * while it loads wait and are dispatched again once it is there. Returns 0
 * or a negative errno (logged). */
int vm_manager_osinfo_register(Manager *m);
