/* domain-stream.h — byte streams for callers that cannot receive or send file
 * descriptors (vmgmtctl -H: the ssh stdio bridge carries no fds). */
#pragma once

#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "manager.h"

/* One connection's wait for the stream, at most. */
#define VM_STREAM_CONNECT_USEC (60 * 1000000ULL)

/* Takes fd (what the caller would have been handed: a console's or display's
 * socket, the writing end a screenshot goes into) and offers it as a unix
 * socket RUN/streams/TOKEN (TOKEN: 128 random bits), owned by uid with mode
 * 0600 in a directory nobody may list: the first connection whose peer
 * (SO_PEERCRED) is uid is relayed both ways to fd, the socket file is removed
 * then, and the relay ends when both sides did (or one failed). Nobody
 * connecting within VM_STREAM_CONNECT_USEC closes fd. *ret_path: the socket's
 * path (over ssh: `ssh -L LOCAL:PATH` or a direct-streamlocal channel). */
int vm_stream_new(Manager *m, uid_t uid, int fd, const char *what, char **ret_path);

/* The uid of message's sender (the stream's owner). */
int vm_stream_caller_uid(Manager *m, sd_bus_message *message, uid_t *ret);

void vm_streams_free(void);
