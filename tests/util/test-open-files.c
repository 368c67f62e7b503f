/* test-open-files.c — open_files_*() with real files, real qcow2 images (qemu-img), real sockets, as root
 * and as uid 65534: permissions are the caller's, chains are followed layer by layer, nothing leaks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../qemu/test-helpers.h"
#include "macro.h"
#include "open-files.h"

static char dir[] = "/tmp/test-open-files.XXXXXX";
static const OpenFileCreds root = { .root = true };
static const gid_t nobody_groups[] = { 65534 };
static const OpenFileCreds nobody = { .uid = 65534, .gid = 65534, .groups = nobody_groups, .n_groups = 1 };

static char *path_in(const char *name) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s", dir, name) < 0)
                abort();
        return p;
}

static void write_file(const char *name, const char *text, mode_t mode) {
        _cleanup_free_ char *p = path_in(name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        CHECK(fd >= 0);
        CHECK(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
        CHECK(fchmod(fd, mode) == 0);
        close(fd);
}

static int run(const char *cmd) {
        int r = system(cmd);
        return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

/* qemu-img create -f qcow2 [-b BACKING -F FMT] NAME */
static void make_qcow2(const char *name, const char *backing, const char *backing_fmt) {
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "cd %s && qemu-img create -q -f qcow2 %s%s%s%s %s 1M", dir,
                 backing ? "-u -b " : "", backing ? backing : "", backing_fmt ? " -F " : "", backing_fmt ? backing_fmt : "",
                 name);
        CHECK(run(cmd) == 0);
}

static OpenFiles *open_one(const OpenFileCreds *c, const OpenFileRequest *req, int *ret_r) {
        OpenFiles *f = NULL;
        _cleanup_free_ char *msg = NULL;
        int r = open_files_run(c, req, 1, 30 * 1000000ull, &f, &msg);
        if (ret_r)
                *ret_r = r;
        if (r < 0)
                fprintf(stderr, "open_files_run: %s: %s\n", strerror(-r), strna(msg));
        return f;
}

static void test_permissions(void) {
        _cleanup_free_ char *secret = path_in("secret"), *open_ = path_in("open");
        OpenFileRequest req = { .path = secret, .mode = OPEN_FILE_READ };
        const OpenedFile *o;
        OpenFiles *f;
        char buf[16] = "";

        write_file("secret", "root only\n", 0600);
        write_file("open", "anyone\n", 0644);

        /* root reads it */
        f = open_one(&root, &req, NULL);
        CHECK(f && f->n_files == 1 && !open_files_first_error(f));
        if (f && f->n_files == 1) {
                CHECK(f->files[0].fd >= 0);
                CHECK(pread(f->files[0].fd, buf, 9, 0) == 9 && memcmp(buf, "root only", 9) == 0);
                CHECK_STREQ(f->files[0].resolved, secret);
                CHECK(S_ISREG(f->files[0].st.st_mode) && f->files[0].st.st_uid == 0);
                CHECK(f->files[0].format == NULL);
        }
        open_files_free(f);

        /* 65534 gets EACCES, the message names the path */
        f = open_one(&nobody, &req, NULL);
        o = open_files_first_error(f);
        CHECK(o && o->error == EACCES && o->fd < 0);
        CHECK(o && o->message && strstr(o->message, secret) && strstr(o->message, "Permission denied"));
        open_files_free(f);

        /* … but reads a world-readable one, and cannot write it */
        req.path = open_;
        f = open_one(&nobody, &req, NULL);
        CHECK(f && !open_files_first_error(f) && f->n_files == 1 && f->files[0].fd >= 0);
        open_files_free(f);
        req.mode = OPEN_FILE_READ_WRITE;
        f = open_one(&nobody, &req, NULL);
        o = open_files_first_error(f);
        CHECK(o && o->error == EACCES);
        open_files_free(f);

        /* a missing file: ENOENT naming it */
        req.path = "/nonexistent/vmgmt-test";
        req.mode = OPEN_FILE_READ;
        f = open_one(&root, &req, NULL);
        o = open_files_first_error(f);
        CHECK(o && o->error == ENOENT && o->message && strstr(o->message, "/nonexistent/vmgmt-test"));
        open_files_free(f);
}

