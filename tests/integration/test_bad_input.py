# Bad input: every call must answer with the right error and change nothing
# (no domain, no object, no file, no qemu, no leaked fd in vmgmtd).

import ctypes
import os
import re
import struct

import dbus

from vmgmt_harness import (DOMAIN_IFACE, ERR_ALREADY_EXISTS, ERR_INVALID_ARGS, ERR_INVALID_XML,
                           ERR_NO_SUCH_DOMAIN, ERR_NOT_SUPPORTED, ERR_UNKNOWN_METHOD, MANAGER_IFACE, MANAGER_PATH,
                           VmgmtTestCase, domain_path, main, minimal_domain_xml, new_uuid, opts,
                           path_encode)

ERR_NO_SUCH_SNAPSHOT = 'org.vmgmt.Error.NoSuchSnapshot'


class BadXML(VmgmtTestCase):
    def setUp(self):
        super().setUp()
        # one domain exists so "unchanged" means something
        self.existing = self.define(minimal_domain_xml('present'))
        self.before = self.fx.snapshot()

    def tearDown(self):
        self.assertUnchanged(self.before)
        # and the daemon still answers
        self.assertEqual(self.client.list_domains(), [self.existing])

    def define_fails(self, xml, error=ERR_INVALID_XML):
        msg = self.assertDBusError(error, self.define, xml)
        msg2 = self.assertDBusError(error, self.create, xml)
        return msg, msg2

    def test_not_xml(self):
        for bad in ('', 'not xml at all', '<domain', '<domain type="qemu"><name>x</name>',
                    '<?xml version="1.0"?><domain type="qemu"><name>x</name></domian>',
                    '\x7fELF', '<domain type="qemu"><name>x</name><memory>1</memory></domain><domain/>'):
            msg, _ = self.define_fails(bad)
            self.assertTrue(msg, repr(bad))

    def test_wrong_root_and_missing_name(self):
        self.define_fails("<network><name>x</name></network>")
        self.define_fails("<domain type='qemu'><memory>65536</memory></domain>")
        self.define_fails("<domain type='bogus'><name>x</name><memory>65536</memory></domain>")

    def test_domain_type_without_driver(self):
        # libvirt's type names parse; one no registered driver runs is
        # NotSupported naming it, and nothing is written or started
        drivers = self.client.prop(MANAGER_PATH, 'Drivers', MANAGER_IFACE)
        for t in ('xen', 'lxc', 'hvf', 'test'):
            self.assertNotIn(t, drivers)
            xml = minimal_domain_xml('no-driver-' + t).replace("<domain type='qemu'>", "<domain type='%s'>" % t)
            for msg in self.define_fails(xml, ERR_NOT_SUPPORTED):
                self.assertIn("'%s'" % t, msg)
            self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.client.manager.GetDomain, 'no-driver-' + t)

    def test_unknown_element_names_line_and_suggests(self):
        xml = minimal_domain_xml('typo', extra_devices="\n    <membaloon model='virtio'/>\n  ")
        line = xml.split('\n').index("    <membaloon model='virtio'/>") + 1
        msg, _ = self.define_fails(xml)
        self.assertIn('line %d' % line, msg)
        self.assertIn('membaloon', msg)
        self.assertIn('memballoon', msg, 'did-you-mean missing: %s' % msg)

    def test_unknown_attribute_names_line(self):
        xml = minimal_domain_xml('attr').replace("<vcpu>1</vcpu>", "<vcpu plasement='static'>1</vcpu>")
        line = [i for i, ln in enumerate(xml.split('\n'), 1) if 'plasement' in ln][0]
        msg, _ = self.define_fails(xml)
        self.assertIn('line %d' % line, msg)
        self.assertIn('plasement', msg)
        self.assertIn('placement', msg, 'did-you-mean missing: %s' % msg)

    def test_unknown_top_level_element(self):
        xml = minimal_domain_xml('top', extra='  <frobnicate/>')
        msg, _ = self.define_fails(xml)
        self.assertIn('frobnicate', msg)
        self.assertRegex(msg, r'line \d+')

    def test_bad_values(self):
        self.define_fails(minimal_domain_xml('m').replace("unit='MiB'>64<", "unit='parsecs'>64<"))
        self.define_fails(minimal_domain_xml('m').replace("unit='MiB'>64<", "unit='MiB'>lots<"))
        self.define_fails(minimal_domain_xml('m').replace("unit='MiB'>64<", "unit='MiB'>-1<"))
        self.define_fails(minimal_domain_xml('m').replace('<vcpu>1</vcpu>', '<vcpu>zero</vcpu>'))
        self.define_fails(minimal_domain_xml('m', uuid='not-a-uuid'))
        self.define_fails(minimal_domain_xml('m', on_poweroff='explode'))
        self.define_fails(minimal_domain_xml('m', machine='no-such-machine-type'))
        self.define_fails(minimal_domain_xml('m', vcpus=0))
        self.define_fails(minimal_domain_xml('m').replace("unit='MiB'>64<", "unit='MiB'>0<"))
        self.define_fails(minimal_domain_xml('m').replace("unit='MiB'>64<", "unit='TiB'>99999999999<"))
        self.define_fails(minimal_domain_xml('m').replace("unit='MiB'>64<", "unit='b'>18446744073709551616<"))
        self.define_fails(minimal_domain_xml('m').replace("<domain type='qemu'>", "<domain type='qemu' id='7'>")
                          .replace('<vcpu>1</vcpu>', '<vcpu>1</vcpu><vcpu>2</vcpu>'))

    def test_10mib_xml(self):
        big = minimal_domain_xml('big', description='x' * (10 * 1024 * 1024))
        self.assertGreater(len(big), 10 * 1024 * 1024)
        for fn in (self.define, self.create):
            try:
                fn(big)
                self.fail('a 10 MiB definition was accepted')
            except dbus.DBusException as e:
                self.assertIn(e.get_dbus_name(), (ERR_INVALID_XML, ERR_INVALID_ARGS), str(e)[:300])

    def test_deeply_nested_xml(self):
        # Deeper than libxml2's safe default (256 levels; XML_PARSE_HUGE would
        # allow 2048) and far deeper, inside <metadata>, which is otherwise kept
        # verbatim: refused as InvalidXML whose message names the nesting depth,
        # by both calls; the daemon stays up and nothing changed (tearDown).
        for depth in (300, 5000):
            xml = minimal_domain_xml('deep', extra='<metadata>' + '<a xmlns="urn:x">' * depth +
                                     '</a>' * depth + '</metadata>')
            for msg in self.define_fails(xml):
                self.assertRegex(msg, r'(?i)depth|nest', '%d levels: the message does not name the problem: %s'
                                 % (depth, msg))

    def test_entity_expansion_refused(self):
        xml = ('<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
               '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
               '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">'
               '<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">]>\n'
               + minimal_domain_xml('ent', description='&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;').replace('&amp;', '&'))
        self.define_fails(xml)

    def test_external_entity_not_read(self):
        # A file vmgmtd could be made to read: inotify reports every open and
        # read of it (queued by the kernel before vmgmtd could reply), and its
        # unique content must not show up in any reply either.
        secret = os.path.join(self.fx.tmp, 'secret.txt')
        marker = 'xxe-marker-' + new_uuid()
        with open(secret, 'w') as f:
            f.write(marker + '\n')
        watch = FileWatch(secret)
        self.addCleanup(watch.close)
        url = 'file://' + secret
        # refused: every way a DOCTYPE can name the file
        refused = [
            '<?xml version="1.0"?>\n<!DOCTYPE domain [<!ENTITY x SYSTEM "%s">]>\n' % url
            + minimal_domain_xml('xxe', description='&x;').replace('&amp;x;', '&x;'),
            '<?xml version="1.0"?>\n<!DOCTYPE domain SYSTEM "%s">\n' % url + minimal_domain_xml('xxe'),
            '<?xml version="1.0"?>\n<!DOCTYPE domain [<!ENTITY %% p SYSTEM "%s"> %%p;]>\n' % url
            + minimal_domain_xml('xxe'),
        ]
        for xml in refused:
            for fn in (self.define, self.create):
                try:
                    fn(xml)
                    error = None
                except dbus.DBusException as e:
                    error = e
                # first what matters most: whether or not it was refused
                self.assertEqual(watch.events(), [], 'the external entity was read: %s' % xml[:120])
                self.assertIsNotNone(error, 'a DOCTYPE was accepted: %s' % xml[:120])
                self.assertEqual(error.get_dbus_name(), ERR_INVALID_XML, str(error))
                self.assertIn('DOCTYPE', error.get_dbus_message())
                self.assertNotIn(marker, error.get_dbus_message())
        # accepted: <metadata> is kept verbatim, an XInclude in it names the
        # file and must stay an element, never be replaced by the file
        xml = minimal_domain_xml('xxe', extra=(
            '  <metadata><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="%s" parse="text"/>'
            '</metadata>' % url))
        try:
            path, error = self.define(xml), None
            live = str(self.dom(path).GetXML(opts()))
            self.dom(path).Undefine(opts())
        except dbus.DBusException as e:
            error = e
        self.assertEqual(watch.events(), [], 'the XIncluded file was read')
        self.assertIsNone(error, 'an XInclude in <metadata> was refused')
        self.assertNotIn(marker, live)
        self.assertIn('href="%s"' % url, live.replace("'", '"'), 'the XInclude was not kept verbatim')


