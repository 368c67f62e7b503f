/* qemu-process-log.c — size-based rotation of a domain's log files: qemu's own
 * log (NAME.log, its stderr) and the serial console logs qemu writes itself
 * (NAME-console.log, …).
 *
 * qemu keeps those files open (O_APPEND) for as long as it runs and cannot be
 * told to reopen them, so a live file is rotated in place: its whole blocks
 * (the file system's f_bsize) are copied to FILE.1.tmp, that copy is synced,
 * and the blocks are cut off the front of the file with
 * fallocate(FALLOC_FL_COLLAPSE_RANGE), which is atomic with respect to qemu's
 * appends; only then are the old files shifted and FILE.1.tmp renamed to
 * FILE.1 — nothing is lost, less than one block stays behind. Where the file
 * system cannot collapse ranges (tmpfs, btrfs, …) the file is not rotated
 * while qemu holds it (a warning says so once): copy-then-truncate would lose
 * what qemu appends in between. A file nobody holds (at domain start) is
 * simply renamed. Live rotation runs in a worker thread, never in the event loop.
 *
 * A round of the worker and a domain start must not shift the same files at
 * once (a domain destroyed and started again while the round that saw it
 * running is still under way): the worker marks each file busy while it works
 * on it, and the start leaves a file the round has not finished to the round
 * (which rotates a closed file just as well) instead of waiting for it.
 *
 * The files share one directory and are named after the domains, so the qemu
 * log of a domain named X-console would be the console log of domain X:
 * qemu_driver_log_clash() tells such pairs of names, and vmgmtd refuses the
 * second name (NAME.log and NAME-console.log are documented, neither moves). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "qemu-driver-internal.h"

#define COPY_CHUNK (64u * 1024u)

typedef enum LogFileState {
        LOG_FILE_PENDING,
        LOG_FILE_BUSY,
        LOG_FILE_DONE,
} LogFileState;

typedef struct LogFile {
        char *path;
        DriverLogRotation rot;
        LogFileState state;       /* in a round: under RotateJob.lock */
} LogFile;

typedef struct RotateJob {
        GArray *files;            /* LogFile */
        GMutex lock;              /* the files' state */
        GPtrArray *unsupported;   /* paths found on a file system that cannot collapse (worker only) */
        QemuDriver *driver;       /* only for the done flag */
} RotateJob;

static void rotate_job_free(RotateJob *job) {
        if (!job)
                return;
        g_array_unref(job->files);
        g_ptr_array_unref(job->unsupported);
        g_mutex_clear(&job->lock);
        free(job);
}

static void log_file_clear(gpointer p) {
        free(((LogFile *) p)->path);
}

static void log_files_add(GArray *a, char *path, const DriverLogRotation *rot) {
        LogFile f = { .path = path };

        if (!path)
                return;
        if (rot && rot->max_size == 0) {
                free(path);
                return;
        }
        if (rot)
                f.rot = *rot;
        g_array_append_val(a, f);
}

/* Every log file of rt with its rotation rule; names as in qemu-command-devices.c.
 * all: also those not rotated (rot then unset). */
static GArray *runtime_log_files_full(DriverRuntime *rt, bool all) {
        QemuDriver *d = rt->driver;
        const DomainDef *def = rt->def;
        const DriverLogRotation *rot_qemu = all ? NULL : &d->log_rot_qemu;
        const DriverLogRotation *rot_console = all ? NULL : &d->log_rot_console;
        GArray *a = g_array_new(FALSE, TRUE, sizeof(LogFile));
        char *p;

        g_array_set_clear_func(a, log_file_clear);
        log_files_add(a, strdup(rt->log_path), rot_qemu);
        for (size_t i = 0; i < def->n_serials; i++) {
                if (i == 0)
                        p = g_strdup_printf("%s-console.log", rt->log_prefix);
                else
                        p = g_strdup_printf("%s-serial%zu.log", rt->log_prefix, i);
                log_files_add(a, p, rot_console);
        }
        for (size_t i = 0; i < def->n_consoles; i++)
                if (streq_ptr(def->consoles[i].target_type, "virtio"))
                        log_files_add(a, g_strdup_printf("%s-console%zu.log", rt->log_prefix, i),
                                      rot_console);
        return a;
}

static GArray *runtime_log_files(DriverRuntime *rt) {
        return runtime_log_files_full(rt, false);
}

