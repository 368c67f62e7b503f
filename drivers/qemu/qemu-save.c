/* qemu-save.c — save, restore and core dump of a QEMU domain: the guest's state streamed to a file the
 * service opened (QMP migration to an fd, dump-guest-memory), and a start that reads it back in.
 *
 * A save image is a 64-byte header, the definition's XML (NUL-terminated)
 * and, from the next 4 KiB boundary on, qemu's migration stream:
 *   0  16 magic "VmgmtQemuSave\n\0\0"
 *  16   4 version (1), little-endian like every number here
 *  20   4 XML length with its NUL
 *  24   4 flags (bit 0: restore running)
 *  28   4 zero
 *  32   8 offset of the stream
 *  40  24 zero
 * `head -c 4096 FILE` shows the XML. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "direct-copy.h"
#include "log.h"
#include "macro.h"
#include "qemu-driver-internal.h"

#define SAVE_MAGIC "VmgmtQemuSave\n\0\0"
#define SAVE_HEADER_SIZE 64u
#define SAVE_VERSION 1u
#define SAVE_FLAG_RUNNING 1u
#define SAVE_ALIGN 4096u
#define SAVE_XML_MAX (16u * 1024u * 1024u)
#define PROGRESS_INTERVAL_USEC (250u * 1000u)
#define SAVE_FDNAME "vmgmt-save"
#define RESTORE_FDNAME "vmgmt-restore"
/* libvirt's "unlimited" for a migration to a file: qemu's default would be 32 MiB/s */
#define SAVE_MAX_BANDWIDTH (1ll << 50)

/* ---- the header ---- */

static uint64_t align_up(uint64_t n) {
        return (n + SAVE_ALIGN - 1) / SAVE_ALIGN * SAVE_ALIGN;
}

/* Writes the header and the XML as one aligned block run (the file may be
 * O_DIRECT); leaves fd's offset at the stream. */
static int header_write(int fd, const char *xml, bool running, char **ret_error) {
        size_t len = strlen(xml) + 1;
        uint64_t data = align_up(SAVE_HEADER_SIZE + len), le64;
        g_autofree unsigned char *h = g_malloc0(data);
        uint32_t le32;
        int r;

        memcpy(h, SAVE_MAGIC, 16);
        le32 = htole32(SAVE_VERSION);
        memcpy(h + 16, &le32, 4);
        le32 = htole32((uint32_t) len);
        memcpy(h + 20, &le32, 4);
        le32 = htole32(running ? SAVE_FLAG_RUNNING : 0);
        memcpy(h + 24, &le32, 4);
        le64 = htole64(data);
        memcpy(h + 32, &le64, 8);
        memcpy(h + SAVE_HEADER_SIZE, xml, len);
        r = direct_io_pwrite(fd, h, data, 0);
        if (r < 0) {
                *ret_error = g_strdup_printf("cannot write the save image's header: %s", strerror(-r));
                return r;
        }
        if (lseek(fd, (off_t) data, SEEK_SET) < 0) {
                r = -errno;
                *ret_error = g_strdup_printf("cannot seek in the save image: %s", strerror(-r));
                return r;
        }
        return 0;
}

/* 1 with the XML, the flags and the stream's offset; 0 not an image; < 0 damaged. */
static int header_read(int fd, char **ret_xml, bool *ret_running, uint64_t *ret_data, char **ret_error) {
        unsigned char h[SAVE_HEADER_SIZE];
        uint32_t version, len, flags;
        uint64_t data;
        g_autofree char *xml = NULL;
        ssize_t n;

        n = direct_io_pread(fd, h, sizeof(h), 0);
        if (n < 0) {
                *ret_error = g_strdup_printf("cannot read the save image: %s", strerror((int) -n));
                return (int) n;
        }
        if (n < 16 || memcmp(h, SAVE_MAGIC, 16) != 0)
                return 0;
        if (n < (ssize_t) sizeof(h)) {
                *ret_error = g_strdup("the save image's header is truncated");
                return -EINVAL;
        }
        memcpy(&version, h + 16, 4);
        memcpy(&len, h + 20, 4);
        memcpy(&flags, h + 24, 4);
        memcpy(&data, h + 32, 8);
        version = le32toh(version);
        len = le32toh(len);
        flags = le32toh(flags);
        data = le64toh(data);
        if (version != SAVE_VERSION) {
                *ret_error = g_strdup_printf("save image version %u is not supported (only %u)", version, SAVE_VERSION);
                return -EOPNOTSUPP;
        }
        if (len < 2 || len > SAVE_XML_MAX || data < SAVE_HEADER_SIZE + (uint64_t) len || data % SAVE_ALIGN) {
                *ret_error = g_strdup("the save image's header is damaged");
                return -EINVAL;
        }
        xml = g_malloc(len);
        n = direct_io_pread(fd, xml, len, SAVE_HEADER_SIZE);
        if (n != (ssize_t) len || xml[len - 1] != '\0' || strlen(xml) != len - 1) {
                *ret_error = g_strdup("the save image's definition is truncated or damaged");
                return -EINVAL;
        }
        if (ret_xml)
                *ret_xml = g_steal_pointer(&xml);
        if (ret_running)
                *ret_running = flags & SAVE_FLAG_RUNNING;
        if (ret_data)
                *ret_data = data;
        return 1;
}

int qemu_driver_read_save_image(int fd, char **ret_xml, bool *ret_running, char **ret_error) {
        char *xml = NULL, *err = NULL;
        int r = header_read(fd, &xml, ret_running, NULL, &err);

        if (r < 0) {
                *ret_error = err;
                return r;
        }
        if (r > 0) {
                *ret_xml = strdup(xml);
                g_free(xml);
                if (!*ret_xml)
                        return -ENOMEM;
        }
        return r;
}

/* ---- save and dump: one job on a running domain ---- */

typedef enum StateJobKind {
        JOB_SAVE,
        JOB_DUMP_MIGRATE,       /* virsh dump without --memory-only: the migration stream */
        JOB_DUMP_MEMORY,        /* dump-guest-memory */
        JOB_SNAPSHOT,           /* an external memory snapshot: the save stream, then `then`, then cont */
} StateJobKind;

