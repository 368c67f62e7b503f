/* domain-conf-format.c — DomainDef → canonical domain XML (libvirt's element order, 2-space indent). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

void fmt_indent(GString *s, int level) {
        for (int i = 0; i < level; i++)
                g_string_append(s, "  ");
}

void fmt_escape(GString *s, const char *v) {
        for (const char *p = v; *p; p++)
                switch (*p) {
                case '&': g_string_append(s, "&amp;"); break;
                case '<': g_string_append(s, "&lt;"); break;
                case '>': g_string_append(s, "&gt;"); break;
                case '\'': g_string_append(s, "&apos;"); break;
                case '"': g_string_append(s, "&quot;"); break;
                case '\r': g_string_append(s, "&#13;"); break;
                default: g_string_append_c(s, *p);
                }
}

void fmt_attr(GString *s, const char *name, const char *v) {
        if (!v)
                return;
        g_string_append_printf(s, " %s='", name);
        fmt_escape(s, v);
        g_string_append_c(s, '\'');
}

void fmt_attr_uint(GString *s, const char *name, unsigned long long v) {
        g_string_append_printf(s, " %s='%llu'", name, v);
}

/* <name>text</name> on its own line */
static void fmt_text_elem(GString *s, int level, const char *name, const char *text) {
        if (!text)
                return;
        fmt_indent(s, level);
        g_string_append_printf(s, "<%s>", name);
        fmt_escape(s, text);
        g_string_append_printf(s, "</%s>\n", name);
}

void fmt_address(GString *s, int level, const DomainAddress *a) {
        switch (a->type) {
        case DOMAIN_ADDRESS_PCI:
                fmt_indent(s, level);
                g_string_append_printf(s, "<address type='pci' domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'%s/>\n",
                                       a->domain, a->bus, a->slot, a->function, a->multifunction ? " multifunction='on'" : "");
                break;
        case DOMAIN_ADDRESS_DRIVE:
                fmt_indent(s, level);
                g_string_append_printf(s, "<address type='drive' controller='%u' bus='%u' target='%u' unit='%u'/>\n",
                                       a->controller, a->drive_bus, a->target, a->unit);
                break;
        case DOMAIN_ADDRESS_USB:
                fmt_indent(s, level);
                g_string_append_printf(s, "<address type='usb' bus='%u'", a->drive_bus);
                if (a->usb_port)
                        fmt_attr(s, "port", a->usb_port);
                else if (a->port > 0)
                        fmt_attr_uint(s, "port", a->port);
                g_string_append(s, "/>\n");
                break;
        case DOMAIN_ADDRESS_VIRTIO_SERIAL:
                fmt_indent(s, level);
                g_string_append_printf(s, "<address type='virtio-serial' controller='%u' bus='%u' port='%u'/>\n",
                                       a->controller, a->drive_bus, a->port);
                break;
        default:
                break;
        }
}

static void fmt_boot_order(GString *s, int level, unsigned order) {
        if (order == 0)
                return;
        fmt_indent(s, level);
        g_string_append_printf(s, "<boot order='%u'/>\n", order);
}

/* The live backing chain, as libvirt nests it: each layer holds the next, an
 * empty <backingStore/> ends a chain known to end there. */
static void fmt_backing_store(GString *s, const DomainDiskDef *d) {
        size_t k;

        for (k = 0; k < d->n_backing; k++) {
                const DomainDiskBacking *b = &d->backing[k];

                fmt_indent(s, 3 + k);
                g_string_append(s, "<backingStore type='file'>\n");
                if (b->format) {
                        fmt_indent(s, 4 + k);
                        g_string_append(s, "<format");
                        fmt_attr(s, "type", b->format);
                        g_string_append(s, "/>\n");
                }
                fmt_indent(s, 4 + k);
                g_string_append(s, "<source");
                fmt_attr(s, "file", b->path);
                g_string_append(s, "/>\n");
        }
        if (d->backing_known) {
                fmt_indent(s, 3 + k);
                g_string_append(s, "<backingStore/>\n");
        }
        while (k-- > 0) {
                fmt_indent(s, 3 + k);
                g_string_append(s, "</backingStore>\n");
        }
}

