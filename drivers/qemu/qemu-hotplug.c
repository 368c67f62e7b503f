/* qemu-hotplug.c — devices added to and removed from a running qemu: AttachDevice, DetachDevice and a
 * cdrom's medium change (UpdateDevice).
 *
 * An attach is a row of QMP commands, each sent when the one before it
 * answered: for a disk the image's layers bottom first (add-fd with the fd
 * the service opened as its caller, blockdev-add of the protocol node on
 * /dev/fdset/N, blockdev-add of the format node), for an interface the tap
 * (getfd, netdev_add), then device_add. When a step fails, what the earlier
 * ones made is taken back (device_del is never needed: device_add is the
 * last step) and done reports the failure once qemu answered every removal,
 * so nothing is left behind.
 *
 * A detach sends device_del and waits for DEVICE_DELETED for as long as the
 * guest takes; then the backends go (blockdev-del of the disk's nodes,
 * remove-fd of its fd sets, netdev_del, which closes the tap) and the live
 * definition loses the device. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "qemu/qemu-command.h"
#include "qemu/qemu-disk-node.h"
#include "qemu/qemu-driver-internal.h"

typedef enum HotplugWhat {
        HOTPLUG_ATTACH,
        HOTPLUG_DETACH,
        HOTPLUG_MEDIA,
} HotplugWhat;

typedef struct Layer {
        int fd;                         /* ours (dup), until qemu has it */
        char *format;
        bool readonly;
        char storage[128], node[128];   /* node names */
        int64_t fdset;                  /* -1: not added yet */
        bool storage_added, node_added;
} Layer;

typedef struct Hotplug Hotplug;
typedef void (*StepFn)(Hotplug *h, int r, const JsonValue *ret, const char *error);

struct Hotplug {
        DriverRuntime *rt;
        HotplugWhat what;
        DomainDeviceKind kind;
        DomainDef *dev;                 /* attach: the device (a copy); media: the cdrom with its new source */
        size_t index;                   /* detach, media: the device in rt->def */
        char id[80];                    /* qemu's device id */
        char prefix[48];                /* "diskN-": the disk's block nodes and fd sets */
        bool cdrom_scsi;

        Layer *layers;                  /* bottom first; the last is the one the device uses */
        size_t n_layers, next_layer;

        /* a network disk: one layer whose protocol node is qemu's client, not a file */
        bool net_disk;
        int secret_fd;                  /* its <auth>'s secret (a sealed memfd of ours), -1 */
        int64_t secret_fdset;           /* the set qemu held it in until the object read it, -1 */
        bool secret_added;              /* object-add of secret_id done */
        char secret_id[64];
        int nbd_fd;                     /* an nbd server's unix socket (connected by the service), -1 */
        char nbd_fdname[64];
        bool nbd_passed;                /* getfd done, blockdev-add not (it takes the fd) */

        int tap_fd;
        char *tap_name;
        int lease_fd;                   /* attach of a disk: its lease (ours, a dup), until it is in the image's fd set */
        char fdname[100], netdev[90];
        bool fd_passed, netdev_added;

        bool force;
        bool tray_open;                 /* media: DEVICE_TRAY_MOVED said so */
        bool tray_waiting;              /* media: the guest holds the tray shut; waiting for it to let go */
        sd_event_source *tray_timer;
        bool tray_reclosed;             /* media: the guest shut the tray again before the medium left */
        unsigned tray_tries;
        bool device_added;
        bool deleted;                   /* detach: DEVICE_DELETED seen */
        bool finished;
        bool listening;
        unsigned n_pending;             /* replies still to come */
        int error;                      /* rolling back after this failure */
        char *message;

        DriverDeviceDoneFn done;
        void *userdata;
        QemuListener listener;
};

/* every detach waiting for its guest (one per device) */
static GList *pending_detaches;

static void hotplug_free(Hotplug *h) {
        if (!h)
                return;
        pending_detaches = g_list_remove(pending_detaches, h);
        sd_event_source_disable_unref(h->tray_timer);
        if (h->listening && h->rt)
                qemu_runtime_remove_listener(h->rt, &h->listener);
        for (size_t i = 0; i < h->n_layers; i++) {
                if (h->layers[i].fd >= 0)
                        close(h->layers[i].fd);
                free(h->layers[i].format);
        }
        free(h->layers);
        if (h->secret_fd >= 0)
                close(h->secret_fd);
        if (h->nbd_fd >= 0)
                close(h->nbd_fd);
        if (h->tap_fd >= 0)
                close(h->tap_fd);
        if (h->lease_fd >= 0)
                close(h->lease_fd);
        free(h->tap_name);
        domain_def_free(h->dev);
        free(h->message);
        g_free(h);
}

/* Reports the end once and frees h. */
static void hotplug_finish(Hotplug *h, int r, const char *message) {
        DriverDeviceDoneFn done = h->done;
        void *userdata = h->userdata;
        _cleanup_free_ char *msg = message ? strdup(message) : NULL;
        char id[sizeof(h->id)];

        snprintf(id, sizeof(id), "%s", h->id);
        if (h->rt)
                qemu_runtime_log(h->rt, "%s of %s %s%s%s", h->what == HOTPLUG_ATTACH ? "attach"
                                 : h->what == HOTPLUG_DETACH ? "detach" : "medium change", id,
                                 r >= 0 ? "done" : "failed: ", r >= 0 ? "" : strna(msg), "");
        h->finished = true;
        hotplug_free(h);
        done(userdata, r, r >= 0 ? id : NULL, msg);
}

/* ---- talking to qemu ---- */

typedef struct Send {
        Hotplug *h;
        StepFn fn;
} Send;

static void send_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Send *s = userdata;
        Hotplug *h = s->h;
        StepFn fn = s->fn;

        free(s);
        h->n_pending--;
        if (fn)
                fn(h, r, ret, error);
}

static int hotplug_send(Hotplug *h, const char *command, JsonValue *args, int fd, StepFn fn) {
        Send *s;
        int r;

        if (!h->rt || !h->rt->qmp) {
                json_decref(args);
                return -ESRCH;
        }
        s = malloc(sizeof(*s));
        if (!s) {
                json_decref(args);
                return -ENOMEM;
        }
        *s = (Send) { .h = h, .fn = fn };
        r = fd >= 0 ? qmp_send_with_fd(h->rt->qmp, command, args, fd, send_reply, s)
                    : qmp_send(h->rt->qmp, command, args, send_reply, s);
        if (r < 0) {
                free(s);
                return r;
        }
        h->n_pending++;
        return 0;
}

static void rollback(Hotplug *h, int r, const char *message);

static void step(Hotplug *h, const char *command, JsonValue *args, int fd, StepFn fn) {
        int r = hotplug_send(h, command, args, fd, fn);

        if (r < 0)
                rollback(h, r == -ENOTCONN ? -ESRCH : r, "cannot talk to qemu's monitor");
}

/* A failed reply starts the roll-back with qemu's words; true when it did. */
static bool step_failed(Hotplug *h, int r, const char *error, const char *what) {
        _cleanup_free_ char *msg = NULL;

        if (r >= 0)
                return false;
        msg = g_strdup_printf("%s: %s", what, error ?: strerror(-r));
        rollback(h, r == -ECONNRESET ? -ESRCH : r == -EIO ? -EIO : r, msg);
        return true;
}

/* ---- roll-back: everything an attach made goes, newest first ---- */

static void rollback_reply(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        if (r < 0)
                qemu_runtime_log(h->rt, "hot-plug roll-back of %s: %s", h->id, error ?: strerror(-r));
        if (h->n_pending == 0)
                hotplug_finish(h, h->error, h->message);
}

static void del_node(Hotplug *h, const char *node) {
        JsonValue *a = json_object();

        json_object_set_new(a, "node-name", json_string(node));
        (void) hotplug_send(h, "blockdev-del", a, -1, rollback_reply);
}

static void remove_fdset(Hotplug *h, int64_t set) {
        JsonValue *a = json_object();

        json_object_set_new(a, "fdset-id", json_integer(set));
        (void) hotplug_send(h, "remove-fd", a, -1, rollback_reply);
}

