/* qemu-driver-internal.h — the QEMU runtime driver's objects, shared by qemu-driver.c
 * (the DomainDriverOps surface), qemu-process.c (spawning, supervision, run files)
 * and qemu-process-monitor.c (the QMP conversation and the state machine). */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "driver.h"
#include "qmp.h"
#include "spawn-util.h"

#define QEMU_QMP_CONNECT_TIMEOUT_USEC (30u * 1000000u)    /* qemu start-up under a loaded TCG host */
#define QEMU_RECONNECT_TIMEOUT_USEC (5u * 1000000u)
#define QEMU_KILL_TIMEOUT_USEC (5u * 1000000u)             /* SIGTERM → SIGKILL */
#define QEMU_GRACEFUL_TIMEOUT_USEC (10u * 1000000u)        /* graceful destroy gives up */

typedef struct QemuDriver {
        DomainDriver base;
        sd_event *event;
        VmPaths paths;
        DomainDriverEvents events;
        char *run_dir;          /* run_dir/qemu: UUID.status, UUID.qmp, UUID.vnc */
        char *log_dir;          /* log_dir/qemu: NAME.log */
        char *cache_dir;        /* state_dir/qemu: capability cache */
        int run_dir_fd;         /* O_PATH, to reach sockets whose path is too long for sun_path */
        GHashTable *caps;       /* emulator path → QemuCaps* */
        GHashTable *emulators;  /* arch → emulator path */
        GHashTable *probes;     /* emulator path → CapsProbeJob* (a probe under way and who waits for it) */
        GHashTable *probe_failures; /* emulator path → its synchronous probe's error (start-up only) */
        GHashTable *domcaps;    /* emulator realpath → QemuDomCapsAnswers* (qemu-domcaps.c: its QMP answers) */
        DriverRuntime *runtimes;
        unsigned n_reconnecting;        /* recovered runtimes whose monitor is not back yet */
        void (*recovered_fn)(void *userdata);   /* when_recovered() */
        void *recovered_userdata;

        /* log rotation (qemu-process-log.c) */
        DriverLogRotation log_rot_console, log_rot_qemu;
        uint64_t log_rotate_interval_usec;
        sd_event_source *log_rotate_timer;
        GThread *log_rotate_thread;     /* the round under way or finished, not yet joined */
        gint log_rotate_done;           /* set by the worker when it finished */
        struct RotateJob *log_rotate_job; /* that round's files and how far it got; freed at the join */
        GHashTable *log_rotate_unsupported; /* paths whose file system cannot collapse ranges: not rotated live */

        uint64_t screenshot_stall_usec; /* qemu-graphics.c: a Screenshot whose reader takes nothing this long fails (0: 30 s) */
        uint64_t probe_timeout_usec;    /* each run of an emulator being probed may take this long (0: QEMU_CAPS_PROBE_TIMEOUT_USEC_DEFAULT) */

        /* confinement (qemu-confine.c): off until set_confinement says otherwise */
        bool confine;
        bool confine_fixed;             /* one user for every domain: confine_uid/confine_gid */
        uid_t confine_uid_min, confine_uid_max;
        uid_t confine_uid;
        gid_t confine_gid;
} QemuDriver;

typedef enum QemuOpKind {
        QEMU_OP_GENERIC,        /* done with the QMP reply */
        QEMU_OP_SUSPEND,        /* done with the reply to "stop", after the PAUSED report */
        QEMU_OP_RESUME,         /* done with the reply to "cont", after the RUNNING report */
        QEMU_OP_DESTROY,        /* done when the process is gone */
        QEMU_OP_RESET,          /* done with the reply to "system_reset", after a stop it causes has begun */
} QemuOpKind;

typedef struct QemuTpm QemuTpm;   /* qemu-tpm.c */

typedef struct QemuOp {
        DriverRuntime *rt;
        QemuOpKind kind;
        bool graceful;
        DriverDoneFn done;
        void *userdata;
        struct QemuOp *next;
        /* Frees userdata when the runtime is freed with the op pending (driver
         * teardown: done is not called then). NULL: nothing to free. */
        void (*abandon)(void *userdata);
} QemuOp;

/* Someone who follows a runtime's monitor: the long operations (save, dump,
 * snapshots, block jobs), each in its own file, see every QMP event and learn
 * when the process goes. */