/* Creates path 0600 unless it exists; takes group and other access away from one that does. */
static int create_private(const char *path) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((st.st_mode & 077) && fchmod(fd, st.st_mode & 0700) < 0)
                return -errno;
        return 0;
}

int qemu_runtime_create_logs(DriverRuntime *rt, char **ret_path) {
        g_autoptr(GArray) files = runtime_log_files_full(rt, true);

        for (guint i = 0; i < files->len; i++) {
                const LogFile *f = &g_array_index(files, LogFile, i);
                int r = create_private(f->path);

                if (r < 0) {
                        *ret_path = strdup(f->path);
                        return r;
                }
        }
        return 0;
}

/* Whether s is a chardev log name without PREFIX- and .log (qemu-command-devices.c):
 * "console" (serial 0), "serialN" (N ≥ 1) or "consoleN" (virtio console N ≥ 0),
 * N as %zu writes it. */
static bool is_chardev_log_name(const char *s) {
        bool serial = g_str_has_prefix(s, "serial");
        const char *n;

        if (streq(s, "console") || streq(s, "swtpm"))   /* NAME-swtpm.log: its TPM emulator's (qemu-tpm.c) */
                return true;
        if (serial)
                n = s + strlen("serial");
        else if (g_str_has_prefix(s, "console"))
                n = s + strlen("console");
        else
                return false;
        if (n[0] == '0')
                return !serial && !n[1];   /* console0; serial 0 is -console.log; no leading zeros */
        if (!n[0])
                return false;
        for (; *n; n++)
                if (!isdigit((unsigned char) *n))
                        return false;
        return true;
}

char *qemu_driver_log_clash(DomainDriver *base, const char *name, const char *other) {
        QemuDriver *d = (QemuDriver *) base;
        char *path;

        for (int k = 0; k < 2; k++) {
                const char *q = k ? other : name;   /* its qemu log: Q.log */
                const char *c = k ? name : other;   /* its chardev logs: C-console.log, … */
                size_t n = strlen(c);

                /* names too long for these files use the UUID (qemu_runtime_new) */
                if (strlen(q) + 4 > 255 || n + 14 > 255)
                        continue;
                if (strncmp(q, c, n) == 0 && q[n] == '-' && is_chardev_log_name(q + n + 1))
                        return asprintf(&path, "%s/%s.log", d->log_dir, q) < 0 ? NULL : path;
        }
        return NULL;
}

char *qemu_driver_log_clash_base(DomainDriver *base, const char *name) {
        const char *dash = strrchr(name, '-');

        (void) base;
        /* chardev log names have no dash: only the last one can start one */
        if (!dash || dash == name || !is_chardev_log_name(dash + 1))
                return NULL;
        return g_strndup(name, (size_t) (dash - name));
}

/* FILE.keep goes, FILE.i becomes FILE.i+1. */
static void shift_old_files(const char *path, unsigned keep) {
        for (unsigned i = keep; i >= 1; i--) {
                g_autofree char *from = g_strdup_printf("%s.%u", path, i);
                g_autofree char *to = g_strdup_printf("%s.%u", path, i + 1);

                if (i == keep)
                        (void) unlink_noent(from);
                else if (rename(from, to) < 0 && errno != ENOENT)
                        log_warning("Cannot rename %s to %s: %m", from, to);
        }
}

/* A file no process holds: rename. */
static void rotate_closed(const LogFile *f) {
        g_autofree char *first = NULL;
        struct stat st;

        if (stat(f->path, &st) < 0 || (uint64_t) st.st_size < f->rot.max_size)
                return;
        shift_old_files(f->path, f->rot.keep);
        if (f->rot.keep == 0) {
                (void) unlink_noent(f->path);
                return;
        }
        first = g_strdup_printf("%s.1", f->path);
        if (rename(f->path, first) < 0)
                log_warning("Cannot rename %s to %s: %m", f->path, first);
}

/* Whether the round under way still has path to do (or is doing it). */
static bool round_has_path(RotateJob *job, const char *path) {
        bool found = false;

        if (!job)
                return false;
        g_mutex_lock(&job->lock);
        for (guint i = 0; i < job->files->len && !found; i++) {
                const LogFile *f = &g_array_index(job->files, LogFile, i);
                found = f->state != LOG_FILE_DONE && streq(f->path, path);
        }
        g_mutex_unlock(&job->lock);
        return found;
}

