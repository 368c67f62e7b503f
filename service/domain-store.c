/* domain-store.c — persistent definitions, each in its driver's directory CONFIG/DRIVER (the domain kind's persistence): load, durable write, remove, autostart links. */
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

/* ---- batched writes ---- */

#define STORE_BATCH_MAX 256u

typedef struct StoreWrite {
        char *path, *tmp_path;
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
                /* each driver's directory once */
                g_autoptr(GHashTable) synced = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

                for (guint i = 0; i < batch->len; i++) {
                        StoreWrite *w = batch->pdata[i];
                        char *dir = g_path_get_dirname(w->path);
                        int r;

                        if (w->r < 0 || g_hash_table_contains(synced, dir)) {
                                g_free(dir);
                                continue;
                        }
                        g_hash_table_add(synced, dir);
                        r = fsync_parent_dir(w->path);
                        if (r < 0)
                                log_warning_errno(r, "Failed to sync %s: %m", dir);
                }
        }
        for (guint i = 0; i < batch->len; i++) {
                StoreWrite *w = batch->pdata[i];
                w->fn(w->userdata, w->r, w->r >= 0 ? TAKE_PTR(w->path) : NULL);
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
        w = g_new0(StoreWrite, 1);
        w->fd = -1;
        r = store_file_path(m, def, &w->path);
        if (r < 0) {
                store_write_free(w);
                return r;
        }
        text = store_format(def, generation);
        if (!text) {
                store_write_free(w);
                return -ENOMEM;
        }
        w->fn = fn;
        w->userdata = userdata;
        w->name = g_strdup(def->name);
        conf_uuid_format(def->uuid, w->uuid);
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
