/* vmgmtctl-top.c — `vmgmtctl top`: a refreshing table of the running domains (like virt-top) with CPU %,
 * memory, disk and network rates, from two GetAllDomainStats samples a delay apart. q quits; --once prints
 * one table and exits; on a pipe (or with --batch) each refresh is printed below the last. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "vmgmtctl-stats.h"

typedef struct TopSample {
        uint64_t cpu_ns, mem_kib, rd, wr, rx, tx;
} TopSample;

static uint64_t sum_keys(const StatsDict *d, const char *group, const char *leaf) {
        uint64_t n = stats_dict_u64(d, group[0] == 'b' ? "block.count" : "net.count", 0), sum = 0;

        for (uint64_t i = 0; i < n; i++) {
                char key[64];
                snprintf(key, sizeof(key), "%s.%" PRIu64 ".%s", group, i, leaf);
                sum += stats_dict_u64(d, key, 0);
        }
        return sum;
}

static TopSample top_sample(const StatsDict *d) {
        return (TopSample) {
                .cpu_ns = stats_dict_u64(d, "cpu.time", 0),
                .mem_kib = stats_dict_u64(d, "balloon.current", 0),
                .rd = sum_keys(d, "block", "rd.bytes"),
                .wr = sum_keys(d, "block", "wr.bytes"),
                .rx = sum_keys(d, "net", "rx.bytes"),
                .tx = sum_keys(d, "net", "tx.bytes"),
        };
}

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int top_fetch(Context *c, StatsAll *ret, double *ret_time) {
        static const char *const groups[] = { "state", "cpu-total", "balloon", "block", "interface", NULL };
        static const char *const flags[] = { "active", NULL };
        int r;

        r = ctl_all_domain_stats(c, groups, NULL, flags, ret);
        *ret_time = now_sec();
        return r;
}

static const StatsDict *find_prev(const StatsAll *prev, const char *path) {
        for (size_t i = 0; prev && i < prev->n; i++)
                if (streq(prev->paths[i], path))
                        return &prev->dicts[i];
        return NULL;
}

static const char *state_word(uint64_t s) {
        static const char *const w[] = { "no state", "running", "blocked", "paused", "shutdown", "shut off",
                                         "crashed", "pmsuspended" };
        return s < ELEMENTSOF(w) ? w[s] : "unknown";
}

/* One table: rates over the time between prev and cur. */
static void top_print(Context *c, const StatsAll *prev, const StatsAll *cur, double dt, bool clear) {
        double total_cpu = 0;

        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, c->json);
                json_begin_array(&w);
                for (size_t i = 0; i < cur->n; i++) {
                        const StatsDict *p = find_prev(prev, cur->paths[i]);
                        TopSample a = p ? top_sample(p) : top_sample(&cur->dicts[i]), b = top_sample(&cur->dicts[i]);
                        _cleanup_free_ char *name = NULL;

                        (void) domain_path_to_name(cur->paths[i], &name);
                        json_begin_object(&w);
                        json_member_string(&w, "name", strempty(name));
                        json_member_string(&w, "state", state_word(stats_dict_u64(&cur->dicts[i], "state.state", 0)));
                        /* CPU %: cpu_ns / (interval_ms * 10^4) */
                        json_member_unsigned(&w, "cpu_ns", b.cpu_ns >= a.cpu_ns ? b.cpu_ns - a.cpu_ns : 0);
                        json_member_unsigned(&w, "interval_ms", (uint64_t) (dt * 1000));
                        json_member_unsigned(&w, "memory_kib", b.mem_kib);
                        json_member_unsigned(&w, "rd_bytes_per_sec", dt > 0 && b.rd >= a.rd ? (uint64_t) ((double) (b.rd - a.rd) / dt) : 0);
                        json_member_unsigned(&w, "wr_bytes_per_sec", dt > 0 && b.wr >= a.wr ? (uint64_t) ((double) (b.wr - a.wr) / dt) : 0);
                        json_member_unsigned(&w, "rx_bytes_per_sec", dt > 0 && b.rx >= a.rx ? (uint64_t) ((double) (b.rx - a.rx) / dt) : 0);
                        json_member_unsigned(&w, "tx_bytes_per_sec", dt > 0 && b.tx >= a.tx ? (uint64_t) ((double) (b.tx - a.tx) / dt) : 0);
                        json_member_bool(&w, "incomplete", stats_dict_get(&cur->dicts[i], "incomplete"));
                        json_end_object(&w);
                }
                json_end_array(&w);
                fflush(stdout);
                return;
        }
        if (clear)
                printf("\033[H\033[2J");
        for (size_t i = 0; i < cur->n; i++) {
                const StatsDict *p = find_prev(prev, cur->paths[i]);
                TopSample a = p ? top_sample(p) : top_sample(&cur->dicts[i]), b = top_sample(&cur->dicts[i]);
                if (b.cpu_ns >= a.cpu_ns && dt > 0)
                        total_cpu += (double) (b.cpu_ns - a.cpu_ns) / (dt * 1e7);
        }
        printf("vmgmtctl top - %zu domains running, %.1f%% CPU, refreshed every %.1fs%s\n", cur->n, total_cpu, dt,
               clear ? " (q quits)" : "");
        printf("%-20s %-9s %6s %10s %10s %10s %10s %10s\n", "NAME", "STATE", "%CPU", "MEM(MiB)", "RDRQ(KiB/s)",
               "WRRQ(KiB/s)", "RX(KiB/s)", "TX(KiB/s)");
        for (size_t i = 0; i < cur->n; i++) {
                const StatsDict *p = find_prev(prev, cur->paths[i]);
                TopSample a = p ? top_sample(p) : top_sample(&cur->dicts[i]), b = top_sample(&cur->dicts[i]);
                _cleanup_free_ char *name = NULL;
                double cpu = b.cpu_ns >= a.cpu_ns && dt > 0 ? (double) (b.cpu_ns - a.cpu_ns) / (dt * 1e7) : 0;

#define RATE(x) (dt > 0 && b.x >= a.x ? (double) (b.x - a.x) / dt / 1024.0 : 0.0)
                (void) domain_path_to_name(cur->paths[i], &name);
                printf("%-20s %-9s %6.1f %10.1f %10.1f %10.1f %10.1f %10.1f%s\n", strempty(name),
                       state_word(stats_dict_u64(&cur->dicts[i], "state.state", 0)), cpu,
                       (double) b.mem_kib / 1024.0, RATE(rd), RATE(wr), RATE(rx), RATE(tx),
                       stats_dict_get(&cur->dicts[i], "incomplete") ? " (not answering)" : "");
#undef RATE
        }
        fflush(stdout);
}

