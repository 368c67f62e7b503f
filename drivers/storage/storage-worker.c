/* storage-worker.c — copies, zeroing and allocation in a worker thread that reports to the loop through an eventfd. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "storage-internal.h"

#define CHUNK (1024u * 1024u)
#define POLL_MSEC 100

StorageWork *storage_work_new(StorageWorkKind kind) {
        StorageWork *w = calloc(1, sizeof(StorageWork));
        if (!w)
                return NULL;
        w->kind = kind;
        w->src_fd = w->dst_fd = w->efd = -1;
        return w;
}

StorageWork *storage_work_free(StorageWork *w) {
        if (!w)
                return NULL;
        atomic_store(&w->cancel, true);
        if (w->started)
                pthread_join(w->thread, NULL);
        sd_event_source_disable_unref(w->source);
        if (w->efd >= 0)
                close(w->efd);
        if (w->src_fd >= 0)
                close(w->src_fd);
        if (w->dst_fd >= 0)
                close(w->dst_fd);
        free(w);
        return NULL;
}

static bool cancelled(StorageWork *w) {
        return atomic_load(&w->cancel);
}

/* Waits until fd is ready for events (pipes and sockets may block forever,
 * so the cancel flag is checked every POLL_MSEC). 0, or -ECANCELED. */
static int wait_fd(StorageWork *w, int fd, short events) {
        for (;;) {
                if (cancelled(w))
                        return -ECANCELED;
                struct pollfd p = { .fd = fd, .events = events };
                int k = poll(&p, 1, POLL_MSEC);
                if (k > 0)
                        return 0;
                if (k < 0 && errno != EINTR)
                        return -errno;
        }
}

static int fail(StorageWork *w, int r, const char *side) {
        w->error = r;
        w->side = side;
        return r;
}

static bool all_zero(const uint8_t *b, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (b[i])
                        return false;
        return true;
}

/* The destination may be the client's fd: blocking, and not ours to make
 * non-blocking. So a write that poll() allowed must not block, or a cancel
 * would go unseen: sockets are written with MSG_DONTWAIT, pipes and other
 * non-files at most PIPE_BUF at a time (POLLOUT promises that much room). */
static int write_all(StorageWork *w, const uint8_t *buf, size_t n) {
        struct stat st;
        bool sock, bounded;

        if (fstat(w->dst_fd, &st) < 0)
                return fail(w, -errno, "writing");
        sock = S_ISSOCK(st.st_mode);
        bounded = !sock && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
        while (n > 0) {
                int r = wait_fd(w, w->dst_fd, POLLOUT);
                if (r < 0)
                        return fail(w, r, NULL);
                size_t m = bounded && n > PIPE_BUF ? PIPE_BUF : n;
                ssize_t k = sock ? send(w->dst_fd, buf, m, MSG_DONTWAIT | MSG_NOSIGNAL) : write(w->dst_fd, buf, m);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return fail(w, -errno, "writing");
                }
                buf += k;
                n -= (size_t) k;
        }
        return 0;
}

static int do_stream(StorageWork *w) {
        _cleanup_free_ uint8_t *buf = malloc(CHUNK);
        uint64_t left = w->length, pos = 0;
        int r;

        if (!buf)
                return fail(w, -ENOMEM, NULL);
        if (w->offset > 0 && lseek(w->src_fd, (off_t) w->offset, SEEK_SET) < 0)
                return fail(w, -errno, "reading");
        for (;;) {
                size_t want = CHUNK;
                if (w->length > 0) {
                        if (left == 0)
                                break;
                        if (left < want)
                                want = (size_t) left;
                }
                r = wait_fd(w, w->src_fd, POLLIN);
                if (r < 0)
                        return fail(w, r, NULL);
                ssize_t n = read(w->src_fd, buf, want);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return fail(w, -errno, "reading");
                }
                if (n == 0) {
                        if (w->length > 0)
                                return fail(w, -EPIPE, "reading");   /* shorter than announced */
                        break;
                }
                if (w->dst_sparse && all_zero(buf, (size_t) n)) {
                        if (lseek(w->dst_fd, n, SEEK_CUR) < 0)
                                return fail(w, -errno, "writing");
                } else {
                        r = write_all(w, buf, (size_t) n);
                        if (r < 0)
                                return r;
                }
                pos += (uint64_t) n;
                left -= w->length > 0 ? (uint64_t) n : 0;
                atomic_store(&w->processed, pos);
        }
        w->written_end = pos;
        /* trailing zero blocks were skipped: give the file its full length */
        if (w->dst_sparse && ftruncate(w->dst_fd, (off_t) pos) < 0)
                return fail(w, -errno, "writing");
        return 0;
}

