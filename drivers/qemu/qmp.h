/* qmp.h — asynchronous QMP (QEMU Machine Protocol) client on sd-event.
 *
 * One Qmp object is one monitor connection: connect (non-blocking, retrying
 * while qemu has not created/listened on the socket yet), read the greeting,
 * negotiate capabilities, then send commands (each reply is matched by its
 * "id" and delivered to that command's callback) and receive asynchronous
 * events. Nothing blocks: reads and writes are buffered and driven by the
 * event loop, so partial reads/writes, several messages in one read and
 * replies of any size (up to QMP_MAX_MESSAGE) work.
 *
 * Callbacks may call qmp_free() on the object they are called for. */
#pragma once

#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "json-util.h"

#define QMP_MAX_MESSAGE (64u * 1024u * 1024u)

typedef struct Qmp Qmp;

typedef struct QmpCallbacks {
        /* Greeting read and qmp_capabilities accepted: commands may flow. */
        void (*ready)(Qmp *q, void *userdata);
        /* An asynchronous event ("STOP", "SHUTDOWN", …); data is the event's
         * "data" member (NULL when absent), valid during the call only. */
        void (*event)(Qmp *q, const char *name, const JsonValue *data, uint64_t timestamp_usec, void *userdata);
        /* The connection is gone (EOF/HUP, I/O or protocol error, connect
         * timeout); error is 0 for a clean EOF or -errno. Called at most once;
         * pending commands have already got their callback with -ECONNRESET. */
        void (*disconnected)(Qmp *q, int error, void *userdata);
} QmpCallbacks;

/* Reply to one command: r = 0 with `ret` the reply's "return" value; or
 * r = -EIO with `error` "Class: description" as qemu said it; or -ECONNRESET
 * when the connection went away first (error NULL). ret is valid during the
 * call only. Not called when the Qmp is freed with the command pending. */
typedef void (*QmpReplyFn)(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata);

/* Creates a client for the unix socket at `socket_path` (must fit sun_path:
 * callers with long paths pass /proc/self/fd/DIRFD/NAME). Nothing happens
 * until qmp_connect(). Returns 0 or -errno (-ENAMETOOLONG). */
int qmp_new(sd_event *event, const char *socket_path, const QmpCallbacks *callbacks, void *userdata, Qmp **ret);

/* Creates a client over an already connected stream socket (taken, also on
 * failure); the greeting is expected at once. For tests and for callers that
 * connect themselves. */
int qmp_new_fd(sd_event *event, int fd, const QmpCallbacks *callbacks, void *userdata, Qmp **ret);

/* Starts connecting: tries at once and retries on ENOENT/ECONNREFUSED/EAGAIN
 * with a short back-off until timeout_usec has passed, then reports
 * disconnected(-ETIMEDOUT). Returns 0 or -errno (a hard connect error). */
/* Connects only to a socket served by process pid (SO_PEERCRED): a confined
 * qemu owns the directory of its monitor socket and could put another
 * process's socket (or a symlink to one) in its place. Before qmp_connect(). */
void qmp_set_peer_pid(Qmp *q, pid_t pid);
int qmp_connect(Qmp *q, uint64_t timeout_usec);

/* Closes the connection and frees the object (later, if called from one of its
 * callbacks). Pending command callbacks are dropped silently. NULL-safe. */
Qmp *qmp_free(Qmp *q);

/* Sends {"execute": command, "arguments": arguments, "id": N}. arguments is
 * taken (NULL: none). fn may be NULL (reply ignored). Commands sent before
 * ready are queued behind qmp_capabilities. Returns 0, -ENOTCONN after the
 * connection is gone, -ENOMEM. */
int qmp_send(Qmp *q, const char *command, JsonValue *arguments, QmpReplyFn fn, void *userdata);

/* As qmp_send(), and passes a duplicate of `fd` (the caller keeps its own)
 * with the command's first byte (SCM_RIGHTS): for "getfd" {"fdname": …} and
 * "add-fd" {"fdset-id": …}, which take the descriptor that came with them.
 * Only once ready (else -ENOTCONN); -EBADF for fd < 0. */
int qmp_send_with_fd(Qmp *q, const char *command, JsonValue *arguments, int fd, QmpReplyFn fn, void *userdata);

/* True once ready() has been called and the connection is still up. */
bool qmp_is_ready(const Qmp *q);

/* Feeds bytes as if read from the socket (for tests and fuzzing): frames
 * lines, parses and dispatches them. Returns 0, or -EPROTO/-EMSGSIZE after
 * which the connection is considered broken. */
int qmp_feed(Qmp *q, const char *data, size_t len);