static void rollback(Hotplug *h, int r, const char *message) {
        if (h->error < 0)
                return;   /* rolling back already */
        h->error = r < 0 ? r : -EIO;
        free(h->message);
        h->message = strdup(message ?: "hot-plug failed");
        if (h->rt && h->rt->qmp && qmp_is_ready(h->rt->qmp)) {
                if (h->netdev_added) {
                        JsonValue *a = json_object();
                        json_object_set_new(a, "id", json_string(h->netdev));
                        (void) hotplug_send(h, "netdev_del", a, -1, rollback_reply);
                } else if (h->fd_passed) {
                        JsonValue *a = json_object();
                        json_object_set_new(a, "fdname", json_string(h->fdname));
                        (void) hotplug_send(h, "closefd", a, -1, rollback_reply);
                }
                for (size_t i = h->n_layers; i > 0; i--) {
                        Layer *l = &h->layers[i - 1];
                        if (l->node_added)
                                del_node(h, l->node);
                        if (l->storage_added)
                                del_node(h, l->storage);
                        if (l->fdset >= 0)
                                remove_fdset(h, l->fdset);
                }
                if (h->nbd_passed) {
                        JsonValue *a = json_object();
                        json_object_set_new(a, "fdname", json_string(h->nbd_fdname));
                        (void) hotplug_send(h, "closefd", a, -1, rollback_reply);
                }
                if (h->secret_added) {
                        JsonValue *a = json_object();
                        json_object_set_new(a, "id", json_string(h->secret_id));
                        (void) hotplug_send(h, "object-del", a, -1, rollback_reply);
                }
                if (h->secret_fdset >= 0)
                        remove_fdset(h, h->secret_fdset);
        }
        if (h->n_pending == 0)
                hotplug_finish(h, h->error, h->message);
}

/* ---- the live definition ---- */

static void live_def_changed(DriverRuntime *rt) {
        free(rt->def_xml);
        rt->def_xml = NULL;
        (void) qemu_runtime_save_status(rt);
}

/* The service set the interface's <bandwidth> on its tap: the live definition says so. */
int qemu_hotplug_set_net_bandwidth(DriverRuntime *rt, size_t index, const NetworkBandwidthRate *inbound,
                                   const NetworkBandwidthRate *outbound) {
        if (index >= rt->def->n_nets)
                return -ENOENT;
        rt->def->nets[index].bw_inbound = *inbound;
        rt->def->nets[index].bw_outbound = *outbound;
        live_def_changed(rt);
        return 0;
}

/* Frees element index of a device array (as a definition of its own holding it) and closes the gap. */
static void array_remove(void *array, size_t *n, size_t size, size_t index, DomainDeviceKind kind) {
        DomainDef *one = domain_def_new();
        char *a = array;
        void *copy = malloc(size);

        if (one && copy) {
                memcpy(copy, a + index * size, size);
                if (kind == DOMAIN_DEVICE_DISK)
                        one->disks = copy, one->n_disks = 1;
                else if (kind == DOMAIN_DEVICE_NET)
                        one->nets = copy, one->n_nets = 1;
                else
                        one->controllers = copy, one->n_controllers = 1;
                copy = NULL;
        }
        free(copy);
        domain_def_free(one);
        memmove(a + index * size, a + (index + 1) * size, (*n - index - 1) * size);
        (*n)--;
}

static int array_append(void **array, size_t *n, size_t size, const void *elem) {
        char *a = realloc(*array, (*n + 1) * size);

        if (!a)
                return -ENOMEM;
        memcpy(a + *n * size, elem, size);
        *array = a;
        (*n)++;
        return 0;
}

/* ---- names ---- */

static bool net_id_used(const DomainDef *def, const char *id) {
        for (size_t i = 0; i < def->n_nets; i++) {
                char other[32];
                snprintf(other, sizeof(other), "net%zu", i);
                if (streq(def->nets[i].alias ?: other, id))
                        return true;
        }
        return false;
}

static void net_id(const DomainNetDef *n, size_t i, char *id, size_t len) {
        if (n->alias)
                snprintf(id, len, "%s", n->alias);
        else
                snprintf(id, len, "net%zu", i);
}

