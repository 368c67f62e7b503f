# Authorization (issue 3): a real polkitd on the private bus (own mount
# namespace: only org.vmgmt.policy and the test's rules), vmgmtd, callers as
# root and as uid 65534.
#
# The matrix walks the LIVE introspection: every method of every served
# interface that is not a known read must be refused to an unprivileged caller
# (so a method added later without a check fails here), and every writable
# property too. Reads must work for everyone.

import os
import re
import signal
import threading
import time
import xml.etree.ElementTree as ET

import dbus

from auth_harness import (DOMAIN_IFACE, ERR_ACCESS_DENIED, ERR_INTERACTIVE, MANAGER_IFACE, MANAGER_PATH,
                          AuthTestCase, call, log, main, minimal_domain_xml, opts)

PROPS = 'org.freedesktop.DBus.Properties'
PEER = 'org.freedesktop.DBus.Peer'
INTRO = 'org.freedesktop.DBus.Introspectable'
OM = 'org.freedesktop.DBus.ObjectManager'
STANDARD = (PROPS, PEER, INTRO, OM)

# Calls open to every local user (API.md "Authorization"): (interface, method).
READS = {
    (MANAGER_IFACE, m) for m in ('GetDomain', 'ListDomains', 'GetCapabilities', 'GetDomainCapabilities', 'GetNodeInfo',
                                 'GetNodeStats', 'GetNetwork', 'ListNetworks', 'GetPool', 'ListPools',
                                 'GetVolumeByPath', 'GetAllDomainStats', 'GetSecret', 'ListSecrets', 'GetOSInfo',
                                 'ListOSInfo', 'DetectOSInfo')
} | {
    (DOMAIN_IFACE, m) for m in ('GetXML', 'GetStats', 'GetInterfaceAddresses', 'ListSnapshots', 'GetSchedulerParameters',
                                'GetMemoryParameters', 'GetBlkioParameters', 'GetVCPUPinInfo', 'GetIOThreadInfo',
                                'GetInterfaceParameters')
} | {
    ('org.vmgmt.Network', m) for m in ('GetXML', 'GetDHCPLeases')
} | {
    ('org.vmgmt.StoragePool', m) for m in ('GetXML', 'ListVolumes', 'GetVolume')
} | {
    ('org.vmgmt.StorageVolume', 'GetXML'), ('org.vmgmt.Snapshot', 'GetXML'), ('org.vmgmt.Secret', 'GetXML'),
}

# Arguments that pass every check but authorization, keyed by (interface,
# method); `ctx` has the domain names. Methods not listed get plain values
# from their signature (empty strings, zeros, empty dicts): if such a method
# then fails with anything but a refusal, give it real arguments here — or
# make it authorize before it looks at them.
def valid_args(iface, method, ctx):
    table = {
        (MANAGER_IFACE, 'DefineDomain'): [minimal_domain_xml('mallory-def'), {}],
        (MANAGER_IFACE, 'CreateDomain'): [minimal_domain_xml('mallory-tmp'), {}],
        (MANAGER_IFACE, 'GetDomain'): [ctx['off']],
        # the defaults: the driver's own emulator, its default machine (an unprivileged caller may name no other)
        (MANAGER_IFACE, 'GetDomainCapabilities'): ['', '', '', '', {}],
        (DOMAIN_IFACE, 'Rename'): ['mallory-renamed', {}],
        (DOMAIN_IFACE, 'Clone'): ['mallory-clone', {}],
        (DOMAIN_IFACE, 'Start'): [{}],
        # the image names the domain (and so what to ask polkit); one the caller may not read is a path to ask for
        (MANAGER_IFACE, 'RestoreDomain'): [ctx['image'], {}],
    }
    return table.get((iface, method))


# Calls that open a file with the caller's rights first: refused by those.
REFUSED_BY_FILE_RIGHTS = {(MANAGER_IFACE, 'RestoreDomain')}


# Values that change by themselves between two calls: compared by type only.
VOLATILE_METHODS = {(MANAGER_IFACE, 'GetNodeStats'), (DOMAIN_IFACE, 'GetStats'), (MANAGER_IFACE, 'GetAllDomainStats')}
VOLATILE_KEYS = {'Allocation', 'Available'}   # a pool's filesystem is shared with the machine


def comparable(iface, method, args, answer):
    def shape(v, volatile):
        if isinstance(v, dict):
            return {k: shape(x, volatile or k in VOLATILE_KEYS) for k, x in v.items()}
        if isinstance(v, list):
            return [shape(x, volatile) for x in v]
        if volatile and isinstance(v, (int, float)) and not isinstance(v, bool):
            return type(v).__name__
        return v
    return shape(answer, (iface, method) in VOLATILE_METHODS or
                 (method == 'Get' and len(args) == 2 and args[1] in VOLATILE_KEYS))


def split_signature(sig):
    out, i = [], 0
    while i < len(sig):
        j = i
        while sig[j] == 'a':
            j += 1
        if sig[j] in '({':
            depth, k = 0, j
            while True:
                if sig[k] in '({':
                    depth += 1
                elif sig[k] in ')}':
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            j = k
        out.append(sig[i:j + 1])
        i = j + 1
    return out


