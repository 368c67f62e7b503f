# Domain.GetStats and Manager.GetAllDomainStats (virsh domstats) against real qemu (TCG): a booted guest
# writing to its disk makes the block counters grow, its CPU time grows, the balloon reports the guest's
# memory; a qemu that does not answer (SIGSTOP) delays no other domain's statistics and no other call,
# and is not waited for again while it still owes an answer; groups, filters and options.
import os
import signal
import tempfile
import time

from vmgmt_harness import (DEFAULT_TIMEOUT, GUEST_READY, VmgmtTestCase, dbus_error_name, guest_domain_xml,
                           guest_image, main, minimal_domain_xml, opts, unwrap, _cmdline)
import dbus

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly
WAIT = 120           # bounds every other wait; never a timing check
ERR = 'org.vmgmt.Error.'
MANAGER_IFACE = 'org.vmgmt.Manager'
DOMAIN_IFACE = 'org.vmgmt.Domain'


def long_wait(ms):
    return dbus.UInt32(ms)


def domain_qemu_pid(fx, name):
    # among this fixture's qemus only: CI runs the plain and the sanitizer builds' suites at once,
    # and the other one's domain 'sb' must not be the one stopped
    for pid in fx.qemu_pids():
        argv = _cmdline(pid)
        if argv and any(a.startswith('guest=%s,' % name) for a in argv):
            return pid
    raise AssertionError('no qemu of this test runs domain %s' % name)


