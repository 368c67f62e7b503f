# migratebench.py — benchmarks/run --only migrate: live migration of a booted guest whose RAM holds
# FILL_MIB of random data between two network namespaces joined by a veth pair (host A: the run's
# own namespace, host B: a child's), each with its own bus and vmgmtd: the total time (Migrate called
# → the guest running on B) and the downtime qemu reports, next to the floor of plain qemu driven over
# QMP (migrate to tcp: into a qemu -incoming on B, cont there), and libvirt 9.0's `virsh migrate
# --live` between two private libvirtds, one per host (savebench.Libvirtd: each in a mount namespace
# of its own, with its own unix socket and host UUID; B's in B's network namespace).
#
# Imported by benchmarks/run only; everything it starts is registered in CLEANUP.

import os
import subprocess
import time

from benchlib import BUS_CONFIG, CLEANUP, NotReady, kill_wait, log, median, now
from savebench import (MEMORY_MIB, Libvirtd, PlainGuest, SerialConsole, boot_and_fill, build_guest, check_alive,
                       domain_xml)

ADDR_A, ADDR_B = "10.231.78.1", "10.231.78.2"
MIGRATE_TIMEOUT = 600
PLAIN_PORT = 49300


class HostB:
    """B's network namespace (a holder process) and the veth between A and B."""

    def __init__(self):
        # a mount namespace too: B's vmgmtd would make the same cgroup as A's for the same UUID (one
        # machine), so B sees an empty /sys/fs/cgroup (its qemu runs without a cgroup of its own)
        self.holder = subprocess.Popen(["unshare", "-n", "-m", "--propagation", "private", "--", "sleep", "infinity"],
                                       stdin=subprocess.DEVNULL)
        CLEANUP.procs.append(self.holder)
        mine = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 60
        while os.readlink("/proc/%d/ns/net" % self.holder.pid) == mine:
            if time.monotonic() > deadline:
                raise NotReady("the second network namespace did not come up")
            time.sleep(0.01)
        run = lambda *a: subprocess.run(list(a), check=True)  # noqa: E731
        run("ip", "link", "add", "migb0", "type", "veth", "peer", "name", "migb1", "netns", str(self.holder.pid))
        run("ip", "addr", "add", ADDR_A + "/24", "dev", "migb0")
        run("ip", "link", "set", "migb0", "up")
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", ADDR_B + "/24", "dev", "migb1"],
                    ["ip", "link", "set", "migb1", "up"]):
            run(*(self.prefix() + cmd))
        if os.path.isdir("/sys/fs/cgroup"):
            run(*(self.prefix() + ["mount", "-t", "tmpfs", "-o", "size=1m", "no-cgroups", "/sys/fs/cgroup"]))

    def prefix(self):
        return ["nsenter", "-t", str(self.holder.pid), "-n", "-m", "--"]

    def net_prefix(self):
        """Into B's network namespace only (for a process that makes its own mount namespace)."""
        return ["nsenter", "-t", str(self.holder.pid), "-n", "--"]


def start_bus_b(tmp):
    d = os.path.join(tmp, "bus-b")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "bus.conf")
    with open(conf, "w") as f:
        f.write(BUS_CONFIG % {"sock": os.path.join(d, "system_bus_socket")})
    with open(os.path.join(d, "dbus-daemon.log"), "w") as errf:
        p = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork", "--nopidfile", "--print-address"],
                             stdout=subprocess.PIPE, stderr=errf, text=True)
    CLEANUP.procs.append(p)
    addr = p.stdout.readline().strip()
    if not addr:
        raise NotReady("the second dbus-daemon did not start")
    return addr


def start_vmgmtd_b(binary, host, tmp, address, log_level):
    import dbus
    root = os.path.join(tmp, "migroot-b")
    os.makedirs(root, exist_ok=True)
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address, VMGMT_DEFAULT_NETWORK="0")
    logf = open(os.path.join(root, "vmgmtd.log"), "ab")
    p = subprocess.Popen(host.prefix() + [binary, "--system", "--root", root, "--log-level", log_level],
                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env)
    CLEANUP.procs.append(p)
    bus = dbus.bus.BusConnection(address)
    deadline = time.monotonic() + 120
    while not bus.name_has_owner("org.vmgmt"):
        if p.poll() is not None or time.monotonic() > deadline:
            raise NotReady("vmgmtd on B did not come up (see %s/vmgmtd.log)" % root)
        time.sleep(0.02)
    return p, bus


