/* network-bandwidth.c — an interface's <bandwidth> on its tap through rtnetlink's traffic control (libnl3):
 * the rules libvirt sets for it (its virNetDevBandwidthSet, our own code).
 *
 * inbound (host→guest: what leaves the tap): root qdisc htb 1: default 1, class 1:1 htb rate AVERAGE
 * ceil PEAK (AVERAGE when none) burst BURST, and under it an sfq leaf (2:) where the kernel has sfq.
 * outbound (guest→host: what the tap receives): ingress qdisc ffff: and a u32 filter matching every
 * packet with a police action: rate AVERAGE burst BURST (AVERAGE when none) mtu 64 KiB, drop the rest.
 * Rates are kilobytes (1000 bytes) per second and bursts kibibytes, tc's kbps and kb as libvirt
 * passes them. */
#include <errno.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/if_ether.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/class.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/qdisc/sfq.h>
#include <netlink/route/tc.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "network-internal.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_qdisc *, rtnl_qdisc_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_class *, rtnl_class_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_msg *, nlmsg_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_sock *, network_nl_close);

#define POLICE_MTU 65536u

static int set_error(char **ret_error, int r, const char *fmt, const char *tap, int nle) {
        if (ret_error) {
                free(*ret_error);
                if (asprintf(ret_error, fmt, tap, nl_geterror(nle)) < 0)
                        *ret_error = NULL;
        }
        return r;
}

static uint32_t clamp32(uint64_t v) {
        return v > UINT32_MAX ? UINT32_MAX : (uint32_t) v;
}

/* psched ticks (64 ns, the kernel's PSCHED_SHIFT) that size bytes take at rate bytes/s */
static uint32_t xmit_ticks(uint64_t rate, uint64_t size) {
        double ns = (double) size * 1e9 / (double) rate;
        return ns / 64 > UINT32_MAX ? UINT32_MAX : (uint32_t) (ns / 64);
}