class Stats(VmgmtTestCase):
    @classmethod
    def setUpClass(cls):
        guest_image()
        super().setUpClass()

    def stats(self, path, timeout_ms=WAIT * 1000, **kw):
        return unwrap(self.dom(path).GetStats(opts(timeout_ms=long_wait(timeout_ms), **kw),
                                              timeout=WAIT + 30))

    def all_stats(self, groups=(), timeout=WAIT + 30, **kw):
        res = self.manager.GetAllDomainStats(dbus.Array(groups, signature='s'), opts(**kw), timeout=timeout)
        return {str(p): unwrap(s) for p, s in res}

    def disk(self, name):
        img = os.path.join(self.fx.tmp, name + '.img')
        with open(img, 'wb') as f:
            f.truncate(8 << 20)
        return ("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
                "<target dev='vda' bus='virtio'/></disk>" % img)

    def start(self, name, xml=None):
        path = self.define(xml or minimal_domain_xml(name))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        return path

    def test_booted_guest_counters_grow(self):
        img = tempfile.NamedTemporaryFile(dir=self.fx.tmp, suffix='.img', delete=False)
        img.truncate(64 << 20)
        img.close()
        xml = guest_domain_xml('st1').replace(
            "<memballoon model='none'/>",
            "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
            "<target dev='vda' bus='virtio'/></disk>"
            "<memballoon model='virtio'><stats period='1'/></memballoon>" % img.name)
        path = self.define(xml)
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)

        s0 = self.stats(path)
        self.assertNotIn('incomplete', s0)
        self.assertEqual((s0['state.state'], s0['state.reason']), (1, 1))   # running, booted
        self.assertGreater(s0['cpu.time'], 0)
        self.assertEqual(s0['cpu_time_ns'], s0['cpu.time'])
        self.assertLessEqual(s0['cpu.user'] + s0['cpu.system'], s0['cpu.time'] * 2)
        self.assertEqual((s0['vcpu.current'], s0['vcpu.maximum'], s0['vcpu.0.state']), (1, 1, 1))
        self.assertIn('vcpu.0.time', s0)
        self.assertEqual((s0['balloon.current'], s0['balloon.maximum']), (131072, 131072))
        self.assertEqual(s0['balloon_current_kib'], 131072)
        self.assertGreater(s0['balloon.rss'], 0)
        self.assertEqual(s0['block.count'], 1)
        self.assertEqual((s0['block.0.name'], s0['block.0.path']), ('vda', img.name))
        self.assertEqual(s0['block.0.capacity'], 64 << 20)
        self.assertIn('block.0.physical', s0)
        self.assertEqual(s0['net.count'], 0)

        # the guest writes 1 MiB straight to its disk
        con.send('dd if=/dev/urandom of=/dev/vda bs=4096 count=256 conv=fsync 2>/dev/null; echo WROTE_$((6*7))')
        con.wait_for('WROTE_42', WAIT)
        s1 = self.stats(path)
        self.assertNotIn('incomplete', s1)
        self.assertGreaterEqual(s1['block.0.wr.bytes'], s0.get('block.0.wr.bytes', 0) + (1 << 20))
        self.assertGreater(s1['block.0.wr.reqs'], s0.get('block.0.wr.reqs', 0))
        self.assertGreaterEqual(s1['block.0.allocation'], 1 << 20)
        self.assertGreater(s1['cpu.time'], s0['cpu.time'])
        self.assertGreaterEqual(s1['vcpu.0.time'], s0['vcpu.0.time'])

        # the guest's balloon driver reports its memory every second (<stats period='1'/>)
        deadline = time.monotonic() + WAIT
        while 'balloon.usable' not in s1 or 'balloon.available' not in s1:
            self.assertLess(time.monotonic(), deadline, 'no guest memory statistics: %r' % s1)
            time.sleep(0.5)
            s1 = self.stats(path, groups=dbus.Array(['balloon'], signature='s'))
        sb = self.stats(path, groups=dbus.Array(['balloon'], signature='s'))
        self.assertLessEqual(sb['balloon.available'], 131072)
        self.assertLessEqual(sb['balloon.usable'], sb['balloon.available'])
        self.assertIn('balloon.last-update', sb)
        self.assertIn('balloon.minor_fault', sb)
        self.assertTrue(all(k.startswith('balloon') for k in sb), sb)   # that group alone

        # GetAllDomainStats: the groups asked for, the domain under its path
        every = self.all_stats(['block', 'state'], timeout_ms=long_wait(WAIT * 1000))
        self.assertEqual(list(every), [path])
        mine = every[path]
        self.assertGreaterEqual(mine['block.0.wr.bytes'], s0.get('block.0.wr.bytes', 0) + (1 << 20))
        self.assertEqual(mine['state.state'], 1)
        self.assertNotIn('cpu.time', mine)
        self.assertNotIn('cpu_time_ns', mine)

    def test_stopped_qemu_delays_no_one(self):
        # with a disk each: block counters are qemu's alone to tell, every time
        a = self.start('sa', minimal_domain_xml('sa', extra_devices=self.disk('sa')))
        b = self.start('sb', minimal_domain_xml('sb', extra_devices=self.disk('sb')))
        for p in (a, b):   # both answer
            self.assertNotIn('incomplete', self.stats(p))
        pid = domain_qemu_pid(self.fx, 'sb')
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(lambda: os.kill(pid, signal.SIGCONT) if os.path.exists('/proc/%d' % pid) else None)

        # a GetStats of b that waits as long as it likes
        answers = []
        self.client.conn.call_async('org.vmgmt', b, DOMAIN_IFACE, 'GetStats', 'a{sv}',
                                    (opts(timeout_ms=long_wait(600000)),),
                                    lambda s: answers.append(unwrap(s)),
                                    lambda e: answers.append(e), timeout=900)
        self.rec.pump(0.2)
        # meanwhile a answers in full, and the service answers everything else
        sa = self.stats(a)
        self.assertNotIn('incomplete', sa)
        self.assertIn('block.count', sa)
        self.assertEqual(self.client.state(b), ('running', 'booted'))
        self.rec.sync()
        self.assertEqual(answers, [])

        # all domains: b comes (after its own bounded wait) with what is known, marked
        every = self.all_stats(timeout_ms=long_wait(1000))
        self.assertEqual(sorted(every), sorted([a, b]))
        self.assertNotIn('incomplete', every[a])
        self.assertEqual(every[b]['incomplete'], True)
        self.assertEqual(every[b]['state.state'], 1)
        self.assertIn('cpu.time', every[b])     # the kernel's counters need no answer from qemu
        self.assertEqual(every[b]['block.count'], 1)
        # now b owes an answer past a wait: nobody waits for it again, whatever timeout they give
        # (the call's own bound is far below the 600 s asked for)
        every = self.all_stats(timeout_ms=long_wait(600000), timeout=DEFAULT_TIMEOUT)
        self.assertEqual(every[b]['incomplete'], True)
        self.assertNotIn('incomplete', every[a])
        self.assertEqual(answers, [])

        # b wakes up: the first caller gets its full answer
        os.kill(pid, signal.SIGCONT)
        self.rec.wait_for(lambda _: answers, WAIT, 'the GetStats answer of the resumed qemu')
        self.assertIsInstance(answers[0], dict, answers)
        self.assertNotIn('incomplete', answers[0])
        self.assertIn('vcpu.0.state', answers[0])
        self.assertNotIn('incomplete', self.stats(b))

    def test_groups_filters_options(self):
        a = self.start('fa')
        off = self.define(minimal_domain_xml('fb'))
        s = self.stats(off)
        self.assertEqual(s, {'state.state': 5, 'state.reason': 0})   # shutoff, unknown: the state only
        s = self.stats(a, groups=dbus.Array(['state', 'vcpu'], signature='s'))
        self.assertEqual(sorted(k for k in s if not k.startswith('vcpu.')), ['state.reason', 'state.state'])
        self.assertEqual(s['vcpu.current'], 1)

        every = self.all_stats(['state'])
        self.assertEqual(every, {a: {'state.state': 1, 'state.reason': 1}, off: {'state.state': 5, 'state.reason': 0}})
        self.assertEqual(list(self.all_stats(['state'], active=True)), [a])
        self.assertEqual(list(self.all_stats(['state'], inactive=True)), [off])
        self.assertEqual(list(self.all_stats(['state'], shutoff=True)), [off])
        self.assertEqual(list(self.all_stats(['state'], running=True, paused=True)), [a])
        self.assertEqual(list(self.all_stats(['state'], transient=True)), [])
        self.assertEqual(list(self.all_stats(['state'], domains=dbus.Array(['fb', 'fb'], signature='s'))), [off])

        self.dom(a).Destroy(opts())
        self.client.wait_state(a, 'shutoff')
        self.assertEqual(self.stats(a), {'state.state': 5, 'state.reason': 2})   # destroyed

        for call, err in ((lambda: self.dom(a).GetStats(opts(groups=dbus.Array(['nope'], signature='s'))),
                           'org.freedesktop.DBus.Error.InvalidArgs'),
                          (lambda: self.dom(a).GetStats(opts(timeout_ms='x')), 'org.freedesktop.DBus.Error.InvalidArgs'),
                          (lambda: self.dom(a).GetStats(opts(bogus=True)), 'org.freedesktop.DBus.Error.InvalidArgs'),
                          (lambda: self.dom(a).GetStats(opts(groups=dbus.Array(['perf'], signature='s'),
                                                             enforce=True)), ERR + 'NotSupported'),
                          (lambda: self.all_stats(['perf'], enforce=True), ERR + 'NotSupported'),
                          (lambda: self.all_stats(['cpu-total', 'bad']), 'org.freedesktop.DBus.Error.InvalidArgs'),
                          (lambda: self.all_stats([], domains=dbus.Array(['nope'], signature='s')),
                           ERR + 'NoSuchDomain')):
            with self.assertRaises(dbus.DBusException) as cm:
                call()
            self.assertEqual(dbus_error_name(cm.exception), err)
        # perf without enforce: left out
        self.assertEqual(self.stats(a, groups=dbus.Array(['perf'], signature='s')), {})


    def addrs(self, path, **kw):
        return unwrap(self.dom(path).GetInterfaceAddresses(opts(**kw), timeout=WAIT + 30))

    def test_interface_addresses_agent(self):
        chan = ("<channel type='unix'><source mode='bind'/>"
                "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>")
        plain = self.start('ia')
        off = self.define(minimal_domain_xml('ib'))
        self.assertEqual(self.addrs(plain), [])                  # no interface, no lease
        self.assertEqual(self.addrs(plain, source='arp'), [])
        for path, kw, err in ((plain, {'source': 'agent'}, ERR + 'NotSupported'),
                              (plain, {'source': 'dhcp'}, 'org.freedesktop.DBus.Error.InvalidArgs'),
                              (off, {}, ERR + 'InvalidState')):
            with self.assertRaises(dbus.DBusException) as cm:
                self.addrs(path, **kw)
            self.assertEqual(dbus_error_name(cm.exception), err, cm.exception)
        self.assertIn('no guest agent channel', self._agent_error(plain))

        # a booted guest with the channel: nobody answers on it yet
        path = self.define(guest_domain_xml('ic').replace('<devices>', '<devices>' + chan, 1))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        real_agent = b'vmgmt-guest agent ready' in con.buf
        if real_agent:
            # the test guest's qemu-ga (tools/build-guest): stopped, so that nothing answers on the channel
            # (killall only signals it: the marker comes once it is gone, or it may still answer)
            con.send('touch /tmp/agent-off; killall qemu-ga 2>/dev/null; '
                     'while killall -0 qemu-ga 2>/dev/null; do sleep 0.1; done; echo AGENT''-OFF')
            con.wait_for('AGENT-OFF', WAIT)
        with self.assertRaises(dbus.DBusException) as cm:
            self.addrs(path, source='agent', timeout_ms=long_wait(1000))
        self.assertEqual(dbus_error_name(cm.exception), ERR + 'OperationFailed')
        self.assertIn('did not answer', str(cm.exception))
        if real_agent:
            # Debian's qemu-ga in the guest, started again: the guest's own interfaces
            con.send('ip link set lo up; ip addr add 127.0.0.1/8 dev lo 2>/dev/null; '
                     'p=$(ls /dev/vport* | head -n1); rm -f /tmp/agent-off; '
                     '/sbin/qemu-ga -m virtio-serial -p $p -f /tmp/qemu-ga2.pid -t /tmp -d; echo AGENT_$((6*7))')
            con.wait_for('AGENT_42', WAIT)
            got = self.addrs(path, source='agent', timeout_ms=long_wait(WAIT * 1000))
            self.assertIn({'name': 'lo', 'hwaddr': '00:00:00:00:00:00', 'type': 'ipv4', 'address': '127.0.0.1',
                           'prefix': 8}, got)
            return
        # without qemu-ga in the test guest (tools/build-guest found none): a sh loop speaks its protocol
        # over the real virtio-serial port
        # (a read sees end-of-file while no host side is connected: it reads again a little later)
        con.send('p=$(ls /dev/vport* | head -n1); (exec 3<>$p; while :; do while read -r l <&3; do case "$l" in '
                 '*guest-sync*) i=${l##*\\"id\\":}; i=${i%%\\}*}; echo "{\\"return\\": $i}" >&3;; '
                 '*network-get-interfaces*) echo \'{"return": [{"name": "lo", "hardware-address": '
                 '"00:00:00:00:00:00", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "127.0.0.1", '
                 '"prefix": 8}, {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128}]}, '
                 '{"name": "eth9", "hardware-address": "52:54:00:12:34:56"}]}\' >&3;; esac; done; sleep 0.2; done) & '
                 'echo AGENT_$((6*7))')
        con.wait_for('AGENT_42', WAIT)
        got = self.addrs(path, source='agent', timeout_ms=long_wait(WAIT * 1000))
        self.assertEqual(got, [
            {'name': 'lo', 'hwaddr': '00:00:00:00:00:00', 'type': 'ipv4', 'address': '127.0.0.1', 'prefix': 8},
            {'name': 'lo', 'hwaddr': '00:00:00:00:00:00', 'type': 'ipv6', 'address': '::1', 'prefix': 128},
            {'name': 'eth9', 'hwaddr': '52:54:00:12:34:56'}])

    def _agent_error(self, path):
        try:
            self.addrs(path, source='agent')
        except dbus.DBusException as e:
            return str(e)
        return ''


if __name__ == '__main__':
    main()
