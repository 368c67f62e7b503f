# Block jobs on a running domain (issue 13, part 5): BlockPull, BlockCommit
# (below the top, and of the active layer with a pivot), BlockCopy with a
# pivot, BlockResize, Cancel and BlockJobAbort, and the errors of bad input.
#
# The domain runs paused with one virtio disk on a qcow2 chain made by
# qemu-img in the test's directory (base <- mid <- top); each layer holds
# known bytes written with qemu-io at its own offset, so the data seen
# through the top tells whether every layer's data is still there. Block jobs
# work with the guest's CPUs stopped. The files are checked with qemu-img /
# qemu-io once the domain is destroyed (qemu holds write locks while it runs).

import json
import os
import shutil
import socket
import subprocess
import time

import dbus

from vmgmt_harness import (VmgmtTestCase, log, main, minimal_domain_xml, opts, run_vmgmtctl)
from vmgmt_testmain import skip_missing

JOB_IFACE = 'org.vmgmt.Job'
ERR = 'org.vmgmt.Error.'
INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs'
MIB = 1024 * 1024

# (layer, offset, pattern byte): each layer writes 1 MiB of its own
LAYERS = (('base', 0, 0x11), ('mid', 1 * MIB, 0x22), ('top', 2 * MIB, 0x33))


def qemu_img(*args):
    return subprocess.run(['qemu-img'] + list(args), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT).stdout.decode()


def image_info(path):
    return json.loads(qemu_img('info', '-U', '--output=json', path))


