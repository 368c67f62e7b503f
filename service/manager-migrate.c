/* manager-migrate.c — the destination of a live migration: Manager.PrepareMigration starts the incoming
 * domain (transient, its hypervisor listening), Domain.FinishIncomingMigration runs it once its source says the
 * stream is through (persistent b: defined here too), Domain.AbortIncomingMigration (or the source
 * going away, or the time running out) kills it: nothing stays behind. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-lease.h"
#include "domain.h"
#include "log.h"
#include "migrate.h"
#include "object-kind.h"
#include "path-policy.h"

#define INCOMING_TIMEOUT_SEC_DEFAULT 3600u        /* the whole migration, from PrepareMigration on */
#define FINISH_WAIT_USEC (120 * 1000000ULL)       /* the stream's end here after the source saw it */

/* ---- configuration ---- */

static int read_port(GKeyFile *kf, const char *path, const char *key, uint16_t *ret) {
        g_autoptr(GError) e = NULL;
        gint v;

        if (!g_key_file_has_key(kf, "migration", key, NULL))
                return 0;
        v = g_key_file_get_integer(kf, "migration", key, &e);
        if (e || v < 1 || v > 65535) {
                log_error("%s: invalid %s in [migration] (a port, 1-65535)", path, key);
                return -EINVAL;
        }
        *ret = (uint16_t) v;
        return 0;
}

int vm_migration_config_load(GKeyFile *kf, const char *path, ManagerConfig *c) {
        static const char *const keys[] = { "migration_port_min", "migration_port_max", "migration_address",
                                            "migrate_tls_x509_cert_dir", NULL };
        g_auto(GStrv) have = g_key_file_get_keys(kf, "migration", NULL, NULL);

        c->migration_port_min = VM_MIGRATION_PORT_MIN_DEFAULT;
        c->migration_port_max = VM_MIGRATION_PORT_MAX_DEFAULT;
        for (char **k = have; k && *k; k++)
                if (!g_strv_contains(keys, *k)) {
                        log_error("%s: unknown key '%s' in [migration] (known: migration_port_min, migration_port_max, migration_address, migrate_tls_x509_cert_dir)",
                                  path, *k);
                        return -EINVAL;
                }
        if (read_port(kf, path, "migration_port_min", &c->migration_port_min) < 0 ||
            read_port(kf, path, "migration_port_max", &c->migration_port_max) < 0)
                return -EINVAL;
        if (c->migration_port_max < c->migration_port_min) {
                log_error("%s: migration_port_max is below migration_port_min", path);
                return -EINVAL;
        }
        g_free(c->migration_address);
        c->migration_address = g_key_file_get_string(kf, "migration", "migration_address", NULL);
        g_free(c->migrate_tls_dir);
        c->migrate_tls_dir = g_key_file_get_string(kf, "migration", "migrate_tls_x509_cert_dir", NULL);
        if (c->migrate_tls_dir && c->migrate_tls_dir[0] != '/') {
                log_error("%s: migrate_tls_x509_cert_dir must be an absolute path", path);
                return -EINVAL;
        }
        return 0;
}

/* ---- incoming migrations ---- */

typedef struct Incoming {
        Manager *manager;
        VmDomain *domain;               /* a reference */
        sd_bus_message *message;        /* PrepareMigration, until answered */
        sd_bus_message *finish;         /* FinishIncomingMigration, until answered */
        bool created;                   /* a transient domain made for it */
        bool persistent;                /* Finish's: defined here once it runs */
        bool prepared;                  /* listening: answered */
        char *listen_address;
        sd_bus_track *source;           /* the caller of PrepareMigration: its going away aborts */
        sd_event_source *timer;
        DomainDef *def;                 /* the definition it came with, for persistent */
        DriverMigrateIncoming launch;   /* for the driver, once the start's files are open */
        GArray *disks;                  /* launch.nbd_disks */
        VmLeases leases;                /* opened, not locked: the ones its hypervisor has; locked at Finish */
        GPtrArray *made;                /* copy_storage: the volumes made for it (migrate-storage.c) */
        bool keep_storage;              /* it runs here: they stay */
} Incoming;

static GHashTable *incoming_table;       /* domain path → Incoming* */

