/* secret.c — org.vmgmt.Secret: the registry of secrets, their files (CONFIG/secrets/UUID.xml and
 * UUID.base64, 0600), the bus objects and the manager's DefineSecret, GetSecret and ListSecrets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib.h>

#include "auth.h"
#include "bus-util.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "object-kind.h"
#include "secret.h"

static const ObjectStoreType secret_store_type = {
        .kind = &vm_secret_kind,
        .uuid_offset = offsetof(VmSecret, uuid),
        .path_offset = offsetof(VmSecret, path),
        .on_bus_offset = offsetof(VmSecret, on_bus),
};

/* ---- values ---- */

static void value_wipe_free(uint8_t *v, size_t len) {
        if (v)
                explicit_bzero(v, len);
        free(v);
}

static char *value_file(VmSecrets *s, const char *uuid) {
        _cleanup_free_ char *base = g_strconcat(uuid, ".base64", NULL);
        return g_build_filename(s->store.config_dir, base, NULL);
}

static int value_save(VmSecret *sec) {
        _cleanup_free_ char *path = value_file(sec->secrets, sec->uuid);
        g_autofree char *b64 = NULL;
        int r;

        r = mkdir_p(sec->secrets->store.config_dir, 0700);
        if (r < 0)
                return r;
        b64 = g_base64_encode(sec->value, sec->value_len);
        r = write_file_atomic(path, b64, strlen(b64), 0600);
        explicit_bzero(b64, strlen(b64));
        return r;
}

static int value_remove(VmSecrets *s, const char *uuid) {
        _cleanup_free_ char *path = value_file(s, uuid);
        int r = unlink_noent(path);

        return r < 0 ? r : fsync_parent_dir(path);
}

/* Writes the definition (and value) of a persistent secret; removes both of an ephemeral one. */
static int secret_persist(VmSecret *sec) {
        VmSecrets *s = sec->secrets;
        _cleanup_free_ char *xml = NULL;
        int r;

        if (sec->def->ephemeral) {
                r = value_remove(s, sec->uuid);
                return r < 0 ? r : object_store_remove(&s->store, sec->uuid);
        }
        r = mkdir_p(s->store.config_dir, 0700);
        if (r < 0)
                return r;
        if (sec->value) {
                r = value_save(sec);
                if (r < 0)
                        return r;
        }
        xml = secret_def_format(sec->def);
        if (!xml)
                return -ENOMEM;
        return object_store_save(&s->store, sec->uuid, xml);
}

/* ---- the registry ---- */

static VmSecret *secret_new(VmSecrets *s, SecretDef *def) {
        VmSecret *sec = g_new0(VmSecret, 1);

        memcpy(sec->uuid, def->uuid, sizeof(sec->uuid));
        sec->def = def;
        sec->secrets = s;
        (void) sd_bus_path_encode(VM_SECRET_PREFIX, sec->uuid, &sec->path);
        object_store_add(&s->store, sec->uuid, sec);
        return sec;
}

static void secret_free(VmSecret *sec) {
        if (!sec)
                return;
        value_wipe_free(sec->value, sec->value_len);
        secret_def_free(sec->def);
        free(sec->path);
        g_free(sec);
}

static void secret_remove(VmSecret *sec) {
        object_store_emit_removed(&sec->secrets->store, sec);
        object_store_steal(&sec->secrets->store, sec->uuid);
        secret_free(sec);
}

static bool usage_matches(const VmSecret *sec, const char *type, const char *id) {
        return sec->def->usage_type && (!type || streq(sec->def->usage_type, type)) && streq(sec->def->usage_id, id);
}

static VmSecret *find_by_usage(VmSecrets *s, const char *type, const char *id) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, s->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value))
                if (usage_matches(value, type, id))
                        return value;
        return NULL;
}

