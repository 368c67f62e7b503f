# OpenGraphics and Screenshot are polkit action org.vmgmt.domain.console: an
# unprivileged caller (uid 65534, through a real polkitd in its own mount
# namespace, see tests/auth/auth_harness.py) is refused until a rule grants
# that action, and then gets a working VNC connection and PNG.

import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'auth'))

from auth_harness import (ERR_ACCESS_DENIED, ERR_INTERACTIVE, NOBODY, AuthTestCase, _child_env,  # noqa: E402
                          main, minimal_domain_xml, opts)

PNG_SIGNATURE_HEX = '89504e470d0a1a0a'
WAIT = 120   # bounds a hang only: polkitd and vmgmtd may be slow on a loaded machine


class ConsoleAction(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 10}

    def as_nobody(self, path):
        script = os.path.join(self.fx.tmp, 'display_client.py')
        if not os.path.exists(script):
            shutil.copy(os.path.join(HERE, 'display_client.py'), script)
            os.chmod(script, 0o644)
        r = subprocess.run(['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups',
                            '/usr/bin/python3', script, self.fx.bus.address, path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd='/', timeout=120,
                           env=_child_env({'HOME': '/', 'PYTHONDONTWRITEBYTECODE': '1'}))
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        out = json.loads(r.stdout)
        self.assertEqual(out['uid'], NOBODY)
        return out

    def test_console_action(self):
        path = self.define(minimal_domain_xml('gfx', extra_devices="<graphics type='vnc'/>"))
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        fds = self.daemon.fd_count()

        out = self.as_nobody(path)
        for what in ('open', 'screenshot'):
            self.assertFalse(out[what]['ok'], out)
            self.assertIn(out[what]['error'], (ERR_ACCESS_DENIED, ERR_INTERACTIVE), out)
        self.wait_until(lambda: self.daemon.fd_count() <= fds, timeout=WAIT, what='vmgmtd back to %d fds' % fds)

        # a lifecycle rule is not enough: the display is its own action
        self.fx.write_rule('50-nobody-lifecycle.rules', '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.lifecycle" && subject.user == "nobody")
        return polkit.Result.YES;
});
''')
        self.assertFalse(self.as_nobody(path)['open']['ok'])

        self.fx.write_rule('50-nobody-console.rules', '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.console" && subject.user == "nobody" &&
        action.lookup("domain") == "gfx" && (action.lookup("verb") == "OpenGraphics" ||
                                             action.lookup("verb") == "Screenshot"))
        return polkit.Result.YES;
});
''')
        out = self.wait_until(lambda: (lambda o: o if o['open']['ok'] else None)(self.as_nobody(path)),
                              timeout=WAIT, what='OpenGraphics allowed by the new rule')
        self.assertEqual(out['open']['value'], 'RFB 003.008\n')
        self.assertTrue(out['screenshot']['ok'], out)
        sig, length = out['screenshot']['value'].split(':')
        self.assertEqual(sig, PNG_SIGNATURE_HEX)
        self.assertGreater(int(length), 100)
        self.wait_until(lambda: self.daemon.fd_count() <= fds, timeout=WAIT, what='vmgmtd back to %d fds' % fds)


if __name__ == '__main__':
    main()
