/* vmgmtctl-info.c — vmgmtctl's read-only verbs: list, dominfo, domstate, domid, domuuid, domname, dumpxml. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "vmgmtctl.h"

static int domain_info_compare(const void *a, const void *b) {
        const DomainInfo *x = a, *y = b;

        /* As virsh: running domains by Id first, then the inactive ones by name. */
        if ((x->id == 0) != (y->id == 0))
                return x->id == 0 ? 1 : -1;
        if (x->id != y->id)
                return x->id < y->id ? -1 : 1;
        return strcmp(strempty(x->name), strempty(y->name));
}

static void list_print_json(Context *c, const DomainInfo *list, size_t n, bool title) {
        JsonWriter w;

        json_writer_init(&w, stdout, c->json);
        json_begin_array(&w);
        for (size_t i = 0; i < n; i++) {
                json_begin_object(&w);
                json_member_string(&w, "name", list[i].name);
                json_member_string(&w, "uuid", list[i].uuid);
                json_member_unsigned(&w, "id", list[i].id);
                json_member_string(&w, "state", list[i].state);
                if (title)
                        json_member_string(&w, "title", strempty(list[i].title));
                json_end_object(&w);
        }
        json_end_array(&w);
}

static int list_print_table(const DomainInfo *list, size_t n, bool title) {
        static const char *const header[] = { "Id", "Name", "State", "Title" };
        _cleanup_(table_freep) Table *t = table_new(title ? 4 : 3, header);

        if (!t)
                return ctl_error(-ENOMEM, "Out of memory.");
        for (size_t i = 0; i < n; i++) {
                char id[16] = "-";
                const char *row[4] = { id, list[i].name, format_state(list[i].state), strempty(list[i].title) };

                if (list[i].id > 0)
                        snprintf(id, sizeof(id), "%" PRIu32, list[i].id);
                if (table_add_row(t, row) < 0)
                        return ctl_error(-ENOMEM, "Out of memory.");
        }
        table_print(t, stdout, true);
        return 0;
}

/* A pair of opposite filter flags: both or neither given means no filter. */
static bool list_filter_pair(const VerbArgs *a, const char *yes, const char *no, bool value) {
        bool y = verb_flag(a, yes), n = verb_flag(a, no);

        return y == n || (y ? value : !value);
}

/* Whether virsh's `list` filters keep domain i. Without a --state-* flag the
 * choice is active (default), inactive (--inactive) or both (--all). */
static bool list_filter(const VerbArgs *a, const DomainInfo *i) {
        bool running = verb_flag(a, "state-running"), paused = verb_flag(a, "state-paused");
        bool shutoff = verb_flag(a, "state-shutoff"), other = verb_flag(a, "state-other");
        bool active = i->id > 0;
        const char *state = strempty(i->state);

        if (running || paused || shutoff || other) {
                bool is_running = streq(state, "running"), is_paused = streq(state, "paused");
                bool is_shutoff = streq(state, "shutoff");

                if (!((running && is_running) || (paused && is_paused) || (shutoff && is_shutoff) ||
                      (other && !is_running && !is_paused && !is_shutoff)))
                        return false;
        } else if (verb_flag(a, "all"))
                ;
        else if (verb_flag(a, "inactive") ? active : !active)
                return false;

        return list_filter_pair(a, "persistent", "transient", i->persistent) &&
               list_filter_pair(a, "autostart", "no-autostart", i->autostart);
}