/* file → file: data extents only (holes stay holes), in-kernel copy. */
static int do_copy_file(StorageWork *w) {
        uint64_t end = w->length, pos = 0;

        while (pos < end) {
                if (cancelled(w))
                        return fail(w, -ECANCELED, NULL);
                off_t data = lseek(w->src_fd, (off_t) pos, SEEK_DATA);
                if (data < 0) {
                        if (errno == ENXIO)
                                break;   /* only a hole remains */
                        return fail(w, -errno, "reading");
                }
                off_t hole = lseek(w->src_fd, data, SEEK_HOLE);
                if (hole < 0)
                        return fail(w, -errno, "reading");
                if ((uint64_t) hole > end)
                        hole = (off_t) end;
                atomic_store(&w->processed, (uint64_t) data);
                off_t in = data, out = data;
                while (in < hole) {
                        if (cancelled(w))
                                return fail(w, -ECANCELED, NULL);
                        size_t n = (size_t) MIN((uint64_t) (hole - in), (uint64_t) 8 * CHUNK);
                        ssize_t k = copy_file_range(w->src_fd, &in, w->dst_fd, &out, n, 0);
                        if (k < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS)) {
                                /* no in-kernel copy between these files: read and write */
                                uint8_t buf[65536];
                                ssize_t m = pread(w->src_fd, buf, MIN(sizeof buf, (size_t) (hole - in)), in);
                                if (m <= 0)
                                        return fail(w, m < 0 ? -errno : -EIO, "reading");
                                if (pwrite(w->dst_fd, buf, (size_t) m, out) != m)
                                        return fail(w, errno ? -errno : -EIO, "writing");
                                in += m;
                                out += m;
                                k = m;
                        } else if (k < 0)
                                return fail(w, -errno, errno == ENOSPC || errno == EDQUOT ? "writing" : "copying");
                        else if (k == 0)
                                return fail(w, -EIO, "reading");   /* the source shrank */
                        atomic_store(&w->processed, (uint64_t) in);
                }
                pos = (uint64_t) hole;
        }
        atomic_store(&w->processed, end);
        if (ftruncate(w->dst_fd, (off_t) end) < 0)
                return fail(w, -errno, "writing");
        return 0;
}

/* Overwrites the allocated extents with zeros (holes read as zeros already). */
static int do_zero(StorageWork *w) {
        _cleanup_free_ uint8_t *zeros = calloc(1, CHUNK);
        uint64_t end = w->length, pos = 0;

        if (!zeros)
                return fail(w, -ENOMEM, NULL);
        while (pos < end) {
                off_t data = lseek(w->dst_fd, (off_t) pos, SEEK_DATA), hole;
                if (data < 0 && errno == ENXIO)
                        break;
                if (data < 0 && errno != EINVAL)
                        return fail(w, -errno, "reading");
                if (data < 0) {
                        /* no extent map (a block device): all of it is data */
                        data = (off_t) pos;
                        hole = (off_t) end;
                } else if ((hole = lseek(w->dst_fd, data, SEEK_HOLE)) < 0)
                        return fail(w, -errno, "reading");
                if ((uint64_t) hole > end)
                        hole = (off_t) end;
                for (off_t o = data; o < hole;) {
                        if (cancelled(w))
                                return fail(w, -ECANCELED, NULL);
                        size_t n = (size_t) MIN((uint64_t) (hole - o), (uint64_t) CHUNK);
                        ssize_t k = pwrite(w->dst_fd, zeros, n, o);
                        if (k <= 0)
                                return fail(w, k < 0 ? -errno : -EIO, "writing");
                        o += k;
                        atomic_store(&w->processed, (uint64_t) o);
                }
                pos = (uint64_t) hole;
        }
        atomic_store(&w->processed, end);
        return 0;
}

static int do_allocate(StorageWork *w) {
        _cleanup_free_ uint8_t *zeros = NULL;
        uint64_t pos = 0;

        /* In steps, so a cancel is seen and progress moves. */
        while (pos < w->length) {
                if (cancelled(w))
                        return fail(w, -ECANCELED, NULL);
                uint64_t n = MIN(w->length - pos, (uint64_t) 256 * CHUNK);
                if (!zeros && fallocate(w->dst_fd, 0, (off_t) pos, (off_t) n) == 0) {
                        pos += n;
                        atomic_store(&w->processed, pos);
                        continue;
                }
                if (!zeros && errno != EOPNOTSUPP)
                        return fail(w, -errno, "allocating");
                if (!zeros && !(zeros = calloc(1, CHUNK)))
                        return fail(w, -ENOMEM, NULL);
                ssize_t k = pwrite(w->dst_fd, zeros, (size_t) MIN(n, (uint64_t) CHUNK), (off_t) pos);
                if (k <= 0)
                        return fail(w, k < 0 ? -errno : -EIO, "writing");
                pos += (uint64_t) k;
                atomic_store(&w->processed, pos);
        }
        return 0;
}

