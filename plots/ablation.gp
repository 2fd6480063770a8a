# Figure 6: ProMoE's mechanisms added one at a time (stepped bars of the
# decode speedup over reactive-lru), per model.
# the step axis's values as the sweep file gives them
steps = 'reactive-lru {here}/systems/ablation-1-prefetch.ini {here}/systems/ablation-2-chunked.ini {here}/systems/ablation-3-preempt.ini promoe'
names = "reactive-lru '+ learned prefetch (stride 2)' '+ 3 chunks per expert' '+ early preemption' '+ reordered inference (promoe)'"
shades = '#7f7f7f #f4a582 #e7755f #d6604d #b2182b'
models = 'mixtral-8x7b deepseek-moe-16b qwen1.5-moe-a2.7b'
N = words(steps)
load dir.'/model-bars.gp'
set ylabel 'decode speedup over reactive-lru (x)'
set title 'Ablation: decode speedup as ProMoE''s mechanisms are added (cache 50%; 95% CI over seeds)' noenhanced
set key outside right top
plot for [i = 1:N] sum('ablation', sprintf('--metric decode_tpot_ms_mean --by model --where step=%s --speedup-over step=reactive-lru', word(steps, i))) \
    using (model_pos(strcol(1)) * G + i):3:4:5:(0.9) with boxerrorbars lc rgb word(shades, i) title word(names, i)
