/*
 * test_join_exit.c - rail_join(a, b) from a worker whose a ends its thread
 * with pthread_exit(). The join's state (b's latch) lives in the joining
 * frame, on that thread's stack; b waits on the worker's deque, which the
 * replacement thread inherits. The stack is gone with the thread (glibc keeps
 * it for the next thread it starts, most of its pages given back), so the
 * replacement must neither run b nor complete it into that memory. The
 * second test does the same for a group on the ended thread's stack.
 *
 * With one worker nobody steals: every b is still on the deque when its
 * thread ends. The ended thread's stack is copied once the replacement has
 * joined it (from on_worker_start, before the replacement's first job) and
 * compared when the pool is idle: any byte changed is a write into a dead
 * stack. (ASan would not see it: the memory stays mapped in glibc's cache.)
 */
#define _GNU_SOURCE /* pthread_getattr_np */
#include "helpers.h"

#define STACK_SIZE (256u * 1024u) /* small: glibc caches, not unmaps, it */

#if defined(__GNUC__)
#define NOT_SANITIZED __attribute__((no_sanitize_address, no_sanitize_thread))
#else
#define NOT_SANITIZED
#endif

static struct {
    volatile unsigned char *lo; /* the ended thread's stack, set by its a */
    size_t size;
    unsigned char *copy; /* its bytes once the thread was joined */
    rail_pool *pool;
    atomic_uint starts;
    atomic_uint b_ran, x_ran, y_ran;
    atomic_int submit_rc; /* the joiner's rail_submit() */
    atomic_uint returned; /* joins that returned: none may */
} t;

/* The dead stack is read as plain bytes: no sanitizer has a say on memory
 * that belongs to no thread, and volatile keeps these loops from becoming
 * memcpy()/memcmp() calls that a sanitizer intercepts. */
static NOT_SANITIZED void copy_dead_stack(void)
{
    for (size_t i = 0; i < t.size; i++)
        t.copy[i] = t.lo[i];
}

static NOT_SANITIZED size_t dead_stack_changes(void)
{
    size_t changed = 0;
    for (size_t i = 0; i < t.size; i++)
        changed += t.lo[i] != t.copy[i];
    return changed;
}

/* The second start is the replacement's: it has joined the ended thread,
 * and has not run anything yet. */
static void on_start(unsigned worker, void *ctx)
{
    (void)worker;
    (void)ctx;
    if (atomic_fetch_add(&t.starts, 1) == 1 && t.lo != NULL) {
        t.copy = malloc(t.size);
        if (t.copy != NULL)
            copy_dead_stack();
    }
}

static void count(void *arg)
{
    atomic_fetch_add((atomic_uint *)arg, 1);
}

/* The innermost a: remembers this thread's stack, then ends the thread. */
static void exit_thread(void *arg)
{
    (void)arg;
    pthread_attr_t attr;
    void *lo = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &lo, &size);
        pthread_attr_destroy(&attr);
    }
    t.size = size;
    t.lo = lo;
    pthread_exit(NULL);
}

/* An a that joins again: a second join frame on the same stack. */
static void join_inner(void *arg)
{
    (void)arg;
    rail_join(t.pool, exit_thread, NULL, count, &t.b_ran);
    atomic_fetch_add(&t.returned, 1);
}

/* The job: a plain job of its own on the deque (it must still run), then
 * two nested joins whose b's lie above it. (No cmocka assertion here: it
 * would jump across threads.) */
static void joiner(void *arg)
{
    (void)arg;
    atomic_store(&t.submit_rc, rail_submit(t.pool, count, &t.x_ran));
    rail_join(t.pool, join_inner, NULL, count, &t.b_ran);
    atomic_fetch_add(&t.returned, 1);
}

/* A join on the replacement, with the deque it inherited. */
static void join_again(void *arg)
{
    if (rail_join(t.pool, count, arg, count, arg) == 0)
        count(arg);
}

