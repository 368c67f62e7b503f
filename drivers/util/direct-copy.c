/* direct-copy.c — the pipe ↔ O_DIRECT file copier of direct-copy.h: one thread per copy, an eventfd to the loop. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/param.h>
#include <unistd.h>

#include "direct-copy.h"
#include "macro.h"

#define COPY_BUFFER_SIZE (1024u * 1024u)

struct DirectCopy {
        DirectCopyDirection direction;
        int file_fd, pipe_fd;
        uint64_t offset;
        char *name;
        int done_efd;               /* the thread → the loop: it ended */
        int stop_efd;               /* the loop → the thread: end now */
        sd_event_source *source;
        pthread_t thread;
        bool thread_running;        /* created and not joined */
        _Atomic uint64_t bytes;
        atomic_int ended;
        int result;                 /* written by the thread before `ended` */
        char message[512];
        DirectCopyDoneFn done;
        void *userdata;
};

static uint64_t align_up(uint64_t n) {
        return (n + DIRECT_IO_ALIGN - 1) / DIRECT_IO_ALIGN * DIRECT_IO_ALIGN;
}

bool direct_io_is_direct(int fd) {
        int fl = fcntl(fd, F_GETFL);
        return fl >= 0 && (fl & O_DIRECT);
}

static int pwrite_all(int fd, const char *p, size_t n, off_t off) {
        while (n > 0) {
                ssize_t k = pwrite(fd, p, n, off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? -errno : -EIO;
                p += k;
                n -= (size_t) k;
                off += k;
        }
        return 0;
}

ssize_t direct_io_pread(int fd, void *buf, size_t n, off_t off) {
        if (!direct_io_is_direct(fd)) {
                ssize_t k;
                do
                        k = pread(fd, buf, n, off);
                while (k < 0 && errno == EINTR);
                return k < 0 ? -errno : k;
        }
        off_t start = off / DIRECT_IO_ALIGN * DIRECT_IO_ALIGN;
        size_t len = align_up((uint64_t) (off - start) + n);
        void *bounce = NULL;
        size_t got = 0;

        if (posix_memalign(&bounce, DIRECT_IO_ALIGN, len) != 0)
                return -ENOMEM;
        while (got < len) {
                ssize_t k = pread(fd, (char *) bounce + got, len - got, start + (off_t) got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int e = errno;
                        free(bounce);
                        return -e;
                }
                if (k == 0)
                        break;
                got += (size_t) k;
                if (got % DIRECT_IO_ALIGN)
                        break;      /* the end of the file */
        }
        size_t skip = (size_t) (off - start);
        size_t avail = got > skip ? MIN(got - skip, n) : 0;
        memcpy(buf, (char *) bounce + skip, avail);
        free(bounce);
        return (ssize_t) avail;
}

int direct_io_pwrite(int fd, const void *buf, size_t n, off_t off) {
        void *bounce = NULL;
        int r;

        if (!direct_io_is_direct(fd))
                return pwrite_all(fd, buf, n, off);
        if (n % DIRECT_IO_ALIGN || off % DIRECT_IO_ALIGN)
                return -EINVAL;
        if (posix_memalign(&bounce, DIRECT_IO_ALIGN, MAX(n, 1u)) != 0)
                return -ENOMEM;
        memcpy(bounce, buf, n);
        r = pwrite_all(fd, bounce, n, off);
        free(bounce);
        return r;
}

/* ---- the thread ---- */

/* Waits until fd is ready for `events` or a stop is asked: 0, -ECANCELED, or -errno. */
static int wait_ready(DirectCopy *c, int fd, short events) {
        struct pollfd p[2] = { { .fd = fd, .events = events }, { .fd = c->stop_efd, .events = POLLIN } };

        for (;;) {
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[1].revents)
                        return -ECANCELED;
                if (p[0].revents)
                        return 0;
        }
}

static int fail(DirectCopy *c, int r, const char *what) {
        snprintf(c->message, sizeof(c->message), "cannot %s %s: %s", what, c->name, strerror(-r));
        return r;
}

static int copy_to_file(DirectCopy *c, char *buf) {
        uint64_t pos = c->offset;
        size_t fill = 0;
        int r;

        for (;;) {
                r = wait_ready(c, c->pipe_fd, POLLIN);
                if (r < 0)
                        return r == -ECANCELED ? r : fail(c, r, "read the stream for");
                ssize_t k = read(c->pipe_fd, buf + fill, COPY_BUFFER_SIZE - fill);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0)
                        return fail(c, -errno, "read the stream for");
                if (k == 0)
                        break;
                fill += (size_t) k;
                atomic_fetch_add(&c->bytes, (uint64_t) k);
                if (fill < COPY_BUFFER_SIZE)
                        continue;
                r = pwrite_all(c->file_fd, buf, fill, (off_t) pos);
                if (r < 0)
                        return fail(c, r, "write");
                pos += fill;
                fill = 0;
        }
        if (fill > 0) {
                /* the tail: a whole block for O_DIRECT, then the file cut back to the stream's end */
                size_t padded = align_up(fill);
                memset(buf + fill, 0, padded - fill);
                r = pwrite_all(c->file_fd, buf, padded, (off_t) pos);
                if (r < 0)
                        return fail(c, r, "write");
                if (ftruncate(c->file_fd, (off_t) (pos + fill)) < 0)
                        return fail(c, -errno, "truncate");
        }
        /* O_DIRECT bypasses the cache, not the journal: the size and the extents must be durable too */
        if (fdatasync(c->file_fd) < 0)
                return fail(c, -errno, "sync");
        return 0;
}

