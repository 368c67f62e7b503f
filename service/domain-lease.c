/* domain-lease.c — disk leases: LEASE_DIR/SHA256(resolved path) of each
 * writable, non-shareable disk, locked with an open file description lock
 * (F_OFD_SETLK, never waiting) on the whole file. The fd (write-only: the
 * hypervisor never picks it when it opens the set read-write or read-only)
 * goes into the fd set of the disk's image, so the lock lives exactly as long
 * as the hypervisor has the disk: it survives a vmgmtd restart or crash (the
 * hypervisor keeps an fd set that is in use when its monitor goes), is
 * released with the fd set when the disk is unplugged, and by the kernel when
 * the hypervisor dies, however it dies. Every host that mounts the same lease
 * directory (NFS, CephFS: both carry OFD locks) sees the same locks. The
 * file's text says who holds it, for the Busy message. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "domain-lease.h"
#include "fileio.h"
#include "log.h"

const char *vm_lease_dir(Manager *m) {
        static char *fallback;

        if (!isempty(m->config.lease_dir))
                return m->config.lease_dir;
        if (!fallback)
                fallback = g_build_filename(m->paths.state_dir, "leases", NULL);
        return fallback;
}

static bool disk_needs_lease(const DomainDiskDef *disk) {
        if (disk->readonly || disk->shareable)
                return false;
        if (disk->device == DOMAIN_DISK_DEVICE_CDROM)
                return false;   /* read-only media */
        /* a network disk is shared storage by nature: an rbd image, an iSCSI LUN, an nbd export */
        if (disk->type == DOMAIN_DISK_TYPE_NETWORK)
                return disk->net.n_hosts > 0 || disk->net.name;
        return disk->source && (disk->type == DOMAIN_DISK_TYPE_FILE || disk->type == DOMAIN_DISK_TYPE_BLOCK);
}

bool vm_leases_needed(const DomainDef *def) {
        if (def->n_leases > 0)
                return true;
        for (size_t i = 0; i < def->n_disks; i++)
                if (disk_needs_lease(&def->disks[i]))
                        return true;
        return false;
}

/* The disk's identity, the same on every host that sees the same storage: its fully resolved path;
 * for a network disk PROTOCOL://SERVER/NAME (its first server, as every host names it). */
static char *disk_identity(const DomainDiskDef *disk, const char *resolved) {
        char *p;

        if (disk->type == DOMAIN_DISK_TYPE_NETWORK) {
                const DomainDiskHost *h = disk->net.n_hosts > 0 ? &disk->net.hosts[0] : NULL;
                g_autofree char *server = !h ? g_strdup("")
                                          : h->unix_socket ? g_strdup(strempty(h->socket))
                                          : h->port ? g_strdup_printf("%s:%u", strempty(h->name), h->port)
                                          : g_strdup(strempty(h->name));

                return g_strdup_printf("%s://%s/%s", domain_disk_protocol_to_string(disk->net.protocol), server,
                                       strempty(disk->net.name));
        }

        if (!isempty(resolved))
                return g_strdup(resolved);
        p = realpath(disk->source, NULL);
        if (p) {
                char *r = g_strdup(p);
                free(p);
                return r;
        }
        /* not there yet (a block copy's new destination): its directory resolved, and its name */
        {
                g_autofree char *dir = g_path_get_dirname(disk->source), *base = g_path_get_basename(disk->source);

                p = realpath(dir, NULL);
                if (p) {
                        char *r = g_build_filename(p, base, NULL);
                        free(p);
                        return r;
                }
        }
        return g_strdup(disk->source);
}

static void holder_read(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        ssize_t n = fd >= 0 ? pread(fd, buf, size - 1, 0) : -1;

        buf[n > 0 ? n : 0] = 0;
}

/* KEY=VALUE of the holder text, or "?" */
static char *holder_field(const char *text, const char *key) {
        size_t n = strlen(key);

        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, key, n) == 0 && l[n] == '=')
                        return g_strndup(l + n + 1, strcspn(l + n + 1, "\n"));
        return g_strdup("?");
}

