/* domain-conf-tune.c — <cputune>, <memtune>, <blkiotune>, <numatune>, <perf>: parse, format, copy, free, cpusets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

/* ---- cpusets ---- */

int domain_cpuset_parse(const char *s, uint8_t mask[DOMAIN_CPUSET_MAX / 8]) {
        g_auto(GStrv) parts = NULL;
        bool any = false;

        memset(mask, 0, DOMAIN_CPUSET_MAX / 8);
        if (!s)
                return -EINVAL;
        parts = g_strsplit(s, ",", -1);
        for (char **p = parts; *p; p++) {
                const char *t = g_strstrip(*p);
                bool negate = t[0] == '^';
                g_auto(GStrv) range = NULL;
                uint64_t a, b;

                if (negate)
                        t++;
                range = g_strsplit(t, "-", 2);
                if (!range[0] || conf_parse_u64(range[0], 10, DOMAIN_CPUSET_MAX - 1, &a) < 0)
                        return -EINVAL;
                b = a;
                if (range[1] && (negate || conf_parse_u64(range[1], 10, DOMAIN_CPUSET_MAX - 1, &b) < 0 || b < a))
                        return -EINVAL;
                for (uint64_t i = a; i <= b; i++) {
                        if (negate)
                                mask[i / 8] &= (uint8_t) ~(1u << (i % 8));
                        else
                                mask[i / 8] |= (uint8_t) (1u << (i % 8));
                }
                any = any || !negate;
        }
        for (size_t i = 0; any && i < DOMAIN_CPUSET_MAX / 8; i++)
                if (mask[i])
                        return 0;
        return -EINVAL;
}

char *domain_cpuset_format(const uint8_t mask[DOMAIN_CPUSET_MAX / 8]) {
        GString *s = g_string_new(NULL);

        for (unsigned i = 0; i < DOMAIN_CPUSET_MAX; i++) {
                unsigned j = i;

                if (!(mask[i / 8] & (1u << (i % 8))))
                        continue;
                while (j + 1 < DOMAIN_CPUSET_MAX && (mask[(j + 1) / 8] & (1u << ((j + 1) % 8))))
                        j++;
                if (s->len > 0)
                        g_string_append_c(s, ',');
                if (j == i)
                        g_string_append_printf(s, "%u", i);
                else
                        g_string_append_printf(s, "%u-%u", i, j);
                i = j;
        }
        return g_string_free(s, false);
}

/* A cpuset attribute, canonicalized into *ret. 1 present, 0 absent, -EINVAL. */
static int attr_cpuset(xmlNode *n, const char *name, char **ret, ConfError *err) {
        _cleanup_free_ char *v = xml_attr(n, name);
        uint8_t mask[DOMAIN_CPUSET_MAX / 8];

        if (!v)
                return 0;
        if (domain_cpuset_parse(v, mask) < 0)
                return conf_error_set(err, xml_line(n), "invalid cpuset '%s' in <%s %s=…>", v, (const char *) n->name,
                                      name);
        free(*ret);
        *ret = domain_cpuset_format(mask);
        return *ret ? 1 : -ENOMEM;
}

const DomainVcpuPinDef *domain_tune_vcpupin(const DomainTuneDef *t, unsigned vcpu) {
        for (size_t i = 0; i < t->n_vcpupins; i++)
                if (t->vcpupins[i].vcpu == vcpu)
                        return &t->vcpupins[i];
        return NULL;
}

int domain_tune_set_vcpupin(DomainTuneDef *t, unsigned vcpu, const char *cpuset) {
        uint8_t mask[DOMAIN_CPUSET_MAX / 8];
        DomainVcpuPinDef *p = (DomainVcpuPinDef *) domain_tune_vcpupin(t, vcpu);
        char *text;

        if (!cpuset) {
                if (!p)
                        return 0;
                free(p->cpuset);
                memmove(p, p + 1, (size_t) (t->vcpupins + t->n_vcpupins - (p + 1)) * sizeof(*p));
                t->n_vcpupins--;
                return 0;
        }
        if (domain_cpuset_parse(cpuset, mask) < 0)
                return -EINVAL;
        text = domain_cpuset_format(mask);
        if (!text)
                return -ENOMEM;
        if (!p) {
                p = conf_array_append(&t->vcpupins, &t->n_vcpupins, sizeof(DomainVcpuPinDef));
                if (!p) {
                        free(text);
                        return -ENOMEM;
                }
                p->vcpu = vcpu;
        }
        free(p->cpuset);
        p->cpuset = text;
        return 0;
}

