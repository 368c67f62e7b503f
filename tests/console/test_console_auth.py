# OpenConsole's polkit check (action org.vmgmt.domain.console) names the
# device by its canonical name: "", "console0" and "serial00" are all serial0,
# so a rule keyed on action.lookup("device") cannot be bypassed through an
# alias. A real polkitd in its own mount namespace (tests/auth/auth_harness.py),
# the caller uid 65534 through busctl. The domain (no disk, paused) has two
# serial ports on ptys and a serial console.

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'auth'))

from auth_harness import NOBODY, AuthTestCase, _child_env, main, minimal_domain_xml, opts  # noqa: E402

RULE = '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.console" && subject.user == "nobody" &&
        action.lookup("domain") == "cons" && action.lookup("verb") == "OpenConsole")
        return action.lookup("device") == "%s" ? polkit.Result.YES : polkit.Result.NO;
});
'''

ALIASES_OF_SERIAL0 = ('', 'serial0', 'console0', 'serial00')
WAIT = 120   # bounds a hang only: polkitd reloads its rules when it gets to it


class ConsoleDeviceDetail(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 10}

    def open_as_nobody(self, path, device):
        """OpenConsole(device, force) as uid 65534: (ok, stderr)."""
        r = subprocess.run(['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups',
                            'busctl', '--address=' + self.fx.bus.address, 'call', 'org.vmgmt', path,
                            'org.vmgmt.Domain', 'OpenConsole', 'sa{sv}', device, '1', 'force', 'b', 'true'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd='/', timeout=60,
                           env=_child_env({'HOME': '/'}))
        return r.returncode == 0, r.stderr.decode('utf-8', 'replace')

    def test_device_detail_is_canonical(self):
        xml = minimal_domain_xml('cons', extra_devices="<serial type='pty'/><serial type='pty'/>"
                                                       "<console type='pty'/>")
        path = self.define(xml)
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')

        # only serial0: every alias of it opens, serial1 does not
        self.fx.write_rule('50-nobody-serial0.rules', RULE % 'serial0')
        self.wait_until(lambda: self.open_as_nobody(path, 'serial0')[0], timeout=WAIT, what='the serial0 rule in force')
        for dev in ALIASES_OF_SERIAL0:
            ok, err = self.open_as_nobody(path, dev)
            self.assertTrue(ok, '%r refused under a serial0 rule: %s' % (dev, err))
        ok, err = self.open_as_nobody(path, 'serial1')
        self.assertFalse(ok)
        self.assertIn('ccess denied', err)

        # only serial1: no alias of serial0 gets through
        self.fx.remove_rule('50-nobody-serial0.rules')
        self.fx.write_rule('50-nobody-serial1.rules', RULE % 'serial1')
        self.wait_until(lambda: self.open_as_nobody(path, 'serial1')[0], timeout=WAIT, what='the serial1 rule in force')
        self.wait_until(lambda: not self.open_as_nobody(path, 'serial0')[0], timeout=WAIT, what='the serial0 rule gone')
        for dev in ALIASES_OF_SERIAL0:
            ok, err = self.open_as_nobody(path, dev)
            self.assertFalse(ok, '%r opened serial0 under a serial1-only rule' % dev)
            self.assertIn('ccess denied', err)
        # the check names the canonical device in vmgmtd's log of the refusal
        self.assertRegex(self.daemon.log_text(), r'Authorization of org\.vmgmt\.Domain\.OpenConsole .* refused')


if __name__ == '__main__':
    main()
