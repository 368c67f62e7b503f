/* job.c — org.vmgmt.Job objects at /org/vmgmt/job/ID: progress (throttled), Cancel, Finished, removal after a while. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "fileio.h"
#include "log.h"
#include "object-kind.h"
#include "pool.h"

static uint64_t now_usec(void) {
        return (uint64_t) g_get_monotonic_time();
}

static bool job_visible(VmJob *j) {
        Manager *m = j->storage->manager;
        return m->bus && m->ready && g_hash_table_lookup(j->storage->jobs, j->path) == j;
}

/* ---- ids ----
 *
 * A client holding /org/vmgmt/job/N must never see another job there, also
 * after a restart of vmgmtd: ids are handed out from blocks whose end is
 * recorded in RUN/storage/job-ids before any id of the block is used. RUN
 * goes away with the machine, and so does the bus with its clients. */

#define JOB_ID_BLOCK 256

static char *job_ids_file(VmStorage *s) {
        return g_build_filename(s->run_dir, "job-ids", NULL);
}

void vm_job_ids_load(VmStorage *s) {
        _cleanup_free_ char *path = job_ids_file(s), *text = NULL;
        uint64_t limit = 0;
        size_t len;

        if (read_full_file(path, 64, &text, &len) >= 0)
                limit = g_ascii_strtoull(text, NULL, 10);
        s->next_job_id = s->job_id_limit = limit + 1;   /* the first job reserves a block */
}

static uint64_t job_id_next(VmStorage *s) {
        if (s->next_job_id >= s->job_id_limit) {
                _cleanup_free_ char *path = job_ids_file(s);
                char text[32];
                int r;

                s->job_id_limit = s->next_job_id + JOB_ID_BLOCK;
                snprintf(text, sizeof text, "%" PRIu64 "\n", s->job_id_limit - 1);
                r = mkdir_p(s->run_dir, 0755);
                if (r >= 0)
                        r = write_file_atomic_nosync(path, text, strlen(text), 0644);
                if (r < 0)
                        log_warning_errno(r, "Failed to record job ids in %s (ids may repeat after a restart): %m", path);
        }
        return s->next_job_id++;
}

VmJob *vm_job_new(VmStorage *s, const char *type, const char *object, const char *pool, const char *volume) {
        VmJob *j = g_new0(VmJob, 1);

        j->storage = s;
        j->path = g_strdup_printf(VM_JOB_PREFIX "/%" PRIu64, job_id_next(s));
        j->type = g_strdup(type);
        j->object = g_strdup(object);
        j->pool = g_strdup(pool);
        j->volume = g_strdup(volume);
        j->state = "running";
        j->error = g_strdup("");
        return j;
}

static void job_free(VmJob *j) {
        sd_event_source_disable_unref(j->progress_timer);
        sd_event_source_disable_unref(j->linger_timer);
        g_free(j->path);
        g_free(j->type);
        g_free(j->object);
        g_free(j->pool);
        g_free(j->volume);
        g_free(j->error);
        g_free(j);
}

void vm_job_discard(VmJob *j) {
        job_free(j);
}

void vm_job_set_storage_job(VmJob *j, StorageJob *sj) {
        j->sj = sj;
}

void vm_job_publish(VmJob *j) {
        Manager *m = j->storage->manager;

        g_hash_table_insert(j->storage->jobs, j->path, j);
        vm_object_kind_emit_added(&vm_job_kind, m, j->path);
}

VmJob *vm_job_find_by_path(VmStorage *s, const char *path) {
        return g_hash_table_lookup(s->jobs, path);
}

static void job_emit_progress(VmJob *j) {
        j->last_emit = now_usec();
        if (job_visible(j))
                vm_object_kind_emit_changed(&vm_job_kind, j->storage->manager, j,
                                            (const char *[]) { "Progress", "ProcessedBytes", "TotalBytes", NULL });
}

static int on_progress_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        VmJob *j = userdata;

        j->progress_timer = sd_event_source_disable_unref(j->progress_timer);
        job_emit_progress(j);
        return 0;
}

