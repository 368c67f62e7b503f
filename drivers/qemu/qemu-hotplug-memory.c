/* qemu-hotplug-memory.c — a <memory model='dimm'> added to and removed from a running qemu.
 *
 * Attach: object-add of the RAM backend (memdimmSLOT), then device_add of
 * the pc-dimm (dimmSLOT) on it; when qemu refuses the device, object-del
 * takes the backend back before done reports the failure, so nothing is
 * left. Detach: device_del asks the guest (ACPI eject); once qemu reports
 * DEVICE_DELETED the backend goes (object-del) and the live definition loses
 * the module (<memory> shrinks by its size). How long the guest may take is
 * the caller's business, as for every detach. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "qemu/qemu-driver-internal.h"

typedef struct MemPlug {
        DriverRuntime *rt;
        bool attach;
        DomainMemoryDef mem;            /* attach: the module (a copy) */
        char id[32], backend[32];       /* dimmN, memdimmN */
        bool object_added, deleted, listening;
        unsigned n_pending;
        int error;                      /* attach: rolling back after this failure */
        char *message;
        DriverDeviceDoneFn done;
        void *userdata;
        QemuListener listener;
} MemPlug;

/* every attach under way and every detach waiting for its guest: one per slot */
static GList *pending;

static bool slot_busy(DriverRuntime *rt, const char *id) {
        for (GList *l = pending; l; l = l->next) {
                const MemPlug *o = l->data;
                if (o->rt == rt && streq(o->id, id))
                        return true;
        }
        return false;
}

static void plug_free(MemPlug *p) {
        pending = g_list_remove(pending, p);
        if (p->listening && p->rt)
                qemu_runtime_remove_listener(p->rt, &p->listener);
        domain_memory_clear(&p->mem);
        free(p->message);
        g_free(p);
}

static void plug_finish(MemPlug *p, int r, const char *message) {
        DriverDeviceDoneFn done = p->done;
        void *userdata = p->userdata;
        _cleanup_free_ char *msg = message ? strdup(message) : NULL;
        char id[sizeof(p->id)];

        snprintf(id, sizeof(id), "%s", p->id);
        if (p->rt)
                qemu_runtime_log(p->rt, "%s of %s %s%s", p->attach ? "attach" : "detach", id, r >= 0 ? "done" : "failed: ",
                                 r >= 0 ? "" : strna(msg));
        plug_free(p);
        done(userdata, r, r >= 0 ? id : NULL, msg);
}

typedef void (*PlugFn)(MemPlug *p, int r, const JsonValue *ret, const char *error);
typedef struct PlugSend {
        MemPlug *p;
        PlugFn fn;
} PlugSend;

static void plug_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        PlugSend *s = userdata;
        MemPlug *p = s->p;
        PlugFn fn = s->fn;

        free(s);
        p->n_pending--;
        fn(p, r, ret, error);
}

static int plug_send(MemPlug *p, const char *command, JsonValue *args, PlugFn fn) {
        PlugSend *s;
        int r;

        if (!p->rt || !p->rt->qmp) {
                json_decref(args);
                return -ESRCH;
        }
        s = malloc(sizeof(*s));
        if (!s) {
                json_decref(args);
                return -ENOMEM;
        }
        *s = (PlugSend) { .p = p, .fn = fn };
        r = qmp_send(p->rt->qmp, command, args, plug_reply, s);
        if (r < 0) {
                free(s);
                return r == -ENOTCONN ? -ESRCH : r;
        }
        p->n_pending++;
        return 0;
}

static void live_def_changed(DriverRuntime *rt) {
        free(rt->def_xml);
        rt->def_xml = NULL;
        (void) qemu_runtime_save_status(rt);
}

static void plug_gone(DriverRuntime *rt, bool exited, void *userdata) {
        MemPlug *p = userdata;

        p->listening = false;
        p->rt = NULL;
        if (!exited) {
                plug_free(p);
                return;
        }
        p->n_pending = 0;
        plug_finish(p, -ESRCH, "the domain stopped");
}

static void plug_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata);

