/* osinfo.c — Manager.GetOSInfo, ListOSInfo and DetectOSInfo (osinfo.h): libosinfo's database, loaded in a
 * thread at the first call, and install media identified in a thread from the fd opened as the caller.
 * What touches libosinfo is in the vmgmt-osinfo.so module (osinfo-db.h), opened by that first load. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "bus-util.h"
#include "dlopen-util.h"
#include "domain-files.h"
#include "log.h"
#include "macro.h"
#include "osinfo-db.h"
#include "osinfo.h"

/* A database that failed to load (or was empty) is tried again by a call
 * this much later: osinfo-db may have been installed meanwhile. */
#define OSINFO_RETRY_USEC (10 * 1000000ULL)

typedef enum OsinfoState {
        OSINFO_UNLOADED,
        OSINFO_LOADING,
        OSINFO_LOADED,
        OSINFO_FAILED,
} OsinfoState;

typedef struct VmOsinfo VmOsinfo;
typedef struct OsinfoWorker OsinfoWorker;
typedef void (*OsinfoWorkFn)(OsinfoWorker *w);

/* One piece of blocking work in a thread of its own; the thread tells the
 * loop through an eventfd that it is done, the loop joins it and calls done. */
struct OsinfoWorker {
        VmOsinfo *osinfo;
        GThread *thread;
        int efd;
        sd_event_source *source;
        VmOsCancel *cancel;         /* what worker_stop() cancels; NULL when nothing can be */
        OsinfoWorkFn work;          /* in the thread */
        OsinfoWorkFn done;          /* on the loop, after the join */
};

/* Loading the database. */
typedef struct OsinfoLoad {
        OsinfoWorker worker;        /* first: the worker is the load */
        const VmOsinfoModule *mod;  /* the thread's result: the module… */
        VmOsDb *db;                 /* …and the database */
        char *error;                /* the thread's failure, NULL when none */
        uint64_t started_usec;
} OsinfoLoad;

/* One DetectOSInfo call: the medium opened as the caller, then identified in a thread. */
typedef struct DetectCall {
        OsinfoWorker worker;        /* first: the worker is the call */
        sd_bus_message *message;
        char *path;
        VmDomainFilesJob *open;     /* opening as the caller, until detect_opened() */
        VmCallerFiles *files;
        char *location;             /* /proc/self/fd/N of the opened medium */
        VmOsMedia *media;           /* the thread's result: the medium and the OS it matched */
        char *error;                /* the thread's failure, NULL when none */
} DetectCall;

struct VmOsinfo {
        Manager *manager;
        OsinfoState state;
        const VmOsinfoModule *mod;  /* LOADED: the module… */
        VmOsDb *db;                 /* …and its database, read-only from then on, also by detection threads */
        char *error;                /* FAILED: why, as the callers are told */
        uint64_t failed_usec;
        OsinfoLoad *load;           /* LOADING */
        GPtrArray *waiting;         /* sd_bus_message*: calls waiting for the database */
        GHashTable *detections;     /* DetectCall* under way */
        bool stopped;
};

static uint64_t now_usec(void) {
        return (uint64_t) g_get_monotonic_time();
}

/* ---- worker threads ---- */

static gpointer worker_main(gpointer p) {
        OsinfoWorker *w = p;

        w->work(w);
        if (eventfd_write(w->efd, 1) < 0)
                log_error_errno(errno, "Cannot wake the loop after OS database work: %m");
        return NULL;
}

static void worker_release(OsinfoWorker *w) {
        w->source = sd_event_source_disable_unref(w->source);
        if (w->efd >= 0)
                close(w->efd);
        w->efd = -1;
        if (w->cancel)
                w->osinfo->mod->cancel_free(w->cancel);
        w->cancel = NULL;
}

static int worker_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        OsinfoWorker *w = userdata;

        g_thread_join(w->thread);
        w->thread = NULL;
        worker_release(w);
        w->done(w);
        return 0;
}

/* Starts w->work in a thread; w->done runs on the loop once it has ended.
 * Returns 0 or a negative errno (nothing started, done not called). */
static int worker_start(VmOsinfo *o, OsinfoWorker *w, const char *name) {
        g_autoptr(GError) err = NULL;
        int r;

        w->osinfo = o;
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0) {
                r = -errno;
                worker_release(w);
                return r;
        }
        r = sd_event_add_io(o->manager->event, &w->source, w->efd, EPOLLIN, worker_io, w);
        if (r < 0) {
                worker_release(w);
                return r;
        }
        w->thread = g_thread_try_new(name, worker_main, w, &err);
        if (!w->thread) {
                log_error("Cannot start the %s thread: %s", name, err->message);
                worker_release(w);
                return -EAGAIN;
        }
        return 0;
}

