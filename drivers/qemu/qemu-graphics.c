/* qemu-graphics.c — a running domain's display: where its VNC server listens
 * (live definition), connections to it, and PNG screenshots (QMP screendump
 * into a file in the run dir, copied to the caller's fd without ever blocking
 * the event loop: see "screenshots" below). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "qemu-command.h"
#include "qemu-driver-internal.h"
#include "time-util.h"

#define GRAPHICS_CONNECT_TIMEOUT_USEC (5u * 1000000u)
#define GRAPHICS_RETRY_USEC (20u * 1000u)                  /* a unix listener with a full backlog */
#define SCREENSHOT_CHUNK (64u * 1024u)
#define SCREENSHOT_STALL_TIMEOUT_USEC_DEFAULT (30u * 1000000u)   /* a reader that takes nothing for this long */

typedef void (*GraphicsFdFn)(void *userdata, int r, int fd, const char *message);

static char *mfree_str(char *p) {
        free(p);
        return NULL;
}

static void clear_def_xml(DriverRuntime *rt) {
        free(rt->def_xml);
        rt->def_xml = NULL;
}

static bool graphics_is_tcp(const DomainGraphicsDef *g) {
        return streq_ptr(g->type, "vnc") && !streq_ptr(g->listen_type, "none") && !streq_ptr(g->listen_type, "socket");
}

/* ---- a VNC socket the definition names ---- */

/* Its path is the caller's: vmgmtd bound it with her rights (the service's
 * files), qemu never opens it. -vnc takes no fd, so qemu starts with the
 * run-dir socket and gets this one over QMP before the guest runs; vmgmtd
 * itself keeps reaching the display through the run-dir socket
 * (connect_address()), never through a path the caller controls. */

#define VNC_LISTEN_FDNAME "vnc-listen"

static bool graphics_names_socket(const DomainGraphicsDef *g) {
        return streq_ptr(g->type, "vnc") && streq_ptr(g->listen_type, "socket") && g->listen;
}

int qemu_graphics_keep_listen_fd(DriverRuntime *rt, const DriverFiles *files) {
        const DriverFile *f;

        if (rt->def->n_graphics == 0 || !graphics_names_socket(&rt->def->graphics[0]))
                return 0;
        f = driver_files_find(files, DOMAIN_PATH_GRAPHICS, 0, 0);
        if (!f || f->fd < 0)
                return 0;   /* qemu_command_build() refuses the start */
        rt->vnc_listen_fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 3);
        return rt->vnc_listen_fd < 0 ? -errno : 0;
}

/* {type: unix, path: the run-dir socket as the command line named it
 * (qemu's cwd is the run dir)} or {type: fd, str: fdname}; NULL without memory. */
static JsonValue *vnc_address(DriverRuntime *rt, const char *fdname) {
        _cleanup_free_ char *path = NULL;
        JsonValue *a = json_object();

        if (!fdname)
                path = strlen(rt->vnc_file) < sizeof(((struct sockaddr_un *) NULL)->sun_path)
                               ? strdup(rt->vnc_file)
                               : g_strdup_printf("/proc/self/cwd/%s", strrchr(rt->vnc_file, '/') + 1);
        if (!a || (!fdname && !path) || json_object_set_new(a, "type", json_string(fdname ? "fd" : "unix")) < 0 ||
            json_object_set_new(a, fdname ? "str" : "path", json_string(fdname ?: path)) < 0) {
                json_decref(a);
                return NULL;
        }
        return a;
}

int qemu_graphics_send_listen_fd(DriverRuntime *rt, QmpReplyFn done) {
        _cleanup_close_ int fd = TAKE_FD(rt->vnc_listen_fd);
        JsonValue *getfd, *args, *addrs;
        int r;

        if (fd < 0)
                return 0;
        getfd = json_object();
        if (!getfd || json_object_set_new(getfd, "fdname", json_string(VNC_LISTEN_FDNAME)) < 0) {
                json_decref(getfd);
                return -ENOMEM;
        }
        /* display-update is read after getfd was answered: its own reply says
         * whether the fd arrived (an unknown fdname fails it) */
        r = qmp_send_with_fd(rt->qmp, "getfd", getfd, fd, NULL, NULL);
        if (r < 0)
                return r;
        /* the addresses replace the ones qemu listens on: the run-dir socket stays */
        addrs = json_array();
        if (!addrs || json_array_append_new(addrs, vnc_address(rt, NULL)) < 0 ||
            json_array_append_new(addrs, vnc_address(rt, VNC_LISTEN_FDNAME)) < 0) {
                json_decref(addrs);
                return -ENOMEM;
        }
        args = json_object();
        if (!args) {
                json_decref(addrs);
                return -ENOMEM;
        }
        if (json_object_set_new(args, "addresses", addrs) < 0 ||   /* addrs is args' even on failure */
            json_object_set_new(args, "type", json_string("vnc")) < 0) {
                json_decref(args);
                return -ENOMEM;
        }
        r = qmp_send(rt->qmp, "display-update", args, done, rt);
        return r < 0 ? r : 1;
}

