/* qmp.c — asynchronous QMP client: connection, framing, command/reply matching, events. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "macro.h"
#include "qmp.h"

#define QMP_CAPABILITIES_ID ((uint64_t) INT64_MAX)
#define IN_SET(x, a, b, c) ((x) == (a) || (x) == (b) || (x) == (c))
#define QMP_READ_CHUNK (64u * 1024u)
#define QMP_READ_BUDGET (1024u * 1024u)   /* bytes per dispatch before yielding to the loop */

typedef enum QmpState {
        QMP_INIT,
        QMP_CONNECTING,
        QMP_GREETING,
        QMP_NEGOTIATING,
        QMP_READY,
        QMP_DEAD,
} QmpState;

typedef struct QmpPending {
        uint64_t id;
        QmpReplyFn fn;
        void *userdata;
        struct QmpPending *next;
} QmpPending;

/* A descriptor to send along with the byte at stream position `pos` of the
 * output (the first byte of the command that uses it: getfd, add-fd). */
typedef struct QmpOutFd {
        uint64_t pos;
        int fd;
        struct QmpOutFd *next;
} QmpOutFd;

typedef struct QmpBuf {
        char *data;
        size_t len, cap, off;   /* off: consumed (write) / scanned (read) */
} QmpBuf;

struct Qmp {
        unsigned n_ref;
        bool freed;
        QmpState state;
        sd_event *event;
        char *path;
        int fd;
        sd_event_source *io, *retry;
        uint64_t deadline;
        unsigned attempts;
        pid_t peer_pid;         /* > 0: the socket must be served by this process (SO_PEERCRED) */
        QmpCallbacks cb;
        void *userdata;
        QmpBuf in, out, held;   /* held: commands queued until capabilities are negotiated */
        uint64_t next_id;
        QmpPending *pending, *pending_tail;
        uint64_t out_sent;      /* bytes of `out` sent since the connection began */
        QmpOutFd *out_fds, *out_fds_tail;
};

static void qmp_buf_done(QmpBuf *b) {
        free(b->data);
        *b = (QmpBuf) {};
}

static int qmp_buf_append(QmpBuf *b, const char *data, size_t len) {
        if (b->len + len + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                char *n;

                while (cap < b->len + len + 1)
                        cap *= 2;
                n = realloc(b->data, cap);
                if (!n)
                        return -ENOMEM;
                b->data = n;
                b->cap = cap;
        }
        memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = 0;
        return 0;
}

static void qmp_drop_out_fds(Qmp *q) {
        while (q->out_fds) {
                QmpOutFd *f = q->out_fds;
                q->out_fds = f->next;
                close(f->fd);
                free(f);
        }
        q->out_fds_tail = NULL;
}

static void qmp_close_fd(Qmp *q) {
        qmp_drop_out_fds(q);
        q->io = sd_event_source_disable_unref(q->io);
        q->retry = sd_event_source_disable_unref(q->retry);
        if (q->fd >= 0) {
                close(q->fd);
                q->fd = -1;
        }
}

static void qmp_ref(Qmp *q) {
        q->n_ref++;
}

static void qmp_unref(Qmp *q) {
        if (--q->n_ref > 0)
                return;
        qmp_close_fd(q);
        while (q->pending) {
                QmpPending *p = q->pending;
                q->pending = p->next;
                free(p);
        }
        qmp_buf_done(&q->in);
        qmp_buf_done(&q->out);
        qmp_buf_done(&q->held);
        sd_event_unref(q->event);
        free(q->path);
        free(q);
}

Qmp *qmp_free(Qmp *q) {
        if (!q || q->freed)
                return NULL;
        q->freed = true;
        q->state = QMP_DEAD;
        qmp_close_fd(q);
        qmp_unref(q);
        return NULL;
}

bool qmp_is_ready(const Qmp *q) {
        return q && q->state == QMP_READY;
}

