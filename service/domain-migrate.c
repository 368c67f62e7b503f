/* domain-migrate.c — the source of a live migration: Domain.Migrate(s destination, a{sv}) → o Job.
 *
 * The Job connects to the destination's bus (sd_bus_open_system_remote() for [user@]host: an ssh
 * bridge started as a child; or a bus address), all asynchronously; asks its Manager.PrepareMigration
 * for the domain (the destination starts its hypervisor listening), has the driver send the guest there, and
 * when the stream is through (the guest stopped here) asks Domain.FinishIncomingMigration: the guest
 * runs there, the hypervisor here quits (shutoff/migrated). If the destination does not take over, the guest
 * runs on here and the destination's domain is aborted (AbortIncomingMigration). offline: only the
 * persistent definition moves (DefineDomain there). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-lease.h"
#include "domain.h"
#include "job.h"
#include "log.h"
#include "migrate.h"

#define PEER_CALL_USEC (300 * 1000000ULL)   /* PrepareMigration: a start on a loaded host; Finish */
#define PEER_SHORT_USEC (60 * 1000000ULL)

typedef struct Migration {
        Manager *manager;
        VmDomain *domain;               /* a reference */
        VmJob *job;
        char *destination;
        char *host;                     /* [user@]host[:port]'s host: where a wildcard listener is reached */
        bool over_ssh;                  /* the destination's bus is reached through ssh */
        sd_bus *peer;
        sd_bus_slot *call;
        char *remote_path;              /* the domain there, once prepared */
        DriverJob *driver_job;
        DriverMigrateOptions o;
        GArray *disks;                  /* copy_storage: indexes */
        char *disk_list;                /* their targets, "vda,vdb" */
        char *disk_sizes;               /* their virtual sizes, "vda=BYTES,vdb=BYTES" (the destination may make them) */
        struct SizesCall *sizing;       /* the hypervisor asked for them */
        char *listen_address;
        bool live, persistent, undefine_source, offline, copy_storage, tls, postcopy, compressed;
        uint32_t channels;
        bool cancelled, finished;
        VmLeases leases;                /* the hypervisor's, released for the switch (domain-lease.h) */
        bool has_cause;
        uid_t cause_uid;
        pid_t cause_pid;
} Migration;

/* The disks' sizes asked of the hypervisor: forgets its migration when that goes first. */
typedef struct SizesCall {
        Migration *mg;
} SizesCall;

static void migration_free(void *p) {
        Migration *mg = p;

        if (!mg)
                return;
        if (mg->sizing)
                mg->sizing->mg = NULL;
        sd_bus_slot_unref(mg->call);
        if (mg->peer)
                sd_bus_flush_close_unref(mg->peer);
        vm_domain_unref(mg->domain);
        if (mg->disks)
                g_array_free(mg->disks, TRUE);
        g_free(mg->disk_list);
        g_free(mg->disk_sizes);
        g_free(mg->listen_address);
        g_free(mg->destination);
        g_free(mg->host);
        g_free(mg->remote_path);
        g_free((char *) mg->o.host);
        vm_leases_release(&mg->leases);
        g_free(mg);
}

static void with_cause(Migration *mg) {
        VmDomain *d = mg->domain;

        if (mg->has_cause) {
                d->cause_set = true;
                d->cause_uid = mg->cause_uid;
                d->cause_pid = mg->cause_pid;
        }
}

/* The end, once: the Job reports it; mg goes with the Job. */
static void migration_end(Migration *mg, int r, const char *message) {
        VmJob *j = mg->job;

        if (mg->finished)
                return;
        mg->finished = true;
        mg->call = sd_bus_slot_unref(mg->call);
        if (mg->peer) {
                /* what is queued (an abort) goes out first */
                (void) sd_bus_flush(mg->peer);
                mg->peer = sd_bus_close_unref(mg->peer);
        }
        vm_job_finish(j, r, message);   /* frees nothing: the owner data stays until the job goes */
}