DomainBlkioDeviceDef *domain_tune_blkio_device(DomainTuneDef *t, const char *path) {
        DomainBlkioDeviceDef *d;

        for (size_t i = 0; i < t->n_blkio_devices; i++)
                if (streq(t->blkio_devices[i].path, path))
                        return &t->blkio_devices[i];
        d = conf_array_append(&t->blkio_devices, &t->n_blkio_devices, sizeof(DomainBlkioDeviceDef));
        if (!d)
                return NULL;
        d->path = strdup(path);
        if (!d->path) {
                t->n_blkio_devices--;
                return NULL;
        }
        return d;
}

/* ---- parsing ---- */

static int parse_number(xmlNode *node, uint64_t max, uint64_t *ret, ConfError *err) {
        _cleanup_free_ char *t = NULL;
        int r;

        r = xml_validate(node, &(XmlSpec) { .text = true }, err);
        if (r < 0)
                return r;
        r = xml_text(node, &t);
        if (r < 0)
                return r;
        g_strstrip(t);
        r = conf_parse_u64(t, 10, max, ret);
        if (r < 0)
                return conf_error_set(err, xml_line(node), "invalid value '%s' of <%s> (an unsigned number up to %llu)",
                                      t, (const char *) node->name, (unsigned long long) max);
        return 0;
}

/* <quota>, <global_quota>, <emulator_quota>: -1 or 1000…2^44-1 µs. */
static int parse_quota(xmlNode *n, int64_t *ret, ConfError *err) {
        _cleanup_free_ char *q = NULL;
        uint64_t v;
        int r;

        r = xml_validate(n, &(XmlSpec) { .text = true }, err);
        if (r < 0 || (r = xml_text(n, &q)) < 0)
                return r;
        g_strstrip(q);
        if (streq(q, "-1"))
                *ret = -1;
        else if (conf_parse_u64(q, 10, 17592186044415ULL, &v) < 0 || v < 1000)
                return conf_error_set(err, xml_line(n), "<%s> must be -1 or between 1000 and 17592186044415",
                                      (const char *) n->name);
        else
                *ret = (int64_t) v;
        return 0;
}

static int parse_cputune(DomainTuneDef *t, unsigned vcpus, xmlNode *ct, ConfError *err) {
        xmlNode *n;
        int r;

        r = xml_validate(ct, &(XmlSpec) { .children = STRV("shares", "period", "quota", "global_period",
                                                           "global_quota", "emulator_period", "emulator_quota",
                                                           "emulatorpin"),
                                          .multi = STRV("vcpupin", "iothreadpin") }, err);
        if (r < 0)
                return r;
        n = xml_child(ct, "shares");
        if (n && (r = parse_number(n, 262144, &t->shares, err)) < 0)
                return r;
        if (n && t->shares < 2)
                return conf_error_set(err, xml_line(n), "<shares> must be between 2 and 262144");
        {
                const struct { const char *period, *quota; uint64_t *p; int64_t *q; } pq[] = {
                        { "period", "quota", &t->period, &t->quota },
                        { "global_period", "global_quota", &t->global_period, &t->global_quota },
                        { "emulator_period", "emulator_quota", &t->emulator_period, &t->emulator_quota },
                };
                for (size_t i = 0; i < ELEMENTSOF(pq); i++) {
                        n = xml_child(ct, pq[i].period);
                        if (n && (r = parse_number(n, 1000000, pq[i].p, err)) < 0)
                                return r;
                        if (n && *pq[i].p < 1000)
                                return conf_error_set(err, xml_line(n), "<%s> must be between 1000 and 1000000",
                                                      pq[i].period);
                        n = xml_child(ct, pq[i].quota);
                        if (n && (r = parse_quota(n, pq[i].q, err)) < 0)
                                return r;
                }
        }
        for (n = ct->children; n; n = n->next) {
                _cleanup_free_ char *set = NULL;
                uint64_t vcpu;

                if (n->type != XML_ELEMENT_NODE || !streq((const char *) n->name, "vcpupin"))
                        continue;
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("vcpu", "cpuset") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_uint(n, "vcpu", 10, 4095, &vcpu, err);
                if (r < 0)
                        return r;
                if (r == 0 || vcpu >= vcpus)
                        return conf_error_set(err, xml_line(n), "<vcpupin> needs a 'vcpu' below the vCPU count %u", vcpus);
                r = attr_cpuset(n, "cpuset", &set, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(n), "<vcpupin> needs a 'cpuset'");
                if (domain_tune_vcpupin(t, (unsigned) vcpu))
                        return conf_error_set(err, xml_line(n), "duplicate <vcpupin vcpu='%llu'>", (unsigned long long) vcpu);
                r = domain_tune_set_vcpupin(t, (unsigned) vcpu, set);
                if (r < 0)
                        return r;
        }
        for (n = ct->children; n; n = n->next) {
                _cleanup_free_ char *set = NULL;
                uint64_t id;

                if (n->type != XML_ELEMENT_NODE || !streq((const char *) n->name, "iothreadpin"))
                        continue;
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("iothread", "cpuset") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_uint(n, "iothread", 10, UINT32_MAX, &id, err);
                if (r < 0)
                        return r;
                if (r == 0 || !domain_tune_has_iothread(t, (unsigned) id))
                        return conf_error_set(err, xml_line(n), "<iothreadpin> needs an 'iothread' of <iothreadids>");
                r = attr_cpuset(n, "cpuset", &set, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(n), "<iothreadpin> needs a 'cpuset'");
                if (domain_tune_iothreadpin(t, (unsigned) id))
                        return conf_error_set(err, xml_line(n), "duplicate <iothreadpin iothread='%llu'>",
                                              (unsigned long long) id);
                r = domain_tune_set_iothreadpin(t, (unsigned) id, set);
                if (r < 0)
                        return r;
        }
        n = xml_child(ct, "emulatorpin");
        if (n) {
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("cpuset") }, err);
                if (r < 0)
                        return r;
                r = attr_cpuset(n, "cpuset", &t->emulatorpin, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(n), "<emulatorpin> needs a 'cpuset'");
        }
        return 0;
}

