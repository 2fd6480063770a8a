/* list_policy.h - the shared base of policies that keep their resident
 * experts in a list (lru, fifo, lfu, belady): creation with option
 * checking, the pinned-aware scan, and the list operations, so each policy
 * file holds only what makes it different.  Private to policies/. */
#ifndef PROMOE_POLICIES_LIST_POLICY_H
#define PROMOE_POLICIES_LIST_POLICY_H

#include <stddef.h>

#include "policies/key_list.h"
#include "policies/policy.h"

typedef struct list_policy {
    key_list order;          /* front = the end the policy evicts from first */
    const policy_env *env;
} list_policy;

/* Allocates `size` bytes (a struct that begins with list_policy), zeroed,
 * after refusing options (these policies take none). */
void *list_policy_create(const policy_env *env, const char *name, const char *options,
                         size_t size, promoe_err *err);
void list_policy_destroy(void *st);

/* Ready-made operations for the ops table. */
void list_policy_ignore(void *st, int key);       /* no change of order */
void list_policy_push_back(void *st, int key);
void list_policy_move_to_back(void *st, int key);
void list_policy_remove(void *st, int key);
int list_policy_first_unpinned(void *st);

#endif
