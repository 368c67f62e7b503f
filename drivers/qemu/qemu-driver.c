/* qemu-driver.c — qemu_driver_ops: the QEMU implementation of the driver contract (driver.h).
 *
 * How the callbacks behave (what the service can rely on):
 *  - start: returns the runtime at once; state() is PAUSED/"starting-up" until
 *    done. Success reports RUNNING/booted STARTED/booted (then PAUSED/user
 *    SUSPENDED/paused with DRIVER_START_PAUSED) and then calls done(0). Any
 *    failure (bad definition, exec, qemu exiting, monitor timeout, destroy
 *    during start-up → -ECANCELED) calls done(r, message) after the runtime is
 *    freed, without any state report and without stopped().
 *  - Ops refused at once: -EBUSY while starting (or in a state where the op
 *    makes no sense), -ESRCH while being killed, -EALREADY for resume of a
 *    running domain, -ENOTCONN when the monitor is gone. Suspend of a paused
 *    domain succeeds (libvirt). Ops completed after the process is gone get
 *    done(-ESRCH, "domain is not running"); destroy gets done(0).
 *  - When the process is gone: state_changed(SHUTOFF/CRASHED…, STOPPED/…),
 *    then stopped(owner) with the runtime already freed, then pending done
 *    callbacks. free() leaves domains running and calls no callbacks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "driver-registry.h"   /* qemu_driver_ops, defined here */
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "qemu-caps.h"
#include "qemu-domcaps.h"
#include "qemu-firmware.h"
#include "qemu-command.h"
#include "qemu-driver-internal.h"
#include "qemu-tune.h"
#include "qemu-stats.h"

static char *strdup_or_empty(const char *s) {
        return strdup(s ? s : "");
}

static void vm_paths_done(VmPaths *p) {
        free(p->root);
        free(p->config_dir);
        free(p->state_dir);
        free(p->run_dir);
        free(p->log_dir);
}

static void caps_free(gpointer p) {
        qemu_caps_free(p);
}

/* ---- capabilities: probed as children of the loop, shared by all who wait ---- */

typedef struct CapsWaiter {
        DriverDoneFn done;
        void *userdata;
} CapsWaiter;

typedef struct CapsProbeJob {
        QemuDriver *driver;
        char *emulator;          /* the key in driver->probes */
        QemuCapsProbe *probe;
        GArray *waiters;         /* CapsWaiter */
} CapsProbeJob;

static void caps_probe_job_free(CapsProbeJob *job) {
        qemu_caps_probe_free(job->probe);
        g_array_unref(job->waiters);
        g_free(job->emulator);
        g_free(job);
}

/* The deadline of each run of an emulator being probed. */
static uint64_t caps_probe_timeout(const QemuDriver *d) {
        return d->probe_timeout_usec > 0 ? d->probe_timeout_usec : QEMU_CAPS_PROBE_TIMEOUT_USEC_DEFAULT;
}

static char *caps_probe_error_message(const QemuDriver *d, const char *emulator, int r) {
        switch (r) {
        case -ETIMEDOUT:
                return g_strdup_printf("emulator %s did not answer within %.1f s when probed; it was killed",
                                       emulator, caps_probe_timeout(d) / 1e6);
        case -EIO:
                return g_strdup_printf("emulator %s failed when asked for its version and machine types", emulator);
        case -EBADMSG:
        case -EFBIG:
                return g_strdup_printf("emulator %s does not answer like QEMU", emulator);
        case -ENOENT:
                return g_strdup_printf("emulator %s does not exist", emulator);
        case -EPERM:
                return g_strdup_printf("emulator %s (or a directory above it) may be changed by others than root",
                                       emulator);
        case -EACCES:
        case -ENOEXEC:
        case -EINVAL:
                return g_strdup_printf("emulator %s cannot be executed", emulator);
        case -ECANCELED:
                return g_strdup_printf("probing emulator %s was cancelled: vmgmtd is exiting", emulator);
        default:
                return g_strdup_printf("cannot probe emulator %s: %s", emulator, strerror(-r));
        }
}

/* Tells everybody waiting for job how it ended; job is freed. */
static void caps_probe_job_finish(CapsProbeJob *job, int r) {
        _cleanup_free_ char *message = r < 0 ? caps_probe_error_message(job->driver, job->emulator, r) : NULL;

        job->probe = NULL;   /* already freed by the probe's end, or by the caller */
        for (guint i = 0; i < job->waiters->len; i++) {
                CapsWaiter *w = &g_array_index(job->waiters, CapsWaiter, i);
                w->done(w->userdata, r, message);
        }
        caps_probe_job_free(job);
}

static void on_caps_probed(void *userdata, int r, QemuCaps *caps) {
        CapsProbeJob *job = userdata;
        QemuDriver *d = job->driver;

        g_hash_table_remove(d->probes, job->emulator);
        if (caps)
                g_hash_table_replace(d->caps, g_strdup(job->emulator), caps);
        caps_probe_job_finish(job, r);
}

/* The driver goes away: probes are killed, their waiters told. */
static void caps_probes_cancel(QemuDriver *d) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, d->probes);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                CapsProbeJob *job = value;

                g_hash_table_iter_steal(&it);
                qemu_caps_probe_free(job->probe);
                caps_probe_job_finish(job, -ECANCELED);
        }
        g_hash_table_destroy(d->probes);
        d->probes = NULL;
}

