/* qemu-graphics.c — a running domain's display: where its VNC server listens
 * (live definition), connections to it, and PNG screenshots (QMP screendump
 * into a file in the run dir, copied to the caller's fd by the event loop). */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "qemu-command.h"
#include "qemu-driver-internal.h"

#define GRAPHICS_CONNECT_TIMEOUT_USEC (5u * 1000000u)
#define GRAPHICS_RETRY_USEC (20u * 1000u)                  /* a unix listener with a full backlog */
#define SCREENSHOT_STALL_TIMEOUT_USEC (30u * 1000000u)     /* a reader that takes nothing for this long */
#define SCREENSHOT_CHUNK (64u * 1024u)

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

/* ---- the live definition ---- */

/* Screendump files a daemon killed mid-screenshot left behind. */
static void remove_stale_screendumps(DriverRuntime *rt) {
        _cleanup_free_ char *prefix = g_strdup_printf("%s.screendump.", rt->uuid);
        DIR *dir = opendir(rt->driver->run_dir);
        struct dirent *de;

        if (!dir)
                return;
        while ((de = readdir(dir)))
                if (g_str_has_prefix(de->d_name, prefix))
                        (void) unlinkat(dirfd(dir), de->d_name, 0);
        closedir(dir);
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
        const char *service = json_object_get_string(ret, "service");
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

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
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
                next = now_usec() + GRAPHICS_RETRY_USEC;
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
        if (streq_ptr(g->listen_type, "socket") || run_dir_socket) {
                const char *path = run_dir_socket ? rt->vnc_file : g->listen;
                char alt[sizeof(c->addr.un.sun_path)];

                if (!path)
                        return -EADDRNOTAVAIL;
                c->where = strdup(path);
                /* the run-dir socket may be too long for sun_path: reach it through the dir fd */
                if (strlen(path) >= sizeof(c->addr.un.sun_path) && streq(path, rt->vnc_file)) {
                        snprintf(alt, sizeof(alt), "/proc/self/fd/%d/%s.vnc", rt->driver->run_dir_fd, rt->uuid);
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
        c->event = sd_event_ref(rt->driver->event);
        c->done = done;
        c->userdata = userdata;
        c->deadline = now_usec() + GRAPHICS_CONNECT_TIMEOUT_USEC;
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

typedef struct Screenshot {
        QemuOp *op;                     /* done = screenshot_op_done, userdata = this */
        sd_event *event;
        char *path;                     /* the file qemu writes; NULL once unlinked */
        int png_fd;                     /* our own fd of that file */
        int dst_fd;                     /* the caller's, duplicated */
        bool dst_sock;                  /* send() with MSG_DONTWAIT */
        bool dst_bounded;               /* a pipe or tty: PIPE_BUF per readiness */
        sd_event_source *io, *defer, *stall;
        uint8_t *buf;
        size_t off, len;
        uint64_t written;
        char *message;
        DriverDoneFn done;
        void *userdata;
} Screenshot;

static void screenshot_free(Screenshot *s) {
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->defer);
        sd_event_source_disable_unref(s->stall);
        sd_event_unref(s->event);
        if (s->path)
                (void) unlink(s->path);
        free(s->path);
        if (s->png_fd >= 0)
                close(s->png_fd);
        if (s->dst_fd >= 0)
                close(s->dst_fd);
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

/* Copies what the destination takes without blocking. Returns 1 when every
 * byte is written, 0 to wait for the next readiness, or a negative errno
 * (the message set). A pipe gets one write of at most PIPE_BUF per readiness
 * (that much room is what EPOLLOUT promises on a fd that is not ours to make
 * non-blocking); a socket as much as it takes (MSG_DONTWAIT); a file or other
 * fd that epoll cannot watch one chunk per loop iteration. */
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
                if (s->dst_bounded && m > PIPE_BUF)
                        m = PIPE_BUF;
                k = s->dst_sock ? send(s->dst_fd, s->buf + s->off, m, MSG_DONTWAIT | MSG_NOSIGNAL)
                                : write(s->dst_fd, s->buf + s->off, m);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return 0;
                if (k < 0) {
                        screenshot_write_failed(s, -errno);
                        return -EIO;
                }
                s->off += (size_t) k;
                s->written += (uint64_t) k;
                (void) sd_event_source_set_time(s->stall, now_usec() + SCREENSHOT_STALL_TIMEOUT_USEC);
                if (s->dst_bounded || s->defer)
                        return 0;
        }
}

static void screenshot_step(Screenshot *s) {
        int r = screenshot_pump(s);

        if (r > 0)
                screenshot_finish(s, 0, NULL);
}

static int screenshot_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        screenshot_step(userdata);
        return 0;
}

static int screenshot_defer(sd_event_source *src, void *userdata) {
        screenshot_step(userdata);
        return 0;
}

static int screenshot_stall(sd_event_source *src, uint64_t usec, void *userdata) {
        Screenshot *s = userdata;

        screenshot_finish(s, -ETIMEDOUT, "the reader took no data for %u s (%llu bytes of the screenshot written)",
                          SCREENSHOT_STALL_TIMEOUT_USEC / 1000000u, (unsigned long long) s->written);
        return 0;
}

/* qemu wrote the file: copy it to the caller's fd, driven by the loop. */
static int screenshot_start_copy(Screenshot *s) {
        struct stat st;
        int r;

        (void) unlink(s->path);
        s->path = mfree_str(s->path);
        if (fstat(s->dst_fd, &st) < 0)
                return -errno;
        s->dst_sock = S_ISSOCK(st.st_mode);
        s->dst_bounded = !s->dst_sock && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
        s->buf = malloc(SCREENSHOT_CHUNK);
        if (!s->buf)
                return -ENOMEM;
        r = sd_event_add_time(s->event, &s->stall, CLOCK_MONOTONIC, now_usec() + SCREENSHOT_STALL_TIMEOUT_USEC, 0,
                              screenshot_stall, s);
        if (r < 0)
                return r;
        r = -EPERM;
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                r = sd_event_add_io(s->event, &s->io, s->dst_fd, EPOLLOUT, screenshot_io, s);
        if (r == -EPERM) {
                /* epoll cannot watch it (a file, /dev/null): it does not block either */
                s->dst_bounded = false;
                r = sd_event_add_defer(s->event, &s->defer, screenshot_defer, s);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s->defer, SD_EVENT_ON);
        }
        return r;
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
        JsonValue *args = json_new_object();

        if (!args || json_object_set(args, "filename", json_new_string(path)) < 0 ||
            json_object_set(args, "format", json_new_string("png")) < 0)
                goto fail;
        /* screen 0 is qemu's default console; others name the device and head */
        if (device && (json_object_set(args, "device", json_new_string(device)) < 0 ||
                       json_object_set(args, "head", json_new_integer(head)) < 0))
                goto fail;
        return args;
fail:
        json_value_free(args);
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
        s->done = done;
        s->userdata = userdata;
        s->dst_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (s->dst_fd < 0) {
                r = -errno;
                screenshot_free(s);
                return r;
        }
        /* Our own fd of the file qemu (re)writes: no second open, no race on the name. */
        s->path = g_strdup_printf("%s/%s.screendump.XXXXXX", rt->driver->run_dir, rt->uuid);
        s->png_fd = mkostemp(s->path, O_CLOEXEC);
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
                json_value_free(args);
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
