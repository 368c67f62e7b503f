/* domain-conf.c — DomainDef lifecycle: new, free, copy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

DomainDef *domain_def_new(void) {
        DomainDef *def = calloc(1, sizeof(DomainDef));
        if (!def)
                return NULL;
        def->id = -1;
        def->bootmenu = -1;
        def->pm_suspend_to_mem = -1;
        def->pm_suspend_to_disk = -1;
        def->on_poweroff = DOMAIN_ACTION_DESTROY;
        def->on_reboot = DOMAIN_ACTION_RESTART;
        def->on_crash = DOMAIN_ACTION_DESTROY;
        return def;
}

void domain_address_clear(DomainAddress *a) {
        free(a->usb_port);
        a->usb_port = NULL;
}

void domain_disk_clear(DomainDiskDef *d) {
        free(d->source);
        free(d->source_pool);
        free(d->source_volume);
        free(d->driver_name);
        free(d->driver_type);
        free(d->driver_cache);
        free(d->driver_io);
        free(d->driver_discard);
        free(d->target_dev);
        free(d->serial);
        free(d->alias);
        domain_address_clear(&d->address);
}

void domain_net_clear(DomainNetDef *n) {
        free(n->mac);
        free(n->model);
        free(n->source_network);
        free(n->source_bridge);
        free(n->target_dev);
        domain_address_clear(&n->address);
}

void domain_chr_clear(DomainChrDef *c) {
        free(c->type);
        free(c->target_type);
        free(c->target_model);
        free(c->target_name);
        free(c->source_path);
        free(c->source_mode);
        domain_address_clear(&c->address);
}

void domain_graphics_clear(DomainGraphicsDef *g) {
        free(g->type);
        free(g->listen);
        free(g->listen_type);
        if (g->passwd) {
                explicit_bzero(g->passwd, strlen(g->passwd));
                free(g->passwd);
        }
}

void domain_video_clear(DomainVideoDef *v) {
        free(v->model);
        domain_address_clear(&v->address);
}

void domain_input_clear(DomainInputDef *i) {
        free(i->type);
        free(i->bus);
        domain_address_clear(&i->address);
}

void domain_controller_clear(DomainControllerDef *c) {
        free(c->type);
        free(c->model);
        free(c->model_name);
        domain_address_clear(&c->address);
}

void domain_rng_clear(DomainRngDef *r) {
        free(r->model);
        free(r->backend_model);
        free(r->backend_path);
        domain_address_clear(&r->address);
}

void domain_sound_clear(DomainSoundDef *s) {
        free(s->model);
        domain_address_clear(&s->address);
}

void domain_audio_clear(DomainAudioDef *a) {
        free(a->type);
}

void domain_timer_clear(DomainTimerDef *t) {
        free(t->name);
        free(t->tickpolicy);
}

DomainMemballoonDef *domain_memballoon_free(DomainMemballoonDef *m) {
        if (!m)
                return NULL;
        free(m->model);
        domain_address_clear(&m->address);
        free(m);
        return NULL;
}

#define FREE_ARRAY(a, n, clear)                         \
        do {                                            \
                for (size_t _i = 0; _i < (n); _i++)     \
                        clear(&(a)[_i]);                \
                free(a);                                \
        } while (0)

DomainDef *domain_def_free(DomainDef *def) {
        if (!def)
                return NULL;
        free(def->name);
        free(def->title);
        free(def->description);
        free(def->metadata_xml);
        free(def->vcpu_placement);
        free(def->os_type);
        free(def->os_arch);
        free(def->os_machine);
        free(def->kernel);
        free(def->initrd);
        free(def->cmdline);
        free(def->loader);
        free(def->loader_readonly);
        free(def->loader_type);
        free(def->cpu_mode);
        free(def->cpu_match);
        free(def->cpu_check);
        free(def->cpu_model);
        free(def->cpu_model_fallback);
        free(def->clock_offset);
        FREE_ARRAY(def->timers, def->n_timers, domain_timer_clear);
        free(def->emulator);
        FREE_ARRAY(def->disks, def->n_disks, domain_disk_clear);
        FREE_ARRAY(def->nets, def->n_nets, domain_net_clear);
        FREE_ARRAY(def->serials, def->n_serials, domain_chr_clear);
        FREE_ARRAY(def->consoles, def->n_consoles, domain_chr_clear);
        FREE_ARRAY(def->channels, def->n_channels, domain_chr_clear);
        FREE_ARRAY(def->graphics, def->n_graphics, domain_graphics_clear);
        FREE_ARRAY(def->videos, def->n_videos, domain_video_clear);
        FREE_ARRAY(def->inputs, def->n_inputs, domain_input_clear);
        FREE_ARRAY(def->controllers, def->n_controllers, domain_controller_clear);
        FREE_ARRAY(def->rngs, def->n_rngs, domain_rng_clear);
        FREE_ARRAY(def->sounds, def->n_sounds, domain_sound_clear);
        FREE_ARRAY(def->audios, def->n_audios, domain_audio_clear);
        domain_memballoon_free(def->memballoon);
        free(def);
        return NULL;
}

DomainDef *domain_def_copy(const DomainDef *def) {
        /* The formatter writes every field (live and secret ones included with
         * these flags) and the parser reads all of them back, so a round trip
         * is a deep copy that cannot drift from the struct's layout. */
        _cleanup_free_ char *xml = NULL;
        DomainDef *copy = NULL;
        ConfError err = {};

        if (!def)
                return NULL;
        xml = domain_def_format(def, DOMAIN_FORMAT_SECURE);
        if (!xml)
                return NULL;
        if (domain_def_parse(xml, strlen(xml), &copy, &err) < 0) {
                conf_error_clear(&err);
                return NULL;
        }
        /* Fields the XML cannot express. */
        copy->has_uuid = def->has_uuid;
        if (!def->has_uuid)
                memset(copy->uuid, 0, sizeof copy->uuid);
        return copy;
}
