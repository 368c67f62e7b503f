# libvirtbench.py — libvirt 9.0 as benchmarks/run's peer in sections a–e: a private libvirtd and a
# libvirt-dbus on the run's private bus, both in a mount namespace of their own, timed by the same
# busbench code as vmgmt (busbench --libvirt).
#
# Imported by benchmarks/run only. Every process it starts is stopped at exit (CLEANUP).

import os
import shutil
import subprocess

from benchlib import CLEANUP, NotReady, kill_wait, log, vm_rss_kib
from savebench import libvirt_config, virsh

# what the libvirt rows need, and the Debian packages that have it
LIBVIRT_PACKAGES = (("/usr/sbin/libvirtd", "libvirt-daemon"),
                    ("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so",
                     "libvirt-daemon-driver-qemu"),
                    ("/usr/bin/virsh", "libvirt-clients"),
                    ("/usr/sbin/libvirt-dbus", "libvirt-dbus"))


def ensure_libvirt():
    """Installs with apt-get what the libvirt rows need and is missing, saying so. Runs before the
    benchmark enters its network namespace (apt needs the network). Returns None, or why the
    libvirt rows will be n/a."""
    missing = [pkg for path, pkg in LIBVIRT_PACKAGES if not os.path.exists(path)]
    if not missing:
        return None
    log("libvirt rows: installing %s (apt-get install --no-install-recommends)" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + missing
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return "apt-get install %s failed: %s" % (" ".join(missing), (r.stderr or r.stdout).strip()[-160:])
    return None


def libvirt_domain_path(uuid):
    # libvirt-dbus names a domain by its UUID, each byte outside [A-Za-z0-9] as _XX
    return "/org/libvirt/QEMU/domain/_" + uuid.replace("-", "_")


class LibvirtStack:
    """libvirtd + libvirt-dbus as a desktop or fleet client of libvirt meets them: libvirt-dbus on
    the run's bus (DBUS_SYSTEM_BUS_ADDRESS) connected to libvirtd's qemu:///system. A holder
    process keeps a mount namespace (savebench.libvirt_config: tmpfs on /run/libvirt and the other
    state dirs, a private /etc/libvirt with no autostarted network or domain) that outlives daemon
    restarts, as /run and /var/lib do on a real system; both daemons are entered into it with
    nsenter, libvirtd with its socket at the default /run/libvirt/libvirt-sock (libvirt-dbus always
    connects to qemu:///system)."""

    def __init__(self, bench, tmp, name="libvirt-peer"):
        self.bench, self.dir = bench, os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        script = libvirt_config(self.dir)
        etc = os.path.join(self.dir, "etc")
        # no default network (vmgmtd runs without its own), no domains of the host's
        for sub in ("qemu/networks/autostart", "qemu/autostart"):
            shutil.rmtree(os.path.join(etc, sub), ignore_errors=True)
        qdir = os.path.join(etc, "qemu")
        for f in os.listdir(qdir) if os.path.isdir(qdir) else ():
            if f.endswith(".xml"):
                os.unlink(os.path.join(qdir, f))
        script += ["echo ready", "exec sleep infinity"]
        self.holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", "; ".join(script)],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True)
        CLEANUP.procs.append(self.holder)
        if self.holder.stdout.readline().strip() != b"ready":
            raise NotReady("libvirt's mount namespace could not be set up")
        self.log = os.path.join(self.dir, "daemons.log")
        self.uri = "qemu+unix:///system?socket=/proc/%d/root/run/libvirt/libvirt-sock" % self.holder.pid
        self.dbus_pid = None

    def argv(self):
        enter = "nsenter -t %d -m -- " % self.holder.pid
        return ["/bin/sh", "-c", "%s/usr/sbin/libvirtd & exec %s/usr/sbin/libvirt-dbus --system" % (enter, enter)]

    def start(self, listing=False):
        """Starts libvirtd and libvirt-dbus at once (busbench startup: exec → org.libvirt owned,
        → Connect.Version answered, with listing → every domain listed). Returns busbench's output."""
        r = subprocess.run([self.bench.path, "--libvirt", "startup", self.log] + (["list"] if listing else []) +
                           ["--"] + self.argv(), capture_output=True, text=True, timeout=600)
        out = dict(line.partition(" ")[::2] for line in r.stdout.splitlines())
        if "pid" in out:
            self.dbus_pid = int(out["pid"])
        if "error" in out or r.returncode != 0:
            err = out.get("error", r.stderr.strip())
            self.stop()
            raise NotReady("libvirtd + libvirt-dbus start: %s; log: %s" % (err, self.log_tail()))
        return out

    def log_tail(self):
        try:
            with open(self.log) as f:
                return " | ".join(f.read().strip().splitlines()[-3:])[:300]
        except OSError:
            return ""

    def pids(self):
        """Every process in the namespace but the holder: the daemons and libvirt's qemu."""
        mine = os.readlink("/proc/%d/ns/mnt" % self.holder.pid)
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit() and int(d) != self.holder.pid:
                try:
                    if os.readlink("/proc/%s/ns/mnt" % d) == mine:
                        out.append(int(d))
                except OSError:
                    pass
        return out

    def daemon_pid(self, name):
        for pid in self.pids():
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().strip() == name:
                        return pid
            except OSError:
                pass
        return None

    def rss_kib(self):
        """VmRSS of libvirtd plus libvirt-dbus (what serves a bus client), in KiB."""
        pids = [self.daemon_pid("libvirtd"), self.daemon_pid("libvirt-dbus")]
        if None in pids:
            raise NotReady("libvirtd or libvirt-dbus is not running")
        return sum(vm_rss_kib(p) for p in pids)

    def stop(self, everything=False):
        """Stops both daemons (qemu processes too if everything)."""
        for name in ("libvirt-dbus", "libvirtd"):
            pid = self.daemon_pid(name)
            if pid:
                kill_wait(pid, 10)
        if self.dbus_pid:
            kill_wait(self.dbus_pid)   # reaps the sh → nsenter → libvirt-dbus child of busbench
            self.dbus_pid = None
        if everything:
            for pid in self.pids():
                kill_wait(pid)

    def close(self):
        if self.holder.poll() is None:
            self.stop(everything=True)
            kill_wait(self.holder.pid)
            self.holder.wait()
        if self.holder in CLEANUP.procs:
            CLEANUP.procs.remove(self.holder)

    def virsh(self, *args, check=True, timeout=120):
        return virsh(*args, check=check, timeout=timeout, uri=self.uri)

    def domain_path(self, name):
        uuid = self.virsh("domuuid", name).stdout.strip()
        return libvirt_domain_path(uuid)


def open_stack(bench, tmp, why):
    """The libvirt peer, started, or None and the reason (logged) when it cannot run."""
    if why:
        return None, why
    try:
        lv = LibvirtStack(bench, tmp)
        CLEANUP.funcs.append(lv.close)
        lv.start()
        return lv, None
    except (NotReady, OSError, subprocess.SubprocessError) as e:
        log("libvirt rows will be n/a: %s" % e)
        return None, str(e)

