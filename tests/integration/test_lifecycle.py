# Domain lifecycle through the bus on a minimal TCG domain (no OS): Start,
# Start paused, Suspend, Resume, Reset, Shutdown request, Destroy (also
# graceful), the InvalidState errors, signal order, and two definitions that
# must start: a virt-install-style q35 guest and a host-passthrough CPU
# (which must fail clearly under TCG).

import os
import signal
import subprocess
import time

import dbus

from vmgmt_harness import (DEFAULT_TIMEOUT, ERR_INVALID_ARGS, cmdline, ERR_INVALID_STATE, ERR_NO_SUCH_DOMAIN, VmgmtTestCase,
                           main, minimal_domain_xml, new_uuid, opts, pid_alive)


class Lifecycle(VmgmtTestCase):
    def start_domain(self, name, **o):
        path = self.define(minimal_domain_xml(name))
        self.rec.clear()
        self.dom(path).Start(opts(**o))
        return path

    def test_start_destroy_signals_and_properties(self):
        before_start = int(time.time() * 1e6)
        path = self.start_domain('life')
        st = self.client.wait_state(path, 'running')
        after_start = int(time.time() * 1e6) + 1
        self.assertEqual(st, ('running', 'booted'))
        self.rec.wait_domain_event(path, 'started', 'booted')
        p = self.client.props(path)
        self.assertGreater(p['Id'], 0)
        # the moment of this start, in µs since the epoch
        self.assertGreaterEqual(p['StartTime'], before_start)
        self.assertLessEqual(p['StartTime'], after_start)
        pids = self.fx.qemu_pids()
        self.assertEqual(len(pids), 1)
        # who caused it travels in info
        ev = [e for e in self.rec.entries if e[0] == 'DomainEvent' and e[2] == 'started'][0]
        self.assertIn('time_usec', ev[4])
        self.assertEqual(ev[4].get('uid'), os.getuid())
        self.assertEqual(ev[4].get('pid'), os.getpid())
        self.rec.wait_for(lambda en: 'running' in self.rec.property_changes(path, 'State'),
                          what='PropertiesChanged State=running')
        # qemu was started the way DESIGN.md says
        argv = cmdline(pids[0])
        for flag in ('-S', '-nodefaults', '-no-user-config', '-sandbox', '-qmp'):
            self.assertTrue(any(a == flag for a in argv) or
                            (flag == '-qmp' and any(a.startswith('-chardev') for a in argv)),
                            'qemu argv lacks %s: %s' % (flag, argv))
        # the domain's qemu log exists
        self.assertTrue(os.path.exists(os.path.join(self.daemon.log_dir, 'life.log')),
                        'no per-domain qemu log in %s' % self.daemon.log_dir)
        live = str(self.dom(path).GetXML(opts()))
        self.assertRegex(live.replace('"', "'"), r"<domain type='qemu' id='%d'" % p['Id'])
        inactive = str(self.dom(path).GetXML(opts(inactive=True)))
        self.assertNotIn("id='", inactive.split('\n')[0].replace('"', "'"))

        self.assertDBusError(ERR_INVALID_STATE, self.dom(path).Start, opts())
        self.assertDBusError(ERR_INVALID_STATE, self.dom(path).Resume, opts())

        self.dom(path).Destroy(opts())
        self.assertEqual(self.client.wait_state(path, 'shutoff'), ('shutoff', 'destroyed'))
        self.rec.wait_domain_event(path, 'stopped', 'destroyed')
        self.assertEqual(self.rec.domain_events(path), [('started', 'booted'), ('stopped', 'destroyed')])
        p = self.client.props(path)
        self.assertEqual(p['Id'], 0)
        self.assertEqual(p['StartTime'], 0)
        self.assertFalse(pid_alive(pids[0]))
        self.assertEqual(self.fx.qemu_pids(), [])
        self.rec.wait_for(lambda en: self.rec.property_changes(path, 'State')[-1:] == ['shutoff'],
                          what='PropertiesChanged State=shutoff')
        # everything but running is refused on a shutoff domain
        for m in ('Shutdown', 'Destroy', 'Reboot', 'Reset', 'Suspend', 'Resume'):
            self.assertDBusError(ERR_INVALID_STATE, getattr(self.dom(path), m), opts())
        # and it starts again
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')

    def test_start_paused_suspend_resume(self):
        path = self.start_domain('pz', paused=True)
        self.assertEqual(self.client.wait_state(path, 'paused'), ('paused', 'user'))
        evs = self.rec.wait_domain_events(path, [('started', 'booted'), ('suspended', 'paused')])
        self.assertEqual(evs, [('started', 'booted'), ('suspended', 'paused')])
        states = self.rec.property_changes(path, 'State')
        self.assertEqual(states[-1], 'paused', states)
        self.dom(path).Resume(opts())
        self.assertEqual(self.client.wait_state(path, 'running'), ('running', 'unpaused'))
        self.rec.wait_domain_event(path, 'resumed', 'unpaused')
        self.assertDBusError(ERR_INVALID_STATE, self.dom(path).Resume, opts())
        self.dom(path).Suspend(opts())
        self.assertEqual(self.client.wait_state(path, 'paused'), ('paused', 'user'))
        self.rec.wait_domain_event(path, 'suspended', 'paused', count=2)
        self.dom(path).Resume(opts())
        self.client.wait_state(path, 'running')
        self.rec.wait_domain_event(path, 'resumed', 'unpaused', count=2)
        self.dom(path).Destroy(opts())
        self.rec.wait_domain_event(path, 'stopped', 'destroyed')
        self.assertEqual(self.rec.domain_events(path), [
            ('started', 'booted'), ('suspended', 'paused'), ('resumed', 'unpaused'),
            ('suspended', 'paused'), ('resumed', 'unpaused'), ('stopped', 'destroyed')])
        # State property changes follow the same order
        states = [s for s in self.rec.property_changes(path, 'State')]
        compact = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
        self.assertEqual(compact[-5:], ['paused', 'running', 'paused', 'running', 'shutoff'], states)

    def test_exact_signal_sequence(self):
        """Each change is one PropertiesChanged (State, StateReason, …) followed
        by its DomainEvent, so a subscriber that reads properties on an event
        sees the new values; the object appears before defined/added and goes
        after undefined/removed."""
        path = self.define(minimal_domain_xml('seq'))
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        self.dom(path).Resume(opts())
        self.client.wait_state(path, 'running')
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.dom(path).Undefine(opts())
        self.rec.wait_for(lambda en: any(e[0] == 'InterfacesRemoved' and e[1] == path for e in en),
                          what='InterfacesRemoved')
        seq = []
        for e in self.rec.entries:
            if e[1] != path:
                continue
            if e[0] == 'PropertiesChanged':
                if 'State' in e[3]:
                    seq.append(('State', e[3]['State'], e[3].get('StateReason')))
            elif e[0] == 'DomainEvent':
                seq.append((e[2], e[3]))
            else:
                seq.append((e[0],))
        self.assertEqual(seq, [
            ('InterfacesAdded',), ('defined', 'added'),
            ('State', 'running', 'booted'), ('started', 'booted'),
            ('State', 'paused', 'user'), ('suspended', 'paused'),
            ('State', 'running', 'unpaused'), ('resumed', 'unpaused'),
            ('State', 'shutoff', 'destroyed'), ('stopped', 'destroyed'),
            ('undefined', 'removed'), ('InterfacesRemoved',),
        ])
        # Id and StartTime change together with State
        pcs = [e[3] for e in self.rec.entries if e[0] == 'PropertiesChanged' and e[1] == path]
        started = [c for c in pcs if c.get('State') == 'running' and c.get('StateReason') == 'booted'][0]
        self.assertGreater(started.get('Id', 0), 0)
        self.assertGreater(started.get('StartTime', 0), 0)
        stopped = [c for c in pcs if c.get('State') == 'shutoff'][0]
        self.assertEqual(stopped.get('Id'), 0)
        self.assertEqual(stopped.get('StartTime'), 0)
        # every event says who caused it
        for e in self.rec.entries:
            if e[0] == 'DomainEvent':
                self.assertEqual(e[4].get('uid'), os.getuid(), e)
                self.assertEqual(e[4].get('pid'), os.getpid(), e)

    def test_destroy_paused(self):
        path = self.start_domain('dp', paused=True)
        self.client.wait_state(path, 'paused')
        self.dom(path).Destroy(opts())
        self.assertEqual(self.client.wait_state(path, 'shutoff'), ('shutoff', 'destroyed'))
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_graceful_destroy(self):
        path = self.start_domain('grace')
        self.client.wait_state(path, 'running')
        self.dom(path).Destroy(opts(graceful=True))
        self.assertEqual(self.client.wait_state(path, 'shutoff')[0], 'shutoff')
        self.rec.wait_domain_event(path, 'stopped')
        self.assertEqual(self.fx.qemu_pids(), [])
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).Destroy, opts(graceful='yes'))

    def test_reset_keeps_running(self):
        # The tiny guest prints TINY_BOOT on its serial port each time it boots:
        # a second line after Reset proves the machine was reset, by the same
        # qemu, and the domain never stopped.
        kernel = os.path.join(self.fx.tmp, 'tiny-boot.bin')
        with open(kernel, 'wb') as f:
            f.write(TINY_BOOT_KERNEL)
        path = self.define(tiny_boot_domain_xml('rst', kernel))
        self.rec.clear()
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        con = self.fx.console(path)      # open before it runs: nothing it prints is lost
        self.dom(path).Resume(opts())
        con.wait_for(TINY_BOOT)
        pid = self.fx.qemu_pids()
        self.assertEqual(len(pid), 1)
        self.dom(path).Reset(opts())
        con.wait_for(TINY_BOOT)
        self.assertEqual(self.client.state(path), ('running', 'unpaused'))
        self.assertEqual(self.fx.qemu_pids(), pid)
        self.rec.sync()
        self.assertEqual(self.rec.domain_events(path), [('started', 'booted'), ('suspended', 'paused'),
                                                        ('resumed', 'unpaused')])
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')

    def test_reboot_and_shutdown_are_requests(self):
        # No guest OS listens to ACPI here: the calls succeed (the request was
        # delivered) and the domain keeps running: the same qemu answers a
        # Suspend and a Resume sent after them (qemu runs its commands in order).
        path = self.start_domain('req')
        self.client.wait_state(path, 'running')
        pid = self.fx.qemu_pids()
        self.assertEqual(len(pid), 1)
        self.dom(path).Reboot(opts())
        self.dom(path).Shutdown(opts())
        self.dom(path).Suspend(opts())
        self.client.wait_state(path, 'paused')
        self.dom(path).Resume(opts())
        self.client.wait_state(path, 'running')
        self.assertEqual(self.fx.qemu_pids(), pid)
        self.rec.sync()
        self.assertNotIn('stopped', [e for e, _ in self.rec.domain_events(path)])
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')

    def test_unknown_options_on_lifecycle_calls(self):
        path = self.start_domain('opt')
        self.client.wait_state(path, 'running')
        before = self.fx.snapshot()
        for m in ('Shutdown', 'Destroy', 'Reboot', 'Reset', 'Suspend', 'Resume'):
            msg = self.assertDBusError(ERR_INVALID_ARGS, getattr(self.dom(path), m), opts(bogus=True))
            self.assertIn('bogus', msg, m)
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).GetXML, opts(bogus=True))
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).GetXML, opts(inactive='yes'))
        self.assertUnchanged(before)
        self.assertEqual(self.client.state(path)[0], 'running')
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        path2 = self.define(minimal_domain_xml('opt2'))
        before = self.fx.snapshot()
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.dom(path2).Start, opts(bogus=True))
        self.assertIn('bogus', msg)
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.dom(path2).Start, opts(paused=dbus.Int32(1)))
        self.assertIn('paused', msg)
        self.assertUnchanged(before)

    def test_qemu_dies_by_itself(self):
        # killed: libvirt's shutoff/crashed with stopped/failed
        path = self.start_domain('dies')
        self.client.wait_state(path, 'running')
        os.kill(self.fx.qemu_pids()[0], 9)
        self.assertEqual(self.client.wait_state(path, 'shutoff'), ('shutoff', 'crashed'))
        self.rec.wait_domain_event(path, 'stopped')
        self.assertEqual(self.rec.domain_events(path), [('started', 'booted'), ('stopped', 'failed')])
        self.assertEqual(self.client.prop(path, 'Id'), 0)
        self.assertEqual(self.fx.qemu_pids(), [])
        # SIGTERM from someone else: qemu shuts down on the host's request
        self.rec.clear()
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        os.kill(self.fx.qemu_pids()[0], 15)
        self.assertEqual(self.client.wait_state(path, 'shutoff'), ('shutoff', 'shutdown'))
        self.rec.wait_domain_event(path, 'stopped')
        self.assertEqual(self.rec.domain_events(path),
                         [('started', 'booted'), ('shutdown', 'host'), ('stopped', 'shutdown')])

    def test_start_failure_changes_nothing(self):
        xml = minimal_domain_xml('nokern').replace(
            "<os><type arch='x86_64' machine='pc'>hvm</type></os>",
            "<os><type arch='x86_64' machine='pc'>hvm</type><kernel>/nonexistent/vmlinuz</kernel></os>")
        path = self.define(xml)
        self.rec.clear()
        before = self.fx.snapshot()
        try:
            self.dom(path).Start(opts())
            self.fail('Start with a missing kernel succeeded')
        except dbus.DBusException as e:
            self.assertEqual(e.get_dbus_name(), 'org.vmgmt.Error.OperationFailed', str(e))
        self.assertEqual(self.client.state(path)[0], 'shutoff')
        self.assertUnchanged(before)
        self.rec.sync()
        self.assertNotIn(('started', 'booted'), self.rec.domain_events(path))


    def test_no_leaks_over_cycles(self):
        path = self.define(minimal_domain_xml('cyc'))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        base = self.daemon.fd_count()
        for i in range(5):
            self.dom(path).Start(opts(paused=(i % 2 == 1)))
            self.client.wait_state(path, 'paused' if i % 2 else 'running')
            if i % 2:
                self.dom(path).Resume(opts())
            else:
                self.dom(path).Suspend(opts())
                self.client.wait_state(path, 'paused')
                self.dom(path).Resume(opts())
            self.client.wait_state(path, 'running')
            self.dom(path).Destroy(opts(graceful=(i == 3)))
            self.client.wait_state(path, 'shutoff')
            t = self.create(minimal_domain_xml('cyc-t'))
            self.client.wait_state(t, 'running')
            self.dom(t).Destroy(opts())
            self.rec.wait_for(lambda en: ('InterfacesRemoved', t) in [(e[0], e[1]) for e in en[-20:]],
                              what='transient removed')
            self.rec.clear()
        deadline = time.monotonic() + DEFAULT_TIMEOUT   # closing may lag a reply by a loop iteration
        while self.daemon.fd_count() > base and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertLessEqual(self.daemon.fd_count(), base, 'vmgmtd leaks fds over start/stop cycles')
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_second_client_sees_the_same_signals(self):
        from vmgmt_harness import Client, SignalRecorder
        other = Client(self.fx.bus.address)
        try:
            rec2 = SignalRecorder(other)
            path = self.define(minimal_domain_xml('two'))
            self.dom(path).Start(opts())
            self.client.wait_state(path, 'running')
            self.dom(path).Destroy(opts())
            self.client.wait_state(path, 'shutoff')
            want = [('defined', 'added'), ('started', 'booted'), ('stopped', 'destroyed')]
            self.assertEqual(self.rec.wait_domain_events(path, want), want)
            self.assertEqual(rec2.wait_domain_events(path, want), want)
            rec2.close()
        finally:
            other.close()

    def test_calls_answered_while_a_domain_starts_and_stops(self):
        # A lifecycle call that cannot finish (its qemu is stopped with SIGSTOP,
        # so it answers no QMP command and takes no signal) must not hold up
        # other calls: they are answered while it is still pending.
        paths = [self.define(minimal_domain_xml('busy%d' % i)) for i in range(2)]
        for p in paths:
            self.dom(p).Start(opts())
        for p in paths:
            self.client.wait_state(p, 'running')
        qemu = {p: self.qemu_of(p) for p in paths}
        for p, call, done in ((paths[0], 'Suspend', 'paused'), (paths[1], 'Destroy', 'shutoff')):
            os.kill(qemu[p], signal.SIGSTOP)
            replies = []
            o = opts(graceful=True) if call == 'Destroy' else opts()
            getattr(self.dom(p), call)(o, reply_handler=lambda *a: replies.append('ok'),
                                       error_handler=lambda e: replies.append(e))
            try:
                # read calls, and a lifecycle call on the other domain
                self.assertEqual(self.client.list_domains(), sorted(paths))
                self.assertEqual(self.client.props(paths[0])['Name'], 'busy0')
                other = paths[1] if p == paths[0] else paths[0]
                if call == 'Suspend':
                    self.dom(other).Suspend(opts())
                    self.dom(other).Resume(opts())
                self.rec.sync()
                self.assertEqual(replies, [], '%s answered although its qemu is stopped' % call)
            finally:
                os.kill(qemu[p], signal.SIGCONT)
            self.rec.wait_for(lambda en: replies, what='the reply to %s' % call)
            self.assertEqual(replies, ['ok'])
            self.client.wait_state(p, done)
        self.dom(paths[0]).Destroy(opts())
        for p in paths:
            self.client.wait_state(p, 'shutoff')

    def qemu_of(self, path):
        """The pid of the qemu of the running domain at `path` (its name is in argv)."""
        guest = 'guest=%s' % self.client.prop(path, 'Name')
        pids = [pid for pid in self.fx.qemu_pids()
                if any(a == guest or a.startswith(guest + ',') for a in cmdline(pid))]
        self.assertEqual(len(pids), 1, 'qemu of %s among %s' % (path, self.fx.qemu_pids()))
        return pids[0]

    def test_values_cannot_smuggle_qemu_options(self):
        d = os.path.join(self.fx.tmp, 'odd,dir=x')
        os.mkdir(d)
        disk = os.path.join(d, 'disk,format=raw,readonly=off.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', disk, '16M'], check=True)
        name = 'evil,debug-threads=off'
        xml = minimal_domain_xml(name, extra_devices=(
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            "<source file='%s'/><target dev='vda' bus='virtio'/></disk>" % disk.replace("'", "&apos;")))
        path = self.define(xml)
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        pid = self.fx.qemu_pids()[0]
        argv = cmdline(pid)
        joined = '\n'.join(argv)
        self.assertIn('evil,,debug-threads=off', joined, 'comma in the name not escaped')
        # vmgmtd opened the disk and qemu got an fd: the path is nowhere in argv
        self.assertNotIn(d, joined, 'the disk path reached the command line')
        self.assertIn('filename=/dev/fdset/', joined)
        # qemu really has that file
        opened = [os.readlink('/proc/%d/fd/%s' % (pid, fd)) for fd in os.listdir('/proc/%d/fd' % pid)]
        self.assertIn(disk, opened)
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')


