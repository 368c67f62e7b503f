/* vmgmtctl.c — the vmgmtctl command line: busctl's connection flags, virsh's verbs. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "vmgmtctl.h"
#include "vmgmtctl-osinfo.h"
#include "vmgmtctl-stats.h"

typedef struct Verb {
        const char *name;
        unsigned min_args;
        unsigned max_args;
        const char *const options[VERB_OPTIONS_MAX + 1];  /* "flag" or "option=", NULL-terminated */
        int (*run)(Context *c, VerbArgs *a);
        const char *synopsis;
        const char *summary;
        const char *short_options;   /* the verb's own one-letter options: "o=original n=name"; NULL: none */
} Verb;

int verb_clone(Context *c, VerbArgs *a);   /* vmgmtctl-clone.c */

static const Verb verbs[] = {
        { "help", 0, 1, {}, NULL, "help [COMMAND]", "Show this help, or a command's usage and options" },
        { "list", 0, 0,
          { "all", "inactive", "name", "uuid", "title", "persistent", "transient", "autostart", "no-autostart",
            "state-running", "state-paused", "state-shutoff", "state-other" },
          verb_list,
          "list [--all|--inactive] [--name] [--uuid] [--title] [FILTER...]",
          "List domains (running ones unless --all/--inactive/--state-*)" },
        { "define", 1, 1, { "validate" }, verb_define, "define FILE [--validate]",
          "Define (or update) a persistent domain from an XML file (always validated strictly: --validate changes nothing)" },
        { "undefine", 1, 1, { "managed-save", "snapshots-metadata", "keep-tpm", "nvram", "keep-nvram", "remove-all-storage",
                              "storage=" },
          verb_undefine,
          "undefine DOMAIN [--managed-save] [--snapshots-metadata] [--keep-tpm] [--nvram|--keep-nvram] "
          "[--remove-all-storage|--storage TARGET,…]",
          "Remove a domain's persistent definition (and the pool volumes of its disks)" },
        { "create", 1, 1, { "paused" }, verb_create, "create FILE [--paused]", "Create and start a transient domain from an XML file" },
        { "install", 0, 0,
          { "name=", "memory=", "vcpus=", "cpu=", "machine=", "virt-type=", "os-variant=", "osinfo=", "disk=*", "cdrom=",
            "location=", "extra-args=", "initrd-inject=*", "import", "boot=", "network=*", "graphics=", "console=",
            "video=", "rng=", "tpm=", "features=", "cloud-init=", "noautoconsole", "wait=", "print-xml", "dry-run" },
          verb_install,
          "install --name NAME [--memory MiB] [--vcpus N] [--cpu MODEL] [--osinfo OS|list|detect=on[,require=off]|generic] "
          "(--cdrom ISO | --location ISO|DIR [--extra-args ARGS] [--initrd-inject FILE]... | --import | "
          "--boot kernel=K[,initrd=I,cmdline=C]) [--disk size=GiB[,pool=P,format=F,bus=B] | path=P | vol=POOL/VOL"
          "[,device=cdrom]]... [--boot uefi|hd,cdrom,…] [--network network=N|bridge=B|type=user[,model=M,mac=MAC] | none]... "
          "[--graphics vnc[,listen=A,port=P] | none] [--console pty[,target_type=virtio]] [--video MODEL] [--rng /dev/urandom] "
          "[--tpm emulator] [--features acpi=on,…] [--cloud-init user-data=F,meta-data=F,root-ssh-key=F] [--virt-type qemu|kvm] "
          "[--machine TYPE] [--noautoconsole] [--wait MINUTES] [--print-xml | --dry-run]",
          "Create a domain from options, as virt-install: its disks in storage pools, defined, started, its console attached" },
        { "start", 1, 1, { "paused", "console", "bypass-cache", "reset-nvram" }, verb_start,
          "start DOMAIN [--paused] [--console] [--bypass-cache] [--reset-nvram]",
          "Start a defined domain (and attach to its console)" },
        { "shutdown", 1, 1, { "mode=" }, verb_lifecycle, "shutdown DOMAIN [--mode acpi]", "Ask the guest to power off (ACPI)" },
        { "destroy", 1, 1, { "graceful" }, verb_lifecycle, "destroy DOMAIN [--graceful]", "Stop a domain now" },
        { "reboot", 1, 1, { "mode=" }, verb_lifecycle, "reboot DOMAIN [--mode acpi]", "Reboot a domain (ACPI)" },
        { "reset", 1, 1, {}, verb_lifecycle, "reset DOMAIN", "Reset a domain as with the reset button" },
        { "suspend", 1, 1, {}, verb_lifecycle, "suspend DOMAIN", "Pause a running domain" },
        { "resume", 1, 1, {}, verb_lifecycle, "resume DOMAIN", "Resume a paused domain" },
        { "dumpxml", 1, 1, { "inactive", "security-info", "xpath=", "wrap" }, verb_dumpxml,
          "dumpxml DOMAIN [--inactive] [--security-info] [--xpath EXPR [--wrap]]",
          "Print a domain's XML definition (or what an XPath expression selects of it)" },
        { "dominfo", 1, 1, {}, verb_dominfo, "dominfo DOMAIN", "Show information about a domain" },
        { "domstate", 1, 1, { "reason" }, verb_domstate, "domstate DOMAIN [--reason]", "Show a domain's state" },
        { "domid", 1, 1, {}, verb_domid, "domid DOMAIN", "Show a domain's Id" },
        { "domuuid", 1, 1, {}, verb_domuuid, "domuuid DOMAIN", "Show a domain's UUID" },
        { "domname", 1, 1, {}, verb_domname, "domname ID|UUID", "Show a domain's name" },
        { "autostart", 1, 1, { "disable" }, verb_autostart, "autostart DOMAIN [--disable]",
          "Start a domain when vmgmtd starts (or not)" },
        { "edit", 1, 1, {}, verb_edit, "edit DOMAIN", "Edit a domain's definition with $VISUAL/$EDITOR" },
        { "event", 0, 1, { "loop", "timestamp", "all", "timeout=", "event=", "domain=" }, verb_event,
          "event [DOMAIN|--domain DOMAIN] [--loop] [--timestamp] [--all] [--timeout SECONDS]",
          "Print domain events as they arrive" },
        { "console", 1, 1, { "devname=", "force" }, verb_console, "console DOMAIN [--devname DEV] [--force]",
          "Connect to a domain's serial console (leave with Ctrl+])" },
        /* the host (vmgmtctl-node.c) */
        { "nodeinfo", 0, 0, {}, verb_nodeinfo, "nodeinfo", "Show the host's CPUs, topology and memory" },
        { "domstats", 0, 1024,
          { "state", "cpu-total", "balloon", "vcpu", "interface", "block", "perf", "list-active", "list-inactive",
            "list-persistent", "list-transient", "list-running", "list-paused", "list-shutoff", "list-other",
            "enforce" },
          verb_domstats, "domstats [DOMAIN...] [--state] [--cpu-total] [--balloon] [--vcpu] [--interface] [--block] "
          "[--perf] [--list-active|--list-inactive|…] [--enforce]",
          "Show domains' statistics (all groups unless some are named)" },
        { "dommemstat", 1, 1, {}, verb_dommemstat, "dommemstat DOMAIN", "Show a running domain's memory statistics" },
        { "domblkstat", 1, 2, { "human" }, verb_domblkstat, "domblkstat DOMAIN [DEVICE] [--human]",
          "Show a running domain's disk counters (of one disk, or all summed)" },
        { "domifstat", 2, 2, {}, verb_domifstat, "domifstat DOMAIN INTERFACE",
          "Show the counters of a running domain's interface (its tap)" },
        { "domifaddr", 1, 1, { "source=", "interface=", "full" }, verb_domifaddr,
          "domifaddr DOMAIN [--source lease|arp|agent] [--interface NAME] [--full]",
          "Show the IP addresses of a running domain's interfaces" },
        { "vcpuinfo", 1, 1, {}, verb_vcpuinfo, "vcpuinfo DOMAIN",
          "Show a running domain's vCPUs: host CPU, state, CPU time, affinity" },
        { "top", 0, 0, { "once", "batch", "delay=", "iterations=" }, verb_top,
          "top [--once] [--batch] [--delay SECS] [--iterations N]",
          "Show the running domains' CPU, memory, disk and network rates, refreshed (q quits)" },
        { "nodecpustats", 0, 0, { "cpu=", "percent" }, verb_nodecpustats, "nodecpustats [--cpu N] [--percent]",
          "Show the host's CPU times (or their shares over one second), of one CPU or all" },
        { "nodememstats", 0, 0, {}, verb_nodememstats, "nodememstats", "Show the host's memory counters" },
        { "capabilities", 0, 0, {}, verb_capabilities, "capabilities", "Print the host's capabilities XML" },
        { "domcapabilities", 0, 0, { "virttype=", "emulatorbin=", "arch=", "machine=", "xpath=", "wrap" },
          verb_domcapabilities,
          "domcapabilities [--virttype TYPE] [--emulatorbin PATH] [--arch ARCH] [--machine MACHINE] [--xpath EXPR [--wrap]]",
          "Print what a domain can use with an emulator (domainCapabilities XML)" },
        /* the OS database, libosinfo's (vmgmtctl-osinfo.c) */
        { "osinfo-list", 0, 0, { "family=", "distro=", "vendor=", "name=", "no-eol" }, verb_osinfo_list,
          "osinfo-list [--family F] [--distro D] [--vendor V] [--name TEXT] [--no-eol]",
          "List the OSes of the OS database (osinfo-db), newest first" },
        { "osinfo", 1, 1, {}, verb_osinfo, "osinfo OS",
          "Show what the OS database knows of an OS: resources, devices, firmware, install media" },
        { "osinfo-detect", 1, 1, {}, verb_osinfo_detect, "osinfo-detect FILE",
          "Identify the OS of an install medium (an ISO file) from the OS database" },
        /* save, restore, dump and the domain's job (vmgmtctl-save.c) */
        { "save", 2, 2, { "bypass-cache", "running", "paused", "verbose" }, verb_save,
          "save DOMAIN FILE [--bypass-cache] [--running|--paused] [--verbose]",
          "Save a running domain's state to a file and stop it (a job with a progress bar)" },
        { "restore", 1, 1, { "bypass-cache", "running", "paused", "xml=", "verbose" }, verb_restore,
          "restore FILE [--paused|--running] [--xml FILE] [--bypass-cache]", "Restore a domain from a saved state file" },
        { "managedsave", 1, 1, { "bypass-cache", "running", "paused", "verbose" }, verb_managedsave,
          "managedsave DOMAIN [--bypass-cache] [--running|--paused] [--verbose]",
          "Save a domain's state for vmgmtd; the next start resumes from it" },
        { "managedsave-remove", 1, 1, {}, verb_managedsave_remove, "managedsave-remove DOMAIN",
          "Remove a domain's managed save image" },
        /* virt-clone (vmgmtctl-clone.c) */
        { "clone", 0, 0,
          { "original=", "name=", "auto-clone", "file=*", "linked", "mac=", "preserve-data", "start", "pool=",
            "live", "bandwidth=", "verbose" },
          verb_clone,
          "clone --original DOMAIN [--name NEW] [--auto-clone] [--file FILE]... [--linked] [--mac MAC] [--preserve-data] "
          "[--pool POOL] [--start] [--live] [--bandwidth MIB] [--verbose]",
          "Clone a shut-off or paused domain (--live: a running one, all disks of one instant): new UUID and MACs, "
          "copies of its writable disks (a job with a progress bar)",
          "o=original n=name f=file" },
        { "dump", 2, 2, { "memory-only", "format=", "live", "crash", "reset", "bypass-cache", "verbose" }, verb_dump,
          "dump DOMAIN FILE [--memory-only] [--format elf|kdump-zlib|kdump-lzo|kdump-snappy] [--live] [--crash] [--reset]",
          "Write a core dump of a domain's guest to a file" },
        /* hot-plug (vmgmtctl-device.c) */
        { "attach-device", 2, 2, { "live", "config", "current", "persistent" }, verb_attach_device,
          "attach-device DOMAIN FILE [--live] [--config] [--current] [--persistent]", "Attach a device from an XML file" },
        { "detach-device", 2, 2, { "live", "config", "current", "persistent" }, verb_detach_device,
          "detach-device DOMAIN FILE [--live] [--config] [--current] [--persistent]",
          "Detach the device an XML file describes (waits for the guest to release it)" },
        { "update-device", 2, 2, { "live", "config", "current", "persistent", "force" }, verb_update_device,
          "update-device DOMAIN FILE [--live] [--config] [--current] [--persistent] [--force]",
          "Change a device in place from an XML file (a cdrom's medium)" },
        { "attach-disk", 3, 3,
          { "driver=", "subdriver=", "type=", "mode=", "cache=", "targetbus=", "sourcetype=", "live", "config", "current",
            "persistent", "print-xml" },
          verb_attach_disk,
          "attach-disk DOMAIN SOURCE TARGET [--driver qemu] [--subdriver FORMAT] [--type disk|cdrom] [--mode readonly|shareable] "
          "[--cache MODE] [--targetbus BUS] [--sourcetype file|block] [--live] [--config] [--current] [--persistent] [--print-xml]",
          "Attach a disk" },
        { "detach-disk", 2, 2, { "live", "config", "current", "persistent" }, verb_detach_disk,
          "detach-disk DOMAIN TARGET [--live] [--config] [--current] [--persistent]", "Detach a disk" },
        { "attach-interface", 3, 3, { "mac=", "model=", "target=", "live", "config", "current", "persistent", "print-xml" },
          verb_attach_interface,
          "attach-interface DOMAIN TYPE SOURCE [--mac MAC] [--model MODEL] [--target DEV] [--live] [--config] [--current] "
          "[--persistent] [--print-xml]",
          "Attach a network interface (type network, bridge or user)" },
        { "detach-interface", 2, 2, { "mac=", "live", "config", "current", "persistent" }, verb_detach_interface,
          "detach-interface DOMAIN TYPE [--mac MAC] [--live] [--config] [--current] [--persistent]",
          "Detach a network interface" },
        { "change-media", 2, 3, { "eject", "insert", "update", "force", "live", "config", "current", "persistent" },
          verb_change_media,
          "change-media DOMAIN PATH [SOURCE] [--eject] [--insert] [--update] [--force] [--live] [--config] [--current]",
          "Eject, insert or change a cdrom's medium" },
        { "domblklist", 1, 1, { "inactive", "details" }, verb_domblklist, "domblklist DOMAIN [--inactive] [--details]",
          "List a domain's disks" },
        { "domiflist", 1, 1, { "inactive" }, verb_domiflist, "domiflist DOMAIN [--inactive]",
          "List a domain's network interfaces" },
        { "domjobinfo", 1, 1, {}, verb_domjobinfo, "domjobinfo DOMAIN", "Show the job a domain is running" },
        { "domjobabort", 1, 1, {}, verb_domjobabort, "domjobabort DOMAIN", "Cancel the job a domain is running" },
        /* live migration (vmgmtctl-migrate.c) */
        { "migrate", 2, 2,
          { "live", "persistent", "undefinesource", "offline", "copy-storage-all", "bandwidth=", "auto-converge",
            "postcopy", "compressed", "parallel-connections=", "tls", "listen-address=", "max-downtime=", "verbose" },
          verb_migrate,
          "migrate DOMAIN DESTURI [--live] [--persistent] [--undefinesource] [--offline] [--copy-storage-all] [--bandwidth MiB] [--auto-converge] [--postcopy] [--compressed] [--parallel-connections N] [--tls] [--listen-address ADDR] [--max-downtime MS] [--verbose]",
          "Migrate a domain to another host's vmgmtd (DESTURI: qemu+ssh://[USER@]HOST/system, vmgmt+ssh://…, or a bus address)" },
        { "migrate-setmaxdowntime", 1, 2, { "downtime=" }, verb_migrate_setmaxdowntime,
          "migrate-setmaxdowntime DOMAIN --downtime MS", "Set the longest pause a live migration of the domain may cause" },
        { "migrate-getmaxdowntime", 1, 1, {}, verb_migrate_getmaxdowntime, "migrate-getmaxdowntime DOMAIN",
          "Print the longest pause a live migration of the domain may cause (ms)" },
        { "migrate-setspeed", 1, 2, { "bandwidth=" }, verb_migrate_setspeed, "migrate-setspeed DOMAIN --bandwidth MIB",
          "Set the bandwidth of the domain's migration (MiB/s; 0: unlimited)" },
        { "migrate-getspeed", 1, 1, {}, verb_migrate_getspeed, "migrate-getspeed DOMAIN",
          "Print the bandwidth of the domain's migration (MiB/s; 0: unlimited)" },
        /* virtual networks (vmgmtctl-net.c) */
        { "net-list", 0, 0, { "all", "inactive" }, verb_net_list, "net-list [--all|--inactive]",
          "List networks (active ones unless --all/--inactive)" },
        { "net-define", 1, 1, {}, verb_net_define, "net-define FILE", "Define a network from an XML file" },
        { "net-create", 1, 1, {}, verb_net_define, "net-create FILE", "Create and start a transient network from an XML file" },
        { "net-start", 1, 1, {}, verb_net_simple, "net-start NETWORK", "Start a network" },
        { "net-destroy", 1, 1, {}, verb_net_simple, "net-destroy NETWORK", "Stop a network" },
        { "net-undefine", 1, 1, {}, verb_net_simple, "net-undefine NETWORK", "Remove a network's persistent definition" },
        { "net-autostart", 1, 1, { "disable" }, verb_net_autostart, "net-autostart NETWORK [--disable]",
          "Start a network when vmgmtd starts (or not)" },
        { "net-info", 1, 1, {}, verb_net_info, "net-info NETWORK", "Show information about a network" },
        { "net-dumpxml", 1, 1, { "inactive" }, verb_net_dumpxml, "net-dumpxml NETWORK [--inactive]", "Print a network's XML" },
        { "net-dhcp-leases", 1, 1, { "mac=" }, verb_net_dhcp_leases, "net-dhcp-leases NETWORK [--mac MAC]",
          "Show a network's DHCP leases" },
        { "net-update", 4, 4, { "live", "config", "current", "parent-index=" }, verb_net_update,
          "net-update NETWORK COMMAND SECTION XML [--live] [--config] [--current] [--parent-index N]",
          "Change part of a network (add-first, add-last, delete, modify; ip-dhcp-host, ip-dhcp-range, dns-host, dns-txt, dns-srv, portgroup)" },
        { "net-edit", 1, 1, {}, verb_net_edit, "net-edit NETWORK", "Edit a network's definition with $VISUAL/$EDITOR" },
        /* secrets (vmgmtctl-secret.c) */
        { "secret-define", 1, 1, {}, verb_secret_define, "secret-define FILE", "Define or redefine a secret from an XML file" },
        { "secret-undefine", 1, 64, {}, verb_secret_undefine, "secret-undefine SECRET...",
          "Remove secrets (UUID or usage, e.g. 'ceph client.admin') and their values" },
        { "secret-list", 0, 0, {}, verb_secret_list, "secret-list", "List secrets" },
        { "secret-dumpxml", 1, 1, {}, verb_secret_dumpxml, "secret-dumpxml SECRET", "Print a secret's XML" },
        { "secret-set-value", 1, 1, { "base64=", "file=", "plain", "interactive" }, verb_secret_set_value,
          "secret-set-value SECRET (--base64 B64 | --file FILE [--plain] | --interactive)",
          "Set a secret's value (a --file holds base64 unless --plain; --interactive reads it from the terminal)" },
        { "secret-get-value", 1, 1, { "plain" }, verb_secret_get_value, "secret-get-value SECRET [--plain]",
          "Print a secret's value in base64 (as it is with --plain)" },
        /* storage pools and volumes (vmgmtctl-pool.c, vmgmtctl-vol.c) */
        { "pool-list", 0, 0, { "all", "inactive", "details" }, verb_pool_list, "pool-list [--all|--inactive] [--details]",
          "List storage pools (active ones unless --all/--inactive)" },
        { "pool-define", 1, 1, {}, verb_pool_define, "pool-define FILE", "Define a storage pool from an XML file" },
        { "pool-create", 1, 1, {}, verb_pool_define, "pool-create FILE", "Create and start a transient pool from an XML file" },
        { "pool-define-as", 2, 7,
          { "source-host=", "source-path=", "source-dev=", "source-name=", "source-format=", "source-initiator=",
            "auth-type=", "auth-username=", "secret-usage=", "secret-uuid=", "target=", "print-xml" },
          verb_pool_define_as, "pool-define-as NAME TYPE [--source-host H] [--source-path P] [--source-dev D] [--source-name N] "
          "[--source-initiator IQN] [--auth-type T --auth-username U --secret-usage S|--secret-uuid UUID] [--target DIR]",
          "Define a storage pool from arguments" },
        { "pool-create-as", 2, 7,
          { "source-host=", "source-path=", "source-dev=", "source-name=", "source-format=", "source-initiator=",
            "auth-type=", "auth-username=", "secret-usage=", "secret-uuid=", "target=", "print-xml" },
          verb_pool_define_as, "pool-create-as NAME TYPE [--source-...] [--target DIR]",
          "Create and start a transient pool from arguments" },
        { "pool-build", 1, 1, { "overwrite", "no-overwrite" }, verb_pool_simple,
          "pool-build POOL [--overwrite|--no-overwrite]", "Build a pool (make its directory or filesystem)" },
        { "pool-start", 1, 1, {}, verb_pool_simple, "pool-start POOL", "Start a pool" },
        { "pool-destroy", 1, 1, {}, verb_pool_simple, "pool-destroy POOL", "Stop a pool" },
        { "pool-delete", 1, 1, {}, verb_pool_simple, "pool-delete POOL", "Delete a pool's (empty) directory" },
        { "pool-undefine", 1, 1, {}, verb_pool_simple, "pool-undefine POOL", "Remove a pool's persistent definition" },
        { "pool-refresh", 1, 1, {}, verb_pool_simple, "pool-refresh POOL", "Rescan a pool's volumes" },
        { "pool-autostart", 1, 1, { "disable" }, verb_pool_autostart, "pool-autostart POOL [--disable]",
          "Start a pool when vmgmtd starts (or not)" },
        { "pool-info", 1, 1, {}, verb_pool_info, "pool-info POOL", "Show information about a pool" },
        { "pool-dumpxml", 1, 1, { "inactive" }, verb_pool_dumpxml, "pool-dumpxml POOL [--inactive]", "Print a pool's XML" },
        { "pool-edit", 1, 1, {}, verb_pool_edit, "pool-edit POOL", "Edit a pool's definition with $VISUAL/$EDITOR" },
        { "vol-list", 1, 1, { "details" }, verb_vol_list, "vol-list POOL [--details]", "List a pool's volumes" },
        { "vol-create", 2, 2, {}, verb_vol_create, "vol-create POOL FILE", "Create a volume from an XML file" },
        { "vol-create-as", 3, 3,
          { "allocation=", "format=", "backing-vol=", "backing-vol-format=", "print-xml", "prealloc-metadata" }, verb_vol_create_as,
          "vol-create-as POOL NAME CAPACITY [--allocation SIZE] [--format raw|qcow2] [--backing-vol VOL] [--prealloc-metadata]",
          "Create a volume from arguments" },
        { "vol-clone", 2, 2, { "pool=", "newpool=" }, verb_vol_clone, "vol-clone VOL NEWNAME [--pool POOL] [--newpool POOL]",
          "Clone a volume (a job with a progress bar)" },
        { "vol-delete", 1, 1, { "pool=" }, verb_vol_delete, "vol-delete VOL [--pool POOL]", "Delete a volume" },
        { "vol-resize", 2, 2, { "pool=", "allocate", "delta", "shrink" }, verb_vol_resize,
          "vol-resize VOL CAPACITY [--pool POOL] [--allocate] [--delta] [--shrink]", "Resize a volume" },
        { "vol-wipe", 1, 1, { "pool=" }, verb_vol_wipe, "vol-wipe VOL [--pool POOL]", "Overwrite a volume with zeros" },
        { "vol-info", 1, 1, { "pool=" }, verb_vol_info, "vol-info VOL [--pool POOL]", "Show information about a volume" },
        { "vol-dumpxml", 1, 1, { "pool=" }, verb_vol_dumpxml, "vol-dumpxml VOL [--pool POOL]", "Print a volume's XML" },
        { "vol-path", 1, 1, { "pool=" }, verb_vol_path, "vol-path VOL [--pool POOL]", "Print a volume's path" },
        { "vol-key", 1, 1, { "pool=" }, verb_vol_property, "vol-key VOL [--pool POOL]", "Print a volume's key" },
        { "vol-name", 1, 1, {}, verb_vol_property, "vol-name KEY-OR-PATH", "Print the name of the volume with that key or path" },
        { "vol-upload", 2, 2, { "pool=", "offset=", "length=" }, verb_vol_transfer,
          "vol-upload VOL FILE [--pool POOL] [--offset N] [--length N]", "Replace a volume's content with a file" },
        { "vol-download", 2, 2, { "pool=", "offset=", "length=" }, verb_vol_transfer,
          "vol-download VOL FILE [--pool POOL] [--offset N] [--length N]", "Copy a volume's content to a file" },
        /* snapshots (vmgmtctl-snapshot.c) */
        { "snapshot-create-as", 1, 2,
          { "name=", "description=", "disk-only", "atomic", "no-metadata", "live", "quiesce", "diskspec=*", "memspec=",
            "print-xml" },
          verb_snapshot_create_as,
          "snapshot-create-as DOMAIN [NAME] [--description D] [--disk-only] [--atomic] [--no-metadata] [--live] [--quiesce] [--diskspec SPEC]... [--memspec SPEC] [--print-xml]",
          "Take a snapshot of a domain from arguments (a job with a progress bar)" },
        { "snapshot-create", 1, 2, { "redefine", "disk-only", "atomic", "no-metadata", "live", "quiesce" },
          verb_snapshot_create, "snapshot-create DOMAIN [FILE] [--redefine] [--disk-only] [--atomic] [--no-metadata] [--live] [--quiesce]",
          "Take a snapshot of a domain from snapshot XML (or define its metadata with --redefine)" },
        { "snapshot-list", 1, 1, { "tree", "parent", "roots", "leaves", "name" }, verb_snapshot_list,
          "snapshot-list DOMAIN [--tree] [--parent] [--roots] [--leaves] [--name]", "List a domain's snapshots" },
        { "snapshot-info", 1, 2, { "current" }, verb_snapshot_info, "snapshot-info DOMAIN SNAPSHOT|--current",
          "Show information about a snapshot" },
        { "snapshot-dumpxml", 2, 2, {}, verb_snapshot_dumpxml, "snapshot-dumpxml DOMAIN SNAPSHOT", "Print a snapshot's XML" },
        { "snapshot-current", 1, 1, { "name" }, verb_snapshot_current, "snapshot-current DOMAIN [--name]",
          "Print the current snapshot's XML (or name)" },
        { "snapshot-revert", 1, 2, { "current", "running", "paused", "force" }, verb_snapshot_revert,
          "snapshot-revert DOMAIN SNAPSHOT|--current [--running] [--paused] [--force]", "Return a domain to a snapshot" },
        { "snapshot-delete", 1, 2, { "current", "children", "children-only", "metadata" }, verb_snapshot_delete,
          "snapshot-delete DOMAIN SNAPSHOT|--current [--children] [--children-only] [--metadata]", "Delete a snapshot" },
        /* the display (vmgmtctl-graphics.c) */
        { "screenshot", 1, 2, { "screen=" }, verb_screenshot, "screenshot DOMAIN [FILE] [--screen N]",
          "Save a PNG of a domain's display (FILE defaults to DOMAIN-DATE.png)" },
        { "vncdisplay", 1, 1, {}, verb_vncdisplay, "vncdisplay DOMAIN",
          "Show where a domain's VNC server listens (:N, ADDR:N or a unix socket path)" },
        { "domdisplay", 1, 1, {}, verb_domdisplay, "domdisplay DOMAIN",
          "Show a URI for a domain's display (vnc://HOST:N or vnc+unix:///PATH)" },
        { "blockcommit", 2, 2,
          { "base=", "top=", "active", "pivot", "keep-overlay", "keep-relative", "wait", "verbose", "bandwidth=", "delete" },
          verb_blockcommit,
          "blockcommit DOMAIN DISK [--base B] [--top T] [--active] [--pivot] [--keep-overlay] [--wait] [--verbose] "
          "[--bandwidth N] [--delete]",
          "Write layers of a disk's backing chain into a lower one" },
        { "blockpull", 2, 2, { "base=", "wait", "verbose", "bandwidth=", "keep-relative" }, verb_blockpull,
          "blockpull DOMAIN DISK [--base B] [--wait] [--verbose] [--bandwidth N]",
          "Copy the data of a disk's backing files into its active layer" },
        { "blockcopy", 3, 3,
          { "format=", "reuse-external", "shallow", "pivot", "finish", "wait", "verbose", "bandwidth=", "granularity=",
            "transient-job" },
          verb_blockcopy,
          "blockcopy DOMAIN DISK DEST [--format F] [--reuse-external] [--shallow] [--pivot] [--finish] [--wait] "
          "[--verbose] [--bandwidth N]",
          "Copy a running disk to a file, optionally switching to it" },
        { "blockjob", 2, 2, { "info", "abort", "pivot", "async" }, verb_blockjob,
          "blockjob DOMAIN DISK [--info] [--abort] [--pivot] [--async]",
          "Show, abort or pivot a disk's block job" },
        { "blockresize", 3, 3, {}, verb_blockresize, "blockresize DOMAIN DISK SIZE",
          "Resize a running disk (SIZE in KiB, or with a suffix: 10G, 512M, bytes with B)" },
        /* vCPUs, memory, resource limits (vmgmtctl-tune.c) */
        { "setvcpus", 2, 2, { "live", "config", "current", "maximum", "guest" }, verb_setvcpus,
          "setvcpus DOMAIN COUNT [--live] [--config] [--current] [--maximum] [--guest]",
          "Plug or unplug vCPUs (--live), or change the definition's count (--config; --maximum: its <vcpu>)" },
        { "vcpucount", 1, 1, { "maximum", "active", "live", "config", "current" }, verb_vcpucount,
          "vcpucount DOMAIN [--maximum|--active] [--live|--config|--current]",
          "Show a domain's vCPU counts (maximum and current, live and config)" },
        { "setmem", 2, 2, { "live", "config", "current" }, verb_setmem,
          "setmem DOMAIN SIZE [--live] [--config] [--current]",
          "Set a domain's current memory (the balloon when live; SIZE in KiB or with a unit: 512M)" },
        { "setmaxmem", 2, 2, { "live", "config", "current" }, verb_setmaxmem,
          "setmaxmem DOMAIN SIZE [--config] [--current]", "Set a domain's maximum memory (<memory>; config only)" },
        { "vcpupin", 1, 3, { "live", "config", "current" }, verb_vcpupin,
          "vcpupin DOMAIN [VCPU] [CPULIST|r] [--live] [--config] [--current]",
          "Show the host CPUs vCPUs may run on, or pin one (r: unpin)" },
        { "emulatorpin", 1, 2, { "live", "config", "current" }, verb_emulatorpin,
          "emulatorpin DOMAIN [CPULIST|r] [--live] [--config] [--current]",
          "Show or pin the host CPUs of the emulator's threads (r: unpin)" },
        { "iothreadinfo", 1, 1, { "live", "config", "current" }, verb_iothreadinfo,
          "iothreadinfo DOMAIN [--live] [--config] [--current]",
          "Show the domain's iothreads and the host CPUs each may run on" },
        { "iothreadpin", 3, 3, { "live", "config", "current" }, verb_iothreadpin,
          "iothreadpin DOMAIN IOTHREAD CPULIST|r [--live] [--config] [--current]",
          "Pin an iothread to host CPUs (r: unpin)" },
        { "schedinfo", 1, 1, { "set=", "live", "config", "current" }, verb_schedinfo,
          "schedinfo DOMAIN [--set KEY=VALUE[,KEY=VALUE…]] [--live] [--config] [--current]",
          "Show or set CPU shares and bandwidth (cpu_shares, vcpu_period, vcpu_quota)" },
        { "memtune", 1, 1, { "hard-limit=", "soft-limit=", "swap-hard-limit=", "live", "config", "current" },
          verb_memtune,
          "memtune DOMAIN [--hard-limit SIZE] [--soft-limit SIZE] [--swap-hard-limit SIZE] [--live] [--config] "
          "[--current]",
          "Show or set memory limits (KiB or with a unit; -1: unlimited)" },
        { "domiftune", 2, 2, { "inbound=", "outbound=", "live", "config", "current" }, verb_domiftune,
          "domiftune DOMAIN IFACE [--inbound AVERAGE[,PEAK[,BURST[,FLOOR]]]] [--outbound AVERAGE[,PEAK[,BURST]]] "
          "[--live] [--config] [--current]",
          "Show or set an interface's <bandwidth> (IFACE: its MAC or tap; KB/s, bursts KiB; AVERAGE 0 removes)" },
        { "blkiotune", 1, 1,
          { "weight=", "device-weights=", "device-read-bytes-sec=", "device-write-bytes-sec=", "device-read-iops-sec=",
            "device-write-iops-sec=", "live", "config", "current" },
          verb_blkiotune,
          "blkiotune DOMAIN [--weight N] [--device-weights PATH,N,…] [--device-read-bytes-sec PATH,N,…] "
          "[--device-write-bytes-sec …] [--device-read-iops-sec …] [--device-write-iops-sec …] [--live] [--config] "
          "[--current]",
          "Show or set block I/O weight and throttling" },
};

