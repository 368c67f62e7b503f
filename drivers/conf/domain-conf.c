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
        domain_disk_backing_clear(d);
        domain_disk_net_clear(&d->net);
}

/* ---- a disk's live backing chain ---- */

void domain_disk_backing_clear(DomainDiskDef *d) {
        for (size_t i = 0; i < d->n_backing; i++) {
                free(d->backing[i].path);
                free(d->backing[i].format);
        }
        free(d->backing);
        d->backing = NULL;
        d->n_backing = 0;
        d->backing_known = false;
}

int domain_disk_backing_set(DomainDiskDef *d, const char *const *paths, const char *const *formats, size_t n) {
        DomainDiskBacking *b = NULL;

        if (n > 0) {
                b = calloc(n, sizeof(*b));
                if (!b)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                b[i].path = strdup(strempty(paths[i]));
                b[i].format = formats && formats[i] ? strdup(formats[i]) : NULL;
                if (!b[i].path || (formats && formats[i] && !b[i].format)) {
                        for (size_t k = 0; k <= i; k++) {
                                free(b[k].path);
                                free(b[k].format);
                        }
                        free(b);
                        return -ENOMEM;
                }
        }
        domain_disk_backing_clear(d);
        d->backing = b;
        d->n_backing = n;
        d->backing_known = true;
        return 0;
}

int domain_disk_backing_push(DomainDiskDef *d, const char *path, const char *format) {
        DomainDiskBacking *b;
        char *p = strdup(path), *f = format ? strdup(format) : NULL;

        if (!p || (format && !f)) {
                free(p);
                free(f);
                return -ENOMEM;
        }
        if (d->source) {
                b = realloc(d->backing, (d->n_backing + 1) * sizeof(*b));
                if (!b) {
                        free(p);
                        free(f);
                        return -ENOMEM;
                }
                memmove(b + 1, b, d->n_backing * sizeof(*b));
                b[0] = (DomainDiskBacking) { .path = d->source, .format = d->driver_type };
                d->backing = b;
                d->n_backing++;
        } else
                free(d->driver_type);
        d->source = p;
        d->driver_type = f;
        return 0;
}

int domain_disk_backing_drop(DomainDiskDef *d, size_t from, size_t to) {
        if (!d->backing_known || from >= to || to > d->n_backing + (from > 0))
                return 0;
        if (from == 0) {
                /* the layer at depth to becomes the source */
                DomainDiskBacking *top = &d->backing[to - 1];
                free(d->source);
                free(d->driver_type);
                d->source = top->path;
                d->driver_type = top->format;
                for (size_t k = 0; k + 1 < to; k++) {
                        free(d->backing[k].path);
                        free(d->backing[k].format);
                }
                memmove(d->backing, d->backing + to, (d->n_backing - to) * sizeof(*d->backing));
                d->n_backing -= to;
                return 0;
        }
        /* depths from…to-1 are backing[from-1 … to-2] */
        for (size_t k = from - 1; k < to - 1; k++) {
                free(d->backing[k].path);
                free(d->backing[k].format);
        }
        if (to <= d->n_backing)
                memmove(d->backing + from - 1, d->backing + to - 1, (d->n_backing - (to - 1)) * sizeof(*d->backing));
        d->n_backing -= to - from;
        return 0;
}

void domain_net_clear(DomainNetDef *n) {
        free(n->mac);
        free(n->model);
        free(n->source_network);
        free(n->source_bridge);
        free(n->target_dev);
        free(n->alias);
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
        free(def->loader_secure);
        free(def->os_firmware);
        free(def->nvram);
        free(def->nvram_template);
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
        FREE_ARRAY(def->leases, def->n_leases, domain_lease_clear);
        FREE_ARRAY(def->sounds, def->n_sounds, domain_sound_clear);
        FREE_ARRAY(def->audios, def->n_audios, domain_audio_clear);
        FREE_ARRAY(def->memories, def->n_memories, domain_memory_clear);
        domain_memballoon_free(def->memballoon);
        domain_tpm_free(def->tpm);
        domain_tune_clear(&def->tune);
        free(def);
        return NULL;
}

/* ---- deep copy ----
 *
 * A copy is a shallow copy (every scalar, so a field added later is copied
 * without anybody thinking of it) whose every pointer is then replaced by a
 * copy of its own: the lists below follow the *_clear() functions above
 * field by field. On OOM the copy holds only its own pointers (or NULL) and is
 * freed normally. */

typedef struct CopyCtx {
        bool oom;
} CopyCtx;

static char *copy_str(CopyCtx *c, const char *s) {
        char *r;

        if (!s)
                return NULL;
        r = strdup(s);
        if (!r)
                c->oom = true;
        return r;
}

