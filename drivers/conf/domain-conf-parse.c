/* domain-conf-parse.c — domain XML → DomainDef: document safety, the <domain> level, <os>, <cpu>, <clock>, memory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "conf-internal.h"

static const char *const arch_table[] = {
        "x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x", "riscv64", NULL
};

static int parse_text_elem(xmlNode *node, char **ret, ConfError *err) {
        int r = xml_validate(node, &(XmlSpec) { .text = true }, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *t = NULL;
        r = xml_text(node, &t);
        if (r < 0)
                return r;
        free(*ret);
        *ret = TAKE_PTR(t);
        return 0;
}

/* Text content as an unsigned number (surrounding blanks allowed, like libvirt). */
static int parse_uint_elem(xmlNode *node, uint64_t max, uint64_t *ret, ConfError *err) {
        _cleanup_free_ char *t = NULL;
        int r;

        r = xml_text(node, &t);
        if (r < 0)
                return r;
        g_strstrip(t);
        r = conf_parse_u64(t, 10, max, ret);
        if (r == -ERANGE)
                return conf_error_set(err, xml_line(node), "value '%s' of <%s> is out of range (max %llu)",
                                      t, (const char *) node->name, (unsigned long long) max);
        if (r < 0)
                return conf_error_set(err, xml_line(node), "invalid value '%s' of <%s>: not an unsigned number",
                                      t, (const char *) node->name);
        return 0;
}

static int parse_memory_elem(xmlNode *node, const XmlSpec *spec, uint64_t *ret, ConfError *err) {
        _cleanup_free_ char *t = NULL, *unit = NULL;
        int r;

        r = xml_validate(node, spec, err);
        if (r < 0)
                return r;
        r = xml_text(node, &t);
        if (r < 0)
                return r;
        g_strstrip(t);
        unit = xml_attr(node, "unit");
        r = conf_parse_memory_kib(t, unit, ret);
        if (r == -ERANGE)
                return conf_error_set(err, xml_line(node), "value '%s' of <%s> is too large", t, (const char *) node->name);
        if (r < 0 && unit && conf_parse_memory_kib("0", unit, &(uint64_t) { 0 }) < 0)
                return conf_error_set(err, xml_line(node),
                                      "invalid unit '%s' of <%s> (allowed: b, bytes, KB, k, KiB, MB, M, MiB, GB, G, GiB, TB, T, TiB, PB, P, PiB, EB, E, EiB)",
                                      unit, (const char *) node->name);
        if (r < 0)
                return conf_error_set(err, xml_line(node), "invalid value '%s' of <%s>: not an unsigned number",
                                      t, (const char *) node->name);
        return 0;
}

static int parse_lifecycle(xmlNode *node, DomainLifecycleAction *ret, ConfError *err) {
        _cleanup_free_ char *t = NULL;
        int r = parse_text_elem(node, &t, err);
        if (r < 0)
                return r;
        g_strstrip(t);
        r = domain_lifecycle_action_from_string(t);
        if (r < 0) {
                _cleanup_free_ char *allowed = conf_strv_join(domain_lifecycle_action_table);
                return conf_error_set(err, xml_line(node), "invalid value '%s' of <%s> (allowed: %s)",
                                      t, (const char *) node->name, allowed);
        }
        *ret = r;
        return 0;
}