/* Connection and output choices, gathered while parsing. */
typedef struct GlobalArgs {
        bool user;
        const char *host;
        const char *machine;
        JsonFormat json;
        bool ask_password;
        bool help;
        bool version;
        bool no_pager;
        bool quiet;
        CtlRemote remote;       /* -c's ssh parameters */
        const char *bus_socket; /* -c qemu+unix:///system?socket=PATH */
} GlobalArgs;

static void help(void) {
        printf("vmgmtctl [OPTIONS...] COMMAND ...\n\n"
               "Manage vmgmt virtual machines over D-Bus.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                if (strlen(verbs[i].synopsis) > 44)
                        printf("  %s\n  %-44s %s\n", verbs[i].synopsis, "", verbs[i].summary);
                else
                        printf("  %-44s %s\n", verbs[i].synopsis, verbs[i].summary);
        }
        printf("\nA DOMAIN is named by its name, UUID or Id.\n"
               "List FILTERs: --persistent --transient --autostart --no-autostart\n"
               "              --state-running --state-paused --state-shutoff --state-other\n\n"
               "Options:\n"
               "  -h --help              Show this help\n"
               "     --version           Show package version\n"
               "     --system            Connect to the system bus (default)\n"
               "     --user              Connect to the user bus\n"
               "  -H --host=[USER@]HOST  Operate on a remote host (over ssh)\n"
               "  -M --machine=CONTAINER Operate on a local container\n"
               "     --json=MODE         Output as JSON: short, pretty or off\n"
               "     --no-ask-password   Do not ask for a password for privileged operations\n"
               "  -c --connect=URI       virsh's URI: qemu:///system (the system bus), qemu:///session\n"
               "                         (the user bus), qemu+ssh://[USER@]HOST[:PORT]/system (as -H;\n"
               "                         parameters keyfile, no_verify, command and socket), the same\n"
               "                         as vmgmt+ssh://[USER@]HOST…, qemu+unix:///system?socket=PATH\n"
               "                         (that bus)\n"
               "     --no-pager          Do not pipe long output into a pager ($VMGMTCTL_PAGER, $PAGER, less)\n"
               "  -q --quiet             No table headers and no messages saying what was done\n");
}

