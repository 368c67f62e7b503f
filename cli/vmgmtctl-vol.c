/* vmgmtctl-vol.c — vmgmtctl's storage volume verbs (vol-*). */
#include <errno.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmgmtctl.h"

static bool has_prefix(const char *s, const char *prefix) {
        return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The volume vol names: in pool_name (when not NULL) by name; else a path (or key). */
static int vol_lookup(Context *c, const char *pool_name, const char *vol, char **ret_path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *pool = NULL;
        int r;

        if (pool_name) {
                r = pool_resolve(c, pool_name, &pool);
                if (r < 0)
                        return r;
                r = ctl_new_call(c, pool, VMGMT_POOL_IFACE, "GetVolume", &m);
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", vol);
        } else if (vol[0] == '/') {
                r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "GetVolumeByPath", &m);
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", vol);
        } else
                return ctl_error(-EINVAL, "failed to get vol '%s': no --pool given and not a path", vol);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        return ctl_reply_read_path(reply, sd_bus_message_get_member(m), ret_path);
}

/* The volume VOL names: with --pool, its volume of that name; else a path. */
static int vol_resolve(Context *c, VerbArgs *a, const char *vol, char **ret_path) {
        return vol_lookup(c, verb_value(a, "pool"), vol, ret_path);
}

static char *vol_name_of(Context *c, const char *path) {
        return ctl_object_name(c, path, VMGMT_VOLUME_IFACE);
}

/* ---- verbs ---- */

/* The properties of a volume that vol-list and vol-info show. */
typedef struct VolRow {
        char *name, *key, *path, *format;
        uint64_t capacity, allocation;
} VolRow;

static void vol_row_done(VolRow *v) {
        free(v->name);
        free(v->key);
        free(v->path);
        free(v->format);
}

static int vol_row_get(Context *c, const char *path, VolRow *v) {
        int r = storage_get_string(c, path, VMGMT_VOLUME_IFACE, "Name", &v->name);
        if (r >= 0)
                r = storage_get_string(c, path, VMGMT_VOLUME_IFACE, "Key", &v->key);
        if (r >= 0)
                r = storage_get_string(c, path, VMGMT_VOLUME_IFACE, "Path", &v->path);
        if (r >= 0)
                r = storage_get_string(c, path, VMGMT_VOLUME_IFACE, "Format", &v->format);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_VOLUME_IFACE, "Capacity", 't', &v->capacity);
        if (r >= 0)
                r = storage_get_trivial(c, path, VMGMT_VOLUME_IFACE, "Allocation", 't', &v->allocation);
        return r;
}

static const char *vol_type(const VolRow *v) {
        return has_prefix(v->path, "/dev/") ? "block" : "file";
}

static void vol_row_json(JsonWriter *w, const VolRow *v) {
        json_begin_object(w);
        json_member_string(w, "name", v->name);
        json_member_string(w, "key", v->key);
        json_member_string(w, "path", v->path);
        json_member_string(w, "type", vol_type(v));
        json_member_string(w, "format", v->format);
        json_member_unsigned(w, "capacity", v->capacity);
        json_member_unsigned(w, "allocation", v->allocation);
        json_end_object(w);
}

int verb_vol_list(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        _cleanup_free_ char *pool = NULL;
        bool details = verb_flag(a, "details");
        JsonWriter w;
        const char *path;
        int r;

        r = pool_resolve(c, a->args[0], &pool);
        if (r < 0)
                return r;
        r = ctl_new_call(c, pool, VMGMT_POOL_IFACE, "ListVolumes", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 0);
        if (r < 0)
                return r;
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        t = table_new(details ? 5 : 2, (const char *const[]) { "Name", "Path", "Type", "Capacity", "Allocation" });
        if (!t)
                return ctl_error(-ENOMEM, "Out of memory");
        r = sd_bus_message_enter_container(reply, 'a', "o");
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&w, stdout, c->json);
                json_begin_array(&w);
        }
        while ((r = sd_bus_message_read(reply, "o", &path)) > 0) {
                VolRow v = {};
                char cs[32], as[32];

                if (vol_row_get(c, path, &v) < 0) {
                        vol_row_done(&v);
                        continue;   /* gone meanwhile */
                }
                if (c->json != JSON_FORMAT_OFF) {
                        vol_row_json(&w, &v);
                        vol_row_done(&v);
                        continue;
                }
                storage_format_size(v.capacity, cs, sizeof(cs));
                storage_format_size(v.allocation, as, sizeof(as));
                r = table_add_row(t, (const char *const[]) { v.name, v.path, vol_type(&v), cs, as });
                vol_row_done(&v);
                if (r < 0)
                        return ctl_error(r, "Out of memory");
        }
        if (c->json != JSON_FORMAT_OFF) {
                json_end_array(&w);
                return 0;
        }
        table_print(t, stdout, true);
        printf("\n");
        return 0;
}

