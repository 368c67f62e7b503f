/* vmgmtctl-json.c — a streaming JSON writer for vmgmtctl's --json output. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "macro.h"
#include "vmgmtctl-json.h"

int json_format_from_string(const char *s) {
        if (streq(s, "short"))
                return JSON_FORMAT_SHORT;
        if (streq(s, "pretty"))
                return JSON_FORMAT_PRETTY;
        if (streq(s, "off"))
                return JSON_FORMAT_OFF;
        return -EINVAL;
}

void json_writer_init(JsonWriter *w, FILE *f, JsonFormat format) {
        *w = (JsonWriter) {
                .f = f,
                .pretty = format == JSON_FORMAT_PRETTY,
        };
}

static void json_newline_indent(JsonWriter *w) {
        fputc('\n', w->f);
        for (unsigned i = 0; i < w->depth; i++)
                fputs("  ", w->f);
}

/* Called before every key, and before every value that does not follow a key. */
static void json_separate(JsonWriter *w) {
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (w->depth == 0)
                return;
        if (w->has_members[w->depth])
                fputc(',', w->f);
        w->has_members[w->depth] = true;
        if (w->pretty)
                json_newline_indent(w);
}

/* Ends a value: a top-level value is finished by a newline. */
static void json_value_done(JsonWriter *w) {
        if (w->depth == 0) {
                fputc('\n', w->f);
                fflush(w->f);
        }
}

static void json_begin(JsonWriter *w, char c) {
        json_separate(w);
        fputc(c, w->f);
        if (w->depth < JSON_DEPTH_MAX)
                w->depth++;
        w->has_members[w->depth] = false;
}

static void json_end(JsonWriter *w, char c) {
        bool had = w->has_members[w->depth];

        if (w->depth > 0)
                w->depth--;
        if (had && w->pretty)
                json_newline_indent(w);
        fputc(c, w->f);
        json_value_done(w);
}

void json_begin_object(JsonWriter *w) {
        json_begin(w, '{');
}

void json_end_object(JsonWriter *w) {
        json_end(w, '}');
}

void json_begin_array(JsonWriter *w) {
        json_begin(w, '[');
}

void json_end_array(JsonWriter *w) {
        json_end(w, ']');
}

static void json_write_escaped(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                switch (*p) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f)
                                fprintf(f, "\\u%04x", *p);
                        else
                                fputc(*p, f);
                }
        fputc('"', f);
}

void json_key(JsonWriter *w, const char *key) {
        json_separate(w);
        json_write_escaped(w->f, key);
        fputs(w->pretty ? ": " : ":", w->f);
        w->after_key = true;
}

void json_string(JsonWriter *w, const char *s) {
        if (!s) {
                json_null(w);
                return;
        }
        json_separate(w);
        json_write_escaped(w->f, s);
        json_value_done(w);
}

void json_unsigned(JsonWriter *w, uint64_t v) {
        json_separate(w);
        fprintf(w->f, "%" PRIu64, v);
        json_value_done(w);
}

void json_bool(JsonWriter *w, bool v) {
        json_separate(w);
        fputs(v ? "true" : "false", w->f);
        json_value_done(w);
}

void json_null(JsonWriter *w) {
        json_separate(w);
        fputs("null", w->f);
        json_value_done(w);
}

void json_member_string(JsonWriter *w, const char *key, const char *s) {
        json_key(w, key);
        json_string(w, s);
}

void json_member_unsigned(JsonWriter *w, const char *key, uint64_t v) {
        json_key(w, key);
        json_unsigned(w, v);
}

void json_member_bool(JsonWriter *w, const char *key, bool v) {
        json_key(w, key);
        json_bool(w, v);
}
