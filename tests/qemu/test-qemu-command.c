/* test-qemu-command.c — qemu argv golden files (XML and hand-built) and option smuggling. */
#include "conf/domain-conf.h"
#include "test-qemu-defs.h"

static void test_escape(void) {
        _cleanup_free_ char *a = qemu_escape_option_value("/tmp/a,b.img");
        _cleanup_free_ char *b = qemu_escape_option_value(",,");
        _cleanup_free_ char *e = qemu_escape_option_value("");
        CHECK_STREQ(a, "/tmp/a,,b.img");
        CHECK_STREQ(b, ",,,,");
        CHECK_STREQ(e, "");
}

static void test_handbuilt_golden(void) {
        DomainControllerDef ctrls[8];
        DomainDiskDef disks[3];
        DomainNetDef nets[1];
        DomainChrDef serials[1], consoles[1];
        DomainVideoDef videos[1];
        DomainInputDef inputs[3];
        DomainGraphicsDef graphics[1];
        DomainRngDef rngs[1];
        DomainTimerDef timers[3];
        DomainDef d;
        g_autofree char *out = NULL;

        def_init_i440fx(&d, ctrls);
        d.name = S("hand,built=1 x");
        d.title = S("title,process=evil");
        d.vcpus = 2;
        d.kernel = S(GOLDEN_BOOT_DIR "/vmlinuz");
        d.initrd = S(GOLDEN_BOOT_DIR "/initrd.img");
        d.cmdline = S("console=ttyS0 quiet,foo=bar -device e1000");
        d.pm_suspend_to_mem = 0;
        d.pm_suspend_to_disk = 0;
        d.on_reboot = DOMAIN_ACTION_DESTROY;
        timers[0] = (DomainTimerDef) { .name = S("rtc"), .tickpolicy = S("catchup"), .present = -1 };
        timers[1] = (DomainTimerDef) { .name = S("pit"), .tickpolicy = S("delay"), .present = -1 };
        timers[2] = (DomainTimerDef) { .name = S("hpet"), .present = 0 };
        d.timers = timers;
        d.n_timers = 3;
        ctrls[2] = (DomainControllerDef) { .type = S("ide"), .index = 0, .ports = -1, .vectors = -1, .target_chassis = -1,
                                           .target_port = -1, .address = pci(0, 1, 1) };
        ctrls[3] = (DomainControllerDef) { .type = S("scsi"), .index = 0, .model = S("virtio-scsi"), .ports = -1, .vectors = -1,
                                           .target_chassis = -1, .target_port = -1, .address = pci(0, 5, 0) };
        d.n_controllers = 4;
        disks[0] = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_FILE, .device = DOMAIN_DISK_DEVICE_DISK,
                                     .source = S(GOLDEN_IMAGE_DIR "/a,b.qcow2"), .driver_name = S("qemu"),
                                     .driver_type = S("qcow2"), .driver_cache = S("writeback"), .driver_discard = S("unmap"),
                                     .target_dev = S("vda"), .bus = DOMAIN_DISK_BUS_VIRTIO, .boot_order = 1,
                                     .serial = S("SER,drive=x"), .address = pci(0, 4, 0) };
        disks[1] = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_FILE, .device = DOMAIN_DISK_DEVICE_CDROM,
                                     .target_dev = S("hdc"), .bus = DOMAIN_DISK_BUS_IDE, .readonly = true,
                                     .address = drive(0, 1, 0) };
        disks[2] = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_FILE, .device = DOMAIN_DISK_DEVICE_DISK,
                                     .source = S(GOLDEN_IMAGE_DIR "/data.raw"), .driver_type = S("raw"),
                                     .target_dev = S("sda"), .bus = DOMAIN_DISK_BUS_SCSI, .readonly = true,
                                     .address = drive(0, 0, 0) };
        d.disks = disks;
        d.n_disks = 3;
        nets[0] = (DomainNetDef) { .type = DOMAIN_NET_TYPE_USER, .mac = S("52:54:00:12:34:56"), .model = S("e1000"),
                                   .boot_order = 2, .address = pci(0, 6, 0) };
        d.nets = nets;
        d.n_nets = 1;
        serials[0] = (DomainChrDef) { .kind = DOMAIN_CHR_SERIAL, .type = S("pty"), .target_type = S("isa-serial"),
                                      .target_model = S("isa-serial"), .target_port = 0 };
        consoles[0] = (DomainChrDef) { .kind = DOMAIN_CHR_CONSOLE, .type = S("pty"), .target_type = S("serial"), .target_port = 0 };
        d.serials = serials;
        d.n_serials = 1;
        d.consoles = consoles;
        d.n_consoles = 1;
        graphics[0] = (DomainGraphicsDef) { .type = S("vnc"), .port = -1, .autoport = true, .passwd = S("secret,x") };
        d.graphics = graphics;
        d.n_graphics = 1;
        videos[0] = (DomainVideoDef) { .model = S("vga"), .vram = 16384, .heads = 1, .primary = true, .address = pci(0, 2, 0) };
        d.videos = videos;
        d.n_videos = 1;
        inputs[0] = (DomainInputDef) { .type = S("tablet"), .bus = S("usb"),
                                       .address = { .type = DOMAIN_ADDRESS_USB, .usb_port = S("1") } };
        inputs[1] = (DomainInputDef) { .type = S("mouse"), .bus = S("ps2") };
        inputs[2] = (DomainInputDef) { .type = S("keyboard"), .bus = S("ps2") };
        d.inputs = inputs;
        d.n_inputs = 3;
        rngs[0] = (DomainRngDef) { .model = S("virtio"), .backend_model = S("random"), .backend_path = S("/dev/urandom"),
                                   .rate_bytes = 1024, .rate_period = 1000, .address = pci(0, 7, 0) };
        d.rngs = rngs;
        d.n_rngs = 1;

        {
                /* the qcow2 has a backing file: every layer is its own node, from its own fd */
                static const char *const backing[] = { GOLDEN_IMAGE_DIR "/base,1.qcow2 qcow2", NULL, NULL };
                _cleanup_free_ char *err = NULL;
                g_autofree char *fds = NULL;
                char **argv = NULL;
                CHECK(test_command_build(&d, &golden_ctx, backing, &argv, &err, &fds) == 0);
                out = argv ? g_strjoinv("\n", argv) : g_strdup("");
                g_strfreev(argv);
                golden_compare("handbuilt-i440fx", out);
                golden_compare_ext("handbuilt-i440fx", ".fds", fds ? fds : "");
                CHECK(strstr(out, "{\"node-name\":\"disk0-backing1-format\",\"read-only\":true,") && strstr(out, "\"driver\":\"qcow2\",\"file\":\"disk0-backing1-storage\",\"backing\":null}"));
                CHECK(strstr(out, ",file=disk0-storage,backing=disk0-backing1-format"));
        }
        CHECK(!strstr(out, "secret"));
        CHECK(!strstr(out, "title"));
        CHECK(strstr(out, "\nguest=hand,,built=1 x,debug-threads=on\n"));
        CHECK(strstr(out, "\nconsole=ttyS0 quiet,foo=bar -device e1000\n"));
        CHECK(strstr(out, ",serial=SER,,drive=x"));
        check_no_smuggling(out, (const char *const[]) { "e1000", NULL });
}

