#!/usr/bin/python3
# Disk leases (issue 15 item 4): two vmgmtd instances, each with its own bus
# and root, share one lease directory (vmgmtd.conf lease_dir=) and one disk
# image — what two hosts sharing an NFS export reduce to on one machine (the
# same directory, OFD locks taken by two processes that know nothing of each
# other). The second start of a domain on the image is Busy naming the
# holder, and leaves nothing behind (no qemu, no fd in vmgmtd); once the first
# stops, the second starts. The lease belongs to qemu: it is still held after
# the holder's vmgmtd is SIGKILLed and restarted, and released when qemu is
# killed. Shareable and read-only disks take no lease: both domains start.

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import dbus

from vmgmt_harness import (DEFAULT_TIMEOUT, VMGMTCTL, Fixture, VmgmtTestCase, dbus_error_name, main,
                           minimal_domain_xml, new_uuid, opts, pid_alive)

ERR_BUSY = 'org.vmgmt.Error.Busy'
JOB_IFACE = 'org.vmgmt.Job'


def disk_xml(image, shareable=False, readonly=False):
    return ("<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            "<source file='%s'/><target dev='vda' bus='virtio'/>%s%s</disk>"
            % (image, '<shareable/>' if shareable else '', '<readonly/>' if readonly else ''))


def waits_on_fifo(pid):
    """Whether a thread of process pid waits in a FIFO's open for the other end."""
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return False
    for tid in tids:
        try:
            with open('/proc/%d/task/%s/wchan' % (pid, tid)) as f:
                if f.read().strip() == 'wait_for_partner':
                    return True
        except OSError:
            continue
    return False


