/* qemu-snapshot.c — internal snapshots: of a shut-off domain's qcow2 images with qemu-img (children of the
 * loop, each image handed over as the fd the service opened), of a running one with its memory through
 * QEMU's snapshot-save/-load/-delete jobs; external ones: overlays switched to live (blockdev-snapshot),
 * and a shut-off domain's overlays created, committed and rebased with qemu-img on the service's fds. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "qemu-disk-node.h"
#include "qemu-driver-internal.h"
#include "spawn-util.h"

/* ---- qemu-img children: the image as fd 3, stderr kept in a memfd, the exit seen on the pidfd ---- */

static int img_child_spawn_fds(sd_event *event, char **argv, const int *fds, size_t n_fds, int errfd, pid_t *pid,
                               int *pidfd, sd_event_source **src, sd_event_io_handler_t on_exit, void *userdata) {
        SpawnOptions o = SPAWN_OPTIONS_INIT;
        int r;

        if (ftruncate(errfd, 0) < 0)
                return -errno;
        o.stderr_fd = errfd;
        o.fds = fds;
        o.n_fds = n_fds;
        r = spawn_child(argv, &o, pid, pidfd);
        if (r < 0)
                return r;
        return sd_event_add_io(event, src, *pidfd, EPOLLIN, on_exit, userdata);
}

static int img_child_spawn(sd_event *event, char **argv, int fd, int errfd, pid_t *pid, int *pidfd,
                           sd_event_source **src, sd_event_io_handler_t on_exit, void *userdata) {
        return img_child_spawn_fds(event, argv, &fd, 1, errfd, pid, pidfd, src, on_exit, userdata);
}

static char *qemu_img_program(void) {
        const char *env = getenv("VMGMT_QEMU_IMG");

        return env && *env ? strdup(env) : spawn_find_program("qemu-img");
}

/* 0: not exited yet (spurious wake-up); 1: exited with status 0; -EIO: failed or killed. Reaped either way. */
static int img_child_reap(pid_t *pid, int *pidfd, sd_event_source **src) {
        siginfo_t si = {};

        if (waitid((idtype_t) P_PIDFD, (id_t) *pidfd, &si, WEXITED | WNOHANG) < 0) {
                if (errno == EINTR)
                        return 0;
                si.si_code = CLD_KILLED;
        } else if (si.si_pid == 0)
                return 0;
        *src = sd_event_source_disable_unref(*src);
        close(*pidfd);
        *pidfd = -1;
        *pid = 0;
        return si.si_code == CLD_EXITED && si.si_status == 0 ? 1 : -EIO;
}

/* ---- offline: qemu-img snapshot on each image ---- */

typedef struct OfflineJob {
        DriverJob base;                 /* first: the handle the service holds */
        sd_event *event;
        DriverSnapshotAction action;
        char *name;
        int *fds;
        size_t n_fds;
        size_t next;                    /* the image being worked on */
        size_t undo;                    /* rolling back a cancelled create: images left to undo */
        bool cancelled, undoing;
        pid_t pid;
        int pidfd, errfd;
        sd_event_source *exit_source;
        DriverJobCallbacks cb;
        char *qemu_img;
        int error;
        char *message;
} OfflineJob;

static void offline_free(OfflineJob *j) {
        sd_event_source_disable_unref(j->exit_source);
        spawn_kill_reap(j->event, j->pid, j->pidfd);
        if (j->errfd >= 0)
                close(j->errfd);
        for (size_t i = 0; i < j->n_fds; i++)
                if (j->fds[i] >= 0)
                        close(j->fds[i]);
        g_free(j->fds);
        sd_event_unref(j->event);
        free(j->name);
        free(j->qemu_img);
        free(j->message);
        g_free(j);
}

static void offline_finish(OfflineJob *j, int r, const char *message) {
        DriverJobCallbacks cb = j->cb;
        _cleanup_free_ char *m = message ? strdup(message) : NULL;

        offline_free(j);
        cb.done(cb.userdata, r, m);
}

static int offline_run(OfflineJob *j, const char *flag, int fd);

static char *read_errfd(int fd) {
        char buf[2048];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

        buf[n > 0 ? n : 0] = 0;
        g_strstrip(buf);
        return strdup(buf);
}

static int offline_step(OfflineJob *j) {
        static const char *const flags[] = { [DRIVER_SNAPSHOT_CREATE] = "-c", [DRIVER_SNAPSHOT_REVERT] = "-a",
                                             [DRIVER_SNAPSHOT_DELETE] = "-d" };

        if (j->undoing) {
                if (j->undo == 0) {
                        offline_finish(j, -ECANCELED, "snapshot cancelled; the images are as they were");
                        return 0;
                }
                return offline_run(j, "-d", j->fds[--j->undo]);
        }
        if (j->cancelled && j->action == DRIVER_SNAPSHOT_CREATE) {
                j->undoing = true;
                j->undo = j->next;
                return offline_step(j);
        }
        if (j->next >= j->n_fds) {
                offline_finish(j, 0, NULL);
                return 0;
        }
        if (j->cb.progress)
                j->cb.progress(j->cb.userdata, j->next, j->n_fds);
        return offline_run(j, flags[j->action], j->fds[j->next]);
}

static int on_offline_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        OfflineJob *j = userdata;
        int r;

        r = img_child_reap(&j->pid, &j->pidfd, &j->exit_source);
        if (r == 0)
                return 0;
        if (r < 0) {
                _cleanup_free_ char *err = read_errfd(j->errfd);
                _cleanup_free_ char *m = g_strdup_printf("qemu-img snapshot failed on disk %zu: %s",
                                                         j->undoing ? j->undo : j->next,
                                                         !isempty(err) ? err : "it was killed");
                if (!j->undoing) {
                        /* a create that failed on one image takes back what the others got */
                        if (j->action == DRIVER_SNAPSHOT_CREATE && j->next > 0) {
                                j->undoing = true;
                                j->undo = j->next;
                                j->error = -EIO;
                                j->message = TAKE_PTR(m);
                                r = offline_step(j);
                                if (r < 0)
                                        offline_finish(j, r, "cannot run qemu-img");
                                return 0;
                        }
                        offline_finish(j, -EIO, m);
                        return 0;
                }
                log_warning("%s", m);   /* undo goes on with the other images */
        }
        if (!j->undoing)
                j->next++;
        else if (j->undo == 0 && j->error < 0) {
                _cleanup_free_ char *m = TAKE_PTR(j->message);
                offline_finish(j, j->error, m);
                return 0;
        }
        r = offline_step(j);
        if (r < 0)
                offline_finish(j, r, "cannot run qemu-img");
        return 0;
}