static void incoming_free(Incoming *in) {
        if (!in)
                return;
        if (incoming_table && in->domain && g_hash_table_lookup(incoming_table, in->domain->path) == in)
                g_hash_table_remove(incoming_table, in->domain->path);
        sd_bus_track_unref(in->source);
        sd_event_source_disable_unref(in->timer);
        sd_bus_message_unref(in->message);
        sd_bus_message_unref(in->finish);
        vm_domain_unref(in->domain);
        domain_def_free(in->def);
        if (in->disks)
                g_array_free(in->disks, TRUE);
        vm_leases_release(&in->leases);
        if (in->keep_storage && in->made)
                g_ptr_array_unref(in->made);
        else
                vm_precreated_remove(in->manager, in->made);   /* nothing stays */
        g_free(in->listen_address);
        g_free(in);
}

void vm_incoming_migrations_free(Manager *m) {
        GHashTableIter it;
        gpointer value;

        if (!incoming_table)
                return;
        g_hash_table_iter_init(&it, incoming_table);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Incoming *in = value;
                g_hash_table_iter_steal(&it);
                vm_domain_unref(g_steal_pointer(&in->domain));
                incoming_free(in);
        }
        g_hash_table_destroy(incoming_table);
        incoming_table = NULL;
}

static Incoming *incoming_of(VmDomain *d) {
        return incoming_table ? g_hash_table_lookup(incoming_table, d->path) : NULL;
}

static void abort_done(void *userdata, int r, const char *message) {
        if (r < 0)
                log_warning("Cannot stop an incoming migration's domain: %s", strna(message));
}

/* Kills the incoming domain (a transient one goes with it) and forgets the migration. */
static void incoming_abort(Incoming *in, const char *why) {
        VmDomain *d = in->domain;

        log_info("Incoming migration of domain '%s' aborted: %s", d->name, why);
        g_hash_table_remove(incoming_table, d->path);
        if (d->rt && d->drv->ops->destroy(d->rt, false, abort_done, NULL) < 0)
                log_warning("Cannot stop domain '%s' after its aborted incoming migration", d->name);
        incoming_free(in);
}

static int incoming_expired(sd_event_source *s, uint64_t usec, void *userdata) {
        Incoming *in = userdata;

        in->timer = sd_event_source_disable_unref(in->timer);
        if (in->finish)
                return 0;
        incoming_abort(in, "it did not finish in time");
        return 0;
}

static int source_gone(sd_bus_track *t, void *userdata) {
        Incoming *in = userdata;

        if (in->finish)
                return 0;   /* it asked for the end: that goes on */
        incoming_abort(in, "its source went away");
        return 0;
}

/* ---- PrepareMigration ---- */

static void def_freep(DomainDef **p) {
        domain_def_free(*p);
}

/* "vda,vdb" → the indexes of those disks of def. */
static int disks_of(const DomainDef *def, const char *list, GArray *ret, sd_bus_error *error) {
        g_auto(GStrv) names = g_strsplit(list, ",", -1);

        for (char **n = names; *n; n++) {
                size_t i;
                if (!**n)
                        continue;
                for (i = 0; i < def->n_disks; i++)
                        if (streq_ptr(def->disks[i].target_dev, *n))
                                break;
                if (i == def->n_disks)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option copy_storage_disks: no disk '%s' in the definition", *n);
                g_array_append_val(ret, i);
        }
        return 0;
}

static int prepare_launch(void *launch_data, VmDriver *drv, VmDomain *d, const DomainDef *def, int id,
                          DriverStartFlags flags, const DriverFiles *files, VmLeases *leases, DriverRuntime **ret_rt,
                          DriverDoneFn done, void *userdata) {
        Incoming *in = launch_data;
        int r;

        /* the leases' files, opened, not locked (DRIVER_START_NO_LEASES: the source's hypervisor
         * holds them until the switch, domain-lease.h): the hypervisor here gets them as at a
         * start, Finish locks our copies */
        r = drv->ops->migrate_prepare(drv->driver, d, def, id, files, &in->launch, ret_rt, done, userdata);
        if (r >= 0) {
                vm_leases_release(&in->leases);
                in->leases = *leases;
                *leases = (VmLeases) {};
        }
        return r;
}

