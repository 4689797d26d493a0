/* test_worker_exit.c - a job that calls pthread_exit() does not shrink the
 * pool: the worker is replaced, and the job's group or future learns of it. */
#include "helpers.h"

static void exit_thread(void *arg)
{
    if (arg != NULL)
        atomic_fetch_add((atomic_uint *)arg, 1);
    pthread_exit(NULL);
}

static void *exit_thread_task(void *arg)
{
    exit_thread(arg);
    return arg;
}

static void exiting_jobs_are_replaced(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    atomic_uint exits = 0, n = 0;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(rail_submit(pool, exit_thread, &exits), 0);
        assert_int_equal(rail_submit(pool, count_job, &n), 0);
    }
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(atomic_load(&exits), 10);
    assert_int_equal(atomic_load(&n), 10);
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.threads, 1);
    assert_int_equal(st.workers_replaced, 10);
    assert_int_equal(st.completed, 20);
    assert_int_equal(st.busy, 0);
    rail_pool_destroy(pool);
}

static void group_and_future_report_eownerdead(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    rail_group g;
    atomic_uint n = 0;
    assert_int_equal(rail_group_init(&g, pool), 0);
    assert_int_equal(rail_group_submit(&g, count_job, &n), 0);
    assert_int_equal(rail_group_submit(&g, exit_thread, NULL), 0);
    assert_int_equal(rail_group_wait(&g, NULL), EOWNERDEAD);
    assert_int_equal(rail_group_wait(&g, NULL), 0);
    rail_group_destroy(&g);

    rail_future *f;
    assert_int_equal(rail_async(pool, exit_thread_task, NULL, &f), 0);
    void *r = (void *)1;
    assert_int_equal(rail_future_wait(f, &r, NULL), EOWNERDEAD);
    assert_null(r);
    rail_future_release(f);
    rail_pool_destroy(pool);
}

struct nest {
    rail_pool *pool;
    int outer_rc;
};

static void wait_for_exiting_child(void *arg)
{
    struct nest *nest = arg;
    rail_group g;
    rail_group_init(&g, nest->pool);
    rail_group_submit(&g, exit_thread, NULL);
    /* One worker: the child runs inside this wait, on this thread, and ends
     * it. Neither this job nor the wait returns. */
    nest->outer_rc = rail_group_wait(&g, NULL);
}

static void exit_inside_a_helping_wait_ends_both_jobs(void **state)
{
    (void)state;
    struct nest nest = {.pool = make_pool(1, 0), .outer_rc = -1};
    assert_int_equal(rail_submit(nest.pool, wait_for_exiting_child, &nest), 0);
    assert_int_equal(rail_wait_idle(nest.pool, NULL), 0);
    assert_int_equal(nest.outer_rc, -1); /* the outer job never returned */
    rail_stats st;
    rail_pool_stats(nest.pool, &st);
    assert_int_equal(st.completed, 2);
    assert_int_equal(st.workers_replaced, 1);
    assert_int_equal(st.threads, 1);
    atomic_uint n = 0;
    assert_int_equal(rail_submit(nest.pool, count_job, &n), 0);
    rail_pool_destroy(nest.pool);
    assert_int_equal(atomic_load(&n), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exiting_jobs_are_replaced),
        cmocka_unit_test(group_and_future_report_eownerdead),
        cmocka_unit_test(exit_inside_a_helping_wait_ends_both_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