void qemu_runtime_rotate_logs_closed(DriverRuntime *rt) {
        g_autoptr(GArray) files = runtime_log_files(rt);
        RotateJob *job = rt->driver->log_rotate_job;

        for (guint i = 0; i < files->len; i++) {
                const LogFile *f = &g_array_index(files, LogFile, i);

                /* Done or not in the round: the worker does not touch it again. */
                if (round_has_path(job, f->path)) {
                        log_debug("%s: left to the rotation round under way.", f->path);
                        continue;
                }
                rotate_closed(f);
        }
}

/* Copies [*offset, end) of in to out (end: the size at the time, or `until`
 * when not 0); advances *offset. */
static int copy_range(int in, int out, uint64_t *offset, uint64_t until) {
        char buf[COPY_CHUNK];

        for (;;) {
                size_t want = sizeof(buf);
                ssize_t n;

                if (until) {
                        if (*offset >= until)
                                return 0;
                        if (until - *offset < want)
                                want = (size_t) (until - *offset);
                }
                n = pread(in, buf, want, (off_t) *offset);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                for (ssize_t done = 0; done < n;) {
                        ssize_t w = out >= 0 ? write(out, buf + done, (size_t) (n - done)) : n - done;
                        if (w < 0)
                                return -errno;
                        done += w;
                }
                *offset += (uint64_t) n;
        }
}

/* Whole blocks of a file of size bytes, short of its end (collapse must not reach it). */
static int collapse_length(int fd, uint64_t size, uint64_t *ret) {
        struct statfs sfs;

        if (fstatfs(fd, &sfs) < 0)
                return -errno;
        *ret = sfs.f_bsize > 0 ? (size - 1) / (uint64_t) sfs.f_bsize * (uint64_t) sfs.f_bsize : 0;
        return 0;
}

/* Copies [0, len) of fd to a new synced file tmp. */
static int copy_front(int fd, const char *tmp, uint64_t len) {
        _cleanup_close_ int out = -1;
        uint64_t offset = 0;
        int r;

        out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (out < 0)
                return -errno;
        r = copy_range(fd, out, &offset, len);
        if (r >= 0 && offset < len)
                r = -EIO;   /* the file shrank under us */
        if (r >= 0 && fsync(out) < 0)
                r = -errno;
        return r;
}

/* A file qemu appends to: copy the front to FILE.1.tmp, sync it, collapse the
 * front, then shift the old files. 1: rotated, 0: nothing to do, -EOPNOTSUPP:
 * the file system cannot collapse (nothing changed), else -errno. */
static int rotate_live(const LogFile *f) {
        _cleanup_close_ int fd = -1;
        g_autofree char *first = NULL, *tmp = NULL;
        uint64_t len = 0;
        struct stat st;
        int r;

        fd = open(f->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size < f->rot.max_size)
                return 0;
        r = collapse_length(fd, (uint64_t) st.st_size, &len);
        if (r < 0 || len == 0)
                return r;
        if (f->rot.keep > 0) {
                first = g_strdup_printf("%s.1", f->path);
                tmp = g_strdup_printf("%s.1.tmp", f->path);
                r = copy_front(fd, tmp, len);
                if (r < 0) {
                        (void) unlink_noent(tmp);
                        return r;
                }
        }
        if (fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, (off_t) len) < 0) {
                r = errno == EINVAL ? -EOPNOTSUPP : -errno;
                if (tmp)
                        (void) unlink_noent(tmp);
                return r;
        }
        shift_old_files(f->path, f->rot.keep);
        if (tmp && rename(tmp, first) < 0)
                log_warning("Cannot rename %s to %s: %m", tmp, first);
        return 1;
}

static void rotate_one(RotateJob *job, LogFile *f) {
        int r = rotate_live(f);

        if (r == -EOPNOTSUPP) {
                log_warning("%s is on a file system that cannot collapse ranges: not rotated while qemu "
                            "writes it (rotated at the next start of the domain).", f->path);
                g_ptr_array_add(job->unsupported, g_strdup(f->path));
        } else if (r < 0)
                log_warning_errno(r, "Cannot rotate %s: %m", f->path);
        else if (r > 0)
                log_debug("Rotated %s.", f->path);
}