static int parse_memtune(DomainTuneDef *t, xmlNode *mt, ConfError *err) {
        const struct { const char *name; uint64_t *field; } e[] = {
                { "hard_limit", &t->hard_limit_kib }, { "soft_limit", &t->soft_limit_kib },
                { "swap_hard_limit", &t->swap_hard_limit_kib },
        };
        int r;

        r = xml_validate(mt, &(XmlSpec) { .children = STRV("hard_limit", "soft_limit", "swap_hard_limit") }, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(e); i++) {
                xmlNode *n = xml_child(mt, e[i].name);
                _cleanup_free_ char *v = NULL, *unit = NULL;

                if (!n)
                        continue;
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("unit"), .text = true }, err);
                if (r < 0 || (r = xml_text(n, &v)) < 0)
                        return r;
                unit = xml_attr(n, "unit");
                g_strstrip(v);
                if (conf_parse_memory_kib(v, unit, e[i].field) < 0 || *e[i].field == 0)
                        return conf_error_set(err, xml_line(n), "invalid <%s> '%s'", e[i].name, v);
                if (*e[i].field > DOMAIN_MEMTUNE_UNLIMITED)
                        *e[i].field = DOMAIN_MEMTUNE_UNLIMITED;
        }
        return 0;
}

static int parse_blkiotune(DomainTuneDef *t, xmlNode *bt, ConfError *err) {
        xmlNode *n;
        uint64_t v;
        int r;

        r = xml_validate(bt, &(XmlSpec) { .children = STRV("weight"), .multi = STRV("device") }, err);
        if (r < 0)
                return r;
        n = xml_child(bt, "weight");
        if (n) {
                r = parse_number(n, 1000, &v, err);
                if (r < 0)
                        return r;
                if (v < 100)
                        return conf_error_set(err, xml_line(n), "<blkiotune><weight> must be between 100 and 1000");
                t->blkio_weight = (unsigned) v;
        }
        for (n = bt->children; n; n = n->next) {
                const char *names[] = { "read_bytes_sec", "write_bytes_sec", "read_iops_sec", "write_iops_sec" };
                DomainBlkioDeviceDef *d;
                xmlNode *p, *w;
                _cleanup_free_ char *path = NULL;

                if (n->type != XML_ELEMENT_NODE || !streq((const char *) n->name, "device"))
                        continue;
                r = xml_validate(n, &(XmlSpec) { .children = STRV("path", "weight", "read_bytes_sec", "write_bytes_sec",
                                                                  "read_iops_sec", "write_iops_sec") }, err);
                if (r < 0)
                        return r;
                p = xml_child(n, "path");
                if (!p)
                        return conf_error_set(err, xml_line(n), "<blkiotune><device> needs a <path>");
                r = xml_validate(p, &(XmlSpec) { .text = true }, err);
                if (r < 0 || (r = xml_text(p, &path)) < 0)
                        return r;
                g_strstrip(path);
                if (path[0] != '/')
                        return conf_error_set(err, xml_line(p), "<blkiotune><device><path> must be absolute");
                for (size_t i = 0; i < t->n_blkio_devices; i++)
                        if (streq(t->blkio_devices[i].path, path))
                                return conf_error_set(err, xml_line(p), "duplicate <blkiotune><device> %s", path);
                d = domain_tune_blkio_device(t, path);
                if (!d)
                        return -ENOMEM;
                w = xml_child(n, "weight");
                if (w) {
                        r = parse_number(w, 1000, &v, err);
                        if (r < 0)
                                return r;
                        if (v < 100)
                                return conf_error_set(err, xml_line(w), "<device><weight> must be between 100 and 1000");
                        d->weight = (unsigned) v;
                }
                uint64_t *fields[] = { &d->read_bytes_sec, &d->write_bytes_sec, &d->read_iops_sec, &d->write_iops_sec };
                for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                        xmlNode *x = xml_child(n, names[i]);
                        if (x && (r = parse_number(x, INT64_MAX, fields[i], err)) < 0)
                                return r;
                }
        }
        return 0;
}

