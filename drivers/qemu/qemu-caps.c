/* qemu-caps.c — probes an emulator binary for its machine types once and caches the answer on disk. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "qemu/qemu-caps.h"

#define CAPS_FORMAT_VERSION 1
#define CAPS_PROBE_TIMEOUT_MS (QEMU_CAPS_PROBE_TIMEOUT_USEC / 1000u)
#define CAPS_OUTPUT_MAX (1024u * 1024u)
#define CAPS_CACHE_MAX (256u * 1024u)
#define CAPS_RECHECK_USEC (1000u * 1000u)

typedef struct QemuMachine {
        char *name;
        char *alias_of;            /* NULL for a canonical machine */
} QemuMachine;

struct QemuCaps {
        char *emulator;
        char *version;
        char *default_machine;
        QemuMachine *machines;
        size_t n_machines;
        uint64_t size;
        int64_t mtime_sec;
        long mtime_nsec;
        bool from_cache;
        uint64_t checked_usec;     /* when the binary was last found unchanged (CLOCK_MONOTONIC) */
};

QemuCaps *qemu_caps_free(QemuCaps *caps) {
        if (!caps)
                return NULL;
        for (size_t i = 0; i < caps->n_machines; i++) {
                free(caps->machines[i].name);
                free(caps->machines[i].alias_of);
        }
        free(caps->machines);
        free(caps->emulator);
        free(caps->version);
        free(caps->default_machine);
        free(caps);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(QemuCaps *, qemu_caps_free);

static bool machine_name_valid(const char *s) {
        if (isempty(s) || strlen(s) > 128)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '.' || *p == '-' || *p == '_'))
                        return false;
        return true;
}

static int caps_add_machine(QemuCaps *caps, const char *name, const char *alias_of) {
        QemuMachine *n;

        if (!machine_name_valid(name) || (alias_of && !machine_name_valid(alias_of)))
                return 0; /* ignore anything we could not put on a command line anyway */
        n = reallocarray(caps->machines, caps->n_machines + 1, sizeof(QemuMachine));
        if (!n)
                return -ENOMEM;
        caps->machines = n;
        n[caps->n_machines] = (QemuMachine) {
                .name = strdup(name),
                .alias_of = alias_of ? strdup(alias_of) : NULL,
        };
        caps->n_machines++;
        if (!n[caps->n_machines - 1].name || (alias_of && !n[caps->n_machines - 1].alias_of))
                return -ENOMEM;
        return 0;
}

static int set_str(char **dst, const char *src) {
        char *s = strdup(src);
        if (!s)
                return -ENOMEM;
        free(*dst);
        *dst = s;
        return 0;
}

