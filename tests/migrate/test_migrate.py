# Live migration (issue 15 items 2 and 5) between two vmgmtd on one machine: host A (source) and
# host B (destination) in two network namespaces joined by a veth pair, each with its own bus,
# vmgmtd and root (migrate_harness.py). One booted busybox guest counts on its serial console:
# - a migration cancelled mid-way (bandwidth limited to 1 MiB/s so it is slow) leaves the guest
#   running on A, counting, and nothing on B; a second Migrate meanwhile is Busy; the Job's Info
#   and progress moved;
# - B's qemu killed mid-way: the job fails, the guest still runs (and counts) on A, nothing on B;
# - the veth between the hosts down mid-way: the guest counts on on A, Cancel ends it there (B's
#   incoming domain aborted over the bus), nothing on B;
# - the live migration: the count goes on on B's console, a marker written into the guest's RAM
#   before is there, A shows shutoff/migrated (stopped/migrated), B started/migrated then
#   resumed/migrated, B's domain is persistent (option persistent), A keeps its definition;
# - offline with undefine_source: only the definition moves, A's is gone (undefined/removed);
# - errors: a shut-off domain without offline is InvalidState, a bad option InvalidArgs naming
#   it, a destination that refuses (AlreadyExists there) fails the Job with its words, the guest
#   running on; PrepareMigration as uid 65534 on B is AccessDenied (a real polkitd), nothing made there;
# - vmgmtctl on B: migrate-setspeed/getspeed and migrate-setmaxdowntime/getmaxdowntime, then
#   `vmgmtctl migrate --live --verbose` back to A (a bus address): it runs on A again (running
#   migrated), still counting, its marker intact, and B's domain is shut off there (persistent);
# - postcopy (postcopy_now): runs on B, or where the kernel gives the confined qemu no userfaultfd,
#   B refuses ("Postcopy is not supported") and the guest runs on A: one side either way;
# - tls (TlsMigration): x509 credentials made with openssl, [migration] migrate_tls_x509_cert_dir on
#   both hosts; the guest arrives on B (credentials staged 0600 in B's qemu's run dir);
# - copy_storage (CopyStorage, a second guest): a local qcow2 disk on A, another one at the same path
#   on B (B's mount namespace binds its own directory there); data the guest wrote to its disk before
#   is in B's image after the migration (NBD export there, blockdev-mirror here), the Job counted the
#   disk's bytes, and the guest runs on B with its RAM marker.
import os

import dbus

from migrate_harness import (ADDR_A, ADDR_B, run_vmgmtctl, JOB_IFACE, WAIT, CountingMigrateTestCase,
                             COUNTER, MigrateTestCase, guest_domain_xml, last_tick, minimal_domain_xml, opts,
                             unwrap)
from migrate_harness import main  # noqa: F401