typedef struct QemuStateJob {
        DriverJob base;
        DriverRuntime *rt;
        StateJobKind kind;
        DriverJobCallbacks cb;
        int fd;
        bool was_running;           /* running before: resumed at a failure */
        const char *prev_reason;    /* paused before: its reason comes back */
        bool we_paused;             /* we sent "stop" (or report paused "saving"/"dumping") */
        bool stream_started;        /* migrate / dump-guest-memory accepted */
        bool cancel_requested;
        bool finishing;             /* the result is in: no cancel any more */
        DriverDumpOptions dump;
        char *format;
        int error;                  /* a failure to report once the domain is as before */
        char *message;
        sd_event_source *timer;
        QmpReplyFn cont_fn;             /* send_cont(): whom the reply of "cont" goes to */
        unsigned cont_tries;
        bool listening;
        /* bypass_cache: qemu writes a pipe, the copier the O_DIRECT file */
        DirectCopy *copy;
        bool copy_ended;
        int copy_result;
        char *copy_message;
        enum { AFTER_COPY_NOTHING, AFTER_COPY_COMPLETE, AFTER_COPY_FAIL } after_copy;
        /* JOB_SNAPSHOT: called once the stream is complete, the CPUs still stopped; it ends with
         * qemu_state_job_then_done() */
        QemuStateThenFn then;
        void *then_userdata;
        bool in_then;
        bool gone_in_then;          /* qemu exited while `then` ran: done when it ends */
} QemuStateJob;

static void state_job_gone(DriverRuntime *rt, bool exited, void *userdata);
static void stream_completed(QemuStateJob *j);

static void completed_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;
        const JsonValue *ram = json_object_get(ret, "ram");
        int64_t done = 0, total = 0;

        if (r >= 0 && ram && json_util_integer(json_object_get(ram, "transferred"), &done) >= 0 &&
            json_util_integer(json_object_get(ram, "total"), &total) >= 0 && j->cb.progress)
                /* transferred counts what went out, total the RAM: the end is the whole of it */
                j->cb.progress(j->cb.userdata, (uint64_t) MAX(total, done), (uint64_t) MAX(total, done));
        stream_completed(j);
}

static void state_job_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata);

static QemuListener state_listener(QemuStateJob *j) {
        return (QemuListener) { .event = state_job_event, .gone = state_job_gone, .userdata = j };
}

static void state_job_free(QemuStateJob *j) {
        if (!j)
                return;
        if (j->listening && j->rt) {
                QemuListener l = state_listener(j);
                qemu_runtime_remove_listener(j->rt, &l);
        }
        if (j->rt && j->rt->state_job == j)
                j->rt->state_job = NULL;
        sd_event_source_disable_unref(j->timer);
        if (j->fd >= 0)
                close(j->fd);
        direct_copy_free(j->copy);
        free(j->copy_message);
        free(j->format);
        free(j->message);
        free(j);
}

static const char *kind_verb(const QemuStateJob *j) {
        return j->kind == JOB_SAVE ? "save" : j->kind == JOB_SNAPSHOT ? "snapshot" : "dump";
}

static const char *cancelled_msg(const QemuStateJob *j) {
        return j->kind == JOB_SAVE ? "the save was cancelled"
               : j->kind == JOB_SNAPSHOT ? "the snapshot was cancelled" : "the dump was cancelled";
}

/* Reports the end and frees the job. */
static void state_job_done(QemuStateJob *j, int r, const char *message) {
        DriverJobCallbacks cb = j->cb;
        g_autofree char *msg = g_strdup(message);

        if (j->rt && j->rt->job_owns_pause > 0)
                j->rt->job_owns_pause--;
        state_job_free(j);
        if (cb.done)
                cb.done(cb.userdata, r, msg);
}

/* "cont" right after a migration stream completed: qemu may not have left
 * its finish-migrate state yet ("Migration is not finalized yet"), so that
 * answer is asked again a little later (bounded), then the reply goes on. */
#define CONT_RETRY_USEC (20 * 1000ULL)
#define CONT_RETRIES 1500u

static void cont_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata);

static int cont_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        QemuStateJob *j = userdata;

        j->timer = sd_event_source_disable_unref(j->timer);
        if (!j->rt->qmp || qmp_send(j->rt->qmp, "cont", NULL, cont_reply, j) < 0)
                j->cont_fn(NULL, -ECONNRESET, NULL, NULL, j);
        return 0;
}

static void cont_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;

        if (r == -EIO && error && strstr(error, "Migration is not finalized yet") && j->cont_tries++ < CONT_RETRIES &&
            sd_event_add_time_relative(j->rt->driver->event, &j->timer, CLOCK_MONOTONIC, CONT_RETRY_USEC, 0,
                                       cont_retry, j) >= 0)
                return;
        j->cont_fn(q, r, ret, error, j);
}

static int send_cont(QemuStateJob *j, QmpReplyFn fn) {
        j->cont_fn = fn;
        j->cont_tries = 0;
        j->timer = sd_event_source_disable_unref(j->timer);
        return qmp_send(j->rt->qmp, "cont", NULL, cont_reply, j);
}

static void undo_cont_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;
        DriverRuntime *rt = j->rt;

        if (r < 0) {
                /* the guest stays paused: say so, and why the job failed */
                g_autofree char *msg = g_strdup_printf("%s; resuming the guest failed: %s", strna(j->message),
                                                       strna(error));
                if (!rt->killing)
                        qemu_runtime_set_state(rt, DOMAIN_STATE_PAUSED, "unknown", DOMAIN_EVENT_NONE, NULL);
                state_job_done(j, j->error, msg);
                return;
        }
        if (!rt->killing)
                qemu_runtime_set_state(rt, DOMAIN_STATE_RUNNING, j->kind == JOB_SAVE ? "save-canceled" : "unpaused",
                                       DOMAIN_EVENT_RESUMED, "unpaused");
        state_job_done(j, j->error, j->message);
}