/* n elements of `size` bytes, copied shallowly (NULL for none). */
static void *copy_array(CopyCtx *c, const void *a, size_t n, size_t size) {
        void *r;

        if (!a || n == 0)
                return NULL;
        r = calloc(n, size);
        if (!r) {
                c->oom = true;
                return NULL;
        }
        return memcpy(r, a, n * size);
}

static void copy_address(CopyCtx *c, DomainAddress *a) {
        a->usb_port = copy_str(c, a->usb_port);
}

static void copy_disk(CopyCtx *c, DomainDiskDef *d) {
        d->source = copy_str(c, d->source);
        d->source_pool = copy_str(c, d->source_pool);
        d->source_volume = copy_str(c, d->source_volume);
        if (!domain_disk_net_copy(&d->net))
                c->oom = true;
        d->driver_name = copy_str(c, d->driver_name);
        d->driver_type = copy_str(c, d->driver_type);
        d->driver_cache = copy_str(c, d->driver_cache);
        d->driver_io = copy_str(c, d->driver_io);
        d->driver_discard = copy_str(c, d->driver_discard);
        d->target_dev = copy_str(c, d->target_dev);
        d->serial = copy_str(c, d->serial);
        d->alias = copy_str(c, d->alias);
        copy_address(c, &d->address);
        d->backing = copy_array(c, d->backing, d->n_backing, sizeof(d->backing[0]));
        if (!d->backing)
                d->n_backing = 0;
        for (size_t i = 0; i < d->n_backing; i++) {
                d->backing[i].path = copy_str(c, d->backing[i].path);
                d->backing[i].format = copy_str(c, d->backing[i].format);
        }
}

static void copy_net(CopyCtx *c, DomainNetDef *n) {
        n->mac = copy_str(c, n->mac);
        n->model = copy_str(c, n->model);
        n->source_network = copy_str(c, n->source_network);
        n->source_bridge = copy_str(c, n->source_bridge);
        n->target_dev = copy_str(c, n->target_dev);
        n->alias = copy_str(c, n->alias);
        copy_address(c, &n->address);
}

static void copy_chr(CopyCtx *c, DomainChrDef *x) {
        x->type = copy_str(c, x->type);
        x->target_type = copy_str(c, x->target_type);
        x->target_model = copy_str(c, x->target_model);
        x->target_name = copy_str(c, x->target_name);
        x->source_path = copy_str(c, x->source_path);
        x->source_mode = copy_str(c, x->source_mode);
        copy_address(c, &x->address);
}

static void copy_graphics(CopyCtx *c, DomainGraphicsDef *g) {
        g->type = copy_str(c, g->type);
        g->listen = copy_str(c, g->listen);
        g->listen_type = copy_str(c, g->listen_type);
        g->passwd = copy_str(c, g->passwd);
}

static void copy_video(CopyCtx *c, DomainVideoDef *v) {
        v->model = copy_str(c, v->model);
        copy_address(c, &v->address);
}

static void copy_input(CopyCtx *c, DomainInputDef *i) {
        i->type = copy_str(c, i->type);
        i->bus = copy_str(c, i->bus);
        copy_address(c, &i->address);
}

static void copy_controller(CopyCtx *c, DomainControllerDef *x) {
        x->type = copy_str(c, x->type);
        x->model = copy_str(c, x->model);
        x->model_name = copy_str(c, x->model_name);
        copy_address(c, &x->address);
}

static void copy_lease(CopyCtx *c, DomainLeaseDef *l) {
        l->lockspace = copy_str(c, l->lockspace);
        l->key = copy_str(c, l->key);
        l->target_path = copy_str(c, l->target_path);
}

static void copy_rng(CopyCtx *c, DomainRngDef *r) {
        r->model = copy_str(c, r->model);
        r->backend_model = copy_str(c, r->backend_model);
        r->backend_path = copy_str(c, r->backend_path);
        copy_address(c, &r->address);
}

static void copy_sound(CopyCtx *c, DomainSoundDef *x) {
        x->model = copy_str(c, x->model);
        copy_address(c, &x->address);
}

static void copy_audio(CopyCtx *c, DomainAudioDef *a) {
        a->type = copy_str(c, a->type);
}

static void copy_memory(CopyCtx *c, DomainMemoryDef *m) {
        m->model = copy_str(c, m->model);
}

static void copy_timer(CopyCtx *c, DomainTimerDef *t) {
        t->name = copy_str(c, t->name);
        t->tickpolicy = copy_str(c, t->tickpolicy);
}

/* dst->field = a deep copy of src->field's n elements. An element whose
 * shallow copy failed is not there: the count is 0 then, nothing is shared. */
