/* qemu-caps.c — an emulator's machine types: parsed from its answers, cached on disk, looked up. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"
#include "qemu/qemu-caps.h"
#include "qemu-caps-internal.h"

#define CAPS_FORMAT_VERSION 1
#define CAPS_CACHE_MAX (256u * 1024u)
#define CAPS_RECHECK_USEC (1000u * 1000u)

typedef struct QemuMachine {
        char *name;
        char *alias_of;            /* NULL for a canonical machine */
} QemuMachine;

struct QemuCaps {
        char *emulator;
        char *version;
        char *default_machine;
        QemuMachine *machines;
        size_t n_machines;
        uint64_t size;
        int64_t mtime_sec;
        long mtime_nsec;
        bool from_cache;
        uint64_t checked_usec;     /* when the binary was last found unchanged (CLOCK_MONOTONIC) */
};

QemuCaps *qemu_caps_free(QemuCaps *caps) {
        if (!caps)
                return NULL;
        for (size_t i = 0; i < caps->n_machines; i++) {
                free(caps->machines[i].name);
                free(caps->machines[i].alias_of);
        }
        free(caps->machines);
        free(caps->emulator);
        free(caps->version);
        free(caps->default_machine);
        free(caps);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(QemuCaps *, qemu_caps_free);

static bool machine_name_valid(const char *s) {
        if (isempty(s) || strlen(s) > 128)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '.' || *p == '-' || *p == '_'))
                        return false;
        return true;
}

static int caps_add_machine(QemuCaps *caps, const char *name, const char *alias_of) {
        QemuMachine *n;

        if (!machine_name_valid(name) || (alias_of && !machine_name_valid(alias_of)))
                return 0; /* ignore anything we could not put on a command line anyway */
        n = reallocarray(caps->machines, caps->n_machines + 1, sizeof(QemuMachine));
        if (!n)
                return -ENOMEM;
        caps->machines = n;
        n[caps->n_machines] = (QemuMachine) {
                .name = strdup(name),
                .alias_of = alias_of ? strdup(alias_of) : NULL,
        };
        caps->n_machines++;
        if (!n[caps->n_machines - 1].name || (alias_of && !n[caps->n_machines - 1].alias_of))
                return -ENOMEM;
        return 0;
}

static int set_str(char **dst, const char *src) {
        char *s = strdup(src);
        if (!s)
                return -ENOMEM;
        free(*dst);
        *dst = s;
        return 0;
}

/* Parses the text of `EMU -machine help`: "NAME  description (alias of X) (default)". */
int qemu_caps_parse_machine_help(QemuCaps *caps, char *text) {
        char *saveptr = NULL;
        int r;

        for (char *line = strtok_r(text, "\n", &saveptr); line; line = strtok_r(NULL, "\n", &saveptr)) {
                _cleanup_free_ char *alias_of = NULL;
                size_t len = strcspn(line, " \t");
                const char *rest, *a;
                char name[129];

                if (len == 0 || len >= sizeof(name) || line[len] == '\0')
                        continue; /* header lines have no description column */
                if (strncmp(line, "Supported", 9) == 0)
                        continue;
                memcpy(name, line, len);
                name[len] = '\0';
                rest = line + len;

                a = strstr(rest, "(alias of ");
                if (a) {
                        a += strlen("(alias of ");
                        alias_of = strndup(a, strcspn(a, ")"));
                        if (!alias_of)
                                return -ENOMEM;
                }
                r = caps_add_machine(caps, name, alias_of);
                if (r < 0)
                        return r;
                if (strstr(rest, "(default)")) {
                        r = set_str(&caps->default_machine, alias_of ?: name);
                        if (r < 0)
                                return r;
                }
        }
        return caps->n_machines > 0 ? 0 : -EBADMSG;
}

/* "QEMU emulator version 7.2.22 (Debian …)" → "7.2.22". */
int qemu_caps_parse_version(QemuCaps *caps, const char *text) {
        const char *v = strstr(text, "version ");
        _cleanup_free_ char *s = NULL;

        if (!v)
                return -EBADMSG;
        v += strlen("version ");
        s = strndup(v, strcspn(v, " \n("));
        if (!s)
                return -ENOMEM;
        if (!machine_name_valid(s))
                return -EBADMSG;
        free(caps->version);
        caps->version = TAKE_PTR(s);
        return 0;
}

static uint64_t fnv1a64(const char *s) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= 0x100000001b3ULL;
        }
        return h;
}