/* Waits up to `sec` for a key; true when it was q (or stdin closed). */
static bool wait_key(bool interactive, double sec) {
        struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
        double end = now_sec() + sec;

        if (!interactive) {
                struct timespec ts = { (time_t) sec, (long) ((sec - (double) (time_t) sec) * 1e9) };   /* sec >= 0 */
                nanosleep(&ts, NULL);
                return false;
        }
        for (;;) {
                double left = end - now_sec();
                char ch;

                if (left <= 0)
                        return false;
                if (poll(&p, 1, (int) (left * 1000) + 1) <= 0)
                        continue;
                if (read(STDIN_FILENO, &ch, 1) <= 0)
                        return true;
                if (ch == 'q' || ch == 'Q')
                        return true;
        }
}

/* The terminal as it was, for a Ctrl+C in the middle of a refresh (the handler is all that reads it). */
static struct termios top_saved_term;

static void top_on_signal(int sig) {
        (void) tcsetattr(STDIN_FILENO, TCSANOW, &top_saved_term);
        _exit(128 + sig);
}

int verb_top(Context *c, VerbArgs *a) {
        const char *delay_s = verb_value(a, "delay"), *iter_s = verb_value(a, "iterations");
        bool once = verb_flag(a, "once");
        bool interactive = !once && !verb_flag(a, "batch") && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) &&
                           c->json == JSON_FORMAT_OFF;
        double delay = 1.0;
        long iterations = once ? 1 : -1;
        struct termios saved, raw;
        StatsAll prev = {}, cur = {};
        double t_prev, t_cur;
        int r;

        if (delay_s) {
                char *end;
                delay = strtod(delay_s, &end);
                if (*end || !(delay >= 0.1 && delay <= 3600))
                        return ctl_error(-EINVAL, "Invalid delay '%s' (seconds, 0.1 to 3600)", delay_s);
        }
        if (iter_s) {
                char *end;
                iterations = strtol(iter_s, &end, 10);
                if (*end || iterations < 1)
                        return ctl_error(-EINVAL, "Invalid number of iterations '%s'", iter_s);
        }
        r = top_fetch(c, &prev, &t_prev);
        if (r < 0)
                return r;
        if (interactive && tcgetattr(STDIN_FILENO, &saved) >= 0) {
                top_saved_term = saved;
                (void) signal(SIGINT, top_on_signal);
                (void) signal(SIGTERM, top_on_signal);
                raw = saved;
                raw.c_lflag &= ~(tcflag_t) (ICANON | ECHO);
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        } else
                interactive = false;
        for (long n = 0; iterations < 0 || n < iterations; n++) {
                if (wait_key(interactive, delay))
                        break;
                r = top_fetch(c, &cur, &t_cur);
                if (r < 0)
                        break;
                top_print(c, &prev, &cur, t_cur - t_prev, interactive);
                if (!interactive && c->json == JSON_FORMAT_OFF && (iterations < 0 || n + 1 < iterations))
                        printf("\n");
                stats_all_done(&prev);
                prev = cur;
                cur = (StatsAll) {};
                t_prev = t_cur;
        }
        if (interactive)
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        stats_all_done(&prev);
        stats_all_done(&cur);
        return r < 0 ? r : 0;
}
