/* manager.c — vmgmtd's manager: configuration, paths, start-up order, recovery, autostart, shutdown. */
#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <string.h>

#include "auth.h"
#include "domain.h"
#include "domain-blockjob.h"
#include "domain-console.h"
#include "domain-stream.h"
#include "fileio.h"
#include "job.h"
#include "log.h"
#include "migrate.h"
#include "network.h"
#include "secret.h"
#include "pool.h"
#include "snapshot.h"
#include "time-util.h"

/* ---- configuration file ---- */

static const char *const config_daemon_keys[] = { "log_level", "autostart", "polkit_timeout_sec",
                                                   "polkit_interactive_timeout_sec", "job_linger_sec",
                                                   "default_network", "pool_refresh_sec",
                                                   "screenshot_stall_timeout_sec", "probe_timeout_sec",
                                                   "confinement", "confinement_user", "confinement_uid_range",
                                                   "confinement_allowed_paths", "on_host_shutdown", "lease_dir", NULL };

/* Seconds (fractions allowed) in [min, max] from group/key, if given. */
static int config_read_seconds(GKeyFile *kf, const char *path, const char *group, const char *key, double min,
                               double max, uint64_t *ret) {
        g_autoptr(GError) gerr = NULL;
        double t;

        if (!g_key_file_has_key(kf, group, key, NULL))
                return 0;
        t = g_key_file_get_double(kf, group, key, &gerr);
        if (gerr || !(t >= min && t <= max)) {
                log_error("%s: invalid %s (seconds, %g to %g)", path, key, min, max);
                return -EINVAL;
        }
        *ret = (uint64_t) (t * 1e6);
        return 0;
}

/* A timeout in seconds (fractions allowed), 0 < t <= 600. */
static int config_read_timeout(GKeyFile *kf, const char *path, const char *key, uint64_t *ret) {
        return config_read_seconds(kf, path, "daemon", key, 1e-6, 600, ret);
}

static const char *const config_log_keys[] = { "console_max_size", "console_keep", "rotate_interval_sec", NULL };

/* The keys of a driver's own log: DRIVER_max_size, DRIVER_keep. */
static bool config_log_driver_key(const char *key) {
        for (const DomainDriverOps *const *o = domain_driver_registry; *o; o++) {
                size_t n = strlen((*o)->name);
                if (strncmp(key, (*o)->name, n) == 0 && (streq(key + n, "_max_size") || streq(key + n, "_keep")))
                        return true;
        }
        return false;
}

/* A size in bytes, with an optional K, M or G suffix (powers of 1024); 0 allowed. */
static int config_read_size(GKeyFile *kf, const char *path, const char *key, uint64_t *ret) {
        g_autofree char *v = NULL;
        uint64_t n, mult = 1;
        char *end;

        if (!g_key_file_has_key(kf, "log", key, NULL))
                return 0;
        v = g_key_file_get_string(kf, "log", key, NULL);
        errno = 0;
        n = v && g_ascii_isdigit(*v) ? g_ascii_strtoull(v, &end, 10) : 0;
        if (!v || !g_ascii_isdigit(*v) || errno != 0 || !(end[0] == 0 || end[1] == 0) ||
            (*end && !strchr("KMG", g_ascii_toupper(*end)))) {
                log_error("%s: invalid %s '%s' (bytes, optionally with K, M or G)", path, key, strna(v));
                return -EINVAL;
        }
        if (*end)
                mult = g_ascii_toupper(*end) == 'K' ? 1024u : g_ascii_toupper(*end) == 'M' ? 1024u * 1024u : 1024u * 1024u * 1024u;
        if (n > UINT64_MAX / mult) {
                log_error("%s: %s '%s' is too large", path, key, v);
                return -EINVAL;
        }
        *ret = n * mult;
        return 0;
}

static int config_read_count(GKeyFile *kf, const char *path, const char *key, unsigned *ret) {
        g_autoptr(GError) gerr = NULL;
        gint v;

        if (!g_key_file_has_key(kf, "log", key, NULL))
                return 0;
        v = g_key_file_get_integer(kf, "log", key, &gerr);
        if (gerr || v < 0 || v > 1000) {
                log_error("%s: invalid %s (a number of files, 0 to 1000)", path, key);
                return -EINVAL;
        }
        *ret = (unsigned) v;
        return 0;
}

