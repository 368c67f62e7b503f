/* qemu-blockjob.c — block jobs on a running disk: commit, pull (stream), copy (mirror) and resize.
 *
 * qemu's node graph is the truth about a disk's chain: its top is the node
 * attached to the disk's device (found by its id, qemu-disk-node.h; named
 * "diskN-…" by qemu-command-storage.c, a hot-plug or a copy — N is no index
 * of the definition any more once an earlier disk was unplugged, so the
 * disk's prefix is read from that node), each layer below it its "backing" child, each layer's protocol
 * node its "file" child (x-debug-query-block-graph). The service opens the
 * files (a commit's base read-write, a copy's destination) as the caller and
 * passes fds; qemu gets them with add-fd, never a path. Progress comes from
 * query-block-jobs, the end from BLOCK_JOB_READY / _COMPLETED / _CANCELLED.
 * qemu removes a finished job itself (auto-dismiss); the format job of a new
 * copy (blockdev-create) is dismissed here.
 *
 * While qemu runs a job, the runtime's status file has it ("blockjob=" and
 * the job as JSON: what it was started with, the nodes it found and added,
 * what was asked of it). A restarted vmgmtd adopts it (block_jobs_adopt()):
 * query-block-jobs says whether it still runs (and whether it got ready
 * meanwhile); one qemu dismissed while nobody listened is concluded from
 * the disk's chain in qemu's graph (the top node tells whether a pivot
 * happened, the layers left whether a commit or pull did its work). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "qemu/qemu-disk-node.h"
#include "qemu/qemu-driver-internal.h"

#define BLOCKJOB_POLL_USEC (500u * 1000u)

typedef struct BlockJob BlockJob;
typedef void (*StepFn)(BlockJob *j, int r, const JsonValue *ret, const char *error);

typedef enum Phase {
        PHASE_PREPARE,          /* nodes and fds being set up */
        PHASE_RUNNING,          /* qemu's job runs */
        PHASE_READY,            /* both images agree: waiting for pivot or abort */
        PHASE_ENDING,           /* job-complete / block-job-cancel sent */
        PHASE_CLEANUP,          /* removing what the job added, done follows */
} Phase;

struct BlockJob {
        DriverJob dj;           /* first */
        DriverRuntime *rt;      /* NULL once the runtime went */
        DriverJobCallbacks cb;
        DriverBlockJobType type;
        size_t disk;
        char dev_id[64];        /* the disk's device in qemu */
        char prefix[32];        /* "diskN-": every node of the disk, read from its top node */
        char job_id[96];
        char create_id[104];    /* blockdev-create's job */
        size_t top, base, n_layers;
        char *base_name;
        uint64_t bandwidth;
        bool pivot, finish, shallow, format_it;
        uint32_t granularity;
        int base_fd, dest_fd;
        int dest_lease_fd;      /* copy: the destination's lease (a dup), until it is in the copy's fd set */
        char *dest_path, *dest_format;
        char **layer_paths;     /* from the service, depth 0… */
        char **layer_formats;

        /* from qemu's graph */
        char **layers;          /* format node names, depth 0… */
        char **storages;        /* their protocol nodes */
        size_t n_graph;
        uint64_t size;          /* copy: the disk's virtual size */
        char target[64], target_storage[64];
        bool target_added, target_storage_added;
        int64_t target_fdset;   /* -1: none */
        char base_storage[64];  /* commit: the base's new protocol node */
        bool base_storage_added;

        size_t drop_from, drop_to;  /* layers whose nodes go after the job */
        Phase phase;
        bool qemu_job;          /* qemu's job exists (until it ended) */
        bool cancel_requested;  /* Cancel: undo */
        bool pivot_requested;   /* job-complete sent */
        bool end_requested;     /* block-job-cancel sent to a ready job: it completes, the disk stays */
        char *owner_data;       /* the service's, kept in the status */
        bool listening;
        bool done_called;
        unsigned n_pending;     /* QMP replies still to come */
        sd_event_source *poll;
        int result;
        char *result_message;
        bool start_sent;        /* the job's command sent, its reply not in yet */
        JsonValue *early;       /* [[name, data]…]: the job's events that came before that reply */
};

typedef struct Send {
        BlockJob *j;
        StepFn fn;
} Send;

static void blockjob_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata);
static void blockjob_gone(DriverRuntime *rt, bool exited, void *userdata);
static void cleanup_next(BlockJob *j);

static QemuListener blockjob_listener(BlockJob *j) {
        return (QemuListener) { .event = blockjob_event, .gone = blockjob_gone, .userdata = j };
}

static void strv_free_n(char **v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

static void blockjob_free(BlockJob *j) {
        sd_event_source_disable_unref(j->poll);
        json_decref(j->early);
        if (j->base_fd >= 0)
                close(j->base_fd);
        if (j->dest_fd >= 0)
                close(j->dest_fd);
        if (j->dest_lease_fd >= 0)
                close(j->dest_lease_fd);
        free(j->base_name);
        free(j->dest_path);
        free(j->dest_format);
        strv_free_n(j->layer_paths, j->n_layers);
        strv_free_n(j->layer_formats, j->n_layers);
        strv_free_n(j->layers, j->n_graph);
        strv_free_n(j->storages, j->n_graph);
        free(j->result_message);
        free(j->owner_data);
        free(j);
}

/* ---- the job in the runtime's status file (a restarted vmgmtd adopts it) ---- */

/* Whether qemu runs the job: it is then kept in the status. */
static bool blockjob_in_status(const BlockJob *j) {
        return j->qemu_job && !j->done_called &&
               (j->phase == PHASE_RUNNING || j->phase == PHASE_READY || j->phase == PHASE_ENDING);
}

static JsonValue *strv_to_json(char **v, size_t n) {
        JsonValue *a = json_array();

        for (size_t i = 0; v && i < n; i++)
                json_array_append_new(a, json_string(strempty(v[i])));
        return a;
}

static char *blockjob_record(const BlockJob *j) {
        _cleanup_json_ JsonValue *o = json_object();

        json_object_set_new(o, "type", json_integer(j->type));
        json_object_set_new(o, "disk", json_integer((json_int_t) j->disk));
        json_object_set_new(o, "job", json_string(j->job_id));
        json_object_set_new(o, "top", json_integer((json_int_t) j->top));
        json_object_set_new(o, "base", json_integer((json_int_t) j->base));
        json_object_set_new(o, "phase", json_string(j->phase == PHASE_READY ? "ready" :
                                                    j->phase == PHASE_ENDING ? "ending" : "running"));
        json_object_set_new(o, "pivot", json_boolean(j->pivot));
        json_object_set_new(o, "finish", json_boolean(j->finish));
        json_object_set_new(o, "shallow", json_boolean(j->shallow));
        json_object_set_new(o, "pivot_requested", json_boolean(j->pivot_requested));
        json_object_set_new(o, "end_requested", json_boolean(j->end_requested));
        json_object_set_new(o, "cancel_requested", json_boolean(j->cancel_requested));
        if (j->dest_path)
                json_object_set_new(o, "dest", json_string(j->dest_path));
        if (j->dest_format)
                json_object_set_new(o, "dest_format", json_string(j->dest_format));
        json_object_set_new(o, "target", json_string(j->target));
        json_object_set_new(o, "target_storage", json_string(j->target_storage));
        json_object_set_new(o, "target_added", json_boolean(j->target_added));
        json_object_set_new(o, "target_storage_added", json_boolean(j->target_storage_added));
        json_object_set_new(o, "target_fdset", json_integer(j->target_fdset));
        json_object_set_new(o, "layers", strv_to_json(j->layers, j->n_graph));
        json_object_set_new(o, "storages", strv_to_json(j->storages, j->n_graph));
        json_object_set_new(o, "paths", strv_to_json(j->layer_paths, j->n_layers));
        json_object_set_new(o, "formats", strv_to_json(j->layer_formats, j->n_layers));
        if (j->owner_data)
                json_object_set_new(o, "owner", json_string(j->owner_data));
        return json_util_format(o, NULL);
}

void qemu_block_jobs_format_status(DriverRuntime *rt, GString *s) {
        for (QemuListener *l = rt->listeners; l; l = l->next) {
                _cleanup_free_ char *rec = NULL;

                if (l->event != blockjob_event || !blockjob_in_status(l->userdata))
                        continue;
                rec = blockjob_record(l->userdata);
                if (rec)
                        g_string_append_printf(s, "blockjob=%s\n", rec);
        }
        for (char **r = rt->blockjob_records; r && *r; r++)
                g_string_append_printf(s, "blockjob=%s\n", *r);
}

static void blockjob_save_status(BlockJob *j) {
        if (j->rt)
                (void) qemu_runtime_save_status(j->rt);
}

/* Freed once done was called and no reply is still to come (or the runtime went: none comes). */
static void blockjob_maybe_free(BlockJob *j) {
        if (j->done_called && (j->n_pending == 0 || !j->rt))
                blockjob_free(j);
}

static void blockjob_done(BlockJob *j, int r, const char *message) {
        DriverJobCallbacks cb = j->cb;

        if (j->done_called)
                return;
        j->done_called = true;
        j->poll = sd_event_source_disable_unref(j->poll);
        if (j->rt && j->listening) {
                QemuListener l = blockjob_listener(j);
                qemu_runtime_remove_listener(j->rt, &l);
                j->listening = false;
        }
        if (j->rt) {
                qemu_runtime_log(j->rt, "block job %s: %s", j->job_id, r < 0 ? strna(message) : "done");
                blockjob_save_status(j);   /* without it */
        }
        if (cb.done)
                cb.done(cb.userdata, r, message);
        blockjob_maybe_free(j);
}

/* Ends the job: what it added is removed first, then done(r, message). */
static void blockjob_end(BlockJob *j, int r, const char *message) {
        if (j->phase == PHASE_CLEANUP)
                return;
        j->phase = PHASE_CLEANUP;
        j->result = r;
        j->result_message = message ? strdup(message) : NULL;
        j->poll = sd_event_source_disable_unref(j->poll);
        cleanup_next(j);
}

static void send_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        Send *s = userdata;
        BlockJob *j = s->j;
        StepFn fn = s->fn;

        free(s);
        j->n_pending--;
        if (j->done_called) {
                blockjob_maybe_free(j);
                return;
        }
        if (fn)
                fn(j, r, ret, error);
}