static int offline_run(OfflineJob *j, const char *flag, int fd) {
        const char *filename = "json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"/proc/self/fd/3\"}}";
        char *argv[] = { j->qemu_img, (char *) "snapshot", (char *) "-q", (char *) flag, j->name, (char *) filename, NULL };

        return img_child_spawn(j->event, argv, fd, j->errfd, &j->pid, &j->pidfd, &j->exit_source, on_offline_exit, j);
}

static void offline_cancel(DriverJob *base) {
        OfflineJob *j = (OfflineJob *) base;

        /* the image under work is finished (a half-written snapshot table is worse), then undone */
        j->cancelled = true;
}

int qemu_snapshot_offline(DomainDriver *drv, DriverSnapshotAction action, const char *name, const int *fds,
                          size_t n_fds, const DriverJobCallbacks *cb, DriverJob **ret, char **ret_error) {
        QemuDriver *d = (QemuDriver *) drv;
        OfflineJob *j;
        int r;

        if (n_fds == 0) {
                *ret_error = strdup("no disk image to snapshot");
                return -EINVAL;
        }
        j = g_new0(OfflineJob, 1);
        j->base.cancel = offline_cancel;
        j->event = sd_event_ref(d->event);
        j->action = action;
        j->name = strdup(name);
        j->cb = *cb;
        j->pidfd = j->errfd = -1;
        j->fds = g_new(int, n_fds);
        for (size_t i = 0; i < n_fds; i++)
                j->fds[i] = -1;
        j->n_fds = n_fds;
        j->qemu_img = qemu_img_program();
        if (!j->qemu_img) {
                offline_free(j);
                *ret_error = strdup("qemu-img is not installed");
                return -EOPNOTSUPP;
        }
        for (size_t i = 0; i < n_fds; i++) {
                j->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
                if (j->fds[i] < 0) {
                        r = -errno;
                        offline_free(j);
                        *ret_error = strdup("cannot duplicate an image's fd");
                        return r;
                }
        }
        j->errfd = memfd_create("qemu-img-stderr", MFD_CLOEXEC);
        r = j->errfd < 0 ? -errno : offline_step(j);
        if (r < 0) {
                offline_free(j);
                *ret_error = g_strdup_printf("cannot run qemu-img: %s", strerror(-r));
                return r;
        }
        *ret = &j->base;
        return 0;
}

/* ---- live: QEMU's snapshot jobs ---- */

/* Whether rt's monitor takes a snapshot job now: -EBUSY still starting, -ESRCH being stopped. */
static int runtime_check(DriverRuntime *rt, char **ret_error) {
        if (rt->starting || rt->killing || !rt->qmp || !qmp_is_ready(rt->qmp)) {
                *ret_error = strdup(rt->starting ? "the domain is still starting" : "the domain is being stopped");
                return rt->starting ? -EBUSY : -ESRCH;
        }
        return 0;
}

typedef struct LiveJob {
        DriverJob base;
        DriverRuntime *rt;
        DriverSnapshotAction action;    /* what is running now (a cancelled create runs a delete) */
        DriverSnapshotFlags flags;
        char *name;
        char job_id[64];
        JsonValue *devices;             /* the format nodes taking part */
        char *vmstate;
        bool cancelled, rolling_back, owns_pause, was_running;
        DriverJobCallbacks cb;
        QemuListener listener;
        sd_event_source *progress_timer;   /* asks qemu how far its job is */
        bool progress_pending;          /* a query-jobs reply is still to come: it frees a finished job */
        bool finished;
        int error;
        char *message;
} LiveJob;

#define LIVE_PROGRESS_INTERVAL_USEC (500u * 1000u)

static unsigned live_counter;

static void live_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata);
static void live_gone(DriverRuntime *rt, bool exited, void *userdata);

static void live_free(LiveJob *j) {
        sd_event_source_disable_unref(j->progress_timer);
        if (j->owns_pause && j->rt->job_owns_pause > 0)
                j->rt->job_owns_pause--;
        json_decref(j->devices);
        free(j->vmstate);
        free(j->name);
        free(j->message);
        g_free(j);
}

static void live_finish(LiveJob *j, int r, const char *message) {
        DriverJobCallbacks cb = j->cb;
        _cleanup_free_ char *m = message ? strdup(message) : NULL;

        if (j->progress_pending) {
                /* the reply still names j: it frees it (qemu answers in order, the runtime outlives it) */
                j->finished = true;
                j->progress_timer = sd_event_source_disable_unref(j->progress_timer);
                if (j->owns_pause && j->rt->job_owns_pause > 0)
                        j->rt->job_owns_pause--;
                j->owns_pause = false;
        } else {
                qemu_runtime_remove_listener(j->rt, &j->listener);
                live_free(j);
        }
        cb.done(cb.userdata, r, m);
}

static int live_start(LiveJob *j);

static void live_settled(LiveJob *j) {
        if (j->rolling_back) {
                live_finish(j, -ECANCELED, "snapshot cancelled; the domain is as it was");
                return;
        }
        if (j->error < 0) {
                _cleanup_free_ char *m = TAKE_PTR(j->message);
                live_finish(j, j->error, m);
                return;
        }
        if (j->cancelled && j->action == DRIVER_SNAPSHOT_CREATE) {
                /* made before the cancel was seen: taken back */
                j->rolling_back = true;
                j->action = DRIVER_SNAPSHOT_DELETE;
                if (live_start(j) < 0)
                        live_finish(j, -EIO, "cannot delete the cancelled snapshot");
                return;
        }
        live_finish(j, 0, NULL);
}

static void cont_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        LiveJob *j = userdata;

        if (r < 0) {
                j->error = r;
                free(j->message);
                j->message = g_strdup_printf("reverted, but the CPUs could not be %s: %s",
                                             j->flags & DRIVER_SNAPSHOT_PAUSED ? "stopped" : "started", strempty(error));
        }
        if (j->flags & DRIVER_SNAPSHOT_PAUSED)
                qemu_runtime_set_state(j->rt, DOMAIN_STATE_PAUSED, "from-snapshot", DOMAIN_EVENT_SUSPENDED,
                                       "from-snapshot");
        else
                qemu_runtime_set_state(j->rt, DOMAIN_STATE_RUNNING, "from-snapshot", DOMAIN_EVENT_STARTED,
                                       "from-snapshot");
        live_settled(j);
}

