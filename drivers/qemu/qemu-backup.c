/* qemu-backup.c — point-in-time copies of a running domain's disks (DomainDriverOps.backup_disks).
 *
 * Each target file the service created is given to qemu with add-fd and gets
 * a protocol node on /dev/fdset/N and a format node over it (a qcow2 is
 * formatted first by blockdev-create, a raw one is sized by block_resize: a
 * backup target has its source's size). Then ONE transaction of
 * blockdev-backup sync=full actions (completion-mode grouped: one that fails
 * takes the others with it) starts every copy at the same instant: from then
 * on qemu's copy-before-write filter puts what the guest is about to
 * overwrite into the copy first, so each copy is its disk as it was then,
 * and the disks agree with each other. Progress is query-jobs'
 * current/total over the jobs, the end their BLOCK_JOB_COMPLETED or
 * BLOCK_JOB_CANCELLED events. Whatever the end, the targets' nodes and fd
 * sets go (blockdev-del, remove-fd) before done is called.
 *
 * A zero area of the source becomes a zero write to the copy, which qemu's
 * file driver turns into fallocate(ZERO_RANGE): blocks allocated but
 * unwritten, which read as holes (SEEK_HOLE). Once qemu let go of a complete
 * raw copy, a thread punches those out, so that it is as sparse as its
 * original (a qcow2 copy records zero clusters without allocating them). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "qemu/qemu-disk-node.h"
#include "qemu/qemu-driver-internal.h"

#define BACKUP_POLL_USEC (500u * 1000u)

typedef struct Backup Backup;

typedef struct BackupTarget {
        size_t disk;
        char *dev;                      /* the disk's target dev, for messages */
        int fd;                         /* ours until qemu holds it in its fd set */
        int sparse_fd;                  /* a raw copy: ours, for the holes at the end */
        char *format;
        char source[64];                /* the disk's active format node */
        uint64_t size;                  /* its virtual size */
        char storage[64], node[64];     /* the copy's protocol and format nodes */
        char job_id[80], create_id[88];
        int64_t fdset;                  /* -1 until added */
        bool storage_added, formatted, node_added, sized;
        bool ended;                     /* its backup job's end was seen */
        bool cancelled;                 /* … and it was a cancel */
        char *error;                    /* qemu's words when it failed */
        uint64_t done, total;           /* query-jobs' progress */
} BackupTarget;

typedef enum BackupPhase {
        BACKUP_PREPARE,                 /* nodes being set up, one target after the other */
        BACKUP_RUNNING,                 /* the transaction was sent: qemu's jobs exist (once it is answered) */
        BACKUP_CLEANUP,                 /* the targets' nodes and fd sets go; done follows */
        BACKUP_SPARSE,                  /* complete: the thread punches the raw copies' holes */
} BackupPhase;

struct Backup {
        DriverJob dj;                   /* first */
        DriverRuntime *rt;              /* NULL once the runtime went */
        DriverJobCallbacks cb;
        QemuListener listener;
        BackupTarget *t;
        size_t n, i;                    /* i: the target being prepared, then cleaned up */
        uint64_t bandwidth;
        BackupPhase phase;
        bool started;                   /* the transaction was answered: the jobs run */
        bool cancelled, done_called, listening;
        unsigned n_pending;             /* QMP replies still to come */
        sd_event_source *poll;
        int result;
        char *message;
        GThread *thread;                /* BACKUP_SPARSE */
        int thread_efd;
        sd_event_source *thread_source;
};

static void backup_next(Backup *b);
static void backup_cleanup_next(Backup *b);
static int backup_sparse_start(Backup *b);

static void backup_free(Backup *b) {
        sd_event_source_disable_unref(b->poll);
        sd_event_source_disable_unref(b->thread_source);
        if (b->thread)
                g_thread_join(b->thread);   /* driver teardown: bounded, the holes of a few files */
        if (b->thread_efd >= 0)
                close(b->thread_efd);
        for (size_t i = 0; i < b->n; i++) {
                if (b->t[i].sparse_fd >= 0)
                        close(b->t[i].sparse_fd);
                if (b->t[i].fd >= 0)
                        close(b->t[i].fd);
                free(b->t[i].dev);
                free(b->t[i].format);
                free(b->t[i].error);
        }
        free(b->t);
        free(b->message);
        free(b);
}