/* VERB --help, help VERB: its usage, summary and options. */
static void verb_help(const Verb *v) {
        printf("vmgmtctl [OPTIONS...] %s\n\n%s.\n", v->synopsis, v->summary);
        if (v->options[0]) {
                printf("\nOptions:\n");
                for (size_t i = 0; v->options[i]; i++) {
                        const char *eq = strchr(v->options[i], '=');

                        /* a repeatable one says so in the synopsis ("[--diskspec SPEC]..."):
                         * the completion scripts read these lines as they are */
                        if (eq)
                                printf("  --%.*s VALUE\n", (int) (eq - v->options[i]), v->options[i]);
                        else
                                printf("  --%s\n", v->options[i]);
                }
        }
        printf("\nThe global options (--json, -H, --user, …): vmgmtctl --help\n");
}

static const Verb *verb_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

static int usage_error(const char *fmt, const char *arg) {
        fputs("error: ", stderr);
        fprintf(stderr, fmt, arg);
        fputs("\nTry 'vmgmtctl --help' for more information.\n", stderr);
        return -EINVAL;
}

/* -c's URI, split in place (the pieces are g's strings until exit). */
static char *uri_copy;

/* %XX of a URI component, in place. */
static void uri_unescape(char *s) {
        char *out = s;

        for (; *s; s++) {
                unsigned v;
                if (s[0] == '%' && s[1] && s[2] && sscanf(s + 1, "%2x", &v) == 1 && v > 0) {
                        *out++ = (char) v;
                        s += 2;
                } else
                        *out++ = *s;
        }
        *out = 0;
}

