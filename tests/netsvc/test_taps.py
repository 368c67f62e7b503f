# Taps and bridges seen from the outside: a running domain's tap goes back on its network's bridge when
# the network is stopped and started again (and stays there across a daemon restart); an isolated
# network forwards nothing beyond its bridge; a dnsmasq that dies comes back, signalled. In a private netns (netsvc_util re-executes there); the
# "guest" and "outside" ends are namespaces of this test.
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsvc_util import *  # noqa: F401,F403,E402
from netsvc_util import (NetTestCase, net_path, net_xml, links, dnsmasq_pids, reap, NET_IFACE,  # noqa: E402
                         WAIT, opts, unwrap, log, main)
from vmgmt_harness import minimal_domain_xml  # noqa: E402


# `ip netns` names live in a tmpfs of this test's own mount namespace, never in the host's /run/netns
os.makedirs('/run/netns', exist_ok=True)
subprocess.run(['mount', '-t', 'tmpfs', 'tmpfs', '/run/netns'], check=True)


def run(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


def in_ns(ns, *cmd, check=False, timeout=WAIT):
    return subprocess.run(['ip', 'netns', 'exec', ns] + list(cmd), capture_output=True, text=True, check=check,
                          timeout=timeout)


def add_ns(test, ns):
    run('ip', 'netns', 'add', ns)
    test.addCleanup(run, 'ip', 'netns', 'del', ns, check=False)
    run('ip', '-n', ns, 'link', 'set', 'lo', 'up')


def add_guest(test, ns, bridge, mac):
    """A namespace whose eth0 is a veth whose peer is a port of `bridge`: a guest without qemu."""
    add_ns(test, ns)
    host = 'h-' + ns
    run('ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    run('ip', '-n', ns, 'link', 'set', 'eth0', 'address', mac, 'up')
    run('ip', 'link', 'set', host, 'master', bridge, 'up')
    # with STP on, the kernel keeps a new port listening/learning for 2 x 2 s at least
    deadline = time.monotonic() + WAIT
    while json.loads(run('bridge', '-j', 'link', 'show', 'dev', host).stdout)[0].get('state') != 'forwarding':
        test.assertLess(time.monotonic(), deadline, 'port %s of %s never forwarding' % (host, bridge))
        time.sleep(0.1)


def dhcp(ns):
    """One DHCP exchange from ns's eth0 (busybox udhcpc); the address it got, or None. It asks
    again every 2 s until a lease comes, for a minute at most (it stops at the first answer)."""
    r = in_ns(ns, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '30', '-T', '2', '-s', '/bin/true',
              timeout=WAIT)
    log('udhcpc in %s: %s%s' % (ns, r.stdout, r.stderr))
    for line in (r.stdout + r.stderr).splitlines():
        if 'lease of' in line and 'obtained' in line:
            return line.split('lease of', 1)[1].split()[0]
    return None


def link_info(name):
    r = subprocess.run(['ip', '-d', '-j', 'link', 'show', 'dev', name], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)[0]


def with_nic(xml, mac, network):
    nic = "<interface type='network'><mac address='%s'/><source network='%s'/><model type='e1000'/></interface>" % (
        mac, network)
    return xml.replace('<devices>', '<devices>' + nic, 1)


def live_tap(xml):
    return xml.split("<target dev='", 1)[1].split("'", 1)[0]


class Taps(NetTestCase):
    def wait_master(self, tap, bridge, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            info = link_info(tap)
            if info and info.get('master') == bridge:
                return info
            self.assertLess(time.monotonic(), deadline, 'tap %s not on %s: %s' % (tap, bridge, info))
            time.sleep(0.05)

    def test_tap_reattached_after_network_restart(self):
        n = str(self.manager.DefineNetwork(net_xml('tn', 'vmbr20', subnet='10.60.0', forward=None), opts()))
        self.net(n).Start(opts())
        self.wait_net_event(n, 'started')
        path = self.define(with_nic(minimal_domain_xml('tapdom'), '52:54:00:bb:00:01', 'tn'))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        tap = live_tap(str(self.dom(path).GetXML(opts())))
        info = self.wait_master(tap, 'vmbr20')
        mtu = info['mtu']

        # stop: the bridge goes, the tap stays (qemu holds it), detached
        self.rec.clear()
        self.net(n).Stop(opts())
        self.wait_net_event(n, 'stopped')
        self.assertNotIn('vmbr20', links())
        info = link_info(tap)
        self.assertIsNotNone(info, 'the tap must stay while the domain runs')
        self.assertNotIn('master', info)
        self.assertEqual(self.client.state(path)[0], 'running')

        # start again: the tap is enslaved to the new bridge, up, with the bridge's MTU
        self.net(n).Start(opts())
        self.wait_net_event(n, 'started')
        info = self.wait_master(tap, 'vmbr20')
        self.assertIn('UP', info['flags'])
        self.assertEqual(info['mtu'], mtu)
        self.assertEqual(info['linkinfo']['info_slave_kind'], 'bridge')

        # a daemon restart keeps it there
        self.daemon.stop()
        self.daemon.start()
        self.assertTrue(self.client.prop(n, 'Active', NET_IFACE))
        self.assertEqual(link_info(tap).get('master'), 'vmbr20')

        # a network that went away while the daemon was down is started again (autostart) and gets it back
        self.client.set_prop(n, 'Autostart', True, NET_IFACE)
        self.daemon.stop()
        subprocess.run(['ip', 'link', 'del', 'vmbr20'], check=True)
        self.assertNotIn('master', link_info(tap))
        self.daemon.start()
        self.wait_master(tap, 'vmbr20')

        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')


    def test_dnsmasq_restart_signalled(self):
        n = str(self.manager.DefineNetwork(net_xml('dn', 'vmbr21', subnet='10.61.0'), opts()))
        self.net(n).Start(opts())
        self.wait_net_event(n, 'started')
        pid = int(self.client.prop(n, 'DnsmasqPID', NET_IFACE))
        self.assertIn(pid, dnsmasq_pids())
        self.assertIn(('PropertiesChanged', ('Active', 'DnsmasqPID')), self.rec.kinds(n))

        self.rec.clear()
        os.kill(pid, signal.SIGKILL)
        reap()
        changes = self.rec.wait_for(lambda en: [e[3]['DnsmasqPID'] for e in en if e[0] == 'PropertiesChanged'
                                                and e[1] == n and 'DnsmasqPID' in e[3]], WAIT, 'DnsmasqPID change')
        new = changes[-1]
        self.assertNotIn(new, (0, pid))
        self.assertEqual(dnsmasq_pids(), [new])
        self.assertEqual(int(self.client.prop(n, 'DnsmasqPID', NET_IFACE)), new)
        self.assertTrue(self.client.prop(n, 'Active', NET_IFACE))
        self.assertEqual(self.net_events(n), [], 'the network itself neither stopped nor started')
        self.assertIn("dnsmasq of network 'dn' exited and was restarted (pid %d)" % new, self.daemon.log_text())

        # the new one serves leases
        add_guest(self, 'gdhcp', 'vmbr21', '52:54:00:bb:01:01')
        ip = dhcp('gdhcp')
        self.assertIsNotNone(ip, 'no DHCP lease from the restarted dnsmasq')
        self.assertTrue(ip.startswith('10.61.0.'), ip)
        leases = unwrap(self.net(n).GetDHCPLeases(opts()))
        self.assertEqual([(l['mac'], l['ip']) for l in leases], [('52:54:00:bb:01:01', ip)])

        self.net(n).Stop(opts())
        self.wait_net_event(n, 'stopped')
        self.assertEqual(dnsmasq_pids(), [])
        self.assertEqual(self.client.prop(n, 'DnsmasqPID', NET_IFACE), 0)


def nft_table():
    return run('nft', 'list', 'table', 'inet', 'vmgmt').stdout


def nft_chain(name):
    """The rules of chain `name` of table inet vmgmt (without braces and the header), or None."""
    r = run('nft', 'list', 'chain', 'inet', 'vmgmt', name, check=False)
    if r.returncode != 0:
        return None
    lines = [l.strip() for l in r.stdout.splitlines()]
    return [l for l in lines if l and not l.startswith(('table', 'chain')) and l != '}']


class Isolation(NetTestCase):
    """A guest namespace on the network's bridge and an 'outside' namespace routed from this one
    (which forwards: ip_forward=1 here), so only vmgmt's rules stand between them."""

    def setUp(self):
        super().setUp()
        with open('/proc/sys/net/ipv4/ip_forward', 'w') as f:
            f.write('1\n')
        add_ns(self, 'outside')
        run('ip', 'link', 'add', 'h-out', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'outside')
        run('ip', 'addr', 'add', '10.64.0.1/24', 'dev', 'h-out')
        run('ip', 'link', 'set', 'h-out', 'up')
        run('ip', '-n', 'outside', 'addr', 'add', '10.64.0.2/24', 'dev', 'eth0')
        run('ip', '-n', 'outside', 'link', 'set', 'eth0', 'up')
        run('ip', '-n', 'outside', 'route', 'add', 'default', 'via', '10.64.0.1')
        subprocess.run(['ip', 'netns', 'exec', 'outside', 'nft', '-f', '-'], check=True, text=True, input=(
            'table inet probe {\n chain pre { type filter hook prerouting priority -300;\n'
            '  ip saddr 10.62.0.0/24 counter\n  ip saddr 10.65.0.0/24 counter\n }\n}\n'))

    def guest_on(self, ns, bridge, subnet, mac):
        add_guest(self, ns, bridge, mac)
        run('ip', '-n', ns, 'addr', 'add', subnet + '.50/24', 'dev', 'eth0')
        run('ip', '-n', ns, 'route', 'add', 'default', 'via', subnet + '.1')

    def ping(self, ns, addr, reply_wait=WAIT):
        """Two echo requests from ns to addr; True when the replies came. An answer ends
        the wait at once, so where one is expected the wait is long (it only bounds a hang);
        where none is (reply_wait=1) the nft counters tell what went where."""
        r = in_ns(ns, 'busybox', 'ping', '-c', '2', '-W', str(reply_wait), addr)
        log('ping from %s to %s: %s%s' % (ns, addr, r.stdout, r.stderr))
        return r.returncode == 0

    def count_outside(self, subnet):
        """Packets from subnet (a /24) that reached the outside namespace (a counter in its own nft table)."""
        chain = json.loads(in_ns('outside', 'nft', '-j', 'list', 'chain', 'inet', 'probe', 'pre').stdout)
        return sum(e['rule']['expr'][-1]['counter']['packets'] for e in chain['nftables'] if 'rule' in e
                   and subnet in json.dumps(e['rule']['expr']))

    def test_isolated_forwards_nothing(self):
        iso = str(self.manager.DefineNetwork(net_xml('iso', 'vmbr22', subnet='10.62.0', forward=None,
                                                     dhcp=False), opts()))
        self.net(iso).Start(opts())
        self.wait_net_event(iso, 'started')
        self.assertEqual(self.client.prop(iso, 'ForwardMode', NET_IFACE), 'isolated')
        self.guest_on('giso', 'vmbr22', '10.62.0', '52:54:00:bb:02:01')
        self.assertTrue(self.ping('giso', '10.62.0.1'), 'the guest reaches its bridge')
        self.assertTrue(self.ping('outside', '10.64.0.1'), 'the outside reaches this namespace')
        self.assertFalse(self.ping('giso', '10.64.0.2', reply_wait=1), 'an isolated network forwarded a packet out')
        self.assertFalse(self.ping('outside', '10.62.0.50', reply_wait=1), 'an isolated network forwarded a packet in')
        # not one packet of the guest's got to the outside end
        self.assertEqual(self.count_outside('10.62.0.0'), 0)

        # vmgmt's rules for it: nothing forwarded, nothing NATed
        table = nft_table()
        self.assertNotIn('masquerade', table)
        self.assertNotIn('snat', table)
        self.assertEqual(nft_chain('nat_vmbr22') or [], [])
        self.assertEqual(nft_chain('fwd_out_vmbr22'), ['iifname "vmbr22" return', 'reject'])
        self.assertEqual(nft_chain('fwd_in_vmbr22'), ['oifname "vmbr22" return', 'reject'])

        # the same setup on a routed network does get through: the test can tell the difference
        rt = str(self.manager.DefineNetwork(net_xml('rt', 'vmbr23', subnet='10.65.0', forward='route',
                                                    dhcp=False), opts()))
        self.net(rt).Start(opts())
        self.wait_net_event(rt, 'started')
        self.guest_on('grt', 'vmbr23', '10.65.0', '52:54:00:bb:02:02')
        self.assertTrue(self.ping('grt', '10.64.0.2'), 'a routed network forwards')
        self.assertGreater(self.count_outside('10.65.0.0'), 0)
        # and the isolated one still forwards nothing, also not to the routed network's guest
        self.assertFalse(self.ping('giso', '10.65.0.50', reply_wait=1))
        self.assertFalse(self.ping('giso', '10.64.0.2', reply_wait=1))
        self.assertEqual(self.count_outside('10.62.0.0'), 0)

        self.net(iso).Stop(opts())
        self.wait_net_event(iso, 'stopped')
        self.assertIsNone(nft_chain('fwd_out_vmbr22'))


if __name__ == '__main__':
    main()
