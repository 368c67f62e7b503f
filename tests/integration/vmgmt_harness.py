# vmgmt_harness — shared fixtures for vmgmt's integration tests: a private
# system-type dbus-daemon, a real vmgmtd on it, a python-dbus client with an
# ordered signal recorder, domain XML helpers, the busybox test guest, and
# cleanup that leaves no qemu behind however a test ends.
#
# Run tests with /usr/bin/python3 (it has python3-dbus and python3-gi).
# Binaries come from $VMGMTD / $VMGMTCTL (meson sets them), else from
# $VMGMT_BUILD_ROOT (default: SOURCE/build). Set VMGMT_KEEP_TMP=1 to keep the
# temporary directories (bus config, daemon root, logs) for inspection.
#
# Typical use:
#
#     class T(VmgmtTestCase):
#         def test_define(self):
#             path = self.manager.DefineDomain(minimal_domain_xml('a'), {})
#             self.rec.wait_domain_event(path, 'defined', 'added')
#
# A class that sets `shared_daemon = True` gets one bus + vmgmtd for all its
# tests (setUpClass) instead of one per test; useful for the slow guest tests.

import atexit
import errno
import fcntl
import hashlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
import tty
import unittest
import uuid as uuidlib
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as xml_escape
from vmgmt_testmain import skip_missing  # noqa: F401 (tests import it from here too)

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)

# ---------------------------------------------------------------- locations

SOURCE_ROOT = os.environ.get('VMGMT_SOURCE_ROOT') or \
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_ROOT = os.environ.get('VMGMT_BUILD_ROOT') or os.path.join(SOURCE_ROOT, 'build')
VMGMTD = os.environ.get('VMGMTD') or os.path.join(BUILD_ROOT, 'service', 'vmgmtd')
VMGMTCTL = os.environ.get('VMGMTCTL') or os.path.join(BUILD_ROOT, 'cli', 'vmgmtctl')
BUS_POLICY = os.path.join(SOURCE_ROOT, 'dbus-1', 'system.d', 'org.vmgmt.conf')
BUILD_GUEST = os.path.join(SOURCE_ROOT, 'tools', 'build-guest')
TMP_PREFIX = 'vmgmt-it-'

# ---------------------------------------------------------------- names

BUS_NAME = 'org.vmgmt'
MANAGER_PATH = '/org/vmgmt'
MANAGER_IFACE = 'org.vmgmt.Manager'
DOMAIN_IFACE = 'org.vmgmt.Domain'
PROPS_IFACE = 'org.freedesktop.DBus.Properties'
OM_IFACE = 'org.freedesktop.DBus.ObjectManager'

ERR_NO_SUCH_DOMAIN = 'org.vmgmt.Error.NoSuchDomain'
ERR_ALREADY_EXISTS = 'org.vmgmt.Error.AlreadyExists'
ERR_INVALID_XML = 'org.vmgmt.Error.InvalidXML'
ERR_INVALID_STATE = 'org.vmgmt.Error.InvalidState'
ERR_BUSY = 'org.vmgmt.Error.Busy'
ERR_CONFLICT = 'org.vmgmt.Error.Conflict'
ERR_NOT_SUPPORTED = 'org.vmgmt.Error.NotSupported'
ERR_OPERATION_FAILED = 'org.vmgmt.Error.OperationFailed'
ERR_INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs'
ERR_UNKNOWN_METHOD = 'org.freedesktop.DBus.Error.UnknownMethod'
ERR_UNKNOWN_OBJECT = 'org.freedesktop.DBus.Error.UnknownObject'

GUEST_READY = 'vmgmt-guest ready'

# How long a wait for an event or a state may take before the test calls it a
# hang. It bounds a hang only, it is no latency target (those are in
# benchmarks/): generous enough for a loaded 2-core machine running an ASan
# build (2-3x slower) next to other qemu. A wait returns as soon as what it
# waits for happened, so only a failing test ever waits this long.
DEFAULT_TIMEOUT = float(os.environ.get('VMGMT_TEST_TIMEOUT', '90'))
# Every vmgmtd a test starts (also through helpers that inherit this
# environment) runs in the host's network namespace unless the test made its
# own: no `default` network there (it would create virbr0 and nft rules).
os.environ.setdefault('VMGMT_DEFAULT_NETWORK', '0')


def log(*args):
    print('[harness]', *args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- path encoding

def path_encode(label):
    """sd_bus_path_encode() rules for one path element: every byte that is not
    [A-Za-z] (or a digit after the first byte) becomes _XX (lower-case hex);
    the empty string becomes '_'."""
    b = label.encode('utf-8') if isinstance(label, str) else bytes(label)
    if not b:
        return '_'
    out = []
    for i, c in enumerate(b):
        ch = chr(c)
        if (0x41 <= c <= 0x5a) or (0x61 <= c <= 0x7a) or (i > 0 and 0x30 <= c <= 0x39):
            out.append(ch)
        else:
            out.append('_%02x' % c)
    return ''.join(out)


def domain_path(name):
    return MANAGER_PATH + '/domain/' + path_encode(name)


def unwrap(v):
    """dbus-python values → plain Python values (recursively)."""
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.Byte, dbus.Int16, dbus.Int32, dbus.Int64,
                      dbus.UInt16, dbus.UInt32, dbus.UInt64)):
        return int(v)
    if isinstance(v, dbus.Double):
        return float(v)
    if isinstance(v, (dbus.ObjectPath, dbus.String, dbus.Signature)):
        return str(v)
    if isinstance(v, dbus.Array):
        return [unwrap(x) for x in v]
    if isinstance(v, dbus.Struct):
        return tuple(unwrap(x) for x in v)
    if isinstance(v, dbus.Dictionary):
        return {unwrap(k): unwrap(x) for k, x in v.items()}
    return v


