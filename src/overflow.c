/*
 * overflow.c - the unbounded spill queue, lock-free.
 *
 * Positions are numbered from 0 and live in segments of SEG_SLOTS slots; a
 * segment covers one "lap" of LAP = SEG_SLOTS + 1 positions, and the lap's
 * last position is not a slot but a marker: while an end's index points at
 * it, the thread that took the segment's last slot is switching that end to
 * the next segment, and everyone else waits for it.
 *
 * Push: claim the position at tail.index with a CAS (rail__overflow_claim()),
 * write the job into its slot, then set the slot's WRITTEN bit
 * (rail__overflow_publish()). The pusher who claims a segment's
 * last slot links a fresh segment (allocated before the claim, so a failed
 * allocation leaves nothing claimed), moves tail to it, and only then
 * fills its own slot.
 *
 * Pop: claim the position at head.index with a CAS, unless head has caught
 * up with tail (the queue is empty); then wait for the slot's WRITTEN bit
 * (its pusher may be between its claim and its write) and copy the job out.
 * The popper of a segment's last slot moves head to the next segment. A
 * batch pop claims a run of positions with one CAS, within head's segment
 * and up to tail.
 *
 * The emptiness check reads tail after a seq_cst fence. Once head and tail
 * are in different segments the queue cannot be empty before head leaves its
 * segment, so head.index carries a HAS_NEXT bit (its lowest, below the
 * position) that lets pops skip that check.
 *
 * Freeing: a segment is done with when all its slots are read, and its
 * readers finish in any order. The reader of the last slot starts freeing
 * it: it walks the other slots, and at the first one not yet READ it sets
 * DESTROY and stops; that slot's reader, seeing DESTROY when it sets READ,
 * goes on from the next slot. Whoever reaches the end frees the segment
 * (or keeps it in q->reuse for the next segment_new()).
 * No thread holds a pointer to a segment after its slot is read: head has
 * moved past it before its last slot's reader begins, and pushers finished
 * with it before their slots could be read.
 */
#include "overflow.h"

#include "spin.h"

#include <errno.h>
#include <stdlib.h>

#define LAP       512
#define SEG_SLOTS (LAP - 1)
#define SHIFT     1  /* index = position << SHIFT | flags */
#define HAS_NEXT  1u /* head only: the queue goes on past head's segment */

enum { WRITTEN = 1, READ = 2, DESTROY = 4 };

struct overflow_slot {
    atomic_uint state;
    struct job job;
};

struct overflow_segment {
    struct overflow_segment *_Atomic next;
    struct overflow_slot slots[SEG_SLOTS];
};

/* A fresh segment: the one last freed if it was kept (its lines are likely
 * still cached, and it costs no malloc), else a new one from calloc: all
 * zero is an empty segment (no slot written, no next), and memory fresh
 * from the system needs no clearing (a burst's segments mostly are). */
static struct overflow_segment *segment_new(struct overflow *q)
{
    struct overflow_segment *s = atomic_exchange_explicit(&q->reuse, NULL, memory_order_acquire);
    if (s == NULL)
        return calloc(1, sizeof *s);
    atomic_init(&s->next, NULL);
    for (unsigned i = 0; i < SEG_SLOTS; i++)
        atomic_init(&s->slots[i].state, 0);
    return s;
}

static struct overflow_segment *wait_next(struct overflow_segment *s)
{
    unsigned step = 0;
    struct overflow_segment *next;
    while ((next = atomic_load_explicit(&s->next, memory_order_acquire)) == NULL)
        backoff(&step);
    return next;
}

/* Keeps a segment no thread uses any more for the next segment_new(), or
 * frees it if one is kept already. */
static void segment_free(struct overflow *q, struct overflow_segment *s)
{
    struct overflow_segment *none = NULL;
    if (!atomic_compare_exchange_strong_explicit(&q->reuse, &none, s, memory_order_release,
                                                 memory_order_relaxed))
        free(s);
}