/* [user@]host[:port][/machine] (sd_bus_open_system_remote()'s form): the host alone, brackets of an
 * IPv6 address dropped — where the guest's stream goes when the destination listens on every address. */
static char *ssh_destination_host(const char *destination) {
        const char *at = strrchr(destination, '@');
        const char *h = at ? at + 1 : destination;

        if (h[0] == '[') {
                const char *close = strchr(h, ']');
                return close ? g_strndup(h + 1, (size_t) (close - h - 1)) : g_strdup(h + 1);
        }
        return g_strndup(h, strcspn(h, ":/"));
}

/* The destination gave no answer because its connection ended: over ssh, that is ssh failing (host
 * key, refused, unreachable, authentication) or no systemd-stdio-bridge/bus there; ssh said why on
 * our stderr (the log). */
static bool peer_unreached(Migration *mg, const sd_bus_error *e) {
        return mg->over_ssh && sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) && !sd_bus_is_open(mg->peer);
}

static char *unreached_message(Migration *mg, const sd_bus_error *e) {
        return g_strdup_printf("cannot reach vmgmtd on %s over ssh: the connection ended before it answered (%s); "
                               "ssh's own words are in vmgmtd's log",
                               mg->destination, e->message ?: e->name);
}

/* Tells the destination to drop its incoming domain (the answer does not matter). */
static void abort_remote(Migration *mg) {
        if (!mg->peer || !mg->remote_path)
                return;
        (void) sd_bus_call_method_async(mg->peer, NULL, VM_BUS_NAME, mg->remote_path, VM_DOMAIN_INTERFACE,
                                        "AbortIncomingMigration", NULL, NULL, "a{sv}", 0);
        (void) sd_bus_flush(mg->peer);
}

static void set_stats(Migration *mg, const DriverMigrateStats *s) {
        VmJob *j = mg->job;

        vm_job_set_info(j, "ram_transferred", s->ram_transferred);
        vm_job_set_info(j, "ram_remaining", s->ram_remaining);
        vm_job_set_info(j, "ram_total", s->ram_total);
        vm_job_set_info(j, "dirty_rate", s->dirty_rate);
        vm_job_set_info(j, "iteration", s->iteration);
        vm_job_set_info(j, "expected_downtime_ms", s->expected_downtime_ms);
        vm_job_set_info(j, "downtime_ms", s->downtime_ms);
        vm_job_set_info(j, "setup_ms", s->setup_ms);
        vm_job_set_info(j, "total_ms", s->total_ms);
        if (s->disk_total) {
                vm_job_set_info(j, "disk_transferred", s->disk_transferred);
                vm_job_set_info(j, "disk_total", s->disk_total);
        }
        if (s->status)
                vm_job_set_info_string(j, "status", s->status);
        uint64_t total = s->ram_total + s->disk_total;
        uint64_t done = (s->ram_total > s->ram_remaining ? s->ram_total - s->ram_remaining : 0) + s->disk_transferred;
        vm_job_progress(j, MIN(done, total), total);
}

static void on_stats(void *userdata, const DriverMigrateStats *s) {
        set_stats(userdata, s);
}

/* ---- the end on the source ---- */

static void undefine_source(Migration *mg) {
        VmDomain *d = mg->domain;
        VmDomainProps before;
        int r;

        if (!d->persistent || vm_domain_find_by_path(mg->manager, d->path) != d)
                return;
        r = vm_domain_store_remove(mg->manager, d->config_file);
        if (r < 0) {
                log_warning("Domain '%s' migrated, but its definition here could not be removed: %s", d->name,
                            strerror(-r));
                return;
        }
        with_cause(mg);
        vm_domain_props_get(d, &before);
        g_clear_pointer(&d->config_file, g_free);
        d->persistent = false;
        d->autostart = false;
        d->newdef = domain_def_free(d->newdef);
        vm_domain_props_clear(&before);
        vm_domain_emit_event(d, "undefined", "removed");
        if (!vm_domain_is_busy(d))
                vm_domain_remove(d);
        vm_domain_clear_cause(d);
}

