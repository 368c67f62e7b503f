/* child-output.h — a short-lived child whose standard output is its answer (an emulator asked for
 * its version, machines or QMP capabilities): run from an sd-event loop with a deadline and a size
 * limit, and killed together with whatever it started when it passes either. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>
#include <sys/types.h>

typedef struct ChildOutput ChildOutput;

typedef struct ChildResult {
        int error;              /* 0; -ETIMEDOUT past the deadline, -EFBIG past the size limit, or a
                                 * negative errno of reading or waiting: then code/status say nothing */
        int code;               /* CLD_EXITED, CLD_KILLED, CLD_DUMPED */
        int status;             /* its exit status or signal */
        char *output;           /* what it wrote to stdout, NUL-terminated; the callback may change it, not keep it */
        size_t size;
} ChildResult;

/* Called once, after the child was reaped; the ChildOutput is freed when it returns. */
typedef void (*ChildOutputFn)(void *userdata, const ChildResult *result);

/* Runs argv (an absolute argv[0]) with spawn_child(): LC_ALL=C and PATH only, stderr on /dev/null,
 * no other fd, in a session of its own; stdin reads `input` (NULL: /dev/null), written before the
 * child runs, so at most a pipe's buffer (64 KiB). Returns 0 with *ret, whose pid is the child's;
 * or a negative errno (an exec failure among them) and nothing runs. */
int child_output_run(sd_event *event, char *const *argv, const char *input, size_t max_output,
                     uint64_t timeout_usec, ChildOutputFn fn, void *userdata, ChildOutput **ret);

pid_t child_output_pid(const ChildOutput *c);

/* Kills a child still running (the loop reaps it); fn is not called. */
ChildOutput *child_output_free(ChildOutput *c);