/* Parses the text of `EMU -machine help`: "NAME  description (alias of X) (default)". */
static int caps_parse_machine_help(QemuCaps *caps, char *text) {
        char *saveptr = NULL;
        int r;

        for (char *line = strtok_r(text, "\n", &saveptr); line; line = strtok_r(NULL, "\n", &saveptr)) {
                _cleanup_free_ char *alias_of = NULL;
                size_t len = strcspn(line, " \t");
                const char *rest, *a;
                char name[129];

                if (len == 0 || len >= sizeof(name) || line[len] == '\0')
                        continue; /* header lines have no description column */
                if (strncmp(line, "Supported", 9) == 0)
                        continue;
                memcpy(name, line, len);
                name[len] = '\0';
                rest = line + len;

                a = strstr(rest, "(alias of ");
                if (a) {
                        a += strlen("(alias of ");
                        alias_of = strndup(a, strcspn(a, ")"));
                        if (!alias_of)
                                return -ENOMEM;
                }
                r = caps_add_machine(caps, name, alias_of);
                if (r < 0)
                        return r;
                if (strstr(rest, "(default)")) {
                        r = set_str(&caps->default_machine, alias_of ?: name);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* "QEMU emulator version 7.2.22 (Debian …)" → "7.2.22". */
static int caps_parse_version(QemuCaps *caps, const char *text) {
        const char *v = strstr(text, "version ");
        _cleanup_free_ char *s = NULL;

        if (!v)
                return -EBADMSG;
        v += strlen("version ");
        s = strndup(v, strcspn(v, " \n("));
        if (!s)
                return -ENOMEM;
        if (!machine_name_valid(s))
                return -EBADMSG;
        free(caps->version);
        caps->version = TAKE_PTR(s);
        return 0;
}

static int caps_cache_save(const QemuCaps *caps, const char *cache_dir, const char *path);

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* ---- probing: the emulator's answers, read by children of an event loop ---- */

typedef enum ProbeStep {
        PROBE_STEP_VERSION,        /* EMU -version */
        PROBE_STEP_MACHINES,       /* EMU -machine help */
        _PROBE_STEP_MAX,
} ProbeStep;

struct QemuCapsProbe {
        sd_event *event;
        QemuCaps *caps;            /* being filled */
        char *cache_dir;           /* NULL: never cache */
        char *cache_path;
        ProbeStep step;
        pid_t pid;                 /* the running child (a process group leader), 0 when none */
        int pidfd;
        int outfd;                 /* read end of the child's stdout, O_NONBLOCK */
        sd_event_source *exit_source;
        sd_event_source *out_source;
        sd_event_source *timer;    /* the deadline of the running child */
        char *buf;
        size_t len;
        int error;                 /* set when the child was killed: what to report once it is reaped */
        QemuCapsProbeFn fn;
        void *userdata;
};

static int pidfd_open_(pid_t pid) {
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        return fd < 0 ? -errno : fd;
}

/* Kills the child and everything it started (its own process group). The
 * leader is not reaped yet, so its pid, and so the group id, is still ours. */
static void probe_kill(QemuCapsProbe *p) {
        if (p->pid <= 0)
                return;
        (void) kill(-p->pid, SIGKILL);
        (void) syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
}

/* Forgets the current child; kills and reaps it if it still runs (cancel). */
static void probe_child_close(QemuCapsProbe *p) {
        p->exit_source = sd_event_source_disable_unref(p->exit_source);
        p->out_source = sd_event_source_disable_unref(p->out_source);
        if (p->pid > 0) {
                siginfo_t si = {};
                probe_kill(p);
                /* SIGKILL was sent: the wait is short */
                (void) waitid((idtype_t) P_PIDFD, (id_t) p->pidfd, &si, WEXITED);
                p->pid = 0;
        }
        if (p->pidfd >= 0)
                close(p->pidfd);
        if (p->outfd >= 0)
                close(p->outfd);
        p->pidfd = p->outfd = -1;
}

QemuCapsProbe *qemu_caps_probe_free(QemuCapsProbe *p) {
        if (!p)
                return NULL;
        probe_child_close(p);
        sd_event_source_disable_unref(p->timer);
        sd_event_unref(p->event);
        qemu_caps_free(p->caps);
        free(p->cache_dir);
        free(p->cache_path);
        free(p->buf);
        free(p);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(QemuCapsProbe *, qemu_caps_probe_free);

/* Ends the probe: the callback gets the caps (or the error) and p is freed. */
static void probe_finish(QemuCapsProbe *p, int r) {
        QemuCapsProbeFn fn = p->fn;
        void *userdata = p->userdata;
        QemuCaps *caps = NULL;

        if (r < 0)
                log_warning_errno(r, "Failed to probe capabilities of %s: %m", p->caps->emulator);
        else {
                if (p->cache_path) {
                        int k = caps_cache_save(p->caps, p->cache_dir, p->cache_path);
                        if (k < 0)
                                log_warning_errno(k, "Failed to write qemu caps cache %s, ignoring: %m",
                                                  p->cache_path);
                }
                caps = TAKE_PTR(p->caps);
        }
        qemu_caps_probe_free(p);
        fn(userdata, r, caps);
}

/* Reads what the child wrote so far without blocking. Returns 1 at EOF, 0
 * when more may come, or -errno. */
static int probe_read_output(QemuCapsProbe *p) {
        for (;;) {
                ssize_t n = read(p->outfd, p->buf + p->len, CAPS_OUTPUT_MAX - p->len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                if (n == 0)
                        return 1;
                p->len += (size_t) n;
                if (p->len >= CAPS_OUTPUT_MAX)
                        return -EFBIG;
        }
}

static int probe_step_parse(QemuCapsProbe *p) {
        p->buf[p->len] = '\0';
        switch (p->step) {
        case PROBE_STEP_VERSION:
                return caps_parse_version(p->caps, p->buf);
        case PROBE_STEP_MACHINES: {
                int r = caps_parse_machine_help(p->caps, p->buf);
                if (r < 0)
                        return r;
                return p->caps->n_machines > 0 ? 0 : -EBADMSG;
        }
        default:
                return -EINVAL;
        }
}

static int probe_step_start(QemuCapsProbe *p);

static int on_probe_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        QemuCapsProbe *p = userdata;
        int r = probe_read_output(p);

        if (r < 0) {
                /* too much output: kill it; the exit reports the error */
                p->error = r;
                probe_kill(p);
        }
        if (r != 0)
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

/* The child is gone: take what it left in the pipe (a grandchild may hold the
 * write end open; what it writes later is not the answer), then go on. */
static int on_probe_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        QemuCapsProbe *p = userdata;
        const char *arg = p->step == PROBE_STEP_VERSION ? "-version" : "-machine help";
        siginfo_t si = {};
        int r;

        if (waitid((idtype_t) P_PIDFD, (id_t) p->pidfd, &si, WEXITED | WNOHANG) < 0) {
                if (errno == EINTR)
                        return 0;
                r = -errno;
        } else if (si.si_pid == 0)
                return 0;
        else
                r = 0;
        p->pid = 0;
        if (r >= 0 && p->error == 0) {
                int k = probe_read_output(p);
                if (k < 0)
                        p->error = k;
        }
        probe_child_close(p);
        if (r < 0)
                return probe_finish(p, r), 0;
        if (p->error < 0) {
                log_debug_errno(p->error, "Probing %s %s failed: %m", p->caps->emulator, arg);
                return probe_finish(p, p->error), 0;
        }
        if (si.si_code != CLD_EXITED || si.si_status != 0) {
                log_debug("%s %s %s %d", p->caps->emulator, arg,
                          si.si_code == CLD_EXITED ? "exited with status" : "was killed by signal", si.si_status);
                return probe_finish(p, -EIO), 0;
        }
        r = probe_step_parse(p);
        if (r >= 0 && ++p->step < _PROBE_STEP_MAX)
                r = probe_step_start(p);
        else if (r >= 0)
                return probe_finish(p, 0), 0;
        if (r < 0)
                probe_finish(p, r);
        return 0;
}

static int on_probe_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        QemuCapsProbe *p = userdata;

        log_debug("%s did not answer within %u ms, killing it.", p->caps->emulator, CAPS_PROBE_TIMEOUT_MS);
        if (p->pid <= 0)
                return probe_finish(p, -ETIMEDOUT), 0;
        /* reported when the exit is seen: nothing is left behind unreaped */
        p->error = -ETIMEDOUT;
        probe_kill(p);
        return 0;
}

static int fd_above_stdio(int fd) {
        int n;

        if (fd < 0 || fd > STDERR_FILENO)
                return fd;
        n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        close(fd);
        return n;
}

/* Spawns `emulator ARGS` with an empty environment (LC_ALL=C), stdin and
 * stderr on /dev/null, stdout on a pipe, no other fds, no blocked signals,
 * in a session of its own (so the deadline kills whatever it started). */
static int probe_spawn(QemuCapsProbe *p, char *const *argv) {
        char *const envp[] = { (char *) "LC_ALL=C", (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        _cleanup_close_ int nullfd = -1, wfd = -1;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int pipefd[2], r;
        pid_t pid;

        /* all ≥ 3, so that the dup2s onto 0–2 in the child never clobber one another */
        nullfd = fd_above_stdio(open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY));
        if (nullfd < 0)
                return -errno;
        if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        p->outfd = pipefd[0];
        wfd = fd_above_stdio(pipefd[1]);
        if (wfd < 0)
                return -errno;
        /* only our end reads without blocking; qemu writes as to any pipe */
        if (fcntl(wfd, F_SETFL, 0) < 0)
                return -errno;

        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawn_file_actions_adddup2(&fa, nullfd, STDIN_FILENO);
        posix_spawn_file_actions_adddup2(&fa, wfd, STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&fa, nullfd, STDERR_FILENO);
        posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        r = posix_spawn(&pid, argv[0], &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return -r;
        p->pid = pid;
        p->pidfd = pidfd_open_(pid);
        if (p->pidfd < 0) {
                int k = p->pidfd;
                (void) kill(-pid, SIGKILL);
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                p->pid = 0;
                return k;
        }
        return 0;
}

static int probe_step_start(QemuCapsProbe *p) {
        char *const version_argv[] = { p->caps->emulator, (char *) "-version", NULL };
        char *const machines_argv[] = { p->caps->emulator, (char *) "-machine", (char *) "help", NULL };
        int r;

        p->len = 0;
        /* each run has the whole deadline: a slow disk or a loaded host delays both alike */
        if (!p->timer) {
                r = sd_event_add_time_relative(p->event, &p->timer, CLOCK_MONOTONIC,
                                               (uint64_t) QEMU_CAPS_PROBE_TIMEOUT_USEC, 0, on_probe_deadline, p);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(p->timer, "qemu-caps-deadline");
        } else {
                r = sd_event_source_set_time_relative(p->timer, (uint64_t) QEMU_CAPS_PROBE_TIMEOUT_USEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
                if (r < 0)
                        return r;
        }
        r = probe_spawn(p, p->step == PROBE_STEP_VERSION ? version_argv : machines_argv);
        if (r < 0)
                return log_debug_errno(r, "Cannot execute %s: %m", p->caps->emulator);
        r = sd_event_add_io(p->event, &p->out_source, p->outfd, EPOLLIN, on_probe_output, p);
        if (r >= 0)
                r = sd_event_add_io(p->event, &p->exit_source, p->pidfd, EPOLLIN, on_probe_exit, p);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(p->out_source, "qemu-caps-output");
        (void) sd_event_source_set_description(p->exit_source, "qemu-caps-exit");
        return 0;
}

static uint64_t fnv1a64(const char *s) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= 0x100000001b3ULL;
        }
        return h;
}

static char *caps_cache_path(const QemuCaps *caps, const char *cache_dir) {
        const char *base = strrchr(caps->emulator, '/');
        char *p;

        base = base ? base + 1 : caps->emulator;
        if (asprintf(&p, "%s/%s-%016" PRIx64 ".caps", cache_dir, base, fnv1a64(caps->emulator)) < 0)
                return NULL;
        return p;
}

/* Reads the cache; -ESTALE when it belongs to another binary, size or mtime. */
static int caps_cache_load(QemuCaps *caps, const char *path) {
        _cleanup_free_ char *text = NULL;
        char *saveptr = NULL;
        bool have_format = false, have_emulator = false, have_size = false, have_mtime = false;
        int r;

        r = read_full_file(path, CAPS_CACHE_MAX, &text, NULL);
        if (r < 0)
                return r;

        for (char *line = strtok_r(text, "\n", &saveptr); line; line = strtok_r(NULL, "\n", &saveptr)) {
                char *val = strchr(line, ' ');

                if (line[0] == '#')
                        continue;
                if (!val)
                        return -EBADMSG;
                *val++ = '\0';

                if (streq(line, "format")) {
                        if (atoi(val) != CAPS_FORMAT_VERSION)
                                return -ESTALE;
                        have_format = true;
                } else if (streq(line, "emulator")) {
                        if (!streq(val, caps->emulator))
                                return -ESTALE;
                        have_emulator = true;
                } else if (streq(line, "size")) {
                        if (strtoull(val, NULL, 10) != caps->size)
                                return -ESTALE;
                        have_size = true;
                } else if (streq(line, "mtime")) {
                        char expect[64];
                        snprintf(expect, sizeof(expect), "%" PRId64 ".%09ld", caps->mtime_sec, caps->mtime_nsec);
                        if (!streq(val, expect))
                                return -ESTALE;
                        have_mtime = true;
                } else if (streq(line, "version")) {
                        r = set_str(&caps->version, val);
                } else if (streq(line, "default")) {
                        r = set_str(&caps->default_machine, val);
                } else if (streq(line, "machine")) {
                        r = caps_add_machine(caps, val, NULL);
                } else if (streq(line, "alias")) {
                        char *target = strchr(val, ' ');
                        if (!target)
                                return -EBADMSG;
                        *target++ = '\0';
                        r = caps_add_machine(caps, val, target);
                } else
                        return -EBADMSG;
                if (r < 0)
                        return r;
        }
        if (!have_format || !have_emulator || !have_size || !have_mtime || !caps->version || caps->n_machines == 0)
                return -EBADMSG;
        caps->from_cache = true;
        return 0;
}

static int caps_cache_save(const QemuCaps *caps, const char *cache_dir, const char *path) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "# vmgmt qemu capabilities cache; regenerated when the binary changes\n");
        fprintf(f, "format %d\n", CAPS_FORMAT_VERSION);
        fprintf(f, "emulator %s\n", caps->emulator);
        fprintf(f, "size %" PRIu64 "\n", caps->size);
        fprintf(f, "mtime %" PRId64 ".%09ld\n", caps->mtime_sec, caps->mtime_nsec);
        fprintf(f, "version %s\n", caps->version);
        if (caps->default_machine)
                fprintf(f, "default %s\n", caps->default_machine);
        for (size_t i = 0; i < caps->n_machines; i++) {
                if (caps->machines[i].alias_of)
                        fprintf(f, "alias %s %s\n", caps->machines[i].name, caps->machines[i].alias_of);
                else
                        fprintf(f, "machine %s\n", caps->machines[i].name);
        }
        if (fclose(f) != 0)
                return -ENOMEM;

        r = mkdir_p(cache_dir, 0755);
        if (r < 0)
                return r;
        return write_file_atomic_nosync(path, text, len, 0644);
}

/* An emulator is run as root, so it and every directory above it must be
 * root's (or ours) and writable by nobody else: a path in XML must not be a
 * way to run a program some user controls. Returns 0 or -EPERM/-errno. */
static int emulator_check_trusted(const char *emulator) {
        _cleanup_free_ char *path = realpath(emulator, NULL);
        struct stat st;

        if (!path)
                return -errno;
        for (;;) {
                const char *p = *path ? path : "/";

                if (stat(p, &st) < 0)
                        return -errno;
                /* a sticky directory (/tmp) is fine: nobody can replace what root owns in it */
                if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
                    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX))))
                        return log_warning_errno(EPERM, "Refusing to run %s: %s may be changed by others than root",
                                                 emulator, p);
                if (!*path)
                        return 0;
                *strrchr(path, '/') = '\0';
        }
}

