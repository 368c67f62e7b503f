/* snapshot-store.c — snapshot metadata on disk: one XML file per snapshot, written atomically, loaded at start-up. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "object-kind.h"
#include "snapshot.h"

#define CURRENT_FILE "current"   /* no .xml: never a snapshot's file */

char *vm_snapshot_store_dir(const VmDomain *d, const char *name) {
        _cleanup_free_ char *base = vm_object_kind_config_dir(&vm_domain_kind, d->manager, d->drv->ops->name);

        return base ? g_strdup_printf("%s/snapshot/%s", base, name ?: d->name) : NULL;
}

static char *snapshot_file(const VmSnapshot *s) {
        _cleanup_free_ char *dir = vm_snapshot_store_dir(s->domain, NULL);

        return dir ? g_strdup_printf("%s/%s.xml", dir, s->def->name) : NULL;
}

int vm_snapshot_store_write(const VmSnapshot *s) {
        _cleanup_free_ char *dir = vm_snapshot_store_dir(s->domain, NULL), *file = snapshot_file(s), *xml = NULL;
        int r;

        if (!dir || !file)
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        xml = snapshot_def_format(s->def);
        if (!xml)
                return -ENOMEM;
        return write_file_atomic(file, xml, strlen(xml), 0600);
}

/* An external memory snapshot's file that vmgmt made (not one a redefinition names): NAME.memory (no .xml:
 * never a snapshot's file) holds its path, so that a deletion removes only that. */
static char *memory_mark_file(const VmSnapshot *s) {
        _cleanup_free_ char *dir = vm_snapshot_store_dir(s->domain, NULL);

        return dir ? g_strdup_printf("%s/%s.memory", dir, s->def->name) : NULL;
}

int vm_snapshot_store_mark_memory_made(const VmSnapshot *s) {
        _cleanup_free_ char *dir = vm_snapshot_store_dir(s->domain, NULL), *file = memory_mark_file(s);
        int r;

        if (!dir || !file || !s->def->memory_file)
                return -EINVAL;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        return write_file_atomic(file, s->def->memory_file, strlen(s->def->memory_file), 0600);
}

bool vm_snapshot_store_memory_made(const VmSnapshot *s) {
        _cleanup_free_ char *file = memory_mark_file(s), *path = NULL;

        return file && s->def->memory_file && read_full_file(file, 4096, &path, NULL) >= 0 &&
               streq(path, s->def->memory_file);
}

/* The overlays vmgmt made for reverts of d (REVERT_OVERLAYS_FILE, a path a line): a revert removes the one it
 * leaves when no snapshot names it (libvirt's); nothing else (an image the user put there) is removed. */
#define REVERT_OVERLAYS_FILE "revert-overlays"

static char **revert_overlays_read(const VmDomain *d, char **ret_file) {
        _cleanup_free_ char *dir = vm_snapshot_store_dir(d, NULL), *text = NULL;

        *ret_file = dir ? g_strdup_printf("%s/" REVERT_OVERLAYS_FILE, dir) : NULL;
        if (!*ret_file || read_full_file(*ret_file, 1 << 20, &text, NULL) < 0)
                return g_new0(char *, 1);
        return g_strsplit(text, "\n", -1);
}

int vm_snapshot_store_revert_overlay(const VmDomain *d, const char *path, bool add) {
        _cleanup_free_ char *file = NULL, *dir = vm_snapshot_store_dir(d, NULL);
        g_auto(GStrv) lines = revert_overlays_read(d, &file);
        g_autoptr(GString) out = g_string_new(NULL);
        int r;

        if (!file || !dir || !path || strchr(path, '\n'))
                return -EINVAL;
        for (size_t i = 0; lines[i]; i++)
                if (*lines[i] && !streq(lines[i], path))
                        g_string_append_printf(out, "%s\n", lines[i]);
        if (add)
                g_string_append_printf(out, "%s\n", path);
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        return write_file_atomic(file, out->str, out->len, 0600);
}

bool vm_snapshot_store_is_revert_overlay(const VmDomain *d, const char *path) {
        _cleanup_free_ char *file = NULL;
        g_auto(GStrv) lines = revert_overlays_read(d, &file);

        for (size_t i = 0; path && lines[i]; i++)
                if (streq(lines[i], path))
                        return true;
        return false;
}

int vm_snapshot_store_remove(const VmSnapshot *s) {
        _cleanup_free_ char *file = snapshot_file(s), *mark = memory_mark_file(s);
        int r;

        if (!file || !mark)
                return -ENOMEM;
        (void) unlink_noent(mark);
        r = unlink_noent(file);
        if (r >= 0)
                (void) fsync_parent_dir(file);
        return r;
}

