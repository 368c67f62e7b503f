# The live bus surface against API.md (the issue-2 part, signatures fixed)
# and against the installed contract files in interfaces/: no drift.

import os
import xml.etree.ElementTree as ET

import dbus

from vmgmt_harness import (DOMAIN_IFACE, MANAGER_IFACE, MANAGER_PATH, OM_IFACE, SOURCE_ROOT,
                           VmgmtTestCase, main, minimal_domain_xml)

# (in signature, out signature) as API.md fixes them
MANAGER_METHODS = {
    'DefineDomain': ('sa{sv}', 'o'),
    'CreateDomain': ('sa{sv}', 'o'),
    'GetDomain': ('s', 'o'),
    'ListDomains': ('a{sv}', 'ao'),
}
MANAGER_PROPS = {'Version': 's', 'Features': 'as', 'Hostname': 's', 'Drivers': 'as'}
MANAGER_SIGNALS = {'DomainEvent': 'ossa{sv}'}
DOMAIN_METHODS = {
    'Start': ('a{sv}', ''), 'Shutdown': ('a{sv}', ''), 'Destroy': ('a{sv}', ''),
    'Reboot': ('a{sv}', ''), 'Reset': ('a{sv}', ''), 'Suspend': ('a{sv}', ''),
    'Resume': ('a{sv}', ''), 'Undefine': ('a{sv}', ''), 'Rename': ('sa{sv}', ''),
    'GetXML': ('a{sv}', 's'),
}
DOMAIN_PROPS = {
    'Name': 's', 'UUID': 's', 'Id': 'u', 'State': 's', 'StateReason': 's', 'Persistent': 'b',
    'Autostart': 'b', 'VCPUs': 'u', 'MemoryKiB': 't', 'MaxMemoryKiB': 't', 'Title': 's',
    'Description': 's', 'HasManagedSave': 'b', 'CurrentSnapshot': 'o', 'StartTime': 't',
    'Generation': 't',
}


def parse_iface(xml_text, name):
    """{'methods': {n: (in, out)}, 'props': {n: (type, access)}, 'signals': {n: sig}}"""
    root = ET.fromstring(xml_text)
    for iface in root.iter('interface'):
        if iface.get('name') != name:
            continue
        out = {'methods': {}, 'props': {}, 'signals': {}}
        for m in iface.findall('method'):
            ins = ''.join(a.get('type') for a in m.findall('arg') if a.get('direction', 'in') == 'in')
            outs = ''.join(a.get('type') for a in m.findall('arg') if a.get('direction') == 'out')
            out['methods'][m.get('name')] = (ins, outs)
        for p in iface.findall('property'):
            out['props'][p.get('name')] = (p.get('type'), p.get('access'))
        for s in iface.findall('signal'):
            out['signals'][s.get('name')] = ''.join(a.get('type') for a in s.findall('arg'))
        return out
    return None


class Introspection(VmgmtTestCase):
    def introspect(self, path):
        return str(dbus.Interface(self.client.obj(path), 'org.freedesktop.DBus.Introspectable').Introspect())

    def contract(self, iface):
        p = os.path.join(SOURCE_ROOT, 'interfaces', iface + '.xml')
        with open(p) as f:
            c = parse_iface(f.read(), iface)
        self.assertIsNotNone(c, 'no interface %s in %s' % (iface, p))
        return c

    def check(self, live, contract, methods, props, signals):
        self.assertIsNotNone(live)
        for n, sig in methods.items():
            self.assertEqual(live['methods'].get(n), sig, 'live method %s' % n)
            self.assertEqual(contract['methods'].get(n), sig, 'interfaces/ method %s' % n)
        for n, t in props.items():
            self.assertEqual(live['props'].get(n, (None,))[0], t, 'live property %s' % n)
            self.assertEqual(contract['props'].get(n, (None,))[0], t, 'interfaces/ property %s' % n)
        for n, sig in signals.items():
            self.assertEqual(live['signals'].get(n), sig, 'live signal %s' % n)
            self.assertEqual(contract['signals'].get(n), sig, 'interfaces/ signal %s' % n)
        # whatever is live must be in the contract files, the same
        for n, sig in live['methods'].items():
            self.assertEqual(contract['methods'].get(n), sig, 'method %s drifted from interfaces/' % n)
        for n, t in live['props'].items():
            self.assertEqual(contract['props'].get(n), t, 'property %s drifted from interfaces/' % n)
        for n, sig in live['signals'].items():
            self.assertEqual(contract['signals'].get(n), sig, 'signal %s drifted from interfaces/' % n)

    def test_manager(self):
        xml = self.introspect(MANAGER_PATH)
        self.assertIn(OM_IFACE, xml)
        self.check(parse_iface(xml, MANAGER_IFACE), self.contract(MANAGER_IFACE),
                   MANAGER_METHODS, MANAGER_PROPS, MANAGER_SIGNALS)

    def test_domain(self):
        path = self.define(minimal_domain_xml('intro'))
        xml = self.introspect(path)
        live = parse_iface(xml, DOMAIN_IFACE)
        self.check(live, self.contract(DOMAIN_IFACE), DOMAIN_METHODS, DOMAIN_PROPS, {})
        self.assertEqual(live['props']['Autostart'][1], 'readwrite')
        self.assertEqual(live['props']['State'][1], 'read')
        # the domain shows up as a child node of /org/vmgmt/domain
        self.assertIn('<node name="intro"', self.introspect('/org/vmgmt/domain'))

    def test_contract_files_are_documented(self):
        for iface in (MANAGER_IFACE, DOMAIN_IFACE):
            with open(os.path.join(SOURCE_ROOT, 'interfaces', iface + '.xml')) as f:
                root = ET.fromstring(f.read())
            for el in root.iter():
                if el.tag in ('method', 'property', 'signal'):
                    docs = [a for a in el.findall('annotation')
                            if a.get('name') == 'org.freedesktop.DBus.DocString']
                    self.assertTrue(docs, '%s %s.%s has no DocString' % (el.tag, iface, el.get('name')))


if __name__ == '__main__':
    main()
