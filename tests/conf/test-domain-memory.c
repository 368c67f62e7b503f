/* test-domain-memory.c — <devices><memory model='dimm'>: parse, normalize (the lowest free slot, <memory>
 * as the total of initial memory and modules), format (and its round trip), what is refused (no
 * <maxMemory>, a size qemu cannot map, more modules than slots, over <maxMemory>, a slot twice),
 * the device XML AttachDevice takes, and adding/removing a module to a definition (totals). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain-conf.h"

static unsigned failures, checked;

#define CHECK(cond, ...)                                                  \
        do {                                                              \
                checked++;                                                \
                if (!(cond)) {                                            \
                        failures++;                                       \
                        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);  \
                        fprintf(stderr, __VA_ARGS__);                     \
                        fputc('\n', stderr);                              \
                }                                                         \
        } while (0)

#define DOMAIN(MAXMEM, MEMORY, DEVICES)                                                          \
        "<domain type='qemu'><name>m</name>" MAXMEM "<memory unit='MiB'>" MEMORY "</memory>"    \
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>" DEVICES "</devices></domain>"
#define DIMM(SIZE_MIB, EXTRA) "<memory model='dimm'><target><size unit='MiB'>" SIZE_MIB "</size>" \
        "<node>0</node></target>" EXTRA "</memory>"
#define MAXMEM "<maxMemory slots='4' unit='GiB'>4</maxMemory>"

/* parse + normalize; NULL with *msg on failure */
static DomainDef *load(const char *xml, char **msg) {
        DomainDef *def = NULL;
        ConfError err = {};
        int r = domain_def_parse(xml, strlen(xml), &def, &err);

        if (r >= 0)
                r = domain_def_normalize(def, NULL, &err);
        *msg = err.message ? strdup(err.message) : NULL;
        conf_error_clear(&err);
        if (r < 0)
                def = domain_def_free(def);
        return def;
}

static void expect_error(const char *xml, const char *needle) {
        char *msg = NULL;
        DomainDef *def = load(xml, &msg);

        CHECK(!def, "accepted: %s", xml);
        CHECK(msg && strstr(msg, needle), "%s: message %s lacks '%s'", xml, msg ? msg : "(none)", needle);
        domain_def_free(def);
        free(msg);
}

static void test_parse_format(void) {
        char *msg = NULL, *out, *again;
        DomainDef *def = load(DOMAIN(MAXMEM, "1024", DIMM("256", "<address type='dimm' slot='2'/>") DIMM("128", "")), &msg);
        DomainDef *def2;

        CHECK(def, "refused: %s", msg ? msg : "");
        free(msg);
        if (!def)
                return;
        CHECK(def->n_memories == 2, "%zu memory devices", def->n_memories);
        CHECK(def->memories[0].slot == 2 && def->memories[0].size_kib == 262144 && def->memories[0].node == 0,
              "first module: slot %d size %llu", def->memories[0].slot, (unsigned long long) def->memories[0].size_kib);
        CHECK(def->memories[1].slot == 0, "second module in slot %d, not the lowest free 0", def->memories[1].slot);
        CHECK(def->memory_kib == 1048576, "<memory> %llu: the total as given", (unsigned long long) def->memory_kib);
        CHECK(domain_def_initial_memory_kib(def) == 1048576 - 393216, "initial memory %llu",
              (unsigned long long) domain_def_initial_memory_kib(def));
        out = domain_def_format(def, 0);
        CHECK(out && strstr(out, "    <memory model='dimm'>\n      <target>\n        <size unit='KiB'>262144</size>\n"
                                 "        <node>0</node>\n      </target>\n      <address type='dimm' slot='2'/>\n"
                                 "    </memory>\n"), "format: %s", out ? out : "(null)");
        CHECK(out && strstr(out, "<address type='dimm' slot='0'/>"), "the slot normalize took is formatted");
        def2 = out ? load(out, &msg) : NULL;
        CHECK(def2, "own output refused: %s", msg ? msg : "");
        free(msg);
        again = def2 ? domain_def_format(def2, 0) : NULL;
        CHECK(again && strcmp(out, again) == 0, "round trip differs:\n%s\n---\n%s", out, again ? again : "(null)");
        free(again);
        domain_def_free(def2);

        /* a copy holds the modules */
        def2 = domain_def_copy(def);
        CHECK(def2 && def2->n_memories == 2 && def2->memories[1].slot == 0 && def2->memories[0].model != def->memories[0].model,
              "copy");
        domain_def_free(def2);

        /* a module added and removed moves <memory> and <currentMemory> (all of <memory> here) with it */
        {
                DomainMemoryDef m = { .model = (char *) "dimm", .size_kib = 131072, .node = -1, .slot = 1 };
                CHECK(domain_def_memory_add(def, &m) == 0 && def->n_memories == 3, "add");
                CHECK(def->memory_kib == 1048576 + 131072 && def->current_memory_kib == def->memory_kib, "totals after add %llu/%llu",
                      (unsigned long long) def->memory_kib, (unsigned long long) def->current_memory_kib);
                CHECK(domain_def_memory_find_slot(def, 1) == 2 && domain_def_memory_find_slot(def, 3) == -1, "find slot");
                domain_def_memory_remove(def, 0);
                CHECK(def->n_memories == 2 && def->memory_kib == 1048576 + 131072 - 262144 &&
                      def->current_memory_kib == def->memory_kib && def->memories[0].slot == 0, "totals after remove");
        }
        free(out);
        domain_def_free(def);
}