/* "disk X is in use by domain NAME (UUID) on host H", from the holder text of lease file path */
static char *busy_message(const char *path, const char *identity) {
        char text[1024];
        g_autofree char *name = NULL, *uuid = NULL, *host = NULL;

        holder_read(path, text, sizeof(text));
        name = holder_field(text, "domain");
        uuid = holder_field(text, "uuid");
        host = holder_field(text, "host");
        return g_strdup_printf("disk %s is in use by domain %s (%s) on host %s", identity, name, uuid, host);
}

static int lease_write(int fd, const char *holder, pid_t pid) {
        g_autofree char *text = pid > 0 ? g_strdup_printf("%spid=%d\n", holder, (int) pid) : g_strdup(holder);
        size_t len = strlen(text);

        if (ftruncate(fd, 0) < 0)
                return -errno;
        if (pwrite(fd, text, len, 0) != (ssize_t) len)
                return -EIO;
        return 0;
}

static char *lease_path(const char *dir, const char *identity) {
        g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, identity, -1);

        return g_build_filename(dir, sum, NULL);
}

/* Opens and (lock) locks one lease file: 0 and *ret_fd, -EBUSY with *ret_error naming its holder, or -errno. */
static int lease_take(const char *dir, const char *identity, const char *holder, bool lock, int *ret_fd,
                      char **ret_error) {
        g_autofree char *path = lease_path(dir, identity);
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
        _cleanup_close_ int fd = -1;
        int r;

        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0) {
                r = -errno;
                *ret_error = g_strdup_printf("cannot open the lease of disk %s (%s): %s", identity, path, strerror(-r));
                return r;
        }
        if (!lock) {
                *ret_fd = TAKE_FD(fd);
                return 0;
        }
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
                r = -errno;
                if (r != -EAGAIN && r != -EACCES) {
                        *ret_error = g_strdup_printf("cannot lock the lease of disk %s (%s): %s", identity, path,
                                                     strerror(-r));
                        return r;
                }
                *ret_error = busy_message(path, identity);
                return -EBUSY;
        }
        r = lease_write(fd, holder, 0);
        if (r < 0)
                log_warning("Failed to write the holder of lease %s: %s", path, strerror(-r));
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static char *lease_device_busy(const DomainLeaseDef *lease) {
        return g_strdup_printf("lease %s%s%s (%s, offset %" PRIu64 ") is held by another domain", lease->key,
                               lease->lockspace ? " in lockspace " : "", strempty(lease->lockspace),
                               lease->target_path, lease->target_offset);
}

/* A <lease> device: the byte at its target's offset, locked as a disk's lease is. Its
 * target is a file of the lease directory (the administrator's lockspace), made if
 * missing: vmgmtd, which opens it as root, locks nothing a definition could point
 * it at elsewhere. */
static int lease_device_take(const char *dir, const DomainLeaseDef *lease, bool lock, int *ret_fd, char **ret_error) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t) lease->target_offset,
                            .l_len = 1 };
        g_autofree char *parent = g_path_get_dirname(lease->target_path), *real_dir = NULL, *real_parent = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        (void) mkdir_p(dir, 0700);
        real_dir = realpath(dir, NULL);
        real_parent = realpath(parent, NULL);
        if (!real_dir || !real_parent || !streq(real_parent, real_dir)) {
                *ret_error = g_strdup_printf("lease %s: its target %s is not a file of the lease directory %s",
                                             lease->key, lease->target_path, dir);
                return -EINVAL;
        }
        fd = open(lease->target_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0) {
                r = -errno;
                *ret_error = g_strdup_printf("cannot open lease %s (%s): %s", lease->key, lease->target_path,
                                             strerror(-r));
                return r;
        }
        if (!lock) {
                *ret_fd = TAKE_FD(fd);
                return 0;
        }
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
                r = -errno;
                if (r == -EAGAIN || r == -EACCES) {
                        *ret_error = lease_device_busy(lease);
                        return -EBUSY;
                }
                *ret_error = g_strdup_printf("cannot lock lease %s (%s): %s", lease->key, lease->target_path,
                                             strerror(-r));
                return r;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* One more fd of l: of lease `group` (a source's hypervisor may have several fds of one lease file),
 * lease file `path`, locking byte `offset` (-1: the whole file); what: the disk's identity, or (a
 * <lease> device) its Busy message. */
