/* test-network-conf.c — unit tests of the network XML: round trips, normalization, every error, cross-network checks, updates. */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/network-conf.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(NetworkDef *, network_def_free);

static int failures;

#define CHECK(cond, ...)                                                         \
        do {                                                                     \
                if (!(cond)) {                                                   \
                        fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
                        fprintf(stderr, __VA_ARGS__);                            \
                        fputc('\n', stderr);                                     \
                        failures++;                                              \
                }                                                                \
        } while (0)

static NetworkDef *parse_ok(const char *xml) {
        ConfError err = {};
        NetworkDef *def = NULL;
        int r = network_def_parse(xml, strlen(xml), &def, &err);
        CHECK(r == 0, "parse failed: %s\n%s", strna(err.message), xml);
        conf_error_clear(&err);
        return def;
}

static bool taken_ifname(void *userdata, const char *name) {
        return streq(name, "virbr1");   /* pretend the host has virbr1 */
}

/* parse → normalize → format; format must be stable under a second round. */
static void round_trip(const char *xml, const char *expect_substr) {
        _cleanup_(network_def_freep) NetworkDef *def = parse_ok(xml), *def2 = NULL;
        NetworkNormalizeCtx ctx = { .ifname_exists = taken_ifname };
        ConfError err = {};
        _cleanup_free_ char *out = NULL, *out2 = NULL;

        if (!def)
                return;
        CHECK(network_def_normalize(def, &ctx, &err) == 0, "normalize: %s", strna(err.message));
        out = network_def_format(def);
        def2 = parse_ok(out);
        if (!def2)
                return;
        CHECK(network_def_normalize(def2, &ctx, &err) == 0, "normalize 2: %s", strna(err.message));
        out2 = network_def_format(def2);
        CHECK(streq(out, out2), "not idempotent:\n%s\n---\n%s", out, out2);
        if (expect_substr)
                CHECK(strstr(out, expect_substr), "'%s' not in\n%s", expect_substr, out);
        /* copy formats the same */
        _cleanup_(network_def_freep) NetworkDef *c = network_def_copy(def);
        _cleanup_free_ char *out3 = network_def_format(c);
        CHECK(streq(out, out3), "copy differs");
        conf_error_clear(&err);
}

