# test_cli — vmgmtctl's pool-* and vol-* verbs against a real vmgmtd, in virsh's output formats.
import json
import os
import time
import unittest

import dbus

from storsvc_util import StorageTestCase, POOL_IFACE
from vmgmt_harness import main  # noqa: E402
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


class CliMoreTests(StorageTestCase):
    """--json, pool-edit, vol-key, vol-name, --prealloc-metadata, --newpool, the signal-driven progress bar."""

    def ctl(self, *args, check=True, env=None):
        return run_vmgmtctl(self.fx.bus, *args, check=check, env=env)

    def test_json(self):
        p, path = self.make_pool('js')
        self.ctl('vol-create-as', 'js', 'a.qcow2', '16M', '--format', 'qcow2')
        self.ctl('vol-create-as', 'js', 'b.raw', '1M')
        pools = json.loads(self.ctl('--json=short', 'pool-list', '--all').stdout)
        mine = [x for x in pools if x['name'] == 'js']
        self.assertEqual(len(mine), 1, pools)
        self.assertEqual(mine[0]['state'], 'running')
        self.assertEqual(mine[0]['path'], path)
        self.assertEqual(mine[0]['type'], 'dir')
        self.assertTrue(mine[0]['active'] and mine[0]['persistent'])
        self.assertGreater(mine[0]['capacity'], 0)
        self.assertEqual(mine[0]['uuid'], self.prop(p, POOL_IFACE, 'UUID'))
        info = json.loads(self.ctl('--json=pretty', 'pool-info', 'js').stdout)
        self.assertEqual(info, dict(mine[0], capacity=info['capacity'], allocation=info['allocation'],
                                    available=info['available']))
        vols = json.loads(self.ctl('--json=short', 'vol-list', 'js').stdout)
        self.assertEqual([v['name'] for v in vols], ['a.qcow2', 'b.raw'])
        self.assertEqual(vols[0]['format'], 'qcow2')
        self.assertEqual(vols[0]['capacity'], 16 << 20)
        self.assertEqual(vols[1]['path'], os.path.join(path, 'b.raw'))
        self.assertEqual(vols[1]['type'], 'file')
        vi = json.loads(self.ctl('--json=pretty', 'vol-info', 'b.raw', '--pool', 'js').stdout)
        self.assertEqual(vi, vols[1])
        self.assertEqual(vi['key'], os.path.join(path, 'b.raw'))

    def test_key_name_prealloc_newpool(self):
        a, apath = self.make_pool('pa')
        b, bpath = self.make_pool('pb')
        self.ctl('vol-create-as', 'pa', 'plain.qcow2', '64M', '--format', 'qcow2')
        r = self.ctl('vol-create-as', 'pa', 'meta.qcow2', '64M', '--format', 'qcow2', '--prealloc-metadata')
        self.assertEqual(r.stdout, 'Vol meta.qcow2 created\n')
        # preallocated metadata: every L2 table is there, so the file is as long as the disk
        self.assertGreaterEqual(os.path.getsize(os.path.join(apath, 'meta.qcow2')), 64 << 20)
        self.assertLess(os.path.getsize(os.path.join(apath, 'plain.qcow2')), 1 << 20)
        r = self.ctl('vol-create-as', 'pa', 'meta.raw', '1M', '--prealloc-metadata', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('metadata preallocation is only for qcow2', r.stderr)
        self.assertFalse(os.path.exists(os.path.join(apath, 'meta.raw')))

        key = self.ctl('vol-key', 'plain.qcow2', '--pool', 'pa').stdout.strip()
        self.assertEqual(key, os.path.join(apath, 'plain.qcow2'))
        self.assertEqual(self.ctl('vol-name', key).stdout, 'plain.qcow2\n')
        r = self.ctl('vol-name', os.path.join(apath, 'nosuch'), check=False)
        self.assertNotEqual(r.returncode, 0)

        # a copy in another pool
        with open(os.path.join(apath, 'src.raw'), 'wb') as f:
            f.write(os.urandom(1 << 20))
        self.ctl('pool-refresh', 'pa')
        r = self.ctl('vol-clone', 'src.raw', 'copy.raw', '--pool', 'pa', '--newpool', 'pb')
        self.assertEqual(r.stdout, 'Vol copy.raw cloned from src.raw\n')
        with open(os.path.join(apath, 'src.raw'), 'rb') as x, open(os.path.join(bpath, 'copy.raw'), 'rb') as y:
            self.assertEqual(x.read(), y.read())
        self.assertFalse(os.path.exists(os.path.join(apath, 'copy.raw')))
        self.assertEqual(self.ctl('vol-path', 'copy.raw', '--pool', 'pb').stdout.strip(),
                         os.path.join(bpath, 'copy.raw'))

    def test_pool_edit(self):
        p, path = self.make_pool('ed', start=False)
        newpath = os.path.join(self.pools_dir, 'ed2')
        # an editor that changes nothing
        r = self.ctl('pool-edit', 'ed', env={'EDITOR': 'true', 'VISUAL': ''})
        self.assertEqual(r.stdout, 'Pool ed XML configuration not changed.\n')
        sed = {'VISUAL': "sed -i 's|<path>%s</path>|<path>%s</path>|'" % (path, newpath)}
        r = self.ctl('pool-edit', 'ed', env=sed)
        self.assertEqual(r.stdout, 'Pool ed XML configuration edited.\n')
        self.assertEqual(self.prop(p, POOL_IFACE, 'Path'), newpath)
        # an active pool takes the edit at its next start
        self.ctl('pool-build', 'ed')
        self.ctl('pool-start', 'ed')
        sed = {'VISUAL': "sed -i 's|<path>%s</path>|<path>%s</path>|'" % (newpath, path)}
        self.ctl('pool-edit', 'ed', env=sed)
        self.assertIn('<path>%s</path>' % newpath, self.ctl('pool-dumpxml', 'ed').stdout)
        self.assertIn('<path>%s</path>' % path, self.ctl('pool-dumpxml', 'ed', '--inactive').stdout)
        self.ctl('pool-destroy', 'ed')
        self.assertEqual(self.prop(p, POOL_IFACE, 'Path'), path)
        # an edit the service refuses: the error, and the edited text kept
        r = self.ctl('pool-edit', 'ed', env={'VISUAL': "sed -i 's|<pool |<pool bogus=\"1\" |'"}, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('bogus', r.stderr)
        kept = r.stderr.split('The edited definition was kept in ')[1].strip()
        with open(kept) as f:
            self.assertIn('bogus', f.read())
        os.unlink(kept)

    def test_progress_from_signals(self):
        # an upload from a FIFO the test feeds: the bar moves when the job's
        # PropertiesChanged say so, and vmgmtctl does not poll the job meanwhile
        import pty
        import select
        import subprocess
        from vmgmt_harness import VMGMTCTL, _child_env
        p, path = self.make_pool('sig')
        self.ctl('vol-create-as', 'sig', 'v.raw', '1M')
        fifo = os.path.join(self.fx.tmp, 'feed')
        os.mkfifo(fifo)
        size = 8 << 20
        mon = subprocess.Popen(['dbus-monitor', '--address', self.fx.bus.address,
                                "type='method_call',interface='org.freedesktop.DBus.Properties'"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (mon.kill(), mon.wait(), mon.stdout.close()))
        mon_out = b''

        def marker(name):
            """A Properties call at a path of its own, then waits until the
            monitor printed it: everything on the bus before it was seen."""
            nonlocal mon_out
            path = '/org/vmgmt/marker/' + name
            deadline = time.monotonic() + 60
            while ('path=%s;' % path).encode() not in mon_out:
                self.assertLess(time.monotonic(), deadline, 'dbus-monitor did not show %s' % path)
                try:   # again until seen: a monitor just started may not be watching yet
                    self.client.conn.call_blocking('org.vmgmt', path, 'org.freedesktop.DBus.Properties', 'Get',
                                                   'ss', ('org.vmgmt.Manager', 'Version'), timeout=60)
                except dbus.DBusException:
                    pass   # no such object: the call was made all the same
                t = time.monotonic() + 0.5
                while time.monotonic() < t and ('path=%s;' % path).encode() not in mon_out:
                    if select.select([mon.stdout], [], [], 0.1)[0]:
                        mon_out += os.read(mon.stdout.fileno(), 65536)
        marker('start')   # the monitor is live before vmgmtctl starts
        master, slave = pty.openpty()
        proc = subprocess.Popen([VMGMTCTL, 'vol-upload', 'v.raw', fifo, '--pool', 'sig', '--length', str(size)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                                env=_child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address}))
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        os.close(slave)
        out = b''

        def read_until(pred, timeout):
            nonlocal out
            deadline = time.monotonic() + timeout
            while not pred(out) and time.monotonic() < deadline:
                if select.select([master], [], [], 0.1)[0]:
                    try:
                        out += os.read(master, 4096)
                    except OSError:
                        break
            return pred(out)

        data = os.urandom(size)
        with open(fifo, 'wb') as f:
            f.write(data[:size // 2])
            f.flush()
            self.assertTrue(read_until(lambda o: b' 50 %' in o, 60), out)
            # half-way, held there (pacing only): a poller would ask for
            # State/Progress ten times a second meanwhile
            time.sleep(1.5)
            f.write(data[size // 2:])
        self.assertTrue(read_until(lambda o: b'] 100 %' in o, 60), out)
        self.assertEqual(proc.wait(timeout=60), 0, out)
        self.assertEqual(proc.stdout.read(), b'')
        proc.stdout.close()
        os.close(master)
        with open(os.path.join(path, 'v.raw'), 'rb') as f:
            self.assertEqual(f.read(), data)
        marker('end')   # every call vmgmtctl made was printed
        mon.kill()
        calls = mon_out.decode(errors='replace')
        job_gets = [l for l in calls.splitlines() if 'path=/org/vmgmt/job/' in l]
        # the first State (and Progress) are read once; everything after comes by signal
        self.assertGreaterEqual(len(job_gets), 1, 'the monitor saw nothing:\n' + calls)
        self.assertLessEqual(len(job_gets), 4, calls)


if __name__ == '__main__':
    main()
