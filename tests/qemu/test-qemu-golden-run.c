/* test-qemu-golden-run.c — starts the real qemu with every golden argv and checks it accepts the command line.
 *
 * Each tests/qemu/data/NAME.args is run with the golden paths moved into a
 * temp dir (QMP, VNC and channel sockets; disk images created there, qcow2
 * through qemu-img), the golden boot dir replaced by the test guest that
 * tools/build-guest builds into a temp dir of its own (the host's Debian
 * kernel or the one tools/install-deps unpacked: never a /boot path by
 * version), type forced to TCG and host block devices replaced by loop
 * devices. qemu must come up (-S), greet on QMP, accept qmp_capabilities
 * and quit with status 0. */
#include <dirent.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test-golden.h"
#include "test-helpers.h"

typedef struct KeyVal {
        char *key, *value;
} KeyVal;

/* Splits "a=b,c=d,,e" into pairs (",," unescaped); a first element without '=' gets key "". */
static GArray *keyval_split(const char *s) {
        GArray *a = g_array_new(FALSE, TRUE, sizeof(KeyVal));
        GString *cur = g_string_new(NULL);

        for (const char *p = s;; p++) {
                if (*p == ',' && p[1] == ',') {
                        g_string_append_c(cur, ',');
                        p++;
                        continue;
                }
                if (*p == ',' || *p == '\0') {
                        KeyVal kv;
                        char *eq = strchr(cur->str, '=');
                        if (eq) {
                                kv.key = g_strndup(cur->str, (gsize) (eq - cur->str));
                                kv.value = g_strdup(eq + 1);
                        } else {
                                kv.key = g_strdup("");
                                kv.value = g_strdup(cur->str);
                        }
                        g_array_append_val(a, kv);
                        g_string_truncate(cur, 0);
                        if (*p == '\0')
                                break;
                        continue;
                }
                g_string_append_c(cur, *p);
        }
        g_string_free(cur, TRUE);
        return a;
}

static const char *keyval_get(GArray *a, const char *key) {
        for (guint i = 0; i < a->len; i++)
                if (strcmp(g_array_index(a, KeyVal, i).key, key) == 0)
                        return g_array_index(a, KeyVal, i).value;
        return NULL;
}

static void keyval_free(GArray *a) {
        for (guint i = 0; i < a->len; i++) {
                g_free(g_array_index(a, KeyVal, i).key);
                g_free(g_array_index(a, KeyVal, i).value);
        }
        g_array_free(a, TRUE);
}

static char *keyval_join(GArray *a) {
        GString *o = g_string_new(NULL);
        for (guint i = 0; i < a->len; i++) {
                KeyVal *kv = &g_array_index(a, KeyVal, i);
                if (i > 0)
                        g_string_append_c(o, ',');
                if (*kv->key)
                        g_string_append_printf(o, "%s=", kv->key);
                for (const char *p = kv->value; *p; p++) {
                        g_string_append_c(o, *p);
                        if (*p == ',')
                                g_string_append_c(o, ',');
                }
        }
        return g_string_free(o, FALSE);
}

/* Generous bounds that only cut off a hang (qemu under TCG on a loaded machine). */
#define QEMU_START_TIMEOUT_SEC 120
#define QMP_REPLY_TIMEOUT_MS (60 * 1000)

/* The test guest (vmlinuz, initrd.img) that GOLDEN_BOOT_DIR stands for. */
static char *guest_dir;

static char *replace_prefixes(const char *s, const char *tmp) {
        g_autofree char *run = g_strdup_printf("%s/run", tmp);
        g_autofree char *img = g_strdup_printf("%s/images", tmp);
        g_auto(GStrv) a = g_strsplit(s, GOLDEN_RUN_DIR, -1);
        g_autofree char *s1 = g_strjoinv(run, a);
        g_auto(GStrv) b = g_strsplit(s1, GOLDEN_IMAGE_DIR, -1);
        g_autofree char *s2 = g_strjoinv(img, b);
        g_auto(GStrv) c = g_strsplit(s2, GOLDEN_BOOT_DIR, -1);
        return g_strjoinv(guest_dir, c);
}

