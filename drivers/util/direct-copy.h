/* direct-copy.h — moves a stream between a pipe and a file opened O_DIRECT in a thread of its own
 * (what virsh's --bypass-cache needs: a writer of the stream, such as qemu, writes unaligned pieces into
 * the pipe; the file sees only aligned blocks from aligned buffers), reporting its end to the loop. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

/* The alignment of every buffer, offset and length given to an O_DIRECT file:
 * a page, a multiple of every logical block size in use. */
#define DIRECT_IO_ALIGN 4096u

typedef struct DirectCopy DirectCopy;

typedef enum DirectCopyDirection {
        /* reads the pipe to its end, writes the file from the offset on; the
         * last block is padded with zeros for the write and the file then
         * truncated to the stream's real end; fdatasync'd at the end */
        DIRECT_COPY_TO_FILE,
        /* reads the file from the offset to its end, writes it into the pipe,
         * then closes the pipe (the reader sees the end of the stream) */
        DIRECT_COPY_FROM_FILE,
} DirectCopyDirection;

/* Called once from the loop: r = 0 when the whole stream was moved, or a
 * negative errno with message ("cannot write /x: No space left on device").
 * The copy may be freed from the call. */
typedef void (*DirectCopyDoneFn)(void *userdata, int r, const char *message);

/* Starts the thread. file_fd (any flags; O_DIRECT is what it is for) and
 * pipe_fd are duplicated (the pipe's end is made non-blocking: the thread
 * polls it with its stop request); offset must be a multiple of DIRECT_IO_ALIGN; name
 * is used in messages. Returns 0 and *ret, or a negative errno (done not called). */
int direct_copy_start(sd_event *event, DirectCopyDirection direction, int file_fd, int pipe_fd, uint64_t offset,
                      const char *name, DirectCopyDoneFn done, void *userdata, DirectCopy **ret);
/* Bytes of the stream moved so far (any thread may ask). */
uint64_t direct_copy_bytes(const DirectCopy *c);
/* Whether done has been called (or is due: the thread ended). */
int direct_copy_finished(const DirectCopy *c);
/* Asks the thread to end soon (between two blocks); done still comes, with -ECANCELED unless it had ended. */
void direct_copy_stop(DirectCopy *c);
/* Stops the thread, waits for it and frees c; done is not called. NULL-safe; returns NULL. */
DirectCopy *direct_copy_free(DirectCopy *c);

/* Whether fd's open file is O_DIRECT. */
bool direct_io_is_direct(int fd);

/* pread() of any buffer, offset and length on fd whether or not it is
 * O_DIRECT (then through an aligned bounce buffer covering the blocks
 * around). Returns the bytes read (short only at the end of the file) or a
 * negative errno. */
ssize_t direct_io_pread(int fd, void *buf, size_t n, off_t off);
/* pwrite() of all of buf on fd; when fd is O_DIRECT, off and n must be
 * multiples of DIRECT_IO_ALIGN (-EINVAL otherwise; buf need not be aligned:
 * it is copied). Returns 0 or a negative errno. */
int direct_io_pwrite(int fd, const void *buf, size_t n, off_t off);
