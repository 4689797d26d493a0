/*
 * deque.h - a worker's own jobs: the Chase-Lev work-stealing deque. The
 * owner pushes and pops at the bottom; any thread may steal from the top.
 */
#ifndef RAIL_DEQUE_H
#define RAIL_DEQUE_H

#include "job.h"

#include <errno.h>
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

/* Any thread: the oldest job. 1 with *job, 0 when empty, -1 when it lost a
 * race (worth trying again). */
int rail__deque_steal(struct deque *d, struct job *job);

/* A snapshot of the number of jobs. */
int64_t rail__deque_length(struct deque *d);

/* push's slow path (deque.c): a buffer twice the size, or NULL. */
struct deque_buf *rail__deque_grow(struct deque *d, struct deque_buf *old, int64_t top,
                                   int64_t bottom);

/* A slot's kind word holds the job's kind, level and batched flag. */
static inline void deque_slot_write(struct deque_buf *b, int64_t i, const struct job *job)
{
    struct deque_slot *s = &b->slots[i & (b->size - 1)];
    atomic_store_explicit(&s->fn, job->fn, memory_order_relaxed);
    atomic_store_explicit(&s->arg, job->arg, memory_order_relaxed);
    atomic_store_explicit(&s->owner, job->owner, memory_order_relaxed);
    atomic_store_explicit(&s->kind,
                          job->kind | (unsigned)job->level << 8 | (unsigned)job->batched << 16,
                          memory_order_relaxed);
}

static inline void deque_slot_read(struct deque_buf *b, int64_t i, struct job *job)
{
    struct deque_slot *s = &b->slots[i & (b->size - 1)];
    job->fn = atomic_load_explicit(&s->fn, memory_order_relaxed);
    job->arg = atomic_load_explicit(&s->arg, memory_order_relaxed);
    job->owner = atomic_load_explicit(&s->owner, memory_order_relaxed);
    unsigned kind = atomic_load_explicit(&s->kind, memory_order_relaxed);
    job->kind = (unsigned char)kind;
    job->level = (unsigned char)(kind >> 8);
    job->batched = (unsigned char)(kind >> 16);
}

/* Writes the job at bottom; the caller publishes it. NULL: ENOMEM. */
static inline struct deque_buf *deque_place(struct deque *d, const struct job *job, int64_t b)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    struct deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    if (b - t > a->size - 1 && (a = rail__deque_grow(d, a, t, b)) == NULL)
        return NULL;
    deque_slot_write(a, b, job);
    return a;
}

/*
 * Owner only. 0, or ENOMEM when the buffer had to grow and could not.
 * The paper publishes with a release fence and a relaxed store. seq_cst is
 * stronger and does double duty: it is the publication the sleep protocol
 * orders against, so rail__sleep_notify() needs no fence (sleep.c), and a
 * sanitizer sees the edge. On x86 it is an xchg, a full barrier.
 */
static inline int rail__deque_push(struct deque *d, const struct job *job)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    if (deque_place(d, job, b) == NULL)
        return ENOMEM;
    atomic_store_explicit(&d->bottom, b + 1, memory_order_seq_cst);
    return 0;
}

/* As rail__deque_push(), published by the paper's release store (a plain
 * store on x86): outside the sleep protocol's order. Only for a job its
 * pusher will take back itself if no thief does (rail_join's b), so a
 * sleeper that misses it costs parallelism, never progress. */
static inline int rail__deque_push_release(struct deque *d, const struct job *job)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    if (deque_place(d, job, b) == NULL)
        return ENOMEM;
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return 0;
}

/* Owner only: how many jobs fit without growing the buffer. */
static inline int64_t rail__deque_room(struct deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    struct deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    return a->size - (b - t);
}

/* Owner only: pushes jobs[n-1] first and jobs[0] last, so pops return them
 * in array order, with one seq_cst publication (as rail__deque_push()).
 * The caller has checked rail__deque_room(): it never grows. */
static inline void rail__deque_push_many(struct deque *d, const struct job *jobs, int64_t n)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    struct deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    for (int64_t i = 0; i < n; i++)
        deque_slot_write(a, b + i, &jobs[n - 1 - i]);
    atomic_store_explicit(&d->bottom, b + n, memory_order_seq_cst);
}

/* Owner only: the newest job. 1 with *job filled, or 0 when empty. Indices
 * are signed: pop decrements bottom before it knows whether the deque is
 * empty. */
static inline int rail__deque_pop(struct deque *d, struct job *job)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    struct deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    if (t > b) { /* empty */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        return 0;
    }
    deque_slot_read(a, b, job);
    if (t == b) { /* the last job: race the thieves for it */
        int won = atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                          memory_order_relaxed);
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        return won;
    }
    return 1;
}

#endif