ERR_INVALID_STATE = 'org.vmgmt.Error.InvalidState'
ERR_BUSY = 'org.vmgmt.Error.Busy'
ERR_INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs'
ERR_ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
class LiveMigration(CountingMigrateTestCase):
    guest = 'mig'

    def test_1_cancel(self):
        path, con = self.booted()
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, bandwidth_mib=dbus.UInt64(1),
                                                                  listen_address=ADDR_B)))
        # the stream is under way: the Job's numbers move
        self.wait_until(lambda: unwrap(self.ca.prop(job, 'Info', JOB_IFACE)).get('ram_transferred', 0) > 0,
                        what='RAM transferred')
        p1 = self.job_props(self.ca, job)
        self.assertEqual(p1['Info'].get('status'), 'active', p1)
        self.assertGreater(p1['Info']['ram_total'], 0)
        self.wait_until(lambda: self.job_props(self.ca, job)['ProcessedBytes'] > p1['ProcessedBytes'],
                        what='the progress moving')
        # B has the incoming domain, paused, waiting
        self.assertEqual(self.domain_names(self.cb), [self.guest])
        bpath = self.cb.list_domains()[0]
        self.assertEqual(self.cb.prop(bpath, 'State'), 'paused')
        self.assertEqual(self.cb.prop(bpath, 'StateReason'), 'migration')
        # one job at a time
        e = self.assertDBusError(ERR_BUSY, self.ca.domain(path).Migrate, self.dest(), opts())
        self.assertIn(self.guest, e)
        dbus.Interface(self.ca.obj(job), JOB_IFACE).Cancel(opts())
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'cancelled', p)
        self.assert_counting_on_a()
        self.assert_nothing_on_b()
        self.assertNotIn(('stopped', 'migrated'), self.fa.rec.domain_events(path))

    def test_2_destination_killed(self):
        path, con = self.booted()
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, bandwidth_mib=dbus.UInt64(1),
                                                                  listen_address=ADDR_B)))
        self.wait_until(lambda: unwrap(self.ca.prop(job, 'Info', JOB_IFACE)).get('ram_transferred', 0) > 0,
                        what='RAM transferred')
        pids = self.wait_until(self.fb.qemu_pids, what="B's qemu")
        import signal
        for pid in pids:
            os_kill(pid, signal.SIGKILL)
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'failed', p)
        self.assert_counting_on_a()
        self.assert_nothing_on_b()

    def test_2b_network_down(self):
        path, con = self.booted()
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, bandwidth_mib=dbus.UInt64(1),
                                                                  listen_address=ADDR_B)))
        self.wait_until(lambda: unwrap(self.ca.prop(job, 'Info', JOB_IFACE)).get('ram_transferred', 0) > 0,
                        what='RAM transferred')
        self.host_b.link(False)   # the network between the hosts goes
        try:
            self.assert_counting_on_a()
            dbus.Interface(self.ca.obj(job), JOB_IFACE).Cancel(opts())
            p = self.wait_job(self.ca, job)
        finally:
            self.host_b.link(True)
        self.assertEqual(p['State'], 'cancelled', p)
        self.assert_counting_on_a()
        self.assert_nothing_on_b()

    def test_3_live(self):
        path, con = self.booted()
        before = last_tick(con)
        self.assertIsNotNone(before)
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, persistent=True,
                                                                  listen_address=ADDR_B)))
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'completed', p)
        self.assertEqual(p['Info'].get('status'), 'completed', p)
        self.assertGreater(p['Info']['ram_transferred'], 0)
        self.assertEqual(p['Progress'], 1.0)
        # A: stopped, migrated, still defined
        self.ca.wait_state(path, 'shutoff', timeout=WAIT, reason='migrated')
        self.fa.rec.wait_domain_event(path, 'stopped', 'migrated', timeout=WAIT)
        self.assertTrue(self.ca.prop(path, 'Persistent'))
        # B: started/migrated, then resumed/migrated; running, persistent
        bpath = self.wait_until(lambda: self.cb.list_domains(), what='the domain on B')[0]
        self.cb.wait_state(bpath, 'running', timeout=WAIT, reason='migrated')
        self.fb.rec.wait_domain_event(bpath, 'resumed', 'migrated', timeout=WAIT)
        evs = self.fb.rec.domain_events(bpath)
        self.assertIn(('started', 'migrated'), evs)
        self.assertLess(evs.index(('started', 'migrated')), evs.index(('resumed', 'migrated')))
        self.wait_until(lambda: self.cb.prop(bpath, 'Persistent'), what='persistent on B')
        # the guest goes on counting there, its RAM as it was
        bcon = self.fb.console(bpath)
        bcon.send('')
        self.wait_until(lambda: (last_tick(bcon) or 0) > before, what='the count going on on B')
        n = last_tick(bcon)
        self.wait_until(lambda: last_tick(bcon) > n, what='the count going on on B')
        bcon.send('cat /tmp/marker')
        bcon.wait_for('marker-42-ok', timeout=WAIT)
        self.assertEqual(self.fa.qemu_pids(), [])
        self.dom_b = bpath

    def test_4_offline_undefine_source(self):
        xml = minimal_domain_xml('offl')
        path = str(self.ca.manager.DefineDomain(xml, opts()))
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(offline=True, persistent=True,
                                                                  undefine_source=True)))
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'completed', p)
        self.fa.rec.wait_domain_event(path, 'undefined', 'removed', timeout=WAIT)
        self.assertNotIn('offl', self.domain_names(self.ca))
        self.wait_until(lambda: 'offl' in self.domain_names(self.cb), what='the definition on B')
        bpath = [q for q in self.cb.list_domains() if self.cb.prop(q, 'Name') == 'offl'][0]
        self.assertEqual(self.cb.prop(bpath, 'State'), 'shutoff')
        self.assertTrue(self.cb.prop(bpath, 'Persistent'))

    def test_5_errors(self):
        path = str(self.ca.manager.DefineDomain(minimal_domain_xml('idle'), opts()))
        self.assertDBusError(ERR_INVALID_STATE, self.ca.domain(path).Migrate, self.dest(), opts(live=True))
        e = self.assertDBusError(ERR_INVALID_ARGS, self.ca.domain(path).Migrate, self.dest(), opts(speedy=True))
        self.assertIn('speedy', e)
        e = self.assertDBusError(ERR_INVALID_ARGS, self.ca.domain(path).Migrate, self.dest(),
                                 opts(postcopy_now=True))
        self.assertIn('postcopy_now', e)
        # the destination refuses (its own domain of that name has another UUID): the job fails saying so,
        # the guest runs on here, B's domain is untouched
        self.cb.manager.DefineDomain(minimal_domain_xml('clash'), opts())
        cpath = str(self.ca.manager.CreateDomain(minimal_domain_xml('clash'), opts()))
        self.ca.wait_state(cpath, 'running', timeout=WAIT)
        job = str(self.ca.domain(cpath).Migrate(self.dest(), opts(live=True, listen_address=ADDR_B)))
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'failed', p)
        self.assertIn('already exists', p['Error'])
        self.assertEqual(self.ca.prop(cpath, 'State'), 'running')
        bclash = [q for q in self.cb.list_domains() if self.cb.prop(q, 'Name') == 'clash'][0]
        self.assertEqual(self.cb.prop(bclash, 'State'), 'shutoff')
        self.ca.domain(cpath).Destroy(opts())
        # vmgmtctl's flags reach the call: a shut-off domain is refused whatever they are
        r = run_vmgmtctl(self.fa.bus, 'migrate', 'idle', self.dest(), '--live', '--auto-converge', '--bandwidth', '10',
                         '--compressed', '--parallel-connections', '2', '--postcopy', '--max-downtime', '100',
                         '--listen-address', ADDR_B, '--verbose')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('not running', r.stderr)
        r = run_vmgmtctl(self.fa.bus, 'migrate', 'idle', 'qemu+ssh://root@' + ADDR_B + '/system', '--copy-storage-all',
                         '--tls')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('migrate_tls_x509_cert_dir', r.stderr)
        r = run_vmgmtctl(self.fa.bus, 'migrate', 'idle', 'qemu+ssh://root@' + ADDR_B + '/session')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('Unsupported destination URI', r.stderr)
        self.assertNotIn('idle', self.domain_names(self.cb))
        # the destination's side of a migration, asked of a domain that waits for none
        dom = self.ca.domain(path)
        with self.assertRaises(dbus.DBusException) as cm:
            dom.FinishIncomingMigration(opts(persistent=True))
        self.assertEqual(cm.exception.get_dbus_name(), ERR_INVALID_STATE)
        with self.assertRaises(dbus.DBusException) as cm:
            dom.AbortIncomingMigration(opts())
        self.assertEqual(cm.exception.get_dbus_name(), ERR_INVALID_STATE)
        self.assertDBusError(ERR_INVALID_STATE, dom.GetMigrationParameters, opts())
        self.assertDBusError(ERR_INVALID_STATE, dom.SetMigrationParameters, opts(bandwidth_mib=dbus.UInt64(5)))
        e = self.assertDBusError(ERR_INVALID_ARGS, dom.SetMigrationParameters, opts(speed=dbus.UInt64(5)))
        self.assertIn('speed', e)
        # offline with vmgmtctl: the definition moves
        run_vmgmtctl(self.fa.bus, 'migrate', 'idle', self.dest(), '--offline', '--persistent', '--undefinesource',
                     check=True)
        self.assertIn('idle', self.domain_names(self.cb))
        self.assertNotIn('idle', self.domain_names(self.ca))

    def test_6_polkit_on_destination(self):
        from auth_harness import NOBODY, UnprivClient
        u = UnprivClient(self.fb.bus.address, NOBODY, NOBODY, self.fb.tmp)
        try:
            r = u.call('/org/vmgmt', 'org.vmgmt.Manager', 'PrepareMigration', 'sa{sv}',
                       [guest_domain_xml('intruder'), {}])
        finally:
            u.close()
        self.assertEqual(r.get('error'), ERR_ACCESS_DENIED, r)
        self.assertNotIn('intruder', self.domain_names(self.cb))
        self.assertEqual([p for p in self.fb.qemu_pids()], self.fb.qemu_pids())

    def test_7_cli_back(self):
        bpath = self.wait_until(lambda: [q for q in self.cb.list_domains() if self.cb.prop(q, 'Name') == self.guest],
                                what='the migrated domain on B')[0]
        self.cb.wait_state(bpath, 'running', timeout=WAIT)
        ctl = lambda *a: run_vmgmtctl(self.fb.bus, *a, check=True)  # noqa: E731
        dom_b = self.cb.domain(bpath)
        dom_b.SetMigrationParameters(opts(bandwidth_mib=dbus.UInt64(64), max_downtime_ms=dbus.UInt64(400)))
        self.assertEqual(unwrap(dom_b.GetMigrationParameters(opts())), {'bandwidth_mib': 64, 'max_downtime_ms': 400})
        ctl('migrate-setspeed', self.guest, '--bandwidth', '100')
        self.assertEqual(ctl('migrate-getspeed', self.guest).stdout.strip(), '100')
        ctl('migrate-setmaxdowntime', self.guest, '--downtime', '500')
        self.assertEqual(ctl('migrate-getmaxdowntime', self.guest).stdout.strip(), '500')
        r = run_vmgmtctl(self.fb.bus, 'migrate', '--live', '--verbose', self.guest, self.fa.bus.address,
                         '--listen-address', ADDR_A, timeout=WAIT * 3)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('Migration: [100 %]', r.stderr)
        self.cb.wait_state(bpath, 'shutoff', timeout=WAIT, reason='migrated')
        path = self.wait_until(lambda: [q for q in self.ca.list_domains() if self.ca.prop(q, 'Name') == self.guest],
                               what='the domain on A')[0]
        self.ca.wait_state(path, 'running', timeout=WAIT, reason='migrated')
        con = self.fa.console(path)
        con.send('')
        n = self.wait_until(lambda: last_tick(con), what='a tick on A again')
        self.wait_until(lambda: last_tick(con) > n, what='the count going on on A')
        con.send('cat /tmp/marker')
        con.wait_for('marker-42-ok', timeout=WAIT)

    def test_8_postcopy(self):
        path = self.wait_until(lambda: [q for q in self.ca.list_domains() if self.ca.prop(q, 'Name') == self.guest],
                               what='the domain on A')[0]
        self.ca.wait_state(path, 'running', timeout=WAIT)
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, postcopy=True, postcopy_now=True,
                                                                  listen_address=ADDR_B)))
        p = self.wait_job(self.ca, job)
        # postcopy needs userfaultfd in the destination's (unprivileged, confined) qemu: where the kernel
        # does not give it (vm.unprivileged_userfaultfd=0, no /dev/userfaultfd for its uid) the destination
        # refuses and the guest runs on here; else it runs there. Exactly one side either way.
        if p['State'] == 'failed':
            self.assertIn('Postcopy is not supported', p['Error'])
            self.assertEqual(self.ca.prop(path, 'State'), 'running')
            self.assert_nothing_on_b_but_shutoff()
        else:
            self.assertEqual(p['State'], 'completed', p)
            self.ca.wait_state(path, 'shutoff', timeout=WAIT, reason='migrated')
            bpath = [q for q in self.cb.list_domains() if self.cb.prop(q, 'Name') == self.guest][0]
            self.cb.wait_state(bpath, 'running', timeout=WAIT, reason='migrated')

    def assert_nothing_on_b_but_shutoff(self):
        for q in self.cb.list_domains():
            self.assertEqual(self.cb.prop(q, 'State'), 'shutoff', q)