static void leases_add(VmLeases *l, int fd, const char *holder, const char *path, const char *what, int64_t offset,
                       size_t group) {
        l->fds = g_renew(int, l->fds, l->n + 1);
        l->holders = g_renew(char *, l->holders, l->n + 1);
        l->paths = g_renew(char *, l->paths, l->n + 1);
        l->whats = g_renew(char *, l->whats, l->n + 1);
        l->offsets = g_renew(int64_t, l->offsets, l->n + 1);
        l->groups = g_renew(size_t, l->groups, l->n + 1);
        l->fds[l->n] = fd;
        l->holders[l->n] = g_strdup(holder);
        l->paths[l->n] = g_strdup(path);
        l->whats[l->n] = g_strdup(what);
        l->offsets[l->n] = offset;
        l->groups[l->n] = group;
        l->n++;
}

static char *holder_text(const char *owner_name, const unsigned char owner_uuid[16], const char *identity) {
        char uuid[37], host[256] = "";

        conf_uuid_format(owner_uuid, uuid);
        if (gethostname(host, sizeof(host) - 1) < 0)
                strcpy(host, "?");
        return g_strdup_printf("host=%s\ndomain=%s\nuuid=%s\ndisk=%s\n", host, owner_name, uuid, identity);
}

/* The leases of def's disks (with_devices: its <lease> devices too) for domain owner_name, opened and
 * (lock) locked; resolved[i]: disk i's resolved path when known. Blocking: run in a thread. */
static int leases_collect(const char *dir, const char *owner_name, const unsigned char owner_uuid[16],
                          const DomainDef *def, bool with_devices, char *const *resolved, bool lock, VmLeases *ret,
                          char **ret_error) {
        VmLeases l = {};
        int r;

        *ret = (VmLeases) {};
        /* a start holds the definition's <lease> devices too, after its disks */
        l.n_disks = def->n_disks + (with_devices ? def->n_leases : 0);
        l.by_disk = g_new(int, l.n_disks + 1);
        for (size_t i = 0; i < l.n_disks; i++)
                l.by_disk[i] = -1;
        for (size_t i = 0; i < def->n_disks; i++) {
                const DomainDiskDef *disk = &def->disks[i];
                g_autofree char *identity = NULL, *holder = NULL, *path = NULL;
                int fd = -1;

                if (!disk_needs_lease(disk))
                        continue;
                if (l.n == 0) {
                        r = mkdir_p(dir, 0700);
                        if (r < 0) {
                                *ret_error = g_strdup_printf("cannot create the lease directory %s: %s", dir,
                                                             strerror(-r));
                                vm_leases_release(&l);
                                return r;
                        }
                }
                identity = disk_identity(disk, resolved ? resolved[i] : NULL);
                holder = holder_text(owner_name, owner_uuid, identity);
                path = lease_path(dir, identity);
                /* the same image twice in one domain: the hypervisor's own image locking refuses it */
                r = lease_take(dir, identity, holder, lock, &fd, ret_error);
                if (r < 0) {
                        vm_leases_release(&l);
                        return r;
                }
                leases_add(&l, fd, holder, path, identity, -1, l.n);
                l.by_disk[i] = fd;
        }
        for (size_t i = 0; with_devices && i < def->n_leases; i++) {
                g_autofree char *busy = lease_device_busy(&def->leases[i]);
                int fd = -1;

                r = lease_device_take(dir, &def->leases[i], lock, &fd, ret_error);
                if (r < 0) {
                        vm_leases_release(&l);
                        return r;
                }
                leases_add(&l, fd, NULL, def->leases[i].target_path, busy, (int64_t) def->leases[i].target_offset, l.n);
                l.by_disk[def->n_disks + i] = fd;
        }
        *ret = l;
        return 0;
}

/* ---- taking them in a thread ---- */

