/* test-vmgmtctl-format.c — unit tests of vmgmtctl's pure formatting: virsh's words, tables, JSON, timestamps. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "vmgmtctl-format.h"
#include "vmgmtctl-json.h"

/* Runs fn(f, arg) on a memory stream and returns what it wrote (caller frees). */
static char *capture(void (*fn)(FILE *f, const void *arg), const void *arg) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert(f);
        fn(f, arg);
        fclose(f);
        return buf;
}

static void expect_str(const char *what, const char *got, const char *want) {
        if (!streq(got, want)) {
                fprintf(stderr, "%s:\n--- got ---\n%s\n--- want ---\n%s\n", what, got, want);
                abort();
        }
}

static void expect_owned(const char *what, char *got, const char *want) {
        assert(got);
        expect_str(what, got, want);
        free(got);
}

static void test_states(void) {
        expect_str("running", format_state("running"), "running");
        expect_str("shutoff", format_state("shutoff"), "shut off");
        expect_str("shutdown", format_state("shutdown"), "in shutdown");
        expect_str("pmsuspended", format_state("pmsuspended"), "pmsuspended");
        expect_str("empty", format_state(""), "unknown");
        expect_str("NULL", format_state(NULL), "unknown");
        expect_str("future", format_state("frozen"), "frozen");

        expect_owned("booted", format_state_reason("booted"), "booted");
        expect_owned("from-snapshot", format_state_reason("from-snapshot"), "from snapshot");
        expect_owned("io-error", format_state_reason("io-error"), "I/O error");
        expect_owned("post-copy", format_state_reason("post-copy"), "post-copy");
        expect_owned("migration-canceled", format_state_reason("migration-canceled"), "migration canceled");
        expect_owned("empty reason", format_state_reason(""), "unknown");
}

static void test_events(void) {
        expect_str("started", format_event("started"), "Started");
        expect_str("pmsuspended", format_event("pmsuspended"), "PMSuspended");
        expect_str("unknown event", format_event("exploded"), "exploded");

        expect_owned("started/booted", format_event_detail("started", "booted"), "Booted");
        expect_owned("stopped/destroyed", format_event_detail("stopped", "destroyed"), "Destroyed");
        expect_owned("stopped/shutdown", format_event_detail("stopped", "shutdown"), "Shutdown");
        expect_owned("shutdown/finished", format_event_detail("shutdown", "finished"), "Finished");
        expect_owned("shutdown/guest", format_event_detail("shutdown", "guest"), "Finished after guest request");
        expect_owned("shutdown/host", format_event_detail("shutdown", "host"), "Finished after host request");
        expect_owned("suspended/io-error", format_event_detail("suspended", "io-error"), "I/O Error");
        expect_owned("suspended/api-error", format_event_detail("suspended", "api-error"), "API error");
        expect_owned("started/from-snapshot", format_event_detail("started", "from-snapshot"), "Snapshot");
        expect_owned("started/wakeup", format_event_detail("started", "wakeup"), "Event wakeup");
        expect_owned("resumed/unpaused", format_event_detail("resumed", "unpaused"), "Unpaused");
        expect_owned("defined/added", format_event_detail("defined", "added"), "Added");
        expect_owned("undefined/removed", format_event_detail("undefined", "removed"), "Removed");
        expect_owned("empty detail", format_event_detail("started", ""), "unknown");
}

static void test_timestamp(void) {
        char buf[FORMAT_TIMESTAMP_MAX];

        assert(format_timestamp(0, buf, sizeof(buf)) == 0);
        expect_str("epoch", buf, "1970-01-01 00:00:00.000+0000");
        /* 2026-11-22 02:30:01.123456 UTC */
        assert(format_timestamp(1795314601123456ULL, buf, sizeof(buf)) == 0);
        expect_str("2026", buf, "2026-11-22 02:30:01.123+0000");
        assert(format_timestamp(0, buf, 10) < 0);
}