/* A failure or a cancel: the domain goes back to how it was, then done(error). */
static void state_job_fail(QemuStateJob *j, int error, const char *message) {
        DriverRuntime *rt = j->rt;

        j->finishing = true;
        j->timer = sd_event_source_disable_unref(j->timer);
        if (!j->error) {
                j->error = error;
                free(j->message);
                j->message = message ? strdup(message) : NULL;
        }
        if (j->copy && !j->copy_ended && rt && !rt->killing && error != -ESRCH) {
                /* the copier's end first: its failure (ENOSPC) is what the caller needs to hear, not qemu's EPIPE */
                j->after_copy = AFTER_COPY_FAIL;
                direct_copy_stop(j->copy);
                return;
        }
        if (j->copy_ended && j->copy_result < 0 && j->copy_result != -ECANCELED && j->error != -ECANCELED &&
            j->error != j->copy_result) {
                /* qemu's failure came from the copier's (a pipe nobody reads any more) */
                j->error = j->copy_result;
                free(j->message);
                j->message = j->copy_message ? strdup(j->copy_message) : NULL;
        }
        if (j->listening) {
                QemuListener l = state_listener(j);
                qemu_runtime_remove_listener(rt, &l);
                j->listening = false;
        }
        if (error == -ESRCH || !rt->qmp || rt->killing) {
                state_job_done(j, j->error, j->message);
                return;
        }
        if (j->we_paused && j->was_running) {
                if (send_cont(j, undo_cont_reply) < 0)
                        state_job_done(j, j->error, j->message);
                return;
        }
        if (j->we_paused)   /* paused before: its own reason again */
                qemu_runtime_set_state(rt, DOMAIN_STATE_PAUSED, j->prev_reason, DOMAIN_EVENT_NONE, NULL);
        state_job_done(j, j->error, j->message);
}

/* A QMP reply that failed: the message for the caller. */
static void state_job_qmp_failed(QemuStateJob *j, int r, const char *what, const char *error) {
        g_autofree char *msg = NULL;

        if (r == -ECONNRESET) {
                state_job_fail(j, -ESRCH, "qemu closed its monitor");
                return;
        }
        msg = g_strdup_printf("cannot %s: %s", what, strna(error));
        state_job_fail(j, -EIO, msg);
}

static void state_job_gone(DriverRuntime *rt, bool exited, void *userdata) {
        QemuStateJob *j = userdata;

        j->listening = false;
        if (!exited) {
                /* driver teardown: nobody to tell */
                j->cb.done = NULL;
                j->rt = NULL;
                rt->state_job = NULL;
                state_job_free(j);
                return;
        }
        j->rt = NULL;
        rt->state_job = NULL;
        if (j->in_then) {
                j->gone_in_then = true;   /* `then` ends (its own job sees qemu go too), then done */
                return;
        }
        g_autofree char *msg = g_strdup_printf("qemu exited during the %s", kind_verb(j));
        state_job_done(j, -ESRCH, msg);
}

/* ---- the end ---- */

static void killed_done(void *userdata, int r, const char *message) {
        QemuStateJob *j = userdata;

        j->rt = NULL;   /* freed */
        state_job_done(j, 0, NULL);
}

/* The guest is gone as the job wanted: shutoff `reason`, event stopped/`reason`, then done. */
static void state_job_kill(QemuStateJob *j, const char *reason) {
        DriverRuntime *rt = j->rt;
        QemuOp *op;
        int r;

        if (j->listening) {
                QemuListener l = state_listener(j);
                qemu_runtime_remove_listener(rt, &l);
                j->listening = false;
        }
        rt->state_job = NULL;
        op = qemu_op_new(rt, QEMU_OP_DESTROY, killed_done, j);
        if (!op) {
                state_job_done(j, -ENOMEM, NULL);
                return;
        }
        r = qemu_process_kill(rt, false, reason, reason);
        if (r < 0) {
                op->done = NULL;
                qemu_op_complete(op, r, NULL);
                state_job_done(j, r, "cannot stop qemu");
        }
}

static void resume_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;
        DriverRuntime *rt = j->rt;

        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("the dump was written, but resuming the guest failed: %s",
                                                       strna(error));
                state_job_done(j, r == -ECONNRESET ? -ESRCH : -EIO, msg);
                return;
        }
        /* a live stream dump never reported a pause: its end's stop and this cont are the job's own */
        if (!rt->killing && rt->state == DOMAIN_STATE_PAUSED)
                qemu_runtime_set_state(rt, DOMAIN_STATE_RUNNING, "unpaused", DOMAIN_EVENT_RESUMED, "unpaused");
        state_job_done(j, j->cancel_requested ? -ECANCELED : 0, j->cancel_requested ? "the dump was cancelled" : NULL);
}

/* After a dump: crash, reset, or back to how it was. */
static void dump_finish(QemuStateJob *j);

static void reactivate_stop_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;

        if (r < 0) {
                state_job_qmp_failed(j, r, "stop the guest again after the snapshot", error);
                return;
        }
        if (j->rt)
                qemu_runtime_set_state(j->rt, DOMAIN_STATE_PAUSED, j->prev_reason, DOMAIN_EVENT_NONE, NULL);
        state_job_done(j, 0, NULL);
}

static void reactivate_cont_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;

        if (r < 0) {
                state_job_qmp_failed(j, r, "take the disks back after the snapshot", error);
                return;
        }
        if (!j->rt->qmp || qmp_send(j->rt->qmp, "stop", NULL, reactivate_stop_reply, j) < 0)
                state_job_done(j, -ESRCH, "qemu closed its monitor");
}

static void reset_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;

        if (r < 0) {
                state_job_qmp_failed(j, r, "reset the guest after the dump", error);
                return;
        }
        j->dump.reset = false;
        dump_finish(j);
}

static void dump_finish(QemuStateJob *j) {
        DriverRuntime *rt = j->rt;
        bool cancelled = j->cancel_requested;

        if (j->listening) {
                QemuListener l = state_listener(j);
                qemu_runtime_remove_listener(rt, &l);
                j->listening = false;
        }
        if (!cancelled && j->dump.crash) {
                state_job_kill(j, "crashed");
                return;
        }
        if (!cancelled && j->dump.reset) {
                if (qmp_send(rt->qmp, "system_reset", NULL, reset_reply, j) < 0)
                        state_job_done(j, -ESRCH, "qemu closed its monitor");
                return;
        }
        /* the migration stream leaves qemu stopped; dump-guest-memory resumes what it stopped itself */
        if (j->we_paused && j->was_running) {
                if (send_cont(j, resume_reply) < 0)
                        state_job_done(j, -ESRCH, "qemu closed its monitor");
                return;
        }
        if (!cancelled && !j->was_running && j->kind == JOB_SNAPSHOT) {
                /* the stream's end left the images inactive (qemu hands them to the destination) and only cont
                 * takes them back in qemu 7.2 (blockdev-set-active is qemu 10's): a snapshot of a paused guest
                 * keeps its disks usable (the new overlays, their merge), so cont and stop go together (the
                 * guest runs for the moment between them; the file has the state of before; the job owns the
                 * pause: no events) */
                /* send_cont(): asked again while qemu says the migration is not finalized yet */
                if (send_cont(j, reactivate_cont_reply) < 0)
                        state_job_done(j, -ESRCH, "qemu closed its monitor");
                return;
        }
        if (j->we_paused)
                qemu_runtime_set_state(rt, DOMAIN_STATE_PAUSED, j->prev_reason, DOMAIN_EVENT_NONE, NULL);
        else if (j->was_running && (j->kind == JOB_DUMP_MIGRATE || j->kind == JOB_SNAPSHOT)) {
                /* a live migration-stream dump: the stream's end stopped the guest */
                if (send_cont(j, resume_reply) < 0)
                        state_job_done(j, -ESRCH, "qemu closed its monitor");
                return;
        }
        state_job_done(j, cancelled ? -ECANCELED : 0, cancelled ? "the dump was cancelled" : NULL);
}

