# vmgmtd's persistence and definition handling without running guests:
# files under CONFIG/qemu, Generation and if_generation, autostart links,
# rename and undefine with their signals, restart, option parsing, the
# configuration file.

import os
import subprocess
import sys
import uuid as uuidlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration'))

import dbus  # noqa: E402

from vmgmt_harness import (ERR_ALREADY_EXISTS, ERR_CONFLICT, ERR_INVALID_ARGS, ERR_INVALID_XML,  # noqa: E402
                           ERR_NO_SUCH_DOMAIN, VMGMTD, VmgmtTestCase, domain_path, main,
                           minimal_domain_xml, opts)


class Persistence(VmgmtTestCase):
    def files(self):
        return sorted(os.listdir(self.daemon.config_dir))

    def autostart_links(self):
        d = os.path.join(self.daemon.config_dir, 'autostart')
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def test_define_writes_file_and_generation(self):
        u = str(uuidlib.uuid4())
        path = self.define(minimal_domain_xml('gen', uuid=u, title='one'))
        self.assertEqual(self.files(), ['autostart', 'gen.xml'])
        self.assertEqual(self.client.prop(path, 'Generation'), 1)
        self.rec.clear()
        self.define(minimal_domain_xml('gen', uuid=u, title='two'))
        self.assertEqual(self.client.prop(path, 'Generation'), 2)
        self.assertEqual(self.client.prop(path, 'Title'), 'two')
        self.rec.wait_domain_event(path, 'defined', 'updated')
        kinds = [e[0] for e in self.rec.entries if e[1] == path]
        self.assertEqual(kinds, ['PropertiesChanged', 'DomainEvent'])
        changed = self.rec.entries[0][3]
        self.assertEqual(changed.get('Title'), 'two')
        self.assertEqual(changed.get('Generation'), 2)
        # the same definition again changes nothing
        xml = str(self.dom(path).GetXML(opts()))
        self.define(xml)
        self.assertEqual(self.client.prop(path, 'Generation'), 2)
        # without a UUID, a redefinition keeps the domain's UUID
        self.define(minimal_domain_xml('gen', title='three'))
        self.assertEqual(self.client.prop(path, 'UUID'), u)
        self.assertEqual(self.client.prop(path, 'Generation'), 3)
        with open(os.path.join(self.daemon.config_dir, 'gen.xml')) as f:
            text = f.read()
        self.assertIn('three', text)
        self.assertIn(u, text)

    def test_if_generation(self):
        path = self.define(minimal_domain_xml('ifgen', title='a'), if_generation=dbus.UInt64(0))
        before = self.fx.snapshot()
        msg = self.assertDBusError(ERR_CONFLICT, self.define, minimal_domain_xml('ifgen', title='b'),
                                   if_generation=dbus.UInt64(7))
        self.assertIn('ifgen', msg)
        self.assertUnchanged(before)
        self.assertDBusError(ERR_CONFLICT, self.define, minimal_domain_xml('ifgen', title='b'),
                             if_generation=dbus.UInt64(0))
        self.define(minimal_domain_xml('ifgen', title='b'), if_generation=dbus.UInt64(1))
        self.assertEqual(self.client.prop(path, 'Generation'), 2)
        self.assertDBusError(ERR_INVALID_ARGS, self.define, minimal_domain_xml('ifgen'),
                             if_generation=dbus.UInt32(2))

    def test_conflicts_change_nothing(self):
        u = str(uuidlib.uuid4())
        self.define(minimal_domain_xml('one', uuid=u))
        before = self.fx.snapshot()
        m = self.assertDBusError(ERR_ALREADY_EXISTS, self.define, minimal_domain_xml('one', uuid=str(uuidlib.uuid4())))
        self.assertIn('one', m)
        m = self.assertDBusError(ERR_ALREADY_EXISTS, self.define, minimal_domain_xml('two', uuid=u))
        self.assertIn(u, m)
        self.assertDBusError(ERR_INVALID_XML, self.define, '<domain type="qemu"><name>x</name>')
        self.assertDBusError(ERR_INVALID_XML, self.define, minimal_domain_xml('a/b'))
        self.assertUnchanged(before)

    def test_options(self):
        path = self.define(minimal_domain_xml('opt'))
        m = self.assertDBusError(ERR_INVALID_ARGS, self.manager.ListDomains, opts(bogus=dbus.Boolean(True)))
        self.assertIn('bogus', m)
        m = self.assertDBusError(ERR_INVALID_ARGS, self.manager.ListDomains, opts(active=dbus.String('yes')))
        self.assertIn('active', m)
        m = self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).GetXML, opts(inactive=dbus.UInt32(1)))
        self.assertIn('inactive', m)
        m = self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).Undefine, opts(force=dbus.Boolean(True)))
        self.assertIn('force', m)
        self.assertEqual([str(p) for p in self.manager.ListDomains(opts(inactive=True))], [path])
        self.assertEqual([str(p) for p in self.manager.ListDomains(opts(active=True))], [])

    def test_no_such_domain(self):
        p = domain_path('nothing')
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.dom(p).GetXML, opts())
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.client.prop, p, 'State')
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.manager.GetDomain, 'nothing')

    def test_event_carries_caller(self):
        path = self.define(minimal_domain_xml('who'))
        self.rec.wait_domain_event(path, 'defined', 'added')
        info = [e for e in self.rec.entries if e[0] == 'DomainEvent'][0][4]
        self.assertEqual(info['uid'], os.getuid())
        self.assertEqual(info['pid'], os.getpid())
        self.assertGreater(info['time_usec'], 0)
        kinds = [e[0] for e in self.rec.entries if e[1] == path]
        self.assertEqual(kinds, ['InterfacesAdded', 'DomainEvent'])

    def test_autostart_link_and_restart(self):
        path = self.define(minimal_domain_xml('auto'))
        self.client.set_prop(path, 'Autostart', dbus.Boolean(True, variant_level=1))
        self.assertEqual(self.autostart_links(), ['auto.xml'])
        self.assertEqual(os.readlink(os.path.join(self.daemon.config_dir, 'autostart', 'auto.xml')), '../auto.xml')
        self.define(minimal_domain_xml('auto', title='t'))
        gen = self.client.prop(path, 'Generation')
        # restart without autostarting (no qemu needed), definitions and Generation survive
        conf = os.path.join(self.daemon.root, 'etc', 'vmgmt', 'vmgmtd.conf')
        with open(conf, 'w') as f:
            f.write('[daemon]\nautostart=false\n')
        self.daemon.restart()
        self.assertEqual(self.client.prop(path, 'Autostart'), True)
        self.assertEqual(self.client.prop(path, 'Generation'), gen)
        self.assertEqual(self.client.prop(path, 'State'), 'shutoff')
        self.client.set_prop(path, 'Autostart', dbus.Boolean(False, variant_level=1))
        self.assertEqual(self.autostart_links(), [])

    def test_long_name_uses_uuid_file(self):
        name = 'n' * 255
        u = str(uuidlib.uuid4())
        path = self.define(minimal_domain_xml(name, uuid=u))
        self.assertIn(u + '.xml', self.files())
        self.daemon.restart()
        self.assertEqual(str(self.manager.GetDomain(name)), path)

    def test_rename(self):
        path = self.define(minimal_domain_xml('old-name'))
        self.client.set_prop(path, 'Autostart', dbus.Boolean(True, variant_level=1))
        self.rec.clear()
        self.dom(path).Rename('new-name', opts())
        new = domain_path('new-name')
        self.rec.wait_domain_event(new, 'defined', 'renamed')
        seq = [(e[0], e[1]) + ((e[2], e[3]) if e[0] == 'DomainEvent' else ()) for e in self.rec.entries]
        self.assertEqual(seq, [('DomainEvent', path, 'undefined', 'renamed'), ('InterfacesRemoved', path),
                               ('InterfacesAdded', new), ('DomainEvent', new, 'defined', 'renamed')])
        self.assertEqual(self.files(), ['autostart', 'new-name.xml'])
        self.assertEqual(self.autostart_links(), ['new-name.xml'])
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.dom(path).GetXML, opts())
        self.assertEqual(self.client.prop(new, 'Name'), 'new-name')
        self.assertEqual(self.client.prop(new, 'Generation'), 2)
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(new).Rename, 'bad/name', opts())
        self.define(minimal_domain_xml('other'))
        self.assertDBusError(ERR_ALREADY_EXISTS, self.dom(new).Rename, 'other', opts())

    def test_undefine(self):
        path = self.define(minimal_domain_xml('gone'))
        self.client.set_prop(path, 'Autostart', dbus.Boolean(True, variant_level=1))
        self.rec.clear()
        self.dom(path).Undefine(opts(managed_save=True, snapshots=True))
        self.rec.wait_for(lambda es: any(e[0] == 'InterfacesRemoved' for e in es), what='InterfacesRemoved')
        seq = [e[0] for e in self.rec.entries]
        self.assertEqual(seq, ['DomainEvent', 'InterfacesRemoved'])
        self.assertEqual(self.files(), ['autostart'])
        self.assertEqual(self.autostart_links(), [])
        self.assertEqual(list(self.manager.ListDomains(opts())), [])


class ConfigFile(VmgmtTestCase):
    def test_unknown_key_is_an_error(self):
        self.daemon.stop()
        conf = os.path.join(self.daemon.root, 'bad.conf')
        with open(conf, 'w') as f:
            f.write('[daemon]\nautostrat=true\n')
        r = subprocess.run([VMGMTD, '--root', self.daemon.root, '--config', conf], capture_output=True, text=True,
                           env={'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address}, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('autostrat', r.stderr)

    def test_help_and_version(self):
        r = subprocess.run([VMGMTD, '--version'], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertIn('vmgmtd', r.stdout)
        r = subprocess.run([VMGMTD, '--help'], capture_output=True, text=True, timeout=10)
        self.assertIn('--root', r.stdout)
        r = subprocess.run([VMGMTD, '--log-level', 'loud'], capture_output=True, text=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)


if __name__ == '__main__':
    main()
