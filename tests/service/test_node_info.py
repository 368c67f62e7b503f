# GetNodeInfo and GetNodeStats against what the host itself says, read by the
# test from /proc and /sys around each call: the architecture, online CPUs,
# NUMA nodes, sockets / cores per socket / threads per core (sysfs topology),
# MHz (/proc/cpuinfo), total memory exactly; free/available/buffers/cached
# memory within 16 MiB of the values read just before and after (other
# programs allocate meanwhile: a few attempts); CPU times between the /proc/stat counters read
# just before and after the call, and never going back between two calls.

import glob
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration'))

from vmgmt_harness import VmgmtTestCase, main, unwrap  # noqa: E402

NS_PER_TICK = 1000000000 // os.sysconf('SC_CLK_TCK')
INFO_KEYS = {'model', 'cpus', 'mhz', 'nodes', 'sockets', 'cores', 'threads', 'memory_kib'}
STATS_KEYS = {'cpu_user_ns', 'cpu_kernel_ns', 'cpu_idle_ns', 'cpu_iowait_ns', 'memory_total_kib',
              'memory_free_kib', 'memory_available_kib', 'memory_buffers_kib', 'memory_cached_kib'}
MEMINFO_OF = {'memory_free_kib': 'MemFree', 'memory_available_kib': 'MemAvailable',
              'memory_buffers_kib': 'Buffers', 'memory_cached_kib': 'Cached'}


def read(path):
    with open(path) as f:
        return f.read()


def meminfo():
    return {m.group(1): int(m.group(2)) for m in re.finditer(r'^(\w+):\s+(\d+)', read('/proc/meminfo'), re.M)}


def cpu_ticks():
    """The `cpu` lines of /proc/stat in the service's groups (ticks): the aggregate as
    cpu_*_ns, each CPU's as cpu.N.*_ns."""
    out = {}
    for line in read('/proc/stat').splitlines():
        if not line.startswith('cpu'):
            continue
        name, *f = line.split()
        user, nice, system, idle, iowait, irq, softirq = [int(x) for x in f[:7]]
        prefix = 'cpu_' if name == 'cpu' else 'cpu.%s.' % name[3:]
        out.update({prefix + 'user_ns': user + nice, prefix + 'kernel_ns': system + irq + softirq,
                    prefix + 'idle_ns': idle, prefix + 'iowait_ns': iowait})
    return out


def parse_list(text):
    """A sysfs cpu list ('0-3,6') as a set."""
    out = set()
    for part in text.strip().split(','):
        if '-' in part:
            a, b = part.split('-')
            out.update(range(int(a), int(b) + 1))
        elif part:
            out.add(int(part))
    return out


def cpu_mhz():
    return [float(m.group(1)) for m in re.finditer(r'^cpu MHz\s*:\s*([\d.]+)', read('/proc/cpuinfo'), re.M)]


