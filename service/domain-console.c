/* domain-console.c — org.vmgmt.Domain.OpenConsole.
 *
 * The caller gets one end of a socketpair; vmgmtd copies bytes between the
 * other end and the console device the driver opened (the pty the hypervisor
 * made, or a connection to its unix socket). Owning the caller's peer is what makes
 * the rules enforceable: one holder per device (a second OpenConsole is Busy),
 * and `force` takes the console over by closing the first holder's peer, so the
 * first holder reads EOF even though it has its own copy of its fd. When vmgmtd
 * goes away every holder reads EOF too, so after a restart nobody is attached
 * and the bookkeeping starts right. Nothing the guest prints is lost meanwhile:
 * the hypervisor writes every console's output to its log file itself.
 *
 * Both fds are nonblocking and driven by the event loop; each direction has a
 * small buffer and stops reading while its buffer is full (backpressure, as
 * with a direct connection). When one side ends, what is buffered for the
 * other still goes out: the session stays until that is written or
 * CONSOLE_DRAIN_USEC passed (a holder that does not read). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-console.h"
#include "domain-stream.h"
#include "domain.h"
#include "log.h"

#define CONSOLE_BUF_SIZE 16384
#define CONSOLE_DRAIN_USEC (1000u * 1000u)

enum { END_DEVICE, END_CLIENT };

typedef struct ConsoleProxy {
        Manager *manager;
        char *key;                              /* "UUID/device", the table key */
        char *domain;                           /* for messages */
        char *device;
        int fd[2];                              /* END_DEVICE, END_CLIENT (our end of the socketpair) */
        sd_event_source *source[2];
        sd_event_source *drain_timer;           /* set while draining after an EOF */
        size_t len[2];                          /* bytes in buf[i]: read from fd[i], for fd[!i] */
        bool eof[2];
        char buf[2][CONSOLE_BUF_SIZE];
} ConsoleProxy;

static ConsoleProxy *console_proxy_free(ConsoleProxy *p) {
        if (!p)
                return NULL;
        for (int i = 0; i < 2; i++) {
                sd_event_source_disable_unref(p->source[i]);
                if (p->fd[i] >= 0)
                        close(p->fd[i]);
        }
        sd_event_source_disable_unref(p->drain_timer);
        free(p->key);
        free(p->domain);
        free(p->device);
        free(p);
        return NULL;
}

static void console_proxy_free_void(gpointer p) {
        console_proxy_free(p);
}

static GHashTable *consoles_table(Manager *m) {
        if (!m->consoles)
                m->consoles = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, console_proxy_free_void);
        return m->consoles;
}

/* Ends the session: both fds close, the holder reads EOF. */
static void console_proxy_close(ConsoleProxy *p, const char *why) {
        log_debug("Console %s of domain %s closed: %s.", p->device, p->domain, why);
        g_hash_table_remove(p->manager->consoles, p->key);   /* frees p */
}

static int console_proxy_update(ConsoleProxy *p) {
        for (int i = 0; i < 2; i++) {
                uint32_t events = 0;
                int r;

                if (!p->eof[i] && p->len[i] < CONSOLE_BUF_SIZE)
                        events |= EPOLLIN;
                if (p->len[!i] > 0)
                        events |= EPOLLOUT;
                r = sd_event_source_set_io_events(p->source[i], events);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Writes what buf[!i] holds to fd[i]. Returns 0, or a negative errno when fd[i] is gone. */
static int console_proxy_flush(ConsoleProxy *p, int i) {
        int from = !i;

        while (p->len[from] > 0) {
                ssize_t n = write(p->fd[i], p->buf[from], p->len[from]);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                memmove(p->buf[from], p->buf[from] + n, p->len[from] - (size_t) n);
                p->len[from] -= (size_t) n;
        }
        return 0;
}

/* Reads from fd[i] into buf[i]; sets eof[i] at the end (EIO: the pty's other side closed). */
static int console_proxy_fill(ConsoleProxy *p, int i) {
        while (!p->eof[i] && p->len[i] < CONSOLE_BUF_SIZE) {
                ssize_t n = read(p->fd[i], p->buf[i] + p->len[i], CONSOLE_BUF_SIZE - p->len[i]);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        if (errno == EIO || errno == ECONNRESET) {
                                p->eof[i] = true;
                                return 0;
                        }
                        return -errno;
                }
                if (n == 0)
                        p->eof[i] = true;
                p->len[i] += (size_t) n;
        }
        return 0;
}

static int console_proxy_drain_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ConsoleProxy *p = userdata;

        console_proxy_close(p, p->eof[END_DEVICE] ? "the device closed; the holder did not read the rest in time"
                                                  : "the holder closed it; the device did not take the rest in time");
        return 0;
}

