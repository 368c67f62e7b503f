# vCPUs, memory and resource limits (issue 14 items 2-3): SetVCPUs, SetMemory, SetMaxMemory, the
# scheduler/memory/blkio parameters and pinning, on definitions and on the booted busybox guest
# under TCG: a vCPU plugged comes online in the guest, the balloon shrinks its MemTotal,
# <cputune>/<memtune> appear in the qemu's cgroup files (this host's v1 controllers; the v2
# files are tested on fake trees by tests/util/test-cgroup-tune.c) and pinning in the threads'
# Cpus_allowed_list.

import os
import re
import stat
import time

import dbus

from vmgmt_harness import (GUEST_READY, VmgmtTestCase, cgroup_dirs, guest_domain_xml, guest_image, main,
                           minimal_domain_xml, opts, run_vmgmtctl)

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly
GUEST_TIMEOUT = 120  # the guest taking a vCPU or giving back memory, on a loaded host

INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs'
INVALID_STATE = 'org.vmgmt.Error.InvalidState'
NOT_SUPPORTED = 'org.vmgmt.Error.NotSupported'
UNLIMITED = 9007199254740991


def params(**kw):
    return dbus.Dictionary(kw, signature='sv')


DOMAIN_CGROUP = r'(/vmgmt/[0-9a-f-]{36}|/vmgmt\.slice/[0-9a-f-]{36}\.scope)(/emulator)?$'


def domain_cgroup(pid):
    """The qemu's own cgroup directories (vmgmt/UUID in each v1 hierarchy, vmgmt.slice/UUID.scope on v2;
    the process is in their emulator/ where the host has cpu, cpuacct or cpuset)."""
    return [re.sub(r'/emulator$', '', d) for d in cgroup_dirs(pid) if re.search(DOMAIN_CGROUP, d)]


def thread_group_dirs(pid, name):
    """The thread group NAME (emulator, vcpuN) of the qemu's cgroup, in the hierarchies that have it."""
    return [os.path.join(d, name) for d in domain_cgroup(pid) if os.path.isdir(os.path.join(d, name))]


def group_value(pid, name, file):
    for d in thread_group_dirs(pid, name):
        p = os.path.join(d, file)
        if os.path.exists(p):
            with open(p) as f:
                return f.read().strip()
    raise AssertionError('no thread group %s of qemu %d has %s (groups: %s)'
                         % (name, pid, file, os.listdir(domain_cgroup(pid)[0])))


def group_threads(pid, name):
    """The thread ids in the thread group NAME, in every hierarchy that has it (v1 tasks, v2 cgroup.threads)."""
    out = {}
    for d in thread_group_dirs(pid, name):
        f = 'tasks' if os.path.exists(os.path.join(d, 'tasks')) else 'cgroup.threads'
        with open(os.path.join(d, f)) as fh:
            out[d] = sorted(int(x) for x in fh.read().split())
    return out


def threads_by_comm(pid):
    """{comm: [tid]} of the qemu's threads now."""
    out = {}
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/comm' % (pid, tid)) as f:
                out.setdefault(f.read().strip(), []).append(int(tid))
        except OSError:
            pass
    return out


def cgroup_value(pid, name):
    for d in domain_cgroup(pid):
        p = os.path.join(d, name)
        if os.path.exists(p):
            with open(p) as f:
                return f.read().strip()
    raise AssertionError('no cgroup of qemu %d has %s (it is in %s)' % (pid, name, cgroup_dirs(pid)))


def thread_of(pid, comm):
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/comm' % (pid, tid)) as f:
                if f.read().strip() == comm:
                    return int(tid)
        except OSError:
            pass
    raise AssertionError('qemu %d has no thread %r' % (pid, comm))


def cpus_allowed(pid, tid):
    with open('/proc/%d/task/%d/status' % (pid, tid)) as f:
        for line in f:
            if line.startswith('Cpus_allowed_list:'):
                return line.split(':', 1)[1].strip()
    return None


def tuned_guest_xml(name):
    # the quota is two CPUs' worth: visible in the cgroup, no brake on a loaded 2-CPU host's boot
    xml = guest_domain_xml(name)
    tune = ("<vcpu current='1'>2</vcpu>\n"
            "  <cputune><shares>512</shares><period>100000</period><quota>200000</quota>"
            "<vcpupin vcpu='0' cpuset='1'/><emulatorpin cpuset='0-1'/></cputune>\n"
            "  <memtune><hard_limit unit='MiB'>1024</hard_limit></memtune>\n"
            "  <numatune><memory mode='strict' nodeset='0'/></numatune>")
    xml = xml.replace('<vcpu>1</vcpu>', tune)
    return xml.replace("<memballoon model='none'/>", "<memballoon model='virtio'/>")