class Leases(VmgmtTestCase):
    def setUp(self):
        super().setUp()
        self.shared = tempfile.mkdtemp(prefix='vmgmt-lease-', dir='/tmp')
        self.addCleanup(shutil.rmtree, self.shared, True)
        self.lease_dir = os.path.join(self.shared, 'leases')
        self.image = os.path.join(self.shared, 'disk.img')
        with open(self.image, 'wb') as f:
            f.truncate(4 << 20)
        conf = '[daemon]\nlease_dir=%s\n' % self.lease_dir
        self.fx.daemon.restart_with_config(conf)
        # the second "host": its own bus, root and vmgmtd, the same lease directory
        self.fx2 = Fixture(start=False)
        self.addCleanup(self._teardown_fixture, self.fx2)
        self.addCleanup(self._check_daemon, self.fx2)
        os.makedirs(os.path.join(self.fx2.daemon.root, 'etc', 'vmgmt'), exist_ok=True)
        self.fx2.daemon.write_config(conf)
        self.fx2.daemon.start()

    def define_on(self, fx, name, **disk):
        uuid = new_uuid()
        path = fx.client.manager.DefineDomain(minimal_domain_xml(name, uuid=uuid, extra_devices=disk_xml(
            self.image, **disk)), opts())
        return path, uuid

    def start(self, fx, path):
        fx.client.domain(path).Start(opts(), timeout=2 * DEFAULT_TIMEOUT)
        fx.client.wait_state(path, 'running')

    def assert_busy(self, fx, path, holder, holder_uuid):
        before = fx.snapshot()
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            fx.client.domain(path).Start(opts(), timeout=2 * DEFAULT_TIMEOUT)
        self.assertEqual(dbus_error_name(cm.exception), ERR_BUSY, str(cm.exception))
        self.assertIn('disk %s is in use by domain %s (%s) on host %s'
                      % (os.path.realpath(self.image), holder, holder_uuid, socket.gethostname()),
                      cm.exception.get_dbus_message())
        self.assertEqual(str(fx.client.state(path)[0]), 'shutoff')
        # nothing of the refused start is left: no qemu, no fd, no change (vmgmtd's
        # own fds come and go, e.g. a pool refresh's pipe: the count only bounds ours)
        after = fx.snapshot()
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while after['fds'] > before['fds'] and time.monotonic() < deadline:
            time.sleep(0.1)
            after = fx.snapshot()
        self.assertLessEqual(after.pop('fds'), before.pop('fds'))
        self.assertEqual(after, before)

    def test_second_start_busy_until_first_stops(self):
        a, ua = self.define_on(self.fx, 'lease-a')
        b, ub = self.define_on(self.fx2, 'lease-b')
        self.start(self.fx, a)
        self.assert_busy(self.fx2, b, 'lease-a', ua)
        # the lease file says who holds it, with qemu's pid (written off the loop, after its spawn)
        files = os.listdir(self.lease_dir)
        self.assertEqual(len(files), 1)
        pid_line = 'pid=%d\n' % self.fx.qemu_pids()[0]
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while True:
            with open(os.path.join(self.lease_dir, files[0])) as f:
                text = f.read()
            if pid_line in text or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertIn('domain=lease-a\n', text)
        self.assertIn(pid_line, text)
        self.fx.client.domain(a).Destroy(opts())
        self.fx.client.wait_state(a, 'shutoff')
        self.start(self.fx2, b)
        self.assert_busy(self.fx, a, 'lease-b', ub)
        self.fx2.client.domain(b).Destroy(opts())
        self.fx2.client.wait_state(b, 'shutoff')
        self.start(self.fx, a)

    def test_hung_lease_directory_blocks_only_the_start(self):
        # a lease directory on shared storage that stops answering: the lease file's open() hangs
        # (here: a FIFO where the lease file would be, whose open for writing waits for a reader).
        # The start waits; vmgmtd answers everybody else meanwhile.
        a, _ = self.define_on(self.fx, 'lease-a')
        other, _ = self.define_on(self.fx, 'lease-other', readonly=True)
        os.makedirs(self.lease_dir, exist_ok=True)
        fifo = os.path.join(self.lease_dir, hashlib.sha256(os.path.realpath(self.image).encode()).hexdigest())
        os.mkfifo(fifo, 0o600)
        e = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.fx.bus.address)
        start = subprocess.Popen([VMGMTCTL, 'start', 'lease-a'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=e)
        self.addCleanup(lambda: start.poll() is None and start.kill())
        # the start is stuck in the lease's open (the FIFO has a writer waiting on it)
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while not waits_on_fifo(self.fx.daemon.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(waits_on_fifo(self.fx.daemon.pid), 'the start never reached the lease file')
        self.assertIsNone(start.poll())
        # meanwhile: calls are answered, another domain (its disk read-only: no lease) starts and stops
        self.assertIn('lease-a', self.fx.client.domain(a).GetXML(opts()))
        self.start(self.fx, other)
        self.fx.client.domain(other).Destroy(opts())
        self.fx.client.wait_state(other, 'shutoff')
        self.assertEqual(str(self.fx.client.state(a)[0]), 'shutoff')
        # the storage answers again: the start goes on and gets its answer
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            out, err = start.communicate(timeout=2 * DEFAULT_TIMEOUT)
        finally:
            os.close(rfd)
        if start.returncode == 0:
            self.fx.client.wait_state(a, 'running')
            self.fx.client.domain(a).Destroy(opts())
        self.fx.client.wait_state(a, 'shutoff')

    def test_lease_outlives_vmgmtd_until_qemu_dies(self):
        a, ua = self.define_on(self.fx, 'lease-a')
        b, _ = self.define_on(self.fx2, 'lease-b')
        self.start(self.fx, a)
        pids = self.fx.qemu_pids()
        self.assertEqual(len(pids), 1)
        self.fx.daemon.kill()   # a crash: qemu keeps running and keeps the lease
        self.assert_busy(self.fx2, b, 'lease-a', ua)
        self.fx.daemon.start()
        self.assertEqual(self.fx.client.state(a)[0], 'running')
        self.assert_busy(self.fx2, b, 'lease-a', ua)
        os.kill(pids[0], signal.SIGKILL)
        self.fx.client.wait_state(a, 'shutoff')
        self.assertFalse(pid_alive(pids[0]))
        self.start(self.fx2, b)

    def test_hotplugged_disk_takes_a_lease_and_unplug_releases_it(self):
        scsi = "<controller type='scsi' index='0' model='virtio-scsi'/>"
        sdisk = ("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
                 "<target dev='sda' bus='scsi'/></disk>" % self.image)
        a = self.fx.client.manager.DefineDomain(minimal_domain_xml('hot-a', extra_devices=scsi), opts())
        b, ub = self.define_on(self.fx2, 'hot-b')
        self.start(self.fx, a)
        # a SCSI disk leaves at once (no guest to ask): the unplug is the test's to make
        self.fx.client.domain(a).AttachDevice(sdisk, opts(live=True))
        ua = str(self.fx.client.props(a)['UUID'])
        self.assert_busy(self.fx2, b, 'hot-a', ua)
        self.fx.client.domain(a).DetachDevice(sdisk, opts(live=True))
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while 'sda' in str(self.fx.client.domain(a).GetXML(opts())):
            self.assertLess(time.monotonic(), deadline, 'the disk did not leave')
            time.sleep(0.1)
        # qemu closed the image's fd set, and the lease with it: the other host starts
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while True:
            try:
                self.start(self.fx2, b)
                break
            except dbus.exceptions.DBusException as e:
                if dbus_error_name(e) != ERR_BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        # and now the hot-plug is the one refused, naming the holder, with nothing plugged
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.fx.client.domain(a).AttachDevice(sdisk, opts(live=True))
        self.assertEqual(dbus_error_name(cm.exception), ERR_BUSY)
        self.assertIn('is in use by domain hot-b (%s)' % ub, cm.exception.get_dbus_message())
        self.assertNotIn('sda', str(self.fx.client.domain(a).GetXML(opts())))

    def test_lease_devices(self):
        def lease(target, key='k1', offset=4096):
            return ("<lease><lockspace>space</lockspace><key>%s</key><target path='%s' offset='%d'/></lease>"
                    % (key, target, offset))
        target = os.path.join(self.lease_dir, 'space-k1')
        a = self.fx.client.manager.DefineDomain(minimal_domain_xml('dev-a', extra_devices=lease(target)), opts())
        b = self.fx2.client.manager.DefineDomain(minimal_domain_xml('dev-b', extra_devices=lease(target)), opts())
        # the definition keeps them as libvirt writes them
        self.assertIn("<target path='%s' offset='4096'/>" % target, str(self.fx.client.domain(a).GetXML(opts())))
        self.start(self.fx, a)
        before = self.fx2.snapshot()
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.fx2.client.domain(b).Start(opts(), timeout=2 * DEFAULT_TIMEOUT)
        self.assertEqual(dbus_error_name(cm.exception), ERR_BUSY)
        self.assertIn('lease k1 in lockspace space (%s, offset 4096) is held by another domain' % target,
                      cm.exception.get_dbus_message())
        self.assertEqual(self.fx2.snapshot()['qemu'], before['qemu'])
        # another byte of the same file is another lease
        c = self.fx2.client.manager.DefineDomain(minimal_domain_xml('dev-c', extra_devices=lease(target, 'k2', 0)),
                                                 opts())
        self.start(self.fx2, c)
        # a target outside the lease directory is refused: vmgmtd locks nothing else
        d = self.fx2.client.manager.DefineDomain(minimal_domain_xml('dev-d', extra_devices=lease(self.image)), opts())
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.fx2.client.domain(d).Start(opts(), timeout=2 * DEFAULT_TIMEOUT)
        self.assertEqual(dbus_error_name(cm.exception), 'org.freedesktop.DBus.Error.InvalidArgs')
        self.assertIn('is not a file of the lease directory', cm.exception.get_dbus_message())
        # the lease lives with qemu: gone when it is
        self.fx.client.domain(a).Destroy(opts())
        self.fx.client.wait_state(a, 'shutoff')
        self.start(self.fx2, b)

    # ---- hot-plugged <lease> devices ----

    def test_hotplugged_lease_devices(self):
        target = os.path.join(self.lease_dir, 'space-hot')
        lease = ("<lease><lockspace>space</lockspace><key>h1</key><target path='%s' offset='512'/></lease>"
                 % target)
        busy = 'lease h1 in lockspace space (%s, offset 512) is held by another domain' % target
        os.makedirs(self.lease_dir, exist_ok=True)
        a = self.fx.client.manager.DefineDomain(minimal_domain_xml('hl-a'), opts())
        b = self.fx2.client.manager.DefineDomain(minimal_domain_xml('hl-b', extra_devices=lease), opts())
        c = self.fx2.client.manager.DefineDomain(minimal_domain_xml('hl-c'), opts())
        self.start(self.fx, a)
        self.start(self.fx2, c)
        # attached live and to the definition: dumpxml shows it in both; the lease is held at once
        self.fx.client.domain(a).AttachDevice(lease, opts(live=True, config=True))
        for inactive in (False, True):
            self.assertIn("<target path='%s' offset='512'/>" % target,
                          str(self.fx.client.domain(a).GetXML(opts(inactive=inactive))))
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.fx2.client.domain(b).Start(opts(), timeout=2 * DEFAULT_TIMEOUT)
        self.assertEqual(dbus_error_name(cm.exception), ERR_BUSY, str(cm.exception))
        self.assertIn(busy, cm.exception.get_dbus_message())
        # a live attach of a lease another domain holds is Busy and changes nothing
        before = str(self.fx2.client.domain(c).GetXML(opts()))
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.fx2.client.domain(c).AttachDevice(lease, opts(live=True))
        self.assertEqual(dbus_error_name(cm.exception), ERR_BUSY, str(cm.exception))
        self.assertIn(busy, cm.exception.get_dbus_message())
        self.assertEqual(before, str(self.fx2.client.domain(c).GetXML(opts())))
        # qemu holds it, through a restart of its vmgmtd
        self.fx.daemon.kill()
        self.fx.daemon.start()
        self.assertIn(target, str(self.fx.client.domain(a).GetXML(opts())))
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.fx2.client.domain(b).Start(opts(), timeout=2 * DEFAULT_TIMEOUT)
        self.assertEqual(dbus_error_name(cm.exception), ERR_BUSY, str(cm.exception))
        # detached from both: gone from dumpxml, and the other host's domain starts
        self.fx.client.domain(a).DetachDevice(lease, opts(live=True, config=True))
        for inactive in (False, True):
            self.assertNotIn('<lease>', str(self.fx.client.domain(a).GetXML(opts(inactive=inactive))))
        self.start_eventually(self.fx2, b)
        # a lease a start took (qemu inherited its fd) is let go by a live detach too
        self.fx2.client.domain(b).DetachDevice(lease, opts(live=True))
        self.assertNotIn('<lease>', str(self.fx2.client.domain(b).GetXML(opts())))
        self.assertIn('<lease>', str(self.fx2.client.domain(b).GetXML(opts(inactive=True))))
        self.fx.client.domain(a).AttachDevice(lease, opts(live=True))
        self.assertIn('<lease>', str(self.fx.client.domain(a).GetXML(opts())))
        self.assertNotIn('<lease>', str(self.fx.client.domain(a).GetXML(opts(inactive=True))))
        # detaching one the running domain does not have names it
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.fx2.client.domain(c).DetachDevice(lease, opts(live=True))
        self.assertEqual(dbus_error_name(cm.exception), 'org.freedesktop.DBus.Error.InvalidArgs')
        self.assertIn('has no lease h1', cm.exception.get_dbus_message())

    # ---- a block copy's pivot moves the disk's lease ----

    def define_image_on(self, fx, name, image):
        uuid = new_uuid()
        path = fx.client.manager.DefineDomain(minimal_domain_xml(name, uuid=uuid, extra_devices=disk_xml(image)),
                                              opts())
        return path, uuid

    def wait_job(self, fx, job, states=('completed', 'failed', 'cancelled')):
        deadline = time.monotonic() + 120
        while True:
            p = fx.client.props(job, JOB_IFACE)
            if str(p['State']) in states:
                return p
            self.assertLess(time.monotonic(), deadline, 'job %s: %s' % (job, dict(p)))
            time.sleep(0.2)

    def wait_ready(self, fx, job):
        deadline = time.monotonic() + 120
        while True:
            p = fx.client.props(job, JOB_IFACE)
            self.assertEqual(str(p['State']), 'running', dict(p))
            if int(p['TotalBytes']) > 0 and int(p['ProcessedBytes']) == int(p['TotalBytes']):
                return p
            self.assertLess(time.monotonic(), deadline, 'job %s not ready: %s' % (job, dict(p)))
            time.sleep(0.2)

    def start_eventually(self, fx, path):
        """Start, while the lease the other side let go is still on its way out of its qemu."""
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while True:
            try:
                self.start(fx, path)
                return
            except dbus.exceptions.DBusException as e:
                if dbus_error_name(e) != ERR_BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def assert_start_busy(self, fx, path, image, holder, holder_uuid):
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            fx.client.domain(path).Start(opts(), timeout=2 * DEFAULT_TIMEOUT)
        self.assertEqual(dbus_error_name(cm.exception), ERR_BUSY, str(cm.exception))
        self.assertIn('disk %s is in use by domain %s (%s)' % (os.path.realpath(image), holder, holder_uuid),
                      cm.exception.get_dbus_message())
        self.assertEqual(str(fx.client.state(path)[0]), 'shutoff')

    def test_block_copy_pivot_moves_the_lease(self):
        new = os.path.join(self.shared, 'new.img')
        a, ua = self.define_on(self.fx, 'copy-a')
        b, _ = self.define_image_on(self.fx2, 'copy-b', new)
        old_b, _ = self.define_on(self.fx2, 'copy-old')
        self.start(self.fx, a)
        job = str(self.fx.client.domain(a).BlockCopy('vda', new, opts(pivot=True)))
        self.assertEqual(str(self.wait_job(self.fx, job)['State']), 'completed')
        self.assertIn(new, str(self.fx.client.domain(a).GetXML(opts())))
        # the new image is copy-a's now: a domain of the other host on it is Busy naming copy-a …
        self.assert_start_busy(self.fx2, b, new, 'copy-a', ua)
        # … and still after copy-a's vmgmtd was killed and started again (qemu holds it)
        self.fx.daemon.kill()
        self.assert_start_busy(self.fx2, b, new, 'copy-a', ua)
        self.fx.daemon.start()
        self.assertEqual(self.fx.client.state(a)[0], 'running')
        self.assert_start_busy(self.fx2, b, new, 'copy-a', ua)
        # the old image's lease went after the pivot: a domain on it starts
        self.start_eventually(self.fx2, old_b)
        self.fx2.client.domain(old_b).Destroy(opts())
        self.fx2.client.wait_state(old_b, 'shutoff')
        # and the new image's goes with copy-a's qemu
        self.fx.client.domain(a).Destroy(opts())
        self.fx.client.wait_state(a, 'shutoff')
        self.start(self.fx2, b)

    def test_block_copy_pivot_while_paused(self):
        # a paused qemu keeps a removed fd set's fds open (qemu 7.2): the old image's lease is let go all the same
        new = os.path.join(self.shared, 'paused.img')
        a, ua = self.define_on(self.fx, 'paused-a')
        old_b, _ = self.define_on(self.fx2, 'paused-old')
        new_b, _ = self.define_image_on(self.fx2, 'paused-new', new)
        self.fx.client.domain(a).Start(opts(paused=True), timeout=2 * DEFAULT_TIMEOUT)
        self.fx.client.wait_state(a, 'paused')
        job = str(self.fx.client.domain(a).BlockCopy('vda', new, opts(pivot=True)))
        self.assertEqual(str(self.wait_job(self.fx, job)['State']), 'completed')
        self.assertEqual(str(self.fx.client.state(a)[0]), 'paused')
        self.start(self.fx2, old_b)
        self.assert_start_busy(self.fx2, new_b, new, 'paused-a', ua)

    def test_block_copy_to_a_leased_image_is_busy_and_an_abort_keeps_the_old(self):
        taken = os.path.join(self.shared, 'taken.img')
        spare = os.path.join(self.shared, 'spare.img')
        for f in (taken, spare):
            with open(f, 'wb') as img:
                img.truncate(4 << 20)
        a, _ = self.define_on(self.fx, 'abort-a')
        holder, uh = self.define_image_on(self.fx2, 'abort-holder', taken)
        on_spare, _ = self.define_image_on(self.fx2, 'abort-spare', spare)
        on_old, _ = self.define_on(self.fx2, 'abort-old')
        self.start(self.fx, a)
        self.start(self.fx2, holder)
        # a destination another domain runs on: Busy naming it, before any copy (no Job, nothing changed)
        jobs = [p for p in self.fx.client.managed_objects() if p.startswith('/org/vmgmt/job/')]
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.fx.client.domain(a).BlockCopy('vda', taken, opts(reuse_external=True, pivot=True))
        self.assertEqual(dbus_error_name(cm.exception), ERR_BUSY, str(cm.exception))
        self.assertIn('disk %s is in use by domain abort-holder (%s)' % (os.path.realpath(taken), uh),
                      cm.exception.get_dbus_message())
        self.assertEqual(jobs, [p for p in self.fx.client.managed_objects() if p.startswith('/org/vmgmt/job/')])
        self.assertIn(self.image, str(self.fx.client.domain(a).GetXML(opts())))
        # a copy that is ended without a pivot: the destination's lease is held while it runs, then let go
        job = str(self.fx.client.domain(a).BlockCopy('vda', spare, opts(reuse_external=True)))
        self.wait_ready(self.fx, job)
        self.assert_start_busy(self.fx2, on_spare, spare, 'abort-a', str(self.fx.client.props(a)['UUID']))
        self.fx.client.domain(a).BlockJobAbort('vda', opts())
        self.assertEqual(str(self.wait_job(self.fx, job)['State']), 'completed')
        self.assertIn(self.image, str(self.fx.client.domain(a).GetXML(opts())))
        self.start_eventually(self.fx2, on_spare)
        # the old image stays copy-a's
        self.assert_start_busy(self.fx2, on_old, self.image, 'abort-a', str(self.fx.client.props(a)['UUID']))

    def test_shareable_and_readonly_take_no_lease(self):
        for kind in ({'shareable': True}, {'readonly': True}):
            a, _ = self.define_on(self.fx, 'share-a', **kind)
            b, _ = self.define_on(self.fx2, 'share-b', **kind)
            self.start(self.fx, a)
            self.start(self.fx2, b)
            for fx, p in ((self.fx, a), (self.fx2, b)):
                fx.client.domain(p).Destroy(opts())
                fx.client.wait_state(p, 'shutoff')
                fx.client.domain(p).Undefine(opts())

    def test_network_disk_leased_by_its_server_and_name(self):
        # a network disk is shared storage: the same export started by a domain on each host is
        # Busy on the second, by PROTOCOL://SERVER/NAME; the lease is qemu's (inherited: no fd set)
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'storsvc'))
        from nbd_server import NbdServer
        nbd = NbdServer(self.shared)
        nbd.start(tcp=True)
        self.addCleanup(nbd.stop)
        disk = ("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                "<source protocol='nbd' name='%s'><host name='%s' port='%d'/></source>"
                "<target dev='vda' bus='virtio'/></disk>" % (nbd.export, nbd.host, nbd.port))
        paths = []
        for fx, name in ((self.fx, 'net-a'), (self.fx2, 'net-b')):
            uuid = new_uuid()
            paths.append((fx.client.manager.DefineDomain(minimal_domain_xml(name, uuid=uuid, extra_devices=disk),
                                                         opts()), uuid))
        (a, ua), (b, _) = paths
        self.start(self.fx, a)
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.fx2.client.domain(b).Start(opts(), timeout=2 * DEFAULT_TIMEOUT)
        self.assertEqual(dbus_error_name(cm.exception), ERR_BUSY, str(cm.exception))
        self.assertIn('disk nbd://%s:%d/%s is in use by domain net-a (%s)' % (nbd.host, nbd.port, nbd.export, ua),
                      cm.exception.get_dbus_message())
        # held by qemu, not by vmgmtd: still Busy after the holder's vmgmtd is gone
        self.fx.daemon.kill()   # a crash: qemu keeps running and keeps the lease
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.fx2.client.domain(b).Start(opts(), timeout=2 * DEFAULT_TIMEOUT)
        self.assertEqual(dbus_error_name(cm.exception), ERR_BUSY, str(cm.exception))
        self.fx.daemon.start()
        self.fx.client.domain(a).Destroy(opts())
        self.fx.client.wait_state(a, 'shutoff')
        self.start(self.fx2, b)
        self.fx2.client.domain(b).Destroy(opts())
        self.fx2.client.wait_state(b, 'shutoff')


if __name__ == '__main__':
    main()
