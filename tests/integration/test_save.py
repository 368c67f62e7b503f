# Save / RestoreDomain / ManagedSave / CoreDump with the booted busybox guest
# under TCG (issue 13 parts 1-3): the guest's RAM-backed /tmp carries a marker
# across a save and restore, a managed save and Start; a memory-only dump is
# an ELF core covering the guest's RAM; cancels and failures leave the domain
# as it was and no file (and no temporary) behind.

import glob
import os
import struct
import subprocess
import time

import json

from vmgmt_harness import (ERR_INVALID_ARGS, ERR_INVALID_STATE, ERR_NOT_SUPPORTED, GUEST_READY, VmgmtTestCase,
                           VMGMTCTL, guest_domain_xml, guest_image, main, opts, run_vmgmtctl, unwrap)

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly
JOB_TIMEOUT = 180
JOB_IFACE = 'org.vmgmt.Job'
MEMORY_MIB = 128


def leftovers(directory):
    """Files a save or dump may have left: the target and its temporaries."""
    return sorted(f for f in os.listdir(directory) if f != 'lost+found')


def elf_load_segments(path):
    """(p_paddr, p_filesz, p_memsz) of every PT_LOAD of a 64-bit little-endian ELF core."""
    with open(path, 'rb') as f:
        h = f.read(64)
        assert h[:4] == b'\x7fELF', 'no ELF magic: %r' % h[:4]
        assert h[4] == 2 and h[5] == 1, 'not ELF64 little-endian'
        e_type, = struct.unpack_from('<H', h, 16)
        assert e_type == 4, 'e_type %d is not ET_CORE' % e_type
        e_phoff, = struct.unpack_from('<Q', h, 32)
        e_phentsize, e_phnum = struct.unpack_from('<HH', h, 54)
        segs = []
        for i in range(e_phnum):
            f.seek(e_phoff + i * e_phentsize)
            p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align = \
                struct.unpack('<IIQQQQQQ', f.read(56))
            if p_type == 1:
                segs.append((p_paddr, p_filesz, p_memsz))
        return segs


