/* domain-graphics.c — org.vmgmt.Domain's display methods: OpenGraphics (a
 * connected fd to the VNC server) and Screenshot (a PNG written to the caller's
 * fd). Arguments are checked here against the live definition, so a caller
 * learns which device or screen does not exist; the driver does the I/O. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-graphics.h"
#include "domain-stream.h"
#include "domain.h"
#include "log.h"

static int graphics_authorize(VmDomain *d, sd_bus_message *message, sd_bus_error *error) {
        const char *details[] = { "domain", d->name, "domain_uuid", d->uuid, NULL };

        return vm_authorize(d->manager, message, VM_ACTION_DOMAIN_CONSOLE, details, error);
}

static int graphics_check_running(VmDomain *d, sd_bus_error *error) {
        if (!vm_domain_is_active(d))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        return 0;
}

/* ---- OpenGraphics ---- */

/* OpenGraphics: the connection in the reply; OpenGraphicsStream: behind a one-shot socket
 * (domain-stream.h), its path in the reply. */
static void open_graphics_done(void *userdata, int r, int fd, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_close_ int conn = fd;
        _cleanup_free_ char *path = NULL;
        VmOp *op = userdata;
        bool stream = streq_ptr(sd_bus_message_get_member(op->message), "OpenGraphicsStream");
        uid_t uid;

        if (r >= 0 && stream) {
                r = vm_stream_caller_uid(op->manager, op->message, &uid);
                if (r >= 0)
                        r = vm_stream_new(op->manager, uid, TAKE_FD(conn), "display", &path);
        }
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to open the display of domain '%s'",
                                                            op->domain->name);
                bus_error_from_errno(&error, r, message, what);
                (void) sd_bus_reply_method_error(op->message, &error);
        } else if (stream)
                (void) sd_bus_reply_method_return(op->message, "s", path);
        else
                (void) sd_bus_reply_method_return(op->message, "h", conn);   /* sd-bus sends a copy */
        vm_op_free(op);
}

/* The <graphics> at index must exist and listen somewhere. */
static int graphics_check_device(VmDomain *d, uint32_t index, sd_bus_error *error) {
        const DomainDef *def = vm_domain_current_def(d);
        const DomainGraphicsDef *g;

        if (def->n_graphics == 0)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "Domain '%s' has no graphics device", d->name);
        if (index >= def->n_graphics)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Domain '%s' has no graphics device %u (it has %zu)", d->name, index,
                                         def->n_graphics);
        g = &def->graphics[index];
        if (!streq_ptr(g->type, "vnc"))
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "Graphics device %u of domain '%s' is of type '%s'; only VNC can be opened",
                                         index, d->name, strempty(g->type));
        if (streq_ptr(g->listen_type, "none"))
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "The VNC server of domain '%s' does not listen (<listen type='none'/>)",
                                         d->name);
        return 0;
}

int domain_method_open_graphics(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(vm_domain_unrefp) VmDomain *d = vm_domain_ref(userdata);
        const DomainDriverOps *ops = d->drv->ops;
        uint32_t index = 0;
        const BusOption options[] = { { "index", "u", &index }, {} };
        VmOp *op;
        int r;

        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        r = graphics_authorize(d, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = graphics_check_running(d, error);
        if (r >= 0)
                r = graphics_check_device(d, index, error);
        if (r < 0)
                return r;
        if (!ops->open_graphics)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver has no display access", ops->name);

        op = vm_op_new(d, message, "display connection");
        r = ops->open_graphics(d->rt, index, open_graphics_done, op);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to open the display of domain '%s'", d->name);
                vm_op_free(op);
                return bus_error_from_errno(error, r, NULL, what);
        }
        return 1;
}

/* the same call: open_graphics_done() tells them apart by the member */
int domain_method_open_graphics_stream(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return domain_method_open_graphics(message, userdata, error);
}

/* ---- Screenshot ---- */

