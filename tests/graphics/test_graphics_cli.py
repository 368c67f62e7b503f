# vmgmtctl's display verbs against a real vmgmtd and qemu (TCG): screenshot
# (virsh's default file name, --screen, nothing left behind on failure),
# vncdisplay and domdisplay for the run-dir unix socket and for TCP.

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'cli'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

from gfx_util import png_decode  # noqa: E402
from test_vmgmtctl import CtlTestCase  # noqa: E402
from vmgmt_harness import VMGMTCTL, _child_env, domain_path, main, minimal_domain_xml  # noqa: E402

VNC = "<graphics type='vnc'/>"
VNC_TCP = "<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>"


class DisplayVerbs(CtlTestCase):
    def run_in(self, cwd, *args):
        r = subprocess.run([VMGMTCTL] + list(args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=_child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address}), timeout=60)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def start(self, name, devices, *flags):
        f = self.xml_file(name, xml=minimal_domain_xml(name, extra_devices=devices))
        self.ok('define', f)
        self.ok('start', name, *flags)
        self.client.wait_state(domain_path(name), 'paused' if '--paused' in flags else 'running')

    def test_screenshot(self):
        self.start('shot', VNC, '--paused')
        out = os.path.join(self.fx.tmp, 'a.png')
        self.assertEqual(self.ok('screenshot', 'shot', out),
                         'Screenshot saved to %s, with type of image/png\n' % out)
        with open(out, 'rb') as f:
            w, h, _ = png_decode(f.read())
        self.assertGreater(w * h, 0)
        self.ok('screenshot', 'shot', out, '--screen', '0')

        # no FILE: DOMAIN-DATE.png in the current directory, as virsh
        d = os.path.join(self.fx.tmp, 'cwd')
        os.mkdir(d)
        rc, stdout, stderr = self.run_in(d, 'screenshot', 'shot')
        self.assertEqual((rc, stderr), (0, ''))
        m = re.fullmatch(r'Screenshot saved to (shot-\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d\.png), with type of image/png\n',
                         stdout)
        self.assertTrue(m, stdout)
        self.assertEqual(os.listdir(d), [m.group(1)])
        with open(os.path.join(d, m.group(1)), 'rb') as f:
            png_decode(f.read())

        # failures leave no file
        err = self.fails('screenshot', 'shot', os.path.join(d, 'x.png'), '--screen', '1')
        self.assertIn('no screen 1', err)
        err = self.fails('screenshot', 'shot', os.path.join(d, 'x.png'), '--screen', 'one')
        self.assertIn("Invalid screen number 'one'", err)
        self.ok('destroy', 'shot')
        err = self.fails('screenshot', 'shot', os.path.join(d, 'x.png'))
        self.assertIn("'shot' is not running", err)
        self.assertEqual(os.listdir(d), [m.group(1)])
        err = self.fails('screenshot', 'nosuch', os.path.join(d, 'x.png'))
        self.assertIn('nosuch', err)
        self.assertEqual(os.listdir(d), [m.group(1)])

    def test_screenshot_failure_keeps_existing_file(self):
        # FILE is replaced only by a complete screenshot: a failed call leaves
        # an existing file's contents alone and no temporary in its directory
        self.start('keep', VNC, '--paused')
        d = os.path.join(self.fx.tmp, 'keep')
        os.mkdir(d)
        out = os.path.join(d, 'old.png')
        with open(out, 'wb') as f:
            f.write(b'precious')
        err = self.fails('screenshot', 'keep', out, '--screen', '1')
        self.assertIn('no screen 1', err)
        self.ok('destroy', 'keep')
        err = self.fails('screenshot', 'keep', out)
        self.assertIn("'keep' is not running", err)
        with open(out, 'rb') as f:
            self.assertEqual(f.read(), b'precious', 'a failed screenshot changed the existing file')
        self.assertEqual(os.listdir(d), ['old.png'])
        # a successful one replaces it, with a new file's mode (0666 & ~umask)
        self.ok('start', 'keep', '--paused')
        self.client.wait_state(domain_path('keep'), 'paused')
        os.chmod(out, 0o600)
        old = os.umask(0o022)
        try:
            rc, _, stderr = self.run_in(d, 'screenshot', 'keep', 'old.png')
        finally:
            os.umask(old)
        self.assertEqual((rc, stderr), (0, ''))
        with open(out, 'rb') as f:
            png_decode(f.read())
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o644)
        self.assertEqual(os.listdir(d), ['old.png'])

    def test_vncdisplay_unix_socket(self):
        self.start('u', VNC)
        live = ET.fromstring(self.ok('dumpxml', 'u'))
        sock = live.find('devices/graphics/listen').get('socket')
        self.assertTrue(sock.startswith(self.daemon.run_dir + '/'), sock)
        self.assertEqual(self.ok('vncdisplay', 'u'), sock + '\n')
        self.assertEqual(self.ok('domdisplay', 'u'), 'vnc+unix://%s\n' % sock)

    def test_vncdisplay_tcp(self):
        self.start('t', VNC_TCP)
        port = int(ET.fromstring(self.ok('dumpxml', 't')).find('devices/graphics').get('port'))
        self.assertGreaterEqual(port, 5900)
        self.assertEqual(self.ok('vncdisplay', 't'), '127.0.0.1:%d\n' % (port - 5900))
        self.assertEqual(self.ok('domdisplay', 't'), 'vnc://127.0.0.1:%d\n' % (port - 5900))

    def test_vncdisplay_errors(self):
        self.start('plain', '')
        for verb in ('vncdisplay', 'domdisplay'):
            self.assertIn("'plain' has no VNC display", self.fails(verb, 'plain'))
        self.ok('destroy', 'plain')
        for verb in ('vncdisplay', 'domdisplay'):
            self.assertIn("'plain' is not running", self.fails(verb, 'plain'))
            self.assertIn('nosuch', self.fails(verb, 'nosuch'))


if __name__ == '__main__':
    main()
