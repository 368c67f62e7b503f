# UEFI (issue 16's --boot uefi and clone's NVRAM, issue 21's <os firmware> and
# <nvram>): the busybox guest boots under OVMF (Debian's ovmf, real firmware
# descriptors in /usr/share/qemu/firmware) with <os firmware='efi'> under TCG
# and sees /sys/firmware/efi; the live XML shows the firmware chosen; the
# per-domain variable store exists at vmgmt's default path, is a copy of the
# template (not the template itself), is handed to qemu as pflash unit 1 and
# survives a restart (a variable the guest's firmware wrote stays);
# reset_nvram makes it anew; undefine refuses while it exists unless nvram
# (removed) or keep_nvram (kept); rename moves it; a clone gets a copy of its
# own; secure boot is refused clearly on i440fx.

import hashlib
import os
import time
import xml.etree.ElementTree as ET

import dbus

from vmgmt_harness import GuestTestCase, guest_domain_xml, main, opts, run_vmgmtctl
from vmgmt_testmain import skip_missing

CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd'
VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd'
DESCRIPTORS = '/usr/share/qemu/firmware'


def sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def efi_xml(name, machine='pc', extra_os=''):
    xml = guest_domain_xml(name, machine=machine, memory_mib=256)   # OVMF and the guest's kernel: 128 MiB are too few
    return xml.replace("<os><type", "<os firmware='efi'><type", 1).replace("</type>", "</type>" + extra_os, 1)


