# Manager-level API tests: define, get, list, create, XML, generation,
# rename, autostart, undefine — each with its signals and properties.

import os
import time

import dbus

from vmgmt_harness import (DOMAIN_IFACE, ERR_ALREADY_EXISTS, ERR_CONFLICT, ERR_INVALID_ARGS,
                           ERR_INVALID_STATE, ERR_NO_SUCH_DOMAIN, MANAGER_IFACE, MANAGER_PATH,
                           VmgmtTestCase, domain_path, main, minimal_domain_xml, new_uuid, opts)


class ManagerProperties(VmgmtTestCase):
    def test_manager_properties(self):
        p = self.client.props(MANAGER_PATH, MANAGER_IFACE)
        for k in ('Version', 'Features', 'Hostname', 'Drivers'):
            self.assertIn(k, p)
        self.assertRegex(p['Version'], r'^\d+\.\d+')
        self.assertIsInstance(p['Features'], list)
        self.assertIn('qemu', p['Drivers'])
        self.assertEqual(p['Hostname'], os.uname().nodename)

    def test_features_name_what_works(self):
        # every network-MODE and storage-TYPE word is one DefineNetwork / DefinePool takes
        feats = [str(f) for f in self.client.props(MANAGER_PATH, MANAGER_IFACE)['Features']]
        self.assertEqual(len(feats), len(set(feats)), feats)
        nets = [f[len('network-'):] for f in feats if f.startswith('network-') and f not in
                ('network-dhcp-leases', 'network-update')]
        pools = [f[len('storage-'):] for f in feats if f.startswith('storage-') and not f.startswith('storage-volume-')]
        self.assertTrue({'nat', 'route', 'open', 'isolated', 'bridge'} <= set(nets), feats)
        self.assertTrue({'dir', 'fs', 'netfs'} <= set(pools), feats)
        for i, mode in enumerate(nets):
            fwd = '' if mode == 'isolated' else \
                "<forward mode='bridge'/><bridge name='br-feat%d'/>" % i if mode == 'bridge' else \
                "<forward mode='%s'/>" % mode
            ip = '' if mode == 'bridge' else \
                "<bridge name='vfeat%d'/><ip address='10.251.%d.1' netmask='255.255.255.0'/>" % (i, i)
            path = self.client.manager.DefineNetwork(
                "<network><name>feat-%s</name>%s%s</network>" % (mode, fwd, ip), opts())
            self.assertEqual(str(self.client.props(path, 'org.vmgmt.Network')['ForwardMode']), mode)
        src = {'dir': '', 'fs': "<source><device path='/dev/feat-none'/></source>",
               'netfs': "<source><host name='127.0.0.1'/><dir path='/x'/></source>",
               'iscsi': "<source><host name='127.0.0.1'/><device path='iqn.2026-12.org.vmgmt:feat-k'/></source>",
               'iscsi-direct': "<source><host name='127.0.0.1'/><device path='iqn.2026-12.org.vmgmt:feat'/>"
                               "<initiator><iqn name='iqn.2026-12.org.vmgmt:init'/></initiator></source>",
               'rbd': "<source><name>feat</name><host name='127.0.0.1'/></source>"}
        targetless = ('rbd', 'iscsi-direct')   # their volumes are no files
        for t in pools:
            target = '' if t in targetless else \
                "<target><path>%s</path></target>" % os.path.join(self.fx.tmp, 'pool-' + t)
            path = self.client.manager.DefinePool(
                "<pool type='%s'><name>feat-%s</name>%s%s</pool>" % (t, t, src.get(t, ''), target), opts())
            self.assertEqual(str(self.client.props(path, 'org.vmgmt.StoragePool')['Type']), t)
        # a second pool on a network source already in use: the message names the source
        if 'iscsi-direct' in pools:
            msg = self.assertDBusError(ERR_ALREADY_EXISTS, self.client.manager.DefinePool,
                                       "<pool type='iscsi-direct'><name>feat-again</name>%s</pool>" % src['iscsi-direct'],
                                       opts())
            self.assertIn('127.0.0.1 iqn.2026-12.org.vmgmt:feat', msg)

    def test_empty_lists(self):
        self.assertEqual(self.client.list_domains(), [])
        self.assertEqual(self.client.managed_objects().get('/org/vmgmt/domain/none'), None)


