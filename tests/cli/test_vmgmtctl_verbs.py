# vmgmtctl's verbs and options that the other CLI tests do not run, each
# checked for its exact effect against a real vmgmtd on a private bus, real
# qemu-img, mkfs and blkid: pool-create / pool-create-as (transient, active),
# pool-define-as --source-* (the XML), pool-build --overwrite/--no-overwrite
# (an fs pool on an image file of the test), pool-list / vol-list --details,
# vol-create-as --allocation/--backing-vol-format/--print-xml, vol-resize
# --delta/--shrink/--allocate, vol-upload/vol-download --offset/--length,
# dumpxml --security-info, event --event, and console --devname on the second
# serial port and the virtio console of the booted test guest.
#
# Run: /usr/bin/python3 tests/cli/test_vmgmtctl_verbs.py

import contextlib
import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'integration'))

from vmgmt_harness import (GUEST_READY, VMGMTCTL, VmgmtTestCase, _child_env, domain_path,  # noqa: E402
                           guest_domain_xml, guest_image, main, minimal_domain_xml, opts, read_until, run_vmgmtctl)

MiB = 1 << 20
BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly


def blkid(path):
    """{TAG: value} blkid -p finds on path ({} when nothing)."""
    r = subprocess.run(['blkid', '-p', '-o', 'export', path], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, universal_newlines=True)
    return dict(ln.split('=', 1) for ln in r.stdout.splitlines() if '=' in ln)


def allocated(path):
    return os.stat(path).st_blocks * 512


def qemu_img_info(path):
    r = subprocess.run(['qemu-img', 'info', '-U', '--output=json', path], stdout=subprocess.PIPE, check=True)
    return json.loads(r.stdout)


class VerbTestCase(VmgmtTestCase):
    def ctl(self, *args, env=None, input=None, timeout=120):
        return run_vmgmtctl(self.fx.bus, *args, env=env, input=input, timeout=timeout)

    def ok(self, *args):
        """Runs vmgmtctl, asserts success and a quiet stderr; returns stdout."""
        r = self.ctl(*args)
        self.assertEqual(r.returncode, 0, 'vmgmtctl %s failed: %s' % (' '.join(args), r.stderr))
        self.assertEqual(r.stderr, '', 'vmgmtctl %s wrote to stderr' % ' '.join(args))
        return r.stdout

    def fails(self, *args):
        """Runs vmgmtctl, asserts exit code 1 and one `error: ` message; returns it."""
        r = self.ctl(*args)
        self.assertEqual(r.returncode, 1, 'vmgmtctl %s: exit %d, stdout %r, stderr %r'
                         % (' '.join(args), r.returncode, r.stdout, r.stderr))
        self.assertEqual(r.stdout, '')
        self.assertTrue(r.stderr.startswith('error: '), 'stderr: %r' % r.stderr)
        return r.stderr

    def tmpfile(self, name, data=None):
        p = os.path.join(self.fx.tmp, name)
        if data is not None:
            with open(p, 'w' if isinstance(data, str) else 'wb') as f:
                f.write(data)
        return p

    def pool_info(self, name):
        """pool-info as {key: value}."""
        return dict((k.rstrip(':'), v.strip()) for k, v in
                    (ln.split(None, 1) for ln in self.ok('pool-info', name).splitlines()))

    def pool_names(self, *flags):
        return sorted(ln.split()[0] for ln in self.ok('pool-list', *flags).splitlines()[2:] if ln.strip())

    def storage_config(self):
        """The persistent pool definitions vmgmtd keeps (file names)."""
        out = []
        for d, _, fs in os.walk(os.path.join(self.daemon.root, 'etc', 'vmgmt')):
            out += [os.path.relpath(os.path.join(d, f), self.daemon.root) for f in fs if f.endswith('.xml')]
        return sorted(out)


