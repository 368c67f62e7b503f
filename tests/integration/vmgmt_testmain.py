# vmgmt_testmain — how every Python test program runs: unittest with verbose
# output, then one machine-readable result line for the suite summary
# (tests/summarize) and one line per skipped test saying why.
#
# A test may only be skipped because something it needs is not on the
# machine, and it must say what: `skip_missing(what, package)` (or a SkipTest
# whose reason ends in "(missing: WHAT)"). Every other skip, and a skip whose
# WHAT is in fact present (a path that exists, a command on PATH), counts as
# a failure: a machine that has the component must run the test.
#
# Exit status: 1 when a test failed (or skipped without cause), 77 (meson's
# "skipped") when every test was skipped for a missing component, else 0.
import os
import re
import shutil
import sys
import unittest

RESULT_PREFIX = 'vmgmt-tests:'
SKIP_PREFIX = 'vmgmt-skip:'
_MISSING = re.compile(r'\(missing: ([^()]+)\)\s*$')


def skip_missing(what, package=None, why=None):
    """Raises SkipTest for a missing component. `what` is a path (absolute)
    or a command name; `package` the Debian package that has it."""
    text = why or ('%s is not installed' % what)
    if package:
        text += ' (package %s)' % package
    raise unittest.SkipTest('%s (missing: %s)' % (text, what))


def component_present(what):
    if what.startswith('/'):
        return os.path.exists(what)
    return shutil.which(what) is not None


def judge_skip(reason):
    """None when the skip is allowed, else why it counts as a failure."""
    m = _MISSING.search(reason or '')
    if not m:
        return 'skipped without naming a missing component: %r' % reason
    what = m.group(1).strip()
    if component_present(what):
        return 'skipped for a missing %s, but the machine has it' % what
    return None


class _Result(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0
        self.bad_skips = []

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        bad = judge_skip(reason)
        if bad:
            self.bad_skips.append((test, bad))


def _test_id(test):
    tid = test.id() if hasattr(test, 'id') else str(test)
    # setUpClass skips arrive as "setUpClass (module.Class)"
    return tid.replace('__main__.', '')


def run(argv=None):
    """Runs the tests of __main__ (or those named on the command line)."""
    runner = unittest.TextTestRunner(verbosity=2, resultclass=_Result)
    prog = unittest.main(module='__main__', argv=argv, testRunner=runner, exit=False)
    r = prog.result
    failed = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses) + len(r.bad_skips)
    skipped = len(r.skipped) - len(r.bad_skips)
    for test, why in r.bad_skips:
        print('FAIL: %s: %s' % (_test_id(test), why))
    bad = {id(t) for t, _ in r.bad_skips}
    for test, reason in r.skipped:
        if id(test) not in bad:
            print('%s %s: %s' % (SKIP_PREFIX, _test_id(test), reason))
    print('%s %d run, %d passed, %d failed, %d skipped'
          % (RESULT_PREFIX, r.testsRun, r.passed, failed, skipped))
    sys.stdout.flush()
    if failed:
        sys.exit(1)
    if r.passed == 0 and skipped:
        sys.exit(77)
    if r.passed == 0:
        print('FAIL: no tests ran')
        sys.exit(1)
    sys.exit(0)
