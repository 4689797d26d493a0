/*
 * join.c - rail_join(a, b): a runs here while b is offered to the pool; if
 * nobody took b by the time a returns, the caller runs it too.
 *
 * From a worker, b goes on the worker's own deque, where a thief can take
 * it; taking it back is a pop, with no context switch and no allocation.
 * From outside, b is queued as a future (one allocation), which the caller
 * takes back with one CAS. A full queue or a discarding pool is no reason to
 * block: b then simply runs after a, here.
 */
#include "future.h"
#include "worker.h"

#include <errno.h>
#include <stdint.h>

/*
 * From a worker, per join when nobody steals b: a deque push (a release
 * store, see offer_b()) and pop (one fence), the counters' plain
 * stores and a look at the sleep state; no read-modify-write on the latch. Its count
 * starts at 1 for b before b is published, and only a thief that runs b
 * ever decrements it. (rayon's join does the same: its latch is set only by
 * a thief.)
 */
/*
 * b's submission: as rail__submit_inside(), but outside the sleep protocol's
 * handshake. The worker takes b back itself as soon as a returns, unless a
 * thief took it first, so b needs no wake to make progress; a wake only lets
 * a sleeper run it in parallel. Its publication is therefore a release
 * store, and the wake a hint read with plain loads (rail__sleep_hint()): a
 * worker that goes to sleep just as b is pushed can miss it, and the next
 * join wakes it. That spares each join the full barrier of a seq_cst
 * publication; its pop's fence is the only one left (as in rayon's join).
 */
static int offer_b(struct worker *w, const struct job *job)
{
    rail_pool *pool = w->pool;
    int state = atomic_load_explicit(&pool->state, memory_order_acquire);
    if (state == POOL_DISCARDING || state == POOL_STOPPED)
        return ESHUTDOWN;
    counter_add(&w->submitted, 1); /* counted before it is published */
    if (rail__deque_push_release(&w->deque, job) != 0) {
        counter_add(&w->submitted, (uint64_t)-1);
        return ENOMEM;
    }
    rail__sleep_hint(&pool->sleep, pool);
    return 0;
}

/*
 * The latch lives in this frame. If a (or a job run while waiting) ends the
 * thread with pthread_exit(), the frame is gone: worker_ended() then drops
 * b if it is still on the deque (drop_stack_owned() in worker.c), but a b
 * that a thief took would complete into the gone frame, which rail_join's
 * contract forbids.
 */
static int join_inside(rail_pool *pool, struct worker *w, rail_fn a, void *arg_a, rail_fn b,
                       void *arg_b)
{
    struct latch latch;
    latch_init(&latch, 1);
    struct job job = {.fn = b, .arg = arg_b, .owner = &latch, .kind = JOB_LATCH};
    int rc = offer_b(w, &job);
    a(arg_a);
    if (rc != 0) { /* not queued: discarding, or out of memory */
        b(arg_b);
        return 0;
    }
    /* Pops the deque down to b, running what a left above it; if a thief
     * took b, waits for it (helping meanwhile). */
    switch (rail__worker_take_back(w, &latch)) {
    case TAKEN_BACK_INLINE:
        return 0;
    case TAKEN_BACK_NONE:
        rail__pool_wait(pool, &latch, NULL);
        break;
    }
    /* Open: the acquire that saw it so ordered the status before it. */
    return atomic_load_explicit(&latch.status, memory_order_relaxed);
}

static int join_outside(rail_pool *pool, rail_fn a, void *arg_a, rail_fn b, void *arg_b)
{
    rail_future *f;
    int rc = rail__future_offer(pool, b, arg_b, &f);
    if (rc == ESHUTDOWN)
        return ESHUTDOWN;
    a(arg_a);
    if (rc != 0) { /* not queued: full, or out of memory */
        b(arg_b);
        return 0;
    }
    if (!rail__future_take_back(f))
        return rail__future_join(f); /* a worker has it */
    b(arg_b);
    rail__future_taken_back(f);
    return 0;
}

int rail_join(rail_pool *pool, rail_fn a, void *arg_a, rail_fn b, void *arg_b)
{
    if (pool == NULL || a == NULL || b == NULL)
        return EINVAL;
    /* No thread is a worker in a fork() child (fork.c), so a worker's join
     * skips the fork check. */
    struct worker *w = rail__worker_self(pool);
    if (w != NULL)
        return join_inside(pool, w, a, arg_a, b, arg_b);
    if (pool_forked(pool))
        return ECHILD;
    return join_outside(pool, a, arg_a, b, arg_b);
}
