# Confinement for a delegated user (issue 12): what she may name works in the
# real, confined qemu. uid 65534 may manage and run the domains named alice-*
# and have them use the files of the storage pool alice-pool (her directory).
#
# - a VNC socket at a path of hers (<listen type='socket' socket=PATH/>):
#   vmgmtd binds it with her rights and hands the listening fd to qemu (QMP
#   getfd + display-update); a VNC client on PATH gets qemu's "RFB 003.008"
#   banner, OpenGraphics still works, and both survive vmgmtd being SIGKILLed
#   and started again.
# - a qcow2 chain of three layers in her pool: the confined qemu reads every
#   layer (query-named-block-nodes, and the bytes of each layer read through
#   the top node exported over NBD, on qemu's own monitor with vmgmtd gone for
#   the while); a chain whose deepest layer is root-only is AccessDenied
#   naming that file.
# - a unix socket she names for a <channel>: bound by vmgmtd as her, and
#   qemu accepts a connection on it (query-chardev).
# - a start whose file check polkit is still asking about (an authentication
#   agent's prompt: pkttyagent for alice's client on a pty) cancels that question when
#   it is abandoned: the caller disconnects, vmgmtd exits, or another file of
#   the start is refused first.
# - the storage pools' targets are resolved (realpath) off vmgmtd's event
#   loop: strace -f shows no syscall on a target path by the main thread
#   during a start that checks files in the pool, and another thread's. Seen on the bus (dbus-monitor): vmgmtd's
#   CancelCheckAuthorization with the question's cancellation id, and polkit's
#   answer to the question itself, PolicyKit1.Error.Cancelled.
#
# A real polkitd (auth_harness) and real qemu (TCG).

import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from auth_harness import (DOMAIN_IFACE, ERR_ACCESS_DENIED, MANAGER_IFACE, MANAGER_PATH, NOBODY, AuthTestCase,
                          _child_env, main, minimal_domain_xml, opts, skip_missing)
from test_agent import read_until
from test_confinement_escapes import DELEGATION_RULE, POOL_IFACE, START_TIMEOUT, Qmp
from test_start_flush import tracer_pid
from vmgmt_harness import cmdline, proc_status


