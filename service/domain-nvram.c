/* domain-nvram.c — per-domain UEFI variable stores: the copies in a thread, and what undefine, rename and clone do to them. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-util.h"
#include "domain-nvram.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"

#define NVRAM_MAX (64u * 1024u * 1024u)   /* a variable store is a few hundred KiB */

struct VmNvramJob {
        GThread *thread;
        int efd;
        sd_event_source *source;
        char *src, *dst;
        bool overwrite, world_readable_src, open_dst;
        bool orphaned;             /* cancelled: the loop frees it once the thread is done */
        /* the thread's result */
        int r, fd;
        char *message;
        VmNvramDoneFn done;
        void *userdata;
};

static void job_free(VmNvramJob *j) {
        sd_event_source_disable_unref(j->source);
        if (j->efd >= 0)
                close(j->efd);
        if (j->fd >= 0)
                close(j->fd);
        g_free(j->src);
        g_free(j->dst);
        g_free(j->message);
        g_free(j);
}

static int fail(VmNvramJob *j, int r, const char *fmt, const char *path) {
        j->message = g_strdup_printf(fmt, path, strerror(-r));
        return r;
}

static int copy_fd(int in, int out) {
        char buf[65536];
        uint64_t total = 0;
        int r;

        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                total += (uint64_t) n;
                if (total > NVRAM_MAX)
                        return -EFBIG;
                r = write_full(out, buf, (size_t) n);
                if (r < 0)
                        return r;
        }
}