class FileWatch:
    """inotify on one file: open, read and close-after-read events, in order."""

    IN_ACCESS, IN_CLOSE_NOWRITE, IN_OPEN, IN_NONBLOCK = 0x1, 0x10, 0x20, 0o4000

    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(self.IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), 'inotify_init1')
        mask = self.IN_ACCESS | self.IN_OPEN | self.IN_CLOSE_NOWRITE
        if self.libc.inotify_add_watch(self.fd, os.fsencode(path), mask) < 0:
            raise OSError(ctypes.get_errno(), 'inotify_add_watch ' + path)

    def events(self):
        """The events since the last call (a list of masks)."""
        out = []
        while True:
            try:
                buf = os.read(self.fd, 4096)
            except BlockingIOError:
                return out
            while buf:
                _, mask, _, n = struct.unpack_from('iIII', buf)
                out.append(mask)
                buf = buf[16 + n:]

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class BadNames(VmgmtTestCase):
    def setUp(self):
        super().setUp()
        self.existing = self.define(minimal_domain_xml('present'))
        self.before = self.fx.snapshot()

    def test_rejected_names(self):
        for name in ('a/b', '/', '..', '.', 'x' * 256, 'a\tb', 'a\x7fb', 'ä' * 128 + 'x'):
            msg = self.assertDBusError(ERR_INVALID_XML, self.define, minimal_domain_xml(name))
            self.assertTrue(msg, repr(name))
            self.assertDBusError(ERR_INVALID_XML, self.create, minimal_domain_xml(name))
        # an empty <name/> and a name made of a control character reference
        self.assertDBusError(ERR_INVALID_XML, self.define, minimal_domain_xml(''))
        self.assertDBusError(ERR_INVALID_XML, self.define,
                             minimal_domain_xml('ab').replace('<name>ab</name>', '<name>a&#1;b</name>'))
        self.assertDBusError(ERR_INVALID_XML, self.define,
                             minimal_domain_xml('ab').replace('<name>ab</name>', '<name>a&#10;b</name>'))
        self.assertUnchanged(self.before)

    def test_lookups_of_bad_names(self):
        for name in ('a/b', '..', 'x' * 300, 'a\tb'):
            self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.manager.GetDomain, name)
        self.assertUnchanged(self.before)

    def test_non_ascii_name_works(self):
        name = 'héllo-wörld-日本-ü'
        path = self.define(minimal_domain_xml(name))
        self.assertEqual(path, '/org/vmgmt/domain/' + path_encode(name))
        self.assertEqual(path, '/org/vmgmt/domain/h_c3_a9llo_2dw_c3_b6rld_2d_e6_97_a5_e6_9c_ac_2d_c3_bc')
        self.assertEqual(str(self.manager.GetDomain(name)), path)
        self.assertEqual(self.client.prop(path, 'Name'), name)
        self.assertIn(path, self.client.list_domains())
        self.assertIn('<name>%s</name>' % name, str(self.dom(path).GetXML(opts())))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        # survives a restart
        self.daemon.restart()
        self.assertEqual(str(self.manager.GetDomain(name)), path)
        self.dom(path).Undefine(opts())
        self.assertEqual(self.client.list_domains(), [self.existing])

    def test_name_of_255_bytes_works(self):
        for name in ('n' * 255, 'ü' * 127 + 'n'):
            self.assertEqual(len(name.encode()), 255)
            path = self.define(minimal_domain_xml(name))
            self.assertEqual(self.client.prop(path, 'Name'), name)
            self.assertEqual(str(self.manager.GetDomain(name)), path)
        self.daemon.restart()
        for name in ('n' * 255, 'ü' * 127 + 'n'):
            self.assertEqual(str(self.manager.GetDomain(name)), domain_path(name))
            self.dom(domain_path(name)).Undefine(opts())
        self.assertEqual(self.client.list_domains(), [self.existing])

    def test_leading_digit_and_dots(self):
        for name in ('1vm', 'a.b', '...', '-x-', '_'):
            path = self.define(minimal_domain_xml(name))
            self.assertEqual(path, domain_path(name))
            self.assertEqual(self.client.prop(path, 'Name'), name)
            self.dom(path).Undefine(opts())
        self.assertEqual(domain_path('1vm'), '/org/vmgmt/domain/_31vm')
        self.assertUnchanged(self.before)


