# The emulated TPM (<tpm><backend type='emulator'>, swtpm): the busybox guest under TCG sees a
# TPM 2.0; the state is manufactured at the first start and kept in var/lib/vmgmt/swtpm/UUID
# across restarts of the domain; no swtpm outlives its qemu (destroy, a failed start, a SIGKILLed
# vmgmtd restarted); Undefine removes the state unless keep_tpm; Clone copies it; ManagedSave + Start
# and a memory snapshot's revert bring back the TPM's volatile state (a PCR the guest extended).

import hashlib
import os
import re
import signal
import subprocess
import time

from vmgmt_harness import (ERR_INVALID_ARGS, ERR_INVALID_XML, ERR_NOT_SUPPORTED, GUEST_READY, VmgmtTestCase,
                           dbus_error_name, guest_domain_xml, guest_image, main, opts, pid_alive, _all_pids, _cmdline)
import dbus

BOOT_TIMEOUT = 240
TPM_EMULATOR = "<tpm model='%s'><backend type='emulator' version='2.0'/></tpm>"


def tpm_xml(name, model='tpm-tis', uuid=None):
    xml = guest_domain_xml(name, uuid=uuid)
    return xml.replace('<memballoon model=\'none\'/>', '<memballoon model=\'none\'/>' + TPM_EMULATOR % model)


def read_pcr16(con):
    """PCR 16 (sha256) as the guest's sysfs shows it: 64 hex digits."""
    con.send("echo PCR=$(cat /sys/class/tpm/tpm0/pcr-sha256/16)=E''ND")
    con.wait_for('=END', 60)
    text = con.buf.decode(errors='replace')
    value = text[text.rindex('PCR=') + 4:text.rindex('=END')]
    if not re.fullmatch('[0-9A-Fa-f]{64}', value):
        raise AssertionError('PCR 16 reads %r' % value)
    return value


def extend_pcr16(con):
    """A TPM2_PCR_Extend of PCR 16 (sha256), written to /dev/tpm0 by the guest's shell; returns the PCR
    (volatile TPM state: only qemu's migration stream brings it to another swtpm)."""
    cmd = (bytes.fromhex('8002' '00000041' '00000182' '00000010' '00000009' '40000009' '0000' '00' '0000'
                         '00000001' '000b') + b'\x11' * 32)
    con.send("printf '%s' > /dev/tpm0" % ''.join('\\%03o' % b for b in cmd))
    return read_pcr16(con)