# A 64-byte multiboot kernel that writes TINY_BOOT to COM1 and halts, made
# from (as --32 k.S && ld -m elf_i386 -Ttext 0x100000 --oformat binary):
#   header: .long 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)
#           .long header, header, 0, 0, entry       (load the whole file at 1 MiB)
#   entry:  cli; mov $msg, %esi; mov $0x3F8, %dx
#   1:      lodsb; test %al, %al; jz 2f; out %al, %dx; jmp 1b
#   2:      hlt; jmp 2b
#   msg:    .asciz "tiny-boot\n"
# qemu loads it again from fw_cfg on every reset of the machine.
TINY_BOOT = 'tiny-boot\n'
TINY_BOOT_KERNEL = (b'\x02\xb0\xad\x1b\x00\x00\x01\x00\xfeOQ\xe4\x00\x00\x10\x00\x00\x00\x10\x00'
                    b'\x00\x00\x00\x00\x00\x00\x00\x00 \x00\x10\x00\xfa\xbe5\x00\x10\x00f\xba\xf8\x03'
                    b'\xac\x84\xc0t\x03\xee\xeb\xf8\xf4\xeb\xfd' + TINY_BOOT.encode() + b'\x00')


def tiny_boot_domain_xml(name, kernel):
    return minimal_domain_xml(name, extra_devices=(
        "<serial type='pty'><target port='0'/></serial>"
        "<console type='pty'><target type='serial' port='0'/></console>")).replace(
        "hvm</type></os>", "hvm</type><kernel>%s</kernel></os>" % kernel)


