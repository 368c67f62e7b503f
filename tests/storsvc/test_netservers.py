# test_netservers — the network storage servers of tests/storsvc/netservers.py
# work and leave nothing behind: tgtd serves a backing-file LUN (plain and
# with CHAP) that qemu's own iSCSI client (libiscsi, qemu-block-extra) reads,
# and the one-node Ceph cluster serves an rbd image that qemu's rbd client
# (librbd) reads with the client key; after stop() none of their processes
# runs and their directories are gone.
import os
import shutil
import subprocess
import tempfile
import unittest

from storsvc_util import *  # noqa: F401,F403 (the harness: cleanup on SIGTERM)
from vmgmt_harness import main, skip_missing  # noqa: F401
from netservers import TgtServer, CephCluster

MiB = 1 << 20


def qemu_img_info(spec):
    return subprocess.run(['qemu-img', 'info', '--output=json', spec], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=120)


def processes_under(d):
    """pids whose command line names directory d."""
    found = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as f:
                if d.encode() in f.read():
                    found.append(int(p))
        except OSError:
            pass
    return found


def need_qemu_block(driver, package='qemu-block-extra'):
    mod = '/usr/lib/x86_64-linux-gnu/qemu/block-%s.so' % driver
    if not os.path.exists(mod):
        skip_missing(mod, package)


class NetServerTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='vmgmt-netservers-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def assertGone(self, server):
        d = server.dir
        self.assertEqual(server.running(), [])
        self.assertEqual(processes_under(d), [])
        self.assertFalse(os.path.exists(d), d)

    def test_tgt(self):
        need_qemu_block('iscsi')
        tgt = TgtServer(self.tmp)
        self.addCleanup(tgt.stop)
        tgt.start()
        plain = tgt.add_target('plain', luns=[64 * MiB, 8 * MiB])
        chap = tgt.add_target('chap', luns=[16 * MiB], user='vmgmtuser', password='s3cret-pw')

        r = qemu_img_info(tgt.url(plain, 1))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"virtual-size": %d' % (64 * MiB), r.stdout)
        r = qemu_img_info(tgt.url(plain, 2))
        self.assertIn('"virtual-size": %d' % (8 * MiB), r.stdout)
        # written through iSCSI, found in the backing file
        r = subprocess.run(['qemu-io', '-f', 'raw', '-c', 'write -P 0x5a 0 64k', tgt.url(plain, 2)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        with open(tgt.lun_path(plain, 2), 'rb') as f:
            self.assertEqual(f.read(65536), b'\x5a' * 65536)

        r = qemu_img_info(tgt.url(chap, 1))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"virtual-size": %d' % (16 * MiB), r.stdout)
        r = qemu_img_info(tgt.url(chap, 1, user='vmgmtuser', password='wrong'))
        self.assertNotEqual(r.returncode, 0, 'CHAP with a wrong password logged in')
        r = qemu_img_info(tgt.url(chap, 1, user=''))
        self.assertNotEqual(r.returncode, 0, 'no CHAP logged in')

        tgt.stop()
        self.assertGone(tgt)

    def test_ceph(self):
        need_qemu_block('rbd')
        ceph = CephCluster(self.tmp, pool='vmpool', client='vmgmt')
        self.addCleanup(ceph.stop)
        ceph.start()
        ceph.rbd('create', '--size', '64M', 'vmpool/img1')
        self.assertEqual(ceph.rbd_images(), ['img1'])
        self.assertEqual(ceph.rbd_image_size('img1'), 64 * MiB)
        self.assertIsNone(ceph.rbd_image_size('nothere'))

        r = qemu_img_info(ceph.qemu_spec('img1'))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"virtual-size": %d' % (64 * MiB), r.stdout)
        # qemu-img creates an image as the client: the key is good for the pool
        r = subprocess.run(['qemu-img', 'create', '-f', 'raw', ceph.qemu_spec('img2'), '8M'],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(ceph.rbd_image_size('img2'), 8 * MiB)
        # cephx is on: another key is refused (librados keeps trying until its
        # mount timeout, which only bounds how long this takes)
        other = subprocess.run(['ceph-authtool', '--gen-print-key'], stdout=subprocess.PIPE,
                               universal_newlines=True, check=True).stdout.strip()
        r = qemu_img_info(ceph.qemu_spec('img1').replace(ceph.client_key, other) + ':client_mount_timeout=20')
        self.assertNotEqual(r.returncode, 0, 'a wrong cephx key was accepted')
        self.assertIn('error connecting', r.stderr)

        ceph.stop()
        self.assertGone(ceph)


if __name__ == '__main__':
    main()