/* Sends command (with fd when >= 0); fn gets the reply. Returns 0 or a negative errno (fn not called). */
static int blockjob_send(BlockJob *j, const char *command, JsonValue *args, int fd, StepFn fn) {
        Send *s;
        int r;

        if (!j->rt || !j->rt->qmp) {
                json_decref(args);
                return -ESRCH;
        }
        s = malloc(sizeof(*s));
        if (!s) {
                json_decref(args);
                return -ENOMEM;
        }
        *s = (Send) { .j = j, .fn = fn };
        if (fd >= 0)
                r = qmp_send_with_fd(j->rt->qmp, command, args, fd, send_reply, s);
        else
                r = qmp_send(j->rt->qmp, command, args, send_reply, s);
        if (r < 0) {
                free(s);
                return r;
        }
        j->n_pending++;
        return 0;
}

/* Sends, and ends the job when the command cannot be sent. */
static void blockjob_step(BlockJob *j, const char *command, JsonValue *args, int fd, StepFn fn) {
        int r = blockjob_send(j, command, args, fd, fn);

        if (r < 0)
                blockjob_end(j, r == -ENOTCONN ? -ESRCH : r, "cannot talk to qemu's monitor");
}

/* A failed reply ends the job with qemu's words; returns true when it did. */
static bool step_failed(BlockJob *j, int r, const char *error, const char *what) {
        _cleanup_free_ char *msg = NULL;

        if (r >= 0)
                return false;
        msg = g_strdup_printf("%s: %s", what, error ?: strerror(-r));
        blockjob_end(j, r == -ECONNRESET ? -ESRCH : r, msg);
        return true;
}

/* ---- qemu's graph ---- */

typedef struct Graph {
        const JsonValue *nodes, *edges;
} Graph;

static const JsonValue *graph_node(const Graph *g, int64_t id) {
        for (size_t i = 0; i < json_array_size(g->nodes); i++) {
                const JsonValue *n = json_array_get(g->nodes, i);
                int64_t nid;
                if (json_util_integer(json_object_get(n, "id"), &nid) >= 0 && nid == id)
                        return n;
        }
        return NULL;
}

static int64_t graph_node_id(const JsonValue *n) {
        int64_t id = -1;
        (void) json_util_integer(json_object_get(n, "id"), &id);
        return id;
}

/* The child of node `parent` over edge `name`, or NULL. */
static const JsonValue *graph_child(const Graph *g, int64_t parent, const char *name) {
        for (size_t i = 0; i < json_array_size(g->edges); i++) {
                const JsonValue *e = json_array_get(g->edges, i);
                int64_t p, c;
                if (json_util_integer(json_object_get(e, "parent"), &p) < 0 || p != parent ||
                    json_util_integer(json_object_get(e, "child"), &c) < 0 ||
                    !streq_ptr(json_util_member_string(e, "name"), name))
                        continue;
                return graph_node(g, c);
        }
        return NULL;
}

static bool graph_has_name(const Graph *g, const char *name) {
        for (size_t i = 0; i < json_array_size(g->nodes); i++)
                if (streq_ptr(json_util_member_string(json_array_get(g->nodes, i), "name"), name))
                        return true;
        return false;
}

/* The top node of the disk: a node of ours attached to its device's block backend. */
static const JsonValue *graph_top(const Graph *g, const char *dev_id) {
        for (size_t i = 0; i < json_array_size(g->edges); i++) {
                const JsonValue *e = json_array_get(g->edges, i), *p, *c;
                int64_t pid, cid;
                const char *name;

                if (json_util_integer(json_object_get(e, "parent"), &pid) < 0 ||
                    json_util_integer(json_object_get(e, "child"), &cid) < 0)
                        continue;
                p = graph_node(g, pid);
                c = graph_node(g, cid);
                name = json_util_member_string(c, "name");
                if (streq_ptr(json_util_member_string(p, "type"), "block-backend") &&
                    qemu_qdev_is(json_util_member_string(p, "name"), dev_id) && qemu_node_prefix(name, NULL, 0))
                        return c;
        }
        return NULL;
}

/* Fills layers/storages from the graph in ret (x-debug-query-block-graph's reply), and the job's
 * prefix from the disk's top node. */
static int chain_from_graph(const JsonValue *ret, BlockJob *j, char ***ret_layers, char ***ret_storages,
                            size_t *ret_n) {
        Graph g = { json_object_get(ret, "nodes"), json_object_get(ret, "edges") };
        const JsonValue *n = graph_top(&g, j->dev_id);
        char **layers = NULL, **storages = NULL;
        size_t k = 0;

        if (!n || !qemu_node_prefix(json_util_member_string(n, "name"), j->prefix, sizeof(j->prefix)))
                return -ENODEV;
        for (; n && k < 64; k++) {
                const JsonValue *file = graph_child(&g, graph_node_id(n), "file");
                layers = realloc(layers, sizeof(char *) * (k + 1));
                storages = realloc(storages, sizeof(char *) * (k + 1));
                layers[k] = strdup(strempty(json_util_member_string(n, "name")));
                storages[k] = strdup(strempty(json_util_member_string(file, "name")));
                n = graph_child(&g, graph_node_id(n), "backing");
        }
        *ret_layers = layers;
        *ret_storages = storages;
        *ret_n = k;
        return 0;
}

/* ---- the live definition follows the chain ---- */

static void set_disk_source(DriverRuntime *rt, size_t disk, const char *path, const char *format) {
        DomainDiskDef *d;

        if (!rt || disk >= rt->def->n_disks)
                return;
        d = &rt->def->disks[disk];
        free(d->source);
        d->source = strdup(path);
        if (format) {
                free(d->driver_type);
                d->driver_type = strdup(format);
        }
        free(rt->def_xml);
        rt->def_xml = NULL;
        (void) qemu_runtime_save_status(rt);
}