/* Frees s once every slot from `from` on is read (see the top). */
static void segment_release(struct overflow *q, struct overflow_segment *s, unsigned from)
{
    for (unsigned i = from; i < SEG_SLOTS - 1; i++) {
        atomic_uint *state = &s->slots[i].state;
        if ((atomic_load_explicit(state, memory_order_acquire) & READ) == 0 &&
            (atomic_fetch_or_explicit(state, DESTROY, memory_order_acq_rel) & READ) == 0)
            return; /* its reader goes on from here */
    }
    segment_free(q, s);
}

static size_t offset_of(size_t index)
{
    return (index >> SHIFT) % LAP;
}

/* The first push makes the first segment; 0, or ENOMEM. */
static int install_first(struct overflow *q, struct overflow_segment **spare)
{
    struct overflow_segment *first = *spare != NULL ? *spare : segment_new(q);
    *spare = NULL;
    if (first == NULL)
        return ENOMEM;
    struct overflow_segment *none = NULL;
    if (atomic_compare_exchange_strong_explicit(&q->tail.segment, &none, first,
                                                memory_order_release, memory_order_relaxed))
        atomic_store_explicit(&q->head.segment, first, memory_order_release);
    else
        *spare = first; /* another pusher's won */
    return 0;
}

struct overflow_slot *rail__overflow_claim(struct overflow *q)
{
    struct overflow_segment *spare = NULL;
    unsigned step = 0;
    size_t tail = atomic_load_explicit(&q->tail.index, memory_order_acquire);
    struct overflow_segment *seg = atomic_load_explicit(&q->tail.segment, memory_order_acquire);
    for (;;) {
        size_t offset = offset_of(tail);
        int reload = offset == SEG_SLOTS; /* another pusher is linking the next segment */
        if (!reload && offset + 1 == SEG_SLOTS && spare == NULL && (spare = segment_new(q)) == NULL)
            return NULL;
        if (!reload && seg == NULL) {
            if (install_first(q, &spare) != 0)
                return NULL;
            reload = 1;
        }
        if (reload) {
            backoff(&step);
            tail = atomic_load_explicit(&q->tail.index, memory_order_acquire);
            seg = atomic_load_explicit(&q->tail.segment, memory_order_acquire);
            continue;
        }
        size_t next = tail + (1u << SHIFT);
        if (atomic_compare_exchange_weak_explicit(&q->tail.index, &tail, next, memory_order_seq_cst,
                                                  memory_order_acquire)) {
            if (offset + 1 == SEG_SLOTS) { /* the last slot: tail moves on, past the marker */
                atomic_store_explicit(&q->tail.segment, spare, memory_order_release);
                atomic_store_explicit(&q->tail.index, next + (1u << SHIFT), memory_order_release);
                atomic_store_explicit(&seg->next, spare, memory_order_release);
                spare = NULL;
            }
            if (spare != NULL) /* made for a last slot another pusher took */
                segment_free(q, spare);
            return &seg->slots[offset];
        }
        seg = atomic_load_explicit(&q->tail.segment, memory_order_acquire);
        backoff(&step);
    }
}

void rail__overflow_publish(struct overflow_slot *slot, const struct job *job)
{
    slot->job = *job;
    atomic_fetch_or_explicit(&slot->state, WRITTEN, memory_order_release);
}

int rail__overflow_push(struct overflow *q, const struct job *job)
{
    struct overflow_slot *slot = rail__overflow_claim(q);
    if (slot == NULL)
        return ENOMEM;
    rail__overflow_publish(slot, job);
    return 0;
}

/* Moves head past the marker into the segment after seg; called by the
 * popper of seg's last slot, whose claim put head on the marker. */
static void head_to_next(struct overflow *q, struct overflow_segment *seg, size_t head)
{
    struct overflow_segment *next = wait_next(seg);
    size_t index = (head & ~(size_t)HAS_NEXT) + (1u << SHIFT);
    if (atomic_load_explicit(&next->next, memory_order_relaxed) != NULL)
        index |= HAS_NEXT;
    atomic_store_explicit(&q->head.segment, next, memory_order_release);
    atomic_store_explicit(&q->head.index, index, memory_order_release);
}

/* Copies out the job of a claimed slot and marks it read; the reader of
 * the segment's last slot, or the one told to by DESTROY, frees it. */