/* Tears the connection down, fails pending commands and tells the owner. */
static void qmp_disconnect(Qmp *q, int error) {
        if (q->state == QMP_DEAD)
                return;
        q->state = QMP_DEAD;
        qmp_close_fd(q);
        qmp_ref(q);
        while (q->pending && !q->freed) {
                QmpPending *p = q->pending;
                q->pending = p->next;
                if (!q->pending)
                        q->pending_tail = NULL;
                if (p->fn)
                        p->fn(q, -ECONNRESET, NULL, NULL, p->userdata);
                free(p);
        }
        if (!q->freed && q->cb.disconnected)
                q->cb.disconnected(q, error, q->userdata);
        qmp_unref(q);
}

static int qmp_update_io(Qmp *q) {
        uint32_t events = EPOLLIN;

        if (!q->io)
                return 0;
        if (q->out.off < q->out.len)
                events |= EPOLLOUT;
        return sd_event_source_set_io_events(q->io, events);
}

/* Sends bytes of `out`, with SCM_RIGHTS for the byte an fd belongs to. */
static ssize_t qmp_send_some(Qmp *q, size_t len) {
        QmpOutFd *f = q->out_fds;
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = q->out.data + q->out.off };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (f && f->pos > q->out_sent)
                len = len < (size_t) (f->pos - q->out_sent) ? len : (size_t) (f->pos - q->out_sent);   /* up to the byte that carries it */
        iov.iov_len = len;
        if (f && f->pos == q->out_sent) {
                struct cmsghdr *c;

                mh.msg_control = control.buf;
                mh.msg_controllen = sizeof(control.buf);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &f->fd, sizeof(int));
        }
        n = sendmsg(q->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0 && mh.msg_control) {
                /* the kernel took the descriptor with the first byte */
                q->out_fds = f->next;
                if (!q->out_fds)
                        q->out_fds_tail = NULL;
                close(f->fd);
                free(f);
        }
        return n;
}

