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
        _cleanup_free_ char *path = NULL, *text = NULL;
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

int vm_domain_store_write(Manager *m, const DomainDef *def, uint64_t generation, char **ret_file) {
        _cleanup_free_ char *xml = NULL, *file = NULL, *path = NULL;
        GString *text;
        int r;

        xml = domain_def_format(def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
        if (!xml)
                return -ENOMEM;
        file = store_file_name(def);
        path = g_build_filename(m->qemu_config_dir, file, NULL);
        text = g_string_sized_new(strlen(xml) + 64);
        g_string_append_printf(text, GENERATION_HEADER "%" PRIu64 " -->\n", generation);
        g_string_append(text, xml);
        r = write_file_atomic(path, text->str, text->len, 0600);
        g_string_free(text, TRUE);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        if (ret_file)
                *ret_file = TAKE_PTR(file);
        return 0;
}

int vm_domain_store_set_autostart(Manager *m, const char *config_file, bool autostart) {
        _cleanup_free_ char *link = NULL, *target = NULL;
        int r;

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

        r = vm_domain_store_set_autostart(m, config_file, false);
        if (r < 0)
                return r;
        path = g_build_filename(m->qemu_config_dir, config_file, NULL);
        r = unlink_noent(path);
        if (r < 0)
                return log_error_errno(r, "Failed to remove %s: %m", path);
        return fsync_parent_dir(path);
}