static int parse_os(DomainDef *def, xmlNode *os, ConfError *err) {
        xmlNode *n;
        int r;

        r = xml_validate(os, &(XmlSpec) {
                .attrs = STRV("firmware"),
                .children = STRV("type", "firmware", "loader", "nvram", "kernel", "initrd", "cmdline", "bootmenu"),
                .multi = STRV("boot"),
        }, err);
        if (r < 0)
                return r;

        n = xml_child(os, "type");
        if (!n)
                return conf_error_set(err, xml_line(os), "<os> needs a <type> (hvm)");
        r = xml_validate(n, &(XmlSpec) { .attrs = STRV("arch", "machine"), .text = true }, err);
        if (r < 0)
                return r;
        r = xml_text(n, &def->os_type);
        if (r < 0)
                return r;
        g_strstrip(def->os_type);
        if (!streq(def->os_type, "hvm"))
                return conf_error_set(err, xml_line(n), "invalid OS type '%s' (allowed: hvm)", def->os_type);
        r = xml_attr_enum_str(n, "arch", arch_table, &def->os_arch, err);
        if (r < 0)
                return r;
        r = xml_attr_str(n, "machine", &def->os_machine);
        if (r < 0)
                return r;
        if (def->os_machine && isempty(def->os_machine))
                return conf_error_set(err, xml_line(n), "empty machine type");

        r = conf_parse_os_firmware(def, os, err);
        if (r < 0)
                return r;

        const struct { const char *name; char **field; } texts[] = {
                { "kernel", &def->kernel }, { "initrd", &def->initrd }, { "cmdline", &def->cmdline },
        };
        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                n = xml_child(os, texts[i].name);
                if (n && (r = parse_text_elem(n, texts[i].field, err)) < 0)
                        return r;
        }

        for (n = os->children; n; n = n->next) {
                int dev;
                if (n->type != XML_ELEMENT_NODE || !streq((const char *) n->name, "boot"))
                        continue;
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("dev") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_enum(n, "dev", domain_boot_dev_table, &dev, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(n), "<boot> needs a 'dev' attribute");
                for (size_t i = 0; i < def->n_boot_devs; i++)
                        if (def->boot_devs[i] == (DomainBootDev) dev)
                                return conf_error_set(err, xml_line(n), "boot device '%s' listed twice",
                                                      domain_boot_dev_to_string(dev));
                def->boot_devs[def->n_boot_devs++] = dev; /* ≤ _DOMAIN_BOOT_MAX by the check above */
        }

        n = xml_child(os, "bootmenu");
        if (n) {
                uint64_t t;
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("enable", "timeout") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_bool(n, "enable", false, &def->bootmenu, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(n), "<bootmenu> needs an 'enable' attribute");
                r = xml_attr_uint(n, "timeout", 10, 65535, &t, err);
                if (r < 0)
                        return r;
                if (r > 0)
                        def->bootmenu_timeout = (unsigned) t;
        }
        return 0;
}

/* A <features> child whose one attribute is state='on'|'off': 1 with *ret, or 0 when it has none. */
static int parse_feature_state(xmlNode *n, int *ret, ConfError *err) {
        int r = xml_validate(n, &(XmlSpec) { .attrs = STRV("state") }, err);

        return r < 0 ? r : xml_attr_bool(n, "state", true, ret, err);
}

static int parse_features(DomainDef *def, xmlNode *f, ConfError *err) {
        static const XmlSpec empty = {};
        xmlNode *n;
        int r, v;

        r = xml_validate(f, &(XmlSpec) { .children = STRV("acpi", "apic", "pae", "vmport", "smm") }, err);
        if (r < 0)
                return r;
        const struct { const char *name; bool *field; } flags[] = {
                { "acpi", &def->acpi }, { "apic", &def->apic }, { "pae", &def->pae },
        };
        for (size_t i = 0; i < ELEMENTSOF(flags); i++) {
                n = xml_child(f, flags[i].name);
                if (!n)
                        continue;
                r = xml_validate(n, &empty, err);
                if (r < 0)
                        return r;
                *flags[i].field = true;
        }
        n = xml_child(f, "vmport");
        if (n) {
                r = parse_feature_state(n, &v, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(n), "<vmport> needs a 'state' attribute");
                def->vmport_set = true;
                def->vmport = v;
        }
        n = xml_child(f, "smm");
        if (n) {
                r = parse_feature_state(n, &v, err);
                if (r < 0)
                        return r;
                def->smm = r == 0 || v ? DOMAIN_TRISTATE_YES : DOMAIN_TRISTATE_NO;
        }
        return 0;
}

