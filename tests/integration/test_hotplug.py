# Hot-plug (issue 14 item 1) with the booted busybox guest under TCG: a second disk attached live
# appears as /sys/block/vdb, takes writes that land in its image and goes again on detach; a failed
# attach (missing file, bad XML, a target in use, a format qemu cannot open) leaves nothing in qemu
# (no fd of the image, no block node: the live XML and qemu's fds tell) nor in the definitions; a
# detach a guest never acknowledges (started paused: no kernel runs) answers, goes on as a
# detach-device Job and times out cleanly, the disk still there; config-only changes bump
# Generation; a cdrom's medium changes (UpdateDevice) with the old image's fd leaving qemu.

import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

import dbus

from vmgmt_harness import (ERR_INVALID_ARGS, ERR_INVALID_STATE, ERR_INVALID_XML, GuestTestCase,
                           guest_domain_xml, main, opts, run_vmgmtctl, unwrap)

QEMU_IMG = shutil.which('qemu-img') or '/usr/bin/qemu-img'

WAIT = 120
JOB_IFACE = 'org.vmgmt.Job'


def disk_xml(path, target='vdb', bus='virtio', fmt='raw', device='disk'):
    src = "<source file='%s'/>" % path if path else ''
    return ("<disk type='file' device='%s'><driver name='qemu' type='%s'/>%s<target dev='%s' bus='%s'/></disk>"
            % (device, fmt, src, target, bus))


def qemu_files(pid):
    """What the fds of process pid lead to."""
    out = []
    d = '/proc/%d/fd' % pid
    for fd in os.listdir(d):
        try:
            out.append(os.readlink(os.path.join(d, fd)))
        except OSError:
            pass
    return out