static void fmt_disk(GString *s, const DomainDiskDef *d, DomainFormatFlags flags) {
        static const char *const source_attr[] = { "file", "dev", NULL };

        g_string_append(s, "    <disk");
        fmt_attr(s, "type", domain_disk_type_table[d->type]);
        fmt_attr(s, "device", domain_disk_device_table[d->device]);
        g_string_append(s, ">\n");
        if (d->driver_name || d->driver_type || d->driver_cache || d->driver_io || d->driver_discard ||
            d->driver_iothread) {
                g_string_append(s, "      <driver");
                fmt_attr(s, "name", d->driver_name);
                fmt_attr(s, "type", d->driver_type);
                fmt_attr(s, "cache", d->driver_cache);
                fmt_attr(s, "io", d->driver_io);
                fmt_attr(s, "discard", d->driver_discard);
                if (d->driver_iothread)
                        fmt_attr_uint(s, "iothread", d->driver_iothread);
                g_string_append(s, "/>\n");
        }
        if (d->type == DOMAIN_DISK_TYPE_VOLUME && (d->source_pool || d->source_volume)) {
                g_string_append(s, "      <source");
                fmt_attr(s, "pool", d->source_pool);
                fmt_attr(s, "volume", d->source_volume);
                g_string_append(s, "/>\n");
        } else if (d->type == DOMAIN_DISK_TYPE_NETWORK) {
                domain_disk_net_format(s, d);
        } else if (d->type != DOMAIN_DISK_TYPE_VOLUME && d->source) {
                g_string_append(s, "      <source");
                fmt_attr(s, source_attr[d->type], d->source);
                g_string_append(s, "/>\n");
        }
        if (!(flags & DOMAIN_FORMAT_INACTIVE))
                fmt_backing_store(s, d);
        g_string_append(s, "      <target");
        fmt_attr(s, "dev", d->target_dev);
        fmt_attr(s, "bus", domain_disk_bus_to_string(d->bus));
        g_string_append(s, "/>\n");
        if (d->readonly)
                g_string_append(s, "      <readonly/>\n");
        if (d->shareable)
                g_string_append(s, "      <shareable/>\n");
        fmt_text_elem(s, 3, "serial", d->serial);
        fmt_boot_order(s, 3, d->boot_order);
        if (d->alias) {
                g_string_append(s, "      <alias");
                fmt_attr(s, "name", d->alias);
                g_string_append(s, "/>\n");
        }
        fmt_address(s, 3, &d->address);
        g_string_append(s, "    </disk>\n");
}

static void fmt_controller(GString *s, const DomainControllerDef *c) {
        bool children = c->model_name || c->target_chassis >= 0 || c->target_port >= 0 || c->has_master ||
                        c->address.type != DOMAIN_ADDRESS_NONE;

        g_string_append(s, "    <controller");
        fmt_attr(s, "type", c->type);
        if (c->index >= 0)
                fmt_attr_uint(s, "index", (unsigned) c->index);
        fmt_attr(s, "model", c->model);
        if (c->ports >= 0)
                fmt_attr_uint(s, "ports", (unsigned) c->ports);
        if (c->vectors >= 0)
                fmt_attr_uint(s, "vectors", (unsigned) c->vectors);
        if (!children) {
                g_string_append(s, "/>\n");
                return;
        }
        g_string_append(s, ">\n");
        if (c->model_name) {
                g_string_append(s, "      <model");
                fmt_attr(s, "name", c->model_name);
                g_string_append(s, "/>\n");
        }
        if (c->target_chassis >= 0 || c->target_port >= 0) {
                g_string_append(s, "      <target");
                if (c->target_chassis >= 0)
                        fmt_attr_uint(s, "chassis", (unsigned) c->target_chassis);
                if (c->target_port >= 0)
                        g_string_append_printf(s, " port='0x%x'", (unsigned) c->target_port);
                g_string_append(s, "/>\n");
        }
        if (c->has_master)
                g_string_append_printf(s, "      <master startport='%u'/>\n", c->master_startport);
        fmt_address(s, 3, &c->address);
        g_string_append(s, "    </controller>\n");
}

