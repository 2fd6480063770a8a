# The paper's Figs. 12-13: from the paper's LRU baseline (paper-lru) and our
# reactive-lru, ProMoE's mechanisms added one at a time (stepped bars of the
# speedup over paper-lru, as the paper measures), per model, decode and
# prefill; on top the efficient engine (rtx4090-pcie4), below transformers
# (rtx4090-transformers), where the paper measured it.
# the step axis's values as the sweep file gives them
steps = 'paper-lru reactive-lru {here}/systems/ablation-1-prefetch.ini {here}/systems/ablation-2-chunked.ini {here}/systems/ablation-3-preempt.ini promoe'
names = "paper-lru reactive-lru '+ learned prefetch (stride 2)' '+ 3 chunks per expert' '+ early preemption' '+ reordered inference (promoe)'"
shades = '#bdbdbd #7f7f7f #f4a582 #e7755f #d6604d #b2182b'
models = 'deepseek-moe-16b deepseek-v2-lite qwen1.5-moe-a2.7b qwen2-57b-a14b-int4 mixtral-8x7b-int4'
N = words(steps)
load dir.'/model-bars.gp'
set multiplot layout 2, 2
set key below horizontal maxrows 1
set xtics font ',7'
do for [panel = 1:4] {
    hw = panel <= 2 ? 'rtx4090-pcie4' : 'rtx4090-transformers'
    phase = (panel - 1) % 2 + 1
    metric = phase == 1 ? 'decode_tpot_ms_mean' : 'prefill_ttft_ms_mean'
    set ylabel sprintf('%s over paper-lru (x)', phase == 1 ? 'decode' : 'prefill')
    set title sprintf('%s, %s', hw eq 'rtx4090-pcie4' ? 'efficient engine' : 'transformers', \
                      phase == 1 ? 'decode (cache 50%; 95% CI); paper: 1.35x in all' \
                                 : 'prefill; paper: +preemption 1.27x, +reorder 2.39x') noenhanced
    if (panel == 4) { set key below horizontal maxrows 1 } else { unset key }
    set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lw 1 lc rgb '#000000' front
    plot for [i = 1:N] sum('ablation', sprintf('--metric %s --by model --where hw=%s --where step=%s --speedup-over step=paper-lru', metric, hw, word(steps, i))) \
        using (model_pos(strcol(1)) * G + i):3:4:5:(0.9) with boxerrorbars lc rgb word(shades, i) title word(names, i)
}
unset multiplot
