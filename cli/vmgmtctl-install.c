/* vmgmtctl-install.c — virt-install's everyday flags as `vmgmtctl install`: a domain made
 * from options, its disks created in storage pools, defined and started, all through the
 * public bus API (so -H works as for the other verbs), its defaults from libosinfo through
 * Manager.GetOSInfo. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmgmtctl.h"
#include "vmgmtctl-install.h"

#define MIB (1024ULL * 1024)
#define GIB (1024ULL * MIB)
#define INSTALL_DISKS_MAX 16
#define INSTALL_NETS_MAX 8
#define OSINFO_ERROR_NO_SUCH_OS "org.vmgmt.Error.NoSuchOS"

typedef struct InstallDisk {
        char *path;               /* source file or device (known or once created) */
        char *pool, *vol;         /* pool= (for a new one), vol=POOL/VOL (type='volume') */
        char *vol_name;           /* the volume to create */
        const char *format, *bus, *device;
        uint64_t size;            /* bytes to create, 0: use what exists */
        bool readonly;
        char *local_file;         /* a file of this machine uploaded into the new volume */
        char *created;            /* object path of the volume we created */
        char target[8];
} InstallDisk;

typedef struct InstallNet {
        const char *type;         /* network, bridge, user */
        char *source, *model, *mac;
} InstallNet;

typedef struct OSInfo {
        char *id, *short_id, *name;
        uint64_t min_ram, rec_ram, min_storage, rec_storage;
        uint32_t min_vcpus, rec_vcpus;
        bool virtio, q35, has_bios, has_efi, known;
        char **tree_kernels, **tree_initrds;   /* install_trees' paths, NULL-terminated */
} OSInfo;

typedef struct Install {
        Context *c;
        const VerbArgs *a;
        const char *name;
        uint64_t memory_mib;
        unsigned vcpus;
        const char *cpu, *virt_type, *machine, *video, *rng, *tpm;
        OSInfo os;
        bool generic, detect, require, detect_default;
        InstallDisk disks[INSTALL_DISKS_MAX];
        size_t n_disks;
        InstallNet nets[INSTALL_NETS_MAX];
        size_t n_nets;
        bool network_given;
        const char *cdrom, *location;
        const char *extra_args;
        bool import, uefi, bootmenu;
        const char *boot_devs[4];
        size_t n_boot_devs;
        char *kernel, *initrd, *cmdline, *loader;
        bool direct_boot_given;    /* --boot kernel=: the domain keeps it */
        char *location_kernel, *location_initrd;   /* local files taken from --location */
        bool graphics_none;
        char *vnc_listen, *vnc_port;
        const char *console_target;
        bool features_set;
        bool feat_acpi, feat_apic, feat_pae, feat_vmport_off;
        bool noautoconsole, print_xml, dry_run, wait_set;
        long wait_minutes;
        bool cloud_init;
        char *ci_user_data, *ci_meta_data, *ci_ssh_key;
        char tmpdir[64];
        char *domain_path;
        bool defined;
} Install;

/* ---- small things ---- */

static int parse_size_gib(const char *flag, const char *s, uint64_t *ret) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || v <= 0 || v > 1024.0 * 1024)
                return ctl_error(-EINVAL, "%s: invalid size '%s' (GiB, e.g. 10 or 0.5).", flag, s);
        *ret = (uint64_t) (v * (double) GIB);
        *ret = (*ret + 511) / 512 * 512;
        return 0;
}

static int parse_uint(const char *flag, const char *s, uint64_t max, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (isempty(s) || s[0] == '-')
                return ctl_error(-EINVAL, "%s: invalid number '%s'.", flag, strempty(s));
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v == 0 || v > max)
                return ctl_error(-EINVAL, "%s: invalid number '%s'.", flag, s);
        *ret = v;
        return 0;
}

static bool valid_mac(const char *s) {
        unsigned b[6];
        char tail;

        return strlen(s) == 17 && sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) == 6;
}

static void xml_esc(FILE *f, const char *s) {
        storage_xml_escape_to(f, s);
}

static char *strdup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

static bool on_off(const char *flag, const char *key, const char *v, int *ret) {
        if (STR_IN_SET(v, "on", "yes", "true", "1"))
                *ret = 1;
        else if (STR_IN_SET(v, "off", "no", "false", "0"))
                *ret = 0;
        else {
                ctl_error(-EINVAL, "%s: %s=%s is neither on nor off.", flag, key, v);
                return false;
        }
        return true;
}

static void install_done(Install *in) {
        for (size_t i = 0; i < in->n_disks; i++) {
                InstallDisk *d = &in->disks[i];
                free(d->path);
                free(d->pool);
                free(d->vol);
                free(d->vol_name);
                free(d->local_file);
                free(d->created);
        }
        for (size_t i = 0; i < in->n_nets; i++) {
                free(in->nets[i].source);
                free(in->nets[i].model);
                free(in->nets[i].mac);
        }
        free(in->vnc_listen);
        free(in->vnc_port);
        free(in->kernel);
        free(in->initrd);
        free(in->cmdline);
        free(in->loader);
        free(in->location_kernel);
        free(in->location_initrd);
        free(in->ci_user_data);
        free(in->ci_meta_data);
        free(in->ci_ssh_key);
        free(in->os.id);
        free(in->os.short_id);
        free(in->os.name);
        strv_freep(&in->os.tree_kernels);
        strv_freep(&in->os.tree_initrds);
        free(in->domain_path);
        if (in->tmpdir[0]) {
                char *argv[] = { "rm", "-rf", in->tmpdir, NULL };
                (void) install_run(argv, NULL);
        }
}

static int install_tmpdir(Install *in) {
        const char *t = getenv("TMPDIR");

        if (in->tmpdir[0])
                return 0;
        snprintf(in->tmpdir, sizeof(in->tmpdir), "%.40s/vmgmt-install-XXXXXX", isempty(t) ? "/tmp" : t);
        if (!mkdtemp(in->tmpdir)) {
                int r = -errno;
                in->tmpdir[0] = '\0';
                return ctl_error(r, "Cannot make a temporary directory: %s", strerror(-r));
        }
        return 0;
}

static int add_disk(Install *in, InstallDisk **ret) {
        if (in->n_disks >= INSTALL_DISKS_MAX)
                return ctl_error(-E2BIG, "--disk: at most %d disks.", INSTALL_DISKS_MAX);
        *ret = &in->disks[in->n_disks++];
        return 0;
}

/* ---- the command line ---- */

static int parse_disk(Install *in, const char *spec) {
        static const char *const keys[] = { "size", "pool", "format", "bus", "path", "vol", "device", "readonly",
                                            "sparse", "cache", NULL };
        _cleanup_(install_kv_done) InstallKVList l = {};
        const char *v;
        InstallDisk *d = NULL;
        int r;

        if (streq(spec, "none"))
                return 0;
        r = install_kv_parse("--disk", spec, &l);
        if (r < 0)
                return r;
        /* a bare first word is a path (virt-install's --disk /path/x.img,...) */
        if (l.n > 0 && !l.items[0].value && !install_kv_has(&l, "path") && strchr(l.items[0].key, '/')) {
                l.items[0].value = l.items[0].key;
                l.items[0].key = strdup("path");
                if (!l.items[0].key)
                        return ctl_error(-ENOMEM, "Out of memory.");
        }
        r = install_kv_check("--disk", &l, keys, false);
        if (r < 0)
                return r;
        r = add_disk(in, &d);
        if (r < 0)
                return r;
        if ((v = install_kv_get(&l, "size")) && (r = parse_size_gib("--disk size", v, &d->size)) < 0)
                return r;
        v = install_kv_get(&l, "device");
        if (v && !STR_IN_SET(v, "disk", "cdrom"))
                return ctl_error(-EINVAL, "--disk: device=%s is neither disk nor cdrom.", v);
        d->device = v && streq(v, "cdrom") ? "cdrom" : "disk";
        v = install_kv_get(&l, "format");
        if (v && !STR_IN_SET(v, "raw", "qcow2", "qed", "vmdk", "vdi", "vpc", "vhdx"))
                return ctl_error(-EINVAL, "--disk: unknown format=%s (raw, qcow2, …).", v);
        d->format = v ? (STR_IN_SET(v, "raw") ? "raw" : STR_IN_SET(v, "qcow2") ? "qcow2" : STR_IN_SET(v, "qed") ? "qed" :
                         STR_IN_SET(v, "vmdk") ? "vmdk" : STR_IN_SET(v, "vdi") ? "vdi" : STR_IN_SET(v, "vpc") ? "vpc" : "vhdx")
                      : NULL;
        v = install_kv_get(&l, "bus");
        if (v && !STR_IN_SET(v, "virtio", "ide", "sata", "scsi", "usb"))
                return ctl_error(-EINVAL, "--disk: unknown bus=%s (virtio, sata, ide, scsi, usb).", v);
        d->bus = v ? (streq(v, "virtio") ? "virtio" : streq(v, "ide") ? "ide" : streq(v, "sata") ? "sata" :
                      streq(v, "scsi") ? "scsi" : "usb")
                   : NULL;
        if ((v = install_kv_get(&l, "readonly"))) {
                int b;
                if (!on_off("--disk", "readonly", v, &b))
                        return -EINVAL;
                d->readonly = b;
        }
        if ((v = install_kv_get(&l, "sparse"))) {
                int b;
                if (!on_off("--disk", "sparse", v, &b))
                        return -EINVAL;
        }
        if ((v = install_kv_get(&l, "cache")) &&
            !STR_IN_SET(v, "default", "none", "writethrough", "writeback", "directsync", "unsafe"))
                return ctl_error(-EINVAL, "--disk: unknown cache=%s.", v);
        d->path = strdup_or_null(install_kv_get(&l, "path"));
        d->pool = strdup_or_null(install_kv_get(&l, "pool"));
        d->vol = strdup_or_null(install_kv_get(&l, "vol"));
        if (d->path && d->path[0] != '/')
                return ctl_error(-EINVAL, "--disk: path=%s is not an absolute path.", d->path);
        if (d->vol && (!strchr(d->vol, '/') || d->vol[0] == '/' || strchr(d->vol, '/')[1] == '\0'))
                return ctl_error(-EINVAL, "--disk: vol=%s is not POOL/VOLUME.", d->vol);
        if (d->vol && (d->path || d->pool || d->size))
                return ctl_error(-EINVAL, "--disk: vol= names an existing volume; it takes no path=, pool= or size=.");
        if (d->path && d->pool)
                return ctl_error(-EINVAL, "--disk: path= and pool= cannot be combined (a new volume goes into pool=).");
        if (!d->path && !d->vol && !d->size)
                return ctl_error(-EINVAL, "--disk %s: give size= (a new volume), path= or vol=.", spec);
        if (streq(d->device, "cdrom"))
                d->readonly = true;
        return 0;
}

