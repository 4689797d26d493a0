/*
 * worker.c - the worker threads: where they look for work, how they run a
 * job, how they wait (helping), and how a worker whose job ended its thread
 * is replaced. How they sleep when idle is sleep.c's.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "worker.h"
#include "future.h"

#include "spin.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Nested helps with jobs not from a waiter's own deque; see rail__pool_wait(). */
#define HELP_FOREIGN_MAX 16

/* Most outside jobs one claim takes from a level's queue (level_pop()). */
#define BATCH_MAX 8

enum { FOUND_NONE, FOUND_OWN, FOUND_FOREIGN };

/* The worker this thread is, if any; set for the thread's whole life. */
_Thread_local struct worker *rail__self RAIL_TLS_MODEL;

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

int rail_worker_index(void)
{
    return rail__self != NULL ? (int)rail__self->index : -1;
}

/* A worker took an outside job: a blocked submitter may now fit. The ring's
 * CAS was seq_cst, which pairs with the fence in wait_for_room(). */
static void took_outside_job(rail_pool *pool)
{
    if (pool->capacity != 0 && atomic_load_explicit(&pool->space_waiters, memory_order_seq_cst))
        rail__pool_wake_space_waiters(pool);
}

static int steal(struct worker *w, struct job *job)
{
    rail_pool *pool = w->pool;
    /* A lost race means the victim has work: try the round again, a few times. */
    for (int round = 0; round < 4; round++) {
        int lost = 0;
        for (unsigned i = 0; i < pool->threads; i++) {
            unsigned v = (w->victim + i) % pool->threads;
            if (v == w->index)
                continue;
            int r = rail__deque_steal(&pool->workers[v].deque, job);
            if (r == 1) {
                w->victim = v;
                return 1;
            }
            lost |= r < 0;
        }
        if (!lost)
            return 0;
    }
    return 0;
}

/* Levels in the order a worker looks at them: most urgent first. */
static const unsigned char level_order[RAIL_PRIORITIES] = {RAIL_PRIORITY_HIGH, RAIL_PRIORITY_NORMAL,
                                                           RAIL_PRIORITY_LOW};
/* A level's place in level_order. */
static const unsigned char order_of[RAIL_PRIORITIES] = {
    [RAIL_PRIORITY_HIGH] = 0, [RAIL_PRIORITY_NORMAL] = 1, [RAIL_PRIORITY_LOW] = 2};

static int level_waiting(rail_pool *pool, unsigned l)
{
    return rail__ring_length(&pool->levels[l].injector) != 0 ||
           (pool->capacity == 0 && rail__overflow_length(&pool->levels[l].overflow) != 0);
}

/*
 * Whether a claim from level l may take a batch: only between jobs (depth
 * 0) with an empty deque, so a batched job lies below any job a running job
 * pushes later (a waiter that reaches one has no own job left) and a deque
 * holds one batch at most; and only while no other level waits, so the
 * batch's jobs are the takes take_outside() would make anyway.
 */
static int may_batch(struct worker *w, unsigned l)
{
    if (w->depth != 0 || rail__deque_length(&w->deque) != 0)
        return 0;
    for (unsigned k = 0; k < RAIL_PRIORITIES; k++)
        if (k != l && level_waiting(w->pool, k))
            return 0;
    return 1;
}

/*
 * This worker left jobs on its deque that another may take (a batch's rest,
 * a batched job put back): wake a sleeper for them, as a submission does.
 * Not while it looks from the idle path: there sleep.c decides the wakes
 * (a searcher's and the re-check's wake cover these jobs), and in the
 * re-check this worker counts itself among the sleepers, so a wake of its
 * own could only look for itself: rail__sleep_wake_one() woke nobody, saw a
 * sleeper and work, and tried again, for good in a pool of one worker.
 */
static void spread(struct worker *w)
{
    if (!w->idle)
        rail__sleep_notify(w->pool);
}

