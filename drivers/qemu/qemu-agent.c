/* qemu-agent.c — the QEMU guest agent (qemu-ga in the guest) on the domain's virtio-serial channel
 * org.qemu.guest_agent.0, whose socket qemu serves (at the channel's path, or in the runtime's channel
 * directory when the definition names none): qemu_agent_call() for every use (quiesce's freeze and
 * thaw, guest-network-get-interfaces for GetInterfaceAddresses).
 *
 * One call is one connection: connect (the socket must be served by the domain's qemu: SO_PEERCRED),
 * a 0xFF byte and guest-sync-delimited with a random id (the agent answers 0xFF then {"return": id},
 * which skips whatever an earlier client left unread), then the command and its one reply line. All
 * of it non-blocking on the loop and bounded by a deadline: a guest without a running agent never
 * answers, and the call then ends with -ETIMEDOUT. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "qemu/qemu-driver-internal.h"
#include "qemu-stats.h"

#define AGENT_MAX_REPLY (1024u * 1024u)

struct QemuAgentCall {
        sd_event_source *io, *timer;
        int fd;
        char *out;                      /* what is still to be written */
        size_t out_len, out_off;
        GString *in;
        char *command_line;             /* the command, sent once the sync is answered */
        uint64_t sync_id;
        bool synced;
        QemuAgentDoneFn done;
        void *userdata;
};

const DomainChrDef *qemu_agent_channel(const DomainDef *def) {
        return domain_def_agent_channel(def);
}

static void call_free(QemuAgentCall *c) {
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        if (c->fd >= 0)
                close(c->fd);
        free(c->out);
        if (c->in)
                g_string_free(c->in, TRUE);
        free(c->command_line);
        free(c);
}

QemuAgentCall *qemu_agent_call_cancel(QemuAgentCall *c) {
        if (c)
                call_free(c);
        return NULL;
}

static void call_end(QemuAgentCall *c, int r, const JsonValue *ret, const char *message) {
        QemuAgentDoneFn done = c->done;
        void *userdata = c->userdata;
        _cleanup_free_ char *m = message ? strdup(message) : NULL;

        /* the reply is the caller's during done; the call is gone already */
        if (ret)
                json_incref((JsonValue *) ret);
        call_free(c);
        done(r, ret, m, userdata);
        if (ret)
                json_decref((JsonValue *) ret);
}

static int queue_line(QemuAgentCall *c, const char *prefix, const char *line) {
        char *s = g_strdup_printf("%s%s\n", prefix, line);
        size_t n = strlen(s);
        char *b = realloc(c->out, c->out_len + n);

        if (!b) {
                g_free(s);
                return -ENOMEM;
        }
        memcpy(b + c->out_len, s, n);
        g_free(s);
        c->out = b;
        c->out_len += n;
        return sd_event_source_set_io_events(c->io, EPOLLIN | EPOLLOUT);
}

/* One complete line of the agent's output. 1: the call ended. */
static int handle_line(QemuAgentCall *c, const char *line, size_t len) {
        _cleanup_json_ JsonValue *v = NULL;
        const JsonValue *err;
        int64_t id;

        if (len == 0)
                return 0;
        if (json_util_parse(line, len, &v, NULL) < 0) {
                call_end(c, -EIO, NULL, "the guest agent sent something that is not JSON");
                return 1;
        }
        if (!c->synced) {
                /* anything but our sync's answer is left over from an earlier client: skipped */
                if (json_util_integer(json_object_get(v, "return"), &id) < 0 || (uint64_t) id != c->sync_id)
                        return 0;
                c->synced = true;
                if (queue_line(c, "", c->command_line) < 0) {
                        call_end(c, -ENOMEM, NULL, "out of memory");
                        return 1;
                }
                return 0;
        }
        err = json_object_get(v, "error");
        if (err) {
                _cleanup_free_ char *m = g_strdup_printf("the guest agent failed: %s",
                                                         json_util_member_string(err, "desc") ?: "(no description)");
                call_end(c, -EIO, NULL, m);
                return 1;
        }
        if (!json_object_get(v, "return")) {
                call_end(c, -EIO, NULL, "the guest agent's reply has no \"return\"");
                return 1;
        }
        call_end(c, 0, json_object_get(v, "return"), NULL);
        return 1;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        QemuAgentCall *c = userdata;
        char buf[4096];
        ssize_t n;

        if (revents & EPOLLOUT && c->out_off < c->out_len) {
                n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        call_end(c, -errno, NULL, "cannot write to the guest agent channel");
                        return 0;
                }
                if (n > 0)
                        c->out_off += (size_t) n;
                if (c->out_off == c->out_len) {
                        c->out_off = c->out_len = 0;
                        (void) sd_event_source_set_io_events(c->io, EPOLLIN);
                }
        }
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;
        n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                call_end(c, n < 0 ? -errno : -ECONNRESET, NULL, "the guest agent channel closed");
                return 0;
        }
        for (ssize_t i = 0; i < n; i++) {
                if ((unsigned char) buf[i] == 0xff) {
                        g_string_truncate(c->in, 0);   /* the agent's delimiter: what came before is stale */
                        continue;
                }
                if (buf[i] != '\n') {
                        g_string_append_c(c->in, buf[i]);
                        if (c->in->len > AGENT_MAX_REPLY) {
                                call_end(c, -EMSGSIZE, NULL, "the guest agent's reply is too long");
                                return 0;
                        }
                        continue;
                }
                _cleanup_free_ char *line = g_strndup(c->in->str, c->in->len);
                size_t len = c->in->len;
                g_string_truncate(c->in, 0);
                if (handle_line(c, line, len) > 0)
                        return 0;
        }
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        QemuAgentCall *c = userdata;

        call_end(c, -ETIMEDOUT, NULL,
                 c->synced ? "the guest agent did not answer in time" : "QEMU guest agent is not connected (no answer in time)");
        return 0;
}

