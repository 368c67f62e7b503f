# The shell completion of vmgmtctl in a real bash (and zsh, when installed)
# against a real vmgmtd on a private bus: completion/vmgmtctl.bash is sourced
# and _vmgmtctl driven with COMP_WORDS/COMP_CWORD as bash's readline sets
# them. Command prefixes and every option of every command (as `vmgmtctl
# help COMMAND` lists them, so a new command or flag cannot be missing),
# option values named in the usage (--format raw|qcow2), the domains after
# `start `, the networks after `net-start `, the pools after `vol-list `,
# the volumes after `vol-info --pool default ` (also as --pool=default),
# files for FILE, and the snapshots of a domain when this vmgmtctl has
# snapshot-list. zsh's _vmgmtctl is driven the same way with compadd and
# _files recorded, and once in a real interactive zsh with compinit on a pty
# (TAB, then Enter runs the completed line). `meson install` puts both where
# the shells look.
#
# Run: /usr/bin/python3 tests/docs/test_completion.py

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'integration'))

from vmgmt_harness import (BUILD_ROOT, DEFAULT_TIMEOUT, SOURCE_ROOT, VMGMTCTL, VmgmtTestCase, _child_env, main,  # noqa: E402
                           minimal_domain_xml, run_vmgmtctl)

BASH_COMPLETION = os.path.join(SOURCE_ROOT, 'completion', 'vmgmtctl.bash')
ZSH_COMPLETION = os.path.join(SOURCE_ROOT, 'completion', '_vmgmtctl')

BASH_DRIVER = r'''
source "$COMPLETION" || exit 3
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
_vmgmtctl
printf '%s\n' "${COMPREPLY[@]}"
'''

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
_files() { print -r -- '<files>'; }
_message() { :; }
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
        super().setUpClass()
        fx = cls._class_fx
        bus = fx.bus

        def ok(*args):
            r = run_vmgmtctl(bus, *args)
            if r.returncode != 0:
                raise AssertionError('vmgmtctl %s: %s' % (' '.join(args), r.stderr))
            return r.stdout

        for name in ('alpha', 'beta'):
            f = os.path.join(fx.tmp, name + '.xml')
            with open(f, 'w') as fh:
                fh.write(minimal_domain_xml(name))
            ok('define', f)
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

    def bash(self, *words):
        """COMPREPLY for the line `vmgmtctl WORDS...` with the cursor at the end of the last word."""
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address, 'COMPLETION': BASH_COMPLETION})
        r = subprocess.run(['bash', '--norc', '--noprofile', '-c', BASH_DRIVER, 'bash', VMGMTCTL] + list(words),
                           capture_output=True, text=True, env=env, timeout=2 * DEFAULT_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, '', 'the completion wrote to stderr')
        return names(r.stdout)

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
        if 'snapshot-list' not in self.verbs:
            # this vmgmtctl has no snapshot commands: nothing to offer, and no error
            self.assertEqual(self.bash('snapshot-revert', 'alpha', ''), [])
            return
        listed = names(self.ok('snapshot-list', 'alpha', '--name'))
        for verb in ('snapshot-revert', 'snapshot-delete', 'snapshot-dumpxml'):
            if verb in self.verbs:
                self.assertEqual(sorted(self.bash(verb, 'alpha', '')), sorted(listed))

    # ---- zsh

    def zsh(self, *words):
        if not shutil.which('zsh'):
            self.skipTest('zsh is not installed (missing: zsh)')
        env = _child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address, 'COMPLETION': ZSH_COMPLETION})
        r = subprocess.run(['zsh', '-f', '-c', ZSH_DRIVER, 'zsh', VMGMTCTL] + list(words), capture_output=True,
                           text=True, env=env, timeout=2 * DEFAULT_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, '', 'the completion wrote to stderr')
        return [w for w in names(r.stdout) if w.startswith(words[-1]) or w == '<files>']

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


class Install(unittest.TestCase):
    def test_installed_where_the_shells_look(self):
        meson = os.environ.get('MESON') or shutil.which('meson')
        if not meson:
            self.skipTest('meson is not installed (missing: meson)')
        dest = tempfile.mkdtemp(prefix='vmgmt-completion-install-')
        self.addCleanup(shutil.rmtree, dest, True)
        r = subprocess.run([meson, 'install', '-C', BUILD_ROOT, '--no-rebuild', '--quiet', '--destdir', dest,
                            '--tags', 'runtime'], capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        prefix = json.loads(subprocess.run([meson, 'introspect', '--buildoptions', BUILD_ROOT], capture_output=True,
                                           text=True, timeout=120).stdout)
        opts = {o['name']: o['value'] for o in prefix}
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
zpty -d z
'''


if __name__ == '__main__':
    main()
