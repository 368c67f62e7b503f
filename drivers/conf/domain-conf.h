/* domain-conf.h — libvirt-compatible domain XML: the data model, parse, validate, normalize, format.
 *
 * Pure code: knows libxml2 and glib, nothing about D-Bus or about running qemu.
 * Flow: domain_def_parse() (syntax + strict validation: unknown element or
 * attribute is an error naming its line, with a did-you-mean for near misses)
 * → domain_def_normalize() (UUID, MACs, machine alias, defaults, controllers,
 * PCI addresses) → domain_def_format() (canonical XML; parse+normalize+format
 * of that output yields the same text). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/bandwidth-conf.h"   /* NetworkBandwidthRate: <interface><bandwidth> */

/* ---- enums (each has _to_string/_from_string; from_string returns -EINVAL on unknown) ---- */

/* libvirt's domain types (formatdomain: <domain type=…>). The parser takes
 * them all; which ones run is the driver registry's (a type no driver runs
 * is NotSupported at define). */
typedef enum DomainVirtType {
        DOMAIN_VIRT_QEMU,       /* TCG */
        DOMAIN_VIRT_KVM,
        DOMAIN_VIRT_LXC,
        DOMAIN_VIRT_XEN,
        DOMAIN_VIRT_HVF,
        DOMAIN_VIRT_VMWARE,
        DOMAIN_VIRT_HYPERV,
        DOMAIN_VIRT_VBOX,
        DOMAIN_VIRT_BHYVE,
        DOMAIN_VIRT_OPENVZ,
        DOMAIN_VIRT_TEST,
        DOMAIN_VIRT_UML,
        DOMAIN_VIRT_PHYP,
        DOMAIN_VIRT_VZ,
        DOMAIN_VIRT_KQEMU,
        _DOMAIN_VIRT_MAX,
} DomainVirtType;

typedef enum DomainLifecycleAction {
        DOMAIN_ACTION_DESTROY,
        DOMAIN_ACTION_RESTART,
        DOMAIN_ACTION_PRESERVE,
        DOMAIN_ACTION_RENAME_RESTART, /* "rename-restart" */
        DOMAIN_ACTION_COREDUMP_DESTROY,
        DOMAIN_ACTION_COREDUMP_RESTART,
        _DOMAIN_ACTION_MAX,
} DomainLifecycleAction;

typedef enum DomainBootDev {
        DOMAIN_BOOT_HD,
        DOMAIN_BOOT_CDROM,
        DOMAIN_BOOT_NETWORK,
        DOMAIN_BOOT_FD,
        _DOMAIN_BOOT_MAX,
} DomainBootDev;

typedef enum DomainDiskType {
        DOMAIN_DISK_TYPE_FILE,
        DOMAIN_DISK_TYPE_BLOCK,
        DOMAIN_DISK_TYPE_VOLUME,   /* <source pool= volume=>; resolved by storage (later issue) */
        DOMAIN_DISK_TYPE_NETWORK,  /* <source protocol= name=><host/>…: qemu's own client (DomainDiskNet) */
        _DOMAIN_DISK_TYPE_MAX,
} DomainDiskType;

typedef enum DomainDiskDevice {
        DOMAIN_DISK_DEVICE_DISK,
        DOMAIN_DISK_DEVICE_CDROM,
        _DOMAIN_DISK_DEVICE_MAX,
} DomainDiskDevice;

typedef enum DomainDiskBus {
        DOMAIN_DISK_BUS_VIRTIO,
        DOMAIN_DISK_BUS_SATA,
        DOMAIN_DISK_BUS_IDE,
        DOMAIN_DISK_BUS_SCSI,
        _DOMAIN_DISK_BUS_MAX,
} DomainDiskBus;

typedef enum DomainNetType {
        DOMAIN_NET_TYPE_USER,
        DOMAIN_NET_TYPE_NETWORK,   /* later issue */
        DOMAIN_NET_TYPE_BRIDGE,    /* later issue */
        _DOMAIN_NET_TYPE_MAX,
} DomainNetType;

typedef enum DomainAddressType {
        DOMAIN_ADDRESS_NONE,
        DOMAIN_ADDRESS_PCI,
        DOMAIN_ADDRESS_DRIVE,      /* controller/bus/target/unit */
        DOMAIN_ADDRESS_USB,        /* bus/port */
        DOMAIN_ADDRESS_VIRTIO_SERIAL, /* controller/bus/port */
        _DOMAIN_ADDRESS_MAX,
} DomainAddressType;

/* ---- devices ---- */

