/* test-network-util.h — helpers for the network driver tests: checks, the event loop, a namespace, DNS queries. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-event.h>

#include "network-driver.h"

extern int test_failures;

#define CHECK(cond, ...)                                                                        \
        do {                                                                                    \
                if (!(cond)) {                                                                  \
                        fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond);         \
                        fprintf(stderr, __VA_ARGS__);                                           \
                        fputc('\n', stderr);                                                    \
                        test_failures++;                                                        \
                }                                                                               \
        } while (0)

/* Moves the test into new network, pid and mount namespaces (the caller
 * continues as pid 1 of them, with its own /proc and an empty /tmp; the original process only
 * waits and passes the exit status on) and brings lo up. Exits 77 (skip)
 * when not allowed. */
void test_enter_netns(void);
/* Parses and normalizes test XML (exits on failure: the test's own XML is wrong). */
NetworkDef *test_network_def(NetworkDriver *d, const char *xml);

/* prints the result; the exit code for main */
int test_summary(void);

/* Bounds a wait for an event or a state: only a hang runs into it (the
 * machine may be loaded); nothing is asserted about how long anything takes. */
#define TEST_WAIT_SEC 60

sd_event *test_event(void);
/* runs the loop for ms milliseconds */
void pump(unsigned ms);
/* runs the loop until cond(data) holds; false if it still did not after seconds */
bool wait_for(bool (*cond)(void *data), void *data, unsigned seconds);

typedef struct Done {
        bool called;
        int r;
        char *message;
} Done;
void done_cb(void *userdata, int r, const char *message);
void done_reset(Done *d);   /* frees the message, zeroes */
/* runs the loop until done->called (fails the test after seconds) */
void wait_done(Done *done, unsigned seconds);
/* runs the loop until *counter ≥ target */
void wait_until(unsigned *counter, unsigned target, unsigned seconds);

typedef struct RecoverResult {
        unsigned n;
        NetworkDef *def;
        NetworkRuntime *rt;
} RecoverResult;
void recover_cb(void *userdata, NetworkDef *def, NetworkRuntime *rt);

/* The process exists and is not a zombie. */
bool pid_alive(pid_t pid);

/* stdout of a shell command (malloc'd) or NULL when it failed */
char *run_output(const char *cmd);
char *read_text(const char *path);   /* leaks: for checks only */
bool read_text_starts(const char *path, const char *prefix);

/* Asks server (IPv4, port 53, UDP) for name's A record. 0 and the address in out, or -errno. */
int dns_query_a(const char *server, const char *name, uint8_t out[4]);
/* dns_query_a() again and again (running the loop) until it answers, for up to seconds: after a
 * reload the server answers once it has re-read its files. */
int wait_dns_a(const char *server, const char *name, uint8_t out[4], unsigned seconds);

/* ---- "guests": a process in a network namespace of its own, on a veth to a bridge ---- */

struct nl_sock;

/* Forks a child in a new network namespace with the veth end named IF
 * ("vg<n>"; the host end "vh<n>" is attached to bridge and up) and runs
 * script with /bin/sh there; env entries ("K=V") are added. Returns the pid
 * (its own process group) or -errno. */
pid_t guest_start(struct nl_sock *nl, const char *bridge, unsigned n, const char *script, char *const *env);
/* Waits (pumping the loop) for the guest's exit: its exit status, or
 * -ETIMEDOUT after seconds (then it is killed). Removes its veth. */
int guest_wait(struct nl_sock *nl, pid_t pid, unsigned n, unsigned seconds);
/* Kills a guest still running (a "server") and removes its veth. */
void guest_kill(struct nl_sock *nl, pid_t pid, unsigned n);
