/* dlopen-util.c — optional libraries opened at their first use (dlopen-util.h). */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <glib.h>

#include "config.h"
#include "dlopen-util.h"

static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;

static int dl_library_load(DlLibrary *lib) {
        void *h;

        /* RTLD_NODELETE: the pointers stay valid for the process's life, as the library is never closed */
        h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!h) {
                lib->error = g_strdup_printf("%s cannot be loaded (apt-get install %s): %s", lib->soname,
                                             lib->package, dlerror());
                return -EOPNOTSUPP;
        }
        for (const DlSymbol *s = lib->symbols; s->name; s++) {
                *s->ptr = dlsym(h, s->name);
                if (!*s->ptr) {
                        lib->error = g_strdup_printf("%s has no %s (a version vmgmt was not built for)",
                                                     lib->soname, s->name);
                        for (const DlSymbol *t = lib->symbols; t != s; t++)
                                *t->ptr = NULL;
                        return -EOPNOTSUPP;
                }
        }
        return 1;
}

int dl_library_open(DlLibrary *const *libs, char **error) {
        int r = 0;

        pthread_mutex_lock(&dl_lock);
        for (DlLibrary *const *l = libs; *l && r >= 0; l++) {
                if ((*l)->state == 0)
                        (*l)->state = dl_library_load(*l);
                if ((*l)->state < 0) {
                        r = (*l)->state;
                        if (error)
                                *error = g_strdup((*l)->error);
                }
        }
        pthread_mutex_unlock(&dl_lock);
        return r < 0 ? r : 0;
}

void *dl_module_open(const char *name, const char *symbol, char **error) {
        g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
        g_autofree char *exe_dir = exe ? g_path_get_dirname(exe) : NULL;
        g_autofree char *beside = exe_dir ? g_build_filename(exe_dir, name, NULL) : NULL;
        g_autofree char *installed = g_build_filename(VMGMT_MODULE_DIR, name, NULL);
        const char *path = beside && access(beside, F_OK) == 0 ? beside : installed;
        void *h, *sym;

        h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!h) {
                *error = g_strdup_printf("cannot load %s: %s", path, dlerror());
                return NULL;
        }
        sym = dlsym(h, symbol);
        if (!sym)
                *error = g_strdup_printf("%s has no %s", path, symbol);
        return sym;
}
