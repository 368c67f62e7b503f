/* domain-conf-normalize.c — fills in what libvirt fills in after parsing (placeholder). */
#include "conf-internal.h"

int domain_def_normalize(DomainDef *def, const DomainNormalizeCtx *ctx, ConfError *err) {
        return 0;
}
