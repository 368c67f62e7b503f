/* vmgmtctl-console.c — `vmgmtctl console` and `start --console`: the guest's
 * serial console on this terminal, as with virsh (raw mode, Ctrl+] leaves).
 *
 * OpenConsole hands over a file descriptor, and file descriptors cannot cross
 * the ssh stdio bridge that -H uses for the bus. With -H the console is
 * therefore Domain.OpenConsoleStream's: a one-shot unix socket on the far host
 * that ssh forwards (ssh -N -L, as the same user: the far vmgmtd checks the
 * peer's uid), with the same session rules as OpenConsole. A far vmgmtd
 * without that method gets the older way: `ssh -t [-p PORT] [USER@]HOST
 * vmgmtctl [-M MACHINE] console …`, the remote vmgmtctl on ssh's terminal. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "vmgmtctl.h"

#define CONSOLE_ESCAPE 0x1d   /* Ctrl+] */

typedef struct Terminal {
        bool raw;
        struct termios saved;
        int flags[2];           /* of stdin and stdout, before O_NONBLOCK */
        bool flags_saved[2];
} Terminal;

/* The terminal as it was; also used from atexit so that no exit path leaves it raw. */
static Terminal saved_terminal;

static void terminal_restore(void) {
        for (int fd = STDIN_FILENO; fd <= STDOUT_FILENO; fd++)
                if (saved_terminal.flags_saved[fd]) {
                        (void) fcntl(fd, F_SETFL, saved_terminal.flags[fd]);
                        saved_terminal.flags_saved[fd] = false;
                }
        if (saved_terminal.raw) {
                (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_terminal.saved);
                saved_terminal.raw = false;
        }
}

static int terminal_make_raw(void) {
        static bool registered;
        struct termios t;

        if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_terminal.saved) < 0)
                return 0;   /* not a terminal: nothing to switch */
        if (!registered) {
                atexit(terminal_restore);
                registered = true;
        }
        t = saved_terminal.saved;
        cfmakeraw(&t);
        if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) < 0)
                return -errno;
        saved_terminal.raw = true;
        return 0;
}

/* Writes all of buf to a nonblocking fd, waiting for POLLOUT (the end of a session only). */
static int write_all(int fd, const char *buf, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, buf, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd p = { .fd = fd, .events = POLLOUT };
                                (void) poll(&p, 1, -1);
                                continue;
                        }
                        return -errno;
                }
                buf += w;
                n -= (size_t) w;
        }
        return 0;
}

/* O_NONBLOCK on stdin and stdout while attached (restored with the terminal:
 * the shell shares these file descriptions). */
static int stdio_nonblock(void) {
        for (int fd = STDIN_FILENO; fd <= STDOUT_FILENO; fd++) {
                int fl = fcntl(fd, F_GETFL);

                if (fl < 0)
                        return -errno;
                saved_terminal.flags[fd] = fl;
                saved_terminal.flags_saved[fd] = true;
                if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                        return -errno;
        }
        return 0;
}

typedef enum ConsoleEnd {
        CONSOLE_END_ESCAPE,     /* the user pressed Ctrl+] */
        CONSOLE_END_INPUT,      /* our input ended */
        CONSOLE_END_CLOSED,     /* the session ended: taken over, domain stopped, vmgmtd gone */
        CONSOLE_END_SIGNAL,
} ConsoleEnd;

/* Bytes on their way from one fd to another. */
typedef struct ConsoleBuf {
        char data[16384];
        size_t len;
} ConsoleBuf;