typedef struct DomainAddress {
        DomainAddressType type;
        /* PCI */
        unsigned domain, bus, slot, function;
        bool multifunction;
        /* drive / virtio-serial / usb */
        unsigned controller, drive_bus, target, unit, port;
        char *usb_port;            /* USB port path "1" or "1.2" */
} DomainAddress;

/* One layer below a disk's image (libvirt's <backingStore>): live data only. */
typedef struct DomainDiskBacking {
        char *path;                /* as the layer above names it */
        char *format;              /* "qcow2", "raw", …; NULL: not known */
} DomainDiskBacking;

#define DOMAIN_DISK_BACKING_MAX 64

typedef enum DomainDiskProtocol {
        DOMAIN_DISK_PROTOCOL_NBD,
        DOMAIN_DISK_PROTOCOL_ISCSI,
        DOMAIN_DISK_PROTOCOL_NFS,
        DOMAIN_DISK_PROTOCOL_RBD,
        DOMAIN_DISK_PROTOCOL_GLUSTER,
        _DOMAIN_DISK_PROTOCOL_MAX,
} DomainDiskProtocol;

/* <host name= port= transport= socket=/> of a network disk's source */
typedef struct DomainDiskHost {
        char *name;                /* tcp: host name or address */
        unsigned port;             /* 0: the protocol's default */
        bool unix_socket;          /* transport='unix' (nbd, gluster): socket= */
        char *socket;              /* absolute path of the server's unix socket */
} DomainDiskHost;

/* <disk type='network'>'s <source>: a server qemu's own block driver talks to.
 * vmgmt opens nothing on the host for it but an nbd/gluster unix socket. */
typedef struct DomainDiskNet {
        DomainDiskProtocol protocol;
        char *name;                /* nbd: export (may be NULL); iscsi: IQN[/LUN]; nfs: /export/path;
                                    * rbd: pool/image; gluster: volume/path */
        int tls;                   /* nbd tls=: 0 not given, 1 yes, -1 no */
        DomainDiskHost *hosts;     size_t n_hosts;
        char *auth_username;       /* <auth username=>; NULL: no <auth> */
        char *secret_type;         /* <secret type=>: ceph (rbd), iscsi */
        char *secret_usage;        /* <secret usage=> … */
        char *secret_uuid;         /* … or uuid= (one of the two) */
        char *initiator_iqn;       /* iscsi <initiator><iqn name=/></initiator> */
        char *config_file;         /* rbd <config file=/> */
        char *snapshot;            /* rbd <snapshot name=/> */
        /* the secret's value, filled in by the service for a start or an attach
         * (never parsed, formatted nor copied; wiped when cleared) */
        uint8_t *secret_value;     size_t secret_len;
} DomainDiskNet;

typedef struct DomainDiskDef {
        DomainDiskType type;
        DomainDiskDevice device;
        char *source;              /* file or dev path; NULL for an empty cdrom */
        char *source_pool, *source_volume; /* type='volume' */
        DomainDiskNet net;         /* type='network' (source is NULL) */
        char *driver_name;         /* "qemu" */
        char *driver_type;         /* "raw", "qcow2", … */
        char *driver_cache;        /* none, writethrough, writeback, directsync, unsafe, default */
        char *driver_io;           /* native, threads, io_uring */
        char *driver_discard;      /* unmap, ignore */
        unsigned driver_iothread;  /* <driver iothread=>: an <iothreadids> id (virtio-blk), 0 = none */
        char *target_dev;          /* vda, sda, hda */
        DomainDiskBus bus;
        bool readonly;
        bool shareable;
        unsigned boot_order;       /* 0 = none */
        char *serial;
        char *alias;               /* user alias "ua-…" as given, else NULL */
        DomainAddress address;
        /* live XML only (never in the inactive one): the backing chain below source,
         * nearest first, as <backingStore> elements; backing_known: the chain is
         * known (a running disk's, or as parsed), formatted even when empty (the
         * terminating <backingStore/>) */
        DomainDiskBacking *backing;
        size_t n_backing;
        bool backing_known;
} DomainDiskDef;

typedef struct DomainNetDef {
        DomainNetType type;
        char *mac;                 /* "52:54:00:xx:xx:xx", lower case after normalize */
        char *model;               /* virtio, e1000, e1000e, rtl8139 */
        char *source_network;      /* type='network' */
        char *source_bridge;       /* type='bridge' */
        char *target_dev;          /* tap name (live XML only) */
        unsigned boot_order;
        char *alias;               /* user alias "ua-…" as given, else NULL (its qemu id when set) */
        DomainAddress address;
        NetworkBandwidthRate bw_inbound, bw_outbound;   /* <bandwidth> (host→guest, guest→host) */
} DomainNetDef;

