/* test_group.c - groups, rail_join, and nested waits that must not deadlock. */
#include "helpers.h"

static void group_waits_for_all_and_is_reusable(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    rail_group g;
    assert_int_equal(rail_group_init(&g, pool), 0);
    for (int round = 1; round <= 3; round++) {
        atomic_uint n = 0;
        for (int i = 0; i < 1000; i++)
            assert_int_equal(rail_group_submit(&g, count_job, &n), 0);
        assert_int_equal(rail_group_wait(&g, NULL), 0);
        assert_int_equal(atomic_load(&n), 1000);
    }
    assert_int_equal(rail_group_wait(&g, NULL), 0); /* empty group: at once */
    rail_group_destroy(&g);
    rail_pool_destroy(pool);
}

static void group_wait_times_out_and_keeps_tracking(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    struct gate gate;
    gate_init(&gate);
    rail_group g;
    assert_int_equal(rail_group_init(&g, pool), 0);
    assert_int_equal(rail_group_submit(&g, gate_job, &gate), 0);
    struct timespec d = ms_from_now(20);
    assert_int_equal(rail_group_wait(&g, &d), ETIMEDOUT);
    gate_open(&gate);
    assert_int_equal(rail_group_wait(&g, NULL), 0);
    rail_group_destroy(&g);
    rail_pool_destroy(pool);
    gate_destroy(&gate);
}

static void group_destroy_waits_for_queued_jobs(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    atomic_uint n = 0;
    rail_group g;
    assert_int_equal(rail_group_init(&g, pool), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(rail_group_submit(&g, count_job, &n), 0);
    rail_group_destroy(&g);
    assert_int_equal(atomic_load(&n), 100);
    rail_pool_destroy(pool);
}

/* A job that fans out into a group on its own stack and waits for it: with
 * one worker, only helping in the wait keeps this from deadlocking. */
struct tree {
    rail_pool *pool;
    atomic_uint *leaves;
    unsigned depth;
};

static void tree_node(void *arg)
{
    struct tree *t = arg;
    if (t->depth == 0) {
        atomic_fetch_add(t->leaves, 1);
        return;
    }
    struct tree kids[3];
    rail_group g;
    rail_group_init(&g, t->pool);
    for (int i = 0; i < 3; i++) {
        kids[i] = (struct tree){t->pool, t->leaves, t->depth - 1};
        rail_group_submit(&g, tree_node, &kids[i]);
    }
    rail_group_wait(&g, NULL);
    rail_group_destroy(&g);
}

static void nested_group_waits_do_not_deadlock_on_one_worker(void **state)
{
    (void)state;
    for (unsigned threads = 1; threads <= 3; threads++) {
        rail_pool *pool = make_pool(threads, 1);
        atomic_uint leaves = 0;
        struct tree root = {pool, &leaves, 5};
        assert_int_equal(rail_submit(pool, tree_node, &root), 0);
        assert_int_equal(rail_wait_idle(pool, NULL), 0);
        assert_int_equal(atomic_load(&leaves), 243); /* 3^5 */
        rail_pool_destroy(pool);
    }
}

/* fib through rail_join: millions of nested joins would be slow here; fib(16)
 * is 1,973 joins, enough to exercise take-back and helping. */
struct fib {
    rail_pool *pool;
    unsigned n;
    uint64_t result;
};

static void fib_job(void *arg)
{
    struct fib *f = arg;
    if (f->n < 2) {
        f->result = f->n;
        return;
    }
    struct fib a = {f->pool, f->n - 1, 0}, b = {f->pool, f->n - 2, 0};
    int rc = rail_join(f->pool, fib_job, &a, fib_job, &b);
    f->result = rc == 0 ? a.result + b.result : UINT64_MAX / 4;
}

static void join_computes_fib_inside_and_outside(void **state)
{
    (void)state;
    for (unsigned threads = 1; threads <= 2; threads++) {
        rail_pool *pool = make_pool(threads, 0);
        struct fib outside = {pool, 16, 0};
        fib_job(&outside); /* joins from an outside thread */
        assert_int_equal(outside.result, 987);
        struct fib inside = {pool, 16, 0};
        assert_int_equal(rail_submit(pool, fib_job, &inside), 0);
        assert_int_equal(rail_wait_idle(pool, NULL), 0);
        assert_int_equal(inside.result, 987);
        rail_pool_destroy(pool);
    }
}

static void join_runs_both_when_queue_is_full(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 1);
    struct gate gate;
    atomic_uint a = 0, b = 0, filler = 0;
    park_worker(pool, &gate);
    assert_int_equal(rail_submit(pool, count_job, &filler), 0); /* queue now full */
    assert_int_equal(rail_join(pool, count_job, &a, count_job, &b), 0);
    assert_int_equal(atomic_load(&a), 1);
    assert_int_equal(atomic_load(&b), 1);
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.rejected, 0); /* join never counts as a rejection */
    gate_open(&gate);
    rail_pool_destroy(pool);
    gate_destroy(&gate);
}

