# auth_harness — fixtures for the authorization tests: the integration
# harness's private bus and vmgmtd, plus a real polkitd that sees only this
# project's actions and the test's own rules, and clients running as an
# unprivileged user.
#
# polkitd reads actions only from /usr/share/polkit-1/actions and rules from
# /etc/polkit-1/rules.d and /usr/share/polkit-1/rules.d. It runs here inside a
# private mount namespace (unshare -m) where temporary directories are bound
# over those three, so the host's files are neither read nor touched. Rules
# written into self.fx.rules_dir (the one bound over /etc/polkit-1/rules.d)
# are picked up by polkitd's own directory watch.
#
# Needs root (mount namespaces, setpriv). Run with /usr/bin/python3.

import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

from vmgmt_harness import (BUS_NAME, DOMAIN_IFACE, MANAGER_IFACE, MANAGER_PATH,  # noqa: E402,F401
                           SOURCE_ROOT, Fixture, VmgmtTestCase, _child_env, log, main,
                           minimal_domain_xml, opts, skip_missing)

POLKITD = '/usr/lib/polkit-1/polkitd'
POLICY_FILE = os.path.join(SOURCE_ROOT, 'policy', 'org.vmgmt.policy')
CLIENT_SCRIPT = os.path.join(HERE, 'auth_client.py')
NOBODY = 65534

ERR_ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
ERR_INTERACTIVE = 'org.freedesktop.DBus.Error.InteractiveAuthorizationRequired'


def have_prerequisites():
    """Fails without root; skips (naming it) when a program is missing."""
    if os.getuid() != 0:
        raise AssertionError('the authorization tests need root (mount namespace, setpriv)')
    for exe, pkg in ((POLKITD, 'polkitd'), ('/usr/bin/unshare', 'util-linux'), ('/usr/bin/setpriv', 'util-linux')):
        if not os.access(exe, os.X_OK):
            skip_missing(exe, pkg)


