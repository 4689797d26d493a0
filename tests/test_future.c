/* test_future.c - results, cancellation, release before completion, helping. */
#include "helpers.h"

static void *square(void *arg)
{
    uintptr_t x = (uintptr_t)arg;
    return (void *)(x * x);
}

static void future_returns_result_and_can_be_waited_twice(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    rail_future *f[100];
    for (uintptr_t i = 0; i < 100; i++)
        assert_int_equal(rail_async(pool, square, (void *)i, &f[i]), 0);
    for (uintptr_t i = 0; i < 100; i++) {
        void *r = NULL;
        assert_int_equal(rail_future_wait(f[i], &r, NULL), 0);
        assert_int_equal((uintptr_t)r, i * i);
        assert_int_equal(rail_future_wait(f[i], NULL, NULL), 0);
        assert_int_equal(rail_future_cancel(f[i]), EBUSY); /* done */
        rail_future_release(f[i]);
    }
    rail_pool_destroy(pool);
}

static void *count_task(void *arg)
{
    atomic_fetch_add((atomic_uint *)arg, 1);
    return arg;
}

static void cancel_takes_a_queued_job_off(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 1);
    struct gate gate;
    atomic_uint n = 0;
    park_worker(pool, &gate);
    rail_future *f;
    assert_int_equal(rail_async(pool, count_task, &n, &f), 0);
    assert_int_equal(rail_try_submit(pool, count_job, &n), EAGAIN); /* queue full */
    assert_int_equal(rail_future_cancel(f), 0);
    assert_int_equal(rail_try_submit(pool, count_job, &n), 0); /* cancel made room */
    assert_int_equal(rail_future_cancel(f), 0);                /* still never runs */
    void *r = (void *)1;
    assert_int_equal(rail_future_wait(f, &r, NULL), ECANCELED);
    assert_null(r);
    rail_future_release(f);
    gate_open(&gate);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(atomic_load(&n), 1); /* only the count_job */
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.discarded, 1);
    assert_int_equal(st.submitted, st.completed + st.discarded);
    rail_pool_destroy(pool);
    gate_destroy(&gate);
}

struct parked_task {
    struct gate *gate;
    atomic_uint ran;
};

static void *gated_task(void *arg)
{
    struct parked_task *p = arg;
    gate_job(p->gate);
    atomic_fetch_add(&p->ran, 1);
    return NULL;
}

/* A future whose task parks at gate (initialised here) until it opens. */
static rail_future *start_gated_task(rail_pool *pool, struct gate *gate, struct parked_task *p)
{
    gate_init(gate);
    p->gate = gate;
    atomic_init(&p->ran, 0);
    rail_future *f = NULL;
    assert_int_equal(rail_async(pool, gated_task, p, &f), 0);
    return f;
}

static void cancel_of_running_job_is_ebusy_and_wait_times_out(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    struct gate gate;
    struct parked_task p;
    rail_future *f = start_gated_task(pool, &gate, &p);
    gate_wait_arrived(&gate, 1);
    assert_int_equal(rail_future_cancel(f), EBUSY);
    struct timespec d = ms_from_now(20);
    assert_int_equal(rail_future_wait(f, NULL, &d), ETIMEDOUT);
    gate_open(&gate);
    assert_int_equal(rail_future_wait(f, NULL, NULL), 0);
    assert_int_equal(atomic_load(&p.ran), 1);
    rail_future_release(f);
    rail_pool_destroy(pool);
    gate_destroy(&gate);
}

static void release_before_completion_still_runs_the_job(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    struct gate gate;
    struct parked_task p;
    rail_future *f = start_gated_task(pool, &gate, &p);
    rail_future_release(f); /* may be queued or parked: either way it runs */
    gate_open(&gate);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(atomic_load(&p.ran), 1);
    rail_pool_destroy(pool); /* LeakSanitizer checks the future was freed */
    gate_destroy(&gate);
}

struct inner_future {
    rail_pool *pool;
    int rc;
    uintptr_t result;
};

static void wait_inner_future(void *arg)
{
    struct inner_future *w = arg;
    rail_future *f;
    w->rc = rail_async(w->pool, square, (void *)7, &f);
    if (w->rc != 0)
        return;
    void *r = NULL;
    w->rc = rail_future_wait(f, &r, NULL); /* one worker: it must run the task itself */
    w->result = (uintptr_t)r;
    rail_future_release(f);
}

static void future_wait_in_a_worker_helps(void **state)
{
    (void)state;
    struct inner_future w = {.pool = make_pool(1, 0), .rc = -1};
    assert_int_equal(rail_submit(w.pool, wait_inner_future, &w), 0);
    assert_int_equal(rail_wait_idle(w.pool, NULL), 0);
    assert_int_equal(w.rc, 0);
    assert_int_equal(w.result, 49);
    rail_pool_destroy(w.pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(future_returns_result_and_can_be_waited_twice),
        cmocka_unit_test(cancel_takes_a_queued_job_off),
        cmocka_unit_test(cancel_of_running_job_is_ebusy_and_wait_times_out),
        cmocka_unit_test(release_before_completion_still_runs_the_job),
        cmocka_unit_test(future_wait_in_a_worker_helps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