/* After a load: qemu resumed the CPUs when they ran before; the revert's flags say how to leave them. */
static void query_status_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        LiveJob *j = userdata;
        bool running = false, want_paused = j->flags & DRIVER_SNAPSHOT_PAUSED;
        const char *cmd;

        if (r >= 0)
                (void) json_util_boolean(json_object_get(ret, "running"), &running);
        if (running == !want_paused) {
                cont_reply(q, 0, NULL, NULL, j);
                return;
        }
        cmd = want_paused ? "stop" : "cont";
        if (qmp_send(j->rt->qmp, cmd, NULL, cont_reply, j) < 0)
                cont_reply(q, -EIO, NULL, "the monitor is gone", j);
}

static void dismiss_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        LiveJob *j = userdata;

        if (j->action == DRIVER_SNAPSHOT_REVERT && j->error >= 0) {
                if (qmp_send(j->rt->qmp, "query-status", NULL, query_status_reply, j) < 0)
                        query_status_reply(q, -EIO, NULL, NULL, j);
                return;
        }
        live_settled(j);
}

static void query_jobs_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        LiveJob *j = userdata;
        JsonValue *args;

        for (size_t i = 0; r >= 0 && i < json_array_size(ret); i++) {
                const JsonValue *e = json_array_get(ret, i);
                const char *err;

                if (!streq_ptr(json_util_member_string(e, "id"), j->job_id))
                        continue;
                err = json_util_member_string(e, "error");
                if (err && !j->rolling_back) {
                        j->error = -EIO;
                        free(j->message);
                        j->message = strdup(err);
                }
        }
        args = json_object();
        json_object_set_new(args, "id", json_string(j->job_id));
        if (qmp_send(j->rt->qmp, "job-dismiss", args, dismiss_reply, j) < 0)
                dismiss_reply(q, -EIO, NULL, NULL, j);
}

static void live_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
        LiveJob *j = userdata;

        if (j->finished)
                return;
        if (!streq(name, "JOB_STATUS_CHANGE") || !streq_ptr(json_util_member_string(data, "id"), j->job_id))
                return;
        if (!streq_ptr(json_util_member_string(data, "status"), "concluded"))
                return;
        if (qmp_send(rt->qmp, "query-jobs", NULL, query_jobs_reply, j) < 0)
                live_finish(j, -EIO, "the monitor is gone");
}

static void live_gone(DriverRuntime *rt, bool exited, void *userdata) {
        LiveJob *j = userdata;

        if (!exited || j->finished) {   /* teardown, or done already: nothing more to say */
                live_free(j);
                return;
        }
        {
                DriverJobCallbacks cb = j->cb;
                live_free(j);
                cb.done(cb.userdata, -ESRCH, "the domain stopped during the snapshot");
        }
}

/* qemu's current-progress/total-progress of the job (units of its own) as the job's progress. */
static void progress_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        LiveJob *j = userdata;

        j->progress_pending = false;
        if (j->finished) {
                qemu_runtime_remove_listener(j->rt, &j->listener);
                live_free(j);
                return;
        }
        for (size_t i = 0; r >= 0 && i < json_array_size(ret); i++) {
                const JsonValue *e = json_array_get(ret, i);
                int64_t cur = 0, total = 0;

                if (!streq_ptr(json_util_member_string(e, "id"), j->job_id) || !j->cb.progress)
                        continue;
                (void) json_util_integer(json_object_get(e, "current-progress"), &cur);
                (void) json_util_integer(json_object_get(e, "total-progress"), &total);
                if (total > 0 && cur >= 0)
                        j->cb.progress(j->cb.userdata, (uint64_t) cur, (uint64_t) total);
        }
}

static int on_progress_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        LiveJob *j = userdata;

        if (!j->progress_pending && j->rt->qmp && qmp_send(j->rt->qmp, "query-jobs", NULL, progress_reply, j) >= 0)
                j->progress_pending = true;
        (void) sd_event_source_set_time_relative(s, LIVE_PROGRESS_INTERVAL_USEC);
        return 0;
}

static void start_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        LiveJob *j = userdata;

        if (r < 0) {
                live_finish(j, r, error ?: "the monitor is gone");
                return;
        }
        if (!j->progress_timer &&
            sd_event_add_time_relative(j->rt->driver->event, &j->progress_timer, CLOCK_MONOTONIC,
                                       LIVE_PROGRESS_INTERVAL_USEC, 0, on_progress_timer, j) >= 0)
                (void) sd_event_source_set_enabled(j->progress_timer, SD_EVENT_ON);
}

static int live_start(LiveJob *j) {
        static const char *const commands[] = { [DRIVER_SNAPSHOT_CREATE] = "snapshot-save",
                                                [DRIVER_SNAPSHOT_REVERT] = "snapshot-load",
                                                [DRIVER_SNAPSHOT_DELETE] = "snapshot-delete" };
        JsonValue *args = json_object();

        snprintf(j->job_id, sizeof(j->job_id), "vmgmt-snapshot-%u", ++live_counter);
        json_object_set_new(args, "job-id", json_string(j->job_id));
        json_object_set_new(args, "tag", json_string(j->name));
        if (j->action != DRIVER_SNAPSHOT_DELETE)
                json_object_set_new(args, "vmstate", json_string(j->vmstate));
        json_object_set(args, "devices", j->devices);
        return qmp_send(j->rt->qmp, commands[j->action], args, start_reply, j);
}

static void live_nodes_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        LiveJob *j = userdata;
        JsonValue *devices;

        if (r < 0) {
                live_finish(j, -EIO, error ?: "the monitor is gone");
                return;
        }
        devices = json_array();
        for (size_t i = 0; i < json_array_size(j->devices); i++) {
                json_int_t disk = json_integer_value(json_array_get(j->devices, i));
                const char *top = json_util_member_string(qemu_disk_inserted(ret, j->rt->def, (size_t) disk),
                                                          "node-name");

                if (!top) {
                        json_decref(devices);
                        live_finish(j, -EIO, "qemu has no node for a disk");
                        return;
                }
                json_array_append_new(devices, json_string(top));
                if (i == 0) {
                        free(j->vmstate);
                        j->vmstate = strdup(top);
                }
        }
        json_decref(j->devices);
        j->devices = devices;
        if (live_start(j) < 0)
                live_finish(j, -EIO, "the monitor is gone");
}

static void live_cancel(DriverJob *base) {
        LiveJob *j = (LiveJob *) base;

        /* QEMU's snapshot jobs run to their end: a create is deleted when it ends */
        j->cancelled = true;
}

