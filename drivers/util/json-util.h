/* json-util.h — JSON for every driver (QMP, `qemu-img --output=json`): jansson, read strictly.
 *
 * Values are jansson's json_t (JsonValue is the project's name for it): build
 * them with jansson (json_object(), json_string(), json_object_set_new(), …;
 * the *_new functions take the value passed in, also when they fail), read
 * them with jansson's accessors (json_object_get(), json_array_get(),
 * json_array_size(), json_string_value(), …, all NULL-safe) or the few
 * shorthands below, and drop them with json_decref() or _cleanup_json_.
 *
 * json_util_parse() is strict: exactly one value per document (surrounding
 * whitespace only), no trailing commas, no comments, no NaN/Infinity, no
 * leading zeros or '+', escapes limited to the eight JSON ones and \uXXXX
 * with proper surrogate pairs, strings must be valid UTF-8 (no overlongs, no
 * surrogates), raw control characters in strings are refused and duplicate
 * object keys are refused. Strings may contain U+0000 (json_string_length()
 * keeps it; json_string_value() sees the string cut at the first NUL); object
 * keys may not. Nesting is bounded by jansson (2048 levels). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef json_t JsonValue;

/* Parses exactly one JSON document from text[0..len). Returns 0 and *ret (drop
 * with json_decref), -EINVAL for any syntax error (with *ret_offset, if
 * non-NULL, set to the byte offset where it was noticed), -ENOMEM. An integer
 * too large for int64 (QMP has uint64 values) does not fail the document: it
 * is read as a real number. (jansson cannot mix the two in one document: such
 * a document is read again with every number as a double, and those with an
 * integral value below 2^53 become integers again: in that document alone
 * 1.0 reads as 1 and integers from 2^53 on read as reals.) */
int json_util_parse(const char *text, size_t len, JsonValue **ret, size_t *ret_offset);

/* Compact serialization (no whitespace, non-ASCII kept as UTF-8, control
 * characters, '"' and '\\' escaped). Returns a malloc'd NUL-terminated string
 * (length in *ret_len when non-NULL), or NULL (out of memory). */
char *json_util_format(const JsonValue *v, size_t *ret_len);

/* The string of member `key` of obj, or NULL (no such member, not a string,
 * obj NULL or not an object). */
const char *json_util_member_string(const JsonValue *obj, const char *key);
/* 0 and *ret for an integer number, -EINVAL otherwise (also for NULL). */
int json_util_integer(const JsonValue *v, int64_t *ret);
/* 0 and *ret for a boolean, -EINVAL otherwise (also for NULL). */
int json_util_boolean(const JsonValue *v, bool *ret);

static inline void json_util_decrefp(JsonValue **v) {
        json_decref(*v);
}
#define _cleanup_json_ __attribute__((cleanup(json_util_decrefp)))
