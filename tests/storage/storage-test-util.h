/* storage-test-util.h — helpers shared by the storage driver tests (a real sd_event loop, a real driver). */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage-driver.h"

#define WAIT_USEC (120ull * 1000000ull)
#define MiB (1024ull * 1024ull)

extern sd_event *event;
extern StorageDriver *drv;
extern char *root;             /* the test's own temporary directory */
extern unsigned failures;
extern GPtrArray *events_seen; /* "pool NAME active", "added VOL", "changed VOL", "removed VOL" */

#define check(cond)                                                                             \
        do {                                                                                    \
                if (!(cond)) {                                                                  \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
                        failures++;                                                             \
                        return;                                                                 \
                }                                                                               \
        } while (0)

typedef struct Done {
        bool called;
        int r;
        char *message;
        StorageVolume *vol;
        unsigned progress_calls;
        uint64_t last_processed, last_total;
        bool progress_monotonic;
        StorageJob *job;
        bool cancel_on_progress;   /* cancel the job at its first progress report */
        bool progressed;
} Done;

/* A thread writing (pseudo-random, with a zero stretch at 4–6 MiB) or reading a pipe end. */
typedef struct Pump {
        int fd;
        size_t bytes;
        unsigned stall_after;    /* MiB written before stalling until stop (0: never) */
        volatile bool stop;
        GChecksum *sum;
} Pump;

/* Moves into a private mount namespace (returns true when that worked),
 * makes root, the loop and the driver. */
int test_setup(void);
/* Frees everything, removes root; the exit status. */
int test_teardown(void);

bool seen(const char *what);
void done_reset(Done *d);
void on_done(void *userdata, int r, const char *message);
StorageJobCallbacks job_cb(Done *d);
bool wait_for(bool *flag);
int sh(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
char *sh_out(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
StoragePoolDef *pool_def(const char *name, const char *type, const char *path, const char *source);
StorageVolDef *vol_def(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
int build(StoragePool *p, StoragePoolBuildFlags flags, char **ret_message);
StoragePool *pool_up(const char *name, const char *dir);
int refresh(StoragePool *p);
int run_create(StoragePool *p, StorageVolDef *def, Done *d);
size_t count_entries(const char *dir);
void pool_down(StoragePool *p);
void *writer_thread(void *userdata);
void *reader_thread(void *userdata);