class Define(VmgmtTestCase):
    def test_define_properties_and_signals(self):
        uuid = new_uuid()
        xml = minimal_domain_xml('alpha', uuid=uuid, memory_mib=64, vcpus=2,
                                 title='The alpha', description='first one')
        before_us = time.time_ns() // 1000
        path = self.define(xml)
        self.assertEqual(path, domain_path('alpha'))
        self.rec.wait_domain_event(path, 'defined', 'added')
        after_us = time.time_ns() // 1000
        self.rec.wait_for(lambda en: any(e[0] == 'InterfacesAdded' and e[1] == path for e in en),
                          what='InterfacesAdded')
        added = [e for e in self.rec.entries if e[0] == 'InterfacesAdded' and e[1] == path][0]
        self.assertIn(DOMAIN_IFACE, added[2])
        self.assertEqual(added[2][DOMAIN_IFACE].get('Name'), 'alpha')
        self.rec.sync()
        self.assertEqual(self.rec.domain_events(path), [('defined', 'added')])
        ev = [e for e in self.rec.entries if e[0] == 'DomainEvent'][0]
        self.assertIn('time_usec', ev[4])
        # wall-clock microseconds of the moment it happened: during the call
        self.assertGreaterEqual(ev[4]['time_usec'], before_us)
        self.assertLessEqual(ev[4]['time_usec'], after_us)

        p = self.client.props(path)
        self.assertEqual(p['Name'], 'alpha')
        self.assertEqual(p['UUID'], uuid)
        self.assertEqual(p['Id'], 0)
        self.assertEqual(p['State'], 'shutoff')
        self.assertTrue(p['Persistent'])
        self.assertFalse(p['Autostart'])
        self.assertEqual(p['VCPUs'], 2)
        self.assertEqual(p['MemoryKiB'], 65536)
        self.assertEqual(p['MaxMemoryKiB'], 65536)
        self.assertEqual(p['Title'], 'The alpha')
        self.assertEqual(p['Description'], 'first one')
        self.assertFalse(p['HasManagedSave'])
        self.assertEqual(p['CurrentSnapshot'], '/')
        self.assertEqual(p['StartTime'], 0)
        self.assertIn('Generation', p)

        # GetManagedObjects carries the same properties
        mo = self.client.managed_objects()
        self.assertIn(path, mo)
        self.assertEqual(mo[path][DOMAIN_IFACE]['UUID'], uuid)
        self.assertEqual(mo[path][DOMAIN_IFACE]['State'], 'shutoff')

        # the definition is on disk
        self.assertTrue(os.path.exists(os.path.join(self.daemon.config_dir, 'alpha.xml')),
                        os.listdir(self.daemon.config_dir))

    def test_define_generates_uuid(self):
        path = self.define(minimal_domain_xml('nouuid'))
        uuid = self.client.prop(path, 'UUID')
        self.assertRegex(uuid, r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
        self.assertIn('<uuid>%s</uuid>' % uuid, str(self.dom(path).GetXML(opts())))

    def test_redefine_updates(self):
        uuid = new_uuid()
        path = self.define(minimal_domain_xml('upd', uuid=uuid, memory_mib=64))
        gen1 = self.client.prop(path, 'Generation')
        self.rec.clear()
        path2 = self.define(minimal_domain_xml('upd', uuid=uuid, memory_mib=128))
        self.assertEqual(path, path2)
        self.rec.wait_domain_event(path, 'defined', 'updated')
        self.assertEqual(self.client.prop(path, 'MemoryKiB'), 131072)
        gen2 = self.client.prop(path, 'Generation')
        self.assertGreater(gen2, gen1)
        self.rec.wait_for(lambda en: 131072 in self.rec.property_changes(path, 'MemoryKiB'),
                          what='PropertiesChanged MemoryKiB')
        self.rec.wait_for(lambda en: gen2 in self.rec.property_changes(path, 'Generation'),
                          what='PropertiesChanged Generation')
        # no second object appeared
        self.rec.sync()
        self.assertEqual(self.client.list_domains(), [path])
        self.assertFalse([e for e in self.rec.entries if e[0] == 'InterfacesAdded'])

    def test_redefine_without_uuid_keeps_it(self):
        path = self.define(minimal_domain_xml('keep'))
        uuid = self.client.prop(path, 'UUID')
        # libvirt: a redefinition without <uuid> of an existing name is refused
        # or takes the existing UUID; either way the UUID must not change.
        try:
            self.define(minimal_domain_xml('keep', memory_mib=96))
        except dbus.DBusException as e:
            self.assertEqual(e.get_dbus_name(), ERR_ALREADY_EXISTS)
        self.assertEqual(self.client.prop(path, 'UUID'), uuid)

    def test_getxml_roundtrip_is_stable(self):
        path = self.define(minimal_domain_xml('rt'))
        x1 = str(self.dom(path).GetXML(opts()))
        xi = str(self.dom(path).GetXML(opts(inactive=True)))
        self.assertEqual(x1, xi, 'an inactive domain has one XML')
        self.assertIn("<domain type='qemu'", x1.replace('"', "'"))
        self.assertIn('pc-i440fx-', x1, 'machine alias resolved')
        files = self.fx.config_files()
        self.define(x1)
        self.assertEqual(str(self.dom(path).GetXML(opts())), x1, 'defining GetXML output changes nothing')
        self.assertEqual(self.fx.config_files(), files)

    def test_if_generation(self):
        uuid = new_uuid()
        path = self.define(minimal_domain_xml('gen', uuid=uuid))
        gen = self.client.prop(path, 'Generation')
        self.define(minimal_domain_xml('gen', uuid=uuid, memory_mib=80),
                    if_generation=dbus.UInt64(gen))
        gen2 = self.client.prop(path, 'Generation')
        self.assertGreater(gen2, gen)
        before = self.fx.snapshot()
        msg = self.assertDBusError(ERR_CONFLICT, self.define,
                                   minimal_domain_xml('gen', uuid=uuid, memory_mib=96),
                                   if_generation=dbus.UInt64(gen))
        self.assertTrue(msg)
        self.assertUnchanged(before)
        self.assertEqual(self.client.prop(path, 'MemoryKiB'), 80 * 1024)
        self.assertEqual(self.client.prop(path, 'Generation'), gen2)
        # the wrong type for if_generation is InvalidArgs naming the key
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.define,
                                   minimal_domain_xml('gen', uuid=uuid, memory_mib=96),
                                   if_generation=dbus.Int32(gen2))
        self.assertIn('if_generation', msg)
        self.assertUnchanged(before)


