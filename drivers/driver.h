/* driver.h — the contract between service/ (bus objects) and drivers/ (the work).
 *
 * The service owns definitions, names, persistence, authorization and every
 * D-Bus detail. A hypervisor driver owns running domains: it starts and
 * supervises processes, talks to the monitor and reports every change of a
 * domain's state back through DomainDriverEvents, in the order the changes
 * happened. Nothing here knows D-Bus; errors are negative errno values plus a
 * human message, mapped to bus error names by the service.
 *
 * Everything runs on the one sd_event loop; no operation blocks it. An
 * operation that must wait (QMP, a child process) returns 0 at once and calls
 * its DriverDoneFn later, exactly once (also when it fails). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "conf/domain-conf.h"

/* ---- where things live (see DESIGN.md "Files"); all absolute, --root applied ---- */
typedef struct VmPaths {
        char *root;          /* "" or the --root DIR */
        char *config_dir;    /* /etc/vmgmt                 (definitions: config_dir/DRIVER/NAME.xml) */
        char *state_dir;     /* /var/lib/vmgmt             (images, save files, a driver's caches) */
        char *run_dir;       /* /run/vmgmt                 (live state: run_dir/DRIVER/NAME.{xml,pid,…}) */
        char *log_dir;       /* /var/log/vmgmt             (log_dir/DRIVER/NAME.log) */
} VmPaths;

/* ---- domain state, as libvirt ---- */
typedef enum DomainState {
        DOMAIN_STATE_SHUTOFF,
        DOMAIN_STATE_RUNNING,
        DOMAIN_STATE_PAUSED,
        DOMAIN_STATE_SHUTDOWN,      /* being shut down */
        DOMAIN_STATE_CRASHED,
        DOMAIN_STATE_PMSUSPENDED,
        _DOMAIN_STATE_MAX,
} DomainState;

/* Reasons travel as libvirt's words, lower case with dashes:
 *  running: "booted", "unpaused", "restored", "from-snapshot", "migrated", "wakeup", "user"(?)…
 *  paused:  "user", "starting-up", "shutting-down", "io-error", "migration", "crashed", "unknown"…
 *  shutoff: "unknown", "shutdown", "destroyed", "crashed", "saved", "failed", "from-snapshot"…
 *  crashed: "panicked", "unknown"
 *  shutdown: "user", "unknown" */

typedef enum DomainEventType {
        DOMAIN_EVENT_NONE,          /* a state change with no signal of its own */
        DOMAIN_EVENT_DEFINED,
        DOMAIN_EVENT_UNDEFINED,
        DOMAIN_EVENT_STARTED,
        DOMAIN_EVENT_SUSPENDED,
        DOMAIN_EVENT_RESUMED,
        DOMAIN_EVENT_STOPPED,
        DOMAIN_EVENT_SHUTDOWN,
        DOMAIN_EVENT_PMSUSPENDED,
        DOMAIN_EVENT_CRASHED,
        _DOMAIN_EVENT_MAX,
} DomainEventType;

const char *domain_state_to_string(DomainState s);          /* "running", … */
int domain_state_from_string(const char *s);
const char *domain_event_type_to_string(DomainEventType e); /* "started", … ; NULL for NONE */

/* ---- callbacks ---- */

/* Completion of an asynchronous operation: r = 0 on success, else -errno and a
 * message in the hypervisor's or OS's words. The service maps errnos to bus
 * errors with one table for every driver and object kind (service/bus-util.h:
 * -EOPNOTSUPP, e.g. a definition this host cannot run such as
 * host-passthrough under TCG → NotSupported, -EINVAL a bad argument →
 * InvalidArgs, -EBUSY → Busy, -ENOTCONN/-ESRCH → InvalidState, anything else
 * → OperationFailed). */
typedef void (*DriverDoneFn)(void *userdata, int r, const char *message);
/* domain_capabilities(): r = 0 with xml, or a negative errno with message. */
typedef void (*DriverDomCapsFn)(void *userdata, int r, const char *xml, const char *message);

typedef struct DriverRuntime DriverRuntime;   /* a running domain, owned by the driver */

/* Completion of a hot-plug operation: as DriverDoneFn, with the device's
 * alias (the hypervisor's id, "virtio-disk1", "net2"; NULL on failure). */
typedef void (*DriverDeviceDoneFn)(void *userdata, int r, const char *alias, const char *message);

typedef struct DomainDriverEvents {
        /* The domain `owner` (the service's object, opaque to the driver) changed
         * state. `event`/`detail` name the signal to emit (DOMAIN_EVENT_NONE: none);
         * called once per libvirt event, in the order the changes happened
         * (a start with DRIVER_START_PAUSED is two calls: RUNNING/"booted" with
         * STARTED/"booted", then PAUSED/"user" with SUSPENDED/"paused"). */
        void (*state_changed)(void *owner, DomainState state, const char *reason,
                              DomainEventType event, const char *detail);
        /* The domain's processes are gone and its runtime has been freed; `state`
         * is SHUTOFF or CRASHED with its reason; the STOPPED/CRASHED signal has
         * already been reported through state_changed. The service drops its
         * pointer to the runtime, removes a transient domain, applies a pending
         * new definition. */
        void (*stopped)(void *owner);
        /* Makes the host side of NIC `nic` of domain `owner` (during start, before
         * the hypervisor is spawned): a tap device named nic->target_dev (when
         * NULL or vnet…, the kernel picks vnetN), with a host MAC derived from nic->mac, on
         * nic->source_bridge (already resolved by the service). Returns 0 with
         * its name (malloc'd) and an fd to it (O_CLOEXEC; the tap goes away
         * when the last fd to it closes), or -errno (-ENODEV: no such bridge).
         * The service provides it; a driver never makes taps itself. NULL: the
         * host makes no taps (a start with such NICs fails, -EOPNOTSUPP). */
        int (*create_tap)(void *owner, const DomainNetDef *nic, char **ret_name, int *ret_fd);
        /* The live definition of `owner` changed by itself (the guest took a
         * balloon target: currentMemory; a vCPU went): the service signals
         * the properties that show it. NULL: nobody cares. */
        void (*live_def_changed)(void *owner);
        void *userdata;
} DomainDriverEvents;

/* Passed to recover(): one domain found running (or found dead) at daemon start. */
typedef void (*DriverRecoverFn)(void *userdata, DomainDef *live_def /* ownership passed */,
                                DriverRuntime *rt /* NULL when it died */, DomainState state,
                                const char *reason, int id, uint64_t start_time_usec);

typedef struct DomainDriver DomainDriver;

/* How one kind of log file is rotated: when it reaches max_size bytes its
 * content moves to FILE.1 (FILE.1 to FILE.2, …), `keep` old files are kept. */
