/* network-driver.c — the network driver object and a network's lifecycle: start, stop, update, recovery. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "network-internal.h"

#define DNSMASQ_KILL_TIMEOUT_USEC (3ULL * 1000000ULL)
#define _fallthrough_ __attribute__((fallthrough))

/* ---- driver ---- */

int network_driver_new(sd_event *event, const char *run_dir, const NetworkDriverEvents *events, NetworkDriver **ret) {
        NetworkDriver *d = calloc(1, sizeof(*d));
        int r;

        if (!d)
                return -ENOMEM;
        d->event = sd_event_ref(event);
        g_queue_init(&d->nft_queue);
        d->leftover_bridges = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        if (events)
                d->events = *events;
        if (asprintf(&d->dir, "%s/network", run_dir) < 0) {
                d->dir = NULL;
                r = -ENOMEM;
                goto fail;
        }
        r = mkdir_p(d->dir, 0755);
        if (r < 0) {
                log_error_errno(r, "Cannot create %s: %m", d->dir);
                goto fail;
        }
        r = network_nl_open(&d->nl);
        if (r < 0) {
                log_error_errno(r, "Cannot open an rtnetlink socket: %m");
                goto fail;
        }
        *ret = d;
        return 0;
fail:
        network_driver_free(d);
        return r;
}


NetworkDriver *network_driver_free(NetworkDriver *d) {
        if (!d)
                return NULL;
        GList *all = TAKE_PTR(d->runtimes);
        for (GList *l = all; l; l = l->next)
                network_runtime_free_object(l->data);   /* the object only: processes and links stay */
        g_list_free(all);
        network_firewall_queue_free(d);
        network_nl_close(d->nl);
        if (d->leftover_bridges)
                g_hash_table_destroy(d->leftover_bridges);
        sd_event_unref(d->event);
        free(d->dir);
        free(d);
        return NULL;
}

bool network_bridge_is_ovs(NetworkDriver *d, const char *name) {
        char kind[32];
        return network_nl_link_kind(d->nl, name, kind) >= 0 && (streq(kind, "openvswitch") || streq(kind, "tun"));
}

bool network_ifname_exists(void *userdata, const char *name) {
        NetworkDriver *d = userdata;
        return network_nl_ifindex(d->nl, name) >= 0;
}

/* ---- runtime object ---- */

int network_runtime_new(NetworkDriver *d, const NetworkDef *def, NetworkRuntime **ret) {
        NetworkRuntime *rt = calloc(1, sizeof(*rt));
        char u[37];

        if (!rt)
                return -ENOMEM;
        rt->driver = d;
        rt->dnsmasq_pidfd = -1;
        rt->def = network_def_copy(def);
        conf_uuid_format(def->uuid, u);
        if (!rt->def || asprintf(&rt->status_path, "%s/%s.xml", d->dir, u) < 0 ||
            asprintf(&rt->conf_path, "%s/%s.conf", d->dir, u) < 0 || asprintf(&rt->pid_path, "%s/%s.pid", d->dir, u) < 0 ||
            asprintf(&rt->leases_path, "%s/%s.leases", d->dir, u) < 0 ||
            asprintf(&rt->hosts_path, "%s/%s.hostsfile", d->dir, u) < 0 ||
            asprintf(&rt->addnhosts_path, "%s/%s.addnhosts", d->dir, u) < 0) {
                network_runtime_free_object(rt);
                return -ENOMEM;
        }
        rt->needs_dnsmasq = network_def_managed_bridge(def) && def->n_ips > 0;
        d->runtimes = g_list_prepend(d->runtimes, rt);
        *ret = rt;
        return 0;
}

