/* qemu-command-internal.h — the argv builder shared by qemu-command.c (machine), -storage.c and -devices.c. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "qemu/qemu-command.h"

typedef struct QemuCmd {
        GPtrArray *argv;            /* char*, NULL-terminated at the end */
        char *error;                /* first problem found; building goes on but the result is refused */
        const DomainDef *def;
        const QemuCommandCtx *ctx;
        bool q35;
        bool kvm;
        unsigned next_bootindex;    /* bootindex for <os><boot dev> translation */
        int *bootindex_disk;        /* per disk: 0 = none */
        int *bootindex_net;         /* per interface */
        unsigned next_fdset;        /* -add-fd set ids handed out so far */
} QemuCmd;

/* Adds one argv element as is (trusted text: option names, our own values). */
void qemu_cmd_add(QemuCmd *c, const char *arg);
void qemu_cmd_addf(QemuCmd *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Adds "-opt" and the option string, taking the GString. */
void qemu_cmd_add_opt(QemuCmd *c, const char *opt, GString *value);
/* Records the first error (later ones are dropped). */
void qemu_cmd_fail(QemuCmd *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* ",key=VALUE" with VALUE escaped: the only way untrusted text enters an option. */
void qemu_opt_str(GString *o, const char *key, const char *value);
/* ",key=FORMATTED" for values we generate ourselves (numbers, ids). */
void qemu_opt_fmt(GString *o, const char *key, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* ",bus=…,addr=…" for a PCI address; nothing when unset (qemu picks a slot). */
void qemu_cmd_pci_address(QemuCmd *c, GString *o, const DomainAddress *a, const char *what);
/* NULL-safe string equality; a function, so comparing with a literal stays warning-free. */
static inline bool qemu_streq(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

#define QEMU_ID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

/* qemu id rules: starts with a letter, then [A-Za-z0-9._-]. */
bool qemu_id_valid(const char *s);
/* An absolute path without control characters. */
bool qemu_path_valid(const char *s);
/* Whether s consists only of chars from `allowed` (non-empty, ≤ max bytes). */
bool qemu_str_charset(const char *s, const char *allowed, size_t max);

/* The file the service opened for a path of the definition; NULL (error recorded, naming `what`) when none. */
const DriverFile *qemu_cmd_file(QemuCmd *c, DomainPathPurpose purpose, DomainChrKind kind, size_t index,
                                const char *what);
/* The number qemu gets fd as (ctx->pass_fd); -1 with an error recorded. */
int qemu_cmd_pass_fd(QemuCmd *c, int fd, const char *what);
/* "-add-fd fd=N,set=S,opaque=OPAQUE" for fd; returns S (for /dev/fdset/S), or -1 with an error recorded. */
int qemu_cmd_add_fdset(QemuCmd *c, int fd, const char *opaque, const char *what);

const DomainControllerDef *qemu_cmd_find_controller(const QemuCmd *c, const char *type, int index);

void qemu_cmd_build_controllers(QemuCmd *c);
void qemu_cmd_build_disks(QemuCmd *c);
void qemu_cmd_build_nets(QemuCmd *c);
void qemu_cmd_build_chardevs(QemuCmd *c);
void qemu_cmd_build_inputs(QemuCmd *c);
void qemu_cmd_build_graphics(QemuCmd *c);
void qemu_cmd_build_videos(QemuCmd *c);
void qemu_cmd_build_memballoon(QemuCmd *c);
void qemu_cmd_build_rngs(QemuCmd *c);
void qemu_cmd_build_tpm(QemuCmd *c);
void qemu_cmd_build_sounds(QemuCmd *c);
void qemu_cmd_build_memories(QemuCmd *c);   /* qemu-command-memory.c */