char *qemu_caps_cache_path(const QemuCaps *caps, const char *cache_dir) {
        const char *base = strrchr(caps->emulator, '/');
        char *p;

        base = base ? base + 1 : caps->emulator;
        if (asprintf(&p, "%s/%s-%016" PRIx64 ".caps", cache_dir, base, fnv1a64(caps->emulator)) < 0)
                return NULL;
        return p;
}

/* Reads the cache; -ESTALE when it belongs to another binary, size or mtime. */
int qemu_caps_cache_load(QemuCaps *caps, const char *path) {
        _cleanup_free_ char *text = NULL;
        char *saveptr = NULL;
        bool have_format = false, have_emulator = false, have_size = false, have_mtime = false;
        int r;

        r = read_full_file(path, CAPS_CACHE_MAX, &text, NULL);
        if (r < 0)
                return r;

        for (char *line = strtok_r(text, "\n", &saveptr); line; line = strtok_r(NULL, "\n", &saveptr)) {
                char *val = strchr(line, ' ');

                if (line[0] == '#')
                        continue;
                if (!val)
                        return -EBADMSG;
                *val++ = '\0';

                if (streq(line, "format")) {
                        if (atoi(val) != CAPS_FORMAT_VERSION)
                                return -ESTALE;
                        have_format = true;
                } else if (streq(line, "emulator")) {
                        if (!streq(val, caps->emulator))
                                return -ESTALE;
                        have_emulator = true;
                } else if (streq(line, "size")) {
                        if (strtoull(val, NULL, 10) != caps->size)
                                return -ESTALE;
                        have_size = true;
                } else if (streq(line, "mtime")) {
                        char expect[64];
                        snprintf(expect, sizeof(expect), "%" PRId64 ".%09ld", caps->mtime_sec, caps->mtime_nsec);
                        if (!streq(val, expect))
                                return -ESTALE;
                        have_mtime = true;
                } else if (streq(line, "version")) {
                        r = set_str(&caps->version, val);
                } else if (streq(line, "default")) {
                        r = set_str(&caps->default_machine, val);
                } else if (streq(line, "machine")) {
                        r = caps_add_machine(caps, val, NULL);
                } else if (streq(line, "alias")) {
                        char *target = strchr(val, ' ');
                        if (!target)
                                return -EBADMSG;
                        *target++ = '\0';
                        r = caps_add_machine(caps, val, target);
                } else
                        return -EBADMSG;
                if (r < 0)
                        return r;
        }
        if (!have_format || !have_emulator || !have_size || !have_mtime || !caps->version || caps->n_machines == 0)
                return -EBADMSG;
        caps->from_cache = true;
        return 0;
}

int qemu_caps_cache_save(const QemuCaps *caps, const char *cache_dir, const char *path) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "# vmgmt qemu capabilities cache; regenerated when the binary changes\n");
        fprintf(f, "format %d\n", CAPS_FORMAT_VERSION);
        fprintf(f, "emulator %s\n", caps->emulator);
        fprintf(f, "size %" PRIu64 "\n", caps->size);
        fprintf(f, "mtime %" PRId64 ".%09ld\n", caps->mtime_sec, caps->mtime_nsec);
        fprintf(f, "version %s\n", caps->version);
        if (caps->default_machine)
                fprintf(f, "default %s\n", caps->default_machine);
        for (size_t i = 0; i < caps->n_machines; i++) {
                if (caps->machines[i].alias_of)
                        fprintf(f, "alias %s %s\n", caps->machines[i].name, caps->machines[i].alias_of);
                else
                        fprintf(f, "machine %s\n", caps->machines[i].name);
        }
        if (fclose(f) != 0)
                return -ENOMEM;

        r = mkdir_p(cache_dir, 0755);
        if (r < 0)
                return r;
        return write_file_atomic_nosync(path, text, len, 0644);
}

/* An emulator is run as root, so it and every directory above it must be
 * root's (or ours) and writable by nobody else: a path in XML must not be a
 * way to run a program some user controls. Returns 0 or -EPERM/-errno. */
static int emulator_check_trusted(const char *emulator) {
        _cleanup_free_ char *path = realpath(emulator, NULL);
        struct stat st;

        if (!path)
                return -errno;
        for (;;) {
                const char *p = *path ? path : "/";

                if (stat(p, &st) < 0)
                        return -errno;
                /* a sticky directory (/tmp) is fine: nobody can replace what root owns in it */
                if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
                    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX))))
                        return log_warning_errno(EPERM, "Refusing to run %s: %s may be changed by others than root",
                                                 emulator, p);
                if (!*path)
                        return 0;
                *strrchr(path, '/') = '\0';
        }
}

