/* vm-bus-bench.c — measures vmgmtd over a real bus: GetManagedObjects time, DefineDomain throughput, start-up time. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static sd_bus *connect_bus(const char *address) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                fprintf(stderr, "cannot connect to %s: %s\n", address, strerror(-r));
                sd_bus_unref(bus);
                exit(2);
        }
        return bus;
}

/* Median wall time of n GetManagedObjects calls, counting the objects once. */
static int bench_gmo(sd_bus *bus, int n) {
        double t[64];
        unsigned objects = 0;

        if (n > 64)
                n = 64;
        for (int i = 0; i < n; i++) {
                sd_bus_message *reply = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                double t0 = now_ms();
                int r = sd_bus_call_method(bus, "org.vmgmt", "/org/vmgmt", "org.freedesktop.DBus.ObjectManager",
                                           "GetManagedObjects", &error, &reply, "");
                t[i] = now_ms() - t0;
                if (r < 0) {
                        fprintf(stderr, "GetManagedObjects: %s\n", error.message ?: strerror(-r));
                        return 1;
                }
                if (i == 0) {
                        sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
                        while (sd_bus_message_skip(reply, "{oa{sa{sv}}}") > 0)
                                objects++;
                }
                sd_bus_message_unref(reply);
                sd_bus_error_free(&error);
        }
        qsort(t, (size_t) n, sizeof(double), cmp_double);
        printf("GetManagedObjects: %u objects, median %.1f ms, min %.1f ms (%d calls)\n", objects, t[n / 2], t[0], n);
        return 0;
}

static const char *domain_xml_format =
        "<domain type='qemu'><name>%s%d</name><uuid>" SD_ID128_UUID_FORMAT_STR "</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>";

static int define_pending, define_failed;

static int define_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        (void) userdata;
        (void) ret_error;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        if (e) {
                if (define_failed++ < 3)
                        fprintf(stderr, "DefineDomain: %s\n", e->message);
        }
        define_pending--;
        return 0;
}

/* Defines count domains with at most `depth` calls in flight. */
static int bench_define(sd_bus *bus, const char *prefix, int count, int depth) {
        double t0 = now_ms(), dt;
        int sent = 0;

        while (sent < count || define_pending > 0) {
                while (sent < count && define_pending < depth) {
                        char xml[512];
                        sd_id128_t id;
                        sd_id128_randomize(&id);
                        snprintf(xml, sizeof(xml), domain_xml_format, prefix, sent, SD_ID128_FORMAT_VAL(id));
                        int r = sd_bus_call_method_async(bus, NULL, "org.vmgmt", "/org/vmgmt", "org.vmgmt.Manager",
                                                         "DefineDomain", define_reply, NULL, "sa{sv}", xml, 0);
                        if (r < 0) {
                                fprintf(stderr, "send: %s\n", strerror(-r));
                                return 1;
                        }
                        sent++;
                        define_pending++;
                }
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return 1;
                if (r == 0)
                        sd_bus_wait(bus, UINT64_MAX);
        }
        dt = now_ms() - t0;
        printf("DefineDomain: %d calls, %d in flight, %.0f ms, %.0f/s, %d failed\n", count, depth, dt,
               count * 1000.0 / dt, define_failed);
        return define_failed > 0;
}

/* Runs argv and prints the time until org.vmgmt appears on the bus; leaves it running, prints its pid. */
static int bench_startup(sd_bus *bus, char **argv) {
        double t0;
        pid_t pid;

        t0 = now_ms();
        pid = fork();
        if (pid == 0) {
                execv(argv[0], argv);
                _exit(127);
        }
        for (;;) {
                sd_bus_message *reply = NULL;
                int has = 0;

                if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", NULL, &reply, "s", "org.vmgmt") >= 0)
                        sd_bus_message_read(reply, "b", &has);
                sd_bus_message_unref(reply);
                if (has)
                        break;
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                        fprintf(stderr, "vmgmtd exited before it was ready\n");
                        return 1;
                }
                usleep(500);
        }
        printf("start-up: %.1f ms until org.vmgmt was owned (pid %d)\n", now_ms() - t0, (int) pid);
        return 0;
}

int main(int argc, char *argv[]) {
        sd_bus *bus;
        int r;

        if (argc < 3) {
                fprintf(stderr, "usage: %s ADDRESS gmo [N] | define PREFIX COUNT DEPTH | startup VMGMTD ARGS...\n", argv[0]);
                return 2;
        }
        bus = connect_bus(argv[1]);
        if (strcmp(argv[2], "gmo") == 0)
                r = bench_gmo(bus, argc > 3 ? atoi(argv[3]) : 5);
        else if (strcmp(argv[2], "define") == 0 && argc == 6)
                r = bench_define(bus, argv[3], atoi(argv[4]), atoi(argv[5]));
        else if (strcmp(argv[2], "startup") == 0 && argc > 3)
                r = bench_startup(bus, argv + 3);
        else {
                fprintf(stderr, "unknown mode\n");
                r = 2;
        }
        sd_bus_flush_close_unref(bus);
        return r;
}
