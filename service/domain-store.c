/* domain-store.c — persistent definitions, each in its driver's directory CONFIG/DRIVER (the domain kind's persistence): load, durable write, remove, autostart links. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include <libxml/parser.h>

#include "domain.h"
#include "fileio.h"
#include "log.h"
#include "object-kind.h"

#define GENERATION_HEADER "<!-- vmgmt generation "

/* The directory of drv's definitions. */
static char *store_dir(const Manager *m, const VmDriver *drv) {
        return vm_object_kind_config_dir(&vm_domain_kind, m, drv->ops->name);
}

/* The file def is saved to: NAME.xml when it fits the file system's name
 * limit, else UUID.xml, in the directory of the driver that runs it. */
static int store_file_path(Manager *m, const DomainDef *def, char **ret) {
        _cleanup_free_ char *dir = NULL, *base = NULL;
        VmDriver *drv = manager_driver_for_def(m, def, NULL);
        char uuid[37];

        if (!drv)
                return -EOPNOTSUPP;
        if (strlen(def->name) + strlen(".xml") <= NAME_MAX)
                base = g_strconcat(def->name, ".xml", NULL);
        else {
                conf_uuid_format(def->uuid, uuid);
                base = g_strconcat(uuid, ".xml", NULL);
        }
        dir = store_dir(m, drv);
        *ret = g_build_filename(dir, base, NULL);
        return 0;
}

/* DIR/autostart/NAME.xml of DIR/NAME.xml. */
static char *store_autostart_link(const char *config_file) {
        _cleanup_free_ char *dir = g_path_get_dirname(config_file), *base = g_path_get_basename(config_file);

        return g_build_filename(dir, "autostart", base, NULL);
}

static uint64_t store_parse_generation(const char *text) {
        if (!g_str_has_prefix(text, GENERATION_HEADER))
                return 1;
        return g_ascii_strtoull(text + strlen(GENERATION_HEADER), NULL, 10) ?: 1;
}

/* ---- loading at start-up ---- */

/* One definition file: read and parsed by a worker, added by the loop thread. */
typedef struct StoreFile {
        char *name;                 /* DIR/NAME.xml, DIR a driver's directory */
        int dir_fd;                 /* DIR, open while loading (a lookup of NAME.xml only, not of DIR each time) */
        VmDriver *driver;           /* whose directory it is in */
        DomainDef *def;             /* parsed, not normalized; NULL on failure */
        uint64_t generation;
        int r;                      /* < 0: cannot be read or parsed */
        char *error;                /* the parser's message */
} StoreFile;

typedef struct StoreLoad {
        StoreFile *files;
        guint n_files;
        gint next;                  /* next file to parse (atomic) */
} StoreLoad;

/* Reading and parsing touch nothing shared (libxml2 keeps its state per
 * parser context), so they may run in any thread. */
static void store_file_parse(StoreFile *f) {
        _cleanup_free_ char *text = NULL;
        ConfError err = {};
        size_t size;

        f->r = read_full_file_at(f->dir_fd, strrchr(f->name, '/') + 1, DOMAIN_XML_MAX_SIZE, &text, &size);
        if (f->r < 0)
                return;
        f->r = domain_def_parse(text, size, &f->def, &err);
        if (f->r < 0) {
                f->error = g_strdup(err.message);
                conf_error_clear(&err);
                return;
        }
        f->generation = store_parse_generation(text);
}

static gpointer store_parse_worker(gpointer userdata) {
        StoreLoad *l = userdata;

        for (;;) {
                guint i = (guint) g_atomic_int_add(&l->next, 1);

                if (i >= l->n_files)
                        return NULL;
                store_file_parse(&l->files[i]);
        }
}

/* Parses every file, on all CPUs: parsing is most of a start-up with many
 * definitions. The loop does not run yet, so nothing else waits. */
static void store_parse_all(StoreLoad *l) {
        guint n_threads = MIN(MIN((guint) g_get_num_processors(), 8u), l->n_files / 256u + 1u);
        GThread *threads[8];
        guint started = 0;

        xmlInitParser();   /* once, before any thread uses libxml2 */
        for (guint i = 1; i < n_threads; i++) {
                threads[started] = g_thread_try_new("vmgmt-load", store_parse_worker, l, NULL);
                if (threads[started])
                        started++;
        }
        store_parse_worker(l);
        for (guint i = 0; i < started; i++)
                g_thread_join(threads[i]);
}