/* Frees the object only (no process is killed, no link deleted). */
void network_runtime_free_object(NetworkRuntime *rt) {
        if (!rt)
                return;
        rt->driver->runtimes = g_list_remove(rt->driver->runtimes, rt);
        network_dnsmasq_unwatch(rt);
        network_child_free(rt->child);
        network_firewall_cancel(rt->fw_job);
        sd_event_source_disable_unref(rt->timer);
        sd_event_source_disable_unref(rt->kick);
        network_def_free(rt->def);
        free(rt->start_message);
        free(rt->status_path);
        free(rt->conf_path);
        free(rt->pid_path);
        free(rt->leases_path);
        free(rt->hosts_path);
        free(rt->addnhosts_path);
        free(rt->op_message);
        free(rt);
}

void network_runtime_set_owner(NetworkRuntime *rt, void *owner) {
        rt->owner = owner;
}

const NetworkDef *network_runtime_def(NetworkRuntime *rt) {
        return rt->def;
}

const char *network_runtime_bridge(NetworkRuntime *rt) {
        return rt->def->bridge;
}

pid_t network_runtime_dnsmasq_pid(NetworkRuntime *rt) {
        return rt->dnsmasq_pid;
}

/* ---- completion ---- */

typedef struct Later {
        DriverDoneFn fn;
        void *userdata;
        int r;
        char *message;
        sd_event_source *source;
} Later;

static int on_later(sd_event_source *s, void *userdata) {
        Later *l = userdata;
        l->fn(l->userdata, l->r, l->message);
        free(l->message);
        sd_event_source_disable_unref(l->source);
        free(l);
        return 0;
}

/* Calls fn from the loop, so no callback runs inside the call that asked for it. */
static int call_later(sd_event *e, DriverDoneFn fn, void *userdata, int r, const char *message) {
        Later *l = calloc(1, sizeof(*l));
        int k;

        if (!l)
                return -ENOMEM;
        *l = (Later) { .fn = fn, .userdata = userdata, .r = r, .message = message ? strdup(message) : NULL };
        k = sd_event_add_defer(e, &l->source, on_later, l);
        if (k < 0) {
                free(l->message);
                free(l);
        }
        return k;
}

static void op_finish(NetworkRuntime *rt, int r, const char *message) {
        DriverDoneFn done = rt->done;
        void *userdata = rt->userdata;
        NetworkOp op = rt->op;

        rt->op = NETWORK_OP_NONE;
        rt->done = NULL;
        if (op == NETWORK_OP_STOP)
                network_runtime_free_object(rt);
        if (done)
                done(userdata, r, message);
}

static void op_fail(NetworkRuntime *rt, int r, const char *message);

static int on_kick(sd_event_source *s, void *userdata) {
        NetworkRuntime *rt = userdata;
        rt->kick = sd_event_source_disable_unref(rt->kick);
        network_runtime_continue(rt, 0, NULL);
        return 0;
}

/* Runs the operation's first step from the loop (so done never runs inside the call). */
static int runtime_kick(NetworkRuntime *rt) {
        rt->kick = sd_event_source_disable_unref(rt->kick);
        return sd_event_add_defer(rt->driver->event, &rt->kick, on_kick, rt);
}

/* ---- stop: dnsmasq, firewall, bridge, files ---- */

static bool other_firewalled(NetworkRuntime *rt) {
        for (GList *l = rt->driver->runtimes; l; l = l->next) {
                NetworkRuntime *o = l->data;
                if (o != rt && o->firewall)
                        return true;
        }
        return false;
}

static int on_kill_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        NetworkRuntime *rt = userdata;
        log_warning("Network %s: dnsmasq did not exit on SIGTERM; killing it.", rt->def->name);
        if (rt->dnsmasq_pidfd >= 0)
                (void) network_pidfd_send_signal(rt->dnsmasq_pidfd, SIGKILL);
        return 0;
}

/* SIGTERM to dnsmasq; the exit continues the operation. Returns 1 when
 * waiting, 0 when there is nothing to wait for. */