VmSecret *vm_secret_find(Manager *m, const char *uuid_or_usage) {
        _cleanup_free_ char *type = NULL;
        const char *space;
        VmSecret *sec;

        if (!m->secrets)
                return NULL;
        sec = object_store_find(&m->secrets->store, uuid_or_usage);
        if (sec)
                return sec;
        space = strchr(uuid_or_usage, ' ');
        if (space) {
                type = strndup(uuid_or_usage, space - uuid_or_usage);
                sec = type ? find_by_usage(m->secrets, type, space + 1) : NULL;
                if (sec)
                        return sec;
        }
        return find_by_usage(m->secrets, NULL, uuid_or_usage);
}

int vm_secret_lookup_value(Manager *m, const char *usage_type, const char *usage_or_uuid, uint8_t **ret,
                           size_t *ret_len) {
        VmSecret *sec = m->secrets ? object_store_find(&m->secrets->store, usage_or_uuid) : NULL;

        if (sec && usage_type && !streq_ptr(sec->def->usage_type, usage_type))
                sec = NULL;
        if (!sec && m->secrets)
                sec = find_by_usage(m->secrets, usage_type, usage_or_uuid);
        if (!sec)
                return -ENOENT;
        if (!sec->value)
                return -ENODATA;
        *ret = malloc(sec->value_len ?: 1);
        if (!*ret)
                return -ENOMEM;
        memcpy(*ret, sec->value, sec->value_len);
        *ret_len = sec->value_len;
        return 0;
}

static void load_one(void *userdata, const char *path, const char *xml, size_t len) {
        VmSecrets *s = userdata;
        _cleanup_free_ char *b64 = NULL, *vpath = NULL;
        ConfError err = {};
        SecretDef *def = NULL;
        VmSecret *sec;
        size_t n;
        int r;

        r = secret_def_parse(xml, len, &def, &err);
        if (r < 0) {
                log_error("%s: %s; ignoring it.", path, err.message ?: strerror(-r));
                conf_error_clear(&err);
                return;
        }
        if (!def->uuid[0] || def->ephemeral || object_store_lookup(&s->store, def->uuid) ||
            (def->usage_type && find_by_usage(s, def->usage_type, def->usage_id))) {
                log_error("%s: no UUID, ephemeral, or UUID or usage taken; ignoring it.", path);
                secret_def_free(def);
                return;
        }
        sec = secret_new(s, def);
        sec->on_bus = true;
        vpath = value_file(s, sec->uuid);
        r = read_full_file(vpath, SECRET_VALUE_MAX_SIZE * 2, &b64, &n);
        if (r >= 0) {
                sec->value = g_base64_decode(b64, &sec->value_len);
                explicit_bzero(b64, n);
        } else if (r != -ENOENT)
                log_error_errno(r, "Failed to read %s: %m", vpath);
}

int vm_secrets_startup(Manager *m) {
        VmSecrets *s = g_new0(VmSecrets, 1);

        s->manager = m;
        object_store_init(&s->store, &secret_store_type, m);
        m->secrets = s;
        object_store_load_dir(s->store.config_dir, SECRET_XML_MAX_SIZE, load_one, s);
        return 0;
}

void vm_secrets_free(Manager *m) {
        VmSecrets *s = m->secrets;
        GHashTableIter it;
        gpointer value;

        if (!s)
                return;
        g_hash_table_iter_init(&it, s->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                g_hash_table_iter_steal(&it);
                secret_free(value);
        }
        object_store_deinit(&s->store);
        g_free(s);
        m->secrets = NULL;
}

/* ---- properties and methods ---- */

static const char *const *secret_details(const char *uuid, const char *usage, const char *buf[static 5]) {
        buf[0] = "secret_uuid";
        buf[1] = strempty(uuid);
        buf[2] = "usage";
        buf[3] = strempty(usage);
        buf[4] = NULL;
        return buf;
}

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmSecret *sec = userdata;
        const char *v = streq(property, "UUID") ? sec->uuid :
                        streq(property, "Description") ? sec->def->description :
                        streq(property, "UsageType") ? sec->def->usage_type : sec->def->usage_id;

        return sd_bus_message_append_basic(reply, 's', strempty(v));
}

static int property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmSecret *sec = userdata;
        int b = streq(property, "Ephemeral") ? sec->def->ephemeral : sec->def->private_;

        return sd_bus_message_append_basic(reply, 'b', &b);
}