static const char *net_model_device(const char *model) {
        static const char *const map[][2] = {
                { "virtio", "virtio-net-pci" }, { "e1000", "e1000" },       { "e1000e", "e1000e" },
                { "rtl8139", "rtl8139" },       { "ne2k_pci", "ne2k_pci" }, { "pcnet", "pcnet" },
                { "vmxnet3", "vmxnet3" },
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (streq(model, map[i][0]))
                        return map[i][1];
        return NULL;
}

static bool format_has_backing(const char *fmt) {
        return STR_IN_SET(fmt, "qcow2", "qcow", "qed", "vmdk");
}

static void cache_opts(JsonValue *o, const DomainDiskDef *d) {
        const char *c = d->driver_cache;
        bool direct, no_flush;

        if (!c || streq(c, "default"))
                return;
        direct = STR_IN_SET(c, "none", "directsync");
        no_flush = streq(c, "unsafe");
        json_object_set_new(o, "cache", json_pack("{s:b,s:b}", "direct", direct, "no-flush", no_flush));
}

static void pci_address(const DomainDef *live, JsonValue *o, const DomainAddress *a) {
        bool q35 = live->os_machine && strstr(live->os_machine, "q35");
        char addr[32];

        if (a->type != DOMAIN_ADDRESS_PCI)
                return;
        if (a->bus == 0)
                json_object_set_new(o, "bus", json_string(q35 ? "pcie.0" : "pci.0"));
        else {
                char bus[32];
                snprintf(bus, sizeof(bus), "pci.%u", a->bus);
                json_object_set_new(o, "bus", json_string(bus));
        }
        if (a->function)
                snprintf(addr, sizeof(addr), "0x%x.0x%x", a->slot, a->function);
        else
                snprintf(addr, sizeof(addr), "0x%x", a->slot);
        json_object_set_new(o, "addr", json_string(addr));
        if (a->multifunction)
                json_object_set_new(o, "multifunction", json_true());
}

/* ---- attach ---- */

static void attached(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        DriverRuntime *rt = h->rt;
        int k;

        if (step_failed(h, r, error, "qemu refused the device"))
                return;
        h->device_added = true;
        /* the device is the guest's now: the live definition has it */
        switch (h->kind) {
        case DOMAIN_DEVICE_DISK:
                k = array_append((void **) &rt->def->disks, &rt->def->n_disks, sizeof(DomainDiskDef), h->dev->disks);
                if (k >= 0)
                        h->dev->n_disks = 0;
                break;
        case DOMAIN_DEVICE_NET:
                free(h->dev->nets[0].target_dev);
                h->dev->nets[0].target_dev = TAKE_PTR(h->tap_name);
                k = array_append((void **) &rt->def->nets, &rt->def->n_nets, sizeof(DomainNetDef), h->dev->nets);
                if (k >= 0)
                        h->dev->n_nets = 0;
                break;
        default:
                k = array_append((void **) &rt->def->controllers, &rt->def->n_controllers, sizeof(DomainControllerDef),
                                 h->dev->controllers);
                if (k >= 0)
                        h->dev->n_controllers = 0;
        }
        if (k < 0)
                log_error("Domain '%s': out of memory recording device %s", rt->def->name, h->id);
        live_def_changed(rt);
        hotplug_finish(h, 0, NULL);
}

static void add_device(Hotplug *h) {
        const DomainDef *live = h->rt->def;
        JsonValue *o = json_object();

        switch (h->kind) {
        case DOMAIN_DEVICE_DISK: {
                const DomainDiskDef *d = h->dev->disks;
                bool cdrom = d->device == DOMAIN_DISK_DEVICE_CDROM;

                if (d->bus == DOMAIN_DISK_BUS_VIRTIO) {
                        json_object_set_new(o, "driver", json_string("virtio-blk-pci"));
                        pci_address(live, o, &d->address);
                } else {
                        unsigned ctrl, bus, target, unit;
                        char b[32];

                        qemu_disk_scsi_address(d, &ctrl, &bus, &target, &unit);
                        json_object_set_new(o, "driver", json_string(cdrom ? "scsi-cd" : "scsi-hd"));
                        snprintf(b, sizeof(b), "scsi%u.0", ctrl);
                        json_object_set_new(o, "bus", json_string(b));
                        json_object_set_new(o, "channel", json_integer(bus));
                        json_object_set_new(o, "scsi-id", json_integer(target));
                        json_object_set_new(o, "lun", json_integer(unit));
                }
                if (h->n_layers > 0)
                        json_object_set_new(o, "drive", json_string(h->layers[h->n_layers - 1].node));
                if (d->driver_cache && !streq(d->driver_cache, "default") && !cdrom)
                        json_object_set_new(o, "write-cache",
                                            json_string(STR_IN_SET(d->driver_cache, "writethrough", "directsync") ? "off" : "on"));
                if (d->shareable)
                        json_object_set_new(o, "share-rw", json_true());
                if (d->serial)
                        json_object_set_new(o, "serial", json_string(d->serial));
                break;
        }
        case DOMAIN_DEVICE_NET: {
                const DomainNetDef *n = h->dev->nets;

                json_object_set_new(o, "driver", json_string(net_model_device(n->model ?: "rtl8139")));
                json_object_set_new(o, "netdev", json_string(h->netdev));
                json_object_set_new(o, "mac", json_string(n->mac));
                pci_address(live, o, &n->address);
                break;
        }
        default: {
                const DomainControllerDef *k = h->dev->controllers;

                if (streq(k->type, "scsi"))
                        json_object_set_new(o, "driver", json_string(streq_ptr(k->model, "lsilogic") ? "lsi"
                                                                                                     : "virtio-scsi-pci"));
                else {
                        json_object_set_new(o, "driver", json_string("virtio-serial-pci"));
                        if (k->ports > 0)
                                json_object_set_new(o, "max_ports", json_integer(k->ports));
                        if (k->vectors > 0)
                                json_object_set_new(o, "vectors", json_integer(k->vectors));
                }
                pci_address(live, o, &k->address);
        }
        }
        json_object_set_new(o, "id", json_string(h->id));
        step(h, "device_add", o, -1, attached);
}

static void next_layer(Hotplug *h);

static void node_added(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        if (step_failed(h, r, error, "cannot open the image in qemu"))
                return;
        h->layers[h->next_layer].node_added = true;
        h->next_layer++;
        next_layer(h);
}

static void storage_added(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        const DomainDiskDef *d = h->dev->disks;
        Layer *l = &h->layers[h->next_layer];
        JsonValue *o;

        if (step_failed(h, r, error, "cannot open the image in qemu"))
                return;
        l->storage_added = true;
        o = json_object();
        json_object_set_new(o, "driver", json_string(l->format));
        json_object_set_new(o, "node-name", json_string(l->node));
        json_object_set_new(o, "file", json_string(l->storage));
        json_object_set_new(o, "read-only", json_boolean(l->readonly));
        cache_opts(o, d);
        if (d->driver_discard)
                json_object_set_new(o, "discard", json_string(d->driver_discard));
        if (h->next_layer > 0)
                json_object_set_new(o, "backing", json_string(h->layers[h->next_layer - 1].node));
        else if (format_has_backing(l->format))
                json_object_set_new(o, "backing", json_null());
        step(h, "blockdev-add", o, -1, node_added);
}

static void add_storage_node(Hotplug *h);

/* The disk's lease is in its image's fd set: it goes with the set (an unplug, a rollback, qemu's exit). */
static void lease_added(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        if (step_failed(h, r, error, "cannot pass the disk's lease to qemu"))
                return;
        close(h->lease_fd);
        h->lease_fd = -1;
        add_storage_node(h);
}

static void fd_added(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        Layer *l = &h->layers[h->next_layer];
        bool top = h->next_layer == h->n_layers - 1;

        if (step_failed(h, r, error, "cannot pass the image to qemu"))
                return;
        if (json_util_integer(json_object_get(ret, "fdset-id"), &l->fdset) < 0) {
                l->fdset = -1;
                rollback(h, -EIO, "qemu named no fd set for the image");
                return;
        }
        close(l->fd);
        l->fd = -1;
        if (top && h->lease_fd >= 0) {
                JsonValue *a = json_object();
                char opaque[160];

                snprintf(opaque, sizeof(opaque), "%s-lease", l->storage);
                json_object_set_new(a, "fdset-id", json_integer(l->fdset));
                json_object_set_new(a, "opaque", json_string(opaque));
                step(h, "add-fd", a, h->lease_fd, lease_added);
                return;
        }
        add_storage_node(h);
}

static void add_storage_node(Hotplug *h) {
        const DomainDiskDef *d = h->dev->disks;
        Layer *l = &h->layers[h->next_layer];
        bool top = h->next_layer == h->n_layers - 1;
        char filename[64];
        JsonValue *o;

        snprintf(filename, sizeof(filename), "/dev/fdset/%" PRIi64, l->fdset);
        o = json_object();
        json_object_set_new(o, "driver", json_string(!top || d->type != DOMAIN_DISK_TYPE_BLOCK ? "file"
                                                     : d->device == DOMAIN_DISK_DEVICE_CDROM ? "host_cdrom"
                                                     : "host_device"));
        json_object_set_new(o, "node-name", json_string(l->storage));
        json_object_set_new(o, "filename", json_string(filename));
        json_object_set_new(o, "read-only", json_boolean(l->readonly));
        cache_opts(o, d);
        if (d->driver_io)
                json_object_set_new(o, "aio", json_string(d->driver_io));
        if (d->driver_discard)
                json_object_set_new(o, "discard", json_string(d->driver_discard));
        step(h, "blockdev-add", o, -1, storage_added);
}

static void insert_medium(Hotplug *h);

/* ---- a network disk: [secret] [nbd socket] protocol node, then the format node as for files ---- */

static void name_layers(Hotplug *h, const char *tag);

static void net_storage(Hotplug *h) {
        const DomainDiskDef *d = h->dev->disks;
        Layer *l = &h->layers[0];
        _cleanup_free_ char *err = NULL;
        JsonValue *o;

        o = qemu_disk_network_node(d, l->storage, h->secret_added ? h->secret_id : NULL,
                                   h->nbd_passed ? h->nbd_fdname : NULL, &err);
        if (!o) {
                rollback(h, -EOPNOTSUPP, err ?: "out of memory");
                return;
        }
        /* blockdev-add takes the named socket whether it works or not */
        h->nbd_passed = false;
        step(h, "blockdev-add", o, -1, storage_added);
}

static void nbd_socket_passed(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        if (step_failed(h, r, error, "cannot pass the nbd socket to qemu"))
                return;
        h->nbd_passed = true;
        close(h->nbd_fd);
        h->nbd_fd = -1;
        net_storage(h);
}

static void net_socket(Hotplug *h) {
        JsonValue *a;

        if (h->nbd_fd < 0) {
                net_storage(h);
                return;
        }
        snprintf(h->nbd_fdname, sizeof(h->nbd_fdname), "%snbd", h->prefix);
        a = json_object();
        json_object_set_new(a, "fdname", json_string(h->nbd_fdname));
        step(h, "getfd", a, h->nbd_fd, nbd_socket_passed);
}

static void secret_fdset_removed(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        if (step_failed(h, r, error, "cannot close the secret's fd in qemu"))
                return;
        h->secret_fdset = -1;
        net_socket(h);
}

static void secret_added(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        JsonValue *a;

        if (step_failed(h, r, error, "qemu refused the disk's secret"))
                return;
        h->secret_added = true;
        /* the object has read its value: qemu's copy of the fd goes */
        a = json_object();
        json_object_set_new(a, "fdset-id", json_integer(h->secret_fdset));
        step(h, "remove-fd", a, -1, secret_fdset_removed);
}

static void secret_fd_added(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        int64_t fd;
        char file[64];
        JsonValue *o;

        if (step_failed(h, r, error, "cannot pass the disk's secret to qemu"))
                return;
        if (json_util_integer(json_object_get(ret, "fdset-id"), &h->secret_fdset) < 0 ||
            json_util_integer(json_object_get(ret, "fd"), &fd) < 0) {
                h->secret_fdset = -1;
                rollback(h, -EIO, "qemu named no fd for the secret");
                return;
        }
        close(h->secret_fd);
        h->secret_fd = -1;
        snprintf(h->secret_id, sizeof(h->secret_id), "%ssecret", h->prefix);
        snprintf(file, sizeof(file), "/proc/self/fd/%" PRIi64, fd);
        o = json_object();
        json_object_set_new(o, "qom-type", json_string("secret"));
        json_object_set_new(o, "id", json_string(h->secret_id));
        json_object_set_new(o, "format", json_string("raw"));
        json_object_set_new(o, "file", json_string(file));
        step(h, "object-add", o, -1, secret_added);
}

static void net_begin(Hotplug *h) {
        JsonValue *a;

        if (h->secret_fd < 0) {
                net_socket(h);
                return;
        }
        a = json_object();
        json_object_set_new(a, "opaque", json_string(h->layers[0].storage));
        step(h, "add-fd", a, h->secret_fd, secret_fd_added);
}

/* The one layer of a network disk, its secret and its socket. */
static int take_net_layer(Hotplug *h, const DomainDiskDef *d, const DriverFiles *files, char **ret_error) {
        const char *fmt = d->driver_type ?: "raw";

        h->net_disk = true;
        h->layers = calloc(1, sizeof(Layer));
        if (!h->layers)
                return -ENOMEM;
        h->n_layers = 1;
        h->layers[0] = (Layer) { .fd = -1, .fdset = -1, .format = strdup(streq(fmt, "iso") ? "raw" : fmt),
                                 .readonly = d->readonly || d->device == DOMAIN_DISK_DEVICE_CDROM };
        if (!h->layers[0].format)
                return -ENOMEM;
        if (d->net.auth_username) {
                if (!d->net.secret_value) {
                        *ret_error = strdup("the value of the disk's secret was not looked up");
                        return -EINVAL;
                }
                h->secret_fd = qemu_secret_memfd(d->net.secret_value, d->net.secret_len);
                if (h->secret_fd < 0)
                        return h->secret_fd;
        }
        if (d->net.protocol == DOMAIN_DISK_PROTOCOL_NBD && d->net.n_hosts == 1 && d->net.hosts[0].unix_socket) {
                const DriverFile *f = driver_files_find(files, DOMAIN_PATH_DISK, 0, 0);

                if (!f || f->fd < 0) {
                        *ret_error = g_strdup_printf("the socket %s was not connected", d->net.hosts[0].socket);
                        return -EINVAL;
                }
                h->nbd_fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 3);
                if (h->nbd_fd < 0)
                        return -errno;
        }
        name_layers(h, "");
        return 0;
}