typedef enum DomainChrKind {
        DOMAIN_CHR_SERIAL,
        DOMAIN_CHR_CONSOLE,
        DOMAIN_CHR_CHANNEL,
        _DOMAIN_CHR_KIND_MAX,
} DomainChrKind;

typedef struct DomainChrDef {
        DomainChrKind kind;
        char *type;                /* "pty", "unix" (channel), "spicevmc" is rejected */
        char *target_type;         /* serial: "isa-serial"; console: "serial"/"virtio"; channel: "virtio" */
        char *target_model;        /* serial <target><model name='isa-serial'/> */
        char *target_name;         /* channel: "org.qemu.guest_agent.0" */
        int target_port;           /* -1 unset */
        char *source_path;         /* pty path (live), unix socket path */
        char *source_mode;         /* "bind" for channels */
        DomainAddress address;
} DomainChrDef;

typedef struct DomainGraphicsDef {
        char *type;                /* "vnc" only for now */
        int port;                  /* -1 = autoport */
        bool autoport;
        char *listen;              /* address, or NULL; listen type='socket' → socket path */
        char *listen_type;         /* "address", "socket", "none" */
        char *passwd;              /* secret: formatted only with DOMAIN_FORMAT_SECURE */
} DomainGraphicsDef;

typedef struct DomainVideoDef {
        char *model;               /* vga, cirrus, virtio, qxl, bochs, none */
        unsigned vram;             /* KiB, 0 = default */
        unsigned heads;
        bool primary;
        DomainAddress address;
} DomainVideoDef;

typedef struct DomainInputDef {
        char *type;                /* tablet, mouse, keyboard */
        char *bus;                 /* usb, ps2, virtio */
        DomainAddress address;
} DomainInputDef;

typedef struct DomainControllerDef {
        char *type;                /* pci, usb, sata, ide, scsi, virtio-serial */
        int index;
        char *model;               /* pci-root, pcie-root, pcie-root-port, qemu-xhci, ich9-ehci1, piix3-uhci, virtio-scsi, … */
        int ports;                 /* -1 unset */
        int vectors;               /* -1 unset */
        /* pcie-root-port <target chassis= port=> */
        int target_chassis, target_port; /* -1 unset */
        char *model_name;          /* <model name='pcie-root-port'/> */
        unsigned master_startport; /* ich9-uhci companions */
        bool has_master;
        DomainAddress address;
} DomainControllerDef;

typedef struct DomainMemballoonDef {
        char *model;               /* virtio, none */
        unsigned stats_period;     /* seconds, 0 = unset */
        DomainAddress address;
} DomainMemballoonDef;

/* <lease>: a lock held while the domain runs (libvirt's lease devices; service/domain-lease.h) */
typedef struct DomainLeaseDef {
        char *lockspace;           /* <lockspace>, NULL when not given */
        char *key;                 /* <key> */
        char *target_path;         /* <target path=>: the file whose byte at offset is locked */
        uint64_t target_offset;    /* <target offset=> */
} DomainLeaseDef;

typedef struct DomainRngDef {
        char *model;               /* virtio */
        char *backend_model;       /* random, builtin */
        char *backend_path;        /* /dev/urandom */
        unsigned rate_bytes, rate_period;
        DomainAddress address;
} DomainRngDef;

typedef struct DomainSoundDef {
        char *model;               /* ich6, ich9, ac97, es1370, sb16 */
        unsigned audio_id;         /* <audio id=> child naming the backend; 0 = the first <audio> */
        DomainAddress address;     /* PCI; none for the ISA sb16 */
} DomainSoundDef;

typedef struct DomainAudioDef {
        unsigned id;               /* ≥ 1; normalize numbers the ones left out */
        char *type;                /* "none" */
} DomainAudioDef;

typedef struct DomainTimerDef {
        char *name;                /* rtc, pit, hpet, kvmclock, hypervclock, tsc */
        char *tickpolicy;          /* delay, catchup, merge, discard */
        int present;               /* -1 unset, 0 no, 1 yes */
} DomainTimerDef;

/* <tpm> (domain-conf-tpm.c): a TPM 2.0, emulated by swtpm or the host's own passed through */
typedef enum DomainTpmPcrBank {
        DOMAIN_TPM_PCR_SHA1 = 1 << 0,
        DOMAIN_TPM_PCR_SHA256 = 1 << 1,
        DOMAIN_TPM_PCR_SHA384 = 1 << 2,
        DOMAIN_TPM_PCR_SHA512 = 1 << 3,
} DomainTpmPcrBank;