static int reply_prepared(Incoming *in) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        VmDomain *d = in->domain;
        uint16_t port = 0, nbd_port = 0;
        g_autofree char *uri = NULL;
        int r;

        d->drv->ops->migrate_ports(d->rt, &port, &nbd_port);
        uri = strchr(in->listen_address, ':') ? g_strdup_printf("tcp:[%s]:%u", in->listen_address, port)
                                              : g_strdup_printf("tcp:%s:%u", in->listen_address, port);
        r = sd_bus_message_new_method_return(in->message, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "o", d->path);
        if (r >= 0)
                r = sd_bus_message_append(reply, "a{sv}", 4, "uri", "s", uri, "host", "s", in->listen_address,
                                          "port", "q", port, "nbd_port", "q", nbd_port);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        return r;
}

static void prepare_done(void *userdata, int r, const char *message) {
        Incoming *in = userdata;
        VmDomain *d = in->domain;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (r < 0 && d->rt)
                vm_domain_start_failed(d);
        if (in->created) {
                if (r >= 0 && d->rt)
                        vm_domain_unhide(d);
                else
                        vm_domain_remove(d);
        }
        vm_domain_clear_cause(d);
        if (r < 0 || !d->rt) {
                g_autofree char *what = g_strdup_printf("Failed to prepare the incoming migration of domain '%s'",
                                                        d->name);
                bus_error_from_errno(&error, r < 0 ? r : -ESRCH, message, what);
                (void) sd_bus_reply_method_error(in->message, &error);
                incoming_free(in);
                return;
        }
        in->prepared = true;
        if (!incoming_table)
                incoming_table = g_hash_table_new(g_str_hash, g_str_equal);
        g_hash_table_insert(incoming_table, d->path, in);
        if (reply_prepared(in) < 0)
                log_warning("Cannot answer PrepareMigration of domain '%s'", d->name);
        /* the source's connection: when it goes before Finish, so does the guest here */
        if (sd_bus_track_new(d->manager->bus, &in->source, source_gone, in) >= 0)
                (void) sd_bus_track_add_sender(in->source, in->message);
        in->message = sd_bus_message_unref(in->message);
}

typedef struct PrepareArgs {
        Manager *manager;
        sd_bus_message *message;
        DomainDef *def;
        char *listen, *disks, *sizes;
        bool postcopy, compressed, tls;
        uint32_t channels, timeout_sec;
        GPtrArray *made;                /* the volumes made for it, until the Incoming has them */
} PrepareArgs;

static void prepare_args_free(PrepareArgs *a) {
        vm_precreated_remove(a->manager, a->made);
        g_free(a->sizes);
        sd_bus_message_unref(a->message);
        domain_def_free(a->def);
        g_free(a->listen);
        g_free(a->disks);
        g_free(a);
}

/* The emulator is known: the definition normalized, checked, started. Returns as a handler. */
static int prepare_continue(PrepareArgs *a, sd_bus_error *error) {
        Manager *m = a->manager;
        sd_bus_message *message = a->message;
        DomainDef *def = a->def;
        ConfError cerr = {};
        char uuid[37];
        g_autofree char *msg = NULL;
        VmDriver *drv;
        VmDomain *d;
        Incoming *in;
        int r;

        conf_uuid_format(def->uuid, uuid);
        drv = manager_driver_for_def(m, def, error);
        if (!drv)
                return -EOPNOTSUPP;
        if (drv->ops->normalize(drv->driver, def, &cerr) < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", cerr.message ?: "invalid definition");
                conf_error_clear(&cerr);
                return -EINVAL;
        }
        r = vm_emulator_policy_check_normalized(m, message, def, error);
        if (r < 0)
                return r;
        d = vm_domain_find_by_uuid(m, uuid);
        if (d && !streq(d->name, def->name))
                return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Domain '%s' already has UUID %s", d->name,
                                         uuid);
        if (!d && vm_domain_find_by_name(m, def->name))
                return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Domain '%s' already exists with another UUID",
                                         def->name);
        if (d && (d->hidden || vm_domain_is_busy(d) || incoming_of(d)))
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' is already running here", d->name);
        if (d && d->snapshot_op)
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' has a snapshot operation running", d->name);

        in = g_new0(Incoming, 1);
        in->manager = m;
        in->made = TAKE_PTR(a->made);
        in->message = sd_bus_message_ref(message);
        in->listen_address = g_strdup(a->listen ?: m->config.migration_address ?: "0.0.0.0");
        in->disks = g_array_new(FALSE, FALSE, sizeof(size_t));
        if (a->disks) {
                r = disks_of(def, a->disks, in->disks, error);
                if (r < 0) {
                        incoming_free(in);
                        return r;
                }
        }
        in->launch = (DriverMigrateIncoming) {
                .listen_address = in->listen_address,
                .port_min = m->config.migration_port_min ?: VM_MIGRATION_PORT_MIN_DEFAULT,
                .port_max = m->config.migration_port_max ?: VM_MIGRATION_PORT_MAX_DEFAULT,
                .postcopy = a->postcopy,
                .compress = a->compressed,
                .tls = a->tls,
                .tls_dir = m->config.migrate_tls_dir,
                .multifd_channels = a->channels,
                .nbd_disks = (const size_t *) in->disks->data,
                .n_nbd_disks = in->disks->len,
        };
        if (!d) {
                DomainDef *copy = domain_def_copy(def);
                if (!copy) {
                        incoming_free(in);
                        return -ENOMEM;
                }
                r = vm_domain_new(m, copy, false, &d);
                if (r < 0) {
                        incoming_free(in);
                        return bus_error_from_errno(error, r, NULL, "Failed to prepare the incoming migration");
                }
                d->hidden = true;
                in->created = true;
        }
        in->domain = vm_domain_ref(d);
        in->def = domain_def_copy(def);
        (void) sd_event_add_time_relative(m->event, &in->timer, CLOCK_MONOTONIC,
                                          (uint64_t) a->timeout_sec * 1000000ULL, 0, incoming_expired, in);
        vm_domain_set_cause(d, message);
        r = vm_domain_start_with(d, message, DRIVER_START_NO_LEASES, in->def, prepare_launch, in, prepare_done, in,
                                 &msg);
        if (r < 0) {
                g_autofree char *what = g_strdup_printf("Failed to prepare the incoming migration of domain '%s'",
                                                        d->name);
                vm_domain_clear_cause(d);
                if (in->created)
                        vm_domain_remove(d);
                incoming_free(in);
                return bus_error_from_errno(error, r, msg, what);
        }
        return 1;
}

