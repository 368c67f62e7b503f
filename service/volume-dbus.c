/* volume-dbus.c — org.vmgmt.StorageVolume objects at /org/vmgmt/pool/POOL/volume/VOL. */
#include <errno.h>
#include <sys/socket.h>
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-stream.h"
#include "log.h"
#include "object-kind.h"
#include "pool.h"

/* ---- signals ---- */

void vm_volume_emit_added(VmStorage *s, StorageVolume *v) {
        Manager *m = s->manager;
        _cleanup_free_ char *path = NULL;
        VmPool *p = vm_pool_of(storage_volume_get_pool(v));

        if (!m->bus || !m->ready || !p || !p->on_bus)
                return;
        path = vm_volume_path(v);
        if (path)
                vm_object_kind_emit_added(&vm_volume_kind, m, path);
}

void vm_volume_emit_changed(VmStorage *s, StorageVolume *v) {
        VmPool *p = vm_pool_of(storage_volume_get_pool(v));

        if (!p || !p->on_bus)
                return;
        vm_object_kind_emit_changed(&vm_volume_kind, s->manager, v,
                                    (const char *[]) { "Path", "Format", "Capacity", "Allocation", NULL });
}

void vm_volume_emit_removed(VmStorage *s, StorageVolume *v) {
        Manager *m = s->manager;
        _cleanup_free_ char *path = NULL;
        VmPool *p = vm_pool_of(storage_volume_get_pool(v));

        if (!m->bus || !m->ready || !p || !p->on_bus)
                return;
        path = vm_volume_path(v);
        if (path)
                vm_object_kind_emit_removed(&vm_volume_kind, m, path);
}

/* ---- properties ---- */

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const StorageVolDef *def = storage_volume_get_def(userdata);
        const char *v = streq(property, "Name") ? def->name :
                        streq(property, "Key") ? def->key :
                        streq(property, "Path") ? def->path : storage_vol_format_to_string(def->format);
        return sd_bus_message_append_basic(reply, 's', strempty(v));
}

static int property_get_size(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const StorageVolDef *def = storage_volume_get_def(userdata);
        uint64_t v = streq(property, "Capacity") ? def->capacity : def->allocation;
        return sd_bus_message_append_basic(reply, 't', &v);
}

static int property_get_pool(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmPool *p = vm_pool_of(storage_volume_get_pool(userdata));
        return sd_bus_message_append_basic(reply, 'o', p->path);
}

/* ---- methods ---- */

typedef struct VolCall {
        VmPool *pool;
        StorageVolume *vol;
        const char *name;
} VolCall;

static int vol_prologue(sd_bus_message *message, StorageVolume *v, const BusOption *options, VolCall *ret,
                        sd_bus_error *error) {
        ret->vol = v;
        ret->pool = vm_pool_of(storage_volume_get_pool(v));
        ret->name = storage_volume_get_def(v)->name;
        return vm_pool_method_prologue(message, ret->pool, ret->name, options, error);
}

/* A running domain's disk cannot be deleted, shrunk or wiped. */
static int vol_check_unused(VmStorage *s, StorageVolume *v, const char *verb, sd_bus_error *error) {
        const char *user = vm_storage_volume_user(s->manager, v);

        if (user)
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Cannot %s volume '%s': it is in use by running domain '%s'",
                                         verb, storage_volume_get_def(v)->name, user);
        if (storage_volume_is_busy(v))
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Cannot %s volume '%s': a job is using it", verb,
                                         storage_volume_get_def(v)->name);
        return 0;
}

static int vol_error(sd_bus_error *error, int r, const char *message, const char *verb, VolCall *c) {
        _cleanup_free_ char *what = g_strdup_printf("Failed to %s volume '%s' in pool '%s'", verb, c->name,
                                                    c->pool->name);
        return bus_error_from_errno(error, r, message, what);
}


static void simple_done(void *userdata, int r, const char *message) {
        PoolOp *op = userdata;

        if (r < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_free_ char *what = g_strdup_printf("Failed to %s volume '%s' in pool '%s'", op->verb,
                                                            op->volume, op->pool);
                bus_error_from_errno(&error, r, message, what);
                (void) sd_bus_reply_method_error(op->message, &error);
        } else
                (void) sd_bus_reply_method_return(op->message, NULL);
        pool_op_free(op);
}