typedef struct QemuListener {
        /* every QMP event, after the state machine handled it */
        void (*event)(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata);
        /* The runtime goes away: exited = true, the process is gone (finish the
         * operation with a failure: its done is still wanted); false, driver
         * teardown (call nothing back, free what is yours). The listener is
         * removed by then. */
        void (*gone)(DriverRuntime *rt, bool exited, void *userdata);
        void *userdata;
        struct QemuListener *next;
} QemuListener;

struct DriverRuntime {
        QemuDriver *driver;
        DriverRuntime *prev, *next;
        void *owner;
        DomainDef *def;                 /* live definition: id, pty paths */
        char *def_xml;                  /* def formatted for the status file; NULL after def changed */
        char uuid[37];
        char *status_path;
        char *run_dir;                  /* run_dir/UUID: qemu's own sockets, owned by its uid */
        char *qmp_file;                 /* absolute path, for unlink */
        char *qmp_connect_path;         /* what fits sun_path: absolute or via /proc/self/fd */
        char *vnc_file;
        char *vnc_connect_path;         /* what fits sun_path, as qmp_connect_path */
        char *channel_dir;              /* unix sockets of <channel>s without a path */
        bool legacy_run_files;          /* recovered from a vmgmtd that kept them in the driver's run dir */
        char *log_path;
        char *log_prefix;               /* log_dir/qemu/NAME: chardev logs are PREFIX-console.log, … */

        pid_t pid;
        int pidfd;
        uint64_t pid_starttime;         /* /proc/PID/stat field 22, detects pid reuse */
        uint64_t start_time_usec;
        int id;

        /* confinement (qemu-confine.c), kept in the status file */
        bool confined;
        uid_t uid;
        gid_t gid;
        char **cgroups;                 /* its own cgroup, one directory per hierarchy; NULL: none */

        DomainState state;
        const char *reason;             /* static string */

        Qmp *qmp;
        sd_event_source *pid_source, *kill_timer;
        sd_event_source *save_source;   /* deferred status write after a state change */

        /* start-up */
        bool starting;
        bool start_paused;
        unsigned start_step;            /* post-launch QMP settings done so far */
        int vnc_listen_fd;              /* the VNC socket the definition names, bound by vmgmtd, until qemu has it; -1 */
        DriverDoneFn start_done;
        void *start_userdata;
        int start_error;
        char *start_error_message;

        /* guest life */
        bool got_shutdown;              /* SHUTDOWN seen: the exit that follows is a shutdown */
        bool fake_reboot;               /* Reboot requested: on SHUTDOWN reset + cont instead of kill */
        bool in_fake_reboot;            /* system_reset + cont in flight: RESUME/STOP are ours */
        unsigned n_suspending;          /* "stop" commands in flight: a STOP is the user's */
        unsigned n_resetting;           /* "system_reset" commands in flight */
        bool stop_after_reset;          /* a Reset became a shutdown (on_reboot=destroy): stop at its reply */
        bool io_error_pending;          /* BLOCK_IO_ERROR (action stop) seen: the next STOP is an I/O error */

        /* being killed: what to report when the process is gone */
        bool killing;
        bool kill_forced;               /* SIGKILL will follow SIGTERM */
        const char *stop_reason;        /* shutoff reason */
        const char *stop_detail;        /* STOPPED detail */

        QemuOp *ops;
        QemuListener *listeners;
        /* > 0 while an operation stops and restarts the guest's CPUs itself (a
         * save, a dump, a snapshot): qemu's STOP and RESUME are its own, not the
         * user's, and the operation reports the states it causes. */
        unsigned job_owns_pause;

        /* save, restore, dump (qemu-save.c) */
        struct QemuRestoreJob *restore_job;     /* a start from a save image */
        bool incoming_pending;                  /* its stream is still to be read in (a start-up step) */
        bool restored;                          /* it was: reason and event detail "restored" */
        bool reconnecting;                      /* recovered: its monitor's state not resynced yet */
        bool from_snapshot;                     /* a revert's start: reason and event detail "from-snapshot" */
        struct QemuStateJob *state_job;         /* a save or dump under way */
        struct QemuMigIn *mig_in;               /* qemu-migrate.c: an incoming migration (destination) */
        struct QemuMigJob *mig_job;             /* qemu-migrate.c: an outgoing one (source) */
        uint64_t mig_bandwidth;                 /* migrate-setspeed's bytes/s for the next ones (0: unlimited) */