/* Layers from…to-1 of the disk's chain are gone (a commit, a pull): the live <backingStore> follows. */
static void drop_disk_layers(DriverRuntime *rt, size_t disk, size_t from, size_t to) {
        if (!rt || disk >= rt->def->n_disks)
                return;
        (void) domain_disk_backing_drop(&rt->def->disks[disk], from, to);
        free(rt->def_xml);
        rt->def_xml = NULL;
        (void) qemu_runtime_save_status(rt);
}

/* ---- progress ---- */

static void jobs_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        if (r < 0)
                return;
        for (size_t i = 0; i < json_array_size(ret); i++) {
                const JsonValue *e = json_array_get(ret, i);
                int64_t offset, len;

                if (!streq_ptr(json_util_member_string(e, "device"), j->job_id))
                        continue;
                if (json_util_integer(json_object_get(e, "offset"), &offset) >= 0 &&
                    json_util_integer(json_object_get(e, "len"), &len) >= 0 && j->cb.progress && offset >= 0 && len >= 0)
                        j->cb.progress(j->cb.userdata, (uint64_t) offset, (uint64_t) len);
        }
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        BlockJob *j = userdata;

        if (j->phase == PHASE_RUNNING && j->n_pending < 4)
                (void) blockjob_send(j, "query-block-jobs", NULL, -1, jobs_reply);
        (void) sd_event_source_set_time_relative(s, BLOCKJOB_POLL_USEC);
        return 0;
}

/* ---- the end: remove what was added ---- */

static void cleanup_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        if (r < 0 && r != -ECONNRESET)
                log_debug("block job %s: cleanup: %s", j->job_id, strna(error));
        cleanup_next(j);
}

static JsonValue *node_arg(const char *node) {
        JsonValue *a = json_object();
        json_object_set_new(a, "node-name", json_string(node));
        return a;
}

static void cleanup_next(BlockJob *j) {
        int r;

        if (!j->rt || !j->rt->qmp) {
                blockjob_done(j, j->result, j->result_message);
                return;
        }
        if (j->base_storage_added) {
                j->base_storage_added = false;
                r = blockjob_send(j, "blockdev-del", node_arg(j->base_storage), -1, cleanup_reply);
        } else if (j->target_added && !(j->result >= 0 && j->pivot_requested)) {
                j->target_added = false;
                r = blockjob_send(j, "blockdev-del", node_arg(j->target), -1, cleanup_reply);
        } else if (j->target_storage_added && !(j->result >= 0 && j->pivot_requested)) {
                j->target_storage_added = false;
                r = blockjob_send(j, "blockdev-del", node_arg(j->target_storage), -1, cleanup_reply);
        } else if (j->target_fdset >= 0 && !(j->result >= 0 && j->pivot_requested)) {
                JsonValue *a = json_object();
                json_object_set_new(a, "fdset-id", json_integer(j->target_fdset));
                j->target_fdset = -1;
                r = blockjob_send(j, "remove-fd", a, -1, cleanup_reply);
        } else {
                blockjob_done(j, j->result, j->result_message);
                return;
        }
        if (r < 0)
                blockjob_done(j, j->result, j->result_message);
}

/* Layers from…to-1 left the chain: their nodes go, and their fds (qemu's fdset
 * named after the protocol node); one the disk still uses stays: qemu refuses. */
static void drop_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        for (size_t k = j->drop_from; k < j->drop_to && k < j->n_graph; k++) {
                (void) blockjob_send(j, "blockdev-del", node_arg(j->layers[k]), -1, NULL);
                (void) blockjob_send(j, "blockdev-del", node_arg(j->storages[k]), -1, NULL);
                for (size_t i = 0; r >= 0 && i < json_array_size(ret); i++) {
                        const JsonValue *set = json_array_get(ret, i), *fds = json_object_get(set, "fds");
                        int64_t id;

                        if (json_util_integer(json_object_get(set, "fdset-id"), &id) < 0)
                                continue;
                        for (size_t f = 0; f < json_array_size(fds); f++)
                                if (streq_ptr(json_util_member_string(json_array_get(fds, f), "opaque"),
                                              j->storages[k])) {
                                        JsonValue *a = json_object();
                                        json_object_set_new(a, "fdset-id", json_integer(id));
                                        (void) blockjob_send(j, "remove-fd", a, -1, NULL);
                                        break;
                                }
                }
        }
        blockjob_end(j, 0, NULL);
}

static void drop_nodes_and_end(BlockJob *j, size_t from, size_t to) {
        j->drop_from = from;
        j->drop_to = to;
        blockjob_step(j, "query-fdsets", NULL, -1, drop_reply);
}

/* The progress an event's data tells (offset, len). */
static void event_progress(BlockJob *j, const JsonValue *data) {
        int64_t offset, len;

        if (j->cb.progress && json_util_integer(json_object_get(data, "offset"), &offset) >= 0 &&
            json_util_integer(json_object_get(data, "len"), &len) >= 0 && offset >= 0 && len >= 0)
                j->cb.progress(j->cb.userdata, (uint64_t) offset, (uint64_t) len);
}

static void job_ended(BlockJob *j, bool completed, const JsonValue *data) {
        const char *error = json_util_member_string(data, "error");
        _cleanup_free_ char *msg = NULL;

        j->qemu_job = false;
        blockjob_save_status(j);
        if (error) {
                msg = g_strdup_printf("qemu's block job failed: %s", error);
                blockjob_end(j, -EIO, msg);
                return;
        }
        /* cancelled (by Cancel, or an abort before ready); a ready copy or
         * active commit that was aborted completes (the disk stays) */
        if (!completed) {
                blockjob_end(j, -ECANCELED, "cancelled");
                return;
        }
        event_progress(j, data);
        if (j->type == DRIVER_BLOCK_JOB_COPY && j->pivot_requested) {
                /* a shallow copy is backed by the layers below the old top, a full one by nothing */
                if (j->rt && j->disk < j->rt->def->n_disks && !j->shallow)
                        (void) domain_disk_backing_set(&j->rt->def->disks[j->disk], NULL, NULL, 0);
                set_disk_source(j->rt, j->disk, j->dest_path, j->dest_format);
                /* a full copy needs none of the old nodes; a shallow one its backing layers */
                drop_nodes_and_end(j, 0, j->shallow ? 1 : j->n_graph);
        } else if (j->type == DRIVER_BLOCK_JOB_COMMIT && j->top == 0 && j->pivot_requested) {
                drop_disk_layers(j->rt, j->disk, 0, j->base);
                set_disk_source(j->rt, j->disk, j->layer_paths[j->base], j->layer_formats[j->base]);
                drop_nodes_and_end(j, 0, j->base);
        } else if (j->type == DRIVER_BLOCK_JOB_COMMIT && j->top > 0) {
                drop_disk_layers(j->rt, j->disk, j->top, j->base);
                drop_nodes_and_end(j, j->top, j->base);
        } else if (j->type == DRIVER_BLOCK_JOB_PULL) {
                drop_disk_layers(j->rt, j->disk, 1, j->base);
                drop_nodes_and_end(j, 1, j->base);
        } else
                blockjob_end(j, 0, NULL);
}

static void complete_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        if (r >= 0)
                return;
        /* the job was not there to complete (it ended meanwhile): its event says how */
        log_debug("block job %s: %s", j->job_id, strna(error));
        if (j->phase == PHASE_ENDING && j->qemu_job) {
                j->phase = PHASE_READY;
                j->pivot_requested = j->end_requested = false;
                blockjob_save_status(j);
        }
}

static int request_end(BlockJob *j, bool pivot, bool force) {
        JsonValue *a = json_object();
        int r;

        j->phase = PHASE_ENDING;
        if (pivot) {
                j->pivot_requested = true;
                json_object_set_new(a, "id", json_string(j->job_id));
                r = blockjob_send(j, "job-complete", a, -1, complete_reply);
        } else {
                j->end_requested = !force;
                json_object_set_new(a, "device", json_string(j->job_id));
                if (force)
                        json_object_set_new(a, "force", json_true());
                r = blockjob_send(j, "block-job-cancel", a, -1, complete_reply);
        }
        blockjob_save_status(j);
        return r;
}

