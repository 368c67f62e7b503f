/* domain-clone.c — Domain.Clone (virt-clone's job): a new persistent domain with a new UUID and MACs whose
 * writable disks are copies of the original's (the storage driver's image tool: convert, sparse, progress on the Job) or qcow2
 * overlays backed by them (linked), or files the caller names as they are (preserve_data). The sources are
 * opened and the copies created with the caller's rights (domain-files.h: judged by the path policy, created
 * at a temporary name), the image tool works on those fds as a child of the loop — or, for a running original
 * (option live), its hypervisor copies every disk at one instant into them (domain-clone-live.h) — and the copies
 * appear under their names only when every one is complete: a cancel or a failure removes them and defines nothing. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "conf/conf-internal.h"
#include "domain-clone-live.h"
#include "domain-files.h"
#include "domain-nvram.h"
#include "domain.h"
#include "log.h"
#include "object-kind.h"
#include "pool.h"
#include "spawn-util.h"
#include "domain-clone.h"

/* One disk of the new definition that gets a file of its own. */
typedef struct CloneDisk {
        size_t disk;               /* index in the new definition's disks */
        char *target;              /* its target dev, for messages */
        char *src_path, *src_format;
        char *dst_path, *dst_format;
        char *pool;                /* a type='volume' disk: the pool the copy is a volume of */
        size_t req_src, req_dst;   /* requests (req_src unused with preserve_data) */
        uint64_t size;             /* virtual size of the source */
} CloneDisk;

typedef struct CloneOp {
        DriverJob base;            /* what the Job's Cancel reaches */
        Manager *manager;
        VmDomain *domain;          /* the original (a reference) */
        VmDomain *clone;           /* the new one once defined (a reference) */
        sd_bus_message *message;   /* the Clone call (its sender's credentials) */
        DomainDef *def;            /* the new definition until defined */
        CloneDisk *disks;
        size_t n_disks;
        OpenFileRequest *reqs;
        size_t n_reqs;
        bool linked, preserve, start, force_share;
        bool live;                 /* option live: a running original is copied by its hypervisor */
        bool live_copy;            /* … and it is active: live_job makes the copies */
        uint64_t bandwidth;        /* bytes per second for each copy, 0: no limit */
        DriverJob *live_job;
        VmDomainFilesJob *open;
        VmCallerFiles *files;
        VmDomainJob *dj;
        DriverJobCallbacks cb;
        char *img_tool;                 /* the storage driver's image tool (absolute) */
        char *img_name;                 /* its name, for messages */

        size_t next;               /* the disk being copied; then the request being finished */
        pid_t pid;
        int pidfd, outfd, errfd;
        sd_event_source *exit_source, *out_source;
        char outbuf[64];
        size_t outlen;
        uint64_t done_bytes, total_bytes;
        bool cancelled, copying;
        int result;
        char *result_message;
} CloneOp;

static void clone_child_stop(CloneOp *op) {
        op->out_source = sd_event_source_disable_unref(op->out_source);
        op->exit_source = sd_event_source_disable_unref(op->exit_source);
        if (op->pid > 0 || op->pidfd >= 0)
                spawn_kill_reap(op->manager->event, op->pid, op->pidfd);
        op->pid = 0;
        op->pidfd = -1;
        if (op->outfd >= 0)
                close(op->outfd);
        op->outfd = -1;
}

static void clone_op_free(void *p) {
        CloneOp *op = p;

        if (!op)
                return;
        clone_child_stop(op);
        if (op->errfd >= 0)
                close(op->errfd);
        vm_domain_files_job_cancel(op->open);
        if (op->files)
                vm_caller_files_discard(op->manager, op->files);
        for (size_t i = 0; i < op->n_disks; i++) {
                CloneDisk *c = &op->disks[i];
                g_free(c->target);
                g_free(c->src_path);
                g_free(c->src_format);
                g_free(c->dst_path);
                g_free(c->dst_format);
                g_free(c->pool);
        }
        g_free(op->disks);
        g_free(op->reqs);
        domain_def_free(op->def);
        vm_domain_unref(op->clone);
        vm_domain_unref(op->domain);
        sd_bus_message_unref(op->message);
        free(op->img_tool);
        g_free(op->img_name);
        g_free(op->result_message);
        g_free(op);
}

/* The end of the Job; op is freed by it (the domain job's userdata). */
static void clone_finish(CloneOp *op, int r, const char *message) {
        g_autofree char *m = g_strdup(message);

        op->cb.done(op->cb.userdata, r, m);
}

/* ---- cleanup of a cancelled or failed clone: every copy made goes, as the caller ---- */

static void clone_unlink_next(CloneOp *op);

static void clone_unlinked(void *userdata, int r, const char *message) {
        CloneOp *op = userdata;

        if (r < 0)
                log_warning("Clone of domain '%s': %s", op->domain->name, strna(message));
        op->next++;
        clone_unlink_next(op);
}