static int dnsmasq_terminate(NetworkRuntime *rt) {
        int r;

        if (rt->child) {
                /* a launcher in flight: its dnsmasq may already run; watch it to stop it */
                rt->child = network_child_free(rt->child);
                pid_t stray = rt->dnsmasq_pidfd < 0 && rt->needs_dnsmasq ? network_dnsmasq_find(rt) : 0;
                if (stray > 0)
                        (void) network_dnsmasq_watch(rt, stray);
        }
        if (rt->dnsmasq_pidfd < 0)
                return 0;
        r = network_pidfd_send_signal(rt->dnsmasq_pidfd, SIGTERM);
        if (r == -ESRCH) {
                network_dnsmasq_unwatch(rt);
                return 0;
        }
        rt->timer = sd_event_source_disable_unref(rt->timer);
        (void) sd_event_add_time_relative(rt->driver->event, &rt->timer, CLOCK_MONOTONIC, DNSMASQ_KILL_TIMEOUT_USEC, 0,
                                          on_kill_timeout, rt);
        return 1;
}

static void on_firewall_done(void *userdata, int r, const char *message) {
        NetworkRuntime *rt = userdata;
        rt->fw_job = NULL;
        network_runtime_continue(rt, r, message);
}

static void on_dnsmasq_launched(void *userdata, int r, const char *message) {
        network_runtime_continue(userdata, r, message);
}

static void remove_files(NetworkRuntime *rt) {
        const char *paths[] = { rt->conf_path, rt->pid_path, rt->leases_path, rt->hosts_path, rt->addnhosts_path,
                                rt->status_path };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                (void) unlink_noent(paths[i]);
}

static void stop_finish(NetworkRuntime *rt) {
        /* a failed start reports why it failed, not how the cleanup went */
        bool start = rt->done_error_is_start;
        _cleanup_free_ char *m = start ? TAKE_PTR(rt->start_message) : TAKE_PTR(rt->op_message);
        op_finish(rt, start ? rt->start_error : rt->op_error, m);
}

static void stop_step(NetworkRuntime *rt, int r, const char *message) {
        if (r < 0 && rt->op_error == 0) {
                /* keep going: remove all we can, report the first failure */
                rt->op_error = r;
                free(rt->op_message);
                rt->op_message = message ? strdup(message) : NULL;
        }
        switch (rt->op_step++) {
        case 0:
                if (dnsmasq_terminate(rt) > 0)
                        return;
                _fallthrough_;
        case 1:
                rt->timer = sd_event_source_disable_unref(rt->timer);
                rt->op_step = 2;
                if (rt->firewall) {
                        _cleanup_free_ char *script = network_firewall_script_remove(rt->def, !other_firewalled(rt));
                        rt->firewall = false;
                        r = network_firewall_submit(rt->driver, script, on_firewall_done, rt, &rt->fw_job);
                        if (r >= 0)
                                return;
                        if (rt->op_error == 0)
                                rt->op_error = r;
                }
                _fallthrough_;
        case 2:
                rt->op_step = 3;
                if (rt->bridge_created && network_def_managed_bridge(rt->def)) {
                        r = network_nl_link_delete(rt->driver->nl, rt->def->bridge);
                        if (r < 0) {
                                log_warning_errno(r, "Network %s: cannot delete bridge %s: %m", rt->def->name, rt->def->bridge);
                                if (rt->op_error == 0)
                                        rt->op_error = r;
                                /* the network is down all the same: the next start deletes it first */
                                g_hash_table_add(rt->driver->leftover_bridges, g_strdup(rt->def->bridge));
                        }
                        rt->bridge_created = false;
                }
                if (rt->needs_dnsmasq) {
                        pid_t stray = network_dnsmasq_find(rt);   /* e.g. one a relaunch left behind */
                        if (stray > 0)
                                (void) kill(stray, SIGTERM);
                }
                remove_files(rt);
                stop_finish(rt);
                return;
        default:
                return;
        }
}

int network_stop(NetworkRuntime *rt, DriverDoneFn done, void *userdata) {
        if (rt->op != NETWORK_OP_NONE)
                return -EBUSY;
        rt->op = NETWORK_OP_STOP;
        rt->op_step = 0;
        rt->op_error = 0;
        rt->done = done;
        rt->userdata = userdata;
        log_info("Stopping network %s.", rt->def->name);
        return runtime_kick(rt);
}

