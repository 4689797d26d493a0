/* test_pool.c - creation, options, bad input, worker identity, stats, wait_idle. */
#define _GNU_SOURCE /* pthread_getname_np, pthread_getattr_np */
#include "helpers.h"

#include <unistd.h>

static void create_with_defaults(void **state)
{
    (void)state;
    rail_pool *pool = NULL;
    assert_int_equal(rail_pool_create(&pool, NULL), 0);
    rail_stats st;
    rail_pool_stats(pool, &st);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(st.threads, cpus < 1 ? 1 : cpus);
    assert_int_equal(st.submitted, 0);
    rail_pool_destroy(pool);
}

static void create_rejects_bad_options(void **state)
{
    (void)state;
    rail_pool *pool = (rail_pool *)&pool; /* must stay untouched on error */
    rail_pool *const before = pool;
    assert_int_equal(rail_pool_create(NULL, NULL), EINVAL);
    assert_int_equal(rail_pool_create(&pool, &(rail_options){.threads = RAIL_MAX_THREADS + 1}),
                     EINVAL);
    assert_int_equal(rail_pool_create(&pool, &(rail_options){.threads = UINT32_MAX}), EINVAL);
    assert_int_equal(rail_pool_create(&pool, &(rail_options){.threads = 1, .stack_size = 1}),
                     EINVAL);
    assert_ptr_equal(pool, before);
}

static void bad_arguments_get_einval(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    struct timespec bad = {.tv_sec = 1, .tv_nsec = 1000000000L};
    struct timespec negative = {.tv_sec = -1, .tv_nsec = 0};
    atomic_uint n = 0;

    assert_int_equal(rail_submit(NULL, count_job, &n), EINVAL);
    assert_int_equal(rail_submit(pool, NULL, &n), EINVAL);
    assert_int_equal(rail_try_submit(NULL, count_job, &n), EINVAL);
    assert_int_equal(rail_try_submit(pool, NULL, &n), EINVAL);
    assert_int_equal(rail_timed_submit(pool, count_job, &n, &bad), EINVAL);
    assert_int_equal(rail_timed_submit(pool, count_job, &n, &negative), EINVAL);
    assert_int_equal(rail_timed_submit(NULL, count_job, &n, NULL), EINVAL);
    assert_int_equal(rail_wait_idle(NULL, NULL), EINVAL);
    assert_int_equal(rail_wait_idle(pool, &bad), EINVAL);
    assert_int_equal(rail_shutdown(NULL, RAIL_DRAIN, NULL), EINVAL);
    assert_int_equal(rail_shutdown(pool, (rail_shutdown_mode)7, NULL), EINVAL);
    assert_int_equal(rail_shutdown(pool, RAIL_DRAIN, &bad), EINVAL);

    rail_group g;
    memset(&g, 0, sizeof g);
    assert_int_equal(rail_group_init(NULL, pool), EINVAL);
    assert_int_equal(rail_group_init(&g, NULL), EINVAL);
    assert_int_equal(rail_group_submit(&g, count_job, &n), EINVAL); /* never initialised */
    assert_int_equal(rail_group_wait(&g, NULL), EINVAL);
    assert_int_equal(rail_group_submit(NULL, count_job, &n), EINVAL);
    assert_int_equal(rail_group_init(&g, pool), 0);
    assert_int_equal(rail_group_submit(&g, NULL, &n), EINVAL);
    assert_int_equal(rail_group_wait(&g, &bad), EINVAL);
    rail_group_destroy(&g);
    assert_int_equal(rail_group_submit(&g, count_job, &n), EINVAL); /* destroyed */
    rail_group_destroy(NULL);

    assert_int_equal(rail_join(NULL, count_job, &n, count_job, &n), EINVAL);
    assert_int_equal(rail_join(pool, NULL, &n, count_job, &n), EINVAL);
    assert_int_equal(rail_join(pool, count_job, &n, NULL, &n), EINVAL);

    rail_future *f = NULL;
    assert_int_equal(rail_async(NULL, (rail_task)NULL, NULL, &f), EINVAL);
    assert_int_equal(rail_async(pool, NULL, NULL, &f), EINVAL);
    assert_null(f);
    assert_int_equal(rail_future_wait(NULL, NULL, NULL), EINVAL);
    assert_int_equal(rail_future_cancel(NULL), EINVAL);
    rail_future_release(NULL);

    assert_int_equal(rail_parallel_for(NULL, 0, 1, 1, (rail_range_fn)NULL, NULL), EINVAL);
    assert_int_equal(rail_parallel_for(pool, 0, 1, 1, NULL, NULL), EINVAL);

    rail_pool_stats(NULL, NULL);
    rail_pool_stats(pool, NULL);
    rail_pool_destroy(NULL);
    assert_int_equal(atomic_load(&n), 0); /* nothing ran */
    rail_pool_destroy(pool);
}