static int parse_numatune(DomainTuneDef *t, xmlNode *nt, ConfError *err) {
        xmlNode *n;
        int r;

        r = xml_validate(nt, &(XmlSpec) { .children = STRV("memory") }, err);
        if (r < 0)
                return r;
        n = xml_child(nt, "memory");
        if (!n)
                return 0;
        r = xml_validate(n, &(XmlSpec) { .attrs = STRV("mode", "nodeset", "placement") }, err);
        if (r < 0)
                return r;
        if (xml_attr_enum_str(n, "mode", STRV("strict", "preferred", "interleave", "restrictive"), &t->numa_mode, err) < 0)
                return -EINVAL;
        if (xml_attr_enum_str(n, "placement", STRV("static"), &(char *) { NULL }, err) < 0)
                return -EINVAL;
        r = attr_cpuset(n, "nodeset", &t->numa_nodeset, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(n), "<numatune><memory> needs a 'nodeset'");
        if (!t->numa_mode)
                t->numa_mode = strdup("strict");
        return t->numa_mode ? 0 : -ENOMEM;
}

const char *const domain_perf_event_names[] = {
        "cmt", "mbmt", "mbml", "cpu_cycles", "instructions", "cache_references", "cache_misses",
        "branch_instructions", "branch_misses", "bus_cycles", "stalled_cycles_frontend", "stalled_cycles_backend",
        "ref_cpu_cycles", "cpu_clock", "task_clock", "page_faults", "context_switches", "cpu_migrations",
        "page_faults_min", "page_faults_maj", "alignment_faults", "emulation_faults", NULL,
};

static int parse_perf(DomainTuneDef *t, xmlNode *pf, ConfError *err) {
        int r;

        r = xml_validate(pf, &(XmlSpec) { .multi = STRV("event") }, err);
        if (r < 0)
                return r;
        for (xmlNode *n = pf->children; n; n = n->next) {
                _cleanup_free_ char *name = NULL, *enabled = NULL;
                unsigned i;

                if (n->type != XML_ELEMENT_NODE)
                        continue;
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("name", "enabled") }, err);
                if (r < 0)
                        return r;
                if (xml_attr_enum_str(n, "name", domain_perf_event_names, &name, err) < 0 ||
                    xml_attr_enum_str(n, "enabled", STRV("yes", "no"), &enabled, err) < 0)
                        return -EINVAL;
                if (!name || !enabled)
                        return conf_error_set(err, xml_line(n), "<perf><event> needs a 'name' and 'enabled'");
                for (i = 0; !streq(domain_perf_event_names[i], name); i++)
                        ;
                if ((t->perf_enabled | t->perf_disabled) & (1u << i))
                        return conf_error_set(err, xml_line(n), "duplicate <perf><event name='%s'>", name);
                if (streq(enabled, "yes"))
                        t->perf_enabled |= 1u << i;
                else
                        t->perf_disabled |= 1u << i;
        }
        return 0;
}

