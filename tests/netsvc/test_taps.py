# Taps and bridges seen from the outside: a running domain's tap goes back on its network's bridge when
# the network is stopped and started again (and stays there across a daemon restart); an isolated
# network forwards nothing beyond its bridge. In a private netns (netsvc_util re-executes there); the
# "guest" and "outside" ends are namespaces of this test.
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsvc_util import *  # noqa: F401,F403,E402
from netsvc_util import NetTestCase, net_path, net_xml, links, NET_IFACE, opts, main  # noqa: E402
from vmgmt_harness import minimal_domain_xml  # noqa: E402


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
    def wait_master(self, tap, bridge, timeout=10):
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
        self.wait_master(tap, 'vmbr20', timeout=20)

        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')


if __name__ == '__main__':
    main()
