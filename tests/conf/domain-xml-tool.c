/* domain-xml-tool.c — debugging aid: parse (and normalize as for qemu 7.2) a domain XML file and print the canonical form. */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "macro.h"

static const char *emulator_for_arch(void *userdata, const char *arch) {
        return streq(arch, "x86_64") ? "/usr/bin/qemu-system-x86_64" : NULL;
}

static const char *resolve_machine(void *userdata, const char *emulator, const char *machine) {
        if (!machine || streq(machine, "pc") || streq(machine, "pc-i440fx-7.2"))
                return "pc-i440fx-7.2";
        if (streq(machine, "q35") || streq(machine, "pc-q35-7.2"))
                return "pc-q35-7.2";
        return NULL;
}

int main(int argc, char *argv[]) {
        DomainNormalizeCtx ctx = { .emulator_for_arch = emulator_for_arch, .resolve_machine = resolve_machine };
        bool normalize = true;
        DomainFormatFlags flags = 0;
        const char *file = NULL;
        _cleanup_free_ char *xml = NULL;
        DomainDef *def = NULL;
        ConfError err = {};
        size_t len;
        int r;

        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--no-normalize"))
                        normalize = false;
                else if (streq(argv[i], "--inactive"))
                        flags |= DOMAIN_FORMAT_INACTIVE;
                else if (streq(argv[i], "--secure"))
                        flags |= DOMAIN_FORMAT_SECURE;
                else
                        file = argv[i];
        }
        if (!file) {
                fprintf(stderr, "usage: %s [--no-normalize] [--inactive] [--secure] FILE\n", argv[0]);
                return 2;
        }
        if (!g_file_get_contents(file, &xml, &len, NULL)) {
                fprintf(stderr, "cannot read %s\n", file);
                return 1;
        }
        r = domain_def_parse(xml, len, &def, &err);
        if (r >= 0 && normalize)
                r = domain_def_normalize(def, &ctx, &err);
        if (r < 0) {
                fprintf(stderr, "error: %s\n", err.message ?: strerror(-r));
                conf_error_clear(&err);
                domain_def_free(def);
                return 1;
        }
        _cleanup_free_ char *out = domain_def_format(def, flags);
        fputs(out, stdout);
        domain_def_free(def);
        return 0;
}
