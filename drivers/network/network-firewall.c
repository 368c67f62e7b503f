/* network-firewall.c — NAT, routing and isolation rules in vmgmt's own nftables table, loaded with `nft -f -`.
 *
 * Layout of `table inet vmgmt`: three base chains (forward, postrouting, input)
 * dispatch through verdict maps keyed by interface name to per-network
 * chains, so a network's rules are added and removed without touching any
 * other network's:
 *   forward:     oifname vmap @fwd_out  (traffic into a network)
 *                iifname vmap @fwd_in   (traffic out of a network)
 * A network's chains end in `reject` and let what they allow `return`, so a
 * packet between two networks must pass both networks' policies (an accept
 * would end the base chain and skip the other network's chain).
 *   postrouting: iifname vmap @nat_in   (masquerade/SNAT of a NAT network)
 *   input:       iifname vmap @in_in    (DHCP/DNS/RA to the host on the bridge)
 * Every script is idempotent (objects are added before they are flushed or
 * deleted), so loading twice or removing what is gone succeeds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "macro.h"
#include "network-internal.h"

#define T "inet vmgmt"

bool network_firewall_needed(const NetworkDef *def) {
        return def->forward == NETWORK_FORWARD_NONE || def->forward == NETWORK_FORWARD_NAT ||
               def->forward == NETWORK_FORWARD_ROUTE;
}

static void base(GString *s) {
        g_string_append(s,
                "add table " T "\n"
                "add chain " T " forward { type filter hook forward priority filter; policy accept; }\n"
                "add chain " T " postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
                "add chain " T " input { type filter hook input priority filter; policy accept; }\n"
                "add map " T " fwd_in { type ifname : verdict; }\n"
                "add map " T " fwd_out { type ifname : verdict; }\n"
                "add map " T " nat_in { type ifname : verdict; }\n"
                "add map " T " in_in { type ifname : verdict; }\n"
                "flush chain " T " forward\n"
                "add rule " T " forward oifname vmap @fwd_out\n"
                "add rule " T " forward iifname vmap @fwd_in\n"
                "flush chain " T " postrouting\n"
                "add rule " T " postrouting iifname vmap @nat_in\n"
                "flush chain " T " input\n"
                "add rule " T " input iifname vmap @in_in\n");
}

typedef struct ChainKind {
        const char *prefix;   /* chain name prefix */
        const char *map;
} ChainKind;

static const ChainKind kinds[] = {
        { "fwd_in_", "fwd_in" },
        { "fwd_out_", "fwd_out" },
        { "nat_", "nat_in" },
        { "in_", "in_in" },
};

static void subnet(GString *s, const NetworkIpDef *ip) {
        char buf[INET6_ADDRSTRLEN];
        NetworkAddr net = network_addr_mask(&ip->addr, ip->prefix);
        network_addr_format(&net, buf);
        g_string_append_printf(s, "%s/%u", buf, ip->prefix);
}

static const char *ipfam(const NetworkIpDef *ip) {
        return ip->family == AF_INET ? "ip" : "ip6";
}

/* "add rule inet vmgmt \"<prefix><bridge>\" " */
static void rule(GString *s, const char *prefix, const NetworkDef *def) {
        g_string_append_printf(s, "add rule " T " %s%s ", prefix, def->bridge);
}