static void fmt_net(GString *s, const DomainNetDef *n, DomainFormatFlags flags) {
        g_string_append(s, "    <interface");
        fmt_attr(s, "type", domain_net_type_table[n->type]);
        g_string_append(s, ">\n");
        if (n->mac)
                g_string_append_printf(s, "      <mac address='%s'/>\n", n->mac);
        if (n->type == DOMAIN_NET_TYPE_NETWORK && n->source_network) {
                g_string_append(s, "      <source");
                fmt_attr(s, "network", n->source_network);
                if (n->source_bridge && !(flags & DOMAIN_FORMAT_INACTIVE))
                        fmt_attr(s, "bridge", n->source_bridge);   /* live: the network's bridge */
                g_string_append(s, "/>\n");
        } else if (n->type == DOMAIN_NET_TYPE_BRIDGE && n->source_bridge) {
                g_string_append(s, "      <source");
                fmt_attr(s, "bridge", n->source_bridge);
                g_string_append(s, "/>\n");
        }
        if (n->target_dev && !(flags & DOMAIN_FORMAT_INACTIVE)) {
                g_string_append(s, "      <target");
                fmt_attr(s, "dev", n->target_dev);
                g_string_append(s, "/>\n");
        }
        if (n->model)
                g_string_append_printf(s, "      <model type='%s'/>\n", n->model);
        conf_bandwidth_format(s, 3, &n->bw_inbound, &n->bw_outbound);
        fmt_boot_order(s, 3, n->boot_order);
        if (n->alias) {
                g_string_append(s, "      <alias");
                fmt_attr(s, "name", n->alias);
                g_string_append(s, "/>\n");
        }
        fmt_address(s, 3, &n->address);
        g_string_append(s, "    </interface>\n");
}

/* shared_path: the serial console shows its serial port's live pty path. */
static void fmt_chr(GString *s, const DomainChrDef *c, const char *shared_path, DomainFormatFlags flags) {
        static const char *const elem[] = { "serial", "console", "channel" };
        bool live = !(flags & DOMAIN_FORMAT_INACTIVE);
        bool is_pty = conf_streq(c->type, "pty");
        const char *path = (!is_pty || live) ? (c->source_path ?: shared_path) : NULL;

        g_string_append_printf(s, "    <%s", elem[c->kind]);
        fmt_attr(s, "type", c->type);
        if (c->kind == DOMAIN_CHR_CONSOLE && is_pty && path)
                fmt_attr(s, "tty", path);
        bool has_target = c->target_type || c->target_name || c->target_port >= 0 || c->target_model;
        if (!path && !c->source_mode && !has_target && c->address.type == DOMAIN_ADDRESS_NONE) {
                g_string_append(s, "/>\n");
                return;
        }
        g_string_append(s, ">\n");
        if (path || c->source_mode) {
                g_string_append(s, "      <source");
                fmt_attr(s, "mode", c->source_mode);
                fmt_attr(s, "path", path);
                g_string_append(s, "/>\n");
        }
        if (has_target) {
                g_string_append(s, "      <target");
                fmt_attr(s, "type", c->target_type);
                fmt_attr(s, "name", c->target_name);
                if (c->target_port >= 0)
                        fmt_attr_uint(s, "port", (unsigned) c->target_port);
                if (c->target_model) {
                        g_string_append(s, ">\n        <model");
                        fmt_attr(s, "name", c->target_model);
                        g_string_append(s, "/>\n      </target>\n");
                } else
                        g_string_append(s, "/>\n");
        }
        fmt_address(s, 3, &c->address);
        g_string_append_printf(s, "    </%s>\n", elem[c->kind]);
}

static void fmt_input(GString *s, const DomainInputDef *in) {
        g_string_append(s, "    <input");
        fmt_attr(s, "type", in->type);
        fmt_attr(s, "bus", in->bus);
        if (in->address.type == DOMAIN_ADDRESS_NONE) {
                g_string_append(s, "/>\n");
                return;
        }
        g_string_append(s, ">\n");
        fmt_address(s, 3, &in->address);
        g_string_append(s, "    </input>\n");
}

static void fmt_graphics(GString *s, const DomainGraphicsDef *g, DomainFormatFlags flags) {
        bool socket = conf_streq(g->listen_type, "socket");
        bool none = conf_streq(g->listen_type, "none");
        bool address = !socket && !none;

        g_string_append(s, "    <graphics");
        fmt_attr(s, "type", g->type);
        if (address) {
                int port = g->autoport && (flags & DOMAIN_FORMAT_INACTIVE) ? -1 : g->port;
                g_string_append_printf(s, " port='%d' autoport='%s'", port, g->autoport ? "yes" : "no");
                fmt_attr(s, "listen", g->listen);
        }
        if (g->passwd && (flags & DOMAIN_FORMAT_SECURE))
                fmt_attr(s, "passwd", g->passwd);
        if (!g->listen_type) {
                g_string_append(s, "/>\n");
                return;
        }
        g_string_append(s, ">\n      <listen");
        fmt_attr(s, "type", g->listen_type);
        if (address)
                fmt_attr(s, "address", g->listen);
        else if (socket)
                fmt_attr(s, "socket", g->listen);
        g_string_append(s, "/>\n    </graphics>\n");
}

