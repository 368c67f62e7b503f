/* test-qmp-client.c — the QMP client's framing and dispatch over a socketpair with a
 * scripted peer on the same sd_event loop: greeting and replies dribbled a few
 * bytes at a time, several messages in one write, a reply of several MiB, a
 * command larger than the socket buffer, errors, events, EOF, garbage, and
 * connecting to a socket that appears late. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "qemu/qmp.h"

static unsigned failures;
static sd_event *event;

#define check(cond)                                                                             \
        do {                                                                                    \
                if (!(cond)) {                                                                  \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
                        failures++;                                                             \
                }                                                                               \
        } while (0)

/* ---- scripted peer ---- */

typedef struct Peer {
        int fd;
        sd_event_source *src;
        char *out;
        size_t out_len, out_off;
        size_t chunk;            /* bytes per write, 0 = as much as possible */
        char in[1 << 16];
        size_t in_len;
        size_t read_limit;       /* bytes per read, 0 = unlimited */
        size_t total_read;
        bool paused_reading;
        unsigned commands;
        uint64_t fd_pos, fd_end; /* the read that brought the last descriptor (SCM_RIGHTS) */
        int fd_received;         /* that descriptor, -1: none */
        int getfd_fd;            /* the descriptor that came with the first byte of "getfd", -1: none */
        char last_command[256];
        long long last_id;
} Peer;

static void peer_send(Peer *p, const char *s, size_t len) {
        p->out = realloc(p->out, p->out_len + len);
        if (!p->out)
                abort();
        memcpy(p->out + p->out_len, s, len);
        p->out_len += len;
        sd_event_source_set_io_events(p->src, EPOLLIN | EPOLLOUT);
}

static void peer_sendf(Peer *p, const char *fmt, ...) {
        char *s;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        peer_send(p, s, (size_t) n);
        free(s);
}

/* line is at in[0]; in[in_len] is stream position total_read (a small line
 * after the huge ones is whole in the buffer). The kernel hands a descriptor
 * to the read that reaches the byte it came with, which may have begun a
 * little earlier. */
static void peer_handle_line(Peer *p, const char *line) {
        const char *ex = strstr(line, "\"execute\":\"");
        const char *id = strstr(line, "\"id\":");
        size_t n;

        if (!ex)
                return;
        if (strstr(line, "\"execute\":\"getfd\"") && p->fd_received >= 0 &&
            p->fd_pos <= p->total_read - p->in_len && p->total_read - p->in_len < p->fd_end) {
                p->getfd_fd = p->fd_received;
                p->fd_received = -1;
        }
        ex += 11;
        n = strcspn(ex, "\"");
        snprintf(p->last_command, sizeof(p->last_command), "%.*s", (int) n, ex);
        p->last_id = id ? atoll(id + 5) : -1;
        p->commands++;
        if (strcmp(p->last_command, "qmp_capabilities") == 0)
                peer_sendf(p, "{\"return\": {}, \"id\": %lld}\r\n", p->last_id);
        else if (strcmp(p->last_command, "multi") == 0)
                /* event, reply and event in one write */
                peer_sendf(p, "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 5}, \"event\": \"STOP\"}\r\n"
                              "{\"return\": {\"status\": \"paused\"}, \"id\": %lld}\r\n"
                              "{\"timestamp\": {\"seconds\": 1700000001, \"microseconds\": 6}, \"event\": \"SHUTDOWN\", "
                              "\"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}\r\n",
                           p->last_id);
        else if (strcmp(p->last_command, "big") == 0) {
                size_t size = 6u * 1024u * 1024u;
                char *s = malloc(size + 100);
                size_t k;

                if (!s)
                        abort();
                k = (size_t) sprintf(s, "{\"return\": \"");
                memset(s + k, 'x', size);
                k += size;
                k += (size_t) sprintf(s + k, "\", \"id\": %lld}\r\n", p->last_id);
                peer_send(p, s, k);
                free(s);
        } else if (strcmp(p->last_command, "fail") == 0)
                peer_sendf(p, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"it failed\"}, \"id\": %lld}\r\n",
                           p->last_id);
        else if (strcmp(p->last_command, "garbage") == 0)
                peer_sendf(p, "{\"return\": nope}\r\n");
        else if (strcmp(p->last_command, "hangup") == 0) {
                /* no reply: the peer closes */
        } else
                peer_sendf(p, "{\"return\": {}, \"id\": %lld}\r\n", p->last_id);
}

