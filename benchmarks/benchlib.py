# benchlib.py — the parts of benchmarks/run that are not measurements: processes, bus, vmgmtd, plain qemu.
#
# Imported by benchmarks/run only (Python 3, /usr/bin/python3). Everything it
# starts or creates is registered in CLEANUP and undone at exit.

import datetime
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

SRC = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
BUS_NAME = "org.vmgmt"

# ---------------------------------------------------------------- helpers


def log(msg):
    print("# " + msg, file=sys.stderr, flush=True)


def now():
    return time.monotonic_ns()


def median(v):
    return statistics.median(v) if v else None


class NotReady(Exception):
    """A vmgmt measurement that cannot run (service missing or failing); the row says why."""


class Cleanup:
    """Everything started or created, undone at exit in reverse order."""

    def __init__(self):
        self.procs = []      # Popen objects
        self.pids = []       # bare pids (daemons started by busbench)
        self.dirs = []
        self.mounts = []     # tmpfs mounted on ROOT/run
        self.funcs = []      # stop functions of what owns several processes (libvirtbench.LibvirtStack)
        self.done = False

    def run(self):
        if self.done:
            return
        self.done = True
        for f in reversed(self.funcs):
            f()
        for pid in reversed(self.pids):
            kill_wait(pid)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for d in self.dirs:
            for pid in pids_mentioning(d):
                kill_wait(pid)
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        for d in reversed(self.dirs):
            shutil.rmtree(d, ignore_errors=True)


CLEANUP = Cleanup()


def kill_wait(pid, timeout=5.0):
    """SIGTERM pid, SIGKILL after timeout, reap it if it is our child."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r, _ = os.waitpid(pid, os.WNOHANG)
            if r == pid:
                return
        except ChildProcessError:
            if not os.path.exists("/proc/%d" % pid) or proc_state(pid) == "Z":
                return
        time.sleep(0.005)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode() for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return None


def pids_mentioning(text):
    """Pids of processes whose command line mentions text (our temp dir): qemu left behind."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        cl = proc_cmdline(int(d))
        if cl and any(text in a for a in cl) and proc_state(int(d)) != "Z":
            out.append(int(d))
    return out


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout

# ---------------------------------------------------------------- build


def build(args):
    """Builds vmgmtd (unless --vmgmtd) and busbench; returns (vmgmtd path or None + reason, busbench)."""
    bdir = os.path.join(SRC, args.build_dir)
    reason = None
    vmgmtd = args.vmgmtd
    if not vmgmtd:
        if not os.path.isdir(os.path.join(bdir, "meson-private")):
            log("configuring %s (release, no tests)" % bdir)
            r = subprocess.run(["meson", "setup", bdir, "--buildtype=release", "-Dtests=false"],
                               cwd=SRC, capture_output=True, text=True)
            if r.returncode != 0:
                reason = "meson setup failed: " + last_line(r.stdout + r.stderr)
        if reason is None:
            log("building vmgmtd in %s" % bdir)
            cmd = ["meson", "compile", "-C", bdir, "vmgmtd"]
            r = subprocess.run(cmd, cwd=SRC, capture_output=True, text=True)
            if r.returncode != 0 and "target not found" in r.stdout + r.stderr:
                # the target list was read before meson regenerated the build: once more
                r = subprocess.run(cmd, cwd=SRC, capture_output=True, text=True)
            if r.returncode != 0:
                reason = "build failed: " + last_line(r.stdout + r.stderr)
        cand = os.path.join(bdir, "service", "vmgmtd")
        if reason:
            # an older binary may be there: it would measure code that is not the tree's
            log("not measuring vmgmt: " + reason)
        elif os.access(cand, os.X_OK):
            vmgmtd = cand
        else:
            reason = "no vmgmtd binary in %s/service (the service has not landed yet?)" % bdir

    os.makedirs(bdir, exist_ok=True)
    bb = os.path.join(bdir, "busbench")
    src = os.path.join(SRC, "benchmarks", "busbench.c")
    if not os.path.exists(bb) or os.path.getmtime(bb) < os.path.getmtime(src):
        flags = sh(["pkg-config", "--cflags", "--libs", "libsystemd"]).split()
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", src, "-o", bb] + flags,
                       check=True)
    return vmgmtd, reason, bb


def last_line(s):
    lines = [l for l in s.strip().splitlines() if l.strip()]
    err = [l for l in lines if "error" in l.lower()]
    return (err or lines or ["?"])[0][:200]

# ---------------------------------------------------------------- the private bus


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%(sock)s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
  <limit name="max_message_size">134217728</limit>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="reply_timeout">300000</limit>
