/* qemu-domcaps.c — Manager.GetDomainCapabilities for QEMU: one run of the emulator with its QMP
 * monitor on stdio answers what it has (target, machines, CPU models, device and backend types,
 * commands); the XML says what of it a vmgmt definition can use. */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child-output.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "qemu-caps.h"
#include "qemu-domcaps.h"
#include "qemu-driver-internal.h"
#include "qemu-firmware.h"
#include "conf/conf-internal.h"
#include "qemu-caps-internal.h"

#define DOMCAPS_OUTPUT_MAX (8u * 1024u * 1024u)

/* Written to the emulator's stdin at once (well below a pipe's buffer); it answers in order and quits. */
static const char domcaps_commands[] =
        "{\"execute\":\"qmp_capabilities\"}\n"
        "{\"execute\":\"query-target\",\"id\":\"target\"}\n"
        "{\"execute\":\"query-machines\",\"id\":\"machines\"}\n"
        "{\"execute\":\"query-cpu-definitions\",\"id\":\"cpus\"}\n"
        "{\"execute\":\"qom-list-types\",\"arguments\":{\"implements\":\"device\",\"abstract\":false},\"id\":\"devices\"}\n"
        "{\"execute\":\"qom-list-types\",\"arguments\":{\"implements\":\"rng-backend\",\"abstract\":false},\"id\":\"rng\"}\n"
        "{\"execute\":\"query-commands\",\"id\":\"commands\"}\n"
        "{\"execute\":\"quit\"}\n";

/* What one binary answered, while it stays the same file. */
typedef struct CachedAnswers {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime;
        char *output;
} CachedAnswers;

static void cached_answers_free(gpointer v) {
        CachedAnswers *c = v;

        g_free(c->output);
        g_free(c);
}

GHashTable *qemu_domcaps_cache_new(void) {
        return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, cached_answers_free);
}