/* ---- the live definition ---- */

/* Screendump files (UUID.screendump.XXXXXX) with the given name prefix in
 * dir; with domain_dirs, in the domains' own run dirs below it too. */
static void remove_screendumps(const char *path, const char *prefix, bool domain_dirs) {
        DIR *dir = opendir(path);
        struct dirent *de;

        if (!dir)
                return;
        while ((de = readdir(dir)))
                if (g_str_has_prefix(de->d_name, prefix) && strstr(de->d_name, ".screendump."))
                        (void) unlinkat(dirfd(dir), de->d_name, 0);
                else if (domain_dirs && de->d_type == DT_DIR && strlen(de->d_name) == 36) {
                        _cleanup_free_ char *sub = g_build_filename(path, de->d_name, NULL);
                        remove_screendumps(sub, prefix, false);
                }
        closedir(dir);
}

/* At driver start, before any Screenshot of this instance: nothing in the run
 * dirs' screendump files is ours, whether their domain runs or not. */
void qemu_graphics_sweep_screendumps(QemuDriver *d) {
        remove_screendumps(d->run_dir, "", true);
}

void qemu_graphics_set_stall_timeout(DomainDriver *base, uint64_t usec) {
        QemuDriver *d = (QemuDriver *) base;

        d->screenshot_stall_usec = usec;
}

/* Screendump files a daemon killed mid-screenshot left behind. */
static void remove_stale_screendumps(DriverRuntime *rt) {
        _cleanup_free_ char *prefix = g_strdup_printf("%s.screendump.", rt->uuid);

        remove_screendumps(rt->driver->run_dir, prefix, false);
        remove_screendumps(rt->run_dir, prefix, false);
}

void qemu_graphics_set_live(DriverRuntime *rt) {
        remove_stale_screendumps(rt);
        for (size_t i = 0; i < rt->def->n_graphics; i++) {
                DomainGraphicsDef *g = &rt->def->graphics[i];
                char *type, *path;

                if (!streq_ptr(g->type, "vnc") || !qemu_graphics_uses_run_dir_socket(g))
                        continue;
                type = strdup("socket");
                path = strdup(rt->vnc_file);
                if (!type || !path) {
                        free(type);
                        free(path);
                        log_warning("Domain %s: out of memory naming the VNC socket in the live XML", rt->def->name);
                        continue;
                }
                free(g->listen_type);
                g->listen_type = type;
                free(g->listen);
                g->listen = path;
                g->port = -1;
                g->autoport = false;
        }
        clear_def_xml(rt);
}

static void query_vnc_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        DriverRuntime *rt = userdata;
        const char *service = json_util_member_string(ret, "service");
        DomainGraphicsDef *g;
        unsigned long port;
        char *end;

        if (r < 0 || !service) {
                log_warning("Domain %s: query-vnc failed: %s", rt->def->name, strna(error));
                return;
        }
        if (rt->def->n_graphics == 0 || !graphics_is_tcp(&rt->def->graphics[0]))
                return;
        g = &rt->def->graphics[0];
        errno = 0;
        port = strtoul(service, &end, 10);
        if (errno != 0 || *end || port == 0 || port > 65535) {
                log_warning("Domain %s: qemu's VNC server listens on '%s', not a port", rt->def->name, service);
                return;
        }
        g->port = (int) port;
        clear_def_xml(rt);
}