int verb_list(Context *c, VerbArgs *a) {
        bool names = verb_flag(a, "name"), uuids = verb_flag(a, "uuid"), title = verb_flag(a, "title");
        DomainInfo *list = NULL;
        size_t n = 0, kept = 0;
        int r;

        r = domain_info_get_all(c, &list, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (list_filter(a, &list[i])) {
                        DomainInfo tmp = list[kept];
                        list[kept++] = list[i];
                        list[i] = tmp;
                }
        if (kept > 1)
                qsort(list, kept, sizeof(DomainInfo), domain_info_compare);

        r = 0;
        if (c->json != JSON_FORMAT_OFF)
                list_print_json(c, list, kept, title);
        else if (names || uuids)
                for (size_t i = 0; i < kept; i++) {
                        if (names && uuids)
                                printf("%-36s %s\n", strempty(list[i].uuid), strempty(list[i].name));
                        else
                                printf("%s\n", strempty(names ? list[i].name : list[i].uuid));
                }
        else
                r = list_print_table(list, kept, title);
        domain_info_array_free(list, n);
        return r;
}

int domain_get_xml(Context *c, const char *path, bool inactive, bool secure, char **ret) {
        return ctl_get_xml(c, path, VMGMT_DOMAIN_IFACE, inactive, secure, ret);
}

/* dumpxml --xpath EXPR [--wrap], as virsh: every node the expression selects
 * on a line of its own (attributes and text as their value), or a number,
 * string or boolean result as it is; --wrap puts selected nodes into one
 * <nodes> element. */
static void xml_error_quiet(void *userdata, const xmlError *e) {
        /* reported as one "error: Invalid XPath expression" line instead */
}

int ctl_print_xpath(const char *xml, const char *expr, bool wrap) {
        xmlDocPtr doc = xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        xmlXPathContextPtr ctx = NULL;
        xmlXPathObjectPtr res = NULL;
        int r = 0;

        if (!doc)
                return ctl_error(-EBADMSG, "Cannot read the XML.");
        xmlSetStructuredErrorFunc(NULL, (xmlStructuredErrorFunc) xml_error_quiet);
        ctx = xmlXPathNewContext(doc);
        if (ctx)
                res = xmlXPathEvalExpression(BAD_CAST expr, ctx);
        if (!res) {
                r = ctl_error(-EINVAL, "Invalid XPath expression '%s'.", expr);
                goto finish;
        }
        switch (res->type) {
        case XPATH_NODESET: {
                xmlBufferPtr buf = xmlBufferCreate();
                int n = res->nodesetval ? res->nodesetval->nodeNr : 0;

                if (n == 0) {
                        r = ctl_error(-ENOENT, "No match for XPath expression '%s'.", expr);
                        xmlBufferFree(buf);
                        goto finish;
                }
                if (wrap)
                        printf("<nodes>\n");
                for (int i = 0; i < n; i++) {
                        xmlNodePtr node = res->nodesetval->nodeTab[i];

                        if (node->type == XML_ATTRIBUTE_NODE || node->type == XML_TEXT_NODE) {
                                xmlChar *v = xmlNodeGetContent(node);
                                printf("%s\n", v ? (const char *) v : "");
                                xmlFree(v);
                                continue;
                        }
                        xmlBufferEmpty(buf);
                        xmlNodeDump(buf, doc, node, wrap ? 1 : 0, 1);
                        printf("%s%s\n", wrap ? "  " : "", (const char *) xmlBufferContent(buf));
                }
                if (wrap)
                        printf("</nodes>\n");
                xmlBufferFree(buf);
                break;
        }
        case XPATH_BOOLEAN:
                printf("%s\n", res->boolval ? "true" : "false");
                break;
        case XPATH_NUMBER:
                printf("%g\n", res->floatval);
                break;
        case XPATH_STRING:
                printf("%s\n", res->stringval ? (const char *) res->stringval : "");
                break;
        default:
                r = ctl_error(-EINVAL, "XPath expression '%s' gives nothing printable.", expr);
        }
finish:
        xmlXPathFreeObject(res);
        xmlXPathFreeContext(ctx);
        xmlFreeDoc(doc);
        return r;
}

int verb_dumpxml(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *xml = NULL;
        size_t len;
        int r;

        r = domain_resolve(c, a->args[0], &path, NULL);
        if (r < 0)
                return r;
        r = domain_get_xml(c, path, verb_flag(a, "inactive"), verb_flag(a, "security-info"), &xml);
        if (r < 0)
                return r;
        if (verb_value(a, "xpath"))
                return ctl_print_xpath(xml, verb_value(a, "xpath"), verb_flag(a, "wrap"));
        if (verb_flag(a, "wrap"))
                return ctl_error(-EINVAL, "--wrap needs --xpath.");
        len = strlen(xml);
        fputs(xml, stdout);
        if (len == 0 || xml[len - 1] != '\n')
                fputc('\n', stdout);
        return 0;
}

/* The text of <domain><os><type>, or NULL. */
static char *xml_os_type(const char *xml) {
        xmlDocPtr doc;
        char *r = NULL;

        doc = xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc)
                return NULL;
        for (xmlNodePtr os = xmlDocGetRootElement(doc)->children; os; os = os->next) {
                if (os->type != XML_ELEMENT_NODE || !xmlStrEqual(os->name, BAD_CAST "os"))
                        continue;
                for (xmlNodePtr t = os->children; t; t = t->next)
                        if (t->type == XML_ELEMENT_NODE && xmlStrEqual(t->name, BAD_CAST "type")) {
                                xmlChar *s = xmlNodeGetContent(t);

                                if (s) {
                                        r = strdup((const char *) s);
                                        xmlFree(s);
                                }
                                break;
                        }
                break;
        }
        xmlFreeDoc(doc);
        return r;
}

