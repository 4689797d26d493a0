/*
 * helpers.h - test helpers: cmocka includes, a gate that parks jobs until the
 * test opens it (deterministic "the worker is busy", no sleeps), and waits
 * for a condition that are bounded by CTest's per-test timeout.
 */
#ifndef RAIL_TEST_HELPERS_H
#define RAIL_TEST_HELPERS_H

#include <rail.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int open;
    unsigned arrived;
};

static inline void gate_init(struct gate *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->open = 0;
    g->arrived = 0;
}

static inline void gate_destroy(struct gate *g)
{
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
}

/* A job body: arrive, then wait until the gate opens. */
static inline void gate_job(void *arg)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->lock);
    g->arrived++;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

/* Waits until n jobs are parked at the gate. */
static inline void gate_wait_arrived(struct gate *g, unsigned n)
{
    pthread_mutex_lock(&g->lock);
    while (g->arrived < n)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static inline void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* Initialises g and parks one worker of pool at it (a started job: it no
 * longer counts as queued). That worker stays busy,
 * and jobs queued behind it stay queued, until gate_open(g). */
static inline void park_worker(rail_pool *pool, struct gate *g)
{
    gate_init(g);
    assert_int_equal(rail_submit(pool, gate_job, g), 0);
    gate_wait_arrived(g, 1);
}

/* A job body that counts its runs in an atomic_uint. */
static inline void count_job(void *arg)
{
    atomic_fetch_add((atomic_uint *)arg, 1);
}

/* For wait_until(): true once the pool refuses outside jobs. A probe that is
 * accepted (the shutdown has not begun yet) runs later, so it must not point
 * into the caller's stack. */
static inline int pool_refuses(void *pool)
{
    static atomic_uint probes_ran;
    return rail_try_submit(pool, count_job, &probes_ran) == ESHUTDOWN;
}

static inline rail_pool *make_pool(unsigned threads, size_t capacity)
{
    rail_pool *pool = NULL;
    rail_options o = {.threads = threads, .queue_capacity = capacity};
    assert_int_equal(rail_pool_create(&pool, &o), 0);
    assert_non_null(pool);
    return pool;
}

static inline struct timespec ms_from_now(unsigned ms)
{
    return rail_deadline((uint64_t)ms * 1000000u);
}

/* Spins (yielding) until pred(arg) holds; a hang is caught by CTest's timeout. */
static inline void wait_until(int (*pred)(void *), void *arg)
{
    while (!pred(arg))
        sched_yield();
}

static inline void sleep_us(unsigned us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

static inline void sleep_ms(unsigned ms)
{
    sleep_us(ms * 1000);
}

#endif