static bool param_true(const char *v) {
        return streq(v, "1") || streq(v, "yes") || streq(v, "true");
}

/* ?keyfile=…&no_verify=1&command=…&socket=… (libvirt's names); ssh: any of
 * them, local: socket= only. */
static int connect_uri_params(GlobalArgs *g, const char *uri, char *query, bool ssh) {
        for (char *p = query, *next; p && *p; p = next) {
                char *v;

                next = strchr(p, '&');
                if (next)
                        *next++ = 0;
                v = strchr(p, '=');
                if (v)
                        *v++ = 0;
                uri_unescape(p);
                if (v)
                        uri_unescape(v);
                if (streq(p, "socket") && !isempty(v)) {
                        if (ssh)
                                g->remote.bus_socket = v;
                        else
                                g->bus_socket = v;
                } else if (ssh && streq(p, "keyfile") && !isempty(v))
                        g->remote.keyfile = v;
                else if (ssh && streq(p, "no_verify"))
                        g->remote.no_verify = !v || param_true(v);
                else if (ssh && streq(p, "command") && !isempty(v))
                        g->remote.ssh = v;
                else if (ssh && (streq(p, "no_tty") || streq(p, "mode")))
                        ;   /* libvirt's: no prompt is ever asked for here; the bus has one daemon */
                else {
                        fprintf(stderr, "error: Unsupported parameter '%s' in connection URI '%s' (%s).\n", p, uri,
                                ssh ? "the ssh transport takes keyfile, no_verify, command and socket"
                                    : "a local connection takes socket");
                        return -EINVAL;
                }
        }
        return 1;
}

