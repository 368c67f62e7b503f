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
 * With --libvirt before the subcommand the same measurements go to libvirt-dbus
 * (org.libvirt at /org/libvirt/QEMU, its Connect and Domain interfaces) instead
 * of org.vmgmt, so that both services are timed by the same client code:
 * define → Connect.DomainDefineXML, list → Connect.ListDomains + one GetAll of
 * org.libvirt.Domain per domain (64 in flight), transition → Domain.METHOD(0)
 * until Connect.DomainEvent with that event, suspres → Domain.Suspend/Resume,
 * subscribe → Connect.DomainEvent, startup → org.libvirt owned and Connect.Version.
 *
 *   busbench ping N                         Peer.Ping to the bus driver (the bus floor)
 *   busbench pingsvc N                      Peer.Ping to org.vmgmt (answered inside sd-bus: the
 *                                           floor of any call to the service, two bus hops)
 *   busbench get PATH IFACE PROP N          Properties.Get on org.vmgmt
 *   busbench getall PATH IFACE N            Properties.GetAll on org.vmgmt
 *   busbench gmo N                          every domain with its properties, N times: vmgmt's
 *   busbench list N                         ObjectManager.GetManagedObjects at /org/vmgmt (or
 *                                           libvirt's listing above); prints objects COUNT (the
 *                                           domains among them)
 *   busbench define TEMPLATE FIRST COUNT [DEPTH]
 *                                           DefineDomain COUNT times, at most DEPTH (default 1)
 *                                           unanswered at a time; "@NAME@" in the template file
 *                                           becomes bench-NNNNNN; prints total_us and each
 *                                           call's round trip (us, in the order sent)
 *   busbench fsyncloop DIR TEMPLATE FIRST COUNT
 *                                           the floor of a durable define: COUNT times write the
 *                                           expanded template to DIR/.NAME.tmp, fsync, rename to
 *                                           DIR/NAME.xml, fsync DIR (no bus); prints total_us, us
 *   busbench transition PATH METHOD STATE   calls Domain.METHOD({}), waits for PropertiesChanged
 *                                           State=STATE (libvirt: the DomainEvent STATE, e.g.
 *                                           started); prints t0_ns, signal_us, reply_us
 *   busbench suspres PATH N                 Suspend+Resume round trips (both replies)
 *   busbench subscribe                      prints "ready", then "event MONO_NS EVENT DETAIL PATH"
 *                                           for each DomainEvent, until stdin closes
 *   busbench startup LOG [list] -- ARGV…    starts ARGV (the daemon), prints pid, owned_us (exec →
 *                                           org.vmgmt owned), call_us (first Manager.Version Get
 *                                           answered; retried while it fails, as libvirt-dbus's
 *                                           does until libvirtd serves), with list also list_us
 *                                           (exec → the listing of `list` answered) and objects; the daemon
 *                                           is left running, in the caller's session unless
 *                                           BUSBENCH_SETSID is set */
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

#define CALL_TIMEOUT_USEC (120ULL * 1000 * 1000)
#define LIST_WINDOW 64   /* libvirt's listing: GetAll calls in flight */

/* The service measured: vmgmt or libvirt-dbus (--libvirt). */
typedef struct Target {
        const char *service;
        const char *path;            /* the manager object */
        const char *manager_iface;   /* DefineXML, the version property, the events */
        const char *domain_iface;
        const char *define_method;
        const char *define_sig;      /* its arguments: the XML and, for vmgmt, an empty a{sv} */
        const char *version_prop;
        bool libvirt;
} Target;

static const Target VMGMT = {
        .service = "org.vmgmt",
        .path = "/org/vmgmt",
        .manager_iface = "org.vmgmt.Manager",
        .domain_iface = "org.vmgmt.Domain",
        .define_method = "DefineDomain",
        .define_sig = "sa{sv}",
        .version_prop = "Version",
};