/* ---- smuggling: hostile values must not change the shape of the command line ---- */

static bool opt_takes_value(const char *opt) {
        return !STR_IN_SET(opt, "-S", "-no-user-config", "-nodefaults", "-no-shutdown");
}

/* The keys of a qemu option string as qemu's own parsers see them (QemuOpts
 * and keyval agree here): at each element the key runs to the first '=' or
 * ','; with ',' first, the element is the implied first value (or a flag);
 * a value runs to the next single ',' (",," is a literal comma). Returns a
 * '|'-joined list of keys; values are dropped. */
static char *opt_keys(const char *s) {
        GString *o = g_string_new(NULL);
        const char *p = s;

        for (;;) {
                size_t len = strcspn(p, "=,");
                if (p[len] == '=') {
                        g_string_append_len(o, p, (gssize) len);
                        p += len + 1;
                } else if (p == s) {
                        /* implied first value: key "" */
                } else {
                        g_string_append_len(o, p, (gssize) len); /* a flag */
                        p += len;
                }
                /* skip the value */
                while (*p && !(*p == ',' && p[1] != ',')) {
                        if (*p == ',')
                                p++;
                        p++;
                }
                g_string_append_c(o, '|');
                if (!*p)
                        break;
                p++;
        }
        return g_string_free(o, FALSE);
}

