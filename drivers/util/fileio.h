/* fileio.h — durable file writes and whole-file reads. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Writes data to path atomically and durably: a temporary file in the same
 * directory, fsync, rename over path, fsync of the directory. On failure
 * nothing at path has changed and no temporary file is left. Returns 0 or -errno. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Like write_file_atomic() but without the two fsyncs (for run-dir state that
 * does not need to survive power loss). */
int write_file_atomic_nosync(const char *path, const void *data, size_t len, mode_t mode);

/* Reads the whole file into a NUL-terminated buffer (*ret, caller frees).
 * Fails with -EFBIG above max_size. Returns 0 or -errno. */
int read_full_file(const char *path, size_t max_size, char **ret, size_t *ret_size);
/* The same, path relative to dir_fd (openat(2)'s rules; AT_FDCWD is read_full_file()). */
int read_full_file_at(int dir_fd, const char *path, size_t max_size, char **ret, size_t *ret_size);

/* Writes all of data to fd, again after a short write or EINTR. Returns 0 or
 * -errno. */
int write_full(int fd, const void *data, size_t len);

/* mkdir -p with mode for every created component. Returns 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);

/* Removes path (file) ignoring ENOENT. Returns 0 or -errno. */
int unlink_noent(const char *path);

/* fsyncs the directory that contains path. */
int fsync_parent_dir(const char *path);
