/* test-qmp-json.c — unit tests of the strict JSON parser and serializer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qemu/qmp-json.h"

static unsigned failures;

#define check(cond)                                                                             \
        do {                                                                                    \
                if (!(cond)) {                                                                  \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
                        failures++;                                                             \
                }                                                                               \
        } while (0)

static JsonValue *parse(const char *s) {
        JsonValue *v = NULL;

        if (json_parse(s, strlen(s), &v, NULL) < 0)
                return NULL;
        return v;
}

/* Parses, formats, and compares with the expected compact form. */
static void roundtrip(const char *in, const char *expected) {
        _cleanup_json_ JsonValue *v = parse(in);
        char *out;

        if (!v) {
                fprintf(stderr, "valid document refused: %s\n", in);
                failures++;
                return;
        }
        out = json_format(v, NULL);
        if (!out || strcmp(out, expected) != 0) {
                fprintf(stderr, "roundtrip of %s: expected %s, got %s\n", in, expected, out ? out : "(null)");
                failures++;
        }
        free(out);
}

static void refused(const char *in) {
        JsonValue *v = NULL;
        int r = json_parse(in, strlen(in), &v, NULL);

        if (r != -EINVAL) {
                fprintf(stderr, "invalid document accepted (r=%d): %s\n", r, in);
                failures++;
        }
        json_value_free(v);
}

static void test_valid(void) {
        roundtrip("null", "null");
        roundtrip(" true ", "true");
        roundtrip("false", "false");
        roundtrip("0", "0");
        roundtrip("-0", "0");
        roundtrip("-12345678901234", "-12345678901234");
        roundtrip("9223372036854775807", "9223372036854775807");
        roundtrip("1.5", "1.5");
        roundtrip("1e3", "1000");
        roundtrip("-2.5E-3", "-0.0025000000000000001");
        roundtrip("\"\"", "\"\"");
        roundtrip("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\"");
        roundtrip("\"\\u0041\\u00e9\\u20ac\"", "\"A\xc3\xa9\xe2\x82\xac\"");
        roundtrip("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
        roundtrip("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
        roundtrip("\"\\u0001\\u001f\"", "\"\\u0001\\u001f\"");
        roundtrip("[]", "[]");
        roundtrip("{}", "{}");
        roundtrip("[1, [2, [3, {}]], {\"a\": null}]", "[1,[2,[3,{}]],{\"a\":null}]");
        roundtrip("\r\n\t {\"return\" : {\"status\": \"running\", \"running\": true}, \"id\": 7}\r\n",
                  "{\"return\":{\"status\":\"running\",\"running\":true},\"id\":7}");
}

static void test_invalid(void) {
        static const char *const bad[] = {
                "", " ", "nul", "nulll", "True", "01", "-", "+1", "1.", ".5", "1e", "1e+", "0x10", "NaN",
                "Infinity", "-Infinity", "1e999", "\"", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"",
                "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\nb\"", "\"\t\"", "\"\x01\"",
                "\"\xc3\"", "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
                "\"\xff\"", "[", "]", "[1,]", "[,1]", "[1 2]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
                "{a:1}", "{'a':1}", "{\"a\":1 \"b\":2}", "{\"a\":1,\"a\":2}", "1 2", "{} {}", "[] x",
                "/* c */ 1", "// c\n1", "[1]]", "{\"a\":1}}",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                refused(bad[i]);
}

static void test_duplicates_large_object(void) {
        char buf[4096];
        size_t n = 0;

        /* More than 8 keys takes the sorted path. */
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "{");
        for (int i = 0; i < 40; i++)
                n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":%d", i ? "," : "", i, i);
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "}");
        {
                _cleanup_json_ JsonValue *v = parse(buf);
                int64_t x = -1;
                check(v && v->object.n == 40);
                check(json_integer(json_object_get(v, "k39"), &x) == 0 && x == 39);
        }
        buf[n - 1] = 0;
        strcat(buf, ",\"k17\":0}");
        refused(buf);
        /* Keys differing only after an embedded NUL are different keys. */
        {
                _cleanup_json_ JsonValue *v = parse("{\"a\\u0000b\":1,\"a\\u0000c\":2}");
                check(v && v->object.n == 2);
        }
        refused("{\"a\\u0000b\":1,\"a\\u0000b\":2}");
}

