# savebench.py — benchmarks/run --only save: Save and Restore of a booted guest whose RAM holds
# FILL_MIB of random data, with vmgmt, with plain qemu driven over QMP (the floor: `stop` +
# `migrate` to an fd, and a fresh qemu with `-incoming defer` + `migrate-incoming` + `cont`)
# and with libvirt 9.0 (`virsh save` / `virsh restore` against a private libvirtd) in one run.
#
# Imported by benchmarks/run only. Every process, mount and file it makes is registered in
# CLEANUP. The guest is tools/build-guest's busybox guest; its serial console is a unix
# socket in plain qemu and libvirt and a pty reached through Domain.OpenConsole in vmgmt, and
# the same code boots it and fills its memory in all three.

import array
import json
import os
import select
import shlex
import socket
import subprocess
import time

from benchlib import CLEANUP, SRC, NotReady, Qmp, domain_path, kill_wait, log, median, now, pids_mentioning

MEMORY_MIB = 256
FILL_MIB = 128          # random bytes written to the guest's RAM-backed /tmp: what a save must carry
BOOT_TIMEOUT = 240      # TCG on a loaded machine
SAVE_TIMEOUT = 600
READY = b"vmgmt-guest ready"


def build_guest(tmp):
    out = os.path.join(tmp, "guest")
    os.makedirs(out, exist_ok=True)
    r = subprocess.run([os.path.join(SRC, "tools", "build-guest"), out], capture_output=True, text=True)
    if r.returncode != 0:
        raise NotReady("tools/build-guest failed: " + (r.stderr or r.stdout).strip()[-200:])
    with open(os.path.join(out, "cmdline")) as f:
        return {"kernel": os.path.join(out, "vmlinuz"), "initrd": os.path.join(out, "initrd.img"),
                "cmdline": f.read().strip()}


def domain_xml(name, guest, serial_path=None, uuid=None):
    return """<domain type='qemu'>
  <name>%s</name>%s
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>%s</kernel><initrd>%s</initrd><cmdline>%s</cmdline></os>
  <features><acpi/><apic/></features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    %s
    <memballoon model='none'/>
  </devices>
</domain>
""" % (name, "\n  <uuid>%s</uuid>" % uuid if uuid else "", MEMORY_MIB, guest["kernel"], guest["initrd"],
       guest["cmdline"],
       "<serial type='unix'><source mode='bind' path='%s'/><target port='0'/></serial>" % serial_path if serial_path
       else "<serial type='pty'><target port='0'/></serial>")


# ---------------------------------------------------------------- the guest's console


class SerialConsole:
    """The guest's serial console: a unix socket qemu listens on (path), or an fd (vmgmt's OpenConsole)."""

    def __init__(self, path=None, timeout=60, fd=None):
        self.sock = None
        if fd is not None:
            self.fd = fd
        else:
            deadline = time.monotonic() + timeout
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            while True:
                try:
                    self.sock.connect(path)
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    if time.monotonic() > deadline:
                        raise NotReady("no serial console at " + path)
                    time.sleep(0.05)
            self.fd = self.sock.fileno()
        self.buf = b""

    def wait_for(self, needle, timeout):
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NotReady("guest console never printed %r (last: %r)" % (needle, self.buf[-200:]))
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise NotReady("guest console closed")
            self.buf += chunk
        self.buf = self.buf[self.buf.index(needle) + len(needle):]

    def run(self, command, done_marker, timeout):
        os.write(self.fd, command.encode() + b"\n")
        self.wait_for(done_marker, timeout)

    def close(self):
        if self.sock:
            self.sock.close()
        else:
            os.close(self.fd)


def boot_and_fill(serial_path=None, con=None):
    """Waits for the guest to be ready, fills FILL_MIB of its RAM; returns the console."""
    con = con or SerialConsole(serial_path, BOOT_TIMEOUT)
    con.wait_for(READY, BOOT_TIMEOUT)
    con.run("dd if=/dev/urandom of=/tmp/fill bs=1M count=%d 2>/dev/null; echo FILL''ED" % FILL_MIB, b"FILLED",
            BOOT_TIMEOUT)
    return con