class GetAndList(VmgmtTestCase):
    def test_get_domain_by_name_and_uuid(self):
        uuid = new_uuid()
        path = self.define(minimal_domain_xml('findme', uuid=uuid))
        self.assertEqual(str(self.manager.GetDomain('findme')), path)
        self.assertEqual(str(self.manager.GetDomain(uuid)), path)
        self.assertEqual(str(self.manager.GetDomain(uuid.upper())), path)
        self.assertEqual(str(self.manager.GetDomain(uuid.replace('-', ''))), path)
        msg = self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.manager.GetDomain, 'nosuch')
        self.assertIn('nosuch', msg)
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.manager.GetDomain, new_uuid())
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.manager.GetDomain, '')

    def test_list_domains_options(self):
        a = self.define(minimal_domain_xml('la'))
        b = self.define(minimal_domain_xml('lb'))
        self.dom(b).Start(opts())
        self.client.wait_state(b, 'running')
        t = self.create(minimal_domain_xml('lt'))
        self.assertEqual(self.client.list_domains(), sorted([a, b, t]))
        self.assertEqual(self.client.list_domains(active=True), sorted([b, t]))
        self.assertEqual(self.client.list_domains(inactive=True), [a])
        self.assertEqual(self.client.list_domains(active=True, inactive=True), sorted([a, b, t]))
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.manager.ListDomains, opts(bogus=True))
        self.assertIn('bogus', msg)
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.manager.ListDomains, opts(active='yes'))
        self.assertIn('active', msg)
        self.dom(b).Destroy(opts())
        self.dom(t).Destroy(opts())