def default_value(t):
    if t in ('s',):
        return 'x'
    if t == 'o':
        return '/'
    if t == 'g':
        return ''
    if t == 'b':
        return False
    if t in ('y', 'n', 'q', 'i', 'u', 'x', 't', 'h'):
        return 0
    if t == 'd':
        return 0.0
    if t == 'a{sv}' or t.startswith('a{'):
        return {}
    if t.startswith('a'):
        return []
    if t.startswith('('):
        return [default_value(x) for x in split_signature(t[1:-1])]
    if t == 'v':
        return ['s', '']
    raise ValueError(t)


def toggled(t, value):
    """A different value of type t for a property Set."""
    if t == 'b':
        return ['b', not value]
    if t in ('u', 't', 'i', 'x'):
        return [t, int(value) + 1]
    if t == 's':
        return ['s', str(value) + '-x']
    return [t, value]


def parse_introspection(xml_text):
    root = ET.fromstring(xml_text)
    ifaces = {}
    for i in root.findall('interface'):
        methods = {}
        for m in i.findall('method'):
            methods[m.get('name')] = ''.join(a.get('type') for a in m.findall('arg')
                                             if a.get('direction', 'in') == 'in')
        props = {p.get('name'): (p.get('type'), p.get('access')) for p in i.findall('property')}
        ifaces[i.get('name')] = {'methods': methods, 'props': props}
    nodes = [n.get('name') for n in root.findall('node') if n.get('name')]
    return ifaces, nodes