/* "-opt keys…" for every option; positional values are reduced to "value". */
static char *argv_shape(char **argv) {
        GString *o = g_string_new(NULL);

        for (size_t i = 1; argv[i]; i++) {
                const char *opt = argv[i];
                g_string_append_printf(o, "%s", opt);
                if (opt_takes_value(opt) && argv[i + 1]) {
                        i++;
                        if (STR_IN_SET(opt, "-kernel", "-initrd", "-append", "-bios", "-uuid"))
                                g_string_append(o, " value");
                        else {
                                g_autofree char *k = opt_keys(argv[i]);
                                g_string_append_printf(o, " %s", k);
                        }
                }
                g_string_append_c(o, '\n');
        }
        return g_string_free(o, FALSE);
}

/* Fills every XML-derived text field of a rich domain with `v` (paths get a '/' prefix). */
static char *shape_with(const char *v, char **ret_error) {
        DomainControllerDef ctrls[8];
        DomainDiskDef disks[2];
        DomainNetDef nets[1];
        DomainChrDef serials[1], channels[1];
        DomainGraphicsDef graphics[1];
        DomainRngDef rngs[1];
        DomainDef d;
        g_autofree char *path = g_strdup_printf("/images/%s", v);
        g_autofree char *sock = g_strdup_printf("/run/%s", v);
        char **argv = NULL, *shape;
        int r;

        def_init_i440fx(&d, ctrls);
        d.name = S(v);
        d.title = S(v);
        d.description = S(v);
        d.kernel = path;
        d.initrd = path;
        d.cmdline = S(v);
        d.loader = path;
        ctrls[2] = (DomainControllerDef) { .type = S("virtio-serial"), .index = 0, .ports = -1, .vectors = -1,
                                           .target_chassis = -1, .target_port = -1, .address = pci(0, 9, 0) };
        d.n_controllers = 3;
        disks[0] = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_FILE, .device = DOMAIN_DISK_DEVICE_DISK, .source = path,
                                     .driver_type = S("raw"), .target_dev = S("vda"), .bus = DOMAIN_DISK_BUS_VIRTIO,
                                     .serial = S(v), .address = pci(0, 4, 0) };
        disks[1] = (DomainDiskDef) { .type = DOMAIN_DISK_TYPE_BLOCK, .device = DOMAIN_DISK_DEVICE_CDROM, .source = path,
                                     .target_dev = S("hdc"), .bus = DOMAIN_DISK_BUS_IDE, .address = drive(0, 1, 0) };
        d.disks = disks;
        d.n_disks = 2;
        nets[0] = (DomainNetDef) { .type = DOMAIN_NET_TYPE_USER, .mac = S("52:54:00:00:00:01"), .model = S("virtio") };
        d.nets = nets;
        d.n_nets = 1;
        serials[0] = (DomainChrDef) { .kind = DOMAIN_CHR_SERIAL, .type = S("pty"), .target_port = 0, .source_path = S(v) };
        d.serials = serials;
        d.n_serials = 1;
        channels[0] = (DomainChrDef) { .kind = DOMAIN_CHR_CHANNEL, .type = S("unix"), .target_type = S("virtio"),
                                       .target_name = S(v), .target_port = -1, .source_path = sock };
        d.channels = channels;
        d.n_channels = 1;
        graphics[0] = (DomainGraphicsDef) { .type = S("vnc"), .port = -1, .autoport = true, .listen_type = S("socket"),
                                            .listen = sock, .passwd = S(v) };
        d.graphics = graphics;
        d.n_graphics = 1;
        rngs[0] = (DomainRngDef) { .model = S("virtio"), .backend_model = S("random"), .backend_path = path };
        d.rngs = rngs;
        d.n_rngs = 1;

        r = test_command_build(&d, &golden_ctx, NULL, &argv, ret_error, NULL);
        if (r < 0)
                return NULL;
        shape = argv_shape(argv);
        g_strfreev(argv);
        return shape;
}

