/* domain-job.c — a domain's long operations as org.vmgmt.Job objects (domain.h). */
#include <errno.h>
#include <string.h>

#include "auth.h"
#include "domain.h"
#include "job.h"
#include "log.h"

struct VmDomainJob {
        VmJob *job;
        VmDomain *domain;          /* a reference */
        DriverJob *driver_job;     /* while the driver works */
        VmDomainJobFinishFn finish;
        void *userdata;
        GDestroyNotify free_userdata;
        bool has_cause;
        uid_t cause_uid;
        pid_t cause_pid;
        bool finishing;            /* inside finish: holds may be taken */
        unsigned holds;            /* vm_domain_job_hold(): the Job's end waits for them */
        bool ended;                /* the driver is done; the Job ends at the last release */
        int result;
        char *message;
};

static void domain_job_free(void *p) {
        VmDomainJob *dj = p;

        if (!dj)
                return;
        if (dj->free_userdata && dj->userdata)
                dj->free_userdata(dj->userdata);
        vm_domain_unref(dj->domain);
        g_free(dj->message);
        g_free(dj);
}

static void domain_job_end(VmDomainJob *dj) {
        VmJob *j = dj->job;

        vm_job_set_owner_data(j, NULL, NULL);
        vm_job_finish(j, dj->result, dj->message);
        domain_job_free(dj);
}

VmDomainJob *vm_domain_job_hold(VmDomainJob *dj) {
        if (!dj || !dj->finishing)
                return NULL;
        dj->holds++;
        return dj;
}

void vm_domain_job_release(VmDomainJob *dj) {
        if (!dj || dj->holds == 0)
                return;
        if (--dj->holds == 0 && dj->ended)
                domain_job_end(dj);
}

static void on_cancel(VmJob *j, void *userdata) {
        VmDomainJob *dj = userdata;

        driver_job_cancel(dj->driver_job);
}

static void on_progress(void *userdata, uint64_t processed, uint64_t total) {
        VmDomainJob *dj = userdata;

        vm_job_progress(dj->job, processed, total);
}

static void on_done(void *userdata, int r, const char *message) {
        VmDomainJob *dj = userdata;
        VmDomain *d = dj->domain;
        VmJob *j = dj->job;

        dj->driver_job = NULL;
        /* the events the end brings (stopped/saved, …) name who asked */
        if (dj->has_cause) {
                d->cause_set = true;
                d->cause_uid = dj->cause_uid;
                d->cause_pid = dj->cause_pid;
        }
        dj->finishing = true;
        if (dj->finish)
                dj->finish(d, r, message, dj->userdata);
        dj->finishing = false;
        if (dj->has_cause)
                vm_domain_clear_cause(d);
        dj->result = r;
        dj->message = g_strdup(message);
        if (dj->holds > 0) {
                dj->ended = true;   /* what finish started must be through first */
                return;
        }
        (void) j;
        domain_job_end(dj);
}

VmJob *vm_domain_running_job(VmDomain *d) {
        return vm_job_find_running(d->manager, d->path, NULL);
}

VmDomainJob *vm_domain_job_new(VmDomain *d, sd_bus_message *message, const char *type, VmDomainJobFinishFn finish,
                               void *userdata, GDestroyNotify free_userdata) {
        const char *details[5];
        VmDomainJob *dj = g_new0(VmDomainJob, 1);

        dj->domain = vm_domain_ref(d);
        dj->finish = finish;
        dj->userdata = userdata;
        dj->free_userdata = free_userdata;
        dj->job = vm_job_new(d->manager, type, d->path, VM_ACTION_DOMAIN_MANAGE, vm_domain_details(d, details));
        vm_job_set_owner_data(dj->job, dj, domain_job_free);
        if (message) {
                /* who asked: the events of the job's end name them (DomainEvent uid/pid) */
                vm_domain_set_cause(d, message);
                dj->has_cause = d->cause_set;
                dj->cause_uid = d->cause_uid;
                dj->cause_pid = d->cause_pid;
        }
        return dj;
}

DriverJobCallbacks vm_domain_job_callbacks(VmDomainJob *dj) {
        return (DriverJobCallbacks) { .progress = on_progress, .done = on_done, .userdata = dj };
}

int vm_domain_job_started(VmDomainJob *dj, DriverJob *driver_job, sd_bus_message *reply_to) {
        dj->driver_job = driver_job;
        vm_job_set_cancel(dj->job, on_cancel, dj);
        vm_job_publish(dj->job);
        if (!reply_to)
                return 0;
        return sd_bus_reply_method_return(reply_to, "o", vm_job_path(dj->job));
}

void vm_domain_job_discard(VmDomainJob *dj) {
        vm_domain_clear_cause(dj->domain);
        vm_job_discard(dj->job);   /* frees dj as its owner data */
}

const char *vm_domain_job_path(const VmDomainJob *dj) {
        return vm_job_path(dj->job);
}
