# Domain snapshots (issue 13 part 4): offline internal snapshots of qcow2 disks
# (qemu-img on the fds vmgmtd opened) and live ones with memory (QEMU's
# snapshot-save/-load jobs) on the booted busybox guest; the tree (Parent,
# IsCurrent, CurrentSnapshot, ListSnapshots' filters) through create, revert
# and delete; metadata across a SIGKILL of vmgmtd; Undefine's refusal; bad
# XML and unknown disks changing nothing; a cancelled live snapshot leaving
# the domain as it was; external (disk-only) snapshots of a running and a
# shut-off domain, deleted by merging their overlays (block commit, qemu-img
# commit) with the data kept and the chain shorter, reverted onto new
# overlays, a cancelled deletion changing nothing; the live XML's <backingStore>
# chain through overlays and commits (never in the inactive XML, a defined one
# not kept); quiesce: libvirt's refusals, a guest agent channel nobody answers
# on (the Job fails, nothing taken) and, with qemu-ga in the test guest, a real
# freeze and thaw around the switch.

import os
import shutil
import subprocess
import time

import dbus
import json

import vmgmt_harness

from vmgmt_harness import (VMGMTCTL, _child_env, DEFAULT_TIMEOUT, ERR_INVALID_ARGS, ERR_INVALID_STATE, ERR_INVALID_XML,
                           ERR_NOT_SUPPORTED, GUEST_READY, VmgmtTestCase, dbus_error_name, guest_domain_xml,
                           guest_image, main, minimal_domain_xml, opts, path_encode, run_vmgmtctl, skip_missing,
                           unwrap)

SNAP_IFACE = 'org.vmgmt.Snapshot'
JOB_IFACE = 'org.vmgmt.Job'
ERR_ALREADY_EXISTS = 'org.vmgmt.Error.AlreadyExists'
ERR_NO_SUCH_SNAPSHOT = 'org.vmgmt.Error.NoSuchSnapshot'
BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly
QEMU_IMG = shutil.which('qemu-img') or '/usr/bin/qemu-img'
QEMU_IO = shutil.which('qemu-io') or '/usr/bin/qemu-io'


def with_disk(xml, image, fmt='qcow2', target='vda'):
    disk = ("<disk type='file' device='disk'><driver name='qemu' type='%s'/><source file='%s'/>"
            "<target dev='%s' bus='virtio'/></disk>" % (fmt, image, target))
    return xml.replace('<devices>', '<devices>' + disk, 1)


def qemu_io(image, cmd, fmt='qcow2', shared=False):
    extra = ['-U', '-r'] if shared else []
    return subprocess.run([QEMU_IO, '-f', fmt] + extra + ['-c', cmd, image], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=DEFAULT_TIMEOUT).stdout.decode()


def holds(image, pattern, offset, length, shared=False):
    """Whether the image reads as `pattern` bytes over [offset, offset+length) (qemu-io read -P;
    shared: while a qemu has it open)."""
    out = qemu_io(image, 'read -P %s %s %s' % (pattern, offset, length), shared=shared)
    return 'read ' in out and 'verification failed' not in out


def backing_of(image):
    """The backing file an image's header names (None: none), read while a qemu may hold it."""
    info = json.loads(subprocess.run([QEMU_IMG, 'info', '-U', '--output=json', image], stdout=subprocess.PIPE,
                                     check=True, timeout=DEFAULT_TIMEOUT).stdout.decode())
    return info.get('backing-filename')


def disk_source(xml, target='vda'):
    """The <source file=> of disk `target` in domain XML."""
    import xml.etree.ElementTree as ET
    for disk in ET.fromstring(xml).iter('disk'):
        t = disk.find('target')
        if t is not None and t.get('dev') == target:
            return disk.find('source').get('file')
    return None


def backing_chain(xml, target='vda'):
    """Disk `target`'s <backingStore> chain in domain XML: [(path, format)…], nearest first, and
    whether an empty <backingStore/> ends it (None: no <backingStore> at all)."""
    import xml.etree.ElementTree as ET
    for disk in ET.fromstring(xml).iter('disk'):
        t = disk.find('target')
        if t is None or t.get('dev') != target:
            continue
        node, chain = disk.find('backingStore'), []
        if node is None:
            return None
        while node is not None and node.find('source') is not None:
            fmt = node.find('format')
            chain.append((node.find('source').get('file'), fmt.get('type') if fmt is not None else None))
            node = node.find('backingStore')
        return chain, node is not None
    return None


def image_tags(image):
    out = subprocess.run([QEMU_IMG, 'snapshot', '-U', '-l', image], stdout=subprocess.PIPE,
                         check=True, timeout=DEFAULT_TIMEOUT).stdout.decode().splitlines()
    return sorted(line.split()[1] for line in out[2:] if line.split())


