/* macro.h — cleanup attributes, ownership transfer and small helpers used everywhere. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

static inline void freep(void *p) {
        free(*(void **) p);
}
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
static inline void strv_freep(char ***l) {
        if (*l) {
                for (char **i = *l; *i; i++)
                        free(*i);
                free(*l);
        }
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Generates a function usable with _cleanup_() for a type with a free function. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                 \
        static inline void func##p(type *p) {                   \
                if (*p)                                         \
                        func(*p);                               \
        }

/* Takes ownership of a pointer out of a _cleanup_ variable. */
#define TAKE_PTR(p)                             \
        ({                                      \
                __typeof__(p) _tp = (p);        \
                (p) = NULL;                     \
                _tp;                            \
        })
#define TAKE_FD(fd)                             \
        ({                                      \
                int _tfd = (fd);                \
                (fd) = -1;                      \
                _tfd;                           \
        })

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define STR_IN_SET(x, ...) strv_contains((const char *const[]){ __VA_ARGS__, NULL }, (x))
#define streq(a, b) (strcmp((a), (b)) == 0)
#define isempty(s) (!(s) || !*(s))
#define strempty(s) ((s) ? (s) : "")
#define strna(s) ((s) ? (s) : "n/a")

/* NULL-safe string equality: two NULLs are equal. */
static inline int streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

int strv_contains(const char *const *l, const char *s);