void domain_tune_format_perf(GString *s, const DomainTuneDef *t) {
        if (!t->perf_enabled && !t->perf_disabled)
                return;
        g_string_append(s, "  <perf>\n");
        for (unsigned i = 0; domain_perf_event_names[i]; i++)
                if ((t->perf_enabled | t->perf_disabled) & (1u << i))
                        g_string_append_printf(s, "    <event name='%s' enabled='%s'/>\n", domain_perf_event_names[i],
                                               t->perf_enabled & (1u << i) ? "yes" : "no");
        g_string_append(s, "  </perf>\n");
}

const DomainIOThreadPinDef *domain_tune_iothreadpin(const DomainTuneDef *t, unsigned id) {
        for (size_t i = 0; i < t->n_iothreadpins; i++)
                if (t->iothreadpins[i].iothread == id)
                        return &t->iothreadpins[i];
        return NULL;
}

bool domain_tune_has_iothread(const DomainTuneDef *t, unsigned id) {
        for (size_t i = 0; i < t->n_iothreads; i++)
                if (t->iothread_ids[i] == id)
                        return true;
        return false;
}

int domain_tune_set_iothreadpin(DomainTuneDef *t, unsigned id, const char *cpuset) {
        uint8_t mask[DOMAIN_CPUSET_MAX / 8];
        char *canon = NULL;
        DomainIOThreadPinDef *p;

        for (size_t i = 0; i < t->n_iothreadpins; i++)
                if (t->iothreadpins[i].iothread == id) {
                        free(t->iothreadpins[i].cpuset);
                        t->iothreadpins[i] = t->iothreadpins[--t->n_iothreadpins];
                        break;
                }
        if (!cpuset)
                return 0;
        if (domain_cpuset_parse(cpuset, mask) < 0)
                return -EINVAL;
        canon = domain_cpuset_format(mask);
        p = canon ? realloc(t->iothreadpins, (t->n_iothreadpins + 1) * sizeof(*p)) : NULL;
        if (!p) {
                free(canon);
                return -ENOMEM;
        }
        t->iothreadpins = p;
        t->iothreadpins[t->n_iothreadpins++] = (DomainIOThreadPinDef) { .iothread = id, .cpuset = canon };
        return 0;
}

/* <iothreads>N</iothreads> and <iothreadids>: N ids, listed or 1…N. */
static int parse_iothreads(DomainTuneDef *t, xmlNode *root, ConfError *err) {
        xmlNode *n = xml_child(root, "iothreads"), *ids = xml_child(root, "iothreadids");
        uint64_t count = 0;
        int r;

        if (n && (r = parse_number(n, 1024, &count, err)) < 0)
                return r;
        if (ids) {
                r = xml_validate(ids, &(XmlSpec) { .multi = STRV("iothread") }, err);
                if (r < 0)
                        return r;
                for (xmlNode *c = ids->children; c; c = c->next) {
                        uint64_t id;
                        unsigned *a;

                        if (c->type != XML_ELEMENT_NODE)
                                continue;
                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("id") }, err);
                        if (r < 0)
                                return r;
                        r = xml_attr_uint(c, "id", 10, 1024 * 1024, &id, err);
                        if (r < 0)
                                return r;
                        if (r == 0 || id == 0)
                                return conf_error_set(err, xml_line(c), "<iothreadids><iothread> needs an 'id' above 0");
                        if (domain_tune_has_iothread(t, (unsigned) id))
                                return conf_error_set(err, xml_line(c), "duplicate <iothread id='%llu'>",
                                                      (unsigned long long) id);
                        a = realloc(t->iothread_ids, (t->n_iothreads + 1) * sizeof(unsigned));
                        if (!a)
                                return -ENOMEM;
                        t->iothread_ids = a;
                        t->iothread_ids[t->n_iothreads++] = (unsigned) id;
                }
                t->iothreadids_listed = t->n_iothreads > 0;
        }
        if (n && t->n_iothreads > count)
                return conf_error_set(err, xml_line(n), "<iothreads> %llu is less than the %zu <iothreadids>",
                                      (unsigned long long) count, t->n_iothreads);
        /* the ones not listed get the lowest free ids, as libvirt */
        for (unsigned id = 1; t->n_iothreads < count; id++) {
                unsigned *a;

                if (domain_tune_has_iothread(t, id))
                        continue;
                a = realloc(t->iothread_ids, (t->n_iothreads + 1) * sizeof(unsigned));
                if (!a)
                        return -ENOMEM;
                t->iothread_ids = a;
                t->iothread_ids[t->n_iothreads++] = id;
        }
        return 0;
}

