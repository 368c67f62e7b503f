/* qemu-process-monitor.c — the QMP conversation of one domain: start-up sequence,
 * QMP events turned into libvirt state/reason pairs and events, lifecycle actions
 * (on_poweroff / on_reboot / on_crash, fake reboot) and re-sync after a daemon restart. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "log.h"
#include "macro.h"
#include "qemu-driver-internal.h"
#include "qemu-tune.h"

static void fake_reboot_start(DriverRuntime *rt);

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static uint64_t now_realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* ---- start-up ---- */

static void start_complete(DriverRuntime *rt) {
        DriverDoneFn done = rt->start_done;
        void *userdata = rt->start_userdata;

        rt->starting = false;
        rt->start_done = NULL;
        rt->start_time_usec = now_realtime_usec();
        /* Durable before anyone hears of it: a daemon killed right after must
         * not take this domain for an unfinished start (and kill it). */
        /* from a save image (qemu-save.c), for a snapshot's revert */
        const char *how = rt->from_snapshot ? "from-snapshot" : rt->restored ? "restored" : "booted";

        if (rt->mig_in) {
                /* qemu-migrate.c: listening for the guest's state, which the source sends now */
                rt->state = DOMAIN_STATE_PAUSED;
                rt->reason = "migration";
                (void) qemu_runtime_save_status(rt);
                qemu_runtime_log(rt, "domain %s waits for an incoming migration", rt->def->name);
                qemu_runtime_set_state(rt, DOMAIN_STATE_PAUSED, "migration", DOMAIN_EVENT_STARTED, "migrated");
                if (done)
                        done(userdata, 0, NULL);
                return;
        }
        rt->state = rt->start_paused ? DOMAIN_STATE_PAUSED : DOMAIN_STATE_RUNNING;
        const char *paused_how = rt->from_snapshot ? "from-snapshot" : "user";

        rt->reason = rt->start_paused ? paused_how : how;
        (void) qemu_runtime_save_status(rt);
        qemu_runtime_log(rt, "domain %s %s%s", rt->def->name, rt->restored ? "restored" : "started",
                         rt->start_paused ? " (paused)" : "");
        qemu_runtime_set_state(rt, DOMAIN_STATE_RUNNING, how, DOMAIN_EVENT_STARTED, how);
        if (rt->start_paused)
                qemu_runtime_set_state(rt, DOMAIN_STATE_PAUSED, paused_how, DOMAIN_EVENT_SUSPENDED,
                                       rt->from_snapshot ? "from-snapshot" : "paused");
        if (done)
                done(userdata, 0, NULL);
}

static void start_cont_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        DriverRuntime *rt = userdata;
        _cleanup_free_ char *msg = NULL;

        if (r < 0) {
                if (error && asprintf(&msg, "cannot start the CPUs: %s", error) < 0)
                        msg = NULL;
                qemu_process_start_failed(rt, -EIO, msg);
                return;
        }
        start_complete(rt);
}

/* Puts the pty paths qemu chose into the live definition. Chardev ids are
 * "[char]serialN", "[char]consoleN", "[char]channelN". */
static void update_ptys(DriverRuntime *rt, const JsonValue *list) {
        DomainDef *def = rt->def;

        rt->def_xml = mfree(rt->def_xml);
        for (size_t i = 0; i < json_array_size(list); i++) {
                const JsonValue *c = json_array_get(list, i);
                const char *label = json_util_member_string(c, "label");
                const char *filename = json_util_member_string(c, "filename");
                DomainChrDef *chr = NULL;
                unsigned long idx;
                char *end;

                if (!label || !filename || !g_str_has_prefix(filename, "pty:"))
                        continue;
                if (g_str_has_prefix(label, "char"))
                        label += 4;
                if (g_str_has_prefix(label, "serial")) {
                        idx = strtoul(label + 6, &end, 10);
                        if (*end == 0 && end != label + 6 && idx < def->n_serials)
                                chr = &def->serials[idx];
                } else if (g_str_has_prefix(label, "console")) {
                        idx = strtoul(label + 7, &end, 10);
                        if (*end == 0 && end != label + 7 && idx < def->n_consoles)
                                chr = &def->consoles[idx];
                } else if (g_str_has_prefix(label, "channel")) {
                        idx = strtoul(label + 7, &end, 10);
                        if (*end == 0 && end != label + 7 && idx < def->n_channels)
                                chr = &def->channels[idx];
                }
                if (!chr)
                        continue;
                free(chr->source_path);
                chr->source_path = strdup(filename + 4);
        }
        /* A console that is the first serial port shows that port's pty. */
        if (def->n_consoles > 0 && def->n_serials > 0 && !def->consoles[0].source_path &&
            (!def->consoles[0].target_type || streq(def->consoles[0].target_type, "serial")) &&
            def->serials[0].source_path)
                def->consoles[0].source_path = strdup(def->serials[0].source_path);
}

