/* test-network-dhcp.c — DHCP clients (busybox udhcpc) and an IPv6 SLAAC guest in namespaces of their own, on veths to started networks:
 * leases (dynamic, static, added live) reported by the driver, pings to the bridge, router advertisements.
 *
 * Two namespaces, both created here: the test's own (bridge, dnsmasq, nft) and
 * a "guest" one holding the other end of the veth. Nothing leaves them. */
#include <errno.h>
#include <fcntl.h>
#include <netlink/route/link.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "network-driver.h"
#include "network-internal.h"
#include "test-network-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(NetworkDef *, network_def_free);

static char run_dir[] = "/tmp/vmgmt-net-dhcp-XXXXXX";

static const char *const xml =
        "<network><name>default</name><forward mode='nat'/><bridge name='virbr0'/><domain name='example.test'/>"
        "<ip address='192.168.122.1' netmask='255.255.255.0'><dhcp><range start='192.168.122.100' end='192.168.122.110'/>"
        "<host mac='52:54:00:00:00:05' name='fixed' ip='192.168.122.5'/></dhcp></ip></network>";

/* The guest configures its interface like a booted guest would (DHCP) and
 * pings the bridge. Exit 0 when all worked. */
static const char *const guest_script =
        "set -e\n"
        "B=/usr/bin/busybox\n"
        "$B ip link set lo up\n"
        "$B ip link set \"$IF\" address \"$MAC\"\n"
        "$B ip link set \"$IF\" up\n"
        "$B udhcpc -i \"$IF\" -n -q -f -t 60 -T 1 -x hostname:\"$NAME\" -s \"$SCRIPT\"\n"
        "$B ping -c 1 -w 30 192.168.122.1\n";

/* udhcpc's hook: put the leased address on the interface */
static const char *const udhcpc_hook =
        "#!/bin/sh\n"
        "[ \"$1\" = bound ] && /usr/bin/busybox ip addr add \"$ip/$mask\" dev \"$interface\"\n"
        "exit 0\n";

static unsigned n_guests;

static int run_guest(NetworkDriver *d, const char *mac, const char *name, const char *hook) {
        _cleanup_free_ char *m = NULL, *h = NULL, *sc = NULL;
        unsigned n = n_guests++;
        if (asprintf(&m, "MAC=%s", mac) < 0 || asprintf(&h, "NAME=%s", name) < 0 || asprintf(&sc, "SCRIPT=%s", hook) < 0)
                return -ENOMEM;
        char *env[] = { m, h, sc, NULL };
        pid_t pid = guest_start(d->nl, "virbr0", n, guest_script, env);
        if (pid < 0)
                return pid;
        return guest_wait(d->nl, pid, n, 2 * TEST_WAIT_SEC);
}

static const NetworkLease *find_lease(NetworkLease *l, size_t n, const char *mac) {
        for (size_t i = 0; i < n; i++)
                if (streq_ptr(l[i].mac, mac))
                        return &l[i];
        return NULL;
}

