/*
 * deque.c - the Chase-Lev deque with the C11 memory orderings of Lê, Pop,
 * Cohen and Zappa Nardelli, "Correct and Efficient Work-Stealing for Weak
 * Memory Models" (PPoPP 2013). Indices are signed: pop decrements bottom
 * before it knows whether the deque is empty.
 */
#include "deque.h"

#include <errno.h>
#include <stdlib.h>

#define INITIAL_SIZE 256

static struct deque_buf *buf_new(int64_t size)
{
    struct deque_buf *b = malloc(sizeof *b + (size_t)size * sizeof b->slots[0]);
    if (b != NULL) {
        b->size = size;
        b->retired = NULL;
    }
    return b;
}

static void slot_write(struct deque_buf *b, int64_t i, const struct job *job)
{
    struct deque_slot *s = &b->slots[i & (b->size - 1)];
    atomic_store_explicit(&s->fn, job->fn, memory_order_relaxed);
    atomic_store_explicit(&s->arg, job->arg, memory_order_relaxed);
    atomic_store_explicit(&s->owner, job->owner, memory_order_relaxed);
    atomic_store_explicit(&s->kind, job->kind, memory_order_relaxed);
}

static void slot_read(struct deque_buf *b, int64_t i, struct job *job)
{
    struct deque_slot *s = &b->slots[i & (b->size - 1)];
    job->fn = atomic_load_explicit(&s->fn, memory_order_relaxed);
    job->arg = atomic_load_explicit(&s->arg, memory_order_relaxed);
    job->owner = atomic_load_explicit(&s->owner, memory_order_relaxed);
    job->kind = (unsigned char)atomic_load_explicit(&s->kind, memory_order_relaxed);
    job->level = 0; /* only outside jobs have a level */
}

int rail__deque_init(struct deque *d)
{
    struct deque_buf *b = buf_new(INITIAL_SIZE);
    if (b == NULL)
        return ENOMEM;
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    atomic_init(&d->buf, b);
    return 0;
}

void rail__deque_destroy(struct deque *d)
{
    struct deque_buf *b = atomic_load_explicit(&d->buf, memory_order_relaxed);
    while (b != NULL) {
        struct deque_buf *older = b->retired;
        free(b);
        b = older;
    }
}

/* Doubles the buffer. The old one stays readable (a thief may be inside it)
 * until the deque is destroyed. */
static struct deque_buf *grow(struct deque *d, struct deque_buf *old, int64_t top, int64_t bottom)
{
    struct deque_buf *b = buf_new(old->size * 2);
    if (b == NULL)
        return NULL;
    for (int64_t i = top; i < bottom; i++) {
        struct job job;
        slot_read(old, i, &job);
        slot_write(b, i, &job);
    }
    b->retired = old;
    atomic_store_explicit(&d->buf, b, memory_order_release);
    return b;
}

int rail__deque_push(struct deque *d, const struct job *job)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    struct deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    if (b - t > a->size - 1) {
        a = grow(d, a, t, b);
        if (a == NULL)
            return ENOMEM;
    }
    slot_write(a, b, job);
    /* The paper has a release fence and a relaxed store. seq_cst is stronger
     * and does double duty: it is the publication the sleep protocol orders
     * against, so rail__sleep_notify() needs no fence (sleep.c), and a
     * sanitizer sees the edge. */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_seq_cst);
    return 0;
}

int rail__deque_pop(struct deque *d, struct job *job)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    struct deque_buf *a = atomic_load_explicit(&d->buf, memory_order_relaxed);
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    if (t > b) { /* empty */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        return 0;
    }
    slot_read(a, b, job);
    if (t == b) { /* the last job: race the thieves for it */
        int won = atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                          memory_order_relaxed);
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        return won;
    }
    return 1;
}

int rail__deque_steal(struct deque *d, struct job *job)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    atomic_thread_fence(memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    if (t >= b)
        return 0;
    /* Acquire, not consume: pairs with the release store in grow(). */
    struct deque_buf *a = atomic_load_explicit(&d->buf, memory_order_acquire);
    slot_read(a, t, job);
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return -1;
    return 1;
}

int64_t rail__deque_length(struct deque *d)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
    return b > t ? b - t : 0;
}
