/*
 * sleep.c - the sleep/wake protocol: how an idle worker goes to sleep and
 * how a new job wakes one, with no lost wakeup and no system call on the
 * common path. tests/test_sleep_model.c checks it over every interleaving.
 *
 * The state
 * ---------
 * Four words in struct sleep, the busy ones on cache lines of their own:
 *
 *   epoch      the futex word. Sleepers wait on it; a waker adds 1 first, so
 *              a worker that read it before the wake does not sleep through.
 *   sleepers   workers asleep in the futex, or about to be.
 *   searching  workers spinning for work before they sleep (at most one
 *              searches at a time: on 2 cores more spinners would only take
 *              the CPU from the thread making the work).
 *   waking     a wake is on its way to a sleeper; submitters meanwhile send
 *              none of their own.
 *
 * A worker's life when it finds nothing (rail__sleep_idle)
 * --------------------------------------------------------
 *   1. If nobody searches, it searches: SEARCH_ROUNDS looks at every queue
 *      with short pauses between, enough to catch the next job of a stream
 *      without a futex round trip. If it finds a job it stops searching and,
 *      being the last searcher with more work visible and someone asleep,
 *      wakes one sleeper to search in its place (stop_searching()), so a
 *      burst is not served by one worker alone (Go's scheduler does the
 *      same).
 *   2. It reads its key = epoch, then sleepers += 1, then a seq_cst fence.
 *   3. It looks once more (the re-check). A job: sleepers -= 1, and as in
 *      1, with more work visible, a sleeper and no searcher, wake one; run
 *      it.
 *      A job claimed but not yet published (work_visible()): sleepers -= 1,
 *      back to 1: its publisher may already have decided not to wake.
 *   4. Nothing: it tells idle waiters (rail_wait_idle, shutdown) that it is
 *      about to sleep, returns if the pool is stopping, else sleeps in
 *      futex_wait(epoch, key): at once returns if epoch moved since step 2.
 *   5. Awake: sleepers -= 1, waking = 0, and back to 1.
 *
 * A submitter's side (rail__sleep_notify)
 * ---------------------------------------
 * The job is published by a seq_cst operation (the ring's claim CAS, the
 * deque's bottom store, the overflow's claim CAS); then, with seq_cst loads
 * and no fence of its own: if sleepers > 0 and searching == 0, wake one. A
 * searcher will find the job; with no sleeper nobody needs waking.
 *
 * One job is published outside this handshake: rail_join's b, by a release
 * store, with rail__sleep_hint()'s relaxed loads for the wake. Its worker
 * takes it back itself when a returns, so a missed wake costs parallelism,
 * never progress (join.c).
 *
 * Waking one (wake_one): set waking (read first: most often it is set
 * already, and the read spares an RMW); if it was already set, stop (that wake
 * will bring a worker that looks for this job too). Else epoch += 1 and
 * futex_wake(1). If the wake found a thread, that thread clears waking. If it
 * found nobody (the sleeper was between steps 2 and 4, or already awake),
 * the waker clears waking itself and LOOKS AGAIN: submitters that skipped
 * their wake while the flag was set published before they read it, and
 * without the second look a worker could sleep with their jobs queued (the
 * TSan stress run hung exactly so; the model test finds it).
 *
 *     worker                              submitter
 *     ------                              ---------
 *     searching -= 1                      publish the job (seq_cst)
 *     key = epoch                         if sleepers > 0 && searching == 0:
 *     sleepers += 1                         if !waking && !exchange(waking, 1):
 *     fence(seq_cst)                          epoch += 1
 *     look again -> found: undo, wake?, run   futex_wake(epoch, 1)
 *     work visible? -> undo, search           woke nobody: waking = 0,
 *     notify idle waiters                       work visible and a sleeper
 *     stop? -> undo, exit                       and no searcher? repeat
 *     futex_wait(epoch, key)
 *     sleepers -= 1; waking = 0
 *
 * Why no wakeup is lost
 * ---------------------
 * Both sides write, then read what the other wrote, each in seq_cst order
 * (Dekker): the worker writes sleepers and reads the queues, the submitter
 * writes a queue and reads sleepers. In the single total order of those
 * seq_cst accesses either the worker's re-check comes after the publication,
 * and finds the job, or the submitter's read of sleepers comes after the
 * increment, and it wakes: epoch changes after the worker read its key, so
 * its futex_wait returns at once or is woken. The submitter needs no fence:
 * its publication and its loads are themselves seq_cst. A searcher that
 * stops does the same handshake with searching: it decrements it, fences,
 * and then reads the queues; a submitter that saw it searching published
 * first.
 *
 * A sleeping worker costs nothing: no timer, no polling.
 */
#include "worker.h"

#include "futex.h"
#include "spin.h"

/* Rounds of look-then-pause an idle worker spends searching before it
 * sleeps: a few microseconds. */
#define SEARCH_ROUNDS 64
#define SEARCH_PAUSES 16

/* Some job is waiting somewhere, published or only claimed (a snapshot). */
static int work_visible(rail_pool *pool)
{
    for (unsigned l = 0; l < RAIL_PRIORITIES; l++)
        if (rail__ring_length(&pool->levels[l].injector) != 0 ||
            rail__overflow_length(&pool->levels[l].overflow) != 0)
            return 1;
    for (unsigned i = 0; i < pool->threads; i++)
        if (rail__deque_length(&pool->workers[i].deque) > 0)
            return 1;
    return 0;
}

