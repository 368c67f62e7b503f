/* main.c — vmgmtd: command line, signals, and the manager's life. */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "manager.h"

static void help(void) {
        printf("vmgmtd [OPTIONS...]\n\n"
               "Virtual machine manager: serves org.vmgmt on D-Bus.\n\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "     --system            Connect to the system bus (default)\n"
               "     --user              Connect to the user's session bus\n"
               "     --root DIR          Prefix every file path with DIR\n"
               "     --config FILE       Configuration file (default ROOT/etc/vmgmt/vmgmtd.conf;\n"
               "                         with --user ~/.config/vmgmt/vmgmtd.conf)\n"
               "     --log-level LEVEL   err, warning, notice, info or debug\n");
}

enum {
        ARG_VERSION = 0x100,
        ARG_SYSTEM,
        ARG_USER,
        ARG_ROOT,
        ARG_CONFIG,
        ARG_LOG_LEVEL,
};

static int parse_argv(int argc, char *argv[], ManagerConfig *c, int *ret_log_level) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "system", no_argument, NULL, ARG_SYSTEM },
                { "user", no_argument, NULL, ARG_USER },
                { "root", required_argument, NULL, ARG_ROOT },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                {}
        };
        int opt;

        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vmgmtd %s\n", VMGMT_VERSION);
                        return 0;
                case ARG_SYSTEM:
                        c->user = false;
                        break;
                case ARG_USER:
                        c->user = true;
                        break;
                case ARG_ROOT:
                        if (optarg[0] != '/') {
                                log_error("--root needs an absolute path: %s", optarg);
                                return -EINVAL;
                        }
                        c->root = optarg;
                        break;
                case ARG_CONFIG:
                        c->config_file = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        *ret_log_level = log_level_from_string(optarg);
                        if (*ret_log_level < 0) {
                                log_error("Invalid log level: %s", optarg);
                                return -EINVAL;
                        }
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("%s takes no arguments.", program_invocation_short_name);
                return -EINVAL;
        }
        /* strip a trailing slash so paths read ROOT/etc/…, never ROOT//etc/… */
        if (c->root && strlen(c->root) > 1 && c->root[strlen(c->root) - 1] == '/')
                c->root = g_strndup(c->root, strlen(c->root) - 1);
        if (c->root && streq(c->root, "/"))
                c->root = "";
        return 1;
}

int main(int argc, char *argv[]) {
        ManagerConfig config = {
                .root = "",
                .autostart = true,
                .polkit_timeout_usec = VM_POLKIT_TIMEOUT_USEC_DEFAULT,
                .polkit_interactive_timeout_usec = VM_POLKIT_INTERACTIVE_TIMEOUT_USEC_DEFAULT,
        };
        g_autofree char *user_config = NULL;
        Manager *m = NULL;
        sigset_t mask;
        int log_level = -1, r;

        /* A fixed mmap threshold: glibc otherwise raises it to the largest block
         * freed so far, and then keeps a GetManagedObjects reply's megabytes in
         * the heap after it is sent (+7.5 MB RSS at 10,000 domains, measured). */
        (void) mallopt(M_MMAP_THRESHOLD, 256 * 1024);

        r = parse_argv(argc, argv, &config, &log_level);
        if (r <= 0)
                return r < 0 ? 1 : 0;
        /* --user without --root keeps its files in the user's XDG directories */
        if (!config.config_file && config.user && isempty(config.root)) {
                user_config = g_build_filename(g_get_user_config_dir(), "vmgmt", "vmgmtd.conf", NULL);
                config.config_file = user_config;
        }
        r = manager_config_load(&config, config.root, config.config_file);
        if (r < 0)
                return 1;
        if (log_level >= 0)
                log_set_max_level(log_level);

        /* sd-event wants the signals it watches blocked; SIGCHLD for the driver's children. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = manager_new(&config, &m);
        if (r < 0)
                return 1;
        r = manager_startup(m);
        if (r >= 0)
                r = manager_run(m);
        manager_free(m);
        g_free(config.lease_dir);
        g_free(config.migration_address);
        g_free(config.migrate_tls_dir);   /* the manager has its own copy */
        return r < 0 ? 1 : 0;
}
