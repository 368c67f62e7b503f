/* time-util.h — the monotonic clock in microseconds (the clock sd-event timers use with CLOCK_MONOTONIC). */
#pragma once

#include <stdint.h>
#include <time.h>

static inline uint64_t monotonic_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}
