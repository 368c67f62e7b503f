# Networks on the bus: define/start/stop/undefine with signals, the default network, bad XML and name
# clashes, autostart, Update, restart recovery — in a private netns (netsvc_util re-executes there).
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsvc_util import *  # noqa: F401,F403,E402
from netsvc_util import (NetTestCase, net_path, net_xml, links, nft_tables, dnsmasq_pids, NET_IFACE,  # noqa: E402
                         opts, main)
import dbus  # noqa: E402

ERR = 'org.vmgmt.Error.'


class DefaultNetwork(NetTestCase):
    default_network = True

    def test_default_defined_and_started(self):
        p = str(self.manager.GetNetwork('default'))
        self.assertEqual(p, net_path('default'))
        props = self.nprops(p)
        self.assertEqual(props['Name'], 'default')
        self.assertEqual(props['Bridge'], 'virbr0')
        self.assertEqual(props['ForwardMode'], 'nat')
        self.assertTrue(props['Persistent'])
        self.assertTrue(props['Autostart'])
        deadline = time.monotonic() + WAIT
        while not self.client.prop(p, 'Active', NET_IFACE) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(self.client.prop(p, 'Active', NET_IFACE))
        self.assertIn('virbr0', links())
        self.assertIn("address='192.168.122.1'", str(self.net(p).GetXML(opts())))
        objs = self.client.managed_objects()
        self.assertIn(p, objs)
        self.assertEqual(objs[p][NET_IFACE]['Bridge'], 'virbr0')
        # an undefined default is not defined again at the next start
        self.net(p).Stop(opts())
        self.net(p).Undefine(opts())
        self.assertNotIn('virbr0', links())
        self.daemon.stop()
        self.daemon.start()
        self.assertNotIn(p, [str(x) for x in self.manager.ListNetworks(opts())])


