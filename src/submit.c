/*
 * submit.c - how a job gets onto a queue: a worker's onto its own deque, an
 * outside thread's into the injector (or, for an unbounded pool whose ring
 * is full, the overflow list). Backpressure and the waking half of the sleep
 * protocol live here.
 */
#include "pool.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* The overflow keeps jobs in blocks, so a backlog costs one allocation per
 * OVERFLOW_BLOCK jobs, not one per job. */
#define OVERFLOW_BLOCK 1024

struct overflow_node {
    struct overflow_node *next;
    unsigned head, tail; /* jobs[head..tail) wait */
    struct job jobs[OVERFLOW_BLOCK];
};

/* A worker sleeps and none searches: a new job needs a wake. */
static int wake_wanted(rail_pool *pool)
{
    return atomic_load_explicit(&pool->sleepers, memory_order_seq_cst) != 0 &&
           atomic_load_explicit(&pool->searching, memory_order_seq_cst) == 0;
}

/*
 * Wakes one sleeping worker, unless a wake is already on its way: a woken
 * thread can take tens of microseconds to run, and every submission in
 * between would otherwise make a system call of its own. A worker clears the
 * flag whenever it returns from its futex wait, and then looks for work.
 *
 * When the wake finds nobody in the futex (a worker was between reading the
 * epoch and sleeping), this thread clears the flag itself. Submitters that
 * skipped their own wake while it was set published their jobs before they
 * read it, so after clearing it this thread must look again and wake for
 * them: without that second look a worker could sleep with their jobs
 * queued (the TSan stress run hung exactly so).
 */
void rail__pool_wake_one(rail_pool *pool)
{
    while (atomic_exchange_explicit(&pool->waking, 1, memory_order_seq_cst) == 0) {
        atomic_fetch_add_explicit(&pool->epoch, 1, memory_order_seq_cst);
        if (rail__futex_wake(&pool->epoch, 1) != 0)
            return; /* the woken worker clears the flag */
        atomic_store_explicit(&pool->waking, 0, memory_order_seq_cst);
        if (!wake_wanted(pool) || !rail__pool_work_visible(pool))
            return;
    }
}

/*
 * The waking half of the sleep protocol (docs/design.md): called after a job
 * was published by a seq_cst operation (the ring claim, the deque's bottom
 * store). Wakes one sleeper unless someone is already searching. The loads
 * are seq_cst too, which orders them after the publication with no fence.
 */
void rail__pool_notify(rail_pool *pool)
{
    if (wake_wanted(pool))
        rail__pool_wake_one(pool);
}

/* Counts a submission refused after it was counted: it is over at once. That
 * can be what makes the pool idle, with every worker asleep, so a shutdown
 * waiting for idleness must hear of it from here (the stress test hung here
 * once in a few hundred rounds before it did). */
static void count_voided(rail_pool *pool)
{
    atomic_fetch_add_explicit(&pool->voided, 1, memory_order_seq_cst);
    rail__pool_notify_idle(pool);
}

/* An unbounded pool's jobs beyond the ring. The state is checked after the
 * job is counted, as for the ring (see try_push_outside()). */
static int overflow_push(rail_pool *pool, const struct job *job)
{
    pthread_mutex_lock(&pool->overflow_lock);
    struct overflow_node *n = pool->overflow_tail;
    if (n == NULL || n->tail == OVERFLOW_BLOCK) {
        struct overflow_node *fresh = malloc(sizeof *fresh);
        if (fresh == NULL) {
            pthread_mutex_unlock(&pool->overflow_lock);
            return ENOMEM;
        }
        fresh->next = NULL;
        fresh->head = fresh->tail = 0;
        if (n != NULL)
            n->next = fresh;
        else
            pool->overflow_head = fresh;
        pool->overflow_tail = n = fresh;
    }
    atomic_fetch_add_explicit(&pool->overflow_pushed, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&pool->state, memory_order_seq_cst) != POOL_RUNNING) {
        pthread_mutex_unlock(&pool->overflow_lock);
        count_voided(pool);
        return ESHUTDOWN;
    }
    n->jobs[n->tail++] = *job;
    atomic_fetch_add_explicit(&pool->overflow_len, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&pool->overflow_lock);
    return 0;
}

int rail__overflow_pop(rail_pool *pool, struct job *job)
{
    if (atomic_load_explicit(&pool->overflow_len, memory_order_acquire) == 0)
        return 0;
    struct overflow_node *spent = NULL;
    int got = 0;
    pthread_mutex_lock(&pool->overflow_lock);
    struct overflow_node *n = pool->overflow_head;
    if (n != NULL && n->head < n->tail) {
        *job = n->jobs[n->head++];
        got = 1;
        atomic_fetch_sub_explicit(&pool->overflow_len, 1, memory_order_relaxed);
        if (n->head == OVERFLOW_BLOCK) { /* used up: the next block, if any, takes over */
            pool->overflow_head = n->next;
            if (pool->overflow_head == NULL)
                pool->overflow_tail = NULL;
            spent = n;
        }
    }
    pthread_mutex_unlock(&pool->overflow_lock);
    free(spent);
    return got;
}