        /* block jobs (qemu-blockjob.c): the status lines of those a restarted
         * vmgmtd found, or that outlived their BlockJob (teardown), until adopted */
        char **blockjob_records;

        QemuTpm *tpm;                   /* qemu-tpm.c: the emulated TPM's swtpm; NULL when none was started */
};

/* ---- qemu-process.c ---- */

/* Spawns qemu for rt (argv built, log written) and starts watching it. */
int qemu_process_spawn(DriverRuntime *rt, char **argv, char **ret_error);
/* The same, with fds[i] (taps) as fd 3+i in qemu (argv names them so). */
int qemu_process_spawn_fds(DriverRuntime *rt, char **argv, const int *fds, size_t n_fds, char **ret_error);
/* The last line of a log file (of qemu, swtpm), what explains a failure; NULL when none. malloc'd. */
char *qemu_log_last_line(const char *path);
/* Watches rt->pidfd for the process exit. */
int qemu_process_watch(DriverRuntime *rt);
/* Sends SIGTERM (and SIGKILL after a timeout unless graceful); the exit is
 * reported as STOPPED/detail with shutoff reason `reason`. */
int qemu_process_kill(DriverRuntime *rt, bool graceful, const char *reason, const char *detail);
/* Kills at once (SIGKILL); used when a start fails. */
void qemu_process_kill_now(DriverRuntime *rt);
/* Fails the start: kills qemu; done(error, message) is called once it is gone. */
void qemu_process_start_failed(DriverRuntime *rt, int error, const char *message);

/* Updates state/reason, persists the status file and reports it (in this order). */
void qemu_runtime_set_state(DriverRuntime *rt, DomainState state, const char *reason,
                            DomainEventType event, const char *detail);
/* Writes run_dir/qemu/UUID.status atomically. */
int qemu_runtime_save_status(DriverRuntime *rt);
/* Loads a status file: the runtime with pid/state/flags and its live def (not yet watched). */
int qemu_runtime_load_status(QemuDriver *d, const char *path, DriverRuntime **ret);
/* Allocates a runtime for def (taken) and computes its run file names. */
int qemu_runtime_new(QemuDriver *d, DomainDef *def, DriverRuntime **ret);
/* Frees without any report (driver teardown, failed start). */
DriverRuntime *qemu_runtime_free(DriverRuntime *rt);
/* A recovered runtime's monitor answered (or will not): counts for when_recovered(). */
void qemu_runtime_reconnect_over(DriverRuntime *rt);
/* Names rt's socket files: in rt->run_dir, or (legacy) as UUID.qmp, … in the driver's. */
void qemu_runtime_set_run_files(DriverRuntime *rt, bool legacy);
/* Removes status/socket files, the run dir and the cgroup. */
void qemu_runtime_remove_files(DriverRuntime *rt);
/* Appends "TIMESTAMP: text" to the domain log. */
void qemu_runtime_log(DriverRuntime *rt, const char *fmt, ...) _printf_(2, 3);
/* Start time of a process (clock ticks since boot), 0 if it is gone. */
uint64_t qemu_process_starttime(pid_t pid);

/* Completes and frees ops of `kind` (all kinds when kind < 0). */
void qemu_runtime_complete_ops(DriverRuntime *rt, int kind, int r, const char *message);
QemuOp *qemu_op_new(DriverRuntime *rt, QemuOpKind kind, DriverDoneFn done, void *userdata);
void qemu_op_complete(QemuOp *op, int r, const char *message);

/* Adds a listener (copied) to rt; removes the one with the same fns and userdata. */
int qemu_runtime_add_listener(DriverRuntime *rt, const QemuListener *l);
void qemu_runtime_remove_listener(DriverRuntime *rt, const QemuListener *l);

/* ---- qemu-confine.c ---- */

/* DomainDriverOps.set_confinement and .security */
int qemu_driver_set_confinement(DomainDriver *d, const DriverConfinement *c, char **ret_error);
void qemu_driver_security(DomainDriver *d, DriverRuntime *rt, DriverSecurity *ret);
/* Before a start: rt's uid/gid (when the driver confines), its run dir
 * (0700, owned by that uid, with the channel dir) and its cgroup. Returns 0
 * or a negative errno with *ret_error (malloc'd) naming what failed. */
