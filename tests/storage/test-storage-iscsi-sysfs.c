/* test-storage-iscsi-sysfs.c — an iscsi pool's LUNs as the kernel shows them in sysfs: the session of a
 * target (and initiator), its disk and CD LUNs with block devices as volumes unit:B:T:L, their sizes,
 * WWIDs and udev's stable names; controllers and LUNs whose block device is not there yet are skipped.
 * The tree is the layout of Linux's iSCSI transport class (class/iscsi_session/sessionN/device →
 * devices/platform/hostH/sessionN/targetH:B:T/H:B:T:L), written here: this kernel has no initiator. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage-internal.h"
#include "storage-test-util.h"

static char *sysfs, *bypath;

static void put(const char *root, const char *rel, const char *content) {
        g_autofree char *path = g_build_filename(root, rel, NULL), *dir = g_path_get_dirname(path);

        if (g_mkdir_with_parents(dir, 0755) < 0 || !g_file_set_contents(path, content, -1, NULL)) {
                fprintf(stderr, "cannot write %s\n", path);
                exit(1);
        }
}

static void link_to(const char *root, const char *rel, const char *to) {
        g_autofree char *path = g_build_filename(root, rel, NULL), *dir = g_path_get_dirname(path);

        if (g_mkdir_with_parents(dir, 0755) < 0 || symlink(to, path) < 0) {
                fprintf(stderr, "cannot link %s\n", path);
                exit(1);
        }
}

static void mkdirs(const char *root, const char *rel) {
        g_autofree char *path = g_build_filename(root, rel, NULL);
        g_mkdir_with_parents(path, 0755);
}

static const StorageVolDef *vol(const StorageNetList *l, const char *name) {
        for (guint i = 0; i < l->vols->len; i++) {
                const StorageVolDef *d = l->vols->pdata[i];
                if (strcmp(d->name, name) == 0)
                        return d;
        }
        return NULL;
}

static void vol_def_free(void *d) {
        storage_vol_def_free(d);
}

static void make_tree(void) {
        /* a session of another target, and ours (session 3 on host 5) */
        put(sysfs, "devices/platform/host4/session1/iscsi_session/session1/targetname", "iqn.2024-01.test:other\n");
        link_to(sysfs, "class/iscsi_session/session1", "../../devices/platform/host4/session1/iscsi_session/session1");
        link_to(sysfs, "devices/platform/host4/session1/iscsi_session/session1/device", "../../../session1");
        put(sysfs, "devices/platform/host5/session3/iscsi_session/session3/targetname", "iqn.2024-01.test:disks\n");
        put(sysfs, "devices/platform/host5/session3/iscsi_session/session3/initiatorname", "iqn.2024-01.test:host-a\n");
        link_to(sysfs, "class/iscsi_session/session3", "../../devices/platform/host5/session3/iscsi_session/session3");
        link_to(sysfs, "devices/platform/host5/session3/iscsi_session/session3/device", "../../../session3");
        /* LUN 0: tgt's controller; 1: a disk; 2: a disk whose sdX is not made yet; 3: a CD */
        const char *t = "devices/platform/host5/session3/target5:0:0/";
        const struct { const char *rel, *content; } files[] = {
                { "5:0:0:0/type", "12\n" },
                { "5:0:0:1/type", "0\n" },
                { "5:0:0:1/wwid", "naa.60000000000000000e00000000010001\n" },
                { "5:0:0:1/block/sdc/size", "204800\n" },
                { "5:0:0:2/type", "0\n" },
                { "5:0:0:3/type", "5\n" },
                { "5:0:0:3/block/sr1/size", "1024\n" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
                g_autofree char *rel = g_strconcat(t, files[i].rel, NULL);
                put(sysfs, rel, files[i].content);
        }
        g_autofree char *empty = g_strconcat(t, "5:0:0:2/block", NULL);
        mkdirs(sysfs, empty);
        link_to(bypath, "ip-127.0.0.1:3260-iscsi-iqn.2024-01.test:disks-lun-1", "../../sdc");
        link_to(bypath, "ip-127.0.0.1:3260-iscsi-iqn.2024-01.test:other-lun-1", "../../sdb");
}