void qemu_graphics_query_port(DriverRuntime *rt) {
        /* qemu supports one VNC server per process: graphics[0] */
        if (!rt->qmp || rt->def->n_graphics == 0 || !graphics_is_tcp(&rt->def->graphics[0]))
                return;
        if (qmp_send(rt->qmp, "query-vnc", NULL, query_vnc_reply, rt) < 0)
                log_warning("Domain %s: cannot ask qemu for its VNC port", rt->def->name);
}

static int check_runtime(DriverRuntime *rt) {
        if (rt->starting)
                return -EBUSY;
        if (rt->killing || rt->state == DOMAIN_STATE_SHUTOFF)
                return -ESRCH;
        return 0;
}

/* ---- connecting to the VNC server ---- */

typedef struct GraphicsConnect {
        QemuOp *op;                     /* done = connect_op_done, userdata = this */
        sd_event *event;
        union {
                struct sockaddr sa;
                struct sockaddr_un un;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } addr;
        socklen_t addr_len;
        char *where;                    /* for messages: the socket path or [ADDR]:PORT */
        int fd;
        pid_t qemu_pid;                 /* a unix socket's server must be this process */
        bool retrying;                  /* the timer is a retry, not the deadline */
        uint64_t deadline;
        sd_event_source *io, *timer;
        char *message;
        GraphicsFdFn done;
        void *userdata;
} GraphicsConnect;

static void graphics_connect_free(GraphicsConnect *c) {
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        sd_event_unref(c->event);
        if (c->fd >= 0)
                close(c->fd);
        free(c->where);
        free(c->message);
        free(c);
}

/* The op ends: through connect_finish(), or the domain stopped (-ESRCH). */
static void connect_op_done(void *userdata, int r, const char *message) {
        GraphicsConnect *c = userdata;
        GraphicsFdFn done = c->done;
        void *ud = c->userdata;
        _cleanup_free_ char *msg = message ? strdup(message) : NULL;
        int fd = -1;

        if (r >= 0)
                fd = TAKE_FD(c->fd);
        c->op = NULL;
        graphics_connect_free(c);
        done(ud, r, fd, msg);
}

static void connect_abandon(void *userdata) {
        graphics_connect_free(userdata);
}

_printf_(3, 4) static void connect_finish(GraphicsConnect *c, int r, const char *fmt, ...) {
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                if (vasprintf(&c->message, fmt, ap) < 0)
                        c->message = NULL;
                va_end(ap);
        }
        qemu_op_complete(c->op, r, c->message);
}

/* The fd goes to a client as if it were the domain's display: a unix socket
 * path from the XML must be served by the domain's own qemu, not by whatever
 * process listens there now. 0, or a negative errno (the op finished). */
static int check_peer(GraphicsConnect *c) {
        struct ucred cred = {};
        socklen_t len = sizeof(cred);

        if (c->addr.sa.sa_family != AF_UNIX)
                return 0;
        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                connect_finish(c, -errno, "cannot tell who serves the VNC socket %s: %m", c->where);
                return -EPERM;
        }
        if (cred.pid != c->qemu_pid) {
                connect_finish(c, -EPERM,
                               "the VNC socket %s is served by process %d, not by the domain's qemu (pid %d)",
                               c->where, (int) cred.pid, (int) c->qemu_pid);
                return -EPERM;
        }
        return 0;
}

static int connect_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        GraphicsConnect *c = userdata;
        int err = 0, flags;
        socklen_t len = sizeof(err);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        if (err != 0) {
                connect_finish(c, -err, "cannot connect to the VNC server at %s: %s", c->where, strerror(err));
                return 0;
        }
        err = check_peer(c);
        if (err < 0)
                return 0;
        /* the client gets an ordinary blocking socket; it picks its own mode */
        flags = fcntl(c->fd, F_GETFL);
        if (flags < 0 || fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
                connect_finish(c, -errno, "cannot set up the VNC connection: %m");
                return 0;
        }
        connect_finish(c, 0, NULL);
        return 0;
}

static int connect_attempt(GraphicsConnect *c);

static int connect_arm_timer(GraphicsConnect *c, uint64_t usec) {
        int r = sd_event_source_set_time(c->timer, usec);

        return r < 0 ? r : sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static int connect_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        GraphicsConnect *c = userdata;
        int r;

        if (!c->retrying) {
                connect_finish(c, -ETIMEDOUT, "timed out connecting to the VNC server at %s", c->where);
                return 0;
        }
        r = connect_attempt(c);
        if (r < 0)
                connect_finish(c, r, "cannot connect to the VNC server at %s: %s", c->where, strerror(-r));
        return 0;
}

