/*
 * sys_uv.c - libuv's threadpool through uv_queue_work. The pool size is
 * process-wide (UV_THREADPOOL_SIZE, read at first use), which is why every
 * benchmark runs in a process of its own. uv_queue_work is called on the
 * loop thread, and wait() runs the loop until every after-work callback has
 * run, as a libuv program does. Requests are heap records, one per job.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

struct req {
    uv_work_t work;
    bench_fn fn;
    void *arg;
};

static uv_loop_t *loop;

static void work_cb(uv_work_t *w)
{
    struct req *r = (struct req *)w;
    r->fn(r->arg);
}

static void after_cb(uv_work_t *w, int status)
{
    (void)status;
    free(w);
}

static int start(unsigned workers)
{
    char n[16];
    snprintf(n, sizeof n, "%u", workers);
    setenv("UV_THREADPOOL_SIZE", n, 1);
    loop = uv_default_loop();
    return loop != NULL ? 0 : -1;
}

static void stop(void)
{
    uv_loop_close(loop);
}

static void submit(bench_fn fn, void *arg)
{
    struct req *r = malloc(sizeof *r);
    if (r == NULL)
        abort();
    r->fn = fn;
    r->arg = arg;
    if (uv_queue_work(loop, &r->work, work_cb, after_cb) != 0)
        abort();
}

static void wait_all(void)
{
    uv_run(loop, UV_RUN_DEFAULT);
}

const struct bench_system bench_system = {
    .name = "libuv",
    .start = start,
    .stop = stop,
    .run_outside = bench_run_here,
    .submit = submit,
    .wait = wait_all,
    .concurrent_producers = 0, /* uv_queue_work is for the loop thread only */
};
