# Domain.Clone (issue 16, item 1): virt-clone's job on the bus. A shut-off
# domain with a qcow2 and a raw disk (each holding a marker the test wrote),
# a readonly disk and a user-mode NIC is cloned: the new domain has a new
# UUID and MAC, its writable disks are copies with identical data (the raw
# one still sparse), the readonly disk is shared, and both guests boot and
# read their markers. Linked clones are qcow2 overlays backed by the
# original; preserve_data uses the caller's files as they are; a cancel in
# the middle of a copy leaves no file and no domain; a running original is
# InvalidState, a taken name AlreadyExists, a files count mismatch
# InvalidArgs; `vmgmtctl clone` with virt-clone's flags.
#
# The cancel test makes the copy slow with qemu-img's own rate limit: vmgmtd
# runs (VMGMT_QEMU_IMG) a wrapper that adds `-r 4M` to the real qemu-img's
# convert, so the copy of 64 MiB of data takes ~16 s however loaded the
# machine is, and the Cancel surely comes while it runs.

import json
import os
import shutil
import subprocess
import tempfile
import time

import dbus

import vmgmt_harness
from vmgmt_harness import (GuestTestCase, VmgmtTestCase, guest_domain_xml, main, minimal_domain_xml, opts,
                           run_vmgmtctl)
from vmgmt_testmain import skip_missing

JOB_IFACE = 'org.vmgmt.Job'
ERR = 'org.vmgmt.Error.'
INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs'
MIB = 1024 * 1024
ORIG_MAC = '52:54:00:c1:0e:01'


def qemu_img(*args):
    return subprocess.run(['qemu-img'] + list(args), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT).stdout.decode()


def image_info(path):
    return json.loads(qemu_img('info', '-U', '--output=json', path))


