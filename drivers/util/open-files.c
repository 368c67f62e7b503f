/* open-files.c — the child that opens files with someone's credentials, and the loop side that collects its fds. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "open-files.h"
#include "spawn-util.h"

/* ---- the wire: one SOCK_SEQPACKET message per record, an fd attached to files that opened ---- */

enum {
        WIRE_PROGRESS,          /* the child is about to open `path` (for the timeout's message) */
        WIRE_FILE,
        WIRE_END,
};

enum { STR_PATH, STR_RESOLVED, STR_FORMAT, STR_BACKING, STR_MESSAGE, _STR_MAX };

typedef struct WireRecord {
        uint32_t kind;
        uint32_t request;
        uint32_t depth;
        int32_t error;
        uint32_t has_fd;
        struct stat st;
        uint32_t len[_STR_MAX];         /* bytes of each string that follows, in this order, no NULs */
} WireRecord;

#define WIRE_STR_MAX (PATH_MAX + 256)
#define WIRE_MAX (sizeof(WireRecord) + _STR_MAX * WIRE_STR_MAX)

static const char *const mode_names[_OPEN_FILE_MODE_MAX] = {
        [OPEN_FILE_READ] = "read",
        [OPEN_FILE_READ_WRITE] = "read-write",
        [OPEN_FILE_APPEND_CREATE] = "append",
        [OPEN_FILE_UNIX_LISTEN] = "unix-listen",
        [OPEN_FILE_UNIX_CONNECT] = "unix-connect",
        [OPEN_FILE_CREATE] = "create",
};

const char *open_file_mode_to_string(OpenFileMode m) {
        return m >= 0 && m < _OPEN_FILE_MODE_MAX ? mode_names[m] : NULL;
}

/* ---- the child ---- */

typedef struct ChildFile {
        uint32_t request, depth;
        int error;
        int fd;
        struct stat st;
        const char *str[_STR_MAX];
} ChildFile;

/* A failed send means the parent is gone or gave up: nothing left to do. */
static void child_send(int sock, uint32_t kind, const ChildFile *f) {
        WireRecord rec = { .kind = kind };
        struct iovec iov[1 + _STR_MAX];
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 1 };

        iov[0] = (struct iovec) { &rec, sizeof(rec) };
        if (f) {
                rec.request = f->request;
                rec.depth = f->depth;
                rec.error = f->error;
                rec.st = f->st;
                for (size_t i = 0; i < _STR_MAX; i++) {
                        size_t n = f->str[i] ? strnlen(f->str[i], WIRE_STR_MAX) : 0;
                        rec.len[i] = (uint32_t) n;
                        iov[mh.msg_iovlen++] = (struct iovec) { (void *) f->str[i], n };
                }
                if (f->fd >= 0) {
                        rec.has_fd = 1;
                        mh.msg_control = control.buf;
                        mh.msg_controllen = sizeof(control.buf);
                        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                        c->cmsg_level = SOL_SOCKET;
                        c->cmsg_type = SCM_RIGHTS;
                        c->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(c), &f->fd, sizeof(int));
                }
        }
        if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
                _exit(EXIT_FAILURE);
}

static void child_progress(int sock, const char *path) {
        ChildFile f = { .fd = -1, .str[STR_PATH] = path };
        child_send(sock, WIRE_PROGRESS, &f);
}

/* Reports a failure of file f (request/depth/path set) and tells the caller to stop. */
static int child_fail(int sock, ChildFile *f, int error, const char *fmt, ...) _printf_(4, 5);
static int child_fail(int sock, ChildFile *f, int error, const char *fmt, ...) {
        char msg[WIRE_STR_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        f->error = error;
        f->str[STR_MESSAGE] = msg;
        f->fd = -1;
        child_send(sock, WIRE_FILE, f);
        return -error;
}

static void fd_resolved(int fd, char *buf, size_t size) {
        char link[64];
        ssize_t n;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, buf, size - 1);
        buf[n < 0 ? 0 : n] = '\0';
}

/* The real directory of path plus its last component (a socket's fd says nothing about its name). */
static void socket_resolved(const char *path, char *buf, size_t size) {
        char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
        int n;

        snprintf(dir, sizeof(dir), "%s", path);
        snprintf(base, sizeof(base), "%s", path);
        if (!realpath(dirname(dir), real))
                n = snprintf(buf, size, "%s", path);
        else
                n = snprintf(buf, size, "%s/%s", streq(real, "/") ? "" : real, basename(base));
        if (n < 0 || (size_t) n >= size)
                snprintf(buf, size, "%s", path);
}

