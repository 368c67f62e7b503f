# vmgmtctl against a real vmgmtd on a private system-type dbus-daemon: every
# command, its virsh-style output, --json, errors and exit codes, edit with a
# scripted $EDITOR, and event. Minimal TCG domains (no OS): enough for every
# verb but a guest shutdown (see test_vmgmtctl_guest.py).
#
# Run: /usr/bin/python3 tests/cli/test_vmgmtctl.py (VMGMTD / VMGMTCTL from the
# environment, as meson sets them, or from $VMGMT_BUILD_ROOT).

import calendar
import json
import os
import queue
import re
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'integration'))

from vmgmt_harness import (DEFAULT_TIMEOUT, VMGMTCTL, VmgmtTestCase, _child_env, domain_path, main,  # noqa: E402
                           minimal_domain_xml, new_uuid, opts, run_vmgmtctl)

UUID_RE = r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
TIMESTAMP_RE = r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000'


class CtlTestCase(VmgmtTestCase):
    """Shortcuts to run vmgmtctl on the fixture's bus."""

    def ctl(self, *args, env=None, input=None, timeout=2 * DEFAULT_TIMEOUT):
        return run_vmgmtctl(self.fx.bus, *args, env=env, input=input, timeout=timeout)

    def ok(self, *args, env=None, input=None):
        """Runs vmgmtctl, asserts success and a quiet stderr; returns stdout."""
        r = self.ctl(*args, env=env, input=input)
        self.assertEqual(r.returncode, 0, 'vmgmtctl %s failed: %s' % (' '.join(args), r.stderr))
        self.assertEqual(r.stderr, '', 'vmgmtctl %s wrote to stderr' % ' '.join(args))
        return r.stdout

    def fails(self, *args, env=None, input=None):
        """Runs vmgmtctl, asserts exit code 1 and an `error: ` line; returns stderr."""
        r = self.ctl(*args, env=env, input=input)
        self.assertEqual(r.returncode, 1, 'vmgmtctl %s: exit %d, stdout %r, stderr %r'
                         % (' '.join(args), r.returncode, r.stdout, r.stderr))
        self.assertTrue(r.stderr.startswith('error: '), 'stderr: %r' % r.stderr)
        return r.stderr

    def xml_file(self, name, xml=None, **kw):
        path = os.path.join(self.fx.tmp, name + '.xml')
        with open(path, 'w') as f:
            f.write(xml if xml is not None else minimal_domain_xml(name, **kw))
        return path

    def define_file(self, name, **kw):
        f = self.xml_file(name, **kw)
        self.assertEqual(self.ok('define', f), "Domain '%s' defined from %s\n" % (name, f))
        return domain_path(name)

    def wait_gone(self, name, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while name in self.ok('list', '--all', '--name').splitlines():
            self.assertLess(time.monotonic(), deadline, '%s did not go away' % name)
            time.sleep(0.05)

    def started(self, name, *extra):
        path = self.define_file(name)
        self.assertEqual(self.ok('start', name, *extra), "Domain '%s' started\n" % name)
        return path


class Basics(CtlTestCase):
    def test_version_and_help(self):
        r = subprocess.run([VMGMTCTL, '--version'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.decode(), r'^vmgmtctl \d+\.\d+')
        for flag in ('--help', '-h'):
            r = subprocess.run([VMGMTCTL, flag], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(r.returncode, 0)
            out = r.stdout.decode()
            for verb in ('list', 'define', 'undefine', 'create', 'start', 'shutdown', 'destroy',
                         'reboot', 'reset', 'suspend', 'resume', 'dumpxml', 'dominfo', 'domstate',
                         'domid', 'domuuid', 'domname', 'autostart', 'edit', 'event',
                         '--system', '--user', '--host', '--machine', '--json', '--no-ask-password'):
                self.assertIn(verb, out)

    def test_usage_errors(self):
        cases = [
            ((), 'No command given'),
            (('frobnicate',), "Unknown command 'frobnicate'"),
            (('list', '--bogus'), "Unknown option '--bogus'"),
            (('--bogus', 'list'), "Unknown option '--bogus'"),
            (('-x', 'list'), "Unknown option '-x'"),
            (('start',), "Too few arguments for 'start'"),
            (('start', 'a', 'b'), "Too many arguments for 'start'"),
            (('list', 'extra'), "Too many arguments for 'list'"),
            (('list', '--json=long'), "Unknown JSON format 'long'"),
            (('list', '--all=yes'), "takes no value"),
            (('event', '--timeout'), 'needs a value'),
            (('-H',), 'needs a value'),
            (('event', '--timeout', '0'), 'Invalid timeout'),
            (('event', '--timeout=abc'), 'Invalid timeout'),
            (('event', '--event', 'reboot'), "Unknown event type 'reboot'"),
        ]
        for args, msg in cases:
            with self.subTest(args=args):
                r = self.ctl(*args)
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stdout, '')
                self.assertTrue(r.stderr.startswith('error: '), r.stderr)
                self.assertIn(msg, r.stderr)

    def test_no_daemon_and_no_bus(self):
        # The bus is there, vmgmtd is not: the bus's own answer that nobody
        # owns the name (ServiceUnknown), not a call that timed out
        self.daemon.stop()
        err = self.fails('list')
        self.assertEqual(err, 'error: The name org.vmgmt was not provided by any .service files '
                              '(org.freedesktop.DBus.Error.ServiceUnknown)\n')
        # No bus at all.
        r = self.ctl('list', env={'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=%s/nobus' % self.fx.tmp})
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r'^error: Failed to connect to system bus')

    def test_connection_flags(self):
        self.define_file('flags')
        # --user honours DBUS_SESSION_BUS_ADDRESS; --system the system one.
        r = run_vmgmtctl(self.fx.bus, '--user', 'list', '--all', '--name',
                         env={'DBUS_SESSION_BUS_ADDRESS': self.fx.bus.address,
                              'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=/nonexistent'})
        self.assertEqual((r.returncode, r.stdout), (0, 'flags\n'), r.stderr)
        self.assertEqual(self.ok('--system', '--no-ask-password', 'list', '--all', '--name'), 'flags\n')
        # global options may also follow the command
        self.assertEqual(self.ok('list', '--all', '--name', '--no-ask-password', '--system'), 'flags\n')
        self.assertIn('not supported', self.fails('--user', '-H', 'root@localhost', 'list'))
        # -M: no such container here; the connection fails, a clear error
        want = "^error: Failed to connect to the system bus of machine 'nosuch': "
        self.assertRegex(self.fails('-M', 'nosuch', 'list'), want)
        self.assertRegex(self.fails('--machine=nosuch', 'list'), want)
        self.assertRegex(self.fails('--machine', 'nosuch', 'list'), want)

    def test_interactive_authorization_flag(self):
        # As systemctl: calls carry ALLOW_INTERACTIVE_AUTHORIZATION (flag 4)
        # unless --no-ask-password is given. Watched with busctl monitor.
        mon = subprocess.Popen(['busctl', '--address=' + self.fx.bus.address, 'monitor',
                                '--json=short', 'org.vmgmt'],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (mon.kill(), mon.wait(), mon.stdout.close()))
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln) for ln in mon.stdout], daemon=True).start()
        calls = []

        def wait_member(member, timeout=DEFAULT_TIMEOUT):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    m = json.loads(lines.get(timeout=0.1))
                except queue.Empty:
                    continue
                if m.get('type') == 'method_call' and m.get('destination') == 'org.vmgmt':
                    calls.append((m.get('member'), m.get('flags', 0)))
                    if m.get('member') == member:
                        return True
            return False

        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while True:     # until the monitor sees our calls
            self.ok('list')
            if wait_member('GetManagedObjects', 0.5):
                break
            self.assertLess(time.monotonic(), deadline, 'busctl monitor saw nothing')
        f = self.xml_file('flag')
        self.ok('define', f)
        self.assertTrue(wait_member('DefineDomain'))
        self.ok('--no-ask-password', 'undefine', 'flag')
        self.assertTrue(wait_member('Undefine'))
        flags = dict(calls)
        self.assertEqual(flags['DefineDomain'] & 4, 4)
        self.assertEqual(flags['Undefine'] & 4, 0)


