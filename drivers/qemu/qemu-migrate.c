/* qemu-migrate.c — live migration of a QEMU domain between two hosts (issue 15).
 *
 * Destination (QemuMigIn): qemu starts as for any start (the service's fds,
 * confinement) with -incoming defer; the start's incoming step sets the
 * capabilities the source uses, exports the disks to copy over NBD, and
 * migrate-incoming listens on TCP; the start then completes paused
 * ("migration", event started/migrated). The stream's failure kills qemu;
 * migrate_finish() waits for its end, takes the NBD server down and runs the
 * guest (resumed/migrated).
 *
 * Source (QemuMigJob): capabilities and parameters, the disks mirrored to the
 * destination's NBD exports until ready, then `migrate` to tcp:HOST:PORT with
 * query-migrate's numbers as progress; postcopy is switched to when the RAM
 * does not converge (or at once). When the stream completed (the guest is
 * stopped here) the mirrors are ended in sync and the service is asked
 * (switchover) whether the destination took over: yes, qemu here quits
 * (shutoff/migrated); no, the guest runs on here. Any failure before that
 * leaves it running here (qemu resumes it itself; we make sure). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

#include "log.h"
#include "macro.h"
#include "qemu-disk-node.h"
#include "qemu-driver-internal.h"

#define MIG_PROGRESS_USEC (500u * 1000u)
#define MIG_POSTCOPY_AFTER_PASSES 3u      /* postcopy: switched to after this many passes over the RAM */
#define MIG_TLS_ID "vmgmt-migrate-tls"
#define MIG_NBD_NODE_PREFIX "migrate-nbd-"

/* ---- a sequence of QMP commands, one after the other ---- */

typedef struct MigCmd {
        char *command;
        JsonValue *args;
} MigCmd;

typedef void (*SeqDoneFn)(void *owner, int r, const char *error);

typedef struct MigSeq {
        GQueue cmds;
        DriverRuntime *rt;
        SeqDoneFn done;
        void *owner;
        char *current;
} MigSeq;

static void seq_add(MigSeq *s, const char *command, JsonValue *args) {
        MigCmd *c = g_new0(MigCmd, 1);

        c->command = g_strdup(command);
        c->args = args;
        g_queue_push_tail(&s->cmds, c);
}

static void seq_clear(MigSeq *s) {
        MigCmd *c;

        while ((c = g_queue_pop_head(&s->cmds))) {
                json_decref(c->args);
                g_free(c->command);
                g_free(c);
        }
        g_free(s->current);
        s->current = NULL;
}

static void seq_next(MigSeq *s);

static void seq_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        MigSeq *s = userdata;

        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("%s: %s", strna(s->current),
                                                       r == -ECONNRESET ? "qemu closed its monitor" : strna(error));
                seq_clear(s);
                s->done(s->owner, r == -ECONNRESET ? -ESRCH : -EIO, msg);
                return;
        }
        seq_next(s);
}

static void seq_next(MigSeq *s) {
        MigCmd *c = g_queue_pop_head(&s->cmds);
        int r;

        g_free(s->current);
        s->current = NULL;
        if (!c) {
                s->done(s->owner, 0, NULL);
                return;
        }
        s->current = g_steal_pointer(&c->command);
        r = s->rt->qmp ? qmp_send(s->rt->qmp, s->current, c->args, seq_reply, s) : -ENOTCONN;
        g_free(c);
        if (r < 0) {
                seq_clear(s);
                s->done(s->owner, -ESRCH, "qemu closed its monitor");
        }
}

static void seq_start(MigSeq *s, DriverRuntime *rt, SeqDoneFn done, void *owner) {
        s->rt = rt;
        s->done = done;
        s->owner = owner;
        seq_next(s);
}

static JsonValue *capability(const char *name, bool on) {
        return json_pack("{s:s,s:b}", "capability", name, "state", on);
}

/* A tls-creds-x509 object with the credentials in dir (qemu reads them itself: it takes no fds for them). */
static JsonValue *tls_object(const char *dir, bool server) {
        return json_pack("{s:s,s:s,s:s,s:s,s:b}", "qom-type", "tls-creds-x509", "id", MIG_TLS_ID, "dir", dir,
                         "endpoint", server ? "server" : "client", "verify-peer", 1);
}

/* tls-creds-x509 takes a directory, no fds, and a confined qemu sees none of the host's: vmgmtd (root)
 * reads the credentials this side needs from src and copies them into RUN_DIR/migrate-tls, which
 * only qemu's uid reads (the run dir goes when qemu does). Returns the directory (malloc'd) or NULL
 * with *ret_error. */
static char *tls_stage(DriverRuntime *rt, const char *src, bool server, char **ret_error) {
        static const char *const server_files[] = { "ca-cert.pem", "server-cert.pem", "server-key.pem", NULL };
        static const char *const client_files[] = { "ca-cert.pem", "client-cert.pem", "client-key.pem", NULL };
        g_autofree char *dir = g_build_filename(rt->run_dir, "migrate-tls", NULL);

        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                *ret_error = g_strdup_printf("cannot make %s: %s", dir, strerror(errno));
                return NULL;
        }
        if (rt->confined && chown(dir, rt->uid, rt->gid) < 0) {
                *ret_error = g_strdup_printf("cannot hand %s to qemu's uid: %s", dir, strerror(errno));
                return NULL;
        }
        for (const char *const *f = server ? server_files : client_files; *f; f++) {
                g_autofree char *from = g_build_filename(src, *f, NULL), *to = g_build_filename(dir, *f, NULL);
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                int r = read_full_file(from, 1024 * 1024, &data, &len);

                if (r < 0) {
                        *ret_error = g_strdup_printf("cannot read %s: %s", from, strerror(-r));
                        return NULL;
                }
                r = write_file_atomic_nosync(to, data, len, 0600);
                if (r >= 0 && rt->confined && chown(to, rt->uid, rt->gid) < 0)
                        r = -errno;
                if (r < 0) {
                        *ret_error = g_strdup_printf("cannot write %s: %s", to, strerror(-r));
                        return NULL;
                }
        }
        return g_steal_pointer(&dir);
}

/* ---- destination ---- */

typedef struct QemuMigIn {
        DriverRuntime *rt;
        char *listen_address;
        uint16_t port_min, port_max, port, nbd_port;
        bool postcopy, compress, tls;
        unsigned multifd_channels;
        char *tls_dir;
        size_t *nbd_disks;
        size_t n_nbd_disks;
        MigSeq seq;
        bool listening;         /* our listener is on rt */
        bool in_start;          /* the start's step is ours */
        bool completed, postcopy_active, failed;
        DriverDoneFn finish_done;
        void *finish_userdata;
        bool finishing;
        sd_event_source *finish_timer;
} QemuMigIn;

static void mig_in_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata);
static void mig_in_gone(DriverRuntime *rt, bool exited, void *userdata);

static QemuListener mig_in_listener(QemuMigIn *m) {
        return (QemuListener) { .event = mig_in_event, .gone = mig_in_gone, .userdata = m };
}

