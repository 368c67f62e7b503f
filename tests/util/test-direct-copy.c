/* test-direct-copy.c — direct_copy_*() with a real O_DIRECT file: streams of odd lengths written into a pipe
 * in odd pieces come out whole after an aligned header block, and back; a stop ends the thread; no fd leaks.
 * Exit 77 when the directory's filesystem has no O_DIRECT. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../qemu/test-helpers.h"
#include "direct-copy.h"

static char dir[] = "/var/tmp/test-direct-copy.XXXXXX";

static unsigned char pattern(uint64_t i) {
        return (unsigned char) ((i * 2654435761u) >> 13);
}

typedef struct Done {
        bool called;
        int r;
        char message[512];
} Done;

static void on_done(void *userdata, int r, const char *message) {
        Done *d = userdata;

        d->called = true;
        d->r = r;
        snprintf(d->message, sizeof(d->message), "%s", message ? message : "");
}

static void run_until(sd_event *e, Done *d) {
        for (int i = 0; !d->called && i < 100000; i++)
                if (sd_event_run(e, 60 * 1000000ull) < 0)
                        break;
}

/* A child writes n bytes of the pattern into fd in pieces of 1000 (qemu's writes are no nicer). */
static pid_t writer(int fd, uint64_t n) {
        pid_t pid = fork();

        if (pid == 0) {
                unsigned char buf[1000];
                for (uint64_t done = 0; done < n;) {
                        size_t k = n - done < sizeof(buf) ? (size_t) (n - done) : sizeof(buf);
                        for (size_t i = 0; i < k; i++)
                                buf[i] = pattern(done + i);
                        ssize_t w = write(fd, buf, k);
                        if (w <= 0)
                                _exit(1);
                        done += (uint64_t) w;
                }
                _exit(0);
        }
        return pid;
}

static void round_trip(sd_event *e, uint64_t n) {
        char path[sizeof(dir) + 16];
        unsigned char header[DIRECT_IO_ALIGN], got[64];
        int fd, p[2], status = 0;
        DirectCopy *c = NULL;
        Done d = {};
        struct stat st;

        snprintf(path, sizeof(path), "%s/image", dir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0600);
        CHECK(fd >= 0);
        memset(header, 'H', sizeof(header));
        CHECK(direct_io_pwrite(fd, header, sizeof(header), 0) == 0);
        CHECK(direct_io_pwrite(fd, header, 100, 0) == -EINVAL);   /* unaligned on O_DIRECT */

        /* into the file: whole, after the header, the tail padded and cut back */
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        CHECK(direct_copy_start(e, DIRECT_COPY_TO_FILE, fd, p[0], DIRECT_IO_ALIGN, "the image", on_done, &d, &c) == 0);
        close(p[0]);
        pid_t pid = writer(p[1], n);
        close(p[1]);
        run_until(e, &d);
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK(d.called && d.r == 0);
        CHECK(direct_copy_bytes(c) == n);
        c = direct_copy_free(c);
        CHECK(fstat(fd, &st) == 0 && (uint64_t) st.st_size == DIRECT_IO_ALIGN + n);
        CHECK(direct_io_pread(fd, got, sizeof(got), 0) == (ssize_t) sizeof(got) && got[0] == 'H' && got[63] == 'H');
        /* every byte, read unaligned through the bounce buffer */
        for (uint64_t off = 0; off < n; off += 4093) {
                size_t k = n - off < sizeof(got) ? (size_t) (n - off) : sizeof(got);
                CHECK(direct_io_pread(fd, got, k, (off_t) (DIRECT_IO_ALIGN + off)) == (ssize_t) k);
                for (size_t i = 0; i < k; i++)
                        if (got[i] != pattern(off + i)) {
                                CHECK(!"byte differs");
                                break;
                        }
        }

        /* and back out of it into a pipe, to its end */
        d = (Done) {};
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        CHECK(direct_copy_start(e, DIRECT_COPY_FROM_FILE, fd, p[1], DIRECT_IO_ALIGN, "the image", on_done, &d, &c) == 0);
        close(p[1]);
        uint64_t read_total = 0;
        bool same = true;
        for (;;) {
                unsigned char buf[7777];
                ssize_t k = read(p[0], buf, sizeof(buf));
                if (k <= 0)
                        break;
                for (ssize_t i = 0; i < k; i++)
                        same = same && buf[i] == pattern(read_total + (uint64_t) i);
                read_total += (uint64_t) k;
        }
        close(p[0]);
        run_until(e, &d);
        CHECK(d.called && d.r == 0);
        CHECK(read_total == n);
        CHECK(same);
        direct_copy_free(c);
        close(fd);
        unlink(path);
}

int main(void) {
        sd_event *e = NULL;
        unsigned fds;
        int fd, p[2];
        char path[sizeof(dir) + 16];
        DirectCopy *c = NULL;
        Done d = {};

        if (!mkdtemp(dir))
                return 77;
        snprintf(path, sizeof(path), "%s/probe", dir);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_DIRECT, 0600);
        if (fd < 0) {
                fprintf(stderr, "%s: no O_DIRECT here (%s): skipped\n", dir, strerror(errno));
                unlink(path);
                rmdir(dir);
                return 77;
        }
        CHECK(sd_event_default(&e) >= 0);
        fds = count_fds();
        const uint64_t sizes[] = { 0, 1, 4095, 4096, 4097, 1024 * 1024, 1024 * 1024 + 123, 3 * 1024 * 1024 + 4099 };
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
                round_trip(e, sizes[i]);

        /* a stop: the thread waiting for a writer that never writes ends, done says so */
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        CHECK(direct_copy_start(e, DIRECT_COPY_TO_FILE, fd, p[0], 0, "the probe", on_done, &d, &c) == 0);
        CHECK(!direct_copy_finished(c));
        direct_copy_stop(c);
        run_until(e, &d);
        CHECK(d.called && d.r == -ECANCELED);
        direct_copy_free(c);
        /* a free without a stop: no done, no thread left */
        d = (Done) {};
        CHECK(direct_copy_start(e, DIRECT_COPY_TO_FILE, fd, p[0], 0, "the probe", on_done, &d, &c) == 0);
        direct_copy_free(c);
        CHECK(!d.called);
        CHECK(direct_copy_start(e, DIRECT_COPY_TO_FILE, fd, p[0], 100, "x", on_done, &d, &c) == -EINVAL);
        close(p[0]);
        close(p[1]);
        CHECK(count_fds() == fds);

        close(fd);
        unlink(path);
        rmdir(dir);
        sd_event_unref(e);
        return TEST_EXIT();
}
