"""nbd_server — qemu-nbd exporting one raw image, a child of the test (as netservers' servers).

    nbd = NbdServer(tmpdir, size=16 << 20)   # the image is nbd.image, zeroes
    nbd.write(offset, data)                  # into the image before/after
    nbd.start(tcp=True)                      # 127.0.0.1:nbd.port, export nbd.export
    nbd.start(tcp=False)                     # unix socket nbd.socket (0666: qemu runs as its own uid)
    nbd.read(offset, n)
    nbd.stop()
"""
import os
import shutil

from netservers import HOST, _Server, _need, _wait, free_port, port_open


class NbdServer(_Server):
    def __init__(self, tmpdir=None, size=16 << 20, export='vmgmt-export'):
        self.qemu_nbd = _need('qemu-nbd', 'qemu-utils')
        super().__init__(tmpdir, 'vmgmt-nbd-')
        self.image = os.path.join(self.dir, 'nbd.image')
        with open(self.image, 'wb') as f:
            f.truncate(size)
        self.export = export
        self.socket = os.path.join(self.dir, 'nbd.sock')
        self.port = None
        self.host = HOST
        # qemu (a uid of its own) gets the unix socket connected by vmgmtd; the directory stays ours
        os.chmod(self.dir, 0o755)

    def start(self, tcp=True):
        argv = [self.qemu_nbd, '--format=raw', '--persistent', '--shared=8', '--export-name=' + self.export,
                '--cache=writethrough']
        if tcp:
            self.port = free_port()
            argv += ['--bind=' + HOST, '--port=%d' % self.port]
        else:
            argv += ['--socket=' + self.socket]
        p = self._spawn(argv + [self.image], 'qemu-nbd')
        if tcp:
            _wait(lambda: port_open(self.port), 'qemu-nbd on %s:%d' % (HOST, self.port), procs=[p])
        else:
            _wait(lambda: os.path.exists(self.socket), 'qemu-nbd on %s' % self.socket, procs=[p])
        self.started = True
        return self

    def write(self, offset, data):
        with open(self.image, 'r+b') as f:
            f.seek(offset)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def read(self, offset, n):
        with open(self.image, 'rb') as f:
            f.seek(offset)
            return f.read(n)

    def stop(self):
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    teardown = stop
