/* qemu-command-devices.c — qemu argv for interfaces, chardevs, input, graphics, video, sound, balloon and rng. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "qemu/qemu-command-internal.h"

/* ---------------- USB placement ---------------- */

static void usb_address(QemuCmd *c, GString *o, const DomainAddress *a, const char *what) {
        unsigned bus = a->type == DOMAIN_ADDRESS_USB ? a->drive_bus : 0;

        if (a->type != DOMAIN_ADDRESS_NONE && a->type != DOMAIN_ADDRESS_USB) {
                qemu_cmd_fail(c, "%s has a non-USB address", what);
                return;
        }
        if (!qemu_cmd_find_controller(c, "usb", (int) bus) ||
            qemu_streq(qemu_cmd_find_controller(c, "usb", (int) bus)->model, "none")) {
                qemu_cmd_fail(c, "%s needs a USB controller with index %u", what, bus);
                return;
        }
        if (bus == 0)
                qemu_opt_fmt(o, "bus", "usb.0");
        else
                qemu_opt_fmt(o, "bus", "usb%u.0", bus);
        if (a->type == DOMAIN_ADDRESS_USB && a->usb_port) {
                if (!qemu_str_charset(a->usb_port, "0123456789.", 16))
                        qemu_cmd_fail(c, "%s has an invalid USB port '%s'", what, a->usb_port);
                else
                        qemu_opt_fmt(o, "port", "%s", a->usb_port);
        }
}

/* ---------------- interfaces ---------------- */

static bool mac_valid(const char *s) {
        if (!s || strlen(s) != 17)
                return false;
        for (int i = 0; i < 17; i++) {
                if (i % 3 == 2) {
                        if (s[i] != ':')
                                return false;
                } else if (!g_ascii_isxdigit(s[i]))
                        return false;
        }
        return true;
}