/* Builds the test guest with tools/build-guest, which finds the kernel the
 * way every guest test does (the host's Debian kernel, else the cache of
 * tools/install-deps). */
static void build_guest(void) {
        g_autofree char *out = NULL, *err = NULL;
        g_autoptr(GError) e = NULL;
        int status = -1;

        guest_dir = g_dir_make_tmp("vmgmt-golden-guest-XXXXXX", NULL);
        CHECK(guest_dir);
        if (!guest_dir) {
                guest_dir = g_strdup("/nonexistent");
                return;
        }
        {
                const char *argv[] = { BUILD_GUEST, guest_dir, NULL };
                if (!g_spawn_sync(NULL, (char **) argv, NULL, 0, NULL, NULL, &out, &err, &status, &e) ||
                    !g_spawn_check_wait_status(status, NULL)) {
                        fprintf(stderr, "%s failed (the goldens with -kernel need the test guest): %s%s%s\n",
                                BUILD_GUEST, e ? e->message : "", out ? out : "", err ? err : "");
                        test_failures++;
                }
        }
}

static int run_cmd(const char *cmd) {
        int r = system(cmd);
        return r == 0 ? 0 : -1;
}

static GPtrArray *loop_devices;

/* Attaches a fresh 16 MiB file to a loop device; returns its path. */
static char *loop_attach(const char *tmp) {
        static unsigned n;
        g_autofree char *img = g_strdup_printf("%s/images/block%u", tmp, n++);
        g_autofree char *cmd = g_strdup_printf("truncate -s 16M '%s'", img);
        g_autofree char *out = NULL;
        const char *argv[] = { "losetup", "-f", "--show", img, NULL };
        int status = -1;

        CHECK(run_cmd(cmd) == 0);
        if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL, &status, NULL) ||
            status != 0 || !out) {
                fprintf(stderr, "losetup failed; a block device is needed for host_device disks\n");
                test_failures++;
                return g_strdup("/dev/null");
        }
        g_strstrip(out);
        g_ptr_array_add(loop_devices, g_strdup(out));
        return g_strdup(out);
}

static void loop_detach_all(void) {
        for (guint i = 0; i < loop_devices->len; i++) {
                g_autofree char *cmd = g_strdup_printf("losetup -d '%s'", (char *) g_ptr_array_index(loop_devices, i));
                if (run_cmd(cmd) < 0)
                        fprintf(stderr, "could not detach %s\n", (char *) g_ptr_array_index(loop_devices, i));
        }
        g_ptr_array_set_size(loop_devices, 0);
}

/* Creates the image behind every file node, in the format its format node names. */
static void prepare_images(GPtrArray *args, const char *tmp) {
        for (guint i = 0; i + 1 < args->len; i++) {
                GArray *kv;
                const char *driver, *filename, *node;

                if (strcmp(g_ptr_array_index(args, i), "-blockdev") != 0)
                        continue;
                kv = keyval_split(g_ptr_array_index(args, i + 1));
                driver = keyval_get(kv, "driver");
                filename = keyval_get(kv, "filename");
                node = keyval_get(kv, "node-name");
                if (filename && g_str_has_prefix(filename, "/dev/fdset/")) {
                        /* an fd of NAME.fds: open_fds() made the file */
                } else if (driver && filename && (strcmp(driver, "host_device") == 0 || strcmp(driver, "host_cdrom") == 0)) {
                        /* a loop device over a temp file stands in for the golden block device */
                        char *dev = loop_attach(tmp);
                        for (guint j = 0; j < kv->len; j++)
                                if (strcmp(g_array_index(kv, KeyVal, j).key, "filename") == 0) {
                                        g_free(g_array_index(kv, KeyVal, j).value);
                                        g_array_index(kv, KeyVal, j).value = dev;
                                }
                        g_free(g_ptr_array_index(args, i + 1));
                        g_ptr_array_index(args, i + 1) = keyval_join(kv);
                } else if (driver && filename && node && strcmp(driver, "file") == 0) {
                        const char *fmt = "raw";
                        for (guint j = 0; j + 1 < args->len; j++) {
                                GArray *f;
                                if (strcmp(g_ptr_array_index(args, j), "-blockdev") != 0)
                                        continue;
                                f = keyval_split(g_ptr_array_index(args, j + 1));
                                if (g_strcmp0(keyval_get(f, "file"), node) == 0 && keyval_get(f, "driver"))
                                        fmt = strcmp(keyval_get(f, "driver"), "qcow2") == 0 ? "qcow2" : "raw";
                                keyval_free(f);
                        }
                        if (access(filename, F_OK) != 0) {
                                g_autofree char *q = g_shell_quote(filename);
                                g_autofree char *cmd = strcmp(fmt, "qcow2") == 0
                                        ? g_strdup_printf("qemu-img create -q -f qcow2 %s 16M", q)
                                        : g_strdup_printf("truncate -s 16M %s", q);
                                CHECK(run_cmd(cmd) == 0);
                        }
                }
                keyval_free(kv);
        }
        for (guint i = 0; i + 1 < args->len; i++) {
                GArray *kv;
                const char *file;
                if (strcmp(g_ptr_array_index(args, i), "-drive") != 0)
                        continue;
                kv = keyval_split(g_ptr_array_index(args, i + 1));
                file = keyval_get(kv, "file");
                if (file && !g_str_has_prefix(file, "/dev/fdset/") && access(file, F_OK) != 0) {
                        g_autofree char *q = g_shell_quote(file);
                        g_autofree char *cmd = g_strdup_printf("truncate -s 64K %s", q);
                        CHECK(run_cmd(cmd) == 0);
                }
                keyval_free(kv);
        }
}

