# The live introspection of a running vmgmtd against interfaces/*.xml, strictly:
# every served interface member must be in its file with the same argument
# types, names and directions, the same property access and the same
# EmitsChangedSignal annotation; every member in the files must carry a
# DocString; members documented but not served yet are listed in
# unserved-members.txt (so serving one without updating the list fails too).

import os
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration'))

import dbus  # noqa: E402

from vmgmt_harness import SOURCE_ROOT, VmgmtTestCase, main, minimal_domain_xml  # noqa: E402

EMITS = 'org.freedesktop.DBus.Property.EmitsChangedSignal'
DOC = 'org.freedesktop.DBus.DocString'
INTERFACES_DIR = os.path.join(SOURCE_ROOT, 'interfaces')
UNSERVED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'unserved-members.txt')


def members(iface):
    """{('method'|'property'|'signal', name): description} of an <interface> element."""
    out = {}
    for el in iface:
        if el.tag not in ('method', 'property', 'signal'):
            continue
        ann = {a.get('name'): a.get('value') for a in el.findall('annotation')}
        if el.tag == 'property':
            desc = (el.get('type'), el.get('access'), ann.get(EMITS))
        else:
            desc = tuple((a.get('type'), a.get('name'), a.get('direction', 'in' if el.tag == 'method' else None))
                         for a in el.findall('arg'))
        out[(el.tag, el.get('name'))] = (desc, ann.get(DOC))
    return out


def interfaces(xml_text):
    root = ET.fromstring(xml_text)
    return {i.get('name'): members(i) for i in root.findall('interface')}


def contract():
    out = {}
    for f in sorted(os.listdir(INTERFACES_DIR)):
        if f.endswith('.xml'):
            with open(os.path.join(INTERFACES_DIR, f)) as fh:
                found = interfaces(fh.read())
            for name in found:
                if f != name + '.xml':
                    raise AssertionError('%s defines %s; one interface per file named after it' % (f, name))
            out.update(found)
    return out


def unserved():
    out = set()
    with open(UNSERVED) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line:
                iface, kind, name = line.split()
                out.add((iface, kind, name))
    return out


class Contract(VmgmtTestCase):
    def live(self, path):
        text = str(dbus.Interface(self.client.obj(path), 'org.freedesktop.DBus.Introspectable').Introspect())
        return {k: v for k, v in interfaces(text).items() if k.startswith('org.vmgmt.')}

    def test_files_document_everything(self):
        for iface, ms in contract().items():
            for (kind, name), (desc, doc) in ms.items():
                self.assertTrue(doc and len(doc) > 10, '%s %s.%s has no DocString' % (kind, iface, name))

    def test_live_matches_files(self):
        path = self.define(minimal_domain_xml('contract'))
        served = {}
        served.update(self.live('/org/vmgmt'))
        served.update(self.live(str(path)))
        self.assertEqual(set(served), {'org.vmgmt.Manager', 'org.vmgmt.Domain'})
        files = contract()
        expected_unserved = unserved()
        for iface, live_members in served.items():
            self.assertIn(iface, files, 'interfaces/%s.xml missing' % iface)
            for key, (desc, _) in live_members.items():
                self.assertIn(key, files[iface], '%s %s.%s served but not in interfaces/' % (key[0], iface, key[1]))
                self.assertEqual(files[iface][key][0], desc, '%s %s.%s drifted' % (key[0], iface, key[1]))
                self.assertNotIn((iface, key[0], key[1]), expected_unserved,
                                 '%s %s.%s is served: remove it from unserved-members.txt' % (key[0], iface, key[1]))
            for key in files[iface]:
                if key not in live_members:
                    self.assertIn((iface, key[0], key[1]), expected_unserved,
                                  '%s %s.%s documented but not served (and not listed as unserved)'
                                  % (key[0], iface, key[1]))

    def test_managed_objects_match_get_all(self):
        # vmgmtd answers GetManagedObjects itself: it must say what the objects say
        paths = [self.define(minimal_domain_xml('mo%d' % i, title='t%d' % i)) for i in range(3)]
        self.dom(paths[0]).Undefine(dbus.Dictionary({}, signature='sv'))
        objs = self.client.managed_objects()
        domains = sorted(p for p in objs if p.startswith('/org/vmgmt/domain/'))
        self.assertEqual(domains, sorted(paths[1:]))
        std_ifaces = ('org.freedesktop.DBus.Introspectable', 'org.freedesktop.DBus.Peer',
                      'org.freedesktop.DBus.Properties')
        # every object (domains, and the default pool or network the daemon made)
        for p, ifaces in objs.items():
            own = [i for i in ifaces if i not in std_ifaces]
            self.assertEqual(len(own), 1, '%s: %s' % (p, sorted(ifaces)))
            self.assertEqual(ifaces[own[0]], self.client.props(p, own[0]), p)
            for std in std_ifaces:
                self.assertEqual(ifaces.get(std), {}, '%s %s' % (p, std))


if __name__ == '__main__':
    main()
