/* test-network-dnsmasq.c — DNS TXT/SRV records, localPtr, TFTP and BOOTP of a network: the dnsmasq
 * configuration vmgmt writes, and a real dnsmasq (in a network namespace of the test's own) answering
 * TXT and SRV queries and serving a file over TFTP. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "network-driver.h"
#include "network-internal.h"
#include "test-network-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(NetworkDef *, network_def_free);

static char run_dir[] = "/tmp/vmgmt-dnsmasq-test-XXXXXX";
static char tftp_dir[] = "/tmp/vmgmt-tftp-test-XXXXXX";


static char *records_xml(void) {
        char *xml = NULL;
        if (asprintf(&xml,
                     "<network><name>rec</name><bridge name='vmbrrec'/><domain name='lab.test'/>"
                     "<dns><txt name='info.lab.test' value='say \"hi\", twice'/>"
                     "<srv service='ldap' protocol='tcp' domain='lab.test' target='dir.lab.test' port='389' priority='10' weight='20'/>"
                     "<srv service='sip' protocol='udp' domain='lab.test' target='.'/>"
                     "<host ip='10.71.0.9'><hostname>dir</hostname></host></dns>"
                     "<ip address='10.71.0.1' prefix='24' localPtr='yes'><tftp root='%s'/>"
                     "<dhcp><range start='10.71.0.10' end='10.71.0.20'/><bootp file='pxelinux.0' server='10.71.0.1'/></dhcp></ip>"
                     "<ip family='ipv6' address='fd00:71::1' prefix='64' localPtr='yes'/>"
                     "</network>", tftp_dir) < 0)
                exit(1);
        return xml;
}

/* The lines vmgmt writes for them, and dnsmasq itself accepts the file (--test). */
static void test_config(NetworkDriver *d) {
        _cleanup_free_ char *xml = records_xml();
        _cleanup_(network_def_freep) NetworkDef *def = test_network_def(d, xml);
        NetworkRuntime *rt = NULL;
        _cleanup_free_ char *conf = NULL, *cmd = NULL, *out = NULL, *tftp_line = NULL;

        CHECK(network_runtime_new(d, def, &rt) == 0, "runtime");
        conf = network_dnsmasq_config(rt);
        CHECK(strstr(conf, "\ntxt-record=info.lab.test,\"say \\\"hi\\\", twice\"\n"), "txt-record:\n%s", conf);
        CHECK(strstr(conf, "\nsrv-host=_ldap._tcp.lab.test,dir.lab.test,389,10,20\n"), "srv-host ldap:\n%s", conf);
        CHECK(strstr(conf, "\nsrv-host=_sip._udp.lab.test,.\n"), "srv-host sip:\n%s", conf);
        CHECK(strstr(conf, "\nlocal=/0.71.10.in-addr.arpa/\n"), "IPv4 local PTR zone:\n%s", conf);
        CHECK(strstr(conf, "\nlocal=/0.0.0.0.0.0.0.0.1.7.0.0.0.0.d.f.ip6.arpa/\n"), "IPv6 local PTR zone:\n%s", conf);
        CHECK(asprintf(&tftp_line, "\nenable-tftp\ntftp-root=%s\n", tftp_dir) > 0 && strstr(conf, tftp_line), "tftp:\n%s", conf);
        CHECK(strstr(conf, "\ndhcp-boot=pxelinux.0,,10.71.0.1\n"), "dhcp-boot:\n%s", conf);
        CHECK(write_file_atomic_nosync(rt->conf_path, conf, strlen(conf), 0644) == 0, "write conf");
        CHECK(asprintf(&cmd, "dnsmasq --test --conf-file=%s 2>&1", rt->conf_path) > 0, "cmd");
        out = run_output(cmd);
        CHECK(out && strstr(out, "syntax check OK"), "dnsmasq --test: %s", strna(out));
        (void) unlink(rt->conf_path);
        network_runtime_free_object(rt);
}

/* A started network: dnsmasq answers the TXT and SRV queries and serves the TFTP root. */
static void test_served(NetworkDriver *d) {
        _cleanup_free_ char *xml = records_xml();
        _cleanup_(network_def_freep) NetworkDef *def = test_network_def(d, xml);
        _cleanup_(done_reset) Done done = {};
        _cleanup_free_ char *txt = NULL, *srv = NULL, *got = NULL, *file = NULL, *cmd = NULL;
        NetworkRuntime *rt = NULL;

        CHECK(asprintf(&file, "%s/pxelinux.0", tftp_dir) > 0 && write_file_atomic_nosync(file, "boot me\n", 8, 0644) == 0,
              "tftp file");
        CHECK(network_start(d, def, NULL, &rt, done_cb, &done) == 0, "start");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "start: %s", strna(done.message));
        if (done.r < 0)
                return;

        txt = run_output("busybox nslookup -type=txt info.lab.test 10.71.0.1 2>&1");
        CHECK(txt && strstr(txt, "say \"hi\", twice"), "TXT answer: %s", strna(txt));
        srv = run_output("busybox nslookup -type=srv _ldap._tcp.lab.test 10.71.0.1 2>&1");
        CHECK(srv && strstr(srv, "10 20 389 dir.lab.test"), "SRV answer: %s", strna(srv));
        CHECK(asprintf(&cmd, "cd '%s' && busybox tftp -g -r pxelinux.0 -l got 10.71.0.1 2>&1 && cat got", run_dir) > 0,
              "cmd");
        got = run_output(cmd);
        CHECK(got && streq(got, "boot me\n"), "TFTP download: %s", strna(got));

        done_reset(&done);
        CHECK(network_stop(rt, done_cb, &done) == 0, "stop");
        wait_done(&done, TEST_WAIT_SEC);
        CHECK(done.r == 0, "stop: %s", strna(done.message));
        (void) unlink(file);
}

int main(int argc, char **argv) {
        NetworkDriver *d = NULL;

        test_enter_netns();
        if (!mkdtemp(run_dir) || !mkdtemp(tftp_dir)) {
                perror("mkdtemp");
                return 1;
        }
        chmod(run_dir, 0755);
        chmod(tftp_dir, 0755);
        CHECK(network_driver_new(test_event(), run_dir, NULL, &d) == 0, "driver");
        if (d) {
                test_config(d);
                test_served(d);
                network_driver_free(d);
        }
        _cleanup_free_ char *cmd = NULL;
        if (asprintf(&cmd, "rm -rf '%s' '%s'", run_dir, tftp_dir) >= 0)
                (void) system(cmd);
        return test_summary();
}