QEMU_IMG = '/usr/bin/qemu-img'


def disk_guest_xml(name, image):
    xml = guest_domain_xml(name)
    disk = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
            "<target dev='vda' bus='virtio'/></disk>" % image)
    return xml.replace('<devices>', '<devices>' + disk, 1)


def local_disk_guest(tc, name):
    """A booted guest on A whose disk is a local qcow2 with a marker written; B has an empty image at the same
    path (its own, bound there in B's mount namespace). Returns (path, B's image)."""
    import subprocess
    here = os.path.join(tc.fa.tmp, 'disks-' + name)
    there = os.path.join(tc.fb.tmp, 'disks-b-' + name)
    os.makedirs(here)
    os.makedirs(there)
    img = os.path.join(here, 'local.qcow2')
    for f in (img, os.path.join(there, 'local.qcow2')):
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', f, '32M'], check=True)
    tc.host_b.bind(there, here)   # in B the same path is B's own (empty) image
    tc.addCleanup(tc.host_b.unbind, here)
    path, con = tc.boot(name, xml=disk_guest_xml(name, img))
    con.send('echo marker-$((6*7))-ok > /tmp/marker; printf disk-marker-$((7*11))-ok > /dev/vda; sync; '
             'echo written-$((2*3))')
    con.wait_for('written-6', timeout=WAIT)
    return path, os.path.join(there, 'local.qcow2')


