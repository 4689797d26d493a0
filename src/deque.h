/*
 * deque.h - a worker's own jobs: the Chase-Lev work-stealing deque. The
 * owner pushes and pops at the bottom; any thread may steal from the top.
 */
#ifndef RAIL_DEQUE_H
#define RAIL_DEQUE_H

#include "job.h"

#include <stdatomic.h>
#include <stdint.h>

/* A slot is read by thieves while the owner may write a newer slot, so its
 * words are atomics (relaxed: plain moves on x86 and ARM). */
struct deque_slot {
    _Atomic(rail_fn) fn;
    _Atomic(void *) arg;
    _Atomic(void *) owner;
    atomic_uint kind;
};

struct deque_buf {
    int64_t size;              /* a power of two */
    struct deque_buf *retired; /* older buffers, freed with the deque */
    struct deque_slot slots[];
};

struct deque {
    _Alignas(64) atomic_int_fast64_t top;
    _Alignas(64) atomic_int_fast64_t bottom;
    _Atomic(struct deque_buf *) buf;
};

int rail__deque_init(struct deque *d);
void rail__deque_destroy(struct deque *d);

/* Owner only. 0, or ENOMEM when the buffer had to grow and could not. */
int rail__deque_push(struct deque *d, const struct job *job);

/* Owner only: the newest job. 1 with *job filled, or 0 when empty. */
int rail__deque_pop(struct deque *d, struct job *job);

/* Any thread: the oldest job. 1 with *job, 0 when empty, -1 when it lost a
 * race (worth trying again). */
int rail__deque_steal(struct deque *d, struct job *job);

/* A snapshot of the number of jobs. */
int64_t rail__deque_length(struct deque *d);

#endif
