# vmgmtctl's secret verbs with virsh's output: secret-define ("Secret UUID
# created"), secret-list (UUID / Usage table, --json), secret-dumpxml,
# secret-set-value (--base64, --file with and without --plain,
# --interactive from a pipe), secret-get-value (base64; --plain), lookup by
# usage ("ceph client.admin"), secret-undefine ("Secret UUID deleted") and
# the errors.
#
# Run: /usr/bin/python3 tests/cli/test_vmgmtctl_secret.py

import base64
import json
import os

from vmgmt_harness import VmgmtTestCase, main, run_vmgmtctl

UUID = '5f0e3a52-4c4e-4ad5-9b8e-0d7d1e9c2a11'
XML = ("<secret ephemeral='no' private='no'><uuid>%s</uuid><description>admin key</description>"
       "<usage type='ceph'><name>client.admin</name></usage></secret>" % UUID)


class SecretVerbs(VmgmtTestCase):
    def ctl(self, *args, input=None):
        return run_vmgmtctl(self.fx.bus, *args, input=input)

    def ok(self, *args, input=None):
        r = self.ctl(*args, input=input)
        self.assertEqual(r.returncode, 0, 'vmgmtctl %s failed: %s' % (' '.join(args), r.stderr))
        self.assertEqual(r.stderr, '')
        return r.stdout

    def fails(self, *args):
        r = self.ctl(*args)
        self.assertEqual(r.returncode, 1, 'vmgmtctl %s: %r %r' % (' '.join(args), r.stdout, r.stderr))
        self.assertTrue(r.stderr.startswith('error: '), r.stderr)
        return r.stderr

    def write(self, name, data):
        p = os.path.join(self.fx.tmp, name)
        with open(p, 'wb' if isinstance(data, bytes) else 'w') as f:
            f.write(data)
        return p

    def test_secret_verbs(self):
        self.assertEqual(self.ok('secret-list').splitlines()[0].split(), ['UUID', 'Usage'])
        self.assertEqual(self.ok('secret-define', self.write('s.xml', XML)), 'Secret %s created\n' % UUID)
        other = self.ok('secret-define', self.write('t.xml', "<secret><usage type='iscsi'><target>iqn.x:t</target>"
                                                    "</usage></secret>")).split()[1]
        bare = self.ok('secret-define', self.write('u.xml', '<secret/>')).split()[1]
        rows = {ln.split()[0]: ' '.join(ln.split()[1:]) for ln in self.ok('secret-list').splitlines()[2:] if ln.strip()}
        self.assertEqual(rows, {UUID: 'ceph client.admin', other: 'iscsi iqn.x:t', bare: 'Unused'})
        js = {s['uuid']: s for s in json.loads(self.ok('--json', 'secret-list'))}
        self.assertEqual((js[UUID]['usage_type'], js[UUID]['usage_id'], js[UUID]['description'],
                          js[UUID]['ephemeral'], js[UUID]['private']),
                         ('ceph', 'client.admin', 'admin key', False, False))
        xml = self.ok('secret-dumpxml', 'ceph client.admin')
        self.assertIn('<uuid>%s</uuid>' % UUID, xml)
        self.assertIn('<name>client.admin</name>', xml)

        value = b'AQD\x00\xffkey'
        b64 = base64.b64encode(value).decode()
        self.assertEqual(self.ok('secret-set-value', UUID, '--base64', b64), 'Secret value set\n')
        self.assertEqual(self.ok('secret-get-value', UUID), b64 + '\n')
        self.assertEqual(self.ok('secret-get-value', 'ceph client.admin'), b64 + '\n')
        # a file of base64 (virsh's default), a plain file
        self.ok('secret-set-value', UUID, '--file', self.write('v.b64', base64.b64encode(b'from-file').decode() + '\n'))
        self.assertEqual(self.ok('secret-get-value', UUID), base64.b64encode(b'from-file').decode() + '\n')
        self.ok('secret-set-value', UUID, '--file', self.write('v.txt', 'plain text'), '--plain')
        self.assertEqual(self.ok('secret-get-value', UUID, '--plain'), 'plain text')
        # --interactive reads a line (from the pipe here: no terminal)
        self.ok('secret-set-value', other, '--interactive', input=b'typed secret\n')
        self.assertEqual(self.ok('secret-get-value', other), base64.b64encode(b'typed secret').decode() + '\n')

        self.assertIn('not base64', self.fails('secret-set-value', UUID, '--base64', 'no*base64'))
        self.assertIn('exactly one', self.fails('secret-set-value', UUID))
        self.assertIn('exactly one', self.fails('secret-set-value', UUID, '--base64', b64, '--interactive'))
        self.assertIn('has no value', self.fails('secret-get-value', bare))
        self.assertIn("No secret 'ceph nobody'", self.fails('secret-dumpxml', 'ceph nobody'))
        self.assertIn('already has usage ceph', self.fails('secret-define', self.write('d.xml', XML.replace(UUID, bare))))
        self.assertIn('frobnicate', self.fails('secret-define', self.write('b.xml', '<secret><frobnicate/></secret>')))

        self.assertEqual(self.ok('secret-undefine', UUID, other), 'Secret %s deleted\nSecret %s deleted\n' % (UUID, other))
        self.assertEqual([ln.split()[0] for ln in self.ok('secret-list').splitlines()[2:] if ln.strip()], [bare])
        self.assertIn("No secret", self.fails('secret-undefine', UUID))


if __name__ == '__main__':
    main()