/* Answers a's call with the error (r, or error when set), frees a. */
static void prepare_refuse(PrepareArgs *a, int r, const sd_bus_error *error) {
        (void) (sd_bus_error_is_set(error) ? sd_bus_reply_method_error(a->message, error)
                                           : sd_bus_reply_method_errno(a->message, r, NULL));
        prepare_args_free(a);
}

static void prepare_finish(PrepareArgs *a) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = prepare_continue(a, &error);

        if (r < 0) {
                prepare_refuse(a, r, &error);
                return;
        }
        prepare_args_free(a);
}

static void storage_made(void *userdata, int r, const char *message, GPtrArray *made) {
        PrepareArgs *a = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (r < 0) {
                sd_bus_error_setf(&error, VM_ERROR_OPERATION_FAILED,
                                  "Failed to prepare the incoming migration of domain '%s': %s", a->def->name,
                                  message ?: strerror(-r));
                prepare_refuse(a, r, &error);
                return;
        }
        a->made = made;
        prepare_finish(a);
}

/* The emulator is known: the images copy_storage needs here made first (when the source said their
 * sizes), then prepare_continue(). Takes a; answers the call when it fails. */
static void prepare_go(PrepareArgs *a) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GArray) disks = g_array_new(FALSE, FALSE, sizeof(size_t));
        int r;

        if (!a->disks || !a->sizes) {
                prepare_finish(a);
                return;
        }
        r = disks_of(a->def, a->disks, disks, &error);
        if (r >= 0)
                r = vm_migration_precreate(a->manager, a->def, (const size_t *) disks->data, disks->len, a->sizes,
                                           storage_made, a);
        if (r < 0)
                prepare_refuse(a, r, &error);
}

static void emulator_known(void *userdata, int r, const char *message) {
        PrepareArgs *a = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (r < 0) {
                sd_bus_error_setf(&error, VM_ERROR_OPERATION_FAILED, "Cannot use domain '%s': %s", a->def->name,
                                  message ?: strerror(-r));
                prepare_refuse(a, r, &error);
                return;
        }
        prepare_go(a);
}

