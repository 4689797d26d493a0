/*
 * group.c - groups of jobs to wait for.
 * A group is a latch in caller memory, bound to a pool.
 */
#include "worker.h"

#include <errno.h>

#define GROUP_MAGIC 0x7261696c67727570ull /* "railgrup": tells an initialised group */

struct group {
    rail_pool *pool;
    uint64_t magic;
    struct latch latch;
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

int rail_group_init(rail_group *group, rail_pool *pool)
{
    if (group == NULL || pool == NULL)
        return EINVAL;
    if (pool_forked(pool))
        return ECHILD;
    struct group *g = (struct group *)(void *)group->opaque;
    g->pool = pool;
    g->magic = GROUP_MAGIC;
    latch_init(&g->latch, 0);
    return 0;
}

/* Queues fn(arg) as a job of latch; the latch counts it before it is
 * published, and forgets it if it could not be. */
int rail__latch_submit(rail_pool *pool, struct latch *latch, rail_fn fn, void *arg, unsigned kind,
                       enum admit_mode mode)
{
    int rc = latch_add(latch);
    if (rc != 0)
        return rc;
    struct job job = {.fn = fn, .arg = arg, .owner = latch, .kind = kind};
    rc = rail__pool_submit(pool, &job, mode, NULL);
    if (rc != 0)
        latch_unadd(latch);
    return rc;
}

int rail_group_submit(rail_group *group, rail_fn fn, void *arg)
{
    struct group *g = group_of(group);
    if (g == NULL || fn == NULL)
        return EINVAL;
    if (pool_forked(g->pool))
        return ECHILD;
    return rail__latch_submit(g->pool, &g->latch, fn, arg, JOB_LATCH, ADMIT_BLOCK);
}

/* For the library's own helper jobs: never blocks, never reaches on_discard. */
int rail__group_try_add_helper(rail_group *group, rail_fn fn, void *arg)
{
    struct group *g = group_of(group);
    return rail__latch_submit(g->pool, &g->latch, fn, arg, JOB_HELPER, ADMIT_QUIET);
}

int rail_group_wait(rail_group *group, const struct timespec *deadline)
{
    struct group *g = group_of(group);
    if (g == NULL || !rail__deadline_valid(deadline))
        return EINVAL;
    if (pool_forked(g->pool))
        return ECHILD;
    int rc = rail__pool_wait(g->pool, &g->latch, deadline);
    return rc != 0 ? rc : latch_take_status(&g->latch);
}

void rail_group_destroy(rail_group *group)
{
    struct group *g = group_of(group);
    if (g == NULL)
        return;
    if (!pool_forked(g->pool))
        rail__pool_wait(g->pool, &g->latch, NULL);
    g->magic = 0;
}
