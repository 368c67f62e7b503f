/* network-netlink.c — bridges, addresses and links through rtnetlink (libnl3), no `ip` program. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/rtnl.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "macro.h"
#include "network-internal.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_addr *, rtnl_addr_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_addr *, nl_addr_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_msg *, nlmsg_free);

/* libnl's NLE_* → -errno */
static int nl_to_errno(int nle) {
        switch (nle < 0 ? -nle : nle) {
        case 0: return 0;
        case NLE_EXIST: return -EEXIST;
        case NLE_NOMEM: return -ENOMEM;
        case NLE_PERM: return -EPERM;
        case NLE_NODEV: case NLE_OBJ_NOTFOUND: return -ENODEV;
        case NLE_BUSY: return -EBUSY;
        case NLE_RANGE: return -ERANGE;
        case NLE_INVAL: case NLE_MSG_TOOSHORT: return -EINVAL;
        case NLE_NOADDR: return -EADDRNOTAVAIL;
        case NLE_OPNOTSUPP: return -EOPNOTSUPP;
        case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
        case NLE_AGAIN: return -EAGAIN;
        case NLE_INTR: return -EINTR;
        default: return -EIO;
        }
}

int network_nl_open(struct nl_sock **ret) {
        struct nl_sock *s = nl_socket_alloc();
        int r;

        if (!s)
                return -ENOMEM;
        r = nl_connect(s, NETLINK_ROUTE);
        if (r < 0) {
                nl_socket_free(s);
                return nl_to_errno(r);
        }
        /* libnl opens its socket without O_CLOEXEC; children must not inherit it */
        (void) fcntl(nl_socket_get_fd(s), F_SETFD, FD_CLOEXEC);
        *ret = s;
        return 0;
}

void network_nl_close(struct nl_sock *s) {
        if (s)
                nl_socket_free(s);
}

static int link_get(struct nl_sock *s, const char *name, struct rtnl_link **ret) {
        if (isempty(name) || strlen(name) >= IFNAMSIZ)
                return -ENODEV;
        int r = rtnl_link_get_kernel(s, 0, name, ret);
        return r < 0 ? nl_to_errno(r) : 0;
}

int network_nl_ifindex(struct nl_sock *s, const char *name) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL;
        int r = link_get(s, name, &l);
        return r < 0 ? r : rtnl_link_get_ifindex(l);
}

int network_nl_link_kind(struct nl_sock *s, const char *name, char kind[32]) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL;
        int r = link_get(s, name, &l);
        if (r < 0)
                return r;
        const char *t = rtnl_link_get_type(l);
        snprintf(kind, 32, "%s", t ? t : "");
        return 0;
}

unsigned network_nl_link_mtu(struct nl_sock *s, int ifindex) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL;
        if (rtnl_link_get_kernel(s, ifindex, NULL, &l) < 0)
                return 0;
        return rtnl_link_get_mtu(l);
}

