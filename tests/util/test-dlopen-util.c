/* test-dlopen-util.c — dl_library_open(): a library opened at first use resolves its symbols and is
 * then callable; a missing one (or one lacking a symbol) fails with -EOPNOTSUPP, names the library and
 * the package to install, leaves no pointer set, and keeps failing the same way. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "../qemu/test-helpers.h"
#include "dlopen-util.h"

static pid_t (*sym_getpid)(void);
static size_t (*sym_strlen)(const char *);
static void *sym_nothing;

int main(void) {
        const DlSymbol libc_symbols[] = { { "getpid", (void **) &sym_getpid }, { "strlen", (void **) &sym_strlen }, {} };
        DlLibrary libc_lib = { "libc.so.6", "libc6", libc_symbols };
        DlLibrary *const good[] = { &libc_lib, NULL };
        const DlSymbol missing_symbols[] = { { "getpid", (void **) &sym_getpid }, {} };
        DlLibrary missing_lib = { "libvmgmt-no-such-library.so.9", "libvmgmt-nothing9", missing_symbols };
        DlLibrary *const missing[] = { &libc_lib, &missing_lib, NULL };
        const DlSymbol bad_symbols[] = { { "strlen", (void **) &sym_strlen },
                                         { "vmgmt_no_such_function", &sym_nothing }, {} };
        DlLibrary bad_lib = { "libc.so.6", "libc6", bad_symbols };
        DlLibrary *const bad[] = { &bad_lib, NULL };
        char *error = NULL;

        CHECK(dl_library_open(good, &error) == 0);
        CHECK(error == NULL);
        CHECK(sym_getpid && sym_getpid() == getpid());
        CHECK(sym_strlen && sym_strlen("four") == 4);
        /* a second open is the first one's result */
        CHECK(dl_library_open(good, NULL) == 0);

        CHECK(dl_library_open(missing, &error) == -EOPNOTSUPP);
        CHECK(error && strstr(error, "libvmgmt-no-such-library.so.9") && strstr(error, "apt-get install libvmgmt-nothing9"));
        g_free(error);
        error = NULL;
        CHECK(dl_library_open(missing, &error) == -EOPNOTSUPP);
        CHECK(error && strstr(error, "libvmgmt-no-such-library.so.9"));
        g_free(error);
        error = NULL;

        sym_strlen = NULL;
        CHECK(dl_library_open(bad, &error) == -EOPNOTSUPP);
        CHECK(error && strstr(error, "vmgmt_no_such_function"));
        CHECK(sym_strlen == NULL && sym_nothing == NULL);
        g_free(error);
        /* the libraries keep their failure for later callers: these are on the stack */
        g_free(missing_lib.error);
        g_free(bad_lib.error);
        return TEST_EXIT();
}
