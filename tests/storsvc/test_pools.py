# test_pools — pools, volumes and jobs of vmgmtd through the bus (real vmgmtd, dbus-daemon, qemu-img).
import os
import subprocess
import time
import unittest

from storsvc_util import *  # noqa: F401,F403
from storsvc_util import cmdline, StorageTestCase, pool_xml, vol_xml, opts, POOL_IFACE, VOL_IFACE, JOB_IFACE, unwrap, dbus_error_name
from vmgmt_harness import main  # noqa: E402
import dbus


class PoolTests(StorageTestCase):
    def test_features(self):
        feats = [str(f) for f in self.client.props('/org/vmgmt', 'org.vmgmt.Manager')['Features']]
        self.assertIn('storage-dir', feats)

    def test_default_pool(self):
        p = self.manager.GetPool('default')
        props = self.props(p, POOL_IFACE)
        self.assertEqual(props['Name'], 'default')
        self.assertEqual(props['Type'], 'dir')
        self.assertTrue(props['Path'].endswith('/var/lib/vmgmt/images'))
        self.assertTrue(props['Persistent'])
        self.assertTrue(props['Autostart'])
        # undefined default stays undefined over a restart
        self.wait_prop(p, POOL_IFACE, 'Active', True)
        self.stop_when_started(p)
        self.pool(p).Undefine(opts())
        self.fx.daemon.restart()
        self.assertBusError('org.vmgmt.Error.NoSuchPool', self.manager.GetPool, 'default')

    def test_active_when_the_name_appears(self):
        # a caller that sees vmgmtd on the bus sees its autostart pools active (as libvirtd answers no
        # client before its drivers started them): the first call after the name appeared finds it so
        self.fx.daemon.restart()
        p = self.manager.GetPool('default')
        self.assertTrue(self.props(p, POOL_IFACE)['Active'])
        last = self.fx.daemon.log_text().split('---- start ')[-1]
        self.assertLess(last.index("Started storage pool 'default'."), last.index('vmgmtd ready on the'), last)

    def test_pool_lifecycle(self):
        path = os.path.join(self.pools_dir, 'p1')
        self.rec.clear()
        p = self.manager.DefinePool(pool_xml('p1', path), opts())
        self.assertEqual(str(p), '/org/vmgmt/pool/p1')
        pool = self.pool(p)
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))
        self.assertBusError('org.vmgmt.Error.AlreadyExists', self.manager.DefinePool,
                            pool_xml('p1b', path), opts())
        pool.Build(opts())
        self.assertTrue(os.path.isdir(path))
        self.rec.clear()
        pool.Start(opts())
        self.rec.wait_for(lambda es: any(e[0] == 'PropertiesChanged' and e[1] == str(p) and e[3].get('Active') is True
                                         for e in es), what='Active changed')
        self.assertEqual([e[2] for e in self.pool_events(str(p))], ['started'])
        props = self.props(p, POOL_IFACE)
        self.assertTrue(props['Active'])
        self.assertGreater(props['Capacity'], 0)
        self.assertGreater(props['Available'], 0)
        self.assertBusError('org.vmgmt.Error.InvalidState', pool.Start, opts())
        self.assertIn(str(p), [str(x) for x in self.manager.ListPools(opts(active=True))])
        xml = str(pool.GetXML(opts()))
        self.assertIn('<name>p1</name>', xml)
        # autostart through Properties.Set
        self.client.set_prop(p, 'Autostart', dbus.Boolean(True), iface=POOL_IFACE)
        self.assertTrue(os.path.islink(os.path.join(self.fx.daemon.root, 'etc/vmgmt/storage/autostart/p1.xml')))
        self.assertTrue(os.path.exists(os.path.join(self.fx.daemon.root, 'etc/vmgmt/storage/p1.xml')))
        # restart: the pool stays active
        self.fx.daemon.restart()
        self.wait_prop(p, POOL_IFACE, 'Active', True)
        pool = self.pool(p)
        self.rec.sync()   # the restart's 'started' event is in before the clear
        self.rec.clear()
        self.stop_when_started(p)
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))
        # a directory that holds files is not deleted
        with open(os.path.join(path, 'keep'), 'w') as f:
            f.write('x')
        msg = self.assertBusError('org.vmgmt.Error.InvalidState', pool.Delete, opts())
        self.assertIn("target directory '%s' of pool 'p1' is not empty" % path, msg)
        os.unlink(os.path.join(path, 'keep'))
        pool.Delete(opts())
        self.assertFalse(os.path.exists(path))
        pool.Undefine(opts())
        self.assertBusError('org.vmgmt.Error.NoSuchPool', self.manager.GetPool, 'p1')
        self.assertBusError('org.vmgmt.Error.NoSuchPool', self.prop, p, POOL_IFACE, 'Name')
        ev = [e[2] for e in self.pool_events(str(p))]
        self.assertEqual(ev, ['stopped', 'deleted', 'undefined'])
        self.assertFalse(os.path.exists(os.path.join(self.fx.daemon.root, 'etc/vmgmt/storage/p1.xml')))

    def test_redefine_active(self):
        # libvirt's semantics: the new definition is stored at once and applies at the next start
        p, path = self.make_pool('live')
        uuid = self.prop(p, POOL_IFACE, 'UUID')
        newpath = os.path.join(self.pools_dir, 'live-new')
        xml = pool_xml('live', newpath).replace('<name>live</name>', '<name>live</name><uuid>%s</uuid>' % uuid)
        self.rec.clear()
        self.assertEqual(str(self.manager.DefinePool(xml, opts())), str(p))
        self.assertIn(('PoolEvent', str(p), 'defined'), self.pool_events(str(p)))
        pool = self.pool(p)
        self.assertTrue(self.prop(p, POOL_IFACE, 'Active'))
        self.assertEqual(self.prop(p, POOL_IFACE, 'Path'), path)
        self.assertIn('<path>%s</path>' % path, str(pool.GetXML(opts())))
        self.assertIn('<path>%s</path>' % newpath, str(pool.GetXML(opts(inactive=True))))
        with open(os.path.join(self.fx.daemon.root, 'etc/vmgmt/storage/live.xml')) as f:
            self.assertIn('<path>%s</path>' % newpath, f.read())
        # a restart keeps it running as it was (vmgmtd starts it again while
        # already answering: Active once that start is done)
        self.fx.daemon.restart()
        pool = self.pool(p)
        self.wait_prop(p, POOL_IFACE, 'Active', True)
        self.assertEqual(self.prop(p, POOL_IFACE, 'Path'), path)
        self.assertIn('<path>%s</path>' % newpath, str(pool.GetXML(opts(inactive=True))))
        # stopped: the new definition is the pool
        self.stop_when_started(p)
        self.assertEqual(self.prop(p, POOL_IFACE, 'Path'), newpath)
        self.assertIn('<path>%s</path>' % newpath, str(pool.GetXML(opts())))
        pool.Build(opts())
        pool.Start(opts())
        self.assertEqual(self.prop(p, POOL_IFACE, 'Path'), newpath)
        # defining it back to what runs: nothing waits any more
        self.manager.DefinePool(xml.replace(newpath, path), opts())
        self.manager.DefinePool(xml, opts())
        self.assertNotIn('<path>%s</path>' % path, str(pool.GetXML(opts(inactive=True))))
        # a UUID that differs is still another pool
        other = '6b1d4c0e-9a52-4f37-8a0e-3f0c2d6b9e11'
        self.assertBusError('org.vmgmt.Error.AlreadyExists', self.manager.DefinePool, xml.replace(uuid, other), opts())

    def test_transient_pool(self):
        path = os.path.join(self.pools_dir, 't')
        os.makedirs(path)
        p = self.manager.CreatePool(pool_xml('t', path), opts())
        self.assertTrue(self.prop(p, POOL_IFACE, 'Active'))
        self.assertFalse(self.prop(p, POOL_IFACE, 'Persistent'))
        self.fx.daemon.restart()
        self.wait_prop(p, POOL_IFACE, 'Active', True)
        self.assertFalse(self.prop(p, POOL_IFACE, 'Persistent'))
        # Active turns true before the start-up restart has refreshed the pool;
        # until it has, a Stop is refused as Busy, naming the start
        deadline = time.monotonic() + 60
        while True:
            try:
                self.pool(p).Stop(opts())
                break
            except dbus.DBusException as e:
                self.assertEqual(e.get_dbus_name(), 'org.vmgmt.Error.Busy', e.get_dbus_message())
                self.assertIn('is being started', e.get_dbus_message())
                self.assertLess(time.monotonic(), deadline, 'the pool stays "being started"')
                time.sleep(0.05)
        self.assertBusError('org.vmgmt.Error.NoSuchPool', self.manager.GetPool, 't')

    def test_bad_xml(self):
        self.assertBusError('org.vmgmt.Error.InvalidXML', self.manager.DefinePool, '<pool type="dir"><nam>x</nam></pool>', opts())
        self.assertBusError('org.freedesktop.DBus.Error.InvalidArgs', self.manager.DefinePool,
                            pool_xml('x', '/tmp/x'), opts(bogus=True))


