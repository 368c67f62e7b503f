/* domain-graphics.h — org.vmgmt.Domain's display methods: OpenGraphics and Screenshot. */
#pragma once

#include <systemd/sd-bus.h>

/* OpenGraphics(a{sv} options) → h: a connected fd to the domain's VNC server.
 * Option index (u): which <graphics> (default 0). Polkit action
 * org.vmgmt.domain.console. The reply waits for the connection. */
int domain_method_open_graphics(sd_bus_message *message, void *userdata, sd_bus_error *error);

/* Screenshot(h fd, a{sv} options): writes a PNG of the display to fd; the
 * reply comes once every byte is written. Option screen (u): which head of
 * the video devices, counted in order (default 0). Polkit action
 * org.vmgmt.domain.console. */
int domain_method_screenshot(sd_bus_message *message, void *userdata, sd_bus_error *error);

/* OpenGraphics and Screenshot for callers that cannot pass fds: the fd behind a
 * one-shot socket (domain-stream.h), its path in the reply. */
int domain_method_open_graphics_stream(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_screenshot_stream(sd_bus_message *message, void *userdata, sd_bus_error *error);
