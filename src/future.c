/*
 * future.c - a job with a result. One allocation holds a latch (the job's
 * end), a state and two references: the caller's, until
 * rail_future_release(), and the queued job's, until a worker is done with
 * its entry. The job runs only if it moves the state from QUEUED to RUNNING;
 * cancel and discard move it from QUEUED to CANCELLED. A cancelled job's
 * entry stays in its queue as a tombstone until a worker passes it.
 */
#include "future.h"
#include "worker.h"

#include <errno.h>
#include <stdlib.h>

enum { FUTURE_QUEUED, FUTURE_RUNNING, FUTURE_CANCELLED };

struct rail_future {
    struct latch latch; /* 1 until the job is over */
    atomic_int state;
    atomic_uint refs;
    rail_pool *pool;
    rail_task task; /* or, when NULL, fn: rail_join's second half from outside */
    rail_fn fn;
    void *arg;
    void *result;
    unsigned char in_ring; /* queued in a bounded pool's injector: a tombstone there
                              must not count against the capacity */
};

/* A future's job is queued at the default priority. */
static struct level *normal_level(rail_pool *pool)
{
    return &pool->levels[RAIL_PRIORITY_NORMAL];
}

static void future_unref(struct rail_future *f)
{
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

static int claim(struct rail_future *f, int to)
{
    int queued = FUTURE_QUEUED;
    return atomic_compare_exchange_strong_explicit(&f->state, &queued, to, memory_order_acq_rel,
                                                   memory_order_acquire);
}

int rail__future_claim(rail_future *f)
{
    return claim(f, FUTURE_RUNNING);
}

void rail__future_run(rail_future *f)
{
    if (f->task != NULL)
        f->result = f->task(f->arg); /* published by the latch's release */
    else
        f->fn(f->arg);
}

/* The job is over (status 0, ECANCELED, EOWNERDEAD); its entry is gone. */
void rail__future_finish(rail_future *f, int status)
{
    if (status != 0)
        f->result = NULL;
    latch_done(&f->latch, status);
    future_unref(f);
}

/* A worker took the entry of a future cancelled while queued. */
void rail__future_unclaimed_popped(rail_future *f)
{
    if (f->in_ring)
        atomic_fetch_sub_explicit(&normal_level(f->pool)->tombstones, 1, memory_order_relaxed);
    future_unref(f);
}

/* Makes and queues a future for task(arg), or for fn(arg) when task is NULL. */
static int future_submit(rail_pool *pool, rail_task task, rail_fn fn, void *arg,
                         enum admit_mode mode, rail_future **future)
{
    struct rail_future *f = malloc(sizeof *f);
    if (f == NULL)
        return ENOMEM;
    latch_init(&f->latch, 1);
    atomic_init(&f->state, FUTURE_QUEUED);
    atomic_init(&f->refs, 2);
    f->pool = pool;
    f->task = task;
    f->fn = fn;
    f->arg = arg;
    f->result = NULL;
    f->in_ring = rail__worker_self(pool) == NULL && pool->capacity != 0;
    struct job job = {.fn = NULL, .arg = NULL, .owner = f, .kind = JOB_FUTURE};
    int rc = rail__pool_submit(pool, &job, mode, NULL);
    if (rc != 0) {
        free(f);
        return rc;
    }
    *future = f;
    return 0;
}

int rail_async(rail_pool *pool, rail_task fn, void *arg, rail_future **future)
{
    if (pool == NULL || fn == NULL || future == NULL)
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    return future_submit(pool, fn, NULL, arg, ADMIT_BLOCK, future);
}

/* A job taken while discarding. 1 if it was dropped now (and is counted),
 * 0 if it was a cancelled future's leftover entry. */
int rail__future_drop(rail_future *f)
{
    if (!claim(f, FUTURE_CANCELLED)) {
        rail__future_unclaimed_popped(f);
        return 0;
    }
    rail_options *o = &f->pool->opts;
    if (f->task == NULL && o->on_discard != NULL) /* a user's rail_fn: report it */
        o->on_discard(f->fn, f->arg, o->ctx);
    rail__future_finish(f, ECANCELED);
    return 1;
}

/*
 * rail_join's second half from an outside thread (join.c): fn(arg) queued
 * as a future, never waiting for room, so that the caller can take it back
 * with one CAS once the first half has run.
 */
int rail__future_offer(rail_pool *pool, rail_fn fn, void *arg, rail_future **future)
{
    return future_submit(pool, NULL, fn, arg, ADMIT_QUIET, future);
}

/* 1 if no worker has taken the offered job: the caller runs it and then
 * calls rail__future_taken_back(). A job in the ring cannot be unlinked;
 * its entry becomes a tombstone. */
int rail__future_take_back(rail_future *f)
{
    if (!claim(f, FUTURE_RUNNING))
        return 0;
    if (f->in_ring)
        atomic_fetch_add_explicit(&normal_level(f->pool)->tombstones, 1, memory_order_relaxed);
    return 1;
}

/* The caller has run the job it took back: it is over. */
void rail__future_taken_back(rail_future *f)
{
    rail_pool *pool = f->pool;
    atomic_fetch_add_explicit(&pool->taken_back, 1, memory_order_seq_cst);
    rail__pool_notify_idle(pool);
    future_unref(f);
}

/* A worker took the job: waits for its end; its status. */
int rail__future_join(rail_future *f)
{
    int rc = rail__pool_wait(f->pool, &f->latch, NULL);
    if (rc == 0)
        rc = atomic_load_explicit(&f->latch.status, memory_order_relaxed);
    future_unref(f);
    return rc;
}

int rail_future_wait(rail_future *f, void **result, const struct timespec *deadline)
{
    if (f == NULL || !rail__deadline_valid(deadline))
        return EINVAL;
    if (pool_forked(f->pool))
        return ECHILD;
    int rc = rail__pool_wait(f->pool, &f->latch, deadline);
    if (rc != 0)
        return rc;
    if (result != NULL)
        *result = f->result;
    return atomic_load_explicit(&f->latch.status, memory_order_relaxed);
}

int rail_future_cancel(rail_future *f)
{
    if (f == NULL)
        return EINVAL;
    if (pool_forked(f->pool))
        return ECHILD;
    rail_pool *pool = f->pool;
    if (!claim(f, FUTURE_CANCELLED))
        return atomic_load_explicit(&f->state, memory_order_acquire) == FUTURE_CANCELLED ? 0
                                                                                         : EBUSY;
    if (f->in_ring) /* its entry stays until a worker passes it: don't count it */
        atomic_fetch_add_explicit(&normal_level(pool)->tombstones, 1, memory_order_relaxed);
    latch_done(&f->latch, ECANCELED);
    atomic_fetch_add_explicit(&pool->cancelled, 1, memory_order_seq_cst);
    if (f->in_ring && atomic_load_explicit(&pool->space_waiters, memory_order_seq_cst) != 0)
        rail__pool_wake_space_waiters(pool);
    rail__pool_notify_idle(pool);
    return 0;
}

void rail_future_release(rail_future *f)
{
    if (f == NULL)
        return;
    if (pool_forked(f->pool)) { /* the queue's reference died with the parent's workers */
        free(f);
        return;
    }
    future_unref(f);
}
