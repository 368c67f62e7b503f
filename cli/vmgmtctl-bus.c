/* vmgmtctl-bus.c — vmgmtctl's connection, method calls, error printing and domain lookups. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmgmtctl.h"

bool verb_flag(const VerbArgs *a, const char *name) {
        return verb_value(a, name) != NULL;
}

size_t verb_option_is(const char *entry, const char *name) {
        size_t len = strlen(name);

        if (strncmp(entry, name, len) != 0)
                return 0;
        if (entry[len] == '\0' || streq(entry + len, "=") || streq(entry + len, "=*"))
                return len;
        return 0;
}

const char *verb_value(const VerbArgs *a, const char *name) {
        for (size_t i = 0; a->options && a->options[i] && i < VERB_OPTIONS_MAX; i++)
                if (verb_option_is(a->options[i], name))
                        return a->values[i];
        return NULL;
}

const char *verb_value_n(const VerbArgs *a, const char *name, size_t n) {
        for (size_t k = 0; k < a->n_repeated; k++)
                if (verb_option_is(a->options[a->repeated_option[k]], name) && n-- == 0)
                        return a->repeated[k];
        return NULL;
}

int ctl_error(int r, const char *fmt, ...) {
        va_list ap;

        fflush(stdout);
        fputs("error: ", stderr);
        /* %m in fmt prints r, as with log_error_errno(). */
        errno = r < 0 ? -r : EIO;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return r < 0 ? r : -EIO;
}

int ctl_bus_error(const sd_bus_error *e, int r) {
        if (sd_bus_error_is_set(e)) {
                if (r >= 0)
                        r = sd_bus_error_get_errno(e);
                /* the message, and the error's name for scripts (as busctl shows it) */
                if (!isempty(e->message) && !isempty(e->name))
                        return ctl_error(r < 0 ? r : -EIO, "%s (%s)", e->message, e->name);
                return ctl_error(r < 0 ? r : -EIO, "%s", !isempty(e->message) ? e->message : e->name);
        }
        return ctl_error(r, "%s", strerror(r < 0 ? -r : EIO));
}

/* [USER@]HOST[:PORT][/MACHINE] as sd_bus_open_system_remote() takes it; pieces malloc'd. */
static int host_split(const char *host, char **ret_dest, char **ret_port, char **ret_machine) {
        _cleanup_free_ char *h = strdup(host);
        char *machine, *colon;

        if (!h)
                return -ENOMEM;
        machine = strchr(h, '/');
        if (machine)
                *machine++ = 0;
        colon = strrchr(h, ':');
        if (colon && !strchr(colon, ']')) {
                *colon = 0;
                *ret_port = strdup(colon + 1);
                if (!*ret_port)
                        return -ENOMEM;
        } else
                *ret_port = NULL;
        *ret_machine = machine && *machine ? strdup(machine) : NULL;
        if (isempty(h))
                return -EINVAL;
        *ret_dest = TAKE_PTR(h);
        return 0;
}

static char *shell_quoted(const char *arg) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        if (!f)
                return NULL;
        fputc('\'', f);
        for (const char *p = arg; *p; p++)
                fputs(*p == '\'' ? "'\\''" : (char[]) { *p, 0 }, f);
        fputc('\'', f);
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

static int strv_push(char ***l, size_t *n, const char *s) {
        char **nl = realloc(*l, (*n + 2) * sizeof(char *));

        if (!nl)
                return -ENOMEM;
        *l = nl;
        nl[*n] = strdup(s);
        if (!nl[*n])
                return -ENOMEM;
        nl[++*n] = NULL;
        return 0;
}

/* The remote command that bridges the far side's bus: systemd-stdio-bridge
 * [--bus-path=unix:path=SOCKET] [-M MACHINE]. */
