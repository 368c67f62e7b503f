/* test-domain-copy.c — domain_def_copy() is a deep copy: for every sample
 * definition (tests/conf/data, live and inactive), the copy formats exactly
 * as the original, with and without secrets, and it lives on after the
 * original is freed (the ASan pass catches a pointer the two would share). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "fileio.h"

static unsigned failures, checked;

static void fail(const char *file, const char *what) {
        fprintf(stderr, "%s: %s\n", file, what);
        failures++;
}

static void check_file(const char *path) {
        char *xml = NULL, *a = NULL, *b = NULL, *ai = NULL, *bi = NULL, *after = NULL;
        DomainDef *def = NULL, *copy;
        ConfError err = {};
        size_t len;

        if (read_full_file(path, DOMAIN_XML_MAX_SIZE, &xml, &len) < 0) {
                fail(path, "cannot read");
                return;
        }
        if (domain_def_parse(xml, len, &def, &err) < 0) {
                /* not every sample is a whole definition the parser takes as is */
                conf_error_clear(&err);
                free(xml);
                return;
        }
        copy = domain_def_copy(def);
        if (!copy) {
                fail(path, "copy failed");
                goto out;
        }
        a = domain_def_format(def, DOMAIN_FORMAT_SECURE);
        b = domain_def_format(copy, DOMAIN_FORMAT_SECURE);
        ai = domain_def_format(def, DOMAIN_FORMAT_INACTIVE);
        bi = domain_def_format(copy, DOMAIN_FORMAT_INACTIVE);
        if (!a || !b || strcmp(a, b) != 0)
                fail(path, "the copy formats differently (secure)");
        if (!ai || !bi || strcmp(ai, bi) != 0)
                fail(path, "the copy formats differently (inactive)");
        if (copy->has_uuid != def->has_uuid || memcmp(copy->uuid, def->uuid, sizeof def->uuid) != 0 ||
            copy->id != def->id)
                fail(path, "fields the XML does not carry differ");
        if (copy->n_disks && copy->disks == def->disks)
                fail(path, "the disks are shared");
        if (copy->name == def->name)
                fail(path, "the name is shared");
        def = domain_def_free(def);
        after = domain_def_format(copy, DOMAIN_FORMAT_SECURE);
        if (!after || !b || strcmp(after, b) != 0)
                fail(path, "the copy changed when the original was freed");
        domain_def_free(copy);
        checked++;
out:
        domain_def_free(def);
        free(xml);
        free(a);
        free(b);
        free(ai);
        free(bi);
        free(after);
}

static void check_dir(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *e;

        if (!d) {
                fail(dir, "cannot open");
                return;
        }
        while ((e = readdir(d))) {
                char path[4096];
                if (e->d_name[0] == '.' || (!strstr(e->d_name, ".xml") && !strstr(e->d_name, ".canonical") &&
                                            !strstr(e->d_name, ".live")))
                        continue;
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                check_file(path);
        }
        closedir(d);
}

int main(void) {
        const char *data = getenv("VMGMT_CONF_DATA");
        char canonical[4096];
        DomainDef *empty = domain_def_new(), *copy;

        if (!data) {
                fprintf(stderr, "VMGMT_CONF_DATA is not set\n");
                return 1;
        }
        check_dir(data);
        snprintf(canonical, sizeof canonical, "%s/canonical", data);
        check_dir(canonical);
        /* an empty definition: no UUID yet, nothing set */
        copy = domain_def_copy(empty);
        if (!copy || copy->has_uuid || copy->name || copy->memballoon || copy->n_disks)
                fail("(empty)", "the copy of an empty definition is not empty");
        domain_def_free(copy);
        domain_def_free(empty);
        if (checked < 10)
                fail(data, "too few samples parsed");
        printf("%s: %u definitions copied\n", failures ? "FAIL" : "ok", checked);
        return failures ? 1 : 0;
}