static int parse_network(Install *in, const char *spec) {
        static const char *const keys[] = { "network", "bridge", "model", "mac", "type", NULL };
        _cleanup_(install_kv_done) InstallKVList l = {};
        const char *v, *net, *br;
        InstallNet *n;
        int r;

        in->network_given = true;
        if (streq(spec, "none"))
                return 0;
        r = install_kv_parse("--network", spec, &l);
        if (r < 0)
                return r;
        /* virt-install's short forms: network=default == network:default, bridge:br0, user/default */
        for (size_t i = 0; i < l.n; i++) {
                InstallKV *kv = &l.items[i];
                char *colon = kv->value ? NULL : strchr(kv->key, ':');
                if (!kv->value && (colon || streq(kv->key, "user") || streq(kv->key, "default"))) {
                        char *k = colon ? strndup(kv->key, (size_t) (colon - kv->key)) :
                                          strdup(streq(kv->key, "user") ? "type" : "network");
                        char *val = colon ? strdup(colon + 1) : strdup(kv->key);
                        if (!k || !val) {
                                free(k);
                                free(val);
                                return ctl_error(-ENOMEM, "Out of memory.");
                        }
                        free(kv->key);
                        kv->key = k;
                        kv->value = val;
                }
        }
        r = install_kv_check("--network", &l, keys, false);
        if (r < 0)
                return r;
        if (in->n_nets >= INSTALL_NETS_MAX)
                return ctl_error(-E2BIG, "--network: at most %d interfaces.", INSTALL_NETS_MAX);
        n = &in->nets[in->n_nets++];
        net = install_kv_get(&l, "network");
        br = install_kv_get(&l, "bridge");
        v = install_kv_get(&l, "type");
        if (v && !STR_IN_SET(v, "user", "network", "bridge"))
                return ctl_error(-EINVAL, "--network: unknown type=%s (network, bridge, user).", v);
        if (net && br)
                return ctl_error(-EINVAL, "--network: network= and bridge= cannot be combined.");
        if (v && streq(v, "user") && (net || br))
                return ctl_error(-EINVAL, "--network: type=user takes no network= or bridge=.");
        n->type = br ? "bridge" : net ? "network" : v && streq(v, "user") ? "user" : NULL;
        if (!n->type)
                return ctl_error(-EINVAL, "--network %s: give network=NAME, bridge=NAME, type=user or none.", spec);
        n->source = strdup_or_null(br ?: net);
        v = install_kv_get(&l, "model");
        if (v && !STR_IN_SET(v, "virtio", "e1000", "e1000e", "rtl8139"))
                return ctl_error(-EINVAL, "--network: unknown model=%s (virtio, e1000, e1000e, rtl8139).", v);
        n->model = strdup_or_null(v);
        v = install_kv_get(&l, "mac");
        if (v && !valid_mac(v))
                return ctl_error(-EINVAL, "--network: mac=%s is not a MAC address (52:54:00:xx:xx:xx).", v);
        n->mac = strdup_or_null(v);
        return 0;
}

static int parse_boot(Install *in, const char *spec) {
        static const char *const keys[] = { "kernel", "initrd", "cmdline", "kernel_args", "menu", "loader",
                                            "firmware", NULL };
        _cleanup_(install_kv_done) InstallKVList l = {};
        const char *v;
        int r;

        r = install_kv_parse("--boot", spec, &l);
        if (r < 0)
                return r;
        r = install_kv_check("--boot", &l, keys, true);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n; i++) {
                const char *w = l.items[i].key, *dev = NULL;

                if (l.items[i].value)
                        continue;
                if (streq(w, "uefi")) {
                        in->uefi = true;
                        continue;
                }
                dev = streq(w, "hd") ? "hd" : streq(w, "cdrom") ? "cdrom" : streq(w, "network") ? "network" :
                      streq(w, "fd") ? "fd" : NULL;
                if (!dev)
                        return ctl_error(-EINVAL, "--boot: unknown '%s' (hd, cdrom, network, fd, uefi, kernel=, initrd=, "
                                                  "cmdline=, menu=on, loader=).", w);
                for (size_t k = 0; k < in->n_boot_devs; k++)
                        if (streq(in->boot_devs[k], dev))
                                return ctl_error(-EINVAL, "--boot: '%s' given twice.", dev);
                in->boot_devs[in->n_boot_devs++] = dev;
        }
        if ((v = install_kv_get(&l, "firmware"))) {
                if (!STR_IN_SET(v, "efi", "bios"))
                        return ctl_error(-EINVAL, "--boot: firmware=%s is neither efi nor bios.", v);
                if (streq(v, "efi"))
                        in->uefi = true;
        }
        if ((v = install_kv_get(&l, "menu"))) {
                int b;
                if (!on_off("--boot", "menu", v, &b))
                        return -EINVAL;
                in->bootmenu = b;
        }
        if (install_kv_get(&l, "cmdline") && install_kv_get(&l, "kernel_args"))
                return ctl_error(-EINVAL, "--boot: cmdline= and kernel_args= are the same; give one.");
        in->kernel = strdup_or_null(install_kv_get(&l, "kernel"));
        in->initrd = strdup_or_null(install_kv_get(&l, "initrd"));
        in->cmdline = strdup_or_null(install_kv_get(&l, "cmdline") ?: install_kv_get(&l, "kernel_args"));
        in->loader = strdup_or_null(install_kv_get(&l, "loader"));
        if ((in->initrd || in->cmdline) && !in->kernel)
                return ctl_error(-EINVAL, "--boot: initrd= and cmdline= need kernel=.");
        if (in->kernel && in->kernel[0] != '/')
                return ctl_error(-EINVAL, "--boot: kernel=%s is not an absolute path.", in->kernel);
        if (in->initrd && in->initrd[0] != '/')
                return ctl_error(-EINVAL, "--boot: initrd=%s is not an absolute path.", in->initrd);
        in->direct_boot_given = in->kernel != NULL;
        return 0;
}

static int parse_graphics(Install *in, const char *spec) {
        static const char *const keys[] = { "type", "listen", "port", NULL };
        _cleanup_(install_kv_done) InstallKVList l = {};
        const char *v;
        int r;

        r = install_kv_parse("--graphics", spec, &l);
        if (r < 0)
                return r;
        if (l.items[0].value || !STR_IN_SET(l.items[0].key, "vnc", "none"))
                return ctl_error(-EINVAL, "--graphics %s: the first item is vnc or none (spice, sdl: not supported).",
                                 spec);
        if (streq(l.items[0].key, "none")) {
                if (l.n > 1)
                        return ctl_error(-EINVAL, "--graphics none takes no options.");
                in->graphics_none = true;
                return 0;
        }
        free(l.items[0].key);
        l.items[0].key = strdup("type");
        l.items[0].value = strdup("vnc");
        if (!l.items[0].key || !l.items[0].value)
                return ctl_error(-ENOMEM, "Out of memory.");
        r = install_kv_check("--graphics", &l, keys, false);
        if (r < 0)
                return r;
        if ((v = install_kv_get(&l, "port"))) {
                char *end;
                long p = strtol(v, &end, 10);
                if (*end || end == v || (p != -1 && (p < 5900 || p > 65535)))
                        return ctl_error(-EINVAL, "--graphics: port=%s is not -1 (automatic) or 5900…65535.", v);
        }
        in->vnc_listen = strdup_or_null(install_kv_get(&l, "listen"));
        in->vnc_port = strdup_or_null(install_kv_get(&l, "port"));
        return 0;
}

static int parse_features(Install *in, const char *spec) {
        static const char *const keys[] = { "acpi", "apic", "pae", "vmport", NULL };
        _cleanup_(install_kv_done) InstallKVList l = {};
        int r, b;

        r = install_kv_parse("--features", spec, &l);
        if (r < 0)
                return r;
        r = install_kv_check("--features", &l, keys, false);
        if (r < 0)
                return r;
        in->features_set = true;
        for (size_t i = 0; i < l.n; i++) {
                const char *k = l.items[i].key;
                if (!on_off("--features", k, l.items[i].value, &b))
                        return -EINVAL;
                if (streq(k, "acpi"))
                        in->feat_acpi = b;
                else if (streq(k, "apic"))
                        in->feat_apic = b;
                else if (streq(k, "pae"))
                        in->feat_pae = b;
                else if (streq(k, "vmport")) {
                        if (b)
                                return ctl_error(-EINVAL, "--features: vmport=on is not supported (vmport=off is).");
                        in->feat_vmport_off = true;
                }
        }
        return 0;
}

static int parse_cloud_init(Install *in, const char *spec) {
        static const char *const keys[] = { "user-data", "meta-data", "root-ssh-key", NULL };
        _cleanup_(install_kv_done) InstallKVList l = {};
        int r;

        in->cloud_init = true;
        if (isempty(spec))
                return 0;
        r = install_kv_parse("--cloud-init", spec, &l);
        if (r < 0)
                return r;
        r = install_kv_check("--cloud-init", &l, keys, false);
        if (r < 0)
                return r;
        in->ci_user_data = strdup_or_null(install_kv_get(&l, "user-data"));
        in->ci_meta_data = strdup_or_null(install_kv_get(&l, "meta-data"));
        in->ci_ssh_key = strdup_or_null(install_kv_get(&l, "root-ssh-key"));
        if (in->ci_user_data && in->ci_ssh_key)
                return ctl_error(-EINVAL, "--cloud-init: user-data= and root-ssh-key= cannot be combined (put the key "
                                          "in the user-data).");
        for (const char *f, *const *p = (const char *const[]) { in->ci_user_data, in->ci_meta_data, in->ci_ssh_key, "" };
             (f = *p) && *f; p++)
                if (access(f, R_OK) < 0)
                        return ctl_error(-ENOENT, "--cloud-init: cannot read %s: %m", f);
        return 0;
}

