/* test_submit.c - backpressure: try, timed and blocking submission against a
 * bounded queue; workers' submissions never block. */
#include "helpers.h"

/* One worker parked at the gate, so queued jobs stay queued. */
struct parked {
    rail_pool *pool;
    struct gate gate;
    atomic_uint ran;
};

static void park(struct parked *p, size_t capacity)
{
    p->pool = make_pool(1, capacity);
    atomic_init(&p->ran, 0);
    park_worker(p->pool, &p->gate);
}

static void unpark(struct parked *p)
{
    gate_open(&p->gate);
    rail_pool_destroy(p->pool);
    gate_destroy(&p->gate);
}

static void try_submit_fails_with_eagain_when_full(void **state)
{
    (void)state;
    struct parked p;
    park(&p, 2);
    assert_int_equal(rail_try_submit(p.pool, count_job, &p.ran), 0);
    assert_int_equal(rail_try_submit(p.pool, count_job, &p.ran), 0);
    assert_int_equal(rail_try_submit(p.pool, count_job, &p.ran), EAGAIN);
    assert_int_equal(rail_try_submit(p.pool, count_job, &p.ran), EAGAIN);
    rail_stats st;
    rail_pool_stats(p.pool, &st);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.rejected, 2);
    assert_int_equal(st.submitted, 3);
    unpark(&p);
    assert_int_equal(atomic_load(&p.ran), 2); /* the rejected ones never ran */
}

static void timed_submit_times_out_when_full(void **state)
{
    (void)state;
    struct parked p;
    park(&p, 1);
    assert_int_equal(rail_try_submit(p.pool, count_job, &p.ran), 0);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct timespec d = ms_from_now(30);
    assert_int_equal(rail_timed_submit(p.pool, count_job, &p.ran, &d), ETIMEDOUT);
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    assert_true(end.tv_sec > d.tv_sec || (end.tv_sec == d.tv_sec && end.tv_nsec >= d.tv_nsec));
    struct timespec past = {0, 0};
    assert_int_equal(rail_timed_submit(p.pool, count_job, &p.ran, &past), ETIMEDOUT);
    rail_stats st;
    rail_pool_stats(p.pool, &st);
    assert_int_equal(st.rejected, 2);
    unpark(&p);
    assert_int_equal(atomic_load(&p.ran), 1);
}

static void timed_submit_succeeds_when_room_appears(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    atomic_uint n = 0;
    struct timespec d = ms_from_now(5000);
    assert_int_equal(rail_timed_submit(pool, count_job, &n, &d), 0);
    assert_int_equal(rail_timed_submit(pool, count_job, &n, NULL), 0);
    rail_pool_destroy(pool);
    assert_int_equal(atomic_load(&n), 2);
}

struct blocked_submitter {
    struct parked *p;
    atomic_int returned;
    int rc;
};

static void *submit_blocking(void *arg)
{
    struct blocked_submitter *b = arg;
    b->rc = rail_submit(b->p->pool, count_job, &b->p->ran);
    atomic_store(&b->returned, 1);
    return NULL;
}

static void submit_blocks_until_room(void **state)
{
    (void)state;
    struct parked p;
    park(&p, 1);
    assert_int_equal(rail_submit(p.pool, count_job, &p.ran), 0); /* fills the queue */
    struct blocked_submitter b = {.p = &p};
    atomic_init(&b.returned, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, submit_blocking, &b), 0);
    sleep_ms(50); /* a correct pool keeps it blocked however long this is */
    assert_int_equal(atomic_load(&b.returned), 0);
    gate_open(&p.gate); /* the queued job starts, making room */
    pthread_join(t, NULL);
    assert_int_equal(b.rc, 0);
    unpark(&p);
    assert_int_equal(atomic_load(&p.ran), 2);
}