/* Forces TCG: type='kvm' goldens are run with the accelerator qemu has here. */
static void force_tcg(GPtrArray *args) {
        for (guint i = 0; i + 1 < args->len; i++) {
                char **next = (char **) &g_ptr_array_index(args, i + 1);
                const char *opt = g_ptr_array_index(args, i);
                if (strcmp(opt, "-accel") == 0 && strcmp(*next, "kvm") == 0) {
                        g_free(*next);
                        *next = g_strdup("tcg");
                } else if (strcmp(opt, "-cpu") == 0 && g_str_has_prefix(*next, "host")) {
                        g_free(*next);
                        *next = g_strdup("max");
                } else if (strcmp(opt, "-global") == 0 && g_str_has_prefix(*next, "kvm-pit.")) {
                        g_ptr_array_remove_range(args, i, 2);
                        i--;
                } else if (strcmp(opt, "-netdev") == 0 && g_str_has_prefix(*next, "tap,")) {
                        /* no tap fd to hand over in a unit test; the tap path is covered by the builder tests */
                        const char *id = strstr(*next, ",id=");
                        char *repl = g_strdup_printf("user%s", id ? id : "");
                        g_free(*next);
                        *next = repl;
                }
        }
}

static int qmp_read_line(int fd, GString *buf, char **ret, int timeout_ms) {
        for (;;) {
                char *nl = strchr(buf->str, '\n');
                char chunk[4096];
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (nl) {
                        *ret = g_strndup(buf->str, (gsize) (nl - buf->str));
                        g_string_erase(buf, 0, nl - buf->str + 1);
                        return 0;
                }
                if (poll(&p, 1, timeout_ms) <= 0)
                        return -ETIMEDOUT;
                n = read(fd, chunk, sizeof(chunk));
                if (n <= 0)
                        return -EIO;
                g_string_append_len(buf, chunk, n);
        }
}

/* Reads lines until one holds "return" or "error" (events are skipped). */
static int qmp_command(int fd, GString *buf, const char *cmd, char **ret) {
        if (write(fd, cmd, strlen(cmd)) != (ssize_t) strlen(cmd))
                return -EIO;
        for (;;) {
                char *line = NULL;
                int r = qmp_read_line(fd, buf, &line, QMP_REPLY_TIMEOUT_MS);
                if (r < 0)
                        return r;
                if (strstr(line, "\"return\"") || strstr(line, "\"error\"")) {
                        *ret = line;
                        return 0;
                }
                g_free(line);
        }
}

