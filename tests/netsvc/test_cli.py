# vmgmtctl net-* against a real vmgmtd (in a private netns, netsvc_util): virsh's output formats.
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsvc_util import *  # noqa: F401,F403,E402
from netsvc_util import NetTestCase, net_xml, links, opts, main  # noqa: E402
from vmgmt_harness import run_vmgmtctl  # noqa: E402


class NetCli(NetTestCase):
    default_network = True

    def ctl(self, *args, check=True, env=None):
        return run_vmgmtctl(self.fx.bus, *args, check=check, env=env)

    def test_net_verbs(self):
        d = tempfile.mkdtemp()
        self.addCleanup(lambda: __import__('shutil').rmtree(d, ignore_errors=True))
        f = os.path.join(d, 'n.xml')
        with open(f, 'w') as fh:
            fh.write(net_xml('cli1', 'vmbr11', subnet='10.95.0'))
        r = self.ctl('net-define', f)
        self.assertEqual(r.stdout, 'Network cli1 defined from %s\n' % f)
        out = self.ctl('net-list', '--all').stdout
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ['Name', 'State', 'Autostart', 'Persistent'])
        self.assertTrue(lines[1].startswith('---'))
        self.assertIn(['cli1', 'inactive', 'no', 'yes'], [l.split() for l in lines[2:]])
        self.assertNotIn('cli1', self.ctl('net-list').stdout)
        self.assertEqual(self.ctl('net-start', 'cli1').stdout, 'Network cli1 started\n')
        self.assertIn('vmbr11', links())
        self.assertEqual(self.ctl('net-autostart', 'cli1').stdout, 'Network cli1 marked as autostarted\n')
        self.assertEqual(self.ctl('net-autostart', 'cli1', '--disable').stdout,
                         'Network cli1 unmarked as autostarted\n')
        info = dict(l.split(':', 1) for l in self.ctl('net-info', 'cli1').stdout.splitlines())
        self.assertEqual(info['Active'].strip(), 'yes')
        self.assertEqual(info['Bridge'].strip(), 'vmbr11')
        self.assertIn("<bridge name='vmbr11'", self.ctl('net-dumpxml', 'cli1').stdout)
        r = self.ctl('net-update', 'cli1', 'add-last', 'ip-dhcp-host',
                     "<host mac='52:54:00:00:11:22' ip='10.95.0.50'/>", '--live', '--config')
        self.assertEqual(r.stdout, 'Updated network cli1 persistent config and live state\n')
        self.assertIn('10.95.0.50', self.ctl('net-dumpxml', 'cli1', '--inactive').stdout)
        leases = self.ctl('net-dhcp-leases', 'cli1').stdout.splitlines()
        self.assertEqual(leases[0].split()[:4], ['Expiry', 'Time', 'MAC', 'address'])
        # net-edit with a scripted editor
        ed = os.path.join(d, 'ed.sh')
        with open(ed, 'w') as fh:
            fh.write("#!/bin/sh\nsed -i \"s/10.95.0.50/10.95.0.60/\" \"$1\"\n")
        os.chmod(ed, 0o755)
        r = self.ctl('net-edit', 'cli1', env={'EDITOR': ed})
        self.assertEqual(r.stdout, 'Network cli1 XML configuration edited.\n')
        self.assertIn('10.95.0.60', self.ctl('net-dumpxml', 'cli1', '--inactive').stdout)
        self.assertEqual(self.ctl('net-destroy', 'cli1').stdout, 'Network cli1 destroyed\n')
        self.assertNotIn('vmbr11', links())
        self.assertEqual(self.ctl('net-undefine', 'cli1').stdout, 'Network cli1 has been undefined\n')
        r = self.ctl('net-info', 'cli1', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("No network 'cli1'", r.stderr)
        with open(f, 'w') as fh:
            fh.write(net_xml('cli2', 'vmbr12', subnet='10.96.0'))
        self.assertEqual(self.ctl('net-create', f).stdout, 'Network cli2 created from %s\n' % f)
        self.assertIn('active', self.ctl('net-list').stdout)
        self.ctl('net-destroy', 'cli2')
        # the default network
        self.assertIn(['default', 'active', 'yes', 'yes'],
                      [l.split() for l in self.ctl('net-list').stdout.splitlines()])

    def test_net_update_parent_index(self):
        xml = ("<network><name>cpi</name><bridge name='vmbr14'/>"
               "<ip address='10.86.0.1' prefix='24'><dhcp><range start='10.86.0.10' end='10.86.0.20'/></dhcp></ip>"
               "<ip family='ipv6' address='fd00:86::1' prefix='64'>"
               "<dhcp><range start='fd00:86::10' end='fd00:86::20'/></dhcp></ip></network>")
        self.manager.DefineNetwork(xml, opts())
        r = self.ctl('net-update', 'cpi', 'add-last', 'ip-dhcp-range', "<range start='fd00:86::100' end='fd00:86::110'/>",
                     '--config', '--parent-index', '1')
        self.assertEqual(r.stdout, 'Updated network cpi persistent config\n')
        out = self.ctl('net-dumpxml', 'cpi', '--inactive').stdout
        self.assertIn("<range start='fd00:86::100' end='fd00:86::110'/>", out[out.index("family='ipv6'"):])
        r = self.ctl('net-update', 'cpi', 'add-last', 'ip-dhcp-host', "<host name='h' ip='10.86.0.5'/>",
                     '--parent-index', '7', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('no <ip> element number 7', r.stderr)
        r = self.ctl('net-update', 'cpi', 'add-last', 'ip-dhcp-host', "<host name='h' ip='10.86.0.5'/>",
                     '--parent-index', 'one', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Invalid --parent-index 'one'", r.stderr)
        self.assertEqual(out, self.ctl('net-dumpxml', 'cpi', '--inactive').stdout)


if __name__ == '__main__':
    main()
