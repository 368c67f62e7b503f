/* conf-internal.h — helpers shared by the domain XML parser, formatter and normalizer (not a public API). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <glib.h>
#include <libxml/tree.h>

#include "conf/domain-conf.h"
#include "macro.h"

/* ---- errors and words ---- */

/* Replaces e's message with the formatted one ("line N: " prefixed when
 * line > 0). Returns -EINVAL so callers can `return conf_error_set(...)`.
 * e may be NULL. */
int conf_error_set(ConfError *e, int line, const char *fmt, ...) _printf_(3, 4);

/* Optimal string alignment distance (insert, delete, substitute, transpose). */
unsigned conf_edit_distance(const char *a, const char *b);

/* The candidate (NULL-terminated list) closest to word when it is close
 * enough to be a plausible typo, else NULL. */
const char *conf_did_you_mean(const char *word, const char *const *candidates);

/* "a, b, c" for error messages; malloc'd. */
char *conf_strv_join(const char *const *l);

/* Index of s in the NULL-terminated table, or -EINVAL. */
int conf_table_lookup(const char *const *table, const char *s);

/* Strict unsigned parse: digits only (base 10), or base 0 (accepts 0x…),
 * no sign, no spaces, value ≤ max. Returns 0, -EINVAL or -ERANGE. */
int conf_parse_u64(const char *s, int base, uint64_t max, uint64_t *ret);

/* libvirt's unit scaling: b/bytes = 1; k, KiB = 1024; KB = 1000; … up to E;
 * case-insensitive. NULL or "" is KiB (libvirt's memory default; callers with
 * another default handle that first). Returns 0 with *ret in bytes per unit,
 * or -EINVAL for an unknown unit. */
int conf_memory_unit_scale(const char *unit, uint64_t *ret);

/* Parses "aa:bb:cc:dd:ee:ff", rejects multicast, writes lower case to out. */
int conf_mac_parse(const char *s, char out[18]);

/* Reads an untrusted XML document for the domain, network and storage
 * parsers: refuses more than max_size bytes (-EFBIG) and empty input, any
 * <!DOCTYPE> (parsing stops there, before an entity can be declared), network
 * access and entity substitution; a malformed document is "malformed XML:
 * <libxml2's message>" with its line. The root element must be <root_name>
 * with no namespace. kind names the document in the DOCTYPE error ("domain").
 * On success *ret_doc is the document (free with xmlFreeDoc). Returns 0,
 * -EINVAL with err, -EFBIG, -ENOMEM. */
int conf_xml_read(const char *xml, size_t len, size_t max_size, const char *root_name, const char *kind,
                  xmlDoc **ret_doc, ConfError *err);

/* ---- string tables (NULL-terminated) ---- */

extern const char *const domain_virt_type_table[];
extern const char *const domain_lifecycle_action_table[];
extern const char *const domain_boot_dev_table[];
extern const char *const domain_disk_type_table[];
extern const char *const domain_disk_device_table[];
extern const char *const domain_disk_bus_table[];
extern const char *const domain_net_type_table[];
extern const char *const domain_address_type_table[];

/* ---- XML reading (domain-conf-xml.c) ---- */

typedef struct XmlSpec {
        const char *const *attrs;     /* allowed attributes */
        const char *const *children;  /* allowed child elements, each at most once */
        const char *const *multi;     /* allowed child elements that may repeat */
        bool text;                    /* element carries text content */
} XmlSpec;

#define STRV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Checks node's attributes and element children against spec: unknown
 * names are errors with line and did-you-mean; a non-repeatable child given
 * twice is an error. */
int xml_validate(xmlNode *node, const XmlSpec *spec, ConfError *err);

xmlNode *xml_child(xmlNode *node, const char *name);
int xml_line(xmlNode *node);
/* malloc'd attribute value or NULL */
char *xml_attr(xmlNode *node, const char *name);
/* malloc'd text content (never NULL on success), -ENOMEM */
int xml_text(xmlNode *node, char **ret);
/* Attribute as unsigned (base as in conf_parse_u64). Returns 1 when present,
 * 0 when absent (ret untouched), -EINVAL with err. */
int xml_attr_uint(xmlNode *node, const char *name, int base, uint64_t max, uint64_t *ret, ConfError *err);
/* Attribute whose value must be in table; *ret gets the index. Returns 1/0/-EINVAL. */
int xml_attr_enum(xmlNode *node, const char *name, const char *const *table, int *ret, ConfError *err);
/* Like xml_attr_enum but keeps the string (malloc'd) in *ret (freeing the old one). */
int xml_attr_enum_str(xmlNode *node, const char *name, const char *const *table, char **ret, ConfError *err);
/* yes/no (or on/off when onoff) → 1/0 in *ret. Returns 1/0/-EINVAL. */
int xml_attr_bool(xmlNode *node, const char *name, bool onoff, int *ret, ConfError *err);
/* Attribute kept as a string, replacing *ret. Returns 1/0/-ENOMEM. */
int xml_attr_str(xmlNode *node, const char *name, char **ret);

/* ---- formatting helpers (domain-conf-format.c) ---- */

void fmt_indent(GString *s, int level);
void fmt_escape(GString *s, const char *v);
/* Appends " name='escaped value'" when v is non-NULL. */
void fmt_attr(GString *s, const char *name, const char *v);
void fmt_attr_uint(GString *s, const char *name, unsigned long long v);
void fmt_address(GString *s, int level, const DomainAddress *a);

/* ---- device parsing (domain-conf-parse-devices.c) ---- */

int domain_devices_parse(DomainDef *def, xmlNode *devices, ConfError *err);
int domain_address_parse(xmlNode *node, DomainAddress *a, ConfError *err);
/* <alias>, <address> and <boot> common to devices (addr/alias/boot_order
 * NULL when the device has none). Returns 1 when c was one of them, 0 when
 * not, -EINVAL with err. */
