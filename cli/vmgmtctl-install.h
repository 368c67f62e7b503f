/* vmgmtctl-install.h — the pieces of `vmgmtctl install` that need no bus: its
 * comma-separated sub-options (virt-install's --disk size=10,bus=virtio…) and
 * the media it makes (a NoCloud seed ISO, an initrd with files appended). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One comma-separated list "a=b,c,d=\"x,y\"": keys in order; value NULL for a bare word. */
typedef struct InstallKV {
        char *key;
        char *value;
} InstallKV;

typedef struct InstallKVList {
        InstallKV *items;
        size_t n;
} InstallKVList;

/* Splits s; flag names the option in the error ("--disk"). Returns 0 or a printed -EINVAL/-ENOMEM. */
int install_kv_parse(const char *flag, const char *s, InstallKVList *ret);
void install_kv_done(InstallKVList *l);
/* The value of key (NULL if absent; "" never: a bare word has NULL and is found with install_kv_has). */
const char *install_kv_get(const InstallKVList *l, const char *key);
bool install_kv_has(const InstallKVList *l, const char *key);
/* Every key must be one of allowed (NULL-terminated) and given once; a bare word only where
 * bare_ok. Returns 0 or a printed -EINVAL naming flag and the key. */
int install_kv_check(const char *flag, const InstallKVList *l, const char *const *allowed, bool bare_ok);

/* Runs argv (NULL-terminated) with stdout/stderr to a pipe; returns its exit status (0 success),
 * the output in *ret_output when not NULL. A missing program is -ENOENT. */
int install_run(char *const *argv, char **ret_output);
/* The first of the programs (NULL-terminated) found on $PATH, or NULL. */
const char *install_find_program(const char *const *names);

/* Writes a NoCloud seed ISO (volume id "cidata", user-data and meta-data at its root) to out,
 * made with xorriso or genisoimage. Returns 0 or a printed negative errno. */
int install_make_seed_iso(const char *dir, const char *out);
/* Copies initrd to out and appends a newc cpio (gzip'd; the kernel reads concatenated
 * archives) holding each of files at the archive's root under its base name. 0 or a printed error. */
int install_make_injected_initrd(const char *initrd, char *const *files, size_t n_files, const char *tmpdir,
                                 const char *out);
/* Extracts path_in_iso of iso to out with xorriso -osirrox. 1 done, 0 no such file in the ISO,
 * negative: a printed error. */
int install_iso_extract(const char *iso, const char *path_in_iso, const char *out);