static bool cached_answers_fit(const CachedAnswers *c, const struct stat *st) {
        return c->dev == st->st_dev && c->ino == st->st_ino && c->size == st->st_size &&
               c->mtime.tv_sec == st->st_mtim.tv_sec && c->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

struct QemuDomCapsProbe {
        sd_event *event;
        char *emulator, *arch, *machine, *virttype;
        GHashTable *cache;              /* a reference; NULL: none */
        char *cache_key;                /* the binary's realpath */
        struct stat st;                 /* the binary as checked */
        ChildOutput *child;
        DriverDomCapsFn done;
        void *userdata;
};

static void probe_free(QemuDomCapsProbe *p) {
        child_output_free(p->child);
        sd_event_unref(p->event);
        if (p->cache)
                g_hash_table_unref(p->cache);
        g_free(p->cache_key);
        g_free(p->emulator);
        g_free(p->arch);
        g_free(p->machine);
        g_free(p->virttype);
        g_free(p);
}

static void probe_finish(QemuDomCapsProbe *p, int r, const char *xml, const char *message) {
        DriverDomCapsFn done = p->done;
        void *userdata = p->userdata;
        g_autofree char *x = g_strdup(xml), *m = g_strdup(message);

        probe_free(p);
        done(userdata, r, x, m);
}

/* ---- the answers ---- */

typedef struct DomCapsAnswers {
        GHashTable *by_id;          /* id → the "return" value (borrowed from lines) */
        GPtrArray *lines;           /* JsonValue*, owned */
} DomCapsAnswers;

static void answers_clear(DomCapsAnswers *a) {
        if (a->by_id)
                g_hash_table_destroy(a->by_id);
        if (a->lines)
                g_ptr_array_free(a->lines, TRUE);
}

static void json_free(gpointer p) {
        json_decref(p);
}

static void answers_parse(DomCapsAnswers *a, const char *text) {
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

        a->by_id = g_hash_table_new(g_str_hash, g_str_equal);
        a->lines = g_ptr_array_new_with_free_func(json_free);
        for (char **l = lines; *l; l++) {
                JsonValue *v = NULL;
                const char *id;

                if (!**l || json_util_parse(*l, strlen(*l), &v, NULL) < 0)
                        continue;
                g_ptr_array_add(a->lines, v);
                id = json_util_member_string(v, "id");
                if (id && json_object_get(v, "return"))
                        g_hash_table_insert(a->by_id, (gpointer) id, json_object_get(v, "return"));
        }
}

static const JsonValue *answer(const DomCapsAnswers *a, const char *id) {
        return g_hash_table_lookup(a->by_id, id);
}

/* Whether a "name" of the array answer id is name. */
static bool answer_has_name(const DomCapsAnswers *a, const char *id, const char *name) {
        const JsonValue *arr = answer(a, id);

        for (size_t i = 0; i < json_array_size(arr); i++)
                if (streq_ptr(json_util_member_string(json_array_get(arr, i), "name"), name))
                        return true;
        return false;
}

static bool has_device(const DomCapsAnswers *a, const char *type) {
        return answer_has_name(a, "devices", type);
}

/* The machine named name (or its alias), NULL when none; default machine for NULL. */
static const JsonValue *find_machine(const DomCapsAnswers *a, const char *name) {
        const JsonValue *arr = answer(a, "machines");

        for (size_t i = 0; i < json_array_size(arr); i++) {
                const JsonValue *m = json_array_get(arr, i);
                bool def = false;

                if (!name) {
                        if (json_util_boolean(json_object_get(m, "is-default"), &def) >= 0 && def)
                                return m;
                } else if (streq_ptr(json_util_member_string(m, "name"), name) ||
                           streq_ptr(json_util_member_string(m, "alias"), name))
                        return m;
        }
        return NULL;
}

/* ---- the XML ---- */

static void xml_enum(GString *x, const char *indent, const char *name, const char *const *values) {
        g_string_append_printf(x, "%s<enum name='%s'>\n", indent, name);
        for (const char *const *v = values; *v; v++)
                g_string_append_printf(x, "%s  <value>%s</value>\n", indent, *v);
        g_string_append_printf(x, "%s</enum>\n", indent);
}

/* <tpm>: the models this qemu has; emulator when swtpm and swtpm_setup are installed (qemu-tpm.c), passthrough. */
static void xml_tpm(GString *x, const DomCapsAnswers *a) {
        const char *models[3] = {}, *backends[3] = {};
        g_autofree char *swtpm = spawn_find_program("swtpm"), *setup = spawn_find_program("swtpm_setup");
        size_t nm = 0, nb = 0;

        if (has_device(a, "tpm-tis"))
                models[nm++] = "tpm-tis";
        if (has_device(a, "tpm-crb"))
                models[nm++] = "tpm-crb";
        if (nm > 0) {
                backends[nb++] = "passthrough";
                if (swtpm && setup)
                        backends[nb++] = "emulator";
        }
        g_string_append_printf(x, "    <tpm supported='%s'>\n", nm > 0 ? "yes" : "no");
        xml_enum(x, "      ", "model", models);
        xml_enum(x, "      ", "backendModel", backends);
        xml_enum(x, "      ", "backendVersion", nm > 0 ? (const char *const[]) { "2.0", NULL } : (const char *const[]) { NULL });
        g_string_append(x, "    </tpm>\n");
}

static void xml_cpu(GString *x, const DomCapsAnswers *a, bool kvm) {
        const JsonValue *cpus = answer(a, "cpus");
        g_autoptr(GPtrArray) names = g_ptr_array_new();

        g_string_append(x, "  <cpu>\n");
        /* as qemu-command.c builds -cpu: host-passthrough needs KVM; host-model is 'max' under TCG */
        g_string_append_printf(x, "    <mode name='host-passthrough' supported='%s'/>\n", kvm ? "yes" : "no");
        g_string_append(x, "    <mode name='maximum' supported='yes'/>\n");
        g_string_append(x, "    <mode name='host-model' supported='yes'/>\n");
        g_string_append_printf(x, "    <mode name='custom' supported='%s'>\n", json_array_size(cpus) ? "yes" : "no");
        for (size_t i = 0; i < json_array_size(cpus); i++) {
                const JsonValue *c = json_array_get(cpus, i);
                const char *name = json_util_member_string(c, "name");
                bool deprecated = false;
                g_autofree char *esc = NULL;

                /* 'host' and 'max' are the modes above, not models */
                if (!name || streq(name, "host") || streq(name, "max") || strpbrk(name, "'<>&\""))
                        continue;
                (void) json_util_boolean(json_object_get(c, "deprecated"), &deprecated);
                esc = g_markup_escape_text(name, -1);
                g_string_append_printf(x, "      <model usable='%s'%s>%s</model>\n",
                                       json_array_size(json_object_get(c, "unavailable-features")) == 0 ? "yes" : "no",
                                       deprecated ? " deprecated='yes'" : "", esc);
        }
        g_string_append(x, "    </mode>\n  </cpu>\n");
}

/* Whether the emulator can load block module `name` (block-NAME.so): where qemu looks for its
 * modules (QEMU_MODULE_DIR, its build's module dir, next to the binary and in ../lib/qemu). */
static bool has_block_module(const char *emulator, const char *name) {
        g_autofree char *dir = g_path_get_dirname(emulator), *file = g_strdup_printf("block-%s.so", name);
        const char *env = getenv("QEMU_MODULE_DIR");
        const char *const dirs[] = { env, "/usr/lib/x86_64-linux-gnu/qemu", "/usr/lib64/qemu", "/usr/lib/qemu", dir, NULL };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                g_autofree char *path = NULL;

                if (i == ELEMENTSOF(dirs) - 1)
                        path = g_build_filename(dir, "..", "lib", "qemu", file, NULL);
                else if (!dirs[i])
                        continue;
                else
                        path = g_build_filename(dirs[i], file, NULL);
                if (access(path, R_OK) == 0)
                        return true;
        }
        return false;
}