static void fmt_video(GString *s, const DomainVideoDef *v) {
        g_string_append(s, "    <video>\n      <model");
        fmt_attr(s, "type", v->model);
        if (v->vram)
                fmt_attr_uint(s, "vram", v->vram);
        if (v->heads)
                fmt_attr_uint(s, "heads", v->heads);
        if (v->primary)
                g_string_append(s, " primary='yes'");
        g_string_append(s, "/>\n");
        fmt_address(s, 3, &v->address);
        g_string_append(s, "    </video>\n");
}

static void fmt_memballoon(GString *s, const DomainMemballoonDef *m) {
        g_string_append(s, "    <memballoon");
        fmt_attr(s, "model", m->model);
        if (!m->stats_period && m->address.type == DOMAIN_ADDRESS_NONE) {
                g_string_append(s, "/>\n");
                return;
        }
        g_string_append(s, ">\n");
        if (m->stats_period)
                g_string_append_printf(s, "      <stats period='%u'/>\n", m->stats_period);
        fmt_address(s, 3, &m->address);
        g_string_append(s, "    </memballoon>\n");
}

static void fmt_rng(GString *s, const DomainRngDef *r) {
        g_string_append(s, "    <rng");
        fmt_attr(s, "model", r->model);
        g_string_append(s, ">\n");
        if (r->rate_bytes) {
                g_string_append_printf(s, "      <rate bytes='%u'", r->rate_bytes);
                if (r->rate_period)
                        fmt_attr_uint(s, "period", r->rate_period);
                g_string_append(s, "/>\n");
        }
        if (r->backend_model) {
                g_string_append(s, "      <backend");
                fmt_attr(s, "model", r->backend_model);
                if (r->backend_path) {
                        g_string_append_c(s, '>');
                        fmt_escape(s, r->backend_path);
                        g_string_append(s, "</backend>\n");
                } else
                        g_string_append(s, "/>\n");
        }
        fmt_address(s, 3, &r->address);
        g_string_append(s, "    </rng>\n");
}

static void fmt_sound(GString *s, const DomainSoundDef *snd) {
        g_string_append(s, "    <sound");
        fmt_attr(s, "model", snd->model);
        if (snd->audio_id == 0 && snd->address.type == DOMAIN_ADDRESS_NONE) {
                g_string_append(s, "/>\n");
                return;
        }
        g_string_append(s, ">\n");
        if (snd->audio_id)
                g_string_append_printf(s, "      <audio id='%u'/>\n", snd->audio_id);
        fmt_address(s, 3, &snd->address);
        g_string_append(s, "    </sound>\n");
}

static void fmt_audio(GString *s, const DomainAudioDef *a) {
        g_string_append(s, "    <audio");
        if (a->id)
                fmt_attr_uint(s, "id", a->id);
        fmt_attr(s, "type", a->type);
        g_string_append(s, "/>\n");
}

static void fmt_devices(GString *s, const DomainDef *def, DomainFormatFlags flags) {
        g_string_append(s, "  <devices>\n");
        fmt_text_elem(s, 2, "emulator", def->emulator);
        for (size_t i = 0; i < def->n_disks; i++)
                fmt_disk(s, &def->disks[i], flags);
        for (size_t i = 0; i < def->n_controllers; i++)
                fmt_controller(s, &def->controllers[i]);
        for (size_t i = 0; i < def->n_leases; i++)   /* where libvirt puts them */
                domain_lease_format(s, &def->leases[i]);
        for (size_t i = 0; i < def->n_nets; i++)
                fmt_net(s, &def->nets[i], flags);
        for (size_t i = 0; i < def->n_serials; i++)
                fmt_chr(s, &def->serials[i], NULL, flags);
        for (size_t i = 0; i < def->n_consoles; i++) {
                const DomainChrDef *c = &def->consoles[i];
                bool serial_console = i == 0 && def->n_serials > 0 && conf_streq(c->target_type, "serial") &&
                                      conf_streq(c->type, def->serials[0].type);
                fmt_chr(s, c, serial_console ? def->serials[0].source_path : NULL, flags);
        }
        for (size_t i = 0; i < def->n_channels; i++)
                fmt_chr(s, &def->channels[i], NULL, flags);
        for (size_t i = 0; i < def->n_inputs; i++)
                fmt_input(s, &def->inputs[i]);
        if (def->tpm)   /* where libvirt puts it */
                domain_tpm_format(s, def->tpm);
        for (size_t i = 0; i < def->n_graphics; i++)
                fmt_graphics(s, &def->graphics[i], flags);
        for (size_t i = 0; i < def->n_sounds; i++)
                fmt_sound(s, &def->sounds[i]);
        for (size_t i = 0; i < def->n_audios; i++)
                fmt_audio(s, &def->audios[i]);
        for (size_t i = 0; i < def->n_videos; i++)
                fmt_video(s, &def->videos[i]);
        if (def->memballoon)
                fmt_memballoon(s, def->memballoon);
        for (size_t i = 0; i < def->n_rngs; i++)
                fmt_rng(s, &def->rngs[i]);
        for (size_t i = 0; i < def->n_memories; i++)
                domain_memory_format(s, &def->memories[i]);
        g_string_append(s, "  </devices>\n");
}

