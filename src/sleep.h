/*
 * sleep.h - how idle workers sleep and how new work wakes them. The whole
 * protocol, and why it cannot lose a wakeup, is in sleep.c.
 */
#ifndef RAIL_SLEEP_H
#define RAIL_SLEEP_H

#include "job.h"

#include <stdatomic.h>

struct worker;

struct sleep {
    _Alignas(64) atomic_uint epoch; /* the futex word sleepers wait on */
    _Alignas(64) atomic_uint sleepers;
    _Alignas(64) atomic_uint searching;
    atomic_uint waking; /* a wake is on its way: don't send another */
    atomic_int stop;    /* workers exit instead of sleeping */
};

/* The waking half: called after a job was published by a seq_cst store or
 * RMW (a ring claim, a deque push, an overflow claim). */
void rail__sleep_notify(rail_pool *pool);

/* Wakes one sleeper unless a wake is on its way. Never from a worker
 * counted in sleepers (its re-check): it would look for itself (sleep.c). */
void rail__sleep_wake_one(rail_pool *pool);

/* The same wake, for a job whose publisher will run it itself if nobody
 * else does (rail_join's b): plain loads, no seq_cst handshake, so it may
 * miss a worker that is just going to sleep. That costs parallelism, never
 * progress. Inline: every join asks. s is &pool->sleep. */
static inline void rail__sleep_hint(struct sleep *s, rail_pool *pool)
{
    if (atomic_load_explicit(&s->sleepers, memory_order_relaxed) != 0 &&
        atomic_load_explicit(&s->searching, memory_order_relaxed) == 0)
        rail__sleep_wake_one(pool);
}

/* The sleeping half: a worker that found nothing searches, then sleeps until
 * work comes. 1 with *job filled, or 0 when the pool stops. */
int rail__sleep_idle(struct worker *w, struct job *job);

/* Makes every worker leave rail__sleep_idle() with 0 for good. Called once
 * the pool is idle and refuses work. */
void rail__sleep_stop(rail_pool *pool);

#endif
