# Block jobs under delegation (issues 12 and 13): uid 65534 may manage the
# domain and use the pool `images`; the files a block job names are opened
# with her rights. A copy into a directory she cannot write, or a commit into
# a base she cannot write, is AccessDenied naming the path and changes
# nothing; a copy into her own directory works, and the new file is hers.

import json
import os
import subprocess
import time

from auth_harness import (DOMAIN_IFACE, ERR_ACCESS_DENIED, NOBODY, AuthTestCase, main,
                          minimal_domain_xml, opts)

POOL_IFACE = 'org.vmgmt.StoragePool'
JOB_IFACE = 'org.vmgmt.Job'

RULE = '''
polkit.addRule(function(action, subject) {
    if ((action.id == "org.vmgmt.domain.manage" || action.id == "org.vmgmt.domain.lifecycle") &&
        subject.user == "nobody")
        return polkit.Result.YES;
    if (action.id == "org.vmgmt.storage.use" && subject.user == "nobody" &&
        action.lookup("pool") == "images")
        return polkit.Result.YES;
});
'''


def qemu_img(*args):
    return subprocess.run(['qemu-img'] + list(args), check=True, stdout=subprocess.PIPE).stdout.decode()


class BlockJobAuth(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 10}

    def setUp(self):
        super().setUp()
        self.images = os.path.join(self.fx.tmp, 'images')
        os.makedirs(self.images)
        os.chmod(self.fx.tmp, 0o755)
        os.chmod(self.images, 0o755)
        # base (root's, read-only for others) <- top (hers to write)
        self.base = os.path.join(self.images, 'base.qcow2')
        self.top = os.path.join(self.images, 'top.qcow2')
        qemu_img('create', '-q', '-f', 'qcow2', self.base, '16M')
        qemu_img('create', '-q', '-f', 'qcow2', '-b', self.base, '-F', 'qcow2', self.top)
        os.chmod(self.base, 0o644)
        os.chmod(self.top, 0o666)
        # a directory only root may write, and one of hers
        self.closed = os.path.join(self.images, 'closed')
        self.hers = os.path.join(self.images, 'hers')
        os.makedirs(self.closed)
        os.makedirs(self.hers)
        os.chmod(self.closed, 0o755)
        os.chown(self.hers, NOBODY, NOBODY)
        xml = "<pool type='dir'><name>images</name><target><path>%s</path></target></pool>" % self.images
        pool = str(self.client.manager.DefinePool(xml, opts()))
        self.client.obj(pool).Start(opts(), dbus_interface=POOL_IFACE)
        self.fx.write_rule('50-nobody-blockjobs.rules', RULE)
        disk = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                "<source file='%s'/><target dev='vda' bus='virtio'/></disk>" % self.top)
        self.path = str(self.client.manager.DefineDomain(minimal_domain_xml('bj-auth', extra_devices=disk), opts()))
        self.client.domain(self.path).Start(opts(paused=True))
        self.client.wait_state(self.path, 'paused')
        self.u = self.fx.unprivileged()
        self.addCleanup(self.u.close)

    def copy(self, dest, **o):
        return self.u.call(self.path, DOMAIN_IFACE, 'BlockCopy', 'ssa{sv}',
                           ['vda', dest, {k: ['b', v] for k, v in o.items()}])

    def test_copy_needs_a_directory_she_can_write(self):
        dest = os.path.join(self.closed, 'copy.qcow2')
        # the rule may take a moment to be read by polkitd
        deadline = time.monotonic() + 60
        while True:
            a = self.copy(dest, finish=True)
            if a.get('error') == ERR_ACCESS_DENIED and dest in a.get('message', '') or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn(dest, a.get('message', ''), a)
        self.assertEqual(os.listdir(self.closed), [])
        # an existing root-only file is refused the same way
        secret = os.path.join(self.closed, 'secret.qcow2')
        qemu_img('create', '-q', '-f', 'qcow2', secret, '16M')
        os.chmod(secret, 0o600)
        a = self.copy(secret, reuse_external=True, finish=True)
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn(secret, a.get('message', ''), a)
        # a commit writes the base, which is root's
        a = self.u.call(self.path, DOMAIN_IFACE, 'BlockCommit', 'sa{sv}', ['vda', {'active': ['b', True]}])
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn(self.base, a.get('message', ''), a)
        self.assertNotIn('backing-filename', qemu_img('info', '-U', '--output=json', self.base))
        # her own directory: the copy is made, and it is hers
        mine = os.path.join(self.hers, 'copy.qcow2')
        a = self.copy(mine, finish=True)
        self.assertTrue(a.get('ok'), a)
        job = a['result'][0] if isinstance(a.get('result'), list) else a.get('result')
        deadline = time.monotonic() + 120
        while str(self.client.props(job, JOB_IFACE)['State']) == 'running' and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(str(self.client.props(job, JOB_IFACE)['State']), 'completed',
                         dict(self.client.props(job, JOB_IFACE)))
        deadline = time.monotonic() + 60
        while not os.path.exists(mine) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(os.stat(mine).st_uid, NOBODY)
        self.assertEqual(json.loads(qemu_img('info', '-U', '--output=json', mine))['format'], 'qcow2')


if __name__ == '__main__':
    main()
