/* qmp-json.c — strict JSON parser and compact serializer (see qmp-json.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "macro.h"
#include "qmp-json.h"

typedef struct Parser {
        const char *p, *end, *start;
        unsigned depth;
} Parser;

typedef struct Buf {
        char *data;
        size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
        size_t need, cap;
        char *n;

        if (extra > SIZE_MAX - b->len - 1)
                return -ENOMEM;
        need = b->len + extra + 1;
        if (need <= b->cap)
                return 0;
        cap = b->cap ? b->cap : 32;
        while (cap < need)
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        n = realloc(b->data, cap);
        if (!n)
                return -ENOMEM;
        b->data = n;
        b->cap = cap;
        return 0;
}

static int buf_put(Buf *b, const char *s, size_t n) {
        int r = buf_reserve(b, n);
        if (r < 0)
                return r;
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = 0;
        return 0;
}

static int buf_putc(Buf *b, char c) {
        return buf_put(b, &c, 1);
}

/* ---- values ---- */

static JsonValue *json_new(JsonType t) {
        JsonValue *v = calloc(1, sizeof(JsonValue));
        if (v)
                v->type = t;
        return v;
}

JsonValue *json_value_free(JsonValue *v) {
        if (!v)
                return NULL;
        switch (v->type) {
        case JSON_STRING:
                free(v->string.str);
                break;
        case JSON_ARRAY:
                for (size_t i = 0; i < v->array.n; i++)
                        json_value_free(v->array.items[i]);
                free(v->array.items);
                break;
        case JSON_OBJECT:
                for (size_t i = 0; i < v->object.n; i++) {
                        free(v->object.keys[i]);
                        json_value_free(v->object.values[i]);
                }
                free(v->object.keys);
                free(v->object.key_lens);
                free(v->object.values);
                break;
        default:
                break;
        }
        free(v);
        return NULL;
}

JsonValue *json_new_null(void) {
        return json_new(JSON_NULL);
}

JsonValue *json_new_boolean(bool b) {
        JsonValue *v = json_new(JSON_BOOLEAN);
        if (v)
                v->boolean = b;
        return v;
}

JsonValue *json_new_integer(int64_t i) {
        JsonValue *v = json_new(JSON_NUMBER);
        if (v) {
                v->number.integer = i;
                v->number.real = (double) i;
                v->number.is_integer = true;
        }
        return v;
}

JsonValue *json_new_real(double d) {
        JsonValue *v;

        if (!isfinite(d))
                return NULL;
        v = json_new(JSON_NUMBER);
        if (v)
                v->number.real = d;
        return v;
}

JsonValue *json_new_string_len(const char *s, size_t len) {
        JsonValue *v = json_new(JSON_STRING);
        if (!v)
                return NULL;
        v->string.str = malloc(len + 1);
        if (!v->string.str)
                return json_value_free(v);
        memcpy(v->string.str, s, len);
        v->string.str[len] = 0;
        v->string.len = len;
        return v;
}

JsonValue *json_new_string(const char *s) {
        return s ? json_new_string_len(s, strlen(s)) : NULL;
}

JsonValue *json_new_array(void) {
        return json_new(JSON_ARRAY);
}

JsonValue *json_new_object(void) {
        return json_new(JSON_OBJECT);
}

int json_array_append(JsonValue *a, JsonValue *item) {
        JsonValue **n;

        if (!a || a->type != JSON_ARRAY || !item) {
                json_value_free(item);
                return -EINVAL;
        }
        n = reallocarray(a->array.items, a->array.n + 1, sizeof(JsonValue *));
        if (!n) {
                json_value_free(item);
                return -ENOMEM;
        }
        a->array.items = n;
        a->array.items[a->array.n++] = item;
        return 0;
}

/* Appends key (malloc'd, key_len bytes) and value to o, taking both: on
 * failure they are freed. */
static int object_add(JsonValue *o, char *key, size_t key_len, JsonValue *value) {
        char **k;
        size_t *kl;
        JsonValue **v;

        k = reallocarray(o->object.keys, o->object.n + 1, sizeof(char *));
        if (k)
                o->object.keys = k;
        kl = k ? reallocarray(o->object.key_lens, o->object.n + 1, sizeof(size_t)) : NULL;
        if (kl)
                o->object.key_lens = kl;
        v = kl ? reallocarray(o->object.values, o->object.n + 1, sizeof(JsonValue *)) : NULL;
        if (!v) {
                free(key);
                json_value_free(value);
                return -ENOMEM;
        }
        o->object.values = v;
        o->object.keys[o->object.n] = key;
        o->object.key_lens[o->object.n] = key_len;
        o->object.values[o->object.n] = value;
        o->object.n++;
        return 0;
}