static void mig_in_free(QemuMigIn *m) {
        if (!m)
                return;
        if (m->listening && m->rt) {
                QemuListener l = mig_in_listener(m);
                qemu_runtime_remove_listener(m->rt, &l);
        }
        if (m->rt && m->rt->mig_in == m)
                m->rt->mig_in = NULL;
        seq_clear(&m->seq);
        sd_event_source_disable_unref(m->finish_timer);
        free(m->listen_address);
        free(m->tls_dir);
        free(m->nbd_disks);
        free(m);
}

static void finish_end(QemuMigIn *m, int r, const char *message) {
        DriverDoneFn done = m->finish_done;
        void *userdata = m->finish_userdata;
        g_autofree char *msg = g_strdup(message);
        DriverRuntime *rt = m->rt;

        m->finish_done = NULL;
        m->finish_timer = sd_event_source_disable_unref(m->finish_timer);
        if (rt && m->finishing && rt->job_owns_pause > 0)
                rt->job_owns_pause--;
        m->finishing = false;
        if (r >= 0)
                mig_in_free(m);   /* an ordinary running domain from now on */
        if (done)
                done(userdata, r, msg);
}

static void finish_cont_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigIn *m = userdata;

        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("cannot run the migrated guest: %s", strna(error));
                finish_end(m, r == -ECONNRESET ? -ESRCH : -EIO, msg);
                return;
        }
        qemu_runtime_log(m->rt, "incoming migration of %s finished, the guest runs here", m->rt->def->name);
        qemu_runtime_set_state(m->rt, DOMAIN_STATE_RUNNING, "migrated", DOMAIN_EVENT_RESUMED, "migrated");
        finish_end(m, 0, NULL);
}

static void finish_seq_done(void *owner, int r, const char *error) {
        QemuMigIn *m = owner;

        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("cannot finish the incoming migration: %s", strna(error));
                finish_end(m, r, msg);
                return;
        }
        if (!m->rt->qmp || qmp_send(m->rt->qmp, "cont", NULL, finish_cont_reply, m) < 0)
                finish_end(m, -ESRCH, "qemu closed its monitor");
}

/* The stream is in (or postcopy runs): the NBD server goes, the guest runs. */
static void finish_go(QemuMigIn *m) {
        if (m->finishing)
                return;
        m->finishing = true;
        m->finish_timer = sd_event_source_disable_unref(m->finish_timer);
        m->rt->job_owns_pause++;        /* qemu's RESUME is ours: reported as resumed/migrated */
        if (m->n_nbd_disks > 0)
                seq_add(&m->seq, "nbd-server-stop", NULL);
        seq_start(&m->seq, m->rt, finish_seq_done, m);
}

static int finish_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        QemuMigIn *m = userdata;

        m->finish_timer = sd_event_source_disable_unref(m->finish_timer);
        if (!m->finishing)
                finish_end(m, -ETIMEDOUT, "the migration stream did not end in time");
        return 0;
}

int qemu_migrate_finish(DriverRuntime *rt, uint64_t timeout_usec, DriverDoneFn done, void *userdata) {
        QemuMigIn *m = rt->mig_in;

        if (!m || rt->starting)
                return -ENOTCONN;
        if (rt->killing || !rt->qmp)
                return -ESRCH;
        if (m->finish_done || m->finishing)
                return -EBUSY;
        if (m->failed)
                return -EIO;
        m->finish_done = done;
        m->finish_userdata = userdata;
        if (m->completed || m->postcopy_active) {
                finish_go(m);
                return 0;
        }
        /* the source saw the end first: ours follows */
        if (timeout_usec > 0)
                (void) sd_event_add_time_relative(rt->driver->event, &m->finish_timer, CLOCK_MONOTONIC, timeout_usec,
                                                  0, finish_timeout, m);
        return 0;
}

static void mig_in_failed(QemuMigIn *m, const char *why) {
        DriverRuntime *rt = m->rt;

        m->failed = true;
        qemu_runtime_log(rt, "incoming migration failed: %s", why);
        log_info("Domain %s: incoming migration failed: %s", rt->def->name, why);
        if (m->finish_done && !m->finishing) {
                g_autofree char *msg = g_strdup_printf("the incoming migration failed: %s", why);
                finish_end(m, -EIO, msg);
        }
        if (!rt->killing)
                (void) qemu_process_kill(rt, false, "failed", "failed");
}

static void mig_in_query_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigIn *m = userdata;

        if (m->rt)
                mig_in_failed(m, json_util_member_string(ret, "error-desc") ?: "the migration stream failed");
}

static void mig_in_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
        QemuMigIn *m = userdata;
        const char *status;

        if (!streq(name, "MIGRATION") || m->failed)
                return;
        status = json_util_member_string(data, "status");
        log_debug("Domain %s: incoming migration %s", rt->def->name, strna(status));
        if (streq_ptr(status, "completed")) {
                m->completed = true;
                if (m->finish_done)
                        finish_go(m);
        } else if (streq_ptr(status, "postcopy-active")) {
                m->postcopy_active = true;
                if (m->finish_done)
                        finish_go(m);
        } else if (streq_ptr(status, "failed")) {
                if (!rt->qmp || qmp_send(rt->qmp, "query-migrate", NULL, mig_in_query_reply, m) < 0)
                        mig_in_failed(m, "the migration stream failed");
        }
}

static void mig_in_gone(DriverRuntime *rt, bool exited, void *userdata) {
        QemuMigIn *m = userdata;
        DriverDoneFn done = exited ? m->finish_done : NULL;
        void *done_userdata = m->finish_userdata;

        m->listening = false;
        m->rt = NULL;
        rt->mig_in = NULL;
        mig_in_free(m);
        if (done)
                done(done_userdata, -ESRCH, "qemu exited during the incoming migration");
}

/* Whether nobody listens on addr:port now (qemu then binds it). */
static bool port_free(const char *addr, uint16_t port) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } sa = {};
        socklen_t len;
        int fd, one = 1;
        bool ok;

        if (inet_pton(AF_INET6, addr, &sa.in6.sin6_addr) == 1) {
                sa.in6.sin6_family = AF_INET6;
                sa.in6.sin6_port = htons(port);
                len = sizeof(sa.in6);
        } else {
                sa.in.sin_family = AF_INET;
                sa.in.sin_port = htons(port);
                if (inet_pton(AF_INET, addr, &sa.in.sin_addr) != 1)
                        sa.in.sin_addr.s_addr = htonl(INADDR_ANY);
                len = sizeof(sa.in);
        }
        fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return true;   /* qemu will tell */
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        ok = bind(fd, &sa.sa, len) == 0;
        close(fd);
        return ok;
}

/* The next free port of the range after `after` (0: from the start), or 0. */
static uint16_t next_port(QemuMigIn *m, uint16_t after, uint16_t skip) {
        for (unsigned p = after ? after + 1u : m->port_min; p <= m->port_max; p++)
                if (p != skip && port_free(m->listen_address, (uint16_t) p))
                        return (uint16_t) p;
        return 0;
}