static void screenshot_done(void *userdata, int r, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        VmOp *op = userdata;

        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to take a screenshot of domain '%s'",
                                                            op->domain->name);
                bus_error_from_errno(&error, r, message, what);
                (void) sd_bus_reply_method_error(op->message, &error);
        } else
                (void) sd_bus_reply_method_return(op->message, NULL);
        vm_op_free(op);
}

/* Screens are the heads of the video devices, in order. */
static int screenshot_check_screen(VmDomain *d, uint32_t screen, sd_bus_error *error) {
        const DomainDef *def = vm_domain_current_def(d);
        unsigned n = 0;

        for (size_t i = 0; i < def->n_videos; i++)
                if (!streq_ptr(def->videos[i].model, "none"))
                        n += def->videos[i].heads ? def->videos[i].heads : 1;
        if (n == 0)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "Domain '%s' has no video device to take a screenshot of", d->name);
        if (screen >= n)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Domain '%s' has no screen %u (it has %u)",
                                         d->name, screen, n);
        return 0;
}

static int screenshot_check_fd(int fd, sd_bus_error *error) {
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return sd_bus_error_set_errnof(error, errno, "Cannot use the file descriptor: %m");
        if ((flags & O_PATH) || (flags & O_ACCMODE) == O_RDONLY)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "The file descriptor for the screenshot is not open for writing");
        return 0;
}

/* ScreenshotStream: the image went into the stream (or did not: its end tells). */
static void screenshot_stream_done(void *userdata, int r, const char *message) {
        VmOp *op = userdata;

        if (r < 0)
                log_info("Screenshot of domain '%s' into a stream failed: %s", op->domain->name,
                         message ?: strerror(-r));
        vm_op_free(op);
}

static int screenshot(sd_bus_message *message, void *userdata, bool stream, sd_bus_error *error) {
        _cleanup_(vm_domain_unrefp) VmDomain *d = vm_domain_ref(userdata);
        const DomainDriverOps *ops = d->drv->ops;
        uint32_t screen = 0;
        const BusOption options[] = { { "screen", "u", &screen }, {} };
        _cleanup_close_ int pair0 = -1, pair1 = -1;
        _cleanup_free_ char *path = NULL;
        VmOp *op;
        int fd, r;

        /* Authorized before the arguments are looked at: a refused caller
         * learns nothing about the domain's devices. */
        r = graphics_authorize(d, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (stream) {
                int pair[2];

                /* the image goes into one end; the other waits for the caller's connection */
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                        return sd_bus_error_set_errnof(error, errno, "Cannot make the stream: %m");
                pair0 = pair[0];
                pair1 = pair[1];
                (void) shutdown(pair0, SHUT_RD);
                fd = pair0;
        } else {
                r = sd_bus_message_read(message, "h", &fd);
                if (r < 0)
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                                "Screenshot needs a file descriptor (h)");
        }
        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        r = screenshot_check_fd(fd, error);
        if (r >= 0)
                r = graphics_check_running(d, error);
        if (r >= 0)
                r = screenshot_check_screen(d, screen, error);
        if (r < 0)
                return r;
        if (!ops->screenshot)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver cannot take screenshots", ops->name);

        if (stream) {
                uid_t uid;

                r = vm_stream_caller_uid(d->manager, message, &uid);
                if (r >= 0)
                        r = vm_stream_new(d->manager, uid, TAKE_FD(pair1), "screenshot", &path);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, r, "Failed to offer the screenshot of domain '%s': %m",
                                                       d->name);
        }
        /* a stream's call is answered now, with the path: its op answers nobody */
        op = vm_op_new(d, stream ? NULL : message, "screenshot");
        r = ops->screenshot(d->rt, fd, screen, stream ? screenshot_stream_done : screenshot_done, op);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to take a screenshot of domain '%s'", d->name);
                vm_op_free(op);
                return bus_error_from_errno(error, r, NULL, what);
        }
        if (stream)
                return sd_bus_reply_method_return(message, "s", path);
        return 1;
}

int domain_method_screenshot(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return screenshot(message, userdata, false, error);
}

int domain_method_screenshot_stream(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return screenshot(message, userdata, true, error);
}