static void stream_completed(QemuStateJob *j) {
        j->finishing = true;
        j->timer = sd_event_source_disable_unref(j->timer);
        if (j->copy && !j->copy_ended) {
                /* qemu wrote it all into the pipe: the file has it once the copier is through */
                j->after_copy = AFTER_COPY_COMPLETE;
                return;
        }
        if (j->copy && j->copy_result < 0) {
                /* the file does not have it all: the guest resumes, the job fails with the copier's error */
                state_job_fail(j, j->copy_result, j->copy_message);
                return;
        }
        if (j->kind == JOB_SAVE)
                state_job_kill(j, "saved");
        else
                dump_finish(j);   /* a snapshot's guest runs on as before, as a dump's */
}

static void continue_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;

        if (r >= 0 || j->finishing)
                return;
        /* still before the switch-over: dropped, the guest resumes ("cancelled") */
        j->error = -EIO;
        free(j->message);
        j->message = g_strdup_printf("cannot finish the memory stream: %s", strna(error));
        if (qmp_send(j->rt->qmp, "migrate_cancel", NULL, NULL, NULL) < 0)
                state_job_fail(j, -ESRCH, "qemu closed its monitor");
}

void qemu_state_job_then_done(DriverJob *base, int r, const char *message) {
        QemuStateJob *j = (QemuStateJob *) base;

        j->in_then = false;
        if (j->gone_in_then) {
                state_job_done(j, -ESRCH, "qemu exited during the snapshot");
                return;
        }
        if (r >= 0)
                /* the disks are on their overlays: the stream's end (device state), then the guest runs on */
                r = qmp_send(j->rt->qmp, "migrate-continue", json_pack("{s:s}", "state", "pre-switchover"),
                             continue_reply, j);
        else {
                /* the stream is dropped: "cancelled" resumes the guest, done gets this failure */
                j->error = r;
                free(j->message);
                j->message = strdup(message ?: "the snapshot failed");
                r = qmp_send(j->rt->qmp, "migrate_cancel", NULL, NULL, NULL);
        }
        if (r < 0)
                state_job_fail(j, -ESRCH, "qemu closed its monitor");
}

/* ---- progress and the stream's end ---- */

static int progress_arm(QemuStateJob *j);

static void query_migrate_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;
        const JsonValue *ram = json_object_get(ret, "ram");
        const char *status = json_util_member_string(ret, "status");
        int64_t done = 0, total = 0;

        if (r < 0 || j->finishing)
                return;
        if (ram && json_util_integer(json_object_get(ram, "transferred"), &done) >= 0 &&
            json_util_integer(json_object_get(ram, "total"), &total) >= 0 && j->cb.progress)
                j->cb.progress(j->cb.userdata, (uint64_t) MAX(done, 0), (uint64_t) MAX(total, 0));
        if (streq_ptr(status, "failed")) {
                const char *desc = json_util_member_string(ret, "error-desc");
                g_autofree char *msg = g_strdup_printf("cannot %s: %s", j->kind == JOB_SAVE ? "save the domain"
                                                                                           : "dump the domain",
                                                       desc ?: "the migration stream failed");
                state_job_fail(j, -EIO, msg);
        }
}

static void query_dump_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;
        int64_t done = 0, total = 0;

        if (r < 0 || j->finishing)
                return;
        if (json_util_integer(json_object_get(ret, "completed"), &done) >= 0 &&
            json_util_integer(json_object_get(ret, "total"), &total) >= 0 && j->cb.progress)
                j->cb.progress(j->cb.userdata, (uint64_t) MAX(done, 0), (uint64_t) MAX(total, 0));
}

static int progress_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        QemuStateJob *j = userdata;

        if (j->finishing || !j->rt->qmp)
                return 0;
        (void) qmp_send(j->rt->qmp, j->kind == JOB_DUMP_MEMORY ? "query-dump" : "query-migrate", NULL,
                        j->kind == JOB_DUMP_MEMORY ? query_dump_reply : query_migrate_reply, j);
        (void) sd_event_source_set_time_relative(s, PROGRESS_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int progress_arm(QemuStateJob *j) {
        if (j->timer)
                return 0;
        return sd_event_add_time_relative(j->rt->driver->event, &j->timer, CLOCK_MONOTONIC, PROGRESS_INTERVAL_USEC, 0,
                                          progress_tick, j);
}

static void state_job_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
        QemuStateJob *j = userdata;

        if (j->finishing || !j->stream_started)
                return;
        if (j->kind != JOB_DUMP_MEMORY && streq(name, "MIGRATION")) {
                const char *status = json_util_member_string(data, "status");
                if (streq_ptr(status, "completed")) {
                        /* the last numbers first: everything of what was expected */
                        j->finishing = true;
                        j->timer = sd_event_source_disable_unref(j->timer);
                        if (qmp_send(rt->qmp, "query-migrate", NULL, completed_reply, j) < 0)
                                stream_completed(j);
                } else if (streq_ptr(status, "pre-switchover") && j->kind == JOB_SNAPSHOT && !j->in_then) {
                        /* the RAM is in the stream, the CPUs are stopped, the disks still active: the
                         * snapshot's own step (its overlays) before the device state and the end */
                        if (j->cancel_requested) {
                                (void) qmp_send(rt->qmp, "migrate_cancel", NULL, NULL, NULL);
                                return;
                        }
                        j->in_then = true;
                        j->then(rt, &j->base, j->then_userdata);
                } else if (streq_ptr(status, "failed"))
                        /* query-migrate has error-desc */
                        (void) qmp_send(rt->qmp, "query-migrate", NULL, query_migrate_reply, j);
                else if (streq_ptr(status, "cancelled"))
                        state_job_fail(j, -ECANCELED, cancelled_msg(j));
        } else if (j->kind == JOB_DUMP_MEMORY && streq(name, "DUMP_COMPLETED")) {
                const char *err = json_util_member_string(data, "error");
                const JsonValue *res = json_object_get(data, "result");
                int64_t done = 0, total = 0;

                if (json_util_integer(json_object_get(res, "completed"), &done) >= 0 &&
                    json_util_integer(json_object_get(res, "total"), &total) >= 0 && j->cb.progress)
                        j->cb.progress(j->cb.userdata, (uint64_t) MAX(done, 0), (uint64_t) MAX(total, 0));
                if (err || streq_ptr(json_util_member_string(res, "status"), "failed")) {
                        g_autofree char *msg = g_strdup_printf("cannot dump the guest's memory: %s",
                                                               err ?: "dump-guest-memory failed");
                        state_job_fail(j, -EIO, msg);
                } else
                        stream_completed(j);
        }
}