/*
 * Takes one job of level l, and in an unbounded pool, when batch_ok and
 * may_batch(), up to BATCH_MAX - 1 more with the same CAS, which go on this
 * worker's deque (marked batched), oldest on top of the owner's end: it runs
 * them next in order, or a thief takes them (the newest first). A claim is then one
 * contended CAS per batch instead of per job. A bounded pool takes one at a
 * time: its capacity counts queued jobs, and a batch on a deque would no
 * longer count.
 */
static int level_pop(struct worker *w, unsigned l, int batch_ok, struct job *job)
{
    rail_pool *pool = w->pool;
    struct level *lv = &pool->levels[l];
    if (pool->capacity != 0) {
        if (!rail__ring_pop(&lv->injector, job))
            return 0;
        took_outside_job(pool);
        return 1;
    }
    struct job batch[BATCH_MAX];
    size_t max = batch_ok && may_batch(w, l) ? BATCH_MAX : 1;
    size_t n = rail__ring_pop_batch(&lv->injector, batch, max);
    /* The length first: two loads, where an empty pop would also fence. */
    if (n == 0 && rail__overflow_length(&lv->overflow) != 0)
        n = rail__overflow_pop_batch(&lv->overflow, batch, max);
    if (n == 0)
        return 0;
    *job = batch[0];
    if (n > 1) {
        for (size_t i = 1; i < n; i++)
            batch[i].batched = 1;
        rail__deque_push_many(&w->deque, batch + 1, (int64_t)n - 1);
        spread(w); /* a sleeper may steal them */
    }
    return 1;
}

/* held: the place in level_order of a batched job in hand, or -1. Its level
 * counts as waiting: its batch is. */
static int waiting_at(struct worker *w, unsigned i, int held)
{
    return (int)i == held || level_waiting(w->pool, level_order[i]);
}

/* Takes from the i-th level in level_order (the held job, if it is that
 * level's), and counts a pass for each less urgent level left waiting. */
static int take_at(struct worker *w, unsigned i, int held, struct job *job)
{
    /* No batch while a batched job is in hand: it goes back on the deque,
     * on top of the batch, and would run before it. */
    if ((int)i != held && !level_pop(w, level_order[i], held < 0, job))
        return 0;
    w->passed[level_order[i]] = 0;
    for (unsigned j = i + 1; j < RAIL_PRIORITIES; j++)
        if (waiting_at(w, j, held))
            w->passed[level_order[j]]++;
    return 1;
}

enum { TOOK_NONE, TOOK_QUEUED, TOOK_HELD };

/*
 * An outside job: from the most urgent level that has one, unless a less
 * urgent level has been passed over RAIL_PRIORITY_PASS_MAX times while it
 * waited; then from that level (the most urgent such). Each take from a
 * level counts one pass for every less urgent level still waiting, and
 * resets its own count. So a waiting level is taken at least once in every
 * PASS_MAX + 2 takes of this worker: PASS_MAX passes, at most one starved
 * less urgent level served first (it needs PASS_MAX passes of its own,
 * which this level gets too), then this one. A batched job in hand (held)
 * is a take of its level like any other: TOOK_HELD when it is its turn.
 */
static int take_outside(struct worker *w, int held, struct job *job)
{
    unsigned starved = 0; /* 0: none (the most urgent level is never starved) */
    for (unsigned i = 1; i < RAIL_PRIORITIES && starved == 0; i++)
        if (w->passed[level_order[i]] >= RAIL_PRIORITY_PASS_MAX && waiting_at(w, i, held))
            starved = i;
    if (starved != 0 && take_at(w, starved, held, job))
        return (int)starved == held ? TOOK_HELD : TOOK_QUEUED;
    for (unsigned i = 0; i < RAIL_PRIORITIES; i++)
        if ((starved == 0 || i != starved) && take_at(w, i, held, job))
            return (int)i == held ? TOOK_HELD : TOOK_QUEUED;
    return TOOK_NONE;
}

/* Puts back a batched job this worker popped and will not run now. */
static void put_back(struct worker *w, const struct job *job)
{
    rail__deque_push(&w->deque, job); /* it was just popped: no growth, no ENOMEM */
    spread(w);
}

/* A batched job popped from the deque runs if its level's turn has come
 * (take_outside() with it in hand); else it goes back and *job is the job
 * of the level whose turn it is. */