def measure_plain(tmp, guest, reps):
    """qemu on A → a qemu -incoming tcp on B (nsenter): migrate until completed, cont there."""
    a = PlainGuest(tmp, guest)
    total, downtime = [], []
    try:
        a.spawn([])
        boot_and_fill(a.serial).close()
        for i in range(reps):
            b = PlainGuest(os.path.join(tmp, "plain-b"), guest)
            b.argv = HostB.prefix(HOST) + b.argv
            port = PLAIN_PORT + i
            # the destination's qemu start counts, as PrepareMigration's does in vmgmt's total
            t0 = now()
            b.spawn(["-incoming", "tcp:%s:%d" % (ADDR_B, port), "-S"])
            a.qmp.command("migrate-set-parameters", **{"max-bandwidth": 1 << 50})
            a.qmp.command("migrate", uri="tcp:%s:%d" % (ADDR_B, port))
            a.wait_migration()
            info = a.qmp.command("query-migrate")
            while b.qmp.command("query-migrate").get("status") != "completed":
                time.sleep(0.002)
            b.qmp.command("cont")
            while b.qmp.command("query-status").get("status") != "running":
                time.sleep(0.002)
            total.append((now() - t0) / 1000)
            downtime.append(float(info.get("downtime", 0)) * 1000)
            check_alive(b.serial)
            b.stop_process()
            a.qmp.command("cont")   # A's guest goes on for the next round
    finally:
        a.stop_process()
    return total, downtime


HOST = None


def measure_vmgmt(vm, tmp, guest, reps, host, log_level):
    import dbus
    vm.start()
    addr_b = start_bus_b(tmp)
    pb, bus_b = start_vmgmtd_b(vm.binary, host, tmp, addr_b, log_level)
    bus_a = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
    opts = dbus.Dictionary({}, signature="sv")
    total, downtime = [], []

    def iface(bus, path, name):
        return dbus.Interface(bus.get_object("org.vmgmt", path), name)

    def state(bus, path):
        return str(iface(bus, path, "org.freedesktop.DBus.Properties").Get("org.vmgmt.Domain", "State"))

    def migrate(src, dst_bus, dst_addr, path, listen):
        t0 = now()
        job = iface(src, path, "org.vmgmt.Domain").Migrate(dst_addr, dbus.Dictionary(
            {"live": True, "listen_address": listen}, signature="sv"))
        jp = iface(src, job, "org.freedesktop.DBus.Properties")
        while True:
            st = str(jp.Get("org.vmgmt.Job", "State"))
            if st == "completed":
                break
            if st != "running":
                raise NotReady("vmgmt migration %s: %s" % (st, jp.Get("org.vmgmt.Job", "Error")))
            time.sleep(0.002)
        while state(dst_bus, path) != "running":
            time.sleep(0.002)
        t = (now() - t0) / 1000
        info = jp.Get("org.vmgmt.Job", "Info")
        return t, float(info.get("downtime_ms", 0)) * 1000

    try:
        mgr = iface(bus_a, "/org/vmgmt", "org.vmgmt.Manager")
        path = mgr.CreateDomain(domain_xml("vmmig", guest), opts)
        dom = iface(bus_a, path, "org.vmgmt.Domain")
        boot_and_fill(con=SerialConsole(fd=dom.OpenConsole("", opts).take())).close()
        for i in range(reps):
            t, d = migrate(bus_a, bus_b, addr_b, path, ADDR_B)
            total.append(t)
            downtime.append(d)
            check_alive(con=SerialConsole(fd=iface(bus_b, path, "org.vmgmt.Domain").OpenConsole("", opts).take()))
            # and back, for the next round (not counted)
            migrate(bus_b, bus_a, os.environ["DBUS_SYSTEM_BUS_ADDRESS"], path, ADDR_A)
        iface(bus_a, path, "org.vmgmt.Domain").Destroy(opts)
    finally:
        vm.stop()
        kill_wait(pb.pid)
    return total, downtime


LV_SERIAL = "/run/libvirt/bench-serial.sock"   # on each libvirtd's own tmpfs: A's and B's qemu never share it