static void rules_fwd(GString *s, const NetworkDef *def) {
        const char *br = def->bridge;

        /* into the network: between its own ports always; replies for NAT; anything for route;
         * nothing else (isolated: only its own ports) */
        rule(s, "fwd_out_", def);
        g_string_append_printf(s, "iifname \"%s\" return\n", br);
        for (size_t i = 0; i < def->n_ips && def->forward != NETWORK_FORWARD_NONE; i++) {
                const NetworkIpDef *ip = &def->ips[i];
                bool nat4 = def->forward == NETWORK_FORWARD_NAT && ip->family == AF_INET;
                rule(s, "fwd_out_", def);
                if (def->forward_dev)
                        g_string_append_printf(s, "iifname \"%s\" ", def->forward_dev);
                g_string_append_printf(s, "%s daddr ", ipfam(ip));
                subnet(s, ip);
                g_string_append(s, nat4 ? " ct state established,related return\n" : " return\n");
        }
        rule(s, "fwd_out_", def);
        g_string_append(s, "reject\n");

        /* out of the network */
        rule(s, "fwd_in_", def);
        g_string_append_printf(s, "oifname \"%s\" return\n", br);
        for (size_t i = 0; i < def->n_ips && def->forward != NETWORK_FORWARD_NONE; i++) {
                const NetworkIpDef *ip = &def->ips[i];
                rule(s, "fwd_in_", def);
                if (def->forward_dev)
                        g_string_append_printf(s, "oifname \"%s\" ", def->forward_dev);
                g_string_append_printf(s, "%s saddr ", ipfam(ip));
                subnet(s, ip);
                g_string_append(s, " return\n");
        }
        rule(s, "fwd_in_", def);
        g_string_append(s, "reject\n");
}

static void rules_nat(GString *s, const NetworkDef *def) {
        unsigned ps = def->nat_port_start ?: 1024, pe = def->nat_port_end ?: 65535;

        for (size_t i = 0; i < def->n_ips; i++) {
                const NetworkIpDef *ip = &def->ips[i];
                if (ip->family != AF_INET)
                        continue;   /* IPv6 in a NAT network is routed, as in libvirt */
                GString *match = g_string_new("ip saddr ");
                subnet(match, ip);
                /* never NAT multicast or limited broadcast */
                rule(s, "nat_", def);
                g_string_append_printf(s, "%s ip daddr 224.0.0.0/24 return\n", match->str);
                rule(s, "nat_", def);
                g_string_append_printf(s, "%s ip daddr 255.255.255.255 return\n", match->str);
                g_string_append(match, " ip daddr != ");
                subnet(match, ip);
                if (def->forward_dev)
                        g_string_append_printf(match, " oifname \"%s\"", def->forward_dev);

                rule(s, "nat_", def);
                if (def->nat_start)
                        g_string_append_printf(s, "meta l4proto { tcp, udp } %s snat ip to %s-%s:%u-%u\n", match->str,
                                               def->nat_start, def->nat_end, ps, pe);
                else
                        g_string_append_printf(s, "meta l4proto { tcp, udp } %s masquerade to :%u-%u\n", match->str, ps, pe);
                rule(s, "nat_", def);
                if (def->nat_start)
                        g_string_append_printf(s, "%s snat ip to %s-%s\n", match->str, def->nat_start, def->nat_end);
                else
                        g_string_append_printf(s, "%s masquerade\n", match->str);
                g_string_free(match, true);
        }
}

char *network_firewall_script_add(const NetworkDef *def) {
        GString *s = g_string_new(NULL);

        base(s);
        for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                g_string_append_printf(s, "add chain " T " %s%s\n", kinds[k].prefix, def->bridge);
                g_string_append_printf(s, "flush chain " T " %s%s\n", kinds[k].prefix, def->bridge);
        }
        rules_fwd(s, def);
        if (def->forward == NETWORK_FORWARD_NAT)
                rules_nat(s, def);
        rule(s, "in_", def);
        g_string_append(s, "udp dport { 53, 67, 547 } accept\n");
        rule(s, "in_", def);
        g_string_append(s, "tcp dport 53 accept\n");
        for (size_t k = 0; k < ELEMENTSOF(kinds); k++)
                g_string_append_printf(s, "add element " T " %s { \"%s\" : jump %s%s }\n", kinds[k].map, def->bridge,
                                       kinds[k].prefix, def->bridge);
        return g_string_free(s, false);
}

