# <interface><bandwidth> (issue 14 item 1) in a private netns (netsvc_util): the rules on a domain's tap read
# back with tc. inbound (host→guest) is an htb class on the tap's root qdisc, outbound (guest→host) a
# police filter on its ingress qdisc; set at start, at hot-plug and by UpdateDevice; a NIC without one
# gets its network's default portgroup's; a NIC whose bandwidth cannot be set is refused and leaves no
# tap. Domains stay paused: the rules are the host's, no guest needs to run.
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsvc_util import NetTestCase, net_path, links, NET_IFACE, WAIT, opts, main, unwrap  # noqa: E402
import dbus  # noqa: E402
from vmgmt_harness import minimal_domain_xml, run_vmgmtctl  # noqa: E402

ERR = 'org.vmgmt.Error.'
MAC = '52:54:00:ab:10:01'


def nic_xml(bandwidth='', network='default', mac=MAC):
    bw = '<bandwidth>%s</bandwidth>' % bandwidth if bandwidth else ''
    return ("<interface type='network'><mac address='%s'/><source network='%s'/><model type='e1000'/>%s</interface>"
            % (mac, network, bw))


def tune(params):
    """SetInterfaceParameters' params: libvirt's typed parameter names, u values."""
    return dbus.Dictionary({k: dbus.UInt32(v) for k, v in params.items()}, signature='sv')


def tc(*args):
    return subprocess.run(['tc'] + list(args), capture_output=True, text=True, timeout=WAIT).stdout


_UNITS = {'': 1, 'K': 1000, 'M': 1000 ** 2, 'G': 1000 ** 3}


def bytes_per_s(text):
    """tc's '8Mbit' → 1000000 (bytes/s)."""
    m = re.fullmatch(r'([0-9.]+)([KMG]?)bit', text)
    return round(float(m.group(1)) * _UNITS[m.group(2)] / 8)


def size_bytes(text):
    """tc's '256Kb' / '1600b' → bytes."""
    m = re.fullmatch(r'([0-9.]+)([KMG]?)b', text)
    return round(float(m.group(1)) * {'': 1, 'K': 1024, 'M': 1024 ** 2, 'G': 1024 ** 3}[m.group(2)])


def inbound(tap):
    """The htb class 1:1 on tap's root qdisc: {'rate', 'ceil' (bytes/s), 'burst' (bytes)}, or None."""
    if not re.search(r'qdisc htb 1: root', tc('qdisc', 'show', 'dev', tap)):
        return None
    m = re.search(r'class htb 1:1 .*?rate (\S+) ceil (\S+) burst (\S+)', tc('class', 'show', 'dev', tap))
    return m and {'rate': bytes_per_s(m.group(1)), 'ceil': bytes_per_s(m.group(2)), 'burst': size_bytes(m.group(3))}


def outbound(tap):
    """The police rule on tap's ingress: {'rate' (bytes/s), 'burst' (bytes)}, or None."""
    m = re.search(r'police .*?rate (\S+) burst (\S+)', tc('filter', 'show', 'dev', tap, 'ingress'))
    return m and {'rate': bytes_per_s(m.group(1)), 'burst': size_bytes(m.group(2))}


def kernel_police():
    """Has this kernel tc's police action (CONFIG_NET_ACT_POLICE)? Tried on a scratch tap."""
    subprocess.run(['ip', 'tuntap', 'add', 'dev', 'bwprobe', 'mode', 'tap'], capture_output=True, check=True)
    try:
        subprocess.run(['tc', 'qdisc', 'add', 'dev', 'bwprobe', 'ingress'], capture_output=True, check=True)
        return subprocess.run(['tc', 'filter', 'add', 'dev', 'bwprobe', 'parent', 'ffff:', 'protocol', 'all', 'u32',
                               'match', 'u32', '0', '0', 'police', 'rate', '1kbps', 'burst', '1kb', 'drop'],
                              capture_output=True).returncode == 0
    finally:
        subprocess.run(['ip', 'link', 'del', 'bwprobe'], capture_output=True)