/* One non-blocking connect. 0 when it is under way (or done: the io source
 * fires at once), or a negative errno. */
static int connect_attempt(GraphicsConnect *c) {
        uint64_t next;
        int r;

        c->io = sd_event_source_disable_unref(c->io);
        if (c->fd >= 0)
                c->fd = (close(c->fd), -1);
        c->fd = socket(c->addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->fd < 0)
                return -errno;
        if (connect(c->fd, &c->addr.sa, c->addr_len) < 0 && errno != EINPROGRESS) {
                if (errno != EAGAIN)
                        return -errno;
                /* a unix listener whose backlog is full: try again shortly */
                next = monotonic_usec() + GRAPHICS_RETRY_USEC;
                if (next >= c->deadline)
                        return -ETIMEDOUT;
                c->retrying = true;
                return connect_arm_timer(c, next);
        }
        c->retrying = false;
        r = connect_arm_timer(c, c->deadline);
        if (r < 0)
                return r;
        return sd_event_add_io(c->event, &c->io, c->fd, EPOLLOUT, connect_io, c);
}

/* Where to connect for graphics device g. 0, or -EOPNOTSUPP / -EADDRNOTAVAIL. */
static int connect_address(DriverRuntime *rt, const DomainGraphicsDef *g, GraphicsConnect *c) {
        if (!streq_ptr(g->type, "vnc") || streq_ptr(g->listen_type, "none"))
                return -EOPNOTSUPP;
        /* a live definition from before the run-dir socket was named in it */
        bool run_dir_socket = qemu_graphics_uses_run_dir_socket(g);
        struct stat st;
        /* a socket the definition names is served beside the run-dir one, which
         * is vmgmtd's way in (qemus started before that listen only on the path) */
        if (graphics_names_socket(g) && lstat(rt->vnc_file, &st) == 0 && S_ISSOCK(st.st_mode))
                run_dir_socket = true;
        if (streq_ptr(g->listen_type, "socket") || run_dir_socket) {
                const char *path = run_dir_socket ? rt->vnc_file : g->listen;
                char alt[sizeof(c->addr.un.sun_path)];

                if (!path)
                        return -EADDRNOTAVAIL;
                c->where = strdup(path);
                /* the run-dir socket may be too long for sun_path: reach it through the dir fd */
                if (strlen(path) >= sizeof(c->addr.un.sun_path) && streq(path, rt->vnc_file)) {
                        snprintf(alt, sizeof(alt), "%s", rt->vnc_connect_path);
                        path = alt;
                }
                if (strlen(path) >= sizeof(c->addr.un.sun_path))
                        return -ENAMETOOLONG;
                c->addr.un.sun_family = AF_UNIX;
                memcpy(c->addr.un.sun_path, path, strlen(path) + 1);
                c->addr_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
                return c->where ? 0 : -ENOMEM;
        }
        /* TCP: the listen address, or loopback for a wildcard one */
        const char *host = g->listen ?: "127.0.0.1";
        if (g->port <= 0)
                return -EADDRNOTAVAIL;   /* qemu never told us its port */
        if (streq(host, "0.0.0.0"))
                host = "127.0.0.1";
        else if (streq(host, "::"))
                host = "::1";
        if (inet_pton(AF_INET, host, &c->addr.in.sin_addr) == 1) {
                c->addr.in.sin_family = AF_INET;
                c->addr.in.sin_port = htons((uint16_t) g->port);
                c->addr_len = sizeof(c->addr.in);
                c->where = g_strdup_printf("%s:%d", host, g->port);
        } else if (inet_pton(AF_INET6, host, &c->addr.in6.sin6_addr) == 1) {
                c->addr.in6.sin6_family = AF_INET6;
                c->addr.in6.sin6_port = htons((uint16_t) g->port);
                c->addr_len = sizeof(c->addr.in6);
                c->where = g_strdup_printf("[%s]:%d", host, g->port);
        } else
                return -EADDRNOTAVAIL;
        return 0;
}

