/* busbench.c — the timing client of benchmarks/run: tight D-Bus round trips measured with sd-bus.
 *
 * benchmarks/run (Python) orchestrates; this program does every measurement
 * whose cost is close to a bus round trip, so that a scripting language's
 * per-call overhead does not hide the service's. It talks to the bus named
 * by DBUS_SYSTEM_BUS_ADDRESS (sd_bus_open_system()).
 *
 * Output is line based, "key value…", times in microseconds unless the key
 * ends in _ns (CLOCK_MONOTONIC nanoseconds, comparable across processes).
 * A failure prints "error MESSAGE" and exits 1.
 *
 *   busbench ping N                         Peer.Ping to the bus driver (the bus floor)
 *   busbench pingsvc N                      Peer.Ping to org.vmgmt (answered inside sd-bus: the
 *                                           floor of any call to the service, two bus hops)
 *   busbench get PATH IFACE PROP N          Properties.Get on org.vmgmt
 *   busbench getall PATH IFACE N            Properties.GetAll on org.vmgmt
 *   busbench gmo N                          ObjectManager.GetManagedObjects at /org/vmgmt
 *   busbench define TEMPLATE FIRST COUNT [DEPTH]
 *                                           DefineDomain COUNT times, at most DEPTH (default 1)
 *                                           unanswered at a time; "@NAME@" in the template file
 *                                           becomes bench-NNNNNN
 *   busbench transition PATH METHOD STATE   calls Domain.METHOD({}), waits for PropertiesChanged
 *                                           State=STATE; prints t0_ns, signal_us, reply_us
 *   busbench suspres PATH N                 Suspend+Resume round trips (both replies)
 *   busbench subscribe                      prints "ready", then "event MONO_NS EVENT DETAIL PATH"
 *                                           for each DomainEvent, until stdin closes
 *   busbench startup LOG -- ARGV…           starts ARGV (the daemon), prints pid, owned_us (exec →
 *                                           org.vmgmt owned) and call_us (first Manager.Version Get
 *                                           answered); the daemon is left running, in the caller's
 *                                           session unless BUSBENCH_SETSID is set */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#define SERVICE "org.vmgmt"
#define MANAGER_PATH "/org/vmgmt"
#define MANAGER_IFACE "org.vmgmt.Manager"
#define DOMAIN_IFACE "org.vmgmt.Domain"
#define CALL_TIMEOUT_USEC (120ULL * 1000 * 1000)

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static double us_since(uint64_t t0) {
        return (double) (now_ns() - t0) / 1000.0;
}

static int fail(const char *what, int r, const sd_bus_error *e) {
        if (e && sd_bus_error_is_set(e))
                printf("error %s: %s: %s\n", what, e->name, e->message ? e->message : "");
        else
                printf("error %s: %s\n", what, strerror(r < 0 ? -r : r));
        fflush(stdout);
        return 1;
}

static sd_bus *bus_connect(void) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fail("connecting to the system bus", r, NULL);
                exit(1);
        }
        return bus;
}

static void print_series(const char *key, const double *v, unsigned n) {
        printf("%s", key);
        for (unsigned i = 0; i < n; i++)
                printf(" %.1f", v[i]);
        printf("\n");
}

static int cmd_ping(const char *dest, const char *path, unsigned n) {
        sd_bus *bus = bus_connect();
        double *v = calloc(n, sizeof(double));

        for (unsigned i = 0; i < n; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                uint64_t t0 = now_ns();
                int r = sd_bus_call_method(bus, dest, path, "org.freedesktop.DBus.Peer", "Ping", &e, &reply, "");
                v[i] = us_since(t0);
                if (r < 0)
                        return fail("Ping", r, &e);
                sd_bus_message_unref(reply);
        }
        print_series("us", v, n);
        free(v);
        sd_bus_flush_close_unref(bus);
        return 0;
}

