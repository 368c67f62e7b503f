/* path-policy-check.c — the decision of path-policy.h for a caller: pools that hold each file, polkit's
 * org.vmgmt.storage.use asked once per distinct pool and volume, and the <emulator> check.
 *
 * A check starts with the pure rules for every file (path-policy.c), then
 * collects, for each file left, the active pools whose (resolved) target
 * holds it: a file in none is refused. The targets are resolved in a thread
 * of the check's own (realpath() of a target on a hung network filesystem
 * blocks; the event loop must not). Each distinct (pool, volume)
 * pair is one CheckAuthorization; a file is allowed when polkit allows one
 * of its pairs, refused when it refuses all of them. The first file refused
 * ends the check (the other answers are not waited for); once every file is
 * allowed the check ends too. Nothing is cached: the next call asks again.
 *
 * A check that ends (a refusal decided it, its caller disconnected, the call
 * was dropped or vmgmtd is exiting) while polkit still has some of its
 * questions cancels those (CancelCheckAuthorization with each one's
 * cancellation id): an authentication agent's prompt for a start that will not
 * happen goes away. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "manager.h"
#include "path-policy.h"
#include "pool.h"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"

/* CheckAuthorization calls one check has out at once (dbus-daemon allows a
 * connection 128 pending replies; auth.c keeps 32 for itself). */
#define PATH_CHECK_MAX_IN_FLIGHT 4u

typedef enum PairState {
        PAIR_WAITING,
        PAIR_ASKING,
        PAIR_ALLOWED,
        PAIR_REFUSED,        /* polkit said no (or did not answer) */
        PAIR_CHALLENGE,      /* polkit would ask for a password, the call did not allow it */
} PairState;

typedef struct PathPair {
        VmPathCheck *check;
        char *pool;
        char *volume;
        PairState state;
        sd_bus_slot *slot;
        char cancel_id[VM_AUTH_CANCEL_ID_MAX];
} PathPair;

typedef struct PathEntry {
        char *what;          /* 'PATH' (resolved to 'RESOLVED'), for messages */
        char *resolved;
        GArray *pairs;       /* guint indexes into check->pairs */
        bool decided;        /* allowed outright (allow-list) */
} PathEntry;

/* The active pools' targets as the check began, resolved by a thread. */
typedef struct PoolTargets {
        gint refs;           /* the check's and the thread's */
        GPtrArray *names;    /* char*: the pools */
        GPtrArray *targets;  /* char*: their target paths */
        GPtrArray *resolved; /* char* or NULL, filled by the thread before it writes efd */
        int efd;
} PoolTargets;

struct VmPathCheck {
        Manager *manager;
        sd_bus_message *message;
        char *sender;
        char *domain;
        bool interactive;
        GPtrArray *pairs;    /* PathPair* */
        GPtrArray *entries;  /* PathEntry* */
        guint next_pair;     /* the next one to ask */
        unsigned in_flight;
        sd_bus_slot *gone_slot;   /* NameOwnerChanged of the sender: it disconnected */
        PoolTargets *targets;     /* being resolved: targets_source fires when done */
        sd_event_source *targets_source;
        VmPathCheckDoneFn done;
        void *userdata;
};

static void path_pair_free(gpointer p) {
        PathPair *pair = p;

        sd_bus_slot_unref(pair->slot);
        g_free(pair->pool);
        g_free(pair->volume);
        g_free(pair);
}

static void path_entry_free(gpointer p) {
        PathEntry *e = p;

        g_free(e->what);
        g_free(e->resolved);
        g_array_unref(e->pairs);
        g_free(e);
}

static void pool_targets_unref(PoolTargets *t) {
        if (!t || !g_atomic_int_dec_and_test(&t->refs))
                return;
        g_ptr_array_unref(t->names);
        g_ptr_array_unref(t->targets);
        g_ptr_array_unref(t->resolved);
        if (t->efd >= 0)
                close(t->efd);
        g_free(t);
}

