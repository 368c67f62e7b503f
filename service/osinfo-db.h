/* osinfo-db.h — libosinfo's database behind Manager.GetOSInfo, ListOSInfo and DetectOSInfo, in a module of
 * its own (vmgmt-osinfo.so: osinfo-db.c, osinfo-dict.c) that osinfo.c opens at the first such call.
 * libosinfo and what it links (GObject, GIO, libsoup, libxslt, Kerberos, SQLite: about 3 MB of an idle
 * vmgmtd's RSS, and a third of the libraries it relocated at exec) are not mapped before. The module
 * knows no vmgmtd state: it is handed the database and the reply to write into. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>

typedef struct VmOsDb VmOsDb;              /* a loaded database: read-only once loaded, by any thread */
typedef struct VmOsMedia VmOsMedia;        /* an install medium read and matched by detect() */
typedef struct VmOsCancel VmOsCancel;      /* cancels a detect() under way */

/* ListOSInfo's filter (its options); NULL members match everything. */
typedef struct VmOsListFilter {
        const char *family, *distro, *vendor, *name_contains;
        bool include_eol;
        char today[16];                    /* YYYY-MM-DD (UTC): what is past its end of life */
} VmOsListFilter;

/* Appenders write {sv} entries at the reply's current position, inside an
 * a{sv} the caller opened (ListOSInfo: whole a{sv} elements inside its aa{sv}),
 * and return a negative errno from sd-bus or >= 0. */
typedef struct VmOsinfoModule {
        unsigned abi;                      /* VM_OSINFO_MODULE_ABI */
        /* In a thread: libosinfo's default path (osinfo-db); NULL with *error (g_malloc'd) when empty or unreadable. */
        VmOsDb *(*load)(char **error);
        unsigned (*n_short_ids)(const VmOsDb *db);
        void (*free_db)(VmOsDb *db);
        /* GetOSInfo's entries of the OS with this osinfo id or short id: 1, or 0 when there is none. */
        int (*append_os)(const VmOsDb *db, const char *id, sd_bus_message *reply);
        /* ListOSInfo's elements: every OS f matches, newest release first. */
        int (*append_list)(const VmOsDb *db, const VmOsListFilter *f, sd_bus_message *reply);
        VmOsCancel *(*cancel_new)(void);
        void (*cancel)(VmOsCancel *c);     /* from any thread */
        void (*cancel_free)(VmOsCancel *c);
        /* In a thread: reads the medium at location (a file name) and matches it with the database; NULL
         * with *error (g_malloc'd) when it is no medium libosinfo can read. */
        VmOsMedia *(*detect)(const VmOsDb *db, const char *location, VmOsCancel *c, char **error);
        bool (*media_matched)(const VmOsMedia *m);
        const char *(*media_volume_id)(const VmOsMedia *m);
        /* DetectOSInfo's entries of a matched medium: GetOSInfo's of its OS, and `media`. */
        int (*append_detected)(const VmOsMedia *m, sd_bus_message *reply);
        void (*free_media)(VmOsMedia *m);
} VmOsinfoModule;

#define VM_OSINFO_MODULE_ABI 1
#define VM_OSINFO_MODULE_NAME "vmgmt-osinfo.so"
/* the module's one exported symbol: a const VmOsinfoModule */
#define VM_OSINFO_MODULE_SYMBOL "vm_osinfo_module"