class AuthFixture(Fixture):
    """A Fixture whose polkitd runs in its own mount namespace with the
    project's policy and the test's rules only. vmgmtd gets `daemon_conf`
    (the [daemon] section of vmgmtd.conf) before it starts."""

    def __init__(self, daemon_args=None, daemon_conf=None):
        super().__init__(daemon_args, start=False, polkit=True)
        if daemon_conf:
            conf_dir = os.path.join(self.daemon.root, 'etc', 'vmgmt')
            os.makedirs(conf_dir, exist_ok=True)
            with open(os.path.join(conf_dir, 'vmgmtd.conf'), 'w') as f:
                f.write('[daemon]\n' + ''.join('%s=%s\n' % kv for kv in daemon_conf.items()))
        self.unpriv = []
        self.daemon.start()

    def start_polkitd(self, timeout=30.0):
        base = os.path.join(self.tmp, 'polkit')
        self.actions_dir = os.path.join(base, 'actions')
        self.rules_dir = os.path.join(base, 'rules-etc')
        self.rules_usr_dir = os.path.join(base, 'rules-usr')
        for d in (base, self.actions_dir, self.rules_dir, self.rules_usr_dir):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        shutil.copy(POLICY_FILE, self.actions_dir)
        os.chmod(os.path.join(self.actions_dir, os.path.basename(POLICY_FILE)), 0o644)
        script = ('set -e; mount --bind "$1" /usr/share/polkit-1/actions; '
                  'mount --bind "$2" /etc/polkit-1/rules.d; '
                  'mount --bind "$3" /usr/share/polkit-1/rules.d; '
                  'exec "$4" --no-debug')
        with open(os.path.join(self.tmp, 'polkitd.log'), 'ab') as lf:
            self.polkitd = subprocess.Popen(
                ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh',
                 self.actions_dir, self.rules_dir, self.rules_usr_dir, POLKITD],
                stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                env=_child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.bus.address}))
        deadline = time.monotonic() + timeout
        while not self.client.conn.name_has_owner('org.freedesktop.PolicyKit1'):
            if self.polkitd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('polkitd did not come up on the private bus (see %s/polkitd.log)' % self.tmp)
            time.sleep(0.02)

    def polkitd_log(self):
        try:
            with open(os.path.join(self.tmp, 'polkitd.log'), 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def write_rule(self, name, text):
        """Writes (atomically) a rules file into the rules directory polkitd watches."""
        p = os.path.join(self.rules_dir, name)
        with open(p + '.tmp', 'w') as f:
            f.write(text)
        os.chmod(p + '.tmp', 0o644)
        os.rename(p + '.tmp', p)

    def remove_rule(self, name):
        try:
            os.unlink(os.path.join(self.rules_dir, name))
        except FileNotFoundError:
            pass

    def unprivileged(self, uid=NOBODY, gid=NOBODY):
        c = UnprivClient(self.bus.address, uid, gid, self.tmp)
        self.unpriv.append(c)
        return c

    def teardown(self):
        for c in getattr(self, 'unpriv', []):
            c.close()
        super().teardown()


class UnprivClient:
    """auth_client.py running as uid/gid (no supplementary groups)."""

    def __init__(self, address, uid, gid, tmpdir):
        # the client script must be readable by that uid: copy it next to the bus
        script = os.path.join(tmpdir, 'auth_client.py')
        if not os.path.exists(script):
            shutil.copy(CLIENT_SCRIPT, script)
            os.chmod(script, 0o644)
        self.uid = uid
        self.proc = subprocess.Popen(
            ['setpriv', '--reuid=%d' % uid, '--regid=%d' % gid, '--clear-groups',
             '/usr/bin/python3', script, address],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, cwd='/',
            env=_child_env({'HOME': '/', 'PYTHONDONTWRITEBYTECODE': '1'}))
        me = self.request({'op': 'whoami'})
        assert me['uid'] == uid, me
        self.unique_name = me['unique_name']

    def request(self, req):
        self.proc.stdin.write((json.dumps(req) + '\n').encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError('auth client (uid %d) died' % self.uid)
        return json.loads(line)

    def call(self, path, iface, method, sig='', args=(), interactive=False, timeout=30):
        return self.request({'op': 'call', 'path': path, 'iface': iface, 'method': method, 'sig': sig,
                             'args': list(args), 'interactive': interactive, 'timeout': timeout})

    def batch(self, calls):
        return self.request({'op': 'batch', 'calls': calls})['answers']

    def batch_start(self, calls):
        """Sends a batch request without waiting; batch_finish() reads the answers."""
        self.proc.stdin.write((json.dumps({'op': 'batch', 'calls': calls}) + '\n').encode())
        self.proc.stdin.flush()

    def batch_finish(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError('auth client (uid %d) died' % self.uid)
        return json.loads(line)['answers']

    def send_and_exit(self, path, iface, method, sig='', args=(), interactive=False):
        a = self.request({'op': 'send_and_exit', 'path': path, 'iface': iface, 'method': method, 'sig': sig,
                          'args': list(args), 'interactive': interactive})
        self.proc.wait(10)
        return a

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout,):
            if f:
                f.close()


def call(path, iface, method, sig='', args=(), interactive=False, timeout=30):
    """A call description for UnprivClient.batch()."""
    return {'path': path, 'iface': iface, 'method': method, 'sig': sig, 'args': list(args),
            'interactive': interactive, 'timeout': timeout}


class AuthTestCase(VmgmtTestCase):
    """A fresh private bus, namespaced polkitd and vmgmtd per test."""

    daemon_conf = None

    @classmethod
    def setUpClass(cls):
        have_prerequisites()
        cls._class_fx = None

    def setUp(self):
        self.fx = AuthFixture(self.daemon_args, self.daemon_conf)
        self.addCleanup(self._teardown_fixture, self.fx)
        self.addCleanup(self._check_daemon, self.fx)
        self.addCleanup(self._dump_polkit_log, self.fx)

    def _dump_polkit_log(self, fx):
        if self._failed():
            log('polkitd log:\n' + fx.polkitd_log()[-3000:])

    def wait_log(self, pattern, count=1, timeout=60.0, what=None):
        """Waits until vmgmtd's (debug) log has `count` matches of the regex
        `pattern` counted from the start of the log; returns the count."""
        def n():
            return len(re.findall(pattern, self.daemon.log_text()))
        return self.wait_until(lambda: n() >= count and n(), timeout=timeout, interval=0.02,
                               what=what or 'vmgmtd log line %r (x%d)' % (pattern, count))

    def asked_polkit(self, client, member):
        """Regex of the log line of a CheckAuthorization sent for client's call of member."""
        return r'Asking polkit about \S+ for %s \(%s\)' % (re.escape(client.unique_name), member)

    def wait_until(self, pred, timeout=60.0, what='condition', interval=0.1):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = pred()
            if last:
                return last
            if time.monotonic() > deadline:
                raise AssertionError('%s not met within %.0fs' % (what, timeout))
            time.sleep(interval)