typedef struct DomainTpmDef {
        char *model;               /* tpm-tis, tpm-crb; normalize: tpm-tis when not given */
        char *backend;             /* emulator, passthrough */
        char *version;             /* emulator: "2.0" (normalize fills it in) */
        bool persistent_state;     /* emulator: the state outlives Undefine and a transient domain's stop */
        unsigned pcr_banks;        /* emulator <active_pcr_banks>: DomainTpmPcrBank bits, 0 = not given */
        char *device_path;         /* passthrough <device path='/dev/tpmN'/> */
        char *cancel_path;         /* passthrough: its sysfs cancel file (derived, never formatted) */
        char *alias;               /* user alias "ua-…" as given, else NULL */
} DomainTpmDef;

/* <memory model='dimm'> (domain-conf-memory.c): a memory module, cold- or hot-plugged */
#define DOMAIN_MEMORY_ALIGN_KIB 2048   /* qemu's pc-dimm on x86: a RAM backend's size is a multiple of 2 MiB */

typedef struct DomainMemoryDef {
        char *model;               /* "dimm"; "nvdimm", "virtio-mem", "virtio-pmem" parse but do not run */
        uint64_t size_kib;         /* <target><size> */
        int node;                  /* <target><node>, -1 unset (qemu's node 0) */
        int slot;                  /* <address type='dimm' slot=>, -1 until normalize takes the lowest free one */
        uint64_t base;             /* <address base=>, 0 = unset (qemu places it) */
} DomainMemoryDef;

/* ---- resource tuning: <cputune>, <memtune>, <blkiotune>, <numatune> (domain-conf-tune.c) ---- */

#define DOMAIN_CPUSET_MAX 4096     /* host CPUs a cpuset can name */
#define DOMAIN_MEMTUNE_UNLIMITED 9007199254740991ULL   /* KiB: libvirt's "unlimited" (2^53 - 1) */

typedef struct DomainVcpuPinDef {
        unsigned vcpu;
        char *cpuset;              /* canonical "0-1,3" */
} DomainVcpuPinDef;

typedef struct DomainIOThreadPinDef {
        unsigned iothread;
        char *cpuset;              /* canonical */
} DomainIOThreadPinDef;

typedef struct DomainBlkioDeviceDef {
        char *path;                /* a block device node */
        unsigned weight;           /* 0 = unset */
        uint64_t read_bytes_sec, write_bytes_sec, read_iops_sec, write_iops_sec;   /* 0 = unset */
} DomainBlkioDeviceDef;

typedef struct DomainTuneDef {
        /* <cputune>: shares and global_period/quota in the domain's cgroup, period/quota in each
         * vCPU's (vcpuN/), emulator_period/quota in emulator/ (libvirt's semantics) */
        uint64_t shares;           /* 0 = unset (v2: weight = shares scaled as libvirt) */
        uint64_t period;           /* µs, 0 = unset */
        int64_t quota;             /* µs, 0 = unset, -1 = unlimited */
        uint64_t global_period, emulator_period;   /* as period */
        int64_t global_quota, emulator_quota;      /* as quota */
        DomainVcpuPinDef *vcpupins;  size_t n_vcpupins;
        char *emulatorpin;         /* cpuset, NULL = unset */
        /* <memtune>: KiB, 0 = unset, DOMAIN_MEMTUNE_UNLIMITED = unlimited */
        uint64_t hard_limit_kib, soft_limit_kib, swap_hard_limit_kib;
        /* <blkiotune> */
        unsigned blkio_weight;     /* 0 = unset, else 100…1000 */
        DomainBlkioDeviceDef *blkio_devices;  size_t n_blkio_devices;
        /* <numatune><memory mode= nodeset=/> */
        char *numa_mode;           /* strict, preferred, interleave, restrictive; NULL = unset */
        char *numa_nodeset;        /* canonical, NULL = unset */
        /* <iothreads>N</iothreads>, <iothreadids><iothread id=/>: the ids (1…N when not listed), each a
         * qemu iothread "iothreadID" with its thread group iothreadID/; <cputune><iothreadpin> */
        unsigned *iothread_ids;  size_t n_iothreads;
        bool iothreadids_listed;
        DomainIOThreadPinDef *iothreadpins;  size_t n_iothreadpins;
        /* <perf><event name= enabled=/>: bit i is domain_perf_event_names[i] */
        uint32_t perf_enabled, perf_disabled;
} DomainTuneDef;

/* libvirt's perf event names in its order (cmt, mbmt, mbml, cpu_cycles, …, emulation_faults), NULL-terminated. */
extern const char *const domain_perf_event_names[];