class DefineAndList(CtlTestCase):
    def test_define_list_undefine(self):
        self.assertEqual(self.ok('list'), ' Id   Name   State\n' + '-' * 20 + '\n')
        self.define_file('alpha')
        self.define_file('beta')
        # running only by default: none
        self.assertEqual(self.ok('list'), ' Id   Name   State\n' + '-' * 20 + '\n')
        table = (' Id   Name    State\n'
                 '------------------------\n'
                 ' -    alpha   shut off\n'
                 ' -    beta    shut off\n')
        self.assertEqual(self.ok('list', '--all'), table)
        self.assertEqual(self.ok('list', '--inactive'), table)
        self.assertEqual(self.ok('list', '--all', '--name'), 'alpha\nbeta\n')
        uuids = self.ok('list', '--all', '--uuid').split()
        self.assertEqual(len(uuids), 2)
        for u in uuids:
            self.assertRegex(u, '^' + UUID_RE + '$')
        both = self.ok('list', '--all', '--uuid', '--name').splitlines()
        self.assertEqual([ln.split() for ln in both], [[uuids[0], 'alpha'], [uuids[1], 'beta']])

        # running first by Id, then the inactive ones by name
        self.assertEqual(self.ok('start', 'beta'), "Domain 'beta' started\n")
        beta_id = self.client.prop(domain_path('beta'), 'Id')
        self.assertEqual(self.ok('list'),
                         ' Id   Name   State\n'
                         '----------------------\n'
                         ' %-4d beta   running\n' % beta_id)
        self.assertEqual(self.ok('list', '--all'),
                         ' Id   Name    State\n'
                         '------------------------\n'
                         ' %-4d beta    running\n'
                         ' -    alpha   shut off\n' % beta_id)
        self.assertEqual(self.ok('list', '--inactive', '--name'), 'alpha\n')
        self.ok('destroy', 'beta')

        self.assertEqual(self.ok('undefine', 'alpha', '--managed-save', '--snapshots-metadata'),
                         "Domain 'alpha' has been undefined\n")
        self.assertEqual(self.ok('list', '--all', '--name'), 'beta\n')
        self.assertEqual(self.client.list_domains(), [domain_path('beta')])

    def test_define_updates_and_from_stdin(self):
        u = new_uuid()
        self.define_file('upd', uuid=u, memory_mib=64)
        gen = self.client.prop(domain_path('upd'), 'Generation')
        f = self.xml_file('upd', uuid=u, memory_mib=96)
        self.assertEqual(self.ok('define', f), "Domain 'upd' defined from %s\n" % f)
        self.assertEqual(self.client.prop(domain_path('upd'), 'MemoryKiB'), 96 * 1024)
        self.assertGreater(self.client.prop(domain_path('upd'), 'Generation'), gen)
        # "-" reads the definition from stdin
        out = self.ok('define', '-', input=minimal_domain_xml('piped').encode())
        self.assertEqual(out, "Domain 'piped' defined from -\n")

    def test_define_errors(self):
        err = self.fails('define', os.path.join(self.fx.tmp, 'missing.xml'))
        self.assertIn("Failed to open file", err)
        self.assertIn('No such file or directory', err)

        bad = self.xml_file('bad', extra_devices="<membaloon model='virtio'/>")
        before = self.fx.snapshot()
        err = self.fails('define', bad)
        self.assertRegex(err, r'^error: .*line')
        self.assertIn('memballoon', err)
        self.assertUnchanged(before)

        notxml = self.xml_file('notxml', xml='this is not xml')
        self.fails('define', notxml)

        u = new_uuid()
        self.define_file('one', uuid=u)
        dup = self.xml_file('two', uuid=u)
        before = self.fx.snapshot()
        err = self.fails('define', dup)
        self.assertTrue(err.startswith('error: ') and len(err) > len('error: \n'))
        self.assertUnchanged(before)

    def test_json_list(self):
        self.assertEqual(json.loads(self.ok('list', '--json=short')), [])
        self.define_file('ja')
        self.define_file('jb')
        self.ok('start', 'jb')
        ids = {n: self.client.prop(domain_path(n), 'Id') for n in ('ja', 'jb')}
        uuids = {n: self.client.prop(domain_path(n), 'UUID') for n in ('ja', 'jb')}

        short = self.ok('list', '--all', '--json=short')
        self.assertEqual(short.count('\n'), 1)
        data = json.loads(short)
        self.assertEqual(data, [
            {'name': 'jb', 'uuid': uuids['jb'], 'id': ids['jb'], 'state': 'running'},
            {'name': 'ja', 'uuid': uuids['ja'], 'id': 0, 'state': 'shutoff'},
        ])
        pretty = self.ok('--json=pretty', 'list', '--all')
        self.assertGreater(pretty.count('\n'), 4)
        self.assertEqual(json.loads(pretty), data)
        self.assertEqual(json.loads(self.ok('list', '--json=short')), data[:1])
        self.assertEqual(json.loads(self.ok('list', '--inactive', '--json=short')), data[1:])
        # --json=off is the table again
        self.assertIn(' Id ', self.ok('list', '--json=off'))
        self.ok('destroy', 'jb')

    def test_list_filters(self):
        # run: running, persistent; pz: paused, persistent, autostart;
        # off: shut off, persistent; tr: transient, running
        self.define_file('run')
        self.define_file('pz', title='the paused one')
        self.define_file('off')
        self.ok('start', 'run')
        self.ok('start', 'pz', '--paused')
        self.ok('autostart', 'pz')
        self.ok('create', self.xml_file('tr'))
        self.client.wait_state(domain_path('pz'), 'paused')

        def names(*flags):
            return sorted(self.ok('list', '--name', *flags).split())

        self.assertEqual(names(), ['pz', 'run', 'tr'])
        self.assertEqual(names('--all'), ['off', 'pz', 'run', 'tr'])
        self.assertEqual(names('--inactive'), ['off'])
        self.assertEqual(names('--state-running'), ['run', 'tr'])
        self.assertEqual(names('--state-paused'), ['pz'])
        self.assertEqual(names('--state-shutoff'), ['off'])
        self.assertEqual(names('--state-paused', '--state-shutoff'), ['off', 'pz'])
        self.assertEqual(names('--state-other'), [])
        self.assertEqual(names('--transient'), ['tr'])
        self.assertEqual(names('--persistent'), ['pz', 'run'])
        self.assertEqual(names('--all', '--persistent'), ['off', 'pz', 'run'])
        self.assertEqual(names('--all', '--persistent', '--transient'), ['off', 'pz', 'run', 'tr'])
        self.assertEqual(names('--all', '--autostart'), ['pz'])
        self.assertEqual(names('--all', '--no-autostart'), ['off', 'run', 'tr'])
        self.assertEqual(names('--state-running', '--persistent'), ['run'])

        table = self.ok('list', '--state-paused', '--title').splitlines()
        self.assertEqual(table[0].split(), ['Id', 'Name', 'State', 'Title'])
        self.assertRegex(table[2], r'^ \d+ +pz +paused +the paused one$')
        data = json.loads(self.ok('list', '--all', '--title', '--json=short'))
        self.assertEqual({d['name']: d['title'] for d in data},
                         {'pz': 'the paused one', 'run': '', 'off': '', 'tr': ''})
        for n in ('run', 'pz', 'tr'):
            self.ok('destroy', n)

    def test_non_ascii_and_odd_names(self):
        for name in ('my-vm', 'vm.with.dots', 'héllo'):
            with self.subTest(name=name):
                self.define_file(name)
                self.assertEqual(self.ok('domname', self.ok('domuuid', name).strip()), name + '\n')
                self.assertIn(name, self.ok('list', '--all'))
                self.assertEqual(self.ok('undefine', name), "Domain '%s' has been undefined\n" % name)