static void on_driver_done(void *userdata, int r, const char *message) {
        Migration *mg = userdata;

        mg->driver_job = NULL;
        vm_domain_clear_cause(mg->domain);
        if (r >= 0) {
                if (mg->undefine_source)
                        undefine_source(mg);
                migration_end(mg, 0, NULL);
                return;
        }
        if (r != -ENOTCONN)
                abort_remote(mg);   /* not when its answer was lost: it may be running the guest */
        migration_end(mg, r, message);
}

static int finish_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Migration *mg = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        DriverJob *dj = mg->driver_job;

        mg->call = sd_bus_slot_unref(mg->call);
        with_cause(mg);
        if (e && !g_str_has_prefix(e->name, "org.vmgmt.") && !sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED)) {
                /* no answer of the destination's vmgmtd (the connection went, the call timed out): it may
                 * run the guest already, so it must not run here too: it stays paused here */
                g_autofree char *msg = g_strdup_printf("the destination's answer was lost (%s): the guest stays "
                                                       "paused here and may run on the destination",
                                                       e->message ?: e->name);
                log_warning("Migration of domain '%s': %s", mg->domain->name, msg);
                vm_leases_release(&mg->leases);   /* the destination may hold them */
                mg->domain->drv->ops->migrate_confirm(dj, -ENOTCONN, msg);
                return 0;
        }
        if (e) {
                g_autofree char *msg = g_strdup_printf("the destination did not take the guest over: %s",
                                                       e->message ?: e->name);
                g_autofree char *lease_error = NULL;
                VmDomain *d = mg->domain;

                log_warning("Migration of domain '%s': %s", d->name, msg);
                /* its leases back before it runs on here; taken by someone else meanwhile, it must not run */
                if (vm_leases_lock(&mg->leases, d->rt && d->drv->ops->pid ? d->drv->ops->pid(d->rt) : 0,
                                   &lease_error) < 0) {
                        g_autofree char *stay = g_strdup_printf("%s; its lease cannot be taken back here (%s): the "
                                                                "guest stays paused here", msg, strna(lease_error));
                        log_warning("Migration of domain '%s': %s", d->name, stay);
                        vm_leases_release(&mg->leases);
                        d->drv->ops->migrate_confirm(dj, -ENOTCONN, stay);
                        return 0;
                }
                vm_leases_release(&mg->leases);   /* the hypervisor holds them again */
                d->drv->ops->migrate_confirm(dj, -EIO, msg);
                return 0;
        }
        vm_leases_release(&mg->leases);   /* released: they go with the hypervisor */
        mg->domain->drv->ops->migrate_confirm(dj, 0, NULL);
        return 0;
}

static void on_switchover(void *userdata, DriverJob *job) {
        Migration *mg = userdata;
        VmDomain *d = mg->domain;
        g_autofree char *lease_error = NULL;
        int r;

        mg->driver_job = job;
        /* the guest is paused here: its hypervisor lets its leases go (it keeps running) so that the
         * destination can take them before the guest runs there (domain-lease.h) */
        vm_leases_release(&mg->leases);
        r = d->rt && d->drv->ops->pid ? vm_leases_of_process(mg->manager, vm_domain_current_def(d),
                                                             vm_domain_current_def(d), d->drv->ops->pid(d->rt),
                                                             &mg->leases, &lease_error)
                                      : -ESRCH;
        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("cannot hand the disk leases over: %s",
                                                       lease_error ?: strerror(-r));
                d->drv->ops->migrate_confirm(job, r, msg);
                return;
        }
        vm_leases_unlock(&mg->leases);
        r = sd_bus_call_method_async(mg->peer, &mg->call, VM_BUS_NAME, mg->remote_path, VM_DOMAIN_INTERFACE,
                                     "FinishIncomingMigration", finish_reply, mg, "a{sv}", 1, "persistent", "b",
                                     mg->persistent);
        if (r < 0) {
                g_autofree char *error = NULL;
                if (vm_leases_lock(&mg->leases, d->drv->ops->pid(d->rt), &error) < 0) {
                        g_autofree char *stay = g_strdup_printf("cannot reach the destination; its lease cannot be "
                                                                "taken back here (%s): the guest stays paused here",
                                                                strna(error));
                        vm_leases_release(&mg->leases);
                        d->drv->ops->migrate_confirm(job, -ENOTCONN, stay);
                        return;
                }
                vm_leases_release(&mg->leases);
                d->drv->ops->migrate_confirm(job, r, "cannot reach the destination");
        }
}