static void b_is_not_run_into_a_dead_stack(void **state)
{
    (void)state;
    rail_options o = {.threads = 1, .stack_size = STACK_SIZE, .on_worker_start = on_start};
    assert_int_equal(rail_pool_create(&t.pool, &o), 0);

    /* Parked, the worker finds the joiner and two more outside jobs queued
     * and claims them in one batch: those two wait on its deque, below
     * everything the joiner pushes. */
    struct gate gate;
    park_worker(t.pool, &gate);
    rail_group g;
    assert_int_equal(rail_group_init(&g, t.pool), 0);
    assert_int_equal(rail_group_submit(&g, joiner, NULL), 0);
    assert_int_equal(rail_submit(t.pool, count, &t.y_ran), 0);
    assert_int_equal(rail_submit(t.pool, count, &t.y_ran), 0);
    gate_open(&gate);

    assert_int_equal(rail_group_wait(&g, NULL), EOWNERDEAD);
    assert_int_equal(rail_wait_idle(t.pool, NULL), 0);

    assert_non_null((void *)t.lo);
    assert_true(t.size >= STACK_SIZE / 2);
    assert_non_null(t.copy); /* the replacement started after the thread ended */
    size_t changed = dead_stack_changes();
    print_message("dead stack: %zu of %zu bytes changed; b ran %u times, x %u, y %u\n", changed,
                  t.size, atomic_load(&t.b_ran), atomic_load(&t.x_ran), atomic_load(&t.y_ran));
    assert_int_equal(changed, 0);
    assert_int_equal(atomic_load(&t.submit_rc), 0);
    assert_int_equal(atomic_load(&t.returned), 0);
    assert_int_equal(atomic_load(&t.b_ran), 0); /* both b's dropped, never run */
    assert_int_equal(atomic_load(&t.x_ran), 1); /* the rest of the deque kept */
    assert_int_equal(atomic_load(&t.y_ran), 2);

    rail_stats st;
    rail_pool_stats(t.pool, &st);
    assert_int_equal(st.workers_replaced, 1);
    assert_int_equal(st.threads, 1);
    assert_int_equal(st.busy, 0);
    assert_int_equal(st.queued, 0);
    /* gate, joiner, x, y, y, b, b: the joiner and its b's end with the thread. */
    assert_int_equal(st.submitted, 7);
    assert_int_equal(st.completed, 7);
    assert_int_equal(st.discarded, 0);

    /* The pool goes on: the replacement joins on the deque it inherited. */
    atomic_uint n = 0;
    assert_int_equal(rail_submit(t.pool, join_again, &n), 0);
    assert_int_equal(rail_wait_idle(t.pool, NULL), 0);
    assert_int_equal(atomic_load(&n), 3);

    rail_group_destroy(&g);
    gate_destroy(&gate);
    rail_pool_destroy(t.pool);
    free(t.copy);
}

/*
 * The same for the jobs the thread was inside: a job that waits for a group
 * on its own stack runs the group's job nested (helping); that job ends the
 * thread. Both frames are gone, so the group's latch must not be told.
 *
 * The group lies about 10 KiB below the top of the stack: below the frames
 * the thread's exit path uses (it runs from the top, over the unwound
 * frames), and above the part glibc gives back with MADV_DONTNEED when the
 * thread ends (all but the top 16 KiB). So once the replacement has joined
 * the thread, whatever changed in the group was written by the pool.
 */
static struct {
    rail_pool *pool;
    rail_group *g; /* on the ended thread's stack */
    unsigned char copy[sizeof(rail_group)];
    atomic_uint starts;
    atomic_size_t changed; /* bytes of the group changed; +1 once known */
} u;

static NOT_SANITIZED size_t dead_group_changes(void)
{
    const volatile unsigned char *p = (const volatile unsigned char *)u.g;
    size_t changed = 0;
    for (size_t i = 0; i < sizeof u.copy; i++)
        changed += p[i] != u.copy[i];
    return changed;
}

/* The replacement's start: the ended thread has been joined. */
static void on_start_compare(unsigned worker, void *ctx)
{
    (void)worker;
    (void)ctx;
    if (atomic_fetch_add(&u.starts, 1) == 1 && u.g != NULL)
        atomic_store(&u.changed, dead_group_changes() + 1);
}

static int compared(void *arg)
{
    (void)arg;
    return atomic_load(&u.changed) != 0;
}

static NOT_SANITIZED void exit_in_group(void *arg)
{
    (void)arg;
    const volatile unsigned char *p = (const volatile unsigned char *)u.g;
    for (size_t i = 0; i < sizeof u.copy; i++)
        u.copy[i] = p[i];
    pthread_exit(NULL);
}

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void
wait_on_stack_group(void)
{
    rail_group g;
    u.g = &g;
    if (rail_group_init(&g, u.pool) == 0 && rail_group_submit(&g, exit_in_group, NULL) == 0)
        rail_group_wait(&g, NULL); /* runs exit_in_group here */
}

static void *volatile pad_seen; /* the pad's address escapes: it is kept whole */

static void deep_waiter(void *arg)
{
    (void)arg;
    unsigned char pad[10 * 1024];
    pad_seen = pad;
    wait_on_stack_group();
    pad_seen = NULL; /* after the call: no tail call, so the pad stays */
}

static void group_on_dead_stack_is_not_told(void **state)
{
    (void)state;
    rail_options o = {.threads = 1, .stack_size = STACK_SIZE, .on_worker_start = on_start_compare};
    assert_int_equal(rail_pool_create(&u.pool, &o), 0);
    rail_group g;
    assert_int_equal(rail_group_init(&g, u.pool), 0);
    assert_int_equal(rail_group_submit(&g, deep_waiter, NULL), 0);
    assert_int_equal(rail_group_wait(&g, NULL), EOWNERDEAD); /* the outer frame is told */
    wait_until(compared, NULL);

    size_t changed = atomic_load(&u.changed) - 1;
    print_message("dead group: %zu of %zu bytes changed\n", changed, sizeof u.copy);
    assert_int_equal(changed, 0);

    assert_int_equal(rail_wait_idle(u.pool, NULL), 0);
    rail_stats st;
    rail_pool_stats(u.pool, &st);
    assert_int_equal(st.workers_replaced, 1);
    assert_int_equal(st.submitted, 2);
    assert_int_equal(st.completed, 2);
    rail_group_destroy(&g);
    rail_pool_destroy(u.pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(b_is_not_run_into_a_dead_stack),
        cmocka_unit_test(group_on_dead_stack_is_not_told),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
