/* vmgmtctl.h — shared state, bus helpers and verbs of the vmgmtctl command-line client. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "macro.h"
#include "vmgmtctl-format.h"
#include "vmgmtctl-json.h"

#define VMGMT_BUS_NAME "org.vmgmt"
#define VMGMT_MANAGER_PATH "/org/vmgmt"
#define VMGMT_MANAGER_IFACE "org.vmgmt.Manager"
#define VMGMT_DOMAIN_IFACE "org.vmgmt.Domain"
#define VMGMT_DOMAIN_PATH_PREFIX "/org/vmgmt/domain"
#define VMGMT_POOL_IFACE "org.vmgmt.StoragePool"
#define VMGMT_VOLUME_IFACE "org.vmgmt.StorageVolume"
#define VMGMT_JOB_IFACE "org.vmgmt.Job"

/* Everything a verb needs: the connection and the output choices. */
/* How -H and -c's ssh URIs reach the far side (libvirt's ssh transport parameters). */
typedef struct CtlRemote {
        const char *ssh;           /* command=: the ssh program (default ssh) */
        const char *keyfile;       /* keyfile=: ssh -i */
        bool no_verify;            /* no_verify=1: the host key is not checked */
        const char *bus_socket;    /* socket=: the far side's bus socket (default its system bus) */
} CtlRemote;

typedef struct Context {
        sd_bus *bus;
        JsonFormat json;
        bool ask_password;
        bool agent_allowed;        /* ask_password on the local system bus */
        bool agent_tried;
        int agent_pid;             /* pkttyagent, 0 when none */
        const char *host;          /* -H: the remote host, NULL for a local bus */
        CtlRemote remote;          /* with host */
        const char *bus_socket;    /* qemu+unix:///system?socket=PATH: a local bus socket */
} Context;

#define VERB_OPTIONS_MAX 40

/* The parsed command line of one verb. `options` is the verb's option table:
 * names without dashes, "name=" for options that take a value, "name=*" for
 * one that may be given more than once (virsh's --diskspec); any other option
 * given twice is an error, as in virsh. */
typedef struct VerbArgs {
        const char *verb;
        char **args;                            /* positional arguments after the verb */
        size_t n_args;
        const char *const *options;
        const char *values[VERB_OPTIONS_MAX];   /* NULL: not given; "" for a given flag; the first of a "name=*" */
        const char **repeated;                  /* every value of the "name=*" options, in command-line order */
        unsigned *repeated_option;              /* and the index in `options` of each */
        size_t n_repeated;
} VerbArgs;

/* True if the flag `name` (in the verb's table) was given. */
bool verb_flag(const VerbArgs *a, const char *name);
/* The value of option `name`, or NULL if not given. */
const char *verb_value(const VerbArgs *a, const char *name);
/* The n-th (from 0) value of the repeatable option `name`, or NULL after the last. */
const char *verb_value_n(const VerbArgs *a, const char *name, size_t n);
/* The value of option --bandwidth, MiB/s as virsh's (a plain number), in *ret (0 when not given). 0, or
 * a negative errno after printing the error (vmgmtctl-block.c). */
int verb_bandwidth(const VerbArgs *a, uint64_t *ret);
/* The length of `name` in an option table entry ("name", "name=" or "name=*"), or 0 if the entry is not for it. */
size_t verb_option_is(const char *entry, const char *name);

/* Prints "error: MESSAGE" on stderr. Returns r (a negative errno) so callers
 * can `return ctl_error(r, …)`. */
int ctl_error(int r, const char *fmt, ...) _printf_(2, 3);
/* Prints a D-Bus error as "error: MESSAGE" (the name if it has no message)
 * and returns r, or the errno of the error if r is not negative. */
int ctl_bus_error(const sd_bus_error *e, int r);

/* Opens the connection chosen by the flags: the system bus (host set: over
 * ssh; machine set: inside a container), or the user bus. Returns 0 or a
 * printed negative errno. */
int ctl_connect(Context *c, bool user, const char *host, const char *machine);
/* ssh's argv (NULL-terminated, strings malloc'd) to run `command` on c->host: the
 * host's [USER@]HOST[:PORT] and c->remote's options; tty: -t, else -xT. */
char **ctl_ssh_argv(const Context *c, bool tty, const char *command);

