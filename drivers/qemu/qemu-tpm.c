/* qemu-tpm.c — a domain's emulated TPM (<tpm><backend type='emulator'>): its swtpm and its state.
 *
 * The state lives in state_dir/swtpm/UUID/tpm2 (libvirt's layout), kept from one run to the next.
 * At the first start it is manufactured (swtpm_setup: EK, PCR banks) into tpm2.new, which becomes
 * tpm2 only once complete. vmgmtd binds swtpm's control socket in qemu's run dir before qemu runs;
 * swtpm gets the listening fd (--ctrl type=unixio,fd=3), qemu connects by path (its tpm-emulator
 * passes swtpm the data channel over it with SCM_RIGHTS). Both run as the domain's qemu uid, each
 * in a root of its own (qemu-confine.c): swtpm sees its state dir, qemu only the socket.
 *
 * qemu runs from the start on: it waits at its TPM's set-up until swtpm answers, so a first
 * start's manufacture (a child of the loop) only delays the start. swtpm ends when qemu's
 * connection goes (--terminate); whatever removes qemu's run files (exit, failed start, a
 * restarted daemon finding qemu gone) also stops swtpm, and the status file keeps its pid so a
 * restarted vmgmtd still knows it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "qemu-driver-internal.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif


struct QemuTpm {
        char *dir;                 /* state_dir/swtpm/UUID */
        char *state;               /* dir/tpm2: the TPM's state files */
        char *socket;              /* run_dir/swtpm.sock, swtpm's control socket */
        char *log;                 /* LOG_PREFIX-swtpm.log: swtpm_setup's and swtpm's output */
        int listen_fd;             /* bound by us, until swtpm has it; -1 */
        pid_t setup_pid;           /* swtpm_setup manufacturing the state; 0 */
        int setup_pidfd;
        sd_event_source *setup_source;
        pid_t pid;                 /* swtpm; 0 */
        int pidfd;
        uint64_t starttime;        /* of pid: a restarted daemon tells it from a reused pid */
};

static int close_fd(int fd) {
        if (fd >= 0)
                close(fd);
        return -1;
}

static bool runtime_has_emulator(const DriverRuntime *rt) {
        return rt->def->tpm && streq_ptr(rt->def->tpm->backend, "emulator");
}

static char *state_dir_of(QemuDriver *d, const char *uuid) {
        return g_strdup_printf("%s/swtpm/%s", d->paths.state_dir, uuid);
}

static QemuTpm *tpm_get(DriverRuntime *rt) {
        QemuTpm *t = rt->tpm;

        if (t)
                return t;
        t = rt->tpm = g_new0(QemuTpm, 1);
        t->dir = state_dir_of(rt->driver, rt->uuid);
        t->state = g_strdup_printf("%s/tpm2", t->dir);
        t->socket = g_strdup_printf("%s/swtpm.sock", rt->run_dir);
        t->log = g_strdup_printf("%s-swtpm.log", rt->log_prefix);
        t->listen_fd = t->setup_pidfd = t->pidfd = -1;
        return t;
}

