/*
 * pool.h - the pool: its state, its queues and counters, and what the
 * library's files share about submitting, dropping and waiting for idle.
 * A worker is worker.h's, a future's internals future.h's. The protocols are
 * described in docs/design.md; read it first.
 */
#ifndef RAIL_POOL_H
#define RAIL_POOL_H

#include "job.h"
#include "latch.h"
#include "overflow.h"
#include "rail.h"
#include "ring.h"
#include "sleep.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum pool_state {
    POOL_RUNNING,    /* accepting everything */
    POOL_DRAINING,   /* outside submissions refused; everything accepted runs */
    POOL_DISCARDING, /* all submissions refused; jobs not started are dropped */
    POOL_STOPPED,    /* workers joined */
};

struct worker;

/* One priority level's outside jobs: its own injector ring, its overflow
 * and its counters. */
struct level {
    struct ring injector;
    struct overflow overflow;              /* an unbounded pool's jobs beyond the ring */
    _Alignas(64) atomic_size_t tombstones; /* queued entries that are not jobs:
                                              cancelled futures, void claims */
    atomic_uint_fast64_t voided;           /* claims then refused (JOB_VOID) */
    atomic_uint_fast64_t rejected;
};

struct rail_pool {
    struct level levels[RAIL_PRIORITIES]; /* outside jobs, by rail_priority */
    struct sleep sleep;                   /* idle workers and their wakes: sleep.c */

    _Alignas(64) atomic_int state;
    atomic_uint space_waiters;
    atomic_uint idle_waiters;
    atomic_uint vacant; /* slots whose replacement thread could not be created */
    size_t capacity;    /* 0 = unbounded */

    /* Rare events, counted with RMWs. */
    atomic_uint_fast64_t outside_dropped; /* dropped by shutdown callers */
    atomic_uint_fast64_t cancelled;       /* rail_future_cancel */
    atomic_uint_fast64_t taken_back;      /* outside joins that ran their b themselves */
    atomic_uint_fast64_t replaced;

    pthread_mutex_t space_lock; /* outside submitters blocked on a full queue */
    pthread_cond_t space_cond;

    pthread_mutex_t lock;     /* slots, state changes, joining; idle waits */
    pthread_cond_t idle_cond; /* idle, or stopped */
    unsigned char joining;
    unsigned threads; /* slots in workers[] */
    unsigned alive;   /* workers running */
    struct worker *workers;
    pthread_attr_t attr;

    rail_options opts;
    char name[11];            /* thread-name prefix; with "-NNNN" it fits Linux's 16 bytes */
    unsigned born_generation; /* fork generation it was created in */
};

/* How a submission waits for room in a full queue. */
enum admit_mode {
    ADMIT_BLOCK, /* until room or shutdown (or the deadline, when one is given) */
    ADMIT_TRY,   /* EAGAIN at once, counted in stats.rejected */
    ADMIT_QUIET, /* EAGAIN at once, not counted: the caller runs the job itself */
};

/* submit.c */
int rail__pool_submit(rail_pool *pool, const struct job *job, enum admit_mode mode,
                      const struct timespec *deadline);
void rail__pool_wake_space_waiters(rail_pool *pool);

/* pool.c */
void rail__pool_drop(rail_pool *pool, struct worker *w, struct job *job);
void rail__pool_notify_idle(rail_pool *pool);
int rail__pool_state(const rail_pool *pool);

/* group.c */
int rail__group_try_add_helper(rail_group *group, rail_fn fn, void *arg);
int rail__latch_submit(rail_pool *pool, struct latch *latch, rail_fn fn, void *arg, unsigned kind,
                       enum admit_mode mode);

/* deadline.c */
int rail__deadline_valid(const struct timespec *deadline);
int rail__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock,
                          const struct timespec *deadline);

/* fork.c */
unsigned rail__fork_generation(void); /* registers the fork handler first */
unsigned rail__fork_current(void);    /* bumped in each fork() child */

/* The pool was created by the parent of a fork(): it has no workers here. */
static inline int pool_forked(const rail_pool *pool)
{
    return pool->born_generation != rail__fork_current();
}

/* Adds to a counter only its one writer updates: no RMW needed. */
static inline void counter_add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_release);
}

#endif /* RAIL_POOL_H */