/* Parses a libvirt cpuset ("0-3,^2,8") into mask (DOMAIN_CPUSET_MAX bits,
 * bit i of byte i/8). Returns 0, or -EINVAL (syntax, a number ≥ the max,
 * an empty set). */
int domain_cpuset_parse(const char *s, uint8_t mask[DOMAIN_CPUSET_MAX / 8]);
/* The canonical text of mask ("0-1,3"; "" when empty), malloc'd; NULL on OOM. */
char *domain_cpuset_format(const uint8_t mask[DOMAIN_CPUSET_MAX / 8]);
/* The vcpupin of vcpu in t, or NULL. */
const DomainVcpuPinDef *domain_tune_vcpupin(const DomainTuneDef *t, unsigned vcpu);
/* Sets (cpuset non-NULL, canonicalized) or removes vcpu's pin. 0, -EINVAL, -ENOMEM. */
int domain_tune_set_vcpupin(DomainTuneDef *t, unsigned vcpu, const char *cpuset);
/* The iothreadpin of iothread id in t, or NULL; whether t has iothread id. */
const DomainIOThreadPinDef *domain_tune_iothreadpin(const DomainTuneDef *t, unsigned id);
bool domain_tune_has_iothread(const DomainTuneDef *t, unsigned id);
/* Sets (cpuset non-NULL, canonicalized) or removes iothread id's pin. 0, -EINVAL, -ENOMEM. */
int domain_tune_set_iothreadpin(DomainTuneDef *t, unsigned id, const char *cpuset);
/* Frees what t holds and zeroes it. */
void domain_tune_clear(DomainTuneDef *t);
/* *dst = a deep copy of src: 0, or -ENOMEM with dst holding only its own pointers (clear it). */
int domain_tune_copy(DomainTuneDef *dst, const DomainTuneDef *src);
/* The <blkiotune><device> of path in t, made (zeroed) when missing; NULL on OOM. */
DomainBlkioDeviceDef *domain_tune_blkio_device(DomainTuneDef *t, const char *path);

/* ---- the domain ---- */

/* An optional yes/no (on/off) setting; zero is "not given". */
typedef enum DomainTristate {
        DOMAIN_TRISTATE_ABSENT = 0,
        DOMAIN_TRISTATE_YES,
        DOMAIN_TRISTATE_NO,
} DomainTristate;

typedef struct DomainDef {
        DomainVirtType virt_type;
        int id;                    /* live XML only; -1 when inactive */
        char *name;
        unsigned char uuid[16];
        bool has_uuid;             /* false until normalize generates one */
        char *title;
        char *description;
        char *metadata_xml;        /* <metadata> children, serialized verbatim (foreign namespaces kept);
                                    * each child on its own line(s), indented by 4 spaces, '\n'-terminated */

        uint64_t memory_kib;       /* <memory> */
        uint64_t current_memory_kib; /* <currentMemory>; normalize: = memory when unset */
        uint64_t max_memory_kib;   /* <maxMemory>, 0 = unset */
        unsigned max_memory_slots;
        unsigned vcpus;            /* <vcpu> */
        unsigned current_vcpus;    /* <vcpu current=>, 0 = same as vcpus */
        char *vcpu_placement;      /* "static" */

        /* <os> */
        char *os_type;             /* "hvm" */
        char *os_arch;             /* "x86_64" */
        char *os_machine;          /* after normalize: versioned type (pc-i440fx-7.2) */
        DomainBootDev boot_devs[_DOMAIN_BOOT_MAX];
        size_t n_boot_devs;
        int bootmenu;              /* -1 unset, 0 no, 1 yes */
        unsigned bootmenu_timeout; /* ms, 0 = unset */
        char *kernel, *initrd, *cmdline;
        char *os_firmware;         /* <os firmware=>: "efi", "bios"; NULL: the loader as given (or none) */
        DomainTristate fw_secure_boot, fw_enrolled_keys;   /* <firmware><feature name= enabled=> */
        char *loader;              /* <loader> path (firmware); NULL: none, or autoselected at start */
        char *loader_readonly, *loader_type;
        char *loader_secure;       /* <loader secure=>: "yes", "no" */
        char *nvram;               /* <nvram>: the per-domain UEFI variable store; NULL: none given */
        char *nvram_template;      /* <nvram template=>: what a new store is copied from */
        bool nvram_managed;        /* not XML: a start's store in the driver's own directory, opened by vmgmtd
                                    * itself, not among domain_def_host_paths() */

        /* <features> */
        bool acpi, apic, pae;
        bool vmport_set, vmport; /* <vmport state=> */
        DomainTristate smm;      /* <smm state=> (on: YES) */

        /* <cpu> */
        char *cpu_mode;            /* custom, host-model, host-passthrough, maximum; NULL = none */
        char *cpu_match;
        char *cpu_check;
        char *cpu_model;           /* <model>, custom mode */
        char *cpu_model_fallback;
        bool cpu_migratable_set, cpu_migratable;
        unsigned cpu_sockets, cpu_dies, cpu_cores, cpu_threads; /* <topology>, 0 = unset */

        /* <clock> */
        char *clock_offset;        /* utc (default), localtime */
        DomainTimerDef *timers;
        size_t n_timers;

        /* <pm> */
        int pm_suspend_to_mem;     /* -1 unset, 0 no, 1 yes */
        int pm_suspend_to_disk;

        DomainLifecycleAction on_poweroff, on_reboot, on_crash;

        /* <devices> */
        char *emulator;            /* normalize: resolved absolute path of qemu-system-ARCH */
        DomainDiskDef *disks;              size_t n_disks;
        DomainNetDef *nets;                size_t n_nets;
        DomainChrDef *serials;             size_t n_serials;
        DomainChrDef *consoles;            size_t n_consoles;
        DomainChrDef *channels;            size_t n_channels;
        DomainGraphicsDef *graphics;       size_t n_graphics;
        DomainVideoDef *videos;            size_t n_videos;
        DomainInputDef *inputs;            size_t n_inputs;
        DomainControllerDef *controllers;  size_t n_controllers;
        DomainRngDef *rngs;                size_t n_rngs;
        DomainLeaseDef *leases;            size_t n_leases;
        DomainSoundDef *sounds;            size_t n_sounds;
        DomainAudioDef *audios;            size_t n_audios;   /* normalize: audio id 1 type none when sounds have none */
        DomainMemoryDef *memories;         size_t n_memories;   /* <memory model=…>; their sizes are part of memory_kib */
        DomainMemballoonDef *memballoon;   /* NULL until normalize adds the default virtio one */
        DomainTpmDef *tpm;                 /* <tpm>: at most one; NULL when none */

        DomainTuneDef tune;
} DomainDef;