/* [daemon] confinement=on|off, confinement_user=NAME, confinement_uid_range=FIRST-LAST
 * (decimal or 0x hex, inclusive). Which users exist is the driver's to check. */
static int config_load_confinement(GKeyFile *kf, const char *path, ManagerConfig *c) {
        g_autoptr(GError) gerr = NULL;

        if (g_key_file_has_key(kf, "daemon", "confinement", NULL)) {
                g_autofree char *v = g_key_file_get_string(kf, "daemon", "confinement", NULL);
                if (STR_IN_SET(strempty(v), "on", "true", "yes", "1"))
                        c->confinement = DRIVER_CONFINEMENT_ON;
                else if (STR_IN_SET(strempty(v), "off", "false", "no", "0"))
                        c->confinement = DRIVER_CONFINEMENT_OFF;
                else {
                        log_error("%s: invalid confinement '%s' (on or off)", path, strna(v));
                        return -EINVAL;
                }
        }
        if (g_key_file_has_key(kf, "daemon", "confinement_user", NULL)) {
                g_autofree char *v = g_key_file_get_string(kf, "daemon", "confinement_user", &gerr);
                if (!v || isempty(v) || strlen(v) >= sizeof(c->confinement_user) || strchr(v, ':') || strchr(v, '/')) {
                        log_error("%s: invalid confinement_user '%s' (a user name)", path, strna(v));
                        return -EINVAL;
                }
                snprintf(c->confinement_user, sizeof(c->confinement_user), "%s", v);
        }
        if (g_key_file_has_key(kf, "daemon", "confinement_uid_range", NULL)) {
                g_autofree char *v = g_key_file_get_string(kf, "daemon", "confinement_uid_range", NULL);
                char *dash = v ? strchr(v, '-') : NULL, *end1 = NULL, *end2 = NULL;
                guint64 lo = 0, hi = 0;

                if (dash) {
                        *dash = 0;
                        errno = 0;
                        lo = g_ascii_strtoull(g_strstrip(v), &end1, 0);
                        hi = g_ascii_strtoull(g_strstrip(dash + 1), &end2, 0);
                }
                if (!dash || errno != 0 || !*v || *end1 || !dash[1] || *end2 || lo == 0 || lo > hi ||
                    hi >= UINT32_MAX - 1) {
                        log_error("%s: invalid confinement_uid_range (FIRST-LAST, non-zero uids, FIRST <= LAST)", path);
                        return -EINVAL;
                }
                c->confinement_uid_min = (uint32_t) lo;
                c->confinement_uid_max = (uint32_t) hi;
        }
        return 0;
}

/* The [log] section: rotation of console logs and of the hypervisors' own
 * logs (DRIVER_max_size=, DRIVER_keep= for each registered driver). */
static int config_load_log(GKeyFile *kf, const char *path, ManagerConfig *c) {
        if (config_read_size(kf, path, "console_max_size", &c->log_console.max_size) < 0 ||
            config_read_count(kf, path, "console_keep", &c->log_console.keep) < 0 ||
            config_read_seconds(kf, path, "log", "rotate_interval_sec", 0.1, 86400, &c->log_rotate_interval_usec) < 0)
                return -EINVAL;
        for (const DomainDriverOps *const *o = domain_driver_registry; *o; o++) {
                _cleanup_free_ char *size_key = g_strconcat((*o)->name, "_max_size", NULL);
                _cleanup_free_ char *keep_key = g_strconcat((*o)->name, "_keep", NULL);
                if (config_read_size(kf, path, size_key, &c->log_hypervisor.max_size) < 0 ||
                    config_read_count(kf, path, keep_key, &c->log_hypervisor.keep) < 0)
                        return -EINVAL;
        }
        return 0;
}