QemuCaps *qemu_caps_alloc(const char *emulator, const struct stat *st) {
        _cleanup_(qemu_caps_freep) QemuCaps *caps = calloc(1, sizeof(QemuCaps));

        if (!caps)
                return NULL;
        caps->emulator = strdup(emulator);
        if (!caps->emulator)
                return NULL;
        caps->size = (uint64_t) st->st_size;
        caps->mtime_sec = (int64_t) st->st_mtim.tv_sec;
        caps->mtime_nsec = st->st_mtim.tv_nsec;
        return TAKE_PTR(caps);
}

/* Checks the binary can and may be run; fills *st. */
int qemu_caps_check_emulator(const char *emulator, struct stat *st) {
        if (isempty(emulator) || emulator[0] != '/' || strchr(emulator, '\n'))
                return -EINVAL;
        if (stat(emulator, st) < 0)
                return -errno;
        if (!S_ISREG(st->st_mode))
                return -ENOEXEC;
        if (access(emulator, X_OK) < 0)
                return -errno;
        return emulator_check_trusted(emulator);
}

bool qemu_caps_matches_file(QemuCaps *caps) {
        uint64_t now = monotonic_usec();
        struct stat st;

        /* a start-up with thousands of definitions naming one emulator stats it once */
        if (caps->checked_usec && now - caps->checked_usec < CAPS_RECHECK_USEC)
                return true;
        if (stat(caps->emulator, &st) < 0 || (uint64_t) st.st_size != caps->size ||
            (int64_t) st.st_mtim.tv_sec != caps->mtime_sec || st.st_mtim.tv_nsec != caps->mtime_nsec)
                return false;
        caps->checked_usec = now;
        return true;
}

const char *qemu_caps_emulator(const QemuCaps *caps) {
        return caps->emulator;
}

const char *qemu_caps_version(const QemuCaps *caps) {
        return caps->version;
}

const char *qemu_caps_default_machine(const QemuCaps *caps) {
        return caps->default_machine;
}

bool qemu_caps_from_cache(const QemuCaps *caps) {
        return caps->from_cache;
}

const char *qemu_caps_resolve_machine(const QemuCaps *caps, const char *machine) {
        if (!machine)
                return caps->default_machine;
        for (size_t i = 0; i < caps->n_machines; i++)
                if (streq(caps->machines[i].name, machine))
                        return caps->machines[i].alias_of ?: caps->machines[i].name;
        return NULL;
}

bool qemu_caps_machine_is_q35(const char *machine) {
        return machine && (streq(machine, "q35") || strncmp(machine, "pc-q35-", 7) == 0);
}

static char *find_in_dir(const char *dir, size_t dirlen, const char *name) {
        char *p;

        if (dirlen == 0 || dir[0] != '/')
                return NULL; /* relative PATH entries are never trusted */
        if (asprintf(&p, "%.*s/%s", (int) dirlen, dir, name) < 0)
                return NULL;
        if (access(p, X_OK) == 0) {
                struct stat st;
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
                        return p;
        }
        free(p);
        return NULL;
}

static char *find_binary(const char *name) {
        static const char *const fallback[] = { "/usr/bin", "/usr/libexec", "/usr/local/bin" };
        const char *path = getenv("PATH");
        char *p;

        if (name[0] == '/')
                return access(name, X_OK) == 0 ? strdup(name) : NULL;
        for (const char *s = path; s && *s;) {
                size_t n = strcspn(s, ":");
                p = find_in_dir(s, n, name);
                if (p)
                        return p;
                s += n;
                if (*s == ':')
                        s++;
        }
        for (size_t i = 0; i < ELEMENTSOF(fallback); i++) {
                p = find_in_dir(fallback[i], strlen(fallback[i]), name);
                if (p)
                        return p;
        }
        return NULL;
}

static bool arch_valid(const char *arch) {
        if (isempty(arch) || strlen(arch) > 32)
                return false;
        for (const char *p = arch; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                        return false;
        return true;
}

char *qemu_caps_find_emulator(const char *arch) {
        _cleanup_free_ char *name = NULL;
        struct utsname u;
        bool host;

        if (uname(&u) < 0)
                return NULL;
        if (!arch)
                arch = u.machine;
        if (!arch_valid(arch))
                return NULL;
        host = streq(arch, u.machine);
        if (STR_IN_SET(arch, "i686", "i586", "i486", "i386"))
                arch = "i386";

        if (host) {
                /* The build-time default binary serves the host's own arch. */
                char *p = find_binary(VMGMT_QEMU_BINARY);
                if (p)
                        return p;
        }
        if (asprintf(&name, "qemu-system-%s", arch) < 0)
                return NULL;
        return find_binary(name);
}
