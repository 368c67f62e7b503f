/* domain-conf-memory.c — memory devices: <devices><memory model='dimm'> with its <target><size>, <node>
 * and <address type='dimm' slot= base=>: parse, validate, normalize (slots, totals), format, copy.
 *
 * As libvirt, <memory> is the total: the initial memory qemu's -m size= gets
 * plus every memory device; normalize refuses devices without <maxMemory>,
 * more of them than its slots, a total over it, a size qemu cannot map
 * (DOMAIN_MEMORY_ALIGN_KIB) and devices that leave no initial memory. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

#define MEMORY_MODELS STRV("dimm", "nvdimm", "virtio-mem", "virtio-pmem", "sgx-epc")

void domain_memory_clear(DomainMemoryDef *m) {
        free(m->model);
        *m = (DomainMemoryDef) { .node = -1, .slot = -1 };
}

int domain_memory_copy(DomainMemoryDef *dst, const DomainMemoryDef *src) {
        *dst = *src;
        dst->model = NULL;
        if (src->model && !(dst->model = strdup(src->model)))
                return -ENOMEM;
        return 0;
}

static int parse_size(xmlNode *n, uint64_t *ret, ConfError *err) {
        _cleanup_free_ char *t = NULL, *unit = NULL;
        int r;

        r = xml_validate(n, &(XmlSpec) { .attrs = STRV("unit"), .text = true }, err);
        if (r < 0)
                return r;
        r = xml_text(n, &t);
        if (r < 0)
                return r;
        g_strstrip(t);
        unit = xml_attr(n, "unit");
        r = conf_parse_memory_kib(t, unit, ret);
        if (r == -ERANGE)
                return conf_error_set(err, xml_line(n), "value '%s' of <size> is too large", t);
        if (r < 0)
                return conf_error_set(err, xml_line(n), "invalid size '%s'%s%s%s of a memory device", t,
                                      unit ? " (unit '" : "", strempty(unit), unit ? "')" : "");
        if (*ret == 0)
                return conf_error_set(err, xml_line(n), "a memory device's <size> must be larger than 0");
        return 0;
}

static int parse_target(xmlNode *t, DomainMemoryDef *m, ConfError *err) {
        xmlNode *n;
        int r;

        r = xml_validate(t, &(XmlSpec) { .children = STRV("size", "node") }, err);
        if (r < 0)
                return r;
        n = xml_child(t, "size");
        if (!n)
                return conf_error_set(err, xml_line(t), "a memory device's <target> needs a <size>");
        r = parse_size(n, &m->size_kib, err);
        if (r < 0)
                return r;
        n = xml_child(t, "node");
        if (n) {
                _cleanup_free_ char *v = NULL;
                uint64_t u;

                r = xml_validate(n, &(XmlSpec) { .text = true }, err);
                if (r < 0)
                        return r;
                r = xml_text(n, &v);
                if (r < 0)
                        return r;
                g_strstrip(v);
                if (conf_parse_u64(v, 10, 255, &u) < 0)
                        return conf_error_set(err, xml_line(n), "invalid NUMA node '%s' of a memory device", v);
                m->node = (int) u;
        }
        return 0;
}

static int parse_address(xmlNode *a, DomainMemoryDef *m, ConfError *err) {
        _cleanup_free_ char *type = NULL;
        uint64_t u;
        int r;

        r = xml_validate(a, &(XmlSpec) { .attrs = STRV("type", "slot", "base") }, err);
        if (r < 0)
                return r;
        type = xml_attr(a, "type");
        if (!conf_streq(type, "dimm"))
                return conf_error_set(err, xml_line(a), "a memory device's <address> must be of type 'dimm', not '%s'",
                                      strna(type));
        r = xml_attr_uint(a, "slot", 10, 255, &u, err);
        if (r < 0)
                return r;
        if (r > 0)
                m->slot = (int) u;
        r = xml_attr_uint(a, "base", 0, UINT64_MAX, &m->base, err);
        if (r < 0)
                return r;
        return 0;
}

int domain_memory_parse(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainMemoryDef *m;
        int model, r;
        xmlNode *t;

        r = xml_validate(node, &(XmlSpec) { .attrs = STRV("model"), .children = STRV("target", "address", "alias") },
                         err);
        if (r < 0)
                return r;
        m = conf_array_append(&def->memories, &def->n_memories, sizeof(DomainMemoryDef));
        if (!m)
                return -ENOMEM;
        m->node = m->slot = -1;
        r = xml_attr_enum(node, "model", MEMORY_MODELS, &model, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(node), "<memory> in <devices> needs a model (%s)", "dimm");
        m->model = strdup(MEMORY_MODELS[model]);
        if (!m->model)
                return -ENOMEM;
        t = xml_child(node, "target");
        if (!t)
                return conf_error_set(err, xml_line(node), "memory device needs a <target> with its <size>");
        r = parse_target(t, m, err);
        if (r < 0)
                return r;
        for (xmlNode *c = node->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE)
                        continue;
                if (conf_streq((const char *) c->name, "address"))
                        r = parse_address(c, m, err);
                else if (conf_streq((const char *) c->name, "alias"))   /* live XML's; the alias is the slot's */
                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("name") }, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