static gpointer rotate_thread(gpointer userdata) {
        RotateJob *job = userdata;

        for (guint i = 0; i < job->files->len; i++) {
                LogFile *f = &g_array_index(job->files, LogFile, i);

                g_mutex_lock(&job->lock);
                f->state = LOG_FILE_BUSY;
                g_mutex_unlock(&job->lock);
                rotate_one(job, f);
                g_mutex_lock(&job->lock);
                f->state = LOG_FILE_DONE;
                g_mutex_unlock(&job->lock);
        }
        g_atomic_int_set(&job->driver->log_rotate_done, 1);
        return NULL;
}

/* Waits for the worker of the previous round (it is bounded: a few files of at most max_size). */
void qemu_driver_log_rotation_join(QemuDriver *d) {
        RotateJob *job = d->log_rotate_job;

        if (d->log_rotate_thread) {
                g_thread_join(d->log_rotate_thread);
                d->log_rotate_thread = NULL;
        }
        if (!job)
                return;
        /* remembered: later rounds leave these alone (warned once) */
        for (guint i = 0; i < job->unsupported->len; i++)
                g_hash_table_add(d->log_rotate_unsupported, g_strdup(job->unsupported->pdata[i]));
        d->log_rotate_job = NULL;
        rotate_job_free(job);
}

static int rotate_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        QemuDriver *d = userdata;
        RotateJob *job;

        (void) sd_event_source_set_time_relative(s, d->log_rotate_interval_usec);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (d->log_rotate_thread && !g_atomic_int_get(&d->log_rotate_done))
                return 0;   /* the last round is still copying */
        qemu_driver_log_rotation_join(d);

        if (!d->log_rotate_unsupported)
                d->log_rotate_unsupported = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        job = calloc(1, sizeof(RotateJob));
        if (!job)
                return 0;
        job->driver = d;
        g_mutex_init(&job->lock);
        job->unsupported = g_ptr_array_new_with_free_func(g_free);
        job->files = g_array_new(FALSE, TRUE, sizeof(LogFile));
        g_array_set_clear_func(job->files, log_file_clear);
        for (DriverRuntime *rt = d->runtimes; rt; rt = rt->next) {
                g_autoptr(GArray) files = runtime_log_files(rt);

                for (guint i = 0; i < files->len; i++) {
                        LogFile *f = &g_array_index(files, LogFile, i);

                        if (g_hash_table_contains(d->log_rotate_unsupported, f->path))
                                continue;
                        /* the string moves into the job */
                        g_array_append_val(job->files, *f);
                        f->path = NULL;
                }
        }
        if (job->files->len == 0) {
                rotate_job_free(job);
                return 0;
        }
        g_atomic_int_set(&d->log_rotate_done, 0);
        d->log_rotate_job = job;
        d->log_rotate_thread = g_thread_try_new("vmgmt-logrotate", rotate_thread, job, NULL);
        if (!d->log_rotate_thread) {
                d->log_rotate_job = NULL;
                rotate_job_free(job);
        }
        return 0;
}

void qemu_driver_set_log_rotation(DomainDriver *base, const DriverLogRotation *console,
                                  const DriverLogRotation *hypervisor, uint64_t interval_usec) {
        QemuDriver *d = (QemuDriver *) base;
        int r;

        d->log_rot_console = *console;
        d->log_rot_qemu = *hypervisor;
        d->log_rotate_interval_usec = interval_usec;
        d->log_rotate_timer = sd_event_source_disable_unref(d->log_rotate_timer);
        if (interval_usec == 0 || (console->max_size == 0 && hypervisor->max_size == 0))
                return;
        r = sd_event_add_time_relative(d->event, &d->log_rotate_timer, CLOCK_MONOTONIC, interval_usec, 0,
                                       rotate_timer, d);
        if (r < 0) {
                log_warning_errno(r, "Cannot set up log rotation: %m");
                return;
        }
        (void) sd_event_source_set_description(d->log_rotate_timer, "qemu-log-rotate");
}

void qemu_driver_log_rotation_done(QemuDriver *d) {
        d->log_rotate_timer = sd_event_source_disable_unref(d->log_rotate_timer);
        qemu_driver_log_rotation_join(d);
        g_clear_pointer(&d->log_rotate_unsupported, g_hash_table_unref);
}