class Tune(VmgmtTestCase):
    @classmethod
    def setUpClass(cls):
        guest_image()   # build (or reuse) once, before any timing matters
        super().setUpClass()

    def wait_for(self, fn, what, timeout=GUEST_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            v = fn()
            if v:
                return v
            self.assertLess(time.monotonic(), deadline, 'not within %ds: %s' % (timeout, what))
            self.rec.pump(0.2)

    def guest_value(self, con, key, command):
        """Runs command in the guest's shell; returns what it printed after KEY= (the shell's
        echo of the command line has KEY=$( instead)."""
        con._read()
        start = len(con.buf)
        con.send('echo %s=$(%s)' % (key, command))
        pattern = re.compile(r'%s=([^\r\n$]*)\r?\n' % key)
        deadline = time.monotonic() + GUEST_TIMEOUT
        while True:
            con._read()
            m = pattern.search(con.buf[start:].decode('utf-8', 'replace'))
            if m:
                con.mark = len(con.buf)
                return m.group(1).strip()
            self.assertLess(time.monotonic(), deadline, 'the guest did not answer %r:\n%s'
                            % (command, con.buf[-1000:].decode('utf-8', 'replace')))
            time.sleep(0.05)

    def guest_mem_total(self, con):
        for _ in range(3):
            v = self.guest_value(con, 'MT', "grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2")
            if v.isdigit():
                return int(v)
        raise AssertionError('no MemTotal from the guest:\n' + con.buf[-1000:].decode('utf-8', 'replace'))

    def test_definition(self):
        path = self.define(minimal_domain_xml('tune-def', vcpus=4))
        d = self.dom(path)
        gen = self.client.prop(path, 'Generation')

        # neither live nor config on an inactive domain: the definition
        d.SetVCPUs(dbus.UInt32(2), opts())
        self.assertEqual(self.client.prop(path, 'VCPUs'), 2)
        self.assertIn("current='2'>4</vcpu>", str(d.GetXML(opts(inactive=True))))
        self.assertGreater(self.client.prop(path, 'Generation'), gen)
        d.SetVCPUs(dbus.UInt32(6), opts(config=True, maximum=True))
        self.assertIn("current='2'>6</vcpu>", str(d.GetXML(opts(inactive=True))))
        self.assertDBusError(INVALID_ARGS, d.SetVCPUs, dbus.UInt32(7), opts(config=True))
        self.assertDBusError(INVALID_STATE, d.SetVCPUs, dbus.UInt32(2), opts(live=True))
        self.assertDBusError(NOT_SUPPORTED, d.SetVCPUs, dbus.UInt32(2), opts(guest=True))

        d.SetMaxMemory(dbus.UInt64(131072), opts())
        self.assertEqual(self.client.prop(path, 'MaxMemoryKiB'), 131072)
        d.SetMemory(dbus.UInt64(98304), opts(config=True))
        self.assertEqual(self.client.prop(path, 'MemoryKiB'), 98304)
        self.assertDBusError(INVALID_ARGS, d.SetMemory, dbus.UInt64(262144), opts())
        self.assertDBusError(INVALID_STATE, d.SetMaxMemory, dbus.UInt64(65536), opts(live=True))

        d.SetSchedulerParameters(params(cpu_shares=dbus.UInt64(2048), vcpu_quota=dbus.Int64(20000)), opts())
        got = d.GetSchedulerParameters(opts(config=True))
        self.assertEqual((got['cpu_shares'], got['vcpu_period'], got['vcpu_quota']), (2048, 100000, 20000))
        d.SetMemoryParameters(params(hard_limit=dbus.UInt64(262144), soft_limit=dbus.UInt64(131072)), opts())
        got = d.GetMemoryParameters(opts())
        self.assertEqual((got['hard_limit'], got['soft_limit'], got['swap_hard_limit']), (262144, 131072, UNLIMITED))
        self.assertDBusError(INVALID_ARGS, d.SetMemoryParameters, params(swap_hard_limit=dbus.UInt64(1024)), opts())
        d.SetBlkioParameters(params(weight=dbus.UInt32(300), device_read_bytes_sec='/dev/vmgmt-none,1048576'), opts())
        got = d.GetBlkioParameters(opts())
        self.assertEqual((got['weight'], got['device_read_bytes_sec']), (300, '/dev/vmgmt-none,1048576'))
        d.PinVCPU(dbus.UInt32(1), '0,^0,0-0', opts())
        d.PinEmulator('0', opts(config=True))
        pins = d.GetVCPUPinInfo(opts())
        self.assertEqual((pins['vcpu.1'], pins['emulator']), ('0', '0'))
        self.assertDBusError(INVALID_ARGS, d.PinVCPU, dbus.UInt32(9), '0', opts())
        self.assertDBusError(INVALID_ARGS, d.PinVCPU, dbus.UInt32(0), '1-0', opts())
        self.assertDBusError(INVALID_ARGS, d.PinEmulator, '4095', opts())   # more CPUs than the host has
        self.assertDBusError(INVALID_ARGS, d.SetSchedulerParameters, params(cpu_shares=dbus.UInt64(1)), opts())
        self.assertDBusError(INVALID_ARGS, d.SetSchedulerParameters, params(cpu_weight=dbus.UInt64(1)), opts())

        xml = str(d.GetXML(opts(inactive=True)))
        for want in ('<shares>2048</shares>', '<quota>20000</quota>', "<vcpupin vcpu='1' cpuset='0'/>",
                     "<emulatorpin cpuset='0'/>", "<hard_limit unit='KiB'>262144</hard_limit>",
                     '<weight>300</weight>', '<read_bytes_sec>1048576</read_bytes_sec>'):
            self.assertIn(want, xml)
        # what the service wrote is what it reads back after a restart
        self.daemon.restart()
        self.assertEqual(str(self.client.domain(path).GetXML(opts(inactive=True))), xml)

        # a transient domain has no definition to change
        tpath = self.create(minimal_domain_xml('tune-transient'))
        self.assertDBusError(INVALID_STATE, self.dom(tpath).SetMemory, dbus.UInt64(32768), opts(config=True))
        self.dom(tpath).Destroy(opts())

    def test_booted_guest(self):
        path = self.define(tuned_guest_xml('tune-guest'))
        d = self.dom(path)
        d.Start(opts())
        self.client.wait_state(path, 'running')
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        pid, = self.fx.qemu_pids()

        # <cputune>/<memtune> from the definition, in the cgroup (v1 here, v2 on Debian 12)
        if os.path.exists('/sys/fs/cgroup/cgroup.controllers'):
            self.assertEqual(cgroup_value(pid, 'cpu.weight'), '50')
            self.assertEqual(cgroup_value(pid, 'cpu.max'), '200000 100000')
            self.assertEqual(cgroup_value(pid, 'memory.max'), str(1024 << 20))
        else:
            self.assertEqual(cgroup_value(pid, 'cpu.shares'), '512')
            # <quota> is each vCPU's (libvirt's semantics), in its own vcpuN/
            self.assertEqual(cgroup_value(pid, 'cpu.cfs_quota_us'), '-1')
            self.assertEqual(group_value(pid, 'vcpu0', 'cpu.cfs_quota_us'), '200000')
            self.assertEqual(cgroup_value(pid, 'memory.limit_in_bytes'), str(1024 << 20))
        self.assertEqual(cgroup_value(pid, 'cpuset.mems'), '0')
        # <vcpupin>/<emulatorpin> on the threads
        vcpu0 = thread_of(pid, 'CPU 0/TCG')
        self.assertEqual(cpus_allowed(pid, vcpu0), '1')
        self.assertEqual(cpus_allowed(pid, pid), '0-1')

        # live changes go to the cgroup and to the live XML, not to the definition
        d.SetMemoryParameters(params(hard_limit=dbus.UInt64(786432)), opts(live=True))
        limit = 'memory.max' if os.path.exists('/sys/fs/cgroup/cgroup.controllers') else 'memory.limit_in_bytes'
        self.assertEqual(cgroup_value(pid, limit), str(786432 << 10))
        self.assertEqual(d.GetMemoryParameters(opts())['hard_limit'], 786432)
        self.assertEqual(d.GetMemoryParameters(opts(config=True))['hard_limit'], 1048576)
        d.SetSchedulerParameters(params(cpu_shares=dbus.UInt64(300), vcpu_quota=dbus.Int64(-1)), opts())
        if not os.path.exists('/sys/fs/cgroup/cgroup.controllers'):
            self.assertEqual(cgroup_value(pid, 'cpu.shares'), '300')
            self.assertEqual(group_value(pid, 'vcpu0', 'cpu.cfs_quota_us'), '-1')
        self.assertIn('<shares>300</shares>', str(d.GetXML(opts())))
        self.assertIn('<shares>512</shares>', str(d.GetXML(opts(inactive=True))))
        # block I/O throttling of a host block device (a loop device: what this host has)
        if os.path.exists('/dev/loop0') and stat.S_ISBLK(os.stat('/dev/loop0').st_mode):
            d.SetBlkioParameters(params(device_read_bytes_sec='/dev/loop0,1048576'), opts(live=True))
            if os.path.exists('/sys/fs/cgroup/cgroup.controllers'):
                self.assertIn('7:0 rbps=1048576', cgroup_value(pid, 'io.max'))
            else:
                self.assertEqual(cgroup_value(pid, 'blkio.throttle.read_bps_device'), '7:0 1048576')
            self.assertEqual(d.GetBlkioParameters(opts())['device_read_bytes_sec'], '/dev/loop0,1048576')
            d.SetBlkioParameters(params(device_read_bytes_sec='/dev/loop0,0'), opts(live=True))
            if not os.path.exists('/sys/fs/cgroup/cgroup.controllers'):
                self.assertEqual(cgroup_value(pid, 'blkio.throttle.read_bps_device'), '')
        d.PinVCPU(dbus.UInt32(0), '0', opts())
        self.assertEqual(cpus_allowed(pid, vcpu0), '0')
        self.assertEqual(d.GetVCPUPinInfo(opts())['vcpu.0'], '0')
        d.PinEmulator('1', opts(live=True, config=True))
        self.assertEqual(cpus_allowed(pid, pid), '1')
        self.assertIn("<emulatorpin cpuset='1'/>", str(d.GetXML(opts(inactive=True))))

        # a vCPU plugged: the guest sees it and brings it online
        self.assertEqual(self.guest_value(con, 'CPUS', 'cat /sys/devices/system/cpu/present'), '0')
        self.rec.clear()
        d.SetVCPUs(dbus.UInt32(2), opts(live=True))
        self.assertEqual(self.client.prop(path, 'VCPUs'), 2)
        self.assertIn(2, self.rec.property_changes(path, 'VCPUs'))
        self.wait_for(lambda: self.guest_value(con, 'PRESENT', 'cat /sys/devices/system/cpu/present') == '0-1',
                      'the guest sees the second vCPU')
        con.send('[ "$(cat /sys/devices/system/cpu/cpu1/online)" = 1 ] || echo 1 > /sys/devices/system/cpu/cpu1/online')
        self.wait_for(lambda: self.guest_value(con, 'ONLINE', 'cat /sys/devices/system/cpu/online') == '0-1',
                      'the second vCPU online in the guest')
        thread_of(pid, 'CPU 1/TCG')
        # unplugged again: the call answers once the guest let it go (ACPI eject), or reports after
        # the service's 60 s that it did not (this busybox guest offlines the vCPU but does not always
        # eject it) and the domain keeps both
        self.rec.clear()
        try:
            d.SetVCPUs(dbus.UInt32(1), opts(live=True), timeout=300)
        except dbus.DBusException as e:
            self.assertEqual(e.get_dbus_name(), 'org.vmgmt.Error.OperationFailed', str(e))
            self.assertIn('did not release the vCPU', e.get_dbus_message())
            self.assertEqual(self.client.prop(path, 'VCPUs'), 2)
            self.assertNotIn("current='1'", str(d.GetXML(opts())))
        else:
            self.assertEqual(self.client.prop(path, 'VCPUs'), 1)
            self.assertIn(1, self.rec.property_changes(path, 'VCPUs'))
            self.wait_for(lambda: self.guest_value(con, 'GONE', 'cat /sys/devices/system/cpu/present') == '0',
                          'the guest lets the second vCPU go')
            d.SetVCPUs(dbus.UInt32(2), opts(live=True))   # and plugged once more (a new device)
            self.assertEqual(self.client.prop(path, 'VCPUs'), 2)
        self.assertDBusError(INVALID_ARGS, d.SetVCPUs, dbus.UInt32(3), opts(live=True))

        # the balloon: the guest gives memory back, MemoryKiB follows what it reached
        before = self.guest_mem_total(con)
        self.rec.clear()
        d.SetMemory(dbus.UInt64(96 * 1024), opts(live=True))
        self.wait_for(lambda: self.guest_mem_total(con) <= before - 24 * 1024,
                      'the guest MemTotal (%d KiB) shrinks by the balloon' % before)
        self.wait_for(lambda: self.client.prop(path, 'MemoryKiB') <= 96 * 1024 + 1024,
                      'MemoryKiB follows the balloon')
        self.assertTrue(self.rec.property_changes(path, 'MemoryKiB'))
        self.assertIn('<currentMemory unit=\'KiB\'>131072</currentMemory>', str(d.GetXML(opts(inactive=True))))

        d.Destroy(opts())
        self.client.wait_state(path, 'shutoff')


    def test_thread_groups(self):
        # emulator/ and vcpuN/ under the domain's cgroup, as libvirt: per-vCPU period/quota, the
        # emulator's, the global ones on the domain's cgroup; pins in the groups' cpuset
        xml = minimal_domain_xml('tune-threads', vcpus=2).replace(
            '<vcpu>2</vcpu>',
            "<vcpu current='1'>2</vcpu>\n"
            "  <cputune><global_period>100000</global_period><global_quota>400000</global_quota>"
            "<period>50000</period><quota>150000</quota>"
            "<emulator_period>20000</emulator_period><emulator_quota>60000</emulator_quota>"
            "<vcpupin vcpu='0' cpuset='1'/><vcpupin vcpu='1' cpuset='0'/><emulatorpin cpuset='0'/></cputune>")
        path = self.define(xml)
        d = self.dom(path)
        self.assertIn('<global_quota>400000</global_quota>', str(d.GetXML(opts())))
        got = d.GetSchedulerParameters(opts())
        self.assertEqual((got['vcpu_period'], got['vcpu_quota'], got['emulator_period'], got['emulator_quota'],
                          got['global_period'], got['global_quota']), (50000, 150000, 20000, 60000, 100000, 400000))
        d.Start(opts())
        self.client.wait_state(path, 'running')
        pid, = self.fx.qemu_pids()
        v2 = os.path.exists('/sys/fs/cgroup/cgroup.controllers')
        self.assertTrue(thread_group_dirs(pid, 'emulator'), 'the qemu is in no emulator/ group: %s' % cgroup_dirs(pid))

        def vcpu_tid(n):
            tids = self.wait_for(lambda: threads_by_comm(pid).get('CPU %d/TCG' % n), 'the thread of vCPU %d' % n)
            self.assertEqual(len(tids), 1, tids)
            return tids[0]

        # every vCPU thread alone in its vcpuN/, every other thread (the main one too) in emulator/
        t0 = vcpu_tid(0)
        for d0, tids in group_threads(pid, 'vcpu0').items():
            self.assertEqual(tids, [t0], d0)
        others = sorted(t for c, ts in threads_by_comm(pid).items() if not re.match(r'CPU \d+/', c) for t in ts)
        self.assertIn(pid, others)
        for de, tids in group_threads(pid, 'emulator').items():
            self.assertEqual(sorted(set(tids) & set(others)), others, de)
            self.assertNotIn(t0, tids, de)
        self.assertEqual(thread_group_dirs(pid, 'vcpu1'), [])   # vCPU 1 is not plugged

        # the limits: each vCPU's, the emulator's, the domain's
        if v2:
            self.assertEqual(group_value(pid, 'vcpu0', 'cpu.max'), '150000 50000')
            self.assertEqual(group_value(pid, 'emulator', 'cpu.max'), '60000 20000')
            self.assertEqual(cgroup_value(pid, 'cpu.max'), '400000 100000')
        else:
            self.assertEqual(group_value(pid, 'vcpu0', 'cpu.cfs_period_us'), '50000')
            self.assertEqual(group_value(pid, 'vcpu0', 'cpu.cfs_quota_us'), '150000')
            self.assertEqual(group_value(pid, 'emulator', 'cpu.cfs_period_us'), '20000')
            self.assertEqual(group_value(pid, 'emulator', 'cpu.cfs_quota_us'), '60000')
            self.assertEqual(cgroup_value(pid, 'cpu.cfs_quota_us'), '400000')
        self.assertEqual(group_value(pid, 'vcpu0', 'cpuset.cpus'), '1')
        self.assertEqual(group_value(pid, 'emulator', 'cpuset.cpus'), '0')
        self.assertEqual(cpus_allowed(pid, t0), '1')
        self.assertEqual(cpus_allowed(pid, pid), '0')

        # live: SetSchedulerParameters' vcpu_*, emulator_*, global_* go to their groups
        d.SetSchedulerParameters(params(vcpu_quota=dbus.Int64(120000), emulator_quota=dbus.Int64(-1),
                                        global_quota=dbus.Int64(300000)), opts(live=True))
        quota = (lambda g: group_value(pid, g, 'cpu.max').split()[0]) if v2 else \
            (lambda g: group_value(pid, g, 'cpu.cfs_quota_us'))
        self.assertEqual(quota('vcpu0'), '120000')
        self.assertEqual(quota('emulator'), 'max' if v2 else '-1')
        self.assertEqual(cgroup_value(pid, 'cpu.max').split()[0] if v2 else cgroup_value(pid, 'cpu.cfs_quota_us'),
                         '300000')
        got = d.GetSchedulerParameters(opts())
        self.assertEqual((got['vcpu_quota'], got['emulator_quota'], got['global_quota']), (120000, -1, 300000))
        self.assertEqual(d.GetSchedulerParameters(opts(config=True))['vcpu_quota'], 150000)
        # pins move the groups' cpusets
        d.PinVCPU(dbus.UInt32(0), '0', opts(live=True))
        self.assertEqual(group_value(pid, 'vcpu0', 'cpuset.cpus'), '0')
        d.PinEmulator('1', opts(live=True))
        self.assertEqual(group_value(pid, 'emulator', 'cpuset.cpus'), '1')
        self.assertEqual(cpus_allowed(pid, pid), '1')

        # a vCPU plugged: its thread in a vcpu1/ of its own, with the per-vCPU quota and its pin
        d.SetVCPUs(dbus.UInt32(2), opts(live=True))
        t1 = vcpu_tid(1)
        self.assertTrue(group_threads(pid, 'vcpu1'), 'no vcpu1 group after the plug')
        for d1, tids in group_threads(pid, 'vcpu1').items():
            self.assertEqual(tids, [t1], d1)
        self.assertEqual(quota('vcpu1'), '120000')
        self.assertEqual(group_value(pid, 'vcpu1', 'cpuset.cpus'), '0')
        for de, tids in group_threads(pid, 'emulator').items():
            self.assertNotIn(t1, tids, de)

        # gone with the domain: no group left behind
        dirs = domain_cgroup(pid)
        d.Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        for dd in dirs:
            self.wait_for(lambda: not os.path.exists(dd), 'cgroup %s removed' % dd)

    def test_iothreads(self):
        # <iothreads>/<iothreadids>: qemu iothread objects, a virtio disk on one, each thread in its own
        # iothreadN/ group with its <iothreadpin>; PinIOThread, GetIOThreadInfo
        img = os.path.join(self.fx.tmp, 'iot.img')
        with open(img, 'wb') as f:
            f.truncate(8 << 20)
        disk = ("<disk type='file' device='disk'><driver name='qemu' type='raw' iothread='3'/>"
                "<source file='%s'/><target dev='vda' bus='virtio'/></disk>" % img)
        xml = minimal_domain_xml('tune-iot', extra_devices=disk, extra=(
            "<iothreads>2</iothreads><iothreadids><iothread id='3'/></iothreadids>"
            "<cputune><iothreadpin iothread='3' cpuset='1'/><emulatorpin cpuset='0'/></cputune>"))
        path = self.define(xml)
        d = self.dom(path)
        live = str(d.GetXML(opts()))
        self.assertIn('<iothreads>2</iothreads>', live)
        self.assertIn("<iothread id='3'/>", live)
        self.assertIn("iothread='3'/>", live)
        self.assertEqual(dict(d.GetIOThreadInfo(opts())), {'iothread.3': '1', 'iothread.1': '0'})
        d.Start(opts())
        self.client.wait_state(path, 'running')
        pid, = self.fx.qemu_pids()
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = f.read().split(b'\0')
        self.assertIn(b'iothread,id=iothread3', argv)
        self.assertIn(b'iothread,id=iothread1', argv)
        self.assertTrue([a for a in argv if a.startswith(b'virtio-blk-pci') and b'iothread=iothread3' in a], argv)

        def io_tid(n):
            tids = self.wait_for(lambda: threads_by_comm(pid).get('IO iothread%d' % n), 'the thread of iothread%d' % n)
            self.assertEqual(len(tids), 1, tids)
            return tids[0]

        t3, t1 = io_tid(3), io_tid(1)
        for name, tid in (('iothread3', t3), ('iothread1', t1)):
            self.assertTrue(group_threads(pid, name), 'no %s group' % name)
            for dd, tids in group_threads(pid, name).items():
                self.assertEqual(tids, [tid], dd)
        for de, tids in group_threads(pid, 'emulator').items():
            self.assertNotIn(t3, tids, de)
        self.assertEqual(group_value(pid, 'iothread3', 'cpuset.cpus'), '1')
        self.assertEqual(cpus_allowed(pid, t3), '1')
        self.assertEqual(cpus_allowed(pid, t1), '0')   # unpinned: where the emulator runs

        d.PinIOThread(dbus.UInt32(3), '0', opts(live=True))
        self.assertEqual(group_value(pid, 'iothread3', 'cpuset.cpus'), '0')
        self.assertEqual(cpus_allowed(pid, t3), '0')
        self.assertEqual(dict(d.GetIOThreadInfo(opts(live=True)))['iothread.3'], '0')
        self.assertEqual(dict(d.GetIOThreadInfo(opts(config=True)))['iothread.3'], '1')
        self.assertDBusError(INVALID_ARGS, d.PinIOThread, dbus.UInt32(2), '0', opts(live=True))
        # the CLI as virsh's iothreadpin / iothreadinfo
        run_vmgmtctl(self.fx.bus, 'iothreadpin', 'tune-iot', '3', '1', '--live', check=True)
        self.assertEqual(cpus_allowed(pid, t3), '1')
        out = run_vmgmtctl(self.fx.bus, 'iothreadinfo', 'tune-iot', check=True).stdout
        self.assertIn('IOThread ID', out)
        self.assertEqual([l.split() for l in out.splitlines()[2:]], [['3', '1'], ['1', '0']])
        run_vmgmtctl(self.fx.bus, 'iothreadpin', 'tune-iot', '1', '0-1', '--config', check=True)
        out = run_vmgmtctl(self.fx.bus, 'iothreadinfo', 'tune-iot', '--config', check=True).stdout
        self.assertEqual([l.split() for l in out.splitlines()[2:]], [['3', '1'], ['1', '0-1']])
        run_vmgmtctl(self.fx.bus, 'iothreadpin', 'tune-iot', '3', 'r', '--current', check=True)
        self.assertEqual(cpus_allowed(pid, t3), '0')   # unpinned: the emulator's
        for scope in ('--live', '--current'):
            out = run_vmgmtctl(self.fx.bus, 'iothreadinfo', 'tune-iot', scope, check=True).stdout
            self.assertEqual([l.split() for l in out.splitlines()[2:]], [['3', '0'], ['1', '0']], scope)
        d.Destroy(opts())
        self.client.wait_state(path, 'shutoff')

    def test_perf_counters(self):
        # <perf> software events count the qemu's threads (inherited by the threads they start) and
        # grow while the guest runs; a hardware event this host has no counter for fails the start,
        # named (a VM without a PMU: ENOENT from perf_event_open)
        sw = ['cpu_clock', 'task_clock', 'page_faults', 'context_switches', 'cpu_migrations']
        perf = '<perf>%s</perf>' % ''.join("<event name='%s' enabled='yes'/>" % e for e in sw)
        path = self.define(minimal_domain_xml('tune-perf', extra=perf))
        d = self.dom(path)
        self.assertIn("<event name='task_clock' enabled='yes'/>", str(d.GetXML(opts())))
        d.Start(opts())
        self.client.wait_state(path, 'running')

        def perf_stats():
            st = d.GetStats(opts(groups=dbus.Array(['perf'], signature='s')), timeout=120)
            return {str(k): int(v) for k, v in st.items()}

        first = perf_stats()
        self.assertEqual(sorted(first), sorted('perf.' + e for e in sw))
        self.assertGreater(first['perf.task_clock'], 0)
        self.wait_for(lambda: perf_stats()['perf.task_clock'] > first['perf.task_clock'] and
                      perf_stats()['perf.context_switches'] > first['perf.context_switches'],
                      'the perf counters grow while the guest runs')
        self.assertNotIn('perf.task_clock', {str(k) for k in d.GetStats(opts(groups=dbus.Array(['cpu-total'],
                                                                                                  signature='s')))})
        d.Destroy(opts())
        self.client.wait_state(path, 'shutoff')

        if not os.path.exists('/sys/bus/event_source/devices/cpu'):
            hw = minimal_domain_xml('tune-perf-hw', extra="<perf><event name='cpu_cycles' enabled='yes'/></perf>")
            hp = self.define(hw)
            with self.assertRaises(dbus.DBusException) as cm:
                self.dom(hp).Start(opts())
            self.assertIn('perf event cpu_cycles: this host has no such counter', cm.exception.get_dbus_message())
            self.assertEqual(self.client.prop(hp, 'State'), 'shutoff')

    def test_cli_verbs(self):
        # every verb and flag, config on a definition and live on a running (BIOS-only) domain
        path = self.define(minimal_domain_xml('tune-cli', vcpus=2))

        def ctl(*args):
            r = run_vmgmtctl(self.fx.bus, *args)
            self.assertEqual(r.returncode, 0, '%s: %s' % (args, r.stderr))
            return r.stdout

        def fails(*args):
            r = run_vmgmtctl(self.fx.bus, *args)
            self.assertNotEqual(r.returncode, 0, '%s: %s' % (args, r.stdout))
            return r.stderr

        ctl('setvcpus', 'tune-cli', '1', '--config')
        ctl('setvcpus', 'tune-cli', '3', '--maximum', '--config')
        self.assertEqual(ctl('vcpucount', 'tune-cli', '--config').split(),
                         ['maximum', 'config', '3', 'current', 'config', '1'])
        self.assertEqual(ctl('vcpucount', 'tune-cli', '--maximum').split(), ['maximum', 'config', '3'])
        self.assertEqual(ctl('vcpucount', 'tune-cli', '--active', '--current').split(), ['current', 'config', '1'])
        self.assertIn('guest agent', fails('setvcpus', 'tune-cli', '1', '--guest'))
        self.assertIn('--current', fails('setvcpus', 'tune-cli', '1', '--current', '--live'))
        ctl('setmaxmem', 'tune-cli', '96M', '--config')
        ctl('setmaxmem', 'tune-cli', '96MiB', '--current')
        ctl('setmem', 'tune-cli', '80000KB', '--config')
        self.assertEqual(self.client.prop(path, 'MemoryKiB'), 78125)
        ctl('setmem', 'tune-cli', '65536', '--current')
        self.assertEqual(self.client.prop(path, 'MaxMemoryKiB'), 98304)
        self.assertEqual(self.client.prop(path, 'MemoryKiB'), 65536)
        self.assertIn('Invalid memory size', fails('setmem', 'tune-cli', '12X'))
        ctl('vcpupin', 'tune-cli', '0', '0', '--config')
        self.assertEqual(ctl('vcpupin', 'tune-cli', '0').splitlines()[2].split(), ['0', '0'])
        self.assertEqual(ctl('vcpupin', 'tune-cli', '--current').splitlines()[2:], ['   0   0'] + ['   %d   0-%d' % (v, os.cpu_count() - 1) for v in (1, 2)])
        ctl('emulatorpin', 'tune-cli', '0', '--config')
        self.assertEqual(ctl('emulatorpin', 'tune-cli').splitlines()[2].split(), ['*:', '0'])
        ctl('emulatorpin', 'tune-cli', 'r', '--current')
        self.assertNotIn('emulatorpin', str(self.dom(path).GetXML(opts(inactive=True))))
        out = ctl('schedinfo', 'tune-cli', '--set', 'cpu_shares=2048,vcpu_quota=30000', '--config')
        self.assertIn('cpu_shares     : 2048', out)
        self.assertIn('vcpu_quota     : 30000', out)
        out = ctl('schedinfo', 'tune-cli', '--set', 'emulator_quota=40000,global_period=50000,global_quota=-1',
                  '--config')
        self.assertIn('emulator_quota : 40000', out)
        self.assertIn('global_period  : 50000', out)
        self.assertIn('<global_period>50000</global_period>', str(self.dom(path).GetXML(opts(inactive=True))))
        self.assertIn('Scheduler      : posix', ctl('schedinfo', 'tune-cli', '--current'))
        self.assertIn('Invalid --set', fails('schedinfo', 'tune-cli', '--set', 'nope=1'))
        out = ctl('memtune', 'tune-cli', '--hard-limit', '1G', '--soft-limit', '512M', '--swap-hard-limit', '-1',
                  '--config')
        self.assertEqual(out.split('\n')[:3], ['hard_limit     : 1048576', 'soft_limit     : 524288',
                                                'swap_hard_limit: unlimited'])
        out = ctl('blkiotune', 'tune-cli', '--weight', '200', '--device-weights', '/dev/vmgmt-x,300',
                  '--device-read-bytes-sec', '/dev/vmgmt-x,1000', '--device-write-bytes-sec', '/dev/vmgmt-x,2000',
                  '--device-read-iops-sec', '/dev/vmgmt-x,30', '--device-write-iops-sec', '/dev/vmgmt-x,40',
                  '--config')
        for want in ('weight         : 200', 'device_weight  : /dev/vmgmt-x,300',
                     'device_read_bytes_sec: /dev/vmgmt-x,1000', 'device_write_iops_sec: /dev/vmgmt-x,40'):
            self.assertIn(want, out)
        self.assertEqual(ctl('blkiotune', 'tune-cli', '--current'), out)
        self.assertIn('hard_limit     : 1048576', ctl('memtune', 'tune-cli', '--current'))

        # live on the running domain: the pins on its threads
        self.dom(path).SetMemoryParameters(params(hard_limit=dbus.UInt64(UNLIMITED), soft_limit=dbus.UInt64(UNLIMITED)),
                                           opts())
        self.dom(path).SetBlkioParameters(params(weight=dbus.UInt32(0), device_weight='/dev/vmgmt-x,0',
                                                 device_read_bytes_sec='/dev/vmgmt-x,0',
                                                 device_write_bytes_sec='/dev/vmgmt-x,0',
                                                 device_read_iops_sec='/dev/vmgmt-x,0',
                                                 device_write_iops_sec='/dev/vmgmt-x,0'), opts())
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        pid, = self.fx.qemu_pids()
        ctl('vcpupin', 'tune-cli', '0', '1', '--live')
        self.assertEqual(cpus_allowed(pid, thread_of(pid, 'CPU 0/TCG')), '1')
        self.assertEqual(ctl('vcpupin', 'tune-cli', '--live').splitlines()[2].split(), ['0', '1'])
        ctl('emulatorpin', 'tune-cli', '1', '--live')
        self.assertEqual(cpus_allowed(pid, pid), '1')
        self.assertEqual(ctl('vcpucount', 'tune-cli', '--live').split(),
                         ['maximum', 'live', '3', 'current', 'live', '1'])
        self.assertIn('cpu_shares     : 2048', ctl('schedinfo', 'tune-cli', '--live'))
        ctl('setmem', 'tune-cli', '48M', '--live')
        self.assertEqual(self.client.prop(path, 'MemoryKiB'), 49152)
        self.assertIn('running domain', fails('setmaxmem', 'tune-cli', '128M', '--live'))
        out = ctl('memtune', 'tune-cli', '--hard-limit', '512M', '--live')
        self.assertIn('hard_limit     : 524288', out)
        self.assertEqual(cgroup_value(pid, 'memory.max' if os.path.exists('/sys/fs/cgroup/cgroup.controllers')
                                      else 'memory.limit_in_bytes'), str(512 << 20))
        self.assertIn('hard_limit     : unlimited', ctl('memtune', 'tune-cli', '--config'))
        self.assertIn('weight         : 0', ctl('blkiotune', 'tune-cli', '--live'))
        self.assertIn('tune-cli-none', fails('setvcpus', 'tune-cli-none', '1'))
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')


if __name__ == '__main__':
    main()