</busconfig>
"""


def start_bus(tmp):
    sock = os.path.join(tmp, "system_bus_socket")
    conf = os.path.join(tmp, "bus.conf")
    with open(conf, "w") as f:
        f.write(BUS_CONFIG % {"sock": sock})
    with open(os.path.join(tmp, "dbus-daemon.log"), "w") as errf:
        p = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork", "--nopidfile", "--print-address"],
                             stdout=subprocess.PIPE, stderr=errf, text=True)
    CLEANUP.procs.append(p)
    addr = p.stdout.readline().strip()
    if not addr:
        raise SystemExit("dbus-daemon did not start")
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = addr
    return p

# ---------------------------------------------------------------- busbench


class Bench:
    def __init__(self, path):
        self.path = path

    def run(self, *argv, timeout=600):
        r = subprocess.run([self.path] + [str(a) for a in argv], capture_output=True, text=True, timeout=timeout)
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition(" ")
            out[k] = v
        if "error" in out or r.returncode != 0:
            raise NotReady(out.get("error") or (r.stderr.strip() or "busbench %s exited %d" % (argv[0], r.returncode)))
        return out

    def series(self, *argv, **kw):
        return [float(x) for x in self.run(*argv, **kw)["us"].split()]

# ---------------------------------------------------------------- vmgmtd


def domain_path(name):
    # sd_bus_path_encode(): every byte outside [A-Za-z0-9] becomes _XX
    enc = "".join(c if c.isalnum() and c.isascii() else "_%02x" % b
                  for c, b in zip(name, name.encode()))
    return "/org/vmgmt/domain/" + enc


class Vmgmtd:
    """One vmgmtd --root ROOT on the private bus, started through busbench (which times it)."""

    tmpfs_run = True   # ROOT/run on tmpfs, as /run is on a real system

    def __init__(self, binary, bench, root, log_level):
        self.binary, self.bench, self.root, self.log_level = binary, bench, root, log_level
        self.pid = None
        self.why = None
        self.log = os.path.join(root, "vmgmtd.log")

    def start(self, listing=False):
        """Starts vmgmtd (busbench startup); returns (exec → name owned, exec → first call) in µs.
        With listing the first call is followed by a GetManagedObjects (self.last["list_us"]:
        exec → answered; self.last["objects"])."""
        if not self.binary:
            raise NotReady(self.why or "vmgmtd not available")
        os.makedirs(self.root, exist_ok=True)
        run = os.path.join(self.root, "run")
        if self.tmpfs_run and run not in CLEANUP.mounts:
            os.makedirs(run, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "vmgmt-bench", run], check=True)
            CLEANUP.mounts.append(run)
        argv = [self.binary, "--system", "--root", self.root]
        if self.log_level:
            argv += ["--log-level", self.log_level]
        r = subprocess.run([self.bench.path, "startup", self.log] + (["list"] if listing else []) + ["--"] + argv,
                           capture_output=True, text=True, timeout=300)
        out = self.last = dict(l.partition(" ")[::2] for l in r.stdout.splitlines())
        if "pid" in out:
            self.pid = int(out["pid"])
            CLEANUP.pids.append(self.pid)
        if "error" in out or r.returncode != 0:
            err = out.get("error", r.stderr.strip())
            self.stop()
            raise NotReady("vmgmtd start: %s; log: %s" % (err, self.log_tail()))
        return float(out["owned_us"]), float(out["call_us"])

    def log_tail(self):
        try:
            with open(self.log) as f:
                lines = f.read().strip().splitlines()
            return " | ".join(lines[-3:])[:300]
        except OSError:
            return ""

    def stop(self):
        if self.pid:
            kill_wait(self.pid, 10)
            if self.pid in CLEANUP.pids:
                CLEANUP.pids.remove(self.pid)
            self.pid = None

    def rss_kib(self):
        return vm_rss_kib(self.pid)

# ---------------------------------------------------------------- plain qemu over QMP


class Qmp:
    def __init__(self, path, deadline):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.0002)
        self.buf = b""
        self.events = []
        self.greeting = self.read()

    def read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, cmd, **arguments):
        msg = {"execute": cmd}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def wait(self, event=None, want_return=True):
        """Reads until the return of the last command (and the named event) arrived; returns (ret, event_ns)."""
        ret, ev_ns = None, None
        got_ret = not want_return
        while not got_ret or (event and ev_ns is None):
            m = self.read()
            if "return" in m:
                ret, got_ret = m["return"], True
            elif "error" in m:
                raise RuntimeError("QMP error: %s" % m["error"])
            elif m.get("event") == event and ev_ns is None:
                ev_ns = now()
        return ret, ev_ns

    def command(self, cmd, event=None, **arguments):
        self.send(cmd, **arguments)
        return self.wait(event)[0]

    def close(self):
        self.sock.close()


def fallback_qemu_args(qmp):
    # Used only while vmgmtd cannot start a domain: the command line vmgmt's driver
    # is specified to build for DOMAIN_XML (qemu-command.h).
    return ["qemu-system-x86_64", "-name", "guest=bench", "-S", "-nodefaults", "-no-user-config",
            "-sandbox", "on", "-machine", "pc-i440fx-7.2,accel=tcg", "-m", "64", "-smp", "1",
            "-display", "none", "-no-shutdown",
            "-chardev", "socket,id=monitor,path=%s,server=on,wait=off" % qmp,
            "-mon", "chardev=monitor,mode=control"]


def qmp_path_in(argv):
    """The QMP socket path of a qemu command line (the chardev behind -mon mode=control, or -qmp unix:)."""
    ids = {}
    mon = None
    for i, a in enumerate(argv[:-1]):
        v = argv[i + 1]
        if a == "-chardev" and v.startswith("socket,"):
            kv = dict(p.split("=", 1) for p in re.split(r"(?<!,),(?!,)", v)[1:] if "=" in p)
            if "id" in kv and "path" in kv:
                ids[kv["id"]] = kv["path"].replace(",,", ",")
        if a == "-mon" and "mode=control" in v:
            m = re.search(r"chardev=([^,]+)", v)
            mon = m.group(1) if m else None
        if a == "-qmp" and v.startswith("unix:"):
            return v[5:].split(",")[0]
    return ids.get(mon)


class PlainQemu:
    """qemu started by hand with the arguments vmgmtd used, rebased into its own dir."""

    def __init__(self, argv, from_root, tmp):
        self.dir = tmp
        if from_root:
            argv = [a.replace(from_root, tmp) for a in argv]
        self.argv = argv
        self.qmp_path = qmp_path_in(argv)
        if not self.qmp_path:
            raise RuntimeError("no QMP socket found in qemu's arguments")
        for a in argv:
            for m in re.finditer(re.escape(tmp) + r"[^,]*", a):
                os.makedirs(os.path.dirname(m.group(0)), exist_ok=True)
        self.p = None
        self.qmp = None

    def start(self):
        """Spawn → QMP greeting → qmp_capabilities → cont → query-status running. Returns µs."""
        try:
            os.unlink(self.qmp_path)
        except FileNotFoundError:
            pass
        logf = open(os.path.join(self.dir, "plain-qemu.log"), "ab")
        t0 = now()
        # in a session of its own, as vmgmtd starts qemu (with autogroup scheduling a
        # session is what the CPU is shared between on a busy machine)
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, close_fds=True,
                                  start_new_session=True, cwd=self.dir)
        logf.close()
        CLEANUP.procs.append(self.p)
        self.qmp = Qmp(self.qmp_path, time.monotonic() + 30)
        self.qmp.command("qmp_capabilities")
        self.qmp.command("cont")
        st = self.qmp.command("query-status")
        dt = (now() - t0) / 1000
        if st.get("status") != "running":
            raise RuntimeError("plain qemu is %s, not running" % st)
        return dt

    def suspend_resume(self):
        """stop (return + STOP event) then cont (return + RESUME event). Returns (round trip µs, stop→STOP µs)."""
        t0 = now()
        self.qmp.send("stop")
        _, ev = self.qmp.wait("STOP")
        self.qmp.send("cont")
        self.qmp.wait("RESUME")
        return (now() - t0) / 1000, (ev - t0) / 1000

    def destroy(self):
        """SIGTERM → process gone (reaped). Returns µs."""
        t0 = now()
        self.p.terminate()
        self.p.wait()
        dt = (now() - t0) / 1000
        self.qmp.close()
        CLEANUP.procs.remove(self.p)
        return dt

# ---------------------------------------------------------------- output helpers


class LineReader:
    """Lines of a child's stdout with a timeout (select() on the raw fd, our own buffer)."""

    def __init__(self, f):
        self.fd = f.fileno()
        self.buf = b""

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "us":
        return "%.3f ms" % (v / 1000) if v >= 1000 else "%.0f µs" % v
    if unit == "kib":
        return "%.1f MB" % (v / 1024)
    if unit == "/s":
        return "%.0f /s" % v
    if unit == "ratio":
        return "%.2f×" % v
    return "%g %s" % (v, unit)


