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
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
        if (!disk->source || disk->readonly || disk->shareable)
                return false;
        if (disk->device == DOMAIN_DISK_DEVICE_CDROM)
                return false;   /* read-only media */
        return disk->type == DOMAIN_DISK_TYPE_FILE || disk->type == DOMAIN_DISK_TYPE_BLOCK;
}

/* The disk's identity, the same on every host that sees the same storage: its fully resolved path. */
static char *disk_identity(const DomainDiskDef *disk, size_t index, const DriverFiles *files) {
        const DriverFile *f = files ? driver_files_find(files, DOMAIN_PATH_DISK, 0, index) : NULL;
        char *p;

        if (f && !isempty(f->resolved))
                return g_strdup(f->resolved);
        p = realpath(disk->source, NULL);
        if (p) {
                char *r = g_strdup(p);
                free(p);
                return r;
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

static int lease_write(int fd, const char *holder, pid_t pid) {
        g_autofree char *text = pid > 0 ? g_strdup_printf("%spid=%d\n", holder, (int) pid) : g_strdup(holder);
        size_t len = strlen(text);

        if (ftruncate(fd, 0) < 0)
                return -errno;
        if (pwrite(fd, text, len, 0) != (ssize_t) len)
                return -EIO;
        return 0;
}

/* Locks one lease file: 0 and *ret_fd, -EBUSY with *ret_error naming its holder, or -errno. */
static int lease_take(const char *dir, const char *identity, const char *holder, int *ret_fd, char **ret_error) {
        g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, identity, -1);
        g_autofree char *path = g_build_filename(dir, sum, NULL);
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
        _cleanup_close_ int fd = -1;
        int r;

        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0) {
                r = -errno;
                *ret_error = g_strdup_printf("cannot open the lease of disk %s (%s): %s", identity, path, strerror(-r));
                return r;
        }
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
                char text[1024];
                g_autofree char *name = NULL, *uuid = NULL, *host = NULL;

                r = -errno;
                if (r != -EAGAIN && r != -EACCES) {
                        *ret_error = g_strdup_printf("cannot lock the lease of disk %s (%s): %s", identity, path,
                                                     strerror(-r));
                        return r;
                }
                holder_read(path, text, sizeof(text));
                name = holder_field(text, "domain");
                uuid = holder_field(text, "uuid");
                host = holder_field(text, "host");
                *ret_error = g_strdup_printf("disk %s is in use by domain %s (%s) on host %s", identity, name, uuid,
                                             host);
                return -EBUSY;
        }
        r = lease_write(fd, holder, 0);
        if (r < 0)
                log_warning("Failed to write the holder of lease %s: %s", path, strerror(-r));
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* A <lease> device: the byte at its target's offset, locked as a disk's lease is. Its
 * target is a file of the lease directory (the administrator's lockspace), made if
 * missing: vmgmtd, which opens it as root, locks nothing a definition could point
 * it at elsewhere. */
static int lease_device_take(const char *dir, const DomainLeaseDef *lease, int *ret_fd, char **ret_error) {
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
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
                r = -errno;
                if (r == -EAGAIN || r == -EACCES) {
                        *ret_error = g_strdup_printf("lease %s%s%s (%s, offset %" PRIu64 ") is held by another domain",
                                                     lease->key, lease->lockspace ? " in lockspace " : "",
                                                     strempty(lease->lockspace), lease->target_path,
                                                     lease->target_offset);
                        return -EBUSY;
                }
                *ret_error = g_strdup_printf("cannot lock lease %s (%s): %s", lease->key, lease->target_path,
                                             strerror(-r));
                return r;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int leases_add(VmLeases *l, int fd, const char *holder) {
        l->fds = g_renew(int, l->fds, l->n + 1);
        l->holders = g_renew(char *, l->holders, l->n + 1);
        l->fds[l->n] = fd;
        l->holders[l->n] = g_strdup(holder);
        l->n++;
        return 0;
}

int vm_leases_acquire(Manager *m, const DomainDef *owner, const DomainDef *def, const DriverFiles *files,
                      VmLeases *ret, char **ret_error) {
        const char *dir = vm_lease_dir(m);
        VmLeases l = {};
        char uuid[37], host[256] = "";
        int r;

        *ret = (VmLeases) {};
        /* a start holds the definition's <lease> devices too, after its disks */
        l.n_disks = def->n_disks + (owner == def ? def->n_leases : 0);
        l.by_disk = g_new(int, l.n_disks + 1);
        for (size_t i = 0; i < l.n_disks; i++)
                l.by_disk[i] = -1;
        conf_uuid_format(owner->uuid, uuid);
        if (gethostname(host, sizeof(host) - 1) < 0)
                strcpy(host, "?");
        for (size_t i = 0; i < def->n_disks; i++) {
                const DomainDiskDef *disk = &def->disks[i];
                g_autofree char *identity = NULL, *holder = NULL;
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
                identity = disk_identity(disk, i, files);
                holder = g_strdup_printf("host=%s\ndomain=%s\nuuid=%s\ndisk=%s\n", host, owner->name, uuid, identity);
                /* the same image twice in one domain: the hypervisor's own image locking refuses it */
                r = lease_take(dir, identity, holder, &fd, ret_error);
                if (r < 0) {
                        vm_leases_release(&l);
                        return r;
                }
                leases_add(&l, fd, holder);
                l.by_disk[i] = fd;
        }
        for (size_t i = 0; owner == def && i < def->n_leases; i++) {
                int fd = -1;

                r = lease_device_take(dir, &def->leases[i], &fd, ret_error);
                if (r < 0) {
                        vm_leases_release(&l);
                        return r;
                }
                leases_add(&l, fd, NULL);
                l.by_disk[def->n_disks + i] = fd;
        }
        *ret = l;
        return 0;
}

void vm_leases_set_pid(VmLeases *l, pid_t pid) {
        for (size_t i = 0; i < l->n; i++)
                if (l->holders[i])   /* a <lease> target's bytes are not ours to write */
                        (void) lease_write(l->fds[i], l->holders[i], pid);
}

void vm_leases_release(VmLeases *l) {
        for (size_t i = 0; i < l->n; i++) {
                if (l->fds[i] >= 0)
                        close(l->fds[i]);
                g_free(l->holders[i]);
        }
        g_free(l->fds);
        g_free(l->holders);
        g_free(l->by_disk);
        *l = (VmLeases) {};
}
