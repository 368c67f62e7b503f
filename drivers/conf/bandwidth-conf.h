/* bandwidth-conf.h — libvirt's <bandwidth><inbound/><outbound/></bandwidth> (formatdomain "Quality of
 * service"), one definition for network portgroups and domain interfaces (network-conf-extra.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct _xmlNode;
struct _GString;
struct ConfError;

/* <inbound>/<outbound> of <bandwidth>: kilobytes per second / kilobytes; 0 = not given. */
typedef struct NetworkBandwidthRate {
        bool set;
        uint64_t average, peak, burst, floor;   /* floor: inbound only */
} NetworkBandwidthRate;

/* Parses a <bandwidth> element into inbound/outbound (both cleared first). Errors name the
 * element and its line: a rate without average= (inbound: or floor=), peak= below average=,
 * floor= on <outbound>. */
int conf_bandwidth_parse(struct _xmlNode *n, NetworkBandwidthRate *inbound, NetworkBandwidthRate *outbound,
                         struct ConfError *err);
/* <bandwidth> at indent level (nothing when neither rate is set). */
void conf_bandwidth_format(struct _GString *s, int level, const NetworkBandwidthRate *inbound,
                           const NetworkBandwidthRate *outbound);
