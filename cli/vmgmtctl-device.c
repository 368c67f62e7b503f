/* vmgmtctl-device.c — hot-plug verbs with virsh's names and flags: attach-device, detach-device,
 * update-device, attach-disk, detach-disk, attach-interface, detach-interface, change-media, and the
 * device lists domblklist, domiflist. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "vmgmtctl.h"

/* ---- where the change goes ---- */

typedef struct Where {
        bool live, config;
} Where;

/* virsh's flags: --live, --config, --current (neither: the service's current), --persistent
 * (the definition, and the running domain when it runs). */
static int where_from_flags(Context *c, const VerbArgs *a, const char *path, Where *ret) {
        bool persistent = verb_flag(a, "persistent");
        DomainInfo info = {};
        int r;

        *ret = (Where) { .live = verb_flag(a, "live"), .config = verb_flag(a, "config") };
        if (verb_flag(a, "current") && (ret->live || ret->config || persistent))
                return ctl_error(-EINVAL, "--current excludes --live, --config and --persistent");
        if (persistent) {
                r = domain_info_get(c, path, &info);
                if (r < 0)
                        return r;
                ret->config = true;
                ret->live = ret->live || !streq_ptr(info.state, "shutoff");
                domain_info_done(&info);
        }
        return 0;
}

/* Calls member(s xml, a{sv} where + extra bool option); the reply is read and dropped. */
static int device_call(Context *c, const char *path, const char *member, const char *xml, const Where *w,
                       const char *extra, bool extra_value) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, member, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", xml);
        if (r >= 0)
                r = ctl_append_flags(m, "live", (int) w->live, "config", (int) w->config, extra ?: "force",
                                     (int) (extra && extra_value), NULL);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return ctl_call(c, m, NULL);
}

/* After a live DetachDevice: the guest may not have let go yet; its detach-device Job tells when it does. */
static int follow_detach(Context *c, const char *path) {
        CtlJobInfo j = {};
        int r;

        r = ctl_find_domain_job(c, path, &j);
        if (r <= 0)
                return r;
        if (streq_ptr(j.type, "detach-device")) {
                if (c->json == JSON_FORMAT_OFF)
                        fprintf(stderr, "Waiting for the guest to release the device…\n");
                r = ctl_follow_job(c, j.path);
        }
        ctl_job_info_clear(&j);
        return r < 0 ? r : 0;
}

static void report(Context *c, const char *what, const char *domain) {
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter jw;
                json_writer_init(&jw, stdout, c->json);
                json_begin_object(&jw);
                json_member_string(&jw, "domain", domain);
                json_member_string(&jw, "result", what);
                json_end_object(&jw);
                return;
        }
        ctl_info("%s", what);
}

static void xml_escape_append(char **buf, size_t *len, const char *s) {
        FILE *f = open_memstream(buf, len);

        if (!f)
                return;
        storage_xml_escape_to(f, s);
        fclose(f);
}

static char *esc(const char *s) {
        char *b = NULL;
        size_t n = 0;

        xml_escape_append(&b, &n, s ?: "");
        return b;
}

/* ---- attach-device, detach-device, update-device FILE ---- */

static int device_from_file(Context *c, VerbArgs *a, const char *member, const char *done_msg) {
        _cleanup_free_ char *path = NULL, *name = NULL, *xml = NULL;
        Where w;
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_read_file(a->args[1], &xml);
        if (r < 0)
                return r;
        r = where_from_flags(c, a, path, &w);
        if (r < 0)
                return r;
        r = device_call(c, path, member, xml, &w, streq(member, "UpdateDevice") ? "force" : NULL, verb_flag(a, "force"));
        if (r < 0)
                return r;
        if (streq(member, "DetachDevice")) {
                r = follow_detach(c, path);
                if (r < 0)
                        return r;
        }
        report(c, done_msg, name);
        return 0;
}

int verb_attach_device(Context *c, VerbArgs *a) {
        return device_from_file(c, a, "AttachDevice", "Device attached successfully");
}

int verb_detach_device(Context *c, VerbArgs *a) {
        return device_from_file(c, a, "DetachDevice", "Device detached successfully");
}

int verb_update_device(Context *c, VerbArgs *a) {
        return device_from_file(c, a, "UpdateDevice", "Device updated successfully");
}