/* ---- the beginning ---- */

static void stream_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;

        if (r < 0) {
                state_job_qmp_failed(j, r, j->kind == JOB_DUMP_MEMORY ? "dump the guest's memory" : "start the stream",
                                     error);
                return;
        }
        j->stream_started = true;
        if (progress_arm(j) < 0)
                log_debug("Domain %s: no progress reports", j->rt->def->name);
        if (j->cancel_requested && j->kind != JOB_DUMP_MEMORY)
                (void) qmp_send(j->rt->qmp, "migrate_cancel", NULL, NULL, NULL);
}

static void getfd_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;
        JsonValue *args;

        if (r < 0) {
                state_job_qmp_failed(j, r, "pass the file to qemu", error);
                return;
        }
        close(j->fd);   /* qemu has its own now */
        j->fd = -1;
        if (j->cancel_requested) {
                (void) qmp_send(j->rt->qmp, "closefd", json_pack("{s:s}", "fdname", SAVE_FDNAME), NULL, NULL);
                state_job_fail(j, -ECANCELED, cancelled_msg(j));
                return;
        }
        if (j->kind == JOB_DUMP_MEMORY)
                r = qmp_send(j->rt->qmp, "dump-guest-memory",
                             json_pack("{s:b,s:s,s:b,s:s}", "paging", 0, "protocol", "fd:" SAVE_FDNAME, "detach", 1,
                                       "format", j->format),
                             stream_reply, j);
        else {
                args = json_pack("{s:s}", "uri", "fd:" SAVE_FDNAME);
                r = qmp_send(j->rt->qmp, "migrate", args, stream_reply, j);
        }
        if (r < 0)
                state_job_fail(j, -ESRCH, "qemu closed its monitor");
}

static void send_getfd(QemuStateJob *j) {
        int r = qmp_send_with_fd(j->rt->qmp, "getfd", json_pack("{s:s}", "fdname", SAVE_FDNAME), j->fd, getfd_reply, j);
        if (r < 0)
                state_job_fail(j, -ESRCH, "qemu closed its monitor");
}

static void params_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;

        if (r < 0) {
                state_job_qmp_failed(j, r, "set the migration parameters", error);
                return;
        }
        send_getfd(j);
}

static void caps_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;

        if (r < 0) {
                state_job_qmp_failed(j, r, "set the migration capabilities", error);
                return;
        }
        r = qmp_send(j->rt->qmp, "migrate-set-parameters", json_pack("{s:I}", "max-bandwidth", SAVE_MAX_BANDWIDTH),
                     params_reply, j);
        if (r < 0)
                state_job_fail(j, -ESRCH, "qemu closed its monitor");
}

/* The CPUs are stopped (or need not be): the stream. */
static void state_job_paused(QemuStateJob *j) {
        DriverRuntime *rt = j->rt;
        int r;

        if (j->we_paused)
                qemu_runtime_set_state(rt, DOMAIN_STATE_PAUSED, j->kind == JOB_SAVE ? "saving"
                                                          : j->kind == JOB_SNAPSHOT ? "snapshot" : "dumping",
                                       j->was_running ? DOMAIN_EVENT_SUSPENDED : DOMAIN_EVENT_NONE, "paused");
        if (j->cancel_requested) {
                state_job_fail(j, -ECANCELED, cancelled_msg(j));
                return;
        }
        if (j->kind == JOB_DUMP_MEMORY) {
                send_getfd(j);
                return;
        }
        r = qmp_send(rt->qmp, "migrate-set-capabilities",
                     json_pack("{s:[{s:s,s:b},{s:s,s:b}]}", "capabilities", "capability", "events", "state", 1,
                               "capability", "pause-before-switchover", "state", j->kind == JOB_SNAPSHOT),
                     caps_reply, j);
        if (r < 0)
                state_job_fail(j, -ESRCH, "qemu closed its monitor");
}

static void stop_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;

        if (r < 0) {
                j->we_paused = false;
                state_job_qmp_failed(j, r, "stop the guest's CPUs", error);
                return;
        }
        state_job_paused(j);
}

static void state_job_cancel(DriverJob *base) {
        QemuStateJob *j = (QemuStateJob *) base;

        if (j->finishing || j->cancel_requested || j->in_then)
                return;   /* in a snapshot's switch: too late */
        j->cancel_requested = true;
        /* before the stream: each step looks at cancel_requested; a memory
         * dump cannot be stopped in qemu 7.2: it is finished and then thrown away */
        if (j->stream_started && j->kind != JOB_DUMP_MEMORY && j->rt->qmp)
                (void) qmp_send(j->rt->qmp, "migrate_cancel", NULL, NULL, NULL);
}

static int state_job_check(DriverRuntime *rt) {
        if (rt->starting || rt->restore_job)
                return -EBUSY;
        if (rt->killing || rt->state == DOMAIN_STATE_SHUTOFF || !rt->qmp)
                return -ESRCH;
        if (rt->state_job || rt->job_owns_pause > 0)
                return -EBUSY;
        if (rt->state != DOMAIN_STATE_RUNNING && rt->state != DOMAIN_STATE_PAUSED)
                return -ENOTCONN;   /* shutting down, crashed, pmsuspended: InvalidState */
        return 0;
}

static void dump_caps_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata);

