/* domain-store.c — persistent definitions under CONFIG/qemu: load, durable write, remove, autostart links. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

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

static int store_load_one(Manager *m, int autostart_dfd, const char *file) {
        _cleanup_free_ char *path = NULL, *text = NULL, *msg = NULL;
        DomainDef *def = NULL;
        ConfError err = {};
        VmDomain *d, *other;
        struct stat st;
        size_t size;
        int r;

        path = g_build_filename(m->qemu_config_dir, file, NULL);
        r = read_full_file(path, DOMAIN_XML_MAX_SIZE, &text, &size);
        if (r < 0)
                return log_warning_errno(r, "Failed to read %s, ignoring: %m", path);
        r = domain_def_parse(text, size, &def, &err);
        if (r < 0) {
                log_warning("Failed to parse %s, ignoring: %s", path, strna(err.message));
                conf_error_clear(&err);
                return r;
        }
        /* start-up, before the bus name is taken: nobody waits, so an emulator
         * not probed yet is probed here (once; the answer is cached on disk) */
        r = m->ops->prepare(m->driver, def, NULL, NULL, &msg);
        if (r < 0) {
                log_warning("Definition %s cannot be used, ignoring: %s", path, strna(msg));
                domain_def_free(def);
                return r;
        }
        r = m->ops->normalize(m->driver, def, &err);
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
        d->config_file = g_strdup(file);
        d->generation = store_parse_generation(text);
        d->autostart = autostart_dfd >= 0 && fstatat(autostart_dfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0;
        return 0;
}

int vm_domain_store_load(Manager *m) {
        _cleanup_close_ int autostart_dfd = -1;
        DIR *dir;
        struct dirent *de;
        unsigned n = 0;
        int r;

        r = mkdir_p(m->autostart_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", m->autostart_dir);
        dir = opendir(m->qemu_config_dir);
        if (!dir)
                return log_error_errno(errno, "Failed to open %s: %m", m->qemu_config_dir);
        autostart_dfd = open(m->autostart_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        while ((de = readdir(dir))) {
                if (de->d_name[0] == '.' && (!de->d_name[1] || streq(de->d_name, "..")))
                        continue;
                if (strstr(de->d_name, ".xml.tmp.")) {
                        /* left over by a crash in the middle of a write */
                        (void) unlinkat(dirfd(dir), de->d_name, 0);
                        continue;
                }
                if (!g_str_has_suffix(de->d_name, ".xml"))
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
                        continue;
                if (store_load_one(m, autostart_dfd, de->d_name) >= 0)
                        n++;
        }
        closedir(dir);
        log_info("Loaded %u domain definitions from %s.", n, m->qemu_config_dir);
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
        path = g_build_filename(m->qemu_config_dir, file, NULL);
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

static int write_all(int fd, const char *p, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
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
                        log_warning_errno(r, "Failed to sync %s: %m", m->qemu_config_dir);
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
        w->path = g_build_filename(m->qemu_config_dir, w->file, NULL);
        w->tmp_path = g_strconcat(w->path, ".tmp.XXXXXX", NULL);
        w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
        r = w->fd < 0 ? -errno : 0;
        if (r >= 0 && fchmod(w->fd, 0600) < 0)
                r = -errno;
        if (r >= 0)
                r = write_all(w->fd, text->str, text->len);
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
        path = g_build_filename(m->qemu_config_dir, config_file, NULL);
        r = unlink_noent(path);
        if (r < 0)
                return log_error_errno(r, "Failed to remove %s: %m", path);
        return fsync_parent_dir(path);
}
