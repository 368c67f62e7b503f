/* test-network-driver.c — the network driver against real netlink, dnsmasq and nft, inside a network namespace of its own.
 *
 * Runs as root. The first thing main() does is test_enter_netns(): every
 * bridge, tap, nft table and packet of this test lives and dies in that
 * namespace; the host's interfaces and firewall are never touched. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netlink/route/link.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "network-driver.h"
#include "network-internal.h"
#include "test-network-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(NetworkDef *, network_def_free);

static char run_dir[] = "/tmp/vmgmt-net-test-XXXXXX";

static const char *const nat_xml =
        "<network><name>default</name><forward mode='nat'/><bridge name='virbr0'/>"
        "<dns><host ip='192.168.122.77'><hostname>testhost</hostname></host></dns>"
        "<ip address='192.168.122.1' netmask='255.255.255.0'><dhcp><range start='192.168.122.2' end='192.168.122.254'/>"
        "<host mac='52:54:00:00:00:05' name='fixed' ip='192.168.122.5'/></dhcp></ip>"
        "<ip family='ipv6' address='fd00:122::1' prefix='64'><dhcp><range start='fd00:122::100' end='fd00:122::1ff'/></dhcp></ip>"
        "</network>";

static unsigned n_dnsmasq_events;
static bool last_restarted;

static void on_dnsmasq_exited(void *owner, bool restarted, const char *message) {
        n_dnsmasq_events++;
        last_restarted = restarted;
}

static const NetworkDriverEvents events = { .dnsmasq_exited = on_dnsmasq_exited };


/* ---- inspection helpers ---- */

