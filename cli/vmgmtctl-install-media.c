/* vmgmtctl-install-media.c — what `vmgmtctl install` does without the bus: its sub-option
 * lists and the files it makes on this machine before they go into a pool as volumes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmgmtctl.h"
#include "vmgmtctl-install.h"

void install_kv_done(InstallKVList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].key);
                free(l->items[i].value);
        }
        free(l->items);
        l->items = NULL;
        l->n = 0;
}

/* One item: up to the next comma outside double quotes; the quotes are dropped. */
static char *next_item(const char **p) {
        size_t cap = strlen(*p) + 1, n = 0;
        char *out = malloc(cap);
        bool quoted = false;

        if (!out)
                return NULL;
        for (; **p; (*p)++) {
                if (**p == '"') {
                        quoted = !quoted;
                        continue;
                }
                if (**p == ',' && !quoted)
                        break;
                out[n++] = **p;
        }
        if (**p == ',')
                (*p)++;
        out[n] = '\0';
        return out;
}

int install_kv_parse(const char *flag, const char *s, InstallKVList *ret) {
        InstallKVList l = {};
        const char *p = s;

        if (isempty(s))
                return ctl_error(-EINVAL, "%s needs a value.", flag);
        while (*p) {
                char *item = next_item(&p), *eq;
                InstallKV *n;

                if (!item) {
                        install_kv_done(&l);
                        return ctl_error(-ENOMEM, "Out of memory.");
                }
                if (!*item) {
                        free(item);
                        install_kv_done(&l);
                        return ctl_error(-EINVAL, "%s %s: an empty item.", flag, s);
                }
                n = realloc(l.items, (l.n + 1) * sizeof(*n));
                if (!n) {
                        free(item);
                        install_kv_done(&l);
                        return ctl_error(-ENOMEM, "Out of memory.");
                }
                l.items = n;
                eq = strchr(item, '=');
                l.items[l.n].value = NULL;
                if (eq) {
                        l.items[l.n].value = strdup(eq + 1);
                        *eq = '\0';
                        if (!l.items[l.n].value) {
                                free(item);
                                install_kv_done(&l);
                                return ctl_error(-ENOMEM, "Out of memory.");
                        }
                }
                l.items[l.n++].key = item;
        }
        *ret = l;
        return 0;
}

const char *install_kv_get(const InstallKVList *l, const char *key) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->items[i].key, key))
                        return l->items[i].value;
        return NULL;
}

bool install_kv_has(const InstallKVList *l, const char *key) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->items[i].key, key))
                        return true;
        return false;
}

int install_kv_check(const char *flag, const InstallKVList *l, const char *const *allowed, bool bare_ok) {
        for (size_t i = 0; i < l->n; i++) {
                const InstallKV *kv = &l->items[i];

                if (!kv->value) {
                        if (!bare_ok)
                                return ctl_error(-EINVAL, "%s: '%s' needs a value (%s=VALUE).", flag, kv->key, kv->key);
                        continue;
                }
                if (!strv_contains(allowed, kv->key))
                        return ctl_error(-EINVAL, "%s: unknown option '%s'.", flag, kv->key);
                for (size_t j = 0; j < i; j++)
                        if (l->items[j].value && streq(l->items[j].key, kv->key))
                                return ctl_error(-EINVAL, "%s: '%s' given twice.", flag, kv->key);
        }
        return 0;
}

const char *install_find_program(const char *const *names) {
        const char *path = getenv("PATH");

        if (isempty(path))
                path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
        for (size_t k = 0; names[k]; k++) {
                const char *p = path;
                while (*p) {
                        const char *colon = strchr(p, ':');
                        size_t len = colon ? (size_t) (colon - p) : strlen(p);
                        char buf[4096];

                        if (len > 0 && len + strlen(names[k]) + 2 < sizeof(buf)) {
                                snprintf(buf, sizeof(buf), "%.*s/%s", (int) len, p, names[k]);
                                if (access(buf, X_OK) == 0)
                                        return names[k];
                        }
                        if (!colon)
                                break;
                        p = colon + 1;
                }
        }
        return NULL;
}

