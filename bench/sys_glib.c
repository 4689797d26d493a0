/*
 * sys_glib.c - GLib's GThreadPool. Each push carries one pointer, so a job
 * (function + argument) is a small heap record, as a GLib user would write.
 * GLib has no "wait for the queue", so wait() counts completions under a
 * GMutex/GCond, the idiom GLib's own docs suggest.
 */
#include "bench.h"

#include <glib.h>
#include <stdlib.h>

struct job {
    bench_fn fn;
    void *arg;
    int urgent;
};

static GThreadPool *pool;
static GMutex lock;
static GCond done_cond;
static uint64_t submitted, done;

static void run_job(gpointer data, gpointer unused)
{
    (void)unused;
    struct job *j = data;
    j->fn(j->arg);
    g_free(j);
    g_mutex_lock(&lock);
    if (++done == submitted)
        g_cond_broadcast(&done_cond);
    g_mutex_unlock(&lock);
}

static int start(unsigned workers)
{
    pool = g_thread_pool_new(run_job, NULL, (gint)workers, TRUE, NULL);
    return pool != NULL ? 0 : -1;
}

static void stop(void)
{
    g_thread_pool_free(pool, FALSE, TRUE);
}

static void push(bench_fn fn, void *arg, int urgent)
{
    struct job *j = g_new(struct job, 1);
    j->fn = fn;
    j->arg = arg;
    j->urgent = urgent;
    g_mutex_lock(&lock);
    submitted++;
    g_mutex_unlock(&lock);
    g_thread_pool_push(pool, j, NULL);
}

static void submit(bench_fn fn, void *arg)
{
    push(fn, arg, 0);
}

/* Urgent jobs first: GLib's sorted pool. */
static gint by_urgency(gconstpointer a, gconstpointer b, gpointer unused)
{
    (void)unused;
    return ((const struct job *)b)->urgent - ((const struct job *)a)->urgent;
}

/* The sort function is set on first use only: a sorted push scans the
 * queue, which the other workloads should not pay for. */
static void submit_priority(bench_fn fn, void *arg, int urgent)
{
    static int sorted;
    if (!sorted) {
        g_thread_pool_set_sort_function(pool, by_urgency, NULL);
        sorted = 1;
    }
    push(fn, arg, urgent);
}

static void wait_all(void)
{
    g_mutex_lock(&lock);
    while (done != submitted)
        g_cond_wait(&done_cond, &lock);
    g_mutex_unlock(&lock);
}

const struct bench_system bench_system = {
    .name = "glib",
    .start = start,
    .stop = stop,
    .run_outside = bench_run_here,
    .submit = submit,
    .wait = wait_all,
    .concurrent_producers = 1,
    .submit_priority = submit_priority,
};
