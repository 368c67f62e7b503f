/* auth.c — authorization of changing calls: polkit's CheckAuthorization, asked asynchronously from the event loop.
 *
 * A check is an AuthQuery keyed by the message it authorizes. The first
 * dispatch of the message starts it and the handler returns; the query then
 * learns the caller's uid from the bus (unless cached), asks polkit unless the
 * caller is privileged, stores the answer and puts the message back into
 * sd-bus's read queue. The second dispatch runs the handler again, which finds
 * the answer here and consumes it. An answer nobody consumed (the object
 * vanished meanwhile and sd-bus answered the call itself) is freed by an idle
 * event, after the message was dispatched again. Nothing outlives the call: the
 * next call asks polkit again, so a withdrawn rule takes effect at once.
 *
 * polkitd answers one check after another, and on a loaded machine each costs
 * it several scheduler round trips (synchronous bus calls for the subject's
 * credentials, a thread per rules evaluation). When every polkit slot is taken,
 * a check identical to one still waiting for a slot (same caller, action and
 * details, not interactive) waits with it and gets its answer: that check is
 * sent after both calls arrived, so the answer is as fresh as a check of its
 * own, and a burst of N identical calls costs polkitd one check, not N. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "log.h"
#include "manager.h"
#include "time-util.h"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"
#define POLKIT_CHECK_ALLOW_USER_INTERACTION 1u

/* dbus-daemon refuses more than max_replies_per_connection (128 on the
 * system bus) calls awaiting replies; the rest wait here, in order, each
 * within its own deadline. */
#define POLKIT_MAX_IN_FLIGHT 32u

typedef enum AuthStep {
        AUTH_STEP_CREDS,     /* asking the bus who the caller is */
        AUTH_STEP_QUEUED,    /* waiting for a free polkit slot */
        AUTH_STEP_POLKIT,    /* asking polkit */
        AUTH_STEP_ANSWERED,  /* answer stored, message queued for its second dispatch */
} AuthStep;

typedef struct AuthQuery {
        Manager *manager;
        sd_bus_message *message;    /* the call being authorized (a reference) */
        char *sender;
        char *action;
        char **details;             /* "verb", MEMBER, key, value, …, NULL */
        bool interactive;
        AuthStep step;
        sd_bus_slot *slot;          /* the call to the bus or to polkit under way */
        char cancel_id[VM_AUTH_CANCEL_ID_MAX];   /* polkit cancellation id of an interactive check */
        sd_event_source *defer;     /* frees an answer nobody consumed */
        int answer;                 /* AUTH_STEP_ANSWERED: 1, or a negative errno with error set */
        sd_bus_error error;
        uint64_t started_usec;
        uint64_t queued_usec;       /* time spent waiting for a polkit slot */
        uint64_t queued_since;
        uint64_t asked_usec;        /* when CheckAuthorization was sent, 0 if never */
        uint64_t deadline_usec;     /* polkit must have answered by then (CLOCK_MONOTONIC) */
        struct AuthQuery *leader;   /* the identical check this one waits with (its answer is ours), or NULL */
        GPtrArray *joined;          /* identical checks waiting with this one, or NULL */
} AuthQuery;

static uint64_t auth_timeout_usec(const AuthQuery *q) {
        return q->interactive ? q->manager->config.polkit_interactive_timeout_usec
                              : q->manager->config.polkit_timeout_usec;
}

static bool auth_details_equal(char **a, char **b) {
        for (; *a && *b; a++, b++)
                if (!streq(*a, *b))
                        return false;
        return !*a && !*b;
}

/* Identical checks: one polkit answer serves both. Interactive checks are
 * never merged: each may show its caller a dialog of its own. */
static bool auth_query_same_check(const AuthQuery *a, const AuthQuery *b) {
        return !a->interactive && !b->interactive && streq(a->sender, b->sender) && streq(a->action, b->action) &&
               auth_details_equal(a->details, b->details);
}

/* A check that must wait for a polkit slot joins an identical one already
 * waiting: that one is asked after both calls arrived, so its answer is as
 * fresh as a check of its own would be, and an overloaded polkitd is asked
 * once instead of once per call. Returns true when q joined one. */