int domain_tune_parse(DomainDef *def, xmlNode *root, ConfError *err) {
        xmlNode *n;
        int r;

        r = parse_iothreads(&def->tune, root, err);
        if (r < 0)
                return r;

        n = xml_child(root, "cputune");
        if (n && (r = parse_cputune(&def->tune, def->vcpus, n, err)) < 0)
                return r;
        n = xml_child(root, "memtune");
        if (n && (r = parse_memtune(&def->tune, n, err)) < 0)
                return r;
        n = xml_child(root, "blkiotune");
        if (n && (r = parse_blkiotune(&def->tune, n, err)) < 0)
                return r;
        n = xml_child(root, "numatune");
        if (n && (r = parse_numatune(&def->tune, n, err)) < 0)
                return r;
        n = xml_child(root, "perf");
        if (n && (r = parse_perf(&def->tune, n, err)) < 0)
                return r;
        return 0;
}

/* ---- formatting ---- */

void domain_tune_format_memory(GString *s, const DomainTuneDef *t) {
        if (t->blkio_weight || t->n_blkio_devices) {
                g_string_append(s, "  <blkiotune>\n");
                if (t->blkio_weight)
                        g_string_append_printf(s, "    <weight>%u</weight>\n", t->blkio_weight);
                for (size_t i = 0; i < t->n_blkio_devices; i++) {
                        const DomainBlkioDeviceDef *d = &t->blkio_devices[i];
                        const char *names[] = { "read_bytes_sec", "write_bytes_sec", "read_iops_sec", "write_iops_sec" };
                        const uint64_t values[] = { d->read_bytes_sec, d->write_bytes_sec, d->read_iops_sec,
                                                    d->write_iops_sec };

                        g_string_append(s, "    <device>\n      <path>");
                        fmt_escape(s, d->path);
                        g_string_append(s, "</path>\n");
                        if (d->weight)
                                g_string_append_printf(s, "      <weight>%u</weight>\n", d->weight);
                        for (size_t k = 0; k < ELEMENTSOF(names); k++)
                                if (values[k])
                                        g_string_append_printf(s, "      <%s>%llu</%s>\n", names[k],
                                                               (unsigned long long) values[k], names[k]);
                        g_string_append(s, "    </device>\n");
                }
                g_string_append(s, "  </blkiotune>\n");
        }
        if (t->hard_limit_kib || t->soft_limit_kib || t->swap_hard_limit_kib) {
                const char *names[] = { "hard_limit", "soft_limit", "swap_hard_limit" };
                const uint64_t values[] = { t->hard_limit_kib, t->soft_limit_kib, t->swap_hard_limit_kib };

                g_string_append(s, "  <memtune>\n");
                for (size_t k = 0; k < ELEMENTSOF(names); k++)
                        if (values[k])
                                g_string_append_printf(s, "    <%s unit='KiB'>%llu</%s>\n", names[k],
                                                       (unsigned long long) values[k], names[k]);
                g_string_append(s, "  </memtune>\n");
        }
}