int main(void) {
        _cleanup_(network_def_freep) NetworkDef *def = NULL;
        _cleanup_free_ char *hook = NULL;
        NetworkDriver *d = NULL;
        NetworkRuntime *rt = NULL;
        NetworkLease *leases = NULL;
        size_t n = 0;
        ConfError err = {};
        _cleanup_(done_reset) Done done = {};

        if (access("/usr/bin/busybox", X_OK) < 0) {
                fprintf(stderr, "SKIP: busybox is not installed (package busybox-static) (missing: /usr/bin/busybox)\n");
                return 77;
        }
        test_enter_netns();
        if (!mkdtemp(run_dir))
                return 1;
        chmod(run_dir, 0755);
        if (asprintf(&hook, "%s/udhcpc-hook", run_dir) < 0 || write_file_atomic_nosync(hook, udhcpc_hook, strlen(udhcpc_hook), 0755) < 0)
                return 1;

        CHECK(network_driver_new(test_event(), run_dir, NULL, &d) == 0, "driver");
        NetworkNormalizeCtx ctx = { .ifname_exists = network_ifname_exists, .userdata = d };
        if (network_def_parse(xml, strlen(xml), &def, &err) < 0 || network_def_normalize(def, &ctx, &err) < 0)
                return 1;
        CHECK(network_start(d, def, NULL, &rt, done_cb, &done) == 0, "start");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "start: %s", strna(done.message));
        if (done.r < 0)
                return 1;

        /* a dynamic lease from the range, with the client's host name */
        CHECK(run_guest(d, "52:54:00:12:00:01", "guest1", hook) == 0, "guest 1 got a lease and pinged the bridge");
        CHECK(network_runtime_leases(rt, &leases, &n) == 0, "leases");
        const NetworkLease *l = find_lease(leases, n, "52:54:00:12:00:01");
        CHECK(l && l->family == AF_INET && l->prefix == 24 && streq_ptr(l->hostname, "guest1") && l->expiry > 0 &&
              strncmp(l->ip, "192.168.122.10", 14) == 0, "lease of guest 1: %s %s", l ? l->ip : "none", l ? strna(l->hostname) : "");
        network_leases_free(leases, n);

        /* the static host gets its fixed address */
        CHECK(run_guest(d, "52:54:00:00:00:05", "whatever", hook) == 0, "guest 2 got a lease");
        CHECK(network_runtime_leases(rt, &leases, &n) == 0, "leases");
        l = find_lease(leases, n, "52:54:00:00:00:05");
        CHECK(l && streq(l->ip, "192.168.122.5"), "static host lease: %s", l ? l->ip : "none");
        CHECK(find_lease(leases, n, "52:54:00:12:00:01"), "the first lease is still there");
        network_leases_free(leases, n);

        /* a DHCP host added live is served once dnsmasq re-read its files (the
         * update is done when dnsmasq got its SIGHUP; a DNS host added with it
         * answers once it has re-read them all) */
        CHECK(network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_LAST, -1,
                                 "<host mac='52:54:00:00:00:07' name='seven' ip='192.168.122.7'/>", &err) == 0, "update");
        CHECK(network_def_update(def, "dns-host", NETWORK_UPDATE_ADD_LAST, -1,
                                 "<host ip='192.168.122.77'><hostname>reloaded</hostname></host>", &err) == 0, "update");
        done_reset(&done);
        CHECK(network_runtime_update(rt, def, done_cb, &done) == 0, "live update");
        wait_done(&done, TEST_WAIT_SEC);
        {
                uint8_t answer[4] = { 0 };
                CHECK(wait_dns_a("192.168.122.1", "reloaded", answer, TEST_WAIT_SEC) == 0 && answer[3] == 77,
                      "dnsmasq re-read its files after the live update");
        }
        CHECK(run_guest(d, "52:54:00:00:00:07", "x", hook) == 0, "guest 3 got a lease");
        CHECK(network_runtime_leases(rt, &leases, &n) == 0, "leases");
        l = find_lease(leases, n, "52:54:00:00:00:07");
        CHECK(l && streq(l->ip, "192.168.122.7") && streq_ptr(l->hostname, "seven"), "live-added host: %s", l ? l->ip : "none");
        network_leases_free(leases, n);

        /* IPv6: router advertisements from dnsmasq give the guest a SLAAC address */
        NetworkDef *def6 = NULL;
        NetworkRuntime *rt6 = NULL;
        const char *xml6 = "<network><name>v6</name><bridge name='vb6' stp='off'/><ip family='ipv6' address='fd00:40::1' prefix='64'/></network>";
        CHECK(network_def_parse(xml6, strlen(xml6), &def6, &err) == 0 && network_def_normalize(def6, &ctx, &err) == 0, "v6 def");
        done_reset(&done);
        CHECK(network_start(d, def6, NULL, &rt6, done_cb, &done) == 0, "start v6");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "start v6: %s", strna(done.message));
        pid_t g = guest_start(d->nl, "vb6", 50,
                              "B=/usr/bin/busybox; $B ip link set lo up; $B ip link set \"$IF\" up\n"
                              "for i in $($B seq 1 120); do $B ip -6 addr show dev \"$IF\" | $B grep -q 'inet6 fd00:40::' && break; $B sleep 0.5; done\n"
                              "$B ip -6 addr show dev \"$IF\"\n"
                              "$B ping -6 -c 1 -w 30 fd00:40::1\n", NULL);
        CHECK(g > 0 && guest_wait(d->nl, g, 50, 2 * TEST_WAIT_SEC) == 0, "guest got an RA address and pinged the bridge over IPv6");
        done_reset(&done);
        CHECK(network_stop(rt6, done_cb, &done) == 0, "stop v6");
        wait_done(&done, TEST_WAIT_SEC);
        network_def_free(def6);

        done_reset(&done);
        CHECK(network_stop(rt, done_cb, &done) == 0, "stop");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "stop: %s", strna(done.message));
        network_driver_free(d);
        conf_error_clear(&err);

        _cleanup_free_ char *cmd = NULL;
        if (asprintf(&cmd, "rm -rf '%s'", run_dir) >= 0)
                (void) system(cmd);
        return test_summary();
}
