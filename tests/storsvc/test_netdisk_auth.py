# test_netdisk_auth — network disks whose server wants credentials, the credential a vmgmt secret:
# an iSCSI LUN of tgtd with CHAP (<auth username=><secret type='iscsi' usage=…/>) and an rbd image
# of a one-node Ceph with cephx (<secret type='ceph' uuid=…/>, the key's raw bytes as the
# secret's value), both servers children of the test on 127.0.0.1 (tests/storsvc/netservers.py).
# The booted guest reads through /dev/vda what was written into the LUN's backing file / the
# image; neither the password nor the key is on qemu's command line, in its environment or in
# any file under vmgmtd's run and config directories but its 0600 secret store; with a wrong password the start fails with
# qemu's words and leaves no qemu; after SetValue of the right one it starts. A second LUN with the
# same secret is hot-plugged (the secret as an object-add'ed secret object), read, detached, twice.
import base64
import os
import subprocess
import time

import dbus

import storsvc_util  # noqa: F401  (puts tests/integration on sys.path)
from netservers import CephCluster, TgtServer
from vmgmt_harness import (ERR_OPERATION_FAILED, GUEST_READY, VmgmtTestCase, cmdline, guest_domain_xml,
                           guest_image, main, opts, skip_missing)

BOOT_TIMEOUT = 240
WAIT = 120
MiB = 1 << 20
PASSWORD = 'chap-pass-9f2d71'
SECRET_UUID = '6f1d2e3c-4b5a-4978-8a6b-5c4d3e2f1a0b'


def need_module(name):
    path = '/usr/lib/x86_64-linux-gnu/qemu/block-%s.so' % name
    if not os.path.exists(path):
        skip_missing(path, 'qemu-block-extra')


def with_disk(xml, disk):
    return xml.replace('<devices>', '<devices>' + disk, 1)


def files_holding(dirs, needle):
    """Files under dirs whose bytes contain needle."""
    found = []
    for d in dirs:
        for root, _, names in os.walk(d):
            for n in names:
                p = os.path.join(root, n)
                try:
                    if os.path.isfile(p) and not os.path.islink(p):
                        with open(p, 'rb') as f:
                            if needle in f.read():
                                found.append(p)
                except OSError:
                    pass
    return found