static int caps_prepare_sync(QemuDriver *d, const char *emulator, char **ret_message) {
        QemuCaps *caps = NULL;
        gpointer failed;
        int r;

        /* at start-up many definitions may name one broken emulator: probe it once */
        if (g_hash_table_lookup_extended(d->probe_failures, emulator, NULL, &failed))
                r = GPOINTER_TO_INT(failed);
        else {
                r = qemu_caps_new(emulator, d->cache_dir, caps_probe_timeout(d), &caps);
                if (r >= 0) {
                        g_hash_table_replace(d->caps, g_strdup(emulator), caps);
                        return 1;
                }
                g_hash_table_replace(d->probe_failures, g_strdup(emulator), GINT_TO_POINTER(r));
        }
        *ret_message = caps_probe_error_message(d, emulator, r);
        return r;
}

static const char *normalize_emulator_for_arch(void *userdata, const char *arch);

static int qemu_driver_prepare(DomainDriver *base, const DomainDef *def, DriverDoneFn done, void *userdata,
                               char **ret_message) {
        QemuDriver *d = (QemuDriver *) base;
        const char *emulator = def->emulator ?: normalize_emulator_for_arch(d, def->os_arch ?: "x86_64");
        CapsProbeJob *job;
        QemuCaps *caps = NULL;
        CapsWaiter w = { done, userdata };
        int r;

        if (!emulator)
                return 1;   /* normalize says there is none */
        caps = g_hash_table_lookup(d->caps, emulator);
        if (caps && qemu_caps_matches_file(caps))
                return 1;
        if (caps)
                g_hash_table_remove(d->caps, emulator);   /* the binary changed: ask it again */
        if (!done)
                return caps_prepare_sync(d, emulator, ret_message);

        job = g_hash_table_lookup(d->probes, emulator);
        if (job) {
                g_array_append_val(job->waiters, w);
                return 0;
        }
        job = g_new0(CapsProbeJob, 1);
        job->driver = d;
        job->emulator = g_strdup(emulator);
        job->waiters = g_array_new(FALSE, FALSE, sizeof(CapsWaiter));
        r = qemu_caps_load_or_probe(d->event, emulator, d->cache_dir, caps_probe_timeout(d), on_caps_probed, job, &caps,
                                    &job->probe);
        if (r != 0)
                caps_probe_job_free(job);
        if (r < 0) {
                *ret_message = caps_probe_error_message(d, emulator, r);
                return r;
        }
        if (r > 0) {
                g_hash_table_replace(d->caps, g_strdup(emulator), caps);
                return 1;
        }
        g_array_append_val(job->waiters, w);
        g_hash_table_insert(d->probes, job->emulator, job);
        return 0;
}

static DomainDriver *qemu_driver_free(DomainDriver *base) {
        QemuDriver *d = (QemuDriver *) base;

        if (!d)
                return NULL;
        qemu_driver_log_rotation_done(d);
        /* Running domains keep running; their status files let the next instance recover them. */
        d->recovered_fn = NULL;   /* nobody waits any more */
        while (d->runtimes)
                qemu_runtime_free(d->runtimes);
        if (d->caps)
                g_hash_table_destroy(d->caps);
        if (d->probes)
                caps_probes_cancel(d);
        if (d->probe_failures)
                g_hash_table_destroy(d->probe_failures);
        if (d->domcaps)
                g_hash_table_unref(d->domcaps);   /* a probe under way holds its own reference */
        if (d->emulators)
                g_hash_table_destroy(d->emulators);
        if (d->run_dir_fd >= 0)
                close(d->run_dir_fd);
        free(d->run_dir);
        free(d->log_dir);
        free(d->cache_dir);
        vm_paths_done(&d->paths);
        sd_event_unref(d->event);
        free(d);
        return NULL;
}

