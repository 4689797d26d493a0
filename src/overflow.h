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

/* One end of the queue: a position and the segment that holds it. */
struct overflow_end {
    atomic_size_t index;
    struct overflow_segment *_Atomic segment;
};

/* All zero is an empty queue. */
struct overflow {
    _Alignas(64) struct overflow_end head;
    _Alignas(64) struct overflow_end tail;
};

/* 0, or ENOMEM when a new segment was needed and could not be allocated
 * (nothing is queued then). */
int rail__overflow_push(struct overflow *q, const struct job *job);

/* 1 with *job filled (the oldest), or 0 when empty. */
int rail__overflow_pop(struct overflow *q, struct job *job);

/* Jobs pushed (or being pushed) and not yet popped: a snapshot. */
size_t rail__overflow_length(struct overflow *q);

/* Frees the segments; no thread may use the queue any more. */
void rail__overflow_destroy(struct overflow *q);

#endif