class Pools(VerbTestCase):
    def test_pool_create_is_transient_and_active(self):
        target = os.path.join(self.fx.tmp, 'created')
        os.makedirs(target)
        xml = self.tmpfile('created.xml', "<pool type='dir'><name>created</name>"
                           "<target><path>%s</path></target></pool>\n" % target)
        before = self.storage_config()
        self.assertEqual(self.ok('pool-create', xml), 'Pool created created from %s\n' % xml)
        info = self.pool_info('created')
        self.assertEqual((info['State'], info['Persistent'], info['Autostart']), ('running', 'no', 'no'))
        self.assertIn('created', self.pool_names())            # active without --all
        self.assertNotIn('created', self.pool_names('--inactive'))
        self.assertEqual(self.storage_config(), before, 'a transient pool was written to the config dir')
        # usable at once: a volume goes into its directory
        self.assertEqual(self.ok('vol-create-as', 'created', 'v.raw', '1M'), 'Vol v.raw created\n')
        self.assertEqual(os.path.getsize(os.path.join(target, 'v.raw')), MiB)
        # stopping a transient pool makes it go away
        self.assertEqual(self.ok('pool-destroy', 'created'), 'Pool created destroyed\n')
        self.assertIn("pool 'created'", self.fails('pool-info', 'created'))
        self.assertNotIn('created', self.pool_names('--all'))
        self.assertTrue(os.path.exists(os.path.join(target, 'v.raw')))
        # a second create of the same name while it exists is refused, nothing changes
        self.ok('pool-create', xml)
        self.assertIn('created', self.fails('pool-create', xml))
        self.assertEqual(self.pool_names('--all').count('created'), 1)

    def test_pool_create_as(self):
        target = os.path.join(self.fx.tmp, 'cas')
        os.makedirs(target)
        before = self.storage_config()
        self.assertEqual(self.ok('pool-create-as', 'cas', 'dir', '--target', target), 'Pool cas created\n')
        info = self.pool_info('cas')
        self.assertEqual((info['State'], info['Persistent']), ('running', 'no'))
        self.assertIn('<path>%s</path>' % target, self.ok('pool-dumpxml', 'cas'))
        self.assertEqual(self.storage_config(), before)
        self.ok('pool-destroy', 'cas')
        self.assertNotIn('cas', self.pool_names('--all'))
        # virsh's positional form: NAME TYPE HOST PATH DEV NAME TARGET, '-' for none
        self.assertEqual(self.ok('pool-create-as', 'cas2', 'dir', '-', '-', '-', '-', target), 'Pool cas2 created\n')
        self.assertIn('<path>%s</path>' % target, self.ok('pool-dumpxml', 'cas2'))
        self.assertEqual(self.pool_info('cas2')['Persistent'], 'no')

    def test_pool_define_as_source_options(self):
        want = ("<pool type='netfs'>\n  <name>p</name>\n  <source>\n    <host name='nfs.example'/>\n"
                "    <dir path='/export/vm'/>\n    <device path='/dev/sdz'/>\n    <name>vg0</name>\n"
                "    <format type='nfs'/>\n  </source>\n  <target>\n    <path>/srv/p</path>\n  </target>\n"
                "</pool>\n")
        for verb in ('pool-define-as', 'pool-create-as'):
            self.assertEqual(self.ok(verb, 'p', 'netfs', '--print-xml', '--source-host', 'nfs.example',
                                     '--source-path', '/export/vm', '--source-dev', '/dev/sdz', '--source-name', 'vg0',
                                     '--source-format', 'nfs', '--target', '/srv/p'), want)
            # the --name=VALUE spelling and escaping of what goes into attributes
            self.assertEqual(self.ok(verb, 'p', 'dir', '--print-xml', "--source-path=/a'b&c", '--target=/t'),
                             "<pool type='dir'>\n  <name>p</name>\n  <source>\n    <dir path='/a&apos;b&amp;c'/>\n"
                             "  </source>\n  <target>\n    <path>/t</path>\n  </target>\n</pool>\n")
        self.assertEqual(self.pool_names('--all'), ['default'], '--print-xml defined something')

        # a netfs pool from --source-host/--source-path/--source-format: defined with exactly those
        target = os.path.join(self.fx.tmp, 'nfs')
        self.assertEqual(self.ok('pool-define-as', 'nfs', 'netfs', '--source-host', 'nfs.example',
                                 '--source-path', '/export/vm', '--source-format', 'nfs', '--target', target),
                         'Pool nfs defined\n')
        root = ET.fromstring(self.ok('pool-dumpxml', 'nfs', '--inactive'))
        self.assertEqual(root.get('type'), 'netfs')
        self.assertEqual(root.find('source/host').get('name'), 'nfs.example')
        self.assertEqual(root.find('source/dir').get('path'), '/export/vm')
        self.assertEqual(root.find('source/format').get('type'), 'nfs')
        self.assertEqual(root.find('target/path').text, target)
        self.assertEqual(self.pool_info('nfs')['Persistent'], 'yes')
        # an fs pool from --source-dev (positional SOURCE-DEV: the fifth argument)
        dev = self.tmpfile('disk.img', b'')
        self.assertEqual(self.ok('pool-define-as', 'fsp', 'fs', '-', '-', dev, '-', os.path.join(self.fx.tmp, 'm'),
                                 '--source-format', 'ext4'), 'Pool fsp defined\n')
        root = ET.fromstring(self.ok('pool-dumpxml', 'fsp', '--inactive'))
        self.assertEqual(root.find('source/device').get('path'), dev)
        self.assertEqual(root.find('source/format').get('type'), 'ext4')
        # --source-name has no pool type here to apply to: refused clearly, nothing defined
        err = self.fails('pool-define-as', 'named', 'netfs', '--source-host', 'h', '--source-path', '/x',
                         '--source-name', 'vg0', '--target', os.path.join(self.fx.tmp, 'n'))
        self.assertIn('unknown element <name> in <source> (allowed: device, host, dir, format)', err)
        # and a source element the type does not take
        err = self.fails('pool-create-as', 'hosted', 'fs', '--source-dev', dev, '--source-host', 'h',
                         '--target', os.path.join(self.fx.tmp, 'h'))
        self.assertIn("<host> in <source> does not apply to a pool of type 'fs'", err)
        self.assertEqual(self.pool_names('--all'), ['default', 'fsp', 'nfs'])

    def test_pool_build_overwrite(self):
        image = self.tmpfile('fs.img')
        with open(image, 'wb') as f:
            f.truncate(32 * MiB)
        target = os.path.join(self.fx.tmp, 'fsmnt')
        self.ok('pool-define-as', 'fs', 'fs', '--source-dev', image, '--source-format', 'ext4', '--target', target)
        # no flag: the target directory only, no filesystem made
        self.assertEqual(self.ok('pool-build', 'fs'), 'Pool fs built\n')
        self.assertTrue(os.path.isdir(target))
        self.assertEqual(blkid(image), {})
        # --no-overwrite: makes one where there is none
        self.assertEqual(self.ok('pool-build', 'fs', '--no-overwrite'), 'Pool fs built\n')
        fs1 = blkid(image)
        self.assertEqual(fs1.get('TYPE'), 'ext4', fs1)
        # --no-overwrite again: refused, the filesystem stays as it was
        err = self.fails('pool-build', 'fs', '--no-overwrite')
        self.assertIn('already holds a ext4 filesystem', err)
        self.assertEqual(blkid(image)['UUID'], fs1['UUID'])
        # --overwrite: a new filesystem over the old one
        self.assertEqual(self.ok('pool-build', 'fs', '--overwrite'), 'Pool fs built\n')
        fs2 = blkid(image)
        self.assertEqual(fs2.get('TYPE'), 'ext4')
        self.assertNotEqual(fs2['UUID'], fs1['UUID'], '--overwrite did not make a new filesystem')
        # both at once: refused before anything runs
        err = self.fails('pool-build', 'fs', '--overwrite', '--no-overwrite')
        self.assertIn('exclude each other', err)
        self.assertEqual(blkid(image)['UUID'], fs2['UUID'])

    def test_pool_list_details_inactive_and_autostart_disable(self):
        on = os.path.join(self.fx.tmp, 'on')
        self.ok('pool-define-as', 'on', 'dir', '--target', on)
        self.ok('pool-build', 'on')
        self.ok('pool-start', 'on')
        self.ok('pool-define-as', 'off', 'dir', '--target', os.path.join(self.fx.tmp, 'off'))
        self.ok('vol-create-as', 'on', 'v.raw', '3M', '--allocation', '3M')
        self.assertEqual(self.pool_names('--inactive'), ['off'])
        self.assertEqual(self.pool_names(), ['default', 'on'])
        lines = self.ok('pool-list', '--all', '--details').splitlines()
        self.assertEqual(lines[0].split(), ['Name', 'State', 'Autostart', 'Persistent', 'Capacity', 'Allocation',
                                            'Available'])
        rows = {ln.split()[0]: ln.split() for ln in lines[2:] if ln.strip()}
        self.assertEqual(rows['off'], ['off', 'inactive', 'no', 'yes', '-', '-', '-'])
        on_row = rows['on']
        self.assertEqual(on_row[:4], ['on', 'active', 'no', 'yes'])
        props = self.client.props(str(self.manager.GetPool('on')), 'org.vmgmt.StoragePool')
        # the sizes are the pool's properties in virsh's "%.2f UNIT"
        self.assertEqual(' '.join(on_row[4:6]), self.pretty(props['Capacity']))
        self.assertEqual(' '.join(on_row[8:10]), self.pretty(props['Available']))
        self.assertGreaterEqual(props['Allocation'], 3 * MiB)
        # --details without --all: active pools only, still 7 columns
        lines = self.ok('pool-list', '--details').splitlines()
        self.assertEqual(sorted(ln.split()[0] for ln in lines[2:] if ln.strip()), ['default', 'on'])
        # autostart on, then --disable
        self.ok('pool-autostart', 'on')
        self.assertEqual(self.pool_info('on')['Autostart'], 'yes')
        self.assertEqual(self.ok('pool-autostart', 'on', '--disable'), 'Pool on unmarked as autostarted\n')
        self.assertEqual(self.pool_info('on')['Autostart'], 'no')
        self.assertFalse(self.client.prop(str(self.manager.GetPool('on')), 'Autostart', 'org.vmgmt.StoragePool'))

    @staticmethod
    def pretty(v):
        units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB']
        d, u = float(v), 0
        while d >= 1024.0 and u + 1 < len(units):
            d /= 1024.0
            u += 1
        return '%.2f %s' % (d, units[u])


