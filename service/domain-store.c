/* domain-store.c — persistent definitions under CONFIG/DRIVER: load, durable write, remove, autostart links. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include <libxml/parser.h>

#include "domain.h"
#include "fileio.h"
#include "log.h"

#define GENERATION_HEADER "<!-- vmgmt generation "

/* NAME.xml when it fits the file system's name limit, else UUID.xml. */
static char *store_file_name(const DomainDef *def) {
        char uuid[37];

        if (strlen(def->name) + strlen(".xml") <= NAME_MAX)
                return g_strconcat(def->name, ".xml", NULL);
        conf_uuid_format(def->uuid, uuid);
        return g_strconcat(uuid, ".xml", NULL);
}

static uint64_t store_parse_generation(const char *text) {
        if (!g_str_has_prefix(text, GENERATION_HEADER))
                return 1;
        return g_ascii_strtoull(text + strlen(GENERATION_HEADER), NULL, 10) ?: 1;
}

/* ---- loading at start-up ---- */

/* One definition file: read and parsed by a worker, added by the loop thread. */
typedef struct StoreFile {
        char *name;                 /* NAME.xml in the config dir */
        DomainDef *def;             /* parsed, not normalized; NULL on failure */
        uint64_t generation;
        int r;                      /* < 0: cannot be read or parsed */
        char *error;                /* the parser's message */
} StoreFile;

typedef struct StoreLoad {
        const char *dir;
        StoreFile *files;
        guint n_files;
        gint next;                  /* next file to parse (atomic) */
} StoreLoad;

/* Reading and parsing touch nothing shared (libxml2 keeps its state per
 * parser context), so they may run in any thread. */