static int authorize_secret(VmSecret *sec, sd_bus_message *message, sd_bus_error *error) {
        const char *details[5];

        return vm_authorize(sec->secrets->manager, message, VM_ACTION_SECRET_MANAGE,
                            secret_details(sec->uuid, sec->def->usage_id, details), error);
}

static int method_set_value(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmSecret *sec = userdata;
        const void *data;
        uint8_t *old;
        size_t len, old_len;
        int r;

        r = sd_bus_message_read_array(message, 'y', &data, &len);
        if (r < 0)
                return r;
        r = bus_options_parse(message, NULL, error);
        if (r < 0)
                return r;
        r = authorize_secret(sec, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, the call is dispatched again */
        if (len > SECRET_VALUE_MAX_SIZE)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "A secret's value is at most %u bytes",
                                         SECRET_VALUE_MAX_SIZE);
        old = sec->value;
        old_len = sec->value_len;
        sec->value = g_memdup2(len ? data : "", len ?: 1);
        sec->value_len = len;
        if (!sec->def->ephemeral) {
                r = value_save(sec);
                if (r < 0) {
                        value_wipe_free(sec->value, sec->value_len);
                        sec->value = old;
                        sec->value_len = old_len;
                        return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED,
                                                 "Failed to save the value of secret %s: %s", sec->uuid,
                                                 strerror(-r));
                }
        }
        value_wipe_free(old, old_len);
        return sd_bus_reply_method_return(message, NULL);
}

static int reply_bytes(sd_bus_message *message, const uint8_t *data, size_t len) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(message, &reply);
        if (r >= 0)
                r = sd_bus_message_sensitive(reply);
        if (r >= 0)
                r = sd_bus_message_append_array(reply, 'y', data, len);
        return r < 0 ? r : sd_bus_send(NULL, reply, NULL);
}