class Save(VmgmtTestCase):
    @classmethod
    def setUpClass(cls):
        guest_image()
        super().setUpClass()

    def setUp(self):
        super().setUp()
        self.dir = os.path.join(self.fx.tmp, 'images')
        os.makedirs(self.dir, exist_ok=True)

    # ---- helpers ----

    def boot(self, name):
        path = self.define(guest_domain_xml(name, memory_mib=MEMORY_MIB))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        return path, con

    def write_marker(self, con, tag):
        # the shell echoes the command; only the file's content has the product
        con.send('echo %s-$((6*7))-mark > /tmp/marker; cat /tmp/marker' % tag)
        con.wait_for('%s-42-mark' % tag, BOOT_TIMEOUT)

    def read_marker(self, path, tag):
        con = self.fx.console(path)
        con.send('cat /tmp/marker')
        con.wait_for('%s-42-mark' % tag, BOOT_TIMEOUT)
        return con

    def job_prop(self, job, name):
        return unwrap(self.client.prop(job, name, iface=JOB_IFACE))

    def wait_job(self, job, timeout=JOB_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            st = self.job_prop(job, 'State')
            if st != 'running':
                return st
            self.assertLess(time.monotonic(), deadline, 'job %s still running' % job)
            time.sleep(0.05)

    def wait_progress(self, job, timeout=JOB_TIMEOUT):
        """Waits until the job reports bytes (it is streaming), or ended."""
        deadline = time.monotonic() + timeout
        while self.job_prop(job, 'State') == 'running':
            if self.job_prop(job, 'ProcessedBytes') > 0:
                return True
            self.assertLess(time.monotonic(), deadline, 'job %s reports no progress' % job)
            time.sleep(0.02)
        return False

    # ---- tests ----

    def test_save_restore_keeps_memory(self):
        path, con = self.boot('sv1')
        self.write_marker(con, 'save')
        image = os.path.join(self.dir, 'sv1.save')
        self.rec.clear()
        job = str(self.dom(path).Save(image, opts()))
        self.assertEqual(self.job_prop(job, 'Type'), 'save')
        self.assertEqual(str(self.job_prop(job, 'Object')), path)
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        self.assertEqual(self.client.state(path), ('shutoff', 'saved'))
        self.assertEqual(self.fx.qemu_pids(), [])
        evs = self.rec.domain_events(path)
        self.assertEqual(evs, [('suspended', 'paused'), ('stopped', 'saved')])
        self.assertGreater(self.job_prop(job, 'TotalBytes'), 0)
        self.assertEqual(self.job_prop(job, 'ProcessedBytes'), self.job_prop(job, 'TotalBytes'))
        # the image: 0600, the header with the definition, nothing else in the directory
        self.assertEqual(leftovers(self.dir), ['sv1.save'])
        st = os.stat(image)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        with open(image, 'rb') as f:
            head = f.read(4096)
        self.assertEqual(head[:14], b'VmgmtQemuSave\n')
        self.assertIn(b'<name>sv1</name>', head)
        # a guest of 128 MiB saves into more than a few MiB, less than its RAM plus slack
        self.assertGreater(st.st_size, 1 << 20)

        self.rec.clear()
        job = str(self.manager.RestoreDomain(image, opts()))
        self.assertEqual(self.job_prop(job, 'Type'), 'restore')
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        self.assertEqual(self.client.state(path), ('running', 'restored'))
        self.assertEqual(self.rec.domain_events(path)[0], ('started', 'restored'))
        self.read_marker(path, 'save')
        # the image stays (virsh restore keeps it too)
        self.assertTrue(os.path.exists(image))

        # restored paused: started/restored, suspended/paused; the marker is still there after Resume
        self.dom(path).Destroy(opts())
        # a replacement definition must be compatible (libvirt's ABI check): nothing happens otherwise
        xml = str(self.dom(path).GetXML(opts(inactive=True)))
        bigger = xml.replace("<memory unit='KiB'>%d</memory>" % (MEMORY_MIB * 1024),
                             "<memory unit='KiB'>%d</memory>" % (2 * MEMORY_MIB * 1024))
        self.assertNotEqual(bigger, xml)
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.manager.RestoreDomain, image, opts(xml=bigger))
        self.assertIn('memory size', msg)
        self.assertEqual(self.client.state(path)[0], 'shutoff')
        self.assertEqual(self.fx.qemu_pids(), [])
        self.rec.clear()
        job = str(self.manager.RestoreDomain(image, opts(paused=True)))
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        self.assertEqual(self.client.state(path)[0], 'paused')
        self.assertEqual(self.rec.domain_events(path)[:2], [('started', 'restored'), ('suspended', 'paused')])
        self.dom(path).Resume(opts())
        self.read_marker(path, 'save')

    def test_restore_bad_input(self):
        junk = os.path.join(self.dir, 'junk')
        with open(junk, 'wb') as f:
            f.write(b'not a save image' * 100)
        before = self.fx.snapshot()
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.manager.RestoreDomain, junk, opts())
        self.assertIn(junk, msg)
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.manager.RestoreDomain, 'relative.save', opts())
        self.assertIn('relative.save', msg)
        self.assertDBusError(ERR_INVALID_ARGS, self.manager.RestoreDomain, junk, opts(paused=True, running=True))
        # read O_DIRECT, it is junk all the same
        self.assertIn(junk, self.assertDBusError(ERR_INVALID_ARGS, self.manager.RestoreDomain, junk,
                                                 opts(bypass_cache=True)))
        self.assertUnchanged(before)

    def test_managed_save_then_start(self):
        path, con = self.boot('sv2')
        self.write_marker(con, 'managed')
        self.assertFalse(self.client.prop(path, 'HasManagedSave'))
        self.rec.clear()
        job = str(self.dom(path).ManagedSave(opts()))
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        self.assertEqual(self.client.state(path), ('shutoff', 'saved'))
        self.assertTrue(self.client.prop(path, 'HasManagedSave'))
        self.rec.wait_for(lambda e: any(x[0] == 'PropertiesChanged' and x[1] == path
                                        and 'HasManagedSave' in x[3] for x in e), what='HasManagedSave change')
        # Undefine is refused while the image exists
        msg = self.assertDBusError(ERR_INVALID_STATE, self.dom(path).Undefine, opts())
        self.assertIn('managed save', msg)
        # Start resumes where it was
        self.rec.clear()
        self.dom(path).Start(opts())
        self.assertEqual(self.client.state(path), ('running', 'restored'))
        self.assertEqual(self.rec.domain_events(path)[0], ('started', 'restored'))
        self.assertFalse(self.client.prop(path, 'HasManagedSave'))
        self.read_marker(path, 'managed')
        # ManagedSaveRemove discards an image; Undefine with managed_save takes it with it
        job = str(self.dom(path).ManagedSave(opts()))
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        self.assertTrue(self.client.prop(path, 'HasManagedSave'))
        self.dom(path).ManagedSaveRemove(opts())
        self.assertFalse(self.client.prop(path, 'HasManagedSave'))
        self.dom(path).Start(opts())
        self.assertEqual(self.client.state(path), ('running', 'booted'))
        job = str(self.dom(path).ManagedSave(opts()))
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        images = glob.glob(os.path.join(self.fx.tmp, '**', '*.save'), recursive=True)
        self.assertEqual(len(images), 1, images)
        self.dom(path).Undefine(opts(managed_save=True))
        self.assertFalse(os.path.exists(images[0]))

    def test_memory_only_dump_is_elf(self):
        path, con = self.boot('sv3')
        core = os.path.join(self.dir, 'sv3.core')
        self.rec.clear()
        job = str(self.dom(path).CoreDump(core, opts(memory_only=True)))
        self.assertEqual(self.job_prop(job, 'Type'), 'dump')
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        self.assertEqual(self.client.state(path)[0], 'running')
        segs = elf_load_segments(core)
        self.assertTrue(segs)
        covered = sum(memsz for _, _, memsz in segs)
        # every byte of the guest's RAM is in a PT_LOAD (pc: below 4 GiB, with the PCI hole)
        self.assertGreaterEqual(covered, MEMORY_MIB << 20)
        self.assertEqual(sum(filesz for _, filesz, _ in segs), covered)
        self.assertTrue(any(paddr == 0 for paddr, _, _ in segs))
        self.assertEqual(leftovers(self.dir), ['sv3.core'])
        # not live: paused "dumping" while it is written, then resumed
        self.assertEqual(self.rec.domain_events(path), [('suspended', 'paused'), ('resumed', 'unpaused')])
        # a live dump of the migration stream: no pause reported, still running
        self.rec.clear()
        job = str(self.dom(path).CoreDump(os.path.join(self.dir, 'sv3.live'), opts(live=True)))
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        self.assertEqual(self.client.state(path)[0], 'running')
        self.assertEqual(self.rec.domain_events(path), [])
        os.unlink(os.path.join(self.dir, 'sv3.live'))
        # the guest still runs and answers
        con.send('echo $((6*7))-alive')
        con.wait_for('42-alive', BOOT_TIMEOUT)
        # formats: the ones qemu cannot write are NotSupported naming it; junk is InvalidArgs
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).CoreDump, core, opts(memory_only=True, format='zip'))
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).CoreDump, core, opts(format='elf'))
        # crash: the domain is stopped afterwards (libvirt: shutoff crashed, stopped/crashed)
        os.unlink(core)
        self.rec.clear()
        job = str(self.dom(path).CoreDump(core, opts(memory_only=True, crash=True)))
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        self.assertEqual(self.client.state(path), ('shutoff', 'crashed'))
        self.assertEqual(self.rec.domain_events(path)[-1], ('stopped', 'crashed'))
        self.assertTrue(elf_load_segments(core))

    def test_cancel_leaves_domain_and_no_file(self):
        path, con = self.boot('sv4')
        # incompressible RAM: the stream takes long enough for a Cancel to land
        self.write_marker(con, 'cancel')
        con.send('dd if=/dev/urandom of=/tmp/fill bs=1M count=24 2>/dev/null; echo filled-$((6*7))')
        con.wait_for('filled-42', BOOT_TIMEOUT)
        for method, target, o in (('Save', 'sv4.save', {}), ('CoreDump', 'sv4.dump', {}),
                                  ('CoreDump', 'sv4.core', {'memory_only': True})):
            image = os.path.join(self.dir, target)
            # a Cancel that comes after the end is too late (the job completes): then again
            for attempt in range(5):
                self.rec.clear()
                job = str(getattr(self.dom(path), method)(image, opts(**o)))
                self.client.obj(job).Cancel(opts(), dbus_interface=JOB_IFACE)
                st = self.wait_job(job)
                if st == 'cancelled':
                    break
                self.assertEqual(st, 'completed', self.job_prop(job, 'Error'))
                if method == 'Save':
                    restore = str(self.manager.RestoreDomain(image, opts()))
                    self.assertEqual(self.wait_job(restore), 'completed', self.job_prop(restore, 'Error'))
                os.unlink(image)
            self.assertEqual(st, 'cancelled', (method, o))
            self.assertIn('cancel', self.job_prop(job, 'Error'))
            self.assertEqual(self.client.state(path)[0], 'running', (method, o))
            self.assertEqual(leftovers(self.dir), [], (method, o))
            self.assertEqual(len(self.fx.qemu_pids()), 1)
            if method == 'Save':
                # paused for the save and resumed at its cancel
                self.assertEqual(self.rec.domain_events(path), [('suspended', 'paused'), ('resumed', 'unpaused')])
            self.read_marker(path, 'cancel')

    def test_save_into_full_filesystem(self):
        path, con = self.boot('sv5')
        full = os.path.join(self.fx.tmp, 'full')
        os.makedirs(full)
        # 8 MiB: the guest's state does not fit
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=8m,mode=0755', 'tmpfs', full], check=True)
        self.addCleanup(subprocess.run, ['umount', '-l', full])
        image = os.path.join(full, 'sv5.save')
        job = str(self.dom(path).Save(image, opts()))
        self.assertEqual(self.wait_job(job), 'failed')
        err = self.job_prop(job, 'Error')
        self.assertIn('No space left on device', err)
        self.assertEqual(self.client.state(path)[0], 'running')
        self.assertEqual(leftovers(full), [])
        con.send('echo $((6*7))-alive')
        con.wait_for('42-alive', BOOT_TIMEOUT)

    def mount_fs(self, name, fstype, size_mib=0):
        """A filesystem of its own at fx.tmp/name: ext4 on a loop device of size_mib, or ramfs."""
        where = os.path.join(self.fx.tmp, name)
        os.makedirs(where)
        if fstype == 'ext4':
            img = os.path.join(self.fx.tmp, name + '.img')
            with open(img, 'wb') as f:
                f.truncate(size_mib << 20)
            subprocess.run(['mkfs.ext4', '-q', '-F', '-m', '0', img], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(['mount', '-o', 'loop', img, where], check=True)
        else:
            subprocess.run(['mount', '-t', fstype, '-o', 'mode=0755', fstype, where], check=True)
        self.addCleanup(subprocess.run, ['umount', '-l', where])
        return where

    def test_bypass_cache(self):
        # bypass_cache: the files are O_DIRECT; qemu streams through a pipe and vmgmtd's copier writes
        # (reads) aligned blocks, the tail padded and truncated back: the images restore
        path, con = self.boot('sv8')
        self.write_marker(con, 'direct')
        d = self.mount_fs('ext4', 'ext4', 512)
        image = os.path.join(d, 'sv8.save')
        self.rec.clear()
        job = str(self.dom(path).Save(image, opts(bypass_cache=True)))
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        self.assertEqual(self.client.state(path), ('shutoff', 'saved'))
        self.assertEqual(self.rec.domain_events(path), [('suspended', 'paused'), ('stopped', 'saved')])
        self.assertEqual(self.job_prop(job, 'ProcessedBytes'), self.job_prop(job, 'TotalBytes'))
        self.assertEqual(leftovers(d), ['sv8.save'])
        size = os.stat(image).st_size
        self.assertGreater(size, 1 << 20)
        with open(image, 'rb') as f:
            head = f.read(4096)
            f.seek(struct.unpack_from('<Q', head, 32)[0])
            stream = f.read(4)
        self.assertEqual(head[:14], b'VmgmtQemuSave\n')
        self.assertEqual(stream, b'QEVM')   # qemu's migration stream from the aligned offset on
        # restored from the O_DIRECT image (and progress from the copier's count)
        self.rec.clear()
        job = str(self.manager.RestoreDomain(image, opts(bypass_cache=True)))
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        self.assertEqual(self.client.state(path), ('running', 'restored'))
        self.assertEqual(self.job_prop(job, 'ProcessedBytes'), self.job_prop(job, 'TotalBytes'))
        self.read_marker(path, 'direct')
        os.unlink(image)
        # managed save and Start, both O_DIRECT
        job = str(self.dom(path).ManagedSave(opts(bypass_cache=True)))
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        self.assertTrue(self.client.prop(path, 'HasManagedSave'))
        self.ctl('start', 'sv8', '--bypass-cache')
        self.assertEqual(self.client.state(path), ('running', 'restored'))
        self.assertFalse(self.client.prop(path, 'HasManagedSave'))
        self.read_marker(path, 'direct')
        # dumps: the migration stream (live) and a memory-only ELF core, the domain running on
        job = str(self.dom(path).CoreDump(os.path.join(d, 'sv8.dump'), opts(bypass_cache=True, live=True)))
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        with open(os.path.join(d, 'sv8.dump'), 'rb') as f:
            self.assertEqual(f.read(4), b'QEVM')
        core = os.path.join(d, 'sv8.core')
        job = str(self.dom(path).CoreDump(core, opts(bypass_cache=True, memory_only=True)))
        self.assertEqual(self.wait_job(job), 'completed', self.job_prop(job, 'Error'))
        self.assertGreaterEqual(sum(memsz for _, _, memsz in elf_load_segments(core)), MEMORY_MIB << 20)
        self.assertEqual(self.client.state(path)[0], 'running')
        self.assertEqual(leftovers(d), ['sv8.core', 'sv8.dump'])
        os.unlink(core)
        os.unlink(os.path.join(d, 'sv8.dump'))
        # a cancel: the domain as it was, no file (a cancel after the end is too late: then again)
        for attempt in range(5):
            job = str(self.dom(path).Save(image, opts(bypass_cache=True)))
            self.client.obj(job).Cancel(opts(), dbus_interface=JOB_IFACE)
            st = self.wait_job(job)
            if st == 'cancelled':
                break
            self.assertEqual(st, 'completed', self.job_prop(job, 'Error'))
            restore = str(self.manager.RestoreDomain(image, opts()))
            self.assertEqual(self.wait_job(restore), 'completed', self.job_prop(restore, 'Error'))
            os.unlink(image)
        self.assertEqual(st, 'cancelled')
        self.assertEqual(self.client.state(path)[0], 'running')
        self.assertEqual(leftovers(d), [])

        # a filesystem that refuses O_DIRECT (ramfs; tmpfs accepts it since Linux 6.6): NotSupported
        # naming O_DIRECT, the domain running on, nothing left
        ram = self.mount_fs('ramfs', 'ramfs')
        msg = self.assertDBusError(ERR_NOT_SUPPORTED, self.dom(path).Save, os.path.join(ram, 'sv8.save'),
                                   opts(bypass_cache=True))
        self.assertIn('O_DIRECT', msg)
        msg = self.assertDBusError(ERR_NOT_SUPPORTED, self.dom(path).CoreDump, os.path.join(ram, 'sv8.core'),
                                   opts(bypass_cache=True))
        self.assertIn('O_DIRECT', msg)
        self.assertEqual(leftovers(ram), [])
        self.assertEqual(self.client.state(path)[0], 'running')
        with open(os.path.join(ram, 'junk.save'), 'wb') as f:
            f.write(b'VmgmtQemuSave\n' + bytes(8192))
        msg = self.assertDBusError(ERR_NOT_SUPPORTED, self.manager.RestoreDomain, os.path.join(ram, 'junk.save'),
                                   opts(bypass_cache=True))
        self.assertIn('O_DIRECT', msg)
        # a full filesystem: the copier's ENOSPC is the job's error, the domain runs on, no file
        small = self.mount_fs('small', 'ext4', 16)
        job = str(self.dom(path).Save(os.path.join(small, 'sv8.save'), opts(bypass_cache=True)))
        self.assertEqual(self.wait_job(job), 'failed')
        self.assertIn('No space left on device', self.job_prop(job, 'Error'))
        self.assertEqual(self.client.state(path)[0], 'running')
        self.assertEqual(leftovers(small), [])
        self.read_marker(path, 'direct')

    def test_dead_managed_save_part_removed(self):
        # a vmgmtd that died during a managed save left its temporary: the next one removes it, in its own
        # save directory only, and nothing else there
        path = self.define(guest_domain_xml('sv9', memory_mib=MEMORY_MIB))
        uuid = str(unwrap(self.client.prop(path, 'UUID')))
        save_dir = os.path.join(self.daemon.root, 'var', 'lib', 'vmgmt', 'save')
        os.makedirs(save_dir, exist_ok=True)
        part = os.path.join(save_dir, '.%s.save.Ab12Cd.part' % uuid)
        for p in (part, os.path.join(save_dir, 'other.save'), os.path.join(self.dir, '.x.save.Ab12Cd.part')):
            with open(p, 'wb') as f:
                f.write(b'VmgmtQemuSave\n' + bytes(100))
        self.daemon.restart()
        self.assertFalse(os.path.exists(part))
        self.assertEqual(sorted(os.listdir(save_dir)), ['other.save'])
        self.assertEqual(leftovers(self.dir), ['.x.save.Ab12Cd.part'])
        self.assertIn('Removed the unfinished managed save image ' + part, self.daemon.log_text())
        self.assertFalse(self.client.prop(path, 'HasManagedSave'))

    def test_on_host_shutdown_save(self):
        # [daemon] on_host_shutdown=save: vmgmtd's SIGTERM managed-saves the running domains
        self.daemon.restart_with_config('[daemon]\non_host_shutdown=save\n')
        path, con = self.boot('sv7')
        self.write_marker(con, 'host')
        self.assertEqual(self.daemon.stop(timeout=JOB_TIMEOUT), 0)
        self.assertEqual(self.fx.qemu_pids(), [])
        self.assertIn('on_host_shutdown=save', self.daemon.log_text())
        self.daemon.start()
        self.assertEqual(self.client.state(path)[0], 'shutoff')
        self.assertTrue(self.client.prop(path, 'HasManagedSave'))
        self.dom(path).Start(opts())
        self.assertEqual(self.client.state(path), ('running', 'restored'))
        self.read_marker(path, 'host')
        # without it (the default) nothing changes: the domain keeps running through a restart
        self.daemon.restart_with_config(None)   # the stop still saves: that vmgmtd read the setting
        self.dom(path).Start(opts())
        self.assertEqual(self.client.state(path), ('running', 'restored'))
        self.daemon.restart()
        self.assertEqual(self.client.state(path)[0], 'running')
        self.assertFalse(self.client.prop(path, 'HasManagedSave'))
        self.read_marker(path, 'host')
        # a bad value does not start
        self.daemon.stop()
        self.daemon.write_config('[daemon]\non_host_shutdown=hibernate\n')
        with self.assertRaises(RuntimeError):
            self.daemon.start()
        self.assertIn("invalid on_host_shutdown 'hibernate'", self.daemon.log_text())
        self.daemon.write_config(None)
        self.daemon.start()

    def ctl(self, *args, ok=True):
        r = run_vmgmtctl(self.fx.bus, *args, timeout=2 * JOB_TIMEOUT)
        if ok:
            self.assertEqual(r.returncode, 0, 'vmgmtctl %s: %s' % (' '.join(args), r.stderr))
        else:
            self.assertNotEqual(r.returncode, 0, 'vmgmtctl %s succeeded' % ' '.join(args))
        return r

    def test_cli_verbs(self):
        path, con = self.boot('sv6')
        self.write_marker(con, 'cli')
        d = self.dir
        # domjobinfo / domjobabort without a job
        self.assertIn('None', self.ctl('domjobinfo', 'sv6').stdout)
        self.assertIsNone(json.loads(self.ctl('--json=short', 'domjobinfo', 'sv6').stdout)['job'])
        self.assertIn('no job', self.ctl('domjobabort', 'sv6', ok=False).stderr)
        # memory-only dumps: the format, live, reset
        self.ctl('dump', 'sv6', d + '/m.core', '--memory-only', '--format', 'elf', '--live')
        self.assertTrue(elf_load_segments(d + '/m.core'))
        self.ctl('dump', 'sv6', d + '/b.core', '--memory-only', '--bypass-cache')
        self.assertTrue(elf_load_segments(d + '/b.core'))
        self.ctl('dump', 'sv6', d + '/r.core', '--memory-only', '--reset')
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        self.assertEqual(self.client.state(path)[0], 'running')
        self.write_marker(con, 'cli')
        # save (a relative FILE is the caller's), restore paused with a replacement definition
        xml = self.ctl('dumpxml', 'sv6', '--inactive').stdout
        with open(d + '/repl.xml', 'w') as f:
            f.write(xml)
        r = subprocess.run([VMGMTCTL, 'save', 'sv6', 'sv6.save', '--running', '--verbose', '--bypass-cache'], cwd=d,
                           env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.fx.bus.address), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=2 * JOB_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('saved', r.stdout.decode())
        self.assertEqual(self.client.state(path), ('shutoff', 'saved'))
        self.ctl('restore', d + '/sv6.save', '--running', '--paused', ok=False)
        self.ctl('restore', d + '/sv6.save', '--paused', '--xml', d + '/repl.xml', '--bypass-cache')
        self.assertEqual(self.client.state(path)[0], 'paused')
        self.ctl('resume', 'sv6')
        self.read_marker(path, 'cli')
        # managed save: refused options, then for real, then removed
        self.ctl('managedsave', 'sv6', '--running', '--paused', ok=False)
        out = json.loads(self.ctl('--json=short', 'managedsave', 'sv6', '--paused', '--verbose',
                                  '--bypass-cache').stdout)
        self.assertEqual(out['operation'], 'managedsave')
        self.assertTrue(self.client.prop(path, 'HasManagedSave'))
        self.ctl('managedsave-remove', 'sv6')
        self.assertFalse(self.client.prop(path, 'HasManagedSave'))
        self.ctl('start', 'sv6')
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        # a save followed by domjobinfo while it runs is racy; a dump --crash ends it
        self.ctl('save', 'sv6', d + '/p.save', '--paused', '--running', ok=False)
        self.ctl('restore', d + '/sv6.save', '--verbose', ok=False)   # the domain runs: InvalidState
        self.ctl('dump', 'sv6', d + '/c.dump', '--crash', '--verbose')
        self.assertEqual(self.client.state(path), ('shutoff', 'crashed'))


if __name__ == '__main__':
    main()
