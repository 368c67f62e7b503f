/* test-storage-volumes.c — volumes through the storage driver with real qemu-img and qemu: create, clone (progress,
 * cancel, a daemon going away), resize, wipe, upload and download through pipes, and a guest booting from a
 * cloned qcow2 volume. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "storage-test-util.h"

static void test_create(void) {
        StoragePool *p = pool_up("create", NULL);
        char *dir = g_strdup_printf("%s/create", root);
        struct stat st;
        Done d = { .progress_monotonic = true };
        check(p);

        /* raw sparse */
        check(run_create(p, vol_def("<volume><name>sparse.img</name><capacity unit='M'>64</capacity>"
                                    "<allocation>0</allocation><target><permissions><mode>0640</mode></permissions></target></volume>"),
                         &d) == 0);
        check(d.vol && storage_volume_get_def(d.vol)->capacity == 64 * MiB && seen("added sparse.img"));
        char *f = g_strdup_printf("%s/sparse.img", dir);
        check(stat(f, &st) == 0 && st.st_size == (off_t) (64 * MiB) && st.st_blocks == 0 && (st.st_mode & 07777) == 0640);
        g_free(f);
        done_reset(&d);

        /* raw allocated */
        check(run_create(p, vol_def("<volume><name>full.img</name><capacity unit='M'>32</capacity>"
                                    "<allocation unit='M'>32</allocation><target><format type='raw'/></target></volume>"),
                         &d) == 0);
        f = g_strdup_printf("%s/full.img", dir);
        check(stat(f, &st) == 0 && (uint64_t) st.st_blocks * 512 >= 32 * MiB && (st.st_mode & 07777) == 0600);
        check(d.progress_calls > 0 && d.last_processed == 32 * MiB && d.last_total == 32 * MiB);
        g_free(f);
        done_reset(&d);

        /* qcow2 */
        check(run_create(p, vol_def("<volume><name>disk.qcow2</name><capacity unit='G'>2</capacity>"
                                    "<target><format type='qcow2'/><compat>1.1</compat></target></volume>"), &d) == 0);
        check(d.vol && storage_volume_get_def(d.vol)->format == STORAGE_VOL_FORMAT_QCOW2 &&
              storage_volume_get_def(d.vol)->capacity == 2048 * MiB);
        done_reset(&d);

        /* qcow2 on a backing volume (its format taken from the volume) */
        check(run_create(p, vol_def("<volume><name>overlay.qcow2</name><capacity unit='G'>4</capacity>"
                                    "<target><format type='qcow2'/></target><backingStore><path>%s/disk.qcow2</path>"
                                    "</backingStore></volume>", dir), &d) == 0);
        const StorageVolDef *def = storage_volume_get_def(d.vol);
        check(def->capacity == 4096 * MiB && def->backing_path && strstr(def->backing_path, "/create/disk.qcow2") &&
              def->backing_format == STORAGE_VOL_FORMAT_QCOW2);
        done_reset(&d);
        /* … and one that takes the backing file's size */
        check(run_create(p, vol_def("<volume><name>thin.qcow2</name><target><format type='qcow2'/></target>"
                                    "<backingStore><path>%s/sparse.img</path><format type='raw'/></backingStore></volume>", dir),
                         &d) == 0);
        check(storage_volume_get_def(d.vol)->capacity == 64 * MiB);
        done_reset(&d);

        /* refusals, each with a message and nothing left behind */
        size_t before = count_entries(dir);
        check(run_create(p, vol_def("<volume><name>disk.qcow2</name><capacity>1</capacity></volume>"), &d) == -EEXIST);
        check(d.message && strstr(d.message, "exists"));
        done_reset(&d);
        check(run_create(p, vol_def("<volume><name>x.vmdk</name><capacity>1024</capacity><target><format type='vmdk'/></target></volume>"),
                         &d) == -EOPNOTSUPP);
        done_reset(&d);
        check(run_create(p, vol_def("<volume><name>r.img</name><capacity>1024</capacity><backingStore><path>/x</path>"
                                    "<format type='raw'/></backingStore></volume>"), &d) == -EINVAL);
        check(strstr(d.message, "raw volume cannot have a backing store"));
        done_reset(&d);
        check(run_create(p, vol_def("<volume><name>nob.qcow2</name><capacity>1024</capacity><target><format type='qcow2'/></target>"
                                    "<backingStore><path>/nonexistent/base</path><format type='raw'/></backingStore></volume>"),
                         &d) < 0);
        check(d.message && strstr(d.message, "nonexistent"));
        done_reset(&d);
        check(count_entries(dir) == before && !storage_pool_find_volume(p, "nob.qcow2"));

        /* a create cancelled before it ran leaves nothing */
        StorageVolDef *vd = vol_def("<volume><name>never.img</name><capacity>4096</capacity></volume>");
        StorageJobCallbacks cb = job_cb(&d);
        check(storage_volume_create(p, vd, &cb, &d.job) == 0);
        /* a second create of the same name while the first is under way */
        Done d2 = {};
        StorageJobCallbacks cb2 = job_cb(&d2);
        check(storage_volume_create(p, vd, &cb2, NULL) == -EEXIST);
        storage_vol_def_free(vd);
        storage_job_cancel(d.job);
        check(wait_for(&d.called) && d.r == -ECANCELED);
        check(count_entries(dir) == before);
        done_reset(&d);
        pool_down(p);
        g_free(dir);
}

