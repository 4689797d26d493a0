/*
 * spin.h - waiting a moment for another thread, without a system call.
 */
#ifndef RAIL_SPIN_H
#define RAIL_SPIN_H

#include <sched.h>

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Exponential backoff for a wait on a thread that is between two stores:
 * pause 1, 2, 4 ... 64 times, then yield the CPU, since on few cores the
 * awaited thread may be preempted and only run once this one stops. */
static inline void backoff(unsigned *step)
{
    if (*step < 7) {
        for (unsigned i = 0; i < 1u << *step; i++)
            cpu_relax();
        (*step)++;
    } else {
        sched_yield();
    }
}

#endif