static char *json_quote(const char *s) {
        GString *o = g_string_new("\"");
        for (const char *p = s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        g_string_append_c(o, '\\');
                g_string_append_c(o, *p);
        }
        g_string_append_c(o, '"');
        return g_string_free(o, FALSE);
}

/* The escaped values must reach qemu intact: the guest name and every image
 * file name, as qemu reports them back over QMP. */
static void check_values_arrived(const char *name, int fd, GString *buf, GPtrArray *args) {
        g_autofree char *reply = NULL;

        for (guint i = 0; i + 1 < args->len; i++) {
                const char *opt = g_ptr_array_index(args, i);
                GArray *kv;

                if (!opt || strcmp(opt, "-name") != 0)
                        continue;
                kv = keyval_split(g_ptr_array_index(args, i + 1));
                if (keyval_get(kv, "guest")) {
                        g_autofree char *q = json_quote(keyval_get(kv, "guest"));
                        g_autofree char *want = g_strdup_printf("\"name\": %s", q);
                        CHECK(qmp_command(fd, buf, "{\"execute\":\"query-name\"}\n", &reply) == 0);
                        if (!reply || !strstr(reply, want)) {
                                fprintf(stderr, "%s: qemu reports %s, expected %s\n", name, reply ? reply : "nothing", want);
                                test_failures++;
                        }
                        g_clear_pointer(&reply, g_free);
                }
                keyval_free(kv);
        }

        CHECK(qmp_command(fd, buf, "{\"execute\":\"query-named-block-nodes\",\"arguments\":{\"flat\":true}}\n", &reply) == 0);
        for (guint i = 0; reply && i + 1 < args->len; i++) {
                const char *opt = g_ptr_array_index(args, i);
                GArray *kv;

                if (!opt || strcmp(opt, "-blockdev") != 0)
                        continue;
                kv = keyval_split(g_ptr_array_index(args, i + 1));
                if (keyval_get(kv, "filename")) {
                        g_autofree char *q = json_quote(keyval_get(kv, "filename"));
                        g_autofree char *want = g_strdup_printf("\"filename\": %s", q);
                        if (!strstr(reply, want)) {
                                fprintf(stderr, "%s: qemu does not report image %s\n", name, q);
                                test_failures++;
                        }
                }
                keyval_free(kv);
        }
}

/* The files the service would have opened, at the fd numbers NAME.fds gives ("FD MODE PATH" lines):
 * images made as prepare_images() makes them, block devices as loop devices, sockets bound (and for
 * "connect" a listener of ours first). *ret_fds gets pairs (fd here, fd in qemu); the listeners are
 * kept in *ret_keep. */