class NodeInfo(VmgmtTestCase):
    shared_daemon = True

    def info(self):
        return unwrap(self.manager.GetNodeInfo())

    def stats(self):
        return unwrap(self.manager.GetNodeStats())

    def test_node_info_is_the_hosts(self):
        mhz_before = cpu_mhz()
        info = self.info()
        mhz_after = cpu_mhz()
        self.assertEqual(set(info), INFO_KEYS)
        self.assertEqual(info['model'], os.uname().machine)
        online = parse_list(read('/sys/devices/system/cpu/online'))
        self.assertEqual(info['cpus'], len(online))
        self.assertEqual(info['cpus'], len(re.findall(r'^processor\s*:', read('/proc/cpuinfo'), re.M)))
        self.assertEqual(info['nodes'], len(glob.glob('/sys/devices/system/node/node[0-9]*')) or 1)
        # topology of the online cpus from sysfs
        packages, cores, threads = set(), set(), {}
        for c in online:
            topo = '/sys/devices/system/cpu/cpu%d/topology/' % c
            pkg = int(read(topo + 'physical_package_id'))
            packages.add(pkg)
            cores.add((pkg, int(read(topo + 'core_id'))))
            threads[c] = len(parse_list(read(topo + 'thread_siblings_list')))
        self.assertEqual(info['sockets'], len(packages))
        self.assertEqual(info['cores'], len(cores) // len(packages), 'cores per socket')
        self.assertEqual(info['threads'], max(threads.values()), 'threads per core')
        self.assertEqual(info['sockets'] * info['cores'] * info['threads'], info['cpus'])
        # the first cpu's MHz as /proc/cpuinfo shows it (it may move with frequency scaling)
        if mhz_before:
            seen = [int(v) for v in mhz_before + mhz_after]
            self.assertGreater(info['mhz'], 0)
            self.assertGreaterEqual(info['mhz'], min(seen) * 0.75, seen)
            self.assertLessEqual(info['mhz'], max(seen) * 1.25 + 1, seen)
        else:
            self.assertEqual(info['mhz'], 0)
        self.assertEqual(info['memory_kib'], meminfo()['MemTotal'])
        # facts do not change between calls
        self.assertEqual({k: v for k, v in self.info().items() if k != 'mhz'},
                         {k: v for k, v in info.items() if k != 'mhz'})

    def test_node_stats_are_the_hosts(self):
        # memory moves while others run: an attempt counts when every value is
        # within 16 MiB of what /proc/meminfo said just before and after the call
        slack = 16 * 1024                          # KiB
        misses = []
        for _ in range(20):
            mem_before, ticks_before = meminfo(), cpu_ticks()
            s1 = self.stats()
            mem_after, ticks_after = meminfo(), cpu_ticks()
            self.assertEqual(set(s1), STATS_KEYS | {'cpus'} | set(ticks_before))
            self.assertEqual(s1['cpus'], sum(1 for k in ticks_before if k.endswith('.user_ns')))
            self.assertEqual(s1['memory_total_kib'], mem_before['MemTotal'])
            off = {key: (s1[key], mem_before[field], mem_after[field]) for key, field in MEMINFO_OF.items()
                   if not min(mem_before[field], mem_after[field]) - slack <= s1[key] <=
                   max(mem_before[field], mem_after[field]) + slack}
            if not off:
                break
            misses.append(off)
        else:
            self.fail('memory counters never matched /proc/meminfo (value, before, after): %s' % misses)
        for key in MEMINFO_OF:
            self.assertLessEqual(s1[key], s1['memory_total_kib'], key)
        # cpu times between the counters read around the call; idle and iowait
        # may step back a little (the kernel's NO_HZ accounting): a few ticks per cpu
        ncpu = os.sysconf('SC_NPROCESSORS_ONLN')
        for key in ticks_before:
            back = 0 if key.endswith(('user_ns', 'kernel_ns')) else 4 * (ncpu if key.startswith('cpu_') else 1)
            self.assertEqual(s1[key] % NS_PER_TICK, 0, key)
            self.assertGreaterEqual(s1[key], (ticks_before[key] - back) * NS_PER_TICK, key)
            self.assertLessEqual(s1[key], (ticks_after[key] + back) * NS_PER_TICK, key)
        self.assertGreater(s1['cpu_user_ns'] + s1['cpu_kernel_ns'] + s1['cpu_idle_ns'], 0)

        # time passes (a tick at least): the counters move on, never back
        busy_until = ticks_after['cpu_user_ns'] + ticks_after['cpu_kernel_ns']
        deadline = time.monotonic() + 60
        while cpu_ticks()['cpu_user_ns'] + cpu_ticks()['cpu_kernel_ns'] <= busy_until:
            self.assertLess(time.monotonic(), deadline, '/proc/stat did not move')
            sum(range(10000))
        s2 = self.stats()
        for key in ('cpu_user_ns', 'cpu_kernel_ns'):
            self.assertGreaterEqual(s2[key], s1[key], key)
        self.assertGreater(s2['cpu_user_ns'] + s2['cpu_kernel_ns'], s1['cpu_user_ns'] + s1['cpu_kernel_ns'])
        for key in ('cpu_idle_ns', 'cpu_iowait_ns'):
            self.assertGreaterEqual(s2[key], s1[key] - 4 * ncpu * NS_PER_TICK, key)
        self.assertEqual(s2['memory_total_kib'], s1['memory_total_kib'])


if __name__ == '__main__':
    main()
