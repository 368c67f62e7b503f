# A booted guest on the default network (in a private netns, netsvc_util): its interface counters
# (GetStats net.*, vmgmtctl domifstat) grow as the guest pings the bridge, and its address is told by
# GetInterfaceAddresses from the DHCP lease and from the host's ARP table (vmgmtctl domifaddr).
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsvc_util import *  # noqa: F401,F403,E402
from netsvc_util import NetTestCase, net_path, WAIT, NET_IFACE, opts, main, unwrap  # noqa: E402
from vmgmt_harness import guest_image, guest_domain_xml, run_vmgmtctl  # noqa: E402
import dbus  # noqa: E402

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly
MAC = '52:54:00:aa:00:31'


class StatsNet(NetTestCase):
    default_network = True

    @classmethod
    def setUpClass(cls):
        guest_image()
        super().setUpClass()

    def ctl(self, *args):
        r = run_vmgmtctl(self.fx.bus, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def net_stats(self, path):
        return unwrap(self.dom(path).GetStats(opts(groups=dbus.Array(['interface'], signature='s'),
                                                   timeout_ms=dbus.UInt32(WAIT * 1000)), timeout=WAIT + 30))

    def test_counters_and_addresses(self):
        net = net_path('default')
        deadline = time.monotonic() + WAIT
        while not self.client.prop(net, 'Active', NET_IFACE):
            self.assertLess(time.monotonic(), deadline, 'network did not become active')
            time.sleep(0.05)
        nic = ("<interface type='network'><mac address='%s'/><source network='default'/>"
               "<model type='e1000'/></interface>" % MAC)
        path = self.define(guest_domain_xml('n1').replace('<devices>', '<devices>' + nic, 1))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        con = self.fx.console(path)
        con.wait_for('vmgmt-guest net:', BOOT_TIMEOUT)
        con.wait_for('vmgmt-guest ready', BOOT_TIMEOUT)
        live = str(self.dom(path).GetXML(opts()))
        tap = live.split("<target dev='", 1)[1].split("'", 1)[0]

        s0 = self.net_stats(path)
        self.assertEqual((s0['net.count'], s0['net.0.name']), (1, tap))
        self.assertGreater(s0['net.0.tx.pkts'], 0)     # the guest's DHCP exchange, as the guest sees it
        self.assertGreater(s0['net.0.rx.pkts'], 0)
        with open('/sys/class/net/%s/statistics/rx_packets' % tap) as f:
            self.assertGreaterEqual(int(f.read()), s0['net.0.tx.pkts'])   # the tap's receive is the guest's send
        con.send('ping -c 5 -w %d 192.168.122.1 >/dev/null && echo PING_$((6*7))' % WAIT)
        con.wait_for('PING_42', WAIT + 30)
        s1 = self.net_stats(path)
        self.assertGreaterEqual(s1['net.0.tx.pkts'], s0['net.0.tx.pkts'] + 5)
        self.assertGreaterEqual(s1['net.0.rx.pkts'], s0['net.0.rx.pkts'] + 5)
        self.assertGreaterEqual(s1['net.0.tx.bytes'], s0['net.0.tx.bytes'] + 5 * 98)
        self.assertEqual((s1['net.0.rx.errs'], s1['net.0.tx.drop']), (0, 0))
        rows = dict((line.split()[1], int(line.split()[2])) for line in self.ctl('domifstat', 'n1', tap).splitlines())
        self.assertEqual(sorted(rows), sorted(['rx_bytes', 'rx_packets', 'rx_errs', 'rx_drop', 'tx_bytes',
                                               'tx_packets', 'tx_errs', 'tx_drop']))
        self.assertGreaterEqual(rows['tx_packets'], s1['net.0.tx.pkts'])

        # the address: from the lease, as GetDHCPLeases tells it
        lease = [l for l in unwrap(dbus.Interface(self.client.obj(net), NET_IFACE).GetDHCPLeases(opts()))
                 if l['mac'] == MAC]
        self.assertEqual(len(lease), 1)
        ip = lease[0]['ip']
        got = unwrap(self.dom(path).GetInterfaceAddresses(opts()))
        self.assertEqual(got, [{'name': tap, 'hwaddr': MAC, 'type': 'ipv4', 'address': ip, 'prefix': 24}])
        self.assertEqual(unwrap(self.dom(path).GetInterfaceAddresses(opts(source='lease'))), got)
        # and from the host's neighbour table: the guest just pinged the bridge
        arp = unwrap(self.dom(path).GetInterfaceAddresses(opts(source='arp')))
        self.assertIn({'name': tap, 'hwaddr': MAC, 'type': 'ipv4', 'address': ip, 'prefix': 0}, arp)
        out = self.ctl('domifaddr', 'n1')
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ['Name', 'MAC', 'address', 'Protocol', 'Address'])
        self.assertEqual(lines[2].split(), [tap, MAC, 'ipv4', '%s/24' % ip])
        out = self.ctl('domifaddr', 'n1', '--source', 'arp', '--interface', tap, '--full')
        self.assertIn('%s/0' % ip, out)
        self.assertEqual(self.ctl('domifaddr', 'n1', '--interface', 'vnet-none').splitlines()[2:], [''])


if __name__ == '__main__':
    main()