static bool iface_has_addr(const char *name, const char *addr, bool *up) {
        struct ifaddrs *ifa = NULL;
        bool found = false;
        if (getifaddrs(&ifa) < 0)
                return false;
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                char buf[INET6_ADDRSTRLEN] = "";
                if (!streq(i->ifa_name, name) || !i->ifa_addr)
                        continue;
                if (up)
                        *up = i->ifa_flags & IFF_UP;
                if (i->ifa_addr->sa_family == AF_INET)
                        inet_ntop(AF_INET, &((struct sockaddr_in *) i->ifa_addr)->sin_addr, buf, sizeof(buf));
                else if (i->ifa_addr->sa_family == AF_INET6)
                        inet_ntop(AF_INET6, &((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr, buf, sizeof(buf));
                if (streq(buf, addr))
                        found = true;
        }
        freeifaddrs(ifa);
        return found;
}

static int link_master(const char *name, char mac[32]) {
        struct nl_sock *s = nl_socket_alloc();
        struct rtnl_link *l = NULL;
        int master = -1;
        nl_connect(s, NETLINK_ROUTE);
        if (rtnl_link_get_kernel(s, 0, name, &l) >= 0) {
                master = rtnl_link_get_master(l);
                if (mac)
                        nl_addr2str(rtnl_link_get_addr(l), mac, 32);
                rtnl_link_put(l);
        }
        nl_socket_free(s);
        return master;
}

/* wait_for() conditions */
static bool table_rebuilt(void *data) {
        _cleanup_free_ char *nft = run_output("nft list table inet vmgmt");
        return nft && !strstr(nft, "stale0") && strstr(nft, "fwd_in_virbr0") && strstr(nft, "masquerade");
}

static bool table_gone(void *data) {
        return system("nft list table inet vmgmt >/dev/null 2>&1") != 0;
}

static bool pid_gone(void *data) {
        return !pid_alive(*(pid_t *) data);
}

static bool dnsmasq_running(void *data) {
        return pid_alive(network_runtime_dnsmasq_pid(data));
}

static bool dir_is_empty(const char *path) {
        _cleanup_free_ char *cmd = NULL;
        if (asprintf(&cmd, "test -z \"$(ls -A '%s')\"", path) < 0)
                return false;
        return system(cmd) == 0;
}

/* ---- tests ---- */

static void test_nat_network(void) {
        _cleanup_(network_def_freep) NetworkDef *def = NULL;
        NetworkDriver *d = NULL;
        NetworkRuntime *rt = NULL;
        _cleanup_free_ char *dir = NULL, *hosts = NULL, *nft = NULL;
        bool up = false;
        _cleanup_(done_reset) Done done = {};
        pid_t pid, pid2;
        uint8_t answer[4];

        CHECK(network_driver_new(test_event(), run_dir, &events, &d) == 0, "driver");
        def = test_network_def(d, nat_xml);
        CHECK(streq(def->bridge, "virbr0"), "bridge %s", def->bridge);

        CHECK(network_start(d, def, NULL, &rt, done_cb, &done) == 0, "start");
        CHECK(!done.called, "done must not run inside network_start");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "start failed: %d %s", done.r, strna(done.message));
        if (done.r < 0)
                exit(1);

        /* bridge with its addresses, up, MAC from the definition */
        char mac[32] = "";
        CHECK(iface_has_addr("virbr0", "192.168.122.1", &up) && up, "virbr0 has 192.168.122.1 and is up");
        CHECK(iface_has_addr("virbr0", "fd00:122::1", NULL), "virbr0 has fd00:122::1");
        link_master("virbr0", mac);
        CHECK(streq(mac, def->mac), "bridge MAC %s, expected %s", mac, def->mac);
        CHECK(read_text_starts("/proc/sys/net/ipv4/ip_forward", "1"),
              "ip_forward on");

        /* dnsmasq runs and answers DNS on the bridge address */
        pid = network_runtime_dnsmasq_pid(rt);
        CHECK(pid > 0 && pid_alive(pid), "dnsmasq runs (pid %d)", (int) pid);
        CHECK(dns_query_a("192.168.122.1", "testhost", answer) == 0 && memcmp(answer, (uint8_t[]) { 192, 168, 122, 77 }, 4) == 0,
              "dnsmasq answers testhost → 192.168.122.77");

        /* nft table with this network's chains */
        nft = run_output("nft list table inet vmgmt");
        CHECK(nft && strstr(nft, "chain fwd_in_virbr0") && strstr(nft, "chain nat_virbr0") && strstr(nft, "masquerade") &&
              strstr(nft, "\"virbr0\" : jump fwd_out_virbr0"), "nft table:\n%s", strna(nft));

        /* dnsmasq killed → restarted */
        kill(pid, SIGKILL);
        wait_until(&n_dnsmasq_events, 1, TEST_WAIT_SEC);
        pid2 = network_runtime_dnsmasq_pid(rt);
        CHECK(last_restarted && pid2 > 0 && pid2 != pid && pid_alive(pid2), "dnsmasq restarted (%d → %d)", (int) pid, (int) pid2);
        CHECK(dns_query_a("192.168.122.1", "testhost", answer) == 0, "restarted dnsmasq answers");

        /* live update of the DHCP hosts: hostsfile rewritten, same dnsmasq (SIGHUP) */
        ConfError err = {};
        CHECK(network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_LAST, -1,
                                 "<host mac='52:54:00:00:00:06' name='six' ip='192.168.122.6'/>", &err) == 0, "update def");
        CHECK(network_def_update(def, "dns-host", NETWORK_UPDATE_ADD_LAST, -1,
                                 "<host ip='192.168.122.78'><hostname>newhost</hostname></host>", &err) == 0, "update def");
        done_reset(&done);
        CHECK(network_runtime_update(rt, def, done_cb, &done) == 0, "runtime update");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "update: %s", strna(done.message));
        CHECK(network_runtime_dnsmasq_pid(rt) == pid2, "same dnsmasq after a hosts-only update");
        hosts = NULL;
        CHECK(read_full_file(rt->hosts_path, 65536, &hosts, NULL) == 0 && strstr(hosts, "52:54:00:00:00:06,192.168.122.6,six"),
              "hostsfile: %s", strna(hosts));
        CHECK(wait_dns_a("192.168.122.1", "newhost", answer, TEST_WAIT_SEC) == 0 && answer[3] == 78,
              "newhost resolves after SIGHUP");
        conf_error_clear(&err);

        /* a new DHCP range changes dnsmasq's config: it is restarted, leases file kept */
        const char *seed = "0 52:54:00:99:99:99 192.168.122.99 keep *\n";
        CHECK(write_file_atomic_nosync(rt->leases_path, seed, strlen(seed), 0644) == 0, "seed a lease");
        CHECK(network_def_update(def, "ip-dhcp-range", NETWORK_UPDATE_DELETE, -1,
                                 "<range start='192.168.122.2' end='192.168.122.254'/>", &err) == 0 &&
              network_def_update(def, "ip-dhcp-range", NETWORK_UPDATE_ADD_LAST, -1,
                                 "<range start='192.168.122.100' end='192.168.122.200'/>", &err) == 0, "%s", strna(err.message));
        done_reset(&done);
        CHECK(network_runtime_update(rt, def, done_cb, &done) == 0, "runtime update (range)");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "range update: %s", strna(done.message));
        pid = network_runtime_dnsmasq_pid(rt);
        CHECK(pid > 0 && pid != pid2 && pid_alive(pid) && !pid_alive(pid2), "dnsmasq restarted for a new range (%d → %d)",
              (int) pid2, (int) pid);
        _cleanup_free_ char *conf = read_text(rt->conf_path);
        CHECK(conf && strstr(conf, "dhcp-range=192.168.122.100,192.168.122.200,255.255.255.0"), "conf:\n%s", strna(conf));
        NetworkLease *leases = NULL;
        size_t n_leases = 0;
        CHECK(network_runtime_leases(rt, &leases, &n_leases) == 0 && n_leases == 1 && streq(leases[0].hostname, "keep"),
              "leases kept across the restart (%zu)", n_leases);
        network_leases_free(leases, n_leases);
        pid2 = pid;
        CHECK(dns_query_a("192.168.122.1", "newhost", answer) == 0, "answers after the restart");

        /* bridge-level changes are refused live */
        _cleanup_(network_def_freep) NetworkDef *other = network_def_copy(def);
        free(other->bridge);
        other->bridge = strdup("virbr9");
        CHECK(network_runtime_update(rt, other, done_cb, &done) == -EOPNOTSUPP, "bridge rename refused live");

        /* taps */
        char *tap = NULL;
        int tapfd = -1;
        CHECK(network_tap_create(NULL, "52:54:00:12:34:56", "virbr0", false, 0, &tap, &tapfd) == 0, "tap create");
        CHECK(tap && strncmp(tap, "vnet", 4) == 0, "tap name %s", strna(tap));
        CHECK(link_master(tap, mac) == (int) if_nametoindex("virbr0"), "tap attached to virbr0");
        CHECK(streq(mac, "fe:54:00:12:34:56"), "tap MAC %s", mac);
        close(tapfd);
        CHECK(if_nametoindex(tap) == 0, "tap gone after its fd closed");
        CHECK(network_tap_create("vmtap%d", NULL, "nosuchbr", false, 0, &tap, &tapfd) == -ENODEV, "tap on a missing bridge");
        free(tap);

        /* a second network may not take the bridge */
        _cleanup_(network_def_freep) NetworkDef *dup =
                test_network_def(d, "<network><name>dup</name><bridge name='virbr0'/><ip address='10.77.0.1' prefix='24'/></network>");
        NetworkRuntime *rt_dup = NULL;
        done_reset(&done);
        CHECK(network_start(d, dup, NULL, &rt_dup, done_cb, &done) == 0, "start dup");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == -EEXIST && done.message && strstr(done.message, "already exists"), "dup: %d %s", done.r, strna(done.message));
        CHECK(iface_has_addr("virbr0", "192.168.122.1", NULL), "the failed start left the first network's bridge alone");
        free(nft);
        nft = run_output("nft list table inet vmgmt");
        CHECK(nft && strstr(nft, "fwd_in_virbr0"), "first network's chains intact after a failed start");

        /* the daemon goes away and comes back: recovery adopts bridge and dnsmasq */
        network_driver_free(d);
        CHECK(pid_alive(pid2) && if_nametoindex("virbr0") > 0, "driver free leaves the network running");
        /* stale chains of a network that vanished with the old daemon */
        CHECK(system("nft add chain inet vmgmt fwd_in_stale0 && nft add element inet vmgmt fwd_in '{ \"stale0\" : jump fwd_in_stale0 }'") == 0,
              "stale chain");
        CHECK(network_driver_new(test_event(), run_dir, &events, &d) == 0, "driver 2");
        RecoverResult rec = {};
        CHECK(network_recover(d, recover_cb, &rec) == 0 && rec.n == 1 && rec.rt, "recovered %u", rec.n);
        rt = rec.rt;
        CHECK(rt && network_runtime_dnsmasq_pid(rt) == pid2, "adopted the same dnsmasq");
        CHECK(rec.def && streq(rec.def->name, "default") && rec.def->ips[0].n_hosts == 2, "live def recovered with the update");
        network_def_free(rec.def);
        /* the firewall is rebuilt in the background */
        (void) wait_for(table_rebuilt, NULL, TEST_WAIT_SEC);
        free(nft);
        nft = run_output("nft list table inet vmgmt");
        CHECK(nft && !strstr(nft, "stale0") && strstr(nft, "fwd_in_virbr0") && strstr(nft, "masquerade"),
              "table rebuilt on recovery:\n%s", strna(nft));
        CHECK(dns_query_a("192.168.122.1", "testhost", answer) == 0, "adopted dnsmasq answers");
        /* adopted dnsmasq is still supervised */
        kill(pid2, SIGKILL);
        n_dnsmasq_events = 0;
        wait_until(&n_dnsmasq_events, 1, TEST_WAIT_SEC);
        CHECK(last_restarted && network_runtime_dnsmasq_pid(rt) > 0 && network_runtime_dnsmasq_pid(rt) != pid2,
              "adopted dnsmasq restarted after it died");
        pid = network_runtime_dnsmasq_pid(rt);

        /* dnsmasq died while no daemon watched: recovery starts it again */
        network_driver_free(d);
        kill(pid, SIGKILL);
        CHECK(wait_for(pid_gone, &pid, TEST_WAIT_SEC), "dnsmasq %d died of SIGKILL", (int) pid);
        CHECK(network_driver_new(test_event(), run_dir, &events, &d) == 0, "driver 3");
        rec = (RecoverResult) {};
        CHECK(network_recover(d, recover_cb, &rec) == 0 && rec.n == 1 && rec.rt, "recovered %u", rec.n);
        network_def_free(rec.def);
        rt = rec.rt;
        CHECK(rt && wait_for(dnsmasq_running, rt, TEST_WAIT_SEC), "recovery started a new dnsmasq");
        pid = rt ? network_runtime_dnsmasq_pid(rt) : 0;
        CHECK(wait_dns_a("192.168.122.1", "testhost", answer, TEST_WAIT_SEC) == 0, "and it answers");

        /* stop removes everything */
        done_reset(&done);
        CHECK(network_stop(rt, done_cb, &done) == 0, "stop");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "stop: %s", strna(done.message));
        CHECK(if_nametoindex("virbr0") == 0, "bridge gone");
        CHECK(!pid_alive(pid), "dnsmasq gone");   /* the stop waited for its exit */
        CHECK(system("nft list table inet vmgmt >/dev/null 2>&1") != 0, "nft table gone");
        if (asprintf(&dir, "%s/network", run_dir) >= 0)
                CHECK(dir_is_empty(dir), "no files left in %s", dir);
        network_driver_free(d);
}

