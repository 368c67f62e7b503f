#!/usr/bin/python3
# `vmgmtctl -M CONTAINER` as `busctl -M` (issue 15 item 1). On Debian
# bookworm (systemd 252) sd_bus_open_system_machine() needs no
# systemd-machined at run time: it reads the container's leader pid from
# machined's record /run/systemd/machines/NAME (LEADER=), enters that
# process's pid and mount namespaces and root, and connects to
# /run/dbus/system_bus_socket there (a real unix socket: fds pass too). The
# test makes a "container" (a process in its own mount and pid namespaces
# whose /run/dbus/system_bus_socket is the test's bus with its vmgmtd) and
# the record, in a mount namespace of vmgmtctl's own (a tmpfs on /run: this
# host's /run is not touched). A container without a record fails naming
# machined's record.

import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from remote_harness import _die_with_parent  # noqa: E402
from vmgmt_harness import (DEFAULT_TIMEOUT, VMGMTCTL, VmgmtTestCase, _child_env, kill_and_reap, main,  # noqa: E402
                           minimal_domain_xml, opts, run_vmgmtctl, skip_missing)


class Machine(VmgmtTestCase):
    def setUp(self):
        super().setUp()
        if not os.access('/usr/bin/unshare', os.X_OK):
            skip_missing('/usr/bin/unshare', 'util-linux')
        setup = ('mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -m 0755 /run/dbus && '
                 'ln -s "$1" /run/dbus/system_bus_socket && exec sleep infinity')
        self.ct = subprocess.Popen(['unshare', '--mount', '--pid', '--fork', '--propagation', 'private',
                                    'sh', '-c', setup, 'sh', self.fx.bus.socket],
                                   stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        self.addCleanup(self.stop_container)
        self.leader = self.wait_leader()

    def wait_leader(self):
        """The container's pid 1 (sleep), once its /run has the bus socket."""
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with open('/proc/%d/task/%d/children' % (self.ct.pid, self.ct.pid)) as f:
                    kids = [int(p) for p in f.read().split()]
                for k in kids:
                    with open('/proc/%d/cmdline' % k, 'rb') as f:
                        if f.read().startswith(b'sleep') and \
                                os.path.lexists('/proc/%d/root/run/dbus/system_bus_socket' % k):
                            return k
            except (OSError, ValueError):
                pass
            if self.ct.poll() is not None:
                raise AssertionError('the container exited with %d' % self.ct.returncode)
            time.sleep(0.05)
        raise AssertionError('the container did not come up within %ds' % DEFAULT_TIMEOUT)

    def stop_container(self):
        if self.ct.poll() is None:
            try:
                os.kill(self.leader, signal.SIGKILL)   # pid 1 of its namespace: only SIGKILL ends it
            except (OSError, AttributeError):
                pass
            kill_and_reap([self.ct.pid])
        self.ct.wait()

    def in_machine(self, *args, record=True):
        """vmgmtctl -M ct ARGS with machined's record of ct (if record) on a /run of its own."""
        setup = 'mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/systemd/machines && '
        if record:
            setup += 'printf "NAME=ct\\nLEADER=%s\\nCLASS=container\\n" "$0" > /run/systemd/machines/ct && '
        r = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', setup + 'exec "$@"',
                            str(self.leader), VMGMTCTL, '-M', 'ct'] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           env=_child_env({'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=/nonexistent'}),
                           timeout=2 * DEFAULT_TIMEOUT)
        return r.returncode, r.stdout.decode('utf-8', 'replace'), r.stderr.decode('utf-8', 'replace')

    def test_machine_reaches_the_containers_vmgmtd(self):
        path = self.client.manager.DefineDomain(minimal_domain_xml('inct'), opts())
        rc, out, err = self.in_machine('list', '--all')
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, run_vmgmtctl(self.fx.bus, 'list', '--all', check=True).stdout)
        self.assertIn('inct', out)
        rc, out, err = self.in_machine('start', 'inct')
        self.assertEqual((rc, out, err), (0, "Domain 'inct' started\n", ''))
        self.client.wait_state(path, 'running')
        rc, out, err = self.in_machine('destroy', 'inct')
        self.assertEqual((rc, err), (0, ''))
        self.client.wait_state(path, 'shutoff')

    def test_no_record_names_machined(self):
        rc, out, err = self.in_machine('list', record=False)
        self.assertEqual(rc, 1)
        self.assertIn("Failed to connect to the system bus of machine 'ct': no such container is registered with "
                      "systemd-machined", err)
        self.assertIn('/run/systemd/machines/ct', err)


if __name__ == '__main__':
    main()