static int parse_osinfo(Install *in, const char *spec, bool *ret_list) {
        static const char *const keys[] = { "detect", "require", "name", "short-id", "id", NULL };
        _cleanup_(install_kv_done) InstallKVList l = {};
        const char *v;
        int r, b;

        *ret_list = false;
        in->require = true;
        if (!spec) {
                /* virt-install's detect=on,require=auto: the medium is asked, and an OS is needed */
                in->detect = in->detect_default = true;
                return 0;
        }
        if (streq(spec, "list")) {
                *ret_list = true;
                return 0;
        }
        if (streq(spec, "generic") || streq(spec, "none")) {
                in->generic = true;
                return 0;
        }
        if (!strchr(spec, '=')) {
                in->os.id = strdup(spec);
                return in->os.id ? 0 : ctl_error(-ENOMEM, "Out of memory.");
        }
        r = install_kv_parse("--osinfo", spec, &l);
        if (r < 0)
                return r;
        r = install_kv_check("--osinfo", &l, keys, false);
        if (r < 0)
                return r;
        if ((v = install_kv_get(&l, "detect"))) {
                if (!on_off("--osinfo", "detect", v, &b))
                        return -EINVAL;
                in->detect = b;
        }
        if ((v = install_kv_get(&l, "require"))) {
                if (!on_off("--osinfo", "require", v, &b))
                        return -EINVAL;
                in->require = b;
        }
        v = install_kv_get(&l, "name") ?: install_kv_get(&l, "short-id") ?: install_kv_get(&l, "id");
        if (v) {
                in->os.id = strdup(v);
                if (!in->os.id)
                        return ctl_error(-ENOMEM, "Out of memory.");
        }
        return 0;
}

static int parse_flags(Install *in, bool *ret_list) {
        const VerbArgs *a = in->a;
        const char *v;
        uint64_t u;
        int r;

        in->name = verb_value(a, "name");
        if (in->name && (isempty(in->name) || strchr(in->name, '/')))
                return ctl_error(-EINVAL, "--name: '%s' is not a domain name.", in->name);
        if ((v = verb_value(a, "memory"))) {
                /* virt-install's MiB, or memory=N[,maxmemory=…] (only memory= here) */
                if (strncmp(v, "memory=", 7) == 0)
                        v += 7;
                if ((r = parse_uint("--memory", v, 16ULL * 1024 * 1024, &u)) < 0)
                        return r;
                in->memory_mib = u;
        }
        if ((v = verb_value(a, "vcpus"))) {
                if (strncmp(v, "vcpus=", 6) == 0)
                        v += 6;
                if ((r = parse_uint("--vcpus", v, 4096, &u)) < 0)
                        return r;
                in->vcpus = (unsigned) u;
        }
        if ((v = verb_value(a, "cpu"))) {
                if (!*v || strchr(v, ',') || strchr(v, '<') || strchr(v, '&') || strchr(v, '\''))
                        return ctl_error(-EINVAL, "--cpu: '%s' is not host-passthrough, host-model, maximum or a CPU model.", v);
                in->cpu = v;
        }
        if ((v = verb_value(a, "virt-type"))) {
                if (!STR_IN_SET(v, "qemu", "kvm"))
                        return ctl_error(-EINVAL, "--virt-type: '%s' is neither qemu nor kvm.", v);
                in->virt_type = v;
        }
        if ((v = verb_value(a, "machine"))) {
                if (!*v || strchr(v, '<') || strchr(v, '\'') || strchr(v, '&'))
                        return ctl_error(-EINVAL, "--machine: '%s' is not a machine type.", v);
                in->machine = v;
        }
        if (verb_value(a, "os-variant") && verb_value(a, "osinfo"))
                return ctl_error(-EINVAL, "--os-variant and --osinfo are the same option; give one.");
        r = parse_osinfo(in, verb_value(a, "os-variant") ?: verb_value(a, "osinfo"), ret_list);
        if (r < 0 || *ret_list)
                return r;
        for (size_t i = 0; (v = verb_value_n(a, "disk", i)); i++)
                if ((r = parse_disk(in, v)) < 0)
                        return r;
        for (size_t i = 0; (v = verb_value_n(a, "network", i)); i++)
                if ((r = parse_network(in, v)) < 0)
                        return r;
        in->cdrom = verb_value(a, "cdrom");
        in->location = verb_value(a, "location");
        in->import = verb_flag(a, "import");
        in->extra_args = verb_value(a, "extra-args");
        if (!!in->cdrom + !!in->location + in->import > 1)
                return ctl_error(-EINVAL, "--cdrom, --location and --import are different install methods; give one.");
        if (in->cdrom && in->cdrom[0] != '/')
                return ctl_error(-EINVAL, "--cdrom: %s is not an absolute path.", in->cdrom);
        if (in->location && in->location[0] != '/')
                return ctl_error(-EINVAL, "--location: %s is not an absolute path (a URL is not supported).", in->location);
        if ((v = verb_value(a, "boot")) && (r = parse_boot(in, v)) < 0)
                return r;
        if (in->location && in->direct_boot_given)
                return ctl_error(-EINVAL, "--location takes the kernel from the medium; --boot kernel= cannot be added.");
        if (in->extra_args && !in->location && !in->direct_boot_given)
                return ctl_error(-EINVAL, "--extra-args needs --location or --boot kernel= (a kernel to give it to).");
        if (verb_value(a, "initrd-inject") && !in->location && !in->initrd)
                return ctl_error(-EINVAL, "--initrd-inject needs --location or --boot initrd= (an initrd to add to).");
        if (!in->cdrom && !in->location && !in->import && !in->direct_boot_given && !verb_flag(a, "print-xml") &&
            !in->n_boot_devs)
                return ctl_error(-EINVAL, "An install method is needed: --cdrom, --location, --import or --boot "
                                          "kernel=.");
        if (in->import && in->n_disks == 0)
                return ctl_error(-EINVAL, "--import boots an existing disk: give it with --disk path=… or vol=POOL/VOLUME.");
        if ((v = verb_value(a, "graphics")) && (r = parse_graphics(in, v)) < 0)
                return r;
        if ((v = verb_value(a, "console"))) {
                static const char *const keys[] = { "target_type", NULL };
                _cleanup_(install_kv_done) InstallKVList l = {};
                const char *t;

                if ((r = install_kv_parse("--console", v, &l)) < 0)
                        return r;
                if (l.items[0].value || !STR_IN_SET(l.items[0].key, "pty", "none") ||
                    (streq(l.items[0].key, "none") && l.n > 1))
                        return ctl_error(-EINVAL, "--console %s: pty[,target_type=serial|virtio] or none.", v);
                if ((r = install_kv_check("--console", &(InstallKVList) { l.items + 1, l.n - 1 }, keys, false)) < 0)
                        return r;
                t = install_kv_get(&l, "target_type");
                if (t && !STR_IN_SET(t, "serial", "virtio"))
                        return ctl_error(-EINVAL, "--console: target_type=%s is neither serial nor virtio.", t);
                in->console_target = streq(l.items[0].key, "none") ? "none" : t && streq(t, "virtio") ? "virtio" : "serial";
        }
        if ((v = verb_value(a, "video"))) {
                if (!STR_IN_SET(v, "vga", "virtio", "qxl", "bochs", "cirrus", "none"))
                        return ctl_error(-EINVAL, "--video: unknown model '%s' (vga, virtio, qxl, bochs, cirrus, none).", v);
                in->video = v;
        }
        if ((v = verb_value(a, "rng"))) {
                if (!STR_IN_SET(v, "/dev/urandom", "/dev/random", "/dev/hwrng", "builtin", "none"))
                        return ctl_error(-EINVAL, "--rng: '%s' is not /dev/urandom, /dev/random, /dev/hwrng, builtin or none.",
                                         v);
                in->rng = v;
        }
        if ((v = verb_value(a, "tpm"))) {
                if (!STR_IN_SET(v, "emulator", "none") && strncmp(v, "/dev/tpm", 8) != 0)
                        return ctl_error(-EINVAL, "--tpm: '%s' is not emulator, /dev/tpmN or none.", v);
                in->tpm = v;
        }
        if ((v = verb_value(a, "features")) && (r = parse_features(in, v)) < 0)
                return r;
        in->noautoconsole = verb_flag(a, "noautoconsole");
        in->print_xml = verb_flag(a, "print-xml");
        in->dry_run = verb_flag(a, "dry-run");
        if ((v = verb_value(a, "wait"))) {
                char *end;
                in->wait_minutes = strtol(v, &end, 10);
                if (end == v || *end)
                        return ctl_error(-EINVAL, "--wait: '%s' is not a number of minutes (-1: as long as it takes).", v);
                in->wait_set = true;
        }
        if (verb_value(a, "cloud-init") && (r = parse_cloud_init(in, verb_value(a, "cloud-init"))) < 0)
                return r;
        if (in->print_xml && in->dry_run)
                return ctl_error(-EINVAL, "--print-xml and --dry-run: give one (--print-xml touches nothing either).");
        return 0;
}

/* ---- libosinfo through the service ---- */