/* ---- errors ---- */

/* Validation error detail: filled on parse/normalize failure. */
typedef struct ConfError {
        int line;                  /* 0 when no line applies */
        char *message;             /* full human message, e.g.
                                    * "line 12: unknown element <membaloon> in <devices>; did you mean <memballoon>?" */
} ConfError;

void conf_error_clear(ConfError *e);

/* ---- API ---- */

#define DOMAIN_XML_MAX_SIZE (4u * 1024u * 1024u) /* larger input is refused before parsing */

/* ---- a disk's live backing chain (<backingStore>) ---- */

/* Forgets disk d's chain (not known any more). */
void domain_disk_backing_clear(DomainDiskDef *d);
/* Sets d's chain below its source to the n layers paths/formats (nearest first;
 * formats may be NULL, or hold NULLs); known from now on. 0 or -ENOMEM. */
int domain_disk_backing_set(DomainDiskDef *d, const char *const *paths, const char *const *formats, size_t n);
/* A new image path (format) on top of d: the source so far becomes its first
 * backing layer (an external snapshot's overlay). 0 or -ENOMEM. */
int domain_disk_backing_push(DomainDiskDef *d, const char *path, const char *format);
/* Layers at depths from…to-1 leave d's chain (depth 0 is the source, n its n-th
 * backing layer); the one at depth `to` takes depth `from` (from 0: it becomes
 * the source; `to` one past the chain's end with from > 0: nothing below stays,
 * a pull without a base). A commit drops top…base-1, a pull 1…base-1. Nothing
 * happens when the chain is not known or shorter. 0 or -ENOMEM. */
int domain_disk_backing_drop(DomainDiskDef *d, size_t from, size_t to);

DomainDef *domain_def_new(void);
DomainDef *domain_def_free(DomainDef *def);   /* NULL-safe, returns NULL */
/* A deep copy, field by field (no XML round trip); NULL on OOM. */
DomainDef *domain_def_copy(const DomainDef *def);
/* The guest agent's channel (<channel> with target name libvirt's org.qemu.guest_agent.0), or NULL. */
#define DOMAIN_GUEST_AGENT_CHANNEL "org.qemu.guest_agent.0"
const DomainChrDef *domain_def_agent_channel(const DomainDef *def);