int qemu_confine_prepare(DriverRuntime *rt, char **ret_error);
/* Runs argv for rt: confined (qemu_confine_prepare made it so) in a root of
 * its own as its uid, else as spawn_child() does. */
int qemu_confine_spawn(DriverRuntime *rt, char **argv, const SpawnOptions *o, pid_t *ret_pid, char **ret_error);
/* Runs a helper program of rt (swtpm) as qemu runs, as rt's uid in a root of its own, which
 * holds /usr, the loader's files, harmless devices, a proc, its /tmp (rt's run dir's tmp) and
 * the directories `dirs` (NULL-terminated, writable, at their own paths); not confined when
 * rt is not. No cgroup. As spawn_child(): 0 with *ret_pid and *ret_pidfd, or -errno with
 * *ret_error (malloc'd). */
int qemu_confine_spawn_helper(DriverRuntime *rt, char **argv, const SpawnOptions *o, const char *const *dirs,
                              pid_t *ret_pid, int *ret_pidfd, char **ret_error);
/* Removes rt's cgroup (its processes are gone). */
void qemu_confine_release(DriverRuntime *rt);

/* ---- qemu-tpm.c: <tpm><backend type='emulator'> ---- */

/* The path of swtpm's control socket as qemu gets it (malloc'd; NULL: rt has no emulated TPM). */
char *qemu_tpm_socket_arg(DriverRuntime *rt);
/* After qemu_confine_prepare(), before qemu is spawned: the state dir (rt's uid's), the control
 * socket, and swtpm, or (first start) the manufacture of the state, after which swtpm starts; a
 * failure then fails the start. 0 (also without an emulated TPM), or -errno with *ret_error. */
int qemu_tpm_start(DriverRuntime *rt, char **ret_error);
/* qemu is gone (or never ran): swtpm and a manufacture under way end, the socket goes. */
void qemu_tpm_stop(DriverRuntime *rt);
/* Frees rt's TPM without stopping swtpm (driver teardown). */
void qemu_tpm_free(DriverRuntime *rt);
/* The status file's swtpm_pid= and swtpm_starttime= lines; a restarted daemon takes that swtpm
 * back (when it still runs under that pid). */
void qemu_tpm_format_status(DriverRuntime *rt, GString *s);
void qemu_tpm_adopt(DriverRuntime *rt, pid_t pid, uint64_t starttime);
/* DomainDriverOps.tpm_state_remove and .tpm_state_copy */
int qemu_tpm_state_remove(DomainDriver *d, const unsigned char uuid[16]);
int qemu_tpm_state_copy(DomainDriver *d, const unsigned char from[16], const unsigned char to[16], char **ret_error);

/* ---- qemu-process-monitor.c ---- */

/* Connects QMP for a fresh start (query-chardev, cont) or a recovered process (query-status). */
int qemu_monitor_connect(DriverRuntime *rt, bool recovering);
/* Sends a command for an op; completion follows the op's kind. */
int qemu_monitor_op(DriverRuntime *rt, const char *command, QemuOpKind kind, DriverDoneFn done, void *userdata);

/* ---- qemu-graphics.c ---- */

/* Puts where the VNC server listens into the live definition: the run-dir
 * socket of a <graphics> without a TCP address. Called at start. */
void qemu_graphics_set_live(DriverRuntime *rt);
/* Asks qemu for the TCP port it picked for an autoport VNC server and puts it
 * into the live definition (the reply comes before that of any later command). */
void qemu_graphics_query_port(DriverRuntime *rt);
/* Keeps a duplicate of the listening socket the service bound for a
 * <graphics><listen type='socket' socket=PATH/> (files' DOMAIN_PATH_GRAPHICS)
 * in rt->vnc_listen_fd for qemu_graphics_send_listen_fd(). 0 (also when there
 * is none), -errno. */
int qemu_graphics_keep_listen_fd(DriverRuntime *rt, const DriverFiles *files);
/* A start step: hands rt->vnc_listen_fd to qemu (getfd) and has its VNC
 * server listen on it beside the run-dir socket (display-update); closes
 * rt->vnc_listen_fd. done(…, rt) gets display-update's reply. 1 when sent, 0
 * with nothing to send (done not called), -errno. */