/* Normalizes a parsed definition and adds its domain. */
static int store_add_one(Manager *m, GHashTable *autostart, StoreFile *f) {
        _cleanup_free_ char *msg = NULL;
        const char *path = f->name;
        DomainDef *def = TAKE_PTR(f->def);
        ConfError err = {};
        VmDomain *d, *other;
        VmDriver *drv;
        int r;

        if (f->r < 0 && f->error) {
                log_warning("Failed to parse %s, ignoring: %s", path, f->error);
                return f->r;
        }
        if (f->r < 0)
                return log_warning_errno(f->r, "Failed to read %s, ignoring: %m", path);
        /* start-up, before the bus name is taken: nobody waits, so an emulator
         * not probed yet is probed here (once; the answer is cached on disk) */
        drv = manager_driver_for_def(m, def, NULL);
        if (!drv) {
                log_warning("Definition %s is of domain type '%s', which no driver runs; ignoring it.", path,
                            strna(domain_virt_type_to_string(def->virt_type)));
                domain_def_free(def);
                return -EOPNOTSUPP;
        }
        if (drv != f->driver) {
                /* it would be saved to, and removed from, the other driver's directory */
                log_warning("Definition %s is of domain type '%s', which driver '%s' runs, not '%s' whose "
                            "directory it is in; ignoring it.", path,
                            strna(domain_virt_type_to_string(def->virt_type)), drv->ops->name,
                            f->driver->ops->name);
                domain_def_free(def);
                return -EXDEV;
        }
        r = drv->ops->prepare(drv->driver, def, NULL, NULL, &msg);
        if (r < 0) {
                log_warning("Definition %s cannot be used, ignoring: %s", path, strna(msg));
                domain_def_free(def);
                return r;
        }
        r = drv->ops->normalize(drv->driver, def, &err);
        if (r < 0) {
                log_warning("Definition %s is not valid, ignoring: %s", path, strna(err.message));
                conf_error_clear(&err);
                domain_def_free(def);
                return r;
        }
        other = vm_domain_find_by_name(m, def->name);
        if (!other) {
                char uuid[37];
                conf_uuid_format(def->uuid, uuid);
                other = vm_domain_find_by_uuid(m, uuid);
        }
        if (other) {
                log_warning("Definition %s names domain '%s' again (name or UUID of %s), ignoring.",
                            path, def->name, strna(other->config_file));
                domain_def_free(def);
                return -EEXIST;
        }
        r = vm_domain_new(m, def, true, &d);
        if (r < 0)
                return log_error_errno(r, "Failed to add domain from %s: %m", path);
        d->config_file = g_strdup(f->name);
        d->generation = f->generation;
        d->autostart = g_hash_table_contains(autostart, f->name);
        return 0;
}

/* Adds the DIR/NAME.xml of the links in DIR/autostart to set (one listing
 * instead of a stat per domain). */
static void store_read_autostart(const char *config_dir, GHashTable *set) {
        _cleanup_free_ char *path = g_build_filename(config_dir, "autostart", NULL);
        DIR *dir = opendir(path);
        struct dirent *de;

        if (!dir) {
                log_warning_errno(errno, "Failed to open %s, no domain autostarts: %m", path);
                return;
        }
        while ((de = readdir(dir)))
                if (de->d_name[0] != '.')
                        g_hash_table_add(set, g_build_filename(config_dir, de->d_name, NULL));
        closedir(dir);
}

/* Appends the NAME.xml files of drv's directory (at path), in directory
 * order; removes what a crash in the middle of a write left behind. */
static void store_list_files(DIR *dir, const char *path, VmDriver *drv, GArray *files) {
        struct dirent *de;

        while ((de = readdir(dir))) {
                StoreFile f = {};

                if (de->d_name[0] == '.' && (!de->d_name[1] || streq(de->d_name, "..")))
                        continue;
                if (strstr(de->d_name, ".xml.tmp.")) {
                        (void) unlinkat(dirfd(dir), de->d_name, 0);
                        continue;
                }
                if (!g_str_has_suffix(de->d_name, ".xml"))
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
                        continue;
                f.name = g_build_filename(path, de->d_name, NULL);
                f.dir_fd = dirfd(dir);
                f.driver = drv;
                g_array_append_val(files, f);
        }
}

static void store_closedir(gpointer dir) {
        closedir(dir);
}

/* Every registered driver's directory, in the registry's order: a domain
 * named twice is the first one's. */