static void clone_unlink_next(CloneOp *op) {
        for (; op->files && op->next < op->n_reqs; op->next++) {
                size_t n = 0;
                const OpenedFile *o = open_files_for_request(op->files->files, op->next, &n);

                if (!o || n != 1 || !op->files->created[o - op->files->files->files])
                        continue;
                if (vm_caller_file_finish(op->manager, op->files, op->next, OPEN_FILE_FINISH_UNLINK, clone_unlinked,
                                          op, NULL) >= 0)
                        return;
                log_warning("Clone of domain '%s': cannot remove %s", op->domain->name, strna(o->resolved));
        }
        clone_finish(op, op->result, op->result_message);
}

static void clone_fail(CloneOp *op, int r, const char *message) {
        clone_child_stop(op);
        op->result = r;
        g_free(op->result_message);
        op->result_message = g_strdup(message);
        op->next = 0;
        clone_unlink_next(op);
}

/* ---- defining (and starting) the new domain ---- */

static void clone_started(void *userdata, int r, const char *message) {
        CloneOp *op = userdata;
        g_autofree char *m = NULL;

        vm_domain_clear_cause(op->clone);
        if (r < 0)
                m = g_strdup_printf("Domain '%s' was defined, but starting it failed: %s", op->clone->name,
                                    message ?: strerror(-r));
        clone_finish(op, r, m);
}

static void clone_define(CloneOp *op) {
        Manager *m = op->manager;
        _cleanup_free_ char *file = NULL, *msg = NULL;
        char uuid[37];
        VmDomain *d;
        int r;

        conf_uuid_format(op->def->uuid, uuid);
        if (vm_domain_store_pending(m, op->def->name, uuid))
                vm_domain_store_flush(m);
        if (vm_domain_find_by_name(m, op->def->name) || vm_domain_find_by_uuid(m, uuid)) {
                /* defined meanwhile: the copies (already in place) stay, named in the message */
                GString *g = g_string_new(NULL);

                g_string_printf(g, "Domain '%s' was defined while the disks were copied", op->def->name);
                for (size_t i = 0; !op->preserve && i < op->n_disks; i++)
                        g_string_append_printf(g, "%s%s", i == 0 ? "; the copies stay: " : ", ", op->disks[i].dst_path);
                clone_finish(op, -EEXIST, g->str);
                g_string_free(g, TRUE);
                return;
        }
        r = vm_domain_tpm_state_copy(op->domain, op->def, &msg);   /* domain-tpm.c */
        if (r >= 0 && (r = vm_domain_store_write(m, op->def, 1, &file)) < 0)
                vm_domain_tpm_state_discard(op->domain, op->def);
        if (r < 0 && msg) {
                clone_finish(op, r, msg);
                return;
        }
        if (r < 0) {
                g_autofree char *s = g_strdup_printf("Failed to save domain '%s': %s", op->def->name, strerror(-r));
                clone_finish(op, r, s);
                return;
        }
        r = vm_domain_new(m, TAKE_PTR(op->def), true, &d);
        if (r < 0) {
                (void) vm_domain_store_remove(m, file);
                clone_finish(op, r, "cannot add the new domain");
                return;
        }
        d->config_file = g_strdup(file);
        d->generation = 1;
        op->clone = vm_domain_ref(d);
        vm_domain_set_cause(d, op->message);
        vm_object_kind_emit_added(&vm_domain_kind, m, d->path);
        vm_domain_emit_event(d, "defined", "added");
        vm_domain_clear_cause(d);
        log_info("Domain '%s' cloned to '%s'", op->domain->name, d->name);
        if (!op->start) {
                clone_finish(op, 0, NULL);
                return;
        }
        vm_domain_set_cause(d, op->message);
        r = vm_domain_start(d, op->message, 0, clone_started, op, &msg);
        if (r < 0)
                clone_started(op, r, msg);
}

/* ---- the copies appear under their names ---- */

static void clone_nvram_copied(void *userdata, int r, const char *message) {
        if (r < 0)
                clone_fail(userdata, r, message);
        else
                clone_define(userdata);
}

static void clone_refresh_done(void *userdata, int r, const char *message) {
        CloneOp *op = userdata;

        if (r < 0)
                log_warning("Clone of domain '%s': cannot refresh a pool: %s", op->domain->name, strna(message));
        op->next++;
        /* one refresh per pool named */
        for (; op->next < op->n_disks; op->next++) {
                CloneDisk *c = &op->disks[op->next];
                VmPool *p = c->pool ? vm_pool_find(op->manager->storage, c->pool) : NULL;
                bool seen = false;

                for (size_t k = 0; k < op->next && !seen; k++)
                        seen = streq_ptr(op->disks[k].pool, c->pool);
                if (!p || seen || !vm_pool_is_active(p))
                        continue;
                if (storage_pool_refresh(p->sp, clone_refresh_done, op) >= 0)
                        return;
        }
        vm_domain_nvram_clone(op->domain, op->def, op->message, clone_nvram_copied, op);
}

