# adaptive (issue 19, item 5; beyond the paper): decode speedup over
# reactive-lru of promoe and of promoe-adaptive (which prefetches only
# where the expected gain beats the cost), per model, at each cache share
# (lighter: less of the model cached), on the efficient engine (left:
# rtx4090-pcie4, decode bound by the link) and in transformers (right:
# rtx4090-transformers, compute that hides copies).  The dashed line is the
# aim: never more than 2% slower than reactive-lru.
systems = 'promoe promoe-adaptive'
caches = suffix eq '-quick' ? '0.5' : '0.25 0.5 0.75'
models = 'deepseek-moe-16b deepseek-v2-lite qwen1.5-moe-a2.7b qwen2-57b-a14b-int4 mixtral-8x7b-int4'
C = words(caches)
N = words(systems) * C
load dir.'/model-bars.gp'
set multiplot layout 1, 2
set xtics rotate by -20
set yrange [0.6:*]
set key below horizontal
set ylabel 'decode speedup over reactive-lru (x)'
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lw 1 lc rgb '#000000' front
set arrow 2 from graph 0, first 0.98 to graph 1, first 0.98 nohead dt 2 lw 1 lc rgb '#555555' front
do for [hw in 'rtx4090-pcie4 rtx4090-transformers'] {
    set title sprintf('%s: cache %s (lighter: less cached; 95%% CI)', \
                      hw eq 'rtx4090-pcie4' ? 'Efficient engine' : 'Transformers', \
                      C > 1 ? '25/50/75%' : '50%') noenhanced
    plot for [i = 1:N] sum('adaptive', sprintf('--metric decode_tpot_ms_mean --by model --where hw=%s --where cache=%s --where system=%s --speedup-over system=reactive-lru', \
                                               hw, word(caches, (i - 1) % C + 1), word(systems, (i - 1) / C + 1))) \
        using (model_pos(strcol(1)) * G + i):3:4:5:(0.9) with boxerrorbars \
        fs solid (C > 1 ? 0.35 + 0.3 * ((i - 1) % C) : 0.85) lc rgb color(word(systems, (i - 1) / C + 1)) \
        title ((i - 1) % C == C - 1 ? word(systems, (i - 1) / C + 1) : '')
}
unset multiplot