/* A start failed at some step: undo everything through the stop steps, then
 * report the start's failure. */
static void op_fail(NetworkRuntime *rt, int r, const char *message) {
        log_warning("Network %s: start failed: %s", rt->def->name, message ?: strerror(-r));
        rt->done_error_is_start = true;
        rt->start_error = r;
        rt->start_message = message ? strdup(message) : NULL;
        rt->op = NETWORK_OP_STOP;
        rt->op_step = 0;
        rt->op_error = 0;
        stop_step(rt, 0, NULL);
}

/* ---- start: bridge, forwarding, firewall, dnsmasq, status ---- */

static int write_sysctl(const char *path, const char *value) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || write(fd, value, strlen(value)) < 0)
                return -errno;
        return 0;
}

static int enable_forwarding(const NetworkDef *def) {
        bool v4 = false, v6 = false;
        int r;

        if (def->forward != NETWORK_FORWARD_NAT && def->forward != NETWORK_FORWARD_ROUTE)
                return 0;
        for (size_t i = 0; i < def->n_ips; i++) {
                v4 |= def->ips[i].family == AF_INET;
                v6 |= def->ips[i].family == AF_INET6;
        }
        if (v4 && (r = write_sysctl("/proc/sys/net/ipv4/ip_forward", "1\n")) < 0)
                return r;
        if (v6 && (r = write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1\n")) < 0)
                return r;
        return 0;
}

/* Creates (or, for mode bridge, checks) the bridge. Sets *msg on failure. */
static int setup_links(NetworkRuntime *rt, char **msg) {
        NetworkDriver *d = rt->driver;
        const NetworkDef *def = rt->def;
        char kind[32];
        int ifindex, r;

        if (!network_def_managed_bridge(def)) {
                _cleanup_free_ char *ovs = def->virtualport_ovs ? network_find_program("ovs-vsctl") : NULL;
                if (def->virtualport_ovs && !ovs)
                        return asprintf(msg, "network '%s' uses openvswitch bridge '%s', but ovs-vsctl is not installed "
                                        "(package openvswitch-switch)", def->name, def->bridge) < 0 ? -ENOMEM : -ENOENT;
                r = network_nl_link_kind(d->nl, def->bridge, kind);
                if (r == -ENODEV)
                        return asprintf(msg, "host bridge '%s' does not exist", def->bridge) < 0 ? -ENOMEM : -ENODEV;
                if (r < 0)
                        return r;
                /* an openvswitch bridge's device: kind openvswitch (kernel datapath) or a tap (userspace datapath) */
                if (def->virtualport_ovs && streq(kind, "tun"))
                        return 0;
                if (!streq(kind, def->virtualport_ovs ? "openvswitch" : "bridge"))
                        return asprintf(msg, "'%s' is not %s (its type is '%s')", def->bridge,
                                        def->virtualport_ovs ? "an openvswitch bridge" : "a Linux bridge", kind) < 0 ? -ENOMEM : -EINVAL;
                return 0;
        }

        if (g_hash_table_contains(d->leftover_bridges, def->bridge)) {
                r = network_nl_link_delete(d->nl, def->bridge);
                if (r < 0 && r != -ENODEV)
                        return asprintf(msg, "cannot delete bridge '%s' left by an earlier stop: %s", def->bridge,
                                        strerror(-r)) < 0 ? -ENOMEM : r;
                g_hash_table_remove(d->leftover_bridges, def->bridge);
        }
        r = network_nl_bridge_create(d->nl, def->bridge, def->mac, def->mtu, def->stp != 0, def->delay < 0 ? 0 : (unsigned) def->delay);
        if (r == -EEXIST)
                return asprintf(msg, "an interface named '%s' already exists", def->bridge) < 0 ? -ENOMEM : r;
        if (r < 0)
                return asprintf(msg, "cannot create bridge '%s': %s", def->bridge, strerror(-r)) < 0 ? -ENOMEM : r;
        rt->bridge_created = true;
        ifindex = network_nl_ifindex(d->nl, def->bridge);
        if (ifindex < 0)
                return ifindex;
        for (size_t i = 0; i < def->n_ips; i++) {
                r = network_nl_addr_add(d->nl, ifindex, &def->ips[i]);
                if (r < 0)
                        return asprintf(msg, "cannot add address %s/%u to bridge '%s': %s", def->ips[i].address,
                                        def->ips[i].prefix, def->bridge, strerror(-r)) < 0 ? -ENOMEM : r;
        }
        r = network_nl_link_set(d->nl, ifindex, NULL, 0, 0, true);
        if (r < 0)
                return asprintf(msg, "cannot bring bridge '%s' up: %s", def->bridge, strerror(-r)) < 0 ? -ENOMEM : r;
        r = enable_forwarding(def);
        if (r < 0)
                return asprintf(msg, "cannot enable IP forwarding: %s", strerror(-r)) < 0 ? -ENOMEM : r;
        return 0;
}

static int write_status(NetworkRuntime *rt) {
        _cleanup_free_ char *xml = network_def_format(rt->def);
        if (!xml)
                return -ENOMEM;
        return write_file_atomic_nosync(rt->status_path, xml, strlen(xml), 0644);
}

static void start_step(NetworkRuntime *rt, int r, const char *message) {
        _cleanup_free_ char *msg = NULL;

        if (r < 0) {
                op_fail(rt, r, message);
                return;
        }
        switch (rt->op_step++) {
        case 0:
                r = setup_links(rt, &msg);
                if (r < 0) {
                        op_fail(rt, r, msg);
                        return;
                }
                _fallthrough_;
        case 1:
                rt->op_step = 2;
                if (network_def_managed_bridge(rt->def) && network_firewall_needed(rt->def)) {
                        _cleanup_free_ char *script = network_firewall_script_add(rt->def);
                        rt->firewall = true;
                        r = network_firewall_submit(rt->driver, script, on_firewall_done, rt, &rt->fw_job);
                        if (r < 0) {
                                op_fail(rt, r, "cannot queue the firewall rules");
                                return;
                        }
                        return;
                }
                _fallthrough_;
        case 2:
                rt->op_step = 3;
                if (rt->needs_dnsmasq) {
                        (void) unlink_noent(rt->pid_path);
                        r = network_dnsmasq_write_files(rt);
                        if (r < 0) {
                                op_fail(rt, r, "cannot write the dnsmasq configuration");
                                return;
                        }
                        r = network_dnsmasq_launch(rt, on_dnsmasq_launched);
                        if (r < 0) {
                                op_fail(rt, r, r == -ENOENT ? "dnsmasq is not installed" : "cannot run dnsmasq");
                                return;
                        }
                        return;
                }
                _fallthrough_;
        case 3:
                r = write_status(rt);
                if (r < 0) {
                        op_fail(rt, r, "cannot write the network's status file");
                        return;
                }
                log_info("Network %s started (bridge %s).", rt->def->name, rt->def->bridge);
                op_finish(rt, 0, NULL);
                return;
        default:
                return;
        }
}

int network_start(NetworkDriver *d, const NetworkDef *def, void *owner, NetworkRuntime **ret_rt,
                  DriverDoneFn done, void *userdata) {
        NetworkRuntime *rt;
        int r;

        if (!def->bridge || !def->has_uuid)
                return -EINVAL;   /* not normalized */
        r = network_runtime_new(d, def, &rt);
        if (r < 0)
                return r;
        rt->owner = owner;
        rt->op = NETWORK_OP_START;
        rt->done = done;
        rt->userdata = userdata;
        r = runtime_kick(rt);
        if (r < 0) {
                network_runtime_free_object(rt);
                return r;
        }
        log_info("Starting network %s.", def->name);
        *ret_rt = rt;
        return 0;
}

/* ---- live update ---- */

static bool same_links(const NetworkDef *a, const NetworkDef *b) {
        if (a->forward != b->forward || !streq_ptr(a->bridge, b->bridge) || !streq_ptr(a->forward_dev, b->forward_dev) ||
            a->mtu != b->mtu || !streq_ptr(a->mac, b->mac) || !streq_ptr(a->nat_start, b->nat_start) ||
            !streq_ptr(a->nat_end, b->nat_end) || a->nat_port_start != b->nat_port_start ||
            a->nat_port_end != b->nat_port_end || a->stp != b->stp || a->delay != b->delay || a->n_ips != b->n_ips)
                return false;
        for (size_t i = 0; i < a->n_ips; i++)
                if (network_addr_cmp(&a->ips[i].addr, &b->ips[i].addr) != 0 || a->ips[i].prefix != b->ips[i].prefix)
                        return false;
        return true;
}

static void update_step(NetworkRuntime *rt, int r, const char *message) {
        if (r < 0) {
                op_finish(rt, r, message);
                return;
        }
        switch (rt->op_step++) {
        case 0:
                if (dnsmasq_terminate(rt) > 0)
                        return;
                _fallthrough_;
        case 1:
                rt->timer = sd_event_source_disable_unref(rt->timer);
                rt->op_step = 2;
                r = network_dnsmasq_launch(rt, on_dnsmasq_launched);
                if (r < 0) {
                        op_finish(rt, r, "cannot run dnsmasq");
                        return;
                }
                return;
        case 2:
                op_finish(rt, 0, NULL);
                return;
        default:
                return;
        }
}

int network_runtime_update(NetworkRuntime *rt, const NetworkDef *def, DriverDoneFn done, void *userdata) {
        _cleanup_free_ char *old_conf = NULL, *new_conf = NULL;
        NetworkDef *copy, *old_def;
        int r;

        if (rt->op != NETWORK_OP_NONE)
                return -EBUSY;
        if (!same_links(rt->def, def))
                return -EOPNOTSUPP;
        copy = network_def_copy(def);
        if (!copy)
                return -ENOMEM;
        old_conf = rt->needs_dnsmasq ? network_dnsmasq_config(rt) : NULL;
        /* The files are written from rt->def, so install the copy while writing
         * them, and put the old definition (and its files) back if that fails:
         * a failed update leaves the running network as it was. */
        old_def = rt->def;
        rt->def = copy;
        r = write_status(rt);
        if (r >= 0 && rt->needs_dnsmasq) {
                new_conf = network_dnsmasq_config(rt);
                r = network_dnsmasq_write_files(rt);
        }
        if (r < 0) {
                rt->def = old_def;
                network_def_free(copy);
                (void) write_status(rt);
                if (rt->needs_dnsmasq)
                        (void) network_dnsmasq_write_files(rt);
                return r;
        }
        network_def_free(old_def);
        if (!rt->needs_dnsmasq)
                return call_later(rt->driver->event, done, userdata, 0, NULL);

        if (old_conf && new_conf && streq(old_conf, new_conf) && rt->dnsmasq_pidfd >= 0 &&
            network_pidfd_send_signal(rt->dnsmasq_pidfd, SIGHUP) >= 0) {
                log_debug("Network %s: dnsmasq reloads its hosts files.", rt->def->name);
                return call_later(rt->driver->event, done, userdata, 0, NULL);
        }
        rt->op = NETWORK_OP_UPDATE;
        rt->op_step = 0;
        rt->done = done;
        rt->userdata = userdata;
        r = runtime_kick(rt);
        if (r < 0)
                rt->op = NETWORK_OP_NONE;
        return r;
}

void network_runtime_continue(NetworkRuntime *rt, int r, const char *message) {
        switch (rt->op) {
        case NETWORK_OP_START:
                start_step(rt, r, message);
                break;
        case NETWORK_OP_STOP:
                stop_step(rt, r, message);
                break;
        case NETWORK_OP_UPDATE:
                update_step(rt, r, message);
                break;
        default:
                break;
        }
}