static void xml_devices(GString *x, const DomCapsAnswers *a, const char *machine, const char *emulator) {
        bool q35 = qemu_caps_machine_is_q35(machine);
        const char *buses[5] = {}, *videos[7] = {}, *backends[3] = {};
        size_t nb = 0, nv = 0, nr = 0;

        g_string_append(x, "  <devices>\n");
        /* the disks a definition can have (domain-conf: disk, cdrom; virtio, sata, ide, scsi) that this qemu has */
        if (has_device(a, "virtio-blk-pci"))
                buses[nb++] = "virtio";
        if (has_device(a, "ich9-ahci") || (q35 && has_device(a, "ide-hd")))
                buses[nb++] = "sata";
        if (!q35 && has_device(a, "ide-hd"))
                buses[nb++] = "ide";
        if (has_device(a, "scsi-hd") && has_device(a, "virtio-scsi-pci"))
                buses[nb++] = "scsi";
        g_string_append_printf(x, "    <disk supported='%s'>\n", nb ? "yes" : "no");
        xml_enum(x, "      ", "diskDevice", (const char *const[]) { "disk", "cdrom", NULL });
        xml_enum(x, "      ", "bus", buses);
        {
                /* <disk type='network'>: nbd is built into qemu, the others are modules (qemu-block-extra) */
                static const char *const modules[] = { "iscsi", "nfs", "rbd", "gluster" };
                const char *protocols[6] = { "nbd" };
                size_t np = 1;

                for (size_t i = 0; i < ELEMENTSOF(modules); i++)
                        if (has_block_module(emulator, modules[i]))
                                protocols[np++] = modules[i];
                xml_enum(x, "      ", "type", (const char *const[]) { "file", "block", "volume", "network", NULL });
                xml_enum(x, "      ", "protocol", protocols);
        }
        g_string_append(x, "    </disk>\n");
        /* graphics: VNC only (domain-conf) */
        bool vnc = answer_has_name(a, "commands", "query-vnc");
        g_string_append_printf(x, "    <graphics supported='%s'>\n", vnc ? "yes" : "no");
        xml_enum(x, "      ", "type", vnc ? (const char *const[]) { "vnc", NULL } : (const char *const[]) { NULL });
        g_string_append(x, "    </graphics>\n");
        /* video: the models domain-conf takes whose device this qemu has */
        if (has_device(a, "VGA"))
                videos[nv++] = "vga";
        if (has_device(a, "cirrus-vga"))
                videos[nv++] = "cirrus";
        if (has_device(a, "virtio-vga") || has_device(a, "virtio-gpu-pci"))
                videos[nv++] = "virtio";
        if (has_device(a, "qxl-vga"))
                videos[nv++] = "qxl";
        if (has_device(a, "bochs-display"))
                videos[nv++] = "bochs";
        videos[nv++] = "none";
        g_string_append(x, "    <video supported='yes'>\n");
        xml_enum(x, "      ", "modelType", videos);
        g_string_append(x, "    </video>\n");
        g_string_append(x, "    <hostdev supported='no'/>\n");
        /* rng: virtio with the random and builtin backends */
        if (answer_has_name(a, "rng", "rng-random"))
                backends[nr++] = "random";
        if (answer_has_name(a, "rng", "rng-builtin"))
                backends[nr++] = "builtin";
        bool rng = has_device(a, "virtio-rng-pci") && nr > 0;
        g_string_append_printf(x, "    <rng supported='%s'>\n", rng ? "yes" : "no");
        xml_enum(x, "      ", "model", rng ? (const char *const[]) { "virtio", NULL } : (const char *const[]) { NULL });
        xml_enum(x, "      ", "backendModel", rng ? backends : (const char *[]) { NULL });
        g_string_append(x, "    </rng>\n");
        g_string_append(x, "    <filesystem supported='no'/>\n");
        xml_tpm(x, a);
        g_string_append(x, "  </devices>\n");
}