static bool auth_query_join_waiting(AuthQuery *q) {
        GQueue *line = q->manager->auth_waiting;

        for (GList *l = line ? line->head : NULL; l; l = l->next) {
                AuthQuery *leader = l->data;

                if (!auth_query_same_check(leader, q))
                        continue;
                if (!leader->joined)
                        leader->joined = g_ptr_array_new();
                g_ptr_array_add(leader->joined, q);
                q->leader = leader;
                log_debug("%s of %s waits with an identical check for a polkit slot (%u joined).",
                          strna(sd_bus_message_get_member(q->message)), q->sender, leader->joined->len);
                return true;
        }
        return false;
}

/* q leaves its group before it got an answer: a member leaves its leader; a
 * leader hands the group to its first member, which takes q's place in the
 * line (or the head of the line, when q had already been sent). */
static void auth_query_leave_group(AuthQuery *q) {
        Manager *m = q->manager;
        AuthQuery *heir;
        GList *link;

        if (q->leader) {
                g_ptr_array_remove(q->leader->joined, q);
                q->leader = NULL;
                return;
        }
        if (!q->joined || q->joined->len == 0)
                return;
        heir = g_ptr_array_steal_index(q->joined, 0);
        heir->leader = NULL;
        heir->joined = TAKE_PTR(q->joined);
        for (guint i = 0; i < heir->joined->len; i++)
                ((AuthQuery *) heir->joined->pdata[i])->leader = heir;
        link = q->step == AUTH_STEP_QUEUED && m->auth_waiting ? g_queue_find(m->auth_waiting, q) : NULL;
        if (link)
                link->data = heir;
        else if (m->auth_waiting)
                g_queue_push_head(m->auth_waiting, heir);
}

/* Forgets the call under way (its reply will not be dispatched) and frees
 * its polkit slot, or takes q out of the waiting line. */
static void auth_query_release(AuthQuery *q) {
        Manager *m = q->manager;

        if (q->step == AUTH_STEP_QUEUED && !q->leader && m->auth_waiting)
                g_queue_remove(m->auth_waiting, q);
        if (q->step == AUTH_STEP_POLKIT && q->slot && m->auth_in_flight > 0)
                m->auth_in_flight--;
        q->slot = sd_bus_slot_unref(q->slot);
}

static void auth_query_free(AuthQuery *q) {
        if (!q)
                return;
        if (q->manager->auth_queries)
                g_hash_table_remove(q->manager->auth_queries, q->message);
        auth_query_leave_group(q);
        auth_query_release(q);
        if (q->joined)
                g_ptr_array_free(q->joined, TRUE);
        sd_event_source_disable_unref(q->defer);
        sd_bus_message_unref(q->message);
        sd_bus_error_free(&q->error);
        g_free(q->sender);
        g_free(q->action);
        g_strfreev(q->details);
        g_free(q);
}

static char **auth_details_build(sd_bus_message *message, const char *const *details) {
        GPtrArray *a = g_ptr_array_new();

        g_ptr_array_add(a, g_strdup("verb"));
        g_ptr_array_add(a, g_strdup(strempty(sd_bus_message_get_member(message))));
        for (const char *const *d = details; d && d[0] && d[1]; d += 2) {
                g_ptr_array_add(a, g_strdup(d[0]));
                g_ptr_array_add(a, g_strdup(d[1]));
        }
        g_ptr_array_add(a, NULL);
        return (char **) g_ptr_array_free(a, FALSE);
}


/* The domain (or other object) named in the details, for messages. */
static const char *auth_details_object(char **details) {
        for (char **d = details; d[0] && d[1]; d += 2)
                if (STR_IN_SET(d[0], "domain", "network", "pool", "volume"))
                        return d[1];
        return NULL;
}

/* 1: allowed without asking; 0: ask polkit; negative: refused (error set). */
static int auth_decide_by_uid(AuthQuery *q, uid_t uid, sd_bus_error *error) {
        Manager *m = q->manager;

        if (uid == 0 || uid == geteuid())
                return 1;
        /* A per-user instance serves its own user only; polkit guards the system. */
        if (m->config.user)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Access denied: this vmgmtd serves uid %u only", (unsigned) geteuid());
        return 0;
}

static int auth_defer_free(sd_event_source *s, void *userdata) {
        auth_query_free(userdata);
        return 0;
}