class Tpm(VmgmtTestCase):
    @classmethod
    def setUpClass(cls):
        guest_image()
        super().setUpClass()

    def swtpm_pids(self):
        """swtpm processes working on this daemon's state dirs."""
        marker = self.daemon.root + '/'
        pids = []
        for pid in _all_pids():
            argv = _cmdline(pid)
            if argv and os.path.basename(argv[0]).startswith('swtpm') and any(marker in a for a in argv):
                pids.append(pid)
        return sorted(pids)

    def wait_no_swtpm(self, timeout=30):
        deadline = time.monotonic() + timeout
        while self.swtpm_pids():
            if time.monotonic() > deadline:
                self.fail('swtpm left behind: %s' % self.swtpm_pids())
            time.sleep(0.1)

    def wait_job(self, job, timeout=300):
        deadline = time.monotonic() + timeout
        while True:
            p = self.client.props(job, 'org.vmgmt.Job')
            if str(p['State']) in ('completed', 'failed', 'cancelled'):
                self.assertEqual(str(p['State']), 'completed', dict(p))
                return p
            if time.monotonic() > deadline:
                self.fail('job %s still %s after %d s' % (job, p['State'], timeout))
            time.sleep(0.2)

    def state_dir(self, path):
        return os.path.join(self.daemon.root, 'var', 'lib', 'vmgmt', 'swtpm', str(self.client.prop(path, 'UUID')))

    def tpm_log(self, name):
        with open(os.path.join(self.daemon.log_dir, name + '-swtpm.log')) as f:
            return f.read()

    def boot(self, path):
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running', timeout=BOOT_TIMEOUT)
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        return con

    def guest_tpm(self, con):
        con.send('echo TPM=$(cat /sys/class/tpm/tpm0/tpm_version_major 2>&1)=END')
        con.wait_for('TPM=2=END', 60)

    def test_guest_sees_tpm_state_persists(self):
        path = self.define(tpm_xml('t1', model='tpm-crb'))
        live_free = str(self.dom(path).GetXML(opts(inactive=True)))
        self.assertIn("<tpm model='tpm-crb'>", live_free)
        con = self.boot(path)
        self.guest_tpm(con)
        pids = self.swtpm_pids()
        self.assertEqual(len(pids), 1, pids)
        state = os.path.join(self.state_dir(path), 'tpm2', 'tpm2-00.permall')
        self.assertTrue(os.path.exists(state))
        # swtpm runs confined as the domain's qemu does
        qemu = self.fx.qemu_pids()[0]
        self.assertEqual(os.stat('/proc/%d' % pids[0]).st_uid, os.stat('/proc/%d' % qemu).st_uid)
        self.assertEqual(os.stat(state).st_uid, os.stat('/proc/%d' % qemu).st_uid)
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.wait_no_swtpm()
        self.assertTrue(os.path.exists(state))
        with open(state, 'rb') as f:
            before = hashlib.sha256(f.read()).hexdigest()

        # the second start uses the same state: no new manufacture, the same EK
        con = self.boot(path)
        self.guest_tpm(con)
        log = self.tpm_log('t1')
        self.assertEqual(log.count('Successfully created RSA 2048 EK'), 1, log)
        self.dom(path).Shutdown(opts())
        self.client.wait_state(path, 'shutoff', timeout=BOOT_TIMEOUT)
        self.wait_no_swtpm()
        self.assertTrue(os.path.exists(state))
        self.assertNotEqual(before, '')

        # Undefine with keep_tpm keeps it; redefined with the same UUID, the domain finds it again
        uuid = str(self.client.prop(path, 'UUID'))
        self.dom(path).Undefine(opts(keep_tpm=True))
        self.assertTrue(os.path.exists(state))
        path = self.define(tpm_xml('t1', model='tpm-crb', uuid=uuid))
        self.dom(path).Undefine(opts())
        self.assertFalse(os.path.exists(os.path.dirname(os.path.dirname(state))))

    def test_failed_start_and_daemon_restart_leave_no_swtpm(self):
        path = self.define(tpm_xml('t2'))
        con = self.boot(path)
        self.guest_tpm(con)
        self.assertEqual(len(self.swtpm_pids()), 1)
        sw = self.swtpm_pids()[0]

        # vmgmtd killed and restarted: qemu and its swtpm run on, the new instance stops both
        self.daemon.kill()
        self.daemon.start()
        self.client.wait_state(path, 'running')
        self.assertEqual(self.swtpm_pids(), [sw])
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.wait_no_swtpm()
        self.assertFalse(pid_alive(sw))

        # a state swtpm cannot read: qemu's TPM set-up fails, the start fails, nothing runs
        state = os.path.join(self.state_dir(path), 'tpm2', 'tpm2-00.permall')
        with open(state, 'r+b') as f:
            f.write(b'\xff' * 64)
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.dom(path).Start(opts())
        self.assertIn('tpm', str(cm.exception).lower())
        self.assertEqual(self.client.state(path)[0], 'shutoff')
        self.wait_no_swtpm()
        self.assertEqual(self.fx.qemu_pids(), [])

    def test_clone_copies_state(self):
        path = self.define(tpm_xml('t3'))
        con = self.boot(path)
        self.guest_tpm(con)
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        src = os.path.join(self.state_dir(path), 'tpm2', 'tpm2-00.permall')
        job = self.dom(path).Clone('t3-copy', opts())
        self.wait_job(job)
        copy = str(self.manager.GetDomain('t3-copy'))
        dst = os.path.join(self.state_dir(copy), 'tpm2', 'tpm2-00.permall')
        with open(src, 'rb') as a, open(dst, 'rb') as b:
            self.assertEqual(a.read(), b.read())
        con = self.boot(copy)
        self.guest_tpm(con)
        self.assertNotIn('Successfully created RSA 2048 EK', self.tpm_log('t3-copy'))
        self.dom(copy).Destroy(opts())
        self.client.wait_state(copy, 'shutoff')
        self.wait_no_swtpm()

    def test_managed_save_keeps_tpm_state(self):
        path = self.define(tpm_xml('t4'))
        con = self.boot(path)
        self.guest_tpm(con)
        pcr = extend_pcr16(con)
        self.assertNotEqual(pcr, '0' * 64)
        job = self.dom(path).ManagedSave(opts())
        self.wait_job(job)
        self.assertEqual(self.client.state(path)[0], 'shutoff')
        self.wait_no_swtpm()
        # the start restores the guest and its TPM's volatile state (qemu's migration stream carries it)
        self.dom(path).Start(opts())
        self.assertEqual(self.client.state(path), ('running', 'restored'))
        con = self.fx.console(path)
        self.assertEqual(read_pcr16(con), pcr)
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.wait_no_swtpm()

    def test_memory_snapshot_revert_brings_back_the_tpm_state(self):
        img, ov, mem = (os.path.join(self.fx.tmp, 't5.' + x) for x in ('qcow2', 'ov', 'mem'))
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', img, '16M'], check=True)
        disk = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                "<target dev='vda' bus='virtio'/></disk>" % img)
        path = self.define(tpm_xml('t5').replace('<devices>', '<devices>' + disk))
        con = self.boot(path)
        self.guest_tpm(con)
        pcr = extend_pcr16(con)
        job = str(self.dom(path).CreateSnapshot(
            "<domainsnapshot><name>s</name><memory snapshot='external' file='%s'/><disks><disk name='vda' "
            "snapshot='external'><source file='%s'/></disk></disks></domainsnapshot>" % (mem, ov), opts()))
        self.wait_job(job)
        self.assertEqual(self.client.state(path)[0], 'running')
        # the TPM moves on after the snapshot; the revert brings back the guest and its TPM as they were
        later = extend_pcr16(con)
        self.assertNotEqual(later, pcr)
        snap = dbus.Interface(self.client.obj(path + '/snapshot/s'), 'org.vmgmt.Snapshot')
        snap.Revert(opts(), timeout=BOOT_TIMEOUT)
        self.client.wait_state(path, 'running')
        con = self.fx.console(path)
        self.assertEqual(read_pcr16(con), pcr)
        self.assertEqual(len(self.swtpm_pids()), 1)
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.wait_no_swtpm()

    def test_refusals(self):
        for xml, err, text in [
            (tpm_xml('r1').replace("version='2.0'", "version='1.2'"), ERR_INVALID_XML, 'TPM 1.2 is not supported'),
            (tpm_xml('r2').replace('</devices>', TPM_EMULATOR % 'tpm-tis' + '</devices>'), ERR_INVALID_XML,
             'at most one <tpm>'),
        ]:
            with self.assertRaises(dbus.exceptions.DBusException) as cm:
                self.manager.DefineDomain(xml, opts())
            self.assertEqual(dbus_error_name(cm.exception), err)
            self.assertIn(text, str(cm.exception))
        self.assertEqual(self.manager.ListDomains(opts()), [])
        # a passthrough TPM needs the host's /dev/tpmN, which this host may not have
        xml = tpm_xml('r3').replace("<backend type='emulator' version='2.0'/>",
                                    "<backend type='passthrough'><device path='/dev/tpm7'/></backend>")
        path = self.define(xml)
        if not os.path.exists('/dev/tpm7'):
            with self.assertRaises(dbus.exceptions.DBusException) as cm:
                self.dom(path).Start(opts())
            self.assertIn('/dev/tpm7', str(cm.exception))
            self.assertEqual(self.client.state(path)[0], 'shutoff')
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.dom(path).Undefine(opts(keep_tpm='yes'))
        self.assertEqual(dbus_error_name(cm.exception), ERR_INVALID_ARGS)


if __name__ == '__main__':
    main()