/* Freed once done was called and no reply is still to come (none comes once the runtime went). */
static void backup_maybe_free(Backup *b) {
        if (b->done_called && (b->n_pending == 0 || !b->rt))
                backup_free(b);
}

static void backup_done(Backup *b) {
        DriverJobCallbacks cb = b->cb;
        _cleanup_free_ char *m = b->message ? strdup(b->message) : NULL;

        if (b->done_called)
                return;
        b->done_called = true;
        b->poll = sd_event_source_disable_unref(b->poll);
        if (b->rt && b->listening)
                qemu_runtime_remove_listener(b->rt, &b->listener);
        b->listening = false;
        if (b->rt)
                qemu_runtime_log(b->rt, "disk backup of %zu disk%s: %s", b->n, b->n == 1 ? "" : "s",
                                 b->result < 0 ? strna(b->message) : "done");
        cb.done(cb.userdata, b->result, m);
        backup_maybe_free(b);
}

/* Ends the job with r: what was added to qemu goes first, then done. */
static void backup_end(Backup *b, int r, const char *message) {
        if (b->phase >= BACKUP_CLEANUP)
                return;
        b->phase = BACKUP_CLEANUP;
        b->result = r;
        free(b->message);
        b->message = message ? strdup(message) : NULL;
        b->poll = sd_event_source_disable_unref(b->poll);
        b->i = 0;
        backup_cleanup_next(b);
}

/* Every reply (userdata: the job) passes here first: false when the job is over and the reply unwanted
 * (the job is freed with its last reply). */
static bool reply_wanted(Backup *b) {
        b->n_pending--;
        if (!b->done_called)
                return true;
        backup_maybe_free(b);
        return false;
}

/* The same for the replies of the targets' preparation, which only the target under way waits for. */
static bool prepare_reply_wanted(Backup *b) {
        return reply_wanted(b) && b->phase == BACKUP_PREPARE && b->i < b->n;
}

static void ignored_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        (void) reply_wanted(userdata);
}

/* Sends command (with fd when >= 0, arguments taken); fn(…, b) gets the reply. 0, or a negative errno
 * (fn not called). */
static int backup_send(Backup *b, const char *command, JsonValue *args, int fd, QmpReplyFn fn) {
        int r;

        if (!b->rt || !b->rt->qmp) {
                json_decref(args);
                return -ESRCH;
        }
        r = fd >= 0 ? qmp_send_with_fd(b->rt->qmp, command, args, fd, fn, b) : qmp_send(b->rt->qmp, command, args, fn, b);
        if (r >= 0)
                b->n_pending++;
        return r;
}

/* Sends, and ends the job when the command cannot be sent. */
static void backup_step(Backup *b, const char *command, JsonValue *args, int fd, QmpReplyFn fn) {
        if (backup_send(b, command, args, fd, fn) < 0)
                backup_end(b, -ESRCH, "cannot talk to qemu's monitor");
}

/* A failed reply ends the job with qemu's words about the current target; true when it did. */
static bool backup_failed(Backup *b, int r, const char *error, const char *what) {
        _cleanup_free_ char *m = NULL;

        if (r >= 0)
                return false;
        if (r == -ECONNRESET || !b->rt || !b->rt->qmp) {
                backup_end(b, -ESRCH, "the domain stopped during the copy");
                return true;
        }
        m = g_strdup_printf("%s for the copy of disk %s: %s", what, b->t[b->i].dev, error ?: strerror(-r));
        backup_end(b, -EIO, m);
        return true;
}

static JsonValue *node_arg(const char *node) {
        JsonValue *a = json_object();

        json_object_set_new(a, "node-name", json_string(node));
        return a;
}

/* ---- the end: every node and fd set of the targets goes, then the raw copies' holes ---- */

/* Punches out the ranges of fd that read as holes but hold (unwritten) blocks; failures only leave blocks. */
static void punch_holes(int fd) {
        off_t end = lseek(fd, 0, SEEK_END), at = 0;

        while (end > 0 && at < end) {
                off_t hole = lseek(fd, at, SEEK_HOLE), data;

                if (hole < 0 || hole >= end)
                        return;
                data = lseek(fd, hole, SEEK_DATA);
                if (data < 0)
                        data = end;   /* ENXIO: a hole up to the end */
                if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, hole, data - hole) < 0 &&
                    errno == EOPNOTSUPP)
                        return;
                at = data;
        }
}

