# sensitivity: decode time against PCIe bandwidth per system (left) and
# against the predictor's accuracy (right).
systems = 'reactive-lru mixtral-offloading moe-infinity promoe promoe-plus oracle'
set multiplot layout 1, 2
set ylabel 'time per output token (ms)'
set key top right
set xlabel 'PCIe bandwidth (GB/s)'
set logscale xy
set autoscale yfix
set offsets 0, 0, graph 0.05, graph 0.05
set xtics (8, 16, 24, 32, 48, 64)
set xrange [6:80]
set title 'DeepSeek-MoE-16B, cache 50% (95% CI)' noenhanced
plot for [i = 1:words(systems)] sum('sensitivity-pcie', sprintf('--metric decode_tpot_ms_mean --by pcie --where system=%s', word(systems, i))) \
    using 1:3:4:5 with yerrorlines lw 1.5 pt 7 ps 0.5 lc rgb color(word(systems, i)) title word(systems, i)
unset logscale
set offsets 0, 0, 0, 0
set autoscale y
set xtics auto
set xlabel 'predictor accuracy p (oracle:accuracy=p)'
set xrange [-0.05:1.05]
set title 'promoe with a predictor right a share p of the time' noenhanced
plot for [s in 'promoe promoe-plus'] sum('sensitivity-accuracy', sprintf('--metric decode_tpot_ms_mean --by accuracy --where system=%s', s)) \
    using 1:3:4:5 with yerrorlines lw 1.5 pt 7 ps 0.5 lc rgb color(s) title s
unset multiplot
