/* test-network-forward.c — forwarding between networks through vmgmt's nftables chains, with "guests" in namespaces:
 * two guests on one network reach each other, a NAT guest reaches a routed network, an isolated network
 * forwards nothing (its guests reach only their own bridge), and the rules go away with the networks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "network-driver.h"
#include "network-internal.h"
#include "test-network-util.h"

static char run_dir[] = "/tmp/vmgmt-net-fwd-XXXXXX";

/* A guest with a static address and a default route via its bridge; runs $RUN. */
static const char *const guest_script =
        "B=/usr/bin/busybox\n"
        "$B ip link set lo up\n"
        "$B ip link set \"$IF\" up\n"
        "$B ip addr add \"$ADDR\" dev \"$IF\"\n"
        "$B ip route add default via \"$GW\"\n"
        "eval \"$RUN\"\n";

static pid_t guest(NetworkDriver *d, const char *bridge, unsigned n, const char *addr, const char *gw, const char *run) {
        _cleanup_free_ char *a = NULL, *g = NULL, *r = NULL;
        if (asprintf(&a, "ADDR=%s", addr) < 0 || asprintf(&g, "GW=%s", gw) < 0 || asprintf(&r, "RUN=%s", run) < 0)
                return -ENOMEM;
        char *env[] = { a, g, r, NULL };
        return guest_start(d->nl, bridge, n, guest_script, env);
}

static NetworkRuntime *start(NetworkDriver *d, const char *xml) {
        NetworkDef *def = NULL;
        NetworkRuntime *rt = NULL;
        ConfError err = {};
        _cleanup_(done_reset) Done done = {};
        NetworkNormalizeCtx ctx = { .ifname_exists = network_ifname_exists, .userdata = d };

        if (network_def_parse(xml, strlen(xml), &def, &err) < 0 || network_def_normalize(def, &ctx, &err) < 0) {
                fprintf(stderr, "bad XML: %s\n", strna(err.message));
                exit(1);
        }
        CHECK(network_start(d, def, NULL, &rt, done_cb, &done) == 0, "start %s", def->name);
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "start %s: %s", def->name, strna(done.message));
        network_def_free(def);
        return done.r == 0 ? rt : NULL;
}

static void stop(NetworkRuntime *rt) {
        _cleanup_(done_reset) Done done = {};
        CHECK(network_stop(rt, done_cb, &done) == 0, "stop");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "stop: %s", strna(done.message));
}

int main(void) {
        NetworkDriver *d = NULL;

        if (access("/usr/bin/busybox", X_OK) < 0) {
                fprintf(stderr, "SKIP: busybox is not installed (package busybox-static) (missing: /usr/bin/busybox)\n");
                return 77;
        }
        test_enter_netns();
        if (!mkdtemp(run_dir))
                return 1;
        chmod(run_dir, 0755);
        CHECK(network_driver_new(test_event(), run_dir, NULL, &d) == 0, "driver");

        /* stp off: ports forward at once (with STP on the kernel holds them 2×2 s) */
        NetworkRuntime *nat = start(d, "<network><name>nat</name><forward mode='nat'/><bridge name='vbnat' stp='off'/>"
                                       "<ip address='192.168.122.1' prefix='24'/></network>");
        NetworkRuntime *route = start(d, "<network><name>route</name><forward mode='route'/><bridge name='vbroute' stp='off'/>"
                                         "<ip address='10.20.0.1' prefix='24'/></network>");
        NetworkRuntime *iso = start(d, "<network><name>iso</name><bridge name='vbiso' stp='off'/>"
                                       "<ip address='10.10.0.1' prefix='24'/></network>");
        if (!nat || !route || !iso)
                return test_summary();

        /* servers: answer pings until killed (however long the checks take) */
        pid_t rserver = guest(d, "vbroute", 1, "10.20.0.5/24", "10.20.0.1", "sleep 3600");
        pid_t nserver = guest(d, "vbnat", 2, "192.168.122.50/24", "192.168.122.1", "sleep 3600");
        CHECK(rserver > 0 && nserver > 0, "servers");

        /* two guests on one network reach each other */
        pid_t p = guest(d, "vbnat", 3, "192.168.122.51/24", "192.168.122.1", "$B ping -c 1 -w 30 192.168.122.50");
        CHECK(guest_wait(d->nl, p, 3, TEST_WAIT_SEC) == 0, "guest to guest on one network");

        /* NAT guest → routed network: forwarded (and masqueraded) */
        p = guest(d, "vbnat", 4, "192.168.122.52/24", "192.168.122.1", "$B ping -c 1 -w 30 10.20.0.5");
        CHECK(guest_wait(d->nl, p, 4, TEST_WAIT_SEC) == 0, "NAT guest reaches the routed network");

        /* routed guest → NAT network: new connections into a NAT network are refused */
        p = guest(d, "vbroute", 5, "10.20.0.6/24", "10.20.0.1",
                  "$B ping -c 1 -w 30 10.20.0.1 || exit 3; $B ping -c 1 -w 3 192.168.122.50 && exit 4; exit 0");
        CHECK(guest_wait(d->nl, p, 5, TEST_WAIT_SEC) == 0, "no new connection into a NAT network");

        /* isolated guest: its own bridge yes, anything beyond no, and nothing comes in */
        p = guest(d, "vbiso", 6, "10.10.0.50/24", "10.10.0.1",
                  "$B ping -c 1 -w 30 10.10.0.1 || exit 3; $B ping -c 1 -w 3 10.20.0.5 && exit 4; "
                  "$B ping -c 1 -w 2 192.168.122.50 && exit 5; exit 0");
        CHECK(guest_wait(d->nl, p, 6, TEST_WAIT_SEC) == 0, "isolated network forwards nothing out");
        pid_t iserver = guest(d, "vbiso", 7, "10.10.0.9/24", "10.10.0.1", "sleep 3600");
        p = guest(d, "vbroute", 8, "10.20.0.7/24", "10.20.0.1", "$B ping -c 1 -w 3 10.10.0.9 && exit 4; exit 0");
        CHECK(guest_wait(d->nl, p, 8, TEST_WAIT_SEC) == 0, "isolated network forwards nothing in");

        guest_kill(d->nl, rserver, 1);
        guest_kill(d->nl, nserver, 2);
        guest_kill(d->nl, iserver, 7);
        stop(nat);
        stop(route);
        stop(iso);
        CHECK(system("nft list table inet vmgmt >/dev/null 2>&1") != 0, "table gone");
        network_driver_free(d);

        _cleanup_free_ char *cmd = NULL;
        if (asprintf(&cmd, "rm -rf '%s'", run_dir) >= 0)
                (void) system(cmd);
        return test_summary();
}