/* CPU time of a running domain from GetStats; 0 if the service does not tell. */
static uint64_t domain_cpu_time_ns(Context *c, const char *path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t v = 0;
        int r;

        r = sd_bus_call_method(c->bus, VMGMT_BUS_NAME, path, VMGMT_DOMAIN_IFACE, "GetStats", &error, &reply, "a{sv}", 0);
        if (r < 0)
                return 0;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key;

                r = sd_bus_message_read_basic(reply, 's', &key);
                if (r < 0)
                        break;
                if (streq(key, "cpu_time_ns") && sd_bus_message_read(reply, "v", "t", &v) >= 0)
                        break;
                r = sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        return v;
}

/* "vmgmt (uid N)" like virsh's "selinux": the model, and the uid while it runs (malloc'd). */
static char *security_model_text(const DomainInfo *i) {
        const char *model = isempty(i->security_model) ? "none" : i->security_model;
        unsigned uid;
        char *s;

        if (i->security_label && sscanf(i->security_label, "uid %u", &uid) == 1) {
                if (asprintf(&s, "%s (uid %u)", model, uid) < 0)
                        return NULL;
                return s;
        }
        return strdup(model);
}

int verb_dominfo(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *xml = NULL, *os_type = NULL, *security = NULL;
        DomainInfo i = {};
        uint64_t cpu_ns = 0;
        char id[16] = "-";
        int r;

        r = domain_resolve(c, a->args[0], &path, NULL);
        if (r < 0)
                return r;
        r = domain_info_get(c, path, &i);
        if (r < 0)
                return r;
        if (domain_get_xml(c, path, false, false, &xml) >= 0)
                os_type = xml_os_type(xml);
        if (i.id > 0) {
                snprintf(id, sizeof(id), "%" PRIu32, i.id);
                cpu_ns = domain_cpu_time_ns(c, path);
        }
        security = security_model_text(&i);

        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                json_member_unsigned(&w, "id", i.id);
                json_member_string(&w, "name", i.name);
                json_member_string(&w, "uuid", i.uuid);
                json_member_string(&w, "os_type", os_type);
                json_member_string(&w, "state", i.state);
                json_member_string(&w, "state_reason", i.state_reason);
                json_member_unsigned(&w, "vcpus", i.vcpus);
                if (cpu_ns > 0)
                        json_member_unsigned(&w, "cpu_time_ns", cpu_ns);
                json_member_unsigned(&w, "max_memory_kib", i.max_memory_kib);
                json_member_unsigned(&w, "memory_kib", i.memory_kib);
                json_member_bool(&w, "persistent", i.persistent);
                json_member_bool(&w, "autostart", i.autostart);
                json_member_bool(&w, "managed_save", i.has_managed_save);
                json_member_string(&w, "title", i.title);
                json_member_unsigned(&w, "generation", i.generation);
                json_member_string(&w, "security_model", i.security_model ?: "none");
                json_member_string(&w, "security_label", strempty(i.security_label));
                json_end_object(&w);
        } else {
                printf("%-15s %s\n", "Id:", id);
                printf("%-15s %s\n", "Name:", strempty(i.name));
                printf("%-15s %s\n", "UUID:", strempty(i.uuid));
                printf("%-15s %s\n", "OS Type:", os_type ?: "hvm");
                printf("%-15s %s\n", "State:", format_state(i.state));
                printf("%-15s %" PRIu32 "\n", "CPU(s):", i.vcpus);
                if (cpu_ns > 0)
                        printf("%-15s %.1fs\n", "CPU time:", (double) cpu_ns / 1e9);
                printf("%-15s %" PRIu64 " KiB\n", "Max memory:", i.max_memory_kib);
                printf("%-15s %" PRIu64 " KiB\n", "Used memory:", i.memory_kib);
                printf("%-15s %s\n", "Persistent:", i.persistent ? "yes" : "no");
                printf("%-15s %s\n", "Autostart:", i.autostart ? "enable" : "disable");
                printf("%-15s %s\n", "Managed save:", i.has_managed_save ? "yes" : "no");
                printf("%-15s %s\n", "Security model:", security ?: "none");
                printf("%-15s %s\n", "Security DOI:", "0");
                if (!isempty(i.security_label))
                        printf("%-15s %s\n", "Security label:", i.security_label);
        }
        domain_info_done(&i);
        return 0;
}