class Matrix(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 10}

    def test_define_runs_no_program_before_authorization(self):
        # <emulator> names a program vmgmtd probes as root: an unauthorized
        # DefineDomain must never get that far, and no caller (root included)
        # may make it run a program that others than root can change
        d = os.path.join(self.fx.tmp, 'evil')
        os.makedirs(d)
        os.chmod(d, 0o777)
        marker = os.path.join(d, 'ran')
        script = os.path.join(d, 'qemu.sh')
        with open(script, 'w') as f:
            f.write('#!/bin/sh\ntouch %s\n' % marker)
        os.chmod(script, 0o755)
        xml = minimal_domain_xml('evil', extra_devices='<emulator>%s</emulator>' % script)
        u = self.fx.unprivileged()
        for method in ('DefineDomain', 'CreateDomain'):
            for interactive in (False, True):
                a = u.call(MANAGER_PATH, MANAGER_IFACE, method, 'sa{sv}', [xml, {}], interactive=interactive)
                self.assertIn(a.get('error'), (ERR_ACCESS_DENIED, ERR_INTERACTIVE), a)
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.client.manager.DefineDomain(xml, opts())
        self.assertEqual(cm.exception.get_dbus_name(), 'org.vmgmt.Error.InvalidXML')
        self.assertFalse(os.path.exists(marker), 'vmgmtd ran the emulator named in the XML')
        self.assertEqual(self.client.list_domains(), [])

    def live_objects(self):
        """{path: {iface: {...}}} for every object under /org/vmgmt."""
        out = {}
        todo = [MANAGER_PATH]
        while todo:
            path = todo.pop()
            xml_text = str(dbus.Interface(self.client.obj(path), INTRO).Introspect())
            ifaces, nodes = parse_introspection(xml_text)
            if any(not i.startswith('org.freedesktop.DBus.') for i in ifaces):
                out[path] = ifaces
            for n in nodes:
                todo.append(path.rstrip('/') + '/' + n)
        return out

    def state(self):
        s = self.fx.snapshot()
        s['props'] = {p: self.client.props(p) for p in s['domains']}
        s['manager'] = self.client.props(MANAGER_PATH, MANAGER_IFACE)
        s['manager'].pop('Hostname', None)
        return s

    def test_matrix(self):
        image = os.path.join(self.fx.tmp, 'root-only.save')
        with open(image, 'wb') as f:
            f.write(b'not for nobody')
        os.chmod(image, 0o600)
        ctx = {'off': 'alice-off', 'run': 'bob-run', 'image': image}
        off = self.define(minimal_domain_xml(ctx['off']))
        run = self.define(minimal_domain_xml(ctx['run']))
        self.dom(run).Start(opts())
        self.client.wait_state(run, 'running')
        self.client.set_prop(off, 'Autostart', dbus.Boolean(True))   # root: allowed without polkit
        self.client.manager.DefineSecret("<secret><usage type='ceph'><name>matrix</name></usage></secret>", opts())

        objects = self.live_objects()
        self.assertIn(MANAGER_PATH, objects)
        self.assertIn(off, objects)
        self.assertIn(run, objects)

        u = self.fx.unprivileged()
        # stats keep the domains' counter files open once read: read them once before counting fds
        for p in (off, run):
            self.dom(p).GetStats(opts())
        self.client.manager.GetAllDomainStats(dbus.Array([], signature='s'), opts())
        # the OS database, loaded at its first use, keeps what it opened then
        self.client.manager.ListOSInfo(opts())
        before = self.state()
        self.rec.clear()
        checked, reads = [], []
        failures = []

        # a read must give the unprivileged caller exactly what it gives root
        # (the same auth client, as uid 0: the same representation), asked
        # just before; counters that move by themselves are compared by shape
        root = self.fx.unprivileged(uid=0, gid=0)
        read_answers = {}

        def read(path, iface, method, sig, args, what, ok=False):
            want = root.call(path, iface, method, sig, args)
            a = u.call(path, iface, method, sig, args)
            read_answers[(path, iface, what)] = a
            reads.append((path, iface, what))
            if not a.get('ok') and a.get('error') in (ERR_ACCESS_DENIED, ERR_INTERACTIVE):
                failures.append('read %s %s.%s refused: %r' % (path, iface, what, a))
            elif ok and not a.get('ok'):
                failures.append('read %s %s.%s failed: %r' % (path, iface, what, a))
            elif comparable(iface, method, args, a) != comparable(iface, method, args, want):
                failures.append('read %s %s.%s: got %r, root got %r' % (path, iface, what, a, want))

        def expect_refused(path, iface, method, sig, args, what):
            for interactive in (False, True):
                a = u.call(path, iface, method, sig, args, interactive=interactive)
                want = ERR_ACCESS_DENIED if interactive else ERR_INTERACTIVE
                if (iface, method) in REFUSED_BY_FILE_RIGHTS:
                    # the caller's own rights refuse it before there is anything to ask polkit
                    want = ERR_ACCESS_DENIED
                    if 'Permission denied' not in a.get('message', ''):
                        failures.append('%s %s.%s: not refused for the file: %r' % (path, iface, what, a))
                if a.get('ok') or a.get('error') != want:
                    failures.append('%s %s.%s (interactive=%s): expected %s, got %r'
                                    % (path, iface, what, interactive, want, a))
            checked.append((path, iface, what))

        for path in sorted(objects):
            for iface, desc in sorted(objects[path].items()):
                if iface in STANDARD:
                    continue
                for method, sig in sorted(desc['methods'].items()):
                    args = valid_args(iface, method, ctx)
                    if args is None:
                        args = [default_value(t) for t in split_signature(sig)]
                    if (iface, method) in READS:
                        read(path, iface, method, sig, args, method)
                        continue
                    expect_refused(path, iface, method, sig, args, method)
                # GetXML with secrets is not a read
                if 'GetXML' in desc['methods']:
                    expect_refused(path, iface, 'GetXML', 'a{sv}', [{'secure': ['b', True]}], 'GetXML(secure)')
                for prop, (ptype, access) in sorted(desc['props'].items()):
                    cur = self.client.prop(path, prop, iface)
                    read(path, PROPS, 'Get', 'ss', [iface, prop], 'Get(%s.%s)' % (iface, prop), ok=True)
                    if access == 'readwrite':
                        expect_refused(path, PROPS, 'Set', 'ssv', [iface, prop, toggled(ptype, cur)],
                                       'Set(%s.%s)' % (iface, prop))
                # the standard reads
                for iface2, method, sig, args in ((PROPS, 'GetAll', 's', [iface]), (PEER, 'Ping', '', []),
                                                  (INTRO, 'Introspect', '', [])):
                    read(path, iface2, method, sig, args, method, ok=True)
        read(MANAGER_PATH, OM, 'GetManagedObjects', '', [], 'GetManagedObjects', ok=True)
        # the reads that must succeed with these arguments did
        for path, iface, method in ((MANAGER_PATH, MANAGER_IFACE, 'GetDomain'),
                                    (MANAGER_PATH, MANAGER_IFACE, 'ListDomains'),
                                    (MANAGER_PATH, MANAGER_IFACE, 'GetCapabilities'),
                                    (MANAGER_PATH, MANAGER_IFACE, 'GetDomainCapabilities'),
                                    (MANAGER_PATH, MANAGER_IFACE, 'GetNodeInfo'),
                                    (MANAGER_PATH, MANAGER_IFACE, 'GetAllDomainStats'),
                                    (off, DOMAIN_IFACE, 'GetStats'), (run, DOMAIN_IFACE, 'GetStats'),
                                    (off, DOMAIN_IFACE, 'GetXML'), (run, DOMAIN_IFACE, 'GetXML')):
            self.assertIn((path, iface, method), reads)
            self.assertTrue(read_answers[(path, iface, method)].get('ok'), read_answers[(path, iface, method)])
        self.assertEqual(read_answers[(MANAGER_PATH, MANAGER_IFACE, 'GetDomain')]['result'], [off])
        self.assertEqual(sorted(read_answers[(MANAGER_PATH, MANAGER_IFACE, 'ListDomains')]['result'][0]),
                         sorted([off, run]))

        self.assertEqual(failures, [], '\n'.join(failures))
        log('matrix: %d changing calls refused (x2: with and without interaction), %d reads allowed'
            % (len(checked), len(reads)))
        # at least the issue-2 surface was covered
        names = {c[2] for c in checked}
        for m in ('DefineDomain', 'CreateDomain', 'Start', 'Shutdown', 'Destroy', 'Reboot', 'Reset',
                  'Suspend', 'Resume', 'Undefine', 'Rename', 'Clone', 'GetXML(secure)',
                  'Set(org.vmgmt.Domain.Autostart)'):
            self.assertIn(m, names)

        # a refused call changes nothing
        after = self.state()
        self.assertEqual(before, after)
        self.rec.sync()
        self.assertEqual(self.rec.kinds(), [], 'signals after refused calls')
        self.assertNotIn('mallory', ''.join(self.client.list_domains()))

        # root is never asked: polkitd gone, root still changes things
        self.fx.polkitd.kill()
        self.fx.polkitd.wait()
        self.client.set_prop(off, 'Autostart', dbus.Boolean(False))
        self.assertFalse(self.client.prop(off, 'Autostart'))
        self.dom(run).Destroy(opts())
        self.client.wait_state(run, 'shutoff')