static int cmd_get(const char *path, const char *iface, const char *prop, unsigned n, bool all) {
        sd_bus *bus = bus_connect();
        double *v = calloc(n, sizeof(double));

        for (unsigned i = 0; i < n; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                uint64_t t0 = now_ns();
                int r;

                if (all)
                        r = sd_bus_call_method(bus, SERVICE, path, "org.freedesktop.DBus.Properties", "GetAll",
                                               &e, &reply, "s", iface);
                else
                        r = sd_bus_call_method(bus, SERVICE, path, "org.freedesktop.DBus.Properties", "Get",
                                               &e, &reply, "ss", iface, prop);
                v[i] = us_since(t0);
                if (r < 0)
                        return fail(all ? "GetAll" : "Get", r, &e);
                sd_bus_message_unref(reply);
        }
        print_series("us", v, n);
        free(v);
        sd_bus_flush_close_unref(bus);
        return 0;
}

/* Counts the objects of a GetManagedObjects reply (a{oa{sa{sv}}}). */
static int count_objects(sd_bus_message *m, unsigned *ret) {
        unsigned k = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_skip(m, "{oa{sa{sv}}}")) > 0)
                k++;
        if (r < 0)
                return r;
        *ret = k;
        return sd_bus_message_exit_container(m);
}

static int cmd_gmo(unsigned n) {
        sd_bus *bus = bus_connect();
        double *v = calloc(n, sizeof(double));
        unsigned objects = 0;

        for (unsigned i = 0; i < n; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *m = NULL, *reply = NULL;
                uint64_t t0;
                int r;

                r = sd_bus_message_new_method_call(bus, &m, SERVICE, MANAGER_PATH,
                                                   "org.freedesktop.DBus.ObjectManager", "GetManagedObjects");
                if (r < 0)
                        return fail("GetManagedObjects", r, NULL);
                t0 = now_ns();
                r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &e, &reply);
                v[i] = us_since(t0);
                if (r < 0)
                        return fail("GetManagedObjects", r, &e);
                r = count_objects(reply, &objects);
                if (r < 0)
                        return fail("parsing GetManagedObjects reply", r, NULL);
                sd_bus_message_unref(reply);
                sd_bus_message_unref(m);
        }
        print_series("us", v, n);
        printf("objects %u\n", objects);
        free(v);
        sd_bus_flush_close_unref(bus);
        return 0;
}

static char *read_template(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf;
        long sz;

        if (!f)
                return NULL;
        fseek(f, 0, SEEK_END);
        sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = calloc(1, (size_t) sz + 1);
        if (fread(buf, 1, (size_t) sz, f) != (size_t) sz) {
                free(buf);
                buf = NULL;
        }
        fclose(f);
        return buf;
}

/* template with every "@NAME@" replaced by name */
static char *expand(const char *tpl, const char *name) {
        size_t cap = strlen(tpl) + 16 * strlen(name) + 1, len = 0;
        char *out = malloc(cap);
        const char *p = tpl;

        while (*p) {
                const char *q = strstr(p, "@NAME@");
                size_t chunk = q ? (size_t) (q - p) : strlen(p);
                if (len + chunk + strlen(name) + 1 > cap) {
                        cap = (len + chunk + strlen(name) + 1) * 2;
                        out = realloc(out, cap);
                }
                memcpy(out + len, p, chunk);
                len += chunk;
                if (!q)
                        break;
                memcpy(out + len, name, strlen(name));
                len += strlen(name);
                p = q + strlen("@NAME@");
        }
        out[len] = 0;
        return out;
}

typedef struct DefineWindow {
        unsigned in_flight, done;
        int r;
        sd_bus_error error;
} DefineWindow;

static int on_define_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        DefineWindow *w = userdata;

        w->in_flight--;
        w->done++;
        if (sd_bus_message_is_method_error(m, NULL) && w->r == 0) {
                sd_bus_error_copy(&w->error, sd_bus_message_get_error(m));
                w->r = -EIO;
        }
        return 0;
}

/* COUNT DefineDomain calls with at most DEPTH unanswered at any time (1: each
 * sent after the previous reply). */
