/* vmgmtctl-event.c — vmgmtctl event: prints DomainEvent signals as virsh event does. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-event.h>

#include "vmgmtctl.h"

/* Exit codes of the event loop; 1 (EXIT_FAILURE) is sd-bus's for a lost connection. */
enum {
        EVENT_LOOP_DONE = 0,
        EVENT_LOOP_DISCONNECTED = 1,
        EVENT_LOOP_INTERRUPTED = 2,
        EVENT_LOOP_TIMED_OUT = 3,
};

typedef struct EventWatch {
        Context *context;
        sd_event *event;
        const char *domain_path;        /* only this domain's events, or NULL for all */
        bool loop;
        bool timestamp;
        unsigned count;
} EventWatch;

static uint64_t now_realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Reads time_usec out of the info dict; 0 if absent. */
static int event_info_read_time(sd_bus_message *m, uint64_t *ret) {
        int r;

        *ret = 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;

                r = sd_bus_message_read_basic(m, 's', &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                if (streq(key, "time_usec") && contents && streq(contents, "t"))
                        r = sd_bus_message_read(m, "v", "t", ret);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        return r;
}

static void event_print(EventWatch *w, const char *name, const char *event, const char *detail, uint64_t usec) {
        char ts[FORMAT_TIMESTAMP_MAX] = "";
        _cleanup_free_ char *detail_words = NULL;

        (void) format_timestamp(usec, ts, sizeof(ts));
        if (w->context->json != JSON_FORMAT_OFF) {
                JsonWriter j;

                json_writer_init(&j, stdout, w->context->json);
                json_begin_object(&j);
                json_member_string(&j, "timestamp", ts);
                json_member_unsigned(&j, "time_usec", usec);
                json_member_string(&j, "domain", name);
                json_member_string(&j, "event", event);
                json_member_string(&j, "detail", detail);
                json_end_object(&j);
                return;
        }
        detail_words = format_event_detail(event, detail);
        if (w->timestamp)
                printf("%s: ", ts);
        printf("event 'lifecycle' for domain '%s': %s %s\n", name, format_event(event), strempty(detail_words));
        fflush(stdout);
}

static int on_domain_event(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        EventWatch *w = userdata;
        _cleanup_free_ char *name = NULL;
        const char *path, *event, *detail;
        uint64_t usec;
        int r;

        r = sd_bus_message_read(m, "oss", &path, &event, &detail);
        if (r < 0 || event_info_read_time(m, &usec) < 0)
                return 0;       /* not what the contract says: ignore it */
        if (w->domain_path && !streq(path, w->domain_path))
                return 0;
        if (!w->loop && w->count > 0)
                return 0;
        if (domain_path_to_name(path, &name) < 0) {
                name = strdup(path);
                if (!name)
                        return -ENOMEM;
        }

        event_print(w, name, event, detail, usec ?: now_realtime_usec());
        w->count++;
        if (!w->loop)
                (void) sd_event_exit(w->event, EVENT_LOOP_DONE);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        EventWatch *w = userdata;

        return sd_event_exit(w->event, EVENT_LOOP_INTERRUPTED);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        EventWatch *w = userdata;

        return sd_event_exit(w->event, EVENT_LOOP_TIMED_OUT);
}

static int parse_timeout(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end || v == 0 || v > 365ULL * 24 * 3600 || s[0] == '-')
                return -EINVAL;
        *ret = v * 1000000ULL;
        return 0;
}

int verb_event(Context *c, VerbArgs *a) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_free_ char *path = NULL;
        const char *timeout = verb_value(a, "timeout"), *type = verb_value(a, "event");
        EventWatch w = {
                .context = c,
                .loop = verb_flag(a, "loop"),
                .timestamp = verb_flag(a, "timestamp"),
        };
        uint64_t timeout_usec = 0;
        sigset_t mask;
        int r;

        if (timeout && parse_timeout(timeout, &timeout_usec) < 0)
                return ctl_error(-EINVAL, "Invalid timeout '%s': expected a positive number of seconds.", timeout);
        if (type && !streq(type, "lifecycle"))
                return ctl_error(-EINVAL, "Unknown event type '%s': only 'lifecycle' is supported.", type);
        if (a->n_args > 0 && verb_value(a, "domain"))
                return ctl_error(-EINVAL, "Name the domain once: as an argument or with --domain.");
        if (a->n_args > 0 || verb_value(a, "domain")) {
                r = domain_resolve(c, a->n_args > 0 ? a->args[0] : verb_value(a, "domain"), &path, NULL);
                if (r < 0)
                        return r;
                w.domain_path = path;
        }

        r = sd_event_default(&e);
        if (r < 0)
                return ctl_error(r, "Failed to allocate event loop: %m");
        w.event = e;
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_add_signal(e, NULL, SIGINT, on_signal, &w);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGTERM, on_signal, &w);
        if (r >= 0 && timeout_usec > 0)
                r = sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, timeout_usec, 0, on_timeout, &w);
        if (r < 0)
                return ctl_error(r, "Failed to set up event loop: %m");

        r = sd_bus_attach_event(c->bus, e, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_set_exit_on_disconnect(c->bus, true);
        if (r < 0)
                return ctl_error(r, "Failed to attach bus to event loop: %m");
        /* Synchronous AddMatch: once it returns, no event can be missed. */
        r = sd_bus_match_signal(c->bus, &slot, VMGMT_BUS_NAME, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE,
                                "DomainEvent", on_domain_event, &w);
        if (r < 0)
                return ctl_error(r, "Failed to subscribe to domain events: %m");

        r = sd_event_loop(e);
        sd_bus_detach_event(c->bus);
        if (r < 0)
                return ctl_error(r, "Event loop failed: %m");
        if (r == EVENT_LOOP_DISCONNECTED)
                return ctl_error(-ECONNRESET, "Connection to the bus was lost.");
        if (c->json == JSON_FORMAT_OFF) {
                if (r == EVENT_LOOP_INTERRUPTED)
                        printf("event loop interrupted\n");
                else if (r == EVENT_LOOP_TIMED_OUT)
                        printf("event loop timed out\n");
                printf("events received: %u\n", w.count);
        }
        return 0;
}
