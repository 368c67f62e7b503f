# Domain.Clone of a RUNNING domain (issue 16, item 1: option live). Its qemu
# copies every writable disk while the booted busybox guest runs on, all disks
# as they were at one instant (one transaction of blockdev-backup jobs):
#
# - the guest writes a marker on its qcow2 and its raw disk, then keeps
#   writing a counter to both, one disk after the other, each write flushed
#   before the next: any instant has vda's counter equal to vdb's or one
#   ahead. The clone's two disks must show that (copies made one after the
#   other, or at the end, would not: the copy takes seconds at the bandwidth
#   limit while the guest counts on), hold the markers, and be behind the
#   original, which kept counting; the original stays running throughout (no
#   pause); the raw copy is sparse; the clone boots and reads its markers.
# - Cancel mid-copy (1 MiB/s) leaves no file, no domain and no fd in qemu; a
#   qemu killed mid-copy fails the Job and leaves no file either; a plain
#   Clone of a running domain is still InvalidState, live with linked
#   InvalidArgs; `vmgmtctl clone --live`.

import os
import signal
import time

import dbus

import vmgmt_harness
from vmgmt_harness import GuestTestCase, main, opts, run_vmgmtctl
from test_clone import (ERR, INVALID_ARGS, JOB_IFACE, CloneBase, image_info, qemu_img, same_data, sources)

MARK_SECTOR = 16384     # 8 MiB in: beyond the data make_disks() wrote
COUNT_SECTOR = 24576    # 12 MiB in