/* sun_path for path: as it is when it fits, else through an O_PATH fd of its directory. */
static int socket_address(const char *path, struct sockaddr_un *sa, socklen_t *len, int *ret_dirfd) {
        char dir[PATH_MAX], base[PATH_MAX];
        int dirfd;

        *ret_dirfd = -1;
        sa->sun_family = AF_UNIX;
        if (strlen(path) < sizeof(sa->sun_path)) {
                strcpy(sa->sun_path, path);
                *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
                return 0;
        }
        snprintf(dir, sizeof(dir), "%s", path);
        snprintf(base, sizeof(base), "%s", path);
        dirfd = open(dirname(dir), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        if (snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dirfd, basename(base)) >=
            (int) sizeof(sa->sun_path)) {
                close(dirfd);
                return -ENAMETOOLONG;
        }
        *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(sa->sun_path) + 1);
        *ret_dirfd = dirfd;
        return 0;
}

static int child_socket(int sock, ChildFile *f, const char *path, bool listening) {
        struct sockaddr_un sa = {};
        socklen_t len = 0;
        struct stat st;
        char resolved[PATH_MAX];
        _cleanup_close_ int fd = -1, dirfd = -1;
        int r;

        r = socket_address(path, &sa, &len, &dirfd);
        if (r < 0)
                return child_fail(sock, f, -r, "cannot reach %s: %s", path, strerror(-r));
        if (listening && lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return child_fail(sock, f, EEXIST, "cannot listen on %s: it exists and is not a socket", path);
                /* a socket left by an earlier run */
                if (unlink(path) < 0)
                        return child_fail(sock, f, errno, "cannot replace the socket %s: %m", path);
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return child_fail(sock, f, errno, "cannot make a socket for %s: %m", path);
        if (listening) {
                if (bind(fd, (struct sockaddr *) &sa, len) < 0 || listen(fd, SOMAXCONN) < 0)
                        return child_fail(sock, f, errno, "cannot listen on %s: %m", path);
        } else if (connect(fd, (struct sockaddr *) &sa, len) < 0)
                return child_fail(sock, f, errno, "cannot connect to %s: %m", path);
        if (stat(path, &f->st) < 0)
                memset(&f->st, 0, sizeof(f->st));
        socket_resolved(path, resolved, sizeof(resolved));
        f->str[STR_RESOLVED] = resolved;
        f->fd = fd;
        child_send(sock, WIRE_FILE, f);
        return 0;
}

static int open_flags(OpenFileMode mode) {
        switch (mode) {
        case OPEN_FILE_READ_WRITE:
                return O_RDWR;
        case OPEN_FILE_APPEND_CREATE:
                return O_WRONLY | O_APPEND | O_CREAT;
        default:
                return O_RDONLY;
        }
}

/* Opens path; O_NONBLOCK only for the open itself (a FIFO must not hang the open). */
static int open_plain(const char *path, OpenFileMode mode) {
        int fd, fl;

        fd = open(path, open_flags(mode) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
        if (fd < 0)
                return -errno;
        fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
                (void) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        return fd;
}

/* A sealed memfd with the bytes of regular file fd (st its stat). */
static int copy_to_memfd(int fd, const struct stat *st, const char *path, char *err, size_t errsize) {
        _cleanup_close_ int mfd = -1;
        off_t off = 0;

        if (!S_ISREG(st->st_mode)) {
                snprintf(err, errsize, "%s is not a regular file", path);
                return -EINVAL;
        }
        if ((uint64_t) st->st_size > OPEN_FILES_COPY_MAX) {
                snprintf(err, errsize, "%s is larger than %u MiB", path, OPEN_FILES_COPY_MAX >> 20);
                return -EFBIG;
        }
        mfd = memfd_create("vmgmt-copy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (mfd < 0) {
                snprintf(err, errsize, "cannot copy %s: memfd_create: %s", path, strerror(errno));
                return -errno;
        }
        while (off < st->st_size) {
                ssize_t n = sendfile(mfd, fd, &off, (size_t) (st->st_size - off));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int e = n < 0 ? errno : EIO;
                        snprintf(err, errsize, "cannot copy %s: %s", path, n < 0 ? strerror(e) : "it shrank");
                        return -e;
                }
        }
        if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
                snprintf(err, errsize, "cannot seal the copy of %s: %s", path, strerror(errno));
                return -errno;
        }
        return TAKE_FD(mfd);
}

/* ---- qcow2 headers ---- */

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_EXT_END 0u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_DATA_FILE 0x44415441u
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)

static uint32_t be32(const unsigned char *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}
static uint64_t be64(const unsigned char *p) {
        return (uint64_t) be32(p) << 32 | be32(p + 4);
}

static bool is_qcow2(int fd) {
        unsigned char m[4];
        return pread(fd, m, sizeof(m), 0) == (ssize_t) sizeof(m) && be32(m) == QCOW2_MAGIC;
}