/* Cancels what can be cancelled and waits for the thread; done is not called. */
static void worker_stop(OsinfoWorker *w) {
        if (w->cancel)
                w->osinfo->mod->cancel(w->cancel);
        if (w->thread)
                g_thread_join(w->thread);
        w->thread = NULL;
        worker_release(w);
}

/* ---- loading the database ---- */

/* The module (osinfo-db.h), opened once: a library the process keeps. NULL with *error when it cannot be. */
static const VmOsinfoModule *osinfo_module_open(char **error) {
        const VmOsinfoModule *mod = dl_module_open(VM_OSINFO_MODULE_NAME, VM_OSINFO_MODULE_SYMBOL, error);

        if (mod && mod->abi != VM_OSINFO_MODULE_ABI) {
                *error = g_strdup_printf("%s is of another vmgmtd (interface %u, not %u)", VM_OSINFO_MODULE_NAME,
                                         mod->abi, VM_OSINFO_MODULE_ABI);
                return NULL;
        }
        return mod;
}

static void load_work(OsinfoWorker *w) {
        OsinfoLoad *l = (OsinfoLoad *) w;
        g_autofree char *error = NULL;

        l->mod = osinfo_module_open(&error);
        if (!l->mod) {
                l->error = g_strdup_printf("The OS database cannot be used: %s", error);
                return;
        }
        l->db = l->mod->load(&l->error);
}

static void osinfo_redispatch_waiting(VmOsinfo *o) {
        g_autoptr(GPtrArray) waiting = g_steal_pointer(&o->waiting);

        o->waiting = g_ptr_array_new();
        for (guint i = 0; i < waiting->len; i++) {
                sd_bus_message *message = waiting->pdata[i];
                int r;

                /* the handler runs again from the start, finding the database (or its error) */
                r = sd_bus_message_rewind(message, true);
                if (r >= 0)
                        r = sd_bus_enqueue_for_read(o->manager->bus, message);
                if (r < 0)
                        (void) sd_bus_reply_method_errorf(message, VM_ERROR_OPERATION_FAILED,
                                                          "Failed to dispatch the call again: %s", strerror(-r));
                sd_bus_message_unref(message);
        }
}

static void load_free(OsinfoLoad *l) {
        if (!l)
                return;
        worker_stop(&l->worker);
        if (l->db)
                l->mod->free_db(l->db);
        g_free(l->error);
        g_free(l);
}

static void load_done(OsinfoWorker *w) {
        OsinfoLoad *l = (OsinfoLoad *) w;
        VmOsinfo *o = w->osinfo;

        o->load = NULL;
        if (l->error) {
                log_warning("%s", l->error);
                g_free(o->error);
                o->error = TAKE_PTR(l->error);
                o->failed_usec = now_usec();
                o->state = OSINFO_FAILED;
        } else {
                log_info("Loaded the OS database: %u short ids in %.1f ms", l->mod->n_short_ids(l->db),
                         (double) (now_usec() - l->started_usec) / 1000.0);
                o->mod = l->mod;
                o->db = TAKE_PTR(l->db);
                o->state = OSINFO_LOADED;
        }
        load_free(l);
        osinfo_redispatch_waiting(o);
}

static int osinfo_load_start(VmOsinfo *o) {
        OsinfoLoad *l = g_new0(OsinfoLoad, 1);
        int r;

        l->worker.work = load_work;
        l->worker.done = load_done;
        l->worker.efd = -1;
        l->started_usec = now_usec();
        r = worker_start(o, &l->worker, "osinfo-load");
        if (r < 0) {
                g_free(l);
                return r;
        }
        o->load = l;
        o->state = OSINFO_LOADING;
        return 0;
}

/* 1 when the database is there; 0 when the call waits for it (it is
 * dispatched again, from the start, once the load has ended); or a negative
 * errno with error set (the database failed to load: NotSupported saying why). */
static int osinfo_need_db(VmOsinfo *o, sd_bus_message *message, sd_bus_error *error) {
        int r;

        if (o->state == OSINFO_LOADED)
                return 1;
        if (o->state == OSINFO_FAILED && now_usec() - o->failed_usec < OSINFO_RETRY_USEC)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "%s", o->error);
        if (o->state != OSINFO_LOADING) {
                r = osinfo_load_start(o);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, r, "Failed to start loading the OS database: %m");
        }
        g_ptr_array_add(o->waiting, sd_bus_message_ref(message));
        return 0;
}

/* ---- GetOSInfo, ListOSInfo ---- */