static void test_refused(void) {
        expect_error(DOMAIN("", "1024", DIMM("128", "")), "need <maxMemory");
        expect_error(DOMAIN(MAXMEM, "1024", "<memory model='dimm'><target><size unit='KiB'>1024</size></target></memory>"),
                     "multiple of 2048 KiB");
        expect_error(DOMAIN("<maxMemory slots='1' unit='GiB'>4</maxMemory>", "1024", DIMM("128", "") DIMM("128", "")),
                     "do not fit in the 1 slots");
        expect_error(DOMAIN(MAXMEM, "1024", DIMM("128", "<address type='dimm' slot='4'/>")), "slot 4 is not one of the 4");
        expect_error(DOMAIN(MAXMEM, "1024", DIMM("128", "<address type='dimm' slot='1'/>")
                                            DIMM("128", "<address type='dimm' slot='1'/>")), "slot 1 is used by two");
        expect_error(DOMAIN(MAXMEM, "256", DIMM("256", "")), "leave nothing of <memory>");
        expect_error(DOMAIN("<maxMemory slots='4' unit='MiB'>512</maxMemory>", "1024", DIMM("128", "")),
                     "<maxMemory> must not be smaller than <memory>");
        expect_error(DOMAIN(MAXMEM, "1024", "<memory model='dram'><target><size>1</size></target></memory>"), "dram");
        expect_error(DOMAIN(MAXMEM, "1024", "<memory model='dimm'/>"), "needs a <target>");
        expect_error(DOMAIN(MAXMEM, "1024", "<memory model='dimm'><target><node>0</node></target></memory>"), "needs a <size>");
        expect_error(DOMAIN(MAXMEM, "1024", DIMM("128", "<address type='pci' slot='1'/>")), "of type 'dimm'");
        expect_error(DOMAIN(MAXMEM, "1024", DIMM("128", "<source><pagesize>2048</pagesize></source>")), "source");
}

static void test_device_xml(void) {
        DomainDef *def = NULL;
        DomainDeviceKind kind = _DOMAIN_DEVICE_KIND_MAX;
        ConfError err = {};
        const char *xml = "<memory model='dimm'><target><size unit='MiB'>128</size><node>0</node></target></memory>";
        int r = domain_device_parse(xml, strlen(xml), &def, &kind, &err);

        CHECK(r == 0 && kind == DOMAIN_DEVICE_MEMORY && def && def->n_memories == 1 && def->memories[0].slot == -1 &&
              def->memories[0].size_kib == 131072, "device XML: %s", err.message ? err.message : "");
        CHECK(strcmp(domain_device_kind_to_string(DOMAIN_DEVICE_MEMORY), "memory") == 0, "kind name");
        conf_error_clear(&err);
        domain_def_free(def);
        def = NULL;
        /* other models parse (AttachDevice refuses them as not supported) */
        xml = "<memory model='nvdimm'><target><size unit='MiB'>128</size></target></memory>";
        r = domain_device_parse(xml, strlen(xml), &def, &kind, &err);
        CHECK(r == 0 && def && strcmp(def->memories[0].model, "nvdimm") == 0, "nvdimm: %s", err.message ? err.message : "");
        conf_error_clear(&err);
        domain_def_free(def);
}

int main(void) {
        test_parse_format();
        test_refused();
        test_device_xml();
        if (failures)
                fprintf(stderr, "%u of %u checks failed\n", failures, checked);
        else
                printf("%u checks passed\n", checked);
        return failures ? 1 : 0;
}