static char *tcp_uri(const char *host, uint16_t port) {
        /* an IPv6 address in brackets */
        return strchr(host, ':') ? g_strdup_printf("tcp:[%s]:%u", host, port) : g_strdup_printf("tcp:%s:%u", host, port);
}

static void incoming_listen(QemuMigIn *m);

static void incoming_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigIn *m = userdata;
        DriverRuntime *rt = m->rt;

        if (!rt)
                return;
        if (r < 0) {
                uint16_t next = r == -ECONNRESET ? 0 : next_port(m, m->port, m->nbd_port);
                if (next) {
                        /* taken meanwhile: the next one */
                        log_debug("Domain %s: port %u refused (%s), trying %u", rt->def->name, m->port, strna(error),
                                  next);
                        m->port = next;
                        incoming_listen(m);
                        return;
                }
                g_autofree char *msg = g_strdup_printf("cannot listen for the incoming migration: %s", strna(error));
                m->in_start = false;
                qemu_process_start_failed(rt, -EIO, msg);
                return;
        }
        qemu_runtime_log(rt, "listening for an incoming migration on port %u", m->port);
        m->in_start = false;
        rt->incoming_pending = false;
        qemu_monitor_start_next(rt);   /* the start completes paused (qemu-process-monitor.c) */
}

static void incoming_listen(QemuMigIn *m) {
        g_autofree char *uri = tcp_uri(m->listen_address, m->port);

        if (!m->rt->qmp || qmp_send(m->rt->qmp, "migrate-incoming", json_pack("{s:s}", "uri", uri), incoming_reply, m) < 0)
                qemu_process_start_failed(m->rt, -EIO, "cannot talk to qemu's monitor");
}

static void incoming_setup_done(void *owner, int r, const char *error) {
        QemuMigIn *m = owner;

        if (!m->rt)
                return;
        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("cannot prepare the incoming migration: %s", strna(error));
                m->in_start = false;
                qemu_process_start_failed(m->rt, r, msg);
                return;
        }
        incoming_listen(m);
}

static void incoming_blocks_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigIn *m = userdata;
        DriverRuntime *rt = m->rt;

        if (!rt)
                return;
        if (r < 0) {
                incoming_setup_done(m, r, error);
                return;
        }
        /* the disks to copy, exported writable under their targets' names */
        char port[8];
        JsonValue *start;
        snprintf(port, sizeof port, "%u", m->nbd_port);
        start = json_pack("{s:{s:s,s:{s:s,s:s}}}", "addr", "type", "inet", "data", "host", m->listen_address, "port",
                          port);
        if (m->tls)   /* the stream's server credentials: a client without the CA's certificate gets nothing */
                json_object_set_new(start, "tls-creds", json_string(MIG_TLS_ID));
        seq_add(&m->seq, "nbd-server-start", start);
        qemu_runtime_log(rt, "the disks' NBD server listens on port %u%s", m->nbd_port, m->tls ? " (TLS)" : "");
        for (size_t i = 0; i < m->n_nbd_disks; i++) {
                const JsonValue *ins = qemu_disk_inserted(ret, rt->def, m->nbd_disks[i]);
                const char *node = json_util_member_string(ins, "node-name");

                if (!node) {
                        g_autofree char *msg = g_strdup_printf("disk %s has no block node to export",
                                                               strna(rt->def->disks[m->nbd_disks[i]].target_dev));
                        seq_clear(&m->seq);
                        incoming_setup_done(m, -EIO, msg);
                        return;
                }
                seq_add(&m->seq, "nbd-server-add",
                        json_pack("{s:s,s:s,s:b}", "device", node, "name", rt->def->disks[m->nbd_disks[i]].target_dev,
                                  "writable", 1));
        }
        seq_start(&m->seq, rt, incoming_setup_done, m);
}

static void incoming_caps_done(void *owner, int r, const char *error) {
        QemuMigIn *m = owner;

        if (r < 0 || m->n_nbd_disks == 0) {
                incoming_setup_done(m, r, error);
                return;
        }
        /* the exports need the disks' node names */
        if (!m->rt->qmp || qmp_send(m->rt->qmp, "query-block", NULL, incoming_blocks_reply, m) < 0)
                incoming_setup_done(m, -ESRCH, "qemu closed its monitor");
}

void qemu_migrate_incoming_step(DriverRuntime *rt) {
        QemuMigIn *m = rt->mig_in;
        JsonValue *caps = json_array(), *params = json_object();

        m->in_start = true;
        json_array_append_new(caps, capability("events", true));
        if (m->postcopy)
                json_array_append_new(caps, capability("postcopy-ram", true));
        if (m->multifd_channels > 0)
                json_array_append_new(caps, capability("multifd", true));
        if (m->compress && m->multifd_channels == 0)
                json_array_append_new(caps, capability("compress", true));
        seq_add(&m->seq, "migrate-set-capabilities", json_pack("{s:o}", "capabilities", caps));
        if (m->multifd_channels > 0) {
                json_object_set_new(params, "multifd-channels", json_integer(m->multifd_channels));
                if (m->compress)
                        json_object_set_new(params, "multifd-compression", json_string("zlib"));
        }
        if (m->tls) {
                g_autofree char *err = NULL, *dir = tls_stage(rt, m->tls_dir, true, &err);
                if (!dir) {
                        json_decref(params);
                        seq_clear(&m->seq);
                        qemu_process_start_failed(rt, -EIO, err);
                        return;
                }
                seq_add(&m->seq, "object-add", tls_object(dir, true));
                json_object_set_new(params, "tls-creds", json_string(MIG_TLS_ID));
        }
        if (json_object_size(params) > 0)
                seq_add(&m->seq, "migrate-set-parameters", params);
        else
                json_decref(params);
        m->port = next_port(m, 0, 0);
        if (m->n_nbd_disks > 0) {
                m->nbd_port = next_port(m, m->port, 0);
                if (m->port && !m->nbd_port) {
                        seq_clear(&m->seq);
                        qemu_process_start_failed(rt, -EADDRINUSE, "no free port for the NBD server in the migration port range");
                        return;
                }
        }
        if (!m->port) {
                seq_clear(&m->seq);
                g_autofree char *msg = g_strdup_printf("no free port in the migration port range %u-%u on %s",
                                                       m->port_min, m->port_max, m->listen_address);
                qemu_process_start_failed(rt, -EADDRINUSE, msg);
                return;
        }
        seq_start(&m->seq, rt, incoming_caps_done, m);
}