def assert_copied(tc, job, path, name, image_b):
    """The copy_storage migration job ends completed; the guest runs on B with its RAM marker, and B's own
    image has what the guest wrote on A (A's is the same as before, untouched by B)."""
    import subprocess
    p = tc.wait_job(tc.ca, job)
    tc.assertEqual(p['State'], 'completed', p)
    tc.assertEqual(p['Info'].get('disk_total'), 32 << 20, p)
    tc.assertEqual(p['Info'].get('disk_transferred'), 32 << 20, p)
    tc.ca.wait_state(path, 'shutoff', timeout=WAIT, reason='migrated')
    tc.wait_until(lambda: name in tc.domain_names(tc.cb), what='the domain on B')
    bpath = str(tc.cb.manager.GetDomain(name))
    tc.cb.wait_state(bpath, 'running', timeout=WAIT, reason='migrated')
    bcon = tc.fb.console(bpath)
    bcon.send('cat /tmp/marker')
    bcon.wait_for('marker-42-ok', timeout=WAIT)
    tc.cb.domain(bpath).Destroy(opts())
    tc.wait_until(lambda: name not in tc.domain_names(tc.cb), what='the transient domain gone from B')
    tc.ca.domain(path).Undefine(opts())
    raw = os.path.join(tc.fa.tmp, 'b.raw')
    subprocess.run([QEMU_IMG, 'convert', '-U', '-O', 'raw', image_b, raw], check=True)
    with open(raw, 'rb') as f:
        tc.assertEqual(f.read(16), b'disk-marker-77-o')
    os.unlink(raw)


