/* driver-registry.h — the drivers built into vmgmtd: each one's operations,
 * for the registry table (driver-registry.c) and for tests that drive one
 * driver directly. Adding a driver is a line here and a line in the table. */
#pragma once

#include "driver.h"

extern const DomainDriverOps qemu_driver_ops;     /* drivers/qemu: types qemu (TCG) and kvm */
