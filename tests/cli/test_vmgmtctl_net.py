# vmgmtctl's network options the other tests do not run, in a private network
# namespace (tests/netsvc/netsvc_util.py re-executes this program under
# unshare -n -m -p): net-update --current (the live state of an active
# network, the persistent config of an inactive one), net-list --inactive,
# and net-dhcp-leases --mac with real leases: busybox udhcpc on veth pairs
# plugged into the network's bridge asks the network's real dnsmasq; and the
# --json output of net-list, net-info and net-dhcp-leases.
#
# Run: /usr/bin/python3 tests/cli/test_vmgmtctl_net.py

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'netsvc'))
from netsvc_util import NetTestCase, net_xml, links, main  # noqa: E402  (re-executes in a netns)
from vmgmt_harness import run_vmgmtctl  # noqa: E402

MAC_FIXED = '52:54:00:c0:00:01'
MAC_OTHER = '52:54:00:c0:00:02'


class NetOptions(NetTestCase):
    default_network = False

    def setUp(self):
        super().setUp()
        # dnsmasq rereads its hosts file on SIGHUP (a live net-update) as user nobody:
        # the path must be reachable as on a real host (/run/vmgmt), not in a 0700 temp dir
        os.chmod(self.fx.tmp, 0o755)

    def ctl(self, *args):
        return run_vmgmtctl(self.fx.bus, *args)

    def ok(self, *args):
        r = self.ctl(*args)
        self.assertEqual(r.returncode, 0, 'vmgmtctl %s failed: %s' % (' '.join(args), r.stderr))
        self.assertEqual(r.stderr, '')
        return r.stdout

    def fails(self, *args):
        r = self.ctl(*args)
        self.assertEqual(r.returncode, 1, 'vmgmtctl %s: %r %r' % (' '.join(args), r.stdout, r.stderr))
        self.assertTrue(r.stderr.startswith('error: '), r.stderr)
        return r.stderr

    def names(self, *flags):
        return sorted(ln.split()[0] for ln in self.ok('net-list', *flags).splitlines()[2:] if ln.strip())

    def define(self, name, bridge, subnet):
        f = os.path.join(self.fx.tmp, name + '.xml')
        with open(f, 'w') as fh:
            fh.write(net_xml(name, bridge, subnet=subnet))
        self.ok('net-define', f)

    def plug(self, bridge, mac, n):
        """A veth pair: one end in the bridge, the other (MAC) for a DHCP client."""
        port, client = 'vcp%d' % n, 'vcc%d' % n
        subprocess.run(['ip', 'link', 'add', port, 'type', 'veth', 'peer', 'name', client], check=True)
        subprocess.run(['ip', 'link', 'set', client, 'address', mac], check=True)
        subprocess.run(['ip', 'link', 'set', port, 'master', bridge], check=True)
        for dev in (port, client):
            subprocess.run(['ip', 'link', 'set', dev, 'up'], check=True)
        return client

    def dhcp(self, iface, hostname):
        """busybox udhcpc: one lease, then quit; the interface is left unconfigured (-s true)."""
        r = subprocess.run([shutil.which('busybox'), 'udhcpc', '-i', iface, '-f', '-q', '-n', '-t', '20', '-T', '3',
                            '-s', '/bin/true', '-x', 'hostname:' + hostname],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0, 'udhcpc on %s got no lease:\n%s' % (iface, r.stdout))
        return r.stdout

    def leases(self, *args):
        lines = self.ok('net-dhcp-leases', 'lan', *args).splitlines()
        self.assertEqual(lines[0].split(), ['Expiry', 'Time', 'MAC', 'address', 'Protocol', 'IP', 'address',
                                            'Hostname', 'Client', 'ID', 'or', 'DUID'])
        self.assertTrue(lines[1].startswith('---'))
        # Expiry Time is "DATE TIME": the MAC is the third word
        return sorted(ln.split()[2:6] for ln in lines[2:] if ln.strip())

    def test_update_current_list_inactive_and_leases_by_mac(self):
        if not shutil.which('busybox'):
            self.fail('busybox (udhcpc) is not installed')
        self.define('lan', 'vmcov0', '10.97.0')
        self.define('idle', 'vmcov1', '10.98.0')
        self.ok('net-start', 'lan')
        self.assertIn('vmcov0', links())
        # --inactive: the defined, not started one only
        self.assertEqual(self.names('--inactive'), ['idle'])
        self.assertEqual(self.names(), ['lan'])
        self.assertEqual(self.names('--all'), ['idle', 'lan'])

        host = "<host mac='%s' name='fixed' ip='10.97.0.77'/>" % MAC_FIXED
        # --current on an active network: its live state only
        self.assertEqual(self.ok('net-update', 'lan', 'add-last', 'ip-dhcp-host', host, '--current'),
                         'Updated network lan live state\n')
        self.assertIn("ip='10.97.0.77'", self.ok('net-dumpxml', 'lan'))
        self.assertNotIn('10.97.0.77', self.ok('net-dumpxml', 'lan', '--inactive'))
        # --current on an inactive network: its persistent config
        other = "<host mac='%s' name='cold' ip='10.98.0.88'/>" % MAC_OTHER
        self.assertEqual(self.ok('net-update', 'idle', 'add-last', 'ip-dhcp-host', other, '--current'),
                         'Updated network idle persistent config\n')
        self.assertIn("ip='10.98.0.88'", self.ok('net-dumpxml', 'idle', '--inactive'))
        # --current with --live or --config is refused; nothing changes
        before = self.ok('net-dumpxml', 'lan')
        for flag in ('--live', '--config'):
            err = self.fails('net-update', 'lan', 'delete', 'ip-dhcp-host', host, '--current', flag)
            self.assertIn('--current excludes --live and --config', err)
        self.assertEqual(self.ok('net-dumpxml', 'lan'), before)

        # the live host entry is what dnsmasq hands out: two clients, each its lease
        out = self.dhcp(self.plug('vmcov0', MAC_FIXED, 1), 'cli-fixed')
        self.assertIn('10.97.0.77', out)
        self.dhcp(self.plug('vmcov0', MAC_OTHER, 2), 'cli-other')
        deadline = time.monotonic() + 60
        while len(self.leases()) < 2:
            self.assertLess(time.monotonic(), deadline, 'dnsmasq did not record both leases')
            time.sleep(0.2)
        everything = self.leases()
        self.assertEqual([row[0] for row in everything], [MAC_FIXED, MAC_OTHER])
        # --mac: that MAC's lease only
        fixed = self.leases('--mac', MAC_FIXED)
        # the name of the live host entry, not the one the client asked for
        self.assertEqual(fixed, [[MAC_FIXED, 'ipv4', '10.97.0.77/24', 'fixed']])
        other_rows = self.leases('--mac=' + MAC_OTHER)
        self.assertEqual(len(other_rows), 1, other_rows)
        self.assertEqual(other_rows[0][:2], [MAC_OTHER, 'ipv4'])
        self.assertEqual(other_rows[0][3], 'cli-other')
        ip = other_rows[0][2].split('/')[0]
        self.assertTrue(ip.startswith('10.97.0.') and 10 <= int(ip.split('.')[-1]) <= 100, ip)
        self.assertEqual(self.leases('--mac', '52:54:00:c0:00:99'), [])
        # --json: the same leases, and net-list / net-info as objects
        j = json.loads(self.ok('--json', 'net-dhcp-leases', 'lan', '--mac', MAC_FIXED))
        self.assertEqual([(x['mac'], x['type'], x['ip'], x['prefix'], x['hostname']) for x in j],
                         [(MAC_FIXED, 'ipv4', '10.97.0.77', 24, 'fixed')])
        self.assertGreater(j[0]['expiry'], time.time())
        self.assertEqual(sorted(x['mac'] for x in json.loads(self.ok('--json', 'net-dhcp-leases', 'lan'))),
                         [MAC_FIXED, MAC_OTHER])
        nets = {x['name']: x for x in json.loads(self.ok('--json', 'net-list', '--all'))}
        self.assertEqual(sorted(nets), ['idle', 'lan'])
        self.assertEqual((nets['lan']['active'], nets['lan']['state'], nets['lan']['bridge']), (True, 'active', 'vmcov0'))
        self.assertEqual((nets['idle']['active'], nets['idle']['persistent']), (False, True))
        self.assertEqual(json.loads(self.ok('--json', 'net-info', 'lan')), nets['lan'])
        # an inactive network has no leases to show
        self.assertIn('idle', self.fails('net-dhcp-leases', 'idle', '--mac', MAC_OTHER))


if __name__ == '__main__':
    main()