/* A stream method's socket (Domain.OpenConsoleStream, …) as a connected fd:
 * with -H through `ssh -N -L` (the ssh runs until ctl_stream_close()),
 * else connected directly. Printed errors. */
#define CTL_STREAM_TIMEOUT_USEC (60 * 1000000ULL)
typedef struct CtlStream {
        int fd;
        int ssh;                   /* pid of the forwarding ssh, 0 for none */
} CtlStream;
int ctl_stream_open(Context *c, const char *remote_path, CtlStream *ret);
/* Replaces volume vol_path's content with fd's (StorageVolume.Upload, or over -H UploadStream through
 * ssh's forwarding) and follows the job; file: fd's name for messages. */
int ctl_volume_upload(Context *c, const char *vol_path, int fd, const char *file);
void ctl_stream_close(CtlStream *s);
/* Copies from `from` to `to` until EOF (blocking); 0 or a negative errno. */
int ctl_copy_fd(int from, int to);

/* vmgmtctl-agent.c: starts pkttyagent (once) when a password prompt may be
 * needed: not root, stdin a terminal, --no-ask-password not given, the local
 * system bus. The _for variant does so only for calls that may change
 * something (not Get*, List*). close() ends the agent. */
void ctl_polkit_agent_open(Context *c);
void ctl_polkit_agent_open_for(Context *c, sd_bus_message *m);
void ctl_polkit_agent_close(Context *c);

/* Creates a method call to org.vmgmt. Returns 0 or a printed negative errno. */
int ctl_new_call(Context *c, const char *path, const char *iface, const char *member, sd_bus_message **ret);
/* Sends m and waits (bus default timeout) for the reply; a D-Bus error is
 * printed. ret may be NULL. Returns 0 or a printed negative errno. */
int ctl_call(Context *c, sd_bus_message *m, sd_bus_message **ret);

/* Appends an a{sv} of boolean options: pairs of (const char *key, int value)
 * ended by NULL; only the keys whose value is true are put in, so an empty
 * dict is sent when nothing was asked. Returns 0 or a negative errno. */
int ctl_append_flags(sd_bus_message *m, ...);

/* Calls member(a{sv} flags) on the object at path (iface);
 * the varargs are as for ctl_append_flags(). Returns 0 or a printed negative errno. */
int ctl_object_call(Context *c, const char *path, const char *iface, const char *member, ...);
/* Calls member(a{sv} flags) on a domain; the varargs are as for ctl_append_flags(). */
#define ctl_domain_call(c, path, member, ...) ctl_object_call((c), (path), VMGMT_DOMAIN_IFACE, (member), __VA_ARGS__)

/* Reads the object path a reply carries into *ret_path (malloc'd); member
 * names the call in the error. Returns 0 or a printed negative errno. */
int ctl_reply_read_path(sd_bus_message *reply, const char *member, char **ret_path);
/* Calls Manager.member(s arg) (GetNetwork, GetPool, GetDomain, …) or, with
 * with_options, Manager.member(s arg, a{sv} {}) (DefineNetwork, CreatePool,
 * …) and returns the object path of the reply (malloc'd). Returns 0 or a
 * printed negative errno. */
int ctl_manager_call_path(Context *c, const char *member, const char *arg, bool with_options, char **ret_path);
/* Calls Manager.member(a{sv}) (ListNetworks, ListPools) with virsh's choice:
 * everything with --all, the inactive objects with --inactive, else the
 * active ones. *ret_reply is the reply entered into its array of paths (read
 * them with sd_bus_message_read(reply, "o", …)). Returns 0 or a printed
 * negative errno. */
int ctl_manager_list(Context *c, const char *member, const VerbArgs *a, sd_bus_message **ret_reply);
/* GetXML(a{sv}) of the object at path: the persistent definition with
 * inactive, secrets with secure (domains). Returns 0 and *ret (malloc'd) or a
 * printed negative errno. */
int ctl_get_xml(Context *c, const char *path, const char *iface, bool inactive, bool secure, char **ret);
/* The Name property of the object at path (malloc'd), NULL when it cannot be read. */
char *ctl_object_name(Context *c, const char *path, const char *iface);
/* net-autostart / pool-autostart NAME [--disable]: looks NAME up with
 * Manager.get_member, sets Autostart and prints virsh's line, `noun` first
 * ("Network", "Pool"). Returns 0 or a printed negative errno. */
