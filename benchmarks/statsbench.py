# statsbench.py — benchmarks/run --only stats: a frontend polling every running domain's statistics once a
# second. N paused TCG domains (each qemu costs memory: N is what fits, --stats-domains), polled with
# Manager.GetAllDomainStats (every group) for a while: vmgmtd's CPU share and the call's latency; side by
# side with libvirt 9.0's `virsh domstats` (the same N domains, created paused, against a private libvirtd,
# savebench.py's recipe): libvirtd's CPU share and virsh's latency.
#
# Imported by benchmarks/run only. Every process and mount it makes is registered in CLEANUP.

import os
import subprocess
import time

from benchlib import CLEANUP, NotReady, cpu_ticks, kill_wait, log, median, now, pids_mentioning
from savebench import Libvirtd

DOMAIN_XML = """<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><memballoon model='virtio'/></devices>
</domain>
"""
WAIT = 300   # bounds N starts on a loaded machine


def hz():
    return os.sysconf("SC_CLK_TCK")


def poll_for(seconds, call, pid):
    """Calls call() once a second for `seconds`; returns (latencies in µs, CPU share of pid in % of one core)."""
    lat = []
    t_start, c_start = time.monotonic(), cpu_ticks(pid)
    next_t = t_start
    while time.monotonic() - t_start < seconds:
        t0 = now()
        call()
        lat.append((now() - t0) / 1000)
        next_t += 1.0
        time.sleep(max(0.0, next_t - time.monotonic()))
    wall = time.monotonic() - t_start
    return lat, (cpu_ticks(pid) - c_start) / hz() / wall * 100


def measure_vmgmt(vm, n, seconds):
    import dbus   # python3-dbus, Debian's: benchmarks/run runs under /usr/bin/python3

    vm.start()
    bus = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
    mgr = dbus.Interface(bus.get_object("org.vmgmt", "/org/vmgmt"), "org.vmgmt.Manager")
    empty = dbus.Dictionary({}, signature="sv")
    paths = []
    for i in range(n):
        p = mgr.CreateDomain(DOMAIN_XML % ("st%d" % i), dbus.Dictionary({"paused": True}, signature="sv"),
                             timeout=WAIT)
        paths.append(p)
    deadline = time.monotonic() + WAIT
    for p in paths:
        props = dbus.Interface(bus.get_object("org.vmgmt", p), "org.freedesktop.DBus.Properties")
        while str(props.Get("org.vmgmt.Domain", "State")) != "paused":
            if time.monotonic() > deadline:
                raise NotReady("domain %s did not pause" % p)
            time.sleep(0.05)
    answer = mgr.GetAllDomainStats(dbus.Array([], signature="s"), empty, timeout=WAIT)
    keys = sum(len(s) for _, s in answer)
    if len(answer) != n or any("incomplete" in s for _, s in answer):
        raise NotReady("GetAllDomainStats answered %d of %d domains in full" % (
            sum("incomplete" not in s for _, s in answer), n))
    lat, cpu = poll_for(seconds, lambda: mgr.GetAllDomainStats(dbus.Array([], signature="s"), empty, timeout=WAIT),
                        vm.pid)
    return lat, cpu, keys


def measure_libvirt(tmp, n, seconds):
    lv = Libvirtd(tmp)
    d = os.path.join(tmp, "libvirt-stats")
    os.makedirs(d, exist_ok=True)
    try:
        for i in range(n):
            xml = os.path.join(d, "lv%d.xml" % i)
            with open(xml, "w") as f:
                f.write(DOMAIN_XML % ("lv%d" % i))
            lv.virsh("create", "--paused", xml, timeout=WAIT)
        out = lv.virsh("domstats", timeout=WAIT).stdout
        keys = sum(1 for line in out.splitlines() if "=" in line)
        lat, cpu = poll_for(seconds, lambda: lv.virsh("domstats", timeout=WAIT), lv.p.pid)
        return lat, cpu, keys
    finally:
        for i in range(n):
            lv.virsh("destroy", "lv%d" % i, check=False)
        lv.stop()


def measure_stats(res, vm, tmp, n, seconds):
    sec = "g"
    metric = "GetAllDomainStats of %d paused domains, 1/s: vmgmtd CPU" % n
    lv_lat = lv_cpu = lv_keys = None
    try:
        log("stats: libvirt (virsh domstats, %d paused domains, %d s)" % (n, seconds))
        lv_lat, lv_cpu, lv_keys = measure_libvirt(tmp, n, seconds)
    except (NotReady, subprocess.TimeoutExpired) as e:
        lv_err = e
    else:
        lv_err = None
    for m in pids_mentioning(os.path.join(tmp, "libvirt")):
        kill_wait(m)
    try:
        log("stats: vmgmt (GetAllDomainStats, %d paused domains, %d s)" % (n, seconds))
        lat, cpu, keys = measure_vmgmt(vm, n, seconds)
    except Exception as e:   # a missing method is a D-Bus error: the row says so
        res.fail(sec, metric, "%", e, lv_cpu, "libvirtd, virsh domstats")
        res.fail(sec, "  GetAllDomainStats latency", "us", e, median(lv_lat) if lv_lat else None, "virsh domstats")
        return
    finally:
        vm.stop()
        for m in pids_mentioning(vm.root):
            kill_wait(m)
    # the PERFORMANCE.md aim: 1,000 domains at a few % of one core, i.e. about 0.005 % per domain
    res.add(sec, metric, "%", round(cpu, 2), round(lv_cpu, 2) if lv_cpu is not None else None,
            "libvirtd, virsh domstats", "≤ %.1f %% (5 %% per 1,000)" % (5.0 * n / 1000),
            lambda a, b: a <= 5.0 * n / 1000, note=str(lv_err or ""))
    res.add(sec, "  GetAllDomainStats latency (%d domains, %d keys)" % (n, keys), "us", median(lat),
            median(lv_lat) if lv_lat else None, "virsh domstats, %s keys" % lv_keys, "", None, samples=lat,
            ref_samples=lv_lat)
    if lv_err:
        res.fail(sec, "  libvirt 9.0: virsh domstats", "us", lv_err)