static void next_layer(Hotplug *h) {
        Layer *l;
        JsonValue *a;

        if (h->next_layer >= h->n_layers) {
                if (h->what == HOTPLUG_MEDIA)
                        insert_medium(h);
                else
                        add_device(h);
                return;
        }
        if (h->net_disk) {
                net_begin(h);
                return;
        }
        l = &h->layers[h->next_layer];
        a = json_object();
        json_object_set_new(a, "opaque", json_string(l->storage));
        step(h, "add-fd", a, l->fd, fd_added);
}

/* The layers' node names: PREFIX TAG storage/format, the backing ones PREFIX TAG backingN-…, as a start names them. */
static void name_layers(Hotplug *h, const char *tag) {
        for (size_t k = 0; k < h->n_layers; k++) {
                size_t depth = h->n_layers - 1 - k;
                Layer *l = &h->layers[k];

                if (depth == 0) {
                        snprintf(l->storage, sizeof(l->storage), "%s%sstorage", h->prefix, tag);
                        snprintf(l->node, sizeof(l->node), "%s%sformat", h->prefix, tag);
                } else {
                        snprintf(l->storage, sizeof(l->storage), "%s%sbacking%zu-storage", h->prefix, tag, depth);
                        snprintf(l->node, sizeof(l->node), "%s%sbacking%zu-format", h->prefix, tag, depth);
                }
        }
}

/* The layers of the disk's image from files (top, then its backing chain), bottom first. */
static int take_layers(Hotplug *h, const DomainDiskDef *d, const DriverFiles *files, const char *tag,
                       char **ret_error) {
        const DriverFile *f = driver_files_find(files, DOMAIN_PATH_DISK, 0, 0);
        bool readonly = d->readonly || d->device == DOMAIN_DISK_DEVICE_CDROM;
        const char *fmt = d->driver_type ?: "raw";

        if (!d->source)
                return 0;
        if (!f || f->fd < 0) {
                *ret_error = strdup("the disk's image was not opened");
                return -EINVAL;
        }
        if (streq(fmt, "iso"))
                fmt = "raw";
        h->n_layers = 1 + f->n_backing;
        h->layers = calloc(h->n_layers, sizeof(Layer));
        if (!h->layers)
                return -ENOMEM;
        for (size_t k = 0; k < h->n_layers; k++) {
                /* layers[k] is backing depth n_layers-1-k */
                size_t depth = h->n_layers - 1 - k;
                Layer *l = &h->layers[k];
                int fd = depth == 0 ? f->fd : f->backing[depth - 1].fd;

                l->fdset = -1;
                l->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (l->fd < 0)
                        return -errno;
                l->format = strdup(depth == 0 ? fmt : f->backing[depth - 1].format ?: "raw");
                l->readonly = depth > 0 || readonly;
        }
        name_layers(h, tag);
        return 0;
}

/* The new disk's nodes are named by its index in the live definition as a start names them, unless
 * nodes of that name are still there (an earlier disk's, whose index moved when one before it went):
 * then by the next free number. */
static void free_prefix_reply(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        size_t n = h->rt->def->n_disks;

        if (step_failed(h, r, error, "cannot list qemu's block nodes"))
                return;
        for (bool used = true; used; ) {
                char prefix[32];

                used = false;
                snprintf(prefix, sizeof(prefix), "disk%zu-", n);
                for (size_t i = 0; !used && i < json_array_size(ret); i++) {
                        const char *name = json_util_member_string(json_array_get(ret, i), "node-name");
                        used = name && strncmp(name, prefix, strlen(prefix)) == 0;
                }
                if (used)
                        n++;
        }
        snprintf(h->prefix, sizeof(h->prefix), "disk%zu-", n);
        name_layers(h, "");
        next_layer(h);
}

static void netdev_added(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        if (step_failed(h, r, error, "qemu cannot use the tap"))
                return;
        h->netdev_added = true;
        h->fd_passed = false;   /* netdev_add took the named fd */
        add_device(h);
}

static void add_netdev(Hotplug *h) {
        JsonValue *o = json_object();

        if (h->fd_passed) {   /* the tap, as getfd named it */
                json_object_set_new(o, "type", json_string("tap"));
                json_object_set_new(o, "fd", json_string(h->fdname));
        } else
                json_object_set_new(o, "type", json_string("user"));
        json_object_set_new(o, "id", json_string(h->netdev));
        step(h, "netdev_add", o, -1, netdev_added);
}

static void tap_passed(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        if (step_failed(h, r, error, "cannot pass the tap to qemu"))
                return;
        h->fd_passed = true;
        close(h->tap_fd);   /* qemu has it: the tap lives as long as qemu's fd */
        h->tap_fd = -1;
        add_netdev(h);
}

static void hotplug_gone(DriverRuntime *rt, bool exited, void *userdata) {
        Hotplug *h = userdata;

        h->listening = false;
        h->rt = NULL;
        if (!exited) {   /* driver teardown: nothing is called back */
                hotplug_free(h);
                return;
        }
        /* replies still due come with -ECONNRESET before the exit is seen, or never */
        h->n_pending = 0;
        hotplug_finish(h, -ESRCH, "the domain stopped");
}

static int runtime_check(DriverRuntime *rt, char **ret_error) {
        if (rt->starting || rt->killing || !rt->qmp || !qmp_is_ready(rt->qmp)) {
                *ret_error = strdup(rt->starting ? "the domain is still starting" : "the domain is being stopped");
                return rt->starting ? -EBUSY : -ESRCH;
        }
        return 0;
}

static void hotplug_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata);

static Hotplug *hotplug_new(DriverRuntime *rt, HotplugWhat what, DomainDeviceKind kind, DriverDeviceDoneFn done,
                            void *userdata) {
        Hotplug *h = g_new0(Hotplug, 1);

        h->rt = rt;
        h->what = what;
        h->kind = kind;
        h->tap_fd = -1;
        h->lease_fd = -1;
        h->secret_fd = h->nbd_fd = -1;
        h->secret_fdset = -1;
        h->done = done;
        h->userdata = userdata;
        h->listener = (QemuListener) { .event = hotplug_event, .gone = hotplug_gone, .userdata = h };
        return h;
}

