/* vmgmtctl-domain.c — vmgmtctl's changing verbs: define, create, undefine, the lifecycle verbs, autostart. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "vmgmtctl.h"

/* The name of the domain at path, for messages; falls back to the path itself. */
static char *domain_display_name(Context *c, const char *path) {
        char *name = NULL;
        DomainInfo i = {};

        if (domain_path_to_name(path, &name) >= 0)
                return name;
        if (domain_info_get(c, path, &i) >= 0 && i.name) {
                name = TAKE_PTR(i.name);
                domain_info_done(&i);
                return name;
        }
        domain_info_done(&i);
        return strdup(path);
}

/* DefineDomain or CreateDomain with the XML of a file; returns the new object's path. */
static int manager_call_with_xml(Context *c, const char *member, const char *file, bool paused, char **ret_path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *xml = NULL;
        int r;

        r = ctl_read_file(file, &xml);
        if (r < 0)
                return r;
        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, member, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", xml);
        if (r >= 0)
                r = ctl_append_flags(m, "paused", paused, (const char *) NULL);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        return ctl_reply_read_path(reply, member, ret_path);
}

/* define, create: the domain from the XML in a file, then virsh's line. */
static int domain_from_file(Context *c, VerbArgs *a, const char *member, bool paused, const char *done) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        int r;

        r = manager_call_with_xml(c, member, a->args[0], paused, &path);
        if (r < 0)
                return r;
        name = domain_display_name(c, path);
        ctl_info("Domain '%s' %s from %s", strempty(name), done, a->args[0]);
        return 0;
}

int verb_define(Context *c, VerbArgs *a) {
        return domain_from_file(c, a, "DefineDomain", false, "defined");
}

int verb_create(Context *c, VerbArgs *a) {
        return domain_from_file(c, a, "CreateDomain", verb_flag(a, "paused"), "created");
}

/* A disk of the inactive definition whose volume undefine --storage/--remove-all-storage deletes. */
typedef struct UndefineDisk {
        char *target;      /* "vda" */
        char *source;      /* the file or device path; NULL for type='volume' */
        char *pool, *volume;
} UndefineDisk;

static char *xml_attr(xmlNodePtr n, const char *name) {
        xmlChar *v = xmlGetProp(n, BAD_CAST name);
        char *s = v ? strdup((const char *) v) : NULL;

        xmlFree(v);
        return s;
}

/* The disks (not cdroms: virsh leaves those) of an XML definition. */
static int undefine_disks(const char *xml, UndefineDisk **ret, size_t *ret_n) {
        xmlDocPtr doc = xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        UndefineDisk *l = NULL;
        size_t n = 0;

        if (!doc)
                return ctl_error(-EBADMSG, "Cannot read the domain's XML.");
        for (xmlNodePtr devs = xmlDocGetRootElement(doc)->children; devs; devs = devs->next) {
                if (devs->type != XML_ELEMENT_NODE || !xmlStrEqual(devs->name, BAD_CAST "devices"))
                        continue;
                for (xmlNodePtr d = devs->children; d; d = d->next) {
                        _cleanup_free_ char *device = NULL;
                        UndefineDisk u = {};

                        if (d->type != XML_ELEMENT_NODE || !xmlStrEqual(d->name, BAD_CAST "disk"))
                                continue;
                        device = xml_attr(d, "device");
                        if (device && !streq(device, "disk"))
                                continue;
                        for (xmlNodePtr c = d->children; c; c = c->next) {
                                if (c->type != XML_ELEMENT_NODE)
                                        continue;
                                if (xmlStrEqual(c->name, BAD_CAST "target"))
                                        u.target = xml_attr(c, "dev");
                                else if (xmlStrEqual(c->name, BAD_CAST "source")) {
                                        u.source = xml_attr(c, "file") ?: xml_attr(c, "dev");
                                        u.pool = xml_attr(c, "pool");
                                        u.volume = xml_attr(c, "volume");
                                }
                        }
                        l = realloc(l, (n + 1) * sizeof(UndefineDisk));
                        if (!l)
                                abort();
                        l[n++] = u;
                }
        }
        xmlFreeDoc(doc);
        *ret = l;
        *ret_n = n;
        return 0;
}