/* ---- prepared there: the stream ---- */

static int prepare_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Migration *mg = userdata;
        VmDomain *d = mg->domain;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *path = NULL, *host = NULL;
        uint16_t port = 0, nbd_port = 0;
        g_autofree char *err = NULL;
        DriverMigrateCallbacks cb = { .stats = on_stats, .switchover = on_switchover, .done = on_driver_done,
                                      .userdata = mg };
        int r;

        mg->call = sd_bus_slot_unref(mg->call);
        if (e && peer_unreached(mg, e)) {
                g_autofree char *msg = unreached_message(mg, e);
                log_warning("Migration of domain '%s': %s", d->name, msg);
                migration_end(mg, -EHOSTUNREACH, msg);
                return 0;
        }
        if (e) {
                g_autofree char *msg = g_strdup_printf("the destination refused the migration: %s",
                                                       e->message ?: e->name);
                migration_end(mg, sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED) ? -EACCES : -EIO, msg);
                return 0;
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r > 0 || r == 0) {
                const char *key;
                r = sd_bus_message_enter_container(reply, 'e', "sv");
                if (r <= 0)
                        break;
                r = sd_bus_message_read(reply, "s", &key);
                if (r < 0)
                        break;
                if (streq(key, "host"))
                        r = sd_bus_message_read(reply, "v", "s", &host);
                else if (streq(key, "port"))
                        r = sd_bus_message_read(reply, "v", "q", &port);
                else if (streq(key, "nbd_port"))
                        r = sd_bus_message_read(reply, "v", "q", &nbd_port);
                else
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0)
                        break;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        break;
        }
        if (r < 0 || !path || !host || !port) {
                migration_end(mg, -EIO, "the destination's answer to PrepareMigration is not understood");
                return 0;
        }
        mg->remote_path = g_strdup(path);
        if (mg->cancelled) {
                abort_remote(mg);
                migration_end(mg, -ECANCELED, "the migration was cancelled");
                return 0;
        }
        if (!d->rt) {
                abort_remote(mg);
                migration_end(mg, -ESRCH, "the domain stopped before its migration began");
                return 0;
        }
        /* a wildcard listener is reached where the destination was */
        if (streq(host, "0.0.0.0") || streq(host, "::"))
                host = mg->host ?: "127.0.0.1";
        mg->o.host = g_strdup(host);
        mg->o.port = port;
        mg->o.nbd_port = nbd_port;
        if (mg->disks) {
                mg->o.nbd_disks = (const size_t *) mg->disks->data;
                mg->o.n_nbd_disks = mg->disks->len;
        }
        with_cause(mg);
        r = d->drv->ops->migrate_begin(d->rt, &mg->o, &cb, &mg->driver_job, &err);
        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("cannot migrate: %s", err ?: strerror(-r));
                vm_domain_clear_cause(d);
                abort_remote(mg);
                migration_end(mg, r, msg);
        }
        return 0;
}