static int peer_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Peer *p = userdata;

        if ((revents & EPOLLOUT) && p->out_off < p->out_len) {
                size_t n = p->out_len - p->out_off;
                ssize_t w;

                if (p->chunk && n > p->chunk)
                        n = p->chunk;
                w = write(fd, p->out + p->out_off, n);
                if (w > 0)
                        p->out_off += (size_t) w;
                if (p->out_off == p->out_len) {
                        p->out_off = p->out_len = 0;
                        sd_event_source_set_io_events(p->src, EPOLLIN);
                }
        }
        if ((revents & EPOLLIN) && !p->paused_reading) {
                size_t room = sizeof(p->in) - p->in_len - 1;
                ssize_t r;
                char *nl;

                if (p->read_limit && room > p->read_limit)
                        room = p->read_limit;
                {
                        union {
                                struct cmsghdr align;
                                char buf[CMSG_SPACE(sizeof(int))];
                        } control;
                        struct iovec iov = { .iov_base = p->in + p->in_len, .iov_len = room };
                        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                                             .msg_controllen = sizeof(control.buf) };
                        struct cmsghdr *c;

                        r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
                        c = r > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
                        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                                if (p->fd_received >= 0)
                                        close(p->fd_received);
                                memcpy(&p->fd_received, CMSG_DATA(c), sizeof(int));
                                p->fd_pos = p->total_read;
                                p->fd_end = p->total_read + (uint64_t) r;
                        }
                }
                if (r > 0) {
                        p->in_len += (size_t) r;
                        p->total_read += (size_t) r;
                        p->in[p->in_len] = 0;
                        while ((nl = memchr(p->in, '\n', p->in_len))) {
                                *nl = 0;
                                peer_handle_line(p, p->in);
                                memmove(p->in, nl + 1, p->in_len - (size_t) (nl + 1 - p->in));
                                p->in_len -= (size_t) (nl + 1 - p->in);
                        }
                        /* A line longer than our buffer (the huge command): keep its head
                         * (with "execute") and drop the middle. */
                        if (p->in_len == sizeof(p->in) - 1)
                                p->in_len = 256;
                }
        }
        return 0;
}

static void peer_init(Peer *p, int fd) {
        memset(p, 0, sizeof(*p));
        p->fd = fd;
        p->fd_received = p->getfd_fd = -1;
        fcntl(fd, F_SETFL, O_NONBLOCK);
        sd_event_add_io(event, &p->src, fd, EPOLLIN, peer_io, p);
}

static void peer_done(Peer *p) {
        sd_event_source_disable_unref(p->src);
        if (p->fd >= 0)
                close(p->fd);
        if (p->fd_received >= 0)
                close(p->fd_received);
        if (p->getfd_fd >= 0)
                close(p->getfd_fd);
        free(p->out);
}

/* ---- client side ---- */

typedef struct Client {
        bool ready;
        int disconnected;   /* 0 = not yet, 1 + error */
        int disconnect_error;
        unsigned events;
        char last_event[64];
        uint64_t last_ts;
        bool last_guest;
        char order[256];
} Client;

typedef struct Reply {
        bool called;
        int r;
        char error[256];
        size_t string_len;
        char status[32];
        Client *client;
} Reply;

static void on_ready(Qmp *q, void *userdata) {
        Client *c = userdata;
        c->ready = true;
}