/* -c/--connect URI: libvirt's URIs of the QEMU driver, mapped to vmgmt's buses:
 * SCHEME[+TRANSPORT]://[USER@][HOST][:PORT]/system|session[?PARAMS], SCHEME
 * qemu or vmgmt; TRANSPORT none or unix (the local bus; socket=PATH another
 * bus socket), ssh (the host's system bus over ssh + systemd-stdio-bridge, as
 * -H). vmgmtd listens on no network socket: tcp, tls, libssh and ext are refused. */
static int connect_uri(GlobalArgs *g, const char *uri) {
        static const char *const schemes[] = { "qemu", "vmgmt", NULL };
        char *rest = NULL, *transport = NULL, *authority, *query, transport_buf[32], path[32];
        size_t n = strcspn(uri, ":+"), alen;
        bool ssh;

        for (size_t i = 0; schemes[i]; i++)
                if (strlen(schemes[i]) == n && strncmp(uri, schemes[i], n) == 0)
                        rest = (char *) uri + n;
        if (!rest)
                return usage_error("Unsupported connection URI '%s': vmgmtctl runs the QEMU driver's (qemu:///system, "
                                   "qemu:///session, qemu+ssh://[USER@]HOST[:PORT]/system, vmgmt+ssh://…, "
                                   "qemu+unix:///system?socket=PATH).", uri);
        free(uri_copy);
        uri_copy = strdup(rest);
        if (!uri_copy)
                return -ENOMEM;
        rest = uri_copy;
        if (*rest == '+') {
                size_t tlen = strcspn(rest + 1, ":");

                if (tlen == 0 || tlen >= sizeof(transport_buf))
                        return usage_error("Invalid connection URI '%s'.", uri);
                memcpy(transport_buf, rest + 1, tlen);
                transport_buf[tlen] = 0;
                transport = transport_buf;
                rest += 1 + tlen;
        }
        if (strncmp(rest, "://", 3) != 0)
                return usage_error("Invalid connection URI '%s': expected SCHEME[+TRANSPORT]://[HOST]/system.", uri);
        authority = rest + 3;
        alen = strcspn(authority, "/?");
        query = strchr(authority + alen, '?');
        if (query)
                *query++ = 0;
        if (strlen(authority + alen) >= sizeof(path))
                return usage_error("Unsupported connection URI '%s': the path is /system or /session.", uri);
        strcpy(path, authority + alen);
        authority[alen] = 0;
        if (transport && (streq(transport, "tcp") || streq(transport, "tls") || strncmp(transport, "libssh", 6) == 0 ||
                          streq(transport, "ext")))
                return usage_error("Unsupported connection URI '%s': vmgmtd listens on no network socket of its own; "
                                   "reach a remote host over ssh (qemu+ssh://[USER@]HOST/system or -H [USER@]HOST).",
                                   uri);
        if (transport && !streq(transport, "ssh") && !streq(transport, "unix"))
                return usage_error("Unsupported transport in connection URI '%s' (ssh or unix).", uri);
        ssh = transport && streq(transport, "ssh");
        if (!ssh && !isempty(authority))
                /* libvirt: qemu://HOST/system is TLS */
                return usage_error("Unsupported connection URI '%s': a host without a transport is libvirt's TLS "
                                   "transport; vmgmtctl reaches hosts over ssh (qemu+ssh://HOST/system).", uri);
        if (ssh && isempty(authority))
                return usage_error("Invalid connection URI '%s': qemu+ssh:// needs a host.", uri);
        if (!streq(path, "/system") && !streq(path, "/session") && !(!ssh && path[0] == 0))
                return usage_error("Unsupported connection URI '%s': the path is /system or /session.", uri);
        if (ssh && streq(path, "/session"))
                return usage_error("Unsupported connection URI '%s': a remote user bus is not supported.", uri);
        g->user = streq(path, "/session");
        if (ssh) {
                uri_unescape(authority);
                g->host = authority;
        }
        return connect_uri_params(g, uri, query, ssh);
}