char *qemu_tpm_socket_arg(DriverRuntime *rt) {
        QemuTpm *t;

        if (!runtime_has_emulator(rt))
                return NULL;
        t = tpm_get(rt);
        /* qemu's cwd is its run dir: a path too long for sun_path goes through it */
        if (strlen(t->socket) < sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return g_strdup(t->socket);
        return g_strdup("/proc/self/cwd/swtpm.sock");
}

/* ---- the state dir ---- */

static int chown_to(DriverRuntime *rt, const char *path) {
        if (!rt->confined)
                return 0;
        return chown(path, rt->uid, rt->gid) < 0 ? -errno : 0;
}

/* path and the files in it (swtpm's state is flat) become rt's uid's. */
static int chown_state(DriverRuntime *rt, const char *path) {
        DIR *dir;
        struct dirent *de;
        int r = chown_to(rt, path);

        if (r < 0 || !rt->confined)
                return r;
        dir = opendir(path);
        if (!dir)
                return -errno;
        while ((de = readdir(dir)))
                if (de->d_type == DT_REG && fchownat(dirfd(dir), de->d_name, rt->uid, rt->gid, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
        closedir(dir);
        return r;
}

/* Removes a flat directory and its files (a TPM state dir); 0 or -errno (not -ENOENT). */
static int remove_flat_dir(const char *path) {
        DIR *dir = opendir(path);
        struct dirent *de;

        if (!dir)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(dir)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        (void) unlinkat(dirfd(dir), de->d_name, 0);
        closedir(dir);
        return rmdir(path) < 0 && errno != ENOENT ? -errno : 0;
}

/* ---- swtpm ---- */

static int open_log(QemuTpm *t) {
        return open(t->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
}

static int spawn_swtpm(DriverRuntime *rt, char **ret_error) {
        QemuTpm *t = rt->tpm;
        _cleanup_free_ char *swtpm = spawn_find_program("swtpm");
        _cleanup_free_ char *state_opt = g_strdup_printf("dir=%s,mode=0600", t->state);
        _cleanup_close_ int logfd = open_log(t);
        SpawnOptions o = SPAWN_OPTIONS_INIT;
        const char *const dirs[] = { t->state, NULL };
        char *argv[] = {
                swtpm, (char *) "socket", (char *) "--tpm2", (char *) "--tpmstate", state_opt,
                (char *) "--ctrl", (char *) "type=unixio,fd=3", (char *) "--log", (char *) "fd=4,level=1",
                (char *) "--terminate", NULL,
        };
        int r;

        if (!swtpm) {
                *ret_error = g_strdup("the emulated TPM needs swtpm, which is not installed");
                return -ENOENT;
        }
        if (logfd < 0) {
                r = -errno;
                *ret_error = g_strdup_printf("cannot open the TPM log %s: %s", t->log, strerror(-r));
                return r;
        }
        int fds[] = { t->listen_fd, logfd };   /* 3 and 4 (swtpm takes no --log fd=2) */

        o.cwd = t->state;
        o.stdout_fd = o.stderr_fd = logfd;
        o.fds = fds;
        o.n_fds = ELEMENTSOF(fds);
        r = qemu_confine_spawn_helper(rt, argv, &o, dirs, &t->pid, &t->pidfd, ret_error);
        if (r < 0)
                return r;
        t->starttime = qemu_process_starttime(t->pid);
        t->listen_fd = close_fd(t->listen_fd);   /* swtpm's now: qemu's connection waits in its backlog */
        qemu_runtime_log(rt, "swtpm started (pid %d), TPM state in %s", (int) t->pid, t->state);
        if (rt->pid > 0)   /* after a manufacture: qemu runs already */
                (void) qemu_runtime_save_status(rt);
        return 0;
}

static int on_setup_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        DriverRuntime *rt = userdata;
        QemuTpm *t = rt->tpm;
        _cleanup_free_ char *fresh = g_strdup_printf("%s.new", t->state), *error = NULL;
        siginfo_t si = {};
        int r = -EIO;

        if (waitid((idtype_t) P_PIDFD, (id_t) t->setup_pidfd, &si, WEXITED | WNOHANG) >= 0 && si.si_pid != 0 &&
            si.si_code == CLD_EXITED && si.si_status == 0)
                r = 0;
        t->setup_source = sd_event_source_disable_unref(t->setup_source);
        t->setup_pidfd = close_fd(t->setup_pidfd);
        t->setup_pid = 0;
        if (r >= 0 && rename(fresh, t->state) < 0)
                r = -errno;
        if (r >= 0) {
                qemu_runtime_log(rt, "TPM manufactured in %s", t->state);
                r = spawn_swtpm(rt, &error);
        } else {
                _cleanup_free_ char *tail = qemu_log_last_line(t->log);
                error = g_strdup_printf("cannot manufacture the domain's TPM (swtpm_setup failed: %s; see %s)",
                                        tail ?: "no output", t->log);
        }
        if (r < 0) {
                qemu_runtime_log(rt, "%s", error);
                qemu_process_start_failed(rt, r, error);   /* qemu waits for its TPM: it goes, and swtpm's files with it */
        }
        return 0;
}

/* swtpm_setup makes a new TPM in state.new, as rt's uid, as a child of the loop. */
static int start_manufacture(DriverRuntime *rt, char **ret_error) {
        QemuTpm *t = rt->tpm;
        _cleanup_free_ char *setup = spawn_find_program("swtpm_setup"), *swtpm = spawn_find_program("swtpm");
        _cleanup_free_ char *fresh = g_strdup_printf("%s.new", t->state), *banks = NULL, *tpm_cmd = NULL;
        _cleanup_close_ int logfd = -1;
        SpawnOptions o = SPAWN_OPTIONS_INIT;
        const char *const dirs[] = { fresh, NULL };
        char *env[] = { (char *) "LC_ALL=C", (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *) "HOME=/tmp", NULL };
        int r;

        if (!setup || !swtpm) {
                *ret_error = g_strdup("the emulated TPM needs swtpm and swtpm_setup (Debian's swtpm and swtpm-tools), "
                                      "which are not installed");
                return -ENOENT;
        }
        tpm_cmd = g_strdup_printf("%s socket", swtpm);   /* swtpm_setup's --tpm is the command it runs */
        banks = rt->def->tpm->pcr_banks ? domain_tpm_pcr_banks_to_string(rt->def->tpm->pcr_banks) : g_strdup("sha256");
        r = remove_flat_dir(fresh);   /* what a manufacture cut short left */
        if (r >= 0 && mkdir(fresh, 0700) < 0)
                r = -errno;
        if (r >= 0)
                r = chown_to(rt, fresh);
        if (r < 0) {
                *ret_error = g_strdup_printf("cannot create the TPM state directory %s: %s", fresh, strerror(-r));
                return r;
        }
        logfd = open_log(t);
        if (logfd < 0) {
                r = -errno;
                *ret_error = g_strdup_printf("cannot open the TPM log %s: %s", t->log, strerror(-r));
                return r;
        }
        char *argv[] = {
                setup, (char *) "--tpm2", (char *) "--tpm-state", fresh, (char *) "--tpm", tpm_cmd,
                (char *) "--createek", (char *) "--lock-nvram", (char *) "--not-overwrite",
                (char *) "--pcr-banks", banks, (char *) "--config", (char *) "/dev/null", NULL,
        };
        o.envp = env;
        o.cwd = fresh;
        o.stdout_fd = o.stderr_fd = logfd;
        r = qemu_confine_spawn_helper(rt, argv, &o, dirs, &t->setup_pid, &t->setup_pidfd, ret_error);
        if (r < 0)
                return r;
        r = sd_event_add_io(rt->driver->event, &t->setup_source, t->setup_pidfd, EPOLLIN, on_setup_exit, rt);
        if (r < 0) {
                spawn_kill_reap(rt->driver->event, t->setup_pid, TAKE_FD(t->setup_pidfd));
                t->setup_pid = 0;
                *ret_error = g_strdup("cannot watch swtpm_setup");
                return r;
        }
        (void) sd_event_source_set_description(t->setup_source, "swtpm-setup");
        qemu_runtime_log(rt, "manufacturing the TPM in %s (swtpm_setup pid %d, PCR banks %s)", fresh, (int) t->setup_pid,
                         banks);
        return 0;
}

/* The control socket, bound and listening before qemu connects to it. */
static int bind_socket(DriverRuntime *rt, char **ret_error) {
        QemuTpm *t = rt->tpm;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *path = NULL;
        int r = 0;

        /* a path too long for sun_path is reached through the driver's run dir fd */
        if (strlen(t->socket) < sizeof(sa.sun_path))
                path = g_strdup(t->socket);
        else
                path = g_strdup_printf("/proc/self/fd/%d/%s/swtpm.sock", rt->driver->run_dir_fd, rt->uuid);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        (void) unlink_noent(path);
        t->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (t->listen_fd < 0 || bind(t->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            listen(t->listen_fd, 4) < 0 || chmod(path, 0600) < 0)
                r = -errno;
        if (r >= 0)
                r = chown_to(rt, path);
        if (r < 0)
                *ret_error = g_strdup_printf("cannot create the TPM's socket %s: %s", t->socket, strerror(-r));
        return r;
}

int qemu_tpm_start(DriverRuntime *rt, char **ret_error) {
        QemuTpm *t;
        _cleanup_free_ char *base = NULL;
        struct stat st;
        int r;

        if (!runtime_has_emulator(rt))
                return 0;
        t = tpm_get(rt);
        if (strchr(t->state, ',')) {
                *ret_error = g_strdup_printf("the TPM state directory %s has a ',', which swtpm cannot take", t->state);
                return -EINVAL;
        }
        base = g_path_get_dirname(t->dir);
        r = mkdir_p(base, 0711);
        if (r >= 0 && mkdir(t->dir, 0700) < 0 && errno != EEXIST)
                r = -errno;
        if (r >= 0)
                r = chown_to(rt, t->dir);
        if (r >= 0 && stat(t->state, &st) == 0)
                r = chown_state(rt, t->state);   /* the uid may differ from the last run's */
        if (r < 0) {
                *ret_error = g_strdup_printf("cannot prepare the TPM state directory %s: %s", t->dir, strerror(-r));
                return r;
        }
        r = bind_socket(rt, ret_error);
        if (r < 0)
                return r;
        if (access(t->state, F_OK) == 0)
                return spawn_swtpm(rt, ret_error);
        return start_manufacture(rt, ret_error);
}

void qemu_tpm_stop(DriverRuntime *rt) {
        QemuTpm *t = rt->tpm;

        if (!t)
                return;
        t->setup_source = sd_event_source_disable_unref(t->setup_source);
        spawn_kill_reap(rt->driver->event, t->setup_pid, TAKE_FD(t->setup_pidfd));
        t->setup_pid = 0;
        if (t->pidfd >= 0) {
                /* it ends by itself once qemu's connection is gone; SIGTERM makes sure, and lets it close its state */
                (void) spawn_pidfd_signal(t->pidfd, SIGTERM);
                spawn_reap(rt->driver->event, TAKE_FD(t->pidfd));
                qemu_runtime_log(rt, "swtpm (pid %d) stopped", (int) t->pid);
        }
        t->pid = 0;
        t->starttime = 0;
        t->listen_fd = close_fd(t->listen_fd);
        (void) unlink_noent(t->socket);
}

void qemu_tpm_free(DriverRuntime *rt) {
        QemuTpm *t = rt->tpm;

        if (!t)
                return;
        /* driver teardown: swtpm keeps serving the qemu that stays; a manufacture is abandoned (tpm2.new) */
        t->setup_source = sd_event_source_disable_unref(t->setup_source);
        spawn_kill_reap(rt->driver->event, t->setup_pid, TAKE_FD(t->setup_pidfd));
        close_fd(t->pidfd);
        close_fd(t->listen_fd);
        g_free(t->dir);
        g_free(t->state);
        g_free(t->socket);
        g_free(t->log);
        g_free(t);
        rt->tpm = NULL;
}

void qemu_tpm_format_status(DriverRuntime *rt, GString *s) {
        if (rt->tpm && rt->tpm->pid > 0)
                g_string_append_printf(s, "swtpm_pid=%d\nswtpm_starttime=%llu\n", (int) rt->tpm->pid,
                                       (unsigned long long) rt->tpm->starttime);
}

void qemu_tpm_adopt(DriverRuntime *rt, pid_t pid, uint64_t starttime) {
        QemuTpm *t;

        if (pid <= 0 || starttime == 0 || !runtime_has_emulator(rt))
                return;
        t = tpm_get(rt);
        if (qemu_process_starttime(pid) != starttime)
                return;   /* gone already */
        t->pidfd = spawn_pidfd_open(pid);
        /* checked again with the pidfd held: the pid cannot be reused now */
        if (t->pidfd < 0 || qemu_process_starttime(pid) != starttime) {
                t->pidfd = close_fd(t->pidfd);
                return;
        }
        t->pid = pid;
        t->starttime = starttime;
}

/* ---- the state of a domain that does not run (DomainDriverOps) ---- */

static int uuid_path(QemuDriver *d, const unsigned char uuid[16], char **ret) {
        char u[37];

        conf_uuid_format(uuid, u);
        *ret = state_dir_of(d, u);
        return 0;
}

int qemu_tpm_state_remove(DomainDriver *base, const unsigned char uuid[16]) {
        _cleanup_free_ char *dir = NULL, *state = NULL, *fresh = NULL;
        int r;

        (void) uuid_path((QemuDriver *) base, uuid, &dir);
        state = g_strdup_printf("%s/tpm2", dir);
        fresh = g_strdup_printf("%s/tpm2.new", dir);
        r = remove_flat_dir(state);
        if (r >= 0)
                r = remove_flat_dir(fresh);
        if (r >= 0 && rmdir(dir) < 0 && errno != ENOENT)
                r = -errno;
        return r;
}

static int copy_file(int from_dir, int to_dir, const char *name) {
        _cleanup_close_ int in = openat(from_dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_close_ int out = -1;
        char buf[16384];
        ssize_t n;

        if (in < 0)
                return -errno;
        out = openat(to_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0)
                return -errno;
        while ((n = read(in, buf, sizeof(buf))) > 0)
                if (write_full(out, buf, (size_t) n) < 0)
                        return -EIO;
        return n < 0 ? -errno : 0;
}

int qemu_tpm_state_copy(DomainDriver *base, const unsigned char from[16], const unsigned char to[16], char **ret_error) {
        QemuDriver *d = (QemuDriver *) base;
        _cleanup_free_ char *src_dir = NULL, *dst_dir = NULL, *src = NULL, *dst = NULL;
        DIR *dir;
        struct dirent *de;
        _cleanup_close_ int dst_fd = -1;
        int r = 0;

        *ret_error = NULL;
        (void) uuid_path(d, from, &src_dir);
        (void) uuid_path(d, to, &dst_dir);
        src = g_strdup_printf("%s/tpm2", src_dir);
        dst = g_strdup_printf("%s/tpm2", dst_dir);
        /* a handful of small files: copied here, on the loop */
        dir = opendir(src);
        if (!dir)
                return errno == ENOENT ? 0 : -errno;   /* never started: the copy is manufactured at its first start */
        r = mkdir_p(dst_dir, 0700);
        if (r >= 0 && mkdir(dst, 0700) < 0)
                r = -errno;
        if (r >= 0 && (dst_fd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                r = -errno;
        while (r >= 0 && (de = readdir(dir)))
                if (de->d_type == DT_REG && !streq(de->d_name, ".lock"))
                        r = copy_file(dirfd(dir), dst_fd, de->d_name);
        closedir(dir);
        if (r < 0) {
                *ret_error = g_strdup_printf("cannot copy the TPM state %s to %s: %s", src, dst, strerror(-r));
                (void) qemu_tpm_state_remove(base, to);
        }
        return r;
}