static int read_resources(sd_bus_message *m, uint64_t *ram, uint32_t *vcpus, uint64_t *storage) {
        const char *key;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                if ((r = sd_bus_message_read(m, "s", &key)) < 0)
                        return r;
                if (streq(key, "ram"))
                        r = sd_bus_message_read(m, "v", "t", ram);
                else if (streq(key, "storage"))
                        r = sd_bus_message_read(m, "v", "t", storage);
                else if (streq(key, "vcpus"))
                        r = sd_bus_message_read(m, "v", "u", vcpus);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                if ((r = sd_bus_message_exit_container(m)) < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int strv_push(char ***l, const char *s) {
        size_t n = 0;
        char **nl;

        while (*l && (*l)[n])
                n++;
        nl = realloc(*l, (n + 2) * sizeof(char *));
        if (!nl)
                return -ENOMEM;
        nl[n] = strdup(s);
        nl[n + 1] = NULL;
        *l = nl;
        return nl[n] ? 0 : -ENOMEM;
}

static int read_trees(sd_bus_message *m, OSInfo *os) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "a{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) > 0) {
                const char *key, *s, *kernel = NULL, *initrd = NULL, *arch = NULL;

                while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                        if ((r = sd_bus_message_read(m, "s", &key)) < 0)
                                return r;
                        if (STR_IN_SET(key, "kernel", "initrd", "arch") &&
                            sd_bus_message_peek_type(m, NULL, NULL) >= 0 &&
                            sd_bus_message_enter_container(m, 'v', "s") > 0) {
                                if ((r = sd_bus_message_read(m, "s", &s)) < 0)
                                        return r;
                                if (streq(key, "kernel"))
                                        kernel = s;
                                else if (streq(key, "initrd"))
                                        initrd = s;
                                else
                                        arch = s;
                                if ((r = sd_bus_message_exit_container(m)) < 0)
                                        return r;
                        } else if ((r = sd_bus_message_skip(m, "v")) < 0)
                                return r;
                        if ((r = sd_bus_message_exit_container(m)) < 0)
                                return r;
                }
                if (r < 0)
                        return r;
                if ((r = sd_bus_message_exit_container(m)) < 0)
                        return r;
                if (kernel && initrd && (!arch || STR_IN_SET(arch, "x86_64", "all", "i686"))) {
                        if (strv_push(&os->tree_kernels, kernel) < 0 || strv_push(&os->tree_initrds, initrd) < 0)
                                return -ENOMEM;
                }
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* Reads GetOSInfo's (and DetectOSInfo's) a{sv}. */
static int read_osinfo(sd_bus_message *m, OSInfo *os) {
        const char *key, *s;
        int r, b;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                if ((r = sd_bus_message_read(m, "s", &key)) < 0)
                        return r;
                if (STR_IN_SET(key, "id", "short_id", "name")) {
                        if ((r = sd_bus_message_read(m, "v", "s", &s)) < 0)
                                return r;
                        char **f = streq(key, "id") ? &os->id : streq(key, "short_id") ? &os->short_id : &os->name;
                        free(*f);
                        *f = strdup(s);
                        if (!*f)
                                return -ENOMEM;
                } else if (STR_IN_SET(key, "virtio", "q35")) {
                        if ((r = sd_bus_message_read(m, "v", "b", &b)) < 0)
                                return r;
                        *(streq(key, "virtio") ? &os->virtio : &os->q35) = b;
                } else if (STR_IN_SET(key, "minimum", "recommended")) {
                        bool min = streq(key, "minimum");
                        if ((r = sd_bus_message_enter_container(m, 'v', "a{sv}")) < 0)
                                return r;
                        r = read_resources(m, min ? &os->min_ram : &os->rec_ram, min ? &os->min_vcpus : &os->rec_vcpus,
                                           min ? &os->min_storage : &os->rec_storage);
                        if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
                                return r;
                } else if (streq(key, "firmware")) {
                        if ((r = sd_bus_message_enter_container(m, 'v', "as")) < 0 ||
                            (r = sd_bus_message_enter_container(m, 'a', "s")) < 0)
                                return r;
                        while ((r = sd_bus_message_read(m, "s", &s)) > 0) {
                                if (streq(s, "efi"))
                                        os->has_efi = true;
                                else if (streq(s, "bios"))
                                        os->has_bios = true;
                        }
                        if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0 ||
                            (r = sd_bus_message_exit_container(m)) < 0)
                                return r;
                } else if (streq(key, "install_trees")) {
                        if ((r = sd_bus_message_enter_container(m, 'v', "aa{sv}")) < 0)
                                return r;
                        r = read_trees(m, os);
                        if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
                                return r;
                } else if ((r = sd_bus_message_skip(m, "v")) < 0)
                        return r;
                if ((r = sd_bus_message_exit_container(m)) < 0)
                        return r;
        }
        if (r < 0)
                return r;
        os->known = os->id || os->short_id;
        return sd_bus_message_exit_container(m);
}

/* Calls an OS info method; *ret_unknown when the service does not have it. */
/* quiet: 0 errors printed, 1 a warning that the install goes on as generic, 2 nothing printed. */
static int osinfo_call(Install *in, const char *member, const char *arg, sd_bus_message **ret, int quiet,
                       bool *ret_unknown) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        *ret_unknown = false;
        r = ctl_new_call(in->c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, member, &m);
        if (r < 0)
                return r;
        if (streq(member, "ListOSInfo"))
                r = sd_bus_message_append(m, "a{sv}", 0);
        else if (streq(member, "GetOSInfo"))
                r = sd_bus_message_append(m, "s", arg);
        else
                r = sd_bus_message_append(m, "sa{sv}", arg, 0);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = sd_bus_call(in->c->bus, m, 0, &error, ret);
        if (r >= 0)
                return 0;
        *ret_unknown = sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD);
        if (quiet == 2)
                return r;
        if (quiet) {
                /* detect=on,require=off: whatever went wrong, the install goes on as generic */
                fprintf(stderr, "warning: the OS of %s was not detected (%s); going on as --osinfo generic.\n", arg,
                        sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD)
                                ? "this vmgmtd has no Manager.DetectOSInfo"
                                : error.message ?: strerror(-r));
                return r;
        }
        if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD) ||
            sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_INTERFACE)) {
                *ret_unknown = true;
                return ctl_error(-EOPNOTSUPP, "This vmgmtd has no OS database (Manager.%s is unknown: a vmgmtd "
                                              "without libosinfo); use --osinfo generic and give --memory, --vcpus and "
                                              "--disk size=.", member);
        }
        if (sd_bus_error_has_name(&error, OSINFO_ERROR_NO_SUCH_OS))
                return ctl_error(-ENOENT, "--os-variant: unknown OS '%s' (vmgmtctl install --osinfo list shows the known "
                                          "ones).", arg);
        return ctl_bus_error(&error, r);
}

static int osinfo_list(Install *in) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        bool unknown;
        int r;

        r = osinfo_call(in, "ListOSInfo", NULL, &reply, 0, &unknown);
        if (r < 0)
                return r;
        t = table_new(3, (const char *const[]) { "Short ID", "Name", "Version" });
        if (!t)
                return ctl_error(-ENOMEM, "Out of memory.");
        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'a', "{sv}")) > 0) {
                _cleanup_free_ char *sid = NULL, *name = NULL, *ver = NULL;
                const char *key, *s;

                while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                        if ((r = sd_bus_message_read(reply, "s", &key)) < 0)
                                break;
                        if (STR_IN_SET(key, "short_id", "name", "version") &&
                            sd_bus_message_enter_container(reply, 'v', "s") > 0) {
                                if ((r = sd_bus_message_read(reply, "s", &s)) < 0)
                                        break;
                                char **f = streq(key, "short_id") ? &sid : streq(key, "name") ? &name : &ver;
                                free(*f);
                                *f = strdup(s);
                                r = sd_bus_message_exit_container(reply);
                        } else
                                r = sd_bus_message_skip(reply, "v");
                        if (r < 0 || (r = sd_bus_message_exit_container(reply)) < 0)
                                break;
                }
                if (r < 0 || (r = sd_bus_message_exit_container(reply)) < 0)
                        break;
                if (table_add_row(t, (const char *const[]) { strempty(sid), strempty(name), strempty(ver) }) < 0)
                        return ctl_error(-ENOMEM, "Out of memory.");
        }
        if (r < 0)
                return ctl_error(r, "Failed to parse ListOSInfo's reply: %s", strerror(-r));
        table_print(t, stdout, true);
        return 0;
}

/* virt-install's rules: libosinfo's values for the OS, or detected from the medium, or
 * "generic"; none of them is an error unless require=off. */
static int resolve_osinfo(Install *in) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        bool unknown = false;
        int r;

        if (in->generic)
                return 0;
        if (in->os.id) {
                _cleanup_free_ char *id = in->os.id;
                in->os.id = NULL;
                r = osinfo_call(in, "GetOSInfo", id, &reply, 0, &unknown);
                if (r < 0)
                        return r;
                r = read_osinfo(reply, &in->os);
                if (r < 0)
                        return ctl_error(r, "Failed to parse GetOSInfo's reply: %s", strerror(-r));
                return 0;
        }
        if (in->detect && (in->cdrom || in->location || !in->detect_default)) {
                const char *media = in->cdrom ?: in->location;
                if (!media) {
                        if (in->require)
                                return ctl_error(-EINVAL, "--osinfo detect=on needs --cdrom or --location to look at.");
                        in->generic = true;
                        return 0;
                }
                r = osinfo_call(in, "DetectOSInfo", media, &reply, in->detect_default ? 2 : !in->require, &unknown);
                if (r >= 0) {
                        r = read_osinfo(reply, &in->os);
                        if (r < 0)
                                return ctl_error(r, "Failed to parse DetectOSInfo's reply: %s", strerror(-r));
                        if (in->os.known && in->os.short_id)
                                ctl_info("Detected the OS of %s: %s", media, in->os.name ?: in->os.short_id);
                        if (in->os.known || !in->require)
                                return 0;
                } else if (!in->require) {
                        in->generic = true;
                        return 0;
                } else if (!in->detect_default)
                        return r;
        }
        if (!in->require) {
                in->generic = true;
                return 0;
        }
        return ctl_error(-EINVAL, "--os-variant/--osinfo OS name is required, but no value was set or detected%s. "
                                  "Give --osinfo NAME (vmgmtctl install --osinfo list shows them), --osinfo "
                                  "detect=on,require=off, or --osinfo generic.",
                         in->detect_default && (in->cdrom || in->location) && unknown
                                 ? " (this vmgmtd cannot detect the OS of a medium: no Manager.DetectOSInfo)"
                                 : "");
}