static void start_next_step(DriverRuntime *rt);

void qemu_monitor_start_next(DriverRuntime *rt) {
        start_next_step(rt);
}

static void start_step_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        DriverRuntime *rt = userdata;
        _cleanup_free_ char *msg = NULL;

        if (r < 0) {
                if (asprintf(&msg, "qemu refused the start-up settings: %s", strna(error)) < 0)
                        msg = NULL;
                qemu_process_start_failed(rt, -EIO, msg);
                return;
        }
        start_next_step(rt);
}

/* What the command line leaves to QMP (see qemu-command.h), one command at a
 * time, then "cont" unless starting paused. */
static void start_next_step(DriverRuntime *rt) {
        const DomainDef *def = rt->def;
        unsigned step;
        int r;

        /* first of all: the VNC socket the definition names */
        r = qemu_graphics_send_listen_fd(rt, start_step_reply);
        if (r != 0) {
                if (r < 0)
                        qemu_process_start_failed(rt, r, "cannot hand qemu its VNC socket");
                return;
        }
        step = rt->start_step++;
        /* steps 0 … n_graphics-1: VNC passwords */
        if (step < def->n_graphics) {
                const DomainGraphicsDef *g = &def->graphics[step];
                JsonValue *args;

                if (!g->passwd || !streq_ptr(g->type, "vnc") || streq_ptr(g->listen_type, "none")) {
                        start_next_step(rt);
                        return;
                }
                args = json_object();
                if (!args || json_object_set_new(args, "protocol", json_string("vnc")) < 0 ||
                    json_object_set_new(args, "password", json_string(g->passwd)) < 0) {
                        json_decref(args);
                        qemu_process_start_failed(rt, -ENOMEM, NULL);
                        return;
                }
                r = qmp_send(rt->qmp, "set_password", args, start_step_reply, rt);
        } else if (step == def->n_graphics) {
                /* currentMemory below memory: inflate the balloon before the guest runs */
                JsonValue *args;

                if (!def->memballoon || !streq_ptr(def->memballoon->model, "virtio") ||
                    def->current_memory_kib == 0 || def->current_memory_kib >= def->memory_kib) {
                        start_next_step(rt);
                        return;
                }
                args = json_object();
                if (!args || json_object_set_new(args, "value", json_integer((int64_t) def->current_memory_kib * 1024)) < 0) {
                        json_decref(args);
                        qemu_process_start_failed(rt, -ENOMEM, NULL);
                        return;
                }
                r = qmp_send(rt->qmp, "balloon", args, start_step_reply, rt);
        } else if (rt->incoming_pending) {
                /* a restore: the guest's state is read in, then start_next_step() again */
                qemu_restore_incoming(rt);
                return;
        } else if (rt->start_paused || rt->mig_in) {
                /* an incoming migration's guest runs when its source says so (cont would make qemu run it
                 * by itself as soon as the stream is in) */
                start_complete(rt);
                return;
        } else
                r = qmp_send(rt->qmp, "cont", NULL, start_cont_reply, rt);
        if (r < 0)
                qemu_process_start_failed(rt, r, "cannot talk to qemu's monitor");
}

