#include "models/route.h"

#include <math.h>

#include "common/topk.h"

void model_route(const float *logits, int E, int k, int normalize, double *prob, int *pick,
                 int *experts, float *weights)
{
    double mx = logits[0], sum = 0, chosen = 0;
    for (int e = 1; e < E; e++)
        mx = logits[e] > mx ? logits[e] : mx;
    for (int e = 0; e < E; e++)
        sum += prob[e] = exp(logits[e] - mx);
    topk_select(prob, E, k, pick);
    for (int j = 0; j < k; j++)
        chosen += prob[pick[j]];
    for (int j = 0; j < k; j++) {
        experts[j] = pick[j];
        weights[j] = (float)(prob[pick[j]] / (normalize ? chosen : sum));
    }
}
