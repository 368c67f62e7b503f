# docs_install.py — `meson install` of the build into a temporary DESTDIR, for
# the Install tests of tests/docs (test_man.py, test_completion.py).
import json
import os
import shutil
import subprocess
import tempfile

from vmgmt_harness import BUILD_ROOT


def meson_install(test, tags):
    """Installs what carries these install tags into a DESTDIR removed after the test;
    returns (DESTDIR, the build's options by name). Skips when meson is missing."""
    meson = os.environ.get('MESON') or shutil.which('meson')
    if not meson:
        test.skipTest('meson is not installed (missing: meson)')
    dest = tempfile.mkdtemp(prefix='vmgmt-docs-install-')
    test.addCleanup(shutil.rmtree, dest, True)
    r = subprocess.run([meson, 'install', '-C', BUILD_ROOT, '--no-rebuild', '--quiet', '--destdir', dest,
                        '--tags', tags], capture_output=True, text=True, timeout=300)
    test.assertEqual(r.returncode, 0, r.stdout + r.stderr)
    r = subprocess.run([meson, 'introspect', '--buildoptions', BUILD_ROOT], capture_output=True, text=True,
                       timeout=120)
    test.assertEqual(r.returncode, 0, r.stderr)
    return dest, {o['name']: o['value'] for o in json.loads(r.stdout)}