# ---------------------------------------------------------------- processes

def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return [a.decode('utf-8', 'replace') for a in f.read().split(b'\0') if a]
    except OSError:
        return None


def proc_status(pid):
    """/proc/PID/status as {key: value string}."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            out[k] = v.strip()
    return out


def cmdline(pid):
    """argv of a process as a list of str ([] when it is gone)."""
    return _cmdline(pid) or []


def _all_pids():
    for d in os.listdir('/proc'):
        if d.isdigit():
            yield int(d)


def qemu_pids(marker):
    """PIDs of qemu processes whose command line mentions `marker` (a temp root)."""
    pids = []
    for pid in _all_pids():
        argv = _cmdline(pid)
        if not argv or 'qemu' not in os.path.basename(argv[0]):
            continue
        if any(marker in a for a in argv):
            pids.append(pid)
    return sorted(pids)


def pid_alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            st = f.read()
        return st[st.rindex(')') + 2] != 'Z'
    except (OSError, ValueError):
        return False


def kill_and_reap(pids, timeout=30.0):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids:
        while pid_alive(pid) and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.01)


def cgroup_dirs(pid):
    """The directories of pid's cgroups on this host (where /proc/self/mountinfo mounts each hierarchy)."""
    mounts = {}
    try:
        with open('/proc/self/mountinfo') as f:
            for line in f:
                pre, _, post = line.partition(' - ')
                fields, sfields = pre.split(), post.split()
                if sfields and sfields[0] == 'cgroup2':
                    mounts[''] = fields[4]
                elif sfields and sfields[0] == 'cgroup':
                    for opt in sfields[2].split(','):
                        mounts[opt] = fields[4]
        with open('/proc/%d/cgroup' % pid) as f:
            groups = [line.rstrip('\n').split(':', 2) for line in f if line.strip()]
    except OSError:
        return []
    return [mounts[c.split(',')[0] if c else ''] + path for _, c, path in groups
            if (c.split(',')[0] if c else '') in mounts]


def _domain_cgroups(pids):
    """The cgroups vmgmtd made for these qemus (vmgmt/UUID, vmgmt.slice/UUID.scope), their thread
    groups (emulator/, where the qemu is, vcpuN/) first: a daemon killed before its domains
    stopped leaves them; teardown removes them."""
    out = []
    for pid in pids:
        for d in cgroup_dirs(pid):
            m = re.search(r'(/vmgmt/[0-9a-f-]{36}|/vmgmt\.slice/[0-9a-f-]{36}\.scope)(/emulator)?$', d)
            if not m:
                continue
            base = d[:len(d) - len(m.group(2) or '')]
            try:
                out += [os.path.join(base, e) for e in os.listdir(base) if os.path.isdir(os.path.join(base, e))]
            except OSError:
                pass
            out.append(base)
    return out


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


PIDNS_MARK = '.pidns'


def _own_pidns():
    try:
        return os.readlink('/proc/self/ns/pid')
    except OSError:
        return None


def _same_pidns(tmpdir):
    """Whether the run that made tmpdir numbered its pid in our pid namespace:
    only then does 'that pid is dead' mean anything here. A run in a pid
    namespace of its own (unshare -p) sees every other run's pid as dead."""
    try:
        with open(os.path.join(tmpdir, PIDNS_MARK)) as f:
            return f.read().strip() == _own_pidns()
    except OSError:
        return False


def kill_orphans():
    """Kills qemu left behind by earlier test processes that are gone (a test
    killed by a timeout cannot clean up after itself)."""
    if os.environ.get('VMGMT_PRIVATE_PIDNS'):
        return   # other runs' pids are invisible from a pid namespace of our own
    pat = re.compile('/(' + re.escape(TMP_PREFIX) + r'(\d+)-[^/,]+)')
    stale = []
    for pid in _all_pids():
        argv = _cmdline(pid)
        if not argv:
            continue
        base = os.path.basename(argv[0])
        if 'qemu' not in base and base not in ('vmgmtd', 'dbus-daemon'):
            continue
        for a in argv:
            m = pat.search(a)
            if m and not pid_alive(int(m.group(2))) and _same_pidns(os.path.join('/tmp', m.group(1))):
                stale.append(pid)
                break
    if stale:
        log('killing processes left by dead test runs:', stale)
        kill_and_reap(stale)
    if os.environ.get('VMGMT_KEEP_TMP'):
        return
    for d in os.listdir('/tmp'):
        m = re.match(re.escape(TMP_PREFIX) + r'(\d+)-', d)
        if m and not pid_alive(int(m.group(1))) and _same_pidns(os.path.join('/tmp', d)) and \
                not os.path.exists(os.path.join('/tmp', d, '.keep')):
            shutil.rmtree(os.path.join('/tmp', d), ignore_errors=True)


# Every live fixture registers here so that atexit / SIGTERM still clean up.
_LIVE = []


def _cleanup_all():
    for fx in list(_LIVE):
        try:
            fx.teardown()
        except Exception as e:  # keep going: the next fixture must go too
            log('cleanup failed:', e)


def _on_sigterm(signum, frame):
    _cleanup_all()
    os._exit(128 + signum)


atexit.register(_cleanup_all)
signal.signal(signal.SIGTERM, _on_sigterm)
kill_orphans()

# ---------------------------------------------------------------- private bus

_BUS_CONF = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  {policy}
  <include ignore_missing="yes">/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf</include>
  <limit name="max_message_size">33554432</limit>
</busconfig>
'''

_SESSION_BUS_CONF = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
'''

_FALLBACK_POLICY = '''<policy user="root"><allow own="org.vmgmt"/></policy>
  <policy context="default"><allow send_destination="org.vmgmt"/></policy>'''


