/* startup-gate.h — the start-ups of one object kind (pools, networks) under way when vmgmtd comes
 * up, and what runs once the last has ended (manager_take_name: the bus name is taken only then).
 *
 * Enter before handing a start to a driver (its callback may run before the call returns), leave
 * in that callback, or right away when the driver refused the start. */
#pragma once

typedef struct Manager Manager;

typedef struct StartupGate {
        unsigned pending;
        void (*then)(Manager *m);
} StartupGate;

void startup_gate_enter(StartupGate *g);
void startup_gate_leave(StartupGate *g, Manager *m);
/* fn(m) now when nothing is pending, else when the last pending start-up ends */
void startup_gate_then(StartupGate *g, Manager *m, void (*fn)(Manager *m));