/* The bridge vanished while no daemon ran: the network is reported inactive
 * and its leftovers (dnsmasq, files, chains) are removed. */
static void test_recover_bridge_gone(void) {
        NetworkDriver *d = NULL;
        NetworkRuntime *rt = NULL;
        _cleanup_(done_reset) Done done = {};
        _cleanup_free_ char *dir = NULL;

        CHECK(network_driver_new(test_event(), run_dir, &events, &d) == 0, "driver");
        _cleanup_(network_def_freep) NetworkDef *def = test_network_def(d,
                "<network><name>gone</name><ip address='10.30.0.1' prefix='24'><dhcp><range start='10.30.0.10' end='10.30.0.20'/></dhcp></ip>"
                "<ip family='ipv6' address='fd00:30::1' prefix='64'/></network>");
        CHECK(network_start(d, def, NULL, &rt, done_cb, &done) == 0, "start");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "start: %s", strna(done.message));
        pid_t pid = network_runtime_dnsmasq_pid(rt);
        _cleanup_free_ char *conf = read_text(rt->conf_path);
        CHECK(conf && strstr(conf, "dhcp-range=fd00:30::,ra-only,64") && strstr(conf, "enable-ra"), "RA-only IPv6:\n%s", strna(conf));
        network_driver_free(d);

        CHECK(system("ip link del virbr0") == 0, "remove the bridge behind the driver's back");
        CHECK(network_driver_new(test_event(), run_dir, &events, &d) == 0, "driver 2");
        RecoverResult rec = {};
        CHECK(network_recover(d, recover_cb, &rec) == 0 && rec.n == 1 && !rec.rt, "reported inactive");
        network_def_free(rec.def);
        /* the leftovers are removed in the background */
        CHECK(wait_for(pid_gone, &pid, TEST_WAIT_SEC), "its dnsmasq was stopped");
        CHECK(wait_for(table_gone, NULL, TEST_WAIT_SEC), "its chains are gone, and the table with them");
        if (asprintf(&dir, "%s/network", run_dir) >= 0)
                CHECK(dir_is_empty(dir), "no files left");
        network_driver_free(d);
}