static void on_ready(BlockJob *j, const JsonValue *data) {
        if (j->phase != PHASE_RUNNING)
                return;
        j->phase = PHASE_READY;
        event_progress(j, data);
        blockjob_save_status(j);
        if (j->cancel_requested)
                (void) request_end(j, false, true);
        else if (j->pivot)
                (void) request_end(j, true, false);
        else if (j->finish)
                (void) request_end(j, false, false);
}

/* ---- events ---- */

static void create_jobs_reply(BlockJob *j, int r, const JsonValue *ret, const char *error);

static void blockjob_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
        BlockJob *j = userdata;
        const char *id;

        if (streq(name, "JOB_STATUS_CHANGE")) {
                id = json_util_member_string(data, "id");
                if (streq_ptr(id, j->create_id) &&
                    streq_ptr(json_util_member_string(data, "status"), "concluded"))
                        blockjob_step(j, "query-jobs", NULL, -1, create_jobs_reply);
                return;
        }
        if (!STR_IN_SET(name, "BLOCK_JOB_READY", "BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED", "BLOCK_JOB_ERROR"))
                return;
        id = json_util_member_string(data, "device");
        if (!streq_ptr(id, j->job_id))
                return;
        if (j->start_sent) {
                /* a job on a small image can be ready or done before qemu answers the command that
                 * started it: its events count once that answer is in */
                JsonValue *e = json_array();
                json_array_append_new(e, json_string(name));
                json_array_append_new(e, json_deep_copy(data));
                if (!j->early)
                        j->early = json_array();
                json_array_append_new(j->early, e);
                return;
        }
        if (streq(name, "BLOCK_JOB_READY"))
                on_ready(j, data);
        else if (streq(name, "BLOCK_JOB_COMPLETED"))
                job_ended(j, true, data);
        else if (streq(name, "BLOCK_JOB_CANCELLED"))
                job_ended(j, false, data);
        else
                qemu_runtime_log(rt, "block job %s: I/O error during %s",
                                 j->job_id, strna(json_util_member_string(data, "operation")));
}

static void blockjob_gone(DriverRuntime *rt, bool exited, void *userdata) {
        BlockJob *j = userdata;

        j->listening = false;   /* removed already */
        if (!exited) {
                /* driver teardown: nothing is called back; qemu goes on with
                 * the job, the status keeps it for the next vmgmtd */
                if (blockjob_in_status(j)) {
                        char *rec = blockjob_record(j);
                        if (rec) {
                                size_t n = rt->blockjob_records ? g_strv_length(rt->blockjob_records) : 0;
                                rt->blockjob_records = g_renew(char *, rt->blockjob_records, n + 2);
                                rt->blockjob_records[n] = rec;
                                rt->blockjob_records[n + 1] = NULL;
                        }
                }
                j->rt = NULL;
                j->done_called = true;
                blockjob_free(j);
                return;
        }
        j->rt = NULL;
        blockjob_done(j, -ESRCH, "the domain stopped");
}

/* ---- starting qemu's job ---- */

static void started_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        JsonValue *early = j->early;

        j->start_sent = false;
        j->early = NULL;
        if (step_failed(j, r, error, "qemu refused the block job")) {
                json_decref(early);
                return;
        }
        j->qemu_job = true;
        j->phase = PHASE_RUNNING;
        blockjob_save_status(j);
        if (j->cancel_requested)
                (void) request_end(j, false, true);
        /* what happened meanwhile, in order; after the job's end j may be gone */
        for (size_t i = 0; i < json_array_size(early) && j->rt; i++) {
                const JsonValue *e = json_array_get(early, i);
                const char *name = json_string_value(json_array_get(e, 0));
                bool end = STR_IN_SET(name, "BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED");

                log_debug("block job %s: %s came before the job's start was answered", j->job_id, name);
                blockjob_event(j->rt, name, json_array_get(e, 1), j);
                if (end)
                        break;
        }
        json_decref(early);
}

static void start_qemu_job(BlockJob *j) {
        JsonValue *a = json_object();
        const char *cmd;

        if (j->cancel_requested) {
                blockjob_end(j, -ECANCELED, "cancelled");
                json_decref(a);
                return;
        }
        json_object_set_new(a, "job-id", json_string(j->job_id));
        json_object_set_new(a, "device", json_string(j->layers[0]));
        if (j->bandwidth > 0)
                json_object_set_new(a, "speed", json_integer((json_int_t) MIN(j->bandwidth, (uint64_t) INT64_MAX)));
        switch (j->type) {
        case DRIVER_BLOCK_JOB_PULL:
                cmd = "block-stream";
                if (j->base < j->n_graph) {
                        json_object_set_new(a, "base-node", json_string(j->layers[j->base]));
                        if (j->base_name)
                                json_object_set_new(a, "backing-file", json_string(j->base_name));
                }
                break;
        case DRIVER_BLOCK_JOB_COMMIT:
                cmd = "block-commit";
                json_object_set_new(a, "top-node", json_string(j->layers[j->top]));
                json_object_set_new(a, "base-node", json_string(j->layers[j->base]));
                /* below the active layer qemu rewrites the header above top: with the name, not /dev/fdset/N */
                if (j->top > 0 && j->base_name)
                        json_object_set_new(a, "backing-file", json_string(j->base_name));
                break;
        default:
                cmd = "blockdev-mirror";
                json_object_set_new(a, "target", json_string(j->target));
                json_object_set_new(a, "sync", json_string(j->shallow ? "top" : "full"));
                if (j->granularity > 0)
                        json_object_set_new(a, "granularity", json_integer(j->granularity));
        }
        j->start_sent = true;
        blockjob_step(j, cmd, a, -1, started_reply);
}

/* commit: the base gets a new protocol node on the read-write fd the service
 * opened (a fdset of its own), and its format node is reopened onto it. The
 * old node's fd stays open in its fdset (qemu 7.2 closes fdset fds only while
 * the guest runs) and keeps that file description's locks, which forbid
 * writers: the new node does without locks. */
static void reopen_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        if (step_failed(j, r, error, "cannot make the base image writable"))
                return;
        j->base_storage_added = false;   /* the base's own now */
        /* the old protocol node is nobody's any more */
        (void) blockjob_send(j, "blockdev-del", node_arg(j->storages[j->base]), -1, NULL);
        free(j->storages[j->base]);
        j->storages[j->base] = strdup(j->base_storage);
        start_qemu_job(j);
}

static void cache_opts(JsonValue *o, const DomainDiskDef *d) {
        if (STR_IN_SET(strempty(d->driver_cache), "none", "directsync", "unsafe")) {
                JsonValue *c = json_object();
                json_object_set_new(c, "direct", json_boolean(!streq(d->driver_cache, "unsafe")));
                json_object_set_new(c, "no-flush", json_boolean(streq(d->driver_cache, "unsafe")));
                json_object_set_new(o, "cache", c);
        }
        if (d->driver_discard)
                json_object_set_new(o, "discard", json_string(d->driver_discard));
}

static void base_storage_added(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        const DomainDiskDef *d = &j->rt->def->disks[j->disk];
        JsonValue *o, *a, *l;

        if (step_failed(j, r, error, "cannot open the base image read-write in qemu"))
                return;
        j->base_storage_added = true;
        o = json_object();
        json_object_set_new(o, "driver", json_string(j->layer_formats[j->base]));
        json_object_set_new(o, "node-name", json_string(j->layers[j->base]));
        json_object_set_new(o, "file", json_string(j->base_storage));
        json_object_set_new(o, "read-only", json_true());   /* block-commit makes it writable */
        if (j->base + 1 < j->n_graph)
                json_object_set_new(o, "backing", json_string(j->layers[j->base + 1]));
        else if (!streq(j->layer_formats[j->base], "raw"))
                json_object_set_new(o, "backing", json_null());
        cache_opts(o, d);
        l = json_array();
        json_array_append_new(l, o);
        a = json_object();
        json_object_set_new(a, "options", l);
        blockjob_step(j, "blockdev-reopen", a, -1, reopen_reply);
}