/* A worker sleeps and none searches: a new job needs a wake. */
static int wake_wanted(struct sleep *s)
{
    return atomic_load_explicit(&s->sleepers, memory_order_seq_cst) != 0 &&
           atomic_load_explicit(&s->searching, memory_order_seq_cst) == 0;
}

/* Wakes one sleeper unless a wake is on its way (see the top). The flag is
 * read before it is exchanged: while a wake takes its tens of microseconds
 * to arrive, every submission finds it set, and a load of a set flag tells
 * as much as an exchange that leaves it set, without the locked RMW on a
 * line the workers write (a busy producer spent 8% of its time there).
 * The caller must not be counted in sleepers: when the wake finds nobody
 * the loop looks again while a sleeper is counted, and a worker counted
 * there itself would only find itself, again and again (the re-check's
 * find_work() therefore wakes nobody: worker.c's spread()). */
void rail__sleep_wake_one(rail_pool *pool)
{
    struct sleep *s = &pool->sleep;
    while (atomic_load_explicit(&s->waking, memory_order_seq_cst) == 0 &&
           atomic_exchange_explicit(&s->waking, 1, memory_order_seq_cst) == 0) {
        atomic_fetch_add_explicit(&s->epoch, 1, memory_order_seq_cst);
        if (rail__futex_wake(&s->epoch, 1) != 0)
            return; /* the woken worker clears the flag */
        atomic_store_explicit(&s->waking, 0, memory_order_seq_cst);
        if (!wake_wanted(s) || !work_visible(pool))
            return;
    }
}

void rail__sleep_notify(rail_pool *pool)
{
    if (wake_wanted(&pool->sleep))
        rail__sleep_wake_one(pool);
}

void rail__sleep_stop(rail_pool *pool)
{
    atomic_store_explicit(&pool->sleep.stop, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&pool->sleep.epoch, 1, memory_order_seq_cst);
    rail__futex_wake(&pool->sleep.epoch, FUTEX_WAKE_ALL);
}

/* The searcher found a job. If it was the last searcher and more work
 * waits, a sleeper searches in its place; a futex wake costs the found job
 * tens of microseconds, so only then. A submitter that saw this worker
 * searching, and so woke nobody, published its job before this decrement;
 * the fence after it makes work_visible() see that job. */
static void stop_searching(rail_pool *pool)
{
    struct sleep *s = &pool->sleep;
    if (atomic_fetch_sub_explicit(&s->searching, 1, memory_order_seq_cst) != 1)
        return;
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&s->sleepers, memory_order_relaxed) != 0 && work_visible(pool))
        rail__sleep_wake_one(pool);
}

/* Step 1: 1 with a job found while searching, 0 if nothing was found or
 * another worker was already searching. */
static int search(struct worker *w, struct job *job)
{
    struct sleep *s = &w->pool->sleep;
    if (atomic_fetch_add_explicit(&s->searching, 1, memory_order_seq_cst) == 0) {
        for (int round = 0; round < SEARCH_ROUNDS; round++) {
            if (rail__worker_find_work(w, job)) {
                stop_searching(w->pool);
                return 1;
            }
            for (int i = 0; i < SEARCH_PAUSES; i++)
                cpu_relax();
        }
    }
    atomic_fetch_sub_explicit(&s->searching, 1, memory_order_seq_cst);
    return 0;
}

int rail__sleep_idle(struct worker *w, struct job *job)
{
    rail_pool *pool = w->pool;
    struct sleep *s = &pool->sleep;
    for (;;) {
        if (search(w, job))
            return 1;

        unsigned key = atomic_load_explicit(&s->epoch, memory_order_acquire);
        atomic_fetch_add_explicit(&s->sleepers, 1, memory_order_seq_cst);
        atomic_thread_fence(memory_order_seq_cst);
        if (rail__worker_find_work(w, job)) {
            atomic_fetch_sub_explicit(&s->sleepers, 1, memory_order_relaxed);
            /* As a searcher that finds a job does (stop_searching()): if
             * more work waits for a sleeper and nobody searches, wake one
             * (only now, out of the sleepers: see rail__sleep_wake_one();
             * this covers a batch the look left on the deque too).
             * Without it a burst could be left to sleepers: a searcher that
             * saw this worker's passing searching count did not think
             * itself the last, and woke nobody (test_pool hung so). */
            if (wake_wanted(s) && work_visible(pool))
                rail__sleep_wake_one(pool);
            return 1;
        }
        if (work_visible(pool)) { /* claimed, not yet published: look again */
            atomic_fetch_sub_explicit(&s->sleepers, 1, memory_order_relaxed);
            continue;
        }
        rail__pool_notify_idle(pool);
        if (atomic_load_explicit(&s->stop, memory_order_acquire)) {
            atomic_fetch_sub_explicit(&s->sleepers, 1, memory_order_relaxed);
            return 0;
        }
        rail__futex_wait(&s->epoch, key, NULL);
        atomic_fetch_sub_explicit(&s->sleepers, 1, memory_order_relaxed);
        /* Awake (woken or not): the next submitter may wake someone again.
         * Submitters that saw the flag set published before it is cleared,
         * and this worker looks for their jobs before it sleeps again. */
        atomic_store_explicit(&s->waking, 0, memory_order_seq_cst);
    }
}