/* dnsmasq cannot start (port 53 taken): the start fails with dnsmasq's words
 * and leaves no bridge, chains, process or file behind. */
static void test_start_failure_rollback(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53) };
        _cleanup_close_ int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        _cleanup_(done_reset) Done done = {};
        _cleanup_free_ char *dir = NULL;
        NetworkDriver *d = NULL;
        NetworkRuntime *rt = NULL;

        CHECK(bind(udp, (struct sockaddr *) &sa, sizeof(sa)) == 0 && bind(tcp, (struct sockaddr *) &sa, sizeof(sa)) == 0 &&
              listen(tcp, 1) == 0, "take port 53");
        CHECK(network_driver_new(test_event(), run_dir, &events, &d) == 0, "driver");
        _cleanup_(network_def_freep) NetworkDef *def = test_network_def(d, nat_xml);
        CHECK(network_start(d, def, NULL, &rt, done_cb, &done) == 0, "start");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r < 0 && done.message && strstr(done.message, "dnsmasq") && strstr(done.message, "in use"),
              "start failure: %d %s", done.r, strna(done.message));
        CHECK(if_nametoindex("virbr0") == 0, "no bridge left");
        CHECK(system("nft list table inet vmgmt >/dev/null 2>&1") != 0, "no nft table left");
        if (asprintf(&dir, "%s/network", run_dir) >= 0)
                CHECK(dir_is_empty(dir), "no files left");
        network_driver_free(d);
}