int qemu_graphics_send_listen_fd(DriverRuntime *rt, QmpReplyFn done);
/* Removes every screendump file in the run dir: what a daemon that died during a Screenshot left. */
void qemu_graphics_sweep_screendumps(QemuDriver *d);
/* DomainDriverOps.set_screenshot_stall_timeout */
void qemu_graphics_set_stall_timeout(DomainDriver *d, uint64_t usec);
int qemu_graphics_open(DriverRuntime *rt, unsigned index,
                       void (*done)(void *userdata, int r, int fd, const char *message), void *userdata);
int qemu_graphics_screenshot(DriverRuntime *rt, int fd, unsigned screen, DriverDoneFn done, void *userdata);
/* ---- qemu-process-console.c ---- */

/* The chardev a device name means ("" → the first console, "serialN",
 * "consoleN"; a serial console is serial0) and its canonical name (malloc'd;
 * ret_name may be NULL). Returns 0 or -ENODEV. */
int qemu_console_find(const DomainDef *def, const char *device, const DomainChrDef **ret, char **ret_name);
/* DomainDriverOps.console_name. */
int qemu_console_name(const DomainDef *def, const char *device, char **ret_name);
/* DomainDriverOps.open_console. */
int qemu_runtime_open_console(DriverRuntime *rt, const char *device, int *ret_fd, char **ret_device,
                              char **ret_error);

/* ---- qemu-process-log.c ---- */

/* Rotates rt's log files that reached their size by renaming them (before
 * qemu starts, when nobody holds them). */
void qemu_runtime_rotate_logs_closed(DriverRuntime *rt);
/* Creates rt's log files (qemu's and the chardevs') mode 0600 before qemu runs:
 * qemu would create the chardev logs 0666 less the umask. On failure
 * *ret_path (malloc'd) names the file. */
int qemu_runtime_create_logs(DriverRuntime *rt, char **ret_path);
/* DomainDriverOps.set_log_rotation: limits and the periodic check of running domains. */
void qemu_driver_set_log_rotation(DomainDriver *d, const DriverLogRotation *console,
                                  const DriverLogRotation *hypervisor, uint64_t interval_usec);
/* Stops the periodic check and waits for a round under way (driver teardown). */
void qemu_driver_log_rotation_done(QemuDriver *d);
/* DomainDriverOps.log_clash. */
char *qemu_driver_log_clash(DomainDriver *d, const char *name, const char *other);
char *qemu_driver_log_clash_base(DomainDriver *d, const char *name);

/* ---- qemu-blockjob.c ---- */

/* DomainDriverOps.block_job_start, .block_job_abort and .block_resize */
int qemu_block_job_start(DriverRuntime *rt, const DriverBlockJob *job, const DriverJobCallbacks *cb, DriverJob **ret,
                         char **ret_error);
int qemu_block_job_abort(DriverRuntime *rt, unsigned disk, bool pivot, char **ret_error);
int qemu_block_resize(DriverRuntime *rt, unsigned disk, uint64_t size, DriverDoneFn done, void *userdata);
/* Whether a block job runs on disk index `disk`; a disk left the live definition (hot-unplug): the
 * jobs of the disks after it follow their disk's new index. */
bool qemu_block_job_on_disk(DriverRuntime *rt, size_t disk);
void qemu_block_jobs_disk_removed(DriverRuntime *rt, size_t disk);

/* DomainDriverOps.block_jobs_adopt */
int qemu_block_jobs_adopt(DriverRuntime *rt, DriverBlockJobAdoptFn fn, void *userdata);
/* Appends a "blockjob=JSON" status line for every block job qemu runs for rt. */
void qemu_block_jobs_format_status(DriverRuntime *rt, GString *s);

/* ---- qemu-backup.c ---- */

/* DomainDriverOps.backup_disks */
int qemu_backup_disks(DriverRuntime *rt, const DriverBackupTarget *targets, size_t n, uint64_t bandwidth,
                      const DriverJobCallbacks *cb, DriverJob **ret, char **ret_error);

/* ---- qemu-save.c: save, restore, core dump ---- */

/* DomainDriverOps.save, .read_save_image, .restore, .core_dump */
int qemu_driver_save(DriverRuntime *rt, int fd, DriverSaveFlags flags, const char *header_xml,
                     const DriverJobCallbacks *callbacks, DriverJob **ret_job);
/* An external memory snapshot's stream: save()'s header (restoring as the domain is now) and migration
 * stream to fd, the CPUs stopped first unless live (then only for the stream's end); once it is complete
 * then(rt, job, then_userdata) runs with the CPUs still stopped and ends with qemu_state_job_then_done():
 * r >= 0 resumes the guest as it was and done(0); r < 0 resumes it too and done(r, message). Cancel works
 * until the stream is complete (the file is the caller's to remove). */