/* Handles a global long option. Returns 1 if it was one, 0 if not, or a printed error. */
static int global_long_option(GlobalArgs *g, const char *name, const char *value, bool *consumes_next) {
        *consumes_next = false;
        if (streq(name, "system") || streq(name, "user")) {
                if (value)
                        return usage_error("Option '--%s' takes no value.", name);
                g->user = streq(name, "user");
        } else if (streq(name, "host") || streq(name, "machine")) {
                if (!value) {
                        *consumes_next = true;
                        return 1;
                }
                if (streq(name, "host"))
                        g->host = value;
                else
                        g->machine = value;
        } else if (streq(name, "connect")) {
                if (!value) {
                        *consumes_next = true;
                        return 1;
                }
                return connect_uri(g, value);
        } else if (streq(name, "no-pager")) {
                g->no_pager = true;
        } else if (streq(name, "quiet")) {
                if (value)
                        return usage_error("Option '--%s' takes no value.", name);
                g->quiet = true;
        } else if (streq(name, "json")) {
                int f = json_format_from_string(value ?: "short");

                if (f < 0)
                        return usage_error("Unknown JSON format '%s': expected short, pretty or off.", value);
                g->json = f;
        } else if (streq(name, "no-ask-password"))
                g->ask_password = false;
        else if (streq(name, "help"))
                g->help = true;
        else if (streq(name, "version"))
                g->version = true;
        else
                return 0;
        return 1;
}