static void on_event(Qmp *q, const char *name, const JsonValue *data, uint64_t ts, void *userdata) {
        Client *c = userdata;

        c->events++;
        snprintf(c->last_event, sizeof(c->last_event), "%s", name);
        c->last_ts = ts;
        (void) json_util_boolean(json_object_get(data, "guest"), &c->last_guest);
        strncat(c->order, name, sizeof(c->order) - strlen(c->order) - 2);
        strcat(c->order, ",");
}

static void on_disconnected(Qmp *q, int error, void *userdata) {
        Client *c = userdata;
        c->disconnected = 1;
        c->disconnect_error = error;
}

static void on_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Reply *rep = userdata;

        rep->called = true;
        rep->r = r;
        if (error)
                snprintf(rep->error, sizeof(rep->error), "%s", error);
        if (json_is_string(ret))
                rep->string_len = json_string_length(ret);
        if (json_util_member_string(ret, "status"))
                snprintf(rep->status, sizeof(rep->status), "%s", json_util_member_string(ret, "status"));
        if (rep->client) {
                strcat(rep->client->order, "reply,");
        }
}

static const QmpCallbacks callbacks = {
        .ready = on_ready,
        .event = on_event,
        .disconnected = on_disconnected,
};

static bool run_until(bool *flag) {
        for (int i = 0; i < 10000 && !*flag; i++)
                if (sd_event_run(event, 10000) < 0)
                        return false;
        return *flag;
}

static void test_conversation(void) {
        int sv[2];
        Peer peer;
        Client c = {};
        Qmp *q = NULL;
        Reply r1 = {}, r2 = {}, r3 = {}, r4 = {};
        bool disc;
        JsonValue *args;
        char *huge;

        fprintf(stderr, "test: conversation\n");
        check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        peer_init(&peer, sv[1]);
        check(qmp_new_fd(event, sv[0], &callbacks, &c, &q) == 0);

        /* Queued before the greeting: sent after qmp_capabilities. */
        check(qmp_send(q, "early", NULL, on_reply, &r1) == 0);

        peer.chunk = 3;   /* dribble */
        peer_sendf(&peer, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
                          "\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n");
        check(run_until(&c.ready));
        check(run_until(&r1.called) && r1.r == 0);
        check(strcmp(peer.last_command, "early") == 0);

        /* Several messages per read, in order. */
        r2.client = &c;
        c.order[0] = 0;
        peer.chunk = 0;
        check(qmp_send(q, "multi", NULL, on_reply, &r2) == 0);
        check(run_until(&r2.called) && r2.r == 0 && strcmp(r2.status, "paused") == 0);
        while (c.events < 2)
                sd_event_run(event, 10000);
        check(strcmp(c.order, "STOP,reply,SHUTDOWN,") == 0);
        check(strcmp(c.last_event, "SHUTDOWN") == 0 && c.last_guest && c.last_ts == 1700000001000006ull);

        /* A reply of several MiB. */
        check(qmp_send(q, "big", NULL, on_reply, &r3) == 0);
        check(run_until(&r3.called) && r3.r == 0 && r3.string_len == 6u * 1024u * 1024u);

        /* Errors carry qemu's class and words. */
        check(qmp_send(q, "fail", NULL, on_reply, &r4) == 0);
        check(run_until(&r4.called) && r4.r == -EIO && strcmp(r4.error, "GenericError: it failed") == 0);

        /* A command larger than the socket buffers: written in pieces as the peer reads slowly. */
        huge = malloc(3u * 1024u * 1024u + 1);
        if (!huge)
                abort();
        memset(huge, 'y', 3u * 1024u * 1024u);
        huge[3u * 1024u * 1024u] = 0;
        args = json_object();
        check(json_object_set_new(args, "data", json_string(huge)) == 0);
        free(huge);
        peer.read_limit = 4096;
        r1 = (Reply) {};
        check(qmp_send(q, "huge", args, on_reply, &r1) == 0);
        check(run_until(&r1.called) && r1.r == 0);
        check(peer.total_read > 3u * 1024u * 1024u);
        peer.read_limit = 0;

        /* A pending command when the peer hangs up: -ECONNRESET, then disconnected. */
        r1 = (Reply) {};
        check(qmp_send(q, "hangup", NULL, on_reply, &r1) == 0);
        while (strcmp(peer.last_command, "hangup") != 0)
                sd_event_run(event, 10000);
        close(peer.fd);
        peer.fd = -1;
        disc = false;
        check(run_until(&r1.called) && r1.r == -ECONNRESET);
        disc = c.disconnected;
        check(run_until(&disc) && c.disconnect_error == 0);
        check(qmp_send(q, "after", NULL, NULL, NULL) == -ENOTCONN);
        qmp_free(q);
        peer_done(&peer);
}