void rail__overflow_free(rail_pool *pool)
{
    while (pool->overflow_head != NULL) {
        struct overflow_node *n = pool->overflow_head;
        pool->overflow_head = n->next;
        free(n);
    }
}

/* The most outside jobs the ring may hold now: entries in it that are not
 * jobs (tombstones: cancelled futures, void claims) do not count against the
 * capacity. */
static size_t ring_limit(rail_pool *pool)
{
    if (pool->capacity == 0)
        return SIZE_MAX;
    return pool->capacity + atomic_load_explicit(&pool->tombstones, memory_order_relaxed);
}

/*
 * One attempt to publish an outside job. The position is claimed first (which
 * counts the job as submitted) and the state checked after: a shutdown stores
 * the state before it reads the submitted counts, so either this sees the
 * shutdown, and fills its position with a void entry counted over at once,
 * or the shutdown sees this job and waits for it. Without that order a job
 * could be accepted after the workers were joined.
 */
static int try_push_outside(rail_pool *pool, const struct job *job)
{
    if (atomic_load_explicit(&pool->state, memory_order_relaxed) != POOL_RUNNING)
        return ESHUTDOWN; /* the common refusal, without touching the ring */
    size_t pos;
    struct ring_cell *cell = rail__ring_claim(&pool->injector, ring_limit(pool), &pos);
    if (cell == NULL) /* full; an unbounded pool spills over */
        return pool->capacity == 0 ? overflow_push(pool, job) : EAGAIN;
    if (atomic_load_explicit(&pool->state, memory_order_seq_cst) != POOL_RUNNING) {
        /* Not a job: like a cancelled future's entry, it must not count as
         * queued (or against the capacity) until someone pops it. */
        atomic_fetch_add_explicit(&pool->tombstones, 1, memory_order_relaxed);
        count_voided(pool);
        rail__ring_publish(cell, pos, &(struct job){.kind = JOB_VOID});
        return ESHUTDOWN;
    }
    rail__ring_publish(cell, pos, job);
    return 0;
}

static int has_room(rail_pool *pool)
{
    return rail__ring_length(&pool->injector) < ring_limit(pool);
}

/*
 * The slow path of a blocking submit: sleep under space_lock until a worker
 * takes an outside job (it signals if space_waiters is nonzero, after its
 * seq_cst CAS on the ring), shutdown, or the deadline.
 */
static int wait_for_room(rail_pool *pool, const struct timespec *deadline)
{
    int rc = 0;
    pthread_mutex_lock(&pool->space_lock);
    atomic_fetch_add_explicit(&pool->space_waiters, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    while (!has_room(pool) &&
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
    int timed_out = 0;
    for (;;) {
        int rc = try_push_outside(pool, job);
        if (rc == 0) {
            rail__pool_notify(pool);
            return 0;
        }
        if (rc != EAGAIN || mode == ADMIT_QUIET)
            return rc;
        if (mode == ADMIT_TRY || timed_out) {
            atomic_fetch_add_explicit(&pool->rejected, 1, memory_order_relaxed);
            return timed_out ? ETIMEDOUT : EAGAIN;
        }
        /* Past the deadline the loop tries once more: room may have come with it. */
        timed_out = wait_for_room(pool, deadline) == ETIMEDOUT;
    }
}

/*
 * A worker's submission goes on its own deque and never waits: nested work
 * must not block on a queue only it can drain. It is counted before it is
 * published, so no thread can see it over before it is submitted.
 */
static int submit_inside(struct worker *w, const struct job *job)
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
    rail__pool_notify(pool);
    return 0;
}

int rail__pool_submit(rail_pool *pool, const struct job *job, enum admit_mode mode,
                      const struct timespec *deadline)
{
    struct worker *w = rail__worker_self(pool);
    if (w != NULL)
        return submit_inside(w, job);
    int rc = submit_outside(pool, job, mode, deadline);
    if (rc == 0)
        rail__pool_respawn(pool);
    return rc;
}

static int submit(rail_pool *pool, rail_fn fn, void *arg, enum admit_mode mode,
                  const struct timespec *deadline)
{
    if (pool == NULL || fn == NULL || !rail__deadline_valid(deadline))
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    struct job job = {.fn = fn, .arg = arg, .owner = NULL, .kind = JOB_PLAIN};
    return rail__pool_submit(pool, &job, mode, deadline);
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
