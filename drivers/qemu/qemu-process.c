/* qemu-process.c — a qemu process: spawn, watch (pidfd), kill, exit reporting, run files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include "config.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "qemu-driver-internal.h"
#include "spawn-util.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define QEMU_LOG_TAIL 4096

static int pidfd_send_signal_(int pidfd, int sig) {
        return (int) syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

uint64_t qemu_process_starttime(pid_t pid) {
        _cleanup_free_ char *buf = NULL;
        char path[64];
        const char *p;
        unsigned long long v;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if (read_full_file(path, 16384, &buf, NULL) < 0)
                return 0;
        p = strrchr(buf, ')');
        if (!p || strlen(p) < 3)
                return 0;
        p++;
        /* A zombie is gone as far as we are concerned. */
        if (p[1] == 'Z' || p[1] == 'X')
                return 0;
        /* After "comm)" come fields 3…: starttime is field 22, i.e. the 20th from here. */
        for (int field = 3; field < 22; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return 0;
        }
        if (sscanf(p, " %llu", &v) != 1)
                return 0;
        return v;
}

static void format_timestamp(char *buf, size_t size) {
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(buf, size, "%04d-%02d-%02d %02d:%02d:%02d.%03ld+0000", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

void qemu_runtime_log(DriverRuntime *rt, const char *fmt, ...) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -1;
        char ts[64];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        fd = open(rt->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return;
        format_timestamp(ts, sizeof(ts));
        dprintf(fd, "%s: %s\n", ts, text);
}

/* ---- runtime objects ---- */

/* A socket path that fits sun_path: the path itself, or the same file
 * reached through the fd of the driver's run dir. */
static char *connect_path(DriverRuntime *rt, const char *path) {
        if (strlen(path) < sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return g_strdup(path);
        return g_strdup_printf("/proc/self/fd/%d%s", rt->driver->run_dir_fd, path + strlen(rt->driver->run_dir));
}

void qemu_runtime_set_run_files(DriverRuntime *rt, bool legacy) {
        const char *d = rt->driver->run_dir;

        free(rt->qmp_file);
        free(rt->vnc_file);
        free(rt->channel_dir);
        free(rt->qmp_connect_path);
        free(rt->vnc_connect_path);
        if (legacy) {
                /* a qemu started by a vmgmtd from before the run dir of its own */
                rt->qmp_file = g_strdup_printf("%s/%s.qmp", d, rt->uuid);
                rt->vnc_file = g_strdup_printf("%s/%s.vnc", d, rt->uuid);
                rt->channel_dir = g_strdup_printf("%s/%s.channel", d, rt->uuid);
        } else {
                rt->qmp_file = g_strdup_printf("%s/monitor.sock", rt->run_dir);
                rt->vnc_file = g_strdup_printf("%s/vnc.sock", rt->run_dir);
                rt->channel_dir = g_strdup_printf("%s/channel", rt->run_dir);
        }
        rt->qmp_connect_path = connect_path(rt, rt->qmp_file);
        rt->vnc_connect_path = connect_path(rt, rt->vnc_file);
        rt->legacy_run_files = legacy;
}

int qemu_runtime_new(QemuDriver *d, DomainDef *def, DriverRuntime **ret) {
        DriverRuntime *rt;
        size_t name_len = strlen(def->name);

        rt = calloc(1, sizeof(DriverRuntime));
        if (!rt) {
                domain_def_free(def);
                return -ENOMEM;
        }
        rt->driver = d;
        rt->def = def;
        rt->pidfd = -1;
        rt->vnc_listen_fd = -1;
        rt->id = def->id;
        rt->state = DOMAIN_STATE_PAUSED;
        rt->reason = "starting-up";
        conf_uuid_format(def->uuid, rt->uuid);
        /* the status file is vmgmtd's; what qemu makes is in its own directory */
        rt->status_path = g_strdup_printf("%s/%s.status", d->run_dir, rt->uuid);
        rt->run_dir = g_strdup_printf("%s/%s", d->run_dir, rt->uuid);
        qemu_runtime_set_run_files(rt, false);
        /* NAME.log like libvirt; a name too long for a file name uses the UUID. */
        if (asprintf(&rt->log_path, "%s/%s.log", d->log_dir, name_len + 4 <= 255 ? def->name : rt->uuid) < 0)
                goto oom;
        /* chardev logs: PREFIX-console.log, PREFIX-serial1.log, … ("-console12.log": 14 bytes) */
        if (asprintf(&rt->log_prefix, "%s/%s", d->log_dir, name_len + 14 <= 255 ? def->name : rt->uuid) < 0) {
                rt->log_prefix = NULL;
                qemu_runtime_free(rt);
                return -ENOMEM;
        }

        rt->next = d->runtimes;
        if (d->runtimes)
                d->runtimes->prev = rt;
        d->runtimes = rt;
        *ret = rt;
        return 0;
oom:
        rt->log_path = NULL;
        qemu_runtime_free(rt);
        return -ENOMEM;
}

int qemu_runtime_add_listener(DriverRuntime *rt, const QemuListener *l) {
        QemuListener *n = calloc(1, sizeof(QemuListener));

        if (!n)
                return -ENOMEM;
        *n = *l;
        n->next = rt->listeners;
        rt->listeners = n;
        return 0;
}

void qemu_runtime_remove_listener(DriverRuntime *rt, const QemuListener *l) {
        for (QemuListener **p = &rt->listeners; *p; p = &(*p)->next)
                if ((*p)->event == l->event && (*p)->gone == l->gone && (*p)->userdata == l->userdata) {
                        QemuListener *n = *p;
                        *p = n->next;
                        free(n);
                        return;
                }
}

/* Tells every listener the runtime goes; each is removed first. */
static void qemu_runtime_drop_listeners(DriverRuntime *rt, bool exited) {
        while (rt->listeners) {
                QemuListener *l = rt->listeners;
                rt->listeners = l->next;
                if (l->gone)
                        l->gone(rt, exited, l->userdata);
                free(l);
        }
}

DriverRuntime *qemu_runtime_free(DriverRuntime *rt) {
        QemuDriver *d;

        if (!rt)
                return NULL;
        d = rt->driver;
        qemu_runtime_reconnect_over(rt);
        qemu_runtime_drop_listeners(rt, false);
        if (rt->prev)
                rt->prev->next = rt->next;
        else if (d->runtimes == rt)
                d->runtimes = rt->next;
        if (rt->next)
                rt->next->prev = rt->prev;
        while (rt->ops) {
                QemuOp *op = rt->ops;
                rt->ops = op->next;
                if (op->abandon)
                        op->abandon(op->userdata);
                free(op);
        }
        rt->qmp = qmp_free(rt->qmp);
        rt->pid_source = sd_event_source_disable_unref(rt->pid_source);
        rt->kill_timer = sd_event_source_disable_unref(rt->kill_timer);
        if (rt->save_source) {
                /* Driver teardown: the next instance must find the latest state. */
                rt->save_source = sd_event_source_disable_unref(rt->save_source);
                if (rt->state != DOMAIN_STATE_SHUTOFF)
                        (void) qemu_runtime_save_status(rt);
        }
        if (rt->pidfd >= 0)
                close(rt->pidfd);
        if (rt->vnc_listen_fd >= 0)
                close(rt->vnc_listen_fd);
        qemu_tpm_free(rt);
        domain_def_free(rt->def);
        free(rt->def_xml);
        free(rt->status_path);
        free(rt->run_dir);
        free(rt->qmp_file);
        free(rt->qmp_connect_path);
        free(rt->vnc_file);
        free(rt->vnc_connect_path);
        free(rt->channel_dir);
        g_strfreev(rt->cgroups);
        g_strfreev(rt->blockjob_records);
        free(rt->log_path);
        free(rt->log_prefix);
        free(rt->start_error_message);
        free(rt);
        return NULL;
}

/* Empties the directory fd (taken) — what a confined qemu made in it, too:
 * no symlink is followed, depth is bounded. */
static void remove_tree_at(int fd, unsigned depth) {
        DIR *dir = fdopendir(fd);
        struct dirent *de;

        if (!dir) {
                close(fd);
                return;
        }
        while ((de = readdir(dir))) {
                int sub;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (unlinkat(dirfd(dir), de->d_name, 0) == 0 || errno != EISDIR)
                        continue;
                sub = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub >= 0 && depth < 8)
                        remove_tree_at(sub, depth + 1);
                else if (sub >= 0)
                        close(sub);
                (void) unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR);
        }
        closedir(dir);
}

static void remove_dir(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd >= 0)
                remove_tree_at(fd, 0);
        (void) rmdir(path);
}

