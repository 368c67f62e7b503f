# vmgmtctl with the booted busybox guest (tools/build-guest) under TCG: the
# verbs that need a guest that answers ACPI — reboot and shutdown — and the
# events `vmgmtctl event` prints for them, in order.

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'integration'))

from test_vmgmtctl import CtlTestCase, EventReader  # noqa: E402
from vmgmt_harness import GUEST_READY, domain_path, guest_domain_xml, guest_image, main  # noqa: E402

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly


class Guest(CtlTestCase):
    @classmethod
    def setUpClass(cls):
        guest_image()   # build (or reuse) once, before any timing matters
        super().setUpClass()

    def test_reboot_and_acpi_shutdown(self):
        ev = EventReader(self, '--loop')
        ev.wait_ready(self)     # up to the probe's Undefined Removed

        f = self.xml_file('g', xml=guest_domain_xml('g'))
        self.assertEqual(self.ok('define', f), "Domain 'g' defined from %s\n" % f)
        self.assertEqual(self.ok('start', 'g'), "Domain 'g' started\n")
        path = domain_path('g')
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        prefix = "event 'lifecycle' for domain 'g': "
        self.assertEqual(ev.next(), prefix + 'Defined Added')
        self.assertEqual(ev.next(), prefix + 'Started Booted')

        # reboot: the guest goes down and comes back in the same qemu, no Stopped event
        pids = self.fx.qemu_pids()
        self.assertEqual(self.ok('reboot', 'g'), "Domain 'g' is being rebooted\n")
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        self.assertEqual(self.ok('domstate', 'g'), 'running\n')
        self.assertEqual(self.fx.qemu_pids(), pids)

        # shutdown: the ACPI power button; the guest powers off
        self.assertEqual(self.ok('shutdown', 'g'), "Domain 'g' is being shutdown\n")
        self.client.wait_state(path, 'shutoff', timeout=BOOT_TIMEOUT)
        self.assertEqual(self.ok('domstate', 'g', '--reason'), 'shut off (shutdown)\n')
        self.assertEqual(self.ok('domid', 'g'), '-\n')
        # everything since the start, up to the first Stopped: the reboot's
        # cont after the reset (as libvirt's fake reboot), no Stopped; then
        # the shutdown's two events
        lines = []
        while not lines or 'Stopped' not in lines[-1]:
            lines.append(ev.next(BOOT_TIMEOUT))
        self.assertEqual(lines, [prefix + 'Resumed Unpaused',
                                 prefix + 'Shutdown Finished', prefix + 'Stopped Shutdown'])
        rc, rest, err = ev.stop()
        self.assertEqual(rc, 0, err)
        self.assertEqual(rest[0], 'event loop interrupted')
        self.assertEqual(self.fx.qemu_pids(), [])


if __name__ == '__main__':
    main()