def rfb_banner(path, timeout=60.0):
    """The first 12 bytes a VNC server at the unix socket `path` sends."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(path)
        return recv_exactly(s, 12)
    finally:
        s.close()


def recv_exactly(s, n):
    buf = b''
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


class DelegatedConfinedTestCase(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 20}
    rule = DELEGATION_RULE

    def setUp(self):
        super().setUp()
        self.fx.write_rule('50-alice.rules', self.rule)
        self.alice = self.fx.unprivileged()
        self.pool_dir = os.path.join(self.fx.tmp, 'alice-pool')
        os.mkdir(self.pool_dir, 0o755)
        os.chown(self.pool_dir, NOBODY, NOBODY)
        xml = "<pool type='dir'><name>alice-pool</name><target><path>%s</path></target></pool>" % self.pool_dir
        p = str(self.client.manager.DefinePool(xml, opts()))
        self.client.obj(p).Start(opts(), dbus_interface=POOL_IFACE)
        probe = minimal_domain_xml('alice-probe')
        self.wait_until(lambda: self.alice.call(MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{sv}',
                                                [probe, {}]).get('ok'),
                        timeout=60, what='the delegation rule is in force')

    def define_and_start(self, xml, as_alice):
        """Defines and starts as alice or as root; the domain's path (running: a guest without disks)."""
        if as_alice:
            a = self.alice.call(MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{sv}', [xml, {}])
            self.assertTrue(a.get('ok'), a)
            path = a['result'][0]
            s = self.alice.call(path, DOMAIN_IFACE, 'Start', 'a{sv}', [{}], timeout=START_TIMEOUT)
            self.assertTrue(s.get('ok'), s)
        else:
            path = str(self.client.manager.DefineDomain(xml, opts()))
            self.client.domain(path).Start(opts(), timeout=START_TIMEOUT)
        self.client.wait_state(path, 'running', timeout=START_TIMEOUT)
        return path

    def qemu_pid(self, path):
        uuid = str(self.client.prop(path, 'UUID'))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pids = [p for p in self.fx.qemu_pids() if uuid in ' '.join(cmdline(p))]
            if pids:
                return pids[0]
            time.sleep(0.05)
        raise AssertionError('no qemu for %s' % path)

    def assert_confined(self, pid, what):
        st = proc_status(pid)
        self.assertNotIn('0', st['Uid'].split(), '%s: qemu %d runs as root' % (what, pid))
        self.assertNotIn('0', st['Gid'].split(), '%s: qemu %d runs with gid 0' % (what, pid))
        self.assertEqual(int(st['CapEff'], 16), 0, '%s: qemu %d has capabilities' % (what, pid))
        self.assertEqual(st['NoNewPrivs'], '1', what)
        self.assertEqual(st['Seccomp'], '2', what)

    def qemu_monitor(self, path):
        """qemu's own QMP monitor: it takes one client, so vmgmtd goes (SIGKILL) until monitor_done()."""
        uuid = str(self.client.prop(path, 'UUID'))
        self.fx.daemon.kill()
        qmp = Qmp(os.path.join(self.fx.daemon.run_dir, uuid, 'monitor.sock'))
        self.addCleanup(qmp.close)
        return qmp

    def monitor_done(self, qmp, path):
        qmp.close()
        self.fx.daemon.start()
        self.client.wait_state(path, 'running', timeout=START_TIMEOUT)

    def open_graphics_banner(self, path):
        fd = self.client.domain(path).OpenGraphics(opts()).take()
        s = socket.socket(fileno=fd)
        try:
            s.settimeout(60)
            return recv_exactly(s, 12)
        finally:
            s.close()


class VncSocketPath(DelegatedConfinedTestCase):

    def test_vnc_socket_at_her_path_and_roots(self):
        domains = []
        for who, as_alice in (('alice', True), ('root', False)):
            sock = os.path.join(self.pool_dir, 'vnc-%s.sock' % who)
            gfx = "<graphics type='vnc'><listen type='socket' socket='%s'/></graphics>" % sock
            path = self.define_and_start(minimal_domain_xml('alice-vnc-' + who, extra_devices=gfx), as_alice)
            pid = self.qemu_pid(path)
            self.assert_confined(pid, who)
            # bound by vmgmtd with the caller's rights, not by qemu's uid
            st = os.stat(sock)
            self.assertEqual((st.st_uid, st.st_gid), (NOBODY, NOBODY) if as_alice else (0, 0), who)
            self.assertEqual(rfb_banner(sock), b'RFB 003.008\n', who)
            self.assertEqual(self.open_graphics_banner(path), b'RFB 003.008\n', who)
            self.assertIn(sock, str(self.client.domain(path).GetXML(opts())))
            domains.append((who, path, sock, pid))
        # a vmgmtd that crashed and came back reaches the same qemus; PATH never stopped listening
        self.fx.daemon.kill()
        for who, path, sock, pid in domains:
            self.assertEqual(rfb_banner(sock), b'RFB 003.008\n', who + ' (vmgmtd gone)')
        self.fx.daemon.start()
        for who, path, sock, pid in domains:
            self.client.wait_state(path, 'running', timeout=START_TIMEOUT)
            self.assertEqual(self.qemu_pid(path), pid)
            self.assertEqual(rfb_banner(sock), b'RFB 003.008\n', who + ' (after the restart)')
            self.assertEqual(self.open_graphics_banner(path), b'RFB 003.008\n', who + ' (after the restart)')



def qemu_img(*args):
    subprocess.run(['qemu-img'] + list(args), check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def qcow2_disk(path, dev='vdb'):
    return ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
            "<target dev='%s' bus='virtio'/></disk>" % (path, dev))


class BackingChain(DelegatedConfinedTestCase):

    def chain(self, names, owners):
        """qcow2 files in her pool, each the backing file of the next (absolute names); layer i
        holds the byte 0x41+i at offset i*64k. The paths, deepest first."""
        paths = []
        for i, (name, owner) in enumerate(zip(names, owners)):
            p = os.path.join(self.pool_dir, name)
            if paths:
                qemu_img('create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', paths[-1], p)
            else:
                qemu_img('create', '-q', '-f', 'qcow2', p, '1M')
            subprocess.run(['qemu-io', '-f', 'qcow2', '-c', 'write -q -P 0x%x %dk 64k' % (0x41 + i, 64 * i), p],
                           check=True, stdout=subprocess.PIPE)
            os.chown(p, owner, owner)
            os.chmod(p, 0o644 if owner == NOBODY else 0o600)
            paths.append(p)
        return paths

    def test_three_layers_read_through(self):
        layers = self.chain(['base.qcow2', 'mid.qcow2', 'top.qcow2'], [NOBODY] * 3)
        path = self.define_and_start(minimal_domain_xml('alice-chain', extra_devices=qcow2_disk(layers[-1])),
                                     as_alice=True)
        pid = self.qemu_pid(path)
        self.assert_confined(pid, 'alice-chain')
        nbd = os.path.join(self.fx.daemon.run_dir, str(self.client.prop(path, 'UUID')), 'nbd.sock')
        qmp = self.qemu_monitor(path)
        nodes = qmp.command('query-named-block-nodes')['return']
        # every layer is a qcow2 node of its own, the top one's backing chain reaching the base
        formats = [n for n in nodes if n.get('drv') == 'qcow2']
        self.assertEqual(len(formats), 3, nodes)
        top = [n for n in formats if n['image'].get('backing-image', {}).get('backing-image')]
        self.assertEqual(len(top), 1, formats)
        self.assertEqual(top[0]['backing_file_depth'], 2, top[0])
        # qemu reads each layer's own bytes through the top node: exported over NBD on a socket in its run dir
        for cmd, args in (('nbd-server-start', {'addr': {'type': 'unix', 'data': {'path': nbd}}}),
                          ('block-export-add', {'type': 'nbd', 'id': 'chain', 'node-name': top[0]['node-name'],
                                                'name': 'chain'})):
            r = qmp.command(cmd, args)
            self.assertIn('return', r, (cmd, r))
        out = os.path.join(self.fx.tmp, 'chain.raw')
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', 'nbd+unix:///chain?socket=' + nbd, out],
                       check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=START_TIMEOUT)
        with open(out, 'rb') as f:
            data = f.read()
        for i in range(3):
            self.assertEqual(data[i * 65536:(i + 1) * 65536], bytes([0x41 + i]) * 65536, 'layer %d' % i)
        self.assertEqual(data[3 * 65536:], b'\0' * (len(data) - 3 * 65536))
        self.monitor_done(qmp, path)
        self.assertEqual(self.qemu_pid(path), pid)

    def test_root_only_deepest_layer_refused(self):
        layers = self.chain(['rbase.qcow2', 'rmid.qcow2', 'rtop.qcow2'], [0, NOBODY, NOBODY])
        for method in ('DefineDomain', 'CreateDomain'):
            xml = minimal_domain_xml('alice-rchain-' + method, extra_devices=qcow2_disk(layers[-1]))
            a = self.alice.call(MANAGER_PATH, MANAGER_IFACE, method, 'sa{sv}', [xml, {}], timeout=START_TIMEOUT)
            if a.get('ok'):   # DefineDomain may take it; Start is where the files are opened
                s = self.alice.call(a['result'][0], DOMAIN_IFACE, 'Start', 'a{sv}', [{}], timeout=START_TIMEOUT)
                a = s
            self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, (method, a))
            self.assertIn(layers[0], a.get('message', ''), (method, a))
        self.assertEqual(self.fx.qemu_pids(), [])


