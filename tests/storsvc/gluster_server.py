"""gluster_server — a glusterd with one started volume 'v0' on a brick of its own, for tests that
run in namespaces of their own (network: 192.0.2.1 on our loopback, gluster refuses 127.0.0.1 as a
brick host; mount: glusterd's state, logs and sockets on tmpfs; pid: nothing gluster starts can
outlive the test). Shared by test_netfs_gluster.py (netfs pools) and test_netdisk_netfs.py
(<disk type='network'> with protocol='gluster').

    from gluster_server import Glusterd, HOST, gluster_processes
    g = Glusterd(); g.start(); …; g.stop()   # afterwards no gluster program runs
"""
import os
import shutil
import subprocess
import tempfile
import time

HOST = '192.0.2.1'
GLUSTER_PROGS = ('glusterd', 'glusterfsd', 'glusterfs')


def gluster_processes():
    """{pid: comm} of the gluster programs alive in our pid namespace (zombies are dead)."""
    procs = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index('(') + 1:stat.rindex(')')]
        state = stat[stat.rindex(')') + 2]
        if comm in GLUSTER_PROGS and state != 'Z':
            procs[int(d)] = comm
    return procs


def reap(pid):
    """Daemons are reparented to us (pid 1 of the namespace): collect them."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def gluster(*args):
    return subprocess.run(['gluster', '--mode=script'] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)


class Glusterd:
    """glusterd with one started volume 'v0' on a brick directory of ours."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix='vmgmt-gluster-')
        self.brick = os.path.join(self.tmp, 'brick')
        self.pidfile = '/run/glusterd.pid'

    def start(self):
        subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
        subprocess.run(['ip', 'addr', 'add', HOST + '/32', 'dev', 'lo'], check=True)
        for d in ('/var/lib/glusterd', '/var/log/glusterfs', '/run'):
            os.makedirs(d, exist_ok=True)
            subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', d], check=True)
        os.makedirs('/run/gluster')
        subprocess.run(['glusterd', '-p', self.pidfile], check=True, timeout=60)
        self.wait_ready()
        r = gluster('volume', 'create', 'v0', '%s:%s' % (HOST, self.brick), 'force')
        if r.returncode != 0:
            raise RuntimeError('gluster volume create: ' + r.stdout)
        r = gluster('volume', 'start', 'v0')
        if r.returncode != 0:
            raise RuntimeError('gluster volume start: ' + r.stdout)

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while gluster('pool', 'list').returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError('glusterd did not answer')
            time.sleep(0.2)

    def stop(self):
        """Stops the volume (its brick daemon), then glusterd and anything
        gluster left: afterwards no gluster program runs."""
        try:
            gluster('volume', 'stop', 'v0')
        except subprocess.TimeoutExpired:
            pass   # no glusterd: what runs is killed below
        try:
            with open(self.pidfile) as f:
                os.kill(int(f.read().strip()), 15)
        except (OSError, ValueError):
            pass
        deadline = time.monotonic() + 20
        while True:
            procs = gluster_processes()
            for pid in procs:
                reap(pid)
            if not procs:
                break
            if time.monotonic() > deadline + 10:
                raise RuntimeError('gluster processes do not exit: %r' % procs)
            if time.monotonic() > deadline:
                for pid in procs:
                    os.kill(pid, 9)   # pids of our own pid namespace: only gluster's
            time.sleep(0.1)
        shutil.rmtree(self.tmp, ignore_errors=True)