/* Reads the backing file name and format of a qcow2. Returns 0 (backing[0] == 0: none) or -errno with err. */
static int qcow2_backing(int fd, char *backing, size_t bsize, char *bfmt, size_t fsize, char *err, size_t errsize) {
        unsigned char h[112];
        uint64_t backing_off, incompat = 0, ext_end;
        uint32_t version, backing_len, cluster_bits, header_len = 72;
        ssize_t n;

        backing[0] = bfmt[0] = '\0';
        n = pread(fd, h, sizeof(h), 0);
        if (n < 72 || be32(h) != QCOW2_MAGIC) {
                snprintf(err, errsize, "not a qcow2 image");
                return -EINVAL;
        }
        version = be32(h + 4);
        backing_off = be64(h + 8);
        backing_len = be32(h + 16);
        cluster_bits = be32(h + 20);
        if (version < 2 || version > 3 || cluster_bits < 9 || cluster_bits > 21) {
                snprintf(err, errsize, "unsupported qcow2 header (version %u)", version);
                return -EINVAL;
        }
        if (version == 3) {
                if (n < 104) {
                        snprintf(err, errsize, "truncated qcow2 header");
                        return -EINVAL;
                }
                incompat = be64(h + 72);
                header_len = be32(h + 100);
                if (header_len < 104 || header_len > (1u << cluster_bits)) {
                        snprintf(err, errsize, "bad qcow2 header length %u", header_len);
                        return -EINVAL;
                }
        }
        if (incompat & QCOW2_INCOMPAT_DATA_FILE) {
                /* qemu would open the data file by the name in the image */
                snprintf(err, errsize, "qcow2 images with an external data file are not supported");
                return -EOPNOTSUPP;
        }
        if (backing_off) {
                if (backing_len == 0 || backing_len > 1023 || backing_len >= bsize) {
                        snprintf(err, errsize, "bad backing file name length %u", backing_len);
                        return -EINVAL;
                }
                if (pread(fd, backing, backing_len, (off_t) backing_off) != (ssize_t) backing_len) {
                        snprintf(err, errsize, "cannot read the backing file name");
                        return -EIO;
                }
                backing[backing_len] = '\0';
                if (strlen(backing) != backing_len) {
                        snprintf(err, errsize, "the backing file name holds a NUL byte");
                        return -EINVAL;
                }
        }
        /* header extensions, up to the backing name or the end of the first cluster */
        ext_end = backing_off && backing_off < (1ull << cluster_bits) ? backing_off : (1ull << cluster_bits);
        for (uint64_t off = header_len; off + 8 <= ext_end;) {
                unsigned char e[8];
                uint32_t type, len;

                if (pread(fd, e, sizeof(e), (off_t) off) != (ssize_t) sizeof(e))
                        break;
                type = be32(e);
                len = be32(e + 4);
                if (type == QCOW2_EXT_END)
                        break;
                if (off + 8 + len > ext_end) {
                        snprintf(err, errsize, "bad qcow2 header extension");
                        return -EINVAL;
                }
                if (type == QCOW2_EXT_BACKING_FORMAT) {
                        if (len == 0 || len >= fsize ||
                            pread(fd, bfmt, len, (off_t) (off + 8)) != (ssize_t) len) {
                                snprintf(err, errsize, "bad backing format extension");
                                return -EINVAL;
                        }
                        bfmt[len] = '\0';
                }
                if (type == QCOW2_EXT_DATA_FILE) {
                        snprintf(err, errsize, "qcow2 images with an external data file are not supported");
                        return -EOPNOTSUPP;
                }
                off += 8 + (((uint64_t) len + 7) & ~7ull);
        }
        return 0;
}

/* The backing name made absolute against the directory of the image that names it. */
static int backing_path(const char *image, const char *name, char *out, size_t size) {
        char dir[PATH_MAX];

        /* a protocol ("nbd:…", "json:{…}") is no file of this host */
        if (name[0] != '/') {
                const char *colon = strchr(name, ':'), *slash = strchr(name, '/');
                if (colon && (!slash || colon < slash))
                        return -EOPNOTSUPP;
        }
        if (name[0] == '/')
                return snprintf(out, size, "%s", name) < (int) size ? 0 : -ENAMETOOLONG;
        snprintf(dir, sizeof(dir), "%s", image);
        return snprintf(out, size, "%s/%s", dirname(dir), name) < (int) size ? 0 : -ENAMETOOLONG;
}

static bool format_follows_chain(const char *fmt) {
        return streq(fmt, "qcow2");
}