static void test_round_trips(void) {
        round_trip(network_default_xml(),
                   "  <forward mode='nat'/>\n  <bridge name='virbr0' stp='on' delay='0'/>\n  <mac address='52:54:00:");
        round_trip(network_default_xml(), "<range start='192.168.122.2' end='192.168.122.254'/>");
        round_trip("<network><name>iso</name><ip address='10.1.0.1' prefix='16'/></network>", "<ip address='10.1.0.1' prefix='16'/>");
        /* no bridge name: lowest free virbrN; virbr1 is "on the host", so virbr0 */
        round_trip("<network><name>iso</name></network>", "<bridge name='virbr0' stp='on' delay='0'/>");
        round_trip("<network><name>t</name><bridge name='vm%dbr'/></network>", "<bridge name='vm0br'");
        round_trip("<network><name>full</name><uuid>0123456789abcdef0123456789ABCDEF</uuid>"
                   "<forward mode='nat' dev='eth0'><nat><address start='1.2.3.4' end='1.2.3.10'/><port start='1024' end='65535'/></nat></forward>"
                   "<bridge name='vbr7' stp='off' delay='2'/><mac address='52:54:00:AA:bb:cc'/><mtu size='9000'/>"
                   "<domain name='example.com' localOnly='yes'/>"
                   "<dns><forwarder addr='8.8.8.8'/><forwarder domain='corp' addr='10.0.0.53'/><forwarder domain='local.lan'/>"
                   "<host ip='192.168.50.9'><hostname>a</hostname><hostname>b.example.com</hostname></host></dns>"
                   "<ip address='192.168.50.1' netmask='255.255.255.0'><dhcp><range start='192.168.50.10' end='192.168.50.20'/>"
                   "<range start='192.168.50.30' end='192.168.50.40'/><host mac='52:54:00:00:00:01' name='vm1' ip='192.168.50.100'/></dhcp></ip>"
                   "<ip family='ipv6' address='2001:DB8:ca2:2::1' prefix='64'><dhcp><range start='2001:db8:ca2:2::100' end='2001:db8:ca2:2::1ff'/>"
                   "<host id='0:1:0:1:2:3:4:5' name='vm6' ip='2001:db8:ca2:2::9'/></dhcp></ip></network>",
                   "<uuid>01234567-89ab-cdef-0123-456789abcdef</uuid>\n"
                   "  <forward dev='eth0' mode='nat'>\n    <nat>\n      <address start='1.2.3.4' end='1.2.3.10'/>\n"
                   "      <port start='1024' end='65535'/>\n    </nat>\n  </forward>\n"
                   "  <bridge name='vbr7' stp='off' delay='2'/>\n  <mtu size='9000'/>\n  <mac address='52:54:00:aa:bb:cc'/>\n"
                   "  <domain name='example.com' localOnly='yes'/>\n  <dns>\n    <forwarder addr='8.8.8.8'/>\n"
                   "    <forwarder domain='corp' addr='10.0.0.53'/>\n    <forwarder domain='local.lan'/>\n"
                   "    <host ip='192.168.50.9'>\n      <hostname>a</hostname>\n      <hostname>b.example.com</hostname>\n    </host>\n  </dns>\n"
                   "  <ip address='192.168.50.1' netmask='255.255.255.0'>\n    <dhcp>\n"
                   "      <range start='192.168.50.10' end='192.168.50.20'/>\n      <range start='192.168.50.30' end='192.168.50.40'/>\n"
                   "      <host mac='52:54:00:00:00:01' name='vm1' ip='192.168.50.100'/>\n    </dhcp>\n  </ip>\n"
                   "  <ip family='ipv6' address='2001:db8:ca2:2::1' prefix='64'>\n");
        round_trip("<network><name>br</name><forward mode='bridge'/><bridge name='br0'/></network>",
                   "<forward mode='bridge'/>\n  <bridge name='br0'/>\n</network>");
        round_trip("<network><name>ovs</name><forward mode='bridge'/><bridge name='ovsbr0'/><virtualport type='openvswitch'/></network>",
                   "<virtualport type='openvswitch'/>");
        round_trip("<network><name>r</name><forward mode='route'/><ip address='10.9.0.1' prefix='24'/></network>", "<forward mode='route'/>");
        round_trip("<network><name>o</name><forward mode='open'/><dns enable='no'/></network>", "<dns enable='no'/>");
        round_trip("<network connections='3'><name>c</name><forward/></network>", "<forward mode='nat'/>");
        /* DNS records, portgroups, TFTP, BOOTP, localPtr (libvirt's element and attribute order) */
        round_trip("<network><name>x</name><bridge name='vbrx'/>"
                   "<dns><host ip='10.7.0.9'><hostname>h</hostname></host><srv service='ldap' protocol='tcp' domain='ex.com' "
                   "target='ldap.ex.com' port='389' priority='10' weight='20'/><txt name='info' value='say \"hi\", &amp; bye'/>"
                   "<srv service='sip' protocol='udp'/><forwarder addr='9.9.9.9'/></dns>"
                   "<ip address='10.7.0.1' prefix='24' localPtr='yes'><tftp root='/srv/tftp'/><dhcp>"
                   "<bootp file='pxelinux.0' server='10.7.0.2'/><range start='10.7.0.10' end='10.7.0.20'/></dhcp></ip>"
                   "<ip family='ipv6' address='fd00:7::1' prefix='64' localPtr='no'/>"
                   "<portgroup name='eng' default='yes' trustGuestRxFilters='no'><bandwidth><outbound average='500'/>"
                   "<inbound average='1000' peak='5000' burst='5120' floor='200'/></bandwidth></portgroup><portgroup name='plain'/>"
                   "</network>",
                   "  <dns>\n    <forwarder addr='9.9.9.9'/>\n"
                   "    <txt name='info' value='say &quot;hi&quot;, &amp; bye'/>\n"
                   "    <srv service='ldap' protocol='tcp' domain='ex.com' target='ldap.ex.com' port='389' priority='10' weight='20'/>\n"
                   "    <srv service='sip' protocol='udp'/>\n"
                   "    <host ip='10.7.0.9'>\n      <hostname>h</hostname>\n    </host>\n  </dns>\n"
                   "  <ip address='10.7.0.1' prefix='24' localPtr='yes'>\n    <tftp root='/srv/tftp'/>\n    <dhcp>\n"
                   "      <range start='10.7.0.10' end='10.7.0.20'/>\n      <bootp file='pxelinux.0' server='10.7.0.2'/>\n"
                   "    </dhcp>\n  </ip>\n  <ip family='ipv6' address='fd00:7::1' prefix='64' localPtr='no'/>\n"
                   "  <portgroup name='eng' default='yes' trustGuestRxFilters='no'>\n    <bandwidth>\n"
                   "      <inbound average='1000' peak='5000' burst='5120' floor='200'/>\n      <outbound average='500'/>\n"
                   "    </bandwidth>\n  </portgroup>\n  <portgroup name='plain'/>\n</network>\n");
        /* a TFTP server without DHCP, and a bootp file without ranges */
        round_trip("<network><name>t</name><bridge name='vbrt'/><ip address='10.8.0.1' prefix='24'><tftp root='/srv'/></ip></network>",
                   "<ip address='10.8.0.1' prefix='24'>\n    <tftp root='/srv'/>\n  </ip>\n");
        round_trip("<network><name>b</name><bridge name='vbrb'/><ip address='10.8.0.1' prefix='24'><dhcp><bootp file='x.efi'/></dhcp></ip></network>",
                   "    <dhcp>\n      <bootp file='x.efi'/>\n    </dhcp>\n");
        /* portgroups with VLANs on an openvswitch network */
        round_trip("<network><name>ovs</name><forward mode='bridge'/><bridge name='ovsbr0'/><virtualport type='openvswitch'/>"
                   "<portgroup name='v'><vlan trunk='yes'><tag id='42' nativeMode='untagged'/><tag id='47'/></vlan></portgroup></network>",
                   "  <portgroup name='v'>\n    <vlan trunk='yes'>\n      <tag id='42' nativeMode='untagged'/>\n      <tag id='47'/>\n"
                   "    </vlan>\n  </portgroup>\n");
        /* classful default prefix */
        round_trip("<network><name>cl</name><ip address='172.16.0.1'/></network>", "prefix='16'");
}

