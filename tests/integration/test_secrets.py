#!/usr/bin/python3
# org.vmgmt.Secret (issue 15 item 3): libvirt's secrets as a bus object kind.
# Define, list, look up by UUID and by usage, set and get the value as root;
# an unprivileged caller (uid 65534 through setpriv, a real polkitd) is
# refused, and a private secret's value is refused even to a caller polkit
# allows; the files are root-only (0600); persistent secrets survive a
# vmgmtd restart, ephemeral ones do not; undefine removes the files; a usage
# is unique; bad XML changes nothing.

import os
import stat
import sys

import dbus

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'auth'))

from auth_harness import ERR_ACCESS_DENIED, ERR_INTERACTIVE, AuthTestCase  # noqa: E402
from vmgmt_harness import MANAGER_IFACE, MANAGER_PATH, dbus_error_name, main, opts  # noqa: E402

SECRET_IFACE = 'org.vmgmt.Secret'
ERR_INVALID_XML = 'org.vmgmt.Error.InvalidXML'
ERR_ALREADY_EXISTS = 'org.vmgmt.Error.AlreadyExists'
ERR_NO_SUCH_SECRET = 'org.vmgmt.Error.NoSuchSecret'
UUID_A = 'c6a3b0c2-8e0a-4d52-9f2e-1f4a6c3b2d01'
UUID_B = 'c6a3b0c2-8e0a-4d52-9f2e-1f4a6c3b2d02'