class Create(VmgmtTestCase):
    def test_create_transient_vanishes_at_stop(self):
        path = self.create(minimal_domain_xml('trans'))
        self.client.wait_state(path, 'running')
        p = self.client.props(path)
        self.assertFalse(p['Persistent'])
        self.assertGreater(p['Id'], 0)
        self.assertFalse(os.path.exists(os.path.join(self.daemon.config_dir, 'trans.xml')))
        self.assertEqual(len(self.fx.qemu_pids()), 1)
        self.rec.wait_domain_event(path, 'started', 'booted')
        self.dom(path).Destroy(opts())
        self.rec.wait_domain_event(path, 'stopped', 'destroyed')
        self.rec.wait_for(lambda en: any(e[0] == 'InterfacesRemoved' and e[1] == path for e in en),
                          what='InterfacesRemoved')
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.manager.GetDomain, 'trans')
        self.assertEqual(self.client.list_domains(), [])
        self.assertEqual(self.fx.qemu_pids(), [])
        # a transient domain never emits defined/undefined
        self.rec.sync()
        evs = self.rec.domain_events(path)
        self.assertEqual(evs[0], ('started', 'booted'), evs)
        self.assertNotIn(('defined', 'added'), evs)

    def test_create_paused(self):
        path = self.create(minimal_domain_xml('tp'), paused=True)
        self.client.wait_state(path, 'paused')
        self.rec.wait_domain_events(path, [1, 2])
        self.assertEqual(self.rec.domain_events(path)[:2], [('started', 'booted'), ('suspended', 'paused')])
        self.dom(path).Resume(opts())
        self.client.wait_state(path, 'running')
        self.dom(path).Destroy(opts())

    def test_create_with_taken_name(self):
        uuid = new_uuid()
        self.define(minimal_domain_xml('taken', uuid=uuid))
        before = self.fx.snapshot()
        self.assertDBusError(ERR_ALREADY_EXISTS, self.create, minimal_domain_xml('taken'))
        self.assertDBusError(ERR_ALREADY_EXISTS, self.create, minimal_domain_xml('other', uuid=uuid))
        self.assertUnchanged(before)

    def test_create_bad_option(self):
        before = self.fx.snapshot()
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.create, minimal_domain_xml('x'), bogus=True)
        self.assertIn('bogus', msg)
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.create, minimal_domain_xml('x'),
                                   paused=dbus.String('yes'))
        self.assertIn('paused', msg)
        self.assertUnchanged(before)


class Undefine(VmgmtTestCase):
    def test_undefine_inactive(self):
        path = self.define(minimal_domain_xml('gone'))
        self.rec.clear()
        self.dom(path).Undefine(opts())
        self.rec.wait_domain_event(path, 'undefined', 'removed')
        self.rec.wait_for(lambda en: any(e[0] == 'InterfacesRemoved' and e[1] == path
                                         and DOMAIN_IFACE in e[2] for e in en),
                          what='InterfacesRemoved')
        self.assertEqual(self.client.list_domains(), [])
        self.assertEqual({f: h for f, h in self.fx.config_files().items() if f.startswith('qemu/')}, {})
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.dom(path).GetXML, opts())
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.dom(path).Undefine, opts())

    def test_undefine_running_becomes_transient(self):
        path = self.define(minimal_domain_xml('tr'))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        self.rec.clear()
        self.dom(path).Undefine(opts())
        self.rec.wait_domain_event(path, 'undefined', 'removed')
        self.assertFalse(self.client.prop(path, 'Persistent'))
        self.assertEqual(self.client.prop(path, 'State'), 'running')
        self.assertFalse(os.path.exists(os.path.join(self.daemon.config_dir, 'tr.xml')))
        self.assertEqual(self.client.list_domains(), [path])
        self.rec.wait_for(lambda en: False in self.rec.property_changes(path, 'Persistent'),
                          what='PropertiesChanged Persistent=false')
        # an active transient domain cannot be undefined
        self.assertDBusError(ERR_INVALID_STATE, self.dom(path).Undefine, opts())
        self.dom(path).Destroy(opts())
        self.rec.wait_for(lambda en: any(e[0] == 'InterfacesRemoved' and e[1] == path for e in en),
                          what='InterfacesRemoved')
        self.assertEqual(self.client.list_domains(), [])
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_undefine_unknown_option(self):
        path = self.define(minimal_domain_xml('uo'))
        before = self.fx.snapshot()
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).Undefine, opts(bogus=True))
        self.assertIn('bogus', msg)
        self.assertUnchanged(before)