static void test_parse_id(void) {
        uint32_t id = 0;

        assert(format_parse_id("1", &id) && id == 1);
        assert(format_parse_id("4294967295", &id) && id == 4294967295U);
        assert(!format_parse_id("4294967296", &id));
        assert(!format_parse_id("0", &id));
        assert(!format_parse_id("", &id));
        assert(!format_parse_id("-1", &id));
        assert(!format_parse_id("12a", &id));
        assert(!format_parse_id("demo", &id));
        assert(!format_parse_id("c7a5fdbd-cdaf-9455-926a-d65c16db1809", &id));
        assert(format_text_width("abc") == 3);
        assert(format_text_width("héllo") == 5);
        assert(format_text_width("") == 0);
}

static void print_list_table(FILE *f, const void *arg) {
        static const char *const header[] = { "Id", "Name", "State" };
        static const char *const r1[] = { "1", "demo", "running" };
        static const char *const r2[] = { "12", "a-much-longer-name", "paused" };
        static const char *const r3[] = { "-", "héllo", "shut off" };
        Table *t = table_new(3, header);

        assert(t);
        assert(table_add_row(t, r1) == 0);
        assert(table_add_row(t, r2) == 0);
        assert(table_add_row(t, r3) == 0);
        table_print(t, f, *(const bool *) arg);
        table_free(t);
}

static void print_empty_table(FILE *f, const void *arg) {
        static const char *const header[] = { "Id", "Name", "State" };
        Table *t = table_new(3, header);

        assert(t);
        table_print(t, f, true);
        table_free(t);
}

static void test_table(void) {
        bool header = true;

        expect_owned("table", capture(print_list_table, &header),
                     " Id   Name                 State\n"
                     "-------------------------------------\n"
                     " 1    demo                 running\n"
                     " 12   a-much-longer-name   paused\n"
                     " -    héllo                shut off\n");
        header = false;
        expect_owned("table without header", capture(print_list_table, &header),
                     " 1    demo                 running\n"
                     " 12   a-much-longer-name   paused\n"
                     " -    héllo                shut off\n");
        expect_owned("empty table", capture(print_empty_table, NULL),
                     " Id   Name   State\n"
                     "--------------------\n");
}

static void write_json(FILE *f, const void *arg) {
        JsonWriter w;

        json_writer_init(&w, f, *(const JsonFormat *) arg);
        json_begin_array(&w);
        json_begin_object(&w);
        json_member_string(&w, "name", "de\"mo\\\n\x01");
        json_member_unsigned(&w, "id", 7);
        json_member_bool(&w, "persistent", true);
        json_key(&w, "title");
        json_null(&w);
        json_key(&w, "empty");
        json_begin_array(&w);
        json_end_array(&w);
        json_end_object(&w);
        json_string(&w, "héllo");
        json_end_array(&w);
}

static void test_json(void) {
        JsonFormat format = JSON_FORMAT_SHORT;

        expect_owned("json short", capture(write_json, &format),
                     "[{\"name\":\"de\\\"mo\\\\\\n\\u0001\",\"id\":7,\"persistent\":true,\"title\":null,\"empty\":[]},\"héllo\"]\n");
        format = JSON_FORMAT_PRETTY;
        expect_owned("json pretty", capture(write_json, &format),
                     "[\n"
                     "  {\n"
                     "    \"name\": \"de\\\"mo\\\\\\n\\u0001\",\n"
                     "    \"id\": 7,\n"
                     "    \"persistent\": true,\n"
                     "    \"title\": null,\n"
                     "    \"empty\": []\n"
                     "  },\n"
                     "  \"héllo\"\n"
                     "]\n");
        assert(json_format_from_string("short") == JSON_FORMAT_SHORT);
        assert(json_format_from_string("pretty") == JSON_FORMAT_PRETTY);
        assert(json_format_from_string("off") == JSON_FORMAT_OFF);
        assert(json_format_from_string("long") < 0);
}

int main(void) {
        test_states();
        test_events();
        test_timestamp();
        test_parse_id();
        test_table();
        test_json();
        printf("ok\n");
        return 0;
}
