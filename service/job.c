/* job.c — org.vmgmt.Job objects at /org/vmgmt/job/ID (job.h): progress (throttled), Cancel, Finished, removal after a while. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "fileio.h"
#include "log.h"
#include "object-kind.h"
#include "job.h"
#include "macro.h"

struct VmJob {
        Manager *manager;
        char *path;                /* /org/vmgmt/job/ID */
        char *type;
        char *object;
        char *action;              /* Cancel's authorization */
        char **details;
        const char *state;         /* running, completed, failed, cancelled */
        char *error;
        uint64_t processed, total;
        VmJobCancelFn cancel;
        void *cancel_userdata;
        void *owner_data;
        GDestroyNotify free_owner_data;
        uint64_t last_emit;
        GHashTable *info;          /* key → GVariant* (t or s): the Info property */
        bool info_changed;
        sd_event_source *progress_timer, *linger_timer;
};

static uint64_t now_usec(void) {
        return (uint64_t) g_get_monotonic_time();
}

static bool job_visible(VmJob *j) {
        Manager *m = j->manager;
        return m->bus && m->ready && g_hash_table_lookup(m->jobs, j->path) == j;
}

/* ---- ids ----
 *
 * A client holding /org/vmgmt/job/N must never see another job there, also
 * after a restart of vmgmtd: ids are handed out from blocks whose end is
 * recorded in RUN/job-ids before any id of the block is used. RUN goes away
 * with the machine, and so does the bus with its clients. */

#define JOB_ID_BLOCK 256

static char *job_ids_file(Manager *m) {
        return g_build_filename(m->paths.run_dir, "job-ids", NULL);
}

static uint64_t job_ids_read(const char *path) {
        _cleanup_free_ char *text = NULL;
        size_t len;

        if (read_full_file(path, 64, &text, &len) < 0)
                return 0;
        return g_ascii_strtoull(text, NULL, 10);
}

void vm_jobs_init(Manager *m) {
        _cleanup_free_ char *path = job_ids_file(m);
        _cleanup_free_ char *old = g_build_filename(m->paths.run_dir, "storage", "job-ids", NULL);
        /* RUN/storage/job-ids: where a vmgmtd before domain jobs kept it */
        uint64_t limit = MAX(job_ids_read(path), job_ids_read(old));

        m->jobs = g_hash_table_new(g_str_hash, g_str_equal);
        m->next_job_id = m->job_id_limit = limit + 1;   /* the first job reserves a block */
        m->job_linger_usec = m->config.job_linger_usec > 0 ? m->config.job_linger_usec : VM_JOB_LINGER_USEC_DEFAULT;
}

static uint64_t job_id_next(Manager *m) {
        if (m->next_job_id >= m->job_id_limit) {
                _cleanup_free_ char *path = job_ids_file(m);
                char text[32];
                int r;

                m->job_id_limit = m->next_job_id + JOB_ID_BLOCK;
                snprintf(text, sizeof text, "%" PRIu64 "\n", m->job_id_limit - 1);
                r = mkdir_p(m->paths.run_dir, 0755);
                if (r >= 0)
                        r = write_file_atomic_nosync(path, text, strlen(text), 0644);
                if (r < 0)
                        log_warning_errno(r, "Failed to record job ids in %s (ids may repeat after a restart): %m", path);
        }
        return m->next_job_id++;
}

VmJob *vm_job_new(Manager *m, const char *type, const char *object, const char *action, const char *const *details) {
        VmJob *j = g_new0(VmJob, 1);

        j->manager = m;
        j->path = g_strdup_printf(VM_JOB_PREFIX "/%" PRIu64, job_id_next(m));
        j->type = g_strdup(type);
        j->object = g_strdup(object);
        j->action = g_strdup(action);
        j->details = g_strdupv((char **) details);
        j->state = "running";
        j->error = g_strdup("");
        return j;
}

static void job_free(VmJob *j) {
        if (j->free_owner_data && j->owner_data)
                j->free_owner_data(j->owner_data);
        if (j->info)
                g_hash_table_destroy(j->info);
        sd_event_source_disable_unref(j->progress_timer);
        sd_event_source_disable_unref(j->linger_timer);
        g_free(j->path);
        g_free(j->type);
        g_free(j->object);
        g_free(j->action);
        g_strfreev(j->details);
        g_free(j->error);
        g_free(j);
}

void vm_job_discard(VmJob *j) {
        job_free(j);
}

void vm_job_set_owner_data(VmJob *j, void *data, GDestroyNotify free_data) {
        j->owner_data = data;
        j->free_owner_data = free_data;
}

void vm_job_set_cancel(VmJob *j, VmJobCancelFn fn, void *userdata) {
        j->cancel = fn;
        j->cancel_userdata = userdata;
}

const char *vm_job_path(const VmJob *j) {
        return j->path;
}

const char *vm_job_type(const VmJob *j) {
        return j->type;
}

const char *vm_job_object(const VmJob *j) {
        return j->object;
}

uint64_t vm_job_total(const VmJob *j) {
        return j->total;
}

