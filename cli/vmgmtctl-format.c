/* vmgmtctl-format.c — pure text formatting of vmgmtctl: virsh's words, tables, timestamps. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "vmgmtctl-format.h"

typedef struct WordMap {
        const char *from;
        const char *to;
} WordMap;

static const char *word_map_lookup(const WordMap *map, size_t n, const char *word) {
        for (size_t i = 0; i < n; i++)
                if (streq(map[i].from, word))
                        return map[i].to;
        return NULL;
}

/* Copies s with every '-' turned into ' ' and, if capitalize, an upper-case first letter. */
static char *dashes_to_words(const char *s, bool capitalize) {
        char *r = strdup(s);

        if (!r)
                return NULL;
        for (char *p = r; *p; p++)
                if (*p == '-')
                        *p = ' ';
        if (capitalize && r[0] >= 'a' && r[0] <= 'z')
                r[0] = (char) (r[0] - 'a' + 'A');
        return r;
}

const char *format_state(const char *state) {
        static const WordMap map[] = {
                { "running", "running" },
                { "idle", "idle" },
                { "paused", "paused" },
                { "shutdown", "in shutdown" },
                { "shutoff", "shut off" },
                { "crashed", "crashed" },
                { "pmsuspended", "pmsuspended" },
        };
        const char *r;

        if (isempty(state))
                return "unknown";
        r = word_map_lookup(map, ELEMENTSOF(map), state);
        return r ?: state;
}

char *format_state_reason(const char *reason) {
        /* Reasons whose virsh words are not simply the dashes turned into spaces. */
        static const WordMap map[] = {
                { "io-error", "I/O error" },
                { "post-copy", "post-copy" },
                { "post-copy-failed", "post-copy failed" },
        };
        const char *r;

        if (isempty(reason))
                return strdup("unknown");
        r = word_map_lookup(map, ELEMENTSOF(map), reason);
        if (r)
                return strdup(r);
        return dashes_to_words(reason, false);
}

const char *format_event(const char *event) {
        static const WordMap map[] = {
                { "defined", "Defined" },
                { "undefined", "Undefined" },
                { "started", "Started" },
                { "suspended", "Suspended" },
                { "resumed", "Resumed" },
                { "stopped", "Stopped" },
                { "shutdown", "Shutdown" },
                { "pmsuspended", "PMSuspended" },
                { "crashed", "Crashed" },
        };
        const char *r;

        if (isempty(event))
                return "unknown";
        r = word_map_lookup(map, ELEMENTSOF(map), event);
        return r ?: event;
}

char *format_event_detail(const char *event, const char *detail) {
        /* "event/detail" pairs, then details that read the same for every event. */
        static const WordMap pairs[] = {
                { "shutdown/guest", "Finished after guest request" },
                { "shutdown/host", "Finished after host request" },
                { "started/wakeup", "Event wakeup" },
                { "suspended/post-copy-failed", "Post-copy Error" },
                { "resumed/post-copy-failed", "Post-copy Error" },
        };
        static const WordMap details[] = {
                { "from-snapshot", "Snapshot" },
                { "io-error", "I/O Error" },
                { "api-error", "API error" },
                { "post-copy", "Post-copy" },
        };
        char key[128];
        const char *r;

        if (isempty(detail))
                return strdup("unknown");
        if (event && (size_t) snprintf(key, sizeof(key), "%s/%s", event, detail) < sizeof(key)) {
                r = word_map_lookup(pairs, ELEMENTSOF(pairs), key);
                if (r)
                        return strdup(r);
        }
        r = word_map_lookup(details, ELEMENTSOF(details), detail);
        if (r)
                return strdup(r);
        return dashes_to_words(detail, true);
}

int format_timestamp(uint64_t usec, char *buf, size_t size) {
        time_t sec = (time_t) (usec / 1000000);
        struct tm tm;
        char part[32];
        int n;

        if (!gmtime_r(&sec, &tm))
                return -EINVAL;
        if (strftime(part, sizeof(part), "%Y-%m-%d %H:%M:%S", &tm) == 0)
                return -EINVAL;
        n = snprintf(buf, size, "%s.%03u+0000", part, (unsigned) ((usec / 1000) % 1000));
        if (n < 0 || (size_t) n >= size)
                return -EINVAL;
        return 0;
}

size_t format_text_width(const char *s) {
        size_t w = 0;

        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if ((*p & 0xC0) != 0x80)
                        w++;
        return w;
}

bool format_parse_id(const char *s, uint32_t *ret) {
        unsigned long long v = 0;

        if (isempty(s) || strlen(s) > 10)
                return false;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return false;
                v = v * 10 + (unsigned) (*p - '0');
        }
        if (v == 0 || v > UINT32_MAX)
                return false;
        if (ret)
                *ret = (uint32_t) v;
        return true;
}

struct Table {
        size_t n_columns;
        size_t n_cells;         /* header included */
        char **cells;
};

Table *table_new(size_t n_columns, const char *const *header) {
        Table *t;

        if (n_columns == 0)
                return NULL;
        t = calloc(1, sizeof(Table));
        if (!t)
                return NULL;
        t->n_columns = n_columns;
        if (table_add_row(t, header) < 0)
                return table_free(t);
        return t;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}

int table_add_row(Table *t, const char *const *cells) {
        char **n;

        n = realloc(t->cells, (t->n_cells + t->n_columns) * sizeof(char *));
        if (!n)
                return -ENOMEM;
        t->cells = n;
        for (size_t i = 0; i < t->n_columns; i++) {
                n[t->n_cells + i] = strdup(strempty(cells[i]));
                if (!n[t->n_cells + i]) {
                        for (size_t j = 0; j < i; j++)
                                free(n[t->n_cells + j]);
                        return -ENOMEM;
                }
        }
        t->n_cells += t->n_columns;
        return 0;
}

static void table_print_row(const Table *t, size_t row, const size_t *widths, FILE *f) {
        for (size_t i = 0; i < t->n_columns; i++) {
                const char *cell = t->cells[row * t->n_columns + i];

                fprintf(f, " %s", cell);
                if (i + 1 < t->n_columns)
                        for (size_t j = format_text_width(cell); j < widths[i] + 2; j++)
                                fputc(' ', f);
        }
        fputc('\n', f);
}

bool ctl_quiet;

void ctl_info(const char *fmt, ...) {
        va_list ap;

        if (ctl_quiet)
                return;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

void table_print(const Table *t, FILE *f, bool header) {
        size_t n_rows = t->n_cells / t->n_columns;
        _cleanup_free_ size_t *widths = calloc(t->n_columns, sizeof(size_t));

        if (!widths)
                return;
        for (size_t r = header ? 0 : 1; r < n_rows; r++)
                for (size_t i = 0; i < t->n_columns; i++) {
                        size_t w = format_text_width(t->cells[r * t->n_columns + i]);
                        if (w > widths[i])
                                widths[i] = w;
                }
        /* --quiet drops the header, not its widths: the rows stay where virsh puts them */
        if (header && !ctl_quiet) {
                table_print_row(t, 0, widths, f);
                for (size_t i = 0; i < t->n_columns; i++)
                        for (size_t j = 0; j < widths[i] + 3; j++)
                                fputc('-', f);
                fputc('\n', f);
        }
        for (size_t r = 1; r < n_rows; r++)
                table_print_row(t, r, widths, f);
}