void qemu_runtime_remove_files(DriverRuntime *rt) {
        rt->save_source = sd_event_source_disable_unref(rt->save_source);
        (void) unlink_noent(rt->status_path);
        if (rt->legacy_run_files) {
                (void) unlink_noent(rt->qmp_file);
                (void) unlink_noent(rt->vnc_file);
                remove_dir(rt->channel_dir);
        }
        qemu_tpm_stop(rt);
        /* its sockets, the channel dir and whatever else qemu made there */
        remove_dir(rt->run_dir);
        qemu_confine_release(rt);
}

/* ---- operations waiting for completion ---- */

QemuOp *qemu_op_new(DriverRuntime *rt, QemuOpKind kind, DriverDoneFn done, void *userdata) {
        QemuOp *op = calloc(1, sizeof(QemuOp));

        if (!op)
                return NULL;
        op->rt = rt;
        op->kind = kind;
        op->done = done;
        op->userdata = userdata;
        op->next = rt->ops;
        rt->ops = op;
        return op;
}

static void qemu_op_unlink(QemuOp *op) {
        for (QemuOp **i = &op->rt->ops; *i; i = &(*i)->next)
                if (*i == op) {
                        *i = op->next;
                        return;
                }
}

void qemu_op_complete(QemuOp *op, int r, const char *message) {
        DriverDoneFn done = op->done;
        void *userdata = op->userdata;

        qemu_op_unlink(op);
        free(op);
        if (done)
                done(userdata, r, message);
}

