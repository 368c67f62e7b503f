# test_event_loop — a pool on a filesystem that never answers (a FUSE server
# of the test's own that answers INIT and nothing else, as a dead NFS server
# behaves) does not freeze vmgmtd: every other call is answered while the
# pool's Start waits, and the Start fails cleanly when the filesystem goes
# away. And the periodic Capacity/Allocation/Available refresh of active
# pools, signalled only when a value moved. Private mount namespace.
import os
import sys

if os.environ.get('STORSVC_MOUNT_NS') != '1':
    os.environ['STORSVC_MOUNT_NS'] = '1'
    os.execvp('unshare', ['unshare', '-m', '--propagation', 'private', sys.executable,
                          os.path.abspath(__file__)] + sys.argv[1:])

import ctypes  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402

from storsvc_util import StorageTestCase, pool_xml, vol_xml, opts, POOL_IFACE, dbus_error_name  # noqa: E402
from vmgmt_harness import main  # noqa: E402

FUSE_INIT = 26


FUSE_LOOKUP, FUSE_GETATTR, FUSE_STATFS, FUSE_OPENDIR, FUSE_READDIR, FUSE_RELEASEDIR = 1, 3, 17, 27, 28, 29
FUSE_FORGET, FUSE_INTERRUPT, FUSE_BATCH_FORGET = 2, 36, 42
ENOENT, ENOSYS = 2, 38