static void test_append_create(void) {
        _cleanup_free_ char *log = path_in("new.log");
        OpenFileRequest req = { .path = log, .mode = OPEN_FILE_APPEND_CREATE };
        OpenFiles *f = open_one(&root, &req, NULL);
        struct stat st;

        CHECK(f && !open_files_first_error(f));
        if (f && f->n_files == 1) {
                CHECK(write(f->files[0].fd, "x", 1) == 1);
                CHECK((fcntl(f->files[0].fd, F_GETFL) & (O_ACCMODE | O_APPEND)) == (O_WRONLY | O_APPEND));
        }
        CHECK(stat(log, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 1);
        open_files_free(f);
}

/* How many entries of directory d start with prefix. */
static unsigned count_entries(const char *d, const char *prefix) {
        DIR *dd = opendir(d);
        unsigned n = 0;

        for (struct dirent *e; dd && (e = readdir(dd));)
                if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
                        n++;
        if (dd)
                closedir(dd);
        return n;
}

/* OPEN_FILE_CREATE: a temporary next to the target, created as the caller;
 * renamed over the target or unlinked as the caller, only while it is the same inode. */
static void test_create(void) {
        _cleanup_free_ char *priv = path_in("root-only"), *pub = path_in("public"), *target = NULL,
                                *ptarget = NULL, *msg = NULL, *t = NULL;
        OpenFileRequest req = { .mode = OPEN_FILE_CREATE };
        const OpenedFile *o;
        OpenFiles *f;
        struct stat st;
        int r;

        CHECK(mkdir(priv, 0755) == 0);
        CHECK(mkdir(pub, 01777) == 0);
        CHECK(chmod(pub, 01777) == 0);
        CHECK(asprintf(&target, "%s/x.save", priv) > 0);
        CHECK(asprintf(&ptarget, "%s/x.save", pub) > 0);

        /* 65534 cannot create in a root-only directory: EACCES naming the path, nothing left */
        req.path = target;
        f = open_one(&nobody, &req, NULL);
        o = open_files_first_error(f);
        CHECK(o && o->error == EACCES && o->fd < 0 && o->message && strstr(o->message, target));
        open_files_free(f);
        CHECK(count_entries(priv, ".") == 2);   /* "." and ".." only */

        /* root can: a 0600 file at ".x.save.XXXXXX.part", the target untouched until renamed */
        f = open_one(&root, &req, NULL);
        CHECK(f && !open_files_first_error(f) && f->n_files == 1);
        if (f && f->n_files == 1) {
                o = &f->files[0];
                CHECK(strncmp(o->resolved, priv, strlen(priv)) == 0 && strstr(o->resolved, "/.x.save.") &&
                      strlen(o->resolved) == strlen(priv) + strlen("/.x.save.XXXXXX.part") &&
                      strcmp(o->resolved + strlen(o->resolved) - 5, ".part") == 0);
                CHECK((fcntl(o->fd, F_GETFL) & O_ACCMODE) == O_RDWR);
                CHECK(fstat(o->fd, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_uid == 0);
                CHECK(write(o->fd, "image", 5) == 5);
                CHECK(access(target, F_OK) < 0 && errno == ENOENT);
                t = open_file_create_target(o);
                CHECK_STREQ(t, target);
                /* an old file there is replaced, as virsh save overwrites */
                CHECK(close(open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) == 0);
                r = open_file_finish_run(&root, o, OPEN_FILE_FINISH_RENAME, 0, &msg);
                CHECK(r == 0);
                CHECK(stat(target, &st) == 0 && st.st_size == 5 && st.st_ino == o->st.st_ino);
                CHECK(count_entries(priv, ".x.save.") == 0);
        }
        open_files_free(f);

        /* 65534 creates in a sticky world-writable directory: the file is 65534's */
        req.path = ptarget;
        f = open_one(&nobody, &req, NULL);
        CHECK(f && !open_files_first_error(f) && f->n_files == 1);
        if (f && f->n_files == 1) {
                o = &f->files[0];
                CHECK(fstat(o->fd, &st) == 0 && st.st_uid == 65534 && st.st_gid == 65534);
                /* root's file at the target: the sticky bit stops 65534 replacing it — the rename is hers */
                CHECK(close(open(ptarget, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) == 0);
                free(msg);
                msg = NULL;
                r = open_file_finish_run(&nobody, o, OPEN_FILE_FINISH_RENAME, 0, &msg);
                CHECK(r == -EPERM || r == -EACCES);
                CHECK(msg && strstr(msg, "cannot rename") && strstr(msg, ptarget));
                CHECK(stat(ptarget, &st) == 0 && st.st_uid == 0 && st.st_size == 0);
                /* a name swapped to another file is not touched: ESTALE */
                _cleanup_free_ char *moved = NULL;
                CHECK(asprintf(&moved, "%s.moved", o->resolved) > 0);
                CHECK(rename(o->resolved, moved) == 0);
                CHECK(close(open(o->resolved, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == 0);
                r = open_file_finish_run(&nobody, o, OPEN_FILE_FINISH_UNLINK, 0, NULL);
                CHECK(r == -ESTALE);
                CHECK(access(o->resolved, F_OK) == 0);
                CHECK(unlink(o->resolved) == 0);
                CHECK(rename(moved, o->resolved) == 0);
                /* unlinked as 65534 */
                r = open_file_finish_run(&nobody, o, OPEN_FILE_FINISH_UNLINK, 0, NULL);
                CHECK(r == 0);
                CHECK(count_entries(pub, ".x.save.") == 0);
        }
        open_files_free(f);

        /* root's temporary in the sticky directory: 65534 may not unlink it, root may */
        f = open_one(&root, &req, NULL);
        CHECK(f && !open_files_first_error(f) && f->n_files == 1);
        if (f && f->n_files == 1) {
                r = open_file_finish_run(&nobody, &f->files[0], OPEN_FILE_FINISH_UNLINK, 0, NULL);
                CHECK(r == -EPERM || r == -EACCES);
                CHECK(count_entries(pub, ".x.save.") == 1);
                CHECK(open_file_finish_run(&root, &f->files[0], OPEN_FILE_FINISH_UNLINK, 0, NULL) == 0);
                CHECK(count_entries(pub, ".x.save.") == 0);
        }
        open_files_free(f);

        /* an existing symlink at the target is replaced, not followed */
        req.path = target;
        CHECK(unlink(target) == 0);
        CHECK(symlink("/etc/passwd", target) == 0);
        f = open_one(&root, &req, NULL);
        CHECK(f && !open_files_first_error(f) && f->n_files == 1);
        if (f && f->n_files == 1)
                CHECK(open_file_finish_run(&root, &f->files[0], OPEN_FILE_FINISH_RENAME, 0, NULL) == 0);
        CHECK(lstat(target, &st) == 0 && S_ISREG(st.st_mode));
        open_files_free(f);

        /* no file name */
        req.path = "/";
        f = open_one(&root, &req, NULL);
        o = open_files_first_error(f);
        CHECK(o && o->error == EINVAL);
        open_files_free(f);
}

static void test_chain(void) {
        _cleanup_free_ char *top = path_in("top.qcow2"), *mid = path_in("mid.qcow2"), *base = path_in("base.img");
        OpenFileRequest req = { .path = top, .mode = OPEN_FILE_READ_WRITE, .flags = OPEN_FILE_BACKING_CHAIN,
                                .format = "qcow2" };
        const OpenedFile *o;
        OpenFiles *f;
        size_t n = 0;

        write_file("base.img", "raw base", 0644);
        make_qcow2("mid.qcow2", "base.img", "raw");     /* relative name, against the image's directory */
        make_qcow2("top.qcow2", mid, "qcow2");          /* an absolute name */

        f = open_one(&root, &req, NULL);
        CHECK(f && !open_files_first_error(f));
        o = open_files_for_request(f, 0, &n);
        CHECK(o && n == 3);
        if (o && n == 3) {
                CHECK_STREQ(o[0].path, top);
                CHECK_STREQ(o[0].format, "qcow2");
                CHECK_STREQ(o[0].backing, mid);
                CHECK_STREQ(o[1].path, mid);
                CHECK_STREQ(o[1].format, "qcow2");
                CHECK_STREQ(o[1].backing, "base.img");
                CHECK_STREQ(o[2].path, base);
                CHECK_STREQ(o[2].resolved, base);
                CHECK_STREQ(o[2].format, "raw");
                CHECK(o[2].backing == NULL);
                CHECK(o[0].depth == 0 && o[1].depth == 1 && o[2].depth == 2);
                /* the top as asked, the layers below read-only */
                CHECK((fcntl(o[0].fd, F_GETFL) & O_ACCMODE) == O_RDWR);
                CHECK((fcntl(o[1].fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
                CHECK((fcntl(o[2].fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
        }
        open_files_free(f);

        /* a raw-claimed qcow2 is raw: nothing below it is opened */
        req.format = "raw";
        f = open_one(&root, &req, NULL);
        o = open_files_for_request(f, 0, &n);
        CHECK(f && !open_files_first_error(f) && o && n == 1 && streq_ptr(o->format, "raw"));
        open_files_free(f);

        /* 65534 may read top and mid but not the base */
        CHECK(chmod(base, 0600) == 0);
        CHECK(chmod(top, 0644) == 0 && chmod(mid, 0644) == 0);
        req.format = NULL;
        req.mode = OPEN_FILE_READ;
        f = open_one(&nobody, &req, NULL);
        o = open_files_first_error(f);
        CHECK(o && o->error == EACCES && o->depth == 2 && streq_ptr(o->path, base));
        CHECK(f && f->n_files == 3);
        open_files_free(f);
        CHECK(chmod(base, 0644) == 0);

        /* a missing middle layer names its path */
        CHECK(rename(mid, "/tmp/test-open-files-mid-away") == 0 || errno == EXDEV);
        f = open_one(&root, &req, NULL);
        o = open_files_first_error(f);
        CHECK(o && o->error == ENOENT && streq_ptr(o->path, mid) && o->message && strstr(o->message, mid));
        open_files_free(f);
        CHECK(rename("/tmp/test-open-files-mid-away", mid) == 0);
}

static void test_loop(void) {
        _cleanup_free_ char *a = path_in("loop-a.qcow2"), *b = path_in("loop-b.qcow2");
        OpenFileRequest req = { .path = a, .mode = OPEN_FILE_READ, .flags = OPEN_FILE_BACKING_CHAIN };
        const OpenedFile *o;
        OpenFiles *f;
        char cmd[512];

        make_qcow2("loop-b.qcow2", NULL, NULL);
        make_qcow2("loop-a.qcow2", "loop-b.qcow2", "qcow2");
        /* b's backing becomes a (rebase -u writes the header only) */
        snprintf(cmd, sizeof(cmd), "cd %s && qemu-img rebase -q -u -f qcow2 -b loop-a.qcow2 -F qcow2 loop-b.qcow2", dir);
        CHECK(run(cmd) == 0);
        f = open_one(&root, &req, NULL);
        o = open_files_first_error(f);
        CHECK(o && o->error == ELOOP && o->message && strstr(o->message, "loops"));
        open_files_free(f);

        /* a self-reference through a symlink is the same file */
        snprintf(cmd, sizeof(cmd), "cd %s && ln -sf loop-a.qcow2 loop-link && qemu-img rebase -q -u -f qcow2 -b loop-link -F qcow2 loop-a.qcow2", dir);
        CHECK(run(cmd) == 0);
        f = open_one(&root, &req, NULL);
        o = open_files_first_error(f);
        CHECK(o && o->error == ELOOP);
        open_files_free(f);
}

static void test_copy(void) {
        _cleanup_free_ char *k = path_in("kernel");
        OpenFileRequest req = { .path = k, .mode = OPEN_FILE_READ, .flags = OPEN_FILE_COPY };
        OpenFiles *f;
        char buf[32] = "", link[64], target[256] = "";

        write_file("kernel", "pretend kernel", 0600);
        f = open_one(&root, &req, NULL);
        CHECK(f && !open_files_first_error(f) && f->n_files == 1);
        if (f && f->n_files == 1) {
                int fd = f->files[0].fd;
                CHECK(pread(fd, buf, 14, 0) == 14 && memcmp(buf, "pretend kernel", 14) == 0);
                CHECK(fcntl(fd, F_GET_SEALS) & F_SEAL_WRITE);
                CHECK(write(fd, "x", 1) < 0);
                snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
                CHECK(readlink(link, target, sizeof(target) - 1) > 0 && strstr(target, "memfd:"));
                CHECK_STREQ(f->files[0].resolved, k);        /* the original is what was checked */
                CHECK(f->files[0].st.st_size == 14);
        }
        open_files_free(f);
}

static void test_sockets(void) {
        _cleanup_free_ char *s = path_in("chan.sock"), *plain = path_in("plain");
        OpenFileRequest req = { .path = s, .mode = OPEN_FILE_UNIX_LISTEN };
        OpenFiles *f, *g;
        const OpenedFile *o;
        int acc, type = 0;
        socklen_t len = sizeof(type);

        f = open_one(&root, &req, NULL);
        CHECK(f && !open_files_first_error(f) && f->n_files == 1);
        if (!f || f->n_files != 1) {
                open_files_free(f);
                return;
        }
        CHECK(getsockopt(f->files[0].fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc == 1);
        CHECK(S_ISSOCK(f->files[0].st.st_mode));
        CHECK_STREQ(f->files[0].resolved, s);
        /* connect to it the same way */
        req.mode = OPEN_FILE_UNIX_CONNECT;
        g = open_one(&root, &req, NULL);
        CHECK(g && !open_files_first_error(g) && g->n_files == 1);
        len = sizeof(type);
        CHECK(g && g->n_files == 1 && getsockopt(g->files[0].fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
              type == SOCK_STREAM);
        open_files_free(g);
        open_files_free(f);

        /* an old socket is replaced; a regular file is not */
        req.mode = OPEN_FILE_UNIX_LISTEN;
        f = open_one(&root, &req, NULL);
        CHECK(f && !open_files_first_error(f));
        open_files_free(f);
        write_file("plain", "data", 0644);
        req.path = plain;
        f = open_one(&root, &req, NULL);
        o = open_files_first_error(f);
        CHECK(o && o->error == EEXIST && o->message && strstr(o->message, "not a socket"));
        open_files_free(f);

        /* 65534 cannot create a socket in a root-only directory */
        CHECK(chmod(dir, 0755) == 0);
        req.path = s;
        f = open_one(&nobody, &req, NULL);
        o = open_files_first_error(f);
        CHECK(o && o->error == EACCES);
        open_files_free(f);
}

/* The child stops at the first failure; the files before it come back open. */
static void test_several(void) {
        _cleanup_free_ char *a = path_in("open"), *b = path_in("secret");
        OpenFileRequest reqs[] = {
                { .path = a, .mode = OPEN_FILE_READ },
                { .path = b, .mode = OPEN_FILE_READ },
                { .path = a, .mode = OPEN_FILE_READ },
        };
        OpenFiles *f = NULL;
        _cleanup_free_ char *msg = NULL;

        CHECK(open_files_run(&nobody, reqs, 3, 0, &f, &msg) == 0);
        CHECK(f && f->n_files == 2);
        CHECK(f && f->n_files == 2 && f->files[0].fd >= 0 && f->files[1].fd < 0 && f->files[1].request == 1);
        open_files_free(f);
}

/* A child that hangs is killed after the timeout and the message names the path. */
static void test_timeout(void) {
        _cleanup_free_ char *s = path_in("full.sock");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        OpenFileRequest req = { .path = s, .mode = OPEN_FILE_UNIX_CONNECT };
        int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), fill[64], n_fill = 0, r;
        OpenFiles *f = NULL;
        _cleanup_free_ char *msg = NULL;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s);
        CHECK(bind(l, (struct sockaddr *) &sa, sizeof(sa)) == 0 && listen(l, 0) == 0);
        /* a full backlog: a blocking connect waits for ever */
        for (; n_fill < 64; n_fill++) {
                fill[n_fill] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (connect(fill[n_fill], (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                        close(fill[n_fill]);
                        break;
                }
        }
        r = open_files_run(&root, &req, 1, 500 * 1000, &f, &msg);
        CHECK(r == -ETIMEDOUT);
        CHECK(msg && strstr(msg, "timed out opening") && strstr(msg, s));
        CHECK(f == NULL);
        for (int i = 0; i < n_fill; i++)
                close(fill[i]);
        close(l);
}

int main(void) {
        unsigned before;
        char cmd[256];

        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: needs root (to open files as uid 65534)\n");
                return 77;
        }
        if (!mkdtemp(dir))
                return EXIT_FAILURE;
        CHECK(chmod(dir, 0755) == 0);
        before = count_fds();

        test_permissions();
        test_append_create();
        test_create();
        test_chain();
        test_loop();
        test_copy();
        test_sockets();
        test_several();
        test_timeout();

        CHECK(count_fds() == before);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        (void) run(cmd);
        return TEST_EXIT();
}
