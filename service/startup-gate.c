/* startup-gate.c — see startup-gate.h. */
#include <stddef.h>

#include "startup-gate.h"

void startup_gate_enter(StartupGate *g) {
        g->pending++;
}

void startup_gate_leave(StartupGate *g, Manager *m) {
        void (*fn)(Manager *m);

        if (g->pending == 0 || --g->pending > 0 || !g->then)
                return;
        fn = g->then;
        g->then = NULL;
        fn(m);
}

void startup_gate_then(StartupGate *g, Manager *m, void (*fn)(Manager *m)) {
        if (g->pending == 0) {
                fn(m);
                return;
        }
        g->then = fn;
}