int qemu_snapshot_live(DriverRuntime *rt, DriverSnapshotAction action, const char *name, const size_t *disks,
                       size_t n_disks, DriverSnapshotFlags flags, const DriverJobCallbacks *cb, DriverJob **ret,
                       char **ret_error) {
        LiveJob *j;
        int r;

        r = runtime_check(rt, ret_error);
        if (r < 0)
                return r;
        if (n_disks == 0) {
                *ret_error = strdup("no qcow2 disk to hold the snapshot");
                return -EINVAL;
        }
        j = g_new0(LiveJob, 1);
        j->base.cancel = live_cancel;
        j->rt = rt;
        j->action = action;
        j->flags = flags;
        j->name = strdup(name);
        j->cb = *cb;
        j->devices = json_array();
        /* the disks' indexes until query-block names their active nodes */
        for (size_t i = 0; i < n_disks; i++)
                json_array_append_new(j->devices, json_integer((json_int_t) disks[i]));
        j->listener = (QemuListener) { .event = live_event, .gone = live_gone, .userdata = j };
        r = qemu_runtime_add_listener(rt, &j->listener);
        if (r >= 0) {
                /* qemu stops and restarts the CPUs itself: those STOP/RESUME are the job's */
                if (action != DRIVER_SNAPSHOT_DELETE) {
                        rt->job_owns_pause++;
                        j->owns_pause = true;
                }
                /* the disks' active layers (an external snapshot put overlays on top) */
                r = qmp_send(rt->qmp, "query-block", NULL, live_nodes_reply, j);
        }
        if (r < 0) {
                qemu_runtime_remove_listener(rt, &j->listener);
                live_free(j);
                *ret_error = g_strdup_printf("cannot talk to the monitor: %s", strerror(-r));
                return r;
        }
        *ret = &j->base;
        return 0;
}

/* ---- live, disk-only: new qcow2 overlays over the disks' active layers, switched to in one transaction ---- */

typedef struct ExtOverlay {
        size_t disk;
        int fd;                         /* ours (dup) until qemu holds it in its fdset */
        char *path;
        char *top;                      /* the disk's active format node before */
        char prefix[32];                /* its nodes' "diskN-" */
        char *backing;                  /* its file name, for the overlay's header */
        char *backing_format;
        uint64_t size;                  /* its virtual size */
        char storage[56], format[56];   /* the overlay's nodes */
        int64_t fdset;                  /* -1 until added */
        bool formatted, storage_added, format_added;
} ExtOverlay;

typedef struct ExtJob {
        DriverJob base;
        DriverRuntime *rt;
        ExtOverlay *o;
        size_t n, i;
        bool cancelled, switched;
        pid_t pid;
        int pidfd, errfd;
        sd_event_source *exit_source;
        DriverJobCallbacks cb;
        QemuListener listener;
        /* quiesce: the guest agent freezes the file systems before the switch, thaws them after */
        bool quiesce, frozen;
        QemuAgentCall *agent;
        int end_r;                      /* the result, kept while the thaw runs */
        char *end_message;
} ExtJob;

/* How long the guest agent may take to answer (a loaded host, a busy guest): only bounds a hang. */
#define AGENT_TIMEOUT_USEC (30u * 1000u * 1000u)

static void ext_free(ExtJob *j) {
        qemu_agent_call_cancel(j->agent);
        free(j->end_message);
        sd_event_source_disable_unref(j->exit_source);
        spawn_kill_reap(j->rt->driver->event, j->pid, j->pidfd);
        if (j->errfd >= 0)
                close(j->errfd);
        for (size_t i = 0; i < j->n; i++) {
                if (j->o[i].fd >= 0)
                        close(j->o[i].fd);
                free(j->o[i].path);
                free(j->o[i].top);
                free(j->o[i].backing);
                free(j->o[i].backing_format);
        }
        g_free(j->o);
        g_free(j);
}

/* Takes back what qemu was given (nodes, fdsets), replies ignored: the domain as it was. */
static void ext_undo(ExtJob *j) {
        for (size_t i = 0; j->rt->qmp && i < j->n; i++) {
                ExtOverlay *o = &j->o[i];
                JsonValue *a;

                if (o->format_added) {
                        a = json_object();
                        json_object_set_new(a, "node-name", json_string(o->format));
                        (void) qmp_send(j->rt->qmp, "blockdev-del", a, NULL, NULL);
                }
                if (o->storage_added) {
                        a = json_object();
                        json_object_set_new(a, "node-name", json_string(o->storage));
                        (void) qmp_send(j->rt->qmp, "blockdev-del", a, NULL, NULL);
                }
                if (o->fdset >= 0) {
                        a = json_object();
                        json_object_set_new(a, "fdset-id", json_integer(o->fdset));
                        (void) qmp_send(j->rt->qmp, "remove-fd", a, NULL, NULL);
                }
        }
}

static void thaw_done(int r, const JsonValue *ret, const char *message, void *userdata);
static void ext_step(ExtJob *j);

/* After a freeze that failed or got no answer: a thaw all the same (the agent may have frozen late). */
static void thaw_unwatched(int r, const JsonValue *ret, const char *message, void *userdata) {
        if (r < 0)
                log_warning("Thawing the guest's file systems after a failed freeze: %s", strna(message));
}

static void ext_finish(ExtJob *j, int r, const char *message) {
        DriverJobCallbacks cb = j->cb;
        _cleanup_free_ char *m = message ? strdup(message) : NULL;

        if (r < 0 && !j->switched)
                ext_undo(j);
        if (j->frozen) {
                /* thawed whatever happened; the result waits for it */
                _cleanup_free_ char *err = NULL;

                j->frozen = false;
                j->end_r = r;
                j->end_message = TAKE_PTR(m);
                if (qemu_agent_call(j->rt, "guest-fsfreeze-thaw", NULL, AGENT_TIMEOUT_USEC, thaw_done, j, &j->agent, &err) >= 0)
                        return;
                log_warning("Cannot thaw the file systems of domain %s: %s", j->rt->def->name, strna(err));
                m = TAKE_PTR(j->end_message);
        }
        qemu_runtime_remove_listener(j->rt, &j->listener);
        ext_free(j);
        cb.done(cb.userdata, r, m);
}

static void thaw_done(int r, const JsonValue *ret, const char *message, void *userdata) {
        ExtJob *j = userdata;
        _cleanup_free_ char *m = TAKE_PTR(j->end_message);

        j->agent = NULL;
        if (r < 0)
                log_warning("Thawing the file systems of domain %s failed: %s", j->rt->def->name, strna(message));
        else
                qemu_runtime_log(j->rt, "guest file systems thawed after the external snapshot");
        ext_finish(j, j->end_r, m);
}