void qemu_runtime_complete_ops(DriverRuntime *rt, int kind, int r, const char *message) {
        QemuOp *op = rt->ops;

        while (op) {
                QemuOp *next = op->next;
                if (kind < 0 || (int) op->kind == kind) {
                        qemu_op_complete(op, r, message);
                        next = rt->ops;   /* the list may have changed under the callback */
                }
                op = next;
        }
}

/* ---- state ---- */

static int qemu_runtime_save_handler(sd_event_source *s, void *userdata) {
        DriverRuntime *rt = userdata;

        rt->save_source = sd_event_source_disable_unref(rt->save_source);
        (void) qemu_runtime_save_status(rt);
        return 0;
}

void qemu_runtime_set_state(DriverRuntime *rt, DomainState state, const char *reason,
                            DomainEventType event, const char *detail) {
        const DomainDriverEvents *ev = &rt->driver->events;

        log_debug("Domain %s: %s/%s (event %s/%s)", rt->def->name, domain_state_to_string(state), reason,
                  strna(domain_event_type_to_string(event)), strna(detail));
        rt->state = state;
        rt->reason = reason;
        /* Report first, persist once the loop is idle (after the caller's reply
         * went out): a daemon killed in between re-syncs from qemu's own
         * status when it comes back. */
        if (rt->owner && ev->state_changed)
                ev->state_changed(rt->owner, state, reason, event, detail);
        if (state == DOMAIN_STATE_SHUTOFF || rt->save_source)
                return;   /* gone, or a write is already due */
        if (sd_event_add_defer(rt->driver->event, &rt->save_source, qemu_runtime_save_handler, rt) < 0) {
                (void) qemu_runtime_save_status(rt);
                return;
        }
        (void) sd_event_source_set_priority(rt->save_source, SD_EVENT_PRIORITY_IDLE);
}

/* ---- exit ---- */

char *qemu_log_last_line(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char buf[QEMU_LOG_TAIL + 1];
        off_t size;
        ssize_t n;
        char *p;

        if (fd < 0)
                return NULL;
        size = lseek(fd, 0, SEEK_END);
        if (size < 0)
                return NULL;
        n = pread(fd, buf, QEMU_LOG_TAIL, size > QEMU_LOG_TAIL ? size - QEMU_LOG_TAIL : 0);
        if (n <= 0)
                return NULL;
        buf[n] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = 0;
        /* The last line a program wrote is what explains its failure. */
        p = strrchr(buf, '\n');
        return strdup(p ? p + 1 : buf);
}

