/* domain-stream.c — one-shot unix sockets that stand for a file descriptor
 * the bus could not carry (domain-stream.h). Everything runs on the event
 * loop: the listener, the relay (a buffer per direction, reading stops while
 * it is full) and the connect deadline. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "domain-stream.h"
#include "fileio.h"
#include "log.h"

#define STREAM_BUF_SIZE 65536

enum { INNER, OUTER };   /* fd[INNER]: vmgmtd's side; fd[OUTER]: the accepted connection */

typedef struct VmStream {
        sd_event *event;
        char *path;
        char *what;
        uid_t uid;
        int listen_fd;
        int fd[2];
        sd_event_source *listen_source, *timer, *io[2];
        char buf[2][STREAM_BUF_SIZE];   /* buf[i]: read from fd[i], for fd[!i] */
        size_t len[2];
        bool eof[2], shut[2];
} VmStream;

static GList *streams;

static void stream_free(VmStream *s) {
        if (!s)
                return;
        streams = g_list_remove(streams, s);
        sd_event_source_disable_unref(s->listen_source);
        sd_event_source_disable_unref(s->timer);
        for (int i = 0; i < 2; i++) {
                sd_event_source_disable_unref(s->io[i]);
                if (s->fd[i] >= 0)
                        close(s->fd[i]);
        }
        if (s->listen_fd >= 0) {
                close(s->listen_fd);
                (void) unlink(s->path);
        }
        g_free(s->path);
        g_free(s->what);
        g_free(s);
}

void vm_streams_free(void) {
        while (streams)
                stream_free(streams->data);
}

static void stream_end(VmStream *s, const char *why) {
        log_debug("Stream %s (%s) ended: %s.", s->path, s->what, why);
        stream_free(s);
}

static int stream_update(VmStream *s) {
        for (int i = 0; i < 2; i++) {
                uint32_t ev = 0;

                if (!s->eof[i] && s->len[i] < sizeof(s->buf[i]))
                        ev |= EPOLLIN;
                if (s->len[!i] > 0)
                        ev |= EPOLLOUT;
                int r = ev ? sd_event_source_set_io_events(s->io[i], ev) : 0;

                if (r >= 0)
                        r = sd_event_source_set_enabled(s->io[i], ev ? SD_EVENT_ON : SD_EVENT_OFF);
                if (r < 0) {
                        log_debug("Stream %s: cannot watch fd %d for %x: %s", s->path, s->fd[i], ev, strerror(-r));
                        return r;
                }
        }
        return 0;
}

static int stream_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        VmStream *s = userdata;
        int i = fd == s->fd[INNER] ? INNER : OUTER;

        if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !s->eof[i] && s->len[i] < sizeof(s->buf[i])) {
                ssize_t n = read(fd, s->buf[i] + s->len[i], sizeof(s->buf[i]) - s->len[i]);

                if (n > 0)
                        s->len[i] += (size_t) n;
                else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                        s->eof[i] = true;   /* an error reads as the end: what came before still goes out */
        }
        if ((revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && s->len[!i] > 0) {
                ssize_t n = write(fd, s->buf[!i], s->len[!i]);

                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        stream_end(s, "a write failed");
                        return 0;
                }
                if (n > 0) {
                        memmove(s->buf[!i], s->buf[!i] + n, s->len[!i] - (size_t) n);
                        s->len[!i] -= (size_t) n;
                }
        }
        /* a side that ended and whose bytes are out: the other reads EOF */
        for (int k = 0; k < 2; k++)
                if (s->eof[k] && s->len[k] == 0 && !s->shut[k]) {
                        (void) shutdown(s->fd[!k], SHUT_WR);
                        s->shut[k] = true;
                }
        if (s->shut[INNER] && s->shut[OUTER]) {
                stream_end(s, "both sides ended");
                return 0;
        }
        if (stream_update(s) < 0)
                stream_end(s, "cannot watch it");
        return 0;
}

static int stream_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        VmStream *s = userdata;
        struct ucred cred = {};
        socklen_t len = sizeof(cred);
        int conn, r;

        conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (conn < 0)
                return 0;   /* EAGAIN, or a peer that went away at once: keep waiting */
        if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != s->uid) {
                log_warning("Stream %s (%s): refused a connection of uid %d (it belongs to uid %d).", s->path,
                            s->what, (int) cred.uid, (int) s->uid);
                close(conn);
                return 0;
        }
        /* one connection: the name goes, nobody else gets in */
        s->listen_source = sd_event_source_disable_unref(s->listen_source);
        s->timer = sd_event_source_disable_unref(s->timer);
        close(s->listen_fd);
        s->listen_fd = -1;
        (void) unlink(s->path);
        s->fd[OUTER] = conn;
        for (int i = 0; i < 2; i++) {
                r = sd_event_add_io(s->event, &s->io[i], s->fd[i], EPOLLIN, stream_io, s);
                if (r < 0) {
                        stream_end(s, "cannot watch it");
                        return 0;
                }
        }
        log_debug("Stream %s (%s) connected (pid %d).", s->path, s->what, (int) cred.pid);
        if (stream_update(s) < 0)
                stream_end(s, "cannot watch it");
        return 0;
}

static int stream_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        stream_end(userdata, "nobody connected in time");
        return 0;
}

int vm_stream_caller_uid(Manager *m, sd_bus_message *message, uid_t *ret) {
        pid_t pid;

        return bus_creds_cache_get(m->creds, message, ret, &pid);
}

int vm_stream_new(Manager *m, uid_t uid, int fd, const char *what, char **ret_path) {
        _cleanup_free_ char *dir = g_build_filename(m->paths.run_dir, "streams", NULL);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint8_t token[16];
        char hex[33];
        VmStream *s;
        int r;

        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        s = g_new0(VmStream, 1);
        s->event = m->event;
        s->fd[INNER] = fd;
        s->fd[OUTER] = -1;
        s->listen_fd = -1;
        s->uid = uid;
        s->what = g_strdup(what);
        streams = g_list_prepend(streams, s);
        if (getrandom(token, sizeof(token), 0) != sizeof(token)) {
                stream_free(s);
                return -EIO;
        }
        for (size_t i = 0; i < sizeof(token); i++)
                sprintf(hex + 2 * i, "%02x", token[i]);
        /* traversable, not listable: a socket is reached by its name only */
        r = mkdir_p(dir, 0711);
        if (r < 0 || chmod(dir, 0711) < 0) {
                stream_free(s);
                return r < 0 ? r : -errno;
        }
        s->path = g_build_filename(dir, hex, NULL);
        if (strlen(s->path) >= sizeof(sa.sun_path)) {
                stream_free(s);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, s->path);
        s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s->listen_fd < 0) {
                r = -errno;
                stream_free(s);
                return r;
        }
        /* 0600 from the start: no moment in which another uid could connect */
        mode_t mask = umask(0177);
        r = bind(s->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ? -errno : 0;
        umask(mask);
        if (r >= 0 && chown(s->path, uid, (gid_t) -1) < 0)
                r = -errno;
        if (r >= 0 && listen(s->listen_fd, 4) < 0)
                r = -errno;
        if (r >= 0)
                r = sd_event_add_io(m->event, &s->listen_source, s->listen_fd, EPOLLIN, stream_accept, s);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &s->timer, CLOCK_MONOTONIC, VM_STREAM_CONNECT_USEC, 0,
                                               stream_timeout, s);
        if (r < 0) {
                stream_free(s);
                return r;
        }
        log_debug("Stream %s (%s) waits for uid %d.", s->path, what, (int) uid);
        *ret_path = g_strdup(s->path);
        return 0;
}
