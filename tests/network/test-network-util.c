/* test-network-util.c — helpers for the network driver tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netlink/route/link/veth.h>
#include <signal.h>
#include <sys/wait.h>
#include <glib.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "network-internal.h"
#include "test-network-util.h"

int test_failures;

static pid_t test_child;

static void forward_signal(int sig) {
        if (test_child > 0)
                kill(test_child, SIGKILL);
}

void test_enter_netns(void) {
        struct ifreq ifr = {};
        int fd, status;

        /* network namespace: every link, rule and packet stays in here; pid and
         * mount namespaces: when the test ends (or is killed), the kernel kills
         * every dnsmasq and guest it started, and /proc shows our own pids */
        if (unshare(CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS) < 0) {
                /* not a missing component: run the tests as root */
                fprintf(stderr, "cannot create network/pid/mount namespaces (run as root): %s\n", strerror(errno));
                exit(1);
        }
        fflush(NULL);
        test_child = fork();
        if (test_child < 0) {
                perror("fork");
                exit(1);
        }
        if (test_child > 0) {
                signal(SIGTERM, forward_signal);
                signal(SIGINT, forward_signal);
                while (waitpid(test_child, &status, 0) < 0)
                        if (errno != EINTR) {
                                perror("waitpid");
                                exit(1);
                        }
                /* _exit: this process shares the child's mount namespace, whose /proc
                 * no longer shows our pid, so LeakSanitizer's exit check cannot run here */
                _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }

        /* pid 1 of the new namespace */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
            /* run dirs vanish with the test, however it ends */
            mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0) {
                perror("mount /proc, /tmp");
                exit(1);
        }
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        snprintf(ifr.ifr_name, IFNAMSIZ, "lo");
        if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)) {
                perror("lo up");
                exit(1);
        }
        close(fd);
}

