# predictor-accuracy: predictor precision against stride, on synthetic traces with
# hidden states (left) and on the real OLMoE trace for id-only predictors
# (right).  k experts are predicted per layer, k the top-k, so recall@k
# equals precision@k.
synthetic = 'prev-token popularity cross-layer eam gate-reuse learned:train={train}'
real = 'prev-token popularity cross-layer eam'
set multiplot layout 1, 2
set xlabel 'stride (layers ahead)'
set ylabel 'precision@k = recall@k'
set xrange [0.8:4.2]
set xtics 1
set yrange [0:1]
set key bottom left
set title 'synthetic DeepSeek-MoE-16B (95% CI over seeds)' noenhanced
plot for [i = 1:words(synthetic)] sum('predictor-accuracy', sprintf('--metric precision --by stride --where predictor=%s', word(synthetic, i))) \
    using 1:3:4:5 with yerrorlines lw 1.5 pt (i + 3) ps 0.8 lc rgb color(word(synthetic, i)) title label(word(synthetic, i))
set title 'real OLMoE-1B-7B trace (299 decode steps; last half scored)' noenhanced
plot for [i = 1:words(real)] sum('predictor-accuracy-olmoe', sprintf('--metric precision --by stride --where predictor=%s', word(real, i))) \
    using 1:3 with linespoints lw 1.5 pt (i + 3) ps 0.8 lc rgb color(word(real, i)) title word(real, i)
unset multiplot