int install_run(char *const *argv, char **ret_output) {
        int fds[2], status;
        char *out = NULL;
        size_t len = 0;
        FILE *f;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        fflush(stdout);
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(fds[0]);
                close(fds[1]);
                return r;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null >= 0)
                        (void) dup2(null, STDIN_FILENO);
                (void) dup2(fds[1], STDOUT_FILENO);
                (void) dup2(fds[1], STDERR_FILENO);
                execvp(argv[0], argv);
                _exit(errno == ENOENT ? 127 : 126);
        }
        close(fds[1]);
        f = open_memstream(&out, &len);
        for (;;) {
                char buf[4096];
                ssize_t n = read(fds[0], buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                if (f)
                        fwrite(buf, 1, (size_t) n, f);
        }
        close(fds[0]);
        if (f)
                fclose(f);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        free(out);
                        return -errno;
                }
        if (ret_output)
                *ret_output = out;
        else
                free(out);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                return -ENOENT;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int install_make_seed_iso(const char *dir, const char *out) {
        static const char *const tools[] = { "xorriso", "genisoimage", "mkisofs", NULL };
        const char *tool = install_find_program(tools);
        _cleanup_free_ char *output = NULL;
        int r;

        if (!tool)
                return ctl_error(-ENOENT, "--cloud-init: neither xorriso nor genisoimage is on PATH "
                                          "(apt-get install xorriso); the seed ISO cannot be made.");
        if (streq(tool, "xorriso")) {
                char *argv[] = { "xorriso", "-as", "mkisofs", "-quiet", "-o", (char *) out, "-V", "cidata", "-J", "-r",
                                 (char *) dir, NULL };
                r = install_run(argv, &output);
        } else {
                char *argv[] = { (char *) tool, "-quiet", "-output", (char *) out, "-volid", "cidata", "-joliet", "-rock",
                                 (char *) dir, NULL };
                r = install_run(argv, &output);
        }
        if (r != 0)
                return ctl_error(r < 0 ? r : -EIO, "--cloud-init: %s failed to make the seed ISO%s%s", tool,
                                 output && *output ? ":\n" : ".", strempty(output));
        return 0;
}

static int copy_file(const char *from, int to) {
        _cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);

        if (in < 0)
                return -errno;
        return ctl_copy_fd(in, to);
}

int install_make_injected_initrd(const char *initrd, char *const *files, size_t n_files, const char *tmpdir,
                                 const char *out) {
        _cleanup_free_ char *stage = NULL, *cmd = NULL, *output = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = 0;
        FILE *f;
        int r;

        if (asprintf(&stage, "%s/inject", tmpdir) < 0)
                return ctl_error(-ENOMEM, "Out of memory.");
        if (mkdir(stage, 0700) < 0 && errno != EEXIST)
                return ctl_error(-errno, "Cannot make %s: %m", stage);
        for (size_t i = 0; i < n_files; i++) {
                const char *base = strrchr(files[i], '/');
                _cleanup_free_ char *dst = NULL;
                _cleanup_close_ int d = -EBADF;
                struct stat st;

                base = base ? base + 1 : files[i];
                if (stat(files[i], &st) < 0 || !S_ISREG(st.st_mode))
                        return ctl_error(-ENOENT, "--initrd-inject: %s is not a readable file.", files[i]);
                if (asprintf(&dst, "%s/%s", stage, base) < 0)
                        return ctl_error(-ENOMEM, "Out of memory.");
                d = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
                if (d < 0 || copy_file(files[i], d) < 0)
                        return ctl_error(-EIO, "--initrd-inject: cannot copy %s: %m", files[i]);
        }
        fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return ctl_error(-errno, "Cannot write %s: %m", out);
        r = copy_file(initrd, fd);
        if (r < 0)
                return ctl_error(r, "Cannot read the initrd %s: %s", initrd, strerror(-r));
        close(TAKE_FD(fd));
        /* cpio -o reads the names on stdin: the shell gives it the staged files (names from us only) */
        f = open_memstream(&cmd, &len);
        if (!f)
                return ctl_error(-ENOMEM, "Out of memory.");
        fprintf(f, "cd '%s' && ls -A | cpio -o -H newc -R 0:0 --quiet | gzip -c >> '%s'", stage, out);
        fclose(f);
        {
                char *argv[] = { "sh", "-c", cmd, NULL };
                r = install_run(argv, &output);
        }
        if (r != 0)
                return ctl_error(-EIO, "--initrd-inject: cpio failed%s%s", output && *output ? ":\n" : ".",
                                 strempty(output));
        return 0;
}

int install_iso_extract(const char *iso, const char *path_in_iso, const char *out) {
        _cleanup_free_ char *output = NULL;
        struct stat st;
        char *argv[] = { "xorriso", "-osirrox", "on", "-indev", (char *) iso, "-extract", (char *) path_in_iso,
                         (char *) out, NULL };
        int r;

        (void) unlink(out);
        r = install_run(argv, &output);
        if (r == -ENOENT)
                return ctl_error(r, "--location: xorriso is not on PATH (apt-get install xorriso): the kernel and "
                                    "initrd cannot be taken out of %s.", iso);
        if (r == 0 && stat(out, &st) == 0 && S_ISREG(st.st_mode))
                return 1;
        if (output && (strstr(output, "Cannot determine attributes") || strstr(output, "not found") ||
                       strstr(output, "No such file")))
                return 0;
        if (output && (strstr(output, "NOT READABLE") || strstr(output, "Cannot open") ||
                       strstr(output, "not a valid ISO")))
                return ctl_error(-EIO, "--location: %s is not a readable ISO image:\n%s", iso, output);
        return 0;
}