class Rename(VmgmtTestCase):
    def test_rename(self):
        uuid = new_uuid()
        old = self.define(minimal_domain_xml('old-name', uuid=uuid))
        self.rec.clear()
        self.dom(old).Rename('new-name', opts())
        new = domain_path('new-name')
        self.assertEqual(new, '/org/vmgmt/domain/new_2dname')
        self.rec.wait_for(lambda en: any(e[0] == 'InterfacesAdded' and e[1] == new for e in en),
                          what='InterfacesAdded of the new path')
        kinds = [(e[0], e[1]) for e in self.rec.entries if e[0].startswith('Interfaces')]
        self.assertEqual(kinds, [('InterfacesRemoved', old), ('InterfacesAdded', new)])
        self.assertEqual(str(self.manager.GetDomain('new-name')), new)
        self.assertEqual(str(self.manager.GetDomain(uuid)), new)
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.manager.GetDomain, 'old-name')
        self.assertEqual(self.client.prop(new, 'Name'), 'new-name')
        self.assertEqual(self.client.prop(new, 'UUID'), uuid)
        self.assertIn('<name>new-name</name>', str(self.dom(new).GetXML(opts())))
        self.assertEqual(sorted(f for f in os.listdir(self.daemon.config_dir) if f.endswith('.xml')), ['new-name.xml'])
        self.assertEqual(self.client.list_domains(), [new])

    def test_rename_errors(self):
        a = self.define(minimal_domain_xml('ra'))
        self.define(minimal_domain_xml('rb'))
        before = self.fx.snapshot()
        self.assertDBusError(ERR_ALREADY_EXISTS, self.dom(a).Rename, 'rb', opts())
        for bad in ('', 'a/b', '..', 'x' * 256, 'a\x01b'):
            try:
                self.dom(a).Rename(bad, opts())
                self.fail('Rename to %r succeeded' % bad)
            except dbus.DBusException as e:
                self.assertIn(e.get_dbus_name(), (ERR_INVALID_ARGS, 'org.vmgmt.Error.InvalidXML'),
                              '%r: %s' % (bad, e))
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(a).Rename, 'rc', opts(bogus=True))
        self.assertUnchanged(before)


class Autostart(VmgmtTestCase):
    def test_autostart_property(self):
        path = self.define(minimal_domain_xml('auto'))
        self.assertFalse(self.client.prop(path, 'Autostart'))
        self.rec.clear()
        self.client.set_prop(path, 'Autostart', dbus.Boolean(True))
        self.assertTrue(self.client.prop(path, 'Autostart'))
        self.rec.wait_for(lambda en: True in self.rec.property_changes(path, 'Autostart'),
                          what='PropertiesChanged Autostart')
        self.client.set_prop(path, 'Autostart', dbus.Boolean(False))
        self.assertFalse(self.client.prop(path, 'Autostart'))
        self.rec.wait_for(lambda en: self.rec.property_changes(path, 'Autostart')[-1:] == [False],
                          what='PropertiesChanged Autostart=false')

    def test_autostart_transient_refused(self):
        path = self.create(minimal_domain_xml('ta'))
        self.client.wait_state(path, 'running')
        with self.assertRaises(dbus.DBusException):
            self.client.set_prop(path, 'Autostart', dbus.Boolean(True))
        self.assertFalse(self.client.prop(path, 'Autostart'))
        self.dom(path).Destroy(opts())


if __name__ == '__main__':
    main()
