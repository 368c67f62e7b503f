# test_auth — storage calls through a real polkitd (tests/auth harness): a rule on action
# org.vmgmt.storage.manage with details `pool` and `volume` delegates one pool to an unprivileged user.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'auth'))

from auth_harness import AuthTestCase, MANAGER_IFACE, MANAGER_PATH, main, opts  # noqa: E402

POOL = 'org.vmgmt.StoragePool'
VOL = 'org.vmgmt.StorageVolume'

RULE = '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.storage.manage" && subject.user == "nobody" &&
        action.lookup("pool") == "alice" &&
        (action.lookup("volume") === undefined || action.lookup("volume").indexOf("a-") == 0))
        return polkit.Result.YES;
});
'''


def pool_xml(name, path):
    return "<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>" % (name, path)


class StorageAuth(AuthTestCase):
    def refused(self, a):
        return not a.get('ok') and a.get('error') in ('org.freedesktop.DBus.Error.AccessDenied',
                                                      'org.freedesktop.DBus.Error.InteractiveAuthorizationRequired')

    def test_pool_delegation_by_details(self):
        base = os.path.join(self.fx.tmp, 'pools')
        os.makedirs(base)
        m = self.fx.client.manager
        alice = str(m.DefinePool(pool_xml('alice', os.path.join(base, 'alice')), opts()))
        bob = str(m.DefinePool(pool_xml('bob', os.path.join(base, 'bob')), opts()))
        u = self.fx.unprivileged()
        # before the rule: refused, and reads are open
        self.assertTrue(self.refused(u.call(alice, POOL, 'Build', 'a{sv}', [{}])))
        self.assertTrue(u.call(MANAGER_PATH, MANAGER_IFACE, 'ListPools', 'a{sv}', [{}]).get('ok'))
        self.assertTrue(self.refused(u.call(MANAGER_PATH, MANAGER_IFACE, 'DefinePool', 'sa{sv}', ['<bad', {}])))
        self.fx.write_rule('60-vmgmt-storage.rules', RULE)
        self.wait_until(lambda: u.call(alice, POOL, 'Build', 'a{sv}', [{}]).get('ok'), what='Build of alice allowed')
        self.assertTrue(u.call(alice, POOL, 'Start', 'a{sv}', [{}]).get('ok'))
        self.assertTrue(self.refused(u.call(bob, POOL, 'Build', 'a{sv}', [{}])))
        vol = "<volume><name>%s</name><capacity>4096</capacity></volume>"
        a = u.call(alice, POOL, 'CreateVolume', 'sa{sv}', [vol % 'a-1', {}])
        self.assertTrue(a.get('ok'), a)
        self.assertTrue(self.refused(u.call(alice, POOL, 'CreateVolume', 'sa{sv}', [vol % 'b-1', {}])))
        self.assertFalse(os.path.exists(os.path.join(base, 'alice', 'b-1')))
        self.assertTrue(os.path.exists(os.path.join(base, 'alice', 'a-1')))
        # the Autostart property goes through the same check
        r = u.call(bob, 'org.freedesktop.DBus.Properties', 'Set', 'ssv', [POOL, 'Autostart', ['b', True]])
        self.assertTrue(self.refused(r), r)


if __name__ == '__main__':
    main()