static int hotplug_listen(Hotplug *h) {
        int r = qemu_runtime_add_listener(h->rt, &h->listener);

        if (r >= 0)
                h->listening = true;
        return r;
}

int qemu_hotplug_attach(DriverRuntime *rt, DomainDeviceKind kind, const DomainDef *dev, const DriverFiles *files,
                        DriverDeviceDoneFn done, void *userdata, char **ret_error) {
        Hotplug *h;
        int r;

        if (kind == DOMAIN_DEVICE_MEMORY)
                return qemu_hotplug_memory_attach(rt, dev, done, userdata, ret_error);
        if (kind == DOMAIN_DEVICE_LEASE)
                return qemu_hotplug_lease_attach(rt, dev, files, done, userdata, ret_error);
        r = runtime_check(rt, ret_error);
        if (r < 0)
                return r;
        h = hotplug_new(rt, HOTPLUG_ATTACH, kind, done, userdata);
        h->dev = domain_def_copy(dev);
        if (!h->dev) {
                hotplug_free(h);
                return -ENOMEM;
        }
        switch (kind) {
        case DOMAIN_DEVICE_DISK: {
                const DomainDiskDef *d = h->dev->disks;

                if (h->dev->n_disks != 1)
                        goto inval;
                if (d->type == DOMAIN_DISK_TYPE_VOLUME) {
                        *ret_error = strdup("storage pool volumes are not supported yet");
                        hotplug_free(h);
                        return -EOPNOTSUPP;
                }
                if (qemu_disk_device_id(d, rt->def->n_disks, h->id, sizeof(h->id), false) < 0) {
                        *ret_error = g_strdup_printf("disks on bus '%s' cannot be hot-plugged (virtio, scsi)",
                                                     domain_disk_bus_to_string(d->bus));
                        hotplug_free(h);
                        return -EOPNOTSUPP;
                }
                if (d->bus == DOMAIN_DISK_BUS_VIRTIO && d->device == DOMAIN_DISK_DEVICE_CDROM) {
                        *ret_error = strdup("a cdrom cannot be on the virtio bus");
                        hotplug_free(h);
                        return -EINVAL;
                }
                if (d->bus == DOMAIN_DISK_BUS_SCSI) {
                        unsigned ctrl, bus, target, unit;
                        bool found = false;

                        qemu_disk_scsi_address(d, &ctrl, &bus, &target, &unit);
                        for (size_t i = 0; i < rt->def->n_controllers; i++)
                                found = found || (streq_ptr(rt->def->controllers[i].type, "scsi") &&
                                                  rt->def->controllers[i].index == (int) ctrl);
                        if (!found) {
                                *ret_error = g_strdup_printf("disk '%s' needs a SCSI controller with index %u",
                                                             strempty(d->target_dev), ctrl);
                                hotplug_free(h);
                                return -EINVAL;
                        }
                }
                if (!d->source && d->device != DOMAIN_DISK_DEVICE_CDROM && d->type != DOMAIN_DISK_TYPE_NETWORK) {
                        *ret_error = g_strdup_printf("disk '%s' has no source", strempty(d->target_dev));
                        hotplug_free(h);
                        return -EINVAL;
                }
                /* its nodes are named by its index in the live definition, as a start names them */
                snprintf(h->prefix, sizeof(h->prefix), "disk%zu-", rt->def->n_disks);
                r = d->type == DOMAIN_DISK_TYPE_NETWORK ? take_net_layer(h, d, files, ret_error)
                                                        : take_layers(h, d, files, "", ret_error);
                if (r >= 0 && files && files->n_lease_fds > 0 && files->lease_fds[0] >= 0) {
                        h->lease_fd = fcntl(files->lease_fds[0], F_DUPFD_CLOEXEC, 3);
                        if (h->lease_fd < 0)
                                r = -errno;
                }
                if (r < 0) {
                        hotplug_free(h);
                        return r;
                }
                break;
        }
        case DOMAIN_DEVICE_NET: {
                DomainNetDef *n = h->dev->nets;
                QemuDriver *drv = rt->driver;

                if (h->dev->n_nets != 1)
                        goto inval;
                if (!net_model_device(n->model ?: "rtl8139")) {
                        *ret_error = g_strdup_printf("model '%s' is not supported", n->model);
                        hotplug_free(h);
                        return -EOPNOTSUPP;
                }
                if (!n->mac) {
                        *ret_error = strdup("the interface has no MAC address");
                        hotplug_free(h);
                        return -EINVAL;
                }
                /* a hot-plugged interface has an id that stays its own whatever goes before it */
                if (!n->alias) {
                        for (size_t k = rt->def->n_nets;; k++) {
                                char id[32];
                                snprintf(id, sizeof(id), "ua-net%zu", k);
                                if (!net_id_used(rt->def, id)) {
                                        n->alias = strdup(id);
                                        break;
                                }
                        }
                } else if (net_id_used(rt->def, n->alias)) {
                        *ret_error = g_strdup_printf("alias '%s' is in use", n->alias);
                        hotplug_free(h);
                        return -EINVAL;
                }
                net_id(n, 0, h->id, sizeof(h->id));
                snprintf(h->netdev, sizeof(h->netdev), "host%s", h->id);
                snprintf(h->fdname, sizeof(h->fdname), "%s-fd", h->netdev);
                if (n->type == DOMAIN_NET_TYPE_NETWORK || n->type == DOMAIN_NET_TYPE_BRIDGE) {
                        if (!n->source_bridge) {
                                *ret_error = g_strdup_printf("network '%s' is not active", strempty(n->source_network));
                                hotplug_free(h);
                                return -ENOTCONN;
                        }
                        r = drv->events.create_tap ? drv->events.create_tap(rt->owner, n, &h->tap_name, &h->tap_fd)
                                                   : -EOPNOTSUPP;
                        if (r < 0) {
                                *ret_error = r == -ENODEV ? g_strdup_printf("bridge '%s' does not exist", n->source_bridge)
                                           : r == -EOPNOTSUPP ? g_strdup("this host makes no tap devices")
                                           : r == -EPROTONOSUPPORT ? g_strdup("cannot set the interface's <bandwidth> on its tap (vmgmtd's log says why)")
                                           : g_strdup_printf("cannot create a tap device on bridge '%s': %s",
                                                             n->source_bridge, strerror(-r));
                                hotplug_free(h);
                                return r;
                        }
                }
                break;
        }
        case DOMAIN_DEVICE_CONTROLLER: {
                const DomainControllerDef *k = h->dev->controllers;

                if (h->dev->n_controllers != 1)
                        goto inval;
                if (streq_ptr(k->type, "scsi") && (!k->model || STR_IN_SET(k->model, "virtio-scsi", "lsilogic")))
                        snprintf(h->id, sizeof(h->id), "scsi%d", k->index);
                else if (streq_ptr(k->type, "virtio-serial"))
                        snprintf(h->id, sizeof(h->id), "virtio-serial%d", k->index);
                else {
                        *ret_error = g_strdup_printf("controllers of type '%s' cannot be hot-plugged (scsi, virtio-serial)",
                                                     strempty(k->type));
                        hotplug_free(h);
                        return -EOPNOTSUPP;
                }
                for (size_t i = 0; i < rt->def->n_controllers; i++)
                        if (streq_ptr(rt->def->controllers[i].type, k->type) && rt->def->controllers[i].index == k->index) {
                                *ret_error = g_strdup_printf("there is a %s controller with index %d already", k->type,
                                                             k->index);
                                hotplug_free(h);
                                return -EINVAL;
                        }
                break;
        }
        default:
                goto inval;
        }
        r = hotplug_listen(h);
        if (r < 0) {
                hotplug_free(h);
                return r;
        }
        qemu_runtime_log(rt, "attaching %s", h->id);
        if (kind == DOMAIN_DEVICE_DISK && h->n_layers > 0)
                step(h, "query-named-block-nodes", NULL, -1, free_prefix_reply);
        else if (kind == DOMAIN_DEVICE_DISK)
                add_device(h);
        else if (kind == DOMAIN_DEVICE_NET && h->tap_fd >= 0) {
                JsonValue *a = json_object();
                json_object_set_new(a, "fdname", json_string(h->fdname));
                step(h, "getfd", a, h->tap_fd, tap_passed);
        } else if (kind == DOMAIN_DEVICE_NET)
                add_netdev(h);
        else
                add_device(h);
        return 0;

inval:
        *ret_error = strdup("the definition holds no single device of that kind");
        hotplug_free(h);
        return -EINVAL;
}

