"""nfs_ganesha — an NFSv3 server (nfs-ganesha, FSAL VFS) with rpcbind, children of the test.

qemu's nfs client (libnfs) finds the server's mount and nfs ports through the
portmapper at port 111, so rpcbind must run where ganesha registers: this is
for tests in a network namespace of their own (and a mount namespace: rpcbind
keeps its socket and state under /run, which the test mounts a tmpfs on).
Everything else — config, pid file, log, recovery dir, the exported directory
— is in a private directory; stop() leaves nothing running.

    g = Ganesha(tmpdir)           # raises ServerMissing when ganesha or its VFS FSAL is missing
    g.start()                     # 127.0.0.1, export g.export_path at g.pseudo (/vmgmt)
    g.path('disk.img')            # the file the export serves as /vmgmt/disk.img
    g.stop()
"""
import os
import subprocess

from netservers import HOST, ServerMissing, _need, _Server, _wait, free_port, port_open

FSAL_VFS = '/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so'


class Ganesha(_Server):
    def __init__(self, tmpdir=None, pseudo='/vmgmt'):
        self.ganesha = _need('ganesha.nfsd', 'nfs-ganesha')
        self.rpcbind = _need('rpcbind', 'rpcbind')
        if not os.path.exists(FSAL_VFS):
            raise ServerMissing(FSAL_VFS, 'nfs-ganesha-vfs')
        super().__init__(tmpdir, 'vmgmt-ganesha-')
        os.chmod(self.dir, 0o755)
        self.host = HOST
        self.pseudo = pseudo
        self.export_path = os.path.join(self.dir, 'export')
        os.makedirs(self.export_path)
        os.chmod(self.export_path, 0o777)
        self.conf = os.path.join(self.dir, 'ganesha.conf')
        self.log = os.path.join(self.dir, 'ganesha.log')
        self.pidfile = os.path.join(self.dir, 'ganesha.pid')
        self.nfs_port = free_port(exclude=(2049,))
        self.mnt_port = free_port(exclude=(2049, self.nfs_port))

    def path(self, name):
        return os.path.join(self.export_path, name)

    def _write_conf(self):
        recovery = os.path.join(self.dir, 'recovery')
        os.makedirs(recovery, exist_ok=True)
        with open(self.conf, 'w') as f:
            f.write('''NFS_CORE_PARAM {
    Protocols = 3;
    NFS_Port = %(nfs)d;
    MNT_Port = %(mnt)d;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Plugins_Dir = "%(plugins)s";
}
NFSV4 {
    Graceless = true;
    RecoveryRoot = "%(recovery)s";
}
EXPORT_DEFAULTS {
    SecType = sys;
}
EXPORT {
    Export_Id = 1;
    Path = "%(export)s";
    Pseudo = "%(pseudo)s";
    Access_Type = RW;
    Squash = No_Root_Squash;
    Protocols = 3;
    Transports = TCP;
    FSAL {
        Name = VFS;
    }
}
LOG {
    Default_Log_Level = EVENT;
}
''' % {'host': self.host, 'nfs': self.nfs_port, 'mnt': self.mnt_port, 'plugins': os.path.dirname(FSAL_VFS),
                'recovery': recovery, 'export': self.export_path, 'pseudo': self.pseudo})

    def registered(self):
        r = subprocess.run(['rpcinfo', '-p', self.host], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=30)
        return r.returncode == 0 and ' mountd' in r.stdout and ' nfs' in r.stdout

    def start(self):
        os.makedirs('/run/rpcbind', exist_ok=True)
        rpc = self._spawn([self.rpcbind, '-f'], 'rpcbind')   # in the test's own network namespace
        _wait(lambda: port_open(111), 'rpcbind on %s:111' % self.host, procs=[rpc])
        self._write_conf()
        p = self._spawn([self.ganesha, '-F', '-f', self.conf, '-L', self.log, '-p', self.pidfile, '-N', 'NIV_EVENT'],
                        'ganesha')
        p.logpath = self.log
        _wait(lambda: port_open(self.nfs_port) and self.registered(), 'nfs-ganesha on %s:%d' % (self.host, self.nfs_port),
              procs=[p])
        self.started = True
        return self