int qemu_migrate_prepare(DomainDriver *d, void *owner, const DomainDef *def, int id, const DriverFiles *files,
                         const DriverMigrateIncoming *in, DriverRuntime **ret_rt, DriverDoneFn done, void *userdata) {
        QemuMigIn *m;
        int r;

        if (!in || in->port_min == 0 || in->port_max < in->port_min || (in->tls && !in->tls_dir))
                return -EINVAL;
        for (size_t i = 0; i < in->n_nbd_disks; i++)
                if (in->nbd_disks[i] >= def->n_disks || !def->disks[in->nbd_disks[i]].target_dev)
                        return -EINVAL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        g_queue_init(&m->seq.cmds);
        m->listen_address = strdup(in->listen_address ?: "0.0.0.0");
        m->port_min = in->port_min;
        m->port_max = in->port_max;
        m->postcopy = in->postcopy;
        m->compress = in->compress;
        m->tls = in->tls;
        m->tls_dir = in->tls_dir ? strdup(in->tls_dir) : NULL;
        m->multifd_channels = in->multifd_channels;
        if (in->n_nbd_disks > 0) {
                m->nbd_disks = calloc(in->n_nbd_disks, sizeof(size_t));
                if (m->nbd_disks)
                        memcpy(m->nbd_disks, in->nbd_disks, in->n_nbd_disks * sizeof(size_t));
                m->n_nbd_disks = in->n_nbd_disks;
        }
        if (!m->listen_address || (in->n_nbd_disks > 0 && !m->nbd_disks)) {
                mig_in_free(m);
                return -ENOMEM;
        }
        r = qemu_driver_start_migrating(d, owner, def, id, files, m, ret_rt, done, userdata);
        if (r < 0) {
                mig_in_free(m);
                return r;
        }
        m->rt = *ret_rt;
        QemuListener l = mig_in_listener(m);
        if (qemu_runtime_add_listener(m->rt, &l) >= 0)
                m->listening = true;
        else {
                /* cannot follow it: the start fails (its done follows) */
                m->rt->mig_in = NULL;
                m->rt->incoming_pending = false;
                qemu_process_start_failed(m->rt, -ENOMEM, NULL);
                m->rt = NULL;
                mig_in_free(m);
        }
        return 0;
}

void qemu_migrate_ports(DriverRuntime *rt, uint16_t *ret_port, uint16_t *ret_nbd_port) {
        QemuMigIn *m = rt->mig_in;

        *ret_port = m ? m->port : 0;
        *ret_nbd_port = m ? m->nbd_port : 0;
}

/* ---- source ---- */

typedef enum MigPhase {
        PHASE_SETUP,            /* capabilities, parameters, the NBD clients and mirrors */
        PHASE_MIRROR,           /* waiting for every mirror to be ready */
        PHASE_STREAM,           /* migrate sent: the RAM goes */
        PHASE_ENDING_MIRRORS,   /* the stream is through: the mirrors end in sync */
        PHASE_SWITCHOVER,       /* the service asks the destination */
        PHASE_CONFIRMED,        /* it runs there: qemu here quits */
        PHASE_FAILING,          /* back to running here */
} MigPhase;

typedef struct QemuMigJob {
        DriverJob base;
        DriverRuntime *rt;
        DriverMigrateCallbacks cb;
        MigPhase phase;
        char *uri;
        char *host;
        uint16_t nbd_port;
        size_t *disks;
        size_t n_disks;
        char **disk_nodes;              /* the source node of each mirrored disk */
        size_t n_ready, n_ended;
        bool was_running, live, we_stopped;
        bool postcopy, postcopy_now, postcopy_started, postcopy_active, completed;
        bool cancel_requested, listening, stream_started;
        bool tls;                       /* the stream and the disks' NBD connections */
        uint64_t disk_done, disk_total;
        uint64_t *disk_len, *disk_off;  /* each mirror's, as qemu last said */
        MigSeq seq;
        sd_event_source *timer;
        int error;
        char *message;
        DriverMigrateStats stats;
        char *status;
} QemuMigJob;

static void mig_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata);
static void confirmed_quit(QemuMigJob *j);
static void mig_gone(DriverRuntime *rt, bool exited, void *userdata);
static void mig_fail(QemuMigJob *j, int error, const char *message);

static QemuListener mig_listener(QemuMigJob *j) {
        return (QemuListener) { .event = mig_event, .gone = mig_gone, .userdata = j };
}

static void mig_free(QemuMigJob *j) {
        if (!j)
                return;
        if (j->listening && j->rt) {
                QemuListener l = mig_listener(j);
                qemu_runtime_remove_listener(j->rt, &l);
        }
        if (j->rt && j->rt->mig_job == j)
                j->rt->mig_job = NULL;
        seq_clear(&j->seq);
        sd_event_source_disable_unref(j->timer);
        g_strfreev(j->disk_nodes);
        free(j->disk_len);
        free(j->disk_off);
        free(j->disks);
        free(j->uri);
        free(j->host);
        free(j->message);
        free(j->status);
        free(j);
}

static void mig_done(QemuMigJob *j, int r, const char *message) {
        DriverMigrateCallbacks cb = j->cb;
        g_autofree char *msg = g_strdup(message);

        if (j->rt && j->rt->job_owns_pause > 0)
                j->rt->job_owns_pause--;
        mig_free(j);
        if (cb.done)
                cb.done(cb.userdata, r, msg);
}

static void mig_gone(DriverRuntime *rt, bool exited, void *userdata) {
        QemuMigJob *j = userdata;

        j->listening = false;
        j->rt = NULL;
        rt->mig_job = NULL;
        if (!exited) {
                j->cb.done = NULL;   /* driver teardown: nobody to tell */
                mig_free(j);
                return;
        }
        if (j->phase == PHASE_CONFIRMED) {
                mig_done(j, 0, NULL);   /* the quit we asked for */
                return;
        }
        mig_done(j, -ESRCH, j->phase >= PHASE_SWITCHOVER && j->postcopy_active
                                    ? "qemu exited during the postcopy phase of the migration"
                                    : "qemu exited during the migration");
}

/* ---- numbers ---- */

static uint64_t member_u64(const JsonValue *o, const char *key) {
        int64_t v = 0;
        const JsonValue *x = json_object_get(o, key);

        if (json_util_integer(x, &v) < 0) {
                if (json_is_real(x))
                        return (uint64_t) json_real_value(x);
                return 0;
        }
        return v > 0 ? (uint64_t) v : 0;
}

static void mig_report(QemuMigJob *j) {
        DriverMigrateStats *s = &j->stats;

        s->disk_transferred = j->disk_done;
        s->disk_total = j->disk_total;
        s->status = j->status;
        if (j->cb.stats)
                j->cb.stats(j->cb.userdata, s);
}

static void read_stats(QemuMigJob *j, const JsonValue *ret) {
        const JsonValue *ram = json_object_get(ret, "ram");
        const char *status = json_util_member_string(ret, "status");
        DriverMigrateStats *s = &j->stats;

        if (status) {
                free(j->status);
                j->status = strdup(status);
        }
        if (ram) {
                s->ram_transferred = member_u64(ram, "transferred");
                s->ram_remaining = member_u64(ram, "remaining");
                s->ram_total = member_u64(ram, "total");
                s->dirty_rate = member_u64(ram, "dirty-pages-rate");
                s->iteration = member_u64(ram, "dirty-sync-count");
        }
        if (json_object_get(ret, "expected-downtime"))
                s->expected_downtime_ms = member_u64(ret, "expected-downtime");
        if (json_object_get(ret, "downtime"))
                s->downtime_ms = member_u64(ret, "downtime");
        if (json_object_get(ret, "setup-time"))
                s->setup_ms = member_u64(ret, "setup-time");
        if (json_object_get(ret, "total-time"))
                s->total_ms = member_u64(ret, "total-time");
}