bool vm_job_is_running(const VmJob *j) {
        return streq(j->state, "running");
}

void vm_job_publish(VmJob *j) {
        g_hash_table_insert(j->manager->jobs, j->path, j);
        vm_object_kind_emit_added(&vm_job_kind, j->manager, j->path);
}

VmJob *vm_job_find_by_path(Manager *m, const char *path) {
        return m->jobs ? g_hash_table_lookup(m->jobs, path) : NULL;
}

VmJob *vm_job_find_running(Manager *m, const char *object, const char *type) {
        GHashTableIter it;
        gpointer value;

        if (!m->jobs)
                return NULL;
        g_hash_table_iter_init(&it, m->jobs);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmJob *j = value;
                if (vm_job_is_running(j) && streq(j->object, object) && (!type || streq(j->type, type)))
                        return j;
        }
        return NULL;
}

static void job_emit_progress(VmJob *j) {
        j->last_emit = now_usec();
        if (job_visible(j))
                vm_object_kind_emit_changed(&vm_job_kind, j->manager, j,
                                            j->info_changed ? (const char *[]) { "Progress", "ProcessedBytes",
                                                                                 "TotalBytes", "Info", NULL }
                                                            : (const char *[]) { "Progress", "ProcessedBytes",
                                                                                 "TotalBytes", NULL });
        j->info_changed = false;
}

static void job_info_put(VmJob *j, const char *key, GVariant *v) {
        GVariant *old;

        g_variant_ref_sink(v);
        if (!j->info)
                j->info = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_variant_unref);
        old = g_hash_table_lookup(j->info, key);
        if (old && g_variant_equal(old, v)) {
                g_variant_unref(v);
                return;
        }
        g_hash_table_replace(j->info, g_strdup(key), v);
        j->info_changed = true;
}

void vm_job_set_info(VmJob *j, const char *key, uint64_t value) {
        job_info_put(j, key, g_variant_new_uint64(value));
}

void vm_job_set_info_string(VmJob *j, const char *key, const char *value) {
        job_info_put(j, key, g_variant_new_string(value ?: ""));
}

static int on_progress_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        VmJob *j = userdata;

        j->progress_timer = sd_event_source_disable_unref(j->progress_timer);
        job_emit_progress(j);
        return 0;
}

void vm_job_progress(VmJob *j, uint64_t processed, uint64_t total) {
        uint64_t now = now_usec();

        if (!vm_job_is_running(j) || (j->processed == processed && j->total == total && !j->info_changed))
                return;
        j->processed = processed;
        j->total = total;
        if (now >= j->last_emit + VM_JOB_PROGRESS_INTERVAL_USEC) {
                j->progress_timer = sd_event_source_disable_unref(j->progress_timer);
                job_emit_progress(j);
                return;
        }
        /* at most ten a second: the last value is sent when the interval is over */
        if (!j->progress_timer)
                (void) sd_event_add_time(j->manager->event, &j->progress_timer, CLOCK_MONOTONIC,
                                         j->last_emit + VM_JOB_PROGRESS_INTERVAL_USEC, 10000, on_progress_timer, j);
}

static int on_linger_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        VmJob *j = userdata;
        Manager *m = j->manager;

        vm_object_kind_emit_removed(&vm_job_kind, m, j->path);
        g_hash_table_remove(m->jobs, j->path);
        job_free(j);
        return 0;
}

void vm_job_finish(VmJob *j, int r, const char *message) {
        Manager *m = j->manager;
        int k;

        if (!vm_job_is_running(j))
                return;
        j->cancel = NULL;
        j->progress_timer = sd_event_source_disable_unref(j->progress_timer);
        if (r >= 0) {
                j->state = "completed";
                if (j->processed < j->total)
                        j->processed = j->total;
        } else {
                j->state = r == -ECANCELED ? "cancelled" : "failed";
                g_free(j->error);
                j->error = g_strdup(!isempty(message) ? message : strerror(-r));
                log_info("Job %s (%s of %s) %s: %s", j->path, j->type, j->object, j->state, j->error);
        }
        if (job_visible(j)) {
                vm_object_kind_emit_changed(&vm_job_kind, m, j,
                                            (const char *[]) { "State", "Error", "Progress", "ProcessedBytes",
                                                               "TotalBytes", "Info", NULL });
                (void) sd_bus_emit_signal(m->bus, j->path, VM_JOB_INTERFACE, "Finished", "ss", j->state, j->error);
        }
        if (g_hash_table_lookup(m->jobs, j->path) != j) {
                job_free(j);   /* never published */
                return;
        }
        k = sd_event_add_time_relative(m->event, &j->linger_timer, CLOCK_MONOTONIC, m->job_linger_usec, 0,
                                       on_linger_timer, j);
        if (k < 0)
                log_warning_errno(k, "Failed to schedule removal of job %s: %m", j->path);
}