static gpointer pool_targets_resolve(gpointer p) {
        PoolTargets *t = p;
        uint64_t one = 1;
        ssize_t n;

        /* resolved paths on both sides: a target reached through a symlink holds what lies below its real place */
        for (guint i = 0; i < t->targets->len; i++)
                g_ptr_array_add(t->resolved, realpath(t->targets->pdata[i], NULL));
        n = write(t->efd, &one, sizeof(one));   /* an eventfd takes it: never full */
        (void) n;
        pool_targets_unref(t);
        return NULL;
}

VmPathCheck *vm_path_check_cancel(VmPathCheck *c) {
        if (!c)
                return NULL;
        for (guint i = 0; i < c->pairs->len; i++) {
                PathPair *pair = c->pairs->pdata[i];

                if (pair->state == PAIR_ASKING) {
                        log_debug("Cancelling polkit's check %s (pool '%s', volume '%s') for %s (domain '%s').",
                                  pair->cancel_id, pair->pool, pair->volume, c->sender, c->domain);
                        vm_auth_cancel_check(c->manager, pair->cancel_id);
                }
        }
        sd_bus_slot_unref(c->gone_slot);
        sd_event_source_disable_unref(c->targets_source);
        pool_targets_unref(c->targets);   /* a thread still resolving frees them when it is done */
        g_ptr_array_unref(c->pairs);   /* unrefs the slots: their replies are never dispatched */
        g_ptr_array_unref(c->entries);
        sd_bus_message_unref(c->message);
        g_free(c->sender);
        g_free(c->domain);
        g_free(c);
        return NULL;
}

static char *const *allow_list(Manager *m) {
        static char *const fallback[] = VM_ALLOWED_DEVICE_PATHS_DEFAULT;

        return m->config.allowed_device_paths ?: fallback;
}

/* The index of the (pool, volume) pair in c, added when new. */
static guint path_check_pair(VmPathCheck *c, const char *pool, const char *volume) {
        PathPair *pair;

        for (guint i = 0; i < c->pairs->len; i++) {
                pair = c->pairs->pdata[i];
                if (streq(pair->pool, pool) && streq(pair->volume, volume))
                        return i;
        }
        pair = g_new0(PathPair, 1);
        pair->check = c;
        pair->pool = g_strdup(pool);
        pair->volume = g_strdup(volume);
        g_ptr_array_add(c->pairs, pair);
        return c->pairs->len - 1;
}

/* Every pool whose (resolved) target holds e's file becomes a pair of e. */
static void path_check_find_pools(VmPathCheck *c, PathEntry *e) {
        PoolTargets *t = c->targets;

        for (guint k = 0; k < t->resolved->len; k++) {
                const char *real = t->resolved->pdata[k];
                g_autofree char *volume = real ? vm_path_relative(e->resolved, real) : NULL;
                guint i;

                if (!volume || !*volume)
                        continue;   /* not in it, or the target itself */
                i = path_check_pair(c, t->names->pdata[k], volume);
                g_array_append_val(e->pairs, i);
        }
}

/* The active pools with a target, for the thread: NULL when there are none. */
static PoolTargets *pool_targets_new(Manager *m) {
        VmStorage *s = m->storage;
        PoolTargets *t;
        GHashTableIter it;
        gpointer value;

        if (!s || !s->pools)
                return NULL;
        t = g_new0(PoolTargets, 1);
        t->refs = 1;
        t->efd = -1;
        t->names = g_ptr_array_new_with_free_func(g_free);
        t->targets = g_ptr_array_new_with_free_func(g_free);
        t->resolved = g_ptr_array_new_with_free_func(free);
        g_hash_table_iter_init(&it, s->pools);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmPool *p = value;
                const char *target;

                if (!vm_pool_is_active(p) || p->starting)
                        continue;
                target = storage_pool_get_def(p->sp)->target_path;
                if (!target)
                        continue;
                g_ptr_array_add(t->names, g_strdup(p->name));
                g_ptr_array_add(t->targets, g_strdup(target));
        }
        if (t->names->len == 0) {
                pool_targets_unref(t);
                return NULL;
        }
        return t;
}

