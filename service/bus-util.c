/* bus-util.c — error mapping, a{sv} option parsing, caller credentials and GetManagedObjects entries. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <glib.h>

#include "bus-util.h"
#include "macro.h"

static const BusOption *option_find(const BusOption *table, const char *key) {
        for (const BusOption *o = table; o && o->key; o++)
                if (streq(o->key, key))
                        return o;
        return NULL;
}

static int option_read_value(sd_bus_message *m, const BusOption *o) {
        switch (o->type[0]) {
        case 'b': {
                int b;
                int r = sd_bus_message_read_basic(m, 'b', &b);
                if (r < 0)
                        return r;
                *(bool *) o->ret = b;
                return 0;
        }
        case 't':
                return sd_bus_message_read_basic(m, 't', o->ret);
        case 'u':
                return sd_bus_message_read_basic(m, 'u', o->ret);
        case 'x':
                return sd_bus_message_read_basic(m, 'x', o->ret);
        case 's':
        case 'o':
                return sd_bus_message_read_basic(m, o->type[0], o->ret);
        default:
                return -EINVAL;
        }
}

int bus_options_parse(sd_bus_message *m, const BusOption *table, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const BusOption *o;
                const char *key, *contents;
                char type;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read_basic(m, 's', &key);
                if (r < 0)
                        return r;
                o = option_find(table, key);
                if (!o)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown option '%s'", key);
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (!streq(contents, o->type))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option '%s' must be of type '%s', not '%s'", key, o->type, contents);
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r < 0)
                        return r;
                r = option_read_value(m, o);
                if (r < 0)
                        return r;
                if (o->seen)
                        *o->seen = true;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

/* The one errno → bus error table (API.md "Errors"): every kind of object,
 * every driver. */
static const char *bus_error_name_from_errno(int r) {
        switch (r) {
        case -EOPNOTSUPP:
                return VM_ERROR_NOT_SUPPORTED;
        case -EINVAL:
                return SD_BUS_ERROR_INVALID_ARGS;
        case -EEXIST:
                return VM_ERROR_ALREADY_EXISTS;
        case -EBUSY:
                return VM_ERROR_BUSY;
        case -EALREADY:
        case -ENOTCONN:
        case -ESRCH:
        case -ENOTEMPTY:
                return VM_ERROR_INVALID_STATE;
        case -ECANCELED:
                return VM_ERROR_CANCELLED;
        case -EACCES:   /* a file the caller cannot open (vmgmtd opens them with the caller's rights) */
                return SD_BUS_ERROR_ACCESS_DENIED;
        case -EKEYREJECTED:   /* a definition names a secret vmgmt does not have (domain-disk-secrets.h) */
                return "org.vmgmt.Error.NoSuchSecret";
        case -ENOKEY:   /* polkit would ask a password the call did not allow it to ask for */
                return SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED;
        default:
                return VM_ERROR_OPERATION_FAILED;
        }
}

int bus_error_from_errno(sd_bus_error *error, int r, const char *message, const char *what) {
        if (r >= 0)
                r = -EIO;
        if (isempty(message))
                message = r == -ENOTCONN || r == -ESRCH ? "it is not running" : strerror(-r);
        sd_bus_error_setf(error, bus_error_name_from_errno(r), "%s: %s", what, message);
        return r;
}

/* ---- credentials cache ---- */

#define CREDS_CACHE_MAX 512u

typedef struct CachedCreds {
        uid_t uid;
        pid_t pid;
        GArray *groups;          /* gid_t; NULL: not known (the bus was not asked for them) */
} CachedCreds;

struct BusCredsCache {
        GHashTable *by_sender;   /* unique name → CachedCreds */
};

static void cached_creds_free(gpointer p) {
        CachedCreds *cc = p;

        if (cc->groups)
                g_array_free(cc->groups, TRUE);
        g_free(cc);
}

BusCredsCache *bus_creds_cache_new(void) {
        BusCredsCache *c = g_new0(BusCredsCache, 1);

        c->by_sender = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, cached_creds_free);
        return c;
}

BusCredsCache *bus_creds_cache_free(BusCredsCache *c) {
        if (!c)
                return NULL;
        g_hash_table_destroy(c->by_sender);
        g_free(c);
        return NULL;
}

int bus_creds_cache_lookup(BusCredsCache *c, const char *sender, uid_t *ret_uid, pid_t *ret_pid) {
        CachedCreds *cc;

        if (!sender)
                return 0;
        cc = g_hash_table_lookup(c->by_sender, sender);
        if (!cc)
                return 0;
        if (ret_uid)
                *ret_uid = cc->uid;
        if (ret_pid)
                *ret_pid = cc->pid;
        return 1;
}

