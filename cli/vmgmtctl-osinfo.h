/* vmgmtctl-osinfo.h — the OS database verbs (vmgmtctl-osinfo.c): osinfo-list, osinfo and osinfo-detect, on
 * Manager.ListOSInfo, GetOSInfo and DetectOSInfo. */
#pragma once

#include "vmgmtctl.h"

/* osinfo-list [--family F] [--distro D] [--vendor V] [--name TEXT] [--no-eol]: a table of short id,
 * name, version and release date, newest first (JSON: the entries as the service gives them). */
int verb_osinfo_list(Context *c, VerbArgs *a);
/* osinfo ID|SHORTID: GetOSInfo's dict, readable (JSON: the dict). */
int verb_osinfo(Context *c, VerbArgs *a);
/* osinfo-detect PATH: the OS of an install medium, as osinfo prints it, and the medium matched. */
int verb_osinfo_detect(Context *c, VerbArgs *a);
