# Confinement of qemu (issue 12, item 1): each running domain's qemu has a
# uid/gid of its own, no capabilities, no_new_privs, QEMU's seccomp sandbox,
# a root of its own that shows it only /usr, a few device nodes, its own proc
# and its own run dir, and a cgroup of its own; the Domain's SecurityModel /
# SecurityLabel properties and `vmgmtctl dominfo` tell. A restarted vmgmtd
# knows the uid again; a stopped domain leaves no cgroup and no run dir.
# confinement=off (vmgmtd.conf) gives today's root qemu.
#
# The domains are paused and have no disks, kernels or serial ports: files a
# definition names are not reachable by a confined qemu until vmgmtd opens
# them and passes the fds (another part of issue 12).

import os
import re
import socket
import stat

from vmgmt_harness import (DEFAULT_TIMEOUT, ERR_OPERATION_FAILED, VmgmtTestCase, main, minimal_domain_xml, opts,
                           pid_alive, proc_status, run_vmgmtctl, cmdline, cgroup_dirs)

UID_MIN, UID_MAX = 0x7ffe0000, 0x7ffeffff


def proc_cgroups(pid):
    """[(hierarchy id, controllers, path)] of /proc/PID/cgroup."""
    with open('/proc/%d/cgroup' % pid) as f:
        return [tuple(line.rstrip('\n').split(':', 2)) for line in f if line.strip()]


def mountinfo(pid):
    """{mount point: (mount options, super options)} as pid sees them."""
    out = {}
    with open('/proc/%d/mountinfo' % pid) as f:
        for line in f:
            pre, _, post = line.partition(' - ')
            fields = pre.split()
            out[fields[4]] = (fields[5], post.split()[2] if len(post.split()) > 2 else '')
    return out


