/* test-storage-pools.c — pools through the storage driver: dir lifecycle, refresh of files put there by hand, escape
 * attempts, a full disk (a 16 MiB tmpfs), an fs pool on a loop device with ext4, netfs refused without a server.
 *
 * The process first moves into a private mount namespace (unshare(CLONE_NEWNS), everything made private), so
 * the small tmpfs and the loop mount are never seen by the host and vanish with the test even when it crashes. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "storage-test-util.h"

static void test_pool_lifecycle(void) {
        char *path = g_strdup_printf("%s/life/images", root);
        StoragePoolDef *def = pool_def("life", "dir", path, NULL);
        StoragePool *p = NULL;
        char *error = NULL;
        struct stat st;
        Done d = {};

        check(def && storage_pool_new(drv, def, NULL, &p) == 0);
        storage_pool_def_free(def);
        check(!storage_pool_is_active(p));

        /* start before build: clear error through done */
        check(storage_pool_start(p, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == -ENOENT && strstr(d.message, "build the pool first"));
        check(!storage_pool_is_active(p));
        done_reset(&d);

        check(build(p, 0, &error) == 0);
        check(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0711);

        check(storage_pool_start(p, on_done, &d) == 0);
        check(storage_pool_start(p, on_done, &d) == -EBUSY);
        check(wait_for(&d.called) && d.r == 0);
        check(storage_pool_is_active(p) && storage_pool_start(p, on_done, &d) == -EALREADY);
        const StoragePoolDef *live = storage_pool_get_def(p);
        check(live->capacity > 0 && live->available > 0 && live->available <= live->capacity && live->allocation > 0);
        check(seen("pool life active"));
        check(storage_pool_delete(p, &error) == -EBUSY);
        done_reset(&d);

        sh("touch %s/file.img", path);
        check(refresh(p) == 0 && storage_pool_find_volume(p, "file.img"));

        check(storage_pool_stop(p, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == 0 && !storage_pool_is_active(p));
        check(seen("removed file.img") && seen("pool life inactive"));
        check(storage_pool_get_def(p)->capacity == 0);
        check(storage_pool_stop(p, on_done, &d) == -ENOTCONN);
        check(storage_pool_refresh(p, on_done, &d) == -ENOTCONN);
        done_reset(&d);

        check(storage_pool_delete(p, &error) == -ENOTEMPTY && strstr(error, "is not empty"));
        free(error);
        error = NULL;
        sh("rm %s/file.img", path);
        check(storage_pool_delete(p, &error) == 0 && stat(path, &st) < 0);
        storage_pool_free(p);
        g_free(path);
        done_reset(&d);
}

static void test_refresh_finds_files(void) {
        StoragePool *p = pool_up("hand", NULL);
        char *dir = g_strdup_printf("%s/hand", root);
        check(p);

        sh("truncate -s 10M %s/base.raw && printf data | dd of=%s/base.raw bs=1 seek=4096 conv=notrunc status=none", dir, dir);
        sh("qemu-img create -q -f qcow2 -b %s/base.raw -F raw %s/mid.qcow2 && "
           "qemu-img create -q -f qcow2 -b %s/mid.qcow2 -F qcow2 %s/top.qcow2 20M", dir, dir, dir, dir);
        sh("truncate -s 1M %s/cd.iso && printf CD001 | dd of=%s/cd.iso bs=1 seek=32769 conv=notrunc status=none", dir, dir);
        sh("qemu-img create -q -f vmdk %s/old.vmdk 5M", dir);
        sh("echo secret > %s/outside && ln -s %s/outside %s/link.img", root, root, dir);
        sh("mkdir %s/subdir && truncate -s 1M %s/.clone.partial-a1b2c3 && touch %s/.hidden", dir, dir, dir);

        check(refresh(p) == 0);
        StorageVolume *v = storage_pool_find_volume(p, "base.raw");
        check(v && storage_volume_get_def(v)->format == STORAGE_VOL_FORMAT_RAW);
        check(storage_volume_get_def(v)->capacity == 10 * MiB && storage_volume_get_def(v)->allocation < 10 * MiB);

        v = storage_pool_find_volume(p, "top.qcow2");
        check(v);
        const StorageVolDef *def = storage_volume_get_def(v);
        char *mid = g_strdup_printf("%s/mid.qcow2", dir), *base = g_strdup_printf("%s/base.raw", dir);
        check(def->format == STORAGE_VOL_FORMAT_QCOW2 && def->capacity == 20 * MiB);
        check(def->backing_path && strcmp(def->backing_path, mid) == 0 && def->backing_format == STORAGE_VOL_FORMAT_QCOW2);
        size_t n = 0;
        const char *const *chain = storage_volume_get_backing_chain(v, &n);
        check(n == 2 && strcmp(chain[0], mid) == 0 && strcmp(chain[1], base) == 0);
        check(strcmp(def->key, def->path) == 0);
        g_free(mid);
        g_free(base);

        v = storage_pool_find_volume(p, "mid.qcow2");
        check(v && storage_volume_get_def(v)->capacity == 10 * MiB &&
              storage_volume_get_def(v)->backing_format == STORAGE_VOL_FORMAT_RAW);
        v = storage_pool_find_volume(p, "cd.iso");
        check(v && storage_volume_get_def(v)->format == STORAGE_VOL_FORMAT_ISO);
        v = storage_pool_find_volume(p, "old.vmdk");
        check(v && storage_volume_get_def(v)->format == STORAGE_VOL_FORMAT_VMDK && storage_volume_get_def(v)->capacity == 5 * MiB);

        /* never a symlink, a directory, a hidden file or a temporary; stale temporaries removed */
        check(!storage_pool_find_volume(p, "link.img") && !storage_pool_find_volume(p, "subdir") &&
              !storage_pool_find_volume(p, ".hidden"));
        char *tmp = g_strdup_printf("%s/.clone.partial-a1b2c3", dir);
        check(access(tmp, F_OK) < 0);
        g_free(tmp);
        StorageVolume **vols = NULL;
        check(storage_pool_list_volumes(p, &vols, &n) == 0 && n == 5);
        check(strcmp(storage_volume_get_def(vols[0])->name, "base.raw") == 0);
        free(vols);

        char *xml = storage_vol_def_format(storage_volume_get_def(storage_pool_find_volume(p, "top.qcow2")));
        check(strstr(xml, "<format type='qcow2'/>") && strstr(xml, "<backingStore>") && strstr(xml, "<mode>0644</mode>"));
        g_free(xml);

        /* a file removed by hand goes away at the next refresh */
        sh("rm %s/old.vmdk", dir);
        check(refresh(p) == 0 && !storage_pool_find_volume(p, "old.vmdk") && seen("removed old.vmdk"));

        /* a volume found by path */
        char *path = g_strdup_printf("%s/base.raw", dir);
        check(storage_driver_find_volume_by_path(drv, path) == storage_pool_find_volume(p, "base.raw"));
        g_free(path);
        pool_down(p);
        g_free(dir);
}

/* ---- attacks ---- */

static void test_escape_attempts(void) {
        StoragePool *p = pool_up("safe", NULL);
        char *dir = g_strdup_printf("%s/safe", root);
        Done d = { .progress_monotonic = true };
        check(p);

        sh("echo precious > %s/victim", root);
        StorageVolDef *vd = storage_vol_def_new();
        StorageJobCallbacks cb = job_cb(&d);
        vd->has_capacity = true;
        vd->capacity = 1024;
        const char *bad[] = { "../victim", "..", "a/b", "/etc/passwd", ".", ".x.partial-123456", "" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                free(vd->name);
                vd->name = strdup(bad[i]);
                check(storage_volume_create(p, vd, &cb, NULL) == -EINVAL);
                check(storage_volume_clone(p, vd, NULL, &cb, NULL) == -EINVAL);
        }
        storage_vol_def_free(vd);

        /* a symlink placed in the pool is not a volume and cannot be created over */
        sh("ln -s %s/victim %s/evil.img", root, dir);
        check(refresh(p) == 0 && !storage_pool_find_volume(p, "evil.img"));
        check(run_create(p, vol_def("<volume><name>evil.img</name><capacity unit='M'>1</capacity></volume>"), &d) == -EEXIST);
        done_reset(&d);

        /* a volume swapped for a symlink after the scan: never followed */
        check(run_create(p, vol_def("<volume><name>swap.img</name><capacity unit='K'>4</capacity></volume>"), &d) == 0);
        done_reset(&d);
        StorageVolume *v = storage_pool_find_volume(p, "swap.img");
        sh("rm %s/swap.img && ln -s %s/victim %s/swap.img", dir, root, dir);
        cb = job_cb(&d);
        check(storage_volume_wipe(v, &cb, &d.job) == 0);
        check(wait_for(&d.called) && d.r == -ELOOP);
        done_reset(&d);
        int pfd[2];
        check(pipe2(pfd, O_CLOEXEC) == 0);
        cb = job_cb(&d);
        check(storage_volume_download(v, pfd[1], 0, 0, &cb, &d.job) == 0);
        close(pfd[1]);
        check(wait_for(&d.called) && d.r == -ELOOP);
        close(pfd[0]);
        done_reset(&d);
        check(storage_volume_resize(v, 1 * MiB, 0, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r == -ELOOP);
        done_reset(&d);
        char *content = sh_out("cat %s/victim", root);
        check(strcmp(content, "precious") == 0);
        g_free(content);
        check(refresh(p) == 0 && !storage_pool_find_volume(p, "swap.img"));

        /* a backing file path given by the user is used as written, never a volume name */
        pool_down(p);
        g_free(dir);
}

/* ---- a full disk: a 16 MiB tmpfs of the test's own ---- */

static void test_full_disk(void) {
        char *dir = g_strdup_printf("%s/small", root);
        Done d = { .progress_monotonic = true };

        g_mkdir_with_parents(dir, 0755);
        check(mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m") == 0);
        StoragePool *p = pool_up("small", dir);
        StoragePool *big = pool_up("bigger", NULL);
        check(p && big);
        check(storage_pool_get_def(p)->capacity == 16 * MiB);

        /* allocated raw larger than the disk */
        check(run_create(p, vol_def("<volume><name>fat.img</name><capacity unit='M'>64</capacity>"
                                    "<allocation unit='M'>64</allocation></volume>"), &d) == -ENOSPC);
        check(strstr(d.message, "no space left on pool 'small' while creating volume 'fat.img'"));
        check(count_entries(dir) == 0 && !storage_pool_find_volume(p, "fat.img"));
        done_reset(&d);

        /* a clone that does not fit */
        char *bigdir = g_strdup_printf("%s/bigger", root);
        sh("head -c 24M /dev/urandom > %s/data.img", bigdir);
        check(refresh(big) == 0);
        StorageVolDef *vd = vol_def("<volume><name>copy.img</name><capacity>0</capacity></volume>");
        StorageJobCallbacks cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(big, "data.img"), &cb, &d.job) == 0);
        check(wait_for(&d.called) && d.r == -ENOSPC);
        check(strstr(d.message, "no space left on pool 'small' while cloning volume 'copy.img'"));
        check(count_entries(dir) == 0);
        done_reset(&d);
        /* the same through qemu-img convert */
        vd->format = STORAGE_VOL_FORMAT_QCOW2;
        vd->has_format = true;
        cb = job_cb(&d);
        check(storage_volume_clone(p, vd, storage_pool_find_volume(big, "data.img"), &cb, &d.job) == 0);
        storage_vol_def_free(vd);
        check(wait_for(&d.called) && d.r == -ENOSPC && strstr(d.message, "no space left on pool 'small'"));
        check(count_entries(dir) == 0);
        done_reset(&d);

        /* an upload that does not fit keeps the old content */
        check(run_create(p, vol_def("<volume><name>keep.img</name><capacity unit='M'>1</capacity></volume>"), &d) == 0);
        done_reset(&d);
        Pump up = { .bytes = 40 * MiB, .sum = g_checksum_new(G_CHECKSUM_SHA256) };
        int pfd[2];
        pthread_t t;
        check(pipe2(pfd, O_CLOEXEC) == 0);
        up.fd = pfd[1];
        pthread_create(&t, NULL, writer_thread, &up);
        cb = job_cb(&d);
        check(storage_volume_upload(storage_pool_find_volume(p, "keep.img"), pfd[0], 0, 0, &cb, &d.job) == 0);
        close(pfd[0]);
        check(wait_for(&d.called) && d.r == -ENOSPC && strstr(d.message, "while uploading to volume 'keep.img'"));
        pthread_join(t, NULL);
        g_checksum_free(up.sum);
        check(count_entries(dir) == 1 && storage_volume_get_def(storage_pool_find_volume(p, "keep.img"))->capacity == MiB);
        done_reset(&d);

        /* a disk filled by hand: qemu-img's own words become the same clear error */
        sh("dd if=/dev/zero of=%s/fill bs=1M status=none 2>/dev/null; true", dir);
        check(run_create(p, vol_def("<volume><name>late.qcow2</name><capacity unit='G'>1</capacity>"
                                    "<target><format type='qcow2'/></target></volume>"), &d) == -ENOSPC);
        check(strstr(d.message, "no space left on pool 'small' while creating volume 'late.qcow2'"));
        check(count_entries(dir) == 2);
        done_reset(&d);

        pool_down(p);
        pool_down(big);
        check(umount(dir) == 0);
        g_free(dir);
        g_free(bigdir);
}

/* ---- an fs pool on a loop device ---- */

static void test_fs_pool(void) {
        /* the target is reached through a symlinked directory: mounts are found by real path */
        char *img = g_strdup_printf("%s/ext4.img", root), *target = g_strdup_printf("%s/fslink/mnt", root);
        char *loop = NULL, *source = NULL, *error = NULL;
        Done d = {};
        StoragePool *p = NULL;

        if (sh("mkdir %s/fsreal && ln -s fsreal %s/fslink && truncate -s 64M %s", root, root, img) != 0)
                goto out;
        loop = sh_out("losetup --find --show %s", img);
        if (strncmp(loop, "/dev/loop", 9) != 0) {
                fprintf(stderr, "no loop device: %s\n", loop);
                failures++;
                goto out;
        }
        source = g_strdup_printf("<source><device path='%s'/><format type='ext4'/></source>", loop);
        StoragePoolDef *def = pool_def("fspool", "fs", target, source);
        if (!def || storage_pool_new(drv, def, NULL, &p) < 0) {
                failures++;
                storage_pool_def_free(def);
                goto out;
        }
        storage_pool_def_free(def);
        /* the filesystem made by the build (the device is blank), then not again over it */
        if (build(p, STORAGE_POOL_BUILD_NO_OVERWRITE, &error) < 0) {
                fprintf(stderr, "fs pool build: %s\n", error ? error : "");
                failures++;
                goto out;
        }
        if (build(p, STORAGE_POOL_BUILD_NO_OVERWRITE, &error) != -EEXIST || !strstr(error, "already holds a ext4 filesystem")) {
                fprintf(stderr, "fs pool build over a filesystem: %s\n", error ? error : "");
                failures++;
        }
        free(error);
        error = NULL;
        char *type = sh_out("blkid -p -o value -s TYPE %s", loop);
        if (strcmp(type, "ext4") != 0) {
                fprintf(stderr, "no ext4 on %s: '%s'\n", loop, type);
                failures++;
        }
        g_free(type);
        if (build(p, STORAGE_POOL_BUILD_OVERWRITE, &error) != 0 || storage_pool_start(p, on_done, &d) < 0 ||
            !wait_for(&d.called) || d.r < 0) {
                fprintf(stderr, "fs pool start: %s %s\n", error ? error : "", d.message ? d.message : "");
                failures++;
                goto out;
        }
        done_reset(&d);
        if (storage_pool_build(p, 0, on_done, &d) != -EALREADY)
                failures++;
        char *mounted = sh_out("findmnt -n -o SOURCE %s", target);
        if (strcmp(mounted, loop) != 0) {
                fprintf(stderr, "not mounted: '%s'\n", mounted);
                failures++;
        }
        g_free(mounted);
        /* ext4's lost+found is a directory, not a volume */
        if (storage_pool_get_def(p)->capacity < 40 * MiB || storage_pool_find_volume(p, "lost+found")) {
                failures++;
                goto out;
        }
        if (run_create(p, vol_def("<volume><name>on-ext4.qcow2</name><capacity unit='G'>1</capacity><target><format type='qcow2'/>"
                                  "</target></volume>"), &d) != 0) {
                failures++;
                goto out;
        }
        done_reset(&d);
        /* a busy mount is not unmounted: an error, the pool stays active and usable */
        char *held = g_strdup_printf("%s/on-ext4.qcow2", target);
        int hold = open(held, O_RDONLY | O_CLOEXEC);
        g_free(held);
        if (hold < 0 || storage_pool_stop(p, on_done, &d) < 0 || !wait_for(&d.called) || d.r >= 0 ||
            !strstr(d.message, "cannot unmount") || !storage_pool_is_active(p) || refresh(p) != 0) {
                fprintf(stderr, "busy fs pool stop: r=%d %s\n", d.r, d.message ? d.message : "");
                failures++;
        }
        if (hold >= 0)
                close(hold);
        done_reset(&d);
        if (storage_pool_stop(p, on_done, &d) < 0 || !wait_for(&d.called) || d.r < 0) {
                fprintf(stderr, "fs pool stop: %s\n", d.message ? d.message : "");
                failures++;
                goto out;
        }
        done_reset(&d);
        mounted = sh_out("findmnt -n -o SOURCE %s", target);
        if (*mounted) {
                fprintf(stderr, "still mounted after stop: '%s'\n", mounted);
                failures++;
        }
        g_free(mounted);
        /* started again (also how a restarted daemon finds it): the volume is back */
        if (storage_pool_start(p, on_done, &d) < 0 || !wait_for(&d.called) || d.r < 0 ||
            !storage_pool_find_volume(p, "on-ext4.qcow2")) {
                fprintf(stderr, "fs pool restart: %s\n", d.message ? d.message : "");
                failures++;
        }
        done_reset(&d);
        /* a pool object made anew while it is mounted adopts the mount */
        storage_pool_free(p);
        def = pool_def("fspool", "fs", target, source);
        storage_pool_new(drv, def, NULL, &p);
        storage_pool_def_free(def);
        if (storage_pool_start(p, on_done, &d) < 0 || !wait_for(&d.called) || d.r < 0 ||
            !storage_pool_find_volume(p, "on-ext4.qcow2")) {
                fprintf(stderr, "fs pool adopt: %s\n", d.message ? d.message : "");
                failures++;
        }
        done_reset(&d);
out:
        if (p)
                pool_down(p);
        (void) umount(target);
        if (loop && strncmp(loop, "/dev/loop", 9) == 0)
                sh("losetup -d %s", loop);   /* exactly the device this test attached */
        free(error);
        g_free(loop);
        g_free(source);
        g_free(img);
        g_free(target);
}

/* Boots qemu (TCG) from a disk image: the boot sector writes 0x31 to an
 * isa-debug-exit port, so qemu exits with status 99 when it ran it. */
/* netfs: without an NFS server (none may be reached from a test) a start
 * fails with mount's words and leaves the pool inactive. */
static void test_netfs_refused(void) {
        char *target = g_strdup_printf("%s/nfsmnt", root), *error = NULL;
        StoragePoolDef *def = pool_def("nfs", "netfs", target,
                                       "<source><host name='127.0.0.1'/><dir path='/export/none'/></source>");
        StoragePool *p = NULL;
        Done d = {};

        check(def && storage_pool_new(drv, def, NULL, &p) == 0);
        storage_pool_def_free(def);
        check(build(p, 0, &error) == 0);
        check(storage_pool_start(p, on_done, &d) == 0);
        check(wait_for(&d.called) && d.r < 0 && strstr(d.message, "cannot mount the export on"));
        check(!storage_pool_is_active(p));
        check(storage_pool_delete(p, &error) == 0);
        storage_pool_free(p);
        done_reset(&d);
        g_free(target);
}

int main(void) {
        bool private_ns = test_setup();

        test_pool_lifecycle();
        test_refresh_finds_files();
        test_escape_attempts();
        if (private_ns) {
                test_full_disk();
                test_fs_pool();
                if (access("/sbin/mount.nfs", X_OK) < 0)
                        test_netfs_refused();
        } else
                fprintf(stderr, "no private mount namespace (not root?): skipping the full-disk and fs pool tests\n");
        return test_teardown();
}