int ctl_verb_autostart(Context *c, VerbArgs *a, const char *noun, const char *iface, const char *get_member);

/* Properties of one domain, as org.vmgmt.Domain reports them. */
typedef struct DomainInfo {
        char *path;
        char *name;
        char *uuid;
        uint32_t id;
        char *state;
        char *state_reason;
        bool persistent;
        bool autostart;
        bool has_managed_save;
        uint32_t vcpus;
        uint64_t memory_kib;
        uint64_t max_memory_kib;
        char *title;
        uint64_t start_time;
        uint64_t generation;
        char *security_model;   /* "vmgmt", "none"; NULL from a service that does not tell */
        char *security_label;   /* "uid N gid N" while it runs confined */
} DomainInfo;

void domain_info_done(DomainInfo *i);
void domain_info_array_free(DomainInfo *a, size_t n);

/* Reads an a{sv} of Domain properties from m into i; unknown properties are skipped. */
int domain_info_read(sd_bus_message *m, DomainInfo *i);
/* Fetches every property of the domain at path. Returns 0 or a printed negative errno. */
int domain_info_get(Context *c, const char *path, DomainInfo *ret);
/* Fetches every domain with GetManagedObjects. Returns 0 or a printed negative errno. */
int domain_info_get_all(Context *c, DomainInfo **ret, size_t *ret_n);

/* The domain name encoded in a domain object path. Returns 0 or -EINVAL/-ENOMEM. */
int domain_path_to_name(const char *path, char **ret);
/* Finds a domain by name, UUID or Id. Returns its path and name, or a printed negative errno. */
int domain_resolve(Context *c, const char *ident, char **ret_path, char **ret_name);
/* Fetches a domain's definition: the live one, or the persistent one with
 * inactive; secrets only with secure. Returns 0 or a printed negative errno. */
int domain_get_xml(Context *c, const char *path, bool inactive, bool secure, char **ret);
/* Reads one unsigned 64-bit property of a domain. */
int domain_get_u64(Context *c, const char *path, const char *property, uint64_t *ret);

/* Verbs: each returns 0 or a negative errno that has been printed. */
int verb_list(Context *c, VerbArgs *a);
int verb_dominfo(Context *c, VerbArgs *a);
int verb_domstate(Context *c, VerbArgs *a);
int verb_domid(Context *c, VerbArgs *a);
int verb_domuuid(Context *c, VerbArgs *a);
int verb_domname(Context *c, VerbArgs *a);
/* vmgmtctl-node.c */
int verb_nodeinfo(Context *c, VerbArgs *a);
int verb_nodecpustats(Context *c, VerbArgs *a);
int verb_nodememstats(Context *c, VerbArgs *a);
int verb_capabilities(Context *c, VerbArgs *a);
int verb_domcapabilities(Context *c, VerbArgs *a);   /* vmgmtctl-domcaps.c */
/* vmgmtctl-info.c: virsh's --xpath EXPR [--wrap] of an XML document (dumpxml, domcapabilities).
 * Returns 0 or a printed negative errno. */
int ctl_print_xpath(const char *xml, const char *expr, bool wrap);
int verb_dumpxml(Context *c, VerbArgs *a);

int verb_define(Context *c, VerbArgs *a);
int verb_create(Context *c, VerbArgs *a);
int verb_undefine(Context *c, VerbArgs *a);
int verb_lifecycle(Context *c, VerbArgs *a);
int verb_autostart(Context *c, VerbArgs *a);

int verb_edit(Context *c, VerbArgs *a);
int verb_event(Context *c, VerbArgs *a);

/* vmgmtctl-edit.c: writes text to a new private temporary file
 * $TMPDIR/PREFIX-XXXXXX.xml, runs $VISUAL, else $EDITOR, else vi on it and
 * reads it back. Returns 0 with the file's path (*ret_tmp, for the caller to
 * unlink or to name when the edit cannot be applied) and its new contents
 * (*ret_edited), or a printed negative errno with the file removed. */
int ctl_edit_text(const char *text, const char *prefix, char **ret_tmp, char **ret_edited);
/* After a failed redefinition of what ctl_edit_text() gave: on a terminal asks
 * "Failed. Try again? [y,n]" and runs the editor on tmp again (1, *edited the
 * new text); else, or on "n", says where tmp is kept (0). */