class CloneLive(CloneBase, GuestTestCase):

    def setUp(self):
        super().setUp()
        self.make_dir()

    def boot_orig(self, name, data_mib=2):
        qcow, data, shared = self.make_disks(name, data_mib)
        xml = vmgmt_harness.guest_domain_xml(name).replace(
            "<memballoon model='none'/>", self.devices(qcow, data, shared) + "<memballoon model='none'/>")
        path, con = self.boot(name, xml=xml)
        return path, con, qcow, data

    def read_sector(self, image, fmt, sector):
        """The first bytes of `sector` as a guest of `image` sees it (read while a qemu may hold it)."""
        if fmt != 'raw':
            flat = os.path.join(self.fx.tmp, 'flat.raw')
            qemu_img('convert', '-U', '-f', fmt, '-O', 'raw', image, flat)
            image = flat
        with open(image, 'rb') as f:
            f.seek(sector * 512)
            return f.read(512).rstrip(b'\0').decode(errors='replace').strip()

    def counter(self, image, fmt):
        s = self.read_sector(image, fmt, COUNT_SECTOR)
        self.assertTrue(s.startswith('CNT'), '%s has no counter: %r' % (image, s))
        return int(s[3:])

    def write_marker(self, con, dev, sector, text):
        self.assertTrue(self.guest_says(con, "printf '%s\\n' > /tmp/m && dd if=/tmp/m of=/dev/%s bs=512 seek=%d "
                                             "conv=sync,fsync 2>/dev/null" % (text, dev, sector), 'MK' + dev),
                        'the guest cannot write %s' % dev)

    def state(self, path):
        return str(self.client.state(path)[0])

    def wait_running_job(self, job, orig, pred, timeout=180):
        """Polls the running Job until pred(props); the original must stay running meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.job_props(job)
            self.assertEqual(str(p['State']), 'running', dict(p))
            self.assertEqual(self.state(orig), 'running')
            if pred(p):
                return p
            self.assertLess(time.monotonic(), deadline, 'job %s: %s' % (job, dict(p)))
            time.sleep(0.1)

    def qemu_fd_targets(self):
        """Where the fds of the test's qemu processes point."""
        out = []
        for pid in self.fx.qemu_pids():
            try:
                for fd in os.listdir('/proc/%d/fd' % pid):
                    try:
                        out.append(os.readlink('/proc/%d/fd/%s' % (pid, fd)))
                    except OSError:
                        pass
            except OSError:
                pass
        return out

    def test_live_clone_is_of_one_instant_while_the_guest_runs(self):
        orig, con, qcow, data = self.boot_orig('lc-orig')
        for dev in ('vda', 'vdb'):
            self.write_marker(con, dev, MARK_SECTOR, 'LIVEMARK-' + dev)
        # the counter: vda first, then vdb, each write flushed before the next
        con.send("( i=0; while :; do i=$((i+1)); printf 'CNT%%08d\\n' $i > /tmp/c; "
                 "dd if=/tmp/c of=/dev/vda bs=512 seek=%d conv=sync,fsync 2>/dev/null; "
                 "dd if=/tmp/c of=/dev/vdb bs=512 seek=%d conv=sync,fsync 2>/dev/null; done ) &"
                 % (COUNT_SECTOR, COUNT_SECTOR))
        deadline = time.monotonic() + 60
        while True:   # it counts
            try:
                if self.counter(data, 'raw') >= 3:
                    break
            except AssertionError:
                pass
            self.assertLess(time.monotonic(), deadline, 'the guest does not count')
            time.sleep(0.5)

        self.rec.clear()
        # 8 MiB/s: the 64 MiB raw disk takes 8 s, while the guest goes on counting
        job = str(self.dom(orig).Clone('lc-new', opts(live=True, bandwidth_mib=dbus.UInt64(8))))
        p = self.wait_running_job(job, orig, lambda p: 0 < int(p['ProcessedBytes']) < int(p['TotalBytes']))
        self.assertEqual(str(p['Type']), 'clone')
        # the temporaries are there while qemu writes them
        self.assertEqual(len([f for f in self.files() if f.endswith('.part')]), 2, self.files())
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'completed', 'clone failed: %s' % p['Error'])
        self.assertEqual(int(p['ProcessedBytes']), int(p['TotalBytes']))
        self.assertEqual(int(p['TotalBytes']), (32 + 64) * 1024 * 1024)
        # the original ran on: no pause, no stop
        self.assertEqual(self.state(orig), 'running')
        self.assertEqual([e for e in self.rec.domain_events(orig) if e[0] in ('suspended', 'stopped')], [])
        self.assertIn(('defined', 'added'), self.rec.domain_events(str(self.manager.GetDomain('lc-new'))))

        src = sources(self.xml('lc-new'))
        new_qcow, new_raw = src['vda'], src['vdb']
        self.assertEqual(new_qcow, (os.path.join(self.dir, 'lc-new-root.qcow2'), 'qcow2'))
        self.assertEqual(new_raw, (os.path.join(self.dir, 'data-clone.img'), 'raw'))
        self.assertEqual(image_info(new_qcow[0])['format'], 'qcow2')
        self.assertNotIn('backing-filename', image_info(new_qcow[0]))
        self.assertEqual(os.stat(new_raw[0]).st_size, 64 * 1024 * 1024)
        # sparse: 64 MiB with ~2 MiB of data does not take 64 MiB
        self.assertLess(os.stat(new_raw[0]).st_blocks * 512, 16 * 1024 * 1024)
        self.assertFalse([f for f in self.files() if f.endswith('.part')], self.files())
        # the data of one instant: the markers written before, and counters that agree across the disks
        for image, fmt, dev in ((new_qcow[0], 'qcow2', 'vda'), (new_raw[0], 'raw', 'vdb')):
            self.assertEqual(self.read_sector(image, fmt, MARK_SECTOR), 'LIVEMARK-' + dev)
            self.assertEqual(self.read_sector(image, fmt, 0), 'CLONEMARK-%s' % ('QCOW2' if fmt == 'qcow2' else 'RAW'))
        a, b = self.counter(new_qcow[0], 'qcow2'), self.counter(new_raw[0], 'raw')
        self.assertTrue(b <= a <= b + 1, 'the copies are of different instants: vda at %d, vdb at %d' % (a, b))
        # … an instant before the copies ended: the original counted on
        self.assertGreater(self.counter(data, 'raw'), b + 1, 'the guest did not write during the copy')
        # no fd of the copies stays in qemu
        self.assertFalse([t for t in self.qemu_fd_targets() if 'lc-new' in t or 'data-clone' in t])

        # the clone boots and reads its markers (the original goes first: one TCG guest at a time)
        self.dom(orig).Destroy(opts())
        self.client.wait_state(orig, 'shutoff')
        new = str(self.manager.GetDomain('lc-new'))
        self.dom(new).Start(opts())
        self.client.wait_state(new, 'running')
        con = self.fx.console(new)
        con.wait_for(vmgmt_harness.GUEST_READY, self.BOOT_TIMEOUT)
        for dev in ('vda', 'vdb'):
            self.assertTrue(self.guest_says(con, 'dd if=/dev/%s bs=512 skip=%d count=1 2>/dev/null | grep -q '
                                                 'LIVEMARK-%s' % (dev, MARK_SECTOR, dev), 'NEW' + dev),
                            'the clone does not read its marker on %s' % dev)
        self.dom(new).Destroy(opts())
        self.client.wait_state(new, 'shutoff')

    def test_cancel_refusals_and_a_dying_qemu_leave_nothing(self):
        orig, con, qcow, data = self.boot_orig('lc-can', data_mib=16)
        before = (self.files(), self.domain_names())
        # without live a running domain is refused as before, linked does not go with live
        msg = self.assertDBusError(ERR + 'InvalidState', self.dom(orig).Clone, 'lc-x', opts())
        self.assertIn('shut off or paused', msg)
        msg = self.assertDBusError(INVALID_ARGS, self.dom(orig).Clone, 'lc-x', opts(live=True, linked=True))
        self.assertIn('linked and live', msg)
        self.assertDBusError(INVALID_ARGS, self.dom(orig).Clone, 'lc-x', opts(live='yes'))
        self.assertEqual((self.files(), self.domain_names()), before)

        self.rec.clear()
        job = str(self.dom(orig).Clone('lc-cancelled', opts(live=True, bandwidth_mib=dbus.UInt64(1))))
        p = self.wait_running_job(job, orig, lambda p: int(p['ProcessedBytes']) > 0)
        self.assertLess(int(p['ProcessedBytes']), int(p['TotalBytes']))
        self.assertTrue([f for f in self.files() if f.endswith('.part')], self.files())
        self.assertTrue([t for t in self.qemu_fd_targets() if t.endswith('.part')], 'qemu holds no copy')
        self.client.obj(job).Cancel(opts(), dbus_interface=JOB_IFACE)
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'cancelled', dict(p))
        self.assertEqual((self.files(), self.domain_names()), before)
        self.assertDBusError(ERR + 'NoSuchDomain', self.manager.GetDomain, 'lc-cancelled')
        self.assertEqual(self.state(orig), 'running')
        self.assertFalse([t for t in self.qemu_fd_targets() if '.part' in t])
        self.assertEqual([e for e in self.rec.domain_events(orig) if e[0] in ('suspended', 'stopped')], [])
        # the guest is fine
        self.assertTrue(self.guest_says(con, 'true', 'ALIVE'))

        # vmgmtctl clone --live, unlimited: a copy identical to the original, whose guest writes nothing now
        a, b = os.path.join(self.dir, 'cli-a.qcow2'), os.path.join(self.dir, 'cli-b.img')
        r = run_vmgmtctl(self.fx.bus, 'clone', '-o', 'lc-can', '-n', 'lc-cli', '--live', '-f', a, '-f', b,
                         '--bandwidth', '256')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Clone 'lc-cli' created successfully", r.stdout)
        for x, y in ((qcow, a), (data, b)):
            ok, out = same_data(x, y)
            self.assertTrue(ok, out)
        r = run_vmgmtctl(self.fx.bus, 'clone', '-o', 'lc-can', '-n', 'lc-cli2', '--live', '--linked')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('--linked', r.stderr)
        r = run_vmgmtctl(self.fx.bus, 'clone', '-o', 'lc-can', '-n', 'lc-cli2', '--live', '--bandwidth', 'fast')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('bandwidth', r.stderr)
        self.assertEqual(self.state(orig), 'running')
        before = (self.files(), self.domain_names())

        # qemu dies mid-copy: the Job fails and no copy is left
        job = str(self.dom(orig).Clone('lc-died', opts(live=True, bandwidth_mib=dbus.UInt64(1))))
        self.wait_running_job(job, orig, lambda p: int(p['ProcessedBytes']) > 0)
        pids = self.fx.qemu_pids()
        self.assertEqual(len(pids), 1, pids)
        os.kill(pids[0], signal.SIGKILL)
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'failed', dict(p))
        self.assertIn('stopped', str(p['Error']))
        self.client.wait_state(orig, 'shutoff')
        self.assertEqual((self.files(), self.domain_names()), before)


if __name__ == '__main__':
    main()