static void path_check_finish(VmPathCheck *c, int r, const sd_bus_error *error) {
        VmPathCheckDoneFn done = c->done;
        void *userdata = c->userdata;

        /* the check is over before done runs: done may start another one */
        c->done = NULL;
        vm_path_check_cancel(c);
        done(userdata, r, error);
}

/* After an answer: 1 every file allowed, -EACCES (error set) one refused, 0 not yet known. */
static int path_check_evaluate(VmPathCheck *c, sd_bus_error *error) {
        bool all = true;

        for (guint i = 0; i < c->entries->len; i++) {
                PathEntry *e = c->entries->pdata[i];
                bool allowed = e->decided, pending = false, challenge = false;

                for (guint k = 0; !allowed && k < e->pairs->len; k++) {
                        PathPair *pair = c->pairs->pdata[g_array_index(e->pairs, guint, k)];

                        allowed = pair->state == PAIR_ALLOWED;
                        pending = pending || pair->state == PAIR_WAITING || pair->state == PAIR_ASKING;
                        challenge = challenge || pair->state == PAIR_CHALLENGE;
                }
                if (allowed)
                        continue;
                if (pending) {
                        all = false;
                        continue;
                }
                if (challenge)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                                 "Interactive authentication is required for domain '%s' to use %s "
                                                 "(org.vmgmt.storage.use); allow interactive authorization or ask an "
                                                 "administrator",
                                                 c->domain, e->what);
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Access denied: domain '%s' may not use %s: not in a storage pool the "
                                         "caller may use (org.vmgmt.storage.use)",
                                         c->domain, e->what);
        }
        return all ? 1 : 0;
}

static void path_check_ask_next(VmPathCheck *c);

static void path_check_progress(VmPathCheck *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = path_check_evaluate(c, &error);
        if (r == 0) {
                path_check_ask_next(c);
                r = path_check_evaluate(c, &error);
        }
        if (r == 0 && c->in_flight == 0)
                /* nothing out and nothing decided: cannot happen, but never hang */
                r = sd_bus_error_set(&error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: cannot decide");
        if (r != 0)
                path_check_finish(c, r, &error);
}

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PathPair *pair = userdata;
        VmPathCheck *c = pair->check;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int authorized = 0, challenge = 0, r;

        pair->slot = sd_bus_slot_unref(pair->slot);
        c->in_flight--;
        if (e)
                log_debug("polkit did not answer about pool '%s' for %s: %s", pair->pool, c->sender, strna(e->message));
        else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0)
                        authorized = challenge = 0;
        }
        pair->state = authorized ? PAIR_ALLOWED : challenge && !c->interactive ? PAIR_CHALLENGE : PAIR_REFUSED;
        log_debug("org.vmgmt.storage.use of pool '%s', volume '%s' for %s (domain '%s'): %s.", pair->pool, pair->volume,
                  c->sender, c->domain, authorized ? "allowed" : "refused");
        path_check_progress(c);
        return 0;
}

