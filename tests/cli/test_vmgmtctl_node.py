# vmgmtctl's host verbs against a real vmgmtd: nodeinfo, nodecpustats (all CPUs,
# one CPU, --percent), nodememstats and capabilities, each compared with what
# the kernel itself says in /proc and /sys on this machine (not with numbers
# written into the test), in text and with --json.
#
# Run: /usr/bin/python3 tests/cli/test_vmgmtctl_node.py

import json
import os
import re
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'integration'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_vmgmtctl import CtlTestCase  # noqa: E402
from vmgmt_harness import main  # noqa: E402


def cpulist(text):
    out = []
    for part in text.strip().split(','):
        if '-' in part:
            a, b = part.split('-')
            out += range(int(a), int(b) + 1)
        elif part:
            out.append(int(part))
    return out


def online_cpus():
    with open('/sys/devices/system/cpu/online') as f:
        return cpulist(f.read())


def meminfo(key):
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise KeyError(key)


def topology(cpu, name, default):
    try:
        with open('/sys/devices/system/cpu/cpu%d/topology/%s' % (cpu, name)) as f:
            return f.read().strip()
    except OSError:
        return default


def field(text, label):
    m = re.search(r'^%s\s+(\S+)' % re.escape(label), text, re.M)
    return m.group(1) if m else None


class Node(CtlTestCase):
    def test_nodeinfo(self):
        out = self.ok('nodeinfo')
        cpus = online_cpus()
        self.assertEqual(int(field(out, 'CPU(s):')), len(cpus), out)
        self.assertEqual(field(out, 'CPU model:'), os.uname().machine)
        self.assertEqual(int(field(out, 'Memory size:')), meminfo('MemTotal'))
        packages = {topology(c, 'physical_package_id', '0') for c in cpus}
        cores = {(topology(c, 'physical_package_id', '0'), topology(c, 'core_id', str(c))) for c in cpus}
        nodes = [d for d in os.listdir('/sys/devices/system/node') if re.fullmatch(r'node\d+', d)] \
            if os.path.isdir('/sys/devices/system/node') else []
        n_nodes = max(len(nodes), 1)
        self.assertEqual(int(field(out, 'NUMA cell(s):')), n_nodes)
        self.assertEqual(int(field(out, 'CPU socket(s):')), max(len(packages) // n_nodes, 1))
        self.assertEqual(int(field(out, 'Core(s) per socket:')), len(cores) // len(packages))
        self.assertEqual(int(field(out, 'Thread(s) per core:')), len(cpus) // len(cores))
        j = json.loads(self.ok('--json', 'nodeinfo'))
        self.assertEqual(j['cpus'], len(cpus))
        self.assertEqual(j['memory_kib'], meminfo('MemTotal'))

    def test_capabilities_topology(self):
        root = ET.fromstring(self.ok('capabilities'))
        host = root.find('host')
        cpus = online_cpus()
        listed = [int(c.get('id')) for c in host.iter('cpu') if c.get('id') is not None]
        self.assertEqual(sorted(listed), cpus)
        for c in host.iter('cpu'):
            if c.get('id') is None:
                continue
            cpu = int(c.get('id'))
            self.assertEqual(c.get('socket_id'), topology(cpu, 'physical_package_id', '0'))
            self.assertEqual(c.get('core_id'), topology(cpu, 'core_id', str(cpu)))
            self.assertEqual(cpulist(c.get('siblings')),
                             cpulist(topology(cpu, 'thread_siblings_list', str(cpu))))
        t = host.find('cpu/topology')
        self.assertEqual(int(t.get('sockets')) * int(t.get('cores')) * int(t.get('threads')), len(cpus))
        cells = host.find('topology/cells')
        self.assertEqual(int(cells.get('num')), len(cells.findall('cell')))
        self.assertEqual(sum(int(c.find('memory').text) for c in cells.findall('cell')) > 0, True)
        if os.path.exists('/etc/machine-id'):
            with open('/etc/machine-id') as f:
                mid = f.read().strip()
            self.assertEqual(host.find('uuid').text.replace('-', ''), mid)

    def test_nodecpustats(self):
        cpus = online_cpus()
        with open('/proc/stat') as f:
            before = f.read()
        out = self.ok('nodecpustats')
        with open('/proc/stat') as f:
            after = f.read()
        hz = os.sysconf('SC_CLK_TCK')

        def ns(text, line_prefix, col):
            for line in text.splitlines():
                if line.startswith(line_prefix + ' '):
                    return int(line.split()[col]) * (10**9 // hz)
            raise KeyError(line_prefix)
        # idle: column 4 of the cpu line; the service read it between our two reads
        idle = int(field(out, 'idle:'))
        self.assertGreaterEqual(idle, ns(before, 'cpu', 4))
        self.assertLessEqual(idle, ns(after, 'cpu', 4))
        for label in ('user:', 'system:', 'iowait:'):
            self.assertIsNotNone(field(out, label), out)

        last = cpus[-1]
        one = self.ok('nodecpustats', '--cpu', str(last))
        self.assertGreaterEqual(int(field(one, 'idle:')), ns(before, 'cpu%d' % last, 4))
        self.assertLess(int(field(one, 'idle:')), idle + 1)
        j = json.loads(self.ok('--json', 'nodecpustats', '--cpu', str(last)))
        self.assertEqual(sorted(j), ['idle', 'iowait', 'system', 'user'])

        pct = self.ok('nodecpustats', '--percent')
        shares = [float(field(pct, l).rstrip('%')) for l in ('user:', 'system:', 'idle:', 'iowait:')]
        self.assertAlmostEqual(sum(shares), 100.0, delta=0.5)
        self.assertAlmostEqual(float(field(pct, 'usage:').rstrip('%')), 100.0 - shares[2], delta=0.15)
        jp = json.loads(self.ok('--json', 'nodecpustats', '--percent', '--cpu', '0'))
        self.assertAlmostEqual(sum(float(jp[k]) for k in ('user', 'system', 'idle', 'iowait')), 100.0, delta=0.5)

        err = self.fails('nodecpustats', '--cpu', str(last + 1000))
        self.assertIn('No CPU %d' % (last + 1000), err)
        self.assertIn("Invalid CPU number 'x'", self.fails('nodecpustats', '--cpu', 'x'))

    def test_nodememstats(self):
        out = self.ok('nodememstats')
        self.assertEqual(int(field(out, 'total  :')), meminfo('MemTotal'))
        for label in ('free   :', 'buffers:', 'cached :'):
            self.assertGreater(int(field(out, label)), 0, out)
        j = json.loads(self.ok('--json', 'nodememstats'))
        self.assertEqual(j['total'], meminfo('MemTotal'))


if __name__ == '__main__':
    main()
