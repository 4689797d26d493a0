/*
 * rail.h - a worker pool for C11 and POSIX threads.
 *
 * Waiters clip tickets to the rail, chefs take the next one: a fixed set of
 * worker threads takes jobs from a queue, sleeping while there are none.
 *
 * Conventions for every function below:
 *  - Errors are errno values, returned (as pthreads does); 0 is success.
 *    Nothing sets errno.
 *  - A deadline is an absolute CLOCK_MONOTONIC time (see rail_deadline());
 *    NULL means no limit. A deadline whose tv_nsec is outside [0, 1e9) or
 *    whose tv_sec is negative is EINVAL.
 *  - "Worker" means a thread of the pool named in the call. A worker of
 *    another pool is an outside thread as far as this pool is concerned.
 *  - All functions are thread-safe unless stated otherwise.
 *  - fork(): a pool belongs to the process that created it. In a child
 *    process every function taking that pool returns ECHILD without touching
 *    its locks (its workers do not exist there); rail_pool_destroy() in the
 *    child releases the pool's memory without running or discarding jobs.
 *  - A job that calls pthread_exit() ends its worker thread; the pool starts
 *    a replacement (counted in rail_stats.workers_replaced) and the job
 *    counts as completed, with EOWNERDEAD reported to its group or future
 *    (unless that group lived on the ended thread's own stack: its frame is
 *    gone, and nothing is written there; see rail_join() for its b). Worker
 *    threads must not be cancelled with pthread_cancel().
 */
#ifndef RAIL_H
#define RAIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RAIL_VERSION_MAJOR 0
#define RAIL_VERSION_MINOR 1
#define RAIL_VERSION_PATCH 0

/* The largest number of workers a pool accepts; more is EINVAL. */
#define RAIL_MAX_THREADS 1024u

typedef struct rail_pool rail_pool;
typedef void (*rail_fn)(void *arg);

typedef struct rail_options { /* zero-initialised = all defaults */
    unsigned threads;         /* workers; 0 = online CPUs */
    size_t queue_capacity;    /* bound on jobs submitted from outside the pool and not
                                 yet started; 0 = unbounded */
    const char *name;         /* thread-name prefix: "rail" -> rail-0, rail-1, ...;
                                 NULL = "rail"; copied, may be freed after create */
    size_t stack_size;        /* 0 = system default */
    void (*on_worker_start)(unsigned worker, void *ctx);
    void (*on_worker_stop)(unsigned worker, void *ctx);
    void (*on_discard)(rail_fn fn, void *arg, void *ctx); /* each job dropped by RAIL_DISCARD */
    void *ctx;
} rail_options;

/*
 * rail_deadline - the absolute CLOCK_MONOTONIC time timeout_ns from now.
 * Saturates instead of overflowing. Never fails; callable from anywhere.
 */
struct timespec rail_deadline(uint64_t timeout_ns);

/*
 * rail_pool_create - start a pool and store it in *pool.
 *
 * opts may be NULL (all defaults). Every worker is running when this returns;
 * on_worker_start(i, ctx) runs on worker i before it takes its first job, and
 * on_worker_stop(i, ctx) after its last.
 *
 * Errors: EINVAL  pool is NULL; opts->threads > RAIL_MAX_THREADS; stack_size
 *                 nonzero but below PTHREAD_STACK_MIN.
 *         EAGAIN  a thread could not be created; every thread already
 *                 started has been joined and everything freed.
 *         ENOMEM  out of memory; nothing leaks.
 * On error *pool is left unchanged. May be called from a worker (of another
 * pool or this one's parent; a new pool is independent).
 */
int rail_pool_create(rail_pool **pool, const rail_options *opts);

/*
 * rail_submit - queue fn(arg) to run exactly once on a worker.
 *
 * From an outside thread, blocks while queue_capacity outside jobs are
 * already waiting to start. From a worker of this pool it never blocks: such
 * jobs are not counted against queue_capacity, so nested work cannot
 * deadlock on its own queue.
 *
 * Errors: EINVAL     pool or fn is NULL.
 *         ESHUTDOWN  rail_shutdown() has begun (outside threads, including
 *                    those already blocked here); from a worker, only once
 *                    RAIL_DISCARD has begun or the pool has stopped.
 *         ENOMEM     no memory for the job record.
 *         ECHILD     the pool belongs to the parent of a fork().
 * On error the job was not accepted and will never run.
 */
int rail_submit(rail_pool *pool, rail_fn fn, void *arg);

/*
 * rail_try_submit - rail_submit() that never blocks.
 * Errors: as rail_submit(), plus EAGAIN when the queue is full (counted in
 * rail_stats.rejected).
 */
int rail_try_submit(rail_pool *pool, rail_fn fn, void *arg);

