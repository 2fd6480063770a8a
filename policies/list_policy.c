#include "policies/list_policy.h"

#include <stdlib.h>

void *list_policy_create(const policy_env *env, const char *name, const char *options,
                         size_t size, promoe_err *err)
{
    if (policy_no_options(name, options, err) < 0)
        return NULL;
    list_policy *p = calloc(1, size);
    if (!p || key_list_init(&p->order, env->num_keys) < 0) {
        free(p);
        promoe_err_set(err, "out of memory");
        return NULL;
    }
    p->env = env;
    return p;
}

void list_policy_destroy(void *st)
{
    list_policy *p = st;
    key_list_free(&p->order);
    free(p);
}

void list_policy_ignore(void *st, int key) { (void)st; (void)key; }
void list_policy_push_back(void *st, int key) { key_list_push_back(&((list_policy *)st)->order, key); }
void list_policy_move_to_back(void *st, int key) { key_list_move_to_back(&((list_policy *)st)->order, key); }
void list_policy_remove(void *st, int key) { key_list_remove(&((list_policy *)st)->order, key); }

int list_policy_first_unpinned(void *st)
{
    list_policy *p = st;
    return key_list_first_unpinned(&p->order, p->env->pinned);
}