/* src → a temporary beside dst → dst, durable. */
static int copy_into_place(VmNvramJob *j) {
        g_autofree char *dir = g_path_get_dirname(j->dst), *base = g_path_get_basename(j->dst);
        g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
        _cleanup_close_ int in = -1, out = -1, dfd = -1;
        struct stat st;
        int r;

        in = open(j->src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (in < 0)
                return fail(j, -errno, "cannot open NVRAM template %s: %s", j->src);
        if (fstat(in, &st) < 0)
                return fail(j, -errno, "cannot stat NVRAM template %s: %s", j->src);
        if (!S_ISREG(st.st_mode))
                return fail(j, -EINVAL, "NVRAM template %s: %s", j->src);
        if (j->world_readable_src && !(st.st_mode & S_IROTH))
                return fail(j, -EACCES, "NVRAM template %s is not readable by everyone: %s (only root may use it)",
                            j->src);
        if (g_mkdir_with_parents(dir, 0700) < 0)
                return fail(j, -errno, "cannot create the NVRAM directory %s: %s", dir);
        out = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
        if (out < 0)
                return fail(j, -errno, "cannot create a temporary NVRAM file in %s: %s", dir);
        r = copy_fd(in, out);
        if (r >= 0 && fsync(out) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, j->dst) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return fail(j, r, "cannot write NVRAM store %s: %s", j->dst);
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

static int job_run(VmNvramJob *j) {
        bool exists = access(j->dst, F_OK) == 0;

        if (!exists && errno != ENOENT)
                return fail(j, -errno, "cannot look at NVRAM store %s: %s", j->dst);
        if (!exists || j->overwrite) {
                if (!j->src) {
                        j->message = g_strdup_printf("NVRAM store %s does not exist and no template is known to make it from "
                                                     "(<nvram template=>)", j->dst);
                        return -ENOENT;
                }
                int r = copy_into_place(j);
                if (r < 0)
                        return r;
        }
        if (j->open_dst) {
                j->fd = open(j->dst, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
                if (j->fd < 0)
                        return fail(j, -errno, "cannot open NVRAM store %s: %s", j->dst);
        }
        return 0;
}

static gpointer job_main(gpointer p) {
        VmNvramJob *j = p;

        j->r = job_run(j);
        if (eventfd_write(j->efd, 1) < 0)
                log_error_errno(errno, "Cannot wake the loop after an NVRAM copy: %m");
        return NULL;
}

static int job_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        VmNvramJob *j = userdata;
        int out;

        g_thread_join(j->thread);
        j->thread = NULL;
        if (!j->orphaned) {
                out = j->fd;
                j->fd = -1;
                j->done(j->userdata, j->r, j->r < 0 ? -1 : out, j->message);
                if (j->r < 0 && out >= 0)
                        close(out);
        }
        job_free(j);
        return 0;
}

int vm_nvram_copy_start(Manager *m, const char *src, const char *dst, bool overwrite, bool world_readable_src,
                        bool open_dst, VmNvramDoneFn done, void *userdata, VmNvramJob **ret) {
        VmNvramJob *j = g_new0(VmNvramJob, 1);
        g_autoptr(GError) err = NULL;
        int r;

        j->fd = -1;
        j->src = g_strdup(src);
        j->dst = g_strdup(dst);
        j->overwrite = overwrite;
        j->world_readable_src = world_readable_src;
        j->open_dst = open_dst;
        j->done = done;
        j->userdata = userdata;
        j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (j->efd < 0) {
                r = -errno;
                job_free(j);
                return r;
        }
        r = sd_event_add_io(m->event, &j->source, j->efd, EPOLLIN, job_io, j);
        if (r < 0) {
                job_free(j);
                return r;
        }
        j->thread = g_thread_try_new("nvram", job_main, j, &err);
        if (!j->thread) {
                log_error("Cannot start the NVRAM thread: %s", err->message);
                job_free(j);
                return -EAGAIN;
        }
        if (ret)
                *ret = j;
        return 0;
}

VmNvramJob *vm_nvram_job_cancel(VmNvramJob *j) {
        if (j)
                j->orphaned = true;
        return NULL;
}

/* ---- the store of a domain ---- */

static VmDriver *driver_of(VmDomain *d, const DomainDef *def) {
        VmDriver *drv = manager_driver_for_def(d->manager, def, NULL);
        return drv && drv->ops->nvram_path ? drv : NULL;
}

bool vm_domain_nvram_is_default(VmDomain *d, const char *name, const char *path) {
        VmDriver *drv = driver_of(d, d->def);
        g_autofree char *own = drv ? drv->ops->nvram_path(drv->driver, name) : NULL;

        return own && path && streq(own, path);
}

char *vm_domain_nvram_store(VmDomain *d, const DomainDef *def) {
        VmDriver *drv;

        if (def->nvram)
                return g_strdup(def->nvram);
        if (!streq_ptr(def->os_firmware, "efi") &&
            !(streq_ptr(def->loader_type, "pflash") && !streq_ptr(def->loader_readonly, "no")))
                return NULL;
        drv = driver_of(d, def);
        return drv ? drv->ops->nvram_path(drv->driver, def->name) : NULL;
}

bool vm_caller_is_root(Manager *m, sd_bus_message *caller) {
        const char *sender = caller ? sd_bus_message_get_sender(caller) : NULL;
        uid_t uid;

        return !sender || (bus_creds_cache_lookup(m->creds, sender, &uid, NULL) > 0 && uid == 0);
}

int vm_domain_nvram_undefine(VmDomain *d, bool remove, bool keep, sd_bus_error *error) {
        g_autofree char *store = vm_domain_nvram_store(d, d->def);

        if (remove && keep)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Options nvram and keep_nvram exclude each other");
        if (!store || access(store, F_OK) < 0 || keep)
                return 0;
        if (!remove)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Domain '%s' has an NVRAM store (%s): undefine with option nvram to remove it, "
                                         "or keep_nvram to keep it",
                                         d->name, store);
        if (unlink(store) < 0 && errno != ENOENT)
                return sd_bus_error_set_errnof(error, errno, "Failed to undefine domain '%s': cannot remove %s: %m",
                                               d->name, store);
        return 0;
}

int vm_domain_nvram_rename(VmDomain *d, DomainDef *def, const char *new_name, char **ret_error) {
        VmDriver *drv = driver_of(d, def);
        g_autofree char *old = NULL, *new = NULL;

        if (!drv || (def->nvram && !vm_domain_nvram_is_default(d, d->name, def->nvram)))
                return 0;   /* none, or a path of the definition's own: it stays what it is */
        old = drv->ops->nvram_path(drv->driver, d->name);
        new = drv->ops->nvram_path(drv->driver, new_name);
        if (def->nvram) {
                g_free(def->nvram);
                def->nvram = g_strdup(new);
        }
        if (access(old, F_OK) < 0)
                return 0;
        if (access(new, F_OK) == 0) {
                *ret_error = g_strdup_printf("an NVRAM store %s is in the way", new);
                return -EEXIST;
        }
        if (rename(old, new) < 0) {
                int r = -errno;
                *ret_error = g_strdup_printf("cannot rename its NVRAM store %s to %s: %s", old, new, strerror(-r));
                return r;
        }
        return 0;
}

void vm_domain_nvram_rename_undo(VmDomain *d, const char *new_name) {
        VmDriver *drv = driver_of(d, d->def);
        g_autofree char *old = drv ? drv->ops->nvram_path(drv->driver, d->name) : NULL;
        g_autofree char *new = drv ? drv->ops->nvram_path(drv->driver, new_name) : NULL;

        if (old && new && access(new, F_OK) == 0 && access(old, F_OK) < 0 && rename(new, old) < 0)
                log_warning("Rename of domain '%s' failed: cannot move its NVRAM store %s back: %m", d->name, new);
}

typedef struct CloneCopy {
        void (*then)(void *userdata, int r, const char *message);
        void *userdata;
} CloneCopy;

static void clone_copied(void *userdata, int r, int fd, const char *message) {
        CloneCopy *c = userdata;

        c->then(c->userdata, r, message);
        g_free(c);
}

void vm_domain_nvram_clone(VmDomain *orig, DomainDef *new_def, sd_bus_message *caller,
                           void (*then)(void *userdata, int r, const char *message), void *userdata) {
        g_autofree char *src = vm_domain_nvram_store(orig, vm_domain_inactive_def(orig)), *dst = NULL;
        g_autofree char *msg = NULL;
        CloneCopy *c;
        int r;

        if (new_def->nvram) {
                free(new_def->nvram);
                new_def->nvram = NULL;
        }
        dst = vm_domain_nvram_store(orig, new_def);
        if (!src || !dst || access(src, F_OK) < 0) {
                then(userdata, 0, NULL);   /* none yet: the first start makes it from the template */
                return;
        }
        if (!vm_domain_nvram_is_default(orig, orig->name, src) && !vm_caller_is_root(orig->manager, caller)) {
                msg = g_strdup_printf("the NVRAM store %s is not in vmgmt's own directory: only root may have it copied",
                                      src);
                then(userdata, -EACCES, msg);
                return;
        }
        c = g_new0(CloneCopy, 1);
        c->then = then;
        c->userdata = userdata;
        r = vm_nvram_copy_start(orig->manager, src, dst, true, false, false, clone_copied, c, NULL);
        if (r < 0) {
                g_free(c);
                msg = g_strdup_printf("cannot copy the NVRAM store %s: %s", src, strerror(-r));
                then(userdata, r, msg);
        }
}

int vm_domain_nvram_check_shared(Manager *m, const DomainDef *def, const VmDomain *self, sd_bus_error *error) {
        GHashTableIter it;
        gpointer key, value;

        if (!def->nvram)
                return 0;   /* the driver's own path for its name: nobody else's */
        g_hash_table_iter_init(&it, m->domains_by_name);
        while (g_hash_table_iter_next(&it, &key, &value)) {
                VmDomain *d = value;
                g_autofree char *store = NULL;

                if (d == self)
                        continue;
                store = vm_domain_nvram_store(d, vm_domain_inactive_def(d));
                if (store && streq(store, def->nvram))
                        return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS,
                                                 "NVRAM store %s belongs to domain '%s': a variable store is never shared",
                                                 store, d->name);
        }
        return 0;
}