/* [daemon] confinement_allowed_paths= (absolute paths, ';' between them;
 * empty: none) that a caller other than root may have a domain use although
 * they are devices or under /proc, /sys or /dev (path-policy.h). */
static int config_load_allowed_paths(GKeyFile *kf, const char *path, ManagerConfig *c) {
        g_auto(GStrv) list = NULL;

        if (!g_key_file_has_key(kf, "daemon", "confinement_allowed_paths", NULL))
                return 0;
        list = g_key_file_get_string_list(kf, "daemon", "confinement_allowed_paths", NULL, NULL);
        if (!list)
                list = g_new0(char *, 1);   /* "confinement_allowed_paths=": nothing allowed */
        for (char **p = list; *p; p++) {
                g_strstrip(*p);
                if ((*p)[0] != '/' || strstr(*p, "/./") || strstr(*p, "/../") || g_str_has_suffix(*p, "/.") ||
                    g_str_has_suffix(*p, "/..")) {
                        log_error("%s: invalid confinement_allowed_paths entry '%s' (absolute paths without . or ..)",
                                  path, *p);
                        return -EINVAL;
                }
        }
        g_strfreev(c->allowed_device_paths);
        c->allowed_device_paths = g_steal_pointer(&list);
        return 0;
}

int manager_config_load(ManagerConfig *c, const char *root, const char *path) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) gerr = NULL;
        g_auto(GStrv) groups = NULL;
        _cleanup_free_ char *default_path = NULL;

        c->log_console = c->log_hypervisor = (DriverLogRotation) { VM_LOG_MAX_SIZE_DEFAULT, VM_LOG_KEEP_DEFAULT };
        c->log_rotate_interval_usec = VM_LOG_ROTATE_INTERVAL_USEC_DEFAULT;
        c->confinement_uid_min = DRIVER_CONFINEMENT_UID_MIN_DEFAULT;
        c->confinement_uid_max = DRIVER_CONFINEMENT_UID_MAX_DEFAULT;
        if (!path) {
                default_path = g_build_filename(root, "/etc/vmgmt/vmgmtd.conf", NULL);
                path = default_path;
        }
        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &gerr)) {
                if (g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
                        log_debug("No configuration file %s, using defaults.", path);
                        return 0;
                }
                log_error("Failed to read %s: %s", path, gerr->message);
                return -EINVAL;
        }
        groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g; g++) {
                g_auto(GStrv) keys = NULL;

                if (streq(*g, "log")) {
                        keys = g_key_file_get_keys(kf, *g, NULL, NULL);
                        for (char **k = keys; k && *k; k++)
                                if (!strv_contains(config_log_keys, *k) && !config_log_driver_key(*k)) {
                                        g_autoptr(GString) known = g_string_new("console_max_size, console_keep");
                                        for (const DomainDriverOps *const *o = domain_driver_registry; *o; o++)
                                                g_string_append_printf(known, ", %s_max_size, %s_keep", (*o)->name,
                                                                       (*o)->name);
                                        log_error("%s: unknown key '%s' in [log] (known: %s, rotate_interval_sec)", path,
                                                  *k, known->str);
                                        return -EINVAL;
                                }
                        continue;
                }
                if (streq(*g, "migration"))
                        continue;   /* manager-migrate.c */
                if (!streq(*g, "daemon")) {
                        log_error("%s: unknown section [%s] (known: [daemon], [log], [migration])", path, *g);
                        return -EINVAL;
                }
                keys = g_key_file_get_keys(kf, *g, NULL, NULL);
                for (char **k = keys; k && *k; k++)
                        if (!strv_contains(config_daemon_keys, *k)) {
                                log_error("%s: unknown key '%s' in [daemon] (known: log_level, autostart, polkit_timeout_sec, polkit_interactive_timeout_sec, job_linger_sec, default_network, pool_refresh_sec, screenshot_stall_timeout_sec, probe_timeout_sec, confinement, confinement_user, confinement_uid_range, confinement_allowed_paths, on_host_shutdown, lease_dir)", path, *k);
                                return -EINVAL;
                        }
        }
        if (g_key_file_has_key(kf, "daemon", "log_level", NULL)) {
                g_autofree char *v = g_key_file_get_string(kf, "daemon", "log_level", NULL);
                int level = v ? log_level_from_string(v) : -EINVAL;
                if (level < 0) {
                        log_error("%s: invalid log_level '%s'", path, strna(v));
                        return -EINVAL;
                }
                log_set_max_level(level);
        }
        if (g_key_file_has_key(kf, "daemon", "on_host_shutdown", NULL)) {
                g_autofree char *v = g_key_file_get_string(kf, "daemon", "on_host_shutdown", NULL);
                if (!v || !(streq(v, "save") || streq(v, "nothing"))) {
                        log_error("%s: invalid on_host_shutdown '%s' (save or nothing)", path, strna(v));
                        return -EINVAL;
                }
                c->on_host_shutdown_save = streq(v, "save");
        }
        if (g_key_file_has_key(kf, "daemon", "lease_dir", NULL)) {
                g_autofree char *v = g_key_file_get_string(kf, "daemon", "lease_dir", NULL);
                if (!v || v[0] != '/') {
                        log_error("%s: invalid lease_dir '%s' (an absolute directory)", path, strna(v));
                        return -EINVAL;
                }
                g_free(c->lease_dir);
                c->lease_dir = g_steal_pointer(&v);
        }
        if (g_key_file_has_key(kf, "daemon", "autostart", NULL)) {
                gboolean b = g_key_file_get_boolean(kf, "daemon", "autostart", &gerr);
                if (gerr) {
                        log_error("%s: invalid autostart: %s", path, gerr->message);
                        return -EINVAL;
                }
                c->autostart = b;
        }
        if (g_key_file_has_key(kf, "daemon", "default_network", NULL)) {
                gboolean b = g_key_file_get_boolean(kf, "daemon", "default_network", &gerr);
                if (gerr) {
                        log_error("%s: invalid default_network: %s", path, gerr->message);
                        return -EINVAL;
                }
                c->no_default_network = !b;
        }
        if (config_read_timeout(kf, path, "polkit_timeout_sec", &c->polkit_timeout_usec) < 0 ||
            config_read_timeout(kf, path, "polkit_interactive_timeout_sec", &c->polkit_interactive_timeout_usec) < 0 ||
            config_read_timeout(kf, path, "job_linger_sec", &c->job_linger_usec) < 0 ||
            config_read_timeout(kf, path, "pool_refresh_sec", &c->pool_refresh_usec) < 0 ||
            config_read_timeout(kf, path, "probe_timeout_sec", &c->probe_timeout_usec) < 0 ||
            config_read_seconds(kf, path, "daemon", "screenshot_stall_timeout_sec", 0.1, 3600,
                                &c->screenshot_stall_usec) < 0 ||
            config_load_confinement(kf, path, c) < 0)
                return -EINVAL;
        if (config_load_allowed_paths(kf, path, c) < 0 || vm_migration_config_load(kf, path, c) < 0)
                return -EINVAL;
        return config_load_log(kf, path, c);
}