static const Target LIBVIRT = {
        .service = "org.libvirt",
        .path = "/org/libvirt/QEMU",
        .manager_iface = "org.libvirt.Connect",
        .domain_iface = "org.libvirt.Domain",
        .define_method = "DomainDefineXML",
        .define_sig = "s",
        .version_prop = "Version",
        .libvirt = true,
};

/* virDomainEventType, in libvirt's order (libvirt-dbus sends the number) */
static const char *const LIBVIRT_EVENTS[] = {
        "defined", "undefined", "started", "suspended", "resumed", "stopped", "shutdown", "pmsuspended", "crashed",
};

static const Target *T = &VMGMT;   /* set once, from the command line */

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
                        r = sd_bus_call_method(bus, T->service, path, "org.freedesktop.DBus.Properties", "GetAll",
                                               &e, &reply, "s", iface);
                else
                        r = sd_bus_call_method(bus, T->service, path, "org.freedesktop.DBus.Properties", "Get",
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

/* Counts the domains of a GetManagedObjects reply (a{oa{sa{sv}}}): the objects under
 * PATH/domain/ (the reply has others too, e.g. networks). */
static int count_objects(sd_bus_message *m, unsigned *ret) {
        char prefix[64];
        unsigned k = 0;
        int r;

        snprintf(prefix, sizeof prefix, "%s/domain/", T->path);
        r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
                const char *path;

                r = sd_bus_message_read(m, "o", &path);
                if (r < 0)
                        return r;
                if (strncmp(path, prefix, strlen(prefix)) == 0)
                        k++;
                r = sd_bus_message_skip(m, "a{sa{sv}}");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        *ret = k;
        return sd_bus_message_exit_container(m);
}

/* Makes call number i of a window (a new method call message in *ret). */
typedef int (*BuildCall)(sd_bus *bus, unsigned i, void *ctx, sd_bus_message **ret);

typedef struct Window {
        unsigned in_flight, done;
        uint64_t *sent_ns;
        double *lat;            /* each call's round trip, µs, in the order sent */
        int r;
        sd_bus_error error;     /* the first failed call's */
} Window;

typedef struct WindowCall {
        Window *w;
        unsigned i;
} WindowCall;

static int on_window_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        WindowCall *c = userdata;
        Window *w = c->w;

        w->lat[c->i] = us_since(w->sent_ns[c->i]);
        w->in_flight--;
        w->done++;
        if (sd_bus_message_is_method_error(m, NULL) && w->r == 0) {
                sd_bus_error_copy(&w->error, sd_bus_message_get_error(m));
                w->r = -EIO;
        }
        return 0;
}

/* Sends COUNT calls made by build, at most DEPTH unanswered at any time (1: each sent after
 * the previous reply), and waits for all. Returns 0, -EIO after a call failed (w->error says
 * why; nothing more is sent), or another negative errno. w->lat is allocated here (the
 * caller frees it); a failure leaves the calls' memory to the process's exit. */