static void shutdown_wakes_blocked_submitters(void **state)
{
    (void)state;
    struct parked p;
    park(&p, 1);
    assert_int_equal(rail_submit(p.pool, count_job, &p.ran), 0);
    struct blocked_submitter b[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        b[i] = (struct blocked_submitter){.p = &p};
        atomic_init(&b[i].returned, 0);
        assert_int_equal(pthread_create(&t[i], NULL, submit_blocking, &b[i]), 0);
    }
    struct timespec d = ms_from_now(20);
    assert_int_equal(rail_shutdown(p.pool, RAIL_DRAIN, &d), ETIMEDOUT); /* worker still parked */
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(b[i].rc, ESHUTDOWN);
    }
    assert_true(pool_refuses(p.pool));
    gate_open(&p.gate);
    assert_int_equal(rail_shutdown(p.pool, RAIL_DRAIN, NULL), 0);
    assert_int_equal(atomic_load(&p.ran), 1); /* the one accepted before shutdown */
    rail_pool_destroy(p.pool);
    gate_destroy(&p.gate);
}

struct nested {
    rail_pool *pool;
    atomic_uint ran, failed;
};

static void count_nested(void *arg)
{
    atomic_fetch_add(&((struct nested *)arg)->ran, 1);
}

static void spawn_many(void *arg)
{
    struct nested *n = arg;
    /* The queue holds 1 outside job; these come from inside and never block
     * or fail, whichever submit flavour is used. */
    for (int i = 0; i < 100; i++) {
        struct timespec past = {0, 0};
        int rc = i % 3 == 0   ? rail_submit(n->pool, count_nested, n)
                 : i % 3 == 1 ? rail_try_submit(n->pool, count_nested, n)
                              : rail_timed_submit(n->pool, count_nested, n, &past);
        if (rc != 0)
            atomic_fetch_add(&n->failed, 1);
    }
}

static void workers_never_block_on_a_full_queue(void **state)
{
    (void)state;
    struct nested n = {.pool = make_pool(1, 1)};
    atomic_init(&n.ran, 0);
    atomic_init(&n.failed, 0);
    assert_int_equal(rail_submit(n.pool, spawn_many, &n), 0);
    assert_int_equal(rail_wait_idle(n.pool, NULL), 0);
    assert_int_equal(atomic_load(&n.failed), 0);
    assert_int_equal(atomic_load(&n.ran), 100);
    rail_stats st;
    rail_pool_stats(n.pool, &st);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.submitted, 101);
    rail_pool_destroy(n.pool);
}

static void *identity_task(void *arg)
{
    return arg;
}

static void submit_after_shutdown_is_eshutdown(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    assert_int_equal(rail_shutdown(pool, RAIL_DRAIN, NULL), 0);
    atomic_uint n = 0;
    struct timespec d = ms_from_now(10);
    rail_future *f = NULL;
    rail_group g;
    assert_int_equal(rail_submit(pool, count_job, &n), ESHUTDOWN);
    assert_int_equal(rail_try_submit(pool, count_job, &n), ESHUTDOWN);
    assert_int_equal(rail_timed_submit(pool, count_job, &n, &d), ESHUTDOWN);
    assert_int_equal(rail_async(pool, identity_task, &n, &f), ESHUTDOWN);
    assert_null(f);
    assert_int_equal(rail_group_init(&g, pool), 0);
    assert_int_equal(rail_group_submit(&g, count_job, &n), ESHUTDOWN);
    assert_int_equal(rail_group_wait(&g, NULL), 0);
    rail_group_destroy(&g);
    assert_int_equal(rail_join(pool, count_job, &n, count_job, &n), ESHUTDOWN);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(rail_shutdown(pool, RAIL_DISCARD, NULL), 0); /* already stopped */
    assert_int_equal(atomic_load(&n), 0);
    rail_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(try_submit_fails_with_eagain_when_full),
        cmocka_unit_test(timed_submit_times_out_when_full),
        cmocka_unit_test(timed_submit_succeeds_when_room_appears),
        cmocka_unit_test(submit_blocks_until_room),
        cmocka_unit_test(shutdown_wakes_blocked_submitters),
        cmocka_unit_test(workers_never_block_on_a_full_queue),
        cmocka_unit_test(submit_after_shutdown_is_eshutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