int test_summary(void) {
        if (test_failures) {
                fprintf(stderr, "%d failure(s)\n", test_failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}

sd_event *test_event(void) {
        static sd_event *e;
        if (!e && sd_event_new(&e) < 0)
                abort();
        return e;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

void pump(unsigned ms) {
        uint64_t end = now_ms() + ms;
        for (uint64_t t; (t = now_ms()) < end;)
                sd_event_run(test_event(), (end - t) * 1000);
}

bool wait_for(bool (*cond)(void *data), void *data, unsigned seconds) {
        uint64_t end = now_ms() + seconds * 1000ULL;
        while (!cond(data)) {
                if (now_ms() >= end)
                        return false;
                pump(100);
        }
        return true;
}

void done_cb(void *userdata, int r, const char *message) {
        Done *d = userdata;
        d->called = true;
        d->r = r;
        free(d->message);
        d->message = message ? strdup(message) : NULL;
}

void done_reset(Done *d) {
        free(d->message);
        *d = (Done) {};
}

void wait_done(Done *done, unsigned seconds) {
        uint64_t end = now_ms() + seconds * 1000ULL;
        while (!done->called && now_ms() < end)
                sd_event_run(test_event(), 100 * 1000);
        CHECK(done->called, "operation did not complete within %u s", seconds);
        if (!done->called)
                done->r = -ETIMEDOUT;
}

void wait_until(unsigned *counter, unsigned target, unsigned seconds) {
        uint64_t end = now_ms() + seconds * 1000ULL;
        while (*counter < target && now_ms() < end)
                sd_event_run(test_event(), 100 * 1000);
        CHECK(*counter >= target, "event count %u < %u after %u s", *counter, target, seconds);
}

void recover_cb(void *userdata, NetworkDef *def, NetworkRuntime *rt) {
        RecoverResult *r = userdata;
        r->n++;
        r->def = def;
        r->rt = rt;
}

char *run_output(const char *cmd) {
        FILE *f = popen(cmd, "r");
        GString *s = g_string_new(NULL);
        char buf[4096];
        size_t n;
        if (!f)
                return g_string_free(s, true);
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                g_string_append_len(s, buf, (gssize) n);
        if (pclose(f) != 0)
                return g_string_free(s, true);
        return g_string_free(s, false);
}

char *read_text(const char *path) {
        char *t = NULL;
        return read_full_file(path, 1 << 20, &t, NULL) < 0 ? NULL : t;
}

bool read_text_starts(const char *path, const char *prefix) {
        _cleanup_free_ char *t = read_text(path);
        return t && strncmp(t, prefix, strlen(prefix)) == 0;
}

static int dns_once(int fd, const uint8_t *q, size_t qlen, uint8_t out[4]) {
        uint8_t a[1500];
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;
        size_t off;

        if (send(fd, q, qlen, 0) < 0)
                return -errno;
        if (poll(&p, 1, 1000) <= 0)
                return -ETIMEDOUT;
        n = recv(fd, a, sizeof(a), 0);
        if (n < 12)
                return -EBADMSG;
        if ((a[3] & 0x0f) != 0)
                return -ENOENT;   /* rcode */
        unsigned an = (unsigned) a[6] << 8 | a[7];
        off = qlen;               /* the question is echoed as sent */
        for (unsigned i = 0; i < an && off + 12 <= (size_t) n; i++) {
                if ((a[off] & 0xc0) == 0xc0)
                        off += 2;
                else {
                        while (off < (size_t) n && a[off])
                                off += a[off] + 1;
                        off++;
                }
                unsigned type = (unsigned) a[off] << 8 | a[off + 1];
                unsigned rdlen = (unsigned) a[off + 8] << 8 | a[off + 9];
                off += 10;
                if (type == 1 && rdlen == 4 && off + 4 <= (size_t) n) {
                        memcpy(out, a + off, 4);
                        return 0;
                }
                off += rdlen;
        }
        return -ENOENT;
}

int dns_query_a(const char *server, const char *name, uint8_t out[4]) {
        uint8_t q[512] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
        size_t len = 12;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53) };
        _cleanup_close_ int fd = -1;
        int r = -EIO;

        _cleanup_strv_free_ char **labels = g_strsplit(name, ".", -1);
        for (char **l = labels; *l; l++) {
                size_t n = strlen(*l);
                q[len++] = (uint8_t) n;
                memcpy(q + len, *l, n);
                len += n;
        }
        q[len++] = 0;
        q[len++] = 0; q[len++] = 1;   /* A */
        q[len++] = 0; q[len++] = 1;   /* IN */

        inet_pton(AF_INET, server, &sa.sin_addr);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        for (int i = 0; i < 3 && r < 0 && r != -ENOENT; i++)
                r = dns_once(fd, q, len, out);
        return r;
}

int wait_dns_a(const char *server, const char *name, uint8_t out[4], unsigned seconds) {
        uint64_t end = now_ms() + seconds * 1000ULL;
        int r;
        while ((r = dns_query_a(server, name, out)) < 0 && now_ms() < end)
                pump(100);
        return r;
}

bool pid_alive(pid_t pid) {
        _cleanup_free_ char *path = NULL, *stat = NULL;
        if (pid <= 0 || asprintf(&path, "/proc/%d/stat", (int) pid) < 0 || read_full_file(path, 4096, &stat, NULL) < 0)
                return false;
        const char *p = strrchr(stat, ')');
        return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

pid_t guest_start(struct nl_sock *nl, const char *bridge, unsigned n, const char *script, char *const *env) {
        char host[IFNAMSIZ], guest[IFNAMSIZ], c;
        int go[2], ready[2], r;
        pid_t pid;

        snprintf(host, sizeof(host), "vh%u", n);
        snprintf(guest, sizeof(guest), "vg%u", n);
        if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                setpgid(0, 0);
                if (unshare(CLONE_NEWNET) < 0)
                        _exit(90);
                (void) !write(ready[1], "r", 1);
                if (read(go[0], &c, 1) != 1)
                        _exit(91);
                setenv("IF", guest, 1);
                for (char *const *e = env; e && *e; e++)
                        putenv(*e);
                execl("/bin/sh", "sh", "-c", script, (char *) NULL);
                _exit(92);
        }
        close(ready[1]);
        close(go[0]);
        if (read(ready[0], &c, 1) != 1)
                return -ECHILD;
        close(ready[0]);
        /* the guest end goes straight into the guest's namespace */
        r = rtnl_link_veth_add(nl, host, guest, pid);
        CHECK(r >= 0, "veth %s: %s", host, nl_geterror(r));
        int idx = network_nl_ifindex(nl, host), br = network_nl_ifindex(nl, bridge);
        CHECK(idx > 0 && br > 0 && network_nl_link_set(nl, idx, NULL, 0, br, true) == 0, "%s on %s", host, bridge);
        (void) !write(go[1], "g", 1);
        close(go[1]);
        return pid;
}

int guest_wait(struct nl_sock *nl, pid_t pid, unsigned n, unsigned seconds) {
        char host[IFNAMSIZ];
        int status = 0;

        snprintf(host, sizeof(host), "vh%u", n);
        for (unsigned i = 0; i < seconds * 10; i++) {
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        network_nl_link_delete(nl, host);
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                }
                pump(100);
        }
        guest_kill(nl, pid, n);
        return -ETIMEDOUT;
}

void guest_kill(struct nl_sock *nl, pid_t pid, unsigned n) {
        char host[IFNAMSIZ];
        snprintf(host, sizeof(host), "vh%u", n);
        kill(-pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        network_nl_link_delete(nl, host);
}

NetworkDef *test_network_def(NetworkDriver *d, const char *xml) {
        NetworkDef *def = NULL;
        ConfError err = {};
        NetworkNormalizeCtx ctx = { .ifname_exists = network_ifname_exists, .userdata = d };
        if (network_def_parse(xml, strlen(xml), &def, &err) < 0 || network_def_normalize(def, &ctx, &err) < 0) {
                fprintf(stderr, "bad test XML: %s\n", strna(err.message));
                exit(1);
        }
        return def;
}
