/* vmgmtctl-stats.h — domain statistics on the client side: GetStats and GetAllDomainStats read into
 * plain dictionaries (vmgmtctl-stats.c), the verbs built on them and `top` (vmgmtctl-top.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmgmtctl.h"

/* One counter: a number (t, u, b) or a string. */
typedef struct StatsValue {
        char *key;
        uint64_t u;
        char *s;                /* NULL for a number */
        bool is_bool;
} StatsValue;

/* One domain's a{sv}, in the order the service sent it. */
typedef struct StatsDict {
        StatsValue *items;
        size_t n;
} StatsDict;

/* What GetAllDomainStats answered: paths[i] with dicts[i]. */
typedef struct StatsAll {
        char **paths;
        StatsDict *dicts;
        size_t n;
} StatsAll;

void stats_dict_done(StatsDict *d);
/* Reads an a{sv} at the current position of m. 0 or a negative errno. */
int stats_dict_read(sd_bus_message *m, StatsDict *ret);
const StatsValue *stats_dict_get(const StatsDict *d, const char *key);
/* The number under key, or def when it is not there (or a string). */
uint64_t stats_dict_u64(const StatsDict *d, const char *key, uint64_t def);
/* The string under key, or NULL. */
const char *stats_dict_str(const StatsDict *d, const char *key);
void stats_all_done(StatsAll *a);

/* Domain.GetStats of path with groups (NULL-terminated; NULL or empty: all). 0 or a printed negative errno. */
int ctl_domain_stats(Context *c, const char *path, const char *const *groups, StatsDict *ret);
/* Manager.GetAllDomainStats(groups, {domains, FLAG: true …}); each list NULL-terminated, may be NULL.
 * 0 or a printed negative errno. */
int ctl_all_domain_stats(Context *c, const char *const *groups, const char *const *domains, const char *const *flags,
                         StatsAll *ret);

int verb_domstats(Context *c, VerbArgs *a);
int verb_dommemstat(Context *c, VerbArgs *a);
int verb_domblkstat(Context *c, VerbArgs *a);
int verb_domifstat(Context *c, VerbArgs *a);
int verb_vcpuinfo(Context *c, VerbArgs *a);
int verb_top(Context *c, VerbArgs *a);
int verb_domifaddr(Context *c, VerbArgs *a);