class Snapshots(VmgmtTestCase):
    @classmethod
    def setUpClass(cls):
        for p in (QEMU_IMG, QEMU_IO):
            if not os.access(p, os.X_OK):
                raise cls.skipTest(cls, 'needs %s (qemu-utils)' % p)
        guest_image()
        super().setUpClass()

    def image(self, name, fmt='qcow2'):
        p = os.path.join(self.fx.tmp, name)
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', fmt, p, '16M'], check=True)
        return p

    def snap(self, path):
        return dbus.Interface(self.client.obj(path), SNAP_IFACE)

    def sprop(self, path, name):
        return unwrap(self.client.prop(path, name, iface=SNAP_IFACE))

    def wait_job(self, jpath, state='completed', timeout=BOOT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            st = unwrap(self.client.prop(jpath, 'State', iface=JOB_IFACE))
            if st != 'running':
                err = unwrap(self.client.prop(jpath, 'Error', iface=JOB_IFACE))
                self.assertEqual(st, state, 'job %s ended %s: %s' % (jpath, st, err))
                return err
            if time.monotonic() > deadline:
                self.fail('job %s still running after %ds' % (jpath, timeout))
            time.sleep(0.05)

    def take(self, dpath, xml, **o):
        j = str(self.dom(dpath).CreateSnapshot(xml, opts(**o)))
        self.assertTrue(j.startswith('/org/vmgmt/job/'), j)
        self.wait_job(j)
        return j

    def signalled(self, kind, path):
        return any(k == kind and SNAP_IFACE in ifaces for k, ifaces in self.rec.kinds(path))

    def snap_path(self, dom, name):
        return '/org/vmgmt/domain/%s/snapshot/%s' % (path_encode(dom), path_encode(name))

    def listed(self, dpath, **o):
        return [str(p) for p in self.dom(dpath).ListSnapshots(opts(**o))]

    def test_offline_tree_restart_undefine(self):
        img = self.image('d.qcow2')
        dpath = self.define(with_disk(minimal_domain_xml('sn1'), img))
        qemu_io(img, 'write -P 0xaa 0 64k')
        self.rec.clear()
        self.take(dpath, "<domainsnapshot><name>s1</name><description>first</description></domainsnapshot>")
        s1 = self.snap_path('sn1', 's1')
        self.rec.wait_for(lambda _: self.signalled('InterfacesAdded', s1),
                          what='InterfacesAdded of s1')
        self.assertEqual(image_tags(img), ['s1'])
        self.assertEqual(self.sprop(s1, 'State'), 'shutoff')
        self.assertEqual(self.sprop(s1, 'Description'), 'first')
        self.assertEqual(self.sprop(s1, 'Parent'), '/')
        self.assertTrue(self.sprop(s1, 'IsCurrent'))
        self.assertEqual(unwrap(self.client.prop(dpath, 'CurrentSnapshot')), s1)
        xml = str(self.snap(s1).GetXML(opts()))
        self.assertIn("<disk name='vda' snapshot='internal'/>", xml)
        self.assertIn('<domain type=', xml)

        qemu_io(img, 'write -P 0xbb 0 64k')
        self.take(dpath, "<domainsnapshot><name>s2</name></domainsnapshot>")
        s2 = self.snap_path('sn1', 's2')
        self.assertEqual(self.sprop(s2, 'Parent'), s1)
        self.assertFalse(self.sprop(s1, 'IsCurrent'))
        self.assertEqual(unwrap(self.client.prop(dpath, 'CurrentSnapshot')), s2)
        # a name that is taken
        with self.assertRaises(dbus.DBusException) as cm:
            self.dom(dpath).CreateSnapshot("<domainsnapshot><name>s1</name></domainsnapshot>", opts())
        self.assertEqual(dbus_error_name(cm.exception), ERR_ALREADY_EXISTS)

        # revert to s1: the disk holds 0xaa again, s1 is current
        qemu_io(img, 'write -P 0xcc 0 64k')
        self.snap(s1).Revert(opts(), timeout=BOOT_TIMEOUT)
        self.assertTrue(holds(img, '0xaa', '0', '64k'))
        self.assertTrue(self.sprop(s1, 'IsCurrent'))
        self.assertFalse(self.sprop(s2, 'IsCurrent'))
        self.assertEqual(unwrap(self.client.prop(dpath, 'CurrentSnapshot')), s1)
        # a third one branches off s1
        self.take(dpath, "<domainsnapshot><name>s3</name></domainsnapshot>")
        s3 = self.snap_path('sn1', 's3')
        self.assertEqual(self.sprop(s3, 'Parent'), s1)
        self.assertEqual(self.listed(dpath), [s1, s2, s3])
        self.assertEqual(self.listed(dpath, roots=True), [s1])
        self.assertEqual(self.listed(dpath, leaves=True), [s2, s3])
        self.assertEqual(self.listed(dpath, descendants_of=dbus.ObjectPath(s1)), [s2, s3])

        # Undefine refused while snapshots exist
        with self.assertRaises(dbus.DBusException) as cm:
            self.dom(dpath).Undefine(opts())
        self.assertEqual(dbus_error_name(cm.exception), ERR_INVALID_STATE)
        self.assertIn('snapshots', str(cm.exception))

        # metadata survives a SIGKILL of vmgmtd
        self.daemon.kill()
        self.daemon.start()
        self.assertEqual(self.listed(dpath), [s1, s2, s3])
        self.assertEqual(self.sprop(s2, 'Parent'), s1)
        self.assertEqual(self.sprop(s1, 'Description'), 'first')
        self.assertTrue(self.sprop(s3, 'IsCurrent'))
        self.assertEqual(unwrap(self.client.prop(dpath, 'CurrentSnapshot')), s3)

        # delete s3 from the middle of s1 → s3 → s4: s4 moves up to s1
        self.take(dpath, "<domainsnapshot><name>s4</name></domainsnapshot>")
        s4 = self.snap_path('sn1', 's4')
        self.assertEqual(self.sprop(s4, 'Parent'), s3)
        self.snap(s3).Delete(opts(), timeout=BOOT_TIMEOUT)
        self.assertEqual(image_tags(img), ['s1', 's2', 's4'])
        self.assertEqual(self.sprop(s4, 'Parent'), s1)
        self.assertTrue(self.sprop(s4, 'IsCurrent'))

        # delete s1: its children become roots, the disk loses its tag
        self.rec.clear()
        self.snap(s1).Delete(opts(), timeout=BOOT_TIMEOUT)
        self.assertEqual(image_tags(img), ['s2', 's4'])
        self.assertEqual(self.listed(dpath, roots=True), [s2, s4])
        self.assertEqual(self.sprop(s2, 'Parent'), '/')
        self.rec.wait_for(lambda _: self.signalled('InterfacesRemoved', s1),
                          what='InterfacesRemoved of s1')
        with self.assertRaises(dbus.DBusException) as cm:
            self.sprop(s1, 'Name')
        self.assertEqual(dbus_error_name(cm.exception), ERR_NO_SUCH_SNAPSHOT)
        # metadata_only: the tag stays on the disk
        self.snap(s2).Delete(opts(metadata_only=True))
        self.assertEqual(image_tags(img), ['s2', 's4'])
        self.assertEqual(self.listed(dpath), [s4])
        # the deletion of the current one moves current to its parent
        self.take(dpath, "<domainsnapshot><name>s5</name></domainsnapshot>")
        s5 = self.snap_path('sn1', 's5')
        self.assertEqual(self.sprop(s5, 'Parent'), s4)
        self.snap(s4).Delete(opts(children=True), timeout=BOOT_TIMEOUT)
        self.assertEqual(self.listed(dpath), [])
        self.assertEqual(image_tags(img), ['s2'])
        self.assertEqual(unwrap(self.client.prop(dpath, 'CurrentSnapshot')), '/')
        self.take(dpath, "<domainsnapshot><name>s6</name></domainsnapshot>")

        # Undefine with snapshots drops the metadata
        self.dom(dpath).Undefine(opts(snapshots=True))
        sdir = os.path.join(self.daemon.config_dir, 'snapshot', 'sn1')
        self.assertFalse(os.path.exists(sdir), sdir)

    def test_cli(self):
        img = self.image('c.qcow2')
        self.define(with_disk(minimal_domain_xml('sncli'), img))

        def ctl(*args):
            return run_vmgmtctl(self.fx.bus, *args, check=True).stdout

        self.assertIn('Domain snapshot one created', ctl('snapshot-create-as', 'sncli', 'one', '--description', 'a <b>'))
        self.assertIn('Domain snapshot two created', ctl('snapshot-create-as', 'sncli', '--name', 'two'))
        out = ctl('snapshot-list', 'sncli')
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ['Name', 'Creation', 'Time', 'State'])
        self.assertEqual([l.split()[0] for l in lines[2:] if l.strip()], ['one', 'two'])
        self.assertIn('shutoff', lines[2])
        self.assertEqual(ctl('snapshot-list', 'sncli', '--name', '--leaves').split(), ['two'])
        self.assertEqual(ctl('snapshot-list', 'sncli', '--tree'), 'one\n  |\n  +- two\n\n')
        rows = json.loads(ctl('--json=short', 'snapshot-list', 'sncli'))
        self.assertEqual([(r['name'], r['parent'], r['current']) for r in rows],
                         [('one', None, False), ('two', 'one', True)])
        self.assertEqual(ctl('snapshot-current', 'sncli', '--name').strip(), 'two')
        info = ctl('snapshot-info', 'sncli', 'one')
        self.assertRegex(info, r'Parent: +-')
        self.assertRegex(info, r'Children: +1')
        self.assertRegex(info, r'Current: +no')
        self.assertIn('<description>a &lt;b&gt;</description>', ctl('snapshot-dumpxml', 'sncli', 'one'))
        ctl('snapshot-revert', 'sncli', 'one')
        self.assertEqual(ctl('snapshot-current', 'sncli', '--name').strip(), 'one')
        self.assertIn('Domain snapshot one deleted', ctl('snapshot-delete', 'sncli', '--current'))
        self.assertEqual(image_tags(img), ['two'])
        r = run_vmgmtctl(self.fx.bus, 'snapshot-dumpxml', 'sncli', 'one')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("No snapshot 'one'", r.stderr)
        self.assertIn("<name>x</name>", ctl('snapshot-create-as', 'sncli', 'x', '--print-xml',
                                             '--diskspec', 'vda,snapshot=internal'))

    def test_cli_options(self):
        # every flag of the snapshot verbs, each with what it does
        img = self.image('co.qcow2')
        dpath = self.define(with_disk(minimal_domain_xml('snopt'), img))

        def run(*args):
            return run_vmgmtctl(self.fx.bus, *args)

        def ctl(*args):
            r = run(*args)
            self.assertEqual(r.returncode, 0, '%s: %s' % (args, r.stderr))
            return r.stdout

        def fails(*args):
            r = run(*args)
            self.assertEqual(r.returncode, 1, '%s: %s' % (args, r.stdout))
            return r.stderr

        def xml_file(name, text):
            f = os.path.join(self.fx.tmp, name)
            with open(f, 'w') as fh:
                fh.write(text)
            return f

        a1 = xml_file('a1.xml', '<domainsnapshot><name>a1</name></domainsnapshot>')
        self.assertEqual(ctl('snapshot-create', 'snopt', a1, '--atomic'), 'Domain snapshot a1 created\n')
        self.assertEqual(ctl('snapshot-create-as', 'snopt', 'a2', '--atomic'), 'Domain snapshot a2 created\n')
        # --no-metadata: taken in the image, no object kept
        self.assertEqual(ctl('snapshot-create-as', 'snopt', 'a3', '--no-metadata'),
                         'Domain snapshot created (no metadata kept)\n')
        nm = xml_file('a4.xml', '<domainsnapshot><name>a4</name></domainsnapshot>')
        ctl('snapshot-create', 'snopt', nm, '--no-metadata')
        self.assertEqual(image_tags(img), ['a1', 'a2', 'a3', 'a4'])
        self.assertEqual(ctl('snapshot-list', 'snopt', '--name').split(), ['a1', 'a2'])
        # refused clearly, nothing taken
        self.assertIn('quiesce requires disk_only', fails('snapshot-create-as', 'snopt', 'q', '--quiesce'))
        self.assertIn('quiesce needs its guest agent', fails('snapshot-create', 'snopt',
                                           xml_file('q.xml', '<domainsnapshot><name>q2</name></domainsnapshot>'),
                                           '--quiesce', '--disk-only'))
        self.assertIn("there is no memory to snapshot", fails('snapshot-create-as', 'snopt', 'm', '--memspec',
                                                      'file=%s/mem,snapshot=external' % self.fx.tmp))
        # --disk-only of the shut-off domain: an overlay (co.e0); deleting it merges it back
        self.assertEqual(ctl('snapshot-create-as', 'snopt', 'e0', '--disk-only'), 'Domain snapshot e0 created\n')
        e0 = os.path.join(self.fx.tmp, 'co.e0')
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts(inactive=True)))), e0)
        self.assertEqual(backing_of(e0), img)
        self.assertEqual(ctl('snapshot-delete', 'snopt', 'e0'), 'Domain snapshot e0 deleted\n')
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts(inactive=True)))), img)
        self.wait_gone(e0)
        self.assertEqual(image_tags(img), ['a1', 'a2', 'a3', 'a4'])
        # --parent, --roots, --current
        rows = [l.split() for l in ctl('snapshot-list', 'snopt', '--parent').splitlines()[2:] if l.strip()]
        self.assertEqual([(r[0], r[-1]) for r in rows], [('a1', 'shutoff'), ('a2', 'a1')])
        self.assertEqual([l.split()[0] for l in ctl('snapshot-list', 'snopt', '--roots').splitlines()[2:]
                          if l.strip()], ['a1'])
        self.assertRegex(ctl('snapshot-info', 'snopt', '--current'), r'Name: +a2\n')
        # --metadata drops only the object; --redefine brings it back from its XML
        dump = xml_file('a1-dump.xml', ctl('snapshot-dumpxml', 'snopt', 'a1'))
        ctl('snapshot-delete', 'snopt', 'a1', '--metadata')
        self.assertIn('a1', image_tags(img))
        self.assertEqual(ctl('snapshot-list', 'snopt', '--name').split(), ['a2'])
        self.assertIn('a1', ctl('snapshot-create', 'snopt', dump, '--redefine'))
        self.assertEqual(sorted(ctl('snapshot-list', 'snopt', '--name').split()), ['a1', 'a2'])

        # revert of an offline snapshot with --running / --paused: the disks go back, then it starts
        qemu_io(img, 'write -P 0x5a 0 64k')
        ctl('snapshot-revert', 'snopt', 'a2', '--running', '--force')
        self.client.wait_state(dpath, 'running')
        ctl('destroy', 'snopt')
        self.assertFalse(holds(img, '0x5a', 0, 65536))
        ctl('snapshot-revert', 'snopt', '--current', '--paused')
        self.client.wait_state(dpath, 'paused')
        # running: a live snapshot with its memory (--live)
        ctl('resume', 'snopt')
        self.assertEqual(ctl('snapshot-create-as', 'snopt', 'l1', '--live'), 'Domain snapshot l1 created\n')
        self.assertEqual(self.sprop(self.snap_path('snopt', 'l1'), 'State'), 'running')
        ctl('destroy', 'snopt')
        # --children-only and --children (a2 → l1; a1 came back as a root of its own, a2 was re-parented
        # when a1's metadata went)
        self.assertIn('children deleted', ctl('snapshot-delete', 'snopt', 'a2', '--children-only'))
        self.assertEqual(sorted(ctl('snapshot-list', 'snopt', '--name').split()), ['a1', 'a2'])
        self.assertNotIn('l1', image_tags(img))
        self.assertEqual(ctl('snapshot-delete', 'snopt', 'a2', '--children'), 'Domain snapshot a2 deleted\n')
        self.assertEqual(ctl('snapshot-list', 'snopt', '--name').split(), ['a1'])
        ctl('snapshot-delete', 'snopt', 'a1')
        self.assertEqual(ctl('snapshot-list', 'snopt', '--name').split(), [])
        self.assertEqual(image_tags(img), ['a3', 'a4'])
        # external disk-only ones (--disk-only) of the running domain
        ctl('start', 'snopt')
        ov = os.path.join(self.fx.tmp, 'co.ov1')
        ctl('snapshot-create-as', 'snopt', 'e1', '--disk-only', '--atomic', '--diskspec', 'vda,file=' + ov)
        self.assertIn("<source file='%s'" % ov, str(self.dom(dpath).GetXML(opts())))
        ov2 = os.path.join(self.fx.tmp, 'co.ov2')
        e2 = xml_file('e2.xml', "<domainsnapshot><name>e2</name><disks><disk name='vda' snapshot='external'>"
                                "<source file='%s'/></disk></disks></domainsnapshot>" % ov2)
        ctl('snapshot-create', 'snopt', e2, '--disk-only', '--live')
        self.assertIn("<source file='%s'" % ov2, str(self.dom(dpath).GetXML(opts())))
        info = json.loads(subprocess.run([QEMU_IMG, 'info', '-U', '--output=json', ov2], stdout=subprocess.PIPE,
                                         check=True).stdout.decode())
        self.assertEqual(info.get('backing-filename'), ov)
        ctl('destroy', 'snopt')
        for snap in ('e2', 'e1'):
            ctl('snapshot-delete', 'snopt', snap, '--metadata')
        self.assertEqual(ctl('snapshot-list', 'snopt', '--name').split(), [])

    def wait_gone(self, path, timeout=DEFAULT_TIMEOUT):
        """The file goes (its removal runs as the caller, in the background)."""
        deadline = time.monotonic() + timeout
        while os.path.exists(path):
            self.assertLess(time.monotonic(), deadline, '%s is still there' % path)
            time.sleep(0.05)

    def running_job(self, jtype, timeout=BOOT_TIMEOUT):
        """The path of the running org.vmgmt.Job of type jtype, once there is one."""
        deadline = time.monotonic() + timeout
        root = dbus.Interface(self.client.obj('/org/vmgmt'), 'org.freedesktop.DBus.ObjectManager')
        while True:
            for path, ifaces in root.GetManagedObjects().items():
                j = ifaces.get(JOB_IFACE)
                if j and str(j['Type']) == jtype and str(j['State']) == 'running':
                    return str(path)
            self.assertLess(time.monotonic(), deadline, 'no running %s job' % jtype)
            time.sleep(0.05)

    def guest_read(self, con, sector, tag):
        """What the guest reads from /dev/vda at `sector` (its page cache dropped first): 4 bytes."""
        con.send('sync; echo 3 > /proc/sys/vm/drop_caches; echo %s=$(dd if=/dev/vda bs=512 skip=%d count=1 '
                 '2>/dev/null | head -c 4)=' % (tag, sector))
        return con

    def guest_write(self, con, sector, char, tag):
        con.send("dd if=/dev/zero bs=512 count=128 2>/dev/null | tr '\\000' '%s' | dd of=/dev/vda bs=512 seek=%d "
                 "conv=fsync 2>/dev/null; sync; echo %s''DONE" % (char, sector, tag))
        con.wait_for('%sDONE' % tag, BOOT_TIMEOUT)

    def test_external_live_delete_and_revert(self):
        base = self.image('lb.qcow2')
        qemu_io(base, 'write -P 0x11 0 64k')
        ov1, ov2, ov3 = (os.path.join(self.fx.tmp, n) for n in ('lo1.qcow2', 'lo2.qcow2', 'lo3.qcow2'))
        # a <backingStore> in a definition (as libvirt's live XML has it) is accepted and not kept
        fake = ("<source file='%s'/><backingStore type='file'><format type='raw'/><source file='/nonexistent.img'/>"
                "<backingStore/></backingStore>" % base)
        dpath = self.define(with_disk(guest_domain_xml('sn5'), base).replace("<source file='%s'/>" % base, fake, 1))
        self.assertIsNone(backing_chain(str(self.dom(dpath).GetXML(opts(inactive=True)))))
        self.assertIsNone(backing_chain(str(self.dom(dpath).GetXML(opts()))))
        self.dom(dpath).Start(opts())
        self.client.wait_state(dpath, 'running')
        con = self.fx.console(dpath)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)

        def chain():
            xml = str(self.dom(dpath).GetXML(opts()))
            self.assertIsNone(backing_chain(str(self.dom(dpath).GetXML(opts(inactive=True)))))
            return disk_source(xml), backing_chain(xml)

        # the live XML shows the chain the image has: none below the base
        self.assertEqual(chain(), (base, ([], True)))

        # quiesce without a guest agent channel: refused as libvirt does, nothing taken
        with self.assertRaises(dbus.DBusException) as cm:
            self.dom(dpath).CreateSnapshot("<domainsnapshot><name>q</name><disks><disk name='vda'><source file='%s'/>"
                                           "</disk></disks></domainsnapshot>" % ov1, opts(disk_only=True, quiesce=True))
        self.assertEqual(dbus_error_name(cm.exception), ERR_NOT_SUPPORTED)
        self.assertIn('guest agent is not configured', str(cm.exception))
        self.assertFalse(os.path.exists(ov1))
        self.assertEqual(self.listed(dpath), [])

        def ext(name, ov):
            self.take(dpath, "<domainsnapshot><name>%s</name><disks><disk name='vda'><source file='%s'/></disk>"
                             "</disks></domainsnapshot>" % (name, ov), disk_only=True)
            return self.snap_path('sn5', name)

        # base ← lo1 (Z at 128k) ← lo2 (Y at 192k)
        e1 = ext('e1', ov1)
        self.guest_write(con, 256, 'Z', 'W1')
        e2 = ext('e2', ov2)
        self.guest_write(con, 384, 'Y', 'W2')
        self.assertEqual(backing_of(ov2), ov1)
        self.assertEqual(chain(), (ov2, ([(ov1, 'qcow2'), (base, 'qcow2')], True)))

        # e1's overlay is in the middle: an intermediate commit into base, lo2 then backed by base
        self.snap(e1).Delete(opts(), timeout=BOOT_TIMEOUT)
        self.assertEqual(self.listed(dpath), [e2])
        self.assertEqual(self.sprop(e2, 'Parent'), '/')
        self.assertEqual(backing_of(ov2), base)
        self.wait_gone(ov1)
        self.assertTrue(holds(base, '0x5a', '128k', '64k', shared=True))
        self.guest_read(con, 256, 'R1').wait_for('R1=ZZZZ=', BOOT_TIMEOUT)
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), ov2)
        self.assertEqual(chain(), (ov2, ([(base, 'qcow2')], True)))

        # e2's overlay is the active layer: an active commit with pivot, the disk back on base
        self.snap(e2).Delete(opts(), timeout=BOOT_TIMEOUT)
        self.assertEqual(self.listed(dpath), [])
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), base)
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts(inactive=True)))), base)
        self.assertEqual(chain(), (base, ([], True)))
        self.wait_gone(ov2)
        self.assertTrue(holds(base, '0x59', '192k', '64k', shared=True))
        self.assertIsNone(backing_of(base))
        self.guest_read(con, 384, 'R2').wait_for('R2=YYYY=', BOOT_TIMEOUT)
        self.guest_read(con, 256, 'R3').wait_for('R3=ZZZZ=', BOOT_TIMEOUT)

        # revert to an external snapshot of the running domain: stopped (from-snapshot), a new overlay
        # on the snapshot's image; its own overlay keeps what came after it (the other branch)
        e3 = ext('e3', ov3)
        self.assertEqual(chain(), (ov3, ([(base, 'qcow2')], True)))
        self.guest_write(con, 512, 'X', 'W3')
        self.rec.clear()
        self.snap(e3).Revert(opts(), timeout=BOOT_TIMEOUT)
        self.rec.wait_domain_event(dpath, 'stopped', 'from-snapshot')
        self.assertEqual(self.client.state(dpath), ('shutoff', 'from-snapshot'))
        new = disk_source(str(self.dom(dpath).GetXML(opts(inactive=True))))
        self.assertNotIn(new, (base, ov3))
        self.assertEqual(backing_of(new), base)
        self.assertTrue(holds(ov3, '0x58', '256k', '64k'))
        self.assertFalse(holds(new, '0x58', '256k', '64k'))
        self.assertTrue(holds(new, '0x5a', '128k', '64k'))
        self.assertTrue(self.sprop(e3, 'IsCurrent'))
        self.assertEqual(self.listed(dpath), [e3])

    def test_external_offline(self):
        base = self.image('ob.qcow2')
        qemu_io(base, 'write -P 0x11 0 64k')
        dpath = self.define(with_disk(minimal_domain_xml('sn6'), base))

        def inactive_source():
            return disk_source(str(self.dom(dpath).GetXML(opts(inactive=True))))

        # shut off: the overlay is made with qemu-img (default name: the image's with the snapshot's)
        self.take(dpath, "<domainsnapshot><name>e1</name></domainsnapshot>", disk_only=True)
        e1, ov1 = self.snap_path('sn6', 'e1'), os.path.join(self.fx.tmp, 'ob.e1')
        self.assertEqual(inactive_source(), ov1)
        self.assertEqual(backing_of(ov1), base)
        self.assertEqual([f for f in os.listdir(self.fx.tmp) if f.endswith('.part')], [])
        self.assertIn("snapshot='external'", str(self.snap(e1).GetXML(opts())))
        qemu_io(ov1, 'write -P 0x22 64k 64k')
        self.take(dpath, "<domainsnapshot><name>e2</name></domainsnapshot>", disk_only=True)
        e2, ov2 = self.snap_path('sn6', 'e2'), os.path.join(self.fx.tmp, 'ob.e2')
        self.assertEqual(backing_of(ov2), ov1)
        self.assertEqual(self.sprop(e2, 'Parent'), e1)
        qemu_io(ov2, 'write -P 0x33 128k 64k')

        # e1 from the middle: committed into base, ob.e2 rebased onto base, ob.e1 gone
        self.snap(e1).Delete(opts(), timeout=BOOT_TIMEOUT)
        self.assertEqual(self.listed(dpath), [e2])
        self.assertEqual(self.sprop(e2, 'Parent'), '/')
        self.assertEqual(backing_of(ov2), base)
        self.wait_gone(ov1)
        self.assertTrue(holds(base, '0x22', '64k', '64k'))
        for pattern, offset in (('0x11', '0'), ('0x22', '64k'), ('0x33', '128k')):
            self.assertTrue(holds(ov2, pattern, offset, '64k'), pattern)
        # e2 was taken on ob.e1, which went into base: its definition says base now (what its revert builds on)
        sxml = str(self.snap(e2).GetXML(opts()))
        self.assertEqual(disk_source(sxml[sxml.index('<domain '):sxml.index('</domain>') + len('</domain>')]), base)

        # a cancelled deletion changes nothing (a qemu-img whose commit never ends stands in for a long one)
        wrap = os.path.join(self.fx.tmp, 'bin')
        os.makedirs(wrap)
        with open(os.path.join(wrap, 'qemu-img'), 'w') as f:
            f.write('#!/bin/sh\n[ "$1" = commit ] && exec sleep 600\nexec %s "$@"\n' % QEMU_IMG)
        os.chmod(os.path.join(wrap, 'qemu-img'), 0o755)
        child_env = vmgmt_harness._child_env
        vmgmt_harness._child_env = lambda extra=None: dict(child_env(extra), VMGMT_QEMU_IMG=os.path.join(wrap, 'qemu-img'))
        try:
            self.daemon.stop()
            self.daemon.start()
        finally:
            vmgmt_harness._child_env = child_env
        proc = subprocess.Popen([VMGMTCTL, 'snapshot-delete', 'sn6', 'e2'], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=_child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address}))
        try:
            job = self.running_job('snapshot')
            dbus.Interface(self.client.obj(job), JOB_IFACE).Cancel(opts())
            self.wait_job(job, state='cancelled')
            _, err = proc.communicate(timeout=BOOT_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('cancel', err.decode().lower())
        self.assertEqual(self.listed(dpath), [e2])
        self.assertEqual(inactive_source(), ov2)
        self.assertEqual(backing_of(ov2), base)
        self.assertFalse(holds(base, '0x33', '128k', '64k'))
        self.daemon.stop()
        self.daemon.start()

        # e2 on top: committed, the definition names base again
        self.snap(e2).Delete(opts(), timeout=BOOT_TIMEOUT)
        self.assertEqual(self.listed(dpath), [])
        self.assertEqual(inactive_source(), base)
        self.wait_gone(ov2)
        self.assertTrue(holds(base, '0x33', '128k', '64k'))

        # revert: a new overlay on the snapshot's image, the snapshot's own one kept with its later data
        self.take(dpath, "<domainsnapshot><name>e3</name></domainsnapshot>", disk_only=True)
        e3, ov3 = self.snap_path('sn6', 'e3'), os.path.join(self.fx.tmp, 'ob.e3')
        qemu_io(ov3, 'write -P 0x44 192k 64k')
        self.snap(e3).Revert(opts(), timeout=BOOT_TIMEOUT)
        new = inactive_source()
        self.assertNotIn(new, (base, ov3))
        self.assertEqual(backing_of(new), base)
        self.assertFalse(holds(new, '0x44', '192k', '64k'))
        self.assertTrue(holds(new, '0x33', '128k', '64k'))
        self.assertTrue(holds(ov3, '0x44', '192k', '64k'))
        self.assertEqual(self.client.state(dpath)[0], 'shutoff')
        # with running: started/from-snapshot, as libvirt
        self.rec.clear()
        self.snap(e3).Revert(opts(running=True), timeout=BOOT_TIMEOUT)
        self.rec.wait_domain_event(dpath, 'started', 'from-snapshot')
        self.assertEqual(self.client.state(dpath), ('running', 'from-snapshot'))
        newer = disk_source(str(self.dom(dpath).GetXML(opts())))
        self.assertNotIn(newer, (base, ov3, new))
        self.assertEqual(backing_of(newer), base)
        # the first revert's overlay, which no snapshot names, went (reverts do not pile them up)
        self.wait_gone(new)
        self.assertTrue(os.path.exists(ov3))
        self.dom(dpath).Destroy(opts())
        self.client.wait_state(dpath, 'shutoff')

    def test_redefine_rename(self):
        dpath = self.define(minimal_domain_xml('snr'))
        s = str(self.dom(dpath).CreateSnapshot("<domainsnapshot><name>m</name><description>kept</description>"
                                               "<state>running</state><creationTime>1700000000</creationTime>"
                                               "</domainsnapshot>", opts(redefine=True)))
        self.assertEqual(s, self.snap_path('snr', 'm'))
        self.assertEqual(self.sprop(s, 'CreationTime'), 1700000000)
        self.assertEqual(self.sprop(s, 'State'), 'running')
        self.assertTrue(self.sprop(s, 'IsCurrent'))
        with self.assertRaises(dbus.DBusException) as cm:
            self.dom(dpath).CreateSnapshot("<domainsnapshot><name>c</name><parent><name>nope</name></parent>"
                                           "</domainsnapshot>", opts(redefine=True))
        self.assertEqual(dbus_error_name(cm.exception), ERR_NO_SUCH_SNAPSHOT)
        # Rename moves the metadata and the objects
        self.rec.clear()
        self.dom(dpath).Rename('snr2', opts())
        moved = self.snap_path('snr2', 'm')
        self.rec.wait_for(lambda _: self.signalled('InterfacesRemoved', s) and self.signalled('InterfacesAdded', moved),
                          what='the snapshot object moving')
        dpath2 = '/org/vmgmt/domain/snr2'
        self.assertEqual(self.listed(dpath2), [moved])
        self.assertEqual(unwrap(self.client.prop(dpath2, 'CurrentSnapshot')), moved)
        sdir = os.path.join(self.daemon.config_dir, 'snapshot')
        self.assertEqual(sorted(os.listdir(sdir)), ['snr2'])
        self.daemon.kill()
        self.daemon.start()
        self.assertEqual(self.sprop(moved, 'Description'), 'kept')
        self.assertTrue(self.sprop(moved, 'IsCurrent'))

    def test_bad_input_changes_nothing(self):
        img = self.image('b.qcow2')
        raw = self.image('r.raw', fmt='raw')
        dpath = self.define(with_disk(with_disk(minimal_domain_xml('sn2'), img), raw, fmt='raw', target='vdb'))
        taken = os.path.join(self.fx.tmp, 'taken.qcow2')
        open(taken, 'w').close()
        before = self.fx.snapshot()
        cases = [
            ("<domainsnapshot><nmae>x</nmae></domainsnapshot>", {}, ERR_INVALID_XML, 'did you mean <name>'),
            ("<domainsnapshot><disks><disk name='vdz'/></disks></domainsnapshot>", {}, ERR_INVALID_ARGS,
             "no disk 'vdz'"),
            ("<domainsnapshot/>", {}, ERR_INVALID_ARGS, "Disk 'vdb' of domain 'sn2' is raw"),
            ("<domainsnapshot><memory snapshot='internal'/><disks><disk name='vdb' snapshot='no'/></disks>"
             "</domainsnapshot>", {}, ERR_INVALID_ARGS, 'not running'),
            ("<domainsnapshot><disks><disk name='vdb' snapshot='no'/></disks></domainsnapshot>",
             {'quiesce': True}, ERR_INVALID_ARGS, 'quiesce requires disk_only'),
            ("<domainsnapshot><memory snapshot='internal'/><disks><disk name='vda' snapshot='external'/>"
             "<disk name='vdb' snapshot='no'/></disks></domainsnapshot>", {}, ERR_NOT_SUPPORTED,
             'mixing internal and external targets'),
            ("<domainsnapshot><disks><disk name='vdb' snapshot='no'/></disks></domainsnapshot>",
             {'quiesce': True, 'disk_only': True}, ERR_INVALID_STATE, 'not running: quiesce needs its guest agent'),
            ("<domainsnapshot><disks><disk name='vda'><source file='%s'/></disk></disks>"
             "</domainsnapshot>" % taken, {}, ERR_ALREADY_EXISTS, 'exists already'),
        ]
        for xml, o, err, text in cases:
            with self.assertRaises(dbus.DBusException, msg=xml) as cm:
                self.dom(dpath).CreateSnapshot(xml, opts(**o))
            self.assertEqual(dbus_error_name(cm.exception), err, xml)
            self.assertIn(text, str(cm.exception), xml)
        self.assertEqual(self.fx.snapshot(), before)
        self.assertEqual(image_tags(img), [])
        # leaving the raw disk out works
        self.take(dpath, "<domainsnapshot><name>ok</name><disks><disk name='vdb' snapshot='no'/></disks>"
                           "</domainsnapshot>")
        self.assertEqual(image_tags(img), ['ok'])

    def test_live_memory_revert_and_cancel(self):
        img = self.image('g.qcow2')
        dpath = self.define(with_disk(guest_domain_xml('sn3'), img))
        qemu_io(img, 'write -P 0x33 0 64k')
        self.take(dpath, "<domainsnapshot><name>off</name></domainsnapshot>")
        off = self.snap_path('sn3', 'off')
        self.dom(dpath).Start(opts())
        self.client.wait_state(dpath, 'running')
        con = self.fx.console(dpath)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        con.send('echo one > /tmp/marker; echo W''ROTE')
        con.wait_for('WROTE', BOOT_TIMEOUT)

        # cancelled at once: the snapshot is taken back, nothing is left
        j = str(self.dom(dpath).CreateSnapshot("<domainsnapshot><name>gone</name></domainsnapshot>", opts()))
        dbus.Interface(self.client.obj(j), JOB_IFACE).Cancel(opts())
        self.wait_job(j, state='cancelled')
        self.assertEqual(self.listed(dpath), [off])
        self.assertEqual(unwrap(self.client.prop(dpath, 'CurrentSnapshot')), off)
        self.assertEqual(self.client.state(dpath)[0], 'running')
        con.send('echo still-$((40+2))')
        con.wait_for('still-42', BOOT_TIMEOUT)

        self.rec.clear()
        self.take(dpath, "<domainsnapshot><name>live</name></domainsnapshot>")
        live = self.snap_path('sn3', 'live')
        self.assertEqual(self.sprop(live, 'State'), 'running')
        self.assertIn("<memory snapshot='internal'/>", str(self.snap(live).GetXML(opts())))
        self.assertEqual(self.client.state(dpath)[0], 'running')
        # the pause qemu makes is the job's, not a user's suspend
        self.assertNotIn('suspended', [e for e, _ in self.rec.domain_events(dpath)])

        con.send('echo two > /tmp/marker; echo W''ROTE2')
        con.wait_for('WROTE2', BOOT_TIMEOUT)
        self.rec.clear()
        self.snap(live).Revert(opts(), timeout=BOOT_TIMEOUT)
        self.rec.wait_domain_event(dpath, 'started', 'from-snapshot')
        self.assertEqual(self.client.state(dpath), ('running', 'from-snapshot'))
        con.send('echo marker=$(cat /tmp/marker)')
        con.wait_for('marker=one', BOOT_TIMEOUT)

        # paused revert
        self.rec.clear()
        self.snap(live).Revert(opts(paused=True), timeout=BOOT_TIMEOUT)
        self.rec.wait_domain_event(dpath, 'suspended', 'from-snapshot')
        self.assertEqual(self.client.state(dpath)[0], 'paused')
        self.dom(dpath).Resume(opts())
        self.client.wait_state(dpath, 'running')

        # from shut off: started paused, the memory loaded, running again where it was
        self.dom(dpath).Destroy(opts())
        self.client.wait_state(dpath, 'shutoff')
        self.rec.clear()
        self.snap(live).Revert(opts(), timeout=BOOT_TIMEOUT)
        self.rec.wait_domain_event(dpath, 'started', 'from-snapshot')
        self.assertEqual(self.client.state(dpath), ('running', 'from-snapshot'))
        self.assertTrue(self.sprop(live, 'IsCurrent'))
        # the start for it is the revert's (libvirt's STARTED_FROM_SNAPSHOT), not a boot
        self.assertNotIn(('started', 'booted'), self.rec.domain_events(dpath))
        con = self.fx.console(dpath)
        con.send('echo marker=$(cat /tmp/marker)')
        con.wait_for('marker=one', BOOT_TIMEOUT)

        # delete while running: snapshot-delete
        self.snap(live).Delete(opts(), timeout=BOOT_TIMEOUT)
        self.assertEqual(self.listed(dpath), [off])
        self.assertEqual(image_tags(img), ['off'])

        # the offline snapshot while running: the domain is stopped, its disk goes back
        con.send('dd if=/dev/zero bs=512 count=128 2>/dev/null | tr "\\000" "W" | dd of=/dev/vda conv=fsync 2>/dev/null;'
                 ' sync; echo DD''DONE')
        con.wait_for('DDDONE', BOOT_TIMEOUT)
        # on the host's file before the revert (so that the revert is what brings 0x33 back)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not holds(img, '0x57', '0', '64k', shared=True):
            self.assertLess(time.monotonic(), deadline, "the guest's write did not reach the image")
            con.send('sync')
            time.sleep(0.5)
        self.rec.clear()
        self.snap(off).Revert(opts(), timeout=BOOT_TIMEOUT)
        self.assertEqual(self.client.state(dpath)[0], 'shutoff')
        self.rec.wait_domain_event(dpath, 'stopped')
        self.assertTrue(holds(img, '0x33', '0', '64k'))
        self.assertTrue(self.sprop(off, 'IsCurrent'))

    def boot_with_agent_channel(self, name, image):
        """Defines and boots the guest with disk vda on image and a guest agent channel; (path, console)."""
        agent = ("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
                 "<controller type='usb'")
        dpath = self.define(with_disk(guest_domain_xml(name), image).replace("<controller type='usb'", agent, 1))
        self.dom(dpath).Start(opts())
        self.client.wait_state(dpath, 'running')
        con = self.fx.console(dpath)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        return dpath, con

    def test_quiesced_external_with_agent(self):
        base = self.image('qa.qcow2')
        ov = os.path.join(self.fx.tmp, 'qa-ov.qcow2')
        dpath, con = self.boot_with_agent_channel('sn6', base)
        if b'vmgmt-guest agent ready' not in con.buf:
            # tools/build-guest puts one in when it finds one ($VMGMT_GUEST_AGENT, this path, or Debian's
            # package unpacked under /var/cache/vmgmt/guest-agent)
            skip_missing(os.environ.get('VMGMT_GUEST_AGENT') or '/usr/sbin/qemu-ga', 'qemu-guest-agent',
                         why='the test guest has no QEMU guest agent')
        # the real agent freezes the guest's file systems (its initramfs root and the pseudo file
        # systems cannot be frozen: it skips them) before the switch and thaws them after
        self.take(dpath, "<domainsnapshot><name>q</name><disks><disk name='vda'><source file='%s'/></disk></disks>"
                         "</domainsnapshot>" % ov, disk_only=True, quiesce=True)
        q = self.snap_path('sn6', 'q')
        self.assertEqual(self.sprop(q, 'State'), 'disk-snapshot')
        self.assertEqual(backing_of(ov), base)
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), ov)
        with open(os.path.join(self.daemon.log_dir, 'sn6.log'), errors='replace') as f:
            log = f.read()
        frozen, switched, thawed = (log.find(t) for t in ('guest file systems frozen', 'switched 1 disks to new overlays',
                                                          'guest file systems thawed'))
        self.assertTrue(0 <= frozen < switched < thawed, log[-3000:])
        # the guest runs on and writes (thawed)
        con.send("echo hi > /tmp/after && cat /tmp/after && echo WR''OTE")
        con.wait_for('WROTE', BOOT_TIMEOUT)
        self.assertEqual(self.client.state(dpath)[0], 'running')

    def test_live_external_disk_only(self):
        base = self.image('base.qcow2')
        qemu_io(base, 'write -P 0x11 0 64k')
        ov = os.path.join(self.fx.tmp, 'ov.qcow2')
        # a guest agent channel, but no qemu-ga behind it
        dpath, con = self.boot_with_agent_channel('sn4', base)

        # a test guest with qemu-ga: stopped, so that nothing answers on the channel
        con.send('touch /tmp/agent-off; killall qemu-ga 2>/dev/null; echo AGENT''-OFF')
        con.wait_for('AGENT-OFF', BOOT_TIMEOUT)
        # quiesce: the freeze gets no answer within the bound, the Job fails, nothing is taken and the
        # domain runs on (vmgmtd's loop was not blocked meanwhile: its properties answer)
        j = str(self.dom(dpath).CreateSnapshot("<domainsnapshot><name>q</name><disks><disk name='vda'><source file='%s'/>"
                                               "</disk></disks></domainsnapshot>" % ov, opts(disk_only=True, quiesce=True)))
        self.assertEqual(self.client.state(dpath)[0], 'running')
        err = self.wait_job(j, state='failed')
        self.assertIn('guest agent', err)
        self.assertIn('quiesce', err)
        self.assertFalse(os.path.exists(ov))
        self.assertEqual([f for f in os.listdir(self.fx.tmp) if f.endswith('.part')], [])
        self.assertEqual(self.listed(dpath), [])
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), base)
        self.assertEqual(self.client.state(dpath)[0], 'running')

        # an overlay that exists already is refused, nothing changes
        open(os.path.join(self.fx.tmp, 'taken.qcow2'), 'w').close()
        with self.assertRaises(dbus.DBusException) as cm:
            self.dom(dpath).CreateSnapshot("<domainsnapshot><name>x</name><disks><disk name='vda'><source file='%s/taken.qcow2'/>"
                                           "</disk></disks></domainsnapshot>" % self.fx.tmp, opts(disk_only=True))
        self.assertEqual(dbus_error_name(cm.exception), ERR_ALREADY_EXISTS)
        self.assertIn('taken.qcow2', str(cm.exception))

        self.take(dpath, "<domainsnapshot><name>ext</name><disks><disk name='vda'><source file='%s'/></disk></disks>"
                         "</domainsnapshot>" % ov, disk_only=True)
        ext = self.snap_path('sn4', 'ext')
        self.assertEqual(self.sprop(ext, 'State'), 'disk-snapshot')
        self.assertIn("<disk name='vda' snapshot='external' type='file'>", str(self.snap(ext).GetXML(opts())))
        self.assertTrue(os.path.exists(ov))
        self.assertEqual([f for f in os.listdir(self.fx.tmp) if f.endswith('.part')], [])
        info = json.loads(subprocess.run([QEMU_IMG, 'info', '-U', '--output=json', ov], stdout=subprocess.PIPE,
                                         check=True).stdout)
        self.assertEqual(info['backing-filename'], base)
        self.assertEqual(info['format'], 'qcow2')
        # the active layer is the overlay: the live and the persistent definitions name it
        self.assertIn("<source file='%s'/>" % ov, str(self.dom(dpath).GetXML(opts())))
        self.assertIn("<source file='%s'/>" % ov, str(self.dom(dpath).GetXML(opts(inactive=True))))
        self.assertEqual(self.client.state(dpath)[0], 'running')

        # what the guest writes now lands in the overlay, the base keeps what it had
        con.send("dd if=/dev/zero bs=512 count=128 2>/dev/null | tr '\\000' 'Z' | dd of=/dev/vda bs=512 seek=256 "
                 "conv=fsync 2>/dev/null; sync; echo DD''DONE")
        con.wait_for('DDDONE', BOOT_TIMEOUT)
        self.dom(dpath).Destroy(opts())
        self.client.wait_state(dpath, 'shutoff')
        self.assertTrue(holds(ov, '0x5a', '128k', '64k'))
        self.assertTrue(holds(ov, '0x11', '0', '64k'))
        self.assertTrue(holds(base, '0', '128k', '64k'))

        # deleted while shut off: the overlay is committed into the base (qemu-img commit) and goes
        self.snap(ext).Delete(opts(), timeout=BOOT_TIMEOUT)
        self.assertEqual(self.listed(dpath), [])
        self.assertTrue(holds(base, '0x5a', '128k', '64k'))
        self.assertTrue(holds(base, '0x11', '0', '64k'))
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts(inactive=True)))), base)
        self.wait_gone(ov)
        # it starts again on the base
        self.dom(dpath).Start(opts())
        self.client.wait_state(dpath, 'running')

    def test_external_memory(self):
        base = self.image('mb.qcow2')
        mem, ov = os.path.join(self.fx.tmp, 'm.mem'), os.path.join(self.fx.tmp, 'm.ov')
        dpath = self.define(with_disk(guest_domain_xml('sn6'), base))
        self.dom(dpath).Start(opts())
        self.client.wait_state(dpath, 'running')
        con = self.fx.console(dpath)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        con.send('echo one > /tmp/marker; echo W''ROTE')
        con.wait_for('WROTE', BOOT_TIMEOUT)
        xml = ("<domainsnapshot><name>%%s</name><memory snapshot='external' file='%s'/><disks><disk name='vda' "
               "snapshot='external'><source file='%s'/></disk></disks></domainsnapshot>" % (mem, ov))

        # cancelled at once: the domain runs on, no memory file, no overlay, no snapshot
        j = str(self.dom(dpath).CreateSnapshot(xml % 'gone', opts()))
        dbus.Interface(self.client.obj(j), JOB_IFACE).Cancel(opts())
        self.wait_job(j, state='cancelled')
        self.assertEqual(self.listed(dpath), [])
        self.assertFalse(os.path.exists(mem))
        self.assertFalse(os.path.exists(ov))
        self.assertEqual([f for f in os.listdir(self.fx.tmp) if f.endswith('.part')], [])
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), base)
        self.assertEqual(self.client.state(dpath)[0], 'running')
        con.send('echo still-$((40+2))')
        con.wait_for('still-42', BOOT_TIMEOUT)

        # taken: the memory file has the save header, the disk is on its overlay, the guest runs on
        self.take(dpath, xml % 'm')
        m = self.snap_path('sn6', 'm')
        self.assertEqual(self.sprop(m, 'State'), 'running')
        self.assertIn("<memory snapshot='external' file='%s'/>" % mem, str(self.snap(m).GetXML(opts())))
        with open(mem, 'rb') as f:
            self.assertEqual(f.read(16), b'VmgmtQemuSave\n\0\0')
        self.assertEqual(backing_of(ov), base)
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), ov)
        self.assertEqual(self.client.state(dpath)[0], 'running')
        con.send('echo two > /tmp/marker; echo still-$((40+3))')
        con.wait_for('still-43', BOOT_TIMEOUT)

        # the memory file is opened (as the caller) before the domain is touched: without it the revert fails
        # and the domain runs on, on the same disk
        os.rename(mem, mem + '.away')
        self.rec.clear()
        with self.assertRaises(dbus.DBusException) as e:
            self.snap(m).Revert(opts(), timeout=BOOT_TIMEOUT)
        self.assertIn('m.mem', str(e.exception))
        os.rename(mem + '.away', mem)
        self.assertEqual(self.client.state(dpath)[0], 'running')
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), ov)
        self.assertFalse(any(k == 'stopped' for k, _ in self.rec.domain_events(dpath)))

        # revert: stopped (from-snapshot), a new overlay on the snapshot's image, restored from the memory
        # file: the old marker is back and the domain runs
        self.rec.clear()
        self.snap(m).Revert(opts(), timeout=BOOT_TIMEOUT)
        self.rec.wait_domain_event(dpath, 'stopped', 'from-snapshot')
        self.rec.wait_domain_event(dpath, 'started', 'from-snapshot')
        self.assertEqual(self.client.state(dpath), ('running', 'from-snapshot'))
        src = disk_source(str(self.dom(dpath).GetXML(opts())))
        self.assertNotIn(src, (base, ov))
        self.assertEqual(backing_of(src), base)
        self.assertTrue(os.path.exists(ov))
        con = self.fx.console(dpath)
        con.send('echo marker=$(cat /tmp/marker)')
        con.wait_for('marker=one', BOOT_TIMEOUT)

        # another one on the revert's overlay, live (the CPUs run while the RAM is copied), then deleted: its
        # memory file goes, its overlay is merged as external deletes do
        mem2, ov2 = os.path.join(self.fx.tmp, 'm2.mem'), os.path.join(self.fx.tmp, 'm2.ov')
        self.take(dpath, "<domainsnapshot><name>m2</name><memory snapshot='external' file='%s'/><disks><disk "
                         "name='vda' snapshot='external'><source file='%s'/></disk></disks></domainsnapshot>"
                         % (mem2, ov2), live=True)
        m2 = self.snap_path('sn6', 'm2')
        self.assertTrue(os.path.exists(mem2))
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), ov2)
        self.snap(m2).Delete(opts(), timeout=BOOT_TIMEOUT)
        self.assertEqual(self.listed(dpath), [m])
        self.wait_gone(mem2)
        self.wait_gone(ov2)
        self.assertTrue(os.path.exists(mem))
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), src)
        self.assertEqual(self.client.state(dpath)[0], 'running')

        # one taken with the CPUs stopped and deleted right after: the merge does not wait on the memory part
        mem3, ov3 = os.path.join(self.fx.tmp, 'm3.mem'), os.path.join(self.fx.tmp, 'm3.ov')
        self.take(dpath, "<domainsnapshot><name>m3</name><memory snapshot='external' file='%s'/><disks><disk "
                         "name='vda' snapshot='external'><source file='%s'/></disk></disks></domainsnapshot>"
                         % (mem3, ov3))
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), ov3)
        self.snap(self.snap_path('sn6', 'm3')).Delete(opts(), timeout=BOOT_TIMEOUT)
        self.wait_gone(mem3)
        self.wait_gone(ov3)
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), src)
        self.assertEqual(self.client.state(dpath)[0], 'running')

        # from shut off: restored from the memory file (started/from-snapshot), the marker of then is back
        con.send('echo three > /tmp/marker; echo W''ROTE3')
        con.wait_for('WROTE3', BOOT_TIMEOUT)
        self.dom(dpath).Destroy(opts())
        self.client.wait_state(dpath, 'shutoff')
        self.rec.clear()
        self.snap(m).Revert(opts(), timeout=BOOT_TIMEOUT)
        self.rec.wait_domain_event(dpath, 'started', 'from-snapshot')
        self.assertEqual(self.client.state(dpath), ('running', 'from-snapshot'))
        # reverts do not pile up overlays: the one the first revert made, which no snapshot names, goes
        src2 = disk_source(str(self.dom(dpath).GetXML(opts())))
        self.assertNotIn(src2, (base, ov, src))
        self.assertEqual(backing_of(src2), base)
        self.wait_gone(src)
        self.assertTrue(os.path.exists(ov))
        self.assertTrue(os.path.exists(base))
        con = self.fx.console(dpath)
        con.send('echo marker=$(cat /tmp/marker)')
        con.wait_for('marker=one', BOOT_TIMEOUT)

        # of a paused domain: the snapshot says paused, its deletion merges the overlay (the disks usable
        # although the CPUs stay stopped), and the guest runs on when resumed
        self.dom(dpath).Suspend(opts())
        self.client.wait_state(dpath, 'paused')
        cur = disk_source(str(self.dom(dpath).GetXML(opts())))
        self.rec.clear()
        mem4, ov4 = os.path.join(self.fx.tmp, 'm4.mem'), os.path.join(self.fx.tmp, 'm4.ov')
        self.take(dpath, "<domainsnapshot><name>m4</name><memory snapshot='external' file='%s'/><disks><disk "
                         "name='vda' snapshot='external'><source file='%s'/></disk></disks></domainsnapshot>"
                         % (mem4, ov4))
        m4 = self.snap_path('sn6', 'm4')
        self.assertEqual(self.sprop(m4, 'State'), 'paused')
        self.assertEqual(self.client.state(dpath)[0], 'paused')
        self.assertEqual([e for e in self.rec.domain_events(dpath) if e[0] in ('resumed', 'suspended')], [])
        self.snap(m4).Delete(opts(), timeout=BOOT_TIMEOUT)
        self.wait_gone(mem4)
        self.wait_gone(ov4)
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), cur)
        self.assertEqual(self.client.state(dpath)[0], 'paused')
        self.dom(dpath).Resume(opts())
        self.client.wait_state(dpath, 'running')
        con.send('echo still-$((40+4))')
        con.wait_for('still-44', BOOT_TIMEOUT)

        # vmgmtctl: snapshot-create-as --memspec/--diskspec --live, then snapshot-revert to it
        def ctl(*args):
            r = run_vmgmtctl(self.fx.bus, *args, timeout=BOOT_TIMEOUT,
                             env={'SYSTEMD_BUS_TIMEOUT': '%ds' % BOOT_TIMEOUT})
            self.assertEqual(r.returncode, 0, '%s: %s' % (args, r.stderr))
            return r.stdout

        memc, ovc = os.path.join(self.fx.tmp, 'c.mem'), os.path.join(self.fx.tmp, 'c.ov')
        con.send('echo cli > /tmp/marker; echo W''ROTE4')
        con.wait_for('WROTE4', BOOT_TIMEOUT)
        self.assertEqual(ctl('snapshot-create-as', 'sn6', 'c', '--memspec', 'file=%s,snapshot=external' % memc,
                             '--diskspec', 'vda,snapshot=external,file=%s' % ovc, '--live'),
                         'Domain snapshot c created\n')
        with open(memc, 'rb') as f:
            self.assertEqual(f.read(16), b'VmgmtQemuSave\n\0\0')
        self.assertEqual(disk_source(str(self.dom(dpath).GetXML(opts()))), ovc)
        con.send('echo later > /tmp/marker; echo W''ROTE5')
        con.wait_for('WROTE5', BOOT_TIMEOUT)
        self.rec.clear()
        ctl('snapshot-revert', 'sn6', 'c', '--paused')
        self.rec.wait_domain_event(dpath, 'started', 'from-snapshot')
        self.assertEqual(self.client.state(dpath)[0], 'paused')
        self.dom(dpath).Resume(opts())
        con = self.fx.console(dpath)
        con.send('echo marker=$(cat /tmp/marker)')
        con.wait_for('marker=cli', BOOT_TIMEOUT)


if __name__ == '__main__':
    main()
