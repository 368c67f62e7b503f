"""netservers — network storage servers for the tests, run as children of the test.

Every server here runs as a child process of the test (never as a service of
this host), listens only on 127.0.0.1 on free ports, keeps its config, pid,
socket, log and data files in a private directory of its own (under the
test's temporary directory), dies with the test (PR_SET_PDEATHSIG) and is
stopped by stop() leaving nothing running and nothing on disk.

    from netservers import TgtServer, CephCluster, ServerMissing

    # iSCSI: tgtd (package tgt) in the foreground, configured with tgtadm
    tgt = TgtServer(tmpdir)                  # raises ServerMissing(what, package)
    tgt.start()
    iqn = tgt.add_target('t1', luns=[64 << 20, 32 << 20],   # LUN 1, 2: backing files
                         user='u', password='secret')     # CHAP (optional)
    tgt.url(iqn, 1)                          # 'iscsi://u%secret@127.0.0.1:PORT/IQN/1' (qemu's)
    tgt.host, tgt.port, tgt.lun_path(iqn, 1)
    tgt.stop()

    # Ceph: one monitor, one OSD on memstore (ceph-mon, ceph-osd), cephx on,
    # a pool with the rbd application and a client key allowed only in it
    ceph = CephCluster(tmpdir, pool='rbd', client='vmgmt')   # mgr=True adds a ceph-mgr
    ceph.start()                             # bounded generous waits (a loaded machine is fine)
    ceph.host, ceph.port                     # the monitor's msgr v1 address (libvirt's <host/>)
    ceph.mon_host                            # '[v2:127.0.0.1:P2,v1:127.0.0.1:P1]'
    ceph.client_key                          # base64 cephx key of client.vmgmt
    ceph.rbd('create', '--size', '64M', 'rbd/img')           # the rbd CLI as client.admin
    ceph.rbd_image_size('img')               # bytes, or None when there is no such image
    ceph.qemu_spec('img')                    # 'rbd:rbd/img:id=vmgmt:key=…:mon_host=…' (qemu's)
    ceph.stop()

Both also have teardown() (= stop(); registered with the integration
harness's cleanup so that a SIGTERM of the test still stops them) and are
context managers. ServerMissing is a unittest.SkipTest naming what is missing
(vmgmt_testmain's rule for skips) when a program is not installed.
"""
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

try:
    from vmgmt_testmain import skip_missing
except ImportError:  # run outside the test tree
    def skip_missing(what, package=None, why=None):
        raise unittest.SkipTest('%s is not installed (package %s) (missing: %s)' % (what, package, what))

HOST = '127.0.0.1'
# bounds against hangs only: nothing here waits for a duration
START_TIMEOUT = float(os.environ.get('VMGMT_NETSERVER_TIMEOUT', '240'))
CMD_TIMEOUT = 120
STOP_TIMEOUT = 60

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def ServerMissing(what, package):
    """The SkipTest that skip_missing raises, to raise or to catch."""
    try:
        skip_missing(what, package)
    except unittest.SkipTest as e:
        return e
    raise AssertionError('skip_missing did not raise')


def _need(prog, package):
    path = shutil.which(prog) or (prog if os.path.isabs(prog) and os.access(prog, os.X_OK) else None)
    if not path:
        raise ServerMissing(prog, package)
    return path


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.setsid()


def free_port(exclude=()):
    """A TCP port nobody listens on at 127.0.0.1 now (the kernel's pick)."""
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in exclude:
            return port


def port_open(port, host=HOST):
    try:
        with socket.create_connection((host, port), timeout=5):
            return True
    except OSError:
        return False