/* ---- detach ---- */

static void backends_gone(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        DriverRuntime *rt = h->rt;

        if (r < 0)
                qemu_runtime_log(rt, "removing the backend of %s: %s", h->id, error ?: strerror(-r));
        if (h->n_pending > 0)
                return;
        /* the device is gone from the guest: from the live definition too (found again: others may have gone meanwhile) */
        for (size_t i = 0; i < rt->def->n_disks && h->kind == DOMAIN_DEVICE_DISK; i++) {
                char id[80];
                if (qemu_disk_device_id(&rt->def->disks[i], i, id, sizeof(id), true) >= 0 && streq(id, h->id)) {
                        array_remove(rt->def->disks, &rt->def->n_disks, sizeof(DomainDiskDef), i, DOMAIN_DEVICE_DISK);
                        qemu_block_jobs_disk_removed(rt, i);
                        break;
                }
        }
        for (size_t i = 0; i < rt->def->n_nets && h->kind == DOMAIN_DEVICE_NET; i++) {
                char id[80];
                net_id(&rt->def->nets[i], i, id, sizeof(id));
                if (streq(id, h->id)) {
                        array_remove(rt->def->nets, &rt->def->n_nets, sizeof(DomainNetDef), i, DOMAIN_DEVICE_NET);
                        break;
                }
        }
        for (size_t i = 0; i < rt->def->n_controllers && h->kind == DOMAIN_DEVICE_CONTROLLER; i++) {
                const DomainControllerDef *k = &rt->def->controllers[i];
                char id[80];
                snprintf(id, sizeof(id), "%s%d", streq(k->type, "scsi") ? "scsi" : "virtio-serial", k->index);
                if (streq(id, h->id)) {
                        array_remove(rt->def->controllers, &rt->def->n_controllers, sizeof(DomainControllerDef), i,
                                     DOMAIN_DEVICE_CONTROLLER);
                        break;
                }
        }
        live_def_changed(rt);
        hotplug_finish(h, 0, NULL);
}

static bool has_prefix(const char *s, const char *prefix) {
        return s && prefix[0] && strncmp(s, prefix, strlen(prefix)) == 0;
}

static void fdsets_reply(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        for (size_t i = 0; r >= 0 && i < json_array_size(ret); i++) {
                const JsonValue *set = json_array_get(ret, i), *fds = json_object_get(set, "fds");
                int64_t id;
                bool ours = json_array_size(fds) > 0;

                for (size_t k = 0; k < json_array_size(fds); k++)
                        ours = ours && has_prefix(json_util_member_string(json_array_get(fds, k), "opaque"), h->prefix);
                if (ours && json_util_integer(json_object_get(set, "fdset-id"), &id) >= 0) {
                        JsonValue *a = json_object();
                        json_object_set_new(a, "fdset-id", json_integer(id));
                        (void) hotplug_send(h, "remove-fd", a, -1, backends_gone);
                }
        }
        backends_gone(h, 0, NULL, NULL);
}

static int cmp_depth(const void *a, const void *b) {
        const JsonValue *x = *(const JsonValue *const *) a, *y = *(const JsonValue *const *) b;
        const char *nx = json_util_member_string(x, "node-name"), *ny = json_util_member_string(y, "node-name");
        bool sx = g_str_has_suffix(nx, "-storage"), sy = g_str_has_suffix(ny, "-storage");
        int64_t dx = 0, dy = 0;

        /* format nodes first, the top before what is below it; protocol nodes last */
        if (sx != sy)
                return sx ? 1 : -1;
        (void) json_util_integer(json_object_get(x, "backing_file_depth"), &dx);
        (void) json_util_integer(json_object_get(y, "backing_file_depth"), &dy);
        return dx < dy ? 1 : dx > dy ? -1 : 0;
}

/* The disk's block nodes (every one named PREFIX…), each once nothing above uses it. */
static void nodes_reply(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        GPtrArray *nodes = g_ptr_array_new();

        for (size_t i = 0; r >= 0 && i < json_array_size(ret); i++) {
                const JsonValue *n = json_array_get(ret, i);
                if (has_prefix(json_util_member_string(n, "node-name"), h->prefix))
                        g_ptr_array_add(nodes, (void *) n);
        }
        qsort(nodes->pdata, nodes->len, sizeof(void *), cmp_depth);
        for (guint i = 0; i < nodes->len; i++) {
                JsonValue *a = json_object();
                json_object_set_new(a, "node-name", json_string(json_util_member_string(nodes->pdata[i], "node-name")));
                (void) hotplug_send(h, "blockdev-del", a, -1, NULL);
        }
        g_ptr_array_free(nodes, TRUE);
        for (size_t i = 0; i < h->rt->def->n_disks; i++) {
                const DomainDiskDef *d = &h->rt->def->disks[i];
                char id[80];

                /* a network disk's secret object, once its node is gone */
                if (d->type == DOMAIN_DISK_TYPE_NETWORK && d->net.auth_username &&
                    qemu_disk_device_id(d, i, id, sizeof(id), true) >= 0 && streq(id, h->id)) {
                        JsonValue *a = json_object();
                        _cleanup_free_ char *sid = g_strdup_printf("%ssecret", h->prefix);

                        json_object_set_new(a, "id", json_string(sid));
                        (void) hotplug_send(h, "object-del", a, -1, NULL);
                }
        }
        /* the fd sets after the nodes that had them open */
        if (hotplug_send(h, "query-fdsets", NULL, -1, fdsets_reply) < 0)
                backends_gone(h, 0, NULL, NULL);
}

static void remove_backends(Hotplug *h) {
        JsonValue *a;

        switch (h->kind) {
        case DOMAIN_DEVICE_DISK:
                if (h->prefix[0] && hotplug_send(h, "query-named-block-nodes", NULL, -1, nodes_reply) >= 0)
                        return;
                break;
        case DOMAIN_DEVICE_NET:
                if (!h->netdev[0])
                        break;
                a = json_object();
                json_object_set_new(a, "id", json_string(h->netdev));
                if (hotplug_send(h, "netdev_del", a, -1, backends_gone) >= 0)
                        return;
                break;
        default:
                break;
        }
        backends_gone(h, 0, NULL, NULL);
}

static void remove_medium(Hotplug *h);

static void hotplug_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
        Hotplug *h = userdata;

        if (h->what == HOTPLUG_MEDIA && streq(name, "DEVICE_TRAY_MOVED") &&
            streq_ptr(json_util_member_string(data, "id"), h->id)) {
                bool open = false;
                (void) json_util_boolean(json_object_get(data, "tray-open"), &open);
                h->tray_open = open;
                if (open && h->tray_waiting) {
                        h->tray_waiting = false;
                        h->tray_timer = sd_event_source_disable_unref(h->tray_timer);
                        remove_medium(h);
                }
                return;
        }
        if (h->what != HOTPLUG_DETACH || h->deleted || !streq(name, "DEVICE_DELETED") ||
            !streq_ptr(json_util_member_string(data, "device"), h->id))
                return;
        h->deleted = true;
        qemu_runtime_log(rt, "the guest released %s", h->id);
        remove_backends(h);
}

static void device_del_reply(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        _cleanup_free_ char *msg = NULL;

        if (r >= 0 || h->deleted)
                return;   /* now the guest's turn: DEVICE_DELETED */
        msg = g_strdup_printf("qemu refused to remove %s: %s", h->id, error ?: strerror(-r));
        hotplug_finish(h, r == -ECONNRESET ? -ESRCH : r, msg);
}

static void send_device_del(Hotplug *h) {
        JsonValue *a = json_object();
        int r;

        json_object_set_new(a, "id", json_string(h->id));
        r = hotplug_send(h, "device_del", a, -1, device_del_reply);
        if (r < 0)
                hotplug_finish(h, r == -ENOTCONN ? -ESRCH : r, "cannot talk to qemu's monitor");
}

