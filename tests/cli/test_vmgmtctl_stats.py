# vmgmtctl's statistics verbs against a real vmgmtd and qemu: domstats (every group flag and --list-*
# filter, --enforce, --json), dommemstat, domblkstat (one disk, all, --human), domifstat, vcpuinfo and
# top (--once, --batch --iterations --delay, --json), in virsh's formats, compared with GetStats.
#
# Run: /usr/bin/python3 tests/cli/test_vmgmtctl_stats.py

import json
import os
import re
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'integration'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_vmgmtctl import CtlTestCase  # noqa: E402
from vmgmt_harness import VMGMTCTL, _child_env, domain_path, main, minimal_domain_xml, opts, unwrap  # noqa: E402


def domstats_blocks(out):
    """{name: {key: value}} of domstats' text."""
    res, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"^Domain: '(.*)'$", line)
        if m:
            cur = res.setdefault(m.group(1), {})
        elif line.startswith('  '):
            k, v = line.strip().split('=', 1)
            cur[k] = v
        else:
            assert line == '', line
    return res


class Stats(CtlTestCase):
    def setUp(self):
        super().setUp()
        img = os.path.join(self.fx.tmp, 'sa.img')
        with open(img, 'wb') as f:
            f.truncate(8 << 20)
        disk = ("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
                "<target dev='vda' bus='virtio'/></disk>" % img)
        self.img = img
        self.ok('define', self.xml_file('sa', xml=minimal_domain_xml('sa', extra_devices=disk)))
        self.ok('start', 'sa')
        self.client.wait_state(domain_path('sa'), 'running')
        self.define_file('sb')

    def test_domstats(self):
        every = domstats_blocks(self.ok('domstats'))
        self.assertEqual(sorted(every), ['sa', 'sb'])
        self.assertEqual(every['sb'], {'state.state': '5', 'state.reason': '0'})
        sa = every['sa']
        self.assertEqual((sa['state.state'], sa['state.reason']), ('1', '1'))
        self.assertEqual((sa['block.count'], sa['block.0.name'], sa['block.0.path']), ('1', 'vda', self.img))
        self.assertEqual(sa['balloon.current'], str(64 * 1024))
        self.assertIn('cpu.time', sa)
        self.assertNotIn('cpu_time_ns', sa)
        def only(out, prefix):
            got = domstats_blocks(out)['sa']
            self.assertTrue(got and all(k.startswith(prefix) for k in got), (prefix, got))
        only(self.ok('domstats', '--state', 'sa'), 'state.')
        only(self.ok('domstats', '--cpu-total', 'sa'), 'cpu.')
        only(self.ok('domstats', '--balloon', 'sa'), 'balloon.')
        only(self.ok('domstats', '--vcpu', 'sa'), 'vcpu.')
        only(self.ok('domstats', '--interface', 'sa'), 'net.')
        only(self.ok('domstats', '--block', 'sa'), 'block.')
        self.assertEqual(domstats_blocks(self.ok('domstats', '--perf', 'sa')), {'sa': {}})
        self.assertIn('perf', self.fails('domstats', '--perf', '--enforce', 'sa'))
        two = domstats_blocks(self.ok('domstats', '--state', '--vcpu', 'sa'))['sa']
        self.assertEqual({k.split('.')[0] for k in two}, {'state', 'vcpu'})
        def names(out):
            return sorted(domstats_blocks(out))
        self.assertEqual(names(self.ok('domstats', '--state', '--list-active')), ['sa'])
        self.assertEqual(names(self.ok('domstats', '--state', '--list-inactive')), ['sb'])
        self.assertEqual(names(self.ok('domstats', '--state', '--list-persistent')), ['sa', 'sb'])
        self.assertEqual(names(self.ok('domstats', '--state', '--list-transient')), [])
        self.assertEqual(names(self.ok('domstats', '--state', '--list-running')), ['sa'])
        self.assertEqual(names(self.ok('domstats', '--state', '--list-paused')), [])
        self.assertEqual(names(self.ok('domstats', '--state', '--list-shutoff')), ['sb'])
        self.assertEqual(names(self.ok('domstats', '--state', '--list-other')), [])
        self.assertEqual(names(self.ok('domstats', '--state', '--list-running', '--list-shutoff')), ['sa', 'sb'])
        self.assertIn('cannot be combined', self.fails('domstats', '--list-active', 'sa'))
        self.assertIn("No domain 'nope'", self.fails('domstats', 'nope'))
        js = json.loads(self.ok('--json=short', 'domstats', '--state', 'sb', 'sa'))
        self.assertEqual(sorted(d['domain'] for d in js), ['sa', 'sb'])
        self.assertEqual({d['domain']: d['stats'] for d in js}['sb'], {'state.state': 5, 'state.reason': 0})

    def test_dommemstat_domblkstat_domifstat_vcpuinfo(self):
        mem = dict(line.split() for line in self.ok('dommemstat', 'sa').splitlines())
        self.assertEqual(mem['actual'], str(64 * 1024))
        self.assertGreater(int(mem['rss']), 0)
        self.assertIn('not running', self.fails('dommemstat', 'sb'))
        self.assertEqual(json.loads(self.ok('--json=short', 'dommemstat', 'sa'))['actual'], 64 * 1024)

        want = unwrap(self.dom(domain_path('sa')).GetStats(opts()))
        out = self.ok('domblkstat', 'sa', 'vda')
        rows = [line.split() for line in out.splitlines()]
        self.assertEqual([r[1] for r in rows], ['rd_req', 'rd_bytes', 'wr_req', 'wr_bytes', 'flush_operations',
                                                'rd_total_times', 'wr_total_times', 'flush_total_times'])
        self.assertTrue(all(r[0] == 'vda' for r in rows))
        self.assertGreaterEqual(int(rows[0][2]), want['block.0.rd.reqs'])   # the counters only grow
        total = self.ok('domblkstat', 'sa')
        self.assertTrue(total.startswith('- rd_req '), total)
        self.assertEqual(self.ok('domblkstat', 'sa', self.img).split('\n')[0].split()[1], 'rd_req')
        human = self.ok('domblkstat', 'sa', 'vda', '--human')
        self.assertTrue(human.startswith('Device: vda\n number of read operations:'), human)
        self.assertIn(' total duration of flushes (ns):', human)
        self.assertIn("no disk 'vdz'", self.fails('domblkstat', 'sa', 'vdz'))
        js = json.loads(self.ok('--json=short', 'domblkstat', 'sa', 'vda'))
        self.assertEqual(js['device'], 'vda')
        self.assertIn('wr_bytes', js)

        # a domain without taps has no interface to count (tests/netsvc/test_stats_net.py has one)
        self.assertIn("no interface 'vnet0'", self.fails('domifstat', 'sa', 'vnet0'))

        out = self.ok('vcpuinfo', 'sa')
        self.assertRegex(out, r'^VCPU:\s+0\nCPU:\s+\d+\nState:\s+running\nCPU time:\s+[\d.]+s\nCPU Affinity:\s+[y-]+\n$')
        ncpu = os.sysconf('SC_NPROCESSORS_CONF')
        self.assertEqual(len(out.rsplit(None, 1)[1]), ncpu)
        js = json.loads(self.ok('--json=short', 'vcpuinfo', 'sa'))
        self.assertEqual((js[0]['vcpu'], js[0]['state']), (0, 'running'))
        self.assertIn('not running', self.fails('vcpuinfo', 'sb'))

    def test_top(self):
        out = self.ok('top', '--once', '--delay', '0.2')
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith('vmgmtctl top - 1 domains running, '), lines)
        self.assertEqual(lines[1].split()[:3], ['NAME', 'STATE', '%CPU'])
        self.assertEqual(len(lines), 3, lines)
        row = lines[2].split()
        self.assertEqual(row[:2], ['sa', 'running'])
        self.assertEqual(float(row[3]), 64.0)   # MiB
        self.assertGreaterEqual(float(row[2]), 0.0)
        out = self.ok('top', '--batch', '--iterations', '2', '--delay', '0.2')
        self.assertEqual(out.count('vmgmtctl top - '), 2, out)
        js = json.loads(self.ok('--json=short', 'top', '--once', '--delay', '0.2'))
        self.assertEqual([d['name'] for d in js], ['sa'])
        self.assertGreater(js[0]['interval_ms'], 0)
        self.assertEqual(js[0]['memory_kib'], 64 * 1024)
        self.assertFalse(js[0]['incomplete'])
        # on a terminal: the table is redrawn in place until q is pressed
        master, slave = os.openpty()
        p = subprocess.Popen([VMGMTCTL, 'top', '--delay', '0.2'], stdin=slave, stdout=slave, stderr=slave,
                             env=_child_env({'DBUS_SYSTEM_BUS_ADDRESS': self.fx.bus.address}))
        os.close(slave)
        self.addCleanup(lambda: (p.kill(), p.wait()) if p.poll() is None else None)
        seen, deadline = b'', time.monotonic() + 60
        while seen.count(b'vmgmtctl top - ') < 2 and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                seen += os.read(master, 65536)
        self.assertGreaterEqual(seen.count(b'vmgmtctl top - '), 2, seen)
        self.assertIn(b'\033[H\033[2J', seen)          # redrawn in place
        self.assertIn(b'(q quits)', seen)
        os.write(master, b'q')
        self.assertEqual(p.wait(timeout=60), 0)
        os.close(master)
        self.assertIn('Invalid delay', self.fails('top', '--delay', '0'))
        self.assertIn('Invalid number', self.fails('top', '--iterations', 'x'))


if __name__ == '__main__':
    main()