def check_alive(serial_path=None, con=None):
    """After a restore: the guest answers on its console and its /tmp/fill is still there."""
    con = con or SerialConsole(serial_path, 30)
    con.run("ls -l /tmp/fill && echo ALI''VE", b"ALIVE", 60)
    con.close()


# ---------------------------------------------------------------- plain qemu over QMP


class PlainGuest:
    def __init__(self, tmp, guest):
        self.dir = os.path.join(tmp, "plain-save")
        os.makedirs(self.dir, exist_ok=True)
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        self.serial = os.path.join(self.dir, "serial.sock")
        self.argv = ["qemu-system-x86_64", "-name", "guest=plainsave", "-nodefaults", "-no-user-config",
                     "-machine", "pc,accel=tcg", "-m", str(MEMORY_MIB), "-smp", "1", "-display", "none",
                     "-kernel", guest["kernel"], "-initrd", guest["initrd"], "-append", guest["cmdline"],
                     "-chardev", "socket,id=ser0,path=%s,server=on,wait=off" % self.serial,
                     "-serial", "chardev:ser0",
                     "-chardev", "socket,id=mon,path=%s,server=on,wait=off" % self.qmp_path,
                     "-mon", "chardev=mon,mode=control"]
        self.p = None
        self.qmp = None

    def spawn(self, extra):
        for f in (self.qmp_path, self.serial):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
        logf = open(os.path.join(self.dir, "qemu.log"), "ab")
        self.p = subprocess.Popen(self.argv + extra, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                  start_new_session=True)
        CLEANUP.procs.append(self.p)
        self.qmp = Qmp(self.qmp_path, time.monotonic() + 60)
        self.qmp.command("qmp_capabilities")

    def send_fd(self, name, fd):
        # getfd takes the descriptor that comes with the command (SCM_RIGHTS)
        msg = json.dumps({"execute": "getfd", "arguments": {"fdname": name}}).encode() + b"\n"
        self.qmp.sock.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
        self.qmp.wait()

    def wait_migration(self):
        while True:
            st = self.qmp.command("query-migrate").get("status")
            if st == "completed":
                return
            if st in ("failed", "cancelled"):
                raise NotReady("plain qemu migration " + st)
            time.sleep(0.002)

    def stop_process(self):
        if self.p:
            self.qmp.close()
            kill_wait(self.p.pid)
            CLEANUP.procs.remove(self.p)
            self.p = None

    def save(self, path):
        """stop + migrate to an fd until completed, then the process goes (as a save does). Returns µs."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        t0 = now()
        self.qmp.command("stop")
        # unthrottled, as libvirt and vmgmt save (qemu's default max-bandwidth is 128 MiB/s, for
        # migrations over a network): else the floor measures the throttle
        self.qmp.command("migrate-set-parameters", **{"max-bandwidth": 1 << 50})
        self.send_fd("save", fd)
        os.close(fd)
        self.qmp.command("migrate", uri="fd:save")
        self.wait_migration()
        t = (now() - t0) / 1000
        self.stop_process()
        return t

    def restore(self, path):
        """A fresh qemu -incoming defer, migrate-incoming from the file, cont → running. Returns µs."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        t0 = now()
        self.spawn(["-incoming", "defer"])
        self.send_fd("restore", fd)
        os.close(fd)
        self.qmp.command("migrate-incoming", uri="fd:restore")
        self.wait_migration()
        self.qmp.command("cont")
        while self.qmp.command("query-status").get("status") != "running":
            time.sleep(0.002)
        return (now() - t0) / 1000


def measure_plain(tmp, guest, reps):
    g = PlainGuest(tmp, guest)
    save_us, restore_us, sizes = [], [], []
    try:
        g.spawn([])
        boot_and_fill(g.serial).close()
        for i in range(reps):
            path = os.path.join(g.dir, "plain.save")
            save_us.append(g.save(path))
            sizes.append(os.path.getsize(path))
            restore_us.append(g.restore(path))
            check_alive(g.serial)
            os.unlink(path)
    finally:
        g.stop_process()
    return save_us, restore_us, sizes