static void test_smuggling(void) {
        static const char *const hostile[] = {
                ",", ",,", ",,,", "a,b", "a,,b", "x,id=evil", "x,,id=evil", "=", "a=b", "x,server=off,wait=on",
                " -device e1000", "-device", "help", "?", "x,password=off", "x,driver=nbd,host=example.org",
                "x,file.driver=ssh", "json:{\"driver\":\"nbd\"}", "x\\,y", "trailing,", ",leading", "ünï,cödé",
        };
        g_autofree char *benign = shape_with("plain", NULL);

        CHECK(benign);
        for (size_t i = 0; i < ELEMENTSOF(hostile); i++) {
                _cleanup_free_ char *err = NULL;
                g_autofree char *shape = shape_with(hostile[i], &err);
                if (!shape) {
                        fprintf(stderr, "hostile value '%s' was refused: %s\n", hostile[i], err ? err : "?");
                        test_failures++;
                        continue;
                }
                if (!streq(shape, benign)) {
                        fprintf(stderr, "hostile value '%s' changed the command line shape:\n%s\n--- vs ---\n%s\n",
                                hostile[i], shape, benign);
                        test_failures++;
                }
        }

        /* random strings over the characters that mean something to qemu's parsers */
        {
                static const char alphabet[] = ",,,===a-: /.?\\\"{}";
                GRand *rnd = g_rand_new_with_seed(4242);
                for (unsigned iter = 0; iter < 2000; iter++) {
                        char v[24];
                        size_t len = (size_t) g_rand_int_range(rnd, 1, (gint32) sizeof(v));
                        _cleanup_free_ char *err = NULL;
                        g_autofree char *shape = NULL;

                        for (size_t k = 0; k < len - 1; k++)
                                v[k] = alphabet[g_rand_int_range(rnd, 0, (gint32) sizeof(alphabet) - 1)];
                        v[len - 1] = '\0';
                        if (!v[0])
                                continue;
                        shape = shape_with(v, &err);
                        if (!shape || !streq(shape, benign)) {
                                fprintf(stderr, "random value '%s' %s\n", v, shape ? "changed the shape" : err);
                                test_failures++;
                                break;
                        }
                }
                g_rand_free(rnd);
        }
}

/* Values that go where qemu cannot escape them are refused, not passed on. */
/* ---- XML golden files: data/NAME.xml → data/NAME.args ---- */

static const char *golden_emulator_for_arch(void *userdata, const char *arch) {
        return !arch || streq(arch, "x86_64") ? "/usr/bin/qemu-system-x86_64" : NULL;
}

/* The fixed table of qemu 7.2, so the goldens do not depend on the installed qemu. */
static const char *golden_resolve_machine(void *userdata, const char *emulator, const char *machine) {
        if (!machine || streq(machine, "pc"))
                return "pc-i440fx-7.2";
        if (streq(machine, "q35"))
                return "pc-q35-7.2";
        if (g_str_has_prefix(machine, "pc-i440fx-") || g_str_has_prefix(machine, "pc-q35-"))
                return machine;
        return NULL;
}

static const DomainNormalizeCtx golden_normalize_ctx = {
        .emulator_for_arch = golden_emulator_for_arch,
        .resolve_machine = golden_resolve_machine,
};

#define GOLDEN_SECRET_VALUE "golden-secret-value-never-on-the-command-line"

