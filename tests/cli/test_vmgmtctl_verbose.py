# vmgmtctl --verbose of the verbs that follow a Job (save, managedsave, restore,
# dump, blockcommit, blockpull, blockcopy): virsh's progress line
# "\rLABEL: [ 42 %]" on stderr, whatever stderr is, ending at 100 % and a
# newline when the job completed; without --verbose a bar only on a terminal
# and nothing on a pipe. A paused TCG domain without a guest is enough: its
# state saves and its qcow2 disk takes block jobs with the CPUs stopped.

import os
import pty
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'integration'))

from test_vmgmtctl import CtlTestCase  # noqa: E402
from vmgmt_harness import VMGMTCTL, _child_env, domain_path, main, minimal_domain_xml  # noqa: E402
from vmgmt_testmain import skip_missing  # noqa: E402

JOB_TIMEOUT = 180   # bounds a hang on a loaded TCG host


def disk_xml(path):
    return ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            "<source file='%s'/><target dev='vda' bus='virtio'/></disk>" % path)


class Verbose(CtlTestCase):
    def setUp(self):
        if not shutil.which('qemu-img'):
            skip_missing('qemu-img', 'qemu-utils')
        super().setUp()
        self.dir = os.path.join(self.fx.tmp, 'images')
        os.makedirs(self.dir)

    def assert_progress(self, stderr, label):
        """stderr is virsh's --verbose output: only LABEL lines, the last at 100 % with the newline."""
        self.assertTrue(stderr.endswith('\r%s: [100 %%]\n' % label), repr(stderr))
        for part in stderr.rstrip('\n').split('\r')[1:]:
            self.assertRegex(part, r'^%s: \[ {0,2}\d{1,3} %%\]$' % re.escape(label), repr(stderr))

    def run_ok(self, *args):
        r = self.ctl(*args, timeout=JOB_TIMEOUT)
        self.assertEqual(r.returncode, 0, 'vmgmtctl %s: %s' % (' '.join(args), r.stderr))
        return r

    def on_tty(self, *args):
        """vmgmtctl with stderr on a terminal (a pty): (returncode, what the terminal got)."""
        master, slave = pty.openpty()
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address})
        p = subprocess.Popen([VMGMTCTL] + list(args), stdout=subprocess.DEVNULL, stderr=slave, env=env)
        os.close(slave)
        out = b''
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:   # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        return p.wait(timeout=JOB_TIMEOUT), out.decode('utf-8', 'replace')

    def test_verbose_progress(self):
        base = os.path.join(self.dir, 'base.qcow2')
        mid = os.path.join(self.dir, 'mid.qcow2')
        top = os.path.join(self.dir, 'top.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', base, '16M'], check=True)
        for below, p in ((base, mid), (mid, top)):
            subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', below, '-F', 'qcow2', p], check=True)
        f = self.xml_file('vb', xml=minimal_domain_xml('vb', extra_devices=disk_xml(top)))
        self.ok('define', f)
        self.ok('start', 'vb', '--paused')
        path = domain_path('vb')

        # block jobs: each with its virsh label, on a pipe
        r = self.run_ok('blockcommit', 'vb', 'vda', '--top', 'vda[1]', '--verbose')
        self.assertIn('Commit complete', r.stdout)
        self.assert_progress(r.stderr, 'Block commit')
        r = self.run_ok('blockpull', 'vb', 'vda', '--verbose')
        self.assertIn('Pull complete', r.stdout)
        self.assert_progress(r.stderr, 'Block Pull')
        copy = os.path.join(self.dir, 'copy.qcow2')
        r = self.run_ok('blockcopy', 'vb', 'vda', copy, '--verbose')
        self.assertIn('Now in mirroring phase', r.stdout)
        self.assert_progress(r.stderr, 'Block Copy')
        self.run_ok('blockjob', 'vb', 'vda', '--abort')
        # without --verbose on a pipe: nothing on stderr
        r = self.run_ok('blockcopy', 'vb', 'vda', copy, '--reuse-external', '--wait')
        self.assertIn('Now in mirroring phase', r.stdout)
        self.assertEqual(r.stderr, '')
        self.run_ok('blockjob', 'vb', 'vda', '--abort')

        # the state verbs
        dump = os.path.join(self.dir, 'vb.dump')
        # memory-only: a paused qemu that streamed its state once refuses to stream it again (postmigrate)
        r = self.run_ok('dump', 'vb', dump, '--memory-only', '--verbose')
        self.assert_progress(r.stderr, 'Dump')
        r = self.run_ok('dump', 'vb', dump + '2', '--memory-only')
        self.assertEqual(r.stderr, '')
        image = os.path.join(self.dir, 'vb.save')
        r = self.run_ok('save', 'vb', image, '--verbose')
        self.assertIn("Domain 'vb' saved to %s" % image, r.stdout)
        self.assert_progress(r.stderr, 'Save')
        r = self.run_ok('restore', image, '--verbose')
        self.assert_progress(r.stderr, 'Restore')
        r = self.run_ok('managedsave', 'vb', '--verbose')
        self.assert_progress(r.stderr, 'Managedsave')
        self.ok('start', 'vb')
        self.assertEqual(self.client.state(path), ('running', 'restored'))

        # on a terminal: the bar without --verbose, virsh's line with it
        rc, term = self.on_tty('save', 'vb', image)
        self.assertEqual(rc, 0, term)
        self.assertIn('Progress: [', term)
        self.assertIn('100 %', term)
        self.assertNotIn('Save: [', term)
        rc, term = self.on_tty('restore', image, '--verbose')
        self.assertEqual(rc, 0, term)
        self.assertIn('Restore: [100 %]', term)
        self.assertNotIn('Progress: [', term)
        self.ok('destroy', 'vb')


if __name__ == '__main__':
    main()
