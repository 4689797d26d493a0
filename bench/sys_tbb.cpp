// sys_tbb.cpp - oneTBB: a task_arena of N slots, one of them the submitting
// thread (which runs tasks while it waits), and a task_group for jobs.
#include "bench.h"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

static tbb::global_control *control;
static tbb::task_arena *arena;
static tbb::task_group *group;

static int start(unsigned workers)
{
    control = new tbb::global_control(tbb::global_control::max_allowed_parallelism, workers);
    arena = new tbb::task_arena(static_cast<int>(workers), 1);
    arena->initialize();
    group = new tbb::task_group;
    return 0;
}

static void stop()
{
    arena->execute([] { group->wait(); });
    delete group;
    delete arena;
    delete control;
}

static void run_outside(void (*producer)(void *), void *ctx)
{
    arena->execute([=] { producer(ctx); });
}

static void submit(bench_fn fn, void *arg)
{
    group->run([=] { fn(arg); });
}

static void wait_all()
{
    group->wait();
}

static uint64_t fib_rec(unsigned n)
{
    if (n < 2)
        return n;
    uint64_t a = 0, b = 0;
    tbb::task_group g;
    g.run([&] { a = fib_rec(n - 1); });
    b = fib_rec(n - 2);
    g.wait();
    return a + b;
}

static uint64_t fib(unsigned n)
{
    uint64_t r = 0;
    arena->execute([&] { r = fib_rec(n); });
    return r;
}

static void parallel_for(size_t begin, size_t end, size_t grain, bench_range_fn body, void *arg)
{
    arena->execute([=] {
        tbb::parallel_for(
            tbb::blocked_range<size_t>(begin, end, grain),
            [=](const tbb::blocked_range<size_t> &r) { body(r.begin(), r.end(), arg); },
            tbb::simple_partitioner());
    });
}

extern "C" const struct bench_system bench_system = {
    "onetbb", start,   stop,         run_outside, submit, wait_all, 0, fib, "task_group per call",
    nullptr,  nullptr, parallel_for, nullptr,
};
