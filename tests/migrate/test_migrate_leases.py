# Disk leases across a live migration (issue 15 items 2 and 4): host A and host B (migrate_harness.py)
# share one lease directory ([daemon] lease_dir=) and one raw image at the same path (shared
# storage). The lease moves from A's qemu to B's at the switch, never held by nobody while a guest
# runs and never by two:
# - the handover: during the migration (slowed to 1 MiB/s) the start of another domain on the image
#   is Busy naming the migrating domain on either host; afterwards the lease file is locked (a
#   non-blocking F_OFD_SETLK of the test fails) by B's qemu: its holder text names host B and that
#   qemu's pid; A's qemu is gone; another domain on A is still Busy, now naming host B;
# - Finish refused on the lease: in B's mount namespace the lease directory is another one where
#   the test itself holds the image's lease (its own OFD lock, holder "intruder" on "third-host"),
#   so B's FinishIncomingMigration cannot lock it: the Job fails naming that holder, nothing stays
#   on B, the guest runs on (counting) on A and A's qemu holds its lease again (the probe fails,
#   its holder text has A's name and qemu's pid).
import fcntl
import hashlib
import os
import shutil
import struct
import tempfile

import dbus

from migrate_harness import (ADDR_B, HOST_A, HOST_B, JOB_IFACE, WAIT, MigrateTestCase, guest_domain_xml,
                             minimal_domain_xml, new_uuid, opts, unwrap)
from migrate_harness import main  # noqa: F401
from migrate_harness import COUNTER, last_tick

ERR_BUSY = 'org.vmgmt.Error.Busy'
# both hosts see it (B's mount namespace is a copy of A's); its own name: a pid is 1 in the test's pid namespace
SHARED = tempfile.mkdtemp(prefix='vmgmt-migrate-leases-', dir='/tmp')
LEASE_DIR = os.path.join(SHARED, 'leases')
IMAGE = os.path.join(SHARED, 'shared.img')


def disk_xml(image):
    return ("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
            "<target dev='vda' bus='virtio'/></disk>" % image)


def lease_file(lease_dir=LEASE_DIR):
    return os.path.join(lease_dir, hashlib.sha256(os.path.realpath(IMAGE).encode()).hexdigest())


def flock_struct(kind):
    # struct flock on x86-64: short l_type, l_whence; off_t l_start, l_len; pid_t l_pid (0 for OFD locks)
    return struct.pack('@hhqqi4x', kind, os.SEEK_SET, 0, 0, 0)