/* Parses and validates domain XML. Returns 0 and *ret, or -EINVAL with err
 * filled (syntax error, unknown element/attribute, bad value, missing name,
 * invalid name: empty, '/', control characters, > 255 bytes; memory/units
 * conversion as libvirt: SI (KB/MB/GB/TB = 10^3n bytes) and binary (k/KiB,
 * M/MiB, G/GiB, T/TiB), b/bytes; result rounded up to whole KiB), or
 * -EFBIG when len > DOMAIN_XML_MAX_SIZE, -ENOMEM. */
int domain_def_parse(const char *xml, size_t len, DomainDef **ret, ConfError *err);

/* What normalization needs to know about the hypervisor; filled by the driver. */
typedef struct DomainNormalizeCtx {
        /* Returns the absolute path of the emulator for arch (e.g. /usr/bin/qemu-system-x86_64), or NULL. */
        const char *(*emulator_for_arch)(void *userdata, const char *arch);
        /* Resolves a machine alias ("pc", "q35") to the versioned type reported by
         * that emulator ("pc-i440fx-7.2"); returns machine itself when it is already
         * canonical, NULL when the emulator does not know it. NULL machine = default. */
        const char *(*resolve_machine)(void *userdata, const char *emulator, const char *machine);
        void *userdata;
} DomainNormalizeCtx;

/* Fills in everything libvirt fills in: UUID, MACs (52:54:00:xx:xx:xx), arch
 * (host arch), machine (resolved), emulator, clock utc, on_* defaults
 * (destroy/restart/destroy), currentMemory, memballoon, implicit controllers
 * (pci-root or pcie-root, usb, ide/sata as the machine has), console linked to
 * the first serial (and a serial for a lone console), video for graphics,
 * input for graphics, PCI addresses for every PCI device. Idempotent.
 * Returns 0, or -EINVAL with err (unknown machine, unsupported arch, bad
 * combination such as duplicate target dev or duplicate PCI address). */
int domain_def_normalize(DomainDef *def, const DomainNormalizeCtx *ctx, ConfError *err);

typedef enum DomainFormatFlags {
        DOMAIN_FORMAT_INACTIVE = 1 << 0, /* omit live-only data (id, pty paths, tap names) */
        DOMAIN_FORMAT_SECURE   = 1 << 1, /* include secrets (VNC passwd) */
} DomainFormatFlags;

/* Canonical XML (libvirt's element order, 2-space indent, trailing newline).
 * Returns a malloc'd string or NULL on OOM. */
char *domain_def_format(const DomainDef *def, DomainFormatFlags flags);

/* Name rules shared with networks/pools: non-empty, ≤ 255 bytes, valid UTF-8,
 * no '/', no control characters, not "." or "..". Returns 0 or -EINVAL with
 * a static message in *reason. */
int conf_name_validate(const char *name, const char **reason);

/* UUID helpers: 36-char lower-case text form. */
void conf_uuid_format(const unsigned char uuid[16], char out[37]);
int conf_uuid_parse(const char *s, unsigned char uuid[16]);   /* accepts with or without dashes */
void conf_uuid_generate(unsigned char uuid[16]);               /* random v4 */

/* Memory: value + libvirt unit → KiB (rounded up). Returns 0 or -EINVAL/-ERANGE. */
int conf_parse_memory_kib(const char *value, const char *unit, uint64_t *ret_kib);

/* Random locally administered MAC with the 52:54:00 prefix. out ≥ 18 bytes. */
void conf_mac_generate(char out[18]);

const char *domain_virt_type_to_string(DomainVirtType t);
const char *domain_lifecycle_action_to_string(DomainLifecycleAction a);
int domain_lifecycle_action_from_string(const char *s);
const char *domain_disk_bus_to_string(DomainDiskBus b);
const char *domain_disk_protocol_to_string(DomainDiskProtocol p);   /* "nbd", "iscsi", … */
/* A network disk's host's port: as given, else the protocol's default (nfs: 0, the portmapper's). */
unsigned domain_disk_host_port(const DomainDiskNet *n, const DomainDiskHost *h);
/* The secret usage type a protocol's <auth> names: "ceph" (rbd), "iscsi"; NULL: no <auth> for it. */
const char *domain_disk_protocol_secret_type(DomainDiskProtocol p);
const char *domain_boot_dev_to_string(DomainBootDev b);

/* ---- one device (domain-conf-device.c): AttachDevice, DetachDevice, UpdateDevice ---- */

typedef enum DomainDeviceKind {
        DOMAIN_DEVICE_DISK,
        DOMAIN_DEVICE_NET,
        DOMAIN_DEVICE_CONTROLLER,
        DOMAIN_DEVICE_MEMORY,      /* <memory model=…> */
        DOMAIN_DEVICE_LEASE,       /* <lease> */
        _DOMAIN_DEVICE_KIND_MAX,
} DomainDeviceKind;