/* ---- the host ---- */

/* kvm when the host's domain capabilities offer it, else qemu (TCG). */
static int resolve_virt_type(Install *in) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (in->virt_type)
                return 0;
        r = ctl_new_call(in->c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "GetDomainCapabilities", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ssssa{sv}", "", "", "", "kvm", 0);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = sd_bus_call(in->c->bus, m, 0, &error, &reply);
        in->virt_type = r >= 0 ? "kvm" : "qemu";
        return 0;
}

/* --boot uefi without loader=: <os firmware='efi'> (virt-install 4's way), which the service resolves at each
 * start from the host's firmware descriptors; checked here against the domain capabilities' firmware enum. */
static int check_uefi(Install *in) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *xml, *p, *e;
        int r;

        if (in->loader || !in->uefi)
                return 0;
        r = ctl_new_call(in->c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "GetDomainCapabilities", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ssssa{sv}", "", "", strempty(in->machine), in->virt_type, 0);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(in->c, m, &reply);
        if (r < 0)
                return r;
        if ((r = sd_bus_message_read(reply, "s", &xml)) < 0)
                return ctl_error(r, "Failed to read the domain capabilities: %s", strerror(-r));
        p = strstr(xml, "<enum name='firmware'>");
        e = p ? strstr(p, "</enum>") : NULL;
        if (p && e && memmem(p, (size_t) (e - p), "<value>efi</value>", 18))
                return 0;
        return ctl_error(-ENOENT, "--boot uefi: the host has no UEFI firmware for machine '%s' (apt-get install ovmf), "
                                  "or give --boot loader=PATH.", strempty(in->machine));
}

/* A pool's directory (its XML's <target><path>), malloc'd; NULL when it has none. */
static int pool_target(Install *in, const char *pool_path, char **ret) {
        _cleanup_free_ char *xml = NULL;
        const char *p, *e;
        int r;

        *ret = NULL;
        r = ctl_get_xml(in->c, pool_path, VMGMT_POOL_IFACE, false, false, &xml);
        if (r < 0)
                return r;
        p = strstr(xml, "<target>");
        p = p ? strstr(p, "<path>") : NULL;
        e = p ? strstr(p, "</path>") : NULL;
        if (p && e)
                *ret = strndup(p + 6, (size_t) (e - p - 6));
        return 0;
}

