/* network-internal.h — pieces of the network driver shared between its files (not a public API). */
#pragma once

#include <glib.h>
#include <net/if.h>
#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "network-driver.h"

struct nl_sock;
typedef struct NetworkChild NetworkChild;
typedef struct FirewallJob FirewallJob;

struct NetworkDriver {
        sd_event *event;
        char *dir;                   /* RUN_DIR/network */
        NetworkDriverEvents events;
        struct nl_sock *nl;          /* NETLINK_ROUTE, synchronous requests */
        GList *runtimes;             /* every NetworkRuntime object (active, starting, stopping) */
        GQueue nft_queue;            /* FirewallJob*, run one at a time */
        FirewallJob *nft_running;
        sd_event_source *nft_kick;
        GHashTable *leftover_bridges; /* names of bridges a failed stop could not delete: the next start does */
};

typedef enum NetworkOp {
        NETWORK_OP_NONE,
        NETWORK_OP_START,
        NETWORK_OP_STOP,
        NETWORK_OP_UPDATE,
} NetworkOp;

struct NetworkRuntime {
        NetworkDriver *driver;
        NetworkDef *def;
        void *owner;
        char *status_path, *conf_path, *pid_path, *leases_path, *hosts_path, *addnhosts_path;

        bool bridge_created;         /* we made the bridge (start) or adopted it */
        bool firewall;               /* our chains are (or are being) loaded */
        bool needs_dnsmasq;

        pid_t dnsmasq_pid;
        int dnsmasq_pidfd;
        sd_event_source *dnsmasq_source;
        uint64_t restart_times[5];   /* CLOCK_MONOTONIC µs of the last restarts */
        unsigned n_restarts;

        NetworkChild *child;         /* dnsmasq launcher in flight */
        FirewallJob *fw_job;         /* our nft script, queued or running */
        sd_event_source *timer;      /* SIGKILL timeout while stopping dnsmasq */

        sd_event_source *kick;       /* runs the first step of an operation from the loop */
        NetworkOp op;
        int op_step;
        bool done_error_is_start;    /* the stop steps undo a failed start */
        int start_error;
        char *start_message;
        int op_error;
        char *op_message;
        DriverDoneFn done;
        void *userdata;
};

/* A runtime object for def (paths set, in d->runtimes), and its free
 * (object only: unlinks from d->runtimes, kills nothing). */
int network_runtime_new(NetworkDriver *d, const NetworkDef *def, NetworkRuntime **ret);
void network_runtime_free_object(NetworkRuntime *rt);

/* Next step of the operation in flight on rt (network-driver.c): called when
 * a child it waited for finished (r, message) or dnsmasq exited. */
void network_runtime_continue(NetworkRuntime *rt, int r, const char *message);

/* ---- child processes (network-spawn.c) ---- */

/* exit_status: the exit code, or 128+signal when killed; output: what it
 * wrote to stdout/stderr (trimmed, at most 4 KiB; never NULL). */
typedef void (*NetworkChildDoneFn)(void *userdata, int exit_status, const char *output);

/* Runs argv[0] (an absolute path) with a clean environment, no inherited fds
 * but 0–2, stdin from stdin_data (may be NULL: /dev/null), in a new session.
 * fn is called once from the loop when it exited. */
int network_child_spawn(sd_event *event, char *const *argv, const char *stdin_data, NetworkChildDoneFn fn,
                        void *userdata, NetworkChild **ret);
/* Called with userdata when the child is freed before fn ran (e.g. free). */
void network_child_set_destroy(NetworkChild *c, void (*destroy)(void *userdata));
/* Kills (SIGKILL) and reaps a child still running, without calling fn. NULL. */
NetworkChild *network_child_free(NetworkChild *c);
/* Absolute path of a program in the standard sbin/bin dirs, or NULL. malloc'd. */
char *network_find_program(const char *name);
/* pidfd_open(2); -errno. */
int network_pidfd_open(pid_t pid);
int network_pidfd_send_signal(int pidfd, int sig);

/* ---- netlink (network-netlink.c) ---- */

int network_nl_open(struct nl_sock **ret);
void network_nl_close(struct nl_sock *s);
/* ifindex of name, -ENODEV when none. */
int network_nl_ifindex(struct nl_sock *s, const char *name);
/* Link type ("bridge", "openvswitch", "tun", …; "" for plain devices) into kind[32]. */
int network_nl_link_kind(struct nl_sock *s, const char *name, char kind[32]);
/* A new bridge with MAC, MTU (0: default), STP and forward delay in one RTM_NEWLINK (-EEXIST). */
int network_nl_bridge_create(struct nl_sock *s, const char *name, const char *mac, unsigned mtu, bool stp, unsigned delay_s);
int network_nl_addr_add(struct nl_sock *s, int ifindex, const NetworkIpDef *ip);
/* Changes a link: mac/mtu/master when set (NULL/0/0), and up. */
int network_nl_link_set(struct nl_sock *s, int ifindex, const char *mac, unsigned mtu, int master_ifindex, bool up);
unsigned network_nl_link_mtu(struct nl_sock *s, int ifindex);
/* Deletes a link by name; 0 when it does not exist. */
int network_nl_link_delete(struct nl_sock *s, const char *name);

/* ---- dnsmasq (network-dnsmasq.c) ---- */

char *network_dnsmasq_config(const NetworkRuntime *rt);
char *network_dnsmasq_hostsfile(const NetworkDef *def);
char *network_dnsmasq_addnhosts(const NetworkDef *def);
/* Writes config, hostsfile and addnhosts for rt->def. */
int network_dnsmasq_write_files(NetworkRuntime *rt);
/* Launches dnsmasq (it daemonizes once its sockets are bound); fn(userdata, r, msg) when it runs. */
int network_dnsmasq_launch(NetworkRuntime *rt, DriverDoneFn fn);
/* Reads the pid file and checks /proc/PID/cmdline names our config; pid or 0. */
pid_t network_dnsmasq_find(const NetworkRuntime *rt);
/* Watches pid through a pidfd; restarts it when it exits unexpectedly. */
int network_dnsmasq_watch(NetworkRuntime *rt, pid_t pid);
void network_dnsmasq_unwatch(NetworkRuntime *rt);

/* ---- firewall (network-firewall.c) ---- */

bool network_firewall_needed(const NetworkDef *def);
/* nft script that (re)loads def's chains (idempotent). */
char *network_firewall_script_add(const NetworkDef *def);
/* nft script that removes def's chains (idempotent), and the whole table when drop_table. */
char *network_firewall_script_remove(const NetworkDef *def, bool drop_table);
/* Queues `nft -f -` with script on the driver's serial nft queue;
 * fn(userdata, r, msg) from the loop when it ran. *ret (may be NULL) is the
 * job, valid until fn runs or it is cancelled. */
int network_firewall_submit(NetworkDriver *d, const char *script, DriverDoneFn fn, void *userdata, FirewallJob **ret);
/* fn will not be called (the script still runs if it already started). */
void network_firewall_cancel(FirewallJob *j);
/* Drops the queue and kills a running nft (driver free). */
void network_firewall_queue_free(NetworkDriver *d);
int on_nft_kick(sd_event_source *s, void *userdata);