static void freeze_done(int r, const JsonValue *ret, const char *message, void *userdata) {
        ExtJob *j = userdata;
        _cleanup_free_ char *err = NULL;
        QemuAgentCall *c;

        j->agent = NULL;
        if (r < 0) {
                _cleanup_free_ char *m = g_strdup_printf("cannot quiesce the guest's file systems: %s", strna(message));
                if (qemu_agent_call(j->rt, "guest-fsfreeze-thaw", NULL, AGENT_TIMEOUT_USEC, thaw_unwatched, NULL, &c, &err) < 0)
                        log_debug("No thaw after the failed freeze: %s", strna(err));
                ext_finish(j, r == -ETIMEDOUT ? -ETIMEDOUT : -EIO, m);
                return;
        }
        j->frozen = true;
        qemu_runtime_log(j->rt, "guest file systems frozen for the external snapshot");
        ext_step(j);
}

static void ext_gone(DriverRuntime *rt, bool exited, void *userdata) {
        ExtJob *j = userdata;
        DriverJobCallbacks cb = j->cb;

        ext_free(j);
        if (exited)
                cb.done(cb.userdata, -ESRCH, "the domain stopped during the snapshot");
}

static void ext_step(ExtJob *j);

static void ext_reply_check(ExtJob *j, int r, const char *error, const char *what) {
        if (r < 0) {
                _cleanup_free_ char *m = g_strdup_printf("%s of disk %zu failed: %s", what, j->o[j->i].disk,
                                                         error ?: "the monitor is gone");
                ext_finish(j, -EIO, m);
                return;
        }
        ext_step(j);
}

static void transaction_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        ExtJob *j = userdata;
        DriverRuntime *rt = j->rt;

        if (r < 0) {
                _cleanup_free_ char *m = g_strdup_printf("switching to the overlays failed: %s", error ?: "the monitor is gone");
                ext_finish(j, -EIO, m);
                return;
        }
        j->switched = true;
        /* the live definition names the overlays now, each over the image it had (<backingStore>) */
        for (size_t i = 0; i < j->n; i++)
                (void) domain_disk_backing_push(&rt->def->disks[j->o[i].disk], j->o[i].path, "qcow2");
        g_clear_pointer(&rt->def_xml, free);
        (void) qemu_runtime_save_status(rt);
        qemu_runtime_log(rt, "switched %zu disks to new overlays (external snapshot)", j->n);
        ext_finish(j, 0, NULL);
}

static void format_added_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        ExtJob *j = userdata;

        if (r >= 0)
                j->o[j->i].format_added = true;
        j->i += r >= 0;
        ext_reply_check(j, r, error, "adding the overlay node");
}

static void storage_added_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        ExtJob *j = userdata;
        ExtOverlay *o = &j->o[j->i];
        JsonValue *a;

        if (r < 0) {
                ext_reply_check(j, r, error, "adding the overlay file");
                return;
        }
        o->storage_added = true;
        a = json_object();
        json_object_set_new(a, "driver", json_string("qcow2"));
        json_object_set_new(a, "node-name", json_string(o->format));
        json_object_set_new(a, "file", json_string(o->storage));
        json_object_set_new(a, "backing", json_null());   /* blockdev-snapshot links it to the old top */
        if (qmp_send(j->rt->qmp, "blockdev-add", a, format_added_reply, j) < 0)
                ext_reply_check(j, -EIO, NULL, "adding the overlay node");
}

static void fd_added_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        ExtJob *j = userdata;
        ExtOverlay *o = &j->o[j->i];
        char filename[64];
        JsonValue *a;

        if (r < 0 || json_util_integer(json_object_get(ret, "fdset-id"), &o->fdset) < 0) {
                o->fdset = -1;
                ext_reply_check(j, r < 0 ? r : -EIO, error ?: "no fdset-id in the reply", "passing the overlay");
                return;
        }
        snprintf(filename, sizeof(filename), "/dev/fdset/%" PRId64, o->fdset);
        a = json_object();
        json_object_set_new(a, "driver", json_string("file"));
        json_object_set_new(a, "node-name", json_string(o->storage));
        json_object_set_new(a, "filename", json_string(filename));
        if (qmp_send(j->rt->qmp, "blockdev-add", a, storage_added_reply, j) < 0)
                ext_reply_check(j, -EIO, NULL, "adding the overlay file");
}

static int on_img_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ExtJob *j = userdata;
        int r;

        r = img_child_reap(&j->pid, &j->pidfd, &j->exit_source);
        if (r == 0)
                return 0;
        if (r < 0) {
                _cleanup_free_ char *err = read_errfd(j->errfd);
                _cleanup_free_ char *m = g_strdup_printf("qemu-img create of overlay %s failed: %s", j->o[j->i].path,
                                                         !isempty(err) ? err : "it was killed");
                ext_finish(j, -EIO, m);
                return 0;
        }
        ext_step(j);
        return 0;
}

/* Formats overlay i: qcow2 whose backing is the disk's image (by name, with -u: not opened; size given). */
static int ext_format(ExtJob *j, ExtOverlay *o) {
        _cleanup_free_ char *qemu_img = qemu_img_program();
        _cleanup_free_ char *size = g_strdup_printf("%" PRIu64, o->size);
        char *argv[] = { qemu_img, (char *) "create", (char *) "-q", (char *) "-f", (char *) "qcow2", (char *) "-u",
                         (char *) "-F", o->backing_format, (char *) "-b", o->backing, (char *) "/proc/self/fd/3", size,
                         NULL };

        if (!qemu_img)
                return -EOPNOTSUPP;
        if (j->errfd < 0)
                j->errfd = memfd_create("qemu-img-stderr", MFD_CLOEXEC);
        if (j->errfd < 0)
                return -errno;
        return img_child_spawn(j->rt->driver->event, argv, o->fd, j->errfd, &j->pid, &j->pidfd, &j->exit_source,
                               on_img_exit, j);
}