typedef void (*QemuStateThenFn)(DriverRuntime *rt, DriverJob *job, void *then_userdata);
int qemu_driver_save_then(DriverRuntime *rt, int fd, bool live, const char *header_xml, QemuStateThenFn then,
                          void *then_userdata, const DriverJobCallbacks *callbacks, DriverJob **ret_job);
void qemu_state_job_then_done(DriverJob *job, int r, const char *message);
int qemu_driver_read_save_image(int fd, char **ret_xml, bool *ret_running, char **ret_error);
int qemu_driver_restore(DomainDriver *d, void *owner, const DomainDef *def, int id, DriverStartFlags flags,
                        const DriverFiles *files, int image_fd, const DriverJobCallbacks *callbacks,
                        DriverRuntime **ret_rt, DriverJob **ret_job);
int qemu_driver_core_dump(DriverRuntime *rt, int fd, const DriverDumpOptions *o, const DriverJobCallbacks *callbacks,
                          DriverJob **ret_job);
/* The start-up step of a restore (rt->incoming_pending): reads the image in
 * with migrate-incoming, then qemu_monitor_start_next(), or fails the start. */
void qemu_restore_incoming(DriverRuntime *rt);

/* qemu-driver.c: start(), with -incoming defer and `restore` as rt->restore_job when not NULL. */
int qemu_driver_start_incoming(DomainDriver *base, void *owner, const DomainDef *def, int id, DriverStartFlags flags,
                               const DriverFiles *files, struct QemuRestoreJob *restore, DriverRuntime **ret_rt,
                               DriverDoneFn done, void *userdata);
/* qemu-process-monitor.c: the start-up sequence goes on (after a step of another file). */
void qemu_monitor_start_next(DriverRuntime *rt);

/* ---- qemu-snapshot.c ---- */

/* DomainDriverOps.snapshot_offline and .snapshot_live. */
int qemu_snapshot_offline(DomainDriver *d, DriverSnapshotAction action, const char *name, const int *fds,
                          size_t n_fds, const DriverJobCallbacks *cb, DriverJob **ret, char **ret_error);
int qemu_snapshot_live(DriverRuntime *rt, DriverSnapshotAction action, const char *name, const size_t *disks,
                       size_t n_disks, DriverSnapshotFlags flags, const DriverJobCallbacks *cb, DriverJob **ret,
                       char **ret_error);
int qemu_snapshot_external(DriverRuntime *rt, const DriverSnapshotOverlay *overlays, size_t n,
                           DriverSnapshotFlags flags, const DriverJobCallbacks *cb, DriverJob **ret, char **ret_error);
int qemu_snapshot_memory(DriverRuntime *rt, int fd, const char *header_xml, const DriverSnapshotOverlay *overlays,
                         size_t n, DriverSnapshotFlags flags, const DriverJobCallbacks *cb, DriverJob **ret,
                         char **ret_error);

/* ---- qemu-agent.c: the guest agent (qemu-ga) on channel org.qemu.guest_agent.0 ---- */

#define QEMU_AGENT_CHANNEL "org.qemu.guest_agent.0"

typedef struct QemuAgentCall QemuAgentCall;
/* The reply: r = 0 with ret (its "return", valid during the call), or a negative errno with message
 * (-ETIMEDOUT no answer in time, -EIO the agent's error). The call is gone already. */
typedef void (*QemuAgentDoneFn)(int r, const JsonValue *ret, const char *message, void *userdata);
/* The definition's guest agent channel, or NULL. */
const DomainChrDef *qemu_agent_channel(const DomainDef *def);
/* Runs agent command `command` (arguments taken; NULL: none) on rt's agent channel, synchronized
 * first (guest-sync-delimited), within timeout_usec. 0 and *ret (done once; cancel: done not called),
 * or a negative errno with *ret_error (-EOPNOTSUPP: no agent channel). */
int qemu_agent_call(DriverRuntime *rt, const char *command, JsonValue *arguments, uint64_t timeout_usec,
                    QemuAgentDoneFn done, void *userdata, QemuAgentCall **ret, char **ret_error);
