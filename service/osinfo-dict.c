/* osinfo-dict.c — the dicts of GetOSInfo, ListOSInfo and DetectOSInfo (osinfo-dict.h) from libosinfo's objects. */
#include <stdbool.h>
#include <string.h>

#include "macro.h"
#include "osinfo-dict.h"

/* The resources and firmware a domain of this host gets: osinfo's values for
 * this architecture, else those it gives for every architecture. */
#define OSINFO_HOST_ARCH "x86_64"

static int append_string(sd_bus_message *reply, const char *key, const char *value) {
        return sd_bus_message_append(reply, "{sv}", key, "s", strempty(value));
}

static int append_strv(sd_bus_message *reply, const char *key, GPtrArray *values) {
        int r;

        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "s");
        for (guint i = 0; r >= 0 && values && i < values->len; i++)
                r = sd_bus_message_append(reply, "s", (const char *) values->pdata[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

/* Opens {sv} key → v of signature (an a{sv} or an aa{sv}); closed by close_entry(). */
static int open_entry(sd_bus_message *reply, const char *key, const char *signature) {
        int r;

        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', signature);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', signature + 1);
        return r;
}

static int close_entry(sd_bus_message *reply) {
        int r;

        r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

int osinfo_dict_append_summary(sd_bus_message *reply, OsinfoOs *os) {
        OsinfoProduct *p = OSINFO_PRODUCT(os);
        const struct { const char *key, *value; } fields[] = {
                { "id", osinfo_entity_get_id(OSINFO_ENTITY(os)) },
                { "short_id", osinfo_product_get_short_id(p) },
                { "name", osinfo_product_get_name(p) },
                { "vendor", osinfo_product_get_vendor(p) },
                { "version", osinfo_product_get_version(p) },
                { "family", osinfo_os_get_family(os) },
                { "distro", osinfo_os_get_distro(os) },
                { "release_date", osinfo_product_get_release_date_string(p) },
                { "eol_date", osinfo_product_get_eol_date_string(p) },
        };
        int r = 0;

        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(fields); i++)
                r = append_string(reply, fields[i].key, fields[i].value);
        return r;
}

static bool arch_applies(const char *arch, const char *pass) {
        return streq_ptr(arch, pass);
}

/* ram t (bytes), vcpus u, storage t: each the host arch's value, else the
 * value for every arch, absent when osinfo has neither. */
static int append_resources(sd_bus_message *reply, const char *key, OsinfoResourcesList *list) {
        static const char *const passes[] = { OSINFO_HOST_ARCH, OSINFO_ARCHITECTURE_ALL };
        gint64 ram = -1, storage = -1;
        gint cpus = -1;
        int r;

        for (size_t p = 0; p < G_N_ELEMENTS(passes); p++)
                for (gint i = 0; list && i < osinfo_list_get_length(OSINFO_LIST(list)); i++) {
                        OsinfoResources *res = OSINFO_RESOURCES(osinfo_list_get_nth(OSINFO_LIST(list), i));

                        if (!arch_applies(osinfo_resources_get_architecture(res), passes[p]))
                                continue;
                        if (ram <= 0)
                                ram = osinfo_resources_get_ram(res);
                        if (storage <= 0)
                                storage = osinfo_resources_get_storage(res);
                        if (cpus <= 0)
                                cpus = osinfo_resources_get_n_cpus(res);
                }
        r = open_entry(reply, key, "a{sv}");
        if (r >= 0 && ram > 0)
                r = sd_bus_message_append(reply, "{sv}", "ram", "t", (uint64_t) ram);
        if (r >= 0 && cpus > 0)
                r = sd_bus_message_append(reply, "{sv}", "vcpus", "u", (uint32_t) cpus);
        if (r >= 0 && storage > 0)
                r = sd_bus_message_append(reply, "{sv}", "storage", "t", (uint64_t) storage);
        if (r >= 0)
                r = close_entry(reply);
        return r;
}

static gint compare_strings(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The short names of every device the OS supports (its own and what it
 * inherits), sorted, each once; strings borrowed from the database. */
static GPtrArray *os_device_names(OsinfoOs *os) {
        g_autoptr(OsinfoDeviceList) devices = osinfo_os_get_all_devices(os, NULL);
        GPtrArray *names = g_ptr_array_new();
        guint j = 0;

        for (gint i = 0; i < osinfo_list_get_length(OSINFO_LIST(devices)); i++) {
                const char *name = osinfo_device_get_name(OSINFO_DEVICE(osinfo_list_get_nth(OSINFO_LIST(devices), i)));
                if (!isempty(name))
                        g_ptr_array_add(names, (gpointer) name);
        }
        g_ptr_array_sort(names, compare_strings);
        for (guint i = 0; i < names->len; i++)
                if (j == 0 || !streq(names->pdata[j - 1], names->pdata[i]))
                        names->pdata[j++] = names->pdata[i];
        g_ptr_array_set_size(names, j);
        return names;
}

static bool has_virtio_device(GPtrArray *names, const char *kind) {
        for (guint i = 0; i < names->len; i++)
                if (g_str_has_prefix(names->pdata[i], "virtio") && g_str_has_suffix(names->pdata[i], kind))
                        return true;
        return false;
}

/* Whether a device's short name ends in suffix (osinfo prefixes a chipset with its emulator's name). */
static bool has_device_ending(GPtrArray *names, const char *suffix) {
        for (guint i = 0; i < names->len; i++)
                if (g_str_has_suffix(names->pdata[i], suffix))
                        return true;
        return false;
}

/* bios unless osinfo says it is not supported, efi when it says it is (host arch or every arch). */
static int append_firmware(sd_bus_message *reply, OsinfoOs *os) {
        g_autoptr(OsinfoFirmwareList) list = osinfo_os_get_complete_firmware_list(os, NULL);
        g_autoptr(GPtrArray) types = g_ptr_array_new();
        bool bios = true, efi = false;

        for (gint i = 0; i < osinfo_list_get_length(OSINFO_LIST(list)); i++) {
                OsinfoFirmware *f = OSINFO_FIRMWARE(osinfo_list_get_nth(OSINFO_LIST(list), i));
                const char *arch = osinfo_firmware_get_architecture(f), *type = osinfo_firmware_get_firmware_type(f);

                if (!arch_applies(arch, OSINFO_HOST_ARCH) && !arch_applies(arch, OSINFO_ARCHITECTURE_ALL))
                        continue;
                if (streq_ptr(type, "bios"))
                        bios = osinfo_firmware_is_supported(f);
                else if (streq_ptr(type, "efi"))
                        efi = osinfo_firmware_is_supported(f);
        }
        if (bios)
                g_ptr_array_add(types, (gpointer) "bios");
        if (efi)
                g_ptr_array_add(types, (gpointer) "efi");
        return append_strv(reply, "firmware", types);
}

/* volume_id, arch, installer, live of a medium (the entries only). */
static int append_media_fields(sd_bus_message *reply, OsinfoMedia *media) {
        int r;

        r = append_string(reply, "arch", osinfo_media_get_architecture(media));
        if (r >= 0)
                r = append_string(reply, "volume_id", osinfo_media_get_volume_id(media));
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}", "installer", "b", (int) osinfo_media_get_installer(media),
                                          "live", "b", (int) osinfo_media_get_live(media));
        return r;
}