/* Calls m with a long timeout (a preallocated create or a wipe takes as long as the disk needs). */
static int call_long(Context *c, sd_bus_message *m, sd_bus_message **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        ctl_polkit_agent_open_for(c, m);
        r = sd_bus_call(c->bus, m, 24ULL * 3600 * 1000000, &error, ret);
        if (r < 0)
                return ctl_bus_error(&error, r);
        return 0;
}

static int create_in_pool(Context *c, const char *pool_name, const char *xml, bool prealloc_metadata,
                          char **ret_path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *pool = NULL;
        int r;

        r = pool_resolve(c, pool_name, &pool);
        if (r < 0)
                return r;
        r = ctl_new_call(c, pool, VMGMT_POOL_IFACE, "CreateVolume", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", xml);
        if (r >= 0)
                r = ctl_append_flags(m, "prealloc_metadata", prealloc_metadata, NULL);
        if (r < 0)
                return r;
        r = call_long(c, m, &reply);
        if (r < 0)
                return r;
        return ctl_reply_read_path(reply, "CreateVolume", ret_path);
}

int verb_vol_create(Context *c, VerbArgs *a) {
        _cleanup_free_ char *xml = NULL, *path = NULL, *name = NULL;
        int r;

        r = storage_read_file(a->args[1], &xml);
        if (r < 0)
                return r;
        r = create_in_pool(c, a->args[0], xml, verb_flag(a, "prealloc-metadata"), &path);
        if (r < 0)
                return r;
        name = vol_name_of(c, path);
        ctl_info("Vol %s created from %s", strempty(name), a->args[1]);
        return 0;
}

/* vol-create-as POOL NAME CAPACITY [--allocation SIZE] [--format FMT] [--backing-vol VOL] [--backing-vol-format FMT] */
int verb_vol_create_as(Context *c, VerbArgs *a) {
        _cleanup_free_ char *xml = NULL, *path = NULL, *backing = NULL, *backing_fmt = NULL;
        const char *alloc_s = verb_value(a, "allocation"), *fmt = verb_value(a, "format");
        const char *bvol = verb_value(a, "backing-vol"), *bfmt = verb_value(a, "backing-vol-format");
        uint64_t capacity, allocation = 0;
        size_t len = 0;
        FILE *f;
        int r;

        if (storage_parse_scaled(a->args[2], &capacity) < 0)
                return ctl_error(-EINVAL, "Malformed size %s", a->args[2]);
        if (alloc_s && storage_parse_scaled(alloc_s, &allocation) < 0)
                return ctl_error(-EINVAL, "Malformed size %s", alloc_s);
        if (bvol) {
                _cleanup_free_ char *bpath = NULL;
                /* the backing volume: in the same pool by name, or a path */
                r = vol_lookup(c, bvol[0] == '/' ? NULL : a->args[0], bvol, &bpath);
                if (r < 0)
                        return r;
                r = storage_get_string(c, bpath, VMGMT_VOLUME_IFACE, "Path", &backing);
                if (r >= 0 && !bfmt)
                        r = storage_get_string(c, bpath, VMGMT_VOLUME_IFACE, "Format", &backing_fmt);
                if (r < 0)
                        return r;
                if (!fmt)
                        fmt = "qcow2";
        }
        f = open_memstream(&xml, &len);
        if (!f)
                return ctl_error(-ENOMEM, "Out of memory");
        fputs("<volume>\n  <name>", f);
        storage_xml_escape_to(f, a->args[1]);
        fprintf(f, "</name>\n  <capacity unit='bytes'>%" PRIu64 "</capacity>\n", capacity);
        if (alloc_s)
                fprintf(f, "  <allocation unit='bytes'>%" PRIu64 "</allocation>\n", allocation);
        if (fmt) {
                fputs("  <target>\n    <format type='", f);
                storage_xml_escape_to(f, fmt);
                fputs("'/>\n  </target>\n", f);
        }
        if (backing) {
                fputs("  <backingStore>\n    <path>", f);
                storage_xml_escape_to(f, backing);
                fputs("</path>\n    <format type='", f);
                storage_xml_escape_to(f, bfmt ?: backing_fmt);
                fputs("'/>\n  </backingStore>\n", f);
        }
        fputs("</volume>\n", f);
        fclose(f);
        if (verb_flag(a, "print-xml")) {
                fputs(xml, stdout);
                return 0;
        }
        r = create_in_pool(c, a->args[0], xml, verb_flag(a, "prealloc-metadata"), &path);
        if (r < 0)
                return r;
        ctl_info("Vol %s created", a->args[1]);
        return 0;
}

/* vol-clone VOL NEWNAME [--pool POOL] [--newpool POOL]: the copy goes to the source's pool, or to --newpool. */
int verb_vol_clone(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *src = NULL, *pool = NULL, *xml = NULL, *name = NULL;
        const char *job;
        size_t len = 0;
        FILE *f;
        int r;

        r = vol_resolve(c, a, a->args[0], &src);
        if (r < 0)
                return r;
        if (verb_value(a, "newpool")) {
                r = pool_resolve(c, verb_value(a, "newpool"), &pool);
                if (r < 0)
                        return r;
        } else {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *pm = NULL;
                const char *o;

                r = sd_bus_get_property(c->bus, VMGMT_BUS_NAME, src, VMGMT_VOLUME_IFACE, "Pool", &error, &pm, "o");
                if (r < 0)
                        return ctl_bus_error(&error, r);
                r = sd_bus_message_read(pm, "o", &o);
                if (r < 0)
                        return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
                pool = strdup(o);
                if (!pool)
                        return ctl_error(-ENOMEM, "Out of memory");
        }
        name = vol_name_of(c, src);
        f = open_memstream(&xml, &len);
        if (!f)
                return ctl_error(-ENOMEM, "Out of memory");
        fputs("<volume>\n  <name>", f);
        storage_xml_escape_to(f, a->args[1]);
        fputs("</name>\n  <capacity unit='bytes'>0</capacity>\n</volume>\n", f);
        fclose(f);
        r = ctl_new_call(c, pool, VMGMT_POOL_IFACE, "CloneVolume", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "soa{sv}", xml, src, 0);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        r = ctl_follow_job(c, job);
        if (r < 0)
                return r;
        ctl_info("Vol %s cloned from %s", a->args[1], name ?: a->args[0]);
        return 0;
}

/* Calls member(a{sv}) (with Resize's capacity first) on a volume. */
static int vol_call(Context *c, const char *path, const char *member, bool has_capacity, uint64_t capacity,
                    const char *const *flags, const bool *values, size_t n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = ctl_new_call(c, path, VMGMT_VOLUME_IFACE, member, &m);
        if (r < 0)
                return r;
        if (has_capacity)
                r = sd_bus_message_append(m, "t", capacity);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (values[i])
                        r = sd_bus_message_append(m, "{sv}", flags[i], "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return call_long(c, m, NULL);
}

/* vol-delete, vol-wipe: member() on the volume, then virsh's line. */
static int vol_simple(Context *c, VerbArgs *a, const char *member, const char *done) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = vol_resolve(c, a, a->args[0], &path);
        if (r < 0)
                return r;
        r = vol_call(c, path, member, false, 0, NULL, NULL, 0);
        if (r < 0)
                return r;
        ctl_info("Vol %s %s", a->args[0], done);
        return 0;
}

int verb_vol_delete(Context *c, VerbArgs *a) {
        return vol_simple(c, a, "Delete", "deleted");
}

int verb_vol_wipe(Context *c, VerbArgs *a) {
        return vol_simple(c, a, "Wipe", "wiped");
}

int verb_vol_resize(Context *c, VerbArgs *a) {
        static const char *const flags[] = { "allocate", "delta", "shrink" };
        _cleanup_free_ char *path = NULL;
        const char *size = a->args[1];
        bool values[3] = { verb_flag(a, "allocate"), verb_flag(a, "delta"), verb_flag(a, "shrink") };
        uint64_t capacity;
        int r;

        if (size[0] == '-')
                return ctl_error(-EINVAL, "negative size requires --shrink and is not supported; give the new size");
        if (storage_parse_scaled(size, &capacity) < 0)
                return ctl_error(-EINVAL, "Malformed size %s", size);
        r = vol_resolve(c, a, a->args[0], &path);
        if (r < 0)
                return r;
        r = vol_call(c, path, "Resize", true, capacity, flags, values, 3);
        if (r < 0)
                return r;
        ctl_info("Size of volume '%s' successfully changed to %s", a->args[0], size);
        return 0;
}

int verb_vol_info(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *pool = NULL;
        VolRow v = {};
        char buf[32];
        int r;

        r = vol_resolve(c, a, a->args[0], &path);
        if (r < 0)
                return r;
        r = vol_row_get(c, path, &v);
        if (r < 0) {
                vol_row_done(&v);
                return r;
        }
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;
                json_writer_init(&w, stdout, c->json);
                vol_row_json(&w, &v);
                vol_row_done(&v);
                return 0;
        }
        printf("%-15s %s\n", "Name:", v.name);
        printf("%-15s %s\n", "Type:", vol_type(&v));
        storage_format_size(v.capacity, buf, sizeof(buf));
        printf("%-15s %s\n", "Capacity:", buf);
        storage_format_size(v.allocation, buf, sizeof(buf));
        printf("%-15s %s\n", "Allocation:", buf);
        vol_row_done(&v);
        return 0;
}

