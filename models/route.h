/* route.h - how a router's logits choose experts: the rule every family
 * here follows (Mixtral, Qwen-MoE, OLMoE, DeepSeek): a softmax over the
 * logits, the k most probable experts, and their probabilities as gate
 * weights, renormalised over the k when the model says so
 * (norm_topk_prob).  The executor routes with it, and the router-logits
 * importer derives a trace's experts and weights with it. */
#ifndef PROMOE_MODELS_ROUTE_H
#define PROMOE_MODELS_ROUTE_H

/* Softmax of E logits, the top k (descending; ties to the lower id) into
 * experts, and their weights (renormalised over the k when normalize);
 * prob and pick are scratch of E entries each. */
void model_route(const float *logits, int E, int k, int normalize, double *prob, int *pick,
                 int *experts, float *weights);

#endif