int bus_creds_cache_lookup_groups(BusCredsCache *c, const char *sender, uid_t *ret_uid, pid_t *ret_pid,
                                  GArray *groups) {
        CachedCreds *cc = sender ? g_hash_table_lookup(c->by_sender, sender) : NULL;

        if (!cc || !cc->groups)
                return 0;
        *ret_uid = cc->uid;
        *ret_pid = cc->pid;
        g_array_append_vals(groups, cc->groups->data, cc->groups->len);
        return 1;
}

void bus_creds_cache_put(BusCredsCache *c, const char *sender, uid_t uid, pid_t pid, const GArray *groups) {
        CachedCreds *cc;

        if (!sender)
                return;
        if (g_hash_table_size(c->by_sender) >= CREDS_CACHE_MAX)
                g_hash_table_remove_all(c->by_sender);
        cc = g_new0(CachedCreds, 1);
        cc->uid = uid;
        cc->pid = pid;
        if (groups) {
                cc->groups = g_array_sized_new(FALSE, FALSE, sizeof(gid_t), groups->len);
                g_array_append_vals(cc->groups, groups->data, groups->len);
        }
        g_hash_table_replace(c->by_sender, g_strdup(sender), cc);
}

int bus_connection_credentials_read(sd_bus_message *reply, uint32_t *ret_uid, uint32_t *ret_pid, GArray *groups,
                                    bool *ret_have_groups) {
        int r;

        *ret_uid = UINT32_MAX;
        *ret_pid = 0;
        *ret_have_groups = false;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r > 0) {
                const char *key;

                r = sd_bus_message_enter_container(reply, 'e', "sv");
                if (r <= 0)
                        break;
                r = sd_bus_message_read_basic(reply, 's', &key);
                if (r >= 0 && streq(key, "UnixUserID"))
                        r = sd_bus_message_read(reply, "v", "u", ret_uid);
                else if (r >= 0 && streq(key, "ProcessID"))
                        r = sd_bus_message_read(reply, "v", "u", ret_pid);
                else if (r >= 0 && streq(key, "UnixGroupIDs")) {
                        const void *data;
                        size_t size;

                        r = sd_bus_message_enter_container(reply, 'v', "au");
                        if (r >= 0)
                                r = sd_bus_message_read_array(reply, 'u', &data, &size);
                        if (r >= 0) {
                                g_array_append_vals(groups, data, (guint) (size / sizeof(uint32_t)));
                                *ret_have_groups = true;
                                r = sd_bus_message_exit_container(reply);
                        }
                } else if (r >= 0)
                        r = sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        return r < 0 ? r : 0;
}

/* The effective gid of process pid while its effective uid is uid; -ESRCH otherwise. */
static int proc_egid(pid_t pid, uid_t uid, gid_t *ret) {
        g_autofree char *path = g_strdup_printf("/proc/%d/status", (int) pid), *text = NULL;
        unsigned ruid, euid, rgid, egid;
        const char *u, *g;

        if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
                return -ESRCH;
        u = strstr(text, "\nUid:");
        g = strstr(text, "\nGid:");
        if (!u || !g || sscanf(u, "\nUid: %u %u", &ruid, &euid) != 2 || sscanf(g, "\nGid: %u %u", &rgid, &egid) != 2)
                return -EBADMSG;
        if (euid != uid)
                return -ESRCH;
        *ret = (gid_t) egid;
        return 0;
}

/* The bus cannot tell the caller's primary gid race-free. dbus-daemon (1.14,
 * Debian 12) answers GetConnectionCredentials with UnixUserID, ProcessID and
 * UnixGroupIDs only, and UnixGroupIDs is the SO_PEERCRED gid of the
 * connection merged into its SO_PEERGROUPS list, both taken at connect time,
 * sorted and without duplicates (seen: egid 3 with groups 5,6 gives [3, 5, 6],
 * egid 7 gives [5, 6, 7]): the primary one cannot be picked out of it.
 * sd_bus_get_name_creds(SD_BUS_CREDS_GID) fills the gid in from
 * /proc/PID/status, which is what a reused pid can lie about.
 *
 * What decides access is the whole list (the opener's setgroups()), and
 * every gid in it was the caller's when it connected, so the choice only
 * names the group of what is created as the caller (a socket it binds). The
 * process's current egid from /proc is taken when it is one of the bus's
 * groups (a reused pid can name nothing outside them); otherwise the first
 * group the bus told. */
int bus_creds_pick_gid(const GArray *groups, uid_t uid, pid_t pid, gid_t *ret) {
        gid_t egid;

        if (!groups || groups->len == 0)
                return -ENOENT;
        if (proc_egid(pid, uid, &egid) >= 0)
                for (guint i = 0; i < groups->len; i++)
                        if (g_array_index(groups, gid_t, i) == egid) {
                                *ret = egid;
                                return 0;
                        }
        *ret = g_array_index(groups, gid_t, 0);
        return 0;
}

void bus_creds_cache_forget(BusCredsCache *c, const char *sender) {
        if (sender)
                g_hash_table_remove(c->by_sender, sender);
}