/* Keeps the value of option i: every one of a repeatable option, else the only one. */
static int verb_store(VerbArgs *a, size_t i, const char *name, const char *value) {
        size_t n = strlen(a->options[i]);

        if (n < 2 || !streq(a->options[i] + n - 2, "=*")) {
                if (a->values[i])
                        return usage_error("Option '--%s' given more than once.", name);
                a->values[i] = value;
                return 1;
        }
        if (!a->values[i])
                a->values[i] = value;
        a->repeated[a->n_repeated] = value;
        a->repeated_option[a->n_repeated++] = (unsigned) i;
        return 1;
}

/* Handles an option of the verb. Returns 1 if it was one, 0 if not, or a printed error. */
/* The long name of the verb's own one-letter option (malloc'd), or NULL. */
static char *verb_short_option(const Verb *v, char letter) {
        for (const char *p = v ? v->short_options : NULL; p && *p; p += strcspn(p, " "), p += strspn(p, " "))
                if (p[0] == letter && p[1] == '=')
                        return strndup(p + 2, strcspn(p + 2, " "));
        return NULL;
}

static int verb_long_option(const Verb *v, VerbArgs *a, const char *name, const char *value, bool *consumes_next) {
        *consumes_next = false;
        for (size_t i = 0; v && v->options[i]; i++) {
                const char *o = v->options[i];
                size_t len = verb_option_is(o, name);

                if (len == 0)
                        continue;
                if (o[len] == '\0') {
                        if (value)
                                return usage_error("Option '--%s' takes no value.", name);
                        return verb_store(a, i, name, "");
                }
                if (!value) {
                        *consumes_next = true;
                        return 1;
                }
                return verb_store(a, i, name, value);
        }
        return 0;
}

/* Stores the value of an option given as "--name VALUE" or "-X VALUE". */
static int option_store_value(const Verb *v, GlobalArgs *g, VerbArgs *a, const char *name, const char *value) {
        bool dummy;
        int r;

        r = verb_long_option(v, a, name, value, &dummy);
        if (r == 0)
                r = global_long_option(g, name, value, &dummy);
        return r;
}