class UnixChardevSockets(DelegatedConfinedTestCase):

    def test_channel_sockets_of_hers(self):
        # (a <serial>/<console> is type='pty' only in vmgmt: a unix one is InvalidXML for everybody)
        bound = os.path.join(self.pool_dir, 'channel.sock')
        devices = ("<controller type='virtio-serial' index='0'/>"
                   "<channel type='unix'><source mode='bind' path='%s'/>"
                   "<target type='virtio' name='org.vmgmt.test.0'/></channel>" % bound)
        path = self.define_and_start(minimal_domain_xml('alice-chr', extra_devices=devices), as_alice=True)
        pid = self.qemu_pid(path)
        self.assert_confined(pid, 'alice-chr')
        self.assertEqual(os.stat(bound).st_uid, NOBODY)
        qmp = self.qemu_monitor(path)

        def chardevs():
            return {c['label']: c['filename'] for c in qmp.command('query-chardev')['return']}

        labels = [label for label, filename in chardevs().items() if bound in filename]
        self.assertEqual(len(labels), 1, chardevs())
        self.assertTrue(chardevs()[labels[0]].startswith('disconnected:'), chardevs())
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(c.close)
        c.settimeout(60)
        c.connect(bound)
        # qemu accepted it: the chardev is connected
        deadline = time.monotonic() + 60
        while chardevs()[labels[0]].startswith('disconnected:') and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(chardevs()[labels[0]].startswith('disconnected:'), chardevs())
        self.monitor_done(qmp, path)