/* ---- paths ---- */

static int manager_paths_init(Manager *m) {
        const char *root = m->config.root ?: "";

        m->paths.root = g_strdup(root);
        if (m->config.user && isempty(root)) {
                const char *runtime = g_getenv("XDG_RUNTIME_DIR");
                m->paths.config_dir = g_build_filename(g_get_user_config_dir(), "vmgmt", NULL);
                m->paths.state_dir = g_build_filename(g_get_user_data_dir(), "vmgmt", NULL);
                m->paths.run_dir = runtime ? g_build_filename(runtime, "vmgmt", NULL)
                                           : g_build_filename(g_get_user_cache_dir(), "vmgmt", "run", NULL);
                m->paths.log_dir = g_build_filename(g_get_user_cache_dir(), "vmgmt", "log", NULL);
        } else {
                m->paths.config_dir = g_strconcat(root, "/etc/vmgmt", NULL);
                m->paths.state_dir = g_strconcat(root, "/var/lib/vmgmt", NULL);
                m->paths.run_dir = g_strconcat(root, "/run/vmgmt", NULL);
                m->paths.log_dir = g_strconcat(root, "/var/log/vmgmt", NULL);
        }
        return 0;
}

/* ---- the drivers ---- */

/* Creates every registered driver. */
static int manager_drivers_new(Manager *m) {
        for (size_t i = 0; i < m->n_drivers; i++) {
                VmDriver *v = &m->drivers[i];
                int r;

                r = v->ops->new(m->event, &m->paths, &vm_domain_driver_events, &v->driver);
                if (r < 0)
                        return log_error_errno(r, "Failed to start the %s driver: %m", v->ops->name);
                v->usable = !v->ops->usable || v->ops->usable();
                if (!v->usable)
                        log_info("The %s driver cannot run domains on this host.", v->ops->name);
                if (v->ops->set_log_rotation)
                        v->ops->set_log_rotation(v->driver, &m->config.log_console, &m->config.log_hypervisor,
                                                 m->config.log_rotate_interval_usec);
                if (v->ops->set_screenshot_stall_timeout && m->config.screenshot_stall_usec > 0)
                        v->ops->set_screenshot_stall_timeout(v->driver, m->config.screenshot_stall_usec);
                if (v->ops->set_probe_timeout && m->config.probe_timeout_usec > 0)
                        v->ops->set_probe_timeout(v->driver, m->config.probe_timeout_usec);
                if (v->ops->set_confinement) {
                        DriverConfinement c = {
                                .mode = m->config.confinement,
                                .user = isempty(m->config.confinement_user) ? NULL : m->config.confinement_user,
                                .uid_min = m->config.confinement_uid_min,
                                .uid_max = m->config.confinement_uid_max,
                        };
                        g_autofree char *error = NULL;

                        r = v->ops->set_confinement(v->driver, &c, &error);
                        if (r < 0) {
                                log_error("Cannot confine the %s driver's domains: %s", v->ops->name, strna(error));
                                return r;
                        }
                }
        }
        return 0;
}

