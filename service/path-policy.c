/* path-policy.c — the pure rules of path-policy.h: containment by components, kernel and device paths, the allow-list. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>

#include "path-policy.h"

/* The next component of *p (slashes skipped): its start, length in *len; NULL at the end. */
static const char *next_component(const char **p, size_t *len) {
        const char *s = *p;

        while (*s == '/')
                s++;
        if (!*s)
                return NULL;
        *len = strcspn(s, "/");
        *p = s + *len;
        return s;
}

static bool component_is_dot(const char *c, size_t len) {
        return (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.');
}

/* The rest of path after dir's components, or NULL when path is not under dir. */
static const char *path_after(const char *path, const char *dir) {
        const char *p = path, *d = dir, *pc, *dc;
        size_t pl, dl;

        if (!path || !dir || path[0] != '/' || dir[0] != '/')
                return NULL;
        for (const char *q = path; (pc = next_component(&q, &pl));)
                if (component_is_dot(pc, pl))
                        return NULL;
        for (const char *q = dir; (dc = next_component(&q, &dl));)
                if (component_is_dot(dc, dl))
                        return NULL;
        while ((dc = next_component(&d, &dl))) {
                pc = next_component(&p, &pl);
                if (!pc || pl != dl || memcmp(pc, dc, dl) != 0)
                        return NULL;
        }
        while (*p == '/')
                p++;
        return p;
}

bool vm_path_is_under(const char *path, const char *dir) {
        return path_after(path, dir) != NULL;
}

char *vm_path_relative(const char *path, const char *dir) {
        const char *rest = path_after(path, dir);
        GString *s;
        const char *c;
        size_t len;

        if (!rest)
                return NULL;
        /* one slash between components, none at the end */
        s = g_string_new(NULL);
        while ((c = next_component(&rest, &len))) {
                if (s->len > 0)
                        g_string_append_c(s, '/');
                g_string_append_len(s, c, (gssize) len);
        }
        return g_string_free(s, FALSE);
}

VmPathClass vm_path_classify(const char *resolved, mode_t mode) {
        static const char *const kernel_dirs[] = { "/proc", "/sys", "/dev" };

        if (!resolved || resolved[0] != '/')
                return VM_PATH_UNKNOWN;
        for (size_t i = 0; i < G_N_ELEMENTS(kernel_dirs); i++)
                if (vm_path_is_under(resolved, kernel_dirs[i]))
                        return VM_PATH_KERNEL;
        if (S_ISBLK(mode) || S_ISCHR(mode))
                return VM_PATH_DEVICE;
        return VM_PATH_ORDINARY;
}

static bool path_equal(const char *a, const char *b) {
        const char *rest = path_after(a, b);

        return rest && *rest == 0;
}

bool vm_path_allow_listed(const char *resolved, char *const *allow_list) {
        for (char *const *p = allow_list; p && *p; p++)
                if (path_equal(resolved, *p))
                        return true;
        return false;
}

char *vm_path_describe(const char *path, const char *resolved) {
        if (!resolved || !path || path_equal(resolved, path))
                return g_strdup_printf("'%s'", path ?: resolved ?: "?");
        return g_strdup_printf("'%s' (resolved to '%s')", path, resolved);
}

int vm_path_precheck(const char *path, const char *resolved, const struct stat *st, char *const *allow_list,
                     char **ret_message) {
        g_autofree char *what = vm_path_describe(path, resolved);
        VmPathClass class = vm_path_classify(resolved, st->st_mode);

        if (class != VM_PATH_UNKNOWN && vm_path_allow_listed(resolved, allow_list))
                return 0;
        switch (class) {
        case VM_PATH_KERNEL:
                *ret_message = g_strdup_printf("Access denied: %s is under /proc, /sys or /dev, which a domain may "
                                               "not use unless [daemon] confinement_allowed_paths= names it",
                                               what);
                return -EACCES;
        case VM_PATH_DEVICE:
                *ret_message = g_strdup_printf("Access denied: %s is a %s device, which a domain may not use "
                                               "unless [daemon] confinement_allowed_paths= names it",
                                               what, S_ISBLK(st->st_mode) ? "block" : "character");
                return -EACCES;
        case VM_PATH_UNKNOWN:
                *ret_message = g_strdup_printf("Access denied: cannot tell where %s lies", what);
                return -EACCES;
        case VM_PATH_ORDINARY:
                break;
        }
        if (st->st_nlink == 0) {
                /* unlinked after it was opened: its place says nothing any more */
                *ret_message = g_strdup_printf("Access denied: %s was removed while it was being opened", what);
                return -EACCES;
        }
        return 1;
}

bool vm_path_policy_applies(uid_t uid) {
        return uid != 0 && uid != geteuid();
}