/* Stores the answer and dispatches the message again. */
static void auth_query_answer(AuthQuery *q, int answer, const sd_bus_error *error) {
        Manager *m = q->manager;
        g_autoptr(GPtrArray) joined = g_steal_pointer(&q->joined);
        uint64_t now;
        int r;

        auth_query_release(q);
        q->step = AUTH_STEP_ANSWERED;
        q->answer = answer;
        if (answer < 0)
                sd_bus_error_copy(&q->error, error);
        now = monotonic_usec();
        log_debug("Authorization of %s.%s by %s (%s) took %.1f ms (queued %.1f ms, polkit %.1f ms): %s%s%s",
                  strna(sd_bus_message_get_interface(q->message)), strna(sd_bus_message_get_member(q->message)),
                  q->sender, q->action, (double) (now - q->started_usec) / 1000.0, (double) q->queued_usec / 1000.0,
                  q->asked_usec ? (double) (now - q->asked_usec) / 1000.0 : 0.0, answer > 0 ? "allowed" : "refused",
                  answer > 0 ? "" : ": ", answer > 0 ? "" : strna(q->error.message));

        r = sd_event_add_defer(m->event, &q->defer, auth_defer_free, q);
        if (r >= 0)
                r = sd_event_source_set_priority(q->defer, SD_EVENT_PRIORITY_IDLE);
        if (r >= 0)
                r = sd_event_source_set_enabled(q->defer, SD_EVENT_ONESHOT);
        if (r >= 0)
                r = sd_bus_message_rewind(q->message, true);
        if (r >= 0)
                r = sd_bus_enqueue_for_read(m->bus, q->message);
        if (r < 0) {
                log_error_errno(r, "Failed to dispatch %s again after its authorization: %m",
                                strna(sd_bus_message_get_member(q->message)));
                (void) sd_bus_reply_method_errorf(q->message, SD_BUS_ERROR_ACCESS_DENIED,
                                                  "Access denied: the authorization could not be completed");
                auth_query_free(q);
        }
        /* the same answer for the identical checks that waited with q */
        for (guint i = 0; joined && i < joined->len; i++) {
                AuthQuery *f = joined->pdata[i];

                f->leader = NULL;
                f->step = AUTH_STEP_CREDS;   /* neither in the line nor holding a slot */
                auth_query_answer(f, answer, error);
        }
}

static void auth_query_deny(AuthQuery *q, const char *name, const char *format, ...) _printf_(3, 4);
static void auth_query_deny(AuthQuery *q, const char *name, const char *format, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *text = NULL;
        va_list ap;

        va_start(ap, format);
        text = g_strdup_vprintf(format, ap);
        va_end(ap);
        sd_bus_error_set(&error, name, text);
        auth_query_answer(q, sd_bus_error_get_errno(&error) > 0 ? -sd_bus_error_get_errno(&error) : -EACCES,
                          &error);
}

static bool polkit_error_is_unavailable(const sd_bus_error *e) {
        return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                      SD_BUS_ERROR_DISCONNECTED, SD_BUS_ERROR_UNKNOWN_OBJECT,
                                      SD_BUS_ERROR_UNKNOWN_INTERFACE, SD_BUS_ERROR_UNKNOWN_METHOD) ||
               (e->name && g_str_has_prefix(e->name, "org.freedesktop.DBus.Error.Spawn."));
}

static void auth_dispatch_waiting(Manager *m);
static void auth_polkit_reply_read(AuthQuery *q, sd_bus_message *reply);

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AuthQuery *q = userdata;
        Manager *m = q->manager;

        auth_polkit_reply_read(q, reply);
        auth_dispatch_waiting(m);
        return 0;
}

static void auth_polkit_reply_read(AuthQuery *q, sd_bus_message *reply) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *object = auth_details_object(q->details);
        int authorized, challenge, r;

        if (e) {
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT))
                        auth_query_deny(q, SD_BUS_ERROR_ACCESS_DENIED,
                                        "Access denied: polkit did not answer within %.1f s (%s)",
                                        (double) auth_timeout_usec(q) / 1e6, strna(e->message));
                else if (polkit_error_is_unavailable(e))
                        auth_query_deny(q, SD_BUS_ERROR_ACCESS_DENIED,
                                        "Access denied: polkit (%s) is not available: %s", POLKIT_NAME,
                                        strna(e->message));
                else
                        auth_query_deny(q, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: polkit failed: %s: %s",
                                        e->name, strna(e->message));
                return;
        }
        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0) {
                auth_query_deny(q, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: polkit sent an answer that cannot be read");
                return;
        }
        if (authorized)
                auth_query_answer(q, 1, NULL);
        else if (challenge && !q->interactive)
                auth_query_deny(q, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                "Interactive authentication is required for %s%s%s%s (%s); "
                                "allow interactive authorization or ask an administrator",
                                sd_bus_message_get_member(q->message), object ? " on '" : "", strempty(object),
                                object ? "'" : "", q->action);
        else
                auth_query_deny(q, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: not authorized for %s%s%s%s (%s)",
                                sd_bus_message_get_member(q->message), object ? " on '" : "", strempty(object),
                                object ? "'" : "", q->action);
}