static void postcopy_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigJob *j = userdata;

        if (r < 0 && j->rt)
                log_warning("Domain %s: migrate-start-postcopy: %s", j->rt->def->name, strna(error));
}

static void start_postcopy(QemuMigJob *j) {
        if (j->postcopy_started || !j->rt->qmp)
                return;
        j->postcopy_started = true;
        qemu_runtime_log(j->rt, "migration switches to postcopy");
        (void) qmp_send(j->rt->qmp, "migrate-start-postcopy", NULL, postcopy_reply, j);
}

static void query_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigJob *j = userdata;

        if (r < 0 || !j->rt || j->phase != PHASE_STREAM)
                return;
        read_stats(j, ret);
        mig_report(j);
        if (j->postcopy && !j->postcopy_started && streq_ptr(j->status, "active") &&
            j->stats.iteration >= MIG_POSTCOPY_AFTER_PASSES)
                start_postcopy(j);   /* it does not converge */
        if (streq_ptr(j->status, "failed")) {
                g_autofree char *msg = g_strdup_printf("the migration failed: %s",
                                                       json_util_member_string(ret, "error-desc") ?: "qemu gave no reason");
                mig_fail(j, -EIO, msg);
        }
}

static int disk_of_job(QemuMigJob *j, const char *id);

static void disks_sum(QemuMigJob *j) {
        j->disk_done = j->disk_total = 0;
        for (size_t i = 0; i < j->n_disks; i++) {
                j->disk_done += j->disk_off[i];
                j->disk_total += j->disk_len[i];
        }
}

/* A mirror's numbers (query-block-jobs' entry, or BLOCK_JOB_READY's data). */
static void mirror_numbers(QemuMigJob *j, const JsonValue *b) {
        int i = disk_of_job(j, json_util_member_string(b, "device"));

        if (i < 0)
                return;
        j->disk_off[i] = member_u64(b, "offset");
        j->disk_len[i] = member_u64(b, "len");
        disks_sum(j);
}

static void mirrors_query_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigJob *j = userdata;

        if (r < 0 || !j->rt)
                return;
        for (size_t i = 0; i < json_array_size(ret); i++)
                mirror_numbers(j, json_array_get(ret, i));
}

static int tick(sd_event_source *s, uint64_t usec, void *userdata) {
        QemuMigJob *j = userdata;

        if (!j->rt || !j->rt->qmp)
                return 0;
        if (j->n_disks > 0 && (j->phase == PHASE_MIRROR || j->phase == PHASE_STREAM))
                (void) qmp_send(j->rt->qmp, "query-block-jobs", NULL, mirrors_query_reply, j);
        if (j->phase == PHASE_STREAM)
                (void) qmp_send(j->rt->qmp, "query-migrate", NULL, query_reply, j);
        else if (j->phase == PHASE_MIRROR)
                mig_report(j);
        (void) sd_event_source_set_time_relative(s, MIG_PROGRESS_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

/* ---- failure: the guest runs here ---- */

static void fail_cont_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigJob *j = userdata;

        if (!j->rt) {
                mig_done(j, j->error, j->message);
                return;
        }
        if (r < 0 && !(error && strstr(error, "already running"))) {
                g_autofree char *msg = g_strdup_printf("%s; the guest could not be resumed here: %s", strna(j->message),
                                                       strna(error));
                qemu_runtime_set_state(j->rt, DOMAIN_STATE_PAUSED, "migration", DOMAIN_EVENT_NONE, NULL);
                mig_done(j, j->error, msg);
                return;
        }
        if (j->rt->state == DOMAIN_STATE_PAUSED || j->we_stopped)
                qemu_runtime_set_state(j->rt, DOMAIN_STATE_RUNNING, "migration-canceled", DOMAIN_EVENT_RESUMED,
                                       "migrated");
        mig_done(j, j->error, j->message);
}

static void fail_status_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigJob *j = userdata;
        bool running = false;

        if (!j->rt) {
                mig_done(j, j->error, j->message);
                return;
        }
        (void) json_util_boolean(json_object_get(ret, "running"), &running);
        if (r >= 0 && (running || !j->was_running)) {
                if (!j->was_running)
                        qemu_runtime_set_state(j->rt, DOMAIN_STATE_PAUSED, j->rt->reason, DOMAIN_EVENT_NONE, NULL);
                else if (j->rt->state == DOMAIN_STATE_PAUSED)
                        qemu_runtime_set_state(j->rt, DOMAIN_STATE_RUNNING, "migration-canceled",
                                               DOMAIN_EVENT_RESUMED, "migrated");
                mig_done(j, j->error, j->message);
                return;
        }
        /* stopped by the migration's end: it runs on here */
        if (qmp_send(j->rt->qmp, "cont", NULL, fail_cont_reply, j) < 0)
                mig_done(j, j->error, j->message);
}

static void fail_seq_done(void *owner, int r, const char *error) {
        QemuMigJob *j = owner;

        if (!j->rt || !j->rt->qmp || qmp_send(j->rt->qmp, "query-status", NULL, fail_status_reply, j) < 0)
                mig_done(j, j->error, j->message);
}

static void mig_fail(QemuMigJob *j, int error, const char *message) {
        if (j->phase == PHASE_FAILING)
                return;
        j->phase = PHASE_FAILING;
        j->timer = sd_event_source_disable_unref(j->timer);
        j->error = error;
        free(j->message);
        j->message = message ? strdup(message) : NULL;
        if (j->rt)
                qemu_runtime_log(j->rt, "migration failed: %s", strna(message));
        if (!j->rt || !j->rt->qmp || j->rt->killing) {
                mig_done(j, error, message);
                return;
        }
        /* the mirrors go (their NBD nodes with them, mig_event); a failure (no such job) does not matter */
        seq_clear(&j->seq);
        for (size_t i = 0; i < j->n_disks; i++) {
                char id[64];
                snprintf(id, sizeof id, MIG_NBD_NODE_PREFIX "%zu", i);
                (void) qmp_send(j->rt->qmp, "block-job-cancel", json_pack("{s:s,s:b}", "device", id, "force", 1),
                                NULL, NULL);
        }
        fail_seq_done(j, 0, NULL);
}

/* ---- the stream ---- */

static void migrate_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigJob *j = userdata;

        if (!j->rt || j->phase != PHASE_STREAM)
                return;
        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("cannot start the migration: %s", strna(error));
                mig_fail(j, r == -ECONNRESET ? -ESRCH : -EIO, msg);
                return;
        }
        j->stream_started = true;
        if (j->cancel_requested) {
                (void) qmp_send(j->rt->qmp, "migrate_cancel", NULL, NULL, NULL);
                return;
        }
        if (j->postcopy && j->postcopy_now)
                start_postcopy(j);
}

