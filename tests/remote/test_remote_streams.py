#!/usr/bin/python3
# Byte streams for connections that cannot carry file descriptors (issue 15
# item 1: the ssh stdio bridge of -H). Domain.ScreenshotStream,
# OpenGraphicsStream and OpenConsoleStream answer with the path of a one-shot
# unix socket on the domain's host (RUN/streams/TOKEN, 0600 and the caller's,
# in a directory nobody may list): another uid cannot connect, the first
# connection gets the PNG / the RFB server / the console session (which is
# held meanwhile: OpenConsole is Busy), and the name is gone after it.
# `vmgmtctl -H … screenshot` brings the PNG over ssh (ssh -L to that socket,
# a second login of the same user), the same image as a local screenshot;
# vol-upload/vol-download over -H go through StorageVolume.UploadStream /
# DownloadStream the same way (the bytes round-trip; an upload that ends short
# fails and leaves the volume as it was). (console -H over the stream: tests/console.)

import os
import socket
import stat
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from remote_harness import SshHost  # noqa: E402
from vmgmt_harness import (DEFAULT_TIMEOUT, VMGMTCTL, VmgmtTestCase, _child_env, dbus_error_name, main,  # noqa: E402
                           minimal_domain_xml, opts, run_vmgmtctl)

import dbus  # noqa: E402

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
DISPLAY = ("<graphics type='vnc'/><video><model type='vga'/></video>"
           "<serial type='pty'><target port='0'/></serial>")


def png_size(data):
    assert data.startswith(PNG_MAGIC), data[:16]
    return struct.unpack('>II', data[16:24])


def recv_all(path, timeout=DEFAULT_TIMEOUT):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    data = b''
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    return data


