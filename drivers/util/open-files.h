/* open-files.h — opens a list of host paths with someone's credentials in a short-lived child and
 * hands the fds back over a socketpair, without blocking the event loop.
 *
 * The child takes the credentials for real (setgroups, setresgid, setresuid),
 * so the kernel checks file and directory permissions exactly as for that
 * user; the fd that was checked is the fd that is returned, so nothing can be
 * swapped between check and use. Images can have their qcow2 backing chain
 * followed by the child, every layer opened the same way. Knows nothing about
 * qemu or domains. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

typedef enum OpenFileMode {
        OPEN_FILE_READ,             /* O_RDONLY */
        OPEN_FILE_READ_WRITE,       /* O_RDWR */
        OPEN_FILE_APPEND_CREATE,    /* O_WRONLY|O_APPEND|O_CREAT, 0600 */
        OPEN_FILE_UNIX_LISTEN,      /* a SOCK_STREAM unix socket bound at the path and listening; an existing
                                     * socket there is replaced, anything else there is refused (EEXIST) */
        OPEN_FILE_UNIX_CONNECT,     /* a SOCK_STREAM unix socket connected to the path */
        OPEN_FILE_CREATE,           /* a new regular file for a result that must not appear half-written (a save
                                     * image, a core dump): O_RDWR|O_CREAT|O_EXCL, 0600, NOT at the path but at a
                                     * temporary name in the same directory, "DIR/.NAME.XXXXXX.part" (X random);
                                     * the OpenedFile's `resolved` is where the temporary really is. Finish it with
                                     * open_file_finish_start(): rename it to the path, or unlink it. */
        _OPEN_FILE_MODE_MAX,
} OpenFileMode;

typedef enum OpenFileFlags {
        /* The file is a disk image: its format is the request's, else qcow2
         * when it has qcow2's magic, else raw; a qcow2's backing files are
         * opened too (read-only), each layer with the format its parent's
         * header names (or found the same way). */
        OPEN_FILE_BACKING_CHAIN = 1 << 0,
        /* What is returned is a sealed memfd holding a copy of the file (at
         * most OPEN_FILES_COPY_MAX bytes, a regular file): for programs that
         * reopen the file by name (/proc/self/fd/N) under another uid. */
        OPEN_FILE_COPY = 1 << 1,
        /* The fd is O_DIRECT (virsh's --bypass-cache; also for OPEN_FILE_CREATE):
         * a filesystem that cannot do it is a failure (EOPNOTSUPP, the message
         * names O_DIRECT), and a file created for it is removed again. */
        OPEN_FILE_DIRECT = 1 << 2,
} OpenFileFlags;

#define OPEN_FILES_CHAIN_MAX 16u                           /* layers of one image, the top included */
#define OPEN_FILES_COPY_MAX (512u * 1024u * 1024u)
#define OPEN_FILES_TIMEOUT_USEC_DEFAULT (60u * 1000000u)    /* bounds a hang (a dead NFS server), not a duration */

/* Whose rights the child has. root: the caller's own (nothing is changed). */
typedef struct OpenFileCreds {
        bool root;
        uid_t uid;
        gid_t gid;
        const gid_t *groups;        /* supplementary groups */
        size_t n_groups;
} OpenFileCreds;

typedef struct OpenFileRequest {
        const char *path;           /* absolute */
        OpenFileMode mode;
        OpenFileFlags flags;
        const char *format;         /* images: the format the definition names; NULL: found as above */
} OpenFileRequest;

/* One opened (or failed) file. A request gives one file, or with
 * OPEN_FILE_BACKING_CHAIN one per layer, top first (depth 0, 1, …). */
typedef struct OpenedFile {
        size_t request;             /* index into the requests */
        unsigned depth;             /* 0: the file asked for; n: its n-th backing file */
        char *path;                 /* as asked, or as the parent's header names it (made absolute) */
        char *resolved;             /* where it really is (the fd's /proc link; sockets: the real directory + name) */
        int fd;                     /* O_CLOEXEC, owned by the OpenFiles; -1 when it failed */
        struct stat st;             /* of the file opened (not of the memfd copy) */
        char *format;               /* images: "raw", "qcow2", or the format asked for; else NULL */
        char *backing;              /* images: the backing file name as the header has it, NULL when none */
        int error;                  /* 0, or the errno of the failure */
        char *message;              /* NULL, or what failed: "cannot open /x: Permission denied" */
} OpenedFile;