static void stream_start(QemuMigJob *j) {
        j->phase = PHASE_STREAM;
        qemu_runtime_log(j->rt, "migrating to %s", j->uri);
        if (!j->rt->qmp || qmp_send(j->rt->qmp, "migrate", json_pack("{s:s}", "uri", j->uri), migrate_reply, j) < 0)
                mig_fail(j, -ESRCH, "qemu closed its monitor");
}

static void switchover(QemuMigJob *j) {
        j->phase = PHASE_SWITCHOVER;
        /* the guest is stopped here now; the destination is asked to run it */
        qemu_runtime_set_state(j->rt, DOMAIN_STATE_PAUSED, "migration", DOMAIN_EVENT_NONE, NULL);
        if (j->cb.switchover)
                j->cb.switchover(j->cb.userdata, &j->base);
        else
                qemu_migrate_confirm(&j->base, 0, NULL);
}

static void end_mirrors(QemuMigJob *j);

static void final_query_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigJob *j = userdata;

        if (!j->rt)
                return;
        if (r >= 0)
                read_stats(j, ret);
        if (j->completed) {
                j->stats.ram_remaining = 0;
                free(j->status);
                j->status = strdup("completed");
        }
        if (j->disk_total)
                j->disk_done = j->disk_total;
        mig_report(j);
        if (j->phase == PHASE_STREAM) {
                if (j->n_disks > 0)
                        end_mirrors(j);
                else
                        switchover(j);
        }
}

static void mirror_cancel_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigJob *j = userdata;

        if (r < 0 && j->rt && j->phase == PHASE_ENDING_MIRRORS) {
                g_autofree char *msg = g_strdup_printf("cannot end the disk mirror: %s", strna(error));
                mig_fail(j, -EIO, msg);
        }
}

/* The guest is stopped: each mirror is cancelled in sync (it completes what it had, the copy stays as
 * it is), BLOCK_JOB_COMPLETED for each, then the switch-over. */
static void end_mirrors(QemuMigJob *j) {
        j->phase = PHASE_ENDING_MIRRORS;
        j->n_ended = 0;
        for (size_t i = 0; i < j->n_disks; i++) {
                char id[64];
                snprintf(id, sizeof id, MIG_NBD_NODE_PREFIX "%zu", i);
                if (qmp_send(j->rt->qmp, "block-job-cancel", json_pack("{s:s}", "device", id), mirror_cancel_reply,
                             j) < 0) {
                        mig_fail(j, -ESRCH, "qemu closed its monitor");
                        return;
                }
        }
}

static int disk_of_job(QemuMigJob *j, const char *id) {
        if (!id || !g_str_has_prefix(id, MIG_NBD_NODE_PREFIX))
                return -1;
        unsigned long i = strtoul(id + strlen(MIG_NBD_NODE_PREFIX), NULL, 10);
        return i < j->n_disks ? (int) i : -1;
}

static void mig_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
        QemuMigJob *j = userdata;

        if (streq(name, "BLOCK_JOB_READY") && disk_of_job(j, json_util_member_string(data, "device")) >= 0) {
                mirror_numbers(j, data);
                j->n_ready++;
                if (j->phase == PHASE_MIRROR && j->n_ready >= j->n_disks) {
                        if (j->cancel_requested)
                                mig_fail(j, -ECANCELED, "the migration was cancelled");
                        else
                                stream_start(j);
                }
                return;
        }
        if ((streq(name, "BLOCK_JOB_COMPLETED") || streq(name, "BLOCK_JOB_CANCELLED")) &&
            disk_of_job(j, json_util_member_string(data, "device")) >= 0) {
                const char *err = json_util_member_string(data, "error");
                char node[64];
                snprintf(node, sizeof node, "%s-target", json_util_member_string(data, "device"));
                /* the NBD client node goes with its job */
                (void) qmp_send(rt->qmp, "blockdev-del", json_pack("{s:s}", "node-name", node), NULL, NULL);
                if (j->phase == PHASE_ENDING_MIRRORS) {
                        if (err) {
                                g_autofree char *msg = g_strdup_printf("the disk mirror failed: %s", err);
                                mig_fail(j, -EIO, msg);
                        } else if (++j->n_ended >= j->n_disks)
                                switchover(j);
                } else if (j->phase == PHASE_MIRROR || j->phase == PHASE_STREAM || j->phase == PHASE_SETUP) {
                        g_autofree char *msg = g_strdup_printf("the disk mirror to the destination ended: %s",
                                                               err ?: "cancelled");
                        mig_fail(j, -EIO, msg);
                }
                return;
        }
        if (!streq(name, "MIGRATION") || j->phase != PHASE_STREAM) {
                if (streq(name, "MIGRATION") && (j->phase == PHASE_SWITCHOVER || j->phase == PHASE_CONFIRMED) &&
                    j->postcopy_active && streq_ptr(json_util_member_string(data, "status"), "completed")) {
                        j->completed = true;
                        if (j->phase == PHASE_CONFIRMED)
                                confirmed_quit(j);   /* the last pages are there: now qemu here may go */
                }
                return;
        }
        const char *status = json_util_member_string(data, "status");
        free(j->status);
        j->status = status ? strdup(status) : NULL;
        if (streq_ptr(status, "completed")) {
                j->completed = true;
                if (!rt->qmp || qmp_send(rt->qmp, "query-migrate", NULL, final_query_reply, j) < 0)
                        final_query_reply(NULL, -ESRCH, NULL, NULL, j);
        } else if (streq_ptr(status, "postcopy-active")) {
                /* the destination must run the guest now: the service is asked at once */
                j->postcopy_active = true;
                if (!rt->qmp || qmp_send(rt->qmp, "query-migrate", NULL, final_query_reply, j) < 0)
                        final_query_reply(NULL, -ESRCH, NULL, NULL, j);
        } else if (streq_ptr(status, "failed"))
                (void) qmp_send(rt->qmp, "query-migrate", NULL, query_reply, j);
        else if (streq_ptr(status, "cancelled"))
                mig_fail(j, -ECANCELED, "the migration was cancelled");
}

/* ---- setup ---- */

static void setup_done(void *owner, int r, const char *error) {
        QemuMigJob *j = owner;

        if (!j->rt)
                return;
        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("cannot set the migration up: %s", strna(error));
                mig_fail(j, r, msg);
                return;
        }
        if (j->cancel_requested) {
                mig_fail(j, -ECANCELED, "the migration was cancelled");
                return;
        }
        if (j->n_disks > 0) {
                j->phase = PHASE_MIRROR;
                if (j->n_ready >= j->n_disks)
                        stream_start(j);
                return;
        }
        stream_start(j);
}