class Duplicates(VmgmtTestCase):
    def test_duplicate_name_and_uuid(self):
        u1 = new_uuid()
        p1 = self.define(minimal_domain_xml('dup', uuid=u1))
        before = self.fx.snapshot()
        msg = self.assertDBusError(ERR_ALREADY_EXISTS, self.define, minimal_domain_xml('dup', uuid=new_uuid()))
        self.assertIn('dup', msg)
        msg = self.assertDBusError(ERR_ALREADY_EXISTS, self.define, minimal_domain_xml('other', uuid=u1))
        self.assertIn(u1, msg.lower())
        self.assertDBusError(ERR_ALREADY_EXISTS, self.define, minimal_domain_xml('other', uuid=u1.upper()))
        self.assertDBusError(ERR_ALREADY_EXISTS, self.create, minimal_domain_xml('dup', uuid=new_uuid()))
        self.assertDBusError(ERR_ALREADY_EXISTS, self.create, minimal_domain_xml('other2', uuid=u1))
        self.assertUnchanged(before)
        self.assertEqual(self.client.prop(p1, 'UUID'), u1)

    def test_duplicate_against_transient(self):
        u = new_uuid()
        t = self.create(minimal_domain_xml('tdup', uuid=u))
        self.client.wait_state(t, 'running')
        before = self.fx.snapshot()
        self.assertDBusError(ERR_ALREADY_EXISTS, self.create, minimal_domain_xml('tdup'))
        self.assertDBusError(ERR_ALREADY_EXISTS, self.define, minimal_domain_xml('tdup2', uuid=u))
        self.assertUnchanged(before)
        self.dom(t).Destroy(opts())


