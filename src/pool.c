/*
 * pool.c - a pool's life: create, wait for idle, shut down (drain or
 * discard), destroy, stats.
 */
#include "future.h"
#include "worker.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FRAMES_INITIAL 32

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > (long)RAIL_MAX_THREADS ? RAIL_MAX_THREADS : (unsigned)n;
}

/* Memory for objects with cache-line-aligned members; zeroed. */
static void *alloc_aligned(size_t size)
{
    void *p = aligned_alloc(64, (size + 63) / 64 * 64);
    if (p != NULL)
        memset(p, 0, size);
    return p;
}

int rail__pool_state(const rail_pool *pool)
{
    return atomic_load_explicit(&((rail_pool *)pool)->state, memory_order_acquire);
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
    pthread_cond_destroy(&pool->idle_cond);
    pthread_cond_destroy(&pool->space_cond);
    pthread_mutex_destroy(&pool->lock);
    pthread_mutex_destroy(&pool->space_lock);
    pthread_attr_destroy(&pool->attr);
}

static int sync_init(rail_pool *pool)
{
    if (pthread_attr_init(&pool->attr) != 0)
        return ENOMEM;
    if (pool->opts.stack_size != 0 &&
        pthread_attr_setstacksize(&pool->attr, pool->opts.stack_size) != 0) {
        pthread_attr_destroy(&pool->attr);
        return EINVAL;
    }
    /* On Linux none of these can fail; elsewhere report it, and leak rather
     * than destroy objects that were never initialised. */
    if (pthread_mutex_init(&pool->lock, NULL) != 0 ||
        pthread_mutex_init(&pool->space_lock, NULL) != 0 || cond_init(&pool->idle_cond) != 0 ||
        cond_init(&pool->space_cond) != 0)
        return ENOMEM;
    return 0;
}

static void free_pool(rail_pool *pool)
{
    if (pool->workers != NULL) {
        for (unsigned i = 0; i < pool->threads; i++) {
            rail__deque_destroy(&pool->workers[i].deque);
            free(pool->workers[i].frames);
        }
        free(pool->workers);
    }
    for (unsigned l = 0; l < RAIL_PRIORITIES; l++) {
        rail__ring_destroy(&pool->levels[l].injector);
        rail__overflow_destroy(&pool->levels[l].overflow);
    }
    free(pool);
}

/* Each level's ring: room for the capacity plus some tombstones; an
 * unbounded pool spills into the overflow queue past 4,096 NORMAL jobs (512
 * at the other levels, less used). */
static size_t ring_cells(size_t capacity, unsigned level)
{
    size_t cells = level == RAIL_PRIORITY_NORMAL ? 4096 : 512;
    if (capacity != 0)
        cells = capacity + (capacity < 1024 ? capacity : 1024);
    return cells < 64 ? 64 : cells;
}

static int init_workers(rail_pool *pool)
{
    pool->workers = alloc_aligned(pool->threads * sizeof *pool->workers);
    if (pool->workers == NULL)
        return ENOMEM;
    for (unsigned i = 0; i < pool->threads; i++) {
        struct worker *w = &pool->workers[i];
        w->pool = pool;
        w->index = i;
        w->victim = i + 1;
        w->frames_cap = FRAMES_INITIAL;
        w->frames = malloc(FRAMES_INITIAL * sizeof *w->frames);
        if (w->frames == NULL || rail__deque_init(&w->deque) != 0) {
            free(w->frames);
            w->frames = NULL;
            pool->threads = i; /* free_pool() frees what was made */
            return ENOMEM;
        }
    }
    return 0;
}

/* Tells the workers to exit and joins them. Called with the lock held and
 * the pool idle; drops it meanwhile. */
static void join_workers_locked(rail_pool *pool)
{
    pool->joining = 1;
    rail__sleep_stop(pool);
    pthread_mutex_unlock(&pool->lock);
    /* The pool is idle: no job runs, so no slot changes hands while we join. */
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
    atomic_store_explicit(&pool->state, POOL_STOPPED, memory_order_release);
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

    rail_pool *pool = alloc_aligned(sizeof *pool);
    if (pool == NULL)
        return ENOMEM;
    snprintf(pool->name, sizeof pool->name, "%s", o.name != NULL ? o.name : "rail");
    o.name = NULL; /* copied; the caller's string may go away */
    pool->opts = o;
    pool->capacity = o.queue_capacity;
    pool->threads = o.threads != 0 ? o.threads : online_cpus();
    pool->born_generation = rail__fork_generation();
    atomic_init(&pool->state, POOL_RUNNING);

    int rc = 0;
    for (unsigned l = 0; l < RAIL_PRIORITIES && rc == 0; l++)
        rc = rail__ring_init(&pool->levels[l].injector, ring_cells(o.queue_capacity, l));
    if (rc != 0 || (rc = init_workers(pool)) != 0 || (rc = sync_init(pool)) != 0) {
        free_pool(pool);
        return rc;
    }

    pthread_mutex_lock(&pool->lock);
    for (unsigned i = 0; i < pool->threads && rc == 0; i++)
        rc = rail__worker_start_locked(pool, &pool->workers[i]);
    if (rc != 0) {
        join_workers_locked(pool); /* the ones that did start */
        pthread_mutex_unlock(&pool->lock);
        sync_destroy(pool);
        free_pool(pool);
        return EAGAIN;
    }
    pthread_mutex_unlock(&pool->lock);
    *out = pool;
    return 0;
}

