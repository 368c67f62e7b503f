/* domain-conf-normalize.c — fills in what libvirt fills in after parsing: identity, defaults, implicit devices. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

bool conf_machine_is_q35(const char *machine) {
        return machine && strstr(machine, "q35");
}

static int set_default(char **field, const char *value) {
        if (*field)
                return 0;
        *field = strdup(value);
        return *field ? 0 : -ENOMEM;
}

int conf_disk_target_index(const char *dev) {
        long idx = 0;
        const char *p;

        if (!dev || strlen(dev) < 3 || strlen(dev) > 6)
                return -EINVAL;
        for (p = dev + 2; *p; p++) {
                if (*p < 'a' || *p > 'z')
                        return -EINVAL;
                idx = idx * 26 + (*p - 'a' + 1);
        }
        return (int) (idx - 1);
}

int domain_controller_find(const DomainDef *def, const char *type, int index) {
        for (size_t i = 0; i < def->n_controllers; i++)
                if (streq(def->controllers[i].type, type) && def->controllers[i].index == index)
                        return (int) i;
        return -1;
}

int domain_controller_add(DomainDef *def, const char *type, int index, const char *model) {
        DomainControllerDef c = {
                .index = index, .ports = -1, .vectors = -1, .target_chassis = -1, .target_port = -1,
        };
        size_t pos = def->n_controllers;
        bool seen_type = false;

        for (size_t i = 0; i < def->n_controllers; i++) {
                if (!streq(def->controllers[i].type, type))
                        continue;
                if (def->controllers[i].index <= index) {
                        pos = i + 1;
                        seen_type = true;
                } else if (!seen_type) {
                        pos = i;
                        break;
                }
        }

        c.type = strdup(type);
        c.model = model ? strdup(model) : NULL;
        if (!c.type || (model && !c.model)) {
                domain_controller_clear(&c);
                return -ENOMEM;
        }
        if (!conf_array_append(&def->controllers, &def->n_controllers, sizeof(DomainControllerDef))) {
                domain_controller_clear(&c);
                return -ENOMEM;
        }
        memmove(&def->controllers[pos + 1], &def->controllers[pos], (def->n_controllers - 1 - pos) * sizeof(DomainControllerDef));
        def->controllers[pos] = c;
        return (int) pos;
}

static int normalize_cpu(DomainDef *def, ConfError *err) {
        int r = 0;

        if (def->cpu_model && !def->cpu_mode)
                r = set_default(&def->cpu_mode, "custom");
        if (r < 0)
                return r;
        if (def->cpu_mode) {
                if (streq(def->cpu_mode, "custom") && def->cpu_model) {
                        if (set_default(&def->cpu_match, "exact") < 0 || set_default(&def->cpu_check, "partial") < 0 ||
                            set_default(&def->cpu_model_fallback, "allow") < 0)
                                return -ENOMEM;
                } else if (STR_IN_SET(def->cpu_mode, "host-passthrough", "maximum")) {
                        if (set_default(&def->cpu_check, "none") < 0)
                                return -ENOMEM;
                        if (!def->cpu_migratable_set) {
                                def->cpu_migratable_set = true;
                                def->cpu_migratable = true;
                        }
                        if (def->cpu_model)
                                return conf_error_set(err, 0, "CPU mode '%s' takes no <model>", def->cpu_mode);
                } else if (streq(def->cpu_mode, "host-model")) {
                        if (set_default(&def->cpu_check, "partial") < 0)
                                return -ENOMEM;
                }
        }
        if (def->cpu_migratable_set && def->cpu_mode && !STR_IN_SET(def->cpu_mode, "host-passthrough", "maximum"))
                return conf_error_set(err, 0, "the 'migratable' attribute is only valid for host-passthrough and maximum CPU modes");

        if (def->cpu_sockets || def->cpu_cores || def->cpu_threads) {
                if (!def->cpu_dies)
                        def->cpu_dies = 1;
                unsigned long long n = (unsigned long long) def->cpu_sockets * def->cpu_dies * def->cpu_cores * def->cpu_threads;
                if (n != def->vcpus)
                        return conf_error_set(err, 0, "CPU topology (%u sockets × %u dies × %u cores × %u threads = %llu) does not match <vcpu> %u",
                                              def->cpu_sockets, def->cpu_dies, def->cpu_cores, def->cpu_threads, n, def->vcpus);
        }
        return 0;
}

static int normalize_disks(DomainDef *def, bool q35, ConfError *err) {
        bool has_boot_order = false;

        for (size_t i = 0; i < def->n_disks; i++) {
                DomainDiskDef *d = &def->disks[i];

                if (conf_disk_target_index(d->target_dev) < 0)
                        return conf_error_set(err, 0, "invalid disk target dev '%s' (expected e.g. vda, sdb, hdc)", d->target_dev);
                if (d->device == DOMAIN_DISK_DEVICE_CDROM && d->bus == DOMAIN_DISK_BUS_VIRTIO)
                        return conf_error_set(err, 0, "disk '%s': a cdrom cannot be on the virtio bus (use sata, scsi or ide)", d->target_dev);
                if (d->bus == DOMAIN_DISK_BUS_IDE && q35)
                        return conf_error_set(err, 0, "disk '%s': IDE is not available on machine type '%s' (use sata)",
                                              d->target_dev, def->os_machine);
                if (set_default(&d->driver_name, "qemu") < 0 || set_default(&d->driver_type, "raw") < 0)
                        return -ENOMEM;
                if (d->boot_order)
                        has_boot_order = true;
                for (size_t j = 0; j < i; j++)
                        if (streq(def->disks[j].target_dev, d->target_dev))
                                return conf_error_set(err, 0, "duplicate disk target dev '%s'", d->target_dev);
        }
        for (size_t i = 0; i < def->n_nets; i++)
                if (def->nets[i].boot_order)
                        has_boot_order = true;
        if (has_boot_order && def->n_boot_devs > 0)
                return conf_error_set(err, 0, "per-device <boot order=…> cannot be used together with <os><boot dev=…>");

        /* boot orders must be unique */
        for (size_t i = 0; i < def->n_disks + def->n_nets; i++) {
                unsigned a = i < def->n_disks ? def->disks[i].boot_order : def->nets[i - def->n_disks].boot_order;
                for (size_t j = 0; a && j < i; j++) {
                        unsigned b = j < def->n_disks ? def->disks[j].boot_order : def->nets[j - def->n_disks].boot_order;
                        if (a == b)
                                return conf_error_set(err, 0, "boot order %u is used by more than one device", a);
                }
        }
        return 0;
}