class CopyStorage(MigrateTestCase):
    def test_copy_storage(self):
        path, image_b = local_disk_guest(self, 'copy')
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, copy_storage=True,
                                                                  listen_address=ADDR_B)))
        assert_copied(self, job, path, 'copy', image_b)


class CopyStorageMakesImages(MigrateTestCase):
    """copy_storage to a host whose pool lacks the image: the destination makes it (the source's format and
    virtual size) before the stream; a migration that does not end there removes it again."""

    def setUp(self):
        super().setUp()
        import os
        self.here = os.path.join(self.fa.tmp, 'made-%s' % self._testMethodName)
        self.there = os.path.join(self.fb.tmp, 'made-b-%s' % self._testMethodName)
        os.makedirs(self.here)
        os.makedirs(self.there)
        self.host_b.bind(self.there, self.here)   # in B the path is B's own, empty, directory
        self.addCleanup(self.host_b.unbind, self.here)
        # B's pool on it (in B's mount namespace)
        self.pool = str(self.cb.manager.DefinePool("<pool type='dir'><name>made</name><target><path>%s</path>"
                                                   "</target></pool>" % self.here, opts()))
        self.cb.obj(self.pool).Start(opts(), dbus_interface='org.vmgmt.StoragePool')
        self.addCleanup(self.drop_pool)

    def drop_pool(self):
        pool = self.cb.obj(self.pool)
        pool.Stop(opts(), dbus_interface='org.vmgmt.StoragePool')
        pool.Undefine(opts(), dbus_interface='org.vmgmt.StoragePool')

    def pool_volumes(self):
        pool = self.cb.obj(self.pool)
        pool.Refresh(opts(), dbus_interface='org.vmgmt.StoragePool')
        return sorted(str(self.cb.prop(v, 'Name', 'org.vmgmt.StorageVolume'))
                      for v in pool.ListVolumes(opts(), dbus_interface='org.vmgmt.StoragePool'))

    def test_made_there(self):
        import json
        import os
        import subprocess
        img = os.path.join(self.here, 'made.qcow2')
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', img, '48M'], check=True)
        path, con = self.boot('made', xml=disk_guest_xml('made', img))
        con.send('printf disk-marker-$((7*11))-ok > /dev/vda; sync; echo written-$((2*3))')
        con.wait_for('written-6', timeout=WAIT)
        self.assertEqual(self.pool_volumes(), [])
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, copy_storage=True,
                                                                  listen_address=ADDR_B)))
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'completed', p)
        bpath = self.wait_until(lambda: self.cb.list_domains(), what='the domain on B')[0]
        self.cb.wait_state(bpath, 'running', timeout=WAIT, reason='migrated')
        # B's image: made in its pool, of A's format and virtual size, with what the guest wrote on A
        self.assertEqual(self.pool_volumes(), ['made.qcow2'])
        self.cb.domain(bpath).Destroy(opts())
        self.wait_until(lambda: self.fb.qemu_pids() == [], what="B's qemu gone")
        made = os.path.join(self.there, 'made.qcow2')
        info = json.loads(subprocess.run([QEMU_IMG, 'info', '-U', '--output=json', made], check=True,
                                         capture_output=True).stdout)
        self.assertEqual((info['format'], info['virtual-size']), ('qcow2', 48 << 20), info)
        raw = os.path.join(self.fa.tmp, 'made.raw')
        subprocess.run([QEMU_IMG, 'convert', '-U', '-O', 'raw', made, raw], check=True)
        with open(raw, 'rb') as f:
            self.assertEqual(f.read(16), b'disk-marker-77-o')

    def test_cancelled_leaves_nothing_there(self):
        import os
        import subprocess
        img = os.path.join(self.here, 'gone.qcow2')
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', img, '48M'], check=True)
        path, con = self.boot('gone', xml=disk_guest_xml('gone', img))
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, copy_storage=True,
                                                                  bandwidth_mib=dbus.UInt64(1),
                                                                  listen_address=ADDR_B)))
        # the image is made there before anything is streamed
        self.wait_until(lambda: os.path.exists(os.path.join(self.there, 'gone.qcow2')), what='the image on B')
        self.wait_until(lambda: unwrap(self.ca.prop(job, 'Info', JOB_IFACE)).get('ram_transferred', 0) > 0,
                        what='RAM transferred')
        dbus.Interface(self.ca.obj(job), JOB_IFACE).Cancel(opts())
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'cancelled', p)
        self.assertEqual(self.ca.prop(path, 'State'), 'running')
        self.wait_until(lambda: self.cb.list_domains() == [] and self.fb.qemu_pids() == [],
                        what='nothing on B')
        self.wait_until(lambda: not os.path.exists(os.path.join(self.there, 'gone.qcow2')),
                        what='the image made on B removed')
        self.assertEqual(self.pool_volumes(), [])
        self.ca.domain(path).Destroy(opts())