int ctl_edit_again(const char *tmp, char **edited);
/* Reads a whole file ("-" is stdin) into a NUL-terminated string. Returns 0 or a printed negative errno. */
int ctl_read_file(const char *path, char **ret);

/* ---- storage (vmgmtctl-pool.c, vmgmtctl-vol.c) ---- */

/* Reads a whole file ("-": stdin). Returns 0 or a printed negative errno. */
int storage_read_file(const char *path, char **ret);
/* One property of an object, printed errors. */
int storage_get_string(Context *c, const char *path, const char *iface, const char *name, char **ret);
int storage_get_trivial(Context *c, const char *path, const char *iface, const char *name, char type, void *ret);
/* Writes s with XML's five special characters escaped. */
void storage_xml_escape_to(FILE *f, const char *s);
/* virsh's "%.2f UNIT" with B, KiB, MiB, … */
void storage_format_size(uint64_t v, char *buf, size_t size);
/* virsh's scaled integers: bytes by default, k/M/G/T/P/E (1024) and KB/MB/… (1000). 0 or -EINVAL/-ERANGE. */
int storage_parse_scaled(const char *s, uint64_t *ret);
/* A pool by name or UUID. Returns 0 or a printed negative errno. */
int pool_resolve(Context *c, const char *name, char **ret_path);
/* vmgmtctl-job.c: follows a Job until it ends (progress bar on a terminal,
 * Ctrl-C cancels). Returns 0 when it completed, else its error printed. */
int ctl_follow_job(Context *c, const char *path);
/* A Job's properties as GetManagedObjects lists them. */
typedef struct CtlJobInfo {
        char *path;
        char *type, *state, *error;
        double progress;
        uint64_t processed, total;
} CtlJobInfo;
void ctl_job_info_clear(CtlJobInfo *j);
/* The running Job whose Object is domain_path, from one GetManagedObjects
 * call (a domain runs one job at a time). Returns 1 with *ret, 0 when none,
 * or a printed negative errno. */
int ctl_find_domain_job(Context *c, const char *domain_path, CtlJobInfo *ret);

/* save, restore, managed save, core dump, the domain's job (vmgmtctl-save.c) */
int verb_save(Context *c, VerbArgs *a);
int verb_restore(Context *c, VerbArgs *a);
int verb_managedsave(Context *c, VerbArgs *a);
int verb_managedsave_remove(Context *c, VerbArgs *a);
int verb_dump(Context *c, VerbArgs *a);
int verb_domjobinfo(Context *c, VerbArgs *a);
int verb_domjobabort(Context *c, VerbArgs *a);
/* vmgmtctl-migrate.c */
int verb_migrate(Context *c, VerbArgs *a);
int verb_migrate_setmaxdowntime(Context *c, VerbArgs *a);
int verb_migrate_getmaxdowntime(Context *c, VerbArgs *a);
int verb_migrate_setspeed(Context *c, VerbArgs *a);
int verb_migrate_getspeed(Context *c, VerbArgs *a);

/* hot-plug and the device lists (vmgmtctl-device.c) */
int verb_attach_device(Context *c, VerbArgs *a);
int verb_detach_device(Context *c, VerbArgs *a);
int verb_update_device(Context *c, VerbArgs *a);
int verb_attach_disk(Context *c, VerbArgs *a);
int verb_detach_disk(Context *c, VerbArgs *a);
int verb_attach_interface(Context *c, VerbArgs *a);
int verb_detach_interface(Context *c, VerbArgs *a);
int verb_change_media(Context *c, VerbArgs *a);
int verb_domblklist(Context *c, VerbArgs *a);
int verb_domiflist(Context *c, VerbArgs *a);

