/* domain-conf-paths.c — the host paths a definition names, what each is for and how the domain opens it. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "macro.h"

static const char *const purpose_names[_DOMAIN_PATH_PURPOSE_MAX] = {
        [DOMAIN_PATH_DISK] = "disk",
        [DOMAIN_PATH_KERNEL] = "kernel",
        [DOMAIN_PATH_INITRD] = "initrd",
        [DOMAIN_PATH_LOADER] = "loader",
        [DOMAIN_PATH_NVRAM] = "nvram",
        [DOMAIN_PATH_RNG] = "rng",
        [DOMAIN_PATH_CHARDEV] = "chardev",
        [DOMAIN_PATH_GRAPHICS] = "graphics",
        [DOMAIN_PATH_TPM] = "tpm",
};

const char *domain_path_purpose_to_string(DomainPathPurpose p) {
        return p >= 0 && p < _DOMAIN_PATH_PURPOSE_MAX ? purpose_names[p] : NULL;
}

static void add(GArray *a, const char *path, DomainPathPurpose purpose, DomainPathMode mode, size_t index) {
        DomainPath p = { .path = path, .purpose = purpose, .mode = mode, .index = index };
        g_array_append_val(a, p);
}

/* Unix sockets with a path; pty and sockets in the run dir name none. A
 * serial console is the serial port it names: only virtio consoles count. */
static void add_chardevs(GArray *a, const DomainChrDef *chrs, size_t n, DomainChrKind kind) {
        for (size_t i = 0; i < n; i++) {
                const DomainChrDef *c = &chrs[i];

                if (!streq_ptr(c->type, "unix") || !c->source_path)
                        continue;
                if (kind == DOMAIN_CHR_CONSOLE && !streq_ptr(c->target_type, "virtio"))
                        continue;
                add(a, c->source_path, DOMAIN_PATH_CHARDEV,
                    streq_ptr(c->source_mode, "connect") ? DOMAIN_PATH_CONNECT : DOMAIN_PATH_LISTEN, i);
                g_array_index(a, DomainPath, a->len - 1).chr_kind = kind;
        }
}

int domain_def_host_paths(const DomainDef *def, DomainPath **ret, size_t *ret_n) {
        GArray *a = g_array_new(FALSE, TRUE, sizeof(DomainPath));

        for (size_t i = 0; i < def->n_disks; i++) {
                const DomainDiskDef *d = &def->disks[i];
                bool cdrom = d->device == DOMAIN_DISK_DEVICE_CDROM;
                DomainPath *p;

                if (d->type == DOMAIN_DISK_TYPE_NETWORK) {
                        /* qemu talks to the server itself; only an nbd server's unix socket is
                         * a host path, connected by vmgmtd as for a chardev's */
                        if (d->net.protocol == DOMAIN_DISK_PROTOCOL_NBD && d->net.n_hosts == 1 &&
                            d->net.hosts[0].unix_socket)
                                add(a, d->net.hosts[0].socket, DOMAIN_PATH_DISK, DOMAIN_PATH_CONNECT, i);
                        continue;
                }
                if (!d->source || d->type == DOMAIN_DISK_TYPE_VOLUME)
                        continue;
                add(a, d->source, DOMAIN_PATH_DISK, d->readonly || cdrom ? DOMAIN_PATH_READ : DOMAIN_PATH_READ_WRITE, i);
                p = &g_array_index(a, DomainPath, a->len - 1);
                p->image = true;
                p->block = d->type == DOMAIN_DISK_TYPE_BLOCK;
                p->format = streq_ptr(d->driver_type, "iso") ? "raw" : d->driver_type;
        }
        if (def->kernel)
                add(a, def->kernel, DOMAIN_PATH_KERNEL, DOMAIN_PATH_READ, 0);
        if (def->initrd)
                add(a, def->initrd, DOMAIN_PATH_INITRD, DOMAIN_PATH_READ, 0);
        if (def->loader)
                add(a, def->loader, DOMAIN_PATH_LOADER,
                    streq_ptr(def->loader_type, "pflash") && streq_ptr(def->loader_readonly, "no") ? DOMAIN_PATH_READ_WRITE
                                                                                                   : DOMAIN_PATH_READ,
                    0);
        if (def->nvram && !def->nvram_managed)
                add(a, def->nvram, DOMAIN_PATH_NVRAM, DOMAIN_PATH_READ_WRITE, 0);
        for (size_t i = 0; i < def->n_rngs; i++)
                if (streq(def->rngs[i].backend_model ?: "random", "random"))
                        add(a, def->rngs[i].backend_path ?: "/dev/urandom", DOMAIN_PATH_RNG, DOMAIN_PATH_READ, i);
        add_chardevs(a, def->serials, def->n_serials, DOMAIN_CHR_SERIAL);
        add_chardevs(a, def->consoles, def->n_consoles, DOMAIN_CHR_CONSOLE);
        add_chardevs(a, def->channels, def->n_channels, DOMAIN_CHR_CHANNEL);
        for (size_t i = 0; i < def->n_graphics; i++)
                if (streq_ptr(def->graphics[i].listen_type, "socket") && def->graphics[i].listen)
                        add(a, def->graphics[i].listen, DOMAIN_PATH_GRAPHICS, DOMAIN_PATH_LISTEN, i);
        if (def->tpm && streq_ptr(def->tpm->backend, "passthrough")) {
                add(a, def->tpm->device_path, DOMAIN_PATH_TPM, DOMAIN_PATH_READ_WRITE, 0);
                add(a, def->tpm->cancel_path, DOMAIN_PATH_TPM, DOMAIN_PATH_WRITE, 1);
        }

        *ret_n = a->len;
        *ret = (DomainPath *) g_array_free(a, FALSE);
        return 0;
}