/*
 * rail_timed_submit - rail_submit() that gives up at deadline.
 * Errors: as rail_submit(), plus ETIMEDOUT when the deadline passed with the
 * queue still full (counted in rail_stats.rejected), and EINVAL for a
 * malformed deadline. A deadline already past behaves like rail_try_submit()
 * except for the error code.
 */
int rail_timed_submit(rail_pool *pool, rail_fn fn, void *arg, const struct timespec *deadline);

/*
 * Priorities. Outside jobs wait in one queue per level; a worker that takes
 * outside work takes it from the most urgent level that has any, so a HIGH
 * job submitted behind a backlog of LOW ones starts as soon as a worker
 * finishes its current job. rail_submit() and every other submitting
 * function use RAIL_PRIORITY_NORMAL, which is 0, so a zeroed value means
 * the default.
 *
 * Starvation: less urgent levels are not starved. While a level has jobs
 * waiting, each worker passes it over for more urgent ones at most
 * RAIL_PRIORITY_PASS_MAX times in a row; then it takes that level's oldest
 * job. So with all three levels busy a waiting level is served by every
 * worker at least once in each RAIL_PRIORITY_PASS_MAX + 2 of its takes.
 *
 * Each level is a queue of its own in every other respect: queue_capacity
 * bounds each level separately (a full LOW level does not block HIGH
 * submitters), rail_shutdown() drains or discards every level alike (on
 * RAIL_DISCARD, on_discard gets the dropped jobs of every level), and
 * rail_stats counts each level in submitted_at[], queued_at[] and
 * rejected_at[] (indexed by rail_priority) as well as in the totals.
 *
 * Jobs a worker submits (any priority, and groups, joins, futures and
 * parallel_for helpers) go on that worker's own deque as always, and a
 * worker runs its own deque before any outside work: work spawned by a
 * running job finishes before new outside work starts, whatever its
 * priority. Priorities order outside work only.
 */
typedef enum rail_priority {
    RAIL_PRIORITY_NORMAL = 0,
    RAIL_PRIORITY_HIGH = 1,
    RAIL_PRIORITY_LOW = 2,
} rail_priority;
#define RAIL_PRIORITIES        3  /* levels; valid values are 0 .. RAIL_PRIORITIES-1 */
#define RAIL_PRIORITY_PASS_MAX 16 /* see "Starvation" above */

/*
 * rail_submit_priority - rail_submit() at the given priority level.
 * Blocks while queue_capacity outside jobs of the same level wait.
 * Errors: as rail_submit(), plus EINVAL for an unknown priority.
 */
int rail_submit_priority(rail_pool *pool, rail_priority priority, rail_fn fn, void *arg);

/*
 * rail_try_submit_priority - rail_try_submit() at the given priority level:
 * EAGAIN when that level is full (counted in rejected and rejected_at[]).
 * Errors: as rail_try_submit(), plus EINVAL for an unknown priority.
 */
int rail_try_submit_priority(rail_pool *pool, rail_priority priority, rail_fn fn, void *arg);

/*
 * rail_timed_submit_priority - rail_timed_submit() at the given priority
 * level. Errors: as rail_timed_submit(), plus EINVAL for an unknown priority.
 */
int rail_timed_submit_priority(rail_pool *pool, rail_priority priority, rail_fn fn, void *arg,
                               const struct timespec *deadline);

/*
 * rail_wait_idle - wait until no job is queued or running.
 *
 * Jobs submitted while waiting are waited for too. Returns at once on a
 * stopped pool.
 * Errors: EINVAL     pool is NULL or the deadline is malformed.
 *         ETIMEDOUT  the deadline passed first.
 *         EDEADLK    called from a worker of this pool (it would wait for
 *                    itself).
 *         ECHILD     see fork() above.
 */
int rail_wait_idle(rail_pool *pool, const struct timespec *deadline);

typedef enum { RAIL_DRAIN, RAIL_DISCARD } rail_shutdown_mode;

/*
 * rail_shutdown - stop the pool and join its workers.
 *
 * From the first call on, outside submissions fail with ESHUTDOWN (threads
 * blocked in rail_submit() wake and get it too). Then:
 *  RAIL_DRAIN    every accepted job runs, and so does what those jobs submit
 *                while the pool drains.
 *  RAIL_DISCARD  jobs that have not started are dropped: each rail_fn job is
 *                handed to on_discard exactly once and counted in
 *                rail_stats.discarded; their groups' waits and joins return
 *                ECANCELED, their futures complete with ECANCELED. Workers'
 *                submissions fail with ESHUTDOWN from now on. on_discard
 *                runs on the thread that drops the job: this caller, or a
 *                worker that takes a job a running job pushed just as the
 *                discard began; never with a lock of the pool held.
 * Running jobs always finish; then the workers exit and are joined.
 *
 * Returns 0 once the pool has stopped (at once if it already had).
 * Errors: EINVAL     pool is NULL, mode is unknown, or the deadline is
 *                    malformed.
 *         ETIMEDOUT  the deadline passed first. The pool stays shutting
 *                    down; a later call waits again, and RAIL_DISCARD after a
 *                    timed-out RAIL_DRAIN escalates (RAIL_DRAIN after
 *                    RAIL_DISCARD does not de-escalate).
 *         EDEADLK    called from a worker of this pool.
 *         ECHILD     see fork() above.
 * Several threads may call it at once; all return when the pool stops.
 */