/* One side reached EOF: the session ends once what is buffered for the other
 * side is written, or after CONSOLE_DRAIN_USEC. Nothing more is read meanwhile. */
static void console_proxy_drain(ConsoleProxy *p) {
        int to = p->eof[END_DEVICE] ? END_CLIENT : END_DEVICE;
        const char *why = p->eof[END_DEVICE] ? "the device closed (domain stopped?)" : "the holder closed it";
        int r;

        if (console_proxy_flush(p, to) < 0 || p->len[!to] == 0) {
                console_proxy_close(p, why);
                return;
        }
        if (p->drain_timer)
                return;   /* already waiting for POLLOUT */
        r = sd_event_source_set_enabled(p->source[!to], SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_source_set_io_events(p->source[to], EPOLLOUT);
        if (r >= 0)
                r = sd_event_add_time_relative(p->manager->event, &p->drain_timer, CLOCK_MONOTONIC,
                                               CONSOLE_DRAIN_USEC, 0, console_proxy_drain_timeout, p);
        if (r < 0)
                console_proxy_close(p, why);
}

static int console_proxy_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ConsoleProxy *p = userdata;
        int i = fd == p->fd[END_DEVICE] ? END_DEVICE : END_CLIENT;
        int r;

        if (revents & EPOLLOUT) {
                r = console_proxy_flush(p, i);
                if (r < 0) {
                        console_proxy_close(p, i == END_CLIENT ? "the holder went away" : "the device went away");
                        return 0;
                }
        }
        if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !p->drain_timer) {
                r = console_proxy_fill(p, i);
                if (r < 0 || ((revents & (EPOLLHUP | EPOLLERR)) && !p->eof[i] && p->len[i] == CONSOLE_BUF_SIZE))
                        p->eof[i] = true;   /* hung up with a full buffer: nothing more will come */
                /* pass on what came in right away */
                if (p->len[i] > 0 && console_proxy_flush(p, !i) < 0) {
                        console_proxy_close(p, "a write failed");
                        return 0;
                }
        }
        if (p->eof[END_DEVICE] || p->eof[END_CLIENT]) {
                console_proxy_drain(p);
                return 0;
        }
        if (console_proxy_update(p) < 0)
                console_proxy_close(p, "cannot watch it");
        return 0;
}

/* Takes device_fd; returns the holder's end of a new socketpair in *ret_client_fd. */
static int console_proxy_new(Manager *m, const char *key, const char *domain, const char *device, int device_fd,
                             int *ret_client_fd, ConsoleProxy **ret) {
        _cleanup_close_ int dfd = device_fd, client = -1;
        ConsoleProxy *p;
        int pair[2], r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        client = pair[1];
        if (fcntl(pair[0], F_SETFL, O_NONBLOCK | O_RDWR) < 0) {
                r = -errno;
                close(pair[0]);
                return r;
        }
        p = calloc(1, sizeof(ConsoleProxy));
        if (!p) {
                close(pair[0]);
                return -ENOMEM;
        }
        p->manager = m;
        p->fd[END_DEVICE] = TAKE_FD(dfd);
        p->fd[END_CLIENT] = pair[0];
        p->key = strdup(key);
        p->domain = strdup(domain);
        p->device = strdup(device);
        if (!p->key || !p->domain || !p->device) {
                console_proxy_free(p);
                return -ENOMEM;
        }
        for (int i = 0; i < 2; i++) {
                r = sd_event_add_io(m->event, &p->source[i], p->fd[i], EPOLLIN, console_proxy_io, p);
                if (r < 0) {
                        console_proxy_free(p);
                        return r;
                }
                (void) sd_event_source_set_description(p->source[i], i == END_DEVICE ? "console-device" : "console-client");
        }
        *ret_client_fd = TAKE_FD(client);
        *ret = p;
        return 0;
}