/*
 * Everything submitted is over. The "over" counters are read before the
 * "submitted" ones, and a job is counted over only after it was counted
 * submitted, so equal sums mean the pool was idle between the two reads.
 */
static int pool_is_idle(rail_pool *pool)
{
    uint64_t over = atomic_load_explicit(&pool->outside_dropped, memory_order_acquire) +
                    atomic_load_explicit(&pool->cancelled, memory_order_acquire) +
                    atomic_load_explicit(&pool->taken_back, memory_order_acquire);
    for (unsigned l = 0; l < RAIL_PRIORITIES; l++)
        over += atomic_load_explicit(&pool->levels[l].voided, memory_order_acquire);
    for (unsigned i = 0; i < pool->threads; i++) {
        struct worker *w = &pool->workers[i];
        over += atomic_load_explicit(&w->completed, memory_order_acquire) +
                atomic_load_explicit(&w->dropped, memory_order_acquire);
    }
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t submitted = 0;
    for (unsigned l = 0; l < RAIL_PRIORITIES; l++)
        submitted += ring_claimed(&pool->levels[l].injector) +
                     rail__overflow_claimed(&pool->levels[l].overflow);
    for (unsigned i = 0; i < pool->threads; i++)
        submitted += atomic_load_explicit(&pool->workers[i].submitted, memory_order_acquire);
    return over == submitted;
}

/* Wakes threads waiting for idleness, if any. Called after something was
 * counted over; the seq_cst load pairs with idle_waiter_enter()'s fence. */
void rail__pool_notify_idle(rail_pool *pool)
{
    if (atomic_load_explicit(&pool->idle_waiters, memory_order_seq_cst) == 0)
        return;
    pthread_mutex_lock(&pool->lock);
    pthread_cond_broadcast(&pool->idle_cond);
    pthread_mutex_unlock(&pool->lock);
}

/* One wait on idle_cond, as a registered idle waiter (workers about to
 * sleep wake those). 0 when woken, ETIMEDOUT at the deadline. */
static int wait_idle_cond_locked(rail_pool *pool, const struct timespec *deadline)
{
    if (atomic_load_explicit(&pool->vacant, memory_order_relaxed) != 0 &&
        rail__pool_state(pool) != POOL_STOPPED)
        rail__pool_respawn_locked(pool);
    return rail__cond_wait_until(&pool->idle_cond, &pool->lock, deadline) == ETIMEDOUT ? ETIMEDOUT
                                                                                       : 0;
}