static int method_get_value(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmSecret *sec = userdata;
        uid_t uid = (uid_t) -1;
        pid_t pid;
        int r;

        r = bus_options_parse(message, NULL, error);
        if (r < 0)
                return r;
        r = authorize_secret(sec, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, the call is dispatched again */
        /* as libvirt: a private secret's value leaves vmgmtd for root only, whatever polkit says */
        if (sec->def->private_ &&
            (bus_creds_cache_get(sec->secrets->manager->creds, message, &uid, &pid) < 0 || uid != 0))
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Secret %s is private: its value is not given out", sec->uuid);
        if (!sec->value)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Secret %s has no value", sec->uuid);
        return reply_bytes(message, sec->value, sec->value_len);
}

/* The definition never carries the value; secure (as every kind's GetXML takes
 * it) is still a request for secrets, authorized as one. */
static int method_get_xml(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmSecret *sec = userdata;
        _cleanup_free_ char *xml = NULL;
        bool secure = false;
        int r;

        r = bus_options_parse(message, (const BusOption[]) { { "secure", "b", &secure }, {} }, error);
        if (r < 0)
                return r;
        if (secure) {
                r = authorize_secret(sec, message, error);
                if (r <= 0)
                        return r < 0 ? r : 1;   /* 0: authorization pending, the call is dispatched again */
        }
        xml = secret_def_format(sec->def);
        if (!xml)
                return -ENOMEM;
        return sd_bus_reply_method_return(message, "s", xml);
}

static int method_undefine(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmSecret *sec = userdata;
        VmSecrets *s = sec->secrets;
        int r;

        r = bus_options_parse(message, NULL, error);
        if (r < 0)
                return r;
        r = authorize_secret(sec, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, the call is dispatched again */
        r = value_remove(s, sec->uuid);
        if (r >= 0)
                r = object_store_remove(&s->store, sec->uuid);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to remove secret %s: %s",
                                         sec->uuid, strerror(-r));
        secret_remove(sec);
        return sd_bus_reply_method_return(message, NULL);
}

#define CONST SD_BUS_VTABLE_PROPERTY_CONST
#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define UNPRIV SD_BUS_VTABLE_UNPRIVILEGED

static const sd_bus_vtable secret_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("UUID", "s", property_get_string, 0, CONST),
        SD_BUS_PROPERTY("Description", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("UsageType", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("UsageID", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("Ephemeral", "b", property_get_bool, 0, EMITS),
        SD_BUS_PROPERTY("Private", "b", property_get_bool, 0, EMITS),
        SD_BUS_METHOD_WITH_ARGS("SetValue", SD_BUS_ARGS("ay", value, "a{sv}", options), SD_BUS_NO_RESULT,
                                method_set_value, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetValue", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("ay", value),
                                method_get_value, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetXML", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("s", xml), method_get_xml,
                                UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Undefine", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_undefine,
                                UNPRIV),
        SD_BUS_VTABLE_END
};

/* ---- the kind ---- */

static int secret_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                              sd_bus_error *error) {
        Manager *m = userdata;

        return m->secrets ? object_store_bus_find(&m->secrets->store, path, found, error) : 0;
}

static int secret_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                                  sd_bus_error *error) {
        Manager *m = userdata;
        GPtrArray *l = g_ptr_array_new();

        if (m->secrets)
                object_store_append_paths(&m->secrets->store, l);
        g_ptr_array_add(l, NULL);
        *nodes = (char **) g_ptr_array_free(l, FALSE);
        return 1;
}

static int secret_foreach(Manager *m, VmObjectFn fn, void *userdata) {
        GHashTableIter it;
        gpointer value;

        if (!m->secrets)
                return 0;
        g_hash_table_iter_init(&it, m->secrets->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmSecret *sec = value;
                int r;

                if (!sec->on_bus)
                        continue;
                r = fn(userdata, sec, sec->path);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void *secret_lookup(Manager *m, const char *uuid_or_usage) {
        VmSecret *sec = vm_secret_find(m, uuid_or_usage);

        return sec && sec->on_bus ? sec : NULL;
}

static const char *secret_name(const void *object) {
        return ((const VmSecret *) object)->uuid;
}

static char *secret_path(const void *object) {
        return g_strdup(((const VmSecret *) object)->path);
}

static bool secret_active(const void *object) {
        return true;
}

static int secret_xml_parse(const char *xml, void **ret, sd_bus_error *error) {
        SecretDef *def = NULL;
        ConfError err = {};
        int r;

        r = secret_def_parse(xml, strlen(xml), &def, &err);
        if (r == -EFBIG)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "Secret XML is larger than %u bytes",
                                         SECRET_XML_MAX_SIZE);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "Invalid secret XML");
                conf_error_clear(&err);
                return -EINVAL;
        }
        *ret = def;
        return 0;
}

static const char *secret_def_name(const void *def) {
        return ((const SecretDef *) def)->uuid;
}

static void secret_def_free_hook(void *def) {
        secret_def_free(def);
}

static const char *const *secret_def_details(const void *parent, const char *name, const char *buf[static 7]) {
        return secret_details(name, NULL, buf);
}

static char *secret_xml_format(const void *object, VmFormatFlags flags) {
        return secret_def_format(((const VmSecret *) object)->def);
}

const VmObjectKind vm_secret_kind = {
        .noun = "secret",
        .interface = VM_SECRET_INTERFACE,
        .path_prefix = VM_SECRET_PREFIX,
        .path_pattern = VM_SECRET_PREFIX "/%",
        .no_such_error = VM_ERROR_NO_SUCH_SECRET,
        .action = VM_ACTION_SECRET_MANAGE,
        .config_subdir = "secrets",
        .vtable = secret_vtable,
        .find = secret_object_find,
        .enumerate = secret_node_enumerator,
        .foreach = secret_foreach,
        .lookup = secret_lookup,
        .object_name = secret_name,
        .object_path = secret_path,
        .is_active = secret_active,
        .xml_parse = secret_xml_parse,
        .def_name = secret_def_name,
        .def_free = secret_def_free_hook,
        .def_details = secret_def_details,
        .xml_format = secret_xml_format,
};