class Rules(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 10}

    def refused(self, a):
        return not a.get('ok') and a.get('error') in (ERR_ACCESS_DENIED, ERR_INTERACTIVE)

    def test_rule_grants_action(self):
        p = self.define(minimal_domain_xml('vm-1'))
        u = self.fx.unprivileged()
        self.assertTrue(self.refused(u.call(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}])))
        self.fx.write_rule('50-nobody-lifecycle.rules', '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.lifecycle" && subject.user == "nobody")
        return polkit.Result.YES;
});
''')
        self.wait_until(lambda: u.call(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}]).get('ok'),
                        what='Start allowed by the new rule')
        self.client.wait_state(p, 'running')
        ev = self.rec.wait_domain_event(p, 'started', 'booted')[0]
        self.assertEqual(ev[4].get('uid'), 65534, 'DomainEvent names the caller')
        self.assertTrue(u.call(p, DOMAIN_IFACE, 'Suspend', 'a{sv}', [{}]).get('ok'))
        self.assertTrue(u.call(p, DOMAIN_IFACE, 'Resume', 'a{sv}', [{}]).get('ok'))
        # another action stays refused
        self.assertTrue(self.refused(u.call(p, DOMAIN_IFACE, 'Undefine', 'a{sv}', [{}])))
        self.assertTrue(self.refused(u.call(p, PROPS, 'Set', 'ssv', [DOMAIN_IFACE, 'Autostart', ['b', True]])))
        self.assertTrue(self.refused(u.call(p, DOMAIN_IFACE, 'GetXML', 'a{sv}', [{'secure': ['b', True]}])))
        self.assertTrue(u.call(p, DOMAIN_IFACE, 'Destroy', 'a{sv}', [{}]).get('ok'))
        self.client.wait_state(p, 'shutoff')
        self.assertIn('qemu/vm-1.xml', self.fx.config_files())

    def test_manage_rule_property_and_define(self):
        self.fx.write_rule('50-nobody-manage.rules', '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.manage" && subject.user == "nobody")
        return polkit.Result.YES;
});
''')
        u = self.fx.unprivileged()
        xml = minimal_domain_xml('by-nobody')
        a = self.wait_until(lambda: (lambda a: a if a.get('ok') else None)(
            u.call(MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{sv}', [xml, {}])), what='DefineDomain allowed')
        p = a['result'][0]
        self.assertEqual(self.client.prop(p, 'Persistent'), True)
        self.rec.clear()
        a = u.call(p, PROPS, 'Set', 'ssv', [DOMAIN_IFACE, 'Autostart', ['b', True]])
        self.assertTrue(a.get('ok'), a)
        self.assertTrue(self.client.prop(p, 'Autostart'))
        self.assertEqual(self.rec.wait_for(lambda e: self.rec.property_changes(p, 'Autostart')), [True])
        # a wrong type is still sd-bus's InvalidArgs, after the check
        a = u.call(p, PROPS, 'Set', 'ssv', [DOMAIN_IFACE, 'Autostart', ['s', 'yes']])
        self.assertFalse(a.get('ok'))
        self.assertEqual(a['error'], 'org.freedesktop.DBus.Error.InvalidArgs', a)
        # a read-only property stays read-only
        a = u.call(p, PROPS, 'Set', 'ssv', [DOMAIN_IFACE, 'Name', ['s', 'x']])
        self.assertFalse(a.get('ok'))
        self.assertEqual(a['error'], 'org.freedesktop.DBus.Error.PropertyReadOnly', a)
        a = u.call(p, DOMAIN_IFACE, 'Rename', 'sa{sv}', ['by-nobody-2', {}])
        self.assertTrue(a.get('ok'), a)
        p2 = self.client.manager.GetDomain('by-nobody-2')
        a = u.call(str(p2), DOMAIN_IFACE, 'Undefine', 'a{sv}', [{}])
        self.assertTrue(a.get('ok'), a)
        self.assertEqual(self.client.list_domains(), [])

    def test_details_verb_and_uuid(self):
        p = self.define(minimal_domain_xml('vm-2'))
        uuid = self.client.prop(p, 'UUID')
        self.fx.write_rule('50-details.rules', '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.lifecycle" && subject.user == "nobody" &&
        action.lookup("verb") == "Start" && action.lookup("domain") == "vm-2" &&
        action.lookup("domain_uuid") == "%s")
        return polkit.Result.YES;
});
''' % uuid)
        u = self.fx.unprivileged()
        self.wait_until(lambda: u.call(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}]).get('ok'), what='Start allowed')
        self.client.wait_state(p, 'running')
        self.assertTrue(self.refused(u.call(p, DOMAIN_IFACE, 'Destroy', 'a{sv}', [{}])))
        self.dom(p).Destroy(opts())
        self.client.wait_state(p, 'shutoff')

    def per_domain_rule(self):
        """The documented example (policy/examples/60-vmgmt-per-domain.rules) for user nobody."""
        from auth_harness import SOURCE_ROOT
        with open(os.path.join(SOURCE_ROOT, 'policy', 'examples', '60-vmgmt-per-domain.rules')) as f:
            text = f.read()
        self.assertIn('subject.user != "alice"', text)
        return text.replace('subject.user != "alice"', 'subject.user != "nobody"')

    def test_per_domain_delegation(self):
        alice = self.define(minimal_domain_xml('alice-1'))
        bob = self.define(minimal_domain_xml('bob-1'))
        u = self.fx.unprivileged()
        self.fx.write_rule('60-vmgmt-per-domain.rules', self.per_domain_rule())
        self.wait_until(lambda: u.call(alice, DOMAIN_IFACE, 'Start', 'a{sv}', [{}]).get('ok'),
                        what='Start of alice-1 allowed')
        self.client.wait_state(alice, 'running')
        self.assertTrue(self.refused(u.call(bob, DOMAIN_IFACE, 'Start', 'a{sv}', [{}])))
        self.assertEqual(self.client.prop(bob, 'State'), 'shutoff')
        # console-level read of alice's secrets is granted, bob's is not
        self.assertTrue(u.call(alice, DOMAIN_IFACE, 'GetXML', 'a{sv}', [{'secure': ['b', True]}]).get('ok'))
        self.assertTrue(self.refused(u.call(bob, DOMAIN_IFACE, 'GetXML', 'a{sv}', [{'secure': ['b', True]}])))
        # managing is not delegated, even for alice-*
        self.assertTrue(self.refused(u.call(alice, DOMAIN_IFACE, 'Undefine', 'a{sv}', [{}])))
        self.assertTrue(self.refused(u.call(MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{sv}',
                                            [minimal_domain_xml('alice-2'), {}])))
        self.assertTrue(u.call(alice, DOMAIN_IFACE, 'Destroy', 'a{sv}', [{}]).get('ok'))
        self.client.wait_state(alice, 'shutoff')

    def test_group_example(self):
        from auth_harness import SOURCE_ROOT
        with open(os.path.join(SOURCE_ROOT, 'policy', 'examples', '50-vmgmt-group.rules')) as f:
            text = f.read()
        self.assertIn('isInGroup("vmgmt")', text)
        p = self.define(minimal_domain_xml('grp-1'))
        u = self.fx.unprivileged()
        # uid 65534 is in group nogroup (its primary group in the user database)
        self.fx.write_rule('50-vmgmt-group.rules', text.replace('isInGroup("vmgmt")', 'isInGroup("nogroup")'))
        self.wait_until(lambda: u.call(p, PROPS, 'Set', 'ssv', [DOMAIN_IFACE, 'Autostart', ['b', True]]).get('ok'),
                        what='Set allowed by the group rule')
        self.assertTrue(self.client.prop(p, 'Autostart'))

    def test_rules_edit_takes_effect_without_restart(self):
        p = self.define(minimal_domain_xml('vm-3'))
        pid = self.daemon.pid
        u = self.fx.unprivileged()
        getxml = lambda: u.call(p, DOMAIN_IFACE, 'GetXML', 'a{sv}', [{'secure': ['b', True]}])  # noqa: E731
        self.assertTrue(self.refused(getxml()))
        rule = '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.console" && subject.user == "nobody")
        return polkit.Result.%s;
});
'''
        self.fx.write_rule('50-edit.rules', rule % 'YES')
        t0 = time.monotonic()
        self.wait_until(lambda: getxml().get('ok'), what='granted after adding the rule')
        t_add = time.monotonic() - t0
        # every call asks again: a withdrawn rule takes effect at once
        self.fx.write_rule('50-edit.rules', rule % 'NO')
        t0 = time.monotonic()
        self.wait_until(lambda: (lambda a: a.get('error') == ERR_ACCESS_DENIED)(getxml()),
                        what='refused after changing the rule to NO')
        t_change = time.monotonic() - t0
        self.fx.write_rule('50-edit.rules', rule % 'YES')
        self.wait_until(lambda: getxml().get('ok'), what='granted again')
        self.fx.remove_rule('50-edit.rules')
        t0 = time.monotonic()
        self.wait_until(lambda: self.refused(getxml()), what='refused after removing the rule')
        t_remove = time.monotonic() - t0
        self.assertEqual(self.daemon.pid, pid)
        self.assertIsNone(self.daemon.proc.poll())
        log('rule changes seen after: add %.2fs, change %.2fs, remove %.2fs (polkitd reload)'
            % (t_add, t_change, t_remove))


class BusPolicy(AuthTestCase):
    def test_only_root_owns_the_name(self):
        u = self.fx.unprivileged()
        a = u.request({'op': 'request_name', 'name': 'org.vmgmt'})
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        # but may call it, introspect it and read its properties (the matrix covers the rest)
        a = u.call(MANAGER_PATH, PROPS, 'Get', 'ss', [MANAGER_IFACE, 'Version'])
        self.assertTrue(a.get('ok'), a)


class Robustness(AuthTestCase):
    # long enough for polkitd to run two 1.5 s slow-rule checks in a row on a
    # loaded machine; the polkitd-stopped tests wait it out
    daemon_conf = {'polkit_timeout_sec': 10}

    def test_disconnect_while_pending_slow_rule(self):
        p = self.define(minimal_domain_xml('vm-slow'))
        # polkit would say yes, but only after 1.5 s
        self.slow_yes_rule(1.5)
        u = self.fx.unprivileged()
        self.wait_until(lambda: u.call(p, DOMAIN_IFACE, 'Suspend', 'a{sv}', [{}]).get('error') ==
                        'org.vmgmt.Error.InvalidState', what='slow rule active', timeout=20)
        self.rec.clear()
        u2 = self.fx.unprivileged()
        name = u2.unique_name
        u2.send_and_exit(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}])
        # vmgmtd drops the pending check when its caller goes away ...
        self.wait_log(re.escape(name) + ' disconnected while its Start call was being authorized')
        # ... and polkit's late YES runs nothing: a check asked after it (polkit
        # answers in order) is answered, and still nothing happened
        self.assertEqual(u.call(p, DOMAIN_IFACE, 'Suspend', 'a{sv}', [{}]).get('error'), 'org.vmgmt.Error.InvalidState')
        self.rec.sync()
        self.assertIsNone(self.daemon.proc.poll(), 'vmgmtd alive')
        self.assertEqual(self.client.prop(p, 'State'), 'shutoff')
        self.assertEqual(self.fx.qemu_pids(), [])
        self.assertEqual(self.rec.domain_events(), [])

    def test_disconnect_while_polkitd_stopped(self):
        p = self.define(minimal_domain_xml('vm-stop'))
        self.fx.write_rule('50-yes.rules', '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.lifecycle" && subject.user == "nobody")
        return polkit.Result.YES;
});
''')
        u = self.fx.unprivileged()
        self.wait_until(lambda: u.call(p, DOMAIN_IFACE, 'Suspend', 'a{sv}', [{}]).get('error') ==
                        'org.vmgmt.Error.InvalidState', what='rule active')
        self.rec.clear()
        self.fx.polkitd.send_signal(signal.SIGSTOP)
        try:
            u2 = self.fx.unprivileged()
            name = u2.unique_name
            u2.send_and_exit(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}])
            # the caller went away while its check was pending
            self.wait_log(re.escape(name) + ' disconnected while its Start call was being authorized')
        finally:
            self.fx.polkitd.send_signal(signal.SIGCONT)
        # polkit's YES for it arrives before the answer to a later check
        self.assertEqual(u.call(p, DOMAIN_IFACE, 'Suspend', 'a{sv}', [{}]).get('error'), 'org.vmgmt.Error.InvalidState')
        self.rec.sync()
        self.assertIsNone(self.daemon.proc.poll())
        self.assertEqual(self.client.prop(p, 'State'), 'shutoff')
        self.assertEqual(self.rec.domain_events(), [])

    def slow_yes_rule(self, seconds):
        self.fx.write_rule('50-slow.rules', """
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.lifecycle" && subject.user == "nobody") {
        var end = Date.now() + %d;
        while (Date.now() < end) { }
        return polkit.Result.YES;
    }
});
""" % int(seconds * 1000))

    def test_object_replaced_while_pending(self):
        """The answer is for the object as it was: renamed away → NoSuchDomain;
        another domain under the same name → refused, not run."""
        p = self.define(minimal_domain_xml('vm-x'))
        self.slow_yes_rule(1.0)
        u = self.fx.unprivileged()
        self.wait_until(lambda: u.call(p, DOMAIN_IFACE, 'Suspend', 'a{sv}', [{}]).get('error') ==
                        'org.vmgmt.Error.InvalidState', what='slow rule active', timeout=20)
        asked = len(re.findall(self.asked_polkit(u, 'Start'), self.daemon.log_text()))
        u.batch_start([call(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}])])
        self.wait_log(self.asked_polkit(u, 'Start'), asked + 1)   # pending in polkit
        self.dom(p).Rename('vm-y', opts())
        a = u.batch_finish()[0]
        self.assertEqual(a.get('error'), 'org.vmgmt.Error.NoSuchDomain', a)

        # now a new vm-x with another UUID appears while the check is pending
        u.batch_start([call(self.client.manager.GetDomain('vm-y'), DOMAIN_IFACE, 'Start', 'a{sv}', [{}])])
        self.wait_log(self.asked_polkit(u, 'Start'), asked + 2)
        y = str(self.client.manager.GetDomain('vm-y'))
        self.dom(y).Rename('vm-z', opts())
        self.define(minimal_domain_xml('vm-y'))
        a = u.batch_finish()[0]
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn('changed while the call was being authorized', a['message'])
        for name in ('vm-y', 'vm-z'):
            self.assertEqual(self.client.prop(str(self.client.manager.GetDomain(name)), 'State'), 'shutoff')
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_polkitd_stopped_bounded_wait_others_served(self):
        # polkitd hangs: the check is refused when polkit_timeout_sec ends
        # (the message names the bound), and root is served meanwhile
        p = self.define(minimal_domain_xml('vm-wait'))
        u = self.fx.unprivileged()
        self.assertTrue(u.call(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}]).get('error') == ERR_INTERACTIVE)
        self.fx.polkitd.send_signal(signal.SIGSTOP)
        result = {}
        try:
            def waiter():
                result['answer'] = u.call(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}], timeout=60)
            th = threading.Thread(target=waiter)
            th.start()
            self.wait_log(self.asked_polkit(u, 'Start'), 2)
            peer = dbus.Interface(self.client.obj(p), PEER)
            for _ in range(20):
                peer.Ping()
                self.assertEqual(self.client.prop(p, 'State'), 'shutoff')
                self.assertIn(p, self.client.managed_objects())
            th.join(60)
            self.assertFalse(th.is_alive())
        finally:
            self.fx.polkitd.send_signal(signal.SIGCONT)
        a = result['answer']
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn('polkit did not answer within 10.0 s', a['message'])
        self.assertEqual(self.client.prop(p, 'State'), 'shutoff')

    def test_polkitd_stopped_many_identical_calls(self):
        # 80 identical checks while polkitd hangs: 32 go out, the other 48
        # wait for a slot as one group. When the first deadlines pass, every
        # one of them is refused in time (a refused leader hands the group to
        # the next); nothing hangs and no polkit slot is lost for later calls.
        p = self.define(minimal_domain_xml('vm-many-wait'))
        u = self.fx.unprivileged()
        self.assertEqual(u.call(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}]).get('error'), ERR_INTERACTIVE)
        self.fx.polkitd.send_signal(signal.SIGSTOP)
        try:
            answers = u.batch([call(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}], timeout=60) for _ in range(80)])
        finally:
            self.fx.polkitd.send_signal(signal.SIGCONT)
        self.assertEqual(len(answers), 80)
        for a in answers:
            self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
            self.assertIn('polkit did not answer within 10.0 s', a['message'])
        # 32 sent, 1 waiting for a slot, 47 waiting with it
        self.assertEqual(self.daemon.log_text().count('waits with an identical check for a polkit slot'), 47)
        # polkitd is back: every slot is free again, 80 more calls get real answers
        answers = u.batch([call(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}], timeout=30) for _ in range(80)])
        self.assertEqual([a.get('error') for a in answers], [ERR_INTERACTIVE] * 80, answers[:2])
        self.assertEqual(self.client.prop(p, 'State'), 'shutoff')

    def test_exit_while_pending(self):
        p = self.define(minimal_domain_xml('vm-exit'))
        u = self.fx.unprivileged()
        self.fx.polkitd.send_signal(signal.SIGSTOP)
        try:
            u.batch_start([call(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}])])
            self.wait_log(self.asked_polkit(u, 'Start'))   # pending in the stopped polkitd
            rc = self.daemon.stop()
        finally:
            self.fx.polkitd.send_signal(signal.SIGCONT)
        a = u.batch_finish()[0]
        self.assertEqual(rc, 0)
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn('vmgmtd is exiting', a['message'])
        self.assertEqual(self.fx.daemon.sanitizer_reports(), [])
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_polkitd_missing(self):
        p = self.define(minimal_domain_xml('vm-nopk'))
        self.fx.polkitd.kill()
        self.fx.polkitd.wait()
        u = self.fx.unprivileged()
        # refused because polkit is missing (not after waiting for it)
        a = u.call(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}])
        self.assertEqual(a.get('error'), ERR_ACCESS_DENIED, a)
        self.assertIn('polkit (org.freedesktop.PolicyKit1) is not available', a['message'])
        self.assertEqual(self.client.prop(p, 'State'), 'shutoff')
        # root needs no polkit
        self.dom(p).Start(opts())
        self.client.wait_state(p, 'running')
        self.dom(p).Destroy(opts())
        self.client.wait_state(p, 'shutoff')


class Concurrency(AuthTestCase):
    # polkitd on a loaded 2-core machine can take seconds to work through 200
    # checks; the short timeout of Robustness would turn slowness into denials
    daemon_conf = {'polkit_timeout_sec': 20}

    CONSOLE_RULE = '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.console" && subject.user == "nobody")
        return polkit.Result.YES;
});
'''

    def concurrent_calls(self, p, n_clients=4, per_client=50):
        """Every client sends per_client calls at once, half GetXML(secure) (allowed
        by CONSOLE_RULE), half Start (would need a password); meanwhile root
        pings and reads a property. Returns (answers, seconds, latencies)."""
        clients = [self.fx.unprivileged() for _ in range(n_clients)]
        self.wait_until(lambda: clients[0].call(p, DOMAIN_IFACE, 'GetXML', 'a{sv}',
                                                [{'secure': ['b', True]}]).get('ok'), what='rule active')
        calls = []
        for i in range(per_client):
            if i % 2:
                calls.append(call(p, DOMAIN_IFACE, 'GetXML', 'a{sv}', [{'secure': ['b', True]}], timeout=60))
            else:
                calls.append(call(p, DOMAIN_IFACE, 'Start', 'a{sv}', [{}], timeout=60))
        peer = dbus.Interface(self.client.obj(p), PEER)
        t_start = time.monotonic()
        for c in clients:
            c.batch_start(calls)
        lat = []
        done = []
        results = []

        def collect():
            for c in clients:
                results.append(c.batch_finish())
            done.append(time.monotonic())
        th = threading.Thread(target=collect)
        th.start()
        while not done:
            t0 = time.monotonic()
            peer.Ping()
            lat.append(time.monotonic() - t0)
            t0 = time.monotonic()
            self.client.prop(p, 'State')
            lat.append(time.monotonic() - t0)
        th.join()
        return [a for r in results for a in r], done[0] - t_start, lat

    def test_200_concurrent_unprivileged_calls(self):
        p = self.define(minimal_domain_xml('vm-many'))
        self.fx.write_rule('50-console.rules', self.CONSOLE_RULE)
        answers, total, lat = self.concurrent_calls(p)
        self.assertEqual(len(answers), 200)
        ok = [a for a in answers if a.get('ok')]
        refused = [a for a in answers if a.get('error') == ERR_INTERACTIVE]
        # a polkitd swamped on a loaded machine may not answer some checks within
        # the bound: those calls must be denied (never allowed, never left hanging)
        timed_out = [a for a in answers if a.get('error') == ERR_ACCESS_DENIED
                     and 'polkit did not answer' in a.get('message', '')]
        self.assertEqual(len(ok) + len(refused) + len(timed_out), 200,
                         [a for a in answers if a not in ok + refused + timed_out][:3])
        self.assertLessEqual(len(ok), 100)
        self.assertGreater(len(ok), 0)
        if timed_out:
            log('%d of 200 checks were not answered by polkitd within the bound (denied)' % len(timed_out))
        self.assertEqual(self.client.prop(p, 'State'), 'shutoff')
        call_ms = sorted(a['ms'] for a in answers)
        lat_ms = sorted(x * 1000 for x in lat)
        log('200 concurrent unprivileged calls: all answered in %.2fs; per call median %.1f ms, max %.1f ms; '
            'root Ping/Get meanwhile: %d round trips, median %.2f ms, max %.2f ms'
            % (total, call_ms[len(call_ms) // 2], call_ms[-1], len(lat_ms), lat_ms[len(lat_ms) // 2], lat_ms[-1]))
        # root was answered while the checks were pending (how fast: logged above)
        self.assertGreater(len(lat_ms), 0)
        self.assertIsNone(self.daemon.proc.poll())

    def test_200_concurrent_calls_slow_polkit(self):
        # polkitd answers one check after another; on a loaded machine each
        # costs it several scheduler round trips (synchronous bus calls for the
        # subject's credentials, a thread per rules evaluation). A rule that
        # spends SLOW_MS per check stands in for that: 200 checks would need
        # 200 * SLOW_MS, past the 20 s bound. Identical checks (same caller,
        # action and details) waiting for a polkit slot are asked once, so
        # polkit evaluates far fewer than 200 and every call gets its real answer.
        slow_ms = 120
        p = self.define(minimal_domain_xml('vm-slow'))
        self.fx.write_rule('00-slow.rules', '''
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.vmgmt.domain.") == 0) {
        var t = Date.now();
        while (Date.now() - t < %d) {}
    }
});
''' % slow_ms)
        self.fx.write_rule('50-console.rules', self.CONSOLE_RULE)
        # vmgmtd logs (at debug level) every CheckAuthorization it sends
        asked_before = self.daemon.log_text().count('Asking polkit about ')
        answers, total, lat = self.concurrent_calls(p)
        evaluated = self.daemon.log_text().count('Asking polkit about ') - asked_before
        self.assertEqual(len(answers), 200)
        ok = [a for a in answers if a.get('ok')]
        refused = [a for a in answers if a.get('error') == ERR_INTERACTIVE]
        others = [a for a in answers if a not in ok + refused]
        log('200 concurrent calls, polkit rule %d ms per check: answered in %.2fs, polkit asked %d times, '
            '%d allowed, %d need a password, %d other (%s)'
            % (slow_ms, total, evaluated, len(ok), len(refused), len(others), others[:1]))
        self.assertEqual(len(ok), 100, others[:3])
        self.assertEqual(len(refused), 100, others[:3])
        self.assertLess(evaluated, 100, 'identical waiting checks were each sent to polkit')
        # (none hit the 20 s bound: all 200 got their real answer above)


if __name__ == '__main__':
    main()