static void state_copy_done(void *userdata, int r, const char *message) {
        QemuStateJob *j = userdata;
        int after = j->after_copy;

        j->copy_ended = true;
        j->copy_result = r;
        j->copy_message = message ? strdup(message) : NULL;
        j->after_copy = AFTER_COPY_NOTHING;
        if (after == AFTER_COPY_COMPLETE)
                stream_completed(j);
        else if (after == AFTER_COPY_FAIL)
                state_job_fail(j, j->error, j->message);
        else if (r < 0 && !j->finishing)
                /* a copier that gave up before qemu noticed: qemu's stream fails on the closed pipe; the
                 * failure is reported then, with the copier's message */
                log_debug("Domain %s: %s", j->rt ? j->rt->def->name : "?", strna(message));
}

/* bypass_cache: j->fd (the O_DIRECT file, at the stream's offset) goes to the
 * copier; what qemu gets (at getfd) is a pipe's writing end instead. */
static int state_job_pipe(QemuStateJob *j) {
        int p[2], r;
        off_t pos = lseek(j->fd, 0, SEEK_CUR);

        if (pos < 0)
                return -errno;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        (void) fcntl(p[1], F_SETPIPE_SZ, 1024 * 1024);   /* fewer wake-ups; best effort */
        r = direct_copy_start(j->rt->driver->event, DIRECT_COPY_TO_FILE, j->fd, p[0], (uint64_t) pos,
                              j->kind == JOB_SAVE ? "the save image" : "the dump", state_copy_done, j, &j->copy);
        close(p[0]);
        if (r < 0) {
                close(p[1]);
                return r;
        }
        close(j->fd);
        j->fd = p[1];
        return 0;
}

static int state_job_start(DriverRuntime *rt, StateJobKind kind, int fd, bool stop_cpus,
                           const DriverJobCallbacks *callbacks, QemuStateJob **ret) {
        QemuStateJob *j;
        QemuListener l;
        int r;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->base.cancel = state_job_cancel;
        j->rt = rt;
        j->kind = kind;
        j->cb = *callbacks;
        j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (j->fd < 0) {
                r = -errno;
                free(j);
                return r;
        }
        if (direct_io_is_direct(j->fd)) {
                r = state_job_pipe(j);
                if (r < 0) {
                        state_job_free(j);
                        return r;
                }
        }
        j->was_running = rt->state == DOMAIN_STATE_RUNNING;
        j->prev_reason = rt->reason;
        l = state_listener(j);
        r = qemu_runtime_add_listener(rt, &l);
        if (r < 0) {
                state_job_free(j);
                return r;
        }
        j->listening = true;
        rt->state_job = j;
        rt->job_owns_pause++;
        *ret = j;
        if (stop_cpus) {
                j->we_paused = true;
                if (j->was_running) {
                        r = qmp_send(rt->qmp, "stop", NULL, stop_reply, j);
                        if (r < 0) {
                                rt->job_owns_pause--;
                                j->cb.done = NULL;
                                state_job_free(j);
                                return r;
                        }
                        return 0;
                }
        }
        /* a memory dump asks for the formats first (dump_caps_reply decides
         * about the CPUs); else nothing to stop: on at once, but never within
         * this call (done must come later) */
        if (kind == JOB_DUMP_MEMORY)
                r = qmp_send(rt->qmp, "query-dump-guest-memory-capability", NULL, dump_caps_reply, j);
        else
                r = qmp_send(rt->qmp, "query-status", NULL, stop_reply, j);
        if (r < 0) {
                rt->job_owns_pause--;
                j->cb.done = NULL;
                state_job_free(j);
        }
        return r;
}

int qemu_driver_save(DriverRuntime *rt, int fd, DriverSaveFlags flags, const char *header_xml,
                     const DriverJobCallbacks *callbacks, DriverJob **ret_job) {
        g_autofree char *error = NULL;
        QemuStateJob *j;
        bool running;
        int r;

        r = state_job_check(rt);
        if (r < 0)
                return r;
        if (!header_xml || fd < 0)
                return -EINVAL;
        if (flags & DRIVER_SAVE_BYPASS_CACHE && !direct_io_is_direct(fd)) {
                /* qemu writes the stream unaligned: it goes through a pipe and a copier (state_job_pipe) */
                int fl = fcntl(fd, F_GETFL);
                if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) < 0)
                        return errno == EINVAL ? -EOPNOTSUPP : -errno;
        }
        running = flags & DRIVER_SAVE_RUNNING ? true
                  : flags & DRIVER_SAVE_PAUSED ? false
                                               : rt->state == DOMAIN_STATE_RUNNING;
        r = header_write(fd, header_xml, running, &error);
        if (r < 0) {
                log_warning("Domain %s: %s", rt->def->name, error);
                return r;
        }
        r = state_job_start(rt, JOB_SAVE, fd, true, callbacks, &j);
        if (r < 0)
                return r;
        qemu_runtime_log(rt, "saving the domain");
        *ret_job = &j->base;
        return 0;
}

int qemu_driver_save_then(DriverRuntime *rt, int fd, bool live, const char *header_xml, QemuStateThenFn then,
                          void *then_userdata, const DriverJobCallbacks *callbacks, DriverJob **ret_job) {
        g_autofree char *error = NULL;
        QemuStateJob *j;
        int r;

        r = state_job_check(rt);
        if (r < 0)
                return r;
        if (!header_xml || fd < 0 || !then)
                return -EINVAL;
        r = header_write(fd, header_xml, rt->state == DOMAIN_STATE_RUNNING, &error);
        if (r < 0) {
                log_warning("Domain %s: %s", rt->def->name, error);
                return r;
        }
        r = state_job_start(rt, JOB_SNAPSHOT, fd, !live, callbacks, &j);
        if (r < 0)
                return r;
        j->then = then;
        j->then_userdata = then_userdata;
        qemu_runtime_log(rt, "saving the domain's memory for a snapshot");
        *ret_job = &j->base;
        return 0;
}

/* ---- core dump ---- */

static const char *const dump_formats[] = { "elf", "kdump-zlib", "kdump-lzo", "kdump-snappy", NULL };