static void manager_drivers_free(Manager *m) {
        for (size_t i = 0; i < m->n_drivers; i++)
                if (m->drivers[i].driver)
                        m->drivers[i].driver = m->drivers[i].ops->free(m->drivers[i].driver);
}

VmDriver *manager_driver_for_type(Manager *m, const char *type) {
        const DomainDriverOps *ops = domain_driver_for_type(type);

        for (size_t i = 0; ops && i < m->n_drivers; i++)
                if (m->drivers[i].ops == ops)
                        return &m->drivers[i];
        return NULL;
}

VmDriver *manager_driver_for_def(Manager *m, const DomainDef *def, sd_bus_error *error) {
        const char *type = domain_virt_type_to_string(def->virt_type);
        VmDriver *v = manager_driver_for_type(m, type);

        if (!v && error)
                sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "No driver for domain type '%s'", strna(type));
        return v;
}

static void domain_unref_notify(gpointer p) {
        vm_domain_unref(p);
}

int manager_new(const ManagerConfig *config, Manager **ret) {
        Manager *m;
        int r;

        m = g_new0(Manager, 1);
        m->config = *config;
        m->config.root = g_strdup(config->root);
        m->config.config_file = g_strdup(config->config_file);
        m->config.allowed_device_paths = g_strdupv(config->allowed_device_paths);
        m->config.lease_dir = g_strdup(config->lease_dir);
        m->config.migration_address = g_strdup(config->migration_address);
        m->config.migrate_tls_dir = g_strdup(config->migrate_tls_dir);
        for (const DomainDriverOps *const *o = domain_driver_registry; *o; o++)
                m->n_drivers++;
        m->drivers = g_new0(VmDriver, m->n_drivers);
        for (size_t i = 0; i < m->n_drivers; i++)
                m->drivers[i].ops = domain_driver_registry[i];
        m->next_id = 1;
        m->domains_by_name = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, domain_unref_notify);
        m->domains_by_uuid = g_hash_table_new(g_str_hash, g_str_equal);
        m->domains_by_clash_base = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                         (GDestroyNotify) g_ptr_array_unref);
        m->creds = bus_creds_cache_new();
        m->pending_ops = g_hash_table_new(g_direct_hash, g_direct_equal);
        r = sd_event_default(&m->event);
        if (r < 0) {
                manager_free(m);
                return log_error_errno(r, "Failed to allocate event loop: %m");
        }
        manager_paths_init(m);
        vm_jobs_init(m);
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* answer the defines still waiting for their batch */
        vm_domain_store_flush(m);
        /* the drivers stop the jobs' work without callbacks */
        vm_jobs_free_all(m);
        vm_restores_waiting_free(m);
        vm_incoming_migrations_free(m);
        /* Runtimes belong to the drivers; freeing them leaves their domains running. */
        vm_consoles_free(m);
        vm_streams_free();
        manager_drivers_free(m);
        /* the driver calls nothing back any more: answer what it left open */
        if (m->pending_ops)
                vm_op_abandon_all(m);
        if (m->pending_ops)
                g_hash_table_destroy(m->pending_ops);
        vm_networks_free(m);
        vm_secrets_free(m);
        vm_storage_free(m);
        if (m->jobs)
                g_hash_table_destroy(m->jobs);
        if (m->domains_by_uuid)
                g_hash_table_destroy(m->domains_by_uuid);
        if (m->domains_by_clash_base)
                g_hash_table_destroy(m->domains_by_clash_base);
        if (m->managed_saves_at_load)
                g_hash_table_destroy(m->managed_saves_at_load);
        if (m->domains_by_name)
                g_hash_table_destroy(m->domains_by_name);
        sd_event_source_disable_unref(m->store_flush_source);
        sd_event_source_disable_unref(m->name_timer);
        vm_auth_done(m);
        if (m->bus)
                sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        bus_creds_cache_free(m->creds);
        g_free(m->drivers);
        g_free(m->capabilities_xml);
        g_free(m->paths.root);
        g_free(m->paths.config_dir);
        g_free(m->paths.state_dir);
        g_free(m->paths.run_dir);
        g_free(m->paths.log_dir);
        g_free(m->config.root);
        g_free(m->config.config_file);
        g_strfreev(m->config.allowed_device_paths);
        g_free(m->config.lease_dir);
        g_free(m->config.migration_address);
        g_free(m->config.migrate_tls_dir);
        g_free(m);
        return NULL;
}

