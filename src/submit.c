/*
 * submit.c - how a job gets onto a queue: a worker's onto its own deque, an
 * outside thread's into the injector (or, for an unbounded pool whose ring
 * is full, the overflow queue), then a wake if one is needed (sleep.c).
 * Backpressure lives here.
 */
#include "worker.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Counts a submission refused after it was counted: it is over at once. That
 * can be what makes the pool idle, with every worker asleep, so a shutdown
 * waiting for idleness must hear of it from here (the stress test hung here
 * once in a few hundred rounds before it did). */
static void count_voided(rail_pool *pool, struct level *l)
{
    atomic_fetch_add_explicit(&l->voided, 1, memory_order_seq_cst);
    rail__pool_notify_idle(pool);
}

/* An unbounded pool's jobs beyond the ring. As for the ring (see
 * try_push_outside()), the position is claimed first (which counts the
 * job: rail__overflow_claimed()) and the state checked after; a claim then
 * refused becomes a void entry, over at once. */
static int spill(rail_pool *pool, struct level *l, const struct job *job)
{
    struct overflow_slot *slot = rail__overflow_claim(&l->overflow);
    if (slot == NULL)
        return ENOMEM; /* nothing claimed, nothing counted */
    if (atomic_load_explicit(&pool->state, memory_order_seq_cst) != POOL_RUNNING) {
        atomic_fetch_add_explicit(&l->tombstones, 1, memory_order_relaxed);
        count_voided(pool, l);
        rail__overflow_publish(slot, &(struct job){.kind = JOB_VOID, .level = job->level});
        return ESHUTDOWN;
    }
    rail__overflow_publish(slot, job);
    return 0;
}

/* The most outside jobs the ring may hold now: entries in it that are not
 * jobs (tombstones: cancelled futures, void claims) do not count against the
 * capacity. */
static size_t ring_limit(rail_pool *pool, struct level *l)
{
    if (pool->capacity == 0)
        return SIZE_MAX;
    return pool->capacity + atomic_load_explicit(&l->tombstones, memory_order_relaxed);
}

/*
 * One attempt to publish an outside job. The position is claimed first (which
 * counts the job as submitted) and the state checked after: a shutdown stores
 * the state before it reads the submitted counts, so either this sees the
 * shutdown, and fills its position with a void entry counted over at once,
 * or the shutdown sees this job and waits for it. Without that order a job
 * could be accepted after the workers were joined.
 */
static int try_push_outside(rail_pool *pool, struct level *l, const struct job *job)
{
    if (atomic_load_explicit(&pool->state, memory_order_relaxed) != POOL_RUNNING)
        return ESHUTDOWN; /* the common refusal, without touching the ring */
    size_t pos;
    struct ring_cell *cell = rail__ring_claim(&l->injector, ring_limit(pool, l), &pos);
    if (cell == NULL) /* full; an unbounded pool spills over */
        return pool->capacity == 0 ? spill(pool, l, job) : EAGAIN;
    if (atomic_load_explicit(&pool->state, memory_order_seq_cst) != POOL_RUNNING) {
        /* Not a job: like a cancelled future's entry, it must not count as
         * queued (or against the capacity) until someone pops it. */
        atomic_fetch_add_explicit(&l->tombstones, 1, memory_order_relaxed);
        count_voided(pool, l);
        rail__ring_publish(cell, pos, &(struct job){.kind = JOB_VOID, .level = job->level});
        return ESHUTDOWN;
    }
    rail__ring_publish(cell, pos, job);
    return 0;
}

static int has_room(rail_pool *pool, struct level *l)
{
    return rail__ring_length(&l->injector) < ring_limit(pool, l);
}

/*
 * The slow path of a blocking submit: sleep under space_lock until a worker
 * takes an outside job (it signals if space_waiters is nonzero, after its
 * seq_cst CAS on the ring), shutdown, or the deadline.
 */