/* Reads what fits into b: 1 read something, 0 EOF, -EAGAIN nothing now, or -errno. */
static int buf_fill(ConsoleBuf *b, int fd) {
        ssize_t n = read(fd, b->data + b->len, sizeof(b->data) - b->len);

        if (n < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        b->len += (size_t) n;
        return n > 0;
}

/* Writes what fd takes now from b; 0, or -errno when fd is gone. */
static int buf_flush(ConsoleBuf *b, int fd) {
        ssize_t n;

        if (b->len == 0)
                return 0;
        n = write(fd, b->data, b->len);
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : -errno;
        memmove(b->data, b->data + n, b->len - (size_t) n);
        b->len -= (size_t) n;
        return 0;
}

/* Reads stdin into in; what follows a Ctrl+] is dropped. 1: Ctrl+] seen, 0: EOF, -EAGAIN, -errno. */
static int read_input(ConsoleBuf *in) {
        size_t before = in->len;
        char *esc;
        int r = buf_fill(in, STDIN_FILENO);

        if (r <= 0)
                return r == 0 ? 0 : r;
        esc = memchr(in->data + before, CONSOLE_ESCAPE, in->len - before);
        if (!esc)
                return -EAGAIN;   /* more may come */
        in->len = (size_t) (esc - in->data);
        return 1;
}

/* Copies stdin → console (up to Ctrl+]) and console → stdout until one side
 * ends. Nothing blocks: each direction has a buffer, and a side that does not
 * take bytes only stops the reading of what goes to it (a large paste into an
 * echoing guest cannot deadlock us against the guest's output). */
static int console_pump(int console, int sigfd, ConsoleEnd *ret_end) {
        ConsoleBuf in = {}, out = {};   /* stdin → console, console → stdout */

        for (;;) {
                struct pollfd p[4] = {
                        { .fd = in.len < sizeof(in.data) ? STDIN_FILENO : -1, .events = POLLIN },
                        { .fd = console, .events = (out.len < sizeof(out.data) ? POLLIN : 0) | (in.len ? POLLOUT : 0) },
                        { .fd = out.len ? STDOUT_FILENO : -1, .events = POLLOUT },
                        { .fd = sigfd, .events = POLLIN },
                };
                int r;

                if (p[1].events == 0)
                        p[1].fd = -1;   /* a hang-up waits until there is room to read it */
                if (poll(p, 4, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[3].revents) {
                        *ret_end = CONSOLE_END_SIGNAL;
                        return 0;
                }
                if (p[2].revents && (r = buf_flush(&out, STDOUT_FILENO)) < 0)
                        return r;
                if (p[1].revents & POLLOUT && buf_flush(&in, console) < 0) {
                        *ret_end = CONSOLE_END_CLOSED;
                        return 0;
                }
                if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && out.len < sizeof(out.data)) {
                        r = buf_fill(&out, console);
                        if (r != -EAGAIN && r <= 0) {
                                /* what came before the end still reaches the terminal */
                                (void) write_all(STDOUT_FILENO, out.data, out.len);
                                *ret_end = CONSOLE_END_CLOSED;
                                return 0;
                        }
                }
                if (p[0].revents) {
                        r = read_input(&in);
                        if (r == -EAGAIN)
                                continue;
                        /* Ctrl+], EOF or an error: what was typed before it goes out if it can */
                        (void) buf_flush(&in, console);
                        *ret_end = r > 0 ? CONSOLE_END_ESCAPE : CONSOLE_END_INPUT;
                        return 0;
                }
        }
}

/* A signalfd for the signals that would otherwise end us with the terminal raw. */
static int console_signals(sigset_t *old) {
        sigset_t mask;
        int fd;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGQUIT);
        if (sigprocmask(SIG_BLOCK, &mask, old) < 0)
                return -errno;
        fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (fd < 0) {
                int r = -errno;
                (void) sigprocmask(SIG_SETMASK, old, NULL);
                return r;
        }
        return fd;
}

static int console_open(Context *c, const char *path, const char *device, bool force, int *ret_fd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int fd, r;

        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "OpenConsole", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", strempty(device));
        if (r >= 0)
                r = ctl_append_flags(m, "force", force, (const char *) NULL);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return ctl_error(r, "Failed to read the console: %s", strerror(-r));
        /* the reply owns the fd it carries */
        *ret_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (*ret_fd < 0)
                return ctl_error(-errno, "Failed to take the console fd: %m");
        return 0;
}