/* A socket connected to the agent channel of rt (served by its qemu), or a negative errno. */
static int agent_connect(DriverRuntime *rt, char **ret_error) {
        const DomainChrDef *ch = qemu_agent_channel(rt->def);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int dirfd = -1, fd = -1;
        struct ucred cred = {};
        socklen_t len = sizeof(cred);

        _cleanup_free_ char *dir = NULL, *base = NULL;

        if (!ch || (!ch->source_path && !rt->channel_dir)) {
                *ret_error = strdup("QEMU guest agent is not configured");
                return -ENODEV;
        }
        if (streq_ptr(ch->source_mode, "connect")) {
                *ret_error = strdup("the guest agent channel connects out (mode='connect'): vmgmtd cannot reach it");
                return -EOPNOTSUPP;
        }
        /* the socket's directory by fd: a deep run directory does not fit sun_path */
        dir = ch->source_path ? g_path_get_dirname(ch->source_path) : g_strdup(rt->channel_dir);
        base = ch->source_path ? g_path_get_basename(ch->source_path) : g_strdup(QEMU_AGENT_CHANNEL);
        dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                *ret_error = strdup("the guest agent channel's directory is gone");
                return -errno;
        }
        if ((size_t) snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, base) >=
            sizeof(sa.sun_path)) {
                *ret_error = strdup("the guest agent channel's name is too long");
                return -ENAMETOOLONG;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                int r = -errno;
                *ret_error = g_strdup_printf("cannot connect to the guest agent channel: %s", strerror(-r));
                return r;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (cred.pid != rt->pid) {
                log_warning("Guest agent socket of domain %s is served by process %d, not by qemu (%d): not using it.",
                            rt->def->name, (int) cred.pid, (int) rt->pid);
                *ret_error = strdup("the guest agent channel is not served by the domain's qemu");
                return -EPERM;
        }
        return TAKE_FD(fd);
}