/* Sends CheckAuthorization now, or queues q when POLKIT_MAX_IN_FLIGHT calls
 * are out. Returns 0 or a negative errno (nothing sent). */
static int auth_query_ask_polkit(AuthQuery *q) {
        Manager *m = q->manager;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *c = NULL;
        uint32_t flags = q->interactive ? POLKIT_CHECK_ALLOW_USER_INTERACTION : 0;
        uint64_t now = monotonic_usec();
        int r;

        if (m->auth_in_flight >= POLKIT_MAX_IN_FLIGHT) {
                if (q->step != AUTH_STEP_QUEUED) {
                        q->step = AUTH_STEP_QUEUED;
                        q->queued_since = now;
                        if (!auth_query_join_waiting(q))
                                g_queue_push_tail(m->auth_waiting, q);
                }
                return 0;
        }

        r = sd_bus_message_new_method_call(m->bus, &c, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE,
                                           "CheckAuthorization");
        if (r < 0)
                return r;
        r = sd_bus_message_append(c, "(sa{sv})s", "system-bus-name", 1, "name", "s", q->sender, q->action);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(c, 'a', "{ss}");
        for (char **d = q->details; r >= 0 && d[0] && d[1]; d += 2)
                r = sd_bus_message_append(c, "{ss}", d[0], d[1]);
        if (r >= 0)
                r = sd_bus_message_close_container(c);
        if (r < 0)
                return r;
        if (q->interactive)
                vm_auth_new_cancel_id(m, q->cancel_id);
        r = sd_bus_message_append(c, "us", flags, q->cancel_id);
        if (r < 0)
                return r;
        r = sd_bus_call_async(m->bus, &q->slot, c, on_polkit_reply, q,
                              q->deadline_usec > now + 1000 ? q->deadline_usec - now : 1000);
        if (r < 0)
                return r;
        q->step = AUTH_STEP_POLKIT;
        q->asked_usec = now;
        m->auth_in_flight++;
        log_debug("Asking polkit about %s for %s (%s), %u identical checks joined, %u in flight.", q->action,
                  q->sender, strna(sd_bus_message_get_member(q->message)), q->joined ? q->joined->len : 0u,
                  m->auth_in_flight);
        for (guint i = 0; q->joined && i < q->joined->len; i++) {
                AuthQuery *f = q->joined->pdata[i];

                f->queued_usec += now - f->queued_since;
                f->asked_usec = now;
        }
        return 0;
}

/* Sends the waiting checks that fit now; those whose deadline passed in the
 * line are refused as polkit not answering. */
static void auth_dispatch_waiting(Manager *m) {
        AuthQuery *q;
        int r;

        while (m->auth_waiting && m->auth_in_flight < POLKIT_MAX_IN_FLIGHT &&
               (q = g_queue_pop_head(m->auth_waiting))) {
                q->step = AUTH_STEP_CREDS;   /* out of the line */
                q->queued_usec += monotonic_usec() - q->queued_since;
                if (monotonic_usec() >= q->deadline_usec) {
                        /* the identical checks that came later still have time: the next takes the head */
                        auth_query_leave_group(q);
                        auth_query_deny(q, SD_BUS_ERROR_ACCESS_DENIED,
                                        "Access denied: polkit did not answer within %.1f s (%u checks waiting)",
                                        (double) auth_timeout_usec(q) / 1e6, m->auth_in_flight);
                        continue;
                }
                r = auth_query_ask_polkit(q);
                if (r < 0)
                        auth_query_deny(q, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: cannot ask polkit: %s",
                                        strerror(-r));
        }
}

static int on_creds_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        AuthQuery *q = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        g_autoptr(GArray) groups = g_array_new(FALSE, FALSE, sizeof(gid_t));
        uint32_t uid = UINT32_MAX, pid = 0;
        bool have_groups;
        int r;

        if (e) {
                auth_query_deny(q, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: cannot identify the caller %s: %s",
                                q->sender, strna(e->message));
                return 0;
        }
        r = bus_connection_credentials_read(reply, &uid, &pid, groups, &have_groups);
        if (r < 0 || uid == UINT32_MAX) {
                auth_query_deny(q, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: the bus did not tell who %s is",
                                q->sender);
                return 0;
        }
        auth_query_release(q);
        bus_creds_cache_put(q->manager->creds, q->sender, (uid_t) uid, (pid_t) pid, have_groups ? groups : NULL);

        r = auth_decide_by_uid(q, (uid_t) uid, &error);
        if (r != 0) {
                auth_query_answer(q, r, &error);
                return 0;
        }
        r = auth_query_ask_polkit(q);
        if (r < 0)
                auth_query_deny(q, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: cannot ask polkit: %s", strerror(-r));
        return 0;
}