typedef struct OpenFiles {
        OpenedFile *files;
        size_t n_files;
} OpenFiles;

OpenFiles *open_files_free(OpenFiles *f);      /* closes every fd; NULL-safe, returns NULL */
/* The first file that failed, or NULL when every one opened. */
const OpenedFile *open_files_first_error(const OpenFiles *f);
/* The layers of request i: *ret_n files from the returned one on (depth 0 first); NULL when none. */
const OpenedFile *open_files_for_request(const OpenFiles *f, size_t request, size_t *ret_n);

typedef struct OpenFilesJob OpenFilesJob;

/* Called once: r = 0 with files (ownership passed; some may have failed: see
 * open_files_first_error()), or r < 0 when the child could not do its work
 * (files NULL, message says why: -ETIMEDOUT "timed out opening /path"). The
 * job is freed after the call. */
typedef void (*OpenFilesDoneFn)(void *userdata, int r, OpenFiles *files, const char *message);

/* Forks the child for `requests` (copied) with `creds` and watches it from
 * `event`; it is killed after timeout_usec (0: the default). The child stops
 * at the first file it cannot open (that file is the last one reported).
 * Returns 0 and *ret (owned by the loop until done runs, or until
 * open_files_job_cancel()), or a negative errno (done not called). */
int open_files_start(sd_event *event, const OpenFileCreds *creds, const OpenFileRequest *requests, size_t n_requests,
                     uint64_t timeout_usec, OpenFilesDoneFn done, void *userdata, OpenFilesJob **ret);
/* Kills the child and frees the job; done is not called. NULL-safe, returns NULL. */
OpenFilesJob *open_files_job_cancel(OpenFilesJob *j);

/* Synchronous: the same in the calling process (forks and waits; for tests and
 * start-up). Returns 0 with *ret or a negative errno with *ret_message. */
int open_files_run(const OpenFileCreds *creds, const OpenFileRequest *requests, size_t n_requests,
                   uint64_t timeout_usec, OpenFiles **ret, char **ret_message);

const char *open_file_mode_to_string(OpenFileMode m);

/* ---- finishing an OPEN_FILE_CREATE file ---- */

typedef enum OpenFileFinish {
        OPEN_FILE_FINISH_RENAME,    /* the temporary becomes the path asked for (rename(2): what is there is replaced) */
        OPEN_FILE_FINISH_UNLINK,    /* the temporary is removed */
        _OPEN_FILE_FINISH_MAX,
} OpenFileFinish;

/* Called once: r = 0 done, or a negative errno with message ("cannot rename
 * /d/.x.AbC123.part to /d/x: Permission denied"; -ESTALE when the temporary's
 * name no longer leads to the file that was created). The job is freed after. */
typedef void (*OpenFileFinishDoneFn)(void *userdata, int r, const char *message);

/* Renames or unlinks `file` (an OPEN_FILE_CREATE result: its `resolved` is the
 * temporary, its `path` the name asked for, its `st` the created inode; all
 * copied) in a child with `creds` — the same credentials it was created
 * with — watched from `event` like open_files_start(). The child acts only
 * when the temporary's name still leads to the same device and inode (lstat);
 * the rename target is the path's last component in the temporary's real
 * directory, so the file never leaves the directory that was judged. Returns
 * 0 and *ret (cancel with open_files_job_cancel(); done is then not called),
 * or a negative errno (done not called). */
int open_file_finish_start(sd_event *event, const OpenFileCreds *creds, const OpenedFile *file, OpenFileFinish action,
                           uint64_t timeout_usec, OpenFileFinishDoneFn done, void *userdata, OpenFilesJob **ret);

/* Synchronous: the same in the calling process (forks and waits; for tests
 * and shutdown). Returns 0, or a negative errno with *ret_message (malloc'd; may be NULL). */
int open_file_finish_run(const OpenFileCreds *creds, const OpenedFile *file, OpenFileFinish action,
                         uint64_t timeout_usec, char **ret_message);

/* Where the finished file will be: the path's last component in the temporary's
 * real directory (malloc'd), or NULL when file is no OPEN_FILE_CREATE result. */
char *open_file_create_target(const OpenedFile *file);