static void start_chardev_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        DriverRuntime *rt = userdata;
        _cleanup_free_ char *msg = NULL;

        if (r < 0)
                log_warning("Domain %s: query-chardev failed: %s", rt->def->name, strna(error));
        else
                update_ptys(rt, ret);
        qemu_graphics_query_port(rt);
        r = qemu_tune_started(rt, &msg);   /* vCPU pinning, the balloon's reports */
        if (r < 0) {
                qemu_process_start_failed(rt, r, msg ?: "cannot pin the vCPU threads");
                return;
        }
        rt->start_step = 0;
        start_next_step(rt);
}

/* ---- lifecycle actions ---- */

static void apply_action(DriverRuntime *rt, DomainLifecycleAction action, const char *reason, const char *detail) {
        int r;

        switch (action) {
        case DOMAIN_ACTION_RESTART:
        case DOMAIN_ACTION_RENAME_RESTART:
        case DOMAIN_ACTION_COREDUMP_RESTART:
                fake_reboot_start(rt);
                return;
        case DOMAIN_ACTION_PRESERVE:
                return;
        default:
                r = qemu_process_kill(rt, false, reason, detail);
                if (r < 0)
                        log_warning_errno(r, "Failed to stop qemu of domain %s: %m", rt->def->name);
        }
}

static void fake_reboot_cont_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        DriverRuntime *rt = userdata;
        bool crashed = rt->state == DOMAIN_STATE_CRASHED;

        rt->in_fake_reboot = false;
        rt->fake_reboot = false;
        rt->got_shutdown = false;
        if (r < 0) {
                log_warning("Domain %s: cont after reset failed: %s", rt->def->name, strna(error));
                apply_action(rt, DOMAIN_ACTION_DESTROY, "shutdown", "shutdown");
                return;
        }
        qemu_runtime_log(rt, "domain %s rebooted", rt->def->name);
        qemu_runtime_set_state(rt, DOMAIN_STATE_RUNNING, crashed ? "crashed" : "booted", DOMAIN_EVENT_RESUMED,
                               "unpaused");
}

/* Sends set-action with reboot=<action>. Takes nothing; fn may be NULL. */
static int send_reboot_action(DriverRuntime *rt, const char *action, QmpReplyFn fn) {
        JsonValue *args = json_object();

        if (!args || json_object_set_new(args, "reboot", json_string(action)) < 0) {
                json_decref(args);
                return -ENOMEM;
        }
        return qmp_send(rt->qmp, "set-action", args, fn, rt);
}

/* SeaBIOS (the default, or a ROM <loader>) resets the machine once more when
 * it starts after a reset; pflash (UEFI) firmware does not. Under TCG SeaBIOS
 * sometimes resets twice (its next reboot method runs before qemu handled the
 * first): a fake reboot under on_reboot=destroy then ends in a destroy. */
static bool firmware_resets_after_reset(const DomainDef *def) {
        return !def->loader || !streq_ptr(def->loader_type, "pflash");
}

static void reboot_action_restored(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        DriverRuntime *rt = userdata;

        if (r < 0) {
                /* Guest reboots would go through: on_reboot=destroy cannot be kept. */
                log_warning("Domain %s: set-action reboot=shutdown failed: %s", rt->def->name, strna(error));
                apply_action(rt, DOMAIN_ACTION_DESTROY, "shutdown", "shutdown");
        }
}

static void fake_reboot_failed(DriverRuntime *rt, const char *what, const char *error) {
        log_warning("Domain %s: %s failed: %s", rt->def->name, what, strna(error));
        rt->in_fake_reboot = false;
        apply_action(rt, DOMAIN_ACTION_DESTROY, "shutdown", "shutdown");
}

static void fake_reboot_restore_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        DriverRuntime *rt = userdata;

        if (r < 0) {
                fake_reboot_failed(rt, "set-action reboot=shutdown", error);
                return;
        }
        r = qmp_send(rt->qmp, "cont", NULL, fake_reboot_cont_reply, rt);
        if (r < 0)
                fake_reboot_failed(rt, "cont", NULL);
}

