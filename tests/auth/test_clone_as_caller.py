# Issue 16's Clone under issue 12's confinement: the originals are read and the
# copies created with the caller's rights (never by root by name) and judged by
# the path policy, as Save's files. A real polkitd lets uid 65534 manage the
# domains and use the pool `images`; she runs as 65534.

import os
import subprocess

from auth_harness import DOMAIN_IFACE, ERR_ACCESS_DENIED, AuthTestCase, main, minimal_domain_xml, opts

POOL_IFACE = 'org.vmgmt.StoragePool'
JOB_IFACE = 'org.vmgmt.Job'

RULE = '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.manage" && subject.user == "nobody")
        return polkit.Result.YES;
    if (action.id == "org.vmgmt.storage.use" && subject.user == "nobody" &&
        action.lookup("pool") == "images")
        return polkit.Result.YES;
});
'''


def disk_xml(path, dev='vda'):
    return ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
            "<target dev='%s' bus='virtio'/></disk>" % (path, dev))


class CloneAsCaller(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 10}

    def setUp(self):
        super().setUp()
        os.chmod(self.fx.tmp, 0o755)
        # the pool: 65534 may write there (sticky, like /tmp); root's own directory in it; one outside every pool
        self.images = os.path.join(self.fx.tmp, 'images')
        os.makedirs(self.images)
        os.chmod(self.images, 0o1777)
        self.private = os.path.join(self.images, 'root-only')
        os.makedirs(self.private)
        os.chmod(self.private, 0o755)
        self.outside = os.path.join(self.fx.tmp, 'outside')
        os.makedirs(self.outside)
        os.chmod(self.outside, 0o1777)
        xml = "<pool type='dir'><name>images</name><target><path>%s</path></target></pool>" % self.images
        pool = str(self.client.manager.DefinePool(xml, opts()))
        self.client.obj(pool).Start(opts(), dbus_interface=POOL_IFACE)
        self.fx.write_rule('50-nobody-clone.rules', RULE)
        # the original's image: readable by everyone
        self.img = os.path.join(self.images, 'cac-disk.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', self.img, '16M'], check=True)
        os.chmod(self.img, 0o644)
        self.path = str(self.client.manager.DefineDomain(minimal_domain_xml('cac', extra_devices=disk_xml(self.img)),
                                                         opts()))

    def clone_as(self, u, path, name, files=None):
        o = {'files': ('as', files)} if files else {}
        return u.call(path, DOMAIN_IFACE, 'Clone', 'sa{sv}', [name, o])

    def wait_job(self, job):
        self.wait_until(lambda: self.client.prop(job, 'State', iface=JOB_IFACE) != 'running', timeout=180,
                        what='job %s' % job)
        return str(self.client.prop(job, 'State', iface=JOB_IFACE))

    def names(self):
        return sorted(str(self.client.prop(p, 'Name')) for p in self.client.manager.ListDomains(opts()))

    def test_clone_reads_and_creates_as_the_caller(self):
        u = self.fx.unprivileged()
        denied = os.path.join(self.private, 'x.qcow2')
        # the rule may take a moment to be read by polkitd
        self.wait_until(lambda: self.clone_as(u, self.path, 'cac-x', [denied]).get('error') == ERR_ACCESS_DENIED,
                        timeout=60, what='a copy into a root-only directory refused to 65534')
        a = self.clone_as(u, self.path, 'cac-x', [denied])
        self.assertIn('cannot create %s: Permission denied' % denied, a.get('message', ''), a)
        # writable by her, but in no pool she may use: the path policy says no
        a = self.clone_as(u, self.path, 'cac-x', [os.path.join(self.outside, 'x.qcow2')])
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn(self.outside, a.get('message', ''), a)
        self.assertEqual(os.listdir(self.private), [])
        self.assertEqual(os.listdir(self.outside), [])
        self.assertEqual(self.names(), ['cac'])

        # next to the original, in the pool: the copy is hers, 0600
        a = self.clone_as(u, self.path, 'cac-mine')
        self.assertTrue(a.get('ok'), a)
        self.assertEqual(self.wait_job(a['result'][0]), 'completed')
        copy = os.path.join(self.images, 'cac-mine-disk.qcow2')
        st = os.stat(copy)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (65534, 0o600))
        self.assertIn('cac-mine', self.names())

        # root's image (0600) is not hers to read: nothing is made
        secret = os.path.join(self.images, 'secret.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', secret, '16M'], check=True)
        os.chmod(secret, 0o600)
        p = str(self.client.manager.DefineDomain(minimal_domain_xml('cas', extra_devices=disk_xml(secret)), opts()))
        before = sorted(os.listdir(self.images))
        a = self.clone_as(u, p, 'cas-copy')
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn('cannot open %s: Permission denied' % secret, a.get('message', ''), a)
        self.assertEqual(sorted(os.listdir(self.images)), before)
        self.assertNotIn('cas-copy', self.names())


if __name__ == '__main__':
    main()
