/* sys_rail.c - rail under the benchmark interface. */
#include "bench.h"

#include <rail.h>

#include <stdio.h>
#include <stdlib.h>

static rail_pool *pool;

static int start(unsigned workers)
{
    return rail_pool_create(&pool, &(rail_options){.threads = workers});
}

static void stop(void)
{
    rail_pool_destroy(pool);
}

static void submit(bench_fn fn, void *arg)
{
    if (rail_submit(pool, fn, arg) != 0)
        abort();
}

static void submit_priority(bench_fn fn, void *arg, int urgent)
{
    if (rail_submit_priority(pool, urgent ? RAIL_PRIORITY_HIGH : RAIL_PRIORITY_LOW, fn, arg) != 0)
        abort();
}

static void wait_all(void)
{
    rail_wait_idle(pool, NULL);
}

struct fib {
    unsigned n;
    uint64_t r;
};

static void fib_join_job(void *arg)
{
    struct fib *f = arg;
    if (f->n < 2) {
        f->r = f->n;
        return;
    }
    struct fib a = {f->n - 1, 0}, b = {f->n - 2, 0};
    rail_join(pool, fib_join_job, &a, fib_join_job, &b);
    f->r = a.r + b.r;
}

static void fib_group_job(void *arg)
{
    struct fib *f = arg;
    if (f->n < 2) {
        f->r = f->n;
        return;
    }
    struct fib a = {f->n - 1, 0}, b = {f->n - 2, 0};
    rail_group g;
    rail_group_init(&g, pool);
    rail_group_submit(&g, fib_group_job, &b);
    fib_group_job(&a);
    rail_group_wait(&g, NULL);
    f->r = a.r + b.r;
}

static uint64_t run_fib(rail_fn job, unsigned n)
{
    struct fib f = {n, 0};
    rail_group g;
    rail_group_init(&g, pool);
    rail_group_submit(&g, job, &f); /* the recursion runs on the workers */
    rail_group_wait(&g, NULL);
    return f.r;
}

static uint64_t fib_join(unsigned n)
{
    return run_fib(fib_join_job, n);
}

static uint64_t fib_groups(unsigned n)
{
    return run_fib(fib_group_job, n);
}

static void parallel_for(size_t begin, size_t end, size_t grain, bench_range_fn body, void *arg)
{
    rail_parallel_for(pool, begin, end, grain, body, arg);
}

const struct bench_system bench_system = {
    .name = "rail",
    .start = start,
    .stop = stop,
    .run_outside = bench_run_here,
    .submit = submit,
    .wait = wait_all,
    .concurrent_producers = 1,
    .fib = fib_join,
    .fib_how = "rail_join",
    .fib2 = fib_groups,
    .fib2_how = "stack rail_group",
    .submit_priority = submit_priority,
    .parallel_for = parallel_for,
};