static void fake_reboot_reset_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        DriverRuntime *rt = userdata;

        if (r < 0) {
                fake_reboot_failed(rt, "system_reset", error);
                return;
        }
        /* The reset request was taken (qemu decides reset vs. shutdown when the
         * request is made). SeaBIOS answers a reset with a hard reset of its own
         * as soon as it runs (a guest reset in qemu's eyes), so with it resets
         * stay allowed until that RESET event (see on_event); UEFI firmware does
         * not, so there on_reboot=destroy is put back before the guest runs. */
        if (rt->def->on_reboot == DOMAIN_ACTION_DESTROY && !firmware_resets_after_reset(rt->def))
                r = send_reboot_action(rt, "shutdown", fake_reboot_restore_reply);
        else
                r = qmp_send(rt->qmp, "cont", NULL, fake_reboot_cont_reply, rt);
        if (r < 0)
                fake_reboot_failed(rt, "cont", NULL);
}

static void fake_reboot_allow_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        DriverRuntime *rt = userdata;

        if (r < 0) {
                fake_reboot_failed(rt, "set-action reboot=reset", error);
                return;
        }
        r = qmp_send(rt->qmp, "system_reset", NULL, fake_reboot_reset_reply, rt);
        if (r < 0)
                fake_reboot_failed(rt, "system_reset", NULL);
}

/* libvirt's "fake reboot": qemu runs with -no-shutdown, so after a guest power
 * off it is paused in state "shutdown"; reset it and let it run again. With
 * on_reboot=destroy qemu runs with -action reboot=shutdown, under which our
 * system_reset would itself become a shutdown: reboot=reset is switched on
 * while the guest is paused, and switched off again before cont (UEFI) or at
 * the firmware's own reset right after cont (SeaBIOS) — both before any guest
 * OS code runs, so a reboot by the guest itself is still a destroy. */
static void fake_reboot_start(DriverRuntime *rt) {
        int r;

        if (rt->in_fake_reboot)
                return;
        rt->in_fake_reboot = true;
        if (rt->def->on_reboot == DOMAIN_ACTION_DESTROY)
                r = send_reboot_action(rt, "reset", fake_reboot_allow_reply);
        else
                r = qmp_send(rt->qmp, "system_reset", NULL, fake_reboot_reset_reply, rt);
        if (r < 0)
                fake_reboot_failed(rt, "system_reset", NULL);
}

/* ---- events ---- */

static void handle_shutdown(DriverRuntime *rt, bool guest, const char *reason) {
        bool guest_reset = streq_ptr(reason, "guest-reset");

        if (rt->state == DOMAIN_STATE_SHUTDOWN || rt->state == DOMAIN_STATE_CRASHED || streq_ptr(reason, "guest-panic"))
                return;   /* repeated, or the tail of a panic */
        rt->got_shutdown = true;
        if (guest && rt->fake_reboot && !guest_reset) {
                /* A requested reboot: the power-off is transient, no state change. */
                (void) qemu_runtime_save_status(rt);
                fake_reboot_start(rt);
                return;
        }
        qemu_runtime_log(rt, "guest %s (%s)", guest ? "shut down" : "is shutting down", strna(reason));
        qemu_runtime_set_state(rt, DOMAIN_STATE_SHUTDOWN, "unknown", DOMAIN_EVENT_SHUTDOWN, guest ? "finished" : "host");
        if (streq_ptr(reason, "host-qmp-system-reset")) {
                /* on_reboot=destroy (-action reboot=shutdown): a host Reset is a
                 * reboot like the guest's own and stops the domain, as in libvirt.
                 * qemu, paused by -no-shutdown, is stopped once it has answered
                 * the system_reset (a SIGTERM now could cost the caller the reply). */
                if (rt->n_resetting > 0)
                        rt->stop_after_reset = true;
                else
                        apply_action(rt, DOMAIN_ACTION_DESTROY, "shutdown", "shutdown");
                return;
        }
        if (!guest)
                return;   /* host-initiated (a signal): qemu exits by itself */
        /* With on_reboot=destroy qemu runs with -action reboot=shutdown: a guest reboot arrives as guest-reset. */
        apply_action(rt, guest_reset ? DOMAIN_ACTION_DESTROY : rt->def->on_poweroff, "shutdown", "shutdown");
}

