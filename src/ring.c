/*
 * ring.c - Vyukov's bounded MPMC queue. A cell whose sequence equals the
 * producer's position is free to write; one equal to position + 1 holds a
 * job for the consumer at that position. Producers and consumers each claim
 * a position with one CAS, then hand the cell over with a release store of
 * its sequence, so the job fields themselves need no atomics.
 */
#include "ring.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

int rail__ring_init(struct ring *r, size_t min_cells)
{
    size_t n = 2;
    while (n < min_cells)
        n <<= 1;
    r->cells = malloc(n * sizeof *r->cells);
    if (r->cells == NULL)
        return ENOMEM;
    for (size_t i = 0; i < n; i++)
        atomic_init(&r->cells[i].seq, i);
    r->mask = n - 1;
    atomic_init(&r->enq, 0);
    atomic_init(&r->deq, 0);
    return 0;
}

void rail__ring_destroy(struct ring *r)
{
    free(r->cells);
}

struct ring_cell *rail__ring_claim(struct ring *r, size_t limit, size_t *pos_out)
{
    size_t pos = atomic_load_explicit(&r->enq, memory_order_relaxed);
    for (;;) {
        struct ring_cell *cell = &r->cells[pos & r->mask];
        size_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            /* A stale deq only makes this stricter, never looser. Unbounded
             * pools skip the load: consumers write deq all the time. */
            if (limit != SIZE_MAX &&
                pos - atomic_load_explicit(&r->deq, memory_order_acquire) >= limit)
                return NULL;
            /* seq_cst: the claim is the publication the sleep protocol
             * orders against (docs/design.md). */
            if (atomic_compare_exchange_weak_explicit(&r->enq, &pos, pos + 1, memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                *pos_out = pos;
                return cell;
            }
        } else if (dif < 0) {
            return NULL; /* the cell a lap behind is still in use: full */
        } else {
            pos = atomic_load_explicit(&r->enq, memory_order_relaxed);
        }
    }
}

void rail__ring_publish(struct ring_cell *cell, size_t pos, const struct job *job)
{
    cell->job = *job;
    atomic_store_explicit(&cell->seq, pos + 1, memory_order_release);
}

/* The run of published cells from pos on, at most max long. */
static size_t ready_run(struct ring *r, size_t pos, size_t max)
{
    size_t n = 0;
    while (n < max && atomic_load_explicit(&r->cells[(pos + n) & r->mask].seq,
                                           memory_order_acquire) == pos + n + 1)
        n++;
    return n;
}

size_t rail__ring_pop_batch(struct ring *r, struct job *jobs, size_t max)
{
    size_t pos = atomic_load_explicit(&r->deq, memory_order_relaxed);
    size_t n;
    for (;;) {
        n = ready_run(r, pos, max);
        if (n == 0) {
            size_t seq = atomic_load_explicit(&r->cells[pos & r->mask].seq, memory_order_acquire);
            if ((intptr_t)seq - (intptr_t)(pos + 1) < 0)
                return 0; /* empty, or the oldest claim not yet published */
            pos = atomic_load_explicit(&r->deq, memory_order_relaxed);
            continue; /* another consumer took it */
        }
        /* The n cells stay published until consumed, and deq only grows:
         * a CAS from pos makes them all ours. seq_cst: a blocked
         * submitter's fence pairs with it (submit.c). */
        if (atomic_compare_exchange_weak_explicit(&r->deq, &pos, pos + n, memory_order_seq_cst,
                                                  memory_order_relaxed))
            break;
    }
    for (size_t i = 0; i < n; i++) {
        struct ring_cell *cell = &r->cells[(pos + i) & r->mask];
        jobs[i] = cell->job;
        atomic_store_explicit(&cell->seq, pos + i + r->mask + 1, memory_order_release);
    }
    return n;
}

int rail__ring_pop(struct ring *r, struct job *job)
{
    return rail__ring_pop_batch(r, job, 1) != 0;
}

size_t rail__ring_length(struct ring *r)
{
    size_t deq = atomic_load_explicit(&r->deq, memory_order_seq_cst);
    size_t enq = atomic_load_explicit(&r->enq, memory_order_seq_cst);
    return enq > deq ? enq - deq : 0;
}
