/* test-helpers.h — tiny assertion macros shared by the qemu unit tests. */
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures;

#define CHECK(cond)                                                                     \
        do {                                                                            \
                if (!(cond)) {                                                          \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
                        test_failures++;                                                \
                }                                                                       \
        } while (0)

#define CHECK_STREQ(a, b)                                                               \
        do {                                                                            \
                const char *_a = (a), *_b = (b);                                        \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                \
                        fprintf(stderr, "%s:%d: \"%s\" != \"%s\" (%s vs %s)\n", __FILE__, __LINE__, \
                                _a ? _a : "(null)", _b ? _b : "(null)", #a, #b);        \
                        test_failures++;                                                \
                }                                                                       \
        } while (0)

#define TEST_EXIT() (test_failures ? (fprintf(stderr, "%d check(s) failed\n", test_failures), EXIT_FAILURE) : EXIT_SUCCESS)

/* How many fds this process has open (a test's leak check: the same before and after). */
static inline unsigned count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        for (struct dirent *e; d && (e = readdir(d));)
                if (e->d_name[0] != '.')
                        n++;
        if (d)
                closedir(d);
        return n;
}
