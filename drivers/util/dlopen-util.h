/* dlopen-util.h — optional libraries loaded at their first use, not at exec.
 *
 * vmgmtd links what every host needs; a library only some pools use (librbd
 * with librados and Ceph's C++ runtime, libiscsi) is opened by its soname the
 * first time such a pool is used, and its functions are reached through
 * pointers. An idle vmgmtd then neither maps nor relocates them (Ceph's
 * libraries alone were 15 MB of its RSS and most of its exec time), and a
 * host without them gets a clear error naming the package instead of a
 * vmgmtd that does not start. */
#pragma once

#include <stdbool.h>

typedef struct DlSymbol {
        const char *name;
        void **ptr;                /* set to the symbol's address */
} DlSymbol;

typedef struct DlLibrary {
        const char *soname;        /* e.g. "librbd.so.1" */
        const char *package;       /* the Debian package that has it, for the error */
        const DlSymbol *symbols;   /* ends with { NULL } */
        /* state, zero-initialized */
        int state;                 /* 0 not tried, 1 loaded, negative errno: failed (kept) */
        char *error;
} DlLibrary;

#define DL_SYMBOL(fn) { #fn, (void **) &sym_##fn }
/* declares the pointer through which fn is called: sym_fn */
#define DL_POINTER(fn) static __typeof__(&fn) sym_##fn

/* Opens each library of libs (a NULL-terminated array) once, in any thread
 * (the first caller loads, later ones see its result), and resolves every
 * symbol. 0, or -EOPNOTSUPP with *error (g_malloc'd) naming the library and
 * its package; a failure is remembered, as the library will not appear. */
int dl_library_open(DlLibrary *const *libs, char **error);

/* vmgmtd's own module name (e.g. "vmgmt-osinfo.so"): from the directory of
 * the running executable when it is there (a build tree: tests run the
 * binaries where meson built them), else from VMGMT_MODULE_DIR, where it is
 * installed. Returns the address of its symbol, or NULL with *error
 * (g_malloc'd). The module stays loaded. May block on the disk: not on the loop. */
void *dl_module_open(const char *name, const char *symbol, char **error);