static void handle_panic(DriverRuntime *rt) {
        if (rt->state == DOMAIN_STATE_CRASHED)
                return;
        qemu_runtime_log(rt, "guest panicked");
        qemu_runtime_set_state(rt, DOMAIN_STATE_CRASHED, "panicked", DOMAIN_EVENT_CRASHED, "panicked");
        apply_action(rt, rt->def->on_crash, "crashed", "crashed");
}

static void handle_event(DriverRuntime *rt, const char *name, const JsonValue *data) {
        if (rt->job_owns_pause > 0 && (streq(name, "STOP") || streq(name, "RESUME")))
                return;   /* the operation under way reports what it causes */
        if (streq(name, "STOP")) {
                if (rt->in_fake_reboot || rt->got_shutdown || rt->killing || rt->state != DOMAIN_STATE_RUNNING)
                        return;
                if (rt->io_error_pending) {
                        rt->io_error_pending = false;
                        qemu_runtime_set_state(rt, DOMAIN_STATE_PAUSED, "io-error", DOMAIN_EVENT_SUSPENDED, "io-error");
                } else
                        qemu_runtime_set_state(rt, DOMAIN_STATE_PAUSED, rt->n_suspending > 0 ? "user" : "unknown",
                                               DOMAIN_EVENT_SUSPENDED, "paused");
        } else if (streq(name, "RESUME")) {
                if (rt->in_fake_reboot || rt->killing ||
                    (rt->state != DOMAIN_STATE_PAUSED && rt->state != DOMAIN_STATE_CRASHED))
                        return;
                qemu_runtime_set_state(rt, DOMAIN_STATE_RUNNING, "unpaused", DOMAIN_EVENT_RESUMED, "unpaused");
        } else if (streq(name, "SHUTDOWN")) {
                bool guest = false;

                if (rt->killing)
                        return;
                (void) json_util_boolean(json_object_get(data, "guest"), &guest);
                handle_shutdown(rt, guest, json_util_member_string(data, "reason"));
        } else if (streq(name, "RESET")) {
                bool guest = false;

                /* With on_reboot=destroy qemu turns guest resets into SHUTDOWN; a
                 * guest RESET means the window a fake reboot opened is still open:
                 * this is the firmware's own reset (see fake_reboot_reset_reply). */
                (void) json_util_boolean(json_object_get(data, "guest"), &guest);
                if (guest && rt->def->on_reboot == DOMAIN_ACTION_DESTROY && !rt->killing &&
                    send_reboot_action(rt, "shutdown", reboot_action_restored) < 0)
                        apply_action(rt, DOMAIN_ACTION_DESTROY, "shutdown", "shutdown");
        } else if (streq(name, "GUEST_PANICKED")) {
                if (!rt->killing)
                        handle_panic(rt);
        } else if (streq(name, "BLOCK_IO_ERROR")) {
                /* With werror/rerror=stop the STOP that follows is an I/O error pause. */
                if (streq_ptr(json_util_member_string(data, "action"), "stop"))
                        rt->io_error_pending = true;
        } else if (streq(name, "SUSPEND")) {
                /* The guest entered S3. */
                if (rt->state == DOMAIN_STATE_RUNNING)
                        qemu_runtime_set_state(rt, DOMAIN_STATE_PMSUSPENDED, "unknown", DOMAIN_EVENT_PMSUSPENDED,
                                               "memory");
        } else if (streq(name, "WAKEUP")) {
                if (rt->state == DOMAIN_STATE_PMSUSPENDED)
                        qemu_runtime_set_state(rt, DOMAIN_STATE_RUNNING, "wakeup", DOMAIN_EVENT_STARTED, "wakeup");
        } else if (streq(name, "BALLOON_CHANGE")) {
                int64_t actual;

                if (json_util_integer(json_object_get(data, "actual"), &actual) >= 0 && actual > 0) {
                        rt->def->current_memory_kib = (uint64_t) actual / 1024u;
                        rt->def_xml = mfree(rt->def_xml);
                }
        } else
                log_debug("Domain %s: QMP event %s", rt->def->name, name);
}

