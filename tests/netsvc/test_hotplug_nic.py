# Hot-plugged interfaces (issue 14 item 1) in a private netns (netsvc_util): a NIC attached live to
# the booted busybox guest on the default network gets its tap on the bridge (passed to qemu as an
# fd), shows up in the guest as eth0 and gets a DHCP lease that GetDHCPLeases reports; detached it
# goes from the guest and its tap from the host. A NIC on a network that is not active is refused
# and leaves no tap.
import os
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsvc_util import NetTestCase, net_path, net_xml, links, NET_IFACE, WAIT, opts, main, unwrap  # noqa: E402
from vmgmt_harness import guest_image, guest_domain_xml  # noqa: E402

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly
ERR = 'org.vmgmt.Error.'
MAC = '52:54:00:ab:00:01'


def nic_xml(network, mac=MAC):
    return ("<interface type='network'><mac address='%s'/><source network='%s'/><model type='e1000'/></interface>"
            % (mac, network))


class HotplugNic(NetTestCase):
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

    def taps(self, path):
        root = ET.fromstring(str(self.dom(path).GetXML(opts())))
        return [t.get('dev') for i in root.iter('interface') for t in i.iter('target')]

    def test_attach_dhcp_detach(self):
        net = net_path('default')
        self.wait_active(net)
        path = self.define(guest_domain_xml('n1'))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        con = self.fx.console(path)
        con.wait_for('vmgmt-guest ready', BOOT_TIMEOUT)
        before = links()
        self.rec.clear()
        self.dom(path).AttachDevice(nic_xml('default'), opts(live=True))
        self.rec.wait_domain_event(path, 'device-added')
        alias = [d for e, d in self.rec.domain_events(path) if e == 'device-added']
        self.assertEqual(len(alias), 1)
        taps = self.taps(path)
        self.assertEqual(len(taps), 1, taps)
        self.assertIn(taps[0], links())
        self.assertEqual(sorted(set(links()) - set(before)), taps)
        # the guest gets the NIC and a lease for its MAC
        con.send("for i in $(seq 1 %d); do test -e /sys/class/net/eth0 && break; sleep 1; done; ip link set eth0 up; "
                 "udhcpc -i eth0 -n -q -t 20 -T 2 -s /etc/udhcpc.script >/dev/null 2>&1 && echo LEASE_''OK || "
                 "echo LEASE_''NO" % WAIT)
        deadline = time.monotonic() + WAIT + 60
        while b'LEASE_OK' not in con.buf and b'LEASE_NO' not in con.buf.replace(b"LEASE_''NO", b''):
            self.assertLess(time.monotonic(), deadline, 'the guest never answered')
            con._read()
            time.sleep(0.1)
        self.assertIn(b'LEASE_OK', con.buf, con.buf[-2000:].decode('utf-8', 'replace'))
        deadline = time.monotonic() + WAIT   # dnsmasq writes its lease file after it answered
        while True:
            leases = [l for l in unwrap(self.net(net).GetDHCPLeases(opts())) if l['mac'] == MAC]
            if leases or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(len(leases), 1, leases)
        self.assertTrue(leases[0]['ip'].startswith('192.168.122.'))
        # and the domain's own addresses say so (source lease: the network's leases for the NIC's MAC)
        addrs = unwrap(self.dom(path).GetInterfaceAddresses(opts(source='lease')))
        self.assertEqual([(a['hwaddr'], a['address']) for a in addrs], [(MAC, leases[0]['ip'])], addrs)
        # detach: the guest lets go, the tap goes
        self.rec.clear()
        self.dom(path).DetachDevice(nic_xml('default'), opts(live=True))
        self.rec.wait_domain_event(path, 'device-removed', timeout=WAIT)
        self.assertEqual([d for e, d in self.rec.domain_events(path) if e == 'device-removed'], alias)
        self.assertEqual(self.taps(path), [])
        deadline = time.monotonic() + WAIT
        while taps[0] in links():
            self.assertLess(time.monotonic(), deadline, 'the tap stayed')
            time.sleep(0.05)
        self.dom(path).Destroy(opts())

    def test_inactive_network_leaves_no_tap(self):
        self.manager.DefineNetwork(net_xml('off', 'vmbr7', subnet='10.92.0'), opts())
        path = self.define(guest_domain_xml('n2'))
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        before = links()
        xml_before = str(self.dom(path).GetXML(opts()))
        msg = self.assertDBusError(ERR + 'InvalidState', self.dom(path).AttachDevice, nic_xml('off'), opts(live=True))
        self.assertIn("network 'off' is not active", msg)
        self.assertDBusError('org.freedesktop.DBus.Error.InvalidArgs', self.dom(path).AttachDevice,
                             nic_xml('nope'), opts(live=True))
        self.assertEqual(links(), before)
        self.assertEqual(str(self.dom(path).GetXML(opts())), xml_before)
        self.dom(path).Destroy(opts())


if __name__ == '__main__':
    main()