class PrivateBus:
    """A dbus-daemon configured like the system bus (default deny, the
    project's bus policy included), listening in `tmpdir`."""

    def __init__(self, tmpdir, session=False):
        self.tmpdir = tmpdir
        self.session = session      # a session-type bus (vmgmtd --user) instead
        self.socket = os.path.join(tmpdir, 'bus')
        self.conf = os.path.join(tmpdir, 'bus.conf')
        self.proc = None
        self.address = None

    def start(self):
        if self.session:
            with open(self.conf, 'w') as f:
                f.write(_SESSION_BUS_CONF.format(socket=xml_escape(self.socket)))
            return self._spawn()
        if os.path.exists(BUS_POLICY):
            policy = '<include ignore_missing="no">%s</include>' % xml_escape(BUS_POLICY)
        else:
            log('WARNING: %s missing, using a fallback bus policy' % BUS_POLICY)
            policy = _FALLBACK_POLICY
        if os.getuid() != 0:
            # Run as a normal user: that user stands in for root as the owner.
            import pwd
            policy += '\n  <policy user="%s"><allow own="org.vmgmt"/></policy>' % \
                xml_escape(pwd.getpwuid(os.getuid()).pw_name)
        with open(self.conf, 'w') as f:
            f.write(_BUS_CONF.format(socket=xml_escape(self.socket), policy=policy))
        return self._spawn()

    def _spawn(self):
        with open(os.path.join(self.tmpdir, 'bus.log'), 'ab') as errlog:
            self.proc = subprocess.Popen(
                ['dbus-daemon', '--config-file=' + self.conf, '--nofork', '--nopidfile',
                 '--print-address=1'],
                stdout=subprocess.PIPE, stderr=errlog, stdin=subprocess.DEVNULL, env=_child_env())
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            raise RuntimeError('dbus-daemon did not start (config %s)' % self.conf)
        self.address = line
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


