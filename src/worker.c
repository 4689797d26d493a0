/*
 * worker.c - the worker threads: their loop, running a job, waiting while
 * helping, and replacing a worker whose job ended its thread.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "pool.h"

#include <errno.h>
#include <stdio.h>

/* The worker this thread is, if any; set for the thread's whole life. */
static _Thread_local struct worker *self;

/*
 * A job that calls pthread_exit() unwinds its worker's stack without
 * returning to the loop. A thread-specific value with a destructor notices:
 * the destructor runs only when the value is still set at thread exit, and a
 * worker clears it before it returns normally. Nothing per job.
 */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static int exit_key_error;

static void worker_ended(void *arg);

static void exit_key_create(void)
{
    exit_key_error = pthread_key_create(&exit_key, worker_ended);
}

struct worker *worker_self(const rail_pool *pool)
{
    return self != NULL && self->pool == pool ? self : NULL;
}

int rail_worker_index(void)
{
    return self != NULL ? (int)self->index : -1;
}

/* Runs a job taken off the queue; called and returns with pool->lock held. */
void pool_run_locked(rail_pool *pool, struct rail_job *job)
{
    struct worker *w = worker_self(pool);
    if (w != NULL) {
        job->outer = w->current; /* helping inside a wait: jobs nest */
        if (w->current == NULL)
            pool->busy++;
        w->current = job;
    }
    pthread_mutex_unlock(&pool->lock);
    job->fn(job->arg);
    pthread_mutex_lock(&pool->lock);
    if (w != NULL) {
        w->current = job->outer;
        if (w->current == NULL)
            pool->busy--;
    }
    pool_finish_locked(pool, job, 0);
}

/* How many helped jobs from outside a worker's own list may nest on its
 * stack; see pool_wait_locked(). */
#define HELP_FOREIGN_MAX 8

/*
 * Waits under pool->lock until ready(ctx). A worker of the pool runs queued
 * jobs meanwhile, so a job waiting for jobs queued behind it cannot deadlock
 * the pool, even with one worker.
 *
 * Its own list comes first: the newest there are the waiting job's children.
 * Other jobs (outside ones, other workers') it helps with only up to
 * HELP_FOREIGN_MAX levels deep, because each such job may wait and help in
 * turn, and the nesting would grow with the queue instead of with the
 * recursion (fib(23) through stack groups overflowed 8 MiB that way). Past
 * the bound it sleeps, which cannot deadlock: the jobs it waits for are on
 * its own list, where it runs them, or running on other workers, which by
 * the same argument finish. The deadline is checked only when there is
 * nothing to help with.
 */
int pool_wait_locked(rail_pool *pool, int (*ready)(const void *), const void *ctx,
                     const struct timespec *deadline)
{
    struct worker *w = worker_self(pool);
    while (!ready(ctx)) {
        if (w != NULL) {
            int foreign;
            struct rail_job *job =
                pool_take_locked(pool, w, w->foreign_depth < HELP_FOREIGN_MAX, &foreign);
            if (job != NULL) {
                w->foreign_depth += (unsigned)foreign;
                pool_run_locked(pool, job);
                w->foreign_depth -= (unsigned)foreign;
                continue;
            }
            pool->helpers_waiting++;
        }
        pool->done_waiters++;
        int rc = cond_wait_until(&pool->done_cond, &pool->lock, deadline);
        pool->done_waiters--;
        if (w != NULL)
            pool->helpers_waiting--;
        if (rc == ETIMEDOUT && !ready(ctx))
            return ETIMEDOUT;
    }
    return 0;
}

static void name_thread(const rail_pool *pool, unsigned index)
{
#if defined(__linux__) && defined(__GLIBC__)
    char name[16];
    snprintf(name, sizeof name, "%s-%u", pool->name, index);
    pthread_setname_np(pthread_self(), name);
#else
    (void)pool;
    (void)index;
#endif
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    rail_pool *pool = w->pool;

    if (w->has_predecessor) { /* set before this thread was created */
        pthread_join(w->predecessor, NULL);
        pthread_mutex_lock(&pool->lock);
        w->has_predecessor = 0;
        pthread_mutex_unlock(&pool->lock);
    }
    self = w;
    pthread_setspecific(exit_key, w);
    name_thread(pool, w->index);
    if (pool->opts.on_worker_start != NULL)
        pool->opts.on_worker_start(w->index, pool->opts.ctx);

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        int foreign;
        struct rail_job *job = pool_take_locked(pool, w, 1, &foreign);
        if (job != NULL) {
            pool_run_locked(pool, job);
            continue;
        }
        if (pool->stop)
            break;
        pool->idle_workers++;
        pthread_cond_wait(&pool->work_cond, &pool->lock);
        pool->idle_workers--;
    }
    pthread_mutex_unlock(&pool->lock);

    pthread_setspecific(exit_key, NULL);
    if (pool->opts.on_worker_stop != NULL)
        pool->opts.on_worker_stop(w->index, pool->opts.ctx);
    self = NULL;
    return NULL;
}

/* Starts the thread of slot w. Called with pool->lock held, or before any
 * worker exists. */
int worker_start_locked(rail_pool *pool, struct worker *w)
{
    pthread_once(&exit_key_once, exit_key_create);
    if (exit_key_error != 0)
        return exit_key_error;
    int rc = pthread_create(&w->thread, &pool->attr, worker_main, w);
    if (rc != 0)
        return rc;
    w->alive = 1;
    pool->alive++;
    return 0;
}

/*
 * The destructor of exit_key: a job of this worker called pthread_exit().
 * Every job the thread was inside (several when it was helping in a wait)
 * is over with EOWNERDEAD. A new thread takes the slot and joins this one,
 * so no thread is left unjoined. All of it happens in one critical section:
 * the jobs still count as running until the replacement's thread id is in
 * the slot, so a shutdown cannot be joining the slot meanwhile.
 */
static void worker_ended(void *arg)
{
    struct worker *w = arg;
    rail_pool *pool = w->pool;

    if (pool->opts.on_worker_stop != NULL)
        pool->opts.on_worker_stop(w->index, pool->opts.ctx);

    pthread_mutex_lock(&pool->lock);
    if (w->current != NULL)
        pool->busy--;
    while (w->current != NULL) {
        struct rail_job *job = w->current;
        w->current = job->outer;
        pool_finish_locked(pool, job, EOWNERDEAD);
    }
    w->alive = 0;
    pool->alive--;
    w->predecessor = pthread_self();
    w->has_predecessor = 1;
    if (worker_start_locked(pool, w) == 0)
        pool->replaced++;
    /* else the slot stays empty; pool_respawn_locked() tries again later. */
    pthread_mutex_unlock(&pool->lock);
    self = NULL;
}

/* Refills slots left empty when a replacement thread could not be created. */
void pool_respawn_locked(rail_pool *pool)
{
    for (unsigned i = 0; i < pool->threads && pool->alive < pool->threads; i++) {
        struct worker *w = &pool->workers[i];
        if (!w->alive && w->has_predecessor && worker_start_locked(pool, w) == 0)
            pool->replaced++;
    }
}
