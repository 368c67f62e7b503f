# Live migration to a host reached over ssh (issue 15 items 2 and 5): host B (its own network
# namespace, bus, vmgmtd: migrate_harness.py) also runs a real sshd on ADDR_B (remote_harness.py's
# SshHost, in a mount namespace of B's where B's bus is /run/dbus/system_bus_socket). The SOURCE
# vmgmtd runs ssh itself (sd_bus_open_system_remote(): `ssh -xT -p PORT -- root@HOST
# systemd-stdio-bridge`); ssh reads root's ~/.ssh of the passwd entry (not $HOME), so the test's
# own mount namespace (host A's, private) shows the test's client home at /root: its config, key
# and known_hosts, never this machine's. One booted busybox guest counts on its serial console:
# - a known_hosts naming another host key: the Job fails saying the ssh connection to that host
#   ended before its vmgmtd answered, the guest counts on on A, nothing on B;
# - an sshd port nothing listens on: the same;
# - Domain.Migrate('root@ADDR_B:PORT', {live}) with no listen_address (B's qemu listens on every
#   address: A reaches it at the destination's host, without the ssh port): the count goes on on
#   B's console, its RAM marker intact, A shows shutoff/migrated;
# - back to A over B's bus address, then `vmgmtctl migrate --live DOMAIN
#   qemu+ssh://root@ADDR_B:PORT/system` on A: the same again;
# - offline over ssh: to a port nothing listens on the Job fails the same way and the definition
#   stays on A; to the sshd it moves (undefine_source: gone from A).
import os
import subprocess
import sys
import time

from migrate_harness import (ADDR_A, ADDR_B, WAIT, CountingMigrateTestCase, last_tick, minimal_domain_xml,
                             opts, run_vmgmtctl)  # noqa: I100
from migrate_harness import main  # noqa: F401

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'remote'))
from remote_harness import SSHD, SshHost, _die_with_parent, _keygen, have_ssh  # noqa: E402

class DestSshHost(SshHost):
    """SshHost's sshd, listening on ADDR_B in host B's network namespace (and seeing B's mounts)."""

    def __init__(self, tmp, bus_socket, host_b):
        self.host_b = host_b
        super().__init__(tmp, bus_socket)
        # SshHost wrote them for 127.0.0.1: the source reaches B at its address
        with open(self.host_key + '.pub') as f:
            self.host_pub = ' '.join(f.read().split()[:2])
        self.trust(self.host_pub)
        with open(os.path.join(self.client_home, '.ssh', 'config'), 'w') as f:
            f.write('Host %s\n'
                    '    IdentityFile ~/.ssh/id_ed25519\n'
                    '    IdentitiesOnly yes\n'
                    '    UserKnownHostsFile ~/.ssh/known_hosts\n'
                    '    StrictHostKeyChecking yes\n'
                    '    BatchMode yes\n' % ADDR_B)

    def trust(self, pub):
        """The client's known_hosts says `pub` is ADDR_B:port's host key."""
        with open(self.known_hosts, 'w') as f:
            f.write('[%s]:%d %s\n' % (ADDR_B, self.port, pub))

    def _start(self):
        conf = os.path.join(self.dir, 'sshd_config')
        with open(conf, 'w') as f:
            f.write('ListenAddress %s:%d\n'
                    'HostKey %s\n'
                    'PidFile none\n'
                    'PermitRootLogin prohibit-password\n'
                    'PasswordAuthentication no\n'
                    'KbdInteractiveAuthentication no\n'
                    'StrictModes no\n'
                    'UsePAM no\n' % (ADDR_B, self.port, self.host_key))
        setup = ('mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -m 0755 /run/sshd /run/dbus && '
                 'ln -s "$1" /run/dbus/system_bus_socket && mount --bind "$2" /root && '
                 'for f in passwd group shadow; do mount --bind "$4/$f" /etc/$f; done && '
                 'mount -t tmpfs tmpfs /var/log && exec %s -D -e -f "$3"' % SSHD)
        with open(self.logfile, 'ab') as log:
            self.proc = subprocess.Popen(self.host_b.prefix() + ['unshare', '--mount', '--propagation', 'private',
                                                                  'sh', '-c', setup, 'sh', self.bus_socket,
                                                                  self.server_root_home, conf, self.etc],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         preexec_fn=_die_with_parent)
        listening = 'Server listening on %s port %d' % (ADDR_B, self.port)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if listening in self.log_text():
                return True
            if self.proc.poll() is not None:
                raise AssertionError('sshd exited with %d:\n%s' % (self.proc.returncode, self.log_text()))
            time.sleep(0.05)
        raise AssertionError('sshd did not listen within %ds:\n%s' % (WAIT, self.log_text()))