/* The process is gone: report, clean up, tell the service, complete ops. */
static void qemu_runtime_finish(DriverRuntime *rt, const char *reason, const char *detail) {
        const DomainDriverEvents *ev = &rt->driver->events;
        void *owner = rt->owner;
        QemuOp *ops = TAKE_PTR(rt->ops);

        qemu_runtime_log(rt, "shutting down, reason=%s", reason);
        rt->qmp = qmp_free(rt->qmp);
        qemu_runtime_drop_listeners(rt, true);
        rt->kill_timer = sd_event_source_disable_unref(rt->kill_timer);
        qemu_runtime_remove_files(rt);
        qemu_runtime_set_state(rt, DOMAIN_STATE_SHUTOFF, reason, DOMAIN_EVENT_STOPPED, detail);
        qemu_runtime_free(rt);
        if (owner && ev->stopped)
                ev->stopped(owner);
        while (ops) {
                QemuOp *op = ops;
                ops = op->next;
                if (op->done) {
                        if (op->kind == QEMU_OP_DESTROY)
                                op->done(op->userdata, 0, NULL);
                        else
                                op->done(op->userdata, -ESRCH, "domain is not running");
                }
                free(op);
        }
}

static void qemu_runtime_finish_failed_start(DriverRuntime *rt, const char *exit_text) {
        DriverDoneFn done = rt->start_done;
        void *userdata = rt->start_userdata;
        _cleanup_free_ char *message = NULL, *tail = NULL;
        int error = rt->start_error ? rt->start_error : -EIO;

        if (rt->start_error_message)
                message = strdup(rt->start_error_message);
        else {
                tail = qemu_log_last_line(rt->log_path);
                if (asprintf(&message, "qemu %s during start-up%s%s", exit_text, tail ? ": " : "", strempty(tail)) < 0)
                        message = NULL;
        }
        qemu_runtime_log(rt, "qemu %s; start failed: %s", exit_text, strna(message));
        qemu_runtime_remove_files(rt);
        /* Destroy requests made while starting are satisfied: it is gone. */
        qemu_runtime_complete_ops(rt, QEMU_OP_DESTROY, 0, NULL);
        qemu_runtime_complete_ops(rt, -1, -ESRCH, "domain is not running");
        qemu_runtime_free(rt);
        if (done)
                done(userdata, error, message ? message : "qemu failed to start");
}

static int qemu_process_exit_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        DriverRuntime *rt = userdata;
        siginfo_t si = {};
        char exit_text[64] = "exited";

        if (waitid((idtype_t) P_PIDFD, (id_t) rt->pidfd, &si, WEXITED | WNOHANG) >= 0 && si.si_pid != 0) {
                if (si.si_code == CLD_EXITED)
                        snprintf(exit_text, sizeof(exit_text), "exited with status %d", si.si_status);
                else
                        snprintf(exit_text, sizeof(exit_text), "was killed by signal %d (%s)", si.si_status,
                                 strsignal(si.si_status));
        }
        /* ECHILD: not our child (recovered after a daemon restart); no status to learn. */
        log_debug("qemu of domain %s (pid %d) %s.", rt->def->name, (int) rt->pid, exit_text);
        rt->pid_source = sd_event_source_disable_unref(rt->pid_source);

        if (rt->starting) {
                qemu_runtime_finish_failed_start(rt, exit_text);
                return 0;
        }
        qemu_runtime_log(rt, "qemu %s", exit_text);
        if (rt->killing && rt->stop_reason)
                qemu_runtime_finish(rt, rt->stop_reason, rt->stop_detail);
        else if (rt->got_shutdown)
                qemu_runtime_finish(rt, "shutdown", "shutdown");
        else
                /* Gone without a SHUTDOWN event: qemu crashed or was killed from outside. */
                qemu_runtime_finish(rt, "crashed", "failed");
        return 0;
}

int qemu_process_watch(DriverRuntime *rt) {
        int r;

        r = sd_event_add_io(rt->driver->event, &rt->pid_source, rt->pidfd, EPOLLIN, qemu_process_exit_handler, rt);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(rt->pid_source, "qemu-pidfd");
        /* Process exit is reported after pending monitor traffic of the same iteration. */
        (void) sd_event_source_set_priority(rt->pid_source, SD_EVENT_PRIORITY_NORMAL + 10);
        return 0;
}

/* ---- kill ---- */