static void dump_caps_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuStateJob *j = userdata;
        const JsonValue *formats = json_object_get(ret, "formats");
        g_autoptr(GString) can = g_string_new(NULL);
        bool found = false;

        if (r < 0) {
                state_job_qmp_failed(j, r, "learn the dump formats", error);
                return;
        }
        for (size_t i = 0; i < json_array_size(formats); i++) {
                const char *f = json_string_value(json_array_get(formats, i));
                if (!f || !g_strv_contains(dump_formats, f))
                        continue;
                g_string_append_printf(can, "%s%s", can->len ? ", " : "", f);
                if (streq(f, j->format))
                        found = true;
        }
        if (!found) {
                g_autofree char *msg = g_strdup_printf("this qemu cannot write dump format '%s' (it can: %s)", j->format,
                                                       can->len ? can->str : "none");
                state_job_fail(j, -EOPNOTSUPP, msg);
                return;
        }
        if (j->dump.live || !j->was_running) {
                /* qemu stops (and resumes) the CPUs itself while it writes */
                j->we_paused = !j->was_running;
                state_job_paused(j);
                return;
        }
        j->we_paused = true;
        if (qmp_send(j->rt->qmp, "stop", NULL, stop_reply, j) < 0)
                state_job_fail(j, -ESRCH, "qemu closed its monitor");
}

int qemu_driver_core_dump(DriverRuntime *rt, int fd, const DriverDumpOptions *o, const DriverJobCallbacks *callbacks,
                          DriverJob **ret_job) {
        const char *format = o->format && *o->format ? o->format : "elf";
        QemuStateJob *j;
        int r;

        r = state_job_check(rt);
        if (r < 0)
                return r;
        if (fd < 0)
                return -EINVAL;
        if (!o->memory_only && o->format && *o->format)
                return -EINVAL;     /* a format is for memory-only dumps */
        if (o->memory_only && !g_strv_contains(dump_formats, format))
                return -EINVAL;
        if (o->crash && o->reset)
                return -EINVAL;
        if (o->memory_only) {
                /* the formats this qemu writes first; the CPUs later (dump_caps_reply) */
                r = state_job_start(rt, JOB_DUMP_MEMORY, fd, false, callbacks, &j);
                if (r < 0)
                        return r;
        } else {
                r = state_job_start(rt, JOB_DUMP_MIGRATE, fd, !o->live, callbacks, &j);
                if (r < 0)
                        return r;
        }
        j->dump = *o;
        j->dump.format = NULL;
        j->format = g_strdup(format);   /* before any reply: they come from the loop */
        qemu_runtime_log(rt, "dumping the domain%s", o->memory_only ? " (memory only)" : "");
        *ret_job = &j->base;
        return 0;
}

/* ---- restore ---- */

typedef struct QemuRestoreJob {
        DriverJob base;
        DriverRuntime *rt;          /* NULL once it is gone */
        DriverJobCallbacks cb;
        int fd;
        uint64_t data_offset, size;
        bool cancel_requested;
        bool reading;
        sd_event_source *timer;
        bool listening;
        DirectCopy *copy;           /* bypass_cache: the O_DIRECT image → a pipe qemu reads (j->fd) */
        char *copy_message;         /* the copier's failure, for qemu's that follows it */
} QemuRestoreJob;

static void restore_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata);
static void restore_gone(DriverRuntime *rt, bool exited, void *userdata) {
        QemuRestoreJob *j = userdata;

        /* the start's done follows (a failed start), or nothing (teardown) */
        j->listening = false;
        j->rt = NULL;
        j->reading = false;
        j->timer = sd_event_source_disable_unref(j->timer);
}

static QemuListener restore_listener(QemuRestoreJob *j) {
        return (QemuListener) { .event = restore_event, .gone = restore_gone, .userdata = j };
}

static void restore_stop_reading(QemuRestoreJob *j) {
        j->reading = false;
        j->timer = sd_event_source_disable_unref(j->timer);
}

static void restore_progress(QemuRestoreJob *j) {
        off_t pos;

        if (!j->cb.progress || (j->fd < 0 && !j->copy))
                return;
        /* qemu reads through the same open file: its offset is how far it got; or the copier's count */
        pos = j->copy ? (off_t) (j->data_offset + direct_copy_bytes(j->copy)) : lseek(j->fd, 0, SEEK_CUR);
        if (pos >= (off_t) j->data_offset)
                j->cb.progress(j->cb.userdata, (uint64_t) pos - j->data_offset, j->size - j->data_offset);
}

static int restore_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        restore_progress(userdata);
        (void) sd_event_source_set_time_relative(s, PROGRESS_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static void restore_failed(QemuRestoreJob *j, int error, const char *message) {
        DriverRuntime *rt = j->rt;

        restore_stop_reading(j);
        qemu_process_start_failed(rt, error, message);
}

static void restore_query_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuRestoreJob *j = userdata;
        const char *desc = json_util_member_string(ret, "error-desc");
        g_autofree char *msg = g_strdup_printf("cannot restore the domain: %s",
                                               j->copy_message ?: desc ?: "qemu could not read the image");

        if (j->rt && j->reading)
                restore_failed(j, -EIO, msg);
}

static void restore_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
        QemuRestoreJob *j = userdata;
        const char *status;

        if (!j->reading || !streq(name, "MIGRATION"))
                return;
        status = json_util_member_string(data, "status");
        if (streq_ptr(status, "completed")) {
                restore_progress(j);
                restore_stop_reading(j);
                close(j->fd);
                j->fd = -1;
                rt->incoming_pending = false;
                rt->restored = true;
                qemu_monitor_start_next(rt);
        } else if (streq_ptr(status, "failed"))
                (void) qmp_send(rt->qmp, "query-migrate", NULL, restore_query_reply, j);
}

static void restore_incoming_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuRestoreJob *j = userdata;
        g_autofree char *msg = NULL;

        if (!j->rt)
                return;
        if (r < 0) {
                msg = g_strdup_printf("cannot restore the domain: %s", strna(error));
                restore_failed(j, r == -ECONNRESET ? -EIO : -EIO, msg);
                return;
        }
        if (sd_event_add_time_relative(j->rt->driver->event, &j->timer, CLOCK_MONOTONIC, PROGRESS_INTERVAL_USEC, 0,
                                       restore_tick, j) < 0)
                log_debug("Domain %s: no restore progress", j->rt->def->name);
}

