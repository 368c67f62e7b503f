# remote_harness — a far host for `vmgmtctl -H` / `-c qemu+ssh://` tests: a
# real OpenSSH server on 127.0.0.1 (a free port) in a mount namespace of its
# own that looks like a host with vmgmt installed. There the test's private
# bus is the system bus (/run/dbus/system_bus_socket on a tmpfs /run),
# vmgmtctl is in /usr/local/bin, and /etc/passwd, /etc/group and /etc/shadow
# are copies in which `nobody` (uid 65534, a user polkitd knows by that name
# on this host too) has a shell and a home of the test's with its
# authorized key: the host's own files are never touched. Keys (host and
# client) are made at test time; the client's known_hosts holds the host key.
#
# Needs root (mount namespaces), sshd and ssh-keygen (openssh-server,
# openssh-client); a missing one is a skip naming it.

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

from vmgmt_harness import VMGMTCTL, _child_env, kill_and_reap, skip_missing  # noqa: E402

WAIT = 120
NOBODY = 65534
SSHD = '/usr/sbin/sshd'


def have_ssh():
    for exe, pkg in ((SSHD, 'openssh-server'), ('/usr/bin/ssh', 'openssh-client'),
                     ('/usr/bin/ssh-keygen', 'openssh-client'), ('/usr/bin/unshare', 'util-linux'),
                     ('/usr/bin/systemd-stdio-bridge', 'systemd')):
        if not os.access(exe, os.X_OK):
            skip_missing(exe, pkg)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG: no sshd outlives a killed test


def _keygen(path, comment):
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path],
                   check=True, stdin=subprocess.DEVNULL, timeout=60)