/* ---- the definition's devices, read from its XML ---- */

static xmlNodePtr child(xmlNodePtr n, const char *name) {
        for (xmlNodePtr k = n ? n->children : NULL; k; k = k->next)
                if (k->type == XML_ELEMENT_NODE && xmlStrEqual(k->name, BAD_CAST name))
                        return k;
        return NULL;
}

static char *prop(xmlNodePtr n, const char *name) {
        xmlChar *v = n ? xmlGetProp(n, BAD_CAST name) : NULL;
        char *s = v ? strdup((const char *) v) : NULL;

        xmlFree(v);
        return s;
}

static int domain_devices(Context *c, const char *path, bool inactive, xmlDocPtr *ret_doc, xmlNodePtr *ret_devices) {
        _cleanup_free_ char *xml = NULL;
        xmlDocPtr doc;
        int r;

        r = domain_get_xml(c, path, inactive, false, &xml);
        if (r < 0)
                return r;
        doc = xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc)
                return ctl_error(-EINVAL, "The domain's XML does not parse");
        *ret_doc = doc;
        *ret_devices = child(xmlDocGetRootElement(doc), "devices");
        return 0;
}

/* The <disk> element (as text, malloc'd) of the definition whose target is `target`; -ENOENT when none. */
static int disk_element(Context *c, const char *path, bool inactive, const char *target, char **ret) {
        xmlDocPtr doc = NULL;
        xmlNodePtr devices;
        int r;

        r = domain_devices(c, path, inactive, &doc, &devices);
        if (r < 0)
                return r;
        r = -ENOENT;
        for (xmlNodePtr n = devices ? devices->children : NULL; n; n = n->next) {
                _cleanup_free_ char *t = NULL;
                xmlBufferPtr buf;

                if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST "disk"))
                        continue;
                t = prop(child(n, "target"), "dev");
                if (!streq_ptr(t, target))
                        continue;
                buf = xmlBufferCreate();
                if (buf && xmlNodeDump(buf, doc, n, 0, 0) >= 0) {
                        *ret = strdup((const char *) xmlBufferContent(buf));
                        r = *ret ? 0 : -ENOMEM;
                } else
                        r = -ENOMEM;
                xmlBufferFree(buf);
                break;
        }
        xmlFreeDoc(doc);
        return r;
}

/* ---- attach-disk, detach-disk ---- */

static const char *bus_for_target(const char *target) {
        if (strncmp(target, "vd", 2) == 0)
                return "virtio";
        if (strncmp(target, "sd", 2) == 0)
                return "scsi";
        if (strncmp(target, "hd", 2) == 0)
                return "ide";
        return NULL;
}

