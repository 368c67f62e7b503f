/* test-qmp-json.c — unit tests of the drivers' JSON reading and writing (json-util.h on jansson):
 * strictness, the int64/uint64 boundary, what QMP and qemu-img need. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json-util.h"

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

        if (json_util_parse(s, strlen(s), &v, NULL) < 0)
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
        out = json_util_format(v, NULL);
        if (!out || strcmp(out, expected) != 0) {
                fprintf(stderr, "roundtrip of %s: expected %s, got %s\n", in, expected, out ? out : "(null)");
                failures++;
        }
        free(out);
}

static void refused(const char *in) {
        JsonValue *v = NULL;
        int r = json_util_parse(in, strlen(in), &v, NULL);

        if (r != -EINVAL) {
                fprintf(stderr, "invalid document accepted (r=%d): %s\n", r, in);
                failures++;
        }
        json_decref(v);
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
        roundtrip("1e3", "1000.0");   /* a real stays a real */
        roundtrip("-2.5E-3", "-0.0025000000000000001");
        roundtrip("\"\"", "\"\"");
        roundtrip("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\"");
        roundtrip("\"\\u0041\\u00e9\\u20ac\"", "\"A\xc3\xa9\xe2\x82\xac\"");
        roundtrip("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
        roundtrip("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
        roundtrip("\"\\u0001\\u001f\"", "\"\\u0001\\u001F\"");
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

        /* Many keys: duplicates are found beyond the first few too. */
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "{");
        for (int i = 0; i < 40; i++)
                n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":%d", i ? "," : "", i, i);
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "}");
        {
                _cleanup_json_ JsonValue *v = parse(buf);
                int64_t x = -1;
                check(v && json_object_size(v) == 40);
                check(json_util_integer(json_object_get(v, "k39"), &x) == 0 && x == 39);
        }
        buf[n - 1] = 0;
        strcat(buf, ",\"k17\":0}");
        refused(buf);
        /* U+0000 is fine in a string, not in a key (jansson's rule; QMP never sends one). */
        {
                _cleanup_json_ JsonValue *v = parse("[\"a\\u0000b\",\"a\\u0000c\"]");
                check(v && json_array_size(v) == 2 && json_string_length(json_array_get(v, 0)) == 3);
        }
        refused("{\"a\\u0000b\":1,\"a\\u0000c\":2}");
}

/* Nesting QMP never comes near parses; absurd nesting is refused, not a crash. */
static void test_depth(void) {
        const size_t fine = 128, absurd = 100000;
        char *deep = malloc(2 * absurd + 1);
        JsonValue *v = NULL;

        check(deep);
        if (!deep)
                return;
        memset(deep, '[', fine);
        memset(deep + fine, ']', fine);
        check(json_util_parse(deep, 2 * fine, &v, NULL) == 0);
        json_decref(v);
        v = NULL;
        memset(deep, '[', absurd);
        memset(deep + absurd, ']', absurd);
        check(json_util_parse(deep, 2 * absurd, &v, NULL) == -EINVAL);
        check(!v);
        free(deep);
}

static void test_access(void) {
        _cleanup_json_ JsonValue *v = parse("{\"s\":\"x\",\"i\":-3,\"r\":2.5,\"b\":false,\"a\":[1,\"two\"],"
                                            "\"max\":9223372036854775807,\"nul\":\"a\\u0000b\"}");
        int64_t i = 0;
        bool b = true;

        check(v);
        check(strcmp(json_util_member_string(v, "s"), "x") == 0);
        check(json_util_integer(json_object_get(v, "i"), &i) == 0 && i == -3);
        check(json_util_integer(json_object_get(v, "r"), &i) == -EINVAL);
        check(json_real_value(json_object_get(v, "r")) == 2.5);
        check(json_util_integer(json_object_get(v, "max"), &i) == 0 && i == INT64_MAX);
        check(json_util_boolean(json_object_get(v, "b"), &b) == 0 && !b);
        check(json_util_boolean(json_object_get(v, "i"), &b) == -EINVAL);
        check(json_array_size(json_object_get(v, "a")) == 2);
        check(strcmp(json_string_value(json_array_get(json_object_get(v, "a"), 1)), "two") == 0);
        check(!json_array_get(json_object_get(v, "a"), 2));
        check(!json_object_get(v, "missing"));
        check(!json_util_member_string(v, "i"));
        check(json_string_length(json_object_get(v, "nul")) == 3);
        check(strcmp(json_util_member_string(v, "nul"), "a") == 0);
        check(!json_object_get(NULL, "x") && !json_string_value(NULL) && json_array_size(NULL) == 0);
        check(!json_util_member_string(NULL, "x") && json_util_integer(NULL, &i) == -EINVAL &&
              json_util_boolean(NULL, &b) == -EINVAL);
}

