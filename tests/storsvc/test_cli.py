# test_cli — vmgmtctl's pool-* and vol-* verbs against a real vmgmtd, in virsh's output formats.
import os
import unittest

from storsvc_util import StorageTestCase, POOL_IFACE
from vmgmt_harness import run_vmgmtctl


class CliTests(StorageTestCase):
    def ctl(self, *args, check=True):
        return run_vmgmtctl(self.fx.bus, *args, check=check)

    def test_pool_and_volume_verbs(self):
        target = os.path.join(self.pools_dir, 'cli')
        r = self.ctl('pool-define-as', 'cli', 'dir', '--target', target)
        self.assertEqual(r.stdout, 'Pool cli defined\n')
        self.assertEqual(self.ctl('pool-build', 'cli').stdout, 'Pool cli built\n')
        self.assertEqual(self.ctl('pool-start', 'cli').stdout, 'Pool cli started\n')
        self.assertEqual(self.ctl('pool-autostart', 'cli').stdout, 'Pool cli marked as autostarted\n')
        out = self.ctl('pool-list', '--all').stdout.splitlines()
        self.assertEqual(out[0].split(), ['Name', 'State', 'Autostart'])
        self.assertTrue(out[1].startswith('---'))
        self.assertIn(['cli', 'active', 'yes'], [l.split() for l in out[2:]])
        info = self.ctl('pool-info', 'cli').stdout
        self.assertIn('Name:           cli\n', info)
        self.assertIn('State:          running\n', info)
        self.assertRegex(info, r'Capacity:       [0-9.]+ [KMGTPE]?i?B\n')
        self.assertIn('<path>%s</path>' % target, self.ctl('pool-dumpxml', 'cli').stdout)

        self.assertEqual(self.ctl('vol-create-as', 'cli', 'a.qcow2', '16M', '--format', 'qcow2').stdout,
                         'Vol a.qcow2 created\n')
        self.assertEqual(self.ctl('vol-create-as', 'cli', 'b.raw', '1M').stdout, 'Vol b.raw created\n')
        self.assertEqual(self.ctl('vol-create-as', 'cli', 'c.qcow2', '16M', '--backing-vol', 'a.qcow2').stdout,
                         'Vol c.qcow2 created\n')
        self.assertIn('a.qcow2', self.ctl('vol-dumpxml', 'c.qcow2', '--pool', 'cli').stdout)
        lst = self.ctl('vol-list', 'cli').stdout.splitlines()
        self.assertEqual(lst[0].split(), ['Name', 'Path'])
        self.assertIn(['b.raw', os.path.join(target, 'b.raw')], [l.split() for l in lst[2:]])
        self.assertEqual(self.ctl('vol-path', 'b.raw', '--pool', 'cli').stdout, os.path.join(target, 'b.raw') + '\n')
        vi = self.ctl('vol-info', os.path.join(target, 'a.qcow2')).stdout
        self.assertEqual(vi.splitlines()[:3], ['Name:           a.qcow2', 'Type:           file',
                                               'Capacity:       16.00 MiB'])
        self.assertIn('<format type=\'qcow2\'/>', self.ctl('vol-dumpxml', 'a.qcow2', '--pool', 'cli').stdout)
        self.assertEqual(self.ctl('vol-resize', 'b.raw', '2M', '--pool', 'cli').stdout,
                         "Size of volume 'b.raw' successfully changed to 2M\n")
        self.assertEqual(os.path.getsize(os.path.join(target, 'b.raw')), 2 << 20)
        src = os.path.join(self.fx.tmp, 'src.bin')
        with open(src, 'wb') as f:
            f.write(bytes(range(256)) * 4096)
        self.ctl('vol-upload', 'b.raw', src, '--pool', 'cli')
        dst = os.path.join(self.fx.tmp, 'dst.bin')
        self.ctl('vol-download', 'b.raw', dst, '--pool', 'cli')
        with open(src, 'rb') as a, open(dst, 'rb') as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual(self.ctl('vol-clone', 'b.raw', 'd.raw', '--pool', 'cli').stdout,
                         'Vol d.raw cloned from b.raw\n')
        with open(src, 'rb') as a, open(os.path.join(target, 'd.raw'), 'rb') as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual(self.ctl('vol-wipe', 'd.raw', '--pool', 'cli').stdout, 'Vol d.raw wiped\n')
        r = self.ctl('vol-delete', 'nosuch', '--pool', 'cli', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('nosuch', r.stderr)
        for v in ('a.qcow2', 'b.raw', 'c.qcow2', 'd.raw'):
            self.assertEqual(self.ctl('vol-delete', v, '--pool', 'cli').stdout, 'Vol %s deleted\n' % v)
        self.assertEqual(self.ctl('pool-refresh', 'cli').stdout, 'Pool cli refreshed\n')
        self.assertEqual(self.ctl('pool-destroy', 'cli').stdout, 'Pool cli destroyed\n')
        self.assertEqual(self.ctl('pool-delete', 'cli').stdout, 'Pool cli deleted\n')
        self.assertEqual(self.ctl('pool-undefine', 'cli').stdout, 'Pool cli has been undefined\n')
        r = self.ctl('pool-info', 'cli', check=False)
        self.assertNotEqual(r.returncode, 0)

    def test_define_from_file(self):
        x = os.path.join(self.fx.tmp, 'p.xml')
        with open(x, 'w') as f:
            f.write("<pool type='dir'><name>fp</name><target><path>%s/fp</path></target></pool>" % self.pools_dir)
        self.assertEqual(self.ctl('pool-define', x).stdout, 'Pool fp defined from %s\n' % x)
        self.ctl('pool-build', 'fp')
        self.ctl('pool-start', 'fp')
        v = os.path.join(self.fx.tmp, 'v.xml')
        with open(v, 'w') as f:
            f.write("<volume><name>v1</name><capacity unit='KiB'>64</capacity></volume>")
        self.assertEqual(self.ctl('vol-create', 'fp', v).stdout, 'Vol v1 created from %s\n' % v)
        self.assertEqual(os.path.getsize(os.path.join(self.pools_dir, 'fp', 'v1')), 65536)

    def test_progress_bar_on_terminal(self):
        import pty
        import subprocess
        from vmgmt_harness import VMGMTCTL, _child_env
        p, path = self.make_pool('bar')
        with open(os.path.join(path, 'src.raw'), 'wb') as f:
            f.write(os.urandom(8 << 20))
        self.ctl('pool-refresh', 'bar')
        master, slave = pty.openpty()
        proc = subprocess.run([VMGMTCTL, 'vol-clone', 'src.raw', 'dst.raw', '--pool', 'bar'], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=slave, timeout=60,
                              env=_child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address}))
        os.close(slave)
        out = b''
        try:
            while True:
                chunk = os.read(master, 4096)
                if not chunk:
                    break
                out += chunk
        except OSError:
            pass
        os.close(master)
        self.assertEqual(proc.returncode, 0, out)
        self.assertEqual(proc.stdout.decode(), 'Vol dst.raw cloned from src.raw\n')
        self.assertIn(b'Progress: [========================================] 100 %', out)
        # not on a terminal: no bar
        r = self.ctl('vol-clone', 'src.raw', 'dst2.raw', '--pool', 'bar')
        self.assertNotIn('Progress', r.stderr)


if __name__ == '__main__':
    unittest.main(verbosity=2)
