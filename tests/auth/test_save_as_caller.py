# Issue 13 under issue 12's confinement: a save or dump file named by a caller
# is created with her rights (never by root by name) and judged by the path
# policy; a restore image is opened read-only with her rights. A real polkitd
# lets uid 65534 manage the domain and use the pool `images`; she runs as 65534.

import os
import subprocess

from auth_harness import (DOMAIN_IFACE, ERR_ACCESS_DENIED, MANAGER_IFACE, MANAGER_PATH, AuthTestCase, main,
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


class SaveAsCaller(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 10}

    def setUp(self):
        super().setUp()
        os.chmod(self.fx.tmp, 0o755)
        # the pool: 65534 may write there (sticky, like /tmp)
        self.images = os.path.join(self.fx.tmp, 'images')
        os.makedirs(self.images)
        os.chmod(self.images, 0o1777)
        # root's own directory inside the pool, and a directory she may write outside every pool
        self.private = os.path.join(self.images, 'root-only')
        os.makedirs(self.private)
        os.chmod(self.private, 0o755)
        self.outside = os.path.join(self.fx.tmp, 'outside')
        os.makedirs(self.outside)
        os.chmod(self.outside, 0o1777)
        xml = "<pool type='dir'><name>images</name><target><path>%s</path></target></pool>" % self.images
        pool = str(self.client.manager.DefinePool(xml, opts()))
        self.client.obj(pool).Start(opts(), dbus_interface=POOL_IFACE)
        self.fx.write_rule('50-nobody-save.rules', RULE)
        self.path = str(self.client.manager.DefineDomain(minimal_domain_xml('sac'), opts()))
        self.client.domain(self.path).Start(opts())
        self.client.wait_state(self.path, 'running')

    def wait_job(self, job):
        self.wait_until(lambda: self.client.prop(job, 'State', iface=JOB_IFACE) != 'running', timeout=180,
                        what='job %s' % job)
        return str(self.client.prop(job, 'State', iface=JOB_IFACE))

    def save_as_nobody(self, u, target, method='Save'):
        return u.call(self.path, DOMAIN_IFACE, method, 'sa{sv}', [target, {}])

    def test_save_and_dump_are_created_as_the_caller(self):
        u = self.fx.unprivileged()
        denied = os.path.join(self.private, 'x.save')
        # the rule may take a moment to be read by polkitd
        self.wait_until(lambda: self.save_as_nobody(u, denied).get('error') == ERR_ACCESS_DENIED, timeout=60,
                        what='a Save into a root-only directory refused to 65534')
        for method in ('Save', 'CoreDump'):
            a = self.save_as_nobody(u, denied, method)
            self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
            self.assertIn('cannot create %s: Permission denied' % denied, a.get('message', ''), a)
            # writable by her, but in no pool she may use: the path policy says no, and nothing is left
            out = os.path.join(self.outside, 'x.save')
            a = self.save_as_nobody(u, out, method)
            self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
            self.assertIn(self.outside, a.get('message', ''), a)
        self.assertEqual(os.listdir(self.private), [])
        self.assertEqual(os.listdir(self.outside), [])
        self.assertEqual(self.client.prop(self.path, 'State'), 'running')

        # in the pool: the dump and the image are hers
        core = os.path.join(self.images, 'sac.core')
        a = u.call(self.path, DOMAIN_IFACE, 'CoreDump', 'sa{sv}', [core, {'memory_only': ('b', True)}])
        self.assertTrue(a.get('ok'), a)
        self.assertEqual(self.wait_job(a['result'][0]), 'completed')
        self.assertEqual(os.stat(core).st_uid, 65534)
        image = os.path.join(self.images, 'sac.save')
        a = self.save_as_nobody(u, image)
        self.assertTrue(a.get('ok'), a)
        self.assertEqual(self.wait_job(a['result'][0]), 'completed')
        st = os.stat(image)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (65534, 0o600))
        self.assertEqual(self.client.prop(self.path, 'State'), 'shutoff')

        # she restores her own image
        a = u.call(MANAGER_PATH, MANAGER_IFACE, 'RestoreDomain', 'sa{sv}', [image, {}])
        self.assertTrue(a.get('ok'), a)
        self.assertEqual(self.wait_job(a['result'][0]), 'completed')
        self.client.wait_state(self.path, 'running')

        # root's image (0600) is not hers to read, whatever the pool says
        job = str(self.client.domain(self.path).Save(os.path.join(self.images, 'root.save'), opts()))
        self.assertEqual(self.wait_job(job), 'completed')
        root_image = os.path.join(self.images, 'root.save')
        self.assertEqual(os.stat(root_image).st_uid, 0)
        a = u.call(MANAGER_PATH, MANAGER_IFACE, 'RestoreDomain', 'sa{sv}', [root_image, {}])
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn('cannot open %s: Permission denied' % root_image, a.get('message', ''), a)
        self.assertEqual(self.client.prop(self.path, 'State'), 'shutoff')
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_memory_snapshot_is_read_as_the_caller(self):
        # root's external memory snapshot (its memory file 0600, root's): reverting to it opens the file with
        # her rights, so she may not, and the domain is not touched
        img = os.path.join(self.images, 'ms.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', img, '16M'], check=True)
        disk = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                "<target dev='vda' bus='virtio'/></disk>" % img)
        path = str(self.client.manager.DefineDomain(minimal_domain_xml('msc', extra_devices=disk), opts()))
        self.client.domain(path).Start(opts())
        self.client.wait_state(path, 'running')
        mem = os.path.join(self.private, 'ms.mem')
        job = str(self.client.domain(path).CreateSnapshot(
            "<domainsnapshot><name>m</name><memory snapshot='external' file='%s'/></domainsnapshot>" % mem, opts()))
        self.assertEqual(self.wait_job(job), 'completed')
        st = os.stat(mem)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (0, 0o600))
        before = self.client.state(path)
        self.assertEqual(before[0], 'running')
        u = self.fx.unprivileged()
        a = u.call(path + '/snapshot/m', 'org.vmgmt.Snapshot', 'Revert', 'a{sv}', [{}])
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn('cannot open %s: Permission denied' % mem, a.get('message', ''), a)
        self.assertEqual(self.client.state(path), before)


if __name__ == '__main__':
    main()
