/*
 * parallel_for.c - a range split into chunks that the caller and up to one
 * helper job per other worker claim from a shared counter until none are
 * left.
 *
 * Claiming on demand balances uneven chunks by itself, and because the
 * caller claims too, the loop finishes even if no helper ever starts (full
 * queue, busy workers, a discarding shutdown).
 */
#include "pool.h"

#include <errno.h>
#include <stdatomic.h>

int group_try_add_helper(rail_group *group, rail_fn fn, void *arg);

struct range_work {
    _Alignas(64) atomic_size_t next; /* the next chunk to claim; alone on its line */
    _Alignas(64) size_t chunks;
    size_t begin, end, grain;
    rail_range_fn body;
    void *arg;
};

static void run_chunks(void *arg)
{
    struct range_work *w = arg;
    for (;;) {
        /* Relaxed: the claim needs only atomicity; the bodies' writes reach
         * the caller through the group's latch. */
        size_t k = atomic_fetch_add_explicit(&w->next, 1, memory_order_relaxed);
        if (k >= w->chunks)
            return;
        size_t b = w->begin + k * w->grain;
        size_t e = w->end - b > w->grain ? b + w->grain : w->end;
        w->body(b, e, w->arg);
    }
}

int rail_parallel_for(rail_pool *pool, size_t begin, size_t end, size_t grain, rail_range_fn body,
                      void *arg)
{
    if (pool == NULL || body == NULL || begin > end)
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    int inside = worker_self(pool) != NULL;
    if (!inside && pool_state(pool) != POOL_RUNNING)
        return ESHUTDOWN;
    if (begin == end)
        return 0;

    size_t n = end - begin;
    size_t others = inside ? pool->threads - 1 : pool->threads;
    if (grain == 0) { /* a few chunks per thread, so uneven ones balance out */
        grain = n / ((others + 1) * 4);
        if (grain == 0)
            grain = 1;
    }
    struct range_work w = {.chunks = (n - 1) / grain + 1,
                           .begin = begin,
                           .end = end,
                           .grain = grain,
                           .body = body,
                           .arg = arg};
    atomic_init(&w.next, 0);

    rail_group g;
    rail_group_init(&g, pool);
    size_t helpers = w.chunks - 1 < others ? w.chunks - 1 : others;
    for (size_t i = 0; i < helpers; i++)
        if (group_try_add_helper(&g, run_chunks, &w) != 0)
            break;
    run_chunks(&w);
    int rc = rail_group_wait(&g, NULL);
    /* A dropped helper claimed nothing: the caller covered its chunks. */
    return rc == ECANCELED ? 0 : rc;
}