static int auth_query_ask_bus(AuthQuery *q) {
        q->step = AUTH_STEP_CREDS;
        return sd_bus_call_method_async(q->manager->bus, &q->slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "GetConnectionCredentials", on_creds_reply, q, "s",
                                        q->sender);
}

/* The answer for message if one is stored: 1 / negative (consumed unless
 * `keep` and allowed), 0 when still pending, -ENOENT when there is none. */
static int auth_query_take(Manager *m, sd_bus_message *message, const char *action, char **details, bool keep,
                           sd_bus_error *error) {
        AuthQuery *q = g_hash_table_lookup(m->auth_queries, message);
        int r;

        if (!q)
                return -ENOENT;
        if (q->step != AUTH_STEP_ANSWERED)
                return 0;
        if (!streq(q->action, action) || !auth_details_equal(q->details, details)) {
                r = sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                                     "Access denied: the object changed while the call was being authorized; try again");
                auth_query_free(q);
                return r;
        }
        if (q->answer < 0) {
                sd_bus_error_copy(error, &q->error);
                r = q->answer;
                auth_query_free(q);
                return r;
        }
        if (!keep)
                auth_query_free(q);
        return 1;
}

static int auth_check(Manager *m, sd_bus_message *message, const char *action, const char *const *details, bool keep,
                      sd_bus_error *error) {
        g_auto(GStrv) all = auth_details_build(message, details);
        const char *sender = sd_bus_message_get_sender(message);
        AuthQuery *q;
        uid_t uid;
        int r;

        r = auth_query_take(m, message, action, all, keep, error);
        if (r != -ENOENT)
                return r;
        if (!sender)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: the call has no sender");

        q = g_new0(AuthQuery, 1);
        q->manager = m;
        q->message = sd_bus_message_ref(message);
        q->sender = g_strdup(sender);
        q->action = g_strdup(action);
        q->details = TAKE_PTR(all);
        q->interactive = sd_bus_message_get_allow_interactive_authorization(message) > 0;
        q->started_usec = monotonic_usec();
        q->deadline_usec = q->started_usec + auth_timeout_usec(q);
        q->error = SD_BUS_ERROR_NULL;

        if (bus_creds_cache_lookup(m->creds, sender, &uid, NULL) > 0) {
                r = auth_decide_by_uid(q, uid, error);
                if (r != 0) {
                        auth_query_free(q);
                        return r;
                }
                r = auth_query_ask_polkit(q);
        } else
                r = auth_query_ask_bus(q);
        if (r < 0) {
                auth_query_free(q);
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: cannot ask polkit: %s",
                                         strerror(-r));
        }
        g_hash_table_insert(m->auth_queries, message, q);
        log_debug("Authorizing %s for %s (%s)%s: %s.", action, sender, sd_bus_message_get_member(message),
                  q->interactive ? " interactively" : "",
                  q->step == AUTH_STEP_POLKIT ? "asking polkit" :
                  q->step == AUTH_STEP_QUEUED ? "waiting for a polkit slot" : "asking the bus");
        return 0;
}

int vm_authorize(Manager *m, sd_bus_message *message, const char *action, const char *const *details,
                 sd_bus_error *error) {
        return auth_check(m, message, action, details, false, error);
}

int vm_authorize_prepare(Manager *m, sd_bus_message *message, const char *action, const char *const *details,
                         sd_bus_error *error) {
        return auth_check(m, message, action, details, true, error);
}

/* ---- callers of deferred calls ---- */

struct VmCaller {
        Manager *manager;   /* NULL once vm_auth_done() let go of it */
        char *sender;       /* NULL: no sender, never gone */
        bool gone;
};

VmCaller *vm_caller_watch(Manager *m, sd_bus_message *message) {
        const char *sender = sd_bus_message_get_sender(message);
        VmCaller *c = g_new0(VmCaller, 1);

        c->sender = g_strdup(sender);
        if (sender && m->auth_callers) {
                c->manager = m;
                g_hash_table_add(m->auth_callers, c);
        }
        return c;
}