int json_object_set(JsonValue *o, const char *key, JsonValue *value) {
        char *k;
        size_t len;

        if (!o || o->type != JSON_OBJECT || !key || !value) {
                json_value_free(value);
                return -EINVAL;
        }
        len = strlen(key);
        for (size_t i = 0; i < o->object.n; i++)
                if (o->object.key_lens[i] == len && memcmp(o->object.keys[i], key, len) == 0) {
                        json_value_free(o->object.values[i]);
                        o->object.values[i] = value;
                        return 0;
                }
        k = strdup(key);
        if (!k) {
                json_value_free(value);
                return -ENOMEM;
        }
        return object_add(o, k, len, value);
}

/* ---- access ---- */

JsonValue *json_object_get(const JsonValue *o, const char *key) {
        size_t len;

        if (!o || o->type != JSON_OBJECT || !key)
                return NULL;
        len = strlen(key);
        for (size_t i = 0; i < o->object.n; i++)
                if (o->object.key_lens[i] == len && memcmp(o->object.keys[i], key, len) == 0)
                        return o->object.values[i];
        return NULL;
}

const char *json_string(const JsonValue *v) {
        return v && v->type == JSON_STRING ? v->string.str : NULL;
}

const char *json_object_get_string(const JsonValue *o, const char *key) {
        return json_string(json_object_get(o, key));
}

int json_integer(const JsonValue *v, int64_t *ret) {
        if (!v || v->type != JSON_NUMBER || !v->number.is_integer)
                return -EINVAL;
        *ret = v->number.integer;
        return 0;
}

int json_boolean(const JsonValue *v, bool *ret) {
        if (!v || v->type != JSON_BOOLEAN)
                return -EINVAL;
        *ret = v->boolean;
        return 0;
}

size_t json_array_length(const JsonValue *v) {
        return v && v->type == JSON_ARRAY ? v->array.n : 0;
}

JsonValue *json_array_get(const JsonValue *v, size_t i) {
        return v && v->type == JSON_ARRAY && i < v->array.n ? v->array.items[i] : NULL;
}

/* ---- parser ---- */

static void skip_ws(Parser *p) {
        while (p->p < p->end && (*p->p == ' ' || *p->p == '\t' || *p->p == '\n' || *p->p == '\r'))
                p->p++;
}

static int parse_value(Parser *p, JsonValue **ret);