static void on_storage_progress(void *userdata, uint64_t processed, uint64_t total) {
        VmJob *j = userdata;
        uint64_t now = now_usec();

        j->processed = processed;
        j->total = total;
        if (now >= j->last_emit + VM_JOB_PROGRESS_INTERVAL_USEC) {
                j->progress_timer = sd_event_source_disable_unref(j->progress_timer);
                job_emit_progress(j);
                return;
        }
        /* at most ten a second: the last value is sent when the interval is over */
        if (!j->progress_timer)
                (void) sd_event_add_time(j->storage->manager->event, &j->progress_timer, CLOCK_MONOTONIC,
                                         j->last_emit + VM_JOB_PROGRESS_INTERVAL_USEC, 10000, on_progress_timer, j);
}

static int on_linger_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        VmJob *j = userdata;
        Manager *m = j->storage->manager;

        vm_object_kind_emit_removed(&vm_job_kind, m, j->path);
        g_hash_table_remove(j->storage->jobs, j->path);
        job_free(j);
        return 0;
}

static void on_storage_done(void *userdata, int r, const char *message, StorageVolume *vol) {
        VmJob *j = userdata;
        Manager *m = j->storage->manager;
        int k;

        j->sj = NULL;
        j->progress_timer = sd_event_source_disable_unref(j->progress_timer);
        if (r >= 0) {
                j->state = "completed";
                if (j->total == 0 && vol)
                        j->total = storage_volume_get_def(vol)->capacity;
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
                                                               "TotalBytes", NULL });
                (void) sd_bus_emit_signal(m->bus, j->path, VM_JOB_INTERFACE, "Finished", "ss", j->state, j->error);
        }
        k = sd_event_add_time_relative(m->event, &j->linger_timer, CLOCK_MONOTONIC, j->storage->job_linger_usec, 0,
                                       on_linger_timer, j);
        if (k < 0)
                log_warning_errno(k, "Failed to schedule removal of job %s: %m", j->path);
}

StorageJobCallbacks vm_job_callbacks(VmJob *j) {
        return (StorageJobCallbacks) { .progress = on_storage_progress, .done = on_storage_done, .userdata = j };
}

void vm_job_free_all(VmStorage *s) {
        GHashTableIter it;
        gpointer value;

        /* the driver is about to cancel the running ones without callbacks */
        g_hash_table_iter_init(&it, s->jobs);
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

static int method_cancel(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmJob *j = userdata;
        const char *details[5] = { "pool", j->pool, "volume", j->volume, NULL };
        int r;

        r = bus_options_parse(message, (const BusOption[]) { {} }, error);
        if (r < 0)
                return r;
        r = vm_authorize(j->storage->manager, message, VM_ACTION_STORAGE_MANAGE, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, dispatched again */
        if (!j->sj)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Job %s has already finished (%s)", j->path,
                                         j->state);
        storage_job_cancel(j->sj);
        return sd_bus_reply_method_return(message, NULL);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST
#define UNPRIV SD_BUS_VTABLE_UNPRIVILEGED

const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Type", "s", property_get_string, 0, CONST),
        SD_BUS_PROPERTY("Object", "o", property_get_object, 0, CONST),
        SD_BUS_PROPERTY("State", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("Progress", "d", property_get_progress, 0, EMITS),
        SD_BUS_PROPERTY("ProcessedBytes", "t", property_get_bytes, 0, EMITS),
        SD_BUS_PROPERTY("TotalBytes", "t", property_get_bytes, 0, EMITS),
        SD_BUS_PROPERTY("Error", "s", property_get_string, 0, EMITS),
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
        j = m->storage ? vm_job_find_by_path(m->storage, path) : NULL;
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

        if (m->storage) {
                g_hash_table_iter_init(&it, m->storage->jobs);
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

        if (!m->storage)
                return 0;
        g_hash_table_iter_init(&it, m->storage->jobs);
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
        .action = VM_ACTION_STORAGE_MANAGE,   /* Cancel: the storage jobs of today */
        .vtable = job_vtable,
        .find = job_object_find,
        .enumerate = job_node_enumerator,
        .foreach = job_foreach,
        .object_path = job_path,
};