int verb_attach_disk(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL, *xml = NULL, *src = NULL, *tgt = NULL, *source = NULL;
        const char *device = verb_value(a, "type") ?: "disk", *sourcetype = verb_value(a, "sourcetype");
        const char *bus = verb_value(a, "targetbus") ?: bus_for_target(a->args[2]);
        const char *mode = verb_value(a, "mode"), *cache = verb_value(a, "cache");
        const char *drv = verb_value(a, "driver") ?: "qemu", *sub = verb_value(a, "subdriver");
        Where w;
        int r;

        if (!STR_IN_SET(device, "disk", "cdrom"))
                return ctl_error(-EINVAL, "--type must be disk or cdrom, not '%s'", device);
        if (mode && !STR_IN_SET(mode, "readonly", "shareable"))
                return ctl_error(-EINVAL, "--mode must be readonly or shareable, not '%s'", mode);
        if (!sourcetype)
                sourcetype = strncmp(a->args[1], "/dev/", 5) == 0 ? "block" : "file";
        if (!STR_IN_SET(sourcetype, "file", "block"))
                return ctl_error(-EINVAL, "--sourcetype must be file or block, not '%s'", sourcetype);
        if (!bus)
                return ctl_error(-EINVAL, "Cannot tell the bus of target '%s': give --targetbus", a->args[2]);
        source = a->args[1][0] == '/' || !a->args[1][0] ? strdup(a->args[1]) : NULL;
        if (!source) {
                char cwd[4096];
                if (!getcwd(cwd, sizeof(cwd)) || asprintf(&source, "%s/%s", cwd, a->args[1]) < 0)
                        return ctl_error(-ENOMEM, "Out of memory");
        }
        src = esc(source);
        tgt = esc(a->args[2]);
        {
                _cleanup_free_ char *d = esc(drv), *s = sub ? esc(sub) : NULL, *ca = cache ? esc(cache) : NULL;
                _cleanup_free_ char *b = esc(bus);
                if (asprintf(&xml,
                             "<disk type='%s' device='%s'>\n"
                             "  <driver name='%s'%s%s%s%s%s%s/>\n"
                             "%s%s%s"
                             "  <target dev='%s' bus='%s'/>\n"
                             "%s"
                             "</disk>\n",
                             sourcetype, device, d, s ? " type='" : "", s ?: "", s ? "'" : "",
                             ca ? " cache='" : "", ca ?: "", ca ? "'" : "",
                             source[0] ? (streq(sourcetype, "block") ? "  <source dev='" : "  <source file='") : "",
                             src, source[0] ? "'/>\n" : "", tgt, b,
                             mode ? (streq(mode, "readonly") ? "  <readonly/>\n" : "  <shareable/>\n") : "") < 0)
                        return ctl_error(-ENOMEM, "Out of memory");
        }
        if (verb_flag(a, "print-xml")) {
                fputs(xml, stdout);
                return 0;
        }
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = where_from_flags(c, a, path, &w);
        if (r < 0)
                return r;
        r = device_call(c, path, "AttachDevice", xml, &w, NULL, false);
        if (r < 0)
                return r;
        report(c, "Disk attached successfully", name);
        return 0;
}

int verb_detach_disk(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL, *xml = NULL;
        Where w;
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = where_from_flags(c, a, path, &w);
        if (r < 0)
                return r;
        /* the disk as the definition has it (device XML names a disk with its source) */
        r = disk_element(c, path, w.config && !w.live, a->args[1], &xml);
        if (r == -ENOENT)
                return ctl_error(r, "Domain '%s' has no disk '%s'", name, a->args[1]);
        if (r < 0)
                return r;
        r = device_call(c, path, "DetachDevice", xml, &w, NULL, false);
        if (r < 0)
                return r;
        r = follow_detach(c, path);
        if (r < 0)
                return r;
        report(c, "Disk detached successfully", name);
        return 0;
}

/* ---- attach-interface, detach-interface ---- */

int verb_attach_interface(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL, *xml = NULL, *src = esc(a->args[2]);
        _cleanup_free_ char *mac = verb_value(a, "mac") ? esc(verb_value(a, "mac")) : NULL;
        _cleanup_free_ char *model = verb_value(a, "model") ? esc(verb_value(a, "model")) : NULL;
        _cleanup_free_ char *target = verb_value(a, "target") ? esc(verb_value(a, "target")) : NULL;
        const char *type = a->args[1];
        Where w;
        int r;

        if (!STR_IN_SET(type, "network", "bridge", "user"))
                return ctl_error(-EINVAL, "Interface type must be network, bridge or user, not '%s'", type);
        if (asprintf(&xml,
                     "<interface type='%s'>\n"
                     "%s%s%s"
                     "%s%s%s"
                     "%s%s%s"
                     "%s%s%s"
                     "</interface>\n",
                     type,
                     streq(type, "user") ? "" : streq(type, "network") ? "  <source network='" : "  <source bridge='",
                     streq(type, "user") ? "" : src, streq(type, "user") ? "" : "'/>\n",
                     mac ? "  <mac address='" : "", mac ?: "", mac ? "'/>\n" : "",
                     target ? "  <target dev='" : "", target ?: "", target ? "'/>\n" : "",
                     model ? "  <model type='" : "", model ?: "", model ? "'/>\n" : "") < 0)
                return ctl_error(-ENOMEM, "Out of memory");
        if (verb_flag(a, "print-xml")) {
                fputs(xml, stdout);
                return 0;
        }
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = where_from_flags(c, a, path, &w);
        if (r < 0)
                return r;
        r = device_call(c, path, "AttachDevice", xml, &w, NULL, false);
        if (r < 0)
                return r;
        report(c, "Interface attached successfully", name);
        return 0;
}