int bus_creds_cache_get(BusCredsCache *c, sd_bus_message *m, uid_t *ret_uid, pid_t *ret_pid) {
        sd_bus_creds *creds = NULL;
        const char *sender = sd_bus_message_get_sender(m);
        uid_t uid;
        pid_t pid;
        int r;

        /* Unique names are never reused on a bus, so a cached answer stays true. */
        if (bus_creds_cache_lookup(c, sender, ret_uid, ret_pid) > 0)
                return 0;
        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r >= 0)
                r = sd_bus_creds_get_pid(creds, &pid);
        sd_bus_creds_unref(creds);
        if (r < 0)
                return r;
        bus_creds_cache_put(c, sender, uid, pid, NULL);
        *ret_uid = uid;
        *ret_pid = pid;
        return 0;
}

/* Opens a dict entry {key_type key} of signature `entry` and, inside it, the
 * value container (`type`, `contents`): the shape every level of a
 * GetManagedObjects reply has. entry_close() closes both. */
static int entry_open(sd_bus_message *reply, const char *entry, char key_type, const char *key, char type,
                      const char *contents) {
        int r;

        r = sd_bus_message_open_container(reply, 'e', entry);
        if (r >= 0)
                r = sd_bus_message_append_basic(reply, key_type, key);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, type, contents);
        return r;
}

static int entry_close(sd_bus_message *reply) {
        int r;

        r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

int bus_append_interface_properties(sd_bus_message *reply, const char *path, const char *interface,
                                    const sd_bus_vtable *vtable, void *userdata, sd_bus_error *error) {
        sd_bus *bus = sd_bus_message_get_bus(reply);
        int r;

        r = entry_open(reply, "sa{sv}", 's', interface, 'a', "{sv}");
        for (const sd_bus_vtable *v = vtable; r >= 0 && vtable && v->type != _SD_BUS_VTABLE_END; v++) {
                if (v->type != _SD_BUS_VTABLE_PROPERTY && v->type != _SD_BUS_VTABLE_WRITABLE_PROPERTY)
                        continue;
                /* what GetAll leaves out */
                if (v->flags & (SD_BUS_VTABLE_HIDDEN | SD_BUS_VTABLE_PROPERTY_EXPLICIT))
                        continue;
                r = entry_open(reply, "sv", 's', v->x.property.member, 'v', v->x.property.signature);
                if (r >= 0)
                        r = v->x.property.get(bus, path, interface, v->x.property.member, reply, userdata, error);
                if (r >= 0)
                        r = entry_close(reply);
        }
        if (r >= 0)
                r = entry_close(reply);
        return r;
}

int bus_append_managed_object(sd_bus_message *reply, const char *path, const char *interface,
                              const sd_bus_vtable *vtable, void *userdata, sd_bus_error *error) {
        int r;

        r = entry_open(reply, "oa{sa{sv}}", 'o', path, 'a', "{sa{sv}}");
        if (r >= 0)
                r = bus_append_interface_properties(reply, path, "org.freedesktop.DBus.Peer", NULL, NULL, error);
        if (r >= 0)
                r = bus_append_interface_properties(reply, path, "org.freedesktop.DBus.Introspectable", NULL, NULL,
                                                    error);
        if (r >= 0)
                r = bus_append_interface_properties(reply, path, "org.freedesktop.DBus.Properties", NULL, NULL, error);
        if (r >= 0)
                r = bus_append_interface_properties(reply, path, interface, vtable, userdata, error);
        if (r >= 0)
                r = entry_close(reply);
        return r;
}

static bool vtable_property_writable(const sd_bus_vtable *vtable, const char *name) {
        for (const sd_bus_vtable *v = vtable; v->type != _SD_BUS_VTABLE_END; v++)
                if (v->type == _SD_BUS_VTABLE_WRITABLE_PROPERTY && streq(v->x.property.member, name))
                        return true;
        return false;
}

int bus_property_set_filter(sd_bus_message *message, const char *interface, const sd_bus_vtable *vtable,
                            BusPropertySetAuthorizeFn authorize, void *userdata, sd_bus_error *error) {
        const char *iface, *property;
        int r;

        if (!sd_bus_message_is_method_call(message, "org.freedesktop.DBus.Properties", "Set") ||
            !sd_bus_message_has_signature(message, "ssv"))
                return 0;
        r = sd_bus_message_read(message, "ss", &iface, &property);
        if (r < 0)
                return 0;
        r = sd_bus_message_rewind(message, true);
        if (r < 0)
                return r;
        if (!streq(iface, interface) || !vtable_property_writable(vtable, property))
                return 0;   /* sd-bus answers: unknown or read-only property */
        r = authorize(message, property, userdata, error);
        if (r < 0)
                return r;
        return r == 0;   /* pending: stop here, the call is dispatched again with the answer */
}
