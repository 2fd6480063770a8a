# The paper's Fig. 8: accuracy per layer of token-based prediction
# (prev-token), skip-based (gate-reuse: the next gate on the current hidden
# state) and learned (ProMoE's MLP) on Qwen2-57B-A14B (synthetic traces with
# hidden states here).  Solid: the stride the paper uses for each (1 for
# token- and skip-based, 2 for learned); dashed: the other.  The paper's
# averages are marked on the right.
preds = 'prev-token gate-reuse learned:train={train}'
names = "'token-based (prev-token)' 'skip-based (gate-reuse)' 'learned'"
own_stride(i) = i == 3 ? 2 : 1
paper = '0.583 0.669 0.847'
set xlabel 'target layer'
set ylabel 'precision@k = recall@k'
set yrange [0:1]
set xrange [0:32]
set xtics 0, 5, 27
set key bottom left
set title 'Qwen2-57B-A14B (synthetic): per-layer accuracy of the three predictors (95% CI over seeds)' noenhanced
do for [i = 1:3] {
    set arrow i from first 28.5, first word(paper, i) + 0 to first 32, first word(paper, i) + 0 nohead lw 3 lc rgb color(word(preds, i)) front
    set label i sprintf('paper %.1f%%', 100 * word(paper, i)) at first 28.5, first word(paper, i) + 0.025 tc rgb color(word(preds, i)) front
}
plot for [i = 1:3] sum('predictor-layers', sprintf('--metric precision --by layer --where predictor=%s --where stride=%d', word(preds, i), own_stride(i))) \
        using 1:3:4:5 with yerrorlines lw 1.5 pt 7 ps 0.5 lc rgb color(word(preds, i)) title sprintf('%s, stride %d', word(names, i), own_stride(i)), \
     for [i = 1:3] sum('predictor-layers', sprintf('--metric precision --by layer --where predictor=%s --where stride=%d', word(preds, i), 3 - own_stride(i))) \
        using 1:3 with lines lw 1 dt 2 lc rgb color(word(preds, i)) title sprintf('%s, stride %d', word(names, i), 3 - own_stride(i))
