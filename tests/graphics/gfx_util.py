# gfx_util — what the display tests need besides the integration harness: a
# PNG reader (signature, chunk CRCs, IHDR, zlib data, scanline filters) and a
# minimal RFB (VNC) client (version, security type None, ServerInit, one raw
# framebuffer update), both written from the specifications with only zlib
# and struct, so the tests check vmgmtd's output with nothing of qemu's.

import os
import socket
import struct
import zlib

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


class PNGError(AssertionError):
    pass


def png_chunks(data):
    """[(type, payload)] of a PNG; every CRC checked."""
    if data[:8] != PNG_SIGNATURE:
        raise PNGError('not a PNG: signature %r' % data[:8])
    out, pos = [], 8
    while pos < len(data):
        if pos + 12 > len(data):
            raise PNGError('truncated chunk header at %d' % pos)
        length, ctype = struct.unpack('>I4s', data[pos:pos + 8])
        payload = data[pos + 8:pos + 8 + length]
        if len(payload) != length or pos + 12 + length > len(data):
            raise PNGError('truncated %r chunk at %d' % (ctype, pos))
        (crc,) = struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(ctype + payload) & 0xffffffff != crc:
            raise PNGError('bad CRC in %r chunk at %d' % (ctype, pos))
        out.append((ctype, payload))
        pos += 12 + length
        if ctype == b'IEND':
            break
    if not out or out[0][0] != b'IHDR' or out[-1][0] != b'IEND':
        raise PNGError('PNG does not start with IHDR and end with IEND')
    if pos != len(data):
        raise PNGError('%d bytes after IEND' % (len(data) - pos))
    return out


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png_decode(data):
    """(width, height, rows) of an 8-bit RGB or RGBA PNG; rows are bytes of
    RGB triples (alpha dropped)."""
    chunks = png_chunks(data)
    w, h, depth, ctype, comp, filt, interlace = struct.unpack('>IIBBBBB', chunks[0][1])
    if w == 0 or h == 0:
        raise PNGError('empty image %dx%d' % (w, h))
    if depth != 8 or ctype not in (2, 6) or comp != 0 or filt != 0 or interlace != 0:
        raise PNGError('unexpected IHDR: depth %d colour type %d interlace %d' % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b''.join(p for t, p in chunks if t == b'IDAT'))
    stride = w * bpp
    if len(raw) != h * (stride + 1):
        raise PNGError('image data is %d bytes, %dx%d needs %d' % (len(raw), w, h, h * (stride + 1)))
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xff
        elif f == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xff
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xff
        elif f == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up_left = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], up_left)) & 0xff
        elif f != 0:
            raise PNGError('unknown filter type %d in row %d' % (f, y))
        prev = line
        rows.append(bytes(line) if bpp == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3))
    return w, h, rows


def read_all(fd):
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            return b''.join(chunks)
        chunks.append(b)


def _recv_exact(sock, n):
    buf = b''
    while len(buf) < n:
        b = sock.recv(n - len(buf))
        if not b:
            raise AssertionError('VNC server closed the connection after %d of %d bytes' % (len(buf), n))
        buf += b
    return buf


class RFB:
    """An RFB 3.8 client on a connected socket (taken from an fd)."""

    def __init__(self, fd, timeout=20.0):
        self.sock = socket.socket(fileno=fd)
        self.sock.settimeout(timeout)
        self.greeting = None

    def close(self):
        self.sock.close()

    def handshake(self):
        """Version, security type None, ClientInit (shared); returns (width, height, name)."""
        self.greeting = _recv_exact(self.sock, 12)
        if self.greeting != b'RFB 003.008\n':
            raise AssertionError('unexpected RFB greeting %r' % self.greeting)
        self.sock.sendall(b'RFB 003.008\n')
        (n,) = struct.unpack('B', _recv_exact(self.sock, 1))
        if n == 0:
            (length,) = struct.unpack('>I', _recv_exact(self.sock, 4))
            raise AssertionError('VNC server refused: %r' % _recv_exact(self.sock, length))
        types = _recv_exact(self.sock, n)
        if 1 not in types:
            raise AssertionError('VNC server does not offer security type None: %r' % list(types))
        self.sock.sendall(b'\x01')
        (result,) = struct.unpack('>I', _recv_exact(self.sock, 4))
        if result != 0:
            raise AssertionError('VNC security handshake failed (%d)' % result)
        self.sock.sendall(b'\x01')   # ClientInit: shared
        w, h = struct.unpack('>HH', _recv_exact(self.sock, 4))
        pf = _recv_exact(self.sock, 16)
        (self.bpp, self.depth, self.big_endian, self.true_colour, self.rmax, self.gmax, self.bmax,
         self.rshift, self.gshift, self.bshift) = struct.unpack('>BBBBHHHBBB3x', pf)
        (length,) = struct.unpack('>I', _recv_exact(self.sock, 4))
        name = _recv_exact(self.sock, length).decode('utf-8', 'replace')
        self.width, self.height = w, h
        return w, h, name

    def framebuffer(self):
        """One full raw framebuffer update: rows of RGB bytes."""
        if self.bpp not in (32, 16) or not self.true_colour:
            raise AssertionError('unsupported pixel format: %d bpp' % self.bpp)
        self.sock.sendall(struct.pack('>BxHi', 2, 1, 0))                                  # SetEncodings: raw
        self.sock.sendall(struct.pack('>BBHHHH', 3, 0, 0, 0, self.width, self.height))  # full update
        fb = [bytearray(self.width * 3) for _ in range(self.height)]
        covered = 0
        while covered < self.width * self.height:
            msg = _recv_exact(self.sock, 1)[0]
            if msg == 2:          # Bell
                continue
            if msg != 0:
                raise AssertionError('unexpected RFB server message %d' % msg)
            (nrects,) = struct.unpack('>xH', _recv_exact(self.sock, 3))
            for _ in range(nrects):
                x, y, w, h, enc = struct.unpack('>HHHHi', _recv_exact(self.sock, 12))
                if enc != 0:
                    raise AssertionError('unexpected encoding %d' % enc)
                px = self.bpp // 8
                data = _recv_exact(self.sock, w * h * px)
                order = '>' if self.big_endian else '<'
                fmt = order + ('I' if px == 4 else 'H')
                for row in range(h):
                    line = fb[y + row]
                    for col in range(w):
                        (v,) = struct.unpack_from(fmt, data, (row * w + col) * px)
                        r = ((v >> self.rshift) & self.rmax) * 255 // self.rmax
                        g = ((v >> self.gshift) & self.gmax) * 255 // self.gmax
                        b = ((v >> self.bshift) & self.bmax) * 255 // self.bmax
                        line[(x + col) * 3:(x + col) * 3 + 3] = bytes((r, g, b))
                covered += w * h
        return [bytes(r) for r in fb]


def tcp_listen_ports(pid):
    """TCP ports a process listens on (its socket inodes matched against /proc/net/tcp{,6})."""
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if link.startswith('socket:['):
            inodes.add(link[8:-1])
    ports = set()
    for table in ('/proc/%d/net/tcp' % pid, '/proc/%d/net/tcp6' % pid):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == '0A' and fields[9] in inodes:   # LISTEN
                        ports.add(int(fields[1].rsplit(':', 1)[1], 16))
        except OSError:
            pass
    return ports