/* An image and, when asked, every layer below it. */
static int child_image(int sock, uint32_t index, const OpenFileRequest *req) {
        struct { dev_t dev; ino_t ino; } seen[OPEN_FILES_CHAIN_MAX];
        char path[PATH_MAX], next[PATH_MAX], fmt[64] = "", backing[1024], bfmt[64], resolved[PATH_MAX], err[512];
        bool chain = req->flags & OPEN_FILE_BACKING_CHAIN;

        snprintf(path, sizeof(path), "%s", req->path);
        if (req->format)
                snprintf(fmt, sizeof(fmt), "%s", req->format);
        for (uint32_t depth = 0;; depth++) {
                ChildFile f = { .request = index, .depth = depth, .fd = -1, .str[STR_PATH] = path };
                _cleanup_close_ int fd = -1;
                int r;

                child_progress(sock, path);
                fd = open_plain(path, depth == 0 ? req->mode : OPEN_FILE_READ);
                if (fd < 0)
                        return child_fail(sock, &f, -fd, "cannot open %s: %s", path, strerror(-fd));
                if (fstat(fd, &f.st) < 0)
                        return child_fail(sock, &f, errno, "cannot stat %s: %m", path);
                for (uint32_t i = 0; i < depth; i++)
                        if (seen[i].dev == f.st.st_dev && seen[i].ino == f.st.st_ino)
                                return child_fail(sock, &f, ELOOP, "the backing chain of %s loops: %s is already in it",
                                                  req->path, path);
                seen[depth].dev = f.st.st_dev;
                seen[depth].ino = f.st.st_ino;
                if (!fmt[0])
                        snprintf(fmt, sizeof(fmt), "%s", is_qcow2(fd) ? "qcow2" : "raw");
                backing[0] = '\0';
                if (chain && format_follows_chain(fmt)) {
                        r = qcow2_backing(fd, backing, sizeof(backing), bfmt, sizeof(bfmt), err, sizeof(err));
                        if (r < 0)
                                return child_fail(sock, &f, -r, "%s: %s", path, err);
                }
                fd_resolved(fd, resolved, sizeof(resolved));
                f.str[STR_RESOLVED] = resolved;
                f.str[STR_FORMAT] = fmt;
                f.str[STR_BACKING] = backing[0] ? backing : NULL;
                f.fd = fd;
                child_send(sock, WIRE_FILE, &f);
                if (!backing[0])
                        return 0;

                ChildFile b = { .request = index, .depth = depth + 1, .fd = -1, .str[STR_PATH] = backing };
                if (depth + 1 >= OPEN_FILES_CHAIN_MAX)
                        return child_fail(sock, &b, ELOOP, "the backing chain of %s is longer than %u layers",
                                          req->path, OPEN_FILES_CHAIN_MAX);
                r = backing_path(path, backing, next, sizeof(next));
                if (r < 0)
                        return child_fail(sock, &b, -r, "the backing file '%s' of %s is not a local file", backing, path);
                snprintf(path, sizeof(path), "%s", next);
                snprintf(fmt, sizeof(fmt), "%s", bfmt);
        }
}

/* The last component of path (no trailing slash, not "." or ".."), or NULL. */
static const char *path_last(const char *path) {
        const char *base = strrchr(path, '/');

        base = base ? base + 1 : path;
        if (!base[0] || streq(base, ".") || streq(base, ".."))
                return NULL;
        return base;
}

/* OPEN_FILE_DIRECT: O_DIRECT on fd, which the filesystem of path may refuse. */
static int set_direct(int fd) {
        int fl = fcntl(fd, F_GETFL);

        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) < 0)
                return -errno;
        return 0;
}

