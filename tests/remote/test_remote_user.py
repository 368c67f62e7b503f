#!/usr/bin/python3
# `vmgmtctl -c qemu+ssh://nobody@HOST:PORT/system?keyfile=…` as an
# unprivileged ssh user (issue 15 item 1): the far sshd's user is the bus
# caller and polkit (a real polkitd with the project's policy) decides as
# that user on the far side. A read works; a change is refused AccessDenied
# without a rule; with a polkit rule the test installs for `nobody` the same
# change is allowed. The user, its key and the host key are made at test
# time (remote_harness.py: nobody gets a shell and a home only inside sshd's
# mount namespace). known_hosts is the client's (no_verify=1 is tried too).

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'auth'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

from auth_harness import AuthTestCase  # noqa: E402
from remote_harness import SshHost  # noqa: E402
from vmgmt_harness import DEFAULT_TIMEOUT, VMGMTCTL, main, minimal_domain_xml, opts  # noqa: E402
from vmgmt_harness import _child_env as run_env  # noqa: E402

NOBODY_STARTS_DOMAINS = '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.lifecycle" && subject.user == "nobody")
        return polkit.Result.YES;
});
'''


class RemoteUser(AuthTestCase):
    def setUp(self):
        super().setUp()
        self.host = SshHost(self.fx.tmp, self.fx.bus.socket)
        self.addCleanup(self.host.stop)
        self.path = self.client.manager.DefineDomain(minimal_domain_xml('far'), opts())

    def remote(self, *args, user='nobody', home=None, **params):
        """vmgmtctl -c qemu+ssh://USER@127.0.0.1:PORT/system?keyfile=… with the
        client's own ssh setup (its home's known_hosts, or `home`'s)."""
        e = run_env({'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=/nonexistent'})
        r = subprocess.run(self.host.client_cmd(home) + [VMGMTCTL, '-c', self.host.uri(user, **params)] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=e,
                           timeout=2 * DEFAULT_TIMEOUT)
        r.stdout = r.stdout.decode('utf-8', 'replace')
        r.stderr = r.stderr.decode('utf-8', 'replace')
        return r

    def test_polkit_decides_as_the_ssh_user(self):
        r = self.remote('list', '--all', '--name')
        self.assertEqual((r.returncode, r.stdout), (0, 'far\n'), r.stderr + self.host.log_text())
        # the caller on the far bus is nobody: the change is polkit's to refuse (no
        # agent of nobody's there to ask a password), or, told not to ask, to say it would
        r = self.remote('start', 'far')
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn('(org.freedesktop.DBus.Error.AccessDenied)', r.stderr)
        r = self.remote('--no-ask-password', 'start', 'far')
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn('(org.freedesktop.DBus.Error.InteractiveAuthorizationRequired)', r.stderr)
        self.assertEqual(str(self.client.state(self.path)[0]), 'shutoff')
        self.fx.write_rule('50-nobody-starts.rules', NOBODY_STARTS_DOMAINS)
        self.wait_until(lambda: self.remote('--no-ask-password', 'start', 'far').returncode == 0,
                        timeout=DEFAULT_TIMEOUT, interval=0.5, what='the polkit rule to apply')
        self.client.wait_state(self.path, 'running')
        # ...and only what the rule names: defining is still refused
        xml = os.path.join(self.fx.tmp, 'other.xml')
        with open(xml, 'w') as f:
            f.write(minimal_domain_xml('other'))
        r = self.remote('define', xml)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn('(org.freedesktop.DBus.Error.AccessDenied)', r.stderr)

    def test_host_key_is_checked_unless_no_verify(self):
        empty = os.path.join(self.fx.tmp, 'empty-home')
        os.makedirs(empty, mode=0o700)
        # no known_hosts: ssh refuses the host (BatchMode: no question), the error says where
        r = self.remote('list', '--all', '--name', home=empty)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("The connection to host 'nobody@127.0.0.1:%d' failed" % self.host.port, r.stderr)
        self.assertIn('Host key verification failed', r.stderr)
        # no_verify=1: libvirt's "do not check the host key"; nothing is written to known_hosts
        r = self.remote('list', '--all', '--name', home=empty, no_verify=1)
        self.assertEqual((r.returncode, r.stdout), (0, 'far\n'), r.stderr)
        self.assertEqual(os.listdir(empty), [])


if __name__ == '__main__':
    main()
