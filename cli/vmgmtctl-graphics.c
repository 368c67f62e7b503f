/* vmgmtctl-graphics.c — vmgmtctl's display verbs: screenshot (Domain.Screenshot
 * into a file; over -H, where no fd passes, Domain.ScreenshotStream through
 * ssh), vncdisplay and domdisplay (where the live XML says the VNC server
 * listens: on the far host with -H). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmgmtctl.h"

/* ---- screenshot ---- */

/* virsh's default: NAME-YYYY-MM-DD-HH:MM:SS.png in the current directory. */
static char *screenshot_default_file(const char *name) {
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        char *file;

        if (!localtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y-%m-%d-%H:%M:%S", &tm) == 0)
                return NULL;
        if (asprintf(&file, "%s-%s.png", name, stamp) < 0)
                return NULL;
        return file;
}

static int parse_screen(const char *s, uint32_t *ret) {
        unsigned long v;
        char *end;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end || s[0] == '-' || v > UINT32_MAX)
                return ctl_error(-EINVAL, "Invalid screen number '%s'.", s);
        *ret = (uint32_t) v;
        return 0;
}

/* Screenshot(h, a{sv}) or ScreenshotStream(a{sv}) (fd < 0) with option screen when given. */
static int screenshot_message(Context *c, const char *path, int fd, const char *screen_s, uint32_t screen,
                              sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, fd >= 0 ? "Screenshot" : "ScreenshotStream", &m);
        if (r < 0)
                return r;
        r = fd >= 0 ? sd_bus_message_append(m, "h", fd) : 0;
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && screen_s)
                r = sd_bus_message_append(m, "{sv}", "screen", "u", screen);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        *ret = TAKE_PTR(m);
        return 0;
}

static int screenshot_call(Context *c, const char *path, int fd, const char *screen_s, uint32_t screen) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = screenshot_message(c, path, fd, screen_s, screen, &m);
        if (r < 0)
                return r;
        return ctl_call(c, m, NULL);
}

/* -H (no fd passing): Domain.ScreenshotStream, its socket through ssh (ctl_stream_open()),
 * the image copied into fd. A stream that ends without a whole PNG is an error. */
static int screenshot_stream(Context *c, const char *path, int fd, const char *screen_s, uint32_t screen) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
        static const uint8_t png_end[8] = { 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82 };
        uint8_t head[8] = {}, tail[8] = {}, buf[65536];
        uint64_t total = 0;
        const char *spath;
        CtlStream st;
        int r;

        r = screenshot_message(c, path, -1, screen_s, screen, &m);
        if (r < 0)
                return r;
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &spath);
        if (r < 0)
                return ctl_error(r, "Failed to parse reply of ScreenshotStream: %s", strerror(-r));
        r = ctl_stream_open(c, spath, &st);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t n = read(st.fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = ctl_error(-errno, "Failed to read the screenshot: %m");
                        break;
                }
                if (n == 0)
                        break;
                for (ssize_t i = 0; i < n; i++) {
                        if (total + (uint64_t) i < sizeof(head))
                                head[total + (uint64_t) i] = buf[i];
                        memmove(tail, tail + 1, sizeof(tail) - 1);
                        tail[sizeof(tail) - 1] = buf[i];
                }
                total += (uint64_t) n;
                if (write(fd, buf, (size_t) n) != n) {
                        r = ctl_error(-errno, "Failed to write the screenshot: %m");
                        break;
                }
        }
        ctl_stream_close(&st);
        if (r >= 0 && (total < 16 || memcmp(head, png_magic, 8) != 0 || memcmp(tail, png_end, 8) != 0))
                r = ctl_error(-EIO, "The screenshot of the far host ended before a whole image came (%" PRIu64
                                    " bytes; vmgmtd's log there says why).", total);
        return r;
}

/* A temporary next to file (same directory, so rename() replaces file
 * atomically), with the mode a new file would get. */
static int screenshot_open_temp(const char *file, char **ret_tmp) {
        const char *slash = strrchr(file, '/');
        _cleanup_free_ char *tmp = NULL;
        mode_t mask;
        int fd;

        /* DIR/.NAME.XXXXXX (or .NAME.XXXXXX in the current directory) */
        if (asprintf(&tmp, "%.*s.%s.XXXXXX", slash ? (int) (slash - file + 1) : 0, file,
                     slash ? slash + 1 : file) < 0)
                return -ENOMEM;
        mask = umask(0);
        umask(mask);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        (void) fchmod(fd, 0666 & ~mask);
        *ret_tmp = TAKE_PTR(tmp);
        return fd;
}

int verb_screenshot(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL, *file = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *screen_s = verb_value(a, "screen");
        uint32_t screen = 0;
        int r;

        if (screen_s) {
                r = parse_screen(screen_s, &screen);
                if (r < 0)
                        return r;
        }
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        file = a->n_args > 1 ? strdup(a->args[1]) : screenshot_default_file(name);
        if (!file)
                return ctl_error(-ENOMEM, "Out of memory.");
        /* FILE itself is replaced only by a complete screenshot: a failed call
         * leaves an existing file as it was and creates nothing */
        fd = screenshot_open_temp(file, &tmp);
        if (fd < 0)
                return ctl_error(fd, "Cannot create a file next to %s: %s", file, strerror(-fd));
        if (sd_bus_can_send(c->bus, SD_BUS_TYPE_UNIX_FD) > 0)
                r = screenshot_call(c, path, fd, screen_s, screen);
        else
                r = screenshot_stream(c, path, fd, screen_s, screen);
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = ctl_error(-errno, "Cannot write %s: %m", file);
        if (r >= 0 && rename(tmp, file) < 0)
                r = ctl_error(-errno, "Cannot rename %s to %s: %m", tmp, file);
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        ctl_info("Screenshot saved to %s, with type of image/png", file);
        return 0;
}