/* QMP has uint64 values: an integer beyond int64 reads as a real, and the
 * document's other integers (the reply's id) stay integers. */
static void test_beyond_int64(void) {
        _cleanup_json_ JsonValue *v = parse("{\"return\":{\"big\":18446744073709551615,\"neg\":-9223372036854775809,"
                                            "\"small\":[7,-7,0],\"half\":0.5,\"e\":1e300,"
                                            "\"past53\":9007199254740993},\"id\":42}");
        int64_t i = 0;

        check(v);
        check(json_util_integer(json_object_get(v, "id"), &i) == 0 && i == 42);
        {
                const JsonValue *ret = json_object_get(v, "return"), *small = json_object_get(ret, "small");

                check(json_util_integer(json_object_get(ret, "big"), &i) == -EINVAL);   /* does not fit int64 */
                check(json_real_value(json_object_get(ret, "big")) > 1.8e19);
                check(json_real_value(json_object_get(ret, "neg")) < -9.2e18);
                check(json_util_integer(json_array_get(small, 0), &i) == 0 && i == 7);
                check(json_util_integer(json_array_get(small, 1), &i) == 0 && i == -7);
                check(json_util_integer(json_array_get(small, 2), &i) == 0 && i == 0);
                check(json_real_value(json_object_get(ret, "half")) == 0.5);
                check(json_real_value(json_object_get(ret, "e")) == 1e300);
                /* not held exactly by a double: not turned into a wrong integer */
                check(json_util_integer(json_object_get(ret, "past53"), &i) == -EINVAL);
        }
        /* a bare one too, and a real that overflows is still refused */
        {
                _cleanup_json_ JsonValue *big = parse("18446744073709551616");
                check(big && json_is_real(big) && json_real_value(big) > 1.8e19);
        }
        refused("[18446744073709551616, 1e999]");
}

static void test_build(void) {
        _cleanup_json_ JsonValue *o = json_object();
        JsonValue *a = json_array();
        char *s;

        check(json_object_set_new(o, "execute", json_string("human-monitor-command")) == 0);
        check(json_array_append_new(a, json_integer(1)) == 0);
        check(json_array_append_new(a, json_string("quote\" back\\ nl\n ctl\x01 \xc3\xa9")) == 0);
        check(json_array_append_new(a, json_true()) == 0);
        check(json_array_append_new(a, json_null()) == 0);
        check(json_array_append_new(a, json_real(0.5)) == 0);
        check(json_array_append_new(a, json_stringn("n\0l", 3)) == 0);
        check(json_object_set_new(o, "arguments", a) == 0);
        check(json_object_set_new(o, "id", json_integer(3)) == 0);
        check(json_object_set_new(o, "id", json_integer(4)) == 0);   /* replaces, in place */
        check(json_array_append_new(o, json_null()) < 0);           /* not an array; item dropped */
        check(!json_real(1.0 / 0.0));
        check(!json_string("\xc3"));                                 /* not UTF-8: never sent */
        check(json_object_set_new(o, "x", NULL) < 0);
        s = json_util_format(o, NULL);
        check(s && strcmp(s, "{\"execute\":\"human-monitor-command\",\"arguments\":[1,\"quote\\\" back\\\\ nl\\n ctl\\u0001 "
                             "\xc3\xa9\",true,null,0.5,\"n\\u0000l\"],\"id\":4}") == 0);
        /* What we write, we read back identically. */
        {
                _cleanup_json_ JsonValue *back = parse(s);
                char *s2 = back ? json_util_format(back, NULL) : NULL;
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
        test_beyond_int64();
        test_build();
        fprintf(stderr, "%s (%u failures)\n", failures ? "FAIL" : "OK", failures);
        return failures ? 1 : 0;
}
