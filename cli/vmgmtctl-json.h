/* vmgmtctl-json.h — a streaming JSON writer for vmgmtctl's --json output. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum JsonFormat {
        JSON_FORMAT_OFF,
        JSON_FORMAT_SHORT,      /* one line */
        JSON_FORMAT_PRETTY,     /* indented, one member per line */
} JsonFormat;

/* Parses "short", "pretty" or "off". Returns the format or -EINVAL. */
int json_format_from_string(const char *s);

#define JSON_DEPTH_MAX 16

/* Writes one JSON value (objects and arrays nested up to JSON_DEPTH_MAX) to
 * a FILE. Keys and values are written in call order; the writer inserts the
 * commas, the indentation (pretty) and the final newline. */
typedef struct JsonWriter {
        FILE *f;
        bool pretty;
        unsigned depth;
        bool has_members[JSON_DEPTH_MAX + 1];
        bool after_key;
} JsonWriter;

/* Prepares a writer on f; format must not be JSON_FORMAT_OFF. */
void json_writer_init(JsonWriter *w, FILE *f, JsonFormat format);

void json_begin_object(JsonWriter *w);
void json_end_object(JsonWriter *w);
void json_begin_array(JsonWriter *w);
void json_end_array(JsonWriter *w);
/* Writes the key of the next object member. */
void json_key(JsonWriter *w, const char *key);
/* Writes a string (NULL writes null), escaping quotes, backslashes and control characters. */
void json_string(JsonWriter *w, const char *s);
void json_unsigned(JsonWriter *w, uint64_t v);
void json_bool(JsonWriter *w, bool v);
void json_null(JsonWriter *w);

/* Shorthands for an object member. */
void json_member_string(JsonWriter *w, const char *key, const char *s);
void json_member_unsigned(JsonWriter *w, const char *key, uint64_t v);
void json_member_bool(JsonWriter *w, const char *key, bool v);