typedef struct ErrorCase {
        const char *xml;
        const char *expect;
        int line;   /* -1: don't care */
} ErrorCase;

#define N(body) "<network>\n<name>t</name>\n" body "\n</network>"

static const ErrorCase cases[] = {
        { "<network><name>x</name>", "malformed XML", -1 },
        { "<!DOCTYPE network [<!ENTITY x 'y'>]><network><name>&x;</name></network>", "DOCTYPE", -1 },
        { "<domain><name>x</name></domain>", "root element must be <network>, not <domain>", 1 },
        { "<network>\n<uuid>x</uuid></network>", "missing <name>", 1 },
        { "<network><name>a/b</name></network>", "invalid network name 'a/b'", -1 },
        { "<network><name>x</name><uuid>nope</uuid></network>", "invalid UUID 'nope'", -1 },
        { N("<brige name='virbr9'/>"), "line 3: unknown element <brige> in <network>; did you mean <bridge>?", 3 },
        { N("<bridge nmae='virbr9'/>"), "unknown attribute 'nmae' of <bridge>; did you mean 'name'?", 3 },
        { N("<route address='10.0.0.0' prefix='24' gateway='192.168.1.2'/>"), "unknown element <route> in <network>", 3 },
        { N("<dns><txt name='a b' value='v'/></dns>"), "invalid DNS TXT record name 'a b'", 3 },
        { N("<dns><txt name='t'/></dns>"), "<txt> in <dns> needs name= and value=", 3 },
        { N("<dns><srv service='ldap'/></dns>"), "<srv> in <dns> needs service= and protocol=", 3 },
        { N("<dns><srv service='ldap' protocol='t c p'/></dns>"), "invalid SRV protocol 't c p'", 3 },
        { N("<dns><srv service='this-is-far-too-long' protocol='tcp'/></dns>"), "invalid SRV service", 3 },
        { N("<dns><srv service='ldap' protocol='tcp' port='389'/></dns>"), "port=, priority= and weight= need target=", 3 },
        { N("<dns><srv service='ldap' protocol='tcp' target='a' weight='1'/></dns>"), "priority= and weight= need port=", 3 },
        { N("<dns><srv service='ldap' protocol='tcp' target='a' port='70000'/></dns>"), "out of range", 3 },
        { N("<dns enable='no'><txt name='t' value='v'/></dns>"), "<dns enable='no'> cannot have <txt> or <srv>", 0 },
        { N("<portgroup/>"), "<portgroup> needs a name=", 3 },
        { N("<portgroup name='a'/><portgroup name='a'/>"), "two <portgroup> elements named 'a'", 0 },
        { N("<portgroup name='a' default='yes'/><portgroup name='b' default='yes'/>"), "are both default='yes'", 0 },
        { N("<portgroup name='a'><bandwidth><outbound peak='10'/></bandwidth></portgroup>"), "<outbound> needs a non-zero average=", 3 },
        { N("<portgroup name='a'><bandwidth><outbound average='10' floor='5'/></bandwidth></portgroup>"),
          "floor= is only supported for <inbound>", 3 },
        { N("<portgroup name='a'><vlan><tag id='5'/></vlan></portgroup>"), "only openvswitch networks support VLAN tags", 0 },
        { N("<portgroup name='a'><vlan><tag id='5000'/></vlan></portgroup>"), "out of range", 3 },
        { N("<portgroup name='a'><vlan trunk='no'><tag id='5'/><tag id='6'/></vlan></portgroup>"), "cannot have more than one <tag>", 3 },
        { N("<portgroup name='a'><virtualport type='802.1Qbh'/></portgroup>"), "<virtualport> in <portgroup 'a'> is not supported", 3 },
        { N("<portgroup name='a'><bandwith/></portgroup>"), "did you mean <bandwidth>?", 3 },
        { N("<ip address='192.168.1.1' prefix='24'><tftp root='relative'/></ip>"), "<tftp> needs root= with an absolute path", 3 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><bootp/></dhcp></ip>"), "<bootp> needs file=", 3 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><bootp file='a' server='fe80::1'/></dhcp></ip>"),
          "invalid IPv4 address 'fe80::1' in <bootp server=>", 3 },
        { N("<ip family='ipv6' address='2001:db8::1' prefix='64'><tftp root='/srv'/></ip>"), "<tftp> and <bootp> are IPv4 only", 0 },
        { N("<ip address='192.168.1.1' prefix='20' localPtr='yes'/>"), "localPtr='yes' needs a prefix that is a multiple of 8", 0 },
        { N("<ip address='192.168.1.1' prefix='24' localPtr='maybe'/>"), "invalid value 'maybe' for attribute 'localPtr'", 3 },
        { N("<bridge name='virbr9'/><bridge name='virbr8'/>"), "duplicate element <bridge>", 3 },
        { N("<forward mode='nta'/>"), "invalid value 'nta' for attribute 'mode' of <forward>; did you mean 'nat'?", 3 },
        { N("<bridge name='this-name-is-too-long'/>"), "invalid bridge name", 3 },
        { N("<bridge name='a b'/>"), "invalid bridge name", 3 },
        { N("<bridge name='v%s'/>"), "invalid bridge name", 3 },
        { N("<bridge stp='yes'/>"), "invalid value 'yes' for attribute 'stp'", 3 },
        { N("<bridge delay='31'/>"), "out of range", 3 },
        { N("<mac address='01:00:00:00:00:01'/>"), "invalid or missing MAC address", 3 },
        { N("<mtu size='20'/>"), "between 68 and 65535", 3 },
        { N("<domain/>"), "invalid or missing domain name", 3 },
        { N("<ip address='192.168.1.300' prefix='24'/>"), "invalid IP address '192.168.1.300'", 3 },
        { N("<ip prefix='24'/>"), "<ip> needs a address= attribute", 3 },
        { N("<ip address='192.168.1.1' prefix='33'/>"), "out of range (max 32)", 3 },
        { N("<ip address='192.168.1.1' prefix='0'/>"), "prefix 0", 3 },
        { N("<ip address='192.168.1.1' netmask='255.0.255.0'/>"), "invalid netmask '255.0.255.0'", 3 },
        { N("<ip address='192.168.1.1' netmask='255.255.255.0' prefix='24'/>"), "both netmask= and prefix=", 3 },
        { N("<ip family='ipv6' address='192.168.1.1' prefix='24'/>"), "<ip family='ipv6'> but address '192.168.1.1' is IPv4", 3 },
        { N("<ip family='ipv5' address='192.168.1.1' prefix='24'/>"), "invalid value 'ipv5' for attribute 'family'", 3 },
        { N("<ip address='2001:db8::1' netmask='255.255.255.0'/>"), "netmask= is for IPv4", 3 },
        { N("<ip address='192.168.1.0' prefix='24'/>"), "network or broadcast address", 0 },
        { N("<ip address='192.168.1.255' prefix='24'/>"), "network or broadcast address", 0 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><range start='192.168.2.2' end='192.168.2.9'/></dhcp></ip>"),
          "DHCP range 192.168.2.2–192.168.2.9 is outside the network 192.168.1.0/24", 0 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><range start='192.168.1.9' end='192.168.1.2'/></dhcp></ip>"),
          "start 192.168.1.9 is after its end 192.168.1.2", 0 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><range start='192.168.1.1' end='192.168.1.9'/></dhcp></ip>"),
          "contains the network's own address", 0 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><range start='192.168.1.2' end='192.168.1.255'/></dhcp></ip>"),
          "contains the network or broadcast address", 0 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><range start='192.168.1.2' end='192.168.1.50'/>"
            "<range start='192.168.1.40' end='192.168.1.60'/></dhcp></ip>"),
          "DHCP ranges 192.168.1.2–192.168.1.50 and 192.168.1.40–192.168.1.60 overlap", 0 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><range start='2001:db8::2' end='2001:db8::9'/></dhcp></ip>"),
          "is not IPv4", 0 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><range start='192.168.1.2'/></dhcp></ip>"), "<range> needs a end= attribute", 3 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01' ip='10.0.0.5'/></dhcp></ip>"),
          "DHCP host address 10.0.0.5 is outside the network 192.168.1.0/24", 0 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01' ip='192.168.1.1'/></dhcp></ip>"),
          "is the network's own address", 0 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01' ip='192.168.1.5'/>"
            "<host mac='52:54:00:00:00:01' ip='192.168.1.6'/></dhcp></ip>"), "two DHCP hosts with mac='52:54:00:00:00:01'", 0 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01' ip='192.168.1.5'/>"
            "<host mac='52:54:00:00:00:02' ip='192.168.1.5'/></dhcp></ip>"), "two DHCP hosts with ip='192.168.1.5'", 0 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><host ip='192.168.1.5'/></dhcp></ip>"), "<host> needs mac=, id= or name=", 3 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><host mac='zz' ip='192.168.1.5'/></dhcp></ip>"), "invalid MAC address 'zz'", 3 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01' nmae='x'/></dhcp></ip>"),
          "did you mean 'name'?", 3 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp><host name='a b' mac='52:54:00:00:00:01'/></dhcp></ip>"),
          "invalid host name 'a b'", 3 },
        { N("<ip address='192.168.1.1' prefix='24'><dhcp/></ip><ip address='192.168.2.1' prefix='24'><dhcp/></ip>"),
          "only one IPv4 <ip> may have <dhcp>", 0 },
        { N("<ip address='192.168.1.1' prefix='24'/><ip address='192.168.1.2' prefix='16'/>"), "overlap", 0 },
        { N("<ip address='2001:db8::1' prefix='80'><dhcp><range start='2001:db8::2' end='2001:db8::9'/></dhcp></ip>"),
          "DHCPv6 and router advertisements need prefix 64", 0 },
        { N("<ip address='2001:db8::1' prefix='64'><dhcp><host mac='52:54:00:00:00:01' ip='2001:db8::5'/></dhcp></ip>"),
          "IPv6 hosts are matched by id=", 0 },
        { N("<ip address='2001:db8::1' prefix='129'/>"), "out of range (max 128)", 3 },
        { N("<forward mode='bridge'/>"), "needs <bridge name='…'/>", 0 },
        { N("<forward mode='bridge'/><bridge name='br%d'/>"), "not the template", 0 },
        { N("<forward mode='bridge'/><bridge name='br0'/><ip address='10.0.0.1' prefix='24'/>"), "not allowed with <forward mode='bridge'>", 0 },
        { N("<forward mode='bridge'/><bridge name='br0'/><mac address='52:54:00:00:00:01'/>"), "not allowed with <forward mode='bridge'>", 0 },
        { N("<virtualport type='openvswitch'/>"), "needs <forward mode='bridge'>", 0 },
        { N("<forward mode='bridge'/><bridge name='br0'/><virtualport type='802.1Qbh'/>"), "unsupported <virtualport type='802.1Qbh'>", 3 },
        { N("<forward mode='open' dev='eth0'/>"), "only allowed with mode 'nat' or 'route'", 0 },
        { N("<forward mode='route'><nat><port start='1' end='2'/></nat></forward>"), "<nat> is only allowed in <forward mode='nat'>", 0 },
        { N("<forward><nat><port start='2000' end='1000'/></nat></forward>"), "start 2000 is after end 1000", 0 },
        { N("<forward><nat><port start='0' end='1000'/></nat></forward>"), "between 1 and 65535", 3 },
        { N("<forward><nat><address start='1.2.3.9' end='1.2.3.4'/></nat></forward>"), "start 1.2.3.9 is after end 1.2.3.4", 0 },
        { N("<forward><nat><address start='2001:db8::1'/></nat></forward>"), "must be IPv4", 0 },
        { N("<dns enable='no'><forwarder addr='8.8.8.8'/></dns>"), "<dns enable='no'> cannot have", 0 },
        { N("<dns><forwarder/></dns>"), "<forwarder> needs addr= or domain=", 3 },
        { N("<dns><host ip='10.0.0.1'/></dns>"), "needs at least one <hostname>", 3 },
        { N("<dns><host ip='10.0.0.1'><hostname>bad name</hostname></host></dns>"), "invalid host name 'bad name'", 3 },
        { N("<dns><host ip='10.0.0.1'><hostnme>x</hostnme></host></dns>"), "did you mean <hostname>?", 3 },
        { N("<dns><txt name='a' value='b'/><text/></dns>"), "unknown element <text> in <dns>", 3 },
};