static int window_run(sd_bus *bus, unsigned count, unsigned depth, BuildCall build, void *ctx, Window *w) {
        WindowCall *calls = calloc(count ? count : 1, sizeof(WindowCall));
        unsigned sent = 0;
        int r;

        w->sent_ns = calloc(count ? count : 1, sizeof(uint64_t));
        w->lat = calloc(count ? count : 1, sizeof(double));
        if (!calls || !w->sent_ns || !w->lat)
                return -ENOMEM;
        if (depth == 0)
                depth = 1;
        while (w->in_flight > 0 || (sent < count && w->r == 0)) {
                while (sent < count && w->in_flight < depth && w->r == 0) {
                        sd_bus_message *m = NULL;

                        r = build(bus, sent, ctx, &m);
                        if (r < 0)
                                return r;
                        calls[sent] = (WindowCall) { .w = w, .i = sent };
                        w->sent_ns[sent] = now_ns();
                        r = sd_bus_call_async(bus, NULL, m, on_window_reply, &calls[sent], CALL_TIMEOUT_USEC);
                        sd_bus_message_unref(m);
                        if (r < 0)
                                return r;
                        sent++;
                        w->in_flight++;
                }
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        free(calls);
        free(w->sent_ns);
        w->sent_ns = NULL;
        return w->r;
}

static int build_getall(sd_bus *bus, unsigned i, void *ctx, sd_bus_message **ret) {
        char **paths = ctx;
        int r;

        r = sd_bus_message_new_method_call(bus, ret, T->service, paths[i], "org.freedesktop.DBus.Properties",
                                           "GetAll");
        if (r >= 0)
                r = sd_bus_message_append(*ret, "s", T->domain_iface);
        return r;
}

/* Every domain with all its properties, the way a client of the service gets them: vmgmt's
 * one GetManagedObjects, or libvirt-dbus's ListDomains and a GetAll per domain (LIST_WINDOW
 * in flight). The number of domains goes to *ret_objects; a failure fills e when the
 * service answered with an error. */
static int list_all(sd_bus *bus, unsigned *ret_objects, sd_bus_error *e) {
        sd_bus_message *m = NULL, *reply = NULL;
        Window w = { .error = SD_BUS_ERROR_NULL };
        char **paths = NULL;
        unsigned n = 0;
        int r;

        if (!T->libvirt) {
                r = sd_bus_message_new_method_call(bus, &m, T->service, T->path, "org.freedesktop.DBus.ObjectManager",
                                                   "GetManagedObjects");
                if (r >= 0)
                        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, e, &reply);
                if (r >= 0)
                        r = count_objects(reply, ret_objects);
                sd_bus_message_unref(reply);
                sd_bus_message_unref(m);
                return r;
        }
        r = sd_bus_call_method(bus, T->service, T->path, T->manager_iface, "ListDomains", e, &reply, "u", 0);
        if (r >= 0)
                r = sd_bus_message_read_strv(reply, &paths);
        sd_bus_message_unref(reply);
        if (r < 0)
                return r;
        while (paths[n])
                n++;
        r = window_run(bus, n, LIST_WINDOW, build_getall, paths, &w);
        if (r == -EIO)
                sd_bus_error_copy(e, &w.error);
        for (unsigned i = 0; i < n; i++)
                free(paths[i]);
        free(paths);
        free(w.lat);
        sd_bus_error_free(&w.error);
        *ret_objects = n;
        return r;
}

