# The paper's Figs. 22-24: time per output token (top) and time to first
# token (bottom) against bits per weight, per system, for two models.
systems = 'reactive-lru lo um promoe promoe-plus'
models = 'deepseek-moe-16b mixtral-8x7b'
set multiplot layout 2, 2
set xrange [3:17]
set xtics (4, 8, 16)
set yrange [0:*]
set key top left
do for [phase = 1:2] {
    metric = phase == 1 ? 'decode_tpot_ms_mean' : 'prefill_ttft_ms_mean'
    do for [m = 1:words(models)] {
        set title sprintf('%s: %s (cache 50%%; 95%% CI)', word(models, m), phase == 1 ? 'decode' : 'prefill')
        set ylabel phase == 1 ? 'time per output token (ms)' : 'time to first token (ms)'
        set xlabel phase == 2 ? 'bits per weight' : ''
        plot for [i = 1:words(systems)] sum('bits', sprintf('--metric %s --by bits --where model=%s --where system=%s', metric, word(models, m), word(systems, i))) \
            using 1:3:4:5 with yerrorlines lw 1.5 pt 7 ps 0.5 lc rgb color(word(systems, i)) title word(systems, i)
    }
}
unset multiplot
