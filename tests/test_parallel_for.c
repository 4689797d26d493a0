/* test_parallel_for.c - every index exactly once, chunk bounds, edge ranges,
 * nesting, full queues, shutdown. */
#include "helpers.h"

struct cover {
    size_t begin, end, grain;
    atomic_uchar *hits;
    atomic_uint calls, oversized, out_of_range, empty;
};

static void mark(size_t b, size_t e, void *arg)
{
    struct cover *c = arg;
    atomic_fetch_add(&c->calls, 1);
    if (e - b > c->grain)
        atomic_fetch_add(&c->oversized, 1);
    if (b >= e)
        atomic_fetch_add(&c->empty, 1);
    if (b < c->begin || e > c->end) {
        atomic_fetch_add(&c->out_of_range, 1);
        return;
    }
    for (size_t i = b; i < e; i++)
        atomic_fetch_add(&c->hits[i - c->begin], 1);
}

/* Runs one parallel_for over [begin, end) and checks the cover. */
static void check_cover(rail_pool *pool, size_t begin, size_t end, size_t grain)
{
    size_t n = end - begin;
    struct cover c = {.begin = begin, .end = end, .grain = grain ? grain : n};
    c.hits = calloc(n ? n : 1, sizeof *c.hits);
    assert_non_null(c.hits);
    assert_int_equal(rail_parallel_for(pool, begin, end, grain, mark, &c), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(atomic_load(&c.hits[i]), 1);
    assert_int_equal(atomic_load(&c.oversized), 0);
    assert_int_equal(atomic_load(&c.out_of_range), 0);
    assert_int_equal(atomic_load(&c.empty), 0);
    if (grain != 0)
        assert_int_equal(atomic_load(&c.calls), n == 0 ? 0 : (n - 1) / grain + 1);
    free(c.hits);
}

static void covers_every_index_exactly_once(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    size_t grains[] = {0, 1, 7, 1000, 99999, 100000, 100005};
    for (size_t i = 0; i < sizeof grains / sizeof grains[0]; i++)
        check_cover(pool, 0, 100000, grains[i]);
    check_cover(pool, 5, 6, 0);
    check_cover(pool, 12345, 12345 + 777, 10);
    rail_pool_destroy(pool);
}

static void empty_and_reversed_ranges(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    check_cover(pool, 10, 10, 1); /* body never called */
    struct cover c = {.grain = 1};
    assert_int_equal(rail_parallel_for(pool, 11, 10, 1, mark, &c), EINVAL);
    assert_int_equal(atomic_load(&c.calls), 0);
    rail_pool_destroy(pool);
}

static void range_at_the_top_of_size_t_does_not_overflow(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    check_cover(pool, SIZE_MAX - 1000, SIZE_MAX, 7);
    check_cover(pool, SIZE_MAX - 3, SIZE_MAX, SIZE_MAX);
    rail_pool_destroy(pool);
}

struct nested_sum {
    rail_pool *pool;
    atomic_uint total;
    atomic_uint failures;
};

static void inner_body(size_t b, size_t e, void *arg)
{
    atomic_fetch_add(&((struct nested_sum *)arg)->total, (unsigned)(e - b));
}

static void outer_body(size_t b, size_t e, void *arg)
{
    struct nested_sum *s = arg;
    for (size_t i = b; i < e; i++)
        if (rail_parallel_for(s->pool, 0, 100, 3, inner_body, s) != 0)
            atomic_fetch_add(&s->failures, 1);
}

static void outer_job(void *arg)
{
    struct nested_sum *s = arg;
    if (rail_parallel_for(s->pool, 0, 50, 1, outer_body, s) != 0)
        atomic_fetch_add(&s->failures, 1);
}

static void nested_loops_on_one_worker(void **state)
{
    (void)state;
    for (unsigned threads = 1; threads <= 2; threads++) {
        struct nested_sum s = {.pool = make_pool(threads, 1)};
        atomic_init(&s.total, 0);
        atomic_init(&s.failures, 0);
        assert_int_equal(rail_submit(s.pool, outer_job, &s), 0);
        assert_int_equal(rail_wait_idle(s.pool, NULL), 0);
        assert_int_equal(atomic_load(&s.failures), 0);
        assert_int_equal(atomic_load(&s.total), 50 * 100);
        rail_pool_destroy(s.pool);
    }
}

static void caller_does_the_work_when_the_queue_is_full(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(1, 1);
    struct gate gate;
    atomic_uint filler = 0;
    park_worker(pool, &gate);
    assert_int_equal(rail_submit(pool, count_job, &filler), 0);
    check_cover(pool, 0, 1000, 10); /* returns with the only worker parked */
    rail_stats st;
    rail_pool_stats(pool, &st);
    assert_int_equal(st.rejected, 0);
    gate_open(&gate);
    rail_pool_destroy(pool);
    gate_destroy(&gate);
}

static void refused_after_shutdown(void **state)
{
    (void)state;
    rail_pool *pool = make_pool(2, 0);
    assert_int_equal(rail_shutdown(pool, RAIL_DRAIN, NULL), 0);
    struct cover c = {.grain = 1};
    assert_int_equal(rail_parallel_for(pool, 0, 10, 1, mark, &c), ESHUTDOWN);
    assert_int_equal(atomic_load(&c.calls), 0);
    rail_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(covers_every_index_exactly_once),
        cmocka_unit_test(empty_and_reversed_ranges),
        cmocka_unit_test(range_at_the_top_of_size_t_does_not_overflow),
        cmocka_unit_test(nested_loops_on_one_worker),
        cmocka_unit_test(caller_does_the_work_when_the_queue_is_full),
        cmocka_unit_test(refused_after_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
