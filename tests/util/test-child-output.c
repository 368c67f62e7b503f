/* test-child-output.c — child_output_run() with real children (/bin/sh): the answer and its exit
 * status, input on stdin, the deadline and the size limit killing the child and what it started,
 * a free before the end (no callback, nothing left running), no fd left behind. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../qemu/test-helpers.h"
#include "child-output.h"

typedef struct Got {
        bool called;
        int error, code, status;
        char *output;
        size_t size;
} Got;

static void on_done(void *userdata, const ChildResult *res) {
        Got *g = userdata;

        g->called = true;
        g->error = res->error;
        g->code = res->code;
        g->status = res->status;
        g->output = strdup(res->output);
        g->size = res->size;
}

/* Runs `sh -c script` to its end in a loop of its own. */
static Got run(const char *script, const char *input, size_t max, uint64_t timeout_usec) {
        char *const argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) script, NULL };
        sd_event *e = NULL;
        ChildOutput *c = NULL;
        Got g = {};

        CHECK(sd_event_new(&e) >= 0);
        CHECK(child_output_run(e, argv, input, max, timeout_usec, on_done, &g, &c) == 0);
        while (!g.called && sd_event_run(e, 30u * 1000000u) >= 0)
                ;
        sd_event_unref(e);
        return g;
}

/* Whether pid runs: there, and no zombie (a killed orphan waits for init to reap it). */
static bool pid_alive(pid_t pid) {
        char path[64], buf[512];
        FILE *f;
        const char *p;
        bool alive = false;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
                alive = p[2] != 'Z' && p[2] != 'X';
        fclose(f);
        return alive;
}

int main(void) {
        unsigned fds = count_fds();
        Got g;

        /* the answer, and how it ended */
        g = run("echo hello; echo world", NULL, 1024, 10u * 1000000u);
        CHECK(g.called && g.error == 0 && g.code == CLD_EXITED && g.status == 0);
        CHECK_STREQ(g.output, "hello\nworld\n");
        CHECK(g.size == 12);
        free(g.output);
        g = run("printf partial; exit 3", NULL, 1024, 10u * 1000000u);
        CHECK(g.error == 0 && g.code == CLD_EXITED && g.status == 3);
        CHECK_STREQ(g.output, "partial");
        free(g.output);
        g = run("kill -9 $$", NULL, 1024, 10u * 1000000u);
        CHECK(g.error == 0 && g.code == CLD_KILLED && g.status == SIGKILL);
        free(g.output);

        /* stdin: the input, then EOF; none: /dev/null */
        g = run("tr a-z A-Z", "ask me\n", 1024, 10u * 1000000u);
        CHECK_STREQ(g.output, "ASK ME\n");
        free(g.output);
        g = run("wc -c", NULL, 1024, 10u * 1000000u);
        CHECK(g.output && atoi(g.output) == 0);
        free(g.output);

        /* the deadline kills it and what it started (its grandchild's pid is its answer) */
        g = run("sleep 600 & echo $!; wait", NULL, 1024, 300u * 1000u);
        CHECK(g.error == -ETIMEDOUT);
        pid_t grandchild = g.output ? (pid_t) atoi(g.output) : 0;
        CHECK(grandchild > 0);
        for (int i = 0; i < 500 && grandchild > 0 && pid_alive(grandchild); i++)
                usleep(10000);   /* killed at once; reaped by init on its own time */
        CHECK(grandchild > 0 && !pid_alive(grandchild));
        free(g.output);

        /* the size limit: killed, what fit is kept */
        g = run("while :; do echo 0123456789; done", NULL, 1000, 30u * 1000000u);
        CHECK(g.error == -EFBIG);
        CHECK(g.size == 1000);
        free(g.output);
        g = run("printf 0123456789", NULL, 10, 10u * 1000000u);   /* exactly the limit is fine */
        CHECK(g.error == 0 && g.size == 10);
        free(g.output);

        /* freed before its end: no callback, the child is killed */
        {
                char *const argv[] = { (char *) "/bin/sleep", (char *) "600", NULL };
                sd_event *e = NULL;
                ChildOutput *c = NULL;
                Got never = {};
                pid_t pid;

                CHECK(sd_event_new(&e) >= 0);
                CHECK(child_output_run(e, argv, NULL, 64, 600u * 1000000u, on_done, &never, &c) == 0);
                pid = child_output_pid(c);
                CHECK(pid > 0);
                child_output_free(c);
                for (int i = 0; i < 200 && sd_event_run(e, 10000) >= 0 && pid_alive(pid); i++)
                        ;
                sd_event_unref(e);   /* reaps it, boundedly, if the loop did not */
                CHECK(!pid_alive(pid));
                CHECK(!never.called);
        }

        /* an exec failure is the caller's error, nothing runs */
        {
                char *const argv[] = { (char *) "/nonexistent/program", NULL };
                sd_event *e = NULL;
                ChildOutput *c = NULL;
                Got never = {};

                CHECK(sd_event_new(&e) >= 0);
                CHECK(child_output_run(e, argv, NULL, 64, 1000000u, on_done, &never, &c) == -ENOENT);
                sd_event_unref(e);
        }
        CHECK(count_fds() == fds);
        return TEST_EXIT();
}