/* Stops a call (done not called); NULL-safe, returns NULL. */
QemuAgentCall *qemu_agent_call_cancel(QemuAgentCall *c);
/* DomainDriverOps.image_offline: qemu-img on the service's fds (qemu-snapshot.c). */
int qemu_image_offline(DomainDriver *d, const DriverImageOp *ops, size_t n, const DriverJobCallbacks *cb,
                       DriverJob **ret, char **ret_error);
/* DomainDriverOps.snapshot_stop (qemu-snapshot.c). */
int qemu_snapshot_stop(DriverRuntime *rt, DriverDoneFn done, void *userdata);

/* ---- qemu-hotplug.c ---- */

/* DomainDriverOps.attach_device, .detach_device and .change_media */
int qemu_hotplug_attach(DriverRuntime *rt, DomainDeviceKind kind, const DomainDef *dev, const DriverFiles *files,
                        DriverDeviceDoneFn done, void *userdata, char **ret_error);
int qemu_hotplug_detach(DriverRuntime *rt, DomainDeviceKind kind, size_t index, DriverDeviceDoneFn done,
                        void *userdata, char **ret_error);
int qemu_hotplug_change_media(DriverRuntime *rt, size_t index, const DomainDiskDef *disk, const DriverFiles *files,
                              bool force, DriverDeviceDoneFn done, void *userdata, char **ret_error);
/* DomainDriverOps.set_net_bandwidth */
int qemu_hotplug_set_net_bandwidth(DriverRuntime *rt, size_t index, const NetworkBandwidthRate *inbound,
                                   const NetworkBandwidthRate *outbound);
/* qemu-hotplug-memory.c: attach and detach of a <memory model='dimm'> (DOMAIN_DEVICE_MEMORY) */
int qemu_hotplug_memory_attach(DriverRuntime *rt, const DomainDef *dev, DriverDeviceDoneFn done, void *userdata,
                               char **ret_error);
int qemu_hotplug_memory_detach(DriverRuntime *rt, size_t index, DriverDeviceDoneFn done, void *userdata,
                               char **ret_error);

/* qemu-hotplug-lease.c: attach and detach of a <lease> (DOMAIN_DEVICE_LEASE); its fd's name in qemu */
int qemu_hotplug_lease_attach(DriverRuntime *rt, const DomainDef *dev, const DriverFiles *files,
                              DriverDeviceDoneFn done, void *userdata, char **ret_error);
int qemu_hotplug_lease_detach(DriverRuntime *rt, size_t index, DriverDeviceDoneFn done, void *userdata,
                              char **ret_error);
void qemu_lease_fdname(const DomainLeaseDef *l, char *buf, size_t size);

/* ---- qemu-migrate.c: live migration ---- */

/* DomainDriverOps.migrate_prepare, .migrate_ports, .migrate_finish, .migrate_begin, .migrate_confirm */
int qemu_migrate_prepare(DomainDriver *d, void *owner, const DomainDef *def, int id, const DriverFiles *files,
                         const DriverMigrateIncoming *in, DriverRuntime **ret_rt, DriverDoneFn done, void *userdata);
void qemu_migrate_ports(DriverRuntime *rt, uint16_t *ret_port, uint16_t *ret_nbd_port);
int qemu_migrate_finish(DriverRuntime *rt, uint64_t timeout_usec, DriverDoneFn done, void *userdata);
int qemu_migrate_begin(DriverRuntime *rt, const DriverMigrateOptions *o, const DriverMigrateCallbacks *cb,
                       DriverJob **ret_job, char **ret_error);
void qemu_migrate_confirm(DriverJob *job, int r, const char *message);
int qemu_migrate_set_limits(DriverRuntime *rt, int64_t bandwidth, int64_t downtime_ms, DriverDoneFn done,
                            void *userdata);
int qemu_migrate_get_limits(DriverRuntime *rt, DriverMigrateLimitsFn fn, void *userdata);
/* The start-up step of an incoming migration (rt->mig_in): listens, then the start completes paused. */
void qemu_migrate_incoming_step(DriverRuntime *rt);
/* qemu-driver.c: start() with -incoming defer for an incoming migration (rt->mig_in = mig_in). */
int qemu_driver_start_migrating(DomainDriver *base, void *owner, const DomainDef *def, int id,
                                const DriverFiles *files, struct QemuMigIn *mig_in, DriverRuntime **ret_rt,
                                DriverDoneFn done, void *userdata);
