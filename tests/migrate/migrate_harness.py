# migrate_harness — two hosts on one machine for the live migration tests (issue 15): the test
# program re-executes itself in private network + mount + pid namespaces (host A: the source); a
# second network namespace (host B: the destination) is held by a child `unshare -n sleep`, joined
# to A by a veth pair with addresses of 10.231.77.0/24 that exist only inside the two namespaces.
# B has a mount namespace of its own as well, so a directory can hold another host's local disks;
# each host has a UTS namespace and host name of its own (HOST_A, HOST_B).
# Each host has its own dbus-daemon, vmgmtd (root and state dirs of its own) and, for B, polkitd.
# The buses are unix sockets in the temp dirs, reachable from both namespaces: the source vmgmtd
# is given B's bus address as the destination; the migration stream goes over the veth (TCP).
import os
import re
import socket
import subprocess
import sys
import time

HOST_A = 'mig-host-a'
HOST_B = 'mig-host-b'

if os.environ.get('VMGMT_MIGRATE_NETNS') != '1':
    env = dict(os.environ, VMGMT_MIGRATE_NETNS='1', VMGMT_PRIVATE_PIDNS='1')
    os.execvpe('unshare', ['unshare', '-n', '-m', '-p', '-u', '-f', '--mount-proc', '--', sys.executable] + sys.argv,
               env)
subprocess.run(['mount', '-t', 'sysfs', 'sysfs', '/sys'], check=True)
socket.sethostname(HOST_A)   # a UTS namespace of its own: each host has its name (the lease holder texts say it)
subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'auth'))
from vmgmt_harness import *  # noqa: F401,F403,E402
from vmgmt_harness import (VMGMTD, Daemon, Fixture, VmgmtTestCase, _child_env, guest_domain_xml,  # noqa: E402,F401
                           guest_image, log, opts, unwrap, GUEST_READY)
import dbus  # noqa: E402

ADDR_A = '10.231.77.1'
ADDR_B = '10.231.77.2'
JOB_IFACE = 'org.vmgmt.Job'
WAIT = 120           # bounds a hang only: the machine is loaded, nothing here is a timing check
BOOT_TIMEOUT = 240


