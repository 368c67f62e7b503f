# test_disk_full — a full disk on a small tmpfs of the test's own (private mount namespace): clear errors, nothing half-made.
import os
import sys

if os.environ.get('STORSVC_MOUNT_NS') != '1':
    # a private mount namespace, so the small filesystem is ours alone and goes with us
    os.environ['STORSVC_MOUNT_NS'] = '1'
    os.execvp('unshare', ['unshare', '-m', '--propagation', 'private', sys.executable,
                          os.path.abspath(__file__)] + sys.argv[1:])

import subprocess  # noqa: E402
import unittest  # noqa: E402

from storsvc_util import StorageTestCase, pool_xml, vol_xml, opts, VOL_IFACE, JOB_IFACE  # noqa: E402
from vmgmt_harness import main  # noqa: E402
import dbus  # noqa: E402


class DiskFullTests(StorageTestCase):
    def setUp(self):
        super().setUp()
        self.small = os.path.join(self.pools_dir, 'small')
        os.makedirs(self.small)
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=8m', 'storsvc-small', self.small], check=True)
        self.addCleanup(lambda: subprocess.run(['umount', '-l', self.small]))
        self.sp = self.manager.DefinePool(pool_xml('small', self.small), opts())
        self.pool(self.sp).Start(opts())

    def leftovers(self):
        return sorted(os.listdir(self.small))

    def test_allocated_create(self):
        msg = self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(self.sp).CreateVolume,
                                  vol_xml('big', 16, unit='MiB', allocation=16), opts())
        self.assertIn('space', msg)
        self.assertEqual(self.leftovers(), [])
        self.assertBusError('org.vmgmt.Error.NoSuchVolume', self.pool(self.sp).GetVolume, 'big')

    def test_clone_and_upload(self):
        p, path = self.make_pool('src')
        with open(os.path.join(path, 'data.raw'), 'wb') as f:
            f.write(os.urandom(16 << 20))
        self.pool(p).Refresh(opts())
        src = self.pool(p).GetVolume('data.raw')
        j = self.pool(self.sp).CloneVolume(vol_xml('copy.raw', 0), src, opts())
        self.assertEqual(self.wait_job(j), 'failed')
        err = self.prop(j, JOB_IFACE, 'Error')
        self.assertIn('space', err)
        self.assertEqual(self.leftovers(), [])
        self.assertBusError('org.vmgmt.Error.NoSuchVolume', self.pool(self.sp).GetVolume, 'copy.raw')

        # an upload that does not fit keeps the old content
        v = self.pool(self.sp).CreateVolume(vol_xml('small.raw', 4096), opts())
        vpath = self.prop(v, VOL_IFACE, 'Path')
        with open(vpath, 'wb') as f:
            f.write(b'old!' * 1024)
        with open(os.path.join(path, 'data.raw'), 'rb') as f:
            j = self.vol(v).Upload(dbus.types.UnixFd(f.fileno()), opts())
        self.assertEqual(self.wait_job(j), 'failed')
        self.assertIn('space', self.prop(j, JOB_IFACE, 'Error'))
        self.assertEqual(self.leftovers(), ['small.raw'])
        with open(vpath, 'rb') as f:
            self.assertEqual(f.read(), b'old!' * 1024)


if __name__ == '__main__':
    main()