bool vm_caller_gone(const VmCaller *c) {
        return c->gone;
}

const char *vm_caller_name(const VmCaller *c) {
        return c->sender;
}

VmCaller *vm_caller_free(VmCaller *c) {
        if (!c)
                return NULL;
        if (c->manager)
                g_hash_table_remove(c->manager->auth_callers, c);
        g_free(c->sender);
        g_free(c);
        return NULL;
}

static void callers_mark_gone(Manager *m, const char *name) {
        GHashTableIter it;
        gpointer key;

        g_hash_table_iter_init(&it, m->auth_callers);
        while (g_hash_table_iter_next(&it, &key, NULL)) {
                VmCaller *c = key;

                if (streq(c->sender, name))
                        c->gone = true;
        }
}

/* A caller went away: its checks are dropped (nobody is there to answer; the
 * call must not happen), an interactive prompt is cancelled. */
static int on_name_owner_changed(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *name, *old_owner, *new_owner;
        GHashTableIter it;
        gpointer value;

        if (sd_bus_message_read(message, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (name[0] != ':' || !isempty(new_owner))
                return 0;
        bus_creds_cache_forget(m->creds, name);
        callers_mark_gone(m, name);

        g_hash_table_iter_init(&it, m->auth_queries);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                AuthQuery *q = value;

                if (!streq(q->sender, name))
                        continue;
                if (q->step == AUTH_STEP_ANSWERED) {
                        /* queued for its second dispatch: it must change nothing */
                        sd_bus_error_free(&q->error);
                        sd_bus_error_set(&q->error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: the caller disconnected");
                        q->answer = -EACCES;
                        continue;
                }
                log_debug("%s disconnected while its %s call was being authorized; dropping it.", name,
                          strna(sd_bus_message_get_member(q->message)));
                if (q->step == AUTH_STEP_POLKIT && q->interactive)
                        vm_auth_cancel_check(m, q->cancel_id);
                g_hash_table_iter_steal(&it);
                auth_query_free(q);
        }
        auth_dispatch_waiting(m);
        return 0;
}

void vm_auth_new_cancel_id(Manager *m, char buf[static VM_AUTH_CANCEL_ID_MAX]) {
        snprintf(buf, VM_AUTH_CANCEL_ID_MAX, "vmgmt-%" PRIu64, ++m->auth_serial);
}

void vm_auth_cancel_check(Manager *m, const char *cancel_id) {
        if (m->bus && !isempty(cancel_id))
                (void) sd_bus_call_method_async(m->bus, NULL, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE,
                                                "CancelCheckAuthorization", NULL, NULL, "s", cancel_id);
}

int vm_auth_init(Manager *m) {
        int r;

        if (!m->auth_queries)
                m->auth_queries = g_hash_table_new(g_direct_hash, g_direct_equal);
        if (!m->auth_waiting)
                m->auth_waiting = g_queue_new();
        if (!m->auth_callers)
                m->auth_callers = g_hash_table_new(g_direct_hash, g_direct_equal);
        r = sd_bus_add_match_async(m->bus, NULL,
                                   "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                   "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg2=''",
                                   on_name_owner_changed, NULL, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch for disconnecting callers: %m");
        return 0;
}

void vm_auth_done(Manager *m) {
        GHashTableIter it;
        gpointer value;

        if (m->auth_callers) {
                /* the calls still waiting end later (driver teardown): their callers stay not gone */
                g_hash_table_iter_init(&it, m->auth_callers);
                while (g_hash_table_iter_next(&it, &value, NULL))
                        ((VmCaller *) value)->manager = NULL;
                g_hash_table_destroy(m->auth_callers);
                m->auth_callers = NULL;
        }
        if (!m->auth_queries)
                return;
        g_hash_table_iter_init(&it, m->auth_queries);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                AuthQuery *q = value;

                /* an answered one is in sd-bus's queue and gets its reply there, or none at exit */
                if (q->step != AUTH_STEP_ANSWERED && m->bus)
                        (void) sd_bus_reply_method_errorf(q->message, SD_BUS_ERROR_ACCESS_DENIED,
                                                          "Access denied: vmgmtd is exiting");
                g_hash_table_iter_steal(&it);
                auth_query_free(q);
        }
        g_hash_table_destroy(m->auth_queries);
        m->auth_queries = NULL;
        if (m->auth_waiting)
                g_queue_free(m->auth_waiting);
        m->auth_waiting = NULL;
}