struct VmLeasesCall {
        gint refs;                   /* the loop's and the thread's */
        int efd;                     /* the thread is done */
        sd_event_source *source;
        /* the thread's input: copies */
        char *dir;
        char *owner_name;
        unsigned char owner_uuid[16];
        DomainDef *def;
        bool with_devices, lock;
        char **resolved;             /* per disk of def */
        pid_t release_pid;           /* > 0: unlock def's one disk's or <lease>'s lease in this process instead */
        /* its output */
        int r;
        VmLeases leases;
        char *error;
        VmLeasesDoneFn done;
        void *userdata;
};

static void leases_call_unref(VmLeasesCall *c) {
        if (!g_atomic_int_dec_and_test(&c->refs))
                return;
        sd_event_source_disable_unref(c->source);
        if (c->efd >= 0)
                close(c->efd);
        vm_leases_release(&c->leases);
        g_free(c->dir);
        g_free(c->owner_name);
        domain_def_free(c->def);
        g_strfreev(c->resolved);
        g_free(c->error);
        g_free(c);
}

static int lease_release_in(const char *path, int64_t offset, const char *what, pid_t pid, char **ret_error);

static gpointer leases_call_run(gpointer data) {
        VmLeasesCall *c = data;
        uint64_t one = 1;

        if (c->release_pid > 0 && c->def->n_disks > 0) {
                g_autofree char *identity = disk_identity(c->def->disks, NULL);
                g_autofree char *path = lease_path(c->dir, identity);

                c->r = lease_release_in(path, -1, identity, c->release_pid, &c->error);
        } else if (c->release_pid > 0)
                c->r = lease_release_in(c->def->leases->target_path, (int64_t) c->def->leases->target_offset,
                                        c->def->leases->key, c->release_pid, &c->error);
        else
                c->r = leases_collect(c->dir, c->owner_name, c->owner_uuid, c->def, c->with_devices, c->resolved,
                                      c->lock, &c->leases, &c->error);
        if (write(c->efd, &one, sizeof(one)) < 0)
                log_warning("Cannot signal the end of a lease call: %m");
        leases_call_unref(c);
        return NULL;
}

static int on_leases_taken(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        VmLeasesCall *c = userdata;
        VmLeases leases = c->leases;

        c->source = sd_event_source_disable_unref(c->source);
        c->leases = (VmLeases) {};
        c->done(c->userdata, c->r, &leases, c->error);
        vm_leases_release(&leases);   /* what done did not take */
        leases_call_unref(c);
        return 0;
}

static int leases_call_start(Manager *m, VmLeasesCall *c, VmLeasesCall **ret);

int vm_leases_take_start(Manager *m, const DomainDef *owner, const DomainDef *def, const DriverFiles *files, bool lock,
                         VmLeasesDoneFn done, void *userdata, VmLeasesCall **ret) {
        VmLeasesCall *c = g_new0(VmLeasesCall, 1);

        c->refs = 1;
        c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        c->dir = g_strdup(vm_lease_dir(m));
        c->owner_name = g_strdup(owner->name);
        memcpy(c->owner_uuid, owner->uuid, sizeof(c->owner_uuid));
        c->def = domain_def_copy(def);
        c->with_devices = owner == def;
        c->lock = lock;
        c->resolved = g_new0(char *, def->n_disks + 1);
        for (size_t i = 0; i < def->n_disks; i++) {
                const DriverFile *f = files ? driver_files_find(files, DOMAIN_PATH_DISK, 0, i) : NULL;
                /* "" where unknown: the strv must not end early */
                c->resolved[i] = g_strdup(f && f->resolved ? f->resolved : "");
        }
        c->done = done;
        c->userdata = userdata;
        return leases_call_start(m, c, ret);
}