static void clone_rename_next(CloneOp *op);

static void clone_renamed(void *userdata, int r, const char *message) {
        CloneOp *op = userdata;

        if (r < 0) {
                /* the ones renamed before stay where they are: say so */
                g_autofree char *s = g_strdup_printf("%s (copies already in place stay)", strna(message));
                clone_fail(op, r, s);
                return;
        }
        op->next++;
        clone_rename_next(op);
}

static void clone_rename_next(CloneOp *op) {
        for (; op->next < op->n_reqs; op->next++) {
                size_t n = 0;
                const OpenedFile *o = open_files_for_request(op->files->files, op->next, &n);
                int r;

                if (!o || n != 1 || !op->files->created[o - op->files->files->files])
                        continue;
                r = vm_caller_file_finish(op->manager, op->files, op->next, OPEN_FILE_FINISH_RENAME, clone_renamed, op,
                                          NULL);
                if (r < 0) {
                        clone_fail(op, r, "cannot put a copy in place");
                        return;
                }
                return;
        }
        /* pools that got volumes learn about them before the definition names them */
        op->next = (size_t) -1;
        clone_refresh_done(op, 0, NULL);
}

/* ---- the image tool on the fds ---- */

static char *read_memfd(int fd) {
        struct stat st;
        char *s;
        ssize_t n;

        if (fd < 0 || fstat(fd, &st) < 0)
                return NULL;
        if (st.st_size > 4096)
                st.st_size = 4096;
        s = g_malloc0(st.st_size + 1);
        n = pread(fd, s, st.st_size, 0);
        if (n < 0)
                n = 0;
        s[n] = 0;
        g_strstrip(s);
        return s;
}

static void clone_progress(CloneOp *op, double pct) {
        uint64_t size = op->disks[op->next].size;
        uint64_t part = pct <= 0 ? 0 : pct >= 100 ? size : (uint64_t) ((double) size * pct / 100.0);

        op->cb.progress(op->cb.userdata, op->done_bytes + part, op->total_bytes);
}

/* the image tool's -p writes "    (12.34/100%)\r" */
static int on_clone_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CloneOp *op = userdata;
        char buf[256];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n <= 0) {
                if (n == 0 || (errno != EAGAIN && errno != EINTR))
                        op->out_source = sd_event_source_disable_unref(op->out_source);
                return 0;
        }
        for (ssize_t i = 0; i < n; i++) {
                if (buf[i] == '\r' || buf[i] == '\n') {
                        double pct;

                        op->outbuf[op->outlen] = 0;
                        if (sscanf(op->outbuf, " (%lf/100%%)", &pct) == 1)
                                clone_progress(op, pct);
                        op->outlen = 0;
                } else if (op->outlen + 1 < sizeof(op->outbuf))
                        op->outbuf[op->outlen++] = buf[i];
        }
        return 0;
}

static void clone_copy_next(CloneOp *op);

static int on_clone_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CloneOp *op = userdata;
        siginfo_t si = {};
        CloneDisk *c = &op->disks[op->next];

        if (waitid((idtype_t) P_PIDFD, (id_t) op->pidfd, &si, WEXITED | WNOHANG) < 0) {
                if (errno == EINTR)
                        return 0;
                si.si_code = CLD_KILLED;
        } else if (si.si_pid == 0)
                return 0;
        op->exit_source = sd_event_source_disable_unref(op->exit_source);
        close(op->pidfd);
        op->pidfd = -1;
        op->pid = 0;
        clone_child_stop(op);
        if (op->cancelled) {
                clone_fail(op, -ECANCELED, "cancelled; no copy is left and nothing was defined");
                return 0;
        }
        if (si.si_code != CLD_EXITED || si.si_status != 0) {
                g_autofree char *err = read_memfd(op->errfd);
                g_autofree char *m = g_strdup_printf("%s %s of disk %s (%s) to %s failed: %s", op->img_name,
                                                     op->linked ? "create" : "convert", c->target, c->src_path,
                                                     c->dst_path, !isempty(err) ? err : "it was killed");
                clone_fail(op, strstr(strempty(err), "No space left") ? -ENOSPC : -EIO, m);
                return 0;
        }
        op->done_bytes += c->size;
        op->cb.progress(op->cb.userdata, op->done_bytes, op->total_bytes);
        op->next++;
        clone_copy_next(op);
        return 0;
}

