/* network-neigh.h — the kernel's neighbour tables (ARP, NDP) of the netns vmgmtd runs in, read through
 * libnl3: which IP addresses were seen behind which MAC (GetInterfaceAddresses' arp source). */
#pragma once

#include <stddef.h>

typedef struct NetworkNeighbour {
        char mac[18];          /* "52:54:00:…", lower case */
        char ip[64];
        int family;            /* AF_INET, AF_INET6 */
        int ifindex;
} NetworkNeighbour;

/* Every reachable (or stale, delayed, probed, permanent) neighbour entry with a link-layer
 * address. Returns 0 with *ret (malloc'd array, free()) and *ret_n, or a negative errno. */
int network_neighbours(NetworkNeighbour **ret, size_t *ret_n);