static void join_takes_b_back_from_a_parked_pool(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 0);
    struct gate gate;
    atomic_uint a = 0, b = 0;
    park_worker(pool, &gate);
    /* The only worker is parked: b can only run if join takes it back. */
    assert_int_equal(rail_join(pool, count_job, &a, count_job, &b), 0);
    assert_int_equal(atomic_load(&b), 1);
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.submitted, 2);
    assert_int_equal(st.completed, 1); /* b counted as completed; the gate job still runs */
    gate_open(&gate);
    rail_pool_destroy(pool);
    gate_destroy(&gate);
}

static void fib_group_job(void *arg)
{
    struct fib *f = arg;
    if (f->n < 2) {
        f->result = f->n;
        return;
    }
    struct fib a = {f->pool, f->n - 1, 0}, b = {f->pool, f->n - 2, 0};
    rail_group g;
    rail_group_init(&g, f->pool);
    rail_group_submit(&g, fib_group_job, &b);
    fib_group_job(&a);
    int rc = rail_group_wait(&g, NULL);
    f->result = rc == 0 ? a.result + b.result : UINT64_MAX / 4;
}

/* A waiting worker that helped with the oldest queued job nested one wait
 * per queued job: fib(23) through stack groups overflowed an 8 MiB stack.
 * Helping must nest only as deep as the recursion. */
static void deep_fork_join_through_groups_stays_shallow(void **state)
{
    (void)state;
    rail_pool *pool;
    /* A small stack makes runaway nesting fail fast and for sure. */
    rail_options o = {.threads = 2, .stack_size = 256 * 1024};
    assert_int_equal(rail_pool_create(&pool, &o), 0);
    struct fib f = {pool, 24, 0};
    assert_int_equal(rail_submit(pool, fib_group_job, &f), 0);
    assert_int_equal(rail_wait_idle(pool, NULL), 0);
    assert_int_equal(f.result, 46368);
    rail_pool_destroy(pool);
}

struct group_adder {
    rail_group *group;
    atomic_uint *n;
    unsigned more;
};

static void add_to_own_group(void *arg)
{
    struct group_adder *a = arg;
    atomic_fetch_add(a->n, 1);
    if (a->more > 0) {
        a->more--;
        rail_group_submit(a->group, add_to_own_group, a);
    }
}

static void group_jobs_may_add_to_their_group(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    rail_group g;
    atomic_uint n = 0;
    assert_int_equal(rail_group_init(&g, pool), 0);
    struct group_adder a = {&g, &n, 99};
    assert_int_equal(rail_group_submit(&g, add_to_own_group, &a), 0);
    assert_int_equal(rail_group_wait(&g, NULL), 0);
    assert_int_equal(atomic_load(&n), 100);
    rail_group_destroy(&g);
    rail_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(group_waits_for_all_and_is_reusable),
        cmocka_unit_test(group_wait_times_out_and_keeps_tracking),
        cmocka_unit_test(group_destroy_waits_for_queued_jobs),
        cmocka_unit_test(nested_group_waits_do_not_deadlock_on_one_worker),
        cmocka_unit_test(join_computes_fib_inside_and_outside),
        cmocka_unit_test(join_runs_both_when_queue_is_full),
        cmocka_unit_test(join_takes_b_back_from_a_parked_pool),
        cmocka_unit_test(group_jobs_may_add_to_their_group),
        cmocka_unit_test(deep_fork_join_through_groups_stays_shallow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
