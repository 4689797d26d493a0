/*
 * deque.c - the Chase-Lev deque with the C11 memory orderings of Lê, Pop,
 * Cohen and Zappa Nardelli, "Correct and Efficient Work-Stealing for Weak
 * Memory Models" (PPoPP 2013). The owner's push and pop are inline in
 * deque.h (every rail_join does both); the rest is here.
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

/* Doubles the buffer; push's slow path. The old one stays readable (a thief
 * may be inside it) until the deque is destroyed. */
struct deque_buf *rail__deque_grow(struct deque *d, struct deque_buf *old, int64_t top,
                                   int64_t bottom)
{
    struct deque_buf *b = buf_new(old->size * 2);
    if (b == NULL)
        return NULL;
    for (int64_t i = top; i < bottom; i++) {
        struct job job;
        deque_slot_read(old, i, &job);
        deque_slot_write(b, i, &job);
    }
    b->retired = old;
    atomic_store_explicit(&d->buf, b, memory_order_release);
    return b;
}

int rail__deque_steal(struct deque *d, struct job *job)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    atomic_thread_fence(memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    if (t >= b)
        return 0;
    /* Acquire, not consume: pairs with the release store in rail__deque_grow(). */
    struct deque_buf *a = atomic_load_explicit(&d->buf, memory_order_acquire);
    deque_slot_read(a, t, job);
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