static void test_isolated_and_route(void) {
        NetworkDriver *d = NULL;
        CHECK(network_driver_new(test_event(), run_dir, &events, &d) == 0, "driver");
        _cleanup_(network_def_freep) NetworkDef *iso = test_network_def(d,
                "<network><name>iso</name><ip address='10.10.0.1' prefix='24'><dhcp><range start='10.10.0.10' end='10.10.0.20'/></dhcp></ip></network>");
        _cleanup_(network_def_freep) NetworkDef *open = test_network_def(d,
                "<network><name>op</name><forward mode='open'/><bridge name='vopen0'/></network>");
        NetworkRuntime *r1 = NULL, *r2 = NULL, *r3 = NULL;
        _cleanup_(done_reset) Done a = {};
        _cleanup_(done_reset) Done b = {};
        _cleanup_(done_reset) Done c = {};
        _cleanup_free_ char *nft = NULL;

        CHECK(streq(iso->bridge, "virbr0"), "iso bridge %s", iso->bridge);
        CHECK(network_start(d, iso, NULL, &r1, done_cb, &a) == 0, "start iso");
        wait_done(&a, TEST_WAIT_SEC);
        CHECK(a.r == 0, "iso: %s", strna(a.message));
        /* the next name is chosen against existing interfaces */
        _cleanup_(network_def_freep) NetworkDef *route2 = test_network_def(d,
                "<network><name>routed</name><forward mode='route'/><ip address='10.20.0.1' prefix='24'/></network>");
        CHECK(streq(route2->bridge, "virbr1"), "route bridge %s", route2->bridge);
        CHECK(network_start(d, route2, NULL, &r2, done_cb, &b) == 0, "start route");
        wait_done(&b, TEST_WAIT_SEC);
        CHECK(b.r == 0, "route: %s", strna(b.message));
        CHECK(network_start(d, open, NULL, &r3, done_cb, &c) == 0, "start open");
        wait_done(&c, TEST_WAIT_SEC);
        CHECK(c.r == 0, "open: %s", strna(c.message));
        CHECK(network_runtime_dnsmasq_pid(r3) == 0, "no dnsmasq without <ip>");

        nft = run_output("nft list table inet vmgmt");
        CHECK(nft && strstr(nft, "chain fwd_out_virbr0") && strstr(nft, "chain fwd_in_virbr1") && !strstr(nft, "vopen0") &&
              !strstr(nft, "nat_virbr0 {\n\t\tip") && strstr(nft, "ip daddr 10.20.0.0/24 return"), "nft:\n%s", strna(nft));

        /* a dnsmasq that keeps dying is restarted 5 times in 30 s, then given up on */
        n_dnsmasq_events = 0;
        for (unsigned i = 1; i <= 6; i++) {
                pid_t p = network_runtime_dnsmasq_pid(r1);
                CHECK(p > 0, "dnsmasq %u runs", i);
                if (p <= 0)
                        break;
                kill(p, SIGKILL);
                wait_until(&n_dnsmasq_events, i, 10);
                CHECK(last_restarted == (i <= 5), "death %u: restarted %d", i, last_restarted);
        }
        CHECK(network_runtime_dnsmasq_pid(r1) == 0, "no dnsmasq after giving up");

        /* stopping one keeps the table for the other */
        done_reset(&a);
        CHECK(network_stop(r1, done_cb, &a) == 0, "stop iso");
        wait_done(&a, TEST_WAIT_SEC);
        CHECK(a.r == 0, "stop iso: %s", strna(a.message));
        free(nft);
        nft = run_output("nft list table inet vmgmt");
        CHECK(nft && !strstr(nft, "virbr0") && strstr(nft, "fwd_in_virbr1"), "after iso stop:\n%s", strna(nft));
        /* the last network's stop (which drops the table) and a new start at the
         * same time: nft scripts run in order, the new network keeps its rules */
        _cleanup_(network_def_freep) NetworkDef *iso2 = test_network_def(d, "<network><name>iso2</name><bridge name='vbiso2'/></network>");
        NetworkRuntime *r4 = NULL;
        _cleanup_(done_reset) Done e = {};
        done_reset(&b);
        CHECK(network_stop(r2, done_cb, &b) == 0, "stop route");
        CHECK(network_start(d, iso2, NULL, &r4, done_cb, &e) == 0, "start iso2");
        wait_done(&b, TEST_WAIT_SEC);
        wait_done(&e, TEST_WAIT_SEC);
        CHECK(b.r == 0 && e.r == 0, "stop %d, start %d", b.r, e.r);
        free(nft);
        nft = run_output("nft list table inet vmgmt");
        CHECK(nft && strstr(nft, "fwd_in_vbiso2") && !strstr(nft, "virbr1"), "racing stop/start:\n%s", strna(nft));
        done_reset(&e);
        CHECK(network_stop(r4, done_cb, &e) == 0, "stop iso2");
        wait_done(&e, TEST_WAIT_SEC);
        CHECK(e.r == 0 && system("nft list table inet vmgmt >/dev/null 2>&1") != 0, "table gone with the last network");
        done_reset(&c);
        CHECK(network_stop(r3, done_cb, &c) == 0, "stop open");
        wait_done(&c, TEST_WAIT_SEC);
        CHECK(c.r == 0 && if_nametoindex("vopen0") == 0, "open stopped");
        network_driver_free(d);
}