int verb_detach_interface(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL, *xml = NULL;
        _cleanup_free_ char *mac = verb_value(a, "mac") ? esc(verb_value(a, "mac")) : NULL;
        const char *type = a->args[1];
        Where w;
        int r;

        if (!STR_IN_SET(type, "network", "bridge", "user"))
                return ctl_error(-EINVAL, "Interface type must be network, bridge or user, not '%s'", type);
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = where_from_flags(c, a, path, &w);
        if (r < 0)
                return r;
        if (asprintf(&xml, "<interface type='%s'>%s%s%s</interface>", type, mac ? "<mac address='" : "", mac ?: "",
                     mac ? "'/>" : "") < 0)
                return ctl_error(-ENOMEM, "Out of memory");
        r = device_call(c, path, "DetachDevice", xml, &w, NULL, false);
        if (r < 0)
                return r;
        r = follow_detach(c, path);
        if (r < 0)
                return r;
        report(c, "Interface detached successfully", name);
        return 0;
}

/* The disk of the definition whose target or source is `which`: its device ("disk", "cdrom") and target. */
static int find_disk(xmlNodePtr devices, const char *which, char **ret_device, char **ret_target, char **ret_bus) {
        for (xmlNodePtr n = devices ? devices->children : NULL; n; n = n->next) {
                _cleanup_free_ char *t = NULL, *s = NULL, *sd = NULL;

                if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST "disk"))
                        continue;
                t = prop(child(n, "target"), "dev");
                s = prop(child(n, "source"), "file");
                sd = prop(child(n, "source"), "dev");
                if (streq_ptr(t, which) || streq_ptr(s, which) || streq_ptr(sd, which)) {
                        *ret_device = prop(n, "device");
                        *ret_target = TAKE_PTR(t);
                        *ret_bus = prop(child(n, "target"), "bus");
                        return 0;
                }
        }
        return -ENOENT;
}

/* change-media DOMAIN PATH [SOURCE] [--eject] [--insert] [--update] [--force] [--live] [--config] [--current] */
int verb_change_media(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL, *xml = NULL, *device = NULL, *target = NULL, *bus = NULL;
        _cleanup_free_ char *src = NULL, *tgt = NULL, *b = NULL;
        bool eject = verb_flag(a, "eject"), insert = verb_flag(a, "insert"), update = verb_flag(a, "update");
        const char *source = a->n_args > 2 ? a->args[2] : NULL, *msg;
        xmlDocPtr doc = NULL;
        xmlNodePtr devices;
        Where w;
        int r;

        if (eject + insert + update > 1)
                return ctl_error(-EINVAL, "--eject, --insert and --update exclude each other");
        if (!eject && !insert && !update)
                update = true;
        if (eject && source)
                return ctl_error(-EINVAL, "--eject takes no source");
        if (insert && !source)
                return ctl_error(-EINVAL, "--insert needs a source");
        if (update && !source)
                eject = true, update = false;
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = where_from_flags(c, a, path, &w);
        if (r < 0)
                return r;
        r = domain_devices(c, path, w.config && !w.live, &doc, &devices);
        if (r < 0)
                return r;
        r = find_disk(devices, a->args[1], &device, &target, &bus);
        xmlFreeDoc(doc);
        if (r < 0)
                return ctl_error(r, "Domain '%s' has no disk '%s'", name, a->args[1]);
        if (!streq_ptr(device, "cdrom"))
                return ctl_error(-EINVAL, "Disk '%s' of domain '%s' is no cdrom", target, name);
        tgt = esc(target);
        b = esc(bus);
        if (source) {
                _cleanup_free_ char *abs = NULL;
                char cwd[4096];
                if (source[0] != '/' && (!getcwd(cwd, sizeof(cwd)) || asprintf(&abs, "%s/%s", cwd, source) < 0))
                        return ctl_error(-ENOMEM, "Out of memory");
                src = esc(abs ?: source);
        }
        if (asprintf(&xml, "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>%s%s%s"
                           "<target dev='%s' bus='%s'/><readonly/></disk>",
                     src ? "<source file='" : "", src ?: "", src ? "'/>" : "", tgt, b) < 0)
                return ctl_error(-ENOMEM, "Out of memory");
        r = device_call(c, path, "UpdateDevice", xml, &w, "force", verb_flag(a, "force"));
        if (r < 0)
                return r;
        msg = eject ? "Successfully ejected media." : insert ? "Successfully inserted media." : "Successfully updated media.";
        report(c, msg, name);
        return 0;
}