def same_data(a, b):
    r = subprocess.run(['qemu-img', 'compare', '-U', a, b], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return r.returncode == 0, r.stdout.decode()


def write_raw(path, size, marker, data_mib=0):
    """A sparse raw image: marker at offset 0, data_mib MiB of 0x5a bytes from 1 MiB on."""
    with open(path, 'wb') as f:
        f.truncate(size)
        f.write(marker.encode())
        f.seek(MIB)
        chunk = b'\x5a' * MIB
        for _ in range(data_mib):
            f.write(chunk)


def disk_xml(path, dev, fmt, readonly=False):
    return ("<disk type='file' device='disk'><driver name='qemu' type='%s'/><source file='%s'/>"
            "<target dev='%s' bus='virtio'/>%s</disk>" % (fmt, path, dev, '<readonly/>' if readonly else ''))


def nic_xml(mac=ORIG_MAC):
    return "<interface type='user'><mac address='%s'/><model type='e1000'/></interface>" % mac


def sources(xml):
    """{target dev: (source file, driver type)} of a domain XML."""
    import xml.etree.ElementTree as ET
    out = {}
    for d in ET.fromstring(xml).findall('./devices/disk'):
        src, drv = d.find('source'), d.find('driver')
        out[d.find('target').get('dev')] = (src.get('file') if src is not None else None,
                                            drv.get('type') if drv is not None else None)
    return out


def macs(xml):
    import xml.etree.ElementTree as ET
    return [m.get('address') for m in ET.fromstring(xml).findall('./devices/interface/mac')]


def uuid_of(xml):
    import xml.etree.ElementTree as ET
    return ET.fromstring(xml).findtext('uuid')


class CloneBase:
    """Helpers shared by the clone tests (mixed into a VmgmtTestCase)."""

    def make_dir(self):
        for tool in ('qemu-img',):
            if not shutil.which(tool):
                skip_missing(tool, 'qemu-utils')
        self.dir = os.path.join(self.fx.tmp, 'images')
        os.makedirs(self.dir)

    def make_disks(self, name, data_mib=2):
        """NAME-root.qcow2 (vda, its marker), data.img (vdb, raw, sparse, its marker), shared.img (readonly)."""
        raw = os.path.join(self.dir, name + '-root.raw')
        write_raw(raw, 32 * MIB, 'CLONEMARK-QCOW2', min(data_mib, 16))
        qcow = os.path.join(self.dir, name + '-root.qcow2')
        qemu_img('convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow)
        os.unlink(raw)
        data = os.path.join(self.dir, 'data.img')
        write_raw(data, max(64, data_mib + 2) * MIB, 'CLONEMARK-RAW', data_mib)
        shared = os.path.join(self.dir, 'shared.img')
        write_raw(shared, 4 * MIB, 'CLONEMARK-SHARED')
        return qcow, data, shared

    def devices(self, qcow, data, shared):
        return (disk_xml(qcow, 'vda', 'qcow2') + disk_xml(data, 'vdb', 'raw') +
                disk_xml(shared, 'vdc', 'raw', readonly=True) + nic_xml())

    def job_props(self, job):
        return self.client.props(job, JOB_IFACE)

    def wait_job(self, job, timeout=300):
        deadline = time.monotonic() + timeout
        while True:
            p = self.job_props(job)
            if str(p['State']) in ('completed', 'failed', 'cancelled'):
                return p
            if time.monotonic() > deadline:
                self.fail('job %s still %s after %d s: %s' % (job, p['State'], timeout, dict(p)))
            time.sleep(0.2)

    def clone(self, path, new_name, **options):
        job = str(self.dom(path).Clone(new_name, opts(**options)))
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'completed', 'clone failed: %s' % p['Error'])
        self.assertEqual(str(p['Type']), 'clone')
        return p

    def xml(self, name):
        return str(self.dom(self.manager.GetDomain(name)).GetXML(opts(inactive=True)))

    def files(self):
        return sorted(os.listdir(self.dir))

    def domain_names(self):
        return sorted(str(n) for n in (self.client.prop(p, 'Name') for p in self.manager.ListDomains(opts())))


class Clone(CloneBase, GuestTestCase):

    def setUp(self):
        super().setUp()
        self.make_dir()

    def guest_with(self, name, devices):
        return guest_domain_xml(name).replace("<memballoon model='none'/>", devices + "<memballoon model='none'/>")

    def assert_markers(self, con, token):
        for dev, marker in (('vda', 'CLONEMARK-QCOW2'), ('vdb', 'CLONEMARK-RAW'), ('vdc', 'CLONEMARK-SHARED')):
            self.assertTrue(self.guest_says(con, 'dd if=/dev/%s bs=512 count=1 2>/dev/null | grep -q %s'
                                            % (dev, marker), '%s%s' % (token, dev)),
                            '%s does not read %s on %s' % (token, marker, dev))

    def test_clone_of_shut_off_domain_copies_disks_and_both_boot(self):
        qcow, data, shared = self.make_disks('cl-orig')
        orig = self.define(self.guest_with('cl-orig', self.devices(qcow, data, shared)))
        orig_xml = str(self.dom(orig).GetXML(opts(inactive=True)))
        p = self.clone(orig, 'cl-new')
        self.assertGreater(int(p['TotalBytes']), 0)
        self.assertEqual(int(p['ProcessedBytes']), int(p['TotalBytes']))
        self.assertEqual(str(p['Object']), orig)

        new_xml = self.xml('cl-new')
        self.assertNotEqual(uuid_of(new_xml), uuid_of(orig_xml))
        self.assertEqual(len(macs(new_xml)), 1)
        self.assertNotEqual(macs(new_xml)[0], ORIG_MAC)
        self.assertTrue(self.client.prop(self.manager.GetDomain('cl-new'), 'Persistent'))
        src = sources(new_xml)
        # virt-clone's names: the original's name in the file name becomes the new one, else -clone
        self.assertEqual(src['vda'], (os.path.join(self.dir, 'cl-new-root.qcow2'), 'qcow2'))
        self.assertEqual(src['vdb'], (os.path.join(self.dir, 'data-clone.img'), 'raw'))
        self.assertEqual(src['vdc'], (shared, 'raw'), 'a readonly disk is shared, not copied')
        self.assertEqual(image_info(src['vda'][0])['format'], 'qcow2')
        self.assertNotIn('backing-filename', image_info(src['vda'][0]))
        for a, b in ((qcow, src['vda'][0]), (data, src['vdb'][0])):
            ok, out = same_data(a, b)
            self.assertTrue(ok, '%s and %s differ: %s' % (a, b, out))
        # sparse: 64 MiB with 3 MiB of data does not take 64 MiB
        self.assertLess(os.stat(src['vdb'][0]).st_blocks * 512, 16 * MIB)
        self.assertEqual(self.files(), sorted(['cl-orig-root.qcow2', 'cl-new-root.qcow2', 'data.img',
                                               'data-clone.img', 'shared.img']))
        # the original's name is taken, and so is the clone's now
        self.assertDBusError(ERR + 'AlreadyExists', self.dom(orig).Clone, 'cl-new', opts())
        self.assertDBusError(ERR + 'AlreadyExists', self.dom(orig).Clone, 'cl-orig', opts())

        # both boot and read their disks (one after the other: two TCG boots at once on a loaded machine
        # take twice as long); the clone first, then the original, which still has everything
        new = str(self.manager.GetDomain('cl-new'))
        for path, token in ((new, 'NEW'), (orig, 'ORIG')):
            self.dom(path).Start(opts())
            self.client.wait_state(path, 'running')
            con = self.fx.console(path)
            con.wait_for(vmgmt_harness.GUEST_READY, self.BOOT_TIMEOUT)
            self.assert_markers(con, token)
            if path == new:
                self.dom(path).Destroy(opts())
                self.client.wait_state(path, 'shutoff')
        # a running original is refused, naming why, and nothing appears
        before = self.files()
        msg = self.assertDBusError(ERR + 'InvalidState', self.dom(orig).Clone, 'cl-third', opts())
        self.assertIn('shut off or paused', msg)
        self.assertEqual(self.files(), before)
        self.assertNotIn('cl-third', self.domain_names())


class CloneOffline(CloneBase, VmgmtTestCase):
    """Clones of domains that are never booted (SeaBIOS only)."""

    def setUp(self):
        super().setUp()
        self.make_dir()

    def define_orig(self, name):
        qcow, data, shared = self.make_disks(name)
        return self.define(minimal_domain_xml(name, extra_devices=self.devices(qcow, data, shared))), qcow, data

    def test_linked_clone_is_an_overlay_of_the_original(self):
        orig, qcow, data = self.define_orig('cl-link')
        a, b = os.path.join(self.dir, 'link-a.qcow2'), os.path.join(self.dir, 'link-b.qcow2')
        self.clone(orig, 'cl-linked', linked=True, files=dbus.Array([a, b], signature='s'))
        src = sources(self.xml('cl-linked'))
        self.assertEqual(src['vda'], (a, 'qcow2'))
        self.assertEqual(src['vdb'], (b, 'qcow2'))
        for overlay, base, fmt in ((a, qcow, 'qcow2'), (b, data, 'raw')):
            info = image_info(overlay)
            self.assertEqual(info['format'], 'qcow2')
            self.assertEqual(info.get('backing-filename'), base)
            self.assertEqual(info.get('backing-filename-format'), fmt)
            ok, out = same_data(base, overlay)
            self.assertTrue(ok, out)
            # an overlay holds no data of its own
            self.assertLess(os.stat(overlay).st_size, 1 * MIB)

    def test_errors_change_nothing(self):
        orig, qcow, data = self.define_orig('cl-err')
        before = (self.files(), self.domain_names())
        one = dbus.Array([os.path.join(self.dir, 'only-one.qcow2')], signature='s')
        msg = self.assertDBusError(INVALID_ARGS, self.dom(orig).Clone, 'cl-err2', opts(files=one))
        self.assertIn('2 writable disks', msg)
        self.assertDBusError(ERR + 'AlreadyExists', self.dom(orig).Clone, 'cl-err', opts())
        self.assertDBusError(INVALID_ARGS, self.dom(orig).Clone, 'cl-err2', opts(mac='nonsense'))
        self.assertDBusError(INVALID_ARGS, self.dom(orig).Clone, 'cl-err2', opts(nonsparse=True))
        self.assertDBusError(INVALID_ARGS, self.dom(orig).Clone, 'cl-err2', opts(linked=True, preserve_data=True))
        self.assertDBusError(INVALID_ARGS, self.dom(orig).Clone, 'cl/err', opts())
        # a copy that would replace an existing file
        taken = dbus.Array([data, os.path.join(self.dir, 'x.img')], signature='s')
        self.assertDBusError(ERR + 'AlreadyExists', self.dom(orig).Clone, 'cl-err2', opts(files=taken))
        self.assertEqual((self.files(), self.domain_names()), before)

    def test_preserve_data_and_mac(self):
        orig, qcow, data = self.define_orig('cl-keep')
        a, b = os.path.join(self.dir, 'keep-a.qcow2'), os.path.join(self.dir, 'keep-b.raw')
        qemu_img('create', '-q', '-f', 'qcow2', a, '8M')
        write_raw(b, 8 * MIB, 'KEEP-B')
        st = os.stat(b)
        self.clone(orig, 'cl-kept', preserve_data=True, mac='52:54:00:AB:CD:EF',
                   files=dbus.Array([a, b], signature='s'))
        xml = self.xml('cl-kept')
        self.assertEqual(sources(xml)['vda'], (a, 'qcow2'))
        self.assertEqual(sources(xml)['vdb'], (b, 'raw'))
        self.assertEqual(macs(xml), ['52:54:00:ab:cd:ef'])
        self.assertEqual(os.stat(b).st_mtime_ns, st.st_mtime_ns)
        with open(b, 'rb') as f:
            self.assertEqual(f.read(6), b'KEEP-B')

    def test_paused_original_and_pool(self):
        orig, qcow, data = self.define_orig('cl-paused')
        pooldir = os.path.join(self.fx.tmp, 'pool')
        os.makedirs(pooldir)
        pool = self.manager.DefinePool("<pool type='dir'><name>clpool</name><target><path>%s</path></target></pool>"
                                       % pooldir, opts())
        self.client.obj(pool).Start(opts(), dbus_interface='org.vmgmt.StoragePool')
        self.dom(orig).Start(opts(paused=True))
        self.client.wait_state(orig, 'paused')
        self.clone(orig, 'cl-frompaused', pool='clpool')
        src = sources(self.xml('cl-frompaused'))
        self.assertEqual(src['vda'][0], os.path.join(pooldir, 'cl-frompaused-root.qcow2'))
        self.assertEqual(src['vdb'][0], os.path.join(pooldir, 'data-clone.img'))
        self.dom(orig).Destroy(opts())
        self.client.wait_state(orig, 'shutoff')
        for a, b in ((qcow, src['vda'][0]), (data, src['vdb'][0])):
            ok, out = same_data(a, b)
            self.assertTrue(ok, out)
        # the pool knows its new volumes
        vols = self.client.obj(pool).ListVolumes(opts(), dbus_interface='org.vmgmt.StoragePool')
        names = sorted(str(self.client.prop(v, 'Name', 'org.vmgmt.StorageVolume')) for v in vols)
        self.assertEqual(names, ['cl-frompaused-root.qcow2', 'data-clone.img'])

    def test_volume_disk_is_cloned_into_its_pool(self):
        pooldir = os.path.join(self.fx.tmp, 'volpool')
        os.makedirs(pooldir)
        pool = self.manager.DefinePool("<pool type='dir'><name>volpool</name><target><path>%s</path></target></pool>"
                                       % pooldir, opts())
        qemu_img('create', '-q', '-f', 'qcow2', os.path.join(pooldir, 'sys.qcow2'), '16M')
        self.client.obj(pool).Start(opts(), dbus_interface='org.vmgmt.StoragePool')
        disk = ("<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>"
                "<source pool='volpool' volume='sys.qcow2'/><target dev='vda' bus='virtio'/></disk>")
        orig = self.define(minimal_domain_xml('cl-vol', extra_devices=disk))
        self.clone(orig, 'cl-vol2')
        import xml.etree.ElementTree as ET
        src = ET.fromstring(self.xml('cl-vol2')).find('./devices/disk/source')
        self.assertEqual((src.get('pool'), src.get('volume')), ('volpool', 'sys-clone.qcow2'))
        vols = self.client.obj(pool).ListVolumes(opts(), dbus_interface='org.vmgmt.StoragePool')
        names = sorted(str(self.client.prop(v, 'Name', 'org.vmgmt.StorageVolume')) for v in vols)
        self.assertEqual(names, ['sys-clone.qcow2', 'sys.qcow2'])
        # the clone starts on its volume
        new = str(self.manager.GetDomain('cl-vol2'))
        self.dom(new).Start(opts(paused=True))
        self.client.wait_state(new, 'paused')
        self.dom(new).Destroy(opts())
        self.client.wait_state(new, 'shutoff')

    def ctl(self, *args, ok=True):
        r = run_vmgmtctl(self.fx.bus, *args)
        if ok:
            self.assertEqual(r.returncode, 0, 'vmgmtctl %s: %s' % (' '.join(args), r.stderr))
        return r

    def test_vmgmtctl_clone(self):
        orig, qcow, data = self.define_orig('cl-cli')
        r = self.ctl('clone', '--original', 'cl-cli', '--auto-clone')
        self.assertIn("Clone 'cl-cli-clone' created successfully", r.stdout)
        src = sources(self.xml('cl-cli-clone'))
        self.assertEqual(src['vda'][0], os.path.join(self.dir, 'cl-cli-clone-root.qcow2'))
        self.assertEqual(src['vdb'][0], os.path.join(self.dir, 'data-clone.img'))
        a, b = os.path.join(self.dir, 'f1.qcow2'), os.path.join(self.dir, 'f2.img')
        self.ctl('clone', '-o', 'cl-cli', '-n', 'cl-cli2', '-f', a, '--file', b, '--mac', '52:54:00:00:00:42')
        xml = self.xml('cl-cli2')
        self.assertEqual(sources(xml)['vda'][0], a)
        self.assertEqual(sources(xml)['vdb'][0], b)
        self.assertEqual(macs(xml), ['52:54:00:00:00:42'])
        ok, out = same_data(data, b)
        self.assertTrue(ok, out)
        # linked into a pool, with the --verbose progress line, then started
        pooldir = os.path.join(self.fx.tmp, 'clipool')
        os.makedirs(pooldir)
        pool = self.manager.DefinePool("<pool type='dir'><name>clipool</name><target><path>%s</path></target></pool>"
                                       % pooldir, opts())
        self.client.obj(pool).Start(opts(), dbus_interface='org.vmgmt.StoragePool')
        r = self.ctl('clone', '--original', 'cl-cli', '--name', 'cl-cli-linked', '--linked', '--pool', 'clipool',
                     '--start', '--verbose')
        self.assertIn('Clone: [100 %]', r.stderr)
        linked = self.manager.GetDomain('cl-cli-linked')
        self.client.wait_state(linked, 'running')
        src = sources(self.xml('cl-cli-linked'))
        self.assertEqual(src['vda'], (os.path.join(pooldir, 'cl-cli-linked-root.qcow2'), 'qcow2'))
        self.assertEqual(image_info(src['vdb'][0]).get('backing-filename'), data)
        self.dom(linked).Destroy(opts())
        self.client.wait_state(linked, 'shutoff')
        # --preserve-data: the files as they are
        self.ctl('clone', '-o', 'cl-cli', '--name', 'cl-cli-kept', '--preserve-data', '-f', a, '-f', b)
        self.assertEqual(sources(self.xml('cl-cli-kept'))['vdb'][0], b)
        # virt-clone's flags vmgmt does not have are refused, and so is a missing name
        r = self.ctl('clone', '-o', 'cl-cli', '-n', 'cl-cli3', '--nonsparse', '--auto-clone', ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('--nonsparse', r.stderr)
        r = self.ctl('clone', '-o', 'cl-cli', ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('--name', r.stderr)
        r = self.ctl('clone', '-o', 'cl-cli', '-n', 'cl-cli', '--auto-clone', ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('already exists', r.stderr)
        self.assertNotIn('cl-cli3', self.domain_names())


class CloneCancel(CloneBase, VmgmtTestCase):
    """The copy runs with qemu-img's rate limit (see the top of the file)."""

    def setUp(self):
        wrapdir = tempfile.mkdtemp(prefix='vmgmt-clone-wrap-')
        self.addCleanup(shutil.rmtree, wrapdir, True)
        wrapper = os.path.join(wrapdir, 'qemu-img')
        real = shutil.which('qemu-img')
        if not real:
            skip_missing('qemu-img', 'qemu-utils')
        with open(wrapper, 'w') as f:
            f.write('#!/bin/sh\nif [ "$1" = convert ]; then shift; exec %s convert -r 4M "$@"; fi\nexec %s "$@"\n'
                    % (real, real))
        os.chmod(wrapper, 0o755)
        orig_env = vmgmt_harness._child_env

        def env(extra=None):
            e = orig_env(extra)
            e['VMGMT_QEMU_IMG'] = wrapper
            return e
        vmgmt_harness._child_env = env
        self.addCleanup(setattr, vmgmt_harness, '_child_env', orig_env)
        super().setUp()
        self.make_dir()

    def test_cancel_mid_copy_leaves_nothing(self):
        qcow, data, shared = self.make_disks('cl-slow', data_mib=64)
        orig = self.define(minimal_domain_xml('cl-slow', extra_devices=self.devices(qcow, data, shared)))
        before = (self.files(), self.domain_names())
        job = str(self.dom(orig).Clone('cl-cancelled', opts()))
        deadline = time.monotonic() + 120
        while True:
            p = self.job_props(job)
            self.assertEqual(str(p['State']), 'running', dict(p))
            if int(p['ProcessedBytes']) > 0:
                break
            self.assertLess(time.monotonic(), deadline, 'no progress: %s' % dict(p))
            time.sleep(0.1)
        self.assertLess(int(p['ProcessedBytes']), int(p['TotalBytes']))
        # the temporary of a copy is there while it runs
        self.assertTrue(any(f.endswith('.part') for f in self.files()), self.files())
        # the original's disks must not change or go meanwhile: Start, Undefine and Rename are Busy
        for call in (lambda: self.dom(orig).Start(opts()), lambda: self.dom(orig).Undefine(opts()),
                     lambda: self.dom(orig).Rename('cl-renamed', opts())):
            self.assertDBusError(ERR + 'Busy', call)
        self.assertEqual(str(self.client.state(orig)[0]), 'shutoff')
        self.client.obj(job).Cancel(opts(), dbus_interface=JOB_IFACE)
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'cancelled', dict(p))
        self.assertEqual((self.files(), self.domain_names()), before)
        self.assertDBusError(ERR + 'NoSuchDomain', self.manager.GetDomain, 'cl-cancelled')


if __name__ == '__main__':
    main()
