/* test-spawn-util.c — spawn_child() against a real /bin/sh: what the child gets (fds, environment, cwd,
 * session, signal mask), what it does not inherit, exec failures, and the pidfd. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../qemu/test-helpers.h"
#include "macro.h"
#include "spawn-util.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* What the child reports about itself, one fact a line. */
static const char script[] =
        "echo \"cwd=$(pwd)\"\n"
        "echo \"env=$(env | sort | tr '\\n' ' ')\"\n"
        "printf 'fds='; for n in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do [ -e /proc/$$/fd/$n ] && printf '%s ' $n; done; echo\n"
        "echo \"stdin=$(readlink /proc/$$/fd/0)\"\n"
        "echo \"fd3=$(cat <&3)\"\n"
        "echo \"sid=$(cut -d' ' -f6 /proc/$$/stat) pid=$$\"\n"
        /* read by the shell itself: a forked grep would catch the shell while
         * it blocks every signal around its own fork */
        "while read -r l; do case $l in SigBlk*) echo \"$l\";; esac; done </proc/$$/status\n"
        "echo oops >&2\n"
        "exit 7\n";

static char *memfd_text(int fd) {
        char *buf = calloc(1, 8192);
        ssize_t n = buf ? pread(fd, buf, 8191, 0) : -1;
        if (buf && n > 0)
                buf[n] = 0;
        return buf;
}

/* Waits for the child through its pidfd only (poll, then waitid P_PIDFD) and returns its exit status. */
static int wait_pidfd(int pidfd) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        siginfo_t si = {};

        if (poll(&p, 1, 10000) != 1)
                return -ETIMEDOUT;
        if (waitid((idtype_t) P_PIDFD, (id_t) pidfd, &si, WEXITED) < 0)
                return -errno;
        return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}

static void test_child_environment(void) {
        _cleanup_close_ int out = memfd_create("out", MFD_CLOEXEC), err = memfd_create("err", MFD_CLOEXEC);
        _cleanup_close_ int three = memfd_create("three", MFD_CLOEXEC), pidfd = -1;
        _cleanup_free_ char *o = NULL, *e = NULL;
        char *const argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) script, NULL };
        SpawnOptions opts = SPAWN_OPTIONS_INIT;
        int stray[4], saved_stdin, r;
        sigset_t block, old;
        char expect[64];
        pid_t pid = 0;

        CHECK(out >= 0 && err >= 0 && three >= 0);
        CHECK(pwrite(three, "three", 5, 0) == 5);
        /* fds the child must not get: inheritable ones of ours, at numbers it could see */
        for (size_t i = 0; i < ELEMENTSOF(stray); i++)
                stray[i] = open("/dev/null", O_RDONLY);
        /* our stdin is the child's stdout: it sits on a number the child's dup2s overwrite */
        saved_stdin = fcntl(0, F_DUPFD_CLOEXEC, 3);
        CHECK(dup2(out, 0) == 0);
        /* the daemon runs with signals blocked */
        sigemptyset(&block);
        sigaddset(&block, SIGUSR1);
        sigaddset(&block, SIGTERM);
        sigprocmask(SIG_BLOCK, &block, &old);

        opts.cwd = "/tmp";
        opts.stdout_fd = 0;
        opts.stderr_fd = err;
        opts.fds = &three;
        opts.n_fds = 1;
        r = spawn_child(argv, &opts, &pid, &pidfd);

        sigprocmask(SIG_SETMASK, &old, NULL);
        CHECK(dup2(saved_stdin, 0) == 0);
        close(saved_stdin);
        for (size_t i = 0; i < ELEMENTSOF(stray); i++)
                close(stray[i]);

        CHECK(r == 0 && pid > 0 && pidfd >= 0);
        CHECK(fcntl(pidfd, F_GETFD) == FD_CLOEXEC);
        CHECK(wait_pidfd(pidfd) == 7);
        CHECK(fcntl(three, F_GETFD) == FD_CLOEXEC);   /* the caller's fds are left as they were */

        o = memfd_text(out);
        e = memfd_text(err);
        CHECK(o && strstr(o, "cwd=/tmp\n"));
        CHECK(o && strstr(o, "env=LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PWD=/tmp \n"));
        CHECK(o && strstr(o, "fds=0 1 2 3 \n"));
        CHECK(o && strstr(o, "stdin=/dev/null\n"));
        CHECK(o && strstr(o, "fd3=three\n"));
        snprintf(expect, sizeof(expect), "sid=%d pid=%d\n", (int) pid, (int) pid);
        CHECK(o && strstr(o, expect));
        CHECK(o && strstr(o, "SigBlk:\t0000000000000000\n"));
        CHECK_STREQ(e, "oops\n");
        if (test_failures)
                fprintf(stderr, "child's stdout:\n%s\nstderr:\n%s\n", strempty(o), strempty(e));
}

