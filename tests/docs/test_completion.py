# The shell completion of vmgmtctl in a real bash (and zsh, when installed)
# against a real vmgmtd on a private bus: completion/vmgmtctl.bash is sourced
# and _vmgmtctl driven with COMP_WORDS/COMP_CWORD/COMP_LINE as bash's
# readline sets them (the line split at COMP_WORDBREAKS: --pool=x is three
# words, qemu:///system three). Command prefixes and every option of every
# command (as `vmgmtctl help COMMAND` lists them, so a new command or flag
# cannot be missing), option values named in the usage (--format raw|qcow2)
# or in --help (--json's modes, --connect's URIs), the domains after `start `,
# the networks after `net-start `, the pools after `vol-list `, the volumes
# after `vol-info --pool default ` (also as --pool=default), a domain's disks
# after `blockjob DOMAIN `, its snapshots after `snapshot-revert DOMAIN `,
# files for FILE and DEST, directories for DIR, the commands after `help `
# only; with no vmgmtd on the bus the names are quietly nothing and the
# commands and options still complete. A real interactive bash on a pty
# (readline, TAB, then Enter runs the completed line), and the same in zsh
# (_vmgmtctl driven with compadd and _files recorded, and in a real zsh with
# compinit on a pty). `meson install` puts both where the shells look.
#
# Run: /usr/bin/python3 tests/docs/test_completion.py

import fcntl
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import termios
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'integration'))

from vmgmt_harness import (DEFAULT_TIMEOUT, SOURCE_ROOT, VMGMTCTL, VmgmtTestCase, _child_env, main,  # noqa: E402
                           minimal_domain_xml, run_vmgmtctl)

from docs_install import meson_install  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'console'))
from test_console import SshHost  # noqa: E402

QEMU_IMG = shutil.which('qemu-img') or '/usr/bin/qemu-img'
BASH_COMPLETION = os.path.join(SOURCE_ROOT, 'completion', 'vmgmtctl.bash')
ZSH_COMPLETION = os.path.join(SOURCE_ROOT, 'completion', '_vmgmtctl')

BASH_DRIVER = r'''
source "$COMPLETION" || exit 3
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_POINT=${#COMP_LINE}
_vmgmtctl
printf '%s\n' "${COMPREPLY[@]}"
'''
# bash's default; the line is split as readline splits it for completion
WORDBREAKS = ' \t\n"\'@><=;|&(:'