class Confined(VmgmtTestCase):

    def start(self, name, paused=True):
        path = self.define(minimal_domain_xml(name))
        self.dom(path).Start(opts(paused=paused))
        self.client.wait_state(path, 'paused' if paused else 'running')
        return path

    def qemu_of(self, path):
        uuid = self.client.prop(path, 'UUID')
        for pid in self.fx.qemu_pids():
            if uuid in ' '.join(cmdline(pid)):
                return pid
        raise AssertionError('no qemu for %s among %s' % (path, self.fx.qemu_pids()))

    def uid_of_label(self, path):
        label = str(self.client.prop(path, 'SecurityLabel'))
        m = re.fullmatch(r'uid (\d+) gid (\d+)', label)
        self.assertTrue(m, 'SecurityLabel %r' % label)
        return int(m.group(1)), int(m.group(2))

    def assert_confined(self, path):
        pid = self.qemu_of(path)
        st = proc_status(pid)
        uids, gids = [int(x) for x in st['Uid'].split()], [int(x) for x in st['Gid'].split()]
        self.assertEqual(len(set(uids)), 1, st['Uid'])
        self.assertEqual(len(set(gids)), 1, st['Gid'])
        self.assertNotEqual(uids[0], 0, 'qemu runs as root')
        self.assertTrue(UID_MIN <= uids[0] <= UID_MAX, uids)
        self.assertEqual(gids[0], uids[0])
        self.assertEqual(st['Groups'], '')
        for cap in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'):
            self.assertEqual(st[cap], '0000000000000000', cap)
        self.assertEqual(st['NoNewPrivs'], '1')
        self.assertEqual(st['Seccomp'], '2')   # -sandbox on: a filter
        self.assertEqual(self.uid_of_label(path), (uids[0], gids[0]))
        self.assertEqual(str(self.client.prop(path, 'SecurityModel')), 'vmgmt')
        return pid, uids[0]

    def run_dir(self, path):
        return os.path.join(self.daemon.run_dir, str(self.client.prop(path, 'UUID')))

    def test_confined_process_and_root(self):
        path = self.start('c1')
        pid, uid = self.assert_confined(path)
        root = '/proc/%d/root' % pid
        # what its root holds: /usr, the merged-/usr links, the loader cache, /dev, /proc, its run dir
        for gone in ('etc/shadow', 'etc/passwd', 'home', 'root', 'var', 'sys', 'boot',
                     os.path.relpath(self.daemon.log_dir, '/'),
                     os.path.relpath(os.path.join(self.daemon.root, 'etc'), '/')):
            self.assertFalse(os.path.lexists(os.path.join(root, gone)), gone)
        self.assertEqual(sorted(os.listdir(os.path.join(root, 'etc'))), [n for n in ('ld.so.cache', 'localtime')
                                                                       if os.path.lexists('/etc/' + n)])
        self.assertTrue(os.path.isfile(os.path.join(root, 'usr/bin/qemu-system-x86_64')))
        self.assertEqual(sorted(os.listdir(os.path.join(root, 'dev'))),
                         sorted(['null', 'zero', 'full', 'random', 'urandom', 'ptmx', 'pts',
                                 'fd', 'stdin', 'stdout', 'stderr']))   # no /dev/kvm: type='qemu'
        # its run dir at the host's path, and nothing else of vmgmtd's: not the status file
        rd = self.run_dir(path)
        self.assertEqual(os.listdir(root + self.daemon.run_dir), [os.path.basename(rd)])
        self.assertIn('monitor.sock', os.listdir(root + rd))
        s = os.stat(rd)
        self.assertEqual((s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode)), (uid, uid, 0o700))
        self.assertTrue(os.path.exists(rd + '.status'))
        self.assertEqual(os.stat(rd + '.status').st_uid, 0)
        # mounts: read-only root and /usr, a proc that hides other users' processes
        mi = mountinfo(pid)
        self.assertIn('ro', mi['/'][0].split(','))
        self.assertIn('ro', mi['/usr'][0].split(','))
        self.assertIn('hidepid=invisible', mi['/proc'][1].split(','))
        self.assertIn('nosuid', mi[rd][0].split(','))
        # in a cgroup of its own, named after the domain, in every hierarchy
        uuid = str(self.client.prop(path, 'UUID'))
        groups = proc_cgroups(pid)
        for hid, controllers, cg in groups:
            if controllers.startswith('name='):
                continue
            cg = re.sub(r'/emulator$', '', cg)   # its thread group, where the host has cpu, cpuacct, cpuset
            self.assertTrue(cg.endswith('/vmgmt/' + uuid) or cg.endswith('/vmgmt.slice/%s.scope' % uuid),
                            (hid, controllers, cg))
        dirs = cgroup_dirs(pid)
        self.assertTrue([d for d in dirs if re.search(uuid + r'(\.scope)?(/emulator)?$', d)], dirs)
        for d in dirs:
            if uuid in d:
                with open(os.path.join(d, 'cgroup.procs')) as f:
                    self.assertIn(str(pid), f.read().split())
        # vmgmtctl dominfo says so, like virsh's Security model line
        out = run_vmgmtctl(self.fx.bus, 'dominfo', 'c1', check=True).stdout
        self.assertIn('Security model: vmgmt (uid %d)\n' % uid, out)
        self.assertIn('Security label: uid %d gid %d\n' % (uid, uid), out)

    def test_two_domains_apart(self):
        a, b = self.start('ca'), self.start('cb')
        pa, ua = self.assert_confined(a)
        pb, ub = self.assert_confined(b)
        self.assertNotEqual(ua, ub, 'two running domains share a uid')
        # neither sees the other's run dir, though it is there on the host
        ra, rb = self.run_dir(a), self.run_dir(b)
        self.assertTrue(os.path.isdir(ra) and os.path.isdir(rb))
        self.assertFalse(os.path.lexists('/proc/%d/root%s' % (pa, rb)))
        self.assertFalse(os.path.lexists('/proc/%d/root%s' % (pb, ra)))

    def test_restart_reconnects_with_the_same_label_then_cleans_up(self):
        path = self.start('cr')
        pid, uid = self.assert_confined(path)
        label = str(self.client.prop(path, 'SecurityLabel'))
        dirs = [d for d in cgroup_dirs(pid) if str(self.client.prop(path, 'UUID')) in d]
        rd = self.run_dir(path)
        self.daemon.kill()
        self.daemon.start()
        self.assertEqual(self.client.wait_state(path, 'paused')[0], 'paused')
        self.assertEqual(self.qemu_of(path), pid)
        self.assertEqual(str(self.client.prop(path, 'SecurityLabel')), label)
        self.assertEqual(str(self.client.prop(path, 'SecurityModel')), 'vmgmt')
        # a new domain does not get the recovered one's uid
        other = self.start('cr2')
        self.assertNotEqual(self.uid_of_label(other)[0], uid)
        # what the first instance made goes when the domain stops under the second
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.assertFalse(pid_alive(pid))
        self.assertFalse(os.path.exists(rd), 'run dir left behind')
        self.assertFalse(os.path.exists(rd + '.status'))
        for d in dirs:
            self.assertFalse(os.path.exists(d), 'cgroup %s left behind' % d)

    def test_restart_does_not_follow_a_swapped_monitor_socket(self):
        # the run dir is qemu's own: a qemu that misbehaves could put another
        # process's socket where its monitor was; a restarted vmgmtd must not
        # talk QMP to it (SO_PEERCRED must name the domain's qemu)
        path = self.start('cs')
        sock = os.path.join(self.run_dir(path), 'monitor.sock')
        self.daemon.kill()
        os.unlink(sock)
        impostor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(impostor.close)
        impostor.bind(sock)
        impostor.listen(4)
        impostor.setblocking(False)
        self.daemon.start()
        self.client.wait_state(path, 'paused')
        with open(self.daemon.logfile, errors='replace') as f:
            log = f.read()
        self.assertIn('QMP socket %s is served by process %d' % (sock, os.getpid()), log)
        # connected (the kernel queued it), dropped, and nothing was ever written to it
        conn, _ = impostor.accept()
        with conn:
            conn.setblocking(False)
            try:
                data = conn.recv(1)
            except BlockingIOError:
                data = b''
            self.assertEqual(data, b'', 'vmgmtd spoke QMP to the impostor')

    def test_destroy_removes_cgroup_and_run_dir_and_label(self):
        path = self.start('cd', paused=False)
        pid, _ = self.assert_confined(path)
        uuid = str(self.client.prop(path, 'UUID'))
        dirs = [d for d in cgroup_dirs(pid) if uuid in d]
        self.assertTrue(dirs)
        rd = self.run_dir(path)
        self.rec.clear()
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.assertFalse(os.path.exists(rd))
        for d in dirs:
            self.assertFalse(os.path.exists(d), 'cgroup %s left behind' % d)
        self.assertEqual(str(self.client.prop(path, 'SecurityLabel')), '')
        self.assertEqual(str(self.client.prop(path, 'SecurityModel')), 'vmgmt')
        self.rec.wait_for(lambda en: any(e[0] == 'PropertiesChanged' and e[1] == path and
                                         e[3].get('SecurityLabel') == '' for e in en),
                          what='PropertiesChanged SecurityLabel ""')
        # and the next start emits the new one
        self.rec.clear()
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        label = str(self.client.prop(path, 'SecurityLabel'))
        self.rec.wait_for(lambda en: any(e[0] == 'PropertiesChanged' and e[1] == path and
                                         e[3].get('SecurityLabel') == label for e in en),
                          what='PropertiesChanged SecurityLabel %r' % label)

    def test_no_new_privs_is_vmgmtds_own(self):
        # qemu's -sandbox sets no_new_privs itself (libseccomp does, to load its
        # filter as a user without CAP_SYS_ADMIN), so NoNewPrivs of a running
        # qemu cannot tell whether vmgmtd set it. A wrapper emulator (root may
        # name one; it is bound into the confined root) sees the process as
        # vmgmtd left it, before any seccomp, and says so in the domain log.
        d = os.path.join(self.fx.tmp, 'nnp')
        os.makedirs(d)
        os.chmod(d, 0o755)
        emu = os.path.join(d, 'qemu-wrap')
        with open(emu, 'w') as f:
            f.write('#!/bin/sh\n'
                    'while read -r l; do case $l in NoNewPrivs*|Seccomp:*) echo "wrapper $l" >&2;; esac; '
                    'done </proc/self/status\n'
                    'exec /usr/bin/qemu-system-x86_64 "$@"\n')
        os.chmod(emu, 0o755)
        path = self.define(minimal_domain_xml('nnp', extra_devices='<emulator>%s</emulator>' % emu))
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        self.assert_confined(path)
        with open(os.path.join(self.daemon.log_dir, 'nnp.log'), errors='replace') as f:
            log = f.read()
        self.assertIn('wrapper Seccomp:\t0\n', log)   # before qemu's sandbox
        self.assertIn('wrapper NoNewPrivs:\t1\n', log)

    def test_child_failure_reaches_the_start_error(self):
        # an emulator whose interpreter exists on the host (the probe runs it
        # there) but not in the confined root: exec fails in the child
        d = os.path.join(self.fx.tmp, 'emulators')
        os.makedirs(d)
        os.chmod(d, 0o755)
        os.symlink('/bin/sh', os.path.join(d, 'sh'))
        emu = os.path.join(d, 'qemu-wrap')
        with open(emu, 'w') as f:
            f.write('#!%s/sh\nexec /usr/bin/qemu-system-x86_64 "$@"\n' % d)
        os.chmod(emu, 0o755)
        path = self.define(minimal_domain_xml('cf', extra_devices='<emulator>%s</emulator>' % emu))
        msg = self.assertDBusError(ERR_OPERATION_FAILED, self.dom(path).Start, opts(paused=True))
        self.assertIn('cannot execute %s' % emu, msg)
        self.assertIn('No such file or directory', msg)
        self.assertEqual(self.fx.qemu_pids(), [])
        uuid = str(self.client.prop(path, 'UUID'))
        self.assertEqual([f for f in os.listdir(self.daemon.run_dir) if uuid in f], [], 'run files left behind')