static int cmd_list(unsigned n) {
        sd_bus *bus = bus_connect();
        double *v = calloc(n, sizeof(double));
        unsigned objects = 0;

        for (unsigned i = 0; i < n; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                uint64_t t0 = now_ns();
                int r = list_all(bus, &objects, &e);

                v[i] = us_since(t0);
                if (r < 0)
                        return fail("listing the domains", r, &e);
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

typedef struct DefineCtx {
        const char *tpl;
        unsigned first;
} DefineCtx;

static int build_define(sd_bus *bus, unsigned i, void *ctx, sd_bus_message **ret) {
        DefineCtx *d = ctx;
        char name[32];
        char *xml;
        int r;

        snprintf(name, sizeof name, "bench-%06u", d->first + i);
        xml = expand(d->tpl, name);
        r = sd_bus_message_new_method_call(bus, ret, T->service, T->path, T->manager_iface, T->define_method);
        if (r >= 0)
                r = T->libvirt ? sd_bus_message_append(*ret, T->define_sig, xml)
                               : sd_bus_message_append(*ret, T->define_sig, xml, 0);
        free(xml);
        return r;
}

/* COUNT definitions with at most DEPTH unanswered at any time (1: each sent after the
 * previous reply). */
static int cmd_define(const char *template_path, unsigned first, unsigned count, unsigned depth) {
        sd_bus *bus = bus_connect();
        DefineCtx d = { .tpl = read_template(template_path), .first = first };
        Window w = { .error = SD_BUS_ERROR_NULL };
        uint64_t t_all;
        int r;

        if (!d.tpl)
                return fail("reading template", -errno, NULL);
        t_all = now_ns();
        r = window_run(bus, count, depth, build_define, &d, &w);
        if (r < 0) {
                printf("defined %u\n", w.done);
                return fail(T->define_method, r, &w.error);
        }
        printf("total_us %.1f\n", us_since(t_all));
        printf("defined %u\n", count);
        print_series("us", w.lat, count);
        free(w.lat);
        free((char *) d.tpl);
        sd_bus_flush_close_unref(bus);
        return 0;
}

/* The floor of a durable definition, without a bus or a service: what any daemon that keeps
 * one file per definition must at least do for each (write a temporary file, fsync it,
 * rename it over the name, fsync the directory), one after the other in one directory. */
static int cmd_fsyncloop(const char *dir, const char *template_path, unsigned first, unsigned count) {
        char *tpl = read_template(template_path);
        double *v = calloc(count ? count : 1, sizeof(double));
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        uint64_t t_all;

        if (!tpl)
                return fail("reading template", -errno, NULL);
        if (dfd < 0)
                return fail(dir, -errno, NULL);
        t_all = now_ns();
        for (unsigned i = 0; i < count; i++) {
                char name[32], tmp[48], final[48];
                uint64_t t0 = now_ns();
                char *xml;
                size_t len;
                int fd;

                snprintf(name, sizeof name, "bench-%06u", first + i);
                snprintf(tmp, sizeof tmp, ".%s.tmp", name);
                snprintf(final, sizeof final, "%s.xml", name);
                xml = expand(tpl, name);
                len = strlen(xml);
                fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0)
                        return fail("creating the temporary file", -errno, NULL);
                if (write(fd, xml, len) != (ssize_t) len || fsync(fd) < 0)
                        return fail("writing the temporary file", -errno, NULL);
                close(fd);
                free(xml);
                if (renameat(dfd, tmp, dfd, final) < 0 || fsync(dfd) < 0)
                        return fail("renaming", -errno, NULL);
                v[i] = us_since(t0);
        }
        printf("total_us %.1f\n", us_since(t_all));
        print_series("us", v, count);
        close(dfd);
        free(v);
        free(tpl);
        return 0;
}

typedef struct Waiter {
        const char *path;      /* the domain (libvirt's events are the Connect's, for every domain) */
        const char *state;     /* the State (libvirt: the event) we wait for */
        uint64_t seen_ns;      /* when it was seen, 0 until then */
} Waiter;

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Waiter *w = userdata;
        uint64_t t = now_ns();
        const char *iface;
        int r;

        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0 || strcmp(iface, T->domain_iface) != 0)
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

static const char *libvirt_event_name(int32_t event) {
        if (event >= 0 && (size_t) event < sizeof LIBVIRT_EVENTS / sizeof LIBVIRT_EVENTS[0])
                return LIBVIRT_EVENTS[event];
        return "unknown";
}