class Bandwidth(NetTestCase):
    default_network = True

    def wait_active(self, path):
        deadline = time.monotonic() + WAIT
        while not self.client.prop(path, 'Active', NET_IFACE):
            self.assertLess(time.monotonic(), deadline, 'network did not become active')
            time.sleep(0.05)

    def nics(self, path):
        root = ET.fromstring(str(self.dom(path).GetXML(opts())))
        return root.findall('./devices/interface')

    def start_paused(self, name, devices=''):
        self.wait_active(net_path('default'))
        # ACPI: pci.0 takes hot-plugged devices only with it
        path = self.define(minimal_domain_xml(name, extra_devices=devices, extra='<features><acpi/></features>'))
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused', timeout=WAIT)
        return path

    def tap(self, nic):
        return nic.find('target').get('dev')

    def test_inbound_at_start(self):
        path = self.start_paused('bw1', nic_xml("<inbound average='1000' peak='2000' burst='256'/>"))
        nic, = self.nics(path)
        # GetXML shows it as given
        bw = nic.find('bandwidth/inbound')
        self.assertEqual((bw.get('average'), bw.get('peak'), bw.get('burst')), ('1000', '2000', '256'))
        self.assertIsNone(nic.find('bandwidth/outbound'))
        # kilobytes (1000 bytes) per second, kibibytes of burst, as libvirt hands them to tc
        self.assertEqual(inbound(self.tap(nic)), {'rate': 1000000, 'ceil': 2000000, 'burst': 256 * 1024})
        self.assertIsNone(outbound(self.tap(nic)))
        self.dom(path).Destroy(opts())

    def test_outbound_at_start(self):
        if not kernel_police():
            # the start fails and leaves no tap
            self.wait_active(net_path('default'))
            path = self.define(minimal_domain_xml('bw2', extra_devices=nic_xml("<outbound average='500'/>")))
            before = links()
            msg = self.assertDBusError(ERR + 'OperationFailed', self.dom(path).Start, opts(paused=True))
            self.assertIn('<bandwidth>', msg)
            self.assertEqual(links(), before)
            self.assertIn('CONFIG_NET_ACT_POLICE', self.daemon.log_text())
            self.skipTest('the kernel has no tc police action, CONFIG_NET_ACT_POLICE (missing: /sys/module/act_police)')
        path = self.start_paused('bw2', nic_xml("<outbound average='500' burst='128'/>"))
        nic, = self.nics(path)
        self.assertEqual(outbound(self.tap(nic)), {'rate': 500000, 'burst': 128 * 1024})
        self.assertIsNone(inbound(self.tap(nic)))
        self.dom(path).Destroy(opts())

    def test_hotplug(self):
        path = self.start_paused('bw3')
        before = links()
        xml_before = str(self.dom(path).GetXML(opts()))
        # a bandwidth the host cannot set (floor= needs a network with QoS of its own): refused, no tap left
        msg = self.assertDBusError(ERR + 'OperationFailed', self.dom(path).AttachDevice,
                                   nic_xml("<inbound average='100' floor='50'/>"), opts(live=True))
        self.assertIn('<bandwidth>', msg)
        self.assertEqual(links(), before)
        self.assertEqual(str(self.dom(path).GetXML(opts())), xml_before)
        # a good one is on the new tap
        self.rec.clear()
        self.dom(path).AttachDevice(nic_xml("<inbound average='300'/>"), opts(live=True))
        self.rec.wait_domain_event(path, 'device-added', timeout=WAIT)
        nic, = self.nics(path)
        self.assertEqual(nic.find('bandwidth/inbound').get('average'), '300')
        got = inbound(self.tap(nic))
        self.assertEqual((got['rate'], got['ceil']), (300000, 300000), got)
        self.dom(path).Destroy(opts())

    def test_update_device(self):
        path = self.start_paused('bw5', nic_xml("<inbound average='1000'/>"))
        nic, = self.nics(path)
        tap = self.tap(nic)
        self.assertEqual(inbound(tap)['rate'], 1000000)
        # live: the tap's rules and the live XML change, the persistent definition not
        self.dom(path).UpdateDevice(nic_xml("<inbound average='2000' peak='4000' burst='512'/>"), opts(live=True))
        self.assertEqual(inbound(tap), {'rate': 2000000, 'ceil': 4000000, 'burst': 512 * 1024})
        nic, = self.nics(path)
        self.assertEqual(nic.find('bandwidth/inbound').get('peak'), '4000')
        inactive = ET.fromstring(str(self.dom(path).GetXML(opts(inactive=True))))
        self.assertEqual(inactive.find('./devices/interface/bandwidth/inbound').get('average'), '1000')
        # config: the persistent definition changes, the tap not
        self.dom(path).UpdateDevice(nic_xml("<inbound average='3000'/>"), opts(config=True))
        inactive = ET.fromstring(str(self.dom(path).GetXML(opts(inactive=True))))
        self.assertEqual(inactive.find('./devices/interface/bandwidth/inbound').get('average'), '3000')
        self.assertEqual(inbound(tap)['rate'], 2000000)
        # anything else of a NIC is not changed by UpdateDevice; neither is a bandwidth the host cannot set
        xml_before = str(self.dom(path).GetXML(opts()))
        msg = self.assertDBusError(ERR + 'NotSupported', self.dom(path).UpdateDevice,
                                   nic_xml("<inbound average='5000'/>").replace('e1000', 'virtio'), opts(live=True))
        self.assertIn('its model', msg)
        msg = self.assertDBusError(ERR + 'NotSupported', self.dom(path).UpdateDevice,
                                   nic_xml("<inbound average='5000' floor='10'/>"), opts(live=True))
        self.assertIn('floor=', msg)
        self.assertEqual(str(self.dom(path).GetXML(opts())), xml_before)
        self.assertEqual(inbound(tap), {'rate': 2000000, 'ceil': 4000000, 'burst': 512 * 1024})
        # no <bandwidth>: the rules go
        self.dom(path).UpdateDevice(nic_xml(), opts(live=True))
        self.assertIsNone(inbound(tap))
        nic, = self.nics(path)
        self.assertIsNone(nic.find('bandwidth'))
        self.dom(path).Destroy(opts())

    def test_interface_parameters(self):
        path = self.start_paused('bw6', nic_xml("<inbound average='1000' burst='64'/>"))
        nic, = self.nics(path)
        tap = self.tap(nic)
        dom = self.dom(path)
        got = unwrap(dom.GetInterfaceParameters(tap, opts()))
        self.assertEqual(got, {'inbound.average': 1000, 'inbound.peak': 0, 'inbound.burst': 64, 'inbound.floor': 0,
                               'outbound.average': 0, 'outbound.peak': 0, 'outbound.burst': 0})
        # the ones given change, the others stay
        dom.SetInterfaceParameters(MAC, tune({'inbound.average': 2000, 'inbound.peak': 3000}),
                                   opts(live=True))
        self.assertEqual(inbound(tap), {'rate': 2000000, 'ceil': 3000000, 'burst': 64 * 1024})
        got = unwrap(dom.GetInterfaceParameters(MAC, opts()))
        self.assertEqual((got['inbound.average'], got['inbound.peak'], got['inbound.burst']), (2000, 3000, 64))
        self.assertEqual(unwrap(dom.GetInterfaceParameters(MAC, opts(config=True)))['inbound.average'], 1000)
        # refused values change nothing
        msg = self.assertDBusError('org.freedesktop.DBus.Error.InvalidArgs', dom.SetInterfaceParameters, MAC,
                                   tune({'inbound.peak': 10}), opts(live=True))
        self.assertIn('below', msg)
        self.assertDBusError('org.freedesktop.DBus.Error.InvalidArgs', dom.SetInterfaceParameters, 'nope',
                             tune({'inbound.average': 10}), opts(live=True))
        self.assertEqual(inbound(tap)['rate'], 2000000)
        # config only: the definition
        dom.SetInterfaceParameters(MAC, tune({'inbound.average': 500}), opts(config=True))
        inactive = ET.fromstring(str(dom.GetXML(opts(inactive=True))))
        self.assertEqual(inactive.find('./devices/interface/bandwidth/inbound').get('average'), '500')
        self.assertEqual(inbound(tap)['rate'], 2000000)
        # average 0 removes the direction
        dom.SetInterfaceParameters(MAC, tune({'inbound.average': 0}), opts(live=True))
        self.assertIsNone(inbound(tap))
        nic, = self.nics(path)
        self.assertIsNone(nic.find('bandwidth'))
        dom.Destroy(opts())

    def test_domiftune(self):
        path = self.start_paused('bw7', nic_xml("<inbound average='1000'/>"))
        tap = self.tap(self.nics(path)[0])

        def ctl(*args, check=True):
            return run_vmgmtctl(self.fx.bus, *args, check=check)
        # virsh's output: every parameter, 0 when unset
        out = ctl('domiftune', 'bw7', tap).stdout
        self.assertIn('inbound.average: 1000\n', out)
        self.assertIn('outbound.burst : 0\n', out)
        # --inbound AVERAGE,PEAK,BURST; an empty field keeps its value
        ctl('domiftune', 'bw7', MAC, '--inbound', '2000,4000,128', '--live')
        self.assertEqual(inbound(tap), {'rate': 2000000, 'ceil': 4000000, 'burst': 128 * 1024})
        ctl('domiftune', 'bw7', MAC, '--inbound', '3000', '--live')
        self.assertEqual(inbound(tap), {'rate': 3000000, 'ceil': 4000000, 'burst': 128 * 1024})
        r = ctl('domiftune', 'bw7', MAC, '--inbound', '1000,10', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('below', r.stderr)
        r = ctl('domiftune', 'bw7', MAC, '--inbound', 'x', check=False)
        self.assertNotEqual(r.returncode, 0)
        ctl('domiftune', 'bw7', tap, '--inbound', '0')
        self.assertIsNone(inbound(tap))
        # --config: the persistent definition only; --current of a running domain: live
        ctl('domiftune', 'bw7', MAC, '--inbound', '500', '--config')
        self.assertIsNone(inbound(tap))
        root = ET.fromstring(str(self.dom(path).GetXML(opts(inactive=True))))
        self.assertEqual(root.find('devices/interface/bandwidth/inbound').get('average'), '500')
        ctl('domiftune', 'bw7', MAC, '--inbound', '700', '--current')
        self.assertEqual(inbound(tap)['rate'], 700000)
        # --outbound AVERAGE,PEAK,BURST: ingress policing where the kernel has it, else a clear failure
        r = ctl('domiftune', 'bw7', MAC, '--outbound', '300,,64', '--live', check=False)
        if kernel_police():
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(outbound(tap), {'rate': 300000, 'burst': 64 * 1024})
        else:
            self.assertNotEqual(r.returncode, 0)
            self.assertIn('<bandwidth>', r.stderr)
            self.assertIsNone(outbound(tap))
            self.assertEqual(inbound(tap)['rate'], 700000)   # the old rules stay
        self.dom(path).Destroy(opts())

    def test_portgroup_inherited(self):
        self.manager.DefineNetwork(
            "<network><name>qos</name><forward mode='nat'/><bridge name='vmbr8'/>"
            "<portgroup name='slow' default='yes'><bandwidth><inbound average='200' burst='64'/></bandwidth></portgroup>"
            "<ip address='10.93.0.1' netmask='255.255.255.0'/></network>", opts())
        qos = net_path('qos')
        self.net(qos).Start(opts())
        self.wait_active(qos)
        path = self.start_paused('bw4', nic_xml(network='qos'))
        nic, = self.nics(path)
        self.assertIsNone(nic.find('bandwidth'))   # the interface's own XML is as defined
        got = inbound(self.tap(nic))
        self.assertEqual((got['rate'], got['burst']), (200000, 64 * 1024), got)
        self.dom(path).Destroy(opts())


if __name__ == '__main__':
    main()