static void *work_thread(void *userdata) {
        StorageWork *w = userdata;
        sigset_t mask;
        int r = 0;

        /* A reader that went away gives EPIPE here, not a process-wide SIGPIPE. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);

        switch (w->kind) {
        case STORAGE_WORK_COPY_FILE:
                r = do_copy_file(w);
                break;
        case STORAGE_WORK_STREAM:
                r = do_stream(w);
                break;
        case STORAGE_WORK_ZERO:
                r = do_zero(w);
                break;
        case STORAGE_WORK_ALLOCATE:
                r = do_allocate(w);
                break;
        }
        if (r >= 0 && w->fsync && fsync(w->dst_fd) < 0)
                r = fail(w, -errno, "writing");
        (void) r;
        uint64_t one = 1;
        (void) !write(w->efd, &one, sizeof one);
        return NULL;
}

static int on_work_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        StorageWork *w = userdata;
        (void) s, (void) fd, (void) revents;

        pthread_join(w->thread, NULL);
        w->started = false;
        sd_event_source_set_enabled(w->source, SD_EVENT_OFF);
        StorageWorkDoneFn done = TAKE_PTR(w->done);
        if (done)
                done(w->userdata, w->error, w->side);   /* may free w */
        return 0;
}

int storage_work_start(StorageDriver *d, StorageWork *w, StorageWorkDoneFn done, void *userdata) {
        sigset_t all, old;
        int r;

        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0)
                return -errno;
        r = sd_event_add_io(d->event, &w->source, w->efd, EPOLLIN, on_work_done, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(w->source, "storage-work");
        w->done = done;
        w->userdata = userdata;
        /* The thread takes no signals: they stay with the loop's thread. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&w->thread, NULL, work_thread, w);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0)
                return -r;
        w->started = true;
        return 0;
}

/* ---- one blocking call in a thread of its own ---- */

struct StorageCall {
        StorageDriver *driver;        /* lists the call while the loop holds it */
        _Atomic int refs;             /* the loop's and the thread's */
        int efd;
        sd_event_source *source;      /* the loop's; touched only from the loop */
        StorageCallFn fn;
        void *arg;
        void (*free_arg)(void *arg);
        StorageCallDoneFn done;
        void *userdata;
        int r;
};

static void call_unref(StorageCall *c) {
        if (atomic_fetch_sub(&c->refs, 1) != 1)
                return;
        if (c->efd >= 0)
                close(c->efd);
        if (c->free_arg)
                c->free_arg(c->arg);
        free(c);
}

static void *call_thread(void *userdata) {
        StorageCall *c = userdata;
        uint64_t one = 1;

        c->r = c->fn(c->arg);
        (void) !write(c->efd, &one, sizeof one);
        call_unref(c);
        return NULL;
}

static int on_call_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        StorageCall *c = userdata;
        StorageCallDoneFn done = TAKE_PTR(c->done);
        (void) s, (void) fd, (void) revents;

        c->source = sd_event_source_disable_unref(c->source);
        g_ptr_array_remove(c->driver->calls, c);
        if (done)
                done(c->userdata, c->arg, c->r);
        call_unref(c);
        return 0;
}

int storage_call_start(StorageDriver *d, StorageCallFn fn, void *arg, void (*free_arg)(void *arg),
                       StorageCallDoneFn done, void *userdata, StorageCall **ret) {
        StorageCall *c = calloc(1, sizeof(*c));
        pthread_attr_t attr;
        pthread_t thread;
        sigset_t all, old;
        int r;

        if (!c) {
                if (free_arg)
                        free_arg(arg);
                return -ENOMEM;
        }
        *c = (StorageCall) { .fn = fn, .arg = arg, .free_arg = free_arg, .done = done, .userdata = userdata };
        atomic_init(&c->refs, 1);
        c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->efd < 0) {
                r = -errno;
                call_unref(c);
                return r;
        }
        r = sd_event_add_io(d->event, &c->source, c->efd, EPOLLIN, on_call_done, c);
        if (r < 0) {
                call_unref(c);
                return r;
        }
        (void) sd_event_source_set_description(c->source, "storage-call");
        /* Detached: a thread stuck in a dead NFS server is never waited for. */
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        atomic_store(&c->refs, 2);
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&thread, &attr, call_thread, c);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                atomic_store(&c->refs, 1);
                c->source = sd_event_source_disable_unref(c->source);
                call_unref(c);
                return -r;
        }
        c->driver = d;
        g_ptr_array_add(d->calls, c);
        if (ret)
                *ret = c;
        return 0;
}

StorageCall *storage_call_abandon(StorageCall *c) {
        if (!c)
                return NULL;
        c->done = NULL;
        c->source = sd_event_source_disable_unref(c->source);
        g_ptr_array_remove(c->driver->calls, c);
        call_unref(c);
        return NULL;
}