static int copy_from_file(DirectCopy *c, char *buf) {
        uint64_t pos = c->offset;
        int r;

        for (;;) {
                ssize_t k = pread(c->file_fd, buf, COPY_BUFFER_SIZE, (off_t) pos);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return fail(c, -errno, "read");
                if (k == 0)
                        return 0;
                pos += (uint64_t) k;
                for (size_t done = 0; done < (size_t) k;) {
                        r = wait_ready(c, c->pipe_fd, POLLOUT);
                        if (r < 0)
                                return r == -ECANCELED ? r : fail(c, r, "pass on the stream of");
                        ssize_t w = write(c->pipe_fd, buf + done, (size_t) k - done);
                        if (w < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (w < 0)
                                /* EPIPE: the reader went away (its own failure says why) */
                                return fail(c, -errno, "pass on the stream of");
                        done += (size_t) w;
                        atomic_fetch_add(&c->bytes, (uint64_t) w);
                }
        }
}

static void *copy_thread(void *userdata) {
        DirectCopy *c = userdata;
        void *buf = NULL;
        uint64_t one = 1;
        int r;

        if (posix_memalign(&buf, DIRECT_IO_ALIGN, COPY_BUFFER_SIZE) != 0)
                r = fail(c, -ENOMEM, "allocate a buffer for");
        else if (c->direction == DIRECT_COPY_TO_FILE)
                r = copy_to_file(c, buf);
        else
                r = copy_from_file(c, buf);
        free(buf);
        if (r == -ECANCELED)
                snprintf(c->message, sizeof(c->message), "the copy of %s was stopped", c->name);
        /* now, not when the loop gets to it: the reader sees the end of the stream,
         * a writer that goes on (after a failure here) EPIPE instead of a full pipe */
        close(c->pipe_fd);
        c->pipe_fd = -1;
        c->result = r;
        atomic_store(&c->ended, 1);
        (void) !write(c->done_efd, &one, sizeof(one));
        return NULL;
}

/* ---- the loop's side ---- */

static void copy_join(DirectCopy *c) {
        if (!c->thread_running)
                return;
        pthread_join(c->thread, NULL);
        c->thread_running = false;
}

static int on_copy_ended(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        DirectCopy *c = userdata;
        DirectCopyDoneFn done = c->done;

        c->source = sd_event_source_disable_unref(c->source);
        copy_join(c);
        c->done = NULL;
        if (done)
                done(c->userdata, c->result, c->result < 0 ? c->message : NULL);
        return 0;
}

static void close_fd(int *fd) {
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

DirectCopy *direct_copy_free(DirectCopy *c) {
        uint64_t one = 1;

        if (!c)
                return NULL;
        if (c->thread_running) {
                (void) !write(c->stop_efd, &one, sizeof(one));
                copy_join(c);
        }
        sd_event_source_disable_unref(c->source);
        close_fd(&c->file_fd);
        close_fd(&c->pipe_fd);
        close_fd(&c->done_efd);
        close_fd(&c->stop_efd);
        free(c->name);
        free(c);
        return NULL;
}

int direct_copy_start(sd_event *event, DirectCopyDirection direction, int file_fd, int pipe_fd, uint64_t offset,
                      const char *name, DirectCopyDoneFn done, void *userdata, DirectCopy **ret) {
        sigset_t all, old;
        DirectCopy *c;
        int r, fl;

        if (offset % DIRECT_IO_ALIGN || file_fd < 0 || pipe_fd < 0)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->direction = direction;
        c->offset = offset;
        c->done = done;
        c->userdata = userdata;
        c->name = strdup(name ?: "the file");
        c->file_fd = fcntl(file_fd, F_DUPFD_CLOEXEC, 3);
        c->pipe_fd = fcntl(pipe_fd, F_DUPFD_CLOEXEC, 3);
        c->done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        c->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!c->name || c->file_fd < 0 || c->pipe_fd < 0 || c->done_efd < 0 || c->stop_efd < 0) {
                r = c->name ? -errno : -ENOMEM;
                goto fail;
        }
        fl = fcntl(c->pipe_fd, F_GETFL);
        if (fl < 0 || fcntl(c->pipe_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(event, &c->source, c->done_efd, EPOLLIN, on_copy_ended, c);
        if (r < 0)
                goto fail;
        /* every signal blocked in the thread: a reader gone is EPIPE there, not SIGPIPE */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = -pthread_create(&c->thread, NULL, copy_thread, c);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                goto fail;
        c->thread_running = true;
        *ret = c;
        return 0;
fail:
        direct_copy_free(c);
        return r;
}

uint64_t direct_copy_bytes(const DirectCopy *c) {
        return c ? atomic_load(&((DirectCopy *) c)->bytes) : 0;
}

int direct_copy_finished(const DirectCopy *c) {
        return c ? atomic_load(&((DirectCopy *) c)->ended) : 1;
}

void direct_copy_stop(DirectCopy *c) {
        uint64_t one = 1;

        if (c && c->thread_running)
                (void) !write(c->stop_efd, &one, sizeof(one));
}
