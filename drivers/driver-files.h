/* driver-files.h — from a definition's host paths to the DriverFiles a driver's start() gets:
 * the open requests for open-files.h and the table built from its answer. */
#pragma once

#include <stddef.h>

#include "driver.h"
#include "open-files.h"

/* Owns everything DriverFiles points at: the paths, the opened files and their fds. */
typedef struct DriverFileSet {
        DriverFiles view;           /* what start() gets */
        DomainPath *paths;          /* domain_def_host_paths(); borrowed from the definition it was made of */
        size_t n_paths;
        OpenFileRequest *requests;  /* one per path */
        OpenFiles *opened;
        DriverFile *files;
        DriverFileLayer *layers;
        int *own_fds;               /* driver_file_set_add_own() */
        size_t n_own;
} DriverFileSet;

/* The paths of def and how to open them (requests[i] for paths[i]): disk
 * images with their backing chain (a disk without <driver type=> is raw, as
 * libvirt has it: a guest-writable image is never probed), kernel, initrd
 * and a ROM loader as sealed copies (firmware loaders reopen files by name),
 * sockets bound or connected. def must outlive the set. */
int driver_file_set_new(const DomainDef *def, DriverFileSet **ret);
DriverFileSet *driver_file_set_free(DriverFileSet *s);   /* closes every fd; NULL-safe */

/* Takes the opener's answer (ownership passed) and fills view. Returns 0, or
 * the negative errno of the first file that failed with *ret_message (borrowed
 * from the set) naming it. */
int driver_file_set_take(DriverFileSet *s, OpenFiles *opened, const char **ret_message);

/* Adds a file the service opened itself (not as the caller: a store in a driver's own directory) to
 * view, after driver_file_set_take(); takes fd (closed with the set). path must outlive the set. */
void driver_file_set_add_own(DriverFileSet *s, DomainPathPurpose purpose, const char *path, int fd);

/* driver_file_set_new() + open_files_run() as the calling process (root)
 * + driver_file_set_take(): for tests and tools. Returns 0 with *ret, or a
 * negative errno with *ret_message (malloc'd). */
int driver_file_set_open_sync(const DomainDef *def, DriverFileSet **ret, char **ret_message);
