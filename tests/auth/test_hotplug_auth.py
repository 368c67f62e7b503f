# Issue 14: AttachDevice, DetachDevice, UpdateDevice and SetInterfaceParameters are org.vmgmt.domain.manage of the domain,
# asked before the XML is read; a new disk's image is opened with the caller's rights (a root-only
# file is AccessDenied naming it, before qemu sees anything) and judged by the path policy as at
# start (only the pools polkit lets her use); qemu gets an fd, never the path. A real polkitd with a
# rule for uid 65534 (setpriv), a running domain (TCG).

import os
import subprocess

from auth_harness import (DOMAIN_IFACE, ERR_ACCESS_DENIED, AuthTestCase, main,
                          minimal_domain_xml, opts)

POOL_IFACE = 'org.vmgmt.StoragePool'
ERR_INTERACTIVE = 'org.freedesktop.DBus.Error.InteractiveAuthorizationRequired'

MANAGE_RULE = '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.manage" && subject.user == "nobody" &&
        action.lookup("domain") == "hp-mine")
        return polkit.Result.YES;
    if (action.id == "org.vmgmt.storage.use" && subject.user == "nobody" &&
        action.lookup("pool") == "images")
        return polkit.Result.YES;
});
'''


def disk_xml(path, target='vdb'):
    return ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            "<source file='%s'/><target dev='%s' bus='virtio'/></disk>" % (path, target))


class HotplugAuth(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 10}

    def setUp(self):
        super().setUp()
        self.images = os.path.join(self.fx.tmp, 'images')
        self.elsewhere = os.path.join(self.fx.tmp, 'elsewhere')
        for d in (self.images, self.elsewhere):
            os.makedirs(d)
            os.chmod(d, 0o755)
        os.chmod(self.fx.tmp, 0o755)
        xml = "<pool type='dir'><name>images</name><target><path>%s</path></target></pool>" % self.images
        pool = str(self.client.manager.DefinePool(xml, opts()))
        self.client.obj(pool).Start(opts(), dbus_interface=POOL_IFACE)
        self.fx.write_rule('50-nobody-hotplug.rules', MANAGE_RULE)

    def image(self, d, name, mode):
        p = os.path.join(d, name)
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', p, '16M'], check=True)
        os.chmod(p, mode)
        return p

    def qemu_files(self):
        return [os.readlink('/proc/%d/fd/%s' % (pid, fd)) for pid in self.fx.qemu_pids()
                for fd in os.listdir('/proc/%d/fd' % pid)]

    def test_attach_as_the_caller(self):
        def xml(name):   # ACPI: the PCI bus of a pc machine takes hot-plugged devices
            return minimal_domain_xml(name).replace('</os>', '</os><features><acpi/></features>', 1)
        mine = str(self.client.manager.DefineDomain(xml('hp-mine'), opts()))
        other = str(self.client.manager.DefineDomain(xml('hp-other'), opts()))
        for p in (mine, other):
            self.client.domain(p).Start(opts(paused=True))
            self.client.wait_state(p, 'paused')
        shared = self.image(self.images, 'shared.qcow2', 0o666)
        secret = self.image(self.images, 'secret.qcow2', 0o600)
        outside = self.image(self.elsewhere, 'outside.qcow2', 0o666)
        u = self.fx.unprivileged()
        live = [{'live': ['b', True]}]

        def attach(path, xml):
            return u.call(path, DOMAIN_IFACE, 'AttachDevice', 'sa{sv}', [xml] + live)

        # the rule may take a moment to be read by polkitd
        self.wait_until(lambda: attach(mine, disk_xml(shared)).get('ok'), timeout=60,
                        what='AttachDevice of the shared image as 65534')
        self.assertIn(shared, self.qemu_files())
        for pid in self.fx.qemu_pids():
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                self.assertNotIn(self.images, f.read().decode(errors='replace'))
        before = str(self.client.domain(mine).GetXML(opts()))

        a = attach(mine, disk_xml(secret, 'vdc'))
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn('cannot open %s: Permission denied' % secret, a.get('message', ''), a)
        # outside every pool polkit lets her use: the path policy says no
        a = attach(mine, disk_xml(outside, 'vdc'))
        self.assertFalse(a.get('ok'), a)
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn(outside, a.get('message', ''), a)
        # another's domain: polkit says no before anything is read (even bad XML)
        for method in ('AttachDevice', 'DetachDevice', 'UpdateDevice'):
            a = u.call(other, DOMAIN_IFACE, method, 'sa{sv}', ['<not xml'] + live)
            self.assertIn(a.get('error'), (ERR_ACCESS_DENIED, ERR_INTERACTIVE), (method, a))
        a = u.call(other, DOMAIN_IFACE, 'SetInterfaceParameters', 'sa{sv}a{sv}',
                   ['52:54:00:00:00:01', {'inbound.average': ['u', 100]}, {}])
        self.assertIn(a.get('error'), (ERR_ACCESS_DENIED, ERR_INTERACTIVE), ('SetInterfaceParameters', a))
        self.assertEqual(str(self.client.domain(mine).GetXML(opts())), before)
        files = self.qemu_files()
        self.assertNotIn(secret, files)
        self.assertNotIn(outside, files)
        for p in (mine, other):
            self.client.domain(p).Destroy(opts())


if __name__ == '__main__':
    main()
