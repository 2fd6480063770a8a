# tpot-vs-cache: time per output token against cache size, per system.
systems = 'reactive-lru mixtral-offloading moe-infinity fiddler promoe promoe-plus oracle'
set xlabel 'experts the GPU holds (% of all)'
set ylabel 'time per output token (ms)'
set title 'DeepSeek-MoE-16B, RTX 4090, PCIe 4.0: decode time against cache size (95% CI over seeds)' noenhanced
set xrange [5:95]
set logscale y
set autoscale yfix
set offsets 0, 0, graph 0.05, graph 0.05
set key outside right top
plot for [i = 1:words(systems)] sum('tpot-vs-cache', sprintf('--metric decode_tpot_ms_mean --by cache --where system=%s', word(systems, i))) \
    using ($1 * 100):3:4:5 with yerrorlines lw 1.5 pt 7 ps 0.5 lc rgb color(word(systems, i)) title word(systems, i)
