/* vmgmtctl-secret.c — vmgmtctl's secret verbs (secret-*), with virsh's output. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "vmgmtctl.h"

#define VMGMT_SECRET_IFACE "org.vmgmt.Secret"
#define SECRET_VALUE_MAX (64u * 1024u)

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* RFC 4648 base64 with padding (malloc'd, NUL-terminated; NULL: out of memory). */
static char *b64_encode(const uint8_t *p, size_t n) {
        char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0) |
                             (i + 2 < n ? p[i + 2] : 0);
                *o++ = b64_alphabet[v >> 18 & 63];
                *o++ = b64_alphabet[v >> 12 & 63];
                *o++ = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
                *o++ = i + 2 < n ? b64_alphabet[v & 63] : '=';
        }
        *o = 0;
        return out;
}

/* Decodes base64 (whitespace ignored, padding optional). Returns 0 with *ret
 * (malloc'd) and *ret_len, -EINVAL for text that is not base64, -ENOMEM. */
static int b64_decode(const char *s, uint8_t **ret, size_t *ret_len) {
        uint8_t *out = malloc(strlen(s) / 4 * 3 + 3);
        uint32_t acc = 0;
        size_t n = 0, bits = 0;
        bool pad = false;

        if (!out)
                return -ENOMEM;
        for (const char *c = s; *c; c++) {
                const char *q;

                if (strchr(" \t\r\n", *c))
                        continue;
                if (*c == '=') {
                        pad = true;
                        continue;
                }
                q = strchr(b64_alphabet, *c);
                if (!q || pad) {
                        free(out);
                        return -EINVAL;
                }
                acc = acc << 6 | (uint32_t) (q - b64_alphabet);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (uint8_t) (acc >> bits);
                }
        }
        if (bits >= 6) {   /* one stray character */
                free(out);
                return -EINVAL;
        }
        *ret = out;
        *ret_len = n;
        return 0;
}

static void wipe_free(void *p, size_t n) {
        if (p)
                explicit_bzero(p, n);
        free(p);
}

static int secret_resolve(Context *c, const char *uuid_or_usage, char **ret_path) {
        return ctl_manager_call_path(c, "GetSecret", uuid_or_usage, false, ret_path);
}

int verb_secret_define(Context *c, VerbArgs *a) {
        _cleanup_free_ char *xml = NULL, *path = NULL, *uuid = NULL;
        int r;

        r = ctl_read_file(a->args[0], &xml);
        if (r < 0)
                return r;
        r = ctl_manager_call_path(c, "DefineSecret", xml, true, &path);
        if (r < 0)
                return r;
        r = storage_get_string(c, path, VMGMT_SECRET_IFACE, "UUID", &uuid);
        if (r < 0)
                return r;
        ctl_info("Secret %s created", uuid);
        return 0;
}

int verb_secret_undefine(Context *c, VerbArgs *a) {
        int r = 0;

        /* virsh takes several: each is undefined in turn, the first failure ends it */
        for (size_t i = 0; i < a->n_args && r >= 0; i++) {
                _cleanup_free_ char *path = NULL, *uuid = NULL;

                r = secret_resolve(c, a->args[i], &path);
                if (r >= 0)
                        r = storage_get_string(c, path, VMGMT_SECRET_IFACE, "UUID", &uuid);
                if (r >= 0)
                        r = ctl_object_call(c, path, VMGMT_SECRET_IFACE, "Undefine", NULL);
                if (r >= 0)
                        ctl_info("Secret %s deleted", uuid);
        }
        return r;
}

int verb_secret_dumpxml(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *xml = NULL;
        int r;

        r = secret_resolve(c, a->args[0], &path);
        if (r < 0)
                return r;
        r = ctl_get_xml(c, path, VMGMT_SECRET_IFACE, false, false, &xml);
        if (r < 0)
                return r;
        fputs(xml, stdout);
        return 0;
}

int verb_secret_list(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        bool json = c->json != JSON_FORMAT_OFF;
        JsonWriter w;
        const char *path;
        int r;

        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "ListSecrets", &m);
        if (r >= 0)
                r = ctl_append_flags(m, NULL);
        if (r < 0)
                return ctl_error(r, "Failed to build the call: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "o");
        if (r < 0)
                return ctl_error(r, "Bad reply to ListSecrets: %s", strerror(-r));
        t = table_new(2, (const char *const[]) { "UUID", "Usage" });
        if (!t)
                return ctl_error(-ENOMEM, "Out of memory");
        if (json) {
                json_writer_init(&w, stdout, c->json);
                json_begin_array(&w);
        }
        while ((r = sd_bus_message_read(reply, "o", &path)) > 0) {
                _cleanup_free_ char *uuid = NULL, *type = NULL, *id = NULL, *usage = NULL, *desc = NULL;
                int eph = 0, priv = 0;

                if (storage_get_string(c, path, VMGMT_SECRET_IFACE, "UUID", &uuid) < 0 ||
                    storage_get_string(c, path, VMGMT_SECRET_IFACE, "UsageType", &type) < 0 ||
                    storage_get_string(c, path, VMGMT_SECRET_IFACE, "UsageID", &id) < 0 ||
                    storage_get_string(c, path, VMGMT_SECRET_IFACE, "Description", &desc) < 0 ||
                    storage_get_trivial(c, path, VMGMT_SECRET_IFACE, "Ephemeral", 'b', &eph) < 0 ||
                    storage_get_trivial(c, path, VMGMT_SECRET_IFACE, "Private", 'b', &priv) < 0)
                        continue;   /* gone meanwhile */
                if (json) {
                        json_begin_object(&w);
                        json_member_string(&w, "uuid", uuid);
                        json_member_string(&w, "usage_type", type);
                        json_member_string(&w, "usage_id", id);
                        json_member_string(&w, "description", desc);
                        json_member_bool(&w, "ephemeral", eph);
                        json_member_bool(&w, "private", priv);
                        json_end_object(&w);
                        continue;
                }
                /* virsh: "TYPE ID", or "Unused" for a secret without a usage */
                if (asprintf(&usage, "%s %s", type, id) < 0)
                        return ctl_error(-ENOMEM, "Out of memory");
                r = table_add_row(t, (const char *const[]) { uuid, *type ? usage : "Unused" });
                if (r < 0)
                        return ctl_error(r, "Out of memory");
        }
        if (json) {
                json_end_array(&w);
                return 0;
        }
        table_print(t, stdout, true);
        printf("\n");
        return 0;
}

