# Guests on networks: a booted busybox guest on the default network gets a DHCP lease that
# GetDHCPLeases reports and pings the bridge; two guests reach each other; the tap goes when the
# domain stops; a domain on an inactive network does not start. In a private netns (netsvc_util).
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsvc_util import *  # noqa: F401,F403,E402
from netsvc_util import NetTestCase, net_path, net_xml, links, NET_IFACE, WAIT, opts, main  # noqa: E402
from vmgmt_harness import guest_image, guest_domain_xml  # noqa: E402
import dbus  # noqa: E402

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly
ERR = 'org.vmgmt.Error.'


def with_nic(xml, mac, network='default', itype='network'):
    src = "<source network='%s'/>" % network if itype == 'network' else "<source bridge='%s'/>" % network
    nic = "<interface type='%s'><mac address='%s'/>%s<model type='e1000'/></interface>" % (itype, mac, src)
    return xml.replace('<devices>', '<devices>' + nic, 1)


class Guests(NetTestCase):
    default_network = True

    @classmethod
    def setUpClass(cls):
        guest_image()
        super().setUpClass()

    def wait_active(self, path):
        deadline = time.monotonic() + WAIT
        while not self.client.prop(path, 'Active', NET_IFACE):
            self.assertLess(time.monotonic(), deadline, 'network did not become active')
            time.sleep(0.05)

    def boot(self, name, mac, network='default', itype='network'):
        path = self.define(with_nic(guest_domain_xml(name), mac, network, itype))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        con = self.fx.console(path)
        con.wait_for('vmgmt-guest net:', BOOT_TIMEOUT)
        con.wait_for('vmgmt-guest ready', BOOT_TIMEOUT)
        return path, con

    def test_dhcp_lease_and_ping(self):
        net = net_path('default')
        self.wait_active(net)
        path, con = self.boot('g1', '52:54:00:aa:00:01')
        self.assertNotIn(b'no DHCP lease', con.buf)
        live = str(self.dom(path).GetXML(opts()))
        self.assertIn("<target dev='vnet", live)
        tap = live.split("<target dev='", 1)[1].split("'", 1)[0]
        self.assertIn(tap, links())
        leases = unwrap(self.net(net).GetDHCPLeases(opts()))
        mine = [l for l in leases if l['mac'] == '52:54:00:aa:00:01']
        self.assertEqual(len(mine), 1, leases)
        self.assertTrue(mine[0]['ip'].startswith('192.168.122.'))
        self.assertEqual(mine[0]['prefix'], 24)
        self.assertEqual(mine[0]['type'], 'ipv4')
        self.assertGreater(mine[0]['expiry'], time.time())
        con.send('ping -c 2 -w %d 192.168.122.1 && echo PING_''OK' % WAIT)
        con.wait_for('PING_OK', WAIT + 30)
        # a daemon restart keeps the bridge, dnsmasq, the lease and the tap
        self.daemon.stop()
        self.daemon.start()
        self.assertTrue(self.client.prop(net, 'Active', NET_IFACE))
        again = [l for l in unwrap(self.net(net).GetDHCPLeases(opts())) if l['mac'] == '52:54:00:aa:00:01']
        self.assertEqual(again, mine)
        self.assertIn(tap, links())
        self.assertEqual(self.client.state(path)[0], 'running')
        con.send('ping -c 1 -w %d 192.168.122.1 && echo AGAIN_''OK' % WAIT)
        con.wait_for('AGAIN_OK', WAIT + 30)
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        deadline = time.monotonic() + WAIT
        while tap in links() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertNotIn(tap, links())

    def test_autostart_domain_after_autostart_network(self):
        net = net_path('default')
        self.wait_active(net)
        path = self.define(with_nic(guest_domain_xml('auto1'), '52:54:00:aa:04:01'))
        self.client.set_prop(path, 'Autostart', dbus.Boolean(True))
        self.net(net).Stop(opts())
        self.wait_net_event(net, 'stopped')
        self.daemon.stop()
        self.daemon.start()
        self.client.wait_state(path, 'running', timeout=WAIT)
        self.assertTrue(self.client.prop(net, 'Active', NET_IFACE))
        con = self.fx.console(path)
        con.wait_for('vmgmt-guest net:', BOOT_TIMEOUT)
        self.assertNotIn(b'no DHCP lease', con.buf)

    def test_two_guests_reach_each_other(self):
        n = str(self.manager.DefineNetwork(net_xml('lan', 'vmbr9', subnet='10.90.0', forward=None), opts()))
        self.net(n).Start(opts())
        self.wait_active(n)
        p1, c1 = self.boot('a1', '52:54:00:aa:01:01', 'lan')
        p2, c2 = self.boot('a2', '52:54:00:aa:01:02', 'lan')
        leases = {l['mac']: l['ip'] for l in unwrap(self.net(n).GetDHCPLeases(opts()))}
        ip2 = leases['52:54:00:aa:01:02']
        c1.send('ping -c 2 -w %d %s && echo PEER_''OK' % (WAIT, ip2))
        c1.wait_for('PEER_OK', WAIT + 30)

    def test_inactive_or_missing_network_refused(self):
        self.manager.DefineNetwork(net_xml('off', 'vmbr8', subnet='10.91.0'), opts())
        path = self.define(with_nic(guest_domain_xml('x1'), '52:54:00:aa:02:01', 'off'))
        before = links()
        msg = self.assertDBusError(ERR + 'InvalidState', self.dom(path).Start, opts())
        self.assertIn("network 'off' is not active", msg)
        path2 = self.define(with_nic(guest_domain_xml('x2'), '52:54:00:aa:02:02', 'nope'))
        msg = self.assertDBusError(ERR + 'OperationFailed', self.dom(path2).Start, opts())
        self.assertIn("network 'nope' not found", msg)
        self.assertEqual(links(), before)
        self.assertEqual(self.client.state(path)[0], 'shutoff')

    def test_bridge_interface(self):
        self.wait_active(net_path('default'))
        path, con = self.boot('b1', '52:54:00:aa:03:01', 'virbr0', itype='bridge')
        self.assertNotIn(b'no DHCP lease', con.buf)


if __name__ == '__main__':
    main()