/* ---- recovery of domains a previous instance left running ---- */

typedef struct RecoverCtx {
        Manager *manager;
        VmDriver *driver;
} RecoverCtx;

static void manager_recover_one(void *userdata, DomainDef *live_def, DriverRuntime *rt, DomainState state,
                                const char *reason, int id, uint64_t start_time_usec) {
        RecoverCtx *ctx = userdata;
        Manager *m = ctx->manager;
        char uuid[37];
        VmDomain *d;
        int r;

        conf_uuid_format(live_def->uuid, uuid);
        d = g_hash_table_lookup(m->domains_by_uuid, uuid);
        if (!d)
                d = vm_domain_find_by_name(m, live_def->name);
        if (d && (!streq(d->name, live_def->name) || !streq(d->uuid, uuid))) {
                log_error("Running domain '%s' (%s) collides with defined domain '%s' (%s); leaving it alone.",
                          live_def->name, uuid, d->name, d->uuid);
                domain_def_free(live_def);
                return;
        }
        if (!rt) {
                /* stopped while we were away */
                if (d) {
                        d->state = state;
                        g_free(d->reason);
                        d->reason = g_strdup(reason ?: "unknown");
                        log_info("Domain '%s' stopped while vmgmtd was not running.", d->name);
                }
                domain_def_free(live_def);
                return;
        }
        if (d) {
                /* The definition on disk may be a redefinition made while it ran. */
                d->newdef = d->def;
                d->def = live_def;
                d->drv = ctx->driver;   /* the driver that runs it, whatever the new definition says */
        } else {
                r = vm_domain_new(m, live_def, false, &d);
                if (r < 0) {
                        log_error_errno(r, "Failed to add recovered domain: %m");
                        return;
                }
        }
        d->rt = rt;
        d->drv->ops->attach_owner(rt, d);
        d->state = state;
        g_free(d->reason);
        d->reason = g_strdup(reason ?: "unknown");
        d->id = id;
        d->start_time = start_time_usec;
        if (id >= m->next_id)
                m->next_id = id + 1;
        log_info("Recovered domain '%s' (Id %d, %s).", d->name, id, domain_state_to_string(state));
}

