/* vmgmtctl-agent.c — a polkit text agent (pkttyagent) for the life of the command, as systemctl runs one. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <systemd/sd-login.h>

#include "vmgmtctl.h"

#define PKTTYAGENT "/usr/bin/pkttyagent"
#define AGENT_REGISTER_TIMEOUT_MS 10000

static bool member_is_read(const char *member) {
        /* Get*, List* and the standard read calls are open to everyone (API.md). */
        return strncmp(member, "Get", 3) == 0 || strncmp(member, "List", 4) == 0 ||
               STR_IN_SET(member, "Ping", "Introspect");
}

void ctl_polkit_agent_open_for(Context *c, sd_bus_message *m) {
        const char *member = sd_bus_message_get_member(m);

        if (member && !member_is_read(member))
                ctl_polkit_agent_open(c);
}

void ctl_polkit_agent_open(Context *c) {
        char *session = NULL;
        bool in_session;
        int fds[2];
        pid_t parent = getpid(), pid;

        if (!c->agent_allowed || c->agent_tried)
                return;
        c->agent_tried = true;
        /* root is never asked; without a terminal nobody could answer */
        if (geteuid() == 0 || !isatty(STDIN_FILENO) || access(PKTTYAGENT, X_OK) < 0)
                return;
        in_session = sd_pid_get_session(0, &session) >= 0;
        free(session);
        if (pipe2(fds, O_CLOEXEC) < 0)
                return;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                close(fds[0]);
                close(fds[1]);
                return;
        }
        if (pid == 0) {
                char fd_text[16];

                /* the agent goes when we go, even if we are killed */
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != parent)
                        _exit(EXIT_FAILURE);
                close(fds[0]);
                if (fcntl(fds[1], F_SETFD, 0) < 0)
                        _exit(EXIT_FAILURE);
                snprintf(fd_text, sizeof(fd_text), "%d", fds[1]);
                /* polkit consults a --fallback agent only for subjects in a
                 * login session (then a desktop's own agent goes first, as
                 * with systemctl); outside of one, only an agent registered
                 * for this very process is asked. */
                execl(PKTTYAGENT, PKTTYAGENT, "--notify-fd", fd_text, in_session ? "--fallback" : NULL, (char *) NULL);
                _exit(127);
        }
        close(fds[1]);
        /* It closes the fd once registered with polkit (or exits when it cannot). */
        (void) poll(&(struct pollfd) { .fd = fds[0], .events = POLLIN }, 1, AGENT_REGISTER_TIMEOUT_MS);
        close(fds[0]);
        c->agent_pid = pid;
}

void ctl_polkit_agent_close(Context *c) {
        if (c->agent_pid <= 0)
                return;
        (void) kill(c->agent_pid, SIGTERM);
        (void) kill(c->agent_pid, SIGCONT);
        while (waitpid(c->agent_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        c->agent_pid = 0;
}