int rail_shutdown(rail_pool *pool, rail_shutdown_mode mode, const struct timespec *deadline);

/*
 * rail_pool_destroy - rail_shutdown(pool, RAIL_DRAIN, NULL), then free.
 *
 * NULL is a no-op. No other call may use the pool once this begins, except
 * by jobs that are still draining. Called from a worker of this pool it
 * prints a message to stderr and aborts: that can only be a bug, and
 * returning would leave the caller with a pool that is neither alive nor
 * freed.
 */
void rail_pool_destroy(rail_pool *pool);

/*
 * A group waits for a set of jobs. Caller-owned, like pthread_mutex_t: it can
 * live on the stack, so fork-join costs no allocation. Reusable after a wait.
 */
#ifdef __cplusplus
#define RAIL_ALIGNAS_(n) alignas(n)
#else
#define RAIL_ALIGNAS_(n) _Alignas(n)
#endif
typedef struct rail_group {
    RAIL_ALIGNAS_(64) unsigned char opaque[128];
} rail_group;

/*
 * rail_group_init - bind an empty group to pool.
 * Errors: EINVAL (NULL argument), ECHILD. Not thread-safe on the same group
 * (like pthread_mutex_init).
 */
int rail_group_init(rail_group *group, rail_pool *pool);

/*
 * rail_group_submit - rail_submit() whose completion the group tracks.
 * Blocks and fails exactly as rail_submit(); EINVAL also for a group that
 * was not initialised. A job of the group may submit more jobs to the same
 * group.
 */
int rail_group_submit(rail_group *group, rail_fn fn, void *arg);

/*
 * rail_group_wait - wait until every job of the group has run or was dropped.
 *
 * A worker of the group's pool that waits runs queued jobs of the pool
 * until the group is done, so nested waits never deadlock, even with one
 * worker: first the jobs it submitted itself (the group's, in fork-join
 * code), then others, but at most 16 of those nested on its stack (each may
 * wait and help in turn). Past that bound it sleeps until the group is
 * done. So a chain of more than 16 nested waits for jobs that are neither
 * the waiter's own nor its descendants', with every worker so blocked, can
 * stall; fork-join code cannot build one.
 *
 * Returns 0 when all jobs ran; the group is then empty and may be reused.
 * Errors: ECANCELED  at least one job was dropped by RAIL_DISCARD (the group
 *                    is still empty and reusable).
 *         EOWNERDEAD at least one job ended its thread with pthread_exit().
 *         ETIMEDOUT  the deadline passed first; jobs remain tracked.
 *         EINVAL     NULL or uninitialised group, malformed deadline.
 *         ECHILD     see fork() above.
 */
int rail_group_wait(rail_group *group, const struct timespec *deadline);

/*
 * rail_group_destroy - wait (without limit) for the group's jobs still queued
 * or running, then invalidate it. NULL is a no-op.
 */
void rail_group_destroy(rail_group *group);

/*
 * rail_join - run a(arg_a) and b(arg_b), possibly in parallel, and return
 * when both are done (rayon's join). a runs on the calling thread; b is
 * offered to the pool and run by the caller if nobody has taken it by the
 * time a returns, or if the queue is full. Never blocks on the queue. So a
 * must not wait for b: b may start only after a returns (from a worker, an
 * idle worker is woken to take b, but one just falling asleep may miss it).
 *
 * pthread_exit() while joining: if a, or a job the caller runs while it
 * waits for b, ends the caller's thread, the join never returns and its
 * frame is gone. On a worker, a b that no other worker has taken yet is
 * then dropped with the thread: it never runs (its arg most likely points
 * into that frame), it counts as completed in rail_stats like the job the
 * thread was in, and nobody is told. (From an outside thread, b stays
 * queued and runs on a worker.) A b that another worker has already
 * taken keeps running there, and its end is written into the gone frame:
 * so in a pool of more than one worker, a must not end its thread while b
 * may be running elsewhere. (A b that ends its own thread is EOWNERDEAD
 * below.)
 *
 * Errors: EINVAL     a NULL argument.
 *         ESHUTDOWN  an outside caller on a pool shutting down (nothing ran).
 *         ECANCELED  b was dropped by RAIL_DISCARD (a ran).
 *         EOWNERDEAD b ended its thread with pthread_exit() (a ran).
 *         ECHILD     see fork() above.
 */
