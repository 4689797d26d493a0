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

static int join_inside(rail_pool *pool, struct worker *w, rail_fn a, void *arg_a, rail_fn b,
                       void *arg_b)
{
    struct latch latch;
    latch_init(&latch, 0);
    int rc = rail__latch_submit(pool, &latch, b, arg_b, JOB_LATCH, ADMIT_QUIET);
    a(arg_a);
    if (rc != 0) { /* not queued: discarding, or out of memory */
        b(arg_b);
        return 0;
    }
    /* Pops the deque down to b, running what a left above it; if a thief
     * took b, waits for it (helping meanwhile). */
    if (!rail__worker_take_back(w, &latch))
        rail__pool_wait(pool, &latch, NULL);
    return latch_take_status(&latch);
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
    if (pool_forked(pool))
        return ECHILD;
    struct worker *w = rail__worker_self(pool);
    if (w != NULL)
        return join_inside(pool, w, a, arg_a, b, arg_b);
    return join_outside(pool, a, arg_a, b, arg_b);
}