static MemPlug *plug_new(DriverRuntime *rt, bool attach, int slot, DriverDeviceDoneFn done, void *userdata) {
        MemPlug *p = g_new0(MemPlug, 1);

        p->rt = rt;
        p->attach = attach;
        p->mem = (DomainMemoryDef) { .node = -1, .slot = -1 };
        snprintf(p->id, sizeof(p->id), "dimm%d", slot);
        snprintf(p->backend, sizeof(p->backend), "memdimm%d", slot);
        p->done = done;
        p->userdata = userdata;
        p->listener = (QemuListener) { .event = plug_event, .gone = plug_gone, .userdata = p };
        return p;
}

static int plug_listen(MemPlug *p) {
        int r = qemu_runtime_add_listener(p->rt, &p->listener);

        if (r >= 0)
                p->listening = true;
        return r;
}

static int runtime_ready(DriverRuntime *rt, char **ret_error) {
        if (rt->starting || rt->killing || !rt->qmp || !qmp_is_ready(rt->qmp)) {
                *ret_error = strdup(rt->starting ? "the domain is still starting" : "the domain is being stopped");
                return rt->starting ? -EBUSY : -ESRCH;
        }
        return 0;
}

/* ---- attach ---- */

static void rolled_back(MemPlug *p, int r, const JsonValue *ret, const char *error) {
        if (r < 0)
                qemu_runtime_log(p->rt, "hot-plug roll-back of %s: %s", p->backend, error ?: strerror(-r));
        plug_finish(p, p->error, p->message);
}

static void device_added(MemPlug *p, int r, const JsonValue *ret, const char *error) {
        JsonValue *a;

        if (r < 0) {
                p->error = r == -ECONNRESET ? -ESRCH : r;
                p->message = g_strdup_printf("qemu refused the memory module: %s", error ?: strerror(-r));
                a = json_object();
                json_object_set_new(a, "id", json_string(p->backend));
                if (plug_send(p, "object-del", a, rolled_back) < 0)
                        plug_finish(p, p->error, p->message);
                return;
        }
        /* the module is the guest's now: the live definition has it, <memory> grew by it */
        if (domain_def_memory_add(p->rt->def, &p->mem) < 0)
                log_error("Domain '%s': out of memory recording device %s", p->rt->def->name, p->id);
        live_def_changed(p->rt);
        plug_finish(p, 0, NULL);
}

static void object_added(MemPlug *p, int r, const JsonValue *ret, const char *error) {
        _cleanup_free_ char *msg = NULL;
        JsonValue *o;

        if (r < 0) {
                msg = g_strdup_printf("qemu cannot make the module's memory: %s", error ?: strerror(-r));
                plug_finish(p, r == -ECONNRESET ? -ESRCH : r, msg);
                return;
        }
        p->object_added = true;
        o = json_object();
        json_object_set_new(o, "driver", json_string("pc-dimm"));
        json_object_set_new(o, "id", json_string(p->id));
        json_object_set_new(o, "memdev", json_string(p->backend));
        json_object_set_new(o, "node", json_integer(p->mem.node >= 0 ? p->mem.node : 0));
        json_object_set_new(o, "slot", json_integer(p->mem.slot));
        if (p->mem.base)
                json_object_set_new(o, "addr", json_integer((int64_t) p->mem.base));
        r = plug_send(p, "device_add", o, device_added);
        if (r < 0)
                device_added(p, r, NULL, "cannot talk to qemu's monitor");
}

int qemu_hotplug_memory_attach(DriverRuntime *rt, const DomainDef *dev, DriverDeviceDoneFn done, void *userdata,
                               char **ret_error) {
        const DomainMemoryDef *m = dev->n_memories == 1 ? dev->memories : NULL;
        MemPlug *p;
        JsonValue *o;
        int r;

        r = runtime_ready(rt, ret_error);
        if (r < 0)
                return r;
        if (!m) {
                *ret_error = strdup("the definition holds no single memory device");
                return -EINVAL;
        }
        if (!streq_ptr(m->model, "dimm")) {
                *ret_error = g_strdup_printf("memory model '%s' cannot be hot-plugged (dimm)", strna(m->model));
                return -EOPNOTSUPP;
        }
        if (m->slot < 0 || rt->def->max_memory_slots == 0 || (unsigned) m->slot >= rt->def->max_memory_slots) {
                *ret_error = strdup("the running domain has no free memory slot for the module");
                return -EINVAL;
        }
        if (domain_def_memory_find_slot(rt->def, m->slot) >= 0) {
                *ret_error = g_strdup_printf("memory slot %d of the running domain is in use", m->slot);
                return -EINVAL;
        }
        if (m->size_kib > UINT64_MAX / 1024) {
                *ret_error = strdup("the module is too large");
                return -EINVAL;
        }
        p = plug_new(rt, true, m->slot, done, userdata);
        if (slot_busy(rt, p->id)) {   /* two attaches at once were both given the slot */
                *ret_error = g_strdup_printf("memory slot %d is being attached already", m->slot);
                plug_free(p);
                return -EBUSY;
        }
        if (domain_memory_copy(&p->mem, m) < 0) {
                plug_free(p);
                return -ENOMEM;
        }
        r = plug_listen(p);
        if (r < 0) {
                plug_free(p);
                return r;
        }
        pending = g_list_prepend(pending, p);
        qemu_runtime_log(rt, "attaching %s", p->id);
        o = json_object();
        json_object_set_new(o, "qom-type", json_string("memory-backend-ram"));
        json_object_set_new(o, "id", json_string(p->backend));
        json_object_set_new(o, "size", json_integer((int64_t) (m->size_kib * 1024)));
        r = plug_send(p, "object-add", o, object_added);
        if (r < 0) {
                plug_free(p);
                *ret_error = strdup("cannot talk to qemu's monitor");
                return r;
        }
        return 0;
}