static void open_fds(const char *name, const char *tmp, GArray *pairs, GArray *keep) {
        g_autofree char *path = g_strdup_printf("%s/%s.fds", golden_data_dir(), name), *text = NULL;
        g_auto(GStrv) lines = NULL;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return;   /* no host files */
        lines = g_strsplit(text, "\n", -1);
        for (size_t i = 0; lines[i]; i++) {
                g_auto(GStrv) f = g_strsplit(lines[i], " ", 3);
                g_autofree char *file = NULL;
                int target, fd = -1;

                if (!f[0] || !f[1] || !f[2])
                        continue;
                target = atoi(f[0]);
                file = g_str_has_prefix(f[2], GOLDEN_BLOCK_PREFIX) ? loop_attach(tmp) : replace_prefixes(f[2], tmp);
                if (strcmp(f[1], "listen") == 0 || strcmp(f[1], "connect") == 0) {
                        struct sockaddr_un sa = { .sun_family = AF_UNIX };
                        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", file);
                        (void) unlink(file);
                        if (strcmp(f[1], "connect") == 0) {
                                int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                                CHECK(bind(l, (struct sockaddr *) &sa, sizeof(sa)) == 0 && listen(l, 4) == 0);
                                g_array_append_val(keep, l);
                        }
                        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                        if (strcmp(f[1], "listen") == 0)
                                CHECK(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 && listen(fd, 4) == 0);
                        else
                                CHECK(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
                } else if (strcmp(f[1], "append") == 0)
                        fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
                else {
                        if (access(file, F_OK) != 0) {
                                g_autofree char *q = g_shell_quote(file);
                                g_autofree char *cmd = g_str_has_suffix(file, ".qcow2")
                                        ? g_strdup_printf("qemu-img create -q -f qcow2 %s 16M", q)
                                        : g_strdup_printf("truncate -s 1M %s", q);
                                CHECK(run_cmd(cmd) == 0);
                        }
                        fd = open(file, (strcmp(f[1], "read-write") == 0 ? O_RDWR : O_RDONLY) | O_CLOEXEC);
                }
                if (fd < 0) {
                        fprintf(stderr, "%s: cannot open %s (%s) for fd %d: %m\n", name, file, f[1], target);
                        test_failures++;
                        continue;
                }
                g_array_append_val(pairs, fd);
                g_array_append_val(pairs, target);
        }
}

static void run_one(const char *name, const char *path) {
        g_autofree char *text = NULL, *tmp = NULL, *log = NULL, *qmp = NULL, *line = NULL, *mkdirs = NULL;
        g_auto(GStrv) lines = NULL;
        GPtrArray *args = g_ptr_array_new_with_free_func(g_free);
        GString *buf = g_string_new(NULL);
        GArray *pairs = g_array_new(FALSE, FALSE, sizeof(int)), *keep = g_array_new(FALSE, FALSE, sizeof(int));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = -1, status = 0, r;
        pid_t pid;

        CHECK(g_file_get_contents(path, &text, NULL, NULL));
        if (text && g_str_has_prefix(text, "error: ")) {
                fprintf(stderr, "%s: expected build error, nothing to run\n", name);
                goto out;
        }
        if (g_str_has_prefix(name, "netdisk-")) {
                /* network disks need their servers: tests/storsvc/test_netdisk*.py start qemu with them */
                fprintf(stderr, "%s: network disks, run by tests/storsvc/test_netdisk*.py\n", name);
                goto out;
        }
        if (text && golden_check_paths(name, text) > 0) {
                test_failures++;
                goto out;
        }
        tmp = g_dir_make_tmp("vmgmt-golden-run-XXXXXX", NULL);
        CHECK(tmp);
        if (!text || !tmp)
                goto out;
        mkdirs = g_strdup_printf("mkdir -p %s/run/channel %s/images", tmp, tmp);
        CHECK(run_cmd(mkdirs) == 0);

        lines = g_strsplit(text, "\n", -1);
        for (size_t i = 0; lines[i]; i++)
                if (*lines[i] || lines[i + 1])
                        g_ptr_array_add(args, replace_prefixes(lines[i], tmp));
        force_tcg(args);
        open_fds(name, tmp, pairs, keep);
        prepare_images(args, tmp);
        g_ptr_array_add(args, NULL);

        log = g_strdup_printf("%s/qemu.log", tmp);
        qmp = g_strdup_printf("%s/run/qmp.sock", tmp);
        pid = fork();
        if (pid == 0) {
                int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (lfd < 0 || nfd < 0 || dup2(nfd, 0) < 0 || dup2(lfd, 1) < 0 || dup2(lfd, 2) < 0)
                        _exit(126);
                /* the fds the golden names (all ≥ 100, above everything opened here) */
                for (guint k = 0; k + 1 < pairs->len; k += 2)
                        if (dup2(g_array_index(pairs, int, k), g_array_index(pairs, int, k + 1)) < 0)
                                _exit(126);
                execv(g_ptr_array_index(args, 0), (char **) args->pdata);
                _exit(127);
        }
        CHECK(pid > 0);

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", qmp);
        /* until qemu listens or exits; the deadline only bounds a hang */
        for (gint64 end = g_get_monotonic_time() + QEMU_START_TIMEOUT_SEC * G_USEC_PER_SEC;
             g_get_monotonic_time() < end;) {
                int w;
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        break;
                close(fd);
                fd = -1;
                if (waitpid(pid, &w, WNOHANG) == pid) {
                        status = w;
                        pid = 0;
                        break;
                }
                usleep(25000);
        }
        if (fd < 0) {
                g_autofree char *err = NULL;
                g_file_get_contents(log, &err, NULL, NULL);
                fprintf(stderr, "%s: qemu did not open its QMP socket (%s, status 0x%x): %s\n", name,
                        pid > 0 ? "still running after " G_STRINGIFY(QEMU_START_TIMEOUT_SEC) " s" : "exited", status,
                        err ? err : "");
                test_failures++;
                if (pid > 0) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                }
                goto out;
        }

        r = qmp_read_line(fd, buf, &line, QMP_REPLY_TIMEOUT_MS);
        CHECK(r == 0 && strstr(line, "\"QMP\""));
        g_clear_pointer(&line, g_free);
        r = qmp_command(fd, buf, "{\"execute\":\"qmp_capabilities\"}\n", &line);
        CHECK(r == 0 && strstr(line, "\"return\""));
        g_clear_pointer(&line, g_free);
        r = qmp_command(fd, buf, "{\"execute\":\"query-status\"}\n", &line);
        CHECK(r == 0 && strstr(line, "\"prelaunch\""));
        g_clear_pointer(&line, g_free);
        check_values_arrived(name, fd, buf, args);
        r = qmp_command(fd, buf, "{\"execute\":\"quit\"}\n", &line);
        CHECK(r == 0);
        close(fd);
        CHECK(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                g_autofree char *err = NULL;
                g_file_get_contents(log, &err, NULL, NULL);
                fprintf(stderr, "%s: qemu exited with status 0x%x: %s\n", name, status, err ? err : "");
                test_failures++;
        } else
                fprintf(stderr, "%s: ok\n", name);
out:
        for (guint k = 0; k < pairs->len; k += 2)
                close(g_array_index(pairs, int, k));
        for (guint k = 0; k < keep->len; k++)
                close(g_array_index(keep, int, k));
        g_array_free(pairs, TRUE);
        g_array_free(keep, TRUE);
        loop_detach_all();
        if (tmp) {
                g_autofree char *q = g_shell_quote(tmp);
                g_autofree char *cmd = g_strdup_printf("rm -rf %s", q);
                if (run_cmd(cmd) < 0)
                        fprintf(stderr, "could not remove %s\n", tmp);
        }
        g_string_free(buf, TRUE);
        g_ptr_array_unref(args);
}

