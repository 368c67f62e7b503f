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
#
# A real polkitd (auth_harness) and real qemu (TCG).

import os
import socket
import subprocess
import time

from auth_harness import DOMAIN_IFACE, MANAGER_IFACE, MANAGER_PATH, NOBODY, AuthTestCase, main, minimal_domain_xml, opts
from test_confinement_escapes import Qmp
from vmgmt_harness import cmdline, proc_status

ERR_ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'

POOL_IFACE = 'org.vmgmt.StoragePool'
START_TIMEOUT = 120

DELEGATION_RULE = '''
polkit.addRule(function(action, subject) {
    if (subject.user != "nobody")
        return polkit.Result.NOT_HANDLED;
    var domain = action.lookup("domain") || "";
    if ((action.id == "org.vmgmt.domain.manage" || action.id == "org.vmgmt.domain.lifecycle") &&
        domain.indexOf("alice-") == 0)
        return polkit.Result.YES;
    if (action.id == "org.vmgmt.storage.use" && domain.indexOf("alice-") == 0 &&
        action.lookup("pool") == "alice-pool")
        return polkit.Result.YES;
    return polkit.Result.NOT_HANDLED;
});
'''


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

    def setUp(self):
        super().setUp()
        self.fx.write_rule('50-alice.rules', DELEGATION_RULE)
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
            self.assertEqual(os.stat(sock).st_uid, NOBODY if as_alice else 0, who)
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


if __name__ == '__main__':
    main()