/* The disk's medium names its nodes' prefix ("disk3-format" → "disk3-"): its index at start or attach. */
static void block_reply(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        for (size_t i = 0; r >= 0 && i < json_array_size(ret); i++) {
                const JsonValue *b = json_array_get(ret, i);
                const char *qdev = json_util_member_string(b, "qdev");
                const char *node = json_util_member_string(json_object_get(b, "inserted"), "node-name");

                if (node && qemu_qdev_is(qdev, h->id))
                        (void) qemu_node_prefix(node, h->prefix, sizeof(h->prefix));
        }
        if (h->what == HOTPLUG_MEDIA) {
                next_layer(h);   /* the new medium's nodes, then out with the old one */
                return;
        }
        send_device_del(h);
}

static void netdev_reply(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        const char *s = r >= 0 ? json_string_value(ret) : NULL;

        if (s)
                snprintf(h->netdev, sizeof(h->netdev), "%s", s);
        send_device_del(h);
}

int qemu_hotplug_detach(DriverRuntime *rt, DomainDeviceKind kind, size_t index, DriverDeviceDoneFn done,
                        void *userdata, char **ret_error) {
        Hotplug *h;
        int r;

        if (kind == DOMAIN_DEVICE_MEMORY)
                return qemu_hotplug_memory_detach(rt, index, done, userdata, ret_error);
        if (kind == DOMAIN_DEVICE_LEASE)
                return qemu_hotplug_lease_detach(rt, index, done, userdata, ret_error);
        r = runtime_check(rt, ret_error);
        if (r < 0)
                return r;
        h = hotplug_new(rt, HOTPLUG_DETACH, kind, done, userdata);
        h->index = index;
        switch (kind) {
        case DOMAIN_DEVICE_DISK:
                if (index >= rt->def->n_disks)
                        goto inval;
                if (qemu_disk_device_id(&rt->def->disks[index], index, h->id, sizeof(h->id), false) < 0) {
                        *ret_error = g_strdup_printf("disks on bus '%s' cannot be unplugged (virtio, scsi)",
                                                     domain_disk_bus_to_string(rt->def->disks[index].bus));
                        hotplug_free(h);
                        return -EOPNOTSUPP;
                }
                if (qemu_block_job_on_disk(rt, index)) {
                        *ret_error = g_strdup_printf("a block job runs on disk '%s': abort it first",
                                                     strempty(rt->def->disks[index].target_dev));
                        hotplug_free(h);
                        return -EBUSY;
                }
                break;
        case DOMAIN_DEVICE_NET:
                if (index >= rt->def->n_nets)
                        goto inval;
                net_id(&rt->def->nets[index], index, h->id, sizeof(h->id));
                break;
        case DOMAIN_DEVICE_CONTROLLER: {
                const DomainControllerDef *k;

                if (index >= rt->def->n_controllers)
                        goto inval;
                k = &rt->def->controllers[index];
                if (!STR_IN_SET(k->type, "scsi", "virtio-serial")) {
                        *ret_error = g_strdup_printf("controllers of type '%s' cannot be unplugged (scsi, virtio-serial)",
                                                     k->type);
                        hotplug_free(h);
                        return -EOPNOTSUPP;
                }
                for (size_t i = 0; i < rt->def->n_disks; i++)
                        if (streq(k->type, "scsi") && rt->def->disks[i].bus == DOMAIN_DISK_BUS_SCSI) {
                                unsigned ctrl, bus, target, unit;
                                qemu_disk_scsi_address(&rt->def->disks[i], &ctrl, &bus, &target, &unit);
                                if ((int) ctrl == k->index) {
                                        *ret_error = g_strdup_printf("disk '%s' is on the controller",
                                                                     strempty(rt->def->disks[i].target_dev));
                                        hotplug_free(h);
                                        return -EBUSY;
                                }
                        }
                snprintf(h->id, sizeof(h->id), "%s%d", k->type, k->index);
                break;
        }
        default:
                goto inval;
        }
        for (GList *l = pending_detaches; l; l = l->next) {
                Hotplug *o = l->data;
                if (o->rt == rt && streq(o->id, h->id)) {
                        *ret_error = g_strdup_printf("the guest has been asked to release %s already", h->id);
                        hotplug_free(h);
                        return -EBUSY;
                }
        }
        r = hotplug_listen(h);
        if (r < 0) {
                hotplug_free(h);
                return r;
        }
        pending_detaches = g_list_prepend(pending_detaches, h);
        qemu_runtime_log(rt, "detaching %s", h->id);
        if (kind == DOMAIN_DEVICE_DISK)
                r = hotplug_send(h, "query-block", NULL, -1, block_reply);
        else if (kind == DOMAIN_DEVICE_NET) {
                JsonValue *a = json_object();
                _cleanup_free_ char *path = g_strdup_printf("/machine/peripheral/%s", h->id);
                json_object_set_new(a, "path", json_string(path));
                json_object_set_new(a, "property", json_string("netdev"));
                r = hotplug_send(h, "qom-get", a, -1, netdev_reply);
        } else {
                JsonValue *a = json_object();
                json_object_set_new(a, "id", json_string(h->id));
                r = hotplug_send(h, "device_del", a, -1, device_del_reply);
        }
        if (r < 0) {
                hotplug_free(h);
                *ret_error = strdup("cannot talk to qemu's monitor");
                return r == -ENOTCONN ? -ESRCH : r;
        }
        return 0;

inval:
        *ret_error = strdup("no such device in the live definition");
        hotplug_free(h);
        return -EINVAL;
}

/* ---- a cdrom's medium ---- */

static void media_done(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        DriverRuntime *rt = h->rt;
        DomainDiskDef *d;

        if (step_failed(h, r, error, "cannot change the medium"))
                return;
        if (h->index < rt->def->n_disks) {
                d = &rt->def->disks[h->index];
                free(d->source);
                d->source = h->dev->disks->source ? strdup(h->dev->disks->source) : NULL;
                free(d->driver_type);
                d->driver_type = h->dev->disks->driver_type ? strdup(h->dev->disks->driver_type) : NULL;
                live_def_changed(rt);
        }
        hotplug_finish(h, 0, NULL);
}

/* A reply that comes while rolling back: the end once every reply is in. True when rolling back. */
static bool rolled_back(Hotplug *h) {
        if (h->error >= 0)
                return false;
        if (h->n_pending == 0)
                hotplug_finish(h, h->error, h->message);
        return true;
}

static void cleanup_old_medium(Hotplug *h);

#define TRAY_TRIES 5

/* The guest may shut the tray again between its opening and blockdev-remove-medium or
 * blockdev-insert-medium (Linux's sr driver closes it when something opens the drive): qemu then
 * says the tray "is not open". Open it again and go on from the removal (of an empty drive: a no-op),
 * a few times, rather than fail the change. */
static bool tray_shut_again(Hotplug *h, int r, const char *error) {
        if (r >= 0 || !error || !strstr(error, "is not open") || h->tray_tries >= TRAY_TRIES)
                return false;
        qemu_runtime_log(h->rt, "the guest shut the tray of %s again; opening it once more", h->id);
        h->tray_reclosed = true;
        return true;
}

static void reopen_tray(Hotplug *h) {
        h->tray_reclosed = false;
        h->tray_open = false;
        h->tray_tries++;
        insert_medium(h);
}

static void medium_inserted(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        if (rolled_back(h))
                return;
        if (h->tray_reclosed)   /* refused as the removal before it was; tray_closed() starts over */
                return;
        if (tray_shut_again(h, r, error))   /* shut between the removal and this: tray_closed() starts over */
                return;
        if (step_failed(h, r, error, "cannot insert the new medium"))
                return;
        /* it is the cdrom's now: a failure from here on leaves it inserted */
        for (size_t i = 0; i < h->n_layers; i++)
                h->layers[i].node_added = h->layers[i].storage_added = false, h->layers[i].fdset = -1;
}

static void tray_closed(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        if (rolled_back(h))
                return;
        if (h->tray_reclosed) {
                reopen_tray(h);
                return;
        }
        if (r < 0)   /* the new medium is in; the tray stays open */
                qemu_runtime_log(h->rt, "cannot close the tray of %s: %s", h->id, error ?: strerror(-r));
        cleanup_old_medium(h);
}

static void old_medium_gone(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        if (h->n_pending > 0)
                return;
        media_done(h, 0, NULL, NULL);
}

