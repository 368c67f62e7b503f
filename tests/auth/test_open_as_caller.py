# Issue 12: vmgmtd opens a domain's host files with the rights of the caller
# who asked for the start, and qemu gets only fds. A real polkitd with a rule
# that lets uid 65534 run domains and use the pool `images`; the caller runs
# as 65534 (setpriv). The pool decides where her files may be (path policy);
# the file's own mode decides whether she can open it at all.

import os
import subprocess

from auth_harness import (DOMAIN_IFACE, ERR_ACCESS_DENIED, AuthTestCase, main,
                          minimal_domain_xml, opts)

POOL_IFACE = 'org.vmgmt.StoragePool'

LIFECYCLE_RULE = '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.lifecycle" && subject.user == "nobody")
        return polkit.Result.YES;
    if (action.id == "org.vmgmt.storage.use" && subject.user == "nobody" &&
        action.lookup("pool") == "images")
        return polkit.Result.YES;
});
'''


def disk_xml(path):
    return ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            "<source file='%s'/><target dev='vda' bus='virtio'/></disk>" % path)


class OpenAsCaller(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 10}

    def setUp(self):
        super().setUp()
        # a directory 65534 may search: the file's own mode is what decides
        self.images = os.path.join(self.fx.tmp, 'images')
        os.makedirs(self.images)
        os.chmod(self.fx.tmp, 0o755)
        os.chmod(self.images, 0o755)
        self.secret = self.image('secret.qcow2', 0o600)
        self.shared = self.image('shared.qcow2', 0o666)
        xml = "<pool type='dir'><name>images</name><target><path>%s</path></target></pool>" % self.images
        pool = str(self.client.manager.DefinePool(xml, opts()))
        self.client.obj(pool).Start(opts(), dbus_interface=POOL_IFACE)
        self.fx.write_rule('50-nobody-lifecycle.rules', LIFECYCLE_RULE)

    def image(self, name, mode):
        p = os.path.join(self.images, name)
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', p, '16M'], check=True)
        os.chmod(p, mode)
        return p

    def define(self, name, disk):
        return str(self.client.manager.DefineDomain(minimal_domain_xml(name, extra_devices=disk_xml(disk)), opts()))

    def start_as_nobody(self, u, path):
        return u.call(path, DOMAIN_IFACE, 'Start', 'a{sv}', [{}])

    def test_root_only_disk_is_access_denied_naming_the_path(self):
        secret = self.define('fds-secret', self.secret)
        shared = self.define('fds-shared', self.shared)
        u = self.fx.unprivileged()
        # the rule may take a moment to be read by polkitd
        self.wait_until(lambda: self.start_as_nobody(u, shared).get('ok'), timeout=60,
                        what='Start of the shared image as 65534')
        self.client.wait_state(shared, 'running')
        pid = self.fx.qemu_pids()[0]
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = f.read().decode(errors='replace')
        self.assertNotIn(self.images, argv, 'an image path reached the command line')
        opened = [os.readlink('/proc/%d/fd/%s' % (pid, fd)) for fd in os.listdir('/proc/%d/fd' % pid)]
        self.assertIn(self.shared, opened, 'qemu does not hold the image it was given')

        a = self.start_as_nobody(u, secret)
        self.assertFalse(a.get('ok'), a)
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn('cannot open %s: Permission denied' % self.secret, a.get('message', ''), a)
        self.assertEqual(self.client.prop(secret, 'State'), 'shutoff')
        self.assertEqual(len(self.fx.qemu_pids()), 1, 'a qemu was started for the refused domain')

        # root keeps today's behaviour
        self.client.domain(secret).Start(opts())
        self.client.wait_state(secret, 'running')
        for p in (secret, shared):
            self.client.domain(p).Destroy(opts())
            self.client.wait_state(p, 'shutoff')

    def test_backing_file_is_opened_as_the_caller(self):
        base = self.image('base.qcow2', 0o600)
        top = os.path.join(self.images, 'top.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top], check=True)
        os.chmod(top, 0o666)
        path = self.define('fds-chain', top)
        u = self.fx.unprivileged()
        self.wait_until(lambda: self.start_as_nobody(u, path).get('error') == ERR_ACCESS_DENIED, timeout=60,
                        what='the backing file refused to 65534')
        a = self.start_as_nobody(u, path)
        self.assertIn(base, a.get('message', ''), a)
        self.assertEqual(self.fx.qemu_pids(), [])
        # as root both layers reach qemu as fds, each its own node
        self.client.domain(path).Start(opts())
        self.client.wait_state(path, 'running')
        pid = self.fx.qemu_pids()[0]
        opened = [os.readlink('/proc/%d/fd/%s' % (pid, fd)) for fd in os.listdir('/proc/%d/fd' % pid)]
        self.assertIn(top, opened)
        self.assertIn(base, opened)
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = f.read().decode(errors='replace')
        self.assertNotIn(self.images, argv)
        self.assertIn('backing=disk0-backing1-format', argv)
        self.client.domain(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')


if __name__ == '__main__':
    main()