class Lifecycle(CtlTestCase):
    def test_lifecycle_verbs(self):
        path = self.started('life')
        self.assertEqual(self.client.wait_state(path, 'running'), ('running', 'booted'))
        self.assertEqual(self.ok('domstate', 'life'), 'running\n')
        self.assertEqual(self.ok('domstate', 'life', '--reason'), 'running (booted)\n')
        dom_id = self.client.prop(path, 'Id')
        self.assertGreater(dom_id, 0)
        self.assertEqual(self.ok('domid', 'life'), '%d\n' % dom_id)

        self.assertEqual(self.ok('suspend', 'life'), "Domain 'life' suspended\n")
        self.assertEqual(self.ok('domstate', '--reason', 'life'), 'paused (user)\n')
        self.assertEqual(self.ok('resume', 'life'), "Domain 'life' resumed\n")
        self.assertEqual(self.ok('domstate', 'life', '--reason'), 'running (unpaused)\n')
        self.assertEqual(self.ok('reset', 'life'), "Domain 'life' was reset\n")
        self.assertEqual(self.ok('reboot', 'life'), "Domain 'life' is being rebooted\n")
        self.assertEqual(self.ok('shutdown', 'life'), "Domain 'life' is being shutdown\n")
        self.assertEqual(self.ok('destroy', 'life'), "Domain 'life' destroyed\n")
        self.assertEqual(self.ok('domstate', 'life', '--reason'), 'shut off (destroyed)\n')
        self.assertEqual(self.ok('domid', 'life'), '-\n')
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_invalid_state_errors(self):
        self.started('st')
        before = self.fx.snapshot()
        err = self.fails('start', 'st')
        self.assertEqual(err.count('\n'), 1)
        self.fails('resume', 'st')
        self.assertUnchanged(before)
        self.ok('destroy', 'st')
        for verb in ('shutdown', 'destroy', 'reboot', 'reset', 'suspend', 'resume'):
            with self.subTest(verb=verb):
                r = self.ctl(verb, 'st')
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stdout, '')
                self.assertTrue(r.stderr.startswith('error: '))

    def test_start_paused_and_graceful_destroy(self):
        path = self.started('pz', '--paused')
        self.assertEqual(self.client.wait_state(path, 'paused'), ('paused', 'user'))
        self.assertEqual(self.ok('domstate', 'pz'), 'paused\n')
        self.assertEqual(self.ok('destroy', 'pz', '--graceful'), "Domain 'pz' destroyed\n")
        self.client.wait_state(path, 'shutoff')

    def test_by_uuid_and_id(self):
        path = self.started('byid')
        uuid = self.client.prop(path, 'UUID')
        dom_id = self.client.prop(path, 'Id')
        self.assertEqual(self.ok('domuuid', 'byid'), uuid + '\n')
        self.assertEqual(self.ok('domuuid', str(dom_id)), uuid + '\n')
        self.assertEqual(self.ok('domname', uuid), 'byid\n')
        self.assertEqual(self.ok('domname', str(dom_id)), 'byid\n')
        self.assertEqual(self.ok('domid', uuid), '%d\n' % dom_id)
        # messages name the domain, however it was named on the command line
        self.assertEqual(self.ok('suspend', str(dom_id)), "Domain 'byid' suspended\n")
        self.assertEqual(self.ok('resume', uuid), "Domain 'byid' resumed\n")
        self.assertEqual(self.ok('destroy', str(dom_id)), "Domain 'byid' destroyed\n")
        self.client.wait_state(path, 'shutoff')
        # an Id that names no running domain
        self.fails('domname', str(dom_id))

    def test_domain_named_like_a_number(self):
        # An Id is tried first, then the name, as virsh does.
        self.define_file('42')
        self.assertEqual(self.ok('domstate', '42'), 'shut off\n')
        self.assertEqual(self.ok('start', '42'), "Domain '42' started\n")
        self.ok('destroy', '42')

    def test_no_such_domain(self):
        for args in (('start', 'ghost'), ('dominfo', 'ghost'), ('domstate', 'ghost'),
                     ('dumpxml', 'ghost'), ('undefine', 'ghost'), ('domname', '999'),
                     ('domname', new_uuid()), ('autostart', 'ghost'), ('edit', 'ghost'),
                     ('event', 'ghost', '--timeout', '1')):
            with self.subTest(args=args):
                r = self.ctl(*args, env={'EDITOR': 'true'})
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stdout, '')
                self.assertEqual(r.stderr.count('\n'), 1, r.stderr)
                self.assertTrue(r.stderr.startswith('error: '), r.stderr)
                # the bus error's name, for scripts, as busctl shows it
                self.assertTrue(r.stderr.endswith(' (org.vmgmt.Error.NoSuchDomain)\n'), r.stderr)
        self.assertIn('ghost', self.fails('start', 'ghost'))

    def test_create_transient(self):
        f = self.xml_file('tr')
        self.assertEqual(self.ok('create', f), "Domain 'tr' created from %s\n" % f)
        path = domain_path('tr')
        self.client.wait_state(path, 'running')
        info = self.ok('dominfo', 'tr')
        self.assertIn('Persistent:     no\n', info)
        self.ok('destroy', 'tr')
        self.wait_gone('tr')

        f = self.xml_file('trp')
        self.assertEqual(self.ok('create', f, '--paused'), "Domain 'trp' created from %s\n" % f)
        self.assertEqual(self.client.wait_state(domain_path('trp'), 'paused')[0], 'paused')
        self.ok('destroy', 'trp')
        self.fails('create', os.path.join(self.fx.tmp, 'missing.xml'))

    def test_undefine_running_becomes_transient(self):
        path = self.started('ut')
        self.assertEqual(self.ok('undefine', 'ut'), "Domain 'ut' has been undefined\n")
        self.assertEqual(self.client.prop(path, 'Persistent'), False)
        self.ok('destroy', 'ut')
        self.wait_gone('ut')


