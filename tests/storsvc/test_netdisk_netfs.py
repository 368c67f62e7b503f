# test_netdisk_netfs — <disk type='network'> with protocol='nfs' (qemu's libnfs client against an
# nfs-ganesha of the test's, FSAL VFS, with its own rpcbind) and protocol='gluster' (qemu's gfapi
# client against the glusterd of gluster_server.py): the booted busybox guest reads a pattern
# written into the image through /dev/vda, qemu holding no fd of it (it opens no host file), and
# the guest's writes land in the image. Everything runs in namespaces of the test's own: network
# (rpcbind's port 111, ganesha on 127.0.0.1, glusterd on 192.0.2.1 of our loopback), mount
# (rpcbind's and glusterd's state on tmpfs) and pid (nothing they start outlives the test).
import os
import sys

if os.environ.get('STORSVC_NETDISK_NS') != '1':
    os.environ['STORSVC_NETDISK_NS'] = '1'
    os.execvp('unshare', ['unshare', '-n', '-m', '-p', '-f', '--mount-proc', '--propagation', 'private',
                          sys.executable, os.path.abspath(__file__)] + sys.argv[1:])

import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import storsvc_util  # noqa: F401,E402  (puts tests/integration on sys.path)
from vmgmt_harness import (GUEST_READY, VmgmtTestCase, cmdline, guest_domain_xml, guest_image, main,  # noqa: E402
                           opts, skip_missing)

BOOT_TIMEOUT = 240
WAIT = 120
MiB = 1 << 20
MODULE_DIR = '/usr/lib/x86_64-linux-gnu/qemu'


def need_module(name):
    path = os.path.join(MODULE_DIR, 'block-%s.so' % name)
    if not os.path.exists(path):
        skip_missing(path, 'qemu-block-extra')


def with_disk(xml, disk):
    return xml.replace('<devices>', '<devices>' + disk, 1)


def qemu_files(pid):
    out = []
    d = '/proc/%d/fd' % pid
    for fd in os.listdir(d):
        try:
            out.append(os.readlink(os.path.join(d, fd)))
        except OSError:
            pass
    return out


class GuestDisk(VmgmtTestCase):
    """Boots a guest with the network disk vda; checks reads and writes through it."""

    def vm_qemu_pid(self):
        pids = [p for p in self.fx.qemu_pids() if 'qemu-system' in ' '.join(cmdline(p))]
        self.assertEqual(len(pids), 1)
        return pids[0]

    def guest_run(self, con, command, token):
        con.send("echo %s_B''EGIN; %s; echo %s_E''ND" % (token, command, token))
        con.wait_for(token + '_BEGIN', WAIT)
        start = con.mark
        con.wait_for(token + '_END', WAIT)
        return con.buf[start:con.mark]

    def check_guest_disk(self, name, disk, pattern, read_image, image_path=None):
        path = self.define(with_disk(guest_domain_xml(name), disk))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        if image_path:
            self.assertNotIn(os.path.realpath(image_path), qemu_files(self.vm_qemu_pid()))
        out = self.guest_run(con, 'dd if=/dev/vda bs=%d count=1 2>/dev/null' % len(pattern), 'RD')
        self.assertIn(pattern, out)
        con.send("echo guest-wrote-through-netfs | dd of=/dev/vda bs=512 seek=8 conv=fsync 2>/dev/null; echo W''D")
        con.wait_for('WD', WAIT)
        deadline = time.monotonic() + WAIT
        while read_image(4096, 26) != b'guest-wrote-through-netfs\n':
            self.assertLess(time.monotonic(), deadline, 'the guest write never reached the image')
            time.sleep(0.2)
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')


class NetdiskNfs(GuestDisk):
    ganesha = None

    @classmethod
    def setUpClass(cls):
        need_module('nfs')
        from nfs_ganesha import Ganesha
        guest_image()
        subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', '/run'], check=True)
        cls.ganesha = Ganesha()
        try:
            cls.ganesha.start()
        except BaseException:
            cls.ganesha.stop()
            raise
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if cls.ganesha:
            cls.ganesha.stop()
            assert cls.ganesha.running() == []

    def test_nfs_guest_reads_and_writes(self):
        g = self.ganesha
        img = g.path('nfs-disk.img')
        pattern = b'netdisk-nfs-pattern-a71c'
        with open(img, 'wb') as f:
            f.truncate(16 * MiB)
            f.write(pattern)
        os.chmod(img, 0o666)   # qemu's own uid over AUTH_SYS

        def read_image(off, n):
            with open(img, 'rb') as f:
                f.seek(off)
                return f.read(n)
        disk = ("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                "<source protocol='nfs' name='%s/nfs-disk.img'><host name='%s'/></source>"
                "<target dev='vda' bus='virtio'/></disk>" % (g.export_path, g.host))
        self.check_guest_disk('nfs1', disk, pattern, read_image, img)


class NetdiskGluster(GuestDisk):
    gluster = None

    @classmethod
    def setUpClass(cls):
        need_module('gluster')
        if not shutil.which('glusterd'):
            skip_missing('glusterd', 'glusterfs-server')
        from gluster_server import Glusterd
        guest_image()
        cls.gluster = Glusterd()
        try:
            cls.gluster.start()
        except BaseException:
            cls.gluster.stop()
            raise
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        from gluster_server import gluster_processes
        super().tearDownClass()
        if cls.gluster:
            cls.gluster.stop()
            assert gluster_processes() == {}, gluster_processes()

    def test_gluster_guest_reads_and_writes(self):
        from gluster_server import HOST
        url = 'gluster://%s/v0/gl-disk.img' % HOST
        r = subprocess.run(['qemu-img', 'create', '-f', 'raw', url, '16M'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stdout)
        r = subprocess.run(['qemu-io', '-f', 'raw', '-c', 'write -P 0x47 0 4k', url], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stdout)
        brick_file = os.path.join(self.gluster.brick, 'gl-disk.img')
        os.chmod(brick_file, 0o666)   # a confined qemu has a uid of its own

        def read_image(off, n):
            with open(brick_file, 'rb') as f:
                f.seek(off)
                return f.read(n)
        disk = ("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                "<source protocol='gluster' name='v0/gl-disk.img'><host name='%s' port='24007'/></source>"
                "<target dev='vda' bus='virtio'/></disk>" % HOST)
        self.check_guest_disk('gl1', disk, b'G' * 32, read_image, brick_file)


if __name__ == '__main__':
    main()