/* A descriptor passed with a command reaches the peer with that command's
 * first byte, also when a large command before it is still being written. */
static void test_pass_fd(void) {
        int sv[2], pipefd[2];
        Peer peer;
        Client c = {};
        Qmp *q = NULL;
        Reply r1 = {}, r2 = {};
        JsonValue *args;
        char *big, buf[8] = {};

        fprintf(stderr, "test: descriptor passing\n");
        check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        check(pipe2(pipefd, O_CLOEXEC) == 0);
        peer_init(&peer, sv[1]);
        check(qmp_new_fd(event, sv[0], &callbacks, &c, &q) == 0);

        /* Not before the monitor is ready: qemu would take it for the wrong command. */
        args = json_object();
        json_object_set_new(args, "fdname", json_string("early"));
        check(qmp_send_with_fd(q, "getfd", args, pipefd[1], on_reply, &r1) == -ENOTCONN);
        check(qmp_send_with_fd(q, "getfd", NULL, -1, on_reply, &r1) == -EBADF);

        peer_sendf(&peer, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
                          "\"package\": \"\"}, \"capabilities\": []}}\r\n");
        check(run_until(&c.ready));

        big = malloc(1u << 20);
        if (!big)
                abort();
        memset(big, 'z', (1u << 20) - 1);
        big[(1u << 20) - 1] = 0;
        args = json_object();
        json_object_set_new(args, "data", json_string(big));
        free(big);
        peer.read_limit = 1000;   /* slow reads: the fd's command waits behind a partly written one */
        check(qmp_send(q, "before", args, on_reply, &r1) == 0);
        args = json_object();
        json_object_set_new(args, "fdname", json_string("save"));
        check(qmp_send_with_fd(q, "getfd", args, pipefd[1], on_reply, &r2) == 0);
        close(pipefd[1]);   /* the client keeps its own duplicate until it is sent */
        check(run_until(&r1.called) && r1.r == 0);
        check(run_until(&r2.called) && r2.r == 0);
        check(peer.getfd_fd >= 0);
        check(peer.fd_received == -1);   /* no descriptor came with any other byte */
        if (peer.getfd_fd >= 0) {
                check(write(peer.getfd_fd, "fd", 2) == 2);
                close(peer.getfd_fd);
                peer.getfd_fd = -1;
                check(read(pipefd[0], buf, sizeof buf) == 2 && memcmp(buf, "fd", 2) == 0);
                /* the client let go of its duplicate once sent: EOF now */
                check(read(pipefd[0], buf, sizeof buf) == 0);
        }
        close(pipefd[0]);
        qmp_free(q);
        peer_done(&peer);
}

static void test_garbage(void) {
        int sv[2];
        Peer peer;
        Client c = {};
        Qmp *q = NULL;
        Reply r = {};
        bool disc = false;

        fprintf(stderr, "test: malformed message closes the monitor\n");
        check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        peer_init(&peer, sv[1]);
        check(qmp_new_fd(event, sv[0], &callbacks, &c, &q) == 0);
        peer_sendf(&peer, "{\"QMP\": {}}\r\n");
        check(run_until(&c.ready));
        check(qmp_send(q, "garbage", NULL, on_reply, &r) == 0);
        check(run_until(&r.called) && r.r == -ECONNRESET);
        disc = c.disconnected;
        check(disc && c.disconnect_error == -EPROTO);
        qmp_free(q);
        peer_done(&peer);
}