static int on_caller_gone(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        VmPathCheck *c = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        log_debug("%s disconnected while polkit was asked about the files of domain '%s'.", c->sender, c->domain);
        path_check_finish(c, sd_bus_error_set(&error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: the caller disconnected"),
                          &error);
        return 0;
}

/* Follows the sender's disconnection. Added before the first question: the
 * bus handles AddMatch before it routes that question, so a caller gone later
 * is seen, and one gone before makes polkit refuse (no such subject). */
static int path_check_watch_caller(VmPathCheck *c) {
        g_autofree char *match = g_strdup_printf("type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                                 "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                                                 "arg0='%s',arg2=''", c->sender);

        return sd_bus_add_match_async(c->manager->bus, &c->gone_slot, match, on_caller_gone, NULL, c);
}

static int path_check_ask(VmPathCheck *c, PathPair *pair) {
        Manager *m = c->manager;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *q = NULL;
        uint64_t timeout = c->interactive ? m->config.polkit_interactive_timeout_usec : m->config.polkit_timeout_usec;
        int r;

        r = sd_bus_message_new_method_call(m->bus, &q, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE,
                                           "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(q, "(sa{sv})s", "system-bus-name", 1, "name", "s", c->sender,
                                          VM_ACTION_STORAGE_USE);
        if (r >= 0)
                r = sd_bus_message_append(q, "a{ss}", 4, "verb", strempty(sd_bus_message_get_member(c->message)),
                                          "domain", c->domain, "pool", pair->pool, "volume", pair->volume);
        vm_auth_new_cancel_id(m, pair->cancel_id);
        if (r >= 0)
                r = sd_bus_message_append(q, "us", c->interactive ? 1u : 0u, pair->cancel_id);
        if (r >= 0)
                r = sd_bus_call_async(m->bus, &pair->slot, q, on_polkit_reply, pair, timeout);
        if (r < 0)
                return r;
        pair->state = PAIR_ASKING;
        c->in_flight++;
        log_debug("Asking polkit about %s of pool '%s', volume '%s' for %s (domain '%s').", VM_ACTION_STORAGE_USE,
                  pair->pool, pair->volume, c->sender, c->domain);
        return 0;
}

/* Sends the pairs that fit; one that cannot be sent counts as refused. */
static void path_check_ask_next(VmPathCheck *c) {
        while (c->in_flight < PATH_CHECK_MAX_IN_FLIGHT && c->next_pair < c->pairs->len) {
                PathPair *pair = c->pairs->pdata[c->next_pair++];
                int r = path_check_ask(c, pair);

                if (r < 0) {
                        log_debug_errno(r, "Cannot ask polkit about pool '%s': %m", pair->pool);
                        pair->state = PAIR_REFUSED;
                }
        }
}

/* AccessDenied for the first file that no pool holds (0 when every file is in one). */
static int path_check_no_pool(VmPathCheck *c, sd_bus_error *error) {
        for (guint i = 0; i < c->entries->len; i++) {
                PathEntry *e = c->entries->pdata[i];

                if (!e->decided && e->pairs->len == 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                                 "Access denied: domain '%s' may not use %s: it is in no active storage pool",
                                                 c->domain, e->what);
        }
        return 0;
}

/* The targets are resolved: the pools of every file, then polkit. */
static int on_targets_resolved(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        VmPathCheck *c = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        c->targets_source = sd_event_source_disable_unref(c->targets_source);
        for (guint i = 0; i < c->entries->len; i++) {
                PathEntry *e = c->entries->pdata[i];

                if (!e->decided)
                        path_check_find_pools(c, e);
        }
        r = path_check_no_pool(c, &error);
        if (r < 0) {
                path_check_finish(c, r, &error);
                return 0;
        }
        r = path_check_watch_caller(c);
        if (r >= 0)
                path_check_ask_next(c);
        if (r < 0 || c->in_flight == 0) {
                path_check_finish(c, sd_bus_error_set(&error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: cannot ask polkit"),
                                  &error);
                return 0;
        }
        return 0;
}

/* Starts the thread that resolves c->targets; on_targets_resolved() follows. */
static int path_check_resolve_targets(VmPathCheck *c) {
        PoolTargets *t = c->targets;
        GThread *thread;
        int r;

        t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (t->efd < 0)
                return -errno;
        r = sd_event_add_io(c->manager->event, &c->targets_source, t->efd, EPOLLIN, on_targets_resolved, c);
        if (r < 0)
                return r;
        g_atomic_int_inc(&t->refs);
        thread = g_thread_try_new("vmgmt-pool-targets", pool_targets_resolve, t, NULL);
        if (!thread) {
                pool_targets_unref(t);
                return -EAGAIN;
        }
        g_thread_unref(thread);   /* detached: it drops its reference when done */
        return 0;
}

int vm_path_check_start(Manager *m, sd_bus_message *message, uid_t uid, const char *domain, const VmPathFile *files,
                        size_t n_files, VmPathCheckDoneFn done, void *userdata, VmPathCheck **ret,
                        sd_bus_error *error) {
        const char *sender = sd_bus_message_get_sender(message);
        bool undecided = false;
        VmPathCheck *c;
        int r;

        *ret = NULL;
        if (!vm_path_policy_applies(uid) || n_files == 0)
                return 1;
        if (!sender)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: the call has no sender");

        c = g_new0(VmPathCheck, 1);
        c->manager = m;
        c->message = sd_bus_message_ref(message);
        c->sender = g_strdup(sender);
        c->domain = g_strdup(strempty(domain));
        c->interactive = sd_bus_message_get_allow_interactive_authorization(message) > 0;
        c->pairs = g_ptr_array_new_with_free_func(path_pair_free);
        c->entries = g_ptr_array_new_with_free_func(path_entry_free);
        c->done = done;
        c->userdata = userdata;

        for (size_t i = 0; i < n_files; i++) {
                const VmPathFile *f = &files[i];
                _cleanup_free_ char *msg = NULL;
                PathEntry *e;

                r = vm_path_precheck(f->path, f->resolved, &f->st, allow_list(m), &msg);
                if (r < 0) {
                        vm_path_check_cancel(c);
                        return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, msg);
                }
                e = g_new0(PathEntry, 1);
                e->pairs = g_array_new(FALSE, FALSE, sizeof(guint));
                e->decided = r == 0;
                e->what = vm_path_describe(f->path, f->resolved);
                e->resolved = g_strdup(f->resolved);
                g_ptr_array_add(c->entries, e);
                undecided = undecided || !e->decided;
        }
        if (!undecided) {
                vm_path_check_cancel(c);
                return 1;   /* every file allow-listed */
        }
        c->targets = pool_targets_new(m);
        if (!c->targets) {
                r = path_check_no_pool(c, error);
                vm_path_check_cancel(c);
                return r;
        }
        r = path_check_resolve_targets(c);
        if (r < 0) {
                vm_path_check_cancel(c);
                return sd_bus_error_set_errnof(error, r, "Cannot resolve the storage pools' targets: %m");
        }
        *ret = c;
        return 0;
}

/* ---- <emulator> ---- */

int vm_emulator_policy_check(uid_t uid, const DomainDef *def, const DomainDef *own, sd_bus_error *error) {
        _cleanup_free_ char *mine = NULL, *theirs = NULL;

        if (!vm_path_policy_applies(uid) || !def->emulator)
                return 1;
        theirs = realpath(def->emulator, NULL);
        mine = own && own->emulator ? realpath(own->emulator, NULL) : NULL;
        if (theirs && mine && streq(theirs, mine))
                return 1;
        if (!own || !own->emulator)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Access denied: emulator '%s' is not one vmgmtd found itself", def->emulator);
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "Access denied: emulator '%s' is not one vmgmtd found itself (for %s: '%s'); "
                                 "leave <emulator> out", def->emulator, def->os_arch ?: "this host's architecture", own->emulator);
}