/* OPEN_FILE_CREATE: a new file at "DIR/.NAME.XXXXXX.part" (mkostemps: O_RDWR|O_CREAT|O_EXCL, 0600). */
static int child_create(int sock, ChildFile *f, const char *path, bool direct) {
        char tmp[PATH_MAX], resolved[PATH_MAX];
        const char *base = path_last(path);
        _cleanup_close_ int fd = -1;
        int n;

        if (!base)
                return child_fail(sock, f, EINVAL, "'%s' names no file", path);
        if (strlen(base) + sizeof("..XXXXXX.part") > NAME_MAX + 1)
                return child_fail(sock, f, ENAMETOOLONG, "cannot create %s: the name is too long", path);
        n = snprintf(tmp, sizeof(tmp), "%.*s.%s.XXXXXX.part", (int) (base - path), path, base);
        if (n < 0 || (size_t) n >= sizeof(tmp))
                return child_fail(sock, f, ENAMETOOLONG, "cannot create %s: the name is too long", path);
        fd = mkostemps(tmp, (int) strlen(".part"), O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return child_fail(sock, f, errno, "cannot create %s: %m", path);
        if (direct) {
                int e = -set_direct(fd);
                if (e > 0) {
                        (void) unlink(tmp);
                        return child_fail(sock, f, e == EINVAL ? EOPNOTSUPP : e,
                                          "cannot create %s with O_DIRECT (bypass_cache): %s", path,
                                          e == EINVAL ? "its filesystem does not support O_DIRECT" : strerror(e));
                }
        }
        if (fstat(fd, &f->st) < 0) {
                int e = errno;
                (void) unlink(tmp);
                return child_fail(sock, f, e, "cannot stat %s: %s", tmp, strerror(e));
        }
        fd_resolved(fd, resolved, sizeof(resolved));
        if (resolved[0] != '/') {
                (void) unlink(tmp);
                return child_fail(sock, f, EIO, "cannot tell where %s was created", tmp);
        }
        f->str[STR_RESOLVED] = resolved;
        f->fd = fd;
        child_send(sock, WIRE_FILE, f);
        return 0;
}

static int child_request(int sock, uint32_t index, const OpenFileRequest *req) {
        ChildFile f = { .request = index, .fd = -1, .str[STR_PATH] = req->path };
        char resolved[PATH_MAX], err[512];
        _cleanup_close_ int fd = -1;

        if (!req->path || req->path[0] != '/')
                return child_fail(sock, &f, EINVAL, "'%s' is not an absolute path", strempty(req->path));
        if (req->mode == OPEN_FILE_UNIX_LISTEN || req->mode == OPEN_FILE_UNIX_CONNECT) {
                child_progress(sock, req->path);
                return child_socket(sock, &f, req->path, req->mode == OPEN_FILE_UNIX_LISTEN);
        }
        if (req->mode == OPEN_FILE_CREATE) {
                if ((req->flags & ~OPEN_FILE_DIRECT) || req->format)
                        return child_fail(sock, &f, EINVAL, "%s: a new file has no format or copy", req->path);
                child_progress(sock, req->path);
                return child_create(sock, &f, req->path, req->flags & OPEN_FILE_DIRECT);
        }
        if (req->mode < 0 || req->mode >= _OPEN_FILE_MODE_MAX)
                return child_fail(sock, &f, EINVAL, "%s: unknown open mode", req->path);
        if (req->flags & OPEN_FILE_BACKING_CHAIN || req->format)
                return child_image(sock, index, req);

        child_progress(sock, req->path);
        fd = open_plain(req->path, req->mode);
        if (fd < 0)
                return child_fail(sock, &f, -fd, "cannot open %s: %s", req->path, strerror(-fd));
        if (fstat(fd, &f.st) < 0)
                return child_fail(sock, &f, errno, "cannot stat %s: %m", req->path);
        if (req->flags & OPEN_FILE_DIRECT) {
                int e = -set_direct(fd);
                if (e > 0)
                        return child_fail(sock, &f, e == EINVAL ? EOPNOTSUPP : e,
                                          "cannot open %s with O_DIRECT (bypass_cache): %s", req->path,
                                          e == EINVAL ? "its filesystem does not support O_DIRECT" : strerror(e));
        }
        fd_resolved(fd, resolved, sizeof(resolved));
        if (req->flags & OPEN_FILE_COPY) {
                int m = copy_to_memfd(fd, &f.st, req->path, err, sizeof(err));
                if (m < 0)
                        return child_fail(sock, &f, -m, "%s", err);
                close(fd);
                fd = m;
        }
        f.str[STR_RESOLVED] = resolved;
        f.fd = fd;
        child_send(sock, WIRE_FILE, &f);
        return 0;
}

static int child_take_creds(const OpenFileCreds *c) {
        if (c->root)
                return 0;
        if (setgroups(c->n_groups, c->groups) < 0)
                return -errno;
        if (setresgid(c->gid, c->gid, c->gid) < 0)
                return -errno;
        if (setresuid(c->uid, c->uid, c->uid) < 0)
                return -errno;
        return 0;
}

/* What the child does once it is the caller; returns with the last record sent. */
typedef void (*ChildWorkFn)(int sock, const void *work);

typedef struct OpenWork {
        const OpenFileRequest *requests;
        size_t n;
} OpenWork;

static void child_open_work(int sock, const void *data) {
        const OpenWork *w = data;

        for (size_t i = 0; i < w->n; i++)
                if (child_request(sock, (uint32_t) i, &w->requests[i]) < 0)
                        break;
        child_send(sock, WIRE_END, NULL);
}

typedef struct FinishWork {
        OpenFileFinish action;
        char *temporary, *target;
        dev_t dev;
        ino_t ino;
} FinishWork;

static void child_finish_work(int sock, const void *data) {
        const FinishWork *w = data;
        ChildFile f = { .fd = -1 };
        char msg[WIRE_STR_MAX];
        struct stat st;

        child_progress(sock, w->temporary);
        if (lstat(w->temporary, &st) < 0) {
                f.error = errno;
                snprintf(msg, sizeof(msg), "cannot find %s", w->temporary);
        } else if (st.st_dev != w->dev || st.st_ino != w->ino || !S_ISREG(st.st_mode)) {
                f.error = ESTALE;
                snprintf(msg, sizeof(msg), "%s is no longer the file that was created", w->temporary);
        } else if (w->action == OPEN_FILE_FINISH_RENAME ? rename(w->temporary, w->target) < 0 : unlink(w->temporary) < 0) {
                f.error = errno;
                if (w->action == OPEN_FILE_FINISH_RENAME)
                        snprintf(msg, sizeof(msg), "cannot rename %s to %s", w->temporary, w->target);
                else
                        snprintf(msg, sizeof(msg), "cannot remove %s", w->temporary);
        }
        if (f.error)
                f.str[STR_MESSAGE] = msg;
        child_send(sock, WIRE_END, f.error ? &f : NULL);
}

_Noreturn static void child_main(int sock, pid_t parent, const OpenFileCreds *creds, ChildWorkFn work,
                                 const void *data) {
        int r;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(EXIT_FAILURE);
        /* nothing of the daemon's but the socket: the child may end up as the caller */
        if (sock != 3) {
                if (dup2(sock, 3) < 0)
                        _exit(EXIT_FAILURE);
                sock = 3;
        }
        if (syscall(SYS_close_range, 4u, ~0u, 0u) < 0)
                for (int fd = 4; fd < 65536; fd++)
                        (void) close(fd);
        (void) prctl(PR_SET_DUMPABLE, 0);
        r = child_take_creds(creds);
        if (r < 0) {
                ChildFile f = { .fd = -1, .error = -r, .str[STR_MESSAGE] = "cannot take the caller's credentials" };
                child_send(sock, WIRE_END, &f);
                _exit(EXIT_FAILURE);
        }
        work(sock, data);
        _exit(EXIT_SUCCESS);
}

/* ---- the loop side ---- */

struct OpenFilesJob {
        sd_event *event;
        pid_t pid;
        int pidfd;
        int sock;
        sd_event_source *io, *timer;
        OpenFiles *files;
        char *current;                  /* what the child said it opens now */
        OpenFilesDoneFn done;
        OpenFileFinishDoneFn finish_done;  /* instead of done: a finishing job */
        void *userdata;
};

OpenFiles *open_files_free(OpenFiles *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_files; i++) {
                OpenedFile *o = &f->files[i];
                if (o->fd >= 0)
                        close(o->fd);
                free(o->path);
                free(o->resolved);
                free(o->format);
                free(o->backing);
                free(o->message);
        }
        free(f->files);
        free(f);
        return NULL;
}

