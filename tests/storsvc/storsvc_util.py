# storsvc_util — helpers for the storage service tests: pool/volume XML, job waiting, a StorageTestCase.
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'integration'))
from vmgmt_harness import *  # noqa: F401,F403
from vmgmt_harness import Fixture, cmdline, opts, dbus_error_name, path_encode, unwrap  # noqa: F401
import dbus

POOL_IFACE = 'org.vmgmt.StoragePool'
VOL_IFACE = 'org.vmgmt.StorageVolume'
JOB_IFACE = 'org.vmgmt.Job'
PROPS = 'org.freedesktop.DBus.Properties'


def pool_xml(name, path, ptype='dir'):
    return ("<pool type='%s'><name>%s</name><target><path>%s</path></target></pool>\n"
            % (ptype, name, path))


def vol_xml(name, capacity, fmt='raw', unit='bytes', allocation=None, backing=None, backing_fmt=None):
    parts = ['<volume>', '<name>%s</name>' % name, "<capacity unit='%s'>%d</capacity>" % (unit, capacity)]
    if allocation is not None:
        parts.append("<allocation unit='%s'>%d</allocation>" % (unit, allocation))
    parts.append("<target><format type='%s'/></target>" % fmt)
    if backing:
        parts.append("<backingStore><path>%s</path><format type='%s'/></backingStore>"
                     % (backing, backing_fmt or 'raw'))
    parts.append('</volume>')
    return ''.join(parts) + '\n'


class StorageTestCase(unittest.TestCase):
    daemon_args = None
    daemon_env = None

    job_linger_sec = 2
    extra_conf = ''   # more [daemon] lines for vmgmtd.conf

    def setUp(self):
        import tempfile
        self.conf_dir = tempfile.mkdtemp(prefix='vmgmt-storsvc-conf-')
        self.addCleanup(lambda: __import__('shutil').rmtree(self.conf_dir, ignore_errors=True))
        conf = os.path.join(self.conf_dir, 'vmgmtd.conf')
        with open(conf, 'w') as f:
            f.write('[daemon]\njob_linger_sec=%s\n%s' % (self.job_linger_sec, self.extra_conf))
        self.fx = Fixture(daemon_args=['--config', conf] + list(self.daemon_args or []))
        self.addCleanup(self.fx.teardown)
        self.client = self.fx.client
        rec = self.fx.rec
        conn = self.client.conn
        self._matches = [
            conn.add_signal_receiver(lambda pool, ev: rec.entries.append(('PoolEvent', str(pool), str(ev))),
                                     'PoolEvent', 'org.vmgmt.Manager', None, '/org/vmgmt'),
            conn.add_signal_receiver(lambda st, err, path=None: rec.entries.append(('Finished', str(path), str(st), str(err))),
                                     'Finished', JOB_IFACE, None, None, path_keyword='path'),
        ]
        self.addCleanup(lambda: [m.remove() for m in self._matches])
        self.rec = self.fx.rec
        self.pools_dir = os.path.join(self.fx.tmp, 'pools')
        os.makedirs(self.pools_dir, exist_ok=True)

    @property
    def manager(self):
        return self.client.manager

    # ---- bus helpers
    def wait_prop(self, path, iface, name, value, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                v = self.prop(path, iface, name)
                if v == value:
                    return
            except dbus.DBusException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError('%s.%s of %s never became %r' % (iface, name, path, value))
            time.sleep(0.05)

    def obj(self, path, iface):
        return dbus.Interface(self.client.obj(path), iface)

    def pool(self, path):
        return self.obj(path, POOL_IFACE)

    def vol(self, path):
        return self.obj(path, VOL_IFACE)

    def job(self, path):
        return self.obj(path, JOB_IFACE)

    def props(self, path, iface):
        return unwrap(dbus.Interface(self.client.obj(path), PROPS).GetAll(iface))

    def prop(self, path, iface, name):
        return unwrap(dbus.Interface(self.client.obj(path), PROPS).Get(iface, name))

    def assertBusError(self, name, fn, *args, **kw):
        with self.assertRaises(dbus.DBusException) as cm:
            fn(*args, **kw)
        self.assertEqual(dbus_error_name(cm.exception), name, str(cm.exception))
        return str(cm.exception)

    def make_pool(self, name='p', start=True):
        path = os.path.join(self.pools_dir, name)
        p = self.manager.DefinePool(pool_xml(name, path), opts())
        pool = self.pool(p)
        pool.Build(opts())
        if start:
            pool.Start(opts())
        return p, path

    def stop_when_started(self, p):
        """Stops pool p; a start of it at daemon start-up may still be
        scanning (Busy until it is done)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                return self.pool(p).Stop(opts())
            except dbus.DBusException as e:
                if dbus_error_name(e) != 'org.vmgmt.Error.Busy' or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def pool_events(self, path=None):
        self.rec.pump()
        return [e for e in self.rec.entries if e[0] == 'PoolEvent' and (path is None or e[1] == path)]

    def qemu_imgs(self):
        """{pid: (wchan, argv)} of the qemu-img processes vmgmtd runs."""
        out = {}
        for d in os.listdir('/proc'):
            try:
                with open('/proc/%s/stat' % d) as f:
                    st = f.read()
                argv = cmdline(int(d))
                if st[st.rindex(')') + 2] == 'Z' or not argv or os.path.basename(argv[0]) != 'qemu-img':
                    continue
                ppid = int(st[st.rindex(')') + 2:].split()[1])
                if ppid == self.fx.daemon.pid:
                    with open('/proc/%s/wchan' % d) as f:
                        out[int(d)] = (f.read(), argv)
            except (OSError, ValueError):
                continue
        return out

    def wait_job(self, jpath, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            st = self.prop(jpath, JOB_IFACE, 'State')
            if st != 'running':
                return st
            if time.monotonic() > deadline:
                raise AssertionError('job %s still running' % jpath)
            time.sleep(0.05)