static void qdisc_delete(struct nl_sock *nl, int ifindex, uint32_t parent) {
        _cleanup_(rtnl_qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();

        if (!q)
                return;
        rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
        rtnl_tc_set_parent(TC_CAST(q), parent);
        (void) rtnl_qdisc_delete(nl, q);   /* none there (the tap's default qdisc): nothing to do */
}

static int inbound_set(struct nl_sock *nl, int ifindex, const char *tap, const NetworkBandwidthRate *in, char **ret_error) {
        _cleanup_(rtnl_qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc(), *leaf = rtnl_qdisc_alloc();
        _cleanup_(rtnl_class_putp) struct rtnl_class *c = rtnl_class_alloc();
        uint64_t rate = in->average * 1000, ceil = (in->peak ?: in->average) * 1000;
        int r;

        if (!q || !leaf || !c)
                return -ENOMEM;
        rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
        rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
        rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(1, 0));
        if ((r = rtnl_tc_set_kind(TC_CAST(q), "htb")) < 0 || (r = rtnl_htb_set_defcls(q, 1)) < 0)
                return set_error(ret_error, -EIO, "Failed to set up htb on tap %s: %s", tap, r);
        r = rtnl_qdisc_add(nl, q, NLM_F_CREATE | NLM_F_REPLACE);
        if (r < 0)
                return set_error(ret_error, -EIO, "Failed to add the htb qdisc of tap %s: %s", tap, r);

        rtnl_tc_set_ifindex(TC_CAST(c), ifindex);
        rtnl_tc_set_parent(TC_CAST(c), TC_HANDLE(1, 0));
        rtnl_tc_set_handle(TC_CAST(c), TC_HANDLE(1, 1));
        if ((r = rtnl_tc_set_kind(TC_CAST(c), "htb")) < 0 || (r = rtnl_htb_set_rate64(c, rate)) < 0 ||
            (r = rtnl_htb_set_ceil64(c, ceil)) < 0 ||
            (in->burst && (r = rtnl_htb_set_rbuffer(c, clamp32(in->burst * 1024))) < 0))
                return set_error(ret_error, -EIO, "Failed to set up the htb class of tap %s: %s", tap, r);
        r = rtnl_class_add(nl, c, NLM_F_CREATE);
        if (r < 0)
                return set_error(ret_error, -EIO, "Failed to add the htb class of tap %s: %s", tap, r);

        /* the fair-queueing leaf libvirt adds; a kernel without sfq keeps htb's default fifo */
        rtnl_tc_set_ifindex(TC_CAST(leaf), ifindex);
        rtnl_tc_set_parent(TC_CAST(leaf), TC_HANDLE(1, 1));
        rtnl_tc_set_handle(TC_CAST(leaf), TC_HANDLE(2, 0));
        if (rtnl_tc_set_kind(TC_CAST(leaf), "sfq") >= 0) {
                rtnl_sfq_set_perturb(leaf, 10);
                r = rtnl_qdisc_add(nl, leaf, NLM_F_CREATE);
                if (r < 0)
                        log_debug("Tap %s: no sfq leaf under htb (%s).", tap, nl_geterror(r));
        }
        return 0;
}

/* The police action of a u32 filter: struct tc_police and the rate table the kernel asks for. */
static int put_police(struct nl_msg *m, const NetworkBandwidthRate *out) {
        uint64_t rate = out->average * 1000, burst = (out->burst ?: out->average) * 1024;
        struct tc_police p = {
                .action = TC_ACT_SHOT,
                .mtu = POLICE_MTU,
                .burst = xmit_ticks(rate, burst),
                .rate = { .cell_log = 9, .linklayer = TC_LINKLAYER_ETHERNET, .cell_align = -1, .rate = clamp32(rate) },
        };
        uint32_t rtab[256];
        struct nlattr *nest;

        /* cell_log 9: 256 cells of 512 bytes cover the 64 KiB mtu */
        for (unsigned i = 0; i < 256; i++)
                rtab[i] = xmit_ticks(rate, (uint64_t) (i + 1) << p.rate.cell_log);
        if (!(nest = nla_nest_start(m, TCA_U32_POLICE)) || nla_put(m, TCA_POLICE_TBF, sizeof(p), &p) < 0 ||
            nla_put(m, TCA_POLICE_RATE, sizeof(rtab), rtab) < 0 ||
            (rate > UINT32_MAX && nla_put_u64(m, TCA_POLICE_RATE64, rate) < 0) ||
            nla_put_u32(m, TCA_POLICE_RESULT, TC_ACT_OK) < 0)
                return -ENOMEM;
        nla_nest_end(m, nest);
        return 0;
}

static int outbound_set(struct nl_sock *nl, int ifindex, const char *tap, const NetworkBandwidthRate *out, char **ret_error) {
        _cleanup_(rtnl_qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
        _cleanup_(nlmsg_freep) struct nl_msg *m = NULL;
        struct {
                struct tc_u32_sel sel;
                struct tc_u32_key key;   /* mask 0 at offset 0: every packet */
        } sel = { .sel = { .flags = TC_U32_TERMINAL, .nkeys = 1 } };
        struct tcmsg t = {
                .tcm_family = AF_UNSPEC,
                .tcm_ifindex = ifindex,
                .tcm_parent = TC_H_MAKE(TC_H_INGRESS, 0) & TC_H_MAJ_MASK,
                .tcm_info = TC_H_MAKE(1u << 16, htons(ETH_P_ALL)),
        };
        struct nlattr *opts;
        int r;

        if (!q)
                return -ENOMEM;
        rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
        rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
        rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(0xffffu, 0));
        if ((r = rtnl_tc_set_kind(TC_CAST(q), "ingress")) < 0 || (r = rtnl_qdisc_add(nl, q, NLM_F_CREATE | NLM_F_REPLACE)) < 0)
                return set_error(ret_error, -EIO, "Failed to add the ingress qdisc of tap %s: %s", tap, r);

        m = nlmsg_alloc_simple(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL);
        if (!m || nlmsg_append(m, &t, sizeof(t), NLMSG_ALIGNTO) < 0 || nla_put_string(m, TCA_KIND, "u32") < 0 ||
            !(opts = nla_nest_start(m, TCA_OPTIONS)) || nla_put(m, TCA_U32_SEL, sizeof(sel), &sel) < 0 ||
            nla_put_u32(m, TCA_U32_CLASSID, TC_H_MAKE(0, 1)) < 0 || put_police(m, out) < 0)
                return -ENOMEM;
        nla_nest_end(m, opts);
        r = nl_send_auto(nl, m);
        if (r >= 0)
                r = nl_wait_for_ack(nl);
        if (r < 0)
                return set_error(ret_error, r == -NLE_OBJ_NOTFOUND || r == -NLE_OPNOTSUPP ? -EOPNOTSUPP : -EIO,
                                 "Failed to police what tap %s receives (<outbound>; the kernel needs its tc police "
                                 "action, CONFIG_NET_ACT_POLICE): %s", tap, r);
        return 0;
}

int network_tap_set_bandwidth(const char *tap, const NetworkBandwidthRate *inbound, const NetworkBandwidthRate *outbound,
                              char **ret_error) {
        _cleanup_(network_nl_closep) struct nl_sock *nl = NULL;
        int ifindex, r;

        if (inbound->floor) {
                if (ret_error && asprintf(ret_error, "floor= (tap %s) needs a network with a <bandwidth> of its own, "
                                          "which is not supported", tap) < 0)
                        *ret_error = NULL;
                return -EOPNOTSUPP;
        }
        r = network_nl_open(&nl);
        if (r < 0)
                return r;
        ifindex = network_nl_ifindex(nl, tap);
        if (ifindex < 0)
                return ifindex;
        qdisc_delete(nl, ifindex, TC_H_ROOT);
        qdisc_delete(nl, ifindex, TC_H_INGRESS);
        if (inbound->set && (r = inbound_set(nl, ifindex, tap, inbound, ret_error)) < 0)
                goto fail;
        if (outbound->set && (r = outbound_set(nl, ifindex, tap, outbound, ret_error)) < 0)
                goto fail;
        log_debug("Tap %s: bandwidth set (inbound %llu, outbound %llu kB/s).", tap,
                  (unsigned long long) inbound->average, (unsigned long long) outbound->average);
        return 0;
fail:
        /* nothing half set stays */
        qdisc_delete(nl, ifindex, TC_H_ROOT);
        qdisc_delete(nl, ifindex, TC_H_INGRESS);
        return r;
}