static void on_event(Qmp *q, const char *name, const JsonValue *data, uint64_t timestamp_usec, void *userdata) {
        DriverRuntime *rt = userdata;
        QemuListener *l, *next;

        if (!name)
                return;
        if (!rt->starting)   /* start-up reports its own states */
                handle_event(rt, name, data);
        /* a listener may remove itself, no other (the process exit is
         * reported from the pidfd, never from here) */
        for (l = rt->listeners; l; l = next) {
                next = l->next;
                if (l->event)
                        l->event(rt, name, data, l->userdata);
        }
}

/* ---- re-sync after a daemon restart ---- */

static void resync_status_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        DriverRuntime *rt = userdata;
        const char *status = json_util_member_string(ret, "status");

        qemu_runtime_reconnect_over(rt);   /* what follows changes state through events */
        if (r < 0 || !status) {
                log_warning("Domain %s: query-status failed: %s", rt->def->name, strna(error));
                return;
        }
        log_debug("Domain %s: qemu reports status '%s', we had %s/%s.", rt->def->name, status,
                  domain_state_to_string(rt->state), rt->reason);
        if (rt->killing)
                return;
        if (streq(status, "shutdown")) {
                /* The guest powered off while nobody listened (or its action was not applied yet). */
                if (rt->state == DOMAIN_STATE_SHUTDOWN || (rt->got_shutdown && rt->fake_reboot)) {
                        if (rt->fake_reboot)
                                fake_reboot_start(rt);
                        else
                                apply_action(rt, rt->def->on_poweroff, "shutdown", "shutdown");
                } else
                        handle_shutdown(rt, true, "guest-shutdown");
        } else if (streq(status, "guest-panicked")) {
                if (rt->state == DOMAIN_STATE_CRASHED)
                        apply_action(rt, rt->def->on_crash, "crashed", "crashed");
                else
                        handle_panic(rt);
        } else if (streq(status, "prelaunch")) {
                /* Paused: a domain started paused that never ran. Otherwise a fake
                 * reboot was cut off between reset and cont: finish it. */
                if (rt->state != DOMAIN_STATE_PAUSED)
                        fake_reboot_start(rt);
        } else if (streq(status, "suspended")) {
                if (rt->state == DOMAIN_STATE_RUNNING)
                        qemu_runtime_set_state(rt, DOMAIN_STATE_PMSUSPENDED, "unknown", DOMAIN_EVENT_PMSUSPENDED,
                                               "memory");
        } else if (streq(status, "running")) {
                if (rt->state == DOMAIN_STATE_PMSUSPENDED)
                        qemu_runtime_set_state(rt, DOMAIN_STATE_RUNNING, "wakeup", DOMAIN_EVENT_STARTED, "wakeup");
                else if (rt->state == DOMAIN_STATE_PAUSED || rt->state == DOMAIN_STATE_CRASHED)
                        qemu_runtime_set_state(rt, DOMAIN_STATE_RUNNING, "unpaused", DOMAIN_EVENT_RESUMED, "unpaused");
                else if (rt->state == DOMAIN_STATE_SHUTDOWN) {
                        rt->got_shutdown = rt->fake_reboot = false;
                        qemu_runtime_set_state(rt, DOMAIN_STATE_RUNNING, "booted", DOMAIN_EVENT_RESUMED, "unpaused");
                }
        } else if (rt->state == DOMAIN_STATE_RUNNING) {
                bool io = streq(status, "io-error");
                qemu_runtime_set_state(rt, DOMAIN_STATE_PAUSED, io ? "io-error" : "unknown", DOMAIN_EVENT_SUSPENDED,
                                       io ? "io-error" : "paused");
        }
}

/* ---- connection ---- */

static void on_ready(Qmp *q, void *userdata) {
        DriverRuntime *rt = userdata;
        int r;

        if (rt->starting)
                r = qmp_send(q, "query-chardev", NULL, start_chardev_reply, rt);
        else {
                /* A daemon that died inside a fake reboot may have left resets
                 * allowed; put on_reboot=destroy back first (commands run in order). */
                if (rt->def->on_reboot == DOMAIN_ACTION_DESTROY)
                        (void) send_reboot_action(rt, "shutdown", NULL);
                r = qmp_send(q, "query-status", NULL, resync_status_reply, rt);
        }
        if (r < 0 && rt->starting)
                qemu_process_start_failed(rt, r, "cannot talk to qemu's monitor");
        else if (r < 0)
                qemu_runtime_reconnect_over(rt);
}

