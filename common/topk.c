#include "common/topk.h"

void topk_select(const double *score, int n, int k, int *out)
{
    int have = 0;
    for (int i = 0; i < n; i++) {
        int j;
        if (have < k) {
            j = have++;
        } else {
            if (score[i] <= score[out[k - 1]])
                continue;
            j = k - 1;
        }
        while (j > 0 && score[out[j - 1]] < score[i]) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = i;
    }
}