static void base_fd_added(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        const DomainDiskDef *d = &j->rt->def->disks[j->disk];
        char filename[64];
        int64_t set;
        JsonValue *o;

        if (step_failed(j, r, error, "cannot pass the base image to qemu"))
                return;
        if (json_util_integer(json_object_get(ret, "fdset-id"), &set) < 0) {
                blockjob_end(j, -EIO, "qemu named no fd set for the base image");
                return;
        }
        snprintf(filename, sizeof(filename), "/dev/fdset/%" PRIi64, set);
        o = json_object();
        json_object_set_new(o, "driver", json_string(d->type == DOMAIN_DISK_TYPE_BLOCK ? "host_device" : "file"));
        json_object_set_new(o, "node-name", json_string(j->base_storage));
        json_object_set_new(o, "filename", json_string(filename));
        json_object_set_new(o, "read-only", json_false());
        json_object_set_new(o, "locking", json_string("off"));
        if (d->driver_io)
                json_object_set_new(o, "aio", json_string(d->driver_io));
        cache_opts(o, d);
        blockjob_step(j, "blockdev-add", o, -1, base_storage_added);
}

static void commit_prepare(BlockJob *j) {
        JsonValue *a = json_object();

        json_object_set_new(a, "opaque", json_string(j->base_storage));
        blockjob_step(j, "add-fd", a, j->base_fd, base_fd_added);
}

/* copy: the target's nodes on the destination fd */
static void target_added(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        if (step_failed(j, r, error, "cannot open the copy"))
                return;
        j->target_added = true;
        start_qemu_job(j);
}

static void add_target_format(BlockJob *j) {
        JsonValue *a = json_object();

        json_object_set_new(a, "driver", json_string(j->dest_format));
        json_object_set_new(a, "node-name", json_string(j->target));
        json_object_set_new(a, "file", json_string(j->target_storage));
        json_object_set_new(a, "read-only", json_false());
        if (!streq(j->dest_format, "raw")) {
                if (j->shallow && j->n_graph > 1)
                        json_object_set_new(a, "backing", json_string(j->layers[1]));
                else
                        json_object_set_new(a, "backing", json_null());
        }
        blockjob_step(j, "blockdev-add", a, -1, target_added);
}

static void dismiss_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        if (j->result < 0) {
                blockjob_end(j, j->result, j->result_message);
                return;
        }
        add_target_format(j);
}

static void create_jobs_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        JsonValue *a;
        const char *err = NULL;

        if (step_failed(j, r, error, "cannot ask qemu about the format job"))
                return;
        for (size_t i = 0; i < json_array_size(ret); i++) {
                const JsonValue *e = json_array_get(ret, i);
                if (streq_ptr(json_util_member_string(e, "id"), j->create_id))
                        err = json_util_member_string(e, "error");
        }
        if (err) {
                j->result = -EIO;
                j->result_message = g_strdup_printf("cannot format the copy: %s", err);
        }
        a = json_object();
        json_object_set_new(a, "id", json_string(j->create_id));
        blockjob_step(j, "job-dismiss", a, -1, dismiss_reply);
}

static void create_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        step_failed(j, r, error, "cannot format the copy");
        /* else JOB_STATUS_CHANGE "concluded" follows */
}

static void raw_added(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        if (r >= 0)
                j->target_added = true;
        /* else block_resize fails too and ends the job */
}

static void resize_target_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        if (step_failed(j, r, error, "cannot size the copy"))
                return;
        start_qemu_job(j);
}

static void target_storage_added(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        JsonValue *a, *o;

        if (step_failed(j, r, error, "cannot open the copy"))
                return;
        j->target_storage_added = true;
        if (j->format_it && streq(j->dest_format, "qcow2")) {
                o = json_object();
                json_object_set_new(o, "driver", json_string("qcow2"));
                json_object_set_new(o, "file", json_string(j->target_storage));
                json_object_set_new(o, "size", json_integer((json_int_t) j->size));
                if (j->shallow && j->n_layers > 1) {
                        json_object_set_new(o, "backing-file", json_string(j->layer_paths[1]));
                        json_object_set_new(o, "backing-fmt", json_string(j->layer_formats[1]));
                }
                a = json_object();
                json_object_set_new(a, "job-id", json_string(j->create_id));
                json_object_set_new(a, "options", o);
                blockjob_step(j, "blockdev-create", a, -1, create_reply);
                return;
        }
        if (j->format_it && streq(j->dest_format, "raw")) {
                /* a new raw file is as large as the disk: add its node, then size it */
                a = json_object();
                json_object_set_new(a, "driver", json_string("raw"));
                json_object_set_new(a, "node-name", json_string(j->target));
                json_object_set_new(a, "file", json_string(j->target_storage));
                json_object_set_new(a, "read-only", json_false());
                blockjob_step(j, "blockdev-add", a, -1, raw_added);
                a = json_object();
                json_object_set_new(a, "node-name", json_string(j->target));
                json_object_set_new(a, "size", json_integer((json_int_t) j->size));
                blockjob_step(j, "block_resize", a, -1, resize_target_reply);
                return;
        }
        add_target_format(j);
}

static void dest_lease_added(BlockJob *j, int r, const JsonValue *ret, const char *error);
static void add_target_storage(BlockJob *j);

static void dest_fd_added(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        JsonValue *a;
        int64_t set;

        if (step_failed(j, r, error, "cannot pass the copy to qemu"))
                return;
        if (json_util_integer(json_object_get(ret, "fdset-id"), &set) < 0) {
                blockjob_end(j, -EIO, "qemu named no fd set for the copy");
                return;
        }
        j->target_fdset = set;
        if (j->dest_lease_fd >= 0) {
                /* the copy's lease joins its fd set (write-only: never the fd qemu opens the image with), so it
                 * lives as the copy's node does: it goes with the set when the copy is undone, stays after a pivot */
                char opaque[80];

                snprintf(opaque, sizeof(opaque), "%s-lease", j->target_storage);
                a = json_object();
                json_object_set_new(a, "fdset-id", json_integer(set));
                json_object_set_new(a, "opaque", json_string(opaque));
                blockjob_step(j, "add-fd", a, j->dest_lease_fd, dest_lease_added);
                return;
        }
        add_target_storage(j);
}

static void dest_lease_added(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        if (step_failed(j, r, error, "cannot pass the copy's lease to qemu"))
                return;
        close(j->dest_lease_fd);
        j->dest_lease_fd = -1;
        add_target_storage(j);
}

/* The copy's protocol node, on its fd set. */
static void add_target_storage(BlockJob *j) {
        JsonValue *a;
        char filename[64];

        snprintf(filename, sizeof(filename), "/dev/fdset/%" PRIi64, j->target_fdset);
        a = json_object();
        json_object_set_new(a, "driver", json_string("file"));
        json_object_set_new(a, "node-name", json_string(j->target_storage));
        json_object_set_new(a, "filename", json_string(filename));
        json_object_set_new(a, "read-only", json_false());
        blockjob_step(j, "blockdev-add", a, -1, target_storage_added);
}

static void sizes_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        JsonValue *a;

        if (step_failed(j, r, error, "cannot learn the disk's size"))
                return;
        for (size_t i = 0; i < json_array_size(ret); i++) {
                const JsonValue *n = json_array_get(ret, i);
                int64_t size;
                if (streq_ptr(json_util_member_string(n, "node-name"), j->layers[0]) &&
                    json_util_integer(json_object_get(json_object_get(n, "image"), "virtual-size"), &size) >= 0)
                        j->size = (uint64_t) size;
        }
        if (j->size == 0) {
                blockjob_end(j, -EIO, "qemu did not say how large the disk is");
                return;
        }
        a = json_object();
        json_object_set_new(a, "opaque", json_string(j->target_storage));
        blockjob_step(j, "add-fd", a, j->dest_fd, dest_fd_added);
}