class VolumeTests(StorageTestCase):
    def test_volumes(self):
        p, path = self.make_pool('vp')
        pool = self.pool(p)
        self.rec.clear()
        v = pool.CreateVolume(vol_xml('a.raw', 8, unit='MiB'), opts())
        self.assertEqual(str(v), '/org/vmgmt/pool/vp/volume/a_2eraw')
        vp = self.props(v, VOL_IFACE)
        self.assertEqual(vp['Name'], 'a.raw')
        self.assertEqual(vp['Format'], 'raw')
        self.assertEqual(vp['Capacity'], 8 << 20)
        self.assertEqual(vp['Path'], os.path.join(path, 'a.raw'))
        self.assertEqual(str(vp['Pool']), str(p))
        self.assertEqual(str(self.manager.GetVolumeByPath(vp['Path'])), str(v))
        self.assertEqual(str(pool.GetVolume('a.raw')), str(v))
        self.rec.wait_for(lambda es: any(e[0] == 'InterfacesAdded' and e[1] == str(v) for e in es),
                          what='InterfacesAdded of the volume')
        q = pool.CreateVolume(vol_xml('b.qcow2', 16, fmt='qcow2', unit='MiB'), opts())
        self.assertEqual(self.prop(q, VOL_IFACE, 'Format'), 'qcow2')
        self.assertBusError('org.vmgmt.Error.AlreadyExists', pool.CreateVolume, vol_xml('a.raw', 1), opts())
        self.assertBusError('org.vmgmt.Error.InvalidXML', pool.CreateVolume, vol_xml('..', 1), opts())
        self.assertBusError('org.vmgmt.Error.InvalidXML', pool.CreateVolume, vol_xml('x/y', 1), opts())
        names = sorted(str(x) for x in pool.ListVolumes(opts()))
        self.assertEqual(names, sorted([str(v), str(q)]))
        # resize
        self.vol(v).Resize(dbus.UInt64(16 << 20), opts())
        self.assertEqual(self.prop(v, VOL_IFACE, 'Capacity'), 16 << 20)
        self.assertEqual(os.path.getsize(os.path.join(path, 'a.raw')), 16 << 20)
        self.assertBusError('org.freedesktop.DBus.Error.InvalidArgs', self.vol(v).Resize, dbus.UInt64(1 << 20), opts())
        self.vol(v).Resize(dbus.UInt64(4 << 20), opts(shrink=True))
        self.assertEqual(self.prop(v, VOL_IFACE, 'Capacity'), 4 << 20)
        self.assertIn('<name>a.raw</name>', str(self.vol(v).GetXML(opts())))
        # wipe
        with open(os.path.join(path, 'a.raw'), 'r+b') as f:
            f.write(b'x' * 4096)
        self.vol(v).Wipe(opts())
        with open(os.path.join(path, 'a.raw'), 'rb') as f:
            self.assertEqual(f.read(4096), b'\0' * 4096)
        # refresh finds a file put there by hand
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', os.path.join(path, 'hand.qcow2'), '1M'], check=True)
        pool.Refresh(opts())
        h = pool.GetVolume('hand.qcow2')
        self.assertEqual(self.prop(h, VOL_IFACE, 'Format'), 'qcow2')
        # delete
        self.vol(v).Delete(opts())
        self.assertFalse(os.path.exists(os.path.join(path, 'a.raw')))
        self.assertBusError('org.vmgmt.Error.NoSuchVolume', pool.GetVolume, 'a.raw')
        self.assertBusError('org.vmgmt.Error.NoSuchVolume', self.prop, v, VOL_IFACE, 'Name')
        self.rec.wait_for(lambda es: any(e[0] == 'InterfacesRemoved' and e[1] == str(v) for e in es),
                          what='InterfacesRemoved of the volume')
        objs = self.client.managed_objects()
        self.assertIn(str(q), [str(k) for k in objs])
        self.assertIn(str(p), [str(k) for k in objs])
        self.assertIn(VOL_IFACE, objs[q])

    def test_safety_symlink(self):
        p, path = self.make_pool('sp')
        secret = os.path.join(self.fx.tmp, 'secret')
        with open(secret, 'wb') as f:
            f.write(b's' * 1000)
        os.symlink(secret, os.path.join(path, 'link'))
        pool = self.pool(p)
        pool.Refresh(opts())
        self.assertBusError('org.vmgmt.Error.NoSuchVolume', pool.GetVolume, 'link')
        with self.assertRaises(dbus.DBusException):
            pool.CreateVolume(vol_xml('link', 4096), opts())
        with open(secret, 'rb') as f:
            self.assertEqual(f.read(), b's' * 1000)
        self.assertBusError('org.vmgmt.Error.InvalidXML', pool.CreateVolume, vol_xml('.hidden', 1), opts())

    def test_pool_numbers_follow_volumes(self):
        p, path = self.make_pool('np')
        before = self.props(p, POOL_IFACE)
        self.rec.clear()
        self.pool(p).CreateVolume(vol_xml('x', 64, unit='MiB', allocation=64), opts())
        self.rec.wait_for(lambda es: any(e[0] == 'PropertiesChanged' and e[1] == str(p) and 'Available' in e[3]
                                         for e in es), what='Available changed')
        after = self.props(p, POOL_IFACE)
        self.assertGreaterEqual(before['Available'] - after['Available'], 60 << 20)
        self.assertGreaterEqual(after['Allocation'] - before['Allocation'], 60 << 20)