static void test_bridge_mode(void) {
        NetworkDriver *d = NULL;
        NetworkRuntime *rt = NULL;
        _cleanup_(done_reset) Done done = {};
        CHECK(network_driver_new(test_event(), run_dir, &events, &d) == 0, "driver");
        _cleanup_(network_def_freep) NetworkDef *def =
                test_network_def(d, "<network><name>host</name><forward mode='bridge'/><bridge name='br-host'/></network>");

        CHECK(network_start(d, def, NULL, &rt, done_cb, &done) == 0, "start");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == -ENODEV && strstr(strempty(done.message), "does not exist"), "missing host bridge: %d %s", done.r,
              strna(done.message));

        CHECK(network_nl_bridge_create(d->nl, "br-host", NULL, 0, false, 0) == 0, "make a host bridge");
        done_reset(&done);
        CHECK(network_start(d, def, NULL, &rt, done_cb, &done) == 0, "start");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "bridge mode: %s", strna(done.message));
        char *tap = NULL;
        int fd = -1;
        CHECK(network_tap_create("vmtap%d", "52:54:00:aa:00:01", network_runtime_bridge(rt), false, 0, &tap, &fd) == 0 &&
              streq(tap, "vmtap0"), "tap %s", strna(tap));
        CHECK(link_master("vmtap0", NULL) == (int) if_nametoindex("br-host"), "tap on the host bridge");
        /* attach an existing tap again (a network restarted under a running domain) */
        int tapidx = (int) if_nametoindex("vmtap0");
        CHECK(network_nl_link_set(d->nl, tapidx, NULL, 0, 0, false) == 0 &&
              rtnl_link_release_ifindex(d->nl, tapidx) >= 0 && link_master("vmtap0", NULL) == 0, "tap detached");
        CHECK(network_runtime_attach_tap(rt, "vmtap0") == 0 &&
              link_master("vmtap0", NULL) == (int) if_nametoindex("br-host"), "tap attached again");
        CHECK(network_runtime_attach_tap(rt, "vmtap0") == 0, "attach is idempotent");
        CHECK(network_runtime_attach_tap(rt, "nosuchtap") == -ENODEV, "attach: no such tap");
        CHECK(network_runtime_attach_tap(rt, "br-host") == -ENOTTY, "attach: not a tap");
        CHECK(network_tap_delete("vmtap0") == 0 && if_nametoindex("vmtap0") == 0, "tap deleted by name");
        close(fd);
        free(tap);
        done_reset(&done);
        CHECK(network_stop(rt, done_cb, &done) == 0, "stop");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0 && if_nametoindex("br-host") > 0, "the host bridge stays");
        network_nl_link_delete(d->nl, "br-host");

        /* an openvswitch network needs ovs: without it, a clear error */
        _cleanup_(network_def_freep) NetworkDef *ovs = test_network_def(d,
                "<network><name>ovs</name><forward mode='bridge'/><bridge name='ovsbr0'/><virtualport type='openvswitch'/></network>");
        done_reset(&done);
        CHECK(network_start(d, ovs, NULL, &rt, done_cb, &done) == 0, "start ovs");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r < 0, "ovs bridge absent: %s", strna(done.message));
        _cleanup_free_ char *ovs_vsctl = network_find_program("ovs-vsctl");
        if (!ovs_vsctl)
                CHECK(network_ovs_port_add(test_event(), "ovsbr0", "vnet0", NULL, NULL, NULL, done_cb, &done) == -ENOENT, "no ovs-vsctl");
        network_driver_free(d);
}

