#!/usr/bin/python3
# auth_latency — per-check latency histogram of vmgmtd's polkit checks, from a
# vmgmtd log written with --log-level debug (the tests keep it with
# VMGMT_KEEP_TMP=1: /tmp/vmgmt-it-*/vmgmtd.log). Splits each check's time into
# waiting for a polkit slot (queued) and the CheckAuthorization round trip.
#
#   VMGMT_KEEP_TMP=1 meson test -C BUILD auth-polkit
#   /usr/bin/python3 tests/auth/auth_latency.py /tmp/vmgmt-it-*/vmgmtd.log
import re, sys
pat = re.compile(r'Authorization of \S+ by \S+ \((\S+)\) took ([\d.]+) ms \(queued ([\d.]+) ms, polkit ([\d.]+) ms\): (\w+)(.*)')
rows = []
for fn in sys.argv[1:]:
    for line in open(fn, errors='replace'):
        m = pat.search(line)
        if m:
            rows.append((m.group(1), float(m.group(2)), float(m.group(3)), float(m.group(4)), m.group(5), m.group(6)))
def pct(v, p):
    v = sorted(v); return v[min(len(v)-1, int(p*len(v)))] if v else 0
asked = sum(1 for fn in sys.argv[1:] for line in open(fn, errors='replace') if 'Asking polkit about ' in line)
print('checks:', len(rows), ' CheckAuthorization calls sent:', asked, ' timed out:', sum('did not answer' in r[5] for r in rows))
for name, idx in (('total', 1), ('queued', 2), ('polkit', 3)):
    v = [r[idx] for r in rows]
    print('%-7s p50 %8.1f  p90 %8.1f  p99 %8.1f  max %8.1f ms' % (name, pct(v,.5), pct(v,.9), pct(v,.99), max(v) if v else 0))
edges = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 1e9]
for name, idx in (('polkit round trip', 3), ('total', 1)):
    print(name, 'histogram (ms):')
    lo = 0
    for e in edges:
        n = sum(1 for r in rows if lo <= r[idx] < e)
        if n: print('  %6g-%-6g %4d %s' % (lo, e, n, '#' * min(n, 80)))
        lo = e