/* Parse + normalize + build; the result text is the argv, or "error: …" / "conf-error: …". */
static char *golden_build_xml(const char *name, const char *xml, size_t len, DomainDef **ret_def, char **ret_fds) {
        QemuCommandCtx ctx = golden_ctx;
        ConfError cerr = { 0 };
        DomainDef *def = NULL;
        char **argv = NULL, *err = NULL, *out;
        int r;

        r = domain_def_parse(xml, len, &def, &cerr);
        if (r >= 0)
                r = domain_def_normalize(def, &golden_normalize_ctx, &cerr);
        if (r < 0) {
                out = g_strdup_printf("conf-error: %s", cerr.message ? cerr.message : "(no message)");
                conf_error_clear(&cerr);
                domain_def_free(def);
                return out;
        }
        ctx.kvm_usable = g_str_has_prefix(name, "kvm-");
        if (g_str_has_prefix(name, "tap-")) {
                /* the runtime opens taps and hands the fds over (later issues) */
                static const int fds[] = { 21, 22, -1, 24 };
                if (def->n_nets <= ELEMENTSOF(fds))
                        ctx.net_fds = fds;
        }
        /* network disks with <auth>: the value the service would have looked up, never in the argv */
        for (size_t i = 0; i < def->n_disks; i++)
                if (def->disks[i].net.auth_username && !def->disks[i].net.secret_value) {
                        def->disks[i].net.secret_value = (uint8_t *) g_strdup(GOLDEN_SECRET_VALUE);
                        def->disks[i].net.secret_len = strlen(GOLDEN_SECRET_VALUE);
                }
        r = test_command_build(def, &ctx, NULL, &argv, &err, ret_fds);
        if (r < 0)
                out = g_strdup_printf("error: %s", err ? err : "(no message)");
        else
                out = g_strjoinv("\n", argv);
        if (strstr(out, GOLDEN_SECRET_VALUE) || (ret_fds && *ret_fds && strstr(*ret_fds, GOLDEN_SECRET_VALUE)))
                g_error("%s: a secret's value is on the command line:\n%s", name, out);
        if (argv)
                g_strfreev(argv);
        free(err);
        if (ret_def)
                *ret_def = def;
        else
                domain_def_free(def);
        return out;
}

static void test_golden_xml(void) {
        g_autoptr(GDir) dir = g_dir_open(golden_data_dir(), 0, NULL);
        const char *e;
        unsigned n = 0;

        CHECK(dir);
        while (dir && (e = g_dir_read_name(dir))) {
                g_autofree char *name = NULL, *path = NULL, *xml = NULL, *out = NULL, *fds = NULL;
                DomainDef *def = NULL;
                gsize len = 0;

                if (!g_str_has_suffix(e, ".xml"))
                        continue;
                name = g_strndup(e, strlen(e) - 4);
                path = g_strdup_printf("%s/%s", golden_data_dir(), e);
                CHECK(g_file_get_contents(path, &xml, &len, NULL));
                out = golden_build_xml(name, xml, len, &def, &fds);
                golden_compare(name, out);
                golden_compare_ext(name, ".fds", fds ? fds : "");
                if (g_str_has_prefix(name, "err-")) {
                        if (!g_str_has_prefix(out, "error: ")) {
                                fprintf(stderr, "%s: expected a build error\n", name);
                                test_failures++;
                        }
                } else if (g_str_has_prefix(out, "error: ") || g_str_has_prefix(out, "conf-error: ")) {
                        fprintf(stderr, "%s: %s\n", name, out);
                        test_failures++;
                }

                /* The canonical XML of the normalized definition must build the same command line. */
                if (def) {
                        g_autofree char *canon = domain_def_format(def, DOMAIN_FORMAT_SECURE);
                        g_autofree char *again = canon ? golden_build_xml(name, canon, strlen(canon), NULL, NULL) : NULL;
                        if (!again || !streq(again, out)) {
                                fprintf(stderr, "%s: command line changes after format + parse + normalize:\n%s\n---\n%s\n",
                                        name, out, again ? again : "(format failed)");
                                test_failures++;
                        }
                        domain_def_free(def);
                }
                n++;
        }
        CHECK(n >= 10);
}

int main(void) {
        test_escape();
        test_golden_xml();
        test_handbuilt_golden();
        test_smuggling();
        return TEST_EXIT();
}
