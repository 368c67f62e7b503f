# The live introspection of a running vmgmtd against interfaces/*.xml, strictly,
# for an object of every kind (Manager, Domain, Network, StoragePool,
# StorageVolume, Job, and every interface any later file adds): every served
# interface member must be in its file with the same argument types, names and
# directions, the same property access and the same EmitsChangedSignal
# annotation; every member in the files must carry a DocString; members (or
# whole interfaces) documented but not served yet are listed in
# unserved-members.txt (so serving one without updating the list fails too).
# The signatures must also be the ones API.md writes: docs/API.md, the
# contract shipped in the tree (the shared ../shared/API.md plus what issues
# added to it); when ../shared/API.md exists beside the tree, every member it
# writes must be in docs/API.md with the same signature (so the copy cannot
# drift from the contract, while it may extend it).

import os
import re
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration'))

import dbus  # noqa: E402

from vmgmt_harness import SOURCE_ROOT, VmgmtTestCase, main, minimal_domain_xml, opts  # noqa: E402

MANAGER = '/org/vmgmt'
EMITS = 'org.freedesktop.DBus.Property.EmitsChangedSignal'
DOC = 'org.freedesktop.DBus.DocString'
INTERFACES_DIR = os.path.join(SOURCE_ROOT, 'interfaces')
UNSERVED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'unserved-members.txt')
API_MD = os.path.join(SOURCE_ROOT, 'docs', 'API.md')
SHARED_API_MD = os.path.join(os.path.dirname(SOURCE_ROOT), 'shared', 'API.md')
POOL_IFACE = 'org.vmgmt.StoragePool'


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


def method_signature(desc):
    """'(s a{sv}) → o' of a method description from members()."""
    ins = ''.join(t for t, _, d in desc if d == 'in')
    outs = ''.join(t for t, _, d in desc if d == 'out')
    return ins, outs


def api_md_members(path=API_MD):
    """{(interface, 'method'|'signal', name): (in signature, out signature)} of
    the members API.md writes with their argument types, `Name(t1 name, t2
    name) → t` (a member written without types is left out)."""
    with open(path) as f:
        text = f.read()
    out = {}
    for section in re.split(r'(?m)^## ', text)[1:]:
        m = re.search(r'(org\.vmgmt\.\w+)', section.splitlines()[0])
        if not m:
            continue
        iface = m.group(1)
        for match in re.finditer(r'`([A-Z]\w*)\(([^)`]*)\)(?: → (\w[\w{}()]*))?`', section):
            name, args, ret = match.group(1), match.group(2), match.group(3)
            types = [a.strip().split()[0] for a in args.split(',') if a.strip()]
            if any(not re.fullmatch(r'[a-z{}()]+', t) for t in types):
                continue
            pos = match.start()
            kind = 'signal' if section.rfind('Signal', 0, pos) > section.rfind('Method', 0, pos) else 'method'
            out[(iface, kind, name)] = (''.join(types), ret or '')
    return out


class Contract(VmgmtTestCase):
    def live(self, path):
        text = str(dbus.Interface(self.client.obj(path), 'org.freedesktop.DBus.Introspectable').Introspect())
        return {k: v for k, v in interfaces(text).items() if k.startswith('org.vmgmt.')}

    def one_of_each(self):
        """The paths of an object of every kind vmgmtd serves today."""
        paths = [MANAGER, str(self.define(minimal_domain_xml('contract')))]
        # a snapshot's metadata alone (redefine): the object without a disk behind it
        paths.append(str(self.client.domain(paths[1]).CreateSnapshot(
            "<domainsnapshot><name>contract-snap</name></domainsnapshot>", opts(redefine=True))))
        paths.append(str(self.manager.DefineNetwork(
            "<network><name>contract-net</name><bridge name='vmcontract0'/>"
            "<ip address='10.93.0.1' netmask='255.255.255.0'/></network>", opts())))
        target = os.path.join(self.fx.tmp, 'contract-pool')
        os.makedirs(target)
        pool = str(self.manager.DefinePool(
            "<pool type='dir'><name>contract-pool</name><target><path>%s</path></target></pool>" % target, opts()))
        self.client.obj(pool).Start(opts(), dbus_interface=POOL_IFACE)
        paths.append(pool)
        vol = str(self.client.obj(pool).CreateVolume(
            "<volume><name>a.raw</name><capacity>1048576</capacity></volume>", opts(), dbus_interface=POOL_IFACE))
        paths.append(vol)
        # a finished job stays on the bus for a while (job_linger_sec, 60 s by default)
        job = str(self.client.obj(pool).CloneVolume(
            "<volume><name>b.raw</name><capacity>1048576</capacity></volume>", dbus.ObjectPath(vol), opts(),
            dbus_interface=POOL_IFACE))
        paths.append(job)
        paths.append(str(self.manager.DefineSecret("<secret><usage type='ceph'><name>contract</name></usage></secret>",
                                                   opts())))
        return paths

    def test_files_document_everything(self):
        for iface, ms in contract().items():
            for (kind, name), (desc, doc) in ms.items():
                self.assertTrue(doc and len(doc) > 10, '%s %s.%s has no DocString' % (kind, iface, name))

    def test_live_matches_files(self):
        served = {}
        for path in self.one_of_each():
            live = self.live(path)
            self.assertTrue(live, '%s serves no org.vmgmt interface' % path)
            served.update(live)
        files = contract()
        expected_unserved = unserved()
        unserved_ifaces = {i for i, kind, _ in expected_unserved if kind == 'interface'}
        # every interface in interfaces/ is served by some object, or listed as not served yet
        self.assertEqual(set(served), set(files) - unserved_ifaces)
        for iface in unserved_ifaces:
            self.assertIn(iface, files, 'unserved-members.txt names %s, which interfaces/ has not' % iface)
            self.assertNotIn(iface, served, '%s is served: remove it from unserved-members.txt' % iface)
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

    def test_files_match_api_md(self):
        api = api_md_members()
        # a checkout beside the shared contract: the tree's copy keeps every member of it
        if os.path.exists(SHARED_API_MD):
            shared = api_md_members(SHARED_API_MD)
            self.assertGreater(len(shared), 40, 'the shared API.md parsed badly')
            for key, sig in sorted(shared.items()):
                self.assertEqual(api.get(key), sig, '%s %s.%s: %s writes %s, %s writes %s'
                                 % (key[1], key[0], key[2], SHARED_API_MD, sig, API_MD, api.get(key)))
        files = contract()
        self.assertGreater(len(api), 40, 'API.md parsed badly')
        for (iface, kind, name), sig in sorted(api.items()):
            self.assertIn(iface, files, iface)
            key = (kind, name)
            self.assertIn(key, files[iface], '%s %s.%s is in API.md, not in interfaces/' % (kind, iface, name))
            got = method_signature(files[iface][key][0]) if kind == 'method' else \
                (''.join(t for t, _, _ in files[iface][key][0]), '')
            self.assertEqual(got, sig, '%s %s.%s: interfaces/ and API.md disagree' % (kind, iface, name))

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