static int console_remote(Context *c, const char *name, const char *device, bool force);

/* OpenConsoleStream: the session behind a one-shot socket on the domain's host, reached
 * through ssh's forwarding with -H. *ret_unknown: the far vmgmtd has no such method. */
static int console_open_stream(Context *c, const char *path, const char *device, bool force, CtlStream *ret,
                               bool *ret_unknown) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *spath;
        int r;

        *ret_unknown = false;
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "OpenConsoleStream", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", strempty(device));
        if (r >= 0)
                r = ctl_append_flags(m, "force", force, (const char *) NULL);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = sd_bus_call(c->bus, m, 0, &error, &reply);
        if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD)) {
                *ret_unknown = true;
                return r;
        }
        if (r < 0)
                return ctl_bus_error(&error, r);
        r = sd_bus_message_read(reply, "s", &spath);
        if (r < 0)
                return ctl_error(r, "Failed to read the console: %s", strerror(-r));
        return ctl_stream_open(c, spath, ret);
}

/* The console (fd, taken) of domain name on this terminal until Ctrl+], EOF or a signal. */
static int console_attach_fd(Context *c, int fd, const char *name) {
        _cleanup_close_ int console = fd, sigfd = -1;
        ConsoleEnd end = CONSOLE_END_CLOSED;
        sigset_t old;
        int r;

        ctl_polkit_agent_close(c);   /* no password prompt can come any more; it must not read our terminal */
        sigfd = console_signals(&old);
        if (sigfd < 0)
                return ctl_error(sigfd, "Failed to set up signal handling: %s", strerror(-sigfd));
        /* raw before the banner: whatever is typed once it shows goes to the guest as it is */
        r = terminal_make_raw();
        if (r >= 0) {
                const char *nl = saved_terminal.raw ? "\r\n" : "\n";   /* raw: no output translation */
                if (!ctl_quiet)
                        printf("Connected to domain '%s'%sEscape character is ^] (Ctrl + ])%s", name, nl, nl);
                fflush(stdout);
                r = stdio_nonblock();
                if (r >= 0 && fcntl(console, F_SETFL, O_NONBLOCK | O_RDWR) < 0)
                        r = -errno;
                if (r >= 0)
                        r = console_pump(console, sigfd, &end);
        }
        terminal_restore();
        (void) sigprocmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                return ctl_error(r, "Console of domain '%s' failed: %s", name, strerror(-r));
        if (end == CONSOLE_END_CLOSED)
                fprintf(stderr, "\nThe console session ended (the domain stopped or another session took it over).\n");
        else
                fputc('\n', stdout);
        return 0;
}

/* The console of the domain at path on this terminal until Ctrl+], EOF or a signal. */
static int console_attach(Context *c, const char *path, const char *name, const char *device, bool force) {
        int console = -1, r;

        if (sd_bus_can_send(c->bus, SD_BUS_TYPE_UNIX_FD) <= 0) {
                CtlStream st;
                bool unknown;

                /* -H, or another connection without fds: the stream (bytes over ssh) */
                r = console_open_stream(c, path, device, force, &st, &unknown);
                if (r < 0 && unknown && c->host) {
                        /* an older vmgmtd: the far host's own vmgmtctl on ssh's terminal. The
                         * bus connection is not needed by it: closing it ends (and reaps) its
                         * ssh to systemd-stdio-bridge */
                        ctl_polkit_agent_close(c);
                        c->bus = sd_bus_flush_close_unref(c->bus);
                        return console_remote(c, name, device, force);
                }
                if (r < 0 && unknown)
                        return ctl_error(-EOPNOTSUPP, "This bus connection cannot pass file descriptors and vmgmtd "
                                                      "offers no console stream; run vmgmtctl console on the host "
                                                      "of the domain.");
                if (r < 0)
                        return r;
                r = console_attach_fd(c, TAKE_FD(st.fd), name);
                ctl_stream_close(&st);
                return r;
        }
        r = console_open(c, path, device, force, &console);
        if (r < 0)
                return r;
        return console_attach_fd(c, console, name);
}

