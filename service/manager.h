/* manager.h — vmgmtd's one manager object: loop, bus, drivers, paths and the domain registry. */
#pragma once

#include <stdbool.h>
#include <glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-util.h"
#include "driver.h"

#define VM_BUS_NAME "org.vmgmt"
#define VM_MANAGER_PATH "/org/vmgmt"
#define VM_MANAGER_INTERFACE "org.vmgmt.Manager"
#define VM_DOMAIN_PREFIX "/org/vmgmt/domain"
#define VM_DOMAIN_INTERFACE "org.vmgmt.Domain"
#define VM_SNAPSHOT_INTERFACE "org.vmgmt.Snapshot"

typedef struct VmDomain VmDomain;
typedef struct VmStorage VmStorage;
typedef struct VmNetworks VmNetworks;
typedef struct VmSecrets VmSecrets;

typedef struct ManagerConfig {
        bool user;               /* --user: session bus, per-user paths */
        char *root;              /* --root DIR, "" for none */
        char *config_file;       /* --config FILE, NULL for ROOT/etc/vmgmt/vmgmtd.conf */
        bool autostart;          /* [daemon] autostart=: start autostart domains at start-up */
        bool no_default_network; /* [daemon] default_network=false: never define the `default` network */
        uint64_t polkit_timeout_usec;             /* [daemon] polkit_timeout_sec= */
        uint64_t polkit_interactive_timeout_usec; /* [daemon] polkit_interactive_timeout_sec= */
        uint64_t job_linger_usec;                 /* [daemon] job_linger_sec=: a finished job stays this long (0: 60 s) */
        uint64_t pool_refresh_usec;               /* [daemon] pool_refresh_sec=: active pools' sizes read again this often (0: 30 s) */
        DriverLogRotation log_console;            /* [log] console_max_size=, console_keep= */
        DriverLogRotation log_hypervisor;         /* [log] DRIVER_max_size=, DRIVER_keep= (DRIVER: a registered driver's name) */
        uint64_t log_rotate_interval_usec;        /* [log] rotate_interval_sec= */
        uint64_t screenshot_stall_usec;           /* [daemon] screenshot_stall_timeout_sec= (0: the driver's 30 s) */
        uint64_t probe_timeout_usec;              /* [daemon] probe_timeout_sec=: each run of an emulator probed (0: the driver's 30 s) */
        char **allowed_device_paths;              /* [daemon] confinement_allowed_paths=: NULL for the default (path-policy.h) */
        DriverConfinementMode confinement;        /* [daemon] confinement=on|off (unset: on when vmgmtd runs as root) */
        char confinement_user[256];               /* [daemon] confinement_user=: one user for every domain ("": a uid each) */
        uint32_t confinement_uid_min, confinement_uid_max; /* [daemon] confinement_uid_range=FIRST-LAST */
        bool on_host_shutdown_save;               /* [daemon] on_host_shutdown=save: SIGTERM managed-saves running domains */
        char *lease_dir;                          /* [daemon] lease_dir=: disk leases (domain-lease.h); NULL: STATE/leases */
        uint16_t migration_port_min, migration_port_max; /* [migration]: incoming migrations listen on the first free one */
        char *migration_address;                  /* [migration] migration_address=: where they listen (NULL: 0.0.0.0) */
        char *migrate_tls_dir;                    /* [migration] migrate_tls_x509_cert_dir= (NULL: no tls) */
} ManagerConfig;

#define VM_LOG_MAX_SIZE_DEFAULT (2u * 1024u * 1024u)
#define VM_LOG_KEEP_DEFAULT 3u
#define VM_LOG_ROTATE_INTERVAL_USEC_DEFAULT (60 * 1000000ULL)

#define VM_POLKIT_TIMEOUT_USEC_DEFAULT (20 * 1000000ULL)
#define VM_POLKIT_INTERACTIVE_TIMEOUT_USEC_DEFAULT (120 * 1000000ULL)

/* A registered domain driver (drivers/driver.h's registry), created at start-up. */
typedef struct VmDriver {
        const DomainDriverOps *ops;
        DomainDriver *driver;
        bool usable;             /* ops->usable(): listed in Manager.Drivers */
} VmDriver;

typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        ManagerConfig config;
        VmPaths paths;

        VmDriver *drivers;       /* one per registered driver, in the registry's order */
        size_t n_drivers;

        GHashTable *domains_by_name;   /* name → VmDomain*, owns one reference */
        GHashTable *domains_by_uuid;   /* uuid text → VmDomain*, borrowed */
        GHashTable *managed_saves_at_load; /* start-up only: UUIDs with a managed save image (one listing) */
        GHashTable *domains_by_clash_base; /* log_clash_base(name) → GPtrArray of those VmDomain*, borrowed */
        int next_id;                   /* the Id the next started domain gets */
        bool ready;                    /* start-up done: changes are signalled */
        unsigned name_waits;           /* start-up pool and network starts and driver recoveries the bus name waits for */
        bool name_taken;
        bool startup_returned;         /* manager_startup() returned: a failure to take the name exits the loop */
        uint64_t startup_t0;
        sd_event_source *name_timer;   /* bounds that wait */

        GHashTable *pending_ops;       /* VmOp* waiting for the driver */
        GPtrArray *store_pending;      /* StoreWrite*: batched definition writes */
        struct StoreBatch *store_inflight; /* the batch being committed in its thread (domain-store.c) */
        sd_event_source *store_flush_source;

        BusCredsCache *creds;
        GHashTable *auth_queries;      /* sd_bus_message* → AuthQuery*: authorizations under way (auth.c) */
        GQueue *auth_waiting;          /* AuthQuery* waiting for a free polkit slot, oldest first */
        unsigned auth_in_flight;       /* CheckAuthorization calls sent and not answered */
        uint64_t auth_serial;          /* numbers polkit cancellation ids */
        GHashTable *auth_callers;      /* VmCaller*: callers of deferred calls, watched for disconnects (auth.c) */
        char *capabilities_xml;        /* built on first GetCapabilities */
        VmStorage *storage;            /* pools, volumes and jobs (pool.c) */
        VmNetworks *networks;          /* virtual networks (network.c) */
        VmSecrets *secrets;            /* secrets (secret.c) */
        GHashTable *consoles;          /* "UUID/device" → ConsoleProxy*: attached consoles (domain-console.c) */
        GHashTable *jobs;              /* path → VmJob*, owned (job.c) */
        GHashTable *restores_waiting;  /* sd_bus_message* → RestoreCall*: RestoreDomain calls waiting for polkit (domain-save.c) */
        uint64_t next_job_id;          /* job ids never repeat over restarts: ids below */
        uint64_t job_id_limit;         /* this limit are reserved in RUN/job-ids */
        uint64_t job_linger_usec;
} Manager;

/* Reads the key file at m->config.config_file (or the default path under
 * root). A missing file is fine; an unknown group or key, or a bad value, is an
 * error. Returns 0 or a negative errno (logged). */
int manager_config_load(ManagerConfig *c, const char *root, const char *path);

int manager_new(const ManagerConfig *config, Manager **ret);
/* Frees everything; running domains keep running (the driver is freed, never
 * asked to destroy). Returns NULL. */
Manager *manager_free(Manager *m);

/* Start-up in the order that keeps clients from seeing half a daemon: paths,
 * driver, definitions, recovery of running domains, bus objects, autostart,
 * and only then the bus name. Returns 0 or a negative errno (logged). */
int manager_startup(Manager *m);

/* The driver that runs domains of def's type; NULL when none is registered
 * (then error, when given, is NotSupported naming the type). */
VmDriver *manager_driver_for_def(Manager *m, const DomainDef *def, sd_bus_error *error);
/* The same for a type name; NULL when none. */
VmDriver *manager_driver_for_type(Manager *m, const char *type);

/* Runs the loop until SIGTERM/SIGINT. */
int manager_run(Manager *m);

/* manager-dbus.c */
int manager_dbus_register(Manager *m);
/* Emits org.vmgmt.Manager.DomainEvent for d (uid/pid when a caller caused it). */
int manager_emit_domain_event(Manager *m, VmDomain *d, const char *event, const char *detail);

/* node-info.c: host facts for GetCapabilities / GetNodeInfo / GetNodeStats. */
int node_capabilities_xml(Manager *m, char **ret);
int node_info_append(sd_bus_message *reply);
int node_stats_append(sd_bus_message *reply);