class Info(CtlTestCase):
    def test_dominfo_layout(self):
        u = new_uuid()
        self.define_file('info', uuid=u, memory_mib=96, vcpus=2)
        out = self.ok('dominfo', 'info')
        lines = out.splitlines()
        keys = [ln[:15].rstrip() for ln in lines]
        self.assertEqual(keys[:11], ['Id:', 'Name:', 'UUID:', 'OS Type:', 'State:', 'CPU(s):',
                                     'Max memory:', 'Used memory:', 'Persistent:', 'Autostart:',
                                     'Managed save:'])
        for ln in lines:
            self.assertEqual(ln[15], ' ', ln)
        values = {ln[:15].rstrip(): ln[16:] for ln in lines}
        self.assertEqual(values['Id:'], '-')
        self.assertEqual(values['Name:'], 'info')
        self.assertEqual(values['UUID:'], u)
        self.assertEqual(values['OS Type:'], 'hvm')
        self.assertEqual(values['State:'], 'shut off')
        self.assertEqual(values['CPU(s):'], '2')
        self.assertEqual(values['Max memory:'], '98304 KiB')
        self.assertEqual(values['Used memory:'], '98304 KiB')
        self.assertEqual(values['Persistent:'], 'yes')
        self.assertEqual(values['Autostart:'], 'disable')
        self.assertEqual(values['Managed save:'], 'no')

        self.ok('start', 'info')
        values = {ln[:15].rstrip(): ln[16:] for ln in self.ok('dominfo', u).splitlines()}
        self.assertEqual(values['Id:'], str(self.client.prop(domain_path('info'), 'Id')))
        self.assertEqual(values['State:'], 'running')

        data = json.loads(self.ok('dominfo', 'info', '--json=short'))
        self.assertEqual(data['name'], 'info')
        self.assertEqual(data['uuid'], u)
        self.assertEqual(data['state'], 'running')
        self.assertEqual(data['state_reason'], 'booted')
        self.assertEqual(data['vcpus'], 2)
        self.assertEqual(data['memory_kib'], 98304)
        self.assertIs(data['persistent'], True)
        self.assertIs(data['autostart'], False)
        self.assertEqual(json.loads(self.ok('domstate', 'info', '--json=pretty')),
                         {'state': 'running', 'reason': 'booted'})
        self.assertEqual(json.loads(self.ok('domid', 'info', '--json=short')), {'id': data['id']})
        self.ok('destroy', 'info')

    def test_dumpxml(self):
        path = self.define_file('dx')
        inactive = str(self.dom(path).GetXML(opts(inactive=True)))
        out = self.ok('dumpxml', 'dx')
        self.assertEqual(out.rstrip('\n'), inactive.rstrip('\n'))
        self.assertTrue(out.endswith('\n'))
        self.ok('start', 'dx')
        live = str(self.dom(path).GetXML(opts()))
        self.assertEqual(self.ok('dumpxml', 'dx').rstrip('\n'), live.rstrip('\n'))
        self.assertEqual(self.ok('dumpxml', 'dx', '--inactive').rstrip('\n'),
                         str(self.dom(path).GetXML(opts(inactive=True))).rstrip('\n'))
        # The canonical form defines again without a change.
        f = os.path.join(self.fx.tmp, 'dx-again.xml')
        with open(f, 'w') as fh:
            fh.write(self.ok('dumpxml', 'dx', '--inactive'))
        self.ok('define', f)
        self.assertEqual(self.ok('dumpxml', 'dx', '--inactive').rstrip('\n'), inactive.rstrip('\n'))
        self.ok('destroy', 'dx')

    def test_autostart(self):
        path = self.define_file('auto')
        self.assertEqual(self.ok('autostart', 'auto'), "Domain 'auto' marked as autostarted\n")
        self.assertIs(self.client.prop(path, 'Autostart'), True)
        self.assertIn('Autostart:      enable\n', self.ok('dominfo', 'auto'))
        self.assertEqual(self.ok('autostart', 'auto', '--disable'),
                         "Domain 'auto' unmarked as autostarted\n")
        self.assertIs(self.client.prop(path, 'Autostart'), False)
        self.assertIn('Autostart:      disable\n', self.ok('dominfo', 'auto'))


