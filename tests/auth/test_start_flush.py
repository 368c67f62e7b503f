# Authorization before cost (issue 11): Start forces the pending (batched)
# definition writes to disk — so a pipelined DefineDomain + Start starts the
# new definition — but only once polkit has said yes. A caller that is denied
# must not be able to make vmgmtd fsync. A real polkitd (auth_harness), the
# caller as uid 65534, and strace watching vmgmtd's syscalls.
#
# The order is made, not waited for: vmgmtd is stopped (SIGSTOP) while a
# root DefineDomain and the unprivileged Start are queued in its bus socket
# (seen in the socket's receive queue), so on SIGCONT it dispatches the two
# back to back: the definition is pending in the batch when Start arrives.
# strace then shows, in syscall order across vmgmtd's threads: the Start's
# authorization begun (its log line), and only after that the batch's fsync
# (the committer thread's) — never a sync before the Start has been sent to polkit.

import os
import re
import shutil
import signal
import subprocess

from auth_harness import (DOMAIN_IFACE, ERR_ACCESS_DENIED, MANAGER_IFACE, MANAGER_PATH, AuthTestCase, call,
                          main, minimal_domain_xml, skip_missing)

SLOW_NO_RULE = '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.domain.lifecycle" && subject.user == "nobody") {
        var end = Date.now() + %d;
        while (Date.now() < end) { }
        return polkit.Result.NO;
    }
});
'''

SYNC_RE = re.compile(r'^\d+ +(fsync|fdatasync|syncfs)\(')


def recv_queue(pid):
    """Bytes waiting in the receive queues of pid's unix sockets (ss -x)."""
    out = subprocess.run(['ss', '-x', '-n', '-p'], capture_output=True, text=True, check=True).stdout
    total = 0
    for line in out.splitlines()[1:]:
        if 'pid=%d,' % pid in line:
            total += int(line.split()[2])
    return total


def tracer_pid(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('TracerPid:'):
                return int(line.split()[1])
    return 0


def proc_state(pid):
    with open('/proc/%d/stat' % pid) as f:
        return f.read().rsplit(')', 1)[1].split()[0]


class StartFlush(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 30}

    def setUp(self):
        for exe, pkg in (('strace', 'strace'), ('ss', 'iproute2')):
            if not shutil.which(exe):
                skip_missing(exe, pkg)
        super().setUp()

    def test_denied_start_flushes_nothing(self):
        d = self.define(minimal_domain_xml('vm-flush'))
        self.fx.write_rule('50-slow-no.rules', SLOW_NO_RULE % 1000)
        u = self.fx.unprivileged()
        # the rule is in force (the default would ask for a password)
        self.wait_until(lambda: u.call(d, DOMAIN_IFACE, 'Suspend', 'a{sv}', [{}]).get('error') ==
                        ERR_ACCESS_DENIED, what='the slow NO rule is in force', timeout=60)
        # a second root connection whose uid vmgmtd knows already: its
        # DefineDomain is written at its first dispatch
        root = self.fx.unprivileged(uid=0, gid=0)
        self.assertTrue(root.call(MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{sv}',
                                  [minimal_domain_xml('vm-warm'), {}]).get('ok'))

        pid = self.daemon.proc.pid
        trace = os.path.join(self.fx.tmp, 'vmgmtd.strace')
        st = subprocess.Popen(['strace', '-f', '-qq', '-s', '400', '-e', 'trace=fsync,fdatasync,syncfs,write',
                               '-o', trace, '-p', str(pid)], stdin=subprocess.DEVNULL)
        try:
            self.wait_until(lambda: tracer_pid(pid) == st.pid, what='strace attached', timeout=60)
            os.kill(pid, signal.SIGSTOP)
            try:
                self.wait_until(lambda: proc_state(pid) in ('T', 't'), what='vmgmtd stopped', timeout=60)
                q = recv_queue(pid)
                root.batch_start([call(MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{sv}',
                                       [minimal_domain_xml('vm-pending'), {}])])
                self.wait_until(lambda: recv_queue(pid) > q, what='DefineDomain queued', timeout=60)
                q = recv_queue(pid)
                u.batch_start([call(d, DOMAIN_IFACE, 'Start', 'a{sv}', [{}])])
                self.wait_until(lambda: recv_queue(pid) > q, what='Start queued', timeout=60)
            finally:
                os.kill(pid, signal.SIGCONT)
            defined = root.batch_finish()[0]
            started = u.batch_finish()[0]
            # the log line of Start's second dispatch, which the trace must hold too
            self.wait_log(r'Authorization of org\.vmgmt\.Domain\.Start by %s' % re.escape(u.unique_name))
            self.wait_until(lambda: 'Authorization of org.vmgmt.Domain.Start' in open(trace).read(),
                            what='strace saw the answer', timeout=60)
        finally:
            st.send_signal(signal.SIGINT)
            st.wait(60)

        self.assertTrue(defined.get('ok'), defined)
        self.assertEqual(started.get('error'), ERR_ACCESS_DENIED, started)
        self.assertEqual(self.client.prop(d, 'State'), 'shutoff')
        self.assertEqual(self.fx.qemu_pids(), [])
        self.assertTrue(os.path.exists(os.path.join(self.daemon.config_dir, 'vm-pending.xml')))

        with open(trace) as f:
            lines = f.read().splitlines()
        written = [i for i, ln in enumerate(lines) if ' write(' in ln and '<name>vm-pending</name>' in ln]
        asked = [i for i, ln in enumerate(lines)
                 if ' write(2, ' in ln and 'Authorizing org.vmgmt.domain.lifecycle for %s (Start)' % u.unique_name in ln]
        syncs = [i for i, ln in enumerate(lines) if SYNC_RE.match(ln)]
        self.assertEqual(len(written), 1, 'the pending definition written once: %s' % lines[:40])
        self.assertEqual(len(asked), 1, 'Start authorized once: %s' % lines[:40])
        # the definition was pending when the Start was dispatched (queued before it, by
        # construction) and nothing was synced before the Start had gone to polkit (the commit's
        # writes may come before or after that, on the loop or in the committer thread)
        self.assertTrue(syncs, 'the definition was committed (fsync) at all')
        self.assertGreater(syncs[0], asked[0], 'a sync before the Start was authorized:\n%s'
                           % '\n'.join(lines[:asked[0] + 1]))


if __name__ == '__main__':
    main()
