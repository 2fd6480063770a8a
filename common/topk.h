/* topk.h - the k highest of n scores, as a router or a predictor picks them. */
#ifndef PROMOE_COMMON_TOPK_H
#define PROMOE_COMMON_TOPK_H

/* Writes the indices of the k largest scores to out[0..k), highest first;
 * ties go to the lower index.  Requires 1 <= k <= n.  O(n k): k is small. */
void topk_select(const double *score, int n, int k, int *out);

#endif
