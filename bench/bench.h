/*
 * bench.h - the interface every benchmarked pool implements (one sys_*.c or
 * .cpp file each), so the workloads in workloads.c run unchanged on all.
 *
 * The model is "an outside thread submits jobs, then waits for all of them".
 * A system whose jobs can only be created from inside its runtime (OpenMP,
 * oneTBB) runs the producer inside it through run_outside(). Optional entry
 * points are NULL where the system has no such feature; the driver prints
 * n/a rather than emulating it.
 */
#ifndef RAIL_BENCH_H
#define RAIL_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*bench_fn)(void *arg);
typedef void (*bench_range_fn)(size_t begin, size_t end, void *arg);

struct bench_system {
    const char *name;
    int (*start)(unsigned workers);
    void (*stop)(void);
    /* Calls producer(ctx) where submit() and wait() may be used. */
    void (*run_outside)(void (*producer)(void *ctx), void *ctx);
    void (*submit)(bench_fn fn, void *arg);
    void (*wait)(void); /* until every job submitted so far has run */
    /* Several outside threads submitting at once; NULL if unsupported. */
    int concurrent_producers;
    /* Fork-join fib with one task per call; NULL = n/a. */
    uint64_t (*fib)(unsigned n);
    const char *fib_how;
    uint64_t (*fib2)(unsigned n); /* a second fork-join flavour, if any */
    const char *fib2_how;
    /* Native parallel loop with a fixed grain; NULL = n/a. */
    void (*parallel_for)(size_t begin, size_t end, size_t grain, bench_range_fn body, void *arg);
    /* Submission at a priority: urgent jobs ahead of the others waiting;
     * NULL = n/a (the system has no priorities). */
    void (*submit_priority)(bench_fn fn, void *arg, int urgent);
};

extern const struct bench_system bench_system;

uint64_t bench_now_ns(void);
/* run_outside for systems whose submitters are ordinary threads: producer(ctx) here. */
void bench_run_here(void (*producer)(void *ctx), void *ctx);
uint64_t fib_seq(unsigned n);

#ifdef __cplusplus
}
#endif

#endif