typedef struct DriverLogRotation {
        uint64_t max_size;   /* 0: never rotated */
        unsigned keep;
} DriverLogRotation;

typedef enum DriverStartFlags {
        DRIVER_START_PAUSED = 1 << 0,
        DRIVER_START_FROM_SNAPSHOT = 1 << 1,    /* a revert's start: reason and event detail "from-snapshot" */
        DRIVER_START_RESET_NVRAM = 1 << 2,      /* the service makes the UEFI variable store anew from its template */
        /* the service takes no disk leases (service/domain-lease.h): a migration's destination,
         * whose source holds them until the switch */
        DRIVER_START_NO_LEASES = 1 << 7,
} DriverStartFlags;

/* ---- the files of a start: opened by the service, used by the driver ---- */

/* The service opens every host path a definition names (domain_def_host_paths())
 * itself, with the rights of whoever asked for the start, and gives the
 * driver the fds: the driver opens none of those paths and must not; it
 * dup()s what it keeps, the service closes its own after start() returned. */
typedef struct DriverFileLayer {
        int fd;                    /* read-only */
        const char *path;          /* as the layer above names it (absolute) */
        const char *format;        /* "raw", "qcow2", … */
} DriverFileLayer;

typedef struct DriverFile {
        const char *path;          /* as the definition names it */
        const char *resolved;      /* where it really was */
        DomainPathPurpose purpose;
        DomainChrKind chr_kind;    /* DOMAIN_PATH_CHARDEV */
        size_t index;              /* as in DomainPath */
        /* DOMAIN_PATH_DISK/RNG/pflash loader: the file, read-only or read-write as the
         * definition asks; KERNEL/INITRD/ROM loader: a sealed memfd with its bytes
         * (reopen it as /proc/self/fd/N); CHARDEV/GRAPHICS: a listening socket
         * (DOMAIN_PATH_LISTEN) or a connected one */
        int fd;
        const char *format;        /* images: the top's format ("raw", "qcow2", …); else NULL */
        const DriverFileLayer *backing;   /* images: the backing chain below the top, nearest first */
        size_t n_backing;
} DriverFile;

typedef struct DriverFiles {
        const DriverFile *files;
        size_t n_files;
        /* leases (service/domain-lease.h), OFD-locked fds the hypervisor keeps and never
         * reads: [0, n_disks) per disk (-1: none), kept with the disk's image (in its
         * fd set); after those, a start's <lease> devices, kept as long as it runs */
        const int *lease_fds;
        size_t n_lease_fds;
} DriverFiles;

/* The file of one path of the definition, or NULL. */
static inline const DriverFile *driver_files_find(const DriverFiles *f, DomainPathPurpose purpose, DomainChrKind kind,
                                                  size_t index) {
        for (size_t i = 0; f && i < f->n_files; i++)
                if (f->files[i].purpose == purpose && f->files[i].index == index &&
                    (purpose != DOMAIN_PATH_CHARDEV || f->files[i].chr_kind == kind))
                        return &f->files[i];
        return NULL;
}

/* How a driver confines the processes of the domains it runs (vmgmtd.conf
 * [daemon] confinement=, confinement_user=, confinement_uid_range=). */
typedef enum DriverConfinementMode {
        DRIVER_CONFINEMENT_AUTO,        /* on when vmgmtd runs as root, else off */
        DRIVER_CONFINEMENT_ON,
        DRIVER_CONFINEMENT_OFF,         /* today's root processes without a namespace or cgroup (debugging) */
} DriverConfinementMode;

typedef struct DriverConfinement {
        DriverConfinementMode mode;
        const char *user;               /* one existing user for every domain; NULL: a uid of its own per running domain */
        uint32_t uid_min, uid_max;      /* where those uids come from (gid = uid) */
} DriverConfinement;

#define DRIVER_CONFINEMENT_UID_MIN_DEFAULT 0x7ffe0000u
#define DRIVER_CONFINEMENT_UID_MAX_DEFAULT 0x7ffeffffu

/* What a domain runs under, as the Domain's SecurityModel and SecurityLabel properties show it. */
typedef struct DriverSecurity {
        const char *model;              /* "vmgmt": confined; "none" */
        char label[64];                 /* "uid N gid N" while it runs confined, else "" */
} DriverSecurity;

/* ---- long operations: save, restore, dump, snapshots, block jobs ----
 *
 * An operation that takes a while returns a DriverJob at once and reports
 * through DriverJobCallbacks: progress any number of times, then done exactly
 * once (also when the domain stops meanwhile: -ESRCH or the failure; when the
 * driver is freed meanwhile nothing is called). Each driver embeds DriverJob
 * as the first member of its own job object; the handle is valid until done
 * was called. */
typedef struct DriverJob DriverJob;
struct DriverJob {
        /* Asks the operation to stop: done follows with -ECANCELED when it did
         * (the domain as it was before, no file left behind), or with its own
         * result when it was too late. */
        void (*cancel)(DriverJob *j);
};

typedef struct DriverJobCallbacks {
        void (*progress)(void *userdata, uint64_t processed, uint64_t total);   /* bytes; total 0: not known yet */
        DriverDoneFn done;
        void *userdata;
} DriverJobCallbacks;

static inline void driver_job_cancel(DriverJob *j) {
        if (j && j->cancel)
                j->cancel(j);
}

/* ---- block jobs ----
 *
 * A disk's image is a chain of layers, depth 0 the active layer (the disk's
 * source), depth n its n-th backing file, as the service opened it just
 * before (DriverFile: the top and its backing layers). */
typedef enum DriverBlockJobType {
        DRIVER_BLOCK_JOB_PULL,          /* the layers above `base` copy everything below into the active layer */
        DRIVER_BLOCK_JOB_COMMIT,        /* layers top…base-1 are written into base and drop out of the chain */
        DRIVER_BLOCK_JOB_COPY,          /* the disk is mirrored into a new image (dest_fd) */
} DriverBlockJobType;

