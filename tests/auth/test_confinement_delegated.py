# Confinement for a delegated user (issue 12): what she may name works in the
# real, confined qemu. uid 65534 may manage and run the domains named alice-*
# and have them use the files of the storage pool alice-pool (her directory).
#
# - a VNC socket at a path of hers (<listen type='socket' socket=PATH/>):
#   vmgmtd binds it with her rights and hands the listening fd to qemu (QMP
#   getfd + display-update); a VNC client on PATH gets qemu's "RFB 003.008"
#   banner, OpenGraphics still works, and both survive vmgmtd being SIGKILLed
#   and started again.
#
# A real polkitd (auth_harness) and real qemu (TCG).

import os
import socket
import time

from auth_harness import DOMAIN_IFACE, MANAGER_IFACE, MANAGER_PATH, NOBODY, AuthTestCase, main, minimal_domain_xml, opts
from vmgmt_harness import cmdline, proc_status

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


if __name__ == '__main__':
    main()
