# One policy for every kind of object (issue 11): a caller who may not
# define gets AccessDenied before anything about the XML is said — for
# domains, networks, pools, volumes and secrets alike — and a caller who may gets the
# precise InvalidXML. A real polkitd (auth_harness), callers as uid 65534.

import os

import dbus

from auth_harness import (ERR_ACCESS_DENIED, ERR_INTERACTIVE, MANAGER_IFACE, MANAGER_PATH, AuthTestCase,
                          main, opts)

ERR_INVALID_XML = 'org.vmgmt.Error.InvalidXML'
POOL_IFACE = 'org.vmgmt.StoragePool'

# XML that does not validate: an unknown element each parser names.
BAD = {
    'domain': "<domain type='qemu'><name>d</name><memory>65536</memory><os><type>hvm</type></os>"
              "<frobnicate/></domain>",
    'network': "<network><name>n</name><frobnicate/></network>",
    'pool': "<pool type='dir'><name>p</name><frobnicate/><target><path>/nonexistent</path></target></pool>",
    'volume': "<volume><name>v</name><frobnicate/><capacity>1048576</capacity></volume>",
    'secret': "<secret ephemeral='no' private='no'><frobnicate/><usage type='ceph'><name>c</name></usage></secret>",
}

MANAGE_ALL_RULE = '''
polkit.addRule(function(action, subject) {
    if ((action.id == "org.vmgmt.domain.manage" || action.id == "org.vmgmt.network.manage" ||
         action.id == "org.vmgmt.storage.manage" || action.id == "org.vmgmt.secret.manage") &&
        subject.user == "nobody")
        return polkit.Result.YES;
});
'''


class KindPolicy(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 10}

    def setUp(self):
        super().setUp()
        target = os.path.join(self.fx.tmp, 'pool-a')
        os.makedirs(target)
        xml = "<pool type='dir'><name>pa</name><target><path>%s</path></target></pool>" % target
        self.pool = str(self.client.manager.DefinePool(xml, opts()))
        self.client.obj(self.pool).Start(opts(), dbus_interface=POOL_IFACE)
        self.source = str(self.client.obj(self.pool).CreateVolume(
            "<volume><name>src.raw</name><capacity>1048576</capacity></volume>", opts(),
            dbus_interface=POOL_IFACE))

    def calls(self):
        """(what, path, interface, method, signature, args) of every call that takes a definition."""
        return [
            ('DefineDomain', MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{sv}', [BAD['domain'], {}]),
            ('CreateDomain', MANAGER_PATH, MANAGER_IFACE, 'CreateDomain', 'sa{sv}', [BAD['domain'], {}]),
            ('DefineNetwork', MANAGER_PATH, MANAGER_IFACE, 'DefineNetwork', 'sa{sv}', [BAD['network'], {}]),
            ('CreateNetwork', MANAGER_PATH, MANAGER_IFACE, 'CreateNetwork', 'sa{sv}', [BAD['network'], {}]),
            ('DefinePool', MANAGER_PATH, MANAGER_IFACE, 'DefinePool', 'sa{sv}', [BAD['pool'], {}]),
            ('CreatePool', MANAGER_PATH, MANAGER_IFACE, 'CreatePool', 'sa{sv}', [BAD['pool'], {}]),
            ('CreateVolume', self.pool, POOL_IFACE, 'CreateVolume', 'sa{sv}', [BAD['volume'], {}]),
            ('CloneVolume', self.pool, POOL_IFACE, 'CloneVolume', 'soa{sv}', [BAD['volume'], self.source, {}]),
            ('DefineSecret', MANAGER_PATH, MANAGER_IFACE, 'DefineSecret', 'sa{sv}', [BAD['secret'], {}]),
        ]

    def test_bad_xml_refused_before_it_is_read(self):
        before = self.fx.snapshot()
        u = self.fx.unprivileged()
        for what, path, iface, method, sig, args in self.calls():
            for interactive in (False, True):
                a = u.call(path, iface, method, sig, args, interactive=interactive)
                self.assertFalse(a.get('ok'), (what, a))
                self.assertIn(a.get('error'), (ERR_ACCESS_DENIED, ERR_INTERACTIVE), (what, a))
                self.assertNotIn('frobnicate', a.get('message', ''), (what, a))
        self.assertUnchanged(before)   # the fd count may lag a reply by a loop iteration

    def test_bad_xml_explained_to_who_may_define(self):
        self.fx.write_rule('50-nobody-manage-all.rules', MANAGE_ALL_RULE)
        u = self.fx.unprivileged()
        first = self.calls()[0]
        self.wait_until(lambda: u.call(*first[1:]).get('error') == ERR_INVALID_XML,
                        timeout=60, what='the manage rule is in force')
        before = self.fx.snapshot()
        for what, path, iface, method, sig, args in self.calls():
            a = u.call(path, iface, method, sig, args)
            self.assertEqual(a.get('error'), ERR_INVALID_XML, (what, a))
            self.assertIn('frobnicate', a.get('message', ''), (what, a))
            # root is told the same thing
            root_args = [opts() if x == {} else dbus.ObjectPath(x) if x == self.source else x for x in args]
            try:
                self.client.obj(path).get_dbus_method(method, iface)(*root_args)
                self.fail('%s took bad XML' % what)
            except dbus.DBusException as e:
                self.assertEqual(e.get_dbus_name(), ERR_INVALID_XML, (what, e))
                self.assertEqual(e.get_dbus_message(), a.get('message'), what)
        self.assertUnchanged(before)   # the fd count may lag a reply by a loop iteration


if __name__ == '__main__':
    main()