typedef struct DriverBlockJob {
        DriverBlockJobType type;
        size_t disk;                    /* index into the live definition's disks */
        const DriverFile *chain;        /* the disk's layers as opened now (fds unused; paths and formats) */
        size_t top;                     /* commit: depth of the top layer (0: the active layer) */
        size_t base;                    /* pull, commit: depth of the base (pull: 1 + n_backing = no base) */
        int base_fd;                    /* commit: base opened read-write (the driver dup()s it) */
        const char *base_name;          /* the name written into the header above base (pull, commit below the top) */
        uint64_t bandwidth;             /* bytes per second; 0: no limit */
        bool pivot;                     /* active commit, copy: switch to the other image when ready */
        bool finish;                    /* copy: end when ready, the disk stays on its image */
        /* copy */
        int dest_fd;                    /* read-write (dup()ed) */
        int dest_lease_fd;              /* the destination's lease (service/domain-lease.h), -1: none; dup()ed, kept
                                         * with the destination's image: released if the copy is undone, held
                                         * after a pivot (when the old image's goes) */
        const char *dest_path;          /* as the caller named it: the disk's new source after a pivot */
        const char *dest_format;        /* "qcow2", "raw" */
        bool dest_format_it;            /* a new file: the driver writes the format (qcow2 header) onto it */
        bool shallow;                   /* only the active layer is copied; the copy's backing is the disk's */
        uint32_t granularity;           /* bytes (a power of 2); 0: the hypervisor's */
        const char *owner_data;         /* the service's: kept with the job's runtime status, given back on adoption */
} DriverBlockJob;

/* One disk of a point-in-time copy (backup_disks()). */
typedef struct DriverBackupTarget {
        size_t disk;                    /* index into the live definition's disks */
        int fd;                         /* a new, empty file the copy goes into, read-write (dup()ed) */
        const char *format;             /* what the copy becomes: "raw", "qcow2" */
} DriverBackupTarget;

/* A block job a restarted daemon found in a recovered domain's status
 * (block_jobs_adopt()): what it was started with. */
typedef struct DriverBlockJobInfo {
        DriverBlockJobType type;
        size_t disk;
        size_t top, base;
        bool pivot, finish;
        const char *dest_path, *dest_format;
        const char *owner_data;         /* DriverBlockJob.owner_data, NULL when none */
} DriverBlockJobInfo;

/* Called for each such job, synchronously: job is its handle (valid until
 * done was called), *ret_cb what it reports to (zeroed: nobody). */
typedef void (*DriverBlockJobAdoptFn)(void *userdata, DriverJob *job, const DriverBlockJobInfo *info,
                                      DriverJobCallbacks *ret_cb);

/* save(): options */
typedef enum DriverSaveFlags {
        DRIVER_SAVE_BYPASS_CACHE = 1 << 0,      /* O_DIRECT writes */
        DRIVER_SAVE_RUNNING = 1 << 1,           /* the image restores running whatever the state now */
        DRIVER_SAVE_PAUSED = 1 << 2,            /* … paused */
} DriverSaveFlags;

/* core_dump(): options, as virsh dump's */
typedef struct DriverDumpOptions {
        bool memory_only;           /* the guest's memory as an ELF/kdump core; else the full migration stream */
        const char *format;         /* memory_only: "elf" (NULL too), "kdump-zlib", "kdump-lzo", "kdump-snappy" */
        bool live;                  /* the guest keeps running while it is written */
        bool crash;                 /* the domain is stopped afterwards (shutoff "crashed", stopped/crashed) */
        bool reset;                 /* the guest is reset afterwards */
} DriverDumpOptions;

/* What a snapshot operation does to the disks (and memory) it names. */
typedef enum DriverSnapshotAction {
        DRIVER_SNAPSHOT_CREATE,
        DRIVER_SNAPSHOT_REVERT,
        DRIVER_SNAPSHOT_DELETE,
} DriverSnapshotAction;

typedef enum DriverSnapshotFlags {
        DRIVER_SNAPSHOT_PAUSED = 1 << 0,   /* revert: leave the CPUs stopped */
        DRIVER_SNAPSHOT_QUIESCE = 1 << 1,  /* external create: the guest agent freezes the guest's file
                                            * systems around the switch and thaws them after, also on failure */
        DRIVER_SNAPSHOT_LIVE = 1 << 2,     /* memory create: the CPUs run while the RAM is copied */
} DriverSnapshotFlags;

/* One new overlay of an external snapshot. */
typedef struct DriverSnapshotOverlay {
        size_t disk;               /* index into the live definition's disks */
        int fd;                    /* the overlay file, read-write (dup()ed) */
        const char *path;          /* its name, as the live definition will have it */
} DriverSnapshotOverlay;

/* One change to the image files of a shut-off domain (image_offline()); every fd is
 * the service's, opened as its caller (the driver dup()s what it keeps). */
typedef enum DriverImageOpType {
        DRIVER_IMAGE_CREATE_OVERLAY,    /* fd (new, empty) becomes a qcow2 of `size` bytes backed by `backing` */
        DRIVER_IMAGE_COMMIT,            /* the data of qcow2 layer fd is written into its backing base_fd
                                         * (read-write, format backing_format; below it: below[]); fd keeps it */
        DRIVER_IMAGE_REBASE,            /* the header of qcow2 fd (read-write) names `backing` as its backing
                                         * file; no data moves (the new backing holds what the old one showed) */
} DriverImageOpType;

typedef struct DriverImageOp {
        DriverImageOpType type;
        int fd;
        const char *backing;            /* create, rebase: the backing file's name as the header gets it */
        const char *backing_format;     /* its format */
        uint64_t size;                  /* create: the virtual size */
        int base_fd;                    /* commit */
        const DriverFileLayer *below;   /* commit: the base's own backing chain, nearest first (read-only) */
        size_t n_below;
} DriverImageOp;
/* ---- statistics (GetStats, GetAllDomainStats) ----
 *
 * A running domain's counters as libvirt's typed parameters name them
 * ("cpu.time", "block.0.rd.bytes", …), built by the driver, turned into a
 * bus reply by the service. */
typedef enum DriverStatsGroup {
        DRIVER_STATS_CPU = 1 << 0,          /* cpu.time, cpu.user, cpu.system (ns) */
        DRIVER_STATS_BALLOON = 1 << 1,      /* balloon.* (KiB; faults as counts) */
        DRIVER_STATS_VCPU = 1 << 2,         /* vcpu.current, vcpu.maximum, vcpu.N.{state,time,wait} */
        DRIVER_STATS_INTERFACE = 1 << 3,    /* net.count, net.N.{name,rx.*,tx.*} (the guest's view) */
        DRIVER_STATS_BLOCK = 1 << 4,        /* block.count, block.N.{name,path,rd.*,wr.*,fl.*,allocation,…} */
        DRIVER_STATS_PERF = 1 << 5,         /* perf.* (hardware counters), where the host has them */
} DriverStatsGroup;

typedef enum DriverStatType {
        DRIVER_STAT_UINT,       /* value.u */
        DRIVER_STAT_STRING,     /* value.s */
} DriverStatType;

typedef struct DriverStat {
        char *key;
        DriverStatType type;
        uint64_t u;
        char *s;
} DriverStat;

typedef struct DriverStats {
        DriverStat *items;
        size_t n, n_allocated;
        /* the hypervisor did not answer in time: the groups it answers for
         * carry what it said last (or nothing) */
        bool incomplete;
} DriverStats;