static int mac_bytes(const char *mac, uint8_t out[6]) {
        unsigned v[6];
        if (sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
                return -EINVAL;
        for (int i = 0; i < 6; i++)
                out[i] = (uint8_t) v[i];
        return 0;
}

int network_nl_bridge_create(struct nl_sock *s, const char *name, const char *mac, unsigned mtu, bool stp, unsigned delay_s) {
        _cleanup_(nlmsg_freep) struct nl_msg *m = NULL;
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
        struct nlattr *info, *data;
        uint8_t hw[6];
        int r;

        m = nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        if (!m)
                return -ENOMEM;
        if (nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 || nla_put_string(m, IFLA_IFNAME, name) < 0)
                return -ENOMEM;
        if (mac) {
                if (mac_bytes(mac, hw) < 0)
                        return -EINVAL;
                if (nla_put(m, IFLA_ADDRESS, 6, hw) < 0)
                        return -ENOMEM;
        }
        if (mtu && nla_put_u32(m, IFLA_MTU, mtu) < 0)
                return -ENOMEM;
        if (!(info = nla_nest_start(m, IFLA_LINKINFO)) || nla_put_string(m, IFLA_INFO_KIND, "bridge") < 0 ||
            !(data = nla_nest_start(m, IFLA_INFO_DATA)) ||
            /* the delay first: the kernel accepts any delay while STP is still off */
            nla_put_u32(m, IFLA_BR_FORWARD_DELAY, delay_s * 100) < 0 ||   /* clock_t, USER_HZ = 100 */
            nla_put_u32(m, IFLA_BR_STP_STATE, stp ? 1 : 0) < 0)
                return -ENOMEM;
        nla_nest_end(m, data);
        nla_nest_end(m, info);

        r = nl_send_auto(s, m);
        if (r < 0)
                return nl_to_errno(r);
        r = nl_wait_for_ack(s);
        return r < 0 ? nl_to_errno(r) : 0;
}

int network_nl_addr_add(struct nl_sock *s, int ifindex, const NetworkIpDef *ip) {
        _cleanup_(rtnl_addr_putp) struct rtnl_addr *a = rtnl_addr_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *local = NULL, *bcast = NULL;
        size_t len = ip->family == AF_INET ? 4 : 16;
        int r;

        if (!a)
                return -ENOMEM;
        local = nl_addr_build(ip->family, ip->addr.b, len);
        if (!local)
                return -ENOMEM;
        nl_addr_set_prefixlen(local, (int) ip->prefix);
        rtnl_addr_set_ifindex(a, ifindex);
        rtnl_addr_set_family(a, ip->family);
        r = rtnl_addr_set_local(a, local);
        if (r < 0)
                return nl_to_errno(r);
        if (ip->family == AF_INET && ip->prefix < 31) {
                NetworkAddr last = network_addr_mask(&ip->addr, ip->prefix);
                for (unsigned i = ip->prefix; i < 32; i++)
                        last.b[i / 8] |= (uint8_t) (0x80 >> (i % 8));
                bcast = nl_addr_build(AF_INET, last.b, 4);
                if (!bcast)
                        return -ENOMEM;
                rtnl_addr_set_broadcast(a, bcast);
        }
        if (ip->family == AF_INET6)
                /* no duplicate address detection: dnsmasq must bind at once, before any guest is up */
                rtnl_addr_set_flags(a, IFA_F_NODAD);
        r = rtnl_addr_add(s, a, 0);
        return r < 0 ? nl_to_errno(r) : 0;
}

int network_nl_link_set(struct nl_sock *s, int ifindex, const char *mac, unsigned mtu, int master_ifindex, bool up) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *orig = NULL, *change = rtnl_link_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *hw = NULL;
        int r;

        if (!change)
                return -ENOMEM;
        r = rtnl_link_get_kernel(s, ifindex, NULL, &orig);
        if (r < 0)
                return nl_to_errno(r);
        if (mac) {
                uint8_t b[6];
                if (mac_bytes(mac, b) < 0)
                        return -EINVAL;
                hw = nl_addr_build(AF_LLC, b, 6);
                if (!hw)
                        return -ENOMEM;
                rtnl_link_set_addr(change, hw);
        }
        if (mtu)
                rtnl_link_set_mtu(change, mtu);
        if (master_ifindex > 0)
                rtnl_link_set_master(change, master_ifindex);
        if (up)
                rtnl_link_set_flags(change, IFF_UP);
        r = rtnl_link_change(s, orig, change, 0);
        return r < 0 ? nl_to_errno(r) : 0;
}

int network_nl_link_delete(struct nl_sock *s, const char *name) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = rtnl_link_alloc();
        int r;

        if (!l)
                return -ENOMEM;
        rtnl_link_set_name(l, name);
        r = nl_to_errno(rtnl_link_delete(s, l));
        return r == -ENODEV ? 0 : r;
}