class FixedUser(VmgmtTestCase):
    """confinement_user=nobody: every domain's qemu runs as that user."""

    def setUp(self):
        super().setUp()
        self.daemon.restart_with_config('[daemon]\nconfinement_user=nobody\n')

    def test_nobody(self):
        import pwd
        nobody = pwd.getpwnam('nobody')
        for name in ('fa', 'fb'):
            path = self.define(minimal_domain_xml(name))
            self.dom(path).Start(opts(paused=True))
            self.client.wait_state(path, 'paused')
            self.assertEqual(str(self.client.prop(path, 'SecurityLabel')),
                             'uid %d gid %d' % (nobody.pw_uid, nobody.pw_gid))
        for pid in self.fx.qemu_pids():
            st = proc_status(pid)
            self.assertEqual(st['Uid'].split()[0], str(nobody.pw_uid))
            self.assertEqual(st['CapEff'], '0000000000000000')


class BadSettings(VmgmtTestCase):

    def failing_start(self, conf):
        self.daemon.stop()
        self.daemon.write_config(conf)
        with self.assertRaises(RuntimeError):
            self.daemon.start(timeout=DEFAULT_TIMEOUT)
        self.daemon.proc.wait(DEFAULT_TIMEOUT)
        self.daemon.proc = None
        return self.daemon.log_tail(5)

    def test_unknown_user(self):
        log = self.failing_start('[daemon]\nconfinement_user=vmgmt-no-such-user\n')
        self.assertIn("confinement_user 'vmgmt-no-such-user' does not exist", log)

    def test_range_holding_a_user(self):
        log = self.failing_start('[daemon]\nconfinement_uid_range=0-10\n')
        self.assertIn('invalid confinement_uid_range', log)
        log = self.failing_start('[daemon]\nconfinement_uid_range=1-10\n')
        self.assertIn('confinement_uid_range 1-10 holds id', log)

    def test_bad_mode(self):
        log = self.failing_start('[daemon]\nconfinement=maybe\n')
        self.assertIn("invalid confinement 'maybe'", log)


class Off(VmgmtTestCase):
    """confinement=off: qemu runs as root, as before."""

    def setUp(self):
        super().setUp()
        self.daemon.restart_with_config('[daemon]\nconfinement=off\n')

    def test_root_qemu(self):
        path = self.define(minimal_domain_xml('off'))
        self.assertEqual(str(self.client.prop(path, 'SecurityModel')), 'none')
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        pid = self.fx.qemu_pids()[0]
        self.assertEqual(proc_status(pid)['Uid'].split()[0], '0')
        self.assertEqual(os.readlink('/proc/%d/root' % pid), '/')
        self.assertEqual(str(self.client.prop(path, 'SecurityModel')), 'none')
        self.assertEqual(str(self.client.prop(path, 'SecurityLabel')), '')
        out = run_vmgmtctl(self.fx.bus, 'dominfo', 'off', check=True).stdout
        self.assertIn('Security model: none\n', out)
        self.assertNotIn('Security label', out)


if __name__ == '__main__':
    main()