def _wait(pred, what, timeout=START_TIMEOUT, procs=(), interval=0.2):
    """Waits until pred() is true; fails early when one of procs exited."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError('%s exited (status %s) while waiting for %s%s'
                                   % (p.args[0], p.returncode, what, _tail(getattr(p, 'logpath', None))))
        if time.monotonic() > deadline:
            raise RuntimeError('timed out after %ds waiting for %s' % (timeout, what))
        time.sleep(interval)


def _tail(path, n=30):
    if not path:
        return ''
    try:
        with open(path, errors='replace') as f:
            return '\n--- %s:\n' % path + ''.join(f.readlines()[-n:])
    except OSError:
        return ''


class _Server:
    """Children with logs in self.dir; stop() terminates them all, waits, kills."""

    def __init__(self, tmpdir, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix, dir=tmpdir)
        self.procs = []
        self.started = False
        try:
            import vmgmt_harness
            vmgmt_harness._LIVE.append(self)
            self._live = vmgmt_harness._LIVE
        except (ImportError, AttributeError):
            self._live = None

    def _spawn(self, argv, name, env=None):
        logpath = os.path.join(self.dir, name + '.out')
        log = open(logpath, 'ab')
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 env=env, preexec_fn=_die_with_parent, close_fds=True)
        finally:
            log.close()
        p.logpath = logpath
        self.procs.append(p)
        return p

    def _run(self, argv, env=None, check=True, timeout=CMD_TIMEOUT, input=None):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           universal_newlines=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise RuntimeError('%s failed (%d): %s%s' % (' '.join(argv[:6]), r.returncode,
                                                         r.stderr.strip(), r.stdout.strip()))
        return r

    def running(self):
        """The children still running (not yet reaped)."""
        return [p for p in self.procs if p.poll() is None]

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    p.terminate()
                except OSError:
                    pass
        deadline = time.monotonic() + STOP_TIMEOUT
        for p in reversed(self.procs):
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(30)
        self.procs = []
        self.started = False
        if self._live is not None and self in self._live:
            self._live.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)

    teardown = stop

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class TgtServer(_Server):
    """tgtd (the Linux SCSI target framework) serving iSCSI on 127.0.0.1:port.
    Its management socket is private (TGT_IPC_SOCKET in our directory)."""

    IQN_PREFIX = 'iqn.2026-12.org.vmgmt.test'
    CONTROL = 1   # the management socket is IPC.1 in our own directory: no clash

    def __init__(self, tmpdir=None):
        self.tgtd = _need('tgtd', 'tgt')
        self.tgtadm = _need('tgtadm', 'tgt')
        super().__init__(tmpdir, 'tgt-')
        self.host = HOST
        self.port = free_port(exclude=(3260,))
        self.env = dict(os.environ, TGT_IPC_SOCKET=os.path.join(self.dir, 'ipc'))
        self.targets = {}   # iqn -> {'tid':, 'luns': {lun: path}, 'user':, 'password':}
        self.next_tid = 1

    def start(self):
        self.proc = self._spawn([self.tgtd, '-f', '-C', str(self.CONTROL), '--iscsi',
                                 'portal=%s:%d' % (self.host, self.port)], 'tgtd', env=self.env)
        self.started = True
        _wait(lambda: port_open(self.port) and self.adm('--op', 'show', '--mode', 'sys', check=False).returncode == 0,
              'tgtd on %s:%d' % (self.host, self.port), procs=[self.proc])
        return self

    def adm(self, *args, check=True):
        return self._run([self.tgtadm, '-C', str(self.CONTROL), '--lld', 'iscsi'] + list(args),
                         env=self.env, check=check)

    def add_target(self, name, luns=(), user=None, password=None, initiators=('ALL',)):
        """A target IQN_PREFIX:name with one LUN (1, 2, …) per size in luns, a sparse
        backing file each; user/password: CHAP (the initiator authenticates)."""
        iqn = '%s:%s' % (self.IQN_PREFIX, name)
        tid = self.next_tid
        self.next_tid += 1
        self.adm('--op', 'new', '--mode', 'target', '--tid', str(tid), '-T', iqn)
        t = self.targets[iqn] = {'tid': tid, 'luns': {}, 'user': user, 'password': password}
        for size in luns:
            self.add_lun(iqn, size)
        if user:
            self.adm('--op', 'new', '--mode', 'account', '--user', user, '--password', password)
            self.adm('--op', 'bind', '--mode', 'account', '--tid', str(tid), '--user', user)
        for i in initiators:
            self.adm('--op', 'bind', '--mode', 'target', '--tid', str(tid), '-I', i)
        return iqn

    def add_lun(self, iqn, size):
        t = self.targets[iqn]
        lun = max(t['luns'], default=0) + 1
        path = os.path.join(self.dir, 't%d-lun%d.img' % (t['tid'], lun))
        with open(path, 'wb') as f:
            f.truncate(size)
        self.adm('--op', 'new', '--mode', 'logicalunit', '--tid', str(t['tid']), '--lun', str(lun), '-b', path)
        t['luns'][lun] = path
        return lun

    def stop(self):
        """tgtd ignores SIGTERM (and has no exit request a test can send without
        the offline dance of tgt's init script): it is killed; its state is only
        the backing files, which stay written (pwrite) and are then removed."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        super().stop()

    teardown = stop

    def lun_path(self, iqn, lun):
        return self.targets[iqn]['luns'][lun]

    def url(self, iqn, lun, user=None, password=None):
        t = self.targets[iqn]
        user = user if user is not None else t['user']
        password = password if password is not None else t['password']
        cred = '%s%%%s@' % (user, password) if user else ''
        return 'iscsi://%s%s:%d/%s/%d' % (cred, self.host, self.port, iqn, lun)


class CephCluster(_Server):
    """A one-node Ceph cluster: ceph-mon 'a' (msgr v2 and v1 on free ports of
    127.0.0.1), osd.0 on memstore, cephx required everywhere, a replicated pool
    of size 1 initialised for rbd, and client.CLIENT with `profile rbd` in it."""

    def __init__(self, tmpdir=None, pool='rbd', client='vmgmt', mgr=False, memstore_bytes=1 << 30):
        self.ceph_mon = _need('ceph-mon', 'ceph-mon')
        self.ceph_osd = _need('ceph-osd', 'ceph-osd')
        self.ceph_mgr = _need('ceph-mgr', 'ceph-mgr') if mgr else None
        for prog in ('ceph', 'ceph-authtool', 'monmaptool', 'rbd'):
            _need(prog, 'ceph-common' if prog in ('ceph', 'rbd') else 'ceph-base')
        super().__init__(tmpdir, 'ceph-')
        self.pool = pool
        self.client = client
        self.host = HOST
        self.port = free_port(exclude=(6789, 3300))          # msgr v1
        self.port_v2 = free_port(exclude=(6789, 3300, self.port))
        self.mon_host = '[v2:%s:%d,v1:%s:%d]' % (HOST, self.port_v2, HOST, self.port)
        self.fsid = str(uuid.uuid4())
        self.conf = os.path.join(self.dir, 'ceph.conf')
        self.admin_keyring = os.path.join(self.dir, 'admin.keyring')
        self.client_keyring = os.path.join(self.dir, 'client.keyring')
        self.client_key = None
        self.memstore_bytes = memstore_bytes

    def _write_conf(self):
        d = self.dir
        for sub in ('run', 'log', 'crash', 'mon', 'osd', 'mgr'):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        lines = [
            '[global]',
            'fsid = %s' % self.fsid,
            'mon host = %s' % self.mon_host,
            'public addr = %s' % HOST,
            'cluster addr = %s' % HOST,
            'ms bind ipv6 = false',
            'auth cluster required = cephx',
            'auth service required = cephx',
            'auth client required = cephx',
            'run dir = %s/run' % d,
            'admin socket = %s/run/$cluster-$name.asok' % d,
            'pid file = %s/run/$cluster-$name.pid' % d,
            'log file = %s/log/$cluster-$name.log' % d,
            'mon cluster log file = %s/log/$cluster.log' % d,
            'crash dir = %s/crash' % d,
            'log to stderr = false',
            'err to stderr = true',
            'mon data = %s/mon/$cluster-$id' % d,
            'osd data = %s/osd/$cluster-$id' % d,
            'mgr data = %s/mgr/$cluster-$id' % d,
            'keyring = %s' % self.admin_keyring,
            'osd objectstore = memstore',
            'memstore device bytes = %d' % self.memstore_bytes,
            'osd pool default size = 1',
            'osd pool default min size = 1',
            'osd pool default pg num = 8',
            'osd pool default pgp num = 8',
            'osd pool default pg autoscale mode = off',
            'mon allow pool size one = true',
            'mon warn on pool no redundancy = false',
            'osd crush chooseleaf type = 0',
            'mon allow pool delete = true',
            # a small machine shared with other tests: few threads, no scrubbing
            'osd op num shards = 1',
            'osd op num threads per shard = 2',
            'osd scrub begin hour = 0',
            'osd scrub end hour = 0',
            'mon osd down out interval = 0',
            'osd heartbeat grace = 120',
            'mon lease = 20',
            'mon election timeout = 60',
            'client mount timeout = 120',
            '',
            '[osd]',
            'keyring = %s/osd/$cluster-$id/keyring' % d,
            '[mon]',
            'keyring = %s/mon/$cluster-$id/keyring' % d,
            '[mgr]',
            'keyring = %s/mgr/$cluster-$id/keyring' % d,
        ]
        with open(self.conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')

    def ceph(self, *args, check=True, timeout=CMD_TIMEOUT, input=None):
        """The ceph CLI as client.admin."""
        return self._run(['ceph', '-c', self.conf, '-n', 'client.admin', '-k', self.admin_keyring,
                          '--connect-timeout', str(timeout)] + list(args),
                         check=check, timeout=timeout + 30, input=input)

    def rbd(self, *args, check=True, timeout=CMD_TIMEOUT):
        return self._run(['rbd', '-c', self.conf, '-n', 'client.admin', '-k', self.admin_keyring] + list(args),
                         check=check, timeout=timeout)

    def _authtool(self, *args):
        return self._run(['ceph-authtool'] + list(args)).stdout

    def start(self):
        d = self.dir
        self._write_conf()
        self.started = True
        mon_keyring = os.path.join(d, 'mon.keyring')
        self._authtool('--create-keyring', mon_keyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *')
        self._authtool('--create-keyring', self.admin_keyring, '--gen-key', '-n', 'client.admin',
                       '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow *',
                       '--cap', 'mds', 'allow *')
        self._authtool(mon_keyring, '--import-keyring', self.admin_keyring)
        os.chmod(self.admin_keyring, 0o600)
        monmap = os.path.join(d, 'monmap')
        self._run(['monmaptool', '--create', '--fsid', self.fsid, '--addv', 'a', self.mon_host, monmap])
        self._run([self.ceph_mon, '-c', self.conf, '--mkfs', '-i', 'a', '--monmap', monmap,
                   '--keyring', mon_keyring])
        mon = self._spawn([self.ceph_mon, '-c', self.conf, '-i', 'a', '-f'], 'ceph-mon.a')
        _wait(lambda: port_open(self.port) and port_open(self.port_v2), 'ceph-mon listening', procs=[mon])
        _wait(lambda: self.ceph('mon', 'stat', check=False, timeout=60).returncode == 0,
              'ceph-mon answering', procs=[mon], interval=1)

        if self.ceph_mgr:
            mgr_dir = os.path.join(d, 'mgr', 'ceph-x')
            os.makedirs(mgr_dir, exist_ok=True)
            key = self.ceph('auth', 'get-or-create', 'mgr.x', 'mon', 'allow profile mgr',
                            'osd', 'allow *', 'mds', 'allow *').stdout
            with open(os.path.join(mgr_dir, 'keyring'), 'w') as f:
                f.write(key)
            mgr = self._spawn([self.ceph_mgr, '-c', self.conf, '-i', 'x', '-f'], 'ceph-mgr.x')

            def mgr_up():
                r = self.ceph('mgr', 'stat', '-f', 'json', check=False, timeout=60)
                return r.returncode == 0 and json.loads(r.stdout).get('available')
            _wait(mgr_up, 'ceph-mgr available', procs=[mon, mgr], interval=1)

        osd_uuid = str(uuid.uuid4())
        osd_key = self._run(['ceph-authtool', '--gen-print-key']).stdout.strip()
        osd_id = self.ceph('osd', 'new', osd_uuid, '-i', '-',
                           input=json.dumps({'cephx_secret': osd_key})).stdout.strip()
        osd_dir = os.path.join(d, 'osd', 'ceph-%s' % osd_id)
        os.makedirs(osd_dir, exist_ok=True)
        self._authtool('--create-keyring', os.path.join(osd_dir, 'keyring'), '--name', 'osd.%s' % osd_id,
                       '--add-key', osd_key)
        self._run([self.ceph_osd, '-c', self.conf, '-i', osd_id, '--mkfs', '--osd-uuid', osd_uuid],
                  timeout=START_TIMEOUT)
        osd = self._spawn([self.ceph_osd, '-c', self.conf, '-i', osd_id, '-f'], 'ceph-osd.%s' % osd_id)

        def osd_up():
            r = self.ceph('osd', 'stat', '-f', 'json', check=False, timeout=60)
            return r.returncode == 0 and json.loads(r.stdout).get('num_up_osds') == 1
        _wait(osd_up, 'osd.%s up' % osd_id, procs=[mon, osd], interval=1)

        self.ceph('osd', 'pool', 'create', self.pool, '8', '8', 'replicated')
        self.ceph('osd', 'pool', 'application', 'enable', self.pool, 'rbd')
        # blocks until the pool's placement groups are active (bounded by START_TIMEOUT)
        self.rbd('pool', 'init', self.pool, timeout=START_TIMEOUT)
        self.ceph('auth', 'get-or-create', 'client.%s' % self.client, 'mon', 'profile rbd',
                  'osd', 'profile rbd pool=%s' % self.pool, 'mgr', 'profile rbd pool=%s' % self.pool,
                  '-o', self.client_keyring)
        os.chmod(self.client_keyring, 0o600)
        self.client_key = self.ceph('auth', 'print-key', 'client.%s' % self.client).stdout.strip()
        return self

    def rbd_image_size(self, image, pool=None):
        r = self.rbd('info', '--format', 'json', '%s/%s' % (pool or self.pool, image), check=False)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)['size']

    def rbd_images(self, pool=None):
        return sorted(json.loads(self.rbd('ls', '--format', 'json', pool or self.pool).stdout))

    def qemu_spec(self, image, pool=None):
        """qemu's rbd: filename as client CLIENT with its key (no file read)."""
        mon = '%s\\:%d' % (HOST, self.port)
        return 'rbd:%s/%s:id=%s:key=%s:auth_supported=cephx:mon_host=%s' % (
            pool or self.pool, image, self.client, self.client_key, mon)