/* <os> as domain-conf reads it: firmware autoselection where the host's firmware descriptors offer UEFI for
 * this machine (their code images as the loader values, as libvirt lists them), a ROM or a pflash loader,
 * read-only or not, secure or not */
static void xml_os(GString *x, const char *arch, const char *machine) {
        g_auto(GStrv) dirs = qemu_firmware_dirs(getuid() != 0);
        g_autoptr(GPtrArray) loaders = g_ptr_array_new();
        QemuFirmwareList *list = NULL;
        DomainDef probe = { .os_arch = (char *) arch, .os_machine = (char *) machine, .os_firmware = (char *) "efi" };
        bool efi = false;

        if (qemu_firmware_load((const char *const *) dirs, &list) < 0)
                list = NULL;
        for (size_t i = 0; list && i < list->n; i++) {
                QemuFirmwareList one = { .items = &list->items[i], .n = 1 };
                if (!qemu_firmware_select(&one, &probe, NULL))
                        continue;
                efi = true;
                g_ptr_array_add(loaders, list->items[i].executable);
        }
        g_string_append(x, "  <os supported='yes'>\n");
        xml_enum(x, "    ", "firmware", efi ? (const char *const[]) { "bios", "efi", NULL } : (const char *const[]) { "bios", NULL });
        g_string_append(x, "    <loader supported='yes'>\n");
        for (size_t i = 0; i < loaders->len; i++) {
                g_autofree char *e = g_markup_escape_text(loaders->pdata[i], -1);
                g_string_append_printf(x, "      <value>%s</value>\n", e);
        }
        xml_enum(x, "      ", "type", (const char *const[]) { "rom", "pflash", NULL });
        xml_enum(x, "      ", "readonly", (const char *const[]) { "yes", "no", NULL });
        xml_enum(x, "      ", "secure", conf_machine_is_q35(machine) ? (const char *const[]) { "yes", "no", NULL }
                                                                        : (const char *const[]) { "no", NULL });
        g_string_append(x, "    </loader>\n  </os>\n");
        qemu_firmware_list_free(list);
}

static char *domcaps_xml(const QemuDomCapsProbe *p, const DomCapsAnswers *a, const JsonValue *machine) {
        g_autoptr(GString) x = g_string_new("<domainCapabilities>\n");
        g_autofree char *path = g_markup_escape_text(p->emulator, -1);
        const char *name = json_util_member_string(machine, "name");
        int64_t cpu_max = 1;
        bool kvm = streq(p->virttype, "kvm");

        (void) json_util_integer(json_object_get(machine, "cpu-max"), &cpu_max);
        g_string_append_printf(x, "  <path>%s</path>\n", path);
        g_string_append_printf(x, "  <domain>%s</domain>\n", p->virttype);
        g_string_append_printf(x, "  <machine>%s</machine>\n", name);
        g_string_append_printf(x, "  <arch>%s</arch>\n", p->arch);
        g_string_append_printf(x, "  <vcpu max='%" PRId64 "'/>\n", cpu_max);
        g_string_append(x, "  <iothreads supported='yes'/>\n");
        xml_os(x, p->arch, name);
        xml_cpu(x, a, kvm);
        xml_devices(x, a, name, p->emulator);
        g_string_append(x, "  <features>\n"
                           "    <gic supported='no'/>\n"
                           "    <vmcoreinfo supported='no'/>\n"
                           "    <genid supported='no'/>\n"
                           "    <backingStoreInput supported='yes'/>\n"
                           "    <backup supported='no'/>\n"
                           "    <sev supported='no'/>\n"
                           "  </features>\n"
                           "</domainCapabilities>\n");
        return g_string_free(g_steal_pointer(&x), FALSE);
}