void domain_tune_format_cpu(GString *s, const DomainTuneDef *t) {
        if (t->n_iothreads)
                g_string_append_printf(s, "  <iothreads>%zu</iothreads>\n", t->n_iothreads);
        if (t->iothreadids_listed) {
                g_string_append(s, "  <iothreadids>\n");
                for (size_t i = 0; i < t->n_iothreads; i++)
                        g_string_append_printf(s, "    <iothread id='%u'/>\n", t->iothread_ids[i]);
                g_string_append(s, "  </iothreadids>\n");
        }
        if (t->shares || t->period || t->quota || t->global_period || t->global_quota || t->emulator_period ||
            t->emulator_quota || t->n_vcpupins || t->emulatorpin || t->n_iothreadpins) {
                /* libvirt's order */
                const struct { const char *period, *quota; uint64_t p; int64_t q; } pq[] = {
                        { "global_period", "global_quota", t->global_period, t->global_quota },
                        { "period", "quota", t->period, t->quota },
                        { "emulator_period", "emulator_quota", t->emulator_period, t->emulator_quota },
                };
                g_string_append(s, "  <cputune>\n");
                if (t->shares)
                        g_string_append_printf(s, "    <shares>%llu</shares>\n", (unsigned long long) t->shares);
                for (size_t i = 0; i < ELEMENTSOF(pq); i++) {
                        if (pq[i].p)
                                g_string_append_printf(s, "    <%s>%llu</%s>\n", pq[i].period,
                                                       (unsigned long long) pq[i].p, pq[i].period);
                        if (pq[i].q)
                                g_string_append_printf(s, "    <%s>%lld</%s>\n", pq[i].quota, (long long) pq[i].q,
                                                       pq[i].quota);
                }
                for (size_t i = 0; i < t->n_vcpupins; i++)
                        g_string_append_printf(s, "    <vcpupin vcpu='%u' cpuset='%s'/>\n", t->vcpupins[i].vcpu,
                                               t->vcpupins[i].cpuset);
                if (t->emulatorpin)
                        g_string_append_printf(s, "    <emulatorpin cpuset='%s'/>\n", t->emulatorpin);
                for (size_t i = 0; i < t->n_iothreadpins; i++)
                        g_string_append_printf(s, "    <iothreadpin iothread='%u' cpuset='%s'/>\n",
                                               t->iothreadpins[i].iothread, t->iothreadpins[i].cpuset);
                g_string_append(s, "  </cputune>\n");
        }
        if (t->numa_nodeset)
                g_string_append_printf(s, "  <numatune>\n    <memory mode='%s' nodeset='%s'/>\n  </numatune>\n",
                                       t->numa_mode ?: "strict", t->numa_nodeset);
}

/* ---- copy and free ---- */

void domain_tune_clear(DomainTuneDef *t) {
        for (size_t i = 0; i < t->n_vcpupins; i++)
                free(t->vcpupins[i].cpuset);
        free(t->vcpupins);
        for (size_t i = 0; i < t->n_blkio_devices; i++)
                free(t->blkio_devices[i].path);
        free(t->blkio_devices);
        free(t->emulatorpin);
        for (size_t i = 0; i < t->n_iothreadpins; i++)
                free(t->iothreadpins[i].cpuset);
        free(t->iothreadpins);
        free(t->iothread_ids);
        free(t->numa_mode);
        free(t->numa_nodeset);
        *t = (DomainTuneDef) {};
}

int domain_tune_copy(DomainTuneDef *dst, const DomainTuneDef *src) {
        bool oom = false;

        *dst = *src;
        dst->vcpupins = NULL;
        dst->blkio_devices = NULL;
        dst->n_vcpupins = dst->n_blkio_devices = 0;
        dst->iothreadpins = NULL;
        dst->n_iothreadpins = 0;
        dst->iothread_ids = src->n_iothreads ? g_memdup2(src->iothread_ids, src->n_iothreads * sizeof(unsigned)) : NULL;
        dst->emulatorpin = src->emulatorpin ? strdup(src->emulatorpin) : NULL;
        dst->numa_mode = src->numa_mode ? strdup(src->numa_mode) : NULL;
        dst->numa_nodeset = src->numa_nodeset ? strdup(src->numa_nodeset) : NULL;
        oom = (src->emulatorpin && !dst->emulatorpin) || (src->numa_mode && !dst->numa_mode) ||
              (src->numa_nodeset && !dst->numa_nodeset);
        for (size_t i = 0; !oom && i < src->n_vcpupins; i++)
                oom = domain_tune_set_vcpupin(dst, src->vcpupins[i].vcpu, src->vcpupins[i].cpuset) < 0;
        for (size_t i = 0; !oom && i < src->n_iothreadpins; i++)
                oom = domain_tune_set_iothreadpin(dst, src->iothreadpins[i].iothread, src->iothreadpins[i].cpuset) < 0;
        for (size_t i = 0; !oom && i < src->n_blkio_devices; i++) {
                DomainBlkioDeviceDef *d = domain_tune_blkio_device(dst, src->blkio_devices[i].path);
                if (!d) {
                        oom = true;
                        break;
                }
                char *path = d->path;
                *d = src->blkio_devices[i];
                d->path = path;
        }
        return oom ? -ENOMEM : 0;
}