class ProbeTimeoutTests(StorageTestCase):
    extra_conf = 'probe_timeout_sec=2\n'

    def test_backing_fifo_does_not_hold_refresh(self):
        # qemu-img info --backing-chain of a qcow2 whose backing file is a
        # FIFO waits in the FIFO's open for ever: the probe is killed after
        # probe_timeout_sec, that volume is left out, the refresh completes.
        p, path = self.make_pool('fp')
        fifo = os.path.join(self.fx.tmp, 'never.fifo')
        os.mkfifo(fifo)
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-u', '-F', 'raw', '-b', fifo,
                        os.path.join(path, 'stuck.qcow2'), '1M'], check=True)
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', os.path.join(path, 'fine.qcow2'), '1M'],
                       check=True)
        pool = self.pool(p)
        pool.Refresh(opts(), timeout=120)
        self.assertEqual(self.prop(pool.GetVolume('fine.qcow2'), VOL_IFACE, 'Format'), 'qcow2')
        self.assertBusError('org.vmgmt.Error.NoSuchVolume', pool.GetVolume, 'stuck.qcow2')
        self.rec.wait_for(lambda es: not self.qemu_imgs(), what='the killed qemu-img reaped')
        with open(self.fx.daemon.logfile, errors='replace') as f:
            self.assertIn('did not finish within 2 s', f.read())