char *network_firewall_script_remove(const NetworkDef *def, bool drop_table) {
        GString *s = g_string_new(NULL);

        if (drop_table) {
                g_string_append(s, "add table " T "\ndelete table " T "\n");
                return g_string_free(s, false);
        }
        base(s);
        for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                g_string_append_printf(s, "add chain " T " %s%s\n", kinds[k].prefix, def->bridge);
                g_string_append_printf(s, "add element " T " %s { \"%s\" : jump %s%s }\n", kinds[k].map, def->bridge,
                                       kinds[k].prefix, def->bridge);
                g_string_append_printf(s, "delete element " T " %s { \"%s\" }\n", kinds[k].map, def->bridge);
                g_string_append_printf(s, "flush chain " T " %s%s\n", kinds[k].prefix, def->bridge);
                g_string_append_printf(s, "delete chain " T " %s%s\n", kinds[k].prefix, def->bridge);
        }
        return g_string_free(s, false);
}

/* nft scripts run one at a time, in the order they were submitted: a table
 * delete of the last network's stop and the next network's load, or the
 * recovery rebuild and a new start, must not overtake each other. */
struct FirewallJob {
        NetworkDriver *driver;
        char *script;
        DriverDoneFn fn;              /* NULL once cancelled */
        void *userdata;
        NetworkChild *child;          /* while running */
};

static void job_free(FirewallJob *j) {
        if (!j)
                return;
        network_child_free(j->child);
        free(j->script);
        free(j);
}

static void queue_run(NetworkDriver *d);

static void on_nft_done(void *userdata, int status, const char *output) {
        FirewallJob *j = userdata;
        NetworkDriver *d = j->driver;
        _cleanup_free_ char *msg = NULL;

        if (status != 0 && asprintf(&msg, "nft failed (status %d): %s", status, *output ? output : "no message") < 0)
                msg = NULL;
        d->nft_running = NULL;
        if (j->fn)
                j->fn(j->userdata, status == 0 ? 0 : -EIO, msg);
        job_free(j);
        queue_run(d);
}

static void queue_run(NetworkDriver *d) {
        _cleanup_free_ char *nft = NULL;
        FirewallJob *j;
        int r;

        while (!d->nft_running && (j = g_queue_pop_head(&d->nft_queue))) {
                if (!j->fn) {
                        job_free(j);
                        continue;
                }
                if (!nft && !(nft = network_find_program("nft")))
                        r = -ENOENT;
                else {
                        char *argv[] = { nft, (char *) "-f", (char *) "-", NULL };
                        r = network_child_spawn(d->event, argv, j->script, on_nft_done, j, &j->child);
                }
                if (r >= 0) {
                        d->nft_running = j;
                        return;
                }
                if (j->fn)
                        j->fn(j->userdata, r, r == -ENOENT ? "nft is not installed" : "cannot run nft");
                job_free(j);
        }
}

int network_firewall_submit(NetworkDriver *d, const char *script, DriverDoneFn fn, void *userdata, FirewallJob **ret) {
        FirewallJob *j;

        if (!script)
                return -ENOMEM;
        j = calloc(1, sizeof(*j));
        if (!j || !(j->script = strdup(script))) {
                free(j);
                return -ENOMEM;
        }
        j->driver = d;
        j->fn = fn;
        j->userdata = userdata;
        g_queue_push_tail(&d->nft_queue, j);
        if (ret)
                *ret = j;
        /* started from the loop, so fn never runs inside this call */
        if (!d->nft_kick)
                (void) sd_event_add_defer(d->event, &d->nft_kick, on_nft_kick, d);
        return 0;
}

int on_nft_kick(sd_event_source *s, void *userdata) {
        NetworkDriver *d = userdata;
        d->nft_kick = sd_event_source_disable_unref(d->nft_kick);
        queue_run(d);
        return 0;
}

void network_firewall_cancel(FirewallJob *j) {
        if (j)
                j->fn = NULL;   /* a running nft finishes; a queued one is skipped */
}

void network_firewall_queue_free(NetworkDriver *d) {
        FirewallJob *j;
        d->nft_kick = sd_event_source_disable_unref(d->nft_kick);
        while ((j = g_queue_pop_head(&d->nft_queue)))
                job_free(j);
        job_free(d->nft_running);   /* kills a running nft */
        d->nft_running = NULL;
}
