/* test_create_fail.c - thread creation failing, at pool creation and when a
 * worker must be replaced. pthread_create is wrapped at link time
 * (-Wl,--wrap=pthread_create) so that it fails on demand. */
#include "helpers.h"

int __real_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
int __wrap_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

/* Creations left before the wrapper starts failing; negative = never fail. */
static atomic_int creations_left = -1;

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    int left = atomic_load(&creations_left);
    if (left == 0)
        return EAGAIN;
    if (left > 0)
        atomic_fetch_sub(&creations_left, 1);
    return __real_pthread_create(t, attr, fn, arg);
}

static atomic_uint stops;

static void on_stop(unsigned worker, void *ctx)
{
    (void)worker;
    (void)ctx;
    atomic_fetch_add(&stops, 1);
}

static void create_joins_what_it_started(void **state)
{
    (void)state;
    for (int ok = 0; ok < 4; ok++) {
        atomic_store(&stops, 0);
        atomic_store(&creations_left, ok);
        rail_pool *pool = NULL;
        rail_options o = {.threads = 4, .on_worker_stop = on_stop};
        assert_int_equal(rail_pool_create(&pool, &o), EAGAIN);
        assert_null(pool);
        assert_int_equal(atomic_load(&stops), ok); /* each started worker ran and was joined */
    }
    atomic_store(&creations_left, -1);
    rail_pool *pool = make_pool(4, 0);
    rail_pool_destroy(pool);
}

static void exit_thread(void *arg)
{
    (void)arg;
    pthread_exit(NULL);
}

static void failed_replacement_is_retried(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    atomic_store(&creations_left, 0); /* the replacement will fail */
    assert_int_equal(rail_submit(pool, exit_thread, NULL), 0);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.threads, 0);
    assert_int_equal(st.workers_replaced, 0);

    atomic_store(&creations_left, -1);
    atomic_uint n = 0;
    assert_int_equal(rail_submit(pool, count_job, &n), 0); /* refills the empty slot */
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(atomic_load(&n), 1);
    rail_pool_stats(pool, &st);
    assert_int_equal(st.threads, 1);
    assert_int_equal(st.workers_replaced, 1);
    rail_pool_destroy(pool);
}

static void shutdown_joins_a_slot_never_refilled(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    atomic_store(&creations_left, 0);
    assert_int_equal(rail_submit(pool, exit_thread, NULL), 0);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(rail_shutdown(pool, RAIL_DRAIN, NULL), 0); /* retries fail: still joins */
    atomic_store(&creations_left, -1);
    rail_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_joins_what_it_started),
        cmocka_unit_test(failed_replacement_is_retried),
        cmocka_unit_test(shutdown_joins_a_slot_never_refilled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