/* json: of the source's chain, the top at fd 4 and each backing layer at 5, … */
static char *source_json(const OpenedFile *l, size_t n) {
        GString *g = g_string_new("json:");

        for (size_t i = 0; i < n; i++)
                g_string_append_printf(g, "%s{\"driver\":\"%s\",\"file\":{\"driver\":\"file\",\"filename\":\"/proc/self/fd/%zu\"}",
                                       i == 0 ? "" : ",\"backing\":", l[i].format ?: "raw", 4 + i);
        if (n > 0 && !streq_ptr(l[n - 1].format, "raw"))
                g_string_append(g, ",\"backing\":null");
        for (size_t i = 0; i < n; i++)
                g_string_append_c(g, '}');
        return g_string_free(g, FALSE);
}

static int clone_spawn(CloneOp *op, char **argv, const int *fds, size_t n_fds) {
        SpawnOptions o = SPAWN_OPTIONS_INIT;
        int pipefd[2], r;

        if (ftruncate(op->errfd, 0) < 0)
                return -errno;
        if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        o.stdout_fd = pipefd[1];
        o.stderr_fd = op->errfd;
        o.fds = fds;
        o.n_fds = n_fds;
        r = spawn_child(argv, &o, &op->pid, &op->pidfd);
        close(pipefd[1]);
        op->outfd = pipefd[0];
        op->outlen = 0;
        if (r < 0)
                return r;
        r = sd_event_add_io(op->manager->event, &op->out_source, op->outfd, EPOLLIN, on_clone_output, op);
        if (r < 0)
                return r;
        return sd_event_add_io(op->manager->event, &op->exit_source, op->pidfd, EPOLLIN, on_clone_exit, op);
}

static void clone_copy_next(CloneOp *op) {
        int r;

        if (op->cancelled) {
                clone_fail(op, -ECANCELED, "cancelled; no copy is left and nothing was defined");
                return;
        }
        if (op->preserve || op->next >= op->n_disks) {
                op->copying = false;
                op->next = 0;
                clone_rename_next(op);
                return;
        }
        CloneDisk *c = &op->disks[op->next];
        size_t n_src = 0, n_dst = 0;
        const OpenedFile *src = open_files_for_request(op->files->files, c->req_src, &n_src);
        const OpenedFile *dst = open_files_for_request(op->files->files, c->req_dst, &n_dst);
        g_autofree int *fds = g_new(int, n_src + 1);
        g_autofree char *json = NULL, *size = NULL, *rate = NULL;

        fds[0] = dst->fd;
        for (size_t i = 0; i < n_src; i++)
                fds[i + 1] = src[i].fd;
        if (op->linked) {
                size = g_strdup_printf("%" PRIu64, c->size);
                char *argv[] = { op->img_tool, (char *) "create", (char *) "-q", (char *) "-f", (char *) "qcow2",
                                 (char *) "-u", (char *) "-F", c->src_format, (char *) "-b", c->src_path,
                                 (char *) "/proc/self/fd/3", size, NULL };
                r = clone_spawn(op, argv, fds, 1);
        } else {
                json = source_json(src, n_src);
                /* a paused original's hypervisor holds its images: read them shared */
                char *argv[11];
                size_t k = 0;

                argv[k++] = op->img_tool;
                argv[k++] = (char *) "convert";
                argv[k++] = (char *) "-p";
                if (op->force_share)
                        argv[k++] = (char *) "-U";
                if (op->bandwidth > 0) {
                        rate = g_strdup_printf("%" PRIu64, op->bandwidth);   /* bytes per second */
                        argv[k++] = (char *) "-r";
                        argv[k++] = rate;
                }
                argv[k++] = (char *) "-O";
                argv[k++] = c->dst_format;
                argv[k++] = json;
                argv[k++] = (char *) "/proc/self/fd/3";
                argv[k] = NULL;
                r = clone_spawn(op, argv, fds, n_src + 1);
        }
        if (r < 0) {
                g_autofree char *m = g_strdup_printf("cannot run %s: %s", op->img_name, strerror(-r));
                clone_fail(op, r, m);
        }
}

/* ---- a running original (option live): its hypervisor copies every disk at one instant ---- */

static void clone_live_progress(void *userdata, uint64_t processed, uint64_t total) {
        CloneOp *op = userdata;

        op->cb.progress(op->cb.userdata, processed, total ?: op->total_bytes);
}

static void clone_live_done(void *userdata, int r, const char *message) {
        CloneOp *op = userdata;

        op->live_job = NULL;
        if (op->cancelled) {
                clone_fail(op, -ECANCELED, "cancelled; no copy is left and nothing was defined");
                return;
        }
        if (r < 0) {
                g_autofree char *m = g_strdup_printf("Copying the disks of running domain '%s' failed: %s",
                                                     op->domain->name, message ?: strerror(-r));
                clone_fail(op, r == -ECANCELED ? -EIO : r, m);   /* a cancel nobody here asked for */
                return;
        }
        op->done_bytes = op->total_bytes;
        op->copying = false;
        op->next = 0;
        clone_rename_next(op);
}

