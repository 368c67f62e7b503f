/* domain-conf-parse-controllers.c — <controller>, <memballoon>, <rng>, <sound> and <audio> of domain XML. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-internal.h"

#define ELEM_FOREACH(c, parent) \
        for (xmlNode *c = (parent)->children; c; c = c->next) if (c->type == XML_ELEMENT_NODE)

static bool name_is(xmlNode *n, const char *name) {
        return streq((const char *) n->name, name);
}

static const char *const controller_types[] = { "pci", "usb", "sata", "ide", "scsi", "virtio-serial", NULL };
static const char *const controller_models[][16] = {
        { "pci-root", "pcie-root", "pcie-root-port", "pci-bridge", "pcie-to-pci-bridge", "dmi-to-pci-bridge", NULL },
        { "qemu-xhci", "nec-xhci", "piix3-uhci", "piix4-uhci", "ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3", "none", NULL },
        { NULL },
        { "piix3", "piix4", "ich6", NULL },
        { "virtio-scsi", "lsilogic", "lsisas1068", "lsisas1078", NULL },
        { NULL },
};

int domain_controller_parse(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainControllerDef *c;
        int r, type;
        uint64_t u;

        c = conf_array_append(&def->controllers, &def->n_controllers, sizeof(DomainControllerDef));
        if (!c)
                return -ENOMEM;
        c->index = -1;
        c->ports = c->vectors = c->target_chassis = c->target_port = -1;
        r = xml_attr_enum(node, "type", controller_types, &type, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(node), "<controller> needs a 'type' attribute");
        r = xml_validate(node, &(XmlSpec) {
                .attrs = controller_models[type][0] ? STRV("type", "index", "model", "ports", "vectors") :
                                                      STRV("type", "index", "ports", "vectors"),
                .children = STRV("model", "target", "master", "alias", "address"),
        }, err);
        if (r < 0)
                return r;
        if (!(c->type = strdup(controller_types[type])))
                return -ENOMEM;
        r = xml_attr_uint(node, "index", 10, 255, &u, err);
        if (r < 0)
                return r;
        c->index = r > 0 ? (int) u : -1;
        if (controller_models[type][0] && xml_attr_enum_str(node, "model", controller_models[type], &c->model, err) < 0)
                return -EINVAL;
        r = xml_attr_uint(node, "ports", 10, 255, &u, err);
        if (r < 0)
                return r;
        if (r > 0)
                c->ports = (int) u;
        r = xml_attr_uint(node, "vectors", 10, 1024, &u, err);
        if (r < 0)
                return r;
        if (r > 0)
                c->vectors = (int) u;

        ELEM_FOREACH(t, node) {
                r = domain_device_info_parse(t, &c->address, NULL, NULL, err);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (name_is(t, "model")) {
                        r = xml_validate(t, &(XmlSpec) { .attrs = STRV("name") }, err);
                        if (r < 0)
                                return r;
                        if (xml_attr_enum_str(t, "name", STRV("pcie-root-port", "ioh3420", "pci-bridge", "pcie-pci-bridge", "i82801b11-bridge"),
                                              &c->model_name, err) < 0)
                                return -EINVAL;
                } else if (name_is(t, "target")) {
                        r = xml_validate(t, &(XmlSpec) { .attrs = STRV("chassis", "port", "chassisNr", "busNr") }, err);
                        if (r < 0)
                                return r;
                        r = xml_attr_uint(t, "chassis", 0, 255, &u, err);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                c->target_chassis = (int) u;
                        r = xml_attr_uint(t, "port", 0, 255, &u, err);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                c->target_port = (int) u;
                        /* chassisNr/busNr (pci-bridge, pci-expander) are not modelled: refuse rather than drop. */
                        if (xmlHasProp(t, (const xmlChar *) "chassisNr") || xmlHasProp(t, (const xmlChar *) "busNr"))
                                return conf_error_set(err, xml_line(t), "controller target 'chassisNr'/'busNr' are not supported");
                } else if (name_is(t, "master")) {
                        r = xml_validate(t, &(XmlSpec) { .attrs = STRV("startport") }, err);
                        if (r < 0)
                                return r;
                        r = xml_attr_uint(t, "startport", 10, 255, &u, err);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                return conf_error_set(err, xml_line(t), "<master> needs a 'startport' attribute");
                        c->master_startport = (unsigned) u;
                        c->has_master = true;
                }
        }
        return 0;
}