static int qemu_kill_timer_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        DriverRuntime *rt = userdata;

        rt->kill_timer = sd_event_source_disable_unref(rt->kill_timer);
        if (rt->kill_forced) {
                log_warning("qemu of domain %s did not exit after SIGTERM, sending SIGKILL.", rt->def->name);
                (void) pidfd_send_signal_(rt->pidfd, SIGKILL);
                return 0;
        }
        /* Graceful destroy gives up; a later exit is reported as whatever caused it. */
        rt->killing = false;
        rt->stop_reason = rt->stop_detail = NULL;
        qemu_runtime_complete_ops(rt, QEMU_OP_DESTROY, -EBUSY, "qemu did not exit after SIGTERM");
        return 0;
}

int qemu_process_kill(DriverRuntime *rt, bool graceful, const char *reason, const char *detail) {
        uint64_t timeout = graceful ? QEMU_GRACEFUL_TIMEOUT_USEC : QEMU_KILL_TIMEOUT_USEC;
        int r;

        rt->stop_reason = reason;
        rt->stop_detail = detail;
        if (rt->killing && (rt->kill_forced || graceful))
                return 0;   /* already on its way */
        if (!rt->killing && pidfd_send_signal_(rt->pidfd, SIGTERM) < 0 && errno != ESRCH)
                return -errno;
        rt->killing = true;
        rt->kill_forced = !graceful;
        (void) qemu_runtime_save_status(rt);   /* a restarted daemon finishes the job */
        rt->kill_timer = sd_event_source_disable_unref(rt->kill_timer);
        r = sd_event_add_time_relative(rt->driver->event, &rt->kill_timer, CLOCK_MONOTONIC, timeout, 0,
                                       qemu_kill_timer_handler, rt);
        return r < 0 ? r : 0;
}

void qemu_process_kill_now(DriverRuntime *rt) {
        if (rt->pidfd >= 0)
                (void) pidfd_send_signal_(rt->pidfd, SIGKILL);
}

void qemu_process_start_failed(DriverRuntime *rt, int error, const char *message) {
        if (!rt->start_error) {
                rt->start_error = error < 0 ? error : -EIO;
                free(rt->start_error_message);
                rt->start_error_message = message ? strdup(message) : NULL;
        }
        rt->qmp = qmp_free(rt->qmp);
        qemu_process_kill_now(rt);   /* the exit handler completes the failure */
}

/* ---- spawn ---- */

static int shell_quote_append(GString *s, const char *arg) {
        if (*arg && strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+:@%/=-") == strlen(arg)) {
                g_string_append(s, arg);
                return 0;
        }
        g_string_append_c(s, '\'');
        for (const char *p = arg; *p; p++) {
                if (*p == '\'')
                        g_string_append(s, "'\\''");
                else
                        g_string_append_c(s, *p);
        }
        g_string_append_c(s, '\'');
        return 0;
}

