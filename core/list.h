/* list.h - the one intrusive list of the core, and the FIFO of tasks.
 *
 * A struct csp__link is embedded in the element; a struct csp__list holds
 * the first and last links. Both ends are NULL-terminated rather than
 * circular, so a zeroed list is empty and a zeroed link is unlinked:
 * structs from calloc need no init call. CSP__CONTAINER gets the element
 * back from its link. Nothing here locks: each list's owner says which
 * lock guards it (see libuv's queue.h and Linux's list.h for the idea).
 *
 * csp__taskq is the singly linked FIFO of csp_task (its next field) that
 * executors and run queues share: append one, append a chain, pop one,
 * take all.
 */
#ifndef CSP_LIST_H
#define CSP_LIST_H

#include <stddef.h>

#include "csp.h"

#define CSP__CONTAINER(ptr, type, member)                                    \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct csp__link {
    struct csp__link *prev, *next;
};

struct csp__list {
    struct csp__link *head, *tail;
};

static inline int csp__list_empty(const struct csp__list *l)
{
    return l->head == NULL;
}

/* Add N at the end of L. */
static inline void csp__list_append(struct csp__list *l, struct csp__link *n)
{
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

/* Add N at the front of L. */
static inline void csp__list_push(struct csp__list *l, struct csp__link *n)
{
    n->prev = NULL;
    n->next = l->head;
    if (l->head)
        l->head->prev = n;
    else
        l->tail = n;
    l->head = n;
}

/* Take N (which is on L) out of L. */
static inline void csp__list_remove(struct csp__list *l, struct csp__link *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

/* A FIFO of tasks linked through csp_task.next. */
struct csp__taskq {
    csp_task *head, *tail;
};

/* Append the chain FIRST..LAST (LAST->next is overwritten). */
static inline void csp__taskq_append_chain(struct csp__taskq *q,
                                           csp_task *first, csp_task *last)
{
    last->next = NULL;
    if (q->tail)
        q->tail->next = first;
    else
        q->head = first;
    q->tail = last;
}

/* Put the chain FIRST..LAST back in front of Q (LAST->next is
 * overwritten). */
static inline void csp__taskq_prepend_chain(struct csp__taskq *q,
                                            csp_task *first, csp_task *last)
{
    last->next = q->head;
    q->head = first;
    if (!q->tail)
        q->tail = last;
}

static inline void csp__taskq_append(struct csp__taskq *q, csp_task *t)
{
    csp__taskq_append_chain(q, t, t);
}

/* The first task, unlinked, or NULL. */
static inline csp_task *csp__taskq_pop(struct csp__taskq *q)
{
    csp_task *t = q->head;

    if (t) {
        q->head = t->next;
        if (!q->head)
            q->tail = NULL;
        t->next = NULL;
    }
    return t;
}

/* Every task, as a NULL-terminated chain; Q is left empty. */
static inline csp_task *csp__taskq_take_all(struct csp__taskq *q)
{
    csp_task *t = q->head;

    q->head = q->tail = NULL;
    return t;
}

#endif /* CSP_LIST_H */