def measure_libvirt(tmp, guest, reps, host):
    """virsh migrate --live from A's libvirtd to B's (each in a mount namespace of its own; B's in B's
    network namespace, without cgroups as B's vmgmtd) with --migrateuri tcp://B: total = the wall
    time of virsh migrate (it returns once the guest runs on B); downtime = A's domjobinfo --completed."""
    lv_a = Libvirtd(tmp, "libvirt-a", host_uuid="8d3c5d2e-6a7b-4c11-9e0f-00000000000a")
    lv_b = None
    total, downtime = [], []
    try:
        lv_b = Libvirtd(tmp, "libvirt-b", netns_prefix=host.net_prefix(),
                        host_uuid="8d3c5d2e-6a7b-4c11-9e0f-00000000000b", cgroups=False)
        xml = os.path.join(lv_a.dir, "dom.xml")
        with open(xml, "w") as f:
            f.write(domain_xml("lvmig", guest, LV_SERIAL))
        # persistent on A: its completed job's statistics stay there once the guest has left
        lv_a.virsh("define", xml)
        lv_a.virsh("start", "lvmig")
        boot_and_fill(lv_a.path(LV_SERIAL)).close()
        for i in range(reps):
            t0 = now()
            lv_a.virsh("migrate", "--live", "lvmig", lv_b.uri, "--migrateuri", "tcp://" + ADDR_B,
                       timeout=MIGRATE_TIMEOUT)
            t = (now() - t0) / 1000
            st = lv_b.virsh("domstate", "lvmig").stdout.strip()
            if st != "running":
                raise NotReady("libvirt: lvmig is %r on B after virsh migrate" % st)
            total.append(t)
            downtime.append(job_downtime_us(lv_a, lv_b))
            check_alive(lv_b.path(LV_SERIAL))
            # and back, for the next round (not counted)
            lv_b.virsh("migrate", "--live", "lvmig", lv_a.uri, "--migrateuri", "tcp://" + ADDR_A,
                       timeout=MIGRATE_TIMEOUT)
        lv_a.virsh("destroy", "lvmig", check=False)
        lv_a.virsh("undefine", "lvmig", check=False)
    finally:
        for lv in (lv_b, lv_a):
            if lv:
                lv.stop()
    return total, downtime


def job_downtime_us(*hosts):
    """'Total downtime: N ms' of the completed migration job (the source's, else the destination's)."""
    for i, lv in enumerate(hosts):
        r = lv.virsh("domjobinfo", "--completed", "lvmig", check=False)
        for line in r.stdout.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == "Total downtime":
                if i:
                    log("migrate: libvirt's downtime read on the destination (the source had none)")
                return float(v.split()[0]) * 1000
    raise NotReady("libvirt: no 'Total downtime' in virsh domjobinfo --completed (%s)" % r.stdout.strip()[:120])


def measure_migrate(res, vm, tmp, reps, log_level="warning"):
    global HOST
    sec = "g"
    try:
        guest = build_guest(tmp)
        HOST = HostB()
    except (NotReady, subprocess.CalledProcessError) as e:
        for metric in ("Live migration total", "Live migration downtime"):
            res.fail(sec, metric, "us", e)
        return
    log("migrate: plain qemu over QMP (%d MiB guest with random data, A → B over a veth)" % MEMORY_MIB)
    try:
        q_total, q_down = measure_plain(tmp, guest, reps)
    except (NotReady, OSError) as e:
        q_total, q_down = [], []
        log("migrate: plain qemu failed: %s" % e)
    lv_err = vm_err = None
    try:
        log("migrate: libvirt (virsh migrate --live between two private libvirtds)")
        lv_total, lv_down = measure_libvirt(tmp, guest, reps, HOST)
    except (NotReady, OSError, subprocess.SubprocessError) as e:
        lv_err, lv_total, lv_down = e, [], []
    try:
        log("migrate: vmgmt (Domain.Migrate to the other vmgmtd's bus)")
        v_total, v_down = measure_vmgmt(vm, tmp, guest, reps, HOST, log_level)
    except Exception as e:
        vm_err, v_total, v_down = e, [], []
    label = "plain qemu: migrate tcp: + cont"
    for metric, v, ref, lv in (("Live migration total (Migrate → running on B)", v_total, q_total, lv_total),
                               ("Live migration downtime (qemu's)", v_down, q_down, lv_down)):
        ref_m = median(ref) if ref else None
        if v:
            res.add(sec, metric, "us", median(v), ref_m, label, "≤ 1.25 × plain (total)"
                    if "total" in metric else "", (lambda a, b: b is None or a <= 1.25 * b) if "total" in metric
                    else None, samples=v, ref_samples=ref)
        else:
            res.fail(sec, metric, "us", vm_err or "no samples", ref_m, label, "")
        lv_metric = "  libvirt 9.0: virsh migrate --live " + ("(total)" if "total" in metric else "(downtime)")
        if lv:
            res.add(sec, lv_metric, "us", median(lv), ref_m, label, "", None, samples=lv, ref_samples=ref)
        else:
            res.fail(sec, lv_metric, "us", lv_err or "no samples", ref_m, label, "")