int verb_domstate(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *reason = NULL;
        DomainInfo i = {};
        int r;

        r = domain_resolve(c, a->args[0], &path, NULL);
        if (r < 0)
                return r;
        r = domain_info_get(c, path, &i);
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                json_member_string(&w, "state", i.state);
                json_member_string(&w, "reason", i.state_reason);
                json_end_object(&w);
        } else if (verb_flag(a, "reason")) {
                reason = format_state_reason(i.state_reason);
                if (!reason)
                        r = ctl_error(-ENOMEM, "Out of memory.");
                else
                        printf("%s (%s)\n", format_state(i.state), reason);
        } else
                printf("%s\n", format_state(i.state));
        domain_info_done(&i);
        return r;
}

/* domid, domuuid and domname: one property of a domain named any way. */
static int domain_print_one(Context *c, VerbArgs *a, const char *what) {
        _cleanup_free_ char *path = NULL;
        DomainInfo i = {};
        char id[16] = "-";
        const char *v;
        int r;

        r = domain_resolve(c, a->args[0], &path, NULL);
        if (r < 0)
                return r;
        r = domain_info_get(c, path, &i);
        if (r < 0)
                return r;
        if (i.id > 0)
                snprintf(id, sizeof(id), "%" PRIu32, i.id);
        v = streq(what, "id") ? id : streq(what, "uuid") ? i.uuid : i.name;
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                if (streq(what, "id"))
                        json_member_unsigned(&w, what, i.id);
                else
                        json_member_string(&w, what, v);
                json_end_object(&w);
        } else
                printf("%s\n", strempty(v));
        domain_info_done(&i);
        return 0;
}

int verb_domid(Context *c, VerbArgs *a) {
        return domain_print_one(c, a, "id");
}

int verb_domuuid(Context *c, VerbArgs *a) {
        return domain_print_one(c, a, "uuid");
}

int verb_domname(Context *c, VerbArgs *a) {
        return domain_print_one(c, a, "name");
}
