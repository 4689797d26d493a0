/*
 * parallel_for.c - a range split into chunks of at most `grain`, claimed by
 * the caller and up to one helper job per other worker from a shared
 * counter until none are left.
 *
 * Claims are guided: each takes a share of what is left (left / 2P chunks,
 * at least one), so a loop of N chunks costs O(P log N) atomic operations
 * instead of N contended ones, and the pieces shrink towards the end, which
 * balances uneven work. Because the caller claims too, the loop finishes
 * even if no helper ever starts (full queue, busy workers, a discarding
 * shutdown).
 */
#include "worker.h"

#include <errno.h>
#include <stdatomic.h>

struct range_work {
    _Alignas(64) atomic_size_t next; /* the next chunk to claim; alone on its line */
    _Alignas(64) size_t chunks;
    size_t begin, end, grain, participants;
    rail_range_fn body;
    void *arg;
};

static void run_chunks(void *arg)
{
    struct range_work *w = arg;
    /* Relaxed: a claim needs only atomicity; the bodies' writes reach the
     * caller through the group's latch. */
    size_t k = atomic_load_explicit(&w->next, memory_order_relaxed);
    for (;;) {
        if (k >= w->chunks)
            return;
        size_t take = (w->chunks - k) / (2 * w->participants);
        if (take == 0)
            take = 1;
        if (!atomic_compare_exchange_weak_explicit(&w->next, &k, k + take, memory_order_relaxed,
                                                   memory_order_relaxed))
            continue; /* k now holds the current value */
        for (size_t c = k; c < k + take; c++) {
            size_t b = w->begin + c * w->grain;
            size_t e = w->end - b > w->grain ? b + w->grain : w->end;
            w->body(b, e, w->arg);
        }
        k = atomic_load_explicit(&w->next, memory_order_relaxed);
    }
}

int rail_parallel_for(rail_pool *pool, size_t begin, size_t end, size_t grain, rail_range_fn body,
                      void *arg)
{
    if (pool == NULL || body == NULL || begin > end)
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    int inside = rail__worker_self(pool) != NULL;
    if (!inside && rail__pool_state(pool) != POOL_RUNNING)
        return ESHUTDOWN;
    if (begin == end)
        return 0;

    size_t n = end - begin;
    /* The caller is one participant, so with every worker busy the loop
     * runs on as many threads as the pool has, not one more; a pool of one
     * still gets its worker from an outside caller. */
    size_t others = pool->threads - 1;
    if (!inside && others == 0)
        others = 1;
    if (grain == 0) { /* a few chunks per thread, so uneven ones balance out */
        grain = n / ((others + 1) * 4);
        if (grain == 0)
            grain = 1;
    }
    struct range_work w = {.chunks = (n - 1) / grain + 1,
                           .begin = begin,
                           .end = end,
                           .grain = grain,
                           .participants = others + 1,
                           .body = body,
                           .arg = arg};
    atomic_init(&w.next, 0);

    rail_group g;
    rail_group_init(&g, pool);
    size_t helpers = w.chunks - 1 < others ? w.chunks - 1 : others;
    for (size_t i = 0; i < helpers; i++)
        if (rail__group_try_add_helper(&g, run_chunks, &w) != 0)
            break;
    run_chunks(&w);
    int rc = rail_group_wait(&g, NULL);
    /* A dropped helper claimed nothing: the caller covered its chunks. */
    return rc == ECANCELED ? 0 : rc;
}