const OpenedFile *open_files_first_error(const OpenFiles *f) {
        for (size_t i = 0; f && i < f->n_files; i++)
                if (f->files[i].error)
                        return &f->files[i];
        return NULL;
}

const OpenedFile *open_files_for_request(const OpenFiles *f, size_t request, size_t *ret_n) {
        size_t first = SIZE_MAX, n = 0;

        for (size_t i = 0; f && i < f->n_files; i++)
                if (f->files[i].request == request) {
                        if (first == SIZE_MAX)
                                first = i;
                        n++;
                }
        if (ret_n)
                *ret_n = n;
        return first == SIZE_MAX ? NULL : &f->files[first];
}

static void job_free(OpenFilesJob *j) {
        sd_event_source_disable_unref(j->io);
        sd_event_source_disable_unref(j->timer);
        if (j->sock >= 0)
                close(j->sock);
        /* the child has ended or is about to (it sent its last record), or is stuck: SIGKILL either way */
        spawn_kill_reap(j->event, j->pid, j->pidfd);
        open_files_free(j->files);
        free(j->current);
        sd_event_unref(j->event);
        free(j);
}

OpenFilesJob *open_files_job_cancel(OpenFilesJob *j) {
        if (j)
                job_free(j);
        return NULL;
}

static void job_finish(OpenFilesJob *j, int r, const char *message) {
        OpenFilesDoneFn done = j->done;
        OpenFileFinishDoneFn finish_done = j->finish_done;
        void *userdata = j->userdata;
        OpenFiles *files = r < 0 ? NULL : TAKE_PTR(j->files);
        char *msg = message ? strdup(message) : NULL;

        job_free(j);
        if (finish_done) {
                open_files_free(files);
                finish_done(userdata, r, msg);
        } else
                done(userdata, r, files, msg);
        free(msg);
}

static char *wire_str(const char **p, uint32_t len) {
        char *s = len ? strndup(*p, len) : NULL;
        *p += len;
        return s;
}