def _own_terminal():
    """In the child: a session of its own with the pty on stdin as its controlling
    terminal (what ssh opens as /dev/tty to ask)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def readline_words(line):
    """The line's words as bash's completion sees them: split at blanks, and
    each run of the other COMP_WORDBREAKS characters a word of its own."""
    words = re.findall(r'[^\s"\'@><=;|&(:]+|["\'@><=;|&(:]+', line)
    if line[-1:].isspace() or not line:
        words.append('')
    return words

# zsh: the completion function with the builtins it calls recorded
# (outside a completion widget there is no compadd); words/CURRENT as zsh sets them
ZSH_DRIVER = r'''
compadd() {
    local -a words_
    local i=1 a
    while (( i <= $# )); do
        a=${@[i]}
        case $a in
            -[PSpsJVXxdlMrRFWoEI]) (( i += 2 )); continue ;;
            -a) eval "words_+=(\"\${${@[i+1]}[@]}\")"; (( i += 2 )); continue ;;
            --) words_+=("${@[i+1,-1]}"); break ;;
            -*) (( i += 1 )); continue ;;
            *) words_+=("$a") ;;
        esac
        (( i += 1 ))
    done
    print -rl -- "${words_[@]}"
}
_files() { if [[ $1 == -/ ]]; then print -r -- '<dirs>'; else print -r -- '<files>'; fi; }
_message() { :; }
compset() { :; }
_describe() { local -a d; d=("${(@P)2}"); print -rl -- "${d[@]%%:*}"; }
source "$COMPLETION" || exit 3
words=("$@")
CURRENT=${#words}
PREFIX=${words[CURRENT]}
_vmgmtctl
'''


def names(text):
    return [ln for ln in text.splitlines() if ln]


class Completion(VmgmtTestCase):
    shared_daemon = True

    @classmethod
    def setUpClass(cls):
        if not os.access(QEMU_IMG, os.X_OK):
            raise unittest.SkipTest('needs %s (missing: qemu-img, qemu-utils)' % QEMU_IMG)
        super().setUpClass()
        fx = cls._class_fx
        bus = fx.bus

        def ok(*args):
            r = run_vmgmtctl(bus, *args)
            if r.returncode != 0:
                raise AssertionError('vmgmtctl %s: %s' % (' '.join(args), r.stderr))
            return r.stdout

        # alpha has two qcow2 disks and two (offline, internal) snapshots; beta neither
        disks = ''
        for target in ('vda', 'vdb'):
            img = os.path.join(fx.tmp, 'alpha-%s.qcow2' % target)
            subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', img, '16M'], check=True,
                           timeout=DEFAULT_TIMEOUT)
            disks += ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                      "<target dev='%s' bus='virtio'/></disk>" % (img, target))
        for name, devices in (('alpha', disks), ('beta', '')):
            f = os.path.join(fx.tmp, name + '.xml')
            with open(f, 'w') as fh:
                fh.write(minimal_domain_xml(name, extra_devices=devices))
            ok('define', f)
        ok('snapshot-create-as', 'alpha', 'first')
        ok('snapshot-create-as', 'alpha', 'second')
        net = os.path.join(fx.tmp, 'isonet.xml')
        with open(net, 'w') as fh:
            fh.write("<network><name>isonet</name><bridge name='vmgcmp0'/></network>\n")
        ok('net-define', net)
        ok('vol-create-as', 'default', 'disk1.qcow2', '1M', '--format', 'qcow2')
        ok('vol-create-as', 'default', 'disk2.raw', '1M', '--format', 'raw')
        # a second pool: --pool must pick the pool's volumes, not every pool's
        ok('pool-define-as', 'other', 'dir', '--target', os.path.join(fx.tmp, 'other-pool'))
        ok('pool-build', 'other')
        ok('pool-start', 'other')
        ok('vol-create-as', 'other', 'only-other.raw', '1M', '--format', 'raw')
        cls.ok = staticmethod(ok)
        cls.help = ok('--help')
        cls.verbs = re.findall(r'^  ([a-z][a-z0-9-]*)', cls.help.split('Commands:\n')[1].split('\n\n')[0], re.M)

    def bash(self, *words, bus=None, cwd=None, prefix=()):
        """What the last word of the line `vmgmtctl WORDS...` (cursor at its end) may become:
        readline puts each of COMPREPLY in place of what follows the word's last
        COMP_WORDBREAKS character (after --pool=, after qemu:)."""
        line = ' '.join([VMGMTCTL] + list(words))
        rl = readline_words(line)
        last = words[-1] if words else ''
        keep = last[:max(last.rfind(c) for c in WORDBREAKS.strip()) + 1]
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': bus or self.fx.bus.address, 'COMPLETION': BASH_COMPLETION,
                          'COMP_LINE': line})
        r = subprocess.run(list(prefix) + ['bash', '--norc', '--noprofile', '-c', BASH_DRIVER, 'bash'] + rl, cwd=cwd,
                           capture_output=True, text=True, env=env, timeout=2 * DEFAULT_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, '', 'the completion wrote to stderr')
        return [keep + w for w in names(r.stdout)]

    def test_command_prefix(self):
        self.assertEqual(self.bash('net-st'), ['net-start'])
        self.assertEqual(sorted(self.bash('')), sorted(self.verbs))
        self.assertEqual(self.bash('vol-'), [v for v in self.verbs if v.startswith('vol-')])
        # the command after help, and global options before the command
        self.assertEqual(self.bash('help', 'dom'), [v for v in self.verbs if v.startswith('dom')])
        self.assertIn('--connect', self.bash('--con'))
        self.assertEqual(sorted(self.bash('-c', 'qemu:///s')), ['qemu:///session', 'qemu:///system'])
        self.assertEqual(self.bash('--json=p'), ['--json=pretty'])

    def test_every_option_of_every_command(self):
        for verb in self.verbs:
            with self.subTest(verb=verb):
                options = re.findall(r'^  (--[a-z0-9-]+)', self.ok('help', verb), re.M)
                got = self.bash(verb, '--')
                for o in options:
                    self.assertIn(o, got)
                self.assertIn('--json', got)   # and the global ones
        self.assertEqual(self.bash('start', 'alpha', '--p'), ['--paused'])

    def test_option_values(self):
        self.assertEqual(self.bash('vol-create-as', 'default', 'x', '1G', '--format', ''), ['raw', 'qcow2'])
        self.assertEqual(self.bash('shutdown', 'alpha', '--mode', ''), ['acpi'])

    def test_domains(self):
        self.assertEqual(sorted(self.bash('start', '')), ['alpha', 'beta'])
        self.assertEqual(self.bash('start', 'al'), ['alpha'])
        self.assertEqual(self.bash('dominfo', 'b'), ['beta'])
        # after the domain, start has no more arguments
        self.assertEqual(self.bash('start', 'alpha', ''), [])
        self.assertEqual(sorted(self.bash('event', '--domain', '')), ['alpha', 'beta'])
        self.assertEqual(sorted(self.bash('clone', '--original', '')), ['alpha', 'beta'])
        self.assertEqual(sorted(self.bash('clone', '--original', 'alpha', '--pool', '')), ['default', 'other'])
        self.assertIn('--auto-clone', self.bash('clone', '--original', 'alpha', '--'))

    def test_networks(self):
        self.assertEqual(self.bash('net-start', ''), ['isonet'])
        self.assertEqual(self.bash('net-info', 'iso'), ['isonet'])

    def test_pools_and_volumes(self):
        self.assertEqual(sorted(self.bash('vol-list', '')), ['default', 'other'])
        self.assertEqual(sorted(self.bash('vol-info', '--pool', 'default', '')), ['disk1.qcow2', 'disk2.raw'])
        self.assertEqual(self.bash('vol-info', '--pool', 'other', ''), ['only-other.raw'])
        self.assertEqual(self.bash('vol-info', '--pool=other', ''), ['only-other.raw'])
        self.assertEqual(self.bash('vol-clone', 'only-other.raw', 'copy', '--newpool', ''), ['default', 'other'])
        self.assertEqual(self.bash('vol-info', '--pool', 'default', 'disk1'), ['disk1.qcow2'])
        # bash splits --pool=default into --pool, =, default
        self.assertEqual(sorted(self.bash('vol-info', '--pool', '=', 'default', '')), ['disk1.qcow2', 'disk2.raw'])
        self.assertEqual(self.bash('vol-info', '--pool', '=', 'de'), ['default'])
        # without a pool: the volumes of every pool
        self.assertEqual(sorted(self.bash('vol-delete', '')), ['disk1.qcow2', 'disk2.raw', 'only-other.raw'])

    def test_files(self):
        d = os.path.join(self.fx.tmp, 'files')
        os.makedirs(d, exist_ok=True)
        for n in ('guest-a.xml', 'guest-b.xml', 'other.txt'):
            open(os.path.join(d, n), 'w').close()
        self.assertEqual(sorted(self.bash('define', os.path.join(d, 'guest'))),
                         [os.path.join(d, 'guest-a.xml'), os.path.join(d, 'guest-b.xml')])

    def test_snapshots(self):
        self.assertEqual(sorted(names(self.ok('snapshot-list', 'alpha', '--name'))), ['first', 'second'])
        for verb in ('snapshot-revert', 'snapshot-delete', 'snapshot-dumpxml', 'snapshot-info'):
            with self.subTest(verb=verb):
                self.assertEqual(sorted(self.bash(verb, 'alpha', '')), ['first', 'second'])
                self.assertEqual(self.bash(verb, 'alpha', 'f'), ['first'])
                # the snapshots of the domain on the line, not of another
                self.assertEqual(self.bash(verb, 'beta', ''), [])
        self.assertEqual(sorted(self.bash('snapshot-list', '')), ['alpha', 'beta'])

    def test_disks(self):
        for verb in ('blockjob', 'blockpull', 'blockcommit', 'blockresize', 'blockcopy'):
            with self.subTest(verb=verb):
                self.assertEqual(sorted(self.bash(verb, 'alpha', '')), ['vda', 'vdb'])
                self.assertEqual(self.bash(verb, 'alpha', 'vdb'), ['vdb'])
                self.assertEqual(self.bash(verb, 'beta', ''), [])
        # blockcopy's DEST is a file name, pool-define-as's --target DIR a directory
        d = os.path.join(self.fx.tmp, 'dest')
        os.makedirs(os.path.join(d, 'subdir'), exist_ok=True)
        open(os.path.join(d, 'copy.qcow2'), 'w').close()
        self.assertEqual(sorted(self.bash('blockcopy', 'alpha', 'vda', d + '/')),
                         [d + '/copy.qcow2', d + '/subdir'])
        self.assertEqual(self.bash('pool-define-as', 'p', 'dir', '--target', d + '/'), [d + '/subdir'])

    def test_command_arguments(self):
        # help's COMMAND is a vmgmtctl command; net-update's COMMAND is not
        self.assertEqual(self.bash('help', 'net-up'), ['net-update'])
        self.assertEqual(self.bash('net-update', 'isonet', 'net-'), [])

    def test_global_option_values(self):
        # --json's modes and --connect's URIs as vmgmtctl --help names them
        self.assertEqual(sorted(self.bash('--json', '=', '')), ['off', 'pretty', 'short'])
        self.assertEqual(sorted(self.bash('--json=')), ['--json=off', '--json=pretty', '--json=short'])
        self.assertEqual(sorted(self.bash('-c', '')), ['qemu+ssh://', 'qemu+unix:///system', 'qemu:///session', 'qemu:///system', 'vmgmt+ssh://'])
        self.assertEqual(self.bash('--connect=qemu:///sy'), ['--connect=qemu:///system'])
        # the URI is one word for the command after it (readline split it at ':')
        self.assertEqual(self.bash('-c', 'qemu:///system', 'net-start', ''), ['isonet'])
        self.assertEqual(self.bash('-H', ''), [])

    def test_working_directory_with_one_letter_files(self):
        """The usages' [COMMAND], [FILE], [FILTER...] are words, not patterns matching files here."""
        d = os.path.join(self.fx.tmp, 'letters')
        os.makedirs(d, exist_ok=True)
        for n in ('C', 'F', 'I', 'p', '-'):
            open(os.path.join(d, n), 'w').close()
        self.assertEqual(self.bash('help', 'net-up', cwd=d), ['net-update'])
        self.assertEqual(sorted(self.bash('snapshot-create', 'alpha', '', cwd=d)), ['-', 'C', 'F', 'I', 'p'])
        self.assertEqual(self.bash('list', '--na', cwd=d), ['--name'])
        self.assertEqual(self.bash('start', 'alpha', '--p', cwd=d), ['--paused'])

    def test_no_service(self):
        """No vmgmtd (no bus at all): commands and options complete, names are quietly nothing."""
        gone = 'unix:path=' + os.path.join(self.fx.tmp, 'no-such-bus')
        self.assertEqual(self.bash('net-st', bus=gone), ['net-start'])
        self.assertIn('--paused', self.bash('start', 'x', '--', bus=gone))
        for words in (('start', ''), ('net-start', ''), ('vol-list', ''), ('vol-delete', ''),
                      ('blockjob', 'alpha', ''), ('snapshot-revert', 'alpha', '')):
            with self.subTest(words=words):
                self.assertEqual(self.bash(*words, bus=gone), [])

    def pty_bash(self, env, prefix=()):
        """A real interactive bash on a pty with the completion sourced (run under prefix):
        (write(text), until(pattern, what)); until reads until pattern shows (the deadline
        only bounds a hang) and keeps what follows the match for the next call."""
        master, slave = os.openpty()
        p = subprocess.Popen(list(prefix) + ['bash', '--norc', '--noprofile', '-i'], stdin=slave, stdout=slave,
                             stderr=slave, env=dict(env, TERM='dumb', INPUTRC='/dev/null'), preexec_fn=_own_terminal)
        os.close(slave)
        self.addCleanup(os.close, master)
        self.addCleanup(p.wait, DEFAULT_TIMEOUT)
        self.addCleanup(p.kill)
        seen = []

        def until(pattern, what):
            deadline = time.monotonic() + 2 * DEFAULT_TIMEOUT
            while True:
                m = re.search(pattern, ''.join(seen))
                if m:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    self.fail('%s: %r not seen in %r' % (what, pattern, ''.join(seen)[-2000:]))
                if select.select([master], [], [], left)[0]:
                    try:
                        seen.append(os.read(master, 4096).decode('utf-8', 'replace'))
                    except OSError:
                        self.fail('%s: bash exited: %r' % (what, ''.join(seen)[-2000:]))
            out = ''.join(seen)
            seen[:] = [out[m.end():]]
            return out[:m.end()]

        def write(text):
            os.write(master, text.encode())

        write("PS1='ready> '; source %s; echo sourced-$?\n" % shlex.quote(BASH_COMPLETION))
        until(r'sourced-0\s', 'sourcing the completion')
        until(r'ready> ', 'the prompt')
        return write, until

    def test_bash_readline(self):
        """A real interactive bash on a pty: readline splits the line, TAB completes, Enter runs it."""
        write, until = self.pty_bash(_child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address}))
        for typed, expect in (
                (VMGMTCTL + ' net-st\t', r"Too few arguments for 'net-start'"),
                (VMGMTCTL + ' dominfo al\t', r'Name:\s+alpha'),
                # qemu:///sy is three words for readline, one for the completion
                (VMGMTCTL + ' -c qemu:///sy\tnet-info iso\t', r'Name:\s+isonet'),
                (VMGMTCTL + ' vol-info --pool=oth\tonly\t', r'Name:\s+only-other\.raw'),
                (VMGMTCTL + ' snapshot-info alpha sec\t', r'Name:\s+second')):
            with self.subTest(line=typed):
                write(typed + '\n')
                until(expect, 'the completed line ran')
                until(r'ready> ', 'the prompt after it')

    def test_bash_over_ssh(self):
        """-H USER@HOST on the line: the names come from that host's vmgmtd over a real sshd;
        where ssh would ask (a host key it does not know), it asks nothing and the
        completion offers nothing."""
        for prog in ('/usr/sbin/sshd', 'ssh', 'ssh-keygen', 'unshare'):
            if not shutil.which(prog):
                self.skipTest('%s is not installed (missing: %s)' % (prog, prog))
        host = SshHost(self.fx.tmp, self.fx.bus.socket)
        self.addCleanup(host.stop)
        remote = 'root@127.0.0.1:%d' % host.port
        # no local route to the bus: what completes came over ssh
        env = _child_env()
        self.assertEqual(sorted(self.bash('-H', remote, 'start', '', bus='unix:path=/nonexistent',
                                          prefix=host.client_cmd())), ['alpha', 'beta'])
        self.assertEqual(self.bash('-H', remote, 'snapshot-info', 'alpha', 's', bus='unix:path=/nonexistent',
                                   prefix=host.client_cmd()), ['second'])
        if shutil.which('zsh'):
            self.assertEqual(sorted(self.zsh('-H', remote, 'start', '', bus='unix:path=/nonexistent',
                                             prefix=host.client_cmd())), ['alpha', 'beta'])
        # in a real bash: readline splits root@127.0.0.1:PORT at '@' and ':'
        write, until = self.pty_bash(env, prefix=host.client_cmd())
        write('%s -H %s dominfo al\t\n' % (VMGMTCTL, remote))
        until(r'Name:\s+alpha', 'the completed line ran')
        # a client that has never seen this host and may be asked (no BatchMode): ssh
        # would ask on the terminal whether to trust its key; the completion must not
        asking = os.path.join(self.fx.tmp, 'asking-client')
        os.makedirs(os.path.join(asking, '.ssh'), mode=0o700, exist_ok=True)
        shutil.copy(os.path.join(host.client_home, '.ssh', 'id_ed25519'), os.path.join(asking, '.ssh'))
        with open(os.path.join(asking, '.ssh', 'config'), 'w') as f:
            f.write('Host 127.0.0.1\n    IdentityFile ~/.ssh/id_ed25519\n    UserKnownHostsFile ~/.ssh/known_hosts\n'
                    '    StrictHostKeyChecking ask\n')
        prefix = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
                  'mount --bind "$0" /root && exec "$@"', asking]
        write, until = self.pty_bash(env, prefix=prefix)
        write('%s -H %s start al\t' % (VMGMTCTL, remote))
        # Ctrl-U drops the line; the marker shows the completion came back
        write('\x15echo completion-$((40 + 2))\n')
        out = until(r'completion-42\s', 'the shell after the completion')
        self.assertNotIn('authenticity', out)
        self.assertNotIn('yes/no', out)
        self.assertFalse(os.path.exists(os.path.join(asking, '.ssh', 'known_hosts')), out)

    # ---- zsh

    def zsh(self, *words, bus=None, prefix=()):
        if not shutil.which('zsh'):
            self.skipTest('zsh is not installed (missing: zsh)')
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': bus or self.fx.bus.address, 'COMPLETION': ZSH_COMPLETION})
        r = subprocess.run(list(prefix) + ['zsh', '-f', '-c', ZSH_DRIVER, 'zsh', VMGMTCTL] + list(words),
                           capture_output=True, text=True, env=env, timeout=2 * DEFAULT_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, '', 'the completion wrote to stderr')
        # what zsh would offer for the word (after --opt=, which compset -P takes off)
        last = words[-1].split('=', 1)[1] if words[-1].startswith('--') and '=' in words[-1] else words[-1]
        return [w for w in names(r.stdout) if w.startswith(last) or w in ('<files>', '<dirs>')]

    def test_zsh(self):
        self.assertEqual(self.zsh('net-st'), ['net-start'])
        self.assertEqual(sorted(self.zsh('')), sorted(self.verbs))
        self.assertEqual(sorted(self.zsh('start', '')), ['alpha', 'beta'])
        self.assertIn('--paused', self.zsh('start', 'alpha', '--'))
        self.assertEqual(self.zsh('net-start', ''), ['isonet'])
        self.assertEqual(sorted(self.zsh('vol-info', '--pool', 'default', '')), ['disk1.qcow2', 'disk2.raw'])
        self.assertEqual(sorted(self.zsh('vol-info', '--pool=default', '')), ['disk1.qcow2', 'disk2.raw'])
        self.assertEqual(self.zsh('vol-info', '--pool', 'other', ''), ['only-other.raw'])
        self.assertEqual(self.zsh('define', ''), ['<files>'])
        self.assertEqual(self.zsh('blockcopy', 'alpha', 'vda', ''), ['<files>'])
        self.assertEqual(self.zsh('pool-define-as', 'p', 'dir', '--target', ''), ['<dirs>'])
        self.assertEqual(sorted(self.zsh('blockjob', 'alpha', '')), ['vda', 'vdb'])
        self.assertEqual(self.zsh('blockjob', 'beta', ''), [])
        self.assertEqual(sorted(self.zsh('snapshot-revert', 'alpha', '')), ['first', 'second'])
        self.assertEqual(self.zsh('snapshot-delete', 'beta', ''), [])
        self.assertEqual(self.zsh('help', 'net-up'), ['net-update'])
        self.assertEqual(self.zsh('net-update', 'isonet', ''), [])
        self.assertEqual(sorted(self.zsh('--json=')), ['off', 'pretty', 'short'])
        self.assertEqual(self.zsh('--connect=qemu:///sy'), ['qemu:///system'])
        self.assertEqual(sorted(self.zsh('-c', '')), ['qemu+ssh://', 'qemu+unix:///system', 'qemu:///session', 'qemu:///system', 'vmgmt+ssh://'])
        self.assertEqual(self.zsh('-c', 'qemu:///system', 'net-start', ''), ['isonet'])
        # no vmgmtd (no bus): commands and options still, names quietly nothing
        gone = 'unix:path=' + os.path.join(self.fx.tmp, 'no-such-bus')
        self.assertEqual(self.zsh('net-st', bus=gone), ['net-start'])
        self.assertIn('--paused', self.zsh('start', 'x', '--', bus=gone))
        for words in (('start', ''), ('net-start', ''), ('vol-delete', ''), ('blockjob', 'alpha', '')):
            self.assertEqual(self.zsh(*words, bus=gone), [], words)
        for verb in self.verbs:
            with self.subTest(verb=verb):
                options = re.findall(r'^  (--[a-z0-9-]+)', self.ok('help', verb), re.M)
                got = self.zsh(verb, '--')
                for o in options:
                    self.assertIn(o, got)

    def test_zsh_compsys(self):
        """A real interactive zsh with compinit: TAB completes the line, Enter runs it."""
        if not shutil.which('zsh'):
            self.skipTest('zsh is not installed (missing: zsh)')
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address, 'FPATH_DIR': os.path.dirname(ZSH_COMPLETION),
                          'VMGMTCTL': VMGMTCTL})
        try:
            r = subprocess.run(['zsh', '-f', '-c', ZSH_PTY], capture_output=True, env=env, timeout=2 * DEFAULT_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            self.fail('the completed lines did not run: %r' % (e.stdout or b'')[-2000:])
        out = r.stdout.decode('utf-8', 'replace')
        self.assertEqual(r.returncode, 0, out[-2000:] + r.stderr.decode('utf-8', 'replace'))
        # net-st<TAB> became net-start, dominfo al<TAB> became dominfo alpha
        self.assertIn("Too few arguments for 'net-start'", out)
        self.assertRegex(out, r'Name:\s+alpha')
        self.assertRegex(out, r'Name:\s+isonet')
        self.assertRegex(out, r'Name:\s+second')


class Install(unittest.TestCase):
    def test_installed_where_the_shells_look(self):
        dest, opts = meson_install(self, 'runtime')
        datadir = os.path.join(opts['prefix'], opts['datadir'])
        bashdir = os.path.join(datadir, 'bash-completion', 'completions')
        pc = subprocess.run(['pkg-config', '--variable=completionsdir', 'bash-completion'], capture_output=True,
                            text=True) if shutil.which('pkg-config') else None
        if pc is not None and pc.returncode == 0 and pc.stdout.strip():
            bashdir = pc.stdout.strip()
        zshdir = os.path.join(datadir, 'zsh', 'vendor-completions' if os.path.exists('/etc/debian_version')
                              else 'site-functions')
        bash_file = dest + os.path.join(bashdir, 'vmgmtctl')
        self.assertTrue(os.path.isfile(bash_file), os.listdir(dest))
        self.assertTrue(os.path.isfile(dest + os.path.join(zshdir, '_vmgmtctl')))
        # bash-completion loads it by the command's name; it registers _vmgmtctl
        r = subprocess.run(['bash', '--norc', '--noprofile', '-c', 'source "$1" && complete -p vmgmtctl', 'bash',
                            bash_file], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.stdout.strip(), 'complete -F _vmgmtctl vmgmtctl', r.stderr)


# zsh's own completion system on a pty (zsh/zpty): compinit finds _vmgmtctl
# in $fpath, TAB completes, Enter runs the completed line; each read waits
# for what the line prints (the caller's timeout bounds a hang)
ZSH_PTY = r'''
zmodload zsh/zpty || exit 2
zpty z 'zsh -f -i'
zpty -w z "PS1='%% '; fpath=(\$FPATH_DIR \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w -n z "$VMGMTCTL net-st"$'\t\n'
zpty -r z out "*Too few arguments for 'net-start'*" || exit 3
print -r -- "$out"
zpty -w -n z "$VMGMTCTL dominfo al"$'\t\n'
zpty -r z out '*Name:*alpha*' || exit 4
print -r -- "$out"
zpty -w -n z "$VMGMTCTL -c qemu:///sy"$'\t'"net-info iso"$'\t\n'
zpty -r z out '*Name:*isonet*' || exit 5
print -r -- "$out"
zpty -w -n z "$VMGMTCTL snapshot-info alpha sec"$'\t\n'
zpty -r z out '*Name:*second*' || exit 6
print -r -- "$out"
zpty -d z
'''


if __name__ == '__main__':
    main()
