/*
 * list.h - intrusive circular doubly linked lists.  An unlinked node
 * points at itself, so list_linked() tells membership in O(1).
 */
#ifndef CTSYNC_LIST_H
#define CTSYNC_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
	struct list *next, *prev;
};

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void list_init(struct list *l)
{
	l->next = l->prev = l;
}

static inline bool list_empty(const struct list *l)
{
	return l->next == l;
}

static inline bool list_linked(const struct list *n)
{
	return n->next != n;
}

static inline void list_insert_(struct list *n, struct list *prev, struct list *next)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

static inline void list_add_tail(struct list *head, struct list *n)
{
	list_insert_(n, head->prev, head);
}

static inline void list_add_head(struct list *head, struct list *n)
{
	list_insert_(n, head, head->next);
}

/* Insert n right after pos. */
static inline void list_add_after(struct list *pos, struct list *n)
{
	list_insert_(n, pos, pos->next);
}

static inline void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

#endif