class Uefi(GuestTestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(CODE) or not os.path.isdir(DESCRIPTORS):
            skip_missing(CODE, 'ovmf')
        super().setUpClass()

    def nvram_dir(self):
        return os.path.join(self.daemon.root, 'var', 'lib', 'vmgmt', 'qemu', 'nvram')

    def store(self, name):
        return os.path.join(self.nvram_dir(), '%s_VARS.fd' % name)

    def live_os(self, path):
        return ET.fromstring(str(self.dom(path).GetXML(opts()))).find('os')

    def error_name(self, fn):
        try:
            fn()
        except dbus.DBusException as e:
            return e.get_dbus_name(), e.get_dbus_message()
        self.fail('no error')

    def stop(self, path):
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')

    def test_efi_boot_nvram_lifecycle(self):
        path, con = self.boot('u1', xml=efi_xml('u1'))
        # the guest runs on UEFI firmware
        self.assertTrue(self.guest_says(con, 'test -d /sys/firmware/efi', 'EFI'))

        # the live XML shows what was chosen: the non-secure descriptor (i440fx has no SMM)
        os_el = self.live_os(path)
        self.assertEqual(os_el.get('firmware'), 'efi')
        loader, nvram = os_el.find('loader'), os_el.find('nvram')
        self.assertEqual((loader.text, loader.get('type'), loader.get('readonly')), (CODE, 'pflash', 'yes'))
        self.assertEqual(nvram.get('template'), VARS)
        self.assertEqual(nvram.text, self.store('u1'))
        feats = {f.get('name'): f.get('enabled') for f in os_el.findall('firmware/feature')}
        self.assertEqual(feats, {'secure-boot': 'no', 'enrolled-keys': 'no'})
        # the inactive definition keeps asking for autoselection
        inactive = ET.fromstring(str(self.dom(path).GetXML(opts(inactive=True)))).find('os')
        self.assertIsNone(inactive.find('loader'))
        self.assertIsNone(inactive.find('nvram'))

        # the store: a file of its own, made from the template, qemu's pflash unit 1
        st = self.store('u1')
        self.assertTrue(os.path.isfile(st))
        self.assertEqual(os.path.getsize(st), os.path.getsize(VARS))
        self.assertNotEqual(os.stat(st).st_ino, os.stat(VARS).st_ino)
        self.assertEqual(os.stat(st).st_mode & 0o777, 0o600)
        self.assertIn('unit=1', ' '.join(self._qemu_cmdline()))

        # the guest's firmware writes its variables there (boot entries, the console, …):
        # after a stop the store differs from the template, and a restart keeps it
        self.stop(path)
        written = sha(st)
        self.assertNotEqual(written, sha(VARS))
        path, con = self.boot('u1', xml=efi_xml('u1'))
        self.assertTrue(self.guest_says(con, 'test -d /sys/firmware/efi', 'EFI2'))
        self.stop(path)
        self.assertTrue(os.path.isfile(st))

        # reset_nvram: made anew from the template (the firmware then writes it again, so
        # compare its inode: a new file took its place)
        ino = os.stat(st).st_ino
        run_vmgmtctl(self.fx.bus, 'start', 'u1', '--reset-nvram', check=True)
        self.client.wait_state(path, 'running')
        self.assertNotEqual(os.stat(st).st_ino, ino)
        self.stop(path)

        # rename moves the store with the domain
        self.dom(path).Rename('u1b', opts())
        path = self.client.domain('u1b').object_path
        self.assertFalse(os.path.exists(st))
        st = self.store('u1b')
        self.assertTrue(os.path.isfile(st))

        # undefine: refused while the store exists, unless nvram or keep_nvram
        name, msg = self.error_name(lambda: self.dom(path).Undefine(opts()))
        self.assertEqual(name, 'org.vmgmt.Error.InvalidState')
        self.assertIn(st, msg)
        self.assertIn('nvram', msg)
        self.assertEqual(self.client.list_domains(), [dbus.ObjectPath(path)])
        name, _ = self.error_name(lambda: self.dom(path).Undefine(opts(nvram=True, keep_nvram=True)))
        self.assertEqual(name, 'org.freedesktop.DBus.Error.InvalidArgs')
        run_vmgmtctl(self.fx.bus, 'undefine', 'u1b', '--keep-nvram', check=True)
        self.assertTrue(os.path.isfile(st))

        # defined again (the kept store is used), then undefined with its store
        self.define(efi_xml('u1b'))
        run_vmgmtctl(self.fx.bus, 'undefine', 'u1b', '--nvram', check=True)
        self.assertFalse(os.path.exists(st))
        self.assertEqual(self.client.list_domains(), [])

    def _qemu_cmdline(self):
        pids = self.fx.qemu_pids()
        self.assertEqual(len(pids), 1)
        with open('/proc/%d/cmdline' % pids[0], 'rb') as f:
            return f.read().decode().split('\0')

    def test_clone_gets_its_own_store(self):
        path, con = self.boot('c1', xml=efi_xml('c1'))
        self.stop(path)
        src = self.store('c1')
        job = str(self.dom(path).Clone('c2', opts()))
        deadline = time.monotonic() + 120
        while True:
            p = self.client.props(job, 'org.vmgmt.Job')
            if str(p['State']) != 'running':
                break
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.2)
        self.assertEqual(str(p['State']), 'completed', dict(p))
        dst = self.store('c2')
        self.assertTrue(os.path.isfile(dst))
        self.assertEqual(sha(dst), sha(src))
        self.assertNotEqual(os.stat(dst).st_ino, os.stat(src).st_ino)
        # the clone boots on its own store; the original's stays as it was
        before = sha(src)
        p2 = self.client.domain('c2').object_path
        self.dom(p2).Start(opts())
        self.client.wait_state(p2, 'running')
        con2 = self.fx.console(p2)
        con2.wait_for('vmgmt-guest ready', self.BOOT_TIMEOUT)
        self.assertEqual(self.live_os(p2).find('nvram').text, dst)
        self.stop(p2)
        self.assertEqual(sha(src), before)

    def test_refusals(self):
        # secure boot needs q35 (SMM): refused at define, naming it
        xml = efi_xml('s1', extra_os="<firmware><feature enabled='yes' name='secure-boot'/></firmware>")
        name, msg = self.error_name(lambda: self.define(xml))
        self.assertEqual(name, 'org.vmgmt.Error.InvalidXML')
        self.assertIn('q35', msg)
        # a loader no descriptor offers with firmware='efi': the start says what was asked
        bad = efi_xml('s2', extra_os="<loader>/usr/share/OVMF/OVMF_CODE.none.fd</loader>")
        p = self.define(bad)
        name, msg = self.error_name(lambda: self.dom(p).Start(opts()))
        self.assertEqual(name, 'org.vmgmt.Error.NotSupported')
        self.assertIn('OVMF_CODE.none.fd', msg)
        self.assertFalse(os.path.exists(self.store('s2')))
        # nvram without a pflash loader is no valid definition
        rom = guest_domain_xml('s3').replace("</type>", "</type><loader type='rom'>/usr/share/seabios/bios.bin</loader>"
                                             "<nvram>/tmp/x_VARS.fd</nvram>", 1)
        name, msg = self.error_name(lambda: self.define(rom))
        self.assertEqual(name, 'org.vmgmt.Error.InvalidXML')
        self.assertIn('nvram', msg)

    def test_q35_secure_boot_runs(self):
        # q35, nothing asked: the first descriptor by priority, Secure Boot with Microsoft's keys (SMM on)
        path = self.define(efi_xml('sb', machine='q35'))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        os_el = self.live_os(path)
        loader = os_el.find('loader')
        self.assertEqual((loader.text, loader.get('secure')), ('/usr/share/OVMF/OVMF_CODE_4M.ms.fd', 'yes'))
        self.assertEqual(os_el.find('nvram').get('template'), '/usr/share/OVMF/OVMF_VARS_4M.ms.fd')
        feats = {f.get('name'): f.get('enabled') for f in os_el.findall('firmware/feature')}
        self.assertEqual(feats, {'secure-boot': 'yes', 'enrolled-keys': 'yes'})
        live = ET.fromstring(str(self.dom(path).GetXML(opts())))
        self.assertEqual(live.find('features/smm').get('state'), 'on')
        argv = ' '.join(self._qemu_cmdline())
        self.assertIn('smm=on', argv)
        self.assertIn('driver=cfi.pflash01,property=secure,value=on', argv)
        # the firmware runs (SMM under TCG): still running a while later
        time.sleep(3)
        self.assertEqual(self.client.state(path)[0], 'running')
        # reset_nvram on the bus: a new store (a new inode) from the template
        ino = os.stat(self.store('sb')).st_ino
        self.stop(path)
        self.dom(path).Start(opts(reset_nvram=True, paused=True))
        self.client.wait_state(path, 'paused')
        self.assertNotEqual(os.stat(self.store('sb')).st_ino, ino)
        self.assertEqual(sha(self.store('sb')), sha('/usr/share/OVMF/OVMF_VARS_4M.ms.fd'))
        self.assertTrue(os.path.isfile(self.store('sb')))
        self.stop(path)
        self.dom(path).Undefine(opts(nvram=True))
        self.assertFalse(os.path.exists(self.store('sb')))

    def test_store_never_shared(self):
        own = os.path.join(self.fx.tmp, 'own_VARS.fd')
        nv = "<nvram>%s</nvram>" % own
        self.define(efi_xml('n1', extra_os=nv))
        name, msg = self.error_name(lambda: self.define(efi_xml('n2', extra_os=nv)))
        self.assertEqual(name, 'org.vmgmt.Error.AlreadyExists')
        self.assertIn("'n1'", msg)
        # nor another domain's default store
        self.define(efi_xml('n3'))
        name, msg = self.error_name(lambda: self.define(efi_xml('n4', extra_os="<nvram>%s</nvram>" % self.store('n3'))))
        self.assertEqual(name, 'org.vmgmt.Error.AlreadyExists')
        self.assertIn("'n3'", msg)
        # a store of the definition's own is made by root's start and kept where it names
        p = self.client.domain('n1').object_path
        self.dom(p).Start(opts(paused=True))
        self.client.wait_state(p, 'paused')
        self.assertTrue(os.path.isfile(own))
        self.assertFalse(os.path.exists(self.store('n1')))
        self.stop(p)

    def test_domcaps_lists_efi(self):
        caps = ET.fromstring(str(self.manager.GetDomainCapabilities('', '', 'pc', 'qemu', opts())))
        values = [v.text for v in caps.findall("os/enum[@name='firmware']/value")]
        self.assertEqual(values, ['bios', 'efi'])
        loaders = [v.text for v in caps.findall('os/loader/value')]
        self.assertEqual(loaders, [CODE])   # i440fx: only the descriptor without SMM
        caps = ET.fromstring(str(self.manager.GetDomainCapabilities('', '', 'q35', 'qemu', opts())))
        loaders = [v.text for v in caps.findall('os/loader/value')]
        self.assertEqual(loaders, ['/usr/share/OVMF/OVMF_CODE_4M.ms.fd', '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
                                   CODE])


if __name__ == '__main__':
    main()
