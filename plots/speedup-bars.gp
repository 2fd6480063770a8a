# speedup-bars.gp - loaded by decode-speedup.gp and prefill-speedup.gp: each
# system's speedup over reactive-lru per model.  Set first: sweep (its
# name), metric (a time), phase ('decode' or 'prefill'), measure (what the
# metric is, for the title) and paper (the paper's average speedup).
systems = 'mixtral-offloading moe-infinity pre-gated hobbit fiddler monde promoe promoe-plus oracle'
models = 'mixtral-8x7b deepseek-moe-16b qwen1.5-moe-a2.7b'
N = words(systems)
load dir.'/model-bars.gp'
set ylabel sprintf('%s speedup over reactive-lru (x)', phase)
set title sprintf('%s: %s of reactive-lru / of the system (cache 50%%, RTX 4090, PCIe 4.0; 95%% CI over seeds)', \
                  phase eq 'decode' ? 'Decode' : 'Prefill', measure) noenhanced
set key outside right top
set arrow 1 from graph 0, first paper to graph 1, first paper nohead dt 2 lw 1.5 lc rgb '#d62728' front
set label 1 sprintf('ProMoE paper: %.2fx average', paper) at graph 0.01, first paper offset 0, 0.5 tc rgb '#d62728' front
set arrow 2 from graph 0, first 1 to graph 1, first 1 nohead lw 1 lc rgb '#000000' front
plot for [i = 1:N] sum(sweep, sprintf('--metric %s --by model --where system=%s --speedup-over system=reactive-lru', metric, word(systems, i))) \
    using (model_pos(strcol(1)) * G + i):3:4:5:(0.9) with boxerrorbars lc rgb color(word(systems, i)) title word(systems, i)