void vm_jobs_free_all(Manager *m) {
        GHashTableIter it;
        gpointer value;

        if (!m->jobs)
                return;
        /* the drivers are about to stop the running ones without callbacks */
        g_hash_table_iter_init(&it, m->jobs);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                g_hash_table_iter_steal(&it);
                job_free(value);
        }
}

/* ---- bus ---- */

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmJob *j = userdata;
        const char *v = streq(property, "Type") ? j->type : streq(property, "State") ? j->state : j->error;
        return sd_bus_message_append_basic(reply, 's', v);
}

static int property_get_object(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append_basic(reply, 'o', ((VmJob *) userdata)->object);
}

static int property_get_progress(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmJob *j = userdata;
        double d = streq(j->state, "completed") ? 1.0 :
                   j->total > 0 ? MIN(1.0, (double) j->processed / (double) j->total) : 0.0;
        return sd_bus_message_append_basic(reply, 'd', &d);
}

static int property_get_bytes(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmJob *j = userdata;
        uint64_t v = streq(property, "ProcessedBytes") ? j->processed : j->total;
        return sd_bus_message_append_basic(reply, 't', &v);
}

static int property_get_info(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmJob *j = userdata;
        g_autoptr(GList) keys = j->info ? g_hash_table_get_keys(j->info) : NULL;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        keys = g_list_sort(keys, (GCompareFunc) strcmp);
        for (GList *l = keys; r >= 0 && l; l = l->next) {
                GVariant *v = g_hash_table_lookup(j->info, l->data);
                if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
                        r = sd_bus_message_append(reply, "{sv}", (const char *) l->data, "t", g_variant_get_uint64(v));
                else
                        r = sd_bus_message_append(reply, "{sv}", (const char *) l->data, "s",
                                                  g_variant_get_string(v, NULL));
        }
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int method_cancel(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmJob *j = userdata;
        int r;

        r = bus_options_parse(message, (const BusOption[]) { {} }, error);
        if (r < 0)
                return r;
        r = vm_authorize(j->manager, message, j->action, (const char *const *) j->details, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, dispatched again */
        if (!vm_job_is_running(j))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Job %s has already finished (%s)", j->path,
                                         j->state);
        if (!j->cancel)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "Job %s (%s) cannot be cancelled", j->path,
                                         j->type);
        j->cancel(j, j->cancel_userdata);
        return sd_bus_reply_method_return(message, NULL);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST
#define UNPRIV SD_BUS_VTABLE_UNPRIVILEGED

static const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Type", "s", property_get_string, 0, CONST),
        SD_BUS_PROPERTY("Object", "o", property_get_object, 0, CONST),
        SD_BUS_PROPERTY("State", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("Progress", "d", property_get_progress, 0, EMITS),
        SD_BUS_PROPERTY("ProcessedBytes", "t", property_get_bytes, 0, EMITS),
        SD_BUS_PROPERTY("TotalBytes", "t", property_get_bytes, 0, EMITS),
        SD_BUS_PROPERTY("Error", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("Info", "a{sv}", property_get_info, 0, EMITS),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_cancel, UNPRIV),
        SD_BUS_SIGNAL_WITH_ARGS("Finished", SD_BUS_ARGS("s", state, "s", error), 0),
        SD_BUS_VTABLE_END
};

static int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                           sd_bus_error *error) {
        Manager *m = userdata;
        VmJob *j;

        if (!g_str_has_prefix(path, VM_JOB_PREFIX "/") || strchr(path + strlen(VM_JOB_PREFIX "/"), '/'))
                return 0;
        j = vm_job_find_by_path(m, path);
        if (!j)
                return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_JOB, "No job %s", path);
        *found = j;
        return 1;
}

static int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        GPtrArray *l = g_ptr_array_new();
        GHashTableIter it;
        gpointer key;

        if (m->jobs) {
                g_hash_table_iter_init(&it, m->jobs);
                while (g_hash_table_iter_next(&it, &key, NULL))
                        g_ptr_array_add(l, strdup(key));
        }
        g_ptr_array_add(l, NULL);
        *nodes = (char **) g_ptr_array_free(l, FALSE);
        return 1;
}

/* ---- the kind ---- */

static int job_foreach(Manager *m, VmObjectFn fn, void *userdata) {
        GHashTableIter it;
        gpointer value;

        if (!m->jobs)
                return 0;
        g_hash_table_iter_init(&it, m->jobs);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmJob *j = value;
                int r = fn(userdata, j, j->path);
                if (r < 0)
                        return r;
        }
        return 0;
}

static char *job_path(const void *object) {
        return g_strdup(((const VmJob *) object)->path);
}

const VmObjectKind vm_job_kind = {
        .noun = "job",
        .interface = VM_JOB_INTERFACE,
        .path_prefix = VM_JOB_PREFIX,
        .path_pattern = VM_JOB_PREFIX "/%",
        .no_such_error = VM_ERROR_NO_SUCH_JOB,
        .action = NULL,                       /* Cancel: each job names its own (vm_job_new) */
        .vtable = job_vtable,
        .find = job_object_find,
        .enumerate = job_node_enumerator,
        .foreach = job_foreach,
        .object_path = job_path,
};