static void batched_turn(struct worker *w, struct job *job)
{
    struct job other;
    if (take_outside(w, order_of[job->level], &other) == TOOK_QUEUED) {
        put_back(w, job);
        *job = other;
    }
}

/* Own deque first (newest), then outside jobs, then other workers. A
 * batched job on the deque is an outside job (foreign), taken in its
 * level's turn. */
static int find_work(struct worker *w, struct job *job, int foreign_ok)
{
    rail_pool *pool = w->pool;
    if (rail__deque_pop(&w->deque, job)) {
        if (!job->batched)
            return FOUND_OWN;
        if (!foreign_ok) { /* none of its own jobs is left below it */
            put_back(w, job);
            return FOUND_NONE;
        }
        batched_turn(w, job);
        return FOUND_FOREIGN;
    }
    if (!foreign_ok)
        return FOUND_NONE;
    if (take_outside(w, -1, job) != TOOK_NONE)
        return FOUND_FOREIGN;
    if (pool->threads > 1 && steal(w, job))
        return FOUND_FOREIGN;
    return FOUND_NONE;
}

/* For the idle path (sleep.c): 1 with a job from anywhere. Jobs it spreads
 * on the way wake nobody: the caller decides (spread()). */
int rail__worker_find_work(struct worker *w, struct job *job)
{
    w->idle = 1;
    int found = find_work(w, job, 1) != FOUND_NONE;
    w->idle = 0;
    return found;
}

/* Tells a job's owner it is over. */
static void finish(void *owner, unsigned kind, int status)
{
    if (kind == JOB_LATCH || kind == JOB_HELPER)
        latch_done(owner, status);
    else if (kind == JOB_FUTURE)
        rail__future_finish(owner, status);
}

static void push_frame(struct worker *w, const struct job *job)
{
    if (w->depth == w->frames_cap) {
        unsigned cap = w->frames_cap * 2;
        struct frame *f = realloc(w->frames, cap * sizeof *f);
        if (f == NULL) {
            /* Cannot record it: a pthread_exit() in this job would lose
             * track of it. Abort beats a wait that never returns. */
            fprintf(stderr, "rail: out of memory tracking nested jobs\n");
            abort();
        }
        w->frames = f;
        w->frames_cap = cap;
    }
    w->frames[w->depth++] = (struct frame){job->owner, job->kind};
}

/* Runs (or, while discarding, drops) a job this worker has taken. */
static void worker_execute(struct worker *w, struct job *job)
{
    rail_pool *pool = w->pool;
    if (job->kind == JOB_VOID ||
        atomic_load_explicit(&pool->state, memory_order_relaxed) == POOL_DISCARDING) {
        rail__pool_drop(pool, w, job); /* a void entry is only skipped there */
        return;
    }
    if (job->kind == JOB_FUTURE && !rail__future_claim(job->owner)) {
        rail__future_unclaimed_popped(job->owner); /* cancelled while queued */
        return;
    }
    push_frame(w, job);
    if (w->depth == 1)
        atomic_store_explicit(&w->busy, 1, memory_order_relaxed);
    if (job->kind == JOB_FUTURE)
        rail__future_run(job->owner);
    else
        job->fn(job->arg);
    if (--w->depth == 0)
        atomic_store_explicit(&w->busy, 0, memory_order_relaxed);
    finish(job->owner, job->kind, 0);
    counter_add(&w->completed, 1);
}

/*
 * Waits until latch opens. A worker of the pool runs jobs meanwhile, so a
 * job waiting for jobs queued behind it cannot deadlock the pool, even with
 * one worker: first its own deque (the newest there are the waiting job's
 * children), then foreign jobs, but only HELP_FOREIGN_MAX deep, because each
 * may wait and help in turn and the nesting would follow the queue instead
 * of the recursion. With nothing it may run, it sleeps on the latch: what it
 * waits for is then running elsewhere. The deadline is checked only then.
 */
