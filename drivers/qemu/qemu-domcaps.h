/* qemu-domcaps.h — libvirt's <domainCapabilities> for a QEMU binary: the binary asked over QMP
 * (-machine none -S, commands on its stdin) in a child of the loop, its answers intersected with what
 * vmgmt's definitions and command line can use. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <systemd/sd-event.h>

#include "driver.h"

typedef struct QemuDomCapsProbe QemuDomCapsProbe;

/* What is asked for; every string NULL or "" for the default: the emulator
 * for arch (or the host's), the emulator's default machine, "qemu". */
typedef struct QemuDomCapsRequest {
        const char *emulator;
        const char *arch;
        const char *machine;
        const char *virttype;
        bool any_emulator;          /* the caller may name any root-owned binary (root); else only the driver's own for arch */
        GHashTable *cache;          /* qemu_domcaps_cache_new(): the answers of binaries asked before; NULL: none */
} QemuDomCapsRequest;

/* A cache of what each binary answered, kept while its device, inode, size and mtime stay the same: a
 * later request for the same binary (another arch alias, machine or virttype) runs nothing. */
GHashTable *qemu_domcaps_cache_new(void);

/* Checks the request and starts the probe from event, killed after
 * timeout_usec (with the binary's answers in the cache: done is called before
 * it returns, nothing runs). Returns 0 (done is called from the loop with the XML, or a
 * negative errno and a message: -EINVAL for an arch, machine or emulator
 * that does not fit, -EIO for an emulator that failed to answer), or a
 * negative errno at once with *ret_message (malloc'd): -EINVAL (an unknown
 * virttype, arch or emulator name), -ENOENT (no such emulator),
 * -EOPNOTSUPP (a virttype this host cannot run: kvm without /dev/kvm; an
 * arch with no emulator installed), -EACCES (an emulator that is not the
 * driver's own, for a caller other than root). */
int qemu_domcaps_start(sd_event *event, const QemuDomCapsRequest *req, uint64_t timeout_usec, DriverDomCapsFn done,
                       void *userdata, char **ret_message);

/* The DomainDriverOps member (driver.h). */
int qemu_driver_domain_capabilities(DomainDriver *d, const char *emulator, const char *arch, const char *machine,
                                    const char *virttype, bool any_emulator, DriverDomCapsFn done, void *userdata,
                                    char **ret_message);