int vm_manager_method_prepare_migration(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *xml, *listen = NULL, *disks = NULL, *sizes = NULL;
        bool postcopy = false, compressed = false, tls = false;
        uint32_t channels = 0, timeout_sec = INCOMING_TIMEOUT_SEC_DEFAULT;
        const BusOption options[] = {
                { "listen_address", "s", &listen },
                { "copy_storage_disks", "s", &disks },
                { "copy_storage_sizes", "s", &sizes },
                { "postcopy", "b", &postcopy },
                { "compressed", "b", &compressed },
                { "parallel_connections", "u", &channels },
                { "tls", "b", &tls },
                { "timeout_sec", "u", &timeout_sec },
                {}
        };
        _cleanup_(def_freep) DomainDef *def = NULL;
        _cleanup_free_ char *pmsg = NULL;
        ConfError cerr = {};
        const char *details[5];
        char uuid[37];
        VmDriver *drv;
        PrepareArgs *a;
        int r;

        r = sd_bus_message_read(message, "s", &xml);
        if (r < 0)
                return r;
        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        r = domain_def_parse(xml, strlen(xml), &def, &cerr);
        if (r < 0) {
                /* who may not migrate learns nothing about the XML */
                r = vm_authorize(m, message, VM_ACTION_DOMAIN_MIGRATE, NULL, error);
                if (r <= 0) {
                        conf_error_clear(&cerr);
                        return r < 0 ? r : 1;
                }
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", cerr.message ?: "invalid definition");
                conf_error_clear(&cerr);
                return -EINVAL;
        }
        if (def->has_uuid)
                conf_uuid_format(def->uuid, uuid);
        else
                uuid[0] = 0;
        details[0] = "domain";
        details[1] = def->name;
        details[2] = "domain_uuid";
        details[3] = uuid;
        details[4] = NULL;
        r = vm_authorize(m, message, VM_ACTION_DOMAIN_MIGRATE, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (!def->has_uuid)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "The migrated definition has no UUID");
        if (channels > 255)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Option parallel_connections: 1-255");
        if (tls && !m->config.migrate_tls_dir)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Option tls: this host has no migrate_tls_x509_cert_dir in [migration] of vmgmtd.conf");
        if (timeout_sec == 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Option timeout_sec: at least 1");
        drv = manager_driver_for_def(m, def, error);
        if (!drv)
                return -EOPNOTSUPP;
        if (!drv->ops->migrate_prepare)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver cannot migrate domains",
                                         drv->ops->name);
        a = g_new0(PrepareArgs, 1);
        a->manager = m;
        a->message = sd_bus_message_ref(message);
        a->def = TAKE_PTR(def);
        a->listen = g_strdup(listen);
        a->disks = g_strdup(disks);
        a->sizes = g_strdup(sizes);
        a->postcopy = postcopy;
        a->compressed = compressed;
        a->tls = tls;
        a->channels = channels;
        a->timeout_sec = timeout_sec;
        /* the emulator it names is probed first when this host has not yet (a child of the loop) */
        r = drv->ops->prepare ? drv->ops->prepare(drv->driver, a->def, emulator_known, a, &pmsg) : 1;
        if (r == 0)
                return 1;   /* emulator_known answers */
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Cannot use domain '%s': %s", a->def->name,
                                  pmsg ?: strerror(-r));
                prepare_args_free(a);
                return r;
        }
        prepare_go(a);
        return 1;
}

/* ---- FinishIncomingMigration ---- */

/* A refused finish is answered when the hypervisor here is gone: until then it may hold the disks
 * (the hypervisor activates its images at the stream's end), and the source's resume would find them locked. */
typedef struct FinishRefusal {
        sd_bus_message *finish;
        sd_bus_error error;
} FinishRefusal;

static void refusal_answer(FinishRefusal *f) {
        (void) sd_bus_reply_method_error(f->finish, &f->error);
        sd_bus_message_unref(f->finish);
        sd_bus_error_free(&f->error);
        free(f);
}

static void refusal_gone(void *userdata, int r, const char *message) {
        abort_done(NULL, r, message);
        refusal_answer(userdata);
}

/* Takes over *error; the domain does not run here: nothing stays. */
static void refuse_finish(VmDomain *d, sd_bus_message *finish, sd_bus_error *error) {
        FinishRefusal *f = g_new0(FinishRefusal, 1);

        f->finish = sd_bus_message_ref(finish);
        f->error = *error;
        *error = SD_BUS_ERROR_NULL;
        if (!d->rt || d->drv->ops->destroy(d->rt, false, refusal_gone, f) < 0) {
                if (d->rt)
                        log_warning("Cannot stop domain '%s' after its failed incoming migration", d->name);
                refusal_answer(f);
        }
}