/* Each overlay: formatted (pid), passed (fdset), two nodes; then one transaction for all. */
static void ext_step(ExtJob *j) {
        ExtOverlay *o;
        int r;

        if (j->cancelled) {
                ext_finish(j, -ECANCELED, "snapshot cancelled; the disks are as they were");
                return;
        }
        if (j->i >= j->n && j->quiesce && !j->frozen) {
                _cleanup_free_ char *err = NULL;

                r = qemu_agent_call(j->rt, "guest-fsfreeze-freeze", NULL, AGENT_TIMEOUT_USEC, freeze_done, j, &j->agent, &err);
                if (r < 0)
                        ext_finish(j, r, err ?: "cannot talk to the guest agent");
                return;
        }
        if (j->i >= j->n) {
                JsonValue *actions = json_array(), *a;

                for (size_t i = 0; i < j->n; i++) {
                        JsonValue *data = json_object(), *act = json_object();
                        json_object_set_new(data, "node", json_string(j->o[i].top));
                        json_object_set_new(data, "overlay", json_string(j->o[i].format));
                        json_object_set_new(act, "type", json_string("blockdev-snapshot"));
                        json_object_set_new(act, "data", data);
                        json_array_append_new(actions, act);
                }
                a = json_object();
                json_object_set_new(a, "actions", actions);
                if (qmp_send(j->rt->qmp, "transaction", a, transaction_reply, j) < 0)
                        ext_finish(j, -EIO, "the monitor is gone");
                return;
        }
        o = &j->o[j->i];
        if (!o->formatted) {
                unsigned id = g_random_int();

                snprintf(o->storage, sizeof(o->storage), "%sov%08x-storage", o->prefix, id);
                snprintf(o->format, sizeof(o->format), "%sov%08x-format", o->prefix, id);
                o->formatted = true;   /* when the child exits well: it calls here again */
                r = ext_format(j, o);
                if (r < 0) {
                        _cleanup_free_ char *m = g_strdup_printf("cannot run qemu-img: %s", strerror(-r));
                        ext_finish(j, r, m);
                }
                return;
        }
        {
                JsonValue *a = json_object();

                json_object_set_new(a, "opaque", json_string(o->path));
                r = qmp_send_with_fd(j->rt->qmp, "add-fd", a, o->fd, fd_added_reply, j);
                if (r < 0) {
                        ext_finish(j, -EIO, "cannot pass the overlay to qemu");
                        return;
                }
                close(o->fd);   /* qemu gets a duplicate */
                o->fd = -1;
        }
}

static void nodes_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        ExtJob *j = userdata;

        if (r < 0) {
                ext_finish(j, -EIO, error ?: "the monitor is gone");
                return;
        }
        for (size_t i = 0; i < j->n; i++) {
                ExtOverlay *o = &j->o[i];
                const JsonValue *n = qemu_disk_inserted(ret, j->rt->def, o->disk);
                const DomainDiskDef *disk = &j->rt->def->disks[o->disk];
                int64_t size = 0;

                if (!n || !qemu_node_prefix(json_util_member_string(n, "node-name"), o->prefix, sizeof(o->prefix)) ||
                    json_util_integer(json_object_get(json_object_get(n, "image"), "virtual-size"), &size) < 0) {
                        _cleanup_free_ char *m = g_strdup_printf("qemu has no node for disk '%s'", strempty(disk->target_dev));
                        ext_finish(j, -EIO, m);
                        return;
                }
                o->top = strdup(json_util_member_string(n, "node-name"));
                o->size = (uint64_t) size;
                o->backing = strdup(disk->source);
                o->backing_format = strdup(disk->driver_type ?: "raw");
        }
        ext_step(j);
}

static void ext_cancel(DriverJob *base) {
        ExtJob *j = (ExtJob *) base;

        j->cancelled = true;   /* seen at the next step: before the transaction, nothing stays */
}

int qemu_snapshot_external(DriverRuntime *rt, const DriverSnapshotOverlay *overlays, size_t n,
                           DriverSnapshotFlags flags, const DriverJobCallbacks *cb, DriverJob **ret, char **ret_error) {
        ExtJob *j;
        int r;

        r = runtime_check(rt, ret_error);
        if (r < 0)
                return r;
        if (flags & DRIVER_SNAPSHOT_QUIESCE && !qemu_agent_channel(rt->def)) {
                *ret_error = strdup("QEMU guest agent is not configured");
                return -EOPNOTSUPP;
        }
        if (n == 0) {
                *ret_error = strdup("no disk to take an overlay");
                return -EINVAL;
        }
        j = g_new0(ExtJob, 1);
        j->base.cancel = ext_cancel;
        j->rt = rt;
        j->quiesce = flags & DRIVER_SNAPSHOT_QUIESCE;
        j->cb = *cb;
        j->pidfd = j->errfd = -1;
        j->o = g_new0(ExtOverlay, n);
        j->n = n;
        for (size_t i = 0; i < n; i++) {
                j->o[i].disk = overlays[i].disk;
                j->o[i].fdset = -1;
                j->o[i].path = strdup(overlays[i].path);
                j->o[i].fd = fcntl(overlays[i].fd, F_DUPFD_CLOEXEC, 3);
                if (j->o[i].fd < 0 || overlays[i].disk >= rt->def->n_disks || !rt->def->disks[overlays[i].disk].source) {
                        ext_free(j);
                        *ret_error = strdup("bad overlay request");
                        return -EINVAL;
                }
        }
        j->listener = (QemuListener) { .gone = ext_gone, .userdata = j };
        r = qemu_runtime_add_listener(rt, &j->listener);
        if (r >= 0)
                r = qmp_send(rt->qmp, "query-block", NULL, nodes_reply, j);
        if (r < 0) {
                qemu_runtime_remove_listener(rt, &j->listener);
                ext_free(j);
                *ret_error = g_strdup_printf("cannot talk to the monitor: %s", strerror(-r));
                return r;
        }
        *ret = &j->base;
        return 0;
}


/* ---- external memory snapshots: the save stream, then the overlay switch, then cont ---- */

typedef struct MemSnap {
        DriverSnapshotOverlay *o;       /* fds ours (dup), paths ours */
        size_t n;
        DriverJob *ext;
        DriverJobCallbacks cb;
} MemSnap;

static void mem_snap_free(MemSnap *m) {
        for (size_t i = 0; i < m->n; i++) {
                if (m->o[i].fd >= 0)
                        close(m->o[i].fd);
                free((char *) m->o[i].path);
        }
        g_free(m->o);
        g_free(m);
}

static void mem_snap_progress(void *userdata, uint64_t processed, uint64_t total) {
        MemSnap *m = userdata;

        if (m->cb.progress)
                m->cb.progress(m->cb.userdata, processed, total);
}

static void mem_snap_done(void *userdata, int r, const char *message) {
        MemSnap *m = userdata;
        DriverJobCallbacks cb = m->cb;

        mem_snap_free(m);
        if (cb.done)
                cb.done(cb.userdata, r, message);
}

typedef struct MemSnapSwitch {
        DriverJob *state;
} MemSnapSwitch;

static void mem_snap_switched(void *userdata, int r, const char *message) {
        MemSnapSwitch *w = userdata;
        DriverJob *state = w->state;

        g_free(w);
        qemu_state_job_then_done(state, r, message);   /* may free the MemSnap */
}

