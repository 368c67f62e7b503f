/* qemu-agent.c — the guest agent of a running domain: guest-network-get-interfaces over the
 * org.qemu.guest_agent.0 channel (DomainDriverOps.agent_interfaces). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "qemu-driver-internal.h"
#include "qemu-stats.h"

/* ---- the guest agent: guest-network-get-interfaces over the org.qemu.guest_agent.0 channel ----
 *
 * The agent speaks QMP's JSON lines without a greeting. A guest-sync with a
 * number of our own comes first: whatever the agent still owed an earlier
 * client is skipped until that number comes back. */

#define AGENT_CHANNEL "org.qemu.guest_agent.0"
#define AGENT_REPLY_MAX (4u * 1024u * 1024u)

typedef struct AgentQuery {
        DriverRuntime *rt;
        int fd;
        sd_event_source *io, *timer;
        GString *out;           /* what is still to be written */
        GString *in;            /* what came, not yet a whole line */
        uint64_t sync_id;
        bool synced;
        DriverIfAddrFn fn;
        void *userdata;
} AgentQuery;

static void agent_gone(DriverRuntime *rt, bool exited, void *userdata);

static void agent_free(AgentQuery *a) {
        QemuListener l = { .gone = agent_gone, .userdata = a };

        if (a->rt)
                qemu_runtime_remove_listener(a->rt, &l);
        sd_event_source_disable_unref(a->io);
        sd_event_source_disable_unref(a->timer);
        if (a->fd >= 0)
                close(a->fd);
        g_string_free(a->out, TRUE);
        g_string_free(a->in, TRUE);
        g_free(a);
}

static void agent_finish(AgentQuery *a, int r, const DriverIfAddr *addrs, size_t n, const char *message) {
        DriverIfAddrFn fn = a->fn;
        void *userdata = a->userdata;

        agent_free(a);
        fn(userdata, r, addrs, n, message);
}

static void agent_gone(DriverRuntime *rt, bool exited, void *userdata) {
        AgentQuery *a = userdata;

        a->rt = NULL;   /* the listener is removed already */
        if (!exited) {  /* driver teardown: nothing is called back */
                agent_free(a);
                return;
        }
        agent_finish(a, -ESRCH, NULL, 0, "the domain stopped");
}

/* guest-network-get-interfaces' answer as addresses. */
static void agent_answer(AgentQuery *a, const JsonValue *ret) {
        GArray *v = g_array_new(FALSE, TRUE, sizeof(DriverIfAddr));

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
        agent_finish(a, 0, (const DriverIfAddr *) (void *) v->data, v->len, NULL);
        g_array_free(v, TRUE);
}

/* One line from the agent. Returns 1 when the query is over (a is freed). */
static int agent_line(AgentQuery *a, const char *line, size_t len) {
        _cleanup_json_ JsonValue *msg = NULL;
        const JsonValue *ret;
        uint64_t id;

        while (len > 0 && (unsigned char) line[0] == 0xff) {   /* a delimiter some agents send */
                line++;
                len--;
        }
        if (len == 0 || json_util_parse(line, len, &msg, NULL) < 0)
                return 0;   /* noise before our sync (a half line of an earlier client) */
        ret = json_object_get(msg, "return");
        if (!a->synced) {
                if (qemu_json_u64(ret, &id) && id == a->sync_id)
                        a->synced = true;
                return 0;
        }
        if (!ret) {
                const char *desc = json_util_member_string(json_object_get(msg, "error"), "desc");
                _cleanup_free_ char *m = g_strdup_printf("the guest agent refused: %s", desc ?: "unknown error");
                agent_finish(a, -EIO, NULL, 0, m);
                return 1;
        }
        agent_answer(a, ret);
        return 1;
}