static QemuCaps *caps_new_for(const char *emulator, const struct stat *st) {
        _cleanup_(qemu_caps_freep) QemuCaps *caps = calloc(1, sizeof(QemuCaps));

        if (!caps)
                return NULL;
        caps->emulator = strdup(emulator);
        if (!caps->emulator)
                return NULL;
        caps->size = (uint64_t) st->st_size;
        caps->mtime_sec = (int64_t) st->st_mtim.tv_sec;
        caps->mtime_nsec = st->st_mtim.tv_nsec;
        return TAKE_PTR(caps);
}

/* Checks the binary can and may be run; fills *st. */
static int emulator_check(const char *emulator, struct stat *st) {
        if (isempty(emulator) || emulator[0] != '/' || strchr(emulator, '\n'))
                return -EINVAL;
        if (stat(emulator, st) < 0)
                return -errno;
        if (!S_ISREG(st->st_mode))
                return -ENOEXEC;
        if (access(emulator, X_OK) < 0)
                return -errno;
        return emulator_check_trusted(emulator);
}

int qemu_caps_load_or_probe(sd_event *event, const char *emulator, const char *cache_dir, QemuCapsProbeFn fn,
                            void *userdata, QemuCaps **ret_caps, QemuCapsProbe **ret_probe) {
        _cleanup_(qemu_caps_probe_freep) QemuCapsProbe *p = NULL;
        struct stat st;
        int r;

        r = emulator_check(emulator, &st);
        if (r < 0)
                return r;
        p = calloc(1, sizeof(QemuCapsProbe));
        if (!p)
                return -ENOMEM;
        p->pidfd = p->outfd = -1;
        p->caps = caps_new_for(emulator, &st);
        if (!p->caps)
                return -ENOMEM;
        if (cache_dir) {
                p->cache_path = caps_cache_path(p->caps, cache_dir);
                p->cache_dir = strdup(cache_dir);
                if (!p->cache_path || !p->cache_dir)
                        return -ENOMEM;
                r = caps_cache_load(p->caps, p->cache_path);
                if (r >= 0) {
                        *ret_caps = TAKE_PTR(p->caps);
                        return 1;
                }
                if (r != -ENOENT)
                        log_debug_errno(r, "Ignoring qemu caps cache %s: %m", p->cache_path);
                /* start over: a half-read cache may have left entries behind */
                qemu_caps_free(p->caps);
                p->caps = caps_new_for(emulator, &st);
                if (!p->caps)
                        return -ENOMEM;
        }
        p->buf = malloc(CAPS_OUTPUT_MAX + 1);
        if (!p->buf)
                return -ENOMEM;
        p->event = sd_event_ref(event);
        p->fn = fn;
        p->userdata = userdata;
        r = probe_step_start(p);
        if (r < 0)
                return log_warning_errno(r, "Failed to probe capabilities of %s: %m", emulator);
        log_debug("Probing capabilities of %s (pid %d).", emulator, (int) p->pid);
        *ret_probe = TAKE_PTR(p);
        return 0;
}

