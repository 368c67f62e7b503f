# Serial consoles with the booted busybox guest (tools/build-guest):
#  - OpenConsole: type a command, read its output through the fd; one holder
#    per device (a second open is Busy), force takes over (the first holder
#    reads EOF), unknown devices and stopped domains are refused, no fd leaks;
#  - the console log qemu writes itself holds the boot messages, also when
#    vmgmtd is killed in the middle of the boot and started again;
#  - rotation of the console and qemu logs by size, keeping N old files;
#  - `vmgmtctl console` on a pty: banner, I/O, Ctrl+] restores the terminal;
#    also `vmgmtctl -H root@127.0.0.1:PORT console` through a real sshd
#    (Domain.OpenConsoleStream's socket, forwarded by ssh).
#  - log file names: a name whose qemu log would be another domain's console
#    log (X-console while X exists, and the other way) is refused.
#  - the log files are created 0600 (qemu would create the chardev logs 0666);
#  - serial0, serial1 and a virtio console each open by name with a shell of
#    their own behind, and each has its own log with what the guest wrote there;
#  - rotation loses nothing: a numbered sequence is contiguous across the files.

import contextlib
import errno
import fcntl
import os
import pty
import select
import re
import signal
import stat
import subprocess
import sys
import termios
import threading
import time

import dbus

# the far host of `vmgmtctl -H`: a real sshd in a mount namespace of its own (tests/remote)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'remote'))
from remote_harness import SshHost  # noqa: E402
from vmgmt_harness import (ERR_ALREADY_EXISTS, ERR_BUSY, ERR_INVALID_ARGS, ERR_INVALID_STATE, GUEST_READY, VMGMTCTL,
                           VmgmtTestCase, _child_env, guest_domain_xml, guest_image, main,
                           minimal_domain_xml, opts, read_until)

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly
# a bound on every wait for something the test is sure to see: it only keeps a
# hang from lasting for ever (the machine may be loaded: no wait is a timing check)
WAIT = 120


def verbose_guest_xml(name):
    """The test guest without `quiet`: the kernel prints its boot messages."""
    return guest_domain_xml(name).replace(' quiet', ' loglevel=7')


