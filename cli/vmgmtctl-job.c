/* vmgmtctl-job.c — following an org.vmgmt.Job to its end: a progress bar on a terminal, Ctrl-C cancels. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmgmtctl-job.h"
#include "vmgmtctl.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
        interrupted = 1;
}

static void draw_bar(double progress) {
        char bar[41];
        int n = (int) (progress * 40.0);

        for (int i = 0; i < 40; i++)
                bar[i] = i < n ? '=' : ' ';
        bar[40] = 0;
        fprintf(stderr, "\r%s [%s] %3d %%", "Progress:", bar, (int) (progress * 100.0));
        fflush(stderr);
}

void ctl_job_progress_line(const char *label, double progress) {
        int pct = progress >= 1.0 ? 100 : progress > 0.0 ? (int) (progress * 100.0) : 0;

        /* what went to stdout before stays before the line */
        fflush(stdout);
        fprintf(stderr, "\r%s: [%3d %%]", label, pct);
        fflush(stderr);
}

/* How progress is shown: nothing, the bar, or virsh's --verbose line. */
typedef struct JobShow {
        const char *label;      /* NULL: the bar */
        bool on;
} JobShow;

static void show_progress(const JobShow *s, double progress) {
        if (!s->on)
                return;
        if (s->label)
                ctl_job_progress_line(s->label, progress);
        else
                draw_bar(progress);
}

/* What the job's signals told so far. */
typedef struct JobWatch {
        char *state;                  /* NULL until known */
        double progress;
        bool progress_known;
} JobWatch;

/* PropertiesChanged of the job: its State and Progress as they change. */
static int on_job_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobWatch *w = userdata;
        const char *iface;
        int r;

        (void) ret_error;
        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0 || !streq(iface, VMGMT_JOB_IFACE))
                return 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r > 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *state;
                r = sd_bus_message_read(m, "s", &name);
                if (r >= 0 && streq(name, "State") && (r = sd_bus_message_read(m, "v", "s", &state)) >= 0) {
                        free(w->state);
                        w->state = strdup(state);
                } else if (r >= 0 && streq(name, "Progress") && (r = sd_bus_message_read(m, "v", "d", &w->progress)) >= 0)
                        w->progress_known = true;
                else if (r >= 0)
                        r = sd_bus_message_skip(m, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        return 0;
}

static void job_cancel(Context *c, const char *path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

        if (ctl_new_call(c, path, VMGMT_JOB_IFACE, "Cancel", &m) >= 0 && sd_bus_message_append(m, "a{sv}", 0) >= 0)
                (void) ctl_call(c, m, NULL);
}

/* Follows the job at path until it ends: a progress bar on a terminal,
 * redrawn from the job's PropertiesChanged signals (no polling); Ctrl-C
 * cancels. Returns 0 when it completed, else the job's error printed. */
int ctl_follow_job(Context *c, const char *path) {
        return ctl_follow_job_as(c, path, NULL, false);
}

int ctl_follow_job_as(Context *c, const char *path, const char *label, bool verbose) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        struct sigaction sa = { .sa_handler = on_sigint }, old_int, old_term;
        const JobShow show = { .label = verbose ? (label ?: "Job") : NULL,
                               .on = verbose || isatty(STDERR_FILENO) };
        bool cancel_sent = false;
        _cleanup_free_ char *error = NULL;
        JobWatch w = {};
        int r;

        r = sd_bus_match_signal(c->bus, &slot, VMGMT_BUS_NAME, path, "org.freedesktop.DBus.Properties",
                                "PropertiesChanged", on_job_changed, &w);
        if (r < 0)
                return ctl_error(r, "Failed to watch job %s: %s", path, strerror(-r));
        /* only now the state: a change after this read comes as a signal */
        r = storage_get_string(c, path, VMGMT_JOB_IFACE, "State", &w.state);
        if (r < 0)
                return r;
        if (show.on && streq(w.state, "running") &&
            storage_get_trivial(c, path, VMGMT_JOB_IFACE, "Progress", 'd', &w.progress) >= 0)
                show_progress(&show, w.progress);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        while (w.state && streq(w.state, "running")) {
                if (interrupted && !cancel_sent) {
                        job_cancel(c, path);
                        cancel_sent = true;
                }
                r = sd_bus_process(c->bus, NULL);
                if (r < 0)
                        break;
                if (show.on && w.progress_known) {
                        show_progress(&show, w.progress);
                        w.progress_known = false;
                }
                if (r > 0)
                        continue;
                /* a signal (Ctrl-C) interrupts the wait */
                r = sd_bus_wait(c->bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        break;
                r = 0;
        }
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        if (r < 0) {
                free(w.state);
                return ctl_error(r, "Lost the bus while following job %s: %s", path, strerror(-r));
        }
        _cleanup_free_ char *state = w.state;
        if (show.on) {
                if (streq(state, "completed"))
                        show_progress(&show, 1.0);
                fputc('\n', stderr);
        }
        if (streq(state, "completed"))
                return 0;
        (void) storage_get_string(c, path, VMGMT_JOB_IFACE, "Error", &error);
        return ctl_error(streq(state, "cancelled") ? -ECANCELED : -EIO, "%s", !isempty(error) ? error : state);
}

/* ---- the running job of a domain (domjobinfo, domjobabort, blockjob --info) ---- */


void ctl_job_info_clear(CtlJobInfo *j) {
        free(j->path);
        free(j->type);
        free(j->state);
        free(j->error);
}

static int read_job_props(sd_bus_message *m, CtlJobInfo *j, char **ret_object) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r > 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *s;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        break;
                if (streq(key, "Type") || streq(key, "State") || streq(key, "Error")) {
                        r = sd_bus_message_read(m, "v", "s", &s);
                        char **t = streq(key, "Type") ? &j->type : streq(key, "State") ? &j->state : &j->error;
                        if (r >= 0) {
                                free(*t);
                                *t = strdup(s);
                        }
                } else if (streq(key, "Object")) {
                        r = sd_bus_message_read(m, "v", "o", &s);
                        if (r >= 0) {
                                free(*ret_object);
                                *ret_object = strdup(s);
                        }
                } else if (streq(key, "Progress"))
                        r = sd_bus_message_read(m, "v", "d", &j->progress);
                else if (streq(key, "ProcessedBytes"))
                        r = sd_bus_message_read(m, "v", "t", &j->processed);
                else if (streq(key, "TotalBytes"))
                        r = sd_bus_message_read(m, "v", "t", &j->total);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        return r;
}

int ctl_find_domain_job(Context *c, const char *domain, CtlJobInfo *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r, found = 0;

        r = ctl_new_call(c, VMGMT_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", &m);
        if (r < 0)
                return r;
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
        while (r > 0 && (r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                const char *opath;
                r = sd_bus_message_read(reply, "o", &opath);
                if (r >= 0)
                        r = sd_bus_message_enter_container(reply, 'a', "{sa{sv}}");
                while (r > 0 && (r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
                        const char *iface;
                        r = sd_bus_message_read(reply, "s", &iface);
                        if (r >= 0 && streq(iface, VMGMT_JOB_IFACE) && !found) {
                                CtlJobInfo j = {};
                                _cleanup_free_ char *object = NULL;
                                r = read_job_props(reply, &j, &object);
                                if (r >= 0 && streq_ptr(object, domain) && streq_ptr(j.state, "running")) {
                                        j.path = strdup(opath);
                                        *ret = j;
                                        found = 1;
                                } else
                                        ctl_job_info_clear(&j);
                        } else if (r >= 0)
                                r = sd_bus_message_skip(reply, "a{sv}");
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        return found;
}