/* The memory is in the file, the CPUs are stopped: every disk goes to its overlay now. */
static void mem_snap_then(DriverRuntime *rt, DriverJob *state, void *userdata) {
        MemSnap *m = userdata;
        MemSnapSwitch *w;
        DriverJobCallbacks cb = { .done = mem_snap_switched };
        g_autofree char *error = NULL;
        int r;

        if (m->n == 0) {
                qemu_state_job_then_done(state, 0, NULL);
                return;
        }
        w = g_new0(MemSnapSwitch, 1);
        w->state = state;
        cb.userdata = w;
        r = qemu_snapshot_external(rt, m->o, m->n, 0, &cb, &m->ext, &error);
        if (r < 0) {
                g_free(w);
                qemu_state_job_then_done(state, r, error ?: "cannot switch the disks to their overlays");
        }
}

int qemu_snapshot_memory(DriverRuntime *rt, int fd, const char *header_xml, const DriverSnapshotOverlay *overlays,
                         size_t n, DriverSnapshotFlags flags, const DriverJobCallbacks *cb, DriverJob **ret,
                         char **ret_error) {
        const DriverJobCallbacks scb = { .progress = mem_snap_progress, .done = mem_snap_done };
        DriverJobCallbacks c;
        MemSnap *m;
        int r;

        r = runtime_check(rt, ret_error);
        if (r < 0)
                return r;
        if (flags & DRIVER_SNAPSHOT_QUIESCE) {
                *ret_error = strdup("quiesce is for disk-only snapshots");
                return -EOPNOTSUPP;
        }
        m = g_new0(MemSnap, 1);
        m->cb = *cb;
        m->o = g_new0(DriverSnapshotOverlay, MAX(n, 1u));
        for (size_t i = 0; i < n; i++) {
                m->o[i].disk = overlays[i].disk;
                m->o[i].path = strdup(overlays[i].path);
                m->o[i].fd = fcntl(overlays[i].fd, F_DUPFD_CLOEXEC, 3);
                m->n = i + 1;
                if (m->o[i].fd < 0 || !m->o[i].path) {
                        mem_snap_free(m);
                        *ret_error = strdup("bad overlay request");
                        return -EINVAL;
                }
        }
        c = scb;
        c.userdata = m;
        r = qemu_driver_save_then(rt, fd, flags & DRIVER_SNAPSHOT_LIVE, header_xml, mem_snap_then, m, &c, ret);
        if (r < 0) {
                mem_snap_free(m);
                *ret_error = g_strdup_printf("cannot save the domain's memory: %s", strerror(-r));
        }
        return r;
}

/* ---- offline image changes: qemu-img create / commit / rebase on the service's fds ---- */

typedef struct ImgJob {
        DriverJob base;
        sd_event *event;
        char *qemu_img;
        DriverImageOp *ops;             /* fds ours (dup), the strings borrowed from `strings` */
        int **fds;                      /* per op: every fd it hands over (3, 4, …) */
        size_t *n_fds;
        GPtrArray *strings;
        DriverFileLayer **below;
        size_t n, next;
        bool cancelled;
        pid_t pid;
        int pidfd, errfd;
        sd_event_source *exit_source;
        DriverJobCallbacks cb;
} ImgJob;

static void img_job_free(ImgJob *j) {
        sd_event_source_disable_unref(j->exit_source);
        spawn_kill_reap(j->event, j->pid, j->pidfd);
        if (j->errfd >= 0)
                close(j->errfd);
        for (size_t i = 0; i < j->n; i++) {
                for (size_t k = 0; j->fds && j->fds[i] && k < j->n_fds[i]; k++)
                        if (j->fds[i][k] >= 0)
                                close(j->fds[i][k]);
                if (j->fds)
                        g_free(j->fds[i]);
                if (j->below)
                        g_free(j->below[i]);
        }
        g_free(j->fds);
        g_free(j->n_fds);
        g_free(j->below);
        g_free(j->ops);
        if (j->strings)
                g_ptr_array_free(j->strings, TRUE);
        sd_event_unref(j->event);
        free(j->qemu_img);
        g_free(j);
}

static void img_job_finish(ImgJob *j, int r, const char *message) {
        DriverJobCallbacks cb = j->cb;
        _cleanup_free_ char *m = message ? strdup(message) : NULL;

        img_job_free(j);
        cb.done(cb.userdata, r, m);
}

/* json: of a qcow2 top at fd 3 with the chain below it at fds 4, … (formats[i] for fd 4+i). */
static char *img_chain_json(const char *const *formats, size_t n) {
        GString *g = g_string_new("json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"/proc/self/fd/3\"}");

        for (size_t i = 0; i < n; i++)
                g_string_append_printf(g, ",\"backing\":{\"driver\":\"%s\",\"file\":{\"driver\":\"file\",\"filename\":"
                                          "\"/proc/self/fd/%zu\"}", formats[i], 4 + i);
        if (n == 0 || !streq(formats[n - 1], "raw"))
                g_string_append(g, ",\"backing\":null");
        for (size_t i = 0; i <= n; i++)
                g_string_append_c(g, '}');
        return g_string_free(g, FALSE);
}

static int img_job_step(ImgJob *j);

static int on_img_job_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ImgJob *j = userdata;
        int r;

        r = img_child_reap(&j->pid, &j->pidfd, &j->exit_source);
        if (r == 0)
                return 0;
        if (j->cancelled) {
                img_job_finish(j, -ECANCELED, "cancelled; the images show what they showed before");
                return 0;
        }
        if (r < 0) {
                static const char *const what[] = { [DRIVER_IMAGE_CREATE_OVERLAY] = "create",
                                                    [DRIVER_IMAGE_COMMIT] = "commit",
                                                    [DRIVER_IMAGE_REBASE] = "rebase" };
                _cleanup_free_ char *err = read_errfd(j->errfd);
                _cleanup_free_ char *m = g_strdup_printf("qemu-img %s failed: %s", what[j->ops[j->next].type],
                                                         !isempty(err) ? err : "it was killed");
                img_job_finish(j, -EIO, m);
                return 0;
        }
        j->next++;
        r = img_job_step(j);
        if (r < 0) {
                _cleanup_free_ char *m = g_strdup_printf("cannot run qemu-img: %s", strerror(-r));
                img_job_finish(j, r, m);
        }
        return 0;
}