/* Writes what the socket takes now. Returns 0 or -errno for a broken socket. */
static int qmp_flush(Qmp *q) {
        while (q->out.off < q->out.len) {
                ssize_t n = qmp_send_some(q, q->out.len - q->out.off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                q->out.off += (size_t) n;
                q->out_sent += (uint64_t) n;
        }
        if (q->out.off == q->out.len)
                q->out.off = q->out.len = 0;
        return 0;
}

static int qmp_queue_line(Qmp *q, QmpBuf *b, const char *command, JsonValue *arguments, uint64_t id) {
        _cleanup_json_ JsonValue *msg = json_object();
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        if (!msg) {
                json_decref(arguments);
                return -ENOMEM;
        }
        /* jansson fails only for lack of memory here (or a command name that is not UTF-8) */
        if (json_object_set_new(msg, "execute", json_string(command)) < 0) {
                json_decref(arguments);
                return -ENOMEM;
        }
        if (arguments && json_object_set_new(msg, "arguments", arguments) < 0)
                return -ENOMEM;
        if (json_object_set_new(msg, "id", json_integer((int64_t) (id & INT64_MAX))) < 0)
                return -ENOMEM;
        text = json_util_format(msg, &len);
        if (!text)
                return -ENOMEM;
        r = qmp_buf_append(b, text, len);
        if (r < 0)
                return r;
        return qmp_buf_append(b, "\r\n", 2);
}

static int qmp_add_pending(Qmp *q, uint64_t id, QmpReplyFn fn, void *userdata) {
        QmpPending *p = calloc(1, sizeof(QmpPending));

        if (!p)
                return -ENOMEM;
        p->id = id;
        p->fn = fn;
        p->userdata = userdata;
        if (q->pending_tail)
                q->pending_tail->next = p;
        else
                q->pending = p;
        q->pending_tail = p;
        return 0;
}

static int qmp_send_internal(Qmp *q, const char *command, JsonValue *arguments, int fd, QmpReplyFn fn,
                             void *userdata) {
        uint64_t id;
        int r;

        if (!q || q->state == QMP_DEAD || (fd >= 0 && q->state != QMP_READY)) {
                json_decref(arguments);
                return -ENOTCONN;
        }
        id = q->next_id++;
        if (fd >= 0) {
                QmpOutFd *f = calloc(1, sizeof(QmpOutFd));
                if (!f) {
                        json_decref(arguments);
                        return -ENOMEM;
                }
                f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (f->fd < 0) {
                        r = -errno;
                        free(f);
                        json_decref(arguments);
                        return r;
                }
                /* the line starts where the unsent part of `out` ends */
                f->pos = q->out_sent + (q->out.len - q->out.off);
                r = qmp_queue_line(q, &q->out, command, arguments, id);
                if (r < 0) {
                        close(f->fd);
                        free(f);
                        return r;
                }
                if (q->out_fds_tail)
                        q->out_fds_tail->next = f;
                else
                        q->out_fds = f;
                q->out_fds_tail = f;
        } else {
                r = qmp_queue_line(q, q->state == QMP_READY ? &q->out : &q->held, command, arguments, id);
                if (r < 0)
                        return r;
        }
        r = qmp_add_pending(q, id, fn, userdata);
        if (r < 0)
                return r;
        log_debug("QMP → %s (id %" PRIu64 "%s)", command, id, fd >= 0 ? ", with an fd" : "");
        if (q->state == QMP_READY) {
                /* A broken socket is noticed (and reported) by the I/O handler, never from here. */
                (void) qmp_flush(q);
                (void) qmp_update_io(q);
        }
        return 0;
}

int qmp_send(Qmp *q, const char *command, JsonValue *arguments, QmpReplyFn fn, void *userdata) {
        return qmp_send_internal(q, command, arguments, -1, fn, userdata);
}

int qmp_send_with_fd(Qmp *q, const char *command, JsonValue *arguments, int fd, QmpReplyFn fn, void *userdata) {
        if (fd < 0) {
                json_decref(arguments);
                return -EBADF;
        }
        return qmp_send_internal(q, command, arguments, fd, fn, userdata);
}

static void qmp_handle_reply(Qmp *q, const JsonValue *msg) {
        const JsonValue *ret = json_object_get(msg, "return");
        const JsonValue *err = json_object_get(msg, "error");
        _cleanup_free_ char *error = NULL;
        QmpPending *p, *prev = NULL;
        int64_t id;

        if (json_util_integer(json_object_get(msg, "id"), &id) < 0) {
                log_warning("QMP reply without our id, ignoring: %s", strna(json_util_member_string(err, "desc")));
                return;
        }
        if (q->state == QMP_NEGOTIATING && (uint64_t) id == QMP_CAPABILITIES_ID) {
                if (!ret) {
                        log_warning("QMP qmp_capabilities failed: %s", strna(json_util_member_string(err, "desc")));
                        qmp_disconnect(q, -EPROTO);
                        return;
                }
                q->state = QMP_READY;
                if (q->held.len > 0) {
                        if (qmp_buf_append(&q->out, q->held.data, q->held.len) < 0) {
                                qmp_disconnect(q, -ENOMEM);
                                return;
                        }
                        qmp_buf_done(&q->held);
                }
                (void) qmp_flush(q);
                (void) qmp_update_io(q);
                if (q->cb.ready)
                        q->cb.ready(q, q->userdata);
                return;
        }
        for (p = q->pending; p; prev = p, p = p->next)
                if (p->id == (uint64_t) id)
                        break;
        if (!p) {
                log_warning("QMP reply with unknown id %" PRIi64 ", ignoring.", id);
                return;
        }
        if (prev)
                prev->next = p->next;
        else
                q->pending = p->next;
        if (q->pending_tail == p)
                q->pending_tail = prev;
        if (!ret && err)
                if (asprintf(&error, "%s: %s", strna(json_util_member_string(err, "class")),
                             strna(json_util_member_string(err, "desc"))) < 0)
                        error = NULL;
        if (p->fn) {
                if (ret)
                        p->fn(q, 0, ret, NULL, p->userdata);
                else
                        p->fn(q, -EIO, NULL, error ? error : "malformed QMP reply", p->userdata);
        }
        free(p);
}

static void qmp_handle_event(Qmp *q, const JsonValue *msg) {
        const char *name = json_util_member_string(msg, "event");
        const JsonValue *ts = json_object_get(msg, "timestamp");
        int64_t sec = 0, usec = 0;
        uint64_t t = 0;

        if (json_util_integer(json_object_get(ts, "seconds"), &sec) >= 0 &&
            json_util_integer(json_object_get(ts, "microseconds"), &usec) >= 0 && sec >= 0 && usec >= 0)
                t = (uint64_t) sec * 1000000u + (uint64_t) usec;
        log_debug("QMP event %s", name);
        if (q->cb.event)
                q->cb.event(q, name, json_object_get(msg, "data"), t, q->userdata);
}

/* Handles one complete message line. Returns 0 or -EPROTO. */
static int qmp_handle_line(Qmp *q, const char *line, size_t len) {
        _cleanup_json_ JsonValue *msg = NULL;
        size_t off = 0;
        int r;

        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
                len--;
        if (len == 0)
                return 0;
        r = json_util_parse(line, len, &msg, &off);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !json_is_object(msg)) {
                log_warning("QMP: malformed message (at byte %zu), closing the monitor.", off);
                return -EPROTO;
        }
        if (json_object_get(msg, "QMP")) {
                if (q->state != QMP_GREETING)
                        return -EPROTO;
                q->state = QMP_NEGOTIATING;
                r = qmp_queue_line(q, &q->out, "qmp_capabilities", NULL, QMP_CAPABILITIES_ID);
                if (r < 0)
                        return r;
                r = qmp_flush(q);
                if (r < 0)
                        return r;
                return qmp_update_io(q);
        }
        if (q->state == QMP_GREETING)
                return -EPROTO;
        if (json_object_get(msg, "event"))
                qmp_handle_event(q, msg);
        else if (json_object_get(msg, "return") || json_object_get(msg, "error"))
                qmp_handle_reply(q, msg);
        else
                log_debug("QMP: ignoring message of unknown kind.");
        return 0;
}