int qemu_graphics_open(DriverRuntime *rt, unsigned index, GraphicsFdFn done, void *userdata) {
        GraphicsConnect *c;
        int r;

        r = check_runtime(rt);
        if (r < 0)
                return r;
        if (index >= rt->def->n_graphics)
                return -EINVAL;
        c = calloc(1, sizeof(GraphicsConnect));
        if (!c)
                return -ENOMEM;
        c->fd = -1;
        c->qemu_pid = rt->pid;
        c->event = sd_event_ref(rt->driver->event);
        c->done = done;
        c->userdata = userdata;
        c->deadline = monotonic_usec() + GRAPHICS_CONNECT_TIMEOUT_USEC;
        r = connect_address(rt, &rt->def->graphics[index], c);
        if (r >= 0)
                r = sd_event_add_time(c->event, &c->timer, CLOCK_MONOTONIC, c->deadline, 0, connect_timer, c);
        if (r >= 0)
                r = connect_attempt(c);
        if (r < 0) {
                graphics_connect_free(c);
                return r;
        }
        c->op = qemu_op_new(rt, QEMU_OP_GENERIC, connect_op_done, c);
        if (!c->op) {
                graphics_connect_free(c);
                return -ENOMEM;
        }
        c->op->abandon = connect_abandon;
        return 0;
}

/* ---- screenshots ---- */

/* The caller's fd is only dup'ed: its open file description (and so its
 * O_NONBLOCK flag) is shared with the caller and stays as it is. How the PNG
 * gets there without ever blocking the loop depends on what it is:
 *   a socket:   send(MSG_DONTWAIT), driven by EPOLLOUT;
 *   a FIFO/pipe: a second, non-blocking open of it (/proc/self/fd/N makes a
 *               new open file description), driven by EPOLLOUT;
 *   anything else (a file, a block or character device, a tty): write() in a
 *               worker thread that owns its fds and its state (ScreenshotCopy),
 *               so a Screenshot that stalls or whose domain stops is answered
 *               at once and the thread ends by itself whenever its write does. */

typedef struct ScreenshotCopy {
        gint refs;
        int png_fd, dst_fd;
        int notify_fd;                  /* eventfd: the worker is done */
        uint64_t written;               /* __atomic */
        uint64_t last_progress;         /* __atomic: monotonic_usec() of the last write that took bytes */
        int result;                     /* set before notify_fd is written */
        bool read_failed;               /* result is about the PNG file, not the destination */
} ScreenshotCopy;

static void screenshot_copy_unref(ScreenshotCopy *c) {
        if (!c || !g_atomic_int_dec_and_test(&c->refs))
                return;
        if (c->png_fd >= 0)
                close(c->png_fd);
        if (c->dst_fd >= 0)
                close(c->dst_fd);
        if (c->notify_fd >= 0)
                close(c->notify_fd);
        free(c);
}

typedef enum ScreenshotDst {
        DST_SOCKET,                     /* send(MSG_DONTWAIT) */
        DST_NONBLOCK,                   /* our own non-blocking open of a FIFO */
        DST_THREAD,                     /* ScreenshotCopy */
} ScreenshotDst;

typedef struct Screenshot {
        QemuOp *op;                     /* done = screenshot_op_done, userdata = this */
        sd_event *event;
        char *path;                     /* the file qemu writes; NULL once unlinked */
        int png_fd;                     /* our own fd of that file */
        int dst_fd;                     /* the caller's, duplicated (or reopened non-blocking) */
        ScreenshotDst dst;
        uint64_t stall_usec;
        ScreenshotCopy *copy;           /* DST_THREAD: shared with the worker */
        sd_event_source *io, *stall;
        uint8_t *buf;
        size_t off, len;
        uint64_t written;
        uint64_t last_progress;
        char *message;
        DriverDoneFn done;
        void *userdata;
} Screenshot;

static void screenshot_free(Screenshot *s) {
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->stall);
        sd_event_unref(s->event);
        if (s->path)
                (void) unlink(s->path);
        free(s->path);
        if (s->png_fd >= 0)
                close(s->png_fd);
        if (s->dst_fd >= 0)
                close(s->dst_fd);
        screenshot_copy_unref(s->copy);   /* a worker still writing keeps its own reference */
        free(s->buf);
        free(s->message);
        free(s);
}

static void screenshot_op_done(void *userdata, int r, const char *message) {
        Screenshot *s = userdata;
        DriverDoneFn done = s->done;
        void *ud = s->userdata;
        _cleanup_free_ char *msg = message ? strdup(message) : NULL;

        s->op = NULL;
        screenshot_free(s);
        done(ud, r, msg);
}