static void graph_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        _cleanup_free_ char *msg = NULL;
        Graph g = { json_object_get(ret, "nodes"), json_object_get(ret, "edges") };

        if (step_failed(j, r, error, "cannot read qemu's block graph"))
                return;
        r = chain_from_graph(ret, j, &j->layers, &j->storages, &j->n_graph);
        if (r < 0) {
                blockjob_end(j, -EINVAL, "qemu has no image for the disk");
                return;
        }
        if (j->n_graph != j->n_layers) {
                msg = g_strdup_printf("the disk's image chain changed: qemu has %zu layers, the files name %zu",
                                      j->n_graph, j->n_layers);
                blockjob_end(j, -EINVAL, msg);
                return;
        }
        if (j->cancel_requested) {
                blockjob_end(j, -ECANCELED, "cancelled");
                return;
        }
        switch (j->type) {
        case DRIVER_BLOCK_JOB_COMMIT:
                for (unsigned n = 1; n < 100000; n++) {
                        snprintf(j->base_storage, sizeof(j->base_storage), "%sbase%u-storage", j->prefix, n);
                        if (!graph_has_name(&g, j->base_storage))
                                break;
                }
                commit_prepare(j);
                break;
        case DRIVER_BLOCK_JOB_COPY:
                for (unsigned n = 1; n < 100000; n++) {
                        snprintf(j->target, sizeof(j->target), "%scopy%u-format", j->prefix, n);
                        snprintf(j->target_storage, sizeof(j->target_storage), "%scopy%u-storage", j->prefix, n);
                        if (!graph_has_name(&g, j->target) && !graph_has_name(&g, j->target_storage))
                                break;
                }
                blockjob_step(j, "query-named-block-nodes", NULL, -1, sizes_reply);
                break;
        default:
                start_qemu_job(j);
        }
}

/* ---- DriverJob ---- */

static void blockjob_cancel(DriverJob *dj) {
        BlockJob *j = (BlockJob *) dj;

        if (j->done_called || j->cancel_requested || j->phase == PHASE_CLEANUP)
                return;
        j->cancel_requested = true;
        if (j->qemu_job && (j->phase == PHASE_RUNNING || j->phase == PHASE_READY || j->phase == PHASE_ENDING))
                (void) request_end(j, false, true);
        /* else the step under way sees it */
}

static BlockJob *find_job(DriverRuntime *rt, size_t disk) {
        for (QemuListener *l = rt->listeners; l; l = l->next)
                if (l->event == blockjob_event && ((BlockJob *) l->userdata)->disk == disk)
                        return l->userdata;
        return NULL;
}

bool qemu_block_job_on_disk(DriverRuntime *rt, size_t disk) {
        return find_job(rt, disk) != NULL;
}

void qemu_block_jobs_disk_removed(DriverRuntime *rt, size_t disk) {
        for (QemuListener *l = rt->listeners; l; l = l->next)
                if (l->event == blockjob_event && ((BlockJob *) l->userdata)->disk > disk)
                        ((BlockJob *) l->userdata)->disk--;
}

static int check_running(DriverRuntime *rt, char **ret_error) {
        if (rt->starting) {
                *ret_error = strdup("the domain is still starting");
                return -EBUSY;
        }
        if (rt->killing || rt->state == DOMAIN_STATE_SHUTOFF || !rt->qmp) {
                *ret_error = strdup("the domain is being stopped");
                return -ESRCH;
        }
        return 0;
}

static char *dup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