static void *sparse_thread(void *userdata) {
        Backup *b = userdata;

        for (size_t k = 0; k < b->n; k++)
                if (b->t[k].sparse_fd >= 0)
                        punch_holes(b->t[k].sparse_fd);
        (void) eventfd_write(b->thread_efd, 1);
        return NULL;
}

static int on_sparse_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Backup *b = userdata;

        b->thread_source = sd_event_source_disable_unref(b->thread_source);
        g_thread_join(b->thread);
        b->thread = NULL;
        backup_done(b);
        return 0;
}

/* The copies are complete and qemu holds none: the holes of the raw ones, in a thread. 0, or a
 * negative errno when there is nothing to do (or no thread: they stay as they are). */
static int backup_sparse_start(Backup *b) {
        bool any = false;
        int r;

        for (size_t k = 0; k < b->n; k++)
                any = any || b->t[k].sparse_fd >= 0;
        if (!any || !b->rt)
                return -ENOENT;
        b->thread_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (b->thread_efd < 0)
                return -errno;
        r = sd_event_add_io(b->rt->driver->event, &b->thread_source, b->thread_efd, EPOLLIN, on_sparse_done, b);
        if (r < 0)
                return r;
        b->thread = g_thread_try_new("vmgmt-sparse", sparse_thread, b, NULL);
        if (!b->thread) {
                b->thread_source = sd_event_source_disable_unref(b->thread_source);
                return -EAGAIN;
        }
        b->phase = BACKUP_SPARSE;
        return 0;
}

static void cleanup_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Backup *b = userdata;

        if (!reply_wanted(b))
                return;
        if (r < 0 && r != -ECONNRESET && b->rt)
                qemu_runtime_log(b->rt, "disk backup: cleanup: %s", strna(error));
        backup_cleanup_next(b);
}

static void backup_cleanup_next(Backup *b) {
        for (; b->i < b->n; b->i++) {
                BackupTarget *t = &b->t[b->i];
                JsonValue *a;
                int r;

                if (t->node_added) {
                        t->node_added = false;
                        r = backup_send(b, "blockdev-del", node_arg(t->node), -1, cleanup_reply);
                } else if (t->storage_added) {
                        t->storage_added = false;
                        r = backup_send(b, "blockdev-del", node_arg(t->storage), -1, cleanup_reply);
                } else if (t->fdset >= 0) {
                        a = json_object();
                        json_object_set_new(a, "fdset-id", json_integer(t->fdset));
                        t->fdset = -1;
                        r = backup_send(b, "remove-fd", a, -1, cleanup_reply);
                } else
                        continue;
                if (r >= 0)
                        return;   /* the reply comes back here for what is left of this target */
                break;            /* the monitor is gone, and with it what qemu held */
        }
        if (b->result >= 0 && backup_sparse_start(b) >= 0)
                return;
        backup_done(b);
}

/* ---- progress and the jobs' ends ---- */

static void jobs_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Backup *b = userdata;
        uint64_t done = 0, total = 0;

        if (!reply_wanted(b))
                return;
        if (r < 0 || b->phase != BACKUP_RUNNING)
                return;
        for (size_t k = 0; k < b->n; k++) {
                BackupTarget *t = &b->t[k];

                for (size_t i = 0; !t->ended && i < json_array_size(ret); i++) {
                        const JsonValue *e = json_array_get(ret, i);
                        int64_t cur, tot;

                        if (!streq_ptr(json_util_member_string(e, "id"), t->job_id))
                                continue;
                        if (json_util_integer(json_object_get(e, "current-progress"), &cur) >= 0 &&
                            json_util_integer(json_object_get(e, "total-progress"), &tot) >= 0 && cur >= 0 && tot >= 0) {
                                t->done = (uint64_t) cur;
                                t->total = (uint64_t) tot;
                        }
                }
                done += t->done;
                total += MAX(t->total, t->size);
        }
        if (b->cb.progress)
                b->cb.progress(b->cb.userdata, MIN(done, total), total);
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        Backup *b = userdata;

        if (b->phase == BACKUP_RUNNING && b->started && b->n_pending < 4)
                (void) backup_send(b, "query-jobs", NULL, -1, jobs_reply);
        (void) sd_event_source_set_time_relative(s, BACKUP_POLL_USEC);
        return 0;
}