VIRT_INSTALL_Q35 = '''<domain type="qemu">
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://debian.org/debian/12"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory>262144</memory>
  <currentMemory>262144</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch="x86_64" machine="q35">hvm</type>
    <boot dev="hd"/>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <clock offset="utc">
    <timer name="rtc" tickpolicy="catchup"/>
    <timer name="pit" tickpolicy="delay"/>
    <timer name="hpet" present="no"/>
  </clock>
  <pm>
    <suspend-to-mem enabled="no"/>
    <suspend-to-disk enabled="no"/>
  </pm>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type="file" device="disk">
      <driver name="qemu" type="qcow2" discard="unmap"/>
      <source file="{disk}"/>
      <target dev="vda" bus="virtio"/>
    </disk>
    <controller type="usb" model="qemu-xhci" ports="15"/>
    <controller type="pci" model="pcie-root"/>
    <controller type="pci" model="pcie-root-port"/>
    <controller type="pci" model="pcie-root-port"/>
    <controller type="pci" model="pcie-root-port"/>
    <controller type="pci" model="pcie-root-port"/>
    <controller type="pci" model="pcie-root-port"/>
    <interface type="user">
      <mac address="52:54:00:6b:3c:11"/>
      <model type="virtio"/>
    </interface>
    <console type="pty"/>
    <channel type="unix">
      <source mode="bind"/>
      <target type="virtio" name="org.qemu.guest_agent.0"/>
    </channel>
    <input type="tablet" bus="usb"/>
    <graphics type="vnc" port="-1" listen="127.0.0.1"/>
    <video>
      <model type="virtio"/>
    </video>
    <memballoon model="virtio"/>
    <rng model="virtio">
      <backend model="random">/dev/urandom</backend>
    </rng>
  </devices>
</domain>
'''