int qmp_feed(Qmp *q, const char *data, size_t len) {
        size_t start;
        int r = 0;

        if (q->state == QMP_DEAD)
                return -ENOTCONN;
        if (q->in.len + len > QMP_MAX_MESSAGE + QMP_READ_BUDGET) {
                qmp_disconnect(q, -EMSGSIZE);
                return -EMSGSIZE;
        }
        r = qmp_buf_append(&q->in, data, len);
        if (r < 0) {
                qmp_disconnect(q, r);
                return r;
        }
        qmp_ref(q);
        start = 0;
        for (;;) {
                size_t from = q->in.off > start ? q->in.off : start;
                char *nl = memchr(q->in.data + from, '\n', q->in.len - from);

                if (!nl) {
                        q->in.off = q->in.len;
                        if (q->in.len - start > QMP_MAX_MESSAGE) {
                                log_warning("QMP: message larger than %u bytes, closing the monitor.", QMP_MAX_MESSAGE);
                                r = -EMSGSIZE;
                        }
                        break;
                }
                r = qmp_handle_line(q, q->in.data + start, (size_t) (nl - (q->in.data + start)));
                start = (size_t) (nl - q->in.data) + 1;
                if (r < 0 || q->state == QMP_DEAD)   /* broken, or closed from a callback */
                        break;
        }
        /* Keep only the incomplete tail. */
        if (start > 0) {
                memmove(q->in.data, q->in.data + start, q->in.len - start);
                q->in.len -= start;
                q->in.data[q->in.len] = 0;
                q->in.off = q->in.off > start ? q->in.off - start : 0;
        }
        if (r < 0)
                qmp_disconnect(q, r);
        qmp_unref(q);
        return r;
}

static int qmp_io_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Qmp *q = userdata;
        char buf[QMP_READ_CHUNK];
        size_t total = 0;
        int r = 0;

        qmp_ref(q);
        if (revents & EPOLLOUT) {
                r = qmp_flush(q);
                if (r < 0) {
                        qmp_disconnect(q, r);
                        goto finish;
                }
                (void) qmp_update_io(q);
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                while (total < QMP_READ_BUDGET && q->state != QMP_DEAD) {
                        ssize_t n = recv(q->fd, buf, sizeof(buf), MSG_DONTWAIT);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                if (errno == EAGAIN)
                                        break;
                                qmp_disconnect(q, -errno);
                                goto finish;
                        }
                        if (n == 0) {
                                qmp_disconnect(q, 0);
                                goto finish;
                        }
                        total += (size_t) n;
                        if (qmp_feed(q, buf, (size_t) n) < 0)
                                goto finish;
                }
        }