/* vol-key, vol-path VOL [--pool POOL], vol-name KEY-OR-PATH: one property of a volume. */
int verb_vol_property(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *value = NULL;
        const char *property = streq(a->verb, "vol-key") ? "Key" : streq(a->verb, "vol-name") ? "Name" : "Path";
        int r;

        r = vol_resolve(c, a, a->args[0], &path);
        if (r < 0)
                return r;
        r = storage_get_string(c, path, VMGMT_VOLUME_IFACE, property, &value);
        if (r < 0)
                return r;
        printf("%s\n", value);
        return 0;
}

int verb_vol_dumpxml(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *xml = NULL;
        int r;

        r = vol_resolve(c, a, a->args[0], &path);
        if (r < 0)
                return r;
        r = ctl_get_xml(c, path, VMGMT_VOLUME_IFACE, false, false, &xml);
        if (r < 0)
                return r;
        fputs(xml, stdout);
        return 0;
}

int verb_vol_path(Context *c, VerbArgs *a) {
        return verb_vol_property(c, a);
}

/* Upload/Download (fd ≥ 0) or UploadStream/DownloadStream (fd < 0) of volume path with the options given. */
static int transfer_call(Context *c, const char *path, bool upload, int fd, const char *offset_s, uint64_t offset,
                         const char *length_s, uint64_t length, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        const char *method = upload ? (fd >= 0 ? "Upload" : "UploadStream") : (fd >= 0 ? "Download" : "DownloadStream");
        int r;

        r = ctl_new_call(c, path, VMGMT_VOLUME_IFACE, method, &m);
        if (r >= 0 && fd >= 0)
                r = sd_bus_message_append(m, "h", fd);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && offset_s)
                r = sd_bus_message_append(m, "{sv}", "offset", "t", offset);
        if (r >= 0 && length_s)
                r = sd_bus_message_append(m, "{sv}", "length", "t", length);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return ctl_call(c, m, ret_reply);
}