# alice-pool's files need an administrator's password (a prompt that stays
# open); other-pool's are refused at once
PROMPT_RULE = '''
polkit.addRule(function(action, subject) {
    if (subject.user != "nobody")
        return polkit.Result.NOT_HANDLED;
    var domain = action.lookup("domain") || "";
    if ((action.id == "org.vmgmt.domain.manage" || action.id == "org.vmgmt.domain.lifecycle") &&
        domain.indexOf("alice-") == 0)
        return polkit.Result.YES;
    if (action.id == "org.vmgmt.storage.use" && action.lookup("pool") == "alice-pool")
        return polkit.Result.AUTH_ADMIN;
    return polkit.Result.NOT_HANDLED;
});
'''


class BusMonitor:
    """dbus-monitor on the private bus, its messages as blocks of text (header line first)."""

    def __init__(self, address):
        self.proc = subprocess.Popen(['dbus-monitor', '--address', address], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=_child_env({}))
        self.lock = threading.Lock()
        self.blocks = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        # the bus sends a monitor NameLost for its own name once it monitors: what comes after is seen
        deadline = time.monotonic() + 60
        while not any('member=NameLost' in b.split('\n', 1)[0] for b in self.messages()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise AssertionError('dbus-monitor did not start monitoring within 60s')
            time.sleep(0.05)

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            with self.lock:
                if line and not line[0].isspace():
                    self.blocks.append(line)
                elif self.blocks:
                    self.blocks[-1] += '\n' + line

    def messages(self):
        with self.lock:
            return list(self.blocks)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def header_field(block, name):
    m = re.search(r'\b%s=(\S+?);?(\s|$)' % name, block.split('\n', 1)[0])
    return m.group(1) if m else None


class PolkitCancel(DelegatedConfinedTestCase):
    daemon_conf = {'polkit_timeout_sec': 20, 'polkit_interactive_timeout_sec': 300}
    rule = PROMPT_RULE

    def setUp(self):
        for exe, pkg in (('/usr/bin/pkttyagent', 'pkexec'), ('/usr/bin/dbus-monitor', 'dbus-bin')):
            if not os.access(exe, os.X_OK):
                skip_missing(exe, pkg)
        super().setUp()
        self.other_dir = os.path.join(self.fx.tmp, 'other-pool')
        os.mkdir(self.other_dir, 0o755)
        xml = "<pool type='dir'><name>other-pool</name><target><path>%s</path></target></pool>" % self.other_dir
        p = str(self.client.manager.DefinePool(xml, opts()))
        self.client.obj(p).Start(opts(), dbus_interface=POOL_IFACE)
        self.mon = BusMonitor(self.fx.bus.address)
        self.addCleanup(self.mon.close)
        self.agent_pty = self.start_agent(self.alice.proc.pid)

    def start_agent(self, pid):
        """polkit's text agent for alice's client process, as alice, on a pty of its own: it outlives the
        client, so a prompt stays open until polkit ends it."""
        child, fd = pty.fork()
        if child == 0:
            try:
                os.execvpe('setpriv', ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                                       '/usr/bin/pkttyagent', '--process', str(pid)],
                           _child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address, 'HOME': '/', 'LANG': 'C'}))
            finally:
                os._exit(127)
        self.addCleanup(self.kill_agent, child, fd)
        self.wait_until(lambda: self.answer_to(lambda b: header_field(b, 'member') == 'RegisterAuthenticationAgent'),
                        timeout=60, what='pkttyagent registered')
        return fd

    def kill_agent(self, pid, fd):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (OSError, ChildProcessError):
            pass
        os.close(fd)

    def image(self, directory, name):
        p = os.path.join(directory, name)
        with open(p, 'wb') as f:
            f.truncate(1 << 20)
        os.chown(p, NOBODY, NOBODY)
        return p

    def disk(self, path, dev):
        return ("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
                "<target dev='%s' bus='virtio'/><readonly/></disk>" % (path, dev))

    def answer_to(self, is_call):
        """The reply (block) to the first method call `is_call` accepts, None before it came."""
        msgs = self.mon.messages()
        for c in msgs:
            if c.startswith('method call') and is_call(c):
                sender, serial = header_field(c, 'sender'), header_field(c, 'serial')
                for b in msgs:
                    if header_field(b, 'reply_serial') == serial and header_field(b, 'destination') == sender:
                        return b
                return None
        return None

    def assert_cancelled(self, volume):
        """vmgmtd asked polkit to cancel its question about `volume` (CancelCheckAuthorization with the
        question's cancellation id; sent without expecting a reply), polkit ended the agent's authentication
        (CancelAuthentication: the question was still pending) and answered the question: not authorized."""
        def question(b):
            return (header_field(b, 'member') == 'CheckAuthorization' and '"org.vmgmt.storage.use"' in b and
                    '"%s"' % volume in b)
        self.wait_until(lambda: [b for b in self.mon.messages() if b.startswith('method call') and question(b)],
                        timeout=60, what='the question about ' + volume)
        q = [b for b in self.mon.messages() if b.startswith('method call') and question(b)][0]
        cancel_id = re.findall(r'string "(vmgmt-\d+)"', q)
        self.assertEqual(len(cancel_id), 1, q)
        self.wait_until(lambda: any(b.startswith('method call') and header_field(b, 'member') == 'CancelCheckAuthorization'
                                    and '"%s"' % cancel_id[0] in b for b in self.mon.messages()),
                        timeout=60, what='CancelCheckAuthorization of ' + cancel_id[0])
        self.wait_until(lambda: any(b.startswith('method call') and header_field(b, 'member') == 'CancelAuthentication'
                                    for b in self.mon.messages()),
                        timeout=60, what="polkit cancelling the agent's authentication")
        a = self.wait_until(lambda: self.answer_to(question), timeout=60,
                            what="polkit's answer to the question about " + volume)
        self.assertTrue(a.startswith('method return') and 'boolean false' in a.split('\n')[2], a)

    def define_as_alice(self, name, devices):
        a = self.alice.call(MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{sv}',
                            [minimal_domain_xml(name, extra_devices=devices), {}])
        self.assertTrue(a.get('ok'), a)
        return a['result'][0]

    def start_call(self, path):
        return {'path': path, 'iface': DOMAIN_IFACE, 'method': 'Start', 'sig': 'a{sv}', 'args': [{}],
                'interactive': True, 'timeout': START_TIMEOUT}

    def test_caller_disconnects_at_the_prompt(self):
        img = self.image(self.pool_dir, 'prompt.img')
        path = self.define_as_alice('alice-prompt', self.disk(img, 'vdb'))
        self.alice.batch_start([self.start_call(path)])
        text = read_until(self.agent_pty, ['AUTHENTICATING FOR org.vmgmt.storage.use'], 60)
        self.assertIn('AUTHENTICATING FOR org.vmgmt.storage.use', text)
        self.alice.proc.kill()   # the caller goes; the agent stays at the prompt
        self.alice.proc.wait()
        self.assert_cancelled('prompt.img')
        self.rec.sync()
        self.assertEqual(self.client.prop(path, 'State'), 'shutoff')
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_vmgmtd_exits_at_the_prompt(self):
        img = self.image(self.pool_dir, 'exit.img')
        path = self.define_as_alice('alice-exit', self.disk(img, 'vdb'))
        self.alice.batch_start([self.start_call(path)])
        text = read_until(self.agent_pty, ['AUTHENTICATING FOR org.vmgmt.storage.use'], 60)
        self.assertIn('AUTHENTICATING FOR org.vmgmt.storage.use', text)
        self.fx.daemon.stop()   # SIGTERM: the start is dropped while vmgmtd is still on the bus
        self.assert_cancelled('exit.img')
        self.assertEqual(self.fx.qemu_pids(), [])
        self.fx.daemon.start()
        self.assertEqual(self.client.prop(path, 'State'), 'shutoff')

    def test_another_file_refused_first(self):
        mine = self.image(self.pool_dir, 'mine.img')
        theirs = self.image(self.other_dir, 'theirs.img')
        path = self.define_as_alice('alice-two', self.disk(mine, 'vdb') + self.disk(theirs, 'vdc'))
        self.alice.batch_start([self.start_call(path)])
        a = self.alice.batch_finish()[0]
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn(theirs, a.get('message', ''), a)
        self.assert_cancelled('mine.img')
        self.assertEqual(self.client.prop(path, 'State'), 'shutoff')
        self.assertEqual(self.fx.qemu_pids(), [])


