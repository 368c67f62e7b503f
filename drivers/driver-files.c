/* driver-files.c — open requests for a definition's host paths and the DriverFiles made of the answer. */
#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver-files.h"
#include "macro.h"

static OpenFileRequest path_request(const DomainDef *def, const DomainPath *p) {
        OpenFileRequest r = { .path = p->path };

        switch (p->mode) {
        case DOMAIN_PATH_READ_WRITE:
                r.mode = OPEN_FILE_READ_WRITE;
                break;
        case DOMAIN_PATH_LISTEN:
                r.mode = OPEN_FILE_UNIX_LISTEN;
                break;
        case DOMAIN_PATH_CONNECT:
                r.mode = OPEN_FILE_UNIX_CONNECT;
                break;
        case DOMAIN_PATH_WRITE:
                r.mode = OPEN_FILE_APPEND_CREATE;   /* O_WRONLY: a sysfs file without a read side refuses O_RDWR */
                break;
        default:
                r.mode = OPEN_FILE_READ;
        }
        if (p->image) {
                r.flags |= OPEN_FILE_BACKING_CHAIN;
                r.format = p->format ?: "raw";
        }
        if (p->purpose == DOMAIN_PATH_KERNEL || p->purpose == DOMAIN_PATH_INITRD ||
            (p->purpose == DOMAIN_PATH_LOADER && !streq_ptr(def->loader_type, "pflash")))
                r.flags |= OPEN_FILE_COPY;
        return r;
}

int driver_file_set_new(const DomainDef *def, DriverFileSet **ret) {
        DriverFileSet *s = g_new0(DriverFileSet, 1);
        int r;

        r = domain_def_host_paths(def, &s->paths, &s->n_paths);
        if (r < 0) {
                g_free(s);
                return r;
        }
        s->requests = g_new0(OpenFileRequest, s->n_paths + 1);
        for (size_t i = 0; i < s->n_paths; i++)
                s->requests[i] = path_request(def, &s->paths[i]);
        *ret = s;
        return 0;
}

DriverFileSet *driver_file_set_free(DriverFileSet *s) {
        if (!s)
                return NULL;
        open_files_free(s->opened);
        g_free(s->paths);
        g_free(s->requests);
        g_free(s->files);
        g_free(s->layers);
        for (size_t i = 0; i < s->n_own; i++)
                close(s->own_fds[i]);
        g_free(s->own_fds);
        g_free(s);
        return NULL;
}

void driver_file_set_add_own(DriverFileSet *s, DomainPathPurpose purpose, const char *path, int fd) {
        size_t n = s->view.n_files;

        s->files = g_renew(DriverFile, s->files, n + 2);
        s->files[n] = (DriverFile) { .path = path, .resolved = path, .purpose = purpose, .fd = fd };
        s->files[n + 1] = (DriverFile) {};
        s->view.files = s->files;
        s->view.n_files = n + 1;
        s->own_fds = g_renew(int, s->own_fds, s->n_own + 1);
        s->own_fds[s->n_own++] = fd;
}

int driver_file_set_take(DriverFileSet *s, OpenFiles *opened, const char **ret_message) {
        const OpenedFile *bad = open_files_first_error(opened);
        size_t n_layers = 0, l = 0;

        open_files_free(s->opened);
        s->opened = opened;
        if (bad) {
                if (ret_message)
                        *ret_message = bad->message;
                return -(bad->error ?: EIO);
        }
        for (size_t i = 0; i < s->n_paths; i++) {
                size_t n = 0;
                if (!open_files_for_request(opened, i, &n)) {
                        if (ret_message)
                                *ret_message = "the file opener left a file out";
                        return -EIO;
                }
                n_layers += n - 1;
        }
        s->files = g_new0(DriverFile, s->n_paths + 1);
        s->layers = g_new0(DriverFileLayer, n_layers + 1);
        for (size_t i = 0; i < s->n_paths; i++) {
                size_t n = 0;
                const OpenedFile *o = open_files_for_request(opened, i, &n);
                DriverFile *f = &s->files[i];

                *f = (DriverFile) {
                        .path = s->paths[i].path,
                        .resolved = o->resolved,
                        .purpose = s->paths[i].purpose,
                        .chr_kind = s->paths[i].chr_kind,
                        .index = s->paths[i].index,
                        .fd = o->fd,
                        .format = o->format,
                        .backing = n > 1 ? &s->layers[l] : NULL,
                        .n_backing = n - 1,
                };
                for (size_t k = 1; k < n; k++)
                        s->layers[l++] = (DriverFileLayer) { .fd = o[k].fd, .path = o[k].path, .format = o[k].format };
        }
        s->view = (DriverFiles) { .files = s->files, .n_files = s->n_paths };
        return 0;
}

int driver_file_set_open_sync(const DomainDef *def, DriverFileSet **ret, char **ret_message) {
        static const OpenFileCreds root = { .root = true };
        DriverFileSet *s = NULL;
        OpenFiles *opened = NULL;
        const char *bad = NULL;
        int r;

        r = driver_file_set_new(def, &s);
        if (r < 0)
                return r;
        r = open_files_run(&root, s->requests, s->n_paths, 0, &opened, ret_message);
        if (r >= 0) {
                r = driver_file_set_take(s, opened, &bad);
                if (r < 0 && ret_message)
                        *ret_message = bad ? strdup(bad) : NULL;
        }
        if (r < 0) {
                driver_file_set_free(s);
                return r;
        }
        *ret = s;
        return 0;
}