VIRT_INSTALL_ICH9 = '''<domain type="qemu">
  <name>{name}</name>
  <memory>131072</memory>
  <currentMemory>131072</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch="x86_64" machine="q35">hvm</type>
    <boot dev="cdrom"/>
    <boot dev="hd"/>
  </os>
  <features><acpi/><apic/></features>
  <clock offset="utc"/>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type="file" device="cdrom">
      <driver name="qemu" type="raw"/>
      <target dev="sda" bus="sata"/>
      <readonly/>
    </disk>
    <controller type="usb" model="ich9-ehci1"/>
    <controller type="usb" model="ich9-uhci1"><master startport="0"/></controller>
    <controller type="usb" model="ich9-uhci2"><master startport="2"/></controller>
    <controller type="usb" model="ich9-uhci3"><master startport="4"/></controller>
    <input type="tablet" bus="usb"/>
    <serial type="pty"/>
    <console type="pty"/>
    <memballoon model="virtio"/>
  </devices>
</domain>
'''


class Definitions(VmgmtTestCase):
    def test_virt_install_q35_starts(self):
        disk = os.path.join(self.fx.tmp, 'disk.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', disk, '64M'], check=True)
        uuid = new_uuid()
        path = self.define(VIRT_INSTALL_Q35.format(name='vi-q35', uuid=uuid, disk=disk))
        xml = str(self.dom(path).GetXML(opts()))
        self.assertIn('pc-q35-', xml)
        self.assertIn('http://libosinfo.org/xmlns/libvirt/domain/1.0', xml, 'metadata kept verbatim')
        self.assertIn('52:54:00:6b:3c:11', xml)
        # canonical form is a fixed point
        self.define(xml)
        self.assertEqual(str(self.dom(path).GetXML(opts())), xml)
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        # and it runs: its qemu answers a Suspend and a Resume
        pid = self.fx.qemu_pids()
        self.dom(path).Suspend(opts())
        self.client.wait_state(path, 'paused')
        self.dom(path).Resume(opts())
        self.client.wait_state(path, 'running')
        self.assertEqual(self.fx.qemu_pids(), pid)
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_virt_install_ich9_usb_starts(self):
        path = self.define(VIRT_INSTALL_ICH9.format(name='vi-ich9'))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')

    def test_host_passthrough_clear_error_under_tcg(self):
        path = self.define(minimal_domain_xml('hp', cpu="<cpu mode='host-passthrough'/>"))
        self.assertIn('host-passthrough', str(self.dom(path).GetXML(opts())))
        before = self.fx.snapshot()
        try:
            self.dom(path).Start(opts())
            self.fail('host-passthrough started under TCG')
        except dbus.DBusException as e:
            self.assertIn(e.get_dbus_name(), ('org.vmgmt.Error.NotSupported',
                                              'org.vmgmt.Error.OperationFailed',
                                              'org.vmgmt.Error.InvalidXML'), str(e))
            self.assertIn('host-passthrough', e.get_dbus_message())
        self.assertEqual(self.client.state(path)[0], 'shutoff')
        self.assertUnchanged(before)


class NoSuchDomainPaths(VmgmtTestCase):
    def test_calls_on_missing_path(self):
        self.define(minimal_domain_xml('exists'))
        before = self.fx.snapshot()
        d = self.dom('/org/vmgmt/domain/nosuch')
        for m in ('Start', 'Shutdown', 'Destroy', 'Reboot', 'Reset', 'Suspend', 'Resume',
                  'Undefine', 'GetXML'):
            self.assertDBusError(ERR_NO_SUCH_DOMAIN, getattr(d, m), opts())
        self.assertDBusError(ERR_NO_SUCH_DOMAIN, d.Rename, 'x', opts())
        try:
            self.client.prop('/org/vmgmt/domain/nosuch', 'State')
            self.fail('Get on a missing domain succeeded')
        except dbus.DBusException as e:
            self.assertIn(e.get_dbus_name(), (ERR_NO_SUCH_DOMAIN,
                                              'org.freedesktop.DBus.Error.UnknownObject'))
        self.assertUnchanged(before)


if __name__ == '__main__':
    main()