/* Over -H (no fds on ssh's bridge): UploadStream/DownloadStream, the bytes through ssh's forwarding of
 * the far one-shot socket, then the job's end. fd: the local file. */
static int vol_transfer_stream(Context *c, const char *file, const char *path, bool upload, int fd,
                               const char *offset_s, uint64_t offset, const char *length_s, uint64_t length) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *spath, *job;
        CtlStream st;
        struct stat sb;
        int r;

        if (upload && !length_s) {
                /* the far side must know where the bytes end (a dropped connection looks the same) */
                if (fstat(fd, &sb) < 0)
                        return ctl_error(-errno, "cannot stat %s: %m", file);
                length = (uint64_t) sb.st_size;
                length_s = "";
        }
        r = transfer_call(c, path, upload, -EBADF, offset_s, offset, length_s, length, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "so", &spath, &job);
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        r = ctl_stream_open(c, spath, &st);
        if (r < 0)
                return r;
        r = upload ? ctl_copy_fd(fd, st.fd) : ctl_copy_fd(st.fd, fd);
        if (r >= 0 && upload)
                (void) shutdown(st.fd, SHUT_WR);
        if (r < 0) {
                ctl_stream_close(&st);
                return ctl_error(r, "%s %s through the stream: %s", upload ? "cannot send" : "cannot receive",
                                 file, strerror(-r));
        }
        r = ctl_follow_job(c, job);   /* the far side's word on whether every byte arrived */
        ctl_stream_close(&st);
        return r;
}