static int append_media_entry(sd_bus_message *reply, OsinfoMedia *media) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = append_string(reply, "url", osinfo_media_get_url(media));
        if (r >= 0)
                r = append_media_fields(reply, media);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

/* libosinfo's lists come in no fixed order: by arch, then url, then volume id (media), for stable replies. */
static gint compare_media(gconstpointer a, gconstpointer b) {
        OsinfoMedia *x = *(OsinfoMedia *const *) a, *y = *(OsinfoMedia *const *) b;
        int c = g_strcmp0(osinfo_media_get_architecture(x), osinfo_media_get_architecture(y));

        if (c == 0)
                c = g_strcmp0(osinfo_media_get_url(x), osinfo_media_get_url(y));
        return c != 0 ? c : g_strcmp0(osinfo_media_get_volume_id(x), osinfo_media_get_volume_id(y));
}

static gint compare_trees(gconstpointer a, gconstpointer b) {
        OsinfoTree *x = *(OsinfoTree *const *) a, *y = *(OsinfoTree *const *) b;
        int c = g_strcmp0(osinfo_tree_get_architecture(x), osinfo_tree_get_architecture(y));

        return c != 0 ? c : g_strcmp0(osinfo_tree_get_url(x), osinfo_tree_get_url(y));
}

/* The elements of list (borrowed), sorted with compare. */
static GPtrArray *list_sorted(OsinfoList *list, GCompareFunc compare) {
        GPtrArray *a = g_ptr_array_new();

        for (gint i = 0; i < osinfo_list_get_length(list); i++)
                g_ptr_array_add(a, osinfo_list_get_nth(list, i));
        g_ptr_array_sort(a, compare);
        return a;
}