/* domblklist DOMAIN [--inactive] [--details] */
int verb_domblklist(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        bool details = verb_flag(a, "details");
        xmlDocPtr doc = NULL;
        xmlNodePtr devices;
        JsonWriter jw;
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = domain_devices(c, path, verb_flag(a, "inactive"), &doc, &devices);
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&jw, stdout, c->json);
                json_begin_array(&jw);
        } else
                t = details ? table_new(4, (const char *const[]) { "Type", "Device", "Target", "Source" })
                            : table_new(2, (const char *const[]) { "Target", "Source" });
        for (xmlNodePtr n = devices ? devices->children : NULL; n; n = n->next) {
                _cleanup_free_ char *type = NULL, *dev = NULL, *target = NULL, *src = NULL;
                xmlNodePtr s;

                if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST "disk"))
                        continue;
                type = prop(n, "type");
                dev = prop(n, "device");
                target = prop(child(n, "target"), "dev");
                s = child(n, "source");
                /* a network disk: its name (rbd POOL/IMAGE, iscsi IQN/LUN, nbd export), as virsh */
                src = prop(s, "file") ?: prop(s, "dev") ?: prop(s, "volume") ?: prop(s, "name");
                if (c->json != JSON_FORMAT_OFF) {
                        json_begin_object(&jw);
                        json_member_string(&jw, "type", type ?: "");
                        json_member_string(&jw, "device", dev ?: "disk");
                        json_member_string(&jw, "target", target ?: "");
                        json_member_string(&jw, "source", src ?: "");
                        json_end_object(&jw);
                } else if (details)
                        r = table_add_row(t, (const char *const[]) { type ?: "", dev ?: "disk", target ?: "", src ?: "-" });
                else
                        r = table_add_row(t, (const char *const[]) { target ?: "", src ?: "-" });
                if (r < 0)
                        break;
        }
        xmlFreeDoc(doc);
        if (r < 0)
                return ctl_error(r, "Out of memory");
        if (c->json != JSON_FORMAT_OFF)
                json_end_array(&jw);
        else
                table_print(t, stdout, true);
        return 0;
}

/* domiflist DOMAIN [--inactive] */
int verb_domiflist(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        xmlDocPtr doc = NULL;
        xmlNodePtr devices;
        JsonWriter jw;
        int r = 0;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = domain_devices(c, path, verb_flag(a, "inactive"), &doc, &devices);
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&jw, stdout, c->json);
                json_begin_array(&jw);
        } else
                t = table_new(5, (const char *const[]) { "Interface", "Type", "Source", "Model", "MAC" });
        for (xmlNodePtr n = devices ? devices->children : NULL; n; n = n->next) {
                _cleanup_free_ char *type = NULL, *target = NULL, *src = NULL, *model = NULL, *mac = NULL;
                xmlNodePtr s;

                if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST "interface"))
                        continue;
                type = prop(n, "type");
                target = prop(child(n, "target"), "dev");
                s = child(n, "source");
                src = prop(s, "network") ?: prop(s, "bridge");
                model = prop(child(n, "model"), "type");
                mac = prop(child(n, "mac"), "address");
                if (c->json != JSON_FORMAT_OFF) {
                        json_begin_object(&jw);
                        json_member_string(&jw, "interface", target ?: "");
                        json_member_string(&jw, "type", type ?: "");
                        json_member_string(&jw, "source", src ?: "");
                        json_member_string(&jw, "model", model ?: "");
                        json_member_string(&jw, "mac", mac ?: "");
                        json_end_object(&jw);
                } else
                        r = table_add_row(t, (const char *const[]) { target ?: "-", type ?: "", src ?: "-", model ?: "-",
                                                                     mac ?: "-" });
                if (r < 0)
                        break;
        }
        xmlFreeDoc(doc);
        if (r < 0)
                return ctl_error(r, "Out of memory");
        if (c->json != JSON_FORMAT_OFF)
                json_end_array(&jw);
        else
                table_print(t, stdout, true);
        return 0;
}