static void take_slot(struct overflow *q, struct overflow_segment *seg, size_t offset,
                      struct job *job)
{
    struct overflow_slot *slot = &seg->slots[offset];
    unsigned wait = 0;
    while ((atomic_load_explicit(&slot->state, memory_order_acquire) & WRITTEN) == 0)
        backoff(&wait); /* claimed by its pusher, not yet written */
    *job = slot->job;
    if (offset + 1 == SEG_SLOTS)
        segment_release(q, seg, 0);
    else if (atomic_fetch_or_explicit(&slot->state, READ, memory_order_acq_rel) & DESTROY)
        segment_release(q, seg, (unsigned)offset + 1);
}

size_t rail__overflow_pop_batch(struct overflow *q, struct job *jobs, size_t max)
{
    unsigned step = 0;
    size_t head = atomic_load_explicit(&q->head.index, memory_order_acquire);
    struct overflow_segment *seg = atomic_load_explicit(&q->head.segment, memory_order_acquire);
    for (;;) {
        size_t offset = offset_of(head);
        size_t n = SEG_SLOTS - offset;    /* a batch stays in head's segment */
        int reload = offset == SEG_SLOTS; /* a popper is moving head to the next segment */
        size_t flags = head & HAS_NEXT;
        if (!reload && flags == 0) {
            atomic_thread_fence(memory_order_seq_cst);
            size_t tail = atomic_load_explicit(&q->tail.index, memory_order_relaxed);
            if (head >> SHIFT == tail >> SHIFT)
                return 0;
            if ((head >> SHIFT) / LAP != (tail >> SHIFT) / LAP)
                flags = HAS_NEXT;
            else /* tail in this lap: only the positions up to it are claimed */
                n = (tail >> SHIFT) - (head >> SHIFT);
        }
        if (reload || seg == NULL) { /* seg: the first push has not installed it yet */
            backoff(&step);
            head = atomic_load_explicit(&q->head.index, memory_order_acquire);
            seg = atomic_load_explicit(&q->head.segment, memory_order_acquire);
            continue;
        }
        if (n > max)
            n = max;
        size_t next = ((head & ~(size_t)HAS_NEXT) + (n << SHIFT)) | flags;
        if (atomic_compare_exchange_weak_explicit(&q->head.index, &head, next, memory_order_seq_cst,
                                                  memory_order_acquire)) {
            if (offset + n == SEG_SLOTS) /* took the last slot: head moves on */
                head_to_next(q, seg, next);
            /* In order: the last slot's reader frees the segment, so it
             * must come after this batch's other slots are read. */
            for (size_t i = 0; i < n; i++)
                take_slot(q, seg, offset + i, &jobs[i]);
            return n;
        }
        seg = atomic_load_explicit(&q->head.segment, memory_order_acquire);
        backoff(&step);
    }
}

int rail__overflow_pop(struct overflow *q, struct job *job)
{
    return rail__overflow_pop_batch(q, job, 1) != 0;
}

/* Position p has p / LAP markers before it; the rest are slots. */
static size_t slots_before(size_t index)
{
    size_t pos = index >> SHIFT;
    return pos - pos / LAP;
}

size_t rail__overflow_claimed(struct overflow *q)
{
    return slots_before(atomic_load_explicit(&q->tail.index, memory_order_seq_cst));
}

size_t rail__overflow_length(struct overflow *q)
{
    size_t head = slots_before(atomic_load_explicit(&q->head.index, memory_order_seq_cst));
    size_t tail = slots_before(atomic_load_explicit(&q->tail.index, memory_order_seq_cst));
    return tail > head ? tail - head : 0;
}

void rail__overflow_destroy(struct overflow *q)
{
    struct overflow_segment *s = atomic_load_explicit(&q->head.segment, memory_order_relaxed);
    while (s != NULL) {
        struct overflow_segment *next = atomic_load_explicit(&s->next, memory_order_relaxed);
        free(s);
        s = next;
    }
    free(atomic_exchange_explicit(&q->reuse, NULL, memory_order_relaxed));
    atomic_store_explicit(&q->head.segment, NULL, memory_order_relaxed);
    atomic_store_explicit(&q->tail.segment, NULL, memory_order_relaxed);
}