int vm_domain_store_load(Manager *m) {
        g_autoptr(GHashTable) autostart = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GString) dirs = g_string_new(NULL);
        GArray *files = g_array_new(FALSE, TRUE, sizeof(StoreFile));
        /* the directories stay open while their files are read */
        g_autoptr(GPtrArray) open_dirs = g_ptr_array_new_with_free_func(store_closedir);
        StoreLoad l = {};
        unsigned n = 0;
        int r = 0;

        for (size_t i = 0; i < m->n_drivers; i++) {
                _cleanup_free_ char *path = store_dir(m, &m->drivers[i]);
                _cleanup_free_ char *autostart_dir = g_build_filename(path, "autostart", NULL);
                DIR *dir;

                r = mkdir_p(autostart_dir, 0755);
                if (r < 0) {
                        log_error_errno(r, "Failed to create %s: %m", autostart_dir);
                        break;
                }
                dir = opendir(path);
                if (!dir) {
                        r = log_error_errno(errno, "Failed to open %s: %m", path);
                        break;
                }
                g_ptr_array_add(open_dirs, dir);
                store_list_files(dir, path, &m->drivers[i], files);
                store_read_autostart(path, autostart);
                g_string_append_printf(dirs, "%s%s", dirs->len ? ", " : "", path);
        }

        l.files = (StoreFile *) (void *) files->data;
        l.n_files = files->len;
        if (r >= 0)
                store_parse_all(&l);
        /* added in directory order, as before: which of two files naming one domain wins stays the same */
        for (guint i = 0; i < l.n_files; i++) {
                StoreFile *f = &l.files[i];

                if (r >= 0 && store_add_one(m, autostart, f) >= 0)
                        n++;
                domain_def_free(f->def);
                g_free(f->name);
                g_free(f->error);
        }
        g_array_free(files, TRUE);
        if (r < 0)
                return r;
        log_info("Loaded %u domain definitions from %s.", n, dirs->str);
        return 0;
}

