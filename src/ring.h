/*
 * ring.h - the injector: a bounded multi-producer multi-consumer ring of
 * jobs (Vyukov's design: a sequence number per cell). Lock-free; any thread
 * may push or pop.
 */
#ifndef RAIL_RING_H
#define RAIL_RING_H

#include "job.h"

#include <stdatomic.h>
#include <stddef.h>

struct ring_cell {
    atomic_size_t seq;
    struct job job;
};

struct ring {
    struct ring_cell *cells;
    size_t mask;
    _Alignas(64) atomic_size_t enq; /* positions ever claimed; read with ring_claimed() */
    _Alignas(64) atomic_size_t deq;
};

int rail__ring_init(struct ring *r, size_t min_cells);
void rail__ring_destroy(struct ring *r);

/*
 * A push in two steps, so the caller can decide what to write after the
 * position is taken (see submit.c): rail__ring_claim() takes the next position
 * with a seq_cst CAS and returns its cell, or NULL when the ring is full or
 * holds `limit` jobs; rail__ring_publish() writes the job and hands the cell to
 * consumers. Every claimed cell must be published.
 */
struct ring_cell *rail__ring_claim(struct ring *r, size_t limit, size_t *pos);
void rail__ring_publish(struct ring_cell *cell, size_t pos, const struct job *job);

/* 1 with *job filled, or 0 when empty. */
int rail__ring_pop(struct ring *r, struct job *job);

/* Up to max of the oldest jobs, in order, with one CAS: how many (0 when
 * empty). */
size_t rail__ring_pop_batch(struct ring *r, struct job *jobs, size_t max);

/* Positions ever claimed: jobs pushed, and void claims (see submit.c). */
static inline size_t ring_claimed(struct ring *r)
{
    return atomic_load_explicit(&r->enq, memory_order_acquire);
}

/* Positions claimed and not yet popped, published or not (a snapshot). */
size_t rail__ring_length(struct ring *r);

#endif