/* Answers message with an a{sv} that append writes (GetOSInfo's or DetectOSInfo's); its result when not > 0. */
static int reply_with(sd_bus_message *message, VmOsinfo *o, const char *id, const VmOsMedia *media) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(message, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0 && media) {
                r = o->mod->append_detected(media, reply);
                if (r >= 0)
                        r = 1;
        } else if (r >= 0)
                r = o->mod->append_os(o->db, id, reply);   /* 0: no such OS */
        if (r <= 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        r = sd_bus_send(NULL, reply, NULL);
        return r < 0 ? r : 1;
}

static int method_get_os_info(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmOsinfo *o = userdata;
        const char *id;
        int r;

        r = sd_bus_message_read(message, "s", &id);
        if (r < 0)
                return r;
        if (isempty(id))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "No OS id given");
        r = osinfo_need_db(o, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = reply_with(message, o, id, NULL);
        if (r == 0)
                return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_OS, "No OS '%s' in the OS database", id);
        return r;
}

static int method_list_os_info(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        VmOsinfo *o = userdata;
        VmOsListFilter f = { .include_eol = true };
        const BusOption options[] = {
                { "family", "s", &f.family },
                { "distro", "s", &f.distro },
                { "vendor", "s", &f.vendor },
                { "name_contains", "s", &f.name_contains },
                { "include_eol", "b", &f.include_eol },
                {}
        };
        time_t t = time(NULL);
        struct tm tm;
        int r;

        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        r = osinfo_need_db(o, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (!gmtime_r(&t, &tm) || strftime(f.today, sizeof(f.today), "%Y-%m-%d", &tm) == 0)
                return -EINVAL;
        r = sd_bus_message_new_method_return(message, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        if (r >= 0)
                r = o->mod->append_list(o->db, &f, reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- DetectOSInfo ---- */

static void detect_free(DetectCall *c) {
        if (!c)
                return;
        worker_stop(&c->worker);
        vm_domain_files_job_cancel(c->open);
        vm_caller_files_free(c->files);
        sd_bus_message_unref(c->message);
        if (c->media)
                c->worker.osinfo->mod->free_media(c->media);
        g_free(c->location);
        g_free(c->path);
        g_free(c->error);
        g_free(c);
}

static void detect_finish(DetectCall *c) {
        g_hash_table_remove(c->worker.osinfo->detections, c);
        detect_free(c);
}

static void detect_fail(DetectCall *c, const sd_bus_error *error) {
        (void) sd_bus_reply_method_error(c->message, error);
        detect_finish(c);
}

/* In the thread: the medium read and matched with the database. */
static void detect_work(OsinfoWorker *w) {
        DetectCall *c = (DetectCall *) w;

        c->media = w->osinfo->mod->detect(w->osinfo->db, c->location, w->cancel, &c->error);
}

static void detect_done(OsinfoWorker *w) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        DetectCall *c = (DetectCall *) w;
        int r;

        if (c->error) {
                sd_bus_error_setf(&error, SD_BUS_ERROR_INVALID_ARGS, "'%s' is no install medium libosinfo can read: %s",
                                  c->path, c->error);
                return detect_fail(c, &error);
        }
        if (!w->osinfo->mod->media_matched(c->media)) {
                sd_bus_error_setf(&error, VM_ERROR_NO_SUCH_OS, "No OS in the OS database has media like '%s' (volume id '%s')",
                                  c->path, strempty(w->osinfo->mod->media_volume_id(c->media)));
                return detect_fail(c, &error);
        }
        r = reply_with(c->message, w->osinfo, NULL, c->media);
        if (r < 0) {
                sd_bus_error_set_errnof(&error, r, "Failed to answer about '%s': %m", c->path);
                return detect_fail(c, &error);
        }
        detect_finish(c);
}

static void detect_opened(void *userdata, int r, VmCallerFiles *files, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *what = NULL;
        DetectCall *c = userdata;
        const OpenedFile *f;

        c->open = NULL;
        c->files = files;
        if (r < 0) {
                what = g_strdup_printf("Cannot read the medium '%s'", c->path);
                bus_error_from_errno(&error, r, message, what);
                return detect_fail(c, &error);
        }
        f = &files->files->files[0];
        if (!S_ISREG(f->st.st_mode) && !S_ISBLK(f->st.st_mode)) {
                sd_bus_error_setf(&error, SD_BUS_ERROR_INVALID_ARGS, "'%s' is neither a file nor a block device", c->path);
                return detect_fail(c, &error);
        }
        /* the fd that was opened as the caller, by its name in this process: nothing is opened by path as root */
        c->location = g_strdup_printf("/proc/self/fd/%d", f->fd);
        c->worker.work = detect_work;
        c->worker.done = detect_done;
        c->worker.cancel = c->worker.osinfo->mod->cancel_new();
        r = worker_start(c->worker.osinfo, &c->worker, "osinfo-detect");
        if (r < 0) {
                sd_bus_error_set_errnof(&error, r, "Failed to start reading '%s': %m", c->path);
                return detect_fail(c, &error);
        }
}

static int method_detect_os_info(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmOsinfo *o = userdata;
        OpenFileRequest req = { .mode = OPEN_FILE_READ };
        const char *path;
        DetectCall *c;
        int r;

        r = sd_bus_message_read(message, "s", &path);
        if (r < 0)
                return r;
        r = bus_options_parse(message, NULL, error);
        if (r < 0)
                return r;
        if (isempty(path) || path[0] != '/')
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not an absolute path", strempty(path));
        r = osinfo_need_db(o, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        c = g_new0(DetectCall, 1);
        c->worker.osinfo = o;
        c->worker.efd = -1;
        c->message = sd_bus_message_ref(message);
        c->path = g_strdup(path);
        req.path = path;
        /* read-only with the caller's rights, judged by the path policy as a disk's file */
        r = vm_caller_files_open(o->manager, message, NULL, &req, 1, detect_opened, c, &c->open);
        if (r < 0) {
                detect_free(c);
                return bus_error_from_errno(error, r, "cannot start the file opener", "Failed to read the medium");
        }
        g_hash_table_add(o->detections, c);
        return 1;
}

/* ---- registration and the end ---- */

static const sd_bus_vtable manager_osinfo_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("GetOSInfo", SD_BUS_ARGS("s", id), SD_BUS_RESULT("a{sv}", info), method_get_os_info,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListOSInfo", SD_BUS_ARGS("a{sv}", filter), SD_BUS_RESULT("aa{sv}", oses),
                                method_list_os_info, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DetectOSInfo", SD_BUS_ARGS("s", media_path, "a{sv}", options),
                                SD_BUS_RESULT("a{sv}", info), method_detect_os_info, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* The loop is ending: threads are joined, callers still waiting are told. */
static void osinfo_stop(VmOsinfo *o) {
        GHashTableIter it;
        gpointer key;

        if (o->stopped)
                return;
        o->stopped = true;
        load_free(TAKE_PTR(o->load));
        for (guint i = 0; i < o->waiting->len; i++) {
                (void) sd_bus_reply_method_errorf(o->waiting->pdata[i], VM_ERROR_OPERATION_FAILED, "vmgmtd is stopping");
                sd_bus_message_unref(o->waiting->pdata[i]);
        }
        g_ptr_array_set_size(o->waiting, 0);
        g_hash_table_iter_init(&it, o->detections);
        while (g_hash_table_iter_next(&it, &key, NULL)) {
                DetectCall *c = key;
                (void) sd_bus_reply_method_errorf(c->message, VM_ERROR_OPERATION_FAILED, "vmgmtd is stopping");
                g_hash_table_iter_remove(&it);
                detect_free(c);
        }
}

static int osinfo_on_exit(sd_event_source *s, void *userdata) {
        osinfo_stop(userdata);
        return 0;
}

static void osinfo_free(void *userdata) {
        VmOsinfo *o = userdata;

        osinfo_stop(o);
        g_ptr_array_free(o->waiting, TRUE);
        g_hash_table_destroy(o->detections);
        if (o->db)
                o->mod->free_db(o->db);
        g_free(o->error);
        g_free(o);
}

int vm_manager_osinfo_register(Manager *m) {
        VmOsinfo *o = g_new0(VmOsinfo, 1);
        sd_event_source *exit_source = NULL;
        int r;

        o->manager = m;
        o->waiting = g_ptr_array_new();
        o->detections = g_hash_table_new(NULL, NULL);
        /* the state lives as long as the loop: an exit source frees it (and, with the loop, if it never ran) */
        r = sd_event_add_exit(m->event, &exit_source, osinfo_on_exit, o);
        if (r < 0) {
                osinfo_free(o);
                return log_error_errno(r, "Failed to watch the loop's exit: %m");
        }
        r = sd_event_source_set_destroy_callback(exit_source, osinfo_free);
        if (r >= 0)
                r = sd_event_source_set_floating(exit_source, true);
        sd_event_source_unref(exit_source);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the OS database's state: %m");
        r = sd_bus_add_object_vtable(m->bus, NULL, VM_MANAGER_PATH, VM_MANAGER_INTERFACE, manager_osinfo_vtable, o);
        if (r < 0)
                return log_error_errno(r, "Failed to add the manager's OS database methods: %m");
        return 0;
}