static void deadline_is_monotonic_and_saturates(void **state)
{
    (void)state;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct timespec d = rail_deadline(1500000000ull);
    assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
    int64_t delta_ms =
        (int64_t)(d.tv_sec - now.tv_sec) * 1000 + (d.tv_nsec - now.tv_nsec) / 1000000;
    assert_true(delta_ms >= 1500 && delta_ms < 2500);
    d = rail_deadline(UINT64_MAX);
    assert_true(d.tv_sec > now.tv_sec); /* saturated, not wrapped */
    assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
}

struct hooks {
    atomic_uint started[8], stopped[8];
    atomic_uint bad_index;
};

static void on_start(unsigned worker, void *ctx)
{
    struct hooks *h = ctx;
    if (worker >= 8 || rail_worker_index() != (int)worker)
        atomic_fetch_add(&h->bad_index, 1);
    else
        atomic_fetch_add(&h->started[worker], 1);
}

static void on_stop(unsigned worker, void *ctx)
{
    struct hooks *h = ctx;
    if (worker < 8)
        atomic_fetch_add(&h->stopped[worker], 1);
}

struct identity {
    struct gate gate;
    atomic_uint name_ok, seen[4], stack_ok;
};

static void record_identity(void *arg)
{
    struct identity *id = arg;
    int index = rail_worker_index();
    char name[16], expect[16];
    pthread_getname_np(pthread_self(), name, sizeof name);
    snprintf(expect, sizeof expect, "chef-%d", index);
    if (strcmp(name, expect) == 0)
        atomic_fetch_add(&id->name_ok, 1);
    if (index >= 0 && index < 4)
        atomic_fetch_add(&id->seen[index], 1);
    pthread_attr_t attr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstacksize(&attr, &size);
        pthread_attr_destroy(&attr);
    }
    if (size >= 1024 * 1024)
        atomic_fetch_add(&id->stack_ok, 1);
    gate_job(&id->gate); /* hold this worker so the next job goes to another */
}

