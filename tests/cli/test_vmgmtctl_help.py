# vmgmtctl's help as its users look for it (virsh and systemctl habits):
# `vmgmtctl help` is the global help, `vmgmtctl help VERB` and
# `vmgmtctl VERB --help` print that verb's usage, summary and every option
# its command table has (cli/vmgmtctl.c, read here independently), and an
# unknown verb is an error. Needs no bus: help never connects.
#
# Run: /usr/bin/python3 tests/cli/test_vmgmtctl_help.py

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'integration'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_coverage import vmgmtctl_verbs  # noqa: E402
from vmgmt_harness import VMGMTCTL, main  # noqa: E402


def ctl(*args):
    # an address that leads nowhere: help must not need a bus
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS='unix:path=/nonexistent/vmgmt-help-test')
    return subprocess.run([VMGMTCTL] + list(args), capture_output=True, text=True, env=env, timeout=30)


class Help(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.verbs, _ = vmgmtctl_verbs()

    def test_help_verb_is_the_global_help(self):
        a, b = ctl('help'), ctl('--help')
        self.assertEqual((a.returncode, b.returncode), (0, 0), a.stderr + b.stderr)
        self.assertEqual(a.stdout, b.stdout)
        self.assertIn('Commands:', a.stdout)

    def test_every_verb_has_its_own_help(self):
        glob = ctl('--help').stdout
        for verb, options in self.verbs.items():
            if verb == 'help':
                continue
            with self.subTest(verb=verb):
                h, v = ctl('help', verb), ctl(verb, '--help')
                self.assertEqual(h.returncode, 0, h.stderr)
                self.assertEqual(v.returncode, 0, v.stderr)
                self.assertEqual(h.stdout, v.stdout)
                first = h.stdout.splitlines()[0]
                self.assertTrue(first.startswith('vmgmtctl [OPTIONS...] %s' % verb), first)
                # the synopsis is the one the global help lists
                self.assertIn(first[len('vmgmtctl [OPTIONS...] '):], glob)
                listed = {ln.strip().split()[0][2:] for ln in h.stdout.splitlines() if ln.startswith('  --')}
                self.assertEqual(listed, options)
                self.assertNotIn('Commands:', h.stdout)

    def test_unknown_verb(self):
        r = ctl('help', 'no-such-verb')
        self.assertEqual(r.returncode, 1)
        self.assertIn("Unknown command 'no-such-verb'", r.stderr)
        r = ctl('help', 'start', 'extra')
        self.assertEqual(r.returncode, 1)
        self.assertIn('Too many arguments', r.stderr)


if __name__ == '__main__':
    main()
