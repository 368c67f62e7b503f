/* vmgmtctl-domain.c — vmgmtctl's changing verbs: define, create, undefine, the lifecycle verbs, autostart. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
        printf("Domain '%s' %s from %s\n", strempty(name), done, a->args[0]);
        return 0;
}

int verb_define(Context *c, VerbArgs *a) {
        return domain_from_file(c, a, "DefineDomain", false, "defined");
}

int verb_create(Context *c, VerbArgs *a) {
        return domain_from_file(c, a, "CreateDomain", verb_flag(a, "paused"), "created");
}

int verb_undefine(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_domain_call(c, path, "Undefine",
                            "managed_save", verb_flag(a, "managed-save"),
                            "snapshots", verb_flag(a, "snapshots-metadata"),
                            (const char *) NULL);
        if (r < 0)
                return r;
        printf("Domain '%s' has been undefined\n", name);
        return 0;
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

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        if (v->flag)
                r = ctl_domain_call(c, path, v->method, v->flag, verb_flag(a, v->flag), (const char *) NULL);
        else
                r = ctl_domain_call(c, path, v->method, (const char *) NULL);
        if (r < 0)
                return r;
        printf("Domain '%s' %s\n", name, v->done);
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
        printf("Domain '%s' %s as autostarted\n", name, enable ? "marked" : "unmarked");
        return 0;
}