static void cancel_jobs(Backup *b) {
        for (size_t k = 0; k < b->n; k++) {
                JsonValue *a;

                if (b->t[k].ended)
                        continue;
                a = json_object();
                json_object_set_new(a, "id", json_string(b->t[k].job_id));
                (void) backup_send(b, "job-cancel", a, -1, ignored_reply);
        }
}

/* Once every job ended (and the transaction was answered): the result. */
static void maybe_finished(Backup *b) {
        const BackupTarget *failed = NULL;
        bool all = true, cancelled = false;

        if (b->phase != BACKUP_RUNNING || !b->started)
                return;
        for (size_t k = 0; k < b->n; k++) {
                all = all && b->t[k].ended;
                cancelled = cancelled || b->t[k].cancelled;
                /* the copy that failed, before those grouped completion cancelled for it */
                if (b->t[k].error && (!failed || (failed->cancelled && !b->t[k].cancelled)))
                        failed = &b->t[k];
        }
        if (!all)
                return;
        if (failed) {
                _cleanup_free_ char *m = g_strdup_printf("the copy of disk %s failed: %s", failed->dev, failed->error);
                backup_end(b, -EIO, m);
        } else if (cancelled)
                /* a Cancel that came too late for every copy leaves them complete */
                backup_end(b, -ECANCELED, "cancelled");
        else {
                uint64_t total = 0;

                for (size_t k = 0; k < b->n; k++)
                        total += MAX(b->t[k].total, b->t[k].size);
                if (b->cb.progress)
                        b->cb.progress(b->cb.userdata, total, total);
                backup_end(b, 0, NULL);
        }
}

static void create_event(Backup *b, const char *id, const char *status);

static void backup_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
        Backup *b = userdata;
        bool completed = streq(name, "BLOCK_JOB_COMPLETED");
        const char *id;

        if (b->done_called)
                return;
        if (streq(name, "JOB_STATUS_CHANGE")) {
                create_event(b, json_util_member_string(data, "id"), json_util_member_string(data, "status"));
                return;
        }
        if (!completed && !streq(name, "BLOCK_JOB_CANCELLED"))
                return;
        id = json_util_member_string(data, "device");
        for (size_t k = 0; k < b->n; k++) {
                BackupTarget *t = &b->t[k];
                const char *error = json_util_member_string(data, "error");
                int64_t offset, len;

                if (!streq_ptr(id, t->job_id) || t->ended)
                        continue;
                t->ended = true;
                t->cancelled = !completed;
                if (json_util_integer(json_object_get(data, "offset"), &offset) >= 0 &&
                    json_util_integer(json_object_get(data, "len"), &len) >= 0 && offset >= 0 && len >= 0) {
                        t->done = (uint64_t) offset;
                        t->total = (uint64_t) len;
                }
                if (completed && error)
                        t->error = strdup(error);
                else if (!completed && !b->cancelled)
                        /* grouped: another copy failed, or someone else cancelled this one */
                        t->error = strdup("qemu cancelled the copy");
        }
        maybe_finished(b);
}

static void backup_gone(DriverRuntime *rt, bool exited, void *userdata) {
        Backup *b = userdata;

        b->listening = false;
        b->rt = NULL;   /* its monitor went first: no reply comes any more */
        if (b->done_called || (exited && b->phase == BACKUP_SPARSE))
                return;   /* the copies are complete: the thread's end reports it */
        if (!exited) {
                b->done_called = true;   /* driver teardown: nobody is called back */
                backup_free(b);
                return;
        }
        b->result = -ESRCH;
        free(b->message);
        b->message = strdup("the domain stopped during the copy");
        backup_done(b);
}

/* ---- the transaction ---- */

static void transaction_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Backup *b = userdata;

        if (!reply_wanted(b))
                return;
        if (r < 0) {
                _cleanup_free_ char *m = NULL;

                if (r == -ECONNRESET || !b->rt || !b->rt->qmp) {
                        backup_end(b, -ESRCH, "the domain stopped during the copy");
                        return;
                }
                m = g_strdup_printf("qemu refused to copy the disks: %s", strna(error));
                backup_end(b, -EIO, m);
                return;
        }
        b->started = true;
        qemu_runtime_log(b->rt, "disk backup of %zu disk%s started", b->n, b->n == 1 ? "" : "s");
        (void) sd_event_add_time_relative(b->rt->driver->event, &b->poll, CLOCK_MONOTONIC, BACKUP_POLL_USEC, 0,
                                          on_poll, b);
        if (b->cancelled)
                cancel_jobs(b);
        maybe_finished(b);   /* the jobs may have ended before this reply */
}