static void idle_waiter_enter(rail_pool *pool)
{
    atomic_fetch_add_explicit(&pool->idle_waiters, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
}

static void idle_waiter_leave(rail_pool *pool)
{
    atomic_fetch_sub_explicit(&pool->idle_waiters, 1, memory_order_relaxed);
}

int rail_wait_idle(rail_pool *pool, const struct timespec *deadline)
{
    if (pool == NULL || !rail__deadline_valid(deadline))
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    if (rail__worker_self(pool) != NULL)
        return EDEADLK;
    int rc = 0;
    pthread_mutex_lock(&pool->lock);
    idle_waiter_enter(pool);
    while (!pool_is_idle(pool) && rc == 0)
        rc = wait_idle_cond_locked(pool, deadline);
    if (rc != 0 && pool_is_idle(pool))
        rc = 0;
    idle_waiter_leave(pool);
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

/*
 * Drops a job that was taken while discarding: its on_discard (for a user's
 * function), its owner finished with ECANCELED. Entries that are not jobs
 * any more (a void claim, a cancelled future's leftover) are only skipped,
 * whenever they are taken, and not counted.
 */
void rail__pool_drop(rail_pool *pool, struct worker *w, struct job *job)
{
    switch (job->kind) {
    case JOB_VOID: /* counted over by its submitter */
        atomic_fetch_sub_explicit(&pool->levels[job->level].tombstones, 1, memory_order_relaxed);
        return;
    case JOB_FUTURE:
        if (!rail__future_drop(job->owner))
            return; /* a tombstone, not a job */
        break;
    case JOB_HELPER: /* the library's own: no user work to report */
        latch_done(job->owner, ECANCELED);
        break;
    default:
        if (pool->opts.on_discard != NULL)
            pool->opts.on_discard(job->fn, job->arg, pool->opts.ctx);
        if (job->kind == JOB_LATCH)
            latch_done(job->owner, ECANCELED);
        break;
    }
    if (w != NULL)
        counter_add(&w->dropped, 1);
    else
        atomic_fetch_add_explicit(&pool->outside_dropped, 1, memory_order_release);
}

/* The shutdown caller drops every job it can reach: the injector, the
 * overflow queue, and each deque (stealing works from any thread). A job a
 * running job pushes after this is dropped by the worker that takes it. */
static void drop_all(rail_pool *pool)
{
    struct job job;
    for (unsigned l = 0; l < RAIL_PRIORITIES; l++) {
        while (rail__ring_pop(&pool->levels[l].injector, &job))
            rail__pool_drop(pool, NULL, &job);
        while (rail__overflow_pop(&pool->levels[l].overflow, &job))
            rail__pool_drop(pool, NULL, &job);
    }
    for (unsigned i = 0; i < pool->threads; i++) {
        int r;
        while ((r = rail__deque_steal(&pool->workers[i].deque, &job)) != 0)
            if (r == 1)
                rail__pool_drop(pool, NULL, &job);
    }
    rail__pool_notify_idle(pool);
}

int rail_shutdown(rail_pool *pool, rail_shutdown_mode mode, const struct timespec *deadline)
{
    if (pool == NULL || (mode != RAIL_DRAIN && mode != RAIL_DISCARD) ||
        !rail__deadline_valid(deadline))
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    if (rail__worker_self(pool) != NULL)
        return EDEADLK;

    pthread_mutex_lock(&pool->lock);
    int state = rail__pool_state(pool);
    if (state == POOL_RUNNING)
        state = POOL_DRAINING;
    if (mode == RAIL_DISCARD && state == POOL_DRAINING)
        state = POOL_DISCARDING;
    atomic_store_explicit(&pool->state, state, memory_order_seq_cst);
    pthread_mutex_unlock(&pool->lock);

    rail__pool_wake_space_waiters(pool); /* blocked submitters: ESHUTDOWN */
    if (state == POOL_DISCARDING)
        drop_all(pool);

    int rc = 0;
    pthread_mutex_lock(&pool->lock);
    idle_waiter_enter(pool);
    while (rail__pool_state(pool) != POOL_STOPPED) {
        if (!pool->joining && pool_is_idle(pool)) {
            join_workers_locked(pool);
            break;
        }
        if (rc == ETIMEDOUT) /* checked after one more look */
            break;
        rc = wait_idle_cond_locked(pool, deadline);
    }
    idle_waiter_leave(pool);
    if (rail__pool_state(pool) == POOL_STOPPED)
        rc = 0;
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

void rail_pool_destroy(rail_pool *pool)
{
    if (pool == NULL)
        return;
    if (pool_forked(pool)) { /* see fork.c: the locks may be held by ghosts */
        free_pool(pool);
        return;
    }
    if (rail__worker_self(pool) != NULL) {
        fprintf(stderr, "rail: rail_pool_destroy() called from a worker of the same pool; "
                        "it would wait for itself forever\n");
        abort();
    }
    rail_shutdown(pool, RAIL_DRAIN, NULL);
    sync_destroy(pool);
    free_pool(pool);
}

/* One level's share of the stats: its outside jobs. */
static void level_stats(struct level *l, rail_stats *out, unsigned i)
{
    size_t queued = rail__ring_length(&l->injector) + rail__overflow_length(&l->overflow);
    size_t tombstones = atomic_load(&l->tombstones);
    out->queued_at[i] = queued > tombstones ? queued - tombstones : 0;
    out->submitted_at[i] =
        ring_claimed(&l->injector) + rail__overflow_claimed(&l->overflow) - atomic_load(&l->voided);
    out->rejected_at[i] = atomic_load(&l->rejected);
}

void rail_pool_stats(rail_pool *pool, rail_stats *out)
{
    if (pool == NULL || out == NULL)
        return;
    memset(out, 0, sizeof *out);
    if (pool_forked(pool))
        return;
    uint64_t dropped = atomic_load(&pool->outside_dropped) + atomic_load(&pool->cancelled);
    size_t queued = 0;
    for (unsigned l = 0; l < RAIL_PRIORITIES; l++) {
        level_stats(&pool->levels[l], out, l);
        queued += out->queued_at[l];
        out->submitted += out->submitted_at[l];
        out->rejected += out->rejected_at[l];
    }
    for (unsigned i = 0; i < pool->threads; i++) {
        struct worker *w = &pool->workers[i];
        out->completed += atomic_load(&w->completed);
        dropped += atomic_load(&w->dropped);
        out->submitted += atomic_load(&w->submitted);
        out->busy += atomic_load(&w->busy);
        queued += (size_t)rail__deque_length(&w->deque);
    }
    out->completed += atomic_load(&pool->taken_back);
    out->discarded = dropped;
    out->queued = queued;
    out->workers_replaced = atomic_load(&pool->replaced);
    pthread_mutex_lock(&pool->lock);
    out->threads = pool->alive;
    pthread_mutex_unlock(&pool->lock);
}
