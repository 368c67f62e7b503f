# The display of a running domain (issue 6): OpenGraphics hands out a socket
# connected to qemu's VNC server (a unix socket in the run dir; TCP only when
# the XML asks for an address or port, and then the live XML names the port
# qemu picked), Screenshot writes a PNG of the display to the caller's fd
# without ever blocking vmgmtd (slow readers, readers that go away), and bad
# requests get clear errors and leave nothing behind. The booted busybox guest
# (tools/build-guest) and minimal domains run under TCG.
#
# PNGs are checked with zlib/struct only (signature, CRCs, IHDR, image data),
# and compared with the framebuffer the VNC server itself sends.

import errno
import fcntl
import glob
import os
import platform
import select
import socket
import subprocess
import sys
import time
import tty
import xml.etree.ElementTree as ET

import dbus

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

from gfx_util import RFB, png_chunks, png_decode, read_all, tcp_listen_ports  # noqa: E402
from vmgmt_harness import (ERR_INVALID_ARGS, ERR_INVALID_STATE, ERR_NOT_SUPPORTED,  # noqa: E402
                           ERR_OPERATION_FAILED, GUEST_READY, VmgmtTestCase, guest_domain_xml,
                           guest_image, main, minimal_domain_xml, opts)

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly
# the bound of every wait for an answer or a state the test is sure to see: it
# only keeps a hang from lasting for ever (no wait here is a timing check)
WAIT = 120
F_SETPIPE_SZ = 1031
WRITE_SYSCALL = {'x86_64': 1, 'aarch64': 64, 'ppc64le': 4, 's390x': 4}   # write(2)'s number
VNC = "<graphics type='vnc'/>"


def with_devices(xml, devices):
    return xml.replace('</devices>', devices + '</devices>', 1)


def graphics_of(xml):
    g = ET.fromstring(xml).find('devices/graphics')
    listen = g.find('listen') if g is not None else None
    return g, listen


def pixel_mismatches(a_rows, b_rows):
    return sum(1 for ra, rb in zip(a_rows, b_rows) for i in range(0, len(ra), 3) if ra[i:i + 3] != rb[i:i + 3])


class DisplayTestCase(VmgmtTestCase):
    def open_graphics(self, path, **options):
        fd = self.dom(path).OpenGraphics(opts(**options))
        return fd.take()

    def screenshot(self, path, **options):
        """Screenshot into a pipe drained by the GLib loop's caller; returns the bytes."""
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            ufd = dbus.types.UnixFd(w)
            os.close(w)
            w = -1
            result, out = {}, []
            self.client.conn.call_async('org.vmgmt', path, 'org.vmgmt.Domain', 'Screenshot', 'ha{sv}',
                                        (ufd, opts(**options)),
                                        lambda: result.setdefault('ok', True),
                                        lambda e: result.setdefault('error', e), timeout=WAIT)
            os.close(ufd.take())   # the message has its own copy
            os.set_blocking(r, False)
            deadline = time.monotonic() + WAIT
            while 'ok' not in result and 'error' not in result:
                self.assertLess(time.monotonic(), deadline, 'Screenshot did not answer')
                self.rec.pump(0.01)
                try:
                    b = os.read(r, 65536)
                    if b:
                        out.append(b)
                except BlockingIOError:
                    pass
            if 'error' in result:
                raise result['error']
            os.set_blocking(r, True)
            out.append(read_all(r))   # the daemon closed its copy: EOF follows the last byte
            return b''.join(out)
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)

    def fds_back_to(self, before, timeout=WAIT):
        """vmgmtd's fds back to `before` (a worker that opens a log file for a
        moment is no leak); the listing on failure."""
        deadline = time.monotonic() + timeout
        while self.daemon.fd_count() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.daemon.fd_count() > before:
            fds = {}
            for fd in os.listdir('/proc/%d/fd' % self.daemon.pid):
                try:
                    fds[fd] = os.readlink('/proc/%d/fd/%s' % (self.daemon.pid, fd))
                except OSError:
                    pass
            self.fail('vmgmtd has %d fds, %d before: %r' % (len(fds), before, fds))

    def get_state(self, path):
        """A property Get: answered while a Screenshot copy waits for its reader
        (a loop blocked in the copy would answer it only when the bound ends)."""
        return self.client.conn.call_blocking('org.vmgmt', path, 'org.freedesktop.DBus.Properties',
                                              'Get', 'ss', ('org.vmgmt.Domain', 'State'), timeout=WAIT)

    def call_into(self, path, fd):
        result = {}
        self.client.conn.call_async('org.vmgmt', path, 'org.vmgmt.Domain', 'Screenshot', 'ha{sv}',
                                    (dbus.types.UnixFd(fd), opts()),
                                    lambda: result.setdefault('ok', True),
                                    lambda e: result.setdefault('error', e), timeout=WAIT)
        return result

    def wait_answer(self, result):
        self.rec.wait_for(lambda e: result, timeout=WAIT, what='Screenshot answer')

    def not_answered_while_copying(self, result, r, path):
        """The copy into the pipe or socket whose read end is r is under way
        (its first bytes are there) and cannot end before they are read: a
        call made now is answered, and the Screenshot is not (both replies come
        in order on this connection)."""
        self.assertEqual(select.select([r], [], [], WAIT)[0], [r], 'the copy did not start')
        self.get_state(path)
        self.rec.pump()
        self.assertEqual(result, {}, 'Screenshot answered before the PNG was read')

    def no_temp_files(self):
        left = glob.glob(os.path.join(self.daemon.run_dir, '*.screendump.*'))
        self.assertEqual(left, [], 'screendump files left in the run dir')


