# test_fs_pools — fs pools through the bus: a loop device over a file of the
# test's own, made into ext4 by the pool's Build and mounted/unmounted by
# vmgmtd; failed starts (wrong type, no device, a filesystem that fails
# after it was mounted) leave nothing mounted; netfs without NFS in the
# kernel fails clearly. Private mount namespace: every mount goes with us.
import os
import sys

if os.environ.get('STORSVC_MOUNT_NS') != '1':
    os.environ['STORSVC_MOUNT_NS'] = '1'
    os.execvp('unshare', ['unshare', '-m', '--propagation', 'private', sys.executable,
                          os.path.abspath(__file__)] + sys.argv[1:])

import subprocess  # noqa: E402
import unittest  # noqa: E402

from storsvc_util import StorageTestCase, vol_xml, opts, POOL_IFACE, VOL_IFACE  # noqa: E402
from vmgmt_harness import main  # noqa: E402

MiB = 1 << 20


def fs_pool_xml(name, device, target, fmt='ext4'):
    return ("<pool type='fs'><name>%s</name><source><device path='%s'/><format type='%s'/></source>"
            "<target><path>%s</path></target></pool>\n" % (name, device, fmt, target))


def mounted_source(target):
    """What is mounted on target ('' when nothing), from our mount table."""
    r = subprocess.run(['findmnt', '-n', '-o', 'SOURCE', '--mountpoint', target], stdout=subprocess.PIPE,
                       universal_newlines=True)
    return r.stdout.strip()