/* Maps what the driver said about opening the device to the bus error. */
static int open_console_error(VmDomain *d, const char *device, int r, const char *message, sd_bus_error *error) {
        _cleanup_free_ char *what = NULL;

        if (r == -ENODEV) {
                if (isempty(device))
                        return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED,
                                                 "Domain '%s' has no serial port or console", d->name);
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Domain '%s' has no console device '%s' (use serialN or consoleN)",
                                         d->name, device);
        }
        if (r == -EBUSY && !message)
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' is still starting", d->name);
        what = g_strdup_printf("Failed to open console of domain '%s'", d->name);
        return bus_error_from_errno(error, r, message, what);
}

/* The canonical name of device in the domain's current definition (the live
 * one while it runs); *ret NULL when it has no such device. */
static int console_canonical_name(VmDomain *d, const char *device, char **ret) {
        const DomainDriverOps *ops = d->drv->ops;
        int r;

        *ret = NULL;
        if (!ops->console_name)
                return 0;
        r = ops->console_name(vm_domain_current_def(d), device, ret);
        return r == -ENODEV ? 0 : r;
}

/* OpenConsole (the holder's fd in the reply) and OpenConsoleStream (that fd
 * behind a one-shot socket, domain-stream.h: its path in the reply). */
static int open_console(sd_bus_message *message, VmDomain *d, bool stream, sd_bus_error *error) {
        Manager *m = d->manager;
        bool force = false;
        const BusOption options[] = { { "force", "b", &force }, {} };
        _cleanup_free_ char *canonical = NULL, *named = NULL, *msg = NULL, *key = NULL;
        _cleanup_close_ int device_fd = -1, client_fd = -1;
        const char *device, *details[7];
        ConsoleProxy *p = NULL, *old;
        int r;

        r = sd_bus_message_read(message, "s", &device);
        if (r < 0)
                return r;
        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        if (strlen(device) > 64)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Console device name is too long");
        /* polkit sees the device by its one name ("", console0, … are serial0),
         * or the name as given when there is no such device (refused below) */
        r = console_canonical_name(d, device, &named);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to resolve console device: %m");
        details[0] = "domain";
        details[1] = d->name;
        details[2] = "domain_uuid";
        details[3] = d->uuid;
        details[4] = "device";
        details[5] = named ? named : device;
        details[6] = NULL;
        r = vm_authorize(m, message, VM_ACTION_DOMAIN_CONSOLE, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (!vm_domain_is_active(d))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        if (!d->drv->ops->open_console)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver has no consoles",
                                         d->drv->ops->name);

        r = d->drv->ops->open_console(d->rt, device, &device_fd, &canonical, &msg);
        if (r < 0)
                return open_console_error(d, device, r, msg, error);
        key = g_strdup_printf("%s/%s", d->uuid, canonical);
        old = g_hash_table_lookup(consoles_table(m), key);
        if (old && !force)
                return sd_bus_error_setf(error, VM_ERROR_BUSY,
                                         "Console %s of domain '%s' is in use by another session (option force takes it over)",
                                         canonical, d->name);
        r = console_proxy_new(m, key, d->name, canonical, TAKE_FD(device_fd), &client_fd, &p);
        if (r < 0 || !p)
                return sd_bus_error_set_errnof(error, r, "Failed to set up the console of domain '%s': %m", d->name);
        if (old) {
                log_info("Console %s of domain '%s' taken over by a new session.", canonical, d->name);
                g_hash_table_remove(m->consoles, key);   /* the first holder reads EOF */
        }
        g_hash_table_insert(m->consoles, p->key, p);
        if (stream) {
                _cleanup_free_ char *path = NULL;
                uid_t uid;

                r = vm_stream_caller_uid(m, message, &uid);
                if (r >= 0)
                        r = vm_stream_new(m, uid, TAKE_FD(client_fd), "console", &path);
                if (r < 0) {
                        g_hash_table_remove(m->consoles, key);
                        return sd_bus_error_set_errnof(error, r, "Failed to offer the console of domain '%s': %m",
                                                       d->name);
                }
                return sd_bus_reply_method_return(message, "s", path);
        }
        return sd_bus_reply_method_return(message, "h", client_fd);
}

int domain_method_open_console(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return open_console(message, userdata, false, error);
}

int domain_method_open_console_stream(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return open_console(message, userdata, true, error);
}

void vm_consoles_free(Manager *m) {
        if (m->consoles) {
                g_hash_table_destroy(m->consoles);
                m->consoles = NULL;
        }
}