# ---------------------------------------------------------------- libvirt 9.0


LIBVIRT_DIRS = ("/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt")


class Libvirtd:
    """A libvirtd of its own in a mount namespace of its own (unshare -m; optionally entered through
    netns_prefix, e.g. nsenter into another network namespace): tmpfs on its state dirs, a qemu.conf
    that runs qemu as root without a security driver (as vmgmt's comparison needs no relabelling),
    the libvirt-qemu user its driver insists on in a private copy of /etc/passwd, its unix socket
    and pid file under TMP/NAME (so that two can run at once), host_uuid if given (libvirt refuses
    to migrate to a host with its own UUID), and without cgroups if cgroups is false (no cgroup
    mounts). Everything it mounts vanishes with its namespace."""

    def __init__(self, tmp, name="libvirt", netns_prefix=(), host_uuid=None, cgroups=True):
        if not os.path.exists("/usr/sbin/libvirtd"):
            raise NotReady("libvirtd is not installed (apt-get install libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)")
        self.dir = d = os.path.join(tmp, name)
        sock = os.path.join(d, "sock")
        os.makedirs(sock, exist_ok=True)
        script = libvirt_config(d, sock, host_uuid, cgroups)
        self.uri = "qemu+unix:///system?socket=" + os.path.join(sock, "libvirt-sock")
        script.append("exec /usr/sbin/libvirtd -p %s" % shlex.quote(os.path.join(d, "libvirtd.pid")))
        logf = open(os.path.join(d, "libvirtd.log"), "ab")
        self.p = subprocess.Popen(list(netns_prefix) + ["unshare", "-m", "--propagation", "private", "sh", "-c",
                                                        "; ".join(script)],
                                  stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True)
        CLEANUP.procs.append(self.p)
        deadline = time.monotonic() + 60
        while self.virsh("version", check=False).returncode != 0:
            if time.monotonic() > deadline or self.p.poll() is not None:
                raise NotReady("libvirtd did not come up (see %s/libvirtd.log)" % d)
            time.sleep(0.1)

    def path(self, p):
        """p as this libvirtd (and its qemu) see it: through its mount namespace."""
        return "/proc/%d/root%s" % (self.p.pid, p)

    def virsh(self, *args, check=True, timeout=SAVE_TIMEOUT):
        return virsh(*args, check=check, timeout=timeout, uri=self.uri)

    def stop(self):
        kill_wait(self.p.pid, 10)
        CLEANUP.procs.remove(self.p)
        for m in pids_mentioning(self.dir):
            kill_wait(m)


def libvirt_config(d, sock=None, host_uuid=None, cgroups=True):
    """Writes a private libvirt configuration under d (see Libvirtd) and returns the shell commands
    that, run in a fresh mount namespace, put it in place: tmpfs on libvirt's state dirs, d's etc
    on /etc/libvirt, d's passwd and group. sock: the unix socket dir (default libvirt's own
    /run/libvirt, on that namespace's tmpfs)."""
    etc = os.path.join(d, "etc")
    os.makedirs(etc, exist_ok=True)
    if os.path.isdir("/etc/libvirt"):
        subprocess.run(["cp", "-a", "/etc/libvirt/.", etc], check=True)
    with open(os.path.join(etc, "qemu.conf"), "w") as f:
        f.write('user = "root"\ngroup = "root"\nsecurity_driver = "none"\nstdio_handler = "file"\n')
    with open(os.path.join(etc, "libvirtd.conf"), "a") as f:
        f.write('\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n')
        if sock:
            f.write('unix_sock_dir = "%s"\n' % sock)
        if host_uuid:
            f.write('host_uuid = "%s"\n' % host_uuid)
    for fname, line in (("passwd", "libvirt-qemu:x:64055:64055::/var/lib/libvirt:/usr/sbin/nologin\n"),
                        ("group", "libvirt-qemu:x:64055:\n")):
        with open("/etc/" + fname) as f:
            text = f.read()
        if not any(l.startswith("libvirt-qemu:") for l in text.splitlines()):
            text += line
        with open(os.path.join(d, fname), "w") as f:
            f.write(text)
    q = shlex.quote
    script = ["set -e", "mkdir -p /etc/libvirt " + " ".join(LIBVIRT_DIRS)]
    script += ["mount -t tmpfs -o mode=0755 bench-libvirt " + m for m in LIBVIRT_DIRS]
    script += ["mount --bind %s /etc/libvirt" % q(etc)]
    script += ["mount --bind %s /etc/%s" % (q(os.path.join(d, f)), f) for f in ("passwd", "group")]
    if not cgroups and os.path.ismount("/sys/fs/cgroup"):
        # unmounted, not covered: libvirt reads /proc/mounts, where a covered cgroup mount still shows
        script.append("umount -R -l /sys/fs/cgroup")
    return script