static void blocks_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigJob *j = userdata;
        DriverRuntime *rt = j->rt;
        char port[8];

        if (!rt)
                return;
        if (r < 0) {
                setup_done(j, r == -ECONNRESET ? -ESRCH : -EIO, error);
                return;
        }
        snprintf(port, sizeof port, "%u", j->nbd_port);
        for (size_t i = 0; i < j->n_disks; i++) {
                const JsonValue *ins = qemu_disk_inserted(ret, rt->def, j->disks[i]);
                const char *node = json_util_member_string(ins, "node-name");
                char id[64], target[80];
                JsonValue *add;

                if (!node) {
                        g_autofree char *msg = g_strdup_printf("disk %s has no block node to copy",
                                                               strna(rt->def->disks[j->disks[i]].target_dev));
                        seq_clear(&j->seq);
                        setup_done(j, -EIO, msg);
                        return;
                }
                snprintf(id, sizeof id, MIG_NBD_NODE_PREFIX "%zu", i);
                snprintf(target, sizeof target, "%s-target", id);
                add = json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:s}", "driver", "nbd", "node-name", target, "server", "type",
                                "inet", "host", j->host, "port", port, "export", rt->def->disks[j->disks[i]].target_dev);
                if (j->tls) {
                        /* the stream's client credentials (added before this), the destination named as for it */
                        json_object_set_new(add, "tls-creds", json_string(MIG_TLS_ID));
                        json_object_set_new(add, "tls-hostname", json_string(j->host));
                }
                seq_add(&j->seq, "blockdev-add", add);
                seq_add(&j->seq, "blockdev-mirror",
                        json_pack("{s:s,s:s,s:s,s:s,s:b}", "job-id", id, "device", node, "target", target, "sync",
                                  "full", "auto-dismiss", 1));
        }
        seq_start(&j->seq, rt, setup_done, j);
}

static void caps_done(void *owner, int r, const char *error) {
        QemuMigJob *j = owner;

        if (r < 0 || j->n_disks == 0) {
                setup_done(j, r, error);
                return;
        }
        if (!j->rt->qmp || qmp_send(j->rt->qmp, "query-block", NULL, blocks_reply, j) < 0)
                setup_done(j, -ESRCH, "qemu closed its monitor");
}

static void mig_cancel(DriverJob *base) {
        QemuMigJob *j = (QemuMigJob *) base;

        if (j->cancel_requested || !j->rt)
                return;
        j->cancel_requested = true;
        switch (j->phase) {
        case PHASE_SETUP:
                break;   /* setup_done sees it */
        case PHASE_MIRROR:
                mig_fail(j, -ECANCELED, "the migration was cancelled");
                break;
        case PHASE_STREAM:
                if (j->postcopy_active)
                        break;   /* too late: the guest runs there already */
                if (j->stream_started && j->rt->qmp)
                        (void) qmp_send(j->rt->qmp, "migrate_cancel", NULL, NULL, NULL);
                break;
        default:
                break;   /* too late */
        }
}

static void stop_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigJob *j = userdata;

        if (!j->rt)
                return;
        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("cannot stop the guest: %s", strna(error));
                mig_fail(j, -EIO, msg);
                return;
        }
        j->we_stopped = true;
        qemu_runtime_set_state(j->rt, DOMAIN_STATE_PAUSED, "migration", DOMAIN_EVENT_SUSPENDED, "migrated");
        seq_start(&j->seq, j->rt, caps_done, j);
}

int qemu_migrate_begin(DriverRuntime *rt, const DriverMigrateOptions *o, const DriverMigrateCallbacks *cb,
                       DriverJob **ret_job, char **ret_error) {
        JsonValue *caps, *params;
        QemuMigJob *j;

        if (rt->starting || rt->restore_job || rt->mig_in)
                return -EBUSY;
        if (rt->killing || rt->state == DOMAIN_STATE_SHUTOFF || !rt->qmp)
                return -ESRCH;
        if (rt->state_job || rt->mig_job || rt->job_owns_pause > 0)
                return -EBUSY;
        if (rt->state != DOMAIN_STATE_RUNNING && rt->state != DOMAIN_STATE_PAUSED)
                return -ENOTCONN;
        if (!o->host || !o->port || (o->n_nbd_disks > 0 && !o->nbd_port) || (o->tls && !o->tls_dir)) {
                *ret_error = g_strdup("the destination gave no address to migrate to");
                return -EINVAL;
        }
        for (size_t i = 0; i < o->n_nbd_disks; i++)
                if (o->nbd_disks[i] >= rt->def->n_disks) {
                        *ret_error = g_strdup("no such disk to copy");
                        return -EINVAL;
                }
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        g_queue_init(&j->seq.cmds);
        j->base.cancel = mig_cancel;
        j->rt = rt;
        j->cb = *cb;
        j->uri = tcp_uri(o->host, o->port);
        j->host = strdup(o->host);
        j->nbd_port = o->nbd_port;
        j->was_running = rt->state == DOMAIN_STATE_RUNNING;
        j->live = o->live;
        j->postcopy = o->postcopy;
        j->postcopy_now = o->postcopy_now;
        j->tls = o->tls;
        if (o->n_nbd_disks > 0) {
                j->disks = calloc(o->n_nbd_disks, sizeof(size_t));
                if (j->disks)
                        memcpy(j->disks, o->nbd_disks, o->n_nbd_disks * sizeof(size_t));
                j->n_disks = o->n_nbd_disks;
                j->disk_len = calloc(o->n_nbd_disks, sizeof(uint64_t));
                j->disk_off = calloc(o->n_nbd_disks, sizeof(uint64_t));
        }
        if (!j->uri || !j->host || (o->n_nbd_disks > 0 && (!j->disks || !j->disk_len || !j->disk_off))) {
                mig_free(j);
                return -ENOMEM;
        }

        caps = json_array();
        json_array_append_new(caps, capability("events", true));
        json_array_append_new(caps, capability("auto-converge", o->auto_converge));
        json_array_append_new(caps, capability("postcopy-ram", o->postcopy));
        json_array_append_new(caps, capability("multifd", o->multifd_channels > 0));
        json_array_append_new(caps, capability("compress", o->compress && o->multifd_channels == 0));
        json_array_append_new(caps, capability("pause-before-switchover", false));
        seq_add(&j->seq, "migrate-set-capabilities", json_pack("{s:o}", "capabilities", caps));
        params = json_object();
        /* qemu's default would be 32 MiB/s */
        /* unlimited unless asked (here or by migrate-setspeed before) */
        json_object_set_new(params, "max-bandwidth",
                            json_integer(o->bandwidth ? (json_int_t) o->bandwidth
                                         : rt->mig_bandwidth ? (json_int_t) rt->mig_bandwidth : (json_int_t) (1ll << 50)));
        if (o->max_downtime_ms)
                json_object_set_new(params, "downtime-limit", json_integer((json_int_t) o->max_downtime_ms));
        if (o->multifd_channels > 0) {
                json_object_set_new(params, "multifd-channels", json_integer(o->multifd_channels));
                json_object_set_new(params, "multifd-compression", json_string(o->compress ? "zlib" : "none"));
        }
        if (o->tls) {
                g_autofree char *dir = tls_stage(rt, o->tls_dir, false, ret_error);
                if (!dir) {
                        json_decref(params);
                        mig_free(j);
                        return -EIO;
                }
                /* one of an earlier migration of this qemu goes first (no such object: nothing) */
                (void) qmp_send(rt->qmp, "object-del", json_pack("{s:s}", "id", MIG_TLS_ID), NULL, NULL);
                seq_add(&j->seq, "object-add", tls_object(dir, false));
                json_object_set_new(params, "tls-creds", json_string(MIG_TLS_ID));
                json_object_set_new(params, "tls-hostname", json_string(o->host));
        } else
                json_object_set_new(params, "tls-creds", json_string(""));
        seq_add(&j->seq, "migrate-set-parameters", params);

        QemuListener l = mig_listener(j);
        if (qemu_runtime_add_listener(rt, &l) < 0) {
                mig_free(j);
                return -ENOMEM;
        }
        j->listening = true;
        rt->mig_job = j;
        rt->job_owns_pause++;   /* STOP/RESUME of the migration's end are ours */
        (void) sd_event_add_time_relative(rt->driver->event, &j->timer, CLOCK_MONOTONIC, MIG_PROGRESS_USEC, 0, tick, j);
        qemu_runtime_log(rt, "migration to %s begins", j->uri);
        if (!o->live && j->was_running) {
                /* an offline stream: the CPUs stop first */
                if (qmp_send(rt->qmp, "stop", NULL, stop_reply, j) < 0) {
                        rt->job_owns_pause--;
                        mig_free(j);
                        return -ESRCH;
                }
        } else
                seq_start(&j->seq, rt, caps_done, j);
        *ret_job = &j->base;
        return 0;
}