/* qemu's target "i386" is libvirt's i686 (and serves i386 … i686). */
static bool arch_is_x86_32(const char *arch) {
        return STR_IN_SET(arch, "i386", "i486", "i586", "i686");
}

static bool arch_matches(const char *asked, const char *target) {
        return streq(asked, target) || (streq(target, "i386") && arch_is_x86_32(asked));
}

/* The emulator answered (and quit): the request checked against it, then the XML. */
static void probe_answered(QemuDomCapsProbe *p, const char *output) {
        DomCapsAnswers a = {};
        const JsonValue *machine;
        const char *target;
        g_autofree char *xml = NULL, *msg = NULL;

        answers_parse(&a, output);
        target = json_util_member_string(answer(&a, "target"), "arch");
        if (!target || !answer(&a, "machines")) {
                msg = g_strdup_printf("%s did not answer query-target and query-machines over QMP", p->emulator);
                answers_clear(&a);
                probe_finish(p, -EIO, NULL, msg);
                return;
        }
        if (p->arch && !arch_matches(p->arch, target)) {
                msg = g_strdup_printf("emulator %s is for arch '%s', not '%s'", p->emulator, target, p->arch);
                answers_clear(&a);
                probe_finish(p, -EINVAL, NULL, msg);
                return;
        }
        if (!p->arch)
                p->arch = g_strdup(streq(target, "i386") ? "i686" : target);
        machine = find_machine(&a, p->machine);
        if (!machine) {
                msg = p->machine ? g_strdup_printf("emulator %s does not support machine type '%s'", p->emulator,
                                                   p->machine)
                                 : g_strdup_printf("emulator %s names no default machine type", p->emulator);
                answers_clear(&a);
                probe_finish(p, -EINVAL, NULL, msg);
                return;
        }
        xml = domcaps_xml(p, &a, machine);
        answers_clear(&a);
        probe_finish(p, 0, xml, NULL);
}

/* ---- the child ---- */

static void on_answers(void *userdata, const ChildResult *res) {
        QemuDomCapsProbe *p = userdata;
        g_autofree char *msg = NULL;

        p->child = NULL;   /* freed once this returns */
        if (res->error < 0) {
                msg = res->error == -ETIMEDOUT ? g_strdup_printf("%s did not answer in time", p->emulator)
                      : res->error == -EFBIG   ? g_strdup_printf("%s said too much", p->emulator)
                                               : g_strdup_printf("cannot read the answers of %s: %s", p->emulator,
                                                                 strerror(-res->error));
                probe_finish(p, -EIO, NULL, msg);
                return;
        }
        if (res->code != CLD_EXITED || res->status != 0) {
                msg = g_strdup_printf("%s %s %d while asked for its capabilities", p->emulator,
                                      res->code == CLD_EXITED ? "exited with status" : "was killed by signal",
                                      res->status);
                probe_finish(p, -EIO, NULL, msg);
                return;
        }
        if (p->cache && p->cache_key) {
                CachedAnswers *c = g_new0(CachedAnswers, 1);

                *c = (CachedAnswers) { .dev = p->st.st_dev, .ino = p->st.st_ino, .size = p->st.st_size,
                                       .mtime = p->st.st_mtim, .output = g_strdup(res->output) };
                g_hash_table_replace(p->cache, g_strdup(p->cache_key), c);
        }
        probe_answered(p, res->output);
}

