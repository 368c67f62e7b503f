#!/usr/bin/python3
# The capabilities probe of an emulator vmgmtd has not seen yet runs as a
# child of the event loop: while it runs, every other call is answered; the
# call that needs it gets its answer when the probe ends; a probe that never
# answers is killed and reaped at its deadline and the call fails clearly.
#
# The emulators are wrappers around the real qemu-system-x86_64 (so the probe
# reads qemu's real answers), root's, in a directory only root may write.

import os
import stat
import sys
import time

import dbus
import dbus.lowlevel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmgmt_harness import (ERR_OPERATION_FAILED, PROPS_IFACE, MANAGER_IFACE, MANAGER_PATH, BUS_NAME,  # noqa: E402
                           VmgmtTestCase, domain_path, minimal_domain_xml, opts, main, _all_pids, cmdline, log)

REAL_QEMU = '/usr/bin/qemu-system-x86_64'
PROBE_DEADLINE = 2.0          # QEMU_CAPS_PROBE_TIMEOUT_USEC, per run of the emulator
SLOW = 1.5                    # each run of the slow emulator waits this long before qemu answers
FAST_CALL_LIMIT = 0.25        # what "answered at once" means on a loaded 2-core machine (ASan too)


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

    def wait_until(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                self.fail('timed out waiting for ' + what)
            self.rec.pump(0.01)

    def timed_calls(self):
        """Ping, a property Get and ListDomains, each timed, from a second
        connection's thread-free blocking calls."""
        conn = self.client.conn
        times = {}
        t = time.monotonic()
        conn.call_blocking(BUS_NAME, MANAGER_PATH, 'org.freedesktop.DBus.Peer', 'Ping', '', ())
        times['Ping'] = time.monotonic() - t
        t = time.monotonic()
        version = conn.call_blocking(BUS_NAME, MANAGER_PATH, PROPS_IFACE, 'Get', 'ss', (MANAGER_IFACE, 'Version'))
        times['Get Version'] = time.monotonic() - t
        self.assertTrue(str(version))
        t = time.monotonic()
        conn.call_blocking(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, 'ListDomains', 'a{sv}', ({},))
        times['ListDomains'] = time.monotonic() - t
        return times

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
        emu, calls = self.make_emulator('qemu-slow', 'sleep %s\nexec %s "$@"' % (SLOW, REAL_QEMU))
        xml_a = minimal_domain_xml('slow-a', extra_devices='<emulator>%s</emulator>' % emu)
        xml_b = minimal_domain_xml('slow-b', machine='q35', extra_devices='<emulator>%s</emulator>' % emu)

        t0 = time.monotonic()
        a = self.define_async(xml_a)
        # the probe is under way once the emulator ran; a second caller then waits for the same probe
        self.wait_until(lambda: self.calls(calls), 10, 'the probe to start')
        b = self.define_async(xml_b)
        latencies = []
        while 'path' not in a and 'error' not in a and time.monotonic() - t0 < SLOW:
            latencies.append(self.timed_calls())
            self.rec.pump(0.05)
        self.assertNotIn('path', a, 'DefineDomain answered before the slow emulator did')
        self.assertNotIn('error', a)
        self.assertGreaterEqual(len(latencies), 3, latencies)
        log('%d rounds of Ping/Get/ListDomains during the probe; slowest %.1f ms'
            % (len(latencies), max(max(t.values()) for t in latencies) * 1000))
        for times in latencies:
            for name, took in times.items():
                self.assertLess(took, FAST_CALL_LIMIT,
                                '%s took %.0f ms while a probe was running: %s' % (name, took * 1000, latencies))

        self.wait_until(lambda: ('path' in a or 'error' in a) and ('path' in b or 'error' in b), 30,
                        'both DefineDomain answers')
        took = time.monotonic() - t0
        self.assertNotIn('error', a, a.get('error'))
        self.assertNotIn('error', b, b.get('error'))
        self.assertEqual(a['path'], domain_path('slow-a'))
        self.assertEqual(b['path'], domain_path('slow-b'))
        self.assertGreaterEqual(took, 2 * SLOW - 0.1, 'the probe of the slow emulator cannot be that fast')
        # one probe for both callers: -version once, -machine help once
        self.assertEqual(self.calls(calls), ['-version', '-machine help'])
        # the answers are qemu's own: aliases resolved by the slow emulator's table
        xa = str(self.client.domain('slow-a').GetXML(opts()))
        xb = str(self.client.domain('slow-b').GetXML(opts()))
        self.assertIn('<emulator>%s</emulator>' % emu, xa)
        self.assertRegex(xa, r"machine='pc-i440fx-\d+\.\d+'")
        self.assertRegex(xb, r"machine='pc-q35-\d+\.\d+'")
        self.assertEqual(self.leftover_processes(emu), [])

        # known now (and cached on disk): the next define does not run it again
        self.define(minimal_domain_xml('slow-c', extra_devices='<emulator>%s</emulator>' % emu))
        self.assertEqual(len(self.calls(calls)), 2)
        self.daemon.restart()
        self.assertEqual(sorted(self.client.list_domains()),
                         sorted(domain_path(n) for n in ('slow-a', 'slow-b', 'slow-c')))
        self.assertEqual(len(self.calls(calls)), 2, 'the restart probed again instead of reading the cache')

    def test_hanging_emulator_is_killed_at_the_deadline(self):
        marker_sleep = 'sleep 3%d.25' % (os.getpid() % 10)
        emu, calls = self.make_emulator('qemu-hang', '%s\nexec %s "$@"' % (marker_sleep, REAL_QEMU))
        before = self.fx.snapshot()
        t0 = time.monotonic()
        a = self.define_async(minimal_domain_xml('hang', extra_devices='<emulator>%s</emulator>' % emu))
        self.wait_until(lambda: self.calls(calls), 10, 'the probe to start')
        latencies = self.timed_calls()
        for name, took in latencies.items():
            self.assertLess(took, FAST_CALL_LIMIT, '%s took %.0f ms during a hanging probe' % (name, took * 1000))
        self.wait_until(lambda: 'path' in a or 'error' in a, 30, 'the DefineDomain answer')
        took = time.monotonic() - t0
        self.assertNotIn('path', a)
        e = a['error']
        self.assertEqual(e.get_dbus_name(), ERR_OPERATION_FAILED, e)
        msg = e.get_dbus_message()
        self.assertIn("'hang'", msg)
        self.assertIn(emu, msg)
        self.assertIn('did not answer within %.1f s' % PROBE_DEADLINE, msg)
        self.assertGreaterEqual(took, PROBE_DEADLINE - 0.1)
        self.assertLess(took, PROBE_DEADLINE + 5)
        # the wrapper and the sleep it started were killed and reaped (no zombie of ours either)
        deadline = time.monotonic() + 2
        while self.leftover_processes(emu) or self.leftover_processes(marker_sleep):
            if time.monotonic() > deadline:
                self.fail('probe processes left behind: %s' % (self.leftover_processes(emu) +
                                                             self.leftover_processes(marker_sleep)))
            time.sleep(0.05)
        zombies = [p for p in _all_pids() if _ppid(p) == self.daemon.pid and _state(p) == 'Z']
        self.assertEqual(zombies, [])
        self.assertEqual(self.calls(calls), ['-version'])
        self.assertUnchanged(before)

    def test_caller_gone_during_probe_defines_nothing(self):
        # a DefineDomain waiting for a probe whose caller disconnects must not
        # happen (as a call whose authorization was pending): when the probe
        # ends the domain does not exist, while a caller still connected and
        # waiting for the same probe gets its domain
        emu, calls = self.make_emulator('qemu-gone', 'sleep %s\nexec %s "$@"' % (SLOW, REAL_QEMU))
        before = self.fx.snapshot()
        gone = dbus.bus.BusConnection(self.fx.bus.address)
        msg = dbus.lowlevel.MethodCallMessage(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, 'DefineDomain')
        msg.append(minimal_domain_xml('gone', extra_devices='<emulator>%s</emulator>' % emu), opts(),
                   signature='sa{sv}')
        gone.send_message(msg)
        gone.flush()
        self.wait_until(lambda: self.calls(calls), 10, 'the probe to start')
        gone.close()
        stays = self.define_async(minimal_domain_xml('stays', extra_devices='<emulator>%s</emulator>' % emu))
        self.wait_until(lambda: 'path' in stays or 'error' in stays, 30, 'the connected caller\'s answer')
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
        marker_sleep = 'sleep 4%d.75' % (os.getpid() % 10)
        emu, calls = self.make_emulator('qemu-exit', '%s\nexec %s "$@"' % (marker_sleep, REAL_QEMU))
        a = self.define_async(minimal_domain_xml('bye', extra_devices='<emulator>%s</emulator>' % emu))
        self.wait_until(lambda: self.calls(calls), 10, 'the probe to start')
        self.assertEqual(self.daemon.stop(), 0)
        self.wait_until(lambda: 'path' in a or 'error' in a, 30, 'an answer to DefineDomain')
        self.assertNotIn('path', a)
        self.assertEqual(a['error'].get_dbus_name(), ERR_OPERATION_FAILED, a['error'])
        self.assertIn('vmgmtd is exiting', a['error'].get_dbus_message())
        deadline = time.monotonic() + 2
        while self.leftover_processes(emu) or self.leftover_processes(marker_sleep):
            if time.monotonic() > deadline:
                self.fail('probe processes left behind: %s' % self.leftover_processes(marker_sleep))
            time.sleep(0.05)
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
