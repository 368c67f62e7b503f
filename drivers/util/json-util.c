/* json-util.c — strict JSON reading and compact writing on jansson (see json-util.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"

#define PARSE_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* After a read with JSON_DECODE_INT_AS_REAL: the numbers with an integral
 * value below 2^53 in magnitude (held exactly by a double, and no larger
 * integer rounds to one) become integers again. Returns v or its replacement
 * (v is then dropped), NULL on OOM. Depth is bounded by jansson's parser. */
static JsonValue *integers_again(JsonValue *v) {
        if (json_is_real(v)) {
                double x = json_real_value(v);
                JsonValue *i;

                if (x != trunc(x) || !(x > -9007199254740992.0 && x < 9007199254740992.0))
                        return v;
                i = json_integer((json_int_t) x);
                json_decref(v);
                return i;
        }
        if (json_is_array(v))
                for (size_t k = 0; k < json_array_size(v); k++) {
                        JsonValue *item = json_incref(json_array_get(v, k)), *n = integers_again(item);
                        if (!n || (n != item && json_array_set_new(v, k, n) < 0))
                                goto oom;
                        if (n == item)
                                json_decref(item);
                }
        if (json_is_object(v))
                for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
                        JsonValue *item = json_incref(json_object_iter_value(it)), *n = integers_again(item);
                        if (!n || (n != item && json_object_iter_set_new(v, it, n) < 0))
                                goto oom;
                        if (n == item)
                                json_decref(item);
                }
        return v;
oom:
        json_decref(v);
        return NULL;
}

static int parse_error(const json_error_t *e, size_t *ret_offset) {
        if (json_error_code(e) == json_error_out_of_memory)
                return -ENOMEM;
        if (ret_offset)
                *ret_offset = (size_t) (e->position > 0 ? e->position : 0);
        return -EINVAL;
}

int json_util_parse(const char *text, size_t len, JsonValue **ret, size_t *ret_offset) {
        json_error_t e;
        JsonValue *v;

        *ret = NULL;
        v = json_loadb(text, len, PARSE_FLAGS, &e);
        if (!v && json_error_code(&e) == json_error_numeric_overflow &&
            strstr(e.text, "integer")) {   /* "too big integer", not "real number overflow" (1e999) */
                v = json_loadb(text, len, PARSE_FLAGS | JSON_DECODE_INT_AS_REAL, &e);
                if (v) {
                        v = integers_again(v);
                        if (!v)
                                return -ENOMEM;
                }
        }
        if (!v)
                return parse_error(&e, ret_offset);
        *ret = v;
        return 0;
}

char *json_util_format(const JsonValue *v, size_t *ret_len) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

        if (s && ret_len)
                *ret_len = strlen(s);
        return s;
}

const char *json_util_member_string(const JsonValue *obj, const char *key) {
        return json_string_value(json_object_get(obj, key));
}

int json_util_integer(const JsonValue *v, int64_t *ret) {
        if (!json_is_integer(v))
                return -EINVAL;
        *ret = (int64_t) json_integer_value(v);
        return 0;
}

int json_util_boolean(const JsonValue *v, bool *ret) {
        if (!json_is_boolean(v))
                return -EINVAL;
        *ret = json_is_true(v);
        return 0;
}