static GString *store_format(const DomainDef *def, uint64_t generation) {
        _cleanup_free_ char *xml = NULL;
        GString *text;

        xml = domain_def_format(def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
        if (!xml)
                return NULL;
        text = g_string_sized_new(strlen(xml) + 64);
        g_string_append_printf(text, GENERATION_HEADER "%" PRIu64 " -->\n", generation);
        g_string_append(text, xml);
        return text;
}

int vm_domain_store_write(Manager *m, const DomainDef *def, uint64_t generation, char **ret_file) {
        _cleanup_free_ char *path = NULL;
        GString *text;
        int r;

        vm_domain_store_flush(m);
        r = store_file_path(m, def, &path);
        if (r < 0)
                return r;
        text = store_format(def, generation);
        if (!text)
                return -ENOMEM;
        r = write_file_atomic(path, text->str, text->len, 0600);
        g_string_free(text, TRUE);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        if (ret_file)
                *ret_file = TAKE_PTR(path);
        return 0;
}

/* ---- batched writes ----
 *
 * Group commit in a thread: the loop formats each definition and queues it
 * (m->store_pending); when the bus has nothing more ready, one batch goes to
 * a committer thread (m->store_inflight), which writes every file under a
 * temporary name, makes them durable with one fsync (one file) or one
 * syncfs (many), renames them and syncs each directory once. Creating,
 * writing and syncing files is most of a define's cost and can take long on
 * a busy disk: none of it runs on the loop. What arrives while a batch is in
 * the thread waits in the next one, committed when that one is done. */

#define STORE_BATCH_MAX 256u

typedef struct StoreWrite {
        char *path, *tmp_path;
        char *name;
        char uuid[37];
        GString *text;              /* what to write */
        int fd;
        int r;
        const char *failed;         /* the step that failed (r < 0), for the log */
        VmStoreCommitFn fn;
        void *userdata;
} StoreWrite;

typedef struct StoreBatch {
        Manager *manager;
        GPtrArray *writes;          /* StoreWrite* */
        GThread *thread;
        int efd;                    /* the thread's "done" */
        sd_event_source *source;
} StoreBatch;

static void store_write_free(StoreWrite *w) {
        if (w->fd >= 0)
                close(w->fd);
        if (w->text)
                g_string_free(w->text, TRUE);
        g_free(w->path);
        g_free(w->tmp_path);
        g_free(w->name);
        g_free(w);
}

static void store_write_fail(StoreWrite *w, int r, const char *step) {
        if (w->r >= 0) {
                w->r = r;
                w->failed = step;
        }
}

/* The commit of one batch: in the committer thread, or on the loop when a
 * caller needs it done now. Touches nothing but the batch's writes. */
static void store_batch_commit(GPtrArray *writes) {
        StoreWrite *first = NULL;
        g_autoptr(GHashTable) synced = NULL;

        for (guint i = 0; i < writes->len; i++) {
                StoreWrite *w = writes->pdata[i];

                w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
                if (w->fd < 0) {
                        store_write_fail(w, -errno, "create");
                        continue;
                }
                if (fchmod(w->fd, 0600) < 0)
                        store_write_fail(w, -errno, "write");
                else {
                        int r = write_full(w->fd, w->text->str, w->text->len);
                        if (r < 0)
                                store_write_fail(w, r, "write");
                }
                if (w->r >= 0 && !first)
                        first = w;
        }
        /* One file: fsync it. Many: one syncfs() commits them all at once,
         * instead of a journal commit per file. */
        if (first && writes->len == 1) {
                if (fsync(first->fd) < 0)
                        store_write_fail(first, -errno, "sync");
        } else if (first && syncfs(first->fd) < 0) {
                int r = -errno;
                for (guint i = 0; i < writes->len; i++)
                        store_write_fail(writes->pdata[i], r, "sync");
        }
        for (guint i = 0; i < writes->len; i++) {
                StoreWrite *w = writes->pdata[i];

                if (w->r >= 0 && rename(w->tmp_path, w->path) < 0)
                        store_write_fail(w, -errno, "rename");
                if (w->r < 0 && w->fd >= 0)
                        (void) unlink(w->tmp_path);
        }
        /* each directory once */
        synced = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        for (guint i = 0; i < writes->len; i++) {
                StoreWrite *w = writes->pdata[i];
                char *dir;

                if (w->r < 0)
                        continue;
                dir = g_path_get_dirname(w->path);
                if (g_hash_table_contains(synced, dir)) {
                        g_free(dir);
                        continue;
                }
                g_hash_table_add(synced, dir);
                /* the file is durable but its name may not be: said in the log, not as a failure */
                if (fsync_parent_dir(w->path) < 0)
                        w->failed = "directory sync";
        }
}

/* On the loop: each write's fn, with the batch's result. */
static void store_batch_complete(GPtrArray *writes) {
        for (guint i = 0; i < writes->len; i++) {
                StoreWrite *w = writes->pdata[i];

                if (w->r < 0)
                        log_error_errno(w->r, "Failed to write %s (%s): %m", w->path, w->failed);
                else if (w->failed)
                        log_warning("Failed to sync the directory of %s", w->path);
                w->fn(w->userdata, w->r, w->r >= 0 ? TAKE_PTR(w->path) : NULL);
                store_write_free(w);
        }
        g_ptr_array_free(writes, TRUE);
}

static gpointer store_batch_thread(gpointer userdata) {
        StoreBatch *b = userdata;

        store_batch_commit(b->writes);
        if (eventfd_write(b->efd, 1) < 0)
                abort();   /* the loop would wait for this batch forever */
        return NULL;
}

/* Ends the batch in the thread (waiting for it) and calls its fns. */
static void store_batch_finish(Manager *m) {
        StoreBatch *b = TAKE_PTR(m->store_inflight);
        GPtrArray *writes;

        g_thread_join(b->thread);
        sd_event_source_disable_unref(b->source);
        close(b->efd);
        writes = b->writes;
        g_free(b);
        store_batch_complete(writes);
        if (m->store_pending && m->store_flush_source)
                (void) sd_event_source_set_enabled(m->store_flush_source, SD_EVENT_ON);
}

static int on_store_batch_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        store_batch_finish(userdata);
        return 0;
}

/* Hands the pending writes to a committer thread; on the loop when no
 * thread can be made. */
static void store_batch_start(Manager *m) {
        g_autoptr(GError) err = NULL;
        StoreBatch *b;
        int r;

        b = g_new0(StoreBatch, 1);
        b->manager = m;
        b->writes = TAKE_PTR(m->store_pending);
        b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        r = b->efd < 0 ? -errno : sd_event_add_io(m->event, &b->source, b->efd, EPOLLIN, on_store_batch_done, m);
        if (r >= 0) {
                m->store_inflight = b;
                b->thread = g_thread_try_new("vmgmt-store", store_batch_thread, b, &err);
                if (b->thread)
                        return;
                m->store_inflight = NULL;
                log_warning("Cannot start a thread for definition writes, writing on the loop: %s", err->message);
        }
        sd_event_source_disable_unref(b->source);
        if (b->efd >= 0)
                close(b->efd);
        store_batch_commit(b->writes);
        store_batch_complete(b->writes);
        g_free(b);
}