static int cmd_define(const char *template_path, unsigned first, unsigned count, unsigned depth) {
        sd_bus *bus = bus_connect();
        char *tpl = read_template(template_path);
        DefineWindow w = { .error = SD_BUS_ERROR_NULL };
        unsigned sent = 0;
        uint64_t t_all;
        int r;

        if (!tpl)
                return fail("reading template", -errno, NULL);
        if (depth == 0)
                depth = 1;
        t_all = now_ns();
        while (w.done < count) {
                while (sent < count && w.in_flight < depth && w.r == 0) {
                        sd_bus_message *m = NULL;
                        char name[32];
                        char *xml;

                        snprintf(name, sizeof name, "bench-%06u", first + sent);
                        xml = expand(tpl, name);
                        r = sd_bus_message_new_method_call(bus, &m, SERVICE, MANAGER_PATH, MANAGER_IFACE,
                                                           "DefineDomain");
                        if (r >= 0)
                                r = sd_bus_message_append(m, "sa{sv}", xml, 0);
                        free(xml);
                        if (r >= 0)
                                r = sd_bus_call_async(bus, NULL, m, on_define_reply, &w, CALL_TIMEOUT_USEC);
                        sd_bus_message_unref(m);
                        if (r < 0)
                                return fail("sending DefineDomain", r, NULL);
                        sent++;
                        w.in_flight++;
                }
                if (w.r < 0 && w.in_flight == 0)
                        break;
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return fail("processing bus", r, NULL);
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0)
                        return fail("waiting on bus", r, NULL);
        }
        if (w.r < 0) {
                printf("defined %u\n", w.done);
                return fail("DefineDomain", w.r, &w.error);
        }
        printf("total_us %.1f\n", us_since(t_all));
        printf("defined %u\n", count);
        free(tpl);
        sd_bus_flush_close_unref(bus);
        return 0;
}

typedef struct Waiter {
        const char *state;     /* the State we wait for */
        uint64_t seen_ns;      /* when it was seen, 0 until then */
} Waiter;

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Waiter *w = userdata;
        uint64_t t = now_ns();
        const char *iface;
        int r;

        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0 || strcmp(iface, DOMAIN_IFACE) != 0)
                return 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return 0;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *val;

                if (sd_bus_message_read(m, "s", &key) < 0)
                        return 0;
                if (strcmp(key, "State") == 0) {
                        if (sd_bus_message_read(m, "v", "s", &val) < 0)
                                return 0;
                        if (strcmp(val, w->state) == 0 && w->seen_ns == 0)
                                w->seen_ns = t;
                } else if (sd_bus_message_skip(m, "v") < 0)
                        return 0;
                if (sd_bus_message_exit_container(m) < 0)
                        return 0;
        }
        return 0;
}

typedef struct Reply {
        uint64_t ns;
        sd_bus_error error;
        int r;
} Reply;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Reply *rep = userdata;

        rep->ns = now_ns();
        if (sd_bus_message_is_method_error(m, NULL)) {
                sd_bus_error_copy(&rep->error, sd_bus_message_get_error(m));
                rep->r = -EIO;
        }
        return 0;
}

