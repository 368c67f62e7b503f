/* qemu-command.h — turns a normalized DomainDef into qemu's argv.
 *
 * Pure: no I/O, no processes. Every value taken from XML is placed so that it
 * cannot start a new qemu option or a new key=value pair: option values are
 * escaped as qemu's option parser requires (',' doubled), and values that
 * would still be ambiguous are refused with a clear message. */
#pragma once

#include <stdbool.h>
#include "conf/domain-conf.h"
#include "driver.h"
#include "json-util.h"

typedef struct QemuCommandCtx {
        const char *emulator;          /* argv[0]; def->emulator when NULL */
        const char *qmp_socket_path;   /* QMP monitor: -chardev socket,...,server=on,wait=off + -mon control */
        const char *vnc_socket_path;   /* for <graphics type='vnc'> without an explicit TCP listen/port */
        bool kvm_usable;               /* type='kvm' requires it; false → error for kvm domains */
        /* fds already opened by the runtime and passed to qemu (later issues: taps);
         * indexed like def->nets; -1 when none. May be NULL. */
        const int *net_fds;
        /* <channel type='unix'> without <source path=>: the socket is created
         * as channel_dir/TARGET_NAME (e.g. …/org.qemu.guest_agent.0). May be NULL. */
        const char *channel_dir;
        /* Serial and console output is also written by qemu itself to
         * PREFIX-console.log (the first serial port), PREFIX-serial<i>.log (the
         * other serial ports) and PREFIX-console<i>.log (virtio consoles), so
         * nothing is lost while nobody reads the console. NULL: no log files. */
        const char *chardev_log_prefix;
        /* The host files the definition names (domain_def_host_paths()),
         * opened by the service: the command line names none of their paths,
         * only fds (-add-fd and /dev/fdset/N for what qemu's block layer,
         * rng and log files open; /proc/self/fd/N of sealed copies for
         * -kernel, -initrd and -bios; fd= of chardev sockets). A path without
         * a file is refused. pass_fd(pass_fd_userdata, fd) records that qemu
         * gets fd and returns its number there (3, 4, … as the runtime passes
         * them on), or -1. */
        const DriverFiles *files;
        int (*pass_fd)(void *userdata, int fd);
        void *pass_fd_userdata;
        /* The runtime opens the chardev log files (its own, outside the run
         * dir): returns an fd for `path` (appended to, created 0600; the
         * runtime keeps it until qemu has it), or -errno. NULL: qemu is given
         * the paths. */
        int (*open_log)(void *userdata, const char *path);
        /* The runtime makes a sealed copy of a network disk's secret (its
         * <auth>, filled in by the service): returns an fd it keeps until
         * qemu has it (a secret object reads it as /proc/self/fd/N: the key
         * is neither on the command line nor in a file), or -errno. NULL:
         * disks with <auth> are refused. */
        int (*open_secret)(void *userdata, const uint8_t *value, size_t len);
        bool incoming_defer;           /* -incoming defer: the guest's state comes over QMP (a restore) */
        /* <tpm><backend type='emulator'>: the control socket of the domain's swtpm as qemu
         * reaches it (-chardev socket,path=…: qemu 7.2's tpm-emulator hands swtpm its data
         * channel over it with SCM_RIGHTS, which a chardev given as fd= cannot). NULL: refused. */
        const char *tpm_socket_path;
} QemuCommandCtx;

/* Builds the full argv (NULL-terminated, each string malloc'd; free with
 * strv_free or g_strfreev). The command line always has -S, -nodefaults,
 * -no-user-config, -sandbox on, the QMP monitor, -no-shutdown (the driver
 * applies on_poweroff itself) and -action reboot=shutdown when on_reboot is
 * destroy (the driver lifts it with set-action around a fake reboot's reset).
 * Returns 0, or -EOPNOTSUPP with *ret_error (malloc'd) saying what in the
 * definition cannot be run (e.g. "CPU mode 'host-passthrough' needs KVM but
 * the domain type is 'qemu' (TCG)"), or -ENOMEM. */
int qemu_command_build(const DomainDef *def, const QemuCommandCtx *ctx, char ***ret_argv, char **ret_error);

/* Names the runtime can rely on (QMP query-chardev, device_del, balloon, …):
 *   chardevs  charmonitor; charserial<i>, charconsole<i> (virtio consoles only),
 *             charchannel<i> — i is the index in def->serials/consoles/channels
 *   devices   serial<i>, console<i>, channel<i>, net<i> or the interface's user alias (netdev hostnet<i>),
 *             input<i>, video<i>, rng<i> (object objrng<i>), balloon0, tpm0 (tpmdev tpm-tpm0, chardev chrtpm);
 *             disks: the user alias when given, else virtio-disk<N> / ide0-<bus>-<unit> /
 *             sata<ctrl>-0-<unit> / scsi<ctrl>-0-<target>-<unit> (N from the target name),
 *             block nodes disk<i>-storage and disk<i>-format (i = index in def->disks;
 *             an empty cdrom has none);
 *             controllers pci.<index>, usb (index 0) / usb<index>, scsi<index>,
 *             virtio-serial<index>, sata<index> (sata0 on q35 is the built-in "ide").
 * Not on the command line, for the runtime to apply over QMP after start:
 * the VNC password (-vnc …,password=on; set_password), currentMemory below
 * memory (balloon), and on_poweroff/on_reboot/on_crash beyond -action reboot=shutdown. */

/* Appends s to a qemu option value with ',' doubled. Returns a malloc'd string. */
char *qemu_escape_option_value(const char *s);

/* True when qemu serves <graphics> g (VNC) on ctx->vnc_socket_path, the
 * run-dir socket: no listen address, no fixed port, no listen type 'socket'
 * or 'none'. TCP only when the XML asks for an address or a port. */
bool qemu_graphics_uses_run_dir_socket(const DomainGraphicsDef *g);

/* ---- network disks (<disk type='network'>, qemu-command-storage.c) ---- */

/* The protocol node of network disk d (nbd, iscsi, nfs, rbd, gluster) named `node`, as
 * -blockdev JSON or blockdev-add's arguments: secret_id names the secret object holding
 * its <auth>'s password or key (NULL: no <auth>), socket_fd the fd of an nbd server's unix
 * socket as qemu knows it (its number on the command line, a getfd name over QMP).
 * Returns it, or NULL with *ret_error (malloc'd) saying what qemu cannot do. */
JsonValue *qemu_disk_network_node(const DomainDiskDef *d, const char *node, const char *secret_id, const char *socket_fd,
                                  char **ret_error);
/* A sealed memfd holding value (for a secret object's file=/proc/self/fd/N), or -errno. */
int qemu_secret_memfd(const uint8_t *value, size_t len);