uid_t vm_path_policy_caller_uid(Manager *m, sd_bus_message *message) {
        const char *sender = sd_bus_message_get_sender(message);
        uid_t uid = (uid_t) -1;

        if (sender)
                (void) bus_creds_cache_lookup(m->creds, sender, &uid, NULL);
        return uid;
}

int vm_emulator_policy_check_normalized(Manager *m, sd_bus_message *message, const DomainDef *def,
                                        sd_bus_error *error) {
        uid_t uid = vm_path_policy_caller_uid(m, message);
        DomainDef *own = NULL;
        VmDriver *drv;
        ConfError err = {};
        int r;

        if (!vm_path_policy_applies(uid) || !def->emulator)
                return 1;
        drv = manager_driver_for_def(m, def, NULL);
        own = drv ? domain_def_copy(def) : NULL;
        if (own) {
                free(own->emulator);
                own->emulator = NULL;
                if (drv->ops->normalize(drv->driver, own, &err) < 0) {
                        log_debug("Cannot tell the emulator of domain '%s' for its arch: %s", strna(def->name),
                                  strna(err.message));
                        conf_error_clear(&err);
                        own = domain_def_free(own);
                }
        }
        r = vm_emulator_policy_check(uid, def, own, error);
        domain_def_free(own);
        return r;
}