static int parse_cpu(DomainDef *def, xmlNode *cpu, ConfError *err) {
        xmlNode *n;
        int r, v;

        r = xml_validate(cpu, &(XmlSpec) {
                .attrs = STRV("mode", "match", "check", "migratable"),
                .children = STRV("model", "topology"),
        }, err);
        if (r < 0)
                return r;
        if (xml_attr_enum_str(cpu, "mode", STRV("custom", "host-model", "host-passthrough", "maximum"), &def->cpu_mode, err) < 0 ||
            xml_attr_enum_str(cpu, "match", STRV("minimum", "exact", "strict"), &def->cpu_match, err) < 0 ||
            xml_attr_enum_str(cpu, "check", STRV("none", "partial", "full"), &def->cpu_check, err) < 0)
                return -EINVAL;
        r = xml_attr_bool(cpu, "migratable", true, &v, err);
        if (r < 0)
                return r;
        if (r > 0) {
                def->cpu_migratable_set = true;
                def->cpu_migratable = v;
        }

        n = xml_child(cpu, "model");
        if (n) {
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("fallback"), .text = true }, err);
                if (r < 0)
                        return r;
                r = xml_text(n, &def->cpu_model);
                if (r < 0)
                        return r;
                g_strstrip(def->cpu_model);
                if (isempty(def->cpu_model))
                        return conf_error_set(err, xml_line(n), "empty CPU <model>");
                if (xml_attr_enum_str(n, "fallback", STRV("allow", "forbid"), &def->cpu_model_fallback, err) < 0)
                        return -EINVAL;
        }

        n = xml_child(cpu, "topology");
        if (n) {
                const char *names[] = { "sockets", "dies", "cores", "threads" };
                unsigned *fields[] = { &def->cpu_sockets, &def->cpu_dies, &def->cpu_cores, &def->cpu_threads };
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("sockets", "dies", "cores", "threads") }, err);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                        uint64_t t;
                        r = xml_attr_uint(n, names[i], 10, 4096, &t, err);
                        if (r < 0)
                                return r;
                        if (r == 0 && i != 1)
                                return conf_error_set(err, xml_line(n), "<topology> needs '%s'", names[i]);
                        if (r > 0 && t == 0)
                                return conf_error_set(err, xml_line(n), "<topology> '%s' must be at least 1", names[i]);
                        if (r > 0)
                                *fields[i] = (unsigned) t;
                }
        }
        return 0;
}

static int parse_clock(DomainDef *def, xmlNode *clock, ConfError *err) {
        int r;

        r = xml_validate(clock, &(XmlSpec) { .attrs = STRV("offset"), .multi = STRV("timer") }, err);
        if (r < 0)
                return r;
        if (xml_attr_enum_str(clock, "offset", STRV("utc", "localtime"), &def->clock_offset, err) < 0)
                return -EINVAL;

        for (xmlNode *n = clock->children; n; n = n->next) {
                DomainTimerDef *t;
                int present;

                if (n->type != XML_ELEMENT_NODE)
                        continue;
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("name", "tickpolicy", "present") }, err);
                if (r < 0)
                        return r;
                t = conf_array_append(&def->timers, &def->n_timers, sizeof(DomainTimerDef));
                if (!t)
                        return -ENOMEM;
                t->present = -1;
                r = xml_attr_enum_str(n, "name", STRV("platform", "rtc", "pit", "hpet", "kvmclock", "hypervclock", "tsc"),
                                      &t->name, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(n), "<timer> needs a 'name' attribute");
                for (size_t i = 0; i + 1 < def->n_timers; i++)
                        if (streq(def->timers[i].name, t->name))
                                return conf_error_set(err, xml_line(n), "duplicate <timer name='%s'>", t->name);
                if (xml_attr_enum_str(n, "tickpolicy", STRV("delay", "catchup", "merge", "discard"), &t->tickpolicy, err) < 0)
                        return -EINVAL;
                r = xml_attr_bool(n, "present", false, &present, err);
                if (r < 0)
                        return r;
                if (r > 0)
                        t->present = present;
        }
        return 0;
}

static int parse_pm(DomainDef *def, xmlNode *pm, ConfError *err) {
        int r;

        r = xml_validate(pm, &(XmlSpec) { .children = STRV("suspend-to-mem", "suspend-to-disk") }, err);
        if (r < 0)
                return r;
        const struct { const char *name; int *field; } e[] = {
                { "suspend-to-mem", &def->pm_suspend_to_mem }, { "suspend-to-disk", &def->pm_suspend_to_disk },
        };
        for (size_t i = 0; i < ELEMENTSOF(e); i++) {
                xmlNode *n = xml_child(pm, e[i].name);
                if (!n)
                        continue;
                r = xml_validate(n, &(XmlSpec) { .attrs = STRV("enabled") }, err);
                if (r < 0)
                        return r;
                if (xml_attr_bool(n, "enabled", false, e[i].field, err) < 0)
                        return -EINVAL;
        }
        return 0;
}

static int parse_vcpu(DomainDef *def, xmlNode *n, ConfError *err) {
        uint64_t v, cur;
        int r;

        r = xml_validate(n, &(XmlSpec) { .attrs = STRV("placement", "current"), .text = true }, err);
        if (r < 0)
                return r;
        r = parse_uint_elem(n, 4096, &v, err);
        if (r < 0)
                return r;
        if (v == 0)
                return conf_error_set(err, xml_line(n), "<vcpu> must be at least 1");
        def->vcpus = (unsigned) v;
        if (xml_attr_enum_str(n, "placement", STRV("static", "auto"), &def->vcpu_placement, err) < 0)
                return -EINVAL;
        r = xml_attr_uint(n, "current", 10, 4096, &cur, err);
        if (r < 0)
                return r;
        if (r > 0) {
                if (cur == 0 || cur > v)
                        return conf_error_set(err, xml_line(n), "<vcpu current='%llu'> must be between 1 and %llu",
                                              (unsigned long long) cur, (unsigned long long) v);
                def->current_vcpus = (unsigned) cur;
        }
        return 0;
}