/* The statistics of one get_stats() call: valid during the call of fn only. */
typedef void (*DriverStatsFn)(void *userdata, const DriverStats *stats);

/* One address of one guest interface, as the guest agent tells it (GetInterfaceAddresses' agent source). */
typedef struct DriverIfAddr {
        const char *name;       /* the guest's name of the interface ("eth0") */
        const char *hwaddr;     /* its MAC, NULL when not told */
        const char *type;       /* "ipv4", "ipv6"; NULL: an interface without addresses */
        const char *addr;
        unsigned prefix;
} DriverIfAddr;

typedef void (*DriverIfAddrFn)(void *userdata, int r, const DriverIfAddr *addrs, size_t n, const char *message);


/* ---- live migration (issue 15) ----
 *
 * Destination: migrate_prepare() starts the domain as start() does (the
 * service's fds, confinement) but waiting for the guest's state from the
 * network: it listens on in->listen_address:port and reports, once it does,
 * PAUSED "migration" with STARTED/"migrated", then done(0). The stream's
 * failure kills it (shutoff "failed", STOPPED/"failed"). migrate_finish()
 * waits for the stream's end and runs the guest: RUNNING "migrated",
 * RESUMED/"migrated". Source: migrate_begin() sends the running domain's
 * state (and with disks, their content first over NBD); when the stream is
 * through (the guest stopped here) callbacks.switchover is called and the
 * service answers with migrate_confirm(): r >= 0 the destination runs it,
 * the hypervisor here quits (shutoff "migrated", STOPPED/"migrated") and done(0); r < 0
 * the guest runs on here (RESUMED/"migrated") and done(r); r = -ENOTCONN (the
 * destination's answer was lost: it may run there) it stays paused here
 * (paused "migration") and done(r). A failure or a cancel before the
 * switch-over leaves it running here too. */
typedef struct DriverMigrateIncoming {
        const char *listen_address;     /* what the hypervisor binds ("0.0.0.0", an address of this host) */
        uint16_t port_min, port_max;    /* the first port of this range that is free */
        bool postcopy, compress, tls;
        unsigned multifd_channels;      /* 0: one stream */
        const char *tls_dir;            /* tls: x509 credentials (ca-cert.pem, server-cert.pem, server-key.pem) */
        const size_t *nbd_disks;        /* copy_storage: disks (indexes) exported writable over NBD */
        size_t n_nbd_disks;
} DriverMigrateIncoming;

typedef struct DriverMigrateOptions {
        const char *host;               /* where the destination listens */
        uint16_t port;
        uint16_t nbd_port;              /* copy_storage: the destination's NBD server */
        const size_t *nbd_disks;        /* copy_storage: disks mirrored first */
        size_t n_nbd_disks;
        bool live;                      /* false: the CPUs are stopped first */
        bool auto_converge, postcopy, postcopy_now, compress, tls;
        unsigned multifd_channels;
        const char *tls_dir;            /* tls: ca-cert.pem, client-cert.pem, client-key.pem */
        uint64_t bandwidth;             /* bytes per second, 0: unlimited */
        uint64_t max_downtime_ms;       /* 0: the hypervisor's */
} DriverMigrateOptions;

typedef struct DriverMigrateStats {
        const char *status;             /* the hypervisor's: setup, active, postcopy-active, completed, … */
        uint64_t ram_transferred, ram_remaining, ram_total;
        uint64_t dirty_rate;            /* pages per second */
        uint64_t iteration;             /* passes over the RAM so far */
        uint64_t expected_downtime_ms, downtime_ms, setup_ms, total_ms;
        uint64_t disk_transferred, disk_total;
} DriverMigrateStats;

/* migrate_get_limits(): bytes per second (0: unlimited) and the longest pause, ms. */
typedef void (*DriverMigrateLimitsFn)(void *userdata, int r, uint64_t bandwidth, uint64_t downtime_ms,
                                      const char *message);

typedef struct DriverMigrateCallbacks {
        void (*stats)(void *userdata, const DriverMigrateStats *s);
        void (*switchover)(void *userdata, DriverJob *job);   /* answer with migrate_confirm(job, …) */
        DriverDoneFn done;
        void *userdata;
} DriverMigrateCallbacks;

