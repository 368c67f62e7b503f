/* osinfo-db.c — the vmgmt-osinfo.so module (osinfo-db.h): libosinfo's database loaded, looked up, listed,
 * and install media identified. Runs in osinfo.c's threads (load, detect) and on its loop (lookups). */
#include <errno.h>
#include <string.h>

#include <osinfo/osinfo.h>

#include "macro.h"
#include "osinfo-db.h"
#include "osinfo-dict.h"

struct VmOsDb {
        OsinfoDb *db;
        GHashTable *by_short_id;    /* short id → OsinfoOs* (borrowed from db) */
};

struct VmOsMedia {
        OsinfoMedia *media;         /* what the medium says of itself… */
        OsinfoOs *os;               /* …and the OS it matched, NULL for none */
};

struct VmOsCancel {
        GCancellable *cancellable;
};

/* LeakSanitizer's (the ASan build's) per-thread pause: what libosinfo
 * allocates in between and leaks itself — also in a program that only loads
 * the database and unrefs the loader — is not reported as vmgmtd's. Only
 * those calls are covered: the database, the loader and the media objects
 * vmgmtd holds are allocated outside and stay checked. Weak: absent, and
 * not called, without the sanitizer. */
extern void __lsan_disable(void) __attribute__((weak));
extern void __lsan_enable(void) __attribute__((weak));

static void lsan_ignore_begin(void) {
        if (__lsan_disable)
                __lsan_disable();
}

static void lsan_ignore_end(void) {
        if (__lsan_enable)
                __lsan_enable();
}

static void db_free(VmOsDb *d) {
        if (!d)
                return;
        if (d->by_short_id)
                g_hash_table_destroy(d->by_short_id);
        g_clear_object(&d->db);
        g_free(d);
}

static VmOsDb *db_load(char **error) {
        g_autoptr(OsinfoLoader) loader = osinfo_loader_new();
        g_autoptr(GError) err = NULL;
        g_autoptr(OsinfoOsList) list = NULL;
        VmOsDb *d;

        /* OSINFO_SYSTEM_DIR (default /usr/share/osinfo), /etc/osinfo, the user's: libosinfo's own path */
        lsan_ignore_begin();   /* libosinfo 1.10 leaks a few blocks of its own on every load */
        osinfo_loader_process_default_path(loader, &err);
        lsan_ignore_end();
        if (err) {
                *error = g_strdup_printf("The OS database (osinfo-db) cannot be loaded: %s", err->message);
                return NULL;
        }
        d = g_new0(VmOsDb, 1);
        d->db = g_object_ref(osinfo_loader_get_db(loader));
        list = osinfo_db_get_os_list(d->db);
        d->by_short_id = g_hash_table_new(g_str_hash, g_str_equal);
        for (gint i = 0; i < osinfo_list_get_length(OSINFO_LIST(list)); i++) {
                OsinfoOs *os = OSINFO_OS(osinfo_list_get_nth(OSINFO_LIST(list), i));
                GList *ids = osinfo_product_get_short_id_list(OSINFO_PRODUCT(os));

                for (GList *e = ids; e; e = e->next)
                        if (!g_hash_table_contains(d->by_short_id, e->data))
                                g_hash_table_insert(d->by_short_id, e->data, os);
                g_list_free(ids);
        }
        if (g_hash_table_size(d->by_short_id) == 0 && osinfo_list_get_length(OSINFO_LIST(list)) == 0) {
                *error = g_strdup("The OS database is empty or missing: install osinfo-db "
                                  "(libosinfo reads /usr/share/osinfo, or $OSINFO_SYSTEM_DIR)");
                db_free(d);
                return NULL;
        }
        return d;
}

static unsigned db_n_short_ids(const VmOsDb *d) {
        return g_hash_table_size(d->by_short_id);
}

/* An OS by its osinfo id (http://debian.org/debian/12) or one of its short ids (debian12); NULL when none. */
static OsinfoOs *db_find(const VmOsDb *d, const char *id) {
        OsinfoOs *os = osinfo_db_get_os(d->db, id);

        return os ?: g_hash_table_lookup(d->by_short_id, id);
}

static int db_append_os(const VmOsDb *d, const char *id, sd_bus_message *reply) {
        OsinfoOs *os = db_find(d, id);
        int r;

        if (!os)
                return 0;
        r = osinfo_dict_append_os(reply, os);
        return r < 0 ? r : 1;
}

static bool os_matches(OsinfoOs *os, const VmOsListFilter *f) {
        OsinfoProduct *p = OSINFO_PRODUCT(os);
        const char *eol = osinfo_product_get_eol_date_string(p);

        if (f->family && !streq_ptr(osinfo_os_get_family(os), f->family))
                return false;
        if (f->distro && !streq_ptr(osinfo_os_get_distro(os), f->distro))
                return false;
        if (f->vendor && !streq_ptr(osinfo_product_get_vendor(p), f->vendor))
                return false;
        if (f->name_contains && !strcasestr(strempty(osinfo_product_get_name(p)), f->name_contains))
                return false;
        /* the ISO dates compare as strings */
        if (!f->include_eol && !isempty(eol) && strcmp(eol, f->today) <= 0)
                return false;
        return true;
}