/* Runs every qemu in a network namespace of our own (VNC listens on loopback
 * ports; user networking must not reach the host's network). */
static void enter_private_netns(void) {
        struct ifreq ifr = { 0 };
        int fd;

        if (unshare(CLONE_NEWNET) < 0) {
                fprintf(stderr, "unshare(CLONE_NEWNET) failed (%m); running in the host network namespace\n");
                return;
        }
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0);
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        CHECK(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0);
        ifr.ifr_flags |= IFF_UP;
        CHECK(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0);
        close(fd);
}

static int cmp_names(gconstpointer a, gconstpointer b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int main(int argc, char **argv) {
        const char *dir = golden_data_dir();
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        const char *e;

        signal(SIGPIPE, SIG_IGN);
        loop_devices = g_ptr_array_new_with_free_func(g_free);
        enter_private_netns();
        build_guest();
        CHECK(d);
        while (d && (e = g_dir_read_name(d)))
                if (g_str_has_suffix(e, ".args") && (argc < 2 || strncmp(e, argv[1], strlen(argv[1])) == 0))
                        g_ptr_array_add(names, g_strndup(e, strlen(e) - 5));
        g_ptr_array_sort(names, cmp_names);
        CHECK(names->len > 0);
        for (guint i = 0; i < names->len; i++) {
                g_autofree char *path = g_strdup_printf("%s/%s.args", dir, (char *) g_ptr_array_index(names, i));
                run_one(g_ptr_array_index(names, i), path);
        }
        g_ptr_array_unref(names);
        if (guest_dir && g_str_has_prefix(guest_dir, g_get_tmp_dir())) {
                g_autofree char *q = g_shell_quote(guest_dir);
                g_autofree char *cmd = g_strdup_printf("rm -rf %s", q);
                if (run_cmd(cmd) < 0)
                        fprintf(stderr, "could not remove %s\n", guest_dir);
        }
        return TEST_EXIT();
}