static void clone_copy_live(CloneOp *op) {
        g_autofree CloneLiveDisk *disks = g_new0(CloneLiveDisk, op->n_disks);
        DriverJobCallbacks cb = { .progress = clone_live_progress, .done = clone_live_done, .userdata = op };
        g_autofree char *err = NULL;
        int r;

        for (size_t i = 0; i < op->n_disks; i++) {
                size_t n = 0;
                const OpenedFile *dst = open_files_for_request(op->files->files, op->disks[i].req_dst, &n);

                disks[i] = (CloneLiveDisk) { .target = op->disks[i].target, .fd = dst ? dst->fd : -1,
                                             .format = op->disks[i].dst_format };
        }
        r = vm_clone_live_copy(op->domain, disks, op->n_disks, op->bandwidth, &cb, &op->live_job, &err);
        if (r < 0) {
                g_autofree char *m = g_strdup_printf("Cannot copy the disks of running domain '%s': %s",
                                                     op->domain->name, err ?: strerror(-r));
                clone_fail(op, r, m);
        }
}

static void clone_cancel(DriverJob *base) {
        CloneOp *op = (CloneOp *) base;

        if (!op->copying)
                return;   /* too late: the copies are being put in place */
        op->cancelled = true;
        if (op->pidfd >= 0)
                (void) spawn_pidfd_signal(op->pidfd, SIGKILL);
        driver_job_cancel(op->live_job);
}

/* The virtual size of an opened image: a qcow2's header says it, a raw file is its size. */
static uint64_t image_size(const OpenedFile *o) {
        uint64_t be = 0;

        if (streq_ptr(o->format, "qcow2") && pread(o->fd, &be, sizeof(be), 24) == (ssize_t) sizeof(be))
                return be64toh(be);
        return (uint64_t) o->st.st_size;
}

/* live: a running original is fine (its hypervisor copies the disks). */
static int clone_check_state(VmDomain *d, bool live, sd_bus_error *error) {
        if (d->snapshot_op || vm_domain_running_job(d))
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' has a job running", d->name);
        if (d->starting || (!live && vm_domain_is_active(d) && d->state != DOMAIN_STATE_PAUSED))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Domain '%s' is %s: it must be shut off or paused to be cloned "
                                         "(its disks change while it runs; option live copies them all at one "
                                         "instant while it runs)",
                                         d->name, d->starting ? "starting" : domain_state_to_string(d->state));
        if (live && vm_domain_is_active(d) && !vm_clone_live_supported(d))
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "The %s driver cannot copy the disks of running domain '%s'",
                                         d->drv->ops->name, d->name);
        return 0;
}

static void clone_files_opened(void *userdata, int r, VmCallerFiles *files, const char *message) {
        CloneOp *op = userdata;
        VmDomain *d = op->domain;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        op->open = NULL;
        op->files = files;
        if (r < 0) {
                g_autofree char *what = g_strdup_printf("Failed to clone domain '%s'", d->name);
                bus_error_from_errno(&error, r, message, what);
                (void) sd_bus_reply_method_error(op->message, &error);
                clone_op_free(op);
                return;
        }
        if (clone_check_state(d, op->live, &error) < 0 ||
            (op->live_copy != (op->live && vm_domain_is_active(d)) &&
             sd_bus_error_setf(&error, VM_ERROR_INVALID_STATE, "Domain '%s' %s while its files were opened", d->name,
                               op->live_copy ? "stopped" : "started") < 0) ||
            (vm_domain_find_by_name(op->manager, op->def->name) &&
             sd_bus_error_setf(&error, VM_ERROR_ALREADY_EXISTS, "Domain '%s' already exists", op->def->name) < 0)) {
                (void) sd_bus_reply_method_error(op->message, &error);
                clone_op_free(op);   /* the created files go in the background */
                return;
        }
        op->force_share = vm_domain_is_active(d);
        for (size_t i = 0; !op->preserve && i < op->n_disks; i++) {
                size_t n = 0;
                const OpenedFile *src = open_files_for_request(files->files, op->disks[i].req_src, &n);

                op->disks[i].size = src ? image_size(src) : 0;
                if (!op->disks[i].src_format)
                        op->disks[i].src_format = g_strdup(src && src->format ? src->format : "raw");
                if (!op->disks[i].dst_format)
                        op->disks[i].dst_format = g_strdup(op->linked ? "qcow2" : op->disks[i].src_format);
                free(op->def->disks[op->disks[i].disk].driver_type);
                op->def->disks[op->disks[i].disk].driver_type = strdup(op->disks[i].dst_format);
                op->total_bytes += op->linked ? 0 : op->disks[i].size;
        }
        op->dj = vm_domain_job_new(d, op->message, "clone", NULL, op, clone_op_free);
        op->cb = vm_domain_job_callbacks(op->dj);
        op->copying = true;
        op->next = 0;
        (void) vm_domain_job_started(op->dj, &op->base, op->message);
        if (op->total_bytes > 0)
                op->cb.progress(op->cb.userdata, 0, op->total_bytes);
        if (op->live_copy && !op->preserve)
                clone_copy_live(op);
        else
                clone_copy_next(op);
}