/* --interactive: a line read from the terminal without echo ("Enter new value
 * for secret:", as virsh), or from stdin when it is not a terminal. */
static int read_interactive(char **ret, size_t *ret_len) {
        struct termios saved, quiet;
        bool tty = isatty(STDIN_FILENO);
        char *line = NULL;
        size_t size = 0;
        ssize_t n;

        if (tty) {
                fputs("Enter new value for secret:", stderr);
                fflush(stderr);
                if (tcgetattr(STDIN_FILENO, &saved) < 0)
                        return ctl_error(-errno, "Cannot read the terminal: %m");
                quiet = saved;
                quiet.c_lflag &= ~(tcflag_t) ECHO;
                (void) tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        }
        n = getline(&line, &size, stdin);
        if (tty) {
                (void) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
                fputs("\n", stderr);
        }
        if (n < 0) {
                free(line);
                return ctl_error(-EINVAL, "No value given");
        }
        if (n > 0 && line[n - 1] == '\n')
                line[--n] = 0;
        *ret = line;
        *ret_len = (size_t) n;
        return 0;
}

int verb_secret_set_value(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL;
        const char *b64 = verb_value(a, "base64"), *file = verb_value(a, "file");
        bool interactive = verb_flag(a, "interactive"), plain = verb_flag(a, "plain");
        char *text = NULL;
        uint8_t *value = NULL;
        size_t text_len = 0, len = 0;
        int r;

        if (!!b64 + !!file + interactive != 1)
                return ctl_error(-EINVAL, "Give exactly one of --base64, --file and --interactive");
        if (plain && b64)
                return ctl_error(-EINVAL, "--plain goes with --file or --interactive");
        r = secret_resolve(c, a->args[0], &path);
        if (r < 0)
                return r;
        if (b64) {
                r = b64_decode(b64, &value, &len);
                if (r < 0)
                        return ctl_error(r, "--base64: not base64");
        } else {
                if (file) {
                        r = ctl_read_file(file, &text);
                        text_len = text ? strlen(text) : 0;
                } else
                        r = read_interactive(&text, &text_len);
                if (r < 0)
                        return r;
                /* virsh: a --file holds base64 unless --plain; --interactive reads the value as it is */
                if (plain || interactive) {
                        value = (uint8_t *) text;
                        len = text_len;
                        text = NULL;
                } else {
                        r = b64_decode(text, &value, &len);
                        wipe_free(text, text_len);
                        if (r < 0)
                                return ctl_error(r, "%s: not base64 (--plain takes the file as it is)", file);
                }
        }
        if (len > SECRET_VALUE_MAX) {
                wipe_free(value, len);
                return ctl_error(-E2BIG, "A secret's value is at most %u bytes", SECRET_VALUE_MAX);
        }
        r = ctl_new_call(c, path, VMGMT_SECRET_IFACE, "SetValue", &m);
        if (r >= 0)
                r = sd_bus_message_sensitive(m);
        if (r >= 0)
                r = sd_bus_message_append_array(m, 'y', value ?: (uint8_t *) "", len);
        wipe_free(value, len);
        if (r >= 0)
                r = ctl_append_flags(m, NULL);
        if (r < 0)
                return ctl_error(r, "Failed to build the call: %s", strerror(-r));
        r = ctl_call(c, m, NULL);
        if (r < 0)
                return r;
        ctl_info("Secret value set");
        return 0;
}

int verb_secret_get_value(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL;
        const void *data;
        size_t len;
        int r;

        r = secret_resolve(c, a->args[0], &path);
        if (r < 0)
                return r;
        r = ctl_new_call(c, path, VMGMT_SECRET_IFACE, "GetValue", &m);
        if (r >= 0)
                r = ctl_append_flags(m, NULL);
        if (r < 0)
                return ctl_error(r, "Failed to build the call: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read_array(reply, 'y', &data, &len);
        if (r < 0)
                return ctl_error(r, "Bad reply to GetValue: %s", strerror(-r));
        if (verb_flag(a, "plain")) {
                fwrite(data, 1, len, stdout);
                return 0;
        }
        char *b64 = b64_encode(data, len);
        if (!b64)
                return ctl_error(-ENOMEM, "Out of memory");
        printf("%s\n", b64);
        wipe_free(b64, strlen(b64));
        return 0;
}
