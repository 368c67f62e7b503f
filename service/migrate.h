/* migrate.h — live migration between two vmgmtd (issue 15): the source's Domain.Migrate
 * (domain-migrate.c) and the destination's Manager.PrepareMigration,
 * Domain.FinishIncomingMigration and Domain.AbortIncomingMigration (manager-migrate.c). */
#pragma once

#include <systemd/sd-bus.h>

#include "manager.h"

/* vmgmtd.conf [migration]: where incoming migrations listen */
#define VM_MIGRATION_PORT_MIN_DEFAULT 49152u
#define VM_MIGRATION_PORT_MAX_DEFAULT 49215u

/* Reads [migration] (migration_port_min, migration_port_max, migration_address,
 * migrate_tls_x509_cert_dir) into c. 0 or -EINVAL (logged). */
int vm_migration_config_load(GKeyFile *kf, const char *path, ManagerConfig *c);

int vm_manager_method_prepare_migration(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_finish_incoming_migration(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_abort_incoming_migration(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_migrate(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_set_migration_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_get_migration_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error);
/* The incoming migrations waiting for their source go (vmgmtd exits: their hypervisors keep running). */
void vm_incoming_migrations_free(Manager *m);