/* ---- the call ---- */

/* virt-clone's name for a copy: the original's name in the file name becomes the new one, else "-clone" goes
 * before the extension. */
static char *copy_basename(const char *base, const char *old_name, const char *new_name) {
        const char *at = strstr(base, old_name);
        const char *dot;

        if (at)
                return g_strdup_printf("%.*s%s%s", (int) (at - base), base, new_name, at + strlen(old_name));
        dot = strrchr(base, '.');
        if (dot && dot != base)
                return g_strdup_printf("%.*s-clone%s", (int) (dot - base), base, dot);
        return g_strdup_printf("%s-clone", base);
}

typedef struct CloneArgs {
        const char *pool, *mac;
        char **files;
        bool has_files, preserve, linked, start, live;
        uint64_t bandwidth_mib;
} CloneArgs;

static int parse_options(sd_bus_message *m, CloneArgs *a, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents, *want;
                char type;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                want = streq(key, "files") ? "as"
                     : streq(key, "storage") || streq(key, "pool") || streq(key, "mac") ? "s"
                     : streq(key, "preserve_data") || streq(key, "linked") || streq(key, "start") ||
                       streq(key, "live") ? "b"
                     : streq(key, "bandwidth_mib") ? "t"
                                                   : NULL;
                if (!want)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown option '%s'", key);
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (!streq(contents, want))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option '%s' must be of type '%s', not '%s'", key, want, contents);
                r = sd_bus_message_enter_container(m, 'v', want);
                if (r < 0)
                        return r;
                if (streq(want, "as")) {
                        g_strfreev(a->files);
                        a->files = NULL;
                        r = sd_bus_message_read_strv(m, &a->files);
                        a->has_files = true;
                } else if (streq(want, "s"))
                        r = sd_bus_message_read_basic(m, 's', streq(key, "mac") ? &a->mac : &a->pool);
                else if (streq(want, "t"))
                        r = sd_bus_message_read_basic(m, 't', &a->bandwidth_mib);
                else {
                        int b;
                        r = sd_bus_message_read_basic(m, 'b', &b);
                        *(streq(key, "linked") ? &a->linked : streq(key, "start") ? &a->start
                          : streq(key, "live") ? &a->live : &a->preserve) = b;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static bool disk_is_copied(const DomainDiskDef *disk) {
        return disk->device == DOMAIN_DISK_DEVICE_DISK && !disk->readonly && !disk->shareable;
}

static void def_freep(DomainDef **p) {
        domain_def_free(*p);
}

/* Builds op's new definition, disks and requests. 0, or a negative errno with error set. */
static int clone_prepare(CloneOp *op, const char *new_name, const CloneArgs *a, sd_bus_error *error) {
        Manager *m = op->manager;
        VmDomain *d = op->domain;
        const DomainDef *orig = vm_domain_inactive_def(d);
        _cleanup_(def_freep) DomainDef *resolved = NULL;
        g_autofree char *resolve_error = NULL;
        VmPool *to_pool = NULL;
        const char *to_dir = NULL;
        size_t n_copied = 0;
        ConfError err = {};
        int r;

        if (a->pool) {
                to_pool = vm_pool_find(m->storage, a->pool);
                if (!to_pool)
                        return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_POOL, "No storage pool '%s'", a->pool);
                if (!vm_pool_is_active(to_pool))
                        return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Storage pool '%s' is not active",
                                                 a->pool);
                to_dir = storage_pool_get_def(to_pool->sp)->target_path;
                if (isempty(to_dir))
                        return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                                 "Storage pool '%s' has no directory to put copies in", a->pool);
        }
        op->def = domain_def_copy(orig);
        if (!op->def)
                return -ENOMEM;
        r = vm_storage_resolve_domain_disks(m, orig, &resolved, &resolve_error);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to clone domain '%s': %s", d->name,
                                         strna(resolve_error));
        const DomainDef *src = resolved ?: orig;

        free(op->def->name);
        op->def->name = strdup(new_name);
        op->def->has_uuid = false;
        memset(op->def->uuid, 0, sizeof(op->def->uuid));
        op->def->id = -1;
        for (size_t i = 0; i < op->def->n_nets; i++) {
                free(op->def->nets[i].mac);
                op->def->nets[i].mac = NULL;
                free(op->def->nets[i].target_dev);
                op->def->nets[i].target_dev = NULL;
        }
        if (a->mac && op->def->n_nets > 0)
                op->def->nets[0].mac = strdup(a->mac);
        /* per-domain sockets named after the original */
        for (size_t i = 0; i < op->def->n_channels; i++) {
                char *p = op->def->channels[i].source_path;
                if (p && strstr(p, d->name)) {
                        g_autofree char *base = g_path_get_basename(p), *dir = g_path_get_dirname(p);
                        g_autofree char *nb = copy_basename(base, d->name, new_name);
                        g_autofree char *nd = strstr(dir, d->name) ? copy_basename(dir, d->name, new_name) : g_strdup(dir);
                        g_autofree char *np = g_build_filename(nd, nb, NULL);

                        op->def->channels[i].source_path = strdup(np);
                        free(p);
                }
        }

        for (size_t i = 0; i < op->def->n_disks; i++)
                if (disk_is_copied(&op->def->disks[i]) && (op->def->disks[i].source || op->def->disks[i].source_volume))
                        n_copied++;
        if (a->has_files && g_strv_length(a->files) != n_copied) {
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Domain '%s' has %zu writable disk%s to copy, but option files names %u path%s",
                                         d->name, n_copied, n_copied == 1 ? "" : "s", g_strv_length(a->files),
                                         g_strv_length(a->files) == 1 ? "" : "s");
        }
        if (a->preserve && !a->has_files) {
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option preserve_data needs option files: the existing files the new domain uses");
        }
        op->disks = g_new0(CloneDisk, n_copied);
        op->reqs = g_new0(OpenFileRequest, 2 * n_copied);
        for (size_t i = 0, k = 0; i < op->def->n_disks; i++) {
                DomainDiskDef *disk = &op->def->disks[i];
                /* a running original is copied from the image its guest uses now */
                const DomainDiskDef *sdisk = op->live_copy ? vm_clone_live_disk(d, disk->target_dev) : &src->disks[i];
                CloneDisk *c;

                if (!disk_is_copied(disk) || !(disk->source || disk->source_volume))
                        continue;
                c = &op->disks[k];
                op->n_disks = k + 1;   /* freed with op from now on */
                c->disk = i;
                c->target = g_strdup(disk->target_dev);
                if (!sdisk) {
                        return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                                 "Disk %s of domain '%s' is not in the running domain (the persistent "
                                                 "definition got it since it started): shut it off to clone it",
                                                 disk->target_dev, d->name);
                }
                if (sdisk->type == DOMAIN_DISK_TYPE_NETWORK || !sdisk->source) {
                        return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                                 "Disk %s of domain '%s' is a network disk: it cannot be copied "
                                                 "(mark it shareable or readonly to share it)", disk->target_dev, d->name);
                }
                c->src_path = g_strdup(sdisk->source);
                c->src_format = g_strdup(sdisk->driver_type);
                if (a->has_files) {
                        c->dst_path = g_strdup(a->files[k]);
                        if (!g_path_is_absolute(c->dst_path) || g_str_has_suffix(c->dst_path, "/")) {
                                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "'%s' is not an absolute path of a file", c->dst_path);
                        }
                } else {
                        g_autofree char *base = g_path_get_basename(c->src_path), *dir = g_path_get_dirname(c->src_path);
                        g_autofree char *nb = copy_basename(base, d->name, new_name);

                        if (sdisk->type == DOMAIN_DISK_TYPE_BLOCK) {
                                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Disk %s of domain '%s' is the block device %s: name the "
                                                         "file of its copy with option files", disk->target_dev,
                                                         d->name, c->src_path);
                        }
                        c->dst_path = g_build_filename(to_dir ?: dir, nb, NULL);
                }
                if (streq(c->dst_path, c->src_path)) {
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "The copy of disk %s would be its original, %s", disk->target_dev,
                                                 c->src_path);
                }
                for (size_t j = 0; j < k; j++)
                        if (streq(op->disks[j].dst_path, c->dst_path)) {
                                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Disks %s and %s would both be copied to %s",
                                                         op->disks[j].target, c->target, c->dst_path);
                        }
                if (!a->preserve && access(c->dst_path, F_OK) == 0) {
                        return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS,
                                                 "%s exists (the copy of disk %s would replace it; preserve_data uses "
                                                 "existing files as they are)", c->dst_path, disk->target_dev);
                }
                if (a->preserve)
                        c->dst_format = g_strdup(disk->driver_type);
                /* the new disk names its file; a volume disk stays a volume when its copy is in a pool */
                if (disk->type == DOMAIN_DISK_TYPE_VOLUME && !a->has_files) {
                        c->pool = g_strdup(to_pool ? to_pool->name : disk->source_pool);
                        free(disk->source_pool);
                        free(disk->source_volume);
                        disk->source_pool = strdup(c->pool);
                        disk->source_volume = g_path_get_basename(c->dst_path);
                } else {
                        if (disk->type == DOMAIN_DISK_TYPE_VOLUME || disk->type == DOMAIN_DISK_TYPE_BLOCK) {
                                free(disk->source_pool);
                                free(disk->source_volume);
                                disk->source_pool = disk->source_volume = NULL;
                                disk->type = DOMAIN_DISK_TYPE_FILE;
                        }
                        free(disk->source);
                        disk->source = strdup(c->dst_path);
                        if (to_pool)
                                c->pool = g_strdup(to_pool->name);
                }
                if (a->preserve) {
                        c->req_dst = op->n_reqs;
                        op->reqs[op->n_reqs++] = (OpenFileRequest) { .path = c->dst_path, .mode = OPEN_FILE_READ_WRITE };
                } else {
                        c->req_src = op->n_reqs;
                        op->reqs[op->n_reqs++] = (OpenFileRequest) { .path = c->src_path, .mode = OPEN_FILE_READ,
                                                                     .flags = OPEN_FILE_BACKING_CHAIN,
                                                                     .format = c->src_format };
                        c->req_dst = op->n_reqs;
                        op->reqs[op->n_reqs++] = (OpenFileRequest) { .path = c->dst_path, .mode = OPEN_FILE_CREATE };
                }
                k++;
        }

        r = d->drv->ops->normalize(d->drv->driver, op->def, &err);
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "The new definition is invalid: %s",
                                  err.message ?: "normalization failed");
                conf_error_clear(&err);
                return -EINVAL;
        }
        return 0;
}