int rail__pool_wait(rail_pool *pool, struct latch *latch, const struct timespec *deadline)
{
    struct worker *w = rail__worker_self(pool);
    if (w == NULL)
        return latch_sleep(latch, deadline);
    while (!latch_open(latch)) {
        struct job job;
        int found = find_work(w, &job, w->foreign_depth < HELP_FOREIGN_MAX);
        if (found != FOUND_NONE) {
            unsigned foreign = found == FOUND_FOREIGN;
            w->foreign_depth += foreign;
            worker_execute(w, &job);
            w->foreign_depth -= foreign;
            continue;
        }
        for (int i = 0; i < 256 && !latch_open(latch); i++)
            cpu_relax(); /* the awaited job is likely about to end elsewhere */
        if (!latch_open(latch) && latch_sleep(latch, deadline) == ETIMEDOUT)
            return ETIMEDOUT;
    }
    return 0;
}

/*
 * rail_join's second half, if no thief took b: pops this worker's deque
 * until the job owned by owner comes back, running on the way whatever the
 * first half pushed above it and left. The join's own job is run here as a
 * plain call, as rayon runs its b inline: nobody else knows of it, so its
 * latch is not touched and no frame is recorded (a pthread_exit() in it ends
 * the joining job's frame, and nobody waits for the latch then). While the
 * pool discards, it is dropped as any job would be.
 */
int rail__worker_take_back(struct worker *w, const void *owner)
{
    struct job job;
    while (rail__deque_pop(&w->deque, &job)) {
        if (job.batched) { /* below the joins' jobs: a thief took this one's */
            put_back(w, &job);
            return TAKEN_BACK_NONE;
        }
        if (job.owner != owner) {
            worker_execute(w, &job);
            continue;
        }
        if (atomic_load_explicit(&w->pool->state, memory_order_relaxed) == POOL_DISCARDING) {
            worker_execute(w, &job);
            return TAKEN_BACK_LATCH;
        }
        job.fn(job.arg);
        counter_add(&w->completed, 1);
        return TAKEN_BACK_INLINE;
    }
    return TAKEN_BACK_NONE;
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
    rail__self = w;
    pthread_setspecific(exit_key, w);
    name_thread(pool, w->index);
    if (pool->opts.on_worker_start != NULL)
        pool->opts.on_worker_start(w->index, pool->opts.ctx);

    struct job job;
    for (;;) {
        if (find_work(w, &job, 1) == FOUND_NONE && !rail__sleep_idle(w, &job))
            break;
        worker_execute(w, &job);
    }

    pthread_setspecific(exit_key, NULL);
    if (pool->opts.on_worker_stop != NULL)
        pool->opts.on_worker_stop(w->index, pool->opts.ctx);
    rail__self = NULL;
    return NULL;
}

/* Starts the thread of slot w. Called with pool->lock held. */
int rail__worker_start_locked(rail_pool *pool, struct worker *w)
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

/* The calling thread's stack, [*lo, *hi). */
static void own_stack(uintptr_t *lo, uintptr_t *hi)
{
    pthread_attr_t attr;
    void *addr = NULL;
    size_t size = 0;
    /* glibc fails only on memory for a CPU set, which workers have none of. */
    if (pthread_getattr_np(pthread_self(), &attr) != 0) {
        fprintf(stderr, "rail: cannot find the stack of a worker that ended in a job\n");
        abort();
    }
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    *lo = (uintptr_t)addr;
    *hi = *lo + size;
}

static int on_stack(const void *p, uintptr_t lo, uintptr_t hi)
{
    return (uintptr_t)p >= lo && (uintptr_t)p < hi;
}

/*
 * Takes off the deque of a thread that ends in a job every job whose owner
 * lies on that thread's stack: a rail_join()'s b (its latch is in the
 * joining frame), a parallel_for's helpers, the jobs of a group that lived
 * there. pthread_exit() has unwound the frames they belong to, and the stack
 * is reused by the next thread glibc starts, so running such a job, or
 * finishing it into its owner, would write to memory that is no longer
 * theirs. Each is dropped unrun and counted as completed, like the jobs the
 * thread was inside; nobody is told, as its waiter is gone with the thread.
 * The deque's other jobs stay, in order, for the replacement. The batched
 * outside jobs at the bottom (see may_batch()) are not popped at all.
 */