class PoolTargetsOffTheLoop(DelegatedConfinedTestCase):

    def setUp(self):
        if not shutil.which('strace'):
            skip_missing('strace', 'strace')
        super().setUp()

    def test_targets_resolved_by_another_thread(self):
        img = os.path.join(self.pool_dir, 'traced.img')
        with open(img, 'wb') as f:
            f.truncate(1 << 20)
        os.chown(img, NOBODY, NOBODY)
        a = self.alice.call(MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{sv}', [minimal_domain_xml(
            'alice-traced', extra_devices="<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                                          "<source file='%s'/><target dev='vdb' bus='virtio'/><readonly/></disk>"
                                          % img), {}])
        self.assertTrue(a.get('ok'), a)
        path = a['result'][0]
        pid = self.fx.daemon.proc.pid
        trace = os.path.join(self.fx.tmp, 'vmgmtd.strace')
        st = subprocess.Popen(['strace', '-f', '-qq', '-s', '400', '-e', 'trace=%file', '-o', trace, '-p', str(pid)],
                              stdin=subprocess.DEVNULL)
        try:
            self.wait_until(lambda: tracer_pid(pid) == st.pid, what='strace attached', timeout=60)
            s = self.alice.call(path, DOMAIN_IFACE, 'Start', 'a{sv}', [{}], timeout=START_TIMEOUT)
            self.assertTrue(s.get('ok'), s)
        finally:
            st.send_signal(signal.SIGINT)
            st.wait(60)
        self.client.wait_state(path, 'running', timeout=START_TIMEOUT)
        with open(trace) as f:
            lines = f.read().splitlines()
        # realpath() of the target: a syscall naming exactly the target (its last component)
        on_target = [ln for ln in lines if '"%s"' % self.pool_dir in ln]
        self.assertTrue(on_target, 'no syscall on the target %s seen:\n%s' % (self.pool_dir, '\n'.join(lines[:60])))
        tids = {int(ln.split()[0]) for ln in on_target}
        self.assertNotIn(pid, tids, 'the event loop touched the target:\n%s' % '\n'.join(on_target))


if __name__ == '__main__':
    main()