static int cmd_transition(const char *path, const char *method, const char *state) {
        sd_bus *bus = bus_connect();
        sd_bus_slot *match = NULL, *slot = NULL;
        sd_bus_message *m = NULL;
        Waiter w = { .state = state };
        Reply rep = { .error = SD_BUS_ERROR_NULL };
        char rule[512];
        uint64_t t0, deadline;
        int r;

        snprintf(rule, sizeof rule,
                 "type='signal',sender='" SERVICE "',path='%s',interface='org.freedesktop.DBus.Properties',"
                 "member='PropertiesChanged',arg0='" DOMAIN_IFACE "'", path);
        r = sd_bus_add_match(bus, &match, rule, on_properties_changed, &w);
        if (r < 0)
                return fail("adding match", r, NULL);
        r = sd_bus_message_new_method_call(bus, &m, SERVICE, path, DOMAIN_IFACE, method);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 0);
        if (r < 0)
                return fail("building call", r, NULL);

        t0 = now_ns();
        r = sd_bus_call_async(bus, &slot, m, on_reply, &rep, CALL_TIMEOUT_USEC);
        if (r < 0)
                return fail(method, r, NULL);
        deadline = t0 + 60ULL * 1000 * 1000 * 1000;
        while (rep.ns == 0 || (w.seen_ns == 0 && rep.r == 0)) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return fail("processing bus", r, NULL);
                if (r > 0)
                        continue;
                if (now_ns() > deadline) {
                        printf("error timed out waiting for State=%s (reply %s)\n", state, rep.ns ? "seen" : "not seen");
                        return 1;
                }
                r = sd_bus_wait(bus, 1000 * 1000);
                if (r < 0)
                        return fail("waiting on bus", r, NULL);
        }
        if (rep.r < 0)
                return fail(method, rep.r, &rep.error);
        printf("t0_ns %" PRIu64 "\n", t0);
        printf("signal_us %.1f\n", (double) (w.seen_ns - t0) / 1000.0);
        printf("reply_us %.1f\n", (double) (rep.ns - t0) / 1000.0);
        sd_bus_slot_unref(slot);
        sd_bus_slot_unref(match);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
        return 0;
}

static int cmd_suspres(const char *path, unsigned n) {
        sd_bus *bus = bus_connect();
        double *v = calloc(n, sizeof(double));

        for (unsigned i = 0; i < n; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                uint64_t t0 = now_ns();
                int r;

                r = sd_bus_call_method(bus, SERVICE, path, DOMAIN_IFACE, "Suspend", &e, &reply, "a{sv}", 0);
                if (r < 0)
                        return fail("Suspend", r, &e);
                sd_bus_message_unref(reply);
                r = sd_bus_call_method(bus, SERVICE, path, DOMAIN_IFACE, "Resume", &e, &reply, "a{sv}", 0);
                if (r < 0)
                        return fail("Resume", r, &e);
                sd_bus_message_unref(reply);
                v[i] = us_since(t0);
        }
        print_series("us", v, n);
        free(v);
        sd_bus_flush_close_unref(bus);
        return 0;
}

static int on_domain_event(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        uint64_t t = now_ns();
        const char *path, *event, *detail;

        if (sd_bus_message_read(m, "oss", &path, &event, &detail) < 0)
                return 0;
        printf("event %" PRIu64 " %s %s %s\n", t, event, detail, path);
        fflush(stdout);
        return 0;
}

static int cmd_subscribe(void) {
        sd_bus *bus = bus_connect();
        sd_bus_slot *match = NULL;
        int r;

        r = sd_bus_add_match(bus, &match,
                             "type='signal',sender='" SERVICE "',interface='" MANAGER_IFACE "',member='DomainEvent'",
                             on_domain_event, NULL);
        if (r < 0)
                return fail("adding match", r, NULL);
        printf("ready\n");
        fflush(stdout);
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = sd_bus_get_fd(bus), .events = (short) sd_bus_get_events(bus) },
                        { .fd = STDIN_FILENO, .events = POLLIN },
                };
                char buf[64];

                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return fail("processing bus", r, NULL);
                if (r > 0)
                        continue;
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        return fail("poll", -errno, NULL);
                if (p[1].revents && read(STDIN_FILENO, buf, sizeof buf) <= 0)
                        break;
        }
        sd_bus_slot_unref(match);
        sd_bus_flush_close_unref(bus);
        return 0;
}

typedef struct Owner {
        uint64_t owned_ns;
} Owner;

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Owner *o = userdata;
        uint64_t t = now_ns();
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (strcmp(name, SERVICE) == 0 && new_owner[0] && o->owned_ns == 0)
                o->owned_ns = t;
        return 0;
}

