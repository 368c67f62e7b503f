/* fuzz-domain-xml.c — libFuzzer target: parse, normalize, format and re-parse arbitrary domain XML. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "macro.h"

static const char *emulator_for_arch(void *userdata, const char *arch) {
        return "/usr/bin/qemu-system-x86_64";
}

static const char *resolve_machine(void *userdata, const char *emulator, const char *machine) {
        if (!machine || streq(machine, "pc"))
                return "pc-i440fx-7.2";
        if (streq(machine, "q35"))
                return "pc-q35-7.2";
        return strstr(machine, "q35") || strstr(machine, "i440fx") ? machine : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        DomainNormalizeCtx ctx = { .emulator_for_arch = emulator_for_arch, .resolve_machine = resolve_machine };
        DomainDef *def = NULL, *again = NULL;
        ConfError err = {};
        char *out = NULL, *out2 = NULL;

        if (domain_def_parse((const char *) data, size, &def, &err) < 0)
                goto done;
        out = domain_def_format(def, DOMAIN_FORMAT_SECURE);
        if (domain_def_normalize(def, &ctx, &err) < 0)
                goto done;
        free(out);
        out = domain_def_format(def, DOMAIN_FORMAT_SECURE);
        /* The canonical form must parse back and format identically. */
        if (domain_def_parse(out, strlen(out), &again, &err) < 0)
                abort();
        if (domain_def_normalize(again, &ctx, &err) < 0)
                abort();
        out2 = domain_def_format(again, DOMAIN_FORMAT_SECURE);
        if (!streq(out, out2))
                abort();
done:
        free(out);
        free(out2);
        domain_def_free(def);
        domain_def_free(again);
        conf_error_clear(&err);
        return 0;
}
