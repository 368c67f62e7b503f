# vmgmtctl install (virt-install's flags) against a real vmgmtd and qemu (TCG): --import of the
# busybox guest (an isohybrid image of tools/build-guest's kernel and initramfs as its disk) boots
# to its shell on the console install attaches; --cdrom of that ISO boots from it and the next
# start's definition boots the disk first; --location takes the kernel and initrd out of the ISO
# (--extra-args, --initrd-inject); --cloud-init's NoCloud seed is a cdrom the guest mounts (label
# cidata); --print-xml is accepted by libvirt's own libvirtd (virsh define) and by vmgmt; bad flags
# are refused naming the flag with nothing created, and a refused definition removes the volumes
# install made; --os-variant debian12 (or the newest Debian the OS database has) takes libosinfo's values.
#
# Run: /usr/bin/python3 tests/cli/test_vmgmtctl_install.py

import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'integration'))

from test_vmgmtctl import CtlTestCase  # noqa: E402
from vmgmt_harness import (GUEST_READY, MANAGER_IFACE, MANAGER_PATH, SOURCE_ROOT, VMGMTCTL,  # noqa: E402
                           _child_env, dbus_error_name, domain_path, guest_image, main, opts, read_until)
from vmgmt_testmain import skip_missing  # noqa: E402

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly
ISOLINUX = '/usr/lib/ISOLINUX'
SYSLINUX_BIOS = '/usr/lib/syslinux/modules/bios'
GUEST_CMDLINE = 'console=ttyS0 quiet panic=-1 no_timer_check'   # as tools/build-guest writes it