static int append_install_media(sd_bus_message *reply, OsinfoOs *os) {
        g_autoptr(OsinfoMediaList) list = osinfo_os_get_media_list(os);
        g_autoptr(GPtrArray) media = list_sorted(OSINFO_LIST(list), compare_media);
        int r;

        r = open_entry(reply, "install_media", "aa{sv}");
        for (guint i = 0; r >= 0 && i < media->len; i++)
                r = append_media_entry(reply, media->pdata[i]);
        if (r >= 0)
                r = close_entry(reply);
        return r;
}

static int append_install_trees(sd_bus_message *reply, OsinfoOs *os) {
        g_autoptr(OsinfoTreeList) list = osinfo_os_get_tree_list(os);
        g_autoptr(GPtrArray) trees = list_sorted(OSINFO_LIST(list), compare_trees);
        int r;

        r = open_entry(reply, "install_trees", "aa{sv}");
        for (guint i = 0; r >= 0 && i < trees->len; i++) {
                OsinfoTree *t = trees->pdata[i];

                r = sd_bus_message_open_container(reply, 'a', "{sv}");
                if (r >= 0)
                        r = append_string(reply, "url", osinfo_tree_get_url(t));
                if (r >= 0)
                        r = append_string(reply, "arch", osinfo_tree_get_architecture(t));
                if (r >= 0)
                        r = append_string(reply, "kernel", osinfo_tree_get_kernel_path(t));
                if (r >= 0)
                        r = append_string(reply, "initrd", osinfo_tree_get_initrd_path(t));
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = close_entry(reply);
        return r;
}

int osinfo_dict_append_os(sd_bus_message *reply, OsinfoOs *os) {
        g_autoptr(GPtrArray) devices = os_device_names(os);
        g_autoptr(GPtrArray) short_ids = g_ptr_array_new();
        g_autoptr(OsinfoResourcesList) minimum = osinfo_os_get_minimum_resources(os);
        g_autoptr(OsinfoResourcesList) recommended = osinfo_os_get_recommended_resources(os);
        g_autoptr(OsinfoResourcesList) maximum = osinfo_os_get_maximum_resources(os);
        GList *ids = osinfo_product_get_short_id_list(OSINFO_PRODUCT(os));
        int r;

        for (GList *e = ids; e; e = e->next)
                g_ptr_array_add(short_ids, e->data);
        g_list_free(ids);
        r = osinfo_dict_append_summary(reply, os);
        if (r >= 0)
                r = append_strv(reply, "short_ids", short_ids);
        if (r >= 0)
                r = append_resources(reply, "minimum", minimum);
        if (r >= 0)
                r = append_resources(reply, "recommended", recommended);
        if (r >= 0)
                r = append_resources(reply, "maximum", maximum);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}", "virtio", "b",
                                          (int) (has_virtio_device(devices, "-block") && has_virtio_device(devices, "-net")),
                                          "q35", "b", (int) has_device_ending(devices, "-x86-q35"));
        if (r >= 0)
                r = append_strv(reply, "devices", devices);
        if (r >= 0)
                r = append_firmware(reply, os);
        if (r >= 0)
                r = append_install_media(reply, os);
        if (r >= 0)
                r = append_install_trees(reply, os);
        return r;
}

int osinfo_dict_append_media(sd_bus_message *reply, const char *key, OsinfoMedia *media) {
        int r;

        r = open_entry(reply, key, "a{sv}");
        if (r >= 0)
                r = append_media_fields(reply, media);
        if (r >= 0)
                r = close_entry(reply);
        return r;
}