typedef struct SyncProbe {
        bool done;
        int r;
        QemuCaps *caps;
} SyncProbe;

static void sync_probe_done(void *userdata, int r, QemuCaps *caps) {
        SyncProbe *s = userdata;

        s->done = true;
        s->r = r;
        s->caps = caps;
}

int qemu_caps_new(const char *emulator, const char *cache_dir, QemuCaps **ret) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        QemuCapsProbe *probe = NULL;
        SyncProbe s = {};
        int r;

        /* the same probe, in a loop of its own that nothing else waits on */
        r = sd_event_new(&event);
        if (r < 0)
                return r;
        r = qemu_caps_load_or_probe(event, emulator, cache_dir, sync_probe_done, &s, ret, &probe);
        if (r != 0)
                return r < 0 ? r : 0;
        while (!s.done) {
                r = sd_event_run(event, UINT64_MAX);
                if (r < 0) {
                        if (!s.done)
                                qemu_caps_probe_free(probe);
                        return r;
                }
        }
        if (s.r < 0)
                return s.r;
        *ret = s.caps;
        return 0;
}

bool qemu_caps_matches_file(QemuCaps *caps) {
        uint64_t now = now_usec();
        struct stat st;

        /* a start-up with thousands of definitions naming one emulator stats it once */
        if (caps->checked_usec && now - caps->checked_usec < CAPS_RECHECK_USEC)
                return true;
        if (stat(caps->emulator, &st) < 0 || (uint64_t) st.st_size != caps->size ||
            (int64_t) st.st_mtim.tv_sec != caps->mtime_sec || st.st_mtim.tv_nsec != caps->mtime_nsec)
                return false;
        caps->checked_usec = now;
        return true;
}

