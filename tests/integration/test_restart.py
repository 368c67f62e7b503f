# Daemon restarts: SIGKILL with domains running and paused, a qemu that dies
# while vmgmtd is down, SIGTERM leaving domains running, persistence of
# definitions and autostart at daemon start. Nothing lost, nothing orphaned.

import os
import signal
import time

import dbus

from vmgmt_harness import (cmdline, DEFAULT_TIMEOUT, ERR_NO_SUCH_DOMAIN, VmgmtTestCase,
                           domain_path, main, minimal_domain_xml, new_uuid, opts, pid_alive)


def qemu_pid_of(fx, name):
    """The qemu process of domain `name` under this fixture's root."""
    for pid in fx.qemu_pids():
        argv = cmdline(pid)
        for i, a in enumerate(argv):
            if a == '-name' and i + 1 < len(argv):
                v = argv[i + 1]
                first = v.split(',')[0]
                if first in (name, 'guest=' + name):
                    return pid
    raise AssertionError('no qemu for %s among %s' % (name, fx.qemu_pids()))


class Restart(VmgmtTestCase):
    def start(self, name, paused=False, transient=False):
        xml = minimal_domain_xml(name)
        if transient:
            path = self.create(xml, paused=paused)
        else:
            path = self.define(xml)
            self.dom(path).Start(opts(paused=paused))
        self.client.wait_state(path, 'paused' if paused else 'running')
        return path

    def test_sigkill_recovery(self):
        run = self.start('run')
        pau = self.start('pau', paused=True)     # qemu never ran: status 'prelaunch'
        sus = self.start('sus')                  # ran, then suspended: status 'paused'
        self.dom(sus).Suspend(opts())
        self.client.wait_state(sus, 'paused')
        dead = self.start('dead')
        tra = self.start('tra', transient=True)
        off = self.define(minimal_domain_xml('off'))
        ids = {p: self.client.prop(p, 'Id') for p in (run, pau, sus, dead, tra)}
        starts = {p: self.client.prop(p, 'StartTime') for p in (run, pau, sus, dead, tra)}
        uuids = {p: self.client.prop(p, 'UUID') for p in (run, pau, sus, dead, tra, off)}
        pids = {p: qemu_pid_of(self.fx, n) for p, n in ((run, 'run'), (pau, 'pau'), (sus, 'sus'),
                                                        (dead, 'dead'), (tra, 'tra'))}
        live_run = str(self.dom(run).GetXML(opts()))

        self.daemon.kill()
        for pid in pids.values():
            self.assertTrue(pid_alive(pid), 'qemu died with vmgmtd')
        os.kill(pids[dead], signal.SIGKILL)
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while pid_alive(pids[dead]):    # gone before vmgmtd comes back, else it would find it alive
            self.assertLess(time.monotonic(), deadline, 'the killed qemu %d is still there' % pids[dead])
            time.sleep(0.02)

        self.rec.clear()
        self.daemon.start()

        self.assertEqual(self.client.list_domains(), sorted([run, pau, sus, dead, tra, off]))
        self.assertEqual(self.client.state(run), ('running', 'booted'))
        self.assertEqual(self.client.state(sus), ('paused', 'user'))
        with self.subTest('started paused (prelaunch) stays paused'):
            self.assertEqual(self.client.state(pau), ('paused', 'user'))
        self.assertEqual(self.client.state(dead)[0], 'shutoff')
        self.assertEqual(self.client.state(off)[0], 'shutoff')
        self.assertEqual(self.client.state(tra)[0], 'running')
        self.assertFalse(self.client.prop(tra, 'Persistent'))
        for p in (run, pau, sus, tra):
            self.assertEqual(self.client.prop(p, 'Id'), ids[p])
            self.assertEqual(self.client.prop(p, 'StartTime'), starts[p])
        self.assertEqual(self.client.prop(dead, 'Id'), 0)
        for p, u in uuids.items():
            self.assertEqual(self.client.prop(p, 'UUID'), u)
        self.assertEqual(str(self.dom(run).GetXML(opts())), live_run)
        self.assertEqual(sorted(self.fx.qemu_pids()), sorted([pids[run], pids[pau], pids[sus], pids[tra]]))

        # controllable as before
        if self.client.state(pau)[0] == 'paused':
            self.dom(pau).Resume(opts())
            self.client.wait_state(pau, 'running')
            self.rec.wait_domain_event(pau, 'resumed', 'unpaused')
        self.dom(run).Suspend(opts())
        self.client.wait_state(run, 'paused')
        self.dom(run).Resume(opts())
        self.client.wait_state(run, 'running')
        self.dom(dead).Start(opts())
        self.client.wait_state(dead, 'running')
        self.dom(sus).Resume(opts())
        self.assertEqual(self.client.wait_state(sus, 'running'), ('running', 'unpaused'))
        for p in (run, pau, sus, dead):
            self.dom(p).Destroy(opts())
            self.assertEqual(self.client.wait_state(p, 'shutoff'), ('shutoff', 'destroyed'))
        self.dom(tra).Destroy(opts())
        self.rec.wait_for(lambda en: any(e[0] == 'InterfacesRemoved' and e[1] == tra for e in en),
                          what='transient removed')
        self.assertEqual(self.fx.qemu_pids(), [])
        for pid in pids.values():
            self.assertFalse(pid_alive(pid))
        # no run files left for stopped domains
        left = [f for f in os.listdir(self.daemon.run_dir)] if os.path.isdir(self.daemon.run_dir) else []
        self.assertFalse([f for f in left if f.endswith('.pid')], left)

    def test_sigkill_twice(self):
        run = self.start('twice')
        pid = qemu_pid_of(self.fx, 'twice')
        for _ in range(2):
            self.daemon.kill()
            self.daemon.start()
            self.assertEqual(self.client.state(run), ('running', 'booted'))
        self.assertEqual(self.fx.qemu_pids(), [pid])
        self.dom(run).Destroy(opts())
        self.client.wait_state(run, 'shutoff')

    def test_qemu_exits_on_its_own_after_recovery(self):
        run = self.start('after')
        self.daemon.kill()
        self.daemon.start()
        self.rec.clear()
        os.kill(qemu_pid_of(self.fx, 'after'), signal.SIGKILL)
        st = self.client.wait_state(run, 'shutoff')
        self.rec.wait_domain_event(run, 'stopped')
        self.assertEqual(self.client.prop(run, 'Id'), 0)
        self.assertIn(st[1], ('crashed', 'unknown', 'destroyed', 'shutdown'))

    def test_name_waits_for_recovered_monitors(self):
        # the bus name comes once the domains found running answer again: a first call on one of
        # them works (a qemu slow to greet its reconnecting monitor holds the name back, boundedly)
        run = self.start('greets-late')
        pid = qemu_pid_of(self.fx, 'greets-late')
        self.daemon.kill()
        os.kill(pid, signal.SIGSTOP)
        try:
            self.daemon.start(wait=False)
            conn = dbus.bus.BusConnection(self.fx.bus.address)
            try:
                time.sleep(2)   # vmgmtd is up and has connected to the stopped qemu's socket meanwhile
                self.assertFalse(conn.name_has_owner('org.vmgmt'),
                                 'vmgmtd took its name while a recovered qemu had not answered')
            finally:
                conn.close()
        finally:
            os.kill(pid, signal.SIGCONT)
        self.daemon.wait_ready()
        self.dom(run).Suspend(opts())
        self.assertEqual(self.client.state(run)[0], 'paused')

    def test_sigterm_leaves_domains_running(self):
        run = self.start('keep')
        pau = self.start('keep-p', paused=True)
        pids = self.fx.qemu_pids()
        self.assertEqual(len(pids), 2)
        rc = self.daemon.stop()
        self.assertEqual(rc, 0, 'vmgmtd exit status on SIGTERM')
        self.assertEqual(self.daemon.sanitizer_reports(), [])
        for pid in pids:
            self.assertTrue(pid_alive(pid))
        self.daemon.start()
        self.assertEqual(self.client.state(run), ('running', 'booted'))
        with self.subTest('started paused (prelaunch) stays paused'):
            self.assertEqual(self.client.state(pau), ('paused', 'user'))
        self.assertEqual(self.fx.qemu_pids(), pids)
        if self.client.state(pau)[0] == 'paused':
            self.dom(pau).Resume(opts())
            self.client.wait_state(pau, 'running')
        for p in (run, pau):
            self.dom(p).Destroy(opts())
            self.client.wait_state(p, 'shutoff')
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_definitions_persist(self):
        paths = {}
        for i in range(5):
            u = new_uuid()
            p = self.define(minimal_domain_xml('p%d' % i, uuid=u, memory_mib=64 + i))
            paths[p] = (u, str(self.dom(p).GetXML(opts())), self.client.prop(p, 'Generation'))
        self.dom(domain_path('p4')).Undefine(opts())
        del paths[domain_path('p4')]
        self.daemon.restart()
        self.assertEqual(self.client.list_domains(), sorted(paths))
        for p, (u, xml, gen) in paths.items():
            self.assertEqual(self.client.prop(p, 'UUID'), u)
            self.assertEqual(str(self.dom(p).GetXML(opts())), xml)
            self.assertEqual(self.client.prop(p, 'Generation'), gen)
        self.daemon.kill()
        self.daemon.start()
        self.assertEqual(self.client.list_domains(), sorted(paths))

    def reboot_host(self):
        """What a host reboot does to vmgmtd's world: every qemu gone, /run empty."""
        self.daemon.stop()
        from vmgmt_harness import kill_and_reap
        import shutil
        kill_and_reap(self.fx.qemu_pids())
        shutil.rmtree(os.path.join(self.daemon.root, 'run'), ignore_errors=True)
        self.daemon.start()

    def test_autostart_at_daemon_start(self):
        a = self.define(minimal_domain_xml('auto-on'))
        b = self.define(minimal_domain_xml('auto-off'))
        self.client.set_prop(a, 'Autostart', dbus.Boolean(True))
        self.reboot_host()
        self.assertTrue(self.client.prop(a, 'Autostart'))
        self.assertFalse(self.client.prop(b, 'Autostart'))
        self.client.wait_state(a, 'running')
        self.assertEqual(self.client.state(b)[0], 'shutoff')
        self.assertEqual(len(self.fx.qemu_pids()), 1)
        # an autostart domain that is already running is left alone on restart
        pid = self.fx.qemu_pids()
        self.daemon.restart()
        self.client.wait_state(a, 'running')
        self.assertEqual(self.fx.qemu_pids(), pid)
        self.daemon.kill()
        self.daemon.start()
        self.client.wait_state(a, 'running')
        self.assertEqual(self.fx.qemu_pids(), pid)
        self.dom(a).Destroy(opts())
        self.client.wait_state(a, 'shutoff')
        # autostart off again: a reboot leaves it off
        self.client.set_prop(a, 'Autostart', dbus.Boolean(False))
        self.reboot_host()
        self.assertEqual(self.client.state(a)[0], 'shutoff')
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_no_stray_files_after_failed_define(self):
        self.define(minimal_domain_xml('ok'))
        before = self.fx.snapshot()
        for _ in range(3):
            with self.assertRaises(dbus.DBusException):
                self.define('<domain type="qemu"><name>half</name>')
        self.daemon.restart()
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, self.manager.GetDomain, 'half')
        after = self.fx.snapshot()
        self.assertEqual(before['files'], after['files'])
        self.assertEqual(before['domains'], after['domains'])


if __name__ == '__main__':
    main()