static void test_own_environment_and_cwd_fd(void) {
        _cleanup_close_ int out = memfd_create("out", MFD_CLOEXEC), dir = open("/usr", O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int pidfd = -1;
        _cleanup_free_ char *o = NULL;
        char *const argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) "echo \"$(pwd) $FOO $PATH\"", NULL };
        char *const envp[] = { (char *) "FOO=bar", (char *) "PATH=/bin", NULL };
        SpawnOptions opts = SPAWN_OPTIONS_INIT;
        pid_t pid;

        opts.envp = envp;
        opts.cwd_fd = dir;
        opts.stdout_fd = out;
        CHECK(spawn_child(argv, &opts, &pid, &pidfd) == 0);
        CHECK(wait_pidfd(pidfd) == 0);
        o = memfd_text(out);
        CHECK_STREQ(o, "/usr bar /bin\n");
}

static void test_exec_failure(void) {
        char *const missing[] = { (char *) "/nonexistent/vmgmt-no-such-program", NULL };
        char *const notexec[] = { (char *) "/etc/passwd", NULL };
        SpawnOptions opts = SPAWN_OPTIONS_INIT;
        int pidfd = -1, r;
        pid_t pid = 0;

        r = spawn_child(missing, &opts, &pid, &pidfd);
        CHECK(r == -ENOENT && pidfd == -1 && pid == 0);
        r = spawn_child(notexec, &opts, &pid, &pidfd);
        CHECK(r == -EACCES && pidfd == -1 && pid == 0);
        /* nothing was left behind to reap */
        CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

static void test_signal_and_find(void) {
        char *const argv[] = { (char *) "/bin/sleep", (char *) "30", NULL };
        SpawnOptions opts = SPAWN_OPTIONS_INIT;
        _cleanup_free_ char *sh = spawn_find_program("sh"), *none = spawn_find_program("vmgmt-no-such-program");
        _cleanup_close_ int pidfd = -1, again = -1;
        pid_t pid;

        CHECK(sh && sh[0] == '/' && access(sh, X_OK) == 0);
        CHECK(!none);
        CHECK(spawn_child(argv, &opts, &pid, &pidfd) == 0);
        again = spawn_pidfd_open(pid);
        CHECK(again >= 0);
        CHECK(spawn_pidfd_signal(pidfd, SIGTERM) == 0);
        CHECK(wait_pidfd(pidfd) == 128 + SIGTERM);
        CHECK(spawn_pidfd_signal(again, SIGTERM) == -ESRCH);   /* reaped: the pidfd says so, no other process is hit */
}

static bool pid_exists(pid_t pid) {
        char path[64];
        struct stat st;

        snprintf(path, sizeof(path), "/proc/%d", (int) pid);
        return stat(path, &st) == 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ull + (uint64_t) ts.tv_nsec / 1000ull;
}

/* Bounds the waits for the loop to reap a child; only a hang runs into it. */
#define REAP_WAIT_USEC (60ull * 1000000ull)

/* A killed child is reaped by the loop (no zombie left), a child that does
 * not exit (as one stuck in an uninterruptible sleep; here an hour's sleep)
 * holds up neither spawn_reap() nor the loop, and freeing the loop does not
 * wait for it to exit. That nothing waited is seen in the outcome: the
 * stuck child still runs afterwards (it would have to have exited for a
 * wait on it to end). */
static void test_reap(void) {
        char *const argv[] = { (char *) "/bin/sleep", (char *) "3600", NULL };
        SpawnOptions opts = SPAWN_OPTIONS_INIT;
        sd_event *event = NULL;
        int killed_fd = -1, stuck_fd = -1, gone_fd = -1;
        pid_t killed, stuck, gone;
        uint64_t end;

        CHECK(sd_event_new(&event) >= 0);
        CHECK(spawn_child(argv, &opts, &killed, &killed_fd) == 0);
        CHECK(spawn_child(argv, &opts, &stuck, &stuck_fd) == 0);
        CHECK(spawn_pidfd_signal(killed_fd, SIGKILL) == 0);
        spawn_reap(event, killed_fd);
        spawn_reap(event, stuck_fd);
        CHECK(pid_exists(stuck) && fcntl(stuck_fd, F_GETFD) >= 0);   /* handed to the loop, not waited for */
        /* the loop runs: the killed one is reaped (its /proc entry goes with the zombie) */
        end = now_usec() + REAP_WAIT_USEC;
        while (pid_exists(killed) && now_usec() < end)
                CHECK(sd_event_run(event, 100 * 1000) >= 0);
        CHECK(!pid_exists(killed));
        CHECK(fcntl(killed_fd, F_GETFD) < 0 && errno == EBADF);
        /* the other one still runs, and a loop iteration does not wait for it */
        CHECK(sd_event_run(event, 0) >= 0);
        CHECK(pid_exists(stuck) && fcntl(stuck_fd, F_GETFD) >= 0);

        /* spawn_kill_reap(): a running child is killed and left to the loop, an already reaped one's pidfd just closed */
        {
                pid_t k, done;
                int kfd = -1, dfd = -1;

                CHECK(spawn_child(argv, &opts, &k, &kfd) == 0);
                spawn_kill_reap(event, k, kfd);
                CHECK(fcntl(kfd, F_GETFD) >= 0);   /* left to the loop, which closes it once reaped */
                end = now_usec() + REAP_WAIT_USEC;
                while (pid_exists(k) && now_usec() < end)
                        CHECK(sd_event_run(event, 100 * 1000) >= 0);
                CHECK(!pid_exists(k));
                CHECK(fcntl(kfd, F_GETFD) < 0 && errno == EBADF);
                CHECK(spawn_child(argv, &opts, &done, &dfd) == 0);
                CHECK(kill(done, SIGKILL) == 0);
                CHECK(waitpid(done, NULL, 0) == done);
                spawn_kill_reap(event, 0, dfd);
                CHECK(fcntl(dfd, F_GETFD) < 0 && errno == EBADF);
                spawn_kill_reap(event, 0, -1);
        }

        /* killed, but the loop goes away before running: freeing it reaps */
        CHECK(spawn_child(argv, &opts, &gone, &gone_fd) == 0);
        CHECK(spawn_pidfd_signal(gone_fd, SIGKILL) == 0);
        spawn_reap(event, gone_fd);
        event = sd_event_unref(event);
        /* the killed one is reaped, the one that does not exit is given up on */
        CHECK(!pid_exists(gone));
        CHECK(pid_exists(stuck));
        CHECK(kill(stuck, SIGKILL) == 0);
        CHECK(waitpid(stuck, NULL, 0) == stuck);
        CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

int main(void) {
        test_child_environment();
        test_own_environment_and_cwd_fd();
        test_exec_failure();
        test_signal_and_find();
        test_reap();
        return TEST_EXIT();
}