/* ---- the manager's methods ---- */

/* DefineSecret: the XML is parsed first and the caller authorized with its
 * UUID and usage; only an authorized caller learns what is wrong with it
 * (as vm_object_kind_parse_authorized()), and nothing is written for bad XML. */
static int method_define_secret(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_error_free) sd_bus_error parse_error = SD_BUS_ERROR_NULL;
        Manager *m = userdata;
        VmSecrets *s = m->secrets;
        SecretDef *def = NULL, *old_def = NULL;
        VmSecret *sec, *other;
        const char *details[5];
        const char *xml;
        bool added = false;
        int r;

        r = sd_bus_message_read(message, "s", &xml);
        if (r < 0)
                return r;
        r = bus_options_parse(message, NULL, error);
        if (r < 0)
                return r;
        r = secret_xml_parse(xml, (void **) &def, &parse_error);
        if (r == -ENOMEM)
                return r;
        r = vm_authorize(m, message, VM_ACTION_SECRET_MANAGE,
                         secret_details(def ? def->uuid : NULL, def ? def->usage_id : NULL, details), error);
        if (r <= 0) {
                secret_def_free(def);
                return r < 0 ? r : 1;   /* 0: authorization pending, the call is dispatched again */
        }
        if (!def) {
                if (!sd_bus_error_is_set(&parse_error))
                        return sd_bus_error_set(error, VM_ERROR_INVALID_XML, "Invalid XML");
                sd_bus_error_move(error, &parse_error);
                return -EINVAL;
        }
        if (!def->uuid[0]) {
                unsigned char u[16];

                conf_uuid_generate(u);
                conf_uuid_format(u, def->uuid);
        }
        sec = object_store_lookup(&s->store, def->uuid);
        other = def->usage_type ? find_by_usage(s, def->usage_type, def->usage_id) : NULL;
        if (other && other != sec) {
                r = sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Secret %s already has usage %s '%s'",
                                      other->uuid, def->usage_type, def->usage_id);
                goto finish;
        }
        if (sec && sec->def->private_ && !def->private_) {
                r = sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                      "Secret %s is private: it cannot be made public", sec->uuid);
                goto finish;
        }
        if (!sec) {
                sec = secret_new(s, TAKE_PTR(def));
                added = true;
        } else {
                old_def = sec->def;
                sec->def = TAKE_PTR(def);
        }
        r = secret_persist(sec);
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to save secret %s: %s", sec->uuid,
                                  strerror(-r));
                if (added)
                        secret_remove(sec);
                else {
                        secret_def_free(sec->def);
                        sec->def = TAKE_PTR(old_def);
                }
                goto finish;
        }
        if (added)
                object_store_emit_added(&s->store, sec);
        else {
                static const char *changed[] = { "Description", "UsageType", "UsageID", "Ephemeral", "Private", NULL };
                object_store_emit_changed(&s->store, sec, changed);
        }
        r = sd_bus_reply_method_return(message, "o", sec->path);
finish:
        secret_def_free(def);
        secret_def_free(old_def);
        return r < 0 ? r : 1;
}

static int method_get_secret(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return vm_object_kind_method_get(&vm_secret_kind, userdata, message, error);
}

static int method_list_secrets(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return vm_object_kind_method_list(&vm_secret_kind, userdata, message, error);
}

static const sd_bus_vtable manager_secret_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("DefineSecret", SD_BUS_ARGS("s", xml, "a{sv}", options), SD_BUS_RESULT("o", secret),
                                method_define_secret, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetSecret", SD_BUS_ARGS("s", uuid_or_usage), SD_BUS_RESULT("o", secret),
                                method_get_secret, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("ListSecrets", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("ao", secrets),
                                method_list_secrets, UNPRIV),
        SD_BUS_VTABLE_END
};

int vm_manager_secret_register(Manager *m) {
        int r;

        r = sd_bus_add_object_vtable(m->bus, NULL, VM_MANAGER_PATH, VM_MANAGER_INTERFACE, manager_secret_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the manager's secret methods: %m");
        return 0;
}
