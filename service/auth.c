/* auth.c — authorization of changing calls. Issue 3 replaces the body with an
 * asynchronous polkit CheckAuthorization; the callers already follow its
 * allowed / pending / denied protocol. */
#include "auth.h"
#include "log.h"

int vm_authorize(Manager *m, sd_bus_message *message, const char *action, const char *const *details,
                 sd_bus_error *error) {
        log_debug("Authorizing %s for %s (%s): allowed, no checks before issue 3.",
                  action, strna(sd_bus_message_get_sender(message)), strna(sd_bus_message_get_member(message)));
        return 1;
}