static void on_disconnected(Qmp *q, int error, void *userdata) {
        DriverRuntime *rt = userdata;

        rt->qmp = qmp_free(rt->qmp);
        qemu_runtime_reconnect_over(rt);
        if (rt->starting) {
                if (error == -ETIMEDOUT)
                        qemu_process_start_failed(rt, -ETIMEDOUT, "timed out waiting for qemu's monitor socket");
                else
                        qemu_process_start_failed(rt, -EIO, NULL);   /* the exit tells why */
                return;
        }
        if (!rt->killing)
                log_debug("Domain %s: monitor connection closed (%d).", rt->def->name, error);
}

int qemu_monitor_connect(DriverRuntime *rt, bool recovering) {
        static const QmpCallbacks callbacks = {
                .ready = on_ready,
                .event = on_event,
                .disconnected = on_disconnected,
        };
        int r;

        r = qmp_new(rt->driver->event, rt->qmp_connect_path, &callbacks, rt, &rt->qmp);
        if (r < 0)
                return r;
        if (rt->pid > 0)
                qmp_set_peer_pid(rt->qmp, rt->pid);
        r = qmp_connect(rt->qmp, recovering ? QEMU_RECONNECT_TIMEOUT_USEC : QEMU_QMP_CONNECT_TIMEOUT_USEC);
        if (r < 0)
                rt->qmp = qmp_free(rt->qmp);
        return r;
}

/* ---- operations ---- */

static void op_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuOp *op = userdata;
        DriverRuntime *rt = op->rt;

        if (op->kind == QEMU_OP_SUSPEND) {
                rt->n_suspending--;
                /* The STOP event normally came first; make sure the state is reported before done. */
                if (r >= 0 && rt->state == DOMAIN_STATE_RUNNING && !rt->killing)
                        qemu_runtime_set_state(rt, DOMAIN_STATE_PAUSED, "user", DOMAIN_EVENT_SUSPENDED, "paused");
        } else if (op->kind == QEMU_OP_RESUME) {
                if (r >= 0 && (rt->state == DOMAIN_STATE_PAUSED || rt->state == DOMAIN_STATE_CRASHED) && !rt->killing)
                        qemu_runtime_set_state(rt, DOMAIN_STATE_RUNNING, "unpaused", DOMAIN_EVENT_RESUMED, "unpaused");
        } else if (op->kind == QEMU_OP_RESET) {
                /* qemu has answered: the stop the reset turned into can begin
                 * (see handle_shutdown), before the caller hears of the reset. */
                rt->n_resetting--;
                if (rt->n_resetting == 0 && rt->stop_after_reset) {
                        rt->stop_after_reset = false;
                        /* ECONNRESET: qemu is gone already, its exit reports the shutdown */
                        if (r != -ECONNRESET && !rt->killing)
                                apply_action(rt, DOMAIN_ACTION_DESTROY, "shutdown", "shutdown");
                }
        }
        if (r == -ECONNRESET)
                qemu_op_complete(op, -ESRCH, "qemu closed its monitor");
        else
                qemu_op_complete(op, r, error);
}

int qemu_monitor_op(DriverRuntime *rt, const char *command, QemuOpKind kind, DriverDoneFn done, void *userdata) {
        QemuOp *op;
        int r;

        /* Before the monitor is ready (just after recover) commands queue up. */
        if (!rt->qmp)
                return -ENOTCONN;
        op = qemu_op_new(rt, kind, done, userdata);
        if (!op)
                return -ENOMEM;
        r = qmp_send(rt->qmp, command, NULL, op_reply, op);
        if (r < 0) {
                op->done = NULL;
                qemu_op_complete(op, r, NULL);
                return r;
        }
        if (kind == QEMU_OP_SUSPEND)
                rt->n_suspending++;
        else if (kind == QEMU_OP_RESET)
                rt->n_resetting++;
        return 0;
}