static void test_errors(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ConfError err = {};
                NetworkDef *def = NULL;
                int r = network_def_parse(cases[i].xml, strlen(cases[i].xml), &def, &err);
                CHECK(r == -EINVAL, "case %zu: expected failure, got %d\n%s", i, r, cases[i].xml);
                CHECK(!def, "case %zu: def set on failure", i);
                CHECK(err.message && strstr(err.message, cases[i].expect), "case %zu: message '%s' lacks '%s'", i,
                      strna(err.message), cases[i].expect);
                if (cases[i].line >= 0)
                        CHECK(err.line == cases[i].line, "case %zu: line %d, expected %d (%s)", i, err.line, cases[i].line,
                              strna(err.message));
                network_def_free(def);
                conf_error_clear(&err);
        }
}

static void test_conflicts(void) {
        _cleanup_(network_def_freep) NetworkDef *a = parse_ok(network_default_xml());
        _cleanup_(network_def_freep) NetworkDef *b =
                parse_ok("<network><name>b</name><bridge name='virbr0'/><ip address='10.0.0.1' prefix='24'/></network>");
        _cleanup_(network_def_freep) NetworkDef *c =
                parse_ok("<network><name>c</name><bridge name='virbr5'/><ip address='192.168.122.200' prefix='25'/></network>");
        _cleanup_(network_def_freep) NetworkDef *d =
                parse_ok("<network><name>d</name><bridge name='virbr6'/><ip address='192.168.123.1' prefix='24'/></network>");
        _cleanup_(network_def_freep) NetworkDef *a2 = parse_ok(network_default_xml());
        ConfError err = {};

        if (!a || !b || !c || !d || !a2)
                return;
        const NetworkDef *others[] = { a };
        CHECK(network_def_check_conflicts(b, others, 1, &err) == -EINVAL && strstr(err.message, "bridge 'virbr0' is already used by network 'default'"),
              "%s", strna(err.message));
        CHECK(network_def_check_conflicts(c, others, 1, &err) == -EINVAL && strstr(err.message, "overlaps 192.168.122.0/24 of network 'default'"),
              "%s", strna(err.message));
        CHECK(network_def_check_conflicts(d, others, 1, &err) == 0, "%s", strna(err.message));
        /* the same network (by name) is its own older version, no conflict */
        CHECK(network_def_check_conflicts(a2, others, 1, &err) == 0, "%s", strna(err.message));

        /* normalize skips bridge names of other networks */
        NetworkNormalizeCtx ctx = { .others = others, .n_others = 1 };
        _cleanup_(network_def_freep) NetworkDef *e = parse_ok("<network><name>e</name></network>");
        CHECK(network_def_normalize(e, &ctx, &err) == 0 && streq(e->bridge, "virbr1"), "bridge %s", strna(e->bridge));
        CHECK(e->has_uuid && e->mac && strncmp(e->mac, "52:54:00:", 9) == 0, "mac %s", strna(e->mac));
        conf_error_clear(&err);
}