/* The name of the active pool whose directory is dir (malloc'd in *ret), or *ret NULL. */
static int pool_of_dir(Install *in, const char *dir, char **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *o;
        int r;

        *ret = NULL;
        r = ctl_new_call(in->c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "ListPools", &m);
        if (r < 0)
                return r;
        if ((r = sd_bus_message_append(m, "a{sv}", 1, "active", "b", 1)) < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(in->c, m, &reply);
        if (r < 0)
                return r;
        if ((r = sd_bus_message_enter_container(reply, 'a', "o")) < 0)
                return ctl_error(r, "Failed to parse ListPools' reply: %s", strerror(-r));
        while (!*ret && (r = sd_bus_message_read(reply, "o", &o)) > 0) {
                _cleanup_free_ char *target = NULL;

                if (pool_target(in, o, &target) < 0)
                        continue;   /* gone meanwhile */
                if (target && streq(target, dir))
                        *ret = ctl_object_name(in->c, o, VMGMT_POOL_IFACE);
        }
        return r < 0 ? ctl_error(r, "Failed to parse ListPools' reply: %s", strerror(-r)) : 0;
}

/* 1 when method(name) of iface on path answers (the object exists), 0 when it refuses. */
static int lookup_answers(Install *in, const char *path, const char *iface, const char *method, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = ctl_new_call(in->c, path, iface, method, &m);
        if (r < 0)
                return r;
        if ((r = sd_bus_message_append(m, "s", name)) < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return sd_bus_call(in->c->bus, m, 0, &error, &reply) >= 0;
}

/* 1 when pool (an object path) has a volume called name. */
static int volume_exists(Install *in, const char *pool_path, const char *name) {
        return lookup_answers(in, pool_path, VMGMT_POOL_IFACE, "GetVolume", name);
}

static int domain_exists(Install *in, const char *name) {
        return lookup_answers(in, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "GetDomain", name);
}

/* ---- defaults ---- */

static int apply_defaults(Install *in) {
        const OSInfo *os = &in->os;
        int r;

        if (!in->name) {
                if (!os->short_id)
                        return ctl_error(-EINVAL, "--name is required (there is no OS to name the domain after).");
                /* virt-install: the OS's short id, then -2, -3, … until it is free */
                static char buf[256];
                for (unsigned i = 1; i < 1000; i++) {
                        if (i == 1)
                                snprintf(buf, sizeof(buf), "%s", os->short_id);
                        else
                                snprintf(buf, sizeof(buf), "%s-%u", os->short_id, i);
                        if ((r = domain_exists(in, buf)) < 0)
                                return r;
                        if (r == 0)
                                break;
                }
                in->name = buf;
        } else {
                if ((r = domain_exists(in, in->name)) < 0)
                        return r;
                if (r > 0)
                        return ctl_error(-EEXIST, "--name: a domain '%s' exists already.", in->name);
        }
        if (!in->memory_mib)
                in->memory_mib = os->rec_ram ? os->rec_ram / MIB : os->min_ram ? os->min_ram / MIB : 1024;
        if (!in->vcpus)
                in->vcpus = os->rec_vcpus ?: os->min_vcpus ?: 1;
        if (!in->machine)
                in->machine = os->q35 ? "q35" : "pc";
        if (os->known && os->has_efi && !os->has_bios)
                in->uefi = true;
        return 0;
}

/* A default disk when none was given (virt-install's: one of the OS's size, in the pool "default"),
 * except for --import and --boot kernel=, which boot what they are given. */
static int default_disk(Install *in) {
        InstallDisk *d = NULL;
        uint64_t size;
        int r;

        if (in->n_disks > 0 || verb_value_n(in->a, "disk", 0) || in->import || in->direct_boot_given)
                return 0;
        r = add_disk(in, &d);
        if (r < 0)
                return r;
        size = in->os.rec_storage ?: in->os.min_storage ?: 10 * GIB;
        d->size = size;
        d->device = "disk";
        return 0;
}

static const char *disk_bus_default(Install *in, const InstallDisk *d) {
        if (d->bus)
                return d->bus;
        if (streq(d->device, "cdrom"))
                return streq(in->machine, "q35") ? "sata" : "ide";
        return in->os.virtio ? "virtio" : streq(in->machine, "q35") ? "sata" : "ide";
}

static void assign_targets(Install *in) {
        unsigned vd = 0, sd = 0, hd = 0;

        for (size_t i = 0; i < in->n_disks; i++) {
                InstallDisk *d = &in->disks[i];
                const char *bus;

                if (streq(d->device, "file"))
                        continue;
                bus = disk_bus_default(in, d);
                d->bus = bus;
                if (streq(bus, "virtio"))
                        snprintf(d->target, sizeof(d->target), "vd%c", 'a' + vd++);
                else if (streq(bus, "ide"))
                        snprintf(d->target, sizeof(d->target), "hd%c", 'a' + hd++);
                else
                        snprintf(d->target, sizeof(d->target), "sd%c", 'a' + sd++);
        }
}

/* The names of the new volumes: NAME.qcow2, NAME-1.qcow2, … (skipping taken ones); their
 * pool's path; with print_or_dry: the paths they will have. */
static int plan_volumes(Install *in) {
        unsigned next = 0;
        int r;

        for (size_t i = 0; i < in->n_disks; i++) {
                InstallDisk *d = &in->disks[i];
                _cleanup_free_ char *pool_path = NULL, *dir = NULL;

                if (d->vol || (d->path && !d->size))
                        continue;
                if (d->path) {
                        /* path=DIR/FILE with size=: the volume FILE of the pool whose directory is DIR */
                        const char *slash = strrchr(d->path, '/');
                        _cleanup_free_ char *pdir = strndup(d->path, (size_t) (slash - d->path));

                        if (!pdir)
                                return ctl_error(-ENOMEM, "Out of memory.");
                        if ((r = pool_of_dir(in, pdir, &d->pool)) < 0)
                                return r;
                        if (!d->pool || !slash[1])
                                return ctl_error(-EINVAL, "--disk path=%s,size=…: no active storage pool has the directory "
                                                          "%s; give pool=POOL instead of path= (the volume is named after "
                                                          "the domain), or define a dir pool there.",
                                                 d->path, pdir);
                        if (!(d->vol_name = strdup(slash + 1)))
                                return ctl_error(-ENOMEM, "Out of memory.");
                }
                if (!d->pool && !(d->pool = strdup("default")))
                        return ctl_error(-ENOMEM, "Out of memory.");
                r = pool_resolve(in->c, d->pool, &pool_path);
                if (r < 0)
                        return ctl_error(r, "--disk: no storage pool '%s' (create it, or give pool=).", d->pool);
                if (!d->format)
                        d->format = d->local_file ? "raw" : "qcow2";
                if (!d->vol_name) {
                        for (;; next++) {
                                free(d->vol_name);
                                d->vol_name = NULL;
                                if ((next == 0 ? asprintf(&d->vol_name, "%s.%s", in->name, d->format)
                                               : asprintf(&d->vol_name, "%s-%u.%s", in->name, next, d->format)) < 0)
                                        return ctl_error(-ENOMEM, "Out of memory.");
                                if ((r = volume_exists(in, pool_path, d->vol_name)) < 0)
                                        return r;
                                if (r == 0)
                                        break;
                        }
                        next++;
                } else if ((r = volume_exists(in, pool_path, d->vol_name)) < 0)
                        return r;
                else if (r > 0)
                        return ctl_error(-EEXIST, "Pool '%s' has a volume '%s' already (from an earlier install of "
                                                  "'%s'? vmgmtctl vol-delete --pool %s %s).",
                                         d->pool, d->vol_name, in->name, d->pool, d->vol_name);
                if ((r = pool_target(in, pool_path, &dir)) < 0)
                        return r;
                free(d->path);
                d->path = NULL;
                if (dir && asprintf(&d->path, "%s/%s", dir, d->vol_name) < 0)
                        return ctl_error(-ENOMEM, "Out of memory.");
        }
        return 0;
}

/* ---- media this machine makes ---- */

static int write_text(const char *path, const char *text) {
        _cleanup_fclose_ FILE *f = fopen(path, "we");

        if (!f || fputs(text, f) < 0 || fflush(f) != 0)
                return ctl_error(-EIO, "Cannot write %s: %m", path);
        return 0;
}

static int copy_to(const char *from, const char *to) {
        _cleanup_free_ char *text = NULL;
        int r = ctl_read_file(from, &text);

        return r < 0 ? r : write_text(to, text);
}

/* The NoCloud seed (user-data, meta-data) as an ISO in the temporary directory, a cdrom to be. */
static int make_seed(Install *in) {
        _cleanup_free_ char *dir = NULL, *ud = NULL, *md = NULL, *iso = NULL, *text = NULL;
        InstallDisk *d = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        if (!in->cloud_init)
                return 0;
        if ((r = install_tmpdir(in)) < 0)
                return r;
        if (asprintf(&dir, "%s/seed", in->tmpdir) < 0 || asprintf(&ud, "%s/user-data", dir) < 0 ||
            asprintf(&md, "%s/meta-data", dir) < 0 || asprintf(&iso, "%s/cidata.iso", in->tmpdir) < 0)
                return ctl_error(-ENOMEM, "Out of memory.");
        if (mkdir(dir, 0700) < 0)
                return ctl_error(-errno, "Cannot make %s: %m", dir);
        if (in->ci_user_data)
                r = copy_to(in->ci_user_data, ud);
        else {
                _cleanup_free_ char *key = NULL;
                if (in->ci_ssh_key && (r = ctl_read_file(in->ci_ssh_key, &key)) < 0)
                        return r;
                f = open_memstream(&text, &len);
                if (!f)
                        return ctl_error(-ENOMEM, "Out of memory.");
                fputs("#cloud-config\n", f);
                if (key) {
                        key[strcspn(key, "\n")] = '\0';
                        fputs("users:\n  - name: root\n    ssh_authorized_keys:\n      - ", f);
                        fputs(key, f);
                        fputs("\ndisable_root: false\n", f);
                }
                fclose(f);
                r = write_text(ud, text);
        }
        if (r < 0)
                return r;
        if (in->ci_meta_data)
                r = copy_to(in->ci_meta_data, md);
        else {
                free(text);
                text = NULL;
                if (asprintf(&text, "instance-id: %s\nlocal-hostname: %s\n", in->name, in->name) < 0)
                        return ctl_error(-ENOMEM, "Out of memory.");
                r = write_text(md, text);
        }
        if (r < 0)
                return r;
        if ((r = install_make_seed_iso(dir, iso)) < 0)
                return r;
        if ((r = add_disk(in, &d)) < 0)
                return r;
        d->device = "cdrom";
        d->readonly = true;
        d->format = "raw";
        d->local_file = TAKE_PTR(iso);
        if (asprintf(&d->vol_name, "%s-cidata.iso", in->name) < 0)
                return ctl_error(-ENOMEM, "Out of memory.");
        d->pool = strdup_or_null(in->n_disks > 1 && in->disks[0].pool ? in->disks[0].pool : "default");
        d->size = 1;   /* a new volume */
        return 0;
}

/* --location: the kernel and initrd of an install tree (a directory) or an ISO, libosinfo's
 * paths first, then the usual ones of Debian, Ubuntu, Fedora/RHEL, SUSE and isolinux. */
static int take_location(Install *in) {
        static const char *const kernels[] = { "install.amd/vmlinuz", "casper/vmlinuz", "images/pxeboot/vmlinuz",
                                                "boot/x86_64/loader/linux", "isolinux/vmlinuz", "boot/vmlinuz",
                                                "vmlinuz", NULL };
        static const char *const initrds[] = { "install.amd/initrd.gz", "casper/initrd", "images/pxeboot/initrd.img",
                                                "boot/x86_64/loader/initrd", "isolinux/initrd.img", "boot/initrd.img",
                                                "initrd.img", NULL };
        struct stat st;
        bool dir;
        int r;

        if (!in->location)
                return 0;
        if (stat(in->location, &st) < 0)
                return ctl_error(-errno, "--location: %s: %m", in->location);
        dir = S_ISDIR(st.st_mode);
        if (!dir && (r = install_tmpdir(in)) < 0)
                return r;
        for (int pass = 0; pass < 2 && !in->location_kernel; pass++) {
                char *const *ks = pass == 0 ? in->os.tree_kernels : (char *const *) kernels;
                char *const *is = pass == 0 ? in->os.tree_initrds : (char *const *) initrds;

                for (size_t i = 0; ks && ks[i] && is[i]; i++) {
                        _cleanup_free_ char *k = NULL, *ird = NULL;

                        if (dir) {
                                if (asprintf(&k, "%s/%s", in->location, ks[i]) < 0 ||
                                    asprintf(&ird, "%s/%s", in->location, is[i]) < 0)
                                        return ctl_error(-ENOMEM, "Out of memory.");
                                if (access(k, R_OK) < 0 || access(ird, R_OK) < 0)
                                        continue;
                        } else {
                                _cleanup_free_ char *pk = NULL, *pi = NULL;
                                if (asprintf(&k, "%s/location-kernel", in->tmpdir) < 0 ||
                                    asprintf(&ird, "%s/location-initrd", in->tmpdir) < 0 ||
                                    asprintf(&pk, "/%s", ks[i]) < 0 || asprintf(&pi, "/%s", is[i]) < 0)
                                        return ctl_error(-ENOMEM, "Out of memory.");
                                r = install_iso_extract(in->location, pk, k);
                                if (r < 0)
                                        return r;
                                if (r == 0)
                                        continue;
                                r = install_iso_extract(in->location, pi, ird);
                                if (r < 0)
                                        return r;
                                if (r == 0)
                                        continue;
                        }
                        in->location_kernel = TAKE_PTR(k);
                        in->location_initrd = TAKE_PTR(ird);
                        break;
                }
        }
        if (!in->location_kernel)
                return ctl_error(-ENOENT, "--location: no kernel and initrd found in %s (looked for %s, …).", in->location,
                                 "install.amd/vmlinuz, casper/vmlinuz, images/pxeboot/vmlinuz, isolinux/vmlinuz");
        return 0;
}

/* A local file that goes into the pool as a new volume; *ret_disk is not a device of the domain. */
static int add_upload(Install *in, const char *local, const char *suffix, InstallDisk **ret) {
        InstallDisk *d = NULL;
        int r;

        if ((r = add_disk(in, &d)) < 0)
                return r;
        d->device = "file";
        d->format = "raw";
        d->local_file = strdup(local);
        d->pool = strdup("default");
        if (!d->local_file || !d->pool || asprintf(&d->vol_name, "%s-%s", in->name, suffix) < 0)
                return ctl_error(-ENOMEM, "Out of memory.");
        d->size = 1;
        *ret = d;
        return 0;
}

/* The kernel and initrd a direct boot needs: --location's taken out of the medium, or an
 * initrd with --initrd-inject files appended; both uploaded as volumes (so that they are on
 * the host of the domain, -H or not). */
static int prepare_kernel(Install *in, InstallDisk **ret_kernel, InstallDisk **ret_initrd) {
        const char *initrd = in->location_initrd ?: in->initrd;
        _cleanup_free_ char *injected = NULL;
        size_t n_inject = 0;
        int r;

        *ret_kernel = *ret_initrd = NULL;
        while (verb_value_n(in->a, "initrd-inject", n_inject))
                n_inject++;
        if (n_inject > 0) {
                _cleanup_free_ char **files = calloc(n_inject + 1, sizeof(char *));
                if (!files)
                        return ctl_error(-ENOMEM, "Out of memory.");
                for (size_t i = 0; i < n_inject; i++)
                        files[i] = (char *) verb_value_n(in->a, "initrd-inject", i);
                if ((r = install_tmpdir(in)) < 0)
                        return r;
                if (asprintf(&injected, "%s/initrd-injected", in->tmpdir) < 0)
                        return ctl_error(-ENOMEM, "Out of memory.");
                if ((r = install_make_injected_initrd(initrd, files, n_inject, in->tmpdir, injected)) < 0)
                        return r;
                initrd = injected;
        }
        if (in->location_kernel && (r = add_upload(in, in->location_kernel, "vmlinuz", ret_kernel)) < 0)
                return r;
        if ((in->location_initrd || injected) && (r = add_upload(in, initrd, "initrd", ret_initrd)) < 0)
                return r;
        return 0;
}

/* ---- the XML ---- */

static void xml_disk(Install *in, FILE *f, const InstallDisk *d) {
        const char *type = d->vol && !d->path ? "volume" : d->path && strncmp(d->path, "/dev/", 5) == 0 ? "block" : "file";

        fprintf(f, "    <disk type='%s' device='%s'>\n", type, d->device);
        if (d->format || !streq(d->device, "cdrom"))
                fprintf(f, "      <driver name='qemu' type='%s'/>\n", d->format ?: "raw");
        else
                fputs("      <driver name='qemu' type='raw'/>\n", f);
        if (streq(type, "volume")) {
                const char *slash = strchr(d->vol, '/');
                fputs("      <source pool='", f);
                fprintf(f, "%.*s", (int) (slash - d->vol), d->vol);
                fputs("' volume='", f);
                xml_esc(f, slash + 1);
                fputs("'/>\n", f);
        } else if (d->path) {
                fprintf(f, "      <source %s='", streq(type, "block") ? "dev" : "file");
                xml_esc(f, d->path);
                fputs("'/>\n", f);
        }
        fprintf(f, "      <target dev='%s' bus='%s'/>\n", d->target, d->bus);
        if (d->readonly)
                fputs("      <readonly/>\n", f);
        fputs("    </disk>\n", f);
        (void) in;
}

/* The domain XML; install: the first boot's (the medium first, --location's kernel). */
static int build_xml(Install *in, bool install, const InstallDisk *kvol, const InstallDisk *ivol, char **ret) {
        _cleanup_free_ char *xml = NULL;
        size_t len = 0;
        bool has_cdrom = false;
        FILE *f = open_memstream(&xml, &len);
        const char *kernel = NULL, *initrd = NULL, *cmdline = NULL;
        _cleanup_free_ char *cmd = NULL;

        if (!f)
                return ctl_error(-ENOMEM, "Out of memory.");
        for (size_t i = 0; i < in->n_disks; i++)
                if (streq(in->disks[i].device, "cdrom"))
                        has_cdrom = true;
        if (in->direct_boot_given) {
                kernel = in->kernel;
                initrd = ivol ? ivol->path : in->initrd;
                cmdline = in->cmdline;
        } else if (install && in->location) {
                kernel = kvol ? kvol->path : in->location_kernel;
                initrd = ivol ? ivol->path : in->location_initrd;
                cmdline = NULL;
        }
        if (kernel && in->extra_args) {
                if (asprintf(&cmd, "%s%s%s", strempty(cmdline), cmdline ? " " : "", in->extra_args) < 0) {
                        fclose(f);
                        return ctl_error(-ENOMEM, "Out of memory.");
                }
                cmdline = cmd;
        }

        fprintf(f, "<domain type='%s'>\n  <name>", in->virt_type);
        xml_esc(f, in->name);
        fputs("</name>\n", f);
        if (in->os.id) {
                fputs("  <metadata>\n    <libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>\n"
                      "      <libosinfo:os id='", f);
                xml_esc(f, in->os.id);
                fputs("'/>\n    </libosinfo:libosinfo>\n  </metadata>\n", f);
        }
        fprintf(f, "  <memory unit='MiB'>%" PRIu64 "</memory>\n", in->memory_mib);
        fprintf(f, "  <vcpu>%u</vcpu>\n", in->vcpus);
        fputs(in->uefi && !in->loader ? "  <os firmware='efi'>\n" : "  <os>\n", f);
        fputs("    <type arch='x86_64' machine='", f);
        xml_esc(f, in->machine);
        fputs("'>hvm</type>\n", f);
        if (in->loader) {
                fputs("    <loader readonly='yes' type='pflash'>", f);
                xml_esc(f, in->loader);
                fputs("</loader>\n", f);
        }
        if (kernel) {
                fputs("    <kernel>", f);
                xml_esc(f, kernel);
                fputs("</kernel>\n", f);
                if (initrd) {
                        fputs("    <initrd>", f);
                        xml_esc(f, initrd);
                        fputs("</initrd>\n", f);
                }
                if (cmdline) {
                        fputs("    <cmdline>", f);
                        xml_esc(f, cmdline);
                        fputs("</cmdline>\n", f);
                }
        }
        if (in->n_boot_devs > 0)
                for (size_t i = 0; i < in->n_boot_devs; i++)
                        fprintf(f, "    <boot dev='%s'/>\n", in->boot_devs[i]);
        else if (!kernel) {
                if (install && in->cdrom)
                        fputs("    <boot dev='cdrom'/>\n    <boot dev='hd'/>\n", f);
                else
                        fputs("    <boot dev='hd'/>\n", f);
                (void) has_cdrom;
        }
        if (in->bootmenu)
                fputs("    <bootmenu enable='yes'/>\n", f);
        fputs("  </os>\n", f);
        if (in->features_set ? (in->feat_acpi || in->feat_apic || in->feat_pae || in->feat_vmport_off) : true) {
                fputs("  <features>\n", f);
                if (!in->features_set || in->feat_acpi)
                        fputs("    <acpi/>\n", f);
                if (!in->features_set || in->feat_apic)
                        fputs("    <apic/>\n", f);
                if (in->feat_pae)
                        fputs("    <pae/>\n", f);
                if (in->feat_vmport_off)
                        fputs("    <vmport state='off'/>\n", f);
                fputs("  </features>\n", f);
        }
        if (in->cpu && !streq(in->cpu, "none")) {
                if (STR_IN_SET(in->cpu, "host-passthrough", "host-model", "maximum"))
                        fprintf(f, "  <cpu mode='%s'/>\n", in->cpu);
                else {
                        fputs("  <cpu mode='custom' match='exact'>\n    <model fallback='allow'>", f);
                        xml_esc(f, in->cpu);
                        fputs("</model>\n  </cpu>\n", f);
                }
        } else if (!in->cpu && streq(in->virt_type, "kvm"))
                fputs("  <cpu mode='host-passthrough'/>\n", f);
        fputs("  <clock offset='utc'/>\n", f);
        fputs("  <on_poweroff>destroy</on_poweroff>\n", f);
        /* the first boot of an install ends at its reboot (virt-install's rule); the next start is the installed one */
        fprintf(f, "  <on_reboot>%s</on_reboot>\n", install && (in->cdrom || in->location) ? "destroy" : "restart");
        fputs("  <on_crash>destroy</on_crash>\n", f);
        fputs("  <devices>\n", f);
        for (size_t i = 0; i < in->n_disks; i++)
                if (!streq(in->disks[i].device, "file"))
                        xml_disk(in, f, &in->disks[i]);
        if (in->cdrom) {
                InstallDisk cd = { .path = (char *) in->cdrom, .device = "cdrom", .format = "raw", .readonly = true,
                                   .bus = streq(in->machine, "q35") ? "sata" : "ide" };
                unsigned n = 0;
                for (size_t i = 0; i < in->n_disks; i++)
                        if (streq(in->disks[i].bus, cd.bus))
                                n++;
                snprintf(cd.target, sizeof(cd.target), "%s%c", streq(cd.bus, "ide") ? "hd" : "sd", 'a' + n);
                xml_disk(in, f, &cd);
        }
        for (size_t i = 0; i < in->n_nets; i++) {
                const InstallNet *n = &in->nets[i];
                fprintf(f, "    <interface type='%s'>\n", n->type);
                if (n->mac) {
                        fputs("      <mac address='", f);
                        xml_esc(f, n->mac);
                        fputs("'/>\n", f);
                }
                if (n->source) {
                        fprintf(f, "      <source %s='", n->type);
                        xml_esc(f, n->source);
                        fputs("'/>\n", f);
                }
                fprintf(f, "      <model type='%s'/>\n", n->model ?: in->os.virtio ? "virtio" : "e1000");
                fputs("    </interface>\n", f);
        }
        if (!in->console_target || !streq(in->console_target, "none")) {
                fputs("    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n", f);
                if (in->console_target && streq(in->console_target, "virtio"))
                        fputs("    <console type='pty'>\n      <target type='virtio' port='0'/>\n    </console>\n", f);
                else
                        fputs("    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n", f);
        }
        if (!in->graphics_none) {
                fputs("    <graphics type='vnc' port='", f);
                xml_esc(f, in->vnc_port ?: "-1");
                fprintf(f, "' autoport='%s'", !in->vnc_port || streq(in->vnc_port, "-1") ? "yes" : "no");
                if (in->vnc_listen) {
                        fputs(" listen='", f);
                        xml_esc(f, in->vnc_listen);
                        fputs("'", f);
                }
                fputs("/>\n", f);
        }
        if ((in->video && !streq(in->video, "none")) || (!in->video && !in->graphics_none))
                fprintf(f, "    <video>\n      <model type='%s'/>\n    </video>\n",
                        in->video ?: in->os.virtio && in->os.known ? "virtio" : "vga");
        if (in->rng && !streq(in->rng, "none")) {
                if (streq(in->rng, "builtin"))
                        fputs("    <rng model='virtio'>\n      <backend model='builtin'/>\n    </rng>\n", f);
                else
                        fprintf(f, "    <rng model='virtio'>\n      <backend model='random'>%s</backend>\n    </rng>\n",
                                in->rng);
        }
        if (in->tpm && !streq(in->tpm, "none")) {
                const char *model = streq(in->machine, "q35") ? "tpm-crb" : "tpm-tis";
                if (streq(in->tpm, "emulator"))
                        fprintf(f, "    <tpm model='%s'>\n      <backend type='emulator' version='2.0'/>\n    </tpm>\n", model);
                else {
                        fprintf(f, "    <tpm model='%s'>\n      <backend type='passthrough'>\n        <device path='", model);
                        xml_esc(f, in->tpm);
                        fputs("'/>\n      </backend>\n    </tpm>\n", f);
                }
        }
        fputs("  </devices>\n</domain>\n", f);
        if (fclose(f) != 0)
                return ctl_error(-ENOMEM, "Out of memory.");
        *ret = TAKE_PTR(xml);
        return 0;
}

/* ---- doing it ---- */

static int create_volume(Install *in, InstallDisk *d) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *pool_path = NULL, *xml = NULL, *path = NULL;
        uint64_t capacity = d->size;
        size_t len = 0;
        const char *o;
        FILE *f;
        int r;

        if (d->local_file) {
                struct stat st;
                if (stat(d->local_file, &st) < 0)
                        return ctl_error(-errno, "Cannot read %s: %m", d->local_file);
                capacity = (uint64_t) st.st_size;
        }
        r = pool_resolve(in->c, d->pool, &pool_path);
        if (r < 0)
                return r;
        f = open_memstream(&xml, &len);
        if (!f)
                return ctl_error(-ENOMEM, "Out of memory.");
        fputs("<volume>\n  <name>", f);
        xml_esc(f, d->vol_name);
        fprintf(f, "</name>\n  <capacity unit='bytes'>%" PRIu64 "</capacity>\n", capacity);
        fprintf(f, "  <target>\n    <format type='%s'/>\n  </target>\n</volume>\n", d->format ?: "raw");
        fclose(f);
        r = ctl_new_call(in->c, pool_path, VMGMT_POOL_IFACE, "CreateVolume", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "sa{sv}", xml, 0);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        ctl_polkit_agent_open_for(in->c, m);
        r = sd_bus_call(in->c->bus, m, 24ULL * 3600 * 1000000, &error, &reply);
        if (r < 0)
                return ctl_bus_error(&error, r);
        if ((r = sd_bus_message_read(reply, "o", &o)) < 0)
                return ctl_error(r, "Failed to parse CreateVolume's reply: %s", strerror(-r));
        d->created = strdup(o);
        if (!d->created)
                return ctl_error(-ENOMEM, "Out of memory.");
        if (!ctl_quiet && !d->local_file) {
                char sz[32];
                storage_format_size(capacity, sz, sizeof(sz));
                ctl_info("Allocated %s (%s) in pool '%s'", d->vol_name, sz, d->pool);
        }
        r = storage_get_string(in->c, d->created, VMGMT_VOLUME_IFACE, "Path", &path);
        if (r < 0)
                return r;
        free(d->path);
        d->path = TAKE_PTR(path);
        if (!d->local_file)
                return 0;
        {
                _cleanup_close_ int fd = open(d->local_file, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return ctl_error(-errno, "Cannot read %s: %m", d->local_file);
                /* over -H through UploadStream */
                r = ctl_volume_upload(in->c, d->created, fd, d->local_file);
                if (r < 0)
                        return r;
        }
        ctl_info("Uploaded %s into pool '%s' as %s", d->local_file, d->pool, d->vol_name);
        return 0;
}

static void delete_created(Install *in, bool files_only) {
        for (size_t i = in->n_disks; i-- > 0;) {
                InstallDisk *d = &in->disks[i];
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                if (!d->created || (files_only && !streq(d->device, "file")))
                        continue;
                if (sd_bus_message_new_method_call(in->c->bus, &m, VMGMT_BUS_NAME, d->created, VMGMT_VOLUME_IFACE,
                                                   "Delete") >= 0 &&
                    sd_bus_message_append(m, "a{sv}", 0) >= 0 && sd_bus_call(in->c->bus, m, 0, &error, NULL) >= 0) {
                        if (!files_only)
                                fprintf(stderr, "Removed volume %s of pool '%s'.\n", d->vol_name, d->pool);
                } else
                        fprintf(stderr, "warning: cannot remove volume %s of pool '%s': %s\n", d->vol_name, d->pool,
                                error.message ?: "failed");
                free(d->created);
                d->created = NULL;
        }
}

static int define_xml(Install *in, const char *xml) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *o;
        int r;

        r = ctl_new_call(in->c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "DefineDomain", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "sa{sv}", xml, 0);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(in->c, m, &reply);
        if (r < 0)
                return r;
        if ((r = sd_bus_message_read(reply, "o", &o)) < 0)
                return ctl_error(r, "Failed to parse DefineDomain's reply: %s", strerror(-r));
        if (!in->domain_path && !(in->domain_path = strdup(o)))
                return ctl_error(-ENOMEM, "Out of memory.");
        in->defined = true;
        return 0;
}

static void undefine(Install *in) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (!in->defined)
                return;
        if (sd_bus_message_new_method_call(in->c->bus, &m, VMGMT_BUS_NAME, in->domain_path, VMGMT_DOMAIN_IFACE,
                                           "Undefine") >= 0 &&
            sd_bus_message_append(m, "a{sv}", 0) >= 0 && sd_bus_call(in->c->bus, m, 0, &error, NULL) >= 0)
                fprintf(stderr, "Removed the definition of '%s'.\n", in->name);
        else
                fprintf(stderr, "warning: cannot undefine '%s': %s\n", in->name, error.message ?: "failed");
        in->defined = false;
}