/* ---- autostart ---- */

static void autostart_done(void *userdata, int r, const char *message) {
        VmOp *op = userdata;
        VmDomain *d = op->domain;

        if (r < 0) {
                log_error("Failed to autostart domain '%s': %s", d->name, message ?: strerror(-r));
                if (d->rt && d->state == DOMAIN_STATE_SHUTOFF)
                        d->rt = NULL;
        } else
                log_info("Autostarted domain '%s'.", d->name);
        vm_op_free(op);
}

static void manager_autostart(Manager *m) {
        GHashTableIter it;
        gpointer value;
        GPtrArray *todo = g_ptr_array_new();

        if (!m->config.autostart)
                return (void) g_ptr_array_free(todo, TRUE);
        g_hash_table_iter_init(&it, m->domains_by_name);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmDomain *d = value;
                if (d->persistent && d->autostart && !vm_domain_is_busy(d))
                        g_ptr_array_add(todo, d);
        }
        for (guint i = 0; i < todo->len; i++) {
                VmDomain *d = todo->pdata[i];
                _cleanup_free_ char *msg = NULL;
                VmOp *op = vm_op_new(d, NULL, "autostart");
                if (vm_domain_start(d, NULL, 0, autostart_done, op, &msg) < 0) {
                        log_error("Failed to autostart domain '%s': %s", d->name, strna(msg));
                        vm_op_free(op);
                }
        }
        g_ptr_array_free(todo, TRUE);
}

/* ---- start-up ---- */

#define NAME_WAIT_USEC (30 * G_USEC_PER_SEC)