static int qemu_driver_new(sd_event *event, const VmPaths *paths, const DomainDriverEvents *events, DomainDriver **ret) {
        QemuDriver *d;
        int r;

        d = calloc(1, sizeof(QemuDriver));
        if (!d)
                return -ENOMEM;
        d->base.ops = &qemu_driver_ops;
        d->event = sd_event_ref(event);
        d->events = *events;
        d->run_dir_fd = -1;
        d->paths = (VmPaths) {
                .root = strdup_or_empty(paths->root),
                .config_dir = strdup_or_empty(paths->config_dir),
                .state_dir = strdup_or_empty(paths->state_dir),
                .run_dir = strdup_or_empty(paths->run_dir),
                .log_dir = strdup_or_empty(paths->log_dir),
        };
        d->caps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, caps_free);
        d->domcaps = qemu_domcaps_cache_new();
        d->emulators = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        d->probes = g_hash_table_new(g_str_hash, g_str_equal);
        d->probe_failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        if (!d->paths.root || !d->paths.config_dir || !d->paths.state_dir || !d->paths.run_dir || !d->paths.log_dir ||
            asprintf(&d->run_dir, "%s/qemu", paths->run_dir) < 0 ||
            asprintf(&d->log_dir, "%s/qemu", paths->log_dir) < 0 ||
            asprintf(&d->cache_dir, "%s/qemu", paths->state_dir) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        r = mkdir_p(d->run_dir, 0700);
        if (r >= 0)
                r = mkdir_p(d->log_dir, 0700);
        if (r >= 0)
                r = mkdir_p(d->cache_dir, 0700);
        if (r < 0) {
                log_error_errno(r, "Failed to create the qemu driver's directories: %m");
                goto fail;
        }
        d->run_dir_fd = open(d->run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (d->run_dir_fd < 0) {
                r = -errno;
                goto fail;
        }
        qemu_graphics_sweep_screendumps(d);
        *ret = &d->base;
        return 0;
fail:
        qemu_driver_free(&d->base);
        return r;
}

/* ---- normalize ---- */

static const char *normalize_emulator_for_arch(void *userdata, const char *arch) {
        QemuDriver *d = userdata;
        const char *key = arch ? arch : "";
        char *path;

        path = g_hash_table_lookup(d->emulators, key);
        if (path)
                return path;
        path = qemu_caps_find_emulator(arch);
        if (!path)
                return NULL;
        g_hash_table_insert(d->emulators, g_strdup(key), g_strdup(path));
        free(path);
        return g_hash_table_lookup(d->emulators, key);
}

/* Only what prepare() made known: normalize never runs a program. */
static QemuCaps *driver_get_caps(QemuDriver *d, const char *emulator) {
        return emulator ? g_hash_table_lookup(d->caps, emulator) : NULL;
}

static const char *normalize_resolve_machine(void *userdata, const char *emulator, const char *machine) {
        QemuCaps *caps = driver_get_caps(userdata, emulator);

        return caps ? qemu_caps_resolve_machine(caps, machine) : NULL;
}

static int qemu_driver_normalize(DomainDriver *base, DomainDef *def, ConfError *err) {
        DomainNormalizeCtx ctx = {
                .emulator_for_arch = normalize_emulator_for_arch,
                .resolve_machine = normalize_resolve_machine,
                .userdata = base,
        };
        int r;

        r = domain_def_normalize(def, &ctx, err);
        if (r < 0)
                return r;
        /* As libvirt's qemu driver: restarting after a power-off is a reset of
         * the machine, and under on_reboot=destroy qemu turns resets into a
         * shutdown (the firmware resets once or twice more after ours). */
        if (def->on_poweroff == DOMAIN_ACTION_RESTART && def->on_reboot == DOMAIN_ACTION_DESTROY) {
                conf_error_clear(err);
                err->message = strdup("<on_poweroff>restart</on_poweroff> cannot be combined with "
                                      "<on_reboot>destroy</on_reboot>: the restart is a reset, which "
                                      "on_reboot='destroy' turns into a shutdown");
                return err->message ? -EINVAL : -ENOMEM;
        }
        return 0;
}

/* ---- start ---- */

static DriverRuntime *driver_find_runtime(QemuDriver *d, const unsigned char uuid[16]) {
        for (DriverRuntime *rt = d->runtimes; rt; rt = rt->next)
                if (memcmp(rt->def->uuid, uuid, 16) == 0)
                        return rt;
        return NULL;
}

/* Socket paths handed to qemu: the real path when it fits sun_path, else the
 * same file reached through qemu's cwd (the run dir), which always fits. */
static char *socket_arg(const char *abs_path) {
        char *s;

        if (strlen(abs_path) < 108)
                return strdup(abs_path);
        if (asprintf(&s, "/proc/self/cwd/%s", strrchr(abs_path, '/') + 1) < 0)
                return NULL;
        return s;
}

/* The directory for <channel type='unix'> sockets without a path, as qemu
 * must see it: the socket paths below it must fit sun_path too. */
static char *channel_dir_arg(DriverRuntime *rt) {
        size_t longest = 0;
        char *s;

        for (size_t i = 0; i < rt->def->n_channels; i++)
                if (rt->def->channels[i].target_name && strlen(rt->def->channels[i].target_name) > longest)
                        longest = strlen(rt->def->channels[i].target_name);
        if (strlen(rt->channel_dir) + 1 + longest < 108)
                return strdup(rt->channel_dir);
        if (asprintf(&s, "/proc/self/cwd/%s", strrchr(rt->channel_dir, '/') + 1) < 0)
                return NULL;
        return s;
}

/* The live definition shows where those sockets really are. */
static void set_channel_paths(DriverRuntime *rt) {
        for (size_t i = 0; i < rt->def->n_channels; i++) {
                DomainChrDef *c = &rt->def->channels[i];

                if (c->source_path || !streq_ptr(c->type, "unix") || !c->target_name)
                        continue;
                if (asprintf(&c->source_path, "%s/%s", rt->channel_dir, c->target_name) < 0)
                        c->source_path = NULL;
        }
}

typedef struct StartFailure {
        DriverRuntime *rt;
        int error;
        char *message;
        sd_event_source *source;
} StartFailure;

static int start_failure_dispatch(sd_event_source *s, void *userdata) {
        StartFailure *f = userdata;
        DriverRuntime *rt = f->rt;
        DriverDoneFn done = rt->start_done;
        void *ud = rt->start_userdata;

        sd_event_source_disable_unref(f->source);
        qemu_runtime_complete_ops(rt, QEMU_OP_DESTROY, 0, NULL);
        qemu_runtime_remove_files(rt);   /* its run dir and cgroup, if made */
        qemu_runtime_free(rt);
        if (done)
                done(ud, f->error, f->message ? f->message : "cannot start qemu");
        free(f->message);
        free(f);
        return 0;
}

/* A start that fails before qemu runs still answers through done, later. */
static int start_fail_deferred(DriverRuntime *rt, int error, char *message) {
        StartFailure *f = calloc(1, sizeof(StartFailure));
        int r;

        if (!f) {
                free(message);
                return -ENOMEM;
        }
        f->rt = rt;
        f->error = error;
        f->message = message;
        r = sd_event_add_defer(rt->driver->event, &f->source, start_failure_dispatch, f);
        if (r < 0) {
                free(message);
                free(f);
                return r;
        }
        return 0;
}

/* A tap for every <interface type='network'/'bridge'> (the service put the
 * network's bridge in source_bridge and makes the tap: events.create_tap),
 * named in the live definition (target dev). fds[i] is -1 for other
 * interfaces. The taps go away when the last fd closes: ours right after the
 * spawn, qemu's when it exits. */
static int qemu_taps_create(QemuDriver *d, void *owner, DomainDef *def, int *fds, char **ret_error) {
        for (size_t i = 0; i < def->n_nets; i++) {
                DomainNetDef *n = &def->nets[i];
                _cleanup_free_ char *name = NULL;
                int r;

                fds[i] = -1;
                if (n->type != DOMAIN_NET_TYPE_NETWORK && n->type != DOMAIN_NET_TYPE_BRIDGE)
                        continue;
                if (!n->source_bridge) {
                        *ret_error = n->type == DOMAIN_NET_TYPE_NETWORK
                                ? g_strdup_printf("network '%s' is not active", strempty(n->source_network))
                                : g_strdup_printf("interface %zu has no source bridge", i);
                        return -ENOTCONN;
                }
                r = d->events.create_tap ? d->events.create_tap(owner, n, &name, &fds[i]) : -EOPNOTSUPP;
                if (r < 0) {
                        *ret_error = r == -ENODEV ? g_strdup_printf("bridge '%s' does not exist", n->source_bridge)
                                   : r == -EOPNOTSUPP ? g_strdup("this host makes no tap devices")
                                   : r == -EPROTONOSUPPORT ? g_strdup("cannot set the interface's <bandwidth> on its tap (vmgmtd's log says why)")
                                   : g_strdup_printf("cannot create a tap device on bridge '%s': %s",
                                                     n->source_bridge, strerror(-r));
                        return r;
                }
                free(n->target_dev);
                n->target_dev = TAKE_PTR(name);
        }
        return 0;
}

static void qemu_taps_close(int *fds, size_t n) {
        for (size_t i = 0; fds && i < n; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
}

/* The fds qemu gets as 3, 4, … (the taps first), and the ones the driver opened itself for it. */
typedef struct QemuChildFds {
        GArray *fds;            /* int, borrowed or in owned */
        GArray *owned;          /* int, closed after the spawn */
} QemuChildFds;

static int child_fds_pass(void *userdata, int fd) {
        QemuChildFds *q = userdata;

        for (guint i = 0; i < q->fds->len; i++)
                if (g_array_index(q->fds, int, i) == fd)
                        return 3 + (int) i;
        g_array_append_val(q->fds, fd);
        return 3 + (int) q->fds->len - 1;
}

/* The chardev logs are vmgmtd's own files: opened here, as root, never by qemu. */
static int child_fds_open_log(void *userdata, const char *path) {
        QemuChildFds *q = userdata;
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);

        if (fd < 0)
                return -errno;
        g_array_append_val(q->owned, fd);
        return fd;
}

/* A network disk's secret: a sealed memfd of ours until qemu has it. */
static int child_fds_open_secret(void *userdata, const uint8_t *value, size_t len) {
        QemuChildFds *q = userdata;
        int fd = qemu_secret_memfd(value, len);

        if (fd >= 0)
                g_array_append_val(q->owned, fd);
        return fd;
}

static void child_fds_done(QemuChildFds *q) {
        for (guint i = 0; q->owned && i < q->owned->len; i++)
                close(g_array_index(q->owned, int, i));
        if (q->owned)
                g_array_free(q->owned, TRUE);
        if (q->fds)
                g_array_free(q->fds, TRUE);
        *q = (QemuChildFds) {};
}

static int qemu_driver_start(DomainDriver *base, void *owner, const DomainDef *def, int id, DriverStartFlags flags,
                             const DriverFiles *files, DriverRuntime **ret_rt, DriverDoneFn done, void *userdata) {
        return qemu_driver_start_incoming(base, owner, def, id, flags, files, NULL, ret_rt, done, userdata);
}

static int start_any(DomainDriver *base, void *owner, const DomainDef *def, int id, DriverStartFlags flags,
                     const DriverFiles *files, struct QemuRestoreJob *restore, struct QemuMigIn *mig_in,
                     DriverRuntime **ret_rt, DriverDoneFn done, void *userdata);

int qemu_driver_start_incoming(DomainDriver *base, void *owner, const DomainDef *def, int id, DriverStartFlags flags,
                               const DriverFiles *files, struct QemuRestoreJob *restore, DriverRuntime **ret_rt,
                               DriverDoneFn done, void *userdata) {
        return start_any(base, owner, def, id, flags, files, restore, NULL, ret_rt, done, userdata);
}

int qemu_driver_start_migrating(DomainDriver *base, void *owner, const DomainDef *def, int id,
                                const DriverFiles *files, struct QemuMigIn *mig_in, DriverRuntime **ret_rt,
                                DriverDoneFn done, void *userdata) {
        return start_any(base, owner, def, id, 0, files, NULL, mig_in, ret_rt, done, userdata);
}

static int start_any(DomainDriver *base, void *owner, const DomainDef *def, int id, DriverStartFlags flags,
                     const DriverFiles *files, struct QemuRestoreJob *restore, struct QemuMigIn *mig_in,
                     DriverRuntime **ret_rt, DriverDoneFn done, void *userdata) {
        QemuDriver *d = (QemuDriver *) base;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *error = NULL, *emulator = NULL, *qmp_arg = NULL, *vnc_arg = NULL, *channel_arg = NULL;
        _cleanup_free_ char *tpm_arg = NULL;
        DriverRuntime *rt;
        DomainDef *copy;
        _cleanup_free_ int *tap_fds = NULL, *child_fds = NULL;
        QemuChildFds qfds = {};
        size_t n_taps = 0;
        int r;

        if (!def->has_uuid)
                return -EINVAL;
        if (driver_find_runtime(d, def->uuid))
                return -EBUSY;
        copy = domain_def_copy(def);
        if (!copy)
                return -ENOMEM;
        copy->id = id;
        /* the live XML shows each image's chain as it was opened, not what a definition said */
        for (size_t i = 0; i < copy->n_disks; i++) {
                DomainDiskDef *disk = &copy->disks[i];
                const DriverFile *f = disk->source ? driver_files_find(files, DOMAIN_PATH_DISK, 0, i) : NULL;
                _cleanup_free_ const char **paths = NULL, **formats = NULL;

                domain_disk_backing_clear(disk);
                if (!f)
                        continue;
                paths = calloc(f->n_backing + 1, sizeof(char *));
                formats = calloc(f->n_backing + 1, sizeof(char *));
                for (size_t k = 0; paths && formats && k < f->n_backing; k++) {
                        paths[k] = f->backing[k].path;
                        formats[k] = f->backing[k].format;
                }
                if (!paths || !formats || domain_disk_backing_set(disk, paths, formats, f->n_backing) < 0) {
                        domain_def_free(copy);
                        return -ENOMEM;
                }
        }
        r = qemu_runtime_new(d, copy, &rt);
        if (r < 0)
                return r;
        rt->owner = owner;
        rt->starting = true;
        rt->start_paused = flags & DRIVER_START_PAUSED;
        rt->from_snapshot = flags & DRIVER_START_FROM_SNAPSHOT;
        rt->start_done = done;
        rt->start_userdata = userdata;
        rt->restore_job = restore;              /* qemu-save.c: the stream comes in before cont */
        rt->incoming_pending = restore != NULL || mig_in != NULL;
        rt->mig_in = mig_in;                    /* qemu-migrate.c: the guest comes over the network */

        if (!copy->emulator)
                emulator = qemu_caps_find_emulator(copy->os_arch);
        qmp_arg = socket_arg(rt->qmp_file);
        vnc_arg = socket_arg(rt->vnc_file);
        channel_arg = channel_dir_arg(rt);
        tpm_arg = qemu_tpm_socket_arg(rt);
        if (!qmp_arg || !vnc_arg || !channel_arg) {
                qemu_runtime_free(rt);
                return -ENOMEM;
        }
        QemuCommandCtx ctx = {
                .emulator = copy->emulator ? copy->emulator : emulator,
                .qmp_socket_path = qmp_arg,
                .vnc_socket_path = vnc_arg,
                .channel_dir = channel_arg,
                .kvm_usable = access("/dev/kvm", R_OK | W_OK) == 0,
                .chardev_log_prefix = rt->log_prefix,
                .files = files,
                .pass_fd = child_fds_pass,
                .open_log = child_fds_open_log,
                .open_secret = child_fds_open_secret,
                .pass_fd_userdata = &qfds,
                .incoming_defer = restore != NULL || mig_in != NULL,
                .tpm_socket_path = tpm_arg,
        };
        if (!ctx.emulator) {
                r = start_fail_deferred(rt, -ENOENT, strdup("no emulator found for this architecture"));
                goto deferred;
        }
        /* -vnc takes no fd: the socket the definition names goes to qemu over QMP at start */
        r = qemu_graphics_keep_listen_fd(rt, files);
        if (r < 0) {
                qemu_runtime_free(rt);
                return r;
        }
        tap_fds = calloc(copy->n_nets + 1, sizeof(int));
        child_fds = calloc(copy->n_nets + 1, sizeof(int));
        if (!tap_fds || !child_fds) {
                qemu_runtime_free(rt);
                return -ENOMEM;
        }
        /* -1 everywhere first: a failure at NIC i must not close fd 0 for the NICs after it */
        for (size_t i = 0; i < copy->n_nets + 1; i++)
                tap_fds[i] = -1;
        r = qemu_taps_create(d, owner, copy, tap_fds, &error);
        if (r < 0) {
                qemu_taps_close(tap_fds, copy->n_nets);
                r = start_fail_deferred(rt, r, TAKE_PTR(error));
                goto deferred;
        }
        /* the taps, packed, become fds 3, 4, … of qemu */
        for (size_t i = 0; i < copy->n_nets; i++) {
                child_fds[i] = tap_fds[i] >= 0 ? 3 + (int) n_taps : -1;
                if (tap_fds[i] >= 0)
                        tap_fds[n_taps++] = tap_fds[i];
        }
        ctx.net_fds = child_fds;
        qfds.fds = g_array_new(FALSE, FALSE, sizeof(int));
        qfds.owned = g_array_new(FALSE, FALSE, sizeof(int));
        for (size_t i = 0; i < n_taps; i++)
                (void) child_fds_pass(&qfds, tap_fds[i]);
        /* <lease> devices, and the leases of network disks (no image fd set to keep them in):
         * inherited, never named, held until qemu exits */
        for (size_t i = 0; files && i < files->n_lease_fds; i++)
                if (files->lease_fds[i] >= 0 && (i >= copy->n_disks || copy->disks[i].type == DOMAIN_DISK_TYPE_NETWORK))
                        (void) child_fds_pass(&qfds, files->lease_fds[i]);
        /* the logs rotate before they are opened for qemu (the spawn's own pass then finds them small) */
        qemu_runtime_rotate_logs_closed(rt);
        r = qemu_command_build(copy, &ctx, &argv, &error);
        if (r < 0) {
                child_fds_done(&qfds);
                qemu_taps_close(tap_fds, n_taps);
                r = start_fail_deferred(rt, r, TAKE_PTR(error));
                goto deferred;
        }
        qemu_runtime_remove_files(rt);   /* leftovers of an earlier run */
        r = qemu_confine_prepare(rt, &error);   /* its uid, run dir and cgroup */
        if (r >= 0)
                r = qemu_tune_apply_cgroup(rt, &error);   /* the cgroup's limits, before qemu is in it */
        if (r >= 0)
                r = qemu_tpm_start(rt, &error);   /* swtpm (or its manufacture), which qemu waits for */
        if (r < 0) {
                child_fds_done(&qfds);
                qemu_taps_close(tap_fds, n_taps);
                r = start_fail_deferred(rt, r, TAKE_PTR(error));
                goto deferred;
        }
        set_channel_paths(rt);
        qemu_graphics_set_live(rt);
        r = qemu_process_spawn_fds(rt, argv, (const int *) qfds.fds->data, qfds.fds->len, &error);
        child_fds_done(&qfds);
        qemu_taps_close(tap_fds, n_taps);
        if (r < 0) {
                r = start_fail_deferred(rt, r, TAKE_PTR(error));
                goto deferred;
        }
        r = qemu_process_watch(rt);
        if (r < 0) {
                /* Without a watch nobody would see it exit: kill and reap it here. */
                qemu_process_kill_now(rt);
                (void) waitpid(rt->pid, NULL, 0);   /* just SIGKILLed: returns at once */
                qemu_runtime_remove_files(rt);
                qemu_runtime_free(rt);
                return r;
        }
        (void) qemu_runtime_save_status(rt);   /* logged; the domain runs without it */
        r = qemu_monitor_connect(rt, false);
        if (r < 0)
                /* qemu runs: kill it, the exit handler answers done. */
                qemu_process_start_failed(rt, r, "cannot connect to qemu's monitor");
        *ret_rt = rt;
        return 0;
deferred:
        if (r < 0) {
                qemu_runtime_free(rt);
                return r;
        }
        *ret_rt = rt;
        return 0;
}

/* ---- lifecycle ---- */

static int check_active(DriverRuntime *rt) {
        if (rt->starting)
                return -EBUSY;
        if (rt->killing || rt->state == DOMAIN_STATE_SHUTOFF)
                return -ESRCH;
        return 0;
}

static int qemu_driver_shutdown(DriverRuntime *rt, DriverDoneFn done, void *userdata) {
        int r = check_active(rt);

        if (r < 0)
                return r;
        rt->fake_reboot = false;
        return qemu_monitor_op(rt, "system_powerdown", QEMU_OP_GENERIC, done, userdata);
}

static int qemu_driver_reboot(DriverRuntime *rt, DriverDoneFn done, void *userdata) {
        int r = check_active(rt);

        if (r < 0)
                return r;
        /* With on_reboot=destroy a reboot request is a shutdown, as in libvirt. */
        rt->fake_reboot = rt->def->on_reboot != DOMAIN_ACTION_DESTROY;
        (void) qemu_runtime_save_status(rt);
        return qemu_monitor_op(rt, "system_powerdown", QEMU_OP_GENERIC, done, userdata);
}

static int qemu_driver_reset(DriverRuntime *rt, DriverDoneFn done, void *userdata) {
        int r = check_active(rt);

        if (r < 0)
                return r;
        return qemu_monitor_op(rt, "system_reset", QEMU_OP_RESET, done, userdata);
}

static int qemu_driver_suspend(DriverRuntime *rt, DriverDoneFn done, void *userdata) {
        int r = check_active(rt);

        if (r < 0)
                return r;
        if (rt->state != DOMAIN_STATE_RUNNING && rt->state != DOMAIN_STATE_PAUSED)
                return -EBUSY;
        return qemu_monitor_op(rt, "stop", QEMU_OP_SUSPEND, done, userdata);
}

static int qemu_driver_resume(DriverRuntime *rt, DriverDoneFn done, void *userdata) {
        int r = check_active(rt);

        if (r < 0)
                return r;
        if (rt->state == DOMAIN_STATE_RUNNING)
                return -EALREADY;
        if (rt->state != DOMAIN_STATE_PAUSED && !(rt->state == DOMAIN_STATE_CRASHED && streq(rt->reason, "panicked")))
                return -EBUSY;
        return qemu_monitor_op(rt, "cont", QEMU_OP_RESUME, done, userdata);
}

static int qemu_driver_destroy(DriverRuntime *rt, bool graceful, DriverDoneFn done, void *userdata) {
        QemuOp *op;
        int r;

        op = qemu_op_new(rt, QEMU_OP_DESTROY, done, userdata);
        if (!op)
                return -ENOMEM;
        op->graceful = graceful;
        if (rt->starting) {
                /* The start is cancelled: start's done fails, this one succeeds when qemu is gone. */
                qemu_process_start_failed(rt, -ECANCELED, "domain destroyed during start-up");
                return 0;
        }
        r = qemu_process_kill(rt, graceful, "destroyed", "destroyed");
        if (r < 0) {
                op->done = NULL;
                qemu_op_complete(op, r, NULL);
                return r;
        }
        return 0;
}

/* ---- live information ---- */

static void qemu_driver_attach_owner(DriverRuntime *rt, void *owner) {
        rt->owner = owner;
}

static const DomainDef *qemu_driver_live_def(DriverRuntime *rt) {
        return rt->def;
}

static DomainState qemu_driver_state(DriverRuntime *rt, const char **reason) {
        if (reason)
                *reason = rt->reason;
        return rt->state;
}

static pid_t qemu_driver_pid(DriverRuntime *rt) {
        return rt->pid;
}

static uint64_t qemu_driver_start_time(DriverRuntime *rt) {
        return rt->start_time_usec;
}

/* ---- recover ---- */

static void recover_report_dead(DriverRuntime *rt, DriverRecoverFn fn, void *userdata) {
        DomainDef *def = TAKE_PTR(rt->def);
        const char *reason = rt->stop_reason ? rt->stop_reason : rt->got_shutdown ? "shutdown" : "unknown";
        int id = rt->id;
        uint64_t start = rt->start_time_usec;

        qemu_runtime_log(rt, "qemu (pid %d) is gone, found by a restarted vmgmtd", (int) rt->pid);
        qemu_runtime_remove_files(rt);
        rt->def = domain_def_new();   /* qemu_runtime_free expects one */
        qemu_runtime_free(rt);
        fn(userdata, def, NULL, DOMAIN_STATE_SHUTOFF, reason, id, start);
}

static int recover_one(QemuDriver *d, const char *path, DriverRecoverFn fn, void *userdata) {
        DriverRuntime *rt;
        DomainDef *copy;
        int r;

        r = qemu_runtime_load_status(d, path, &rt);
        if (r < 0) {
                log_warning_errno(r, "Ignoring unreadable status file %s: %m", path);
                (void) unlink_noent(path);
                return 0;
        }
        if (!streq(path, rt->status_path))
                (void) unlink_noent(path);
        if (rt->pid_starttime != 0 && qemu_process_starttime(rt->pid) == rt->pid_starttime)
                rt->pidfd = (int) syscall(SYS_pidfd_open, rt->pid, 0);
        /* Checked again after opening: the pid cannot be reused while we hold the pidfd. */
        if (rt->pidfd < 0 || qemu_process_starttime(rt->pid) != rt->pid_starttime) {
                recover_report_dead(rt, fn, userdata);
                return 0;
        }
        if (rt->starting) {
                /* The previous instance died mid-start: that start never happened. */
                qemu_process_kill_now(rt);
                recover_report_dead(rt, fn, userdata);
                return 0;
        }
        r = qemu_process_watch(rt);
        if (r < 0) {
                qemu_runtime_free(rt);
                return r;
        }
        if (rt->killing) {
                /* The previous instance was stopping it: finish that (the exit reports it). */
                const char *reason = rt->stop_reason, *detail = rt->stop_detail;
                rt->killing = false;
                (void) qemu_process_kill(rt, false, reason, detail);
        }
        r = qemu_monitor_connect(rt, true);
        if (r < 0)
                log_warning_errno(r, "Domain %s: cannot reconnect to the monitor: %m", rt->def->name);
        else {
                rt->reconnecting = true;
                d->n_reconnecting++;
        }
        qemu_tune_recovered(rt);
        qemu_runtime_log(rt, "reconnected to qemu (pid %d) after a vmgmtd restart", (int) rt->pid);
        copy = domain_def_copy(rt->def);
        if (!copy)
                return -ENOMEM;
        fn(userdata, copy, rt, rt->state, rt->reason, rt->id, rt->start_time_usec);
        return 0;
}

void qemu_runtime_reconnect_over(DriverRuntime *rt) {
        QemuDriver *d = rt->driver;
        void (*fn)(void *userdata);

        if (!rt->reconnecting)
                return;
        rt->reconnecting = false;
        if (--d->n_reconnecting > 0 || !d->recovered_fn)
                return;
        fn = d->recovered_fn;
        d->recovered_fn = NULL;
        fn(d->recovered_userdata);
}

static void qemu_driver_when_recovered(DomainDriver *base, void (*fn)(void *userdata), void *userdata) {
        QemuDriver *d = (QemuDriver *) base;

        if (d->n_reconnecting == 0) {
                fn(userdata);
                return;
        }
        d->recovered_fn = fn;
        d->recovered_userdata = userdata;
}

static int qemu_driver_recover(DomainDriver *base, DriverRecoverFn fn, void *userdata) {
        QemuDriver *d = (QemuDriver *) base;
        DIR *dir;
        struct dirent *de;
        int r = 0;

        dir = opendir(d->run_dir);
        if (!dir)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(dir))) {
                _cleanup_free_ char *path = NULL;

                if (!g_str_has_suffix(de->d_name, ".status"))
                        continue;
                if (asprintf(&path, "%s/%s", d->run_dir, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = recover_one(d, path, fn, userdata);
                if (r < 0)
                        break;
        }
        closedir(dir);
        return r;
}

static void qemu_driver_set_probe_timeout(DomainDriver *base, uint64_t usec) {
        ((QemuDriver *) base)->probe_timeout_usec = usec;
}

static const char *const qemu_domain_types[] = { "qemu", "kvm", NULL };

/* Usable when the host's own emulator is installed. */
static bool qemu_driver_usable(void) {
        _cleanup_free_ char *emulator = qemu_caps_find_emulator(NULL);

        return emulator != NULL;
}

const DomainDriverOps qemu_driver_ops = {
        .name = "qemu",
        .domain_types = qemu_domain_types,
        .usable = qemu_driver_usable,
        .new = qemu_driver_new,
        .free = qemu_driver_free,
        .normalize = qemu_driver_normalize,
        .recover = qemu_driver_recover,
        .when_recovered = qemu_driver_when_recovered,
        .attach_owner = qemu_driver_attach_owner,
        .start = qemu_driver_start,
        .shutdown = qemu_driver_shutdown,
        .destroy = qemu_driver_destroy,
        .reboot = qemu_driver_reboot,
        .reset = qemu_driver_reset,
        .suspend = qemu_driver_suspend,
        .resume = qemu_driver_resume,
        .live_def = qemu_driver_live_def,
        .state = qemu_driver_state,
        .pid = qemu_driver_pid,
        .start_time = qemu_driver_start_time,
        .open_graphics = qemu_graphics_open,
        .screenshot = qemu_graphics_screenshot,
        .prepare = qemu_driver_prepare,
        .firmware_resolve = qemu_driver_firmware_resolve,
        .nvram_path = qemu_driver_nvram_path,
        .open_console = qemu_runtime_open_console,
        .set_log_rotation = qemu_driver_set_log_rotation,
        .log_clash = qemu_driver_log_clash,
        .log_clash_base = qemu_driver_log_clash_base,
        .set_screenshot_stall_timeout = qemu_graphics_set_stall_timeout,
        .set_probe_timeout = qemu_driver_set_probe_timeout,
        .console_name = qemu_console_name,
        .block_job_start = qemu_block_job_start,
        .block_job_abort = qemu_block_job_abort,
        .block_jobs_adopt = qemu_block_jobs_adopt,
        .block_resize = qemu_block_resize,
        .backup_disks = qemu_backup_disks,
        .snapshot_offline = qemu_snapshot_offline,
        .snapshot_live = qemu_snapshot_live,
        .snapshot_external = qemu_snapshot_external,
        .snapshot_memory = qemu_snapshot_memory,
        .image_offline = qemu_image_offline,
        .snapshot_stop = qemu_snapshot_stop,
        .set_vcpus = qemu_tune_set_vcpus,
        .set_memory = qemu_tune_set_memory,
        .set_tune = qemu_tune_set,
        .get_affinity = qemu_tune_get_affinity,
        .get_stats = qemu_stats_get,
        .agent_interfaces = qemu_agent_interfaces,
        .set_confinement = qemu_driver_set_confinement,
        .security = qemu_driver_security,
        .save = qemu_driver_save,
        .read_save_image = qemu_driver_read_save_image,
        .restore = qemu_driver_restore,
        .migrate_prepare = qemu_migrate_prepare,
        .migrate_ports = qemu_migrate_ports,
        .migrate_finish = qemu_migrate_finish,
        .migrate_begin = qemu_migrate_begin,
        .migrate_confirm = qemu_migrate_confirm,
        .migrate_set_limits = qemu_migrate_set_limits,
        .migrate_get_limits = qemu_migrate_get_limits,
        .core_dump = qemu_driver_core_dump,
        .domain_capabilities = qemu_driver_domain_capabilities,
        .attach_device = qemu_hotplug_attach,
        .detach_device = qemu_hotplug_detach,
        .change_media = qemu_hotplug_change_media,
        .tpm_state_remove = qemu_tpm_state_remove,
        .tpm_state_copy = qemu_tpm_state_copy,
        .set_net_bandwidth = qemu_hotplug_set_net_bandwidth,
};