finish:
        qmp_unref(q);
        return 0;
}

static int qmp_attach_fd(Qmp *q, int fd) {
        int r;

        q->fd = fd;
        q->state = QMP_GREETING;
        r = sd_event_add_io(q->event, &q->io, fd, EPOLLIN, qmp_io_handler, q);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(q->io, "qmp-io");
        return 0;
}

static int qmp_alloc(sd_event *event, const QmpCallbacks *callbacks, void *userdata, Qmp **ret) {
        Qmp *q = calloc(1, sizeof(Qmp));

        if (!q)
                return -ENOMEM;
        q->n_ref = 1;
        q->fd = -1;
        q->event = sd_event_ref(event);
        q->cb = *callbacks;
        q->userdata = userdata;
        q->next_id = 1;
        *ret = q;
        return 0;
}

int qmp_new(sd_event *event, const char *socket_path, const QmpCallbacks *callbacks, void *userdata, Qmp **ret) {
        Qmp *q;
        int r;

        if (strlen(socket_path) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return -ENAMETOOLONG;
        r = qmp_alloc(event, callbacks, userdata, &q);
        if (r < 0)
                return r;
        q->path = strdup(socket_path);
        if (!q->path) {
                qmp_unref(q);
                return -ENOMEM;
        }
        *ret = q;
        return 0;
}

int qmp_new_fd(sd_event *event, int fd, const QmpCallbacks *callbacks, void *userdata, Qmp **ret) {
        Qmp *q;
        int r;

        r = qmp_alloc(event, callbacks, userdata, &q);
        if (r < 0) {
                close(fd);
                return r;
        }
        r = qmp_attach_fd(q, fd);
        if (r < 0) {
                qmp_unref(q);
                return r;
        }
        *ret = q;
        return 0;
}

static int qmp_try_connect(Qmp *q);

static int qmp_retry_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        Qmp *q = userdata;
        int r;

        q->retry = sd_event_source_disable_unref(q->retry);
        r = qmp_try_connect(q);
        if (r < 0)
                qmp_disconnect(q, r);
        return 0;
}

/* One connect attempt; schedules the next one when qemu is not listening yet. */
static int qmp_try_connect(Qmp *q) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        uint64_t now, delay;
        int r;

        strncpy(sa.sun_path, q->path, sizeof(sa.sun_path) - 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) >= 0 || errno == EINPROGRESS) {
                if (q->peer_pid > 0) {
                        struct ucred cred = {};
                        socklen_t len = sizeof(cred);

                        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                                return -errno;
                        if (cred.pid != q->peer_pid) {
                                log_warning("QMP socket %s is served by process %d, not by pid %d: not using it.",
                                            q->path, (int) cred.pid, (int) q->peer_pid);
                                return -EPERM;
                        }
                }
                r = qmp_attach_fd(q, TAKE_FD(fd));
                if (r < 0)
                        return r;
                log_debug("QMP connected to %s after %u attempts.", q->path, q->attempts + 1);
                return 0;
        }
        if (!IN_SET(errno, ENOENT, ECONNREFUSED, EAGAIN))
                return -errno;
        (void) sd_event_now(q->event, CLOCK_MONOTONIC, &now);
        if (now >= q->deadline)
                return -ETIMEDOUT;
        q->attempts++;
        /* qemu creates the socket some tens of ms after exec: poll tightly at first. */
        delay = q->attempts < 500 ? 1000 : q->attempts < 700 ? 10000 : 50000;
        return sd_event_add_time_relative(q->event, &q->retry, CLOCK_MONOTONIC, delay, 500, qmp_retry_handler, q);
}

void qmp_set_peer_pid(Qmp *q, pid_t pid) {
        q->peer_pid = pid;
}

int qmp_connect(Qmp *q, uint64_t timeout_usec) {
        uint64_t now;

        if (q->state != QMP_INIT || !q->path)
                return -EALREADY;
        (void) sd_event_now(q->event, CLOCK_MONOTONIC, &now);
        q->deadline = now + timeout_usec;
        q->state = QMP_CONNECTING;
        return qmp_try_connect(q);
}