/* Newest release first; those without a release date last; then by id. */
static gint compare_release(gconstpointer a, gconstpointer b) {
        OsinfoProduct *x = *(OsinfoProduct *const *) a, *y = *(OsinfoProduct *const *) b;
        const char *dx = strempty(osinfo_product_get_release_date_string(x));
        const char *dy = strempty(osinfo_product_get_release_date_string(y));
        int c = strcmp(dy, dx);

        if (c != 0)
                return c;
        return strcmp(osinfo_entity_get_id(OSINFO_ENTITY(x)), osinfo_entity_get_id(OSINFO_ENTITY(y)));
}

static int db_append_list(const VmOsDb *d, const VmOsListFilter *f, sd_bus_message *reply) {
        g_autoptr(OsinfoOsList) list = osinfo_db_get_os_list(d->db);
        g_autoptr(GPtrArray) matched = g_ptr_array_new();
        int r = 0;

        for (gint i = 0; i < osinfo_list_get_length(OSINFO_LIST(list)); i++) {
                OsinfoOs *os = OSINFO_OS(osinfo_list_get_nth(OSINFO_LIST(list), i));
                if (os_matches(os, f))
                        g_ptr_array_add(matched, os);
        }
        g_ptr_array_sort(matched, compare_release);
        for (guint i = 0; r >= 0 && i < matched->len; i++) {
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
                if (r >= 0)
                        r = osinfo_dict_append_summary(reply, matched->pdata[i]);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        return r;
}

static VmOsCancel *cancel_new(void) {
        VmOsCancel *c = g_new0(VmOsCancel, 1);

        c->cancellable = g_cancellable_new();
        return c;
}

static void cancel_cancel(VmOsCancel *c) {
        g_cancellable_cancel(c->cancellable);
}

static void cancel_free(VmOsCancel *c) {
        if (!c)
                return;
        g_clear_object(&c->cancellable);
        g_free(c);
}

typedef struct MediaRead {
        OsinfoMedia *media;
        GError *error;
        bool done;
} MediaRead;

static void media_read_done(GObject *source, GAsyncResult *result, gpointer userdata) {
        MediaRead *m = userdata;

        m->media = osinfo_media_create_from_location_with_flags_finish(result, &m->error);
        m->done = true;
}

/* What the medium's ISO 9660 header says, and the OS whose media in the database match it. */
static VmOsMedia *media_detect(const VmOsDb *d, const char *location, VmOsCancel *c, char **error) {
        GMainContext *context = g_main_context_new();
        MediaRead m = {};
        VmOsMedia *res;

        /* libosinfo reads the medium with GIO's asynchronous calls: they run on
         * this thread's own context, never the default one */
        g_main_context_push_thread_default(context);
        lsan_ignore_begin();   /* libosinfo 1.10 keeps a copy of the location it never frees */
        osinfo_media_create_from_location_with_flags_async(location, G_PRIORITY_DEFAULT, c ? c->cancellable : NULL,
                                                           media_read_done, 0, &m);
        lsan_ignore_end();
        while (!m.done)
                g_main_context_iteration(context, TRUE);
        g_main_context_pop_thread_default(context);
        g_main_context_unref(context);
        if (!m.media) {
                *error = g_strdup(m.error ? m.error->message : "unknown error");
                g_clear_error(&m.error);
                return NULL;
        }
        res = g_new0(VmOsMedia, 1);
        res->media = m.media;
        if (osinfo_db_identify_media(d->db, res->media))
                res->os = osinfo_media_get_os(res->media);
        return res;
}

static bool media_matched(const VmOsMedia *m) {
        return m->os;
}

static const char *media_volume_id(const VmOsMedia *m) {
        return osinfo_media_get_volume_id(m->media);
}

static int media_append(const VmOsMedia *m, sd_bus_message *reply) {
        int r = osinfo_dict_append_os(reply, m->os);

        if (r >= 0)
                r = osinfo_dict_append_media(reply, "media", m->media);
        return r;
}

static void media_free(VmOsMedia *m) {
        if (!m)
                return;
        g_clear_object(&m->media);
        g_clear_object(&m->os);
        g_free(m);
}

/* the module's one entry point (VM_OSINFO_MODULE_SYMBOL) */
extern const VmOsinfoModule vm_osinfo_module;
const VmOsinfoModule vm_osinfo_module = {
        .abi = VM_OSINFO_MODULE_ABI,
        .load = db_load,
        .n_short_ids = db_n_short_ids,
        .free_db = db_free,
        .append_os = db_append_os,
        .append_list = db_append_list,
        .cancel_new = cancel_new,
        .cancel = cancel_cancel,
        .cancel_free = cancel_free,
        .detect = media_detect,
        .media_matched = media_matched,
        .media_volume_id = media_volume_id,
        .append_detected = media_append,
        .free_media = media_free,
};