static int normalize_nets(DomainDef *def, ConfError *err) {
        for (size_t i = 0; i < def->n_nets; i++) {
                DomainNetDef *n = &def->nets[i];
                if (!n->mac) {
                        char mac[18];
                        bool clash;
                        do {
                                conf_mac_generate(mac);
                                clash = false;
                                for (size_t j = 0; j < def->n_nets; j++)
                                        clash = clash || (def->nets[j].mac && streq(def->nets[j].mac, mac));
                        } while (clash);
                        if (!(n->mac = strdup(mac)))
                                return -ENOMEM;
                }
                for (size_t j = 0; j < i; j++)
                        if (streq(def->nets[j].mac, n->mac))
                                return conf_error_set(err, 0, "duplicate MAC address '%s'", n->mac);
                if (set_default(&n->model, "rtl8139") < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int chr_add(DomainChrDef **arr, size_t *n, DomainChrKind kind, const char *type, const char *target_type, int port) {
        DomainChrDef *c = conf_array_append(arr, n, sizeof(DomainChrDef));
        if (!c)
                return -ENOMEM;
        c->kind = kind;
        c->target_port = port;
        c->type = strdup(type);
        c->target_type = strdup(target_type);
        return c->type && c->target_type ? 0 : -ENOMEM;
}

static int normalize_chrs(DomainDef *def, ConfError *err) {
        int r;

        for (size_t i = 0; i < def->n_serials; i++) {
                DomainChrDef *c = &def->serials[i];
                if (set_default(&c->target_type, "isa-serial") < 0 || set_default(&c->target_model, "isa-serial") < 0)
                        return -ENOMEM;
                if (c->target_port < 0) {
                        /* first port no other serial uses */
                        for (int p = 0; c->target_port < 0; p++) {
                                bool used = false;
                                for (size_t j = 0; j < def->n_serials; j++)
                                        used = used || def->serials[j].target_port == p;
                                if (!used)
                                        c->target_port = p;
                        }
                }
                for (size_t j = 0; j < i; j++)
                        if (def->serials[j].target_port == c->target_port)
                                return conf_error_set(err, 0, "two serial ports use target port %d", c->target_port);
        }

        for (size_t i = 0; i < def->n_consoles; i++) {
                DomainChrDef *c = &def->consoles[i];
                if (set_default(&c->target_type, i == 0 ? "serial" : "virtio") < 0)
                        return -ENOMEM;
                if (i > 0 && streq(c->target_type, "serial"))
                        return conf_error_set(err, 0, "only the first console can be a serial console");
                if (streq(c->target_type, "virtio") && c->target_port < 0)
                        c->target_port = (int) i;
        }

        /* The first console of type serial is the first serial port (libvirt's compat rule). */
        if (def->n_consoles > 0 && streq(def->consoles[0].target_type, "serial")) {
                if (def->n_serials == 0) {
                        r = chr_add(&def->serials, &def->n_serials, DOMAIN_CHR_SERIAL, def->consoles[0].type, "isa-serial", 0);
                        if (r < 0 || !(def->serials[0].target_model = strdup("isa-serial")))
                                return -ENOMEM;
                }
                if (!streq(def->consoles[0].type, def->serials[0].type))
                        return conf_error_set(err, 0, "the serial console must have the type of the first serial port (%s)",
                                              def->serials[0].type);
                def->consoles[0].target_port = def->serials[0].target_port;
        } else if (def->n_serials > 0) {
                /* insert a serial console in front */
                r = chr_add(&def->consoles, &def->n_consoles, DOMAIN_CHR_CONSOLE, def->serials[0].type, "serial",
                            def->serials[0].target_port);
                if (r < 0)
                        return r;
                DomainChrDef c = def->consoles[def->n_consoles - 1];
                memmove(&def->consoles[1], &def->consoles[0], (def->n_consoles - 1) * sizeof(DomainChrDef));
                def->consoles[0] = c;
        }

        for (size_t i = 0; i < def->n_channels; i++) {
                DomainChrDef *c = &def->channels[i];
                if (streq(c->type, "unix") && set_default(&c->source_mode, "bind") < 0)
                        return -ENOMEM;
                for (size_t j = 0; j < i; j++)
                        if (conf_streq(def->channels[j].target_name, c->target_name))
                                return conf_error_set(err, 0, "duplicate channel target name '%s'", c->target_name);
        }
        return 0;
}

static int add_input(DomainDef *def, const char *type, const char *bus) {
        for (size_t i = 0; i < def->n_inputs; i++)
                if (streq(def->inputs[i].type, type) && streq(def->inputs[i].bus, bus))
                        return 0;
        DomainInputDef *in = conf_array_append(&def->inputs, &def->n_inputs, sizeof(DomainInputDef));
        if (!in)
                return -ENOMEM;
        in->type = strdup(type);
        in->bus = strdup(bus);
        return in->type && in->bus ? 0 : -ENOMEM;
}

static int normalize_graphics_video_input(DomainDef *def, ConfError *err) {
        for (size_t i = 0; i < def->n_graphics; i++)
                if (set_default(&def->graphics[i].listen_type, "address") < 0)
                        return -ENOMEM;

        if (def->n_graphics > 0 && def->n_videos == 0) {
                DomainVideoDef *v = conf_array_append(&def->videos, &def->n_videos, sizeof(DomainVideoDef));
                if (!v || !(v->model = strdup("vga")))
                        return -ENOMEM;
        }
        for (size_t i = 0; i < def->n_videos; i++) {
                DomainVideoDef *v = &def->videos[i];
                if (streq(v->model, "none")) {
                        if (def->n_videos > 1)
                                return conf_error_set(err, 0, "video model 'none' cannot be combined with other video devices");
                        continue;
                }
                if (v->primary && i > 0)
                        return conf_error_set(err, 0, "only the first video device can be primary");
                if (i == 0)
                        v->primary = true;
                if (!v->heads)
                        v->heads = 1;
                if (!v->vram && STR_IN_SET(v->model, "vga", "cirrus", "bochs"))
                        v->vram = 16384;
                if (!v->vram && streq(v->model, "qxl"))
                        v->vram = 65536;
                if (v->vram && streq(v->model, "virtio"))
                        return conf_error_set(err, 0, "video model 'virtio' takes no vram");
        }

        /* The PS/2 mouse and keyboard of a PC are always there; libvirt lists them with graphics. */
        if (def->n_graphics > 0 && (add_input(def, "mouse", "ps2") < 0 || add_input(def, "keyboard", "ps2") < 0))
                return -ENOMEM;
        return 0;
}

/* Sound cards need an audio backend: as libvirt does for VNC (or no)
 * graphics, <audio id='1' type='none'/> when there is none; audio ids left out
 * are numbered after the highest given one; a card's <audio id=> must exist. */
static int normalize_audio(DomainDef *def, ConfError *err) {
        unsigned next = 1;

        if (def->n_sounds > 0 && def->n_audios == 0) {
                DomainAudioDef *a = conf_array_append(&def->audios, &def->n_audios, sizeof(DomainAudioDef));
                if (!a || !(a->type = strdup("none")))
                        return -ENOMEM;
        }
        for (size_t i = 0; i < def->n_audios; i++)
                if (def->audios[i].id >= next)
                        next = def->audios[i].id + 1;
        for (size_t i = 0; i < def->n_audios; i++)
                if (def->audios[i].id == 0)
                        def->audios[i].id = next++;
        for (size_t i = 0; i < def->n_sounds; i++) {
                bool found = def->sounds[i].audio_id == 0;
                for (size_t j = 0; j < def->n_audios && !found; j++)
                        found = def->audios[j].id == def->sounds[i].audio_id;
                if (!found)
                        return conf_error_set(err, 0, "sound %zu (%s) refers to <audio id='%u'>, which is not defined", i,
                                              def->sounds[i].model, def->sounds[i].audio_id);
        }
        return 0;
}

int domain_def_normalize(DomainDef *def, const DomainNormalizeCtx *ctx, ConfError *err) {
        bool q35;
        int r;

        if (!def->has_uuid) {
                conf_uuid_generate(def->uuid);
                def->has_uuid = true;
        }
        if (set_default(&def->os_type, "hvm") < 0 || set_default(&def->os_arch, "x86_64") < 0 ||
            set_default(&def->vcpu_placement, "static") < 0 || set_default(&def->clock_offset, "utc") < 0)
                return -ENOMEM;
        if (!def->vcpus)
                def->vcpus = 1;
        if (def->current_vcpus == def->vcpus)
                def->current_vcpus = 0;
        if (!def->current_memory_kib || def->current_memory_kib > def->memory_kib)
                def->current_memory_kib = def->memory_kib;

        if (!def->emulator && ctx && ctx->emulator_for_arch) {
                const char *e = ctx->emulator_for_arch(ctx->userdata, def->os_arch);
                if (!e)
                        return conf_error_set(err, 0, "no emulator found for architecture '%s'", def->os_arch);
                if (!(def->emulator = strdup(e)))
                        return -ENOMEM;
        }
        if (ctx && ctx->resolve_machine) {
                const char *m = ctx->resolve_machine(ctx->userdata, def->emulator, def->os_machine);
                if (!m)
                        return conf_error_set(err, 0, "unknown machine type '%s' for emulator %s",
                                              strna(def->os_machine), strna(def->emulator));
                if (!conf_streq(m, def->os_machine)) {
                        char *c = strdup(m);
                        if (!c)
                                return -ENOMEM;
                        free(def->os_machine);
                        def->os_machine = c;
                }
        }
        q35 = conf_machine_is_q35(def->os_machine);

        r = normalize_cpu(def, err);
        if (r < 0)
                return r;
        r = conf_normalize_firmware(def, err);
        if (r < 0)
                return r;
        if (def->pae && !streq(def->os_arch, "x86_64") && !streq(def->os_arch, "i686"))
                return conf_error_set(err, 0, "<pae/> is an x86 feature");

        r = normalize_disks(def, q35, err);
        if (r < 0)
                return r;
        r = normalize_nets(def, err);
        if (r < 0)
                return r;
        r = normalize_chrs(def, err);
        if (r < 0)
                return r;
        r = normalize_graphics_video_input(def, err);
        if (r < 0)
                return r;

        if (!def->memballoon) {
                def->memballoon = calloc(1, sizeof(DomainMemballoonDef));
                if (!def->memballoon || !(def->memballoon->model = strdup("virtio")))
                        return -ENOMEM;
        }
        for (size_t i = 0; i < def->n_rngs; i++)
                if (conf_streq(def->rngs[i].backend_model, "random") && set_default(&def->rngs[i].backend_path, "/dev/urandom") < 0)
                        return -ENOMEM;
        r = normalize_audio(def, err);
        if (r < 0)
                return r;
        r = domain_memory_normalize(def, err);
        if (r < 0)
                return r;
        r = domain_tpm_normalize(def, err);
        if (r < 0)
                return r;

        return domain_def_assign_addresses(def, err);
}