class Lifecycle(NetTestCase):
    def test_define_start_stop_undefine(self):
        before_links = links()
        p = str(self.manager.DefineNetwork(net_xml('n1', 'vmbr1'), opts()))
        self.assertEqual(p, net_path('n1'))
        self.assertEqual(self.net_events(p), ['defined'])
        added = self.rec.wait_for(lambda en: [e for e in en if e[0] == 'InterfacesAdded' and e[1] == p], 10,
                                  'InterfacesAdded')
        self.assertEqual(added[0][2][NET_IFACE]['Name'], 'n1')
        props = self.nprops(p)
        self.assertFalse(props['Active'])
        self.assertTrue(props['Persistent'])
        self.assertFalse(props['Autostart'])
        self.assertEqual(props['Bridge'], 'vmbr1')
        self.assertIn(p, [str(x) for x in self.manager.ListNetworks(opts(inactive=True))])
        self.assertTrue(os.path.exists(os.path.join(self.daemon.root, 'etc/vmgmt/networks/n1.xml')))

        self.net(p).Start(opts())
        self.wait_net_event(p, 'started')
        self.assertTrue(self.client.prop(p, 'Active', NET_IFACE))
        self.assertIn('vmbr1', links())
        self.assertIn('vmgmt', nft_tables())
        self.assertTrue(dnsmasq_pids())
        self.assertIn(True, self.rec.property_changes(p, 'Active', NET_IFACE))
        self.assertDBusError(ERR + 'InvalidState', self.net(p).Start, opts())
        self.assertEqual(list(self.net(p).GetDHCPLeases(opts())), [])

        self.net(p).Stop(opts())
        self.wait_net_event(p, 'stopped')
        self.assertFalse(self.client.prop(p, 'Active', NET_IFACE))
        self.assertEqual(links(), before_links)
        self.assertNotIn('vmgmt', nft_tables())
        self.assertEqual(dnsmasq_pids(), [])
        self.assertDBusError(ERR + 'InvalidState', self.net(p).Stop, opts())

        self.client.set_prop(p, 'Autostart', dbus.Boolean(True), NET_IFACE)
        self.assertTrue(self.client.prop(p, 'Autostart', NET_IFACE))
        self.assertTrue(os.path.islink(os.path.join(self.daemon.root, 'etc/vmgmt/networks/autostart/n1.xml')))

        self.net(p).Undefine(opts())
        self.wait_net_event(p, 'undefined')
        self.rec.wait_for(lambda en: [e for e in en if e[0] == 'InterfacesRemoved' and e[1] == p], 10,
                          'InterfacesRemoved')
        self.assertDBusError(ERR + 'NoSuchNetwork', self.manager.GetNetwork, 'n1')
        self.assertFalse(os.path.exists(os.path.join(self.daemon.root, 'etc/vmgmt/networks/n1.xml')))
        self.assertFalse(os.path.lexists(os.path.join(self.daemon.root, 'etc/vmgmt/networks/autostart/n1.xml')))

    def test_create_transient(self):
        p = str(self.manager.CreateNetwork(net_xml('t1', 'vmbr2', subnet='10.78.0'), opts()))
        self.assertEqual(self.net_events(p), ['started'])
        props = self.nprops(p)
        self.assertTrue(props['Active'])
        self.assertFalse(props['Persistent'])
        self.assertIn('vmbr2', links())
        self.assertDBusError(ERR + 'InvalidState', self.net(p).Undefine, opts())
        self.net(p).Stop(opts())
        self.wait_net_event(p, 'stopped')
        self.assertDBusError(ERR + 'NoSuchNetwork', self.manager.GetNetwork, 't1')
        self.assertNotIn('vmbr2', links())

    def test_bad_xml_and_clashes_leave_nothing(self):
        self.manager.DefineNetwork(net_xml('c1', 'vmbr3', subnet='10.79.0'), opts())
        before = (links(), sorted(os.listdir(os.path.join(self.daemon.root, 'etc/vmgmt/networks'))),
                  sorted(str(x) for x in self.manager.ListNetworks(opts())))
        msg = self.assertDBusError(ERR + 'InvalidXML', self.manager.DefineNetwork, '<network><nmae>x</nmae></network>',
                                   opts())
        self.assertIn('nmae', msg)
        self.assertDBusError(ERR + 'InvalidXML', self.manager.DefineNetwork, '<network', opts())
        # the same subnet / bridge as c1
        self.assertDBusError(ERR + 'InvalidXML', self.manager.DefineNetwork,
                             net_xml('c2', 'vmbr4', subnet='10.79.0'), opts())
        self.assertDBusError(ERR + 'InvalidXML', self.manager.CreateNetwork,
                             net_xml('c3', 'vmbr3', subnet='10.80.0'), opts())
        # the name with another UUID
        self.assertDBusError(ERR + 'AlreadyExists', self.manager.DefineNetwork,
                             net_xml('c1', 'vmbr3', subnet='10.79.0', uuid='5a6b7c8d-0000-4000-8000-000000000001'),
                             opts())
        self.assertDBusError(ERR + 'AlreadyExists', self.manager.CreateNetwork,
                             net_xml('c1', 'vmbr3', subnet='10.79.0'), opts())
        self.assertDBusError('org.freedesktop.DBus.Error.InvalidArgs', self.manager.DefineNetwork,
                             net_xml('c4', 'vmbr5', subnet='10.81.0'), opts(bogus=True))
        after = (links(), sorted(os.listdir(os.path.join(self.daemon.root, 'etc/vmgmt/networks'))),
                 sorted(str(x) for x in self.manager.ListNetworks(opts())))
        self.assertEqual(before, after)

    def test_update_dhcp_host(self):
        p = str(self.manager.DefineNetwork(net_xml('u1', 'vmbr6', subnet='10.82.0'), opts()))
        host = "<host mac='52:54:00:11:22:33' name='g1' ip='10.82.0.50'/>"
        self.net(p).Update('ip-dhcp-host', 'add-last', host, opts(config=True))
        self.assertIn('10.82.0.50', str(self.net(p).GetXML(opts())))
        self.net(p).Start(opts())
        self.wait_net_event(p, 'started')
        host2 = "<host mac='52:54:00:11:22:44' name='g2' ip='10.82.0.51'/>"
        self.net(p).Update('ip-dhcp-host', 'add-last', host2, opts(live=True))
        self.assertIn('10.82.0.51', str(self.net(p).GetXML(opts())))
        self.assertNotIn('10.82.0.51', str(self.net(p).GetXML(opts(inactive=True))))
        self.assertDBusError(ERR + 'NotSupported', self.net(p).Update, 'bridge', 'modify', "<bridge name='x'/>",
                             opts())
        # live+config where the live part fails: the persistent definition stays as it was
        before = str(self.net(p).GetXML(opts(inactive=True)))
        self.assertDBusError(ERR + 'NotSupported', self.net(p).Update, 'bridge', 'modify', "<bridge name='x'/>",
                             opts(live=True, config=True))
        self.assertEqual(before, str(self.net(p).GetXML(opts(inactive=True))))
        self.net(p).Update('ip-dhcp-host', 'delete', host, opts(live=True, config=True))
        self.assertNotIn('10.82.0.50', str(self.net(p).GetXML(opts())))
        self.assertNotIn('10.82.0.50', str(self.net(p).GetXML(opts(inactive=True))))
        self.net(p).Stop(opts())

    def test_update_parent_index(self):
        xml = ("<network><name>pi</name><bridge name='vmbr13'/>"
               "<ip address='10.85.0.1' prefix='24'><dhcp><range start='10.85.0.10' end='10.85.0.20'/></dhcp></ip>"
               "<ip family='ipv6' address='fd00:85::1' prefix='64'>"
               "<dhcp><range start='fd00:85::10' end='fd00:85::20'/></dhcp></ip></network>")
        p = str(self.manager.DefineNetwork(xml, opts()))
        self.net(p).Start(opts())
        self.wait_net_event(p, 'started')
        host = "<host name='six' ip='fd00:85::5'/>"
        self.net(p).Update('ip-dhcp-host', 'add-last', host, opts(live=True, config=True, parent_index=dbus.UInt32(1)))
        for x in (str(self.net(p).GetXML(opts())), str(self.net(p).GetXML(opts(inactive=True)))):
            v6 = x[x.index("family='ipv6'"):]
            self.assertIn("<host name='six' ip='fd00:85::5'/>", v6)
        # a host without address goes where parent_index says (here: the IPv6 <ip>, not the first one)
        self.net(p).Update('ip-dhcp-host', 'add-last', "<host name='n6' id='0:1:0:1:aa'/>",
                           opts(config=True, parent_index=dbus.UInt32(1)))
        x = str(self.net(p).GetXML(opts(inactive=True)))
        self.assertIn("name='n6'", x[x.index("family='ipv6'"):])
        before = (str(self.net(p).GetXML(opts())), str(self.net(p).GetXML(opts(inactive=True))))
        msg = self.assertDBusError('org.freedesktop.DBus.Error.InvalidArgs', self.net(p).Update, 'ip-dhcp-host',
                                   'add-last', "<host name='x' ip='fd00:85::6'/>", opts(parent_index=dbus.UInt32(2)))
        self.assertIn("has no <ip> element number 2", msg)
        msg = self.assertDBusError('org.freedesktop.DBus.Error.InvalidArgs', self.net(p).Update, 'dns-host',
                                   'add-last', "<host ip='10.85.0.7'><hostname>s</hostname></host>",
                                   opts(parent_index=dbus.UInt32(0)))
        self.assertIn("parent_index", msg)
        msg = self.assertDBusError(ERR + 'InvalidXML', self.net(p).Update, 'ip-dhcp-host', 'add-last',
                                   "<host name='x' ip='fd00:85::6'/>", opts(parent_index=dbus.UInt32(0)))
        self.assertIn("is IPv4", msg)
        self.assertDBusError('org.freedesktop.DBus.Error.InvalidArgs', self.net(p).Update, 'ip-dhcp-host',
                             'add-last', host, opts(parent_index='1'))
        self.assertEqual(before, (str(self.net(p).GetXML(opts())), str(self.net(p).GetXML(opts(inactive=True)))))
        self.net(p).Stop(opts())

    def test_update_dns_records_and_portgroups(self):
        p = str(self.manager.DefineNetwork(net_xml('ud', 'vmbr15', subnet='10.87.0'), opts()))
        self.net(p).Start(opts())
        self.wait_net_event(p, 'started')

        def txt(name):
            r = subprocess.run(['busybox', 'nslookup', '-type=txt', name, '10.87.0.1'], capture_output=True, text=True)
            return r.stdout + r.stderr

        self.assertNotIn('world', txt('hello.vm'))
        self.net(p).Update('dns-txt', 'add-last', "<txt name='hello.vm' value='world'/>", opts(live=True, config=True))
        deadline = time.monotonic() + WAIT
        while 'world' not in txt('hello.vm'):
            self.assertLess(time.monotonic(), deadline, 'the live TXT record is not served: %s' % txt('hello.vm'))
            time.sleep(0.1)
        self.assertIn("<txt name='hello.vm' value='world'/>", str(self.net(p).GetXML(opts(inactive=True))))
        self.assertDBusError(ERR + 'NotSupported', self.net(p).Update, 'dns-txt', 'modify',
                             "<txt name='hello.vm' value='moon'/>", opts())
        self.net(p).Update('portgroup', 'add-last', "<portgroup name='eng' default='yes'/>", opts(config=True))
        self.assertIn("<portgroup name='eng' default='yes'/>", str(self.net(p).GetXML(opts(inactive=True))))
        self.assertNotIn('portgroup', str(self.net(p).GetXML(opts())))
        msg = self.assertDBusError(ERR + 'InvalidXML', self.net(p).Update, 'portgroup', 'add-last',
                                   "<portgroup name='ops' default='yes'/>", opts(config=True))
        self.assertIn("are both default='yes'", msg)
        self.net(p).Update('dns-txt', 'delete', "<txt name='hello.vm' value='world'/>", opts(live=True))
        deadline = time.monotonic() + WAIT
        while 'world' in txt('hello.vm'):
            self.assertLess(time.monotonic(), deadline, 'the deleted TXT record is still served')
            time.sleep(0.1)
        self.net(p).Stop(opts())


