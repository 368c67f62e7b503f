# interfaces/*.xml is the single source of the contract: gdbus-codegen must
# turn all of it into C that compiles (a DocString with a double quote used to
# come out unescaped), and a small client built on that output
# (codegen/client.c) must talk to a running vmgmtd: its object manager client
# sees the objects, the Manager proxy reads Version and calls ListDomains.

import glob
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration'))

from vmgmt_harness import SOURCE_ROOT, VmgmtTestCase, main, minimal_domain_xml, opts  # noqa: E402
from vmgmt_testmain import skip_missing  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, 'codegen', 'client.c')
INTERFACES = sorted(glob.glob(os.path.join(SOURCE_ROOT, 'interfaces', '*.xml')))


def tool(name, package):
    path = shutil.which(name)
    if not path:
        skip_missing(name, package)
    return path


class Codegen(VmgmtTestCase):
    def build_client(self):
        codegen = tool('gdbus-codegen', 'libglib2.0-dev-bin')
        cc = shutil.which('cc') or shutil.which('gcc')
        pkgconf = shutil.which('pkg-config') or shutil.which('pkgconf')
        self.assertTrue(cc and pkgconf, 'a C compiler and pkg-config build vmgmt itself')
        out = os.path.join(self.fx.tmp, 'codegen')
        os.makedirs(out)
        self.assertGreaterEqual(len(INTERFACES), 7, INTERFACES)
        subprocess.run([codegen, '--interface-prefix', 'org.vmgmt.', '--c-namespace', 'Vm',
                        '--c-generate-object-manager', '--generate-c-code', os.path.join(out, 'vm-generated')]
                       + INTERFACES, check=True, cwd=out)
        flags = subprocess.run([pkgconf, '--cflags', '--libs', 'gio-2.0', 'gio-unix-2.0'], check=True,
                               capture_output=True, text=True).stdout.split()
        exe = os.path.join(out, 'client')
        r = subprocess.run([cc, '-Wall', '-Werror', '-Wno-unused-parameter', '-o', exe, CLIENT,
                            os.path.join(out, 'vm-generated.c'), '-I', out] + flags,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, 'the generated code does not compile:\n' + r.stderr[-4000:])
        return exe

    def test_generated_client_compiles_and_talks(self):
        exe = self.build_client()
        path = str(self.define(minimal_domain_xml('codegen-vm')))
        r = subprocess.run([exe, self.fx.bus.address], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertIn('object %s domain' % path, lines, r.stdout)
        self.assertIn('domain-name codegen-vm', lines, r.stdout)
        self.assertIn('listed %s' % path, lines, r.stdout)
        version = self.client.props('/org/vmgmt', 'org.vmgmt.Manager')['Version']
        self.assertIn('version %s' % version, lines, r.stdout)
        self.dom(path).Undefine(opts())


if __name__ == '__main__':
    main()