int vm_snapshot_store_write_current(const VmDomain *d) {
        _cleanup_free_ char *dir = vm_snapshot_store_dir(d, NULL), *file = NULL;
        const VmSnapshot *cur = d->current_snapshot;
        int r;

        if (!dir)
                return -ENOMEM;
        file = g_strdup_printf("%s/" CURRENT_FILE, dir);
        if (!cur)
                return unlink_noent(file);
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        return write_file_atomic(file, cur->def->name, strlen(cur->def->name), 0600);
}

static void load_one(VmDomain *d, const char *dir, const char *entry) {
        _cleanup_free_ char *file = g_strdup_printf("%s/%s", dir, entry), *xml = NULL;
        SnapshotDef *def = NULL;
        ConfError err = {};
        VmSnapshot *s;
        size_t len;
        int r;

        r = read_full_file(file, SNAPSHOT_XML_MAX_SIZE, &xml, &len);
        if (r < 0) {
                log_warning_errno(r, "Cannot read snapshot metadata %s, skipped: %m", file);
                return;
        }
        r = snapshot_def_parse(xml, len, &def, &err);
        if (r < 0 || !def->name || strlen(entry) != strlen(def->name) + 4 || strncmp(entry, def->name, strlen(def->name))) {
                log_warning("Snapshot metadata %s is broken, skipped: %s", file,
                            err.message ?: "its name is not the file's");
                conf_error_clear(&err);
                snapshot_def_free(def);
                return;
        }
        if (vm_snapshot_find(d, def->name)) {
                snapshot_def_free(def);
                return;
        }
        s = vm_snapshot_new(d, def);
        if (!s)
                return;
        s->on_bus = true;
        g_ptr_array_add(d->snapshots, s);
}

void vm_snapshot_store_load(VmDomain *d) {
        _cleanup_free_ char *dir = vm_snapshot_store_dir(d, NULL), *cur = NULL, *cur_file = NULL;
        DIR *dp;
        struct dirent *e;

        if (!dir)
                return;
        dp = opendir(dir);
        if (!dp)
                return;
        while ((e = readdir(dp)))
                if (e->d_name[0] != '.' && g_str_has_suffix(e->d_name, ".xml"))
                        load_one(d, dir, e->d_name);
        closedir(dp);
        cur_file = g_strdup_printf("%s/" CURRENT_FILE, dir);
        if (read_full_file(cur_file, 4096, &cur, NULL) >= 0)
                d->current_snapshot = vm_snapshot_find(d, g_strstrip(cur));
        if (d->snapshots->len > 0)
                log_info("Domain '%s': %u snapshots loaded.", d->name, d->snapshots->len);
}

void vm_snapshot_store_load_all(Manager *m) {
        for (size_t i = 0; i < m->n_drivers; i++) {
                _cleanup_free_ char *base = vm_object_kind_config_dir(&vm_domain_kind, m, m->drivers[i].ops->name);
                _cleanup_free_ char *root = base ? g_strdup_printf("%s/snapshot", base) : NULL;
                DIR *dp = root ? opendir(root) : NULL;
                struct dirent *e;

                if (!dp)
                        continue;
                while ((e = readdir(dp))) {
                        VmDomain *d = e->d_name[0] != '.' ? vm_domain_find_by_name(m, e->d_name) : NULL;

                        if (d && d->drv == &m->drivers[i] && d->snapshots->len == 0)
                                vm_snapshot_store_load(d);
                }
                closedir(dp);
        }
}

int vm_snapshot_store_rename(const VmDomain *d, const char *new_name) {
        _cleanup_free_ char *from = vm_snapshot_store_dir(d, NULL), *to = vm_snapshot_store_dir(d, new_name);

        if (!from || !to)
                return -ENOMEM;
        if (access(from, F_OK) < 0)
                return 0;
        if (rename(from, to) < 0)
                return -errno;
        (void) fsync_parent_dir(to);
        return 0;
}

void vm_snapshot_store_remove_all(const VmDomain *d) {
        _cleanup_free_ char *dir = vm_snapshot_store_dir(d, NULL);
        DIR *dp;
        struct dirent *e;

        if (!dir || !(dp = opendir(dir)))
                return;
        while ((e = readdir(dp)))
                if (!streq(e->d_name, ".") && !streq(e->d_name, ".."))
                        (void) unlinkat(dirfd(dp), e->d_name, 0);
        closedir(dp);
        if (rmdir(dir) >= 0)
                (void) fsync_parent_dir(dir);
}