static int manager_take_name(Manager *m) {
        int r;

        if (m->name_taken)
                return 0;
        m->name_taken = true;
        m->name_timer = sd_event_source_disable_unref(m->name_timer);
        r = sd_bus_request_name(m->bus, VM_BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to acquire bus name %s: %m", VM_BUS_NAME);
        log_info("vmgmtd ready on the %s bus with %u domains (%.1f ms).", m->config.user ? "user" : "system",
                 g_hash_table_size(m->domains_by_name), (double) (monotonic_usec() - m->startup_t0) / 1000.0);
        return 0;
}

/* One of the start-up waits is over: the last one takes the name. */
static void manager_startup_step(Manager *m) {
        int r;

        if (m->name_waits > 0)
                m->name_waits--;
        if (m->name_waits > 0 || !m->startup_returned)
                return;   /* manager_startup() takes it itself when all were done before it returned */
        r = manager_take_name(m);
        if (r < 0)
                (void) sd_event_exit(m->event, r);
}

static void manager_driver_recovered(void *userdata) {
        manager_startup_step(userdata);
}

static void manager_networks_started(Manager *m) {
        manager_autostart(m);
        manager_startup_step(m);
}

static int on_name_wait_over(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        int r;

        log_warning("Pools, networks or recovered domains still starting after %u s: taking the bus name without them.",
                    (unsigned) (NAME_WAIT_USEC / G_USEC_PER_SEC));
        r = manager_take_name(m);
        if (r < 0)
                (void) sd_event_exit(m->event, r);
        return 0;
}

int manager_startup(Manager *m) {
        uint64_t t0 = monotonic_usec();
        int r;

        for (const char *const *p = (const char *const[]) { m->paths.config_dir, m->paths.state_dir,
                                                            m->paths.run_dir, m->paths.log_dir, NULL };
             *p; p++) {
                r = mkdir_p(*p, 0755);
                if (r < 0)
                        return log_error_errno(r, "Failed to create %s: %m", *p);
        }
        r = manager_drivers_new(m);
        if (r < 0)
                return r;

        vm_managed_save_scan(m);
        r = vm_domain_store_load(m);
        if (r < 0)
                return r;
        /* secrets before the pools: an rbd or iscsi pool started now reads its <auth> secret */
        r = vm_secrets_startup(m);
        if (r < 0)
                return r;
        r = vm_storage_startup(m);
        if (r < 0)
                return r;
        /* networks (recovered, autostarted) before domains that use them */
        r = vm_networks_startup(m);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_drivers; i++) {
                RecoverCtx ctx = { m, &m->drivers[i] };
                r = m->drivers[i].ops->recover(m->drivers[i].driver, manager_recover_one, &ctx);
                if (r < 0)
                        return log_error_errno(r, "Failed to recover the running domains of the %s driver: %m",
                                               m->drivers[i].ops->name);
        }
        vm_snapshot_store_load_all(m);
        /* from now on a new domain looks for its image itself */
        g_clear_pointer(&m->managed_saves_at_load, g_hash_table_destroy);

        r = m->config.user ? sd_bus_open_user(&m->bus) : sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the %s bus: %m", m->config.user ? "user" : "system");
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach bus to event loop: %m");
        r = vm_auth_init(m);
        if (r < 0)
                return r;
        r = manager_dbus_register(m);
        if (r < 0)
                return r;
        /* the block jobs recovered domains run are Job objects again */
        vm_domain_block_jobs_adopt_all(m);
        m->ready = true;
        /* The name is taken once the pools and networks that were active or autostart are up (as libvirtd
         * answers no client before its drivers started them): a caller that sees vmgmtd sees them active;
         * and once the domains found running answer again (their monitors reconnected): a first call on
         * one of them works. A start that hangs (a mount) or a hung hypervisor holds it back for NAME_WAIT_USEC
         * at most. */
        m->startup_t0 = t0;
        m->name_waits = 2 + (unsigned) m->n_drivers;
        r = sd_event_add_time_relative(m->event, &m->name_timer, CLOCK_MONOTONIC, NAME_WAIT_USEC, 0,
                                       on_name_wait_over, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add a timer: %m");
        vm_storage_when_started(m, manager_startup_step);
        for (size_t i = 0; i < m->n_drivers; i++) {
                if (m->drivers[i].ops->when_recovered)
                        m->drivers[i].ops->when_recovered(m->drivers[i].driver, manager_driver_recovered, m);
                else
                        manager_startup_step(m);
        }
        /* autostart domains once the autostart networks they may use are up */
        vm_networks_when_started(m, manager_networks_started);
        m->startup_returned = true;
        if (m->name_waits == 0)
                return manager_take_name(m);
        return 0;
}

/* Everything that must still reach the bus happens before the loop ends:
 * sd-bus closes the connection when the loop exits. */
static void manager_exit_now(Manager *m) {
        vm_domain_store_flush(m);
        vm_jobs_free_all(m);
        /* Runtimes belong to the drivers; freeing them leaves their domains
         * running and calls nothing back: answer what they left open. */
        manager_drivers_free(m);
        vm_op_abandon_all(m);
        vm_storage_shutdown(m);
        vm_networks_shutdown(m);
        vm_auth_done(m);
        (void) sd_event_exit(m->event, 0);
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        static bool saving;
        Manager *m = userdata;

        /* [daemon] on_host_shutdown=save: running domains are managed-saved
         * first (libvirt-guests' role); a second signal exits at once */
        if (m->config.on_host_shutdown_save && !saving) {
                saving = true;
                log_info("Received %s; saving running domains before exiting (on_host_shutdown=save).",
                         strsignal((int) si->ssi_signo));
                if (vm_domains_save_all(m, VM_SHUTDOWN_SAVE_TIMEOUT_USEC, manager_exit_now) > 0)
                        return 0;
        } else
                log_info("Received %s, exiting; running domains keep running.", strsignal((int) si->ssi_signo));
        manager_exit_now(m);
        return 0;
}

int manager_run(Manager *m) {
        int r;

        r = sd_event_add_signal(m->event, NULL, SIGTERM, on_exit_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_exit_signal, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");
        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}