def virsh(*args, check=True, timeout=SAVE_TIMEOUT, uri="qemu:///system"):
    r = subprocess.run(["virsh", "-q", "-c", uri] + list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise NotReady("virsh %s: %s" % (args[0], (r.stderr or r.stdout).strip()[:200]))
    return r


def measure_libvirt(tmp, guest, reps):
    lv = Libvirtd(tmp)
    d = lv.dir
    save_us, restore_us, sizes = [], [], []
    serial = os.path.join(d, "serial.sock")
    xml = os.path.join(d, "dom.xml")
    with open(xml, "w") as f:
        f.write(domain_xml("lvsave", guest, serial))
    try:
        lv.virsh("create", xml)
        boot_and_fill(serial).close()
        for i in range(reps):
            path = os.path.join(d, "lv.save")
            t0 = now()
            lv.virsh("save", "lvsave", path)
            save_us.append((now() - t0) / 1000)
            sizes.append(os.path.getsize(path))
            t0 = now()
            lv.virsh("restore", path)
            restore_us.append((now() - t0) / 1000)
            check_alive(serial)
            os.unlink(path)
        lv.virsh("destroy", "lvsave", check=False)
    finally:
        lv.stop()
    return save_us, restore_us, sizes


# ---------------------------------------------------------------- vmgmt


def measure_vmgmt(vm, tmp, guest, reps):
    import dbus   # python3-dbus, Debian's: benchmarks/run runs under /usr/bin/python3

    vm.start()
    bus = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
    mgr = dbus.Interface(bus.get_object("org.vmgmt", "/org/vmgmt"), "org.vmgmt.Manager")
    d = os.path.join(tmp, "vmgmt-save")
    os.makedirs(d, exist_ok=True)
    # vmgmt's serial is a pty, reached through Domain.OpenConsole
    path = mgr.DefineDomain(domain_xml("vmsave", guest), dbus.Dictionary({}, signature="sv"))
    dom = dbus.Interface(bus.get_object("org.vmgmt", path), "org.vmgmt.Domain")
    props = dbus.Interface(bus.get_object("org.vmgmt", path), "org.freedesktop.DBus.Properties")
    opts = dbus.Dictionary({}, signature="sv")

    def follow(job):
        jp = dbus.Interface(bus.get_object("org.vmgmt", job), "org.freedesktop.DBus.Properties")
        while True:
            st = str(jp.Get("org.vmgmt.Job", "State"))
            if st == "completed":
                return
            if st != "running":
                raise NotReady("vmgmt job %s %s: %s" % (job, st, jp.Get("org.vmgmt.Job", "Error")))
            time.sleep(0.002)

    def state():
        return str(props.Get("org.vmgmt.Domain", "State"))

    save_us, restore_us, sizes = [], [], []
    try:
        def console():
            return SerialConsole(fd=dom.OpenConsole("", opts).take())

        dom.Start(opts)
        boot_and_fill(con=console()).close()
        for i in range(reps):
            f = os.path.join(d, "vm.save")
            t0 = now()
            follow(dom.Save(f, opts))
            while state() != "shutoff":
                time.sleep(0.002)
            save_us.append((now() - t0) / 1000)
            sizes.append(os.path.getsize(f))
            t0 = now()
            follow(mgr.RestoreDomain(f, opts))
            while state() != "running":
                time.sleep(0.002)
            restore_us.append((now() - t0) / 1000)
            check_alive(con=console())
            os.unlink(f)
        dom.Destroy(opts)
    finally:
        vm.stop()
        for m in pids_mentioning(tmp):
            if "qemu" in " ".join(open("/proc/%d/cmdline" % m).read().split("\0")[:1]):
                kill_wait(m)
    return save_us, restore_us, sizes


# ---------------------------------------------------------------- the rows


def measure_save(res, vm, tmp, reps):
    sec = "f"
    try:
        guest = build_guest(tmp)
    except NotReady as e:
        for metric in ("Save of a booted guest", "Restore of that image"):
            res.fail(sec, metric, "us", e)
        return
    log("save/restore: plain qemu over QMP (%d MiB guest, %d MiB of random data in its RAM)" % (MEMORY_MIB, FILL_MIB))
    q_save, q_restore, q_sizes = measure_plain(tmp, guest, reps)
    lv_err = vm_err = None
    try:
        log("save/restore: libvirt (virsh save / virsh restore)")
        lv_save, lv_restore, lv_sizes = measure_libvirt(tmp, guest, reps)
    except (NotReady, subprocess.TimeoutExpired) as e:
        lv_err, lv_save, lv_restore, lv_sizes = e, [], [], []
    try:
        log("save/restore: vmgmt (Domain.Save / Manager.RestoreDomain)")
        vm_save, vm_restore, vm_sizes = measure_vmgmt(vm, tmp, guest, reps)
    except Exception as e:   # a missing method (before Save landed) is a D-Bus error: the row says so
        vm_err, vm_save, vm_restore, vm_sizes = e, [], [], []

    for metric, v, ref, lv in (("Save of a booted guest (→ shutoff, image written)", vm_save, q_save, lv_save),
                               ("Restore of that image (→ running)", vm_restore, q_restore, lv_restore)):
        label = "plain qemu: %s" % ("stop + migrate to fd" if "Save" in metric else
                                    "-incoming defer + migrate-incoming + cont")
        if v:
            res.add(sec, metric, "us", median(v), median(ref), label, "≤ 1.10 × plain", lambda a, b: a <= 1.10 * b,
                    samples=v, ref_samples=ref)
        else:
            res.fail(sec, metric, "us", vm_err or "no samples", median(ref), label, "≤ 1.10 × plain", ref_samples=ref)
        lv_metric = "  libvirt 9.0: " + ("virsh save" if "Save" in metric else "virsh restore")
        if lv:
            res.add(sec, lv_metric, "us", median(lv), median(ref), label, "", None, samples=lv, ref_samples=ref)
        else:
            res.fail(sec, lv_metric, "us", lv_err or "no samples", median(ref), label, "")

    def rate(sizes, times):
        return [sz / (t / 1e6) / 2**20 for sz, t in zip(sizes, times)]

    q_rate = rate(q_sizes, q_save)
    if vm_save:
        res.add(sec, "Save throughput (image bytes / save time)", "MiB/s", median(rate(vm_sizes, vm_save)),
                median(q_rate), "plain qemu", "", None)
    else:
        res.fail(sec, "Save throughput (image bytes / save time)", "MiB/s", vm_err or "no samples", median(q_rate),
                 "plain qemu")
    if lv_save:
        res.add(sec, "  libvirt 9.0: virsh save throughput", "MiB/s", median(rate(lv_sizes, lv_save)),
                median(q_rate), "plain qemu", "", None)
    if vm_sizes and q_sizes:
        res.add(sec, "image size vmgmt / plain", "bytes", median(vm_sizes), median(q_sizes), "plain migration stream",
                "", None)
