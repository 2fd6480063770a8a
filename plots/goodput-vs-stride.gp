# goodput-vs-stride: GoodPred of the running system's prefetches (left) and its
# decode time (right) against stride, per predictor.
predictors = 'prev-token cross-layer gate-reuse learned:train={train}'
set multiplot layout 1, 2
set xlabel 'stride (layers ahead)'
set xrange [0.8:4.2]
set xtics 1
set key top left
set ylabel 'GoodPred (prefetches used and in time / issued)'
set yrange [0:*]
set title 'promoe on synthetic DeepSeek-MoE-16B, cache 50% (95% CI)' noenhanced
plot for [i = 1:words(predictors)] sum('goodput-vs-stride', sprintf('--metric goodpred --by stride --where predictor=%s', word(predictors, i))) \
    using 1:3:4:5 with yerrorlines lw 1.5 pt 7 ps 0.5 lc rgb color(word(predictors, i)) title label(word(predictors, i))
set ylabel 'time per output token (ms)'
set yrange [*:*]
set title 'decode time' noenhanced
plot for [i = 1:words(predictors)] sum('goodput-vs-stride', sprintf('--metric decode_tpot_ms_mean --by stride --where predictor=%s', word(predictors, i))) \
    using 1:3:4:5 with yerrorlines lw 1.5 pt 7 ps 0.5 lc rgb color(word(predictors, i)) title label(word(predictors, i))
unset multiplot