static void old_fdsets_reply(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        for (size_t i = 0; r >= 0 && i < json_array_size(ret); i++) {
                const JsonValue *set = json_array_get(ret, i), *fds = json_object_get(set, "fds");
                int64_t id;
                bool ours = json_array_size(fds) > 0;

                for (size_t k = 0; k < json_array_size(fds); k++) {
                        const char *o = json_util_member_string(json_array_get(fds, k), "opaque");
                        /* the old medium's sets, not the new one's */
                        ours = ours && has_prefix(o, h->prefix);
                        for (size_t n = 0; ours && n < h->n_layers; n++)
                                ours = !streq(o, h->layers[n].storage);
                }
                if (ours && json_util_integer(json_object_get(set, "fdset-id"), &id) >= 0) {
                        JsonValue *a = json_object();
                        json_object_set_new(a, "fdset-id", json_integer(id));
                        (void) hotplug_send(h, "remove-fd", a, -1, old_medium_gone);
                }
        }
        old_medium_gone(h, 0, NULL, NULL);
}

static void old_nodes_reply(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        GPtrArray *nodes = g_ptr_array_new();

        for (size_t i = 0; r >= 0 && i < json_array_size(ret); i++) {
                const JsonValue *n = json_array_get(ret, i);
                const char *name = json_util_member_string(n, "node-name");
                bool new_one = false;

                for (size_t k = 0; k < h->n_layers; k++)
                        new_one = new_one || streq(name, h->layers[k].node) || streq(name, h->layers[k].storage);
                if (has_prefix(name, h->prefix) && !new_one)
                        g_ptr_array_add(nodes, (void *) n);
        }
        qsort(nodes->pdata, nodes->len, sizeof(void *), cmp_depth);
        for (guint i = 0; i < nodes->len; i++) {
                JsonValue *a = json_object();
                json_object_set_new(a, "node-name", json_string(json_util_member_string(nodes->pdata[i], "node-name")));
                (void) hotplug_send(h, "blockdev-del", a, -1, NULL);
        }
        g_ptr_array_free(nodes, TRUE);
        step(h, "query-fdsets", NULL, -1, old_fdsets_reply);
}

static void medium_removed(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        if (rolled_back(h))
                return;
        if (tray_shut_again(h, r, error)) {
                if (h->n_layers == 0)   /* an eject: nothing else was sent after the removal */
                        reopen_tray(h);
                return;
        }
        if (step_failed(h, r, error, "cannot remove the medium"))
                return;
        if (h->n_layers == 0)   /* an eject: the tray stays open, as libvirt leaves it */
                cleanup_old_medium(h);
}

/* The old medium's nodes and fd sets go once the new one is in. */
static void cleanup_old_medium(Hotplug *h) {
        if (!h->prefix[0]) {   /* the drive was empty */
                media_done(h, 0, NULL, NULL);
                return;
        }
        step(h, "query-named-block-nodes", NULL, -1, old_nodes_reply);
}

static void remove_medium(Hotplug *h) {
        JsonValue *a = json_object();

        /* one after the other without waiting: the guest can close the tray again between two
         * commands that each wait for the last one's answer */
        json_object_set_new(a, "id", json_string(h->id));
        step(h, "blockdev-remove-medium", a, -1, medium_removed);
        if (h->n_layers == 0 || h->error < 0)
                return;
        a = json_object();
        json_object_set_new(a, "id", json_string(h->id));
        json_object_set_new(a, "node-name", json_string(h->layers[h->n_layers - 1].node));
        step(h, "blockdev-insert-medium", a, -1, medium_inserted);
        if (h->error < 0)
                return;
        a = json_object();
        json_object_set_new(a, "id", json_string(h->id));
        step(h, "blockdev-close-tray", a, -1, tray_closed);
}

#define TRAY_WAIT_USEC (10 * 1000000ULL)

static int on_tray_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Hotplug *h = userdata;
        _cleanup_free_ char *msg = g_strdup_printf("the guest keeps the tray of %s locked (force opens it anyway)", h->id);

        h->tray_timer = sd_event_source_disable_unref(h->tray_timer);
        h->tray_waiting = false;
        rollback(h, -EBUSY, msg);
        return 0;
}

/* Whether the tray is open now (it may have been before: no event then); else the guest was asked to
 * open it and does so when it lets go of its lock. */
static void tray_state_reply(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        for (size_t i = 0; r >= 0 && i < json_array_size(ret); i++) {
                const JsonValue *b = json_array_get(ret, i);
                const char *qdev = json_util_member_string(b, "qdev");
                bool open = false;

                if (!qemu_qdev_is(qdev, h->id))
                        continue;
                if (json_util_boolean(json_object_get(b, "tray_open"), &open) >= 0 && open)
                        h->tray_open = true;
        }
        if (h->tray_open) {
                remove_medium(h);
                return;
        }
        h->tray_waiting = true;
        if (sd_event_add_time_relative(h->rt->driver->event, &h->tray_timer, CLOCK_MONOTONIC, TRAY_WAIT_USEC, 0,
                                       on_tray_timeout, h) < 0)
                on_tray_timeout(NULL, 0, h);
}

static void tray_opened(Hotplug *h, int r, const JsonValue *ret, const char *error) {
        if (step_failed(h, r, error, "cannot open the tray"))
                return;
        if (h->tray_open) {
                remove_medium(h);
                return;
        }
        step(h, "query-block", NULL, -1, tray_state_reply);
}

static void insert_medium(Hotplug *h) {
        JsonValue *a = json_object();

        /* the new medium's nodes are there: out with the old one */
        json_object_set_new(a, "id", json_string(h->id));
        json_object_set_new(a, "force", json_boolean(h->force));
        step(h, "blockdev-open-tray", a, -1, tray_opened);
}

int qemu_hotplug_change_media(DriverRuntime *rt, size_t index, const DomainDiskDef *disk, const DriverFiles *files,
                              bool force, DriverDeviceDoneFn done, void *userdata, char **ret_error) {
        Hotplug *h;
        const DomainDiskDef *cur;
        int r;

        r = runtime_check(rt, ret_error);
        if (r < 0)
                return r;
        if (index >= rt->def->n_disks || rt->def->disks[index].device != DOMAIN_DISK_DEVICE_CDROM) {
                *ret_error = strdup("no such cdrom in the live definition");
                return -EINVAL;
        }
        cur = &rt->def->disks[index];
        if (disk->type == DOMAIN_DISK_TYPE_NETWORK || cur->type == DOMAIN_DISK_TYPE_NETWORK) {
                *ret_error = strdup("changing the medium of a cdrom from or to a network source is not supported");
                return -EOPNOTSUPP;
        }
        h = hotplug_new(rt, HOTPLUG_MEDIA, DOMAIN_DEVICE_DISK, done, userdata);
        h->index = index;
        h->force = force;
        h->dev = domain_def_new();
        h->dev->disks = calloc(1, sizeof(DomainDiskDef));
        h->dev->n_disks = 1;
        h->dev->disks->type = disk->type;
        h->dev->disks->device = DOMAIN_DISK_DEVICE_CDROM;
        h->dev->disks->readonly = true;
        h->dev->disks->source = disk->source ? strdup(disk->source) : NULL;
        h->dev->disks->driver_type = disk->driver_type ? strdup(disk->driver_type) : NULL;
        h->dev->disks->driver_cache = cur->driver_cache ? strdup(cur->driver_cache) : NULL;
        (void) qemu_disk_device_id(cur, index, h->id, sizeof(h->id), true);
        {
                /* names of its own for the new medium's nodes (the old ones are still there while
                 * it opens), under the cdrom's index as a start names them */
                char tag[32];
                snprintf(tag, sizeof(tag), "m%08x-", g_random_int());
                snprintf(h->prefix, sizeof(h->prefix), "disk%zu-", index);
                r = take_layers(h, h->dev->disks, files, tag, ret_error);
                h->prefix[0] = 0;   /* the old medium's: query-block tells */
                if (r < 0) {
                        hotplug_free(h);
                        return r;
                }
        }
        r = hotplug_listen(h);
        if (r < 0) {
                hotplug_free(h);
                return r;
        }
        r = hotplug_send(h, "query-block", NULL, -1, block_reply);
        if (r < 0) {
                hotplug_free(h);
                *ret_error = strdup("cannot talk to qemu's monitor");
                return r == -ENOTCONN ? -ESRCH : r;
        }
        return 0;
}