class MinimalDisplay(DisplayTestCase):
    """Domains without an OS: the display qemu shows before any guest code ran."""

    def test_started_paused_screenshot_matches_vnc(self):
        path = self.define(minimal_domain_xml('p', extra_devices=VNC))
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')

        # the socket speaks RFB
        rfb = RFB(self.open_graphics(path))
        try:
            w, h, name = rfb.handshake()
            self.assertEqual(rfb.greeting, b'RFB 003.008\n')
            fb = rfb.framebuffer()
        finally:
            rfb.close()
        png = self.screenshot(path)
        pw, ph, rows = png_decode(png)
        self.assertEqual((pw, ph), (w, h), 'PNG size differs from the VNC framebuffer size')
        self.assertGreater(len(set(rows)), 1, 'the display is one flat colour')
        self.assertLess(pixel_mismatches(rows, fb), w * h // 100, 'PNG and VNC framebuffer differ')
        self.no_temp_files()

    def test_unix_socket_only_and_live_xml(self):
        path = self.define(minimal_domain_xml('u', extra_devices=VNC))
        # what a daemon killed in the middle of a screenshot left behind goes at the next start
        stale = os.path.join(self.daemon.run_dir, '%s.screendump.AbC123' % self.client.prop(path, 'UUID'))
        os.makedirs(self.daemon.run_dir, exist_ok=True)
        open(stale, 'w').close()
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        self.assertFalse(os.path.exists(stale))
        live = str(self.dom(path).GetXML(opts()))
        g, listen = graphics_of(live)
        self.assertIsNotNone(listen, live)
        self.assertEqual(listen.get('type'), 'socket')
        sock = listen.get('socket')
        self.assertTrue(sock.startswith(self.daemon.run_dir + '/'), sock)
        self.assertIsNone(g.get('port'))
        # a VNC client can use that socket itself
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        self.assertEqual(s.recv(12), b'RFB 003.008\n')
        s.close()
        # and qemu listens on no TCP port
        pid = self.fx.qemu_pids()[0]
        self.assertEqual(tcp_listen_ports(pid), set())
        # the persistent definition is unchanged
        inactive = str(self.dom(path).GetXML(opts(inactive=True)))
        g, listen = graphics_of(inactive)
        self.assertEqual((g.get('port'), g.get('autoport')), ('-1', 'yes'))

    def test_tcp_when_asked_live_port(self):
        path = self.define(minimal_domain_xml(
            't', extra_devices="<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>"))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        g, listen = graphics_of(str(self.dom(path).GetXML(opts())))
        port = int(g.get('port'))
        self.assertGreaterEqual(port, 5900)
        self.assertEqual(g.get('listen'), '127.0.0.1')
        pid = self.fx.qemu_pids()[0]
        self.assertIn(port, tcp_listen_ports(pid))
        s = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.assertEqual(s.recv(12), b'RFB 003.008\n')
        s.close()
        # OpenGraphics goes there too
        rfb = RFB(self.open_graphics(path))
        try:
            self.assertEqual(rfb.handshake()[:2], png_decode(self.screenshot(path))[:2])
        finally:
            rfb.close()
        # the port survives a daemon restart (it comes back from the status file)
        self.daemon.restart()
        g2, _ = graphics_of(str(self.dom(path).GetXML(opts())))
        self.assertEqual(int(g2.get('port')), port)
        rfb = RFB(self.open_graphics(path))
        rfb.handshake()
        rfb.close()
        inactive = str(self.dom(path).GetXML(opts(inactive=True)))
        self.assertEqual(graphics_of(inactive)[0].get('port'), '-1')

    def test_screens_are_heads(self):
        # a virtio GPU with two outputs: screens 0 and 1, no screen 2
        path = self.define(minimal_domain_xml(
            'h', extra_devices="<graphics type='vnc'/><video><model type='virtio' heads='2'/></video>"))
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        for screen in (0, 1):
            w, h, _ = png_decode(self.screenshot(path, screen=dbus.UInt32(screen)))
            self.assertGreater(w * h, 0)
        r, w = os.pipe2(os.O_CLOEXEC)
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).Screenshot, dbus.types.UnixFd(w),
                                   opts(screen=dbus.UInt32(2)))
        self.assertIn("has no screen 2 (it has 2)", msg)

    def test_errors(self):
        plain = self.define(minimal_domain_xml('plain'))
        vnc = self.define(minimal_domain_xml('vnc', extra_devices=VNC))
        none = self.define(minimal_domain_xml(
            'none', extra_devices="<graphics type='vnc'><listen type='none'/></graphics>"))
        r, w = os.pipe2(os.O_CLOEXEC)
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        wfd, rfd = dbus.types.UnixFd(w), dbus.types.UnixFd(r)

        # not running
        before = self.fx.snapshot()
        msg = self.assertDBusError(ERR_INVALID_STATE, self.dom(vnc).OpenGraphics, opts())
        self.assertIn("'vnc' is not running", msg)
        msg = self.assertDBusError(ERR_INVALID_STATE, self.dom(vnc).Screenshot, wfd, opts())
        self.assertIn("'vnc' is not running", msg)
        self.assertUnchanged(before)

        for p in (plain, vnc, none):
            self.dom(p).Start(opts())
            self.client.wait_state(p, 'running')
        before = self.fx.snapshot()
        # no graphics device, no video device
        msg = self.assertDBusError(ERR_NOT_SUPPORTED, self.dom(plain).OpenGraphics, opts())
        self.assertIn('no graphics device', msg)
        msg = self.assertDBusError(ERR_NOT_SUPPORTED, self.dom(plain).Screenshot, wfd, opts())
        self.assertIn('no video device', msg)
        # a VNC server that does not listen: no connection, but a screenshot
        msg = self.assertDBusError(ERR_NOT_SUPPORTED, self.dom(none).OpenGraphics, opts())
        self.assertIn('does not listen', msg)
        png_chunks(self.screenshot(none))
        # no such device or screen
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.dom(vnc).OpenGraphics, opts(index=dbus.UInt32(1)))
        self.assertIn('no graphics device 1', msg)
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.dom(vnc).Screenshot, wfd, opts(screen=dbus.UInt32(1)))
        self.assertIn('no screen 1', msg)
        # bad options
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.dom(vnc).OpenGraphics, opts(index='0'))
        self.assertIn('index', msg)
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.dom(vnc).Screenshot, wfd, opts(bogus=True))
        self.assertIn('bogus', msg)
        # a fd the PNG cannot be written to
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.dom(vnc).Screenshot, rfd, opts())
        self.assertIn('not open for writing', msg)
        ro = os.open('/dev/null', os.O_RDONLY | os.O_CLOEXEC)
        self.addCleanup(os.close, ro)
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(vnc).Screenshot, dbus.types.UnixFd(ro), opts())
        self.assertUnchanged(before)
        self.no_temp_files()
        # screen 0 named explicitly works; a regular file works (no epoll there)
        png_chunks(self.screenshot(vnc, screen=dbus.UInt32(0)))
        out = os.path.join(self.fx.tmp, 'shot.png')
        with open(out, 'wb') as f:
            self.dom(vnc).Screenshot(dbus.types.UnixFd(f.fileno()), opts())
        with open(out, 'rb') as f:
            png_decode(f.read())
        self.assertUnchanged(before)
        self.no_temp_files()