class Volumes(VerbTestCase):
    def setUp(self):
        super().setUp()
        self.target = os.path.join(self.fx.tmp, 'vp')
        self.ok('pool-define-as', 'vp', 'dir', '--target', self.target)
        self.ok('pool-build', 'vp')
        self.ok('pool-start', 'vp')

    def vpath(self, name):
        return os.path.join(self.target, name)

    def capacity(self, name):
        p = str(self.dbus_pool().GetVolume(name))
        return self.client.prop(p, 'Capacity', 'org.vmgmt.StorageVolume')

    def dbus_pool(self):
        import dbus
        return dbus.Interface(self.client.obj(str(self.manager.GetPool('vp'))), 'org.vmgmt.StoragePool')

    def test_vol_list_details(self):
        self.ok('vol-create-as', 'vp', 'a.raw', '2M', '--allocation', '2M')
        self.ok('vol-create-as', 'vp', 'b.qcow2', '1G', '--format', 'qcow2')
        lines = self.ok('vol-list', 'vp', '--details').splitlines()
        self.assertEqual(lines[0].split(), ['Name', 'Path', 'Type', 'Capacity', 'Allocation'])
        self.assertTrue(lines[1].startswith('---'))
        rows = sorted(ln.split() for ln in lines[2:] if ln.strip())
        self.assertEqual(rows[0][:5], ['a.raw', self.vpath('a.raw'), 'file', '2.00', 'MiB'])
        self.assertEqual(rows[0][5], Pools.pretty(allocated(self.vpath('a.raw'))).split()[0])
        self.assertEqual(rows[1][:5], ['b.qcow2', self.vpath('b.qcow2'), 'file', '1.00', 'GiB'])
        self.assertEqual(len(rows), 2)
        # without --details: name and path only
        self.assertEqual(self.ok('vol-list', 'vp').splitlines()[0].split(), ['Name', 'Path'])

    def test_vol_create_as_options(self):
        # --print-xml: the XML, nothing created
        self.assertEqual(self.ok('vol-create-as', 'vp', 'x.raw', '4M', '--allocation', '1M', '--format', 'raw',
                                 '--print-xml'),
                         "<volume>\n  <name>x.raw</name>\n  <capacity unit='bytes'>4194304</capacity>\n"
                         "  <allocation unit='bytes'>1048576</allocation>\n  <target>\n"
                         "    <format type='raw'/>\n  </target>\n</volume>\n")
        self.assertFalse(os.path.exists(self.vpath('x.raw')))
        # --allocation: that much is allocated on disk; without it the file is sparse
        self.ok('vol-create-as', 'vp', 'full.raw', '8M', '--allocation', '8M')
        self.ok('vol-create-as', 'vp', 'sparse.raw', '8M')
        self.assertEqual(os.path.getsize(self.vpath('full.raw')), 8 * MiB)
        self.assertGreaterEqual(allocated(self.vpath('full.raw')), 8 * MiB)
        self.assertLess(allocated(self.vpath('sparse.raw')), MiB)
        # --backing-vol-format: the overlay names that format for its backing file, whatever the
        # backing volume's own format (a raw file read as raw here)
        self.ok('vol-create-as', 'vp', 'base.raw', '8M')
        xml = self.ok('vol-create-as', 'vp', 'top.qcow2', '8M', '--backing-vol', 'base.raw',
                      '--backing-vol-format', 'raw', '--print-xml')
        self.assertIn("<backingStore>\n    <path>%s</path>\n    <format type='raw'/>" % self.vpath('base.raw'), xml)
        self.assertIn("<format type='qcow2'/>", xml)
        self.assertEqual(self.ok('vol-create-as', 'vp', 'top.qcow2', '8M', '--backing-vol', 'base.raw',
                                 '--backing-vol-format', 'raw'), 'Vol top.qcow2 created\n')
        info = qemu_img_info(self.vpath('top.qcow2'))
        self.assertEqual(info['format'], 'qcow2')
        self.assertEqual(info['backing-filename'], self.vpath('base.raw'))
        self.assertEqual(info['backing-filename-format'], 'raw')
        xml = self.ok('vol-create-as', 'vp', 'top2.qcow2', '8M', '--backing-vol', 'top.qcow2',
                      '--backing-vol-format', 'qcow2', '--print-xml')
        self.assertIn("<path>%s</path>\n    <format type='qcow2'/>" % self.vpath('top.qcow2'), xml)

    def test_vol_resize_delta_shrink_allocate(self):
        self.ok('vol-create-as', 'vp', 'r.raw', '4M')
        # --delta: the size is added to the current one
        self.assertEqual(self.ok('vol-resize', 'r.raw', '2M', '--pool', 'vp', '--delta'),
                         "Size of volume 'r.raw' successfully changed to 2M\n")
        self.assertEqual(os.path.getsize(self.vpath('r.raw')), 6 * MiB)
        self.assertEqual(self.capacity('r.raw'), 6 * MiB)
        # smaller without --shrink: refused, unchanged
        err = self.fails('vol-resize', 'r.raw', '1M', '--pool', 'vp')
        self.assertIn('needs the shrink flag', err)
        self.assertEqual(os.path.getsize(self.vpath('r.raw')), 6 * MiB)
        # with --shrink
        self.ok('vol-resize', 'r.raw', '1M', '--pool', 'vp', '--shrink')
        self.assertEqual(os.path.getsize(self.vpath('r.raw')), MiB)
        self.assertEqual(self.capacity('r.raw'), MiB)
        # a negative delta is refused by vmgmtctl itself (give the new size)
        err = self.fails('vol-resize', 'r.raw', '--pool', 'vp', '--delta', '--shrink', '--', '-1M')
        self.assertIn('negative size', err)
        self.assertEqual(os.path.getsize(self.vpath('r.raw')), MiB)
        # growing without --allocate stays sparse; with it the new space is allocated
        self.ok('vol-resize', 'r.raw', '16M', '--pool', 'vp')
        self.assertEqual(os.path.getsize(self.vpath('r.raw')), 16 * MiB)
        self.assertLess(allocated(self.vpath('r.raw')), 2 * MiB)
        self.ok('vol-resize', 'r.raw', '8M', '--pool', 'vp', '--delta', '--allocate')
        self.assertEqual(os.path.getsize(self.vpath('r.raw')), 24 * MiB)
        self.assertGreaterEqual(allocated(self.vpath('r.raw')), 24 * MiB)
        # qcow2: --delta through qemu-img, and its shrink needs --shrink as well
        self.ok('vol-create-as', 'vp', 'q.qcow2', '64M', '--format', 'qcow2')
        self.ok('vol-resize', self.vpath('q.qcow2'), '16M', '--delta')
        self.assertEqual(qemu_img_info(self.vpath('q.qcow2'))['virtual-size'], 80 * MiB)
        self.assertIn('needs the shrink flag', self.fails('vol-resize', self.vpath('q.qcow2'), '32M'))
        self.assertEqual(qemu_img_info(self.vpath('q.qcow2'))['virtual-size'], 80 * MiB)
        self.ok('vol-resize', self.vpath('q.qcow2'), '32M', '--shrink')
        self.assertEqual(qemu_img_info(self.vpath('q.qcow2'))['virtual-size'], 32 * MiB)
        self.assertEqual(self.capacity('q.qcow2'), 32 * MiB)

    def test_vol_download_offset_length(self):
        data = bytes((i * 7 + i // 256) & 0xff for i in range(3 * MiB))
        self.ok('vol-create-as', 'vp', 'd.raw', '3M')
        src = self.tmpfile('src.bin', data)
        self.ok('vol-upload', 'd.raw', src, '--pool', 'vp')
        out = self.tmpfile('out.bin')

        def download(*args):
            self.ok('vol-download', 'd.raw', out, '--pool', 'vp', *args)
            with open(out, 'rb') as f:
                return f.read()

        def check(got, want, what):
            self.assertEqual(len(got), len(want), what)
            self.assertTrue(got == want, '%s: other bytes' % what)

        check(download('--offset', '4096', '--length', '100'), data[4096:4196], '--offset 4096 --length 100')
        check(download('--offset=1M'), data[MiB:], '--offset=1M')
        check(download('--length', '10K'), data[:10 * 1024], '--length 10K')
        # clipped at the end, and nothing from the very end
        check(download('--offset', str(3 * MiB - 5), '--length', '100'), data[-5:], 'at the end')
        check(download('--offset', str(3 * MiB)), b'', 'from the end')
        err = self.fails('vol-download', 'd.raw', out, '--pool', 'vp', '--offset', str(3 * MiB + 1))
        self.assertIn('offset beyond the end of the volume', err)

    def test_vol_upload_offset_length(self):
        old = b'\xaa' * (2 * MiB)
        self.ok('vol-create-as', 'vp', 'u.raw', '2M')
        self.ok('vol-upload', 'u.raw', self.tmpfile('old.bin', old), '--pool', 'vp')
        new = bytes(range(256)) * 8192                      # 2 MiB
        src = self.tmpfile('new.bin', new)
        # --length: only that many bytes of the file become the volume
        self.ok('vol-upload', 'u.raw', src, '--pool', 'vp', '--length', '64K')
        with open(self.vpath('u.raw'), 'rb') as f:
            self.assertTrue(f.read() == new[:64 * 1024], '--length 64K: other content')
        # --offset 0 is the whole volume as without it
        self.ok('vol-upload', 'u.raw', src, '--pool', 'vp', '--offset', '0')
        with open(self.vpath('u.raw'), 'rb') as f:
            self.assertTrue(f.read() == new)
        # an upload replaces the whole volume (through a temporary renamed into place): a
        # nonzero --offset is refused clearly, and the volume keeps its content
        self.ok('vol-upload', 'u.raw', self.tmpfile('old.bin', old), '--pool', 'vp')
        err = self.fails('vol-upload', 'u.raw', src, '--pool', 'vp', '--offset', '4096', '--length', '100')
        self.assertIn("Failed to upload to volume 'u.raw' in pool 'vp': an upload replaces the whole volume: "
                      "option offset must be 0", err)
        with open(self.vpath('u.raw'), 'rb') as f:
            self.assertTrue(f.read() == old, 'a refused upload changed the volume')


class Domains(VerbTestCase):
    def test_dumpxml_security_info(self):
        xml = minimal_domain_xml('sec', extra_devices="<graphics type='vnc' autoport='yes' passwd='s3cr3t'/>")
        self.define(xml)
        for extra in ((), ('--inactive',)):
            plain = self.ok('dumpxml', 'sec', *extra)
            secure = self.ok('dumpxml', 'sec', '--security-info', *extra)
            self.assertNotIn('s3cr3t', plain)
            g = ET.fromstring(plain).find('devices/graphics')
            self.assertIsNone(g.get('passwd'), plain)
            g = ET.fromstring(secure).find('devices/graphics')
            self.assertEqual(g.get('passwd'), 's3cr3t', secure)
            # otherwise the same document
            self.assertEqual(ET.tostring(ET.fromstring(plain)), ET.tostring(_strip(secure)))
        # a running domain: the live XML with and without the password
        self.dom(domain_path('sec')).Start(opts(paused=True))
        self.client.wait_state(domain_path('sec'), 'paused')
        self.assertNotIn('s3cr3t', self.ok('dumpxml', 'sec'))
        live = ET.fromstring(self.ok('dumpxml', 'sec', '--security-info'))
        self.assertEqual(live.get('id'), str(self.client.prop(domain_path('sec'), 'Id')))
        self.assertEqual(live.find('devices/graphics').get('passwd'), 's3cr3t')
        self.dom(domain_path('sec')).Destroy(opts())

    def test_event_type(self):
        self.define(minimal_domain_xml('evt'))
        f = self.tmpfile('evt.xml', minimal_domain_xml('evt', uuid=self.client.prop(domain_path('evt'), 'UUID')))
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address})
        proc = subprocess.Popen([VMGMTCTL, 'event', 'evt', '--event', 'lifecycle', '--timeout', '120'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        # it subscribes on its own schedule: redefine (Defined Updated) until it has seen one
        deadline = time.monotonic() + 60
        while proc.poll() is None:
            self.assertLess(time.monotonic(), deadline, 'vmgmtctl event --event lifecycle saw no event')
            self.ok('define', f)
            try:
                proc.wait(0.5)
            except subprocess.TimeoutExpired:
                pass
        out, err = proc.communicate()
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(out.decode(), "event 'lifecycle' for domain 'evt': Defined Updated\nevents received: 1\n")
        # only the lifecycle type exists
        self.assertIn("Unknown event type 'reboot'", self.fails('event', '--event', 'reboot', '--timeout', '1'))
        self.assertIn("Unknown event type 'agent-lifecycle'", self.fails('event', '--event=agent-lifecycle'))


def _strip(xml):
    root = ET.fromstring(xml)
    for g in root.iter('graphics'):
        g.attrib.pop('passwd', None)
    return root


def multi_console_xml(name):
    """The test guest with a second serial port and a virtio console (a shell on each)."""
    return guest_domain_xml(name).replace(
        "<memballoon", "<serial type='pty'><target port='1'/></serial>"
                       "<console type='pty'><target type='virtio' port='0'/></console><memballoon")


class Console(VerbTestCase):
    """console --devname with the booted guest: one boot for the class."""
    shared_daemon = True

    @classmethod
    def setUpClass(cls):
        guest_image()
        super().setUpClass()

    def wait_log(self, path, text, timeout=BOOT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(path, 'rb') as f:
                    if text.encode() in f.read():
                        return
            except FileNotFoundError:
                pass
            self.assertLess(time.monotonic(), deadline, '%r not in %s' % (text, path))
            time.sleep(0.2)

    def test_console_devname(self):
        name = 'devs'
        path = self.define(multi_console_xml(name))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        logs = self.daemon.log_dir
        self.wait_log(os.path.join(logs, name + '-console.log'), GUEST_READY)
        self.wait_log(os.path.join(logs, name + '-serial1.log'), 'vmgmt-guest ttyS1 ready', 60)
        self.wait_log(os.path.join(logs, name + '-console1.log'), 'vmgmt-guest hvc0 ready', 60)
        master, slave = pty.openpty()
        self.addCleanup(os.close, master)
        self.addCleanup(os.close, slave)
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address, 'TERM': 'xterm'})

        @contextlib.contextmanager
        def attached(*args):
            p = subprocess.Popen([VMGMTCTL] + list(args), stdin=slave, stdout=slave, stderr=slave, env=env,
                                 start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
            try:
                read_until(master, b'Escape character is ^]', 30)
                yield p
                os.write(master, b'\x1d')
                self.assertEqual(p.wait(30), 0)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()

        # each --devname reaches the shell on that device: the tty it answers on says which
        for dev, tty in (('serial1', b'/dev/ttyS1'), ('console1', b'/dev/hvc0'), ('serial0', b'/dev/ttyS0')):
            with attached('console', name, '--devname', dev):
                os.write(master, b'readlink /proc/$$/fd/0; echo %s-$((1000+234))\n' % dev.encode())
                out = read_until(master, b'%s-1234' % dev.encode(), 60)
                self.assertIn(tty, out, '--devname %s is not the shell on %s: %r' % (dev, tty, out[-300:]))
        # --devname=NAME spelling, and an unknown device is refused
        with attached('console', name, '--devname=serial1'):
            os.write(master, b'readlink /proc/$$/fd/0; echo eq-$((1000+234))\n')
            self.assertIn(b'/dev/ttyS1', read_until(master, b'eq-1234', 60))
        r = self.ctl('console', name, '--devname', 'serial7')
        self.assertEqual(r.returncode, 1)
        self.assertIn('serial7', r.stderr)
        self.dom(path).Destroy(opts())


if __name__ == '__main__':
    main()