static const char *net_model_device(const char *model) {
        static const char *const map[][2] = {
                { "virtio", "virtio-net-pci" }, { "e1000", "e1000" },       { "e1000e", "e1000e" },
                { "rtl8139", "rtl8139" },       { "ne2k_pci", "ne2k_pci" }, { "pcnet", "pcnet" },
                { "vmxnet3", "vmxnet3" },
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (streq(model, map[i][0]))
                        return map[i][1];
        return NULL;
}

void qemu_cmd_build_nets(QemuCmd *c) {
        for (size_t i = 0; i < c->def->n_nets; i++) {
                const DomainNetDef *n = &c->def->nets[i];
                const char *dev = net_model_device(n->model ?: "rtl8139");
                char what[64];
                GString *o;

                snprintf(what, sizeof(what), "interface %zu", i);
                if (!dev) {
                        qemu_cmd_fail(c, "%s: model '%s' is not supported", what, n->model);
                        continue;
                }
                if (!mac_valid(n->mac)) {
                        qemu_cmd_fail(c, "%s: MAC address '%s' is not valid", what, strempty(n->mac));
                        continue;
                }
                if (n->type == DOMAIN_NET_TYPE_USER)
                        o = g_string_new("user");
                else if (n->type == DOMAIN_NET_TYPE_NETWORK || n->type == DOMAIN_NET_TYPE_BRIDGE) {
                        int fd = c->ctx->net_fds ? c->ctx->net_fds[i] : -1;
                        if (fd < 0) {
                                qemu_cmd_fail(c, "%s: type '%s' needs a tap device, which is not set up",
                                              what, n->type == DOMAIN_NET_TYPE_NETWORK ? "network" : "bridge");
                                continue;
                        }
                        o = g_string_new("tap");
                        qemu_opt_fmt(o, "fd", "%d", fd);
                } else {
                        qemu_cmd_fail(c, "%s: type is not supported", what);
                        continue;
                }
                qemu_opt_fmt(o, "id", "hostnet%zu", i);
                qemu_cmd_add_opt(c, "-netdev", o);

                o = g_string_new(dev);
                qemu_opt_fmt(o, "netdev", "hostnet%zu", i);
                if (n->alias && qemu_id_valid(n->alias))
                        qemu_opt_fmt(o, "id", "%s", n->alias);
                else if (n->alias)
                        qemu_cmd_fail(c, "%s: alias '%s' is not a valid qemu id", what, n->alias);
                else
                        qemu_opt_fmt(o, "id", "net%zu", i);
                qemu_opt_fmt(o, "mac", "%s", n->mac);
                qemu_cmd_pci_address(c, o, &n->address, what);
                if (c->bootindex_net[i])
                        qemu_opt_fmt(o, "bootindex", "%d", c->bootindex_net[i]);
                qemu_cmd_add_opt(c, "-device", o);
        }
}

/* ---------------- serial, console, channel ---------------- */

static void virtio_serial_address(QemuCmd *c, GString *o, const DomainAddress *a, const char *what) {
        unsigned ctrl = a->type == DOMAIN_ADDRESS_VIRTIO_SERIAL ? a->controller : 0;

        if (a->type != DOMAIN_ADDRESS_NONE && a->type != DOMAIN_ADDRESS_VIRTIO_SERIAL) {
                qemu_cmd_fail(c, "%s has an address that is not on a virtio-serial bus", what);
                return;
        }
        if (!qemu_cmd_find_controller(c, "virtio-serial", (int) ctrl)) {
                qemu_cmd_fail(c, "%s needs a virtio-serial controller with index %u", what, ctrl);
                return;
        }
        qemu_opt_fmt(o, "bus", "virtio-serial%u.%u", ctrl, a->type == DOMAIN_ADDRESS_VIRTIO_SERIAL ? a->drive_bus : 0);
        if (a->type == DOMAIN_ADDRESS_VIRTIO_SERIAL && a->port > 0)
                qemu_opt_fmt(o, "nr", "%u", a->port);
}

/* ",logfile=PREFIX-<log_name>.log,logappend=on" when the runtime asked for log files. */
static void chardev_log(QemuCmd *c, GString *o, const char *log_name) {
        g_autofree char *path = NULL;

        if (!c->ctx->chardev_log_prefix || !log_name)
                return;
        path = g_strdup_printf("%s-%s.log", c->ctx->chardev_log_prefix, log_name);
        if (!qemu_path_valid(path)) {
                qemu_cmd_fail(c, "console log path '%s' is not an absolute path", path);
                return;
        }
        if (c->ctx->open_log) {
                /* the runtime's own file, outside the run dir: qemu gets an fd to it */
                int fd = c->ctx->open_log(c->ctx->pass_fd_userdata, path), set;
                if (fd < 0) {
                        qemu_cmd_fail(c, "cannot open the console log %s: %s", path, strerror(-fd));
                        return;
                }
                set = qemu_cmd_add_fdset(c, fd, log_name, "console log");
                if (set < 0)
                        return;
                qemu_opt_fmt(o, "logfile", "/dev/fdset/%d", set);
        } else
                qemu_opt_str(o, "logfile", path);
        qemu_opt_fmt(o, "logappend", "on");
}

/* -chardev for a pty or unix backend, its output logged as PREFIX-<log_name>.log
 * (log_name NULL: not logged); returns false after recording an error. */
static bool build_chardev(QemuCmd *c, const DomainChrDef *chr, size_t index, const char *id, const char *what,
                          const char *log_name) {
        const char *type = chr->type ?: "pty";
        GString *o;

        if (streq(type, "pty")) {
                o = g_string_new("pty");
                qemu_opt_fmt(o, "id", "%s", id);
        } else if (streq(type, "unix")) {
                g_autofree char *path = NULL;

                if (chr->source_path)
                        path = g_strdup(chr->source_path);
                else if (c->ctx->channel_dir && chr->target_name && qemu_str_charset(chr->target_name, QEMU_ID_CHARS, 128) &&
                         !STR_IN_SET(chr->target_name, ".", ".."))
                        path = g_strdup_printf("%s/%s", c->ctx->channel_dir, chr->target_name);
                if (!path) {
                        qemu_cmd_fail(c, "%s: a unix socket needs <source path=…>", what);
                        return false;
                }
                if (!qemu_path_valid(path) || strlen(path) >= 108) {
                        qemu_cmd_fail(c, "%s: socket path '%s' is not an absolute path shorter than 108 bytes", what, path);
                        return false;
                }
                o = g_string_new("socket");
                qemu_opt_fmt(o, "id", "%s", id);
                if (chr->source_path) {
                        /* a host path: the socket vmgmtd bound (or connected) as the caller */
                        const DriverFile *f = qemu_cmd_file(c, DOMAIN_PATH_CHARDEV, chr->kind, index, what);
                        int n = f ? qemu_cmd_pass_fd(c, f->fd, what) : -1;
                        if (n < 0) {
                                g_string_free(o, TRUE);
                                return false;
                        }
                        qemu_opt_fmt(o, "fd", "%d", n);
                } else
                        qemu_opt_str(o, "path", path);   /* in the run dir, qemu's own */
                if (!qemu_streq(chr->source_mode, "connect")) {
                        qemu_opt_fmt(o, "server", "on");
                        qemu_opt_fmt(o, "wait", "off");
                }
        } else {
                qemu_cmd_fail(c, "%s: character device type '%s' is not supported", what, type);
                return false;
        }
        chardev_log(c, o, log_name);
        qemu_cmd_add_opt(c, "-chardev", o);
        return true;
}

void qemu_cmd_build_chardevs(QemuCmd *c) {
        const DomainDef *def = c->def;
        char id[48], what[64], log_name[48];
        GString *o;

        for (size_t i = 0; i < def->n_serials; i++) {
                const DomainChrDef *s = &def->serials[i];
                const char *model = s->target_model ?: s->target_type ?: "isa-serial";

                snprintf(what, sizeof(what), "serial %zu", i);
                if (!STR_IN_SET(model, "isa-serial", "pci-serial")) {
                        qemu_cmd_fail(c, "%s: target '%s' is not supported", what, model);
                        continue;
                }
                snprintf(id, sizeof(id), "charserial%zu", i);
                if (i == 0)
                        snprintf(log_name, sizeof(log_name), "console");
                else
                        snprintf(log_name, sizeof(log_name), "serial%zu", i);
                if (!build_chardev(c, s, i, id, what, log_name))
                        continue;
                o = g_string_new(model);
                qemu_opt_fmt(o, "chardev", "%s", id);
                qemu_opt_fmt(o, "id", "serial%zu", i);
                if (streq(model, "isa-serial")) {
                        if (s->target_port > 3)
                                qemu_cmd_fail(c, "%s: an isa-serial port must be 0…3", what);
                        qemu_opt_fmt(o, "index", "%d", s->target_port >= 0 ? s->target_port : (int) i);
                } else
                        qemu_cmd_pci_address(c, o, &s->address, what);
                qemu_cmd_add_opt(c, "-device", o);
        }

        for (size_t i = 0; i < def->n_consoles; i++) {
                const DomainChrDef *s = &def->consoles[i];

                snprintf(what, sizeof(what), "console %zu", i);
                if (!s->target_type || streq(s->target_type, "serial")) {
                        /* the same device as the serial port it names */
                        if (def->n_serials == 0)
                                qemu_cmd_fail(c, "%s: a serial console needs a <serial>", what);
                        continue;
                }
                if (!streq(s->target_type, "virtio")) {
                        qemu_cmd_fail(c, "%s: target type '%s' is not supported", what, s->target_type);
                        continue;
                }
                snprintf(id, sizeof(id), "charconsole%zu", i);
                snprintf(log_name, sizeof(log_name), "console%zu", i);
                if (!build_chardev(c, s, i, id, what, log_name))
                        continue;
                o = g_string_new("virtconsole");
                virtio_serial_address(c, o, &s->address, what);
                qemu_opt_fmt(o, "chardev", "%s", id);
                qemu_opt_fmt(o, "id", "console%zu", i);
                qemu_cmd_add_opt(c, "-device", o);
        }

        for (size_t i = 0; i < def->n_channels; i++) {
                const DomainChrDef *s = &def->channels[i];

                snprintf(what, sizeof(what), "channel %zu", i);
                if (s->target_type && !streq(s->target_type, "virtio")) {
                        qemu_cmd_fail(c, "%s: target type '%s' is not supported", what, s->target_type);
                        continue;
                }
                snprintf(id, sizeof(id), "charchannel%zu", i);
                if (!build_chardev(c, s, i, id, what, NULL))
                        continue;
                o = g_string_new("virtserialport");
                virtio_serial_address(c, o, &s->address, what);
                qemu_opt_fmt(o, "chardev", "%s", id);
                qemu_opt_fmt(o, "id", "channel%zu", i);
                if (s->target_name)
                        qemu_opt_str(o, "name", s->target_name);
                qemu_cmd_add_opt(c, "-device", o);
        }
}

/* ---------------- input, graphics, video ---------------- */

void qemu_cmd_build_inputs(QemuCmd *c) {
        for (size_t i = 0; i < c->def->n_inputs; i++) {
                const DomainInputDef *in = &c->def->inputs[i];
                const char *bus = in->bus ?: "ps2", *type = in->type ?: "", *dev = NULL;
                char what[64];
                GString *o;

                snprintf(what, sizeof(what), "input %zu (%s on %s)", i, type, bus);
                if (streq(bus, "ps2")) {
                        if (!STR_IN_SET(type, "mouse", "keyboard"))
                                qemu_cmd_fail(c, "%s is not supported", what);
                        continue; /* the i8042 of the machine */
                }
                if (streq(bus, "usb"))
                        dev = streq(type, "tablet") ? "usb-tablet" : streq(type, "mouse") ? "usb-mouse" :
                              streq(type, "keyboard") ? "usb-kbd" : NULL;
                else if (streq(bus, "virtio"))
                        dev = streq(type, "tablet") ? "virtio-tablet-pci" : streq(type, "mouse") ? "virtio-mouse-pci" :
                              streq(type, "keyboard") ? "virtio-keyboard-pci" : NULL;
                if (!dev) {
                        qemu_cmd_fail(c, "%s is not supported", what);
                        continue;
                }
                o = g_string_new(dev);
                qemu_opt_fmt(o, "id", "input%zu", i);
                if (streq(bus, "usb"))
                        usb_address(c, o, &in->address, what);
                else
                        qemu_cmd_pci_address(c, o, &in->address, what);
                qemu_cmd_add_opt(c, "-device", o);
        }
}

bool qemu_graphics_uses_run_dir_socket(const DomainGraphicsDef *g) {
        return !qemu_streq(g->listen_type, "none") && !qemu_streq(g->listen_type, "socket") && !g->listen &&
               (g->autoport || g->port < 0);
}

void qemu_cmd_build_graphics(QemuCmd *c) {
        const DomainGraphicsDef *g;
        GString *o;

        if (c->def->n_graphics == 0) {
                qemu_cmd_add(c, "-display");
                qemu_cmd_add(c, "none");
                return;
        }
        if (c->def->n_graphics > 1) {
                qemu_cmd_fail(c, "only one <graphics> is supported");
                return;
        }
        g = &c->def->graphics[0];
        if (!qemu_streq(g->type, "vnc")) {
                qemu_cmd_fail(c, "graphics type '%s' is not supported", strempty(g->type));
                return;
        }

        if (qemu_streq(g->listen_type, "none"))
                o = g_string_new("none");
        else if (qemu_streq(g->listen_type, "socket") || qemu_graphics_uses_run_dir_socket(g)) {
                /* A socket the definition names was bound by vmgmtd as the caller: qemu
                 * gets it over QMP before the guest runs (getfd + display-update, see
                 * qemu_graphics_send_listen_fd()) and serves its run-dir socket beside it. */
                if (qemu_streq(g->listen_type, "socket") && g->listen &&
                    !qemu_cmd_file(c, DOMAIN_PATH_GRAPHICS, 0, 0, "the VNC socket"))
                        return;
                const char *path = c->ctx->vnc_socket_path;
                if (!qemu_path_valid(path) || strlen(path) >= 108) {
                        qemu_cmd_fail(c, "VNC needs a socket path (absolute, shorter than 108 bytes)");
                        return;
                }
                /* The implied first value of -vnc cannot hold '=' (qemu would take what
                 * precedes it as a key), so the key is spelled out. */
                o = g_string_new("vnc=unix:");
                for (const char *p = path; *p; p++) {
                        g_string_append_c(o, *p);
                        if (*p == ',')
                                g_string_append_c(o, ',');
                }
        } else {
                const char *addr = g->listen ?: "127.0.0.1";
                unsigned char buf[sizeof(struct in6_addr)];
                bool v6 = inet_pton(AF_INET6, addr, buf) == 1;

                /* positional host:display — only a literal IP address is accepted */
                if (!v6 && inet_pton(AF_INET, addr, buf) != 1) {
                        qemu_cmd_fail(c, "VNC listen address '%s' is not an IP address", addr);
                        return;
                }
                if (!g->autoport && g->port >= 0 && (g->port < 5900 || g->port > 65535)) {
                        qemu_cmd_fail(c, "VNC port %d is outside 5900…65535", g->port);
                        return;
                }
                o = g_string_new(NULL);
                g_string_printf(o, v6 ? "[%s]:%d" : "%s:%d", addr, !g->autoport && g->port >= 0 ? g->port - 5900 : 0);
                if (g->autoport || g->port < 0)
                        qemu_opt_fmt(o, "to", "100");
        }
        /* the secret itself goes over QMP (set_password), never into argv */
        if (g->passwd && !qemu_streq(g->listen_type, "none"))
                qemu_opt_fmt(o, "password", "on");
        qemu_cmd_add_opt(c, "-vnc", o);
}

void qemu_cmd_build_videos(QemuCmd *c) {
        for (size_t i = 0; i < c->def->n_videos; i++) {
                const DomainVideoDef *v = &c->def->videos[i];
                const char *model = v->model ?: "vga", *dev = NULL;
                bool primary = i == 0;
                char what[64];
                GString *o;

                snprintf(what, sizeof(what), "video %zu (%s)", i, model);
                if (streq(model, "none"))
                        continue;
                if (streq(model, "vga"))
                        dev = primary ? "VGA" : NULL;
                else if (streq(model, "cirrus"))
                        dev = primary ? "cirrus-vga" : NULL;
                else if (streq(model, "bochs"))
                        dev = "bochs-display";
                else if (streq(model, "virtio"))
                        dev = primary ? "virtio-vga" : "virtio-gpu-pci";
                else if (streq(model, "qxl"))
                        dev = primary ? "qxl-vga" : "qxl";
                if (!dev) {
                        qemu_cmd_fail(c, "%s is not supported%s", what, primary ? "" : " as a secondary video device");
                        continue;
                }
                o = g_string_new(dev);
                qemu_opt_fmt(o, "id", "video%zu", i);
                if (v->vram > 0) {
                        if (v->vram % 1024 != 0 || v->vram > 1024u * 1024u)
                                qemu_cmd_fail(c, "%s: vram must be a whole number of MiB up to 1 GiB", what);
                        if (streq(model, "vga"))
                                qemu_opt_fmt(o, "vgamem_mb", "%u", v->vram / 1024);
                        else if (streq(model, "qxl"))
                                qemu_opt_fmt(o, "vram_size", "%llu", (unsigned long long) v->vram * 1024);
                        else if (streq(model, "bochs"))
                                qemu_opt_fmt(o, "vgamem", "%llu", (unsigned long long) v->vram * 1024);
                }
                if (streq(model, "virtio") && v->heads > 0)
                        qemu_opt_fmt(o, "max_outputs", "%u", v->heads);
                qemu_cmd_pci_address(c, o, &v->address, what);
                qemu_cmd_add_opt(c, "-device", o);
        }
}

/* ---------------- sound ---------------- */

/* Every <audio> is an -audiodev "audio<id>"; each card plays into its own
 * <audio id=> or the first one. HDA controllers get an hda-duplex codec as
 * in libvirt (the codec carries the audiodev); the others carry it themselves. */
void qemu_cmd_build_sounds(QemuCmd *c) {
        const DomainDef *def = c->def;

        for (size_t i = 0; i < def->n_audios; i++) {
                GString *o;

                if (!streq(def->audios[i].type, "none")) {
                        qemu_cmd_fail(c, "audio %u: type '%s' is not supported", def->audios[i].id, def->audios[i].type);
                        continue;
                }
                o = g_string_new("none");
                qemu_opt_fmt(o, "id", "audio%u", def->audios[i].id);
                qemu_cmd_add_opt(c, "-audiodev", o);
        }
        for (size_t i = 0; i < def->n_sounds; i++) {
                const DomainSoundDef *snd = &def->sounds[i];
                unsigned audio = snd->audio_id ?: (def->n_audios > 0 ? def->audios[0].id : 0);
                bool hda = STR_IN_SET(snd->model, "ich6", "ich9");
                const char *dev = streq(snd->model, "ich6") ? "intel-hda" :
                                  streq(snd->model, "ich9") ? "ich9-intel-hda" :
                                  streq(snd->model, "ac97") ? "AC97" :
                                  streq(snd->model, "es1370") ? "ES1370" :
                                  streq(snd->model, "sb16") ? "sb16" : NULL;
                char what[64];
                GString *o;

                snprintf(what, sizeof(what), "sound %zu (%s)", i, snd->model);
                if (!dev || audio == 0) {
                        qemu_cmd_fail(c, "%s is not supported%s", what, dev ? " without an <audio> backend" : "");
                        continue;
                }
                o = g_string_new(dev);
                qemu_opt_fmt(o, "id", "sound%zu", i);
                if (!hda)
                        qemu_opt_fmt(o, "audiodev", "audio%u", audio);
                if (!streq(snd->model, "sb16"))
                        qemu_cmd_pci_address(c, o, &snd->address, what);
                qemu_cmd_add_opt(c, "-device", o);
                if (hda) {
                        o = g_string_new("hda-duplex");
                        qemu_opt_fmt(o, "id", "sound%zu-codec0", i);
                        qemu_opt_fmt(o, "bus", "sound%zu.0", i);
                        qemu_opt_fmt(o, "cad", "0");
                        qemu_opt_fmt(o, "audiodev", "audio%u", audio);
                        qemu_cmd_add_opt(c, "-device", o);
                }
        }
}

/* ---------------- balloon, rng ---------------- */

void qemu_cmd_build_memballoon(QemuCmd *c) {
        const DomainMemballoonDef *m = c->def->memballoon;
        GString *o;

        if (!m || qemu_streq(m->model, "none"))
                return;
        if (!qemu_streq(m->model, "virtio")) {
                qemu_cmd_fail(c, "memballoon model '%s' is not supported", strempty(m->model));
                return;
        }
        o = g_string_new("virtio-balloon-pci,id=balloon0");
        qemu_cmd_pci_address(c, o, &m->address, "memballoon");
        if (m->stats_period > 0)
                qemu_opt_fmt(o, "guest-stats-polling-interval", "%u", m->stats_period);
        qemu_cmd_add_opt(c, "-device", o);
}

void qemu_cmd_build_rngs(QemuCmd *c) {
        for (size_t i = 0; i < c->def->n_rngs; i++) {
                const DomainRngDef *r = &c->def->rngs[i];
                const char *backend = r->backend_model ?: "random";
                char what[64];
                GString *o;

                snprintf(what, sizeof(what), "rng %zu", i);
                if (!qemu_streq(r->model ?: "virtio", "virtio")) {
                        qemu_cmd_fail(c, "%s: model '%s' is not supported", what, r->model);
                        continue;
                }
                if (streq(backend, "random")) {
                        const char *path = r->backend_path ?: "/dev/urandom";
                        if (!qemu_path_valid(path)) {
                                qemu_cmd_fail(c, "%s: backend '%s' is not an absolute path", what, path);
                                continue;
                        }
                        const DriverFile *f = qemu_cmd_file(c, DOMAIN_PATH_RNG, 0, i, what);
                        int set = f ? qemu_cmd_add_fdset(c, f->fd, "rng", what) : -1;
                        if (set < 0)
                                continue;
                        o = g_string_new("rng-random");
                        qemu_opt_fmt(o, "id", "objrng%zu", i);
                        qemu_opt_fmt(o, "filename", "/dev/fdset/%d", set);
                } else if (streq(backend, "builtin")) {
                        o = g_string_new("rng-builtin");
                        qemu_opt_fmt(o, "id", "objrng%zu", i);
                } else {
                        qemu_cmd_fail(c, "%s: backend '%s' is not supported", what, backend);
                        continue;
                }
                qemu_cmd_add_opt(c, "-object", o);

                o = g_string_new("virtio-rng-pci");
                qemu_opt_fmt(o, "rng", "objrng%zu", i);
                qemu_opt_fmt(o, "id", "rng%zu", i);
                if (r->rate_bytes > 0) {
                        qemu_opt_fmt(o, "max-bytes", "%u", r->rate_bytes);
                        qemu_opt_fmt(o, "period", "%u", r->rate_period ?: 1000);
                }
                qemu_cmd_pci_address(c, o, &r->address, what);
                qemu_cmd_add_opt(c, "-device", o);
        }
}

/* -tpmdev emulator on the swtpm's control socket, or passthrough of the host's TPM (its device
 * and cancel file as fdsets: the service opened them), and the model's device. */
void qemu_cmd_build_tpm(QemuCmd *c) {
        const DomainTpmDef *t = c->def->tpm;
        GString *o;

        if (!t)
                return;
        if (!qemu_streq(t->model, "tpm-tis") && !qemu_streq(t->model, "tpm-crb")) {
                qemu_cmd_fail(c, "TPM model '%s' is not supported (tpm-tis, tpm-crb)", strempty(t->model));
                return;
        }
        if (qemu_streq(t->backend, "emulator")) {
                if (!qemu_streq(t->version ?: "2.0", "2.0")) {
                        qemu_cmd_fail(c, "TPM version '%s' is not supported (2.0)", t->version);
                        return;
                }
                if (!c->ctx->tpm_socket_path || !qemu_path_valid(c->ctx->tpm_socket_path)) {
                        qemu_cmd_fail(c, "the emulated TPM has no swtpm to talk to");
                        return;
                }
                o = g_string_new("socket,id=chrtpm");
                qemu_opt_str(o, "path", c->ctx->tpm_socket_path);
                qemu_cmd_add_opt(c, "-chardev", o);
                qemu_cmd_add(c, "-tpmdev");
                qemu_cmd_add(c, "emulator,id=tpm-tpm0,chardev=chrtpm");
        } else if (qemu_streq(t->backend, "passthrough")) {
                const DriverFile *dev = qemu_cmd_file(c, DOMAIN_PATH_TPM, 0, 0, "the TPM device");
                const DriverFile *cancel = qemu_cmd_file(c, DOMAIN_PATH_TPM, 0, 1, "the TPM's cancel file");
                int dev_set = dev ? qemu_cmd_add_fdset(c, dev->fd, "tpm", "the TPM device") : -1;
                int cancel_set = cancel ? qemu_cmd_add_fdset(c, cancel->fd, "tpm-cancel", "the TPM's cancel file") : -1;

                if (dev_set < 0 || cancel_set < 0)
                        return;
                o = g_string_new("passthrough,id=tpm-tpm0");
                qemu_opt_fmt(o, "path", "/dev/fdset/%d", dev_set);
                qemu_opt_fmt(o, "cancel-path", "/dev/fdset/%d", cancel_set);
                qemu_cmd_add_opt(c, "-tpmdev", o);
        } else {
                qemu_cmd_fail(c, "TPM backend '%s' is not supported (emulator, passthrough)", strempty(t->backend));
                return;
        }
        o = g_string_new(t->model);
        g_string_append(o, ",tpmdev=tpm-tpm0,id=tpm0");
        qemu_cmd_add_opt(c, "-device", o);
}
