/* network-spawn.c — helper programs (nft, dnsmasq, ovs-vsctl) as child processes watched through pidfds. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "network-internal.h"
#include "spawn-util.h"

#define OUTPUT_MAX 4096

struct NetworkChild {
        pid_t pid;
        int pidfd;
        int outfd;                  /* memfd with the child's stdout+stderr */
        sd_event_source *source;
        NetworkChildDoneFn fn;
        void *userdata;
        void (*destroy)(void *userdata);   /* for userdata when fn never runs */
        char *name;
};

void network_child_set_destroy(NetworkChild *c, void (*destroy)(void *userdata)) {
        c->destroy = destroy;
}

int network_pidfd_open(pid_t pid) {
        return spawn_pidfd_open(pid);
}

int network_pidfd_send_signal(int pidfd, int sig) {
        return spawn_pidfd_signal(pidfd, sig);
}

char *network_find_program(const char *name) {
        return spawn_find_program(name);
}

NetworkChild *network_child_free(NetworkChild *c) {
        if (!c)
                return NULL;
        /* a child still running is killed and reaped by the loop (it may be stuck in the kernel) */
        spawn_kill_reap(c->source ? sd_event_source_get_event(c->source) : NULL, c->pid, c->pidfd);
        sd_event_source_disable_unref(c->source);
        if (c->destroy && c->fn)
                c->destroy(c->userdata);
        if (c->outfd >= 0)
                close(c->outfd);
        free(c->name);
        free(c);
        return NULL;
}

static char *read_output(int fd) {
        char *buf = calloc(1, OUTPUT_MAX + 1);
        ssize_t n;

        if (!buf)
                return NULL;
        n = pread(fd, buf, OUTPUT_MAX, 0);
        if (n < 0)
                n = 0;
        buf[n] = 0;
        return g_strstrip(buf);
}

static int on_child_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        NetworkChild *c = userdata;
        siginfo_t si = {};
        int status;

        if (waitid((idtype_t) P_PIDFD, (id_t) c->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0) {
                if (errno == EINTR || si.si_pid == 0)
                        return 0;
                status = 255;
        } else
                status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
        c->pid = 0;
        sd_event_source_set_enabled(c->source, SD_EVENT_OFF);
        NetworkChildDoneFn fn = TAKE_PTR(c->fn);

        _cleanup_free_ char *out = read_output(c->outfd);
        log_debug("%s exited with status %d%s%s", c->name, status, out && *out ? ": " : "", out ? out : "");
        fn(c->userdata, status, out ?: "");   /* may free c */
        return 0;
}

int network_child_spawn(sd_event *event, char *const *argv, const char *stdin_data, NetworkChildDoneFn fn,
                        void *userdata, NetworkChild **ret) {
        _cleanup_close_ int infd = -1, outfd = -1, pidfd = -1;
        SpawnOptions o = SPAWN_OPTIONS_INIT;
        NetworkChild *c;
        pid_t pid;
        int r;

        if (stdin_data) {
                size_t len = strlen(stdin_data);
                infd = memfd_create("vmgmt-stdin", MFD_CLOEXEC);
                if (infd < 0 || pwrite(infd, stdin_data, len, 0) != (ssize_t) len)
                        return -errno;
        }
        outfd = memfd_create("vmgmt-output", MFD_CLOEXEC);
        if (outfd < 0)
                return -errno;
        o.stdin_fd = infd;   /* else /dev/null */
        o.stdout_fd = o.stderr_fd = outfd;
        r = spawn_child(argv, &o, &pid, &pidfd);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        if (!c) {
                (void) network_pidfd_send_signal(pidfd, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return -ENOMEM;
        }
        c->pid = pid;
        c->pidfd = TAKE_FD(pidfd);
        c->outfd = TAKE_FD(outfd);
        c->fn = fn;
        c->userdata = userdata;
        c->name = strdup(argv[0]);
        r = sd_event_add_io(event, &c->source, c->pidfd, EPOLLIN, on_child_exit, c);
        if (r < 0) {
                network_child_free(c);
                return r;
        }
        (void) sd_event_source_set_description(c->source, "network-child");
        log_debug("Started %s (pid %d).", argv[0], (int) pid);
        *ret = c;
        return 0;
}
