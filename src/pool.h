/*
 * pool.h - the pool's private structures, shared by the library's files.
 *
 * One mutex (pool->lock) guards everything here except what is marked
 * otherwise; a job never runs with it held. See docs/design.md.
 */
#ifndef RAIL_POOL_H
#define RAIL_POOL_H

#include "queue.h"
#include "rail.h"

#include <pthread.h>
#include <stdint.h>

struct rail_job;

/*
 * Called under pool->lock once a job is over: status 0 (it ran), ECANCELED
 * (dropped) or EOWNERDEAD (it ended its thread). It owns the record from
 * then on: it frees or recycles it.
 */
typedef void (*job_done_fn)(rail_pool *pool, struct rail_job *job, int status);

struct rail_job {
    struct queue_node node; /* in pool->queue while waiting to start */
    rail_fn fn;
    void *arg;
    job_done_fn done;
    void *owner;            /* the group or future the job reports to */
    struct rail_job *outer; /* job this worker was running when it began this one */
    unsigned char external; /* counted against queue_capacity */
    unsigned char report;   /* a user's rail_fn: handed to on_discard when dropped */
};

struct worker {
    struct queue_node local; /* jobs this worker's jobs submitted, newest last */
    rail_pool *pool;
    pthread_t thread;
    pthread_t predecessor;    /* a thread that ended in a job; joined by its replacement */
    struct rail_job *current; /* innermost job this worker runs; NULL when idle */
    unsigned index;
    unsigned foreign_depth; /* nested helps with jobs not from local */
    unsigned char alive;
    unsigned char has_predecessor;
};

enum pool_state {
    POOL_RUNNING,    /* accepting everything */
    POOL_DRAINING,   /* outside submissions refused; everything accepted runs */
    POOL_DISCARDING, /* all submissions refused; queued jobs are dropped */
    POOL_STOPPED,    /* workers joined */
};

struct rail_pool {
    pthread_mutex_t lock;
    pthread_cond_t work_cond;  /* idle workers: a job was queued, or stop */
    pthread_cond_t space_cond; /* blocked submitters: room in the queue, or shutdown */
    pthread_cond_t idle_cond;  /* wait_idle and shutdown: nothing queued or running */
    pthread_cond_t done_cond;  /* group and future waits: something completed, or a job
                                  was queued while a worker waits to help */
    pthread_attr_t attr;

    struct queue_node queue; /* outside jobs waiting to start, FIFO; workers'
                                jobs wait in their worker's local list */
    size_t queued;           /* jobs accepted, not started, on any list (includes
                                dropped ones not yet reported) */
    size_t queued_external;  /* the part of queued counted against capacity */
    size_t running;          /* jobs started, not over */
    size_t capacity;         /* 0 = unbounded */

    unsigned idle_workers;    /* waiting on work_cond */
    unsigned space_waiters;   /* waiting on space_cond */
    unsigned idle_waiters;    /* waiting on idle_cond */
    unsigned done_waiters;    /* waiting on done_cond */
    unsigned helpers_waiting; /* workers among done_waiters: they want new jobs too */

    enum pool_state state;
    unsigned char stop;    /* workers exit once the queue is empty */
    unsigned char joining; /* a shutdown caller is joining the workers */
    unsigned fork_generation;

    unsigned threads; /* slots in workers[] */
    unsigned alive;   /* workers running */
    unsigned busy;    /* workers inside a job */
    struct worker *workers;

    uint64_t submitted, completed, rejected, discarded, replaced;

    rail_options opts;
    char name[11]; /* thread-name prefix; with "-NNNN" it fits Linux's 16 bytes */
};

/* How a submission waits for room in a full queue. */
enum admit_mode {
    ADMIT_BLOCK, /* until room or shutdown (or the deadline, when one is given) */
    ADMIT_TRY,   /* EAGAIN at once, counted in stats.rejected */
    ADMIT_QUIET, /* EAGAIN at once, not counted: the caller runs the job itself */
};

/* submit.c */
struct rail_job *job_new(rail_fn fn, void *arg, job_done_fn done, void *owner);
void job_free_done(rail_pool *pool, struct rail_job *job, int status);
int pool_enqueue_locked(rail_pool *pool, struct rail_job *job, enum admit_mode mode,
                        const struct timespec *deadline);
struct rail_job *pool_take_locked(rail_pool *pool, struct worker *w, int foreign_ok, int *foreign);
int pool_take_back_locked(rail_pool *pool, struct rail_job *job);
int pool_cancel_locked(rail_pool *pool, struct rail_job *job);
void pool_finish_locked(rail_pool *pool, struct rail_job *job, int status);

/* group.c */
int group_try_add(rail_group *group, rail_fn fn, void *arg);

/* worker.c */
int worker_start_locked(rail_pool *pool, struct worker *w);
void pool_respawn_locked(rail_pool *pool);
struct worker *worker_self(const rail_pool *pool);
void pool_run_locked(rail_pool *pool, struct rail_job *job);
int pool_wait_locked(rail_pool *pool, int (*ready)(const void *), const void *ctx,
                     const struct timespec *deadline);

/* deadline.c */
int deadline_valid(const struct timespec *deadline);
int cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, const struct timespec *deadline);

/* fork.c */
unsigned fork_generation(void);

/* The pool was created by the parent of a fork(): it has no workers here. */
static inline int pool_forked(const rail_pool *pool)
{
    return pool->fork_generation != fork_generation();
}

#endif /* RAIL_POOL_H */