static void undefine_disks_free(UndefineDisk *l, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(l[i].target);
                free(l[i].source);
                free(l[i].pool);
                free(l[i].volume);
        }
        free(l);
}

/* The pool volume of disk u, or NULL (not in any pool). */
static char *undefine_disk_volume(Context *c, const UndefineDisk *u) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *path;
        int r;

        if (u->pool && u->volume) {
                _cleanup_free_ char *pool = NULL;
                if (ctl_manager_call_path(c, "GetPool", u->pool, false, &pool) < 0)
                        return NULL;
                r = sd_bus_call_method(c->bus, VMGMT_BUS_NAME, pool, "org.vmgmt.StoragePool", "GetVolume", &error,
                                       &reply, "s", u->volume);
        } else if (u->source)
                r = sd_bus_call_method(c->bus, VMGMT_BUS_NAME, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE,
                                       "GetVolumeByPath", &error, &reply, "s", u->source);
        else
                return NULL;
        if (r < 0 || sd_bus_message_read(reply, "o", &path) < 0)
                return NULL;
        return strdup(path);
}

static bool undefine_selected(const char *list, const UndefineDisk *u) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        if (!list)
                return true;   /* --remove-all-storage */
        for (const char *p = list; *p;) {
                size_t k = strcspn(p, ",");
                l = realloc(l, (n + 2) * sizeof(char *));
                if (!l)
                        abort();
                l[n++] = strndup(p, k);
                l[n] = NULL;
                p += k;
                if (*p == ',')
                        p++;
        }
        for (size_t i = 0; l && l[i]; i++)
                if (streq_ptr(l[i], u->target) || streq_ptr(l[i], u->source))
                        return true;
        return false;
}

int verb_undefine(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL, *xml = NULL, *state = NULL;
        const char *storage = verb_value(a, "storage");
        bool remove_all = verb_flag(a, "remove-all-storage");
        UndefineDisk *disks = NULL;
        size_t n_disks = 0;
        int r, failed = 0;

        if (remove_all && storage)
                return ctl_error(-EINVAL, "--remove-all-storage and --storage exclude each other.");
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        if (remove_all || storage) {
                /* what the disks are, before the definition is gone; never under a running guest */
                r = storage_get_string(c, path, VMGMT_DOMAIN_IFACE, "State", &state);
                if (r < 0)
                        return r;
                if (!streq(state, "shutoff"))
                        return ctl_error(-EBUSY, "Domain '%s' is %s: its storage cannot be removed while it runs.",
                                         name, state);
                r = domain_get_xml(c, path, true, false, &xml);
                if (r >= 0)
                        r = undefine_disks(xml, &disks, &n_disks);
                if (r < 0)
                        return r;
                for (const char *p = storage; p && *p;) {
                        size_t k = strcspn(p, ",");
                        bool found = false;
                        for (size_t i = 0; i < n_disks; i++)
                                if ((disks[i].target && strlen(disks[i].target) == k && !strncmp(disks[i].target, p, k)) ||
                                    (disks[i].source && strlen(disks[i].source) == k && !strncmp(disks[i].source, p, k)))
                                        found = true;
                        if (!found) {
                                undefine_disks_free(disks, n_disks);
                                return ctl_error(-EINVAL, "Domain '%s' has no disk '%.*s'.", name, (int) k, p);
                        }
                        p += k;
                        if (*p == ',')
                                p++;
                }
        }
        r = ctl_domain_call(c, path, "Undefine",
                            "managed_save", verb_flag(a, "managed-save"),
                            "snapshots", verb_flag(a, "snapshots-metadata"),
                            "nvram", verb_flag(a, "nvram"),
                            "keep_nvram", verb_flag(a, "keep-nvram"),
                            "keep_tpm", verb_flag(a, "keep-tpm"),
                            (const char *) NULL);
        if (r < 0) {
                undefine_disks_free(disks, n_disks);
                return r;
        }
        ctl_info("Domain '%s' has been undefined", name);
        for (size_t i = 0; i < n_disks; i++) {
                _cleanup_free_ char *vol = NULL;
                const char *what = disks[i].source ?: strempty(disks[i].volume);

                if (!undefine_selected(storage, &disks[i]))
                        continue;
                vol = undefine_disk_volume(c, &disks[i]);
                if (!vol) {
                        /* as virsh: only volumes of a pool are vmgmt's to delete */
                        fprintf(stderr, "warning: '%s' (%s) is not a volume of any active pool: left alone\n", what,
                                strempty(disks[i].target));
                        continue;
                }
                if (ctl_object_call(c, vol, "org.vmgmt.StorageVolume", "Delete", (const char *) NULL) < 0) {
                        failed = -EIO;
                        continue;
                }
                ctl_info("Volume '%s'(%s) removed.", strempty(disks[i].target), what);
        }
        undefine_disks_free(disks, n_disks);
        return failed;
}