def make_tls(d):
    """A CA, a server certificate for B's address and a client certificate (openssl)."""
    import os
    import subprocess
    os.makedirs(d, mode=0o700, exist_ok=True)
    run = lambda *a: subprocess.run(['openssl'] + list(a), check=True, cwd=d, capture_output=True)  # noqa: E731
    run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=vmgmt test CA',
        '-keyout', 'ca-key.pem', '-out', 'ca-cert.pem', '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    for who, ext in (('server', 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth' % ADDR_B),
                     ('client', 'extendedKeyUsage=clientAuth')):
        run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=' + who, '-keyout', who + '-key.pem',
            '-out', who + '.csr')
        with open(os.path.join(d, who + '.ext'), 'w') as f:
            f.write(ext + '\nkeyUsage=critical,digitalSignature,keyEncipherment\n')
        run('x509', '-req', '-in', who + '.csr', '-CA', 'ca-cert.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial',
            '-days', '2', '-extfile', who + '.ext', '-out', who + '-cert.pem')


class TlsMigration(MigrateTestCase):
    @classmethod
    def setUpClass(cls):
        import shutil
        import tempfile
        if not shutil.which('openssl'):
            from vmgmt_harness import skip_missing
            skip_missing('/usr/bin/openssl', 'openssl')
        # a directory of its own (the test's pid is 1 in its pid namespace: not unique)
        tls_dir = tempfile.mkdtemp(prefix='vmgmt-migrate-tls-')
        cls.addClassCleanup(shutil.rmtree, tls_dir, True)
        make_tls(tls_dir)
        cls.config = '[migration]\nmigrate_tls_x509_cert_dir=%s\n' % tls_dir
        cls.tls_dir = tls_dir
        super().setUpClass()

    def test_tls(self):
        path, con = self.boot('tlsg', persistent=False)
        con.send('echo marker-$((6*7))-ok > /tmp/marker')
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, tls=True, listen_address=ADDR_B)))
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'completed', p)
        bpath = self.wait_until(lambda: self.cb.list_domains(), what='the domain on B')[0]
        self.cb.wait_state(bpath, 'running', timeout=WAIT, reason='migrated')
        bcon = self.fb.console(bpath)
        bcon.send('cat /tmp/marker')
        bcon.wait_for('marker-42-ok', timeout=WAIT)
        # the source's transient domain is gone with its qemu
        self.wait_until(lambda: self.ca.list_domains() == [], what='the transient domain gone from A')
        # the stream really was TLS: B's qemu had the x509 object (its log names no error) and the
        # credentials were staged in its run dir, readable by its uid only
        staged = [os.path.join(dp, 'server-key.pem') for dp, _, fs in os.walk(self.fb.daemon.run_dir)
                  if 'server-key.pem' in fs]
        self.assertEqual(len(staged), 1, staged)
        self.assertEqual(os.stat(staged[0]).st_mode & 0o777, 0o600)


    def nbd_list(self, port, tls):
        """qemu-nbd --list against B's port (in B), plain or with the client's credentials: (rc, output)."""
        import subprocess
        args = ['qemu-nbd', '--list', '-b', ADDR_B, '-p', str(port)]
        if tls:
            args += ['--object', 'tls-creds-x509,id=tls0,endpoint=client,dir=%s' % self.tls_dir, '--tls-creds', 'tls0']
        p = subprocess.run(self.host_b.prefix() + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        return p.returncode, p.stdout.decode(errors='replace')

    def nbd_port(self):
        """The port of B's NBD server, as B's qemu log says, once B's qemu listens on it."""
        import re
        for dp, _, fs in os.walk(self.fb.daemon.log_dir):
            for f in fs:
                with open(os.path.join(dp, f), errors='replace') as log:
                    m = re.search(r"the disks' NBD server listens on port (\d+)", log.read())
                if m and ':%s ' % m.group(1) in self.host_b.run('ss', '-ltnH').stdout.decode():
                    return int(m.group(1))
        return None

    def test_tls_copy_storage(self):
        path, image_b = local_disk_guest(self, 'tlscopy')
        # slowly, so that B's NBD server can be looked at while the RAM goes
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, copy_storage=True, tls=True,
                                                                  bandwidth_mib=dbus.UInt64(1),
                                                                  listen_address=ADDR_B)))
        self.wait_until(lambda: unwrap(self.ca.prop(job, 'Info', JOB_IFACE)).get('ram_transferred', 0) > 0,
                        what='RAM transferred')
        port = self.wait_until(self.nbd_port, what="B's NBD server listening")
        # the disks' NBD server takes TLS clients only: a plain one is refused, one with the CA's client
        # certificate sees the export
        rc, out = self.nbd_list(port, tls=False)
        self.assertNotEqual(rc, 0, out)
        self.assertIn('TLS', out)
        rc, out = self.nbd_list(port, tls=True)
        self.assertEqual(rc, 0, out)
        self.assertIn('vda', out)
        self.ca.domain(path).SetMigrationParameters(opts(bandwidth_mib=dbus.UInt64(0)))
        assert_copied(self, job, path, 'tlscopy', image_b)