class Streams(VmgmtTestCase):
    def boot(self, name):
        path = self.define(minimal_domain_xml(name, extra_devices=DISPLAY))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        return path

    def streams_dir(self):
        return os.path.join(self.daemon.root, 'run', 'vmgmt', 'streams')

    def test_stream_sockets(self):
        path = self.boot('st')
        spath = str(self.dom(path).ScreenshotStream(opts()))
        self.assertEqual(os.path.dirname(spath), self.streams_dir())
        self.assertRegex(os.path.basename(spath), r'^[0-9a-f]{32}$')
        st = os.stat(spath)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o600, 0))
        self.assertEqual(stat.S_IMODE(os.stat(self.streams_dir()).st_mode), 0o711)
        # another uid cannot connect
        r = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/python3', '-c',
                            'import socket, sys\n'
                            's = socket.socket(socket.AF_UNIX)\n'
                            'try:\n    s.connect(sys.argv[1])\n'
                            'except PermissionError:\n    sys.exit(3)\n', spath],
                           env=_child_env(), timeout=DEFAULT_TIMEOUT)
        self.assertEqual(r.returncode, 3)
        png = recv_all(spath)
        w, h = png_size(png)
        self.assertGreater(w * h, 0)
        self.assertTrue(png.endswith(b'IEND\xaeB`\x82'))   # whole, then EOF
        self.assertFalse(os.path.exists(spath))   # one connection: the name went

        # the display: the first bytes are the VNC server's
        gpath = str(self.dom(path).OpenGraphicsStream(opts()))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(DEFAULT_TIMEOUT)
        s.connect(gpath)
        self.assertEqual(s.recv(12), b'RFB 003.008\n')
        s.close()

        # the console session is held while its stream waits, and ends with it
        cpath = str(self.dom(path).OpenConsoleStream('', opts()))
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.dom(path).OpenConsole('', opts())
        self.assertEqual(dbus_error_name(cm.exception), 'org.vmgmt.Error.Busy')
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(cpath)
        s.close()
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while True:
            try:
                fd = self.dom(path).OpenConsole('', opts()).take()
                os.close(fd)
                break
            except dbus.exceptions.DBusException as e:
                if dbus_error_name(e) != 'org.vmgmt.Error.Busy' or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        # a refused argument is refused before any socket is made
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.dom(path).ScreenshotStream(opts(screen=dbus.UInt32(7)))
        self.assertEqual(dbus_error_name(cm.exception), 'org.freedesktop.DBus.Error.InvalidArgs')
        self.assertEqual(os.listdir(self.streams_dir()), [])

    def test_cli_over_ssh(self):
        self.boot('far')
        host = SshHost(self.fx.tmp, self.fx.bus.socket)
        self.addCleanup(host.stop)
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=/nonexistent'})

        def remote(*args):
            r = subprocess.run(host.client_cmd() + [VMGMTCTL, '-H', 'root@127.0.0.1:%d' % host.port] + list(args),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               timeout=2 * DEFAULT_TIMEOUT)
            return r.returncode, r.stdout.decode(), r.stderr.decode()

        far_png = os.path.join(self.fx.tmp, 'far.png')
        rc, out, err = remote('screenshot', 'far', far_png)
        self.assertEqual((rc, err), (0, ''), host.log_text()[-2000:])
        self.assertEqual(out, 'Screenshot saved to %s, with type of image/png\n' % far_png)
        here_png = os.path.join(self.fx.tmp, 'here.png')
        run_vmgmtctl(self.fx.bus, 'screenshot', 'far', here_png, check=True)
        # both whole PNGs (the size follows the guest's video mode: SeaBIOS changes it)
        with open(far_png, 'rb') as f, open(here_png, 'rb') as g:
            for data in (f.read(), g.read()):
                w, h = png_size(data)
                self.assertGreater(w * h, 0)
                self.assertTrue(data.endswith(b'IEND\xaeB`\x82'))
        # the bus bridge and the stream's forwarding: two logins
        self.assertGreaterEqual(host.log_text().count('Accepted publickey for root from 127.0.0.1'), 2)
        self.assertEqual(os.listdir(self.streams_dir()), [])

        # vol-upload / vol-download over -H: UploadStream / DownloadStream through ssh's forwarding
        run_vmgmtctl(self.fx.bus, 'vol-create-as', 'default', 'far.raw', '1M', check=True)
        data = os.urandom(300 * 1024) + b'far-volume-end'
        src, back = os.path.join(self.fx.tmp, 'up.bin'), os.path.join(self.fx.tmp, 'back.bin')
        with open(src, 'wb') as f:
            f.write(data)
        rc, out, err = remote('vol-upload', 'far.raw', src, '--pool', 'default')
        self.assertEqual((rc, err), (0, ''), host.log_text()[-2000:])
        rc, out, err = remote('vol-download', 'far.raw', back, '--pool', 'default')
        self.assertEqual((rc, err), (0, ''), host.log_text()[-2000:])
        with open(back, 'rb') as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(os.listdir(self.streams_dir()), [])
        # an UploadStream that does not say how many bytes come is refused (a dropped connection would
        # look like the end), before any socket is made
        vol = self.client.manager.GetVolumeByPath(os.path.join(self.pool_target('default'), 'far.raw'))
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.client.obj(vol).UploadStream(opts(), dbus_interface='org.vmgmt.StorageVolume')
        self.assertEqual(dbus_error_name(cm.exception), 'org.freedesktop.DBus.Error.InvalidArgs')
        # fewer bytes than announced: the job fails and the volume keeps what it had
        spath, job = self.client.obj(vol).UploadStream(opts(length=dbus.UInt64(1 << 20)),
                                                       dbus_interface='org.vmgmt.StorageVolume')
        s2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s2.connect(str(spath))
        s2.sendall(b'short')
        s2.close()
        self.assertEqual(self.wait_job_state(str(job)), 'failed')
        # DownloadStream on the bus: the connection reads the bytes, then EOF; the job completes
        spath, job = self.client.obj(vol).DownloadStream(opts(), dbus_interface='org.vmgmt.StorageVolume')
        self.assertEqual(recv_all(str(spath)), data)
        self.assertEqual(self.wait_job_state(str(job)), 'completed')

    def pool_target(self, name):
        pool = self.client.manager.GetPool(name)
        xml = self.client.obj(pool).GetXML(opts(), dbus_interface='org.vmgmt.StoragePool')
        return xml.split('<path>', 1)[1].split('</path>', 1)[0]

    def wait_job_state(self, job):
        deadline = time.monotonic() + 2 * DEFAULT_TIMEOUT
        while True:
            state = str(self.client.prop(job, 'State', 'org.vmgmt.Job'))
            if state != 'running' or time.monotonic() > deadline:
                return state
            time.sleep(0.1)


if __name__ == '__main__':
    main()
