# The paper's Figs. 3-4: what reactive LRU offloading costs, against the
# share of experts the GPU holds, on its five models (synthetic traces):
# decode and prefill time over the all-gpu floor, and the share of each
# phase's time the GPU waits for expert copies.
models = 'deepseek-moe-16b deepseek-v2-lite qwen1.5-moe-a2.7b qwen2-57b-a14b-int4 mixtral-8x7b-int4'
set multiplot layout 1, 3
set xlabel 'experts the GPU holds (% of all)'
set xrange [15:85]
set logscale y
set yrange [1:*]
do for [phase = 1:2] {
    metric = phase == 1 ? 'decode_tpot_ms_mean' : 'prefill_ttft_ms_mean'
    set title (phase == 1 ? 'reactive LRU: decode time over all-gpu (95% CI)' : 'prefill time (TTFT) over all-gpu')
    if (phase == 1) { set key bottom left } else { unset key }
    set ylabel sprintf('%s slowdown (x, log scale)', phase == 1 ? 'TPOT' : 'TTFT')
    # speedup-over gives all-gpu / lru: its inverse, bounds swapped, is the slowdown
    plot for [i = 1:words(models)] sum('cache-rate', sprintf('--metric %s --by cache --where model=%s --where system=reactive-lru --speedup-over system=all-gpu', metric, word(models, i))) \
        using ($1 * 100):(1 / $3):(1 / $5):(1 / $4) with yerrorlines lw 1.5 pt 7 ps 0.5 lc rgb mcolor(word(models, i)) title word(models, i)
}
unset logscale y
set yrange [0:1]
set title 'time blocked on expert loads'
unset key
set label 1 'dashed: prefill' at graph 0.03, graph 0.06
set label 2 'solid: decode' at graph 0.03, graph 0.12
set ylabel 'GPU waiting / phase time'
plot for [i = 1:words(models)] sum('cache-rate', sprintf('--metric decode_stall_share --by cache --where model=%s --where system=reactive-lru', word(models, i))) \
        using ($1 * 100):3 with linespoints lw 1.5 pt 7 ps 0.5 lc rgb mcolor(word(models, i)) notitle, \
     for [i = 1:words(models)] sum('cache-rate', sprintf('--metric prefill_stall_share --by cache --where model=%s --where system=reactive-lru', word(models, i))) \
        using ($1 * 100):3 with linespoints lw 1.5 dt 2 pt 6 ps 0.5 lc rgb mcolor(word(models, i)) notitle
unset label
unset multiplot