/* Delete and Wipe: authorize, refuse a volume a domain or job uses, and the
 * call waiting for the driver. 1 with *ret_op; else what the handler returns
 * (0: authorization pending, dispatched again). */
static int vol_begin_change(sd_bus_message *message, void *userdata, const char *verb, VolCall *c, PoolOp **ret_op,
                            sd_bus_error *error) {
        int r = vol_prologue(message, userdata, (const BusOption[]) { {} }, c, error);
        if (r <= 0)
                return r;
        r = vol_check_unused(c->pool->storage, c->vol, verb, error);
        if (r < 0)
                return r;
        *ret_op = pool_op_new(c->pool->storage, message, verb, c->pool->name, c->name);
        return 1;
}

static int method_delete(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        PoolOp *op = NULL;
        VolCall c;
        int r;

        r = vol_begin_change(message, userdata, "delete", &c, &op, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        /* the unlink runs in a thread; the reply when the volume is gone */
        r = storage_volume_delete_async(c.vol, 0, simple_done, op);
        if (r < 0) {
                pool_op_free(op);
                return vol_error(error, r, NULL, "delete", &c);
        }
        return 1;
}

static int method_resize(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        bool allocate = false, delta = false, shrink = false;
        const BusOption options[] = {
                { "allocate", "b", &allocate }, { "delta", "b", &delta }, { "shrink", "b", &shrink }, {}
        };
        uint64_t capacity;
        PoolOp *op;
        VolCall c;
        int r;

        r = sd_bus_message_read(message, "t", &capacity);
        if (r < 0)
                return r;
        r = vol_prologue(message, userdata, options, &c, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, dispatched again */
        {
                /* a running domain's disk is never shrunk; only a raw file can grow under it
                 * (the hypervisor holds the image lock of other formats) */
                const StorageVolDef *vd = storage_volume_get_def(c.vol);
                const char *user = vm_storage_volume_user(c.pool->storage->manager, c.vol);
                bool shrinking = !delta && capacity < vd->capacity;
                if (user && (shrinking || vd->format != STORAGE_VOL_FORMAT_RAW))
                        return sd_bus_error_setf(error, VM_ERROR_BUSY,
                                                 "Cannot %s volume '%s': it is in use by running domain '%s'",
                                                 shrinking ? "shrink" : "resize", c.name, user);
        }
        op = pool_op_new(c.pool->storage, message, "resize", c.pool->name, c.name);
        r = storage_volume_resize(c.vol, capacity,
                                  (allocate ? STORAGE_VOLUME_RESIZE_ALLOCATE : 0) |
                                  (delta ? STORAGE_VOLUME_RESIZE_DELTA : 0) |
                                  (shrink ? STORAGE_VOLUME_RESIZE_SHRINK : 0),
                                  simple_done, op);
        if (r < 0) {
                pool_op_free(op);
                return vol_error(error, r, NULL, "resize", &c);
        }
        return 1;
}

static void wipe_done(void *userdata, int r, const char *message, StorageVolume *vol) {
        simple_done(userdata, r, message);
}

static int method_wipe(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        StorageJobCallbacks cb = { .done = wipe_done };
        PoolOp *op = NULL;
        VolCall c;
        int r;

        r = vol_begin_change(message, userdata, "wipe", &c, &op, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        cb.userdata = op;
        r = storage_volume_wipe(c.vol, &cb, NULL);
        if (r < 0) {
                pool_op_free(op);
                return vol_error(error, r, NULL, "wipe", &c);
        }
        return 1;
}

static int method_get_xml(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *xml = NULL;
        bool secure = false;
        const BusOption options[] = { { "secure", "b", &secure }, {} };
        VolCall c;
        int r;

        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        if (secure) {
                /* volumes carry no secrets yet; asking for them is still a privileged call */
                r = vol_prologue(message, userdata, NULL, &c, error);
                if (r <= 0)
                        return r < 0 ? r : 1;
        }
        xml = vm_volume_kind.xml_format(userdata, 0);
        if (!xml)
                return -ENOMEM;
        return sd_bus_reply_method_return(message, "s", xml);
}

/* Upload/Download (stream false: the caller's fd) and UploadStream/DownloadStream (stream: a socket pair
 * whose far end is offered as a one-shot unix socket, domain-stream.h, for a caller whose connection
 * carries no fds). */
static int vol_transfer(sd_bus_message *message, StorageVolume *v, bool upload, bool stream, sd_bus_error *error) {
        uint64_t offset = 0, length = 0;
        const BusOption options[] = { { "offset", "t", &offset }, { "length", "t", &length }, {} };
        _cleanup_free_ char *object = NULL, *spath = NULL;
        int pair[2] = { -EBADF, -EBADF };
        StorageJobCallbacks cb;
        StorageJob *sj = NULL;
        VmJob *j;
        VolCall c;
        int fd = -EBADF, r;
        uid_t uid;

        if (!stream) {
                r = sd_bus_message_read(message, "h", &fd);
                if (r < 0)
                        return r;
        }
        r = vol_prologue(message, v, options, &c, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, dispatched again */
        if (stream && upload && length == 0)
                /* a stream's end and a dropped connection look the same: the length tells them apart */
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "UploadStream needs option length (the number of bytes that will come)");
        if (stream) {
                r = vm_stream_caller_uid(c.pool->storage->manager, message, &uid);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, r, "Cannot tell who the caller is: %m");
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                        return sd_bus_error_set_errnof(error, errno, "Cannot make the stream: %m");
                g_autofree char *what = g_strdup_printf("%s of volume %s/%s", upload ? "upload" : "download",
                                                        c.pool->name, c.name);
                /* the far end, offered as a socket (an unused one goes after VM_STREAM_CONNECT_USEC) */
                r = vm_stream_new(c.pool->storage->manager, uid, pair[1], what, &spath);
                if (r < 0) {
                        close(pair[0]);
                        return sd_bus_error_set_errnof(error, r, "Cannot offer the stream: %m");
                }
                fd = pair[0];   /* the job's end: the job duplicates it, ours goes when this returns */
        }
        _cleanup_close_ int job_end = stream ? fd : -EBADF;
        if (upload) {
                r = vol_check_unused(c.pool->storage, c.vol, "upload to", error);
                if (r < 0)
                        return r;
        }
        object = vm_volume_path(c.vol);
        if (!object)
                return -ENOMEM;
        j = vm_storage_job_new(c.pool->storage, upload ? "upload" : "download", object, c.pool->name, c.name);
        cb = vm_storage_job_callbacks(j);
        r = upload ? storage_volume_upload(c.vol, fd, offset, length, &cb, &sj)
                   : storage_volume_download(c.vol, fd, offset, length, &cb, &sj);
        if (r < 0) {
                vm_job_discard(j);
                /* an upload replaces the whole volume through a temporary */
                return vol_error(error, r,
                                 upload && r == -EOPNOTSUPP && offset != 0 ?
                                 "an upload replaces the whole volume: option offset must be 0" : NULL,
                                 upload ? "upload to" : "download", &c);
        }
        vm_storage_job_started(j, sj);
        vm_job_publish(j);
        if (stream)
                return sd_bus_reply_method_return(message, "so", spath, vm_job_path(j));
        return sd_bus_reply_method_return(message, "o", vm_job_path(j));
}

static int method_upload(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return vol_transfer(message, userdata, true, false, error);
}

static int method_download(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return vol_transfer(message, userdata, false, false, error);
}

static int method_upload_stream(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return vol_transfer(message, userdata, true, true, error);
}

static int method_download_stream(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return vol_transfer(message, userdata, false, true, error);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST
#define UNPRIV SD_BUS_VTABLE_UNPRIVILEGED

const sd_bus_vtable volume_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", property_get_string, 0, CONST),
        SD_BUS_PROPERTY("Key", "s", property_get_string, 0, CONST),
        SD_BUS_PROPERTY("Path", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("Format", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("Capacity", "t", property_get_size, 0, EMITS),
        SD_BUS_PROPERTY("Allocation", "t", property_get_size, 0, EMITS),
        SD_BUS_PROPERTY("Pool", "o", property_get_pool, 0, CONST),
        SD_BUS_METHOD_WITH_ARGS("Delete", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_delete, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Resize", SD_BUS_ARGS("t", capacity, "a{sv}", options), SD_BUS_NO_RESULT,
                                method_resize, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Wipe", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_wipe, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetXML", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("s", xml), method_get_xml, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Upload", SD_BUS_ARGS("h", fd, "a{sv}", options), SD_BUS_RESULT("o", job),
                                method_upload, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Download", SD_BUS_ARGS("h", fd, "a{sv}", options), SD_BUS_RESULT("o", job),
                                method_download, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("UploadStream", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("s", path, "o", job),
                                method_upload_stream, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("DownloadStream", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("s", path, "o", job),
                                method_download_stream, UNPRIV),
        SD_BUS_VTABLE_END
};

static int volume_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                              sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_free_ char *pool = NULL, *vol = NULL;
        StorageVolume *v;
        VmPool *p;

        if (sd_bus_path_decode_many(path, VM_POOL_PREFIX "/%/volume/%", &pool, &vol) <= 0 || isempty(vol))
                return 0;
        p = m->storage ? g_hash_table_lookup(m->storage->pools, pool) : NULL;
        if (!p || !p->on_bus)
                return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_POOL, "No pool '%s'", pool);
        v = storage_pool_find_volume(p->sp, vol);
        if (!v)
                return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_VOLUME, "No volume '%s' in pool '%s'", vol, pool);
        *found = v;
        return 1;
}

/* ---- the kind: volumes live under their pool's path; the pools' enumerator lists them ---- */

static int volume_foreach(Manager *m, VmObjectFn fn, void *userdata) {
        GHashTableIter it;
        gpointer value;

        if (!m->storage)
                return 0;
        g_hash_table_iter_init(&it, m->storage->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmPool *p = value;
                _cleanup_free_ StorageVolume **vols = NULL;
                size_t n = 0;
                int r;

                if (!p->on_bus)
                        continue;
                r = storage_pool_list_volumes(p->sp, &vols, &n);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *path = vm_volume_path(vols[i]);
                        if (!path)
                                return -ENOMEM;
                        r = fn(userdata, vols[i], path);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Volume XML (pure: nothing is asked of the system yet). */
static int volume_xml_parse(const char *xml, void **ret, sd_bus_error *error) {
        StorageVolDef *def = NULL;
        ConfError err = {};
        int r;

        r = storage_vol_def_parse(xml, strlen(xml), &def, &err);
        if (r == -EFBIG) {
                conf_error_clear(&err);
                return sd_bus_error_set(error, VM_ERROR_INVALID_XML, "Volume XML is too large");
        }
        if (r == -ENOMEM) {
                conf_error_clear(&err);
                return r;
        }
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "Invalid volume XML");
                conf_error_clear(&err);
                return -EINVAL;
        }
        *ret = def;
        return 0;
}

static const char *volume_def_name(const void *def) {
        return ((const StorageVolDef *) def)->name;
}

static void volume_def_free_hook(void *def) {
        storage_vol_def_free(def);
}

/* A volume is named within its pool (parent). */
static const char *const *volume_def_details(const void *parent, const char *name, const char *buf[static 7]) {
        size_t n = 0;

        buf[n++] = "pool";
        buf[n++] = ((const VmPool *) parent)->name;
        if (name) {
                buf[n++] = "volume";
                buf[n++] = name;
        }
        buf[n] = NULL;
        return buf;
}

static char *volume_xml_format(const void *object, VmFormatFlags flags) {
        return storage_vol_def_format(storage_volume_get_def((StorageVolume *) object));
}

static char *volume_path(const void *object) {
        return vm_volume_path((StorageVolume *) object);
}

const VmObjectKind vm_volume_kind = {
        .noun = "volume",
        .interface = VM_VOLUME_INTERFACE,
        .path_prefix = VM_POOL_PREFIX,
        .path_pattern = VM_POOL_PREFIX "/%/volume/%",
        .no_such_error = VM_ERROR_NO_SUCH_VOLUME,
        .action = VM_ACTION_STORAGE_MANAGE,
        .vtable = volume_vtable,
        .find = volume_object_find,
        .foreach = volume_foreach,
        .object_path = volume_path,
        .xml_parse = volume_xml_parse,
        .def_name = volume_def_name,
        .def_free = volume_def_free_hook,
        .def_details = volume_def_details,
        .xml_format = volume_xml_format,
};