def _child_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if k in ('PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'ASAN_OPTIONS',
                    'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'MSAN_OPTIONS', 'TERM')}
    env.setdefault('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
    if extra:
        env.update(extra)
    return env


# ---------------------------------------------------------------- vmgmtd

SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                     'ERROR: UndefinedBehaviorSanitizer')


class Daemon:
    """vmgmtd --system --root ROOT on a PrivateBus. Its output goes to
    TMP/vmgmtd.log (appended across restarts)."""

    def __init__(self, bus, tmpdir, args=None):
        self.bus = bus
        self.root = os.path.join(tmpdir, 'root')
        self.logfile = os.path.join(tmpdir, 'vmgmtd.log')
        self.args = list(args or [])
        self.proc = None
        os.makedirs(self.root, exist_ok=True)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def config_dir(self):
        return os.path.join(self.root, 'etc', 'vmgmt', 'qemu')

    @property
    def run_dir(self):
        return os.path.join(self.root, 'run', 'vmgmt', 'qemu')

    @property
    def log_dir(self):
        return os.path.join(self.root, 'var', 'log', 'vmgmt', 'qemu')

    def write_config(self, text):
        """Writes ROOT/etc/vmgmt/vmgmtd.conf (None: removes it); read at the next start."""
        path = os.path.join(self.root, 'etc', 'vmgmt', 'vmgmtd.conf')
        if text is None:
            if os.path.exists(path):
                os.unlink(path)
            return
        with open(path, 'w') as f:
            f.write(text)

    def restart_with_config(self, text):
        """Stops vmgmtd, writes its vmgmtd.conf (write_config) and starts it again."""
        self.stop()
        self.write_config(text)
        self.start()

    def start(self, timeout=DEFAULT_TIMEOUT, wait=True):
        if not os.access(VMGMTD, os.X_OK):
            raise AssertionError('vmgmtd is not built: %s (meson compile)' % VMGMTD)
        self._wait_name_released()
        with open(self.logfile, 'ab') as lf:
            lf.write(b'---- start %s ----\n' % time.strftime('%H:%M:%S').encode())
            lf.flush()
            self.proc = subprocess.Popen(
                [VMGMTD, '--user' if self.bus.session else '--system', '--root', self.root,
                 '--log-level', 'debug'] + self.args,
                stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                env=_child_env({'DBUS_SESSION_BUS_ADDRESS' if self.bus.session
                                else 'DBUS_SYSTEM_BUS_ADDRESS': self.bus.address,
                                # no `default` network (virbr0 + nft rules) on the host: only
                                # tests that run in their own netns set VMGMT_DEFAULT_NETWORK=1
                                'VMGMT_DEFAULT_NETWORK': os.environ.get('VMGMT_DEFAULT_NETWORK', '0')}))
        if wait:
            self.wait_ready(timeout)
        return self

    def _wait_name_released(self, timeout=DEFAULT_TIMEOUT):
        """A killed vmgmtd's connection is closed by the kernel at once, but the
        bus notices the hang-up on its own schedule; a new vmgmtd that asks for
        the name before that is (rightly) refused. Wait until the name is free."""
        try:
            conn = dbus.bus.BusConnection(self.bus.address)
        except dbus.exceptions.DBusException:
            return   # no bus (yet): nobody holds the name; start() reports the rest
        try:
            deadline = time.monotonic() + timeout
            while conn.name_has_owner(BUS_NAME) and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            conn.close()

    def wait_ready(self, timeout=DEFAULT_TIMEOUT):
        conn = dbus.bus.BusConnection(self.bus.address)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError('vmgmtd exited with %s before owning %s:\n%s'
                                       % (self.proc.returncode, BUS_NAME, self.log_tail()))
                if conn.name_has_owner(BUS_NAME):
                    owner = conn.get_name_owner(BUS_NAME)
                    pid = int(conn.call_blocking('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                                 'org.freedesktop.DBus', 'GetConnectionUnixProcessID',
                                                 's', (owner,)))
                    if pid == self.proc.pid:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError('vmgmtd did not own %s within %.0fs:\n%s'
                                       % (BUS_NAME, timeout, self.log_tail()))
                time.sleep(0.01)
        finally:
            conn.close()

    def stop(self, timeout=DEFAULT_TIMEOUT):
        """SIGTERM and wait; returns the exit status."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError('vmgmtd ignored SIGTERM for %.0fs' % timeout)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill(self):
        """SIGKILL, like a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self, **kw):
        self.stop()
        return self.start(**kw)

    def fd_count(self):
        return fd_count(self.proc.pid)

    def log_text(self):
        try:
            with open(self.logfile, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def log_tail(self, n=60):
        return '\n'.join(self.log_text().splitlines()[-n:])

    def sanitizer_reports(self):
        t = self.log_text()
        return [m for m in SANITIZER_MARKERS if m in t]


# ---------------------------------------------------------------- client

class Client:
    """A python-dbus connection to the private bus with shortcuts."""

    def __init__(self, address):
        self.conn = dbus.bus.BusConnection(address)

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass

    def obj(self, path):
        return self.conn.get_object(BUS_NAME, path, introspect=False)

    @property
    def manager(self):
        return dbus.Interface(self.obj(MANAGER_PATH), MANAGER_IFACE)

    @property
    def object_manager(self):
        return dbus.Interface(self.obj(MANAGER_PATH), OM_IFACE)

    def domain(self, name_or_path):
        """org.vmgmt.Domain proxy, by name (path computed locally) or path."""
        p = name_or_path if str(name_or_path).startswith('/') else domain_path(name_or_path)
        return dbus.Interface(self.obj(p), DOMAIN_IFACE)

    def props(self, path, iface=DOMAIN_IFACE):
        return unwrap(dbus.Interface(self.obj(path), PROPS_IFACE).GetAll(iface))

    def prop(self, path, name, iface=DOMAIN_IFACE):
        return unwrap(dbus.Interface(self.obj(path), PROPS_IFACE).Get(iface, name))

    def set_prop(self, path, name, value, iface=DOMAIN_IFACE):
        return self.conn.call_blocking(BUS_NAME, path, PROPS_IFACE, 'Set', 'ssv', (iface, name, value))

    def list_domains(self, **opts):
        return sorted(unwrap(self.manager.ListDomains(dbus.Dictionary(opts, signature='sv'))))

    def managed_objects(self):
        return unwrap(self.object_manager.GetManagedObjects())

    def state(self, path):
        return self.prop(path, 'State'), self.prop(path, 'StateReason')

    def wait_state(self, path, state, timeout=DEFAULT_TIMEOUT, reason=None):
        """Polls State until it is `state` (and StateReason is `reason` if given)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.state(path)
                if last[0] == state and (reason is None or last[1] == reason):
                    return last
            except dbus.DBusException as e:
                last = e.get_dbus_name()
            time.sleep(0.02)
        raise AssertionError('%s: State did not become %s/%s within %.0fs (last: %s)'
                             % (path, state, reason, timeout, last))

    def call(self, path, iface, method, signature, *args, timeout=DEFAULT_TIMEOUT):
        """A raw call with an explicit signature (for wrong-type tests)."""
        return self.conn.call_blocking(BUS_NAME, path, iface, method, signature, args,
                                       timeout=timeout)


def opts(**kw):
    """a{sv} options; values must already carry the right D-Bus type when it matters."""
    return dbus.Dictionary(kw, signature='sv')


def dbus_error_name(e):
    return e.get_dbus_name() if isinstance(e, dbus.DBusException) else None


# ---------------------------------------------------------------- signals

class SignalRecorder:
    """Collects, in arrival order, DomainEvent, PropertiesChanged,
    InterfacesAdded and InterfacesRemoved from org.vmgmt. Entries are tuples:
      ('DomainEvent', path, event, detail, info)
      ('PropertiesChanged', path, interface, changed, invalidated)
      ('InterfacesAdded', path, {iface: props})
      ('InterfacesRemoved', path, [ifaces])"""

    def __init__(self, client):
        self.conn = client.conn
        self.entries = []
        self._matches = [
            self.conn.add_signal_receiver(self._domain_event, 'DomainEvent', MANAGER_IFACE,
                                          None, MANAGER_PATH),
            self.conn.add_signal_receiver(self._props_changed, 'PropertiesChanged', PROPS_IFACE,
                                          None, None, path_keyword='path'),
            self.conn.add_signal_receiver(self._ifaces_added, 'InterfacesAdded', OM_IFACE,
                                          None, MANAGER_PATH),
            self.conn.add_signal_receiver(self._ifaces_removed, 'InterfacesRemoved', OM_IFACE,
                                          None, MANAGER_PATH),
        ]
        self.sync()

    def close(self):
        for m in self._matches:
            try:
                m.remove()
            except Exception:
                pass
        self._matches = []

    def _domain_event(self, path, event, detail, info):
        self.entries.append(('DomainEvent', str(path), str(event), str(detail), unwrap(info)))

    def _props_changed(self, iface, changed, invalidated, path=None):
        self.entries.append(('PropertiesChanged', str(path), str(iface), unwrap(changed),
                             unwrap(invalidated)))

    def _ifaces_added(self, path, ifaces):
        self.entries.append(('InterfacesAdded', str(path), unwrap(ifaces)))

    def _ifaces_removed(self, path, ifaces):
        self.entries.append(('InterfacesRemoved', str(path), unwrap(ifaces)))

    def pump(self, duration=0.0):
        """Dispatches what has arrived; keeps going for `duration` seconds."""
        ctx = GLib.MainContext.default()
        deadline = time.monotonic() + duration
        while True:
            while ctx.iteration(False):
                pass
            if time.monotonic() >= deadline:
                return
            time.sleep(0.005)

    def sync(self):
        """Makes sure every signal vmgmtd emitted before now has been
        dispatched: vmgmtd answers a Ping after the signals it sent before it,
        and the bus keeps one sender's messages in order. Without a vmgmtd on
        the bus, a round trip through the bus daemon orders after what it
        has routed so far."""
        try:
            self.conn.call_blocking(BUS_NAME, MANAGER_PATH, 'org.freedesktop.DBus.Peer', 'Ping', '', (),
                                    timeout=DEFAULT_TIMEOUT)
        except dbus.DBusException as e:
            if e.get_dbus_name() not in ('org.freedesktop.DBus.Error.ServiceUnknown',
                                         'org.freedesktop.DBus.Error.NameHasNoOwner'):
                raise
            self.conn.call_blocking('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                    'org.freedesktop.DBus', 'GetId', '', ())
        self.pump()

    def clear(self):
        self.sync()
        self.entries = []

    def wait_for(self, pred, timeout=DEFAULT_TIMEOUT, what='condition'):
        """Pumps until pred(entries) is true; returns its value."""
        ctx = GLib.MainContext.default()
        deadline = time.monotonic() + timeout
        while True:
            while ctx.iteration(False):
                pass
            v = pred(self.entries)
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError('timed out after %.0fs waiting for %s; signals so far:\n  %s'
                                     % (timeout, what, '\n  '.join(map(repr, self.entries))))
            time.sleep(0.005)

    def domain_events(self, path=None):
        """[(event, detail)] of DomainEvent, for one path or all (then with path)."""
        self.pump()
        if path is None:
            return [(e[1], e[2], e[3]) for e in self.entries if e[0] == 'DomainEvent']
        return [(e[2], e[3]) for e in self.entries if e[0] == 'DomainEvent' and e[1] == path]

    def wait_domain_event(self, path, event, detail=None, timeout=DEFAULT_TIMEOUT, count=1):
        def pred(entries):
            n = [e for e in entries if e[0] == 'DomainEvent' and e[1] == path and e[2] == event
                 and (detail is None or e[3] == detail)]
            return n if len(n) >= count else None
        return self.wait_for(pred, timeout, 'DomainEvent %s %s/%s' % (path, event, detail))

    def wait_domain_events(self, path, expected, timeout=DEFAULT_TIMEOUT):
        """Waits until the DomainEvents of `path` are at least as many as `expected`
        and returns them ([(event, detail)])."""
        self.wait_for(lambda en: len(self.domain_events(path)) >= len(expected), timeout,
                      'DomainEvents %s on %s' % (expected, path))
        return self.domain_events(path)

    def property_changes(self, path, name, iface=DOMAIN_IFACE):
        """Values `name` took in PropertiesChanged of `path`, in order."""
        self.pump()
        return [e[3][name] for e in self.entries
                if e[0] == 'PropertiesChanged' and e[1] == path and e[2] == iface and name in e[3]]

    def kinds(self, path=None):
        """Compact view: [(kind, path, detail…)] for assertions on order."""
        out = []
        for e in self.entries:
            if path is not None and e[1] != path:
                continue
            if e[0] == 'DomainEvent':
                out.append(('DomainEvent', e[2], e[3]))
            elif e[0] == 'PropertiesChanged':
                out.append(('PropertiesChanged', tuple(sorted(e[3].keys()))))
            elif e[0] == 'InterfacesAdded':
                out.append(('InterfacesAdded', tuple(sorted(e[2].keys()))))
            else:
                out.append(('InterfacesRemoved', tuple(sorted(e[2]))))
        return out


# ---------------------------------------------------------------- domain XML

def new_uuid():
    return str(uuidlib.uuid4())


def minimal_domain_xml(name, uuid=None, memory_mib=64, machine='pc', vcpus=1, title=None,
                       description=None, extra_devices='', extra='', on_poweroff=None,
                       on_reboot=None, cpu=None):
    """A TCG domain without disks: SeaBIOS runs and finds nothing to boot, which
    is enough to exercise every lifecycle call."""
    parts = ["<domain type='qemu'>", '  <name>%s</name>' % xml_escape(name)]
    if uuid:
        parts.append('  <uuid>%s</uuid>' % uuid)
    if title is not None:
        parts.append('  <title>%s</title>' % xml_escape(title))
    if description is not None:
        parts.append('  <description>%s</description>' % xml_escape(description))
    parts.append("  <memory unit='MiB'>%d</memory>" % memory_mib)
    parts.append('  <vcpu>%d</vcpu>' % vcpus)
    parts.append("  <os><type arch='x86_64' machine='%s'>hvm</type></os>" % machine)
    if cpu:
        parts.append('  ' + cpu)
    if on_poweroff:
        parts.append('  <on_poweroff>%s</on_poweroff>' % on_poweroff)
    if on_reboot:
        parts.append('  <on_reboot>%s</on_reboot>' % on_reboot)
    if extra:
        parts.append(extra)
    parts.append('  <devices>%s</devices>' % extra_devices)
    parts.append('</domain>')
    return '\n'.join(parts) + '\n'


_guest_cache = None


def guest_image():
    """Builds (once per build tree, under a lock) the busybox test guest with
    tools/build-guest; returns {'kernel', 'initrd', 'cmdline'}."""
    global _guest_cache
    if _guest_cache:
        return _guest_cache
    out = os.environ.get('VMGMT_GUEST_DIR') or os.path.join(BUILD_ROOT, 'test-guest')
    os.makedirs(out, exist_ok=True)
    kernel, initrd, cmdline = (os.path.join(out, n) for n in ('vmlinuz', 'initrd.img', 'cmdline'))
    with open(os.path.join(out, '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fresh = all(os.path.exists(p) for p in (kernel, initrd, cmdline)) and \
            os.path.getmtime(initrd) >= os.path.getmtime(BUILD_GUEST)
        if not fresh:
            r = subprocess.run([BUILD_GUEST, out], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if r.returncode != 0:
                raise RuntimeError('tools/build-guest failed:\n' + r.stdout.decode(errors='replace'))
    with open(cmdline) as f:
        _guest_cache = {'kernel': kernel, 'initrd': initrd, 'cmdline': f.read().strip()}
    return _guest_cache


def guest_domain_xml(name, uuid=None, memory_mib=128, machine='pc', on_poweroff=None,
                     on_reboot=None):
    """The booted busybox guest: prints GUEST_READY on its serial console (a
    pty) and powers off when the ACPI power button is pressed."""
    g = guest_image()
    os_xml = ("<os><type arch='x86_64' machine='%s'>hvm</type><kernel>%s</kernel>"
              "<initrd>%s</initrd><cmdline>%s</cmdline></os>"
              % (machine, xml_escape(g['kernel']), xml_escape(g['initrd']), xml_escape(g['cmdline'])))
    parts = ["<domain type='qemu'>", '  <name>%s</name>' % xml_escape(name)]
    if uuid:
        parts.append('  <uuid>%s</uuid>' % uuid)
    parts += ["  <memory unit='MiB'>%d</memory>" % memory_mib, '  <vcpu>1</vcpu>', '  ' + os_xml,
              '  <features><acpi/><apic/></features>']
    if on_poweroff:
        parts.append('  <on_poweroff>%s</on_poweroff>' % on_poweroff)
    if on_reboot:
        parts.append('  <on_reboot>%s</on_reboot>' % on_reboot)
    # No USB controller and no balloon: the guest needs neither, and probing
    # USB costs seconds of every boot under TCG.
    parts += ["  <devices><controller type='usb' model='none'/>"
              "<serial type='pty'><target port='0'/></serial>"
              "<console type='pty'><target type='serial' port='0'/></console>"
              "<memballoon model='none'/></devices>",
              '</domain>']
    return '\n'.join(parts) + '\n'


def console_pty(xml):
    """The pty path of the first serial/console in a live domain XML."""
    root = ET.fromstring(xml)
    for tag in ('serial', 'console'):
        for dev in root.iter(tag):
            src = dev.find('source')
            if dev.get('type') == 'pty' and src is not None and src.get('path'):
                return src.get('path')
            if dev.get('tty'):
                return dev.get('tty')
    return None


class Console:
    """Reads (and writes) a guest's serial pty, keeping everything seen."""

    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            tty.setraw(self.fd, termios.TCSANOW)
        except termios.error:
            pass
        self.buf = b''
        self.mark = 0

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _read(self):
        try:
            while True:
                d = os.read(self.fd, 65536)
                if not d:
                    return False
                self.buf += d
        except BlockingIOError:
            return True
        except OSError as e:
            if e.errno == errno.EIO:   # the other end went away (qemu exited)
                return False
            raise

    def wait_for(self, text, timeout=DEFAULT_TIMEOUT, since_mark=True):
        """Waits until `text` appears (after the last mark); moves the mark past it.
        Fails at once when the console closes (qemu exited) without it, and
        says which of the two ended the wait."""
        t = text.encode()
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            open_ = self._read()
            i = self.buf.find(t, self.mark if since_mark else 0)
            if i >= 0:
                self.mark = i + len(t)
                return True
            if not open_:
                why = 'the console closed (EOF: qemu exited or closed the pty) after %.1fs' \
                    % (time.monotonic() - t0)
            elif time.monotonic() > deadline:
                why = 'not seen within %.0fs (the console is still open)' % timeout
            else:
                time.sleep(0.02)
                continue
            raise AssertionError('console %s: %r not seen: %s; output:\n%s'
                                 % (self.path, text, why, self.buf[-2000:].decode('utf-8', 'replace')))

    def send(self, line):
        os.write(self.fd, line.encode() + b'\n')


def read_until(fd, needle, timeout=DEFAULT_TIMEOUT, buf=b''):
    """Reads fd until `needle` (bytes) shows up; returns everything read. EOF fails."""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError('%r not seen within %.0fs; got:\n%s'
                                 % (needle, timeout, buf[-2000:].decode('utf-8', 'replace')))
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        try:
            d = os.read(fd, 65536)
        except OSError as e:
            if e.errno == errno.EIO:   # a pty whose other side is gone
                d = b''
            else:
                raise
        if not d:
            raise AssertionError('EOF before %r; got:\n%s' % (needle, buf[-2000:].decode('utf-8', 'replace')))
        buf += d
    return buf


# ---------------------------------------------------------------- vmgmtctl

def run_vmgmtctl(bus, *args, check=False, input=None, timeout=2 * DEFAULT_TIMEOUT, env=None):
    if not os.access(VMGMTCTL, os.X_OK):
        raise AssertionError('vmgmtctl is not built: %s (meson compile)' % VMGMTCTL)
    e = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': bus.address})
    if env:
        e.update(env)
    r = subprocess.run([VMGMTCTL] + list(args), input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, env=e)
    r.stdout = r.stdout.decode('utf-8', 'replace')
    r.stderr = r.stderr.decode('utf-8', 'replace')
    if check and r.returncode != 0:
        raise AssertionError('vmgmtctl %s failed (%d): %s' % (' '.join(args), r.returncode, r.stderr))
    return r


# ---------------------------------------------------------------- fixture

class Fixture:
    """A temp dir, a private bus, a vmgmtd, a client and a signal recorder.
    teardown() kills every qemu whose command line mentions the temp dir."""

    def __init__(self, daemon_args=None, start=True, polkit=False, session=False):
        self.tmp = tempfile.mkdtemp(prefix='%s%d-' % (TMP_PREFIX, os.getpid()), dir='/tmp')
        with open(os.path.join(self.tmp, PIDNS_MARK), 'w') as f:
            f.write('%s\n' % _own_pidns())
        _LIVE.append(self)
        self.polkitd = None
        # 0755 like /run and /var on a real host: polkitd drops to its own
        # user and must reach the bus; dnsmasq drops to nobody and re-reads
        # its hosts files under the daemon's run dir on SIGHUP
        os.chmod(self.tmp, 0o755)
        self.bus = PrivateBus(self.tmp, session=session).start()
        self.client = Client(self.bus.address)
        if polkit:
            self.start_polkitd()
        self.daemon = Daemon(self.bus, self.tmp, daemon_args)
        self.rec = SignalRecorder(self.client)
        self.consoles = []
        if start:
            self.daemon.start()

    def start_polkitd(self, timeout=DEFAULT_TIMEOUT):
        """A real polkitd on the private bus (its rules are the host's:
        /etc/polkit-1/rules.d and /usr/share/polkit-1/rules.d)."""
        exe = '/usr/lib/polkit-1/polkitd'
        if not os.access(exe, os.X_OK):
            skip_missing(exe, 'polkitd')
        with open(os.path.join(self.tmp, 'polkitd.log'), 'ab') as lf:
            self.polkitd = subprocess.Popen([exe, '--no-debug'], stdin=subprocess.DEVNULL,
                                            stdout=lf, stderr=subprocess.STDOUT,
                                            env=_child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.bus.address}))
        deadline = time.monotonic() + timeout
        while not self.client.conn.name_has_owner('org.freedesktop.PolicyKit1'):
            if self.polkitd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('polkitd did not come up on the private bus (see %s/polkitd.log)' % self.tmp)
            time.sleep(0.02)

    def qemu_pids(self):
        return qemu_pids(self.tmp + '/')

    def console(self, path, timeout=DEFAULT_TIMEOUT):
        """Opens the serial pty of the running domain at `path` (waits for the
        live XML to name it)."""
        deadline = time.monotonic() + timeout
        while True:
            xml = str(self.client.domain(path).GetXML(opts()))
            pty = console_pty(xml)
            if pty:
                c = Console(pty)
                self.consoles.append(c)
                return c
            if time.monotonic() > deadline:
                raise AssertionError('no pty in the live XML of %s:\n%s' % (path, xml))
            time.sleep(0.05)

    def config_files(self):
        """{file name: sha256} of the persistent definitions directory (and any
        other file under etc/vmgmt)."""
        out = {}
        base = os.path.join(self.daemon.root, 'etc', 'vmgmt')
        for dirpath, _, files in os.walk(base):
            for fn in files:
                p = os.path.join(dirpath, fn)
                with open(p, 'rb') as f:
                    out[os.path.relpath(p, base)] = hashlib.sha256(f.read()).hexdigest()
        return out

    def snapshot(self):
        """Everything a failed call must leave unchanged."""
        return {
            'domains': self.client.list_domains(),
            'objects': sorted(self.client.managed_objects().keys()),
            'files': self.config_files(),
            'qemu': self.qemu_pids(),
            'fds': self.daemon.fd_count(),
        }

    def teardown(self):
        if self not in _LIVE:
            return
        _LIVE.remove(self)
        for c in self.consoles:
            c.close()
        try:
            self.rec.close()
        except Exception:
            pass
        self.client.close()
        try:
            self.daemon.kill()
            if self.polkitd and self.polkitd.poll() is None:
                self.polkitd.terminate()
                try:
                    self.polkitd.wait(5)
                except subprocess.TimeoutExpired:
                    self.polkitd.kill()
                    self.polkitd.wait()
        finally:
            pids = self.qemu_pids()
            cgroups = _domain_cgroups(pids)
            kill_and_reap(pids)
            # busy until the last thread of its qemu is gone, a moment after the leader
            deadline = time.monotonic() + DEFAULT_TIMEOUT
            for d in cgroups:
                while True:
                    try:
                        os.rmdir(d)
                    except OSError as e:
                        if e.errno == errno.EBUSY and time.monotonic() < deadline:
                            time.sleep(0.01)
                            continue
                    break
            self.bus.stop()
            if os.environ.get('VMGMT_KEEP_TMP'):
                open(os.path.join(self.tmp, '.keep'), 'w').close()
                log('kept', self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)


