/* vmgmtctl-edit.c — vmgmtctl edit: the persistent definition through $VISUAL/$EDITOR, redefined only if unchanged meanwhile. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "vmgmtctl.h"

static const char *editor_command(void) {
        const char *e;

        e = getenv("VISUAL");
        if (!isempty(e))
                return e;
        e = getenv("EDITOR");
        if (!isempty(e))
                return e;
        return "vi";
}

/* Runs the editor on file and waits for it. The editor string may carry
 * arguments ("emacs -nw"), so it goes through the shell; the file name is
 * passed as $1 and never parsed by the shell. Returns 0 or a printed negative errno. */
static int editor_run(const char *file) {
        const char *editor = editor_command();
        _cleanup_free_ char *cmd = NULL;
        int status;
        pid_t pid;

        if (asprintf(&cmd, "%s \"$1\"", editor) < 0)
                return ctl_error(-ENOMEM, "Out of memory.");
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return ctl_error(-errno, "Failed to fork: %m");
        if (pid == 0) {
                execl("/bin/sh", "sh", "-c", cmd, "sh", file, (char *) NULL);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return ctl_error(-errno, "Failed to wait for the editor: %m");
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFEXITED(status))
                return ctl_error(-EIO, "Editor '%s' exited with status %d.", editor, WEXITSTATUS(status));
        return ctl_error(-EIO, "Editor '%s' was killed by signal %d.", editor, WTERMSIG(status));
}

/* Writes data to a new private temporary file PREFIX-XXXXXX.xml; returns its path. */
static int temp_file_write(const char *data, const char *prefix, char **ret) {
        const char *dir = getenv("TMPDIR");
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        if (asprintf(&path, "%s/%s-XXXXXX.xml", isempty(dir) ? "/tmp" : dir, prefix) < 0)
                return ctl_error(-ENOMEM, "Out of memory.");
        fd = mkostemps(path, 4, O_CLOEXEC);
        if (fd < 0)
                return ctl_error(-errno, "Failed to create a temporary file: %m");
        r = write_full(fd, data, strlen(data));
        if (r < 0) {
                (void) unlink(path);
                return ctl_error(r, "Failed to write %s: %m", path);
        }
        *ret = TAKE_PTR(path);
        return 0;
}

int ctl_edit_text(const char *text, const char *prefix, char **ret_tmp, char **ret_edited) {
        _cleanup_free_ char *tmp = NULL, *edited = NULL;
        int r;

        r = temp_file_write(text, prefix, &tmp);
        if (r < 0)
                return r;
        r = editor_run(tmp);
        if (r >= 0)
                r = ctl_read_file(tmp, &edited);
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        *ret_tmp = TAKE_PTR(tmp);
        *ret_edited = TAKE_PTR(edited);
        return 0;
}

int ctl_edit_again(const char *tmp, char **edited) {
        char line[64];

        if (!isatty(STDIN_FILENO)) {
                fprintf(stderr, "The edited definition was kept in %s\n", tmp);
                return 0;
        }
        for (;;) {
                /* virsh's question, on the terminal the editor ran on */
                fprintf(stderr, "Failed. Try again? [y,n]: ");
                fflush(stderr);
                if (!fgets(line, sizeof line, stdin) || line[0] == 'n' || line[0] == 'N') {
                        fprintf(stderr, "The edited definition was kept in %s\n", tmp);
                        return 0;
                }
                if (line[0] == 'y' || line[0] == 'Y')
                        break;
        }
        if (editor_run(tmp) < 0 || ctl_read_file(tmp, edited) < 0) {
                fprintf(stderr, "The edited definition was kept in %s\n", tmp);
                return 0;
        }
        return 1;
}

/* DefineDomain(xml, {if_generation}) → path of the (possibly renamed) domain. */
static int domain_redefine(Context *c, const char *xml, uint64_t generation, char **ret_path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "DefineDomain", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "sa{sv}", xml, 1, "if_generation", "t", generation);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        return ctl_reply_read_path(reply, "DefineDomain", ret_path);
}

int verb_edit(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL, *xml = NULL, *tmp = NULL, *edited = NULL;
        _cleanup_free_ char *new_path = NULL, *new_name = NULL;
        uint64_t generation;
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        /* The generation first: a change between the two reads then fails as
         * a Conflict instead of being silently overwritten. */
        r = domain_get_u64(c, path, "Generation", &generation);
        if (r < 0)
                return r;
        r = domain_get_xml(c, path, true, false, &xml);
        if (r < 0)
                return r;

        r = ctl_edit_text(xml, "vmgmtctl-edit", &tmp, &edited);
        if (r < 0)
                return r;
        if (streq(edited, xml)) {
                (void) unlink(tmp);
                ctl_info("Domain '%s' XML configuration not changed.", name);
                return 0;
        }

        while ((r = domain_redefine(c, edited, generation, &new_path)) < 0) {
                /* keep the user's work: edit it again, or leave it in tmp */
                free(edited);
                edited = NULL;
                if (ctl_edit_again(tmp, &edited) <= 0)
                        return r;
        }
        (void) unlink(tmp);
        if (domain_path_to_name(new_path, &new_name) < 0)
                new_name = TAKE_PTR(name);
        ctl_info("Domain '%s' XML configuration edited.", new_name);
        return 0;
}