static int wait_for_room(rail_pool *pool, struct level *l, const struct timespec *deadline)
{
    int rc = 0;
    pthread_mutex_lock(&pool->space_lock);
    atomic_fetch_add_explicit(&pool->space_waiters, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    while (!has_room(pool, l) &&
           atomic_load_explicit(&pool->state, memory_order_acquire) == POOL_RUNNING) {
        if (rail__cond_wait_until(&pool->space_cond, &pool->space_lock, deadline) == ETIMEDOUT) {
            rc = ETIMEDOUT;
            break;
        }
    }
    atomic_fetch_sub_explicit(&pool->space_waiters, 1, memory_order_relaxed);
    pthread_mutex_unlock(&pool->space_lock);
    return rc;
}

void rail__pool_wake_space_waiters(rail_pool *pool)
{
    pthread_mutex_lock(&pool->space_lock);
    pthread_cond_broadcast(&pool->space_cond);
    pthread_mutex_unlock(&pool->space_lock);
}

static int submit_outside(rail_pool *pool, const struct job *job, enum admit_mode mode,
                          const struct timespec *deadline)
{
    struct level *l = &pool->levels[job->level];
    int timed_out = 0;
    for (;;) {
        int rc = try_push_outside(pool, l, job);
        if (rc == 0) {
            rail__sleep_notify(pool);
            return 0;
        }
        if (rc != EAGAIN || mode == ADMIT_QUIET)
            return rc;
        if (mode == ADMIT_TRY || timed_out) {
            atomic_fetch_add_explicit(&l->rejected, 1, memory_order_relaxed);
            return timed_out ? ETIMEDOUT : EAGAIN;
        }
        /* Past the deadline the loop tries once more: room may have come with it. */
        timed_out = wait_for_room(pool, l, deadline) == ETIMEDOUT;
    }
}

/*
 * A worker's submission goes on its own deque and never waits: nested work
 * must not block on a queue only it can drain. It is counted before it is
 * published, so no thread can see it over before it is submitted.
 */
int rail__submit_inside(struct worker *w, const struct job *job)
{
    rail_pool *pool = w->pool;
    int state = atomic_load_explicit(&pool->state, memory_order_acquire);
    if (state == POOL_DISCARDING || state == POOL_STOPPED)
        return ESHUTDOWN;
    counter_add(&w->submitted, 1);
    if (rail__deque_push(&w->deque, job) != 0) {
        counter_add(&w->submitted, (uint64_t)-1);
        return ENOMEM;
    }
    rail__sleep_notify(pool);
    return 0;
}

int rail__pool_submit(rail_pool *pool, const struct job *job, enum admit_mode mode,
                      const struct timespec *deadline)
{
    struct worker *w = rail__worker_self(pool);
    if (w != NULL)
        return rail__submit_inside(w, job);
    int rc = submit_outside(pool, job, mode, deadline);
    if (rc == 0)
        rail__pool_respawn(pool);
    return rc;
}

static int submit(rail_pool *pool, rail_priority priority, rail_fn fn, void *arg,
                  enum admit_mode mode, const struct timespec *deadline)
{
    if (pool == NULL || fn == NULL || !rail__deadline_valid(deadline) ||
        (unsigned)priority >= RAIL_PRIORITIES)
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    struct job job = {
        .fn = fn, .arg = arg, .owner = NULL, .kind = JOB_PLAIN, .level = (unsigned char)priority};
    return rail__pool_submit(pool, &job, mode, deadline);
}

int rail_submit(rail_pool *pool, rail_fn fn, void *arg)
{
    return submit(pool, RAIL_PRIORITY_NORMAL, fn, arg, ADMIT_BLOCK, NULL);
}

int rail_try_submit(rail_pool *pool, rail_fn fn, void *arg)
{
    return submit(pool, RAIL_PRIORITY_NORMAL, fn, arg, ADMIT_TRY, NULL);
}

int rail_timed_submit(rail_pool *pool, rail_fn fn, void *arg, const struct timespec *deadline)
{
    return submit(pool, RAIL_PRIORITY_NORMAL, fn, arg, ADMIT_BLOCK, deadline);
}

int rail_submit_priority(rail_pool *pool, rail_priority priority, rail_fn fn, void *arg)
{
    return submit(pool, priority, fn, arg, ADMIT_BLOCK, NULL);
}

int rail_try_submit_priority(rail_pool *pool, rail_priority priority, rail_fn fn, void *arg)
{
    return submit(pool, priority, fn, arg, ADMIT_TRY, NULL);
}

int rail_timed_submit_priority(rail_pool *pool, rail_priority priority, rail_fn fn, void *arg,
                               const struct timespec *deadline)
{
    return submit(pool, priority, fn, arg, ADMIT_BLOCK, deadline);
}