static void fmt_os(GString *s, const DomainDef *def) {
        g_string_append(s, "  <os");
        fmt_attr(s, "firmware", def->os_firmware);
        g_string_append(s, ">\n    <type");
        fmt_attr(s, "arch", def->os_arch);
        fmt_attr(s, "machine", def->os_machine);
        g_string_append_c(s, '>');
        fmt_escape(s, def->os_type ?: "hvm");
        g_string_append(s, "</type>\n");
        conf_format_os_firmware(s, def);
        fmt_text_elem(s, 2, "kernel", def->kernel);
        fmt_text_elem(s, 2, "initrd", def->initrd);
        fmt_text_elem(s, 2, "cmdline", def->cmdline);
        for (size_t i = 0; i < def->n_boot_devs; i++)
                g_string_append_printf(s, "    <boot dev='%s'/>\n", domain_boot_dev_to_string(def->boot_devs[i]));
        if (def->bootmenu >= 0) {
                g_string_append_printf(s, "    <bootmenu enable='%s'", def->bootmenu ? "yes" : "no");
                if (def->bootmenu_timeout)
                        fmt_attr_uint(s, "timeout", def->bootmenu_timeout);
                g_string_append(s, "/>\n");
        }
        g_string_append(s, "  </os>\n");
}

static void fmt_features_cpu_clock(GString *s, const DomainDef *def) {
        if (def->acpi || def->apic || def->pae || def->vmport_set || def->smm) {
                g_string_append(s, "  <features>\n");
                if (def->acpi)
                        g_string_append(s, "    <acpi/>\n");
                if (def->apic)
                        g_string_append(s, "    <apic/>\n");
                if (def->pae)
                        g_string_append(s, "    <pae/>\n");
                if (def->vmport_set)
                        g_string_append_printf(s, "    <vmport state='%s'/>\n", def->vmport ? "on" : "off");
                if (def->smm)
                        g_string_append_printf(s, "    <smm state='%s'/>\n", def->smm == DOMAIN_TRISTATE_YES ? "on" : "off");
                g_string_append(s, "  </features>\n");
        }

        bool topology = def->cpu_sockets || def->cpu_cores || def->cpu_threads;
        if (def->cpu_mode || def->cpu_match || def->cpu_check || def->cpu_migratable_set || def->cpu_model || topology) {
                g_string_append(s, "  <cpu");
                fmt_attr(s, "mode", def->cpu_mode);
                fmt_attr(s, "match", def->cpu_match);
                fmt_attr(s, "check", def->cpu_check);
                if (def->cpu_migratable_set)
                        fmt_attr(s, "migratable", def->cpu_migratable ? "on" : "off");
                if (!def->cpu_model && !topology)
                        g_string_append(s, "/>\n");
                else {
                        g_string_append(s, ">\n");
                        if (def->cpu_model) {
                                g_string_append(s, "    <model");
                                fmt_attr(s, "fallback", def->cpu_model_fallback);
                                g_string_append_c(s, '>');
                                fmt_escape(s, def->cpu_model);
                                g_string_append(s, "</model>\n");
                        }
                        if (topology) {
                                g_string_append_printf(s, "    <topology sockets='%u'", def->cpu_sockets);
                                if (def->cpu_dies)
                                        fmt_attr_uint(s, "dies", def->cpu_dies);
                                g_string_append_printf(s, " cores='%u' threads='%u'/>\n", def->cpu_cores, def->cpu_threads);
                        }
                        g_string_append(s, "  </cpu>\n");
                }
        }

        if (def->clock_offset || def->n_timers > 0) {
                g_string_append(s, "  <clock");
                fmt_attr(s, "offset", def->clock_offset);
                if (def->n_timers == 0)
                        g_string_append(s, "/>\n");
                else {
                        g_string_append(s, ">\n");
                        for (size_t i = 0; i < def->n_timers; i++) {
                                const DomainTimerDef *t = &def->timers[i];
                                g_string_append(s, "    <timer");
                                fmt_attr(s, "name", t->name);
                                if (t->present >= 0)
                                        fmt_attr(s, "present", t->present ? "yes" : "no");
                                fmt_attr(s, "tickpolicy", t->tickpolicy);
                                g_string_append(s, "/>\n");
                        }
                        g_string_append(s, "  </clock>\n");
                }
        }
}