static void screenshot_abandon(void *userdata) {
        screenshot_free(userdata);
}

_printf_(3, 4) static void screenshot_finish(Screenshot *s, int r, const char *fmt, ...) {
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                if (vasprintf(&s->message, fmt, ap) < 0)
                        s->message = NULL;
                va_end(ap);
        }
        qemu_op_complete(s->op, r, s->message);
}

static void screenshot_write_failed(Screenshot *s, int r) {
        if (r == -EPIPE || r == -ECONNRESET)
                screenshot_finish(s, -EPIPE, "the reader closed its end after %llu bytes of the screenshot",
                                  (unsigned long long) s->written);
        else
                screenshot_finish(s, r, "cannot write the screenshot to the file descriptor: %s", strerror(-r));
}

static void screenshot_progress(Screenshot *s, size_t k) {
        s->off += k;
        s->written += k;
        s->last_progress = monotonic_usec();
}

/* Copies what the (non-blocking) destination takes. Returns 1 when every
 * byte is written, 0 to wait for the next readiness, or a negative errno
 * (the op finished). */
static int screenshot_pump(Screenshot *s) {
        for (;;) {
                size_t m;
                ssize_t k;

                if (s->off == s->len) {
                        ssize_t n = read(s->png_fd, s->buf, SCREENSHOT_CHUNK);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0) {
                                screenshot_finish(s, -errno, "cannot read the screenshot qemu wrote: %m");
                                return -EIO;
                        }
                        if (n == 0) {
                                if (s->written > 0)
                                        return 1;
                                screenshot_finish(s, -EIO, "qemu wrote an empty screenshot");
                                return -EIO;
                        }
                        s->off = 0;
                        s->len = (size_t) n;
                }
                m = s->len - s->off;
                k = s->dst == DST_SOCKET ? send(s->dst_fd, s->buf + s->off, m, MSG_DONTWAIT | MSG_NOSIGNAL)
                                         : write(s->dst_fd, s->buf + s->off, m);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return 0;
                if (k < 0) {
                        screenshot_write_failed(s, -errno);
                        return -EIO;
                }
                screenshot_progress(s, (size_t) k);
        }
}

static int screenshot_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Screenshot *s = userdata;

        if (screenshot_pump(s) > 0)
                screenshot_finish(s, 0, NULL);
        return 0;
}

static int screenshot_stall(sd_event_source *src, uint64_t usec, void *userdata) {
        Screenshot *s = userdata;
        uint64_t last = s->last_progress, written = s->written;

        if (s->copy) {
                last = __atomic_load_n(&s->copy->last_progress, __ATOMIC_ACQUIRE);
                written = __atomic_load_n(&s->copy->written, __ATOMIC_ACQUIRE);
        }
        if (last + s->stall_usec > usec) {
                (void) sd_event_source_set_time(src, last + s->stall_usec);
                (void) sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
                return 0;
        }
        screenshot_finish(s, -ETIMEDOUT, "the reader took no data for %.3g s (%llu bytes of the screenshot written)",
                          (double) s->stall_usec / 1e6, (unsigned long long) written);
        return 0;
}

/* ---- the worker thread (DST_THREAD) ---- */

/* Writes all of buf, waiting in poll() if the caller's fd is non-blocking. */
static int copy_write_all(ScreenshotCopy *c, const uint8_t *buf, size_t len) {
        while (len > 0) {
                ssize_t k = write(c->dst_fd, buf, len);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN) {
                        struct pollfd p = { .fd = c->dst_fd, .events = POLLOUT };
                        (void) poll(&p, 1, 1000);
                        continue;
                }
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;
                buf += k;
                len -= (size_t) k;
                __atomic_add_fetch(&c->written, (uint64_t) k, __ATOMIC_RELEASE);
                __atomic_store_n(&c->last_progress, monotonic_usec(), __ATOMIC_RELEASE);
        }
        return 0;
}

static int copy_run(ScreenshotCopy *c) {
        _cleanup_free_ uint8_t *buf = malloc(SCREENSHOT_CHUNK);
        uint64_t total = 0;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(c->png_fd, buf, SCREENSHOT_CHUNK);
                int r;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        c->read_failed = true;
                        return -errno;
                }
                if (n == 0) {
                        c->read_failed = total == 0;
                        return total > 0 ? 0 : -ENODATA;
                }
                total += (uint64_t) n;
                r = copy_write_all(c, buf, (size_t) n);
                if (r < 0)
                        return r;
        }
}