class FsPoolTests(StorageTestCase):
    def setUp(self):
        super().setUp()
        self.image = os.path.join(self.fx.tmp, 'fs.img')
        with open(self.image, 'wb') as f:
            f.truncate(64 * MiB)
        self.loop = None

    def attach(self):
        r = subprocess.run(['losetup', '--find', '--show', self.image], stdout=subprocess.PIPE,
                           universal_newlines=True, check=True)
        self.loop = r.stdout.strip()
        self.assertTrue(self.loop.startswith('/dev/loop'), self.loop)
        # exactly the device this test attached
        self.addCleanup(subprocess.run, ['losetup', '-d', self.loop])
        return self.loop

    def target(self, name):
        t = os.path.join(self.pools_dir, name)
        self.addCleanup(subprocess.run, ['umount', '-q', t], stderr=subprocess.DEVNULL)
        return t

    def assertNothingMounted(self, target):
        self.assertEqual(mounted_source(target), '', 'still mounted on %s' % target)

    def test_fs_pool_lifecycle(self):
        loop = self.attach()
        target = self.target('fsp')
        p = self.manager.DefinePool(fs_pool_xml('fsp', loop, target), opts())
        pool = self.pool(p)
        self.assertEqual(self.prop(p, POOL_IFACE, 'Type'), 'fs')
        # Build makes the filesystem (the device is blank), and not again over it
        pool.Build(opts(no_overwrite=True))
        self.assertEqual(subprocess.run(['blkid', '-p', '-o', 'value', '-s', 'TYPE', loop], stdout=subprocess.PIPE,
                                        universal_newlines=True).stdout.strip(), 'ext4')
        msg = self.assertBusError('org.vmgmt.Error.AlreadyExists', pool.Build, opts(no_overwrite=True))
        self.assertIn('already holds a ext4 filesystem', msg)
        self.assertNothingMounted(target)

        # Start mounts it
        pool.Start(opts())
        self.assertEqual(mounted_source(target), loop)
        props = self.props(p, POOL_IFACE)
        self.assertTrue(props['Active'])
        self.assertGreater(props['Capacity'], 40 * MiB)
        self.assertLessEqual(props['Capacity'], 64 * MiB)
        self.assertEqual([str(v) for v in pool.ListVolumes(opts())], [])   # lost+found is no volume
        raw = pool.CreateVolume(vol_xml('a.raw', 4, unit='MiB', allocation=4), opts())
        qcow = pool.CreateVolume(vol_xml('b.qcow2', 1, fmt='qcow2', unit='GiB'), opts())
        self.assertEqual(self.prop(qcow, VOL_IFACE, 'Format'), 'qcow2')
        self.assertEqual(self.prop(raw, VOL_IFACE, 'Path'), os.path.join(target, 'a.raw'))
        self.assertTrue(os.path.exists(os.path.join(target, 'b.qcow2')))
        self.assertEqual(subprocess.run(['findmnt', '-n', '-o', 'SOURCE', '-T', os.path.join(target, 'a.raw')],
                                        stdout=subprocess.PIPE, universal_newlines=True).stdout.strip(), loop)

        # Stop unmounts it: the files stay on the device, not in the directory
        pool.Stop(opts())
        self.assertNothingMounted(target)
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))
        self.assertEqual(os.listdir(target), [])
        # started again (as after a reboot): mounted again, the volumes are back
        pool.Start(opts())
        self.assertEqual(mounted_source(target), loop)
        self.assertEqual(sorted(self.prop(v, VOL_IFACE, 'Name') for v in pool.ListVolumes(opts())),
                         ['a.raw', 'b.qcow2'])
        # a daemon restart adopts the mount instead of mounting twice
        self.fx.daemon.restart()
        self.wait_prop(p, POOL_IFACE, 'Active', True)
        self.assertEqual(mounted_source(target), loop)
        self.stop_when_started(p)
        self.assertNothingMounted(target)

    def test_failed_starts_leave_nothing_mounted(self):
        loop = self.attach()
        subprocess.run(['mkfs.ext4', '-q', '-F', loop], check=True)
        # the wrong filesystem type: mount's words, nothing mounted
        target = self.target('wrong')
        os.makedirs(target)
        p = self.manager.DefinePool(fs_pool_xml('wrong', loop, target, fmt='vfat'), opts())
        msg = self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(p).Start, opts())
        self.assertIn("cannot mount %s on '%s' for pool 'wrong'" % (loop, target), msg)
        self.assertNothingMounted(target)
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))
        # a device that is not there
        target2 = self.target('nodev')
        os.makedirs(target2)
        p2 = self.manager.DefinePool(fs_pool_xml('nodev', '/dev/vmgmt-no-such-disk', target2), opts())
        msg = self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(p2).Start, opts())
        self.assertIn('/dev/vmgmt-no-such-disk', msg)
        self.assertNothingMounted(target2)
        # a target that does not exist (never built); one pool per device
        self.pool(p).Undefine(opts())
        p3 = self.manager.DefinePool(fs_pool_xml('nobuild', loop, os.path.join(self.pools_dir, 'nobuild')), opts())
        self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(p3).Start, opts())
        self.assertNothingMounted(os.path.join(self.pools_dir, 'nobuild'))

    def test_failure_after_mount_unmounts(self):
        """The mount works but reading the pool's directory fails: the Start
        fails and unmounts what it mounted (and only that)."""
        # ext4 whose root directory's only block is the last one of the filesystem
        subprocess.run(['mkfs.ext4', '-q', '-F', '-b', '4096', '-E', 'lazy_itable_init=0,lazy_journal_init=0',
                        self.image], check=True)
        last = 64 * MiB // 4096 - 1
        out = subprocess.run(['debugfs', '-R', 'blocks <2>', self.image], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True, check=True).stdout.split()
        self.assertEqual(len(out), 1, out)
        subprocess.run(['dd', 'if=' + self.image, 'of=' + self.image, 'bs=4096', 'skip=' + out[0],
                        'seek=%d' % last, 'count=1', 'conv=notrunc', 'status=none'], check=True)
        for cmd in ('set_inode_field <2> block[5] %d' % last, 'setb %d' % last, 'freeb %s' % out[0]):
            subprocess.run(['debugfs', '-w', '-R', cmd, self.image], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
        subprocess.run(['e2fsck', '-fn', self.image], stdout=subprocess.DEVNULL, check=True)
        loop = self.attach()
        # mounted once by the test (the superblock stays in memory), then the
        # device loses its last block: the directory cannot be read any more
        held = os.path.join(self.fx.tmp, 'held')
        os.makedirs(held)
        subprocess.run(['mount', '-t', 'ext4', loop, held], check=True)
        self.addCleanup(subprocess.run, ['umount', held])
        os.truncate(self.image, last * 4096)
        subprocess.run(['losetup', '-c', loop], check=True)

        target = self.target('late')
        os.makedirs(target)
        p = self.manager.DefinePool(fs_pool_xml('late', loop, target), opts())
        msg = self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(p).Start, opts())
        self.assertIn("pool 'late'", msg)
        self.assertIn('scanning the target', msg)
        self.assertNothingMounted(target)
        self.assertEqual(mounted_source(held), loop)   # the test's own mount is not touched
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))

    def test_netfs_without_nfs(self):
        # this kernel may have no NFS client: the start fails with mount's words, nothing mounted
        target = self.target('nfs')
        xml = ("<pool type='netfs'><name>nfs</name><source><host name='127.0.0.1'/><dir path='/export/none'/>"
               "<format type='nfs'/></source><target><path>%s</path></target></pool>\n" % target)
        p = self.manager.DefinePool(xml, opts())
        self.pool(p).Build(opts())
        msg = self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(p).Start, opts())
        self.assertIn("cannot mount the export on '%s' for pool 'nfs'" % target, msg)
        with open('/proc/filesystems') as f:
            kernel_nfs = '\tnfs\n' in f.read() or os.path.exists('/sys/module/nfs') or \
                os.path.exists('/lib/modules/%s/kernel/fs/nfs' % os.uname().release)
        if not kernel_nfs:   # said before mount is tried, naming what is missing
            self.assertIn('the kernel has no NFS client', msg)
        self.assertNothingMounted(target)
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))


if __name__ == '__main__':
    main()