def write_script(path, body):
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n' + body)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


class Edit(CtlTestCase):
    def edit_env(self, editor, key='EDITOR'):
        self.edit_tmp = os.path.join(self.fx.tmp, 'edit-tmp')
        os.makedirs(self.edit_tmp, exist_ok=True)
        return {key: editor, 'TMPDIR': self.edit_tmp}

    def test_edit_changes_and_unchanged(self):
        path = self.define_file('ed', title='before')
        gen = self.client.prop(path, 'Generation')
        ed = write_script(os.path.join(self.fx.tmp, 'ed.sh'),
                          'sed -i "s|<title>before</title>|<title>after</title>|" "$1"\n')
        self.assertEqual(self.ok('edit', 'ed', env=self.edit_env(ed)),
                         "Domain 'ed' XML configuration edited.\n")
        self.assertEqual(self.client.prop(path, 'Title'), 'after')
        self.assertGreater(self.client.prop(path, 'Generation'), gen)
        self.assertEqual(os.listdir(self.edit_tmp), [])

        before = self.fx.snapshot()
        self.assertEqual(self.ok('edit', 'ed', env=self.edit_env('true')),
                         "Domain 'ed' XML configuration not changed.\n")
        self.assertUnchanged(before)
        self.assertEqual(os.listdir(self.edit_tmp), [])

        # $VISUAL wins over $EDITOR; an editor with arguments goes through the shell
        env = self.edit_env('false')
        env['VISUAL'] = "sed -i 's/>after</>visual</'"
        self.assertEqual(self.ok('edit', 'ed', env=env), "Domain 'ed' XML configuration edited.\n")
        self.assertEqual(self.client.prop(path, 'Title'), 'visual')

    def test_edit_sees_inactive_definition(self):
        path = self.started('edl')
        seen = os.path.join(self.fx.tmp, 'seen.xml')
        ed = write_script(os.path.join(self.fx.tmp, 'copy.sh'), 'cp "$1" %s\n' % seen)
        self.assertEqual(self.ok('edit', 'edl', env=self.edit_env(ed)),
                         "Domain 'edl' XML configuration not changed.\n")
        with open(seen) as f:
            self.assertEqual(f.read(), str(self.dom(path).GetXML(opts(inactive=True))))
        self.ok('destroy', 'edl')

    def test_edit_failures_change_nothing(self):
        self.define_file('edf', title='keep')
        before = self.fx.snapshot()
        err = self.fails('edit', 'edf', env=self.edit_env('false'))
        self.assertIn('exited with status 1', err)
        self.assertUnchanged(before)
        self.assertEqual(os.listdir(self.edit_tmp), [])

        # invalid XML from the editor: the service's error, the file kept for the user
        ed = write_script(os.path.join(self.fx.tmp, 'break.sh'), 'echo "<domain" > "$1"\n')
        err = self.fails('edit', 'edf', env=self.edit_env(ed))
        self.assertIn('kept in', err)
        self.assertEqual(len(os.listdir(self.edit_tmp)), 1)
        self.assertUnchanged(before)
        self.assertEqual(self.client.prop(domain_path('edf'), 'Title'), 'keep')

    def edit_on_tty(self, name, env, answers):
        """vmgmtctl edit NAME on a pty (a user's terminal), answering each "Try again?" in turn."""
        import pty
        pid, fd = pty.fork()
        if pid == 0:
            e = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address})
            e.update(env)
            os.execve(VMGMTCTL, [VMGMTCTL, 'edit', name], e)
        out, answers, answered = b'', list(answers), 0
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            while answered < out.count(b'Try again? [y,n]: '):
                os.write(fd, (answers.pop(0) if answers else 'n').encode() + b'\n')
                answered += 1
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        return os.waitstatus_to_exitcode(status), out.decode(errors='replace')

    def test_edit_again_on_a_terminal(self):
        path = self.define_file('eda', title='first')
        count = os.path.join(self.fx.tmp, 'runs')
        # the first run breaks the XML, the second fixes it and changes the title
        ed = write_script(os.path.join(self.fx.tmp, 'twice.sh'),
                          'n=$(cat %s 2>/dev/null || echo 0); echo $((n + 1)) > %s\n'
                          'if [ "$n" = 0 ]; then cp "$1" "$1.good"; echo "<domain" > "$1"; '
                          'else sed "s|<title>first</title>|<title>second</title>|" "$1.good" > "$1"; fi\n'
                          % (count, count))
        rc, out = self.edit_on_tty('eda', self.edit_env(ed), ['y'])
        self.assertEqual(rc, 0, out)
        self.assertIn('Failed. Try again? [y,n]:', out)
        self.assertIn("Domain 'eda' XML configuration edited.", out)
        self.assertEqual(self.client.prop(path, 'Title'), 'second')
        with open(count) as f:
            self.assertEqual(f.read().strip(), '2')
        # "n": the failure stands, the file is kept, nothing changed
        os.unlink(count)
        rc, out = self.edit_on_tty('eda', self.edit_env(ed), ['n'])
        self.assertEqual(rc, 1, out)
        self.assertIn('kept in', out)
        self.assertEqual(self.client.prop(path, 'Title'), 'second')

    def test_edit_conflict(self):
        # While the editor runs, someone else redefines the domain: the edit
        # must fail with the service's Conflict and leave the other change.
        u = new_uuid()
        path = self.define_file('edc', uuid=u, title='orig')
        other = self.xml_file('edc-other', xml=minimal_domain_xml('edc', uuid=u, title='other'))
        ed = write_script(os.path.join(self.fx.tmp, 'race.sh'),
                          '"%s" define "%s" >/dev/null || exit 3\n'
                          'sed -i "s|<title>orig</title>|<title>mine</title>|" "$1"\n'
                          % (VMGMTCTL, other))
        env = self.edit_env(ed)
        env['DBUS_SYSTEM_BUS_ADDRESS'] = self.fx.bus.address
        err = self.fails('edit', 'edc', env=env)
        self.assertRegex(err.splitlines()[0], r'^error: .*(generation|changed|Generation)')
        self.assertIn('kept in', err)
        self.assertEqual(self.client.prop(path, 'Title'), 'other')