class HostB:
    """The destination's network namespace: a holder process, the veth's other end."""

    def __init__(self):
        # a mount namespace of its own too: a directory of A can be another one in B (local disks)
        self.holder = subprocess.Popen(['unshare', '-n', '-m', '-u', '--propagation', 'private', '--', 'sleep',
                                        'infinity'], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT
        mine = os.readlink('/proc/self/ns/net')
        while os.readlink('/proc/%d/ns/net' % self.holder.pid) == mine:
            if time.monotonic() > deadline:
                raise RuntimeError('the destination namespace did not come up')
            time.sleep(0.01)
        self.pid = self.holder.pid
        run = lambda *a: subprocess.run(list(a), check=True)  # noqa: E731
        run('ip', 'link', 'add', 'mig0', 'type', 'veth', 'peer', 'name', 'mig1', 'netns', str(self.pid))
        run('ip', 'addr', 'add', ADDR_A + '/24', 'dev', 'mig0')
        run('ip', 'link', 'set', 'mig0', 'up')
        self.run('hostname', HOST_B)
        self.run('ip', 'link', 'set', 'lo', 'up')
        self.run('ip', 'addr', 'add', ADDR_B + '/24', 'dev', 'mig1')
        self.run('ip', 'link', 'set', 'mig1', 'up')

    def prefix(self):
        return ['nsenter', '-t', str(self.pid), '-n', '-m', '-u', '--']

    def run(self, *args, check=True):
        return subprocess.run(self.prefix() + list(args), check=check, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)

    def bind(self, source, target):
        """In B, directory `target` shows `source` (B's own local storage at the path A uses)."""
        self.run('mount', '--bind', source, target)

    def unbind(self, target):
        self.run('umount', '--lazy', target)   # what B's processes still have open there stays theirs

    def link(self, up):
        """The veth on B's side up or down (the network between the hosts)."""
        self.run('ip', 'link', 'set', 'mig1', 'up' if up else 'down')

    def stop(self):
        # the pair goes with its end here at once: the kernel tears a namespace down (and the veth with
        # it) only some time after its last process, and the next class adds mig0 again
        subprocess.run(['ip', 'link', 'del', 'mig0'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait()


class NsDaemon(Daemon):
    """vmgmtd run in host B's network namespace (nsenter)."""

    def __init__(self, bus, tmpdir, host, args=None):
        super().__init__(bus, tmpdir, args)
        self.host = host

    def start(self, timeout=DEFAULT_TIMEOUT, wait=True):  # noqa: F405
        self._wait_name_released()
        with open(self.logfile, 'ab') as lf:
            lf.write(b'---- start %s ----\n' % time.strftime('%H:%M:%S').encode())
            lf.flush()
            self.proc = subprocess.Popen(
                self.host.prefix() + [VMGMTD, '--system', '--root', self.root, '--log-level', 'debug'] + self.args,
                stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                env=_child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.bus.address, 'VMGMT_DEFAULT_NETWORK': '0'}))
        if wait:
            self.wait_ready(timeout)
        return self


class DestFixture(Fixture):
    """Host B: a Fixture whose vmgmtd runs in B's namespace, with a real polkitd."""

    def __init__(self, host, config=None):
        super().__init__(start=False, polkit=True)
        self.daemon = NsDaemon(self.bus, self.tmp, host)
        if config:
            os.makedirs(os.path.join(self.daemon.root, 'etc', 'vmgmt'), exist_ok=True)
            self.daemon.write_config(config)
        self.daemon.start()


class MigrateTestCase(VmgmtTestCase):
    """self.fx is host A (the source), self.fb host B (the destination); one pair per class."""

    config = None   # vmgmtd.conf of both hosts (text), or None

    @classmethod
    def setUpClass(cls):
        guest_image()
        super().setUpClass()
        cls.host_b = HostB()
        cls.fa = Fixture(start=False)
        if cls.config:
            os.makedirs(os.path.join(cls.fa.daemon.root, 'etc', 'vmgmt'), exist_ok=True)
            cls.fa.daemon.write_config(cls.config)
        cls.fa.daemon.start()
        cls.fb = DestFixture(cls.host_b, cls.config)

    @classmethod
    def tearDownClass(cls):
        problems = []
        for name, fx in (('A', cls.fa), ('B', cls.fb)):
            try:
                # a clean SIGTERM exit of each vmgmtd is part of the test (and runs LeakSanitizer)
                if fx.daemon.proc is not None and fx.daemon.proc.poll() is None:
                    rc = fx.daemon.stop()
                    if rc != 0:
                        problems.append('vmgmtd on %s exited with status %s on SIGTERM' % (name, rc))
                reports = fx.daemon.sanitizer_reports()
                if reports:
                    problems.append('vmgmtd on %s: sanitizer report: %s' % (name, reports))
            finally:
                fx.teardown()
        cls.host_b.stop()
        super().tearDownClass()
        if problems:
            raise AssertionError('; '.join(problems))

    def setUp(self):
        self.fx = self.fa
        self.fa.rec.clear()
        self.fb.rec.clear()
        self.addCleanup(self._check_daemon, self.fa)
        self.addCleanup(self._check_daemon, self.fb)

    @property
    def ca(self):
        return self.fa.client

    @property
    def cb(self):
        return self.fb.client

    def dest(self):
        return self.fb.bus.address

    def boot(self, name, xml=None, persistent=True):
        """A booted guest on host A that counts on its console; returns (path, console)."""
        xml = xml or guest_domain_xml(name)
        if persistent:
            path = str(self.ca.manager.DefineDomain(xml, opts()))
            self.ca.domain(path).Start(opts())
        else:
            path = str(self.ca.manager.CreateDomain(xml, opts()))
        self.ca.wait_state(path, 'running', timeout=WAIT)
        con = self.fa.console(path)
        con.wait_for(GUEST_READY, timeout=BOOT_TIMEOUT)
        return path, con

    def job_props(self, client, job):
        return unwrap(client.props(job, JOB_IFACE))

    def wait_job(self, client, job, timeout=WAIT * 3):
        """Waits for the job's end; returns its properties."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.job_props(client, job)
            if p['State'] != 'running':
                return p
            if time.monotonic() > deadline:
                self.fail('job %s still running after %.0fs: %r' % (job, timeout, p))
            time.sleep(0.1)

    def wait_until(self, pred, timeout=WAIT, what='condition'):
        deadline = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            if time.monotonic() > deadline:
                self.fail('%s not reached within %.0fs' % (what, timeout))
            time.sleep(0.1)

    def domain_names(self, client):
        return sorted(str(unwrap(client.props(p))['Name']) for p in client.list_domains())


# ---- a booted guest that counts on its console, for the live tests ----

COUNTER = "i=0; while true; do i=$((i+1)); echo \"tick-$i-\"; sleep 1; done &"
TICK = re.compile(rb'tick-(\d+)-')


def last_tick(con, since=0):
    """The last tick the guest's counter printed on console con (after offset since), or None."""
    con._read()
    ticks = [int(m.group(1)) for m in TICK.finditer(con.buf, since)]
    return ticks[-1] if ticks else None


class CountingMigrateTestCase(MigrateTestCase):
    """One guest per class (self.guest), booted on A once, counting on its console."""

    guest = 'mig'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.path = None

    def booted(self):
        """The class's guest, booted on A and counting."""
        cls = type(self)
        if cls.path is None:
            cls.path, cls.con = self.boot(self.guest)
            cls.con.send('echo marker-$((6*7))-ok > /tmp/marker; ' + COUNTER)
            cls.con.wait_for('tick-3-', timeout=WAIT)
        return cls.path, cls.con

    def assert_counting_on_a(self):
        path, con = self.booted()
        self.assertEqual(self.ca.prop(path, 'State'), 'running')
        n = self.wait_until(lambda: last_tick(con), what='a tick on A')
        self.wait_until(lambda: (last_tick(con) or 0) > n + 1, what='the count going on on A')

    def assert_nothing_on_b(self):
        self.wait_until(lambda: self.domain_names(self.cb) == [], what='no domain on B')
        self.wait_until(lambda: self.fb.qemu_pids() == [], what='no qemu on B')