static void send_transaction(Backup *b) {
        JsonValue *actions = json_array(), *props = json_object(), *a = json_object();

        for (size_t k = 0; k < b->n; k++) {
                JsonValue *data = json_object(), *act = json_object();

                json_object_set_new(data, "job-id", json_string(b->t[k].job_id));
                json_object_set_new(data, "device", json_string(b->t[k].source));
                json_object_set_new(data, "target", json_string(b->t[k].node));
                json_object_set_new(data, "sync", json_string("full"));
                if (b->bandwidth > 0)
                        json_object_set_new(data, "speed",
                                            json_integer((json_int_t) MIN(b->bandwidth, (uint64_t) INT64_MAX)));
                json_object_set_new(act, "type", json_string("blockdev-backup"));
                json_object_set_new(act, "data", data);
                json_array_append_new(actions, act);
        }
        json_object_set_new(props, "completion-mode", json_string("grouped"));
        json_object_set_new(a, "actions", actions);
        json_object_set_new(a, "properties", props);
        b->phase = BACKUP_RUNNING;
        backup_step(b, "transaction", a, -1, transaction_reply);
}

/* ---- the targets, one after the other ---- */

static void step_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Backup *b = userdata;
        BackupTarget *t;

        if (!prepare_reply_wanted(b))
                return;
        t = &b->t[b->i];
        if (backup_failed(b, r, error, !t->storage_added ? "cannot open the file"
                                       : !t->node_added ? "cannot open the image" : "cannot size the image"))
                return;
        if (!t->storage_added)
                t->storage_added = true;
        else if (!t->node_added)
                t->node_added = true;
        else
                t->sized = true;
        backup_next(b);
}

static void fd_added(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Backup *b = userdata;
        BackupTarget *t;

        if (!prepare_reply_wanted(b))
                return;
        t = &b->t[b->i];
        if (backup_failed(b, r, error, "cannot pass the file to qemu"))
                return;
        if (json_util_integer(json_object_get(ret, "fdset-id"), &t->fdset) < 0) {
                t->fdset = -1;
                backup_failed(b, -EIO, "qemu named no fd set", "cannot pass the file to qemu");
                return;
        }
        close(t->fd);   /* qemu has its own */
        t->fd = -1;
        backup_next(b);
}

static void dismiss_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Backup *b = userdata;
        BackupTarget *t;

        if (!prepare_reply_wanted(b))
                return;
        t = &b->t[b->i];
        if (t->error) {
                _cleanup_free_ char *m = g_strdup_printf("cannot format the copy of disk %s: %s", t->dev, t->error);
                backup_end(b, -EIO, m);
                return;
        }
        if (backup_failed(b, r, error, "cannot dismiss the format job"))
                return;
        t->formatted = true;
        backup_next(b);
}

static void create_jobs_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Backup *b = userdata;
        BackupTarget *t;
        JsonValue *a;

        if (!prepare_reply_wanted(b))
                return;
        t = &b->t[b->i];
        if (backup_failed(b, r, error, "cannot ask qemu about the format job"))
                return;
        for (size_t i = 0; i < json_array_size(ret); i++) {
                const JsonValue *e = json_array_get(ret, i);
                const char *err = json_util_member_string(e, "error");

                if (streq_ptr(json_util_member_string(e, "id"), t->create_id) && err && !t->error)
                        t->error = strdup(err);
        }
        a = json_object();
        json_object_set_new(a, "id", json_string(t->create_id));
        backup_step(b, "job-dismiss", a, -1, dismiss_reply);
}

/* blockdev-create's job of the current target concluded: its result, then it is dismissed. */
static void create_event(Backup *b, const char *id, const char *status) {
        if (b->phase != BACKUP_PREPARE || b->i >= b->n || !streq_ptr(id, b->t[b->i].create_id) ||
            !streq_ptr(status, "concluded"))
                return;
        backup_step(b, "query-jobs", NULL, -1, create_jobs_reply);
}

