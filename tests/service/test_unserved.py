# The methods interfaces/ documents but vmgmtd does not serve yet (later
# issues; tests/service/unserved-members.txt lists them): each is called here
# with arguments of its documented signature and must fail clearly and change
# nothing: org.freedesktop.DBus.Error.UnknownMethod naming the method and the
# interface (the object exists, the member does not), never a hang, a crash or
# a half-done effect. The org.vmgmt.Snapshot methods have no object to live on
# until CreateSnapshot is served: on a snapshot path under the domain the
# snapshot kind answers NoSuchSnapshot (the object does not exist).
# When a method gets served, drop its line here and in unserved-members.txt
# and test what it does (tests/cli/test_coverage.py then wants a call of it).

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration'))

import dbus  # noqa: E402

from vmgmt_harness import (DOMAIN_IFACE, ERR_UNKNOWN_METHOD,  # noqa: E402
                           VmgmtTestCase, main, minimal_domain_xml, opts)

UNSERVED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'unserved-members.txt')
SNAPSHOT_IFACE = 'org.vmgmt.Snapshot'
ERR_NO_SUCH_SNAPSHOT = 'org.vmgmt.Error.NoSuchSnapshot'


def unserved_methods():
    out = set()
    with open(UNSERVED) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line:
                iface, kind, name = line.split()
                if kind == 'method':
                    out.add((iface, name))
    return out


class Unserved(VmgmtTestCase):
    shared_daemon = True

    def setUp(self):
        super().setUp()
        self.path = self.define(minimal_domain_xml('uns'))
        self.addCleanup(self.dom(self.path).Undefine, opts())
        self.called = set()

    def unknown(self, path, iface, method, signature, *args, error=ERR_UNKNOWN_METHOD):
        """Calls method and asserts UnknownMethod naming it (or error); nothing may change."""
        before = self.fx.snapshot()
        props = self.client.props(self.path)
        try:
            self.client.call(path, iface, method, signature, *args)
        except dbus.DBusException as e:
            self.assertEqual(e.get_dbus_name(), error, '%s.%s: %s' % (iface, method, e))
            if error == ERR_UNKNOWN_METHOD:
                self.assertIn(method, e.get_dbus_message())
                self.assertIn(iface, e.get_dbus_message())
        else:
            self.fail('%s.%s succeeded: it is served now (update unserved-members.txt and test it)'
                      % (iface, method))
        self.assertUnchanged(before)
        self.assertEqual(self.client.props(self.path), props)
        self.called.add((iface, method))

    def test_unserved_methods_fail_clearly(self):
        p, o = self.path, opts()
        # the Snapshot interface has no object yet: a snapshot path under the
        # domain names none (the snapshot kind's find)
        snap = p + '/snapshot/s1'
        self.unknown(snap, SNAPSHOT_IFACE, 'Revert', 'a{sv}', o, error=ERR_NO_SUCH_SNAPSHOT)
        self.unknown(snap, SNAPSHOT_IFACE, 'Delete', 'a{sv}', o, error=ERR_NO_SUCH_SNAPSHOT)
        self.unknown(snap, SNAPSHOT_IFACE, 'GetXML', 'a{sv}', o, error=ERR_NO_SUCH_SNAPSHOT)
        # every unserved method is called above, and nothing else
        snapshot_methods = {(SNAPSHOT_IFACE, m) for m in ('Revert', 'Delete', 'GetXML')}
        self.assertEqual(self.called, unserved_methods() | snapshot_methods)
        self.assertEqual(self.client.prop(p, 'CurrentSnapshot'), '/')
        self.assertFalse(self.client.prop(p, 'HasManagedSave'))


if __name__ == '__main__':
    main()
