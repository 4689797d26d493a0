/*
 * overflow.h - an unbounded pool's spill queue: the jobs the injector ring
 * had no room for. An unbounded multi-producer multi-consumer FIFO queue,
 * lock-free: a linked list of ring segments (the design of crossbeam's
 * SegQueue, after Vyukov). See overflow.c.
 */
#ifndef RAIL_OVERFLOW_H
#define RAIL_OVERFLOW_H

#include "job.h"

#include <stdatomic.h>
#include <stddef.h>

struct overflow_segment;
struct overflow_slot;

/* One end of the queue: a position and the segment that holds it. */
struct overflow_end {
    atomic_size_t index;
    struct overflow_segment *_Atomic segment;
};

/* All zero is an empty queue. */
struct overflow {
    _Alignas(64) struct overflow_end head;
    _Alignas(64) struct overflow_end tail;
    /* The last segment freed, kept for the next one needed: a steady stream
     * through the queue then allocates nothing. */
    _Alignas(64) struct overflow_segment *_Atomic reuse;
};

/* 0, or ENOMEM when a new segment was needed and could not be allocated
 * (nothing is queued then). */
int rail__overflow_push(struct overflow *q, const struct job *job);

/*
 * rail__overflow_push() in two steps, as the ring's claim and publish, so the
 * caller can decide what to write once the position is taken (submit.c):
 * the claim takes the next position with a seq_cst CAS (NULL: ENOMEM,
 * nothing claimed); the publish writes the job and hands it to consumers.
 * Every claimed slot must be published.
 */
struct overflow_slot *rail__overflow_claim(struct overflow *q);
void rail__overflow_publish(struct overflow_slot *slot, const struct job *job);

/* Positions ever claimed: jobs pushed, and void claims (see submit.c). */
size_t rail__overflow_claimed(struct overflow *q);

/* 1 with *job filled (the oldest), or 0 when empty. */
int rail__overflow_pop(struct overflow *q, struct job *job);

/* Up to max of the oldest jobs, in order, with one CAS (fewer at the end of
 * a segment): how many, 0 when empty. */
size_t rail__overflow_pop_batch(struct overflow *q, struct job *jobs, size_t max);

/* Jobs pushed (or being pushed) and not yet popped: a snapshot. */
size_t rail__overflow_length(struct overflow *q);

/* Frees the segments; no thread may use the queue any more. */
void rail__overflow_destroy(struct overflow *q);

#endif
