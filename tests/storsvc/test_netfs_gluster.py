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
import tempfile  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402

from storsvc_util import StorageTestCase, vol_xml, opts, POOL_IFACE, VOL_IFACE  # noqa: E402
from vmgmt_harness import main, skip_missing  # noqa: E402

MiB = 1 << 20
HOST = '192.0.2.1'
GLUSTER_PROGS = ('glusterd', 'glusterfsd', 'glusterfs')


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


def gluster_processes():
    """{pid: comm} of the gluster programs alive in our pid namespace (zombies are dead)."""
    procs = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index('(') + 1:stat.rindex(')')]
        state = stat[stat.rindex(')') + 2]
        if comm in GLUSTER_PROGS and state != 'Z':
            procs[int(d)] = comm
    return procs


def reap(pid):
    """Daemons are reparented to us (pid 1 of the namespace): collect them."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def gluster(*args):
    return subprocess.run(['gluster', '--mode=script'] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)


class Glusterd:
    """glusterd with one started volume 'v0' on a brick directory of ours."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix='vmgmt-gluster-')
        self.brick = os.path.join(self.tmp, 'brick')
        self.pidfile = '/run/glusterd.pid'

    def start(self):
        subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
        subprocess.run(['ip', 'addr', 'add', HOST + '/32', 'dev', 'lo'], check=True)
        for d in ('/var/lib/glusterd', '/var/log/glusterfs', '/run'):
            os.makedirs(d, exist_ok=True)
            subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', d], check=True)
        os.makedirs('/run/gluster')
        subprocess.run(['glusterd', '-p', self.pidfile], check=True, timeout=60)
        self.wait_ready()
        r = gluster('volume', 'create', 'v0', '%s:%s' % (HOST, self.brick), 'force')
        if r.returncode != 0:
            raise RuntimeError('gluster volume create: ' + r.stdout)
        r = gluster('volume', 'start', 'v0')
        if r.returncode != 0:
            raise RuntimeError('gluster volume start: ' + r.stdout)

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while gluster('pool', 'list').returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError('glusterd did not answer')
            time.sleep(0.2)

    def stop(self):
        """Stops the volume (its brick daemon), then glusterd and anything
        gluster left: afterwards no gluster program runs."""
        try:
            gluster('volume', 'stop', 'v0')
        except subprocess.TimeoutExpired:
            pass   # no glusterd: what runs is killed below
        try:
            with open(self.pidfile) as f:
                os.kill(int(f.read().strip()), 15)
        except (OSError, ValueError):
            pass
        deadline = time.monotonic() + 20
        while True:
            procs = gluster_processes()
            for pid in procs:
                reap(pid)
            if not procs:
                break
            if time.monotonic() > deadline + 10:
                raise RuntimeError('gluster processes do not exit: %r' % procs)
            if time.monotonic() > deadline:
                for pid in procs:
                    os.kill(pid, 9)   # pids of our own pid namespace: only gluster's
            time.sleep(0.1)
        shutil.rmtree(self.tmp, ignore_errors=True)


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