static char *bridge_command(const Context *c, const char *machine) {
        _cleanup_free_ char *sock = NULL, *qm = NULL, *cmd = NULL;

        if (c->remote.bus_socket) {
                _cleanup_free_ char *a = NULL;
                if (asprintf(&a, "--bus-path=unix:path=%s", c->remote.bus_socket) < 0)
                        return NULL;
                sock = shell_quoted(a);
                if (!sock)
                        return NULL;
        }
        if (machine && !(qm = shell_quoted(machine)))
                return NULL;
        if (asprintf(&cmd, "systemd-stdio-bridge%s%s%s%s", sock ? " " : "", strempty(sock), qm ? " -M " : "",
                     strempty(qm)) < 0)
                return NULL;
        return TAKE_PTR(cmd);
}

static char **ssh_argv(const Context *c, const char *const *opts, const char *command) {
        _cleanup_free_ char *dest = NULL, *port = NULL, *machine = NULL;
        char **l = NULL;
        size_t n = 0;
        int r;

        if (host_split(c->host, &dest, &port, &machine) < 0)
                return NULL;
        r = strv_push(&l, &n, c->remote.ssh ?: "ssh");
        for (size_t i = 0; r >= 0 && opts[i]; i++)
                r = strv_push(&l, &n, opts[i]);
        if (r >= 0 && port && (r = strv_push(&l, &n, "-p")) >= 0)
                r = strv_push(&l, &n, port);
        if (r >= 0 && c->remote.keyfile && (r = strv_push(&l, &n, "-i")) >= 0)
                r = strv_push(&l, &n, c->remote.keyfile);
        if (r >= 0 && c->remote.no_verify) {
                /* libvirt's no_verify=1: any host key is accepted (and none is recorded) */
                const char *o[] = { "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                    "-o", "LogLevel=ERROR" };
                for (size_t i = 0; r >= 0 && i < ELEMENTSOF(o); i++)
                        r = strv_push(&l, &n, o[i]);
        }
        if (r >= 0)
                r = strv_push(&l, &n, "--");
        if (r >= 0)
                r = strv_push(&l, &n, dest);
        if (r >= 0 && command)
                r = strv_push(&l, &n, command);
        if (r < 0) {
                strv_freep(&l);
                return NULL;
        }
        return l;
}

char **ctl_ssh_argv(const Context *c, bool tty, const char *command) {
        return ssh_argv(c, (const char *const[]) { tty ? "-t" : "-xT", NULL }, command);
}

/* ---- streams: what a connection without fd passing gets instead of an fd ---- */

static uint64_t ctl_now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static int stream_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int ctl_copy_fd(int from, int to) {
        char buf[65536];

        for (;;) {
                ssize_t n = read(from, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                for (ssize_t done = 0; done < n;) {
                        ssize_t w = write(to, buf + done, (size_t) (n - done));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return -errno;
                        done += w;
                }
        }
}

void ctl_stream_close(CtlStream *s) {
        if (s->fd >= 0)
                close(s->fd);
        if (s->ssh > 0) {
                (void) kill(s->ssh, SIGTERM);
                while (waitpid(s->ssh, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        *s = (CtlStream) { .fd = -1 };
}

int ctl_stream_open(Context *c, const char *remote_path, CtlStream *ret) {
        char dir[] = "/tmp/vmgmtctl-stream-XXXXXX";
        _cleanup_free_ char *local = NULL, *spec = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        CtlStream s = { .fd = -1 };
        uint64_t deadline;
        int r = 0;

        *ret = s;
        if (!c->host) {
                /* a local bus that passes no fds: the socket is right here */
                s.fd = stream_connect(remote_path);
                if (s.fd < 0)
                        return ctl_error(s.fd, "Failed to connect to %s: %s", remote_path, strerror(-s.fd));
                *ret = s;
                return 0;
        }
        /* ssh forwards a local socket of ours to the far one (as the same user, which
         * the far side checks), for one connection */
        if (!mkdtemp(dir))
                return ctl_error(-errno, "Failed to make a directory for the stream: %m");
        if (asprintf(&local, "%s/s", dir) < 0 || asprintf(&spec, "%s:%s", local, remote_path) < 0) {
                (void) rmdir(dir);
                return ctl_error(-ENOMEM, "Out of memory.");
        }
        argv = ssh_argv(c, (const char *const[]) { "-xTN", "-o", "ExitOnForwardFailure=yes", "-o",
                                                   "StreamLocalBindUnlink=yes", "-L", spec, NULL }, NULL);
        if (!argv) {
                (void) rmdir(dir);
                return ctl_error(-ENOMEM, "Out of memory.");
        }
        fflush(stdout);
        s.ssh = fork();
        if (s.ssh < 0) {
                r = -errno;
                (void) rmdir(dir);
                return ctl_error(r, "Failed to run ssh: %s", strerror(-r));
        }
        if (s.ssh == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0) {
                        (void) dup2(null, STDIN_FILENO);
                        (void) dup2(null, STDOUT_FILENO);
                }
                execvp(argv[0], argv);
                _exit(127);
        }
        deadline = ctl_now_usec() + CTL_STREAM_TIMEOUT_USEC;
        for (;;) {
                int status;

                s.fd = stream_connect(local);
                if (s.fd >= 0)
                        break;
                if (waitpid(s.ssh, &status, WNOHANG) == s.ssh) {
                        s.ssh = 0;
                        r = ctl_error(-ECONNREFUSED, "ssh to %s could not forward the stream (exit status %d).",
                                      c->host, WIFEXITED(status) ? WEXITSTATUS(status) : 255);
                        break;
                }
                if (ctl_now_usec() > deadline) {
                        r = ctl_error(-ETIMEDOUT, "ssh to %s did not forward the stream within %d s.", c->host,
                                      (int) (CTL_STREAM_TIMEOUT_USEC / 1000000));
                        break;
                }
                (void) usleep(20 * 1000);
        }
        (void) unlink(local);
        (void) rmdir(dir);
        if (r < 0) {
                ctl_stream_close(&s);
                return r;
        }
        *ret = s;
        return 0;
}

/* An sd-bus address value: everything but [-_/.a-zA-Z0-9] as %XX. */
static int address_append(FILE *f, const char *v) {
        for (const unsigned char *p = (const unsigned char *) v; *p; p++)
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-_/.", *p))
                        fputc(*p, f);
                else
                        fprintf(f, "%%%02x", *p);
        return 0;
}

/* A bus client on address (the caller's: not trusted when remote). */
static int bus_open_address(const char *address, bool remote, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0 && remote)
                r = sd_bus_set_trusted(bus, false);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

/* The far side's system bus over ssh, as sd_bus_open_system_remote() does it, with the
 * ssh options of -c's URI: unixexec:path=ssh,argv1=…,…. */
static int open_remote(const Context *c, sd_bus **ret) {
        _cleanup_free_ char *dest = NULL, *port = NULL, *machine = NULL, *cmd = NULL, *address = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        r = host_split(c->host, &dest, &port, &machine);
        if (r < 0)
                return r;
        cmd = bridge_command(c, machine);
        if (!cmd)
                return -ENOMEM;
        argv = ctl_ssh_argv(c, false, cmd);
        if (!argv)
                return -ENOMEM;
        f = open_memstream(&address, &size);
        if (!f)
                return -ENOMEM;
        fputs("unixexec:path=", f);
        address_append(f, argv[0]);
        for (size_t i = 1; argv[i]; i++) {
                fprintf(f, ",argv%zu=", i);
                address_append(f, argv[i]);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        return bus_open_address(address, true, ret);
}

/* qemu+unix:///system?socket=PATH: the bus at that socket. */
static int open_socket(const char *path, sd_bus **ret) {
        _cleanup_free_ char *address = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&address, &size);
        if (!f)
                return -ENOMEM;
        fputs("unix:path=", f);
        address_append(f, path);
        if (fclose(f) != 0)
                return -ENOMEM;
        return bus_open_address(address, false, ret);
}

int ctl_connect(Context *c, bool user, const char *host, const char *machine) {
        sd_bus *bus = NULL;
        int r;

        if (host && user)
                return ctl_error(-EINVAL, "Connecting to a remote user bus is not supported.");
        if (host && machine)
                return ctl_error(-EINVAL, "-H and -M exclude each other (a container on a remote host: -H HOST/CONTAINER).");
        if (host)
                r = open_remote(c, &bus);
        else if (c->bus_socket)
                r = open_socket(c->bus_socket, &bus);
        else if (machine)
                r = user ? sd_bus_open_user_machine(&bus, machine) : sd_bus_open_system_machine(&bus, machine);
        else
                r = user ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
        if (r < 0) {
                if (machine && (r == -ENOENT || r == -ENXIO || r == -EHOSTDOWN) && !streq(machine, ".host"))
                        /* sd-bus finds a container's leader in machined's records */
                        return ctl_error(r, "Failed to connect to the %s bus of machine '%s': no such container is "
                                         "registered with systemd-machined (sd-bus finds its leader process in "
                                         "/run/systemd/machines/%s: %s).",
                                         user ? "user" : "system", machine, machine, strerror(-r));
                if (host)
                        return ctl_error(r, "The connection to host '%s' failed: ssh or systemd-stdio-bridge on it "
                                         "ended (%s).", host, strerror(-r));
                if (machine)
                        return ctl_error(r, "Failed to connect to the %s bus of machine '%s': %s", user ? "user" : "system",
                                         machine, strerror(-r));
                if (c->bus_socket)
                        return ctl_error(r, "Failed to connect to the bus at %s: %s", c->bus_socket, strerror(-r));
                return ctl_error(r, "Failed to connect to %s bus: %s", user ? "user" : "system", strerror(-r));
        }

        /* As systemctl does: let polkit ask for a password unless told not to. */
        if (c->ask_password)
                (void) sd_bus_set_allow_interactive_authorization(bus, true);
        /* a password prompt needs polkit on this machine: not over ssh or in a container */
        c->agent_allowed = c->ask_password && !user && !host && !machine && !c->bus_socket;
        c->bus = bus;
        return 0;
}

int ctl_new_call(Context *c, const char *path, const char *iface, const char *member, sd_bus_message **ret) {
        int r;

        r = sd_bus_message_new_method_call(c->bus, ret, VMGMT_BUS_NAME, path, iface, member);
        if (r < 0)
                return ctl_error(r, "Failed to create bus message: %s", strerror(-r));
        return 0;
}

int ctl_call(Context *c, sd_bus_message *m, sd_bus_message **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        ctl_polkit_agent_open_for(c, m);
        /* Timeout 0: the bus default (25 s, or $SYSTEMD_BUS_TIMEOUT), so no call hangs forever. */
        r = sd_bus_call(c->bus, m, 0, &error, ret);
        if (r < 0 && c->host && (r == -ENOTCONN || r == -ECONNRESET || r == -EPIPE || r == -ECONNREFUSED))
                /* ssh's own message, if any, came before on stderr */
                return ctl_error(r, "The connection to host '%s' failed: ssh or systemd-stdio-bridge on it ended (%s).",
                                 c->host, strerror(-r));
        if (r < 0)
                return ctl_bus_error(&error, r);
        return 0;
}

static int append_flags_va(sd_bus_message *m, va_list ap) {
        const char *key;
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((key = va_arg(ap, const char *))) {
                int value = va_arg(ap, int);

                if (!value)
                        continue;
                r = sd_bus_message_append(m, "{sv}", key, "b", 1);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

int ctl_append_flags(sd_bus_message *m, ...) {
        va_list ap;
        int r;

        va_start(ap, m);
        r = append_flags_va(m, ap);
        va_end(ap);
        return r;
}

int ctl_object_call(Context *c, const char *path, const char *iface, const char *member, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = ctl_new_call(c, path, iface, member, &m);
        if (r < 0)
                return r;
        va_start(ap, member);
        r = append_flags_va(m, ap);
        va_end(ap);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return ctl_call(c, m, NULL);
}

int ctl_reply_read_path(sd_bus_message *reply, const char *member, char **ret_path) {
        const char *path;
        int r;

        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return ctl_error(r, "Failed to parse reply of %s: %s", member, strerror(-r));
        *ret_path = strdup(path);
        return *ret_path ? 0 : ctl_error(-ENOMEM, "Out of memory.");
}

int ctl_manager_call_path(Context *c, const char *member, const char *arg, bool with_options, char **ret_path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, member, &m);
        if (r < 0)
                return r;
        r = with_options ? sd_bus_message_append(m, "sa{sv}", arg, 0) : sd_bus_message_append(m, "s", arg);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        return ctl_reply_read_path(reply, member, ret_path);
}

int ctl_manager_list(Context *c, const char *member, const VerbArgs *a, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        bool all = verb_flag(a, "all"), inactive = verb_flag(a, "inactive");
        int r;

        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, member, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && !all)
                r = sd_bus_message_append(m, "{sv}", inactive ? "inactive" : "active", "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "o");
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        *ret_reply = TAKE_PTR(reply);
        return 0;
}

int ctl_get_xml(Context *c, const char *path, const char *iface, bool inactive, bool secure, char **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *xml;
        int r;

        r = ctl_new_call(c, path, iface, "GetXML", &m);
        if (r < 0)
                return r;
        if (secure)
                ctl_polkit_agent_open(c);   /* the secrets may need a password; ctl_call() opens none for Get* */
        r = ctl_append_flags(m, "inactive", inactive, "secure", secure, (const char *) NULL);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &xml);
        if (r < 0)
                return ctl_error(r, "Failed to parse reply of GetXML: %s", strerror(-r));
        *ret = strdup(xml);
        return *ret ? 0 : ctl_error(-ENOMEM, "Out of memory.");
}

int ctl_verb_autostart(Context *c, VerbArgs *a, const char *noun, const char *iface, const char *get_member) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL, *name = NULL;
        bool disable = verb_flag(a, "disable");
        int r;

        r = ctl_manager_call_path(c, get_member, a->args[0], false, &path);
        if (r < 0)
                return r;
        name = ctl_object_name(c, path, iface);
        r = sd_bus_set_property(c->bus, VMGMT_BUS_NAME, path, iface, "Autostart", &error, "b", !disable);
        if (r < 0)
                return ctl_bus_error(&error, r);
        printf("%s %s %s as autostarted\n", noun, name ?: a->args[0], disable ? "unmarked" : "marked");
        return 0;
}

void domain_info_done(DomainInfo *i) {
        free(i->path);
        free(i->name);
        free(i->uuid);
        free(i->state);
        free(i->state_reason);
        free(i->title);
        free(i->security_model);
        free(i->security_label);
        *i = (DomainInfo) {};
}

void domain_info_array_free(DomainInfo *a, size_t n) {
        for (size_t i = 0; i < n; i++)
                domain_info_done(&a[i]);
        free(a);
}

typedef struct PropertySlot {
        const char *name;
        char type;
        size_t offset;
} PropertySlot;

static const PropertySlot domain_properties[] = {
        { "Name", 's', offsetof(DomainInfo, name) },
        { "UUID", 's', offsetof(DomainInfo, uuid) },
        { "Id", 'u', offsetof(DomainInfo, id) },
        { "State", 's', offsetof(DomainInfo, state) },
        { "StateReason", 's', offsetof(DomainInfo, state_reason) },
        { "Persistent", 'b', offsetof(DomainInfo, persistent) },
        { "Autostart", 'b', offsetof(DomainInfo, autostart) },
        { "HasManagedSave", 'b', offsetof(DomainInfo, has_managed_save) },
        { "VCPUs", 'u', offsetof(DomainInfo, vcpus) },
        { "MemoryKiB", 't', offsetof(DomainInfo, memory_kib) },
        { "MaxMemoryKiB", 't', offsetof(DomainInfo, max_memory_kib) },
        { "Title", 's', offsetof(DomainInfo, title) },
        { "StartTime", 't', offsetof(DomainInfo, start_time) },
        { "Generation", 't', offsetof(DomainInfo, generation) },
        { "SecurityModel", 's', offsetof(DomainInfo, security_model) },
        { "SecurityLabel", 's', offsetof(DomainInfo, security_label) },
};

/* Reads the variant at the read pointer into the slot if its type is the one expected, else skips it. */
static int property_read(sd_bus_message *m, const PropertySlot *slot, DomainInfo *i) {
        char sig[2] = { slot->type, 0 };
        void *p = (uint8_t *) i + slot->offset;
        const char *contents;
        int r;

        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;
        if (!contents || !streq(contents, sig))
                return sd_bus_message_skip(m, "v");

        r = sd_bus_message_enter_container(m, 'v', sig);
        if (r < 0)
                return r;
        switch (slot->type) {
        case 's': {
                const char *s;
                char *copy;

                r = sd_bus_message_read_basic(m, 's', &s);
                if (r < 0)
                        return r;
                copy = strdup(s);
                if (!copy)
                        return -ENOMEM;
                free(*(char **) p);
                *(char **) p = copy;
                break;
        }
        case 'b': {
                int b;

                r = sd_bus_message_read_basic(m, 'b', &b);
                if (r < 0)
                        return r;
                *(bool *) p = b;
                break;
        }
        default:
                r = sd_bus_message_read_basic(m, slot->type, p);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

int domain_info_read(sd_bus_message *m, DomainInfo *i) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const PropertySlot *slot = NULL;
                const char *key;

                r = sd_bus_message_read_basic(m, 's', &key);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < ELEMENTSOF(domain_properties); k++)
                        if (streq(domain_properties[k].name, key))
                                slot = &domain_properties[k];
                r = slot ? property_read(m, slot, i) : sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int domain_info_get(Context *c, const char *path, DomainInfo *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        DomainInfo i = {};
        int r;

        r = ctl_new_call(c, path, "org.freedesktop.DBus.Properties", "GetAll", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", VMGMT_DOMAIN_IFACE);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = domain_info_read(reply, &i);
        if (r >= 0) {
                i.path = strdup(path);
                if (!i.path)
                        r = -ENOMEM;
        }
        if (r < 0) {
                domain_info_done(&i);
                return ctl_error(r, "Failed to parse domain properties: %s", strerror(-r));
        }
        *ret = i;
        return 0;
}

static int managed_objects_read(sd_bus_message *m, DomainInfo **ret, size_t *ret_n) {
        DomainInfo *list = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
                const char *path;

                r = sd_bus_message_read_basic(m, 'o', &path);
                if (r >= 0)
                        r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
                while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                        const char *iface;

                        r = sd_bus_message_read_basic(m, 's', &iface);
                        if (r >= 0 && streq(iface, VMGMT_DOMAIN_IFACE)) {
                                DomainInfo *nl = realloc(list, (n + 1) * sizeof(DomainInfo));

                                if (!nl) {
                                        r = -ENOMEM;
                                        break;
                                }
                                list = nl;
                                list[n] = (DomainInfo) { .path = strdup(path) };
                                n++;
                                r = list[n - 1].path ? domain_info_read(m, &list[n - 1]) : -ENOMEM;
                        } else if (r >= 0)
                                r = sd_bus_message_skip(m, "a{sv}");
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                domain_info_array_free(list, n);
                return r;
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

int domain_info_get_all(Context *c, DomainInfo **ret, size_t *ret_n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = ctl_new_call(c, VMGMT_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", &m);
        if (r < 0)
                return r;
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = managed_objects_read(reply, ret, ret_n);
        if (r < 0)
                return ctl_error(r, "Failed to parse the list of domains: %s", strerror(-r));
        return 0;
}

int domain_path_to_name(const char *path, char **ret) {
        char *name = NULL;
        int r;

        r = sd_bus_path_decode(path, VMGMT_DOMAIN_PATH_PREFIX, &name);
        if (r < 0)
                return r;
        if (r == 0 || isempty(name)) {
                free(name);
                return -EINVAL;
        }
        *ret = name;
        return 0;
}

/* Returns the path of the active domain with this Id, or a printed -ENOENT/-errno. */
static int domain_find_by_id(Context *c, uint32_t id, char **ret_path) {
        DomainInfo *list = NULL;
        size_t n = 0;
        int r;

        r = domain_info_get_all(c, &list, &n);
        if (r < 0)
                return r;
        r = -ENOENT;
        for (size_t i = 0; i < n; i++)
                if (list[i].id == id) {
                        *ret_path = TAKE_PTR(list[i].path);
                        r = 0;
                        break;
                }
        domain_info_array_free(list, n);
        return r;
}


int domain_resolve(Context *c, const char *ident, char **ret_path, char **ret_name) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        uint32_t id;
        int r;

        /* As virsh: an Id first, then a name or UUID (a domain may be named "5"). */
        if (format_parse_id(ident, &id)) {
                r = domain_find_by_id(c, id, &path);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        if (!path) {
                r = ctl_manager_call_path(c, "GetDomain", ident, false, &path);
                if (r < 0)
                        return r;
        }

        if (ret_name) {
                r = domain_path_to_name(path, &name);
                if (r < 0) {
                        DomainInfo i = {};

                        /* A path that does not follow the naming rule: ask the object. */
                        r = domain_info_get(c, path, &i);
                        if (r < 0)
                                return r;
                        name = TAKE_PTR(i.name);
                        domain_info_done(&i);
                        if (!name)
                                return ctl_error(-EBADMSG, "Domain at %s has no name.", path);
                }
                *ret_name = TAKE_PTR(name);
        }
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;
}

int domain_get_u64(Context *c, const char *path, const char *property, uint64_t *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property_trivial(c->bus, VMGMT_BUS_NAME, path, VMGMT_DOMAIN_IFACE, property, &error, 't', ret);
        if (r < 0)
                return ctl_bus_error(&error, r);
        return 0;
}

int ctl_read_file(const char *path, char **ret) {
        /* Well above any definition, below the bus's message size limit. */
        const size_t max = 64 * 1024 * 1024;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;
        bool is_stdin = streq(path, "-");

        f = is_stdin ? stdin : fopen(path, "re");
        if (!f)
                return ctl_error(-errno, "Failed to open file '%s': %m", path);
        for (;;) {
                size_t n;

                if (allocated - size < 4096) {
                        char *nb;

                        allocated = allocated ? allocated * 2 : 65536;
                        nb = realloc(buf, allocated + 1);
                        if (!nb)
                                return ctl_error(-ENOMEM, "Out of memory.");
                        buf = nb;
                }
                n = fread(buf + size, 1, allocated - size, f);
                size += n;
                if (size > max)
                        return ctl_error(-EFBIG, "File '%s' is too large.", path);
                if (n == 0) {
                        if (ferror(f))
                                return ctl_error(-EIO, "Failed to read file '%s'.", path);
                        break;
                }
        }
        if (is_stdin)
                f = NULL;
        buf[size] = '\0';
        if (strlen(buf) != size)
                return ctl_error(-EINVAL, "File '%s' contains a NUL byte.", path);
        *ret = TAKE_PTR(buf);
        return 0;
}