static void store_file_parse(const char *dir, StoreFile *f) {
        _cleanup_free_ char *path = g_build_filename(dir, f->name, NULL), *text = NULL;
        ConfError err = {};
        size_t size;

        f->r = read_full_file(path, DOMAIN_XML_MAX_SIZE, &text, &size);
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
                store_file_parse(l->dir, &l->files[i]);
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
static int store_add_one(Manager *m, GHashTable *autostart, const char *dir, StoreFile *f) {
        _cleanup_free_ char *path = g_build_filename(dir, f->name, NULL), *msg = NULL;
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

/* The names in the autostart directory (one listing instead of a stat per domain). */
static GHashTable *store_read_autostart(Manager *m) {
        GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        DIR *dir = opendir(m->autostart_dir);
        struct dirent *de;

        if (!dir) {
                log_warning_errno(errno, "Failed to open %s, no domain autostarts: %m", m->autostart_dir);
                return set;
        }
        while ((de = readdir(dir)))
                if (de->d_name[0] != '.')
                        g_hash_table_add(set, g_strdup(de->d_name));
        closedir(dir);
        return set;
}

/* The NAME.xml files of the config dir, in directory order; removes what a
 * crash in the middle of a write left behind. */
static GArray *store_list_files(DIR *dir) {
        GArray *files = g_array_new(FALSE, TRUE, sizeof(StoreFile));
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
                f.name = g_strdup(de->d_name);
                g_array_append_val(files, f);
        }
        return files;
}

int vm_domain_store_load(Manager *m) {
        g_autoptr(GHashTable) autostart = NULL;
        GArray *files;
        StoreLoad l = { .dir = m->domain_config_dir };
        unsigned n = 0;
        DIR *dir;
        int r;

        r = mkdir_p(m->autostart_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", m->autostart_dir);
        dir = opendir(m->domain_config_dir);
        if (!dir)
                return log_error_errno(errno, "Failed to open %s: %m", m->domain_config_dir);
        files = store_list_files(dir);
        closedir(dir);
        autostart = store_read_autostart(m);

        l.files = (StoreFile *) (void *) files->data;
        l.n_files = files->len;
        store_parse_all(&l);
        /* added in directory order, as before: which of two files naming one domain wins stays the same */
        for (guint i = 0; i < l.n_files; i++) {
                StoreFile *f = &l.files[i];

                if (store_add_one(m, autostart, m->domain_config_dir, f) >= 0)
                        n++;
                domain_def_free(f->def);
                g_free(f->name);
                g_free(f->error);
        }
        g_array_free(files, TRUE);
        log_info("Loaded %u domain definitions from %s.", n, m->domain_config_dir);
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
        _cleanup_free_ char *file = NULL, *path = NULL;
        GString *text;
        int r;

        vm_domain_store_flush(m);
        text = store_format(def, generation);
        if (!text)
                return -ENOMEM;
        file = store_file_name(def);
        path = g_build_filename(m->domain_config_dir, file, NULL);
        r = write_file_atomic(path, text->str, text->len, 0600);
        g_string_free(text, TRUE);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        if (ret_file)
                *ret_file = TAKE_PTR(file);
        return 0;
}

/* ---- batched writes ---- */

#define STORE_BATCH_MAX 256u

typedef struct StoreWrite {
        char *file, *path, *tmp_path;
        char *name;
        char uuid[37];
        int fd;
        int r;
        VmStoreCommitFn fn;
        void *userdata;
} StoreWrite;

static void store_write_free(StoreWrite *w) {
        if (w->fd >= 0)
                close(w->fd);
        g_free(w->file);
        g_free(w->path);
        g_free(w->tmp_path);
        g_free(w->name);
        g_free(w);
}

void vm_domain_store_flush(Manager *m) {
        GPtrArray *batch = m->store_pending;
        bool renamed = false;

        if (!batch || batch->len == 0)
                return;
        m->store_pending = NULL;
        if (m->store_flush_source)
                (void) sd_event_source_set_enabled(m->store_flush_source, SD_EVENT_OFF);

        /* One file: fsync it. Many: one syncfs() commits them all at once,
         * instead of a journal commit per file. */
        if (batch->len == 1) {
                StoreWrite *w = batch->pdata[0];
                if (fsync(w->fd) < 0)
                        w->r = -errno;
        } else if (syncfs(((StoreWrite *) batch->pdata[0])->fd) < 0) {
                int r = -errno;
                for (guint i = 0; i < batch->len; i++)
                        ((StoreWrite *) batch->pdata[i])->r = r;
        }
        for (guint i = 0; i < batch->len; i++) {
                StoreWrite *w = batch->pdata[i];
                if (w->r >= 0 && rename(w->tmp_path, w->path) < 0)
                        w->r = -errno;
                if (w->r < 0) {
                        log_error_errno(w->r, "Failed to write %s: %m", w->path);
                        (void) unlink(w->tmp_path);
                } else
                        renamed = true;
        }
        if (renamed) {
                int r = fsync_parent_dir(((StoreWrite *) batch->pdata[0])->path);
                if (r < 0)
                        log_warning_errno(r, "Failed to sync %s: %m", m->domain_config_dir);
        }
        for (guint i = 0; i < batch->len; i++) {
                StoreWrite *w = batch->pdata[i];
                w->fn(w->userdata, w->r, w->r >= 0 ? TAKE_PTR(w->file) : NULL);
                store_write_free(w);
        }
        g_ptr_array_free(batch, TRUE);
}

static int on_store_flush(sd_event_source *s, void *userdata) {
        vm_domain_store_flush(userdata);
        return 0;
}

bool vm_domain_store_pending(Manager *m, const char *name, const char *uuid) {
        for (guint i = 0; m->store_pending && i < m->store_pending->len; i++) {
                StoreWrite *w = m->store_pending->pdata[i];
                if (streq(w->name, name) || (uuid && streq(w->uuid, uuid)))
                        return true;
        }
        return false;
}

int vm_domain_store_write_batched(Manager *m, const DomainDef *def, uint64_t generation, VmStoreCommitFn fn,
                                  void *userdata) {
        StoreWrite *w;
        GString *text;
        int r;

        /* Low priority: it runs when the bus has nothing more ready, so the
         * calls that arrived together are committed together. */
        if (!m->store_flush_source) {
                r = sd_event_add_defer(m->event, &m->store_flush_source, on_store_flush, m);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_priority(m->store_flush_source, SD_EVENT_PRIORITY_IDLE);
        }
        text = store_format(def, generation);
        if (!text)
                return -ENOMEM;
        w = g_new0(StoreWrite, 1);
        w->fd = -1;
        w->fn = fn;
        w->userdata = userdata;
        w->name = g_strdup(def->name);
        conf_uuid_format(def->uuid, w->uuid);
        w->file = store_file_name(def);
        w->path = g_build_filename(m->domain_config_dir, w->file, NULL);
        w->tmp_path = g_strconcat(w->path, ".tmp.XXXXXX", NULL);
        w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
        r = w->fd < 0 ? -errno : 0;
        if (r >= 0 && fchmod(w->fd, 0600) < 0)
                r = -errno;
        if (r >= 0)
                r = write_full(w->fd, text->str, text->len);
        g_string_free(text, TRUE);
        if (r < 0) {
                log_error_errno(r, "Failed to write %s: %m", w->path);
                if (w->fd >= 0)
                        (void) unlink(w->tmp_path);
                store_write_free(w);
                return r;
        }
        if (!m->store_pending)
                m->store_pending = g_ptr_array_new();
        g_ptr_array_add(m->store_pending, w);
        if (m->store_pending->len >= STORE_BATCH_MAX)
                vm_domain_store_flush(m);
        else
                (void) sd_event_source_set_enabled(m->store_flush_source, SD_EVENT_ON);
        return 0;
}

int vm_domain_store_set_autostart(Manager *m, const char *config_file, bool autostart) {
        _cleanup_free_ char *link = NULL, *target = NULL;
        int r;

        vm_domain_store_flush(m);
        link = g_build_filename(m->autostart_dir, config_file, NULL);
        if (!autostart) {
                r = unlink_noent(link);
                if (r < 0)
                        return log_error_errno(r, "Failed to remove %s: %m", link);
        } else {
                target = g_build_filename("..", config_file, NULL);
                (void) unlink_noent(link);
                if (symlink(target, link) < 0)
                        return log_error_errno(errno, "Failed to create %s: %m", link);
        }
        return fsync_parent_dir(link);
}

int vm_domain_store_remove(Manager *m, const char *config_file) {
        _cleanup_free_ char *path = NULL;
        int r;

        vm_domain_store_flush(m);
        r = vm_domain_store_set_autostart(m, config_file, false);
        if (r < 0)
                return r;
        path = g_build_filename(m->domain_config_dir, config_file, NULL);
        r = unlink_noent(path);
        if (r < 0)
                return log_error_errno(r, "Failed to remove %s: %m", path);
        return fsync_parent_dir(path);
}
