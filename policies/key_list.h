/* key_list.h - an ordered set of keys in O(1) per operation (an intrusive
 * doubly linked list over arrays), the shared base of the list-ordered
 * policies.  Private to policies/. */
#ifndef PROMOE_POLICIES_KEY_LIST_H
#define PROMOE_POLICIES_KEY_LIST_H

#include <stdint.h>

typedef struct key_list {
    int n;          /* key space; index n is the sentinel */
    int *prev, *next;
    uint8_t *in;    /* membership */
} key_list;

int key_list_init(key_list *l, int num_keys);
void key_list_free(key_list *l);
void key_list_push_back(key_list *l, int key);
void key_list_remove(key_list *l, int key);
void key_list_move_to_back(key_list *l, int key);
/* Iteration from the front (oldest): first, then next until -1. */
int key_list_first(const key_list *l);
int key_list_after(const key_list *l, int key);
/* The first key from the front that is not pinned, or -1. */
int key_list_first_unpinned(const key_list *l, const uint8_t *pinned);

#endif