/* <metadata>: each child element (which must be in a namespace) is kept as
 * the exact serialization libxml2 gives it, indented for its place. */
static int parse_metadata(DomainDef *def, xmlNode *md, ConfError *err) {
        GString *s = g_string_new(NULL);
        int r = 0;

        if (md->properties) {
                r = conf_error_set(err, xml_line(md), "unknown attribute '%s' of <metadata>", (const char *) md->properties->name);
                goto out;
        }
        for (xmlNode *c = md->children; c; c = c->next) {
                if (c->type == XML_COMMENT_NODE)
                        continue;
                if (c->type == XML_TEXT_NODE) {
                        for (const xmlChar *t = c->content; t && *t; t++)
                                if (!strchr(" \t\r\n", *t)) {
                                        r = conf_error_set(err, xml_line(md), "unexpected text in <metadata>");
                                        goto out;
                                }
                        continue;
                }
                if (c->type != XML_ELEMENT_NODE || !c->ns || !c->ns->href) {
                        r = conf_error_set(err, xml_line(c), "<metadata> children must be elements in their own XML namespace");
                        goto out;
                }
                xmlDoc *doc = xmlNewDoc((const xmlChar *) "1.0");
                xmlBuffer *buf = xmlBufferCreate();
                xmlNode *copy = doc ? xmlDocCopyNode(c, doc, 1) : NULL;
                if (!buf || !copy) {
                        xmlBufferFree(buf);
                        xmlFreeNode(copy);
                        xmlFreeDoc(doc);
                        r = -ENOMEM;
                        goto out;
                }
                xmlDocSetRootElement(doc, copy);
                xmlReconciliateNs(doc, copy);
                xmlNodeDump(buf, doc, copy, 0, 0);
                g_string_append(s, "    ");
                g_string_append_len(s, (const char *) xmlBufferContent(buf), xmlBufferLength(buf));
                g_string_append_c(s, '\n');
                xmlBufferFree(buf);
                xmlFreeDoc(doc);
        }
        free(def->metadata_xml);
        def->metadata_xml = s->len > 0 ? strdup(s->str) : NULL;
out:
        g_string_free(s, true);
        return r;
}

static const XmlSpec domain_spec = {
        .attrs = STRV("type", "id"),
        .children = STRV("name", "uuid", "title", "description", "metadata", "maxMemory", "memory", "currentMemory",
                         "vcpu", "os", "features", "cpu", "clock", "on_poweroff", "on_reboot", "on_crash", "pm",
                         "devices", "resource", "seclabel", "cputune", "memtune", "blkiotune",
                         "numatune", "perf", "iothreads", "iothreadids"),
};