def build_boot_iso(tmp, name='boot.iso', label='VMGMTBOOT'):
    """An El Torito ISO (isolinux) that boots the busybox guest, isohybrid so that it boots as a
    disk too; the guest kernel and initrd at isolinux/vmlinuz and isolinux/initrd.img."""
    for path, pkg in ((os.path.join(ISOLINUX, 'isolinux.bin'), 'isolinux'),
                      (os.path.join(SYSLINUX_BIOS, 'ldlinux.c32'), 'syslinux-common')):
        if not os.path.exists(path):
            skip_missing(path, pkg)
    if not shutil.which('xorriso'):
        skip_missing('xorriso', 'xorriso')
    g = guest_image()
    root = os.path.join(tmp, name + '.d')
    iso_dir = os.path.join(root, 'isolinux')
    os.makedirs(iso_dir, exist_ok=True)
    shutil.copy(os.path.join(ISOLINUX, 'isolinux.bin'), iso_dir)
    shutil.copy(os.path.join(SYSLINUX_BIOS, 'ldlinux.c32'), iso_dir)
    shutil.copy(g['kernel'], os.path.join(iso_dir, 'vmlinuz'))
    shutil.copy(g['initrd'], os.path.join(iso_dir, 'initrd.img'))
    with open(os.path.join(iso_dir, 'isolinux.cfg'), 'w') as f:
        f.write('SERIAL 0 115200\nDEFAULT guest\nPROMPT 0\nTIMEOUT 1\nLABEL guest\n'
                '  KERNEL /isolinux/vmlinuz\n  APPEND initrd=/isolinux/initrd.img %s\n' % GUEST_CMDLINE)
    out = os.path.join(tmp, name)
    subprocess.run(['xorriso', '-as', 'mkisofs', '-quiet', '-o', out, '-V', label,
                    '-isohybrid-mbr', os.path.join(ISOLINUX, 'isohdpfx.bin'),
                    '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat', '-no-emul-boot',
                    '-boot-load-size', '4', '-boot-info-table', '-J', '-r', root],
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return out


class Install(CtlTestCase):
    @classmethod
    def setUpClass(cls):
        guest_image()   # build (or reuse) once, before any timing matters
        super().setUpClass()

    def setUp(self):
        super().setUp()
        # vmgmtd's own pool "default" (under the fixture's state dir), where install's volumes go
        self.pool_dir = ET.fromstring(self.ok('pool-dumpxml', 'default')).findtext('target/path')
        self.assertTrue(self.pool_dir.startswith(self.fx.tmp), self.pool_dir)

    def volumes(self):
        return sorted(n for n in os.listdir(self.pool_dir) if not n.startswith('.'))

    def domains(self):
        return self.ok('list', '--all', '--name').split()

    def spawn(self, *args):
        """vmgmtctl install … in the background: its stdin a pipe (the console's input), its
        stdout read as it comes."""
        p = subprocess.Popen([VMGMTCTL, 'install'] + list(args), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=_child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address}))
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def finish(self, p):
        out, err = p.communicate(timeout=BOOT_TIMEOUT)
        return p.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')

    def inactive_xml(self, name):
        return ET.fromstring(str(self.client.domain(domain_path(name)).GetXML(opts(inactive=True))))

    # ------------------------------------------------------------ without a guest

    def test_bad_flags_refused_naming_the_flag_and_nothing_created(self):
        iso = os.path.join(self.fx.tmp, 'x.iso')
        open(iso, 'w').close()
        base = ('--name', 'bad', '--osinfo', 'generic', '--cdrom', iso, '--network', 'none')
        cases = [
            (('--disk', 'size=abc'), '--disk size'),
            (('--disk', 'size=1,bogus=1'), "--disk: unknown option 'bogus'"),
            (('--disk', 'format=raw'), '--disk format=raw: give size='),
            (('--disk', 'size=1,bus=floppy'), 'bus=floppy'),
            (('--network', 'network=default,model=ne2k'), 'model=ne2k'),
            (('--graphics', 'spice'), '--graphics spice'),
            (('--video', 'matrox'), "--video: unknown model 'matrox'"),
            (('--memory', '0'), "--memory: invalid number '0'"),
            (('--vcpus', 'many'), "--vcpus: invalid number 'many'"),
            (('--boot', 'floppy'), "--boot: unknown 'floppy'"),
            (('--features', 'acpi=maybe'), '--features: acpi=maybe'),
            (('--console', 'file'), '--console file'),
            (('--rng', 'egd'), "--rng: 'egd'"),
            (('--tpm', 'swtpm'), "--tpm: 'swtpm'"),
            (('--virt-type', 'xen'), "--virt-type: 'xen'"),
            (('--wait', 'soon'), "--wait: 'soon'"),
            (('--cloud-init', 'vendor-data=x'), "--cloud-init: unknown option 'vendor-data'"),
            (('--import',), '--cdrom, --location and --import'),
            (('--os-variant', 'debian12'), '--os-variant and --osinfo are the same option'),
            (('--extra-args', 'x'), '--extra-args needs --location'),
            (('--initrd-inject', iso), '--initrd-inject needs --location'),
            (('--print-xml', '--dry-run'), '--print-xml and --dry-run'),
            (('--disk', 'vol=nopool', '--cpu', 'host-model'), '--disk: vol=nopool is not POOL/VOLUME'),
            (('--machine', "pc'"), '--machine'),
        ]
        for extra, words in cases:
            with self.subTest(extra=extra):
                err = self.fails('install', *(base + extra))
                self.assertIn(words, err)
        # virt-install's rule: an OS is needed unless detect=on,require=off or generic
        err = self.fails('install', '--name', 'bad', '--cdrom', iso, '--disk', 'size=1')
        self.assertIn('--os-variant/--osinfo OS name is required', err)
        err = self.fails('install', '--name', 'bad', '--osinfo', 'generic', '--import')
        self.assertIn('--import boots an existing disk', err)
        err = self.fails('install', '--name', 'bad', '--osinfo', 'generic', '--disk', 'size=1',
                         '--location', os.path.join(self.fx.tmp, 'no-such-dir'))
        self.assertIn('--location', err)
        err = self.fails('install', '--name', 'bad', '--osinfo', 'generic', '--cdrom', iso, '--disk',
                         'size=1,pool=nopool')
        self.assertIn("no storage pool 'nopool'", err)
        self.assertEqual(self.volumes(), [])
        self.assertEqual(self.domains(), [])

        # a definition vmgmtd refuses (an unknown machine type) after the disk volume was
        # made: install removes the volume again and leaves no domain
        r = self.ctl('install', '--name', 'refused', '--osinfo', 'generic', '--cdrom', iso, '--disk', 'size=0.01',
                     '--machine', 'no-such-machine', '--graphics', 'none', '--network', 'none', '--virt-type', 'qemu',
                     '--noautoconsole')
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("Removed volume refused.qcow2 of pool 'default'", r.stderr)
        self.assertEqual(self.volumes(), [])
        self.assertEqual(self.domains(), [])

    def test_dry_run_creates_nothing(self):
        iso = os.path.join(self.fx.tmp, 'x.iso')
        open(iso, 'w').close()
        ud = os.path.join(self.fx.tmp, 'user-data')
        with open(ud, 'w') as f:
            f.write('#cloud-config\n')
        out = self.ok('install', '--name', 'dry', '--osinfo', 'generic', '--memory', '200', '--vcpus', '2',
                      '--cdrom', iso, '--disk', 'size=0.01', '--disk', 'size=0.02,format=raw', '--graphics', 'none',
                      '--network', 'none', '--cloud-init', 'user-data=' + ud, '--virt-type', 'qemu', '--dry-run')
        self.assertIn("Dry run completed successfully: domain 'dry', 200 MiB, 2 vCPUs, 3 disks", out)
        self.assertEqual(self.volumes(), [])
        self.assertEqual(self.domains(), [])
        # path=DIR/FILE,size=: the volume FILE of the pool whose directory is DIR; another directory is refused
        err = self.fails('install', '--name', 'pd', '--osinfo', 'generic', '--import', '--disk',
                         'path=%s,size=0.01' % os.path.join(self.fx.tmp, 'pd.qcow2'), '--dry-run')
        self.assertIn('no active storage pool has the directory %s' % self.fx.tmp, err)
        self.ok('install', '--name', 'pd', '--osinfo', 'generic', '--memory', '64', '--import',
                '--disk', 'path=%s,size=0.01' % os.path.join(self.pool_dir, 'pd.qcow2'), '--graphics', 'none',
                '--network', 'none', '--virt-type', 'qemu', '--noautoconsole')
        self.assertEqual(self.volumes(), ['pd.qcow2'])
        self.assertEqual(self.inactive_xml('pd').find('devices/disk/source').get('file'),
                         os.path.join(self.pool_dir, 'pd.qcow2'))
        self.ok('destroy', 'pd')
        # a name that is taken is refused before anything is made
        self.define_file('dry')
        err = self.fails('install', '--name', 'dry', '--osinfo', 'generic', '--cdrom', iso, '--dry-run')
        self.assertIn("a domain 'dry' exists already", err)

    def test_tpm_emulator_runs_and_undefine_keeps_or_removes_its_state(self):
        if not shutil.which('swtpm_setup', path='/usr/sbin:/usr/bin:/sbin:/bin'):
            skip_missing('swtpm_setup', 'swtpm-tools')
        for name, keep in (('tpk', True), ('tpr', False)):
            self.ok('install', '--name', name, '--osinfo', 'generic', '--memory', '64', '--import', '--machine', 'q35',
                    '--disk', 'path=%s,size=0.01' % os.path.join(self.pool_dir, name + '.qcow2'), '--graphics', 'none',
                    '--network', 'none', '--virt-type', 'qemu', '--tpm', 'emulator', '--noautoconsole')
            tpm = self.inactive_xml(name).find('devices/tpm')
            self.assertEqual(tpm.get('model'), 'tpm-crb')   # q35's
            self.assertEqual((tpm.find('backend').get('type'), tpm.find('backend').get('version')), ('emulator', '2.0'))
            self.assertEqual(self.client.state(domain_path(name))[0], 'running')
            uuid = str(self.client.prop(domain_path(name), 'UUID'))
            state = os.path.join(self.daemon.root, 'var', 'lib', 'vmgmt', 'swtpm', uuid)
            self.assertTrue(os.path.exists(os.path.join(state, 'tpm2', 'tpm2-00.permall')))
            self.ok('destroy', name)
            if keep:
                self.ok('undefine', name, '--keep-tpm')
            else:
                self.ok('undefine', name)
            self.assertEqual(os.path.exists(state), keep)

    def print_xml(self, *extra):
        iso = os.path.join(self.fx.tmp, 'media.iso')
        open(iso, 'w').close()
        out = self.ok('install', '--name', 'px', '--osinfo', 'generic', '--memory', '300', '--vcpus', '2',
                      '--virt-type', 'qemu', '--machine', 'pc', '--cdrom', iso, '--disk', 'size=0.01,bus=virtio',
                      '--disk', 'path=%s,device=cdrom' % iso,
                      '--network', 'type=user,model=virtio,mac=52:54:00:12:34:56',
                      '--graphics', 'vnc,listen=127.0.0.1,port=5905', '--video', 'vga',
                      '--console', 'pty,target_type=serial', '--rng', '/dev/urandom',
                      '--features', 'acpi=on,apic=on,pae=on', '--cpu', 'qemu64', *extra, '--print-xml')
        docs = [d + '</domain>\n' for d in out.split('</domain>\n') if d.strip()]
        self.assertEqual(len(docs), 2, out)   # the first boot's (cdrom first) and the installed one's
        return docs

    def test_print_xml(self):
        install, final = self.print_xml()
        for text in (install, final):
            root = ET.fromstring(text)
            self.assertEqual(root.get('type'), 'qemu')
            self.assertEqual(root.findtext('name'), 'px')
            self.assertEqual(root.findtext('memory'), '300')
            self.assertEqual(root.findtext('vcpu'), '2')
            self.assertEqual(root.find('os/type').get('machine'), 'pc')
            disks = root.findall('devices/disk')
            self.assertEqual([(d.get('device'), d.find('target').get('dev'), d.find('target').get('bus'))
                              for d in disks],
                             [('disk', 'vda', 'virtio'), ('cdrom', 'hda', 'ide'), ('cdrom', 'hdb', 'ide')])
            # the volume it would make: in the pool's directory, named after the domain
            self.assertEqual(disks[0].find('source').get('file'), os.path.join(self.pool_dir, 'px.qcow2'))
            self.assertEqual(root.find('devices/interface/mac').get('address'), '52:54:00:12:34:56')
            self.assertEqual(root.find('devices/graphics').get('port'), '5905')
            self.assertEqual(root.find('devices/graphics').get('listen'), '127.0.0.1')
            self.assertEqual(root.find('devices/rng/backend').text, '/dev/urandom')
            self.assertEqual(root.find('cpu/model').text, 'qemu64')
            self.assertIsNotNone(root.find('features/pae'))
        self.assertEqual([b.get('dev') for b in ET.fromstring(install).findall('os/boot')], ['cdrom', 'hd'])
        self.assertEqual(ET.fromstring(install).findtext('on_reboot'), 'destroy')
        self.assertEqual([b.get('dev') for b in ET.fromstring(final).findall('os/boot')], ['hd'])
        self.assertEqual(ET.fromstring(final).findtext('on_reboot'), 'restart')
        # nothing was made
        self.assertEqual(self.volumes(), [])
        self.assertEqual(self.domains(), [])
        # without --virt-type: what the host's domain capabilities offer
        out = self.ok('install', '--name', 'vt', '--osinfo', 'generic', '--import', '--disk', 'path=/dev/null',
                      '--print-xml')
        self.assertEqual(ET.fromstring(out).get('type'), 'kvm' if os.access('/dev/kvm', os.R_OK | os.W_OK) else 'qemu')
        # virt-install's default: the network "default" when there is one, else user networking (none here)
        self.assertEqual(ET.fromstring(out).find('devices/interface').get('type'), 'user')
        out = self.ok('install', '--name', 'vt', '--osinfo', 'generic', '--import', '--disk', 'path=/dev/null',
                      '--network', 'network=default,model=e1000', '--network', 'bridge=br7', '--print-xml')
        self.assertEqual([(i.get('type'), i.find('source').attrib, i.find('model').get('type'))
                          for i in ET.fromstring(out).findall('devices/interface')],
                         [('network', {'network': 'default'}, 'e1000'), ('bridge', {'bridge': 'br7'}, 'e1000')])
        # UEFI: a pflash loader (the host's from its domain capabilities, or loader=)
        out = self.ok('install', '--name', 'vt', '--osinfo', 'generic', '--import', '--disk', 'path=/dev/null',
                      '--boot', 'uefi,loader=/usr/share/OVMF/OVMF_CODE_4M.fd,hd,menu=on', '--print-xml')
        loader = ET.fromstring(out).find('os/loader')
        self.assertEqual((loader.text, loader.get('type'), loader.get('readonly')),
                         ('/usr/share/OVMF/OVMF_CODE_4M.fd', 'pflash', 'yes'))
        self.assertEqual(ET.fromstring(out).find('os/bootmenu').get('enable'), 'yes')
        # --boot uefi alone: firmware autoselection, as virt-install 4 writes it
        if os.path.isdir('/usr/share/qemu/firmware'):
            out = self.ok('install', '--name', 'vt', '--osinfo', 'generic', '--import', '--disk', 'path=/dev/null',
                          '--boot', 'uefi', '--print-xml')
            self.assertEqual(ET.fromstring(out).find('os').get('firmware'), 'efi')
            self.assertIsNone(ET.fromstring(out).find('os/loader'))

        # vmgmt defines both, and keeps what they say
        for text in (install, final):
            path = self.client.manager.DefineDomain(text, opts())
            got = ET.fromstring(str(self.client.domain(path).GetXML(opts(inactive=True))))
            self.assertEqual(got.findtext('name'), 'px')
            self.assertEqual(int(got.findtext('memory')), 300 * 1024)
            self.assertEqual([d.find('target').get('dev') for d in got.findall('devices/disk')], ['vda', 'hda', 'hdb'])
            self.assertEqual([b.get('dev') for b in got.findall('os/boot')],
                             [b.get('dev') for b in ET.fromstring(text).findall('os/boot')])
            self.client.domain(path).Undefine(opts())

    def test_print_xml_accepted_by_libvirt(self):
        validate = shutil.which('virt-xml-validate')
        if not validate:
            skip_missing('virt-xml-validate', 'libvirt-clients')
        # --tpm: libvirt's schema takes it (its libvirtd defines a TPM only with swtpm installed)
        for i, text in enumerate(self.print_xml('--tpm', 'emulator')):
            self.assertIn("<tpm model='tpm-tis'>", text)
            f = os.path.join(self.fx.tmp, 'tpm-%d.xml' % i)
            with open(f, 'w') as fh:
                fh.write(text)
            r = subprocess.run([validate, f, 'domain'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.assertEqual(r.returncode, 0, r.stdout.decode())
        install, final = self.print_xml()
        # --boot uefi: <os firmware='efi'>, which libvirt resolves from the same descriptors
        efi = self.print_xml('--boot', 'uefi')[1] if os.path.isdir('/usr/share/qemu/firmware') else None
        sys.path.insert(0, os.path.join(SOURCE_ROOT, 'benchmarks'))
        try:
            import savebench   # libvirt's own libvirtd in a mount namespace of its own
        except ImportError as e:
            skip_missing('benchmarks/savebench.py', why='it cannot be imported: %s' % e)
        if not os.path.exists('/usr/sbin/libvirtd'):
            skip_missing('/usr/sbin/libvirtd', 'libvirt-daemon')
        lv = savebench.Libvirtd(self.fx.tmp)
        self.addCleanup(lv.stop)
        for i, text in enumerate((install, final) + ((efi,) if efi else ())):
            f = os.path.join(self.fx.tmp, 'px-%d.xml' % i)
            with open(f, 'w') as fh:
                fh.write(text)
            r = subprocess.run([validate, f, 'domain'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.assertEqual(r.returncode, 0, r.stdout.decode())
            r = lv.virsh('define', f, check=False)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = lv.virsh('dumpxml', '--inactive', 'px', check=False)
            self.assertEqual(r.returncode, 0, r.stderr)
            got = ET.fromstring(r.stdout)
            self.assertEqual(int(got.findtext('memory')), 300 * 1024)
            self.assertEqual([d.find('target').get('dev') for d in got.findall('devices/disk')], ['vda', 'hda', 'hdb'])
            self.assertEqual([b.get('dev') for b in got.findall('os/boot')],
                             [b.get('dev') for b in ET.fromstring(text).findall('os/boot')])
            if text is efi:
                self.assertEqual(got.find('os').get('firmware'), 'efi')
            lv.virsh('undefine', '--nvram', 'px')

    # ------------------------------------------------------------ with the guest

    def test_import_boots_to_the_shell_on_the_attached_console(self):
        iso = build_boot_iso(self.fx.tmp)
        p = self.spawn('--name', 'imp', '--osinfo', 'generic', '--memory', '128', '--import',
                       '--disk', 'path=%s,format=raw,bus=ide' % iso, '--graphics', 'none', '--network', 'none',
                       '--virt-type', 'qemu', '--wait', '10')
        buf = read_until(p.stdout.fileno(), GUEST_READY.encode(), BOOT_TIMEOUT)
        self.assertIn(b"Connected to domain 'imp'", buf)
        # the console is the guest's shell: a command's output comes back on install's stdout
        p.stdin.write(b"echo RE''PLY-$((6*7))\n")
        p.stdin.flush()
        read_until(p.stdout.fileno(), b'REPLY-42', BOOT_TIMEOUT, buf)
        self.assertEqual(self.client.state(domain_path('imp'))[0], 'running')
        p.stdin.write(b'poweroff -f\n')
        p.stdin.flush()
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        # the console ends with the guest; --wait then sees it shut off
        self.assertIn('Domain has shutdown. Continuing.', out)
        self.assertIn('Domain creation completed.', out)
        self.assertEqual(self.client.state(domain_path('imp'))[0], 'shutoff')
        self.assertEqual(self.volumes(), [])   # --import made no volume

    def test_boot_uefi_boots_under_ovmf(self):
        if not os.path.isdir('/usr/share/qemu/firmware'):
            skip_missing('/usr/share/qemu/firmware', 'ovmf')
        g = guest_image()
        iso = build_boot_iso(self.fx.tmp)
        # direct kernel boot works under OVMF (isolinux does not): the guest's kernel, its disk as --import
        p = self.spawn('--name', 'ue', '--osinfo', 'generic', '--memory', '256', '--import',
                       '--disk', 'path=%s,format=raw,bus=ide' % iso, '--graphics', 'none', '--network', 'none',
                       '--boot', 'uefi,kernel=%s,initrd=%s,cmdline=%s' % (g['kernel'], g['initrd'], g['cmdline']),
                       '--virt-type', 'qemu', '--noautoconsole')
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        path = domain_path('ue')
        self.assertEqual(self.inactive_xml('ue').find('os').get('firmware'), 'efi')
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        con.send("test -d /sys/firmware/efi && echo U''EFI-YES || echo U''EFI-NO")
        con.wait_for('UEFI-YES', BOOT_TIMEOUT)
        live = ET.fromstring(str(self.client.domain(path).GetXML(opts())))
        self.assertEqual(live.find('os/loader').get('type'), 'pflash')
        self.client.domain(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.client.domain(path).Undefine(opts(nvram=True))

    def test_cdrom_boots_from_the_iso_then_the_disk_is_first(self):
        iso = build_boot_iso(self.fx.tmp)
        p = self.spawn('--name', 'cd', '--osinfo', 'detect=on,require=off', '--memory', '128', '--cdrom', iso,
                       '--disk', 'size=0.01', '--graphics', 'none', '--network', 'none', '--virt-type', 'qemu',
                       '--noautoconsole', '--wait', '10')
        path = domain_path('cd')
        self.client.wait_state(path, 'running', timeout=BOOT_TIMEOUT)
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        live = ET.fromstring(str(self.client.domain(path).GetXML(opts())))
        self.assertEqual([b.get('dev') for b in live.findall('os/boot')], ['cdrom', 'hd'])
        con.send('poweroff -f')
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        self.assertIn('Domain has shutdown. Continuing.', out)
        self.assertIn('Domain creation completed.', out)
        self.assertEqual(self.volumes(), ['cd.qcow2'])
        # the definition of the next start: the disk first, a reboot restarts
        x = self.inactive_xml('cd')
        self.assertEqual([b.get('dev') for b in x.findall('os/boot')], ['hd'])
        self.assertEqual(x.findtext('on_reboot'), 'restart')
        self.assertEqual(x.find("devices/disk[@device='disk']/source").get('file'),
                         os.path.join(self.pool_dir, 'cd.qcow2'))

    def test_location_iso_with_extra_args_and_initrd_inject(self):
        iso = build_boot_iso(self.fx.tmp)
        marker = os.path.join(self.fx.tmp, 'vmgmt-injected')
        with open(marker, 'w') as f:
            f.write('injected-by-install\n')
        p = self.spawn('--name', 'loc', '--osinfo', 'generic', '--memory', '128', '--location', iso,
                       '--extra-args', GUEST_CMDLINE, '--initrd-inject', marker, '--disk', 'size=0.01',
                       '--graphics', 'none', '--network', 'none', '--virt-type', 'qemu', '--noautoconsole')
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        self.assertIn("Domain 'loc' is running", out)
        path = domain_path('loc')
        live = ET.fromstring(str(self.client.domain(path).GetXML(opts())))
        self.assertEqual(live.findtext('os/cmdline'), GUEST_CMDLINE)
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        con.send("cat /vmgmt-injected; echo DO''NE")
        con.wait_for('injected-by-install')
        con.wait_for('DONE')
        # the next start boots the disk: no kernel; the kernel and initrd volumes are gone
        x = self.inactive_xml('loc')
        self.assertIsNone(x.find('os/kernel'))
        self.assertEqual([b.get('dev') for b in x.findall('os/boot')], ['hd'])
        self.assertEqual(self.volumes(), ['loc.qcow2'])

    def test_cloud_init_seed_is_a_cdrom_the_guest_sees(self):
        g = guest_image()
        ud = os.path.join(self.fx.tmp, 'ud')
        with open(ud, 'w') as f:
            f.write('#cloud-config\n# vmgmt-seed-marker\n')
        key = os.path.join(self.fx.tmp, 'id.pub')
        with open(key, 'w') as f:
            f.write('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIvmgmttestkey test@vmgmt\n')
        # root-ssh-key cannot go with user-data
        err = self.fails('install', '--name', 'ci', '--osinfo', 'generic', '--boot', 'kernel=' + g['kernel'],
                         '--cloud-init', 'user-data=%s,root-ssh-key=%s' % (ud, key))
        self.assertIn('user-data= and root-ssh-key= cannot be combined', err)
        p = self.spawn('--name', 'ci', '--osinfo', 'generic', '--memory', '128',
                       '--boot', 'kernel=%s,initrd=%s,cmdline="%s"' % (g['kernel'], g['initrd'], GUEST_CMDLINE),
                       '--extra-args', 'vmgmt.cdrom', '--cloud-init', 'user-data=%s' % ud,
                       '--graphics', 'none', '--network', 'none', '--virt-type', 'qemu', '--noautoconsole')
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        self.assertIn("Uploaded", out)
        self.assertEqual(self.volumes(), ['ci-cidata.iso'])
        path = domain_path('ci')
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        # the volume id (ISO 9660's primary descriptor, sector 16, at byte 40)
        con.send("echo LABEL=$(dd if=/dev/sr0 bs=1 skip=32808 count=32 2>/dev/null); echo DO''NE")
        con.wait_for('DONE')
        self.assertIn('LABEL=cidata\r\n', con.buf.decode('utf-8', 'replace'))
        con.send("mkdir -p /seed && mount -t iso9660 -o ro /dev/sr0 /seed && cat /seed/user-data /seed/meta-data; "
                 "echo SE''EN")
        con.wait_for('vmgmt-seed-marker')
        con.wait_for('instance-id: ci')
        con.wait_for('SEEN')
        x = self.inactive_xml('ci')
        self.assertEqual(x.find("devices/disk[@device='cdrom']/source").get('file'),
                         os.path.join(self.pool_dir, 'ci-cidata.iso'))

        # root-ssh-key: a user-data of its own that gives root the key, and a meta-data naming the domain
        out = self.ok('install', '--name', 'ci2', '--osinfo', 'generic', '--memory', '128',
                      '--boot', 'kernel=%s,initrd=%s' % (g['kernel'], g['initrd']),
                      '--cloud-init', 'root-ssh-key=' + key, '--graphics', 'none', '--network', 'none',
                      '--virt-type', 'qemu', '--noautoconsole')
        self.assertEqual(self.volumes(), ['ci-cidata.iso', 'ci2-cidata.iso'])
        seed = {}
        for n in ('user-data', 'meta-data'):
            dst = os.path.join(self.fx.tmp, 'ci2-' + n)
            subprocess.run(['xorriso', '-osirrox', 'on', '-indev', os.path.join(self.pool_dir, 'ci2-cidata.iso'),
                            '-extract', '/' + n, dst], check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            with open(dst) as f:
                seed[n] = f.read()
        self.assertTrue(seed['user-data'].startswith('#cloud-config\n'), seed['user-data'])
        self.assertIn('  - name: root\n    ssh_authorized_keys:\n      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIvmgmttestkey '
                      'test@vmgmt\n', seed['user-data'])
        self.assertEqual(seed['meta-data'], 'instance-id: ci2\nlocal-hostname: ci2\n')
        self.ok('destroy', 'ci2')
        # meta-data= of the caller's
        md = os.path.join(self.fx.tmp, 'md')
        with open(md, 'w') as f:
            f.write('instance-id: iid-of-mine\n')
        self.ok('install', '--name', 'ci3', '--osinfo', 'generic', '--memory', '128', '--boot', 'kernel=' + g['kernel'],
                '--cloud-init', 'user-data=%s,meta-data=%s' % (ud, md), '--graphics', 'none', '--network', 'none',
                '--virt-type', 'qemu', '--noautoconsole')
        dst = os.path.join(self.fx.tmp, 'ci3-meta-data')
        subprocess.run(['xorriso', '-osirrox', 'on', '-indev', os.path.join(self.pool_dir, 'ci3-cidata.iso'),
                        '-extract', '/meta-data', dst], check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        with open(dst) as f:
            self.assertEqual(f.read(), 'instance-id: iid-of-mine\n')
        self.ok('destroy', 'ci3')

    # ------------------------------------------------------------ libosinfo (needs Manager.GetOSInfo)

    def debian_variant(self):
        """debian12 where the OS database has it; else the newest Debian it has (bookworm's osinfo-db,
        20221130, predates Debian 12)."""
        listing = self.client.call(MANAGER_PATH, MANAGER_IFACE, 'ListOSInfo', 'a{sv}', {'distro': 'debian'})
        ids = [str(e['short_id']) for e in listing if str(e.get('release_date', ''))]
        self.assertTrue(ids, 'the OS database has no released Debian')
        return 'debian12' if 'debian12' in ids else ids[0]

    def test_os_variant_takes_libosinfo_values(self):
        variant = self.debian_variant()
        try:
            info = self.client.call(MANAGER_PATH, MANAGER_IFACE, 'GetOSInfo', 's', variant)
        except Exception as e:   # noqa: BLE001
            if dbus_error_name(e) == 'org.freedesktop.DBus.Error.UnknownMethod':
                # install says so, and what to do instead
                for args in (('--os-variant', variant), ('--osinfo', 'list')):
                    err = self.fails('install', '--name', 'x', *args, '--import', '--disk', 'path=/dev/null')
                    self.assertIn('This vmgmtd has no OS database (Manager.', err)
                    self.assertIn('use --osinfo generic', err)
                self.assertEqual(self.domains(), [])
                skip_missing('Manager.GetOSInfo', why='this vmgmtd has no OS database (libosinfo: part-osinfo)')
            raise
        rec = dict(info.get('recommended', {}))
        mn = dict(info.get('minimum', {}))
        ram = int(rec.get('ram') or mn.get('ram') or 1024 * 1024 * 1024)
        vcpus = int(rec.get('vcpus') or mn.get('vcpus') or 1)
        storage = int(rec.get('storage') or mn.get('storage') or 10 * 1024 ** 3)
        listing = self.ok('install', '--osinfo', 'list')
        self.assertRegex(listing, r'(?m)^ *%s ' % re.escape(variant))
        iso = os.path.join(self.fx.tmp, 'x.iso')
        open(iso, 'w').close()
        out = self.ok('install', '--name', 'd12', '--os-variant', variant, '--cdrom', iso, '--graphics', 'none',
                      '--network', 'type=user', '--virt-type', 'qemu', '--print-xml')
        root = ET.fromstring(out.split('</domain>\n')[0] + '</domain>\n')
        self.assertEqual(int(root.findtext('memory')), ram // (1024 * 1024))
        self.assertEqual(int(root.findtext('vcpu')), vcpus)
        if info.get('virtio'):
            self.assertEqual(root.find("devices/disk[@device='disk']/target").get('bus'), 'virtio')
            self.assertEqual(root.find('devices/interface/model').get('type'), 'virtio')
        self.assertEqual(root.find('os/type').get('machine'), 'q35' if info.get('q35') else 'pc')
        # the disk it makes has the recommended size (a sparse qcow2)
        out = self.ok('install', '--name', 'd12', '--os-variant', variant, '--cdrom', iso, '--memory', '128',
                      '--graphics', 'none', '--network', 'none', '--virt-type', 'qemu', '--noautoconsole')
        self.assertIn("Allocated d12.qcow2", out)
        info_out = self.ok('vol-info', '--pool', 'default', 'd12.qcow2')
        self.assertIn('Capacity:       %.2f GiB' % (storage / 1024 ** 3), info_out)
        self.ok('destroy', 'd12')
        err = self.fails('install', '--name', 'x', '--os-variant', 'no-such-os-1', '--cdrom', iso, '--dry-run')
        self.assertIn("unknown OS 'no-such-os-1'", err)
        self.assertIn('--osinfo list', err)


if __name__ == '__main__':
    main()