static int open_log(DriverRuntime *rt, char **envp, char **argv) {
        _cleanup_close_ int fd = -1;
        GString *s;
        char ts[64];
        int r = 0;

        fd = open(rt->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        format_timestamp(ts, sizeof(ts));
        s = g_string_new(NULL);
        g_string_append_printf(s, "%s: starting up vmgmt version %s, domain %s (%s)\n", ts, VMGMT_VERSION,
                               rt->uuid, rt->def->name);
        for (char **e = envp; *e; e++) {
                shell_quote_append(s, *e);
                g_string_append(s, " \\\n");
        }
        /* One option per line, with its value, like libvirt's logs. */
        for (char **a = argv; *a; a++) {
                shell_quote_append(s, *a);
                if (a != argv && (*a)[0] == '-' && a[1] && a[1][0] != '-') {
                        g_string_append_c(s, ' ');
                        shell_quote_append(s, *++a);
                }
                g_string_append(s, a[1] ? " \\\n" : "\n");
        }
        if (write(fd, s->str, s->len) != (ssize_t) s->len)
                r = -EIO;
        g_string_free(s, TRUE);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

int qemu_process_spawn(DriverRuntime *rt, char **argv, char **ret_error) {
        return qemu_process_spawn_fds(rt, argv, NULL, 0, ret_error);
}

int qemu_process_spawn_fds(DriverRuntime *rt, char **argv, const int *fds, size_t n_fds, char **ret_error) {
        _cleanup_free_ char *home = NULL, *bad = NULL, *error = NULL;
        _cleanup_close_ int logfd = -1;
        SpawnOptions o = SPAWN_OPTIONS_INIT;
        pid_t pid;
        int r;

        if (asprintf(&home, "HOME=%s", rt->run_dir) < 0)
                return -ENOMEM;
        char *envp[] = {
                (char *) "LC_ALL=C",
                (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                home,
                NULL,
        };

        qemu_runtime_rotate_logs_closed(rt);
        r = qemu_runtime_create_logs(rt, &bad);
        if (r < 0) {
                if (asprintf(ret_error, "cannot create log file %s: %s", strna(bad), strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        logfd = open_log(rt, envp, argv);
        if (logfd < 0) {
                if (asprintf(ret_error, "cannot open log file %s: %s", rt->log_path, strerror(-logfd)) < 0)
                        *ret_error = NULL;
                return logfd;
        }

        /* New session (qemu outlives the daemon), cwd in its run dir (relative socket
         * paths), stdin on /dev/null, stdout and stderr into the log, the taps at
         * 3, 4, …, and no other fd; confined unless the driver is told not to. */
        o.envp = envp;
        o.cwd = rt->run_dir;
        o.stdout_fd = o.stderr_fd = logfd;
        o.fds = fds;
        o.n_fds = n_fds;
        r = qemu_confine_spawn(rt, argv, &o, &pid, &error);
        if (r < 0) {
                dprintf(logfd, "vmgmt: %s\n", strna(error));
                *ret_error = TAKE_PTR(error);
                return r;
        }
        rt->pid = pid;
        rt->pid_starttime = qemu_process_starttime(pid);
        log_debug("Started qemu for domain %s: pid %d.", rt->def->name, (int) pid);
        return 0;
}

/* ---- status file: "key=value" lines, an empty line, then the live XML ---- */

int qemu_runtime_save_status(DriverRuntime *rt) {
        GString *s;
        int r;

        if (!rt->def_xml) {
                rt->def_xml = domain_def_format(rt->def, DOMAIN_FORMAT_SECURE);
                if (!rt->def_xml)
                        return -ENOMEM;
        }
        s = g_string_new("vmgmt-qemu-status=1\n");
        g_string_append_printf(s, "pid=%d\npid_starttime=%" PRIu64 "\nid=%d\nstart_time_usec=%" PRIu64 "\n",
                               (int) rt->pid, rt->pid_starttime, rt->id, rt->start_time_usec);
        g_string_append_printf(s, "state=%s\nreason=%s\nstarting=%d\ngot_shutdown=%d\nfake_reboot=%d\n",
                               domain_state_to_string(rt->state), rt->reason, rt->starting, rt->got_shutdown,
                               rt->fake_reboot);
        if (rt->killing && rt->stop_reason)
                g_string_append_printf(s, "stop_reason=%s\nstop_detail=%s\n", rt->stop_reason, rt->stop_detail);
        /* its own run dir; how it is confined */
        g_string_append_printf(s, "run_dir=%d\nconfined=%d\nuid=%u\ngid=%u\n", !rt->legacy_run_files, rt->confined,
                               (unsigned) rt->uid, (unsigned) rt->gid);
        for (char **c = rt->cgroups; c && *c; c++)
                g_string_append_printf(s, "cgroup=%s\n", *c);
        qemu_block_jobs_format_status(rt, s);
        qemu_tpm_format_status(rt, s);
        g_string_append_c(s, '\n');
        g_string_append(s, rt->def_xml);
        r = write_file_atomic_nosync(rt->status_path, s->str, s->len, 0600);
        g_string_free(s, TRUE);
        if (r < 0)
                log_warning_errno(r, "Failed to write %s: %m", rt->status_path);
        return r;
}

/* Maps a reason read back from a file onto the static strings we report. */
static const char *reason_intern(const char *s) {
        static const char *const known[] = {
                "booted", "unpaused", "user", "starting-up", "unknown", "shutting-down", "io-error",
                "crashed", "panicked", "shutdown", "destroyed", "failed", "restored", "migrated", "wakeup",
        };
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (streq(s, known[i]))
                        return known[i];
        return "unknown";
}

int qemu_runtime_load_status(QemuDriver *d, const char *path, DriverRuntime **ret) {
        _cleanup_free_ char *buf = NULL;
        DomainDef *def = NULL;
        ConfError err = {};
        DriverRuntime *rt;
        char *line, *xml, *save = NULL;
        int pid = 0, id = -1, starting = 0, got_shutdown = 0, fake_reboot = 0, state = DOMAIN_STATE_RUNNING;
        int own_run_dir = 0, confined = 0;
        unsigned long uid = 0, gid = 0;
        g_autoptr(GPtrArray) cgroups = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) blockjobs = g_ptr_array_new_with_free_func(g_free);
        unsigned long long starttime = 0, start_usec = 0, swtpm_starttime = 0;
        int swtpm_pid = 0;
        char reason[64] = "unknown", stop_reason[64] = "", stop_detail[64] = "";
        int r;

        r = read_full_file(path, 64u * 1024u * 1024u, &buf, NULL);
        if (r < 0)
                return r;
        xml = strstr(buf, "\n\n");
        if (!xml || !g_str_has_prefix(buf, "vmgmt-qemu-status=1\n"))
                return -EBADMSG;
        *xml = 0;
        xml += 2;
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *eq = strchr(line, '=');
                if (!eq)
                        continue;
                *eq++ = 0;
                if (streq(line, "pid"))
                        pid = atoi(eq);
                else if (streq(line, "pid_starttime"))
                        starttime = strtoull(eq, NULL, 10);
                else if (streq(line, "id"))
                        id = atoi(eq);
                else if (streq(line, "start_time_usec"))
                        start_usec = strtoull(eq, NULL, 10);
                else if (streq(line, "state"))
                        state = domain_state_from_string(eq);
                else if (streq(line, "reason"))
                        snprintf(reason, sizeof(reason), "%s", eq);
                else if (streq(line, "starting"))
                        starting = atoi(eq);
                else if (streq(line, "got_shutdown"))
                        got_shutdown = atoi(eq);
                else if (streq(line, "fake_reboot"))
                        fake_reboot = atoi(eq);
                else if (streq(line, "stop_reason"))
                        snprintf(stop_reason, sizeof(stop_reason), "%s", eq);
                else if (streq(line, "stop_detail"))
                        snprintf(stop_detail, sizeof(stop_detail), "%s", eq);
                else if (streq(line, "run_dir"))
                        own_run_dir = atoi(eq);
                else if (streq(line, "confined"))
                        confined = atoi(eq);
                else if (streq(line, "uid"))
                        uid = strtoul(eq, NULL, 10);
                else if (streq(line, "gid"))
                        gid = strtoul(eq, NULL, 10);
                else if (streq(line, "cgroup") && g_str_has_prefix(eq, "/sys/fs/cgroup/"))
                        g_ptr_array_add(cgroups, g_strdup(eq));
                else if (streq(line, "swtpm_pid"))
                        swtpm_pid = atoi(eq);
                else if (streq(line, "swtpm_starttime"))
                        swtpm_starttime = strtoull(eq, NULL, 10);
                else if (streq(line, "blockjob"))
                        g_ptr_array_add(blockjobs, g_strdup(eq));
        }
        if (pid <= 0 || state < 0)
                return -EBADMSG;
        r = domain_def_parse(xml, strlen(xml), &def, &err);
        if (r < 0) {
                log_warning("Status file %s: bad live XML: %s", path, strna(err.message));
                conf_error_clear(&err);
                return -EBADMSG;
        }
        def->id = id;
        r = qemu_runtime_new(d, def, &rt);
        if (r < 0)
                return r;
        rt->pid = pid;
        rt->pid_starttime = starttime;
        rt->start_time_usec = start_usec;
        rt->state = state;
        rt->reason = reason_intern(reason);
        rt->starting = starting;
        rt->got_shutdown = got_shutdown;
        rt->fake_reboot = fake_reboot;
        if (!own_run_dir)
                qemu_runtime_set_run_files(rt, true);
        rt->confined = confined;
        rt->uid = (uid_t) uid;
        rt->gid = (gid_t) gid;
        if (cgroups->len > 0) {
                g_ptr_array_add(cgroups, NULL);
                rt->cgroups = (char **) g_ptr_array_free(g_steal_pointer(&cgroups), FALSE);
        }
        if (blockjobs->len > 0) {
                g_ptr_array_add(blockjobs, NULL);
                rt->blockjob_records = (char **) g_ptr_array_free(g_steal_pointer(&blockjobs), FALSE);
        }
        qemu_tpm_adopt(rt, swtpm_pid, swtpm_starttime);
        if (*stop_reason) {
                rt->killing = true;
                rt->stop_reason = reason_intern(stop_reason);
                rt->stop_detail = reason_intern(stop_detail);
        }
        *ret = rt;
        return 0;
}
