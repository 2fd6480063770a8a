# The paper's headline (its Figs. 10-11): promoe's speedup over each of its baselines, per
# model, in decode (left) and prefill (right); log scale.
baselines = 'to lo um static paper-static paper-lru reactive-lru'
models = 'deepseek-moe-16b deepseek-v2-lite qwen1.5-moe-a2.7b qwen2-57b-a14b-int4 mixtral-8x7b-int4'
N = words(baselines)
load dir.'/model-bars.gp'
set multiplot layout 1, 2
set xtics rotate by -20
set logscale y
set yrange [0.1:*]
set key below horizontal
do for [phase = 1:2] {
    metric = phase == 1 ? 'decode_tpot_ms_mean' : 'prefill_ttft_ms_mean'
    set title (phase == 1 ? 'decode: promoe''s speedup over each baseline (cache 50%; 95% CI)' \
                          : 'prefill (time to first token)')
    set ylabel sprintf("promoe's %s speedup (x, log scale)", phase == 1 ? 'decode' : 'prefill')
    paper_all = phase == 1 ? 2.07 : 2.20
    paper_lru = phase == 1 ? 1.34 : 1.78
    set arrow 1 from graph 0, first paper_all to graph 1, first paper_all nohead dt 2 lw 1.5 lc rgb '#d62728' front
    set label 1 sprintf('paper: %.2fx over TO/LO/UM', paper_all) at graph 0.01, first paper_all offset 0, 0.5 tc rgb '#d62728' front
    set arrow 2 from graph 0, first paper_lru to graph 1, first paper_lru nohead dt 3 lw 1.5 lc rgb '#2166ac' front
    set label 2 sprintf('paper: %.2fx over static/LRU', paper_lru) at graph 0.01, first paper_lru offset 0, -0.8 tc rgb '#2166ac' front
    set arrow 3 from graph 0, first 1 to graph 1, first 1 nohead lw 1 lc rgb '#000000' front
    plot for [i = 1:N] sum('cache-rate', sprintf('--metric %s --by model --where cache=0.5 --where system=promoe --speedup-over system=%s', metric, word(baselines, i))) \
        using (model_pos(strcol(1)) * G + i):3:4:5:(0.9) with boxerrorbars lc rgb color(word(baselines, i)) title 'over '.word(baselines, i)
}
unset multiplot
