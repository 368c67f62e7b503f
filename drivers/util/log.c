/* log.c — leveled logging to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"

static LogLevel max_level = LOG_LEVEL_INFO;

void log_set_max_level(LogLevel level) {
        max_level = level;
}

LogLevel log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };
        char *end;
        long v;

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(s, names[i]))
                        return (int) i;
        if (streq(s, "error"))
                return LOG_LEVEL_ERR;
        if (streq(s, "warn"))
                return LOG_LEVEL_WARNING;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || end == s || v < 0 || v > 7)
                return -EINVAL;
        return (int) v;
}

int log_internal(LogLevel level, int error, const char *file, int line, const char *fmt, ...) {
        int saved = errno;
        va_list ap;

        if (error < 0)
                error = -error;
        if (level <= max_level) {
                char buf[2048];
                /* %m in fmt refers to `error`, not to whatever errno happens to be. */
                errno = error;
                va_start(ap, fmt);
                vsnprintf(buf, sizeof(buf), fmt, ap);
                va_end(ap);
                if (max_level >= LOG_LEVEL_DEBUG)
                        fprintf(stderr, "<%d>%s (%s:%d)\n", level, buf, file, line);
                else
                        fprintf(stderr, "<%d>%s\n", level, buf);
        }
        errno = saved;
        return -error;
}

int strv_contains(const char *const *l, const char *s) {
        for (; l && *l; l++)
                if (s && streq(*l, s))
                        return 1;
        return 0;
}