static void drop_stack_owned(struct worker *w, uintptr_t lo, uintptr_t hi)
{
    struct job job, *kept = NULL;
    size_t n = 0, cap = 0;
    while (rail__deque_pop(&w->deque, &job)) {
        if (job.batched) {
            rail__deque_push(&w->deque, &job); /* just popped: no growth */
            break;
        }
        if (on_stack(job.owner, lo, hi)) {
            counter_add(&w->completed, 1);
            continue;
        }
        if (n == cap) {
            cap = cap != 0 ? cap * 2 : 16;
            struct job *k = realloc(kept, cap * sizeof *k);
            if (k == NULL) {
                fprintf(stderr, "rail: out of memory keeping an ended worker's jobs\n");
                abort();
            }
            kept = k;
        }
        kept[n++] = job;
    }
    if (n != 0) {
        while (n > 0) /* the oldest first, so they pop in their old order */
            rail__deque_push(&w->deque, &kept[--n]); /* popped: no growth */
        spread(w);
    }
    free(kept);
}

/*
 * The destructor of exit_key: a job of this worker called pthread_exit().
 * Every job the thread was inside (several when it was helping in a wait)
 * is over with EOWNERDEAD, told to its owner unless the owner was on this
 * thread's stack (a group the thread itself waited for: that frame is gone,
 * and the memory now holds this function's own frames). Jobs on the deque
 * owned from that stack are dropped (drop_stack_owned()). A new thread
 * takes the slot, with its deque, and joins this one. The jobs are counted
 * over only after the new thread's id is in the slot, all under pool->lock:
 * a shutdown that sees the pool idle takes that lock before it joins the
 * slots, and so finds the new id.
 */
static void worker_ended(void *arg)
{
    struct worker *w = arg;
    rail_pool *pool = w->pool;
    uintptr_t lo, hi;

    own_stack(&lo, &hi);
    drop_stack_owned(w, lo, hi);
    if (pool->opts.on_worker_stop != NULL)
        pool->opts.on_worker_stop(w->index, pool->opts.ctx);

    pthread_mutex_lock(&pool->lock);
    w->alive = 0;
    pool->alive--;
    w->predecessor = pthread_self();
    w->has_predecessor = 1;
    if (rail__worker_start_locked(pool, w) == 0)
        atomic_fetch_add_explicit(&pool->replaced, 1, memory_order_relaxed);
    else /* the slot stays empty; the next submission or wait tries again */
        atomic_fetch_add_explicit(&pool->vacant, 1, memory_order_relaxed);
    unsigned depth = w->depth;
    w->depth = 0;
    w->foreign_depth = 0;
    atomic_store_explicit(&w->busy, 0, memory_order_relaxed);
    while (depth > 0) {
        struct frame *f = &w->frames[--depth];
        if (!on_stack(f->owner, lo, hi))
            finish(f->owner, f->kind, EOWNERDEAD);
        counter_add(&w->completed, 1);
    }
    /* With no replacement, no worker may be left to tell idle waiters. */
    pthread_cond_broadcast(&pool->idle_cond);
    pthread_mutex_unlock(&pool->lock);
    rail__self = NULL;
}

/* Refills slots left empty when a replacement thread could not be created. */
void rail__pool_respawn_locked(rail_pool *pool)
{
    for (unsigned i = 0; i < pool->threads && pool->alive < pool->threads; i++) {
        struct worker *w = &pool->workers[i];
        if (!w->alive && w->has_predecessor && rail__worker_start_locked(pool, w) == 0) {
            atomic_fetch_add_explicit(&pool->replaced, 1, memory_order_relaxed);
            atomic_fetch_sub_explicit(&pool->vacant, 1, memory_order_relaxed);
        }
    }
}

/* After a submission: a pool with empty slots may have no worker at all. */
void rail__pool_respawn(rail_pool *pool)
{
    if (atomic_load_explicit(&pool->vacant, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&pool->lock);
    if (atomic_load_explicit(&pool->state, memory_order_relaxed) != POOL_STOPPED)
        rail__pool_respawn_locked(pool);
    pthread_mutex_unlock(&pool->lock);
}