static void test_depth(void) {
        char deep[2 * (JSON_MAX_DEPTH + 1) + 1];
        JsonValue *v = NULL;

        memset(deep, '[', JSON_MAX_DEPTH);
        memset(deep + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
        deep[2 * JSON_MAX_DEPTH] = 0;
        check(json_parse(deep, strlen(deep), &v, NULL) == 0);
        json_value_free(v);
        v = NULL;
        memset(deep, '[', JSON_MAX_DEPTH + 1);
        memset(deep + JSON_MAX_DEPTH + 1, ']', JSON_MAX_DEPTH + 1);
        deep[2 * (JSON_MAX_DEPTH + 1)] = 0;
        check(json_parse(deep, strlen(deep), &v, NULL) == -EINVAL);
        check(!v);
}

static void test_access(void) {
        _cleanup_json_ JsonValue *v = parse("{\"s\":\"x\",\"i\":-3,\"r\":2.5,\"b\":false,\"a\":[1,\"two\"],"
                                            "\"big\":18446744073709551616,\"nul\":\"a\\u0000b\"}");
        int64_t i = 0;
        bool b = true;

        check(v);
        check(strcmp(json_object_get_string(v, "s"), "x") == 0);
        check(json_integer(json_object_get(v, "i"), &i) == 0 && i == -3);
        check(json_integer(json_object_get(v, "r"), &i) == -EINVAL);
        check(json_object_get(v, "r")->number.real == 2.5);
        check(json_integer(json_object_get(v, "big"), &i) == -EINVAL);   /* does not fit int64 */
        check(json_object_get(v, "big")->number.real > 1.8e19);
        check(json_boolean(json_object_get(v, "b"), &b) == 0 && !b);
        check(json_array_length(json_object_get(v, "a")) == 2);
        check(strcmp(json_string(json_array_get(json_object_get(v, "a"), 1)), "two") == 0);
        check(!json_array_get(json_object_get(v, "a"), 2));
        check(!json_object_get(v, "missing"));
        check(!json_object_get_string(v, "i"));
        check(json_object_get(v, "nul")->string.len == 3);
        check(!json_object_get(NULL, "x") && !json_string(NULL) && json_array_length(NULL) == 0);
}

static void test_build(void) {
        _cleanup_json_ JsonValue *o = json_new_object();
        JsonValue *a = json_new_array();
        char *s;

        check(json_object_set(o, "execute", json_new_string("human-monitor-command")) == 0);
        check(json_array_append(a, json_new_integer(1)) == 0);
        check(json_array_append(a, json_new_string("quote\" back\\ nl\n ctl\x01 \xc3\xa9")) == 0);
        check(json_array_append(a, json_new_boolean(true)) == 0);
        check(json_array_append(a, json_new_null()) == 0);
        check(json_array_append(a, json_new_real(0.5)) == 0);
        check(json_object_set(o, "arguments", a) == 0);
        check(json_object_set(o, "id", json_new_integer(3)) == 0);
        check(json_object_set(o, "id", json_new_integer(4)) == 0);   /* replaces */
        check(json_array_append(o, json_new_null()) == -EINVAL);     /* not an array; item freed */
        check(!json_new_real(1.0 / 0.0));
        s = json_format(o, NULL);
        check(s && strcmp(s, "{\"execute\":\"human-monitor-command\",\"arguments\":[1,\"quote\\\" back\\\\ nl\\n ctl\\u0001 "
                             "\xc3\xa9\",true,null,0.5],\"id\":4}") == 0);
        /* What we write, we read back identically. */
        {
                _cleanup_json_ JsonValue *back = parse(s);
                char *s2 = back ? json_format(back, NULL) : NULL;
                check(s2 && strcmp(s, s2) == 0);
                free(s2);
        }
        free(s);
}

int main(void) {
        test_valid();
        test_invalid();
        test_duplicates_large_object();
        test_depth();
        test_access();
        test_build();
        fprintf(stderr, "%s (%u failures)\n", failures ? "FAIL" : "OK", failures);
        return failures ? 1 : 0;
}
