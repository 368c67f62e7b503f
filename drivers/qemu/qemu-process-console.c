/* qemu-process-console.c — the host side of a running domain's serial ports and
 * consoles: which chardev a device name means, and opening it without blocking
 * (the pty qemu made, or a connection to the unix socket qemu listens on). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "qemu-driver-internal.h"

/* "serial12" → 12 for prefix "serial"; -1 when s is not prefix + digits. */
static long device_index(const char *s, const char *prefix) {
        size_t n = strlen(prefix);
        char *end;
        long v;

        if (strncmp(s, prefix, n) != 0 || s[n] < '0' || s[n] > '9' || strlen(s + n) > 6)
                return -1;
        v = strtol(s + n, &end, 10);
        return *end == 0 ? v : -1;
}

static bool console_is_serial(const DomainChrDef *c) {
        return !c->target_type || streq(c->target_type, "serial");
}

int qemu_console_find(const DomainDef *def, const char *device, const DomainChrDef **ret, char **ret_name) {
        const DomainChrDef *chr = NULL;
        char name[32];
        long i;

        if (isempty(device)) {
                /* the first console; a serial console is the first serial port */
                if (def->n_consoles > 0 && !(console_is_serial(&def->consoles[0]) && def->n_serials > 0))
                        device = "console0";
                else
                        device = "serial0";
        }
        if ((i = device_index(device, "serial")) >= 0 && (size_t) i < def->n_serials) {
                chr = &def->serials[i];
                snprintf(name, sizeof(name), "serial%ld", i);
        } else if ((i = device_index(device, "console")) >= 0 && (size_t) i < def->n_consoles) {
                if (console_is_serial(&def->consoles[i])) {
                        /* the same device as serial 0 (libvirt's alias for it is serial0 too) */
                        if (def->n_serials == 0)
                                return -ENODEV;
                        chr = &def->serials[0];
                        snprintf(name, sizeof(name), "serial0");
                } else {
                        chr = &def->consoles[i];
                        snprintf(name, sizeof(name), "console%ld", i);
                }
        }
        if (!chr)
                return -ENODEV;
        if (ret_name) {
                *ret_name = strdup(name);
                if (!*ret_name)
                        return -ENOMEM;
        }
        *ret = chr;
        return 0;
}

int qemu_console_name(const DomainDef *def, const char *device, char **ret_name) {
        const DomainChrDef *chr;

        return qemu_console_find(def, device, &chr, ret_name);
}

static int open_pty(const char *path, int *ret_fd, char **ret_error) {
        _cleanup_close_ int fd = -1;
        struct termios t;

        fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                *ret_error = g_strdup_printf("cannot open the console pty %s: %s", path, strerror(-r));
                return r;
        }
        /* The live XML comes from a file in the run dir: only ever hand out a terminal. */
        if (!isatty(fd) || tcgetattr(fd, &t) < 0) {
                *ret_error = g_strdup_printf("%s is not a terminal", path);
                return -ENOTTY;
        }
        /* bytes as they are: no echo, no line editing, no CR/LF translation */
        cfmakeraw(&t);
        if (tcsetattr(fd, TCSANOW, &t) < 0) {
                int r = -errno;
                *ret_error = g_strdup_printf("cannot set the console pty %s to raw mode: %s", path, strerror(-r));
                return r;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The listening end of fd must be the domain's qemu (the socket file could
 * have been replaced by someone else's since qemu made it). */
static int check_peer(int fd, pid_t pid, const char *path, char **ret_error) {
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                int r = -errno;
                *ret_error = g_strdup_printf("cannot tell who serves the console socket %s: %s", path, strerror(-r));
                return r;
        }
        if (cred.pid != pid) {
                *ret_error = g_strdup_printf("console socket %s is served by pid %d, not by the domain's qemu (pid %d)",
                                             path, (int) cred.pid, (int) pid);
                return -EPERM;
        }
        return 0;
}

static int connect_unix(const char *path, pid_t pid, int *ret_fd, char **ret_error) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                *ret_error = g_strdup_printf("console socket path %s is too long", path);
                return -ENAMETOOLONG;
        }
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* A unix stream connect never waits: it is queued at once or refused
         * (EAGAIN when qemu's backlog is full). */
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                if (r == -EAGAIN) {
                        *ret_error = g_strdup_printf("console socket %s takes no more connections", path);
                        return -EBUSY;
                }
                *ret_error = g_strdup_printf("cannot connect to the console socket %s: %s", path, strerror(-r));
                return r;
        }
        r = check_peer(fd, pid, path, ret_error);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int qemu_runtime_open_console(DriverRuntime *rt, const char *device, int *ret_fd, char **ret_device,
                              char **ret_error) {
        _cleanup_free_ char *name = NULL;
        const DomainChrDef *chr;
        const char *type;
        int r;

        *ret_error = NULL;
        if (rt->killing || rt->state == DOMAIN_STATE_SHUTOFF)
                return -ESRCH;
        r = qemu_console_find(rt->def, device, &chr, &name);
        if (r < 0)
                return r;
        if (rt->starting)
                return -EBUSY;   /* the pty is known once qemu told us (query-chardev) */
        type = chr->type ?: "pty";
        if (streq(type, "pty")) {
                if (!chr->source_path) {
                        *ret_error = g_strdup_printf("qemu did not report the pty of %s", name);
                        return -EIO;
                }
                r = open_pty(chr->source_path, ret_fd, ret_error);
        } else if (streq(type, "unix") && !streq_ptr(chr->source_mode, "connect") && chr->source_path)
                r = connect_unix(chr->source_path, rt->pid, ret_fd, ret_error);
        else {
                *ret_error = g_strdup_printf("%s is a %s device vmgmt cannot connect to", name, type);
                return -EOPNOTSUPP;
        }
        if (r < 0)
                return r;
        log_debug("Domain %s: opened console %s.", rt->def->name, name);
        *ret_device = TAKE_PTR(name);
        return 0;
}