/* ---- the end ---- */

static void confirm_cont_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        QemuMigJob *j = userdata;

        if (!j->rt) {
                mig_done(j, j->error, j->message);
                return;
        }
        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("%s; the guest could not be resumed here: %s", strna(j->message),
                                                       strna(error));
                mig_done(j, j->error, msg);
                return;
        }
        qemu_runtime_set_state(j->rt, DOMAIN_STATE_RUNNING, "migration-canceled", DOMAIN_EVENT_RESUMED, "migrated");
        mig_done(j, j->error, j->message);
}

/* It runs there and all of its memory is there: qemu here quits; done when it is gone (mig_gone). */
static void confirmed_quit(QemuMigJob *j) {
        qemu_runtime_log(j->rt, "migration completed: the guest runs on the destination");
        if (qemu_process_kill(j->rt, false, "migrated", "migrated") < 0)
                mig_done(j, -EIO, "cannot stop qemu after the migration");
}

void qemu_migrate_confirm(DriverJob *base, int r, const char *message) {
        QemuMigJob *j = (QemuMigJob *) base;
        DriverRuntime *rt = j->rt;

        if (j->phase != PHASE_SWITCHOVER)
                return;
        if (!rt) {
                mig_done(j, r < 0 ? r : -ESRCH, message ?: "qemu exited during the migration");
                return;
        }
        if (r >= 0) {
                j->phase = PHASE_CONFIRMED;
                if (j->postcopy_active && !j->completed) {
                        /* it runs there, but the pages it has not touched yet are still here: qemu
                         * here quits when the stream says completed (mig_event) */
                        qemu_runtime_log(rt, "the guest runs on the destination; the rest of its memory follows "
                                             "(postcopy)");
                        return;
                }
                confirmed_quit(j);
                return;
        }
        j->phase = PHASE_FAILING;
        j->error = r;
        free(j->message);
        j->message = strdup(message ?: "the destination did not take the guest over");
        if (r == -ENOTCONN) {
                /* nobody knows whether it runs there: it must not run on both sides, it stays paused here */
                qemu_runtime_log(rt, "migration outcome unknown (%s): the guest stays paused here", j->message);
                mig_done(j, r, j->message);
                return;
        }
        if (j->postcopy_active) {
                /* its memory is there already: nothing runs it here */
                mig_done(j, r, "the destination failed during postcopy: the guest is lost");
                return;
        }
        qemu_runtime_log(rt, "migration not confirmed (%s): the guest runs on here", j->message);
        if (!j->was_running) {
                qemu_runtime_set_state(rt, DOMAIN_STATE_PAUSED, "user", DOMAIN_EVENT_NONE, NULL);
                mig_done(j, j->error, j->message);
                return;
        }
        if (!rt->qmp || qmp_send(rt->qmp, "cont", NULL, confirm_cont_reply, j) < 0)
                mig_done(j, j->error, j->message);
}

/* ---- limits of the running domain's migrations (virsh migrate-setspeed, migrate-setmaxdowntime) ---- */

#define UNLIMITED_BANDWIDTH (1ll << 50)

typedef struct LimitsCall {
        DriverRuntime *rt;
        DriverDoneFn done;
        DriverMigrateLimitsFn fn;
        void *userdata;
        int64_t bandwidth;
} LimitsCall;

static void limits_set_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        LimitsCall *l = userdata;

        if (r >= 0 && l->bandwidth >= 0 && l->rt)
                l->rt->mig_bandwidth = (uint64_t) l->bandwidth;
        l->done(l->userdata, r < 0 ? (r == -ECONNRESET ? -ESRCH : -EIO) : 0, r < 0 ? error : NULL);
        free(l);
}

int qemu_migrate_set_limits(DriverRuntime *rt, int64_t bandwidth, int64_t downtime_ms, DriverDoneFn done,
                            void *userdata) {
        JsonValue *params;
        LimitsCall *l;

        if (rt->starting)
                return -EBUSY;
        if (rt->killing || !rt->qmp)
                return -ESRCH;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->rt = rt;
        l->done = done;
        l->userdata = userdata;
        l->bandwidth = bandwidth;
        params = json_object();
        if (bandwidth >= 0)
                json_object_set_new(params, "max-bandwidth", json_integer(bandwidth ? bandwidth : UNLIMITED_BANDWIDTH));
        if (downtime_ms >= 0)
                json_object_set_new(params, "downtime-limit", json_integer(downtime_ms));
        if (qmp_send(rt->qmp, "migrate-set-parameters", params, limits_set_reply, l) < 0) {
                free(l);
                return -ESRCH;
        }
        return 0;
}

static void limits_get_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        LimitsCall *l = userdata;
        uint64_t bw = member_u64(ret, "max-bandwidth"), dt = member_u64(ret, "downtime-limit");

        if (r < 0)
                l->fn(l->userdata, r == -ECONNRESET ? -ESRCH : -EIO, 0, 0, error);
        else
                l->fn(l->userdata, 0, bw >= (uint64_t) UNLIMITED_BANDWIDTH ? 0 : bw, dt, NULL);
        free(l);
}

int qemu_migrate_get_limits(DriverRuntime *rt, DriverMigrateLimitsFn fn, void *userdata) {
        LimitsCall *l;

        if (rt->starting)
                return -EBUSY;
        if (rt->killing || !rt->qmp)
                return -ESRCH;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->fn = fn;
        l->userdata = userdata;
        if (qmp_send(rt->qmp, "query-migrate-parameters", NULL, limits_get_reply, l) < 0) {
                free(l);
                return -ESRCH;
        }
        return 0;
}