/* parentIndex picks the <ip> (from 0, every <ip> counted) as libvirt's virNetworkUpdate. */
static void test_update_parent_index(void) {
        _cleanup_(network_def_freep) NetworkDef *def = parse_ok(
                "<network><name>pi</name><bridge name='vmbrpi'/>"
                "<ip address='10.1.0.1' prefix='24'><dhcp><range start='10.1.0.10' end='10.1.0.20'/></dhcp></ip>"
                "<ip family='ipv6' address='fd00:1::1' prefix='64'><dhcp><range start='fd00:1::10' end='fd00:1::20'/></dhcp></ip>"
                "<ip address='10.2.0.1' prefix='24'/></network>");
        ConfError err = {};
        int r;

        if (!def)
                return;
        /* an entry without an address goes where parentIndex says, not to the first <ip> */
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_LAST, 1, "<host name='six' id='0:1:0:1:aa'/>", &err);
        CHECK(r == 0 && def->ips[1].n_hosts == 1 && def->ips[0].n_hosts == 0, "host into <ip> 1: %s", strna(err.message));
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_LAST, -1, "<host name='four' id='0:1:0:1:bb'/>", &err);
        CHECK(r == 0 && def->ips[0].n_hosts == 1 && def->ips[1].n_hosts == 1, "default: the first <ip> with <dhcp>: %s",
              strna(err.message));
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_LAST, 1, "<host name='six2' ip='fd00:1::5'/>", &err);
        CHECK(r == 0 && def->ips[1].n_hosts == 2, "IPv6 host into <ip> 1: %s", strna(err.message));
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_LAST, 0, "<host name='x' ip='fd00:1::6'/>", &err);
        CHECK(r == -EINVAL && strstr(strempty(err.message), "<ip> number 0 (10.1.0.1) is IPv4"), "family: %s",
              strna(err.message));
        conf_error_clear(&err);
        /* the third <ip> is IPv4 too: only one IPv4 <ip> may serve DHCP, so it is refused, and nothing changed */
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_LAST, 2,
                               "<host mac='52:54:00:00:02:01' ip='10.2.0.5'/>", &err);
        CHECK(r == -EINVAL && strstr(strempty(err.message), "only one IPv4 <ip> may have <dhcp>") && !def->ips[2].has_dhcp,
              "host into <ip> 2: %s", strna(err.message));
        conf_error_clear(&err);
        r = network_def_update(def, "ip-dhcp-range", NETWORK_UPDATE_ADD_LAST, 1,
                               "<range start='fd00:1::100' end='fd00:1::120'/>", &err);
        CHECK(r == 0 && def->ips[1].n_ranges == 2 && def->ips[0].n_ranges == 1, "range into <ip> 1: %s",
              strna(err.message));
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_DELETE, 0, "<host name='six'/>", &err);
        CHECK(r == -ENOENT && def->ips[1].n_hosts == 2, "delete looks only in <ip> 0");
        conf_error_clear(&err);
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_DELETE, 1, "<host name='six'/>", &err);
        CHECK(r == 0 && def->ips[1].n_hosts == 1, "delete from <ip> 1: %s", strna(err.message));
        _cleanup_free_ char *xml = network_def_format(def);
        CHECK(xml && strstr(xml, "<range start='fd00:1::100' end='fd00:1::120'/>"), "formatted: %s", strna(xml));
}