int qemu_domcaps_start(sd_event *event, const QemuDomCapsRequest *req, uint64_t timeout_usec, DriverDomCapsFn done,
                       void *userdata, char **ret_message) {
        /* no type: kvm where it can run, else qemu (libvirt's choice) */
        const char *virttype = !isempty(req->virttype)                 ? req->virttype
                               : access("/dev/kvm", R_OK | W_OK) == 0 ? "kvm"
                                                                       : "qemu";
        const char *arch = !isempty(req->arch) ? req->arch : NULL;
        g_autofree char *own = NULL, *real = NULL, *own_real = NULL;
        struct stat st;
        QemuDomCapsProbe *p;
        int r;

        if (!STR_IN_SET(virttype, "qemu", "kvm")) {
                *ret_message = g_strdup_printf("unknown virttype '%s' for the qemu driver (qemu, kvm)", virttype);
                return -EINVAL;
        }
        if (streq(virttype, "kvm") && access("/dev/kvm", R_OK | W_OK) < 0) {
                *ret_message = g_strdup("virttype 'kvm' is not available on this host: no usable /dev/kvm");
                return -EOPNOTSUPP;
        }
        if (arch && (strlen(arch) > 32 || strspn(arch, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(arch))) {
                *ret_message = g_strdup_printf("'%s' is no architecture name", arch);
                return -EINVAL;
        }
        own = qemu_caps_find_emulator(arch);
        if (isempty(req->emulator) && !own) {
                *ret_message = g_strdup_printf("no emulator for arch '%s' is installed", arch ?: "(the host's)");
                return -EOPNOTSUPP;
        }
        const char *emulator = !isempty(req->emulator) ? req->emulator : own;
        if (emulator[0] != '/') {
                *ret_message = g_strdup_printf("emulator '%s' is not an absolute path", emulator);
                return -EINVAL;
        }
        r = qemu_caps_check_emulator(emulator, &st);
        if (r < 0) {
                *ret_message = g_strdup_printf("cannot use emulator %s: %s", emulator,
                                               r == -EPERM ? "it is not root's alone" : strerror(-r));
                return r == -EPERM || r == -ENOENT ? -EINVAL : r;   /* a bad argument, not a failure */
        }
        real = realpath(emulator, NULL);
        own_real = own ? realpath(own, NULL) : NULL;
        if (!req->any_emulator && !streq_ptr(real, own_real)) {
                /* it runs as root: only the driver's own for an unprivileged caller */
                *ret_message = g_strdup_printf("emulator %s is not the one the qemu driver uses for %s", emulator,
                                               arch ?: "this host");
                return -EACCES;
        }
        const char *base = strrchr(real ?: emulator, '/');
        base = base ? base + 1 : emulator;
        if (!g_str_has_prefix(base, "qemu-system-") && !streq(base, "qemu-kvm")) {
                *ret_message = g_strdup_printf("%s is no qemu system emulator", emulator);
                return -EINVAL;
        }
        p = g_new0(QemuDomCapsProbe, 1);
        p->event = sd_event_ref(event);
        p->emulator = g_strdup(emulator);
        p->arch = g_strdup(arch);
        p->machine = g_strdup(isempty(req->machine) ? NULL : req->machine);
        p->virttype = g_strdup(virttype);
        p->done = done;
        p->userdata = userdata;
        p->st = st;
        p->cache_key = g_strdup(real ?: emulator);
        if (req->cache) {
                const CachedAnswers *c = g_hash_table_lookup(req->cache, p->cache_key);

                if (c && cached_answers_fit(c, &st)) {
                        /* asked before and not replaced since: nothing runs */
                        probe_answered(p, c->output);
                        return 0;
                }
                p->cache = g_hash_table_ref(req->cache);
        }
        /* the whole conversation is written before qemu runs: it answers in order and quits */
        char *const argv[] = { p->emulator, (char *) "-S", (char *) "-no-user-config", (char *) "-nodefaults",
                               (char *) "-display", (char *) "none", (char *) "-machine", (char *) "none",
                               (char *) "-accel", (char *) "tcg", (char *) "-qmp", (char *) "stdio", NULL };
        r = child_output_run(event, argv, domcaps_commands, DOMCAPS_OUTPUT_MAX, timeout_usec, on_answers, p, &p->child);
        if (r < 0) {
                *ret_message = g_strdup_printf("cannot run %s: %s", emulator, strerror(-r));
                probe_free(p);
                return r == -ENOENT || r == -EACCES ? -EIO : r;
        }
        log_debug("Asking %s for domain capabilities (pid %d).", emulator, (int) child_output_pid(p->child));
        return 0;
}

int qemu_driver_domain_capabilities(DomainDriver *base, const char *emulator, const char *arch, const char *machine,
                                    const char *virttype, bool any_emulator, DriverDomCapsFn done, void *userdata,
                                    char **ret_message) {
        QemuDriver *d = (QemuDriver *) base;
        QemuDomCapsRequest req = { .emulator = emulator, .arch = arch, .machine = machine, .virttype = virttype,
                                   .any_emulator = any_emulator, .cache = d->domcaps };

        return qemu_domcaps_start(d->event, &req, d->probe_timeout_usec > 0 ? d->probe_timeout_usec
                                                                           : QEMU_CAPS_PROBE_TIMEOUT_USEC_DEFAULT,
                                  done, userdata, ret_message);
}