class JobTests(StorageTestCase):
    def test_job_ids_never_repeat(self):
        # a client holding a job's path never sees another job there, over restarts and crashes
        p, path = self.make_pool('ids')
        with open(os.path.join(path, 'd.raw'), 'wb') as f:
            f.write(b'x' * 4096)
        self.pool(p).Refresh(opts())

        def one_job():
            self.wait_prop(p, POOL_IFACE, 'Active', True)   # restarted at start-up
            deadline = time.monotonic() + 60
            while True:
                try:
                    v = self.pool(p).GetVolume('d.raw')
                    break
                except dbus.DBusException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            with open(os.devnull, 'wb') as sink:
                j = str(self.vol(v).Download(dbus.types.UnixFd(sink.fileno()), opts()))
            self.assertEqual(self.wait_job(j), 'completed')
            return j

        seen = [one_job(), one_job()]
        self.fx.daemon.restart()
        self.client = self.fx.client
        seen.append(one_job())
        self.fx.daemon.kill()
        self.fx.daemon.start()
        seen.append(one_job())
        self.assertEqual(len(set(seen)), len(seen), seen)
        ids = [int(j.rsplit('/', 1)[1]) for j in seen]
        self.assertEqual(ids, sorted(ids), seen)
        for j in seen[:3]:
            with self.assertRaises(dbus.DBusException) as cm:
                self.prop(j, JOB_IFACE, 'State')
            self.assertIn(dbus_error_name(cm.exception), ('org.vmgmt.Error.NoSuchJob',
                                                          'org.freedesktop.DBus.Error.UnknownObject'))

    def test_clone_upload_download(self):
        p, path = self.make_pool('jp')
        pool = self.pool(p)
        base = os.path.join(path, 'base.raw')
        with open(base, 'wb') as f:
            f.write(os.urandom(1 << 20))
            f.truncate(64 << 20)
        pool.Refresh(opts())
        src = pool.GetVolume('base.raw')
        self.rec.clear()
        j = pool.CloneVolume(vol_xml('copy.qcow2', 64, fmt='qcow2', unit='MiB'), src, opts())
        self.assertTrue(str(j).startswith('/org/vmgmt/job/'))
        self.assertEqual(self.prop(j, JOB_IFACE, 'Type'), 'clone')
        self.assertEqual(self.wait_job(j), 'completed')
        jp = self.props(j, JOB_IFACE)
        self.assertEqual(jp['Progress'], 1.0)
        self.assertEqual(jp['Error'], '')
        self.assertEqual(str(jp['Object']), '/org/vmgmt/pool/jp/volume/copy_2eqcow2')
        self.rec.wait_for(lambda es: any(e[0] == 'InterfacesRemoved' and e[1] == str(j) for e in es),
                          timeout=60, what='job removed after linger')
        self.assertBusError('org.vmgmt.Error.NoSuchJob', self.prop, j, JOB_IFACE, 'State')
        c = pool.GetVolume('copy.qcow2')
        self.assertEqual(self.prop(c, VOL_IFACE, 'Format'), 'qcow2')
        r = subprocess.run(['qemu-img', 'compare', '-q', base, os.path.join(path, 'copy.qcow2')])
        self.assertEqual(r.returncode, 0)
        # download to a pipe-less file
        out = os.path.join(self.fx.tmp, 'down.raw')
        with open(out, 'wb') as f:
            j = self.vol(src).Download(dbus.types.UnixFd(f.fileno()), opts())
        self.assertEqual(self.wait_job(j), 'completed')
        with open(out, 'rb') as a, open(base, 'rb') as b:
            self.assertEqual(a.read(), b.read())
        # upload replaces the content
        up = os.path.join(self.fx.tmp, 'up.raw')
        with open(up, 'wb') as f:
            f.write(b'U' * (2 << 20))
        with open(up, 'rb') as f:
            j = self.vol(c).Upload(dbus.types.UnixFd(f.fileno()), opts())
        self.assertEqual(self.wait_job(j), 'completed')
        with open(os.path.join(path, 'copy.qcow2'), 'rb') as f:
            self.assertEqual(f.read(), b'U' * (2 << 20))

    def test_cancel_leaves_nothing(self):
        p, path = self.make_pool('cp')
        pool = self.pool(p)
        v = pool.CreateVolume(vol_xml('big.raw', 1, unit='GiB'), opts())
        listing = sorted(str(x) for x in pool.ListVolumes(opts()))
        # an upload from a pipe cannot finish before the pipe is closed
        r, w = os.pipe()
        j = self.vol(v).Upload(dbus.types.UnixFd(r), opts())
        os.close(r)
        os.write(w, b'x' * 65536)
        self.wait_prop(j, JOB_IFACE, 'ProcessedBytes', 65536)   # in the middle of the transfer
        self.rec.clear()
        self.job(j).Cancel(opts())
        self.assertEqual(self.wait_job(j), 'cancelled')
        os.close(w)
        self.rec.wait_for(lambda es: any(e[0] == 'Finished' and e[1] == str(j) and e[2] == 'cancelled' for e in es),
                          what='Finished(cancelled)')
        self.assertEqual(sorted(os.listdir(path)), ['big.raw'])
        self.assertEqual(os.path.getsize(os.path.join(path, 'big.raw')), 1 << 30)
        self.assertEqual(sorted(str(x) for x in pool.ListVolumes(opts())), listing)
        # a cancelled clone leaves no volume: its source is a qcow2 whose
        # backing file becomes (after the scan) a FIFO nobody writes, so
        # qemu-img's open of it waits until the job is cancelled, and the copy
        # cannot finish first
        hold = os.path.join(self.fx.tmp, 'hold')
        with open(hold, 'wb') as f:
            f.truncate(1 << 30)
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', hold,
                        os.path.join(path, 'held.qcow2')], check=True)
        pool.Refresh(opts())
        held = pool.GetVolume('held.qcow2')
        os.unlink(hold)
        os.mkfifo(hold)
        files = sorted(os.listdir(path))
        listing = sorted(str(x) for x in pool.ListVolumes(opts()))
        self.rec.clear()
        j = pool.CloneVolume(vol_xml('c.raw', 1, unit='GiB'), held, opts())
        self.wait_for_qemu_img()
        self.job(j).Cancel(opts())
        self.assertEqual(self.wait_job(j), 'cancelled')
        self.rec.wait_for(lambda es: any(e[0] == 'Finished' and e[1] == str(j) and e[2] == 'cancelled' for e in es),
                          what='Finished(cancelled)')
        self.assertBusError('org.vmgmt.Error.NoSuchVolume', pool.GetVolume, 'c.raw')
        self.assertEqual(sorted(os.listdir(path)), files)   # no partial volume, no temp file
        self.assertEqual(sorted(str(x) for x in pool.ListVolumes(opts())), listing)
        # (a scan would wait in the FIFO too: a regular file again first)
        os.unlink(hold)
        open(hold, 'wb').close()
        pool.Refresh(opts())
        self.assertEqual(sorted(str(x) for x in pool.ListVolumes(opts())), listing)
        self.rec.wait_for(lambda es: not self.qemu_imgs(), what='qemu-img gone')

    def wait_for_qemu_img(self):
        """Waits until vmgmtd's qemu-img convert waits in the open of a FIFO."""
        self.rec.wait_for(lambda es: [a for w, a in self.qemu_imgs().values()
                                      if w in ('wait_for_partner', 'fifo_open') and 'convert' in a],
                          what='qemu-img convert waiting for the FIFO (%s)' % self.qemu_imgs())

    def test_progress_throttled(self):
        p, path = self.make_pool('tp')
        v = self.pool(p).CreateVolume(vol_xml('t.raw', 4096), opts())
        r, w = os.pipe()
        j = self.vol(v).Upload(dbus.types.UnixFd(r), opts())
        os.close(r)
        self.rec.clear()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.5:
            os.write(w, b'\x01' * 65536)
            time.sleep(0.005)
        os.close(w)
        self.assertEqual(self.wait_job(j), 'completed')
        self.rec.sync()
        # the job lived at most `lived` seconds (however slow the machine):
        # ≤ 10 reports a second plus the first and the last
        lived = time.monotonic() - t0
        changes = [e for e in self.rec.entries if e[0] == 'PropertiesChanged' and e[1] == str(j)]
        progress = [e for e in changes if 'ProcessedBytes' in e[3]]
        self.assertGreaterEqual(len(progress), 3)
        self.assertLessEqual(len(progress), 10 * lived + 2, '%d reports in %.1f s' % (len(progress), lived))
        self.assertEqual(changes[-1][3]['State'], 'completed')
        self.assertGreater(self.prop(v, VOL_IFACE, 'Capacity'), 1 << 20)

    def test_restart_during_clone(self):
        p, path = self.make_pool('rp')
        with open(os.path.join(path, 'src.raw'), 'wb') as f:
            for _ in range(64):
                f.write(os.urandom(1 << 20))
        self.pool(p).Refresh(opts())
        src = self.pool(p).GetVolume('src.raw')
        self.pool(p).CloneVolume(vol_xml('dst.qcow2', 0, fmt='qcow2'), src, opts())
        self.fx.daemon.kill()
        self.fx.daemon.start()
        self.wait_prop(p, POOL_IFACE, 'Active', True)
        deadline = time.monotonic() + 60
        while any(n.startswith('.') for n in os.listdir(path)):
            self.assertLess(time.monotonic(), deadline, os.listdir(path))
            time.sleep(0.2)
            self.pool(p).Refresh(opts())
        names = sorted(os.listdir(path))
        if 'dst.qcow2' in names:   # the copy had finished before the kill: then it is complete
            r = subprocess.run(['qemu-img', 'compare', '-q', os.path.join(path, 'src.raw'),
                                os.path.join(path, 'dst.qcow2')])
            self.assertEqual(r.returncode, 0)
        else:
            self.assertEqual(names, ['src.raw'])
            self.assertBusError('org.vmgmt.Error.NoSuchVolume', self.pool(p).GetVolume, 'dst.qcow2')


if __name__ == '__main__':
    main()
