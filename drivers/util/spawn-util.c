/* spawn-util.c — child processes with a clean environment and only the fds they are given, watched through pidfds. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "spawn-util.h"

#define SPAWN_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

int spawn_pidfd_open(pid_t pid) {
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        return fd < 0 ? -errno : fd;
}

int spawn_pidfd_signal(int pidfd, int sig) {
        return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

char *spawn_find_program(const char *name) {
        static const char *const dirs[] = { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                char *p = NULL;
                if (asprintf(&p, "%s/%s", dirs[i], name) < 0)
                        return NULL;
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

/* The child's fds in order (0, 1, 2, 3, …), each moved to a number ≥ min
 * first when it is below, so that no dup2 onto 0…min-1 in the child clobbers
 * a source still to be placed. Copies made are recorded in `copies` for the
 * caller to close; -1 (stdio not given) becomes nullfd. */
static int spawn_fds_place(const SpawnOptions *o, int nullfd, int min, int *src, int *copies) {
        size_t n = 3 + o->n_fds;

        for (size_t i = 0; i < n; i++) {
                int fd = i == 0 ? o->stdin_fd : i == 1 ? o->stdout_fd : i == 2 ? o->stderr_fd : o->fds[i - 3];
                if (fd < 0)
                        fd = nullfd;
                if (fd < min) {
                        fd = copies[i] = fcntl(fd, F_DUPFD_CLOEXEC, min);
                        if (fd < 0)
                                return -errno;
                }
                src[i] = fd;
        }
        return 0;
}

static int spawn_exec(char *const *argv, const SpawnOptions *o, const int *src, pid_t *ret_pid) {
        static char *default_env[] = { (char *) "LC_ALL=C", (char *) SPAWN_PATH, NULL };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        size_t n = 3 + o->n_fds;
        int r;

        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        sigfillset(&all);
        /* The daemon blocks signals for its event loop and may ignore some; the child must not inherit that. */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        if (o->cwd || o->cwd_fd < 0)
                posix_spawn_file_actions_addchdir_np(&fa, o->cwd ?: "/");
        else
                posix_spawn_file_actions_addfchdir_np(&fa, o->cwd_fd);
        /* dup2 clears close-on-exec on the copy; closefrom (close_range) drops everything else. */
        for (size_t i = 0; i < n; i++)
                posix_spawn_file_actions_adddup2(&fa, src[i], (int) i);
        posix_spawn_file_actions_addclosefrom_np(&fa, (int) n);
        r = posix_spawn(ret_pid, argv[0], &fa, &attr, argv, o->envp ?: default_env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return log_debug_errno(r, "Cannot execute %s: %m", argv[0]);
        return 0;
}

int spawn_child(char *const *argv, const SpawnOptions *o, pid_t *ret_pid, int *ret_pidfd) {
        size_t n = 3 + o->n_fds;
        _cleanup_free_ int *src = NULL, *copies = NULL;
        _cleanup_close_ int nullfd = -1;
        pid_t pid;
        int pidfd, r;

        src = calloc(n, sizeof(int));
        copies = malloc(n * sizeof(int));
        if (!src || !copies)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                copies[i] = -1;
        if (o->stdin_fd < 0 || o->stdout_fd < 0 || o->stderr_fd < 0) {
                nullfd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (nullfd < 0)
                        return -errno;
        }
        r = spawn_fds_place(o, nullfd, (int) n, src, copies);
        if (r >= 0)
                r = spawn_exec(argv, o, src, &pid);
        for (size_t i = 0; i < n; i++)
                if (copies[i] >= 0)
                        close(copies[i]);
        if (r < 0)
                return r;

        pidfd = spawn_pidfd_open(pid);
        if (pidfd < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);   /* just SIGKILLed: returns at once */
                return pidfd;
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        return 0;
}

/* Waits for the child of pidfd to exit, at most SPAWN_REAP_TEARDOWN_USEC
 * (at once when it already has), reaps it if it did, closes pidfd. */
static void reap_bounded(int pidfd) {
        siginfo_t si = {};
        struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

        while (poll(&pfd, 1, (int) (SPAWN_REAP_TEARDOWN_USEC / 1000u)) < 0 && errno == EINTR)
                ;
        if (waitid((idtype_t) P_PIDFD, (id_t) pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                log_debug("Child of pidfd %d did not exit in time; leaving it.", pidfd);
        close(pidfd);
}

static void on_reap_destroy(void *userdata) {
        reap_bounded((int) (intptr_t) userdata);
}

static int on_reap_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        /* it exited: take the loop's reference and drop it; the destroy callback's wait returns at once */
        sd_event_source_ref(s);
        (void) sd_event_source_set_floating(s, 0);
        sd_event_source_unref(s);
        return 0;
}

void spawn_reap(sd_event *event, int pidfd) {
        sd_event_source *s = NULL;

        if (pidfd < 0)
                return;
        if (!event || sd_event_add_io(event, &s, pidfd, EPOLLIN, on_reap_exit, (void *) (intptr_t) pidfd) < 0) {
                reap_bounded(pidfd);
                return;
        }
        (void) sd_event_source_set_description(s, "child-reaper");
        (void) sd_event_source_set_destroy_callback(s, on_reap_destroy);
        /* the loop owns it now: freed by on_reap_exit, or with the loop */
        (void) sd_event_source_set_floating(s, 1);
        sd_event_source_unref(s);
}

void spawn_kill_reap(sd_event *event, pid_t pid, int pidfd) {
        if (pidfd < 0)
                return;
        if (pid <= 0) {
                close(pidfd);
                return;
        }
        (void) spawn_pidfd_signal(pidfd, SIGKILL);
        spawn_reap(event, pidfd);
}