static void test_clone(void) {
        StoragePool *p = pool_up("clone", NULL);
        StoragePool *q = pool_up("clone2", NULL);
        char *dir = g_strdup_printf("%s/clone", root);
        Done d = { .progress_monotonic = true };
        struct stat st;
        check(p && q);

        /* a raw source with data here and there and holes between */
        sh("truncate -s 256M %s/src.img && head -c 8M /dev/urandom | dd of=%s/src.img bs=1M seek=10 conv=notrunc status=none && "
           "head -c 1M /dev/urandom | dd of=%s/src.img bs=1M seek=200 conv=notrunc status=none", dir, dir, dir);
        check(refresh(p) == 0);
        StorageVolume *src = storage_pool_find_volume(p, "src.img");
        check(src);

        StorageVolDef *vd = vol_def("<volume><name>copy.img</name><capacity>0</capacity></volume>");
        StorageJobCallbacks cb = job_cb(&d);
        check(storage_volume_clone(p, vd, src, &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(storage_volume_is_busy(src));
        char *error = NULL;
        check(storage_volume_delete(src, 0, &error) == -EBUSY);
        free(error);
        check(wait_for(&d.called) && d.r == 0);
        check(!storage_volume_is_busy(src));
        check(d.progress_calls > 0 && d.progress_monotonic && d.last_processed == 256 * MiB && d.last_total == 256 * MiB);
        check(sh("cmp %s/src.img %s/copy.img", dir, dir) == 0);
        char *f = g_strdup_printf("%s/copy.img", dir);
        check(stat(f, &st) == 0 && (uint64_t) st.st_blocks * 512 < 32 * MiB);   /* holes stayed holes */
        g_free(f);
        done_reset(&d);

        /* raw → qcow2 into another pool, larger */
        vd = vol_def("<volume><name>c.qcow2</name><capacity unit='M'>512</capacity><target><format type='qcow2'/></target></volume>");
        cb = job_cb(&d);
        check(storage_volume_clone(q, vd, src, &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(wait_for(&d.called) && d.r == 0);
        check(d.vol && storage_volume_get_def(d.vol)->format == STORAGE_VOL_FORMAT_QCOW2 &&
              storage_volume_get_def(d.vol)->capacity == 512 * MiB);
        check(d.progress_calls > 0 && d.last_processed == d.last_total);
        check(sh("qemu-img compare -q -f raw -F qcow2 %s/src.img %s/clone2/c.qcow2 >/dev/null 2>&1; test $? -ne 2", dir, root) == 0);
        done_reset(&d);

        /* qcow2 with a backing file → flattened qcow2 */
        sh("qemu-img create -q -f qcow2 -b %s/src.img -F raw %s/ov.qcow2", dir, dir);
        check(refresh(p) == 0);
        vd = vol_def("<volume><name>flat.qcow2</name><capacity>0</capacity></volume>");
        cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(p, "ov.qcow2"), &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(wait_for(&d.called) && d.r == 0);
        check(storage_volume_get_def(d.vol)->format == STORAGE_VOL_FORMAT_QCOW2 && !storage_volume_get_def(d.vol)->backing_path);
        check(sh("qemu-img compare -q %s/ov.qcow2 %s/flat.qcow2", dir, dir) == 0);
        done_reset(&d);

        /* cancelled while the copy is set up (raw → raw, 1 GiB of data): nothing
         * left. Cancelled at once, not at the first progress report: a quiet
         * machine copies 1 GiB from the page cache within one progress interval,
         * and the job would finish first. (Cancels in the middle of a transfer:
         * the qemu-img case below and the slow upload further down.) */
        sh("head -c 1024M /dev/zero | tr '\\0' 'x' > %s/big.img", dir);
        check(refresh(p) == 0);
        size_t before = count_entries(dir);
        vd = vol_def("<volume><name>bigcopy.img</name><capacity>0</capacity></volume>");
        cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(p, "big.img"), &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        storage_job_cancel(d.job);
        check(wait_for(&d.called));
        check(d.r == -ECANCELED && strstr(d.message, "cancelled"));
        check(count_entries(dir) == before && !storage_pool_find_volume(p, "bigcopy.img"));
        done_reset(&d);

        /* cancelled qemu-img convert: nothing left */
        vd = vol_def("<volume><name>big.qcow2</name><capacity>0</capacity><target><format type='qcow2'/></target></volume>");
        d.cancel_on_progress = true;
        cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(p, "big.img"), &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(wait_for(&d.called) && d.r == -ECANCELED);
        check(count_entries(dir) == before);
        done_reset(&d);

        /* the daemon going away in the middle of a clone: nothing that looks complete */
        vd = vol_def("<volume><name>crash.img</name><capacity>0</capacity></volume>");
        cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(p, "big.img"), &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        /* under way: its temporary is there (the loop runs until it is, or the job ends) */
        {
                uint64_t start, now;
                sd_event_now(event, CLOCK_MONOTONIC, &start);
                for (now = start; count_entries(dir) == before && !d.called && now - start < WAIT_USEC;
                     sd_event_now(event, CLOCK_MONOTONIC, &now))
                        (void) sd_event_run(event, 1000);
        }
        check(!d.called && count_entries(dir) == before + 1);
        char *crash = g_strdup_printf("%s/crash.img", dir);
        check(access(crash, F_OK) < 0);
        storage_pool_free(p);   /* as the daemon would at exit: the job and its temporary are gone */
        check(!d.called && access(crash, F_OK) < 0);
        check(count_entries(dir) == before);
        g_free(crash);
        pool_down(q);
        g_free(dir);
}

static void test_resize_wipe(void) {
        StoragePool *p = pool_up("rw", NULL);
        char *dir = g_strdup_printf("%s/rw", root);
        Done d = { .progress_monotonic = true };
        check(p);

        check(run_create(p, vol_def("<volume><name>r.img</name><capacity unit='M'>8</capacity></volume>"), &d) == 0);
        done_reset(&d);
        StorageVolume *v = storage_pool_find_volume(p, "r.img");
        sh("head -c 1M /dev/urandom | dd of=%s/r.img bs=1M seek=2 conv=notrunc status=none", dir);

        check(storage_volume_resize(v, 16 * MiB, 0, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == 0 && storage_volume_get_def(v)->capacity == 16 * MiB && seen("changed r.img"));
        done_reset(&d);
        check(storage_volume_resize(v, 4 * MiB, 0, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == -EINVAL && strstr(d.message, "shrink"));
        check(storage_volume_get_def(v)->capacity == 16 * MiB);
        done_reset(&d);
        check(storage_volume_resize(v, 4 * MiB, STORAGE_VOLUME_RESIZE_DELTA | STORAGE_VOLUME_RESIZE_ALLOCATE, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == 0 && storage_volume_get_def(v)->capacity == 20 * MiB &&
              storage_volume_get_def(v)->allocation >= 20 * MiB);
        done_reset(&d);
        check(storage_volume_resize(v, 12 * MiB, STORAGE_VOLUME_RESIZE_SHRINK, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == 0 && storage_volume_get_def(v)->capacity == 12 * MiB);
        done_reset(&d);

        /* wipe: same size, all zeros */
        StorageJobCallbacks cb = job_cb(&d);
        check(storage_volume_wipe(v, &cb, &d.job) == 0);
        check(wait_for(&d.called) && d.r == 0 && d.last_processed == 12 * MiB);
        check(sh("cmp -s %s/r.img /dev/zero -n %llu", dir, 12 * MiB) == 0);
        check(storage_volume_get_def(v)->capacity == 12 * MiB);
        done_reset(&d);

        /* qcow2: grow, refuse shrink, wipe keeps size and backing store */
        check(run_create(p, vol_def("<volume><name>q.qcow2</name><capacity unit='M'>64</capacity><target><format type='qcow2'/>"
                                    "</target><backingStore><path>%s/r.img</path><format type='raw'/></backingStore></volume>", dir),
                         &d) == 0);
        done_reset(&d);
        v = storage_pool_find_volume(p, "q.qcow2");
        check(storage_volume_resize(v, 128 * MiB, 0, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == 0 && storage_volume_get_def(v)->capacity == 128 * MiB);
        done_reset(&d);
        sh("qemu-io -f qcow2 -c 'write -P 0x55 0 1M' %s/q.qcow2 >/dev/null", dir);
        cb = job_cb(&d);
        check(storage_volume_wipe(v, &cb, &d.job) == 0);
        check(wait_for(&d.called) && d.r == 0);
        v = storage_pool_find_volume(p, "q.qcow2");
        check(storage_volume_get_def(v)->capacity == 128 * MiB && storage_volume_get_def(v)->backing_path);
        char *out = sh_out("qemu-io -f qcow2 -c 'read -P 0x55 0 1M' %s/q.qcow2", dir);
        check(strstr(out, "Pattern verification failed") != NULL);
        g_free(out);
        done_reset(&d);

        /* vmdk cannot be resized */
        sh("qemu-img create -q -f vmdk %s/v.vmdk 1M", dir);
        check(refresh(p) == 0);
        check(storage_volume_resize(storage_pool_find_volume(p, "v.vmdk"), 2 * MiB, 0, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == -EOPNOTSUPP);
        done_reset(&d);

        /* delete */
        char *error = NULL;
        check(storage_volume_delete(storage_pool_find_volume(p, "v.vmdk"), 0, &error) == 0);
        check(!storage_pool_find_volume(p, "v.vmdk") && seen("removed v.vmdk"));
        pool_down(p);
        g_free(dir);
}

/* ---- upload / download through pipes ---- */

static void test_upload_download(void) {
        StoragePool *p = pool_up("ud", NULL);
        char *dir = g_strdup_printf("%s/ud", root);
        Done d = { .progress_monotonic = true };
        int pfd[2];
        pthread_t t;
        check(p);

        check(run_create(p, vol_def("<volume><name>u.img</name><capacity unit='M'>1</capacity></volume>"), &d) == 0);
        done_reset(&d);
        StorageVolume *v = storage_pool_find_volume(p, "u.img");

        /* upload 10 MiB through a pipe */
        Pump up = { .bytes = 10 * MiB, .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        check(pipe2(pfd, O_CLOEXEC) == 0);
        up.fd = pfd[1];
        pthread_create(&t, NULL, writer_thread, &up);
        StorageJobCallbacks cb = job_cb(&d);
        check(storage_volume_upload(v, pfd[0], 0, 0, &cb, &d.job) == 0);
        close(pfd[0]);
        check(wait_for(&d.called) && d.r == 0);
        pthread_join(t, NULL);
        check(d.vol == v && storage_volume_get_def(v)->capacity == 10 * MiB && d.last_processed == 10 * MiB);
        char *sum = sh_out("sh -c 'sha256sum %s/u.img | cut -d\" \" -f1'", dir);
        check(strcmp(sum, g_checksum_get_string(up.sum)) == 0);
        g_free(sum);
        check(storage_volume_get_def(v)->allocation < 10 * MiB);   /* the zero stretch stayed a hole */
        done_reset(&d);

        /* download it back through a pipe */
        Pump down = { .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        check(pipe2(pfd, O_CLOEXEC) == 0);
        down.fd = pfd[0];
        pthread_create(&t, NULL, reader_thread, &down);
        cb = job_cb(&d);
        check(storage_volume_download(v, pfd[1], 0, 0, &cb, &d.job) == 0);
        close(pfd[1]);
        check(wait_for(&d.called) && d.r == 0);
        pthread_join(t, NULL);
        check(down.bytes == 10 * MiB && strcmp(g_checksum_get_string(down.sum), g_checksum_get_string(up.sum)) == 0);
        check(d.last_total == 10 * MiB && d.last_processed == 10 * MiB);
        done_reset(&d);

        /* a range */
        Pump part = { .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        check(pipe2(pfd, O_CLOEXEC) == 0);
        part.fd = pfd[0];
        pthread_create(&t, NULL, reader_thread, &part);
        cb = job_cb(&d);
        check(storage_volume_download(v, pfd[1], MiB, 3 * MiB, &cb, &d.job) == 0);
        close(pfd[1]);
        check(wait_for(&d.called) && d.r == 0);
        pthread_join(t, NULL);
        check(part.bytes == 3 * MiB);
        done_reset(&d);

        /* download to a reader that goes away: an error, not a SIGPIPE */
        check(pipe2(pfd, O_CLOEXEC) == 0);
        close(pfd[0]);
        cb = job_cb(&d);
        check(storage_volume_download(v, pfd[1], 0, 0, &cb, &d.job) == 0);
        close(pfd[1]);
        check(wait_for(&d.called) && d.r == -EPIPE);
        done_reset(&d);

        /* a download to a reader that stalls: the cancel is seen all the same */
        check(pipe2(pfd, O_CLOEXEC) == 0);
        cb = job_cb(&d);
        check(storage_volume_download(v, pfd[1], 0, 0, &cb, &d.job) == 0);
        close(pfd[1]);
        /* the job started and filled the pipe: it is blocked on the reader */
        {
                uint64_t start, now;
                int queued = 0, size = fcntl(pfd[0], F_GETPIPE_SZ);
                check(size > 0);
                sd_event_now(event, CLOCK_MONOTONIC, &start);
                for (now = start; !d.called && now - start < WAIT_USEC && ioctl(pfd[0], FIONREAD, &queued) == 0 && queued < size;
                     sd_event_now(event, CLOCK_MONOTONIC, &now))
                        (void) sd_event_run(event, 1000);
                check(!d.called && queued >= size);
        }
        storage_job_cancel(d.job);
        check(wait_for(&d.called) && d.r == -ECANCELED);
        close(pfd[0]);
        done_reset(&d);

        /* an upload cancelled while the writer stalls: the old content stays, nothing else left */
        size_t before = count_entries(dir);
        Pump slow = { .bytes = 50 * MiB, .stall_after = 2, .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        check(pipe2(pfd, O_CLOEXEC) == 0);
        slow.fd = pfd[1];
        pthread_create(&t, NULL, writer_thread, &slow);
        d.cancel_on_progress = true;
        cb = job_cb(&d);
        check(storage_volume_upload(v, pfd[0], 0, 0, &cb, &d.job) == 0);
        close(pfd[0]);
        check(storage_volume_wipe(v, &cb, NULL) == -EBUSY);
        /* nor may a download read what the upload is writing */
        int spare[2];
        check(pipe2(spare, O_CLOEXEC) == 0);
        check(storage_volume_download(v, spare[1], 0, 0, &cb, NULL) == -EBUSY);
        close(spare[0]);
        close(spare[1]);
        check(wait_for(&d.called) && d.r == -ECANCELED);
        slow.stop = true;
        pthread_join(t, NULL);
        sum = sh_out("sh -c 'sha256sum %s/u.img | cut -d\" \" -f1'", dir);
        check(strcmp(sum, g_checksum_get_string(up.sum)) == 0);
        check(count_entries(dir) == before);
        g_free(sum);
        done_reset(&d);

        /* a refresh while an upload runs leaves the upload's temporary alone */
        Pump mid = { .bytes = 50 * MiB, .stall_after = 2, .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        check(pipe2(pfd, O_CLOEXEC) == 0);
        mid.fd = pfd[1];
        pthread_create(&t, NULL, writer_thread, &mid);
        cb = job_cb(&d);
        check(storage_volume_upload(v, pfd[0], 0, 0, &cb, &d.job) == 0);
        close(pfd[0]);
        check(wait_for(&d.progressed));
        check(refresh(p) == 0 && count_entries(dir) == before + 1);
        mid.stop = true;   /* the writer closes: end of the upload */
        check(wait_for(&d.called) && d.r == 0);
        pthread_join(t, NULL);
        check(storage_volume_get_def(v)->capacity == 2 * MiB && count_entries(dir) == before);
        g_checksum_free(mid.sum);
        done_reset(&d);

        /* an upload shorter than announced fails and changes nothing */
        Pump shortp = { .bytes = MiB, .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        check(pipe2(pfd, O_CLOEXEC) == 0);
        shortp.fd = pfd[1];
        pthread_create(&t, NULL, writer_thread, &shortp);
        cb = job_cb(&d);
        check(storage_volume_upload(v, pfd[0], 0, 2 * MiB, &cb, &d.job) == 0);
        close(pfd[0]);
        check(wait_for(&d.called) && d.r < 0);
        pthread_join(t, NULL);
        check(storage_volume_get_def(v)->capacity == 2 * MiB && count_entries(dir) == before);
        done_reset(&d);
        check(storage_volume_upload(v, 0, 5, 0, &cb, NULL) == -EOPNOTSUPP);

        g_checksum_free(up.sum);
        g_checksum_free(down.sum);
        g_checksum_free(part.sum);
        g_checksum_free(slow.sum);
        g_checksum_free(shortp.sum);
        pool_down(p);
        g_free(dir);
}

static int boot_status(const char *image, unsigned timeout_sec) {
        char *cmd = g_strdup_printf("timeout %u %s -nodefaults -no-user-config -display none -machine pc,accel=tcg -m 32 "
                  "-drive file=%s,format=qcow2,if=ide -device isa-debug-exit,iobase=0xf4,iosize=0x04 -boot c "
                  ">/dev/null 2>&1; test $? -eq 99", timeout_sec, VMGMT_QEMU_BINARY, image);
        int r = system(cmd);
        g_free(cmd);
        return r;
}

static void test_boot_from_clone(void) {
        StoragePool *p = pool_up("boot", NULL);
        char *dir = g_strdup_printf("%s/boot", root);
        Done d = { .progress_monotonic = true };
        check(p);

        /* a base image made by hand: a boot sector (mov al,0x31; out 0xf4,al; hlt) */
        sh("truncate -s 1M %s/base.img && printf '\\260\\061\\346\\364\\364\\353\\375' | "
           "dd of=%s/base.img conv=notrunc status=none && printf '\\125\\252' | dd of=%s/base.img bs=1 seek=510 "
           "conv=notrunc status=none", dir, dir, dir);
        check(refresh(p) == 0);
        StorageVolume *base = storage_pool_find_volume(p, "base.img");
        check(base);

        /* base → qcow2 clone, and a qcow2 overlay on that clone */
        StorageVolDef *vd = vol_def("<volume><name>golden.qcow2</name><capacity>0</capacity><target><format type='qcow2'/></target></volume>");
        StorageJobCallbacks cb = job_cb(&d);
        check(storage_volume_clone(p, vd, base, &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(wait_for(&d.called) && d.r == 0);
        done_reset(&d);
        check(run_create(p, vol_def("<volume><name>vm1.qcow2</name><capacity unit='M'>64</capacity><target><format type='qcow2'/>"
                                    "</target><backingStore><path>%s/golden.qcow2</path></backingStore></volume>", dir), &d) == 0);
        done_reset(&d);
        char *img = g_strdup_printf("%s/vm1.qcow2", dir);
        check(boot_status(img, 120) == 0);
        g_free(img);

        /* the overlay cloned (flattened) into a standalone volume boots as well */
        vd = vol_def("<volume><name>vm2.qcow2</name><capacity>0</capacity></volume>");
        cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(p, "vm1.qcow2"), &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(wait_for(&d.called) && d.r == 0 && !storage_volume_get_def(d.vol)->backing_path);
        check(storage_volume_get_def(d.vol)->capacity == 64 * MiB);
        done_reset(&d);
        img = g_strdup_printf("%s/vm2.qcow2", dir);
        check(boot_status(img, 120) == 0);
        g_free(img);

        /* wiped, it boots no more */
        cb = job_cb(&d);
        check(storage_volume_wipe(storage_pool_find_volume(p, "vm2.qcow2"), &cb, &d.job) == 0);
        check(wait_for(&d.called) && d.r == 0);
        done_reset(&d);
        img = g_strdup_printf("%s/vm2.qcow2", dir);
        check(boot_status(img, 3) != 0);   /* SeaBIOS finds no boot sector and waits */
        g_free(img);
        pool_down(p);
        g_free(dir);
}

/* netfs: without an NFS server (none may be reached from a test) a start
 * fails with mount's words and leaves the pool inactive. */
int main(void) {
        test_setup();
        test_create();
        test_clone();
        test_resize_wipe();
        test_upload_download();
        test_boot_from_clone();
        return test_teardown();
}