static int cmd_startup(const char *log, char **argv) {
        sd_bus *bus = bus_connect();
        sd_bus_slot *match = NULL;
        Owner o = {};
        uint64_t t0, t_call, deadline;
        pid_t pid;
        int r;

        r = sd_bus_add_match(bus, &match,
                             "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" SERVICE "'",
                             on_name_owner_changed, &o);
        if (r < 0)
                return fail("adding match", r, NULL);

        t0 = now_ns();
        pid = fork();
        if (pid < 0)
                return fail("fork", -errno, NULL);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (fd < 0 || null < 0)
                        _exit(127);
                dup2(null, STDIN_FILENO);
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
                if (getenv("BUSBENCH_SETSID"))
                        setsid();
                execv(argv[0], argv);
                _exit(127);
        }
        printf("pid %d\n", (int) pid);
        fflush(stdout);

        deadline = t0 + 120ULL * 1000 * 1000 * 1000;
        while (o.owned_ns == 0) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return fail("processing bus", r, NULL);
                if (r > 0)
                        continue;
                if (now_ns() > deadline) {
                        printf("error org.vmgmt was not owned within 120 s\n");
                        return 1;
                }
                r = sd_bus_wait(bus, 100 * 1000);
                if (r < 0)
                        return fail("waiting on bus", r, NULL);
                if (kill(pid, 0) < 0) {
                        printf("error the daemon exited before owning org.vmgmt (see %s)\n", log);
                        return 1;
                }
        }
        t_call = now_ns();
        {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;

                r = sd_bus_call_method(bus, SERVICE, MANAGER_PATH, "org.freedesktop.DBus.Properties", "Get",
                                       &e, &reply, "ss", MANAGER_IFACE, "Version");
                if (r < 0)
                        return fail("first call (Manager.Version)", r, &e);
                sd_bus_message_unref(reply);
        }
        printf("owned_us %.1f\n", (double) (o.owned_ns - t0) / 1000.0);
        printf("call_us %.1f\n", us_since(t0));
        printf("call_after_owned_us %.1f\n", us_since(t_call));
        sd_bus_slot_unref(match);
        sd_bus_flush_close_unref(bus);
        return 0;
}

static unsigned arg_uint(const char *s) {
        return (unsigned) strtoul(s, NULL, 10);
}

int main(int argc, char **argv) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc >= 3 && strcmp(argv[1], "ping") == 0)
                return cmd_ping("org.freedesktop.DBus", "/org/freedesktop/DBus", arg_uint(argv[2]));
        if (argc >= 3 && strcmp(argv[1], "pingsvc") == 0)
                return cmd_ping(SERVICE, MANAGER_PATH, arg_uint(argv[2]));
        if (argc >= 6 && strcmp(argv[1], "get") == 0)
                return cmd_get(argv[2], argv[3], argv[4], arg_uint(argv[5]), false);
        if (argc >= 5 && strcmp(argv[1], "getall") == 0)
                return cmd_get(argv[2], argv[3], NULL, arg_uint(argv[4]), true);
        if (argc >= 3 && strcmp(argv[1], "gmo") == 0)
                return cmd_gmo(arg_uint(argv[2]));
        if (argc >= 5 && strcmp(argv[1], "define") == 0)
                return cmd_define(argv[2], arg_uint(argv[3]), arg_uint(argv[4]), argc >= 6 ? arg_uint(argv[5]) : 1);
        if (argc >= 5 && strcmp(argv[1], "transition") == 0)
                return cmd_transition(argv[2], argv[3], argv[4]);
        if (argc >= 4 && strcmp(argv[1], "suspres") == 0)
                return cmd_suspres(argv[2], arg_uint(argv[3]));
        if (argc >= 2 && strcmp(argv[1], "subscribe") == 0)
                return cmd_subscribe();
        if (argc >= 5 && strcmp(argv[1], "startup") == 0 && strcmp(argv[3], "--") == 0)
                return cmd_startup(argv[2], argv + 4);
        fprintf(stderr, "usage: see the comment at the top of busbench.c\n");
        return 2;
}