static void *copy_thread(void *data) {
        ScreenshotCopy *c = data;
        uint64_t one = 1;

        c->result = copy_run(c);
        /* the eventfd write publishes result; nobody may be listening any more */
        (void) !write(c->notify_fd, &one, sizeof(one));
        screenshot_copy_unref(c);
        return NULL;
}

static int screenshot_copy_done(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Screenshot *s = userdata;
        ScreenshotCopy *c = s->copy;
        uint64_t v;

        if (read(fd, &v, sizeof(v)) < 0 && errno == EAGAIN)
                return 0;
        s->written = __atomic_load_n(&c->written, __ATOMIC_ACQUIRE);
        if (c->result == -ENODATA)
                screenshot_finish(s, -EIO, "qemu wrote an empty screenshot");
        else if (c->result < 0 && c->read_failed)
                screenshot_finish(s, c->result, "cannot read the screenshot qemu wrote: %s", strerror(-c->result));
        else if (c->result < 0)
                screenshot_write_failed(s, c->result);
        else
                screenshot_finish(s, 0, NULL);
        return 0;
}

static int screenshot_start_thread(Screenshot *s) {
        ScreenshotCopy *c = calloc(1, sizeof(ScreenshotCopy));
        GThread *t;
        int r;

        if (!c)
                return -ENOMEM;
        c->refs = 1;
        c->png_fd = TAKE_FD(s->png_fd);
        c->dst_fd = TAKE_FD(s->dst_fd);
        c->last_progress = monotonic_usec();
        s->copy = c;
        c->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->notify_fd < 0)
                return -errno;
        r = sd_event_add_io(s->event, &s->io, c->notify_fd, EPOLLIN, screenshot_copy_done, s);
        if (r < 0)
                return r;
        g_atomic_int_inc(&c->refs);
        t = g_thread_try_new("vmgmt-screenshot", copy_thread, c, NULL);
        if (!t) {
                g_atomic_int_dec_and_test(&c->refs);
                return -EAGAIN;
        }
        g_thread_unref(t);   /* detached: it ends by itself */
        return 0;
}

/* A FIFO's own non-blocking open file description. -ENXIO: no reader left. */
static int reopen_fifo_nonblocking(int fd) {
        char proc[sizeof("/proc/self/fd/") + 12];
        int nfd;

        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        nfd = open(proc, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        return nfd < 0 ? -errno : nfd;
}

/* qemu wrote the file: copy it to the caller's fd without blocking the loop. */
static int screenshot_start_copy(Screenshot *s) {
        struct stat st;
        int r;

        (void) unlink(s->path);
        s->path = mfree_str(s->path);
        if (fstat(s->dst_fd, &st) < 0)
                return -errno;
        s->last_progress = monotonic_usec();
        r = sd_event_add_time(s->event, &s->stall, CLOCK_MONOTONIC, s->last_progress + s->stall_usec, 0,
                              screenshot_stall, s);
        if (r < 0)
                return r;
        if (S_ISSOCK(st.st_mode))
                s->dst = DST_SOCKET;
        else if (S_ISFIFO(st.st_mode)) {
                int nfd = reopen_fifo_nonblocking(s->dst_fd);
                if (nfd == -ENXIO) {
                        screenshot_write_failed(s, -EPIPE);
                        return 0;
                }
                if (nfd >= 0) {
                        close(s->dst_fd);
                        s->dst_fd = nfd;
                        s->dst = DST_NONBLOCK;
                } else {
                        log_debug("Cannot reopen the screenshot's pipe non-blocking (%s); copying in a thread",
                                  strerror(-nfd));
                        s->dst = DST_THREAD;
                        return screenshot_start_thread(s);
                }
        } else {
                /* never reopened through /proc: a device node (/dev/ptmx) would be a new device */
                s->dst = DST_THREAD;
                return screenshot_start_thread(s);
        }
        s->buf = malloc(SCREENSHOT_CHUNK);
        if (!s->buf)
                return -ENOMEM;
        return sd_event_add_io(s->event, &s->io, s->dst_fd, EPOLLOUT, screenshot_io, s);
}

static void screendump_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Screenshot *s = userdata;

        if (r == -ECONNRESET) {
                screenshot_finish(s, -ESRCH, "qemu closed its monitor");
                return;
        }
        if (r < 0) {
                screenshot_finish(s, -EIO, "qemu cannot take a screenshot: %s", strna(error));
                return;
        }
        r = screenshot_start_copy(s);
        if (r < 0)
                screenshot_finish(s, r, "cannot copy the screenshot: %s", strerror(-r));
}

