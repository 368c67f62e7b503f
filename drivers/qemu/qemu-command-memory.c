/* qemu-command-memory.c — memory devices on qemu's command line: each <memory model='dimm'> as a RAM
 * backend (-object memory-backend-ram,id=memdimmSLOT) and its pc-dimm (-device pc-dimm,id=dimmSLOT).
 *
 * No -numa is needed: qemu 7.2's pc and q35 machines make NUMA node 0
 * themselves once -m has slots, and refuse a dimm on any other node (qemu
 * judges <node>, as it knows how many there are). */
#include <inttypes.h>

#include "qemu/qemu-command-internal.h"

void qemu_cmd_build_memories(QemuCmd *c) {
        const DomainDef *def = c->def;

        for (size_t i = 0; i < def->n_memories; i++) {
                const DomainMemoryDef *m = &def->memories[i];
                GString *o;

                if (!qemu_streq(m->model, "dimm")) {
                        qemu_cmd_fail(c, "memory model '%s' is not supported (dimm)", m->model);
                        return;
                }
                if (m->slot < 0 || def->max_memory_kib == 0) {
                        qemu_cmd_fail(c, "memory device %zu has no slot of <maxMemory>", i);
                        return;
                }
                o = g_string_new(NULL);
                g_string_printf(o, "memory-backend-ram");
                qemu_opt_fmt(o, "id", "memdimm%d", m->slot);
                qemu_opt_fmt(o, "size", "%" PRIu64 "k", m->size_kib);
                qemu_cmd_add_opt(c, "-object", o);
                o = g_string_new(NULL);
                g_string_printf(o, "pc-dimm");
                qemu_opt_fmt(o, "node", "%d", m->node >= 0 ? m->node : 0);
                qemu_opt_fmt(o, "memdev", "memdimm%d", m->slot);
                qemu_opt_fmt(o, "id", "dimm%d", m->slot);
                qemu_opt_fmt(o, "slot", "%d", m->slot);
                if (m->base)
                        qemu_opt_fmt(o, "addr", "%" PRIu64, m->base);
                qemu_cmd_add_opt(c, "-device", o);
        }
}