char *domain_def_format(const DomainDef *def, DomainFormatFlags flags) {
        GString *s;

        if (!def)
                return NULL;
        s = g_string_sized_new(4096);

        g_string_append(s, "<domain");
        fmt_attr(s, "type", domain_virt_type_to_string(def->virt_type));
        if (def->id >= 0 && !(flags & DOMAIN_FORMAT_INACTIVE))
                g_string_append_printf(s, " id='%d'", def->id);
        g_string_append(s, ">\n");
        fmt_text_elem(s, 1, "name", def->name);
        if (def->has_uuid) {
                char u[37];
                conf_uuid_format(def->uuid, u);
                g_string_append_printf(s, "  <uuid>%s</uuid>\n", u);
        }
        fmt_text_elem(s, 1, "title", def->title);
        fmt_text_elem(s, 1, "description", def->description);
        if (def->metadata_xml) {
                g_string_append(s, "  <metadata>\n");
                g_string_append(s, def->metadata_xml);
                g_string_append(s, "  </metadata>\n");
        }
        if (def->max_memory_kib)
                g_string_append_printf(s, "  <maxMemory slots='%u' unit='KiB'>%llu</maxMemory>\n",
                                       def->max_memory_slots, (unsigned long long) def->max_memory_kib);
        g_string_append_printf(s, "  <memory unit='KiB'>%llu</memory>\n", (unsigned long long) def->memory_kib);
        if (def->current_memory_kib)
                g_string_append_printf(s, "  <currentMemory unit='KiB'>%llu</currentMemory>\n",
                                       (unsigned long long) def->current_memory_kib);
        domain_tune_format_memory(s, &def->tune);
        g_string_append(s, "  <vcpu");
        fmt_attr(s, "placement", def->vcpu_placement);
        if (def->current_vcpus && def->current_vcpus != def->vcpus)
                fmt_attr_uint(s, "current", def->current_vcpus);
        g_string_append_printf(s, ">%u</vcpu>\n", def->vcpus ?: 1);
        domain_tune_format_cpu(s, &def->tune);

        fmt_os(s, def);
        fmt_features_cpu_clock(s, def);

        g_string_append_printf(s, "  <on_poweroff>%s</on_poweroff>\n", domain_lifecycle_action_to_string(def->on_poweroff));
        g_string_append_printf(s, "  <on_reboot>%s</on_reboot>\n", domain_lifecycle_action_to_string(def->on_reboot));
        g_string_append_printf(s, "  <on_crash>%s</on_crash>\n", domain_lifecycle_action_to_string(def->on_crash));

        if (def->pm_suspend_to_mem >= 0 || def->pm_suspend_to_disk >= 0) {
                g_string_append(s, "  <pm>\n");
                if (def->pm_suspend_to_mem >= 0)
                        g_string_append_printf(s, "    <suspend-to-mem enabled='%s'/>\n", def->pm_suspend_to_mem ? "yes" : "no");
                if (def->pm_suspend_to_disk >= 0)
                        g_string_append_printf(s, "    <suspend-to-disk enabled='%s'/>\n", def->pm_suspend_to_disk ? "yes" : "no");
                g_string_append(s, "  </pm>\n");
        }
        domain_tune_format_perf(s, &def->tune);

        fmt_devices(s, def, flags);
        g_string_append(s, "</domain>\n");
        return g_string_free(s, false);
}