int vm_domain_method_clone(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        Manager *m = d->manager;
        CloneArgs a = {};
        _cleanup_(strv_freep) char **files = NULL;
        const char *new_name, *reason, *details[7];
        char mac[18];
        CloneOp *op;
        int r;

        r = sd_bus_message_read(message, "s", &new_name);
        if (r < 0)
                return r;
        r = parse_options(message, &a, error);
        files = a.files;
        if (r < 0)
                return r;
        vm_domain_details(d, details);
        details[4] = "new_name";
        details[5] = new_name;
        details[6] = NULL;
        r = vm_authorize(m, message, VM_ACTION_DOMAIN_MANAGE, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        vm_domain_store_flush(m);

        if (conf_name_validate(new_name, &reason) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid domain name '%s': %s", new_name,
                                         reason);
        if (vm_domain_find_by_name(m, new_name))
                return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Domain '%s' already exists", new_name);
        r = vm_domain_check_log_clash(m, new_name, NULL, error);
        if (r < 0)
                return r;
        if (a.linked && a.preserve)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Options linked and preserve_data exclude each other");
        if (a.linked && a.live)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Options linked and live exclude each other: a linked clone is backed by the "
                                        "original's images, which keep changing while it runs");
        if (a.bandwidth_mib > UINT64_MAX / (1024 * 1024))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option bandwidth_mib %" PRIu64
                                         " is too large", a.bandwidth_mib);
        if (a.mac && conf_mac_parse(a.mac, mac) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid MAC address '%s'", a.mac);
        r = clone_check_state(d, a.live, error);
        if (r < 0)
                return r;

        op = g_new0(CloneOp, 1);
        op->base.cancel = clone_cancel;
        op->manager = m;
        op->domain = vm_domain_ref(d);
        op->message = sd_bus_message_ref(message);
        op->linked = a.linked;
        op->preserve = a.preserve;
        op->start = a.start;
        op->live = a.live;
        op->live_copy = a.live && vm_domain_is_active(d);
        op->bandwidth = a.bandwidth_mib * 1024 * 1024;
        op->pidfd = op->outfd = -1;
        op->errfd = memfd_create("image-tool-stderr", MFD_CLOEXEC);
        if (a.mac)
                a.mac = mac;
        r = op->errfd < 0 ? -errno : clone_prepare(op, new_name, &a, error);
        if (r < 0) {
                clone_op_free(op);
                return r;
        }
        op->img_tool = g_strdup(storage_driver_image_tool(m->storage->driver));
        op->img_name = op->img_tool ? g_path_get_basename(op->img_tool) : NULL;
        if (!op->img_tool && !op->preserve) {
                clone_op_free(op);
                return sd_bus_error_set(error, VM_ERROR_NOT_SUPPORTED,
                                        "The storage driver found no image tool to copy disks with");
        }
        if (op->n_reqs == 0) {
                /* nothing to copy or open: the Job only defines */
                op->dj = vm_domain_job_new(d, message, "clone", NULL, op, clone_op_free);
                op->cb = vm_domain_job_callbacks(op->dj);
                (void) vm_domain_job_started(op->dj, &op->base, message);
                op->next = (size_t) -1;
                clone_refresh_done(op, 0, NULL);
                return 1;
        }
        r = vm_caller_files_open(m, message, d->name, op->reqs, op->n_reqs, clone_files_opened, op, &op->open);
        if (r < 0) {
                clone_op_free(op);
                return bus_error_from_errno(error, r, "cannot start the file opener", "Failed to clone domain");
        }
        return 1;
}