int domain_memballoon_parse(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainMemballoonDef *m;
        int r;
        uint64_t u;

        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        def->memballoon = m;
        r = xml_validate(node, &(XmlSpec) { .attrs = STRV("model"), .children = STRV("stats", "alias", "address") }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum_str(node, "model", STRV("virtio", "none"), &m->model, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(node), "<memballoon> needs a 'model' attribute (virtio, none)");
        ELEM_FOREACH(c, node) {
                r = domain_device_info_parse(c, &m->address, NULL, NULL, err);
                if (r < 0)
                        return r;
                if (r > 0 || !name_is(c, "stats"))
                        continue;
                r = xml_validate(c, &(XmlSpec) { .attrs = STRV("period") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_uint(c, "period", 10, INT32_MAX, &u, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return conf_error_set(err, xml_line(c), "<stats> needs a 'period' attribute");
                m->stats_period = (unsigned) u;
        }
        return 0;
}

int domain_rng_parse(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainRngDef *g;
        int r;
        uint64_t u;

        g = conf_array_append(&def->rngs, &def->n_rngs, sizeof(DomainRngDef));
        if (!g)
                return -ENOMEM;
        r = xml_validate(node, &(XmlSpec) { .attrs = STRV("model"), .children = STRV("rate", "backend", "alias", "address") }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum_str(node, "model", STRV("virtio"), &g->model, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(node), "<rng> needs a 'model' attribute (virtio)");
        ELEM_FOREACH(c, node) {
                r = domain_device_info_parse(c, &g->address, NULL, NULL, err);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (name_is(c, "rate")) {
                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("bytes", "period") }, err);
                        if (r < 0)
                                return r;
                        r = xml_attr_uint(c, "bytes", 10, UINT32_MAX, &u, err);
                        if (r < 0)
                                return r;
                        if (r == 0 || u == 0)
                                return conf_error_set(err, xml_line(c), "<rate> needs a non-zero 'bytes' attribute");
                        g->rate_bytes = (unsigned) u;
                        r = xml_attr_uint(c, "period", 10, UINT32_MAX, &u, err);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                g->rate_period = (unsigned) u;
                } else if (name_is(c, "backend")) {
                        r = xml_validate(c, &(XmlSpec) { .attrs = STRV("model"), .text = true }, err);
                        if (r < 0)
                                return r;
                        r = xml_attr_enum_str(c, "model", STRV("random", "builtin"), &g->backend_model, err);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                return conf_error_set(err, xml_line(c), "<backend> needs a 'model' attribute (random, builtin)");
                        _cleanup_free_ char *path = NULL;
                        r = xml_text(c, &path);
                        if (r < 0)
                                return r;
                        g_strstrip(path);
                        if (streq(g->backend_model, "builtin") && *path)
                                return conf_error_set(err, xml_line(c), "<backend model='builtin'> takes no path");
                        if (streq(g->backend_model, "random")) {
                                if (!*path) {
                                        free(path);
                                        path = strdup("/dev/urandom");
                                        if (!path)
                                                return -ENOMEM;
                                }
                                if (!STR_IN_SET(path, "/dev/urandom", "/dev/random", "/dev/hwrng"))
                                        return conf_error_set(err, xml_line(c), "rng backend path '%s' is not allowed (allowed: /dev/urandom, /dev/random, /dev/hwrng)",
                                                              path);
                                g->backend_path = TAKE_PTR(path);
                        }
                }
        }
        if (!g->backend_model)
                return conf_error_set(err, xml_line(node), "<rng> needs a <backend>");
        return 0;
}

int domain_sound_parse(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainSoundDef *snd;
        uint64_t u;
        int r;

        snd = conf_array_append(&def->sounds, &def->n_sounds, sizeof(DomainSoundDef));
        if (!snd)
                return -ENOMEM;
        r = xml_validate(node, &(XmlSpec) { .attrs = STRV("model"), .children = STRV("audio", "alias", "address") }, err);
        if (r < 0)
                return r;
        r = xml_attr_enum_str(node, "model", STRV("ich6", "ich9", "ac97", "es1370", "sb16"), &snd->model, err);
        if (r < 0)
                return r;
        if (r == 0)
                return conf_error_set(err, xml_line(node), "<sound> needs a 'model' attribute (ich6, ich9, ac97, es1370, sb16)");
        ELEM_FOREACH(c, node) {
                r = domain_device_info_parse(c, &snd->address, NULL, NULL, err);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                /* <audio id=…/>: which <audio> backend plays this card's sound */
                r = xml_validate(c, &(XmlSpec) { .attrs = STRV("id") }, err);
                if (r < 0)
                        return r;
                r = xml_attr_uint(c, "id", 10, UINT32_MAX, &u, err);
                if (r < 0)
                        return r;
                if (r == 0 || u == 0)
                        return conf_error_set(err, xml_line(c), "<audio> in <sound> needs an 'id' of 1 or more");
                snd->audio_id = (unsigned) u;
        }
        if (streq(snd->model, "sb16") && snd->address.type != DOMAIN_ADDRESS_NONE)
                return conf_error_set(err, xml_line(node), "<sound model='sb16'> is an ISA card and takes no <address>");
        return 0;
}

int domain_audio_parse(DomainDef *def, xmlNode *node, ConfError *err) {
        DomainAudioDef *a;
        _cleanup_free_ char *type = NULL;
        uint64_t u;
        int r;

        r = xml_validate(node, &(XmlSpec) { .attrs = STRV("id", "type") }, err);
        if (r < 0)
                return r;
        type = xml_attr(node, "type");
        if (!type)
                return conf_error_set(err, xml_line(node), "<audio> needs a 'type' attribute (none)");
        if (streq(type, "spice"))
                return conf_error_set(err, xml_line(node),
                                      "<audio type='spice'> needs SPICE graphics, which are not supported; use type='none'");
        if (!streq(type, "none"))
                return conf_error_set(err, xml_line(node), "<audio> type '%s' is not supported (none)", type);
        a = conf_array_append(&def->audios, &def->n_audios, sizeof(DomainAudioDef));
        if (!a)
                return -ENOMEM;
        a->type = TAKE_PTR(type);
        r = xml_attr_uint(node, "id", 10, UINT32_MAX, &u, err);
        if (r < 0)
                return r;
        if (r > 0 && u == 0)
                return conf_error_set(err, xml_line(node), "<audio> 'id' must be 1 or more");
        if (r > 0)
                a->id = (unsigned) u;
        for (size_t i = 0; i + 1 < def->n_audios; i++)
                if (a->id != 0 && def->audios[i].id == a->id)
                        return conf_error_set(err, xml_line(node), "<audio id='%u'> is defined twice", a->id);
        return 0;
}
