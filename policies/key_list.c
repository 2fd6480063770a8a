#include "policies/key_list.h"

#include <stdlib.h>

int key_list_init(key_list *l, int num_keys)
{
    l->n = num_keys;
    l->prev = malloc((size_t)(num_keys + 1) * sizeof *l->prev);
    l->next = malloc((size_t)(num_keys + 1) * sizeof *l->next);
    l->in = calloc((size_t)num_keys + 1, 1);
    if (!l->prev || !l->next || !l->in) {
        key_list_free(l);
        return -1;
    }
    l->prev[num_keys] = l->next[num_keys] = num_keys;
    return 0;
}

void key_list_free(key_list *l)
{
    free(l->prev);
    free(l->next);
    free(l->in);
    l->prev = l->next = NULL;
    l->in = NULL;
}

void key_list_push_back(key_list *l, int key)
{
    int s = l->n, last = l->prev[s];
    l->next[last] = key;
    l->prev[key] = last;
    l->next[key] = s;
    l->prev[s] = key;
    l->in[key] = 1;
}

void key_list_remove(key_list *l, int key)
{
    if (!l->in[key])
        return;
    l->next[l->prev[key]] = l->next[key];
    l->prev[l->next[key]] = l->prev[key];
    l->in[key] = 0;
}

void key_list_move_to_back(key_list *l, int key)
{
    key_list_remove(l, key);
    key_list_push_back(l, key);
}

int key_list_first(const key_list *l)
{
    int k = l->next[l->n];
    return k == l->n ? -1 : k;
}

int key_list_after(const key_list *l, int key)
{
    int k = l->next[key];
    return k == l->n ? -1 : k;
}

int key_list_first_unpinned(const key_list *l, const uint8_t *pinned)
{
    for (int k = key_list_first(l); k >= 0; k = key_list_after(l, k))
        if (!pinned[k])
            return k;
    return -1;
}
