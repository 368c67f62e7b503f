#!/usr/bin/python3
# "Every verb included" (issue 15 item 1): a representative set of vmgmtctl
# verbs run over -H root@HOST:PORT (ssh + systemd-stdio-bridge to a real sshd,
# remote_harness.py; the client's own ssh config and known_hosts) prints what
# the same verbs print on the host itself: define, list, dominfo, dumpxml,
# start, suspend, resume, destroy, undefine, net-list, pool-list, vol-list,
# snapshot-create-as, snapshot-list, secret-list, domstats, and event waits
# for an event that happens on the far side. The client has no bus of its own
# (DBUS_SYSTEM_BUS_ADDRESS leads nowhere): every answer came over ssh.

import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from remote_harness import SshHost  # noqa: E402
from vmgmt_harness import (DEFAULT_TIMEOUT, VMGMTCTL, VmgmtTestCase, _child_env, main,  # noqa: E402
                           minimal_domain_xml, run_vmgmtctl)


class RemoteVerbs(VmgmtTestCase):
    def setUp(self):
        super().setUp()
        self.host = SshHost(self.fx.tmp, self.fx.bus.socket)
        self.addCleanup(self.host.stop)

    def remote_run(self, *args, wait=True):
        cmd = self.host.client_cmd() + [VMGMTCTL, '-H', 'root@127.0.0.1:%d' % self.host.port] + list(args)
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=/nonexistent'})
        if not wait:
            return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    env=env)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                           timeout=2 * DEFAULT_TIMEOUT)
        return r.returncode, r.stdout.decode('utf-8', 'replace'), r.stderr.decode('utf-8', 'replace')

    def remote(self, *args):
        rc, out, err = self.remote_run(*args)
        self.assertEqual(rc, 0, 'vmgmtctl -H %s: %s\nsshd: %s' % (' '.join(args), err, self.host.log_text()[-2000:]))
        self.assertEqual(err, '', 'vmgmtctl -H %s wrote to stderr' % ' '.join(args))
        return out

    def local(self, *args):
        return run_vmgmtctl(self.fx.bus, *args, check=True).stdout

    def same(self, *args, normalize=None):
        """The verb's output over -H is the local one."""
        far, here = self.remote(*args), self.local(*args)
        if normalize:
            far, here = normalize(far), normalize(here)
        self.assertEqual(far, here, 'vmgmtctl %s differs over -H' % ' '.join(args))
        return far

    def test_verbs_over_ssh_match_local(self):
        img = os.path.join(self.fx.tmp, 'rv.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', img, '16M'], check=True, timeout=60)
        xml = os.path.join(self.fx.tmp, 'rv.xml')
        with open(xml, 'w') as f:
            f.write(minimal_domain_xml('rv', extra_devices=(
                "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                "<target dev='vda' bus='virtio'/></disk>" % img)))
        # the file is read here and its text goes over the bus
        self.assertEqual(self.remote('define', xml), "Domain 'rv' defined from %s\n" % xml)
        for verb in (('list', '--all'), ('dominfo', 'rv'), ('dumpxml', 'rv'), ('domstate', 'rv'),
                     ('net-list', '--all'), ('pool-list', '--all'), ('vol-list', 'default'), ('secret-list',)):
            self.same(*verb)
        self.assertEqual(self.remote('snapshot-create-as', 'rv', 's1'), 'Domain snapshot s1 created\n')
        self.same('snapshot-list', 'rv')
        self.assertIn('s1', self.local('snapshot-list', 'rv', '--name'))

        self.assertEqual(self.remote('start', 'rv'), "Domain 'rv' started\n")
        self.fx.client.wait_state('/org/vmgmt/domain/rv', 'running')
        self.same('list', '--all')
        self.same('domstate', 'rv')
        # the values move; the statistics named are the same
        self.same('domstats', 'rv', normalize=lambda t: re.sub(r'=.*', '=', t))

        # an event of the far side reaches `event` over ssh (without --loop it ends at the first)
        ev = self.remote_run('event', 'rv', '--timeout', str(int(2 * DEFAULT_TIMEOUT)), wait=False)
        try:
            deadline = time.monotonic() + 2 * DEFAULT_TIMEOUT
            while ev.poll() is None and time.monotonic() < deadline:
                self.local('suspend', 'rv')   # until the listener is subscribed and sees one
                self.local('resume', 'rv')
                time.sleep(0.5)
            out, err = ev.communicate(timeout=DEFAULT_TIMEOUT)
        finally:
            if ev.poll() is None:
                ev.kill()
                ev.communicate()
        self.assertEqual(ev.returncode, 0, err)
        self.assertRegex(out.decode(), r"event 'lifecycle' for domain 'rv': (Suspended|Resumed) ")

        self.assertEqual(self.remote('suspend', 'rv'), "Domain 'rv' suspended\n")
        self.fx.client.wait_state('/org/vmgmt/domain/rv', 'paused')
        self.same('domstate', 'rv')
        self.assertEqual(self.remote('resume', 'rv'), "Domain 'rv' resumed\n")
        self.fx.client.wait_state('/org/vmgmt/domain/rv', 'running')
        self.assertEqual(self.remote('destroy', 'rv'), "Domain 'rv' destroyed\n")
        self.fx.client.wait_state('/org/vmgmt/domain/rv', 'shutoff')
        self.same('list', '--all')
        self.remote('undefine', 'rv', '--snapshots-metadata')
        self.assertEqual(self.local('list', '--all', '--name'), '')
        self.same('list', '--all')

    def test_remote_errors_are_the_far_sides(self):
        rc, out, err = self.remote_run('start', 'ghost')
        self.assertEqual(rc, 1)
        r = run_vmgmtctl(self.fx.bus, 'start', 'ghost')
        self.assertEqual(err, r.stderr)


if __name__ == '__main__':
    main()