static int domain_state(Install *in, char **ret) {
        return storage_get_string(in->c, in->domain_path, VMGMT_DOMAIN_IFACE, "State", ret);
}

/* --wait: until the domain is shut off (minutes; negative: as long as it takes). */
static int wait_shutoff(Install *in) {
        struct timespec ts;
        double deadline;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        deadline = (double) ts.tv_sec + (double) ts.tv_nsec / 1e9 + (double) in->wait_minutes * 60.0;
        if (in->wait_minutes != 0 && !ctl_quiet) {
                if (in->wait_minutes < 0)
                        printf("Waiting for the installation to complete.\n");
                else
                        printf("Waiting %ld minute%s for the installation to complete.\n", in->wait_minutes,
                               in->wait_minutes == 1 ? "" : "s");
                fflush(stdout);
        }
        for (;;) {
                _cleanup_free_ char *state = NULL;
                int r = domain_state(in, &state);
                if (r < 0)
                        return r;
                if (streq(state, "shutoff")) {
                        ctl_info("Domain has shutdown. Continuing.");
                        return 1;
                }
                clock_gettime(CLOCK_MONOTONIC, &ts);
                if (in->wait_minutes >= 0 && (double) ts.tv_sec + (double) ts.tv_nsec / 1e9 >= deadline)
                        return 0;
                usleep(250 * 1000);
        }
}

