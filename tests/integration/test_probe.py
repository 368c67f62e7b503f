#!/usr/bin/python3
# The capabilities probe of an emulator vmgmtd has not seen yet runs as a
# child of the event loop: while it runs, every other call is answered; the
# call that needs it gets its answer when the probe ends; a probe that never
# answers is killed and reaped at its deadline and the call fails clearly.
#
# The emulators are wrappers around the real qemu-system-x86_64 (so the probe
# reads qemu's real answers), root's, in a directory only root may write. No
# check here measures a time: a "slow" emulator waits at a gate the test opens
# once it has seen what must happen while the probe runs, and a "hanging" one
# sleeps for days, so its answer coming at all shows it was killed.

import os
import stat
import sys
import time

import dbus
import dbus.lowlevel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmgmt_harness import (ERR_OPERATION_FAILED, PROPS_IFACE, MANAGER_IFACE, MANAGER_PATH, BUS_NAME,  # noqa: E402
                           DEFAULT_TIMEOUT, VmgmtTestCase, domain_path, minimal_domain_xml, opts, main,
                           _all_pids, cmdline)

REAL_QEMU = '/usr/bin/qemu-system-x86_64'
# [daemon] probe_timeout_sec (per run of the emulator) of the test that hangs
# on purpose; the others keep the default (30 s), which only bounds a hang
PROBE_DEADLINE = 1.0