/* One record. Returns 1 at the end, 0 to go on, -errno for a garbled record. */
static int job_record(OpenFilesJob *j, const char *buf, size_t n, int fd) {
        WireRecord rec;
        const char *p;
        size_t need = sizeof(rec);
        OpenedFile *o;

        if (n < sizeof(rec))
                return -EBADMSG;
        memcpy(&rec, buf, sizeof(rec));
        for (size_t i = 0; i < _STR_MAX; i++) {
                if (rec.len[i] > WIRE_STR_MAX)
                        return -EBADMSG;
                need += rec.len[i];
        }
        if (need != n || (fd >= 0) != (rec.has_fd && rec.kind == WIRE_FILE))
                return -EBADMSG;
        p = buf + sizeof(rec);
        switch (rec.kind) {
        case WIRE_PROGRESS:
                free(j->current);
                j->current = wire_str(&p, rec.len[STR_PATH]);
                return 0;
        case WIRE_END:
                if (rec.error) {
                        p += rec.len[STR_PATH] + rec.len[STR_RESOLVED] + rec.len[STR_FORMAT] + rec.len[STR_BACKING];
                        free(j->current);
                        j->current = wire_str(&p, rec.len[STR_MESSAGE]);
                        return -rec.error;
                }
                return 1;
        case WIRE_FILE:
                break;
        default:
                return -EBADMSG;
        }
        o = realloc(j->files->files, (j->files->n_files + 1) * sizeof(OpenedFile));
        if (!o)
                return -ENOMEM;
        j->files->files = o;
        o = &j->files->files[j->files->n_files++];
        *o = (OpenedFile) {
                .request = rec.request,
                .depth = rec.depth,
                .fd = fd,
                .st = rec.st,
                .error = rec.error,
        };
        o->path = wire_str(&p, rec.len[STR_PATH]);
        o->resolved = wire_str(&p, rec.len[STR_RESOLVED]);
        o->format = wire_str(&p, rec.len[STR_FORMAT]);
        o->backing = wire_str(&p, rec.len[STR_BACKING]);
        o->message = wire_str(&p, rec.len[STR_MESSAGE]);
        if (o->error == 0 && o->fd < 0)
                o->error = EIO;
        return 0;
}

static int job_io(sd_event_source *s, int sockfd, uint32_t revents, void *userdata) {
        OpenFilesJob *j = userdata;
        _cleanup_free_ char *buf = malloc(WIRE_MAX);

        if (!buf) {
                job_finish(j, -ENOMEM, "out of memory");
                return 0;
        }
        for (;;) {
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(int) * 4)];
                } control;
                struct iovec iov = { buf, WIRE_MAX };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                                     .msg_controllen = sizeof(control.buf) };
                int fd = -1, r;
                ssize_t n;

                n = recvmsg(sockfd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n >= 0 && c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                                for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++) {
                                        int got;
                                        memcpy(&got, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
                                        if (fd < 0)
                                                fd = got;
                                        else
                                                close(got);   /* more than one: garbled, refused below */
                                }
                if (n <= 0) {
                        _cleanup_free_ char *msg = NULL;
                        if (fd >= 0)
                                close(fd);
                        if (asprintf(&msg, "the file opener ended before it was done%s%s",
                                     j->current ? " opening " : "", strempty(j->current)) < 0)
                                msg = NULL;
                        job_finish(j, n < 0 ? -errno : -EPIPE, msg);
                        return 0;
                }
                if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
                        r = -EBADMSG;
                else
                        r = job_record(j, buf, (size_t) n, fd);
                if (r < 0 && fd >= 0)
                        close(fd);   /* a refused record never keeps its fd */
                if (r < 0) {
                        _cleanup_free_ char *msg = NULL;
                        if (asprintf(&msg, "%s: %s", j->current && r != -EBADMSG ? j->current : "the file opener",
                                     r == -EBADMSG ? "sent a garbled answer" : strerror(-r)) < 0)
                                msg = NULL;
                        job_finish(j, r, msg);
                        return 0;
                }
                if (r > 0) {
                        job_finish(j, 0, NULL);
                        return 0;
                }
        }
}

static int job_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        OpenFilesJob *j = userdata;
        _cleanup_free_ char *msg = NULL;

        if (asprintf(&msg, "timed out opening %s", j->current ?: "the files") < 0)
                msg = NULL;
        job_finish(j, -ETIMEDOUT, msg);
        return 0;
}

static int job_start(sd_event *event, const OpenFileCreds *creds, ChildWorkFn work, const void *data,
                     uint64_t timeout_usec, OpenFilesDoneFn done, OpenFileFinishDoneFn finish_done, void *userdata,
                     OpenFilesJob **ret) {
        OpenFilesJob *j;
        int sv[2], r;
        uint64_t now;
        pid_t parent = getpid(), pid;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->files = calloc(1, sizeof(OpenFiles));
        if (!j->files) {
                free(j);
                return -ENOMEM;
        }
        j->event = sd_event_ref(event);
        j->pid = 0;
        j->pidfd = j->sock = -1;
        j->done = done;
        j->finish_done = finish_done;
        j->userdata = userdata;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                r = -errno;
                job_free(j);
                return r;
        }
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(sv[0]);
                close(sv[1]);
                job_free(j);
                return r;
        }
        if (pid == 0) {
                close(sv[0]);
                child_main(sv[1], parent, creds, work, data);
        }
        close(sv[1]);
        j->sock = sv[0];
        j->pid = pid;
        /* a zombie still has its pid: the child cannot be gone before this */
        j->pidfd = spawn_pidfd_open(pid);
        if (j->pidfd < 0) {
                r = j->pidfd;
                job_free(j);
                return r;
        }
        r = sd_event_add_io(event, &j->io, j->sock, EPOLLIN, job_io, j);
        if (r >= 0)
                r = sd_event_now(event, CLOCK_MONOTONIC, &now);
        if (r >= 0)
                r = sd_event_add_time(event, &j->timer, CLOCK_MONOTONIC,
                                      now + (timeout_usec ?: OPEN_FILES_TIMEOUT_USEC_DEFAULT), 0, job_timeout, j);
        if (r < 0) {
                job_free(j);
                return r;
        }
        if (ret)
                *ret = j;
        return 0;
}