/* ---- detach ---- */

static void backend_gone(MemPlug *p, int r, const JsonValue *ret, const char *error) {
        DriverRuntime *rt = p->rt;
        int slot = -1;

        if (r < 0)
                qemu_runtime_log(rt, "removing %s: %s", p->backend, error ?: strerror(-r));
        /* found again by its slot: others may have gone meanwhile */
        (void) sscanf(p->id, "dimm%d", &slot);
        r = domain_def_memory_find_slot(rt->def, slot);
        if (r >= 0)
                domain_def_memory_remove(rt->def, (size_t) r);
        live_def_changed(rt);
        plug_finish(p, 0, NULL);
}

static void plug_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
        MemPlug *p = userdata;
        JsonValue *a;

        if (p->attach || p->deleted || !streq(name, "DEVICE_DELETED") ||
            !streq_ptr(json_util_member_string(data, "device"), p->id))
                return;
        p->deleted = true;
        qemu_runtime_log(rt, "the guest released %s", p->id);
        a = json_object();
        json_object_set_new(a, "id", json_string(p->backend));
        if (plug_send(p, "object-del", a, backend_gone) < 0)
                backend_gone(p, 0, NULL, NULL);
}

static void device_del_reply(MemPlug *p, int r, const JsonValue *ret, const char *error) {
        _cleanup_free_ char *msg = NULL;

        if (r >= 0 || p->deleted)
                return;   /* now the guest's turn: DEVICE_DELETED */
        msg = g_strdup_printf("qemu refused to remove %s: %s", p->id, error ?: strerror(-r));
        plug_finish(p, r == -ECONNRESET ? -ESRCH : r, msg);
}

int qemu_hotplug_memory_detach(DriverRuntime *rt, size_t index, DriverDeviceDoneFn done, void *userdata,
                               char **ret_error) {
        MemPlug *p;
        JsonValue *a;
        int r;

        r = runtime_ready(rt, ret_error);
        if (r < 0)
                return r;
        if (index >= rt->def->n_memories) {
                *ret_error = strdup("no such memory device in the live definition");
                return -EINVAL;
        }
        if (!streq_ptr(rt->def->memories[index].model, "dimm") || rt->def->memories[index].slot < 0) {
                *ret_error = g_strdup_printf("memory model '%s' cannot be unplugged (dimm)",
                                             strna(rt->def->memories[index].model));
                return -EOPNOTSUPP;
        }
        p = plug_new(rt, false, rt->def->memories[index].slot, done, userdata);
        if (slot_busy(rt, p->id)) {
                *ret_error = g_strdup_printf("the guest has been asked to release %s already", p->id);
                plug_free(p);
                return -EBUSY;
        }
        r = plug_listen(p);
        if (r < 0) {
                plug_free(p);
                return r;
        }
        pending = g_list_prepend(pending, p);
        qemu_runtime_log(rt, "detaching %s", p->id);
        a = json_object();
        json_object_set_new(a, "id", json_string(p->id));
        r = plug_send(p, "device_del", a, device_del_reply);
        if (r < 0) {
                plug_free(p);
                *ret_error = strdup("cannot talk to qemu's monitor");
                return r;
        }
        return 0;
}
