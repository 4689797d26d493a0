/*
 * pool.c - a pool's life: create, wait for idle, shut down, destroy, stats.
 */
#include "pool.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > (long)RAIL_MAX_THREADS ? RAIL_MAX_THREADS : (unsigned)n;
}

/* Waits run on CLOCK_MONOTONIC, the clock of rail_deadline(). */
static int cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

static void sync_destroy(rail_pool *pool)
{
    pthread_cond_destroy(&pool->done_cond);
    pthread_cond_destroy(&pool->idle_cond);
    pthread_cond_destroy(&pool->space_cond);
    pthread_cond_destroy(&pool->work_cond);
    pthread_mutex_destroy(&pool->lock);
    pthread_attr_destroy(&pool->attr);
}

static int sync_init(rail_pool *pool)
{
    int rc = pthread_attr_init(&pool->attr);
    if (rc != 0)
        return rc;
    if (pool->opts.stack_size != 0 &&
        pthread_attr_setstacksize(&pool->attr, pool->opts.stack_size) != 0) {
        pthread_attr_destroy(&pool->attr);
        return EINVAL;
    }
    /* Destroying never-initialised objects is undefined, so unwind in order. */
    rc = pthread_mutex_init(&pool->lock, NULL);
    if (rc == 0 && (rc = cond_init(&pool->work_cond)) != 0)
        pthread_mutex_destroy(&pool->lock);
    if (rc == 0 && (rc = cond_init(&pool->space_cond)) != 0) {
        pthread_cond_destroy(&pool->work_cond);
        pthread_mutex_destroy(&pool->lock);
    }
    if (rc == 0 && (rc = cond_init(&pool->idle_cond)) != 0) {
        pthread_cond_destroy(&pool->space_cond);
        pthread_cond_destroy(&pool->work_cond);
        pthread_mutex_destroy(&pool->lock);
    }
    if (rc == 0 && (rc = cond_init(&pool->done_cond)) != 0) {
        pthread_cond_destroy(&pool->idle_cond);
        pthread_cond_destroy(&pool->space_cond);
        pthread_cond_destroy(&pool->work_cond);
        pthread_mutex_destroy(&pool->lock);
    }
    if (rc != 0)
        pthread_attr_destroy(&pool->attr);
    return rc;
}

/* Tells the workers to exit once the queue is empty and joins them. Called
 * with the lock held and nothing queued or running; drops it meanwhile. */
static void join_workers_locked(rail_pool *pool)
{
    pool->joining = 1;
    pool->stop = 1;
    pthread_cond_broadcast(&pool->work_cond);
    pthread_mutex_unlock(&pool->lock);
    /* Nothing runs, so no slot changes hands while we join. */
    for (unsigned i = 0; i < pool->threads; i++) {
        struct worker *w = &pool->workers[i];
        if (w->alive)
            pthread_join(w->thread, NULL);
        else if (w->has_predecessor) /* its replacement never started */
            pthread_join(w->predecessor, NULL);
        w->alive = 0;
        w->has_predecessor = 0;
    }
    pthread_mutex_lock(&pool->lock);
    pool->alive = 0;
    pool->joining = 0;
    pool->state = POOL_STOPPED;
    pthread_cond_broadcast(&pool->idle_cond);
}

int rail_pool_create(rail_pool **out, const rail_options *opts)
{
    rail_options o = {0};
    if (opts != NULL)
        o = *opts;
    if (out == NULL || o.threads > RAIL_MAX_THREADS)
        return EINVAL;
    if (o.stack_size != 0 && o.stack_size < (size_t)PTHREAD_STACK_MIN)
        return EINVAL;

    rail_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return ENOMEM;
    pool->threads = o.threads != 0 ? o.threads : online_cpus();
    pool->workers = calloc(pool->threads, sizeof *pool->workers);
    if (pool->workers == NULL) {
        free(pool);
        return ENOMEM;
    }
    snprintf(pool->name, sizeof pool->name, "%s", o.name != NULL ? o.name : "rail");
    o.name = NULL; /* copied; the caller's string may go away */
    pool->opts = o;
    pool->capacity = o.queue_capacity;
    pool->state = POOL_RUNNING;
    pool->fork_generation = fork_generation();
    queue_init(&pool->queue);

    int rc = sync_init(pool);
    if (rc != 0) {
        free(pool->workers);
        free(pool);
        return rc == EINVAL ? EINVAL : ENOMEM;
    }

    /* Every slot is ready before any worker can look at it (to steal). */
    for (unsigned i = 0; i < pool->threads; i++) {
        queue_init(&pool->workers[i].local);
        pool->workers[i].pool = pool;
        pool->workers[i].index = i;
    }
    pthread_mutex_lock(&pool->lock);
    for (unsigned i = 0; i < pool->threads && rc == 0; i++)
        rc = worker_start_locked(pool, &pool->workers[i]);
    if (rc != 0) {
        join_workers_locked(pool); /* the ones that did start */
        pthread_mutex_unlock(&pool->lock);
        sync_destroy(pool);
        free(pool->workers);
        free(pool);
        return EAGAIN;
    }
    pthread_mutex_unlock(&pool->lock);
    *out = pool;
    return 0;
}