static int offline_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Migration *mg = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        mg->call = sd_bus_slot_unref(mg->call);
        if (e && peer_unreached(mg, e)) {
                g_autofree char *msg = unreached_message(mg, e);
                migration_end(mg, -EHOSTUNREACH, msg);
                return 0;
        }
        if (e) {
                g_autofree char *msg = g_strdup_printf("the destination refused the definition: %s",
                                                       e->message ?: e->name);
                migration_end(mg, -EIO, msg);
                return 0;
        }
        vm_job_progress(mg->job, 1, 1);
        if (mg->undefine_source)
                undefine_source(mg);
        migration_end(mg, 0, NULL);
        return 0;
}

static int prepare_send(Migration *mg);

static void on_sizes(void *userdata, const DriverStats *stats) {
        SizesCall *c = userdata;
        Migration *mg = c->mg;
        g_autoptr(GString) sizes = g_string_new(NULL);
        int r;

        free(c);
        if (!mg)
                return;
        mg->sizing = NULL;
        if (mg->finished)
                return;
        for (guint k = 0; k < mg->disks->len; k++) {
                size_t i = g_array_index(mg->disks, size_t, k);
                g_autofree char *key = g_strdup_printf("block.%zu.capacity", i);
                const DomainDef *def = vm_domain_current_def(mg->domain);

                for (size_t n = 0; n < stats->n; n++)
                        if (streq(stats->items[n].key, key) && stats->items[n].type == DRIVER_STAT_UINT &&
                            i < def->n_disks)
                                g_string_append_printf(sizes, "%s%s=%" PRIu64, sizes->len ? "," : "",
                                                       def->disks[i].target_dev, stats->items[n].u);
        }
        mg->disk_sizes = sizes->len ? g_strdup(sizes->str) : NULL;
        r = prepare_send(mg);
        if (r < 0)
                migration_end(mg, r, "cannot ask the destination to prepare the migration");
}

/* The virtual sizes of the disks to copy (the hypervisor's answer), then prepare_send(). */
static int sizes_begin(Migration *mg) {
        SizesCall *c = g_new0(SizesCall, 1);
        VmDomain *d = mg->domain;
        int r;

        c->mg = mg;
        mg->sizing = c;   /* on_sizes() may come before get_stats() returns */
        r = d->drv->ops->get_stats(d->rt, DRIVER_STATS_BLOCK, PEER_CALL_USEC, on_sizes, c);
        if (r < 0) {
                mg->sizing = NULL;
                free(c);
                return r;
        }
        return 0;
}