static void test_session(void) {
        unsigned sid = 0;

        check(storage_iscsi_session_find(sysfs, "iqn.2024-01.test:disks", NULL, &sid) == 0);
        check(sid == 3);
        sid = 0;
        check(storage_iscsi_session_find(sysfs, "iqn.2024-01.test:disks", "iqn.2024-01.test:host-a", &sid) == 0);
        check(sid == 3);
        check(storage_iscsi_session_find(sysfs, "iqn.2024-01.test:disks", "iqn.2024-01.test:host-b", &sid) == -ENOENT);
        check(storage_iscsi_session_find(sysfs, "iqn.2024-01.test:none", NULL, &sid) == -ENOENT);
        check(storage_iscsi_session_find(sysfs, "iqn.2024-01.test:other", NULL, &sid) == 0);
        check(sid == 1);
}

static void test_luns(void) {
        g_autoptr(GPtrArray) vols = g_ptr_array_new_with_free_func(vol_def_free);
        StorageNetList l = { .vols = vols };
        g_autofree char *want = g_build_filename(bypath, "ip-127.0.0.1:3260-iscsi-iqn.2024-01.test:disks-lun-1", NULL);

        check(storage_iscsi_session_luns(sysfs, 3, bypath, &l) == 2);
        const StorageVolDef *d1 = vol(&l, "unit:0:0:1"), *d3 = vol(&l, "unit:0:0:3");
        check(d1 && d3);
        check(!vol(&l, "unit:0:0:0") && !vol(&l, "unit:0:0:2"));
        check(strcmp(d1->path, want) == 0);
        check(strcmp(d1->key, "naa.60000000000000000e00000000010001") == 0);
        check(d1->type == STORAGE_VOL_BLOCK && d1->format == STORAGE_VOL_FORMAT_RAW);
        check(d1->capacity == 204800ull * 512 && d1->allocation == d1->capacity);
        check(strcmp(d3->path, "/dev/sr1") == 0);   /* no stable name: the kernel's */
        check(strcmp(d3->key, "/dev/sr1") == 0);
        check(d3->capacity == 1024ull * 512);
        check(l.capacity == (204800ull + 1024) * 512);
}

static void test_no_stable_names_and_gone(void) {
        g_autoptr(GPtrArray) vols = g_ptr_array_new_with_free_func(vol_def_free);
        g_autoptr(GPtrArray) vols2 = g_ptr_array_new_with_free_func(vol_def_free);
        StorageNetList l = { .vols = vols }, gone = { .vols = vols2 };

        check(storage_iscsi_session_luns(sysfs, 3, NULL, &l) == 2);
        check(vol(&l, "unit:0:0:1") && strcmp(vol(&l, "unit:0:0:1")->path, "/dev/sdc") == 0);
        check(storage_iscsi_session_luns(sysfs, 9, bypath, &gone) == -ENOENT);
        check(gone.vols->len == 0);
}

static void test_iface_name(void) {
        const unsigned char uuid[16] = { 0x12, 0x34, 0x56, 0x78, 1, 2, 3, 4, 5, 6, 0xab, 8, 9, 10, 11, 0xcd };
        g_autofree char *iface = storage_iscsi_iface_name(uuid);

        check(strcmp(iface, "vmgmt-12345678abcd") == 0);
}

int main(void) {
        char tmpl[] = "/tmp/vmgmt-iscsi-sysfs-XXXXXX";
        const char *tree = mkdtemp(tmpl);

        if (!tree) {
                perror("mkdtemp");
                return 1;
        }
        sysfs = g_build_filename(tree, "sys", NULL);
        bypath = g_build_filename(tree, "by-path", NULL);
        make_tree();
        test_session();
        test_luns();
        test_no_stable_names_and_gone();
        test_iface_name();
        g_autofree char *rm = g_strdup_printf("rm -rf '%s'", tree);
        if (system(rm) != 0)
                fprintf(stderr, "cannot remove %s\n", tree);
        g_free(sysfs);
        g_free(bypath);
        if (failures)
                fprintf(stderr, "%u checks failed\n", failures);
        return failures ? 1 : 0;
}