static void restore_getfd_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuRestoreJob *j = userdata;
        g_autofree char *msg = NULL;

        if (!j->rt)
                return;
        if (r < 0) {
                msg = g_strdup_printf("cannot pass the image to qemu: %s", strna(error));
                restore_failed(j, -EIO, msg);
                return;
        }
        if (j->copy) {
                /* qemu has the pipe's reading end: the copier's writes see EPIPE when qemu goes away */
                close(j->fd);
                j->fd = -1;
        }
        if (j->cancel_requested) {
                restore_failed(j, -ECANCELED, "the restore was cancelled");
                return;
        }
        r = qmp_send(j->rt->qmp, "migrate-incoming", json_pack("{s:s}", "uri", "fd:" RESTORE_FDNAME),
                     restore_incoming_reply, j);
        if (r < 0)
                restore_failed(j, -EIO, "cannot talk to qemu's monitor");
}

static void restore_caps_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuRestoreJob *j = userdata;
        g_autofree char *msg = NULL;

        if (!j->rt)
                return;
        if (r < 0) {
                msg = g_strdup_printf("cannot set the migration capabilities: %s", strna(error));
                restore_failed(j, -EIO, msg);
                return;
        }
        r = qmp_send_with_fd(j->rt->qmp, "getfd", json_pack("{s:s}", "fdname", RESTORE_FDNAME), j->fd,
                             restore_getfd_reply, j);
        if (r < 0)
                restore_failed(j, -EIO, "cannot talk to qemu's monitor");
}

void qemu_restore_incoming(DriverRuntime *rt) {
        QemuRestoreJob *j = rt->restore_job;
        int r;

        if (rt->mig_in) {
                qemu_migrate_incoming_step(rt);   /* qemu-migrate.c: from the network */
                return;
        }
        if (!j) {
                rt->incoming_pending = false;
                qemu_process_start_failed(rt, -EINVAL, "no save image to restore from");
                return;
        }
        if (j->cancel_requested) {
                qemu_process_start_failed(rt, -ECANCELED, "the restore was cancelled");
                return;
        }
        j->reading = true;
        r = qmp_send(rt->qmp, "migrate-set-capabilities",
                     json_pack("{s:[{s:s,s:b}]}", "capabilities", "capability", "events", "state", 1),
                     restore_caps_reply, j);
        if (r < 0)
                restore_failed(j, -EIO, "cannot talk to qemu's monitor");
}

static void restore_job_free(QemuRestoreJob *j) {
        restore_stop_reading(j);
        if (j->listening && j->rt) {
                QemuListener l = restore_listener(j);
                qemu_runtime_remove_listener(j->rt, &l);
        }
        if (j->rt && j->rt->restore_job == j)
                j->rt->restore_job = NULL;
        if (j->fd >= 0)
                close(j->fd);
        direct_copy_free(j->copy);
        free(j->copy_message);
        free(j);
}

static void restore_start_done(void *userdata, int r, const char *message) {
        QemuRestoreJob *j = userdata;
        DriverJobCallbacks cb = j->cb;
        g_autofree char *msg = g_strdup(message);

        if (r >= 0 && j->size > j->data_offset && cb.progress)
                cb.progress(cb.userdata, j->size - j->data_offset, j->size - j->data_offset);
        restore_job_free(j);
        if (cb.done)
                cb.done(cb.userdata, r, msg);
}

static void restore_cancel(DriverJob *base) {
        QemuRestoreJob *j = (QemuRestoreJob *) base;

        if (j->cancel_requested || !j->rt)
                return;
        j->cancel_requested = true;
        if (j->reading)
                restore_failed(j, -ECANCELED, "the restore was cancelled");
}

static void restore_copy_done(void *userdata, int r, const char *message) {
        QemuRestoreJob *j = userdata;

        /* a failure here ends the stream early: qemu fails on it, and that failure is reported */
        if (r < 0 && r != -EPIPE && r != -ECANCELED)
                j->copy_message = message ? strdup(message) : NULL;
}

/* bypass_cache: the copier reads the O_DIRECT image from the stream on into a pipe; qemu gets its reading end. */
static int restore_pipe(QemuRestoreJob *j, DomainDriver *d, int image_fd) {
        int p[2], r;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        (void) fcntl(p[1], F_SETPIPE_SZ, 1024 * 1024);
        r = direct_copy_start(((QemuDriver *) d)->event, DIRECT_COPY_FROM_FILE, image_fd, p[1], j->data_offset, "the save image",
                              restore_copy_done, j, &j->copy);
        close(p[1]);
        if (r < 0) {
                close(p[0]);
                return r;
        }
        j->fd = p[0];
        return 0;
}

int qemu_driver_restore(DomainDriver *d, void *owner, const DomainDef *def, int id, DriverStartFlags flags,
                        const DriverFiles *files, int image_fd, const DriverJobCallbacks *callbacks,
                        DriverRuntime **ret_rt, DriverJob **ret_job) {
        g_autofree char *error = NULL;
        QemuRestoreJob *j;
        uint64_t data = 0;
        struct stat st;
        int r;

        if (image_fd < 0 || fstat(image_fd, &st) < 0 || !S_ISREG(st.st_mode))
                return -EINVAL;
        r = header_read(image_fd, NULL, NULL, &data, &error);
        if (r <= 0) {
                log_debug("restore: %s", error ?: "not a save image");
                return r < 0 ? r : -EINVAL;
        }
        if ((uint64_t) st.st_size <= data)
                return -EINVAL;   /* a header without a stream */
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->base.cancel = restore_cancel;
        j->fd = -1;
        j->cb = *callbacks;
        j->data_offset = data;
        j->size = (uint64_t) st.st_size;
        if (direct_io_is_direct(image_fd))
                r = restore_pipe(j, d, image_fd);
        else {
                j->fd = fcntl(image_fd, F_DUPFD_CLOEXEC, 3);
                r = j->fd < 0 || lseek(j->fd, (off_t) data, SEEK_SET) < 0 ? -errno : 0;
        }
        if (r < 0) {
                restore_job_free(j);
                return r;
        }
        r = qemu_driver_start_incoming(d, owner, def, id, flags, files, j, ret_rt, restore_start_done, j);
        if (r < 0) {
                restore_job_free(j);
                return r;
        }
        j->rt = *ret_rt;
        /* from now on until the runtime is freed (also by a failed start, before its done) */
        QemuListener l = restore_listener(j);
        if (qemu_runtime_add_listener(j->rt, &l) >= 0)
                j->listening = true;
        else {
                /* cannot follow it: fail the start (its done frees j) */
                j->rt = NULL;
                qemu_process_start_failed(*ret_rt, -ENOMEM, NULL);
        }
        *ret_job = &j->base;
        return 0;
}
