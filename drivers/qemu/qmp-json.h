/* qmp-json.h — a small, strict JSON (RFC 8259) parser and builder for the QMP client.
 *
 * Strict means: exactly one value per document (surrounding whitespace only),
 * no trailing commas, no comments, no NaN/Infinity, no leading zeros or '+',
 * escapes limited to the eight JSON ones and \uXXXX with proper surrogate
 * pairs, strings must be valid UTF-8 (no overlongs, no surrogates), raw control
 * characters in strings are refused, nesting is limited to JSON_MAX_DEPTH and
 * duplicate object keys are refused. Strings may contain U+0000 (their length
 * is kept); the C-string accessors see them truncated at the first NUL. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 128

typedef enum JsonType {
        JSON_NULL,
        JSON_BOOLEAN,
        JSON_NUMBER,
        JSON_STRING,
        JSON_ARRAY,
        JSON_OBJECT,
} JsonType;

typedef struct JsonValue JsonValue;

struct JsonValue {
        JsonType type;
        union {
                bool boolean;
                struct {
                        double real;
                        int64_t integer;
                        bool is_integer;    /* written without fraction/exponent and fits int64 */
                } number;
                struct {
                        char *str;          /* NUL-terminated */
                        size_t len;
                } string;
                struct {
                        JsonValue **items;
                        size_t n;
                } array;
                struct {
                        char **keys;        /* NUL-terminated */
                        size_t *key_lens;   /* keys may hold U+0000 */
                        JsonValue **values;
                        size_t n;
                } object;
        };
};

/* ---- parsing ---- */

/* Parses exactly one JSON document from text[0..len). Returns 0 and *ret (free
 * with json_value_free), -EINVAL for any syntax error (with *ret_offset, if
 * non-NULL, set to the byte offset of the error), -ENOMEM. */
int json_parse(const char *text, size_t len, JsonValue **ret, size_t *ret_offset);

JsonValue *json_value_free(JsonValue *v);   /* NULL-safe, returns NULL */

static inline void json_value_freep(JsonValue **v) {
        if (*v)
                json_value_free(*v);
}
#define _cleanup_json_ __attribute__((cleanup(json_value_freep)))

/* ---- access (all NULL-safe: a NULL or mistyped value yields NULL/false/default) ---- */

/* Member of an object by key, or NULL. */
JsonValue *json_object_get(const JsonValue *obj, const char *key);
/* The string of a JSON_STRING, or NULL. */
const char *json_string(const JsonValue *v);
/* Shorthand: json_string(json_object_get(obj, key)). */
const char *json_object_get_string(const JsonValue *obj, const char *key);
/* 0 and *ret for an integer number, -EINVAL otherwise. */
int json_integer(const JsonValue *v, int64_t *ret);
/* 0 and *ret for a boolean, -EINVAL otherwise. */
int json_boolean(const JsonValue *v, bool *ret);
size_t json_array_length(const JsonValue *v);
JsonValue *json_array_get(const JsonValue *v, size_t i);

/* ---- building (return NULL on OOM; container functions take ownership of
 * the value passed in, also when they fail) ---- */

JsonValue *json_new_null(void);
JsonValue *json_new_boolean(bool b);
JsonValue *json_new_integer(int64_t i);
JsonValue *json_new_real(double d);
JsonValue *json_new_string(const char *s);
JsonValue *json_new_string_len(const char *s, size_t len);
JsonValue *json_new_array(void);
JsonValue *json_new_object(void);
/* Appends item (taken). Returns 0, -EINVAL (not an array / item NULL), -ENOMEM. */
int json_array_append(JsonValue *array, JsonValue *item);
/* Sets key to value (taken), replacing an existing member. Returns 0, -EINVAL, -ENOMEM. */
int json_object_set(JsonValue *obj, const char *key, JsonValue *value);

/* Compact serialization (no whitespace, non-ASCII kept as UTF-8, control
 * characters and '"' '\\' escaped). Returns a malloc'd NUL-terminated string
 * (length in *ret_len when non-NULL), or NULL on OOM. */
char *json_format(const JsonValue *v, size_t *ret_len);