def qemu_io(path, cmd, fmt='qcow2'):
    r = subprocess.run(['qemu-io', '-f', fmt, '-c', cmd, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode()
    return r.returncode == 0 and 'Pattern verification failed' not in out and 'failed' not in out.lower(), out


def disk_xml(path, fmt='qcow2'):
    return ("<disk type='file' device='disk'><driver name='qemu' type='%s'/>"
            "<source file='%s'/><target dev='vda' bus='virtio'/></disk>" % (fmt, path))


class BlockJobs(VmgmtTestCase):

    def setUp(self):
        for tool in ('qemu-img', 'qemu-io'):
            if not shutil.which(tool):
                skip_missing(tool, 'qemu-utils')
        super().setUp()
        self.dir = os.path.join(self.fx.tmp, 'images')
        os.makedirs(self.dir)

    # ---- helpers ----

    def chain(self, size='16M'):
        """base <- mid <- top, each with its pattern; returns {name: path}."""
        paths, below = {}, None
        for name, offset, pattern in LAYERS:
            p = os.path.join(self.dir, name + '.qcow2')
            if below:
                qemu_img('create', '-q', '-f', 'qcow2', '-b', below, '-F', 'qcow2', p)
            else:
                qemu_img('create', '-q', '-f', 'qcow2', p, size)
            ok, out = qemu_io(p, 'write -P %d %d 1M' % (pattern, offset))
            self.assertTrue(ok, out)
            paths[name] = below = p
        return paths

    def assert_data(self, path, layers=LAYERS, fmt='qcow2'):
        for name, offset, pattern in layers:
            ok, out = qemu_io(path, 'read -P %d %d 1M' % (pattern, offset), fmt)
            self.assertTrue(ok, 'data of %s not in %s: %s' % (name, path, out))

    def backing(self, path):
        return image_info(path).get('backing-filename')

    def start(self, name, disk, fmt='qcow2'):
        path = self.define(minimal_domain_xml(name, extra_devices=disk_xml(disk, fmt)))
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        return path

    def stop(self, path):
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')

    def job_props(self, job):
        return self.client.props(job, JOB_IFACE)

    def wait_job(self, job, states=('completed', 'failed', 'cancelled'), timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            p = self.job_props(job)
            if str(p['State']) in states:
                return p
            if time.monotonic() > deadline:
                self.fail('job %s still %s after %d s: %s' % (job, p['State'], timeout, dict(p)))
            time.sleep(0.2)

    def wait_ready(self, job, timeout=120):
        """A copy or active commit is ready when all its bytes are done while it still runs."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.job_props(job)
            self.assertEqual(str(p['State']), 'running', dict(p))
            if int(p['TotalBytes']) > 0 and int(p['ProcessedBytes']) == int(p['TotalBytes']):
                return p
            if time.monotonic() > deadline:
                self.fail('job %s not ready after %d s: %s' % (job, timeout, dict(p)))
            time.sleep(0.2)

    def source(self, path):
        xml = str(self.dom(path).GetXML(opts()))
        i = xml.index("<source file='") + len("<source file='")
        return xml[i:xml.index("'", i)]

    # ---- tests ----

    def test_pull_makes_top_standalone(self):
        c = self.chain()
        path = self.start('bj-pull', c['top'])
        job = str(self.dom(path).BlockPull('vda', opts()))
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'completed', dict(p))
        self.assertEqual(str(p['Type']), 'block-pull')
        self.assertGreater(int(p['TotalBytes']), 0)
        self.assertEqual(self.source(path), c['top'])
        self.stop(path)
        self.assertIsNone(self.backing(c['top']), image_info(c['top']))
        self.assert_data(c['top'])

    def test_pull_to_base(self):
        c = self.chain()
        path = self.start('bj-pull-base', c['top'])
        job = str(self.dom(path).BlockPull('vda', opts(base=c['base'])))
        self.assertEqual(str(self.wait_job(job)['State']), 'completed')
        self.stop(path)
        self.assertEqual(self.backing(c['top']), c['base'])
        self.assert_data(c['top'])

    def test_commit_mid_into_base(self):
        c = self.chain()
        path = self.start('bj-commit', c['top'])
        job = str(self.dom(path).BlockCommit('vda', opts(top=c['mid'], base='vda[2]')))
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'completed', dict(p))
        self.assertEqual(str(p['Type']), 'block-commit')
        self.assertEqual(self.source(path), c['top'])
        # the top's header names the base by its path (qemu's own name of it is /dev/fdset/N)
        self.assertEqual(self.backing(c['top']), c['base'])
        # a second job on the shorter chain: the driver follows qemu's graph
        job = str(self.dom(path).BlockPull('vda', opts()))
        self.assertEqual(str(self.wait_job(job)['State']), 'completed')
        self.stop(path)
        self.assertIsNone(self.backing(c['top']))
        self.assert_data(c['top'])
        # mid's data is in base now
        self.assert_data(c['base'], LAYERS[:2])

    def test_active_commit_with_pivot(self):
        c = self.chain()
        path = self.start('bj-active', c['top'])
        job = str(self.dom(path).BlockCommit('vda', opts(active=True, pivot=True)))
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'completed', dict(p))
        self.assertEqual(self.source(path), c['base'])
        self.stop(path)
        self.assertIsNone(self.backing(c['base']))
        self.assert_data(c['base'])

    def test_active_commit_waits_for_pivot(self):
        c = self.chain()
        path = self.start('bj-active-wait', c['top'])
        job = str(self.dom(path).BlockCommit('vda', opts(active=True, base=c['mid'])))
        self.wait_ready(job)
        self.dom(path).BlockJobAbort('vda', opts(pivot=True))
        self.assertEqual(str(self.job_props(job)['State']), 'completed')
        self.assertEqual(self.source(path), c['mid'])
        self.stop(path)
        self.assertEqual(self.backing(c['mid']), c['base'])
        self.assert_data(c['mid'])

    def test_copy_with_pivot(self):
        c = self.chain()
        dest = os.path.join(self.dir, 'copy.qcow2')
        qemu_img('create', '-q', '-f', 'qcow2', dest, '16M')
        path = self.start('bj-copy', c['top'])
        job = str(self.dom(path).BlockCopy('vda', dest, opts(reuse_external=True, pivot=True)))
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'completed', dict(p))
        self.assertEqual(str(p['Type']), 'block-copy')
        self.assertEqual(self.source(path), dest)
        # qemu holds the copy (the old layers' fds stay in their fdsets while
        # the guest is paused: qemu 7.2 closes fdset fds only while it runs)
        pid = self.fx.qemu_pids()[0]
        held = [os.readlink('/proc/%d/fd/%s' % (pid, fd)) for fd in os.listdir('/proc/%d/fd' % pid)]
        self.assertIn(dest, held)
        self.stop(path)
        self.assertIsNone(self.backing(dest))
        self.assert_data(dest)

    def leftovers(self):
        return sorted(n for n in os.listdir(self.dir) if n.endswith('.part'))

    def test_copy_to_new_file_with_pivot(self):
        c = self.chain()
        dest = os.path.join(self.dir, 'new.qcow2')
        path = self.start('bj-copy-new', c['top'])
        job = str(self.dom(path).BlockCopy('vda', dest, opts(pivot=True)))
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'completed', dict(p))
        self.assertEqual(self.source(path), dest)
        self.stop(path)
        self.assertEqual(self.leftovers(), [])
        info = image_info(dest)
        self.assertEqual((info['format'], info['virtual-size']), ('qcow2', 16 * MIB), info)
        self.assertIsNone(info.get('backing-filename'))
        self.assert_data(dest)

    def test_shallow_copy_to_new_raw_and_qcow2(self):
        c = self.chain()
        path = self.start('bj-copy-shallow', c['top'])
        shallow = os.path.join(self.dir, 'shallow.qcow2')
        job = str(self.dom(path).BlockCopy('vda', shallow, opts(shallow=True, finish=True)))
        self.assertEqual(str(self.wait_job(job)['State']), 'completed')
        raw = os.path.join(self.dir, 'full.raw')
        job = str(self.dom(path).BlockCopy('vda', raw, opts(format='raw', finish=True)))
        self.assertEqual(str(self.wait_job(job)['State']), 'completed')
        # finish: the disk stays on its image
        self.assertEqual(self.source(path), c['top'])
        self.stop(path)
        self.assertEqual(self.backing(shallow), c['mid'])
        self.assert_data(shallow)
        self.assertEqual(image_info(raw)['virtual-size'], 16 * MIB)
        self.assert_data(raw, fmt='raw')
        self.assertEqual(self.leftovers(), [])

    def test_cancel_of_new_copy_leaves_no_file(self):
        c = self.chain(size='64M')
        ok, out = qemu_io(c['mid'], 'write -P 0x44 8M 48M')
        self.assertTrue(ok, out)
        dest = os.path.join(self.dir, 'cancelled.qcow2')
        path = self.start('bj-copy-cancel', c['top'])
        job = str(self.dom(path).BlockCopy('vda', dest, opts(bandwidth_mib=dbus.UInt64(1))))
        self.assertEqual(str(self.job_props(job)['State']), 'running')
        self.client.obj(job).Cancel(opts(), dbus_interface=JOB_IFACE)
        self.assertEqual(str(self.wait_job(job)['State']), 'cancelled')
        self.assertEqual(self.source(path), c['top'])
        # the temporary goes in the background
        deadline = time.monotonic() + 60
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.leftovers(), [])
        self.assertFalse(os.path.exists(dest))
        self.stop(path)
        self.assert_data(c['top'])

    def test_pivot_survives_restart(self):
        c = self.chain()
        path = self.start('bj-restart', c['top'])
        job = str(self.dom(path).BlockCommit('vda', opts(active=True, pivot=True, base=c['mid'])))
        self.assertEqual(str(self.wait_job(job)['State']), 'completed')
        self.assertEqual(self.source(path), c['mid'])
        # vmgmtd killed and started again: the status file has the new source,
        # and the next job finds the disk in qemu's graph
        self.daemon.kill()
        self.daemon.start()
        self.assertEqual(self.client.state(path)[0], 'paused')
        self.assertEqual(self.source(path), c['mid'])
        job = str(self.dom(path).BlockPull('vda', opts()))
        self.assertEqual(str(self.wait_job(job)['State']), 'completed')
        self.stop(path)
        self.assertIsNone(self.backing(c['mid']))
        self.assert_data(c['mid'])

    # ---- block jobs across a vmgmtd restart ----

    def domain_jobs(self, path):
        """{job path: props} of the Job objects on the bus whose Object is the domain path."""
        return {p: ifs[JOB_IFACE] for p, ifs in self.client.managed_objects().items()
                if JOB_IFACE in ifs and str(ifs[JOB_IFACE]['Object']) == path}

    def adopted_job(self, path, old, type_):
        """The one Job the restarted vmgmtd made for the domain's block job (old: the path before)."""
        jobs = {p: j for p, j in self.domain_jobs(path).items() if p != old}
        self.assertEqual(len(jobs), 1, 'Job objects of %s after the restart: %s' % (path, jobs))
        job, props = jobs.popitem()
        self.assertTrue(job.startswith('/org/vmgmt/job/'), job)
        self.assertEqual(str(props['Type']), type_, dict(props))
        return job, props

    def wait_running_in_qemu(self, job, timeout=120):
        """Until qemu runs the job (its progress is known): vmgmtd's status has it from then on."""
        deadline = time.monotonic() + timeout
        while int(self.job_props(job)['TotalBytes']) == 0:
            self.assertLess(time.monotonic(), deadline, 'job %s never ran in qemu' % job)
            time.sleep(0.1)
        self.assertEqual(str(self.job_props(job)['State']), 'running')

    def qmp(self, uuid, *commands):
        """While vmgmtd is down: the commands on the QMP monitor of the domain
        with `uuid` (qemu takes one client at a time); returns their replies' "return"."""
        sock = os.path.join(self.daemon.run_dir, uuid, 'monitor.sock')
        out = []
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(60)
            s.connect(sock)
            f = s.makefile('rwb')
            json.loads(f.readline())   # the greeting
            for cmd, args in (('qmp_capabilities', {}),) + commands:
                f.write(json.dumps({'execute': cmd, 'arguments': args}).encode() + b'\n')
                f.flush()
                while True:
                    msg = json.loads(f.readline())
                    self.assertNotIn('error', msg, '%s: %s' % (cmd, msg))
                    if 'return' in msg:
                        out.append(msg['return'])
                        break
                    # events, and anything else that is not this command's reply (seen once under
                    # ASan in CI: a message with neither 'return' nor 'event' after the greeting)
                    log('qmp %s: skipping %s' % (cmd, str(msg)[:200]))
        return out[1:]

    def qemu_jobs_while_down(self, uuid, until, timeout=300):
        """query-block-jobs until until(jobs) holds; vmgmtd must be down."""
        deadline = time.monotonic() + timeout
        while True:
            jobs = self.qmp(uuid, ('query-block-jobs', {}))[0]
            if until(jobs):
                return jobs
            self.assertLess(time.monotonic(), deadline, 'qemu\'s block jobs stay %s' % jobs)
            time.sleep(0.5)

    def slow_chain(self, mib=16):
        """The chain, with mid holding `mib` MiB more: a job at 1 MiB/s runs for a while."""
        c = self.chain(size='64M')
        ok, out = qemu_io(c['mid'], 'write -P 0x44 8M %dM' % mib)
        self.assertTrue(ok, out)
        return c

    def test_ready_copy_survives_restart(self):
        c = self.chain()
        dest = os.path.join(self.dir, 'adopted.qcow2')
        path = self.start('bj-adopt-copy', c['top'])
        job = str(self.dom(path).BlockCopy('vda', dest, opts()))
        self.wait_ready(job)
        # SIGTERM: vmgmtd goes with the job running (qemu keeps mirroring)
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        self.assertEqual(self.client.state(path)[0], 'paused')
        job, props = self.adopted_job(path, job, 'block-copy')
        self.assertEqual(str(props['State']), 'running', dict(props))
        self.wait_ready(job)
        self.dom(path).BlockJobAbort('vda', opts(pivot=True))
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'completed', dict(p))
        self.assertEqual(self.source(path), dest)
        # the new file gets its name when the job is done (in the background)
        deadline = time.monotonic() + 60
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.leftovers(), [])
        self.assertTrue(os.path.exists(dest))
        # and once more over a crash: the live XML the status keeps names the copy
        self.daemon.kill()
        self.daemon.start()
        self.assertEqual(self.source(path), dest)
        self.stop(path)
        self.assertIsNone(self.backing(dest))
        self.assert_data(dest)

    def test_slow_commit_survives_crash(self):
        c = self.slow_chain()
        path = self.start('bj-adopt-commit', c['top'])
        job = str(self.dom(path).BlockCommit('vda', opts(top=c['mid'], base=c['base'],
                                                          bandwidth_mib=dbus.UInt64(1))))
        self.wait_running_in_qemu(job)
        self.daemon.kill()
        self.daemon.start()
        job, props = self.adopted_job(path, job, 'block-commit')
        self.assertEqual(str(props['State']), 'running', dict(props))
        p = self.wait_job(job, timeout=300)
        self.assertEqual(str(p['State']), 'completed', dict(p))
        self.assertGreater(int(p['TotalBytes']), 0)
        self.assertEqual(self.backing(c['top']), c['base'])
        # qemu's graph is as the job left it: the next job finds the chain
        job = str(self.dom(path).BlockPull('vda', opts()))
        self.assertEqual(str(self.wait_job(job)['State']), 'completed')
        self.stop(path)
        self.assert_data(c['top'], LAYERS + (('mid-more', 8 * MIB, 0x44),))

    def test_pull_that_ended_while_down(self):
        c = self.slow_chain(mib=4)
        path = self.start('bj-adopt-ended', c['top'])
        job = str(self.dom(path).BlockPull('vda', opts(base=c['base'], bandwidth_mib=dbus.UInt64(1))))
        self.wait_running_in_qemu(job)
        self.daemon.kill()
        # qemu finishes the job with nobody listening: top's header then names base
        deadline = time.monotonic() + 300
        while self.backing(c['top']) != c['base']:
            self.assertLess(time.monotonic(), deadline, 'the pull did not finish in qemu')
            time.sleep(0.5)
        self.daemon.start()
        job, props = self.adopted_job(path, job, 'block-pull')
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'completed', dict(p))
        self.assertEqual(self.source(path), c['top'])
        # concluded once: a new job may start on the disk, and the old one is not reported again
        job2 = str(self.dom(path).BlockPull('vda', opts()))
        self.assertEqual(str(self.wait_job(job2)['State']), 'completed')
        self.assertEqual(sorted(self.domain_jobs(path)), sorted([job, job2]))
        self.stop(path)
        self.assert_data(c['top'], LAYERS + (('mid-more', 8 * MIB, 0x44),))

    def test_copy_ready_while_down_pivots(self):
        c = self.slow_chain(mib=4)
        dest = os.path.join(self.dir, 'ready-while-down.qcow2')
        path = self.start('bj-adopt-ready', c['top'])
        job = str(self.dom(path).BlockCopy('vda', dest, opts(pivot=True, bandwidth_mib=dbus.UInt64(1))))
        self.wait_running_in_qemu(job)
        uuid = str(self.client.prop(path, 'UUID'))
        self.daemon.kill()
        # ready with nobody listening (BLOCK_JOB_READY went nowhere)
        self.qemu_jobs_while_down(uuid, lambda jobs: jobs and jobs[0]['ready'])
        self.daemon.start()
        job, _ = self.adopted_job(path, job, 'block-copy')
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'completed', dict(p))
        self.assertEqual(self.source(path), dest)
        self.stop(path)
        deadline = time.monotonic() + 60
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.leftovers(), [])
        self.assert_data(dest, LAYERS + (('mid-more', 8 * MIB, 0x44),))

    def test_pivot_while_down_is_concluded(self):
        c = self.chain()
        path = self.start('bj-adopt-pivoted', c['top'])
        job = str(self.dom(path).BlockCommit('vda', opts(active=True, base=c['mid'])))
        self.wait_ready(job)
        # vmgmtd crashed right after it asked for the pivot: qemu switched the
        # disk to the base and dismissed the job with nobody listening
        uuid = str(self.client.prop(path, 'UUID'))
        self.daemon.kill()
        self.qmp(uuid, ('job-complete', {'id': 'vmgmt-commit-virtio-disk0'}))
        self.qemu_jobs_while_down(uuid, lambda jobs: not jobs)
        self.daemon.start()
        job, _ = self.adopted_job(path, job, 'block-commit')
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'completed', dict(p))
        # the live definition follows the pivot, and qemu's graph is clean for the next job
        self.assertEqual(self.source(path), c['mid'])
        job2 = str(self.dom(path).BlockPull('vda', opts()))
        self.assertEqual(str(self.wait_job(job2)['State']), 'completed')
        self.stop(path)
        self.assertIsNone(self.backing(c['mid']))
        self.assert_data(c['mid'])

    def test_cancel_of_adopted_copy(self):
        c = self.slow_chain(mib=48)
        dest = os.path.join(self.dir, 'adopted-cancelled.qcow2')
        path = self.start('bj-adopt-cancel', c['top'])
        job = str(self.dom(path).BlockCopy('vda', dest, opts(bandwidth_mib=dbus.UInt64(1))))
        self.wait_running_in_qemu(job)
        self.daemon.kill()
        self.daemon.start()
        job, props = self.adopted_job(path, job, 'block-copy')
        self.assertEqual(str(props['State']), 'running', dict(props))
        self.client.obj(job).Cancel(opts(), dbus_interface=JOB_IFACE)
        self.assertEqual(str(self.wait_job(job)['State']), 'cancelled')
        self.assertEqual(self.source(path), c['top'])
        # the new file (still at its temporary name) goes as whoever created it
        deadline = time.monotonic() + 60
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.leftovers(), [])
        self.assertFalse(os.path.exists(dest))
        self.stop(path)
        self.assert_data(c['top'])

    def test_pivot_asked_before_crash_is_asked_again(self):
        c = self.chain()
        dest = os.path.join(self.dir, 'asked.qcow2')
        qemu_img('create', '-q', '-f', 'qcow2', dest, '16M')
        path = self.start('bj-adopt-asked', c['top'])
        job = str(self.dom(path).BlockCopy('vda', dest, opts(reuse_external=True)))
        self.wait_ready(job)
        uuid = str(self.client.prop(path, 'UUID'))
        self.daemon.kill()
        # as if vmgmtd had crashed after noting the pivot, before job-complete reached qemu
        status = os.path.join(self.daemon.run_dir, uuid + '.status')
        with open(status) as f:
            lines = f.read().split('\n')
        n = 0
        for i, line in enumerate(lines):
            if line.startswith('blockjob='):
                rec = json.loads(line[len('blockjob='):])
                self.assertEqual(rec['phase'], 'ready', rec)
                rec.update(phase='ending', pivot_requested=True)
                lines[i] = 'blockjob=' + json.dumps(rec, separators=(',', ':'))
                n += 1
        self.assertEqual(n, 1, 'block jobs in %s' % status)
        with open(status, 'w') as f:
            f.write('\n'.join(lines))
        self.daemon.start()
        job, _ = self.adopted_job(path, job, 'block-copy')
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'completed', dict(p))
        self.assertEqual(self.source(path), dest)
        self.stop(path)
        self.assert_data(dest)

    def test_copy_abort_keeps_source(self):
        c = self.chain()
        dest = os.path.join(self.dir, 'copy.raw')
        qemu_img('create', '-q', '-f', 'raw', dest, '16M')
        path = self.start('bj-copy-abort', c['top'])
        job = str(self.dom(path).BlockCopy('vda', dest, opts(reuse_external=True, format='raw')))
        self.wait_ready(job)
        self.dom(path).BlockJobAbort('vda', opts())
        self.assertEqual(str(self.job_props(job)['State']), 'completed')
        self.assertEqual(self.source(path), c['top'])
        self.stop(path)
        self.assert_data(dest, fmt='raw')
        self.assertEqual(self.backing(c['top']), c['mid'])

    def test_resize(self):
        c = self.chain()
        path = self.start('bj-resize', c['top'])
        self.dom(path).BlockResize('vda', dbus.UInt64(32 * MIB), opts())
        self.stop(path)
        self.assertEqual(image_info(c['top'])['virtual-size'], 32 * MIB)
        self.assert_data(c['top'])

    def test_cancel_leaves_chain(self):
        c = self.chain(size='64M')
        # more data below the top, so that a limited job takes a while
        ok, out = qemu_io(c['mid'], 'write -P 0x44 8M 48M')
        self.assertTrue(ok, out)
        path = self.start('bj-cancel', c['top'])
        job = str(self.dom(path).BlockCommit('vda', opts(top=c['mid'], bandwidth_mib=dbus.UInt64(1))))
        self.assertEqual(str(self.job_props(job)['State']), 'running')
        self.client.obj(job).Cancel(opts(), dbus_interface=JOB_IFACE)
        p = self.wait_job(job)
        self.assertEqual(str(p['State']), 'cancelled', dict(p))
        # the chain as before
        self.assertEqual(self.source(path), c['top'])
        self.stop(path)
        self.assertEqual(self.backing(c['top']), c['mid'])
        self.assertEqual(self.backing(c['mid']), c['base'])
        self.assert_data(c['top'])

    def test_errors_change_nothing(self):
        c = self.chain()
        other = os.path.join(self.dir, 'other.qcow2')
        qemu_img('create', '-q', '-f', 'qcow2', other, '16M')
        path = self.start('bj-errors', c['top'])
        d = self.dom(path)
        msg = self.assertDBusError(INVALID_ARGS, d.BlockCommit, 'vdz', opts(top=c['mid']))
        self.assertIn("'vdz'", msg)
        msg = self.assertDBusError(INVALID_ARGS, d.BlockCommit, 'vda', opts(top=c['mid'], base=other))
        self.assertIn(other, msg)
        self.assertIn('not in the backing chain', msg)
        msg = self.assertDBusError(INVALID_ARGS, d.BlockCommit, 'vda', opts(top=c['base'], base=c['mid']))
        self.assertIn('not below', msg)
        msg = self.assertDBusError(INVALID_ARGS, d.BlockCommit, 'vda', opts())
        self.assertIn('active', msg)
        self.assertDBusError(INVALID_ARGS, d.BlockPull, 'vda', opts(base='vda[7]'))
        self.assertDBusError(INVALID_ARGS, d.BlockResize, 'vdb', dbus.UInt64(32 * MIB), opts())
        self.assertDBusError(ERR + 'InvalidState', d.BlockJobAbort, 'vda', opts())
        self.stop(path)
        self.assertDBusError(ERR + 'InvalidState', d.BlockPull, 'vda', opts())
        self.assertDBusError(ERR + 'InvalidState', d.BlockResize, 'vda', dbus.UInt64(32 * MIB), opts())
        self.assertEqual(self.backing(c['top']), c['mid'])
        self.assertEqual(self.backing(c['mid']), c['base'])
        self.assertEqual(image_info(c['top'])['virtual-size'], 16 * MIB)
        self.assert_data(c['top'])

    def ctl(self, *args):
        r = run_vmgmtctl(self.fx.bus, *args)
        self.assertEqual(r.returncode, 0, 'vmgmtctl %s: %s' % (' '.join(args), r.stderr))
        return r.stdout

    def test_cli_verbs(self):
        c = self.chain()
        path = self.start('bj-cli', c['top'])
        self.assertIn('is resized', self.ctl('blockresize', 'bj-cli', 'vda', '20M'))
        self.assertIn('No current block job', self.ctl('blockjob', 'bj-cli', 'vda', '--info'))
        # a copy waits in its mirroring phase, blockjob shows it, --pivot switches
        dest = os.path.join(self.dir, 'copy.qcow2')
        qemu_img('create', '-q', '-f', 'qcow2', dest, '20M')
        self.assertIn('Now in mirroring phase',
                      self.ctl('blockcopy', 'bj-cli', 'vda', dest, '--reuse-external', '--wait'))
        info = json.loads(self.ctl('--json=short', 'blockjob', 'bj-cli', 'vda', '--info'))
        self.assertEqual((info['type'], info['ready']), ('block-copy', True), info)
        self.assertIn('Successfully pivoted', self.ctl('blockjob', 'bj-cli', 'vda', '--pivot'))
        self.assertEqual(self.source(path), dest)
        # the copy is standalone: commit needs a chain, pull has nothing to do but works on none
        r = run_vmgmtctl(self.fx.bus, 'blockpull', 'bj-cli', 'vda', '--wait')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('no backing chain', r.stderr)
        self.stop(path)
        self.assertEqual(image_info(dest)['virtual-size'], 20 * MIB)
        self.assert_data(dest)

    def test_cli_commit_and_pull(self):
        c = self.chain()
        path = self.start('bj-cli2', c['top'])
        self.assertIn('Commit complete', self.ctl('blockcommit', 'bj-cli2', 'vda', '--top', 'vda[1]', '--wait'))
        out = json.loads(self.ctl('--json=short', 'blockpull', 'bj-cli2', 'vda', '--wait'))
        self.assertEqual(out['state'], 'completed', out)
        self.stop(path)
        self.assertIsNone(self.backing(c['top']))
        self.assert_data(c['top'])

    def test_cli_options(self):
        c = self.chain()
        path = self.start('bj-cli3', c['top'])
        self.assertIn('Commit complete', self.ctl('blockcommit', 'bj-cli3', 'vda', '--top', 'vda[1]', '--base',
                                                  'vda[2]', '--keep-relative', '--bandwidth', '100', '--verbose'))
        self.assertIn('Pull complete', self.ctl('blockpull', 'bj-cli3', 'vda', '--base', 'vda[1]', '--keep-relative',
                                                '--bandwidth', '100', '--verbose'))
        self.assertIn('overlay kept', self.ctl('blockcommit', 'bj-cli3', 'vda', '--active', '--keep-overlay',
                                               '--verbose'))
        self.assertEqual(self.source(path), c['top'])
        shallow = os.path.join(self.dir, 'shallow.qcow2')
        self.assertIn('Successfully copied', self.ctl('blockcopy', 'bj-cli3', 'vda', shallow, '--format', 'qcow2',
                                                      '--shallow', '--granularity', '65536', '--bandwidth', '100',
                                                      '--transient-job', '--verbose', '--finish'))
        raw = os.path.join(self.dir, 'copy.raw')
        self.assertIn('Now in mirroring phase', self.ctl('blockcopy', 'bj-cli3', 'vda', raw, '--format', 'raw',
                                                         '--wait'))
        self.assertIn('aborted', self.ctl('blockjob', 'bj-cli3', 'vda', '--abort', '--async'))
        deadline = time.monotonic() + 120
        while 'No current block job' not in self.ctl('blockjob', 'bj-cli3', 'vda'):
            self.assertLess(time.monotonic(), deadline, 'the aborted copy is still running')
            time.sleep(0.2)
        self.assertEqual(self.source(path), c['top'])
        self.assertIn('Successfully pivoted', self.ctl('blockcopy', 'bj-cli3', 'vda', raw, '--format', 'raw',
                                                       '--pivot', '--verbose'))
        self.assertEqual(self.source(path), raw)
        self.stop(path)
        self.assert_data(raw, fmt='raw')
        self.assertEqual(self.backing(shallow), c['base'])
        self.assert_data(c['base'])

    def test_commit_delete(self):
        c = self.chain()
        path = self.start('bj-delete', c['top'])
        self.assertIn('Commit complete', self.ctl('blockcommit', 'bj-delete', 'vda', '--top', c['mid'], '--delete',
                                                  '--wait'))
        deadline = time.monotonic() + 60
        while os.path.exists(c['mid']) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertFalse(os.path.exists(c['mid']), 'the committed layer is still there')
        # an active commit without a pivot keeps its top, with one the top goes
        self.assertIn('overlay kept', self.ctl('blockcommit', 'bj-delete', 'vda', '--keep-overlay', '--delete'))
        self.assertTrue(os.path.exists(c['top']))
        self.assertIn('Successfully pivoted', self.ctl('blockcommit', 'bj-delete', 'vda', '--active', '--pivot',
                                                       '--delete'))
        self.assertEqual(self.source(path), c['base'])
        deadline = time.monotonic() + 60
        while os.path.exists(c['top']) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertFalse(os.path.exists(c['top']), 'the committed active layer is still there')
        self.stop(path)
        self.assert_data(c['base'])

    def test_raw_disk_has_no_chain(self):
        raw = os.path.join(self.dir, 'disk.raw')
        qemu_img('create', '-q', '-f', 'raw', raw, '16M')
        path = self.start('bj-raw', raw, fmt='raw')
        msg = self.assertDBusError(INVALID_ARGS, self.dom(path).BlockPull, 'vda', opts())
        self.assertIn('no backing chain', msg)


if __name__ == '__main__':
    main()
