# vmgmtd with real qemu (TCG): how the service maps driver results to state,
# properties, signals and errors — redefinition while running, undefine of a
# running domain, transient domains, autostart, InvalidState, the caller in
# DomainEvent, and the order PropertiesChanged → DomainEvent.

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration'))

import dbus  # noqa: E402

from vmgmt_harness import (ERR_INVALID_STATE, VmgmtTestCase, log, main, minimal_domain_xml, new_uuid,  # noqa: E402
                           opts)


class ServiceLifecycle(VmgmtTestCase):
    def start(self, name, **kw):
        path = self.define(minimal_domain_xml(name, **kw))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        return path

    def test_start_signals_order_and_caller(self):
        path = self.define(minimal_domain_xml('order'))
        self.rec.clear()
        self.dom(path).Start(opts())
        self.rec.wait_domain_event(path, 'started', 'booted')
        kinds = self.rec.kinds(path)
        first_event = [k[0] for k in kinds].index('DomainEvent')
        changed = set()
        for k in kinds[:first_event]:
            changed.update(k[1])
        self.assertTrue({'State', 'StateReason', 'Id', 'StartTime'} <= changed, kinds)
        info = [e for e in self.rec.entries if e[0] == 'DomainEvent'][0][4]
        self.assertEqual((info['uid'], info['pid']), (os.getuid(), os.getpid()))
        self.assertGreater(self.client.prop(path, 'Id'), 0)
        self.assertGreater(self.client.prop(path, 'StartTime'), 0)
        self.rec.clear()
        self.dom(path).Destroy(opts())
        self.rec.wait_domain_event(path, 'stopped', 'destroyed')
        info = [e for e in self.rec.entries if e[0] == 'DomainEvent'][0][4]
        self.assertEqual(info['uid'], os.getuid())
        self.assertEqual(self.client.state(path), ('shutoff', 'destroyed'))
        self.assertEqual(self.client.prop(path, 'Id'), 0)
        self.assertEqual(self.client.prop(path, 'StartTime'), 0)

    def test_invalid_state(self):
        path = self.define(minimal_domain_xml('inv'))
        for verb in ('Shutdown', 'Destroy', 'Reboot', 'Reset', 'Suspend', 'Resume'):
            self.assertDBusError(ERR_INVALID_STATE, getattr(self.dom(path), verb), opts())
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        self.assertDBusError(ERR_INVALID_STATE, self.dom(path).Start, opts())
        self.assertDBusError(ERR_INVALID_STATE, self.dom(path).Resume, opts())
        self.assertDBusError(ERR_INVALID_STATE, self.dom(path).Rename, 'other', opts())
        self.dom(path).Suspend(opts())
        self.assertEqual(self.client.state(path), ('paused', 'user'))
        self.assertDBusError(ERR_INVALID_STATE, self.dom(path).Suspend, opts())
        self.dom(path).Resume(opts())
        self.assertEqual(self.client.state(path), ('running', 'unpaused'))
        self.dom(path).Destroy(opts())

    def test_redefine_while_running_applies_at_stop(self):
        u = new_uuid()
        path = self.define(minimal_domain_xml('redef', uuid=u, memory_mib=64))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        self.rec.clear()
        self.define(minimal_domain_xml('redef', uuid=u, memory_mib=96, title='next'))
        self.rec.wait_domain_event(path, 'defined', 'updated')
        self.assertEqual(self.client.prop(path, 'MemoryKiB'), 64 * 1024)
        self.assertEqual(self.client.prop(path, 'Generation'), 2)
        self.assertIn('next', str(self.dom(path).GetXML(opts(inactive=True))))
        self.assertNotIn('next', str(self.dom(path).GetXML(opts())))
        self.rec.clear()
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.rec.wait_for(lambda es: 96 * 1024 in self.rec.property_changes(path, 'MemoryKiB'), what='MemoryKiB')
        self.assertEqual(self.client.prop(path, 'Title'), 'next')
        self.assertIn('next', str(self.dom(path).GetXML(opts())))

    def test_undefine_running_then_stop_removes(self):
        path = self.start('undef-run')
        self.client.set_prop(path, 'Autostart', dbus.Boolean(True, variant_level=1))
        self.rec.clear()
        self.dom(path).Undefine(opts())
        self.rec.wait_domain_event(path, 'undefined', 'removed')
        self.assertEqual(self.client.prop(path, 'Persistent'), False)
        self.assertEqual(self.client.prop(path, 'Autostart'), False)
        self.assertEqual(sorted(os.listdir(self.daemon.config_dir)), ['autostart'])
        self.assertDBusError(ERR_INVALID_STATE, self.dom(path).Undefine, opts())
        self.rec.clear()
        self.dom(path).Destroy(opts())
        self.rec.wait_for(lambda es: any(e[0] == 'InterfacesRemoved' and e[1] == path for e in es),
                          what='InterfacesRemoved')
        self.assertEqual([k[0] for k in self.rec.kinds(path)][-2:], ['DomainEvent', 'InterfacesRemoved'])
        self.assertEqual(list(self.manager.ListDomains(opts())), [])

    def test_transient_paused_and_made_persistent(self):
        xml = minimal_domain_xml('trans', uuid=new_uuid())
        self.rec.clear()
        path = self.create(xml, paused=True)
        self.assertEqual(self.client.state(path), ('paused', 'user'))
        kinds = self.rec.kinds(path)
        self.rec.wait_domain_event(path, 'suspended', 'paused')
        kinds = [k[0] if k[0] != 'DomainEvent' else k for k in self.rec.kinds(path)]
        self.assertEqual(kinds[0], 'InterfacesAdded')
        self.assertEqual([k for k in kinds if k != 'PropertiesChanged'][1:],
                         [('DomainEvent', 'started', 'booted'), ('DomainEvent', 'suspended', 'paused')])
        self.assertEqual(self.client.prop(path, 'Persistent'), False)
        self.assertEqual([str(p) for p in self.manager.ListDomains(opts(active=True))], [path])
        self.rec.clear()
        self.define(xml)
        self.rec.wait_domain_event(path, 'defined', 'added')
        self.assertEqual(self.client.prop(path, 'Persistent'), True)
        self.assertEqual(self.client.prop(path, 'Generation'), 1)
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.assertEqual(self.client.prop(path, 'Persistent'), True)

    def test_autostart_at_start_and_sigterm_keeps_running(self):
        path = self.define(minimal_domain_xml('auto-run'))
        self.client.set_prop(path, 'Autostart', dbus.Boolean(True, variant_level=1))
        self.daemon.restart()
        self.client.wait_state(path, 'running')
        pids = self.fx.qemu_pids()
        self.assertEqual(len(pids), 1)
        self.daemon.restart()
        self.assertEqual(self.client.state(path), ('running', 'booted'))
        self.assertEqual(self.fx.qemu_pids(), pids)
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')

    def call_async(self, path, method, *args):
        box = {}
        getattr(self.dom(path), method)(*args, reply_handler=lambda *a: box.setdefault('ok', a),
                                         error_handler=lambda e: box.setdefault('error', e))
        return box

    def test_destroy_while_starting(self):
        path = self.define(minimal_domain_xml('early-destroy'))
        box = self.call_async(path, 'Start', opts())
        self.dom(path).Destroy(opts())
        self.rec.wait_for(lambda es: box, what='the Start reply')
        log('Start during Destroy answered: %s' % (box.get('error') or 'ok'))
        self.client.wait_state(path, 'shutoff')
        self.assertEqual(self.fx.qemu_pids(), [])
        if 'error' in box:
            self.assertIn(box['error'].get_dbus_name(),
                          ('org.vmgmt.Error.Cancelled', 'org.vmgmt.Error.InvalidState'))

    def test_sigterm_while_starting_answers_the_caller(self):
        path = self.define(minimal_domain_xml('early-term'))
        box = self.call_async(path, 'Start', opts())
        # SIGTERM once vmgmtd has taken the call (its qemu exists), usually before it runs
        self.rec.wait_for(lambda es: box or self.fx.qemu_pids(), what='qemu started')
        self.daemon.proc.send_signal(15)
        self.rec.wait_for(lambda es: box, what='the Start reply')
        log('Start during SIGTERM answered: %s' % (box.get('error') or 'ok'))
        if 'error' in box:
            self.assertEqual(box['error'].get_dbus_name(), 'org.vmgmt.Error.OperationFailed')
        self.assertEqual(self.daemon.proc.wait(15), 0)
        self.daemon.proc = None
        self.assertEqual(self.daemon.sanitizer_reports(), [])
        self.daemon.start()
        st = self.client.state(path)
        if st[0] != 'shutoff':
            self.dom(path).Destroy(opts())
            self.client.wait_state(path, 'shutoff')


if __name__ == '__main__':
    main()
