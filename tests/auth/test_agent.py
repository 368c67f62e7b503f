# vmgmtctl and polkit's text agent: run as uid 65534 on a terminal (a pty),
# vmgmtctl starts pkttyagent, so polkit's prompt (with the message naming the
# domain and the verb) appears on the terminal; --no-ask-password turns the
# agent and the interactive flag off; without a terminal no agent is started.

import os
import pty
import select
import signal
import subprocess
import time
import unittest

from auth_harness import AuthTestCase, _child_env, main, minimal_domain_xml, skip_missing

VMGMTCTL = os.environ.get('VMGMTCTL') or ''


def read_until(fd, needles, timeout):
    """Reads the pty until every needle was seen (or EOF / timeout); returns the text."""
    buf = b''
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = buf.decode('utf-8', 'replace')
        if all(n in text for n in needles):
            break
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        buf += data
    return buf.decode('utf-8', 'replace')


class Agent(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 10, 'polkit_interactive_timeout_sec': 30}

    def setUp(self):
        if not VMGMTCTL or not os.access(VMGMTCTL, os.X_OK):
            raise AssertionError('vmgmtctl is not built ($VMGMTCTL)')
        if not os.access('/usr/bin/pkttyagent', os.X_OK):
            skip_missing('/usr/bin/pkttyagent', 'pkexec')
        super().setUp()
        # vmgmtctl must be reachable by uid 65534
        self.ctl = os.path.join(self.fx.tmp, 'vmgmtctl')
        with open(VMGMTCTL, 'rb') as src, open(self.ctl, 'wb') as dst:
            dst.write(src.read())
        os.chmod(self.ctl, 0o755)

    def argv(self, *args):
        return ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', self.ctl] + list(args)

    def env(self):
        return _child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address, 'HOME': '/', 'LANG': 'C'})

    def spawn_on_pty(self, *args):
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execvpe('setpriv', self.argv(*args), self.env())
            finally:
                os._exit(127)
        return pid, fd

    def agents_of(self, pid):
        out = []
        for d in os.listdir('/proc'):
            if not d.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % d) as f:
                    st = f.read()
                with open('/proc/%s/cmdline' % d, 'rb') as f:
                    cmd = f.read()
            except OSError:
                continue
            ppid = int(st[st.rindex(')') + 2:].split()[1])
            if ppid == pid and b'pkttyagent' in cmd:
                out.append(int(d))
        return out

    def test_prompt_on_terminal(self):
        p = self.define(minimal_domain_xml('agent-1'))
        pid, fd = self.spawn_on_pty('start', 'agent-1')
        try:
            text = read_until(fd, ['AUTHENTICATING FOR org.vmgmt.domain.lifecycle', 'Password'], 60)
            self.assertIn('AUTHENTICATING FOR org.vmgmt.domain.lifecycle', text)
            # polkit substituted the details into the message
            self.assertIn('virtual machine agent-1 (Start)', text)
            self.assertEqual(len(self.agents_of(pid)), 1, 'one pkttyagent, child of vmgmtctl')
            # give up at the prompt: Ctrl-C
            os.write(fd, b'\x03')
            _, status = os.waitpid(pid, 0)
            pid = None
            self.assertNotEqual(status, 0)
        finally:
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(fd)
        # the Start's authorization ended (refused, or dropped with its caller)
        self.wait_log(r'Authorization of org\.vmgmt\.Domain\.Start by \S+ \(\S+\) took .*: refused|'
                      r'disconnected while its Start call was being authorized')
        self.rec.sync()
        self.assertEqual(self.client.prop(p, 'State'), 'shutoff')
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_no_ask_password(self):
        p = self.define(minimal_domain_xml('agent-2'))
        pid, fd = self.spawn_on_pty('--no-ask-password', 'start', 'agent-2')
        try:
            text = read_until(fd, ['\x00never'], 60)
            _, status = os.waitpid(pid, 0)
        finally:
            os.close(fd)
        self.assertNotEqual(status, 0)
        self.assertNotIn('AUTHENTICATING', text)
        self.assertIn('Interactive authentication is required', text)
        self.assertEqual(self.client.prop(p, 'State'), 'shutoff')

    def test_no_terminal_no_agent(self):
        p = self.define(minimal_domain_xml('agent-3'))
        r = subprocess.run(self.argv('start', 'agent-3'), env=self.env(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        err = r.stderr.decode()
        self.assertIn('not authorized', err)
        self.assertEqual(self.client.prop(p, 'State'), 'shutoff')
        # reads need no agent and no password
        r = subprocess.run(self.argv('domstate', 'agent-3'), env=self.env(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('shut off', r.stdout.decode())


if __name__ == '__main__':
    main()
