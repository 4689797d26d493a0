/*
 * submit.c - how a job gets onto the queue, and how it is accounted for once
 * it is over. Backpressure lives here: outside submitters wait for room,
 * workers never do.
 */
#include "pool.h"

#include <errno.h>
#include <stdlib.h>

struct rail_job *job_new(rail_fn fn, void *arg, job_done_fn done, void *owner)
{
    struct rail_job *job = malloc(sizeof *job);
    if (job == NULL)
        return NULL;
    queue_init(&job->node);
    job->fn = fn;
    job->arg = arg;
    job->done = done;
    job->owner = owner;
    job->outer = NULL;
    job->external = 0;
    job->report = 1;
    return job;
}

/* The done callback of a job nobody waits for. */
void job_free_done(rail_pool *pool, struct rail_job *job, int status)
{
    (void)pool;
    (void)status;
    free(job);
}

static int has_room(const rail_pool *pool)
{
    return pool->capacity == 0 || pool->queued_external < pool->capacity;
}

/*
 * Waits, as mode says, until the pool may take one more job from this
 * thread. Workers of the pool are always let in while it accepts anything:
 * their jobs do not count against the capacity, so nested submission can
 * never wait for itself.
 */
static int admit_locked(rail_pool *pool, int inside, enum admit_mode mode,
                        const struct timespec *deadline)
{
    for (;;) {
        if (pool->state == POOL_STOPPED || pool->state == POOL_DISCARDING)
            return ESHUTDOWN;
        if (pool->state == POOL_DRAINING && !inside)
            return ESHUTDOWN;
        if (inside || has_room(pool))
            return 0;
        if (mode == ADMIT_QUIET)
            return EAGAIN;
        if (mode == ADMIT_TRY) {
            pool->rejected++;
            return EAGAIN;
        }
        pool->space_waiters++;
        int rc = cond_wait_until(&pool->space_cond, &pool->lock, deadline);
        pool->space_waiters--;
        if (rc == ETIMEDOUT && pool->state == POOL_RUNNING && !has_room(pool)) {
            pool->rejected++;
            return ETIMEDOUT;
        }
    }
}

int pool_enqueue_locked(rail_pool *pool, struct rail_job *job, enum admit_mode mode,
                        const struct timespec *deadline)
{
    struct worker *w = worker_self(pool);
    int rc = admit_locked(pool, w != NULL, mode, deadline);
    if (rc != 0)
        return rc;

    job->external = w == NULL;
    queue_push_tail(w != NULL ? &w->local : &pool->queue, &job->node);
    pool->queued++;
    pool->queued_external += job->external;
    pool->submitted++;
    if (pool->idle_workers > 0)
        pthread_cond_signal(&pool->work_cond);
    if (pool->helpers_waiting > 0)
        pthread_cond_broadcast(&pool->done_cond);
    return 0;
}

/* Unlinks a queued job; it still counts in queued. */
static void unlink_locked(rail_pool *pool, struct rail_job *job)
{
    queue_remove(&job->node);
    if (job->external) {
        pool->queued_external--;
        if (pool->space_waiters > 0)
            pthread_cond_signal(&pool->space_cond);
    }
}

/* Unlinks a queued job, which now counts as running; the caller runs it. */
static void unqueue_locked(rail_pool *pool, struct rail_job *job)
{
    unlink_locked(pool, job);
    pool->queued--;
    pool->running++;
}

/*
 * The next job for worker w: its own newest (depth first, like a call), else
 * the oldest outside job, else the oldest job of another worker (the biggest
 * piece of someone else's recursion). With foreign_ok false only its own.
 * *foreign tells which it was.
 */
struct rail_job *pool_take_locked(rail_pool *pool, struct worker *w, int foreign_ok, int *foreign)
{
    struct queue_node *node = NULL;
    *foreign = 0;
    if (!queue_empty(&w->local)) {
        node = w->local.prev;
    } else if (foreign_ok) {
        *foreign = 1;
        if (!queue_empty(&pool->queue))
            node = pool->queue.next;
        for (unsigned i = 1; node == NULL && i < pool->threads; i++) {
            struct worker *victim = &pool->workers[(w->index + i) % pool->threads];
            if (!queue_empty(&victim->local))
                node = victim->local.next;
        }
    }
    if (node == NULL)
        return NULL;
    struct rail_job *job = queue_item(node, struct rail_job, node);
    unqueue_locked(pool, job);
    return job;
}

/* Takes job back if no worker has started it yet: 1 if the caller now runs it. */
int pool_take_back_locked(rail_pool *pool, struct rail_job *job)
{
    if (!queue_linked(&job->node))
        return 0;
    unqueue_locked(pool, job);
    return 1;
}

/* Drops job if it has not started: 1 when it was queued and is now over
 * with ECANCELED (not handed to on_discard). */
int pool_cancel_locked(rail_pool *pool, struct rail_job *job)
{
    if (!queue_linked(&job->node))
        return 0;
    unlink_locked(pool, job);
    pool_finish_locked(pool, job, ECANCELED);
    return 1;
}

/*
 * Accounts for a job that is over. A job that was taken off the queue counts
 * in running; a dropped one (ECANCELED) still counts in queued.
 */
void pool_finish_locked(rail_pool *pool, struct rail_job *job, int status)
{
    if (status == ECANCELED) {
        pool->queued--;
        pool->discarded++;
    } else {
        pool->running--;
        pool->completed++;
    }
    if (pool->queued == 0 && pool->running == 0 && pool->idle_waiters > 0)
        pthread_cond_broadcast(&pool->idle_cond);
    job->done(pool, job, status); /* may free job: the last use of it */
}

static int submit(rail_pool *pool, rail_fn fn, void *arg, enum admit_mode mode,
                  const struct timespec *deadline)
{
    if (pool == NULL || fn == NULL || !deadline_valid(deadline))
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    struct rail_job *job = job_new(fn, arg, job_free_done, NULL);
    if (job == NULL)
        return ENOMEM;
    pthread_mutex_lock(&pool->lock);
    int rc = pool_enqueue_locked(pool, job, mode, deadline);
    pthread_mutex_unlock(&pool->lock);
    if (rc != 0)
        free(job);
    return rc;
}

int rail_submit(rail_pool *pool, rail_fn fn, void *arg)
{
    return submit(pool, fn, arg, ADMIT_BLOCK, NULL);
}

int rail_try_submit(rail_pool *pool, rail_fn fn, void *arg)
{
    return submit(pool, fn, arg, ADMIT_TRY, NULL);
}

int rail_timed_submit(rail_pool *pool, rail_fn fn, void *arg, const struct timespec *deadline)
{
    return submit(pool, fn, arg, ADMIT_BLOCK, deadline);
}