static int on_agent_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        AgentQuery *a = userdata;
        char buf[65536];
        ssize_t n;

        if (a->out->len > 0 && (revents & EPOLLOUT)) {
                n = write(fd, a->out->str, a->out->len);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        agent_finish(a, -errno, NULL, 0, "cannot write to the guest agent's channel");
                        return 0;
                }
                if (n > 0)
                        g_string_erase(a->out, 0, n);
                if (a->out->len == 0)
                        (void) sd_event_source_set_io_events(s, EPOLLIN);
        }
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                agent_finish(a, n < 0 ? -errno : -ECONNRESET, NULL, 0, "the guest agent's channel closed");
                return 0;
        }
        g_string_append_len(a->in, buf, n);
        for (;;) {
                char *nl = memchr(a->in->str, '\n', a->in->len);
                size_t len;

                if (!nl)
                        break;
                len = (size_t) (nl - a->in->str);
                if (agent_line(a, a->in->str, len))
                        return 0;
                g_string_erase(a->in, 0, len + 1);
        }
        if (a->in->len > AGENT_REPLY_MAX)
                agent_finish(a, -EMSGSIZE, NULL, 0, "the guest agent's answer is too large");
        return 0;
}

static int on_agent_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        agent_finish(userdata, -ETIMEDOUT, NULL, 0, "the guest agent did not answer (is qemu-guest-agent running in the guest?)");
        return 0;
}

/* Connects to the agent's socket, served by rt's qemu and no other process. */
static int agent_connect(DriverRuntime *rt, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int dir_fd = -1;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                /* the run dir is deep: reach the socket through its directory's fd */
                _cleanup_free_ char *dir = g_path_get_dirname(path), *base = g_path_get_basename(path);

                dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (dir_fd < 0)
                        return -errno;
                if ((size_t) snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dir_fd, base) >=
                    sizeof(sa.sun_path))
                        return -ENAMETOOLONG;
        } else
                strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* a listening unix socket accepts (queues) at once: no EINPROGRESS */
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (cred.pid != rt->pid) {
                close(fd);
                return -EPERM;
        }
        return fd;
}

int qemu_agent_interfaces(DriverRuntime *rt, uint64_t timeout_usec, DriverIfAddrFn fn, void *userdata) {
        static uint64_t counter;
        const DomainChrDef *chr = NULL;
        QemuListener l = { .gone = agent_gone };
        AgentQuery *a;
        int r;

        if (rt->starting)
                return -EBUSY;
        if (rt->killing || rt->state == DOMAIN_STATE_SHUTOFF)
                return -ESRCH;
        for (size_t i = 0; i < rt->def->n_channels && !chr; i++)
                if (streq_ptr(rt->def->channels[i].target_name, AGENT_CHANNEL))
                        chr = &rt->def->channels[i];
        if (!chr || !chr->source_path)
                return -ENODEV;
        if (streq_ptr(chr->source_mode, "connect"))
                return -EOPNOTSUPP;
        a = g_new0(AgentQuery, 1);
        a->fd = -1;
        a->out = g_string_new(NULL);
        a->in = g_string_new(NULL);
        a->fn = fn;
        a->userdata = userdata;
        a->sync_id = ((uint64_t) getpid() << 32) + ++counter;
        g_string_printf(a->out,
                        "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":%" PRIu64 "}}\n"
                        "{\"execute\":\"guest-network-get-interfaces\"}\n", a->sync_id);
        r = agent_connect(rt, chr->source_path);
        if (r < 0)
                goto fail;
        a->fd = r;
        r = sd_event_add_io(rt->driver->event, &a->io, a->fd, EPOLLIN | EPOLLOUT, on_agent_io, a);
        if (r >= 0)
                r = sd_event_add_time_relative(rt->driver->event, &a->timer, CLOCK_MONOTONIC,
                                               timeout_usec ?: 10u * 1000000u, 0, on_agent_timeout, a);
        l.userdata = a;
        if (r >= 0)
                r = qemu_runtime_add_listener(rt, &l);
        if (r < 0)
                goto fail;
        a->rt = rt;
        return 0;
fail:
        agent_free(a);
        return r;
}