class BootedGuest(DisplayTestCase):
    """The busybox guest, booted once, with text written on its VGA console
    (a PNG of several pages, more than a one-page pipe holds), then paused so
    the picture stays still (no cursor blinking)."""

    shared_daemon = True
    booted = None

    @classmethod
    def setUpClass(cls):
        guest_image()
        super().setUpClass()

    def guest(self):
        if BootedGuest.booted:
            return BootedGuest.booted
        path = self.define(with_devices(guest_domain_xml('g'), VNC))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        before = self.screenshot(path)
        png_decode(before)
        # the marker is computed, so the echo of the command line cannot match it
        con.send('dmesg > /dev/tty1; ls -l /proc /sys > /dev/tty1; echo tty1-$((6*7))')
        con.wait_for('tty1-42\r\n', 30)
        self.dom(path).Suspend(opts())
        self.client.wait_state(path, 'paused')
        BootedGuest.booted = (path, before)
        return BootedGuest.booted

    def test_a_display_matches_vnc(self):
        path, before = self.guest()
        rfb = RFB(self.open_graphics(path))
        try:
            w, h, _ = rfb.handshake()
            self.assertEqual(rfb.greeting, b'RFB 003.008\n')
            fb = rfb.framebuffer()
        finally:
            rfb.close()
        png = self.screenshot(path)
        pw, ph, rows = png_decode(png)
        self.assertEqual((pw, ph), (w, h), 'PNG size differs from the VNC framebuffer size')
        self.assertTrue(png != before, 'the screenshot did not change with the display')
        self.assertLess(pixel_mismatches(rows, fb), w * h // 100, 'PNG and VNC framebuffer differ')
        self.assertGreater(len(png), 2 * 4096, 'the test needs a PNG larger than a small pipe')
        self.no_temp_files()

    def test_b_slow_reader_does_not_block(self):
        # a pipe of one page, read 256 bytes at a time: the reply waits for
        # the last byte, and vmgmtd answers other calls meanwhile
        path, _ = self.guest()
        reference = self.screenshot(path)
        before_fds = self.daemon.fd_count()
        r, w = os.pipe2(os.O_CLOEXEC)
        fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
        got, answered = [], 0
        result = self.call_into(path, w)
        os.close(w)
        deadline = time.monotonic() + WAIT
        while True:
            self.rec.pump()
            # answered while the copy waits for room in the pipe (nothing read since its last write)
            self.get_state(path)
            b = os.read(r, 256)
            if not b:
                break
            got.append(b)
            if sum(map(len, got)) < len(reference) - 4096:
                self.assertNotIn('ok', result, 'Screenshot answered before its last byte was read')
                answered += 1
            self.assertLess(time.monotonic(), deadline, 'the copy did not end')
        os.close(r)
        self.wait_answer(result)
        self.assertIn('ok', result, result)
        self.assertTrue(b''.join(got) == reference, 'slowly read PNG differs')
        self.assertGreater(answered, len(reference) // 256 // 2, 'too few calls made during the copy')
        self.fds_back_to(before_fds)
        self.no_temp_files()

    def test_c_reader_closes_mid_copy(self):
        path, _ = self.guest()
        before_fds = self.daemon.fd_count()
        for kind in ('pipe', 'socket'):
            with self.subTest(kind=kind):
                if kind == 'pipe':
                    r, w = os.pipe2(os.O_CLOEXEC)
                    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
                    reader = lambda n: os.read(r, n)   # noqa: E731
                else:
                    a, b = socket.socketpair()
                    b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1024)   # the kernel's minimum
                    r, w = a.detach(), b.detach()
                    reader = lambda n: os.read(r, n)   # noqa: E731
                result = self.call_into(path, w)
                os.close(w)
                self.not_answered_while_copying(result, r, path)
                self.assertEqual(len(reader(100)), 100)
                os.close(r)
                self.wait_answer(result)
                self.assertIn('error', result, result)
                self.assertEqual(result['error'].get_dbus_name(), ERR_OPERATION_FAILED)
                self.assertIn('closed its end', result['error'].get_dbus_message())
        self.fds_back_to(before_fds)
        self.no_temp_files()
        png_decode(self.screenshot(path))   # and the next one works

    def test_d_daemon_exits_mid_copy(self):
        # vmgmtd stopped while a Screenshot is still copying: the caller gets an
        # answer, the exit is clean (LeakSanitizer runs under ASan) and the
        # domain, recovered by the next vmgmtd, can be photographed again
        path, _ = self.guest()
        r, w = os.pipe2(os.O_CLOEXEC)
        self.addCleanup(os.close, r)
        fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
        result = self.call_into(path, w)
        os.close(w)
        self.not_answered_while_copying(result, r, path)
        self.assertEqual(self.daemon.stop(), 0)
        self.wait_answer(result)
        self.assertIn('error', result)
        self.daemon.start()
        self.client.wait_state(path, 'paused')
        self.no_temp_files()
        png_decode(self.screenshot(path))

    def test_e_domain_destroyed_mid_copy(self):
        path, _ = self.guest()
        before_fds = self.daemon.fd_count()
        r, w = os.pipe2(os.O_CLOEXEC)
        self.addCleanup(os.close, r)
        fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
        result = self.call_into(path, w)
        os.close(w)
        self.not_answered_while_copying(result, r, path)
        self.dom(path).Destroy(opts())
        self.wait_answer(result)
        self.assertIn('error', result)
        self.assertEqual(result['error'].get_dbus_name(), ERR_INVALID_STATE)
        self.fds_back_to(before_fds)
        self.no_temp_files()


class DestinationCase(DisplayTestCase):
    """Screenshot into fds whose writes can block: vmgmtd answers other calls
    all along, and a reader that takes nothing fails the Screenshot after the
    stall timeout ([daemon] screenshot_stall_timeout_sec, STALL of each class)."""

    STALL = None

    def setUp(self):
        super().setUp()
        self.daemon.restart_with_config('[daemon]\nscreenshot_stall_timeout_sec=%g\n' % self.STALL)
        self.path = self.define(minimal_domain_xml('s', extra_devices=VNC))
        self.dom(self.path).Start(opts(paused=True))
        self.client.wait_state(self.path, 'paused')
        self.reference = self.screenshot(self.path)
        png_decode(self.reference)
        self.before_fds = self.daemon.fd_count()

    def keep_answering(self, result, seconds, between=None):
        """Property Gets (each one answered, see get_state) for `seconds` or
        until the Screenshot is answered: the time only paces the test."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not result:
            self.get_state(self.path)
            if between:
                between()
            self.rec.pump(0.05)

    def wait_fds(self):
        self.fds_back_to(self.before_fds)

    def assert_stalled(self, result):
        self.wait_answer(result)
        self.assertIn('error', result, result)
        self.assertEqual(result['error'].get_dbus_name(), ERR_OPERATION_FAILED)
        self.assertIn('took no data for %g s' % self.STALL, result['error'].get_dbus_message())

    def full_pty(self):
        """A pty (raw mode: no output processing) whose slave's buffer is full
        (as full as the filling saw it: a write that still goes through blocks
        soon after, which is all the tests need)."""
        master, slave = os.openpty()
        self.addCleanup(os.close, slave)
        tty.setraw(slave)
        filler = os.open(os.ttyname(slave), os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
        while True:   # until the master's line discipline took in what it can (a work queue)
            n = 0
            for size in (4096, 1):
                try:
                    while True:
                        n += os.write(filler, b'x' * size)
                except BlockingIOError:
                    pass
            if n == 0:
                break
            time.sleep(0.2)
        os.close(filler)
        return master, slave

    def copy_blocked_on(self, fd):
        """True when a thread of vmgmtd (the Screenshot's worker: nothing else
        writes to the caller's fd) is blocked in write(2) on the file `fd` names
        (the syscall /proc shows for a sleeping task)."""
        target = os.readlink('/proc/self/fd/%d' % fd)
        nr = WRITE_SYSCALL.get(platform.machine())
        pid = self.daemon.pid
        for tid in os.listdir('/proc/%d/task' % pid):
            try:
                with open('/proc/%d/task/%s/syscall' % (pid, tid)) as f:
                    fields = f.read().split()
                if len(fields) > 1 and fields[0] == str(nr) and \
                        os.readlink('/proc/%d/fd/%d' % (pid, int(fields[1], 16))) == target:
                    return True
            except (OSError, ValueError):
                pass
        return False

    def tasks(self):
        """vmgmtd's threads: {tid: (name, syscall)} (for failure messages)."""
        out, pid = {}, self.daemon.pid
        for tid in os.listdir('/proc/%d/task' % pid):
            try:
                with open('/proc/%d/task/%s/comm' % (pid, tid)) as f, \
                        open('/proc/%d/task/%s/syscall' % (pid, tid)) as g:
                    out[tid] = (f.read().strip(), ' '.join(g.read().split()[:3]))
            except OSError as e:
                out[tid] = str(e)
        return out

    def wait_copy_blocked(self, result, fd):
        """Waits until the copy blocks on fd; then a call made is answered and
        the Screenshot is not (the replies come in order)."""
        self.rec.wait_for(lambda e: result or self.copy_blocked_on(fd), timeout=WAIT,
                          what='the copy blocked in write()')
        self.assertEqual(result, {}, 'the Screenshot ended while the tty was full; threads: %s' % self.tasks())
        self.get_state(self.path)
        self.rec.pump()
        self.assertEqual(result, {}, 'the Screenshot ended while the tty was full')


class BlockedDestinations(DestinationCase):
    """No stall timeout in the way (an hour): blocked copies end only by what the test does."""

    STALL = 3600

    def test_pty_domain_destroyed_then_daemon_exits(self):
        # the copy blocked in its thread: Destroy answers the Screenshot at
        # once, and vmgmtd exits cleanly (LeakSanitizer under ASan) while the
        # thread still waits; the next vmgmtd recovers nothing of it
        master, slave = self.full_pty()
        self.addCleanup(os.close, master)
        result = self.call_into(self.path, slave)
        self.wait_copy_blocked(result, slave)
        self.dom(self.path).Destroy(opts())
        self.wait_answer(result)
        self.assertEqual(result['error'].get_dbus_name(), ERR_INVALID_STATE)
        self.assertTrue(self.copy_blocked_on(slave), 'the copy thread no longer waits: the test proves nothing')
        self.get_state(self.path)
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        self.assertEqual(self.client.prop(self.path, 'State'), 'shutoff')
        self.no_temp_files()

    def test_regular_file_and_devices(self):
        # a regular file, copied off the loop: the whole PNG, and the loop answers
        out = os.path.join(self.fx.tmp, 'shot.png')
        with open(out, 'wb') as f:
            result = self.call_into(self.path, f.fileno())
            self.keep_answering(result, WAIT)
            self.wait_answer(result)
        self.assertIn('ok', result, result)
        with open(out, 'rb') as f:
            self.assertTrue(f.read() == self.reference, 'the PNG in the file differs')
        # a character device that fails every write: the error reaches the caller
        with open('/dev/full', 'wb') as f:
            result = self.call_into(self.path, f.fileno())
            self.wait_answer(result)
        self.assertIn('error', result, result)
        self.assertIn('No space left on device', result['error'].get_dbus_message())
        with open('/dev/null', 'wb') as f:
            result = self.call_into(self.path, f.fileno())
            self.wait_answer(result)
        self.assertIn('ok', result, result)
        self.wait_fds()
        self.no_temp_files()


class NeverReadTty(DestinationCase):
    """A stall timeout that fires: long enough that a call made once the copy
    blocked is surely answered first, however loaded the machine."""

    STALL = 20

    def test_pty_never_read(self):
        # a tty whose other end nobody reads, its buffer full: a write blocks
        master, slave = self.full_pty()
        self.assertTrue(os.get_blocking(slave))
        result = self.call_into(self.path, slave)
        self.wait_copy_blocked(result, slave)
        self.assert_stalled(result)
        self.assertTrue(os.get_blocking(slave), "vmgmtd changed the caller's file status flags")
        self.get_state(self.path)
        # the blocked copy ends once the tty goes away; its fds with it
        os.close(master)
        self.wait_fds()
        self.no_temp_files()
        png_decode(self.screenshot(self.path))


class StallingReaders(DestinationCase):
    """A short stall timeout ends each round of a reader that stops."""

    STALL = 2

    def fifo_round(self, fifo):
        r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        w = os.open(fifo, os.O_WRONLY)
        other = os.open(fifo, os.O_WRONLY)
        fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
        # cat waits in the kernel to fill whatever room the reader makes
        cat = subprocess.Popen(['cat', '/dev/zero'], stdout=other, stderr=subprocess.DEVNULL)
        self.addCleanup(cat.wait, WAIT)
        self.addCleanup(cat.kill)
        result = self.call_into(self.path, w)
        self.assertTrue(os.get_blocking(w))
        os.close(w)

        def read_page():
            try:
                os.read(r, 4096)
            except BlockingIOError:
                pass

        self.keep_answering(result, 3, between=read_page)
        # the reader stops: the Screenshot stalls (or it got all its bytes in;
        # on a loaded machine it may have stalled already)
        self.wait_answer(result)
        if 'error' in result:
            self.assertIn('took no data', result['error'].get_dbus_message())
        os.close(r)
        self.assertIsNotNone(cat.wait(WAIT))   # EPIPE
        os.close(other)
        return 'ok' in result

    def test_fifo_shared_with_a_filling_writer(self):
        # the FIFO has a second writer that fills every page the reader frees,
        # racing vmgmtd for it (a few rounds: one lost race blocked the loop)
        fifo = os.path.join(self.fx.tmp, 'fifo')
        os.mkfifo(fifo)
        for _ in range(8):
            self.fifo_round(fifo)
            self.get_state(self.path)
        self.wait_fds()
        self.no_temp_files()


class GraphicsSocketOwner(DisplayTestCase):
    # A VNC socket at a path of the XML's choosing is bound by vmgmtd (with the
    # caller's rights) and handed to qemu, confined or not; vmgmtd itself
    # reaches the display through the domain's run-dir socket, never through
    # the XML's path.
    def setUp(self):
        super().setUp()
        self.daemon.restart_with_config('[daemon]\nconfinement=off\n')

    def test_confined_start_serves_a_socket_path(self):
        self.daemon.restart_with_config(None)
        d = os.path.join(self.fx.tmp, 'vnc-confined')
        os.mkdir(d)
        sock = os.path.join(d, 'display.sock')
        path = self.define(minimal_domain_xml(
            'oc', extra_devices="<graphics type='vnc'><listen type='socket' socket='%s'/></graphics>" % sock))
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        c = socket.socket(socket.AF_UNIX)
        self.addCleanup(c.close)
        c.settimeout(60)
        c.connect(sock)
        rfb = RFB(c.detach())
        self.addCleanup(rfb.close)
        self.assertEqual(rfb.handshake()[:2], png_decode(self.screenshot(path))[:2])

    def test_socket_taken_over_by_another_process(self):
        # a process that took over the socket path from the XML changes
        # nothing for OpenGraphics: it reaches the domain's own qemu
        d = os.path.join(self.fx.tmp, 'vnc')
        os.mkdir(d)
        sock = os.path.join(d, 'display.sock')
        path = self.define(minimal_domain_xml(
            'o', extra_devices="<graphics type='vnc'><listen type='socket' socket='%s'/></graphics>" % sock))
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        os.unlink(sock)
        impostor = socket.socket(socket.AF_UNIX)
        self.addCleanup(impostor.close)
        impostor.bind(sock)
        impostor.listen(4)
        before = self.daemon.fd_count()
        rfb = RFB(self.open_graphics(path))
        try:
            self.assertEqual(rfb.handshake()[:2], png_decode(self.screenshot(path))[:2])
        finally:
            rfb.close()
        self.fds_back_to(before)


class DaemonRestart(DisplayTestCase):
    def test_leftover_screendumps_of_running_domains_go(self):
        # a daemon that died during a Screenshot left its temporary behind;
        # the domain still runs, and the next vmgmtd removes the file at once
        path = self.define(minimal_domain_xml('r', extra_devices=VNC))
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        uuid = self.client.prop(path, 'UUID')
        self.daemon.stop()
        stale = os.path.join(self.daemon.run_dir, '%s.screendump.Xy12Zq' % uuid)
        with open(stale, 'wb') as f:
            f.write(b'\x89PNG half')
        self.daemon.start()
        self.client.wait_state(path, 'paused')
        self.assertFalse(os.path.exists(stale), 'a leftover screendump stayed in the run dir')
        self.no_temp_files()
        png_decode(self.screenshot(path))


if __name__ == '__main__':
    main()
