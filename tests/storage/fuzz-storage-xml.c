/* fuzz-storage-xml.c — libFuzzer target: pool and volume XML parse, normalize, format and re-parse to the same text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/storage-conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void pool(const char *xml, size_t size) {
        StoragePoolDef *def = NULL, *again = NULL;
        ConfError err = {};
        char *out = NULL, *out2 = NULL;

        if (storage_pool_def_parse(xml, size, &def, &err) < 0 || storage_pool_def_normalize(def, &err) < 0)
                goto done;
        out = storage_pool_def_format(def);
        /* The canonical form must parse back and format identically. */
        if (storage_pool_def_parse(out, strlen(out), &again, &err) < 0 || storage_pool_def_normalize(again, &err) < 0)
                abort();
        out2 = storage_pool_def_format(again);
        if (strcmp(out, out2) != 0)
                abort();
done:
        free(out);
        free(out2);
        storage_pool_def_free(def);
        storage_pool_def_free(again);
        conf_error_clear(&err);
}

static void volume(const char *xml, size_t size) {
        StorageVolDef *def = NULL, *again = NULL;
        ConfError err = {};
        char *out = NULL, *out2 = NULL;

        if (storage_vol_def_parse(xml, size, &def, &err) < 0)
                goto done;
        out = storage_vol_def_format(def);
        if (storage_vol_def_parse(out, strlen(out), &again, &err) < 0)
                abort();
        out2 = storage_vol_def_format(again);
        if (strcmp(out, out2) != 0)
                abort();
done:
        free(out);
        free(out2);
        storage_vol_def_free(def);
        storage_vol_def_free(again);
        conf_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        pool((const char *) data, size);
        volume((const char *) data, size);
        return 0;
}
