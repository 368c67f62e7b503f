/* qemu-process-log.c — size-based rotation of a domain's log files: qemu's own
 * log (NAME.log, its stderr) and the serial console logs qemu writes itself
 * (NAME-console.log, …).
 *
 * qemu keeps those files open (O_APPEND) for as long as it runs and cannot be
 * told to reopen them, so a live file is rotated in place: its whole blocks are
 * copied to FILE.1 and then cut off the front of the file with
 * fallocate(FALLOC_FL_COLLAPSE_RANGE), which is atomic with respect to qemu's
 * appends — nothing is lost, less than one block stays behind. Where the file
 * system cannot collapse ranges the copy is completed up to the end and the
 * file truncated (copytruncate: bytes appended between the last copy and the
 * truncate, a window of microseconds, are lost). A file nobody holds (at domain
 * start) is simply renamed. Live rotation runs in a worker thread, never in
 * the event loop.
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
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "qemu-driver-internal.h"

#define COPY_CHUNK (64u * 1024u)

typedef struct LogFile {
        char *path;
        DriverLogRotation rot;
} LogFile;

typedef struct RotateJob {
        GArray *files;            /* LogFile */
        QemuDriver *driver;       /* only for the done flag */
} RotateJob;

static void log_file_clear(gpointer p) {
        free(((LogFile *) p)->path);
}

static void log_files_add(GArray *a, char *path, const DriverLogRotation *rot) {
        LogFile f = { .path = path, .rot = *rot };

        if (!path)
                return;
        if (rot->max_size == 0) {
                free(path);
                return;
        }
        g_array_append_val(a, f);
}

/* Every log file of rt with its rotation rule; names as in qemu-command-devices.c. */
static GArray *runtime_log_files(DriverRuntime *rt) {
        QemuDriver *d = rt->driver;
        const DomainDef *def = rt->def;
        GArray *a = g_array_new(FALSE, TRUE, sizeof(LogFile));
        char *p;

        g_array_set_clear_func(a, log_file_clear);
        log_files_add(a, strdup(rt->log_path), &d->log_rot_qemu);
        for (size_t i = 0; i < def->n_serials; i++) {
                if (i == 0)
                        p = g_strdup_printf("%s-console.log", rt->log_prefix);
                else
                        p = g_strdup_printf("%s-serial%zu.log", rt->log_prefix, i);
                log_files_add(a, p, &d->log_rot_console);
        }
        for (size_t i = 0; i < def->n_consoles; i++)
                if (streq_ptr(def->consoles[i].target_type, "virtio"))
                        log_files_add(a, g_strdup_printf("%s-console%zu.log", rt->log_prefix, i),
                                      &d->log_rot_console);
        return a;
}

/* Whether s is a chardev log name without PREFIX- and .log (qemu-command-devices.c):
 * "console" (serial 0), "serialN" (N ≥ 1) or "consoleN" (virtio console N ≥ 0),
 * N as %zu writes it. */
static bool is_chardev_log_name(const char *s) {
        bool serial = g_str_has_prefix(s, "serial");
        const char *n;

        if (streq(s, "console"))
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

void qemu_runtime_rotate_logs_closed(DriverRuntime *rt) {
        g_autoptr(GArray) files = runtime_log_files(rt);

        for (guint i = 0; i < files->len; i++)
                rotate_closed(&g_array_index(files, LogFile, i));
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

/* A file qemu appends to: copy, then collapse (or truncate). */
static int rotate_live(const LogFile *f) {
        _cleanup_close_ int fd = -1, out = -1;
        g_autofree char *first = NULL;
        uint64_t offset = 0, len;
        struct stat st;
        int r;

        fd = open(f->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size < f->rot.max_size)
                return 0;
        shift_old_files(f->path, f->rot.keep);
        if (f->rot.keep > 0) {
                first = g_strdup_printf("%s.1", f->path);
                out = open(first, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
                if (out < 0)
                        return -errno;
        }
        /* Whole blocks, short of the end (collapse must not reach it). */
        len = st.st_blksize > 0 ? ((uint64_t) st.st_size - 1) / (uint64_t) st.st_blksize * (uint64_t) st.st_blksize : 0;
        if (len > 0) {
                r = copy_range(fd, out, &offset, len);
                if (r < 0)
                        return r;
                if (fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, (off_t) len) == 0)
                        return 1;
                if (errno != EOPNOTSUPP && errno != EINVAL)
                        return -errno;
        }
        /* copytruncate: follow the file to its end a few times, then cut */
        for (int pass = 0; pass < 3; pass++) {
                r = copy_range(fd, out, &offset, 0);
                if (r < 0)
                        return r;
        }
        if (ftruncate(fd, 0) < 0)
                return -errno;
        return 1;
}

static gpointer rotate_thread(gpointer userdata) {
        RotateJob *job = userdata;

        for (guint i = 0; i < job->files->len; i++) {
                const LogFile *f = &g_array_index(job->files, LogFile, i);
                int r = rotate_live(f);

                if (r < 0)
                        log_warning_errno(r, "Cannot rotate %s: %m", f->path);
                else if (r > 0)
                        log_debug("Rotated %s.", f->path);
        }
        g_array_unref(job->files);
        g_atomic_int_set(&job->driver->log_rotate_done, 1);
        free(job);
        return NULL;
}

/* Waits for the worker of the previous round (it is bounded: a few files of at most max_size). */
void qemu_driver_log_rotation_join(QemuDriver *d) {
        if (d->log_rotate_thread) {
                g_thread_join(d->log_rotate_thread);
                d->log_rotate_thread = NULL;
        }
}

static int rotate_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        QemuDriver *d = userdata;
        RotateJob *job;

        (void) sd_event_source_set_time_relative(s, d->log_rotate_interval_usec);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (d->log_rotate_thread && !g_atomic_int_get(&d->log_rotate_done))
                return 0;   /* the last round is still copying */
        qemu_driver_log_rotation_join(d);

        job = calloc(1, sizeof(RotateJob));
        if (!job)
                return 0;
        job->driver = d;
        job->files = g_array_new(FALSE, TRUE, sizeof(LogFile));
        g_array_set_clear_func(job->files, log_file_clear);
        for (DriverRuntime *rt = d->runtimes; rt; rt = rt->next) {
                g_autoptr(GArray) files = runtime_log_files(rt);

                /* the strings move into the job */
                g_array_set_clear_func(files, NULL);
                g_array_append_vals(job->files, files->data, files->len);
        }
        if (job->files->len == 0) {
                g_array_unref(job->files);
                free(job);
                return 0;
        }
        g_atomic_int_set(&d->log_rotate_done, 0);
        d->log_rotate_thread = g_thread_try_new("vmgmt-logrotate", rotate_thread, job, NULL);
        if (!d->log_rotate_thread) {
                g_array_unref(job->files);
                free(job);
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
}
