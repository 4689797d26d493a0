/*
 * queue.h - an intrusive, circular, doubly linked list.
 *
 * The node lives inside the item, so queueing allocates nothing, and an item
 * can be unlinked from the middle in O(1) (rail_future_cancel, rail_join
 * taking back its second job). Not thread-safe: callers hold the lock that
 * guards the list.
 */
#ifndef RAIL_QUEUE_H
#define RAIL_QUEUE_H

#include <stddef.h>

struct queue_node {
    struct queue_node *next, *prev;
};

/* The item that contains node; type and member name the node's place in it. */
#define queue_item(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

static inline void queue_init(struct queue_node *head)
{
    head->next = head->prev = head;
}

static inline int queue_empty(const struct queue_node *head)
{
    return head->next == head;
}

static inline void queue_push_tail(struct queue_node *head, struct queue_node *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

/* A removed node points at itself, so queue_linked() can tell it apart. */
static inline void queue_remove(struct queue_node *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->next = node->prev = node;
}

static inline int queue_linked(const struct queue_node *node)
{
    return node->next != node;
}

/* Removes and returns the first node, or NULL when empty. */
static inline struct queue_node *queue_pop_head(struct queue_node *head)
{
    struct queue_node *node = head->next;
    if (node == head)
        return NULL;
    queue_remove(node);
    return node;
}

/* Moves every node of from to the end of to, leaving from empty. */
static inline void queue_move_all(struct queue_node *from, struct queue_node *to)
{
    if (queue_empty(from))
        return;
    from->next->prev = to->prev;
    from->prev->next = to;
    to->prev->next = from->next;
    to->prev = from->prev;
    queue_init(from);
}

#endif /* RAIL_QUEUE_H */