int ctl_volume_upload(Context *c, const char *vol_path, int fd, const char *file) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *job;
        int r;

        if (sd_bus_can_send(c->bus, SD_BUS_TYPE_UNIX_FD) <= 0) {
                if (!c->host)
                        return ctl_error(-EOPNOTSUPP, "Uploading %s passes a file descriptor, which this connection "
                                                      "cannot carry.", file);
                return vol_transfer_stream(c, file, vol_path, true, fd, NULL, 0, NULL, 0);
        }
        r = transfer_call(c, vol_path, true, fd, NULL, 0, NULL, 0, &reply);
        if (r < 0)
                return r;
        if ((r = sd_bus_message_read(reply, "o", &job)) < 0)
                return ctl_error(r, "Failed to parse Upload's reply: %s", strerror(-r));
        return ctl_follow_job(c, job);
}

/* vol-upload VOL FILE / vol-download VOL FILE [--pool POOL] [--offset N] [--length N] */
int verb_vol_transfer(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        bool upload = streq(a->verb, "vol-upload");
        const char *offset_s = verb_value(a, "offset"), *length_s = verb_value(a, "length"), *job;
        uint64_t offset = 0, length = 0;
        int r;

        if ((offset_s && storage_parse_scaled(offset_s, &offset) < 0) ||
            (length_s && storage_parse_scaled(length_s, &length) < 0))
                return ctl_error(-EINVAL, "Malformed offset or length");
        /* without fd passing (-H's ssh bridge) the bytes go through a stream */
        bool stream = sd_bus_can_send(c->bus, SD_BUS_TYPE_UNIX_FD) <= 0;
        if (stream && !c->host)
                return ctl_error(-EOPNOTSUPP, "%s passes a file descriptor, which this connection cannot carry "
                                 "(and it is not -H's, whose streams ssh forwards).", a->verb);
        r = vol_resolve(c, a, a->args[0], &path);
        if (r < 0)
                return r;
        fd = upload ? open(a->args[1], O_RDONLY | O_CLOEXEC)
                    : open(a->args[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0)
                return ctl_error(-errno, "cannot open %s: %m", a->args[1]);
        if (stream)
                return vol_transfer_stream(c, a->args[1], path, upload, fd, offset_s, offset, length_s, length);
        r = transfer_call(c, path, upload, fd, offset_s, offset, length_s, length, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        return ctl_follow_job(c, job);
}
