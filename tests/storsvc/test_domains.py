# test_domains — domains on storage volumes: <disk type='volume'> resolved at start, a guest booting with a
# qcow2 volume cloned from a base image, and refusals for volumes a running domain uses.
import os
import subprocess
import time
import unittest

from storsvc_util import StorageTestCase, vol_xml, opts, POOL_IFACE, VOL_IFACE, JOB_IFACE, dbus_error_name
from vmgmt_harness import main  # noqa: E402
from vmgmt_harness import guest_domain_xml, GUEST_READY, cmdline
import dbus

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly


def with_volume_disk(xml, pool, volume, fmt='qcow2'):
    disk = ("<disk type='volume' device='disk'><driver name='qemu' type='%s'/>"
            "<source pool='%s' volume='%s'/><target dev='vda' bus='virtio'/></disk>" % (fmt, pool, volume))
    return xml.replace('<devices>', '<devices>' + disk, 1)


class DomainVolumeTests(StorageTestCase):
    def test_boot_from_cloned_qcow2(self):
        p, path = self.make_pool('gp')
        pool = self.pool(p)
        # a base image made by hand, found by refresh, holding a marker at its start
        marker = 'VMGMT-MARKER-%s' % os.urandom(8).hex()
        raw = os.path.join(self.fx.tmp, 'base.raw')
        with open(raw, 'wb') as f:
            f.write(marker.encode() + b'\n')
            f.truncate(64 << 20)
        base = os.path.join(path, 'base.qcow2')
        subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, base], check=True)
        subprocess.run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x5a 1M 1M', base], check=True,
                       stdout=subprocess.DEVNULL)
        pool.Refresh(opts())
        src = pool.GetVolume('base.qcow2')
        j = pool.CloneVolume(vol_xml('vm.qcow2', 64, fmt='qcow2', unit='MiB'), src, opts())
        self.assertEqual(self.wait_job(j), 'completed')
        v = pool.GetVolume('vm.qcow2')
        vpath = self.prop(v, VOL_IFACE, 'Path')
        self.assertEqual(subprocess.run(['qemu-img', 'compare', '-q', base, vpath]).returncode, 0)

        d = self.manager.DefineDomain(with_volume_disk(guest_domain_xml('vg'), 'gp', 'vm.qcow2'), opts())
        dom = self.client.domain(d)
        # the persistent definition keeps the volume reference
        self.assertIn("pool='gp'", str(dom.GetXML(opts(inactive=True))))
        dom.Start(opts())
        self.client.wait_state(d, 'running')
        con = self.fx.console(d)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        # the guest itself reads the clone: the base's marker at the start of its /dev/vda
        con.send('head -c %d /dev/vda' % len(marker))
        con.wait_for(marker, 30)
        pids = self.fx.qemu_pids()
        self.assertEqual(len(pids), 1)
        # vmgmtd opened the volume's file: qemu has an fd, its argv no path
        self.assertNotIn(vpath, ' '.join(cmdline(pids[0])))
        self.assertIn('filename=/dev/fdset/', ' '.join(cmdline(pids[0])))
        fds = [os.readlink('/proc/%d/fd/%s' % (pids[0], f)) for f in os.listdir('/proc/%d/fd' % pids[0])]
        self.assertIn(vpath, fds)

        # in use: no delete, no shrink, no wipe, no upload; growing is fine
        for fn, args in ((self.vol(v).Delete, (opts(),)),
                         (self.vol(v).Resize, (dbus.UInt64(32 << 20), opts(shrink=True))),
                         (self.vol(v).Wipe, (opts(),))):
            msg = self.assertBusError('org.vmgmt.Error.Busy', fn, *args)
            self.assertIn("'vg'", msg)
        # qemu holds the qcow2's lock: growing it under the guest is refused too
        msg = self.assertBusError('org.vmgmt.Error.Busy', self.vol(v).Resize, dbus.UInt64(128 << 20), opts())
        self.assertIn("'vg'", msg)
        self.assertEqual(self.prop(v, VOL_IFACE, 'Capacity'), 64 << 20)
        self.assertTrue(os.path.exists(vpath))
        # nor can its pool be stopped under it (nor the pool of its backing file)
        msg = self.assertBusError('org.vmgmt.Error.Busy', pool.Stop, opts())
        self.assertIn("running domain 'vg'", msg)
        self.assertTrue(self.prop(p, POOL_IFACE, 'Active'))
        self.assertTrue(os.path.exists(vpath))

        dom.Destroy(opts())
        self.client.wait_state(d, 'shutoff')
        pool.Stop(opts())
        pool.Start(opts())
        v = pool.GetVolume('vm.qcow2')
        self.vol(v).Delete(opts())
        self.assertFalse(os.path.exists(vpath))
        # a missing volume fails the start with a clear message
        msg = self.assertBusError('org.vmgmt.Error.OperationFailed', dom.Start, opts())
        self.assertIn('vm.qcow2', msg)

    def test_missing_pool(self):
        d = self.manager.DefineDomain(with_volume_disk(guest_domain_xml('np'), 'nopool', 'x'), opts())
        with self.assertRaises(dbus.DBusException) as cm:
            self.client.domain(d).Start(opts())
        self.assertIn('nopool', str(cm.exception))
        self.assertEqual(self.client.state(d)[0], 'shutoff')


if __name__ == '__main__':
    main()