int qemu_agent_call(DriverRuntime *rt, const char *command, JsonValue *arguments, uint64_t timeout_usec,
                    QemuAgentDoneFn done, void *userdata, QemuAgentCall **ret, char **ret_error) {
        _cleanup_json_ JsonValue *cmd = json_object(), *sync = json_object(), *args = arguments;
        _cleanup_free_ char *sync_line = NULL;
        QemuAgentCall *c;
        uint64_t now = 0;
        int r;

        if (!cmd || !sync)
                return -ENOMEM;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fd = -1;
        c->done = done;
        c->userdata = userdata;
        c->in = g_string_new(NULL);
        c->sync_id = ((uint64_t) g_random_int() << 20) ^ g_random_int();
        c->sync_id &= (UINT64_C(1) << 52) - 1;   /* an integer JSON keeps exactly */
        json_object_set_new(cmd, "execute", json_string(command));
        if (args)
                json_object_set_new(cmd, "arguments", TAKE_PTR(args));
        json_object_set_new(sync, "execute", json_string("guest-sync-delimited"));
        json_object_set_new(sync, "arguments", json_pack("{sI}", "id", (json_int_t) c->sync_id));
        c->command_line = json_util_format(cmd, NULL);
        sync_line = json_util_format(sync, NULL);
        if (!c->command_line || !sync_line) {
                call_free(c);
                return -ENOMEM;
        }
        r = agent_connect(rt, ret_error);
        if (r < 0) {
                call_free(c);
                return r;
        }
        c->fd = r;
        (void) sd_event_now(rt->driver->event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_io(rt->driver->event, &c->io, c->fd, EPOLLIN, on_io, c);
        if (r >= 0)
                r = sd_event_add_time(rt->driver->event, &c->timer, CLOCK_MONOTONIC, now + timeout_usec, 0, on_timeout, c);
        if (r >= 0)
                r = queue_line(c, "\xff", sync_line);   /* 0xFF first: the agent drops a partial command */
        if (r < 0) {
                call_free(c);
                *ret_error = g_strdup_printf("cannot watch the guest agent channel: %s", strerror(-r));
                return r;
        }
        *ret = c;
        return 0;
}

/* ---- guest-network-get-interfaces (DomainDriverOps.agent_interfaces) ---- */

typedef struct InterfacesCall {
        DriverRuntime *rt;
        QemuAgentCall *call;
        DriverIfAddrFn fn;
        void *userdata;
} InterfacesCall;

static void interfaces_gone(DriverRuntime *rt, bool exited, void *userdata);

static void interfaces_end(InterfacesCall *ic, int r, const DriverIfAddr *addrs, size_t n, const char *message) {
        QemuListener l = { .gone = interfaces_gone, .userdata = ic };
        DriverIfAddrFn fn = ic->fn;
        void *userdata = ic->userdata;

        if (ic->rt)
                qemu_runtime_remove_listener(ic->rt, &l);
        ic->call = qemu_agent_call_cancel(ic->call);
        g_free(ic);
        if (fn)
                fn(userdata, r, addrs, n, message);
}

static void interfaces_gone(DriverRuntime *rt, bool exited, void *userdata) {
        InterfacesCall *ic = userdata;

        ic->rt = NULL;   /* the listener is removed already */
        if (!exited)     /* driver teardown: nothing is called back */
                ic->fn = NULL;
        interfaces_end(ic, -ESRCH, NULL, 0, "the domain stopped");
}

static void interfaces_done(int r, const JsonValue *ret, const char *message, void *userdata) {
        InterfacesCall *ic = userdata;
        GArray *v;

        ic->call = NULL;   /* gone already */
        if (r < 0) {
                interfaces_end(ic, r, NULL, 0,
                               r == -ETIMEDOUT ? "the guest agent did not answer in time" : message);
                return;
        }
        v = g_array_new(FALSE, TRUE, sizeof(DriverIfAddr));
        for (size_t i = 0; i < json_array_size(ret); i++) {
                const JsonValue *ifc = json_array_get(ret, i), *ips = json_object_get(ifc, "ip-addresses");
                DriverIfAddr e = {
                        .name = json_util_member_string(ifc, "name"),
                        .hwaddr = json_util_member_string(ifc, "hardware-address"),
                };

                if (!e.name)
                        continue;
                if (json_array_size(ips) == 0)
                        g_array_append_val(v, e);
                for (size_t k = 0; k < json_array_size(ips); k++) {
                        const JsonValue *ip = json_array_get(ips, k);
                        uint64_t prefix = 0;

                        e.type = json_util_member_string(ip, "ip-address-type");
                        e.addr = json_util_member_string(ip, "ip-address");
                        if (!e.addr || !STR_IN_SET(e.type ?: "", "ipv4", "ipv6"))
                                continue;
                        (void) qemu_json_u64(json_object_get(ip, "prefix"), &prefix);
                        e.prefix = prefix <= 128 ? (unsigned) prefix : 0;
                        g_array_append_val(v, e);
                }
        }
        interfaces_end(ic, 0, (const DriverIfAddr *) (void *) v->data, v->len, NULL);
        g_array_free(v, TRUE);
}

int qemu_agent_interfaces(DriverRuntime *rt, uint64_t timeout_usec, DriverIfAddrFn fn, void *userdata) {
        QemuListener l = { .gone = interfaces_gone };
        _cleanup_free_ char *err = NULL;
        InterfacesCall *ic;
        int r;

        if (rt->starting)
                return -EBUSY;
        if (rt->killing || rt->state == DOMAIN_STATE_SHUTOFF)
                return -ESRCH;
        ic = g_new0(InterfacesCall, 1);
        ic->fn = fn;
        ic->userdata = userdata;
        l.userdata = ic;
        r = qemu_runtime_add_listener(rt, &l);
        if (r < 0) {
                g_free(ic);
                return r;
        }
        ic->rt = rt;
        r = qemu_agent_call(rt, "guest-network-get-interfaces", NULL, timeout_usec ?: 10u * 1000000u,
                            interfaces_done, ic, &ic->call, &err);
        if (r < 0) {
                ic->fn = NULL;   /* refused at once: the caller reports r */
                interfaces_end(ic, r, NULL, 0, NULL);
                return r;
        }
        return 0;
}
