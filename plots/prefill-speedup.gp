# Figure 2: prefill speedup over reactive-lru per system and model.
systems = 'mixtral-offloading moe-infinity pre-gated hobbit fiddler monde promoe promoe-plus oracle'
models = 'mixtral-8x7b deepseek-moe-16b qwen1.5-moe-a2.7b'
call dir.'/index.gp' 'model_pos' models
N = words(systems); G = N + 2
set boxwidth 0.9
set xtics scale 0 ()
do for [m = 1:words(models)] { set xtics add (word(models, m) (m - 1) * G + (N + 1) / 2.0) }
set xrange [0:words(models) * G - 1]
set yrange [0:*]
set ylabel 'prefill speedup over reactive-lru (x)'
set title 'Prefill: time to first token of reactive-lru / of the system (cache 50%, RTX 4090, PCIe 4.0; 95% CI over seeds)' noenhanced
set key outside right top
set arrow 1 from graph 0, first 2.13 to graph 1, first 2.13 nohead dt 2 lw 1.5 lc rgb '#d62728' front
set label 1 'ProMoE paper: 2.13x average' at graph 0.01, first 2.13 offset 0, 0.5 tc rgb '#d62728' front
set arrow 2 from graph 0, first 1 to graph 1, first 1 nohead lw 1 lc rgb '#000000' front
plot for [i = 1:N] sum('prefill-speedup', sprintf('--metric prefill_ttft_ms_mean --by model --where system=%s --speedup-over system=reactive-lru', word(systems, i))) \
    using (model_pos(strcol(1)) * G + i):3:4:5:(0.9) with boxerrorbars lc rgb color(word(systems, i)) title word(systems, i)