static int pool_idle(const rail_pool *pool)
{
    return pool->queued == 0 && pool->running == 0;
}

/* One wait on idle_cond: 0 when woken, ETIMEDOUT at the deadline. */
static int wait_idle_cond_locked(rail_pool *pool, const struct timespec *deadline)
{
    if (pool->alive < pool->threads && pool->state != POOL_STOPPED)
        pool_respawn_locked(pool);
    pool->idle_waiters++;
    int rc = cond_wait_until(&pool->idle_cond, &pool->lock, deadline);
    pool->idle_waiters--;
    return rc == ETIMEDOUT ? ETIMEDOUT : 0;
}

int rail_wait_idle(rail_pool *pool, const struct timespec *deadline)
{
    if (pool == NULL || !deadline_valid(deadline))
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    if (worker_self(pool) != NULL)
        return EDEADLK;
    int rc = 0;
    pthread_mutex_lock(&pool->lock);
    while (!pool_idle(pool) && rc == 0)
        rc = wait_idle_cond_locked(pool, deadline);
    if (pool_idle(pool))
        rc = 0;
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

/*
 * Drops every job that has not started. The queue is emptied at once, so no
 * worker can take a dropped job; each is then reported one by one, with the
 * lock released around on_discard (user code, which may call into rail).
 * Until a job is reported it still counts as queued, so shutdown cannot
 * complete under it.
 */
static void discard_queued_locked(rail_pool *pool)
{
    struct queue_node dropped;
    queue_init(&dropped);
    queue_move_all(&pool->queue, &dropped);
    for (unsigned i = 0; i < pool->threads; i++)
        queue_move_all(&pool->workers[i].local, &dropped);
    for (struct queue_node *n = dropped.next; n != &dropped; n = n->next)
        queue_item(n, struct rail_job, node)->external = 0;
    pool->queued_external = 0;

    struct queue_node *node;
    while ((node = queue_pop_head(&dropped)) != NULL) {
        struct rail_job *job = queue_item(node, struct rail_job, node);
        if (job->report && pool->opts.on_discard != NULL) {
            pthread_mutex_unlock(&pool->lock);
            pool->opts.on_discard(job->fn, job->arg, pool->opts.ctx);
            pthread_mutex_lock(&pool->lock);
        }
        pool_finish_locked(pool, job, ECANCELED);
    }
}

int rail_shutdown(rail_pool *pool, rail_shutdown_mode mode, const struct timespec *deadline)
{
    if (pool == NULL || (mode != RAIL_DRAIN && mode != RAIL_DISCARD) || !deadline_valid(deadline))
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    if (worker_self(pool) != NULL)
        return EDEADLK;

    pthread_mutex_lock(&pool->lock);
    if (pool->state == POOL_RUNNING) {
        pool->state = POOL_DRAINING;
        pthread_cond_broadcast(&pool->space_cond); /* blocked submitters: ESHUTDOWN */
    }
    if (mode == RAIL_DISCARD && pool->state == POOL_DRAINING) {
        pool->state = POOL_DISCARDING;
        discard_queued_locked(pool);
    }
    int rc = 0;
    while (pool->state != POOL_STOPPED) {
        if (pool_idle(pool) && !pool->joining) {
            join_workers_locked(pool);
            break;
        }
        if (rc == ETIMEDOUT) /* checked after one more look at the state */
            break;
        rc = wait_idle_cond_locked(pool, deadline);
    }
    if (pool->state == POOL_STOPPED)
        rc = 0;
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

void rail_pool_destroy(rail_pool *pool)
{
    if (pool == NULL)
        return;
    if (pool_forked(pool)) { /* see fork.c: the locks may be held by ghosts */
        free(pool->workers);
        free(pool);
        return;
    }
    if (worker_self(pool) != NULL) {
        fprintf(stderr, "rail: rail_pool_destroy() called from a worker of the same pool; "
                        "it would wait for itself forever\n");
        abort();
    }
    rail_shutdown(pool, RAIL_DRAIN, NULL);
    sync_destroy(pool);
    free(pool->workers);
    free(pool);
}

void rail_pool_stats(rail_pool *pool, rail_stats *out)
{
    if (pool == NULL || out == NULL)
        return;
    if (pool_forked(pool)) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    out->threads = pool->alive;
    out->busy = pool->busy;
    out->queued = pool->queued;
    out->submitted = pool->submitted;
    out->completed = pool->completed;
    out->rejected = pool->rejected;
    out->discarded = pool->discarded;
    out->workers_replaced = pool->replaced;
    pthread_mutex_unlock(&pool->lock);
}