int qemu_block_job_start(DriverRuntime *rt, const DriverBlockJob *p, const DriverJobCallbacks *cb, DriverJob **ret,
                         char **ret_error) {
        static const char *const names[] = {
                [DRIVER_BLOCK_JOB_PULL] = "pull", [DRIVER_BLOCK_JOB_COMMIT] = "commit", [DRIVER_BLOCK_JOB_COPY] = "copy",
        };
        QemuListener l;
        BlockJob *j;
        int r;

        r = check_running(rt, ret_error);
        if (r < 0)
                return r;
        if (p->disk >= rt->def->n_disks || !p->chain) {
                *ret_error = strdup("no such disk");
                return -EINVAL;
        }
        if (find_job(rt, p->disk)) {
                *ret_error = g_strdup_printf("a block job runs on disk '%s'", strna(rt->def->disks[p->disk].target_dev));
                return -EBUSY;
        }
        if ((size_t) p->type >= ELEMENTSOF(names) || (p->type == DRIVER_BLOCK_JOB_COMMIT && (p->base_fd < 0 ||
            p->top >= p->base || p->base > p->chain->n_backing)) ||
            (p->type == DRIVER_BLOCK_JOB_PULL && (p->base == 0 || p->base > p->chain->n_backing + 1)) ||
            (p->type == DRIVER_BLOCK_JOB_COPY && (p->dest_fd < 0 || !p->dest_path ||
                                                 !STR_IN_SET(strempty(p->dest_format), "raw", "qcow2")))) {
                *ret_error = strdup("invalid block job parameters");
                return -EINVAL;
        }

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->dj.cancel = blockjob_cancel;
        j->rt = rt;
        j->cb = *cb;
        j->type = p->type;
        j->disk = p->disk;
        j->top = p->top;
        j->base = p->base;
        j->bandwidth = p->bandwidth;
        j->pivot = p->pivot;
        j->finish = p->finish;
        j->shallow = p->shallow;
        j->format_it = p->dest_format_it;
        j->granularity = p->granularity;
        j->base_fd = j->dest_fd = j->dest_lease_fd = -1;
        j->target_fdset = -1;
        j->base_name = dup_or_null(p->base_name);
        j->owner_data = dup_or_null(p->owner_data);
        j->dest_path = dup_or_null(p->dest_path);
        j->dest_format = dup_or_null(p->dest_format);
        j->n_layers = 1 + p->chain->n_backing;
        j->layer_paths = calloc(j->n_layers, sizeof(char *));
        j->layer_formats = calloc(j->n_layers, sizeof(char *));
        if (!j->layer_paths || !j->layer_formats) {
                blockjob_free(j);
                return -ENOMEM;
        }
        j->layer_paths[0] = strdup(rt->def->disks[p->disk].source ?: p->chain->path);
        j->layer_formats[0] = strdup(p->chain->format ?: "raw");
        for (size_t k = 1; k < j->n_layers; k++) {
                j->layer_paths[k] = strdup(p->chain->backing[k - 1].path);
                j->layer_formats[k] = strdup(p->chain->backing[k - 1].format ?: "raw");
        }
        if (p->type == DRIVER_BLOCK_JOB_COMMIT && (j->base_fd = fcntl(p->base_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
                r = -errno;
                blockjob_free(j);
                return r;
        }
        if (p->type == DRIVER_BLOCK_JOB_COPY && (j->dest_fd = fcntl(p->dest_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
                r = -errno;
                blockjob_free(j);
                return r;
        }
        if (p->type == DRIVER_BLOCK_JOB_COPY && p->dest_lease_fd >= 0 &&
            (j->dest_lease_fd = fcntl(p->dest_lease_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
                r = -errno;
                blockjob_free(j);
                return r;
        }
        if (qemu_disk_device_id(&rt->def->disks[p->disk], p->disk, j->dev_id, sizeof(j->dev_id), true) < 0) {
                blockjob_free(j);
                return -EOPNOTSUPP;
        }
        snprintf(j->job_id, sizeof(j->job_id), "vmgmt-%s-%s", names[p->type], j->dev_id);   /* one per device */
        snprintf(j->create_id, sizeof(j->create_id), "%s-create", j->job_id);

        l = blockjob_listener(j);
        r = qemu_runtime_add_listener(rt, &l);
        if (r < 0) {
                blockjob_free(j);
                return r;
        }
        j->listening = true;
        r = blockjob_send(j, "x-debug-query-block-graph", NULL, -1, graph_reply);
        if (r < 0) {
                qemu_runtime_remove_listener(rt, &l);
                blockjob_free(j);
                *ret_error = strdup("cannot talk to qemu's monitor");
                return r == -ENOTCONN ? -ESRCH : r;
        }
        (void) sd_event_add_time_relative(rt->driver->event, &j->poll, CLOCK_MONOTONIC, BLOCKJOB_POLL_USEC, 0, on_poll,
                                          j);
        qemu_runtime_log(rt, "block job %s started", j->job_id);
        *ret = &j->dj;
        return 0;
}

int qemu_block_job_abort(DriverRuntime *rt, unsigned disk, bool pivot, char **ret_error) {
        BlockJob *j = find_job(rt, disk);
        int r;

        if (!j || j->done_called || j->phase == PHASE_CLEANUP) {
                *ret_error = strdup("no block job runs on the disk");
                return -ENOENT;
        }
        if (pivot && j->phase != PHASE_READY) {
                *ret_error = strdup(j->type == DRIVER_BLOCK_JOB_COPY || j->top == 0
                                            ? "the block job is not ready yet: both images do not agree yet"
                                            : "only a copy or a commit of the active layer can pivot");
                return -EAGAIN;
        }
        if (!j->qemu_job) {
                blockjob_cancel(&j->dj);
                return 0;
        }
        r = request_end(j, pivot, false);
        if (r < 0)
                *ret_error = strdup("cannot talk to qemu's monitor");
        return r;
}

/* ---- adoption by a restarted vmgmtd ---- */

static bool chain_has(char **chain, size_t n, const char *node) {
        for (size_t i = 0; i < n; i++)
                if (streq_ptr(chain[i], node))
                        return true;
        return false;
}

/* qemu no longer has the job (it dismissed itself while nobody listened): the
 * disk's chain now tells how it ended, and it is concluded as its event would have. */
static void adopt_graph_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        char **now = NULL, **now_storages = NULL;
        size_t n_now = 0;
        bool done, switched = false;

        if (step_failed(j, r, error, "cannot read qemu's block graph"))
                return;
        if (!j->qemu_job || j->phase == PHASE_CLEANUP)
                return;   /* its event came meanwhile */
        if (chain_from_graph(ret, j, &now, &now_storages, &n_now) < 0) {
                j->qemu_job = false;
                blockjob_end(j, -EIO, "qemu has no image for the disk any more");
                return;
        }
        switch (j->type) {
        case DRIVER_BLOCK_JOB_COPY:
                switched = n_now > 0 && streq(now[0], j->target);
                done = switched || j->end_requested || j->finish;
                break;
        case DRIVER_BLOCK_JOB_COMMIT:
                if (j->top == 0) {
                        switched = j->base < j->n_graph && n_now > 0 && streq(now[0], j->layers[j->base]);
                        done = switched || j->end_requested;
                } else
                        done = j->top < j->n_graph && !chain_has(now, n_now, j->layers[j->top]);
                break;
        default:
                done = j->base <= 1 || j->n_graph < 2 || !chain_has(now, n_now, j->layers[1]);
        }
        strv_free_n(now, n_now);
        strv_free_n(now_storages, n_now);
        qemu_runtime_log(j->rt, "block job %s ended while vmgmtd was not running%s", j->job_id,
                         switched ? " (the disk was switched)" : "");
        j->pivot_requested = switched;
        if (done) {
                job_ended(j, true, NULL);
                return;
        }
        if (j->cancel_requested) {
                job_ended(j, false, NULL);
                return;
        }
        j->qemu_job = false;
        blockjob_save_status(j);
        blockjob_end(j, -EIO, "qemu's block job ended while vmgmtd was not running, without completing");
}

static void resend_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        if (r < 0)
                log_debug("block job %s: asked again: %s", j->job_id, strna(error));
}

static void resend_end(BlockJob *j) {
        JsonValue *a = json_object();

        if (j->pivot_requested) {
                json_object_set_new(a, "id", json_string(j->job_id));
                (void) blockjob_send(j, "job-complete", a, -1, resend_reply);
                return;
        }
        json_object_set_new(a, "device", json_string(j->job_id));
        if (j->cancel_requested)
                json_object_set_new(a, "force", json_true());
        (void) blockjob_send(j, "block-job-cancel", a, -1, resend_reply);
}

static void adopt_jobs_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        if (step_failed(j, r, error, "cannot ask qemu about its block jobs"))
                return;
        if (!j->qemu_job || j->phase == PHASE_CLEANUP)
                return;   /* its end came meanwhile */
        for (size_t i = 0; i < json_array_size(ret); i++) {
                const JsonValue *e = json_array_get(ret, i);
                bool ready = false;

                if (!streq_ptr(json_util_member_string(e, "device"), j->job_id))
                        continue;
                event_progress(j, e);
                (void) json_util_boolean(json_object_get(e, "ready"), &ready);
                /* ready while nobody listened: as BLOCK_JOB_READY */
                if (ready && j->phase == PHASE_RUNNING)
                        on_ready(j, e);
                /* the end was asked for and the job still waits: the request
                 * may not have reached qemu before vmgmtd went; asked again
                 * (a second one of a job already ending fails harmlessly) */
                else if (ready && j->phase == PHASE_ENDING &&
                         streq_ptr(json_util_member_string(e, "status"), "ready"))
                        resend_end(j);
                return;
        }
        blockjob_step(j, "x-debug-query-block-graph", NULL, -1, adopt_graph_reply);
}

static int adopt_unreachable(sd_event_source *s, uint64_t usec, void *userdata) {
        BlockJob *j = userdata;

        j->poll = sd_event_source_disable_unref(j->poll);
        blockjob_end(j, -ESRCH, "cannot talk to qemu's monitor");
        return 0;
}

static size_t json_size(const JsonValue *v) {
        int64_t n = 0;
        return json_util_integer(v, &n) >= 0 && n >= 0 ? (size_t) n : 0;
}

static char **json_to_strv(const JsonValue *a, size_t *ret_n) {
        size_t n = json_array_size(a);
        char **v = calloc(n + 1, sizeof(char *));

        for (size_t i = 0; v && i < n; i++)
                v[i] = strdup(strempty(json_string_value(json_array_get(a, i))));
        *ret_n = v ? n : 0;
        return v;
}

static bool json_flag(const JsonValue *o, const char *key) {
        bool b = false;
        (void) json_util_boolean(json_object_get(o, key), &b);
        return b;
}

static BlockJob *blockjob_from_record(DriverRuntime *rt, const char *rec) {
        _cleanup_json_ JsonValue *o = NULL;
        const char *job, *phase;
        size_t n_storages = 0, n_formats = 0;
        int64_t type = -1, fdset = -1;
        BlockJob *j;

        if (json_util_parse(rec, strlen(rec), &o, NULL) < 0 || !json_is_object(o))
                return NULL;
        job = json_util_member_string(o, "job");
        phase = strempty(json_util_member_string(o, "phase"));
        if (json_util_integer(json_object_get(o, "type"), &type) < 0 || type < DRIVER_BLOCK_JOB_PULL ||
            type > DRIVER_BLOCK_JOB_COPY || !job || strlen(job) >= sizeof(j->job_id))
                return NULL;
        j = calloc(1, sizeof(*j));
        if (!j)
                return NULL;
        j->dj.cancel = blockjob_cancel;
        j->rt = rt;
        j->type = (DriverBlockJobType) type;
        j->disk = json_size(json_object_get(o, "disk"));
        j->top = json_size(json_object_get(o, "top"));
        j->base = json_size(json_object_get(o, "base"));
        j->pivot = json_flag(o, "pivot");
        j->finish = json_flag(o, "finish");
        j->shallow = json_flag(o, "shallow");
        j->pivot_requested = json_flag(o, "pivot_requested");
        j->end_requested = json_flag(o, "end_requested");
        j->cancel_requested = json_flag(o, "cancel_requested");
        j->phase = streq(phase, "ready") ? PHASE_READY : streq(phase, "ending") ? PHASE_ENDING : PHASE_RUNNING;
        j->qemu_job = true;
        j->base_fd = j->dest_fd = j->dest_lease_fd = -1;
        j->dest_path = dup_or_null(json_util_member_string(o, "dest"));
        j->dest_format = dup_or_null(json_util_member_string(o, "dest_format"));
        j->owner_data = dup_or_null(json_util_member_string(o, "owner"));
        snprintf(j->target, sizeof(j->target), "%s", strempty(json_util_member_string(o, "target")));
        snprintf(j->target_storage, sizeof(j->target_storage), "%s",
                 strempty(json_util_member_string(o, "target_storage")));
        j->target_added = json_flag(o, "target_added");
        j->target_storage_added = json_flag(o, "target_storage_added");
        (void) json_util_integer(json_object_get(o, "target_fdset"), &fdset);
        j->target_fdset = fdset;
        j->layers = json_to_strv(json_object_get(o, "layers"), &j->n_graph);
        j->storages = json_to_strv(json_object_get(o, "storages"), &n_storages);
        j->layer_paths = json_to_strv(json_object_get(o, "paths"), &j->n_layers);
        j->layer_formats = json_to_strv(json_object_get(o, "formats"), &n_formats);
        if (j->disk < rt->def->n_disks)
                (void) qemu_disk_device_id(&rt->def->disks[j->disk], j->disk, j->dev_id, sizeof(j->dev_id), true);
        snprintf(j->job_id, sizeof(j->job_id), "%s", job);
        snprintf(j->create_id, sizeof(j->create_id), "%s-create", j->job_id);
        if (!j->layers || !j->storages || !j->layer_paths || !j->layer_formats || n_storages != j->n_graph ||
            n_formats != j->n_layers || j->disk >= rt->def->n_disks || j->base > j->n_layers ||
            (j->type == DRIVER_BLOCK_JOB_COMMIT && (j->base >= j->n_graph || j->top >= j->base))) {
                /* the n_* counts free what was allocated */
                if (j->storages && n_storages != j->n_graph) {
                        strv_free_n(j->storages, n_storages);
                        j->storages = NULL;
                }
                if (j->layer_formats && n_formats != j->n_layers) {
                        strv_free_n(j->layer_formats, n_formats);
                        j->layer_formats = NULL;
                }
                blockjob_free(j);
                return NULL;
        }
        return j;
}

int qemu_block_jobs_adopt(DriverRuntime *rt, DriverBlockJobAdoptFn fn, void *userdata) {
        char **records = TAKE_PTR(rt->blockjob_records);
        int n = 0;

        for (char **rec = records; rec && *rec; rec++) {
                BlockJob *j = blockjob_from_record(rt, *rec);
                DriverBlockJobInfo info;
                QemuListener l;

                if (!j) {
                        log_warning("Domain %s: ignoring a block job record vmgmtd cannot read", rt->def->name);
                        continue;
                }
                if (find_job(rt, j->disk)) {
                        blockjob_free(j);
                        continue;
                }
                l = blockjob_listener(j);
                if (qemu_runtime_add_listener(rt, &l) < 0) {
                        blockjob_free(j);
                        continue;
                }
                j->listening = true;
                info = (DriverBlockJobInfo) {
                        .type = j->type, .disk = j->disk, .top = j->top, .base = j->base, .pivot = j->pivot,
                        .finish = j->finish, .dest_path = j->dest_path, .dest_format = j->dest_format,
                        .owner_data = j->owner_data,
                };
                if (fn)
                        fn(userdata, &j->dj, &info, &j->cb);
                qemu_runtime_log(rt, "block job %s adopted after a vmgmtd restart", j->job_id);
                if (blockjob_send(j, "query-block-jobs", NULL, -1, adopt_jobs_reply) < 0)
                        (void) sd_event_add_time_relative(rt->driver->event, &j->poll, CLOCK_MONOTONIC, 0, 0,
                                                          adopt_unreachable, j);
                else
                        (void) sd_event_add_time_relative(rt->driver->event, &j->poll, CLOCK_MONOTONIC,
                                                          BLOCKJOB_POLL_USEC, 0, on_poll, j);
                n++;
        }
        g_strfreev(records);
        return n;
}

/* ---- resize ---- */

typedef struct Resize {
        BlockJob j;             /* only for sending */
        uint64_t size;
        DriverDoneFn done;
        void *userdata;
} Resize;

static void resize_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
}

static void resize_gone(DriverRuntime *rt, bool exited, void *userdata);

static QemuListener resize_listener(BlockJob *j) {
        return (QemuListener) { .event = resize_event, .gone = resize_gone, .userdata = j };
}

static void resize_finish(BlockJob *j, int r, const char *message) {
        Resize *z = (Resize *) j;

        if (j->done_called)
                return;
        j->done_called = true;
        if (j->rt && j->listening) {
                QemuListener l = resize_listener(j);
                qemu_runtime_remove_listener(j->rt, &l);
                j->listening = false;
        }
        z->done(z->userdata, r, message);
        blockjob_maybe_free(j);
}

/* The process went before qemu answered: done with -ESRCH (teardown: nothing is called). */
static void resize_gone(DriverRuntime *rt, bool exited, void *userdata) {
        BlockJob *j = userdata;

        j->listening = false;
        j->rt = NULL;
        if (!exited) {
                j->done_called = true;
                blockjob_free(j);
                return;
        }
        resize_finish(j, -ESRCH, "the domain stopped");
}

static void resize_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        _cleanup_free_ char *msg = NULL;

        if (r < 0) {
                msg = g_strdup_printf("qemu cannot resize the disk: %s", error ?: strerror(-r));
                resize_finish(j, r == -ECONNRESET ? -ESRCH : r, msg);
                return;
        }
        resize_finish(j, 0, NULL);
}

static void resize_graph_reply(BlockJob *j, int r, const JsonValue *ret, const char *error) {
        Resize *z = (Resize *) j;
        JsonValue *a;

        if (r < 0) {
                resize_finish(j, r == -ECONNRESET ? -ESRCH : r, error ?: "cannot read qemu's block graph");
                return;
        }
        if (chain_from_graph(ret, j, &j->layers, &j->storages, &j->n_graph) < 0) {
                resize_finish(j, -EINVAL, "qemu has no image for the disk");
                return;
        }
        a = json_object();
        json_object_set_new(a, "node-name", json_string(j->layers[0]));
        json_object_set_new(a, "size", json_integer((json_int_t) MIN(z->size, (uint64_t) INT64_MAX)));
        r = blockjob_send(j, "block_resize", a, -1, resize_reply);
        if (r < 0)
                resize_finish(j, -ESRCH, "cannot talk to qemu's monitor");
}

int qemu_block_resize(DriverRuntime *rt, unsigned disk, uint64_t size, DriverDoneFn done, void *userdata) {
        _cleanup_free_ char *err = NULL;
        QemuListener l;
        Resize *z;
        int r;

        r = check_running(rt, &err);
        if (r < 0)
                return r;
        if (disk >= rt->def->n_disks || !rt->def->disks[disk].source)
                return -EINVAL;
        if (find_job(rt, disk))
                return -EBUSY;   /* the graph has the job's nodes */
        z = calloc(1, sizeof(*z));
        if (!z)
                return -ENOMEM;
        z->j.rt = rt;
        z->j.base_fd = z->j.dest_fd = z->j.dest_lease_fd = -1;
        z->size = size;
        z->done = done;
        z->userdata = userdata;
        if (qemu_disk_device_id(&rt->def->disks[disk], disk, z->j.dev_id, sizeof(z->j.dev_id), true) < 0) {
                free(z);
                return -EOPNOTSUPP;
        }
        l = resize_listener(&z->j);
        r = qemu_runtime_add_listener(rt, &l);
        if (r < 0) {
                free(z);
                return r;
        }
        z->j.listening = true;
        r = blockjob_send(&z->j, "x-debug-query-block-graph", NULL, -1, resize_graph_reply);
        if (r < 0) {
                qemu_runtime_remove_listener(rt, &l);
                free(z);
                return r == -ENOTCONN ? -ESRCH : r;
        }
        return 0;
}
