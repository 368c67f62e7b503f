# Manager.GetDomainCapabilities as a caller other than root (issue 14.6): a read
# open to everyone with the driver's own emulator, named or not; any other
# binary — which vmgmtd would run as root to ask it — is AccessDenied, and
# nothing is run for it.

import os

from auth_harness import ERR_ACCESS_DENIED, AuthTestCase, main
from vmgmt_testmain import skip_missing

MANAGER_PATH = '/org/vmgmt'
MANAGER_IFACE = 'org.vmgmt.Manager'
QEMU = '/usr/bin/qemu-system-x86_64'
OTHER = '/usr/bin/qemu-system-i386'


class DomCapsAuth(AuthTestCase):
    def setUp(self):
        if not os.access(QEMU, os.X_OK):
            skip_missing(QEMU, 'qemu-system-x86')
        super().setUp()
        self.u = self.fx.unprivileged()
        self.addCleanup(self.u.close)

    def domcaps(self, emulator, arch=''):
        return self.u.call(MANAGER_PATH, MANAGER_IFACE, 'GetDomainCapabilities', 'ssssa{sv}',
                           [emulator, arch, '', '', {}])

    def test_only_the_drivers_emulator(self):
        for emulator in ('', QEMU):
            a = self.domcaps(emulator)
            self.assertTrue(a.get('ok'), a)
            self.assertIn('<path>%s</path>' % QEMU, a['result'][0])
        # another root-owned binary: refused before it runs (root may: test_domcaps)
        for emulator in ('/bin/true', OTHER if os.access(OTHER, os.X_OK) else '/bin/false'):
            a = self.domcaps(emulator)
            self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
            self.assertIn(emulator, a['message'])
        self.assertNotIn(OTHER, self.daemon.log_text())


if __name__ == '__main__':
    main()
