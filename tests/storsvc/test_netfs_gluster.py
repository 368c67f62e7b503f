# test_netfs_gluster — netfs pools with <format type='glusterfs'/> through the
# bus: a real glusterd serving a one-brick volume, mounted (FUSE, through
# mount.glusterfs) and unmounted by vmgmtd. Everything runs in namespaces of
# the test's own: network (glusterd listens on 192.0.2.1 on our loopback:
# gluster refuses 127.0.0.1 as a brick host), mount (glusterd's state, logs
# and sockets on tmpfs; the pool mounts) and pid (nothing gluster starts can
# outlive the test; the test also stops all of it itself and checks).
import os
import sys

if os.environ.get('STORSVC_GLUSTER_NS') != '1':
    os.environ['STORSVC_GLUSTER_NS'] = '1'
    os.execvp('unshare', ['unshare', '-n', '-m', '-p', '-f', '--mount-proc', '--propagation', 'private',
                          sys.executable, os.path.abspath(__file__)] + sys.argv[1:])

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402

from storsvc_util import StorageTestCase, vol_xml, opts, POOL_IFACE, VOL_IFACE  # noqa: E402
from vmgmt_harness import main, skip_missing  # noqa: E402
from gluster_server import HOST, Glusterd, gluster_processes  # noqa: E402

MiB = 1 << 20


def gluster_pool_xml(name, volume, target, port=None):
    host = "<host name='%s'%s/>" % (HOST, " port='%d'" % port if port else '')
    return ("<pool type='netfs'><name>%s</name><source>%s<dir path='/%s'/><format type='glusterfs'/></source>"
            "<target><path>%s</path></target></pool>\n" % (name, host, volume, target))


def mount_entry(target):
    """(fstype, source) of what is mounted on target, from /proc/self/mountinfo; None when nothing."""
    found = None
    with open('/proc/self/mountinfo') as f:
        for line in f:
            fields = line.split()
            dash = fields.index('-')
            if fields[4].replace('\\040', ' ') == target:
                found = (fields[dash + 1], fields[dash + 2])   # the last one is on top
    return found


class GlusterPoolTests(StorageTestCase):
    gluster = None

    @classmethod
    def setUpClass(cls):
        if not shutil.which('glusterd'):
            skip_missing('glusterd', 'glusterfs-server')
        if not os.path.exists('/sbin/mount.glusterfs'):
            skip_missing('/sbin/mount.glusterfs', 'glusterfs-client')
        cls.gluster = Glusterd()
        try:
            cls.gluster.start()
        except BaseException:
            cls.gluster.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.gluster:
            cls.gluster.stop()
            assert gluster_processes() == {}, gluster_processes()

    def target(self, name):
        t = os.path.join(self.pools_dir, name)
        self.addCleanup(subprocess.run, ['umount', '-q', t], stderr=subprocess.DEVNULL)
        return t

    def wait_no_client(self, timeout=60):
        """The FUSE client of an unmounted (or failed) mount goes away."""
        deadline = time.monotonic() + timeout
        while any(c == 'glusterfs' for c in gluster_processes().values()):
            if time.monotonic() > deadline:
                self.fail('a glusterfs client still runs: %r' % gluster_processes())
            time.sleep(0.1)

    def test_gluster_pool_lifecycle(self):
        target = self.target('gl')
        p = self.manager.DefinePool(gluster_pool_xml('gl', 'v0', target, port=24007), opts())
        pool = self.pool(p)
        self.assertEqual(self.prop(p, POOL_IFACE, 'Type'), 'netfs')
        self.assertIn("<format type='glusterfs'/>", pool.GetXML(opts()))
        pool.Build(opts())
        self.assertIsNone(mount_entry(target))

        # Start: vmgmtd mounts the volume through the FUSE client
        pool.Start(opts())
        self.assertEqual(mount_entry(target), ('fuse.glusterfs', '%s:/v0' % HOST))
        props = self.props(p, POOL_IFACE)
        self.assertTrue(props['Active'])
        self.assertGreater(props['Capacity'], 0)
        self.assertEqual([str(v) for v in pool.ListVolumes(opts())], [])

        raw = pool.CreateVolume(vol_xml('a.raw', 4, unit='MiB', allocation=4), opts())
        qcow = pool.CreateVolume(vol_xml('b.qcow2', 1, fmt='qcow2', unit='GiB'), opts())
        self.assertEqual(self.prop(raw, VOL_IFACE, 'Path'), os.path.join(target, 'a.raw'))
        self.assertEqual(self.prop(qcow, VOL_IFACE, 'Format'), 'qcow2')
        # the files are on the brick, i.e. really in the gluster volume
        brick = self.gluster.brick
        self.assertEqual(os.stat(os.path.join(brick, 'a.raw')).st_size, 4 * MiB)
        info = json.loads(subprocess.run(['qemu-img', 'info', '--output=json', '-U', os.path.join(brick, 'b.qcow2')],
                                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout)
        self.assertEqual((info['format'], info['virtual-size']), ('qcow2', 1024 * MiB))

        # a file put there by hand (through the mount) is found by Refresh
        with open(os.path.join(target, 'hand.img'), 'wb') as f:
            f.truncate(2 * MiB)
        pool.Refresh(opts())
        names = sorted(self.prop(v, VOL_IFACE, 'Name') for v in pool.ListVolumes(opts()))
        self.assertEqual(names, ['a.raw', 'b.qcow2', 'hand.img'])
        self.assertTrue(os.path.exists(os.path.join(brick, 'hand.img')))

        # Stop unmounts it; the FUSE client goes; the data stays on the brick
        pool.Stop(opts())
        self.assertIsNone(mount_entry(target))
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))
        self.assertEqual(os.listdir(target), [])
        self.wait_no_client()
        self.assertTrue(os.path.exists(os.path.join(brick, 'a.raw')))

        # started again: mounted again, the volumes are back
        pool.Start(opts())
        self.assertEqual(mount_entry(target), ('fuse.glusterfs', '%s:/v0' % HOST))
        self.assertEqual(sorted(self.prop(v, VOL_IFACE, 'Name') for v in pool.ListVolumes(opts())),
                         ['a.raw', 'b.qcow2', 'hand.img'])
        pool.Stop(opts())
        self.assertIsNone(mount_entry(target))
        self.wait_no_client()

    def test_bad_volume_name(self):
        target = self.target('nosuch')
        p = self.manager.DefinePool(gluster_pool_xml('nosuch', 'nosuchvol', target), opts())
        self.pool(p).Build(opts())
        msg = self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(p).Start, opts())
        self.assertIn("cannot mount the export on '%s' for pool 'nosuch'" % target, msg)
        self.assertIn('glusterfs', msg)   # mount.glusterfs's own words follow
        self.assertIsNone(mount_entry(target))
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))
        self.wait_no_client()

    def test_unknown_format_refused(self):
        xml = gluster_pool_xml('fmt', 'v0', os.path.join(self.pools_dir, 'fmt')).replace("'glusterfs'", "'gluster'")
        msg = self.assertBusError('org.vmgmt.Error.InvalidXML', self.manager.DefinePool, xml, opts())
        self.assertIn("invalid value 'gluster'", msg)
        self.assertIn('glusterfs', msg)   # the allowed formats are named
        self.assertEqual([str(x) for x in self.manager.ListPools(opts())
                          if str(x).endswith('fmt')], [])


if __name__ == '__main__':
    main()
