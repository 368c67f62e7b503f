/* network-recover.c — adopting the networks a previous daemon left active (bridge, dnsmasq, firewall chains). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "network-internal.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

static void on_background_done(void *userdata, int r, const char *message) {
        if (r < 0)
                log_warning("%s failed: %s", (const char *) userdata, strna(message));
}

/* what: a static string for the log */
static void firewall_in_background(NetworkDriver *d, const char *script, const char *what) {
        int r = network_firewall_submit(d, script, on_background_done, (void *) what, NULL);
        if (r < 0)
                log_warning_errno(r, "%s: %m", what);
}

static void on_recover_launched(void *userdata, int r, const char *message) {
        NetworkRuntime *rt = userdata;
        if (r < 0)
                log_warning("Network %s: cannot start dnsmasq again: %s", rt->def->name, strna(message));
        else
                log_info("Network %s: dnsmasq was gone; started it again (pid %d).", rt->def->name, (int) rt->dnsmasq_pid);
}

/* What a dead network left behind: dnsmasq, files, firewall chains. */
static void remove_leftovers(NetworkDriver *d, NetworkRuntime *rt) {
        pid_t pid = network_dnsmasq_find(rt);
        if (pid > 0)
                (void) kill(pid, SIGTERM);
        if (network_def_managed_bridge(rt->def) && network_firewall_needed(rt->def)) {
                _cleanup_free_ char *script = network_firewall_script_remove(rt->def, false);
                firewall_in_background(d, script, "Removing the firewall chains of a stale network");
        }
        const char *paths[] = { rt->conf_path, rt->pid_path, rt->leases_path, rt->hosts_path, rt->addnhosts_path,
                                rt->status_path };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                (void) unlink_noent(paths[i]);
}

static int recover_one(NetworkDriver *d, const NetworkDef *def, bool load_firewall, NetworkRuntime **ret_rt) {
        NetworkRuntime *rt;
        char kind[32];
        pid_t pid;
        int r;

        r = network_runtime_new(d, def, &rt);
        if (r < 0)
                return r;
        r = network_nl_link_kind(d->nl, def->bridge, kind);
        if (r < 0 || (network_def_managed_bridge(def) && !streq(kind, "bridge"))) {
                log_info("Network %s: bridge %s is gone; the network is inactive.", def->name, def->bridge);
                remove_leftovers(d, rt);
                network_runtime_free_object(rt);
                return 0;
        }
        rt->bridge_created = true;
        if (rt->needs_dnsmasq) {
                pid = network_dnsmasq_find(rt);
                if (pid > 0)
                        r = network_dnsmasq_watch(rt, pid);
                if (pid <= 0 || r < 0) {
                        r = network_dnsmasq_write_files(rt);
                        if (r >= 0)
                                r = network_dnsmasq_launch(rt, on_recover_launched);
                        if (r < 0)
                                log_warning_errno(r, "Network %s: cannot start dnsmasq again: %m", def->name);
                } else
                        log_debug("Network %s: adopted dnsmasq (pid %d).", def->name, (int) pid);
        }
        if (network_def_managed_bridge(def) && network_firewall_needed(def)) {
                rt->firewall = true;
                if (load_firewall) {
                        _cleanup_free_ char *script = network_firewall_script_add(def);
                        firewall_in_background(d, script, "Reloading a recovered network's firewall chains");
                }
        }
        *ret_rt = rt;
        return 1;
}

int network_recover_one(NetworkDriver *d, const NetworkDef *def, NetworkRuntime **ret_rt) {
        return recover_one(d, def, true, ret_rt);
}

/* One nft transaction that drops whatever the table holds (chains of networks
 * that are gone included) and loads the chains of the recovered networks. */
static void firewall_rebuild(NetworkDriver *d) {
        GString *s = g_string_new("add table inet vmgmt\ndelete table inet vmgmt\n");
        for (GList *l = d->runtimes; l; l = l->next) {
                NetworkRuntime *rt = l->data;
                if (!rt->firewall)
                        continue;
                _cleanup_free_ char *add = network_firewall_script_add(rt->def);
                if (add)
                        g_string_append(s, add);
        }
        _cleanup_free_ char *script = g_string_free(s, false);
        firewall_in_background(d, script, "Rebuilding the firewall table of the recovered networks");
}

int network_recover(NetworkDriver *d, NetworkRecoverFn fn, void *userdata) {
        _cleanup_(closedirp) DIR *dir = opendir(d->dir);
        struct dirent *de;

        if (!dir)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(dir))) {
                _cleanup_free_ char *path = NULL, *xml = NULL;
                NetworkDef *def = NULL;
                NetworkRuntime *rt = NULL;
                ConfError err = {};
                size_t len = strlen(de->d_name);
                int r;

                if (len < 5 || !streq(de->d_name + len - 4, ".xml"))
                        continue;
                if (asprintf(&path, "%s/%s", d->dir, de->d_name) < 0)
                        return -ENOMEM;
                r = read_full_file(path, NETWORK_XML_MAX_SIZE, &xml, NULL);
                if (r >= 0)
                        r = network_def_parse(xml, strlen(xml), &def, &err);
                if (r >= 0 && (!def->has_uuid || !def->bridge))
                        r = -EINVAL;
                if (r < 0) {
                        log_warning("Ignoring unusable network status file %s: %s", path, err.message ?: strerror(-r));
                        conf_error_clear(&err);
                        network_def_free(def);
                        continue;
                }
                r = recover_one(d, def, false, &rt);
                if (r < 0) {
                        log_warning_errno(r, "Cannot recover network %s: %m", def->name);
                        rt = NULL;
                }
                fn(userdata, def, rt);
        }
        firewall_rebuild(d);
        return 0;
}