class Hotplug(GuestTestCase):
    GUEST_DIAGNOSE = 'ls /sys/bus/pci/devices; dmesg | tail -30'

    def image(self, name, size=16 << 20):
        p = os.path.join(self.fx.tmp, name)
        with open(p, 'wb') as f:
            f.truncate(size)
        return p

    def live_targets(self, path, inactive=False):
        root = ET.fromstring(str(self.dom(path).GetXML(opts(inactive=inactive))))
        return [t.get('dev') for t in root.iter('target') if t.get('bus')]

    def qemu_pid(self):
        pids = self.fx.qemu_pids()
        self.assertEqual(len(pids), 1)
        return pids[0]

    def test_disk_attach_write_detach(self):
        # a first disk from the start, so that the guest's kernel names the new one vdb
        first = self.image('first.raw')
        path, con = self.boot('hp1', xml=guest_domain_xml('hp1').replace('<devices>', '<devices>' + disk_xml(first, 'vda'), 1))
        self.wait_guest(con, 'test -e /sys/block/vda', 'VDA')
        img = self.image('second.raw')
        gen = self.client.prop(path, 'Generation')
        self.rec.clear()
        self.dom(path).AttachDevice(disk_xml(img), opts(live=True))
        self.rec.wait_domain_event(path, 'device-added')
        self.assertEqual(self.rec.domain_events(path), [('device-added', 'virtio-disk1')])
        self.assertIn('vdb', self.live_targets(path))
        self.assertNotIn('vdb', self.live_targets(path, inactive=True))   # live only
        self.assertEqual(self.client.prop(path, 'Generation'), gen)
        self.assertIn(os.path.realpath(img), qemu_files(self.qemu_pid()))
        # the guest sees it and writes to it: the bytes land in the image
        self.wait_guest(con, 'test -e /sys/block/vdb', 'VDB')
        con.send("echo hotplug-bytes-42 > /dev/vdb; sync; echo WROTE_D''ONE")
        con.wait_for('WROTE_DONE', WAIT)
        deadline = time.monotonic() + WAIT
        while True:
            with open(img, 'rb') as f:
                if f.read(16) == b'hotplug-bytes-42':
                    break
            self.assertLess(time.monotonic(), deadline, 'the guest write never reached the image')
            time.sleep(0.1)
        # a second attach of the same target is refused, nothing changes
        other = self.image('third.raw')
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).AttachDevice, disk_xml(other), opts(live=True))
        self.assertIn("'vdb'", msg)
        self.assertNotIn(os.path.realpath(other), qemu_files(self.qemu_pid()))

        # detach: the guest lets go, the disk leaves the live XML and qemu closes the image
        self.rec.clear()
        self.dom(path).DetachDevice(disk_xml(img), opts(live=True))
        self.rec.wait_domain_event(path, 'device-removed', timeout=WAIT)
        self.assertEqual(self.rec.domain_events(path), [('device-removed', 'virtio-disk1')])
        self.assertNotIn('vdb', self.live_targets(path))
        self.wait_guest(con, 'test -e /sys/block/vdb', 'VDB', want=False)
        self.assertNotIn(os.path.realpath(img), qemu_files(self.qemu_pid()))
        # and again: the same target can be attached once more (nothing of the first is left)
        self.dom(path).AttachDevice(disk_xml(img), opts())   # current = live while running
        self.wait_guest(con, 'test -e /sys/block/vdb', 'VDB')
        self.assertNotIn('vdb', self.live_targets(path, inactive=True))
        # a disk before others goes: the next one attached still gets block nodes of its own
        self.dom(path).AttachDevice(disk_xml(self.image('c.raw'), 'vdc'), opts(live=True))
        self.wait_guest(con, 'test -e /sys/block/vdc', 'VDC')
        # a daemon restart finds the running domain with what was plugged into it
        self.daemon.restart()
        self.assertEqual(self.live_targets(path), ['vda', 'vdb', 'vdc'])
        self.rec.clear()
        self.dom(path).DetachDevice(disk_xml(img), opts(live=True))
        self.rec.wait_domain_event(path, 'device-removed', timeout=WAIT)
        self.assertEqual(self.live_targets(path), ['vda', 'vdc'])
        self.dom(path).AttachDevice(disk_xml(self.image('d.raw'), 'vdd'), opts(live=True))
        self.assertEqual(self.live_targets(path), ['vda', 'vdc', 'vdd'])
        self.wait_guest(con, 'test -e /sys/block/vdb', 'VDB')   # the guest's kernel names it by its own count
        self.dom(path).Destroy(opts())

    def test_failed_attach_leaves_nothing(self):
        # running (qemu 7.2 closes the fds of removed fd sets only while the guest runs); whether
        # the guest finished booting does not matter
        path, _ = self.boot('hp2', wait=False)
        pid = self.qemu_pid()
        xml_before = str(self.dom(path).GetXML(opts()))
        files_before = sorted(qemu_files(pid))
        gen = self.client.prop(path, 'Generation')
        missing = os.path.join(self.fx.tmp, 'missing.raw')
        self.assertDBusError('org.vmgmt.Error.OperationFailed', self.dom(path).AttachDevice, disk_xml(missing),
                             opts(live=True))
        self.assertDBusError(ERR_INVALID_XML, self.dom(path).AttachDevice, '<disk type="file"><bogus/></disk>',
                             opts(live=True))
        self.assertDBusError(ERR_INVALID_XML, self.dom(path).AttachDevice, disk_xml(missing) + disk_xml(missing),
                             opts(live=True))
        # qemu refuses what vmgmtd does not look into (a zeroed file is no vmdk image: qemu says so
        # when it opens the format node, after its fd set and protocol node were made) — all of it
        # is taken back
        img = self.image('notvmdk.raw')
        msg = self.assertDBusError('org.vmgmt.Error.OperationFailed', self.dom(path).AttachDevice,
                                   disk_xml(img, fmt='vmdk'), opts(live=True))
        self.assertTrue(msg)
        # a disk on a SCSI bus without a controller
        other = self.image('scsi.raw')
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).AttachDevice, disk_xml(other, 'sdb', 'scsi'),
                             opts(live=True))
        self.assertEqual(str(self.dom(path).GetXML(opts())), xml_before)
        self.assertEqual(self.client.prop(path, 'Generation'), gen)
        deadline = time.monotonic() + WAIT
        while sorted(qemu_files(pid)) != files_before:
            self.assertLess(time.monotonic(), deadline, 'qemu kept fds: %s' % (set(qemu_files(pid)) - set(files_before)))
            time.sleep(0.1)
        self.assertNotIn(os.path.realpath(img), qemu_files(pid))
        # nothing of the failed ones is left in qemu: the same target attaches fine now
        # live and config: each definition places the device where it has room (the slot the running
        # domain gives it is taken in the persistent one by a disk attached there alone)
        self.dom(path).AttachDevice(disk_xml(self.image('cfg-only.raw'), 'vdc'), opts(config=True))
        self.dom(path).AttachDevice(disk_xml(self.image('both.raw'), 'vdd'), opts(live=True, config=True))
        self.assertEqual(self.live_targets(path), ['vdd'])
        self.assertEqual(self.live_targets(path, inactive=True), ['vdc', 'vdd'])
        good = self.image('good.raw')
        self.dom(path).AttachDevice(disk_xml(good), opts(live=True))
        self.assertEqual(self.live_targets(path), ['vdd', 'vdb'])
        self.dom(path).Destroy(opts())

    def test_detach_never_acknowledged(self):
        path, _ = self.boot('hp3', paused=True)
        img = self.image('stuck.raw')
        self.dom(path).AttachDevice(disk_xml(img), opts(live=True))
        self.assertIn('vdb', self.live_targets(path))
        self.rec.clear()
        # no kernel runs to answer the unplug: the call answers after wait_ms, a Job waits on
        self.dom(path).DetachDevice(disk_xml(img), opts(live=True, wait_ms=dbus.UInt32(300),
                                                         timeout_ms=dbus.UInt32(2000)))
        jobs = [p for p, ifaces in self.client.managed_objects().items()
                if JOB_IFACE in ifaces and str(ifaces[JOB_IFACE]['Object']) == path]
        self.assertEqual(len(jobs), 1, jobs)
        job = jobs[0]
        self.assertEqual(unwrap(self.client.prop(job, 'Type', iface=JOB_IFACE)), 'detach-device')
        deadline = time.monotonic() + WAIT
        while unwrap(self.client.prop(job, 'State', iface=JOB_IFACE)) == 'running':
            self.assertLess(time.monotonic(), deadline, 'the detach job never ended')
            time.sleep(0.05)
        self.assertEqual(unwrap(self.client.prop(job, 'State', iface=JOB_IFACE)), 'failed')
        self.assertIn('did not release', unwrap(self.client.prop(job, 'Error', iface=JOB_IFACE)))
        # the definition is as it was: the disk is still there, nothing was reported removed
        self.assertIn('vdb', self.live_targets(path))
        self.assertIn(os.path.realpath(img), qemu_files(self.qemu_pid()))
        self.assertNotIn('device-removed', [e for e, _ in self.rec.domain_events(path)])
        self.assertEqual(self.client.state(path)[0], 'paused')
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')

    def test_config_only(self):
        path = self.define(guest_domain_xml('hp4'))
        img = self.image('cfg.raw')
        gen = self.client.prop(path, 'Generation')
        self.rec.clear()
        # shut off: current is config
        self.dom(path).AttachDevice(disk_xml(img), opts())
        self.assertEqual(self.client.prop(path, 'Generation'), gen + 1)
        self.assertIn(gen + 1, [unwrap(v) for v in self.rec.property_changes(path, 'Generation')])
        self.assertIn('vdb', self.live_targets(path, inactive=True))
        self.assertDBusError(ERR_INVALID_STATE, self.dom(path).AttachDevice, disk_xml(img, 'vdc'), opts(live=True))
        # an interface without a MAC gets one
        self.dom(path).AttachDevice("<interface type='user'><model type='e1000'/></interface>", opts(config=True))
        root = ET.fromstring(str(self.dom(path).GetXML(opts(inactive=True))))
        macs = [m.get('address') for m in root.iter('mac')]
        self.assertEqual(len(macs), 1)
        self.assertTrue(macs[0].startswith('52:54:00:'), macs)
        self.dom(path).DetachDevice("<interface type='user'><mac address='%s'/></interface>" % macs[0],
                                    opts(config=True))
        self.dom(path).DetachDevice(disk_xml(img), opts(config=True))
        self.assertEqual(self.client.prop(path, 'Generation'), gen + 4)
        self.assertNotIn('vdb', self.live_targets(path, inactive=True))
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).DetachDevice, disk_xml(img), opts(config=True))
        # a daemon restart reads what was written
        self.daemon.restart()
        self.assertEqual(self.client.prop(path, 'Generation'), gen + 4)

    def test_cdrom_media_change(self):
        iso1, iso2 = self.image('one.iso', 1 << 20), self.image('two.iso', 1 << 20)
        xml = guest_domain_xml('hp5').replace(
            '<devices>', "<devices><controller type='scsi' index='0' model='virtio-scsi'/>"
            "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='%s'/>"
            "<target dev='sda' bus='scsi'/><readonly/></disk>" % iso1, 1)
        path, _ = self.boot('hp5', xml=xml, wait=False)   # running: see test_failed_attach_leaves_nothing
        pid = self.qemu_pid()
        self.assertIn(os.path.realpath(iso1), qemu_files(pid))
        cd = ("<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>%s"
              "<target dev='sda' bus='scsi'/></disk>")
        # force: the firmware of the booting guest may hold the tray locked
        self.dom(path).UpdateDevice(cd % ("<source file='%s'/>" % iso2), opts(live=True, force=True))
        root = ET.fromstring(str(self.dom(path).GetXML(opts())))
        self.assertEqual([s.get('file') for s in root.iter('source') if s.get('file')], [iso2])
        files = qemu_files(pid)
        self.assertIn(os.path.realpath(iso2), files)
        self.assertNotIn(os.path.realpath(iso1), files)
        # the persistent definition still has the first one
        root = ET.fromstring(str(self.dom(path).GetXML(opts(inactive=True))))
        self.assertEqual([s.get('file') for s in root.iter('source') if s.get('file')], [iso1])
        # eject
        self.dom(path).UpdateDevice(cd % '', opts(live=True, force=True))
        root = ET.fromstring(str(self.dom(path).GetXML(opts())))
        self.assertEqual([s.get('file') for s in root.iter('source') if s.get('file')], [])
        self.assertNotIn(os.path.realpath(iso2), qemu_files(pid))
        # only cdroms and an interface's <bandwidth> (netsvc test_bandwidth) change in place
        self.assertDBusError('org.vmgmt.Error.NotSupported', self.dom(path).UpdateDevice,
                             "<interface type='user'/>", opts(live=True))
        self.dom(path).Destroy(opts())

    def test_scsi_controller_and_disk(self):
        # a virtio-scsi controller, then a disk on it; a SCSI disk leaves at once (no guest to ask)
        path, _ = self.boot('hp6', wait=False)
        self.rec.clear()
        self.dom(path).AttachDevice("<controller type='scsi' index='0' model='virtio-scsi'/>", opts(live=True))
        self.rec.wait_domain_event(path, 'device-added')
        self.assertEqual(self.rec.domain_events(path), [('device-added', 'scsi0')])
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).AttachDevice,
                             "<controller type='scsi' index='0' model='virtio-scsi'/>", opts(live=True))
        img = self.image('scsi-disk.raw')
        self.dom(path).AttachDevice(disk_xml(img, 'sda', 'scsi'), opts(live=True))
        self.assertIn('sda', self.live_targets(path))
        self.assertIn(os.path.realpath(img), qemu_files(self.qemu_pid()))
        # the controller cannot go while a disk is on it
        self.assertDBusError('org.vmgmt.Error.Busy', self.dom(path).DetachDevice,
                             "<controller type='scsi' index='0'/>", opts(live=True))
        self.rec.clear()
        self.dom(path).DetachDevice(disk_xml(img, 'sda', 'scsi'), opts(live=True))
        self.rec.wait_domain_event(path, 'device-removed')
        self.assertEqual(self.rec.domain_events(path), [('device-removed', 'scsi0-0-0-0')])
        self.assertNotIn('sda', self.live_targets(path))
        deadline = time.monotonic() + WAIT
        while os.path.realpath(img) in qemu_files(self.qemu_pid()):
            self.assertLess(time.monotonic(), deadline, 'qemu kept the SCSI disk open')
            time.sleep(0.1)
        self.dom(path).Destroy(opts())

    def job_completes(self, job):
        deadline = time.monotonic() + WAIT
        while unwrap(self.client.prop(job, 'State', iface=JOB_IFACE)) == 'running':
            self.assertLess(time.monotonic(), deadline, 'job %s never ended' % job)
            time.sleep(0.05)
        self.assertEqual(unwrap(self.client.prop(job, 'State', iface=JOB_IFACE)), 'completed',
                         unwrap(self.client.prop(job, 'Error', iface=JOB_IFACE)))

    def test_nodes_follow_the_device(self):
        # qemu's block nodes are named after a disk's index when it was started or plugged; once an
        # earlier disk is unplugged, the later ones' indexes move but their nodes keep their names:
        # statistics, block jobs and snapshots must find a disk's nodes by its device, not its index
        def qcow2(name, mib):
            p = os.path.join(self.fx.tmp, name)
            subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', p, '%dM' % mib], check=True, timeout=WAIT)
            return p
        sda, sdb, sdc = qcow2('a.qcow2', 16), qcow2('b.qcow2', 32), qcow2('c.qcow2', 8)
        xml = guest_domain_xml('hp7').replace(
            '<devices>', "<devices><controller type='scsi' index='0' model='virtio-scsi'/>" +
            disk_xml(sda, 'sda', 'scsi', 'qcow2') + disk_xml(sdb, 'sdb', 'scsi', 'qcow2'), 1)
        path, _ = self.boot('hp7', paused=True, xml=xml)

        def capacities():
            st = self.dom(path).GetStats(opts(groups=dbus.Array(['block'], signature='s')))
            return {str(st['block.%d.name' % i]): int(st.get('block.%d.capacity' % i, -1))
                    for i in range(int(st['block.count']))}

        self.assertEqual(capacities(), {'sda': 16 << 20, 'sdb': 32 << 20})
        self.rec.clear()
        self.dom(path).DetachDevice(disk_xml(sda, 'sda', 'scsi', 'qcow2'), opts(live=True))   # SCSI: at once
        self.rec.wait_domain_event(path, 'device-removed', timeout=WAIT)
        self.assertEqual(capacities(), {'sdb': 32 << 20})
        self.dom(path).BlockResize('sdb', dbus.UInt64(48 << 20), opts())
        self.assertEqual(capacities(), {'sdb': 48 << 20})
        # a disk plugged now may get the names the unplugged one had
        self.dom(path).AttachDevice(disk_xml(sdc, 'sdc', 'scsi', 'qcow2'), opts(live=True))
        self.assertEqual(capacities(), {'sdb': 48 << 20, 'sdc': 8 << 20})
        self.dom(path).BlockResize('sdc', dbus.UInt64(12 << 20), opts())
        self.assertEqual(capacities(), {'sdb': 48 << 20, 'sdc': 12 << 20})
        # an external snapshot puts each overlay on its own disk
        self.job_completes(self.dom(path).CreateSnapshot("<domainsnapshot><name>after-unplug</name></domainsnapshot>",
                                                         opts(disk_only=True)))
        root = ET.fromstring(str(self.dom(path).GetXML(opts())))
        sources = {d.find('target').get('dev'): d.find('source').get('file') for d in root.iter('disk')}
        self.assertEqual(sources, {'sdb': sdb.replace('.qcow2', '.after-unplug'),
                                   'sdc': sdc.replace('.qcow2', '.after-unplug')})
        self.assertEqual(capacities(), {'sdb': 48 << 20, 'sdc': 12 << 20})
        # and a block job on the overlays' chain finds the right disk (commit sdc back into its image)
        self.job_completes(self.dom(path).BlockCommit('sdc', opts(active=True, pivot=True)))
        root = ET.fromstring(str(self.dom(path).GetXML(opts())))
        sources = {d.find('target').get('dev'): d.find('source').get('file') for d in root.iter('disk')}
        self.assertEqual(sources, {'sdb': sdb.replace('.qcow2', '.after-unplug'), 'sdc': sdc})
        self.dom(path).Destroy(opts())

    def test_cli(self):
        # every flag of the hot-plug verbs, each with what it does, on a booted guest
        first = self.image('c-first.raw')
        iso1, iso2 = self.image('c-one.iso', 1 << 20), self.image('c-two.iso', 1 << 20)
        xml = guest_domain_xml('hpc').replace(
            '<devices>', '<devices>' + disk_xml(first, 'vda') +
            "<controller type='scsi' index='0' model='virtio-scsi'/>"
            "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='%s'/>"
            "<target dev='sda' bus='scsi'/><readonly/></disk>" % iso1, 1)
        path, con = self.boot('hpc', xml=xml)

        def run(*args):
            return run_vmgmtctl(self.fx.bus, *args)

        def ctl(*args):
            r = run(*args)
            self.assertEqual(r.returncode, 0, '%s: %s' % (args, r.stderr))
            return r.stdout

        def xml_file(name, text):
            f = os.path.join(self.fx.tmp, name)
            with open(f, 'w') as fh:
                fh.write(text)
            return f

        def targets(inactive=False):
            return self.live_targets(path, inactive=inactive)

        img = self.image('c-b.raw')
        out = ctl('attach-disk', 'hpc', img, 'vdb', '--print-xml', '--driver', 'qemu', '--subdriver', 'raw',
                  '--type', 'disk', '--mode', 'shareable', '--cache', 'writeback', '--targetbus', 'virtio',
                  '--sourcetype', 'file')
        self.assertIn("<target dev='vdb' bus='virtio'/>", out)
        self.assertIn("<shareable/>", out)
        self.assertIn("cache='writeback'", out)
        self.assertNotIn('vdb', targets())   # --print-xml only prints
        self.assertEqual(ctl('attach-disk', 'hpc', img, 'vdb', '--driver', 'qemu', '--subdriver', 'raw',
                             '--cache', 'writeback', '--live'), 'Disk attached successfully\n')
        self.assertIn('vdb', targets())
        self.assertNotIn('vdb', targets(inactive=True))
        self.wait_guest(con, 'test -e /sys/block/vdb', 'VDB')
        lst = ctl('domblklist', 'hpc')
        self.assertRegex(lst, r'(?m)^ vdb +%s$' % img)
        self.assertRegex(ctl('domblklist', 'hpc', '--details'), r'(?m)^ file +disk +vdb +%s$' % img)
        self.assertRegex(ctl('domblklist', 'hpc', '--details'), r'(?m)^ file +cdrom +sda +%s$' % iso1)
        self.assertNotIn('vdb', ctl('domblklist', 'hpc', '--inactive'))
        ctl('attach-disk', 'hpc', self.image('c-c.raw'), 'vdc', '--config')
        self.assertIn('vdc', targets(inactive=True))
        self.assertNotIn('vdc', targets())
        ctl('attach-disk', 'hpc', self.image('c-d.raw'), 'vdd', '--persistent', '--mode', 'readonly')
        self.assertIn('vdd', targets(inactive=True))
        self.assertIn('vdd', targets())
        ctl('attach-disk', 'hpc', self.image('c-e.raw'), 'vde', '--current', '--sourcetype', 'file')
        self.assertIn('vde', targets())
        self.assertNotIn('vde', targets(inactive=True))
        self.assertEqual(ctl('detach-disk', 'hpc', 'vdb', '--live'), 'Disk detached successfully\n')
        self.assertNotIn('vdb', targets())
        ctl('detach-disk', 'hpc', 'vdc', '--config')
        self.assertNotIn('vdc', targets(inactive=True))
        ctl('detach-disk', 'hpc', 'vdd', '--persistent')
        self.assertNotIn('vdd', targets(inactive=True) + targets())
        ctl('detach-disk', 'hpc', 'vde', '--current')
        self.assertNotIn('vde', targets())
        r = run('detach-disk', 'hpc', 'vdz')
        self.assertEqual(r.returncode, 1)
        self.assertIn('vdz', r.stderr)

        # a device from a file
        f = xml_file('dev.xml', disk_xml(img, 'vdf'))
        self.assertEqual(ctl('attach-device', 'hpc', f, '--live'), 'Device attached successfully\n')
        self.assertIn('vdf', targets())
        ctl('attach-device', 'hpc', f, '--config')
        self.assertIn('vdf', targets(inactive=True))
        self.assertEqual(ctl('detach-device', 'hpc', f, '--persistent'), 'Device detached successfully\n')
        self.assertNotIn('vdf', targets() + targets(inactive=True))
        ctl('attach-device', 'hpc', f, '--current')
        self.assertIn('vdf', targets())
        ctl('detach-device', 'hpc', f, '--live')
        ctl('attach-device', 'hpc', f, '--persistent')
        self.assertIn('vdf', targets() + targets(inactive=True))
        ctl('detach-device', 'hpc', f, '--config')
        ctl('detach-device', 'hpc', f, '--current')
        self.assertNotIn('vdf', targets() + targets(inactive=True))

        # interfaces
        out = ctl('attach-interface', 'hpc', 'user', 'x', '--print-xml', '--mac', '52:54:00:ee:00:01', '--model',
                  'e1000', '--target', 'tapx')
        self.assertIn("<mac address='52:54:00:ee:00:01'/>", out)
        self.assertIn("<target dev='tapx'/>", out)
        self.assertEqual(ctl('attach-interface', 'hpc', 'user', 'x', '--mac', '52:54:00:ee:00:01', '--model', 'e1000',
                             '--live'), 'Interface attached successfully\n')
        self.assertRegex(ctl('domiflist', 'hpc'), r'(?m)^ - +user +- +e1000 +52:54:00:ee:00:01$')
        self.assertNotIn('52:54:00:ee:00:01', ctl('domiflist', 'hpc', '--inactive'))
        self.assertEqual(ctl('detach-interface', 'hpc', 'user', '--mac', '52:54:00:ee:00:01', '--live'),
                         'Interface detached successfully\n')
        self.assertNotIn('52:54:00:ee:00:01', ctl('domiflist', 'hpc'))
        ctl('attach-interface', 'hpc', 'user', 'x', '--mac', '52:54:00:ee:00:02', '--config')
        self.assertIn('52:54:00:ee:00:02', ctl('domiflist', 'hpc', '--inactive'))
        ctl('detach-interface', 'hpc', 'user', '--mac', '52:54:00:ee:00:02', '--config')
        ctl('attach-interface', 'hpc', 'user', 'x', '--mac', '52:54:00:ee:00:03', '--persistent')
        self.assertIn('52:54:00:ee:00:03', ctl('domiflist', 'hpc'))
        ctl('detach-interface', 'hpc', 'user', '--mac', '52:54:00:ee:00:03', '--persistent')
        ctl('attach-interface', 'hpc', 'user', 'x', '--mac', '52:54:00:ee:00:04', '--current')
        ctl('detach-interface', 'hpc', 'user', '--mac', '52:54:00:ee:00:04', '--current')
        self.assertNotIn('52:54:00:ee', ctl('domiflist', 'hpc') + ctl('domiflist', 'hpc', '--inactive'))

        # a cdrom's medium
        def cd_source(inactive=False):
            root = ET.fromstring(str(self.dom(path).GetXML(opts(inactive=inactive))))
            return [d.find('source').get('file') if d.find('source') is not None else None
                    for d in root.iter('disk') if d.get('device') == 'cdrom']
        self.assertEqual(ctl('change-media', 'hpc', 'sda', iso2, '--update', '--live'), 'Successfully updated media.\n')
        self.assertEqual(cd_source(), [iso2])
        self.assertEqual(ctl('change-media', 'hpc', 'sda', '--eject', '--force', '--live'),
                         'Successfully ejected media.\n')
        self.assertEqual(cd_source(), [None])
        self.assertEqual(ctl('change-media', 'hpc', 'sda', iso1, '--insert', '--current'),
                         'Successfully inserted media.\n')
        self.assertEqual(cd_source(), [iso1])
        ctl('change-media', 'hpc', iso1, iso2, '--config')
        self.assertEqual(cd_source(inactive=True), [iso2])
        ctl('change-media', 'hpc', 'sda', iso1, '--persistent')
        self.assertEqual(cd_source() + cd_source(inactive=True), [iso1, iso1])
        cd = xml_file('cd.xml', "<disk type='file' device='cdrom'><source file='%s'/><target dev='sda' bus='scsi'/>"
                                "</disk>" % iso2)
        self.assertEqual(ctl('update-device', 'hpc', cd, '--live', '--force'), 'Device updated successfully\n')
        self.assertEqual(cd_source(), [iso2])
        ctl('update-device', 'hpc', cd, '--config')
        ctl('update-device', 'hpc', cd, '--current')
        ctl('update-device', 'hpc', cd, '--persistent')
        self.assertEqual(cd_source() + cd_source(inactive=True), [iso2, iso2])
        r = run('change-media', 'hpc', 'vda', iso1)
        self.assertEqual(r.returncode, 1)
        self.assertIn('no cdrom', r.stderr)
        self.dom(path).Destroy(opts())


if __name__ == '__main__':
    main()
