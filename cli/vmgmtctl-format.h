/* vmgmtctl-format.h — pure text formatting of vmgmtctl: virsh's words, tables, timestamps. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The virsh word for a State property value ("shutoff" → "shut off").
 * Unknown values are returned as they are; NULL or "" gives "unknown".
 * The returned string is static or is `state` itself. */
const char *format_state(const char *state);

/* The virsh words for a StateReason property value ("from-snapshot" →
 * "from snapshot", "io-error" → "I/O error"). Returns a newly allocated
 * string (caller frees) or NULL on OOM. */
char *format_state_reason(const char *reason);

/* The virsh word for a DomainEvent event ("started" → "Started"). Unknown
 * events are returned as they are. */
const char *format_event(const char *event);

/* The virsh words for a DomainEvent detail of `event` ("shutdown"/"guest" →
 * "Finished after guest request", "stopped"/"destroyed" → "Destroyed").
 * Returns a newly allocated string (caller frees) or NULL on OOM. */
char *format_event_detail(const char *event, const char *detail);

/* Formats µs since the epoch as virsh's event timestamps do, in UTC:
 * "2026-11-22 02:30:01.123+0000". Returns 0, or -EINVAL if size is too small. */
#define FORMAT_TIMESTAMP_MAX 40
int format_timestamp(uint64_t usec, char *buf, size_t size);

/* Number of terminal columns a UTF-8 string takes (code points; a
 * multi-byte sequence counts as one column). */
size_t format_text_width(const char *s);

/* True if s is a non-empty string of decimal digits that fits in uint32_t
 * (and is not 0); stores the value in *ret. */
bool format_parse_id(const char *s, uint32_t *ret);

/* -q/--quiet, virsh's: tables without their header rows and no "Domain 'x'
 * started" messages; what was asked for (a name, an XML, a value) still prints. */
extern bool ctl_quiet;

/* Prints what a changing command did ("Domain 'x' started") on stdout, unless
 * --quiet; the newline is added. */
void ctl_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A table printed like virsh's: a header row, a dashed line, then rows;
 * each cell preceded by one space and padded to its column's width plus
 * two spaces (the last column is not padded). */
typedef struct Table Table;

/* Creates a table with the given header cells (n_columns of them). Returns NULL on OOM. */
Table *table_new(size_t n_columns, const char *const *header);
Table *table_free(Table *t);
/* Appends a row of n_columns cells (copied). Returns 0 or -ENOMEM. */
int table_add_row(Table *t, const char *const *cells);
/* Writes the table to f. With header false, only the rows are written. */
void table_print(const Table *t, FILE *f, bool header);

static inline void table_freep(Table **t) {
        if (*t)
                table_free(*t);
}
