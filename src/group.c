/*
 * group.c - groups of jobs to wait for, and rail_join() built on one.
 *
 * A group is a counter of its jobs not yet over, guarded by its pool's lock,
 * and the first error any of them reported. It lives in caller memory.
 */
#include "pool.h"

#include <errno.h>
#include <stdlib.h>

#define GROUP_MAGIC 0x7261696c67727570ull /* "railgrup": tells an initialised group */

struct group {
    rail_pool *pool;
    uint64_t magic;
    size_t pending; /* jobs queued or running */
    int status;     /* first ECANCELED or EOWNERDEAD since the last wait */
};

_Static_assert(sizeof(struct group) <= sizeof(rail_group), "rail_group too small");
_Static_assert(_Alignof(struct group) <= _Alignof(rail_group), "rail_group under-aligned");

static struct group *group_of(rail_group *group)
{
    if (group == NULL)
        return NULL;
    struct group *g = (struct group *)(void *)group->opaque;
    return g->magic == GROUP_MAGIC && g->pool != NULL ? g : NULL;
}

static int group_empty(const void *g)
{
    return ((const struct group *)g)->pending == 0;
}

static void group_done(rail_pool *pool, struct rail_job *job, int status)
{
    struct group *g = job->owner;
    free(job);
    if (status != 0 && g->status == 0)
        g->status = status;
    /* The waiter may free g once it sees pending == 0: it cannot before we
     * drop the lock, and g is not touched after this. */
    if (--g->pending == 0 && pool->done_waiters > 0)
        pthread_cond_broadcast(&pool->done_cond);
}

int rail_group_init(rail_group *group, rail_pool *pool)
{
    if (group == NULL || pool == NULL)
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    struct group *g = (struct group *)(void *)group->opaque;
    *g = (struct group){.pool = pool, .magic = GROUP_MAGIC};
    return 0;
}

/* Queues fn(arg) as a job of g; 0 or an error from pool_enqueue_locked(). */
static int group_add(struct group *g, rail_fn fn, void *arg, enum admit_mode mode, int report,
                     struct rail_job **added)
{
    struct rail_job *job = job_new(fn, arg, group_done, g);
    if (job == NULL)
        return ENOMEM;
    job->report = (unsigned char)report;
    pthread_mutex_lock(&g->pool->lock);
    int rc = pool_enqueue_locked(g->pool, job, mode, NULL);
    if (rc == 0)
        g->pending++;
    pthread_mutex_unlock(&g->pool->lock);
    if (rc != 0)
        free(job);
    else if (added != NULL)
        *added = job;
    return rc;
}

int rail_group_submit(rail_group *group, rail_fn fn, void *arg)
{
    struct group *g = group_of(group);
    if (g == NULL || fn == NULL)
        return EINVAL;
    if (pool_forked(g->pool))
        return ECHILD;
    return group_add(g, fn, arg, ADMIT_BLOCK, 1, NULL);
}

/* For the library's own helper jobs: never blocks, not reported to
 * on_discard, and a full queue is not counted as a rejection. */
int group_try_add(rail_group *group, rail_fn fn, void *arg)
{
    return group_add(group_of(group), fn, arg, ADMIT_QUIET, 0, NULL);
}

/* Waits for g with the pool locked; the group's status, reset, or ETIMEDOUT. */
static int group_wait_locked(struct group *g, const struct timespec *deadline)
{
    int rc = pool_wait_locked(g->pool, group_empty, g, deadline);
    if (rc == 0) {
        rc = g->status;
        g->status = 0;
    }
    return rc;
}

int rail_group_wait(rail_group *group, const struct timespec *deadline)
{
    struct group *g = group_of(group);
    if (g == NULL || !deadline_valid(deadline))
        return EINVAL;
    if (pool_forked(g->pool))
        return ECHILD;
    pthread_mutex_lock(&g->pool->lock);
    int rc = group_wait_locked(g, deadline);
    pthread_mutex_unlock(&g->pool->lock);
    return rc;
}

void rail_group_destroy(rail_group *group)
{
    struct group *g = group_of(group);
    if (g == NULL)
        return;
    if (!pool_forked(g->pool)) {
        pthread_mutex_lock(&g->pool->lock);
        group_wait_locked(g, NULL);
        pthread_mutex_unlock(&g->pool->lock);
    }
    g->magic = 0;
}

/*
 * b goes on the queue for another worker to take while a runs here. If
 * nobody took it by the time a returns, the caller takes it back and runs it
 * itself rather than waiting: that is the common case on a busy pool, and it
 * costs no context switch. A queue that is full is no reason to block: b then
 * simply runs after a.
 */
int rail_join(rail_pool *pool, rail_fn a, void *arg_a, rail_fn b, void *arg_b)
{
    if (pool == NULL || a == NULL || b == NULL)
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;

    struct group g = {.pool = pool, .magic = GROUP_MAGIC};
    struct rail_job *job = NULL;
    int rc = group_add(&g, b, arg_b, ADMIT_QUIET, 1, &job);
    if (rc == ESHUTDOWN && worker_self(pool) == NULL)
        return ESHUTDOWN;

    a(arg_a);
    if (job == NULL) { /* not queued: full, out of memory, or discarding */
        b(arg_b);
        return 0;
    }
    pthread_mutex_lock(&pool->lock);
    /* Once pending is 0 the record is freed; until then it is queued or running. */
    if (g.pending > 0 && pool_take_back_locked(pool, job))
        pool_run_locked(pool, job);
    rc = group_wait_locked(&g, NULL);
    pthread_mutex_unlock(&pool->lock);
    return rc;
}