static int attach_console(Install *in) {
        static const char *const options[] = { "devname=", "force", NULL };
        char *args[] = { (char *) in->name, NULL };
        VerbArgs a = { .verb = "console", .args = args, .n_args = 1, .options = options };

        fflush(stdout);
        return verb_console(in->c, &a);
}

/* What --dry-run checks beyond the command line: the pools, free names, the media. */
static int install_run_steps(Install *in) {
        _cleanup_free_ char *xml = NULL, *final = NULL;
        InstallDisk *kvol = NULL, *ivol = NULL;
        bool two_phase, attach;
        int r;

        r = resolve_osinfo(in);
        if (r < 0)
                return r;
        r = resolve_virt_type(in);
        if (r < 0)
                return r;
        r = apply_defaults(in);
        if (r < 0)
                return r;
        r = check_uefi(in);
        if (r < 0)
                return r;
        if (!in->network_given) {
                /* virt-install: the network "default" when there is one, else user networking */
                _cleanup_free_ char *np = NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                InstallNet *n = &in->nets[in->n_nets++];

                r = ctl_new_call(in->c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "GetNetwork", &m);
                if (r >= 0 && sd_bus_message_append(m, "s", "default") >= 0 &&
                    sd_bus_call(in->c->bus, m, 0, &error, &reply) >= 0) {
                        n->type = "network";
                        n->source = strdup("default");
                } else
                        n->type = "user";
        }
        r = default_disk(in);
        if (r < 0)
                return r;
        r = take_location(in);
        if (r < 0)
                return r;
        r = make_seed(in);
        if (r < 0)
                return r;
        r = prepare_kernel(in, &kvol, &ivol);
        if (r < 0)
                return r;
        assign_targets(in);
        r = plan_volumes(in);
        if (r < 0)
                return r;
        two_phase = in->cdrom || in->location;
        r = build_xml(in, true, kvol, ivol, &xml);
        if (r < 0)
                return r;
        if (in->print_xml) {
                fputs(xml, stdout);
                if (two_phase) {
                        r = build_xml(in, false, kvol, ivol, &final);
                        if (r < 0)
                                return r;
                        if (!streq(final, xml))
                                fputs(final, stdout);
                }
                return 0;
        }
        if (in->dry_run) {
                ctl_info("Dry run completed successfully: domain '%s', %" PRIu64 " MiB, %u vCPU%s, %zu disk%s; nothing "
                         "was created.", in->name, in->memory_mib, in->vcpus, in->vcpus == 1 ? "" : "s", in->n_disks,
                         in->n_disks == 1 ? "" : "s");
                return 0;
        }

        ctl_info("Starting install...");
        for (size_t i = 0; i < in->n_disks; i++)
                if (in->disks[i].size && (r = create_volume(in, &in->disks[i])) < 0)
                        goto fail;
        free(xml);
        xml = NULL;
        r = build_xml(in, true, kvol, ivol, &xml);
        if (r < 0)
                goto fail;
        r = define_xml(in, xml);
        if (r < 0)
                goto fail;
        r = ctl_domain_call(in->c, in->domain_path, "Start", (const char *) NULL);
        if (r < 0)
                goto fail;
        ctl_info("Creating domain '%s'", in->name);
        if (two_phase) {
                /* what the next start runs: the installed system from its disk */
                r = build_xml(in, false, kvol, ivol, &final);
                if (r >= 0 && !streq(final, xml))
                        r = define_xml(in, final);
                if (r < 0)
                        fprintf(stderr, "warning: the domain runs the install; its definition for the next start could "
                                        "not be set (vmgmtctl edit %s).\n", in->name);
                /* qemu read the kernel and initrd when it started */
                delete_created(in, true);
        }
        attach = !in->noautoconsole && in->graphics_none && (!in->console_target || !streq(in->console_target, "none"));
        if (attach) {
                r = attach_console(in);
                if (r < 0)
                        return r;
        } else if (!in->noautoconsole && !in->graphics_none)
                ctl_info("Domain '%s' is running; its display: vmgmtctl domdisplay %s", in->name, in->name);
        if (in->wait_set && in->wait_minutes != 0) {
                r = wait_shutoff(in);
                if (r < 0)
                        return r;
                if (r == 0)
                        return ctl_error(-ETIMEDOUT, "Installation has exceeded the specified time limit (--wait %ld); "
                                                     "domain '%s' is still running.", in->wait_minutes, in->name);
        } else if (attach) {
                _cleanup_free_ char *state = NULL;
                /* the console ends as the guest stops: a moment for vmgmtd to say so */
                for (int i = 0; i < 20; i++) {
                        free(state);
                        state = NULL;
                        if (domain_state(in, &state) < 0 || streq(state, "shutoff"))
                                break;
                        usleep(100 * 1000);
                }
                if (state && !streq(state, "shutoff")) {
                        ctl_info("Domain '%s' is still running. Installation may be in progress.", in->name);
                        return 0;
                }
        } else {
                ctl_info("Domain '%s' is running; its console: vmgmtctl console %s", in->name, in->name);
                return 0;
        }
        ctl_info("Domain creation completed.");
        return 0;

fail:
        undefine(in);
        delete_created(in, false);
        return r;
}

int verb_install(Context *c, VerbArgs *a) {
        Install in = { .c = c, .a = a };
        bool list = false;
        int r;

        r = parse_flags(&in, &list);
        if (r >= 0 && list)
                r = osinfo_list(&in);
        else if (r >= 0)
                r = install_run_steps(&in);
        install_done(&in);
        return r;
}