class ProbeTest(VmgmtTestCase):

    def make_emulator(self, name, body):
        """A root-owned script in a root-owned 0755 directory; every run
        appends its arguments to CALLS before doing anything else."""
        d = os.path.join(self.fx.tmp, 'emulators')
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        self.assertEqual(os.stat(d).st_uid, 0, 'the test must run as root')
        path = os.path.join(d, name)
        calls = path + '.calls'
        with open(path, 'w') as f:
            f.write('#!/bin/sh\necho "$*" >> %s\n%s\n' % (calls, body))
        os.chmod(path, 0o755)
        self.assertFalse(os.stat(path).st_mode & (stat.S_IWGRP | stat.S_IWOTH))
        return path, calls

    def calls(self, calls_file):
        try:
            with open(calls_file) as f:
                return [line.strip() for line in f]
        except FileNotFoundError:
            return []

    def define_async(self, xml):
        """Starts DefineDomain without waiting; returns a dict that gets
        'path' or 'error' when the answer arrives (pump the loop)."""
        result = {}
        self.manager.DefineDomain(xml, opts(),
                                  reply_handler=lambda p: result.setdefault('path', str(p)),
                                  error_handler=lambda e: result.setdefault('error', e),
                                  timeout=60)
        return result

    def wait_until(self, pred, what, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                self.fail('timed out waiting for ' + what)
            self.rec.pump(0.01)

    def gate(self):
        """A FIFO the test holds open for writing: an emulator that runs
        `read x < GATE` waits there until release() writes a line (the
        test's own write end keeps its open from blocking)."""
        path = os.path.join(self.fx.tmp, 'gate')
        os.mkfifo(path, 0o600)
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self.addCleanup(os.close, fd)
        return path, fd

    def release(self, fd):
        os.write(fd, b'go\n')

    def other_calls(self):
        """Ping, a property Get and ListDomains, each answered (blocking calls:
        a daemon whose loop is held up by the probe answers none of them
        while the emulator waits at its gate)."""
        conn = self.client.conn
        for name, args in (('Ping', ('org.freedesktop.DBus.Peer', 'Ping', '', ())),
                           ('Get Version', (PROPS_IFACE, 'Get', 'ss', (MANAGER_IFACE, 'Version'))),
                           ('ListDomains', (MANAGER_IFACE, 'ListDomains', 'a{sv}', ({},)))):
            try:
                v = conn.call_blocking(BUS_NAME, MANAGER_PATH, *args, timeout=DEFAULT_TIMEOUT)
            except dbus.DBusException as e:
                self.fail('%s was not answered while the probe was under way: %s' % (name, e))
            if name == 'Get Version':
                self.assertTrue(str(v))

    def hanging_sleep(self):
        """A `sleep` of days whose command line no other process has (our pid
        is in it); killed at cleanup should the daemon leave it behind."""
        marker = 'sleep 9%07d.25' % os.getpid()
        self.addCleanup(self.kill_leftovers, marker)
        return marker

    def kill_leftovers(self, marker):
        for pid, _ in self.leftover_processes(marker):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def wait_no_leftovers(self, *markers):
        """Waits until no process runs any of `markers` (the daemon reaps its
        probe children from its loop)."""
        left = lambda: [p for m in markers for p in self.leftover_processes(m)]  # noqa: E731
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while left():
            if time.monotonic() > deadline:
                self.fail('probe processes left behind: %s' % left())
            time.sleep(0.05)

    def leftover_processes(self, marker):
        out = []
        for pid in _all_pids():
            if pid == os.getpid():
                continue
            argv = ' '.join(cmdline(pid))
            if marker in argv:
                out.append((pid, argv))
        return out

    def test_slow_emulator_does_not_block_the_loop(self):
        # the emulator's -version run waits at a gate: the probe is under way
        # until the test opens it, whatever the machine's speed
        gate, gate_fd = self.gate()
        emu, calls = self.make_emulator('qemu-slow', '[ "$1" = -version ] && read x < %s\nexec %s "$@"'
                                        % (gate, REAL_QEMU))
        xml_a = minimal_domain_xml('slow-a', extra_devices='<emulator>%s</emulator>' % emu)
        xml_b = minimal_domain_xml('slow-b', machine='q35', extra_devices='<emulator>%s</emulator>' % emu)

        a = self.define_async(xml_a)
        # the probe is under way once the emulator ran; a second caller then waits for the same probe
        self.wait_until(lambda: self.calls(calls), 'the probe to start')
        b = self.define_async(xml_b)
        # while the emulator is held, every other call is answered (one round:
        # the held run still has the product's 2 s probe deadline) ...
        self.other_calls()
        # ... and not the define that needs the probe: the daemon answers its
        # calls in order, so an answer sent before ListDomains' has arrived
        self.rec.sync()
        self.assertEqual(a, {}, 'DefineDomain answered before the slow emulator did')
        self.assertEqual(b, {}, 'DefineDomain answered before the slow emulator did')
        self.assertEqual(self.calls(calls), ['-version'])

        self.release(gate_fd)
        self.wait_until(lambda: ('path' in a or 'error' in a) and ('path' in b or 'error' in b),
                        'both DefineDomain answers')
        self.assertNotIn('error', a, a.get('error'))
        self.assertNotIn('error', b, b.get('error'))
        self.assertEqual(a['path'], domain_path('slow-a'))
        self.assertEqual(b['path'], domain_path('slow-b'))
        # one probe for both callers: -version once, -machine help once
        self.assertEqual(self.calls(calls), ['-version', '-machine help'])
        # the answers are qemu's own: aliases resolved by the slow emulator's table
        xa = str(self.client.domain('slow-a').GetXML(opts()))
        xb = str(self.client.domain('slow-b').GetXML(opts()))
        self.assertIn('<emulator>%s</emulator>' % emu, xa)
        self.assertRegex(xa, r"machine='pc-i440fx-\d+\.\d+'")
        self.assertRegex(xb, r"machine='pc-q35-\d+\.\d+'")
        self.wait_no_leftovers(emu)

        # known now (and cached on disk): the next define does not run it again
        self.define(minimal_domain_xml('slow-c', extra_devices='<emulator>%s</emulator>' % emu))
        self.assertEqual(len(self.calls(calls)), 2)
        self.daemon.restart()
        self.assertEqual(sorted(self.client.list_domains()),
                         sorted(domain_path(n) for n in ('slow-a', 'slow-b', 'slow-c')))
        self.assertEqual(len(self.calls(calls)), 2, 'the restart probed again instead of reading the cache')

    def test_hanging_emulator_is_killed_at_the_deadline(self):
        # the emulator sleeps for days: an answer at all means the daemon killed it
        self.daemon.stop()
        with open(os.path.join(self.daemon.root, 'etc', 'vmgmt', 'vmgmtd.conf'), 'w') as f:
            f.write('[daemon]\nprobe_timeout_sec=%g\n' % PROBE_DEADLINE)
        self.daemon.start()
        marker_sleep = self.hanging_sleep()
        emu, calls = self.make_emulator('qemu-hang', '%s\nexec %s "$@"' % (marker_sleep, REAL_QEMU))
        before = self.fx.snapshot()
        a = self.define_async(minimal_domain_xml('hang', extra_devices='<emulator>%s</emulator>' % emu))
        self.wait_until(lambda: self.calls(calls), 'the probe to start')
        self.other_calls()
        self.wait_until(lambda: 'path' in a or 'error' in a, 'the DefineDomain answer')
        self.assertNotIn('path', a)
        e = a['error']
        self.assertEqual(e.get_dbus_name(), ERR_OPERATION_FAILED, e)
        msg = e.get_dbus_message()
        self.assertIn("'hang'", msg)
        self.assertIn(emu, msg)
        self.assertIn('did not answer within %.1f s' % PROBE_DEADLINE, msg)
        # it was the deadline that ended it (the timer's own log line), not an exit of the emulator
        self.assertIn('%s did not answer within %d ms, killing it.' % (emu, PROBE_DEADLINE * 1000),
                      self.daemon.log_text())
        # the wrapper and the sleep it started were killed and reaped (no zombie of ours either)
        self.wait_no_leftovers(emu, marker_sleep)
        zombies = [p for p in _all_pids() if _ppid(p) == self.daemon.pid and _state(p) == 'Z']
        self.assertEqual(zombies, [])
        self.assertEqual(self.calls(calls), ['-version'])
        self.assertUnchanged(before)

    def test_caller_gone_during_probe_defines_nothing(self):
        # a DefineDomain waiting for a probe whose caller disconnects must not
        # happen (as a call whose authorization was pending): when the probe
        # ends the domain does not exist, while a caller still connected and
        # waiting for the same probe gets its domain
        gate, gate_fd = self.gate()
        emu, calls = self.make_emulator('qemu-gone', '[ "$1" = -version ] && read x < %s\nexec %s "$@"'
                                        % (gate, REAL_QEMU))
        before = self.fx.snapshot()
        gone = dbus.bus.BusConnection(self.fx.bus.address)
        gone_name = gone.get_unique_name()
        msg = dbus.lowlevel.MethodCallMessage(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, 'DefineDomain')
        msg.append(minimal_domain_xml('gone', extra_devices='<emulator>%s</emulator>' % emu), opts(),
                   signature='sa{sv}')
        gone.send_message(msg)
        gone.flush()
        self.wait_until(lambda: self.calls(calls), 'the probe to start')
        gone.close()
        # once the bus has dropped the caller, its NameOwnerChanged is queued
        # to vmgmtd ahead of anything this connection sends from now on
        self.wait_until(lambda: not self.client.conn.name_has_owner(gone_name), 'the bus to drop the caller')
        stays = self.define_async(minimal_domain_xml('stays', extra_devices='<emulator>%s</emulator>' % emu))
        self.rec.sync()     # vmgmtd has taken the second define before the probe can end
        self.assertEqual(stays, {})
        self.release(gate_fd)
        self.wait_until(lambda: 'path' in stays or 'error' in stays, 'the connected caller\'s answer')
        self.assertNotIn('error', stays, stays.get('error'))
        self.assertEqual(self.calls(calls), ['-version', '-machine help'])
        self.assertEqual(sorted(self.client.list_domains()), sorted(before['domains'] + [domain_path('stays')]))
        self.assertFalse(os.path.exists(os.path.join(self.daemon.config_dir, 'gone.xml')))
        self.assertTrue(os.path.exists(os.path.join(self.daemon.config_dir, 'stays.xml')))
        with self.assertRaises(dbus.exceptions.DBusException):
            self.client.domain('gone').GetXML(opts())
        # the same definition from a caller that stays is defined
        self.define(minimal_domain_xml('gone', extra_devices='<emulator>%s</emulator>' % emu))
        self.assertIn(domain_path('gone'), self.client.list_domains())

    def test_capabilities_probe_the_default_emulator(self):
        # a fresh daemon has probed nothing: the first GetCapabilities waits for
        # the default emulator's probe (in the loop), later ones are served at once
        cache = os.path.join(self.daemon.root, 'var', 'lib', 'vmgmt', 'qemu')
        self.assertFalse([f for f in os.listdir(cache) if f.endswith('.caps')] if os.path.isdir(cache) else [])
        first = str(self.manager.GetCapabilities())
        self.assertIn('<emulator>%s</emulator>' % REAL_QEMU, first)
        self.assertRegex(first, r"<machine canonical='pc-i440fx-\d+\.\d+' maxCpus='255'>pc</machine>")
        self.assertRegex(first, r"<machine canonical='pc-q35-\d+\.\d+' maxCpus='255'>q35</machine>")
        self.assertTrue([f for f in os.listdir(cache) if f.endswith('.caps')], 'the probe wrote no cache')
        self.assertEqual(str(self.manager.GetCapabilities()), first)

    def test_exit_while_probing(self):
        # SIGTERM while a call waits for a probe: the probe is killed and
        # reaped, the caller gets an error instead of silence, the exit is clean
        marker_sleep = self.hanging_sleep()
        emu, calls = self.make_emulator('qemu-exit', '%s\nexec %s "$@"' % (marker_sleep, REAL_QEMU))
        a = self.define_async(minimal_domain_xml('bye', extra_devices='<emulator>%s</emulator>' % emu))
        self.wait_until(lambda: self.calls(calls), 'the probe to start')
        self.assertEqual(self.daemon.stop(), 0)
        self.wait_until(lambda: 'path' in a or 'error' in a, 'an answer to DefineDomain')
        self.assertNotIn('path', a)
        self.assertEqual(a['error'].get_dbus_name(), ERR_OPERATION_FAILED, a['error'])
        self.assertIn('vmgmtd is exiting', a['error'].get_dbus_message())
        self.wait_no_leftovers(emu, marker_sleep)
        self.assertFalse(os.path.exists(os.path.join(self.daemon.config_dir, 'bye.xml')))


def _status_field(pid, key):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return line.split()[1]
    except OSError:
        pass
    return None


def _ppid(pid):
    v = _status_field(pid, 'PPid')
    return int(v) if v else None


def _state(pid):
    return _status_field(pid, 'State')


if __name__ == '__main__':
    main()
