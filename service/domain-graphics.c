/* domain-graphics.c — org.vmgmt.Domain's display methods: OpenGraphics (a
 * connected fd to the VNC server) and Screenshot (a PNG written to the caller's
 * fd). Arguments are checked here against the live definition, so a caller
 * learns which device or screen does not exist; the driver does the I/O. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-graphics.h"
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

static void open_graphics_done(void *userdata, int r, int fd, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_close_ int conn = fd;
        VmOp *op = userdata;

        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to open the display of domain '%s'",
                                                            op->domain->name);
                bus_error_from_errno(&error, r, message, what);
                (void) sd_bus_reply_method_error(op->message, &error);
        } else
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

int domain_method_screenshot(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(vm_domain_unrefp) VmDomain *d = vm_domain_ref(userdata);
        const DomainDriverOps *ops = d->drv->ops;
        uint32_t screen = 0;
        const BusOption options[] = { { "screen", "u", &screen }, {} };
        VmOp *op;
        int fd, r;

        /* Authorized before the arguments are looked at: a refused caller
         * learns nothing about the domain's devices. */
        r = graphics_authorize(d, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = sd_bus_message_read(message, "h", &fd);
        if (r < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Screenshot needs a file descriptor (h)");
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

        op = vm_op_new(d, message, "screenshot");
        r = ops->screenshot(d->rt, fd, screen, screenshot_done, op);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to take a screenshot of domain '%s'", d->name);
                vm_op_free(op);
                return bus_error_from_errno(error, r, NULL, what);
        }
        return 1;
}