static void test_leases_parse(void) {
        _cleanup_(network_def_freep) NetworkDef *def = NULL;
        NetworkLease *l = NULL;
        size_t n = 0;
        ConfError err = {};
        const char *text =
                "1700000000 52:54:00:11:22:33 192.168.122.50 guest1 01:52:54:00:11:22:33\n"
                "0 52:54:00:00:00:05 192.168.122.5 * *\n"
                "garbage\n"
                "duid 00:01:00:01:2c:5e:ef:a1:52:54:00:aa:bb:cc\n"
                "1700000100 1234 fd00:122::150 guest6 00:01:00:01:aa:bb\n";

        CHECK(network_def_parse(nat_xml, strlen(nat_xml), &def, &err) == 0, "parse");
        CHECK(network_leases_parse(text, def, &l, &n) == 0 && n == 3, "n = %zu", n);
        if (n == 3) {
                CHECK(streq(l[0].mac, "52:54:00:11:22:33") && streq(l[0].ip, "192.168.122.50") && l[0].prefix == 24 &&
                      streq(l[0].hostname, "guest1") && l[0].expiry == 1700000000 && streq(l[0].client_id, "01:52:54:00:11:22:33") &&
                      streq(network_lease_type(&l[0]), "ipv4"), "lease 0");
                CHECK(streq(l[1].hostname, "fixed") && l[1].expiry == 0 && !l[1].client_id, "static host name filled in");
                CHECK(l[2].family == AF_INET6 && l[2].prefix == 64 && streq(l[2].iaid, "1234") && !l[2].mac &&
                      streq(l[2].client_id, "00:01:00:01:aa:bb") && streq(network_lease_type(&l[2]), "ipv6"), "lease v6");
        }
        network_leases_free(l, n);
        CHECK(network_leases_parse("", def, &l, &n) == 0 && n == 0, "empty");
        network_leases_free(l, n);
}

int main(int argc, char **argv) {
        test_enter_netns();
        if (!mkdtemp(run_dir)) {
                perror("mkdtemp");
                return 1;
        }
        chmod(run_dir, 0755);
        test_leases_parse();
        test_nat_network();
        test_recover_bridge_gone();
        test_start_failure_rollback();
        test_isolated_and_route();
        test_bridge_mode();
        _cleanup_free_ char *cmd = NULL;
        if (asprintf(&cmd, "rm -rf '%s'", run_dir) >= 0)
                (void) system(cmd);
        return test_summary();
}