class VmgmtTestCase(unittest.TestCase):
    """Base class: self.fx (Fixture) with shortcuts self.client, self.manager,
    self.rec, self.daemon. A fresh bus + daemon per test unless the class sets
    shared_daemon = True."""

    shared_daemon = False
    daemon_args = None
    polkit = False          # True: a real polkitd on the private bus too
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls._class_fx = None
        if cls.shared_daemon:
            cls._class_fx = Fixture(cls.daemon_args, polkit=cls.polkit)

    @classmethod
    def tearDownClass(cls):
        if cls._class_fx:
            cls._class_fx.teardown()
            cls._class_fx = None

    def setUp(self):
        if self._class_fx:
            self.fx = self._class_fx
            self.fx.rec.clear()
        else:
            self.fx = Fixture(self.daemon_args, polkit=self.polkit)
            self.addCleanup(self._teardown_fixture, self.fx)
        self.addCleanup(self._check_daemon, self.fx)

    def _failed(self):
        res = getattr(getattr(self, '_outcome', None), 'result', None)
        if res is None:
            return True
        return any(t is self for t, _ in list(res.failures) + list(res.errors))

    def _check_daemon(self, fx):
        if fx.daemon.proc is not None and fx.daemon.proc.poll() is not None:
            log('vmgmtd died (status %s); log:\n%s' % (fx.daemon.proc.returncode, fx.daemon.log_tail()))
            fx.daemon.proc = None
            if not self._failed():
                self.fail('vmgmtd died during the test')
        reports = fx.daemon.sanitizer_reports()
        if reports:
            log('sanitizer reports in vmgmtd log:\n' + fx.daemon.log_tail(200))
            self.fail('vmgmtd sanitizer report: %s' % reports)
        if self._failed():
            log('%s failed; vmgmtd log tail (%s):\n%s' % (self.id(), fx.daemon.logfile, fx.daemon.log_tail()))
            if os.path.isdir(fx.daemon.log_dir):
                for fn in sorted(os.listdir(fx.daemon.log_dir)):
                    with open(os.path.join(fx.daemon.log_dir, fn), 'rb') as f:
                        tail = f.read()[-1500:].decode('utf-8', 'replace')
                    log('qemu log %s (tail):\n%s' % (fn, tail))

    def _teardown_fixture(self, fx):
        # A clean SIGTERM exit is part of every test (and runs LeakSanitizer).
        if fx.daemon.proc is not None and fx.daemon.proc.poll() is None:
            rc = fx.daemon.stop()
            reports = fx.daemon.sanitizer_reports()
            fx.teardown()
            if reports:
                self.fail('vmgmtd sanitizer report at exit: %s' % reports)
            if rc != 0:
                self.fail('vmgmtd exited with status %s on SIGTERM' % rc)
        else:
            fx.teardown()

    # shortcuts
    @property
    def client(self):
        return self.fx.client

    @property
    def manager(self):
        return self.fx.client.manager

    @property
    def rec(self):
        return self.fx.rec

    @property
    def daemon(self):
        return self.fx.daemon

    def define(self, xml, **options):
        return str(self.manager.DefineDomain(xml, opts(**options)))

    def create(self, xml, **options):
        return str(self.manager.CreateDomain(xml, opts(**options)))

    def dom(self, path):
        return self.client.domain(path)

    def assertDBusError(self, name, fn, *args, **kw):
        """Calls fn and asserts it fails with D-Bus error `name`; returns the message."""
        try:
            fn(*args, **kw)
        except dbus.DBusException as e:
            self.assertEqual(e.get_dbus_name(), name, 'wrong error: %s: %s'
                             % (e.get_dbus_name(), e.get_dbus_message()))
            return e.get_dbus_message() or ''
        self.fail('expected %s, the call succeeded' % name)

    def assertUnchanged(self, before, fds_slack=0):
        """Compares a Fixture.snapshot() with now (waiting a moment for the fd
        count, which may lag a reply by one loop iteration)."""
        after = None
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while True:
            after = self.fx.snapshot()
            if after['fds'] <= before['fds'] + fds_slack or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(before['domains'], after['domains'], 'ListDomains changed')
        self.assertEqual(before['objects'], after['objects'], 'GetManagedObjects changed')
        self.assertEqual(before['files'], after['files'], 'config dir changed')
        self.assertEqual(before['qemu'], after['qemu'], 'qemu processes changed')
        self.assertLessEqual(after['fds'], before['fds'] + fds_slack, 'vmgmtd fd leak')