void domain_memory_format(GString *s, const DomainMemoryDef *m) {
        g_string_append(s, "    <memory");
        fmt_attr(s, "model", m->model);
        g_string_append(s, ">\n      <target>\n");
        g_string_append_printf(s, "        <size unit='KiB'>%" PRIu64 "</size>\n", m->size_kib);
        if (m->node >= 0)
                g_string_append_printf(s, "        <node>%d</node>\n", m->node);
        g_string_append(s, "      </target>\n");
        if (m->slot >= 0 || m->base) {
                g_string_append(s, "      <address type='dimm'");
                if (m->slot >= 0)
                        g_string_append_printf(s, " slot='%d'", m->slot);
                if (m->base)
                        g_string_append_printf(s, " base='0x%" PRIx64 "'", m->base);
                g_string_append(s, "/>\n");
        }
        g_string_append(s, "    </memory>\n");
}

static uint64_t devices_kib(const DomainDef *def) {
        uint64_t sum = 0;

        for (size_t i = 0; i < def->n_memories; i++)
                sum += def->memories[i].size_kib;
        return sum;
}

uint64_t domain_def_initial_memory_kib(const DomainDef *def) {
        uint64_t sum = devices_kib(def);

        return def->memory_kib > sum ? def->memory_kib - sum : 0;
}

int domain_def_memory_find_slot(const DomainDef *def, int slot) {
        for (size_t i = 0; slot >= 0 && i < def->n_memories; i++)
                if (def->memories[i].slot == slot)
                        return (int) i;
        return -1;
}

int domain_def_memory_add(DomainDef *def, const DomainMemoryDef *m) {
        DomainMemoryDef *a = realloc(def->memories, (def->n_memories + 1) * sizeof(DomainMemoryDef));

        if (!a)
                return -ENOMEM;
        def->memories = a;
        if (domain_memory_copy(&a[def->n_memories], m) < 0)
                return -ENOMEM;
        def->n_memories++;
        if (def->current_memory_kib == def->memory_kib)
                def->current_memory_kib += m->size_kib;
        def->memory_kib += m->size_kib;
        return 0;
}

void domain_def_memory_remove(DomainDef *def, size_t index) {
        uint64_t size;

        if (index >= def->n_memories)
                return;
        size = def->memories[index].size_kib;
        domain_memory_clear(&def->memories[index]);
        memmove(def->memories + index, def->memories + index + 1, (def->n_memories - index - 1) * sizeof(DomainMemoryDef));
        def->n_memories--;
        def->memory_kib = def->memory_kib > size ? def->memory_kib - size : 0;
        if (def->current_memory_kib > def->memory_kib)
                def->current_memory_kib = def->memory_kib;
}

int domain_memory_normalize(DomainDef *def, ConfError *err) {
        uint64_t sum = 0;

        if (def->n_memories == 0)
                return 0;
        if (!def->max_memory_kib || !def->max_memory_slots)
                return conf_error_set(err, 0, "memory devices need <maxMemory slots=…> in the domain");
        if (def->n_memories > def->max_memory_slots)
                return conf_error_set(err, 0, "%zu memory devices do not fit in the %u slots of <maxMemory>",
                                      def->n_memories, def->max_memory_slots);
        for (size_t i = 0; i < def->n_memories; i++) {
                DomainMemoryDef *m = &def->memories[i];

                if (m->size_kib % DOMAIN_MEMORY_ALIGN_KIB)
                        return conf_error_set(err, 0, "the size of a memory device (%" PRIu64 " KiB) must be a multiple of %u KiB",
                                              m->size_kib, DOMAIN_MEMORY_ALIGN_KIB);
                if (m->slot >= 0 && (unsigned) m->slot >= def->max_memory_slots)
                        return conf_error_set(err, 0, "memory slot %d is not one of the %u slots of <maxMemory>", m->slot,
                                              def->max_memory_slots);
                for (size_t k = 0; k < i; k++)
                        if (m->slot >= 0 && def->memories[k].slot == m->slot)
                                return conf_error_set(err, 0, "memory slot %d is used by two memory devices", m->slot);
                sum += m->size_kib;
        }
        /* the lowest free slot, in order */
        for (size_t i = 0; i < def->n_memories; i++) {
                if (def->memories[i].slot >= 0)
                        continue;
                for (unsigned s = 0; s < def->max_memory_slots; s++)
                        if (domain_def_memory_find_slot(def, (int) s) < 0) {
                                def->memories[i].slot = (int) s;
                                break;
                        }
        }
        if (sum >= def->memory_kib)
                return conf_error_set(err, 0, "the memory devices (%" PRIu64 " KiB) leave nothing of <memory> (%" PRIu64
                                      " KiB) as initial memory", sum, def->memory_kib);
        if (def->memory_kib > def->max_memory_kib)
                return conf_error_set(err, 0, "<memory> with the memory devices (%" PRIu64 " KiB) exceeds <maxMemory> (%" PRIu64
                                      " KiB)", def->memory_kib, def->max_memory_kib);
        return 0;
}
