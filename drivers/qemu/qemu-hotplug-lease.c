/* qemu-hotplug-lease.c — a <lease> device added to and removed from a running qemu.
 *
 * The lease is an OFD lock the service took on its own fd (service/domain-lease.h); qemu gets that
 * fd with getfd under a name of the lease's own (vmgmt-lease-HASH of its target and offset), so the
 * lock lives as long as qemu keeps the fd: through vmgmtd restarts (a monitor's named fds outlive
 * its client), until closefd or qemu's exit. Detach: the service has unlocked it already (a lease a
 * start gave qemu is an inherited fd no monitor command reaches); closefd drops a hot-plugged one's
 * fd, and the live definition loses the device. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "qemu/qemu-driver-internal.h"

typedef struct LeasePlug {
        DriverRuntime *rt;
        bool attach;
        DomainLeaseDef lease;           /* attach: a copy of the lease; detach: what is removed */
        char fdname[64];
        DriverDeviceDoneFn done;
        void *userdata;
        QemuListener listener;
        bool listening;
} LeasePlug;

static void plug_free(LeasePlug *p) {
        if (p->listening && p->rt)
                qemu_runtime_remove_listener(p->rt, &p->listener);
        free(p->lease.lockspace);
        free(p->lease.key);
        free(p->lease.target_path);
        g_free(p);
}

static void plug_finish(LeasePlug *p, int r, const char *message) {
        DriverDeviceDoneFn done = p->done;
        void *userdata = p->userdata;
        _cleanup_free_ char *msg = message ? strdup(message) : NULL;

        if (p->rt)
                qemu_runtime_log(p->rt, "%s of lease %s %s%s", p->attach ? "attach" : "detach", strna(p->lease.key),
                                 r >= 0 ? "done" : "failed: ", r >= 0 ? "" : strna(msg));
        plug_free(p);
        done(userdata, r, NULL, msg);
}

static void plug_gone(DriverRuntime *rt, bool exited, void *userdata) {
        LeasePlug *p = userdata;

        p->listening = false;
        p->rt = NULL;
        plug_finish(p, -ESRCH, "the domain stopped");
}

static void plug_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
}

void qemu_lease_fdname(const DomainLeaseDef *l, char *buf, size_t size) {
        g_autofree char *what = g_strdup_printf("%s:%" PRIu64, strempty(l->target_path), l->target_offset);
        g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, what, -1);

        snprintf(buf, size, "vmgmt-lease-%.16s", sum);
}

static LeasePlug *plug_new(DriverRuntime *rt, bool attach, const DomainLeaseDef *l, DriverDeviceDoneFn done,
                           void *userdata) {
        LeasePlug *p = g_new0(LeasePlug, 1);

        p->rt = rt;
        p->attach = attach;
        p->lease = (DomainLeaseDef) { .lockspace = l->lockspace ? strdup(l->lockspace) : NULL,
                                      .key = l->key ? strdup(l->key) : NULL,
                                      .target_path = l->target_path ? strdup(l->target_path) : NULL,
                                      .target_offset = l->target_offset };
        qemu_lease_fdname(l, p->fdname, sizeof(p->fdname));
        p->done = done;
        p->userdata = userdata;
        p->listener = (QemuListener) { .event = plug_event, .gone = plug_gone, .userdata = p };
        if (qemu_runtime_add_listener(rt, &p->listener) >= 0)
                p->listening = true;
        return p;
}

static void live_def_changed(DriverRuntime *rt) {
        free(rt->def_xml);
        rt->def_xml = NULL;
        (void) qemu_runtime_save_status(rt);
}

static void getfd_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        LeasePlug *p = userdata;
        DomainLeaseDef *l;
        _cleanup_free_ char *msg = NULL;

        if (!p->rt)
                return;   /* plug_gone() answered */
        if (r < 0) {
                msg = g_strdup_printf("cannot pass the lease to qemu: %s", error ?: strerror(-r));
                plug_finish(p, r == -ECONNRESET ? -ESRCH : -EIO, msg);
                return;
        }
        l = realloc(p->rt->def->leases, (p->rt->def->n_leases + 1) * sizeof(DomainLeaseDef));
        if (!l) {
                plug_finish(p, -ENOMEM, NULL);
                return;
        }
        p->rt->def->leases = l;
        l[p->rt->def->n_leases++] = p->lease;   /* the definition's now */
        p->lease = (DomainLeaseDef) {};
        live_def_changed(p->rt);
        plug_finish(p, 0, NULL);
}

int qemu_hotplug_lease_attach(DriverRuntime *rt, const DomainDef *dev, const DriverFiles *files,
                              DriverDeviceDoneFn done, void *userdata, char **ret_error) {
        LeasePlug *p;
        int r;

        if (dev->n_leases != 1 || !files || files->n_lease_fds < 1 || files->lease_fds[0] < 0) {
                *ret_error = strdup("the lease is not held");
                return -EINVAL;
        }
        if (!rt->qmp || !qmp_is_ready(rt->qmp)) {
                *ret_error = strdup("the domain is being stopped");
                return -ESRCH;
        }
        p = plug_new(rt, true, dev->leases, done, userdata);
        r = qmp_send_with_fd(rt->qmp, "getfd", json_pack("{s:s}", "fdname", p->fdname), files->lease_fds[0],
                             getfd_reply, p);
        if (r < 0) {
                plug_free(p);
                *ret_error = strdup("cannot talk to qemu's monitor");
                return r == -ENOTCONN ? -ESRCH : r;
        }
        return 0;
}

static void closefd_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        LeasePlug *p = userdata;
        DomainDef *def;

        if (!p->rt)
                return;
        /* no such fd: a lease the start gave (inherited), unlocked by the service already */
        if (r < 0 && r != -ECONNRESET)
                log_debug("lease %s: closefd: %s", strna(p->lease.key), strna(error));
        if (r == -ECONNRESET) {
                plug_finish(p, -ESRCH, "qemu closed its monitor");
                return;
        }
        def = p->rt->def;
        for (size_t i = 0; i < def->n_leases; i++)
                if (streq_ptr(def->leases[i].target_path, p->lease.target_path) &&
                    def->leases[i].target_offset == p->lease.target_offset) {
                        free(def->leases[i].lockspace);
                        free(def->leases[i].key);
                        free(def->leases[i].target_path);
                        memmove(&def->leases[i], &def->leases[i + 1], (def->n_leases - i - 1) * sizeof(DomainLeaseDef));
                        def->n_leases--;
                        break;
                }
        live_def_changed(p->rt);
        plug_finish(p, 0, NULL);
}

int qemu_hotplug_lease_detach(DriverRuntime *rt, size_t index, DriverDeviceDoneFn done, void *userdata,
                              char **ret_error) {
        LeasePlug *p;
        int r;

        if (index >= rt->def->n_leases) {
                *ret_error = strdup("no such lease");
                return -EINVAL;
        }
        if (!rt->qmp || !qmp_is_ready(rt->qmp)) {
                *ret_error = strdup("the domain is being stopped");
                return -ESRCH;
        }
        p = plug_new(rt, false, &rt->def->leases[index], done, userdata);
        r = qmp_send(rt->qmp, "closefd", json_pack("{s:s}", "fdname", p->fdname), closefd_reply, p);
        if (r < 0) {
                plug_free(p);
                *ret_error = strdup("cannot talk to qemu's monitor");
                return r == -ENOTCONN ? -ESRCH : r;
        }
        return 0;
}