static int hex4(const char *s, unsigned *ret) {
        unsigned v = 0;

        for (int i = 0; i < 4; i++) {
                char c = s[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (unsigned) (c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (unsigned) (c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (unsigned) (c - 'A' + 10);
                else
                        return -EINVAL;
        }
        *ret = v;
        return 0;
}

static int put_utf8(Buf *b, unsigned cp) {
        char o[4];
        size_t n;

        if (cp < 0x80) {
                o[0] = (char) cp;
                n = 1;
        } else if (cp < 0x800) {
                o[0] = (char) (0xC0 | (cp >> 6));
                o[1] = (char) (0x80 | (cp & 0x3F));
                n = 2;
        } else if (cp < 0x10000) {
                o[0] = (char) (0xE0 | (cp >> 12));
                o[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
                o[2] = (char) (0x80 | (cp & 0x3F));
                n = 3;
        } else {
                o[0] = (char) (0xF0 | (cp >> 18));
                o[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
                o[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
                o[3] = (char) (0x80 | (cp & 0x3F));
                n = 4;
        }
        return buf_put(b, o, n);
}

/* Length of the valid UTF-8 sequence at s (non-ASCII lead byte), 0 if invalid. */
static size_t utf8_valid_seq(const unsigned char *s, size_t avail) {
        unsigned cp;
        size_t n;

        if (s[0] >= 0xC2 && s[0] <= 0xDF) {
                n = 2;
                cp = s[0] & 0x1F;
        } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
                n = 3;
                cp = s[0] & 0x0F;
        } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
                n = 4;
                cp = s[0] & 0x07;
        } else
                return 0;
        if (avail < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return n;
}

static int parse_string_raw(Parser *p, char **ret, size_t *ret_len) {
        Buf b = {};
        int r;

        if (p->p >= p->end || *p->p != '"')
                return -EINVAL;
        p->p++;
        r = buf_reserve(&b, 0);
        if (r < 0)
                return r;
        b.data[0] = 0;
        for (;;) {
                const char *run = p->p;
                unsigned char c;

                while (p->p < p->end && (unsigned char) *p->p >= 0x20 && *p->p != '"' && *p->p != '\\' &&
                       (unsigned char) *p->p < 0x80)
                        p->p++;
                if (p->p > run) {
                        r = buf_put(&b, run, (size_t) (p->p - run));
                        if (r < 0)
                                goto fail;
                }
                if (p->p >= p->end) {
                        r = -EINVAL;
                        goto fail;
                }
                c = (unsigned char) *p->p;
                if (c == '"') {
                        p->p++;
                        break;
                }
                if (c < 0x20) {
                        r = -EINVAL;
                        goto fail;
                }
                if (c >= 0x80) {
                        size_t n = utf8_valid_seq((const unsigned char *) p->p, (size_t) (p->end - p->p));
                        if (n == 0) {
                                r = -EINVAL;
                                goto fail;
                        }
                        r = buf_put(&b, p->p, n);
                        if (r < 0)
                                goto fail;
                        p->p += n;
                        continue;
                }
                /* backslash */
                p->p++;
                if (p->p >= p->end) {
                        r = -EINVAL;
                        goto fail;
                }
                c = (unsigned char) *p->p++;
                switch (c) {
                case '"': r = buf_putc(&b, '"'); break;
                case '\\': r = buf_putc(&b, '\\'); break;
                case '/': r = buf_putc(&b, '/'); break;
                case 'b': r = buf_putc(&b, '\b'); break;
                case 'f': r = buf_putc(&b, '\f'); break;
                case 'n': r = buf_putc(&b, '\n'); break;
                case 'r': r = buf_putc(&b, '\r'); break;
                case 't': r = buf_putc(&b, '\t'); break;
                case 'u': {
                        unsigned cp, lo;

                        if (p->end - p->p < 4 || hex4(p->p, &cp) < 0) {
                                r = -EINVAL;
                                goto fail;
                        }
                        p->p += 4;
                        if (cp >= 0xDC00 && cp <= 0xDFFF) {
                                r = -EINVAL;  /* lone low surrogate */
                                goto fail;
                        }
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                                if (p->end - p->p < 6 || p->p[0] != '\\' || p->p[1] != 'u' ||
                                    hex4(p->p + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF) {
                                        r = -EINVAL;
                                        goto fail;
                                }
                                p->p += 6;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        }
                        r = put_utf8(&b, cp);
                        break;
                }
                default:
                        r = -EINVAL;
                }
                if (r < 0)
                        goto fail;
        }
        *ret = b.data;
        *ret_len = b.len;
        return 0;
fail:
        free(b.data);
        return r;
}

static int parse_number(Parser *p, JsonValue **ret) {
        const char *s = p->p;
        bool integral = true;
        char tmp[64], *copy = tmp, *end;
        size_t len;
        JsonValue *v;

        if (p->p < p->end && *p->p == '-')
                p->p++;
        if (p->p >= p->end)
                return -EINVAL;
        if (*p->p == '0')
                p->p++;
        else if (*p->p >= '1' && *p->p <= '9')
                while (p->p < p->end && *p->p >= '0' && *p->p <= '9')
                        p->p++;
        else
                return -EINVAL;
        if (p->p < p->end && *p->p == '.') {
                integral = false;
                p->p++;
                if (p->p >= p->end || *p->p < '0' || *p->p > '9')
                        return -EINVAL;
                while (p->p < p->end && *p->p >= '0' && *p->p <= '9')
                        p->p++;
        }
        if (p->p < p->end && (*p->p == 'e' || *p->p == 'E')) {
                integral = false;
                p->p++;
                if (p->p < p->end && (*p->p == '+' || *p->p == '-'))
                        p->p++;
                if (p->p >= p->end || *p->p < '0' || *p->p > '9')
                        return -EINVAL;
                while (p->p < p->end && *p->p >= '0' && *p->p <= '9')
                        p->p++;
        }
        len = (size_t) (p->p - s);
        if (len >= sizeof(tmp)) {
                copy = strndup(s, len);
                if (!copy)
                        return -ENOMEM;
        } else {
                memcpy(tmp, s, len);
                tmp[len] = 0;
        }
        v = json_new(JSON_NUMBER);
        if (!v) {
                if (copy != tmp)
                        free(copy);
                return -ENOMEM;
        }
        if (integral) {
                errno = 0;
                long long ll = strtoll(copy, &end, 10);
                if (errno == 0 && *end == 0) {
                        v->number.is_integer = true;
                        v->number.integer = ll;
                }
        }
        v->number.real = strtod(copy, &end);
        if (copy != tmp)
                free(copy);
        if (!isfinite(v->number.real)) {
                json_value_free(v);
                return -EINVAL;   /* 1e999: not representable, refuse rather than invent inf */
        }
        *ret = v;
        return 0;
}

static int parse_literal(Parser *p, const char *word, size_t n) {
        if ((size_t) (p->end - p->p) < n || memcmp(p->p, word, n) != 0)
                return -EINVAL;
        p->p += n;
        return 0;
}

/* The members of an array or object, from its opening bracket: none, or
 * member() after member(), separated by ',', up to `close`. */
static int parse_members(Parser *p, JsonValue *c, char close, int (*member)(Parser *p, JsonValue *c)) {
        int r;

        p->p++;  /* '[' or '{' */
        skip_ws(p);
        if (p->p < p->end && *p->p == close) {
                p->p++;
                return 0;
        }
        for (;;) {
                skip_ws(p);
                r = member(p, c);
                if (r < 0)
                        return r;
                skip_ws(p);
                if (p->p >= p->end)
                        return -EINVAL;
                if (*p->p == ',') {
                        p->p++;
                        continue;
                }
                if (*p->p != close)
                        return -EINVAL;
                p->p++;
                return 0;
        }
}

static int array_item(Parser *p, JsonValue *a) {
        JsonValue *item = NULL;
        int r;

        r = parse_value(p, &item);
        if (r < 0)
                return r;
        return json_array_append(a, item);
}

static int key_cmp(const void *a, const void *b, void *userdata) {
        const JsonValue *o = userdata;
        size_t i = *(const size_t *) a, j = *(const size_t *) b;
        size_t li = o->object.key_lens[i], lj = o->object.key_lens[j];
        int c = memcmp(o->object.keys[i], o->object.keys[j], li < lj ? li : lj);

        return c != 0 ? c : (li > lj) - (li < lj);
}

static int object_check_duplicates(const JsonValue *o) {
        _cleanup_free_ size_t *idx = NULL;

        if (o->object.n < 2)
                return 0;
        if (o->object.n <= 8) {
                for (size_t i = 0; i < o->object.n; i++)
                        for (size_t j = i + 1; j < o->object.n; j++)
                                if (o->object.key_lens[i] == o->object.key_lens[j] &&
                                    memcmp(o->object.keys[i], o->object.keys[j], o->object.key_lens[i]) == 0)
                                        return -EINVAL;
                return 0;
        }
        idx = calloc(o->object.n, sizeof(size_t));
        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < o->object.n; i++)
                idx[i] = i;
        qsort_r(idx, o->object.n, sizeof(size_t), key_cmp, (void *) o);
        for (size_t i = 1; i < o->object.n; i++)
                if (key_cmp(&idx[i - 1], &idx[i], (void *) o) == 0)
                        return -EINVAL;
        return 0;
}

static int object_member(Parser *p, JsonValue *o) {
        _cleanup_free_ char *key = NULL;
        JsonValue *value = NULL;
        size_t key_len;
        int r;

        r = parse_string_raw(p, &key, &key_len);
        if (r < 0)
                return r;
        skip_ws(p);
        if (p->p >= p->end || *p->p != ':')
                return -EINVAL;
        p->p++;
        skip_ws(p);
        r = parse_value(p, &value);
        if (r < 0)
                return r;
        return object_add(o, TAKE_PTR(key), key_len, value);
}

/* An array or object, from its opening bracket; an object's keys are unique. */
static int parse_container(Parser *p, JsonValue **ret) {
        bool object = *p->p == '{';
        _cleanup_json_ JsonValue *c = json_new(object ? JSON_OBJECT : JSON_ARRAY);
        int r;

        if (!c)
                return -ENOMEM;
        r = parse_members(p, c, object ? '}' : ']', object ? object_member : array_item);
        if (r < 0)
                return r;
        if (object && (r = object_check_duplicates(c)) < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

static int parse_value(Parser *p, JsonValue **ret) {
        int r;

        if (p->p >= p->end)
                return -EINVAL;
        switch (*p->p) {
        case '{':
        case '[':
                if (p->depth >= JSON_MAX_DEPTH)
                        return -EINVAL;
                p->depth++;
                r = parse_container(p, ret);
                p->depth--;
                return r;
        case '"': {
                JsonValue *v = json_new(JSON_STRING);
                if (!v)
                        return -ENOMEM;
                r = parse_string_raw(p, &v->string.str, &v->string.len);
                if (r < 0) {
                        free(v);
                        return r;
                }
                *ret = v;
                return 0;
        }
        case 't':
                r = parse_literal(p, "true", 4);
                if (r < 0)
                        return r;
                *ret = json_new_boolean(true);
                return *ret ? 0 : -ENOMEM;
        case 'f':
                r = parse_literal(p, "false", 5);
                if (r < 0)
                        return r;
                *ret = json_new_boolean(false);
                return *ret ? 0 : -ENOMEM;
        case 'n':
                r = parse_literal(p, "null", 4);
                if (r < 0)
                        return r;
                *ret = json_new_null();
                return *ret ? 0 : -ENOMEM;
        default:
                return parse_number(p, ret);
        }
}

int json_parse(const char *text, size_t len, JsonValue **ret, size_t *ret_offset) {
        Parser p = { .p = text, .end = text + len, .start = text };
        _cleanup_json_ JsonValue *v = NULL;
        int r;

        skip_ws(&p);
        r = parse_value(&p, &v);
        if (r >= 0) {
                skip_ws(&p);
                if (p.p != p.end)
                        r = -EINVAL;
        }
        if (r < 0) {
                if (ret_offset)
                        *ret_offset = (size_t) (p.p - p.start);
                return r;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* ---- serializer ---- */

static int format_string(Buf *b, const char *s, size_t len) {
        int r = buf_putc(b, '"');

        for (size_t i = 0; r >= 0 && i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                char esc[8];

                switch (c) {
                case '"': r = buf_put(b, "\\\"", 2); break;
                case '\\': r = buf_put(b, "\\\\", 2); break;
                case '\n': r = buf_put(b, "\\n", 2); break;
                case '\r': r = buf_put(b, "\\r", 2); break;
                case '\t': r = buf_put(b, "\\t", 2); break;
                case '\b': r = buf_put(b, "\\b", 2); break;
                case '\f': r = buf_put(b, "\\f", 2); break;
                default:
                        if (c < 0x20 || c == 0x7F) {
                                snprintf(esc, sizeof(esc), "\\u%04x", c);
                                r = buf_put(b, esc, 6);
                        } else
                                r = buf_putc(b, (char) c);
                }
        }
        return r < 0 ? r : buf_putc(b, '"');
}

static int format_value(Buf *b, const JsonValue *v) {
        char num[64];
        int r;

        switch (v->type) {
        case JSON_NULL:
                return buf_put(b, "null", 4);
        case JSON_BOOLEAN:
                return v->boolean ? buf_put(b, "true", 4) : buf_put(b, "false", 5);
        case JSON_NUMBER:
                if (v->number.is_integer)
                        snprintf(num, sizeof(num), "%lld", (long long) v->number.integer);
                else
                        snprintf(num, sizeof(num), "%.17g", v->number.real);
                return buf_put(b, num, strlen(num));
        case JSON_STRING:
                return format_string(b, v->string.str, v->string.len);
        case JSON_ARRAY:
                r = buf_putc(b, '[');
                for (size_t i = 0; r >= 0 && i < v->array.n; i++) {
                        if (i > 0)
                                r = buf_putc(b, ',');
                        if (r >= 0)
                                r = format_value(b, v->array.items[i]);
                }
                return r < 0 ? r : buf_putc(b, ']');
        case JSON_OBJECT:
                r = buf_putc(b, '{');
                for (size_t i = 0; r >= 0 && i < v->object.n; i++) {
                        if (i > 0)
                                r = buf_putc(b, ',');
                        if (r >= 0)
                                r = format_string(b, v->object.keys[i], v->object.key_lens[i]);
                        if (r >= 0)
                                r = buf_putc(b, ':');
                        if (r >= 0)
                                r = format_value(b, v->object.values[i]);
                }
                return r < 0 ? r : buf_putc(b, '}');
        }
        return -EINVAL;
}

char *json_format(const JsonValue *v, size_t *ret_len) {
        Buf b = {};

        if (!v || format_value(&b, v) < 0) {
                free(b.data);
                return NULL;
        }
        if (ret_len)
                *ret_len = b.len;
        return b.data;
}