/* ---- networks (vmgmtctl-net.c) ---- */
int verb_net_list(Context *c, VerbArgs *a);
int verb_net_define(Context *c, VerbArgs *a);
int verb_net_simple(Context *c, VerbArgs *a);
int verb_net_autostart(Context *c, VerbArgs *a);
int verb_net_info(Context *c, VerbArgs *a);
int verb_net_dumpxml(Context *c, VerbArgs *a);
int verb_net_dhcp_leases(Context *c, VerbArgs *a);
int verb_net_update(Context *c, VerbArgs *a);
int verb_net_edit(Context *c, VerbArgs *a);
/* vmgmtctl-secret.c */
int verb_secret_define(Context *c, VerbArgs *a);
int verb_secret_undefine(Context *c, VerbArgs *a);
int verb_secret_list(Context *c, VerbArgs *a);
int verb_secret_dumpxml(Context *c, VerbArgs *a);
int verb_secret_set_value(Context *c, VerbArgs *a);
int verb_secret_get_value(Context *c, VerbArgs *a);

int verb_pool_list(Context *c, VerbArgs *a);
int verb_pool_define(Context *c, VerbArgs *a);
int verb_pool_define_as(Context *c, VerbArgs *a);
int verb_pool_simple(Context *c, VerbArgs *a);
int verb_pool_autostart(Context *c, VerbArgs *a);
int verb_pool_info(Context *c, VerbArgs *a);
int verb_pool_dumpxml(Context *c, VerbArgs *a);
int verb_vol_list(Context *c, VerbArgs *a);
int verb_vol_create(Context *c, VerbArgs *a);
int verb_vol_create_as(Context *c, VerbArgs *a);
int verb_vol_clone(Context *c, VerbArgs *a);
int verb_vol_delete(Context *c, VerbArgs *a);
int verb_vol_resize(Context *c, VerbArgs *a);
int verb_vol_wipe(Context *c, VerbArgs *a);
int verb_vol_info(Context *c, VerbArgs *a);
int verb_vol_dumpxml(Context *c, VerbArgs *a);
int verb_vol_path(Context *c, VerbArgs *a);
int verb_vol_transfer(Context *c, VerbArgs *a);
int verb_vol_property(Context *c, VerbArgs *a);
int verb_pool_edit(Context *c, VerbArgs *a);

/* ---- the display (vmgmtctl-graphics.c) ---- */
/* ---- snapshots (vmgmtctl-snapshot.c) ---- */
int verb_snapshot_create_as(Context *c, VerbArgs *a);
int verb_snapshot_create(Context *c, VerbArgs *a);
int verb_snapshot_list(Context *c, VerbArgs *a);
int verb_snapshot_info(Context *c, VerbArgs *a);
int verb_snapshot_dumpxml(Context *c, VerbArgs *a);
int verb_snapshot_current(Context *c, VerbArgs *a);
int verb_snapshot_revert(Context *c, VerbArgs *a);
int verb_snapshot_delete(Context *c, VerbArgs *a);

int verb_screenshot(Context *c, VerbArgs *a);
int verb_vncdisplay(Context *c, VerbArgs *a);
int verb_domdisplay(Context *c, VerbArgs *a);
/* ---- consoles (vmgmtctl-console.c) ---- */
int verb_console(Context *c, VerbArgs *a);
/* start, then the console with --console */
int verb_start(Context *c, VerbArgs *a);

/* vmgmtctl-install.c: virt-install's flags */
int verb_install(Context *c, VerbArgs *a);

/* ---- block jobs (vmgmtctl-block.c) ---- */
int verb_blockcommit(Context *c, VerbArgs *a);
int verb_blockpull(Context *c, VerbArgs *a);
int verb_blockcopy(Context *c, VerbArgs *a);
int verb_blockjob(Context *c, VerbArgs *a);
int verb_blockresize(Context *c, VerbArgs *a);

/* ---- vCPUs, memory, resource limits (vmgmtctl-tune.c) ---- */
int verb_setvcpus(Context *c, VerbArgs *a);
int verb_vcpucount(Context *c, VerbArgs *a);
int verb_setmem(Context *c, VerbArgs *a);
int verb_setmaxmem(Context *c, VerbArgs *a);
int verb_vcpupin(Context *c, VerbArgs *a);
int verb_emulatorpin(Context *c, VerbArgs *a);
int verb_iothreadinfo(Context *c, VerbArgs *a);
int verb_iothreadpin(Context *c, VerbArgs *a);
int verb_schedinfo(Context *c, VerbArgs *a);
int verb_memtune(Context *c, VerbArgs *a);
int verb_domiftune(Context *c, VerbArgs *a);
int verb_blkiotune(Context *c, VerbArgs *a);