int domain_device_info_parse(xmlNode *c, DomainAddress *addr, char **alias, unsigned *boot_order, ConfError *err);
int domain_controller_parse(DomainDef *def, xmlNode *node, ConfError *err);
int domain_memballoon_parse(DomainDef *def, xmlNode *node, ConfError *err);
int domain_rng_parse(DomainDef *def, xmlNode *node, ConfError *err);
int domain_sound_parse(DomainDef *def, xmlNode *node, ConfError *err);
int domain_audio_parse(DomainDef *def, xmlNode *node, ConfError *err);
/* <lease> in <devices> (domain-conf-lease.c) */
int domain_lease_parse(DomainDef *def, xmlNode *node, ConfError *err);
void domain_lease_format(GString *s, const DomainLeaseDef *l);
void domain_lease_clear(DomainLeaseDef *l);
/* <memory model=…> in <devices> (domain-conf-memory.c) */
int domain_memory_parse(DomainDef *def, xmlNode *node, ConfError *err);
void domain_memory_format(GString *s, const DomainMemoryDef *m);
int domain_memory_normalize(DomainDef *def, ConfError *err);

/* <tpm> in <devices> (domain-conf-tpm.c) */
int domain_tpm_parse(DomainDef *def, xmlNode *node, ConfError *err);
void domain_tpm_format(GString *s, const DomainTpmDef *t);
int domain_tpm_normalize(DomainDef *def, ConfError *err);
DomainTpmDef *domain_tpm_free(DomainTpmDef *t);   /* NULL-safe, returns NULL */
DomainTpmDef *domain_tpm_copy(const DomainTpmDef *t, bool *oom);   /* NULL for NULL (and on OOM: *oom set) */

/* ---- device freeing (domain-conf.c) ---- */

void domain_address_clear(DomainAddress *a);
void domain_disk_clear(DomainDiskDef *d);
/* <disk type='network'> (domain-conf-netdisk.c) */
int domain_disk_net_parse_source(DomainDiskDef *d, xmlNode *source, ConfError *err);
int domain_disk_net_parse_auth(DomainDiskDef *d, xmlNode *auth, ConfError *err);
int domain_disk_net_check(DomainDiskDef *d, int line, ConfError *err);
void domain_disk_net_format(GString *s, const DomainDiskDef *d);
void domain_disk_net_clear(DomainDiskNet *n);
bool domain_disk_net_copy(DomainDiskNet *n);
void domain_net_clear(DomainNetDef *n);
void domain_chr_clear(DomainChrDef *c);
void domain_graphics_clear(DomainGraphicsDef *g);
void domain_video_clear(DomainVideoDef *v);
void domain_input_clear(DomainInputDef *i);
void domain_controller_clear(DomainControllerDef *c);
void domain_rng_clear(DomainRngDef *r);
void domain_sound_clear(DomainSoundDef *s);
void domain_audio_clear(DomainAudioDef *a);
void domain_timer_clear(DomainTimerDef *t);
DomainMemballoonDef *domain_memballoon_free(DomainMemballoonDef *m);

/* ---- tuning (domain-conf-tune.c) ---- */

/* <cputune>, <memtune>, <blkiotune>, <numatune> of root (after <vcpu>). */
int domain_tune_parse(DomainDef *def, xmlNode *root, ConfError *err);
/* <blkiotune> and <memtune> (after <currentMemory>); <cputune> and <numatune> (after <vcpu>). */
void domain_tune_format_memory(GString *s, const DomainTuneDef *t);
void domain_tune_format_cpu(GString *s, const DomainTuneDef *t);
void domain_tune_format_perf(GString *s, const DomainTuneDef *t);

/* Grows an array of elements by one zeroed element; returns it or NULL. */
void *conf_array_append(void *array_ptr, size_t *n, size_t size);

/* ---- normalization helpers ---- */

/* True for machine types with a PCIe root complex (q35 family). */
bool conf_machine_is_q35(const char *machine);

/* ---- firmware (domain-conf-firmware.c) ---- */

/* <os firmware=>, <firmware>, <loader>, <nvram> of os into def; 0 or -EINVAL with err. */
int conf_parse_os_firmware(DomainDef *def, xmlNode *os, ConfError *err);
/* The combinations libvirt refuses (bios with a pflash loader, nvram without pflash, …). */
int conf_check_firmware(const DomainDef *def, ConfError *err);
/* The checks that need the machine type resolved (secure boot: q35). */
int conf_normalize_firmware(DomainDef *def, ConfError *err);
/* <firmware>, <loader>, <nvram> as libvirt writes them inside <os>. */
void conf_format_os_firmware(GString *s, const DomainDef *def);

/* Adds a controller where libvirt puts it: after the last controller of
 * the same type with a lower index, else before the first of that type, else at
 * the end. Returns its position in def->controllers, or -ENOMEM. Pointers into
 * def->controllers are invalid afterwards. */
int domain_controller_add(DomainDef *def, const char *type, int index, const char *model);
/* Position of the controller of that type and index (model ignored), or -1. */
int domain_controller_find(const DomainDef *def, const char *type, int index);

/* Disk target "sdb" → 1, "vdaa" → 26; -EINVAL when not <2 letters><a-z…>. */
int conf_disk_target_index(const char *dev);

/* Assigns controller indexes, root ports, PCI/drive/USB/virtio-serial
 * addresses (domain-conf-normalize-pci.c). */
int domain_def_assign_addresses(DomainDef *def, ConfError *err);

/* NULL-safe string equality (a function, so clang does not warn about literal comparisons). */
static inline bool conf_streq(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}