#define COPY_ARRAY(ctx, dst, src, field, n_field, copy_one)                                             \
        do {                                                                                            \
                (dst)->field = copy_array(ctx, (src)->field, (src)->n_field, sizeof((src)->field[0]));  \
                (dst)->n_field = (dst)->field ? (src)->n_field : 0;                                     \
                for (size_t _i = 0; _i < (dst)->n_field; _i++)                                          \
                        copy_one(ctx, &(dst)->field[_i]);                                               \
        } while (0)

const DomainChrDef *domain_def_agent_channel(const DomainDef *def) {
        for (size_t i = 0; def && i < def->n_channels; i++)
                if (streq_ptr(def->channels[i].target_name, DOMAIN_GUEST_AGENT_CHANNEL))
                        return &def->channels[i];
        return NULL;
}

DomainDef *domain_def_copy(const DomainDef *def) {
        CopyCtx ctx = {};
        DomainDef *c;

        if (!def)
                return NULL;
        c = malloc(sizeof(DomainDef));
        if (!c)
                return NULL;
        *c = *def;
        c->name = copy_str(&ctx, def->name);
        c->title = copy_str(&ctx, def->title);
        c->description = copy_str(&ctx, def->description);
        c->metadata_xml = copy_str(&ctx, def->metadata_xml);
        c->vcpu_placement = copy_str(&ctx, def->vcpu_placement);
        c->os_type = copy_str(&ctx, def->os_type);
        c->os_arch = copy_str(&ctx, def->os_arch);
        c->os_machine = copy_str(&ctx, def->os_machine);
        c->kernel = copy_str(&ctx, def->kernel);
        c->initrd = copy_str(&ctx, def->initrd);
        c->cmdline = copy_str(&ctx, def->cmdline);
        c->loader = copy_str(&ctx, def->loader);
        c->loader_readonly = copy_str(&ctx, def->loader_readonly);
        c->loader_type = copy_str(&ctx, def->loader_type);
        c->loader_secure = copy_str(&ctx, def->loader_secure);
        c->os_firmware = copy_str(&ctx, def->os_firmware);
        c->nvram = copy_str(&ctx, def->nvram);
        c->nvram_template = copy_str(&ctx, def->nvram_template);
        c->cpu_mode = copy_str(&ctx, def->cpu_mode);
        c->cpu_match = copy_str(&ctx, def->cpu_match);
        c->cpu_check = copy_str(&ctx, def->cpu_check);
        c->cpu_model = copy_str(&ctx, def->cpu_model);
        c->cpu_model_fallback = copy_str(&ctx, def->cpu_model_fallback);
        c->clock_offset = copy_str(&ctx, def->clock_offset);
        c->emulator = copy_str(&ctx, def->emulator);
        COPY_ARRAY(&ctx, c, def, timers, n_timers, copy_timer);
        COPY_ARRAY(&ctx, c, def, disks, n_disks, copy_disk);
        COPY_ARRAY(&ctx, c, def, nets, n_nets, copy_net);
        COPY_ARRAY(&ctx, c, def, serials, n_serials, copy_chr);
        COPY_ARRAY(&ctx, c, def, consoles, n_consoles, copy_chr);
        COPY_ARRAY(&ctx, c, def, channels, n_channels, copy_chr);
        COPY_ARRAY(&ctx, c, def, graphics, n_graphics, copy_graphics);
        COPY_ARRAY(&ctx, c, def, videos, n_videos, copy_video);
        COPY_ARRAY(&ctx, c, def, inputs, n_inputs, copy_input);
        COPY_ARRAY(&ctx, c, def, controllers, n_controllers, copy_controller);
        COPY_ARRAY(&ctx, c, def, rngs, n_rngs, copy_rng);
        COPY_ARRAY(&ctx, c, def, leases, n_leases, copy_lease);
        COPY_ARRAY(&ctx, c, def, sounds, n_sounds, copy_sound);
        COPY_ARRAY(&ctx, c, def, audios, n_audios, copy_audio);
        COPY_ARRAY(&ctx, c, def, memories, n_memories, copy_memory);
        c->memballoon = NULL;
        if (def->memballoon) {
                c->memballoon = copy_array(&ctx, def->memballoon, 1, sizeof(DomainMemballoonDef));
                if (c->memballoon) {
                        c->memballoon->model = copy_str(&ctx, def->memballoon->model);
                        copy_address(&ctx, &c->memballoon->address);
                }
        }
        c->tpm = domain_tpm_copy(def->tpm, &ctx.oom);
        if (domain_tune_copy(&c->tune, &def->tune) < 0)
                ctx.oom = true;
        if (ctx.oom)
                return domain_def_free(c);
        return c;
}