def wait_eof(fd, timeout=WAIT):
    """True when fd reads EOF within timeout (data before it is skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                if not os.read(fd, 65536):
                    return True
            except OSError as e:
                if e.errno in (errno.EIO, errno.ECONNRESET):
                    return True
                raise
    return False


def shell(fd, tag, timeout=WAIT):
    """Runs `echo TAG-$((1000+234))` on the guest's shell through fd and waits for
    its output (TAG-1234 appears only in the output, never in the echoed input)."""
    os.write(fd, ('echo %s-$((1000+234))\n' % tag).encode())
    return read_until(fd, ('%s-1234' % tag).encode(), timeout)


def read_file(path):
    with open(path, 'rb') as f:
        return f.read()


def wait_file_contains(path, text, timeout=BOOT_TIMEOUT):
    deadline = time.monotonic() + timeout
    data = b''
    while time.monotonic() < deadline:
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except FileNotFoundError:
            data = b''
        if text.encode() in data:
            return data
        time.sleep(0.2)
    raise AssertionError('%s: %r not seen within %.0fs; tail:\n%s'
                         % (path, text, timeout, data[-2000:].decode('utf-8', 'replace')))


class ConsoleBase(VmgmtTestCase):
    @classmethod
    def setUpClass(cls):
        guest_image()
        super().setUpClass()

    def open_console(self, path, device='', **options):
        fd = self.dom(path).OpenConsole(device, opts(**options))
        n = fd.take()
        self.addCleanup(self._close_quietly, n)
        return n

    @staticmethod
    def _close_quietly(fd):
        try:
            os.close(fd)
        except OSError:
            pass

    def console_log(self, name):
        return os.path.join(self.daemon.log_dir, name + '-console.log')

    def assertPrivate(self, path):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode, 0o600, '%s has mode %o' % (path, mode))

    def boot(self, name, xml=None):
        path = self.define(xml or guest_domain_xml(name))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        wait_file_contains(self.console_log(name), GUEST_READY)
        return path


class OpenConsole(ConsoleBase):
    def test_io_one_holder_force_and_errors(self):
        name = 'con1'
        path = self.boot(name)
        # the log qemu writes has what the guest printed before anyone attached
        self.assertIn(GUEST_READY.encode(), read_file(self.console_log(name)))
        # …and only root reads it (vmgmtd runs with umask 0: qemu would make it 0666)
        self.assertPrivate(self.console_log(name))
        self.assertPrivate(os.path.join(self.daemon.log_dir, name + '.log'))

        fds_before = self.daemon.fd_count()
        fd1 = self.open_console(path)
        shell(fd1, 'first')

        # one holder per device, by any of its names
        for dev in ('', 'serial0', 'console0'):
            msg = self.assertDBusError(ERR_BUSY, self.dom(path).OpenConsole, dev, opts())
            self.assertIn('force', msg)
        # unknown devices
        for dev in ('serial1', 'console7', 'channel0', 'bogus', 'serial', 'serial-1'):
            msg = self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).OpenConsole, dev, opts())
            self.assertIn(dev, msg)
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).OpenConsole, '',
                             opts(force=dbus.String('yes')))
        self.assertDBusError(ERR_INVALID_ARGS, self.dom(path).OpenConsole, '', opts(bogus=True))
        # the first session still works after all that
        shell(fd1, 'still')

        # force: the first holder reads EOF (though it holds its own fd), the second works
        fd2 = self.open_console(path, 'console0', force=True)
        self.assertTrue(wait_eof(fd1), 'the first holder did not get EOF after a forced takeover')
        shell(fd2, 'second')
        os.close(fd1)

        # closing releases the device: a plain open works again
        os.close(fd2)
        deadline = time.monotonic() + WAIT
        while True:
            try:
                fd3 = self.open_console(path, 'serial0')
                break
            except dbus.DBusException as e:
                if e.get_dbus_name() != ERR_BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        shell(fd3, 'third')
        os.close(fd3)
        deadline = time.monotonic() + WAIT
        while self.daemon.fd_count() > fds_before and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertLessEqual(self.daemon.fd_count(), fds_before, 'vmgmtd leaks fds')

        # an unprivileged caller is checked with polkit (not running here: denied)
        os.chmod(self.fx.tmp, 0o755)
        r = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'busctl',
                            '--address=' + self.fx.bus.address, 'call', 'org.vmgmt', path, 'org.vmgmt.Domain',
                            'OpenConsole', 'sa{sv}', '', '0'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b'ccess denied', r.stderr)
        self.assertRegex(self.daemon.log_text(), r'Authorization of org\.vmgmt\.Domain\.OpenConsole .* refused')

        # the domain going away ends the session with EOF
        fd4 = self.open_console(path)
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.assertTrue(wait_eof(fd4), 'the holder did not get EOF when the domain stopped')
        self.assertDBusError(ERR_INVALID_STATE, self.dom(path).OpenConsole, '', opts())
        # the whole session is in the log too
        data = read_file(self.console_log(name))
        for tag in (b'first-1234', b'second-1234', b'third-1234'):
            self.assertIn(tag, data)

    def test_cli_console_on_a_pty(self):
        name = 'con2'
        path = self.boot(name)
        master, slave = pty.openpty()
        self.addCleanup(self._close_quietly, master)
        self.addCleanup(self._close_quietly, slave)
        before = termios.tcgetattr(slave)
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address, 'TERM': 'xterm'})

        @contextlib.contextmanager
        def spawn(*args, prefix=(), child_env=None):
            """vmgmtctl on the pty as its controlling terminal; killed if still there at the end."""
            p = subprocess.Popen(list(prefix) + [VMGMTCTL] + list(args), stdin=slave, stdout=slave, stderr=slave,
                                 env=child_env or env, start_new_session=True,
                                 preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
            try:
                yield p
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            self.assertEqual(termios.tcgetattr(slave), before, 'terminal not restored')

        with spawn('console', name) as p:
            out = read_until(master, b'Escape character is ^]')
            self.assertIn(("Connected to domain '%s'" % name).encode(), out)
            # raw mode while attached: no echo by the host's line discipline
            attrs = termios.tcgetattr(slave)
            self.assertFalse(attrs[3] & termios.ICANON)
            self.assertFalse(attrs[3] & termios.ECHO)
            shell(master, 'cli')

            # a second client is refused while the first is attached
            r = subprocess.run([VMGMTCTL, 'console', name], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b'force', r.stderr)

            # Ctrl+] leaves; the terminal is as it was (checked by spawn)
            os.write(master, b'\x1d')
            self.assertEqual(p.wait(WAIT), 0)

        # --force takes over from another holder, which reads EOF
        fd = self.open_console(path)
        with spawn('console', name, '--force') as p:
            read_until(master, b'Escape character is ^]')
            self.assertTrue(wait_eof(fd))
            shell(master, 'forced')
            # a signal also restores the terminal
            p.send_signal(signal.SIGTERM)
            p.wait(WAIT)

        # -H through a real OpenSSH server (see SshHost)
        host = SshHost(self.fx.tmp, self.fx.bus.socket)
        self.addCleanup(host.stop)
        remote_env = {k: v for k, v in env.items() if k != 'DBUS_SYSTEM_BUS_ADDRESS'}   # no local route
        with spawn('-H', 'root@127.0.0.1:%d' % host.port, 'console', name,
                   prefix=host.client_cmd(), child_env=remote_env) as p:
            out = read_until(master, b'Escape character is ^]')
            self.assertIn(("Connected to domain '%s'" % name).encode(), out)
            # raw here (ssh -t did it) and on the remote pty (the remote vmgmtctl)
            attrs = termios.tcgetattr(slave)
            self.assertFalse(attrs[3] & termios.ICANON)
            self.assertFalse(attrs[3] & termios.ECHO)
            shell(master, 'remote')
            os.write(master, b'\x1d')
            self.assertEqual(p.wait(WAIT), 0)
        # both hops went through sshd: the bus bridge that resolved the name and the console
        log = host.log_text()
        self.assertGreaterEqual(log.count('Accepted publickey for root from 127.0.0.1'), 2, log)
        wait_file_contains(self.console_log(name), 'remote-1234')
        # the name reaches the remote vmgmtctl as it is (quoted for the remote
        # shell), and the remote error and exit status come back
        odd = "it's $(odd) name; `x`"
        self.define(minimal_domain_xml(odd))
        r = subprocess.run(host.client_cmd() + [VMGMTCTL, '-H', 'root@127.0.0.1:%d' % host.port, 'console', odd],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=remote_env, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(("Domain '%s' is not running" % odd).encode(), r.stderr)

        # start --console: starts the domain and attaches
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        with spawn('start', name, '--console') as p:
            out = read_until(master, b'Escape character is ^]')
            self.assertIn(('Domain \'%s\' started' % name).encode(), out)
            read_until(master, GUEST_READY.encode(), BOOT_TIMEOUT)
            shell(master, 'started')
            os.write(master, b'\x1d')
            self.assertEqual(p.wait(WAIT), 0)


def multi_console_xml(name):
    """The test guest with a second serial port and a virtio console."""
    return guest_domain_xml(name).replace(
        "<memballoon", "<serial type='pty'><target port='1'/></serial>"
                       "<console type='pty'><target type='virtio' port='0'/></console><memballoon")


class MultiConsole(ConsoleBase):
    def test_each_device_its_own_shell_and_log(self):
        name = 'con6'
        path = self.boot(name, multi_console_xml(name))
        logs = {'serial0': self.console_log(name),
                'serial1': os.path.join(self.daemon.log_dir, name + '-serial1.log'),
                'console1': os.path.join(self.daemon.log_dir, name + '-console1.log')}
        # what the guest wrote to each device is in that device's log only
        wait_file_contains(logs['serial1'], 'vmgmt-guest ttyS1 ready')
        wait_file_contains(logs['console1'], 'vmgmt-guest hvc0 ready')
        self.assertNotIn(b'vmgmt-guest ttyS1', read_file(logs['serial0']))
        self.assertNotIn(b'vmgmt-guest hvc0', read_file(logs['serial0']))
        self.assertNotIn(GUEST_READY.encode() + b'\r', read_file(logs['serial1']))
        for log in logs.values():
            self.assertPrivate(log)
        # each opens by its name, all at once, each with its own shell: the
        # tty the shell answers on is that device
        fds = {dev: self.open_console(path, dev) for dev in logs}
        for dev, tty in (('serial0', b'/dev/ttyS0'), ('serial1', b'/dev/ttyS1'), ('console1', b'/dev/hvc0')):
            fd = fds[dev]
            os.write(fd, b'readlink /proc/$$/fd/0; echo %s-$((1000+234))\n' % dev.encode())
            out = read_until(fd, b'%s-1234' % dev.encode())
            self.assertIn(tty, out, '%s is not the shell on %s: %r' % (dev, tty, out[-300:]))
        # and each session went to its own log
        for dev, log in logs.items():
            data = wait_file_contains(log, '%s-1234' % dev)
            for other in logs:
                if other != dev:
                    self.assertNotIn(b'%s-1234' % other.encode(), data, '%s output in %s' % (other, log))


class CliPaste(ConsoleBase):
    def test_large_paste_while_the_guest_prints(self):
        """A paste bigger than every buffer on the way, typed while the guest is
        busy (sleep) and then prints a lot (seq): vmgmtctl keeps reading the
        guest's output while the guest does not take its input. A blocking
        write to the console would stop both directions for good: the guest
        waits for its output to be read, vmgmtctl for its input to be taken."""
        name = 'con7'
        self.boot(name)
        master, slave = pty.openpty()
        self.addCleanup(self._close_quietly, master)
        self.addCleanup(self._close_quietly, slave)
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address, 'TERM': 'xterm'})
        p = subprocess.Popen([VMGMTCTL, 'console', name], stdin=slave, stdout=slave, stderr=slave, env=env,
                             start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        self.addCleanup(lambda: (p.poll() is None and (p.kill(), p.wait())))
        read_until(master, b'Escape character is ^]')
        shell(master, 'before-paste')
        # no echo by the guest's tty while seq prints (the type-ahead stays out
        # of its output): the paste starts once stty ran (it says so)
        os.write(master, b'stty -echo; echo quiet-$((1000+234))\n')
        read_until(master, b'quiet-1234')
        command = b'sleep 3; echo seq-$((1000+234)); seq 1 100000; echo seqend-$((1000+234))'
        paste = b': %s\n' % (b'x' * 58) * 7000 + b'stty echo; echo pasted-$((1000+234))\n'   # 420K
        os.write(master, command + b'\n')
        done = []

        def writer():
            view = memoryview(paste)
            while view:
                n = os.write(master, view[:4096])
                view = view[n:]
            done.append(True)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        out = read_until(master, b'seqend-1234', 120)
        # all of seq's output came through: qemu drops what the guest prints
        # while nobody reads the console for long
        printed = out[out.index(b'seq-1234'):out.index(b'seqend-1234')]
        numbers = re.findall(rb'(?m)^(\d+)\r$', printed)
        self.assertEqual(len(numbers), 100000, 'seq output lost')
        self.assertEqual([int(n) for n in numbers], list(range(1, 100001)), 'seq output lost')
        read_until(master, b'pasted-1234', 300, out)
        t.join(WAIT)
        self.assertTrue(done, 'the paste was not taken')
        os.write(master, b'\x1d')
        self.assertEqual(p.wait(WAIT), 0)


class ConsoleLogRestart(ConsoleBase):
    def test_log_survives_vmgmtd_restart_mid_boot(self):
        name = 'con3'
        path = self.define(verbose_guest_xml(name))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        log = self.console_log(name)
        # kill vmgmtd while the kernel is still booting
        wait_file_contains(log, 'Linux version')
        con = self.fx.console(path)   # the pty itself: vmgmtd is not needed to type into it
        self.daemon.kill()
        # qemu goes on writing the log alone: the rest of the boot and what
        # the guest prints afterwards get there while vmgmtd is down
        wait_file_contains(log, GUEST_READY)
        con.send('echo while-down-$((1000+234))')
        wait_file_contains(log, 'while-down-1234')
        con.close()
        self.daemon.start()
        self.client.wait_state(path, 'running')
        data = read_file(log)
        self.assertIn(b'Linux version', data)
        self.assertIn(b'Command line:', data)
        # the recovered domain's console opens and works
        fd = self.open_console(path)
        shell(fd, 'after-restart')
        wait_file_contains(log, 'after-restart-1234')   # qemu logs what it wrote just after writing it


class LogRotation(ConsoleBase):
    daemon_args = None

    def setUp(self):
        # a config with tiny limits and a fast check, before the daemon starts
        self.conf = os.path.join('/tmp', 'vmgmt-con-rot-%d.conf' % os.getpid())
        with open(self.conf, 'w') as f:
            f.write('[log]\nconsole_max_size=8K\nconsole_keep=2\nqemu_max_size=1K\nqemu_keep=1\n'
                    'rotate_interval_sec=0.3\n')
        self.addCleanup(os.unlink, self.conf)
        type(self).daemon_args = ['--config', self.conf]
        super().setUp()

    def wait_rotated(self, log, max_size=8192):
        """Waits until the rotation caught up with what the guest wrote: the live
        log under console_max_size, no round half done (FILE.1.tmp not yet FILE.1)."""
        deadline = time.monotonic() + WAIT
        while os.path.getsize(log) >= max_size or os.path.exists(log + '.1.tmp'):
            if time.monotonic() > deadline:
                raise AssertionError('%s not rotated: %d bytes, %s' % (log, os.path.getsize(log),
                                                                      sorted(os.listdir(os.path.dirname(log)))))
            time.sleep(0.1)

    def test_rotation_by_size_keeps_n_files(self):
        name = 'con4'
        path = self.define(verbose_guest_xml(name))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        log = self.console_log(name)
        qlog = os.path.join(self.daemon.log_dir, name + '.log')
        # the boot messages alone are more than 8K: rotated while the guest boots
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not os.path.exists(log + '.1') and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertTrue(os.path.exists(log + '.1'), 'console log not rotated: %s' % os.listdir(self.daemon.log_dir))
        # the shell is there once the guest said so (in whichever file that went)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            text = b''.join(read_file(f) for f in (log + '.2', log + '.1', log) if os.path.exists(f))
            if GUEST_READY.encode() in text:
                break
            time.sleep(0.2)
        self.assertIn(GUEST_READY.encode(), text)
        # qemu's own log rotated too, one kept: more than a block (live rotation
        # cuts whole blocks) of lines appended the way qemu writes its stderr
        marker = b''.join(b'qemu-log-line-%05d\n' % i for i in range(600))
        with open(qlog, 'ab') as f:
            f.write(marker)
        deadline = time.monotonic() + WAIT
        while not os.path.exists(qlog + '.1') and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(os.path.exists(qlog + '.1'))
        self.assertEqual((read_file(qlog + '.1') + read_file(qlog)).count(marker), 1)
        fd = self.open_console(path)
        # more output: every round rotates, never more than 2 old files
        for i in range(6):
            os.write(fd, b'dmesg | head -c 6000; echo round-$((100+%d))\n' % i)
            read_until(fd, b'round-%d' % (100 + i))
        self.wait_rotated(log)
        files = sorted(f for f in os.listdir(self.daemon.log_dir) if f.startswith(name + '-console.log'))
        self.assertEqual(files, [name + '-console.log', name + '-console.log.1', name + '-console.log.2'])
        self.assertFalse(os.path.exists(qlog + '.2'))
        # nothing lost at the cuts: a numbered sequence, rotated many times while
        # it is written, is contiguous (no gap, no repeat) across .2, .1 and the file
        os.write(fd, b'seq 1 20000; echo seq-$((1000+234))\n')
        read_until(fd, b'seq-1234', 180)
        self.wait_rotated(log)   # no file moves while they are read
        text = read_file(log + '.2') + read_file(log + '.1') + read_file(log)
        lines = text.split(b'\n')
        end = next(i for i in range(len(lines) - 1, -1, -1) if lines[i].strip() == b'20000')
        start = end
        while start > 0 and re.fullmatch(rb'\d+', lines[start - 1].strip()):
            start -= 1
        start += 1   # the first line may be the tail of a number cut off with a dropped file
        nums = [int(x) for x in lines[start:end + 1]]
        self.assertGreater(len(nums), 1000, 'too little of the sequence kept to span a cut')
        self.assertEqual(nums, list(range(nums[0], 20001)), 'output lost or repeated between rotated files')

    def test_start_rotates_what_the_last_run_left(self):
        # no periodic check in the way: only the start rotates
        self.daemon.stop()
        with open(self.conf, 'w') as f:
            f.write('[log]\nconsole_max_size=8K\nconsole_keep=2\nqemu_max_size=1K\nqemu_keep=1\n'
                    'rotate_interval_sec=3600\n')
        self.daemon.start()
        name = 'con5'
        path = self.define(guest_domain_xml(name))
        log = self.console_log(name)
        qlog = os.path.join(self.daemon.log_dir, name + '.log')
        os.makedirs(self.daemon.log_dir, exist_ok=True)
        for p, content in ((qlog, b'x' * 2048), (log, b'y' * 9000), (log + '.1', b'old1'), (log + '.2', b'old2')):
            with open(p, 'wb') as f:
                f.write(content)
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        self.assertEqual(read_file(qlog + '.1'), b'x' * 2048)
        self.assertNotIn(b'xxxx', read_file(qlog))
        self.assertIn(b'starting up', read_file(qlog))
        self.assertEqual(read_file(log + '.1'), b'y' * 9000)
        self.assertEqual(read_file(log + '.2'), b'old1')
        self.assertFalse(os.path.exists(log + '.3'))
        self.assertNotIn(b'yyyy', read_file(log))

    def test_bad_log_config_is_refused(self):
        self.daemon.stop()
        for bad in ('console_max_size=lots', 'console_keep=-1', 'rotate_interval_sec=0', 'bogus_key=1'):
            with open(self.conf, 'w') as f:
                f.write('[log]\n%s\n' % bad)
            r = subprocess.run([os.environ.get('VMGMTD', ''), '--system', '--root', self.daemon.root,
                                '--config', self.conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=_child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address}), timeout=20)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn(bad.split('=')[0].encode(), r.stdout, bad)


class LogNames(VmgmtTestCase):
    """The logs of all domains share one directory and are named after them
    (NAME.log, NAME-console.log, NAME-serialN.log, NAME-consoleN.log): a name
    whose qemu log would be a console log of another domain is refused, in
    both orders, by DefineDomain, CreateDomain and Rename, changing nothing."""

    def refused(self, fn, name, other, *args):
        msg = self.assertDBusError(ERR_ALREADY_EXISTS, fn, *args)
        self.assertIn("'%s'" % other, msg)
        self.assertIn(os.path.join(self.daemon.log_dir, max(name, other, key=len) + '.log'), msg)

    def test_clashing_names_are_refused(self):
        m = self.manager
        self.define(minimal_domain_xml('web'))
        before = self.fx.snapshot()
        for name in ('web-console', 'web-serial1', 'web-serial12', 'web-console0', 'web-console3', 'web-swtpm'):
            self.refused(m.DefineDomain, name, 'web', minimal_domain_xml(name), opts())
            self.refused(m.CreateDomain, name, 'web', minimal_domain_xml(name), opts())
        self.assertUnchanged(before)
        # names whose files stay apart from web's
        for name in ('web-consoles', 'web-serial', 'web-serial0', 'web-console01', 'web-serial1x',
                     'webconsole', 'web-x-console', 'Web-console'):
            self.define(minimal_domain_xml(name))
        # the other order: db-serial2's qemu log is db's second serial log
        self.define(minimal_domain_xml('db-serial2'))
        self.refused(m.DefineDomain, 'db', 'db-serial2', minimal_domain_xml('db'), opts())
        # a redefinition of either is no new name
        self.define(minimal_domain_xml('db-serial2', memory_mib=96))
        self.define(minimal_domain_xml('web', memory_mib=96))
        # Rename: into a clash is refused and leaves the domain as it was
        other = self.define(minimal_domain_xml('other'))
        self.refused(self.dom(other).Rename, 'web-console', 'web', 'web-console', opts())
        self.refused(self.dom(other).Rename, 'db', 'db-serial2', 'db', opts())
        self.assertEqual(self.client.prop(other, 'Name'), 'other')
        # …but a domain may take a name that only clashed with its own old one
        self.client.domain('web').Rename('web-console', opts())
        names = {str(self.client.prop(p, 'Name')) for p in self.client.list_domains()}
        self.assertIn('web-console', names)
        self.assertNotIn('web', names)
        self.refused(m.DefineDomain, 'web', 'web-console', minimal_domain_xml('web'), opts())


if __name__ == '__main__':
    main()