static int img_job_step(ImgJob *j) {
        const DriverImageOp *op;
        _cleanup_free_ char *size = NULL, *json = NULL;
        g_autofree const char **formats = NULL;

        if (j->cancelled) {
                img_job_finish(j, -ECANCELED, "cancelled; the images show what they showed before");
                return 0;
        }
        if (j->next >= j->n) {
                img_job_finish(j, 0, NULL);
                return 0;
        }
        if (j->cb.progress)
                j->cb.progress(j->cb.userdata, j->next, j->n);
        op = &j->ops[j->next];
        switch (op->type) {
        case DRIVER_IMAGE_CREATE_OVERLAY: {
                size = g_strdup_printf("%" PRIu64, op->size);
                char *argv[] = { j->qemu_img, (char *) "create", (char *) "-q", (char *) "-f", (char *) "qcow2",
                                 (char *) "-u", (char *) "-F", (char *) op->backing_format, (char *) "-b",
                                 (char *) op->backing, (char *) "/proc/self/fd/3", size, NULL };
                return img_child_spawn_fds(j->event, argv, j->fds[j->next], j->n_fds[j->next], j->errfd, &j->pid,
                                           &j->pidfd, &j->exit_source, on_img_job_exit, j);
        }
        case DRIVER_IMAGE_COMMIT: {
                formats = g_new0(const char *, op->n_below + 2);
                formats[0] = op->backing_format;
                for (size_t i = 0; i < op->n_below; i++)
                        formats[i + 1] = op->below[i].format ?: "raw";
                json = img_chain_json(formats, op->n_below + 1);
                /* -d: the top keeps its data, so a stopped commit changes nothing the top shows */
                char *argv[] = { j->qemu_img, (char *) "commit", (char *) "-q", (char *) "-d", json, NULL };
                return img_child_spawn_fds(j->event, argv, j->fds[j->next], j->n_fds[j->next], j->errfd, &j->pid,
                                           &j->pidfd, &j->exit_source, on_img_job_exit, j);
        }
        case DRIVER_IMAGE_REBASE: {
                char *argv[] = { j->qemu_img, (char *) "rebase", (char *) "-q", (char *) "-u", (char *) "-f",
                                 (char *) "qcow2", (char *) "-F", (char *) op->backing_format, (char *) "-b",
                                 (char *) op->backing, (char *) "/proc/self/fd/3", NULL };
                return img_child_spawn_fds(j->event, argv, j->fds[j->next], j->n_fds[j->next], j->errfd, &j->pid,
                                           &j->pidfd, &j->exit_source, on_img_job_exit, j);
        }
        }
        return -EINVAL;
}

static void img_job_cancel(DriverJob *base) {
        ImgJob *j = (ImgJob *) base;

        j->cancelled = true;
        /* a commit is stopped (-d: its top still holds everything); a create or a rebase is quick and ends */
        if (j->pid > 0 && j->next < j->n && j->ops[j->next].type == DRIVER_IMAGE_COMMIT)
                (void) kill(j->pid, SIGKILL);
}

static const char *img_job_keep(ImgJob *j, const char *s) {
        char *c = s ? strdup(s) : NULL;

        if (c)
                g_ptr_array_add(j->strings, c);
        return c;
}

int qemu_image_offline(DomainDriver *drv, const DriverImageOp *ops, size_t n, const DriverJobCallbacks *cb,
                       DriverJob **ret, char **ret_error) {
        QemuDriver *d = (QemuDriver *) drv;
        ImgJob *j;
        int r;

        if (n == 0) {
                *ret_error = strdup("no image to change");
                return -EINVAL;
        }
        j = g_new0(ImgJob, 1);
        j->base.cancel = img_job_cancel;
        j->event = sd_event_ref(d->event);
        j->cb = *cb;
        j->pidfd = j->errfd = -1;
        j->strings = g_ptr_array_new_with_free_func(free);
        j->ops = g_new0(DriverImageOp, n);
        j->fds = g_new0(int *, n);
        j->n_fds = g_new0(size_t, n);
        j->below = g_new0(DriverFileLayer *, n);
        j->n = n;
        j->qemu_img = qemu_img_program();
        if (!j->qemu_img) {
                img_job_free(j);
                *ret_error = strdup("qemu-img is not installed");
                return -EOPNOTSUPP;
        }
        for (size_t i = 0; i < n; i++) {
                const DriverImageOp *o = &ops[i];
                size_t nf = o->type == DRIVER_IMAGE_COMMIT ? 2 + o->n_below : 1;

                j->ops[i] = *o;
                j->ops[i].backing = img_job_keep(j, o->backing);
                j->ops[i].backing_format = img_job_keep(j, o->backing_format ?: "raw");
                j->fds[i] = g_new(int, nf);
                for (size_t k = 0; k < nf; k++)
                        j->fds[i][k] = -1;
                j->n_fds[i] = nf;
                if (o->type == DRIVER_IMAGE_COMMIT) {
                        j->below[i] = g_new0(DriverFileLayer, o->n_below + 1);
                        for (size_t k = 0; k < o->n_below; k++)
                                j->below[i][k] = (DriverFileLayer) { .fd = -1, .format = img_job_keep(j, o->below[k].format) };
                        j->ops[i].below = j->below[i];
                }
                if (!j->ops[i].backing && o->type != DRIVER_IMAGE_COMMIT) {
                        img_job_free(j);
                        *ret_error = strdup("an image change names no backing file");
                        return -EINVAL;
                }
                for (size_t k = 0; k < nf; k++) {
                        int src = k == 0 ? o->fd : k == 1 ? o->base_fd : o->below[k - 2].fd;

                        j->fds[i][k] = src >= 0 ? fcntl(src, F_DUPFD_CLOEXEC, 3) : -1;
                        if (j->fds[i][k] < 0) {
                                r = src < 0 ? -EBADF : -errno;
                                img_job_free(j);
                                *ret_error = strdup("cannot duplicate an image's fd");
                                return r;
                        }
                }
        }
        j->errfd = memfd_create("qemu-img-stderr", MFD_CLOEXEC);
        r = j->errfd < 0 ? -errno : img_job_step(j);
        if (r < 0) {
                img_job_free(j);
                *ret_error = g_strdup_printf("cannot run qemu-img: %s", strerror(-r));
                return r;
        }
        *ret = &j->base;
        return 0;
}

int qemu_snapshot_stop(DriverRuntime *rt, DriverDoneFn done, void *userdata) {
        int r = rt->driver->base.ops->destroy(rt, false, done, userdata);

        if (r >= 0 && rt->killing) {
                /* what the exit reports (libvirt's VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT) */
                rt->stop_reason = "from-snapshot";
                rt->stop_detail = "from-snapshot";
                (void) qemu_runtime_save_status(rt);
        }
        return r;
}