const char *qemu_caps_emulator(const QemuCaps *caps) {
        return caps->emulator;
}

const char *qemu_caps_version(const QemuCaps *caps) {
        return caps->version;
}

const char *qemu_caps_default_machine(const QemuCaps *caps) {
        return caps->default_machine;
}

bool qemu_caps_from_cache(const QemuCaps *caps) {
        return caps->from_cache;
}

const char *qemu_caps_resolve_machine(const QemuCaps *caps, const char *machine) {
        if (!machine)
                return caps->default_machine;
        for (size_t i = 0; i < caps->n_machines; i++)
                if (streq(caps->machines[i].name, machine))
                        return caps->machines[i].alias_of ?: caps->machines[i].name;
        return NULL;
}

bool qemu_caps_machine_is_q35(const char *machine) {
        return machine && (streq(machine, "q35") || strncmp(machine, "pc-q35-", 7) == 0);
}

static char *find_in_dir(const char *dir, size_t dirlen, const char *name) {
        char *p;

        if (dirlen == 0 || dir[0] != '/')
                return NULL; /* relative PATH entries are never trusted */
        if (asprintf(&p, "%.*s/%s", (int) dirlen, dir, name) < 0)
                return NULL;
        if (access(p, X_OK) == 0) {
                struct stat st;
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
                        return p;
        }
        free(p);
        return NULL;
}