class NetdiskAuth(VmgmtTestCase):
    @classmethod
    def setUpClass(cls):
        guest_image()
        super().setUpClass()

    def vm_qemu_pids(self):
        return [p for p in self.fx.qemu_pids() if 'qemu-system' in ' '.join(cmdline(p))]

    def secret(self, usage_type, usage, value, uuid=None):
        el = 'target' if usage_type == 'iscsi' else 'name'
        path = self.manager.DefineSecret("<secret ephemeral='no' private='yes'>%s<usage type='%s'><%s>%s</%s></usage>"
                                         "</secret>" % ('<uuid>%s</uuid>' % uuid if uuid else '', usage_type, el, usage,
                                                        el), opts())
        obj = self.client.obj(str(path))
        obj.SetValue(dbus.ByteArray(value), opts(), dbus_interface='org.vmgmt.Secret')
        return obj

    def boot_and_read(self, path, want):
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        self.assertIn(want, self.guest_read(con, '/dev/vda', len(want), 'RD'))
        return con

    def guest_read(self, con, dev, n, token):
        """The first n bytes of dev in the guest (once it has dev)."""
        deadline = time.monotonic() + WAIT
        while True:
            con.send("echo %s_B''EGIN; test -e %s && dd if=%s bs=%d count=1 2>/dev/null; echo %s_E''ND"
                     % (token, dev, dev, n, token))
            con.wait_for(token + '_BEGIN', WAIT)
            start = con.mark
            con.wait_for(token + '_END', WAIT)
            out = con.buf[start:con.mark]
            if out.strip(b'\r\n').replace(token.encode() + b'_END', b'').strip():
                return out
            self.assertLess(time.monotonic(), deadline, '%s never readable in the guest' % dev)
            time.sleep(0.5)

    def assert_nowhere(self, value):
        for pid in self.vm_qemu_pids():
            self.assertNotIn(value, '\0'.join(cmdline(pid)))
            with open('/proc/%d/environ' % pid, 'rb') as f:
                self.assertNotIn(value.encode(), f.read())
        # only the secret store itself (root's, 0600) holds it
        store = os.path.join(os.path.dirname(self.daemon.config_dir), 'secrets')
        held = files_holding([self.daemon.run_dir, os.path.dirname(self.daemon.config_dir)], value.encode())
        for p in held:
            self.assertEqual(os.path.dirname(p), store, p)
            self.assertEqual(os.stat(p).st_mode & 0o777, 0o600, p)

    def test_iscsi_chap(self):
        need_module('iscsi')
        tgt = TgtServer(self.fx.tmp)
        self.addCleanup(tgt.stop)
        tgt.start()
        iqn = tgt.add_target('netdisk', luns=[16 * MiB, 16 * MiB], user='vmgmtchap', password=PASSWORD)
        pattern = b'netdisk-iscsi-pattern-31'
        with open(tgt.lun_path(iqn, 1), 'r+b') as f:
            f.write(pattern)
        with open(tgt.lun_path(iqn, 2), 'r+b') as f:
            f.write(pattern.replace(b'pattern', b'hotplug'))
        sec = self.secret('iscsi', 'netdisk-target', b'wrong-password')
        disk = ("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                "<source protocol='iscsi' name='%s/1'><host name='%s' port='%d'/>"
                "<auth username='vmgmtchap'><secret type='iscsi' usage='netdisk-target'/></auth></source>"
                "<target dev='vda' bus='virtio'/></disk>" % (iqn, tgt.host, tgt.port))
        path = self.define(with_disk(guest_domain_xml('iscsi1'), disk))
        msg = self.assertDBusError(ERR_OPERATION_FAILED, self.dom(path).Start, opts())
        self.assertIn('disk', msg.lower())
        self.assertEqual(self.client.state(path)[0], 'shutoff')
        self.assertEqual(self.vm_qemu_pids(), [])
        sec.SetValue(dbus.ByteArray(PASSWORD.encode()), opts(), dbus_interface='org.vmgmt.Secret')
        con = self.boot_and_read(path, pattern)
        self.assert_nowhere(PASSWORD)
        # hot-plug of LUN 2 with the same secret (object-add of a secret, blockdev-add), twice: the
        # detach takes the secret object away with the disk, or the second attach would clash
        lun2 = disk.replace("/1'>", "/2'>").replace("dev='vda'", "dev='vdb'")
        for _ in range(2):
            self.rec.clear()
            self.dom(path).AttachDevice(lun2, opts(live=True))
            self.rec.wait_domain_event(path, 'device-added', timeout=WAIT)
            self.assertIn(pattern.replace(b'pattern', b'hotplug'), self.guest_read(con, '/dev/vdb', len(pattern), 'HP'))
            self.assert_nowhere(PASSWORD)
            self.rec.clear()
            self.dom(path).DetachDevice(lun2, opts(live=True))
            self.rec.wait_domain_event(path, 'device-removed', timeout=WAIT)

    def test_rbd_cephx(self):
        need_module('rbd')
        ceph = CephCluster(self.fx.tmp)
        self.addCleanup(ceph.stop)
        ceph.start()
        ceph.rbd('create', '--size', '16M', '%s/netdisk' % ceph.pool)
        r = subprocess.run(['qemu-io', '-f', 'raw', '-c', 'write -P 0x5a 0 4k', ceph.qemu_spec('netdisk')],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.secret('ceph', 'client.%s netdisk' % ceph.client, base64.b64decode(ceph.client_key), uuid=SECRET_UUID)
        disk = ("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                "<source protocol='rbd' name='%s/netdisk'><host name='%s' port='%d'/>"
                "<auth username='%s'><secret type='ceph' uuid='%s'/></auth></source>"
                "<target dev='vda' bus='virtio'/></disk>" % (ceph.pool, ceph.host, ceph.port, ceph.client, SECRET_UUID))
        path = self.define(with_disk(guest_domain_xml('rbd1'), disk))
        self.boot_and_read(path, b'Z' * 32)
        self.assert_nowhere(ceph.client_key)


if __name__ == '__main__':
    main()