class SshMigration(CountingMigrateTestCase):
    guest = 'migssh'

    @classmethod
    def setUpClass(cls):
        have_ssh()   # a skip naming what is missing, before anything is started
        super().setUpClass()
        cls.ssh = None
        cls.root_bound = False
        try:
            cls.ssh = DestSshHost(cls.fb.tmp, cls.fb.bus.socket, cls.host_b)
            # host A's mount namespace is the test's own (private): its /root, where the source
            # vmgmtd's ssh finds root's config, is the test's client home
            subprocess.run(['mount', '--bind', cls.ssh.client_home, '/root'], check=True)
            cls.root_bound = True
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.root_bound:
            subprocess.run(['umount', '/root'], check=True)
        if cls.ssh:
            cls.ssh.stop()
        super().tearDownClass()

    def dest_ssh(self, port=None):
        return 'root@%s:%d' % (ADDR_B, port or self.ssh.port)

    def assert_failed_unreached(self, dest, why):
        path, con = self.booted()
        job = str(self.ca.domain(path).Migrate(dest, opts(live=True)))
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'failed', p)
        self.assertIn('cannot reach vmgmtd on %s over ssh' % dest, p['Error'])
        self.assertIn(why, self.fa.daemon.log_text())
        self.assert_counting_on_a()
        self.assert_nothing_on_b()
        self.assertNotIn(('stopped', 'migrated'), self.fa.rec.domain_events(path))

    def assert_arrived_on_b(self, path, before):
        """A: shutoff/migrated; B runs the guest: the count goes on past `before`, the marker there."""
        self.ca.wait_state(path, 'shutoff', timeout=WAIT, reason='migrated')
        self.fa.rec.wait_domain_event(path, 'stopped', 'migrated', timeout=WAIT)
        bpath = self.wait_until(lambda: self.cb.list_domains(), what='the domain on B')[0]
        self.cb.wait_state(bpath, 'running', timeout=WAIT, reason='migrated')
        bcon = self.fb.console(bpath)
        bcon.send('')
        self.wait_until(lambda: (last_tick(bcon) or 0) > before, what='the count going on on B')
        n = last_tick(bcon)
        self.wait_until(lambda: last_tick(bcon) > n, what='the count going on on B')
        bcon.send('cat /tmp/marker')
        bcon.wait_for('marker-42-ok', timeout=WAIT)
        self.assertEqual(self.fa.qemu_pids(), [])
        return bpath

    def test_1_wrong_host_key(self):
        other = os.path.join(self.fb.tmp, 'other_host_key')
        _keygen(other, 'not-this-host')
        with open(other + '.pub') as f:
            self.ssh.trust(' '.join(f.read().split()[:2]))
        try:
            self.assert_failed_unreached(self.dest_ssh(), 'Host key verification failed')
        finally:
            self.ssh.trust(self.ssh.host_pub)

    def test_2_unreachable(self):
        # nothing listens on that port in B (its namespace has the sshd's port only)
        port = self.ssh.port + 1 if self.ssh.port < 65535 else self.ssh.port - 1
        self.assert_failed_unreached(self.dest_ssh(port), 'Connection refused')

    def test_3_live_over_ssh(self):
        path, con = self.booted()
        before = last_tick(con)
        self.assertIsNotNone(before)
        job = str(self.ca.domain(path).Migrate(self.dest_ssh(), opts(live=True)))
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'completed', p)
        self.assertGreater(p['Info']['ram_transferred'], 0)
        self.assert_arrived_on_b(path, before)
        self.assertIn('Accepted publickey for root', self.ssh.log_text())

    def test_4_cli_over_ssh(self):
        # back to A first (over B's bus address), then vmgmtctl on A sends it over ssh again
        bpath = self.wait_until(lambda: self.cb.list_domains(), what='the migrated domain on B')[0]
        self.cb.wait_state(bpath, 'running', timeout=WAIT)
        job = str(self.cb.domain(bpath).Migrate(self.fa.bus.address, opts(live=True, listen_address=ADDR_A)))
        self.assertEqual(self.wait_job(self.cb, job)['State'], 'completed')
        path, con = self.booted()
        self.ca.wait_state(path, 'running', timeout=WAIT, reason='migrated')
        con = self.fa.console(path)
        con.send('')
        before = self.wait_until(lambda: last_tick(con), what='a tick on A again')
        self.wait_until(lambda: self.domain_names(self.cb) == [], what='the transient domain gone from B')
        r = run_vmgmtctl(self.fa.bus, 'migrate', '--live', '--verbose', self.guest,
                         'qemu+ssh://%s/system' % self.dest_ssh(), timeout=WAIT * 3)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('Migration: [100 %]', r.stderr)
        self.assert_arrived_on_b(path, before)

    def test_5_offline_over_ssh(self):
        path = str(self.ca.manager.DefineDomain(minimal_domain_xml('sshoffl'), opts()))
        # unreachable: the definition stays here
        port = self.ssh.port + 1 if self.ssh.port < 65535 else self.ssh.port - 1
        job = str(self.ca.domain(path).Migrate(self.dest_ssh(port), opts(offline=True, persistent=True,
                                                                         undefine_source=True)))
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'failed', p)
        self.assertIn('cannot reach vmgmtd on %s over ssh' % self.dest_ssh(port), p['Error'])
        self.assertIn('sshoffl', self.domain_names(self.ca))
        self.assertNotIn('sshoffl', self.domain_names(self.cb))
        job = str(self.ca.domain(path).Migrate(self.dest_ssh(), opts(offline=True, persistent=True,
                                                                     undefine_source=True)))
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'completed', p)
        self.fa.rec.wait_domain_event(path, 'undefined', 'removed', timeout=WAIT)
        self.assertNotIn('sshoffl', self.domain_names(self.ca))
        self.wait_until(lambda: 'sshoffl' in self.domain_names(self.cb), what='the definition on B')


if __name__ == '__main__':
    main()