def ofd_lock(path):
    """Our own OFD lock on the whole file: the fd (closing it releases), or None when someone holds it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, flock_struct(fcntl.F_WRLCK))
    except OSError:
        os.close(fd)
        return None
    return fd


def held_by_someone(path):
    fd = ofd_lock(path)
    if fd is None:
        return True
    os.close(fd)
    return False


def holder(path):
    with open(path) as f:
        return dict(line.split('=', 1) for line in f.read().splitlines() if '=' in line)


class LeaseHandover(MigrateTestCase):
    config = '[daemon]\nlease_dir=%s\n' % LEASE_DIR
    guest = 'lmig'

    @classmethod
    def setUpClass(cls):
        cls.addClassCleanup(shutil.rmtree, SHARED, True)
        with open(IMAGE, 'wb') as f:
            f.truncate(4 << 20)
        super().setUpClass()
        cls.path = None
        # another domain on the same image, on each host
        xml = lambda: minimal_domain_xml('other', uuid=new_uuid(), extra_devices=disk_xml(IMAGE))  # noqa: E731
        cls.other_a = str(cls.fa.client.manager.DefineDomain(xml(), opts()))
        cls.other_b = str(cls.fb.client.manager.DefineDomain(xml(), opts()))

    def booted(self):
        cls = type(self)
        if cls.path is None:
            xml = guest_domain_xml(self.guest).replace('<devices>', '<devices>' + disk_xml(IMAGE), 1)
            cls.path, cls.con = self.boot(self.guest, xml=xml, persistent=False)
            cls.con.send(COUNTER)
            cls.con.wait_for('tick-3-', timeout=WAIT)
        return cls.path, cls.con

    def assert_other_busy(self, client, path, host):
        with self.assertRaises(dbus.DBusException) as cm:
            client.domain(path).Start(opts(), timeout=WAIT)
        self.assertEqual(cm.exception.get_dbus_name(), ERR_BUSY, str(cm.exception))
        self.assertIn('disk %s is in use by domain %s' % (os.path.realpath(IMAGE), self.guest), str(cm.exception))
        self.assertIn('on host %s' % host, str(cm.exception))
        self.assertEqual(client.prop(path, 'State'), 'shutoff')

    def assert_held_by(self, fx, host):
        self.assertTrue(held_by_someone(lease_file()), 'the lease is not locked')
        pids = fx.qemu_pids()
        self.assertEqual(len(pids), 1, pids)
        h = holder(lease_file())
        self.assertEqual((h.get('host'), h.get('domain'), h.get('pid')), (host, self.guest, str(pids[0])), h)

    def test_1_finish_busy_runs_on(self):
        path, con = self.booted()
        self.assert_held_by(self.fa, HOST_A)
        a_pid = self.fa.qemu_pids()[0]
        # B sees another lease directory, where the test holds the image's lease itself
        other_dir = os.path.join(SHARED, 'leases-of-b')
        os.makedirs(other_dir)
        fd = ofd_lock(lease_file(other_dir))
        self.assertIsNotNone(fd)
        os.write(fd, b'host=third-host\ndomain=intruder\nuuid=00000000-0000-0000-0000-000000000001\n')
        self.host_b.bind(other_dir, LEASE_DIR)
        try:
            job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, listen_address=ADDR_B)))
            p = self.wait_job(self.ca, job)
        finally:
            self.host_b.unbind(LEASE_DIR)
            os.close(fd)
        self.assertEqual(p['State'], 'failed', p)
        self.assertIn('disk %s is in use by domain intruder' % os.path.realpath(IMAGE), p['Error'])
        self.assertIn('on host third-host', p['Error'])
        self.assertNotIn('stays paused', p['Error'])
        self.assertNotIn('could not be resumed', p['Error'])
        # the guest runs on here, with its lease
        self.ca.wait_state(path, 'running', timeout=WAIT)
        n = self.wait_until(lambda: last_tick(con), what='a tick on A')
        self.wait_until(lambda: (last_tick(con) or 0) > n + 1, what='the count going on on A')
        self.assertEqual(self.fa.qemu_pids(), [a_pid])
        self.assert_held_by(self.fa, HOST_A)
        self.wait_until(lambda: self.domain_names(self.cb) == ['other'], what='no incoming domain on B')
        self.wait_until(lambda: self.fb.qemu_pids() == [], what='no qemu on B')
        self.assert_other_busy(self.cb, self.other_b, HOST_A)

    def test_2_handover(self):
        path, con = self.booted()
        self.assert_held_by(self.fa, HOST_A)
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, bandwidth_mib=dbus.UInt64(1),
                                                                  listen_address=ADDR_B)))
        self.wait_until(lambda: unwrap(self.ca.prop(job, 'Info', JOB_IFACE)).get('ram_transferred', 0) > 0,
                        what='RAM transferred')
        # under way: B's incoming qemu has the lease file open, A's qemu holds it
        self.assertEqual(len(self.fb.qemu_pids()), 1)
        self.assert_other_busy(self.ca, self.other_a, HOST_A)
        self.assert_other_busy(self.cb, self.other_b, HOST_A)
        self.assertEqual(self.job_props(self.ca, job)['State'], 'running')
        self.ca.domain(path).SetMigrationParameters(opts(bandwidth_mib=dbus.UInt64(0)))
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'completed', p)
        self.wait_until(lambda: [str(q) for q in self.ca.list_domains()] == [self.other_a],
                        what='the transient domain gone from A')
        self.wait_until(lambda: self.fa.qemu_pids() == [], what="A's qemu gone")
        bpath = [q for q in self.cb.list_domains() if self.cb.prop(q, 'Name') == self.guest][0]
        self.cb.wait_state(bpath, 'running', timeout=WAIT, reason='migrated')
        # B's qemu holds the lease now, and says so
        self.assert_held_by(self.fb, HOST_B)
        self.assert_other_busy(self.ca, self.other_a, HOST_B)
        bcon = self.fb.console(bpath)
        bcon.send('')
        n = self.wait_until(lambda: last_tick(bcon), what='a tick on B')
        self.wait_until(lambda: (last_tick(bcon) or 0) > n, what='the count going on on B')
        self.cb.domain(bpath).Destroy(opts())
        self.wait_until(lambda: self.fb.qemu_pids() == [], what="B's qemu gone")
        self.assertFalse(held_by_someone(lease_file()), 'the lease outlived its qemu')


if __name__ == '__main__':
    main()