static void persist_commit(void *userdata, int r, char *file) {
        Incoming *in = userdata;
        VmDomain *d = in->domain;
        VmDomainProps before;

        if (r < 0) {
                (void) sd_bus_reply_method_errorf(in->finish, VM_ERROR_OPERATION_FAILED,
                                                  "The domain runs here, but its definition could not be saved: %s",
                                                  strerror(-r));
                incoming_free(in);
                return;
        }
        vm_domain_props_get(d, &before);
        if (d->config_file && !streq(d->config_file, file))
                (void) vm_domain_store_remove(d->manager, d->config_file);
        g_free(d->config_file);
        d->config_file = file;
        d->generation = d->persistent ? d->generation + 1 : 1;
        if (vm_domain_is_busy(d)) {
                domain_def_free(d->newdef);
                d->newdef = TAKE_PTR(in->def);
        }
        bool was = d->persistent;
        d->persistent = true;
        vm_domain_props_emit_changes(d, &before);
        vm_domain_emit_event(d, "defined", was ? "updated" : "added");
        (void) sd_bus_reply_method_return(in->finish, NULL);
        incoming_free(in);
}

static void finish_done(void *userdata, int r, const char *message) {
        Incoming *in = userdata;
        VmDomain *d = in->domain;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        vm_domain_clear_cause(d);
        if (r < 0) {
                g_autofree char *what = g_strdup_printf("Failed to finish the incoming migration of domain '%s'",
                                                        d->name);
                bus_error_from_errno(&error, r, message, what);
                /* the source takes its leases back when it has the answer: they are free by then,
                 * whenever the hypervisor here is gone */
                vm_leases_unlock(&in->leases);
                refuse_finish(d, in->finish, &error);
                incoming_free(in);
                return;
        }
        /* the hypervisor holds the locks now: our copies go; the images made for it stay */
        vm_leases_release(&in->leases);
        in->keep_storage = true;
        if (in->persistent && in->def) {
                r = vm_domain_store_write_batched(d->manager, in->def, d->persistent ? d->generation + 1 : 1,
                                                  persist_commit, in);
                if (r >= 0)
                        return;
                (void) sd_bus_reply_method_errorf(in->finish, VM_ERROR_OPERATION_FAILED,
                                                  "The domain runs here, but its definition could not be saved: %s",
                                                  strerror(-r));
                incoming_free(in);
                return;
        }
        (void) sd_bus_reply_method_return(in->finish, NULL);
        incoming_free(in);
}

int vm_domain_method_finish_incoming_migration(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        bool persistent = false;
        const BusOption options[] = { { "persistent", "b", &persistent }, {} };
        g_autofree char *lease_error = NULL;
        Incoming *in;
        int r;

        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MIGRATE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        in = incoming_of(d);
        if (!in || in->finish || !d->rt)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not waiting for an incoming migration",
                                         d->name);
        in->persistent = persistent;
        in->finish = sd_bus_message_ref(message);
        in->timer = sd_event_source_disable_unref(in->timer);
        g_hash_table_remove(incoming_table, d->path);   /* the domain's own from now on */
        vm_domain_set_cause(d, message);
        /* the source released the leases (its guest is paused): locked here before the guest runs
         * here (domain-lease.h); one somebody else holds and it does not */
        r = vm_leases_lock(&in->leases, d->drv->ops->pid ? d->drv->ops->pid(d->rt) : 0, &lease_error);
        if (r >= 0)
                r = d->drv->ops->migrate_finish(d->rt, FINISH_WAIT_USEC, finish_done, in);
        else
                log_warning("Incoming migration of domain '%s' not finished: %s", d->name, strna(lease_error));
        if (r < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error refusal = SD_BUS_ERROR_NULL;

                vm_domain_clear_cause(d);
                vm_leases_unlock(&in->leases);
                in->finish = sd_bus_message_unref(in->finish);
                (void) bus_error_from_errno(&refusal, r, lease_error, "Failed to finish the incoming migration");
                refuse_finish(d, message, &refusal);
                incoming_free(in);
        }
        return 1;
}

int vm_domain_method_abort_incoming_migration(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        Incoming *in;
        int r;

        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MIGRATE, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        in = incoming_of(d);
        if (!in)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not waiting for an incoming migration",
                                         d->name);
        vm_domain_set_cause(d, message);
        incoming_abort(in, "its source asked so");
        vm_domain_clear_cause(d);
        return sd_bus_reply_method_return(message, NULL);
}