void vm_domain_store_flush(Manager *m) {
        if (m->store_flush_source)
                (void) sd_event_source_set_enabled(m->store_flush_source, SD_EVENT_OFF);
        /* in the order they were made: the batch in the thread, then what waits (fns may queue more) */
        while (m->store_inflight || m->store_pending) {
                if (m->store_inflight)
                        store_batch_finish(m);
                else {
                        GPtrArray *writes = TAKE_PTR(m->store_pending);
                        store_batch_commit(writes);
                        store_batch_complete(writes);
                }
        }
        if (m->store_flush_source)
                (void) sd_event_source_set_enabled(m->store_flush_source, SD_EVENT_OFF);
}

static int on_store_flush(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        /* one batch at a time: what comes meanwhile is the next one, started when this one is done */
        if (!m->store_inflight && m->store_pending)
                store_batch_start(m);
        return 0;
}

static bool store_writes_name(GPtrArray *writes, const char *name, const char *uuid) {
        for (guint i = 0; writes && i < writes->len; i++) {
                StoreWrite *w = writes->pdata[i];
                if (streq(w->name, name) || (uuid && streq(w->uuid, uuid)))
                        return true;
        }
        return false;
}

bool vm_domain_store_pending(Manager *m, const char *name, const char *uuid) {
        return store_writes_name(m->store_pending, name, uuid) ||
               (m->store_inflight && store_writes_name(m->store_inflight->writes, name, uuid));
}

int vm_domain_store_write_batched(Manager *m, const DomainDef *def, uint64_t generation, VmStoreCommitFn fn,
                                  void *userdata) {
        StoreWrite *w;
        int r;

        /* Low priority: it runs when the bus has nothing more ready, so the
         * calls that arrived together are committed together. */
        if (!m->store_flush_source) {
                r = sd_event_add_defer(m->event, &m->store_flush_source, on_store_flush, m);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_priority(m->store_flush_source, SD_EVENT_PRIORITY_IDLE);
        }
        w = g_new0(StoreWrite, 1);
        w->fd = -1;
        r = store_file_path(m, def, &w->path);
        if (r < 0) {
                store_write_free(w);
                return r;
        }
        w->text = store_format(def, generation);
        if (!w->text) {
                store_write_free(w);
                return -ENOMEM;
        }
        w->fn = fn;
        w->userdata = userdata;
        w->name = g_strdup(def->name);
        conf_uuid_format(def->uuid, w->uuid);
        w->tmp_path = g_strconcat(w->path, ".tmp.XXXXXX", NULL);
        if (!m->store_pending)
                m->store_pending = g_ptr_array_new();
        g_ptr_array_add(m->store_pending, w);
        if (m->store_pending->len >= STORE_BATCH_MAX && !m->store_inflight)
                store_batch_start(m);
        else if (!m->store_inflight)
                (void) sd_event_source_set_enabled(m->store_flush_source, SD_EVENT_ON);
        return 0;
}

int vm_domain_store_set_autostart(Manager *m, const char *config_file, bool autostart) {
        _cleanup_free_ char *link = NULL, *target = NULL;
        int r;

        vm_domain_store_flush(m);
        link = store_autostart_link(config_file);
        if (!autostart) {
                r = unlink_noent(link);
                if (r < 0)
                        return log_error_errno(r, "Failed to remove %s: %m", link);
        } else {
                _cleanup_free_ char *base = g_path_get_basename(config_file), *dir = g_path_get_dirname(link);

                r = mkdir_p(dir, 0755);
                if (r < 0)
                        return log_error_errno(r, "Failed to create %s: %m", dir);
                target = g_build_filename("..", base, NULL);
                (void) unlink_noent(link);
                if (symlink(target, link) < 0)
                        return log_error_errno(errno, "Failed to create %s: %m", link);
        }
        return fsync_parent_dir(link);
}

int vm_domain_store_remove(Manager *m, const char *config_file) {
        int r;

        vm_domain_store_flush(m);
        r = vm_domain_store_set_autostart(m, config_file, false);
        if (r < 0)
                return r;
        r = unlink_noent(config_file);
        if (r < 0)
                return log_error_errno(r, "Failed to remove %s: %m", config_file);
        return fsync_parent_dir(config_file);
}