static int parse_argv(int argc, char **argv, GlobalArgs *g, const Verb **ret_verb, VerbArgs *a) {
        const Verb *v = NULL;
        bool positional_only = false;
        int r;

        a->args = calloc((size_t) argc + 1, sizeof(char *));
        a->repeated = calloc((size_t) argc + 1, sizeof(char *));
        a->repeated_option = calloc((size_t) argc + 1, sizeof(unsigned));
        if (!a->args || !a->repeated || !a->repeated_option)
                return ctl_error(-ENOMEM, "Out of memory.");

        for (int i = 1; i < argc; i++) {
                const char *arg = argv[i];
                _cleanup_free_ char *name = NULL;
                const char *value = NULL;
                bool next = false;

                if (positional_only || arg[0] != '-' || arg[1] == '\0') {
                        if (!v) {
                                v = verb_find(arg);
                                if (!v)
                                        return usage_error("Unknown command '%s'.", arg);
                                a->verb = v->name;
                                a->options = v->options;
                        } else
                                a->args[a->n_args++] = argv[i];
                        continue;
                }
                if (streq(arg, "--")) {
                        positional_only = true;
                        continue;
                }

                if (arg[1] == '-') {
                        const char *eq = strchr(arg + 2, '=');

                        name = eq ? strndup(arg + 2, (size_t) (eq - arg - 2)) : strdup(arg + 2);
                        if (!name)
                                return ctl_error(-ENOMEM, "Out of memory.");
                        value = eq ? eq + 1 : NULL;
                } else {
                        /* Short options: the verb's own (clone's -o, -n, -f), -h, -q, -H HOST/-HHOST,
                         * -M MACHINE/-MMACHINE, -c URI. */
                        _cleanup_free_ char *own_name = verb_short_option(v, arg[1]);
                        const char *longname = own_name ? own_name : arg[1] == 'h' ? "help" : arg[1] == 'q' ? "quiet" :
                                               arg[1] == 'H' ? "host" : arg[1] == 'M' ? "machine" :
                                               arg[1] == 'c' ? "connect" : NULL;

                        if (!longname || ((arg[1] == 'h' || arg[1] == 'q') && arg[2]))
                                return usage_error("Unknown option '%s'.", arg);
                        name = strdup(longname);
                        if (!name)
                                return ctl_error(-ENOMEM, "Out of memory.");
                        value = arg[2] ? arg + 2 : NULL;
                }

                /* after the verb its own options come first (domcapabilities --machine is not -M's) */
                r = verb_long_option(v, a, name, value, &next);
                if (r == 0)
                        r = global_long_option(g, name, value, &next);
                if (r < 0)
                        return r;
                if (r == 0) {
                        if (v)
                                return usage_error("Unknown option '%s' for this command.", arg);
                        return usage_error("Unknown option '%s'.", arg);
                }
                if (next) {
                        if (i + 1 >= argc)
                                return usage_error("Option '%s' needs a value.", arg);
                        r = option_store_value(v, g, a, name, argv[++i]);
                        if (r < 0)
                                return r;
                }
        }

        if (g->help || g->version) {
                *ret_verb = v;
                return 0;
        }
        if (!v)
                return usage_error("%s", "No command given.");
        if (a->n_args < v->min_args || a->n_args > v->max_args) {
                fprintf(stderr, "error: %s arguments for '%s'.\nUsage: vmgmtctl %s\n",
                        a->n_args < v->min_args ? "Too few" : "Too many", v->name, v->synopsis);
                return -EINVAL;
        }
        *ret_verb = v;
        return 0;
}

/* ---- a pager for long output, as systemctl: only when stdout is a terminal ---- */

static pid_t pager_pid;

/* Verbs whose output can be longer than a screen. */
static bool verb_pages(const Verb *v) {
        static const char *const paged[] = { "list", "dumpxml", "net-list", "net-dumpxml", "pool-list", "pool-dumpxml",
                                             "vol-list", "vol-dumpxml", "capabilities",
                                             "domcapabilities", NULL };

        for (size_t i = 0; v && paged[i]; i++)
                if (streq(v->name, paged[i]))
                        return true;
        return false;
}

static void pager_open(void) {
        const char *pager = getenv("VMGMTCTL_PAGER");
        int fds[2];
        pid_t pid;

        if (!isatty(STDOUT_FILENO))
                return;
        if (!pager)
                pager = getenv("PAGER");
        if (!pager)
                pager = "less";
        if (isempty(pager) || streq(pager, "cat"))
                return;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return;
        fflush(stdout);
        pid = fork();
        if (pid < 0) {
                close(fds[0]);
                close(fds[1]);
                return;
        }
        if (pid == 0) {
                /* less: quit when it fits one screen, colours as they are, no wrapping, no init sequence */
                if (dup2(fds[0], STDIN_FILENO) < 0)
                        _exit(EXIT_FAILURE);
                setenv("LESS", getenv("LESS") ?: "FRSXMK", 1);
                execl("/bin/sh", "sh", "-c", pager, (char *) NULL);
                _exit(EXIT_FAILURE);
        }
        if (dup2(fds[1], STDOUT_FILENO) < 0) {
                close(fds[0]);
                close(fds[1]);
                return;
        }
        close(fds[0]);
        close(fds[1]);
        pager_pid = pid;
}

static void pager_close(void) {
        if (pager_pid <= 0)
                return;
        fflush(stdout);
        fclose(stdout);   /* EOF for the pager */
        while (waitpid(pager_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        pager_pid = 0;
}

int main(int argc, char **argv) {
        GlobalArgs g = { .ask_password = true };
        VerbArgs a = {};
        Context c = {};
        const Verb *v = NULL;
        int r;

        r = parse_argv(argc, argv, &g, &v, &a);
        if (r < 0)
                goto finish;
        if (g.help || (v && streq(v->name, "help") && a.n_args == 0)) {
                /* VERB --help is about VERB */
                if (v && !streq(v->name, "help"))
                        verb_help(v);
                else
                        help();
                goto finish;
        }
        if (v && streq(v->name, "help")) {
                const Verb *w = verb_find(a.args[0]);
                if (!w) {
                        r = usage_error("Unknown command '%s'.", a.args[0]);
                        goto finish;
                }
                verb_help(w);
                goto finish;
        }
        if (g.version) {
                printf("vmgmtctl %s\n", VMGMT_VERSION);
                goto finish;
        }

        c.json = g.json;
        c.ask_password = g.ask_password;
        ctl_quiet = g.quiet;
        if (!g.no_pager && verb_pages(v))
                pager_open();
        c.host = g.host;
        c.remote = g.remote;
        c.bus_socket = g.bus_socket;
        r = ctl_connect(&c, g.user, g.host, g.machine);
        if (r < 0)
                goto finish;
        r = v->run(&c, &a);

finish:
        ctl_polkit_agent_close(&c);
        if (fflush(stdout) != 0 && r >= 0)
                r = ctl_error(-EIO, "Failed to write output.");
        pager_close();
        if (c.bus)
                sd_bus_flush_close_unref(c.bus);
        free(a.args);
        free(a.repeated);
        free(a.repeated_option);
        free(uri_copy);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