typedef struct LifecycleVerb {
        const char *verb;
        const char *method;
        const char *flag;       /* the one boolean option this verb passes, or NULL */
        const char *done;       /* the success message: "Domain 'NAME' <done>" */
} LifecycleVerb;

static const LifecycleVerb lifecycle_verbs[] = {
        { "start", "Start", "paused", "started" },
        { "shutdown", "Shutdown", NULL, "is being shutdown" },
        { "destroy", "Destroy", "graceful", "destroyed" },
        { "reboot", "Reboot", NULL, "is being rebooted" },
        { "reset", "Reset", NULL, "was reset" },
        { "suspend", "Suspend", NULL, "suspended" },
        { "resume", "Resume", NULL, "resumed" },
};

int verb_lifecycle(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        const LifecycleVerb *v = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(lifecycle_verbs); i++)
                if (streq(lifecycle_verbs[i].verb, a->verb))
                        v = &lifecycle_verbs[i];
        if (!v)
                return ctl_error(-EINVAL, "Unknown command '%s'.", a->verb);

        /* virsh's --mode: vmgmt asks guests with the ACPI power button only */
        if (verb_value(a, "mode") && !streq(verb_value(a, "mode"), "acpi"))
                return ctl_error(-EOPNOTSUPP, "Not supported: --mode %s (vmgmt %s guests with ACPI only: --mode acpi).",
                                 verb_value(a, "mode"), streq(a->verb, "reboot") ? "reboots" : "shuts down");
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        if (streq(v->verb, "start"))   /* bypass_cache: a managed save image is read O_DIRECT */
                r = ctl_domain_call(c, path, v->method, v->flag, verb_flag(a, v->flag), "bypass_cache",
                                    verb_flag(a, "bypass-cache"), "reset_nvram", verb_flag(a, "reset-nvram"),
                                    (const char *) NULL);
        else if (v->flag)
                r = ctl_domain_call(c, path, v->method, v->flag, verb_flag(a, v->flag), (const char *) NULL);
        else
                r = ctl_domain_call(c, path, v->method, (const char *) NULL);
        if (r < 0)
                return r;
        ctl_info("Domain '%s' %s", name, v->done);
        return 0;
}

int verb_autostart(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL;
        bool enable = !verb_flag(a, "disable");
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_new_call(c, path, "org.freedesktop.DBus.Properties", "Set", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ssv", VMGMT_DOMAIN_IFACE, "Autostart", "b", (int) enable);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, NULL);
        if (r < 0)
                return r;
        ctl_info("Domain '%s' %s as autostarted", name, enable ? "marked" : "unmarked");
        return 0;
}