static int on_libvirt_event(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Waiter *w = userdata;
        uint64_t t = now_ns();
        const char *path;
        int32_t event, detail;

        if (sd_bus_message_read(m, "oii", &path, &event, &detail) < 0)
                return 0;
        if (strcmp(path, w->path) == 0 && strcmp(libvirt_event_name(event), w->state) == 0 && w->seen_ns == 0)
                w->seen_ns = t;
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

/* A domain method call as each service takes it: vmgmt's with an empty a{sv}, libvirt-dbus's
 * Suspend/Resume with no arguments and the rest with flags 0. */
static int new_domain_call(sd_bus *bus, const char *path, const char *method, sd_bus_message **ret) {
        int r;

        r = sd_bus_message_new_method_call(bus, ret, T->service, path, T->domain_iface, method);
        if (r < 0)
                return r;
        if (!T->libvirt)
                return sd_bus_message_append(*ret, "a{sv}", 0);
        if (strcmp(method, "Suspend") == 0 || strcmp(method, "Resume") == 0)
                return 0;
        return sd_bus_message_append(*ret, "u", 0);
}

static int cmd_transition(const char *path, const char *method, const char *state) {
        sd_bus *bus = bus_connect();
        sd_bus_slot *match = NULL, *slot = NULL;
        sd_bus_message *m = NULL;
        Waiter w = { .path = path, .state = state };
        Reply rep = { .error = SD_BUS_ERROR_NULL };
        char rule[512];
        uint64_t t0, deadline;
        int r;

        if (T->libvirt)
                snprintf(rule, sizeof rule, "type='signal',sender='%s',path='%s',interface='%s',member='DomainEvent'",
                         T->service, T->path, T->manager_iface);
        else
                snprintf(rule, sizeof rule,
                         "type='signal',sender='%s',path='%s',interface='org.freedesktop.DBus.Properties',"
                         "member='PropertiesChanged',arg0='%s'", T->service, path, T->domain_iface);
        r = sd_bus_add_match(bus, &match, rule, T->libvirt ? on_libvirt_event : on_properties_changed, &w);
        if (r < 0)
                return fail("adding match", r, NULL);
        r = new_domain_call(bus, path, method, &m);
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

static int call_domain(sd_bus *bus, const char *path, const char *method) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = new_domain_call(bus, path, method, &m);
        if (r >= 0)
                r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &e, &reply);
        if (r < 0)
                return fail(method, r, &e);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        return 0;
}

static int cmd_suspres(const char *path, unsigned n) {
        sd_bus *bus = bus_connect();
        double *v = calloc(n, sizeof(double));

        for (unsigned i = 0; i < n; i++) {
                uint64_t t0 = now_ns();

                if (call_domain(bus, path, "Suspend") || call_domain(bus, path, "Resume"))
                        return 1;
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
        int32_t lv_event, lv_detail;

        if (T->libvirt) {
                if (sd_bus_message_read(m, "oii", &path, &lv_event, &lv_detail) < 0)
                        return 0;
                printf("event %" PRIu64 " %s %d %s\n", t, libvirt_event_name(lv_event), (int) lv_detail, path);
        } else {
                if (sd_bus_message_read(m, "oss", &path, &event, &detail) < 0)
                        return 0;
                printf("event %" PRIu64 " %s %s %s\n", t, event, detail, path);
        }
        fflush(stdout);
        return 0;
}

static int cmd_subscribe(void) {
        sd_bus *bus = bus_connect();
        sd_bus_slot *match = NULL;
        char rule[256];
        int r;

        snprintf(rule, sizeof rule, "type='signal',sender='%s',interface='%s',member='DomainEvent'", T->service,
                 T->manager_iface);
        r = sd_bus_add_match(bus, &match, rule, on_domain_event, NULL);
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
        if (strcmp(name, T->service) == 0 && new_owner[0] && o->owned_ns == 0)
                o->owned_ns = t;
        return 0;
}

/* The first Get of the version property that succeeds, tried every millisecond until the
 * deadline: libvirt-dbus owns its name at once and fails calls until libvirtd serves. */
static int first_call(sd_bus *bus, pid_t pid, uint64_t deadline) {
        for (;;) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                int r;

                r = sd_bus_call_method(bus, T->service, T->path, "org.freedesktop.DBus.Properties", "Get",
                                       &e, &reply, "ss", T->manager_iface, T->version_prop);
                if (r >= 0) {
                        sd_bus_message_unref(reply);
                        return 0;
                }
                if (now_ns() > deadline || kill(pid, 0) < 0)
                        return fail("first call (version property)", r, &e);
                sd_bus_error_free(&e);
                usleep(1000);
        }
}