class Restart(NetTestCase):
    def test_restart_keeps_bridge_and_dnsmasq(self):
        p = str(self.manager.DefineNetwork(net_xml('r1', 'vmbr7', subnet='10.83.0'), opts()))
        self.net(p).Start(opts())
        self.wait_net_event(p, 'started')
        pids = dnsmasq_pids()
        self.daemon.stop()
        self.assertIn('vmbr7', links())
        self.daemon.start()
        self.assertTrue(self.client.prop(p, 'Active', NET_IFACE))
        self.assertEqual(sorted(dnsmasq_pids()), sorted(pids))
        self.net(p).Stop(opts())
        self.wait_net_event(p, 'stopped')
        self.assertNotIn('vmbr7', links())

    def test_restart_keeps_transient_network(self):
        p = str(self.manager.CreateNetwork(net_xml('tr', 'vmbr10', subnet='10.84.0'), opts()))
        self.daemon.stop()
        self.daemon.start()
        props = self.nprops(p)
        self.assertTrue(props['Active'])
        self.assertFalse(props['Persistent'])
        self.assertEqual(props['Bridge'], 'vmbr10')
        self.net(p).Stop(opts())
        self.wait_net_event(p, 'stopped')
        self.assertNotIn('vmbr10', links())
        self.assertNotIn(p, [str(x) for x in self.manager.ListNetworks(opts())])


if __name__ == '__main__':
    main()
