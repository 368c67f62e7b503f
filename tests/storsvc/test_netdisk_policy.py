# test_netdisk_policy — who may start a domain with a network disk (a real polkitd; the caller
# uid 65534 through setpriv, allowed org.vmgmt.domain.lifecycle by a rule). A network disk opens
# no host file, so the path policy has nothing to judge: a tcp nbd disk starts for that caller.
# An nbd unix socket is a host path, connected as the caller and judged as every file is (in no
# pool polkit lets the caller use: AccessDenied naming it). A disk whose <auth> names one of
# vmgmt's secrets starts only for root: AccessDenied naming the secret, nothing started.
import os
import sys

import dbus

import storsvc_util  # noqa: F401  (puts tests/integration on sys.path)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'auth'))

from auth_harness import ERR_ACCESS_DENIED, AuthTestCase  # noqa: E402
from nbd_server import NbdServer  # noqa: E402
from vmgmt_harness import DOMAIN_IFACE, main, minimal_domain_xml, opts  # noqa: E402

NOBODY_LIFECYCLE = '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.lifecycle" && subject.user == "nobody")
        return polkit.Result.YES;
});
'''


def with_disk(xml, disk):
    return xml.replace('<devices>', '<devices>' + disk, 1) if '<devices>' in xml else \
        xml.replace('</domain>', '<devices>%s</devices></domain>' % disk)


class NetdiskPolicy(AuthTestCase):
    def nbd(self, tcp):
        n = NbdServer(self.fx.tmp)
        self.addCleanup(n.stop)
        return n.start(tcp=tcp)

    def nobody(self):
        """uid 65534, allowed org.vmgmt.domain.lifecycle once polkitd has read the rule (a domain
        without disks starts for it then)."""
        self.fx.write_rule('50-nobody-lifecycle.rules', NOBODY_LIFECYCLE)
        u = self.fx.unprivileged()
        probe = self.define(minimal_domain_xml('pol-probe'))
        self.wait_until(lambda: u.call(probe, DOMAIN_IFACE, 'Start', 'a{sv}', [{'paused': ['b', True]}]).get('ok'),
                        what='Start allowed by the rule')
        self.dom(probe).Destroy(opts())
        self.client.wait_state(probe, 'shutoff')
        return u

    def start_as(self, u, path):
        return u.call(path, DOMAIN_IFACE, 'Start', 'a{sv}', [{'paused': ['b', True]}])

    def test_tcp_nbd_allowed(self):
        nbd = self.nbd(tcp=True)
        disk = ("<disk type='network'><source protocol='nbd' name='%s'><host name='%s' port='%d'/></source>"
                "<target dev='vda'/></disk>" % (nbd.export, nbd.host, nbd.port))
        p = self.define(with_disk(minimal_domain_xml('pol1'), disk))
        r = self.start_as(self.nobody(), p)
        self.assertTrue(r.get('ok'), r)
        self.client.wait_state(p, 'paused')

    def test_unix_socket_judged_as_files(self):
        nbd = self.nbd(tcp=False)
        disk = ("<disk type='network'><source protocol='nbd' name='%s'><host transport='unix' socket='%s'/></source>"
                "<target dev='vda'/></disk>" % (nbd.export, nbd.socket))
        p = self.define(with_disk(minimal_domain_xml('pol2'), disk))
        os.chmod(nbd.socket, 0o666)   # the caller can connect: the policy decides
        r = self.start_as(self.nobody(), p)
        self.assertEqual(r.get('error'), ERR_ACCESS_DENIED, r)
        self.assertIn(nbd.socket, r.get('message'))
        self.assertEqual(self.client.state(p)[0], 'shutoff')

    def test_secret_root_only(self):
        s = self.manager.DefineSecret("<secret ephemeral='no' private='no'><usage type='ceph'><name>pol-key</name>"
                                      "</usage></secret>", opts())
        self.client.obj(str(s)).SetValue(dbus.ByteArray(b'\x01\x02key'), opts(), dbus_interface='org.vmgmt.Secret')
        disk = ("<disk type='network'><source protocol='rbd' name='rbd/img'><host name='127.0.0.1' port='1'/>"
                "<auth username='vmgmt'><secret type='ceph' usage='pol-key'/></auth></source>"
                "<target dev='vda'/></disk>")
        p = self.define(with_disk(minimal_domain_xml('pol3'), disk))
        r = self.start_as(self.nobody(), p)
        self.assertEqual(r.get('error'), ERR_ACCESS_DENIED, r)
        self.assertIn("pol-key", r.get('message'))
        self.assertIn('only root', r.get('message'))
        self.assertEqual(self.client.state(p)[0], 'shutoff')
        self.assertEqual([x for x in self.fx.qemu_pids() if 'qemu-system' in open('/proc/%d/cmdline' % x).read()], [])


if __name__ == '__main__':
    main()
