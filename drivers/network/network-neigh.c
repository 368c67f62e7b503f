/* network-neigh.c — one RTM_GETNEIGH dump through libnl3 (a local netlink socket: the kernel answers at once). */
#include <errno.h>
#include <netlink/netlink.h>
#include <netlink/route/neighbour.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/neighbour.h>
#include <arpa/inet.h>
#include <stdio.h>

#include "macro.h"
#include "network-neigh.h"

typedef struct Collect {
        NetworkNeighbour *v;
        size_t n;
        int error;
} Collect;

static void collect_one(struct nl_object *o, void *userdata) {
        struct rtnl_neigh *ne = (struct rtnl_neigh *) o;
        struct nl_addr *ll = rtnl_neigh_get_lladdr(ne), *dst = rtnl_neigh_get_dst(ne);
        Collect *c = userdata;
        NetworkNeighbour *e, *v;
        int state = rtnl_neigh_get_state(ne);

        if (c->error || !ll || !dst || nl_addr_get_len(ll) != 6)
                return;
        if (state & (NUD_FAILED | NUD_INCOMPLETE | NUD_NOARP))
                return;
        if (nl_addr_get_family(dst) != AF_INET && nl_addr_get_family(dst) != AF_INET6)
                return;
        v = realloc(c->v, (c->n + 1) * sizeof(*v));
        if (!v) {
                c->error = -ENOMEM;
                return;
        }
        c->v = v;
        e = &c->v[c->n++];
        memset(e, 0, sizeof(*e));
        const unsigned char *b = nl_addr_get_binary_addr(ll);
        snprintf(e->mac, sizeof(e->mac), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
        e->family = nl_addr_get_family(dst);
        e->ifindex = rtnl_neigh_get_ifindex(ne);
        /* without the /prefix nl_addr2str() adds for a prefix shorter than the address */
        if (!inet_ntop(e->family, nl_addr_get_binary_addr(dst), e->ip, sizeof(e->ip)))
                c->n--;
}

int network_neighbours(NetworkNeighbour **ret, size_t *ret_n) {
        struct nl_sock *sk = nl_socket_alloc();
        struct nl_cache *cache = NULL;
        Collect c = {};
        int r;

        if (!sk)
                return -ENOMEM;
        r = nl_connect(sk, NETLINK_ROUTE);
        if (r >= 0)
                r = rtnl_neigh_alloc_cache(sk, &cache);
        if (r < 0) {
                nl_socket_free(sk);
                return -EIO;
        }
        nl_cache_foreach(cache, collect_one, &c);
        nl_cache_free(cache);
        nl_socket_free(sk);
        if (c.error) {
                free(c.v);
                return c.error;
        }
        *ret = c.v;
        *ret_n = c.n;
        return 0;
}