static void workers_have_index_name_hooks_and_stack(void **state)
{
    (void)state;
    struct hooks h;
    memset(&h, 0, sizeof h);
    struct identity id;
    memset(&id, 0, sizeof id);
    gate_init(&id.gate);
    rail_options o = {.threads = 4,
                      .name = "chef",
                      .stack_size = 1024 * 1024,
                      .on_worker_start = on_start,
                      .on_worker_stop = on_stop,
                      .ctx = &h};
    rail_pool *pool;
    assert_int_equal(rail_pool_create(&pool, &o), 0);
    assert_int_equal(rail_worker_index(), -1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(rail_submit(pool, record_identity, &id), 0);
    gate_wait_arrived(&id.gate, 4); /* four jobs parked at once: one on each worker */
    gate_open(&id.gate);
    rail_pool_destroy(pool);
    gate_destroy(&id.gate);

    assert_int_equal(atomic_load(&id.name_ok), 4);
    assert_int_equal(atomic_load(&id.stack_ok), 4);
    assert_int_equal(atomic_load(&h.bad_index), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(atomic_load(&id.seen[i]), 1);
        assert_int_equal(atomic_load(&h.started[i]), 1);
        assert_int_equal(atomic_load(&h.stopped[i]), 1);
    }
}

static void long_name_is_truncated_not_rejected(void **state)
{
    (void)state;
    rail_pool *pool;
    char name[64];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_int_equal(rail_pool_create(&pool, &(rail_options){.threads = 1, .name = name}), 0);
    atomic_uint n = 0;
    assert_int_equal(rail_submit(pool, count_job, &n), 0);
    rail_pool_destroy(pool);
    assert_int_equal(atomic_load(&n), 1);
}

static void stats_and_wait_idle(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    struct gate g;
    gate_init(&g);
    atomic_uint n = 0;
    assert_int_equal(rail_submit(pool, gate_job, &g), 0);
    assert_int_equal(rail_submit(pool, gate_job, &g), 0);
    /* Both workers parked first: outside jobs start in no promised order
     * (a worker may claim several at once), so a count job submitted with
     * the gates could start before the second gate. */
    gate_wait_arrived(&g, 2);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(rail_submit(pool, count_job, &n), 0);

    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.threads, 2);
    assert_int_equal(st.busy, 2);
    assert_int_equal(st.queued, 1000);
    assert_int_equal(st.submitted, 1002);
    assert_int_equal(st.completed, 0);

    struct timespec d = ms_from_now(20);
    assert_int_equal(rail_wait_idle(pool, &d), ETIMEDOUT);
    gate_open(&g);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(atomic_load(&n), 1000);
    rail_pool_stats(pool, &st);
    assert_int_equal(st.busy, 0);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.completed, 1002);
    assert_int_equal(st.submitted, st.completed);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.discarded, 0);
    rail_pool_destroy(pool);
    gate_destroy(&g);
}

struct self_calls {
    rail_pool *pool;
    atomic_int wait_idle_rc, shutdown_rc;
};

static void call_own_pool(void *arg)
{
    struct self_calls *c = arg;
    atomic_store(&c->wait_idle_rc, rail_wait_idle(c->pool, NULL));
    atomic_store(&c->shutdown_rc, rail_shutdown(c->pool, RAIL_DISCARD, NULL));
}

static void waiting_on_own_pool_is_edeadlk(void **state)
{
    (void)state;
    struct self_calls c = {.pool = make_pool(1, 0)};
    atomic_init(&c.wait_idle_rc, -1);
    atomic_init(&c.shutdown_rc, -1);
    assert_int_equal(rail_submit(c.pool, call_own_pool, &c), 0);
    assert_int_equal(rail_wait_idle(c.pool, NULL), 0);
    assert_int_equal(atomic_load(&c.wait_idle_rc), EDEADLK);
    assert_int_equal(atomic_load(&c.shutdown_rc), EDEADLK);
    atomic_uint n = 0;
    assert_int_equal(rail_submit(c.pool, count_job, &n), 0); /* still running */
    rail_pool_destroy(c.pool);
    assert_int_equal(atomic_load(&n), 1);
}

struct cross_pool {
    rail_pool *other;
    atomic_int rc;
};

static void wait_on_other_pool(void *arg)
{
    struct cross_pool *c = arg;
    atomic_store(&c->rc, rail_wait_idle(c->other, NULL));
}

static void other_pools_worker_is_outside(void **state)
{
    (void)state;
    /* A worker of pool a may wait on pool b: to b it is an outside thread. */
    rail_pool *a = make_pool(1, 0);
    struct cross_pool c = {.other = make_pool(1, 0)};
    atomic_init(&c.rc, -1);
    assert_int_equal(rail_submit(a, wait_on_other_pool, &c), 0);
    assert_int_equal(rail_wait_idle(a, NULL), 0);
    assert_int_equal(atomic_load(&c.rc), 0);
    rail_pool_destroy(c.other);
    rail_pool_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_with_defaults),
        cmocka_unit_test(create_rejects_bad_options),
        cmocka_unit_test(bad_arguments_get_einval),
        cmocka_unit_test(deadline_is_monotonic_and_saturates),
        cmocka_unit_test(workers_have_index_name_hooks_and_stack),
        cmocka_unit_test(long_name_is_truncated_not_rejected),
        cmocka_unit_test(stats_and_wait_idle),
        cmocka_unit_test(waiting_on_own_pool_is_edeadlk),
        cmocka_unit_test(other_pools_worker_is_outside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
