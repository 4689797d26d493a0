/*
 * latch.h - what groups, joins and futures wait on: a count of outstanding
 * jobs in one 32-bit futex word, plus a bit that says a waiter may sleep.
 *
 * The last touch a finishing job makes is one fetch_sub (and, only if it was
 * the last job and the bit was set, a rail__futex_wake on the address), so a latch
 * may live on the waiter's stack: the waiter may return and reuse the memory
 * as soon as it reads a zero count. See docs/design.md.
 */
#ifndef RAIL_LATCH_H
#define RAIL_LATCH_H

#include "futex.h"

#include <errno.h>
#include <stdatomic.h>

#define LATCH_SLEEPER 0x80000000u
#define LATCH_COUNT   0x7fffffffu

struct latch {
    atomic_uint word;  /* outstanding jobs | LATCH_SLEEPER */
    atomic_int status; /* first ECANCELED or EOWNERDEAD since the last reset */
};

static inline void latch_init(struct latch *l, unsigned count)
{
    atomic_init(&l->word, count);
    atomic_init(&l->status, 0);
}

/* Counts one more job, before it is published. EAGAIN if 2^31-1 are
 * outstanding already. */
static inline int latch_add(struct latch *l)
{
    unsigned w = atomic_fetch_add_explicit(&l->word, 1, memory_order_relaxed);
    if ((w & LATCH_COUNT) == LATCH_COUNT) {
        atomic_fetch_sub_explicit(&l->word, 1, memory_order_relaxed);
        return EAGAIN;
    }
    return 0;
}

/* Takes back a latch_add() whose job was never published. */
static inline void latch_unadd(struct latch *l)
{
    atomic_fetch_sub_explicit(&l->word, 1, memory_order_relaxed);
}

static inline int latch_open(struct latch *l)
{
    return (atomic_load_explicit(&l->word, memory_order_acquire) & LATCH_COUNT) == 0;
}

/* One job is over with status (0, ECANCELED or EOWNERDEAD). */
static inline void latch_done(struct latch *l, int status)
{
    if (status != 0) {
        int none = 0;
        atomic_compare_exchange_strong_explicit(&l->status, &none, status, memory_order_relaxed,
                                                memory_order_relaxed);
    }
    /* Release: the job's effects (and status) before the count drops. */
    unsigned w = atomic_fetch_sub_explicit(&l->word, 1, memory_order_acq_rel);
    if (w == (LATCH_SLEEPER | 1u))
        rail__futex_wake(&l->word, FUTEX_WAKE_ALL); /* l may be gone: harmless */
}

/* Sleeps until the latch opens or the deadline passes (ETIMEDOUT). */
static inline int latch_sleep(struct latch *l, const struct timespec *deadline)
{
    for (;;) {
        unsigned w = atomic_load_explicit(&l->word, memory_order_acquire);
        if ((w & LATCH_COUNT) == 0)
            return 0;
        if (!(w & LATCH_SLEEPER) &&
            !atomic_compare_exchange_weak_explicit(&l->word, &w, w | LATCH_SLEEPER,
                                                   memory_order_acquire, memory_order_acquire))
            continue;
        if (rail__futex_wait(&l->word, w | LATCH_SLEEPER, deadline) == ETIMEDOUT && !latch_open(l))
            return ETIMEDOUT;
    }
}

/* After an open latch was waited for: its status, cleared for reuse. */
static inline int latch_take_status(struct latch *l)
{
    atomic_fetch_and_explicit(&l->word, ~LATCH_SLEEPER, memory_order_relaxed);
    return atomic_exchange_explicit(&l->status, 0, memory_order_relaxed);
}

#endif