static int parse_domain(DomainDef *def, xmlNode *root, ConfError *err) {
        xmlNode *n;
        int r, v;
        uint64_t u;

        r = xml_validate(root, &domain_spec, err);
        if (r < 0)
                return r;
        r = xml_attr_enum(root, "type", domain_virt_type_table, &v, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(root), "<domain> needs a 'type' attribute (libvirt's domain types: qemu, kvm, lxc, xen, …)");
        def->virt_type = v;
        r = xml_attr_uint(root, "id", 10, INT32_MAX, &u, err);
        if (r < 0)
                return r;
        if (r > 0)
                def->id = (int) u;

        n = xml_child(root, "name");
        if (!n)
                return conf_error_set(err, xml_line(root), "missing <name> in <domain>");
        r = parse_text_elem(n, &def->name, err);
        if (r < 0)
                return r;
        const char *reason;
        if (conf_name_validate(def->name, &reason) < 0)
                return conf_error_set(err, xml_line(n), "invalid domain name: %s", reason);

        n = xml_child(root, "uuid");
        if (n) {
                _cleanup_free_ char *t = NULL;
                r = parse_text_elem(n, &t, err);
                if (r < 0)
                        return r;
                if (conf_uuid_parse(t, def->uuid) < 0)
                        return conf_error_set(err, xml_line(n), "invalid UUID '%s'", t);
                def->has_uuid = true;
        }

        n = xml_child(root, "title");
        if (n) {
                r = parse_text_elem(n, &def->title, err);
                if (r < 0)
                        return r;
                if (strchr(def->title, '\n'))
                        return conf_error_set(err, xml_line(n), "<title> must not contain newlines");
        }
        n = xml_child(root, "description");
        if (n && (r = parse_text_elem(n, &def->description, err)) < 0)
                return r;
        n = xml_child(root, "metadata");
        if (n && (r = parse_metadata(def, n, err)) < 0)
                return r;

        n = xml_child(root, "memory");
        if (!n)
                return conf_error_set(err, xml_line(root), "missing <memory> in <domain>");
        r = parse_memory_elem(n, &(XmlSpec) { .attrs = STRV("unit"), .text = true }, &def->memory_kib, err);
        if (r < 0)
                return r;
        if (def->memory_kib == 0)
                return conf_error_set(err, xml_line(n), "<memory> must be larger than 0");
        n = xml_child(root, "currentMemory");
        if (n) {
                r = parse_memory_elem(n, &(XmlSpec) { .attrs = STRV("unit"), .text = true }, &def->current_memory_kib, err);
                if (r < 0)
                        return r;
                if (def->current_memory_kib == 0 || def->current_memory_kib > def->memory_kib)
                        return conf_error_set(err, xml_line(n), "<currentMemory> must be between 1 KiB and <memory>");
        }
        n = xml_child(root, "maxMemory");
        if (n) {
                r = parse_memory_elem(n, &(XmlSpec) { .attrs = STRV("unit", "slots"), .text = true }, &def->max_memory_kib, err);
                if (r < 0)
                        return r;
                r = xml_attr_uint(n, "slots", 10, 255, &u, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(n), "<maxMemory> needs a 'slots' attribute");
                def->max_memory_slots = (unsigned) u;
                if (def->max_memory_kib < def->memory_kib)
                        return conf_error_set(err, xml_line(n), "<maxMemory> must not be smaller than <memory>");
        }

        n = xml_child(root, "vcpu");
        if (n) {
                r = parse_vcpu(def, n, err);
                if (r < 0)
                        return r;
        } else
                def->vcpus = 1;
        r = domain_tune_parse(def, root, err);
        if (r < 0)
                return r;

        n = xml_child(root, "os");
        if (!n)
                return conf_error_set(err, xml_line(root), "missing <os> in <domain>");
        r = parse_os(def, n, err);
        if (r < 0)
                return r;

        n = xml_child(root, "features");
        if (n && (r = parse_features(def, n, err)) < 0)
                return r;
        n = xml_child(root, "cpu");
        if (n && (r = parse_cpu(def, n, err)) < 0)
                return r;
        n = xml_child(root, "clock");
        if (n && (r = parse_clock(def, n, err)) < 0)
                return r;

        const struct { const char *name; DomainLifecycleAction *field; } lc[] = {
                { "on_poweroff", &def->on_poweroff }, { "on_reboot", &def->on_reboot }, { "on_crash", &def->on_crash },
        };
        for (size_t i = 0; i < ELEMENTSOF(lc); i++) {
                n = xml_child(root, lc[i].name);
                if (n && (r = parse_lifecycle(n, lc[i].field, err)) < 0)
                        return r;
        }

        n = xml_child(root, "pm");
        if (n && (r = parse_pm(def, n, err)) < 0)
                return r;
        n = xml_child(root, "devices");
        if (n && (r = domain_devices_parse(def, n, err)) < 0)
                return r;

        /* <resource> and <seclabel> are libvirt runtime data (cgroup partition,
         * security labels) found in `virsh dumpxml`; vmgmt has no use for them. */
        return 0;
}

int domain_def_parse(const char *xml, size_t len, DomainDef **ret, ConfError *err) {
        xmlDoc *doc = NULL;
        DomainDef *def = NULL;
        int r;

        r = conf_xml_read(xml, len, DOMAIN_XML_MAX_SIZE, "domain", "domain", &doc, err);
        if (r < 0)
                return r;
        def = domain_def_new();
        if (!def) {
                r = -ENOMEM;
                goto out;
        }
        r = parse_domain(def, xmlDocGetRootElement(doc), err);
        if (r < 0)
                goto out;
        *ret = TAKE_PTR(def);
        r = 0;
out:
        domain_def_free(def);
        xmlFreeDoc(doc);
        return r;
}
