/*
 * sys_omp.c - OpenMP tasks (libgomp). Tasks can only be created inside a
 * parallel region, so the producer runs in a `single` block: the submitting
 * thread is one of the N team threads and helps run tasks at taskwait.
 */
#include "bench.h"

#include <omp.h>

static int nthreads;

static int start(unsigned workers)
{
    nthreads = (int)workers;
    omp_set_dynamic(0);
#pragma omp parallel num_threads(nthreads)
    { /* start the team once, outside any timing */
    }
    return 0;
}

static void stop(void) {}

static void run_outside(void (*producer)(void *), void *ctx)
{
#pragma omp parallel num_threads(nthreads)
#pragma omp single
    producer(ctx);
}

static void submit(bench_fn fn, void *arg)
{
#pragma omp task firstprivate(fn, arg)
    fn(arg);
}

static void wait_all(void)
{
#pragma omp taskwait
}

static uint64_t fib_task(unsigned n)
{
    if (n < 2)
        return n;
    uint64_t a, b;
#pragma omp task shared(a)
    a = fib_task(n - 1);
    b = fib_task(n - 2);
#pragma omp taskwait
    return a + b;
}

static uint64_t fib(unsigned n)
{
    uint64_t r = 0;
#pragma omp parallel num_threads(nthreads)
#pragma omp single
    r = fib_task(n);
    return r;
}

static void parallel_for(size_t begin, size_t end, size_t grain, bench_range_fn body, void *arg)
{
    size_t chunks = (end - begin + grain - 1) / grain;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (size_t c = 0; c < chunks; c++) {
        size_t b = begin + c * grain;
        body(b, end - b > grain ? b + grain : end, arg);
    }
}

const struct bench_system bench_system = {
    .name = "openmp",
    .start = start,
    .stop = stop,
    .run_outside = run_outside,
    .submit = submit,
    .wait = wait_all,
    .concurrent_producers = 0,
    .fib = fib,
    .fib_how = "omp task + taskwait",
    .parallel_for = parallel_for,
};
