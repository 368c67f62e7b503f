/* fuzz-qmp-json.c — libFuzzer target: the JSON parser and the QMP framing/dispatch.
 *
 * Every input is parsed as one JSON document (and, when valid, formatted and
 * parsed again: the result must be identical), then fed to a QMP client as
 * monitor output, split at an input-chosen point to exercise partial reads. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "qemu/qmp.h"

static void on_event(Qmp *q, const char *name, const JsonValue *data, uint64_t ts, void *userdata) {
}

static const QmpCallbacks callbacks = { .event = on_event };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static sd_event *event;
        JsonValue *v = NULL;
        int sv[2];
        Qmp *q = NULL;

        if (json_util_parse((const char *) data, size, &v, NULL) == 0) {
                size_t len;
                char *text = json_util_format(v, &len);
                JsonValue *again = NULL;

                if (!text || json_util_parse(text, len, &again, NULL) != 0)
                        abort();
                char *text2 = json_util_format(again, NULL);
                if (!text2 || strcmp(text, text2) != 0)
                        abort();
                free(text);
                free(text2);
                json_decref(again);
                json_decref(v);
        }

        if (!event && sd_event_new(&event) < 0)
                abort();
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                abort();
        if (qmp_new_fd(event, sv[0], &callbacks, NULL, &q) < 0)
                abort();
        {
                static const char greeting[] = "{\"QMP\": {}}\r\n";
                size_t split = size > 0 ? data[0] % (size + 1) : 0;

                if (qmp_feed(q, greeting, sizeof(greeting) - 1) == 0 &&
                    qmp_feed(q, (const char *) data, split) == 0)
                        (void) qmp_feed(q, (const char *) data + split, size - split);
        }
        qmp_free(q);
        close(sv[1]);
        return 0;
}