class GuestTestCase(VmgmtTestCase):
    """Tests with the booted busybox guest (tools/build-guest, GUEST_READY on its console): boot()
    it, ask it with guest_says() whether a shell command succeeds, wait_guest() until it does."""

    BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly
    GUEST_WAIT = 120
    GUEST_DIAGNOSE = 'dmesg | tail -30'   # what wait_guest() prints when it gives up

    @classmethod
    def setUpClass(cls):
        guest_image()
        super().setUpClass()

    def guest_xml(self, name):
        return guest_domain_xml(name)

    def boot(self, name, paused=False, xml=None, wait=True):
        """Defines and starts the domain; (path, its console once the guest is ready, or None)."""
        path = self.define(xml or self.guest_xml(name))
        self.dom(path).Start(opts(paused=paused))
        self.client.wait_state(path, 'paused' if paused else 'running')
        if paused or not wait:
            return path, None
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, self.BOOT_TIMEOUT)
        return path, con

    def guest_says(self, con, command, token):
        """True if `command` succeeds in the guest, False if it fails."""
        # the quotes keep the echoed command line from matching
        con.send("%s && echo %s_Y''ES || echo %s_N''O" % (command, token, token))
        deadline = time.monotonic() + self.GUEST_WAIT
        while True:
            con._read()
            tail = con.buf[con.mark:]
            if (token + '_YES').encode() in tail:
                con.mark = len(con.buf)
                return True
            if (token + '_NO').encode() in tail:
                con.mark = len(con.buf)
                return False
            self.assertLess(time.monotonic(), deadline, 'the guest did not answer %r' % command)
            time.sleep(0.05)

    def wait_guest(self, con, command, token, want=True, before=None):
        """Asks until `command`'s success is `want` (sending `before` first each time, if given)."""
        deadline = time.monotonic() + self.GUEST_WAIT
        while True:
            if before:
                con.send(before)
            if self.guest_says(con, command, token) == want:
                return
            if time.monotonic() > deadline:
                con.send("%s; echo DI''AG" % self.GUEST_DIAGNOSE)
                con.wait_for('DIAG')
                self.fail('%r never became %s in the guest:\n%s' % (command, want, con.buf[-4000:].decode('utf-8', 'replace')))
            time.sleep(0.5)


def main():
    import vmgmt_testmain
    vmgmt_testmain.run()