NOBODY_MANAGES_SECRETS = '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.secret.manage" && subject.user == "nobody")
        return polkit.Result.YES;
});
'''


def secret_xml(uuid=None, usage='client.admin', usage_type='ceph', ephemeral=False, private=False,
               description='ceph admin key'):
    el = {'iscsi': 'target', 'volume': 'volume'}.get(usage_type, 'name')
    return ("<secret ephemeral='%s' private='%s'>%s<description>%s</description>"
            "<usage type='%s'><%s>%s</%s></usage></secret>"
            % ('yes' if ephemeral else 'no', 'yes' if private else 'no',
               '<uuid>%s</uuid>' % uuid if uuid else '', description, usage_type, el, usage, el))


class Secrets(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 30}

    @property
    def secrets_dir(self):
        return os.path.join(os.path.dirname(self.daemon.config_dir), 'secrets')

    def files(self):
        d = self.secrets_dir
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def define(self, xml):
        return str(self.client.manager.DefineSecret(xml, opts()))

    def secret(self, path):
        return dbus.Interface(self.client.obj(path), SECRET_IFACE)

    def list_paths(self):
        return sorted(str(p) for p in self.client.manager.ListSecrets(opts()))

    def test_define_list_lookup_value(self):
        self.fx.rec.clear()
        a = self.define(secret_xml(UUID_A))
        self.fx.rec.wait_for(lambda es: any(x[0] == 'InterfacesAdded' and x[1] == a and SECRET_IFACE in x[2]
                                            for x in es), what='InterfacesAdded of the secret')
        b = self.define(secret_xml(UUID_B, usage='iqn.2026-01.org.example:t1', usage_type='iscsi',
                                   description='chap'))
        self.assertEqual(a, '/org/vmgmt/secret/' + UUID_A.replace('-', '_2d'))
        self.assertEqual(self.list_paths(), sorted([a, b]))
        p = self.client.props(a, SECRET_IFACE)
        self.assertEqual((p['UUID'], p['Description'], p['UsageType'], p['UsageID'], p['Ephemeral'], p['Private']),
                         (UUID_A, 'ceph admin key', 'ceph', 'client.admin', False, False))
        self.assertEqual(str(self.client.manager.GetSecret(UUID_A)), a)
        self.assertEqual(str(self.client.manager.GetSecret(UUID_A.replace('-', ''))), a)
        self.assertEqual(str(self.client.manager.GetSecret('ceph client.admin')), a)
        self.assertEqual(str(self.client.manager.GetSecret('iscsi iqn.2026-01.org.example:t1')), b)
        with self.assertRaises(dbus.DBusException) as cm:
            self.client.manager.GetSecret('iscsi client.admin')
        self.assertEqual(dbus_error_name(cm.exception), ERR_NO_SUCH_SECRET)
        self.assertIn(a, self.client.managed_objects())
        xml = str(self.secret(a).GetXML(opts()))
        self.assertIn('<uuid>%s</uuid>' % UUID_A, xml)
        self.assertIn("<usage type='ceph'>", xml)
        self.assertIn('<name>client.admin</name>', xml)

        # without a <uuid> one is made up
        c = self.define(secret_xml(usage='/var/lib/images/x.qcow2', usage_type='volume'))
        self.assertEqual(len(self.list_paths()), 3)
        self.assertEqual(len(self.client.props(c, SECRET_IFACE)['UUID']), 36)

        value = bytes(range(256)) + b'AQBkey=='
        self.secret(a).SetValue(dbus.ByteArray(value), opts())
        self.assertEqual(bytes(self.secret(a).GetValue(opts())), value)
        # stored root-only, as base64
        for name in (UUID_A + '.xml', UUID_A + '.base64'):
            st = os.stat(os.path.join(self.secrets_dir, name))
            self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o600, 0), name)
        with open(os.path.join(self.secrets_dir, UUID_A + '.base64'), 'rb') as f:
            self.assertNotIn(b'AQBkey==', f.read())

    def test_unprivileged_refused(self):
        a = self.define(secret_xml(UUID_A))
        self.secret(a).SetValue(dbus.ByteArray(b'hunter2'), opts())
        before = self.fx.snapshot()
        u = self.fx.unprivileged()
        for method, sig, args in (('SetValue', 'aya{sv}', [list(b'x'), {}]), ('GetValue', 'a{sv}', [{}]),
                                  ('Undefine', 'a{sv}', [{}])):
            r = u.call(a, SECRET_IFACE, method, sig, args)
            self.assertIn(r.get('error'), (ERR_ACCESS_DENIED, ERR_INTERACTIVE), (method, r))
        r = u.call(MANAGER_PATH, MANAGER_IFACE, 'DefineSecret', 'sa{sv}', [secret_xml(UUID_B, usage='x'), {}])
        self.assertIn(r.get('error'), (ERR_ACCESS_DENIED, ERR_INTERACTIVE), r)
        # reads are open
        r = u.call(a, SECRET_IFACE, 'GetXML', 'a{sv}', [{}])
        self.assertTrue(r.get('ok'), r)
        r = u.call(MANAGER_PATH, MANAGER_IFACE, 'ListSecrets', 'a{sv}', [{}])
        self.assertTrue(r.get('ok'), r)
        self.assertEqual(self.fx.snapshot(), before)
        self.assertEqual(bytes(self.secret(a).GetValue(opts())), b'hunter2')

    def test_private_refused_to_allowed_caller(self):
        a = self.define(secret_xml(UUID_A, private=True))
        self.secret(a).SetValue(dbus.ByteArray(b'topsecret'), opts())
        self.fx.write_rule('50-nobody-secrets.rules', NOBODY_MANAGES_SECRETS)
        u = self.fx.unprivileged()
        # the rule is in force once nobody may set the value
        self.wait_until(lambda: u.call(a, SECRET_IFACE, 'SetValue', 'aya{sv}', [list(b'topsecret'), {}]).get('ok'),
                        timeout=60, what='the secret rule is in force')
        r = u.call(a, SECRET_IFACE, 'GetValue', 'a{sv}', [{}])
        self.assertEqual(r.get('error'), ERR_ACCESS_DENIED, r)
        self.assertNotIn('topsecret', repr(r))
        # root still reads it
        self.assertEqual(bytes(self.secret(a).GetValue(opts())), b'topsecret')
        # and a private secret stays private
        with self.assertRaises(dbus.DBusException):
            self.define(secret_xml(UUID_A, private=False))
        self.assertTrue(self.client.props(a, SECRET_IFACE)['Private'])

    def test_restart_ephemeral_undefine(self):
        a = self.define(secret_xml(UUID_A))
        self.secret(a).SetValue(dbus.ByteArray(b'persist-me'), opts())
        e = self.define(secret_xml(UUID_B, usage='client.eph', ephemeral=True))
        self.secret(e).SetValue(dbus.ByteArray(b'in-memory'), opts())
        self.assertEqual(bytes(self.secret(e).GetValue(opts())), b'in-memory')
        self.assertEqual(self.files(), [UUID_A + '.base64', UUID_A + '.xml'])
        self.daemon.restart()
        self.assertEqual(self.list_paths(), [a])
        self.assertEqual(bytes(self.secret(a).GetValue(opts())), b'persist-me')
        self.assertEqual(self.client.props(a, SECRET_IFACE)['UsageID'], 'client.admin')
        with self.assertRaises(dbus.DBusException) as cm:
            self.client.manager.GetSecret(UUID_B)
        self.assertEqual(dbus_error_name(cm.exception), ERR_NO_SUCH_SECRET)

        self.fx.rec.clear()
        self.secret(a).Undefine(opts())
        self.fx.rec.wait_for(lambda es: any(x[0] == 'InterfacesRemoved' and x[1] == a for x in es),
                             what='InterfacesRemoved of the secret')
        self.assertEqual(self.files(), [])
        self.assertEqual(self.list_paths(), [])
        self.daemon.restart()
        self.assertEqual(self.list_paths(), [])

    def test_duplicate_usage_and_bad_xml(self):
        a = self.define(secret_xml(UUID_A))
        before = self.fx.snapshot()
        files = {n: open(os.path.join(self.secrets_dir, n), 'rb').read() for n in self.files()}
        with self.assertRaises(dbus.DBusException) as cm:
            self.define(secret_xml(UUID_B))           # the same ceph client.admin
        self.assertEqual(dbus_error_name(cm.exception), ERR_ALREADY_EXISTS)
        self.assertIn(UUID_A, str(cm.exception))
        for xml, word in (("<secret><frobnicate/></secret>", 'frobnicate'),
                          ("<secret><usage type='nfs'><name>x</name></usage></secret>", 'nfs'),
                          ("<secret><usage type='ceph'></usage></secret>", '<name>'),
                          ("<secret><uuid>not-a-uuid</uuid></secret>", 'not-a-uuid'),
                          ("<secret private='maybe'/>", 'maybe'),
                          ("<secret", 'malformed')):
            with self.assertRaises(dbus.DBusException) as cm:
                self.define(xml)
            self.assertEqual(dbus_error_name(cm.exception), ERR_INVALID_XML, xml)
            self.assertIn(word, str(cm.exception), xml)
        self.assertEqual(self.fx.snapshot(), before)
        self.assertEqual({n: open(os.path.join(self.secrets_dir, n), 'rb').read() for n in self.files()}, files)
        self.assertEqual(self.list_paths(), [a])


if __name__ == '__main__':
    main()