typedef struct DomainDriverOps {
        const char *name;  /* as Manager.Drivers lists it */
        /* The <domain type='…'> values this driver runs, NULL-terminated. The
         * service picks a domain's driver by its type from the registry. */
        const char *const *domain_types;
        /* Whether this host can run the driver's domains at all (its programs
         * are installed); cheap, runs nothing. NULL: always. */
        bool (*usable)(void);

        /* Creates the driver: probes (or loads the cached probe of) the emulator,
         * creates its run/log dirs. Blocking work here is bounded and cached. */
        int (*new)(sd_event *event, const VmPaths *paths, const DomainDriverEvents *events, DomainDriver **ret);
        DomainDriver *(*free)(DomainDriver *d);   /* leaves running domains running */

        /* Normalizes a parsed definition with this driver's knowledge (emulator,
         * machine aliases). Returns 0 or -EINVAL with err. */
        int (*normalize)(DomainDriver *d, DomainDef *def, ConfError *err);

        /* Finds every domain left running by a previous daemon instance (status
         * files in run_dir), reconnects to it and calls fn for each; dead ones are
         * reported with rt == NULL and state SHUTOFF (reason "unknown" or
         * "crashed"/"destroyed" as known) and their run files removed. After
         * this, runtimes report through events. `owner` is attached later with
         * attach_owner(). Synchronous part is bounded (pid checks, socket connect). */
        int (*recover)(DomainDriver *d, DriverRecoverFn fn, void *userdata);
        /* After recover(): fn(userdata) once every recovered domain's hypervisor answers again (or
         * was found gone), so that the service takes its bus name when calls on those domains work.
         * May call fn at once. NULL: at once. */
        void (*when_recovered)(DomainDriver *d, void (*fn)(void *userdata), void *userdata);
        void (*attach_owner)(DriverRuntime *rt, void *owner);

        /* Starts def (already normalized; copied by the driver). On success
         * *ret_rt is the runtime at once (state reports follow through events),
         * and done is called when the domain is running (or paused with
         * DRIVER_START_PAUSED), or with the failure (then the runtime has been
         * torn down, STOPPED/FAILED has NOT been emitted and `stopped` is NOT
         * called: the start simply did not happen). id is the domain's new Id.
         * files: an fd for every path domain_def_host_paths(def) lists (NULL
         * or empty when it lists none); the driver dup()s the fds it keeps. */
        int (*start)(DomainDriver *d, void *owner, const DomainDef *def, int id, DriverStartFlags flags,
                     const DriverFiles *files, DriverRuntime **ret_rt, DriverDoneFn done, void *userdata);

        /* Lifecycle, libvirt semantics. Each returns 0 and calls done later, or a
         * negative errno at once (then done is not called). */
        int (*shutdown)(DriverRuntime *rt, DriverDoneFn done, void *userdata);   /* ACPI power button; done when the request was delivered */
        int (*destroy)(DriverRuntime *rt, bool graceful, DriverDoneFn done, void *userdata); /* done when the process is gone */
        int (*reboot)(DriverRuntime *rt, DriverDoneFn done, void *userdata);     /* ACPI: guest reboots itself */
        int (*reset)(DriverRuntime *rt, DriverDoneFn done, void *userdata);      /* hard reset */
        int (*suspend)(DriverRuntime *rt, DriverDoneFn done, void *userdata);    /* done after the STOP was seen */
        int (*resume)(DriverRuntime *rt, DriverDoneFn done, void *userdata);

        /* Live information. */
        const DomainDef *(*live_def)(DriverRuntime *rt);   /* with id, pty paths, … */
        DomainState (*state)(DriverRuntime *rt, const char **reason);
        pid_t (*pid)(DriverRuntime *rt);
        uint64_t (*start_time)(DriverRuntime *rt);          /* µs since the epoch */

        /* ---- display (OpenGraphics, Screenshot) ---- */

        /* Connects to the VNC server of the domain's graphics device `index`
         * (its unix socket in the run dir, or its TCP address and port) without
         * blocking. Returns 0 and calls done later, exactly once: r = 0 with fd
         * a connected stream socket (blocking mode, O_CLOEXEC, ownership passed),
         * or r < 0 with fd -1 and a message. Refused at once: -EINVAL no such
         * device, -EOPNOTSUPP not VNC or not listening (listen type 'none'),
         * -EBUSY while starting, -ESRCH while being stopped. */
        int (*open_graphics)(DriverRuntime *rt, unsigned index,
                             void (*done)(void *userdata, int r, int fd, const char *message), void *userdata);
        /* Writes a PNG of screen `screen` (the heads of the video devices,
         * counted in order) to fd (duplicated: the caller keeps its own).
         * Returns 0 and calls done once every byte is written, or with the
         * failure (the reader closed its end: -EPIPE; it took nothing for a
         * long while: -ETIMEDOUT; the domain stopped: -ESRCH). Refused at once:
         * -EOPNOTSUPP no video device, -EINVAL no such screen, -EBUSY while
         * starting, -ESRCH while being stopped. Never blocks on fd, whatever
         * it is (pipe, socket, file). */
        int (*screenshot)(DriverRuntime *rt, int fd, unsigned screen, DriverDoneFn done, void *userdata);

        /* ---- emulator probing ---- */

        /* Makes sure normalize() of def can answer without running anything:
         * the emulator def names (or its arch's default) must have been probed.
         * Returns 1 when normalize() may run now, 0 when the probe runs as a
         * child of the event loop and done(userdata, r, message) is called when
         * it ended (r < 0: the emulator cannot be used; callers waiting for the
         * same emulator share one probe; a driver freed meanwhile calls done
         * with -ECANCELED), or a negative errno with *ret_message (no such
         * emulator, not root's, not executable). done NULL: probe now, blocking
         * (bounded by the probe deadline; only before the service takes its bus
         * name). */
        int (*prepare)(DomainDriver *d, const DomainDef *def, DriverDoneFn done, void *userdata,
                       char **ret_message);

        /* ---- firmware: UEFI and its per-domain variable store (NVRAM) ---- */

        /* Fills in what a start of def (normalized, a copy of the definition)
         * takes from the host's firmware: <os firmware='efi'> autoselection
         * (loader, NVRAM template, features, as the live XML shows them), the
         * template of a known pflash loader, and the store's path
         * (nvram_path() of def's name, marked nvram_managed) when def names
         * none. Reads a few small descriptor files. Returns 0, -ENOMEM, or
         * -EOPNOTSUPP with *ret_error (malloc'd) when no firmware of this host
         * fits. NULL: nothing to fill. */
        int (*firmware_resolve)(DomainDriver *d, DomainDef *def, char **ret_error);
        /* Where this driver keeps the variable store of the domain named name
         * (malloc'd; the service creates, renames, copies and removes it). NULL: none. */
        char *(*nvram_path)(DomainDriver *d, const char *name);

        /* ---- a domain's own state beside its definition (an emulated TPM's) ---- */

        /* Removes the TPM state of the domain with that UUID (it must not run). 0 (also when
         * there is none) or -errno. NULL: the driver keeps none. */
        int (*tpm_state_remove)(DomainDriver *d, const unsigned char uuid[16]);
        /* Copies the TPM state of domain `from` (shut off or paused) for the new domain `to`
         * (a clone). 0 (also when `from` has none yet), or -errno with *ret_error (malloc'd)
         * and nothing left for `to`. A few small files: done at once. */
        int (*tpm_state_copy)(DomainDriver *d, const unsigned char from[16], const unsigned char to[16], char **ret_error);

        /* ---- consoles and logs ---- */

        /* Opens the host side of a serial or console device of a running domain.
         * `device` is "" for the first console, else "serialN" or "consoleN" (the
         * aliases of the live XML). On success *ret_fd is a nonblocking,
         * close-on-exec fd (the pty in raw mode, or a connected socket) owned by
         * the caller, and *ret_device the canonical name ("serial0"; malloc'd).
         * Never blocks. Errors: -ENODEV no such device, -ESRCH not running,
         * -EBUSY still starting (or the device cannot take a connection now),
         * -EOPNOTSUPP a device vmgmt cannot open (a socket the hypervisor
         * connects out from); others with *ret_error (malloc'd, may be NULL). */
        int (*open_console)(DriverRuntime *rt, const char *device, int *ret_fd, char **ret_device,
                            char **ret_error);
        /* Size-based rotation of the domains' logs (serial console logs and the
         * hypervisor's own log): checked when a domain starts and every
         * interval_usec while it runs, off the event loop. max_size 0 turns
         * rotation off. */
        void (*set_log_rotation)(DomainDriver *d, const DriverLogRotation *console, const DriverLogRotation *hypervisor,
                                 uint64_t interval_usec);
        /* The log file (malloc'd path) that domains named `name` and `other`
         * would both write, as the driver names its log files; NULL when their
         * files are apart. vmgmtd refuses a name that clashes with a domain's. */
        char *(*log_clash)(DomainDriver *d, const char *name, const char *other);
        /* The one other name whose files a domain called `name` could clash
         * with (log_clash(name, that) may be non-NULL), or NULL: X
         * of X-console or X-serial1. vmgmtd keeps its domains by this name, so
         * a define finds a clash by lookup, not by asking about every domain. */
        char *(*log_clash_base)(DomainDriver *d, const char *name);
        /* A Screenshot whose reader takes no bytes for this long fails (ETIMEDOUT). */
        void (*set_screenshot_stall_timeout)(DomainDriver *d, uint64_t usec);
        /* How long each run of an emulator binary that prepare() probes may
         * take before it is killed and the probe fails (ETIMEDOUT); 0: the
         * driver's default. Only bounds a hang: a loaded host is slow. */
        void (*set_probe_timeout)(DomainDriver *d, uint64_t usec);
        /* Sets how domains started from now on are confined; called once at
         * start-up, before recover(). Returns 0, or a negative errno with
         * *ret_error (malloc'd: no such user, a range holding a user's uid,
         * confinement=on without root) and vmgmtd does not start. NULL: the
         * driver confines nothing. */
        int (*set_confinement)(DomainDriver *d, const DriverConfinement *c, char **ret_error);
        /* The security model and label of the running domain rt, or (rt NULL)
         * the model a domain started now would get, with an empty label. */
        void (*security)(DomainDriver *d, DriverRuntime *rt, DriverSecurity *ret);
        /* The canonical name (malloc'd, as open_console returns it) of the
         * console `device` ("" and the aliases as for open_console) of def;
         * nothing is opened. -ENODEV: def has no such device. */
        int (*console_name)(const DomainDef *def, const char *device, char **ret_name);

        /* ---- block jobs: the image chain of a running disk ---- */

        /* Starts a commit, pull or copy on a disk of the running domain rt
         * (see DriverBlockJob) and returns its DriverJob at once; progress is
         * bytes of the job's work. A commit of the active layer and a copy end
         * in "ready" (both images agree, writes go to both): done follows the
         * pivot or finish they asked for, else block_job_abort. Cancel stops
         * the job: done gets -ECANCELED and the chain is as before. Refused at
         * once (done not called): -EINVAL a disk or layer that is not there
         * (the image chain of the running disk differs from the one given),
         * -EBUSY a block job already runs on the disk or the domain starts,
         * -ESRCH being stopped; with *ret_error (malloc'd). NULL: none. */
        int (*block_job_start)(DriverRuntime *rt, const DriverBlockJob *job, const DriverJobCallbacks *cb,
                               DriverJob **ret, char **ret_error);
        /* Ends the block job of disk `disk` that waits in "ready": pivot true
         * switches the disk to the other image (the commit's base, the copy)
         * and done reports 0 when the switch is made; false leaves the disk
         * on its image (a copy stays as it was, consistent) and done reports 0.
         * -ENOENT no block job on that disk, -EAGAIN pivot before "ready". */
        int (*block_job_abort)(DriverRuntime *rt, unsigned disk, bool pivot, char **ret_error);
        /* After recover() and attach_owner(): the block jobs the runtime ran
         * when the previous daemon went, each given to fn; each then runs as
         * one block_job_start() made (events, block_job_abort, cancel), and one
         * that ended meanwhile is concluded as its end would have been (done
         * follows, never from within fn). Returns how many, or a negative errno. */
        int (*block_jobs_adopt)(DriverRuntime *rt, DriverBlockJobAdoptFn fn, void *userdata);
        /* Grows (or shrinks) the guest-visible size of disk `disk` of rt to
         * size bytes; done when the hypervisor did it. -EINVAL no such disk. */
        int (*block_resize)(DriverRuntime *rt, unsigned disk, uint64_t size, DriverDoneFn done, void *userdata);
        /* Point-in-time copies of disks of running (or paused) rt while the guest runs on: the whole
         * content of each target's disk (its backing chain flattened) goes into the target's file, every
         * disk as it was at one and the same instant (the copies start together; what the guest writes
         * later does not reach them). The driver formats each new, empty file. Progress: bytes copied
         * of all the disks' virtual sizes. done(0) once every copy is complete; a failure of one stops
         * them all (done with the hypervisor's words); cancel stops every copy (-ECANCELED); the domain
         * stopping meanwhile, -ESRCH. Whatever the end, the hypervisor keeps nothing of the job (no
         * node, no fd) by the time done is called; the files are the caller's to keep or remove.
         * bandwidth: bytes per second for each disk's copy, 0 no limit. Refused at once (done not
         * called): -EINVAL a disk that is not there, twice, or without an image, -EOPNOTSUPP a format
         * it cannot write, -EBUSY still starting or a block job on one of the disks, -ESRCH being
         * stopped; with *ret_error (malloc'd). NULL: not supported. */
        int (*backup_disks)(DriverRuntime *rt, const DriverBackupTarget *targets, size_t n, uint64_t bandwidth,
                            const DriverJobCallbacks *cb, DriverJob **ret, char **ret_error);

        /* ---- save, restore, core dump (issue 13) ---- */

        /* Saves the running or paused domain rt into fd (a new regular file,
         * read-write, at offset 0; duplicated: the caller keeps its own): a
         * header carrying header_xml (the definition the image restores, as
         * read_save_image returns it) and the state of the guest. The guest's
         * CPUs stop first (paused "saving"); when the state is written the
         * domain stops (shutoff "saved", event stopped/saved) and then
         * callbacks.done(0) follows. A failure or a cancel (-ECANCELED) leaves
         * the domain as it was (a running one resumes: resumed/unpaused, reason
         * "save-canceled"); the file's content is then garbage. Progress:
         * bytes of the guest's RAM written of its total. Refused at once:
         * -EBUSY while starting or during another job, -ESRCH while stopping,
         * -EOPNOTSUPP for an option the driver cannot honour. */
        int (*save)(DriverRuntime *rt, int fd, DriverSaveFlags flags, const char *header_xml,
                    const DriverJobCallbacks *callbacks, DriverJob **ret_job);
        /* Reads the header of a save image from fd (at offset 0; pread, the
         * offset is kept). Returns 1 with *ret_xml (malloc'd) and
         * *ret_running (whether the image restores running), 0 when fd is no
         * image of this driver, or a negative errno with *ret_error (malloc'd:
         * a truncated or damaged header). */
        int (*read_save_image)(int fd, char **ret_xml, bool *ret_running, char **ret_error);
        /* start() from a save image: def (normalized; the one the image holds,
         * or a compatible replacement) is started with the guest's state read
         * from image_fd (as save() wrote it; duplicated). *ret_rt as start()'s;
         * callbacks.done once the domain runs (state running "restored",
         * event started/restored) or, with DRIVER_START_PAUSED, is paused
         * (then also suspended/paused), or with the failure (the start did not
         * happen, as for start()). Progress: bytes of the image read. Cancel:
         * the start fails with -ECANCELED. */
        int (*restore)(DomainDriver *d, void *owner, const DomainDef *def, int id, DriverStartFlags flags,
                       const DriverFiles *files, int image_fd, const DriverJobCallbacks *callbacks,
                       DriverRuntime **ret_rt, DriverJob **ret_job);
        /* Writes a core dump of the running or paused domain rt to fd (as for
         * save(); duplicated) with options o. The domain is left as it was,
         * except: not live, its CPUs are stopped while it is written (paused
         * "dumping"); crash, it is stopped afterwards (shutoff "crashed",
         * event stopped/crashed); reset, it is reset afterwards. Refused at
         * once: -EOPNOTSUPP a format the hypervisor cannot write (the message
         * names those it can), -EBUSY/-ESRCH as for save(). */
        int (*core_dump)(DriverRuntime *rt, int fd, const DriverDumpOptions *o, const DriverJobCallbacks *callbacks,
                         DriverJob **ret_job);

        /* Manager.GetDomainCapabilities: libvirt's <domainCapabilities> XML for
         * a domain of virttype on machine and arch with emulator (each NULL or
         * "": the default), from a probe of the emulator (a child of the loop).
         * any_emulator: the caller may name any trusted binary; else only the
         * one the driver picks for the arch (-EACCES). Returns 0 and done
         * later, or a negative errno at once with *ret_message: -EINVAL (an
         * unknown arch, machine, virttype, emulator), -ENOENT (no such
         * emulator), -EOPNOTSUPP (a virttype or arch this host cannot run). */
        int (*domain_capabilities)(DomainDriver *d, const char *emulator, const char *arch, const char *machine,
                                   const char *virttype, bool any_emulator, DriverDomCapsFn done, void *userdata,
                                   char **ret_message);

        /* ---- snapshots ---- */

        /* Internal snapshot `name` of a shut-off domain: created in, applied
         * to (revert) or deleted from each image of fds (qcow2 files the
         * service opened read-write as its caller; dup()ed), one after the
         * other, without blocking the loop. A create that fails on one image,
         * or is cancelled, takes back what the others got (-ECANCELED).
         * Returns 0 with *ret (done once), or a negative errno with
         * *ret_error (malloc'd). NULL: no internal snapshots. */
        int (*snapshot_offline)(DomainDriver *d, DriverSnapshotAction action, const char *name, const int *fds,
                                size_t n_fds, const DriverJobCallbacks *cb, DriverJob **ret, char **ret_error);
        /* The same for running rt, with its memory: `disks` (indexes into the
         * live definition's disks, qcow2 all) take part, the first holds the
         * memory. A revert leaves the CPUs stopped with
         * DRIVER_SNAPSHOT_PAUSED, else running, and reports that state with
         * reason from-snapshot (STARTED or SUSPENDED/from-snapshot); the
         * pause a create causes is not reported. -EBUSY still starting,
         * -ESRCH being stopped. */
        int (*snapshot_live)(DriverRuntime *rt, DriverSnapshotAction action, const char *name, const size_t *disks,
                             size_t n_disks, DriverSnapshotFlags flags, const DriverJobCallbacks *cb, DriverJob **ret,
                             char **ret_error);
        /* A disk-only external snapshot of running rt: each overlay file
         * (new and empty, created by the service as its caller) is made a
         * qcow2 whose backing is its disk's active image, then all disks
         * switch to their overlays at once (one transaction); the live
         * definition names the overlays afterwards. A failure or a cancel
         * before the switch leaves the hypervisor as it was (the files are the
         * service's to remove). DRIVER_SNAPSHOT_QUIESCE: refused at once with
         * -EOPNOTSUPP without a guest agent channel; a freeze that fails or
         * gets no answer in time fails the job before the switch. */
        int (*snapshot_external)(DriverRuntime *rt, const DriverSnapshotOverlay *overlays, size_t n,
                                 DriverSnapshotFlags flags, const DriverJobCallbacks *cb, DriverJob **ret,
                                 char **ret_error);
        /* An external snapshot of running rt with its memory: save()'s header (header_xml; it restores
         * as the domain is now) and stream go to fd (the CPUs stopped first, with DRIVER_SNAPSHOT_LIVE
         * only for the stream's end), then snapshot_external()'s switch to the overlays (n may be 0),
         * then the guest runs on (or stays paused) as before. Progress: bytes of the stream. A failure
         * or a cancel (until the stream is complete) leaves the guest as it was and the disks on their
         * images; the files are the service's to remove. NULL: not supported. */
        int (*snapshot_memory)(DriverRuntime *rt, int fd, const char *header_xml,
                               const DriverSnapshotOverlay *overlays, size_t n, DriverSnapshotFlags flags,
                               const DriverJobCallbacks *cb, DriverJob **ret, char **ret_error);
        /* The image changes ops[] (see DriverImageOp) of a shut-off domain's
         * disks, one after the other without blocking the loop (external
         * snapshots of a shut-off domain, their revert and deletion).
         * Progress: ops done of n. A failure stops at that op (those before
         * stay done); cancel stops before the next op (a commit under way is
         * stopped: its top still holds all its data) and done gets
         * -ECANCELED. Returns 0 with *ret, or a negative errno with
         * *ret_error (malloc'd). NULL: the driver changes no images. */
        int (*image_offline)(DomainDriver *d, const DriverImageOp *ops, size_t n, const DriverJobCallbacks *cb,
                             DriverJob **ret, char **ret_error);
        /* destroy() for a revert: the domain stops with reason and event
         * detail "from-snapshot" (STOPPED/from-snapshot). NULL: destroy(). */
        int (*snapshot_stop)(DriverRuntime *rt, DriverDoneFn done, void *userdata);

        /* ---- vCPUs, memory, resource limits (issue 14) ---- */

        /* Plugs or unplugs vCPUs of running rt until `count` (1 … the
         * definition's <vcpu>) are present; the live definition's <vcpu
         * current=> follows. done when the hypervisor has them (an unplug:
         * when the guest released each one; -ETIMEDOUT when it did not within
         * timeout_usec, the vCPUs it released are gone). Refused at once:
         * -EINVAL count out of range, -EBUSY starting, -ESRCH stopping. */
        int (*set_vcpus)(DriverRuntime *rt, unsigned count, uint64_t timeout_usec, DriverDoneFn done,
                         void *userdata);
        /* Asks the guest's balloon for `kib` of memory (≤ <memory>); done
         * when the hypervisor took the target. The live currentMemory is the
         * target at once and what the guest reached later
         * (live_def_changed). -EOPNOTSUPP: no balloon device. */
        int (*set_memory)(DriverRuntime *rt, uint64_t kib, DriverDoneFn done, void *userdata);
        /* Makes tune (cgroup limits, vCPU and emulator pinning, numatune's
         * nodes) the running domain's, at once (no waiting on anything), and
         * the live definition's. Returns 0, or a negative errno with
         * *ret_error (malloc'd; -EOPNOTSUPP a controller this host lacks or a
         * domain without a cgroup; -EINVAL a value the kernel refuses, a CPU
         * the host does not have); what was applied before the failure stays. */
        int (*set_tune)(DriverRuntime *rt, const DomainTuneDef *tune, char **ret_error);
        /* Which host CPUs vCPU `vcpu` (or, vcpu -1, the emulator's threads)
         * of rt may run on now: a cpuset (malloc'd). -ENOENT: no such vCPU. */
        int (*get_affinity)(DriverRuntime *rt, int vcpu, char **ret_cpuset);

        /* ---- hot-plug (issue 14) ---- */

        /* Adds the one device of dev (a definition holding only it, in the
         * array `kind` names; normalized with the live definition: MAC, PCI
         * address, target set and unique) to running rt. Disks: files has the
         * image as the service opened it (DOMAIN_PATH_DISK index 0, with its
         * backing chain; the driver dup()s what it keeps), blockdev-add +
         * device_add. Interfaces type network/bridge: source_bridge resolved;
         * the driver asks events.create_tap for the tap. done once: r = 0 with
         * the device's alias (its hypervisor id) when the device is in the
         * guest and in the live definition; r < 0 with the hypervisor's words,
         * and nothing is left behind (no block node, no fd in the hypervisor,
         * no tap). Refused at once (done not called): -EBUSY while starting,
         * -ESRCH while stopping, -EOPNOTSUPP a device it cannot plug, -EINVAL,
         * with *ret_error (malloc'd). NULL: no hot-plug. */
        int (*attach_device)(DriverRuntime *rt, DomainDeviceKind kind, const DomainDef *dev, const DriverFiles *files,
                             DriverDeviceDoneFn done, void *userdata, char **ret_error);
        /* Asks the guest to release device `index` (of the live definition's
         * array `kind`). done once: r = 0 when the hypervisor reported it
         * gone; its backends (block nodes, fds, tap) are removed and the live
         * definition lost it by then; r < 0 when the hypervisor refused, or
         * -ESRCH when the domain stopped first. Takes what the guest takes,
         * forever when it never answers: timeouts are the caller's (the
         * request stays; done still comes when the guest lets go later).
         * Refused at once: -EBUSY a detach of that device is pending, and as
         * attach_device. */
        int (*detach_device)(DriverRuntime *rt, DomainDeviceKind kind, size_t index, DriverDeviceDoneFn done,
                             void *userdata, char **ret_error);
        /* Changes the medium of cdrom `index` of running rt to disk's source
         * (files: it opened, as for attach_device) or, with no source, ejects
         * it; force: also when the guest locked the tray. done once, as
         * attach_device (alias: the cdrom's); a failure leaves the old medium. */
        int (*change_media)(DriverRuntime *rt, size_t index, const DomainDiskDef *disk, const DriverFiles *files,
                            bool force, DriverDeviceDoneFn done, void *userdata, char **ret_error);
        /* Records <bandwidth> of interface index as the live definition's (the caller set it on
         * the tap: UpdateDevice of an interface). -ENOENT: no such interface. NULL: not supported. */
        int (*set_net_bandwidth)(DriverRuntime *rt, size_t index, const NetworkBandwidthRate *inbound,
                                 const NetworkBandwidthRate *outbound);

        /* ---- statistics ---- */

        /* Collects the groups (DriverStatsGroup bits) of running rt and calls
         * fn once with them: at once (before get_stats returns) when nothing
         * needs the hypervisor's answer, else when it answered, or after
         * timeout_usec with what is known and stats->incomplete set (at once
         * when an earlier question is still unanswered past its own wait: a
         * hypervisor that hangs delays each caller once). Never blocks; one
         * question to the hypervisor at a time per domain, shared by the
         * callers. Also called (incomplete) when rt stops meanwhile; not at
         * driver teardown. Refused at once: -EBUSY while starting, -ESRCH
         * being stopped. NULL: no statistics. */
        int (*get_stats)(DriverRuntime *rt, unsigned groups, uint64_t timeout_usec, DriverStatsFn fn, void *userdata);
        /* Asks the guest agent of running rt (over the channel the driver
         * knows it by) for the guest's interfaces and addresses;
         * fn is called once, later: r = 0 with the addresses (valid during
         * the call), or -ETIMEDOUT when the agent did not answer within
         * timeout_usec, -ESRCH when rt stopped, another -errno with a
         * message. Refused at once: -ENODEV no such channel, -EOPNOTSUPP a
         * channel the hypervisor connects out from, -EBUSY while starting, -ESRCH being
         * stopped. NULL: no agent. */
        int (*agent_interfaces)(DriverRuntime *rt, uint64_t timeout_usec, DriverIfAddrFn fn, void *userdata);

        /* ---- live migration (see DriverMigrateIncoming); NULL: not supported ---- */
        int (*migrate_prepare)(DomainDriver *d, void *owner, const DomainDef *def, int id, const DriverFiles *files,
                               const DriverMigrateIncoming *in, DriverRuntime **ret_rt, DriverDoneFn done,
                               void *userdata);
        /* the port the incoming domain listens on (0: not yet) and, copy_storage, its NBD server's */
        void (*migrate_ports)(DriverRuntime *rt, uint16_t *ret_port, uint16_t *ret_nbd_port);
        int (*migrate_finish)(DriverRuntime *rt, uint64_t timeout_usec, DriverDoneFn done, void *userdata);
        int (*migrate_begin)(DriverRuntime *rt, const DriverMigrateOptions *o, const DriverMigrateCallbacks *cb,
                             DriverJob **ret_job, char **ret_error);
        void (*migrate_confirm)(DriverJob *job, int r, const char *message);
        /* The running domain's migration limits, now and for the next (-1: unchanged; bandwidth 0: unlimited). */
        int (*migrate_set_limits)(DriverRuntime *rt, int64_t bandwidth, int64_t downtime_ms, DriverDoneFn done,
                                  void *userdata);
        int (*migrate_get_limits)(DriverRuntime *rt, DriverMigrateLimitsFn fn, void *userdata);
} DomainDriverOps;

/* Every driver object begins with this, so the service can reach ops. */
struct DomainDriver {
        const DomainDriverOps *ops;
};

/* ---- the registry ---- */

/* Every driver built into vmgmtd, in the order the service prefers them for
 * a type two of them run (driver-registry.c: the one place drivers are
 * registered); NULL-terminated. */
extern const DomainDriverOps *const domain_driver_registry[];

/* The registered driver that runs domains of `type` ("kvm"), or NULL. */
const DomainDriverOps *domain_driver_for_type(const char *type);