/* net-update portgroup / dns-txt / dns-srv, as virsh. */
static void test_update_records(void) {
        _cleanup_(network_def_freep) NetworkDef *def = parse_ok(network_default_xml());
        ConfError err = {};
        int r;

        if (!def)
                return;
        r = network_def_update(def, "portgroup", NETWORK_UPDATE_ADD_LAST, -1, "<portgroup name='eng' default='yes'/>", &err);
        CHECK(r == 0 && def->n_portgroups == 1 && def->portgroups[0].is_default, "add portgroup: %s", strna(err.message));
        r = network_def_update(def, "portgroup", NETWORK_UPDATE_ADD_FIRST, -1, "<portgroup name='ops'/>", &err);
        CHECK(r == 0 && def->n_portgroups == 2 && streq(def->portgroups[0].name, "ops"), "add-first portgroup");
        r = network_def_update(def, "portgroup", NETWORK_UPDATE_ADD_LAST, -1, "<portgroup name='eng'/>", &err);
        CHECK(r == -EEXIST && strstr(strempty(err.message), "already a portgroup 'eng'"), "%s", strna(err.message));
        conf_error_clear(&err);
        r = network_def_update(def, "portgroup", NETWORK_UPDATE_MODIFY, -1, "<portgroup name='ops' default='yes'/>", &err);
        CHECK(r == -EINVAL && strstr(strempty(err.message), "are both default='yes'") && !def->portgroups[0].is_default,
              "a second default refused: %s", strna(err.message));
        conf_error_clear(&err);
        r = network_def_update(def, "portgroup", NETWORK_UPDATE_MODIFY, -1,
                               "<portgroup name='ops'><bandwidth><inbound average='100'/></bandwidth></portgroup>", &err);
        CHECK(r == 0 && def->portgroups[0].inbound.average == 100, "modify portgroup: %s", strna(err.message));
        r = network_def_update(def, "portgroup", NETWORK_UPDATE_DELETE, -1, "<portgroup name='eng'/>", &err);
        CHECK(r == 0 && def->n_portgroups == 1, "delete portgroup: %s", strna(err.message));
        r = network_def_update(def, "portgroup", NETWORK_UPDATE_DELETE, -1, "<portgroup name='nope'/>", &err);
        CHECK(r == -ENOENT, "delete a missing portgroup");
        conf_error_clear(&err);

        r = network_def_update(def, "dns-txt", NETWORK_UPDATE_ADD_LAST, -1, "<txt name='t1' value='one'/>", &err);
        CHECK(r == 0 && def->n_dns_txts == 1, "add txt: %s", strna(err.message));
        r = network_def_update(def, "dns-txt", NETWORK_UPDATE_ADD_LAST, -1, "<txt name='t1' value='again'/>", &err);
        CHECK(r == -EEXIST, "duplicate txt");
        conf_error_clear(&err);
        r = network_def_update(def, "dns-txt", NETWORK_UPDATE_MODIFY, -1, "<txt name='t1' value='x'/>", &err);
        CHECK(r == -EOPNOTSUPP && strstr(strempty(err.message), "cannot be modified"), "modify txt: %s", strna(err.message));
        conf_error_clear(&err);
        r = network_def_update(def, "dns-txt", NETWORK_UPDATE_DELETE, -1, "<txt name='t1' value='one'/>", &err);
        CHECK(r == 0 && def->n_dns_txts == 0, "delete txt: %s", strna(err.message));

        r = network_def_update(def, "dns-srv", NETWORK_UPDATE_ADD_LAST, -1,
                               "<srv service='ldap' protocol='tcp' target='a.example' port='389'/>", &err);
        CHECK(r == 0 && def->n_dns_srvs == 1, "add srv: %s", strna(err.message));
        r = network_def_update(def, "dns-srv", NETWORK_UPDATE_ADD_LAST, -1,
                               "<srv service='ldap' protocol='tcp' target='b.example' port='389'/>", &err);
        CHECK(r == 0 && def->n_dns_srvs == 2, "a second target of the same service: %s", strna(err.message));
        r = network_def_update(def, "dns-srv", NETWORK_UPDATE_ADD_LAST, -1,
                               "<srv service='ldap' protocol='tcp' target='a.example' port='1389'/>", &err);
        CHECK(r == -EEXIST, "the same service and target again");
        conf_error_clear(&err);
        r = network_def_update(def, "dns-srv", NETWORK_UPDATE_DELETE, -1,
                               "<srv service='ldap' protocol='tcp' target='b.example'/>", &err);
        CHECK(r == 0 && def->n_dns_srvs == 1 && streq(def->dns_srvs[0].target, "a.example"), "delete srv: %s",
              strna(err.message));
        r = network_def_update(def, "dns-srv", NETWORK_UPDATE_DELETE, -1, "<srv service='ldap' protocol='tcp'/>", &err);
        CHECK(r == 0 && def->n_dns_srvs == 0, "delete srv by service and protocol: %s", strna(err.message));
        r = network_def_update(def, "dns-txt", NETWORK_UPDATE_ADD_LAST, -1, "<srv service='x' protocol='tcp'/>", &err);
        CHECK(r == -EINVAL && strstr(strempty(err.message), "<txt>"), "wrong element: %s", strna(err.message));
        conf_error_clear(&err);
        _cleanup_free_ char *xml = network_def_format(def);
        CHECK(xml && strstr(xml, "<portgroup name='ops'>"), "formatted: %s", strna(xml));
}