/* Runs c's thread; done follows on the loop. 0 and *ret, or a negative errno (c freed, done not called). */
static int leases_call_start(Manager *m, VmLeasesCall *c, VmLeasesCall **ret) {
        GThread *thread;
        int r;

        if (c->efd < 0 || !c->def) {
                r = c->efd < 0 ? -errno : -ENOMEM;
                leases_call_unref(c);
                return r;
        }
        r = sd_event_add_io(m->event, &c->source, c->efd, EPOLLIN, on_leases_taken, c);
        if (r < 0) {
                leases_call_unref(c);
                return r;
        }
        g_atomic_int_inc(&c->refs);
        thread = g_thread_try_new("vmgmt-leases", leases_call_run, c, NULL);
        if (!thread) {
                g_atomic_int_dec_and_test(&c->refs);
                leases_call_unref(c);
                return -EAGAIN;
        }
        g_thread_unref(thread);   /* detached */
        *ret = c;
        return 0;
}

static int release_start(Manager *m, const DomainDef *one, pid_t pid, VmLeasesDoneFn done, void *userdata,
                         VmLeasesCall **ret) {
        VmLeasesCall *c = g_new0(VmLeasesCall, 1);

        c->refs = 1;
        c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        c->dir = g_strdup(vm_lease_dir(m));
        c->def = domain_def_copy(one);
        c->release_pid = pid;
        c->done = done;
        c->userdata = userdata;
        return leases_call_start(m, c, ret);
}

int vm_lease_device_release_start(Manager *m, const DomainLeaseDef *lease, pid_t pid, VmLeasesDoneFn done,
                                  void *userdata, VmLeasesCall **ret) {
        DomainDef one = { .leases = (DomainLeaseDef *) lease, .n_leases = 1, .id = -1 };

        return release_start(m, &one, pid, done, userdata, ret);
}

int vm_lease_disk_release_start(Manager *m, const DomainDiskDef *disk, pid_t pid, VmLeasesDoneFn done,
                                void *userdata, VmLeasesCall **ret) {
        DomainDef one = { .disks = (DomainDiskDef *) disk, .n_disks = 1, .id = -1 };

        if (!disk_needs_lease(disk)) {
                *ret = NULL;
                return 0;
        }
        return release_start(m, &one, pid, done, userdata, ret);
}

VmLeasesCall *vm_leases_call_cancel(VmLeasesCall *c) {
        if (!c)
                return NULL;
        /* the thread runs to its end; what it took is let go when it does */
        c->source = sd_event_source_disable_unref(c->source);
        leases_call_unref(c);
        return NULL;
}

static int lease_fcntl(int fd, short type, int64_t offset) {
        struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = offset < 0 ? 0 : (off_t) offset,
                            .l_len = offset < 0 ? 0 : 1 };

        return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

int vm_leases_lock(VmLeases *l, pid_t pid, char **ret_error) {
        size_t groups = 0;
        g_autofree bool *done = NULL;   /* per group */
        int r = 0;

        for (size_t i = 0; i < l->n; i++)
                groups = MAX(groups, l->groups[i] + 1);
        done = g_new0(bool, groups + 1);

        for (size_t i = 0; i < l->n; i++) {
                size_t g = l->groups[i];
                bool last = true;

                if (done[g])
                        continue;
                r = lease_fcntl(l->fds[i], F_WRLCK, l->offsets[i]);
                if (r >= 0) {
                        done[g] = true;
                        if (l->holders[i])
                                (void) lease_write(l->fds[i], l->holders[i], pid);
                        continue;
                }
                /* another fd of the lease may be the one to take it */
                for (size_t j = i + 1; j < l->n; j++)
                        if (l->groups[j] == g)
                                last = false;
                if (!last)
                        continue;
                if (r == -EAGAIN || r == -EACCES) {
                        r = -EBUSY;
                        *ret_error = l->offsets[i] < 0 ? busy_message(l->paths[i], l->whats[i]) : g_strdup(l->whats[i]);
                } else
                        *ret_error = g_strdup_printf("cannot lock the lease %s: %s", l->paths[i], strerror(-r));
                break;
        }
        if (r >= 0)
                return 0;
        /* all or nothing */
        for (size_t i = 0; i < l->n; i++)
                if (done[l->groups[i]])
                        (void) lease_fcntl(l->fds[i], F_UNLCK, l->offsets[i]);
        return r;
}

void vm_leases_unlock(VmLeases *l) {
        for (size_t i = 0; i < l->n; i++)
                if (l->fds[i] >= 0)
                        (void) lease_fcntl(l->fds[i], F_UNLCK, l->offsets[i]);
}