/* Parses the XML of one device (<disk>, <interface>, <controller>, <memory>, <lease>) as a
 * <devices> child of domain XML would be: returns 0 with *ret, a DomainDef
 * without name whose one device array holds it, and *ret_kind; -EINVAL with
 * err (malformed, several elements, not one of those three, unknown
 * attribute …), -EFBIG. */
int domain_device_parse(const char *xml, size_t len, DomainDef **ret, DomainDeviceKind *ret_kind, ConfError *err);
const char *domain_device_kind_to_string(DomainDeviceKind k);   /* "disk", "interface", "controller", "memory", "lease" */

/* ---- memory devices (domain-conf-memory.c) ---- */

/* <memory> less the memory devices: what qemu's -m size= gets. */
uint64_t domain_def_initial_memory_kib(const DomainDef *def);
/* A copy of m joins def's memory devices and <memory> (and <currentMemory> when
 * it was all of <memory>, as libvirt) grows by its size. 0 or -ENOMEM. */
int domain_def_memory_add(DomainDef *def, const DomainMemoryDef *m);
/* Memory device index leaves def (freed), <memory> shrinks by its size (and
 * <currentMemory> with it where it would be larger). */
void domain_def_memory_remove(DomainDef *def, size_t index);
/* Frees what m holds (unset node and slot after); *dst = a deep copy of src (0 or -ENOMEM). */
void domain_memory_clear(DomainMemoryDef *m);
int domain_memory_copy(DomainMemoryDef *dst, const DomainMemoryDef *src);
/* The memory device of def in slot, or -1. */
int domain_def_memory_find_slot(const DomainDef *def, int slot);

/* ---- host paths a definition names (domain-conf-paths.c) ---- */

typedef enum DomainPathPurpose {
        DOMAIN_PATH_DISK,          /* index: def->disks (disks and cdroms with a source; an nbd disk's unix socket) */
        DOMAIN_PATH_KERNEL,
        DOMAIN_PATH_INITRD,
        DOMAIN_PATH_LOADER,        /* <loader>: -bios ROM or pflash */
        DOMAIN_PATH_NVRAM,         /* <nvram> outside the driver's own directory (opened as the caller) */
        DOMAIN_PATH_RNG,           /* index: def->rngs, <backend model='random'> */
        DOMAIN_PATH_CHARDEV,       /* chr_kind + index: a unix socket of a serial, console or channel */
        DOMAIN_PATH_GRAPHICS,      /* index: def->graphics, <listen type='socket' socket=…> */
        DOMAIN_PATH_TPM,           /* a passthrough <tpm>: index 0 its device, 1 its sysfs cancel file */
        _DOMAIN_PATH_PURPOSE_MAX,
} DomainPathPurpose;

typedef enum DomainPathMode {
        DOMAIN_PATH_READ,
        DOMAIN_PATH_READ_WRITE,
        DOMAIN_PATH_LISTEN,        /* a unix socket the domain serves (mode='bind') */
        DOMAIN_PATH_CONNECT,       /* a unix socket the domain connects to */
        DOMAIN_PATH_WRITE,         /* written only, never read: a sysfs control file (a TPM's cancel) */
        _DOMAIN_PATH_MODE_MAX,
} DomainPathMode;

typedef struct DomainPath {
        const char *path;          /* borrowed from the definition */
        DomainPathPurpose purpose;
        DomainPathMode mode;
        DomainChrKind chr_kind;    /* DOMAIN_PATH_CHARDEV only */
        size_t index;
        bool image;                /* a disk image: format and backing chain matter */
        const char *format;        /* images: <driver type=> ("iso" is raw), NULL when not given */
        bool block;                /* <disk type='block'> */
} DomainPath;

/* Every host path def names, in the order above (disks first, in their
 * order), with what it is for and how the domain uses it. def has its
 * volumes resolved (<disk type='volume'> has no path: skipped). Sockets
 * without a path (a channel's socket in the run dir) name no host path. The
 * paths are borrowed from def. Returns 0 with *ret (g_free) and *ret_n. */
int domain_def_host_paths(const DomainDef *def, DomainPath **ret, size_t *ret_n);
const char *domain_path_purpose_to_string(DomainPathPurpose p);

/* ---- <tpm> (domain-conf-tpm.c) ---- */

/* "sha256,sha384" for banks (DomainTpmPcrBank bits), malloc'd ("" for 0); NULL on OOM. */
char *domain_tpm_pcr_banks_to_string(unsigned banks);   /* "disk", "kernel", … */