static void test_update(void) {
        _cleanup_(network_def_freep) NetworkDef *def = parse_ok(network_default_xml());
        ConfError err = {};
        int r;

        if (!def)
                return;
        CHECK(network_update_command_from_string("add") == NETWORK_UPDATE_ADD_LAST, "add");
        CHECK(network_update_command_from_string("bogus") == -EINVAL, "bogus");

        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_LAST, -1,
                               "<host mac='52:54:00:00:00:02' name='b' ip='192.168.122.12'/>", &err);
        CHECK(r == 0, "%s", strna(err.message));
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_FIRST, -1,
                               "<host mac='52:54:00:00:00:01' name='a' ip='192.168.122.11'/>", &err);
        CHECK(r == 0, "%s", strna(err.message));
        CHECK(def->ips[0].n_hosts == 2 && streq(def->ips[0].hosts[0].name, "a"), "order");
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_LAST, -1,
                               "<host mac='52:54:00:00:00:01' name='dup' ip='192.168.122.13'/>", &err);
        CHECK(r == -EEXIST && strstr(err.message, "already a DHCP host entry"), "%d %s", r, strna(err.message));
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_LAST, -1,
                               "<host mac='52:54:00:00:00:03' ip='10.0.0.3'/>", &err);
        CHECK(r == -EINVAL && strstr(err.message, "outside the network"), "%d %s", r, strna(err.message));
        CHECK(def->ips[0].n_hosts == 2, "unchanged after a failed update");
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_MODIFY, -1,
                               "<host mac='52:54:00:00:00:02' name='bee' ip='192.168.122.22'/>", &err);
        CHECK(r == 0 && streq(def->ips[0].hosts[1].name, "bee"), "%s", strna(err.message));
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_DELETE, -1, "<host mac='52:54:00:00:00:01'/>", &err);
        CHECK(r == 0 && def->ips[0].n_hosts == 1 && streq(def->ips[0].hosts[0].name, "bee"), "%s", strna(err.message));
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_DELETE, -1, "<host mac='52:54:00:00:00:09'/>", &err);
        CHECK(r == -ENOENT, "%d", r);
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_LAST, 3, "<host mac='52:54:00:00:00:09' ip='192.168.122.9'/>", &err);
        CHECK(r == -EINVAL && strstr(err.message, "no <ip> number 3"), "%s", strna(err.message));
        r = network_def_update(def, "ip-dhcp-host", NETWORK_UPDATE_ADD_LAST, -1, "<hots mac='52:54:00:00:00:09'/>", &err);
        CHECK(r == -EINVAL && strstr(err.message, "root element must be <host>"), "%s", strna(err.message));

        r = network_def_update(def, "ip-dhcp-range", NETWORK_UPDATE_ADD_LAST, -1,
                               "<range start='192.168.122.100' end='192.168.122.110'/>", &err);
        CHECK(r == -EINVAL && strstr(err.message, "overlap"), "%s", strna(err.message));
        r = network_def_update(def, "ip-dhcp-range", NETWORK_UPDATE_DELETE, -1,
                               "<range start='192.168.122.2' end='192.168.122.254'/>", &err);
        CHECK(r == 0 && def->ips[0].n_ranges == 0, "%s", strna(err.message));
        r = network_def_update(def, "ip-dhcp-range", NETWORK_UPDATE_ADD_LAST, -1,
                               "<range start='192.168.122.100' end='192.168.122.110'/>", &err);
        CHECK(r == 0 && def->ips[0].n_ranges == 1, "%s", strna(err.message));

        r = network_def_update(def, "dns-host", NETWORK_UPDATE_ADD_LAST, -1,
                               "<host ip='192.168.122.7'><hostname>seven</hostname></host>", &err);
        CHECK(r == 0 && def->n_dns_hosts == 1, "%s", strna(err.message));
        r = network_def_update(def, "dns-host", NETWORK_UPDATE_ADD_LAST, -1,
                               "<host ip='192.168.122.7'><hostname>again</hostname></host>", &err);
        CHECK(r == -EEXIST, "%d", r);
        r = network_def_update(def, "dns-host", NETWORK_UPDATE_DELETE, -1, "<host ip='192.168.122.7'><hostname>x</hostname></host>", &err);
        CHECK(r == 0 && def->n_dns_hosts == 0, "%s", strna(err.message));
        r = network_def_update(def, "forward", NETWORK_UPDATE_MODIFY, -1, "<forward mode='route'/>", &err);
        CHECK(r == -EOPNOTSUPP && strstr(strempty(err.message), "updating section 'forward' is not supported"), "%d", r);
        conf_error_clear(&err);

        _cleanup_free_ char *out = network_def_format(def);
        CHECK(strstr(out, "<host mac='52:54:00:00:00:02' name='bee' ip='192.168.122.22'/>") &&
              strstr(out, "<range start='192.168.122.100' end='192.168.122.110'/>"), "%s", out);
        conf_error_clear(&err);
}

int main(void) {
        test_round_trips();
        test_errors();
        test_conflicts();
        test_update();
        test_update_parent_index();
        test_update_records();
        if (failures) {
                fprintf(stderr, "%d failure(s)\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