static int cmd_startup(const char *log, bool list, char **argv) {
        sd_bus *bus = bus_connect();
        sd_bus_slot *match = NULL;
        Owner o = {};
        uint64_t t0, t_call, deadline;
        char rule[256];
        pid_t pid;
        int r;

        snprintf(rule, sizeof rule, "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='%s'",
                 T->service);
        r = sd_bus_add_match(bus, &match, rule, on_name_owner_changed, &o);
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
                        printf("error %s was not owned within 120 s\n", T->service);
                        return 1;
                }
                r = sd_bus_wait(bus, 100 * 1000);
                if (r < 0)
                        return fail("waiting on bus", r, NULL);
                if (kill(pid, 0) < 0) {
                        printf("error the daemon exited before owning %s (see %s)\n", T->service, log);
                        return 1;
                }
        }
        t_call = now_ns();
        if (first_call(bus, pid, deadline))
                return 1;
        printf("owned_us %.1f\n", (double) (o.owned_ns - t0) / 1000.0);
        printf("call_us %.1f\n", us_since(t0));
        printf("call_after_owned_us %.1f\n", us_since(t_call));
        if (list) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                unsigned objects = 0;

                r = list_all(bus, &objects, &e);
                if (r < 0)
                        return fail("first listing", r, &e);
                printf("list_us %.1f\n", us_since(t0));
                printf("objects %u\n", objects);
        }
        sd_bus_slot_unref(match);
        sd_bus_flush_close_unref(bus);
        return 0;
}

static unsigned arg_uint(const char *s) {
        return (unsigned) strtoul(s, NULL, 10);
}

int main(int argc, char **argv) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc >= 2 && strcmp(argv[1], "--libvirt") == 0) {
                T = &LIBVIRT;
                argv++;
                argc--;
        }
        if (argc >= 3 && strcmp(argv[1], "ping") == 0)
                return cmd_ping("org.freedesktop.DBus", "/org/freedesktop/DBus", arg_uint(argv[2]));
        if (argc >= 3 && strcmp(argv[1], "pingsvc") == 0)
                return cmd_ping(T->service, T->path, arg_uint(argv[2]));
        if (argc >= 6 && strcmp(argv[1], "get") == 0)
                return cmd_get(argv[2], argv[3], argv[4], arg_uint(argv[5]), false);
        if (argc >= 5 && strcmp(argv[1], "getall") == 0)
                return cmd_get(argv[2], argv[3], NULL, arg_uint(argv[4]), true);
        if (argc >= 3 && (strcmp(argv[1], "gmo") == 0 || strcmp(argv[1], "list") == 0))
                return cmd_list(arg_uint(argv[2]));
        if (argc >= 5 && strcmp(argv[1], "define") == 0)
                return cmd_define(argv[2], arg_uint(argv[3]), arg_uint(argv[4]), argc >= 6 ? arg_uint(argv[5]) : 1);
        if (argc >= 6 && strcmp(argv[1], "fsyncloop") == 0)
                return cmd_fsyncloop(argv[2], argv[3], arg_uint(argv[4]), arg_uint(argv[5]));
        if (argc >= 5 && strcmp(argv[1], "transition") == 0)
                return cmd_transition(argv[2], argv[3], argv[4]);
        if (argc >= 4 && strcmp(argv[1], "suspres") == 0)
                return cmd_suspres(argv[2], arg_uint(argv[3]));
        if (argc >= 2 && strcmp(argv[1], "subscribe") == 0)
                return cmd_subscribe();
        if (argc >= 5 && strcmp(argv[1], "startup") == 0 && strcmp(argv[3], "--") == 0)
                return cmd_startup(argv[2], false, argv + 4);
        if (argc >= 6 && strcmp(argv[1], "startup") == 0 && strcmp(argv[3], "list") == 0 &&
            strcmp(argv[4], "--") == 0)
                return cmd_startup(argv[2], true, argv + 5);
        fprintf(stderr, "usage: see the comment at the top of busbench.c\n");
        return 2;
}