static void create_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Backup *b = userdata;

        if (!prepare_reply_wanted(b))
                return;
        backup_failed(b, r, error, "cannot format the image");
        /* else JOB_STATUS_CHANGE "concluded" follows */
}

static JsonValue *target_storage_args(const BackupTarget *t) {
        JsonValue *a = json_object();
        char filename[64];

        snprintf(filename, sizeof(filename), "/dev/fdset/%" PRIi64, t->fdset);
        json_object_set_new(a, "driver", json_string("file"));
        json_object_set_new(a, "node-name", json_string(t->storage));
        json_object_set_new(a, "filename", json_string(filename));
        json_object_set_new(a, "read-only", json_false());
        return a;
}

static void backup_next(Backup *b) {
        BackupTarget *t;
        JsonValue *a;

        if (b->cancelled) {
                backup_end(b, -ECANCELED, "cancelled");
                return;
        }
        if (b->i >= b->n) {
                send_transaction(b);
                return;
        }
        t = &b->t[b->i];
        if (t->fdset < 0) {
                a = json_object();
                json_object_set_new(a, "opaque", json_string(t->storage));
                backup_step(b, "add-fd", a, t->fd, fd_added);
        } else if (!t->storage_added)
                backup_step(b, "blockdev-add", target_storage_args(t), -1, step_reply);
        else if (streq(t->format, "qcow2") && !t->formatted) {
                JsonValue *o = json_object();

                json_object_set_new(o, "driver", json_string("qcow2"));
                json_object_set_new(o, "file", json_string(t->storage));
                json_object_set_new(o, "size", json_integer((json_int_t) t->size));
                a = json_object();
                json_object_set_new(a, "job-id", json_string(t->create_id));
                json_object_set_new(a, "options", o);
                backup_step(b, "blockdev-create", a, -1, create_reply);
        } else if (!t->node_added) {
                a = json_object();
                json_object_set_new(a, "driver", json_string(t->format));
                json_object_set_new(a, "node-name", json_string(t->node));
                json_object_set_new(a, "file", json_string(t->storage));
                json_object_set_new(a, "read-only", json_false());
                if (streq(t->format, "qcow2"))
                        json_object_set_new(a, "backing", json_null());
                backup_step(b, "blockdev-add", a, -1, step_reply);
        } else if (streq(t->format, "raw") && !t->sized) {
                a = node_arg(t->node);
                json_object_set_new(a, "size", json_integer((json_int_t) t->size));
                backup_step(b, "block_resize", a, -1, step_reply);
        } else {
                b->i++;
                backup_next(b);
        }
}

/* query-block: each disk's active node (the copy's source), its size and its nodes' prefix. */
static void nodes_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Backup *b = userdata;

        if (!prepare_reply_wanted(b))
                return;
        if (backup_failed(b, r, error, "cannot read qemu's disks"))
                return;
        for (size_t k = 0; k < b->n; k++) {
                BackupTarget *t = &b->t[k];
                const JsonValue *in = qemu_disk_inserted(ret, b->rt->def, t->disk);
                const char *node = json_util_member_string(in, "node-name");
                char prefix[32];
                int64_t size = 0;
                unsigned id = g_random_int();

                if (!in || !qemu_node_prefix(node, prefix, sizeof(prefix)) ||
                    json_util_integer(json_object_get(json_object_get(in, "image"), "virtual-size"), &size) < 0 ||
                    size <= 0) {
                        _cleanup_free_ char *m = g_strdup_printf("qemu has no image for disk %s", t->dev);
                        backup_end(b, -EINVAL, m);
                        return;
                }
                snprintf(t->source, sizeof(t->source), "%s", node);
                t->size = (uint64_t) size;
                snprintf(t->storage, sizeof(t->storage), "%sbk%08x-storage", prefix, id);
                snprintf(t->node, sizeof(t->node), "%sbk%08x-format", prefix, id);
                snprintf(t->job_id, sizeof(t->job_id), "vmgmt-backup-%sbk%08x", prefix, id);
                snprintf(t->create_id, sizeof(t->create_id), "%s-create", t->job_id);
        }
        b->i = 0;
        backup_next(b);
}

/* ---- DriverJob ---- */