int rail_join(rail_pool *pool, rail_fn a, void *arg_a, rail_fn b, void *arg_b);

typedef struct rail_future rail_future; /* a job with a result */
typedef void *(*rail_task)(void *arg);

/*
 * rail_async - queue fn(arg) and return a future for its result in *future.
 * Blocks and fails exactly as rail_submit(); on error *future is unchanged.
 * A dropped future job is not handed to on_discard: the future itself
 * reports ECANCELED. The future must be released with rail_future_release().
 */
int rail_async(rail_pool *pool, rail_task fn, void *arg, rail_future **future);

/*
 * rail_future_wait - wait for the job and store its return value in *result
 * (result may be NULL). A worker of the pool that waits runs queued jobs
 * meanwhile. May be called again after it returned.
 *
 * Errors: ECANCELED  the job was cancelled or dropped; it never ran.
 *         EOWNERDEAD the job ended its thread; *result is set to NULL.
 *         ETIMEDOUT  the deadline passed first.
 *         EINVAL     future is NULL or the deadline is malformed.
 *         ECHILD     see fork() above.
 */
int rail_future_wait(rail_future *future, void **result, const struct timespec *deadline);

/*
 * rail_future_cancel - take the job off the queue if it has not started.
 * Returns 0 if it will never run (also when cancelled or dropped before),
 * EBUSY if it started or finished, EINVAL for NULL. A cancelled job counts in
 * rail_stats.discarded.
 */
int rail_future_cancel(rail_future *future); /* 0 = will never run; EBUSY = started or done */

/*
 * rail_future_release - give up the caller's reference. The job is not
 * cancelled: it still runs, and its result is thrown away. NULL is a no-op.
 * The future must not be used afterwards.
 */
void rail_future_release(rail_future *future);

typedef void (*rail_range_fn)(size_t begin, size_t end, void *arg);

/*
 * rail_parallel_for - call body(b, e, arg) on disjoint sub-ranges covering
 * [begin, end) exactly once, each at most grain long (grain 0 = automatic),
 * and return when all are done. The caller runs sub-ranges too, so it never
 * blocks on a full queue and never deadlocks, even from a worker.
 *
 * Errors: EINVAL     pool or body is NULL, or begin > end.
 *         ESHUTDOWN  an outside caller on a pool shutting down (nothing ran).
 *         ECHILD     see fork() above.
 * An empty range returns 0 without calling body.
 */
int rail_parallel_for(rail_pool *pool, size_t begin, size_t end, size_t grain, rail_range_fn body,
                      void *arg); /* grain 0 = automatic; the caller helps */

/* rail_worker_index - this thread's worker index in its pool, or -1 for a
 * thread that is no pool's worker. */
int rail_worker_index(void);

typedef struct rail_stats {
    unsigned threads, busy; /* workers alive; workers running a job now */
    size_t queued;          /* jobs accepted and not started */
    uint64_t submitted;     /* jobs accepted */
    uint64_t completed;     /* jobs that ran to the end (or ended their thread) */
    uint64_t rejected;      /* EAGAIN from rail_try_submit, ETIMEDOUT from rail_timed_submit */
    uint64_t discarded;     /* jobs dropped by RAIL_DISCARD or rail_future_cancel() */
    uint64_t workers_replaced;
    /* Outside jobs per priority level (index: rail_priority); jobs that
     * workers submit are in the totals above only. */
    uint64_t submitted_at[RAIL_PRIORITIES]; /* accepted from outside */
    size_t queued_at[RAIL_PRIORITIES];      /* waiting in the level's queue (not
                                               those a worker claimed in a
                                               batch: they are in queued) */
    uint64_t rejected_at[RAIL_PRIORITIES];  /* EAGAIN / ETIMEDOUT at that level */
} rail_stats;

/*
 * rail_pool_stats - a snapshot of the pool's counters. They are kept per
 * worker and summed here, so while jobs run the sums are read at slightly
 * different moments; once the pool is idle they are exact. They count
 * every job on the pool's queue, including the helper jobs that
 * rail_parallel_for() and rail_join() queue (a dropped parallel_for helper is
 * counted in discarded but is not handed to on_discard: it carries no user
 * work of its own). When the pool is idle,
 * submitted == completed + discarded.
 * A NULL pool or out is ignored; in a fork() child *out is zeroed.
 */
void rail_pool_stats(rail_pool *pool, rail_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* RAIL_H */