static char *find_binary(const char *name) {
        static const char *const fallback[] = { "/usr/bin", "/usr/libexec", "/usr/local/bin" };
        const char *path = getenv("PATH");
        char *p;

        if (name[0] == '/')
                return access(name, X_OK) == 0 ? strdup(name) : NULL;
        for (const char *s = path; s && *s;) {
                size_t n = strcspn(s, ":");
                p = find_in_dir(s, n, name);
                if (p)
                        return p;
                s += n;
                if (*s == ':')
                        s++;
        }
        for (size_t i = 0; i < ELEMENTSOF(fallback); i++) {
                p = find_in_dir(fallback[i], strlen(fallback[i]), name);
                if (p)
                        return p;
        }
        return NULL;
}

static bool arch_valid(const char *arch) {
        if (isempty(arch) || strlen(arch) > 32)
                return false;
        for (const char *p = arch; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                        return false;
        return true;
}

char *qemu_caps_find_emulator(const char *arch) {
        _cleanup_free_ char *name = NULL;
        struct utsname u;
        bool host;

        if (uname(&u) < 0)
                return NULL;
        if (!arch)
                arch = u.machine;
        if (!arch_valid(arch))
                return NULL;
        host = streq(arch, u.machine);
        if (STR_IN_SET(arch, "i686", "i586", "i486", "i386"))
                arch = "i386";

        if (host) {
                /* The build-time default binary serves the host's own arch. */
                char *p = find_binary(VMGMT_QEMU_BINARY);
                if (p)
                        return p;
        }
        if (asprintf(&name, "qemu-system-%s", arch) < 0)
                return NULL;
        return find_binary(name);
}