class BadArguments(VmgmtTestCase):
    def setUp(self):
        super().setUp()
        self.existing = self.define(minimal_domain_xml('present'))
        self.before = self.fx.snapshot()

    def tearDown(self):
        self.assertUnchanged(self.before)

    def test_unknown_option_keys(self):
        xml = minimal_domain_xml('opt')
        for call in (lambda o: self.manager.DefineDomain(xml, o),
                     lambda o: self.manager.CreateDomain(xml, o),
                     lambda o: self.manager.ListDomains(o),
                     lambda o: self.dom(self.existing).Start(o),
                     lambda o: self.dom(self.existing).Undefine(o),
                     lambda o: self.dom(self.existing).GetXML(o),
                     lambda o: self.dom(self.existing).Rename('zz', o)):
            msg = self.assertDBusError(ERR_INVALID_ARGS, call, opts(no_such_option=dbus.Boolean(True)))
            self.assertIn('no_such_option', msg)

    def test_known_keys_with_wrong_types(self):
        xml = minimal_domain_xml('typ')
        cases = [
            (lambda o: self.manager.CreateDomain(xml, o), 'paused', dbus.String('true')),
            (lambda o: self.manager.DefineDomain(xml, o), 'if_generation', dbus.String('1')),
            (lambda o: self.manager.DefineDomain(xml, o), 'if_generation', dbus.Int64(1)),
            (lambda o: self.manager.ListDomains(o), 'active', dbus.UInt32(1)),
            (lambda o: self.manager.ListDomains(o), 'inactive', dbus.String('yes')),
            (lambda o: self.dom(self.existing).Start(o), 'paused', dbus.Int32(1)),
            (lambda o: self.dom(self.existing).GetXML(o), 'inactive', dbus.String('1')),
        ]
        for call, key, value in cases:
            msg = self.assertDBusError(ERR_INVALID_ARGS, call, opts(**{key: value}))
            self.assertIn(key, msg)

    def test_wrong_signatures(self):
        c = self.client
        bad = [
            (MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'i', 1),
            (MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 's', minimal_domain_xml('sig')),
            (MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{ss}', minimal_domain_xml('sig'), {'a': 'b'}),
            (MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{sv}s', minimal_domain_xml('sig'), {}, 'x'),
            (MANAGER_PATH, MANAGER_IFACE, 'CreateDomain', 'u', 3),
            (MANAGER_PATH, MANAGER_IFACE, 'GetDomain', 'u', 3),
            (MANAGER_PATH, MANAGER_IFACE, 'GetDomain', '', ),
            (MANAGER_PATH, MANAGER_IFACE, 'ListDomains', 'as', ['active']),
            (self.existing, DOMAIN_IFACE, 'Start', 'b', True),
            (self.existing, DOMAIN_IFACE, 'Start', '', ),
            (self.existing, DOMAIN_IFACE, 'Rename', 'a{sv}', {}),
            (self.existing, DOMAIN_IFACE, 'GetXML', 's', 'inactive'),
        ]
        for path, iface, method, sig, *args in bad:
            try:
                c.call(path, iface, method, sig, *args)
                self.fail('%s(%s) accepted' % (method, sig))
            except dbus.DBusException as e:
                self.assertIn(e.get_dbus_name(), (ERR_INVALID_ARGS, ERR_UNKNOWN_METHOD,
                                                  'org.freedesktop.DBus.Error.InvalidSignature'),
                              '%s(%s): %s' % (method, sig, e))

    def test_property_abuse(self):
        c = self.client
        for name, value in (('State', dbus.String('running')), ('UUID', dbus.String(new_uuid())),
                            ('Name', dbus.String('renamed')), ('Autostart', dbus.String('yes')),
                            ('NoSuchProperty', dbus.Boolean(True))):
            with self.assertRaises(dbus.DBusException, msg=name):
                c.set_prop(self.existing, name, value)
        with self.assertRaises(dbus.DBusException):
            c.prop(self.existing, 'NoSuchProperty')
        with self.assertRaises(dbus.DBusException):
            c.set_prop(MANAGER_PATH, 'Version', dbus.String('9'), iface=MANAGER_IFACE)

    def test_unknown_methods_and_paths(self):
        with self.assertRaises(dbus.DBusException):
            self.client.call(MANAGER_PATH, MANAGER_IFACE, 'NoSuchMethod', '')
        for path in ('/org/vmgmt/domain/nosuch', '/org/vmgmt/domain/nosuch/deeper',
                     '/org/vmgmt/domain/' + path_encode('../present')):
            self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.dom(path).Start, opts())
            self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.dom(path).GetXML, opts())

    def test_snapshot_paths(self):
        # the snapshot kind serves PREFIX/DOMAIN/snapshot/SNAP: a domain without
        # that snapshot (every domain, until CreateSnapshot) answers NoSuchSnapshot
        snap = self.existing + '/snapshot/' + path_encode('s1')
        o = self.client.obj(snap)
        for iface, method, args in (('org.vmgmt.Snapshot', 'GetXML', [opts()]),
                                    ('org.vmgmt.Snapshot', 'Revert', [opts()]),
                                    ('org.vmgmt.Snapshot', 'Delete', [opts()]),
                                    (DOMAIN_IFACE, 'Start', [opts()]),
                                    ('org.freedesktop.DBus.Properties', 'GetAll', ['org.vmgmt.Snapshot'])):
            msg = self.assertDBusError(ERR_NO_SUCH_SNAPSHOT, o.get_dbus_method(method, iface), *args)
            self.assertIn("'s1'", msg)
            self.assertIn("'present'", msg)
        # of a domain that does not exist: NoSuchDomain
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.client.obj('/org/vmgmt/domain/nosuch/snapshot/s1')
                             .get_dbus_method('GetXML', 'org.vmgmt.Snapshot'), opts())
        # the domain itself is as before; no snapshot is listed anywhere
        self.assertEqual(self.client.prop(self.existing, 'Name'), 'present')
        self.assertFalse([p for p in self.client.managed_objects() if '/snapshot/' in p])

    def test_many_failed_calls_leak_nothing(self):
        xml = minimal_domain_xml('present', uuid=new_uuid())
        for _ in range(200):
            self.assertDBusError(ERR_ALREADY_EXISTS, self.define, xml)
            self.assertDBusError(ERR_INVALID_XML, self.define, '<domain')
            self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.manager.GetDomain, 'nosuch')
            self.assertDBusError(ERR_INVALID_ARGS, self.manager.ListDomains, opts(x=True))
        with open('/proc/%d/status' % self.daemon.pid) as f:
            rss = int(re.search(r'VmRSS:\s+(\d+)', f.read()).group(1))
        self.assertLess(rss, 200 * 1024, 'vmgmtd RSS %d KiB after 800 failed calls' % rss)


if __name__ == '__main__':
    main()