class EventReader:
    """vmgmtctl event running in the background; its stdout lines in a queue."""

    def __init__(self, test, *args):
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': test.fx.bus.address})
        self.proc = subprocess.Popen([VMGMTCTL, 'event'] + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        test.addCleanup(self.close)

    def _read(self):
        for ln in self.proc.stdout:
            self.lines.put(ln.decode('utf-8', 'replace').rstrip('\n'))
        self.lines.put(None)

    def next(self, timeout=DEFAULT_TIMEOUT):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError('no event line within %ds' % timeout)

    @staticmethod
    def event_of(ln):
        """(domain, event) of a printed event line, text or JSON; None for others."""
        if ln.startswith('{'):
            d = json.loads(ln)
            return d.get('domain'), d.get('event')
        m = re.search(r"event 'lifecycle' for domain '(.*)': (\w+) \w+$", ln)
        return (m.group(1), m.group(2).lower()) if m else None

    def wait_ready(self, test, probe='probe'):
        """Redefines a probe domain until its event shows up: from then on
        vmgmtctl's subscription is certainly in place. Then undefines it and
        reads up to that Undefined: the events of the other definitions of the
        probe come before it, none after. Returns (first line, Undefined line)."""
        f = test.xml_file(probe)
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while True:
            test.assertLess(time.monotonic(), deadline, 'vmgmtctl event never printed the probe event')
            test.ok('define', f)
            try:
                first = self.lines.get(timeout=0.2)
                break
            except queue.Empty:
                continue
        test.assertEqual(self.event_of(first), (probe, 'defined'), first)
        test.ok('undefine', probe)
        while True:
            ln = self.next()
            if self.event_of(ln) == (probe, 'undefined'):
                return first, ln
            test.assertEqual(self.event_of(ln), (probe, 'defined'), ln)

    def stop(self, sig=2):
        self.proc.send_signal(sig)
        self.proc.wait(DEFAULT_TIMEOUT)
        self.thread.join(DEFAULT_TIMEOUT)     # the reader drains stdout up to EOF
        err = self.proc.stderr.read()
        rest = []
        while True:
            try:
                ln = self.lines.get_nowait()
            except queue.Empty:
                break
            if ln is not None:
                rest.append(ln)
        return self.proc.returncode, rest, err.decode()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(5)
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


class Events(CtlTestCase):
    def test_event_loop(self):
        ev = EventReader(self, '--loop', '--all')
        first, undefined = ev.wait_ready(self)
        self.assertRegex(first, "^event 'lifecycle' for domain 'probe': Defined (Added|Updated)$")
        self.assertEqual(undefined, "event 'lifecycle' for domain 'probe': Undefined Removed")

        path = self.define_file('ev')
        self.ok('start', 'ev')
        self.ok('suspend', 'ev')
        self.ok('resume', 'ev')
        self.ok('destroy', 'ev')
        self.client.wait_state(path, 'shutoff')
        self.ok('define', self.xml_file('ev', uuid=self.client.prop(path, 'UUID')))
        self.ok('undefine', 'ev')
        expected = ['Defined Added', 'Started Booted', 'Suspended Paused', 'Resumed Unpaused',
                    'Stopped Destroyed', 'Defined Updated', 'Undefined Removed']
        for e in expected:
            self.assertEqual(ev.next(), "event 'lifecycle' for domain 'ev': " + e)
        rc, rest, err = ev.stop()
        self.assertEqual(rc, 0, err)
        self.assertEqual(rest[0], 'event loop interrupted')
        self.assertRegex(rest[1], r'^events received: \d+$')
        self.assertGreaterEqual(int(rest[1].split()[-1]), 2 + len(expected))
        self.assertEqual(len(rest), 2)

    def test_event_timestamp_and_filter(self):
        self.define_file('other')
        self.define_file('mine')
        ev = EventReader(self, 'mine', '--loop', '--timestamp')
        # readiness: the probe is filtered out, so use the domain itself
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        f = self.xml_file('mine', uuid=self.client.prop(domain_path('mine'), 'UUID'))
        while True:
            self.ok('define', f)
            try:
                ln = ev.lines.get(timeout=0.2)
                break
            except queue.Empty:
                self.assertLess(time.monotonic(), deadline, 'no event from vmgmtctl event')
        redefined = '^' + TIMESTAMP_RE + ": event 'lifecycle' for domain 'mine': Defined Updated$"
        self.assertRegex(ln, redefined)
        self.ok('start', 'other')
        before_ms = time.time_ns() // 1000000
        self.ok('start', 'mine')
        # the other readiness defines' events, then mine's start: nothing of 'other'
        while re.match(redefined, ln):
            ln = ev.next()
        after_ms = time.time_ns() // 1000000
        self.assertRegex(ln, '^' + TIMESTAMP_RE + ": event 'lifecycle' for domain 'mine': Started Booted$")
        # the stamp is the wall-clock time (UTC, milliseconds) of the start: during `start mine`
        stamp_ms = calendar.timegm(time.strptime(ln[:19], '%Y-%m-%d %H:%M:%S')) * 1000 + int(ln[20:23])
        self.assertGreaterEqual(stamp_ms, before_ms, ln)
        self.assertLessEqual(stamp_ms, after_ms, ln)
        self.ok('destroy', 'other')
        self.ok('destroy', 'mine')
        self.assertIn("for domain 'mine': Stopped Destroyed", ev.next())
        rc, rest, _ = ev.stop(15)
        self.assertEqual(rc, 0)
        self.assertEqual(rest[0], 'event loop interrupted')
        self.assertGreaterEqual(int(rest[-1].split()[-1]), 3)

    def test_event_once_and_timeout(self):
        self.define_file('once')
        self.define_file('notme')
        once = self.xml_file('once', uuid=self.client.prop(domain_path('once'), 'UUID'))
        notme = self.xml_file('notme', uuid=self.client.prop(domain_path('notme'), 'UUID'))
        ev = EventReader(self, 'once')
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while ev.proc.poll() is None:
            self.assertLess(time.monotonic(), deadline)
            self.ok('autostart', 'once')        # a property only: no event
            self.ok('define', notme)            # another domain: filtered out
            self.ok('define', once)
            try:
                ev.proc.wait(0.5)
            except subprocess.TimeoutExpired:
                pass
        out = []
        while True:
            ln = ev.next()
            if ln is None:
                break
            out.append(ln)
        self.assertEqual(ev.proc.returncode, 0)
        self.assertEqual(out, ["event 'lifecycle' for domain 'once': Defined Updated",
                               'events received: 1'])

        # --timeout: it ends by itself, saying so (a hang is bounded by ctl's timeout)
        self.assertEqual(self.ok('event', '--timeout', '1'),
                         'event loop timed out\nevents received: 0\n')

    def test_event_json(self):
        ev = EventReader(self, '--loop', '--json=short')
        first, undefined = ev.wait_ready(self)
        probe = json.loads(first)
        self.assertEqual((probe['domain'], probe['event'], probe['detail']), ('probe', 'defined', 'added'))
        self.assertRegex(probe['timestamp'], '^' + TIMESTAMP_RE + '$')
        self.assertIsInstance(probe['time_usec'], int)
        self.assertEqual(json.loads(undefined)['detail'], 'removed')
        self.started('js')
        self.assertEqual(json.loads(ev.next())[('event')], 'defined')
        e = json.loads(ev.next())
        self.assertEqual((e['domain'], e['event'], e['detail']), ('js', 'started', 'booted'))
        self.ok('destroy', 'js')
        e = json.loads(ev.next())
        self.assertEqual((e['event'], e['detail']), ('stopped', 'destroyed'))
        rc, rest, _ = ev.stop()
        self.assertEqual((rc, rest), (0, []))

    def test_event_survives_daemon_restart(self):
        # The subscription names org.vmgmt, not the daemon's unique name.
        ev = EventReader(self, '--loop')
        ev.wait_ready(self)     # up to the probe's last event
        self.daemon.restart()
        self.define_file('after')
        self.assertEqual(ev.next(), "event 'lifecycle' for domain 'after': Defined Added")
        rc, _, err = ev.stop()
        self.assertEqual(rc, 0, err)

    def test_event_bus_lost(self):
        ev = EventReader(self, '--loop')
        ev.wait_ready(self)
        self.fx.bus.stop()
        try:
            ev.proc.wait(DEFAULT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail('vmgmtctl event kept running after the bus went away')
        self.assertEqual(ev.proc.returncode, 1)
        self.assertIn('error: ', ev.proc.stderr.read().decode())
        self.daemon.kill()


if __name__ == '__main__':
    main()