static int connect_begin(Migration *mg) {
        Manager *m = mg->manager;
        VmDomain *d = mg->domain;
        int r;

        if (strchr(mg->destination, '=')) {
                /* a bus address (unix:path=…, tcp:host=…) */
                r = sd_bus_new(&mg->peer);
                if (r >= 0)
                        r = sd_bus_set_address(mg->peer, mg->destination);
                if (r >= 0)
                        r = sd_bus_set_bus_client(mg->peer, true);
                if (r >= 0)
                        r = sd_bus_start(mg->peer);
        } else {
                /* [user@]host[:port]: ssh [-p PORT] HOST systemd-stdio-bridge, a child of ours (root's
                 * ~/.ssh: its config, keys and known_hosts) */
                mg->host = ssh_destination_host(mg->destination);
                mg->over_ssh = true;
                r = sd_bus_open_system_remote(&mg->peer, mg->destination);
        }
        if (r >= 0)
                r = sd_bus_attach_event(mg->peer, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        if (!mg->offline && mg->disks && d->rt && d->drv->ops->get_stats)
                return sizes_begin(mg);   /* the destination may have to make the images */
        return prepare_send(mg);
}

/* PrepareMigration (or, offline, DefineDomain) to the destination. */
static int prepare_send(Migration *mg) {
        VmDomain *d = mg->domain;
        g_autofree char *xml = NULL;
        int r = 0;

        if (mg->offline) {
                xml = domain_def_format(vm_domain_inactive_def(d), DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
                if (!xml)
                        return -ENOMEM;
                return sd_bus_call_method_async(mg->peer, &mg->call, VM_BUS_NAME, VM_MANAGER_PATH,
                                                VM_MANAGER_INTERFACE, "DefineDomain", offline_reply, mg, "sa{sv}", xml,
                                                0);
        }
        /* the live definition (hot-plugged devices, their addresses), without what only this host's run has */
        xml = domain_def_format(vm_domain_current_def(d), DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
        if (!xml)
                return -ENOMEM;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        r = sd_bus_message_new_method_call(mg->peer, &call, VM_BUS_NAME, VM_MANAGER_PATH, VM_MANAGER_INTERFACE,
                                           "PrepareMigration");
        if (r >= 0)
                r = sd_bus_message_append(call, "s", xml);
        if (r >= 0)
                r = sd_bus_message_open_container(call, 'a', "{sv}");
        if (r >= 0 && mg->listen_address)
                r = sd_bus_message_append(call, "{sv}", "listen_address", "s", mg->listen_address);
        if (r >= 0 && mg->disk_list)
                r = sd_bus_message_append(call, "{sv}", "copy_storage_disks", "s", mg->disk_list);
        if (r >= 0 && mg->disk_sizes)
                r = sd_bus_message_append(call, "{sv}", "copy_storage_sizes", "s", mg->disk_sizes);
        if (r >= 0 && mg->postcopy)
                r = sd_bus_message_append(call, "{sv}", "postcopy", "b", true);
        if (r >= 0 && mg->compressed)
                r = sd_bus_message_append(call, "{sv}", "compressed", "b", true);
        if (r >= 0 && mg->channels)
                r = sd_bus_message_append(call, "{sv}", "parallel_connections", "u", mg->channels);
        if (r >= 0 && mg->tls)
                r = sd_bus_message_append(call, "{sv}", "tls", "b", true);
        if (r >= 0)
                r = sd_bus_message_close_container(call);
        if (r >= 0)
                r = sd_bus_call_async(mg->peer, &mg->call, call, prepare_reply, mg, PEER_CALL_USEC);
        return r;
}

static void on_cancel(VmJob *j, void *userdata) {
        Migration *mg = userdata;

        mg->cancelled = true;
        if (mg->driver_job) {
                driver_job_cancel(mg->driver_job);
                return;
        }
        if (mg->offline) {
                migration_end(mg, -ECANCELED, "the migration was cancelled");
                return;
        }
        if (mg->sizing) {
                /* nothing asked there yet */
                migration_end(mg, -ECANCELED, "the migration was cancelled");
                return;
        }
        /* PrepareMigration is under way: its answer sees the cancel (the destination's domain is aborted) */
}

int vm_domain_method_migrate(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        Manager *m = d->manager;
        const char *destination, *listen = NULL;
        bool live = false, persistent = false, undef = false, offline = false, copy = false, auto_converge = false,
             postcopy = false, postcopy_now = false, compressed = false, tls = false;
        uint64_t bandwidth = 0;
        uint32_t channels = 0, downtime = 0;
        const BusOption options[] = {
                { "live", "b", &live },
                { "persistent", "b", &persistent },
                { "undefine_source", "b", &undef },
                { "offline", "b", &offline },
                { "copy_storage", "b", &copy },
                { "bandwidth_mib", "t", &bandwidth },
                { "auto_converge", "b", &auto_converge },
                { "postcopy", "b", &postcopy },
                { "postcopy_now", "b", &postcopy_now },
                { "compressed", "b", &compressed },
                { "parallel_connections", "u", &channels },
                { "max_downtime_ms", "u", &downtime },
                { "tls", "b", &tls },
                { "listen_address", "s", &listen },
                {}
        };
        const char *details[5];
        Migration *mg;
        int r;

        r = sd_bus_message_read(message, "s", &destination);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MIGRATE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (isempty(destination))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "No destination");
        if (bandwidth > (UINT64_MAX >> 20))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Option bandwidth_mib: too large");
        if (channels > 255)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Option parallel_connections: 1-255");
        if (postcopy_now && !postcopy)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Option postcopy_now needs postcopy");
        if (postcopy && copy)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Option postcopy cannot be combined with copy_storage");
        if (offline && (copy || postcopy || live || tls || compressed || channels || bandwidth || listen || downtime ||
                        auto_converge))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Option offline moves only the definition: no stream options go with it");
        if (tls && !m->config.migrate_tls_dir)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Option tls: this host has no migrate_tls_x509_cert_dir in [migration] of vmgmtd.conf");
        if (vm_domain_running_job(d))
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' has a job running", d->name);
        if (d->snapshot_op)
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' has a snapshot operation running", d->name);
        if (offline) {
                if (!d->persistent)
                        return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                                 "Domain '%s' is transient: an offline migration moves a persistent definition",
                                                 d->name);
        } else {
                if (d->starting || !d->rt || !vm_domain_is_active(d))
                        return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
                if (d->state != DOMAIN_STATE_RUNNING && d->state != DOMAIN_STATE_PAUSED)
                        return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is %s", d->name,
                                                 domain_state_to_string(d->state));
                if (!d->drv->ops->migrate_begin)
                        return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver cannot migrate domains",
                                                 d->drv->ops->name);
        }
        if (undef && !d->persistent)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option undefine_source: domain '%s' is transient", d->name);

        mg = g_new0(Migration, 1);
        mg->manager = m;
        mg->domain = vm_domain_ref(d);
        mg->destination = g_strdup(destination);
        mg->listen_address = g_strdup(listen);
        mg->live = live;
        mg->persistent = persistent;
        mg->undefine_source = undef;
        mg->offline = offline;
        mg->copy_storage = copy;
        mg->postcopy = postcopy;
        mg->compressed = compressed;
        mg->tls = tls;
        mg->channels = channels;
        mg->o = (DriverMigrateOptions) {
                /* libvirt's non-live migration pauses the guest first; a live one keeps it running */
                .live = live || d->state == DOMAIN_STATE_PAUSED,
                .auto_converge = auto_converge,
                .postcopy = postcopy,
                .postcopy_now = postcopy_now,
                .compress = compressed,
                .tls = tls,
                .tls_dir = m->config.migrate_tls_dir,
                .multifd_channels = channels,
                .bandwidth = bandwidth << 20,
                .max_downtime_ms = downtime,
        };
        if (copy) {
                const DomainDef *def = vm_domain_current_def(d);
                g_autoptr(GString) list = g_string_new(NULL);
                mg->disks = g_array_new(FALSE, FALSE, sizeof(size_t));
                for (size_t i = 0; i < def->n_disks; i++) {
                        const DomainDiskDef *disk = &def->disks[i];
                        /* every writable disk with an image: read-only and shared ones are the same there, network
                         * ones are shared storage (no image of this host to copy) */
                        if (!disk->source || disk->readonly || disk->shareable || disk->device != DOMAIN_DISK_DEVICE_DISK ||
                            disk->type == DOMAIN_DISK_TYPE_NETWORK)
                                continue;
                        g_array_append_val(mg->disks, i);
                        g_string_append_printf(list, "%s%s", list->len ? "," : "", disk->target_dev);
                }
                if (mg->disks->len > 0)
                        mg->disk_list = g_strdup(list->str);
                else {
                        g_array_free(mg->disks, TRUE);
                        mg->disks = NULL;
                }
        }
        mg->job = vm_job_new(m, "migrate", d->path, VM_ACTION_DOMAIN_MIGRATE, vm_domain_details(d, details));
        vm_job_set_owner_data(mg->job, mg, migration_free);
        vm_domain_set_cause(d, message);
        mg->has_cause = d->cause_set;
        mg->cause_uid = d->cause_uid;
        mg->cause_pid = d->cause_pid;
        vm_domain_clear_cause(d);
        r = connect_begin(mg);
        if (r < 0) {
                g_autofree char *what = g_strdup_printf("Failed to migrate domain '%s' to %s", d->name, destination);
                vm_job_discard(mg->job);   /* frees mg */
                return bus_error_from_errno(error, r, "cannot connect to the destination", what);
        }
        vm_job_set_cancel(mg->job, on_cancel, mg);
        vm_job_publish(mg->job);
        log_info("Domain '%s' migrates to %s (job %s)", d->name, destination, vm_job_path(mg->job));
        return sd_bus_reply_method_return(message, "o", vm_job_path(mg->job));
}

