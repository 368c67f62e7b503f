# virsh flags vmgmtctl takes as a libvirt user types them: define --validate,
# dumpxml --xpath [--wrap], shutdown/reboot --mode (ACPI only: other modes are
# a clear "not supported"), event --domain, and undefine --remove-all-storage /
# --storage, which deletes the pool volumes of the domain's disks (only those:
# a file no pool holds is left alone with a warning, and nothing is deleted
# while the domain runs); -c/--connect with libvirt's URIs, and a pager for
# long output on a terminal only (--no-pager), as systemctl; --diskspec
# repeated, any other option given twice refused as virsh does.
#
# Run: /usr/bin/python3 tests/cli/test_vmgmtctl_virsh_flags.py

import os
import select
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'integration'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_vmgmtctl import CtlTestCase  # noqa: E402
from vmgmt_harness import VMGMTCTL, _child_env, domain_path, main, minimal_domain_xml  # noqa: E402


class VirshFlags(CtlTestCase):
    def test_define_validate(self):
        f = self.xml_file('val')
        self.assertEqual(self.ok('define', f, '--validate'), "Domain 'val' defined from %s\n" % f)
        bad = self.xml_file('bad', xml="<domain type='qemu'><name>bad</name><memory>x</memory></domain>")
        self.assertIn('memory', self.fails('define', bad, '--validate'))

    def test_dumpxml_xpath(self):
        disk = ("<disk type='file' device='disk'><source file='/nonexistent/a.img'/>"
                "<target dev='vda' bus='virtio'/></disk>"
                "<disk type='file' device='disk'><source file='/nonexistent/b.img'/>"
                "<target dev='vdb' bus='virtio'/></disk>")
        self.ok('define', self.xml_file('xp', extra_devices=disk))
        self.assertEqual(self.ok('dumpxml', 'xp', '--xpath', '/domain/name'), '<name>xp</name>\n')
        self.assertEqual(self.ok('dumpxml', 'xp', '--xpath', 'string(/domain/name)'), 'xp\n')
        self.assertEqual(self.ok('dumpxml', 'xp', '--xpath', '//disk/target/@dev'), 'vda\nvdb\n')
        self.assertEqual(self.ok('dumpxml', 'xp', '--xpath', 'count(//disk)'), '2\n')
        wrapped = self.ok('dumpxml', 'xp', '--xpath', '//disk/source', '--wrap')
        self.assertEqual(wrapped.splitlines()[0], '<nodes>')
        self.assertEqual(wrapped.splitlines()[-1], '</nodes>')
        self.assertEqual(wrapped.count('<source file='), 2)
        self.assertIn('Invalid XPath', self.fails('dumpxml', 'xp', '--xpath', '//disk[['))
        self.assertIn('No match', self.fails('dumpxml', 'xp', '--xpath', '//hostdev'))
        self.assertIn('--wrap needs --xpath', self.fails('dumpxml', 'xp', '--wrap'))

    def test_shutdown_reboot_mode(self):
        self.ok('define', self.xml_file('mode'))
        self.ok('start', 'mode')
        for verb in ('shutdown', 'reboot'):
            err = self.fails(verb, 'mode', '--mode', 'agent')
            self.assertIn('Not supported: --mode agent', err)
        self.assertEqual(self.client.state(domain_path('mode'))[0], 'running')
        self.assertEqual(self.ok('reboot', 'mode', '--mode', 'acpi'), "Domain 'mode' is being rebooted\n")
        self.assertEqual(self.ok('shutdown', 'mode', '--mode=acpi'), "Domain 'mode' is being shutdown\n")
        self.ok('destroy', 'mode')

    def test_event_domain(self):
        for n in ('ev-a', 'ev-b'):
            self.ok('define', self.xml_file(n))
        self.ok('start', 'ev-a', '--paused')
        p = subprocess.Popen([VMGMTCTL, 'event', '--domain', 'ev-a', '--loop', '--timeout', '300'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=_child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address}))
        lines = []
        try:
            # ev-a changes until its subscriber shows one: from then on its match is in place
            while not lines:
                self.ok('resume', 'ev-a')
                self.ok('suspend', 'ev-a')
                r, _, _ = select.select([p.stdout], [], [], 1.0)
                if r:
                    lines.append(p.stdout.readline())
                self.assertIsNone(p.poll(), 'vmgmtctl event exited early')
            self.ok('start', 'ev-b', '--paused')   # seen by the subscriber, not shown
            self.ok('destroy', 'ev-a')
            while 'Stopped' not in lines[-1]:
                line = p.stdout.readline()
                self.assertNotEqual(line, '', 'vmgmtctl event ended before ev-a stopped')
                lines.append(line)
        finally:
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertTrue(all("for domain 'ev-a'" in ln for ln in lines), lines)
        self.assertNotIn('ev-b', out)
        self.assertIn('event loop interrupted', out)
        self.assertIn('Name the domain once', self.fails('event', 'ev-a', '--domain', 'ev-a'))

    def test_undefine_remove_storage(self):
        self.ok('vol-create-as', 'default', 'st-a.qcow2', '1M', '--format', 'qcow2')
        self.ok('vol-create-as', 'default', 'st-b.raw', '1M')
        a = self.ok('vol-path', 'st-a.qcow2', '--pool', 'default').strip()
        b = self.ok('vol-path', 'st-b.raw', '--pool', 'default').strip()
        outside = os.path.join(self.fx.tmp, 'outside.raw')
        with open(outside, 'wb') as f:
            f.truncate(1 << 20)

        def disks(*paths):
            return ''.join("<disk type='file' device='disk'><driver name='qemu' type='%s'/><source file='%s'/>"
                           "<target dev='vd%s' bus='virtio'/></disk>" % ('qcow2' if p.endswith('qcow2') else 'raw',
                                                                        p, 'abc'[i])
                           for i, p in enumerate(paths))
        self.ok('define', self.xml_file('st', extra_devices=disks(a, b, outside)))
        # running: refused before anything changes
        self.ok('start', 'st', '--paused')
        self.assertIn('cannot be removed while it runs', self.fails('undefine', 'st', '--remove-all-storage'))
        self.ok('destroy', 'st')
        self.assertTrue(os.path.exists(a) and os.path.exists(b))
        self.assertIn("has no disk 'vdz'", self.fails('undefine', 'st', '--storage', 'vdz'))
        self.assertIn('exclude each other', self.fails('undefine', 'st', '--storage', 'vda', '--remove-all-storage'))
        self.assertIn('st', self.ok('list', '--all'))

        # --storage: only the disks named (by target or by path)
        r = self.ctl('undefine', 'st', '--storage', 'vda,' + outside)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "Domain 'st' has been undefined\nVolume 'vda'(%s) removed.\n" % a)
        self.assertIn("'%s' (vdc) is not a volume of any active pool: left alone" % outside, r.stderr)
        self.assertFalse(os.path.exists(a))
        self.assertTrue(os.path.exists(b) and os.path.exists(outside))

        # --remove-all-storage: every pool volume among the disks
        self.ok('define', self.xml_file('st2', xml=minimal_domain_xml('st2', extra_devices=disks(b, outside))))
        r = self.ctl('undefine', 'st2', '--remove-all-storage')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Volume 'vda'(%s) removed." % b, r.stdout)
        self.assertFalse(os.path.exists(b))
        self.assertTrue(os.path.exists(outside))
        self.assertNotIn('st-b.raw', self.ok('vol-list', 'default'))


    def test_quiet(self):
        # -q/--quiet: what was done is not said, tables lose their headers; what was asked for still prints
        f = self.xml_file('qu')
        self.assertEqual(self.ok('-q', 'define', f), '')
        self.assertEqual(self.ok('--quiet', 'start', 'qu', '--paused'), '')
        self.assertEqual(self.client.state(domain_path('qu'))[0], 'paused')
        listed = self.ok('list', '--all')
        self.assertIn('Name', listed.splitlines()[0])
        quiet = self.ok('-q', 'list', '--all')
        self.assertEqual(quiet.splitlines(), listed.splitlines()[2:])
        self.assertIn(' qu ', quiet)
        self.assertEqual(self.ok('-q', 'domstate', 'qu'), 'paused\n')
        self.assertIn('<name>qu</name>', self.ok('-q', 'dumpxml', 'qu'))
        self.assertEqual(self.ok('-q', 'destroy', 'qu'), '')
        self.assertEqual(self.ok('-q', 'undefine', 'qu'), '')
        self.assertNotIn('qu', self.client.list_domains())
        self.assertIn("Unknown option '-qq'", self.fails('-qq', 'list'))
        # errors are not quieted
        self.assertIn('qu', self.fails('-q', 'start', 'qu'))

    def test_repeated_options(self):
        # --diskspec may be given once per disk (virsh's snapshot-create-as); any other option given
        # twice is an error, as virsh's "already seen", never a silent choice of one of them
        xml = self.ok('snapshot-create-as', 'any', 'two', '--disk-only', '--print-xml',
                      '--diskspec', 'vda,snapshot=external,file=/x/a.ov', '--diskspec=vdb,snapshot=no')
        self.assertIn("<disk name='vda' snapshot='external'>", xml)
        self.assertIn("<source file='/x/a.ov'/>", xml)
        self.assertIn("<disk name='vdb' snapshot='no'/>", xml)
        self.assertLess(xml.index("'vda'"), xml.index("'vdb'"))
        for twice in (['--description', 'a', '--description=b'], ['--print-xml']):
            self.assertIn("Option '%s' given more than once" % twice[0],
                          self.fails('snapshot-create-as', 'any', 's', '--print-xml', *twice))
        self.assertIn('[--diskspec SPEC]...', self.ok('help', 'snapshot-create-as'))

    def test_connect_uri(self):
        self.ok('define', self.xml_file('uri'))
        for uri in ('qemu:///system', 'vmgmt:///system'):
            self.assertIn('uri', self.ok('-c', uri, 'list', '--all'))
            self.assertIn('uri', self.ok('--connect=' + uri, 'list', '--all'))
        # the session bus is another bus: nothing of the system's there (none at all here)
        r = self.ctl('-c', 'qemu:///session', 'list', '--all',
                     env={'DBUS_SESSION_BUS_ADDRESS': 'unix:path=/nonexistent/session-bus'})
        self.assertEqual(r.returncode, 1)
        for bad in ('lxc:///system', 'qemu:///elsewhere', 'qemu+ssh://host'):
            self.assertIn('Unsupported connection URI', self.fails('-c', bad, 'list'))

    def run_on_tty(self, *args, env=None):
        """vmgmtctl with its stdout on a pty (as a user's terminal); returns what the pty showed."""
        import pty
        pid, fd = pty.fork()
        if pid == 0:
            e = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address})
            e.update(env or {})
            os.execve(VMGMTCTL, [VMGMTCTL] + list(args), e)
        out = b''
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, out)
        return out.decode(errors='replace')

    def test_pager_on_a_terminal_only(self):
        self.ok('define', self.xml_file('pg'))
        got = os.path.join(self.fx.tmp, 'paged')
        pager = {'VMGMTCTL_PAGER': 'cat > %s' % got}
        shown = self.run_on_tty('list', '--all', env=pager)
        with open(got) as f:
            self.assertIn('pg', f.read())
        self.assertNotIn('pg', shown)
        os.unlink(got)
        # --no-pager, a pipe, or a verb with short output: no pager
        self.assertIn('pg', self.run_on_tty('--no-pager', 'list', '--all', env=pager))
        self.assertIn('pg', self.ok('list', '--all'))
        self.ctl('list', '--all', env=pager)
        self.run_on_tty('domstate', 'pg', env=pager)
        self.assertFalse(os.path.exists(got))
        # PAGER= (empty) or cat: none
        self.assertIn('pg', self.run_on_tty('list', '--all', env={'PAGER': '', 'VMGMTCTL_PAGER': ''}))


if __name__ == '__main__':
    main()