static void backup_cancel(DriverJob *dj) {
        Backup *b = (Backup *) dj;

        if (b->done_called || b->cancelled || b->phase == BACKUP_CLEANUP)
                return;
        b->cancelled = true;
        if (b->phase == BACKUP_RUNNING && b->started)
                cancel_jobs(b);
        /* else the step under way, or the transaction's reply, sees it */
}

static int check_targets(DriverRuntime *rt, const DriverBackupTarget *targets, size_t n, char **ret_error) {
        if (rt->starting || rt->killing || !rt->qmp || !qmp_is_ready(rt->qmp)) {
                *ret_error = strdup(rt->starting ? "the domain is still starting" : "the domain is being stopped");
                return rt->starting ? -EBUSY : -ESRCH;
        }
        if (n == 0) {
                *ret_error = strdup("no disk to copy");
                return -EINVAL;
        }
        for (size_t k = 0; k < n; k++) {
                const DriverBackupTarget *t = &targets[k];
                const DomainDiskDef *d = t->disk < rt->def->n_disks ? &rt->def->disks[t->disk] : NULL;

                if (!d || !d->source || d->device != DOMAIN_DISK_DEVICE_DISK || t->fd < 0) {
                        *ret_error = g_strdup_printf("disk %zu of the running domain has no image to copy", t->disk);
                        return -EINVAL;
                }
                if (!STR_IN_SET(strempty(t->format), "raw", "qcow2")) {
                        *ret_error = g_strdup_printf("a copy of disk %s cannot be of format '%s' (raw, qcow2)",
                                                     strna(d->target_dev), strna(t->format));
                        return -EOPNOTSUPP;
                }
                for (size_t j = 0; j < k; j++)
                        if (targets[j].disk == t->disk) {
                                *ret_error = g_strdup_printf("disk %s is named twice", strna(d->target_dev));
                                return -EINVAL;
                        }
                if (qemu_block_job_on_disk(rt, t->disk)) {
                        *ret_error = g_strdup_printf("a block job runs on disk %s", strna(d->target_dev));
                        return -EBUSY;
                }
        }
        return 0;
}

int qemu_backup_disks(DriverRuntime *rt, const DriverBackupTarget *targets, size_t n, uint64_t bandwidth,
                      const DriverJobCallbacks *cb, DriverJob **ret, char **ret_error) {
        Backup *b;
        int r;

        r = check_targets(rt, targets, n, ret_error);
        if (r < 0)
                return r;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->dj.cancel = backup_cancel;
        b->rt = rt;
        b->cb = *cb;
        b->bandwidth = bandwidth;
        b->thread_efd = -1;
        b->t = calloc(n, sizeof(*b->t));
        if (!b->t) {
                free(b);
                return -ENOMEM;
        }
        b->n = n;
        for (size_t k = 0; k < n; k++)
                b->t[k].fd = b->t[k].sparse_fd = -1;   /* for backup_free() from here on */
        for (size_t k = 0; k < n; k++) {
                BackupTarget *t = &b->t[k];

                t->disk = targets[k].disk;
                t->fdset = -1;
                t->dev = strdup(strempty(rt->def->disks[t->disk].target_dev));
                t->format = strdup(targets[k].format);
                t->fd = fcntl(targets[k].fd, F_DUPFD_CLOEXEC, 3);
                if (streq_ptr(t->format, "raw"))
                        t->sparse_fd = fcntl(targets[k].fd, F_DUPFD_CLOEXEC, 3);
                if (t->fd < 0 || !t->dev || !t->format || (streq(t->format, "raw") && t->sparse_fd < 0)) {
                        r = t->fd < 0 ? -errno : -ENOMEM;
                        backup_free(b);
                        return r;
                }
        }
        b->listener = (QemuListener) { .event = backup_event, .gone = backup_gone, .userdata = b };
        r = qemu_runtime_add_listener(rt, &b->listener);
        if (r < 0) {
                backup_free(b);
                return r;
        }
        b->listening = true;
        r = backup_send(b, "query-block", NULL, -1, nodes_reply);
        if (r < 0) {
                qemu_runtime_remove_listener(rt, &b->listener);
                backup_free(b);
                *ret_error = strdup("cannot talk to qemu's monitor");
                return r == -ENOTCONN ? -ESRCH : r;
        }
        *ret = &b->dj;
        return 0;
}