/* ---- SetMigrationParameters, GetMigrationParameters (virsh migrate-setspeed, migrate-setmaxdowntime) ---- */

static void limits_set_done(void *userdata, int r, const char *message) {
        VmOp *op = userdata;

        if (r < 0)
                (void) sd_bus_reply_method_errorf(op->message, r == -ESRCH ? VM_ERROR_INVALID_STATE
                                                                           : VM_ERROR_OPERATION_FAILED,
                                                  "Cannot set the migration parameters of domain '%s': %s",
                                                  op->domain->name, message ?: strerror(-r));
        else
                (void) sd_bus_reply_method_return(op->message, NULL);
        vm_op_free(op);
}

int vm_domain_method_set_migration_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        uint64_t bandwidth = 0, downtime = 0;
        bool has_bw = false, has_dt = false;
        const BusOption options[] = {
                { "bandwidth_mib", "t", &bandwidth, &has_bw },
                { "max_downtime_ms", "t", &downtime, &has_dt },
                {}
        };
        VmOp *op;
        int r;

        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MIGRATE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (bandwidth > (UINT64_MAX >> 21))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Option bandwidth_mib: too large");
        if (downtime > 2000000)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Option max_downtime_ms: at most 2000000");
        if (!d->rt || d->starting || !vm_domain_is_active(d))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        if (!d->drv->ops->migrate_set_limits)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver cannot migrate domains",
                                         d->drv->ops->name);
        op = vm_op_new(d, message, "set-migration-parameters");
        r = d->drv->ops->migrate_set_limits(d->rt, has_bw ? (int64_t) (bandwidth << 20) : -1,
                                            has_dt ? (int64_t) downtime : -1, limits_set_done, op);
        if (r < 0) {
                vm_op_free(op);
                return bus_error_from_errno(error, r, NULL, "Cannot set the migration parameters");
        }
        return 1;
}