/* Maps a screen number to qemu's display device id and head: the heads of
 * the video devices, counted in order. -EOPNOTSUPP without any, -EINVAL past them. */
static int screen_to_device(const DomainDef *def, unsigned screen, char **ret_device, unsigned *ret_head) {
        unsigned first = 0;
        bool any = false;

        for (size_t i = 0; i < def->n_videos; i++) {
                const DomainVideoDef *v = &def->videos[i];
                unsigned heads = v->heads ? v->heads : 1;

                if (streq_ptr(v->model, "none"))
                        continue;
                any = true;
                if (screen < first + heads) {
                        *ret_device = g_strdup_printf("video%zu", i);
                        *ret_head = screen - first;
                        return 0;
                }
                first += heads;
        }
        return any ? -EINVAL : -EOPNOTSUPP;
}

static JsonValue *screendump_args(const char *path, const char *device, unsigned head) {
        JsonValue *args = json_object();

        if (!args || json_object_set_new(args, "filename", json_string(path)) < 0 ||
            json_object_set_new(args, "format", json_string("png")) < 0)
                goto fail;
        /* screen 0 is qemu's default console; others name the device and head */
        if (device && (json_object_set_new(args, "device", json_string(device)) < 0 ||
                       json_object_set_new(args, "head", json_integer(head)) < 0))
                goto fail;
        return args;
fail:
        json_decref(args);
        return NULL;
}

int qemu_graphics_screenshot(DriverRuntime *rt, int fd, unsigned screen, DriverDoneFn done, void *userdata) {
        _cleanup_free_ char *device = NULL;
        Screenshot *s;
        JsonValue *args;
        unsigned head = 0;
        int r;

        r = check_runtime(rt);
        if (r < 0)
                return r;
        r = screen_to_device(rt->def, screen, &device, &head);
        if (r < 0)
                return r;
        if (!rt->qmp)
                return -ENOTCONN;
        s = calloc(1, sizeof(Screenshot));
        if (!s)
                return -ENOMEM;
        s->png_fd = -1;
        s->event = sd_event_ref(rt->driver->event);
        s->stall_usec = rt->driver->screenshot_stall_usec ?: SCREENSHOT_STALL_TIMEOUT_USEC_DEFAULT;
        s->done = done;
        s->userdata = userdata;
        s->dst_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (s->dst_fd < 0) {
                r = -errno;
                screenshot_free(s);
                return r;
        }
        /* Our own fd of the file qemu (re)writes: no second open, no race on the
         * name. In its own run dir, its own: a confined qemu reaches nothing else. */
        s->path = g_strdup_printf("%s/%s.screendump.XXXXXX", rt->run_dir, rt->uuid);
        s->png_fd = mkostemp(s->path, O_CLOEXEC);
        if (s->png_fd >= 0 && fchown(s->png_fd, rt->uid, rt->gid) < 0) {
                close(s->png_fd);
                (void) unlink(s->path);
                s->png_fd = -1;
        }
        if (s->png_fd < 0) {
                r = -errno;
                s->path = mfree_str(s->path);
                screenshot_free(s);
                return r;
        }
        args = screendump_args(s->path, screen > 0 ? device : NULL, head);
        if (!args) {
                screenshot_free(s);
                return -ENOMEM;
        }
        s->op = qemu_op_new(rt, QEMU_OP_GENERIC, screenshot_op_done, s);
        if (!s->op) {
                json_decref(args);
                screenshot_free(s);
                return -ENOMEM;
        }
        s->op->abandon = screenshot_abandon;
        r = qmp_send(rt->qmp, "screendump", args, screendump_reply, s);
        if (r < 0) {
                s->op->done = NULL;
                qemu_op_complete(s->op, r, NULL);
                screenshot_free(s);
                return r;
        }
        return 0;
}