class DeadFilesystem:
    """A FUSE mount whose server completes INIT and then never answers; with
    alive=True it first serves an empty directory (getattr, opendir,
    readdir, statfs) until `alive` is set to False."""

    def __init__(self, target, alive=False):
        self.target = target
        self.alive = alive
        self.fd = os.open('/dev/fuse', os.O_RDWR | os.O_CLOEXEC)
        libc = ctypes.CDLL(None, use_errno=True)
        data = ('fd=%d,rootmode=40000,user_id=0,group_id=0' % self.fd).encode()
        if libc.mount(b'vmgmt-dead', target.encode(), b'fuse', 0, data) != 0:
            e = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(e, 'mount fuse: ' + os.strerror(e))
        self.requests = 0
        self.statfs = 0   # STATFS answered while alive
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                buf = os.read(self.fd, 1 << 20)
            except OSError:
                return
            if len(buf) < 40:
                continue
            length, opcode, unique = struct.unpack_from('<IIQ', buf)
            if opcode == FUSE_INIT:
                # fuse_init_out: 7.31, max_readahead, flags, max_background, congestion, max_write, time_gran, …
                body = struct.pack('<IIIIHHIIHHI7I', 7, 31, 65536, 0, 16, 12, 65536, 1, 0, 0, 0, *([0] * 7))
                self._reply(unique, 0, body)
            elif opcode in (FUSE_FORGET, FUSE_BATCH_FORGET, FUSE_INTERRUPT):
                pass   # no answer expected
            elif self.alive:
                self._serve_alive(opcode, unique)
            else:
                self.requests += 1   # never answered

    def _reply(self, unique, error, body=b''):
        try:
            os.write(self.fd, struct.pack('<IiQ', 16 + len(body), -error, unique) + body)
        except OSError:
            pass

    def _serve_alive(self, opcode, unique):
        if opcode == FUSE_GETATTR:
            # fuse_attr_out: valid 0 (ask again), then the root directory's attributes
            attr = struct.pack('<QQQQQQIIIIIIIIII', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0o40755, 2, 0, 0, 0, 4096, 0)
            self._reply(unique, 0, struct.pack('<QII', 0, 0, 0) + attr)
        elif opcode == FUSE_OPENDIR:
            self._reply(unique, 0, struct.pack('<QII', 1, 0, 0))
        elif opcode in (FUSE_READDIR, FUSE_RELEASEDIR):
            self._reply(unique, 0)   # an empty directory
        elif opcode == FUSE_STATFS:
            # 1000 blocks of 4 KiB, 600 free
            self.statfs += 1
            self._reply(unique, 0, struct.pack('<QQQQQIIII6I', 1000, 600, 600, 100, 90, 4096, 255, 4096, 0, *([0] * 6)))
        elif opcode == FUSE_LOOKUP:
            self._reply(unique, ENOENT)
        else:
            self._reply(unique, ENOSYS)

    def _connection(self):
        with open('/proc/self/mountinfo') as f:
            for line in f:
                fields = line.split()
                # realpath() of the target itself would hang in the dead filesystem
                real = os.path.join(os.path.realpath(os.path.dirname(self.target)), os.path.basename(self.target))
                if fields[4] == real and 'fuse' in line.split(' - ')[1]:
                    return int(fields[2].split(':')[1])
        return None

    def close(self):
        # aborting the connection (fusectl) makes every waiting call fail with ENOTCONN
        conn = self._connection()
        if conn is not None:
            ctl = '/sys/fs/fuse/connections'
            if not os.path.exists(os.path.join(ctl, str(conn))):
                subprocess.run(['mount', '-t', 'fusectl', 'fusectl', ctl], stderr=subprocess.DEVNULL)
            with open(os.path.join(ctl, str(conn), 'abort'), 'w') as f:
                f.write('1')
            subprocess.run(['umount', '-l', self.target], stderr=subprocess.DEVNULL)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class EventLoopTests(StorageTestCase):
    extra_conf = 'pool_refresh_sec=1\n'

    def call_async(self, fn, *args):
        result = {}
        fn(*args, reply_handler=lambda *r: result.setdefault('reply', r),
           error_handler=lambda e: result.setdefault('error', e))
        return result

    def test_dead_filesystem(self):
        target = os.path.join(self.pools_dir, 'dead')
        os.makedirs(target)
        dead = DeadFilesystem(target)
        self.addCleanup(dead.close)
        p = self.manager.DefinePool(pool_xml('dead', target), opts())
        pending = self.call_async(self.pool(p).Start, opts())
        self.rec.wait_for(lambda es: dead.requests > 0, timeout=60, what='vmgmtd touching the dead filesystem')
        # the Start is stuck in the filesystem (it cannot be answered before
        # the filesystem goes); everything else is answered meanwhile
        good, gpath = self.make_pool('alive')
        for _ in range(5):
            self.assertIn(str(p), [str(x) for x in self.manager.ListPools(opts())])
            self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))
            self.assertIn(str(p), self.client.managed_objects())
        v = self.pool(good).CreateVolume(vol_xml('x.raw', 1 << 20), opts())
        self.assertTrue(os.path.exists(os.path.join(gpath, 'x.raw')), v)
        self.rec.sync()
        self.assertEqual(pending, {}, 'Start answered while its target hangs')
        self.assertBusError('org.vmgmt.Error.Busy',
                            self.pool(p).Start, opts())
        # the server dies: the Start fails with the OS's words, the pool stays inactive
        dead.close()
        self.rec.wait_for(lambda es: pending, timeout=60, what="the Start's answer")
        self.assertIn('error', pending)
        self.assertEqual(dbus_error_name(pending['error']), 'org.vmgmt.Error.OperationFailed')
        self.assertIn("cannot open target path '%s'" % target, str(pending['error']))
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))
        # and it starts once the target answers again
        self.pool(p).Start(opts())
        self.assertTrue(self.prop(p, POOL_IFACE, 'Active'))

    def test_filesystem_dies_under_active_pool(self):
        # the pool starts on a live filesystem, which then stops answering:
        # Refresh and the periodic sizes wait in threads, the rest goes on
        target = os.path.join(self.pools_dir, 'dying')
        os.makedirs(target)
        fs = DeadFilesystem(target, alive=True)
        self.addCleanup(fs.close)
        p = self.manager.DefinePool(pool_xml('dying', target), opts())
        self.pool(p).Start(opts())
        props = self.props(p, POOL_IFACE)
        self.assertTrue(props['Active'])
        self.assertEqual(props['Capacity'], 1000 * 4096)
        self.assertEqual(props['Available'], 600 * 4096)
        fs.alive = False
        pending = self.call_async(self.pool(p).Refresh, opts())
        creating = self.call_async(self.pool(p).CreateVolume, vol_xml('new.raw', 4096), opts())
        self.rec.wait_for(lambda es: fs.requests > 0, timeout=60, what='the Refresh reaching the filesystem')
        good, gpath = self.make_pool('fine')
        for _ in range(3):   # across a few periodic size reads of the dead pool (every second)
            self.assertIn(str(p), [str(x) for x in self.manager.ListPools(opts())])
            self.assertIn(str(good), self.client.managed_objects())
            self.pool(good).CreateVolume(vol_xml('v%d.raw' % _, 4096), opts())
            self.rec.pump(0.5)   # pacing only
        self.rec.sync()
        self.assertEqual(pending, {}, 'Refresh answered while the filesystem hangs')
        self.assertEqual(creating, {}, 'CreateVolume answered while the filesystem hangs')
        fs.close()
        self.rec.wait_for(lambda es: pending and creating, timeout=60, what='the answers to Refresh and CreateVolume')
        self.assertIn('error', creating)
        self.assertEqual(dbus_error_name(creating['error']), 'org.vmgmt.Error.OperationFailed')
        self.assertIn("creating volume 'new.raw'", str(creating['error']))
        self.assertIn('error', pending)
        self.assertEqual(dbus_error_name(pending['error']), 'org.vmgmt.Error.OperationFailed')
        self.assertIn("pool 'dying'", str(pending['error']))
        # a dir pool stops without touching its files
        self.pool(p).Stop(opts())
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))

    def test_periodic_sizes(self):
        # nothing changes: no signal over three periodic reads (each one a
        # STATFS the filesystem of the test's own answers, always alike)
        quiet = os.path.join(self.pools_dir, 'quiet')
        os.makedirs(quiet)
        fs = DeadFilesystem(quiet, alive=True)
        self.addCleanup(fs.close)
        q = self.manager.DefinePool(pool_xml('quiet', quiet), opts())
        self.pool(q).Start(opts())
        self.assertEqual(self.props(q, POOL_IFACE)['Available'], 600 * 4096)
        self.rec.clear()
        n = fs.statfs
        self.rec.wait_for(lambda es: fs.statfs >= n + 3, timeout=60, what='three periodic reads of the sizes')
        self.rec.sync()
        self.assertEqual([e for e in self.rec.entries if e[0] == 'PropertiesChanged' and e[1] == str(q)], [])
        # a file written by hand (no Refresh call): the sizes follow, signalled
        small = os.path.join(self.pools_dir, 'small')
        os.makedirs(small)
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=32m', 'storsvc-small', small], check=True)
        self.addCleanup(lambda: subprocess.run(['umount', '-l', small]))
        p = self.manager.DefinePool(pool_xml('small', small), opts())
        self.pool(p).Start(opts())
        before = self.props(p, POOL_IFACE)
        self.assertEqual(before['Capacity'], 32 << 20)
        self.rec.clear()
        with open(os.path.join(small, 'by-hand.raw'), 'wb') as f:
            f.write(os.urandom(8 << 20))
        self.rec.wait_for(lambda es: self.rec.property_changes(str(p), 'Available', iface=POOL_IFACE), timeout=60,
                          what='Available changed')
        after = self.props(p, POOL_IFACE)
        self.assertLessEqual(after['Available'], before['Available'] - (8 << 20))
        self.assertGreaterEqual(after['Allocation'], before['Allocation'] + (8 << 20))
        self.assertEqual(self.rec.property_changes(str(p), 'Available', iface=POOL_IFACE)[-1], after['Available'])


if __name__ == '__main__':
    main()
