/* network-tap.c — tap devices for domains (/dev/net/tun + rtnetlink) and openvswitch ports (ovs-vsctl). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "network-internal.h"

void network_tap_host_mac(const char *guest_mac, char out[18]) {
        snprintf(out, 18, "fe%s", guest_mac && strlen(guest_mac) == 17 ? guest_mac + 2 : ":00:00:00:00:00");
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_sock *, network_nl_close);

int network_tap_create(const char *name_template, const char *guest_mac, const char *bridge,
                       bool ovs, unsigned mtu, char **ret_name, int *ret_fd) {
        _cleanup_(network_nl_closep) struct nl_sock *nl = NULL;
        _cleanup_close_ int fd = -1;
        struct ifreq ifr = {};
        char mac[18], kind[32];
        int ifindex, master = 0, r;
        char *name;

        if (name_template && strlen(name_template) >= IFNAMSIZ)
                return -EINVAL;
        r = network_nl_open(&nl);
        if (r < 0)
                return r;
        if (bridge) {
                r = network_nl_link_kind(nl, bridge, kind);
                if (r < 0)
                        return r;
                /* an openvswitch bridge: its kernel datapath device, or the tap of a
                 * userspace (netdev) datapath; the port is added with ovs-vsctl */
                if (!ovs && (streq(kind, "openvswitch") || streq(kind, "tun")))
                        ovs = true;
                if (!ovs && !streq(kind, "bridge"))
                        return -ENOTTY;
                r = network_nl_ifindex(nl, bridge);
                if (r < 0)
                        return r;
                master = ovs ? 0 : r;
                if (!mtu)
                        mtu = network_nl_link_mtu(nl, r);
        }

        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name_template ?: "vnet%d");
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return -errno;
        ifindex = network_nl_ifindex(nl, ifr.ifr_name);
        if (ifindex < 0)
                return ifindex;
        network_tap_host_mac(guest_mac, mac);
        r = network_nl_link_set(nl, ifindex, mac, mtu, master, true);
        if (r < 0)
                return r;   /* closing fd removes the (non-persistent) tap */
        name = strdup(ifr.ifr_name);
        if (!name)
                return -ENOMEM;
        log_debug("Created tap %s%s%s.", name, bridge ? " on " : "", strempty(bridge));
        *ret_name = name;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int network_runtime_attach_tap(NetworkRuntime *rt, const char *tap) {
        struct nl_sock *nl = rt->driver->nl;
        char kind[32];
        int ifindex, master, r;

        if (rt->def->virtualport_ovs)
                return -EOPNOTSUPP;
        r = network_nl_link_kind(nl, tap, kind);
        if (r < 0)
                return r;
        if (!streq(kind, "tun"))
                return -ENOTTY;
        ifindex = network_nl_ifindex(nl, tap);
        master = network_nl_ifindex(nl, rt->def->bridge);
        if (ifindex < 0 || master < 0)
                return ifindex < 0 ? ifindex : master;
        r = network_nl_link_set(nl, ifindex, NULL, network_nl_link_mtu(nl, master), master, true);
        if (r < 0)
                return r;
        log_debug("Network %s: tap %s attached to %s.", rt->def->name, tap, rt->def->bridge);
        return 0;
}

int network_tap_delete(const char *name) {
        _cleanup_(network_nl_closep) struct nl_sock *nl = NULL;
        int r = network_nl_open(&nl);
        return r < 0 ? r : network_nl_link_delete(nl, name);
}

/* ---- openvswitch ---- */

typedef struct OvsJob {
        NetworkChild *child;
        DriverDoneFn done;
        void *userdata;
} OvsJob;

static void on_ovs_done(void *userdata, int status, const char *output) {
        OvsJob *j = userdata;
        _cleanup_free_ char *msg = NULL;

        if (status != 0 && asprintf(&msg, "ovs-vsctl failed (status %d): %s", status, *output ? output : "no message") < 0)
                msg = NULL;
        network_child_free(j->child);
        j->done(j->userdata, status == 0 ? 0 : -EIO, msg);
        free(j);
}

static int ovs_run(sd_event *event, char **args, DriverDoneFn done, void *userdata) {
        _cleanup_free_ char *bin = network_find_program("ovs-vsctl");
        OvsJob *j;
        int r;

        if (!bin)
                return -ENOENT;
        args[0] = bin;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (OvsJob) { .done = done, .userdata = userdata };
        r = network_child_spawn(event, args, NULL, on_ovs_done, j, &j->child);
        if (r < 0) {
                free(j);
                return r;
        }
        return 0;
}

int network_ovs_port_add(sd_event *event, const char *bridge, const char *tap, const char *guest_mac,
                         const char *iface_id, const char *vm_id, DriverDoneFn done, void *userdata) {
        _cleanup_free_ char *mac = NULL, *id = NULL, *vm = NULL;
        char *args[20];
        size_t n = 0;

        if (asprintf(&mac, "external-ids:attached-mac=\"%s\"", strempty(guest_mac)) < 0)
                return -ENOMEM;
        if (iface_id && asprintf(&id, "external-ids:iface-id=\"%s\"", iface_id) < 0)
                return -ENOMEM;
        if (vm_id && asprintf(&vm, "external-ids:vm-id=\"%s\"", vm_id) < 0)
                return -ENOMEM;
        args[n++] = NULL;   /* the program */
        args[n++] = (char *) "--timeout=5";
        args[n++] = (char *) "--";
        args[n++] = (char *) "--may-exist";
        args[n++] = (char *) "add-port";
        args[n++] = (char *) bridge;
        args[n++] = (char *) tap;
        args[n++] = (char *) "--";
        args[n++] = (char *) "set";
        args[n++] = (char *) "Interface";
        args[n++] = (char *) tap;
        args[n++] = mac;
        if (id)
                args[n++] = id;
        args[n++] = (char *) "external-ids:iface-status=active";
        if (vm)
                args[n++] = vm;
        args[n] = NULL;
        return ovs_run(event, args, done, userdata);
}

int network_ovs_port_del(sd_event *event, const char *tap, DriverDoneFn done, void *userdata) {
        char *args[] = { NULL, (char *) "--timeout=5", (char *) "--", (char *) "--if-exists", (char *) "del-port",
                         (char *) tap, NULL };
        return ovs_run(event, args, done, userdata);
}
