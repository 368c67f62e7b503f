# The booted busybox guest (tools/build-guest) under TCG: ACPI Shutdown,
# Reboot, Reset, guest-initiated power-off and reboot, Start paused + Resume,
# on_poweroff / on_reboot actions — with the exact DomainEvent order. The guest is booted as
# few times as possible: each boot takes a few seconds under TCG.

import time

from vmgmt_harness import (GUEST_READY, VmgmtTestCase, guest_domain_xml, guest_image, main, opts)

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly


class Guest(VmgmtTestCase):
    @classmethod
    def setUpClass(cls):
        guest_image()   # build (or reuse) once, before any timing matters
        super().setUpClass()

    def boot(self, name, paused=False, **xml_kw):
        path = self.define(guest_domain_xml(name, **xml_kw))
        self.rec.clear()
        self.dom(path).Start(opts(paused=paused))
        self.client.wait_state(path, 'paused' if paused else 'running')
        con = self.fx.console(path)
        if paused:
            # whatever qemu has let through so far: a paused guest printed nothing
            con._read()
            self.assertNotIn(GUEST_READY.encode(), con.buf)
            self.dom(path).Resume(opts())
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        return path, con

    def test_acpi_shutdown_reboot_reset(self):
        path, con = self.boot('g1')
        self.assertEqual(self.client.state(path), ('running', 'booted'))
        pid = self.fx.qemu_pids()

        # Reboot: the guest goes down and comes back in the same process
        self.dom(path).Reboot(opts())
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        self.client.wait_state(path, 'running')
        self.assertEqual(self.fx.qemu_pids(), pid)
        self.assertNotIn('stopped', [e for e, _ in self.rec.domain_events(path)])

        # Reset: hard reset, boots again
        self.dom(path).Reset(opts())
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        self.assertEqual(self.client.state(path)[0], 'running')
        self.assertEqual(self.fx.qemu_pids(), pid)

        # Shutdown: ACPI power button, the guest powers off
        self.rec.clear()
        self.dom(path).Shutdown(opts())
        st = self.client.wait_state(path, 'shutoff', timeout=BOOT_TIMEOUT)
        self.assertEqual(st, ('shutoff', 'shutdown'))
        evs = self.rec.wait_domain_events(path, [1, 2])
        self.assertEqual(evs, [('shutdown', 'finished'), ('stopped', 'shutdown')])
        self.assertEqual(self.fx.qemu_pids(), [])
        self.assertEqual(self.client.prop(path, 'Id'), 0)
        for e in self.rec.entries:
            if e[0] == 'DomainEvent':
                self.assertIn('time_usec', e[4])

    def test_start_paused_then_guest_reboot_and_poweroff(self):
        path, con = self.boot('g2', paused=True)
        self.assertEqual(self.rec.domain_events(path)[:3],
                         [('started', 'booted'), ('suspended', 'paused'), ('resumed', 'unpaused')])
        pid = self.fx.qemu_pids()
        # the guest reboots itself (on_reboot defaults to restart)
        con.send('reboot -f')
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        self.assertEqual(self.client.state(path)[0], 'running')
        self.assertEqual(self.fx.qemu_pids(), pid)
        # the guest powers itself off
        self.rec.clear()
        con.send('poweroff -f')
        st = self.client.wait_state(path, 'shutoff', timeout=BOOT_TIMEOUT)
        self.assertEqual(st, ('shutoff', 'shutdown'))
        self.assertEqual(self.rec.wait_domain_events(path, [1, 2]),
                         [('shutdown', 'finished'), ('stopped', 'shutdown')])
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_on_poweroff_restart(self):
        # on_poweroff=restart: an ACPI shutdown brings the guest back up in
        # the same qemu
        path, con = self.boot('g3', on_poweroff='restart')
        pids = self.fx.qemu_pids()
        self.assertEqual(len(pids), 1)
        self.dom(path).Shutdown(opts())
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        self.client.wait_state(path, 'running')
        self.assertEqual(self.fx.qemu_pids(), pids)
        # and it still powers off for good when destroyed
        self.rec.clear()
        self.dom(path).Destroy(opts())
        self.assertEqual(self.client.state(path), ('shutoff', 'destroyed'))
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_on_poweroff_restart_with_on_reboot_destroy_is_refused(self):
        # libvirt's qemu driver refuses the pair too: the restart is a reset,
        # which on_reboot=destroy turns into a shutdown
        before = self.fx.snapshot()
        for method in (self.manager.DefineDomain, self.manager.CreateDomain):
            msg = self.assertDBusError('org.vmgmt.Error.InvalidXML', method,
                                       guest_domain_xml('g5', on_poweroff='restart', on_reboot='destroy'),
                                       opts())
            self.assertIn('<on_poweroff>restart</on_poweroff> cannot be combined with '
                          '<on_reboot>destroy</on_reboot>', msg)
        self.assertUnchanged(before)

    def test_on_reboot_destroy(self):
        path, con = self.boot('g4', on_reboot='destroy')
        self.assertEqual(len(self.fx.qemu_pids()), 1)
        # A host Reset is a reboot request too: under on_reboot=destroy the
        # domain stops, as in libvirt (qemu's -action reboot=shutdown turns
        # system_reset into SHUTDOWN host-qmp-system-reset). It never boots
        # again: the firmware's own resets after a reset (one or two, by
        # timing) cannot matter.
        self.rec.clear()
        self.dom(path).Reset(opts())
        st = self.client.wait_state(path, 'shutoff', timeout=BOOT_TIMEOUT)
        self.assertEqual(st, ('shutoff', 'shutdown'))
        self.assertEqual(self.rec.wait_domain_events(path, [1, 2]),
                         [('shutdown', 'host'), ('stopped', 'shutdown')])
        self.assertEqual(self.fx.qemu_pids(), [])
        self.assertEqual(self.client.prop(path, 'Id'), 0)
        # the console saw the end of qemu, not a second boot
        deadline = time.monotonic() + BOOT_TIMEOUT
        while con._read():
            self.assertLess(time.monotonic(), deadline, 'the console of a stopped qemu stays open')
            time.sleep(0.02)
        self.assertNotIn(GUEST_READY.encode(), con.buf[con.mark:])
        # a guest that reboots itself is stopped too
        self.dom(path).Start(opts())
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        self.rec.clear()
        con.send('reboot -f')
        st = self.client.wait_state(path, 'shutoff', timeout=BOOT_TIMEOUT)
        self.assertEqual(st, ('shutoff', 'shutdown'))
        self.assertEqual(self.rec.wait_domain_events(path, [1, 2]),
                         [('shutdown', 'finished'), ('stopped', 'shutdown')])
        self.assertEqual(self.fx.qemu_pids(), [])

if __name__ == '__main__':
    main()