class PostcopyUnconfined(MigrateTestCase):
    """Post-copy where qemu may use userfaultfd: qemu 7.2 makes its own with the syscall, which an
    unprivileged (confined) qemu gets only with vm.unprivileged_userfaultfd=1, so these hosts run
    qemu unconfined (confinement=off, qemu as root): the switch to post-copy happens and the guest,
    counting, goes on on B with its RAM as it was."""
    config = '[daemon]\nconfinement=off\n'

    def test_postcopy(self):
        path, con = self.boot('pcg', persistent=False)
        con.send('echo marker-$((6*7))-ok > /tmp/marker; ' + COUNTER)
        con.wait_for('tick-3-', timeout=WAIT)
        before = last_tick(con)
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, postcopy=True, postcopy_now=True,
                                                                  listen_address=ADDR_B)))
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'completed', p)
        self.assertIn(p['Info'].get('status'), ('completed', 'postcopy-active'), p)
        bpath = self.wait_until(lambda: self.cb.list_domains(), what='the domain on B')[0]
        self.cb.wait_state(bpath, 'running', timeout=WAIT, reason='migrated')
        bcon = self.fb.console(bpath)
        bcon.send('')
        self.wait_until(lambda: (last_tick(bcon) or 0) > before, what='the count going on on B')
        bcon.send('cat /tmp/marker')
        bcon.wait_for('marker-42-ok', timeout=WAIT)
        self.wait_until(lambda: self.ca.list_domains() == [], what='the transient domain gone from A')


def os_kill(pid, sig):
    import os
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


if __name__ == '__main__':
    main()