def fs_type(path):
    try:
        return sh(["findmnt", "-no", "FSTYPE", "-T", path]).strip()
    except Exception:
        return "?"


def load_avg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def busy_cores(sample=1.0):
    """CPU use of the whole machine and of qemu processes not ours, in cores, over `sample` seconds."""
    def total():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v) - v[3] - v[4]   # minus idle and iowait
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            cl = proc_cmdline(int(d))
            if cl and "qemu-system" in os.path.basename(cl[0]):
                pids.append(int(d))
    t0, q0 = total(), {p: cpu_ticks(p) for p in pids}
    time.sleep(sample)
    t1, q1 = total(), {p: cpu_ticks(p) for p in pids}
    hz = os.sysconf("SC_CLK_TCK")
    return len(pids), (t1 - t0) / hz / sample, sum(q1[p] - q0[p] for p in pids) / hz / sample


def machine_info():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        qv = sh(["qemu-system-x86_64", "--version"]).splitlines()[0]
    except Exception:
        qv = "qemu ?"
    try:
        commit = sh(["git", "-C", SRC, "rev-parse", "--short", "HEAD"]).strip()
    except Exception:
        commit = "?"
    load = load_avg()
    oq, used, qemu_used = busy_cores()
    return dict(load=load, other_qemu=oq, cores_busy=round(used, 2), other_qemu_cores=round(qemu_used, 2),
                busy=used > 0.2, host=platform.node(), cpu=cpu, cores=os.cpu_count(), kernel=platform.release(), qemu=qv,
                commit=commit, date=datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"))
