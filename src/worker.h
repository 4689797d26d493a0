/*
 * worker.h - a worker: its slot in the pool, its deque, its counters, and
 * what other files ask of workers (worker.c).
 */
#ifndef RAIL_WORKER_H
#define RAIL_WORKER_H

#include "deque.h"
#include "pool.h"

/* A job a worker is inside, so a pthread_exit() can finish it. */
struct frame {
    void *owner;
    unsigned kind;
};

struct worker {
    struct deque deque; /* this worker's jobs' jobs; top and bottom on their own lines */

    /* Written by this worker only (or its replacement, after it); summed by readers. */
    _Alignas(64) atomic_uint_fast64_t submitted; /* pushed on deque */
    atomic_uint_fast64_t completed;
    atomic_uint_fast64_t dropped; /* dropped while discarding */
    atomic_uint busy;

    /* The thread's own. */
    struct frame *frames; /* jobs it is inside, outermost first */
    unsigned depth, frames_cap;
    unsigned foreign_depth;           /* nested helps with jobs not from its deque */
    unsigned victim;                  /* where to start stealing next */
    unsigned passed[RAIL_PRIORITIES]; /* takes of more urgent levels while
                                         this one waited (see take_outside()) */
    unsigned char idle;               /* looking from rail__sleep_idle(): its
                                         wakes are sleep.c's (see spread()) */

    /* The slot; guarded by pool->lock. */
    rail_pool *pool;
    pthread_t thread;
    pthread_t predecessor; /* a thread that ended in a job; joined by its replacement */
    unsigned index;
    unsigned char alive;
    unsigned char has_predecessor;
};

int rail__worker_start_locked(rail_pool *pool, struct worker *w);
void rail__pool_respawn_locked(rail_pool *pool);
void rail__pool_respawn(rail_pool *pool);
int rail__pool_wait(rail_pool *pool, struct latch *latch, const struct timespec *deadline);
/* What rail__worker_take_back() found: the job had been stolen (NONE), ran
 * as a plain call without its latch (INLINE), or ran or was dropped through
 * its latch (LATCH). */
enum { TAKEN_BACK_NONE, TAKEN_BACK_INLINE, TAKEN_BACK_LATCH };
int rail__worker_take_back(struct worker *w, const void *owner);
int rail__submit_inside(struct worker *w, const struct job *job);

/* The worker this thread is, if any (worker.c sets it). Initial-exec: in
 * librail.so a read is then one %fs-relative load, not a __tls_get_addr()
 * call on every submission and join (8 bytes of static TLS, which glibc
 * keeps in reserve even for a library loaded by dlopen()). */
#if defined(__GNUC__)
#define RAIL_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define RAIL_TLS_MODEL
#endif
extern _Thread_local struct worker *rail__self RAIL_TLS_MODEL;

/* This thread's worker if it is one of pool's, else NULL. Inline: every
 * submission and join asks. */
static inline struct worker *rail__worker_self(const rail_pool *pool)
{
    struct worker *w = rail__self;
    return w != NULL && w->pool == pool ? w : NULL;
}
int rail__worker_find_work(struct worker *w, struct job *job);

#endif