int open_files_start(sd_event *event, const OpenFileCreds *creds, const OpenFileRequest *requests, size_t n_requests,
                     uint64_t timeout_usec, OpenFilesDoneFn done, void *userdata, OpenFilesJob **ret) {
        OpenWork w = { requests, n_requests };

        /* the child has its own copy of everything after the fork */
        return job_start(event, creds, child_open_work, &w, timeout_usec, done, NULL, userdata, ret);
}

char *open_file_create_target(const OpenedFile *file) {
        const char *base, *slash;
        char *t = NULL;

        if (!file || !file->path || !file->resolved || file->resolved[0] != '/')
                return NULL;
        base = path_last(file->path);
        slash = strrchr(file->resolved, '/');
        if (!base || !slash)
                return NULL;
        if (asprintf(&t, "%.*s/%s", (int) (slash - file->resolved), file->resolved, base) < 0)
                return NULL;
        return t;
}

int open_file_finish_start(sd_event *event, const OpenFileCreds *creds, const OpenedFile *file, OpenFileFinish action,
                           uint64_t timeout_usec, OpenFileFinishDoneFn done, void *userdata, OpenFilesJob **ret) {
        FinishWork w = { .action = action };
        int r;

        if (!file || file->fd < 0 || file->error || action < 0 || action >= _OPEN_FILE_FINISH_MAX)
                return -EINVAL;
        w.temporary = file->resolved;
        w.target = open_file_create_target(file);
        if (!w.target)
                return -EINVAL;
        w.dev = file->st.st_dev;
        w.ino = file->st.st_ino;
        r = job_start(event, creds, child_finish_work, &w, timeout_usec, NULL, done, userdata, ret);
        free(w.target);
        return r;
}

/* ---- synchronous ---- */

typedef struct RunResult {
        bool finished;
        int r;
        OpenFiles *files;
        char *message;
} RunResult;

static void run_done(void *userdata, int r, OpenFiles *files, const char *message) {
        RunResult *res = userdata;

        res->finished = true;
        res->r = r;
        res->files = files;
        res->message = message ? strdup(message) : NULL;
}

int open_files_run(const OpenFileCreds *creds, const OpenFileRequest *requests, size_t n_requests,
                   uint64_t timeout_usec, OpenFiles **ret, char **ret_message) {
        sd_event *e = NULL;
        RunResult res = {};
        int r;

        r = sd_event_new(&e);
        if (r < 0)
                return r;
        r = open_files_start(e, creds, requests, n_requests, timeout_usec, run_done, &res, NULL);
        while (r >= 0 && !res.finished)
                r = sd_event_run(e, UINT64_MAX);
        sd_event_unref(e);
        if (r < 0)
                return r;
        if (res.r < 0) {
                if (ret_message)
                        *ret_message = res.message;
                else
                        free(res.message);
                return res.r;
        }
        free(res.message);
        *ret = res.files;
        return 0;
}

typedef struct FinishResult {
        bool finished;
        int r;
        char *message;
} FinishResult;

static void finish_run_done(void *userdata, int r, const char *message) {
        FinishResult *res = userdata;

        res->finished = true;
        res->r = r;
        res->message = message ? strdup(message) : NULL;
}

int open_file_finish_run(const OpenFileCreds *creds, const OpenedFile *file, OpenFileFinish action,
                         uint64_t timeout_usec, char **ret_message) {
        sd_event *e = NULL;
        FinishResult res = {};
        int r;

        r = sd_event_new(&e);
        if (r < 0)
                return r;
        r = open_file_finish_start(e, creds, file, action, timeout_usec, finish_run_done, &res, NULL);
        while (r >= 0 && !res.finished)
                r = sd_event_run(e, UINT64_MAX);
        sd_event_unref(e);
        if (r >= 0)
                r = res.r;
        if (r < 0 && ret_message)
                *ret_message = TAKE_PTR(res.message);
        free(res.message);
        return r;
}
