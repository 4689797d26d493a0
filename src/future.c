/*
 * future.c - a job with a result. The job record lives inside the future,
 * so a future costs one allocation. Two references keep it alive: the
 * caller's (until rail_future_release) and the queued job's (until it is
 * over). Everything here is guarded by the pool's lock.
 */
#include "pool.h"

#include <errno.h>
#include <stdlib.h>

struct rail_future {
    struct rail_job job;
    rail_pool *pool;
    rail_task task;
    void *arg;
    void *result;
    int status; /* valid once done: 0, ECANCELED or EOWNERDEAD */
    unsigned char done;
    unsigned char refs;
};

/* The job's body. result is published to waiters by the pool lock taken
 * when the job is accounted for. */
static void future_run(void *arg)
{
    struct rail_future *f = arg;
    f->result = f->task(f->arg);
}

static int future_ready(const void *f)
{
    return ((const struct rail_future *)f)->done;
}

/* Drops one reference under the pool lock; 1 when it was the last. */
static int future_unref_locked(struct rail_future *f)
{
    return --f->refs == 0;
}

static void future_done(rail_pool *pool, struct rail_job *job, int status)
{
    struct rail_future *f = queue_item(&job->node, struct rail_future, job.node);
    f->status = status;
    if (status != 0)
        f->result = NULL;
    f->done = 1;
    if (pool->done_waiters > 0)
        pthread_cond_broadcast(&pool->done_cond);
    if (future_unref_locked(f))
        free(f);
}

int rail_async(rail_pool *pool, rail_task fn, void *arg, rail_future **future)
{
    if (pool == NULL || fn == NULL || future == NULL)
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    struct rail_future *f = calloc(1, sizeof *f);
    if (f == NULL)
        return ENOMEM;
    queue_init(&f->job.node);
    f->job.fn = future_run;
    f->job.arg = f;
    f->job.done = future_done;
    f->job.report = 0; /* the future itself tells of a drop */
    f->pool = pool;
    f->task = fn;
    f->arg = arg;
    f->refs = 2;

    pthread_mutex_lock(&pool->lock);
    int rc = pool_enqueue_locked(pool, &f->job, ADMIT_BLOCK, NULL);
    pthread_mutex_unlock(&pool->lock);
    if (rc != 0) {
        free(f);
        return rc;
    }
    *future = f;
    return 0;
}

int rail_future_wait(rail_future *f, void **result, const struct timespec *deadline)
{
    if (f == NULL || !deadline_valid(deadline))
        return EINVAL;
    if (pool_forked(f->pool))
        return ECHILD;
    pthread_mutex_lock(&f->pool->lock);
    int rc = pool_wait_locked(f->pool, future_ready, f, deadline);
    if (rc == 0) {
        rc = f->status;
        if (result != NULL)
            *result = f->result;
    }
    pthread_mutex_unlock(&f->pool->lock);
    return rc;
}

int rail_future_cancel(rail_future *f)
{
    if (f == NULL)
        return EINVAL;
    if (pool_forked(f->pool))
        return ECHILD;
    rail_pool *pool = f->pool;
    int rc;
    pthread_mutex_lock(&pool->lock);
    if (pool_cancel_locked(pool, &f->job))
        rc = 0; /* future_done ran: status ECANCELED */
    else
        rc = f->done && f->status == ECANCELED ? 0 : EBUSY;
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

void rail_future_release(rail_future *f)
{
    if (f == NULL)
        return;
    if (pool_forked(f->pool)) {
        free(f);
        return;
    }
    rail_pool *pool = f->pool;
    pthread_mutex_lock(&pool->lock);
    int last = future_unref_locked(f);
    pthread_mutex_unlock(&pool->lock);
    if (last)
        free(f);
}