static int sys_pidfd_open(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

static int sys_pidfd_getfd(int pidfd, int fd) {
        return (int) syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

int vm_leases_of_process(Manager *m, const DomainDef *owner, const DomainDef *def, pid_t pid, VmLeases *ret,
                         char **ret_error) {
        const char *dir = vm_lease_dir(m);
        g_autofree char *fd_dir = g_strdup_printf("/proc/%d/fd", (int) pid);
        _cleanup_close_ int pidfd = -1;
        VmLeases l = {};
        size_t n = def->n_disks + (owner == def ? def->n_leases : 0);
        g_autofree struct stat *want = g_new0(struct stat, n + 1);
        g_autofree bool *have = g_new0(bool, n + 1);
        g_autofree char **paths = g_new0(char *, n + 1), **whats = g_new0(char *, n + 1),
                        **holders = g_new0(char *, n + 1);
        g_autofree int64_t *offsets = g_new0(int64_t, n + 1);
        bool any = false;
        DIR *dp = NULL;
        struct dirent *de;
        int r = 0;

        *ret = (VmLeases) {};
        /* the lease files this domain's hypervisor holds, as a start or hot-plug took them */
        for (size_t i = 0; i < def->n_disks; i++) {
                g_autofree char *identity = NULL;

                if (!disk_needs_lease(&def->disks[i]))
                        continue;
                identity = disk_identity(&def->disks[i], NULL);
                paths[i] = lease_path(dir, identity);
                holders[i] = holder_text(owner->name, owner->uuid, identity);
                whats[i] = g_steal_pointer(&identity);
                offsets[i] = -1;
        }
        for (size_t i = 0; owner == def && i < def->n_leases; i++) {
                paths[def->n_disks + i] = g_strdup(def->leases[i].target_path);
                whats[def->n_disks + i] = lease_device_busy(&def->leases[i]);
                offsets[def->n_disks + i] = (int64_t) def->leases[i].target_offset;
        }
        for (size_t i = 0; i < n; i++)
                if (paths[i] && stat(paths[i], &want[i]) >= 0)
                        have[i] = any = true;
        if (!any)
                goto out;   /* no lease: nothing to hand over */
        pidfd = sys_pidfd_open(pid);
        if (pidfd < 0) {
                r = -errno;
                *ret_error = g_strdup_printf("cannot reach the hypervisor (pid %d) for its leases: %s", (int) pid,
                                             strerror(-r));
                goto out;
        }
        dp = opendir(fd_dir);
        if (!dp) {
                r = -errno;
                *ret_error = g_strdup_printf("cannot list the fds of the hypervisor (%s): %s", fd_dir, strerror(-r));
                goto out;
        }
        while ((de = readdir(dp))) {
                g_autofree char *link = NULL;
                struct stat st;
                char *end;
                long fd = strtol(de->d_name, &end, 10);

                if (de->d_name[0] == '.' || *end || fd < 0)
                        continue;
                /* the file behind the fd (the lease files may be named otherwise in its mount namespace) */
                link = g_strdup_printf("%s/%ld", fd_dir, fd);
                if (stat(link, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                for (size_t i = 0; i < n; i++) {
                        int copy;

                        if (!have[i] || st.st_dev != want[i].st_dev || st.st_ino != want[i].st_ino)
                                continue;
                        copy = sys_pidfd_getfd(pidfd, (int) fd);
                        if (copy < 0) {
                                r = -errno;
                                *ret_error = g_strdup_printf("cannot take the lease %s out of the hypervisor (pid %d): %s",
                                                             paths[i], (int) pid, strerror(-r));
                                goto out;
                        }
                        leases_add(&l, copy, holders[i], paths[i], whats[i], offsets[i], i);
                }
        }
out:
        if (dp)
                closedir(dp);
        for (size_t i = 0; i < n; i++) {
                g_free(paths[i]);
                g_free(whats[i]);
                g_free(holders[i]);
        }
        if (r < 0) {
                vm_leases_release(&l);
                return r;
        }
        *ret = l;
        return 0;
}

/* The lease file path (what: its disk or <lease> key, for messages) that hypervisor pid holds,
 * unlocked (offset: the byte, -1 the whole file) on each of its fds of the file (copies by
 * pidfd_getfd(): the lock belongs to the open file description they share). A lease a start
 * gave it is an fd it inherited, which nothing else could close; one in a removed fd set stays
 * open while the guest is paused. Blocking: run in a thread. */
static int lease_release_in(const char *path, int64_t offset, const char *what, pid_t pid, char **ret_error) {
        g_autofree char *fd_dir = g_strdup_printf("/proc/%d/fd", (int) pid);
        _cleanup_close_ int pidfd = -1;
        struct stat want;
        struct dirent *de;
        DIR *dp;
        int r = 0;

        if (stat(path, &want) < 0)
                return 0;   /* no file: nothing can be held */
        pidfd = sys_pidfd_open(pid);
        dp = pidfd >= 0 ? opendir(fd_dir) : NULL;
        if (!dp) {
                r = -errno;
                *ret_error = g_strdup_printf("cannot reach the hypervisor (pid %d) for the lease of %s: %s", (int) pid,
                                             what, strerror(-r));
                return r;
        }
        while ((de = readdir(dp))) {
                g_autofree char *link = g_strdup_printf("%s/%s", fd_dir, de->d_name);
                struct stat st;
                char *end;
                long fd = strtol(de->d_name, &end, 10);
                int copy;

                if (de->d_name[0] == '.' || *end || fd < 0 || stat(link, &st) < 0 || st.st_dev != want.st_dev ||
                    st.st_ino != want.st_ino)
                        continue;
                copy = sys_pidfd_getfd(pidfd, (int) fd);
                if (copy < 0) {
                        r = -errno;
                        *ret_error = g_strdup_printf("cannot take the lease of %s out of the hypervisor (pid %d): %s",
                                                     what, (int) pid, strerror(-r));
                        break;
                }
                (void) lease_fcntl(copy, F_UNLCK, offset);
                close(copy);
        }
        closedir(dp);
        return r;
}

/* ---- the hypervisor's pid into the holders, in a thread ---- */

typedef struct PidWrite {
        int *fds;
        char **holders;
        size_t n;
        pid_t pid;
} PidWrite;

static gpointer pid_write_run(gpointer data) {
        PidWrite *w = data;

        for (size_t i = 0; i < w->n; i++) {
                (void) lease_write(w->fds[i], w->holders[i], w->pid);
                close(w->fds[i]);
        }
        g_strfreev(w->holders);
        g_free(w->fds);
        g_free(w);
        return NULL;
}

void vm_leases_set_pid(VmLeases *l, pid_t pid) {
        PidWrite *w = g_new0(PidWrite, 1);
        GThread *thread;

        w->fds = g_new(int, l->n + 1);
        w->holders = g_new0(char *, l->n + 1);
        w->pid = pid;
        for (size_t i = 0; i < l->n; i++) {
                /* a <lease> target's bytes are not ours to write */
                if (!l->holders[i])
                        continue;
                int fd = fcntl(l->fds[i], F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        continue;
                w->fds[w->n] = fd;
                w->holders[w->n++] = g_strdup(l->holders[i]);
        }
        if (w->n > 0 && (thread = g_thread_try_new("vmgmt-lease-pid", pid_write_run, w, NULL))) {
                g_thread_unref(thread);
                return;
        }
        for (size_t i = 0; i < w->n; i++)
                close(w->fds[i]);
        g_strfreev(w->holders);
        g_free(w->fds);
        g_free(w);
}

void vm_leases_release(VmLeases *l) {
        for (size_t i = 0; i < l->n; i++) {
                if (l->fds[i] >= 0)
                        close(l->fds[i]);
                g_free(l->holders[i]);
                g_free(l->paths[i]);
                g_free(l->whats[i]);
        }
        g_free(l->fds);
        g_free(l->holders);
        g_free(l->paths);
        g_free(l->whats);
        g_free(l->offsets);
        g_free(l->groups);
        g_free(l->by_disk);
        *l = (VmLeases) {};
}