/* ---- vncdisplay, domdisplay ---- */

typedef struct VncListen {
        char *socket;           /* a unix socket path, or */
        char *address;          /* a TCP address (NULL: all) */
        int port;               /* and port */
} VncListen;

static void vnc_listen_done(VncListen *l) {
        free(l->socket);
        free(l->address);
}

static char *xml_prop(xmlNodePtr n, const char *name) {
        xmlChar *v = xmlGetProp(n, BAD_CAST name);
        char *s = v ? strdup((const char *) v) : NULL;

        xmlFree(v);
        return s;
}

static xmlNodePtr xml_child(xmlNodePtr n, const char *name) {
        for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST name))
                        return c;
        return NULL;
}

/* The first <graphics type='vnc'> of a live domain XML. 0, or -ENOENT when
 * there is none (or it does not listen), -EINVAL for XML that does not parse. */
static int vnc_listen_from_xml(const char *xml, VncListen *ret) {
        xmlDocPtr doc;
        xmlNodePtr g = NULL;
        int r = -ENOENT;

        doc = xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc)
                return -EINVAL;
        for (xmlNodePtr n = xml_child(xml_child(xmlDocGetRootElement(doc), "devices"), "graphics"); n; n = n->next) {
                _cleanup_free_ char *type = NULL;

                if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST "graphics"))
                        continue;
                type = xml_prop(n, "type");
                if (streq_ptr(type, "vnc")) {
                        g = n;
                        break;
                }
        }
        if (g) {
                xmlNodePtr listen = xml_child(g, "listen");
                _cleanup_free_ char *ltype = listen ? xml_prop(listen, "type") : NULL;
                _cleanup_free_ char *port = xml_prop(g, "port");

                if (streq_ptr(ltype, "socket")) {
                        ret->socket = xml_prop(listen, "socket");
                        r = ret->socket ? 0 : -ENOENT;
                } else if (!streq_ptr(ltype, "none") && port && atoi(port) > 0) {
                        ret->address = xml_prop(g, "listen");
                        ret->port = atoi(port);
                        r = 0;
                }
        }
        xmlFreeDoc(doc);
        return r;
}

/* The live VNC listener of a running domain; printed errors. */
static int domain_vnc_listen(Context *c, const char *ident, VncListen *ret) {
        _cleanup_free_ char *path = NULL, *name = NULL, *xml = NULL, *state = NULL;
        int r;

        r = domain_resolve(c, ident, &path, &name);
        if (r < 0)
                return r;
        r = sd_bus_get_property_string(c->bus, VMGMT_BUS_NAME, path, VMGMT_DOMAIN_IFACE, "State", NULL, &state);
        if (r < 0)
                return ctl_error(r, "Failed to read the state of domain '%s': %s", name, strerror(-r));
        if (streq(state, "shutoff"))
                return ctl_error(-EINVAL, "Domain '%s' is not running", name);
        r = domain_get_xml(c, path, false, false, &xml);
        if (r < 0)
                return r;
        r = vnc_listen_from_xml(xml, ret);
        if (r == -ENOENT)
                return ctl_error(r, "Domain '%s' has no VNC display", name);
        if (r < 0)
                return ctl_error(r, "Cannot parse the XML of domain '%s'", name);
        return 0;
}

static bool address_is_wildcard(const char *a) {
        return !a || streq(a, "0.0.0.0") || streq(a, "::");
}

/* virsh vncdisplay: ":N" for every address, "ADDR:N" ("[ADDR]:N") for one;
 * a unix socket as its path, which TigerVNC's vncviewer takes as it is. */
static void print_vncdisplay(const VncListen *l) {
        if (l->socket)
                printf("%s\n", l->socket);
        else if (address_is_wildcard(l->address))
                printf(":%d\n", l->port - 5900);
        else if (strchr(l->address, ':'))
                printf("[%s]:%d\n", l->address, l->port - 5900);
        else
                printf("%s:%d\n", l->address, l->port - 5900);
}

/* virsh domdisplay: a URI for remote-viewer: vnc://HOST:DISPLAY, or
 * vnc+unix:///PATH for a unix socket. */
static void print_domdisplay(const VncListen *l) {
        const char *host = address_is_wildcard(l->address) ? "localhost" : l->address;
        bool v6 = strchr(host, ':') != NULL;

        if (l->socket)
                printf("vnc+unix://%s\n", l->socket);
        else
                printf("vnc://%s%s%s:%d\n", v6 ? "[" : "", host, v6 ? "]" : "", l->port - 5900);
}

static int verb_display(Context *c, VerbArgs *a, void (*print)(const VncListen *l)) {
        VncListen l = {};
        int r;

        r = domain_vnc_listen(c, a->args[0], &l);
        if (r < 0)
                return r;
        print(&l);
        vnc_listen_done(&l);
        return 0;
}

int verb_vncdisplay(Context *c, VerbArgs *a) {
        return verb_display(c, a, print_vncdisplay);
}

int verb_domdisplay(Context *c, VerbArgs *a) {
        return verb_display(c, a, print_domdisplay);
}