/* ---- -H: run the console on the remote host ---- */

static void shell_quote(FILE *f, const char *arg) {
        fputc('\'', f);
        for (const char *p = arg; *p; p++) {
                if (*p == '\'')
                        fputs("'\\''", f);
                else
                        fputc(*p, f);
        }
        fputc('\'', f);
}

/* The remote command line: vmgmtctl [-M MACHINE | -c qemu+unix:///system?socket=SOCKET]
 * console 'NAME' [--devname 'DEV'] [--force]. */
static char *remote_command(const char *machine, const char *bus_socket, const char *name, const char *device,
                            bool force) {
        char *cmd = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&cmd, &size);

        if (!f)
                return NULL;
        fputs("vmgmtctl", f);
        if (machine) {
                fputs(" -M ", f);
                shell_quote(f, machine);
        }
        if (bus_socket) {
                _cleanup_free_ char *uri = NULL;

                fputs(" -c ", f);
                /* the URI's query is %-escaped where it must be */
                uri = malloc(strlen(bus_socket) * 3 + 64);
                if (uri) {
                        char *o = uri + sprintf(uri, "qemu+unix:///system?socket=");
                        for (const char *p = bus_socket; *p; p++)
                                o += strchr("&%=?#", *p) ? sprintf(o, "%%%02x", (unsigned char) *p) : sprintf(o, "%c", *p);
                        shell_quote(f, uri);
                }
        }
        fputs(" console ", f);
        shell_quote(f, name);
        if (!isempty(device)) {
                fputs(" --devname ", f);
                shell_quote(f, device);
        }
        if (force)
                fputs(" --force", f);
        if (fclose(f) != 0) {
                free(cmd);
                return NULL;
        }
        return cmd;
}

/* c->host is [USER@]HOST[:PORT][/MACHINE], as sd_bus_open_system_remote() takes it;
 * ssh gets -c's options (keyfile, no_verify, command). */
static int console_remote(Context *c, const char *name, const char *device, bool force) {
        _cleanup_free_ char *cmd = NULL;
        const char *slash = strchr(c->host, '/');
        _cleanup_free_ char *machine = slash && slash[1] ? strdup(slash + 1) : NULL;
        char **argv;

        cmd = remote_command(machine, c->remote.bus_socket, name, device, force);
        if (!cmd)
                return ctl_error(-ENOMEM, "Out of memory.");
        /* -t: a terminal on the remote side, the remote vmgmtctl makes it raw */
        argv = ctl_ssh_argv(c, true, cmd);
        if (!argv)
                return ctl_error(-ENOMEM, "Out of memory.");
        fflush(stdout);
        execvp(argv[0], argv);
        {
                int r = -errno;
                strv_freep(&argv);
                return ctl_error(r, "Failed to run %s for the console on %s: %s", c->remote.ssh ?: "ssh", c->host,
                                 strerror(-r));
        }
}

static int console_run(Context *c, const char *ident, const char *device, bool force) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        int r;

        r = domain_resolve(c, ident, &path, &name);
        if (r < 0)
                return r;
        return console_attach(c, path, name, device, force);
}

int verb_console(Context *c, VerbArgs *a) {
        return console_run(c, a->args[0], verb_value(a, "devname"), verb_flag(a, "force"));
}

int verb_start(Context *c, VerbArgs *a) {
        int r;

        r = verb_lifecycle(c, a);
        if (r < 0 || !verb_flag(a, "console"))
                return r;
        fflush(stdout);
        return console_run(c, a->args[0], NULL, false);
}