static void limits_get_done(void *userdata, int r, uint64_t bandwidth, uint64_t downtime_ms, const char *message) {
        VmOp *op = userdata;

        if (r < 0)
                (void) sd_bus_reply_method_errorf(op->message, r == -ESRCH ? VM_ERROR_INVALID_STATE
                                                                           : VM_ERROR_OPERATION_FAILED,
                                                  "Cannot read the migration parameters of domain '%s': %s",
                                                  op->domain->name, message ?: strerror(-r));
        else
                (void) sd_bus_reply_method_return(op->message, "a{sv}", 2, "bandwidth_mib", "t", bandwidth >> 20,
                                                  "max_downtime_ms", "t", downtime_ms);
        vm_op_free(op);
}

int vm_domain_method_get_migration_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        VmOp *op;
        int r;

        /* as libvirt's virDomainMigrateGetMaxSpeed: the migrate permission */
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MIGRATE, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (!d->rt || d->starting || !vm_domain_is_active(d))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        if (!d->drv->ops->migrate_get_limits)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver cannot migrate domains",
                                         d->drv->ops->name);
        op = vm_op_new(d, message, "get-migration-parameters");
        r = d->drv->ops->migrate_get_limits(d->rt, limits_get_done, op);
        if (r < 0) {
                vm_op_free(op);
                return bus_error_from_errno(error, r, NULL, "Cannot read the migration parameters");
        }
        return 1;
}