class SshHost:
    def __init__(self, tmp, bus_socket):
        have_ssh()
        self.dir = os.path.join(tmp, 'ssh')
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.server_root_home = os.path.join(self.dir, 'server-root')
        self.nobody_home = os.path.join(self.dir, 'server-nobody')
        self.client_home = os.path.join(self.dir, 'client-root')
        self.etc = os.path.join(self.dir, 'etc')
        self.bindir = os.path.join(self.dir, 'usr-local-bin')
        self.logfile = os.path.join(self.dir, 'sshd.log')
        self.proc = None
        for d in (self.server_root_home, self.nobody_home, self.client_home):
            os.makedirs(os.path.join(d, '.ssh'), mode=0o700)
            os.chmod(d, 0o700)
        os.makedirs(self.etc)
        os.makedirs(self.bindir)
        os.chmod(self.bindir, 0o755)
        os.symlink(VMGMTCTL, os.path.join(self.bindir, 'vmgmtctl'))
        self._write_accounts()
        self.host_key = os.path.join(self.dir, 'ssh_host_ed25519_key')
        self.key = os.path.join(self.client_home, '.ssh', 'id_ed25519')
        _keygen(self.host_key, 'vmgmt-test-host')
        _keygen(self.key, 'vmgmt-test-client')
        with open(self.key + '.pub') as f:
            pub = f.read()
        for home, uid in ((self.server_root_home, 0), (self.nobody_home, NOBODY)):
            ak = os.path.join(home, '.ssh', 'authorized_keys')
            with open(ak, 'w') as out:
                out.write(pub)
            os.chmod(ak, 0o600)
            for p in (home, os.path.join(home, '.ssh'), ak):
                os.chown(p, uid, uid)
        self.bus_socket = bus_socket
        for attempt in range(5):
            self.port = free_port()
            if self._start():
                break
        else:
            raise AssertionError('sshd did not start:\n' + self.log_text())
        with open(self.host_key + '.pub') as f:
            host_pub = ' '.join(f.read().split()[:2])
        self.known_hosts = os.path.join(self.client_home, '.ssh', 'known_hosts')
        with open(self.known_hosts, 'w') as f:
            f.write('[127.0.0.1]:%d %s\n' % (self.port, host_pub))
        with open(os.path.join(self.client_home, '.ssh', 'config'), 'w') as f:
            f.write('Host 127.0.0.1\n'
                    '    IdentityFile ~/.ssh/id_ed25519\n'
                    '    IdentitiesOnly yes\n'
                    '    UserKnownHostsFile ~/.ssh/known_hosts\n'
                    '    StrictHostKeyChecking yes\n'
                    '    BatchMode yes\n')

    def _write_accounts(self):
        """passwd/group/shadow of this host with nobody given /bin/sh and a home."""
        out = []
        with open('/etc/passwd') as f:
            for line in f:
                fields = line.rstrip('\n').split(':')
                if len(fields) == 7 and fields[2] == str(NOBODY):
                    fields[5] = self.nobody_home
                    fields[6] = '/bin/sh'
                out.append(':'.join(fields))
        with open(os.path.join(self.etc, 'passwd'), 'w') as f:
            f.write('\n'.join(out) + '\n')
        os.chmod(os.path.join(self.etc, 'passwd'), 0o644)
        shutil.copy('/etc/group', os.path.join(self.etc, 'group'))
        os.chmod(os.path.join(self.etc, 'group'), 0o644)
        out = []
        with open('/etc/shadow') as f:
            for line in f:
                fields = line.rstrip('\n').split(':')
                if fields[0] == 'nobody':
                    fields[1] = '*'   # no password, not locked (a key logs in)
                out.append(':'.join(fields))
        with open(os.path.join(self.etc, 'shadow'), 'w') as f:
            f.write('\n'.join(out) + '\n')
        os.chmod(os.path.join(self.etc, 'shadow'), 0o600)

    def _start(self):
        conf = os.path.join(self.dir, 'sshd_config')
        with open(conf, 'w') as f:
            f.write('ListenAddress 127.0.0.1:%d\n'
                    'HostKey %s\n'
                    'PidFile none\n'
                    'PermitRootLogin prohibit-password\n'
                    'PasswordAuthentication no\n'
                    'KbdInteractiveAuthentication no\n'
                    'StrictModes no\n'
                    'UsePAM no\n' % (self.port, self.host_key))
        setup = ('mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -m 0755 /run/sshd /run/dbus && '
                 'ln -s "$1" /run/dbus/system_bus_socket && '
                 'mount --bind "$2" /root && mount --bind "$3" /usr/local/bin && '
                 'for f in passwd group shadow; do mount --bind "$5/$f" /etc/$f; done && '
                 'mount -t tmpfs tmpfs /var/log && '   # its wtmp/lastlog records stay in the namespace
                 'exec %s -D -e -f "$4"' % SSHD)
        with open(self.logfile, 'ab') as log:
            self.proc = subprocess.Popen(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', setup, 'sh',
                                          self.bus_socket, self.server_root_home, self.bindir, conf, self.etc],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=_child_env(), preexec_fn=_die_with_parent)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if 'Server listening on 127.0.0.1 port %d' % self.port in self.log_text():
                return True
            if self.proc.poll() is not None:
                if 'Address already in use' in self.log_text():
                    return False
                raise AssertionError('sshd exited with %d:\n%s' % (self.proc.returncode, self.log_text()))
            time.sleep(0.05)
        raise AssertionError('sshd did not listen within %ds:\n%s' % (WAIT, self.log_text()))

    def uri(self, user='root', scheme='qemu', **params):
        """qemu+ssh://USER@127.0.0.1:PORT/system?keyfile=…&known hosts checked by default."""
        q = ['keyfile=' + self.key] + ['%s=%s' % kv for kv in params.items()]
        return '%s+ssh://%s@127.0.0.1:%d/system?%s' % (scheme, user, self.port, '&'.join(q))

    def client_cmd(self, home=None):
        """A prefix that runs a command with the test's client home (or `home`) as
        root's ~: its ssh config and known_hosts, never this host's."""
        return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
                'mount --bind "$0" /root && exec "$@"', home or self.client_home]

    def log_text(self):
        try:
            with open(self.logfile, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        deadline = time.monotonic() + 10
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.proc.poll() is None:
            kill_and_reap([self.proc.pid])