/* Freeing the client from inside its own callback is allowed. */
static Qmp *free_me;
static void free_in_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        bool *called = userdata;
        *called = true;
        free_me = qmp_free(free_me);
}

static void test_free_in_callback(void) {
        int sv[2];
        Peer peer;
        Client c = {};
        bool called = false, other = false;

        fprintf(stderr, "test: free from a callback\n");
        check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        peer_init(&peer, sv[1]);
        check(qmp_new_fd(event, sv[0], &callbacks, &c, &free_me) == 0);
        peer_sendf(&peer, "{\"QMP\": {}}\r\n");
        check(run_until(&c.ready));
        check(qmp_send(free_me, "multi", NULL, free_in_reply, &called) == 0);
        check(qmp_send(free_me, "other", NULL, free_in_reply, &other) == 0);
        check(run_until(&called));
        for (int i = 0; i < 20; i++)
                sd_event_run(event, 1000);
        check(!other && !c.disconnected);
        peer_done(&peer);
}

static void test_late_socket(void) {
        char dir[] = "/tmp/vmgmt-test-qmp-XXXXXX";
        char path[100];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        Client c = {};
        Qmp *q = NULL;
        int lfd, afd = -1;
        Peer peer;
        bool disc;

        fprintf(stderr, "test: connect retries until the socket exists\n");
        check(mkdtemp(dir) != NULL);
        snprintf(path, sizeof(path), "%s/mon.sock", dir);
        check(qmp_new(event, path, &callbacks, &c, &q) == 0);
        check(qmp_connect(q, 5000000) == 0);
        for (int i = 0; i < 30; i++)
                sd_event_run(event, 1000);   /* a few failed attempts */
        check(!c.ready && !c.disconnected);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        check(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) == 0 && listen(lfd, 1) == 0);
        for (int i = 0; i < 2000 && afd < 0; i++) {
                sd_event_run(event, 1000);
                afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        }
        check(afd >= 0);
        peer_init(&peer, afd);
        peer_sendf(&peer, "{\"QMP\": {}}\r\n");
        check(run_until(&c.ready));
        qmp_free(q);
        peer_done(&peer);
        close(lfd);

        /* Nobody ever listens: -ETIMEDOUT. */
        c = (Client) {};
        snprintf(path, sizeof(path), "%s/never.sock", dir);
        check(qmp_new(event, path, &callbacks, &c, &q) == 0);
        check(qmp_connect(q, 100000) == 0);
        disc = false;
        for (int i = 0; i < 1000 && !c.disconnected; i++)
                sd_event_run(event, 10000);
        disc = c.disconnected;
        check(disc && c.disconnect_error == -ETIMEDOUT);
        qmp_free(q);

        /* A path longer than sun_path is refused up front. */
        {
                char longp[200];
                memset(longp, 'a', sizeof(longp) - 1);
                longp[0] = '/';
                longp[sizeof(longp) - 1] = 0;
                check(qmp_new(event, longp, &callbacks, &c, &q) == -ENAMETOOLONG);
        }
        unlink(path);
        snprintf(path, sizeof(path), "%s/mon.sock", dir);
        unlink(path);
        rmdir(dir);
}

int main(void) {
        if (sd_event_new(&event) < 0)
                return 1;
        test_conversation();
        test_pass_fd();
        test_garbage();
        test_free_in_callback();
        test_late_socket();
        sd_event_unref(event);
        fprintf(stderr, "%s (%u failures)\n", failures ? "FAIL" : "OK", failures);
        return failures ? 1 : 0;
}
